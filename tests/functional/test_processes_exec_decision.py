"""The exec decision's short ways under attack: each is taken afresh or refused (one subprocess per case).

An allowed exec is decided in fewer steps than the general case when it is the usual one (no
``env=``, no ``cwd=``, an absolute program name in normal form): its target string is kept per
``(program, *argv)`` (pure string work), the Popen-helper checks probe exact-str dicts
directly and see the sealed ``fork_exec`` wrapper in place at once, and Popen's frame is read
(for ``pass_fds``) only when the core says Popen's own code raised the event. Each case first
has the learned command allowed twice (so the second is answered by the short way), then
changes what the short way must not miss, and asks again: refused exactly as the general case
refuses it. Both cores (native and the Python fallback) hand the decoder the caller.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import Child, RunChild, profile_doc, run_child

AUDIT_ALONE = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}
CORES = {"native": {}, "python": {"SANDBOX_NATIVE": "off"}}
WC = "/usr/bin/wc"

HARNESS = """
import os, sys, subprocess
import sandbox
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="enforce", profile="profile.json")
mark_invoke_phase()
def attempt(label, fn):
    try:
        result = fn()
        print(label, "ALLOWED", repr(result)[:60])
    except PermissionError as exc:
        print(label, "REFUSED", getattr(exc, "category", "?"), getattr(exc, "action", "?"))
    except Exception as exc:
        print(label, "ERROR", type(exc).__name__, str(exc)[:80])
ALLOWED = [{wc!r}, "-c", os.path.abspath("allowed.txt")]
def run(argv=None, **kw):
    return subprocess.run(ALLOWED if argv is None else argv, capture_output=True, text=True, **kw).stdout.split()[0]
attempt("first", run)
attempt("cached", run)
"""


def _run(child: RunChild, tmp_path: Path, attack: str, core: str = "native") -> Child:
    rule = {"action": "exec", "target": WC, "argv": ["-c", "{task}/allowed.txt"], "phase": "any"}
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(processes=[rule])))
    (tmp_path / "secret.txt").write_text("s3cr3t")
    (tmp_path / "allowed.txt").write_text("ok")
    return child(HARNESS.format(wc=WC) + attack, env={**AUDIT_ALONE, **CORES[core]})


def _outcomes(result: Child) -> dict[str, str]:
    out = {}
    for line in result.lines:
        label, _, rest = line.partition(" ")
        if rest:
            out[label] = rest
    return out


def _assert_cached_then(result: Child, **expected: str) -> dict[str, str]:
    outcome = _outcomes(result)
    context = result.stdout + result.stderr
    assert outcome.get("first", "").startswith("ALLOWED"), context
    assert outcome.get("cached", "").startswith("ALLOWED"), context
    for label, prefix in expected.items():
        assert outcome.get(label, "").startswith(prefix), f"{label}: {context}"
    return outcome


@pytest.mark.parametrize("core", sorted(CORES))
def test_argv_changed_in_place_after_a_cached_exec_is_decided_again(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a learned `wc -c allowed.txt`, allowed twice (its target kept per program and argv)
    # WHEN the function rewrites the very list it passed, then passes the same program with
    # another argv, an argument holding the separator, and a non-normal spelling of the name
    attack = """
ALLOWED[2] = os.path.abspath("secret.txt")
attempt("same-list-rewritten", run)
attempt("other-argv", lambda: run([ALLOWED[0], "-l", os.path.abspath("allowed.txt")]))
attempt("separator", lambda: run([ALLOWED[0], "-c\\x1f" + os.path.abspath("allowed.txt")]))
ALLOWED[2] = os.path.abspath("allowed.txt")
attempt("dotted-name", lambda: run(["/usr/bin/./wc", "-c", os.path.abspath("allowed.txt")]))
attempt("learned-again", run)
"""
    result = _run(child, tmp_path, attack, core)
    # THEN every changed argv is refused; the same program spelled otherwise is found as the
    # general case finds it (the learned rule), and the learned command still runs
    _assert_cached_then(
        result,
        **{
            "same-list-rewritten": "REFUSED processes exec",
            "other-argv": "REFUSED processes exec",
            "separator": "REFUSED processes exec",
            "dotted-name": "ALLOWED",
            "learned-again": "ALLOWED",
        },
    )


@pytest.mark.parametrize("core", sorted(CORES))
def test_popen_helpers_rebound_after_a_cached_exec_are_refused(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned command, allowed twice
    # WHEN the function rebinds, one at a time, what Popen calls after its event (os.path's
    # dirname, os.fsencode, subprocess's own os, os.environ, a method of its class, one of its
    # decoders) and asks again each time
    attack = """
import posixpath
real_dirname, real_fsencode, real_os, real_environ = posixpath.dirname, os.fsencode, subprocess.os, os.environ
posixpath.dirname = lambda p: real_dirname(p)
attempt("dirname", run)
posixpath.dirname = real_dirname
os.fsencode = lambda p: real_fsencode(p)
attempt("fsencode", run)
os.fsencode = real_fsencode
import types
fake_os = types.ModuleType("os")
fake_os.__dict__.update(real_os.__dict__)
subprocess.os = fake_os
attempt("subprocess-os", run)
subprocess.os = real_os
os.environ = dict(real_environ)
attempt("environ", run)
os.environ = real_environ
environ_class = type(os.environ)
real_getitem = environ_class.__getitem__
environ_class.__getitem__ = lambda self, key: real_getitem(self, key)
attempt("environ-class", run)
environ_class.__getitem__ = real_getitem
real_decode = os.environ.decodevalue
os.environ.decodevalue = lambda value: real_decode(value)
attempt("environ-decoder", run)
os.environ.decodevalue = real_decode
attempt("restored", run)
"""
    result = _run(child, tmp_path, attack, core)
    # THEN each is refused as the general case refuses it; restored, the command runs again
    _assert_cached_then(
        result,
        dirname="REFUSED processes exec",
        fsencode="REFUSED processes exec",
        **{"subprocess-os": "REFUSED processes exec"},
        environ="REFUSED processes exec",
        **{
            "environ-class": "REFUSED processes exec",
            "environ-decoder": "REFUSED processes exec",
        },
        restored="ALLOWED",
    )


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="3.14 raises fork_exec's event itself")
@pytest.mark.skipif(sys.version_info >= (3, 14), reason="3.14's fork_exec raises its own event")
def test_the_fork_exec_wrapper_tampered_after_a_cached_exec_is_refused(
    child: RunChild, tmp_path: Path
) -> None:
    # (The Python core's sealed wrapper; the native core puts none in place: see below.)
    core = "python"
    # GIVEN the learned command, allowed twice (the sealed wrapper seen in place at once)
    # WHEN the function (a) puts the unsealed original back in _posixsubprocess, (b) rewrites the
    # wrapper's cell that holds sys.audit, (c) assigns the wrapper another code object
    attack = """
import _posixsubprocess
wrapper = _posixsubprocess.fork_exec  # (3.10's subprocess calls it there; 3.11+ also as _fork_exec)
names = wrapper.__code__.co_freevars
cells = dict(zip(names, wrapper.__closure__))
original = cells["original"].cell_contents
_posixsubprocess.fork_exec = original
attempt("original-back", run)
attempt("routed-again", lambda: _posixsubprocess.fork_exec is wrapper)
real_audit = cells["audit"].cell_contents
cells["audit"].cell_contents = lambda *a: None
attempt("audit-cell", run)
cells["audit"].cell_contents = real_audit
attempt("audit-restored", run)
def make(audit, event, original):
    def fork_exec(*args):
        audit, event  # the wrapper's free variables, with no event raised
        return original(*args)
    return fork_exec
def swap():
    wrapper.__code__ = make(None, None, original).__code__
attempt("code", swap)
attempt("after-code", run)
"""
    result = _run(child, tmp_path, attack, core)
    outcome = _assert_cached_then(
        result,
        **{
            # THEN (a) is routed back to the wrapper before the exec goes on (and decided again)
            "original-back": "ALLOWED",
            "routed-again": "ALLOWED True",
            # (b) is refused as a rebound fork_exec, until the cell holds sys.audit again
            "audit-cell": "REFUSED processes exec",
            "audit-restored": "ALLOWED",
            # (c) is refused as tampering with the sandbox's own code; the exec still runs
            "code": "REFUSED code tamper",
            "after-code": "ALLOWED",
        },
    )
    assert outcome["after-code"] == outcome["first"]


@pytest.mark.parametrize("core", sorted(CORES))
def test_pass_fds_that_run_code_after_a_cached_exec_are_refused(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned command, allowed twice (Popen's frame read because Popen raised it)
    # WHEN the same command gets a pass_fds item whose __hash__ rewrites Popen's argv after the
    # audit event, then exact ints
    attack = """
class Fd(int):
    def __hash__(self):
        args = sys._getframe(1).f_locals.get("args")
        if isinstance(args, list):
            args[:] = ["/bin/sh", "-c", "cat secret.txt"]
        return int.__hash__(self)
attempt("pass-fds-hash", lambda: run(pass_fds=(Fd(2),)))
attempt("pass-fds-ints", lambda: run(pass_fds=(2,)))
"""
    result = _run(child, tmp_path, attack, core)
    # THEN the first is refused before anything starts, the second runs
    _assert_cached_then(
        result,
        **{"pass-fds-hash": "REFUSED processes exec", "pass-fds-ints": "ALLOWED"},
    )


@pytest.mark.parametrize("core", sorted(CORES))
def test_the_event_raised_by_the_functions_own_code_is_checked_the_same(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned command, allowed twice through Popen
    # WHEN the function raises Popen's event itself (its own code is the caller), with the
    # learned arguments, then after rebinding os.get_exec_path, then with another argv
    attack = """
event = lambda argv: sys.audit("subprocess.Popen", ALLOWED[0], argv, None, None)
attempt("raised-learned", lambda: event(list(ALLOWED)))
real = os.get_exec_path
os.get_exec_path = lambda env=None: ["/tmp"]
attempt("raised-rebound", lambda: event(list(ALLOWED)))
os.get_exec_path = real
attempt("raised-other", lambda: event([ALLOWED[0], "-c", os.path.abspath("secret.txt")]))
"""
    result = _run(child, tmp_path, attack, core)
    # THEN the Popen-helper checks run whoever raised it: only the learned, unrebound one passes
    _assert_cached_then(
        result,
        **{
            "raised-learned": "ALLOWED",
            "raised-rebound": "REFUSED processes exec",
            "raised-other": "REFUSED processes exec",
        },
    )


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="3.14 raises fork_exec's event itself")
@pytest.mark.parametrize("core", sorted(CORES))
def test_the_wrapper_given_code_that_raises_no_event_cannot_run_another_command(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a learned `sh -c true` (a name Popen searches on PATH after its event)
    shell = shutil.which("sh")
    assert shell is not None
    rule = {"action": "exec", "target": shell, "argv": ["-c", "true"], "phase": "any"}
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(processes=[rule])))
    (tmp_path / "secret.txt").write_text("s3cr3t")
    # WHEN the function gives the sealed fork_exec wrapper code that raises no event, then
    # rewrites Popen's argv from a function Popen calls after its event (the PATH search)
    code = """
import os, sys, subprocess, warnings
import sandbox
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="enforce", profile="profile.json")
mark_invoke_phase()
import _posixsubprocess
wrapper = _posixsubprocess.fork_exec
def make(audit, event, original):
    def fork_exec(*args):
        audit, event
        return original(*args)
    return fork_exec
if getattr(wrapper, "__closure__", None) is None:
    print("swap NONE")  # the native core: no wrapper, fork_exec itself raises the event
else:
    original = dict(zip(wrapper.__code__.co_freevars, wrapper.__closure__))["original"]
    try:
        wrapper.__code__ = make(None, None, original.cell_contents).__code__
        print("swap DONE")
    except PermissionError as exc:
        print("swap REFUSED", exc.category, exc.action)
real = warnings.simplefilter
def evil(*a, **k):
    f = sys._getframe(1)
    while f is not None and f.f_code.co_name != "_execute_child":
        f = f.f_back
    if f is not None:
        f.f_locals["args"][:] = ["sh", "-c", "cat secret.txt"]
    return real(*a, **k)
warnings.simplefilter = evil
try:
    out = subprocess.run(["sh", "-c", "true"], capture_output=True, text=True).stdout
    print("run DONE", out.strip() or "-")
except PermissionError as exc:
    print("run REFUSED", exc.category, exc.action)
"""
    result = child(code, env={**AUDIT_ALONE, **CORES[core]})
    outcome = _outcomes(result)
    # THEN the code swap is refused as tampering (the Python core's wrapper; the native core
    # has none), and the rewritten argv is decided (refused)
    swap = "REFUSED code tamper" if core == "python" else "NONE"
    assert outcome.get("swap") == swap, result.stdout + result.stderr
    assert outcome.get("run") == "REFUSED processes exec", result.stdout + result.stderr
    assert "s3cr3t" not in result.stdout


def test_os_environ_views_rebound_make_it_unreadable(tmp_path: Path) -> None:
    # GIVEN /bin/sh -c true allowed, and os.environ's keys()/values() rebound so that the
    # child's environment (built by CPython from keys() and values()) would carry LD_PRELOAD
    profile = {
        "schema_version": 1,
        "function": "t",
        "extends": ["python-runtime"],
        "rules": {"processes": [{"action": "exec", "target": "/bin/sh", "argv": ["-c", "true"]}]},
    }
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    code = """
import os, sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
sandbox.runtime.hook.mark_invoke_phase()
def spawn():
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", "true"], os.environ)
    return os.waitpid(pid, 0)[1]
print("plain", spawn())
Environ = type(os.environ)
extra = {"LD_PRELOAD": "/nonexistent/p.so"}
Environ.keys = lambda self: [*extra, *map(self.decodekey, self._data)][: len(self._data)]
Environ.values = lambda self: [*extra.values(), *map(self.decodevalue, self._data.values())][
    : len(self._data)
]
try:
    spawn()
    print("rebound spawned")
except PermissionError as exc:
    print("rebound blocked")
"""
    result = run_child(code, cwd=tmp_path)
    # THEN os.environ given as is passes (its phase says invoke, as the process's does), and
    # once what CPython reads from it is rebound it is not readable: refused
    assert result.lines == ["plain 0", "rebound blocked"], result.stderr


# fork_exec's arguments up to preexec_fn/allow_vfork differ by version: try the long form first.
FORK_EXEC_CALL = """
def fork_exec_call(fork_exec, argv, out):
    err_read, err_write = os.pipe()
    head = [[os.fsencode(a) for a in argv], [os.fsencode(argv[0])], True, (out,), None, None,
            -1, -1, -1, out, -1, -1, err_read, err_write, True, False]
    for tail in ([-1, None, None, None, -1, None, False], [None, None, None, -1, None]):
        try:
            pid = fork_exec(*head, *tail)
            break
        except TypeError:
            continue
    os.close(err_write)
    os.waitpid(pid, 0)
    return pid
def unlisted(fork_exec):
    read, write = os.pipe()
    fork_exec_call(fork_exec, ["/bin/cat", os.path.abspath("secret.txt")], write)
    os.close(write)
    return os.read(read, 100).decode()
"""


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="3.14's fork_exec raises its own event")
@pytest.mark.parametrize("core", sorted(CORES))
def test_fork_exec_reached_any_way_is_decided_by_the_native_core(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned command; WHEN the function calls fork_exec itself (before 3.14 it
    # raises no audit event of its own) with an unlisted program: the module's function, the
    # original behind the Python core's wrapper, a fresh instance of the module
    attack = (
        FORK_EXEC_CALL
        + """
import _posixsubprocess, importlib.util
attempt("module", lambda: unlisted(_posixsubprocess.fork_exec))
cells = getattr(_posixsubprocess.fork_exec, "__closure__", None) or ()
behind = [c.cell_contents for c in cells if getattr(c.cell_contents, "__name__", "") == "fork_exec"]
attempt("behind-wrapper", lambda: unlisted(behind[0]) if behind else "no wrapper")
fresh = importlib.util.module_from_spec(_posixsubprocess.__spec__)
attempt("fresh-instance", lambda: unlisted(fresh.fork_exec))
attempt("after", run)
"""
    )
    result = _run(child, tmp_path, attack, core)
    outcome = _assert_cached_then(result, module="REFUSED processes exec", after="ALLOWED")
    if core == "native":
        # THEN every function object of it raises the event first, and is refused
        assert outcome["behind-wrapper"] == "ALLOWED 'no wrapper'"
        assert outcome["fresh-instance"].startswith("REFUSED processes exec")
    else:
        # AND with the Python core (a documented limit) the original behind its wrapper and a
        # fresh module instance run the program unchecked
        assert outcome["behind-wrapper"].startswith("ALLOWED 's3cr3t"), result.stdout
        assert outcome["fresh-instance"].startswith("ALLOWED 's3cr3t"), result.stdout


@pytest.mark.parametrize("core", sorted(CORES))
def test_an_environment_mapping_that_answers_differently_is_read_once_before_the_decision(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned command; WHEN the function hands posix_spawn/execve an os.environ whose
    # keys()/values() (read by them after their event) give the child LD_PRELOAD, a variable
    # the ceiling denies: through the instance's dict, a class swapped into its bases, a
    # rebound key codec
    attack = """
import collections.abc
def spawn(env):
    pid = os.posix_spawn(ALLOWED[0], ALLOWED, env)
    return os.waitpid(pid, 0)[1]
def honest():
    return spawn(dict(os.environ, LD_PRELOAD="/nonexistent/evil.so"))
attempt("honest", honest)
real = os.environ
name = next(iter(real))
def instance_dict():
    def keys():
        return ["LD_PRELOAD" if k == name else k for k in real._data and list(real)]
    real.__dict__["keys"] = keys
    real.__dict__["values"] = lambda: ["/nonexistent/evil.so" if k == name else real[k] for k in real]
    try:
        return spawn(real)
    finally:
        del real.__dict__["keys"], real.__dict__["values"]
attempt("instance-dict", instance_dict)
class Evil(collections.abc.MutableMapping):
    __slots__ = ()
    def keys(self):
        return ["LD_PRELOAD" if k == name else k for k in type(self).__iter__(self)]
def bases():
    kind = type(real)
    saved = kind.__bases__
    kind.__bases__ = (Evil,)
    try:
        return spawn(real)
    finally:
        kind.__bases__ = saved
attempt("bases", bases)
def codec():
    saved = real.encodekey
    real.encodekey = lambda key: saved(name if key == "LD_PRELOAD" else key)
    real.decodekey, saved_decode = (lambda value, d=real.decodekey: "LD_PRELOAD" if d(value) == name else d(value)), real.decodekey
    try:
        return spawn(real)
    finally:
        real.encodekey, real.decodekey = saved, saved_decode
attempt("codec", codec)
attempt("after", run)
"""
    result = _run(child, tmp_path, attack, core)
    outcome = _assert_cached_then(result, honest="REFUSED processes env", after="ALLOWED")
    variants = ("instance-dict", "bases", "codec")
    if core == "native":
        # THEN the mapping is read once, before the event: the decision sees LD_PRELOAD
        for label in variants:
            assert outcome[label].startswith("REFUSED processes env"), (label, result.stdout)
    else:
        # AND with the Python core (a documented limit) the child gets what was not decided
        assert any(outcome[label].startswith("ALLOWED") for label in variants), result.stdout


@pytest.mark.parametrize("core", sorted(CORES))
def test_arguments_that_run_code_while_they_are_read_are_read_before_the_decision(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned command; WHEN the function hands an exec arguments whose conversion
    # runs its code (a path-like argv item or env value that rewrites the list it is in), a
    # variable named twice, a preexec_fn, or (before 3.14) fork_exec a bool that rewrites argv
    attack = (
        FORK_EXEC_CALL
        + """
argv = list(ALLOWED)
class Swap:
    def __fspath__(self):
        argv[2] = ALLOWED[2]           # what the decision would see afterwards
        return os.path.abspath("secret.txt")
argv[2] = Swap()
def spawn(args, env):
    pid = os.posix_spawn(args[0], args, env)
    return os.waitpid(pid, 0)[1]
attempt("argv-fspath", lambda: spawn(argv, dict(os.environ)))
env = dict(os.environ)
class Vanish:
    def __fspath__(self):
        env.pop("LD_PRELOAD", None)
        return "/nonexistent/evil.so"
env["LD_PRELOAD"] = Vanish()
attempt("env-fspath", lambda: spawn(list(ALLOWED), env))
twice = dict(os.environ)
twice["FOO"] = "one"
twice[b"FOO"] = b"two"
attempt("env-twice", lambda: spawn(list(ALLOWED), twice))
attempt("preexec", lambda: run(preexec_fn=lambda: None))
if sys.version_info < (3, 14):
    import _posixsubprocess
    class Flip:
        def __bool__(self):
            return True
    def flipped():
        read, write = os.pipe()
        err_read, err_write = os.pipe()
        head = [[os.fsencode(a) for a in ALLOWED], [os.fsencode(ALLOWED[0])], Flip(), (write,),
                None, None, -1, -1, -1, write, -1, -1, err_read, err_write, True, False]
        tail = [-1, None, None, None, -1, None, False] if sys.version_info >= (3, 11) else [
            None, None, None, -1, None]
        return _posixsubprocess.fork_exec(*head, *tail)
    attempt("fork-exec-bool", flipped)
attempt("after", run)
"""
    )
    result = _run(child, tmp_path, attack, core)
    # THEN each is decided on what the exec gets, or refused
    expected = {"preexec": "REFUSED processes exec", "after": "ALLOWED"}
    if core == "native":
        expected.update(
            {
                "argv-fspath": "REFUSED processes exec",
                "env-fspath": "REFUSED processes env",
                "env-twice": "REFUSED processes exec",
            }
        )
        if sys.version_info < (3, 14):
            expected["fork-exec-bool"] = "ERROR TypeError lambda-sandbox: fork_exec takes plain"
    outcome = _assert_cached_then(result, **expected)
    assert "s3cr3t" not in result.stdout, outcome


@pytest.mark.parametrize("core", sorted(CORES))
def test_exec_arguments_read_in_another_place_than_the_decision_are_refused(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned command; WHEN the function (a) has os.execv (which execl, execlp and
    # execvp go through) convert an argv item whose __fspath__ rewrites the list, (b) starts a Python child with a relative argv[0] (found from the child's cwd),
    # (c) gives fork_exec a str argv (read one argument per character)
    attack = (
        FORK_EXEC_CALL
        + """
def execv_swap():
    argv = list(ALLOWED)
    class Swap:
        def __fspath__(self):
            argv[2] = ALLOWED[2]
            return os.path.abspath("secret.txt")
    argv[2] = Swap()
    os.execv(ALLOWED[0], argv)  # refused (native): this process goes on
import sandbox
if (sandbox.status() or {}).get("audit") == "native":  # (the Python core would exec the secret's wc: a documented limit)
    attempt("execv-fspath", execv_swap)
rel = os.path.relpath(sys.executable)
attempt("relative-argv0", lambda: subprocess.run([rel, "-c", "pass"], executable=sys.executable))
if sys.version_info < (3, 14):
    import _posixsubprocess
    def str_argv():
        read, write = os.pipe()
        err_read, err_write = os.pipe()
        head = ["wc", [os.fsencode(ALLOWED[0])], True, (write,), None, None, -1, -1, -1, write,
                -1, -1, err_read, err_write, True, False]
        tail = [-1, None, None, None, -1, None, False] if sys.version_info >= (3, 11) else [
            None, None, None, -1, None]
        return _posixsubprocess.fork_exec(*head, *tail)
    attempt("fork-exec-str", str_argv)
attempt("after", run)
"""
    )
    result = _run(child, tmp_path, attack, core)
    expected = {"relative-argv0": "REFUSED processes exec", "after": "ALLOWED"}
    if core == "native":
        # THEN (native) execv gets a copy read before its event: the rewrite is decided, refused
        expected["execv-fspath"] = "REFUSED processes exec"
        if sys.version_info < (3, 14):
            expected["fork-exec-str"] = "ERROR TypeError lambda-sandbox: fork_exec's argv"
    _assert_cached_then(result, **expected)
    assert "s3cr3t" not in result.stdout


@pytest.mark.parametrize("core", sorted(CORES))
def test_an_argv0_that_is_not_the_programs_name_is_refused_after_a_cached_exec(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned `wc -c allowed.txt`, allowed twice (the second by the short way)
    attack = f"""
wc = {WC!r}
target = os.path.abspath("allowed.txt")
attempt("by-path", lambda: run([wc, "-c", target]))
attempt("by-name", lambda: run(["wc", "-c", target], executable=wc))
attempt("by-link", lambda: run([os.path.abspath("wc-link"), "-c", target], executable=wc))
attempt("elsewhere", lambda: run([os.path.abspath("wc"), "-c", target], executable=wc))
attempt("login", lambda: run(["-wc", "-c", target], executable=wc))
attempt("other-tool", lambda: run(["cat", "-c", target], executable=wc))
attempt("other-path", lambda: run(["/bin/cat", "-c", target], executable=wc))
attempt("execv", lambda: os.waitpid(os.spawnv(os.P_NOWAIT, wc, ["-sh", "-c", target]), 0))
"""
    (tmp_path / "wc-link").symlink_to(WC)
    # WHEN the same program and arguments run with argv[0] its path or its bare file name, and
    # then with a login shell's "-name" (red team 76's `-sh` read $HOME/.profile), another
    # tool's name, a link of another name to the same file (a multi-call program runs the tool
    # argv[0] names: red team 77), or its file name in another folder (a program that finds its
    # helpers from argv[0]'s folder, as gcc finds cc1: red team 77)
    result = _run(child, tmp_path, attack, core)
    # THEN the program's own names run; the others are refused before anything starts
    refused = ("login", "other-tool", "other-path", "execv", "by-link", "elsewhere")
    _assert_cached_then(
        result,
        **{"by-path": "ALLOWED", "by-name": "ALLOWED"},
        **dict.fromkeys(refused, "REFUSED processes"),
    )
