"""One version: the installed distribution, the package and the CLI say the same."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

import sandbox


def test_distribution_version_is_the_packages() -> None:
    # GIVEN the project installed from pyproject.toml (its version is dynamic)
    # WHEN its metadata is read
    installed = metadata.version("lambda-sandbox")
    # THEN it is sandbox.__version__, a release-like version
    assert installed == sandbox.__version__, "reinstall the project: pip install -e ."
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", sandbox.__version__)


def test_cli_prints_the_packages_version() -> None:
    # GIVEN the `sandbox` command WHEN asked for its version
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # THEN it prints the package's version and exits 0
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"lambda-sandbox {sandbox.__version__}"
