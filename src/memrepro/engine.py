"""Training engine: a group of cells (same model and schedule; seeds, noise rates or losses
vary) trained in one process, written per cell.

The data lives on the device (``device_data``). Each cell keeps the randomness it would have
alone: its model is initialised under ``torch.manual_seed(seed)`` and every epoch's order comes
from a generator seeded from (seed, epoch), so a cell's history does not depend on its group
(equal to float tolerance when stacked, bitwise when sequential). With checkpoints holding
model and optimizer state per cell, a resumed run repeats an uninterrupted one exactly
(bitwise on CPU).

Minibatches: consecutive slices of each epoch's order, except that a model with batch norm never
gets a batch of one (``epoch_plan.batch_bounds``). ``train.eval_every: k`` evaluates only at
epoch 0, every k-th, the final epoch and where a probe is due (``epoch_plan.evaluation_due``).

Two settings exist for the rehearsal (memrepro.rehearsal), which runs every job at its real
shapes for a few steps: ``train.steps_per_epoch: s`` takes only the first s minibatches of each
epoch, and ``train.eval_examples: k`` evaluates the first k examples of each split wherever no
file probe is due (``train.probe_examples``, where one is; unset: every example). A ``meter``
(memrepro.rehearsal.meter) times and counts the training steps and evaluations; without one
nothing is measured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from memrepro import group_checkpoints
from memrepro.device_data import GroupData, TrainData
from memrepro.epoch_plan import batch_bounds, eval_every, evaluation_due, has_batchnorm
from memrepro.fit import FIT_TOL
from memrepro.hooks import HookContext
from memrepro.losses import get_loss
from memrepro.models import MODELS, get_model
from memrepro.optim import lr_at, make_optimizer
from memrepro.paths import CHECKPOINT
from memrepro.pipeline import resume, watchdog
from memrepro.pipeline.progress import EpochProgress
from memrepro.probes import CORE_PROBES, Probe, Probes, label_metrics, mean_of
from memrepro.run_files import fingerprint, write_run_files
from memrepro.seeds import cell_seed
from memrepro.stacked import (
    Single,
    Stacked,
    choose_mode,
    has_conv,
)

# history.csv: these columns, then one per history-writing probe the trainer knows
CORE_HISTORY_COLUMNS = ["epoch", "lr", "loss", "j1", "j2", "corrupted_fit", "corrupted_clean",
                        "clean_acc", "test_acc", "test_loss"]

# train settings the engine itself reads; any other train key names an objective
CORE_TRAIN_KEYS = frozenset({"epochs", "batch_size", "optimizer", "schedule",
                             "checkpoint_every", "stop_when_fit", "eval_every",
                             "steps_per_epoch", "eval_examples", "probe_examples"})


class NoMeter:
    """What the trainer calls around each training step and evaluation when nothing is
    measured (memrepro.rehearsal.meter.CostMeter measures)."""

    def section(self, kind: str, examples: int = 0):
        return contextlib.nullcontext()

    def watch_group(self, trainer: GroupTrainer) -> None:
        pass

# streams of seed_for: what each seeded generator is for (values fixed: changing one changes
# every result that depends on it)
ORDER_STREAM = 0             # each cell's minibatch order per epoch (probes may reuse it)
GLOBAL_STREAM = 1_000_033    # the global generator: dropout and noise layers
OBJECTIVE_STREAM = 500_009   # an objective's own generator (AR: LASS noise)


def seed_for(seed: int, epoch: int, stream: int = ORDER_STREAM) -> int:
    """The one seed-mixing rule: the seed of a generator for (cell seed, epoch, stream)."""
    return int(seed) * 1_000_003 + int(epoch) + stream


@dataclass(frozen=True)
class Objective:
    """A training objective that replaces the plain loss of a batch; a cell switches it on
    with a ``train.<name>`` mapping (its options, closed by its schema at planning).
    ``make(ctx, epoch, opts)`` (``ctx``: the group's ``memrepro.hooks.HookContext``) returns the
    epoch's ``loss(xb, yb, ids, per_model) -> (M,)`` per-model losses: ``xb`` the batch inputs
    (per model when ``per_model``), ``yb`` (M, B) labels, ``ids`` (M, B) the examples' stable
    indices into the prepared training arrays (``GroupData.ids``: a
    subset's examples keep their ids). ``single_model``: it steps one model at a time (a
    group of several cells then trains them one after another)."""

    make: Callable[[HookContext, int, dict], Callable[..., torch.Tensor]]
    single_model: bool = False


def _new_model(spec: dict[str, Any], x: torch.Tensor, num_classes: int) -> torch.nn.Module:
    """``spec["model"]`` with in_channels, num_classes and, for models whose layer sizes follow
    the image (a constructor that takes ``image_size``), the image side filled in."""
    kw = {k: v for k, v in spec["model"].items() if k != "name"}
    if "image_size" in inspect.signature(MODELS[spec["model"]["name"]]).parameters:
        kw["image_size"] = x.shape[-1]
    return get_model(spec["model"]["name"], in_channels=x.shape[-3], num_classes=num_classes,
                     **kw)


def build_model(spec: dict[str, Any], x: torch.Tensor, num_classes: int) -> torch.nn.Module:
    """The cell's freshly initialised model, on the CPU, from its own seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cell_seed(spec))
        return _new_model(spec, x, num_classes)


def _shared_setting(specs: list[dict], key: str) -> Any:
    values = [json.dumps(s[key], sort_keys=True) for s in specs]
    if len(set(values)) > 1:
        raise ValueError(f"group: cells differ in {key!r} ({sorted(set(values))}); a group "
                         f"shares model and train settings and differs only in seed, noise, loss")
    return specs[0][key]


class GroupTrainer:
    """Train M cells as one: a ``Stacked`` group, or a ``Single`` model when M = 1.

    ``mode``: auto | stacked | sequential (``stacked.choose_mode``). A group that resolves to
    sequential cannot be stepped as one: use ``train_group``, which runs its cells in turn.
    """

    def __init__(self, specs: list[dict], datas: list[TrainData] | GroupData,
                 mode: str = "auto", compile: bool = False,
                 probes: dict[str, Probe] | None = None,
                 objectives: dict[str, Objective] | None = None, meter=None):
        self.specs = specs
        self.meter = meter or NoMeter()
        self.data = datas if isinstance(datas, GroupData) else GroupData.of(list(datas))
        self.dev = self.data.x.device
        self.cuda = self.dev.type == "cuda"
        self.tr = _shared_setting(specs, "train")
        _shared_setting(specs, "model")
        if self.cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.eval_every = eval_every(self.tr)
        models = [build_model(s, self.data.x, self.data.num_classes) for s in specs]
        self.batchnorm = has_batchnorm(models[0])
        self.mode = choose_mode(mode, models[0], len(specs), self.dev)
        if self.mode == "sequential":
            raise ValueError("GroupTrainer: this group runs sequentially; use train_group")
        cl = self.cuda and self.mode == "single" and has_conv(models[0]) \
            and self.data.x.dim() == 4
        self.data.channels_last = cl
        fmt = torch.channels_last if cl else torch.contiguous_format
        models = [m.to(self.dev, memory_format=fmt) for m in models]
        self.group = Single(models[0]) if self.mode == "single" else Stacked(models)
        if compile and self.cuda:
            self.group.compile()
        self.opt = make_optimizer(self.group.parameters(), self.tr["optimizer"])
        self.loss_fns = [get_loss(s["loss"]["name"], **s["loss"].get("params", {}))
                         for s in specs]
        self.same_loss = len({json.dumps(s["loss"], sort_keys=True) for s in specs}) == 1
        self.amp = ((lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if self.cuda
                    else contextlib.nullcontext)
        self.size = len(specs)
        self.eval_batch = max(int(self.tr["batch_size"]), 2048 // self.size)  # bounded activations
        self.probes = Probes(specs, CORE_PROBES if probes is None else probes, self.tr)
        self.columns = CORE_HISTORY_COLUMNS + self.probes.columns
        self.measured = [c for c in self.columns if c not in ("epoch", "lr", "loss")]
        self.objective = self._objective(objectives or {})
        self.hook_context = self._hook_context()
        self.meter.watch_group(self)

    def _hook_context(self) -> HookContext:
        """What this group's probes and objectives receive (docs/hooks.md); its ``state``
        lives as long as this trainer."""
        return HookContext(data=self.data, group=self.group, specs=self.specs, device=self.dev,
                           amp=self.amp, loss_fns=self.loss_fns, train=self.tr,
                           size=self.size, eval_batch=self.eval_batch, losses=self.losses,
                           logits=self.logits)

    def _objective(self, objectives: dict[str, Objective]):
        """(name, Objective, options) of the objective the cells switch on, or None. A
        ``train`` key that is neither a core setting nor a known objective is refused (an
        objective the caller did not pass must not silently train plain)."""
        unknown = sorted(set(self.tr) - CORE_TRAIN_KEYS - set(objectives))
        if unknown:
            raise ValueError(f"train.{unknown[0]}: no such setting or objective; allowed: "
                             f"{sorted(CORE_TRAIN_KEYS | set(objectives))} (objectives come "
                             "from memrepro.catalog.training_hooks())")
        on = [(n, o, self.tr[n]) for n, o in objectives.items() if self.tr.get(n) is not None]
        if len(on) > 1:
            raise ValueError(f"train: {[n for n, _, _ in on]} each replace the training loss; "
                             "allowed: at most one")
        if on and on[0][1].single_model and self.mode != "single":
            raise ValueError(f"train.{on[0][0]}: this objective steps one model at a time; "
                             "use group.mode: sequential")
        return on[0] if on else None

    def losses(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-model mean loss (M,) from logits (M, B, K) and labels (M, B)."""
        if self.same_loss:
            m, b = y.shape
            return self.loss_fns[0](logits.flatten(0, 1), y.flatten()).view(m, b).mean(1)
        return torch.stack([fn(logits[i], y[i]).mean() for i, fn in enumerate(self.loss_fns)])

    def lr(self, epoch: int) -> float:
        return lr_at(epoch, self.tr["optimizer"]["lr"], self.tr.get("schedule", {}))

    def train_epoch(self, epoch: int) -> torch.Tensor:
        """One epoch of every model (0-based ``epoch``); returns each model's mean loss."""
        for group in self.opt.param_groups:
            group["lr"] = self.lr(epoch)
        self.group.train(True)
        # dropout and noise layers draw from the global generator: seeded per (seed, epoch),
        # so a resumed run repeats the uninterrupted one (a stacked group draws for all models
        # from the first cell's seed)
        torch.manual_seed(seed_for(cell_seed(self.specs[0]), epoch, GLOBAL_STREAM))
        n, bs = self.data.n, int(self.tr["batch_size"])
        perms = torch.stack([
            torch.randperm(n, device=self.dev, generator=torch.Generator(device=self.dev)
                           .manual_seed(seed_for(cell_seed(s), epoch)))
            for s in self.specs])
        total = torch.zeros(self.size, device=self.dev)
        objective = None
        if self.objective is not None:
            _, obj, opts = self.objective
            objective = obj.make(self.hook_context, epoch, opts)
        bounds = batch_bounds(n, bs, self.batchnorm)
        if self.tr.get("steps_per_epoch"):  # a rehearsal: the first few minibatches only
            bounds = bounds[:int(self.tr["steps_per_epoch"])]
        for lo, hi in bounds:
            with self.meter.section("train", self.size * (hi - lo)):
                total += self.train_step(perms[:, lo:hi], objective)
        return total / (bounds[-1][1] if bounds else n)

    def train_step(self, idx: torch.Tensor, objective) -> torch.Tensor:
        """One SGD step of every model on the examples ``idx`` (M, B); returns each model's
        summed loss over the batch."""
        xb, per_model = self.data.train_batch(idx)
        yb = self.data.y_noisy.gather(1, idx)
        if objective is not None:
            loss = objective(xb, yb, self.data.ids[idx], per_model)
        else:
            with self.amp():
                loss = self.losses(self.group(xb, per_model), yb)
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt.step()
        return loss.detach() * idx.shape[1]

    @torch.no_grad()
    def logits(self, split: str) -> torch.Tensor:
        """Float32 logits (M, n, K) of every model on the whole split, in eval mode."""
        self.group.train(False)
        outs = []
        for xb, per_model in self.data.eval_batches(split, self.eval_batch):
            with self.amp():
                outs.append(self.group(xb, per_model).float())
        return torch.cat(outs, 1)

    def evaluate(self) -> tuple[list[dict[str, float]], torch.Tensor]:
        """Per model: training-set label metrics and test accuracy/loss (eval mode); and the
        training logits (M, n, K) for the per-example probes."""
        d = self.data
        train, test = self.logits("train"), self.logits("test")
        pred, tpred = train.argmax(2), test.argmax(2)
        rows = []
        for i, fn in enumerate(self.loss_fns):
            rows.append({**label_metrics(pred[i], d.y_noisy[i], d.y_clean, d.corrupted[i]),
                         "test_acc": mean_of(tpred[i] == d.y_test),
                         "test_loss": float(fn(test[i], d.y_test).mean())})
        return rows, train

    def evaluate_at(self, epoch: int) -> tuple[list[dict[str, float]], torch.Tensor]:
        """``evaluate`` plus the history probes' columns (measured where due)."""
        rows, train = self.evaluate()
        self.probes.measure_history(self.hook_context, epoch, train, rows)
        return rows, train

    def eval_limit(self, epoch: int) -> int | None:
        """The examples per split an evaluation after ``epoch`` epochs reads: all (None), or
        the rehearsal's limit: ``train.probe_examples`` where a file probe is due,
        ``train.eval_examples`` elsewhere."""
        key = "probe_examples" if self.probes.files_due(epoch) else "eval_examples"
        limit = self.tr.get(key)
        return int(limit) if limit and limit < max(self.data.n, len(self.data.y_test)) \
            else None

    @contextlib.contextmanager
    def reading_first(self, limit: int | None):
        """Within: the trainer's data, and its probes' (the hook context), are the first
        ``limit`` examples of each split (None: all)."""
        if limit is None:
            yield
            return
        data, ctx = self.data, self.hook_context
        self.data = data.head(limit)
        self.hook_context = dataclasses.replace(ctx, data=self.data)
        try:
            yield
        finally:
            self.data, self.hook_context = data, ctx

    def rows_at(self, epoch: int, out_dirs: list[Path]) -> list[dict[str, float]]:
        """Each cell's measured history columns after ``epoch`` epochs, with the due file
        probes written: the full evaluation where it is due (train.eval_every), else NaN."""
        if not evaluation_due(epoch, int(self.tr["epochs"]), self.eval_every, self.probes.wanted):
            return [dict.fromkeys(self.measured, float("nan")) for _ in range(self.size)]
        limit = self.eval_limit(epoch)
        with self.reading_first(limit):
            examples = self.size * (self.data.n + len(self.data.y_test))
            with self.meter.section("eval", examples):
                rows, train_logits = self.evaluate_at(epoch)
                self.probes.record_files(self.hook_context, epoch, train_logits, out_dirs)
        return rows

    def fitted(self, histories: list[list[dict]]) -> bool:
        """Whether training may end now: stop_when_fit and every cell fits its labels."""
        return bool(self.tr.get("stop_when_fit")) and bool(histories) and all(
            h[-1]["j1"] >= 1.0 - FIT_TOL for h in histories)

    def run(self, out_dirs: list[str | Path], *, stop_after: int | None = None,
            progress: bool | None = None, keep_checkpoints: bool = False,
            desc: str | None = None, job: dict | None = None,
            cell_of: tuple[int, int] | None = None) -> list[list[dict]]:
        """Train to ``train.epochs`` (resuming from the cells' checkpoints when all of them
        match), write each cell's outputs; return the histories. ``stop_after`` ends the call
        after that many epochs, with checkpoints written, as a kill would. ``job`` overrides
        what run.json says of the job (a sequential group's mode and cells); ``cell_of``
        (k, n): the k-th of the job's n cells, for the progress lines (``progress.py``)."""
        out_dirs = [Path(o) for o in out_dirs]
        fps = [fingerprint(s) for s in self.specs]
        ckpts = [o / CHECKPOINT for o in out_dirs]
        if (kept := resume.finished(out_dirs, fps)) is not None:
            return kept  # finished before an interruption: files restored, nothing trained
        histories, start = group_checkpoints.load(self, ckpts, fps)
        resume.begin(out_dirs, fps, resumed=start > 0)
        if start == 0:
            histories = [[{"epoch": 0, "lr": self.lr(0), "loss": float("nan"), **r}]
                         for r in self.rows_at(0, out_dirs)]
        epochs, every = int(self.tr["epochs"]), int(self.tr.get("checkpoint_every", 10))
        t0, seen = time.perf_counter(), 0
        todo = range(start, start if self.fitted(histories) else epochs)
        prog = EpochProgress([s.get("slug", "train") for s in self.specs], start, epochs,
                             desc=desc, enabled=progress, cell_of=cell_of,
                             cap=bool(self.tr.get("stop_when_fit")))
        for done, epoch in enumerate(prog.bar(todo), 1):
            loss = self.train_epoch(epoch).tolist()
            seen += self.data.n * self.size
            rows = self.rows_at(epoch + 1, out_dirs)
            for i, (h, row) in enumerate(zip(histories, rows, strict=True)):
                if not math.isfinite(loss[i]):
                    raise FloatingPointError(
                        f"{self.specs[i].get('slug')}: training loss is {loss[i]} at epoch "
                        f"{epoch + 1}; lower train.optimizer.lr")
                h.append({"epoch": epoch + 1, "lr": self.lr(epoch), "loss": loss[i], **row})
            prog.epoch(epoch + 1, loss, rows)
            last = epoch + 1 == epochs or self.fitted(histories)
            stop = (stop_after is not None and done >= stop_after) or watchdog.stop_requested()
            if (epoch + 1) % every == 0 or last or stop:
                group_checkpoints.save(self, ckpts, fps, histories, epoch + 1)
            if stop and not last:
                watchdog.exit_if_requested(epoch + 1)  # its Snakemake is gone: Stopped
                return histories
            if last:
                break
        wall = time.perf_counter() - t0
        for i, o in enumerate(out_dirs):
            write_run_files(o, self.specs[i], self.group.state_dict(i), histories[i], self.columns,
                    self.dev, {
                "mode": self.mode, "size": self.size, "wall_time_s": round(wall, 3),
                "model_samples_per_s": round(seen / max(wall, 1e-9), 1),
                "cells": [s.get("slug") for s in self.specs], **(job or {})})
            resume.finish(o, fps[i], None if keep_checkpoints else ckpts[i])  # kept till recorded
        return histories


def group_mode(specs: list[dict], data: TrainData, mode: str = "auto",
               device: torch.device | None = None) -> str:
    """How a group of these cells trains on ``data``'s device (or on ``device``: a rehearsal
    trains as the GPU would): single, stacked or sequential. Decided from the architecture
    alone: the model is built on the meta device (no init)."""
    with torch.device("meta"):
        model = _new_model(specs[0], data.x, data.num_classes)
    return choose_mode(mode, model, len(specs), device or data.x.device)


def differing(specs: list[dict], objectives: dict[str, Objective] | None = None) -> list[str]:
    """Why a group must run its cells one after another: the settings in which they differ
    beyond seed, noise and loss (a swept model, train or subset value), or an objective that
    steps one model at a time (empty: the group may be stacked)."""
    out = [k for k in ("model", "train", "subset")
           if len({json.dumps(s.get(k), sort_keys=True) for s in specs}) > 1]
    for name, obj in (objectives or {}).items():
        if len(specs) > 1 and obj.single_model and specs[0]["train"].get(name) is not None:
            out.append(f"train.{name}")
    return out


def train_group(specs: list[dict], datas: list[TrainData], out_dirs: list[str | Path], *,
                mode: str = "auto", compile: bool = False, progress: bool | None = None,
                stop_after: int | None = None, desc: str | None = None,
                probes: dict[str, Probe] | None = None,
                objectives: dict[str, Objective] | None = None,
                meter=None) -> list[list[dict]]:
    """Train a group of cells and write every cell's outputs; returns their histories.

    Stacked groups step all models at once; sequential ones (and groups whose cells differ in
    a swept setting) train the cells one after another in this process (one torch import per
    job, not per cell), keeping every cell's final checkpoint until the whole group is done so
    a killed job loses no finished cell.
    """
    hooks = {"probes": probes, "objectives": objectives, "meter": meter}
    if not differing(specs, objectives) and group_mode(specs, datas[0], mode) != "sequential":
        return GroupTrainer(specs, datas, mode, compile, **hooks).run(
            out_dirs, stop_after=stop_after, progress=progress, desc=desc)
    histories = []
    job = {"mode": "sequential", "size": len(specs), "cells": [s.get("slug") for s in specs]}
    for k, (spec, data, out) in enumerate(zip(specs, datas, out_dirs, strict=True), 1):
        trainer = GroupTrainer([spec], [data], "auto", compile, **hooks)
        histories.append(trainer.run([out], stop_after=stop_after, progress=progress,
                                     keep_checkpoints=True, job=job, cell_of=(k, len(specs)))[0])
        h = histories[-1]
        done = len(h) > int(spec["train"]["epochs"]) or trainer.fitted([h])
        if stop_after is not None and not done:
            return histories  # interrupted: later cells have not started
    for out in out_dirs:
        (Path(out) / CHECKPOINT).unlink(missing_ok=True)
    return histories


def train_cell(spec: dict[str, Any], data: TrainData, out_dir: str | Path, *,
               stop_after: int | None = None, progress: bool | None = None,
               probes: dict[str, Probe] | None = None,
               objectives: dict[str, Objective] | None = None) -> list[dict]:
    """Train one cell alone; write history.csv, model.pt and run.json under ``out_dir``."""
    return GroupTrainer([spec], [data], probes=probes, objectives=objectives).run(
        [out_dir], stop_after=stop_after, progress=progress)[0]
