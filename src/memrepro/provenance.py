"""Provenance: which code, settings, data and environment produced a figure or a run.

One record (a flat JSON object) holds:

- ``git``: the commit, and ``dirty`` when tracked files have uncommitted changes; when git or
  the repository is unavailable (the container image has no ``.git``), ``commit`` is None and
  ``git_note`` says why;
- ``settings_sha256``: sha256 of the canonical JSON of the resolved specs of every run it
  plots (each once, sorted by experiment and slug), and ``runs``, how many distinct runs;
- ``datasets``: ``{name: sha256}`` of each prepared dataset, from its ``.json`` sidecar (the
  key ``sha256`` that ``memrepro.data.prepare`` writes);
- ``requirements_lock_sha256``: sha256 of ``requirements.lock``;
- ``image_base``: ``$MEMREPRO_IMAGE_BASE``, the container's base image reference with its
  digest (the Dockerfile sets it); None outside the image.

The record holds no time, so for a given commit and data it is the same every build and the
figures that carry it stay byte-deterministic. Show a built figure's record::

    python -c "from PIL import Image; \
      print(Image.open('results/figures/ps/fig1_standin.png').text['Provenance'])"
    memrepro verify --record results/figures/ps/fig1_standin.pdf
    memrepro verify          # every figure: one record in all its files, its table and
                             # images as recorded; every run's files as its run.json records

A figure's record also holds ``table_sha256``, the digest of the table it is drawn from
(results/metrics/<paper>/<figure>.csv, or a table figure's CSV), and its caption ends with the
sha256 of its PNG and PDF (``Images sha256: ...``), which cannot hold their own digests.

Torch-free: the figure jobs use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from memrepro import io

IMAGE_ENV = "MEMREPRO_IMAGE_BASE"
LOCK_FILE = "requirements.lock"
KEY = "Provenance"  # the PNG text chunk's key; the caption line's and PDF Keywords' prefix
IMAGES_KEY = "Images sha256"  # the caption's line of its PNG's and PDF's digests


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, ASCII: the same object always gives the same string."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=io._jsonable)


def _run_key(spec: dict) -> tuple[str, str]:
    return str(spec.get("experiment", "")), str(spec.get("slug", ""))


def distinct_runs(specs: Iterable[dict]) -> list[dict]:
    """Each run once (a figure may plot a run in several panels), in (experiment, slug) order."""
    return sorted({_run_key(s): s for s in specs}.values(), key=_run_key)


def settings_digest(specs: Iterable[dict]) -> str:
    """sha256 of the canonical JSON of the distinct runs' specs, in (experiment, slug) order."""
    return hashlib.sha256(canonical_json(distinct_runs(specs)).encode()).hexdigest()


def git_state(root: str | os.PathLike = ".") -> dict[str, Any]:
    """``{"commit": sha, "dirty": bool}``; ``{"commit": None, "git_note": why}`` when git or
    the repository is unavailable."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except FileNotFoundError:
        return {"commit": None, "git_note": "git is not installed"}
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        err = (getattr(e, "stderr", "") or "").strip().splitlines()
        return {"commit": None, "git_note": f"no git repository: {err[0] if err else e}"}
    return {"commit": commit, "dirty": dirty}


def dataset_digests(sidecars: dict[str, str | os.PathLike]) -> dict[str, str | None]:
    """``{name: sha256}`` from each prepared dataset's sidecar (None when it is missing)."""
    out: dict[str, str | None] = {}
    for name, path in sorted(sidecars.items()):
        try:
            out[name] = io.read_json(path).get("sha256")
        except (OSError, ValueError):
            out[name] = None
    return out


def lock_digest(root: str | os.PathLike = ".") -> str | None:
    path = Path(root) / LOCK_FILE
    return io.sha256(path) if path.is_file() else None


def image_base() -> str | None:
    return os.environ.get(IMAGE_ENV) or None


def record(specs: Iterable[dict] = (), datasets: dict[str, str | None] | None = None,
           root: str | os.PathLike = ".", settings_sha256: str | None = None,
           runs: int | None = None) -> dict[str, Any]:
    """The provenance record. ``specs``: the runs' resolved specs (or give their
    ``settings_sha256`` and ``runs`` count directly); ``datasets``: ``{name: sha256}``."""
    specs = distinct_runs(specs)
    image = image_base()
    rec = {
        **git_state(root),
        "settings_sha256": settings_sha256 or settings_digest(specs),
        "runs": len(specs) if runs is None else runs,
        "datasets": dict(sorted((datasets or {}).items())),
        "requirements_lock_sha256": lock_digest(root),
        "image_base": image,
    }
    if image and "@sha256:" not in image:
        rec["image_note"] = "the base image reference has no digest"
    return rec


def figure_params(cells: Iterable[dict], inputs: Iterable[str]) -> dict[str, Any]:
    """What a figure job needs for its record, known when the DAG is built (no file read):
    the digest of its runs' specs and the sidecars of the datasets its runs train on or its
    inputs name (``results/data/<name>.npz``)."""
    cells = distinct_runs(cells)
    names = {c["dataset"]: None for c in cells if c.get("dataset")}
    for f in inputs:
        m = re.fullmatch(r"(.*/data)/([^/]+)\.npz", str(f))
        if m:
            names[m.group(2)] = None
    from memrepro.paths import dataset_files
    return {"settings_sha256": settings_digest(cells), "runs": len(cells),
            "sidecars": {n: dataset_files(n)[1] for n in sorted(names)}}


def figure_record(params: dict[str, Any], root: str | os.PathLike = ".",
                  table: str | os.PathLike | None = None) -> dict[str, Any]:
    """The record of a figure job from its ``provenance`` param (see ``figure_params``), with
    ``table_sha256``, the digest of the written ``table`` it is drawn from, when given."""
    rec = record(datasets=dataset_digests(params.get("sidecars", {})), root=root,
                 settings_sha256=params["settings_sha256"], runs=int(params["runs"]))
    return {**rec, "table_sha256": io.sha256(table)} if table is not None else rec


def caption_line(rec: dict[str, Any]) -> str:
    return f"{KEY}: {canonical_json(rec)}"


def add_image_digests(caption: str | os.PathLike, images: Iterable[str | os.PathLike]) -> None:
    """End the caption file with the sha256 of the figure's image files, as written (a PNG or
    PDF cannot hold its own digest): ``Images sha256: f.pdf <hex> f.png <hex>``."""
    caption = Path(caption)
    digests = " ".join(f"{Path(p).name} {io.sha256(p)}" for p in images)
    io.write_text(caption, caption.read_text() + f"{IMAGES_KEY}: {digests}\n")


def image_digests(caption: str | os.PathLike) -> dict[str, str] | None:
    """``{file name: sha256}`` from a caption's images line (None when it has none)."""
    lines = [ln for ln in Path(caption).read_text().splitlines()
             if ln.startswith(IMAGES_KEY + ": ")]
    if not lines:
        return None
    words = lines[-1][len(IMAGES_KEY) + 2:].split()
    return dict(zip(words[::2], words[1::2], strict=False))


def read_pdf_record(path: str | os.PathLike) -> str | None:
    """The record in a PDF's Info ``Keywords`` (as ``write_figure`` stores it), or None."""
    data = Path(path).read_bytes()
    m = re.search(rb"/Keywords \(" + KEY.encode() + rb": (.*?)(?<!\\)\)", data, re.S)
    if not m:
        return None
    raw = re.sub(rb"\\([()\\])", rb"\1", m.group(1))
    return raw.decode("latin-1")


def show(path: str | os.PathLike) -> str | None:
    """The record of a built figure file: PNG text chunk, PDF Info, caption or Markdown line."""
    p = Path(path)
    if p.suffix == ".png":
        from PIL import Image
        return Image.open(p).text.get(KEY)
    if p.suffix == ".pdf":
        return read_pdf_record(p)
    lines = [ln for ln in p.read_text().splitlines() if ln.startswith(KEY + ": ")]
    return lines[-1][len(KEY) + 2:] if lines else None


def figure_files(folder: str | os.PathLike) -> dict[str, list[Path]]:
    """Every built figure under ``folder`` (results/figures), by stem: a drawn figure's PNG,
    PDF and caption, a table figure's Markdown."""
    found: dict[str, list[Path]] = {}
    for p in sorted(Path(folder).rglob("*")):
        name = p.name
        stem = (name[:-len(".caption.txt")] if name.endswith(".caption.txt")
                else p.stem if p.suffix in (".png", ".pdf", ".md") else None)
        if stem is not None:
            found.setdefault(str(p.parent / stem), []).append(p)
    return found


def table_of(folder: str | os.PathLike, stem: str, files: list[Path]) -> Path:
    """The table a figure under ``folder`` (results/figures) is drawn from: a table figure's
    CSV beside its Markdown, else its tidy table under results/metrics/."""
    if any(f.suffix == ".md" for f in files):
        return Path(stem + ".csv")
    rel = Path(stem).relative_to(folder)
    return Path(folder).parent / "metrics" / rel.with_name(rel.name + ".csv")


def digest_problems(folder: str | os.PathLike, stem: str, files: list[Path],
                    rec: dict[str, Any]) -> list[str]:
    """A figure's table against its record's ``table_sha256``, and its PNG and PDF against
    the digests its caption ends with; one line per problem, naming the file."""
    problems = []
    table = table_of(folder, stem, files)
    if "table_sha256" not in rec:
        problems.append(f"{stem}: the record has no table digest (drawn before they were "
                        "recorded: rebuild it)")
    elif not table.is_file():
        problems.append(f"{table}: missing (the figure {stem} is drawn from it)")
    elif io.sha256(table) != rec["table_sha256"]:
        problems.append(f"{table}: sha256 differs from the one in {stem}'s provenance "
                        "(edited after the figure was drawn?)")
    for caption in (f for f in files if f.name.endswith(".caption.txt")):
        digests = image_digests(caption)
        if digests is None:
            problems.append(f"{caption}: no image digests (drawn before they were recorded: "
                            "rebuild it)")
            continue
        for name, digest in digests.items():
            image = caption.parent / name
            if not image.is_file():
                problems.append(f"{image}: missing (its caption records it)")
            elif io.sha256(image) != digest:
                problems.append(f"{image}: sha256 differs from the one its caption records "
                                "(edited after it was drawn?)")
    return problems


def check(folder: str | os.PathLike) -> tuple[list[str], list[str]]:
    """(one line per figure: commit, settings digest, runs; the problems). A figure's files
    must all carry one record, with a commit (or a note why there is none) and a settings
    digest; its table and image files must have the digests recorded (``digest_problems``)."""
    lines, problems = [], []
    for stem, files in figure_files(folder).items():
        records = {f.name: show(f) for f in files}
        missing = [n for n, r in records.items() if r is None]
        if missing:
            problems.append(f"{stem}: no provenance record in {', '.join(missing)}")
            continue
        if len(set(records.values())) > 1:
            problems.append(f"{stem}: its files carry different records: {', '.join(records)}")
            continue
        rec = json.loads(next(iter(records.values())))
        if not rec.get("settings_sha256") or ("commit" not in rec):
            problems.append(f"{stem}: the record lacks the commit or the settings digest")
            continue
        if found := digest_problems(folder, stem, files, rec):
            problems += found
            continue
        commit = (rec["commit"] or "none")[:12] + (" (dirty)" if rec.get("dirty") else "")
        lines.append(f"{stem}: commit {commit}, settings {rec['settings_sha256'][:12]}, "
                     f"{rec.get('runs')} runs, in {' '.join(sorted(records))}")
    return lines, problems
