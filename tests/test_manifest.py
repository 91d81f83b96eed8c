"""The build's manifest (memrepro.pipeline.manifest): every result's sha256 and the machine, and the
comparison of two manifests, on hand-made results trees."""

import json
import subprocess
import sys

import pytest
from conftest import small_params, snakemake

from memrepro.pipeline import manifest
from memrepro.pipeline.manifest import compare, group_of, manifest_of, report, write

TREE = {
    "data/digits.npz": b"data",
    "noise/digits/random_labels_eta-0.4/seed0.npz": b"noise",
    "runs/ar_cifar_randy/loss-cce_eta-0.0_seed-0/model.pt": b"weights of eta 0",
    "runs/ar_cifar_randy/loss-cce_eta-0.4_seed-0/model.pt": b"weights of eta 0.4",
    "runs/ar_cifar_randy/loss-cce_eta-0.4_seed-0/history.csv": b"epoch,j1\n0,0.1\n",
    "runs/llj_tod_mnist/loss-cce_eta-0.0_seed-0/model.pt": b"llj weights",
    "metrics/ar/fig8_standin.csv": b"table",
    "figures/ar/fig8_standin.png": b"png",
    "summary_cells.json": b"{}",
    "claims.json": b"{}",
}


def make_tree(root, files=TREE):
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def cli(*args):
    return subprocess.run([sys.executable, "-m", "memrepro.pipeline.manifest", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture
def two_trees(tmp_path):
    return make_tree(tmp_path / "a" / "results"), make_tree(tmp_path / "b" / "results")


def test_identical_trees_compare_identical(two_trees):
    a, b = (write(t) for t in two_trees)
    ma, mb = manifest.load(a), manifest.load(b)
    assert sorted(ma["files"]) == sorted(TREE) and ma["count"] == len(TREE)
    diff = compare(ma, mb)
    assert diff["differ"] == diff["only_a"] == diff["only_b"] == [] and diff["same"] == len(TREE)
    res = cli("compare", a, b)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == f"identical: {len(TREE)} files"


def test_one_changed_byte_is_named_in_its_experiment(two_trees):
    changed = "runs/ar_cifar_randy/loss-cce_eta-0.4_seed-0/model.pt"
    target = two_trees[1] / changed
    data = bytearray(target.read_bytes())
    data[3] ^= 1
    target.write_bytes(bytes(data))
    a, b = (write(t) for t in two_trees)
    diff = compare(manifest.load(a), manifest.load(b))
    assert diff["differ"] == [changed] and diff["same"] == len(TREE) - 1
    res = cli("compare", a, b)
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    # the group, with how many of its files differ, then the file
    assert "  runs/ar_cifar_randy: 1 of 3" in lines, res.stdout
    assert f"    {changed}" in lines
    assert not any("llj_tod_mnist" in line for line in lines)


def test_a_missing_file_is_reported(two_trees):
    gone = "metrics/ar/fig8_standin.csv"
    (two_trees[1] / gone).unlink()
    a, b = (write(t) for t in two_trees)
    diff = compare(manifest.load(a), manifest.load(b))
    assert diff["only_a"] == [gone] and diff["only_b"] == diff["differ"] == []
    res = cli("compare", a, b)
    assert res.returncode == 1
    assert f"only in {a}: 1 file(s)" in res.stdout and "  metrics/ar: 1 of 1" in res.stdout


def test_groups_are_the_first_two_parts_under_results():
    assert group_of("runs/ar_cifar_randy/loss-cce_eta-0.4_seed-0/model.pt") == \
        "runs/ar_cifar_randy"
    assert group_of("noise/digits/random_labels_eta-0.4/seed0.npz") == "noise/digits"
    assert group_of("figures/ar/fig8_standin.png") == "figures/ar"
    assert group_of("data/digits.npz") == "data"
    assert group_of("summary_cells.json") == "summary_cells.json"


def test_the_manifest_leaves_out_itself_and_transient_files(tmp_path):
    results = make_tree(tmp_path / "results")
    first = write(results)
    assert first == results / "manifest.json"
    transient = [
        "runs/ar_cifar_randy/loss-cce_eta-0.0_seed-0/.model.pt.k2j4_x.pt",  # atomic_path's
        "runs/ar_cifar_randy/.nfs000000000123",
        "plots/.snakemake_timestamp",
        "resume/ar_cifar_randy/loss-cce_eta-0.0_seed-0/files/model.pt",  # memrepro.pipeline.resume
        "runs/ar_cifar_randy/loss-cce_eta-0.0_seed-0/checkpoint.pt",
        "runs/ar_cifar_randy/loss-cce_eta-0.0_seed-0/checkpoint.pt.corrupt-1",
        "report.html", "replay.json",  # written by other commands
    ]
    make_tree(results, {rel: b"x" for rel in transient})
    second = manifest.load(write(results))
    assert sorted(second["files"]) == sorted(TREE)  # neither manifest.json nor the others
    # a manifest written over an older one is the same bytes (no time in it)
    assert manifest.load(first) == second


def test_the_manifest_describes_the_machine(tmp_path):
    m = manifest.load(write(make_tree(tmp_path / "results")))
    machine = m["machine"]
    assert machine["cpu"]["model_name"] and machine["cpu"]["logical_cpus"] >= 1
    libs = machine["libraries"]
    assert libs["torch"] and libs["cpu_capability"] and libs["threads"] >= 1
    assert machine["python"] and machine["numpy"]
    assert set(manifest.ENV_VARS) <= set(machine["env"])
    # sorted keys, as io.write_json writes them
    text = (tmp_path / "results" / "manifest.json").read_text()
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_cpu_info_reads_the_first_processor():
    cpuinfo = ("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\n"
               "model name\t: Intel(R) Xeon(R) Platinum 8581C\n"
               "flags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni amx_tile ht\n\n"
               "processor\t: 1\nmodel name\t: something else\n")
    info = manifest.cpu_info(cpuinfo)
    assert info["model_name"] == "Intel(R) Xeon(R) Platinum 8581C"
    assert (info["vendor"], info["family"], info["model"]) == ("GenuineIntel", "6", "207")
    assert info["isa_flags"] == ["amx_tile", "avx", "avx2", "avx512_vnni", "avx512f", "sse2"]


def test_machine_differences_are_reported(two_trees):
    a, b = (manifest_of(t) for t in two_trees)
    b["machine"]["cpu"]["model_name"] = "Intel(R) Xeon(R) Platinum 8581C"
    b["machine"]["env"]["MKL_CBWR"] = "COMPATIBLE"
    diff = compare(a, b)
    assert set(diff["machine"]) == {"cpu.model_name", "env.MKL_CBWR"}
    lines = report(diff, a, b)
    assert lines[0] == f"identical: {len(TREE)} files" and "machines differ:" in lines
    assert any(line.startswith("  env.MKL_CBWR: None vs 'COMPATIBLE'") for line in lines)


def test_cli_refuses_what_is_not_a_manifest(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    res = cli("compare", bad, bad)
    assert res.returncode == 2 and "not a memrepro manifest" in res.stderr
    res = cli("write", tmp_path / "nowhere")
    assert res.returncode == 2 and "does not exist" in res.stderr


def test_figures_builds_the_manifest_after_everything_else(workdir):
    """The manifest rule needs the figures, the summary and the claims (so every training job
    too): asked for alone, it plans them all; `figures` plans it."""
    small_params(workdir / "params.yaml")
    alone = snakemake(workdir, "-n", "results/manifest.json")
    assert alone.returncode == 0, alone.stderr[-3000:]
    out = alone.stdout + alone.stderr
    table = out[out.index("Job stats"):out.index("total")]
    rules = {line.split()[0] for line in table.splitlines()[2:] if line.strip()}
    assert {"manifest", "claims", "summary", "figure"} <= rules, table
    assert any(r.startswith("train_") for r in rules), table
    figures = snakemake(workdir, "-n", "figures")
    assert figures.returncode == 0, figures.stderr[-3000:]
    assert "manifest" in figures.stdout[figures.stdout.index("Job stats"):]
