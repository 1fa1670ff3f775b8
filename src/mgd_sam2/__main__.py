"""``python -m mgd_sam2``: the ``mgd-sam2`` command, for an interpreter whose scripts are not on the PATH."""

import sys

from mgd_sam2.cli import main

sys.exit(main())
