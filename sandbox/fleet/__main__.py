"""``python -m sandbox.fleet``: the fleet commands."""

import sys

from sandbox.fleet.cli import main

sys.exit(main())
