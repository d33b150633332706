"""Files: learn records reads/writes, enforce allows exactly them and blocks a neighbour."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import ATTEMPT, RunChild, profile_doc, profile_from_observations

LEARN = """
import sandbox
sandbox.install(mode="learn")
from sandbox.runtime.hook import mark_invoke_phase
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
from sandbox.runtime.hook import mark_invoke_phase
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
        from sandbox.runtime.hook import mark_invoke_phase
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
        from sandbox.runtime.hook import mark_invoke_phase
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
    _setup(tmp_path)
    profile = profile_doc(
        files=[
            {"action": "read", "target": "{task}/out/scratch.txt"},
            {"action": "write", "target": "{task}/out/scratch.txt"},
        ]
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    result = child(
        """
        import os, sandbox, sandbox.runtime.hook
        sandbox.install(mode="enforce", profile="profile.json")
        sandbox.runtime.hook.mark_invoke_phase()
        open("out/scratch.txt", "w").write("mine")
        print(open("out/scratch.txt").read())           # resolved and cached as allowed
        os.remove("out/scratch.txt")
        os.symlink(os.path.abspath("data/secret.txt"), "out/scratch.txt")
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
    # GIVEN a profile allowing reads and writes anywhere under one scratch directory
    _setup(tmp_path)
    profile = profile_doc(
        files=[
            {"action": "read", "target": "{task}/out/**"},
            {"action": "write", "target": "{task}/out/**"},
        ]
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
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
        os.symlink(os.path.abspath("data"), "out/d")    # out/d now leads to data/
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
