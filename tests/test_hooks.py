"""The hook contract (memrepro.hooks, docs/hooks.md): hooks get a HookContext and nothing
else; ``state`` carries a paper's data from its objective to its probe within one trained
group and starts empty for the next; a probe's ``needs_objective`` and the objectives'
option schemas are enforced at planning."""

import copy
import dataclasses
import re

import pandas as pd
import pytest
import torch
from conftest import ROOT, load_params
from test_groups import _cells

from memrepro import io
from memrepro.config import ConfigError, resolve
from memrepro.config.plan_checks import cell_errors
from memrepro.config.validation import check_against, load_schema
from memrepro.engine import GroupTrainer, train_group
from memrepro.hooks import HookContext, unmet_needs
from memrepro.probes import CORE_PROBES, Probe

DOC = ROOT / "docs" / "hooks.md"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _doc_hooks() -> dict:
    """The example of docs/hooks.md (a ``counted`` objective, a ``steps`` probe), run as
    written."""
    block, = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    namespace: dict = {}
    exec(compile(block, str(DOC), "exec"), namespace)
    return {"probes": {**CORE_PROBES, **namespace["PROBES"]},
            "objectives": namespace["OBJECTIVES"]}


HOOKS = _doc_hooks()


def _specs(seeds=(0,), epochs=2, probes=None, **train):
    specs, datas = _cells(list(seeds), [0.2], epochs=epochs)  # 160 examples, batch 32
    for s in specs:
        s["probes"] = probes if probes is not None else {"steps": {"every": 1}}
        s["train"].update(train)
    return specs, datas


def test_state_carries_data_from_objective_to_probe_and_starts_empty_per_group(tmp_path):
    specs, datas = _specs(seeds=(0, 1), counted={})
    runs = {mode: [tmp_path / mode / s["slug"] for s in specs]
            for mode in ("stacked", "sequential")}
    # one job of two stacked models (one context), then a job training them one by one (a
    # context per cell): 5 steps per epoch (160 examples, batch 32), counted from each start
    for mode, dirs in runs.items():
        hists = train_group(specs, datas, dirs, mode=mode, progress=False, **HOOKS)
        assert io.read_json(dirs[0] / "run.json")["group"]["mode"] == mode
        for h in hists:
            assert pd.DataFrame(h)["steps"].tolist() == [0, 5, 10], mode
    assert GroupTrainer(specs[:1], datas[:1], **HOOKS).hook_context.state == {}


def test_a_hook_that_reaches_for_the_trainer_fails_naming_what_it_may_use(tmp_path):
    def greedy(opts, ctx, epoch, logits):
        return [ctx.opt.param_groups[0]["lr"]] * ctx.size

    probes = {**CORE_PROBES, "greedy": Probe(greedy, writes="history")}
    specs, datas = _specs(probes={"greedy": {"epochs": [0]}})
    with pytest.raises(AttributeError, match=r"HookContext has no 'opt': a hook receives only "
                                             r"\['data', 'group', .*'state'\]"):
        train_group(specs, datas, [tmp_path / "run"], progress=False, probes=probes)
    ctx = GroupTrainer(specs, datas, probes=probes).hook_context
    with pytest.raises(AttributeError, match="'trainer'"):
        ctx.trainer  # noqa: B018
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.llj_grad_log = []  # scratch goes to ctx.state
    assert [f.name for f in dataclasses.fields(HookContext)] == [
        "data", "group", "specs", "device", "amp", "loss_fns", "train", "size", "eval_batch",
        "losses", "logits", "state"]


def test_unmet_needs_by_hand():
    probes = {"a": Probe(print, needs_objective="count"), "b": Probe(print)}
    assert unmet_needs({"a": {}, "b": {}}, {"epochs": 1}, probes) == [("a", "count")]
    assert unmet_needs({"a": {}}, {"count": None}, probes) == [("a", "count")]  # null: off
    assert unmet_needs({"a": {}}, {"count": {}}, probes) == []
    assert unmet_needs({"b": {}, "unknown": {}}, {}, probes) == []


def test_the_engine_refuses_a_probe_without_its_objective():
    specs, datas = _specs()
    with pytest.raises(ValueError, match=r"probes\.steps: \{'every': 1\} is not allowed without "
                                         r"train\.counted; allowed: only with "
                                         r"train\.counted"):
        GroupTrainer(specs, datas, **HOOKS)


def _cell(train: dict, probes: dict) -> dict:
    return {"experiment": "llj_grads", "model": {"name": "mlp", "hidden": [16]},
            "train": {"epochs": 2, "batch_size": 32, **train}, "probes": probes}


def test_planning_refuses_grad_stats_without_track_gradients():
    """LLJ's grad_stats declares needs_objective=track_gradients; the check planning runs on
    every resolved cell (``cell_errors``) names the key, the value and what is allowed."""
    lines = cell_errors({("llj_grads", "c"): _cell({}, {"grad_stats": {"every": 1}})})
    assert lines == ["  experiments.llj_grads.probes.grad_stats: {'every': 1} is not allowed "
                     "without train.track_gradients; allowed: only with "
                     "train.track_gradients (the probe reads what that objective records "
                     "during its training steps)"]
    assert lines[0].where == "experiments.llj_grads.probes.grad_stats"
    ok = _cell({"track_gradients": {"frac": 0.25}}, {"grad_stats": {"every": 1}})
    assert cell_errors({("llj_grads", "c"): ok}) == []


@pytest.mark.parametrize("objective, options, needle", [
    ("track_gradients", {"frac": 0.25, "fraction": 0.5}, "'fraction' is not allowed"),
    ("track_gradients", {"frac": 0.9}, "track_gradients.frac: 0.9 is not allowed"),
    ("track_gradients", {"frac": True}, "track_gradients.frac: True is not allowed"),
    ("turnover", {"rate": 0.5}, "'rate' is not allowed"),
], ids=["unknown-option", "frac-too-large", "frac-bool", "turnover-option"])
def test_planning_refuses_an_objectives_bad_option(objective, options, needle):
    """The objectives' options are closed by their schemas (the training module no longer
    re-checks them): an experiment's train mapping is checked against it at planning."""
    schema = load_schema()
    train_schema = {**schema["$defs"]["experiment"]["properties"]["train"],
                    "$defs": schema["$defs"]}
    train = {"epochs": 2, "batch_size": 32, "optimizer": {"name": "sgd", "lr": 0.1}}
    check_against({**train, objective: {"frac": 0.25} if objective != "turnover" else {}},
                  train_schema, ("experiments", "x", "train"))
    with pytest.raises(ConfigError) as err:
        check_against({**train, objective: options}, train_schema,
                      ("experiments", "x", "train"))
    assert f"experiments.x.train.{objective}" in str(err.value)
    assert needle in str(err.value), str(err.value)


def test_resolve_refuses_a_configuration_asking_for_grad_stats_without_track_gradients():
    """End to end: the shipped configuration's gradient experiment, its objective removed."""
    cfg = copy.deepcopy(load_params())
    name, = [n for n, e in cfg["experiments"].items()
             if "grad_stats" in (e.get("probes") or {})]
    cfg["experiments"][name]["train"].pop("track_gradients")
    with pytest.raises(ConfigError) as err:
        resolve({**cfg, "scale": "paper"})
    assert (f"experiments.{name}.probes.grad_stats: {{'every': 1}} is not allowed without "
            "train.track_gradients; allowed: only with train.track_gradients") in str(err.value)
