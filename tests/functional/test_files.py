"""Files: learn records reads/writes, enforce allows exactly them and blocks a neighbour."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    ATTEMPT,
    REPO,
    RunChild,
    audit_only,
    profile_doc,
    profile_from_observations,
)

LEARN = """
import sandbox
sandbox.install(mode="learn")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
open("data/allowed.txt").read()
with open("out/result.txt", "w") as f:
    f.write("ok")
import os
os.listdir("data")
"""

ENFORCE = (
    ATTEMPT
    + """
import json, os, sys
import sandbox
sandbox.install(mode="enforce", profile=sys.argv[1] if len(sys.argv) > 1 else "profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
attempt("read-allowed", lambda: open("data/allowed.txt").read())
attempt("write-allowed", lambda: open("out/result.txt", "w").write("again"))
attempt("list-allowed", lambda: os.listdir("data"))
attempt("read-neighbour", lambda: open("data/secret.txt").read())
attempt("write-neighbour", lambda: open("out/other.txt", "w").write("x"))
attempt("read-via-symlink", lambda: open("link.txt").read())
attempt("os-open-write", lambda: os.close(os.open("data/allowed.txt", os.O_WRONLY)))
attempt("bytes-path", lambda: open(b"data/secret.txt").read())
import pathlib
attempt("pathlike-dotdot", lambda: pathlib.Path("out/../data/secret.txt").read_text())
attempt("proc-environ", lambda: open("/proc/self/environ", "rb").read())
"""
)


def _setup(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "data" / "allowed.txt").write_text("hello")
    (tmp_path / "data" / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "data" / "secret.txt", tmp_path / "link.txt")


def test_learn_then_enforce_files(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a function that reads one file, writes one and lists a directory
    _setup(tmp_path)
    # WHEN it runs in learn mode
    learned = child(LEARN)
    assert learned.returncode == 0, learned.stderr
    observed = {
        (o["action"], o["target"]) for o in learned.observations if o["category"] == "files"
    }
    # THEN learn recorded those accesses against the task root, in the invoke phase
    assert ("read", "{task}/data/allowed.txt") in observed
    assert ("write", "{task}/out/result.txt") in observed
    assert ("list", "{task}/data") in observed
    assert all(o["phase"] == "invoke" for o in learned.observations)
    # WHEN the profile built from it is enforced
    (tmp_path / "profile.json").write_text(
        json.dumps(profile_from_observations(learned.observations))
    )
    enforced = child(ENFORCE)
    assert enforced.returncode == 0, enforced.stderr
    outcome = dict(line.split(" ", 1) for line in enforced.lines)
    # THEN exactly the learned behaviour is allowed ...
    assert outcome["read-allowed"] == "ALLOWED"
    assert outcome["write-allowed"] == "ALLOWED"
    assert outcome["list-allowed"] == "ALLOWED"
    # ... and every neighbour is blocked with a PermissionError subclass
    for label in (
        "read-neighbour",
        "write-neighbour",
        "read-via-symlink",
        "os-open-write",
        "bytes-path",
        "pathlike-dotdot",
        "proc-environ",
    ):
        assert outcome[label].startswith("BLOCKED PermissionViolation files "), label
    # AND each block is a finding naming the real file, the decision and a rule hint
    findings = {(f["action"], f["target"]): f for f in enforced.findings}
    secret = findings[("read", "{task}/data/secret.txt")]
    assert secret["decision"] == "blocked"
    assert secret["level"] == "ERROR"
    assert '"target": "{task}/data/secret.txt"' in secret["rule"]
    assert secret["site"].startswith("<string>:")
    environ = [f for f in enforced.findings if f["target"].endswith("/environ")]
    assert environ and environ[0]["reason"] == "denied by the ceiling" and environ[0]["rule"] == ""


def test_alert_mode_reports_but_does_not_block(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a profile that allows nothing of the function's own files
    _setup(tmp_path)
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function reads a file in alert mode, twice from the same line
    result = child(
        """
        import sandbox
        sandbox.install(mode="alert", profile="profile.json")
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        for _ in range(2):
            print(open("data/secret.txt").read())
        """
    )
    # THEN the reads succeed and one would-block finding (deduplicated) is reported
    assert result.returncode == 0, result.stderr
    assert result.lines == ["secret", "secret"]
    hits = [f for f in result.findings if f["target"] == "{task}/data/secret.txt"]
    assert len(hits) == 1
    assert hits[0]["decision"] == "would-block" and hits[0]["level"] == "WARN"


def test_init_only_rule_does_not_hold_in_invoke(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a profile where a file was read only during init
    _setup(tmp_path)
    profile = {
        "schema_version": 1,
        "function": "t",
        "extends": ["python-runtime"],
        "rules": {
            "files": [{"action": "read", "target": "{task}/data/allowed.txt", "phase": "init"}]
        },
    }
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN the function reads it during init and again during an invocation
    result = child(
        """
        import sandbox
        sandbox.install(mode="enforce", profile="profile.json")
        open("data/allowed.txt").read()
        print("init read ok")
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        try:
            open("data/allowed.txt").read()
        except PermissionError:
            print("invoke read blocked")
        """
    )
    # THEN it is allowed in init only
    assert result.lines == ["init read ok", "invoke read blocked"], result.stderr


def test_unix_socket_path_is_a_file(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a profile with no unix-socket rules
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function connects to a unix socket path
    result = child(
        """
        import socket, sandbox
        sandbox.install(mode="enforce", profile="profile.json")
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect("sock")
        except PermissionError as exc:
            print("blocked", exc.category, exc.action)
        """
    )
    # THEN it is checked as a file 'connect' on the socket's absolute path
    assert result.lines == ["blocked files connect"], result.stderr
    assert result.findings[0]["target"] == "{task}/sock"


def test_a_symlink_swapped_in_later_is_still_resolved(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a profile allowing reads and writes of one scratch file, and a secret next to it
    # (and a link to the secret present before the sandbox started, in a staging place the
    # function may move names out of)
    _setup(tmp_path)
    profile = profile_doc(
        files=[
            {"action": action, "target": "{task}/" + target}
            for target in ("out/scratch.txt", "staged/scratch.txt")
            for action in ("read", "write")
        ]
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    (tmp_path / "staged").mkdir()
    os.symlink(tmp_path / "data" / "secret.txt", tmp_path / "staged" / "scratch.txt")
    # WHEN the scratch file is read (cached), removed, and the link moved into its place
    result = child(
        """
        import os, sandbox, sandbox.runtime.hook
        sandbox.install(mode="enforce", profile="profile.json")
        sandbox.runtime.hook.mark_invoke_phase()
        open("out/scratch.txt", "w").write("mine")
        print(open("out/scratch.txt").read())           # resolved and cached as allowed
        os.remove("out/scratch.txt")
        os.rename("staged/scratch.txt", "out/scratch.txt")  # the link moved into place
        try:
            print(open("out/scratch.txt").read())
        except PermissionError as exc:
            print("blocked", exc.target.endswith("data/secret.txt"))
        """
    )
    # THEN the read through the swapped-in link is the secret's, and blocked
    assert result.lines == ["mine", "blocked True"], result.stderr


def test_a_directory_swapped_for_a_symlink_is_still_resolved(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a profile allowing reads and writes anywhere under one scratch directory, and a
    # link to data/ present there before the sandbox started (out/.staged/d)
    _setup(tmp_path)
    profile = profile_doc(
        files=[
            {"action": "read", "target": "{task}/out/**"},
            {"action": "write", "target": "{task}/out/**"},
        ]
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    (tmp_path / "out" / ".staged").mkdir()
    os.symlink(tmp_path / "data", tmp_path / "out" / ".staged" / "d")
    # WHEN out/d is read through as a folder (cached), removed, and the link moved there
    result = child(
        """
        import os, sandbox, sandbox.runtime.hook
        sandbox.install(mode="enforce", profile="profile.json")
        sandbox.runtime.hook.mark_invoke_phase()
        os.mkdir("out/d")
        open("out/d/secret.txt", "w").write("decoy")
        print(open("out/d/secret.txt").read())          # out/d resolved and cached
        os.remove("out/d/secret.txt")
        os.rmdir("out/d")
        os.rename("out/.staged/d", "out/d")             # out/d now leads to data/
        try:
            print(open("out/d/secret.txt").read())
        except PermissionError:
            print("blocked")
        """
    )
    # THEN the read through the swapped directory is a read of data/secret.txt: blocked
    assert result.lines == ["decoy", "blocked"], result.stderr


SWAP_BY_CHILD = """
import os, subprocess, sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
sandbox.runtime.hook.mark_invoke_phase()
subprocess.run(["/bin/true"], check=True)           # a child exists: cached answers validated
print(open(PATH).read())                            # resolved and cached as allowed
print(open(PATH).read())                            # the cached answer, used
subprocess.run(["/bin/sh", "-c", SWAP], check=True)  # a child swaps: no event in this process
try:
    print(open(PATH).read())
except PermissionError as exc:
    print("blocked", exc.target.endswith("data/secret.txt"))
"""


def _swap_profile(tmp_path: Path) -> None:
    profile = profile_doc(
        files=[
            {"action": "read", "target": "{task}/out/**"},
            {"action": "read", "target": "/bin/**"},
            {"action": "read", "target": "/usr/**"},
            {"action": "read", "target": "/lib/**"},
            {"action": "read", "target": "/etc/**"},
        ],
        processes=[
            {"action": "exec", "target": "/bin/true"},
            *(
                {"action": "exec", "target": "/bin/sh", "argv": ["-c", f"ln -sfn {{task}}/{swap}"]}
                for swap in ("data/secret.txt {task}/out/link.txt", "data {task}/out/d")
            ),
        ],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))


def test_a_link_swapped_by_a_child_after_a_cached_decision_is_caught(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN an allowed link to an allowed file, read twice (the second read from the cache)
    _setup(tmp_path)
    _swap_profile(tmp_path)
    (tmp_path / "out" / "ok.txt").write_text("ok")
    os.symlink(tmp_path / "out" / "ok.txt", tmp_path / "out" / "link.txt")
    # WHEN a child process points the link at the secret, with no event in the sandboxed process
    source = SWAP_BY_CHILD.replace("PATH", repr(str(tmp_path / "out" / "link.txt"))).replace(
        "SWAP", repr(f"ln -sfn {tmp_path}/data/secret.txt {tmp_path}/out/link.txt")
    )
    result = child(source)
    # THEN the next read through the link is decided on the secret, and blocked
    assert result.lines == ["ok", "ok", "blocked True"], result.stderr


def test_a_directory_swapped_by_a_child_after_a_cached_decision_is_caught(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN an allowed file under a directory that is reached through a link
    _setup(tmp_path)
    _swap_profile(tmp_path)
    (tmp_path / "out" / "real").mkdir()
    (tmp_path / "out" / "real" / "secret.txt").write_text("decoy")
    os.symlink(tmp_path / "out" / "real", tmp_path / "out" / "d")
    # WHEN a child points the directory link at data/ (which holds a file of the same name)
    source = SWAP_BY_CHILD.replace(
        "PATH", repr(str(tmp_path / "out" / "d" / "secret.txt"))
    ).replace("SWAP", repr(f"ln -sfn {tmp_path}/data {tmp_path}/out/d"))
    result = child(source)
    # THEN the read is decided on data/secret.txt, and blocked
    assert result.lines == ["decoy", "decoy", "blocked True"], result.stderr


MACHINERY = (
    ATTEMPT
    + """
import importlib.abc, importlib.machinery, importlib.util, linecache, sys, tokenize, traceback
import sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
import app                                              # the function's module, loaded at init
sandbox.runtime.hook.mark_invoke_phase()
SECRET = sys.argv[1]                                    # {task}/config/settings.py, never imported
try:
    app.fail()
except ZeroDivisionError:
    shown = traceback.format_exc()
print("own line shown", "return 1 / 0" in shown)
try:
    import json; json.loads("{")
except ValueError:
    print("stdlib line shown", "return _default_decoder.decode(s)" in traceback.format_exc())
print("linecache", linecache.getlines(SECRET))
print("frame summary", repr(traceback.FrameSummary(SECRET, 1, "x").line))
attempt("tokenize.open", lambda: tokenize.open(SECRET).read())
loader = importlib.machinery.SourceFileLoader("settings", SECRET)
attempt("loader.get_data", lambda: loader.get_data(SECRET))

class Finder(importlib.abc.MetaPathFinder):
    # A real import of an allowed, not yet loaded name, with a loader of the function's own
    # that reads the secret through the import system's reader
    def find_spec(self, name, path=None, target=None):
        if name != "secrets":
            return None
        class Loader(importlib.machinery.SourceFileLoader):
            def exec_module(self, module):
                module.stolen = self.get_data(SECRET)
        return importlib.util.spec_from_file_location(name, SECRET, loader=Loader(name, SECRET))
sys.meta_path.insert(1, Finder())
attempt("import through a loader of its own", lambda: print(__import__("secrets").stolen))
"""
)


def test_the_import_and_traceback_readers_only_read_what_was_imported(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a function module under the task root, and a settings file beside it never imported
    _setup(tmp_path)
    (tmp_path / "app.py").write_text("def fail():\n    return 1 / 0\n")
    (tmp_path / "config").mkdir()
    secret = tmp_path / "config" / "settings.py"
    secret.write_text("DB_PASSWORD = 'hunter2'\n")
    (tmp_path / "profile.json").write_text(
        json.dumps(profile_doc(modules=[{"action": "import", "target": "app"}]))
    )
    # WHEN the function formats its errors, and an attacker drives the readers the import
    # system and tracebacks use straight at the settings file
    result = child(MACHINERY.replace("sys.argv[1]", repr(str(secret))))
    # THEN tracebacks still show the lines of imported modules (the function's and the stdlib's)
    assert "own line shown True" in result.lines, result.stderr
    assert "stdlib line shown True" in result.lines, result.stderr
    # AND the settings file is read by none of the readers
    assert "linecache []" in result.lines
    assert "frame summary ''" in result.lines
    assert "tokenize.open BLOCKED PermissionViolation files read" in result.lines
    assert "loader.get_data BLOCKED PermissionViolation files read" in result.lines
    assert "import through a loader of its own BLOCKED PermissionViolation files read" in (
        result.lines
    ), result.stdout
    assert "hunter2" not in result.stdout


def _scratch_profile(tmp_path: Path, *extra: dict[str, Any]) -> None:
    (tmp_path / "allowed").mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "secret" / "key.txt").write_text("TOP-SECRET\n")
    files = [
        {"action": action, "target": "{task}/allowed/**", "phase": "any"}
        for action in ("read", "write", "list")
    ]
    rules: dict[str, list[dict[str, Any]]] = {"files": files + [dict(r) for r in extra]}
    rules["processes"] = [
        {"action": "exec", "target": "/bin/true"},
        {"action": "fork", "target": "fork"},
    ]
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(**rules)))


ENFORCE_INVOKE = """
import os, sys, subprocess, threading, time, sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
sandbox.runtime.hook.mark_invoke_phase()
BASE = os.getcwd()
A = BASE + "/allowed"
"""


def test_a_link_through_proc_is_never_answered_from_a_cache(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a link into /proc/self/cwd (present before the sandbox started: the function may
    # not make one, red team 84), opened once while the cwd is an allowed folder
    _scratch_profile(tmp_path, {"action": "list", "target": "{task}/secret", "phase": "any"})
    os.symlink("/proc/self/cwd/key.txt", tmp_path / "allowed" / "lnk")
    code = (
        ENFORCE_INVOKE
        + """
os.chdir(A)
try:
    os.symlink("/proc/self/cwd/key.txt", A + "/lnk2")
except PermissionError:
    print("making one: blocked")
try:
    open(A + "/lnk").read()                  # A/key.txt: allowed (it does not exist)
except FileNotFoundError:
    print("first: missing")
os.chdir(BASE + "/secret")                   # the link now leads to the secret, no event on it
try:
    print("LEAKED", open(A + "/lnk").read())
except PermissionError:
    print("second: blocked")
"""
    )
    # WHEN the cwd moves and the same link is opened again
    result = child(code, env={"SANDBOX_LANDLOCK": "off"})
    # THEN the second open is resolved afresh, to the secret, and refused
    assert result.lines == ["making one: blocked", "first: missing", "second: blocked"], (
        result.stderr
    )


def test_a_missing_name_made_a_dangling_link_by_a_child_is_caught(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a name that does not exist, opened (and cached) once a child exists, and a
    # dangling link to a file outside the profile present in allowed/.staged before the
    # sandbox started
    _scratch_profile(tmp_path)
    (tmp_path / "allowed" / ".staged").mkdir()
    os.symlink(tmp_path / "outside" / "evil.txt", tmp_path / "allowed" / ".staged" / "new.txt")
    code = (
        ENFORCE_INVOKE
        + """
subprocess.run(["/bin/true"], check=True)
for _ in range(2):
    try:
        open(A + "/new.txt")
    except FileNotFoundError:
        pass
pid = os.fork()
if pid == 0:      # the child moves the dangling link to the file outside into the name
    os.rename(A + "/.staged/new.txt", A + "/new.txt")
    os._exit(0)
os.waitpid(pid, 0)
try:
    open(A + "/new.txt", "w").write("through the link")
    print("WRITTEN")
except PermissionError:
    print("blocked")
print("outside", os.path.exists(BASE + "/outside/evil.txt"))
"""
    )
    # WHEN it is opened for writing (O_CREAT follows the link)
    result = child(code, env={"SANDBOX_LANDLOCK": "off"})
    # THEN the name is resolved afresh, to the file outside, and refused
    assert result.lines == ["blocked", "outside False"], result.stderr


def test_a_decision_racing_an_audited_swap_in_another_thread_leaves_no_stale_answer(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN cur -> d1 (a public file k), d2/k -> the secret (a link present before the sandbox
    # started), and a thread opening cur/k
    _scratch_profile(tmp_path)
    (tmp_path / "allowed" / "d2").mkdir()
    os.symlink(tmp_path / "secret" / "key.txt", tmp_path / "allowed" / "d2" / "k")
    code = (
        ENFORCE_INVOKE
        + """
os.mkdir(A + "/d1")
open(A + "/d1/k", "w").write("public")
os.symlink("d1", A + "/cur")
P = A + "/cur/k"
def point(to):
    os.symlink(to, A + "/tmp"); os.rename(A + "/tmp", A + "/cur")
stop = [False]
def opener():
    while not stop[0]:
        try:
            open(P).read()
        except PermissionError:
            pass
for trial in range(300):
    stop[0] = False
    t = threading.Thread(target=opener); t.start()
    time.sleep(0.0005)
    point("d2")                  # the events clear the caches before the rename happens
    stop[0] = True; t.join()
    try:
        print("LEAKED at", trial, open(P).read())
        break
    except PermissionError:
        point("d1")
else:
    print("held")
"""
    )
    # WHEN cur is swapped to d2 while the thread decides (an answer computed on the old layout
    # could be kept after the clear)
    result = child(code, env={"SANDBOX_LANDLOCK": "off"})
    # THEN no open of cur/k after the swap is answered from such an answer
    assert result.lines == ["held"], result.stderr


def test_stdlib_modules_that_open_files_unaudited_must_be_learned(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the runtime bundle's {stdlib} modules
    _scratch_profile(tmp_path)
    code = (
        ENFORCE_INVOKE.replace("sandbox.runtime.hook.mark_invoke_phase()\n", "")
        + """
for name in ("readline", "_gdbm", "_dbm", "_tkinter", "_posixshmem", "_curses", "syslog", "json"):
    try:
        __import__(name)
        print(name, "imported")
    except sandbox.SandboxViolation:
        print(name, "blocked")
    except ImportError:
        print(name, "not installed")
"""
    )
    # WHEN the function imports readline (history files read and written in C, no audit
    # event), Tcl (open, exec, socket in C), POSIX shared memory, curses, syslog...
    result = child(code)
    # THEN each is refused unless learned; other stdlib modules import as before
    assert result.lines[0] == "readline blocked", result.stderr
    assert all(line.endswith(("blocked", "not installed")) for line in result.lines[1:-1])
    assert "_posixshmem blocked" in result.lines
    assert result.lines[-1] == "json imported"


SQLITE_URIS = """
import os, sqlite3, sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
sandbox.runtime.hook.mark_invoke_phase()
BASE = os.getcwd()
for label, name in (
    ("mode=memory in another parameter", f"file:{BASE}/outside/a.db?x=mode=memory"),
    ("mode=memory in the file name", f"file:{BASE}/outside/mode=memory.db"),
    ("percent-encoded dot-dot", f"file:{BASE}/allowed/..%2Foutside%2Fb.db"),
    ("a later mode wins", f"file:{BASE}/outside/c.db?mode=memory&mode=rwc"),
):
    try:
        sqlite3.connect(name, uri=True).execute("create table t (x)")
        print(label, "WRITTEN")
    except PermissionError:
        print(label, "blocked")
print("memory", sqlite3.connect("file::memory:?cache=shared", uri=True).execute("select 1").fetchone())
"""


def test_sqlite_uris_are_decided_on_the_file_sqlite_opens(child: RunChild, tmp_path: Path) -> None:
    # GIVEN writes allowed under allowed/ only (and the plain reading of a memory URI's name,
    # which SQLite would read and write)
    plain = "{task}/file::memory:?cache=shared"
    _scratch_profile(
        tmp_path, *({"action": a, "target": plain, "phase": "any"} for a in ("read", "write"))
    )
    # WHEN SQLite URIs name files outside it in ways a text search misreads
    result = child(SQLITE_URIS, env={"SANDBOX_LANDLOCK": "off"})
    # THEN each is decided on the file SQLite would open (percent-decoded, the last mode=
    # wins, mode= only as a parameter of its own): refused; a memory database opens
    assert result.lines == [
        "mode=memory in another parameter blocked",
        "mode=memory in the file name blocked",
        "percent-encoded dot-dot blocked",
        "a later mode wins blocked",
        "memory (1,)",
    ], result.stdout + result.stderr
    assert list((tmp_path / "outside").iterdir()) == []


def test_module_files_read_at_init_by_the_import_system_need_no_file_rule(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a module under the task root and a profile allowing its import only (no file rule)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helper.py").write_text("def fail():\n    return 1 / 0\n")
    profile = profile_doc(modules=[{"action": "import", "target": "helper", "phase": "any"}])
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    code = """
import sys, traceback, sandbox, sandbox.runtime.hook
sys.path.insert(0, "lib")
sandbox.install(mode="enforce", profile="profile.json")
import helper                                   # init: read by the import system
sandbox.runtime.hook.mark_invoke_phase()
try:
    helper.fail()
except ZeroDivisionError:
    print("line shown", "return 1 / 0" in traceback.format_exc())
"""
    # WHEN it is imported at init, then its error is formatted during an invocation
    result = child(code)
    # THEN neither the import nor the traceback's source line needs a rule, nothing is reported
    assert result.lines == ["line shown True"], result.stdout + result.stderr
    assert result.findings == []


# Each audited change drops only the cached answers that depend on the name it changes; these
# make the change through another spelling of the name than the one whose answer is cached.
# (The links to data/ and data/nest were present in out/.staged before the sandbox started:
# os.symlink to a file the profile does not allow is refused itself; a rename moves the link.)
SWAP_SPELLINGS = {
    # the cached name goes through a link; the swap is made on the real directory
    "through-link": (
        "out/via/d/secret.txt",
        """
        os.remove("out/real/d/secret.txt"); os.rmdir("out/real/d")
        os.rename("out/.staged/data", "out/real/d")
        """,
    ),
    # the cached name is the real one; the swap is made through the link to its directory
    "via-link": (
        "out/real/d/secret.txt",
        """
        os.remove("out/via/d/secret.txt"); os.rmdir("out/via/d")
        os.rename("out/.staged/data", "out/via/d")
        """,
    ),
    # the swap is made relative to a directory descriptor
    "dir_fd": (
        "out/real/d/secret.txt",
        """
        fd = os.open("out/real", os.O_RDONLY)
        os.remove("d/secret.txt", dir_fd=fd); os.rmdir("d", dir_fd=fd)
        os.rename("out/.staged/data", "d", dst_dir_fd=fd)
        """,
    ),
    # an ancestor of the cached name is renamed away and replaced by a link
    "ancestor": (
        "out/real/d/secret.txt",
        """
        os.rename("out/real", "out/moved")
        os.rename("out/.staged/nest", "out/real")
        """,
    ),
    # the directory is moved aside by shutil and the name relative to the cwd replaced
    "shutil-move": (
        "out/real/d/secret.txt",
        """
        import shutil
        os.chdir("out/real")
        shutil.move("d", "../elsewhere")
        os.rename("../.staged/data", "d")
        os.chdir("../..")
        """,
    ),
}


@pytest.mark.parametrize("spelling", sorted(SWAP_SPELLINGS))
def test_a_swap_through_another_spelling_drops_the_cached_answer(
    child: RunChild, tmp_path: Path, spelling: str
) -> None:
    # GIVEN everything under out/ allowed (read and write), a decoy out/real/d/secret.txt read
    # once (its answer cached), out/via a link to out/real, and links to data/ and data/nest
    # present in out/.staged before the sandbox started
    _setup(tmp_path)
    profile = profile_doc(
        files=[
            {"action": action, "target": "{task}/" + target}
            for action in ("read", "write", "list")
            for target in ("out", "out/**")
        ]
        + [{"action": "list", "target": "{task}"}]
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    (tmp_path / "out" / "real" / "d").mkdir(parents=True)
    (tmp_path / "out" / "real" / "d" / "secret.txt").write_text("decoy")
    os.symlink(tmp_path / "out" / "real", tmp_path / "out" / "via")
    (tmp_path / "data" / "nest").mkdir()
    os.symlink(tmp_path / "data", tmp_path / "data" / "nest" / "d")  # nest/d/x is data/x
    (tmp_path / "out" / ".staged").mkdir()
    os.symlink(tmp_path / "data", tmp_path / "out" / ".staged" / "data")
    os.symlink(tmp_path / "data" / "nest", tmp_path / "out" / ".staged" / "nest")
    cached, swap = SWAP_SPELLINGS[spelling]
    body = "\n".join(line.strip() for line in swap.strip().splitlines())
    source = f"""
import os, sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
sandbox.runtime.hook.mark_invoke_phase()
print(open({cached!r}).read())
print(open({cached!r}).read())
{body}
try:
    print(open({cached!r}).read())
except PermissionError as exc:
    print("blocked", exc.target.endswith("data/secret.txt") or exc.target)
"""
    # WHEN the function swaps a directory on the way for a link to data/ (moving the staged
    # link in), through that spelling
    result = child(source)
    # THEN the cached name is decided again, on where it leads now: the secret, blocked
    assert result.lines == ["decoy", "decoy", "blocked True"], result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_new_names_in_an_allowed_folder_are_answered_but_a_link_there_is_decided(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN every name under out/ allowed (read, write), so the core answers new names in
    # out/ itself after the first decision, a secret outside, and a link to it present in
    # out/.staged before the sandbox started
    _setup(tmp_path)
    profile = profile_doc(
        files=[{"action": action, "target": "{task}/out/**"} for action in ("read", "write")],
        processes=[
            {
                "action": "exec",
                "target": "/bin/ln",
                "argv": ["-s", "{task}/data/secret.txt", "out/by-child.txt"],
            }
        ],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    for name in ("a.txt", "b.txt"):
        (tmp_path / "out" / name).write_text(name)
    secret = str(tmp_path / "data" / "secret.txt")
    (tmp_path / "out" / ".staged").mkdir()
    os.symlink(secret, tmp_path / "out" / ".staged" / "by-event.txt")
    # WHEN it reads and writes new names there, makes a link to the secret, moves the staged
    # link into a new name, and a child process makes another link (no event)
    result = child(
        f"""
import os, subprocess, sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
sandbox.runtime.hook.mark_invoke_phase()
def attempt(tag, path, mode="r"):
    try:
        with open(path, mode) as handle:
            print(tag, "ok", handle.read() if mode == "r" else "")
    except PermissionError as exc:
        print(tag, "blocked", exc.target.endswith("data/secret.txt"))
attempt("first", "out/a.txt")
attempt("new", "out/b.txt")
attempt("create", "out/c.txt", "w")
try:
    os.symlink({secret!r}, "out/by-event.txt")             # an audited link: its target decided
    print("make-link ok")
except PermissionError as exc:
    print("make-link blocked", exc.target.endswith("data/secret.txt"))
os.rename("out/.staged/by-event.txt", "out/by-event.txt")  # an audited move of the link
attempt("link", "out/by-event.txt")
subprocess.run(["/bin/ln", "-s", {secret!r}, "out/by-child.txt"], check=True)  # unseen
attempt("child-link", "out/by-child.txt")
attempt("still", "out/a.txt")
""",
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN new names are read and written, making a link to the secret is refused, and both
    # links (moved in, made by the child) lead to the secret: blocked
    assert result.lines == [
        "first ok a.txt",
        "new ok b.txt",
        "create ok ",
        "make-link blocked True",
        "link blocked True",
        "child-link blocked True",
        "still ok a.txt",
    ], result.stderr


# Found by a red team against the path cache (each class, with the example that showed it).
ATTEMPT_LINES = """
import os, sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
sandbox.runtime.hook.mark_invoke_phase()
task = os.getcwd()
def attempt(tag, fn):
    try:
        fn()
        print(tag, "done")
    except PermissionError as exc:
        print(tag, "blocked" if hasattr(exc, "category") else "kernel")
    except OSError:
        print(tag, "kernel")
"""


def _out_only(tmp_path: Path, **extra: list[dict[str, Any]]) -> None:
    _setup(tmp_path)
    rules = [{"action": action, "target": "{task}/out/**"} for action in ("read", "write", "list")]
    profile = profile_doc(files=rules + extra.pop("files", []), **extra)
    (tmp_path / "profile.json").write_text(json.dumps(profile))


@pytest.mark.parametrize("core", ["native", "python"])
def test_two_spellings_of_one_name_are_one_name_to_the_cache(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN out/é cached as a plain folder, and a link to data/ present in out/.staged before
    # the sandbox started
    _out_only(tmp_path)
    (tmp_path / "out" / ".staged").mkdir()
    os.symlink(tmp_path / "data", tmp_path / "out" / ".staged" / "L")
    body = """
os.mkdir("out/\\u00e9")
open("out/\\u00e9/x.txt", "w").close()
attempt("cached", lambda: open("out/\\u00e9/x.txt").read())
# WHEN it is swapped for the link to data/ through the other spelling of the same bytes
os.rename("out/\\udcc3\\udca9", "out/gone")
os.rename("out/.staged/L", "out/\\udcc3\\udca9")
attempt("read", lambda: open("out/\\u00e9/secret.txt").read())
attempt("write", lambda: open("out/\\u00e9/planted.txt", "w").write("x"))
"""
    result = child(
        ATTEMPT_LINES + body, env={"SANDBOX_NATIVE": "off"} if core == "python" else None
    )
    # THEN the cached spelling is decided again, on where it leads now: blocked
    assert result.lines == ["cached done", "read blocked", "write blocked"], result.stderr
    assert not (tmp_path / "data" / "planted.txt").exists()


def test_a_link_below_a_name_too_long_to_look_at_is_not_missed(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a folder under out/ whose full name is just under PATH_MAX, a link to data/ (out/x/L)
    # in it, and a short link to it (the kernel walks on component by component), all there
    # before the sandbox started
    _out_only(tmp_path)
    (tmp_path / "out" / "x").mkdir()
    os.symlink(tmp_path / "data", tmp_path / "out" / "x" / "L")
    (tmp_path / "out" / "y").mkdir()
    deep = str(tmp_path / "out")
    while 4092 - len(deep) > 101:
        deep += "/" + "d" * 100
    deep += "/" + "d" * (4092 - len(deep) - 1)  # 4092 characters: the link inside is past 4096
    os.makedirs(deep)
    os.rename(tmp_path / "out" / "x", deep + "/x")
    os.symlink(deep + "/x", tmp_path / "out" / "s")
    body = """
attempt("read", lambda: open("out/s/L/secret.txt").read())
attempt("write", lambda: open("out/s/L/planted.txt", "w").write("x"))
attempt("link", lambda: os.symlink(DEEP, "out/s2"))
attempt("move", lambda: os.rename("out/y", DEEP + "/y"))
""".replace("DEEP", repr(deep + "/x"))
    result = child(ATTEMPT_LINES + body)
    # THEN a name the sandbox cannot look at (its resolution is longer than PATH_MAX) is
    # refused, not taken for "missing", and so is a folder moved into that folder (what it
    # carries would have such names); a new link to the folder itself is decided on the folder
    # (under out/, which the function may write: allowed), and what is below it stays refused
    assert result.lines == [
        "read blocked",
        "write blocked",
        "link done",
        "move blocked",
    ], result.stderr
    assert not (tmp_path / "data" / "planted.txt").exists()


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="needs root and setpriv to drop to nobody",
)
def test_a_folder_without_search_permission_is_not_taken_for_missing() -> None:
    # GIVEN a non-root function (as on Lambda: nobody here) with links to data/ in out/d
    # (present before the sandbox started), and out/dl -> d (in a folder nobody can reach:
    # pytest's own is root's only)
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run(
        [*command, sys.executable, "-c", "import sandbox"],
        check=False,
        capture_output=True,
        env={"PYTHONPATH": str(REPO)},
    )
    if probe.returncode != 0:
        pytest.skip("this interpreter cannot run as nobody here (its files are root's only)")
    task = Path(tempfile.mkdtemp(prefix="lsb-nobody-"))
    try:
        os.chmod(task, 0o777)
        _out_only(task)
        for path in (task / "data", task / "out"):
            os.chmod(path, 0o777)
        staged = """
import os
os.mkdir("out/d")
os.symlink(os.getcwd() + "/data/secret.txt", "out/d/L")
os.symlink(os.getcwd() + "/data", "out/d/M")
"""
        body = """
os.symlink("d", "out/dl")
os.chmod("out/d", 0)                       # lstat below it now fails with EACCES
attempt("prime-read", lambda: open("out/d/L").read())
attempt("prime-write", lambda: open("out/d/M/planted.txt", "w"))
os.chmod("out/dl", 0o755)                  # restored through the link (chmod follows it)
attempt("read", lambda: open("out/d/L").read())
attempt("write", lambda: open("out/d/M/planted.txt", "w").write("x"))
"""
        (task / "attack.py").write_text(staged + ATTEMPT_LINES + body)
        for name in ("attack.py", "profile.json"):
            os.chmod(task / name, 0o644)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "PYTHON"))}
        env.update(PYTHONPATH=str(REPO), SANDBOX_SECCOMP="off", SANDBOX_LANDLOCK="off")
        done = subprocess.run(
            [*command, sys.executable, "attack.py"],
            cwd=task,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = [line for line in done.stdout.splitlines() if not line.startswith("{")]
        # THEN a name lstat cannot look at is refused (never cached as a plain new name), so
        # giving the search right back opens nothing outside out/
        assert lines[-2:] == ["read blocked", "write blocked"], done.stdout + done.stderr
        assert not (task / "data" / "planted.txt").exists()
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(task)], check=False)
        shutil.rmtree(task, ignore_errors=True)


def test_os_open_relative_to_a_removed_folders_descriptor_is_refused(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a descriptor on a folder under out/ that is then removed, and the cwd deep in out/
    _out_only(tmp_path)
    body = """
os.makedirs("out/x/y"); os.makedirs("out/a/b/c")
fd = os.open("out/x/y", os.O_RDONLY)
os.rmdir("out/x/y")
os.chdir("out/a/b/c")
# WHEN names are opened relative to it (the kernel still resolves ".." from it)
attempt("read", lambda: os.open("../../../data/secret.txt", os.O_RDONLY, dir_fd=fd))
attempt("create", lambda: os.open("../../../data/planted.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
"""
    result = child(ATTEMPT_LINES + body)
    # THEN both are refused: from a folder with no name the sandbox cannot say where they lead
    assert result.lines == ["read blocked", "create blocked"], result.stderr
    assert not (tmp_path / "data" / "planted.txt").exists()


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_read_write_open_is_a_read_too(child: RunChild, tmp_path: Path, core: str) -> None:
    # GIVEN writes allowed under out/, reads of out/secret.txt denied, and only writes in w/
    _setup(tmp_path)
    (tmp_path / "out" / "secret.txt").write_text("s")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "log.txt").write_text("old")
    document = {
        **profile_doc(
            files=[{"action": action, "target": "{task}/out/**"} for action in ("read", "write")]
            + [{"action": "write", "target": "{task}/w/**"}]
        ),
        "deny": {"files": [{"action": "read", "target": "{task}/out/secret.txt"}]},
    }
    (tmp_path / "profile.json").write_text(json.dumps(document))
    body = """
for mode in ("r", "r+", "a+", "w+"):
    attempt("secret " + mode, lambda: open("out/secret.txt", mode).read())
attempt("secret O_RDWR", lambda: os.open("out/secret.txt", os.O_RDWR))
attempt("log a", lambda: open("w/log.txt", "a").write("x"))
attempt("log r+", lambda: open("w/log.txt", "r+").read())
"""
    result = child(
        ATTEMPT_LINES + body, env={"SANDBOX_NATIVE": "off"} if core == "python" else None
    )
    # THEN every mode that can read is decided as a read (the deny holds, a write rule grants
    # no read), and a write-only append stays a write
    assert result.lines == [
        "secret r blocked",
        "secret r+ blocked",
        "secret a+ blocked",
        "secret w+ blocked",
        "secret O_RDWR blocked",
        "log a done",
        "log r+ blocked",
    ], result.stderr


def test_os_open_relative_to_a_removed_working_directory_is_refused(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the working directory removed under the function (getcwd fails; the kernel still
    # resolves relative names, ".." included, from it)
    _out_only(tmp_path)
    # A name that is out/z read from "/" (allowed) but, from the removed out/a/b, a link planted
    # under out/a (before the sandbox started) that leads to the secret
    staged = """
import os
task = os.getcwd()
rest = task.lstrip("/") + "/out/z"
os.makedirs(os.path.dirname("out/a/" + rest))
os.symlink(task + "/data/secret.txt", "out/a/" + rest)
"""
    body = """
rest = task.lstrip("/") + "/out/z"
open("out/z", "w").close()
os.makedirs("out/a/b")
os.chdir("out/a/b")
os.rmdir(task + "/out/a/b")
attempt("read", lambda: os.read(os.open("../" + rest, os.O_RDONLY), 100))
"""
    result = child(staged + ATTEMPT_LINES + body)
    # THEN relative names are refused: there is no name to decide them on
    assert result.lines == ["read blocked"], result.stderr


def test_os_open_relative_to_a_descriptor_whose_name_is_too_long_is_refused(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN descriptors held down a chain of short folders under out/, a link to the secret at
    # the bottom (present before the sandbox started), and then every folder renamed (bottom
    # up) to a 250-character name: the deepest descriptor's folder now has a name longer than
    # PATH_MAX (its /proc link cannot be read), though the kernel resolves from it as before
    _out_only(tmp_path)
    levels = "abcdefghijklmnopqrst"
    bottom = tmp_path.joinpath("out", *levels)
    bottom.mkdir(parents=True)
    os.symlink(tmp_path / "data" / "secret.txt", bottom / "z")
    body = """
levels = "abcdefghijklmnopqrst"
fds = [os.open("out", os.O_RDONLY)]
for level in levels:
    fds.append(os.open(level, os.O_RDONLY, dir_fd=fds[-1]))
for i in reversed(range(len(levels))):
    os.rename(levels[i], "d" * 250, src_dir_fd=fds[i], dst_dir_fd=fds[i])
open("out/z", "w").close()   # "z" from the working directory: an allowed file
os.chdir("out")
attempt("read", lambda: os.read(os.open("z", os.O_RDONLY, dir_fd=fds[-1]), 100))
"""
    result = child(ATTEMPT_LINES + body)
    # THEN a name relative to it is refused, not decided against the working directory alone
    assert result.lines == ["read blocked"], result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize("phase", ["init", "invoke"])
def test_a_c_extension_from_anywhere_but_its_own_place_is_native_code(
    child: RunChild, tmp_path: Path, phase: str, core: str
) -> None:
    # GIVEN a standard-library extension module's shared object copied under out/ (the
    # function may write there; its name is an allowed {stdlib} module name)
    import importlib
    import sqlite3  # noqa: F401  (its _sqlite3 is a shared object in most builds)

    from sandbox.runtime.policy import STDLIB_EXCLUDED, stdlib_modules

    allowed = stdlib_modules() - STDLIB_EXCLUDED
    for candidate in ("_bisect", "_json", "_heapq", "_random", "_csv"):
        try:
            importlib.import_module(candidate)
        except ImportError:
            continue
    found = sorted(
        (name, Path(str(module.__file__)))
        for name, module in list(sys.modules.items())
        if "." not in name
        and name in allowed
        and str(getattr(module, "__file__", "")).endswith(".so")
    )  # (a shared object: many are built into the interpreter, more so on some builds)
    # (modules whose initialisation imports nothing else: the case is about the load alone)
    simple = [(n, f) for n, f in found if n in ("_bisect", "_json", "_heapq", "_random", "_csv")]
    if not simple:
        pytest.skip("no simple standard-library extension is a shared object in this build")
    name, shared = simple[0]
    _out_only(tmp_path)
    shutil.copy(shared, tmp_path / "out" / "blob")
    # (and the deployment's copy in a folder below the task root, which is no import root)
    (tmp_path / "vendor").mkdir()
    shutil.copy(shared, tmp_path / "vendor" / shared.name)
    # (and a link to its own file present before the sandbox started, in out/.staged)
    (tmp_path / "out" / ".staged").mkdir()
    os.symlink(shared, tmp_path / "out" / ".staged" / "link")
    body = """
import importlib.machinery, importlib.util
def load(module, path):
    loader = importlib.machinery.ExtensionFileLoader(module, path)
    spec = importlib.util.spec_from_file_location(module, path, loader=loader)
    importlib.util.module_from_spec(spec)
def decided(tag, fn):
    try:
        fn()
        print(tag, "done")
    except PermissionError as exc:
        print(tag, getattr(exc, "category", "kernel"), getattr(exc, "action", ""))
decided("from out", lambda: load(NAME, task + "/out/blob"))
# its own file, under an allowed package's name (sandbox.**: the python-runtime bundle)
decided("another name", lambda: load("sandbox.runtime." + NAME, SHARED))
# a module's own file in a folder below a module root: a name that merely ends like its path
# (red team 54: a package's extension as an allowed stdlib module's)
decided("below a root", lambda: load(NAME, task + "/vendor/" + SHARED.rsplit("/", 1)[1]))
# its own file named through what the function can turn elsewhere before dlopen follows the
# name: a descriptor (os.dup2 raises no event), a link where it may write (red team 53: the
# staged link moved there)
decided("a descriptor", lambda: load(NAME, "/proc/self/fd/%d" % os.open(SHARED, os.O_RDONLY)))
os.rename(task + "/out/.staged/link", task + "/out/link")
decided("a link", lambda: load(NAME, task + "/out/link"))
decided("its own file", lambda: load(NAME, SHARED))
""".replace("NAME", repr(name)).replace("SHARED", repr(str(shared)))
    lines = ATTEMPT_LINES
    if phase == "init":
        lines = lines.replace("sandbox.runtime.hook.mark_invoke_phase()\n", "")
    env = {"SANDBOX_NATIVE": "off"} if core == "python" else None
    result = child(lines + body, env=env)
    # THEN in either phase, loading it from that file, or its own file under another module's
    # name, is loading native code (not in the profile: blocked) -- at init too, where a
    # hijacked dependency runs -- while the module's own file under its own name loads
    # AND so is its own file named through a descriptor or a link the function could swap
    assert result.lines == [
        "from out native dlopen",
        "another name native dlopen",
        "below a root native dlopen",
        "a descriptor native dlopen",
        "a link native dlopen",
        "its own file done",
    ], result.stderr


def test_a_deny_matches_names_with_a_newline(child: RunChild, tmp_path: Path) -> None:
    # GIVEN out/ allowed, and every secret.txt anywhere under the task denied
    _setup(tmp_path)
    (tmp_path / "out" / "d").mkdir()
    (tmp_path / "out" / "d" / "secret.txt").write_text("s")
    document = {
        **profile_doc(
            files=[{"action": a, "target": "{task}/out/**"} for a in ("read", "write", "list")]
        ),
        "deny": {"files": [{"action": "read", "target": "{task}/**/secret.txt"}]},
    }
    (tmp_path / "profile.json").write_text(json.dumps(document))
    body = """
attempt("plain", lambda: open("out/d/secret.txt").read())
os.rename("out/d", "out/a\\nb")
attempt("newline", lambda: open("out/a\\nb/secret.txt").read())
"""
    result = child(ATTEMPT_LINES + body)
    # THEN "**" stands for any text, a newline too: both reads are denied
    assert result.lines == ["plain blocked", "newline blocked"], result.stderr


def test_removing_a_link_is_a_change_of_the_link_not_of_its_target(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a link under out/ to the secret outside it
    _out_only(tmp_path)
    os.symlink(tmp_path / "data" / "secret.txt", tmp_path / "out" / "L")
    body = """
attempt("read through it", lambda: open("out/L").read())
attempt("rename it", lambda: os.rename("out/L", "out/M"))
attempt("remove it", lambda: os.remove("out/M"))
"""
    result = child(ATTEMPT_LINES + body)
    # THEN moving and removing the link (in out/) are allowed; reading through it is not
    assert result.lines == ["read through it blocked", "rename it done", "remove it done"], (
        result.stderr
    )
    assert (tmp_path / "data" / "secret.txt").exists()


def test_bytecode_the_function_wrote_is_not_a_modules_own(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a sourceless .pyc written under out/ (an allowed write) with the name of a
    # standard-library module not loaded yet, out/ put first on sys.path (as "out" and as
    # "out/../out", a spelling that starts like a module root)
    import py_compile

    _out_only(tmp_path)
    source = tmp_path / "colorsys_src.py"
    source.write_text("VALUE = 1\n")
    py_compile.compile(str(source), cfile=str(tmp_path / "out" / "colorsys.pyc"))
    body = """
import importlib, sys
for entry in (task + "/out", task + "/out/../out"):
    sys.path.insert(0, entry)
    sys.modules.pop("colorsys", None)
    attempt("import from " + entry[len(task):], lambda: importlib.import_module("colorsys"))
    sys.path.remove(entry)
"""
    result = child(ATTEMPT_LINES + body)
    # THEN its unmarshal is refused: only a module's own bytecode under an import root loads
    assert result.lines == ["import from /out blocked", "import from /out/../out blocked"], (
        result.stderr
    )


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_path_object_whose_conversion_was_tampered_with_is_not_read(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN pathlib's conversion rebound without touching the classes' own methods: a global
    # of the module PurePath.__fspath__ runs in (its str) answers the sandbox with a file in
    # out/ and SQLite, which converts the path after its event, with one in data/
    _out_only(tmp_path)
    (tmp_path / "out" / "ok.txt").write_text("ok")
    body = """
import pathlib
attempt("plain Path", lambda: open(pathlib.Path("out/ok.txt")).read())
import sqlite3
calls = []
def two_faced(value):
    calls.append(1)
    return task + ("/out/ok.db" if len(calls) == 1 else "/data/planted.db")
made = pathlib.Path("out/ok.db")
pathlib.PurePath.__fspath__.__globals__["str"] = two_faced
# (sqlite3.connect raises its event with the object and converts it afterwards)
attempt("two-faced Path", lambda: sqlite3.connect(made).close())
"""
    result = child(
        ATTEMPT_LINES + body, env={"SANDBOX_NATIVE": "off"} if core == "python" else None
    )
    # THEN a plain Path is read as before; the tampered one is not read by the sandbox at all
    # (its conversion would run the function's code inside the hook): refused. (CPython 3.10
    # converts the path before raising sqlite3.connect's event: one conversion, the path
    # decided is the one opened.)
    tampered = "two-faced Path " + ("blocked" if sys.version_info >= (3, 11) else "done")
    assert result.lines == ["plain Path done", tampered], result.stderr
    assert not (tmp_path / "data" / "planted.db").exists()


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_link_renamed_into_place_by_a_core_answered_change_is_seen(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN every name under out/ allowed (so the core answers removes and renames there
    # itself, after the first write), a link out/link to out/real whose resolution the path
    # cache holds, and a second link out/evil to the secrets' folder (present before the
    # sandbox started)
    _out_only(tmp_path)
    (tmp_path / "out" / "real").mkdir()
    (tmp_path / "out" / "real" / "x.txt").write_text("x")
    (tmp_path / "data" / "x.txt").write_text("secret")
    os.symlink(tmp_path / "data", tmp_path / "out" / "evil")
    result = child(
        ATTEMPT_LINES
        + """
out = task + "/out"
open(out + "/first.txt", "w").close()              # the write verdict on out/
os.symlink(out + "/real", out + "/link")
attempt("through-link", lambda: open(out + "/link/x.txt").read())
os.rename(out + "/evil", out + "/link")             # answered by the core
attempt("secret", lambda: print(open(out + "/link/x.txt").read()))  # the same name
open(out + "/scratch", "w").close()
os.remove(out + "/scratch")                          # answered by the core
attempt("gone", lambda: open(out + "/scratch").read())
""",
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN the cache's old answer for out/link is dropped before the next decision: the
    # secret behind the new link is refused, and a removed name is just missing
    assert result.lines == ["through-link done", "secret blocked", "gone kernel"], result.stderr


SIGNAL_SWAP = (
    ATTEMPT_LINES
    + """
import signal, time
out = task + "/out"
os.mkdir(out + "/real"); os.mkdir(out + "/x")
open(out + "/real/secret.txt", "w").write("harmless")
os.symlink(out + "/real", out + "/cur")
state = {"armed": False, "swaps": 0}
def handler(signum, frame):
    if state["armed"]:
        state["armed"] = False
        os.rename(out + "/evil", out + "/cur")  # cur -> the task folder: an allowed change
        state["swaps"] += 1
signal.signal(signal.SIGALRM, handler)
def reset():
    # (out/evil, the link to data/, was present before the sandbox started: moved back, as
    # making it again would be refused)
    if os.readlink(out + "/cur") != out + "/real":
        os.rename(out + "/cur", out + "/evil")
        os.symlink(out + "/real", out + "/cur2"); os.rename(out + "/cur2", out + "/cur")
reset()
start = time.perf_counter()
try:
    open(out + "/" + "x/../" * 600 + "cur/secret.txt").read()  # a long walk: a long decision
except PermissionError:
    pass  # (the Python core: see the test)
took = time.perf_counter() - start
leaks = refused = 0
for i in range(120):
    name = out + "/" + "x/../" * (500 + i % 200) + "cur/secret.txt"  # a new name: decided
    state["armed"] = True
    signal.setitimer(signal.ITIMER_REAL, took * (0.2 + 0.6 * (i % 10) / 10))
    try:
        leaks += "secret" in open(name).read()
    except PermissionError:
        refused += 1
    signal.setitimer(signal.ITIMER_REAL, 0)
    state["armed"] = False
    reset()
print("swaps", state["swaps"] > 0, "leaks", leaks)
print("refused", refused)
"""
)


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_signal_handler_cannot_run_between_a_decision_and_its_operation(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN every name under out/ allowed, a link out/cur to out/real, and a SIGALRM handler
    # that renames a link to the secrets' folder (out/evil, present before the sandbox
    # started) over it, timed to fire while an open through out/cur is being decided (a long
    # name: a long decision)
    _out_only(tmp_path)
    os.symlink(tmp_path / "data", tmp_path / "out" / "evil")
    result = child(SIGNAL_SWAP, env={"SANDBOX_NATIVE": "off"} if core == "python" else None)
    assert result.returncode == 0, result.stderr
    line, refused = result.lines[-2:]
    assert line.startswith("swaps True"), result.stdout
    if core == "native":
        # THEN (native) the handler runs after the open: it never reads through the swapped
        # link (and the climbs are decided: nothing but this thread runs until the open)
        assert line == "swaps True leaks 0", result.stdout
        assert refused == "refused 0", result.stdout
    else:
        # THEN (Python) the handler can run inside the decision, so with one set the process
        # is not alone and each climb over a folder that can be moved is refused (red team
        # 126); a swap inside the decision of a name with no ".." stays a documented limit
        assert line == "swaps True leaks 0" and refused == "refused 120", result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_bytearray_path_is_refused(child: RunChild, tmp_path: Path, core: str) -> None:
    # GIVEN every name under out/ allowed; WHEN a path is a bytearray (the system call copies
    # it when its arguments are converted; a later argument's __index__ or another thread can
    # change it before the event shows it)
    _out_only(tmp_path)
    result = child(
        ATTEMPT_LINES
        + """
open(task + "/out/x.txt", "w").close()
path = bytearray((task + "/out/x.txt").encode())
def refused_by_python(fn):
    def call():
        try:
            fn()
        except TypeError:  # 3.12+ takes no bytearray or memoryview path at all
            raise PermissionError("python")
    return call
attempt("bytearray", refused_by_python(lambda: os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)))
attempt("memoryview", refused_by_python(lambda: os.open(memoryview(bytes(path)), os.O_RDONLY)))
attempt("bytes", lambda: os.close(os.open(bytes(path), os.O_RDONLY)))
""",
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN it is refused as an argument the sandbox cannot read; its bytes are allowed
    blocked = "blocked" if sys.version_info < (3, 12) else "kernel"  # (PermissionError("python"))
    assert result.lines == [f"bytearray {blocked}", f"memoryview {blocked}", "bytes done"], (
        result.stderr
    )


SWAP_JOB = "mv out/job-3 out/gone-3 && ln -s ../data out/job-3"


@pytest.mark.parametrize("core", ["native", "python"])
def test_new_job_folders_a_glob_covers_work_and_a_job_folder_made_a_link_is_decided(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a function that makes a folder per call (out/job-<n>) and works in it, with rules
    # for exactly that: the job folders (read, write, list) and the names in them (read,
    # write);
    # the core then answers the next calls' new folders and names itself (pattern verdicts);
    # and a link to the data folder present before the sandbox started (out/job-staged/link)
    _setup(tmp_path)
    (tmp_path / "out" / "job-staged").mkdir()
    os.symlink(tmp_path / "data", tmp_path / "out" / "job-staged" / "link")
    files = [{"action": a, "target": "{task}/out/job-*"} for a in ("read", "write", "list")]
    files += [{"action": a, "target": "{task}/out/job-*/*"} for a in ("read", "write")]
    profile = profile_doc(
        files=files,
        processes=[{"action": "exec", "target": "/bin/sh", "argv": ["-c", SWAP_JOB]}],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    body = f"""
import shutil, sqlite3, subprocess, tempfile
def job(n):
    work = task + "/out/job-" + str(n)
    os.mkdir(work)
    with open(work + "/in.json", "w") as handle:
        handle.write("[1, 2]")
    with open(work + "/in.json") as handle:
        handle.read()
    db = sqlite3.connect(work + "/job.db"); db.execute("CREATE TABLE t (x)"); db.close()
    fd, scratch = tempfile.mkstemp(dir=work, suffix=".csv"); os.close(fd)
    os.rename(scratch, work + "/report.csv")
    shutil.copyfile(work + "/report.csv", work + "/copy.csv")
    os.listdir(work)
for n in range(4):
    attempt("job" + str(n), lambda: job(n))
shutil.rmtree(task + "/out/job-0")
print("removed", not os.path.exists(task + "/out/job-0"))
# WHEN the function reaches for the data folder through names the glob covers: a job folder
# that is a link (made with an audited call: refused itself; the staged one moved there)...
attempt("link_made", lambda: os.symlink(task + "/data", task + "/out/job-link"))
os.rename(task + "/out/job-staged/link", task + "/out/job-link")
attempt("link_read", lambda: open(task + "/out/job-link/secret.txt").read())
attempt("link_write", lambda: open(task + "/out/job-link/planted.txt", "w").write("x"))
attempt("link_list", lambda: os.listdir(task + "/out/job-link"))
attempt("link_copy", lambda: shutil.copyfile(task + "/out/job-1/in.json",
                                             task + "/out/job-link/planted.txt"))
attempt("link_db", lambda: sqlite3.connect(task + "/out/job-link/secret.txt").close())
# ...and a job folder the core answered names in, swapped for a link by a child process
attempt("before_swap", lambda: open(task + "/out/job-3/in.json").read())
subprocess.run(["/bin/sh", "-c", {SWAP_JOB!r}], check=True)
attempt("swapped_read", lambda: open(task + "/out/job-3/secret.txt").read())
attempt("swapped_write", lambda: open(task + "/out/job-3/planted.txt", "w").write("x"))
attempt("swapped_list", lambda: os.listdir(task + "/out/job-3"))
attempt("after_swap_new_job", lambda: job(4))
"""
    # THEN the job folders work, new ones included, making a link to data/ is refused, and
    # every name that leads to data/ is blocked, whether the link was moved in before or made
    # after the core answered names there
    result = child(
        ATTEMPT_LINES + body, env={"SANDBOX_NATIVE": "off"} if core == "python" else None
    )
    assert result.lines == [
        "job0 done",
        "job1 done",
        "job2 done",
        "job3 done",
        "removed True",
        "link_made blocked",
        "link_read blocked",
        "link_write blocked",
        "link_list blocked",
        "link_copy blocked",
        "link_db blocked",
        "before_swap done",
        "swapped_read blocked",
        "swapped_write blocked",
        "swapped_list blocked",
        "after_swap_new_job done",
    ], result.stderr
    assert not (tmp_path / "data" / "planted.txt").exists()


@pytest.mark.parametrize("core", ["native", "python"])
def test_an_answer_decided_while_another_thread_swaps_a_folder_is_not_kept(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a folder in allowed/ that another thread keeps swapping for a link to secret/
    # (present in allowed/.staged before the sandbox started; audited renames, all allowed:
    # their events fire before the change is made)
    _scratch_profile(tmp_path)
    (tmp_path / "allowed" / ".staged").mkdir()
    os.symlink(tmp_path / "secret", tmp_path / "allowed" / ".staged" / "L")
    code = (
        ENFORCE_INVOKE
        + """
L, R, S = A + "/L", A + "/real", A + "/.staged/L"
X = L + "/key.txt"
os.mkdir(L)
sys.setswitchinterval(1e-5)
state = {"stop": False}
def flipper():
    while True:
        os.rename(L, R)
        os.rename(S, L)             # the link to secret/ moved in
        if state["stop"]:
            return                  # stops with L a link to secret/
        os.rename(L, S)
        os.rename(R, L)
thread = threading.Thread(target=flipper); thread.start()
deadline = time.time() + 1.0
while time.time() < deadline:      # WHEN the function opens L/key.txt throughout
    try:
        open(X).read()
    except OSError:
        pass
state["stop"] = True; thread.join()
# THEN with no other thread left, the name is decided on where it leads now: the secret
try:
    open(X).read()
    print("after", "READ")
except PermissionError:
    print("after", "REFUSED")
"""
    )
    result = child(code, env={"SANDBOX_NATIVE": "off"} if core == "python" else None)
    # (what a decision raced by the thread saw is the documented check-to-use window; what
    # matters is that none of it is kept as an answer for later)
    assert "after REFUSED" in result.lines, result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_fifo_opened_blocking_is_refused_and_one_opened_non_blocking_is_not(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a folder whose every name may be read and written (the core answers new names
    # there itself once one was decided), and a FIFO made in it with no audit event
    _scratch_profile(tmp_path)
    code = (
        ENFORCE_INVOKE
        + """
open(A + "/plain.txt", "w").write("x")
open(A + "/plain.txt").read()                   # (the folder's verdict is now the core's)
def attempt(label, fn):
    try:
        fn()
        print(label, "ALLOWED")
    except PermissionError:
        print(label, "REFUSED")
    except FileNotFoundError:
        print(label, "MISSING")
attempt("missing-first", lambda: os.open(A + "/later", os.O_RDONLY))  # decided: not there
os.mkfifo(A + "/later")                          # made with no audit event
os.mkfifo(A + "/fifo")
os.symlink(A + "/fifo", A + "/to-fifo")
# WHEN the function opens it blocking (a signal handler could swap the name before the
# retried open), through a link to it, and without blocking
attempt("blocking", lambda: os.open(A + "/fifo", os.O_RDONLY))
attempt("builtin", lambda: open(A + "/fifo"))
attempt("through-link", lambda: os.open(A + "/to-fifo", os.O_RDONLY))
attempt("non-blocking", lambda: os.close(os.open(A + "/fifo", os.O_RDONLY | os.O_NONBLOCK)))
attempt("plain", lambda: open(A + "/plain.txt").read())
attempt("made-later", lambda: os.open(A + "/later", os.O_RDONLY))  # no answer kept for it
"""
    )
    audit_alone = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}  # (Landlock: no mkfifo)
    result = child(
        code, env={**audit_alone, **({"SANDBOX_NATIVE": "off"} if core == "python" else {})}
    )
    # THEN a blocking open of the FIFO is refused, however it is named; a non-blocking one
    # (it returns at once: nothing retries it) and a regular file are not
    assert result.lines == [
        "missing-first MISSING",
        "blocking REFUSED",
        "builtin REFUSED",
        "through-link REFUSED",
        "non-blocking ALLOWED",
        "plain ALLOWED",
        "made-later REFUSED",
    ], result.stdout + result.stderr


# A child's helpers for device nodes: mknod(path, minor) makes a character device with
# /dev/null's numbers (minor 3) or /dev/zero's (5), with no audit event, and ends the child
# printing NO-MKNOD where the machine refuses it; device_attempt(label, fn) prints whether
# the sandbox (or SQLite's authorizer, for it) refused fn. The nodes are made by a process
# DEVICE_MAKER forks before install, which the sandbox never sees (as another process would
# make them, or the function itself where the core cannot hold os.mknod): the native core
# refuses the function's own os.mknod of a device (test_os_mknod_and_mkfifo_are_decided...).
DEVICE_MAKER = """
import os as _os, stat as _stat
_requests, _ask = _os.pipe()
_answers, _told = _os.pipe()
if _os.fork() == 0:
    _os.close(_ask)
    _os.close(_answers)
    with _os.fdopen(_requests, "rb") as _lines:
        for _line in _lines:
            _path, _minor = _line.decode().rstrip("\\n").rsplit(" ", 1)
            try:
                _os.mknod(_path, 0o666 | _stat.S_IFCHR, _os.makedev(1, int(_minor)))
                _os.write(_told, b"y")
            except PermissionError:
                _os.write(_told, b"n")
    _os._exit(0)
_os.close(_requests)
_os.close(_told)
"""

DEVICE_HELPERS = """
import sqlite3, stat
def mknod(path, minor=3):
    os.write(_ask, f"{path} {minor}\\n".encode())
    if os.read(_answers, 1) != b"y":
        print("NO-MKNOD")
        raise SystemExit(0)
def device_attempt(label, fn):
    try:
        fn()
        print(label, "ALLOWED")
    except (PermissionError, sqlite3.DatabaseError):
        print(label, "REFUSED")
"""


def _device_child(
    child: RunChild, tmp_path: Path, core: str, code: str, *extra: dict[str, Any]
) -> Any:
    """Run ``code`` in enforce as root with the kernel layers off (seccomp refuses mknodat),
    on ``core``, with the scratch profile (and ``extra`` rules); skipped where this machine
    cannot make a device node."""
    if os.geteuid() != 0:
        pytest.skip("os.mknod of a device node needs root")
    _scratch_profile(tmp_path, *extra)
    env = audit_only(core)
    result = child(DEVICE_MAKER + ENFORCE_INVOKE + DEVICE_HELPERS + code, env=env)
    if result.lines == ["NO-MKNOD"]:
        pytest.skip("this machine refuses os.mknod (no CAP_MKNOD)")
    return result


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_device_node_made_outside_dev_is_refused_however_it_is_opened(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a function that runs as root where seccomp does not hold, a folder whose every
    # name may be read and written, a rule for /dev/shm, and device nodes made in both with
    # os.mknod (no audit event)
    shm = f"/dev/shm/lsb-node-{os.getpid()}-{core}"
    rules = ({"action": a, "target": "/dev/shm/**", "phase": "any"} for a in ("read", "write"))
    code = f"""
SHM = {shm!r}
open(A + "/plain.txt", "w").write("x")
open(A + "/plain.txt").read()                   # (the folder's verdict is now the core's)
for name in (A + "/node", A + "/node.db", A + "/attached.db", SHM):
    mknod(name)
# WHEN the function opens them: read, written, without blocking, as an SQLite database
# (connected, attached), and through a name in /dev/shm (a folder there anyone may write)
device_attempt("read", lambda: open(A + "/node", "rb").read(1))
device_attempt("write", lambda: open(A + "/node", "wb").write(b"x"))
device_attempt("non-blocking", lambda: os.close(os.open(A + "/node", os.O_RDONLY | os.O_NONBLOCK)))
device_attempt("sqlite", lambda: sqlite3.connect(A + "/node.db").execute("select 1"))
attach = f"ATTACH DATABASE '{{A}}/attached.db' AS other"
device_attempt("attach", lambda: sqlite3.connect(":memory:").execute(attach))
device_attempt("shm", lambda: open(SHM, "rb").read(1))
device_attempt("plain", lambda: open(A + "/plain.txt").read())
os.remove(SHM)
"""
    try:
        result = _device_child(child, tmp_path, core, code, *rules)
    finally:
        if os.path.lexists(shm):
            os.remove(shm)
    # THEN every open of a device node outside the system's /dev is refused, before the open;
    # a regular file in the same folder is not
    assert result.lines == [
        "read REFUSED",
        "write REFUSED",
        "non-blocking REFUSED",
        "sqlite REFUSED",
        "attach REFUSED",
        "shm REFUSED",
        "plain ALLOWED",
    ], result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize("child_first", [False, True], ids=["no-child", "after-a-child"])
def test_red_team_70_a_device_made_where_sqlite_removed_a_file_is_not_answered_from_a_cache(
    child: RunChild, tmp_path: Path, core: str, child_first: bool
) -> None:
    # GIVEN a function that runs as root where seccomp does not hold, an SQLite database in a
    # folder whose every name may be read and written, and the name of its journal opened by
    # the function (an answer kept for it), with or without a child process run first
    code = f"""
if {child_first!r}:
    subprocess.run(["/bin/true"], check=True)
J = A + "/x.db-journal"
db = sqlite3.connect(A + "/x.db")
db.execute("create table if not exists t (a)")
db.commit()
open(J, "wb").close()
open(J, "rb").read()
open(J, "r+b").close()
# WHEN SQLite removes the journal itself (no audit event: its inode is free again), and a
# device node is made at that name (no audit event either)
db.execute("insert into t values (1)")
db.commit()
mknod(J, 5)
device_attempt("read", lambda: open(J, "rb").read(4))
device_attempt("write", lambda: open(J, "r+b").write(b"x"))
device_attempt("database", lambda: db.execute("select count(*) from t").fetchone())
"""
    result = _device_child(child, tmp_path, core, code)
    # THEN the device node is opened by no answer kept for the name: both opens are decided
    # again, and refused; the database itself still works on the Python core (SQLite reads the
    # node as an empty journal), while on the native core SQLite's own open of the node (its
    # hot-journal probe) is refused at the open too, so the query fails until it is removed
    database = "database REFUSED" if core == "native" else "database ALLOWED"
    assert result.lines == ["read REFUSED", "write REFUSED", database], (
        result.stdout + result.stderr
    )


@pytest.mark.parametrize("core", ["native", "python"])
def test_red_team_71_a_device_made_where_sqlite_removed_its_lock_folder_is_not_answered(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a function that runs as root where seccomp does not hold, an SQLite database in a
    # folder whose every name may be read and written, opened with the unix-dotfile VFS (its
    # write lock is a folder "<db>.lock" SQLite makes and removes with no audit event), and
    # the lock's name opened by the function while SQLite held it (an answer decided there)
    code = """
os.chdir(A)
DB = A + "/d.db"
L = DB + ".lock"
db = sqlite3.connect(f"file:{DB}?vfs=unix-dotfile", uri=True, isolation_level=None)
db.execute("begin immediate")
try:
    os.open(L, os.O_RDWR)
except IsADirectoryError:
    pass
# WHEN SQLite removes its lock folder, and a device node is made at that name
db.execute("commit")
mknod(L)
device_attempt("node", lambda: os.close(os.open(L, os.O_RDWR)))
os.remove(L)
"""
    result = _device_child(child, tmp_path, core, code)
    # THEN no answer was kept for the lock's name: the open of the node is decided, refused
    assert result.lines == ["node REFUSED"], result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_limit_sqlite_opens_a_device_node_at_its_journal_name_with_no_audit_event(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a function that runs as root where seccomp does not hold, an SQLite database in a
    # folder whose every name may be read and written, and a device node made at the name of
    # its journal after the connection was decided (red team 70)
    code = """
def _is_node(fd):
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return (stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
            and os.readlink(f"/proc/self/fd/{fd}").endswith("/k.db-journal"))
db = sqlite3.connect(A + "/k.db", isolation_level=None)
db.execute("create table if not exists t (a)")
db.execute("insert into t values (1)")
mknod(A + "/k.db-journal")
# WHEN a transaction writes: SQLite opens its journal itself (C, no audit event)
db.execute("begin")
held = []
try:
    db.execute("update t set a = 2")
    held = [fd for fd in range(3, 64) if _is_node(fd)]
    db.execute("commit")
except sqlite3.OperationalError:
    pass  # (a journal that reads back as nothing: "disk I/O error"; refused: "unable to open")
print("journal opened by SQLite", bool(held))
"""
    result = _device_child(child, tmp_path, core, code)
    # THEN on the native core SQLite's open of it is decided at the open (guarded_open): the
    # node is refused, and reported; on the Python core the audit layer does not see it:
    # SQLite holds the device node open as its journal (a stated limit there; seccomp refuses
    # mknodat, and on AWS Lambda the function is not root)
    if core == "native":
        assert result.lines == ["journal opened by SQLite False"], result.stdout + result.stderr
        assert any(
            "a device node at " in f["target"]
            and f["target"].endswith(
                "/k.db-journal, which SQLite would open itself (no audit event)"
            )
            for f in result.findings
        ), result.stdout
    else:
        assert result.lines == ["journal opened by SQLite True"], result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_child_flipping_a_folder_and_a_link_leaves_no_stale_answer(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN allowed/L a folder (no key.txt in it), and a forked child that flips it between
    # a folder and a link to secret/ (present in allowed/.staged before the sandbox started;
    # its renames in allowed/ are allowed)
    _scratch_profile(tmp_path)
    (tmp_path / "allowed" / ".staged").mkdir()
    os.symlink(tmp_path / "secret", tmp_path / "allowed" / ".staged" / "L")
    code = (
        ENFORCE_INVOKE
        + """
L, R, S, STOP = A + "/L", A + "/R", A + "/.staged/L", A + "/stop"
X = L + "/key.txt"
os.mkdir(L)
def flipper():
    while not os.path.exists(STOP):
        os.rename(L, R); os.rename(S, L)
        os.rename(L, S); os.rename(R, L)
    os.rename(L, R); os.rename(S, L)   # ends as the link
    os._exit(0)
leaked = 0
deadline = time.time() + 4
while time.time() < deadline:
    pid = os.fork()
    if pid == 0:
        try:
            flipper()
        finally:
            os._exit(1)
    for i in range(2000):
        try:
            with open(X) as f:
                f.read()
        except (PermissionError, FileNotFoundError, NotADirectoryError):
            pass
    open(STOP, "w").close()
    os.waitpid(pid, 0)
    os.remove(STOP)
    for i in range(3):   # no other process or thread now: L leads to secret/
        try:
            open(X).read()
            leaked += 1
        except PermissionError:
            pass
    os.rename(L, S); os.rename(R, L)
print("leaked", leaked)
"""
    )
    # WHEN the function opens allowed/L/key.txt while the child flips (a walk that saw the
    # folder may be kept after the swap: the won race itself is the documented
    # check-to-use window), then again once the child is gone and L is the link
    result = child(code, env=audit_only(core))
    # THEN no answer kept during the race reads the secret afterwards
    assert result.lines == ["leaked 0"], result.stderr


PLANT_RECEIPT = "ln -s ../data/secret.txt out/receipt-9.json"


@pytest.mark.parametrize("core", ["native", "python"])
def test_new_names_a_glob_covers_are_answered_from_the_first_and_a_link_there_is_decided(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a function that writes a new file per call (out/receipt-<n>.json), reads it back
    # and removes it, with rules for exactly that name pattern; the first call's write is of
    # a name that does not exist yet, and from it the core answers the next calls' names
    # (a pattern verdict: each new name still looked at with one lstat); and a link to the
    # secret present before the sandbox started, at a name the glob covers
    _setup(tmp_path)
    os.symlink(tmp_path / "data" / "secret.txt", tmp_path / "out" / "receipt-staged.json")
    files = [{"action": a, "target": "{task}/out/receipt-*.json"} for a in ("read", "write")]
    profile = profile_doc(
        files=files,
        processes=[{"action": "exec", "target": "/bin/sh", "argv": ["-c", PLANT_RECEIPT]}],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    body = f"""
import subprocess
def receipt(n):
    name = task + "/out/receipt-" + str(n) + ".json"
    with open(name, "w") as handle:
        handle.write("{{}}")
    with open(name, "rb") as handle:
        handle.read()
    os.remove(name)
for n in range(3):
    attempt("receipt" + str(n), lambda: receipt(n))
attempt("other_name", lambda: open(task + "/out/other.json", "w").write("x"))
# WHEN names the glob covers lead to the data folder: a link made with an audited call
# (refused itself; the staged one moved there)...
attempt("link_made", lambda: os.symlink(task + "/data/secret.txt",
                                        task + "/out/receipt-link.json"))
os.rename(task + "/out/receipt-staged.json", task + "/out/receipt-link.json")
attempt("link_read", lambda: open(task + "/out/receipt-link.json").read())
attempt("link_write", lambda: open(task + "/out/receipt-link.json", "w").write("x"))
# ...and one a child process planted
subprocess.run(["/bin/sh", "-c", {PLANT_RECEIPT!r}], check=True)
attempt("planted_read", lambda: open(task + "/out/receipt-9.json").read())
attempt("planted_write", lambda: open(task + "/out/receipt-9.json", "w").write("x"))
attempt("after_child", lambda: receipt(3))
"""
    result = child(
        ATTEMPT_LINES + body, env={"SANDBOX_NATIVE": "off"} if core == "python" else None
    )
    # THEN every call's new name works, a name the glob does not cover is refused, making a
    # link to the secret is refused, and every link to the data folder is refused, whether
    # moved in before or made after a child ran
    assert result.lines == [
        "receipt0 done",
        "receipt1 done",
        "receipt2 done",
        "other_name blocked",
        "link_made blocked",
        "link_read blocked",
        "link_write blocked",
        "planted_read blocked",
        "planted_write blocked",
        "after_child done",
    ], result.stderr
    assert (tmp_path / "data" / "secret.txt").read_text() == "secret"


@pytest.mark.parametrize("core", ["native", "python"])
def test_each_unresolvable_name_is_reported_on_its_own(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with the runtime bundle only
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN an invocation opens two different names longer than the kernel takes (unresolvable:
    # refused before any walk), the first twice
    result = child(
        """
        import sandbox
        sandbox.install(mode="enforce", profile="profile.json")
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        deep = "/".join(["d" * 200] * 30)
        for name in ("a/" + deep, "b/" + deep, "a/" + deep):
            try:
                open(name).read()
            except PermissionError:
                print("refused", name[:1])
        """,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else {},
    )
    # THEN every open is refused
    assert result.lines == ["refused a", "refused b", "refused a"], result.stderr
    # AND each name has a finding of its own, its target naming it (head and tail shown)
    targets = [f["target"] for f in result.findings]
    assert len(targets) == 2, targets
    heads = [t.removeprefix("<unresolvable path: ")[: len(str(tmp_path)) + 2] for t in targets]
    assert heads == [f"{tmp_path}/{c}" for c in "ab"], targets
    assert all(t.startswith("<unresolvable path: ") and t.endswith("d>") for t in targets)
    assert all(len(t) < 300 for t in targets)


@pytest.mark.parametrize("core", ["native", "python"])
def test_bytecode_a_learned_pattern_covers_outside_the_module_roots_imports_and_links_there_are_decided(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a package in a folder outside every module root (a sys.path entry such as a
    # mounted file system), its bytecode compiled, and the rules learn writes for it: the
    # folder listed, its "__pycache__/*.pyc" read, its modules imported and run -- no rule for
    # anything else there (from the first module's read the core answers the next ones')
    outside = tmp_path.parent / (tmp_path.name + "-mounted")
    package = outside / "pk"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for i in range(4):
        (package / f"m{i}.py").write_text(f"VALUE = {i}\n")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    _setup(tmp_path)
    tag = sys.implementation.cache_tag
    os.symlink(tmp_path / "data" / "secret.txt", package / "__pycache__" / f"evil.{tag}.pyc")
    profile = profile_doc(
        files=[
            {"action": "list", "target": str(package)},
            {"action": "read", "target": str(package / "__pycache__") + "/*.pyc"},
        ],
        modules=[{"action": "import", "target": t} for t in ("pk", "pk.*")],
        code=[{"action": "exec", "target": str(package) + "/*.py"}],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    code = (
        ATTEMPT
        + f"""
import sys, sandbox
sys.path.insert(0, {str(outside)!r})
sandbox.install(mode="enforce", profile="profile.json")
# WHEN its modules are imported at init and in an invocation...
import pk.m0, pk.m1
print("init", pk.m0.VALUE, pk.m1.VALUE)
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
import pk.m2, pk.m3
print("invoke", pk.m2.VALUE, pk.m3.VALUE)
# ...and the folder's other names are read: a link to a secret the pattern covers, a source
attempt("link", lambda: open({str(package / "__pycache__" / f"evil.{tag}.pyc")!r}, "rb").read())
attempt("source", lambda: open({str(package / "m0.py")!r}).read())
attempt("bytecode", lambda: open({str(package / "__pycache__" / f"m3.{tag}.pyc")!r}, "rb").read())
"""
    )
    try:
        result = child(code, env={"SANDBOX_NATIVE": "off"} if core == "python" else None)
    finally:
        shutil.rmtree(outside)
    # THEN every module imports, the covered bytecode is read, and the link to the secret and
    # the source no rule covers are refused
    assert result.lines == [
        "init 0 1",
        "invoke 2 3",
        "link BLOCKED PermissionViolation files read",
        "source BLOCKED PermissionViolation files read",
        "bytecode ALLOWED",
    ], result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_modules_imported_in_an_invocation_need_no_file_rule_and_others_are_still_decided(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a package under the task root, its bytecode compiled, and a profile allowing its
    # import and its code to run (as learn writes them) -- no file rule
    package = tmp_path / "pk"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "m1.py").write_text("VALUE = 1\n")
    (package / "m2.py").write_text("def fail():\n    return 1 / 0\n")
    (tmp_path / "other.py").write_text("VALUE = 'other'\n")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tmp_path)], check=True)
    profile = profile_doc(
        modules=[{"action": "import", "target": t, "phase": "any"} for t in ("pk", "pk.*")],
        code=[{"action": "exec", "target": "{task}/**", "phase": "any"}],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    tag = sys.implementation.cache_tag
    code = (
        ATTEMPT
        + f"""
import sys, traceback, sandbox
from sandbox.runtime.control import mark_invoke_phase
sys.path.insert(0, ".")
sandbox.install(mode="enforce", profile="profile.json")
mark_invoke_phase()
# WHEN the invocation imports the package's modules (new to the process), one fails...
import pk.m1, pk.m2
print("imported", pk.m1.VALUE)
try:
    pk.m2.fail()
except ZeroDivisionError:
    print("line shown", "return 1 / 0" in traceback.format_exc())
# ...and it imports a module no rule allows, and reads a module's bytecode itself
attempt("other", lambda: __import__("other"))
attempt("read", lambda: open("pk/__pycache__/m1.{tag}.pyc", "rb").read())
"""
    )
    result = child(code, env={"SANDBOX_NATIVE": "off"} if core == "python" else None)
    # THEN the allowed modules load with no file rule (their source lines shown in a
    # traceback), and the other import and the function's own read are refused
    assert result.lines == [
        "imported 1",
        "line shown True",
        "other BLOCKED ImportViolation modules import",
        "read BLOCKED PermissionViolation files read",
    ], result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_red_team_72_a_write_only_file_goes_nowhere_it_could_be_read(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a folder whose files the function may write but not read, and one where it may
    # do both
    (tmp_path / "writeonly").mkdir()
    write_only = {"action": "write", "target": "{task}/writeonly/**", "phase": "any"}
    _scratch_profile(tmp_path, write_only)
    code = (
        ENFORCE_INVOKE
        + ATTEMPT
        + """
import shutil, sqlite3
W = BASE + "/writeonly"
open(W + "/out.txt", "w").write("write-only")
open(A + "/mine.txt", "w").write("mine")
# WHEN the write-only file is read, renamed, linked or moved to the readable folder, or
# opened as an SQLite database (which SQLite reads)
attempt("read", lambda: open(W + "/out.txt").read())
attempt("rename", lambda: os.rename(W + "/out.txt", A + "/renamed.txt"))
attempt("replace", lambda: os.replace(W + "/out.txt", A + "/replaced.txt"))
attempt("link", lambda: os.link(W + "/out.txt", A + "/linked.txt"))
attempt("move", lambda: shutil.move(W + "/out.txt", A + "/moved.txt"))
attempt("sqlite", lambda: sqlite3.connect(W + "/db.sqlite").execute("select 1"))
attempt("rename-readable", lambda: os.rename(A + "/mine.txt", A + "/mine-2.txt"))
attempt("link-readable", lambda: os.link(A + "/mine-2.txt", A + "/mine-3.txt"))
"""
    )
    result = child(code, env=audit_only(core))
    # THEN each is refused before the file moves (a file moves only where the function could
    # read it already); a readable file still moves and links within its folder
    blocked = "BLOCKED PermissionViolation files read"
    assert result.lines == [
        f"read {blocked}",
        f"rename {blocked}",
        f"replace {blocked}",
        f"link {blocked}",
        f"move {blocked}",
        f"sqlite {blocked}",
        "rename-readable ALLOWED",
        "link-readable ALLOWED",
    ], result.stdout + result.stderr
    assert sorted(p.name for p in (tmp_path / "allowed").iterdir()) == ["mine-2.txt", "mine-3.txt"]


@pytest.mark.parametrize("core", ["native", "python"])
def test_red_team_72_a_thread_changing_the_working_directory_during_a_decision(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a relative name that is a missing file of an allowed folder from one working
    # directory, and the secret's folder from another (both may be listed, so both entered)
    _scratch_profile(tmp_path, {"action": "list", "target": "{task}/outside/**", "phase": "any"})
    (tmp_path / "allowed" / "x1" / "x2" / "x3").mkdir(parents=True)
    (tmp_path / "outside" / "y1" / "y2").mkdir(parents=True)
    code = (
        ENFORCE_INVOKE
        + """
import sqlite3
deep, shallow = A + "/x1/x2/x3", BASE + "/outside/y1/y2"
R = "../../../secret/key.txt"
def outcome():
    try:
        with open(R) as handle:
            return "LEAK" if "TOP-SECRET" in handle.read() else "read"
    except FileNotFoundError:
        return "missing"
    except PermissionError:
        return "refused"
os.chdir(deep)
print("deep", outcome())
os.chdir(shallow)
print("shallow", outcome())
# WHEN another thread flips the working directory between the two while names are decided
stop = []
def flip():
    while not stop:
        try:
            os.chdir(deep)
            os.chdir(shallow)
        except PermissionError:
            pass  # (refused while another thread opens a relative SQLite name)
thread = threading.Thread(target=flip, daemon=True)
thread.start()
seen = {outcome() for _ in range(1500)}
# AND while SQLite opens a relative database name (_sqlite3 lets the GIL go before the open)
def connect():
    try:
        sqlite3.connect("../../../secret/made.db").close()
    except (PermissionError, sqlite3.Error):
        pass
for _ in range(400):
    connect()
# AND while SQLite runs an ATTACH of a relative name (decided when compiled, opened when run)
memory = sqlite3.connect(":memory:")
def attach():
    try:
        memory.execute("ATTACH '../../../secret/attached.db' AS x")
        memory.execute("DETACH x")
    except (PermissionError, sqlite3.Error):
        pass
for _ in range(400):
    attach()
stop.append(1)
thread.join()
print("race", "LEAK" if "LEAK" in seen else "held")
"""
    )
    # (a generous timeout: with the SQLite open guard each of the 800 opens that needs a
    # decision waits for the GIL while the flipping thread runs, up to a switch interval,
    # 5 ms, each time; 30-60 s on a loaded 2-core machine)
    result = child(code, env=audit_only(core), timeout=300)
    lines = dict(line.split(" ", 1) for line in result.lines)
    # THEN with no other thread the name is decided from the directory it is opened from
    assert lines["deep"] == "missing" and lines["shallow"] == "refused", result.stdout
    # AND on the native core no decision holds that another thread's chdir overlapped (each is
    # refused): the secret is never read. The Python core cannot hold chdir: a documented limit
    if core == "native":
        assert lines.get("race") == "held", result.stdout + result.stderr
        assert not (tmp_path / "secret" / "made.db").exists()
        assert not (tmp_path / "secret" / "attached.db").exists()


# A thread that puts the secret's folder under a dir_fd's number with os.dup2 (no audit event)
# while names relative to it are decided, taking the folder back out of the descriptor table
# each time (it waits in a Unix socket's queue, where the hook's listing of /proc/self/fd
# cannot see it), and puts the allowed folder back: red team 116's race, for every function
# that takes a dir_fd.
DIR_FD_SWAP = """
import socket, stat
sys.setswitchinterval(1e-6)
W = os.open(A, os.O_RDONLY | os.O_DIRECTORY)
E = os.open(BASE + "/secret", os.O_RDONLY | os.O_DIRECTORY)
near, far = socket.socketpair()
socket.send_fds(near, [b"x"], [E])
os.close(E)
D = os.dup(W)
stop, flips, denied = [], [0], [0]
def swap(source):
    while not stop:
        try:
            return os.dup2(source, D)
        except PermissionError:
            denied[0] += 1  # (refused while a call uses D: tried again)
def flip():
    inside = False
    while not stop:
        if not inside:
            _, fds, _, _ = socket.recv_fds(far, 1, 1)
            swap(fds[0])
            os.close(fds[0])
        else:
            socket.send_fds(near, [b"x"], [D])
            swap(W)
        inside = not inside
        flips[0] += 1
open(A + "/key.txt", "w").write("decoy")
open(A + "/moved.txt", "w").write("mine")
def read_key():
    fd = os.open("key.txt", os.O_RDONLY, dir_fd=D)
    try:
        return "LEAK" if b"TOP-SECRET" in os.read(fd, 100) else "read"
    finally:
        os.close(fd)
OPERATIONS = [
    ("read", read_key),
    ("create", lambda: os.close(os.open("made.txt", os.O_WRONLY | os.O_CREAT, dir_fd=D))),
    ("mkdir", lambda: os.mkdir("made-dir", dir_fd=D)),
    ("mkfifo", lambda: os.mkfifo("made-fifo", dir_fd=D)),
    ("symlink", lambda: os.symlink(A + "/key.txt", "made-link", dir_fd=D)),
    ("rename", lambda: os.rename(A + "/moved.txt", "moved.txt", dst_dir_fd=D)),
    ("chmod", lambda: os.chmod("key.txt", 0o666, dir_fd=D)),
    ("unlink", lambda: os.unlink("key.txt", dir_fd=D)),
    ("listdir", lambda: "LEAK" if "hidden-name" in os.listdir(D) else "listed"),
    ("scandir", lambda: "LEAK" if "hidden-name" in [e.name for e in os.scandir(D)] else "listed"),
    # and names through the descriptor's /proc link (red team 118), which io.open follows
    ("proc-list", lambda: "LEAK" if "hidden-name" in os.listdir(f"/proc/self/fd/{D}") else "listed"),
    ("proc-read", lambda: "LEAK" if "TOP" in open(f"/proc/self/fd/{D}/key.txt").read() else "read"),
    ("proc-write", lambda: open(f"/dev/fd/{D}/made.txt", "w").close()),
]
thread = threading.Thread(target=flip, daemon=True)
thread.start()
outcomes = {}
started = time.monotonic()
rounds = 0
while time.monotonic() - started < 4:
    rounds += 1
    for name, operation in OPERATIONS:
        try:
            got = operation()
        except PermissionError:
            got = "refused"
        except OSError:
            got = "kernel"
        outcomes.setdefault(name, set()).add(got or "done")
        for made in ("made.txt", "made-dir", "made-fifo", "made-link"):
            try:
                os.rmdir(A + "/" + made) if made == "made-dir" else os.unlink(A + "/" + made)
            except OSError:
                pass
        for mine, text in (("key.txt", "decoy"), ("moved.txt", "mine")):
            if not os.path.exists(A + "/" + mine):
                open(A + "/" + mine, "w").write(text)  # (removed or moved: again, for the next)
stop.append(1)
thread.join()
sys.setswitchinterval(0.005)
print("rounds", rounds, "flips", flips[0], "denied", denied[0])
for name, _ in OPERATIONS:
    print(name, " ".join(sorted(outcomes.get(name, ()))))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_red_team_116_a_thread_swapping_a_dir_fd_during_a_decision(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the allowed folder, the secret's folder (which may be opened, not listed, and none
    # of its files), and a descriptor that another thread keeps swapping between the two
    _scratch_profile(tmp_path, {"action": "read", "target": "{task}/secret", "phase": "any"})
    (tmp_path / "secret" / "hidden-name").write_text("")
    mode = (tmp_path / "secret" / "key.txt").stat().st_mode
    # WHEN names relative to it are read, made, moved there, changed and removed, by every
    # kind of function that takes a dir_fd, and it is listed (a descriptor for a path), for 4 s
    result = child(ENFORCE_INVOKE + DIR_FD_SWAP, env=audit_only(core), timeout=180)
    lines = dict(line.split(" ", 1) for line in result.lines)
    assert int(lines["rounds"].split()[0]) > 50, result.stdout + result.stderr
    secret = tmp_path / "secret"
    leaks = {
        "read": "LEAK" in lines["read"],
        "listed": "LEAK" in lines["listdir"] + lines["scandir"] + lines["proc-list"],
        "proc-read": "LEAK" in lines["proc-read"],
        "made": sorted(
            p.name for p in secret.iterdir() if p.name not in ("key.txt", "hidden-name")
        ),
        "key": (secret / "key.txt").read_text() if (secret / "key.txt").exists() else None,
        "mode": (secret / "key.txt").stat().st_mode if (secret / "key.txt").exists() else None,
    }
    # THEN the native core hands the kernel the name it decided (the folder's name joined to
    # the relative one, no descriptor), and holds a descriptor given for a path against
    # os.dup2 while the call uses it: nothing is read, made, moved, changed, removed or listed
    # in the secret's folder, while the allowed folder's names still work
    if core == "native":
        assert leaks == {
            "read": False,
            "listed": False,
            "proc-read": False,
            "made": [],
            "key": "TOP-SECRET\n",
            "mode": mode,
        }, result.stdout + result.stderr
        assert "read" in lines["read"].split() and "done" in lines["mkdir"].split(), result.stdout
        assert "listed" in lines["listdir"].split(), result.stdout
        assert "listed" in lines["proc-list"].split(), result.stdout
    # AND on both cores a name below the descriptor's /proc link is refused outright: the
    # kernel follows the link again at the system call (its folder cannot be decided)
    assert lines["proc-read"] == "refused" and lines["proc-write"] == "refused", result.stdout
    # (the Python core cannot hold the call: a documented limit, docs/ARCHITECTURE.md)


@pytest.mark.parametrize("core", ["native", "python"])
def test_names_relative_to_a_dir_fd_are_decided_where_the_kernel_resolves_them(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN descriptors on the allowed folder, on a folder since removed, on a file, and a
    # number no descriptor has
    _scratch_profile(tmp_path)
    (tmp_path / "allowed" / "sub").mkdir()
    code = (
        ENFORCE_INVOKE
        + ATTEMPT
        + """
D = os.open(A, os.O_RDONLY | os.O_DIRECTORY)
os.mkdir(A + "/gone")
GONE = os.open(A + "/gone", os.O_RDONLY | os.O_DIRECTORY)
os.rmdir(A + "/gone")
FILE = os.open(A + "/file.txt", os.O_WRONLY | os.O_CREAT)
FREE = os.dup(D)
os.close(FREE)
class Flip:  # a path object naming another place at each conversion
    names = ["made-by-flip", "../secret/made-by-flip"]
    def __fspath__(self):
        return self.names.pop(0)
class Text(str):
    pass
# WHEN names relative to them are made, read and removed
attempt("mkdir", lambda: os.mkdir("made", dir_fd=D))
attempt("open-sub", lambda: os.close(os.open("sub/../made/f", os.O_WRONLY | os.O_CREAT, dir_fd=D)))
attempt("bytes", lambda: os.mkdir(b"made-bytes", dir_fd=D))
attempt("escape", lambda: os.mkdir("../secret/made", dir_fd=D))
attempt("read-escape", lambda: os.open("../secret/key.txt", os.O_RDONLY, dir_fd=D))
flip = Flip()
attempt("flip-1", lambda: os.mkdir(flip, dir_fd=D))
attempt("flip-2", lambda: os.mkdir(flip, dir_fd=D))
attempt("removed", lambda: os.open("../secret/key.txt", os.O_RDONLY, dir_fd=GONE))
os.close(GONE)  # (the Python core refuses a relative os.open while one is held: see above)
attempt("subclass", lambda: os.mkdir(Text("made-text"), dir_fd=D))
for label, fd in (("file", FILE), ("free", FREE)):
    try:
        os.mkdir("x", dir_fd=fd)
        print(label, "ALLOWED")
    except PermissionError:
        print(label, "BLOCKED")
    except OSError as exc:
        print(label, "kernel", exc.errno)
for label, call in (("empty", lambda: os.rmdir("", dir_fd=D)),):
    try:
        call()
        print(label, "ALLOWED")
    except PermissionError:
        print(label, "BLOCKED")
    except OSError as exc:
        print(label, "kernel", exc.errno)
try:
    os.open("nope", os.O_RDONLY, dir_fd=D)
except PermissionError:
    print("missing BLOCKED")  # (the Python core: decided from the working directory too)
except FileNotFoundError as exc:
    print("missing", repr(exc.filename))
print("rename", os.rename("made", "renamed", src_dir_fd=D, dst_dir_fd=D) or "done")
print("unlink", os.unlink("renamed/f", dir_fd=D) or "done")
print("listed", sorted(os.listdir(D)))
"""
    )
    result = child(code, env=audit_only(core))
    outcomes = dict(line.split(" ", 1) for line in result.lines)
    blocked = "BLOCKED PermissionViolation files"
    # THEN names inside the allowed folder are made, moved and removed; a name that leads out
    # of it is refused before anything is made; a descriptor on a removed folder (from which
    # the kernel still resolves "..") and a name that is not a plain str are refused
    assert outcomes["mkdir"] == "ALLOWED" and outcomes["open-sub"] == "ALLOWED", result.stdout
    assert outcomes["bytes"] == "ALLOWED", result.stdout
    assert outcomes["escape"] == f"{blocked} write", result.stdout + result.stderr
    assert outcomes["read-escape"] == f"{blocked} read", result.stdout
    assert outcomes["flip-2"] == f"{blocked} write", result.stdout
    assert outcomes["removed"].startswith(blocked), result.stdout
    assert outcomes["subclass"].startswith(blocked), result.stdout
    assert outcomes["rename"] == "done" and outcomes["unlink"] == "done", result.stdout
    # AND a descriptor on a file, or none, never makes anything: the native core gives the
    # kernel's own error without the call (a folder landing on the number by then would lead
    # the name elsewhere: red team 118); the Python core refuses what it cannot name
    if core == "native":
        assert outcomes["file"] == f"kernel {errno.ENOTDIR}", result.stdout
        assert outcomes["free"] == f"kernel {errno.EBADF}", result.stdout
    else:
        assert outcomes["file"] in ("BLOCKED", f"kernel {errno.ENOTDIR}"), result.stdout
        assert outcomes["free"] in ("BLOCKED", f"kernel {errno.EBADF}"), result.stdout
    # AND the empty name is the kernel's ENOENT, and an error names the path as given
    assert outcomes["empty"] == f"kernel {errno.ENOENT}", result.stdout
    assert outcomes["missing"] in (("'nope'",) if core == "native" else ("'nope'", "BLOCKED"))
    assert sorted(p.name for p in (tmp_path / "secret").iterdir()) == ["key.txt"]
    # AND a path object is converted once, before the event (by CPython's parser; on the
    # native core by its holder of the function, as the parser would), so each name it gives
    # is decided as the name the call gets
    assert outcomes["flip-1"] == "ALLOWED", result.stdout
    made = sorted(p.name for p in (tmp_path / "allowed").iterdir())
    assert made == ["file.txt", "made-by-flip", "made-bytes", "renamed", "sub"], made


@pytest.mark.parametrize("core", ["native", "python"])
def test_names_relative_to_a_dir_fd_follow_its_folder_when_it_moves(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a descriptor on an allowed folder, used once (its name is then kept: the next
    # relative name is joined to it without a read of /proc), and a process started before
    # the sandbox -- one the sandbox never sees -- that moves the folder when asked
    _scratch_profile(tmp_path)
    (tmp_path / "allowed" / "box").mkdir()
    code = (
        """
import subprocess
MOVER = subprocess.Popen(
    ["sh", "-c", "while [ ! -e go ]; do sleep 0.01; done; mv again unseen; touch moved"],
    cwd="allowed",
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
"""
        + ENFORCE_INVOKE
        + """
D = os.open(A + "/box", os.O_RDONLY | os.O_DIRECTORY)
for name in ("d1", "d2", "d3"):
    os.mkdir(name, dir_fd=D)
print("listed", sorted(os.listdir(D)))
# WHEN the folder is moved by the function (a change the sandbox sees), then by the other
# process (one it does not), and names relative to the descriptor are used after each move
os.rename(A + "/box", A + "/again")
os.rmdir("d1", dir_fd=D)
os.rmdir("d3", dir_fd=D)
os.close(os.open(A + "/go", os.O_WRONLY | os.O_CREAT))
while not os.path.exists(A + "/moved") and MOVER.poll() is None:
    time.sleep(0.01)
os.rmdir("d2", dir_fd=D)
os.mkdir("sub", dir_fd=D)
print("left", sorted(os.listdir(A + "/unseen")))
"""
    )
    result = child(code, env=audit_only(core))
    # THEN each name is used in the folder the descriptor is open on, wherever it is now
    assert "listed ['d1', 'd2', 'd3']" in result.lines, result.stdout + result.stderr
    assert "left ['sub']" in result.lines, result.stdout + result.stderr
    assert sorted(p.name for p in (tmp_path / "allowed").iterdir()) == [
        "go",
        "moved",
        "unseen",
    ]


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_rename_or_link_from_a_removed_folders_descriptor_is_a_files_refusal(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a descriptor on a folder since removed (no name joins to it: the kernel still
    # resolves ".." from it)
    _scratch_profile(tmp_path)
    code = (
        ENFORCE_INVOKE
        + """
os.mkdir(A + "/gone")
G = os.open(A + "/gone", os.O_RDONLY | os.O_DIRECTORY)
os.rmdir(A + "/gone")
# WHEN names relative to it are renamed, linked and made links
for label, call in (
    ("rename", lambda: os.rename("../../secret/key.txt", "k", src_dir_fd=G, dst_dir_fd=G)),
    ("link", lambda: os.link("../../secret/key.txt", "k", src_dir_fd=G, dst_dir_fd=G)),
    ("symlink", lambda: os.symlink("x", "../l", dir_fd=G)),
):
    try:
        call()
        print(label, "ALLOWED")
    except PermissionError as exc:
        print(label, getattr(exc, "category", "kernel"))
"""
    )
    result = child(code, env=audit_only(core))
    # THEN each is refused as a change of files (an undecodable name), not by an error inside
    # the sandbox's own decision (a marker with a NUL was looked up: "embedded null byte")
    assert result.lines == ["rename files", "link files", "symlink files"], result.stdout
    assert '"sandbox.error"' not in result.stdout + result.stderr, result.stdout
    assert sorted(p.name for p in (tmp_path / "secret").iterdir()) == ["key.txt"]


def _climb_profile(tmp_path: Path) -> None:
    """The scratch profile, folders allowed/a/b/c and a decoy allowed/a/secret/key.txt: from
    c, "../../secret/key.txt" is the decoy where the sandbox decides it, and would be the
    real secret were c moved to allowed/c between the decision and the system call."""
    _scratch_profile(tmp_path)
    for folder in ("allowed/a/b/c", "allowed/a/secret"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "allowed/a/secret/key.txt").write_text("decoy\n")


def _climbs(
    child: RunChild, tmp_path: Path, core: str, body: str, before: str = ""
) -> tuple[dict[str, str], Any]:
    """Run ``body`` in an enforcing invoke phase over :func:`_climb_profile`'s folders (with
    ``attempt``, ``A`` the allowed folder and ``C`` its ``a/b/c``), ``before`` ahead of the
    install; the outcomes by label, and the run."""
    _climb_profile(tmp_path)
    code = before + ENFORCE_INVOKE + ATTEMPT + 'C = A + "/a/b/c"\n' + body
    result = child(code, env=audit_only(core))
    return dict(line.split(" ", 1) for line in result.lines), result


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_climb_over_a_folder_a_child_could_move_is_refused_once_one_exists(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN folders inside the allowed one, a decoy secret there, and names that climb out of
    # a folder with ".." (red team 123: a forked child moved the folder between the decision
    # and the system call, and "c/../../secret" led to the real secret)
    outcomes, result = _climbs(
        child,
        tmp_path,
        core,
        """
# WHEN the names are opened before any child process exists, and after one has run
attempt("before", lambda: open(C + "/../../secret/key.txt").read())
os.chdir(C)
attempt("before-relative", lambda: open("../../secret/key.txt").read())
subprocess.run(["/bin/true"], check=True)
attempt("after", lambda: open(C + "/../../secret/key.txt").read())
attempt("after-relative", lambda: open("../../secret/key.txt").read())
attempt("after-plain", lambda: open(A + "/a/secret/key.txt").read())
# (a child's own links in /proc: it can re-point them, os.chdir or os.dup2, at any moment)
READ_END, WRITE_END = os.pipe()
PID = os.fork()
if PID == 0:
    try:
        os.close(WRITE_END)  # (the parent's end only: its exit ends the wait)
        os.chdir(A + "/a/secret")
        os.read(READ_END, 1)
    finally:
        os._exit(0)
os.close(READ_END)
attempt("child-cwd", lambda: open(f"/proc/{PID}/cwd/key.txt").read())
open(C + "/f.txt", "w").close()
attempt("own-cwd", lambda: open("/proc/self/cwd/f.txt").read())
os.write(WRITE_END, b"x")
os.waitpid(PID, 0)
""",
    )
    # THEN a climb is decided where it leads while nothing else can move the folders (no
    # child, no other thread: see the next test); once a child exists, a climb over a folder
    # that can be moved (its own folder writable) is refused before the open, and the same
    # file by its plain name is still read
    assert outcomes["before"] == "ALLOWED" and outcomes["before-relative"] == "ALLOWED", (
        result.stdout + result.stderr
    )
    assert outcomes["after"].startswith("BLOCKED PermissionViolation files read"), result.stdout
    assert outcomes["after-relative"].startswith("BLOCKED PermissionViolation files read")
    assert outcomes["after-plain"] == "ALLOWED", result.stdout
    # AND a name through a child's link in /proc is refused, one through the process's own not
    assert outcomes["child-cwd"].startswith("BLOCKED PermissionViolation files read"), result.stdout
    assert outcomes["own-cwd"] == "ALLOWED", result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize("starter", ["python", "c"])
def test_a_climb_over_a_folder_another_thread_could_move_is_refused_while_one_exists(
    child: RunChild, tmp_path: Path, core: str, starter: str
) -> None:
    # GIVEN folders inside the allowed one, a decoy secret there, and names that climb out of a
    # folder with ".." -- plainly and through /proc/self/cwd (red team 125: a thread swapped a
    # link the name climbed from between the decision and the system call, and the kernel's
    # ".." led to the real secret; the thread's renames are events, but they come after the
    # decision). Another thread, started by Python (threading) or by C code, which Python
    # does not count (pthread_create, made here before the sandbox: a function may not load
    # ctypes, an extension it ships may start threads)
    if starter == "c":
        start = """
import ctypes
_libc = ctypes.CDLL(None)
_create, _sleep = _libc.pthread_create, ctypes.cast(_libc.sleep, ctypes.c_void_p)  # (before install)
def start_thread(seconds):
    ident = ctypes.c_ulong()
    assert _create(ctypes.byref(ident), None, _sleep, ctypes.c_void_p(seconds)) == 0
    return ident
"""
    else:
        start = """
import threading as _threading
_stop = _threading.Event()
def start_thread(seconds):
    worker = _threading.Thread(target=_stop.wait, args=(seconds,), daemon=True)
    worker.start()
    return worker
"""
    outcomes, result = _climbs(
        child,
        tmp_path,
        core,
        """
os.chdir(A + "/a/b")
# WHEN the names are opened while the process has one thread, then while another runs
attempt("alone", lambda: open(C + "/../../secret/key.txt").read())
attempt("alone-again", lambda: open(C + "/../../secret/key.txt").read())
attempt("alone-proc", lambda: open("/proc/self/cwd/c/../../secret/key.txt").read())
THREAD = start_thread(60)
attempt("thread-proc", lambda: open("/proc/self/cwd/c/../../secret/key.txt").read())
attempt("thread", lambda: open(C + "/../../secret/key.txt").read())
attempt("thread-relative", lambda: open("c/../../secret/key.txt").read())
attempt("thread-plain", lambda: open(A + "/a/secret/key.txt").read())
""",
        before=start,
    )
    # THEN a climb is decided where it leads while nothing else can move the folders (the
    # same name twice: an answer that depended on it is not kept for a later call)
    assert outcomes["alone"] == "ALLOWED", result.stdout + result.stderr
    assert outcomes["alone-again"] == "ALLOWED" and outcomes["alone-proc"] == "ALLOWED"
    # AND while another thread exists a climb over a folder that can be moved is refused
    # before the open, however the name is spelled; the same file by its plain name is read
    for label in ("thread", "thread-proc", "thread-relative"):
        assert outcomes[label].startswith("BLOCKED PermissionViolation files read"), (
            label,
            result.stdout,
        )
    assert outcomes["thread-plain"] == "ALLOWED", result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_climb_in_a_protected_python_child_is_refused_where_its_parent_could_move_the_folder(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a function that may run Python, and a climb out of a folder inside the allowed
    # one: the function (the child's parent) runs on while the child decides, and can move
    # the folder with no event in the child -- the race of red team 123 the other way round
    _climb_profile(tmp_path)
    profile = json.loads((tmp_path / "profile.json").read_text())
    for program in {sys.executable, os.path.realpath(sys.executable)}:
        profile["rules"]["processes"].append({"action": "exec", "target": program})
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    code = """
import os, sys, subprocess, sandbox
sandbox.install(mode="enforce", profile="profile.json")
A = os.getcwd() + "/allowed"
C = A + "/a/b/c"
def attempt(label, fn):
    try:
        fn()
        print(label, "ALLOWED", flush=True)
    except PermissionError as exc:
        print(label, "BLOCKED", type(exc).__name__, getattr(exc, "category", None), flush=True)
attempt("parent", lambda: open(C + "/../../secret/key.txt").read())
# WHEN a protected Python child (init phase: its -c code is the function's own) opens the
# same names
CHILD = f'''
def attempt(label, fn):
    try:
        fn()
        print(label, "ALLOWED", flush=True)
    except PermissionError as exc:
        print(label, "BLOCKED", type(exc).__name__, getattr(exc, "category", None), flush=True)
attempt("child", lambda: open({C!r} + "/../../secret/key.txt").read())
attempt("child-plain", lambda: open({A!r} + "/a/secret/key.txt").read())
'''
subprocess.run([sys.executable, "-c", CHILD], check=True)
"""
    result = child(code, env=audit_only(core))
    outcomes = dict(line.split(" ", 1) for line in result.lines)
    # THEN the parent, alone, decides the climb; the child refuses it (another process, its
    # parent, could move the folder) and reads the same file by its plain name
    assert outcomes["parent"] == "ALLOWED", result.stdout + result.stderr
    assert outcomes["child"] == "BLOCKED PermissionViolation files", result.stdout + result.stderr
    assert outcomes["child-plain"] == "ALLOWED", result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_process_this_one_did_not_start_is_not_seen_by_the_climb_check(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a process of the same user that the sandbox did not see start (here started
    # before it; red team 128 used an orphan an earlier sandboxed process left behind, which
    # renamed folders in a loop), and a climb out of a folder inside the allowed one
    outcomes, result = _climbs(
        child,
        tmp_path,
        core,
        """
# WHEN the climbing name is opened while that process runs
attempt("other-process", lambda: open(C + "/../../secret/key.txt").read())
OTHER.stdin.close()
""",
        before="""
import subprocess
OTHER = subprocess.Popen(["cat"], stdin=subprocess.PIPE)  # (ends when its input does)
""",
    )
    # THEN it is decided as if nothing else could move the folder: a documented limit (the
    # threat model's "still open"; the fix is to hand the kernel the decided name itself)
    assert outcomes["other-process"] == "ALLOWED", result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_climb_is_refused_on_the_python_core_while_a_signal_handler_could_move_the_folder(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a process with no child and no other thread, a climb out of a folder inside the
    # allowed one, and a signal handler of the function's (red team 126: a SIGALRM handler
    # swapped a link the name climbed from; the Python core decides in Python code, so the
    # handler ran between its walk and the open, ~2 % of opens won the secret)
    outcomes, result = _climbs(
        child,
        tmp_path,
        core,
        """
import signal
# WHEN the name is opened with only Python's own SIGINT handler, then with one of the function's
attempt("no-handler", lambda: open(C + "/../../secret/key.txt").read())
signal.signal(signal.SIGALRM, lambda number, frame: None)
attempt("handler", lambda: open(C + "/../../secret/key.txt").read())
attempt("handler-plain", lambda: open(A + "/a/secret/key.txt").read())
signal.signal(signal.SIGALRM, signal.SIG_DFL)
attempt("handler-gone", lambda: open(C + "/../../secret/key.txt").read())
""",
    )
    # THEN the native core decides the climb either way (it runs handlers after the system
    # call); the Python core refuses it while a handler that could run inside its decision is
    # set, and decides it again once none is; the plain name is read on both
    assert outcomes["no-handler"] == "ALLOWED", result.stdout + result.stderr
    assert outcomes["handler-plain"] == "ALLOWED", result.stdout
    assert outcomes["handler-gone"] == "ALLOWED", result.stdout
    if core == "native":
        assert outcomes["handler"] == "ALLOWED", result.stdout
    else:
        assert outcomes["handler"].startswith("BLOCKED PermissionViolation files read"), (
            result.stdout
        )


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_proc_link_is_followed_only_where_its_text_leads_to_its_object(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a working directory since removed (/proc/self/cwd reads "<name> (deleted)"), a
    # descriptor on a file since removed, and links of the function's planted under both
    # "(deleted)" names, leading deeper into the allowed folder (red team 119)
    _scratch_profile(tmp_path)
    code = (
        ENFORCE_INVOKE
        + ATTEMPT
        + """
os.makedirs(A + "/x/y/z")
os.mkdir(A + "/d")
os.chdir(A + "/d")
os.rmdir(A + "/d")
os.symlink(A + "/x/y/z", A + "/d (deleted)")
open(A + "/gone.txt", "w").write("mine")
N = os.open(A + "/gone.txt", os.O_RDONLY)
os.unlink(A + "/gone.txt")
open(A + "/planted.txt", "w").write("planted")
os.symlink(A + "/planted.txt", A + "/gone.txt (deleted)")
# WHEN names through those /proc links are opened: the kernel follows each link to its
# object (the removed folder, whose ".." is the allowed folder; the removed file), never the
# text
attempt("cwd-climb", lambda: open("/proc/self/cwd/../../secret/key.txt").read())
attempt("cwd-list", lambda: os.listdir("/proc/self/cwd/../.."))
attempt("fd-write", lambda: open(f"/proc/self/fd/{N}", "w").close())
attempt("exe", lambda: open("/proc/self/exe", "rb").close())
"""
    )
    result = child(code, env=audit_only(core))
    outcomes = dict(line.split(" ", 1) for line in result.lines)
    # THEN each name whose link text leads elsewhere than its object is refused, as a name
    # the sandbox cannot resolve: the secret's folder is neither read nor listed
    for label in ("cwd-climb", "cwd-list", "fd-write"):
        assert outcomes[label].startswith("BLOCKED"), result.stdout + result.stderr
    targets = [f["target"] for f in result.findings]
    assert len(targets) == 3 and all("unresolvable path: /proc/self/" in t for t in targets), (
        targets
    )
    assert (tmp_path / "allowed" / "planted.txt").read_text() == "planted"
    # AND a link whose text leads to its object is followed as before: the interpreter's
    # file, which the runtime's rules let the function read
    assert outcomes["exe"] == "ALLOWED", result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
def test_red_team_120_a_link_planted_while_the_cwds_text_is_walked(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a working directory two folders deep in the allowed folder, a decoy folder as
    # deep one level further, and a thread that keeps renaming the working directory's parent
    # away and planting a link in its place to the decoy (every change allowed): the text of
    # /proc/self/cwd then leads, while it is walked, into the decoy, from which "../../.."
    # stays in the allowed folder -- the kernel climbs from the real folder to the secret's
    _scratch_profile(tmp_path)
    code = (
        ENFORCE_INVOKE
        + """
os.makedirs(A + "/d/e")
os.makedirs(A + "/p/q/e")
os.chdir(A + "/d/e")
NAME = "/proc/self/cwd/../../../secret/key.txt"
stop = []
def flip():
    while not stop:
        try:
            os.rename(A + "/d", A + "/dd")
            os.symlink("p/q", A + "/d")
            os.remove(A + "/d")
            os.rename(A + "/dd", A + "/d")
        except OSError:
            pass
thread = threading.Thread(target=flip)
thread.start()
sys.setswitchinterval(1e-6)
outcomes = set()
started = time.monotonic()
while time.monotonic() - started < 3:
    try:
        outcomes.add("LEAK" if "TOP-SECRET" in open(NAME).read() else "read")
    except PermissionError:
        outcomes.add("refused")
    except OSError:
        outcomes.add("kernel")
stop.append(1)
thread.join()
sys.setswitchinterval(0.005)
print("outcomes", " ".join(sorted(outcomes)))
"""
    )
    # WHEN the name through /proc/self/cwd is opened again and again for 3 s
    result = child(code, env=audit_only(core), timeout=120)
    # THEN the secret is never read, on either core: the walk of the link's text is checked
    # after it ends to have reached the working directory itself, with no link on the way
    assert result.lines[-1].startswith("outcomes"), result.stdout + result.stderr
    assert "LEAK" not in result.lines[-1], result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
def test_os_mknod_and_mkfifo_are_decided_as_writes_of_the_name_on_the_native_core(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a folder whose names may be written, and the kernel layers off (seccomp refuses
    # mknodat where it loads; on Lambda it does not): CPython raises no event for either call
    _scratch_profile(tmp_path)
    code = (
        "import os\nOUT_FD = os.open('outside', os.O_RDONLY | os.O_DIRECTORY)\n"
        + ENFORCE_INVOKE
        + ATTEMPT
        + """
import stat
out = BASE + "/outside"
attempt("fifo-allowed", lambda: os.mkfifo(A + "/fifo"))
attempt("fifo-outside", lambda: os.mkfifo(out + "/fifo"))
attempt("regular-outside", lambda: os.mknod(out + "/file", 0o600 | stat.S_IFREG))
attempt("fifo-by-name", lambda: os.mknod(path=out + "/named", mode=0o600 | stat.S_IFIFO))
attempt("device-allowed", lambda: os.mknod(A + "/dev", 0o600 | stat.S_IFCHR, os.makedev(1, 3)))
attempt("path-object", lambda: os.mkfifo(__import__("pathlib").Path(A + "/p")))
# keywords named by a str subclass, which CPython's parser matches by text (red team 108): a
# folder descriptor outside, from a working folder the name may be written in; a device's mode
class K(str):
    pass
os.chdir(A)
attempt("dir_fd-keyword", lambda: os.mkfifo("subclassed", **{K("dir_fd"): OUT_FD}))
attempt("mode-keyword", lambda: os.mknod(A + "/dev2", **{K("mode"): 0o600 | stat.S_IFCHR,
                                                      K("device"): os.makedev(1, 3)}))
"""
    )
    result = child(code, env=audit_only(core))
    made = sorted(p.name for p in (tmp_path / "outside").iterdir())
    # THEN on the native core each is a write of its name: allowed in the folder, refused
    # outside it (nothing made there), a device node refused anywhere; a path object is
    # converted once before the event (the core's holder of path functions), so the name
    # decided is the name the call gets: allowed in the folder
    if core == "native":
        assert result.lines == [
            "fifo-allowed ALLOWED",
            "fifo-outside BLOCKED PermissionViolation files write",
            "regular-outside BLOCKED PermissionViolation files write",
            "fifo-by-name BLOCKED PermissionViolation files write",
            "device-allowed BLOCKED PermissionViolation files write",
            "path-object ALLOWED",
            "dir_fd-keyword BLOCKED PermissionViolation files write",
            "mode-keyword BLOCKED PermissionViolation files write",
        ], result.stdout + result.stderr
        assert made == []
        return
    # AND the Python core cannot see them (a documented limit): every name is made
    assert made == ["fifo", "file", "named", "subclassed"], result.stdout + result.stderr


SHM_ATTEMPTS = (
    """
import os, sys
import _posixshmem
NAME = sys.argv[1] if len(sys.argv) > 1 else os.environ["SHM_NAME"]
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
"""
    + ATTEMPT
    + """
def made(name, flags):
    os.close(_posixshmem.shm_open(name, flags, 0o600))
class Flips:
    # read-only at a first look, a create at the next (the original reads flags again)
    def __init__(self):
        self.seen = 0
    def __index__(self):
        self.seen += 1
        return os.O_RDONLY if self.seen == 1 else os.O_CREAT | os.O_RDWR
attempt("make-allowed", lambda: made("/" + NAME + "-ok", os.O_CREAT | os.O_RDWR))
attempt("read-allowed", lambda: made(NAME + "-ok", os.O_RDONLY))
attempt("unlink-allowed", lambda: _posixshmem.shm_unlink("//" + NAME + "-ok"))
attempt("make-other", lambda: made("/other-" + NAME, os.O_CREAT | os.O_RDWR))
attempt("read-victim", lambda: made("victim-" + NAME, os.O_RDONLY))
attempt("unlink-victim", lambda: _posixshmem.shm_unlink(path="victim-" + NAME))
def flip():
    fd = _posixshmem.shm_open(path=NAME + "-ro", flags=Flips(), mode=0o600)
    import fcntl
    print("flags-flip opened", "rdonly" if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY else "writable")
    os.close(fd)
attempt("flags-flip", flip)
# the longest names the kernel takes (red team 131: 254 and 255 bytes passed undecided once)
attempt("make-longest", lambda: made("/" + NAME[:8] + "z" * 247, os.O_CREAT | os.O_RDWR))
def refused_by_glibc():
    try:
        made("a/b", os.O_CREAT | os.O_RDWR)
    except OSError as exc:
        print("slash-name errno", exc.errno)
attempt("slash-name", refused_by_glibc)
# a keyword named by a str subclass, and the same keyword twice: the seal takes only exact
# names, each once, and refuses what it cannot read rather than pass it on (red team 133:
# matched by text here and by identity in the parser, two keywords could name two values)
class K(str):
    pass
def subclassed_keyword():
    try:
        _posixshmem.shm_open(**{K("path"): "other-" + NAME, "flags": os.O_CREAT | os.O_RDWR})
    except TypeError:
        print("keyword-subclass refused TypeError")
attempt("keyword-subclass", subclassed_keyword)
def too_many():
    try:
        _posixshmem.shm_unlink("victim-" + NAME, "x")
    except TypeError:
        print("too-many refused TypeError")
attempt("too-many", too_many)
"""
)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm on this machine")
@pytest.mark.parametrize("core", ["native", "python"])
def test_posix_shared_memory_files_are_decided_as_their_dev_shm_names_on_the_native_core(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a profile that learned the import of _posixshmem (multiprocessing.shared_memory)
    # and may read and write /dev/shm/<name>-*, but may only read /dev/shm/<name>-ro; glibc's
    # shm_open and shm_unlink make, open and remove /dev/shm files with no CPython audit event
    name = f"lsb-{os.getpid()}-{tmp_path.name}"[:80]
    shm = Path("/dev/shm")
    (shm / f"victim-{name}").write_text("victim")
    (shm / f"{name}-ro").write_text("read only")
    profile = profile_doc(
        modules=[{"action": "import", "target": "_posixshmem", "phase": "any"}],
        files=[
            {"action": action, "target": f"/dev/shm/{name}-ok", "phase": "any"}
            for action in ("read", "write")
        ]
        + [{"action": "read", "target": f"/dev/shm/{name}-ro", "phase": "any"}],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    try:
        # WHEN the function makes, opens and removes names through _posixshmem, allowed and
        # not, with a flags object that answers read-only once and a create after
        result = child(SHM_ATTEMPTS, env=audit_only(core, SHM_NAME=name))
        victim_left = (shm / f"victim-{name}").exists()
        other_made = (shm / f"other-{name}").exists()
    finally:
        longest = name[:8] + "z" * 247
        for leftover in (f"victim-{name}", f"{name}-ro", f"{name}-ok", f"other-{name}", longest):
            (shm / leftover).unlink(missing_ok=True)
    if core == "native":
        # THEN on the native core each call is the open or removal of the file glibc names
        # (leading slashes dropped), decided before it runs: allowed where the rules allow it,
        # refused elsewhere with nothing made or removed, and the flags decided are the flags
        # the call gets (read once, as an exact int)
        assert result.lines == [
            "make-allowed ALLOWED",
            "read-allowed ALLOWED",
            "unlink-allowed ALLOWED",
            "make-other BLOCKED PermissionViolation files read",
            "read-victim BLOCKED PermissionViolation files read",
            "unlink-victim BLOCKED PermissionViolation files write",
            "flags-flip opened rdonly",
            "flags-flip ALLOWED",
            "make-longest BLOCKED PermissionViolation files read",
            "slash-name errno 22",
            "slash-name ALLOWED",
            "keyword-subclass refused TypeError",
            "keyword-subclass ALLOWED",
            "too-many refused TypeError",
            "too-many ALLOWED",
        ], result.stdout + result.stderr
        assert victim_left and not other_made
        return
    # AND the Python core cannot see them (a documented limit): the victim is read and removed
    assert "unlink-victim ALLOWED" in result.lines, result.stdout + result.stderr
    assert not victim_left and other_made


SEM_ATTEMPTS = (
    """
import os, sys
import _multiprocessing
NAME = os.environ["SEM_NAME"]
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
"""
    + ATTEMPT
    + """
SemLock = _multiprocessing.SemLock
attempt("make-allowed", lambda: SemLock(1, 1, 1, "/" + NAME + "-ok", False))
attempt("reopen-allowed", lambda: SemLock._rebuild(0, 1, 1, NAME + "-ok"))
attempt("unlink-allowed", lambda: _multiprocessing.sem_unlink("//" + NAME + "-ok"))
attempt("make-other", lambda: SemLock(kind=1, value=1, maxvalue=1, name="/other-" + NAME, unlink=False))
attempt("reopen-victim", lambda: SemLock._rebuild(0, 1, 1, "/victim-" + NAME))
attempt("unlink-victim", lambda: _multiprocessing.sem_unlink("victim-" + NAME))
# made and removed at once: both decided, before the file is made
attempt("make-unlinked", lambda: SemLock(1, 1, 1, "/" + NAME + "-ro", True))
class Truth:
    # an unlink flag that is not an int may answer differently each time: decided as true
    def __bool__(self):
        return False
attempt("make-truth", lambda: SemLock(1, 1, 1, "/" + NAME + "-ro", Truth()))
# through __new__, and through a subclass (which copies the type's constructor)
attempt("new-other", lambda: SemLock.__new__(SemLock, 1, 1, 1, "/other-" + NAME, False))
class Mine(SemLock):
    pass
attempt("subclass-other", lambda: Mine(1, 1, 1, "/other-" + NAME, False))
class K(str):
    pass
def subclassed_keyword():
    try:
        SemLock(1, 1, 1, unlink=False, **{K("name"): "/other-" + NAME})
    except TypeError:
        print("keyword-subclass refused TypeError")
attempt("keyword-subclass", subclassed_keyword)
def refused_by_glibc():
    try:
        SemLock(1, 1, 1, "a/b", True)
    except OSError as exc:
        print("slash-name errno", exc.errno)
attempt("slash-name", refused_by_glibc)
"""
)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm on this machine")
@pytest.mark.parametrize("core", ["native", "python"])
def test_multiprocessing_semaphore_files_are_decided_as_their_dev_shm_names_on_the_native_core(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a profile that learned the import of _multiprocessing (multiprocessing's locks and
    # queues) and may read and write /dev/shm/sem.<name>-ok but only read .../sem.<name>-ro;
    # glibc's sem_open and sem_unlink make, open and remove /dev/shm/sem.* files with no
    # CPython audit event
    name = f"lsb-{os.getpid()}-{tmp_path.name}"[:80]
    shm = Path("/dev/shm")
    (shm / f"sem.victim-{name}").write_bytes(bytes(32))
    profile = profile_doc(
        modules=[{"action": "import", "target": "_multiprocessing", "phase": "any"}],
        files=[
            {"action": action, "target": f"/dev/shm/sem.{name}-ok", "phase": "any"}
            for action in ("read", "write")
        ]
        + [{"action": "read", "target": f"/dev/shm/sem.{name}-ro", "phase": "any"}],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    try:
        # WHEN the function makes, reopens and removes semaphores, allowed and not
        result = child(SEM_ATTEMPTS, env=audit_only(core, SEM_NAME=name))
        victim_left = (shm / f"sem.victim-{name}").exists()
        made = sorted(p.name for p in shm.glob(f"sem.*{name}*"))
    finally:
        for leftover in shm.glob(f"sem.*{name}*"):
            leftover.unlink(missing_ok=True)
    if core == "native":
        # THEN on the native core each is the open or removal of the file glibc names, decided
        # before it runs: allowed where the rules allow it, refused elsewhere with nothing made
        # or removed (a make that unlinks at once needs the write too)
        assert result.lines == [
            "make-allowed ALLOWED",
            "reopen-allowed ALLOWED",
            "unlink-allowed ALLOWED",
            "make-other BLOCKED PermissionViolation files read",
            "reopen-victim BLOCKED PermissionViolation files read",
            "unlink-victim BLOCKED PermissionViolation files write",
            "make-unlinked BLOCKED PermissionViolation files write",
            "make-truth BLOCKED PermissionViolation files write",
            "new-other BLOCKED PermissionViolation files read",
            "subclass-other BLOCKED PermissionViolation files read",
            "keyword-subclass refused TypeError",
            "keyword-subclass ALLOWED",
            "slash-name errno 22",
            "slash-name ALLOWED",
        ], result.stdout + result.stderr
        assert victim_left and made == [f"sem.victim-{name}"]
        return
    # AND the Python core cannot see them (a documented limit): the victim is removed and
    # other files are made
    assert "unlink-victim ALLOWED" in result.lines, result.stdout + result.stderr
    assert not victim_left and f"sem.other-{name}" in made
