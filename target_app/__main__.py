"""``python -m target_app``."""

import sys

from target_app.cli import main

sys.exit(main())
