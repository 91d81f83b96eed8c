"""Raw datasets: fetch torchvision's files, md5-checked, into ``root/<name>``.

``download`` lays raw files out as torchvision expects with ``root/<name>`` as its root
(``mnist/MNIST/raw/``, ``cifar10/cifar-10-batches-py/``, ``svhn/*.mat``) and writes
``root/<name>/.complete.json`` last: md5, sha256 and url of each raw file, sha256 of each
extracted file. ``memrepro.data.prepare`` reads only data that still match it.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import Any

from memrepro import io
from memrepro.specs import refused

log = logging.getLogger("memrepro.download")

TORCHVISION = ("mnist", "fashionmnist", "cifar10", "svhn")
MARKER = ".complete.json"
_TIMEOUT = 60
_CHUNK = 1 << 20


class DataError(ValueError):
    """A dataset problem; the message names the key, the offending value and what is allowed."""


def torchvision_datasets():  # torchvision is slow to import; config validation never needs it
    import torchvision.datasets as tvd

    return tvd


def refuse(key: str, value: Any, allowed: str) -> DataError:
    return DataError(refused(f"{key}: {value}", allowed))


def check_name(name: str, key: str = "name") -> None:
    if name not in TORCHVISION:
        raise refuse(key, repr(name), f"one of {', '.join(TORCHVISION)}")


# --- raw files --------------------------------------------------------------------------------
def _mirror_base(mirror: str) -> str:
    allowed = "an http://, https:// or file:// URL base, or an existing local directory"
    if m := re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", mirror):
        if m.group(1).lower() not in ("http", "https", "file"):
            raise refuse("data.mirror", repr(mirror), allowed)
        return mirror.rstrip("/")
    if not Path(mirror).expanduser().is_dir():
        raise refuse("data.mirror", f"{mirror!r} (no such directory)", allowed)
    return Path(mirror).expanduser().resolve().as_uri()


def _apply_mirror(res, mirror: str | None) -> list[tuple[str, str, str]]:
    res = [(str(u), str(f), str(m).lower()) for u, f, m in res]
    if not mirror:
        return res
    base = _mirror_base(str(mirror))
    return [(f"{base}/{fn}", fn, md5) for _, fn, md5 in res]


def raw_resources(name: str, mirror: str | None = None) -> list[tuple[str, str, str]]:
    """``(url, filename, md5)`` of every raw file of torchvision dataset ``name``.

    md5s and urls come from torchvision's own class attributes (MNIST: its first mirror; SVHN:
    train and test only). With ``mirror`` every url becomes ``<mirror>/<filename>``; a local
    directory becomes a ``file://`` URL.
    """
    check_name(name)
    tvd = torchvision_datasets()
    if name in ("mnist", "fashionmnist"):
        cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
        res = [(f"{cls.mirrors[0]}{fn}", fn, md5) for fn, md5 in cls.resources]
    elif name == "cifar10":
        res = [(tvd.CIFAR10.url, tvd.CIFAR10.filename, tvd.CIFAR10.tgz_md5)]
    else:
        res = [tuple(tvd.SVHN.split_list[s]) for s in ("train", "test")]
    return _apply_mirror(res, mirror)


def _raw_relpath(name: str, filename: str) -> Path:
    sub = {"mnist": "MNIST", "fashionmnist": "FashionMNIST"}.get(name)
    return Path(sub, "raw", filename) if sub else Path(filename)


def _extracted(name: str) -> list[Path]:
    """Paths (relative to ``root/<name>``) that extraction must produce."""
    tvd = torchvision_datasets()
    if name in ("mnist", "fashionmnist"):
        cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
        return [_raw_relpath(name, fn.removesuffix(".gz")) for fn, _ in cls.resources]
    if name == "cifar10":
        c = tvd.CIFAR10
        files = [f for f, _ in c.train_list + c.test_list] + [c.meta["filename"]]
        return [Path(c.base_folder, f) for f in files]
    return []


def _fetch(url: str, target: Path, md5: str) -> None:
    """Stream ``url`` to ``target``; DataError unless it arrives whole and matches ``md5``."""
    h, n = hashlib.md5(usedforsecurity=False), 0

    def fail(why: str, actual: str) -> DataError:
        return DataError(f"{target.name}: {why}; url: {url}; expected md5: {md5}; "
                         f"actual md5: {actual}")

    try:
        req = urllib.request.Request(url, headers={"User-Agent": "memrepro"})
        with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp, open(target, "wb") as out:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                h.update(chunk)
                n += len(chunk)
    except (OSError, http.client.HTTPException, ValueError) as e:
        actual = f"{h.hexdigest()} of {n} bytes received" if n else "none (nothing received)"
        raise fail(f"download failed, md5 checksum not verified ({e!r})", actual) from None
    if h.hexdigest() != md5:  # also catches a short file served as if complete
        raise fail(f"md5 checksum mismatch ({n} bytes received)", h.hexdigest())


def _extract(path: Path) -> None:
    if path.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path, "r:gz") as tar:
            bad = [m.name for m in tar if not (m.isfile() or m.isdir()) or m.name.startswith("/")
                   or ".." in Path(m.name).parts]
            if bad:
                raise DataError(refused(f"{path.name}: archive members {bad}",
                                        "plain files and directories inside the archive",
                                        many=True))
            tar.extractall(path.parent, **({"filter": "data"} if hasattr(tarfile, "data_filter")
                                           else {}))
    elif path.suffix == ".gz":
        with gzip.open(path, "rb") as src, open(path.with_suffix(""), "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)


def verify_raw(name: str, dest: Path, md5s: dict[str, str] | None = None) -> dict[str, str]:
    """sha256 of each raw file of a download that still matches its marker, else DataError."""
    marker = dest / MARKER
    if not marker.is_file():
        raise DataError(f"datasets.{name}: not downloaded: {marker} is missing; allowed: data "
                        "laid out by memrepro.data.download (the `download` rule)")
    try:
        record = json.loads(marker.read_text())
        files, extracted = record["files"], record["extracted"]
        recorded = {fn: f["md5"] for fn, f in files.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise DataError(f"{marker}: unreadable marker ({e!r}); allowed: a marker written by "
                        "download(); delete it and download again") from None
    want = sorted(fn for _, fn, _ in raw_resources(name))
    if sorted(files) != want or (md5s is not None and recorded != md5s):
        raise DataError(f"{marker}: records {recorded}; allowed: exactly "
                        f"{md5s or want} (download again)")
    for rel, sha in [(f["path"], f["sha256"]) for f in files.values()] + list(extracted.items()):
        path = dest / rel
        actual = io.sha256(path) if path.is_file() else "missing"
        if actual != sha:
            raise DataError(refused(f"{path}: sha256 {actual}", f"{sha} as recorded in {marker} "
                                    f"(delete {dest} and download again)"))
    return {fn: f["sha256"] for fn, f in files.items()}


def download(name: str, root: str | Path, mirror: str | None = None,
             resources=None) -> Path:
    """Fetch, md5-check and extract the raw files of ``name`` into ``root/<name>``.

    Everything is built in a temporary directory beside the destination and moved into place
    only once every checksum passed; any failure raises DataError and leaves nothing behind.
    ``resources`` (``(url, filename, md5)`` triples) overrides torchvision's list; ``mirror``
    rewrites every url to ``<mirror>/<filename>`` either way. Returns ``root/<name>``.
    """
    check_name(name)
    root = Path(root)
    dest = root / name
    res = (raw_resources(name, mirror) if resources is None
           else _apply_mirror(resources, mirror))
    want = sorted(fn for _, fn, _ in raw_resources(name))
    if sorted(fn for _, fn, _ in res) != want:
        raise refuse("resources", f"files {sorted(fn for _, fn, _ in res)}", f"{name}'s: {want}")
    md5s = {fn: md5 for _, fn, md5 in res}
    try:
        verify_raw(name, dest, md5s)
        log.info("%s: already downloaded and verified in %s", name, dest)
        return dest
    except DataError as e:
        log.info("%s: fetching: no verified copy yet (%s)", name, e)
    (dest / MARKER).unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.download-"))
    try:
        _fetch_all(name, res, dest, tmp)
        dest.mkdir(parents=True, exist_ok=True)
        for entry in sorted(tmp.iterdir()):
            if entry.name == MARKER:
                continue
            old = dest / entry.name
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            elif old.exists() or old.is_symlink():
                old.unlink()
            os.replace(entry, old)
        os.replace(tmp / MARKER, dest / MARKER)  # last: its presence means "complete"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: downloaded and verified into %s", name, dest)
    return dest


def _fetch_all(name: str, res, dest: Path, tmp: Path) -> None:
    """Every raw file into ``tmp`` (reused from ``dest`` when its md5 matches), extracted,
    and the marker describing them, written last."""
    files = {}
    for url, fn, md5 in res:
        rel = _raw_relpath(name, fn)
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if (dest / rel).is_file() and io.digest(dest / rel, "md5") == md5:
            log.info("%s: reusing %s (md5 %s verified)", name, dest / rel, md5)
            shutil.copyfile(dest / rel, target)
        else:
            log.info("%s: fetching %s", name, url)
            _fetch(url, target, md5)
        try:
            _extract(target)
        except (OSError, EOFError, tarfile.TarError, zlib.error) as e:
            raise DataError(f"{fn}: cannot extract ({e!r}) although its md5 {md5} matched; "
                            f"url: {url}") from None
        files[fn] = {"path": rel.as_posix(), "md5": md5, "sha256": io.sha256(target),
                     "url": url}
    missing = [p.as_posix() for p in _extracted(name) if not (tmp / p).is_file()]
    if missing:
        raise DataError(f"{name}: extraction did not produce {missing}; allowed: archives "
                        f"with torchvision's layout (urls: {[u for u, _, _ in res]})")
    extracted = {p.as_posix(): io.sha256(tmp / p) for p in _extracted(name)}
    (tmp / MARKER).write_text(json.dumps({"name": name, "files": files,
                                          "extracted": extracted}, indent=2) + "\n")
