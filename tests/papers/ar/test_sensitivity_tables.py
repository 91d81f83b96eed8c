"""Arpit et al. 2017, Figs. 3 and 4: example choice, random inputs, the two tables, the drawings
and the figure job (workflow/scripts/figure.py) for the two kinds."""

from __future__ import annotations

import runpy
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT

from memrepro import io
from memrepro.catalog import figure_kinds
from memrepro.figures import caption_path, write_figure
from memrepro.papers.ar.sensitivity_figures import draw_class_sensitivity, draw_gini
from memrepro.papers.ar.sensitivity_kinds import CLASS_SENSITIVITY, GINI
from memrepro.papers.ar.sensitivity_runs import (
    class_matrix_table,
    gini_table,
    random_inputs_like,
    select_examples,
)

SMALL = {"examples": 100, "side": None, "lr": 0.5, "batch_size": 20, "steps": 10,
         "restart_every": 5, "seed": 0}


def _fake(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """8x8 uint8 images, class c lights up pixel row c % 8 (plus noise); every class present."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    x = rng.integers(0, 60, (n, 1, 8, 8))
    for k, c in enumerate(y):
        x[k, 0, c % 8, :] += 150 + 40 * (c // 8)
    return x.astype(np.uint8), y.astype(np.int64)


@pytest.fixture(scope="module")
def fake() -> tuple[np.ndarray, np.ndarray]:
    return _fake()


@pytest.fixture(scope="module")
def gtable(fake) -> pd.DataFrame:
    return gini_table(*fake, SMALL)


@pytest.fixture(scope="module")
def ctable(fake) -> pd.DataFrame:
    return class_matrix_table(*fake, SMALL)


# ---------------------------------------------------------------- examples

def test_selection_is_deterministic_and_seeded(fake) -> None:
    X1, y1 = select_examples(*fake, 50, None, seed=3)
    X2, y2 = select_examples(*fake, 50, None, seed=3)
    X3, _ = select_examples(*fake, 50, None, seed=4)
    assert X1.dtype == torch.float32 and y1.dtype == torch.long and X1.shape == (50, 1, 8, 8)
    assert torch.equal(X1, X2) and torch.equal(y1, y2) and not torch.equal(X1, X3)
    keep = np.random.default_rng(3).permutation(len(fake[1]))[:50]
    assert np.array_equal(y1.numpy(), fake[1][keep])


def test_downscaling_averages_2x2_blocks_then_standardises() -> None:
    x = np.arange(3 * 16, dtype=np.uint8).reshape(3, 1, 4, 4) * 5  # hand-made 4x4 images
    x[1, 0, :2, :2] = [[0, 255], [255, 0]]
    X, y = select_examples(x, np.array([0, 1, 2]), 3, side=2, seed=0)
    keep = np.random.default_rng(0).permutation(3)
    blocks = x[keep].astype(np.float64).reshape(3, 1, 2, 2, 2, 2).mean(axis=(3, 5)) / 255
    want = (blocks - blocks.mean()) / blocks.std(ddof=1)
    assert X.shape == (3, 1, 2, 2) and np.array_equal(y.numpy(), keep)
    assert np.allclose(X.numpy(), want, atol=1e-5)
    assert float(X.mean()) == pytest.approx(0.0, abs=1e-6)


def test_no_downscaling_when_side_is_none_or_not_smaller(fake) -> None:
    a, _ = select_examples(*fake, 20, None, seed=0)
    b, _ = select_examples(*fake, 20, 14, seed=0)  # 8x8 digits stay 8x8 under the MNIST side
    assert a.shape == b.shape == (20, 1, 8, 8) and torch.equal(a, b)


def test_random_inputs_match_channel_mean_and_std() -> None:
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(2000, 2, 6, 6, generator=gen) * torch.tensor([1.0, 10.0]).view(1, 2, 1, 1)
    X += torch.tensor([2.0, -5.0]).view(1, 2, 1, 1)  # uniform, not Gaussian: only moments match
    R = random_inputs_like(X, seed=7)
    mean, std = X.mean(dim=(0, 2, 3)), X.std(dim=(0, 2, 3))
    assert R.shape == X.shape and R.dtype == X.dtype
    # 72000 draws per channel: the sample mean is within ~0.004 std of the target
    assert torch.all((R.mean(dim=(0, 2, 3)) - mean).abs() < 0.02 * std)
    assert torch.allclose(R.std(dim=(0, 2, 3)), std, rtol=0.02)
    assert not torch.allclose(R, X, atol=0.1)
    assert torch.equal(R, random_inputs_like(X, seed=7))
    assert not torch.equal(R, random_inputs_like(X, seed=8))


# ---------------------------------------------------------------- Fig. 3 table

def test_gini_table_has_one_row_per_run_and_step(gtable) -> None:
    assert list(gtable.columns[:7]) == ["panel", "panel_title", "data", "labels", "step",
                                        "epoch", "gini"]
    assert len(gtable) == 4 * SMALL["steps"]
    runs = gtable.groupby(["labels", "data"])
    assert runs.ngroups == 4 and set(runs.size()) == {SMALL["steps"]}
    for _, run in runs:
        assert list(run["step"]) == list(range(1, SMALL["steps"] + 1))
        assert run["train_acc"].nunique() == 1 and 0 <= run["train_acc"].iloc[0] <= 1
    assert np.allclose(gtable["epoch"], gtable["step"] / (100 // 20))
    assert gtable["gini"].between(0, 1).all() and gtable["gini"].notna().all()
    assert gtable.groupby("labels")["panel"].unique().to_dict() == {"classes": [0],
                                                                    "unique": [1]}


def test_unique_labels_give_one_class_per_example(gtable) -> None:
    titles = gtable.groupby("labels")["panel_title"].first()
    assert "K = 10)" in titles["classes"] and "K = 100)" in titles["unique"]
    assert (gtable["data"] == "random").sum() == (gtable["data"] == "real").sum()


def test_real_and_random_runs_differ_and_table_is_reproducible(fake, gtable) -> None:
    real = gtable[(gtable["labels"] == "classes") & (gtable["data"] == "real")]["gini"]
    rand = gtable[(gtable["labels"] == "classes") & (gtable["data"] == "random")]["gini"]
    assert not np.allclose(real.to_numpy(), rand.to_numpy())
    pd.testing.assert_frame_equal(gini_table(*fake, SMALL), gtable)


def test_real_data_is_learned(fake) -> None:
    t = gini_table(*fake, {**SMALL, "steps": 30})
    acc = t[(t["labels"] == "classes") & (t["data"] == "real")]["train_acc"].iloc[0]
    assert acc > 0.5  # chance is 0.1


@pytest.mark.parametrize("bad", [0, 201, 10_000])
def test_bad_examples_raises_naming_key_value_and_range(fake, bad) -> None:
    with pytest.raises(ValueError, match=rf"examples: {bad} .*1\.\.200"):
        gini_table(*fake, {**SMALL, "examples": bad})


def test_other_bad_settings_raise(fake) -> None:
    with pytest.raises(ValueError, match="unknown key.*'lrate'"):
        gini_table(*fake, {**SMALL, "lrate": 0.1})
    with pytest.raises(ValueError, match="batch_size: 500"):
        class_matrix_table(*fake, {**SMALL, "batch_size": 500})
    with pytest.raises(ValueError, match="lr: -1"):
        class_matrix_table(*fake, {**SMALL, "lr": -1})


# ---------------------------------------------------------------- Fig. 4 table

def test_class_matrix_is_k_by_k_finite_positive(ctable) -> None:
    assert list(ctable.columns[:6]) == ["panel", "panel_title", "data", "i", "j", "value"]
    for panel, data in enumerate(("real", "random")):
        rows = ctable[ctable["data"] == data]
        assert set(rows["panel"]) == {panel} and len(rows) == 100
        m = rows.pivot(index="i", columns="j", values="value").to_numpy()
        assert m.shape == (10, 10) and np.all(np.isfinite(m)) and np.all(m > 0)
        assert rows["train_acc"].nunique() == 1


def test_full_unroll_tables_equal_a_window_as_long_as_the_run(fake, gtable, ctable) -> None:
    # a window of `steps` cuts nothing, so it is the full unroll (Sec. 3.2) computed another
    # way (the class matrix: vmapped backward vs one backward per class); a shorter window
    # (SMALL's 5 of 10 steps) gives other numbers after its first restart
    full = {**SMALL, "restart_every": None}
    whole = {**SMALL, "restart_every": SMALL["steps"]}
    g_full, g_whole = gini_table(*fake, full), gini_table(*fake, whole)
    np.testing.assert_allclose(g_full["gini"], g_whole["gini"], rtol=1e-5)
    assert not np.allclose(g_full["gini"], gtable["gini"], rtol=1e-3)
    early = g_full["step"] <= SMALL["restart_every"]  # before the first restart: the same
    np.testing.assert_allclose(g_full["gini"][early], gtable["gini"][early], rtol=1e-5)
    c_full, c_whole = class_matrix_table(*fake, full), class_matrix_table(*fake, whole)
    np.testing.assert_allclose(c_full["value"], c_whole["value"], rtol=1e-4)
    assert not np.allclose(c_full["value"], ctable["value"], rtol=1e-2)


# ---------------------------------------------------------------- drawings

KINDS = {"gini": GINI, "class_sensitivity": CLASS_SENSITIVITY}


@pytest.mark.parametrize("kind", ["gini", "class_sensitivity"])
def test_drawings_write_png_pdf_and_caption(tmp_path, gtable, ctable, kind) -> None:
    table = gtable if kind == "gini" else ctable
    assert figure_kinds()[kind] is KINDS[kind] and KINDS[kind].reads == "dataset"
    fig = KINDS[kind].draw(table, {"title": f"AR {kind}"})
    assert fig.get_suptitle() == f"AR {kind}"
    png, pdf = tmp_path / "f.png", tmp_path / "f.pdf"
    write_figure(fig, pdf, png, "the caption")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "f.caption.txt").read_text() == "the caption\n"


def test_drawings_refuse_incomplete_tables(gtable, ctable) -> None:
    with pytest.raises(ValueError, match=r"lacks columns \['gini'\]"):
        draw_gini(gtable.drop(columns="gini"), {"title": "t"})
    with pytest.raises(ValueError, match=r"lacks columns \['value'\]"):
        draw_class_sensitivity(ctable.drop(columns="value"), {"title": "t"})
    with pytest.raises(ValueError, match="no rows"):
        draw_gini(gtable.iloc[:0], {"title": "t"})
    with pytest.raises(ValueError, match="panels"):
        draw_class_sensitivity(ctable[ctable["panel"] == 1], {"title": "t"})


# ---------------------------------------------------------------- Snakemake script

@pytest.mark.parametrize("kind", ["gini", "class_sensitivity"])
def test_workflow_script_writes_the_table_and_the_figure(tmp_path, fake, kind) -> None:
    x, y = fake
    io.write_npz(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:5], y_test=y[:5])
    settings = {**SMALL, "steps": 3}
    out = SimpleNamespace(table=str(tmp_path / "t.csv"), pdf=str(tmp_path / "f.pdf"),
                          png=str(tmp_path / "f.png"))
    sm = SimpleNamespace(input=[str(tmp_path / "d.npz")], output=out, log=[],
                         threads=torch.get_num_threads(),
                         params=SimpleNamespace(spec={"kind": kind, "title": "T",
                                                      "settings": settings},
                                                caption="The caption.", entries=None,
                                                provenance={"settings_sha256": "0" * 64,
                                                            "runs": 0, "sidecars": {}}))
    runpy.run_path(str(ROOT / "workflow/scripts/figure.py"), init_globals={"snakemake": sm})
    got = pd.read_csv(tmp_path / "t.csv")
    want = (gini_table if kind == "gini" else class_matrix_table)(x, y, settings)
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    assert np.allclose(got.select_dtypes("number"), want.select_dtypes("number"))
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert caption_path(tmp_path / "f.png").read_text().startswith("The caption.\nProvenance: ")
