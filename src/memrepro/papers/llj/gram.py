"""Inner products of per-example gradients for one batch, and the statistics Liu, Lin & Jaggi
2022 (LLJ) draw from them (Sec. 3.2, Fig. 4).

For a batch of B examples with per-example losses l_i (not averaged), v_i = ∇θ l_i over all
trainable parameters, the Gram matrix is G_ij = <v_i, v_j>. Everything LLJ plot follows from G:

- Eq. 3, gradient cosine similarity of a subset S of the batch: the mean over i ≠ j in S of
  G_ij / sqrt(G_ii G_jj);
- Eq. 4, contribution of example i to the mini-batch gradient g = (1/B) Σ_i v_i:
  c_i = <v_i, g> / ||g||, i.e. c = G·1 / (B ||g||) with ||g|| = sqrt(1ᵀG1) / B; hence
  mean_i c_i = ||g|| (an identity the tests use).

Two ways to get G:

- closed form (``gram_linear``) for models whose trainable parameters all sit in ``nn.Linear``
  layers applied once to (B, features) inputs, with element-wise operations in between (the
  ``mlp``, with or without turn-over dropout masks). A layer with inputs a_i and output
  gradient δ_i = ∂l_i/∂(pre-activation) has ∂l_i/∂W = δ_i a_iᵀ and ∂l_i/∂b = δ_i, so
  <v_i, v_j> over that layer is (δ_i·δ_j)(a_i·a_j + [has bias]). Summed over layers:
  G = Σ_l (Δ_l Δ_lᵀ) ∘ (A_{l-1} A_{l-1}ᵀ + bias_l), with Δ_l = ∂(Σ_i l_i)/∂(outputs), which
  row by row is δ_i since examples do not interact. No per-example gradient is materialised.
- otherwise (``gram_functional``), ``torch.func.vmap`` over ``grad`` of ``functional_call``,
  in chunks of examples so at most ``max_elements`` gradient entries live at once.

G is accumulated in float64 (no TF32 rounding on a GPU). ``batch_gram`` also returns the
per-example losses of the same forward pass, still attached to the graph, so the caller steps
the optimizer on them without a second forward pass.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# one row per training step: the statistics ``gram_statistics`` returns, in this order
STAT_FIELDS = ("n_easy", "n_difficult", "cos_easy", "cos_difficult", "cos_all",
               "contrib_easy", "contrib_difficult", "contrib_all", "grad_norm")


def linear_layers(model: nn.Module) -> list[nn.Linear] | None:
    """The model's Linear layers when the closed form may apply: every trainable parameter
    belongs to one of them and no batch norm couples the examples; else None."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    covered = {id(p) for m in linears for p in m.parameters(recurse=False)}
    if any(p.requires_grad and id(p) not in covered for p in model.parameters()):
        return None
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return None
    return linears or None


def gram_linear(model: nn.Module, layers: list[nn.Linear], x: torch.Tensor, y: torch.Tensor,
                loss_fn: LossFn, **forward_kw) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Closed-form G (float64, (B, B)) and the per-example losses of one forward pass; None
    when a layer was not called exactly once on a 2-D input (the closed form does not hold)."""
    seen: dict[nn.Linear, list[tuple[torch.Tensor, torch.Tensor]]] = {m: [] for m in layers}

    def keep(module, inputs, output):
        seen[module].append((inputs[0], output))

    hooks = [m.register_forward_hook(keep) for m in layers]
    try:
        losses = loss_fn(model(x, **forward_kw), y)
    finally:
        for h in hooks:
            h.remove()
    calls = [v for v in seen.values() if v]
    if any(len(v) != 1 or v[0][0].dim() != 2 for v in calls):
        return None
    used = [m for m in layers if seen[m] and seen[m][0][1].requires_grad]
    outputs = [seen[m][0][1] for m in used]
    deltas = torch.autograd.grad(losses.sum(), outputs, retain_graph=True)
    b = losses.shape[0]
    gram = torch.zeros(b, b, dtype=torch.float64, device=losses.device)
    for m, delta in zip(used, deltas, strict=True):
        a = seen[m][0][0].detach().double()
        d = delta.double()
        inputs = a @ a.T if m.weight.requires_grad else torch.zeros_like(gram)
        if m.bias is not None and m.bias.requires_grad:
            inputs = inputs + 1.0
        gram += (d @ d.T) * inputs
    return gram, losses


def gram_functional(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
                    max_elements: int = 1 << 26,
                    **forward_kw) -> tuple[torch.Tensor, torch.Tensor]:
    """G (float64) from explicit per-example gradients (vmap over grad), any model without
    batch norm in training mode. Examples go in chunks of at most ``max_elements`` gradient
    entries; off-diagonal blocks recompute the second chunk (memory over time). Random layers
    (dropout) draw again per example: statistics, not the step, see other masks."""
    from torch.func import functional_call, grad, vmap

    if model.training and any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                              for m in model.modules()):
        raise ValueError("per-example gradients: a model with batch norm in training mode "
                         "mixes the examples of a batch; allowed: models without batch norm, "
                         "or eval mode")
    trained = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    fixed = {**{n: p for n, p in model.named_parameters() if not p.requires_grad},
             **dict(model.named_buffers())}

    def one_loss(p, xi, yi):
        out = functional_call(model, {**p, **fixed}, (xi.unsqueeze(0),), forward_kw)
        return loss_fn(out, yi.unsqueeze(0)).sum()

    per_example = vmap(grad(one_loss), in_dims=(None, 0, 0), randomness="different")

    def flat(sl: slice) -> torch.Tensor:
        g = per_example(trained, x[sl], y[sl])
        return torch.cat([v.flatten(1) for v in g.values()], 1).double()

    b = x.shape[0]
    size = max(1, int(max_elements) // max(1, sum(p.numel() for p in trained.values())))
    chunks = [slice(i, min(i + size, b)) for i in range(0, b, size)]
    gram = torch.zeros(b, b, dtype=torch.float64, device=x.device)
    for k, sa in enumerate(chunks):
        va = flat(sa)
        gram[sa, sa] = va @ va.T
        for sb in chunks[k + 1:]:
            block = va @ flat(sb).T
            gram[sa, sb], gram[sb, sa] = block, block.T
    return gram, loss_fn(model(x, **forward_kw), y)


def batch_gram(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn,
               max_elements: int = 1 << 26,
               **forward_kw) -> tuple[torch.Tensor, torch.Tensor]:
    """(G float64 (B, B), per-example losses (B,) attached to the graph) for a batch: the
    closed form where it holds, else explicit per-example gradients. ``forward_kw`` goes to
    ``model(x, ...)`` (e.g. turn-over dropout ``masks``)."""
    layers = linear_layers(model)
    if layers is not None:
        out = gram_linear(model, layers, x, y, loss_fn, **forward_kw)
        if out is not None:
            return out
    return gram_functional(model, x, y, loss_fn, max_elements, **forward_kw)


def contributions(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(c, ||g||): c_i = <v_i, g>/||g|| for every example of the batch (LLJ Eq. 4) and the
    norm of the mean gradient g, both from G alone."""
    b = gram.shape[0]
    total = gram.sum().clamp_min(0)
    return gram.sum(1) / total.sqrt(), total.sqrt() / b


def mean_cosine(gram: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
    """Mean pairwise cosine similarity of the members' gradients, pairs i ≠ j (LLJ Eq. 3);
    NaN with fewer than two members. A zero gradient has cosine 0 with every other."""
    norms = gram.diagonal().clamp_min(0).sqrt()
    denom = norms[:, None] * norms[None, :]
    cos = torch.where(denom > 0, gram / denom.clamp_min(torch.finfo(gram.dtype).tiny),
                      torch.zeros_like(gram))
    m = members.to(gram.dtype)
    pairs = m[:, None] * m[None, :]
    pairs = pairs - torch.diag_embed(pairs.diagonal())
    return (cos * pairs).sum() / pairs.sum()  # 0/0 = NaN below two members


def gram_statistics(gram: torch.Tensor, easy: torch.Tensor,
                    difficult: torch.Tensor) -> torch.Tensor:
    """One row of ``STAT_FIELDS`` (float64 tensor, no host sync) for a batch: subset sizes,
    mean cosine similarity (Eq. 3) and mean contribution (Eq. 4) within the easy and the
    difficult members of the batch (bool (B,)) and within the whole batch, and ||g||."""
    c, norm = contributions(gram)
    every = torch.ones_like(easy, dtype=torch.bool)

    def mean_c(m: torch.Tensor) -> torch.Tensor:
        w = m.to(gram.dtype)
        return (c * w).sum() / w.sum()  # NaN when empty

    row = [easy.sum(), difficult.sum(), mean_cosine(gram, easy), mean_cosine(gram, difficult),
           mean_cosine(gram, every), mean_c(easy), mean_c(difficult), mean_c(every), norm]
    return torch.stack([v.to(torch.float64) for v in row])
