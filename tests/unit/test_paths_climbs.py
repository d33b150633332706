"""When a ``..`` still leads where it was decided, once a child process or another thread
exists (paths._walk).

A child can move folders with no event in the parent, and another thread's move comes after
the decision: once either exists, a ``..`` is decided only over a folder no one can move (red
teams 123, 124 and 125).
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


def test_a_climb_decided_because_nothing_else_runs_is_named_and_never_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a process with no child and no other thread (as the kernel counts them)
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.setattr(paths, "_alone", lambda: True)
    name = f"{tmp_path}/a/b/../x"
    # WHEN a name climbing over a folder that can be moved is walked, then resolved
    climbs: list[str] = []
    walked, _ = paths._walk(name, None, None, climbs)
    resolved = paths.resolve(name)
    # THEN the climb is decided where it leads now, the folder it depended on is named, and
    # the answer is not kept: a thread started before the next call could move the folder
    assert walked == resolved == os.path.realpath(tmp_path / "a" / "x")
    assert climbs == [os.path.realpath(tmp_path / "a" / "b")]
    assert name not in paths._RESOLVED


def test_a_process_with_another_thread_is_not_alone() -> None:
    # GIVEN another thread running in this process
    import threading

    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, args=(30,), daemon=True)
    worker.start()
    try:
        # WHEN / THEN a climb over a folder it could move is not decidable by being alone
        assert paths._alone() is False
    finally:
        stop.set()
        worker.join()


def test_a_process_that_started_a_child_is_never_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a child process was started (it may outlive anything this process sees)
    monkeypatch.setitem(paths._STATE, "validate", True)
    # WHEN / THEN the process is not alone, whatever its threads
    assert paths._alone() is False


def test_a_python_signal_handler_is_one_that_could_run_inside_a_decision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the interpreter's own SIGINT handler (it only raises KeyboardInterrupt)
    import signal

    monkeypatch.setattr(paths, "_SIGNALS", (signal.SIGINT, signal.SIGUSR2))
    # (set here: a run started in the background inherits SIGINT ignored)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    try:
        with_default = paths._python_signal_handlers()
        # WHEN the function sets a handler of its own
        signal.signal(signal.SIGUSR2, lambda number, frame: None)
        with_own = paths._python_signal_handlers()
    finally:
        signal.signal(signal.SIGUSR2, previous)
        signal.signal(signal.SIGINT, previous_int)
    # THEN only the function's handler counts (on the Python core it makes a process not alone)
    assert with_default is False and with_own is True


def test_a_climb_over_a_folder_no_one_can_move_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a process with other threads, and a folder no one can move (a read-only tree, as
    # the deployment's on Lambda; made so here by the check's answer: root may write anywhere)
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.setattr(paths, "_alone", lambda: False)
    monkeypatch.setattr(paths, "_climb_holds", lambda parts: True)
    name = f"{tmp_path}/a/b/../x"
    # WHEN a name climbing over it is walked, then resolved
    climbs: list[str] = []
    walked, _ = paths._walk(name, None, None, climbs)
    resolved = paths.resolve(name)
    # THEN it is decided where it leads, depends on nothing that can move, and is kept
    assert walked == resolved == os.path.realpath(tmp_path / "a" / "x")
    assert climbs == []
    assert paths._RESOLVED[name][0] == resolved
