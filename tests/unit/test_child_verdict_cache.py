"""The exec verdict cache: what may be kept, and what one stat sees change (no hook involved)."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from sandbox.runtime import child
from sandbox.runtime.child import known_plain, python_child_problem

TRUE = os.path.realpath(shutil.which("true") or "/bin/true")


def _judge(path: str) -> str | None:
    return python_child_problem(path, [path, "-c", "pass"], None, dict(os.environ))


@pytest.fixture
def old_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A plain program whose times lie before the module's cut-off (as if from before install)."""
    tool = tmp_path / "tool"
    shutil.copy(TRUE, tool)
    tool.chmod(0o755)
    time.sleep(1.1)  # the kernel's coarse clock: the times must be well before the cut-off
    monkeypatch.setattr(child, "_CACHE_BEFORE_NS", time.time_ns() - 1_000_000)
    monkeypatch.setattr(child, "_PLAIN", {})
    return tool


def test_a_plain_program_from_before_the_install_is_kept_and_checked_by_one_stat(
    old_tool: Path,
) -> None:
    # GIVEN a plain program judged once
    assert _judge(str(old_tool)) is None
    # WHEN it is asked again THEN the kept verdict answers
    assert known_plain(str(old_tool))
    # WHEN it is rewritten in place (same inode) THEN the identity no longer matches
    old_tool.write_bytes(b"#!" + sys.executable.encode() + b" -I\n")
    assert not known_plain(str(old_tool))
    assert _judge(str(old_tool)) is not None  # a script whose interpreter runs isolated


def test_what_is_never_kept(old_tool: Path, tmp_path: Path) -> None:
    # GIVEN programs that must be judged at every exec: one written after the cut-off, one with
    # two names, a relative path, a Python interpreter, a #! script
    fresh = tmp_path / "fresh"
    shutil.copy(TRUE, fresh)
    fresh.chmod(0o755)
    twin = tmp_path / "twin"
    os.link(old_tool, twin)
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\ntrue\n")
    script.chmod(0o755)
    judged = (str(fresh), str(twin), "tool", sys.executable, str(script))
    # WHEN each is judged
    for path in judged:
        _judge(path)
    # THEN none was kept (the script's interpreter may be: it is a plain program of its own),
    # and the hard link also changed the first tool's change time
    assert not set(judged) & set(child._PLAIN)
    assert not known_plain(str(old_tool))


def test_a_symlink_is_checked_through_to_its_file(old_tool: Path, tmp_path: Path) -> None:
    # GIVEN a link to the kept program, judged through the link
    link = tmp_path / "link"
    link.symlink_to(old_tool)
    assert _judge(str(link)) is None and known_plain(str(link))
    # WHEN the link is swapped for one to a Python interpreter
    link.unlink()
    link.symlink_to(os.path.realpath(sys.executable))
    # THEN the one stat through the link sees another file, and the check says Python
    assert not known_plain(str(link))
    assert python_child_problem(str(link), [str(link), "-I"], None, dict(os.environ))


def test_the_checks_own_path_helpers_match_posixpath() -> None:
    # GIVEN the hook's own copies of os.path's helpers (posixpath's look names up at call time)
    import posixpath

    for path in ("", ".", "/", "//", "///", "//a/../b", "a/../..", "../x", "a//b/./c/..", "a/"):
        # THEN they answer as posixpath does
        assert child._normpath(path) == posixpath.normpath(path)
        assert child._abspath(path or ".") == posixpath.abspath(path or ".")
        assert child._basename(path) == posixpath.basename(path)
    assert child._path_join("/a", "b") == posixpath.join("/a", "b")
    assert child._path_join("/a/", "/b") == posixpath.join("/a/", "/b")
    assert child._real("/usr/../usr/./bin") == os.path.realpath("/usr/bin")


def test_a_python_child_of_a_sandboxed_process_caches_nothing() -> None:
    # GIVEN a Python started as a sandboxed process starts its children: child_site/ first on
    # PYTHONPATH (its "before this import" is after the function's code ran)
    import subprocess

    from tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env["PYTHONPATH"] = os.pathsep.join([child.child_site_dir(), str(REPO)])
    code = "from sandbox.runtime import child; print(child._CACHE_PLAIN)"
    # WHEN it imports the check
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    # THEN it keeps no verdict (this process, the one that installed first, does)
    assert out.stdout.strip() == "False", out.stderr
    assert child._CACHE_PLAIN is True


def test_a_link_swapped_while_a_program_is_judged_keeps_no_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a link to a program named like Python and a plain tool, both from before the
    # install (one name each, old times)
    python = tmp_path / "python3"
    tool = tmp_path / "tool"
    for program in (python, tool):
        shutil.copy(TRUE, program)
        program.chmod(0o755)
    link = tmp_path / "prog"
    link.symlink_to(python)
    time.sleep(1.1)
    monkeypatch.setattr(child, "_CACHE_BEFORE_NS", time.time_ns() - 1_000_000)
    monkeypatch.setattr(child, "_PLAIN", {})
    real_of = child._real

    def swapped_meanwhile(path: str) -> str:
        # (a child process swaps the link after the program's identity was taken)
        os.remove(link)
        link.symlink_to(tool)
        return real_of(path)

    # WHEN the link is judged while it is swapped to the tool, then swapped back
    monkeypatch.setattr(child, "_real", swapped_meanwhile)
    _judge(str(link))  # (this one judgement races: the documented check-to-use window)
    monkeypatch.setattr(child, "_real", real_of)
    os.remove(link)
    link.symlink_to(python)
    # THEN no verdict was kept pairing the tool's judgement with the interpreter's identity
    assert not known_plain(str(link))
    # AND judged without a race, the tool behind the link is kept (one file throughout)
    os.remove(link)
    link.symlink_to(tool)
    assert _judge(str(link)) is None
    assert known_plain(str(link))
