"""`python -m meddl`: the same front door as the `meddl` command."""

import sys

from meddl.cli import main

if __name__ == "__main__":
    sys.exit(main())
