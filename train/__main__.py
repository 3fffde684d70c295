import sys

from edgeport.train.cli import main

sys.exit(main())
