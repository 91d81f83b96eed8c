"""The HTML report (`snakemake --report results/report.html figures`) opens on a gallery: the
figures in figure order (paper, then number: Fig. 7 before Fig. 12), each with its thumbnail,
title and caption, the settings folded away; the side bar lists them in the same order and
shows a figure's parameters as one-line digests, not dicts.

The slow test builds three cheap figures (AR Fig. 7, a copy of it as AR "Fig. 12" and one as
PS "Fig. 7", whose file name is AR Fig. 7's, and PS's symmetry table), makes the report, checks
the data embedded in it, then renders it in headless
Chromium, offline, and saves screenshots (set MEMREPRO_SCREENSHOTS=<dir> to keep them). Without
a Chromium (CI installs pip packages only; `apt-get install chromium` on Debian) the browser
part is skipped, saying so; the checks of the file itself still run.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import hang_limit, small_params, snakemake, write_params

from memrepro import catalog, claims
from memrepro.pipeline.figure_jobs import (
    FIGURE_SPACE,
    built_counts,
    category,
    gallery_entry,
    labels,
    natural_key,
    padded,
    split_title,
)

CAPTION = """Arpit et al. 2017, "A Closer Look": AR Fig. 7: accuracy and CSR, MNIST.
Rebuilt by memrepro at scale 'smoke'.
ar_mnist_randx: data digits; model name=mlp; seeds [0]; SGD lr 0.1.
ar_mnist_randy: data digits; model name=mlp; seeds [0]; SGD lr 0.1.
Training accuracy = J1 (accuracy on the noisy training labels).
"""
SPEC = {"kind": "curves", "title": "AR Fig. 7: accuracy and CSR, MNIST",
        "panels": [{"experiment": "ar_mnist_randx"}, {"experiment": "ar_mnist_randy"},
                   {"experiment": "ar_mnist_randx"}]}


def test_labels_sort_in_figure_order_as_text():
    labels = [padded(f"Fig. {n}") for n in (1, 2, 10, 11)]
    assert labels[0] == f"Fig. {FIGURE_SPACE}1" and labels[2] == "Fig. 10"
    # the report sorts with JavaScript's localeCompare, where a space comes before a digit
    # (checked in a browser below); the padding is as wide as a digit
    assert FIGURE_SPACE.isspace()
    assert sorted(["fig10", "fig2", "fig1", "symmetry"], key=natural_key) == \
        ["fig1", "fig2", "fig10", "symmetry"]
    assert split_title("AR Fig. 7: accuracy and CSR", "ar") == ("Fig. 7", "accuracy and CSR")
    assert split_title("PS Sec. 3: symmetry", "ps") == ("Sec. 3", "symmetry")
    assert split_title("A title without a label", "ar") == ("A title without a label", "")
    assert category("ar") == "AR: Arpit et al. 2017"
    assert category("ps") == "PS: Patel & Sastry 2021"


def test_a_gallery_entry_folds_the_settings_away():
    g = gallery_entry("ar/fig7", SPEC, CAPTION)
    assert (g["label"], g["title"], g["category"]) == ("Fig. 7", "accuracy and CSR, MNIST",
                                                       "AR: Arpit et al. 2017")
    assert g["order"] < gallery_entry("ar/fig12", SPEC, CAPTION)["order"]
    assert g["lead"] == CAPTION.splitlines()[:2]
    assert [s.split(":")[0] for s in g["settings"]] == ["ar_mnist_randx", "ar_mnist_randy"]
    assert g["notes"] == ["Training accuracy = J1 (accuracy on the noisy training labels)."]
    # one label (a second one with two values would become a toggle in Snakemake's list)
    assert labels(g) == {"figure": f"Fig. {FIGURE_SPACE}7: accuracy and CSR, MNIST"}
    assert labels({"label": "Sec. 3", "title": "sum {j}"}) == {"figure": f"Sec. {FIGURE_SPACE}3: "
                                                                         "sum (j)"}


def test_built_counts(tmp_path):
    (tmp_path / "figures/ar").mkdir(parents=True)
    for name in ("fig1.png", "fig1.pdf", "t.csv", "t.md", "x.csv"):
        (tmp_path / "figures/ar" / name).touch()
    (tmp_path / "runs/e/c").mkdir(parents=True)
    (tmp_path / "runs/e/c/history.csv").touch()
    assert built_counts(tmp_path) == {"figures": 2, "training runs": 1}
    # with the claims scorecard built, its verdicts are counted too
    card = {"scale": "smoke", "claims": [],
            "counts": {"claims": 6, "expected": 3, "held": 2, "failed": 3,
                       "expected_but_failed": 1, "not_built": 1}}
    claims.write_json(tmp_path / "claims.json", card)
    assert built_counts(tmp_path) == {"figures": 2, "training runs": 1, "claims held": 2,
                                      "claims failed": 3, "expected but failed": 1}


def _chromium():
    return next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(b)), None)


def _browse(browser, page, tmp_path, *args):
    """Headless Chromium on ``page``, JavaScript run to completion, offline (every request
    goes to a proxy that does not exist)."""
    res = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--hide-scrollbars", "--proxy-server=127.0.0.1:9", f"--user-data-dir={tmp_path}/chr",
         "--window-size=1400,1000", "--virtual-time-budget=10000", *args, page.as_uri()],
        capture_output=True, text=True, timeout=hang_limit(40))
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def _driven(report, then, tmp_path, name):
    """The report with ``then`` (JavaScript, using the report's own `app`) run once loaded."""
    page = tmp_path / f"{name}.html"
    script = f"<script>addEventListener('load', () => setTimeout(() => {{{then}}}, 200));</script>"
    head, body_end, tail = report.read_text().rpartition("</body>")  # the page's own end
    page.write_text(head + script + "\n" + body_end + tail)
    return page


def _var(html, name):
    """A variable the report's page defines (one JSON line in its own <script>)."""
    block = re.search(rf'<script id="[^"]*">\s*var {name} = (.+);\s*</script>', html)
    return json.loads(block.group(1))


def _screenshot(browser, page, tmp_path, name):
    png = tmp_path / f"{name}.png"
    _browse(browser, page, tmp_path, f"--screenshot={png}")
    keep = os.environ.get("MEMREPRO_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)
    import matplotlib.image

    pixels = matplotlib.image.imread(png)[..., :3]
    assert (pixels < 0.9).mean() > 0.05, f"{png}: blank"  # something drawn, not a white page
    return png


@pytest.mark.slow
def test_the_report_opens_on_a_gallery_in_figure_order(workdir, tmp_path):
    params = small_params(workdir / "params.yaml", keep=("ar/fig7", "ps/symmetry"))
    params["figures"]["ar/fig12"] = {**params["figures"]["ar/fig7"],
                                     "title": "AR Fig. 12: a copy of Fig. 7"}
    params["figures"]["ps/fig7"] = {**params["figures"]["ar/fig7"],  # the same file name
                                    "title": "PS Fig. 7: a copy of AR Fig. 7"}
    write_params(workdir / "params.yaml", params)
    built = snakemake(workdir, "--cores", "2", "figures")
    assert built.returncode == 0, built.stderr[-3000:]
    rep = snakemake(workdir, "--report", "results/report.html", "figures")
    assert rep.returncode == 0, rep.stderr[-3000:]
    report = workdir / "results/report.html"
    html = report.read_text()

    # what Snakemake embeds: metadata (so the landing page is not the rule graph), the
    # gallery in figure order, labels that sort as text in that order, short parameters
    card = claims.read_json(workdir / "results/claims.json")["counts"]
    assert _var(html, "metadata") == {"figures": 4, "training runs": 8,
                                      "claims held": card["held"],
                                      "claims failed": card["failed"],
                                      "expected but failed": card["expected_but_failed"]}
    desc = _var(html, "workflow_desc")
    # the claims scorecard comes first, a row per claim (here all "not built": no figure a
    # claim reads is in this plan)
    scorecard = desc.index("Claims scorecard")
    assert scorecard < desc.index('<article class="memrepro-figure">')
    table = desc[scorecard:desc.index("</table>", scorecard)]
    assert table.count("<tr>") == 1 + len(catalog.claims())
    assert "PS-1" in table and "not built" in table
    cards = re.findall(r'<article class="memrepro-figure"><h3><a href="[^"]*">([^<]*)</a>', desc)
    assert cards == ["Fig. 7", "Fig. 12", "Fig. 7", "Sec. 3"], cards
    assert desc.count("<details><summary>Settings (2 experiments)</summary>") == 3
    results = _var(html, "results")
    png = {str(Path(p).relative_to("results/figures/ar")): r for p, r in results.items()
           if p.startswith("results/figures/ar/")}
    labels = [png[f]["labels"] for f in ("fig7_standin.png", "fig12_standin.png")]
    assert labels == [{"figure": f"Fig. {FIGURE_SPACE}7: accuracy (solid train, dotted "
                                 "validation) and critical sample ratio, MNIST"},
                      {"figure": "Fig. 12: a copy of Fig. 7"}]
    params = png["fig7_standin.png"]["job_properties"]["params"]
    assert "spec=<settings of figure ar/fig7, sha256 " in params
    assert "'panels'" not in params and "'slug'" not in params  # no dict dumps
    assert list(_var(html, "categories")) == ["AR: Arpit et al. 2017", "PS: Patel & Sastry 2021",
                                              "Claims scorecard"]

    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium: the report's rendering was not checked "
                    "(Debian: apt-get install chromium)")
    dom = _browse(browser, report, tmp_path, "--dump-dom")
    assert '<div id="rulegraph"' not in dom  # the landing page is the gallery
    shown = re.findall(r'<article class="memrepro-figure"><h3><a [^>]*>([^<]*)</a>', dom)
    assert shown == ["Fig. 7", "Fig. 12", "Fig. 7", "Sec. 3"], shown
    thumbs = re.findall(r'<img class="memrepro-thumb"[^>]* src="(data:image/png;[^"]{0,80})',
                        dom)
    assert len(thumbs) == 3 and all("base64,iVBORw0" in t for t in thumbs), thumbs  # the PNGs
    assert "<details><summary>Settings" in dom and "<details open" not in dom
    _screenshot(browser, report, tmp_path, "report_gallery")

    # the side bar: AR's figures in figure order, then one figure's details
    listing = _browse(browser, _driven(report, "app.showCategory('AR: Arpit et al. 2017')",
                                       tmp_path, "category"), tmp_path, "--dump-dom")
    rows = re.findall(r"<td[^>]*>(Fig\.[^:<]*):[^<]*</td>", listing)
    assert rows == [f"Fig. {FIGURE_SPACE}7", "Fig. 12"], rows
    path = next(p for p in results if p.endswith("fig12_standin.png"))
    info = _driven(report, f"app.setView({{navbarMode: 'resultinfo', resultPath: '{path}', "
                           f"content: 'img', contentPath: results['{path}'].data_uri}})",
                   tmp_path, "figure")
    dom = _browse(browser, info, tmp_path, "--dump-dom")
    assert "Settings (2 experiments)" in dom and "<details open" not in dom
    assert "spec=&lt;settings of figure ar/fig12, sha256" in dom
    _screenshot(browser, info, tmp_path, "report_figure")


# --- the README's picture: one figure per paper (memrepro.doc_images) ----------------------

PANEL_COLOURS = {"ps": (1.0, 0.0, 0.0), "ar": (0.0, 0.8, 0.0), "llj": (0.0, 0.0, 1.0),
                 "md": (0.9, 0.7, 0.0)}


def _solid_png(path, colour, height, width):
    import matplotlib.image
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.broadcast_to(np.array(colour, dtype=float), (height, width, 3))
    matplotlib.image.imsave(path, pixels.copy())


def test_the_readme_picture_shows_one_panel_per_paper_in_order(tmp_path):
    import numpy as np
    from matplotlib.image import imread

    from memrepro.doc_images import PICKS, montage

    sizes = {"ps": (120, 400), "ar": (200, 300), "llj": (150, 300), "md": (100, 500)}
    for paper, stem in PICKS:  # a stand-in name for three, the real name for LLJ
        name = f"{stem}.png" if paper == "llj" else f"{stem}_standin.png"
        _solid_png(tmp_path / "figures" / paper / name, PANEL_COLOURS[paper], *sizes[paper])
    _solid_png(tmp_path / "figures/ar/fig2_standin.png", (0, 0, 0), 50, 50)  # not picked
    out = montage(tmp_path / "figures", tmp_path / "out.png")
    column = imread(out)[:, imread(out).shape[1] // 2, :3]
    seen = []
    for pixel in column:
        match = [p for p, c in PANEL_COLOURS.items() if np.abs(pixel - c).max() < 0.05]
        if match and (not seen or seen[-1] != match[0]):
            seen.append(match[0])
    assert seen == ["ps", "ar", "llj", "md"], seen  # four panels, in the papers' order
    assert not (np.abs(column - 0).max(axis=1) < 0.05).any()  # the unpicked figure is absent


def test_the_readme_picture_names_a_figure_that_was_not_built(tmp_path):
    from memrepro.doc_images import montage

    _solid_png(tmp_path / "figures/ps/fig4_standin.png", (1, 0, 0), 10, 10)
    with pytest.raises(FileNotFoundError, match=r"figures/ar/fig1\.png .*not built"):
        montage(tmp_path / "figures", tmp_path / "out.png")
