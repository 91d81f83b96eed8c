"""`dvc plots show` that renders without the network (memrepro.pipeline.dvcplots).

    python workflow/scripts/plots_offline.py [dvc plots show options...]

writes the page template with vega inlined to .dvc/tmp/plots_offline.html (git-ignored), then
runs `dvc plots show --html-template <it> <options>`: open dvc_plots/index.html in any browser,
no network needed. To make plain `dvc plots show` use it too:
`dvc config --local plots.html_template tmp/plots_offline.html` (relative to .dvc/).
"""

import subprocess
import sys
from pathlib import Path

from memrepro.pipeline.dvcplots import write_template

TEMPLATE = Path(".dvc/tmp/plots_offline.html")

if __name__ == "__main__":
    if not Path(".dvc").is_dir():
        sys.exit("plots_offline.py: run it from the repository root (no .dvc/ here)")
    write_template(TEMPLATE)
    sys.exit(subprocess.call(["dvc", "plots", "show", "--html-template", str(TEMPLATE),
                              *sys.argv[1:]]))
