"""Print the rows of ``SYNTAX_LAYOUTS`` (``sandbox/runtime/decoders/shape.py``), one per interpreter.

Usage: ``python scripts/syntax_layouts.py PYTHON [PYTHON...]`` (one interpreter per CPython minor
version the sandbox supports). Each interpreter, started fresh (its syntax classes as CPython
made them), hashes its classes' names, bases and fields the way the shape decoder checks them
when it loads them after install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROW = (
    "from sandbox.runtime import core;"
    "from sandbox.runtime.decoders import shape;"
    "print(f'    {shape._VERSION}: {shape.syntax_layout(core.syntax_classes())!r},')"
)


def main(pythons: list[str]) -> int:
    if not pythons:
        print(__doc__, file=sys.stderr)
        return 2
    for python in pythons:
        # The Python core: the same classes and the same hash, with no extension to build.
        env = {**os.environ, "SANDBOX_NATIVE": "off", "PYTHONPATH": str(REPO)}
        subprocess.run([python, "-c", ROW], check=True, env=env, cwd=REPO)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
