"""`python -m edgeport.runtime` is `edgeport-run`."""

import sys

from edgeport.runtime.cli import main

sys.exit(main())
