"""Hardening I: the audit layer decides on what the operation will really do (one subprocess per case).

Each class of attack is shown working with the sandbox off and refused under enforce with the
audit layer alone (``SANDBOX_SECCOMP=off``, ``SANDBOX_LANDLOCK=off``: on Lambda the kernel
layers are usually unavailable), and where it matters with the kernel layers on too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Child, RunChild, profile_doc

AUDIT_ALONE = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}
KERNEL_ON: dict[str, str] = {}
LAYERS = pytest.mark.parametrize(
    "layers", [AUDIT_ALONE, KERNEL_ON], ids=["audit-alone", "kernel-on"]
)

PROFILE = profile_doc(
    files=[
        {"action": "read", "target": "{task}/allowed.txt", "phase": "any"},
        {"action": "read", "target": "{task}/public/**", "phase": "any"},
        {"action": "list", "target": "{task}/public/**", "phase": "any"},
    ],
    network=[{"action": "connect", "target": "localhost:8080", "phase": "any"}],
    processes=[
        {
            "action": "exec",
            "target": "/usr/bin/wc",
            "argv": ["-c", "{task}/allowed.txt"],
            "phase": "any",
        }
    ],
)

# Child-side harness: install (or not), enter the invoke phase, run the attack, print outcomes.
HARNESS = """
import os, sys, socket, subprocess
MODE = {mode!r}
if MODE != "off":
    import sandbox
    from sandbox.runtime.control import mark_invoke_phase
    sandbox.install(mode=MODE, profile="profile.json")
    mark_invoke_phase()
def attempt(label, fn):
    try:
        result = fn()
        print(label, "DONE", repr(result)[:60])
    except PermissionError as exc:
        print(label, "REFUSED", getattr(exc, "category", "?"))
    except Exception as exc:
        print(label, "ERROR", type(exc).__name__)
"""


def _setup(tmp_path: Path) -> None:
    (tmp_path / "profile.json").write_text(json.dumps(PROFILE))
    (tmp_path / "secret.txt").write_text("s3cr3t")
    (tmp_path / "allowed.txt").write_text("ok")
    (tmp_path / "public").mkdir(exist_ok=True)
    (tmp_path / "public" / "page.txt").write_text("public")


def _run(child: RunChild, tmp_path: Path, attack: str, mode: str, layers: dict[str, str]) -> Child:
    _setup(tmp_path)
    return child(HARNESS.format(mode=mode) + attack, env=layers)


def _outcomes(result: Child) -> dict[str, str]:
    return {line.split(" ", 2)[0]: line.split(" ", 2)[1] for line in result.lines if " " in line}


# ------------------------------------------------------------------ class 1: hostile objects

HOSTILE = """
class Liar(str):
    def __fspath__(self): return "allowed.txt"
    def lower(self): return "allowed.txt"
    def strip(self, *a): return "allowed.txt"
    def __format__(self, spec): return "allowed.txt"
    def __eq__(self, other): return True
    def __hash__(self): return hash("allowed.txt")
class Flip:
    n = 0
    def __fspath__(self):
        Flip.n += 1
        return "secret.txt" if Flip.n % 2 else "allowed.txt"
class BytesLiar(bytes):
    def decode(self, *a, **k): return "allowed.txt"
attempt("str-subclass", lambda: open(Liar("secret.txt")).read())
attempt("bytes-subclass", lambda: open(BytesLiar(b"secret.txt")).read())
attempt("changing-pathlike", lambda: open(Flip()).read())
attempt("bytearray-path", lambda: os.open(bytearray(b"secret.txt"), os.O_RDONLY))
class Port(int):
    def __int__(self): return 8080
    def __index__(self): return 8080
    def __format__(self, spec): return "8080"
def connect_other_port():
    s = socket.socket(); s.settimeout(0.2)
    try:
        s.connect(("localhost", Port(8081)))
    finally:
        s.close()
attempt("int-subclass-port", connect_other_port)
class Host(str):
    def lower(self): return "localhost"
    def strip(self, *a): return "localhost"
    def rstrip(self, *a): return "localhost"
attempt("host-subclass", lambda: socket.getaddrinfo(Host("other.invalid"), 80))
attempt("argv-subclass", lambda: subprocess.run([Liar("/usr/bin/id")], capture_output=True))
"""


@LAYERS
def test_class1_hostile_argument_objects_are_refused(
    child: RunChild, tmp_path: Path, layers: dict[str, str]
) -> None:
    # GIVEN objects that answer one thing to the sandbox and another to the operating system
    # WHEN they are used without the sandbox THEN the reads and the connect happen
    off = _outcomes(_run(child, tmp_path, HOSTILE, "off", layers))
    assert off["str-subclass"] == "DONE" and off["changing-pathlike"] == "DONE"
    assert off["bytearray-path"] in ("DONE", "ERROR")
    # WHEN under enforce THEN every one is refused: the hook reads exact built-in types only,
    # and whatever it cannot read is refused, never "no access"
    result = _run(child, tmp_path, HOSTILE, "enforce", layers)
    outcome = _outcomes(result)
    for label in (
        "str-subclass",
        "bytes-subclass",
        "changing-pathlike",
        "int-subclass-port",
        "host-subclass",
        "argv-subclass",
    ):
        assert outcome[label] == "REFUSED", (label, result.stdout, result.stderr)
    assert outcome["bytearray-path"] in ("REFUSED", "ERROR"), result.stdout
    undecodable = [f for f in result.findings if f["target"].startswith("<")]
    assert undecodable and all(f["decision"] == "blocked" for f in undecodable)


# ------------------------------------------------------------------ class 2: dir_fd, fds, chdir

RELATIVE = """
pub = os.open("public", os.O_RDONLY)
attempt("dir-fd-traversal", lambda: os.read(os.open("../secret.txt", os.O_RDONLY, dir_fd=pub), 20))
attempt("dir-fd-remove", lambda: os.remove("../allowed.txt", dir_fd=pub))
attempt("fd-chmod", lambda: os.chmod(os.open("secret.txt", os.O_RDONLY) if False else pub, 0o777))
attempt("chdir-then-read", lambda: (os.chdir("public"), open("../secret.txt").read())[1])
"""


@LAYERS
def test_class2_paths_resolve_against_what_the_kernel_uses(
    child: RunChild, tmp_path: Path, layers: dict[str, str]
) -> None:
    # GIVEN relative names used with a dir_fd, an fd argument and a moved working directory
    off = _outcomes(_run(child, tmp_path, RELATIVE, "off", layers))
    assert off["dir-fd-traversal"] == "DONE"
    # WHEN under enforce
    result = _run(child, tmp_path, RELATIVE, "enforce", layers)
    outcome = _outcomes(result)
    # THEN each is decided on the real file: the secret through the public directory's fd,
    # the removal of a file outside it, a chmod of the directory behind the fd
    assert outcome["dir-fd-traversal"] == "REFUSED", result.stdout + result.stderr
    assert outcome["dir-fd-remove"] == "REFUSED"
    assert outcome["fd-chmod"] == "REFUSED"
    assert outcome["chdir-then-read"] == "REFUSED"
    targets = {f["target"] for f in result.findings}
    assert "{task}/secret.txt" in targets and "{task}/allowed.txt" in targets


# ------------------------------------------------------------------ class 3: unaudited ops

UNAUDITED = """
import sqlite3, marshal, types, importlib.util
db = sqlite3.connect(":memory:")
attempt("sqlite-attach", lambda: db.execute("ATTACH DATABASE 'secret.txt' AS s"))
attempt("sqlite-vacuum-into", lambda: db.execute("VACUUM INTO 'copy.db'"))
attempt("exec-env-ld-preload", lambda: subprocess.run(["/usr/bin/wc", "-c", os.path.abspath("allowed.txt")],
        env={**os.environ, "LD_PRELOAD": "/tmp/evil.so"}, capture_output=True))
attempt("putenv-bash-env", lambda: os.environ.__setitem__("BASH_ENV", "/tmp/evil.sh"))
code = (lambda: print('ran')).__code__
attempt("marshal-code", lambda: marshal.loads(marshal.dumps(code)))
attempt("code-replace", lambda: code.replace(co_filename="/var/task/innocent.py"))
open("/tmp/sandbox-evil-mod.py", "w").write("print('module code ran')") if MODE == "off" else None
def load_file_module():
    spec = importlib.util.spec_from_file_location("evilmod", "{task}/evilmod.py".format(task=os.getcwd()))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
attempt("exec-module-from-file", load_file_module)
"""


@LAYERS
def test_class3_operations_without_their_own_event_are_decided(
    child: RunChild, tmp_path: Path, layers: dict[str, str]
) -> None:
    # GIVEN operations CPython raises no event for (SQLite ATTACH/VACUUM INTO, an exec's env,
    # code objects that never went through compile, a module run without the finders)
    (tmp_path / "evilmod.py").write_text("print('module code ran')\n")
    result = _run(child, tmp_path, UNAUDITED, "enforce", layers)
    outcome = _outcomes(result)
    assert result.returncode == 0, result.stderr
    # THEN each is decided under enforce
    for label in (
        "sqlite-attach",
        "sqlite-vacuum-into",
        "exec-env-ld-preload",
        "putenv-bash-env",
        "marshal-code",
        "code-replace",
    ):
        assert outcome[label] in ("REFUSED", "ERROR"), (label, result.stdout, result.stderr)
    assert "module code ran" not in result.lines
    assert outcome["exec-module-from-file"] in ("REFUSED", "ERROR")
    assert not (tmp_path / "copy.db").exists()
    # AND the SQLite refusals were reported as file accesses
    assert {"{task}/secret.txt", "{task}/copy.db"} <= {f["target"] for f in result.findings}


# ------------------------------------------------------------------ class 6: reporting

JUNK = """
for i in range(300):
    try:
        open(f"junk-{i}.txt").read()
    except (PermissionError, FileNotFoundError):
        pass
attempt("the-real-one", lambda: open("secret.txt").read())
"""


def test_class6_junk_findings_cannot_hide_the_real_one(child: RunChild, tmp_path: Path) -> None:
    # GIVEN alert mode and a budget of 100 complete findings WHEN 300 junk refusals come first
    _setup(tmp_path)
    result = child(
        HARNESS.format(mode="alert") + JUNK, env={**AUDIT_ALONE, "SANDBOX_MAX_FINDINGS": "100"}
    )
    # THEN the real exfiltration is still reported (compact past the budget, never only counted)
    assert any(f["target"] == "{task}/secret.txt" for f in result.findings), result.stdout[-2000:]
    assert len({f["target"] for f in result.findings}) == 301


# ------------------------------------------------------------------ class 7: cost

COST = """
import time
huge = "a/" * 2_000_000
started = time.perf_counter()
attempt("huge-path", lambda: open(huge + "x").read())
attempt("huge-argv", lambda: subprocess.run(["/usr/bin/wc", "-c", "x" * 3_000_000], capture_output=True))
print("elapsed", round(time.perf_counter() - started, 3))
"""


def test_class7_inputs_the_kernel_refuses_are_decided_at_once(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a path of 4 MB and an argument of 3 MB (a data-only attack on the checking cost)
    result = _run(child, tmp_path, COST, "enforce", AUDIT_ALONE)
    outcome = _outcomes(result)
    # THEN both are refused without walking them (the kernel would refuse them too)
    assert outcome["huge-path"] == "REFUSED", result.stderr
    assert outcome["huge-argv"] == "REFUSED"
    elapsed = float(next(line for line in result.lines if line.startswith("elapsed")).split()[1])
    assert elapsed < 30  # a generous bound: quadratic work on 4 MB would take minutes


# ------------------------------------------------------------------ class 8: learn never breaks


@pytest.mark.parametrize("mode", ["learn", "alert"])
def test_class8_learn_and_alert_run_with_unusable_settings(
    child: RunChild, tmp_path: Path, mode: str
) -> None:
    # GIVEN an unwritable observations and findings file and a misspelt switch
    _setup(tmp_path)
    env = {
        **AUDIT_ALONE,
        "SANDBOX_OBSERVATIONS_FILE": "/proc/no/such/obs.jsonl",
        "SANDBOX_FINDINGS_FILE": "/proc/no/such/findings.jsonl",
        "SANDBOX_SECCOMP": "of",
    }
    result = child(HARNESS.format(mode=mode) + 'print("function ran")\n', env=env)
    # THEN the function runs, and the start record says what could not be used
    assert result.returncode == 0, result.stderr
    assert "function ran" in result.lines
    start = result.of_type("sandbox.start")[0]
    # (the observations file is learn's only)
    assert start["level"] == "WARN" and len(start["problems"]) == (3 if mode == "learn" else 2)


def test_class8_enforce_refuses_to_start_with_unusable_settings(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the same settings WHEN enforcing THEN the process does not run unprotected
    _setup(tmp_path)
    env = {**AUDIT_ALONE, "SANDBOX_FINDINGS_FILE": "/proc/no/such/findings.jsonl"}
    result = child(HARNESS.format(mode="enforce") + 'print("function ran")\n', env=env)
    assert result.returncode != 0 and "function ran" not in result.lines
    assert "cannot enforce" in result.stderr


_ = os
