"""Modules without bytecode imported during invoke: the import system's compile is the import.

A module whose ``.pyc`` is missing and cannot be written (a read-only ``__pycache__``, a
standard library shipped without bytecode, as Debian's 3.14 binaries are) is compiled from
source when it is first imported. After init that compile is decided as loading the module
(the module rule, and the exec rule of its file, as the exec of its code will be), not as a
``compile`` needing a rule of its own: when what is compiled is the file's own content. A
loader that hands the compiler other bytes under a module's file name is a compile of that
file, refused without a rule.

``PYTHONPYCACHEPREFIX`` pointing at an empty directory, with ``PYTHONDONTWRITEBYTECODE``,
makes every import here find no bytecode and write none: the state of a bytecode-less
standard library on a read-only file system.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ATTEMPT, RunChild, profile_doc

LATE_IMPORTS = (
    ATTEMPT
    + """
import sys, sandbox
sys.path.insert(0, ".")
status = sandbox.install(mode="enforce", profile="profile.json")
print("audit", status["layers"]["audit"])
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
print("fresh", "colorsys" not in sys.modules and "wsgiref" not in sys.modules)
def stdlib():
    import colorsys, wsgiref.headers
    assert colorsys.rgb_to_hsv(1, 0, 0) == (0.0, 1.0, 1)
    assert colorsys.__cached__.startswith(sys.pycache_prefix)
def task():
    import helper
    assert helper.VALUE == 42
attempt("stdlib", stdlib)
attempt("task", task)
"""
)

# The function hands the import machinery source of its own under a standard-library file name.
FORGED = (
    ATTEMPT
    + """
import os, sys, sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
from importlib.machinery import SourceFileLoader
path = os.path.join(os.path.dirname(os.__file__), "colorsys.py")
PAYLOAD = b"import os\\nPID = os.getpid()\\n"
class Forged(SourceFileLoader):
    def get_data(self, name):
        return PAYLOAD if name == path else super().get_data(name)
attempt("get_code", lambda: Forged("colorsys", path).get_code("colorsys"))
attempt("source_to_code", lambda: SourceFileLoader("colorsys", path).source_to_code(PAYLOAD, path))
longer = open(path, "rb").read() + b"\\nPID = __import__('os').getpid()\\n"
attempt("appended", lambda: SourceFileLoader("colorsys", path).source_to_code(longer, path))
"""
)


def _outcome(lines: list[str]) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in lines if " " in line)


def _no_bytecode(tmp_path: Path) -> dict[str, str]:
    prefix = tmp_path / "no-pycache"
    prefix.mkdir()
    return {"PYTHONPYCACHEPREFIX": str(prefix), "PYTHONDONTWRITEBYTECODE": "1"}


NATIVE = pytest.param(
    "native",
    marks=pytest.mark.skipif(
        importlib.util.find_spec("sandbox.runtime._core") is None,
        reason="_core extension not built for this interpreter",
    ),
)


@pytest.mark.parametrize("core", [NATIVE, "python"])
def test_modules_without_bytecode_import_during_invoke(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with the runtime bundle and the function's own module, and no bytecode
    # anywhere (none found, none written)
    profile = profile_doc(modules=[{"action": "import", "target": "helper", "phase": "any"}])
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    (tmp_path / "helper.py").write_text("VALUE = 42\n")
    env = _no_bytecode(tmp_path)
    if core == "python":
        env["SANDBOX_NATIVE"] = "off"
    # WHEN the function imports a standard-library module and a module of its own for the
    # first time during an invocation
    result = child(LATE_IMPORTS, env=env)
    assert result.returncode == 0, result.stderr
    outcome = _outcome(result.lines)
    assert outcome["fresh"] == "True" and outcome["audit"] == core
    # THEN both are compiled from source and load, with no rule for the compile, unreported
    assert outcome["stdlib"] == "ALLOWED", result.stdout
    assert outcome["task"] == "ALLOWED", result.stdout
    assert result.findings == []


def test_other_source_under_a_module_file_name_is_a_refused_compile(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN enforce with the runtime bundle
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function makes the import machinery compile its own bytes as a stdlib file
    result = child(FORGED, env=_no_bytecode(tmp_path))
    assert result.returncode == 0, result.stderr
    outcome = _outcome(result.lines)
    # THEN each is a compile of that file, which no rule allows: refused, and reported
    for label in ("get_code", "source_to_code", "appended"):
        assert outcome[label] == "BLOCKED PermissionViolation code compile", result.stdout
    # (the loader driven outside an import reads its bytecode file as the function: a read
    # decided like any, refused here too)
    targets = {(f["action"], f["target"]) for f in result.findings}
    assert ("compile", "{stdlib}/colorsys.py") in targets
    assert all(
        (
            action,
            target.endswith(f"colorsys.cpython-{sys.version_info[0]}{sys.version_info[1]}.pyc"),
        )
        in (("compile", False), ("read", True))
        for action, target in targets
    ), targets


# A frozen standard-library module imported during invoke; then other bytes through the same
# call (``_imp.get_frozen_object`` takes data of its own), and through the trampoline.
FROZEN = (
    ATTEMPT
    + """
import _imp, marshal, sys, sandbox
other = marshal.dumps(compile("PID = 1", "<frozen runpy>", "exec"))  # (made before install)
status = sandbox.install(mode="enforce", profile="profile.json")
print("audit", status["layers"]["audit"])
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
from importlib._bootstrap import _call_with_frames_removed, FrozenImporter
print("loaded", "runpy" in sys.modules or sys.version_info < (3, 13))
def frozen():
    import runpy
    assert runpy.run_path
attempt("frozen", frozen)
def unmarshal(label, fn):
    try:  # (the frozen loader turns a refused unmarshal into an ImportError)
        attempt(label, fn)
    except ImportError:
        print(label, "IMPORTERROR")
unmarshal("other_bytes", lambda: _imp.get_frozen_object("runpy", other))
unmarshal("trampoline", lambda: _call_with_frames_removed(_imp.get_frozen_object, "runpy", other))
attempt("trampoline_marshal", lambda: _call_with_frames_removed(marshal.loads, other))
"""
)


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="runpy is frozen from 3.11 (get_frozen_object's data too)"
)
@pytest.mark.parametrize("core", [NATIVE, "python"])
def test_a_frozen_stdlib_module_imports_in_invoke_and_other_bytes_do_not(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with the runtime bundle only (from Python 3.13 importing a frozen module
    # unmarshals its bytes from the interpreter's table: a `marshal.loads` event, which the
    # hook cannot tell from a caller's buffer read by the same call; so install loads them)
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    env = {"SANDBOX_NATIVE": "off"} if core == "python" else {}
    # WHEN the function imports `runpy` (frozen since 3.11) in invoke, then unmarshals bytes
    # of its own through the frozen loader's call and importlib's trampoline
    result = child(FROZEN, env=env)
    assert result.returncode == 0, result.stderr
    outcome = _outcome(result.lines)
    assert outcome["loaded"] == "True" and outcome["audit"] == core
    # THEN the import loads with no rule for it, unreported (3.13+: loaded at install)
    assert outcome["frozen"] == "ALLOWED", result.stdout
    # AND other bytes are an unmarshal decided by site: refused without a rule
    refused = ("BLOCKED PermissionViolation code unmarshal", "IMPORTERROR")
    for label in ("other_bytes", "trampoline", "trampoline_marshal"):
        assert outcome[label] in refused, result.stdout
    assert [(f["action"], f["decision"]) for f in result.findings] == [
        ("unmarshal", "blocked")
    ] * 3, result.findings
