"""``python -m sandbox.aws``: the fleet commands."""

import sys

from sandbox.aws.cli import main

sys.exit(main())
