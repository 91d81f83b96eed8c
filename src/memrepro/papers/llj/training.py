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
- ``grad_stats`` (file): the rows ``track_gradients`` logged during the epoch just ended.

``influence`` gives LLJ Eq. 5 (no figure needs it).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from memrepro.engine import Objective
from memrepro.papers.llj.gram import STAT_FIELDS, batch_gram, gram_statistics
from memrepro.papers.llj.tod import tod_masks
from memrepro.papers.llj.tracked import tracked_subsets
from memrepro.probes import Probe
from memrepro.seeds import cell_seed
from memrepro.stacked import Single

BIT_WEIGHTS = (128, 64, 32, 16, 8, 4, 2, 1)  # np.packbits' default, big-endian bit order


def _base_model(trainer) -> torch.nn.Module:
    """The group's architecture as a module (a Single's model, a Stacked group's base)."""
    return trainer.group.model if isinstance(trainer.group, Single) else trainer.group.base


def tod_widths(trainer, key: str) -> list[int]:
    """The widths of the model's turn-over dropout layers; a clear error naming ``key`` when
    the model has none."""
    widths = getattr(_base_model(trainer), "tod_widths", None)
    if not widths:
        name = trainer.specs[0]["model"].get("name")
        raise ValueError(f"{key}: model {name!r} has no turn-over dropout layers "
                         "(tod_widths); allowed: a model built with tod: true")
    return [int(w) for w in widths]


def _seeds(trainer) -> torch.Tensor:
    return torch.tensor([cell_seed(s) for s in trainer.specs], dtype=torch.int64,
                        device=trainer.dev)


def _eval_batch(trainer) -> int:
    """The bounded evaluation batch of ``GroupTrainer.logits``."""
    return max(int(trainer.tr["batch_size"]), 2048 // trainer.size)


# --- objectives --------------------------------------------------------------------------


def make_turnover(trainer, epoch: int, opts: dict):
    """The epoch's turn-over dropout loss: each example through its own unmuted sub-network,
    each model with masks from its own cell's seed (a cell's masks do not depend on its
    group)."""
    if opts:
        raise ValueError(f"train.turnover: options {sorted(opts)} are not allowed; allowed: "
                         "none ({})")
    widths, seeds = tod_widths(trainer, "train.turnover"), _seeds(trainer)

    def loss(xb: torch.Tensor, yb: torch.Tensor, ids: torch.Tensor,
             per_model: bool) -> torch.Tensor:
        masks = tod_masks(seeds, ids, widths, flip=False)
        with trainer.amp():
            return trainer.losses(trainer.group(xb, per_model, masks=masks), yb)
    return loss


def _frac(opts: dict) -> float:
    frac = opts.get("frac", 1 / 6)
    if isinstance(frac, bool) or not isinstance(frac, int | float) or not 0 < frac <= 1:
        raise ValueError(f"train.track_gradients.frac: {frac!r} is not allowed; allowed: a "
                         "share in (0, 1]")
    return float(frac)


def tracked_lookup(trainer, frac: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Bool tables indexed by stable id: whether an example is in the easy / difficult tracked
    subset (``tracked_subsets`` over the trained examples' corruption mask, data order)."""
    d = trainer.data
    easy, difficult = tracked_subsets(d.corrupted[0].cpu().numpy().astype(bool), frac)
    size = int(d.ids.max()) + 1 if d.ids.numel() else 0
    tables = []
    for pos in (easy, difficult):
        table = torch.zeros(size, dtype=torch.bool, device=trainer.dev)
        table[d.ids[torch.from_numpy(pos).to(trainer.dev)]] = True
        tables.append(table)
    return tables[0], tables[1]


def make_track_gradients(trainer, epoch: int, opts: dict):
    """The epoch's plain loss (mean over the batch) of the group's one model, logging a row of
    gradient statistics per step to ``trainer.llj_grad_log`` (reset here, every epoch).

    The step and the statistics share one forward pass, run in float32 without autocast (so
    on a GPU this step is not bf16, unlike plain training); the Gram matrix is float64.
    ``step`` counts steps from the start of training (epoch * steps per epoch + k)."""
    unknown = sorted(set(opts) - {"frac"})
    if unknown:
        raise ValueError(f"train.track_gradients.{unknown[0]}: no such option; allowed: "
                         "['frac']")
    easy, difficult = tracked_lookup(trainer, _frac(opts))
    model, fn = trainer.group.module(0), trainer.loss_fns[0]
    bs = int(trainer.tr["batch_size"])
    first = epoch * -(-trainer.data.n // bs)
    trainer.llj_grad_log = []

    def loss(xb: torch.Tensor, yb: torch.Tensor, ids: torch.Tensor,
             per_model: bool) -> torch.Tensor:
        gram, losses = batch_gram(model, xb[0] if per_model else xb, yb[0], fn)
        step = torch.tensor([first + len(trainer.llj_grad_log)], dtype=torch.float64,
                            device=gram.device)
        stats = gram_statistics(gram, easy[ids[0]], difficult[ids[0]])
        trainer.llj_grad_log.append(torch.cat([step, stats]))
        return losses.float().mean().view(1)
    return loss


# --- probes ------------------------------------------------------------------------------


@torch.no_grad()
def _tod_pass(trainer) -> dict[str, torch.Tensor]:
    """Per model and training example (M, n), in eval mode, float32: each cell's own loss and
    the predicted class through the example's unmuted and muted sub-networks."""
    widths, seeds, d = tod_widths(trainer, "probes.tod"), _seeds(trainer), trainer.data
    trainer.group.train(False)
    parts: dict[str, list[torch.Tensor]] = {}
    start = 0
    for xb, per_model in d.eval_batches("train", _eval_batch(trainer)):
        b = xb.shape[-4]  # (b, C, H, W), or per model (M, b, C, H, W)
        ids = d.ids[start:start + b].expand(trainer.size, b)
        y = d.y_noisy[:, start:start + b]
        for mode, flip in (("unmuted", False), ("muted", True)):
            masks = tod_masks(seeds, ids, widths, flip=flip)
            with trainer.amp():
                logits = trainer.group(xb, per_model, masks=masks).float()
            loss = torch.stack([fn(logits[i], y[i]).float()
                                for i, fn in enumerate(trainer.loss_fns)])
            parts.setdefault(f"loss_{mode}", []).append(loss)
            parts.setdefault(f"pred_{mode}", []).append(logits.argmax(2))
        start += b
    return {k: torch.cat(v, 1) for k, v in parts.items()}


def tod_evaluation(trainer, epoch: int) -> dict[str, torch.Tensor]:
    """``_tod_pass`` once per evaluation: the history and file probes of one epoch share it."""
    key = (epoch, trainer.group.parameters()[0]._version)
    cached = getattr(trainer, "llj_tod_cache", None)
    if cached is None or cached[0] != key:
        trainer.llj_tod_cache = (key, _tod_pass(trainer))
    return trainer.llj_tod_cache[1]


def measure_tod(opts: dict, trainer, epoch: int, logits: torch.Tensor) -> dict:
    """The per-example TOD record of every model: stable ids, labels trained on, score
    CE(muted) − CE(unmuted) (LLJ Eq. 6), both losses and both predictions."""
    out, d = tod_evaluation(trainer, epoch), trainer.data
    return {"ids": d.ids.expand(trainer.size, -1), "label": d.y_noisy,
            "score": out["loss_muted"] - out["loss_unmuted"],
            "loss_unmuted": out["loss_unmuted"], "loss_muted": out["loss_muted"],
            "pred_unmuted": out["pred_unmuted"].to(torch.int16),
            "pred_muted": out["pred_muted"].to(torch.int16)}


def _sub_network_acc(mode: str):
    def measure(opts: dict, trainer, epoch: int, logits: torch.Tensor) -> list[float]:
        pred = tod_evaluation(trainer, epoch)[f"pred_{mode}"]
        return (pred == trainer.data.y_noisy).float().mean(1).tolist()
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
def _correct_on_all(trainer) -> torch.Tensor:
    """(M, N) bool: argmax == noisy label over the full prepared training set (eval mode)."""
    d = trainer.data
    trainer.group.train(False)
    out, start = [], 0
    for xb, per_model in d.eval_batches("all", _eval_batch(trainer)):
        with trainer.amp():
            pred = trainer.group(xb, per_model).float().argmax(2)
        out.append(pred == d.y_all[:, start:start + pred.shape[1]])
        start += pred.shape[1]
    return torch.cat(out, 1)


def measure_correctness(opts: dict, trainer, epoch: int, logits: torch.Tensor) -> dict:
    """Packed bits of ``argmax == label`` of the full network (no masks, eval mode) for every
    model: over the FULL prepared training set by id (noisy labels, examples a subset did not
    train on included) and over the test set. When the group has no full set (``x_all`` or
    ``y_all`` is None: inputs replaced per model), the training bits cover the trained
    examples only, in data order (``n_train`` then equals their number)."""
    d, m = trainer.data, trainer.size
    if d.x_all is None or d.y_all is None:
        train = logits.argmax(2) == d.y_noisy
    elif d.x_all is d.x and not d.per_model_x:  # no subset: the evaluation's logits serve
        train = logits.argmax(2) == d.y_all
    else:
        train = _correct_on_all(trainer)
    test = trainer.logits("test").argmax(2) == d.y_test
    return {"train_bits": pack_bits(train), "n_train": _counts(train.shape[1], m),
            "test_bits": pack_bits(test), "n_test": _counts(test.shape[1], m)}


def _counts(n: int, m: int) -> torch.Tensor:
    """(M, 1) int64: the same count for each of the M models."""
    return torch.full((m, 1), n, dtype=torch.int64)


def measure_grad_stats(opts: dict, trainer, epoch: int, logits: torch.Tensor) -> dict:
    """The rows ``track_gradients`` logged during the epoch that just ended (empty at epoch
    0): ``step``, ``n_easy``, ``n_difficult`` (int64) and the statistics of
    ``gram.STAT_FIELDS`` (float64; NaN where undefined)."""
    if trainer.objective is None or trainer.objective[0] != "track_gradients":
        raise ValueError("probes.grad_stats: needs train.track_gradients (the statistics are "
                         "taken during its steps); allowed: only with train.track_gradients")
    rows = getattr(trainer, "llj_grad_log", []) if epoch > 0 else []
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
          "grad_stats": Probe(measure_grad_stats, writes="npz")}
OBJECTIVES = {"turnover": Objective(make_turnover),
              "track_gradients": Objective(make_track_gradients, single_model=True)}
