"""Datasets: md5-checked downloads from a local server, exact round trips, users' .npz files.

All raw files are generated here in the genuine formats (memrepro.rehearsal.raw_formats) and
served from 127.0.0.1; nothing outside the repository or the temporary directory is read.
"""

import functools
import http.server
import json
import shutil
import threading
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torchvision.datasets as tvd

from memrepro import io
from memrepro.data import load_prepared, prepare, validate_npz
from memrepro.download import TORCHVISION, DataError, download, raw_resources
from memrepro.rehearsal.raw_formats import CIFAR_NAMES, md5, write_all

DEAD = "http://127.0.0.1:9"  # nothing listens there: any fetch would fail
ROOT_README = Path(__file__).resolve().parents[1] / "README.md"


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        if self.path.startswith("/cut/"):  # promise the whole file, send half, hang up
            body = Path(self.translate_path(self.path[4:])).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """Generated raw files in ``dir/<name>/`` served at ``url/<name>/``."""
    d = tmp_path_factory.mktemp("mirror")
    arrays = write_all(d)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(d)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield SimpleNamespace(dir=d, url=f"http://127.0.0.1:{server.server_address[1]}",
                          arrays=arrays)
    server.shutdown()
    server.server_close()


def resources(mirror_dir: Path, name: str) -> list[tuple[str, str, str]]:
    """torchvision's list for ``name`` with the generated files' md5s."""
    return [(url, fn, md5(mirror_dir / name / fn)) for url, fn, _ in raw_resources(name)]


@pytest.fixture(scope="module")
def downloaded(mirror, tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    for name in TORCHVISION:
        download(name, root, mirror=f"{mirror.url}/{name}", resources=resources(mirror.dir, name))
    return root


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# --- download ---------------------------------------------------------------------------------
LAYOUT = {
    "mnist": ["MNIST/raw/train-images-idx3-ubyte.gz", "MNIST/raw/train-images-idx3-ubyte",
              "MNIST/raw/t10k-labels-idx1-ubyte"],
    "fashionmnist": ["FashionMNIST/raw/t10k-images-idx3-ubyte.gz",
                     "FashionMNIST/raw/train-labels-idx1-ubyte"],
    "cifar10": ["cifar-10-python.tar.gz", "cifar-10-batches-py/data_batch_5",
                "cifar-10-batches-py/test_batch", "cifar-10-batches-py/batches.meta"],
    "svhn": ["train_32x32.mat", "test_32x32.mat"],
}


@pytest.mark.parametrize("name", TORCHVISION)
def test_download_lays_files_out_for_torchvision_and_records_them(downloaded, mirror, name):
    dest = downloaded / name
    for rel in LAYOUT[name]:
        assert (dest / rel).is_file(), rel
    record = json.loads((dest / ".complete.json").read_text())
    assert sorted(record["files"]) == sorted(fn for _, fn, _ in raw_resources(name))
    for fn, f in record["files"].items():
        assert f["sha256"] == io.sha256(mirror.dir / name / fn) == io.sha256(dest / f["path"])
        assert f["md5"] == md5(mirror.dir / name / fn)
        assert f["url"] == f"{mirror.url}/{name}/{fn}"
    assert not [p for p in downloaded.iterdir() if p.name.startswith(".")]  # no temp dirs


def test_download_again_is_a_no_op(downloaded, mirror):
    marker = downloaded / "svhn" / ".complete.json"
    before = marker.stat().st_mtime_ns
    assert download("svhn", downloaded, mirror=DEAD, resources=resources(mirror.dir, "svhn")) \
        == downloaded / "svhn"
    assert marker.stat().st_mtime_ns == before


def test_download_reuses_verified_files_already_in_place(mirror, tmp_path):
    raw = tmp_path / "mnist" / "MNIST" / "raw"  # e.g. left by torchvision's own download
    shutil.copytree(mirror.dir / "mnist", raw)
    download("mnist", tmp_path, mirror=DEAD, resources=resources(mirror.dir, "mnist"))
    assert (raw / "t10k-images-idx3-ubyte").is_file()
    assert (tmp_path / "mnist" / ".complete.json").is_file()


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


@pytest.mark.parametrize("name, bad, damage, how", [
    ("mnist", "t10k-labels-idx1-ubyte.gz", _corrupt, "http"),  # last file: others were fetched
    ("mnist", "t10k-images-idx3-ubyte.gz", _corrupt, "dir"),
    ("svhn", "test_32x32.mat", _truncate, "http"),
    ("cifar10", "cifar-10-python.tar.gz", None, "cut"),  # connection drops mid-file
    ("fashionmnist", "train-labels-idx1-ubyte.gz", Path.unlink, "http"),  # HTTP 404
])
def test_failed_download_raises_and_leaves_nothing(mirror, tmp_path, name, bad, damage, how):
    res = resources(mirror.dir, name)
    served = mirror.dir / f"bad-{name}-{how}"
    shutil.copytree(mirror.dir / name, served)
    if damage:
        damage(served / bad)
    base = {"http": f"{mirror.url}/{served.name}", "cut": f"{mirror.url}/cut/{name}",
            "dir": str(served)}[how]
    root = tmp_path / "root"
    with pytest.raises(DataError) as e:
        download(name, root, mirror=base, resources=res)
    msg = str(e.value)
    expected = dict((fn, m) for _, fn, m in res)[bad]
    url = f"{served.as_uri()}/{bad}" if how == "dir" else f"{base}/{bad}"
    assert bad in msg and url in msg and expected in msg and "md5" in msg, msg
    if damage in (_corrupt, _truncate):
        assert "checksum mismatch" in msg and md5(served / bad) in msg
    assert leftovers(root) == []  # no partial file, no extracted file, no temp dir


def test_local_directory_mirror_gives_the_same_bytes(downloaded, mirror, tmp_path):
    root = tmp_path / "raw"
    res = resources(mirror.dir, "fashionmnist")
    download("fashionmnist", root, mirror=str(mirror.dir / "fashionmnist"), resources=res)
    record = json.loads((root / "fashionmnist" / ".complete.json").read_text())
    first = json.loads((downloaded / "fashionmnist" / ".complete.json").read_text())
    assert {k: v["sha256"] for k, v in record["files"].items()} == \
        {k: v["sha256"] for k, v in first["files"].items()}
    assert all(v["url"].startswith("file://") for v in record["files"].values())


def test_download_refuses_unknown_names_and_foreign_file_lists(mirror, tmp_path):
    with pytest.raises(DataError, match=r"name: 'imagenet' is not allowed; allowed: .*mnist"):
        download("imagenet", tmp_path)
    res = resources(mirror.dir, "mnist")[:3]
    with pytest.raises(DataError, match="resources: files"):
        download("mnist", tmp_path, mirror=mirror.url, resources=res)
    assert leftovers(tmp_path) == []


def test_raw_resources_are_torchvisions_with_mirror_substitution(tmp_path):
    res = raw_resources("mnist")
    assert [(fn, m) for _, fn, m in res] == [tuple(r) for r in tvd.MNIST.resources]
    md5s = dict((fn, m) for _, fn, m in res)  # published md5s of the real MNIST test set
    assert md5s["t10k-images-idx3-ubyte.gz"] == "9fb629c4189551a2d022fa330f9573f3"
    assert md5s["t10k-labels-idx1-ubyte.gz"] == "ec29112dd5afa0611ce80d1b7f02629c"
    assert res[0][0] == tvd.MNIST.mirrors[0] + "train-images-idx3-ubyte.gz"
    assert raw_resources("mnist", "https://example.org/data/")[1] == (
        "https://example.org/data/train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "d53e105ee54ea40749a09fcbcd1e9432")
    local = raw_resources("cifar10", str(tmp_path))
    assert local == [(f"{tmp_path.resolve().as_uri()}/cifar-10-python.tar.gz",
                      "cifar-10-python.tar.gz", tvd.CIFAR10.tgz_md5)]
    assert [r[1:] for r in raw_resources("svhn")] == [
        tuple(tvd.SVHN.split_list[s][1:]) for s in ("train", "test")]
    assert [fn for _, fn, _ in raw_resources("fashionmnist")] == \
        [fn for fn, _ in tvd.FashionMNIST.resources]
    with pytest.raises(DataError, match="data.mirror: 'ftp://x' is not allowed"):
        raw_resources("mnist", "ftp://x")
    with pytest.raises(DataError, match="data.mirror: .*nowhere"):
        raw_resources("mnist", str(tmp_path / "nowhere"))


# --- prepare ----------------------------------------------------------------------------------
def _expected(name, arrays):
    """(x_train, y_train, x_test, y_test) as prepare must write them."""
    if name in ("mnist", "fashionmnist"):
        (xa, ya), (xb, yb) = arrays["train"], arrays["t10k"]
        return xa[:, None], ya, xb[:, None], yb
    if name == "cifar10":
        return (*arrays["train"], *arrays["test"])
    (xa, ya), (xb, yb) = arrays["train"], arrays["test"]  # SVHN: (H, W, C, N), 10 means 0
    return xa.transpose(3, 2, 0, 1), ya % 10, xb.transpose(3, 2, 0, 1), yb % 10


@pytest.mark.parametrize("name", TORCHVISION)
def test_prepare_round_trips_pixels_and_labels_exactly(downloaded, mirror, tmp_path, name):
    out = tmp_path / "results" / "data"
    meta = prepare({"source": "torchvision", "name": name}, downloaded, out / f"{name}.npz",
                   out / f"{name}.json")
    data = load_prepared(out / f"{name}.npz")
    for key, want in zip(("x_train", "y_train", "x_test", "y_test"),
                         _expected(name, mirror.arrays[name]), strict=True):
        assert data[key].dtype == (np.uint8 if key[0] == "x" else np.int64)
        np.testing.assert_array_equal(data[key], want, err_msg=key)
    assert meta["shape"] == ([1, 28, 28] if "mnist" in name else [3, 32, 32])
    assert data["x_train"].shape[1:] == tuple(meta["shape"])
    assert meta == io.read_json(out / f"{name}.json")
    assert meta["sha256"] == io.sha256(out / f"{name}.npz")
    assert meta["raw_sha256"] == {fn: io.sha256(mirror.dir / name / fn)
                                  for _, fn, _ in raw_resources(name)}
    assert meta["n_train"] == len(data["y_train"]) and meta["n_test"] == len(data["y_test"])
    assert meta["num_classes"] == 10 == len(meta["class_names"])
    names = {"mnist": tvd.MNIST.classes, "fashionmnist": tvd.FashionMNIST.classes,
             "cifar10": CIFAR_NAMES, "svhn": [str(i) for i in range(10)]}[name]
    assert meta["class_names"] == names
    x = data["x_train"] / 255.0
    np.testing.assert_allclose(meta["mean"], x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(meta["std"], x.std(axis=(0, 2, 3)), rtol=1e-9)
    if name == "svhn":
        assert 0 in data["y_train"] and 10 not in data["y_train"]


def test_prepare_refuses_files_changed_after_download_and_download_repairs(
        downloaded, mirror, tmp_path):
    root = tmp_path / "raw"
    shutil.copytree(downloaded / "cifar10", root / "cifar10")
    _corrupt(root / "cifar10" / "cifar-10-batches-py" / "data_batch_3")
    out = tmp_path / "cifar10.npz"
    spec = {"source": "torchvision", "name": "cifar10"}
    with pytest.raises(DataError, match="data_batch_3: sha256 .* is not allowed"):
        prepare(spec, root, out, tmp_path / "cifar10.json")
    assert not out.exists()
    download("cifar10", root, mirror=f"{mirror.url}/cifar10",
             resources=resources(mirror.dir, "cifar10"))
    assert prepare(spec, root, out, tmp_path / "cifar10.json")["n_train"] == 40
    with pytest.raises(DataError, match="not downloaded"):
        prepare({"source": "torchvision", "name": "svhn"}, root, out, tmp_path / "s.json")


def test_digits_is_deterministic_uint8_nchw(tmp_path):
    meta = prepare({"source": "sklearn", "name": "digits", "stand_in_for": "mnist"}, tmp_path,
                   tmp_path / "digits.npz", tmp_path / "digits.json")
    d = load_prepared(tmp_path / "digits.npz")
    assert d["x_train"].shape == (1437, 1, 8, 8) and d["x_test"].shape == (360, 1, 8, 8)
    assert d["x_train"].dtype == np.uint8 and d["x_train"].max() == 255
    assert set(np.unique(d["x_train"])) <= {round(v * 255 / 16) for v in range(17)}
    assert sorted(np.unique(d["y_train"])) == list(range(10))
    assert meta["num_classes"] == 10 and meta["stand_in_for"] == "mnist"
    assert meta["name"] == "digits" and meta["shape"] == [1, 8, 8]
    again = prepare({"source": "sklearn", "name": "digits"}, tmp_path, tmp_path / "b.npz",
                    tmp_path / "b.json")
    assert again["sha256"] == meta["sha256"]


def test_digits32_is_a_three_channel_cifar_stand_in(tmp_path):
    spec = {"source": "sklearn", "name": "digits", "resize": 32, "channels": 3}
    meta = prepare(spec, tmp_path, tmp_path / "digits32.npz", tmp_path / "digits32.json")
    d = load_prepared(tmp_path / "digits32.npz")
    assert meta["shape"] == [3, 32, 32] and d["x_test"].shape == (360, 3, 32, 32)
    assert np.array_equal(d["x_train"][:, 0], d["x_train"][:, 2])
    assert meta["name"] == "digits32" and meta["loader"] == "digits"
    with pytest.raises(DataError, match=r"datasets.bad.channels: 2 is not allowed"):
        prepare({**spec, "channels": 2}, tmp_path, tmp_path / "bad.npz", tmp_path / "bad.json")


# --- users' files -----------------------------------------------------------------------------
def _good():
    rng = np.random.default_rng(0)
    return {"x_train": rng.integers(0, 256, (20, 8, 8), dtype=np.uint8),
            "y_train": np.arange(20) % 10, "x_test": rng.integers(0, 256, (10, 8, 8), np.uint8),
            "y_test": np.arange(10)}


def test_validate_npz_accepts_a_good_file_and_prepare_uses_it(tmp_path):
    path = tmp_path / "mine.npz"
    arrays = {**_good(), "x_test": np.linspace(0, 1, 640).reshape(10, 1, 8, 8)}
    np.savez(path, **arrays)
    assert validate_npz(path) == {"num_classes": 10, "shape": [1, 8, 8], "n_train": 20,
                                  "n_test": 10}
    meta = prepare({"source": "npz", "path": str(path)}, tmp_path, tmp_path / "mine_p.npz",
                   tmp_path / "mine_p.json")
    d = load_prepared(tmp_path / "mine_p.npz")
    np.testing.assert_array_equal(d["x_train"][:, 0], arrays["x_train"])
    np.testing.assert_array_equal(d["x_test"], np.rint(arrays["x_test"] * 255))
    assert meta["raw_sha256"] == io.sha256(path) and meta["source"] == "npz"


class _Boom:
    def __reduce__(self):  # unpickling this would raise; validation must never unpickle
        return (int, ("not a number",))


def _edit(**changes):
    def make(path):
        arrays = _good()
        for key, value in changes.items():
            if value is None:
                del arrays[key]
            elif callable(value):
                arrays[key] = value(arrays[key])
            else:
                arrays[key] = value
        np.savez(path, **arrays)
    return make


def _set(index, value):
    def change(a):
        a = a.copy()
        a[index] = value
        return a
    return change


@pytest.mark.parametrize("make, needles", [
    (None, ["file not found", "missing.npz"]),
    (_edit(y_test=_set(3, 10)), ["y_test", "label 10 at index 3", "0..9"]),
    (_edit(y_train=_set(5, -1)), ["y_train", "label -1 at index 5", ">= 0"]),
    (_edit(x_train=lambda a: a.astype(np.int32)), ["x_train", "dtype int32", "uint8"]),
    (_edit(x_test=lambda a: _set((4, 2, 3), 1.5)(a / 255.0)),
     ["x_test", "value 1.5 at index (4, 2, 3)", "[0, 1]"]),
    (_edit(x_test=lambda a: _set((1, 0, 0), np.nan)(a / 255.0)),
     ["x_test", "nan at index (1, 0, 0)"]),
    (_edit(y_train=lambda a: a[:19]), ["y_train", "(19,)", "(20,)"]),
    (_edit(y_train=lambda a: a.astype(float)), ["y_train", "float64", "integer"]),
    (_edit(x_test=None), ["x_test", "missing"]),
    (_edit(x_test=lambda a: a[:, :7]), ["x_test", "(1, 7, 8)", "(1, 8, 8)"]),
    (_edit(x_train=lambda a: np.stack([a, a], 1)), ["x_train", "(20, 2, 8, 8)", "{1, 3}"]),
    (_edit(y_train=lambda a: a * 0, y_test=lambda a: a * 0), ["y_train", "K >= 2"]),
    (_edit(y_test=lambda a: np.array([_Boom()] * 10, dtype=object)), ["y_test", "object"]),
    (lambda p: p.write_bytes(b"not a zip"), ["not a readable .npz"]),
])
def test_validate_npz_names_the_key_and_the_bad_value(tmp_path, make, needles):
    path = tmp_path / "missing.npz"
    if make:
        make(path)
    with pytest.raises(DataError) as e:
        validate_npz(path, key="datasets.mine.path")
    msg = str(e.value)
    assert msg.startswith("datasets.mine.path: "), msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_load_prepared_refuses_wrong_dtypes(tmp_path):
    io.write_npz(tmp_path / "p.npz", **{**_good(), "y_train": np.arange(20, dtype=np.int32)})
    with pytest.raises(DataError, match="x_train"):  # 3-d x fails first
        load_prepared(tmp_path / "p.npz")
    arrays = {k: (v[:, None] if k[0] == "x" else v.astype(np.int32)) for k, v in _good().items()}
    io.write_npz(tmp_path / "q.npz", **arrays)
    with pytest.raises(DataError, match="y_train: int32"):
        load_prepared(tmp_path / "q.npz")


# --- users' files: classes, unknown arrays, float images ---------------------------------------
def _save(path, **changes):
    np.savez(path, **{**_good(), **changes})
    return path


def test_labels_must_cover_every_class_unless_the_dataset_declares_its_count(tmp_path):
    """One label of 1,000,000 is not 1,000,001 classes: it is refused, with the way out."""
    y = np.arange(20) % 10
    y[7] = 1_000_000
    path = _save(tmp_path / "big.npz", y_train=y)
    with pytest.raises(DataError) as e:
        validate_npz(path, key="datasets.mine.path")
    assert str(e.value) == (
        "datasets.mine.path: y_train: labels up to 1000000 with 999,990 of the classes "
        "0..1000000 absent (the first: 10) is not allowed; allowed: labels 0..K-1 with every "
        "class in y_train, or declare datasets.mine.num_classes")
    with pytest.raises(DataError, match=r"y_train: label 1000000 at index 7 is not allowed; "
                                        r"allowed: 0..9 \(datasets.mine.num_classes = 10\)"):
        validate_npz(path, key="datasets.mine.path", num_classes=10)
    gap = _save(tmp_path / "gap.npz", y_train=np.where(np.arange(20) % 10 == 3, 4,
                                                       np.arange(20) % 10))
    with pytest.raises(DataError, match=r"labels up to 9 with 1 of the classes 0..9 absent "
                                        r"\(the first: 3\)"):
        validate_npz(gap)
    # declared: a class may have no training example (here 3, present in the test set)
    assert validate_npz(gap, num_classes=12)["num_classes"] == 12
    meta = prepare({"source": "npz", "path": str(gap), "num_classes": 12}, tmp_path,
                   tmp_path / "gap_p.npz", tmp_path / "gap_p.json")
    assert meta["num_classes"] == 12 and len(meta["class_names"]) == 12


def test_the_class_count_is_declared_in_the_schema_and_reaches_validation(tmp_path):
    from conftest import load_params

    from memrepro.config import ConfigError, resolve

    gap = _save(tmp_path / "gap.npz", y_train=np.where(np.arange(20) % 10 == 3, 4,
                                                       np.arange(20) % 10))
    cfg = load_params()
    cfg["datasets"]["mine"] = {"source": "npz", "path": str(gap)}
    with pytest.raises(ConfigError, match=r"^\S*gap.npz \(datasets.mine\) is invalid:\n  "
                                          r"datasets.mine.path: y_train: labels up to 9"):
        resolve(cfg)
    cfg["datasets"]["mine"]["num_classes"] = 10
    assert resolve(cfg).config["datasets"]["mine"]["num_classes"] == 10
    cfg["datasets"]["mine"]["num_classes"] = 1
    with pytest.raises(ConfigError, match=r"datasets.mine.num_classes: 1 is not allowed; "
                                          r"allowed: an integer >= 2"):
        resolve(cfg)


def test_unknown_arrays_are_refused_by_name_without_unpickling(tmp_path):
    path = _save(tmp_path / "extra.npz", extra=np.array([_Boom()] * 2, dtype=object),
                 meta=np.arange(3))
    want = (r"datasets.mine.path: unknown array\(s\) 'extra', 'meta' \(found: .*\) is not "
            r"allowed; allowed: an .npz with exactly the arrays x_train, y_train, x_test, "
            r"y_test, nothing else")
    with pytest.raises(DataError, match=want):  # unpickling _Boom would raise a ValueError
        validate_npz(path, key="datasets.mine.path")
    with pytest.raises(DataError, match="unknown array"):  # not numpy's "Object arrays ..."
        prepare({"source": "npz", "path": str(path)}, tmp_path, tmp_path / "mine.npz",
                tmp_path / "mine.json")
    assert not (tmp_path / "mine.npz").exists()
    other = _save(tmp_path / "notes.npz")
    with zipfile.ZipFile(other, "a") as zf:  # a member that is not an array at all
        zf.writestr("notes.txt", "hello")
    with pytest.raises(DataError, match=r"unknown array\(s\) 'notes.txt'"):
        validate_npz(other)
    misspelt = tmp_path / "typo.npz"
    np.savez(misspelt, **{("X_test" if k == "x_test" else k): v for k, v in _good().items()})
    with pytest.raises(DataError, match=r"missing array\(s\) x_test; unknown array\(s\) "
                                        r"'X_test'"):
        validate_npz(misspelt)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_images_in_0_1_are_stored_as_round_255x_as_the_readme_says(tmp_path, dtype):
    x = (np.arange(20 * 64).reshape(20, 8, 8) % 256 / 255.0).astype(dtype)
    path = _save(tmp_path / "f.npz", x_train=x)
    prepare({"source": "npz", "path": str(path)}, tmp_path, tmp_path / "f_p.npz",
            tmp_path / "f_p.json")
    stored = load_prepared(tmp_path / "f_p.npz")["x_train"][:, 0]
    np.testing.assert_array_equal(stored, np.rint(x.astype(np.float64) * 255).astype(np.uint8))
    if dtype != np.float16:  # i / 255 in float32 or float64 comes back exactly as i
        np.testing.assert_array_equal(stored, np.arange(20 * 64).reshape(20, 8, 8) % 256)
    bullet = ROOT_README.read_text().split("- **Your dataset**")[1].split("\n- **")[0]
    bullet = " ".join(bullet.split())
    for needle in ("exactly the arrays", "float16/32/64", "every value in [0, 1]",
                   "round(255·x)", "num_classes: K", "every class present"):
        assert needle in bullet, (needle, bullet)


def test_float_images_on_the_0_255_scale_are_refused_with_a_hint(tmp_path):
    path = _save(tmp_path / "f.npz", x_test=_good()["x_test"].astype(np.float32))
    with pytest.raises(DataError, match=r"x_test: value \d+\.0 at index .* allowed: floats in "
                                        r"\[0, 1\] \(stored as round\(255 x\)\) or uint8 0..255 "
                                        r"\(these look like 0..255 values: divide them by 255"):
        validate_npz(path)
