"""Every program a child may run is decided, in the child's view (one subprocess per case).

``_posixsubprocess.fork_exec`` gets a list of candidate programs, and the child tries EVERY one
in order until an execve succeeds, after it ``chdir()``ed to ``cwd=`` and ``dup2()``ed the pipes
onto 0/1/2 (``Popen``'s PATH search hands it one candidate per ``PATH`` entry). So each
candidate that may run is decided, names under ``/proc`` (``/proc/self/cwd``, ``/dev/fd/N``,
links there) are refused as programs, ``PATH`` entries and ``cwd=`` (they name other files in
the child), a candidate the sandbox cannot look at (a name over ``PATH_MAX``) makes the exec
undecidable, and the argument separator is refused in a program's name as in its argv. Each
case tries an unlearned route to a harmless marker script and then runs the learned command
itself; both cores (native and the Python fallback).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import FORK_EXEC_ARGS, Child, RunChild, profile_doc

AUDIT_ALONE = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}
CORES = {"native": {}, "python": {"SANDBOX_NATIVE": "off"}}
# The learned command: a shell that leaves its own marker.
LEARNED = "echo learned > learned.txt"

HARNESS = (
    FORK_EXEC_ARGS
    + """
import os, subprocess, _posixsubprocess
import sandbox
from sandbox.runtime.control import mark_invoke_phase
T = os.environ["LAMBDA_TASK_ROOT"]
OUT_FD = os.open(T + "/out", os.O_RDONLY)  # (before the install: reading out/ is not learned)
{prelude}
sandbox.install(mode="enforce", profile="profile.json")
mark_invoke_phase()
LEARNED = [b"sh", b"-c", {learned!r}.encode()]
def attempt(label, fn):
    try:
        fn()
        print(label, "ALLOWED")
    except PermissionError as exc:
        print(label, "REFUSED", getattr(exc, "category", "?"), getattr(exc, "action", "?"))
    except Exception as exc:
        print(label, "ERROR", type(exc).__name__, str(exc)[:80])
def fork_exec(candidates, cwd=None, argv=None, stdin=-1):
    r, w = os.pipe()
    args = fork_exec_args(LEARNED if argv is None else argv, candidates, r, w, (w,))
    args[4] = cwd
    args[6] = stdin  # p2cread: the child's fd 0
    try:
        pid = _posixsubprocess.fork_exec(*args)
    finally:
        os.close(w)
    os.read(r, 100)
    os.close(r)
    os.waitpid(pid, 0)
def learned(cwd):
    subprocess.run(["/bin/sh", "-c", {learned!r}], cwd=cwd, check=True)
"""
)


def _run(child: RunChild, tmp_path: Path, attack: str, core: str, prelude: str = "") -> Child:
    # GIVEN a profile that allows one shell command (both names of the shell), and a marker
    # script the function "planted" in out/ as sh
    rules = [
        {"action": "exec", "target": shell, "argv": ["-c", LEARNED], "phase": "any"}
        for shell in ("/bin/sh", "/usr/bin/sh")
    ]
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(processes=rules)))
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    _marker_script(out / "sh", tmp_path)
    code = HARNESS.format(learned=LEARNED, prelude=prelude) + attack
    return child(code, env={**AUDIT_ALONE, **CORES[core]})


def _marker_script(path: Path, root: Path) -> None:
    path.write_text(f"#!/bin/sh\necho planted > {root}/marker.txt\n")
    path.chmod(0o755)


def _outcomes(result: Child) -> dict[str, str]:
    out = {}
    for line in result.lines:
        label, _, rest = line.partition(" ")
        if rest:
            out[label] = rest
    return out


def _assert_blocked_then_learned_runs(result: Child, tmp_path: Path, where: Path) -> None:
    outcome = _outcomes(result)
    context = result.stdout + result.stderr
    # THEN the route is refused as an exec, the planted script never ran...
    assert outcome.get("attack", "").startswith("REFUSED processes exec"), context
    assert not (tmp_path / "marker.txt").exists(), context
    # ... and the learned command itself still runs
    assert outcome.get("learned", "") == "ALLOWED", context
    assert (where / "learned.txt").read_text().strip() == "learned", context


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_candidate_through_proc_self_cwd_is_refused(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # WHEN fork_exec is given /proc/self/cwd/sh (nothing in this process's cwd: the child's,
    # cwd=out/, holds the planted sh) before the learned /bin/sh
    result = _run(
        child,
        tmp_path,
        """
attempt("attack", lambda: fork_exec([b"/proc/self/cwd/sh", b"/bin/sh"], (T + "/out").encode()))
attempt("learned", lambda: learned(T + "/out"))
""",
        core,
    )
    _assert_blocked_then_learned_runs(result, tmp_path, tmp_path / "out")


@pytest.mark.parametrize("core", sorted(CORES))
@pytest.mark.parametrize("name", ["/dev/fd/0/sh", "/dev/stdin/sh", "{task}/out/link/sh"])
def test_a_candidate_through_a_link_into_proc_is_refused(
    child: RunChild, tmp_path: Path, core: str, name: str
) -> None:
    # GIVEN out/link -> /proc/self/cwd (a link into /proc the function made)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to("/proc/self/cwd")
    # WHEN a candidate names sh through the child's fd 0 (stdin= an fd on out/; this
    # process's fd 0 is no folder) or through that link (cwd= out/)
    result = _run(
        child,
        tmp_path,
        f"""
name = {name!r}.format(task=T).encode()
attempt("attack", lambda: fork_exec([name, b"/bin/sh"], (T + "/out").encode(), stdin=OUT_FD))
attempt("learned", lambda: learned(T + "/out"))
""",
        core,
    )
    _assert_blocked_then_learned_runs(result, tmp_path, tmp_path / "out")


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_popen_path_through_proc_self_cwd_is_refused(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # WHEN os.environ's PATH (its data dict, no event) searches /proc/self/cwd first and
    # Popen runs the learned command by its bare name in cwd=out/
    result = _run(
        child,
        tmp_path,
        f"""
def attack():
    saved = os.environ._data[b"PATH"]
    os.environ._data[b"PATH"] = b"/proc/self/cwd:/bin:/usr/bin"
    try:
        subprocess.run(["sh", "-c", {LEARNED!r}], cwd=T + "/out")
    finally:
        os.environ._data[b"PATH"] = saved
attempt("attack", attack)
attempt("learned", lambda: learned(T + "/out"))
""",
        core,
    )
    _assert_blocked_then_learned_runs(result, tmp_path, tmp_path / "out")


@pytest.mark.parametrize("core", sorted(CORES))
@pytest.mark.parametrize("cwd", ["/dev/fd/0", "/proc/self/fd/0", "{task}/out/link"])
def test_a_cwd_through_proc_is_refused(
    child: RunChild, tmp_path: Path, core: str, cwd: str
) -> None:
    # GIVEN this process's fd 0 on /bin (where ./sh is the learned shell), and out/link ->
    # /dev/fd/0: the child's fd 0, after the dup2 of stdin=, is another folder
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to("/dev/fd/0")
    # WHEN the learned command runs as ./sh in such a cwd=, with stdin= an fd on out/
    result = _run(
        child,
        tmp_path,
        f"""
where = {cwd!r}.format(task=T)
attack = lambda: subprocess.run(["./sh", "-c", {LEARNED!r}], cwd=where, stdin=OUT_FD)
attempt("attack", attack)
attempt("learned", lambda: learned(T + "/out"))
""",
        core,
        prelude='os.dup2(os.open("/bin", os.O_RDONLY), 0)',
    )
    _assert_blocked_then_learned_runs(result, tmp_path, tmp_path / "out")


def _long_folder(base: Path, length: int) -> Path:
    """A folder below ``base`` whose absolute name is exactly ``length`` characters long."""
    path = str(base)
    while len(path) < length:
        step = min(255, length - len(path) - 1)
        path += "/" + "x" * step
    os.makedirs(path)
    assert len(path) == length
    return Path(path)


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_relative_candidate_beyond_path_max_is_undecidable(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a folder of out/ whose name is 4093 characters long, holding a planted sh:
    # "<folder>/sh" is over PATH_MAX, the child reaches it by chdir() then execve("sh")
    (tmp_path / "out").mkdir()
    folder = _long_folder(tmp_path / "out", 4093)
    fd = os.open(folder, os.O_RDONLY)
    try:
        script = os.open("sh", os.O_WRONLY | os.O_CREAT, 0o755, dir_fd=fd)
        os.write(script, f"#!/bin/sh\necho planted > {tmp_path}/marker.txt\n".encode())
        os.close(script)
    finally:
        os.close(fd)
    # WHEN fork_exec tries "sh" (relative) before /bin/sh with cwd= that folder
    result = _run(
        child,
        tmp_path,
        f"""
attempt("attack", lambda: fork_exec([b"sh", b"/bin/sh"], {str(folder).encode()!r}))
attempt("learned", lambda: learned(T + "/out"))
""",
        core,
    )
    _assert_blocked_then_learned_runs(result, tmp_path, tmp_path / "out")


@pytest.mark.parametrize("core", sorted(CORES))
def test_every_candidate_that_may_run_is_decided(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # WHEN fork_exec lists the learned /bin/sh first and the planted out/sh after it (run if
    # /bin/sh's execve fails), and then the learned shell under both of its names
    result = _run(
        child,
        tmp_path,
        """
attempt("attack", lambda: fork_exec([b"/bin/sh", (T + "/out/sh").encode()]))
attempt("learned", lambda: fork_exec([b"/usr/bin/sh", b"/bin/sh"], (T + "/out").encode()))
""",
        core,
    )
    # THEN the list with the planted script is refused; the shell's two names are one program
    _assert_blocked_then_learned_runs(result, tmp_path, tmp_path / "out")


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_path_search_decides_every_program_it_may_run(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN three folders: a/ with the learned tool, b/ with the same file (a hard link), c/
    # with a planted tool of the same name; a profile with the tool and both PATHs
    for folder in ("a", "b", "c", "out"):
        (tmp_path / folder).mkdir()
    tool = tmp_path / "a" / "tool"
    tool.write_text(f"#!/bin/sh\necho learned > {tmp_path}/learned.txt\n")
    tool.chmod(0o755)
    os.link(tool, tmp_path / "b" / "tool")
    _marker_script(tmp_path / "c" / "tool", tmp_path)
    rules = [{"action": "exec", "target": str(tool), "argv": [], "phase": "any"}]
    rules += [
        {"action": "env", "target": f"PATH={tmp_path}/a:{tmp_path}/{other}", "phase": "any"}
        for other in ("b", "c")
    ]
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(processes=rules)))
    # WHEN Popen searches a PATH with the tool's folders (a/ first: the planted c/tool is run
    # only if a/tool's execve fails), then one with the two names of the learned file (the
    # rest of the environment as at install: removing a variable would be decided too)
    code = (
        HARNESS.format(learned=LEARNED, prelude="")
        + """
attempt("attack", lambda: subprocess.run(["tool"], env=dict(os.environ, PATH=T + "/a:" + T + "/c")))
attempt("learned", lambda: subprocess.run(["tool"], env=dict(os.environ, PATH=T + "/a:" + T + "/b")))
"""
    )
    result = child(code, env={**AUDIT_ALONE, **CORES[core]})
    # THEN the search that may reach the planted tool is refused; the learned one runs
    _assert_blocked_then_learned_runs(result, tmp_path, tmp_path)


@pytest.mark.parametrize("core", sorted(CORES))
def test_the_argument_separator_in_a_program_name_is_refused(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # WHEN the program's own name spells the learned shell, the separator and the learned
    # argv ("/bin/sh\\x1f-c\\x1f<learned>"), with argv ["sh"]: the target string of the rule
    result = _run(
        child,
        tmp_path,
        f"""
name = b"/bin/sh\\x1f-c\\x1f" + {LEARNED!r}.encode()
attempt("attack", lambda: fork_exec([name], argv=[b"sh"]))
attempt("learned", lambda: learned(T + "/out"))
""",
        core,
    )
    _assert_blocked_then_learned_runs(result, tmp_path, tmp_path / "out")
