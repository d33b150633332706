"""The descriptors a decision pins (red team 116): which arguments of which events are the
descriptors the call will use, what each names when the decision begins, and the change the
end of the decision catches -- the Python core's `_pins_take` and `_pins_changed`, the native
core's `pins_take` and `pins_changed` (the end-to-end race runs on both cores in
tests/functional/test_files.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.runtime import core
from sandbox.runtime.core_fallback import _pins_changed, _pins_take


@pytest.fixture
def two_folders(tmp_path: Path) -> Iterator[tuple[int, int]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = os.open(tmp_path / "a", os.O_RDONLY | os.O_DIRECTORY)
    b = os.open(tmp_path / "b", os.O_RDONLY | os.O_DIRECTORY)
    yield a, b
    os.close(a)
    os.close(b)


def test_a_dir_fd_is_pinned_only_for_a_name_that_may_be_relative(
    two_folders: tuple[int, int], tmp_path: Path
) -> None:
    a, b = two_folders
    # GIVEN events as CPython raises them, a dir_fd given (or -1 for none)
    # WHEN pinned THEN a relative name's dir_fd is, an absolute name's and -1 are not
    pins = _pins_take("os.mkdir", ("x", 0o777, a))
    assert [p[0] for p in pins] == [a]
    assert pins[0][4] == str(tmp_path / "a") and pins[0][3] == os.fstat(a).st_ino
    assert _pins_take("os.mkdir", ("/abs/x", 0o777, a)) == ()
    assert _pins_take("os.mkdir", (b"/abs/x", 0o777, a)) == ()
    assert _pins_take("os.remove", ("x", -1)) == ()
    # AND a name that is not an exact str or bytes may be relative: its dir_fd is pinned
    assert [p[0] for p in _pins_take("os.rmdir", (Path("x"), a))] == [a]
    # AND both names of a rename, each with its own dir_fd
    assert [p[0] for p in _pins_take("os.rename", ("x", "y", a, b))] == [a, b]
    assert [p[0] for p in _pins_take("os.link", ("/x", "y", a, b))] == [b]
    # AND a symlink's dir_fd is its new name's, never its target's
    assert _pins_take("os.symlink", ("x", "/abs/y", a)) == ()
    assert [p[0] for p in _pins_take("os.symlink", ("/abs/x", "y", a))] == [a]


def test_a_descriptor_given_for_a_path_is_pinned(two_folders: tuple[int, int]) -> None:
    a, _ = two_folders
    # GIVEN events whose path is a descriptor (os.listdir(fd), os.fchmod, os.ftruncate...)
    for event, args in (
        ("os.listdir", (a,)),
        ("os.scandir", (a,)),
        ("os.chmod", (a, 0o755, -1)),
        ("os.chown", (a, -1, -1, -1)),
        ("os.utime", (a, None, None, -1)),
        ("os.truncate", (a, 0)),
        ("os.listxattr", (a,)),
        ("os.exec", (a, ["x"], {})),
    ):
        # WHEN pinned THEN the descriptor is
        assert [p[0] for p in _pins_take(event, args)] == [a], event
    # AND an event that uses no descriptor, or a number no descriptor can have, pins nothing
    assert _pins_take("open", ("x", "r", 0)) == ()
    assert _pins_take("os.listdir", ("/tmp",)) == ()
    assert _pins_take("os.listdir", (-5,)) == ()
    assert _pins_take("os.listdir", (2**40,)) == ()


def test_a_descriptor_put_under_the_same_number_is_a_change(two_folders: tuple[int, int]) -> None:
    a, b = two_folders
    spare = os.dup(a)
    try:
        # GIVEN a pinned descriptor
        pins = _pins_take("os.mkdir", ("x", 0o777, spare))
        # WHEN nothing changes THEN nothing is seen
        assert _pins_changed(pins) is None
        # WHEN another folder is put under its number (os.dup2: no audit event)
        os.dup2(b, spare)
        # THEN the change is seen
        assert _pins_changed(pins) == spare
        # AND a descriptor closed since is a change too
        pins = _pins_take("os.mkdir", ("x", 0o777, spare))
        os.close(spare)
        assert _pins_changed(pins) == spare
    finally:
        try:
            os.close(spare)
        except OSError:
            pass


def test_a_descriptor_that_was_not_open_is_pinned_as_such() -> None:
    # GIVEN a number no descriptor has WHEN pinned THEN it names nothing (the call fails)
    free = os.open("/", os.O_RDONLY)
    os.close(free)
    assert _pins_take("os.listdir", (free,)) == ((free, 0, 0, 0, None),)


def test_outside_a_decision_nothing_is_pinned() -> None:
    # GIVEN the core this process loaded (native where it builds) WHEN asked outside any
    # decision THEN nothing is pinned
    assert core.descriptors_pinned() == ()


def test_a_descriptors_proc_link_is_told_by_its_spelling() -> None:
    # GIVEN the spellings of a descriptor link in /proc, this process's and others'
    from sandbox.runtime.paths import _descriptor_link

    own, thread = str(os.getpid()), str(__import__("threading").get_native_id())
    # WHEN told THEN this process's (any of its tasks) give the number, others' give None
    assert _descriptor_link(["proc", "self", "fd", "7"]) == 7
    assert _descriptor_link(["proc", "thread-self", "fd", "0"]) == 0
    assert _descriptor_link(["proc", own, "fd", "3"]) == 3
    assert _descriptor_link(["proc", own, "task", thread, "fd", "3"]) == 3
    assert _descriptor_link(["proc", "self", "task", thread, "fd", "3"]) == 3
    assert _descriptor_link(["proc", "1", "fd", "3"]) is None  # (pid 1: another process)
    assert _descriptor_link(["proc", "self", "cwd"]) is None
    assert _descriptor_link(["proc", "self", "fd", "x"]) is None
    assert _descriptor_link(["proc", "self", "fd", "\u0663"]) is None  # (a digit, not ASCII)
    assert _descriptor_link(["dev", "fd", "3"]) is None  # (a link to /proc/self/fd: followed)


def test_a_name_below_a_descriptors_folder_is_not_walked(two_folders: tuple[int, int]) -> None:
    # GIVEN a descriptor on a folder, outside any decision (nothing is held)
    from sandbox.runtime.paths import realpath

    a, _ = two_folders
    # WHEN a name through its /proc link is walked THEN the link itself resolves (to its
    # folder), and a name below it does not: the kernel would follow the link again
    assert realpath(f"/proc/self/fd/{a}") == os.readlink(f"/proc/self/fd/{a}")
    assert realpath(f"/dev/fd/{a}") == os.readlink(f"/proc/self/fd/{a}")
    assert realpath(f"/proc/self/fd/{a}/x") is None
    assert realpath(f"/dev/fd/{a}/../x") is None
