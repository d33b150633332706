"""Refusals that must leave a record: the sandbox's own writes cannot be made to fail silently.

Each case runs in its own child process, on both cores. Round 31's findings: a function that
ignores ``SIGXFSZ`` and sets ``RLIMIT_FSIZE`` to the size its findings file already has makes
every later write of a record fail with ``EFBIG``; the sink used to drop those errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Child, RunChild, profile_doc

AUDIT_ALONE = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}
CORES = {"native": {}, "python": {"SANDBOX_NATIVE": "off"}}

HARNESS = """
import os, sys, resource, signal
import sandbox
from sandbox.runtime.control import mark_invoke_phase, begin_invocation
sandbox.install(mode={mode!r}, profile="profile.json")
mark_invoke_phase()
begin_invocation("req-1", {{"source_ip": "192.0.2.1"}})
def attempt(label, fn):
    try:
        result = fn()
        print(label, "DONE", repr(result)[:60], flush=True)
    except PermissionError as exc:
        print(label, "REFUSED", getattr(exc, "category", "?"), getattr(exc, "action", "?"),
              flush=True)
    except Exception as exc:
        print(label, "ERROR", type(exc).__name__, str(exc)[:80], flush=True)
def secret():
    return open("secret.txt").read()
"""

OWN_LIMITS = [
    {"action": "kill", "target": "self:setrlimit:RLIMIT_FSIZE", "phase": "any"},
]


def _profile(tmp_path: Path, **rules: list[dict[str, Any]]) -> None:
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(**rules)))
    (tmp_path / "secret.txt").write_text("s3cr3t")


def _outcomes(result: Child) -> dict[str, str]:
    return {line.split(" ", 2)[0]: line.split(" ", 2)[1] for line in result.lines if " " in line}


@pytest.mark.parametrize("core", sorted(CORES))
def test_lowering_a_limit_the_sandbox_needs_on_itself_is_decided(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with a profile that names no limit
    _profile(tmp_path)
    # WHEN the function lowers its own file size, descriptor and memory limits (setrlimit, and
    # prlimit of pid 0 and of its own pid), and sets limits that take nothing from the sandbox
    attack = """
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
attempt("fsize", lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (10, resource.RLIM_INFINITY)))
attempt("nofile", lambda: resource.prlimit(0, resource.RLIMIT_NOFILE, (8, hard)))
attempt("as", lambda: resource.prlimit(os.getpid(), resource.RLIMIT_AS, (1 << 40, -1)))
attempt("core", lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)))
attempt("read-own", lambda: resource.prlimit(0, resource.RLIMIT_FSIZE))
attempt("unlimited", lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (-1, -1)))
print("fsize-now", resource.getrlimit(resource.RLIMIT_FSIZE)[0])
"""
    result = child(HARNESS.format(mode="enforce") + attack, env={**AUDIT_ALONE, **CORES[core]})
    outcome = _outcomes(result)
    # THEN the limits that would make the sandbox's writes, opens or allocations fail are
    # refused and reported (processes kill self:setrlimit:RLIMIT_<NAME>); the limit is unchanged
    assert outcome["fsize"] == "REFUSED", result.stdout + result.stderr
    assert outcome["nofile"] == "REFUSED"
    assert outcome["as"] == "REFUSED"
    assert {
        "self:setrlimit:RLIMIT_FSIZE",
        "self:setrlimit:RLIMIT_NOFILE",
        "self:setrlimit:RLIMIT_AS",
    } <= {f["target"] for f in result.findings if f["category"] == "processes"}
    assert "fsize-now -1" in result.lines
    # AND a core dump limit of 0, a read of its own limits and an unlimited value pass
    assert outcome["core"] == "DONE"
    assert outcome["read-own"] == "DONE"
    assert outcome["unlimited"] == "DONE"


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_learned_limit_is_allowed(child: RunChild, tmp_path: Path, core: str) -> None:
    # GIVEN a profile that learned the function's own RLIMIT_FSIZE
    _profile(tmp_path, processes=OWN_LIMITS)
    # WHEN it sets it
    attack = """
attempt("fsize", lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 30, -1)))
"""
    result = child(HARNESS.format(mode="enforce") + attack, env={**AUDIT_ALONE, **CORES[core]})
    # THEN it is allowed, with no finding
    assert _outcomes(result)["fsize"] == "DONE", result.stdout + result.stderr
    assert not result.findings


# Before install: the core dump limit the process inherits, as high as it can be raised (a
# shell's `ulimit -c unlimited`, a container's default).
CORE_RAISED = """
import resource
try:
    resource.setrlimit(resource.RLIMIT_CORE, (-1, -1))
except (ValueError, OSError):
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
print("inherited", resource.getrlimit(resource.RLIMIT_CORE)[0], flush=True)
"""


@pytest.mark.parametrize("core", sorted(CORES))
def test_core_dumps_are_switched_off_and_raising_their_limit_is_decided(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a process that inherits a core dump limit above 0, enforcing a profile that names
    # no limit (a core dump is a file the kernel writes with no audit event: red team 129)
    _profile(tmp_path)
    # WHEN the function reads the limit, raises it, and sets it to 0 itself
    attack = """
print("now", resource.getrlimit(resource.RLIMIT_CORE)[0])
hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
attempt("raise", lambda: resource.setrlimit(resource.RLIMIT_CORE, (-1, -1)))
attempt("raise-prlimit", lambda: resource.prlimit(0, resource.RLIMIT_CORE, (1 << 20, hard)))
attempt("raise-list", lambda: resource.setrlimit(resource.RLIMIT_CORE, [0, hard]))
attempt("zero", lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, hard)))
print("after", resource.getrlimit(resource.RLIMIT_CORE)[0])
"""
    result = child(
        CORE_RAISED + HARNESS.format(mode="enforce") + attack, env={**AUDIT_ALONE, **CORES[core]}
    )
    outcome = _outcomes(result)
    # THEN install set the soft limit to 0, and every raise of it (or a list, which CPython
    # reads again after the event) is refused and reported; setting 0 passes
    assert "now 0" in result.lines, result.stdout + result.stderr
    assert outcome["raise"] == "REFUSED"
    assert outcome["raise-prlimit"] == "REFUSED"
    assert outcome["raise-list"] == "REFUSED"
    assert outcome["zero"] == "DONE"
    assert "after 0" in result.lines
    assert {f["target"] for f in result.findings if f["category"] == "processes"} == {
        "self:setrlimit:RLIMIT_CORE"
    }


def _core_pattern() -> str:
    try:
        return Path("/proc/sys/kernel/core_pattern").read_text().strip()
    except OSError:
        return ""


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_child_that_dumps_core_writes_no_file(child: RunChild, tmp_path: Path, core: str) -> None:
    pattern = _core_pattern()
    if not pattern or pattern.startswith("|") or "/" in pattern:
        # (a program receives the dump, or it goes to a fixed folder: not this test's case,
        # and a crash here would hand the machine's own handler a dump)
        pytest.skip(f"core_pattern {pattern!r} is not a plain file name")
    # GIVEN enforce in a process that inherits a core dump limit above 0, allowed to fork
    _profile(tmp_path, processes=[{"action": "fork", "target": "fork", "phase": "any"}])
    # WHEN a forked child ends on SIGQUIT (no audit event: its default action dumps core, a
    # file the kernel makes in the working directory, outside every rule here)
    attack = """
print("inherited-now", resource.getrlimit(resource.RLIMIT_CORE)[0], flush=True)
pid = os.fork()
if pid == 0:
    signal.raise_signal(signal.SIGQUIT)
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("signalled", os.WTERMSIG(status), "dumped", bool(os.WCOREDUMP(status)))
"""
    result = child(
        CORE_RAISED + HARNESS.format(mode="enforce") + attack, env={**AUDIT_ALONE, **CORES[core]}
    )
    # THEN the child ended on the signal and no core file was written
    assert "signalled 3 dumped False" in result.lines, result.stdout + result.stderr
    assert not [name for name in os.listdir(tmp_path) if name.startswith("core")]


FSIZE_ATTACK = """
attempt("control", secret)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
# every file the sandbox writes to is already some bytes long: no file may grow any more
sizes = [os.fstat(1).st_size, os.fstat(2).st_size, os.stat(os.environ["FF"]).st_size]
resource.setrlimit(resource.RLIMIT_FSIZE, (min(sizes), resource.RLIM_INFINITY))
try:
    open("/etc/shadow").read()
except PermissionError:
    pass
try:
    os.write(2, b"still running\\n")  # (a pipe, or a file that cannot grow either)
except OSError:
    pass
os._exit(0)
"""


def _run_to_files(tmp_path: Path, core: str, stderr_to_file: bool) -> tuple[int, str, str, str]:
    _profile(tmp_path, processes=OWN_LIMITS)
    findings_file = tmp_path / "findings.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "AWS_LAMBDA"))}
    env.update(AUDIT_ALONE, **CORES[core])
    env.update(
        PYTHONPATH=str(REPO),
        LAMBDA_TASK_ROOT=str(tmp_path),
        PYTHONDONTWRITEBYTECODE="1",
        SANDBOX_FINDINGS_FILE=str(findings_file),
        FF=str(findings_file),
    )
    out_path, err_path = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with open(out_path, "wb") as out, open(err_path, "wb") as err_file:
        proc = subprocess.run(
            [sys.executable, "-c", HARNESS.format(mode="enforce") + FSIZE_ATTACK],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=err_file if stderr_to_file else subprocess.PIPE,
            timeout=60,
        )
    err = err_path.read_text() if stderr_to_file else proc.stderr.decode()
    return proc.returncode, out_path.read_text(), findings_file.read_text(), err


@pytest.mark.parametrize("core", sorted(CORES))
def test_an_rlimit_fsize_that_fails_every_file_write_is_reported_as_tampering(
    tmp_path: Path, core: str
) -> None:
    # GIVEN enforce, a findings file, stdout sent to a regular file, stderr a pipe, and a
    # profile that allows the function its own RLIMIT_FSIZE
    # WHEN it ignores SIGXFSZ, caps file growth at the current sizes and reaches for a secret
    code, out, findings, err = _run_to_files(tmp_path, core, stderr_to_file=False)
    # THEN both failed writes (EFBIG) are tampering: written to what remains (stderr), with the
    # refused read's finding: nothing refused goes unreported
    tamper = [json.loads(line) for line in err.splitlines() if '"sandbox.tamper"' in line]
    assert tamper and any("EFBIG" in t["what"] for t in tamper), err
    shadow = [
        json.loads(line)
        for line in err.splitlines()
        if '"sandbox.finding"' in line and "/etc/shadow" in line
    ]
    assert shadow and shadow[0]["decision"] == "blocked", err
    assert code == 0 and "still running" in err  # (a channel took the line: enforce goes on)
    # AND the control finding before the limit reached both files
    assert "secret.txt" in findings and "secret.txt" in out


@pytest.mark.parametrize("core", sorted(CORES))
def test_when_no_channel_takes_a_finding_enforce_stops_the_process(
    tmp_path: Path, core: str
) -> None:
    # GIVEN the same, with stderr a regular file as well (a container runtime's log files)
    # WHEN every write of the refused read's finding fails
    code, out, findings, err = _run_to_files(tmp_path, core, stderr_to_file=True)
    # THEN enforce ends the process (status 70) before the function goes on unwatched
    assert code == 70, (code, out, err)
    assert "still running" not in err
    assert "/etc/shadow" not in findings


# A Python child reports where its parent reports, whatever stderr the parent gives it.
CHILD_RULES: dict[str, list[dict[str, Any]]] = {
    "processes": [
        {"action": "exec", "target": sys.executable, "argv": ["-c", "*"], "phase": "any"},
        {
            "action": "exec",
            "target": os.path.realpath(sys.executable),
            "argv": ["-c", "*"],
            "phase": "any",
        },
    ],
    "code": [{"action": "compile", "target": "<unknown>:<unknown>", "phase": "any"}],
}

CHILD_ATTACK = """
import subprocess
CHILD = "open('secret.txt').read()"
for how in ("devnull", "capture"):
    kwargs = {"stderr": subprocess.DEVNULL} if how == "devnull" else {"capture_output": True}
    done = subprocess.run([sys.executable, "-c", CHILD], **kwargs)
    print("child", how, done.returncode, flush=True)
"""


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_python_childs_refusal_reaches_the_parents_stream_whatever_its_stderr(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce, a profile that lets the function start Python children
    _profile(tmp_path, **CHILD_RULES)
    # WHEN it starts children with stderr=DEVNULL and capture_output=True, each reading a secret
    result = child(
        HARNESS.format(mode="enforce") + CHILD_ATTACK, env={**AUDIT_ALONE, **CORES[core]}
    )
    # THEN each child is refused, and its finding is on the parent's report stream (stdout),
    # written by the child (its pid is not the parent's)
    assert "child devnull 1" in result.lines, result.stdout + result.stderr
    assert "child capture 1" in result.lines
    starts = result.of_type("sandbox.start")
    assert len(starts) == 3, result.stdout  # the parent's and each child's, on the parent's stdout
    children = [
        f for f in result.findings if f["target"] == "{task}/secret.txt" and f["action"] == "read"
    ]
    assert len(children) == 2, result.stdout


def _parent_env(tmp_path: Path, core: str) -> dict[str, str]:
    """The profile for Python children, and the environment of a parent started by hand (its
    stdout one the test chooses, which the harness's child fixture does not let it)."""
    _profile(tmp_path, **CHILD_RULES)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "AWS_LAMBDA"))}
    env.update(AUDIT_ALONE, **CORES[core])
    env.update(PYTHONPATH=str(REPO), LAMBDA_TASK_ROOT=str(tmp_path), PYTHONDONTWRITEBYTECODE="1")
    return env


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_python_child_appends_to_a_parents_stream_that_is_a_file(
    tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with stdout a regular file (`> log`), no O_APPEND of its own
    env = _parent_env(tmp_path, core)
    attack = CHILD_ATTACK + "\nattempt('after', secret)\n"
    out_path = tmp_path / "stdout.log"
    with open(out_path, "wb") as out:
        proc = subprocess.run(
            [sys.executable, "-c", HARNESS.format(mode="enforce") + attack],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    # WHEN the children (stderr elsewhere) and then the parent write findings
    lines = out_path.read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    # THEN no line was overwritten: every JSON line parses, the children's two findings and the
    # parent's own are all there
    assert proc.returncode == 0, proc.stderr
    assert len([r for r in records if r["type"] == "sandbox.start"]) == 3, lines
    secret = [r for r in records if r.get("target") == "{task}/secret.txt"]
    assert len(secret) == 3, lines
    assert "after REFUSED files read" in lines


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_python_child_that_cannot_reach_the_parents_stream_fails_closed(
    tmp_path: Path, core: str
) -> None:
    # GIVEN enforce whose stdout is a socket (/proc/<pid>/fd/<fd> of a socket cannot be opened)
    import socket

    env = _parent_env(tmp_path, core)
    attack = """
import subprocess
done = subprocess.run([sys.executable, "-c", "print('child ran')"], capture_output=True)
os.write(2, b"child-rc %d " % done.returncode + done.stderr[-300:] + b"\\n")
"""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        proc = subprocess.Popen(
            [sys.executable, "-c", HARNESS.format(mode="enforce") + attack],
            cwd=tmp_path,
            env=env,
            stdout=theirs.fileno(),
            stderr=subprocess.PIPE,
        )
        theirs.close()
        _, err = proc.communicate(timeout=60)
    # WHEN it starts a Python child whose stderr it captures
    # THEN the child does not run unwatched: it exits 70, saying why on the stderr it has
    text = err.decode()
    assert "child-rc 70" in text, text
    assert "report stream" in text


MP_RULES: dict[str, list[dict[str, Any]]] = {
    "processes": [
        {"action": "exec", "target": sys.executable, "phase": "any"},
        {"action": "exec", "target": os.path.realpath(sys.executable), "phase": "any"},
    ],
    "modules": [{"action": "import", "target": "_posixshmem", "phase": "any"}],
    "files": [{"action": "list", "target": "{task}", "phase": "any"}],
    "code": [{"action": "compile", "target": "<unknown>:<unknown>", "phase": "any"}],
}


def test_a_spawned_child_started_with_fd_2_over_dev_null_still_reports(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN enforce (native core: on the Python core a spawned child stops before its read,
    # red team 31b finding 3a) and a profile that lets the function use multiprocessing's spawn
    _profile(tmp_path, **MP_RULES)
    # WHEN it puts /dev/null over fd 2 while a spawned child reads a secret (a builtin target)
    attack = """
import multiprocessing as mp
if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    saved = os.dup(2)
    os.dup2(os.open("/dev/null", os.O_WRONLY), 2)
    p = ctx.Process(target=open, args=("/etc/hostname",)); p.start(); p.join(30)
    os.dup2(saved, 2)
    print("child exit", p.exitcode, flush=True)
"""
    result = child(HARNESS.format(mode="enforce") + attack, env=AUDIT_ALONE)
    # THEN the child is refused and its finding reaches the parent's stdout
    assert "child exit 1" in result.lines, result.stdout + result.stderr
    assert "/etc/hostname" in {f["target"] for f in result.findings}, result.stdout


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_python_childs_findings_name_the_invocation_that_started_it(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce, a profile that lets the function start `python -c ...` children, and three
    # invocations: the first decided by the hook's callback, the next ones (after an end) by
    # the core's own answer to a start
    _profile(tmp_path, **CHILD_RULES)
    attack = """
import subprocess
from sandbox.runtime.control import end_invocation
READ = "import os; print(os.environ.get('SANDBOX_REQUEST_ID') or '-'); open('secret.txt').read()"
def run_child():
    done = subprocess.run([sys.executable, "-c", READ], capture_output=True, text=True)
    print("child", done.returncode, done.stdout.strip(), flush=True)
run_child()                                  # in req-1 (the harness began it)
end_invocation()
begin_invocation("req-2", {})
run_child()
end_invocation()
begin_invocation("req 3", {})                # not a request id a label can carry: none
run_child()
end_invocation()
begin_invocation("req-4", {})
run_child()
end_invocation()
begin_invocation("req-5\\x00req-4", {})      # a NUL would cut it short into another id
run_child()
"""
    result = child(HARNESS.format(mode="enforce") + attack, env={**AUDIT_ALONE, **CORES[core]})
    # WHEN each invocation starts a Python child that reads a file no rule allows
    children = [line.split(" ") for line in result.lines if line.startswith("child ")]
    # THEN each child saw its invocation's request id, and was refused
    assert [children[i][2] for i in (0, 1, 3, 4)] == ["req-1", "req-2", "req-4", "-"], result.stdout
    assert all(c[1] == "1" for c in children), result.stdout + result.stderr
    # AND each child's finding, written to the parent's stream, carries that request id (none
    # for one a label cannot carry)
    reads = [f for f in result.findings if f["action"] == "read" and "secret" in f["target"]]
    assert [f["request_id"] for f in reads] == ["req-1", "req-2", None, "req-4", None], reads
