"""``python -m memrepro``: the ``memrepro`` command (``memrepro.cli``)."""

import sys

from memrepro.cli import main

if __name__ == "__main__":
    sys.exit(main())
