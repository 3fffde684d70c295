"""`python -m runtime` is `edgeport-run`."""

import sys

from runtime.cli import main

sys.exit(main())
