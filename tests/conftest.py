"""Shared fixtures: run Python code in a fresh child process (audit hooks cannot be removed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

REPO = Path(__file__).resolve().parent.parent


# Child-side helper: the installed hook's core, for tests that ask it about its state from the
# function's side (is this thread inside the callback?). The hook runs on private copies of the
# runtime's modules that nothing imports (an imported `sandbox.runtime.core` is another copy).
# The native core's state is its C extension's, shared by every copy. The Python core's private
# copy is found the way any code can find it: through the classes that core cannot take out of
# type.__subclasses__() (a documented limit of the Python core).
HOOKS_CORE = """
def hooks_core():
    import importlib, sys, types
    import sandbox
    if (sandbox.status() or {}).get("audit") == "native":
        return importlib.import_module("sandbox.runtime._core")
    seen, pending = set(), list(type.__subclasses__(object))
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, type):
            pending.extend(type.__subclasses__(obj))
            pending.extend(vars(obj).values())
        elif type(obj) is types.FunctionType:
            if str(obj.__globals__.get("__name__")).startswith("sandbox."):
                pending.append(obj.__globals__)
        elif type(obj) is dict:
            pending.extend(obj.values())
        elif type(obj) is types.ModuleType:
            name = obj.__name__
            if name.endswith(".core") and sys.modules.get(name) is not obj:
                return obj
            if name.startswith("sandbox.") and sys.modules.get(name) is not obj:
                pending.extend(vars(obj).values())
    raise RuntimeError("the hook's core was not found")
"""


# Child-side helper: run one operation, print whether the sandbox let it through.
def audit_only(core: str, **extra: str) -> dict[str, str]:
    """A child's environment with the kernel layers off (as on Lambda), on the chosen core
    (``"native"``, or ``"python"``: ``SANDBOX_NATIVE=off``)."""
    env = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off", **extra}
    if core == "python":
        env["SANDBOX_NATIVE"] = "off"
    return env


ATTEMPT = """
import sandbox as _sandbox
def attempt(label, fn):
    try:
        fn()
        print(label, "ALLOWED")
    except _sandbox.SandboxViolation as exc:
        print(label, "BLOCKED", type(exc).__name__, exc.category, exc.action)
"""

# Child-side helper: the positional arguments of ``_posixsubprocess.fork_exec`` (a private C
# function whose signature changes between CPython versions), as ``subprocess.Popen`` passes
# them: 3.10 has 21; 3.11 adds ``process_group`` and ``allow_vfork`` (23); 3.14 drops
# ``allow_vfork`` again (22, gh-121381). Fields: argv, executable list, close_fds, fds to keep,
# cwd, env, six std fds, the error pipe, restore_signals, start_new_session, [process_group],
# gid, extra_groups, uid, umask, preexec_fn, [allow_vfork].
FORK_EXEC_ARGS = """
import sys as _sys
def fork_exec_args(argv, executables, errpipe_read, errpipe_write, fds_to_keep=()):
    out = [argv, executables, True, tuple(fds_to_keep), None, None,
           -1, -1, -1, -1, -1, -1, errpipe_read, errpipe_write, False, False]
    if _sys.version_info >= (3, 11):
        out.append(-1)
    out += [None, None, None, -1, None]
    if (3, 11) <= _sys.version_info < (3, 14):
        out.append(False)
    return out
"""


@dataclass
class Child:
    """What a child process did: exit code, output, and the sandbox's JSON lines."""

    returncode: int
    stdout: str
    stderr: str
    records: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type") == kind]

    @property
    def observations(self) -> list[dict[str, Any]]:
        return self.of_type("sandbox.observation")

    @property
    def findings(self) -> list[dict[str, Any]]:
        return self.of_type("sandbox.finding")

    @property
    def lines(self) -> list[str]:
        """Plain (non-JSON) output lines, i.e. what the test code printed."""
        return [line for line in self.stdout.splitlines() if not line.startswith("{")]

    def result(self) -> dict[str, Any]:
        """The JSON object the test code printed after ``RESULT `` (fails when it printed none:
        the child's output is the message)."""
        line = next((x for x in self.lines if x.startswith("RESULT ")), None)
        assert line is not None, self.stdout + self.stderr
        return dict(json.loads(line[len("RESULT ") :]))


# The start of a child that installs enforce with ./profile.json and enters the invoke phase:
# BASE, A (allowed/) and S (secret/) name the task's folders; attempt(label, fn) records in
# `out` what fn returned, or "refused" (the sandbox's refusal), or the exception's type.
ENFORCE_ATTEMPTS = """
import json, os, sys
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
BASE = os.getcwd()
A, S = BASE + "/allowed", BASE + "/secret"
out = {}
def attempt(label, fn):
    try:
        out[label] = fn()
    except PermissionError as exc:  # (the sandbox's refusal is one)
        out[label] = "refused" if "lambda-sandbox blocked" in str(exc) else type(exc).__name__
    except Exception as exc:
        out[label] = type(exc).__name__
"""


def run_child(
    code: str,
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> Child:
    """Run ``code`` in a new interpreter with the repo importable; parse its JSON lines."""
    child_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "AWS_LAMBDA"))
    }
    child_env["PYTHONPATH"] = str(REPO)
    child_env["LAMBDA_TASK_ROOT"] = str(cwd)
    child_env["PYTHONDONTWRITEBYTECODE"] = "1"
    child_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    records = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return Child(proc.returncode, proc.stdout, proc.stderr, records)


def hostile(value: object) -> Any:
    """``value``, passed where its type says it should not be: the code under test must cope."""
    return value


def profile_doc(**rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A profile extending the runtime bundle with the given rules, e.g. ``files=[...]``."""
    return {"schema_version": 1, "function": "t", "extends": ["python-runtime"], "rules": rules}


def profile_from_observations(
    observations: list[dict[str, Any]],
    function: str = "test",
    extends: tuple[str, ...] = ("python-runtime",),
) -> dict[str, Any]:
    """A profile holding exactly the observed targets (literal rules, phase as observed)."""
    rules: dict[str, list[dict[str, Any]]] = {}
    for obs in observations:
        rule: dict[str, Any] = {
            "action": obs["action"],
            "target": obs["target"],
            "phase": obs["phase"],
        }
        if "argv" in obs:
            rule["argv"] = obs["argv"]
        if rule not in rules.setdefault(obs["category"], []):
            rules[obs["category"]].append(rule)
    return {"schema_version": 1, "function": function, "extends": list(extends), "rules": rules}


class RunChild(Protocol):
    """The ``child`` fixture: run code in a fresh interpreter, return what it did."""

    def __call__(
        self,
        code: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 60,
    ) -> Child: ...


@pytest.fixture
def child(tmp_path: Path) -> RunChild:
    """``child(code, env=...)``: run code in a subprocess whose task root is ``tmp_path``."""

    def run(
        code: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 60,
    ) -> Child:
        return run_child(code, cwd=cwd or tmp_path, env=env, timeout=timeout)

    return run


@pytest.fixture(autouse=True)
def _no_child_process_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the path resolver's "a child process exists" state off.

    It is process-wide (``paths._STATE``): a test that makes the sandbox see a child would
    change how every later test in the same process resolves a ``..`` (refused once a child
    exists, where a child could move the folder it climbs over)."""
    from sandbox.runtime import paths

    monkeypatch.setitem(paths._STATE, "validate", False)
