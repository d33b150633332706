"""A kept Popen decision under attack: whatever it read changes, the Popen is decided afresh (one subprocess per case).

Once the hook allowed a usual ``Popen`` (no ``cwd=``, no ``env=``, an absolute program judged
plain) the core answers the same arguments from the same code itself (a *Popen verdict*,
``core.popen_verdict_add``), after checking again everything the decision read: os's and
subprocess's helpers, Popen's ``pass_fds`` and ``preexec_fn``, ``os.environ``, the program's
identity, the phase and the raising code. Each case has the learned command allowed twice (the
second time from the verdict), changes one of those things, and asks again: refused as the
decoder refuses it. Both cores (native and the Python fallback).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Child, RunChild, profile_doc

AUDIT_ALONE = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}
CORES = {"native": {}, "python": {"SANDBOX_NATIVE": "off"}}
WC = "/usr/bin/wc"

HARNESS = """
import os, sys, subprocess
import sandbox
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="enforce", profile="profile.json")
{phase}
def attempt(label, fn):
    try:
        result = fn()
        print(label, "ALLOWED", repr(result)[:60])
    except PermissionError as exc:
        print(label, "REFUSED", getattr(exc, "category", "?"), getattr(exc, "action", "?"))
    except Exception as exc:
        print(label, "ERROR", type(exc).__name__, str(exc)[:80])
ALLOWED = [{program!r}, "-c", os.path.abspath("allowed.txt")]
SECRET = [{program!r}, "-c", os.path.abspath("secret.txt")]
def run(argv=None, **kw):
    return subprocess.run(ALLOWED if argv is None else argv, capture_output=True, text=True, **kw).stdout.split()[0]
attempt("first", run)
attempt("cached", run)
"""


def _run(
    child: RunChild,
    tmp_path: Path,
    attack: str,
    core: str,
    *,
    program: str = WC,
    rule_phase: str = "any",
    invoke: bool = True,
    extra_rules: dict[str, list[dict[str, Any]]] | None = None,
) -> Child:
    target = program.replace(str(tmp_path), "{task}")
    rule = {"action": "exec", "target": target, "argv": ["-c", "{task}/allowed.txt"]}
    rule["phase"] = rule_phase
    rules = {"processes": [rule], **(extra_rules or {})}
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(**rules)))
    (tmp_path / "secret.txt").write_text("s3cr3t")
    (tmp_path / "allowed.txt").write_text("ok")
    harness = HARNESS.format(program=program, phase="mark_invoke_phase()" if invoke else "")
    return child(harness + attack, env={**AUDIT_ALONE, **CORES[core]})


def _outcomes(result: Child) -> dict[str, str]:
    out = {}
    for line in result.lines:
        label, _, rest = line.partition(" ")
        if rest:
            out[label] = rest
    return out


def _assert_kept_then(result: Child, **expected: str) -> None:
    outcome = _outcomes(result)
    context = result.stdout + result.stderr
    assert outcome.get("first", "").startswith("ALLOWED"), context
    assert outcome.get("cached", "").startswith("ALLOWED"), context
    for label, prefix in expected.items():
        assert outcome.get(label, "").startswith(prefix), f"{label}: {context}"


@pytest.mark.parametrize("core", sorted(CORES))
def test_helpers_rebound_after_a_kept_popen_are_refused(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned command, allowed twice (the second time answered by its verdict)
    # WHEN the function rebinds, one at a time, what Popen calls after its event --
    # os.get_exec_path, os.path.join, subprocess's os -- and subprocess's _fork_exec to one
    # that starts another command, asking again each time and after each is restored
    attack = """
import types
real_get_exec_path, real_join, real_os = os.get_exec_path, os.path.join, subprocess.os
os.get_exec_path = lambda env=None: real_get_exec_path(env)
attempt("get-exec-path", run)
os.get_exec_path = real_get_exec_path
attempt("get-exec-path-restored", run)
os.path.join = lambda *parts: real_join(*parts)
attempt("join", run)
os.path.join = real_join
fake_os = types.ModuleType("os")
fake_os.__dict__.update(real_os.__dict__)
subprocess.os = fake_os
attempt("subprocess-os", run)
subprocess.os = real_os
attempt("subprocess-os-restored", run)
# (3.11+: subprocess's own _fork_exec; 3.10 calls _posixsubprocess.fork_exec through the module)
holder, name = (
    (subprocess, "_fork_exec") if hasattr(subprocess, "_fork_exec")
    else (subprocess._posixsubprocess, "fork_exec")
)
real_fork_exec = getattr(holder, name)
def other_command(args, *rest):
    return real_fork_exec([os.fsencode(a) for a in SECRET], *rest)
setattr(holder, name, other_command)
attempt("fork-exec", run)
setattr(holder, name, real_fork_exec)
attempt("fork-exec-restored", run)
"""
    result = _run(child, tmp_path, attack, core)
    # THEN each rebinding is refused (the other command at the latest when it reaches
    # fork_exec), and the learned command runs again once everything is back; the rebound
    # fork_exec either is refused or is never called (3.13+ may start the child with
    # posix_spawn, which runs the learned command): the other command never runs
    outcome = _outcomes(result)
    assert outcome.get("fork-exec") in ("REFUSED processes exec", "ALLOWED '2'"), (
        result.stdout + result.stderr
    )
    _assert_kept_then(
        result,
        **{
            "get-exec-path": "REFUSED processes exec",
            "get-exec-path-restored": "ALLOWED",
            "join": "REFUSED processes exec",
            "subprocess-os": "REFUSED processes exec",
            "subprocess-os-restored": "ALLOWED",
            "fork-exec-restored": "ALLOWED",
        },
    )


@pytest.mark.parametrize("core", sorted(CORES))
def test_popen_locals_that_run_code_after_a_kept_popen_are_refused(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned command, allowed twice
    # WHEN the same command gets pass_fds that are not exact ints in a tuple or list (an int
    # subclass rewriting argv from its __hash__, a bool, a list subclass), or a preexec_fn
    attack = """
class Fd(int):
    def __hash__(self):
        args = sys._getframe(1).f_locals.get("args")
        if isinstance(args, list):
            args[:] = SECRET
        return int.__hash__(self)
class Fds(list):
    pass
attempt("fd-hash", lambda: run(pass_fds=(Fd(2),)))
attempt("fd-bool", lambda: run(pass_fds=[True]))
attempt("fds-subclass", lambda: run(pass_fds=Fds([2])))
attempt("preexec", lambda: run(preexec_fn=lambda: None))
attempt("fds-ints", lambda: run(pass_fds=(2,)))
attempt("after", run)
"""
    result = _run(child, tmp_path, attack, core)
    # THEN each is refused before anything starts; exact ints, and the plain call, run
    _assert_kept_then(
        result,
        **{
            "fd-hash": "REFUSED processes exec",
            "fd-bool": "REFUSED processes exec",
            "fds-subclass": "REFUSED processes exec",
            "preexec": "REFUSED processes exec",
            "fds-ints": "ALLOWED",
            "after": "ALLOWED",
        },
    )


@pytest.mark.parametrize("core", sorted(CORES))
def test_arguments_of_other_types_than_the_kept_ones_are_decided_afresh(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned command, allowed twice
    # WHEN the function raises Popen's event itself with the same text in objects of other
    # types -- str items that compare equal to anything, a list subclass whose items name the
    # secret -- and Popen runs with argv items of a str subclass
    attack = """
class Liar(str):
    def __eq__(self, other):
        return True
    __hash__ = str.__hash__
class Argv(list):
    pass
def raise_event(program, argv):
    sys.audit("subprocess.Popen", program, argv, None, None)
attempt("own-learned", lambda: raise_event(ALLOWED[0], list(ALLOWED)))
attempt("own-learned-again", lambda: raise_event(ALLOWED[0], list(ALLOWED)))
attempt("liar-items", lambda: raise_event(ALLOWED[0], [Liar(a) for a in SECRET]))
attempt("liar-program", lambda: raise_event(Liar("/bin/sh"), list(ALLOWED)))
attempt("list-subclass", lambda: raise_event(ALLOWED[0], Argv(SECRET)))
attempt("str-subclass-popen", lambda: run([Liar(a) for a in SECRET]))
attempt("after", run)
"""
    result = _run(child, tmp_path, attack, core)
    # THEN none of them is taken for the kept arguments: each is refused
    _assert_kept_then(
        result,
        **{
            "own-learned": "ALLOWED",
            "own-learned-again": "ALLOWED",
            "liar-items": "REFUSED processes exec",
            "liar-program": "REFUSED processes exec",
            "list-subclass": "REFUSED processes exec",
            "str-subclass-popen": "REFUSED processes exec",
            "after": "ALLOWED",
        },
    )


@pytest.mark.parametrize("core", sorted(CORES))
def test_another_caller_or_phase_than_the_kept_ones_is_decided_afresh(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a command learned for init only, allowed twice in init by Popen and twice from the
    # function's own code raising the event (a verdict for each code; the locals of the
    # function's are never read)
    # WHEN Popen's own code raises the same event with a preexec_fn, and then, in invoke, both
    # raise the same event again
    attack = """
def raise_event():
    sys.audit("subprocess.Popen", ALLOWED[0], list(ALLOWED), None, None)
attempt("own", raise_event)
attempt("own-again", raise_event)
attempt("popen-preexec", lambda: run(preexec_fn=lambda: None))
mark_invoke_phase()
attempt("own-invoke", raise_event)
attempt("popen-invoke", run)
"""
    result = _run(child, tmp_path, attack, core, rule_phase="init", invoke=False)
    # THEN Popen's code is decided on its own locals (refused), and in invoke the init rule
    # no longer holds (refused)
    _assert_kept_then(
        result,
        **{
            "own": "ALLOWED",
            "own-again": "ALLOWED",
            "popen-preexec": "REFUSED processes exec",
            "own-invoke": "REFUSED processes exec",
            "popen-invoke": "REFUSED processes exec",
        },
    )


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_program_swapped_after_a_kept_popen_is_judged_afresh(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a copy of wc in the task folder, made more than a second before the sandbox
    # starts (so its plain verdict may be kept), learned with its argv and allowed twice
    tool = tmp_path / "bin" / "wc"
    tool.parent.mkdir()
    shutil.copy(WC, tool)
    script = tmp_path / "script"
    script.write_text("#!/usr/bin/python3 -I\nprint(1)\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    time.sleep(1.1)  # (not a timing: the verdict cache keeps files older than a second only)
    # WHEN the function puts a script of an isolated Python child in its place, same name, and
    # runs the learned command, or raises its event from code whose event was allowed before
    attack = f"""
def raise_event():
    sys.audit("subprocess.Popen", ALLOWED[0], list(ALLOWED), None, None)
attempt("own", raise_event)
attempt("own-again", raise_event)
os.replace({str(script)!r}, {str(tool)!r})
attempt("swapped", run)
attempt("own-swapped", raise_event)
"""
    # (a rename's source is read too: the file is read through its new name)
    writes = {
        "files": [{"action": a, "target": "{task}/**", "phase": "any"} for a in ("read", "write")]
    }
    result = _run(child, tmp_path, attack, core, program=str(tool), extra_rules=writes)
    # THEN the new file is judged: a Python child that would run unprotected is refused
    _assert_kept_then(
        result,
        **{
            "own": "ALLOWED",
            "own-again": "ALLOWED",
            "swapped": "REFUSED processes exec",
            "own-swapped": "REFUSED processes exec",
        },
    )
    assert os.path.exists(tool)
