"""Programs the exec check cannot see as a child will are never judged plain (no hook involved)."""

from __future__ import annotations

import os
import resource
import shutil
import time
from pathlib import Path

import pytest

from sandbox.runtime import child
from sandbox.runtime.child import known_plain, python_child_problem

TRUE = os.path.realpath(shutil.which("true") or "/bin/true")


def _judge(path: str) -> str | None:
    return python_child_problem(path, [path], None, dict(os.environ))


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


def test_a_program_through_proc_is_never_kept(
    old_tool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the plain tool reached through a link into /proc/self/cwd (this process's cwd is
    # the tool's folder; a child's would be its own cwd=)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here").symlink_to("/proc/self/cwd")
    through_proc = str(tmp_path / "here" / "tool")
    # WHEN it is judged by that name, and by /proc/self/cwd/tool
    for name in (through_proc, "/proc/self/cwd/tool"):
        assert _judge(name) is None
        # THEN its verdict is not kept: a child may see another file there
        assert not known_plain(name)
        assert child.judged_plain(name) is None
    # (the same tool by its own name is)
    assert _judge(str(old_tool)) is None and known_plain(str(old_tool))


def test_a_program_that_cannot_be_read_for_lack_of_descriptors_is_refused(
    old_tool: Path,
) -> None:
    # GIVEN every descriptor slot of this process taken (RLIMIT_NOFILE lowered, then filled)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    taken: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
    try:
        while True:
            try:
                taken.append(os.dup(0))
            except OSError:
                break
        # WHEN the plain tool is judged (its #! check opens it: EMFILE)
        problem = _judge(str(old_tool))
    finally:
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    # THEN it is not "not a script": refused, and not kept as plain
    assert problem is not None and "could not be read" in problem
    assert not known_plain(str(old_tool))
    # (with descriptors back, the same tool is judged plain and kept)
    assert _judge(str(old_tool)) is None and known_plain(str(old_tool))
