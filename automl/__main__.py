"""``python -m automl``: see automl.cli."""

import sys

from automl.cli import main

sys.exit(main())
