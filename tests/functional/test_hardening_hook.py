"""Hardening II: what an attacker inside the process does to the hook itself (one subprocess per case).

The audit layer alone holds each of these wherever Python can hold it; where only the native
core can (state reachable through frames of the Python core), the limit is stated by a test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.runtime.values import SHAPE_FILE
from tests.conftest import HOOKS_CORE, REPO, Child, RunChild, profile_doc

AUDIT_ALONE = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}

HARNESS = (
    HOOKS_CORE.replace("{", "{{").replace("}", "}}")
    + """
import os, sys, socket, subprocess, threading
import sandbox
from sandbox.runtime.control import mark_invoke_phase, begin_invocation, end_invocation
# (the importable modules some attacks change: imported before the sandbox, as by any code)
import sandbox.runtime.hook, sandbox.runtime.core_fallback
sandbox.install(mode={mode!r}, profile="profile.json")
mark_invoke_phase()
def attempt(label, fn):
    try:
        result = fn()
        print(label, "DONE", repr(result)[:60])
    except PermissionError as exc:
        print(label, "REFUSED", getattr(exc, "category", "?"), getattr(exc, "action", "?"))
    except Exception as exc:
        print(label, "ERROR", type(exc).__name__, str(exc)[:80])
def secret():
    return open("secret.txt").read()
"""
)


def _run(
    child: RunChild,
    tmp_path: Path,
    attack: str,
    rules: dict[str, list[dict[str, Any]]] | None = None,
    mode: str = "enforce",
    env: dict[str, str] | None = None,
    staged: str = "",
) -> Child:
    """Run ``attack`` in the harness; ``staged`` runs before the sandbox is installed (what
    the deployment holds when it starts, such as links made there)."""
    doc = profile_doc(
        **(
            rules
            or {
                "processes": [
                    {
                        "action": "exec",
                        "target": "/usr/bin/wc",
                        "argv": ["-c", "{task}/allowed.txt"],
                        "phase": "any",
                    }
                ]
            }
        )
    )
    (tmp_path / "profile.json").write_text(json.dumps(doc))
    (tmp_path / "secret.txt").write_text("s3cr3t")
    (tmp_path / "allowed.txt").write_text("ok")
    return child(staged + HARNESS.format(mode=mode) + attack, env={**AUDIT_ALONE, **(env or {})})


def _outcomes(result: Child) -> dict[str, str]:
    return {line.split(" ", 2)[0]: line.split(" ", 2)[1] for line in result.lines if " " in line}


def test_class1_a_later_audit_hook_is_refused(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a learned `wc -c allowed.txt` WHEN the function adds an audit hook that rewrites
    # the argv list of the allowed Popen between the sandbox's decision and the fork
    attack = """
def rewrite(event, args):
    if event == "subprocess.Popen" and isinstance(args[1], list):
        args[1][:] = ["/bin/sh", "-c", "cat secret.txt"]
attempt("add-hook", lambda: sys.addaudithook(rewrite))
out = subprocess.run(["/usr/bin/wc", "-c", os.path.abspath("allowed.txt")], capture_output=True, text=True)
print("ran", "s3cr3t" in out.stdout)
"""
    result = _run(child, tmp_path, attack)
    # THEN the new hook never runs (refused: CPython drops a hook an existing hook objects to)
    # and the learned command runs as decided
    assert "ran False" in result.lines, result.stdout + result.stderr
    assert any(f["category"] == "code" and f["action"] == "hook" for f in result.findings)


def test_class4_rebinding_builtins_and_stdlib_changes_no_decision(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the function rebinds the builtins and the stdlib functions a Python hook might call
    attack = """
import builtins, posixpath, os.path, json
builtins.isinstance = lambda *a: True
builtins.len = lambda *a: 0
builtins.type = lambda *a: str
posixpath.abspath = lambda p: "/var/task/allowed.txt"
os.path.realpath = lambda p, **k: "/var/task/allowed.txt"
sys._getframe = lambda *a: None
json.dumps = lambda *a, **k: ""
attempt("read-secret", secret)
attempt("environ", lambda: open("/proc/self/environ").read())
"""
    result = _run(child, tmp_path, attack)
    outcome = _outcomes(result)
    # THEN every decision is the same: the hook runs on private copies bound at install
    assert outcome["read-secret"] == "REFUSED", result.stdout + result.stderr
    assert outcome["environ"] == "REFUSED"
    assert {"{task}/secret.txt"} <= {f["target"] for f in result.findings}


def test_class2_state_reachable_through_gc_is_refused(child: RunChild, tmp_path: Path) -> None:
    # GIVEN enforce WHEN the function looks for the hook's containers through gc
    attack = """
import gc
attempt("gc-objects", lambda: len(gc.get_objects()))
attempt("gc-referrers", lambda: gc.get_referrers(sys.modules))
attempt("current-frames", lambda: sys._current_frames())
attempt("read-secret", secret)
"""
    outcome = _outcomes(_run(child, tmp_path, attack))
    # THEN every way in is refused (introspection is a capability the profile never learned)
    assert outcome == {
        k: "REFUSED" for k in ("gc-objects", "gc-referrers", "current-frames", "read-secret")
    }


GC_MUTATION = """
import gc
for obj in list(gc.get_objects()):
    try:
        if type(obj) is dict:
            for key in list(obj):
                if type(key) is str and key.startswith("files"):
                    obj[key] = True
        elif type(obj) is set:
            obj.add("files\\x1fread\\x1finvoke\\x1f" + os.path.abspath("secret.txt"))
    except Exception:
        pass
attempt("read-secret", secret)
"""


def test_class2_python_core_limit_state_mutated_through_gc_when_allowed(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a profile that learned gc introspection at the attacker's site (the one way in)
    rules = {"code": [{"action": "introspect", "target": "**", "phase": "any"}]}
    result = _run(child, tmp_path, GC_MUTATION, rules, env={"SANDBOX_NATIVE": "off"})
    # THEN with the Python core (documented limit) its decision cache is a set gc can reach:
    # adding the key makes the read look decided. The native core keeps it in C memory.
    assert _outcomes(result)["read-secret"] in ("DONE", "REFUSED")
    if _outcomes(result)["read-secret"] == "DONE":
        assert result.of_type("sandbox.start")[0]["layers"]["audit"] == "python"


def test_class5_tracing_and_profiling_callbacks_are_refused(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN enforce WHEN the function installs trace or profile callbacks to observe or rewrite
    # the hook's frames (a __cantrace__ attribute set on anything changes nothing without them)
    attack = """
attempt("settrace", lambda: sys.settrace(lambda *a: None))
attempt("setprofile", lambda: sys.setprofile(lambda *a: None))
attempt("thread-settrace", lambda: threading.settrace(lambda *a: None) or sys.settrace(None))
attempt("read-secret", secret)
"""
    outcome = _outcomes(_run(child, tmp_path, attack))
    # THEN they are refused
    assert outcome["settrace"] == "REFUSED" and outcome["setprofile"] == "REFUSED"
    assert outcome["read-secret"] == "REFUSED"


def test_class3_a_signal_handler_running_inside_the_hook_is_still_audited(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a signal handler that fires very often, reading the secret whenever it runs —
    # including while the hook is deciding something (it runs between the hook's bytecodes)
    attack = """
import signal
got, busy = [], []
def handler(signum, frame):
    if busy:
        return  # (a signal inside the handler itself: on a loaded machine they would pile up)
    busy.append(1)
    try:
        got.append(open("secret.txt").read())
    except PermissionError:
        got.append("refused")
    finally:
        busy.pop()
signal.signal(signal.SIGALRM, handler)
# (every 0.3 ms: at 0.1 ms a stalled shared VM piled handler frames up past the recursion limit,
# each one entered before the one below had returned)
signal.setitimer(signal.ITIMER_REAL, 0.0003, 0.0003)
for i in range(6000):
    try:
        open("allowed.txt").read()
    except PermissionError:
        pass
signal.setitimer(signal.ITIMER_REAL, 0)
print("handler-ran", len(got) > 0, "secret-read", "s3cr3t" in got)
"""
    rules = {"files": [{"action": "read", "target": "{task}/allowed.txt", "phase": "any"}]}
    result = _run(child, tmp_path, attack, rules)
    # THEN whenever it ran, the secret stayed refused
    assert "handler-ran True secret-read False" in result.lines, (
        result.stdout[-2000:] + result.stderr
    )


def test_class6_adopting_a_descriptor_the_sandbox_did_not_see_is_decided(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a socket the process holds (as the runtime client holds its keep-alive connection)
    attack = """
a, b = socket.socketpair()
attempt("adopt-any", lambda: socket.socket(fileno=os.dup(a.fileno())))
"""
    outcome = _outcomes(_run(child, tmp_path, attack))
    # THEN wrapping a descriptor of unknown kind is refused (decided as an adoption)
    assert outcome["adopt-any"] == "REFUSED"


def test_class9_exec_and_resolver_are_modelled_as_the_kernel_does(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a learned `sh -c true` and a rule for /bin/sh WHEN the function puts a fake sh in
    # a directory it controls and runs Popen with cwd= there and a relative PATH entry
    (tmp_path / "evil").mkdir()
    fake = tmp_path / "evil" / "sh"
    fake.write_text("#!/bin/sh\necho PWNED\n")
    fake.chmod(0o755)
    attack = """
attempt("relative-path-entry", lambda: subprocess.run(["sh", "-c", "true"], cwd="evil",
        env={"PATH": ".:/usr/bin:/bin"}, capture_output=True, text=True).stdout)
attempt("localdomain", lambda: os.putenv("LOCALDOMAIN", "attacker.example"))
attempt("res-options", lambda: os.environ.__setitem__("RES_OPTIONS", "ndots:15"))
attempt("kill-group", lambda: os.kill(0, 0))
"""
    rules = {
        "processes": [
            {"action": "exec", "target": "/bin/sh", "argv": ["-c", "true"], "phase": "any"}
        ]
    }
    outcome = _outcomes(_run(child, tmp_path, attack, rules))
    # THEN the program found in the child's cwd (what would really run) is refused, the
    # resolver's environment cannot be redirected, and pid 0 is the whole group, not "self"
    assert outcome["relative-path-entry"] == "REFUSED"
    assert outcome["localdomain"] == "REFUSED" and outcome["res-options"] == "REFUSED"
    assert outcome["kill-group"] == "REFUSED"


def test_class10_findings_cannot_be_blinded_or_redirected(child: RunChild, tmp_path: Path) -> None:
    # GIVEN alert mode WHEN the function puts /dev/null over every descriptor the sandbox may
    # write to but stderr, and forges a code object's file name
    attack = """
devnull = os.open("/dev/null", os.O_WRONLY)
for fd in range(3, 64):
    try:
        if fd != devnull:
            os.fstat(fd); os.dup2(devnull, fd)
    except OSError:
        pass
attempt("read-secret", secret)
code = (lambda: 0).__code__
attempt("forged-filename", lambda: code.replace(co_filename="/var/task/innocent.py"))
"""
    result = _run(child, tmp_path, attack, mode="alert")
    # THEN the tampering itself is reported on what remains (stderr), and the forged code
    # object is a finding of its own (built by hand, never compiled)
    assert "sandbox.tamper" in result.stderr
    assert "{task}/secret.txt" in result.stderr or "{task}/secret.txt" in result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
def test_class10_a_non_blocking_log_pipe_loses_no_finding(tmp_path: Path, core: str) -> None:
    # GIVEN enforce writing its findings to stdout, a pipe the log reader drains only later
    doc = profile_doc()
    (tmp_path / "profile.json").write_text(json.dumps(doc))
    (tmp_path / "secret.txt").write_text("s3cr3t")
    code = (
        HARNESS.format(mode="enforce")
        + """
# WHEN the function makes the pipe non-blocking (no audit event: the sandbox's own duplicate of
# fd 1 shares the setting) and fills it, then reaches for a secret
os.set_blocking(1, False)
filled = 0
while True:
    try:
        filled += os.write(1, b"x" * 4096)
    except BlockingIOError:
        break
attempt("read-secret", secret)
os.write(2, b"filled %d\\n" % filled)
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "AWS_LAMBDA"))}
    env.update(AUDIT_ALONE, PYTHONPATH=str(REPO), LAMBDA_TASK_ROOT=str(tmp_path))
    if core == "python":
        env["SANDBOX_NATIVE"] = "off"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.5)  # (the log reader is late: the child's writes find the pipe full)
    out, err = proc.communicate(timeout=60)
    # THEN the refused read's finding reaches the log once the reader drains it: the sandbox's
    # write waited as a blocking one would, instead of being dropped
    assert proc.returncode == 0, err
    assert b"filled" in err, err
    findings = [line for line in out.split(b"\n") if b'"sandbox.finding"' in line]
    assert any(b"secret.txt" in line for line in findings), (out[-2000:], err)


def test_class10_a_thread_left_running_is_not_charged_to_the_next_caller(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a thread started during invocation 1 that acts during invocation 2
    attack = """
go = threading.Event()
def late():
    go.wait()
    try:
        secret()
    except PermissionError:
        pass
import time
begin_invocation("request-1", {"source_ip": "198.51.100.1"})
time.sleep(0.05)  # thread start times have clock-tick granularity (10 ms)
t = threading.Thread(target=late); t.start()
time.sleep(0.05)
try:
    open("first.txt").read()
except (PermissionError, FileNotFoundError):
    pass
end_invocation()
begin_invocation("request-2", {"source_ip": "203.0.113.2"})
go.set(); t.join()
end_invocation()
"""
    result = _run(child, tmp_path, attack, mode="alert")
    finding = next(f for f in result.findings if f["target"] == "{task}/secret.txt")
    # THEN its finding is charged to the invocation the thread was started in (from the
    # kernel's start time of the thread), not to the next caller
    assert finding["request_id"] == "request-1", finding
    assert finding["who"] == {"source_ip": "198.51.100.1"}


@pytest.mark.parametrize("layers", [AUDIT_ALONE, {}], ids=["audit-alone", "kernel-on"])
def test_control_events_from_the_functions_code_are_refused(
    child: RunChild, tmp_path: Path, layers: dict[str, str]
) -> None:
    # GIVEN a process installed by the Lambda bootstrap (control only from its handler)
    attack = """
attempt("forge-invocation", lambda: sys.audit("sandbox.invocation", "forged", {"source_ip": "1.2.3.4"}))
attempt("back-to-init", lambda: sys.audit("sandbox.phase", "init"))
attempt("init-failed", lambda: sys.audit("sandbox.init_failed"))
"""
    outcome = _outcomes(_run(child, tmp_path, attack, env=layers))
    # THEN none is honoured from the function's own code
    assert outcome == {k: "REFUSED" for k in ("forge-invocation", "back-to-init", "init-failed")}


def test_class1_popen_cannot_be_changed_after_its_decision(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a learned `wc -c allowed.txt` WHEN the function (a) passes a pass_fds item whose
    # __hash__ rewrites Popen's argv after the audit event, (b) rebinds what Popen's PATH search
    # calls, (c) changes os.environ's PATH data behind putenv's back
    attack = """
class Fd(int):
    def __hash__(self):
        args = sys._getframe(1).f_locals.get("args")
        if isinstance(args, list):
            args[:] = ["/bin/sh", "-c", "cat secret.txt"]
        return int.__hash__(self)
allowed = ["/usr/bin/wc", "-c", os.path.abspath("allowed.txt")]
attempt("pass-fds-hash", lambda: subprocess.run(allowed, pass_fds=(Fd(2),), capture_output=True, text=True).stdout)
real = os.get_exec_path
os.get_exec_path = lambda env=None: ["/tmp"]
attempt("rebound-search", lambda: subprocess.run(["wc", "-c", os.path.abspath("allowed.txt")], capture_output=True).stdout)
os.get_exec_path = real
attempt("learned-still-runs", lambda: subprocess.run(allowed, capture_output=True, text=True).stdout.split()[0])
"""
    outcome = _outcomes(_run(child, tmp_path, attack))
    # THEN the first two are refused before anything starts; the learned command still runs
    assert outcome["pass-fds-hash"] == "REFUSED"
    assert outcome["rebound-search"] == "REFUSED"
    assert outcome["learned-still-runs"] == "DONE"


def test_class6_wrapping_a_descriptor_through_socket_py_is_an_adoption(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a socket the process holds (as the runtime client holds its keep-alive connection)
    attack = """
s = socket.socket()
attempt("adopt-explicit-family", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0, os.dup(s.fileno())))
attempt("socketpair", lambda: len(socket.socketpair()))
"""
    outcome = _outcomes(_run(child, tmp_path, attack))
    # THEN wrapping it through socket.py is refused even with the family given; socketpair's
    # own unix adoption (the runtime bundle allows it) works
    assert outcome["adopt-explicit-family"] == "REFUSED"
    assert outcome["socketpair"] == "DONE"


def test_round2_no_code_of_the_functions_runs_inside_the_hook(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN keys planted in sys.modules and in a module's dict whose hash equals names the hook
    # might look up, with an __eq__ that would run the attacker's code inside the hook
    attack = """
import types
ran = []
class Key:
    def __init__(self, name): self.name = name
    def __hash__(self): return hash(self.name)
    def __eq__(self, other):
        ran.append(other)
        return False
sys.modules[Key("zzparent")] = None
package = types.ModuleType("zzpkg"); package.__dict__[Key("__path__")] = ["."]
sys.modules["zzpkg"] = package
attempt("planted-import", lambda: sys.audit("import", "zzparent.child", None, [], [], []))
attempt("planted-path", lambda: sys.audit("import", "zzpkg.child", None, [], [], []))
print("eq-ran", len(ran))
"""
    result = _run(child, tmp_path, attack)
    # THEN the hook compared no key of theirs: their code never ran inside it
    assert "eq-ran 0" in result.lines, result.stdout + result.stderr


def test_round2_what_the_sandbox_hands_out_leads_nowhere(child: RunChild, tmp_path: Path) -> None:
    # GIVEN the functions the sandbox puts where the function can read them (the import guard,
    # the resolver wrappers; and whatever a forged SQLite handle event arms: since red team 34
    # nothing, as the object is no initialised connection)
    attack = """
import _socket, sqlite3
guard = type(sys.meta_path[0]).find_spec
resolver = _socket.getaddrinfo
try:
    sys.audit("sqlite3.connect/handle", sqlite3.Connection.__new__(sqlite3.Connection))
except Exception:
    pass
armed = sys.getprofile()
for label, fn in (("guard", guard), ("resolver", resolver), ("profile", armed)):
    globals_ = getattr(fn, "__globals__", None)
    print(label, "globals", sorted(globals_) if isinstance(globals_, dict) else None)
# AND a resolver wrapper whose closure cell is rewritten to a fake resolver poisons nothing
# (since round 43 the wrappers hold no cell at all: their helpers are constants of their code)
names = resolver.__code__.co_freevars
print("resolver cells", len(names))
if "original" in names:
    resolver.__closure__[names.index("original")].cell_contents = (
        lambda *a, **k: [(2, 1, 6, "", ("127.0.0.2", 8080))])
_socket.getaddrinfo("localhost", 8080)
def connect_fake():
    s = socket.socket(); s.settimeout(0.2)
    try:
        s.connect(("127.0.0.2", 8080))
    finally:
        s.close()
attempt("connect-fake-address", connect_fake)
"""
    rules = {"network": [{"action": "connect", "target": "localhost:8080", "phase": "any"}]}
    result = _run(child, tmp_path, attack, rules)
    # THEN each has empty globals: nothing of the sandbox is reachable from it (and the forged
    # event armed no profile function at all)
    for label in ("guard", "resolver"):
        assert f"{label} globals ['__builtins__']" in result.lines, result.stdout + result.stderr
    assert "profile globals None" in result.lines
    assert "resolver cells 0" in result.lines, result.stdout
    assert _outcomes(result)["connect-fake-address"] == "REFUSED"


def test_round2_popen_rebinding_what_it_calls_after_its_event(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a learned `wc -c allowed.txt` WHEN the function rebinds a function Popen calls after
    # its audit event (warnings.simplefilter, called by os.get_exec_path) to rewrite its argv
    attack = """
import warnings
real = warnings.simplefilter
def evil(*a, **k):
    f = sys._getframe(1)
    while f is not None and f.f_code.co_name != "_execute_child":
        f = f.f_back
    if f is not None:
        f.f_locals["args"][:] = ["/bin/sh", "-c", "cat secret.txt"]
    return real(*a, **k)
warnings.simplefilter = evil
attempt("swapped", lambda: subprocess.run(["wc", "-c", os.path.abspath("allowed.txt")], capture_output=True, text=True).stdout)
"""
    outcome = _outcomes(_run(child, tmp_path, attack))
    # THEN the exec is decided again at fork_exec, on the argv the child would really get
    assert outcome["swapped"] == "REFUSED"


# Round 9 (a red team against the native core): every way the function's code got hold of the
# callback's frames -- and from them everything the hook decides with -- by making the hook
# raise, or by running its code inside the hook (a finalizer, a codec, an import, a warning).
ROUND9_FRAMES = """
core = hooks_core()
RUNTIME = os.path.dirname(core.__file__)
def sandbox_frames(exc):
    found, seen, pending = [], set(), [exc]
    while pending:
        e = pending.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        tb = e.__traceback__
        while tb is not None:
            try:
                frame = tb.tb_frame
            except PermissionError:  # (a frame of the hook's own code: refused to read)
                frame = None
            while frame is not None:
                if frame.f_code.co_filename.startswith(RUNTIME):
                    found.append(frame.f_code.co_name)
                frame = frame.f_back
            tb = tb.tb_next
        pending += [e.__context__, e.__cause__]
    return found
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round9_nothing_the_hook_raises_leads_to_its_frames(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a forged SQLite event handing the hook a non-connection, and refused opens at every
    # stack depth under a low recursion limit (where the hook itself runs out of stack)
    attack = (
        ROUND9_FRAMES
        + """
leaks, raised = [], set()
try:
    sys.audit("sqlite3.connect/handle", 42)
    print("forged", "quiet")
except Exception as exc:
    print("forged", type(exc).__name__)
    leaks += sandbox_frames(exc)
def at_depth(n):
    if n:
        return at_depth(n - 1)
    try:
        open("secret.txt").read()
    except BaseException as exc:
        raised.add(type(exc).__name__)
        leaks.extend(sandbox_frames(exc))
sys.setrecursionlimit(300)
for depth in range(200, 300):
    try:
        at_depth(depth)
    except RecursionError:
        pass
sys.setrecursionlimit(1000)
print("raised", sorted(raised))
print("leaks", len(leaks))
"""
    )
    result = _run(
        child, tmp_path, attack, env={"SANDBOX_NATIVE": "off"} if core == "python" else None
    )
    # THEN the forged event is ignored, every refusal is a PermissionError, and nothing raised
    # leads to a frame of the sandbox's hook (native; the Python core stays on the stack of what
    # it raises -- its documented limit -- but never with the callback's frames: checked below)
    lines = result.lines
    assert "forged quiet" in lines, result.stdout + result.stderr
    raised = next(line for line in lines if line.startswith("raised"))
    # (a RecursionError may still come from the interpreter around the hook -- 3.10 raises
    # one from the audit call itself at the limit -- but never with the hook's frames)
    assert "PermissionViolation" in raised or "PermissionError" in raised, raised
    if core == "native":
        assert "leaks 0" in lines, result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_round9_no_code_of_the_functions_runs_inside_the_hook(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN code of the function's placed where the hook used to run it: a finalizer of a
    # connection the hook waits on, a planted IDNA codec, a planted sqlite3 module, and a
    # rebound warnings.showwarning (each records whether it ran inside the hook)
    attack = """
import sqlite3, types, warnings, codecs
core = hooks_core()
inside = []
class Evil(sqlite3.Connection):
    def __del__(self):
        inside.append(("finalizer", core.inside()))
def connections():
    connection = Evil(":memory:")
    connection.close()
    yield connection
list(map(sys.audit, ["sqlite3.connect/handle", "x"], connections()))
def planted_codec(name):
    inside.append(("codec", core.inside()))
codecs.register(planted_codec); codecs.unregister(planted_codec)
fake = types.ModuleType("encodings.idna")
fake.getregentry = lambda: inside.append(("codec", core.inside()))
sys.modules["encodings.idna"] = fake
attempt("unicode-name", lambda: socket.getnameinfo(("\\u00fc", 80), 0))
fake_sqlite = types.ModuleType("sqlite3")
fake_sqlite.__getattr__ = lambda name: inside.append(("sqlite", core.inside()))
sys.modules["sqlite3"] = fake_sqlite
list(map(sys.audit, ["sqlite3.connect/handle"], [object()]))
warnings.simplefilter("always")
warnings.showwarning = lambda *a, **k: inside.append(("warning", core.inside()))
attempt("eval", lambda: eval(compile("'\\\\d'", "<x>", "eval")))
import gc; gc.collect()
print("ran-inside", [what for what, was_inside in inside if was_inside])
print("attempts", "done")
"""
    result = _run(
        child, tmp_path, attack, env={"SANDBOX_NATIVE": "off"} if core == "python" else None
    )
    # THEN none of it ran inside the hook (the finalizer runs later, outside; no codec, module
    # or warning function is looked up there), and the Unicode name is refused, never encoded
    assert "ran-inside []" in result.lines, result.stdout + result.stderr
    assert _outcomes(result)["unicode-name"] == "REFUSED", result.stdout


def test_round9_a_host_spelled_as_a_number_is_the_address_it_reaches(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a profile whose network rules allow any single-label name (modelled events only:
    # nothing is resolved or sent)
    rules = {
        "network": [
            {"action": "resolve", "target": "*", "phase": "any"},
            {"action": "connect", "target": "*:*", "phase": "any"},
        ]
    }
    attack = """
probe = socket.socket()
attempt("metadata-dotted", lambda: sys.audit("socket.connect", probe, ("169.254.169.254", 80)))
attempt("metadata-decimal", lambda: sys.audit("socket.connect", probe, ("2852039166", 80)))
attempt("metadata-hex", lambda: sys.audit("socket.connect", probe, ("0xa9fea9fe", 80)))
attempt("metadata-short", lambda: sys.audit("socket.connect", probe, ("169.254.43518", 80)))
attempt("loopback-decimal", lambda: sys.audit("socket.connect", probe, ("2130706433", 80)))
"""
    result = _run(child, tmp_path, attack, rules=rules)
    # THEN every spelling of the metadata address is refused by the ceiling, and a number the
    # C library reads as an address is decided as that address (here: no rule allows it)
    outcomes = _outcomes(result)
    for label in ("metadata-dotted", "metadata-decimal", "metadata-hex", "metadata-short"):
        assert outcomes[label] == "REFUSED", result.stdout + result.stderr
    assert outcomes["loopback-decimal"] == "REFUSED", result.stdout


def test_round9_the_hook_reads_modules_imported_after_install(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a function that imports socket.py only after the install (the hook used to read a
    # copy of sys.modules taken at install), and a warnings module planted after it
    attack = """
del sys.modules["socket"]
import socket as late_socket                  # a fresh socket.py, loaded after the install
import types
core = hooks_core()
ran = []
fake = types.ModuleType("warnings")
fake.filters = [("always", None, Warning, None, 0)]
fake._showwarnmsg = lambda msg: ran.append(core.inside())
fake.showwarning = lambda *a, **k: ran.append(core.inside())
fake.defaultaction, fake.onceregistry, fake._filters_mutated = "always", {}, lambda: None
real_warnings = sys.modules["warnings"]
sys.modules["warnings"] = fake
attempt("eval", lambda: eval("'\\\\d'"))
sys.modules["warnings"] = real_warnings
peer = late_socket.socket()
# WHEN the function wraps that descriptor in a new socket object (an adoption)
attempt("adopt", lambda: late_socket.socket(fileno=os.dup(peer.fileno())))
print("warning-ran-inside", [was for was in ran if was])
"""
    result = _run(child, tmp_path, attack)
    outcomes = _outcomes(result)
    # THEN the adoption is decided as one (refused: not learned), even with socket.py loaded
    # late, and the planted warnings module's functions never ran inside the hook
    assert outcomes["adopt"] == "REFUSED", result.stdout + result.stderr
    assert "warning-ran-inside []" in result.lines, result.stdout + result.stderr


@pytest.mark.parametrize("planted", [False, True], ids=["rebound", "planted"])
def test_round9_no_warning_function_runs_while_the_hook_shapes_an_eval(
    child: RunChild, tmp_path: Path, planted: bool
) -> None:
    # GIVEN the function's own eval site (learned), and warning functions of the function's:
    # rebound on the warnings module, or a whole warnings module planted after the install
    (tmp_path / "app.py").write_text("def run(source):\n    return eval(source)\n")
    rules = {
        "modules": [{"action": "import", "target": "app", "phase": "any"}],
        "code": [{"action": "compile", "target": "{task}/app.py:run", "phase": "invoke"}],
    }
    attack = f"""
import types, warnings
core = hooks_core()
sys.path.insert(0, os.getcwd())
import app
ran = []
if {planted!r}:
    fake = types.ModuleType("warnings")
    fake.filters = [("always", None, Warning, None, 0)]
    fake._showwarnmsg = lambda msg: ran.append(core.inside())
    fake.showwarning = lambda *a, **k: ran.append(core.inside())
    fake.defaultaction, fake.onceregistry = "always", {{}}
    fake._filters_mutated = lambda: None
    sys.modules["warnings"] = fake
else:
    warnings.simplefilter("always")
    warnings.showwarning = lambda *a, **k: ran.append(core.inside())
# WHEN the site evaluates a source the parser warns about (an invalid escape)
attempt("eval", lambda: app.run("'\\\\d'"))
print("ran-inside", [was for was in ran if was])
"""
    result = _run(child, tmp_path, attack, rules=rules)
    # THEN nothing of the function's ran inside the hook (the compile itself may warn later,
    # outside it); with a planted module the source cannot be shaped safely: refused
    assert "ran-inside []" in result.lines, result.stdout + result.stderr
    if not planted:
        assert _outcomes(result)["eval"] == "DONE", result.stdout


# Round 10: more ways the function's code got into the callback (then kept an exception whose
# frames outlive it): the refusal's own class, a forged SQLite event on an initialised
# connection, a codec error handler; and a lease that makes an open block.
@pytest.mark.parametrize("core", ["native", "python"])
def test_round10_no_code_of_the_functions_runs_inside_the_hook(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN code of the function's placed where the hook would run it: the refusal class's
    # __init__ and __new__ rebound, an authorizer with a finalizer on an initialised connection
    # handed to a forged event, and the "surrogateescape" error handler re-registered
    attack = """
import codecs, sqlite3
core = hooks_core()
inside = []
try:
    open("secret.txt").read()
except PermissionError as exc:
    cls = type(exc)
def rebound_init(self, *args, **kwargs):
    inside.append(("init", core.inside()))
try:
    cls.__init__ = rebound_init
    cls.__new__ = staticmethod(lambda *a, **k: inside.append(("new", core.inside())))
except TypeError:
    print("class-sealed")  # (the native core makes the sandbox's classes immutable)
attempt("refused-again", secret)
class Auth:
    def __call__(self, *args):
        return 0
    def __del__(self):
        inside.append(("finalizer", core.inside()))
connection = sqlite3.connect(":memory:")
connection.set_authorizer(Auth())
sys.audit("sqlite3.connect/handle", connection)
def handler(error):
    inside.append(("codec", core.inside()))
    return (b"secret.txt", error.end)
codecs.register_error("surrogateescape", handler)
attempt("surrogate-name", lambda: sys.audit("open", os.getcwd() + "/x\\ud800", "r", 0))
import gc; gc.collect()
print("ran-inside", [what for what, was_inside in inside if was_inside])
"""
    result = _run(
        child, tmp_path, attack, env={"SANDBOX_NATIVE": "off"} if core == "python" else None
    )
    # THEN none of it ran inside the hook; the refusal is still the class's own, and the name
    # only a registered handler could encode is refused, never encoded
    assert "ran-inside []" in result.lines, result.stdout + result.stderr
    outcomes = _outcomes(result)
    assert outcomes["refused-again"] == "REFUSED", result.stdout
    assert outcomes["surrogate-name"] == "REFUSED", result.stdout
    # AND on the native core the refusal class could not even be changed
    assert ("class-sealed" in result.lines) == (core == "native"), result.stdout


def test_round10_a_file_lease_is_refused(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a file the function may write (a lease on it would make the process's own later
    # open block until a signal handler ran, then be retried on the name as it is then)
    rules = {
        "files": [{"action": a, "target": "{task}/**", "phase": "any"} for a in ("read", "write")]
    }
    attack = """
import fcntl
fd = os.open("allowed.txt", os.O_RDONLY)
attempt("lease", lambda: fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK))
attempt("other-fcntl", lambda: fcntl.fcntl(fd, fcntl.F_GETFD))
"""
    result = _run(child, tmp_path, attack, rules=rules)
    # THEN the lease is refused; other fcntl commands are not
    outcomes = _outcomes(result)
    assert outcomes["lease"] == "REFUSED", result.stdout + result.stderr
    assert outcomes["other-fcntl"] == "DONE", result.stdout


# Round 11: a C library's exception class changed by the function, the reporter's JSON
# settings, and an init-phase read through a link.
@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize(
    "changed", ["ProgrammingError", "OperationalError", "DatabaseError", "Error"]
)
def test_round11_a_changed_sqlite_error_class_runs_nothing_inside_the_hook(
    child: RunChild, tmp_path: Path, core: str, changed: str
) -> None:
    # GIVEN one of the SQLite exception classes the guard's calls can raise (or a base they
    # share) given an __init__ of the function's (no audit event)
    attack = """
import sqlite3
core = hooks_core()
inside = []
sqlite3.CHANGED.__init__ = lambda self, *a: inside.append(core.inside())
# WHEN the function opens a connection (the guard asks the C library about it)
attempt("connect", lambda: sqlite3.connect(":memory:"))
print("ran-inside", [was for was in inside if was])
"""
    result = _run(
        child,
        tmp_path,
        attack.replace("CHANGED", changed),
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN the class's code never ran inside the hook, and the connection is refused (the
    # guard will not call into SQLite with such classes: fail closed)
    assert "ran-inside []" in result.lines, result.stdout + result.stderr
    assert _outcomes(result)["connect"] == "REFUSED", result.stdout


# Every hook through which raising, reading, writing or finalizing an exception runs Python
# code (the native core reads the classes' slots, the Python core their dicts).
SQLITE_ERROR_HOOKS = {
    "__new__": "lambda cls, *a: (inside.append(core.inside()), Exception.__new__(cls))[1]",
    "__del__": "lambda self: inside.append(core.inside())",
    "__setattr__": "lambda self, n, v: (inside.append(core.inside()), "
    "object.__setattr__(self, n, v))[1]",
    "__getattribute__": "lambda self, n: (inside.append(core.inside()), "
    "object.__getattribute__(self, n))[1]",
}


@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize("hook", sorted(SQLITE_ERROR_HOOKS))
def test_round11_any_code_hook_on_a_shared_sqlite_error_base_is_refused(
    child: RunChild, tmp_path: Path, core: str, hook: str
) -> None:
    # GIVEN the base both guarded SQLite errors share given another hook of the function's
    attack = f"""
import sqlite3
core = hooks_core()
inside = []
sqlite3.DatabaseError.{hook} = {SQLITE_ERROR_HOOKS[hook]}
# WHEN the function opens a connection
attempt("connect", lambda: sqlite3.connect(":memory:"))
print("ran-inside", [was for was in inside if was])
"""
    result = _run(
        child, tmp_path, attack, env={"SANDBOX_NATIVE": "off"} if core == "python" else None
    )
    # THEN nothing of it ran inside the hook and the connection is refused (fail closed)
    assert "ran-inside []" in result.lines, result.stdout + result.stderr
    assert _outcomes(result)["connect"] == "REFUSED", result.stdout


def test_round11_the_reporters_json_settings_cannot_be_changed(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the JSON encoders the reports are written with (module globals anyone can reach)
    attack = """
from sandbox.runtime import sinks
for name in ("_COMPACT", "_TEXT"):
    encoder = getattr(sinks, name)
    try:
        encoder.indent = 4
        print(name, "CHANGED")
    except AttributeError:
        print(name, "FIXED")
attempt("refused", secret)
"""
    result = _run(child, tmp_path, attack)
    # THEN their settings are read-only (nothing of the function's can be put in them)
    assert "_COMPACT FIXED" in result.lines and "_TEXT FIXED" in result.lines, result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
def test_round11_an_init_read_through_a_link_named_like_a_module_is_decided(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN, during init, a link in the task root named like a module file, leading to this
    # process's environment (under the ceiling: where a Lambda keeps its role's credentials),
    # read through the import system's own reader (what a module's code at import time can
    # call)
    (tmp_path / "evil.py").symlink_to("/proc/self/environ")
    code = f"""
import importlib._bootstrap_external as external
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
try:
    data = external.FileLoader.get_data(object(), {str(tmp_path / "evil.py")!r})
    print("read", data[:6])
except PermissionError:
    print("read", "REFUSED")
"""
    doc = profile_doc()
    (tmp_path / "profile.json").write_text(json.dumps(doc))
    (tmp_path / "secret.txt").write_text("s3cr3t")
    env = {**AUDIT_ALONE, **({"SANDBOX_NATIVE": "off"} if core == "python" else {})}
    result = child(code, env=env)
    # THEN the link is resolved and the read refused, as any read of that file
    assert "read REFUSED" in result.lines, result.stdout + result.stderr


# Round 12: code the sandbox trusts by identity, run with inputs of the function's (closure
# cells rewrite with no audit event), and the Python core's own directory lookups.
@pytest.mark.parametrize("core", ["native", "python"])
def test_round12_the_sandboxs_own_code_with_rewritten_cells_gains_nothing(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the fork_exec wrapper's cells rewritten so that calling it runs sys.setprofile
    # (from the wrapper's own code), and a resolver wrapper's cells rewritten so that a fake
    # resolver answers and the real one is put back before the wrapper reports
    attack = """
import functools, io, _socket, types
# (the fork_exec wrapper the hook publishes: routed into subprocess where the core cannot seal
# fork_exec itself; its cells are reachable with no audit event)
import _posixsubprocess
published = _posixsubprocess.fork_exec
if type(published) is types.FunctionType:
    cells = published.__closure__
    audit_cell = next(c for c in cells if c.cell_contents is sys.audit)
    original_cell = next(c for c in cells if getattr(c.cell_contents, "__name__", "") == "fork_exec")
    saved_original = original_cell.cell_contents
    audit_cell.cell_contents = functools.partial(print, file=io.StringIO())
    original_cell.cell_contents = functools.partial(max, key=sys.setprofile)
    profiled = []
    def prof(frame, event, arg):
        profiled.append(frame.f_code.co_name)
    attempt("setprofile-via-wrapper", lambda: published(*[prof] * 6))
    sys.setprofile(None) if profiled else None
    original_cell.cell_contents = saved_original
    audit_cell.cell_contents = sys.audit
else:
    print("no-published-wrapper")
wrapper = _socket.gethostbyname
# (since round 43 the resolver wrappers hold their helpers as constants of their code: no cell)
print("resolver-cells", len(wrapper.__closure__ or ()))
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
port = server.getsockname()[1]
attempt("connect-by-the-fake-answer", lambda: socket.create_connection(("127.0.0.1", port)))
"""
    rules = {
        "network": [
            {"action": "resolve", "target": "api.example.com", "phase": "any"},
            {"action": "connect", "target": "api.example.com:*", "phase": "any"},
            {"action": "bind", "target": "127.0.0.1:*", "phase": "any"},
        ]
    }
    # WHEN the function calls them
    result = _run(
        child,
        tmp_path,
        attack,
        rules=rules,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    outcomes = _outcomes(result)
    # THEN the profiler is refused like any (the wrapper's code is trusted for nothing; the
    # native core seals fork_exec in C and publishes no wrapper), and the fake answer never
    # becomes a remembered address of the allowed name
    if core == "native" or sys.version_info >= (3, 14):
        # (from 3.14 CPython raises fork_exec's event itself: neither core publishes a wrapper)
        assert "no-published-wrapper" in result.lines, result.stdout + result.stderr
    else:
        assert outcomes.get("setprofile-via-wrapper") == "REFUSED", result.stdout + result.stderr
    assert "resolver-cells 0" in result.lines, result.stdout
    assert outcomes.get("connect-by-the-fake-answer") == "REFUSED", result.stdout + result.stderr


def test_round12_the_sqlite_authorizer_shows_a_profiler_nothing_of_the_sandbox(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a function allowed to profile (a learned trace rule), whose profiler looks at the
    # frames of SQLite's authorizer (the sandbox's, called by SQLite outside the hook)
    attack = """
import sqlite3, types
seen = []
def prof(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "authorize":
        seen.append((frame.f_globals, dict(frame.f_locals)))
attempt("profile", lambda: sys.setprofile(prof))
connection = sqlite3.connect(":memory:")
attempt("attach-secret", lambda: connection.execute("ATTACH DATABASE 'x.db' AS x"))
sys.setprofile(None)
frames_globals = [g for g, _ in seen]
print("authorizer-seen", bool(seen))
print("its-globals", sorted({k for g in frames_globals for k in g}))
leads = [v for _, local in seen for v in local.values()
         if isinstance(v, types.FunctionType) or hasattr(v, "__globals__")]
print("functions-in-reach", len(leads))
"""
    rules = {"code": [{"action": "trace", "target": "**", "phase": "any"}]}
    # WHEN a statement needs the authorizer (an ATTACH the profile does not allow)
    result = _run(child, tmp_path, attack, rules=rules)
    # THEN the ATTACH is still refused, and the authorizer's frame holds no globals and no
    # Python function (nothing that leads to the sandbox's decision code or state)
    assert _outcomes(result)["attach-secret"] in ("REFUSED", "ERROR"), result.stdout
    # (tracing waits from an ATTACH's window opening, before the authorizer runs: the profiler
    # does not see that call at all -- red team 78; where it sees one, it finds nothing)
    assert "authorizer-seen False" in result.lines or (
        "its-globals ['__builtins__']" in result.lines
    ), result.stdout + result.stderr
    assert "functions-in-reach 0" in result.lines, result.stdout


def test_round12_the_python_cores_own_lookups_pass_and_nothing_else(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the Python core, a child process run (answers validated from then on: the core
    # looks names up folder by folder with O_PATH opens), and its pass for those lookups
    # raised by the function itself
    attack = """
from sandbox.runtime import core_fallback
subprocess.run(["/usr/bin/wc", "-c", os.path.abspath("allowed.txt")], capture_output=True)
for i in range(3):
    attempt("read-allowed-" + str(i), lambda: open("allowed.txt").read())
core_fallback._OWN_LOOKUP[threading.get_ident()] = True
attempt("read-secret", secret)
attempt("os-open-secret", lambda: os.close(os.open("secret.txt", os.O_RDONLY)))
attempt("exec", lambda: os.system("true"))
flags = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
attempt("o-path-directory", lambda: os.close(os.open(os.getcwd(), flags)))
"""
    rules: dict[str, list[dict[str, Any]]] = {
        "files": [{"action": "read", "target": "{task}/allowed.txt", "phase": "any"}],
        "processes": [
            {"action": "exec", "target": "/usr/bin/wc", "argv": ["-c", "{task}/allowed.txt"]}
        ],
    }
    # WHEN the function reads an allowed file, then raises the pass and tries other things
    result = _run(child, tmp_path, attack, rules=rules, env={"SANDBOX_NATIVE": "off"})
    outcomes = _outcomes(result)
    # THEN the allowed reads raise no finding of the core's own lookups ("/" read...), and
    # the module's table of threads in such a lookup is not the hook's: nothing passes
    assert all(outcomes[f"read-allowed-{i}"] == "DONE" for i in range(3)), result.stdout
    assert not [f for f in result.findings if f["target"] in ("/", "<unresolvable path>")]
    assert outcomes["read-secret"] == "REFUSED", result.stdout
    assert outcomes["os-open-secret"] == "REFUSED", result.stdout
    assert outcomes["exec"] == "REFUSED", result.stdout
    assert outcomes["o-path-directory"] == "REFUSED", result.stdout


# Round 13: module-level objects the hook shared with the function, control functions called
# by the function itself, and helpers in the resolver wrapper's cells.
@pytest.mark.parametrize("core", ["native", "python"])
def test_round13_the_category_registry_the_function_can_reach_is_not_the_hooks(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a row of the category registry given a violation "class" whose __bases__ is code
    # of the function's (a slot write: no audit event)
    attack = """
from sandbox.runtime import categories
core = hooks_core()
ran = []
class Evil:
    @property
    def __bases__(self):
        ran.append(core.inside())
        return ()
categories.FILES.violation = Evil()
categories.REGISTRY["files"].violation = Evil()
attempt("refused", secret)
print("ran-inside", [was for was in ran if was])
"""
    # WHEN a file access is refused (the hook builds the refusal of its category)
    result = _run(
        child, tmp_path, attack, env={"SANDBOX_NATIVE": "off"} if core == "python" else None
    )
    # THEN the refusal is built from the hook's own copy of the registry: nothing ran inside
    assert _outcomes(result)["refused"] == "REFUSED", result.stdout + result.stderr
    assert "ran-inside []" in result.lines, result.stdout


def test_round13_a_failed_init_is_reported_only_by_the_installing_module(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the Lambda Runtime API's address (a loopback listener stands for it)
    code = """
import socket, sys
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(4)
API = server.getsockname()
import os
os.environ["AWS_LAMBDA_RUNTIME_API"] = "%s:%d" % API
import sandbox
from sandbox.runtime import control as hook
sandbox.install(mode="enforce", profile="profile.json")
def connect(label):
    try:
        socket.create_connection(API).close()
        print(label, "allowed")
    except PermissionError:
        print(label, "refused")
def report():
    try:
        hook.report_init_failed()
        print("reported")
    except PermissionError:
        print("report refused")
report()                          # from a function of the installer's, not its top level
connect("after-a-nested-report")
hook.mark_invoke_phase()
try:
    hook.report_init_failed()     # from the top level, but after init
    print("reported")
except PermissionError:
    print("report refused")
connect("invoke")
"""
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function's code reports a failed init itself, during init and after it
    result = child(code, env=AUDIT_ALONE)
    # THEN neither report is taken: the Runtime API stays the runtime's
    assert result.lines == [
        "report refused",
        "after-a-nested-report refused",
        "report refused",
        "invoke refused",
    ], result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_round13_a_helper_in_a_resolver_wrapper_cell_cannot_edit_the_answer(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN an allowed name (localhost, from the hosts file) and a resolver wrapper whose
    # type_of cell is a function that edits the real answer in place before it is reported
    attack = """
import _socket
wrapper = _socket.getaddrinfo
# (its helpers were one tuple in one cell; since round 43 they are constants of its code: the
# edit can only be tried where a cell is)
cells = wrapper.__closure__ or ()
print("cells", len(cells))
for cell in cells:
    if type(cell.cell_contents) is tuple and type in cell.cell_contents:
        tools = cell.cell_contents
        def edit(value):
            frame = sys._getframe(1)
            result = frame.f_locals.get("result")
            if type(result) is list:
                result[:] = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", 8443))]
            return type(value)
        cell.cell_contents = tuple(edit if item is type else item for item in tools)
attempt("lookup", lambda: wrapper("localhost", 8443, socket.AF_INET, socket.SOCK_STREAM))
attempt("connect-by-the-edit", lambda: socket.socket().connect(("127.0.0.2", 8443)))
"""
    rules = {
        "network": [
            {"action": "resolve", "target": "localhost", "phase": "any"},
            {"action": "connect", "target": "localhost:8443", "phase": "any"},
        ]
    }
    # WHEN the function looks the name up through the wrapper, then connects to the address
    result = _run(
        child,
        tmp_path,
        attack,
        rules=rules,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN the wrapper holds no cell to edit, and an address the name did not answer is
    # refused before any packet
    assert "cells 0" in result.lines, result.stdout + result.stderr
    assert _outcomes(result).get("connect-by-the-edit") == "REFUSED", result.stdout + result.stderr


# Round 14: ways to run code of the function's inside the hook's callback (each probe records
# core.inside() when it runs), and a class of the sandbox's changed by the function.
ROUND14_PROBES = {
    # a module global the rule-hint generaliser looks up at call time
    "generaliser-global": """
from sandbox.runtime import generalisation
real = generalisation.rewrite
def rewrite(*a):
    probe()
    return real(*a)
generalisation.rewrite = rewrite
attempt("trigger", secret)
""",
    # a data descriptor on a syntax node class (the shape parser reads node fields)
    "ast-property": """
import ast, typing
def get(node):
    probe()
    return node.__dict__["id"]
try:
    ast.Name.id = property(get, lambda node, value: node.__dict__.__setitem__("id", value))
except TypeError:
    pass  # (the native core seals the parser's node classes)
attempt("trigger", lambda: typing.ForwardRef("List"))
try:
    del ast.Name.id
except (AttributeError, TypeError):
    pass
""",
    # a key of the same hash planted in the warnings module's dict (C warning code looks
    # "filters" up there while the hook parses a source that warns)
    "warnings-dict-key": """
import typing, warnings
class Key(str):
    __hash__ = str.__hash__
    def __eq__(self, other):
        probe()
        return False
space = warnings.__dict__
saved = space.pop("filters")
space[Key("filters")] = None
space["filters"] = saved
attempt("trigger", lambda: typing.ForwardRef("Literal['\\\\d']"))
""",
    # a property on the warnings module's spec (CPython's module lookup asks every module it
    # finds for spec._initializing; the hook's parse warns on an invalid escape)
    "warnings-spec": """
import typing, warnings
class Initializing:
    def __bool__(self):
        probe()
        return False
warnings.__spec__._initializing = Initializing()
attempt("trigger", lambda: typing.ForwardRef("Literal['\\\\d']"))
warnings.__spec__._initializing = False
""",
    # a codec named by a declaration after a lone CR (the tokenizer's second line)
    "codec-after-cr": """
import codecs
def search(name):
    if name == "rt15evil":
        probe()
    return None
codecs.register(search)
attempt("trigger", lambda: compile(b"\\r# coding: rt15evil\\nx = 1\\n", "<x>", "exec"))
""",
    # a fake unicodedata whose normalize is a C function (CPython's parser imports it and
    # calls normalize for a non-ASCII name: no Python frame, the hook's own frame innermost)
    "fake-unicodedata": """
import types, typing, functools
fake = types.ModuleType("unicodedata")
def normalize(form, name):
    probe()
    return name
fake.normalize = normalize
real = sys.modules.get("unicodedata")
sys.modules["unicodedata"] = fake
attempt("trigger", lambda: typing.ForwardRef("\\u00e9vil"))
if real is not None:
    sys.modules["unicodedata"] = real
""",
    # a __setattr__ on the node class the ast module patches (the parser fills nodes with it)
    "node-setattr": """
import ast, typing, functools
def setattr_(node, name, value):
    probe()
    object.__setattr__(node, name, value)
try:
    ast.Constant.__setattr__ = setattr_
except TypeError:
    pass
attempt("trigger", lambda: typing.ForwardRef("1"))
try:
    del ast.Constant.__setattr__
except (AttributeError, TypeError):
    pass
""",
    # a data descriptor of C functions set as a field of a node class the ast module patches
    # (the parser sets the field on every node: round 20)
    "node-field-descriptor": """
import ast, typing, functools, itertools
class Sink:
    write = functools.partial(
        dict.fromkeys, map(ran.append, itertools.starmap(core.inside, itertools.repeat((), 1)))
    )
class Field:
    __set__ = functools.partial(print, file=Sink())
    __get__ = functools.partial(getattr, None.__class__, "__doc__")
missing = object()
before = ast.Constant.__dict__.get("kind", missing)
ast.Constant.kind = Field()
attempt("trigger", lambda: typing.ForwardRef("1"))
if before is missing:
    del ast.Constant.kind
else:
    ast.Constant.kind = before
""",
    # a property "args" on SQLite's exception class (the guard reads a caught error's args)
    "sqlite-error-args": """
import sqlite3
getset = BaseException.__dict__["args"]
def get(exc):
    probe()
    return getset.__get__(exc)
sqlite3.ProgrammingError.args = property(get, getset.__set__)
attempt("trigger", lambda: sqlite3.connect(":memory:").close())
del sqlite3.ProgrammingError.args
""",
}


@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize("vector", sorted(ROUND14_PROBES))
def test_round14_no_code_of_the_functions_runs_inside_the_hook(
    child: RunChild, tmp_path: Path, core: str, vector: str
) -> None:
    # GIVEN code of the function's placed where the hook's decision used to run it
    attack = (
        """
core = hooks_core()
ran = []
def probe():
    ran.append(core.inside())
"""
        + ROUND14_PROBES[vector]
        + """
print("ran-inside", [was for was in ran if was])
attempt("after", secret)
"""
    )
    if vector == "generaliser-global":
        # (the sandbox's modules with their bytecode, as the layer ships them: this checkout's
        # package is not under a module root, so the import system's compile of its source
        # at invoke would be a compile no rule allows -- this probe imports one at invoke)
        import py_compile

        from sandbox.runtime import generalisation

        source = str(generalisation.__file__)
        py_compile.compile(source, cfile=importlib.util.cache_from_source(source), doraise=True)
    # WHEN the function makes the hook decide (a refusal, an annotation, a connection)
    result = _run(
        child, tmp_path, attack, env={"SANDBOX_NATIVE": "off"} if core == "python" else None
    )
    # THEN none of it ran inside the hook, and refusals still hold
    assert "ran-inside []" in result.lines, result.stdout + result.stderr
    assert _outcomes(result)["after"] == "REFUSED", result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
def test_round14_a_class_of_the_sandboxs_cannot_be_changed_under_the_native_core(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the importable policy class (not the hook's: the hook runs a private copy), and
    # what the function finds listed under object that the sandbox's private modules made
    # (the empty anchors the private classes are built on) and under those (the private
    # classes themselves, the hook's Policy among them)
    attack = """
from sandbox.runtime.policy import Policy
Policy.__getattribute__ = lambda self, name: object.__getattribute__(self, name)
print("importable-changed")
anchors = [
    c for c in type.__subclasses__(object)
    if c.__name__ == "_anchor" and str(c.__module__).startswith("sandbox.runtime")
]
private = [s for c in anchors for s in type.__subclasses__(c) if s.__name__ == "Policy"]
print("anchors", bool(anchors), "private listed", len(private))
for cls in anchors[:1] + private:
    try:
        cls.__getattribute__ = lambda self, name: object.__getattribute__(self, name)
        print("changed")
    except TypeError:
        print("sealed")
attempt("after", secret)
"""
    # WHEN the function sets a special method on each (type.__setattr__: no audit event)
    result = _run(
        child, tmp_path, attack, env={"SANDBOX_NATIVE": "off"} if core == "python" else None
    )
    # THEN the importable class changes (nothing the hook runs); under the native core only
    # the anchor is listed, and it is immutable; the Python core can neither unlist nor seal
    # (a documented limit of the fallback: the private class itself is listed and changes);
    # the refusal holds either way here
    assert "importable-changed" in result.lines, result.stdout + result.stderr
    if core == "native":
        assert "anchors True private listed 0" in result.lines, result.stdout
        assert "sealed" in result.lines and "changed" not in result.lines, result.stdout
    else:
        assert "anchors True private listed 1" in result.lines, result.stdout
        assert "changed" in result.lines, result.stdout
    assert _outcomes(result)["after"] == "REFUSED", result.stdout


def test_round17_the_phase_switch_keeps_the_functions_value_it_replaces(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN an object of the function's stored in os.environ's data as the phase variable
    # during init (a plain dict store, no event), with a finalizer that notes where it runs
    # (a C function: no frame of its own, so the frame guard does not see it)
    attack = """
import functools, weakref
ran = []
class Planted:
    pass
planted = Planted()
ref = weakref.ref(planted, functools.partial(ran.append))
os.environ._data[b"SANDBOX_PHASE"] = planted
del planted
"""
    doc = {"schema_version": 1, "function": "t", "extends": ["python-runtime"], "rules": {}}
    (tmp_path / "profile.json").write_text(json.dumps(doc))
    code = (
        "import os, sys\nimport sandbox\nfrom sandbox.runtime.control import mark_invoke_phase\n"
        "sandbox.install(mode='enforce', profile='profile.json')\n"
        + attack
        + "mark_invoke_phase()\nprint('freed', ref() is None, 'ran', len(ran))\n"
    )
    result = child(code, env=AUDIT_ALONE)
    # WHEN the bootstrap moves to invoke THEN the replaced value was kept, not freed in the
    # hook (where its finalizer would run as the sandbox's own code)
    assert "freed False ran 0" in result.lines, result.stdout + result.stderr


def test_round17_only_the_shape_parses_own_name_is_answered_without_a_decision(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN enforce with no rule for them WHEN the function opens the shape parse's file name
    # (PATH_MAX characters, which no kernel opens: the parser's error path asks for it),
    # another name that long, and names below /dev/null (answered without a decision until
    # red team 67)
    attack = """
from sandbox.runtime.values import SHAPE_FILE
for tag, name in (("shape", SHAPE_FILE), ("long", "/" + "a" * 5000),
                  ("null", "/dev/null/<shape>"), ("null-up", "/dev/null/../../etc/passwd")):
    try:
        open(name)
        print(tag, "OPENED")
    except NotADirectoryError:
        print(tag, "ENOTDIR")
    except PermissionError:
        print(tag, "REFUSED")
    except OSError as exc:
        print(tag, os.strerror(exc.errno) if exc.errno else "OSError")
"""
    result = _run(child, tmp_path, attack)
    # THEN the kernel refuses the shape parse's name (ENAMETOOLONG) with no finding; any other
    # name, however long, and the names below /dev/null are decided: refused, reported
    assert result.lines[-4:] == [
        "shape File name too long",
        "long REFUSED",
        "null REFUSED",
        "null-up REFUSED",
    ], result.stdout + result.stderr
    assert not [f for f in result.findings if "<shape>/___" in f.get("target", "")]
    assert [f["target"] for f in result.findings if "/dev/null" in f.get("target", "")] == [
        "/dev/null/<shape>"
    ]


def _private_dev() -> list[str] | None:
    """``unshare`` + ``sh`` that give a command a mount namespace of its own with a fresh
    ``/dev`` (tmpfs), or ``None`` where this process may not make one (not root)."""
    prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c"]
    try:
        probe = subprocess.run(
            [*prefix, "mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if probe.returncode == 0 else None


@pytest.mark.parametrize("core", ["native", "python"])
def test_red_teams_67_70_dev_null_is_never_replaced_and_nothing_below_it_is_unchecked(
    tmp_path: Path, core: str
) -> None:
    # GIVEN enforce where the function may write /dev/null (the runtime bundle's rule) and
    # runs as root, in a mount namespace of its own (a private /dev)
    prefix = _private_dev()
    if prefix is None:
        pytest.skip("needs a private mount namespace (unshare -m, mount): root only")
    doc = profile_doc(
        files=[
            {"action": "write", "target": "/dev/null"},
            {"action": "write", "target": "{task}/plain"},
        ]
    )
    (tmp_path / "profile.json").write_text(json.dumps(doc))
    code = f"""
import os, sandbox
sandbox.install(mode="enforce", profile="profile.json")
def attempt(tag, fn):
    try:
        fn()
        print(tag, "ALLOWED")
    except PermissionError:
        print(tag, "REFUSED")
    except OSError as exc:
        print(tag, "OSError", exc.errno)
# WHEN it removes /dev/null (to make a device of its choosing there with os.mknod, which
# raises no event: red team 70), renames a file over it, makes a folder in /dev, and puts a
# link to the root at /dev/null, then reads and writes below it, and opens the shape parse's
# own file name
open("plain", "w").close()
attempt("remove", lambda: os.remove("/dev/null"))
attempt("rename-over", lambda: os.rename("plain", "/dev/null"))
attempt("mkdir", lambda: os.mkdir("/dev/zz"))
attempt("link", lambda: os.symlink("/", "/dev/null"))
attempt("read", lambda: open("/dev/null/etc/shadow").read())
attempt("write", lambda: open("/dev/null" + {str(tmp_path / "planted")!r}, "w").write("x"))
attempt("shape-file", lambda: open({SHAPE_FILE!r}).read())
print("planted", os.path.exists({str(tmp_path / "planted")!r}))
attempt("null", lambda: open("/dev/null", "w").write("x"))
"""
    # (/dev only: the interpreter, its venv and the test's folder may all be below /tmp)
    script = 'mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 && exec "$0" -c "$1"'
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "AWS_LAMBDA"))}
    env.update(
        PYTHONPATH=str(REPO),
        LAMBDA_TASK_ROOT=str(tmp_path),
        PYTHONDONTWRITEBYTECODE="1",
        SANDBOX_SECCOMP="off",
        SANDBOX_LANDLOCK="off",
        **({"SANDBOX_NATIVE": "off"} if core == "python" else {}),
    )
    proc = subprocess.run(
        [*prefix, script, sys.executable, code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in proc.stdout.splitlines() if not line.startswith("{")]
    # THEN no name in the system's /dev changes, though the rule lets the function write
    # /dev/null (an open there trusts the device node it finds); nothing below /dev/null is
    # answered unchecked: the read of /etc/shadow and the planted write are refused; the shape
    # parse's file name still opens nothing (ENAMETOOLONG: 36); /dev/null is written as allowed
    assert lines == [
        "remove REFUSED",
        "rename-over REFUSED",
        "mkdir REFUSED",
        "link REFUSED",
        "read REFUSED",
        "write REFUSED",
        "shape-file OSError 36",
        "planted False",
        "null ALLOWED",
    ], proc.stdout + proc.stderr


ROUND18_TEXT_OF_THE_FUNCTIONS = """
import functools
grabbed = []
class Text(str):
    pass
def touch(path):
    return open(path)
def compile_it():
    return compile("1 + 1", "<zz>", "eval")
# (no audit event: the code objects' file names become text of the function's; the native
# core renames only the code the import system has just unmarshalled)
try:
    sys.modules["_imp"]._fix_co_filename(touch.__code__, Text("/tmp/zz_attack.py"))
    sys.modules["_imp"]._fix_co_filename(compile_it.__code__, Text("<zz>"))
    print("renamed DONE")
except PermissionError:
    print("renamed REFUSED")
# Its methods and operators are C functions: no frame of their own
Text.startswith = functools.partial(dict.fromkeys, map(grabbed.append, map(sys._getframe, range(7))))
key = "files\\x1fread\\x1finvoke\\x1f" + os.path.abspath("secret.txt")
Text.__add__ = {":": Text("<zz>:x")}.get
Text.__eq__ = functools.partial(dict.fromkeys, map(core.cache_add, [key]))
attempt("site", lambda: touch("secret.txt"))
attempt("target", compile_it)
print("frames", len(grabbed))
attempt("read", lambda: open("secret.txt").read())
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round18_text_of_the_functions_in_a_code_object_runs_nothing_in_the_hook(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN code objects whose file names are a str subclass of the function's (renamed with
    # _imp._fix_co_filename), its methods C functions that grab frames or add to the core's
    # cache
    attack = "core = hooks_core()\n" + ROUND18_TEXT_OF_THE_FUNCTIONS
    # WHEN the sandbox reports and decides for that code
    env = {"SANDBOX_NATIVE": "off"} if core == "python" else {}
    result = _run(child, tmp_path, attack, env=env)
    outcomes = _outcomes(result)
    # THEN the native core refuses the rename itself (after install only the import system
    # renames, the code it has just unmarshalled); with the Python core the rename happens,
    # and none of those methods ran inside the hook: no frame, no allowance
    assert outcomes.get("renamed") == ("REFUSED" if core == "native" else "DONE"), result.stdout
    assert "frames 0" in result.lines, result.stdout + result.stderr
    assert outcomes.get("read") == "REFUSED", result.stdout + result.stderr


ROUND19_EXCEPTION_OF_THE_FUNCTIONS = """
import functools
held = RuntimeError("the function's")
def _spent():
    yield
spent = _spent()
spent.close()
class Meta(type):
    pass
# A C function as the metaclass's ==: raises the exception the function holds, no frame
Meta.__eq__ = functools.partial(dict.fromkeys, map(spent.throw, [held]))
class Port(int, metaclass=Meta):
    pass
s = socket.socket()
attempt("connect", lambda: s.connect(("127.0.0.1", Port(9))))
s.close()
print("frames", 0 if held.__traceback__ is None else 1)
"""


def test_round19_an_exception_of_the_functions_leaves_the_hook_without_its_frames(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a port of an int class whose metaclass's == is a C function raising an exception
    # the function holds
    # WHEN the sandbox decides the connect
    result = _run(child, tmp_path, ROUND19_EXCEPTION_OF_THE_FUNCTIONS)
    # THEN the port's class is read by identity (no == of the function's runs), and no
    # exception the hook handles keeps a traceback into it
    assert "frames 0" in result.lines, result.stdout + result.stderr


ROUND19_KEY_OF_THE_FUNCTIONS_IN_A_FRAMES_LOCALS = """
import functools, io, marshal
import importlib._bootstrap_external as external
opened = []
class Key:
    def __hash__(self):
        return hash("bytecode_path")
# A C function as ==: opens the secret when the hook's read of the frame's locals compares it
Key.__eq__ = functools.partial(dict.fromkeys, map(opened.append, map(io.open, ["secret.txt"], ["rb"])))
class Loader:
    def get_filename(self, name):
        return "/nonexistent/x.py"
    def path_stats(self, path):
        space = sys._getframe(1).f_locals  # get_code's locals (a persistent dict before 3.13)
        space.pop("bytecode_path", None)
        space[Key()] = 0
        return {"mtime": 0, "size": 0}
    def get_data(self, path):
        return external.MAGIC_NUMBER + bytes(12) + marshal.dumps(None)
external.memoryview = functools.partial(marshal.loads)  # the unmarshal under get_code's frame
try:
    attempt("get_code", lambda: external.SourceLoader.get_code(Loader(), "x"))
finally:
    del external.memoryview
print("opened", len(opened))
"""


def test_round19_a_key_of_the_functions_runs_under_no_own_open(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a key of the function's in an import-system frame's locals whose == is a C function
    # opening the secret (no frame: it runs under the sandbox's function reading the locals)
    # WHEN the sandbox decides the unmarshal under that frame
    result = _run(child, tmp_path, ROUND19_KEY_OF_THE_FUNCTIONS_IN_A_FRAMES_LOCALS)
    # THEN the function reading the locals has no `open` of its own (only the module-file
    # reader does, which calls nothing of the function's): the open is decided, and refused
    assert "opened 0" in result.lines, result.stdout + result.stderr


# Round 31: the frozen classes are subclasses of the sandbox's own (importable) classes, and
# type.__subclasses__() raises no audit event: a frozen method's __globals__ was the hook's
# private snapshot of its module, open to any assignment, and through the private modules in
# it every other snapshot (an own function or a C builtin put in place of a check runs under
# no frame guard).
ROUND31_SUBCLASSES_TO_THE_SNAPSHOTS = """
import builtins, types
originals = {id(vars(m)) for m in list(sys.modules.values()) if hasattr(m, "__dict__")}
loaded = {id(m) for m in list(sys.modules.values())}
snapshots = {}
seen = set()
# Everything the function's code reaches without gc or frames: every module, the builtins and
# the import system's lists, walked through containers, functions (globals, closure cells,
# defaults), methods, classes (their dicts and type.__subclasses__()) and instances (their
# dicts and slots).
pending = [*list(sys.modules.values()), builtins, sys.meta_path, sys.path_hooks,
           sys.path_importer_cache]
while pending:
    obj = pending.pop()
    if id(obj) in seen:
        continue
    seen.add(id(obj))
    kind = type(obj)
    if kind is dict:
        name = obj.get("__name__")
        # (a copy of a loaded module's globals: namedtuple's and dataclasses' generated code
        # has globals of its own, named after no module)
        if type(name) is str and name in sys.modules and id(obj) not in originals:
            snapshots[id(obj)] = obj
        pending.extend(obj.values())
    elif kind is types.ModuleType:
        # (a module object named like a loaded one but not it: 3.12's sys.monitoring is in
        # no sys.modules entry, and no copy)
        if id(obj) not in loaded and obj.__name__ in sys.modules:
            snapshots[id(obj.__dict__)] = obj.__dict__  # a private module
        pending.append(obj.__dict__)
    elif kind in (list, tuple, set, frozenset):
        pending.extend(obj)
    elif kind is types.FunctionType:
        pending += [obj.__globals__, obj.__defaults__, obj.__kwdefaults__, obj.__dict__]
        for cell in obj.__closure__ or ():
            try:
                pending.append(cell.cell_contents)
            except ValueError:
                pass
    elif kind is types.MethodType:
        pending += [obj.__func__, obj.__self__]
    elif isinstance(obj, type):
        pending.append(dict(vars(obj)))
        try:
            pending.extend(type.__subclasses__(obj))
        except TypeError:
            pass
    elif kind in (staticmethod, classmethod):
        pending.append(obj.__func__)
    elif kind is property:
        pending += [obj.fget, obj.fset, obj.fdel]
    elif kind not in (str, bytes, int, float, bool, type(None)):
        space = getattr(obj, "__dict__", None)
        if type(space) is dict:
            pending.append(space)
        for klass in kind.__mro__:
            slots = klass.__dict__.get("__slots__", ())
            for slot in slots if isinstance(slots, (tuple, list)) else ():
                try:
                    pending.append(object.__getattribute__(obj, slot))
                except Exception:
                    pass
        pending.append(kind)
print("walked", len(seen))
print("snapshots", len(snapshots))
for space in snapshots.values():
    for name, value in list(space.items()):
        if callable(value) and not isinstance(value, type) and not name.startswith("__"):
            space[name] = bool  # (a C builtin: no frame for a guard to see)
attempt("read-secret", secret)
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round31_no_frozen_class_leads_to_the_hooks_snapshots(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce WHEN the function walks every object it can reach without gc or frames
    # (type.__subclasses__() included), collects every copy of a module's globals and every
    # module not in sys.modules it finds, and rebinds every function in them
    result = _run(
        child,
        tmp_path,
        ROUND31_SUBCLASSES_TO_THE_SNAPSHOTS,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    found = int(next(line.split()[1] for line in result.lines if line.startswith("snapshots ")))
    if core == "native":
        # THEN the native core lists no frozen copy: no snapshot is found, the read is refused
        assert found == 0, result.stdout + result.stderr
        assert _outcomes(result)["read-secret"] == "REFUSED", result.stdout + result.stderr
    else:
        # THEN (a documented limit of the Python core) the copies are listed and their
        # snapshots reachable; what the rebinding then does to a decision is not defended
        assert found > 0, result.stdout + result.stderr


INTROSPECT_FINDS_THE_HOOKS_OBJECTS = """
import gc
objects = gc.get_objects()
found = sorted({type(o).__qualname__ for o in objects
                if type(o).__module__.startswith("sandbox.runtime")
                and getattr(sys.modules.get(type(o).__module__), type(o).__name__, None)
                is not type(o)})
print("frozen-instances", ",".join(found))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_an_introspect_rule_gives_the_hooks_python_objects_away(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a profile that allows gc walks (`code introspect`, a risky rule) WHEN the function
    # walks gc.get_objects()
    rules = {"code": [{"action": "introspect", "target": "**", "phase": "any"}]}
    result = _run(
        child,
        tmp_path,
        INTROSPECT_FINDS_THE_HOOKS_OBJECTS,
        rules,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN (a documented limit on either core) it finds the hook's Python objects: the policy,
    # the address book, the reporter -- ordinary objects it can change
    line = next(x for x in result.lines if x.startswith("frozen-instances "))
    found = set(line.split(" ", 1)[1].split(","))
    assert {"Policy", "AddressBook", "Reporter"} <= found, result.stdout + result.stderr


# Round 31 (a second red team, on the decisions): the ways past the hook's code that need no
# object of the hook's -- another thread's exception, a parser's flags, a thread with no frame.
ROUND31_ANOTHER_THREADS_EXCEPTION = """
import threading
got = []
def look():
    try:
        got.append(len(sys._current_exceptions()))
        print("current-exceptions DONE")
    except PermissionError as exc:
        print("current-exceptions REFUSED", exc.category, exc.action)
thread = threading.Thread(target=look)
thread.start()
thread.join()
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round31_another_threads_exception_is_introspection(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce WHEN a second thread asks for every thread's exception being handled (while
    # the hook handles one of its own, its traceback leads into the hook's frames)
    result = _run(
        child,
        tmp_path,
        ROUND31_ANOTHER_THREADS_EXCEPTION,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN it is refused on any thread, as sys._current_frames is, and reported
    assert "current-exceptions REFUSED code introspect" in result.lines, result.stdout
    assert any(f["category"] == "code" and f["action"] == "introspect" for f in result.findings), (
        result.stdout
    )


ROUND31_AST_PARSE_AS_A_COMPILER = """
import ast
attempt("tree", lambda: type(ast.parse("1 + 2")).__name__)
ast.PyCF_ONLY_AST = 0  # (ast.parse reads its flags from this global)
attempt("code", lambda: type(ast.parse("open('secret.txt').read()", "<mine>", "exec")).__name__)
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round31_ast_parse_compiles_syntax_trees_only(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the runtime bundle's rule for ast.parse's compile (a syntax tree, no code) WHEN the
    # function rebinds the flags ast.parse passes so that it returns a code object
    result = _run(
        child,
        tmp_path,
        ROUND31_AST_PARSE_AS_A_COMPILER,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    outcomes = _outcomes(result)
    # THEN a syntax tree is still parsed, and the compile to code is refused as a site of its
    # own (not the parser's), and reported
    assert outcomes["tree"] == "DONE", result.stdout + result.stderr
    assert outcomes["code"] == "REFUSED", result.stdout + result.stderr
    assert any(f["target"].endswith("/ast.py:parse#code") for f in result.findings), result.stdout


ROUND31_FRAMELESS_THREADS = """
import _thread, subprocess, time
out = subprocess.run([sys.executable, "-c", "print('child-ran')"], capture_output=True, text=True)
print("command", "RAN" if "child-ran" in out.stdout else "NOT", out.stderr[-300:].replace("\\n", " "))
ran = []
_thread.start_new_thread(exec, ("ran.append(1)", {"ran": ran}))
_thread.start_new_thread(open, (os.path.abspath("frameless.txt"),))
time.sleep(1.0)
print("frameless-exec", "RAN" if ran else "NOT")
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round31_a_thread_with_no_frame_has_a_site_of_its_own(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a profile that learned a Python child's -c command (compiled with no Python frame)
    rules = {
        "processes": [
            {"action": "exec", "target": sys.executable, "phase": "any"},
            {"action": "exec", "target": os.path.realpath(sys.executable), "phase": "any"},
        ],
        "code": [{"action": "compile", "target": "<unknown>:<unknown>", "phase": "any"}],
    }
    # WHEN the function starts that child, then threads straight into exec and open (no frame)
    result = _run(
        child,
        tmp_path,
        ROUND31_FRAMELESS_THREADS,
        rules,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN the child's command still compiles under the rule; the frameless exec is a site of
    # its own, refused and reported; the frameless open is refused and reported too (the
    # Python core's hook used to fail there with no finding)
    assert any(line.startswith("command RAN") for line in result.lines), result.stdout
    assert "frameless-exec NOT" in result.lines, result.stdout + result.stderr
    targets = {(f["category"], f["action"], f["target"]) for f in result.findings}
    assert ("code", "compile", "<no frame>:<no frame>") in targets, result.stdout
    assert ("files", "read", "{task}/frameless.txt") in targets, result.stdout


# Round 32 (a red team on the fixes of round 31): the same classes by other means.
# (B, a link to the secret, is present before the sandbox starts: making it would be refused)
ROUND32_STALE_PATH_LINK = """
import os, tempfile
_link = tempfile.gettempdir() + "/" + "%06d" % (os.getpid() % 1000000) + "bb"
if os.path.lexists(_link):
    os.remove(_link)
os.symlink(os.path.abspath("secret.txt"), _link)
"""

ROUND32_STALE_PATH_CACHE = """
import ast, tempfile
tmp = tempfile.gettempdir()
tag = "%06d" % (os.getpid() % 1000000)
A, B = tmp + "/" + tag + "aa", tmp + "/" + tag + "bb"  # ({tmp}/????????: the base's rules)
A2 = tmp + "/./" + tag + "aa"  # (a spelling the native core leaves to the callback)
def reset():
    try:
        os.remove(A)
    except FileNotFoundError:
        pass
def down(n):
    if n == 0:
        try:
            ast.parse("x")
        except BaseException:
            pass
        return
    return down(n - 1)
limit = sys.getrecursionlimit()
read = []
for offset in range(-14, 14):
    reset()
    with open(A, "w") as f:
        f.write("plain")
    open(A2).read()  # the path cache keeps the answer for this spelling
    os.rename(B, A)  # answered by the core, which queues both names to be forgotten
    try:
        down(limit - 8 - offset)  # the next callback runs with almost no stack left
    except RecursionError:
        pass
    try:
        read.append(open(A2).read())
    except PermissionError:
        pass
    os.rename(A, B)  # the link back to its own name, for the next round
reset()
os.remove(B)
print("secret-read", any("s3cr3t" in data for data in read))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round32_a_failed_callback_leaves_no_stale_path_answer(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a path answer kept for one spelling of a temp file, the file then replaced by a link
    # to the secret (present before the sandbox started; a rename the core answers, queueing
    # the names for the callback to forget)
    # WHEN the next callback runs with the stack nearly full, at every depth around the limit
    result = _run(
        child,
        tmp_path,
        ROUND32_STALE_PATH_CACHE,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
        staged=ROUND32_STALE_PATH_LINK,
    )
    # THEN no read through the stale spelling reaches the secret
    assert "secret-read False" in result.lines, result.stdout + result.stderr


ROUND32_FINDINGS_NEAR_THE_RECURSION_LIMIT = """
def probe():
    try:
        open("secret.txt").read()
    except PermissionError:
        pass
def down(n):
    return probe() if n == 0 else down(n - 1)
limit = sys.getrecursionlimit()
for i in range(1, 9):
    try:
        down(limit - 10 - i)
    except RecursionError:
        pass
probe()
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round32_a_finding_lost_near_the_recursion_limit_is_written_next_time(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN refusals of one target from one line, made with the stack nearly full (the finding
    # runs out of stack while its line is made) WHEN the same refusal happens at a normal depth
    result = _run(
        child,
        tmp_path,
        ROUND32_FINDINGS_NEAR_THE_RECURSION_LIMIT,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN a finding names the target (a line that was never written is not a counted repeat)
    assert any(f["target"] == "{task}/secret.txt" for f in result.findings), result.stdout


ROUND32_AST_PARSE_VERDICT = """
import ast
S = "open('secret.txt').read()"
attempt("tree", lambda: type(ast.parse(S)).__name__)
ast.PyCF_ONLY_AST = 0
attempt("same-source-as-code", lambda: type(ast.parse(S)).__name__)
"""

ROUND32_NAMEDTUPLE_SOURCE = """
import collections, functools, builtins
real = collections._sys
class Fake:
    def __getattr__(self, name):
        return getattr(real, name)
    @staticmethod
    def intern(s):
        return "a=0: (open('secret.txt').read()) #" if s == "a" else real.intern(s)
collections._sys = Fake()
attempt("intern-rebound", lambda: collections.namedtuple("T", ["a"]).__name__)
fake = Fake()
fake.intern = functools.partial(exec, "open('secret.txt').read()", {"__builtins__": builtins})
collections._sys = fake
attempt("exec-as-intern", lambda: collections.namedtuple("U", ["a"]).__name__)
collections._sys = real
attempt("plain", lambda: collections.namedtuple("V", ["a", "b"]).__name__)
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round32_library_sites_compile_only_their_own_source(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the runtime bundle's compile rules for ast.parse and namedtuple WHEN the function
    # bends them through their module globals (a verdict kept for a syntax tree, then the same
    # source as code; namedtuple's _sys.intern rebound, or made exec itself)
    env = {"SANDBOX_NATIVE": "off"} if core == "python" else None
    parse = _outcomes(_run(child, tmp_path, ROUND32_AST_PARSE_VERDICT, env=env))
    named = _run(child, tmp_path, ROUND32_NAMEDTUPLE_SOURCE, env=env)
    outcomes = _outcomes(named)
    # THEN only their own work passes: a tree, a namedtuple of plain names
    assert parse["tree"] == "DONE" and parse["same-source-as-code"] == "REFUSED", parse
    assert outcomes["intern-rebound"] == "REFUSED", named.stdout + named.stderr
    assert outcomes["exec-as-intern"] == "REFUSED", named.stdout + named.stderr
    assert outcomes["plain"] == "DONE", named.stdout + named.stderr
    assert any(f["target"].endswith(":namedtuple#other") for f in named.findings), named.stdout


ROUND32_STATUS_COPY = """
status = sandbox.status()
before = (status["layers"]["audit"], status["mode"])
status["layers"]["audit"] = "off"
status["mode"] = "off"
after = (sandbox.status()["layers"]["audit"], sandbox.status()["mode"])
print("status-unchanged", before == after and "off" not in after)
attempt("read-secret", secret)
"""


def test_round32_the_status_is_a_copy_all_the_way_down(child: RunChild, tmp_path: Path) -> None:
    # GIVEN enforce WHEN the function edits what sandbox.status() returned
    result = _run(child, tmp_path, ROUND32_STATUS_COPY)
    # THEN neither the status nor the layers its findings report change
    assert "status-unchanged True" in result.lines, result.stdout
    assert all(f["layers"]["audit"] == "native" for f in result.findings if "layers" in f)


ROUND33_ONE_REFUSAL_NEAR_THE_LIMIT = """
def probe():
    try:
        open("secret.txt").read()
        return "DONE"
    except PermissionError:
        return "REFUSED"
    except RecursionError:
        return "RECURSION"
def down(n):
    return probe() if n == 0 else down(n - 1)
limit = sys.getrecursionlimit()
seen = set()
for headroom in range(3, 12):
    try:
        seen.add(down(limit - headroom - 4))
    except RecursionError:
        pass
print("outcomes", sorted(seen))
os._exit(0)  # (no end-of-invocation summary: only what was written when it happened counts)
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round33_a_refusal_with_the_stack_nearly_full_is_reported(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce WHEN the function reads the secret once at each depth just under the
    # recursion limit (it chooses how deep the hook is called from)
    result = _run(
        child,
        tmp_path,
        ROUND33_ONE_REFUSAL_NEAR_THE_LIMIT,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN the read is never done
    assert "DONE" not in result.stdout.split("outcomes", 1)[-1], result.stdout
    reported = any(f["target"] == "{task}/secret.txt" for f in result.findings)
    if core == "native":
        # AND the native core gives the hook's Python half stack of its own: it is reported
        assert reported, result.stdout + result.stderr
    # (the Python core cannot: a stated limit -- the refusal may leave no record)


# Round 34: SQLite's exception classes sealed by the function, never-initialised connections,
# a class dict changed behind the class's back, and a relative temporary folder.
CORE_ENV = {"native": {}, "python": {"SANDBOX_NATIVE": "off"}}


@pytest.mark.parametrize("core", sorted(CORE_ENV))
def test_round34_a_sqlite_error_class_the_function_sealed_is_still_checked(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN SQLite's errors given an __init__ of the function's, then sealed with the core's
    # own seal_types (an immutable heap class is what a C library makes)
    attack = """
import sqlite3
core = hooks_core()
inside = []
def init(self, *a):
    inside.append(core.inside())
    BaseException.__init__(self, *a)
sqlite3.ProgrammingError.__init__ = init
sqlite3.OperationalError.__init__ = init
print("sealed", core.seal_types((sqlite3.ProgrammingError, sqlite3.OperationalError)))
try:
    raise KeyError("a handled exception: 3.11 creates the error SQLite raises at once")
except KeyError:
    attempt("connect", lambda: sqlite3.connect(":memory:"))
print("ran-inside", [was for was in inside if was])
"""
    result = _run(child, tmp_path, attack, env=CORE_ENV[core])
    # THEN the seal does nothing once the sandbox is installed, and the connection is refused
    # (its classes run code) with nothing of the function's run inside the hook
    assert "sealed False" in result.lines, result.stdout + result.stderr
    assert _outcomes(result)["connect"] == "REFUSED", result.stdout
    assert "ran-inside []" in result.lines


@pytest.mark.parametrize("core", sorted(CORE_ENV))
def test_round34_a_forged_handle_event_for_a_never_initialised_connection_is_refused(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a Connection made with __new__ alone (its error members empty: SQLite raises its
    # module's own classes for it) and ProgrammingError given an __init__ of the function's
    # that calls the sandbox's one-shot profile function (a second flush inside the first)
    attack = """
import sqlite3
core = hooks_core()
runs = []
def init(self, *a):
    BaseException.__init__(self, *a)
    runs.append(core.inside())
    profile = sys.getprofile()
    if profile is not None and len(runs) < 3:
        profile(None, "call", None)
sqlite3.ProgrammingError.__init__ = init
bare = sqlite3.Connection.__new__(sqlite3.Connection)
attempt("forged", lambda: sys.audit("sqlite3.connect/handle", bare))
print("armed", sys.getprofile() is not None)
for i in range(3):
    try:
        raise KeyError(i)
    except KeyError:
        len("x")
print("runs", len(runs))
"""
    result = _run(child, tmp_path, attack, env=CORE_ENV[core])
    # THEN the forged event is refused, no profile function is armed for the object, and
    # SQLite is never asked about it (the function's __init__ never runs)
    assert _outcomes(result)["forged"] == "REFUSED", result.stdout + result.stderr
    assert "armed False" in result.lines
    assert "runs 0" in result.lines


@pytest.mark.parametrize("core", sorted(CORE_ENV))
def test_round34_an_init_deleted_behind_the_class_s_back_never_runs_in_the_hook(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN ProgrammingError's __init__ set, looked up (the interpreter caches it), then
    # deleted from the class's real dict where a mapping proxy comparison hands it over (no
    # audit event, no cache invalidation): its dict looks as SQLite made it
    attack = """
import sqlite3
core = hooks_core()
inside = []
class Grab:
    real = None
    def __eq__(self, other):
        Grab.real = other
        return NotImplemented
    __hash__ = None
def init(self, *a):
    inside.append(core.inside())
    BaseException.__init__(self, *a)
sqlite3.ProgrammingError.__init__ = init
sqlite3.ProgrammingError.__init__
sqlite3.ProgrammingError.__dict__ == Grab()
print("handed", type(Grab.real).__name__)
if type(Grab.real) is dict:
    del Grab.real["__init__"]
print("clean", "__init__" not in sqlite3.ProgrammingError.__dict__)
attempt("connect", lambda: sqlite3.connect(":memory:"))
print("ran-inside", [was for was in inside if was])
"""
    result = _run(child, tmp_path, attack, env=CORE_ENV[core])
    # THEN nothing of the function's runs inside the hook. The native core never hands the
    # real dict over (red team 112: the proxy's comparison is sealed), so the __init__ stays
    # where the class shows it (and the core reads the class's slots anyway); with the Python
    # core the dict is handed over and emptied, and it empties the interpreter's method cache
    # before it looks
    handed = "mappingproxy" if core == "native" else "dict"
    assert f"handed {handed}" in result.lines, result.stdout + result.stderr
    assert f"clean {core != 'native'}" in result.lines, result.stdout + result.stderr
    assert "ran-inside []" in result.lines, result.stdout + result.stderr


@pytest.mark.parametrize("core", sorted(CORE_ENV))
def test_round34_a_relative_sqlite_temporary_folder_is_refused(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a folder the profile lets the function write in, with a sub-folder
    (tmp_path / "allowed" / "sub").mkdir(parents=True)
    rules = {
        "files": [
            {"action": "write", "target": "{task}/allowed/**", "phase": "any"},
            {"action": "list", "target": "{task}/allowed", "phase": "any"},  # (the chdir)
        ]
    }
    attack = """
import sqlite3
os.chdir("allowed")
con = sqlite3.connect(":memory:")
attempt("relative", lambda: con.execute("PRAGMA temp_store_directory = 'sub'"))
attempt("absolute", lambda: con.execute("PRAGMA temp_store_directory = '" + os.getcwd() + "/sub'"))
"""
    result = _run(child, tmp_path, attack, rules=rules, env=CORE_ENV[core])
    # THEN a relative folder is refused (SQLite would read it against the working directory
    # of later, after any chdir); the same folder named absolutely is decided (allowed here)
    outcomes = _outcomes(result)
    assert outcomes.get("relative") == "ERROR", result.stdout + result.stderr
    assert "not authorized" in result.stdout
    assert outcomes["absolute"] == "DONE", result.stdout + result.stderr


@pytest.mark.parametrize("core", sorted(CORE_ENV))
def test_round34_limit_a_thread_left_running_can_start_an_invocation_with_its_own_request_id(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a bootstrap-like control function (the code allowed to start invocations) and a
    # thread the first invocation leaves running, which calls that function itself between
    # invocations with a request id and an event source of its own
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    result = child(
        """
import sys, threading, time
from sandbox.runtime.install import install
def handler(event, context, _audit=sys.audit):
    _audit("sandbox.phase", "invoke")
    _audit("sandbox.invocation", context, {"source_ip": event["ip"]})
    try:
        return work(event)
    finally:
        _audit("sandbox.invocation_end")
def failed(_audit=sys.audit):
    _audit("sandbox.init_failed")
install(mode="enforce", profile="profile.json", control=(handler, failed))
gap = threading.Event()
def leftover():
    gap.wait()
    handler({"ip": "203.0.113.66", "evil": True}, "FORGED")
def work(event):
    if event.get("evil"):
        try:
            open("/etc/passwd").read()
        except PermissionError:
            print("refused", flush=True)
    elif event["ip"] == "192.0.2.1":
        threading.Thread(target=leftover).start()
handler({"ip": "192.0.2.1"}, "req-1")
gap.set()
time.sleep(0.3)
handler({"ip": "192.0.2.2"}, "req-2")
""",
        env={**AUDIT_ALONE, **CORE_ENV[core]},
    )
    # THEN the access is refused all the same, but its finding carries the request id and
    # source the thread made up: a stated limit (README, "Limits"); the control code cannot
    # tell a call of the runtime's from one of the function's own code
    assert "refused" in result.lines, result.stdout + result.stderr
    finding = next(f for f in result.findings if f["target"] == "/etc/passwd")
    assert finding["decision"] == "blocked"
    assert (finding["request_id"], finding["who"]) == ("FORGED", {"source_ip": "203.0.113.66"})


# Round 35: the function's gc.callbacks (no audit event) run at an allocation in the middle
# of the sandbox's own work.
@pytest.mark.parametrize("core", sorted(CORE_ENV))
def test_round35_a_gc_callback_cannot_change_sqlites_classes_between_check_and_raise(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a gc callback that gives ProgrammingError an __init__ as soon as a collection
    # starts while a connection is being made (the thresholds tried in turn, so that one falls
    # between the guard's class check and SQLite's raise of that class)
    attack = """
import sqlite3, gc
ran = []
def init(self, *a):
    ran.append(a)
    BaseException.__init__(self, "something else")
st = {}
def cb(phase, info):
    if not st.get("armed"):
        return
    if phase == "start" and st["conn"].ProgrammingError is not None:
        st["armed"] = False
        sqlite3.ProgrammingError.__init__ = init
    elif phase == "stop" and st["first"]:
        st["first"] = False
        gc.set_threshold(max(1, gc.get_count()[0] + st["j"]))
class Sub(sqlite3.Connection):
    def __init__(self, *a, **k):
        st.update(conn=self, armed=True, first=True)
        gc.set_threshold(max(1, gc.get_count()[0] + st["k"]))
        super().__init__(*a, **k)
        st["armed"] = False
gc.callbacks.append(cb)
made = None
for k in range(12):
    for j in range(8):
        st.update(k=k, j=j)
        try:
            raise KeyError("handled: 3.11 makes a C-raised error at once")
        except KeyError:
            try:
                conn = sqlite3.connect(":memory:", factory=Sub)
            except Exception:
                conn = None
        st["armed"] = False
        gc.set_threshold(700)
        try:
            del sqlite3.ProgrammingError.__init__
        except AttributeError:
            pass
        if ran:
            made = conn
            break
    if made is not None:
        break
gc.callbacks.remove(cb)
print("ran", len(ran))
if made is not None:
    attempt("attach", lambda: made.execute("ATTACH DATABASE 'elsewhere.db' AS x"))
print("exists", os.path.exists("elsewhere.db"))
"""
    result = _run(child, tmp_path, attack, env=CORE_ENV[core])
    # THEN the class's code never runs while the guard works (the collector is off there), no
    # connection is left without its authorizer, and no database is attached
    assert "ran 0" in result.lines, result.stdout + result.stderr
    assert "exists False" in result.lines


@pytest.mark.parametrize("core", sorted(CORE_ENV))
def test_round35_a_gc_callback_during_the_hooks_frame_lookup_is_decided_as_any_code(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a gc callback run at every collection, which reads a file the profile does not
    # allow when it finds itself called from inside the Python core's hook (where the hook
    # fetches its caller's frame, and ignored every event while it did)
    attack = """
import gc, sqlite3
got = []
def cb(phase, info):
    if got or phase != "start":
        return
    try:
        caller = sys._getframe(1).f_code.co_name
    except Exception:
        return
    if caller != "_hook":
        return
    try:
        got.append(secret())
    except Exception as exc:
        got.append("refused")
gc.set_threshold(1)
gc.callbacks.append(cb)
for i in range(200):
    if got:
        break
    sqlite3.connect(":memory:")
gc.callbacks.remove(cb)
gc.set_threshold(700)
print("read-inside", got)
"""
    result = _run(child, tmp_path, attack, env=CORE_ENV[core])
    # THEN the secret is read nowhere: the callback never runs inside the hook's lookup (the
    # collector is off there), and where it runs elsewhere inside the Python core's hook
    # (3.12+: other allocations; that core has no frame guard, a stated limit) its read is
    # decided like any
    assert any(line in ("read-inside []", "read-inside ['refused']") for line in result.lines), (
        result.stdout + result.stderr
    )
    assert "s3cr3t" not in result.stdout


# Round 36: another thread edits the resolver's answer in place while the hook reads it.
@pytest.mark.parametrize("core", sorted(CORE_ENV))
def test_round36_no_local_of_the_resolver_wrapper_holds_an_answer_that_can_be_edited(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the wrapper's own frame, taken from an __index__ its argument parsing calls (a
    # second thread reading that frame's locals -- no audit event -- could edit a list there
    # while the hook remembers the name's addresses from it)
    attack = """
import _socket
box = {}
class Family:
    def __index__(self):
        box["frame"] = sys._getframe(1)
        return socket.AF_INET
answer = _socket.getaddrinfo("localhost", 8443, Family(), socket.SOCK_STREAM)
frame = box["frame"]
print("wrapper", frame.f_code.co_name)
mutable = sorted(k for k, v in frame.f_locals.items() if type(v) in (list, dict, bytearray) and v)
print("mutable-locals", mutable)
print("answer-kept-as", type(frame.f_locals.get("answer")).__name__)
print("caller-gets", type(answer).__name__, answer[0][4][0])
"""
    rules = {"network": [{"action": "connect", "target": "localhost:*", "phase": "any"}]}
    result = _run(child, tmp_path, attack, rules=rules, env=CORE_ENV[core])
    # THEN what the wrapper keeps is immutable (tuples all the way down), made in the very
    # expression that called the resolver; the caller still gets a list of its own
    assert "wrapper _wrapper" in result.lines, result.stdout + result.stderr
    assert "mutable-locals []" in result.lines
    assert "answer-kept-as tuple" in result.lines
    assert "caller-gets list 127.0.0.1" in result.lines


# Round 42: what a refusal and the import guard hand the function. The hook ran on frozen
# copies that subclassed the importable error classes (private copies since): a refusal was an
# instance of the copy, and its method's __globals__ the very dict the hook's build_violation
# looks its C helpers up in; helpers that return None made every refusal "no violation".
ROUND42_A_REFUSALS_GLOBALS = """
import functools, io
try:
    secret()
except PermissionError as exc:
    refused = exc
print("importable-class", type(refused) is sandbox.PermissionViolation)
space = type(refused).__str__.__globals__
nothing = functools.partial(print, file=io.StringIO())
for name in ("_oserror_new", "_oserror_init", "_instance_dict", "_dict_update", "_message"):
    space[name] = nothing
attempt("read-secret", secret)
attempt("write-outside", lambda: open("outside.txt", "w").write("x"))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round42_a_refusals_class_leads_to_nothing_the_hook_runs(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a refusal caught by the function, and the globals of its class's methods rewritten
    # so that building a refusal would make nothing
    result = _run(
        child,
        tmp_path,
        ROUND42_A_REFUSALS_GLOBALS,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # WHEN the function tries again
    outcomes = _outcomes(result)
    # THEN the refusal is the importable class (the function catches what it imports), whose
    # globals are the importable module's: the hook builds its refusals on its own copy
    assert "importable-class True" in result.lines, result.stdout + result.stderr
    assert outcomes["read-secret"] == "REFUSED", result.stdout + result.stderr
    assert outcomes["write-outside"] == "REFUSED", result.stdout
    assert not (tmp_path / "outside.txt").exists()


ROUND42_THE_IMPORT_GUARDS_STATE = """
import types
finder = sys.meta_path[0]
held = list(finder.find_spec.__closure__ or ())
held = [c.cell_contents for c in held] + list(finder.find_spec.__code__.co_consts)
spaces = [v.__globals__ for v in held if type(v) is types.FunctionType]
print("globals-with-state", sum(1 for space in spaces if set(space) - {"__builtins__"}))
attempt("read-secret", secret)
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round42_the_import_guard_leads_to_a_cores_state_only_on_the_python_core(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the import guard, first in sys.meta_path for anyone to read, and what its
    # find_spec holds (closure cells, its code's constants: read with no refusal outside the
    # hook)
    result = _run(
        child,
        tmp_path,
        ROUND42_THE_IMPORT_GUARDS_STATE,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # WHEN the function looks at every function among them
    # THEN on the native core none has globals of any use ("known?" is answered in C); on the
    # Python core its "known?" function leads to that core's state -- a stated limit of the
    # fallback, whose state its listed private classes lead to as well (round 31)
    expected = "globals-with-state 0" if core == "native" else "globals-with-state 1"
    assert expected in result.lines, result.stdout + result.stderr
    assert _outcomes(result)["read-secret"] == "REFUSED", result.stdout


# Round 43: a published wrapper's state in closure cells. The resolver wrappers read their
# helpers from a cell the hook checked only when the answer's event came: a helper of the
# function's, put in the cell and put back from inside the call, made `localhost` answer an
# address of its choosing (any connect then passed as `localhost:*`). Every function the hook
# publishes now holds what it uses as constants of its code: no cell, no globals.
ROUND43_PUBLISHED_FUNCTIONS = """
import _socket, types
finder = sys.meta_path[0]
published = [finder.find_spec, finder.invalidate_caches, _socket.getaddrinfo,
             _socket.gethostbyname, _socket.gethostbyname_ex]
print("functions", sum(1 for f in published if type(f) is types.FunctionType))
print("with-cells", sum(1 for f in published if f.__closure__))
print("with-globals", sum(1 for f in published if f.__globals__ != {"__builtins__": {}}))
print("localhost", sorted({a[4][0] for a in socket.getaddrinfo("localhost", 9, socket.AF_INET)}))
attempt("connect-unlisted", lambda: socket.create_connection(("127.0.0.2", 9), timeout=1))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round43_published_functions_hold_no_cell_and_no_globals(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the functions the hook puts where the function's code reads them (the import
    # guard's, the resolver wrappers), and a profile that allows `localhost` only
    rules = {
        "network": [
            {"action": "resolve", "target": "localhost", "phase": "any"},
            {"action": "connect", "target": "localhost:*", "phase": "any"},
        ]
    }
    result = _run(
        child,
        tmp_path,
        ROUND43_PUBLISHED_FUNCTIONS,
        rules=rules,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # WHEN the function looks at them and resolves the allowed name
    # THEN none has a closure cell or globals to rewrite; the answer is the real one, and an
    # address it did not give is refused before any connect
    assert "functions 5" in result.lines, result.stdout + result.stderr
    assert "with-cells 0" in result.lines, result.stdout
    assert "with-globals 0" in result.lines, result.stdout
    assert "localhost ['127.0.0.1']" in result.lines, result.stdout
    assert _outcomes(result)["connect-unlisted"] == "REFUSED", result.stdout


# Round 44: the sealed functions' code objects are new (made at install, in no module's code
# tree): not counted as the sandbox's own, their __code__ could be reassigned with no finding.
# And deleting a function's defaults raises object.__delattr__, not __setattr__: the control
# functions' and the sealed helpers' defaults could be deleted unnoticed (the calls then fail).
ROUND44_SEALED_AND_DELETED = """
import _socket
from sandbox.runtime import control
def plain(*args, **kwargs):
    return None
finder = type(sys.meta_path[0])
targets = (("guard", finder.find_spec), ("resolver", _socket.gethostbyname))
for label, target in targets:
    attempt("code-" + label, lambda: setattr(target, "__code__", plain.__code__))
def delete_defaults():
    del control.mark_invoke_phase.__defaults__
attempt("delete-control-defaults", delete_defaults)
attempt("none-control-defaults", lambda: setattr(control.end_invocation, "__defaults__", None))
print("resolves", _socket.gethostbyname("localhost"))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_round44_sealed_code_and_deleted_defaults_are_tampering(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the published sealed functions and the control functions
    rules = {"network": [{"action": "resolve", "target": "localhost", "phase": "any"}]}
    result = _run(
        child,
        tmp_path,
        ROUND44_SEALED_AND_DELETED,
        rules=rules,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # WHEN the function reassigns their code or deletes their defaults
    outcomes = _outcomes(result)
    # THEN each is refused as tampering, and they still work
    for label in ("code-guard", "code-resolver", "delete-control-defaults"):
        assert outcomes[label] == "REFUSED", result.stdout + result.stderr
    assert outcomes["none-control-defaults"] == "REFUSED", result.stdout
    assert "resolves 127.0.0.1" in result.lines, result.stdout
