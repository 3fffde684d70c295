"""`python -m edgeport.runtime.compat`: probe bundles here, merge probes, print the matrix."""

import sys

from edgeport.runtime.compat.probe import main

sys.exit(main())
