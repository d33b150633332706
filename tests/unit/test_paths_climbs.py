"""When a ``..`` still leads where it was decided once a child process exists (paths._walk).

A child can move folders with no event in the parent: once one exists, a ``..`` is decided
only over a folder no one can move (red teams 123 and 124).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.runtime import paths


def test_a_folder_whose_parent_is_gone_does_not_hold(tmp_path: Path) -> None:
    # GIVEN a folder path whose parent is not there (moved away by a child, red team 124:
    # os.access answers False for it, as it does for a read-only folder)
    parts = [*tmp_path.parts[1:], "gone", "d"]
    # WHEN whether a climb over it holds is asked
    # THEN it does not
    assert paths._climb_holds(parts) is False


def test_a_folder_in_a_writable_folder_does_not_hold(tmp_path: Path) -> None:
    # GIVEN a folder in a folder this user may write
    (tmp_path / "d").mkdir()
    # WHEN / THEN a child could move it: a climb over it does not hold
    assert paths._climb_holds([*tmp_path.parts[1:], "d"]) is False


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_a_folder_in_a_read_only_folder_holds(tmp_path: Path) -> None:
    # GIVEN a folder in a folder no one but root may write
    (tmp_path / "ro" / "d").mkdir(parents=True)
    (tmp_path / "ro").chmod(0o555)
    try:
        # WHEN / THEN no process of this user can move it: a climb over it holds
        assert paths._climb_holds([*tmp_path.parts[1:], "ro", "d"]) is True
    finally:
        (tmp_path / "ro").chmod(0o755)


def test_climbs_after_a_child_are_refused_where_a_child_could_change_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a child process exists (cached answers validated, climbs checked)
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.setitem(paths._STATE, "validate", True)
    # WHEN names climb over a folder that can be moved, and after a name that is not there
    # (a child could make it a link to anywhere before the system call)
    moved = paths.realpath(f"{tmp_path}/a/b/../x")
    after_missing = paths.realpath(f"{tmp_path}/a/missing/../x")
    plain = paths.realpath(f"{tmp_path}/a/x")
    # THEN the climbs resolve to nothing (the caller refuses them), the plain name as usual
    assert moved is None and after_missing is None
    assert plain == os.path.realpath(tmp_path / "a" / "x")
