import sys

from edgeport.export.cli import main

sys.exit(main())
