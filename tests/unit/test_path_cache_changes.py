"""The path cache under changes: each audited change drops exactly the answers it may alter.

The file decoders run before the operation (as the audit event fires before it), then the real
operation runs; every answer the cache gives afterwards must be the full walk's. Names are
changed through every spelling the kernel takes: absolute, relative to the cwd, relative to a
``dir_fd``, through a link to their directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sandbox.runtime import paths
from sandbox.runtime.decoders import files

NAMES = ["a", "b", "a/x", "b/y", "a/x/z", "l1", "l2", "b/l3"]
FILES = ["a/x/z/f", "b/y/f", "l1/x/z/f", "b/l3/z/f"]
LINK_TARGETS = ["a", "b", "a/x", "../tree", "/", "b/y", "nowhere"]
PROBES = [
    "/".join(parts)
    for parts in [
        [first, second, third]
        for first in ("a", "b", "l1", "l2")
        for second in ("x", "y", "l3", "z", "..")
        for third in ("z", "f", "")
    ]
]
OPERATIONS = st.one_of(
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("symlink"), st.sampled_from(LINK_TARGETS), st.sampled_from(NAMES)),
    st.tuples(st.just("remove"), st.sampled_from(NAMES), st.just("")),
    st.tuples(st.just("rmdir"), st.sampled_from(NAMES), st.just("")),
    st.tuples(st.just("mkdir"), st.sampled_from(NAMES), st.just("")),
    st.tuples(st.just("rmtree"), st.sampled_from(NAMES), st.just("")),
    # (a copy's or a hard link's source is only read: its answers are kept)
    st.tuples(st.just("link"), st.sampled_from(FILES), st.sampled_from(NAMES)),
    st.tuples(st.just("copyfile"), st.sampled_from(FILES), st.sampled_from(NAMES)),
    st.tuples(st.just("resolve"), st.sampled_from(PROBES), st.just("")),
)
SPELLINGS = st.sampled_from(["absolute", "relative", "dir_fd", "through-link"])


def _tree(root: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    base = root / "tree"
    (base / "a" / "x" / "z").mkdir(parents=True)
    (base / "b" / "y").mkdir(parents=True)
    (base / "a" / "x" / "z" / "f").write_text("f")
    (base / "b" / "y" / "f").write_text("f")
    (base / "l1").symlink_to("a")
    (base / "l2").symlink_to(str(base / "b"))
    (base / "b" / "l3").symlink_to("../a/x")
    (root / "via").symlink_to("tree")  # the whole tree again, through a link
    return base


def _decide_then_do(base: Path, spelling: str, op: str, first: str, second: str) -> None:
    """The decoder (what the hook runs at the event), then the operation itself."""
    fd = None
    if spelling == "dir_fd":
        fd = os.open(str(base), os.O_RDONLY | os.O_DIRECTORY)

    def name_of(name: str) -> str:
        if spelling == "absolute":
            return str(base / name)
        if spelling == "through-link":
            return str(base.parent / "via" / name)
        return name  # relative to the cwd (the tree) or to the descriptor

    at = -1 if fd is None else fd
    kwargs: dict[str, Any] = {} if fd is None else {"dir_fd": fd}
    try:
        if op == "rename":
            files.DECODERS["os.rename"]((name_of(first), name_of(second), at, at))
            extra = {} if fd is None else {"src_dir_fd": fd, "dst_dir_fd": fd}
            os.rename(name_of(first), name_of(second), **extra)
        elif op == "symlink":
            files.DECODERS["os.symlink"]((first, name_of(second), at))  # (target, link)
            os.symlink(first, name_of(second), **kwargs)
        elif op == "remove":
            files.DECODERS["os.remove"]((name_of(first), at))
            os.remove(name_of(first), **kwargs)
        elif op == "rmdir":
            files.DECODERS["os.rmdir"]((name_of(first), at))
            os.rmdir(name_of(first), **kwargs)
        elif op == "mkdir":
            files.DECODERS["os.mkdir"]((name_of(first), 0o777, at))
            os.mkdir(name_of(first), **kwargs)
        elif op == "link":
            files.DECODERS["os.link"]((name_of(first), name_of(second), at, at))
            if fd is None:
                os.link(name_of(first), name_of(second))
            else:
                os.link(name_of(first), name_of(second), src_dir_fd=fd, dst_dir_fd=fd)
        elif op == "copyfile":
            # (shutil.copyfile takes no descriptor: names relative to the cwd, the tree)
            source, target = str(base / first), str(base / second)
            files.DECODERS["shutil.copyfile"]((source, target))
            shutil.copyfile(source, target)
        elif op == "rmtree":
            files.DECODERS["shutil.rmtree"]((name_of(first), fd))
            # What the hook sees next: rmtree's own removals, each an event of its own (a link
            # is unlinked, never entered), deepest first.
            top = str(base / first)
            if os.path.isdir(top) and not os.path.islink(top):
                for folder, dirs, names in os.walk(top, topdown=False):
                    for entry in names + [d for d in dirs if os.path.islink(f"{folder}/{d}")]:
                        files.DECODERS["os.remove"]((f"{folder}/{entry}", -1))
                    files.DECODERS["os.rmdir"]((folder, -1))
            shutil.rmtree(top)  # (its dir_fd argument is 3.11+)
    except OSError:
        pass
    finally:
        if fd is not None:
            os.close(fd)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(OPERATIONS, SPELLINGS), min_size=1, max_size=14))
# (found on 3.10: a link made under a name whose target lies below that name, a loop -- the
# target's own resolution kept answers below the link's name, stale once the link existed)
@example(steps=[(("rmtree", "a", ""), "absolute"), (("symlink", "a/x", "a"), "absolute")])
def test_after_any_change_every_cached_answer_is_the_walks(
    tmp_path_factory: Any, steps: list[tuple[tuple[str, str, str], str]]
) -> None:
    # GIVEN a tree with links to files' directories, to the tree and to nowhere, every probe
    # name resolved once (the cache holds answers with and without links on the way)
    base = _tree(tmp_path_factory.getbasetemp() / "changes")
    paths.forget_resolved_paths()
    here = os.getcwd()
    os.chdir(base)
    try:
        for probe in PROBES:
            paths.resolve(str(base / probe))
        for (op, first, second), spelling in steps:
            # WHEN a change is decided and made, in any spelling, or a name resolved
            if op == "resolve":
                paths.resolve(str(base / first))
            else:
                _decide_then_do(base, spelling, op, first, second)
            # THEN every answer the cache gives is the full walk's
            for probe in PROBES:
                full = str(base / probe)
                assert paths.resolve(full) == paths.realpath(full), (probe, op, first, second)
    finally:
        os.chdir(here)


def test_a_change_keeps_the_answers_it_cannot_alter(tmp_path: Path) -> None:
    # GIVEN cached answers in two sibling directories and one reached through a link
    (tmp_path / "keep").mkdir()
    (tmp_path / "job").mkdir()
    (tmp_path / "link").symlink_to("job")
    paths.forget_resolved_paths()
    kept = str(tmp_path / "keep" / "config.json")
    gone = str(tmp_path / "job" / "input.json")
    through = str(tmp_path / "link" / "input.json")
    for name in (kept, gone, through):
        paths.resolve(name)
    # WHEN the job directory is removed (the os.rmdir event that ends a shutil.rmtree)
    files.DECODERS["os.rmdir"]((str(tmp_path / "job"), -1))
    # THEN the answers below it, and the one whose walk went through it, are dropped
    assert gone not in paths._RESOLVED
    assert through not in paths._RESOLVED
    # AND the sibling's answer is kept (no walk again: the next file decision costs one lookup)
    assert kept in paths._RESOLVED


def test_where_a_change_happens_is_its_directory_resolved_and_its_last_name(
    tmp_path: Path,
) -> None:
    # GIVEN a directory reached through a link
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    fd = os.open(str(tmp_path), os.O_RDONLY)
    try:
        # THEN the change happens in the real directory, and a link itself is not followed
        assert paths.changed_name(str(tmp_path / "link" / "f")) == str(tmp_path / "real" / "f")
        assert paths.changed_name(str(tmp_path / "link")) == str(tmp_path / "link")
        assert paths.changed_name(str(tmp_path / "real") + "/") == str(tmp_path / "real")
        assert paths.changed_name("link/f", fd) == str(tmp_path / "real" / "f")
        assert paths.changed_name(fd) == str(tmp_path)
        # AND a name whose place cannot be read drops everything (None)
        assert paths.changed_name(str(tmp_path / "real" / "..")) is None
        assert paths.changed_name("f", 10_000) is None
        assert paths.changed_name(b"/x") is None
    finally:
        os.close(fd)


def test_a_change_landing_inside_the_keep_leaves_nothing_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a name just walked (count of changes 7), and a change that lands between the keep's
    # test and its store (on the Python core a signal handler can run there: red team 41)
    count = [7]
    monkeypatch.setattr(paths, "_changes", lambda: count[0])
    monkeypatch.setattr(paths, "_changes_elsewhere", lambda: False)
    real_index = paths._index

    def index_then_change(name: str) -> None:
        real_index(name)
        count[0] += 1  # (the handler's rename, forgetting before the store)

    monkeypatch.setattr(paths, "_index", index_then_change)
    name = str(tmp_path / "f")
    # WHEN the walk's answer is kept
    paths._keep(name, name, None, 7)
    # THEN it is not there: stored, tested, taken back
    assert name not in paths._RESOLVED
    # AND with no change, it is kept
    monkeypatch.setattr(paths, "_index", real_index)
    paths._keep(name, name, None, count[0])
    assert paths._RESOLVED.get(name, ("",))[0] == name
    paths.forget_resolved_paths()
