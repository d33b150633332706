"""``python -m sandbox.local run ...``: the ``sandbox run`` command without the main CLI."""

import sys

from sandbox.local.cli import main

sys.exit(main())
