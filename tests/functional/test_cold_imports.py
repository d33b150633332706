"""Cold start: which modules ``import sandbox`` and ``install(mode="enforce")`` pull in.

The sandbox's init is paid on every cold start, before the function's own code runs; most of
it is importing. These tests pin *which* modules load (never how long: timings belong to
``bench``), so that a heavy standard-library module or a tooling-only module creeping onto the
runtime path is caught here. The child runs with ``-S``: no ``site``, so nothing is imported
before the sandbox but what the interpreter itself needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.runtime import private_modules
from sandbox.runtime.compiler import compile_profile
from tests.conftest import REPO, profile_doc

# Never loaded by the runtime in any mode: tooling, or stdlib modules it does without.
NEVER = frozenset(
    {
        "typing",
        "dataclasses",
        "logging",
        "inspect",
        "email",
        "tempfile",
        "ctypes",
        "threading",
        "subprocess",
        "signal",  # its enums; the process decoder names signals from the builtin _signal
        "sysconfig",
        "base64",
        "binascii",  # the seccomp program is hex, decoded by bytes.fromhex
        "pydantic",
        "sandbox.profile",
        "sandbox.runtime.compiler",
    }
)
# Loaded only by learn (the recorder signs observations with OpenSSL's HMAC; the observations
# are flushed at exit).
LEARN_ONLY = frozenset({"_hashlib", "hashlib", "hmac", "atexit"})
# Loaded only when the Python core is the core (its profile digest: the standard library's C
# SHA-256, _sha256 before 3.12; the native core hashes in C).
PYTHON_CORE_ONLY = frozenset({"mmap", "_sha2", "_sha256"})
# Loaded only by an enforce install on the Python core: it switches core dumps off through the
# resource module (the native core calls setrlimit itself).
PYTHON_CORE_ENFORCE = frozenset({"resource"})
# The modules the hook runs: executed as private copies at install, never imported (none is in
# sys.modules after install, in any mode; the recorder and the Python core among them).
HOOK_MODULES = frozenset(
    "sandbox.runtime." + name if name else "sandbox.runtime"
    for name in private_modules.HOOK_MODULES
) - {"sandbox.runtime"}
# Loaded by install, not by the import (pathlib: its classes are captured at install).
INSTALL_ONLY = frozenset({"pathlib", "tokenize", "linecache", "sandbox.runtime.aws_calls"})
# With the Python core the kernel layer's system calls go through _ctypes (the native core
# makes them itself: _ctypes is never imported there). CPython 3.14's _ctypes imports
# ctypes._layout (so ctypes, and through it sysconfig and threading) when the ctypes path
# defines its types; install then drops ctypes from sys.modules (install.py,
# _forget_native_modules), the other two stay.
VIA_CTYPES_LAYOUT = (
    frozenset({"sysconfig", "threading"}) if sys.version_info >= (3, 14) else frozenset()
)
# Imported by the kernel layer's ctypes path only (and dropped again by install).
CTYPES_PATH = frozenset({"_ctypes", "sandbox.runtime.kernel.ctypes_calls"})

# Every module install may leave loaded (enforce, either core; learn), beyond what the script
# below imports itself (json, sys) in an interpreter started with -S. Anything else fails
# test_init_loads_only_the_listed_modules: each module costs ~40 µs of import machinery plus
# its body at every cold start, so a new one (runtime or standard library) is a decision to
# measure, not a side effect. (With the Python core, the kernel layer's ctypes path is loaded
# and dropped again.)
RUNTIME_AT_INIT = frozenset(
    {"sandbox", "sandbox.runtime"}
    | {
        "sandbox.runtime." + name
        for name in (
            "_core",
            "aws_calls",
            "config",
            "control",
            "errors",
            "install",
            "kernel",
            "private_modules",
        )
    }
)
# The standard library's part, as CPython 3.10/3.11 load it: os and its path module (-S loads
# neither), the extension modules the decoders capture (_ast, _socket, _posixsubprocess), the
# traceback readers whose code install records (linecache, tokenize), unicodedata (the real
# module the parser's names are normalized with, captured by the shape decoder), pathlib (its classes
# are captured at install; urllib.parse and ipaddress come with it).
STDLIB_AT_INIT = frozenset(
    {
        "__future__",
        "_ast",
        "_posixsubprocess",
        "_socket",
        "_stat",
        "collections.abc",
        "errno",
        "fnmatch",
        "gc",
        "genericpath",
        "importlib",
        "importlib._bootstrap",
        "importlib._bootstrap_external",
        "importlib.machinery",
        "ipaddress",
        "linecache",
        "ntpath",
        "os",
        "os.path",
        "pathlib",
        "posixpath",
        "stat",
        "token",
        "tokenize",
        "unicodedata",
        "urllib",
        "urllib.parse",
        "warnings",
    }
)
# What later interpreters' own modules add on the same imports: tokenize's C tokenizer (3.12),
# pathlib as a package (3.13, 3.14), warnings' Python half (3.14)...
STDLIB_SINCE = {
    (3, 12): frozenset({"_tokenize", "math"}),
    (3, 13): frozenset({"contextlib", "glob", "grp", "pathlib._abc", "pathlib._local", "pwd"}),
    (3, 14): frozenset({"_contextvars", "_py_warnings", "fcntl", "io", "pathlib._os"}),
}

# "ever": every module imported at all, dropped again or not (the import system's audit
# events, seen by a hook added before the sandbox's); "order": their names in that order.
SCRIPT = """
import json, sys
before = set(sys.modules)
ever = set()
order = []
def _seen(event, args):
    if event == "import":
        ever.add(args[0])
        order.append(args[0])
sys.addaudithook(_seen)
import sandbox
imported = sorted(set(sys.modules) - before)
status = sandbox.install(mode=sys.argv[1], profile=sys.argv[2])
installed = sorted(set(sys.modules) - before)
print("MODULES " + json.dumps({"import": imported, "install": installed, "ever": sorted(ever),
                               "order": order, "audit": status["layers"]["audit"],
                               "layers": status["layers"]}))
"""


def _modules(tmp_path: Path, mode: str, native: bool = True) -> dict[str, object]:
    profile = tmp_path / "profile.compiled.json"
    profile.write_text(json.dumps(compile_profile(profile_doc(), kernel=mode == "enforce")))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "AWS_LAMBDA"))}
    env.update(PYTHONPATH=str(REPO), LAMBDA_TASK_ROOT=str(tmp_path), PYTHONDONTWRITEBYTECODE="1")
    if not native:
        env["SANDBOX_NATIVE"] = "off"
    proc = subprocess.run(
        [sys.executable, "-S", "-c", SCRIPT, mode, str(profile)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES "))
    result: dict[str, object] = json.loads(line[len("MODULES ") :])
    return result


def test_import_sandbox_loads_only_the_runtime(tmp_path: Path) -> None:
    found = _modules(tmp_path, "enforce")
    imported = set(found["import"])  # type: ignore[call-overload]
    assert "sandbox.runtime.install" in imported
    assert not imported & (NEVER | LEARN_ONLY | INSTALL_ONLY)
    if found["audit"] == "native":
        assert not imported & PYTHON_CORE_ONLY


def test_enforce_loads_no_learning_and_no_tooling(tmp_path: Path) -> None:
    found = _modules(tmp_path, "enforce")
    installed = set(found["install"])  # type: ignore[call-overload]
    never = NEVER if found["audit"] == "native" else NEVER - VIA_CTYPES_LAYOUT
    assert not installed & (never | LEARN_ONLY)
    assert "sandbox.runtime.aws_calls" in installed
    if found["audit"] == "native":
        assert not installed & PYTHON_CORE_ONLY
    else:
        assert "sandbox.runtime.core_fallback" in installed


@pytest.mark.parametrize("native", [True, False])
def test_the_kernel_layer_loads_ctypes_only_without_the_native_core(
    tmp_path: Path, native: bool
) -> None:
    # GIVEN enforce with both kernel layers on (this host loads them)
    # WHEN the sandbox is imported and installed with either core
    found = _modules(tmp_path, "enforce", native=native)
    ever = set(found["ever"])  # type: ignore[call-overload]
    installed = set(found["install"])  # type: ignore[call-overload]
    layers: dict[str, str] = found["layers"]  # type: ignore[assignment]
    loaded = {layers["seccomp"], layers["landlock"]} & {"active", "denied-by-host"}
    if found["audit"] == "native":
        # THEN the native core makes the kernel's system calls: _ctypes is never imported
        assert not ever & (CTYPES_PATH | {"ctypes"}), sorted(ever & CTYPES_PATH)
    elif loaded:
        # THEN the Python core's path imports _ctypes (dropped again: the function's own
        # import of ctypes is a real one)
        assert ever >= CTYPES_PATH
    assert not installed & (CTYPES_PATH | {"ctypes"})


@pytest.mark.parametrize("native", [True, False])
def test_the_sandboxs_modules_are_imported_before_the_kernel_layer_loads(
    tmp_path: Path, native: bool
) -> None:
    # GIVEN enforce with the kernel layer on (from the moment Landlock loads, a write outside
    # the profile's folders is refused: a bytecode cache beside a module's source among them)
    # WHEN the sandbox is imported and installed with either core
    found = _modules(tmp_path, "enforce", native=native)
    order: list[str] = found["order"]  # type: ignore[assignment]
    own = [name for name in order if name.partition(".")[0] == "sandbox"]
    # THEN every module of the sandbox's that install imports comes before the kernel layer's
    # own (and its helpers): each can still write its cache where none was written yet, else
    # every later start would compile it again (aws_calls: ~8 ms on CPython 3.12)
    after = own[own.index("sandbox.runtime.kernel") + 1 :]
    assert [n for n in after if not n.startswith("sandbox.runtime.kernel.")] == []


@pytest.mark.parametrize(
    ("mode", "native"), [("enforce", True), ("enforce", False), ("learn", True)]
)
def test_the_hooks_modules_are_never_imported(tmp_path: Path, mode: str, native: bool) -> None:
    # GIVEN a fresh interpreter WHEN it imports sandbox and installs it
    found = _modules(tmp_path, mode, native=native)
    installed = set(found["install"])  # type: ignore[call-overload]
    # THEN none of the modules the hook runs is in sys.modules (they run as private copies):
    # the function's code finds none of them, and imports another copy if it asks
    assert not installed & HOOK_MODULES, sorted(installed & HOOK_MODULES)
    assert not installed & NEVER  # (learn loads no kernel layer)


@pytest.mark.parametrize(
    ("mode", "native"), [("enforce", True), ("enforce", False), ("learn", True)]
)
def test_init_loads_only_the_listed_modules(tmp_path: Path, mode: str, native: bool) -> None:
    # GIVEN a fresh interpreter (-S) that has imported only json and sys
    # WHEN it imports sandbox and installs it (either core; enforce with the kernel layer on)
    found = _modules(tmp_path, mode, native=native)
    installed = set(found["install"])  # type: ignore[call-overload]
    # THEN every module left loaded is one the cold start is known to need
    allowed = set(RUNTIME_AT_INIT | STDLIB_AT_INIT)
    for version, extra in STDLIB_SINCE.items():
        if sys.version_info >= version:
            allowed |= extra
    if sys.version_info >= (3, 13):
        # Install imports the interpreter's frozen modules not loaded yet (their unmarshal,
        # once the function runs, would be refused; install.py, _load_frozen_modules), and
        # what they import (importlib.util: importlib._abc).
        import _imp

        allowed |= {n for n in _imp._frozen_module_names() if not n.startswith("__")}
        allowed |= {"importlib._abc"}
    if found["audit"] == "python":
        allowed |= PYTHON_CORE_ONLY
        if mode == "enforce":
            allowed |= VIA_CTYPES_LAYOUT | PYTHON_CORE_ENFORCE
    if mode == "learn":
        allowed |= LEARN_ONLY
    unexpected = sorted(installed - allowed)
    assert not unexpected, f"new modules at init (each is paid at every cold start): {unexpected}"
    # AND the runtime's own modules are all there (the list above is not stale)
    runtime = {m for m in installed if m.startswith("sandbox")}
    assert runtime >= RUNTIME_AT_INIT - {"sandbox.runtime._core"}
