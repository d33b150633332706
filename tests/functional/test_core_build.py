"""Each Lambda Python loads its own native core from the staged layer, and the hook works."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from sandbox.layer import LAYER_PACKAGE, stage_layer
from sandbox.layer.native import PYTHONS, build_native, buildable_pythons, interpreters

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ziglang") is None, reason="ziglang (dev extra) not installed"
)

PROBE = f"""
import json, sys
from {LAYER_PACKAGE} import core
def callback(event, args, caller):
    core.cache_add(event)
    return PermissionError("denied " + event) if event == "zz.deny" else None
installed = core.install(frozenset({{"zz.ok", "zz.deny"}}), callback,
                         frozenset({{callback.__code__}}), "enforce")
sys.audit("zz.ok")
try:
    sys.audit("zz.deny")
    denied = None
except PermissionError as exc:
    denied = str(exc)
print(json.dumps({{"kind": core.KIND, "file": core._impl.__file__.rsplit("/", 1)[-1],
                  "installed": installed, "denied": denied, "cached": core.cache_has("zz.ok"),
                  "version": "%d.%d" % sys.version_info[:2]}}))
"""


@pytest.fixture(scope="module")
def x86_64_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("layer-x86_64")
    stage_layer(dest, build_native("x86_64", tmp_path_factory.mktemp("native")))
    return dest


@pytest.mark.parametrize("version", PYTHONS)
def test_each_python_loads_its_core_from_the_layer(version: str, x86_64_layer: Path) -> None:
    # GIVEN an interpreter of a Lambda Python version (skipped where none is installed)
    exe = next(iter(interpreters(version)), None)
    if exe is None:
        pytest.skip(f"python{version} not installed")
    if version not in buildable_pythons((version,)):
        pytest.skip(f"no CPython {version} headers here: the layer has no native core for it")
    # WHEN it imports the layer's core (no site-packages) and decides two events
    proc = subprocess.run(
        [str(exe), "-S", "-c", PROBE],
        env={"PYTHONPATH": str(x86_64_layer / "python"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # THEN it picked the object built for it, and the native hook allowed, cached and denied
    assert result == {
        "kind": "native",
        "file": f"_core.cpython-{version.replace('.', '')}-x86_64-linux-gnu.so",
        "installed": True,
        "denied": "denied zz.deny",
        "cached": True,
        "version": version,
    }
