"""Fixtures for the end-to-end tests: handler dirs, stub layers and the built layer."""

from __future__ import annotations

import platform
import shutil
import stat
import textwrap
import zipfile
from pathlib import Path

import pytest

from sandbox.layer import LAYER_PACKAGE
from sandbox.layer.build import Arch, LayerBuildError, build_layer
from sandbox.local.runner import default_wrapper

APP = """
import os
import sys
import time

COUNT = 0  # module state: survives between invocations only in a warm process


def handler(event, context):
    global COUNT
    COUNT += 1
    print(f"invocation {COUNT} {context.aws_request_id}")
    if event.get("raise"):
        raise ValueError(event["raise"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if "exit" in event:
        os._exit(event["exit"])
    return {
        "count": COUNT,
        "pid": os.getpid(),
        "remaining_ms": context.get_remaining_time_in_millis(),
        "function": context.function_name,
        "event": event,
    }
"""

# Stand-in for the layer's bootstrap: proves the wrapper's redirection
# end to end without depending on it. It imports the original handler and tags the response.
STUB_BOOTSTRAP = """
import importlib
import os
import sys

_ORIGINAL = os.environ["SANDBOX_ORIGINAL_HANDLER"]
_module, _, _function = _ORIGINAL.rpartition(".")
_user_handler = getattr(importlib.import_module(_module), _function)


def handler(event, context):
    return {
        "via": "stub-bootstrap",
        "stub_file": __file__,
        "original": _ORIGINAL,
        "handler_env": os.environ["_HANDLER"],
        "argv_tail": sys.argv[-1],
        "pythonpath": os.environ.get("PYTHONPATH", ""),
        "result": _user_handler(event, context),
    }
"""


def host_arch() -> Arch:
    """The Lambda architecture name of this machine."""
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    """A function's task root holding app.py (see APP)."""
    root = tmp_path / "task"
    root.mkdir()
    (root / "app.py").write_text(textwrap.dedent(APP))
    return root


@pytest.fixture
def stub_layer(tmp_path: Path) -> Path:
    """An /opt-like layer dir: the real wrapper script plus a stub bootstrap module."""
    opt = tmp_path / "opt"
    package = opt / "python" / LAYER_PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "bootstrap.py").write_text(textwrap.dedent(STUB_BOOTSTRAP))
    shutil.copy2(default_wrapper(), opt / "sandbox-wrapper")
    return opt


def built_layer_zip(tmp_path_factory: pytest.TempPathFactory, arch: Arch) -> Path:
    """Build the layer for ``arch`` once per session (wheels cached in the session's tmp)."""
    base = tmp_path_factory.getbasetemp()
    out = base / "layers" / arch
    zip_path = out / f"sandbox-layer-{arch}.zip"
    if not zip_path.exists():
        try:
            build_layer(arch, out_dir=out, cache_dir=base / "layer-wheel-cache")
        except LayerBuildError as exc:
            if "could not download" in str(exc):
                pytest.skip(f"layer wheels not obtainable (offline?): {exc}")
            raise
    return zip_path


def extract_with_modes(zip_path: Path, dest: Path) -> Path:
    """Extract like Lambda does: Unix permissions from each entry's external_attr."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            target.chmod(stat.S_IMODE(info.external_attr >> 16))
    return dest


@pytest.fixture(scope="session")
def host_layer_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layer zip for this machine's architecture."""
    return built_layer_zip(tmp_path_factory, host_arch())


@pytest.fixture(scope="session")
def extracted_layer(tmp_path_factory: pytest.TempPathFactory, host_layer_zip: Path) -> Path:
    """The built layer extracted into an /opt-like temp dir."""
    return extract_with_modes(host_layer_zip, tmp_path_factory.mktemp("opt"))


@pytest.fixture(autouse=True)
def _unsigned_observations_for_hand_written_records(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests that write observation records by hand read them without a MAC.

    The product never does (records must verify under their environment's key); the tests of
    that behaviour are marked ``signed_only`` and keep the product's default.
    """
    if request.node.get_closest_marker("signed_only") is None:
        from sandbox.profile import observations

        monkeypatch.setattr(observations, "TRUST_UNSIGNED", True)
