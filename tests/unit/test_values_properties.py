"""Property tests: a decoded argument is what the kernel will receive, or a refusal — never a lie.

For generated hostile objects (subclasses overriding every string method and dunder, PathLikes
that change their answer, bytearrays, memoryviews, very long and odd paths), the value the
sandbox decides on equals the value the operating-system call gets, or it is undecodable.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.runtime import paths
from sandbox.runtime.categories import UNDECODABLE
from sandbox.runtime.globs import glob_to_regex
from sandbox.runtime.values import PATH_MAX, as_argv, as_int, as_path, as_text, capture_pathlib

capture_pathlib()

TEXT = st.text(
    alphabet=st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=40
)
BYTES = st.binary(max_size=40).filter(lambda b: b"\x00" not in b)
METHODS = [
    "lower",
    "upper",
    "strip",
    "rstrip",
    "decode",
    "encode",
    "__format__",
    "__str__",
    "__fspath__",
    "__eq__",
    "__hash__",
    "startswith",
    "endswith",
    "split",
    "__getitem__",
    "__iter__",
    "__len__",
    "__index__",
    "__int__",
    "__repr__",
    "partition",
    "find",
]


def liar_class(base: type, overridden: list[str]) -> type:
    """A subclass of ``base`` whose chosen methods all answer "allowed.txt"."""

    def lie(*args: Any, **kwargs: Any) -> Any:
        return "allowed.txt"

    return type("Liar", (base,), {name: lie for name in overridden})


@given(TEXT)
def test_exact_str_is_taken_as_the_kernel_takes_it(text: str) -> None:
    assert as_path(text) == text


@given(BYTES)
def test_exact_bytes_decode_as_the_filesystem_encoding_does(raw: bytes) -> None:
    # THEN the decoded name round-trips to the very bytes the kernel receives
    decoded = as_path(raw)
    assert isinstance(decoded, str) and os.fsencode(decoded) == raw


@given(BYTES, st.sampled_from(["bytearray", "memoryview"]))
def test_buffer_paths_are_undecodable(raw: bytes, kind: str) -> None:
    # GIVEN a path as a bytearray or memoryview: the system call copies its bytes when it
    # converts its arguments, and a later argument's conversion (or another thread) can change
    # the buffer before the audit event shows it
    buffer: Any = bytearray(raw) if kind == "bytearray" else memoryview(raw)
    # THEN it is never read as a name: refused as an argument the sandbox cannot read
    decoded = as_path(buffer)
    assert isinstance(decoded, str) and decoded.startswith(UNDECODABLE)


@given(
    st.sampled_from([str, bytes]), st.lists(st.sampled_from(METHODS), min_size=1, unique=True), TEXT
)
def test_subclasses_are_undecodable_whatever_they_override(
    base: type, methods: list[str], text: str
) -> None:
    cls = liar_class(base, methods)
    try:
        value = cls(text) if base is str else cls(text.encode())
    except Exception:
        return  # the override made the value unconstructible: nothing to decide
    for decoded in (as_path(value), as_text(value) or UNDECODABLE + "x"):
        assert isinstance(decoded, str) and decoded.startswith(UNDECODABLE)
    argv = as_argv([value])
    assert isinstance(argv, str) and argv.startswith(UNDECODABLE)


@given(
    st.lists(st.sampled_from(["secret.txt", "allowed.txt", "/etc/passwd"]), min_size=2, max_size=6)
)
def test_pathlikes_that_change_answer_are_undecodable(answers: list[str]) -> None:
    class Changing:
        calls = 0

        def __fspath__(self) -> str:
            Changing.calls += 1
            return answers[Changing.calls % len(answers)]

    assert as_path(Changing()) == UNDECODABLE + "Changing"


@given(st.lists(TEXT.filter(lambda t: "/" not in t and t not in ("", ".", "..")), max_size=6))
def test_standard_pathlib_objects_decode_to_their_string(parts: list[str]) -> None:
    for cls in (pathlib.PurePosixPath, pathlib.PosixPath):
        path = cls("/", *parts)
        assert as_path(path) == str(path)


@given(st.integers(min_value=-(2**40), max_value=2**40))
def test_int_subclasses_are_read_by_their_value_not_their_methods(number: int) -> None:
    class Lying(int):
        def __index__(self) -> int:
            return 8080

        def __int__(self) -> int:
            return 8080

    # THEN the value is the stored one (what PyLong_AsLong reads), whatever __index__ says
    assert as_int(Lying(number)) == number


def _link_tree(base: pathlib.Path) -> pathlib.Path:
    """a/b/f, a/link -> a/b/f, dirlink -> a, loop -> loop (made once per session)."""
    if not base.exists():
        (base / "a" / "b").mkdir(parents=True)
        (base / "a" / "b" / "f").write_text("x")
        os.symlink(base / "a" / "b" / "f", base / "a" / "link")
        os.symlink(base / "a", base / "dirlink")
        os.symlink(base / "loop", base / "loop")
    return base


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.sampled_from(["a", "b", "link", "loop", "..", ".", "", "missing", "dirlink"]),
        min_size=1,
        max_size=12,
    )
)
def test_realpath_agrees_with_the_kernels_view(
    tmp_path_factory: Any, components: list[str]
) -> None:
    # GIVEN a tree with a file symlink, a directory symlink and a loop
    base = _link_tree(tmp_path_factory.getbasetemp() / "tree")
    path = str(base) + "/" + "/".join(components)
    ours = paths.realpath(path)
    try:
        theirs = os.path.realpath(path, strict=True)
    except OSError:
        theirs = None
    # THEN where the path exists, both resolve it the same; a loop is refused (None)
    if theirs is not None:
        assert ours == theirs
    if "loop" in components and ours is not None:
        assert ours == os.path.realpath(path)


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.lists(
            st.sampled_from(["a", "b", "f", "link", "loop", "..", ".", "", "missing", "dirlink"]),
            min_size=1,
            max_size=8,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_cached_resolution_equals_the_walk_in_any_order(
    tmp_path_factory: Any, sequence: list[list[str]]
) -> None:
    # GIVEN the same tree, and names resolved one after another through the cache (a new
    # name in a directory resolved before takes the one-component shortcut)
    base = _link_tree(tmp_path_factory.getbasetemp() / "tree2")
    paths.forget_resolved_paths()
    for components in sequence:
        path = str(base) + "/" + "/".join(components)
        # THEN each answer, cached or fresh, is the full walk's
        assert paths.resolve(path) == paths.realpath(path), path


@given(st.integers(min_value=PATH_MAX + 1, max_value=PATH_MAX * 50))
def test_paths_longer_than_the_kernel_takes_are_refused(length: int) -> None:
    assert paths.realpath("/" + "a" * length) is None
    assert paths.resolve("/" + "a" * length) is None


SHELL_INJECTIONS = st.text(alphabet=";&|`$()<>\\'\" \t\n*?[]{}!#~/", min_size=1, max_size=6)


@given(
    st.text(alphabet="abcdefghij0123456789._-", max_size=8),
    SHELL_INJECTIONS,
    st.text(alphabet="abc", max_size=4),
)
def test_a_shell_word_wildcard_never_matches_shell_syntax(
    prefix: str, injected: str, suffix: str
) -> None:
    # GIVEN the learned shell word "convert /tmp/*.png" WHEN the wildcard would have to cover
    # shell syntax, a space, a slash or ".." THEN it does not match
    import re

    regex = re.compile(glob_to_regex("convert /tmp/*.png", "shell") + r"\Z")
    assert regex.match(f"convert /tmp/{prefix}{injected}{suffix}.png") is None
    assert regex.match("convert /tmp/../etc/passwd.png") is None


def test_names_resolved_through_proc_are_never_kept(tmp_path: Any) -> None:
    # GIVEN links whose resolution passes through /proc (a descriptor, the cwd), and /dev/shm
    fd = os.open(str(tmp_path), os.O_RDONLY)
    try:
        (tmp_path / "via-fd").symlink_to(f"/dev/fd/{fd}/x")
        (tmp_path / "via-cwd").symlink_to("/proc/self/cwd/x")
        paths.forget_resolved_paths()
        # WHEN they are resolved
        resolved = paths.resolve(str(tmp_path / "via-cwd"))
        # THEN the answer is the kernel's, and it is not kept (it moves with no event)
        assert resolved == os.path.realpath(tmp_path / "via-cwd")
        assert str(tmp_path / "via-cwd") not in paths._RESOLVED
        # AND a name below a descriptor's link has no answer: the kernel follows the link
        # again at the system call, to whatever is under that number by then (red team 118)
        assert paths.resolve(str(tmp_path / "via-fd")) is None
        assert str(tmp_path / "via-fd") not in paths._RESOLVED
        assert paths.resolve(f"/proc/self/fd/{fd}") == str(tmp_path)
        assert not any(key.startswith("/proc/") for key in paths._RESOLVED)
    finally:
        os.close(fd)
