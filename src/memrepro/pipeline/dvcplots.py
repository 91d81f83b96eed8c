"""`dvc plots show` without the network.

DVC's page loads vega, vega-lite and vega-embed from cdn.jsdelivr.net, so offline it renders
blank. Snakemake bundles the same libraries (vega 5.21.0, vega-lite 5.2.0, vega-embed 6.20.8;
DVC asks for 5.20.2, 5.2.0, 6.18.2) for its reports, checksummed. ``write_template`` writes a
DVC HTML template with them inlined and without DVC's ``{scripts}`` placeholder (which is where
DVC puts its CDN tags), for ``dvc plots show --html-template``; ``memrepro plots``
(:func:`show_offline`) writes it to .dvc/tmp/plots_offline.html (git-ignored) and runs
``dvc plots show --html-template`` with it: dvc_plots/index.html then opens in any browser
without the network. To make plain ``dvc plots show`` use it too:
``dvc config --local plots.html_template tmp/plots_offline.html`` (relative to .dvc/).
"""

from __future__ import annotations

import hashlib
import html
import subprocess
from collections.abc import Sequence
from pathlib import Path

from memrepro import io

OFFLINE_TEMPLATE = Path(".dvc/tmp/plots_offline.html")  # relative to the repository
LIBRARIES = ("vega/vega.js", "vega-lite/vega-lite.js", "vega-embed/vega-embed.js")
TEMPLATE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC plots (offline)</title>
    %s
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def library(asset: str) -> str:
    """A JavaScript library Snakemake ships (``snakemake.assets``), checked against the
    SHA-256 Snakemake pins for it."""
    from snakemake.assets import Assets

    spec = Assets.spec[asset]
    path = Assets.base_path() / asset
    data = path.read_bytes()
    if spec.sha256 and hashlib.sha256(data).hexdigest() != spec.sha256:
        raise ValueError(f"{path}: not the {asset} {spec.version} Snakemake pins (sha256)")
    text = data.decode("utf-8")
    if "</script" in text.lower():
        raise ValueError(f"{asset} contains '</script' and cannot be inlined")
    note = f"/* {html.escape(asset)} {spec.version}, from Snakemake's assets */"
    return f"<script>{note}\n{text}\n</script>"


def template() -> str:
    """The HTML of a DVC plots page that needs no network."""
    return TEMPLATE.replace("%s", "\n    ".join(library(a) for a in LIBRARIES))


def write_template(path: str | Path) -> Path:
    io.write_text(path, template())
    return Path(path)


def show_offline(root: str | Path, dvc_args: Sequence[str] = ()) -> int:
    """``memrepro plots [dvc plots show options]``: write the offline template under the
    repository ``root`` (which must hold .dvc/) and run ``dvc plots show`` with it there;
    dvc's exit status. The template path stays relative, as the old script passed it."""
    from memrepro.pipeline.restore import tool

    root = Path(root)
    if not (root / ".dvc").is_dir():
        raise FileNotFoundError(f"no .dvc/ in {root}: `memrepro plots` runs in a DVC repository"
                                " (the project folder after `dvc init`), or give --root")
    write_template(root / OFFLINE_TEMPLATE)
    return subprocess.call([tool("dvc"), "plots", "show", "--html-template",
                            str(OFFLINE_TEMPLATE), *dvc_args], cwd=root)
