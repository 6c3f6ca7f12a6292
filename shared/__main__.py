"""``python -m shared verify|info STORE``."""

import sys

from shared.cli import main

sys.exit(main())
