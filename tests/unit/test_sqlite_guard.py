"""sqlite_guard: how ATTACH names resolve, and the authorizer on a connection (in process)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sandbox.runtime.sqlite_guard import UNDECODABLE, attach_targets, guard_connection


class Recorder:
    """A ``decide`` that allows paths under one folder and remembers what it was asked."""

    def __init__(self, allowed: Path) -> None:
        self.allowed = str(allowed)
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, category: str, action: str, path: str) -> bool:
        self.asked.append((category, action, path))
        return path.startswith(self.allowed + "/")


def test_memory_and_temporary_databases_name_no_file() -> None:
    # GIVEN the names SQLite opens no file for
    names = ["", ":memory:", "file::memory:", "file:shared?mode=memory&cache=shared"]
    # WHEN they are resolved
    uri_readings = [attach_targets(name)[1:] for name in names]
    # THEN the plain and :memory: names ask nothing, and the URI reading of the others is no file
    assert uri_readings == [(), (), (), ()]
    assert attach_targets("") == attach_targets(":memory:") == ()


def test_relative_names_resolve_against_the_working_directory_and_symlinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a working directory holding a symlink to another folder
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path)
    # WHEN relative and dotted names are resolved
    plain = attach_targets("x.db")
    via_link = attach_targets("link/y.db")
    dotted = attach_targets("real/../../z.db")
    # THEN each is the absolute, symlink-free path the kernel would open, as a write
    assert plain == (("write", str(tmp_path.resolve() / "x.db")),)
    assert via_link == (("write", str(tmp_path.resolve() / "real" / "y.db")),)
    assert dotted == (("write", str(tmp_path.resolve().parent / "z.db")),)


def test_file_uris_are_read_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a working directory and URIs with an authority, percent escapes and parameters
    monkeypatch.chdir(tmp_path)
    cwd = str(tmp_path.resolve())
    # WHEN they are resolved
    local = attach_targets("file://localhost/data/%61.db?cache=private#frag")
    read_only = attach_targets("file:/data/r.db?mode=ro")
    last_mode_wins = attach_targets("file:/data/m.db?mode=memory&mode=rwc")
    escaped_key = attach_targets("file:/data/k.db?mod%65=memory")
    nul = attach_targets("file:/data/n.db%00/../../etc/passwd?mode=rw")
    bad_authority = attach_targets("file://elsewhere/data/e.db")
    relative = attach_targets("file:rel.db")
    # THEN the URI reading is the decoded path (read for mode=ro), the plain reading a file in cwd
    assert local == (
        ("write", f"{cwd}/file:/localhost/data/%61.db?cache=private#frag"),
        ("write", "/data/a.db"),
    )
    assert read_only[1] == ("read", "/data/r.db")
    assert last_mode_wins[1] == ("write", "/data/m.db")
    assert escaped_key[1:] == ()  # SQLite decodes keys too: this is mode=memory
    assert nul[1] == ("write", "/data/n.db")  # SQLite ignores the rest of the path after %00
    assert bad_authority == (("write", f"{cwd}/file:/elsewhere/data/e.db"),)
    assert relative == (("write", f"{cwd}/file:rel.db"), ("write", f"{cwd}/rel.db"))


def test_anything_but_an_exact_str_is_undecodable() -> None:
    # GIVEN names that are not exact str: a subclass with its own answers, bytes, None
    class Sly(str):
        def startswith(self, *args: Any, **kwargs: Any) -> bool:
            return True

        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = str.__hash__

    names: list[Any] = [Sly("/etc/x.db"), b"/etc/x.db", None, 3]
    # WHEN they are resolved
    results = [attach_targets(name) for name in names]
    # THEN each asks for the undecodable marker, never the object's own answer
    assert results == [(("write", UNDECODABLE),)] * len(names)


def test_the_authorizer_asks_only_for_attach_and_denies_on_refusal_or_error(
    tmp_path: Path,
) -> None:
    # GIVEN a guarded in-memory connection that allows tmp_path/ok only
    (tmp_path / "ok").mkdir()
    decide = Recorder(tmp_path / "ok")
    conn = sqlite3.connect(":memory:")
    guard_connection(conn, decide)
    # WHEN ordinary statements run, then an allowed and a refused ATTACH
    conn.execute("CREATE TABLE t(a)")
    conn.execute("INSERT INTO t VALUES (1)")
    ordinary = list(decide.asked)
    conn.execute(f"ATTACH DATABASE '{tmp_path}/ok/in.db' AS good")
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        conn.execute(f"ATTACH DATABASE '{tmp_path}/out.db' AS bad")
    # THEN ordinary statements asked nothing, and the refused file was never created
    assert ordinary == []
    assert decide.asked == [
        ("files", "write", str(tmp_path.resolve() / "ok" / "in.db")),
        ("files", "write", str(tmp_path.resolve() / "out.db")),
    ]
    assert (tmp_path / "ok" / "in.db").exists() and not (tmp_path / "out.db").exists()


def test_a_decide_that_raises_or_answers_truthy_non_true_refuses(tmp_path: Path) -> None:
    # GIVEN deciders that raise (the hook blocking) or answer 1 instead of True
    def raises(category: str, action: str, path: str) -> bool:
        raise PermissionError("blocked")

    def truthy(category: str, action: str, path: str) -> Any:
        return 1

    outcomes = []
    for decide in (raises, truthy):
        conn = sqlite3.connect(":memory:")
        guard_connection(conn, decide)
        # WHEN an ATTACH runs
        try:
            conn.execute(f"ATTACH DATABASE '{tmp_path}/x.db' AS x")
            outcomes.append("attached")
        except sqlite3.DatabaseError as exc:
            outcomes.append(str(exc))
    # THEN both are refusals and no file exists
    assert outcomes == ["not authorized", "not authorized"]
    assert not (tmp_path / "x.db").exists()


def test_a_subclass_overriding_set_authorizer_is_guarded_through_the_base_method(
    tmp_path: Path,
) -> None:
    # GIVEN a connection class whose set_authorizer does nothing
    class Sneaky(sqlite3.Connection):
        def set_authorizer(self, *args: Any, **kwargs: Any) -> None:
            return None

    conn = sqlite3.connect(":memory:", factory=Sneaky)
    guard_connection(conn, Recorder(tmp_path / "ok"))
    # WHEN an ATTACH outside the allowed folder runs
    # THEN it is refused all the same
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        conn.execute(f"ATTACH DATABASE '{tmp_path}/x.db' AS x")


def test_a_non_connection_is_left_alone_and_runs_nothing() -> None:
    # GIVEN an object that merely looks like a connection: its set_authorizer would run code,
    # and so would a lookup of its class's attributes through a metaclass
    ran: list[str] = []

    class Meta(type):
        def __getattribute__(cls, name: str) -> Any:
            ran.append("metaclass " + name)
            return super().__getattribute__(name)

    class Fake(metaclass=Meta):
        def set_authorizer(self, callback: Any) -> None:
            ran.append("set_authorizer")

    # WHEN it is guarded (a forged sqlite3.connect/handle event hands the hook anything)
    guard_connection(Fake(), Recorder(Path("/nowhere")))
    # THEN nothing is raised, nothing of the object's ran, and nothing waits for it
    assert ran == []
    from sandbox.runtime import sqlite_guard

    assert sqlite_guard.flush_pending() is None


def test_vacuum_into_is_decided_as_the_write_of_its_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a guarded connection in a working directory where only ok/ is allowed
    (tmp_path / "ok").mkdir()
    monkeypatch.chdir(tmp_path)
    decide = Recorder(tmp_path.resolve() / "ok")
    conn = sqlite3.connect(":memory:")
    guard_connection(conn, decide)
    conn.execute("CREATE TABLE t(a)")
    # WHEN VACUUM INTO names a relative target inside, then one outside as a bound parameter
    conn.execute("VACUUM INTO 'ok/copy.db'")
    with pytest.raises(sqlite3.DatabaseError, match="authorization denied"):
        conn.execute("VACUUM INTO ?", ("copy.db",))  # denied at run time: SQLITE_AUTH
    # THEN both were asked as writes of the resolved path; only the allowed copy exists
    writes = [path for _, action, path in decide.asked if action == "write"]
    assert writes == [os.path.join(str(tmp_path.resolve()), p) for p in ("ok/copy.db", "copy.db")]
    assert (tmp_path / "ok" / "copy.db").exists() and not (tmp_path / "copy.db").exists()
