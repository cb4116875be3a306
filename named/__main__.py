"""``python -m named``: the same command line as the ``named`` console script."""

import sys

from named.cli import main

if __name__ == "__main__":
    sys.exit(main())
