"""Multi-layer perceptrons, with the regularizers of Arpit et al. 2017 (Sec. 5), turn-over
dropout (LLJ Sec. 2.2), batch norm and a narrow feature layer (MD, Sec. 4.1).

Registered in ``memrepro.models.MODELS`` (this module imports nothing from it, so there is no
cycle); ``memrepro.models`` also takes the regularizer helpers from here for its CNN.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from memrepro.specs import not_allowed
from memrepro.vision_models import check_masks, unit_mask

# --- Regularizers of Arpit et al. 2017, Sec. 5 (ar_cnn and mlp) ---------------------------
# Where they act is our choice (the paper is silent): input dropout and input Gaussian noise on
# the normalised input (so an input-noise std is in units of the data's per-channel std);
# dropout and hidden Gaussian noise on the output of every hidden ReLU layer. Inverted dropout,
# additive N(0, std^2) noise from torch's global RNG, dropout first; training mode only.


def check_regularizers(**kw: float) -> dict[str, float]:
    """Rates (``*dropout``) must lie in [0, 1), stds (``*noise``) must be finite and >= 0."""
    for key, v in kw.items():
        rate = key.endswith("dropout")
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and (
            0.0 <= v < 1.0 if rate else 0.0 <= v < math.inf)  # comparisons also reject NaN
        if not ok:
            allowed = "a rate in [0, 1)" if rate else "a finite std >= 0"
            raise ValueError(not_allowed(f"model.{key}", v, allowed))
    return {k: float(v) for k, v in kw.items()}


NO_REG = check_regularizers(dropout=0, input_dropout=0, input_noise=0, hidden_noise=0)


def drop_noise(x: torch.Tensor, p: float, std: float, training: bool) -> torch.Tensor:
    """Inverted dropout with rate ``p``, then additive Gaussian noise of std ``std``; only in
    training and only when > 0, so nothing is drawn otherwise (seeded runs without
    regularizers keep their random stream). Each element gets its own draw, so a stacked
    (M, B, ...) tensor gets independent masks and noise per model."""
    if training and p > 0:
        x = F.dropout(x, p, training=True)
    if training and std > 0:
        x = x + std * torch.randn_like(x)
    return x


# --- The MLP --------------------------------------------------------------------------------


class MLP(nn.Module):
    """Hidden layers ``Linear [-> BatchNorm1d] -> ReLU`` (``hidden`` widths), then a linear
    classifier ``fc``. ``features(x)`` is the classifier's input (the last ReLU's output).

    With ``tod`` (LLJ Sec. 2.2): a turn-over dropout mask after every hidden ReLU (the input
    is not masked), ``tod_widths`` = the hidden widths, and a classifier without bias.
    With ``batchnorm`` (MD Sec. 4.1): every hidden layer has a ``BatchNorm1d`` (``norms``)
    between its Linear and its ReLU (PyTorch defaults: eps 1e-5, momentum 0.1).
    """

    def __init__(self, in_features: int, hidden: list[int], num_classes: int,
                 reg: dict[str, float] | None = None, tod: bool = False,
                 batchnorm: bool = False):
        super().__init__()
        self.reg = dict(reg or NO_REG)  # plain floats: no parameters, buffers or state_dict keys
        dims = [in_features, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, dims[1:], strict=False))
        if batchnorm:
            self.norms = nn.ModuleList(nn.BatchNorm1d(w) for w in hidden)
        self.fc = nn.Linear(dims[-1], num_classes, bias=not tod)
        if tod:
            self.tod_widths = list(hidden)

    def features(self, x: torch.Tensor, masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        check_masks(self, masks)
        r, t = self.reg, self.training
        norms = getattr(self, "norms", None)
        x = drop_noise(torch.flatten(x, 1), r["input_dropout"], r["input_noise"], t)
        for i, layer in enumerate(self.hidden):
            x = layer(x)
            x = unit_mask(F.relu(x if norms is None else norms[i](x)), masks, i)
            x = drop_noise(x, r["dropout"], r["hidden_noise"], t)
        return x

    def forward(self, x: torch.Tensor, masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        return self.fc(self.features(x, masks))

    def features_stacked(self, p: dict[str, torch.Tensor], x: torch.Tensor, per_model: bool,
                         masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``features`` of M stacked MLPs at once: (M, B, last hidden width). ``p`` holds this
        module's parameters (and, with batch norm, its buffers) with a leading model axis; x
        is (M, B, ...) or, shared, (B, ...); masks, if any, (M, B, d) per hidden layer.
        Batched matmuls instead of vmap: 1.6x faster for tiny MLPs on a CPU. Regularizers
        draw per element of (M, B, ...), so each model gets its own masks and noise; a shared
        input is expanded to (M, B, ...) first when an input regularizer is active."""
        check_masks(self, masks)
        r, t = self.reg, self.training
        h = torch.flatten(x, 2 if per_model else 1)
        if t and not per_model and (r["input_dropout"] > 0 or r["input_noise"] > 0):
            h = h.expand(p["fc.weight"].shape[0], *h.shape)
        h = drop_noise(h, r["input_dropout"], r["input_noise"], t)
        for i in range(len(self.hidden)):
            h = _stacked_linear(h, p[f"hidden.{i}.weight"], p[f"hidden.{i}.bias"])
            if hasattr(self, "norms"):
                h = self._stacked_norm(i, p, h)
            h = drop_noise(unit_mask(F.relu(h), masks, i), r["dropout"], r["hidden_noise"], t)
        return h

    def forward_stacked(self, p: dict[str, torch.Tensor], x: torch.Tensor, per_model: bool,
                        masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        """M stacked MLPs at once (the engine's ``Stacked`` group): logits (M, B, K); the
        arguments as for ``features_stacked``."""
        h = self.features_stacked(p, x, per_model, masks)
        return _stacked_linear(h, p["fc.weight"], p.get("fc.bias"))

    def _stacked_norm(self, i: int, p: dict[str, torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        """Batch norm of layer i for M models at once, h (M, B, d): each model's statistics
        over its own batch, as M separate ``BatchNorm1d`` would compute them. Seen as (B, M*d),
        the M*d columns are independent channels; the stacked (M, d) running buffers, viewed
        flat (same storage), are updated in place (momentum, unbiased variance) in training."""
        bn, key = self.norms[i], f"norms.{i}."
        m, b, d = h.shape
        mean, var = p[key + "running_mean"], p[key + "running_var"]
        if self.training:
            p[key + "num_batches_tracked"].add_(1)
        flat = F.batch_norm(h.transpose(0, 1).reshape(b, m * d), mean.view(-1), var.view(-1),
                            p[key + "weight"].reshape(-1), p[key + "bias"].reshape(-1),
                            self.training, bn.momentum, bn.eps)
        return flat.view(b, m, d).transpose(0, 1)


def _stacked_linear(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """h (M,B,in) or shared (B,in); w (M,out,in); b (M,out) or None -> (M,B,out)."""
    if b is None:
        return torch.matmul(h, w.transpose(1, 2))
    if h.dim() == 2:
        return torch.matmul(h, w.transpose(1, 2)) + b[:, None, :]
    return torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))


def mlp(hidden: list[int] | int = 512, depth: int = 1, in_channels: int = 1, image_size: int = 28,
        num_classes: int = 10, dropout: float = 0.0, input_dropout: float = 0.0,
        input_noise: float = 0.0, hidden_noise: float = 0.0, tod: bool = False,
        batchnorm: bool = False, feature_dim: int | None = None) -> nn.Module:
    """ReLU MLP on flattened images; ``hidden`` is a list of widths or one width repeated
    ``depth`` times. Regularizers as for ``ar_cnn`` (Arpit et al. 2017, Sec. 5): the input
    ones on the normalised input, ``dropout``/``hidden_noise`` after every hidden ReLU; in
    ``forward_stacked`` each of the M models draws its own masks and noise. ``tod``: turn-over
    dropout after every hidden ReLU, bias-free classifier (LLJ; see ``MLP``).

    ``batchnorm``: Linear -> BatchNorm1d -> ReLU in every hidden layer. ``feature_dim`` M: one
    more hidden layer of width M before the classifier, so ``features(x)`` is M-dimensional
    (MD, Sec. 4.1: 8 x 2048 hidden, batchnorm, M = number of classes; it is a hidden layer
    like the others: normalised, masked and regularised the same way)."""
    reg = check_regularizers(dropout=dropout, input_dropout=input_dropout,
                              input_noise=input_noise, hidden_noise=hidden_noise)
    widths = list(hidden) if isinstance(hidden, list) else [int(hidden)] * depth
    if feature_dim is not None:
        if isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < 1:
            raise ValueError(not_allowed("model.feature_dim", feature_dim,
                                         "an integer >= 1, or null (no feature layer)"))
        widths.append(feature_dim)
    return MLP(in_channels * image_size * image_size, widths, num_classes, reg, bool(tod),
               bool(batchnorm))
