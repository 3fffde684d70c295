import sys

# cli sets TensorFlow's logging variables before anything imports TensorFlow: import it first.
from edgeport.export.cli import main

sys.exit(main())
