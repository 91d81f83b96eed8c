"""The README's picture, ``docs/images/four-papers.png``: one built figure of each paper, one
under the other, each titled with the paper and the figure's file.

The picture is made from a build's PNGs, never drawn by hand, so that it shows what the
pipeline makes. The README used to show a headless-Chromium screenshot of the HTML report's
gallery, which could only show the first papers of the page (two of four) and needed a
browser; a montage shows all four and needs only matplotlib. ``tests/test_report.py`` renders
it from hand-made PNGs and checks that each panel shows its paper's image.

Regenerate from a smoke build (``snakemake --cores all figures``)::

    python -m memrepro.doc_images results/figures docs/images/four-papers.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from memrepro.io import atomic_path

# one figure per paper, in the papers' order: (paper, figure stem without "_standin")
PICKS = (("ps", "fig4"), ("ar", "fig1"), ("llj", "fig2"), ("md", "fig1"))
TITLES = {"ps": "PS: Patel & Sastry 2021", "ar": "AR: Arpit et al. 2017",
          "llj": "LLJ: Liu, Lin & Jaggi 2022", "md": "MD: Memorization-Dilation 2023"}


def picked_files(figures: Path, picks=PICKS) -> list[tuple[str, Path]]:
    """(paper, PNG) for every pick: ``<paper>/<stem>.png`` or its stand-in
    ``<paper>/<stem>_standin.png``; a pick that was not built is an error naming the file."""
    out = []
    for paper, stem in picks:
        found = [p for p in (figures / paper / f"{stem}.png",
                             figures / paper / f"{stem}_standin.png") if p.is_file()]
        if not found:
            raise FileNotFoundError(f"{figures / paper / stem}.png (or {stem}_standin.png): "
                                    f"not built; build the figures first")
        out.append((paper, found[0]))
    return out


def montage(figures: str | Path, out: str | Path, picks=PICKS, width_in: float = 10.0) -> Path:
    """Write ``picks`` (from ``figures``, a build's results/figures) one under the other, each
    as wide as the page and as tall as its aspect asks, to ``out`` (PNG, 100 dpi)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image
    import matplotlib.pyplot as plt

    files = picked_files(Path(figures), picks)
    images = [matplotlib.image.imread(png) for _, png in files]
    ratios = [img.shape[0] / img.shape[1] + 0.06 for img in images]  # + room for the title
    fig, axes = plt.subplots(len(images), 1, figsize=(width_in, width_in * sum(ratios)),
                             gridspec_kw={"height_ratios": ratios}, squeeze=False)
    for ax, (paper, png), img in zip(axes[:, 0], files, images, strict=True):
        ax.imshow(img, interpolation="lanczos")
        ax.set_title(f"{TITLES.get(paper, paper)}: {png.name}", fontsize=11, loc="left")
        ax.axis("off")
    fig.subplots_adjust(left=0.005, right=0.995, top=0.99, bottom=0.005, hspace=0.12)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="The README's montage of one figure per paper.")
    ap.add_argument("figures", help="a build's figures folder (results/figures)")
    ap.add_argument("out", help="the PNG to write (docs/images/four-papers.png)")
    args = ap.parse_args(argv)
    print(montage(args.figures, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
