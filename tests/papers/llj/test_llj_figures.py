"""Liu, Lin & Jaggi 2022 figure kinds on hand-made probe, noise, partition and dataset files:
the numbers each table holds (known answers), what each drawing contains, the files a figure
job must wait for, spec errors that name the key, and the index (torch-free, option schemas).
(Named test_llj_figures.py: test file names are unique across tests/.)"""

import subprocess
import sys

import jsonschema
import numpy as np
import pandas as pd
import pytest

from memrepro import io, paths
from memrepro.figures import write_figure
from memrepro.papers.llj import (
    example_grid,
    gradient_curves,
    score_histogram,
    subset_curves,
    tod_schematic,
)
from memrepro.papers.llj.index import PAPER
from memrepro.papers.llj.mask_hash import keep_mask
from memrepro.papers.llj.subset_curves import moving_average
from memrepro.papers.llj.tracked import tracked_subsets

BLUE, RED = "#1f5fbf", "#d62728"


@pytest.fixture(autouse=True)  # every file at its real relative path, under tmp_path
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def make_cell(experiment="exp", eta=0.0, seed=0, dataset="toy", train=None, subset=None):
    return {"experiment": experiment, "slug": f"cce_eta-{eta}_seed-{seed}", "dataset": dataset,
            "noise": {"name": "random_labels", "rate": float(eta)}, "seed": seed,
            "train": train or {}, "loss": {"name": "cce", "params": {}},
            "model": {"name": "mlp"}, "subset": subset}


class FakePlan:  # what extra_inputs reads of a plan
    def __init__(self, *cells):
        self.cells = cells

    def cells_of(self, experiment, loss=None):
        return [c for c in self.cells if c["experiment"] == experiment
                and (loss is None or c["loss"]["name"] == loss)]


def write_noise(cell, corrupted):
    corrupted = np.asarray(corrupted, dtype=bool)
    p = paths.cell_noise_path(cell)
    io.write_npz(p, labels=np.zeros(corrupted.size, np.int64), corrupted=corrupted)
    io.write_json(p.removesuffix(".npz") + ".json", {"n": int(corrupted.size)})


def write_tod(cell, epoch, ids, label, score, pred_unmuted=(), pred_muted=()):
    f = paths.probe_path(paths.run_dir(cell), "tod", epoch)
    score = np.asarray(score, dtype=np.float32)
    io.write_npz(f, ids=np.asarray(ids, np.int64), label=np.asarray(label, np.int64),
                 score=score, loss_unmuted=score, loss_muted=score,
                 pred_unmuted=np.asarray(pred_unmuted, np.int16).reshape(-1),
                 pred_muted=np.asarray(pred_muted, np.int16).reshape(-1))
    return str(f)


def write_correctness(cell, epoch, train, test):
    f = paths.probe_path(paths.run_dir(cell), "correctness", epoch)
    train, test = np.asarray(train, bool), np.asarray(test, bool)
    io.write_npz(f, train_bits=np.packbits(train), n_train=np.array([train.size]),
                 test_bits=np.packbits(test), n_test=np.array([test.size]))
    return str(f)


def write_grad_stats(cell, epoch, **arrays):
    steps = len(next(iter(arrays.values()))) if arrays else 0
    keys = ("step n_easy n_difficult cos_easy cos_difficult cos_all contrib_easy "
            "contrib_difficult contrib_all grad_norm").split()
    f = paths.probe_path(paths.run_dir(cell), "grad_stats", epoch)
    io.write_npz(f, **{k: np.asarray(arrays.get(k, np.zeros(steps)), float) for k in keys})
    return str(f)


def write_partition(name, n, easy, difficult):
    io.write_npz(paths.partition_path(name), scored=np.arange(n), score=np.zeros(n),
                 easy=np.asarray(easy, np.int64), difficult=np.asarray(difficult, np.int64))


def assert_written(fig, tmp_path):  # written twice: PDF and PNG, byte-identical
    out = []
    for run in ("a", "b"):
        pdf, png = tmp_path / run / "f.pdf", tmp_path / run / "f.png"
        write_figure(fig, pdf, png, "caption")
        out.append((pdf.read_bytes(), png.read_bytes()))
    assert out[0] == out[1] and out[0][1].startswith(b"\x89PNG")


def roundtrip(table: pd.DataFrame, tmp_path) -> pd.DataFrame:
    """As the figure job does: the table written as CSV and read back before drawing."""
    table.to_csv(tmp_path / "t.csv", index=False)
    return pd.read_csv(tmp_path / "t.csv")


# --- score_histogram (Fig. 2) -----------------------------------------------------------------
CLEAN, NOISY = make_cell("tod", 0.0), make_cell("tod", 0.5)
HIST_SPEC = {"kind": "score_histogram", "title": "Fig. 2", "bins": 4, "panels": [
    {"experiment": "tod", "loss": "cce", "eta": 0.0, "title": "(a)"},
    {"experiment": "tod", "loss": "cce", "eta": 0.5, "title": "(b)"}]}


def histogram_entries():
    write_noise(CLEAN, [0] * 6)
    write_noise(NOISY, [0, 1, 0, 1, 1, 0])
    clean = [write_tod(CLEAN, 2, range(6), [0] * 6, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])]
    # the noisy run trained on a subset, in its own order; epoch 1 and 3 recorded
    noisy = [write_tod(NOISY, 1, [5, 1, 3, 0], [0] * 4, [9, 9, 9, 9]),
             write_tod(NOISY, 3, [5, 1, 3, 0], [0] * 4, [0.0, 2.0, 4.0, 1.0])]
    return [(0, "(a)", 0, CLEAN, clean), (0, "(a)", 0, NOISY, noisy),
            (1, "(b)", 0, CLEAN, clean), (1, "(b)", 0, NOISY, noisy)]


def test_histogram_table_scores_at_the_last_epoch_grouped_by_the_noise_file(tmp_path):
    t = score_histogram.KIND.table(histogram_entries(), HIST_SPEC)
    b = t[t["panel"] == 1]
    assert b["id"].tolist() == [5, 1, 3, 0] and b["epoch"].tolist() == [3] * 4
    assert b["score"].tolist() == [0.0, 2.0, 4.0, 1.0]
    assert b["corrupted"].tolist() == [False, True, True, False]  # corrupted[ids]
    assert t[t["panel"] == 0]["corrupted"].sum() == 0 and len(t) == 10
    fig = score_histogram.KIND.draw(roundtrip(t, tmp_path), HIST_SPEC)
    a_ax, b_ax = fig.get_axes()
    assert len(a_ax.get_lines()) == 1 and len(b_ax.get_lines()) == 2  # one mean line a group
    labels = [x.get_text() for x in b_ax.get_legend().get_texts()]
    assert labels == ["real labels: n = 2, mean 0.500", "random labels: n = 2, mean 3.000"]
    assert b_ax.get_lines()[1].get_xdata()[0] == pytest.approx(3.0)
    assert_written(fig, tmp_path)


def test_histogram_epoch_key_and_errors():
    entries = histogram_entries()
    t = score_histogram.KIND.table(entries, {**HIST_SPEC, "epoch": 1,
                                             "panels": HIST_SPEC["panels"][1:]})
    assert t["score"].tolist() == [9.0] * 4 and set(t["epoch"]) == {1}
    with pytest.raises(ValueError, match=r"panel 0 \(\(b\)\): epoch 7 is not allowed.*\[1, 3\]"):
        score_histogram.KIND.table(entries, {**HIST_SPEC, "epoch": 7,
                                       "panels": HIST_SPEC["panels"][1:]})
    no_eta = {**HIST_SPEC, "panels": [{"experiment": "tod", "loss": "cce"}]}
    with pytest.raises(ValueError, match=r"several noise rates \[0.0, 0.5\]; give 'eta'"):
        score_histogram.KIND.table(entries, no_eta)
    with pytest.raises(ValueError, match=r"bins 0 is not allowed"):
        table = score_histogram.KIND.table(entries, HIST_SPEC)
        score_histogram.KIND.draw(table, {**HIST_SPEC, "bins": 0})
    # the figure job waits for the noise files of its panels' runs
    plan = FakePlan(CLEAN, NOISY, make_cell("other", 0.5))
    spec = {**HIST_SPEC, "panels": HIST_SPEC["panels"][1:]}
    assert score_histogram.KIND.extra_inputs(spec, plan) == [paths.cell_noise_path(NOISY)]


# --- subset_curves (Figs. 3, 5, 6) --------------------------------------------------------------
# 10 training examples, 4 test examples; bits per epoch (1 = prediction equals the label)
TRAIN_BITS = {0: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1: [1, 1, 0, 0, 0, 0, 0, 0, 0, 0],
              2: [1, 1, 1, 1, 0, 0, 0, 0, 1, 0], 3: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}
TEST_BITS = {0: [0, 0, 0, 0], 1: [1, 0, 0, 0], 2: [1, 1, 0, 0], 3: [1, 1, 1, 0]}
RUN = make_cell("mlp", 0.0)
CONTROL = make_cell("mlp_control", 0.0)
SUBSETS = [{"name": "full", "source": "all"},
           {"name": "easy", "partition": "p", "part": "easy", "label": "easy one"},
           {"name": "difficult", "partition": "p", "part": "difficult"}]
CURVE_SPEC = {"kind": "subset_curves", "title": "Fig. 5", "panels": [
    {"series": [{"experiment": "mlp", "loss": "cce"},
                {"experiment": "mlp_control", "loss": "cce", "control": True,
                 "label": "without difficult"}],
     "split": "train", "subsets": SUBSETS, "smooth": 3, "title": "(a) train"},
    {"experiment": "mlp", "loss": "cce", "split": "test", "title": "(b) test",
     "subsets": [{"name": "full"}, {"name": "easy", "partition": "pt", "part": "easy"}]}]}


def curve_entries():
    write_partition("p", 10, easy=[0, 1], difficult=[8, 9])
    write_partition("pt", 4, easy=[0, 2], difficult=[3])
    files = [write_correctness(RUN, e, TRAIN_BITS[e], TEST_BITS[e]) for e in TRAIN_BITS]
    ctrl = [write_correctness(CONTROL, e, [0] * 10, [0] * 4) for e in TRAIN_BITS]
    return [(0, "(a) train", 0, RUN, files), (0, "(a) train", 1, CONTROL, ctrl),
            (1, "(b) test", 0, RUN, files)]


def test_subset_accuracies_from_the_bits_and_their_shares(tmp_path):
    v = np.array([0.0, 3.0, 6.0, 9.0, 12.0])  # the moving average: centred, shrinking at ends
    np.testing.assert_allclose(moving_average(v, 1), v)
    np.testing.assert_allclose(moving_average(v, 3), [1.5, 3.0, 6.0, 9.0, 10.5])
    np.testing.assert_allclose(moving_average(v, 5), [3.0, 4.5, 6.0, 7.5, 9.0])
    t = subset_curves.KIND.table(curve_entries(), CURVE_SPEC)
    a = t[(t["panel"] == 0) & (t["series"] == 0)]
    acc = {n: a[a["subset_name"] == n].sort_values("epoch")["accuracy"].tolist()
           for n in ("full", "easy", "difficult")}
    assert acc == {"full": [0.0, 0.2, 0.5, 1.0], "easy": [0.0, 1.0, 1.0, 1.0],
                   "difficult": [0.0, 0.0, 0.5, 1.0]}
    easy = a[a["subset_name"] == "easy"].sort_values("epoch")
    np.testing.assert_allclose(easy["smoothed"], [0.5, 2 / 3, 1.0, 1.0])
    assert easy[["size", "split_size"]].iloc[0].tolist() == [2, 10]
    b = t[t["panel"] == 1]
    assert b[b["subset_name"] == "easy"]["accuracy"].tolist() == [0.0, 0.5, 0.5, 1.0]
    assert (t[t["series"] == 1]["accuracy"] == 0).all() and t[t["series"] == 1]["control"].all()
    fig = subset_curves.KIND.draw(roundtrip(t, tmp_path), CURVE_SPEC)
    ax_a, ax_b = fig.get_axes()
    # (a): 3 subsets x 2 series, each raw (faint) + smoothed; (b) unsmoothed: one line a subset
    assert len(ax_a.get_lines()) == 12 and len(ax_b.get_lines()) == 2
    dotted = [ln for ln in ax_a.get_lines() if ln.get_linestyle() == ":"]
    assert len(dotted) == 6
    smoothed = [ln for ln in ax_a.get_lines() if ln.get_alpha() is None
                and ln.get_linestyle() == "-"]
    assert [ln.get_color() for ln in smoothed] == ["black", BLUE, RED]
    np.testing.assert_allclose(smoothed[1].get_ydata(), [50.0, 200 / 3, 100.0, 100.0])
    labels = [x.get_text() for x in ax_a.get_legend().get_texts()]
    assert labels == ["full (100%)", "easy one (20%)", "difficult (20%)",
                      "dotted: without difficult"]
    assert [x.get_text() for x in ax_b.get_legend().get_texts()] == ["full (100%)",
                                                                      "easy (50%)"]
    assert ax_a.get_ylabel() == "Training accuracy (%)" and ax_b.get_ylabel() == "Test accuracy (%)"
    assert_written(fig, tmp_path)


def test_tracked_subsets_come_from_the_noise_file_and_the_runs_frac():
    cell = make_cell("rand", 0.5, train={"track_gradients": {"frac": 0.2}})
    corrupted = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1], bool)
    write_noise(cell, corrupted)
    train = [1, 1, 1, 0, 1, 0, 1, 1, 0, 0]
    files = [write_correctness(cell, 4, train, [1])]
    spec = {"title": "Fig. 3", "panels": [{"experiment": "rand", "loss": "cce", "subsets": [
        {"name": "easy", "source": "tracked", "part": "easy"},
        {"name": "difficult", "source": "tracked", "part": "difficult"}]}]}
    t = subset_curves.KIND.table([(0, "(a)", 0, cell, files)], spec)
    easy, difficult = tracked_subsets(corrupted, frac=0.2, seed=0)
    assert easy.size == 2 and not corrupted[easy].any() and corrupted[difficult].all()
    bits = np.array(train, bool)
    assert t["accuracy"].tolist() == [bits[easy].mean(), bits[difficult].mean()]
    assert t["size"].tolist() == [2, 2]
    assert subset_curves.KIND.extra_inputs(spec, FakePlan(cell)) == [paths.cell_noise_path(cell)]


@pytest.mark.parametrize("change, message", [
    ({"split": "val"}, r"panel 0 \(\(a\) train\): split 'val' is not allowed"),
    ({"smooth": 2}, r"smooth 2 is not allowed; allowed: an odd integer"),
    ({"subsets": [{"name": "x", "colour": "red"}]}, r"subsets\[0\]: key\(s\) \['colour'\]"),
    ({"subsets": [{"source": "all"}]}, r"subsets\[0\]: key\(s\) \['name'\] missing"),
    ({"subsets": [{"name": "e", "partition": "p", "part": "middle"}]}, r"part 'middle'"),
    ({"subsets": [{"name": "e", "source": "tracked", "part": "easy", "split": "test"}]},
     r"split 'test' is not allowed; allowed: 'train' \(tracked"),
    ({"subsets": []}, r"subsets \[\] is not allowed"),
])
def test_subset_spec_errors_name_the_key(change, message):
    spec = {**CURVE_SPEC, "panels": [{**CURVE_SPEC["panels"][0], **change}]}
    with pytest.raises(ValueError, match=message):
        subset_curves.KIND.table(curve_entries(), spec)


def test_partitions_are_inputs_and_ids_outside_the_split_are_refused():
    # without tracked subsets, the figure job waits for the partitions only
    assert subset_curves.KIND.extra_inputs(CURVE_SPEC, FakePlan(RUN, CONTROL)) == sorted(
        [paths.partition_path("p"), paths.partition_path("pt")])
    entries = curve_entries()
    write_partition("p", 10, easy=[0, 1], difficult=[8, 12])
    with pytest.raises(ValueError, match=r"partition 'p' has ids up to 12.*train split of 10"):
        subset_curves.KIND.table(entries, CURVE_SPEC)


def test_probe_files_of_the_first_n_examples_keep_the_subsets_ids_below_n():
    # a rehearsal's run (train.probe_examples) writes bits of the split's first 6 examples;
    # the partition and the noise file keep their real sizes (10)
    capped = make_cell("rand", 0.5, train={"probe_examples": 6, "track_gradients": {"frac": 0.4}})
    corrupted = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1], bool)
    write_noise(capped, corrupted)
    write_partition("p", 10, easy=[0, 1, 7], difficult=[5, 8, 9])
    train = [1, 0, 1, 1, 0, 0]
    files = [write_correctness(capped, 1, train, [1])]
    spec = {"title": "Fig. 5", "panels": [{"experiment": "rand", "loss": "cce", "subsets": [
        {"name": "easy", "partition": "p", "part": "easy"},
        {"name": "difficult", "partition": "p", "part": "difficult"},
        {"name": "tracked", "source": "tracked", "part": "difficult"}]}]}
    t = subset_curves.KIND.table([(0, "(a)", 0, capped, files)], spec)
    _, difficult = tracked_subsets(corrupted, frac=0.4, seed=0)
    below = difficult[difficult < 6]
    assert t["size"].tolist() == [2, 1, below.size] and (t["split_size"] == 6).all()
    assert t["accuracy"].tolist()[:2] == [0.5, 0.0]
    assert t["accuracy"].iloc[2] == pytest.approx(np.array(train, bool)[below].mean())
    # the same files from a run without the cap are refused, as any size mismatch
    whole = {**capped, "train": {"track_gradients": {"frac": 0.4}}}
    with pytest.raises(ValueError, match="ids up to 7, not allowed for the train split of 6"):
        subset_curves.KIND.table([(0, "(a)", 0, whole, files)], {**spec, "panels": [
            {**spec["panels"][0], "subsets": spec["panels"][0]["subsets"][:1]}]})


# --- grad_stats (Fig. 4) ------------------------------------------------------------------------
GRAD_SPEC = {"title": "Fig. 4", "panels": [
    {"experiment": "rand", "loss": "cce", "quantity": "cosine", "title": "(a)"},
    {"experiment": "rand", "loss": "cce", "quantity": "contribution", "title": "(b)"}]}


def test_grad_stats_are_per_epoch_means_over_defined_steps(tmp_path):
    cell = make_cell("rand", 0.5)
    files = [write_grad_stats(cell, 0),  # epoch 0: no steps
             write_grad_stats(cell, 1, cos_easy=[0.2, np.nan, 0.4], cos_difficult=[np.nan] * 3,
                              contrib_easy=[1, 2, 3], contrib_difficult=[4, 4, 7],
                              contrib_all=[1, 1, 1]),
             write_grad_stats(cell, 2, cos_easy=[0.1, 0.3], cos_difficult=[0.0, 0.1],
                              contrib_easy=[0, 1], contrib_difficult=[2, 2],
                              contrib_all=[1, 2])]
    entries = [(0, "(a)", 0, cell, files), (1, "(b)", 0, cell, files)]
    t = gradient_curves.KIND.table(entries, GRAD_SPEC)
    got = {(r.epoch, r.statistic): (round(r.value, 12), r.steps) for r in t.itertuples()}
    assert got == {(1, "cos_easy"): (0.3, 2), (2, "cos_easy"): (0.2, 2),
                   (2, "cos_difficult"): (0.05, 2), (1, "contrib_easy"): (2.0, 3),
                   (1, "contrib_difficult"): (5.0, 3), (1, "contrib_all"): (1.0, 3),
                   (2, "contrib_easy"): (0.5, 2), (2, "contrib_difficult"): (2.0, 2),
                   (2, "contrib_all"): (1.5, 2)}
    fig = gradient_curves.KIND.draw(roundtrip(t, tmp_path), GRAD_SPEC)
    cos_ax, contrib_ax = fig.get_axes()
    assert [ln.get_color() for ln in cos_ax.get_lines()] == [BLUE, RED]
    assert [ln.get_color() for ln in contrib_ax.get_lines()] == [BLUE, RED, "black"]
    np.testing.assert_allclose(cos_ax.get_lines()[1].get_xdata(), [2.0])  # epoch 1 undefined
    np.testing.assert_allclose(contrib_ax.get_lines()[1].get_ydata(), [5.0, 2.0])
    with pytest.raises(ValueError, match=r"panel 0 \(\(a\)\): quantity 'cos' is not allowed"):
        gradient_curves.KIND.table(entries, {**GRAD_SPEC, "panels": [
            {**GRAD_SPEC["panels"][0], "quantity": "cos"}]})


# --- example_grid (Figs. 7, 8) ------------------------------------------------------------------
GRID_SPEC = {"title": "Fig. 7", "rows": 2, "panels": [
    {"experiment": "tod", "loss": "cce", "pick": "lowest", "title": "(a) lowest"},
    {"experiment": "tod", "loss": "cce", "pick": "highest", "title": "(b) highest"}]}


def grid_images(n=12, channels=1):
    """Example i's image (channels x 4 x 5): every pixel different, i in the first."""
    c, r, q = np.indices((channels, 4, 5))
    return (np.arange(n)[:, None, None, None] + 50 * c + 20 * r + 4 * q).astype(np.uint8)


def grid_entries(channels=1):
    n, x, y = 12, grid_images(12, channels), np.arange(12) % 3  # 3 classes, 4 examples each
    npz, sidecar = paths.dataset_files("toy")
    io.write_npz(npz, x_train=x, y_train=y, x_test=x[:1], y_test=y[:1])
    io.write_json(sidecar, {"class_names": ["zero", "one", "two"]})
    #          ids 0..11 trained in reverse order; the tie at 0.5 (ids 3 and 6) goes to id 3
    ids = np.arange(n)[::-1]
    scores = {0: 0.9, 3: 0.5, 6: 0.5, 9: 0.1, 1: 0.4, 4: 0.3, 7: 0.2, 10: 0.6,
              2: -1.0, 5: 2.0, 8: 3.0, 11: 1.0}
    files = [write_tod(CLEAN, 5, ids, y[ids], [scores[i] for i in ids],
                       pred_unmuted=y[ids], pred_muted=(y[ids] + 1) % 3)]
    return [(0, "(a) lowest", 0, CLEAN, files), (1, "(b) highest", 0, CLEAN, files)]


def picked(t, panel):
    first = t[t["panel"] == panel].drop_duplicates(["class", "rank"])
    return {c: g.sort_values("rank")["id"].tolist() for c, g in first.groupby("class")}


def test_grid_picks_the_k_lowest_and_highest_per_class_with_their_images(tmp_path):
    t = example_grid.KIND.table(grid_entries(), GRID_SPEC)
    assert picked(t, 0) == {0: [9, 3], 1: [7, 4], 2: [2, 11]}
    assert picked(t, 1) == {0: [0, 3], 1: [10, 1], 2: [8, 5]}
    one = t[(t["panel"] == 0) & (t["id"] == 9)]
    assert len(one) == 4 and one["px_0"].tolist() == [9, 29, 49, 69]  # lines of 5 pixels
    assert one[["class_name", "true_label", "pred_unmuted", "pred_muted"]].iloc[0].tolist() \
        == ["zero", 0, 0, 1]
    t = roundtrip(t, tmp_path)
    img = example_grid.image_of(t[(t["panel"] == 1) & (t["id"] == 5)])
    np.testing.assert_array_equal(img, grid_images()[5, 0])
    fig = example_grid.KIND.draw(t, GRID_SPEC)
    axes = fig.get_axes()
    assert len(axes) == 2 * 2 * 3 and sum(len(ax.get_images()) for ax in axes) == 12
    assert [ax.get_title() for ax in axes[:3]] == ["zero", "one", "two"]
    assert axes[0].get_xlabel() == "0.10\n(0, 0, 1)"
    assert [example_grid.score_text(v) for v in (0.0, -0.0123, 0.0004)] == [
        "0.00", "-0.01", "4.0e-04"]
    assert_written(fig, tmp_path)


def test_grid_draws_rgb_images_and_refuses_a_bad_pick(tmp_path):
    t = example_grid.KIND.table(grid_entries(channels=3), {**GRID_SPEC, "rows": 1})
    fig = example_grid.KIND.draw(roundtrip(t, tmp_path), {**GRID_SPEC, "rows": 1})
    shown = fig.get_axes()[0].get_images()[0].get_array()  # class 0, lowest: id 9
    np.testing.assert_array_equal(shown, grid_images(channels=3)[9].transpose(1, 2, 0))
    bad = {**GRID_SPEC, "panels": [{**GRID_SPEC["panels"][0], "pick": "middle"}]}
    with pytest.raises(ValueError, match=r"panel 0 \(\(a\) lowest\): pick 'middle' is not"):
        example_grid.KIND.table(grid_entries(), bad)
    assert example_grid.KIND.extra_inputs(GRID_SPEC, FakePlan(CLEAN)) == sorted(
        paths.dataset_files("toy"))


# --- tod_schematic (Fig. 1) ---------------------------------------------------------------------
def test_schematic_table_is_the_real_masks_and_the_drawing_their_edges(tmp_path):
    spec = {"title": "Fig. 1", "ids": [3, 7], "seed": 2}
    t = tod_schematic.KIND.table(None, spec)
    keep = keep_mask(2, 0, np.array([3, 7]), 8)
    assert t["kept"].to_numpy().reshape(2, 8).tolist() == keep.tolist()
    assert (t.groupby("example")["kept"].sum() == 4).all()
    fig = tod_schematic.KIND.draw(roundtrip(t, tmp_path), spec)
    colours = [tod_schematic.COLOURS["unmuted"], tod_schematic.COLOURS["muted"]] * 2  # 4 axes
    for ax, colour in zip(fig.get_axes(), colours, strict=True):
        active = [ln for ln in ax.get_lines() if ln.get_color() == colour]
        assert len(active) == 4 * 4 + 4 * 3  # inputs x kept + kept x outputs
        assert len(ax.get_lines()) == 4 * 8 + 8 * 3
    assert_written(fig, tmp_path)
    with pytest.raises(ValueError, match=r"ids \[1, 1\] is not allowed"):
        tod_schematic.KIND.table(None, {"title": "x", "ids": [1, 1]})
    with pytest.raises(ValueError, match=r"hidden 1 is not allowed"):
        tod_schematic.KIND.table(None, {"title": "x", "hidden": 1})


# --- the index ----------------------------------------------------------------------------------
def test_index_names_kinds_styles_and_closed_option_schemas():
    assert set(PAPER.kinds) == {"score_histogram", "subset_curves", "gradient_curves",
                                "example_grid", "tod_schematic"}
    assert set(PAPER.metric_styles) == {"tod_unmuted_acc", "tod_muted_acc"}
    assert PAPER.file_probes == {"tod", "correctness", "grad_stats"} <= set(PAPER.probes)
    schemas = PAPER.option_schemas
    jsonschema.validate({"frac": 0.25}, schemas["track_gradients"])
    jsonschema.validate({}, schemas["turnover"])
    for name, bad in (("track_gradients", {"frac": 0.6}), ("track_gradients", {"frac": 0}),
                      ("turnover", {"rate": 1}), ("tod", {"x": 1})):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schemas[name])
    for kind in PAPER.kinds.values():
        assert kind.note and kind.table and kind.draw


def test_the_llj_figure_code_imports_without_torch():
    code = "import sys, memrepro.papers.llj.index, memrepro.curves; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
