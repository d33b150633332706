"""The exec verdict cache under attack: every change that matters is judged afresh (one subprocess per case).

A program that is neither Python, ``env`` nor a ``#!`` script has its "no Python child" verdict
kept by its identity (one ``stat`` per exec). Each case first shows, with the importable module
before the install, that its program qualifies for the cache (so the attack is on a cached
verdict), then changes what the path leads to — in place, through a symlink, from a child
process — and asks for the exec again: it must be refused exactly as an uncached decision is.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import Child, RunChild, profile_doc

AUDIT_ALONE = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}
PYTHON = os.path.realpath(sys.executable)
UNPROTECTED = ["-I", "-c", "print('unprotected')"]

HARNESS = """
import os, sys, subprocess
import sandbox
from sandbox.runtime import child as _child
TOOL, PYTHON, ARGV = {tool!r}, {python!r}, {argv!r}
# Before the install (the hook's copy starts from this module's state): judge the tool once.
_child.python_child_problem(TOOL, [TOOL, *ARGV], None, dict(os.environ))
print("cacheable", _child.known_plain(TOOL))
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
def attempt(label, fn):
    try:
        result = fn()
        print(label, "ALLOWED", getattr(result, "stdout", "") or "")
    except sandbox.SandboxViolation as exc:
        print(label, "BLOCKED", exc.category, exc.action, str(exc)[:200].replace(chr(10), " "))
def run(argv=ARGV, **kw):
    return subprocess.run([TOOL, *argv], capture_output=True, text=True, **kw)
"""


def _old_tool(tmp_path: Path, name: str = "tool") -> Path:
    """A copy of ``true`` whose times lie more than the cache's margin before the child starts."""
    tool = tmp_path / name
    shutil.copy(os.path.realpath(shutil.which("true") or "/bin/true"), tool)
    tool.chmod(0o755)
    return tool


def _run(
    child: RunChild,
    tmp_path: Path,
    tool: Path,
    attack: str,
    extra: dict[str, list[dict[str, Any]]] | None = None,
    argv: list[str] | None = None,
) -> Child:
    argv = UNPROTECTED if argv is None else argv
    task = os.path.realpath(tmp_path)
    rules: dict[str, list[dict[str, Any]]] = {
        "processes": [
            {"action": "exec", "target": str(tool), "argv": argv, "phase": "any"},
            {"action": "exec", "target": str(tool), "argv": ["other"], "phase": "any"},
        ],
        "files": [
            {"action": "read", "target": task + "/**", "phase": "any"},
            {"action": "write", "target": task + "/**", "phase": "any"},
        ],
    }
    for category, more in (extra or {}).items():
        rules.setdefault(category, []).extend(more)
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(**rules)))
    time.sleep(1.2)  # the tool's times now lie before the child's import, less the margin
    move = ["/bin/sh", "-c", f"mv -f {tool}.new {tool}"]
    code = HARNESS.format(tool=str(tool), python=PYTHON, argv=argv) + f"MOVE = {move!r}\n" + attack
    return child(code, env=AUDIT_ALONE)


def _outcomes(result: Child) -> dict[str, str]:
    out = {}
    for line in result.lines:
        label, _, rest = line.partition(" ")
        if rest:
            out[label] = rest
    return out


def _move(tool: Path) -> dict[str, list[dict[str, Any]]]:
    """A learned shell command that renames ``tool.new`` over ``tool`` (in a child process)."""
    command = f"mv -f {tool}.new {tool}"
    rule = {"action": "exec", "target": "/bin/sh", "argv": ["-c", command], "phase": "any"}
    return {"processes": [rule]}


def _unprotected_findings(result: Child) -> int:
    return sum(
        1
        for f in result.findings
        if f["category"] == "processes" and "Python child would run unprotected" in f["reason"]
    )


def _assert_cached_then(result: Child, label: str, expected: str) -> None:
    outcome = _outcomes(result)
    assert outcome.get("cacheable") == "True", result.stdout + result.stderr
    assert outcome["first"].startswith("ALLOWED"), result.stdout + result.stderr
    assert outcome[label].startswith(expected), result.stdout + result.stderr
    assert not any(v.startswith("ALLOWED unprotected") for v in outcome.values())


def test_a_cached_program_replaced_by_a_python_symlink_is_judged_again(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a learned `tool -I -c ...` whose tool is a plain program (verdict cached), and a
    # symlink to this very Python interpreter prepared next to it (the sandbox refuses the
    # function to create or rename one itself: that is a write of the interpreter)
    tool = _old_tool(tmp_path)
    (tmp_path / "tool.new").symlink_to(PYTHON)
    # WHEN a learned shell command renames the symlink over the tool
    attack = """
attempt("first", run)
attempt("mv", lambda: subprocess.run(MOVE, check=True))
attempt("replaced", run)
"""
    result = _run(child, tmp_path, tool, attack, extra=_move(tool))
    # THEN the exec is refused as an unprotected Python child (-I), as without a cache
    _assert_cached_then(result, "replaced", "BLOCKED processes exec")
    assert _unprotected_findings(result) == 1


def test_a_cached_program_rewritten_in_place_as_a_python_script_is_judged_again(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the cached plain tool
    tool = _old_tool(tmp_path)
    # WHEN the function rewrites the same file (same inode) as a `#!python -I` script
    attack = """
with open(TOOL, "r+b") as handle:
    handle.write(("#!" + PYTHON + " -I\\nprint('unprotected')\\n").encode())
    handle.truncate()
attempt("first-after", run)
"""
    # (the first exec happens before the rewrite, in the harness's own attempt below)
    result = _run(child, tmp_path, tool, 'attempt("first", run)\n' + attack)
    # THEN the new content is read: a script whose interpreter runs isolated is refused
    _assert_cached_then(result, "first-after", "BLOCKED processes exec")
    assert _unprotected_findings(result) == 1


def test_a_swapped_symlink_to_a_cached_program_is_judged_again(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a learned command run through a symlink that leads to the cached plain tool
    real_tool = _old_tool(tmp_path, "real-tool")
    link = tmp_path / "tool"
    link.symlink_to(real_tool)
    (tmp_path / "tool.new").symlink_to(PYTHON)
    # WHEN a learned shell command points the link at the Python interpreter instead (a
    # rename of a symlink prepared beforehand over the link)
    attack = """
attempt("first", run)
attempt("mv", lambda: subprocess.run(MOVE, check=True))
attempt("swapped", run)
"""
    result = _run(child, tmp_path, link, attack, extra=_move(link))
    # THEN the one stat through the link sees another file: judged afresh, refused
    _assert_cached_then(result, "swapped", "BLOCKED processes exec")
    assert _unprotected_findings(result) == 1


def test_a_cached_program_replaced_by_a_child_process_is_judged_again(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the cached plain tool and a learned shell command that rewrites it as a Python
    # script (the change happens in another process: no event in this one)
    tool = _old_tool(tmp_path)
    script = f"printf '#!{PYTHON} -I\\n' > {tool}"
    shell = {"processes": [{"action": "exec", "target": "/bin/sh", "argv": ["-c", script]}]}
    shell["processes"][0]["phase"] = "any"
    attack = f"""
attempt("first", run)
attempt("rewrite", lambda: subprocess.run(["/bin/sh", "-c", {script!r}], check=True))
attempt("after-child", run)
"""
    result = _run(child, tmp_path, tool, attack, extra=shell)
    # THEN the child's rewrite is seen at the next exec
    assert _outcomes(result)["rewrite"].startswith("ALLOWED"), result.stdout + result.stderr
    _assert_cached_then(result, "after-child", "BLOCKED processes exec")
    assert _unprotected_findings(result) == 1


def test_the_environment_and_argv_are_decided_at_every_exec_of_a_cached_program(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the cached plain tool
    tool = _old_tool(tmp_path)
    # WHEN the same program is started with a dangerous variable in env=, after one set in
    # this process, and with another argv
    attack = """
attempt("first", run)
attempt("env-ld-preload", lambda: run(env={**os.environ, "LD_PRELOAD": "/nonexistent.so"}))
attempt("env-pythoninspect", lambda: run(env={**os.environ, "PYTHONINSPECT": "1"}))
attempt("putenv", lambda: os.putenv("LD_PRELOAD", "/nonexistent.so"))
attempt("argv-other", lambda: run(["another"]))
attempt("argv-learned", lambda: run(["other"]))
"""
    result = _run(child, tmp_path, tool, attack)
    outcome = _outcomes(result)
    # THEN each variable is decided as an access of its own, and argv by the rules, every time
    _assert_cached_then(result, "env-ld-preload", "BLOCKED processes env")
    assert outcome["env-pythoninspect"].startswith("BLOCKED processes env")
    assert outcome["putenv"].startswith("BLOCKED processes env")
    assert outcome["argv-other"].startswith("BLOCKED processes exec")
    assert outcome["argv-learned"].startswith("ALLOWED")


def test_a_python_child_is_never_cached_its_environment_is_checked_each_time(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a learned Python child (its verdict depends on argv and environment: never cached)
    python_link = tmp_path / "py"
    python_link.symlink_to(PYTHON)
    argv = ["-c", "pass"]
    # WHEN it is started protected, then with the sandbox's variables left out
    attack = """
attempt("first", run)
bare = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
attempt("unprotected-env", lambda: run(env=bare))
attempt("again", run)
"""
    result = _run(child, tmp_path, python_link, attack, argv=argv)
    outcome = _outcomes(result)
    # THEN the first and third run, the second is refused as an unprotected Python child
    assert outcome.get("cacheable") == "False", result.stdout + result.stderr
    assert outcome["first"].startswith("ALLOWED"), result.stdout + result.stderr
    assert outcome["unprotected-env"].startswith("BLOCKED processes exec")
    assert outcome["again"].startswith("ALLOWED")


def test_the_importable_cache_is_not_the_hooks_and_gc_is_refused(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a symlink to the Python interpreter under a name that is not Python's, learned
    # with -I (refused whenever it is judged)
    python_link = tmp_path / "tool"
    python_link.symlink_to(PYTHON)
    # WHEN the function writes the link's identity into the cache it can import, rebinds the
    # module's check, and looks for the hook's copy through gc
    attack = """
st = os.stat(TOOL)
_child._PLAIN[TOOL] = (st.st_dev, st.st_ino, st.st_nlink, st.st_ctime_ns, st.st_mtime_ns, st.st_size)
_child.known_plain = lambda path: True
_child._CACHE_BEFORE_NS = 1 << 62
import gc
attempt("gc", lambda: gc.get_objects())
attempt("poisoned", run)
"""
    result = _run(child, tmp_path, python_link, attack)
    outcome = _outcomes(result)
    # THEN nothing of it reaches the hook: the exec is refused as an unprotected Python child
    assert outcome["gc"].startswith("BLOCKED code introspect"), result.stdout + result.stderr
    assert outcome["poisoned"].startswith("BLOCKED processes exec"), result.stdout
    assert _unprotected_findings(result) == 1


def test_rebound_posixpath_helpers_run_no_code_in_the_hook(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a symlink named "tool" to the Python interpreter (only its real path says Python)
    python_link = tmp_path / "tool"
    python_link.symlink_to(PYTHON)
    # WHEN the function rebinds the helpers os.path's functions look up at each call (realpath
    # calls abspath and _joinrealpath through posixpath's globals) so that the link's real
    # path looks like /bin/true, and records every call for the link
    attack = """
import posixpath
calls = []
real_join = getattr(posixpath, "_joinrealpath", None)  # (3.10-3.12's realpath helper)
def lying_join(path, rest, strict, seen):
    calls.append(rest)
    return ("/bin/true", True) if rest == TOOL else real_join(path, rest, strict, seen)
real_abspath = posixpath.abspath
def lying_abspath(path):
    calls.append(path)
    return "/bin/true" if path == TOOL else real_abspath(path)
if real_join is not None:
    posixpath._joinrealpath = lying_join
posixpath.abspath = lying_abspath
attempt("lied", run)
print("hook-called-rebound", [c for c in calls if c == TOOL])
"""
    result = _run(child, tmp_path, python_link, attack)
    outcome = _outcomes(result)
    # THEN the hook resolves with its own code: refused, and the lying helpers never ran for
    # the link (subprocess itself calls no realpath)
    assert outcome["lied"].startswith("BLOCKED processes exec"), result.stdout + result.stderr
    assert _unprotected_findings(result) == 1
    assert "hook-called-rebound []" in result.lines


def test_hostile_program_objects_are_undecodable_and_run_no_code(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the cached plain tool
    tool = _old_tool(tmp_path)
    # WHEN the program is passed as a str subclass with hostile __eq__/__hash__/__fspath__
    # that equals the cached path's text
    attack = """
class Sly(str):
    def __eq__(self, other):
        return True
    def __hash__(self):
        return hash(TOOL)
    def __fspath__(self):
        return PYTHON
attempt("first", run)
attempt("sly", lambda: subprocess.run([Sly(TOOL), *ARGV], executable=Sly(TOOL)))
"""
    result = _run(child, tmp_path, tool, attack)
    # THEN the exec is refused as undecodable (never "allowed"), whatever the object answers
    _assert_cached_then(result, "sly", "BLOCKED processes exec")


def test_objects_planted_where_the_popen_check_reads_run_no_code_in_the_hook(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the cached plain tool
    tool = _old_tool(tmp_path)
    # WHEN the function plants objects where the Popen decoder reads: a fake of the sandbox's
    # own values module in sys.modules (the decoder imported a helper from it at each exec),
    # and an os.path and a subprocess.os whose class answers __dict__ with a property
    attack = """
import types
calls = []
fake = types.ModuleType("fake")
def _environ_data(value):
    calls.append("values")
    return None
fake._environ_data = _environ_data
sys.modules[_child.__name__.rpartition(".")[0] + ".values"] = fake
attempt("planted-module", run)
class Sly:
    def __init__(self, real):
        object.__setattr__(self, "real", real)
    @property
    def __dict__(self):
        calls.append("__dict__")
        return os.__dict__
    def __getattr__(self, name):  # what subprocess itself uses, outside the hook
        return getattr(object.__getattribute__(self, "real"), name)
real_path = os.path
os.path = Sly(real_path)
attempt("planted-path", run)
os.path = real_path
real_os = subprocess.os
subprocess.os = Sly(real_os)
attempt("planted-subprocess-os", lambda: subprocess.Popen([TOOL, *ARGV]).wait())
subprocess.os = real_os
print("hook-ran", calls)
"""
    result = _run(child, tmp_path, tool, attack)
    outcome = _outcomes(result)
    # THEN none of their code ran: the planted module is never consulted, the others are
    # refused as rebound helpers
    assert outcome["planted-module"].startswith("ALLOWED"), result.stdout + result.stderr
    assert outcome["planted-path"].startswith("BLOCKED processes exec")
    assert outcome["planted-subprocess-os"].startswith("BLOCKED processes exec")
    assert "hook-ran []" in result.lines
