"""SQLite's own opens decided at the open (the native core's guarded_open), one subprocess each.

SQLite opens files itself, with no audit event: the database (after the ``sqlite3.connect``
event), ATTACH and VACUUM INTO targets (after the authorizer), its journals, WAL and
shared-memory files, and its temporary files. The native core replaces the open system call of
SQLite's unix VFS and decides each open on the real path of what the kernel opened; the Python
core cannot (it keeps deciding by name, before the open: a stated limit).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunChild, audit_only, profile_doc, profile_from_observations

ENFORCE = """
import json, os, sqlite3, sys, time
import sandbox
from sandbox.runtime import core
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="enforce", profile="profile.json")
mark_invoke_phase()
BASE = os.getcwd()
A = BASE + "/allowed"
SECRET = BASE + "/outside/secret.db"
"""

AUX_SUFFIXES = ("-journal", "-wal", "-shm", "-mj")


def _profile(tmp_path: Path) -> None:
    """allowed/ read, written and listed; outside/secret.db (a table s: 'top secret'), named by
    no rule; fork allowed (the race's child)."""
    (tmp_path / "allowed").mkdir()
    (tmp_path / "outside").mkdir()
    made = sqlite3.connect(tmp_path / "outside" / "secret.db")
    made.execute("CREATE TABLE s (v)")
    made.execute("INSERT INTO s VALUES ('top secret')")
    made.commit()
    made.close()
    rules: dict[str, list[dict[str, Any]]] = {
        "files": [
            {"action": a, "target": "{task}/allowed/**", "phase": "any"}
            for a in ("read", "write", "list")
        ]
        + [{"action": "list", "target": "{task}/allowed", "phase": "any"}],
        "processes": [{"action": "fork", "target": "fork"}],
    }
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(**rules)))


def _allow_also(tmp_path: Path, *rules: dict[str, Any]) -> None:
    """Add file rules to the profile _profile wrote."""
    doc = json.loads((tmp_path / "profile.json").read_text())
    doc["rules"]["files"] += list(rules)
    (tmp_path / "profile.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("core", ["native", "python"])
def test_the_guard_is_on_at_the_first_connection_on_the_native_core_only(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the installed sandbox, before any SQLite connection
    _profile(tmp_path)
    code = (
        ENFORCE
        + """
before = core.sqlite_open_guard()
# WHEN the function opens its first connection
sqlite3.connect(A + "/x.db").close()
print("RESULT", json.dumps({"before": before, "after": core.sqlite_open_guard()}))
"""
    )
    out = child(code, env=audit_only(core)).result()
    # THEN the native core has replaced SQLite's open by then (not at install: no SQLite is
    # loaded at a cold start for it); the Python core says it cannot
    if core == "native":
        assert out["before"].startswith("not yet:"), out
        assert out["after"].startswith("on: SQLite "), out
    else:
        assert out["before"] == out["after"], out
        assert out["after"].startswith("off: the Python core"), out


@pytest.mark.parametrize("how", ["connect", "attach"])
def test_a_name_swapped_for_a_link_to_a_secret_between_the_check_and_sqlites_open_is_never_read(
    child: RunChild, tmp_path: Path, how: str
) -> None:
    # GIVEN allowed/f.db (a table s: 'public'), and a forked child that keeps swapping that
    # name for a link to outside/secret.db and back (its renames and links in allowed/ are
    # allowed; a forked child's changes raise no audit event in this process). The
    # connect's check decides the name as it is then; SQLite opens it (and resolves it)
    # later, with the GIL released: on the core before this guard the secret was read there
    # (dozens of times in a few seconds on a developer machine). An ATTACH is padded with 20
    # MB of whitespace, which keeps SQLite busy after the authorizer's check (red team 82's
    # way to hold the window open; a new connection each time: one whose ATTACH failed runs
    # no further statement)
    _profile(tmp_path)
    code = (
        ENFORCE
        + """
F, T, STOP = A + "/f.db", A + "/f.tmp", A + "/stop"
made = sqlite3.connect(F)
made.execute("create table s (v)")
made.execute("insert into s values ('public')")
made.commit()
made.close()
os.chdir(A)   # (the URI's plain-file reading, a name in allowed/, is decided too)
pid = os.fork()
if pid == 0:
    try:
        while not os.path.exists(STOP):
            for step in (lambda: os.rename(F, T), lambda: os.symlink(SECRET, F),
                         lambda: os.remove(F), lambda: os.rename(T, F)):
                try:
                    step()
                except OSError:
                    pass
    finally:
        os._exit(0)
out = {"secret read": 0, "public read": 0, "refused at the check": 0, "not opened": 0}
deadline = time.time() + 3
# WHEN the function connects to the name, or attaches it (mode=rw: never a new file), and
# reads it, again and again
PAD = " " * 20_000_000
while time.time() < deadline:
    try:
        if HOW == "connect":
            db = sqlite3.connect(f"file:{F}?mode=rw", uri=True)
            table = "s"
        else:
            db = sqlite3.connect(":memory:", uri=True)
            db.execute(f"attach 'file:{F}?mode=rw' as x" + PAD)
            table = "x.s"
        try:
            rows = db.execute(f"select v from {table}").fetchall()
        finally:
            db.close()
        out["secret read" if rows == [("top secret",)] else "public read"] += 1
    except PermissionError:
        out["refused at the check"] += 1
    except sqlite3.DatabaseError:
        out["not opened"] += 1
open(STOP, "w").close()
os.waitpid(pid, 0)
print("RESULT", json.dumps(out))
"""
    )
    result = child(code.replace("HOW", repr(how)), env=audit_only("native"))
    out = result.result()
    # THEN SQLite never reads the secret: whatever the name led to when the check ran, its
    # open is decided on the file it really opened (the secret's real path: refused)
    assert out["secret read"] == 0, out
    assert out["public read"] + out["not opened"] > 0, out
    secret = [f for f in result.findings if f["target"] == "{task}/outside/secret.db"]
    assert all(f["decision"] == "blocked" for f in secret), out
    if how == "connect":
        # (thousands of tries: the name was a link to the secret at some check or some open;
        # an ATTACH makes a few dozen, each refused in one of several ways)
        assert secret, out


def test_a_fifo_at_a_journal_name_is_refused_at_sqlites_open_and_reported(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a database in allowed/, and a FIFO made at its journal's name (os.mkfifo in an
    # allowed folder is allowed): SQLite would open it itself to see whether it is a hot
    # journal (read-only: blocking until a writer comes) and then as its journal
    _profile(tmp_path)
    code = (
        ENFORCE
        + """
db = sqlite3.connect(A + "/k.db", isolation_level=None)
db.execute("create table t (a)")
db.execute("insert into t values (1)")
db.close()
os.mkfifo(A + "/k.db-journal")
# WHEN a new connection reads and writes
out = {}
db = sqlite3.connect(A + "/k.db", isolation_level=None)
for label, sql in (("read", "select a from t"), ("write", "update t set a = 2")):
    try:
        out[label] = db.execute(sql).fetchall()
    except sqlite3.DatabaseError as exc:
        out[label] = str(exc)
print("RESULT", json.dumps(out))
"""
    )
    result = child(code, env=audit_only("native"))
    out = result.result()
    # THEN nothing blocks and SQLite never opens the FIFO: its hot-journal probe cannot open
    # it (the read fails, as for a journal it may not read), nor can its journal be opened
    # (the write fails), and the refusal is reported
    unable = "unable to open database file"
    assert out == {"read": unable, "write": unable}, out
    fifo = [f for f in result.findings if "a FIFO at " in f["target"]]
    assert fifo and fifo[0]["target"].endswith(
        "/allowed/k.db-journal, which SQLite would open itself (no audit event)"
    ), result.stdout


# A function's SQLite work: a database, a transaction, WAL mode (-wal and -shm files), VACUUM
# INTO and ATTACH of the copy, a sort too big for its cache and a temporary table (SQLite's
# temporary files, etilqs_*, in its temporary folder).
WORKLOAD = """
D = BASE + "/data"
db = sqlite3.connect(D + "/app.db")
db.execute("drop table if exists t")
db.execute("create table t (a, b)")
db.executemany("insert into t values (?, ?)", ((i, os.urandom(64).hex()) for i in range(20000)))
db.commit()
db.execute("pragma journal_mode=wal").fetchall()
db.execute("insert into t values (-1, 'x')")
db.commit()
if os.path.exists(D + "/copy.db"):
    os.remove(D + "/copy.db")
db.execute(f"vacuum into '{D}/copy.db'")
db.execute(f"attach '{D}/copy.db' as c")
copied = db.execute("select count(*) from c.t").fetchone()[0]
db.execute("detach c")
db.execute("pragma temp_store=FILE")
db.execute("pragma cache_size=-64")
rows = db.execute("select b, a from t order by b, a").fetchall()
db.execute("create temp table k as select * from t")
db.close()
print("RESULT", json.dumps({"copied": copied, "sorted": len(rows)}))
"""

LEARN = """
import json, os, sqlite3
import sandbox
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="learn")
mark_invoke_phase()
BASE = os.getcwd()
"""


def _files(observations: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(o["action"], o["target"]) for o in observations if o["category"] == "files"}


def test_a_sqlite_function_learned_without_the_guard_still_works_under_enforce(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a function's SQLite work learned on the Python core (where SQLite's own opens are
    # decided by no one: what profiles learned before this guard hold), and learned again on
    # the native core
    (tmp_path / "data").mkdir()
    learned_before = child(LEARN + WORKLOAD, env=audit_only("python"))
    assert learned_before.result() == {"copied": 20001, "sorted": 20001}, learned_before.stderr
    learned_now = child(LEARN + WORKLOAD, env=audit_only("native"))
    assert learned_now.result() == {"copied": 20001, "sorted": 20001}, learned_now.stderr
    # WHEN it runs under enforce on the native core with the profile learned before
    profile = profile_from_observations(learned_before.observations)
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    enforce = ENFORCE.replace('A = BASE + "/allowed"\n', "")
    result = child(enforce + WORKLOAD, env=audit_only("native"))
    # THEN everything works and nothing is reported: each journal, WAL and shared-memory file
    # is decided as its database, each temporary file is a new one SQLite made O_EXCL
    assert result.result() == {"copied": 20001, "sorted": 20001}, result.stdout + result.stderr
    assert result.findings == [], result.findings
    # AND learning with the guard records nothing new: no journal or temporary file names,
    # the same file accesses as before
    now = _files(learned_now.observations)
    assert not [t for _, t in now if t.rsplit("/", 1)[-1].startswith("etilqs_")], now
    assert not [t for _, t in now if any(s in t for s in AUX_SUFFIXES)], now
    assert now == _files(learned_before.observations)


def test_wal_databases_opened_while_another_thread_closes_connections_never_deadlock(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN two threads: one opening WAL databases (SQLite opens each one's shared-memory
    # file holding its global mutex), the other opening and closing connections (_sqlite3
    # may close with the GIL held, and SQLite's close takes that same mutex: a GIL taken
    # inside the first would wait for the second, which waits for the mutex)
    _profile(tmp_path)
    code = (
        ENFORCE
        + """
import threading
stop = time.time() + 2
counts = {"wal": 0, "closed": 0}
def wal():
    i = 0
    while time.time() < stop:
        i += 1
        db = sqlite3.connect(f"{A}/w{i % 50}.db", isolation_level=None)
        db.execute("pragma journal_mode=wal")
        db.execute("create table if not exists t (a)")
        db.execute("insert into t values (1)")
        db.close()
        counts["wal"] += 1
def closer():
    while time.time() < stop:
        sqlite3.connect(A + "/c.db").close()
        counts["closed"] += 1
# WHEN both run for two seconds
threads = [threading.Thread(target=wal), threading.Thread(target=closer)]
for t in threads:
    t.start()
for t in threads:
    t.join(30)
print("RESULT", json.dumps({"stuck": any(t.is_alive() for t in threads), **counts}))
os._exit(0)
"""
    )
    out = child(code, env=audit_only("native")).result()
    # THEN neither waits for the other for good: a database's own files are answered with no
    # GIL once the database's open was allowed (a regression guard: this machine did not
    # deadlock without that either, in a few tries on 3.11-3.13)
    assert out["stuck"] is False, out
    assert out["wal"] > 10 and out["closed"] > 10, out


@pytest.mark.parametrize("core", ["native", "python"])
def test_the_open_guards_question_cannot_be_forged_as_an_audit_event(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the installed sandbox in learn (where a forged question would record a rule)
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    code = """
import json, sys
import sandbox
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="learn")
mark_invoke_phase()
# WHEN the function raises the event the native core hands its decision at SQLite's open
try:
    sys.audit("sandbox.sqlite_open", "/etc/forged-by-the-function", 2)
    print("RESULT", json.dumps({"outcome": "raised"}))
except PermissionError:
    print("RESULT", json.dumps({"outcome": "refused"}))
"""
    result = child(code, env=audit_only(core))
    # THEN it records nothing: the native core refuses the event outright; the Python core's
    # hook reports it as a tamper (learn reports, and lets it through)
    assert not [o for o in result.observations if "forged-by" in o["target"]], result.stdout
    if core == "native":
        assert result.result() == {"outcome": "refused"}, result.stdout + result.stderr
    else:
        assert [f for f in result.findings if f["target"] == "sandbox.sqlite_open"], result.stdout


@pytest.mark.parametrize("journal_mode", ["delete", "persist", "truncate"])
def test_journals_made_new_or_kept_between_transactions_work_under_enforce(
    child: RunChild, tmp_path: Path, journal_mode: str
) -> None:
    # GIVEN a database in allowed/ in each of SQLite's rollback-journal modes: "delete" makes
    # its journal new at every transaction (the guard makes it), "persist" and "truncate" keep
    # it, so that the next transaction's open with O_CREAT finds it there (the guard tries it
    # as a new file first, then opens the one there)
    _profile(tmp_path)
    code = (
        ENFORCE
        + """
db = sqlite3.connect(A + "/j.db", isolation_level=None)
db.execute("pragma journal_mode=MODE").fetchall()
db.execute("create table t (a)")
# WHEN five write transactions run, then a new connection reads
for i in range(5):
    db.execute("begin")
    db.execute("insert into t values (?)", (i,))
    db.execute("commit")
db.close()
again = sqlite3.connect(A + "/j.db")
rows = [r[0] for r in again.execute("select a from t order by a")]
again.close()
kept = os.path.exists(A + "/j.db-journal")
print("RESULT", json.dumps({"rows": rows, "journal kept": kept}))
"""
    )
    result = child(code.replace("MODE", journal_mode), env=audit_only("native"))
    # THEN every transaction ran (its journal opened each time) and nothing was reported
    assert result.result() == {"rows": [0, 1, 2, 3, 4], "journal kept": journal_mode != "delete"}
    assert not result.findings, result.stdout


def test_a_link_planted_at_a_journal_name_is_never_followed_to_a_file_no_rule_names(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN allowed/k.db, and at its journal's name a link to outside/secret.db (made before
    # the function ran: a deployment or an earlier step left it). SQLite looks for a hot
    # journal before it reads, and opens its journal with O_CREAT before it writes: followed,
    # a rollback would write the database's old pages into the secret
    _profile(tmp_path)
    made = sqlite3.connect(tmp_path / "allowed" / "k.db")
    made.execute("CREATE TABLE t (a)")
    made.commit()
    made.close()
    secret = tmp_path / "outside" / "secret.db"
    before = secret.read_bytes()
    (tmp_path / "allowed" / "k.db-journal").symlink_to(secret)
    code = (
        ENFORCE
        + """
# WHEN the function reads and writes the database
out = {}
db = sqlite3.connect(A + "/k.db", isolation_level=None)
for label, sql in (("read", "select a from t"), ("write", "insert into t values (1)")):
    try:
        out[label] = db.execute(sql).fetchall()
    except sqlite3.DatabaseError as exc:
        out[label] = str(exc)
db.close()
print("RESULT", json.dumps(out))
"""
    )
    result = child(code, env=audit_only("native"))
    # THEN SQLite never opens the secret through the link: SQLite asks its journal opened
    # O_NOFOLLOW, which the guard keeps (the link itself is found: ELOOP, as the kernel would
    # say), both when it is looked at as there and when it is made new; the secret is unchanged
    out = result.result()
    assert out == {"read": "unable to open database file", "write": "unable to open database file"}
    assert secret.read_bytes() == before
    assert (tmp_path / "allowed" / "k.db-journal").is_symlink()


def test_a_journal_made_by_the_name_sqlite_gives_never_goes_through_a_link_put_on_its_way(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a database in allowed/job/ with a transaction made (its journal made and removed
    # by the name SQLite gives, its own real path), and another process that then moves the
    # folder away and puts a link to outside/ at its name (no audit event: not the function's
    # doing), with the database linked in outside/ as well, so that SQLite sees no moved
    # database and goes on
    _profile(tmp_path)
    (tmp_path / "allowed" / "job").mkdir()
    code = (
        """
import os
BASE = os.getcwd()
ask, told = os.pipe()
done, answered = os.pipe()
if os.fork() == 0:  # (before the sandbox: another process on the host)
    os.read(ask, 1)
    os.rename(BASE + "/allowed/job", BASE + "/allowed/moved")
    # (the database linked there too: SQLite finds it at its name, not moved, and goes on)
    os.link(BASE + "/allowed/moved/x.db", BASE + "/outside/x.db")
    os.symlink(BASE + "/outside", BASE + "/allowed/job")
    os.write(answered, b"x")
    os._exit(0)
"""
        + ENFORCE
        + """
out = {}
db = sqlite3.connect(A + "/job/x.db", isolation_level=None)
db.execute("create table t (a)")
db.execute("insert into t values (1)")
os.write(told, b"x")
os.read(done, 1)
# WHEN the function's next transaction makes the database's journal by the name it gave
try:
    db.execute("insert into t values (2)")
    out["second"] = "written"
except sqlite3.Error as exc:
    out["second"] = str(exc)
print("RESULT", json.dumps(out))
"""
    )
    result = child(code, env=audit_only("native"))
    # THEN the journal is never made through the link in outside/ (a folder no rule lets the
    # function write in): made at the name's text with no link on the way, that fails, and the
    # folder read back and its real path decided is refused
    out = result.result()
    assert out["second"] != "written", out
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["secret.db", "x.db"]
    assert (tmp_path / "allowed" / "job").is_symlink()


# (a host filter refusing openat2, as a kernel before 5.6 would: the guard's other road)
NO_OPENAT2 = """
import errno, pyseccomp
host = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
host.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "openat2")
host.load()
"""


@pytest.mark.parametrize("openat2", ["there", "refused"])
def test_a_journal_made_while_another_thread_moves_descriptors_lands_only_where_decided(
    child: RunChild, tmp_path: Path, openat2: str
) -> None:
    # GIVEN a folder readonly/ the function may open and list but not write in, and a thread that keeps
    # putting a descriptor of that folder (os.dup2: no audit event) at the number of any other
    # folder's descriptor, as the guard opens a journal's folder: SQLite makes its journal with
    # no GIL held, so the folder the guard read back may not be the one the journal is made
    # in by the time it is made
    _profile(tmp_path)
    (tmp_path / "readonly").mkdir()
    _allow_also(
        tmp_path,
        *({"action": a, "target": "{task}/readonly", "phase": "any"} for a in ("list", "read")),
    )
    code = (
        (NO_OPENAT2 if openat2 == "refused" else "")
        + ENFORCE
        + """
import threading
R = BASE + "/readonly"
held = os.open(R, os.O_RDONLY | os.O_DIRECTORY)
stop = time.time() + 3
import stat
def mover():
    # (any other folder open is the guard's: put readonly/ there instead)
    while time.time() < stop:
        for n in range(3, 40):
            try:
                if n != held and stat.S_ISDIR(os.fstat(n).st_mode):
                    os.dup2(held, n)
            except OSError:
                pass
seen = set()
def writer():
    i = 0
    while time.time() < stop:
        i += 1
        try:
            db = sqlite3.connect(f"{A}/m{i % 5}.db", isolation_level=None)
            db.execute("create table if not exists t (a)")
            db.execute("insert into t values (1)")
            db.close()
        except (sqlite3.Error, OSError, ValueError):
            pass
        seen.update(os.listdir(R))
# WHEN the function writes databases in allowed/ while that thread runs
threads = [threading.Thread(target=mover), threading.Thread(target=writer)]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
seen.update(os.listdir(R))
print("RESULT", json.dumps({"in readonly": sorted(seen)}))
os._exit(0)
"""
    )
    result = child(code, env=audit_only("native"), timeout=300)
    # THEN no journal is ever made in readonly/: made by the real path's text with no link
    # on the way (openat2), or, where openat2 is refused, made in the folder's descriptor and
    # removed at once when its own real path is not the one decided
    assert result.result() == {"in readonly": []}
    assert not list((tmp_path / "readonly").iterdir())


HOT_JOURNAL = """
import struct
VICTIM = BASE + "/ro/keep.txt"
db = A + "/x.db"
made = sqlite3.connect(db)
made.execute("create table t (a)")
made.execute("insert into t values (1)")
made.commit()
made.close()
name = VICTIM.encode()
magic = bytes([0xD9, 0xD5, 0x05, 0xF9, 0x20, 0xA1, 0x63, 0xD7])
with open(db + "-journal", "wb") as f:
    f.write(b"X" * 512 + name + struct.pack(">II", len(name), sum(name) & 0xFFFFFFFF) + magic)
# WHEN the function reads the database (SQLite finds the hot journal and rolls it back)
out = {}
try:
    out["rows"] = sqlite3.connect(db).execute("select a from t").fetchall()
except sqlite3.DatabaseError as exc:
    out["rows"] = str(exc)
out["victim there"] = os.path.exists(VICTIM)
print("RESULT", json.dumps(out))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_hot_journal_cannot_have_sqlite_delete_a_file_the_function_may_only_read(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN ro/keep.txt, which the function may read but not write, and allowed/x.db with a
    # journal the function wrote itself (allowed/: it may): a hot journal whose super-journal
    # pointer is ro/keep.txt's name. Rolling it back, SQLite reads the super-journal (a read:
    # allowed) and, finding no child journal it names, removes it (red team 86)
    _profile(tmp_path)
    _allow_also(tmp_path, {"action": "read", "target": "{task}/ro/**", "phase": "any"})
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "keep.txt").write_text("precious")
    # (an SQLite that removes no such super-journal -- 3.53's, CPython 3.14 here -- has no
    # attack to stop: shown by the same steps without the sandbox)
    control = tmp_path / "control"
    (control / "allowed").mkdir(parents=True)
    (control / "ro").mkdir()
    (control / "ro" / "keep.txt").write_text("precious")
    plain = "import json, os, sqlite3\nBASE = os.getcwd()\nA = BASE + '/allowed'\n" + HOT_JOURNAL
    if child(plain, cwd=control).result()["victim there"]:
        pytest.skip(f"SQLite {sqlite3.sqlite_version} removes no super-journal a hot journal names")
    code = ENFORCE + HOT_JOURNAL
    result = child(code, env=audit_only(core))
    out = result.result()
    if core == "native":
        # THEN SQLite's removal is decided as a write of ro/keep.txt (refused, reported), as
        # os.remove is, and the file stays
        assert out["victim there"] is True, out
        assert [
            f
            for f in result.findings
            if f["target"] == "{task}/ro/keep.txt" and f["decision"] == "blocked"
        ], result.stdout
        return
    # AND on the Python core (a documented limit: it cannot replace SQLite's system calls)
    # SQLite removes it
    assert out["victim there"] is False, out


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_database_made_at_an_allowed_folders_own_name_gets_no_companions_beside_the_folder(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the rule "{task}/allowed/" + "**", which also names the folder allowed/ itself, and
    # a function that empties and removes that folder and opens a database at its name:
    # SQLite makes the database's journal, WAL and shared-memory files beside it -- beside
    # the folder, in {task}, where no rule lets the function write (red team 92)
    _profile(tmp_path)
    (tmp_path / "allowed" / "keep.txt").write_text("x")
    code = (
        ENFORCE
        + """
out = {}
for name in os.listdir(A):
    os.remove(A + "/" + name)
os.rmdir(A)
try:
    db = sqlite3.connect(A, isolation_level=None)
    db.execute("pragma journal_mode=persist")
    db.execute("create table t (x)")
    db.execute("insert into t values ('MARK')")
    db.execute("pragma journal_mode=wal")
    db.execute("insert into t values ('MARK-in-wal')")
    out["database"] = "written"
except sqlite3.Error as exc:
    out["database"] = str(exc)
print("RESULT", json.dumps(out))
os._exit(0)  # (WAL files left as they are)
"""
    )
    result = child(code, env=audit_only(core))
    out = result.result()
    beside = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("allowed-"))
    if core == "native":
        # THEN no companion is made beside the folder: a database the rules allow only as a
        # folder's name has its companions decided as themselves (refused, reported)
        assert beside == [], out
        assert out["database"] != "written"
        assert any(
            f["target"].startswith("{task}/allowed-") and f["decision"] == "blocked"
            for f in result.findings
        ), result.stdout
        return
    # AND on the Python core (a documented limit: SQLite's own files are not decided) they are
    assert beside, out


def test_the_dotfile_vfs_lock_folders_of_an_allowed_database_work_under_enforce(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a database in allowed/ opened on SQLite's unix-dotfile VFS, which locks by making
    # and removing a "<database>.lock" folder (mkdir and rmdir, now decided too)
    _profile(tmp_path)
    code = (
        ENFORCE
        + """
os.chdir(A)  # (a relative URI: its plain-file reading, a name in allowed/, is decided too)
db = sqlite3.connect("file:d.db?vfs=unix-dotfile", uri=True, isolation_level=None)
db.execute("create table t (a)")
# WHEN it writes and reads
for i in range(3):
    db.execute("insert into t values (?)", (i,))
rows = [r[0] for r in db.execute("select a from t")]
db.close()
print("RESULT", json.dumps({"rows": rows, "left": sorted(os.listdir(A))}))
"""
    )
    result = child(code, env=audit_only("native"))
    # THEN its lock folders are made and removed (its database's kin), nothing reported
    assert result.result() == {"rows": [0, 1, 2], "left": ["d.db"]}
    assert not result.findings, result.stdout


@pytest.mark.parametrize("folder", ["allowed", "scratch"])
def test_sqlites_temporary_files_are_decided_as_their_family_in_their_real_folder(
    child: RunChild, tmp_path: Path, folder: str
) -> None:
    # GIVEN a profile that lets the function write in allowed/, and write the name scratch/
    # alone (a folder it may make, not write in: the runtime's {tmp}/???????? is such a rule),
    # and a temp_store_directory pragma naming one of them (decided as a write of the folder:
    # allowed for both). SQLite makes its temporary files there itself (etilqs_ and 16 random
    # characters, made new and removed at once), which no audit event shows (red team 86)
    _profile(tmp_path)
    (tmp_path / "scratch").mkdir()
    _allow_also(tmp_path, {"action": "write", "target": "{task}/scratch", "phase": "any"})
    code = (
        ENFORCE
        + """
db = sqlite3.connect(A + "/t.db", isolation_level=None)
db.execute(f"pragma temp_store_directory = '{BASE}/FOLDER'")
db.execute("pragma temp_store = FILE")
db.execute("pragma temp.cache_size = -64")
# WHEN a statement needs a temporary file (a temporary table bigger than its cache)
try:
    db.execute(
        "create temp table k as with recursive c(x) as (select 1 union all select x + 1 from c"
        " where x < 20000) select x, randomblob(64) as b from c"
    )
    out = {"temp table": db.execute("select count(*) from k").fetchall()}
except sqlite3.DatabaseError as exc:
    out = {"temp table": str(exc)}
print("RESULT", json.dumps(out))
"""
    )
    result = child(code.replace("FOLDER", folder), env=audit_only("native"))
    out = result.result()
    blocked = [f["target"] for f in result.findings if f["decision"] == "blocked"]
    if folder == "allowed":
        # THEN in a folder the function may write in, they are made (one decision for the
        # folder's family of temporary files), nothing reported
        assert out == {"temp table": [[20000]]}, out
        assert blocked == [], result.stdout
    else:
        # THEN in one it may not write in, SQLite cannot make them, and the refusal names
        # their family in that folder
        assert out == {"temp table": "unable to open database file"}, out
        assert "{task}/scratch/etilqs_*" in blocked, result.stdout
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_removal_sqlite_makes_lands_in_the_folder_decided_while_a_folder_is_swapped(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a link allowed/S to a folder no rule names (secret/, holding victim.txt; made
    # before the function ran), allowed/sw/victim.txt, a thread that keeps swapping allowed/sw
    # with the link (renames in allowed/: allowed), another that keeps the GIL busy, and a hot
    # journal naming allowed/sw/victim.txt as its super-journal: rolling back, SQLite removes
    # it. Removed by its text after the decision, the name led into secret/ at times (red
    # team 87, 5 runs of 5)
    _profile(tmp_path)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "victim.txt").write_text("keep")
    (tmp_path / "allowed" / "S").symlink_to(tmp_path / "secret")
    code = (
        ENFORCE
        + """
import struct, threading
MAGIC = bytes.fromhex("d9d505f920a163d7")
def journal(name):
    raw = name.encode()
    return b"X" * 512 + raw + struct.pack(">II", len(raw), sum(raw) & 0xFFFFFFFF) + MAGIC
db = sqlite3.connect(A + "/a.db")
db.execute("create table t (x)")
db.execute("insert into t values (1)")
db.commit()
os.makedirs(A + "/sw")
open(A + "/sw/victim.txt", "w").close()
stop = time.time() + 4
def swapper():
    while time.time() < stop:
        try:
            os.rename(A + "/sw", A + "/park")
            if not os.path.exists(A + "/park/victim.txt"):
                open(A + "/park/victim.txt", "w").close()
            os.rename(A + "/S", A + "/sw")
            os.rename(A + "/sw", A + "/S")
            os.rename(A + "/park", A + "/sw")
        except OSError:
            pass
done = []
def busy():
    while not done:
        pass
sys.setswitchinterval(1e-6)
threads = [threading.Thread(target=swapper), threading.Thread(target=busy)]
for t in threads:
    t.start()
# WHEN the function reads the database again and again, the journal written each time
tries = 0
while time.time() < stop:
    tries += 1
    with open(A + "/a.db-journal", "wb") as f:
        f.write(journal(A + "/sw/victim.txt"))
    try:
        db.execute("select count(*) from t").fetchall()
    except sqlite3.DatabaseError:
        pass
done.append(1)
for t in threads:
    t.join()
print("RESULT", json.dumps({"tries": tries}))
"""
    )
    result = child(code, env=audit_only("native"), timeout=120)
    # THEN the removal is made in the folder whose real path was decided (its descriptor, the
    # GIL held from the decision to the removal): secret/victim.txt is never removed
    assert result.result()["tries"] > 10
    assert (tmp_path / "secret" / "victim.txt").exists()
