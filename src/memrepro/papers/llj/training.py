"""Liu, Lin & Jaggi 2022 (LLJ): training add-ons behind the engine's two hooks.

Objectives (``train.<name>``):

- ``turnover: {}``: turn-over dropout training (LLJ Sec. 2.2, after Kobayashi et al. 2020):
  every example passes only through its own "unmuted" half of the network (masks from the
  cell's seed and the example's stable id, ``memrepro.papers.llj.tod``), so its "muted"
  complement never learns from it. Stacks like plain training.
- ``track_gradients: {frac}``: plain training that, at every step, also records the
  per-example gradient statistics of LLJ Fig. 4 (Eq. 3, 4) for the batch, from the same
  forward pass as the step (``memrepro.papers.llj.gram``). One model at a time.

Probes (``probes.<name>``):

- ``tod`` (file): per training example, losses and predictions of the unmuted and muted
  sub-networks and the memorization score CE(muted) − CE(unmuted) (LLJ Eq. 6).
- ``tod_unmuted_acc``, ``tod_muted_acc`` (history): accuracy of each sub-network on the labels
  trained on (LLJ Fig. 9).
- ``correctness`` (file): packed correctness bits of the full network on every example of the
  prepared training set (those a subset left out too) and of the test set (LLJ Fig. 3, 5, 6).
- ``grad_stats`` (file): the rows ``track_gradients`` logged during the epoch just ended
  (declared ``needs_objective="track_gradients"``: planning refuses it without that objective).

Hook state (``ctx.state``, docs/hooks.md): ``llj.grad_log``, the rows ``track_gradients``
logs for ``grad_stats``; ``llj.tod_cache``, the epoch's turn-over dropout pass shared by the
``tod`` probes.

``influence`` gives LLJ Eq. 5 (no figure needs it).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from memrepro.engine import Objective
from memrepro.hooks import HookContext
from memrepro.papers.llj.gram import STAT_FIELDS, batch_gram, gram_statistics
from memrepro.papers.llj.tod import tod_masks
from memrepro.papers.llj.tracked import tracked_subsets
from memrepro.probes import Probe
from memrepro.seeds import cell_seed
from memrepro.stacked import Single

BIT_WEIGHTS = (128, 64, 32, 16, 8, 4, 2, 1)  # np.packbits' default, big-endian bit order


GRAD_LOG = "llj.grad_log"  # ctx.state: track_gradients' rows of the epoch, for grad_stats
TOD_CACHE = "llj.tod_cache"  # ctx.state: (key, the epoch's _tod_pass), for the tod probes


def _base_model(ctx: HookContext) -> torch.nn.Module:
    """The group's architecture as a module (a Single's model, a Stacked group's base)."""
    return ctx.group.model if isinstance(ctx.group, Single) else ctx.group.base


def tod_widths(ctx: HookContext, key: str) -> list[int]:
    """The widths of the model's turn-over dropout layers; a clear error naming ``key`` when
    the model has none."""
    widths = getattr(_base_model(ctx), "tod_widths", None)
    if not widths:
        name = ctx.specs[0]["model"].get("name")
        raise ValueError(f"{key}: model {name!r} has no turn-over dropout layers "
                         "(tod_widths); allowed: a model built with tod: true")
    return [int(w) for w in widths]


def _seeds(ctx: HookContext) -> torch.Tensor:
    return torch.tensor([cell_seed(s) for s in ctx.specs], dtype=torch.int64,
                        device=ctx.device)


# --- objectives --------------------------------------------------------------------------


def make_turnover(ctx: HookContext, epoch: int, opts: dict):
    """The epoch's turn-over dropout loss: each example through its own unmuted sub-network,
    each model with masks from its own cell's seed (a cell's masks do not depend on its
    group). It takes no options (its schema, closed at planning)."""
    widths, seeds = tod_widths(ctx, "train.turnover"), _seeds(ctx)

    def loss(xb: torch.Tensor, yb: torch.Tensor, ids: torch.Tensor,
             per_model: bool) -> torch.Tensor:
        masks = tod_masks(seeds, ids, widths, flip=False)
        with ctx.amp():
            return ctx.losses(ctx.group(xb, per_model, masks=masks), yb)
    return loss


def tracked_lookup(ctx: HookContext, frac: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Bool tables indexed by stable id: whether an example is in the easy / difficult tracked
    subset (``tracked_subsets`` over the trained examples' corruption mask, data order)."""
    d = ctx.data
    easy, difficult = tracked_subsets(d.corrupted[0].cpu().numpy().astype(bool), frac)
    size = int(d.ids.max()) + 1 if d.ids.numel() else 0
    tables = []
    for pos in (easy, difficult):
        table = torch.zeros(size, dtype=torch.bool, device=ctx.device)
        table[d.ids[torch.from_numpy(pos).to(ctx.device)]] = True
        tables.append(table)
    return tables[0], tables[1]


def make_track_gradients(ctx: HookContext, epoch: int, opts: dict):
    """The epoch's plain loss (mean over the batch) of the group's one model, logging a row of
    gradient statistics per step to ``ctx.state["llj.grad_log"]`` (reset here, every epoch).
    ``frac`` (default 1/6) is checked by its schema at planning.

    The step and the statistics share one forward pass, run in float32 without autocast (so
    on a GPU this step is not bf16, unlike plain training); the Gram matrix is float64.
    ``step`` counts steps from the start of training (epoch * steps per epoch + k)."""
    easy, difficult = tracked_lookup(ctx, float(opts.get("frac", 1 / 6)))
    model, fn = ctx.group.module(0), ctx.loss_fns[0]
    bs = int(ctx.train["batch_size"])
    first = epoch * -(-ctx.data.n // bs)
    log = ctx.state[GRAD_LOG] = []

    def loss(xb: torch.Tensor, yb: torch.Tensor, ids: torch.Tensor,
             per_model: bool) -> torch.Tensor:
        gram, losses = batch_gram(model, xb[0] if per_model else xb, yb[0], fn)
        step = torch.tensor([first + len(log)], dtype=torch.float64, device=gram.device)
        stats = gram_statistics(gram, easy[ids[0]], difficult[ids[0]])
        log.append(torch.cat([step, stats]))
        return losses.float().mean().view(1)
    return loss


# --- probes ------------------------------------------------------------------------------


@torch.no_grad()
def _tod_pass(ctx: HookContext) -> dict[str, torch.Tensor]:
    """Per model and training example (M, n), in eval mode, float32: each cell's own loss and
    the predicted class through the example's unmuted and muted sub-networks."""
    widths, seeds, d = tod_widths(ctx, "probes.tod"), _seeds(ctx), ctx.data
    ctx.group.train(False)
    parts: dict[str, list[torch.Tensor]] = {}
    start = 0
    for xb, per_model in d.eval_batches("train", ctx.eval_batch):
        b = xb.shape[-4]  # (b, C, H, W), or per model (M, b, C, H, W)
        ids = d.ids[start:start + b].expand(ctx.size, b)
        y = d.y_noisy[:, start:start + b]
        for mode, flip in (("unmuted", False), ("muted", True)):
            masks = tod_masks(seeds, ids, widths, flip=flip)
            # float32, outside the engine's autocast (bf16 on CUDA): a score is a difference
            # of two nearby losses, which bf16 rounds
            logits = ctx.group(xb, per_model, masks=masks).float()
            loss = torch.stack([fn(logits[i], y[i]).float()
                                for i, fn in enumerate(ctx.loss_fns)])
            parts.setdefault(f"loss_{mode}", []).append(loss)
            parts.setdefault(f"pred_{mode}", []).append(logits.argmax(2))
        start += b
    return {k: torch.cat(v, 1) for k, v in parts.items()}


def tod_evaluation(ctx: HookContext, epoch: int) -> dict[str, torch.Tensor]:
    """``_tod_pass`` once per evaluation: the history and file probes of one epoch share it
    (kept in ``ctx.state``, keyed by the epoch and the parameters' version)."""
    key = (epoch, ctx.group.parameters()[0]._version)
    cached = ctx.state.get(TOD_CACHE)
    if cached is None or cached[0] != key:
        ctx.state[TOD_CACHE] = (key, _tod_pass(ctx))
    return ctx.state[TOD_CACHE][1]


def measure_tod(opts: dict, ctx: HookContext, epoch: int, logits: torch.Tensor) -> dict:
    """The per-example TOD record of every model: stable ids, labels trained on, score
    CE(muted) − CE(unmuted) (LLJ Eq. 6), both losses and both predictions."""
    out, d = tod_evaluation(ctx, epoch), ctx.data
    return {"ids": d.ids.expand(ctx.size, -1), "label": d.y_noisy,
            "score": out["loss_muted"] - out["loss_unmuted"],
            "loss_unmuted": out["loss_unmuted"], "loss_muted": out["loss_muted"],
            "pred_unmuted": out["pred_unmuted"].to(torch.int16),
            "pred_muted": out["pred_muted"].to(torch.int16)}


def _sub_network_acc(mode: str):
    def measure(opts: dict, ctx: HookContext, epoch: int, logits: torch.Tensor) -> list[float]:
        pred = tod_evaluation(ctx, epoch)[f"pred_{mode}"]
        return (pred == ctx.data.y_noisy).float().mean(1).tolist()
    measure.__doc__ = (f"Training accuracy of every model's {mode} sub-networks (each example "
                       "with its own masks) on the labels trained on (LLJ Fig. 9).")
    return measure


def pack_bits(bits: torch.Tensor) -> torch.Tensor:
    """(M, n) bool -> (M, ceil(n/8)) uint8, on the bits' device, as ``np.packbits(axis=1)``
    (big-endian bit order, zero padding at the end)."""
    m, n = bits.shape
    padded = F.pad(bits.to(torch.uint8), (0, (-n) % 8)).view(m, -1, 8)
    weights = torch.tensor(BIT_WEIGHTS, dtype=torch.int64, device=bits.device)
    return (padded.to(torch.int64) * weights).sum(-1).to(torch.uint8)


@torch.no_grad()
def _correct_on_all(ctx: HookContext) -> torch.Tensor:
    """(M, N) bool: argmax == noisy label over the full prepared training set (eval mode)."""
    d = ctx.data
    ctx.group.train(False)
    out, start = [], 0
    for xb, per_model in d.eval_batches("all", ctx.eval_batch):
        pred = ctx.group(xb, per_model).float().argmax(2)  # float32, as the scores
        out.append(pred == d.y_all[:, start:start + pred.shape[1]])
        start += pred.shape[1]
    return torch.cat(out, 1)


def measure_correctness(opts: dict, ctx: HookContext, epoch: int,
                        logits: torch.Tensor) -> dict:
    """Packed bits of ``argmax == label`` of the full network (no masks, eval mode) for every
    model: over the FULL prepared training set by id (noisy labels, examples a subset did not
    train on included) and over the test set. When the group has no full set (``x_all`` or
    ``y_all`` is None: inputs replaced per model), the training bits cover the trained
    examples only, in data order (``n_train`` then equals their number)."""
    d, m = ctx.data, ctx.size
    if d.x_all is None or d.y_all is None:
        train = logits.argmax(2) == d.y_noisy
    elif d.x_all is d.x and not d.per_model_x:  # no subset: the evaluation's logits serve
        train = logits.argmax(2) == d.y_all
    else:
        train = _correct_on_all(ctx)
    test = ctx.logits("test").argmax(2) == d.y_test
    return {"train_bits": pack_bits(train), "n_train": _counts(train.shape[1], m),
            "test_bits": pack_bits(test), "n_test": _counts(test.shape[1], m)}


def _counts(n: int, m: int) -> torch.Tensor:
    """(M, 1) int64: the same count for each of the M models."""
    return torch.full((m, 1), n, dtype=torch.int64)


def measure_grad_stats(opts: dict, ctx: HookContext, epoch: int, logits: torch.Tensor) -> dict:
    """The rows ``track_gradients`` logged during the epoch that just ended (empty at epoch
    0): ``step``, ``n_easy``, ``n_difficult`` (int64) and the statistics of
    ``gram.STAT_FIELDS`` (float64; NaN where undefined). Declared with
    ``needs_objective="track_gradients"``: planning and the engine refuse it without."""
    rows = ctx.state.get(GRAD_LOG, []) if epoch > 0 else []
    table = (torch.stack(rows).cpu() if rows
             else torch.empty(0, 1 + len(STAT_FIELDS), dtype=torch.float64))
    out = {}
    for j, name in enumerate(("step", *STAT_FIELDS)):
        col = table[:, j][None]
        out[name] = col.to(torch.int64) if name in ("step", "n_easy", "n_difficult") else col
    return out


# --- LLJ Eq. 5 ---------------------------------------------------------------------------


@torch.no_grad()
def influence(model: torch.nn.Module, seed: int, train_ids, x_target: torch.Tensor,
              y_target: torch.Tensor, loss_fn) -> torch.Tensor:
    """LLJ Eq. 5: the influence of training examples (stable ids ``train_ids``) on target
    examples, (len(train_ids), T): loss of the target through the training example's muted
    sub-network minus through its unmuted one (both masks from the training example's id and
    the cell's ``seed``). A target that is the training example itself gives its score
    (Eq. 6). Evaluated in eval mode; the model's mode is restored."""
    widths, was = [int(w) for w in model.tod_widths], model.training
    model.train(False)
    rows = []
    try:
        for i in np.asarray(train_ids, dtype=np.int64).reshape(-1):
            ids = torch.full((1, x_target.shape[0]), int(i), dtype=torch.int64,
                             device=x_target.device)
            loss = [loss_fn(model(x_target, masks=[m[0] for m in
                                                   tod_masks([seed], ids, widths, flip)])
                            .float(), y_target) for flip in (False, True)]
            rows.append(loss[1] - loss[0])
    finally:
        model.train(was)
    return torch.stack(rows)


PROBES = {"tod": Probe(measure_tod, writes="npz"),
          "tod_unmuted_acc": Probe(_sub_network_acc("unmuted"), writes="history"),
          "tod_muted_acc": Probe(_sub_network_acc("muted"), writes="history"),
          "correctness": Probe(measure_correctness, writes="npz"),
          "grad_stats": Probe(measure_grad_stats, writes="npz",
                              needs_objective="track_gradients")}
OBJECTIVES = {"turnover": Objective(make_turnover),
              "track_gradients": Objective(make_track_gradients, single_model=True)}
