"""CPython 3.14's new audit events, decoded and enforced by the audit layer alone.

3.14 raises ``_posixsubprocess.fork_exec`` for every fork/exec that does not go through
``posix_spawn`` (gh-115322) and ``sys.remote_exec`` when a process injects a script into another
Python process (PEP 768). Both are refused in enforce mode when the profile does not grant them,
with the kernel layer off, so the audit hook alone is what stops them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ATTEMPT, FORK_EXEC_ARGS, RunChild, profile_doc

AUDIT_ONLY = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}

# A direct call, as native-free code that wants to dodge subprocess.Popen would write it.
FORK_EXEC = (
    ATTEMPT
    + FORK_EXEC_ARGS
    + """
import os, sandbox
status = sandbox.install(mode="enforce", profile="profile.json")
print("layers", status["layers"]["seccomp"], status["layers"]["landlock"])
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
import _posixsubprocess
r, w = os.pipe()
def run():
    argv = [b"/usr/bin/touch", b"ran-forkexec"]
    pid = _posixsubprocess.fork_exec(*fork_exec_args(argv, [b"/usr/bin/touch"], r, w, (w,)))
    os.waitpid(pid, 0)
attempt("fork_exec", run)
print("ran", os.path.exists("ran-forkexec"))
"""
)

# The target is started before the sandbox is installed, then a first injection (no sandbox
# yet) shows that remote execution works on this machine; the second one runs under enforce.
REMOTE_EXEC = (
    ATTEMPT
    + """
import os, subprocess, sys, time
TARGET = '''
import os, select, sys
print("ready", flush=True)
while not select.select([sys.stdin], [], [], 0.05)[0]:
    pass  # executes bytecode, so an injected script gets its chance to run
'''
target = subprocess.Popen(
    [sys.executable, "-c", TARGET], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=os.getcwd()
)
target.stdout.readline()  # its interpreter is initialised
for name in ("control", "injected"):  # the scripts are written while nothing is enforced
    with open(name + ".py", "w") as fh:
        fh.write(f"open({os.path.abspath(name + '.ran')!r}, 'w').close()\\n")
def inject(name):
    sys.remote_exec(target.pid, os.path.abspath(name + ".py"))
    return name + ".ran"
try:
    control = inject("control")
    deadline = time.monotonic() + 30
    while not os.path.exists(control) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("control", os.path.exists(control))
except Exception as exc:  # remote debugging not permitted here (ptrace policy, capabilities)
    print("control", "unavailable", type(exc).__name__, exc)
    raise SystemExit(0)
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
attempt("remote_exec", lambda: inject("injected"))
"""
)


def _outcome(lines: list[str]) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in lines if " " in line)


@pytest.mark.skipif(
    sys.version_info < (3, 14),
    reason="no _posixsubprocess.fork_exec audit event before CPython 3.14 (gh-115322)",
)
def test_direct_fork_exec_of_an_unlearned_program_is_refused_by_the_audit_layer(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN enforce with a profile that runs no program, and the kernel layer off
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function calls _posixsubprocess.fork_exec directly
    result = child(FORK_EXEC, env=AUDIT_ONLY)
    assert result.returncode == 0, result.stderr
    outcome = _outcome(result.lines)
    assert outcome["layers"] == "off off", result.stdout
    # THEN the audit hook refuses the exec before the fork and the program never ran
    assert outcome["fork_exec"] == "BLOCKED PermissionViolation processes exec", result.stdout
    assert outcome["ran"] == "False"
    # ... and the finding names the program that was about to run
    assert any(f["target"] == "/usr/bin/touch" for f in result.findings), result.findings


@pytest.mark.skipif(
    not hasattr(sys, "remote_exec"),
    reason="sys.remote_exec (PEP 768) and its audit event exist from CPython 3.14",
)
def test_remote_exec_into_a_child_is_refused(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a Python child of the function, and enforce with a profile granting no injection
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function injects a script into it with sys.remote_exec
    result = child(REMOTE_EXEC, env=AUDIT_ONLY)
    assert result.returncode == 0, result.stderr
    outcome = _outcome(result.lines)
    if outcome["control"] != "True":
        pytest.skip(f"remote execution does not work on this machine: {outcome['control']}")
    # THEN the call is refused by the audit hook before it reaches the target
    assert outcome["remote_exec"] == "BLOCKED PermissionViolation processes inject", result.stdout
    assert not (tmp_path / "injected.ran").exists()
    assert any(f["category"] == "processes" for f in result.findings), result.findings
