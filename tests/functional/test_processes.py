"""Processes: exec matched on the resolved executable and argv; shell commands never widen."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ATTEMPT, RunChild, profile_from_observations

LEARN = """
import subprocess, os, sandbox
sandbox.install(mode="learn")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
subprocess.run(["echo", "hello"], check=True, stdout=subprocess.DEVNULL)
subprocess.run("echo report", shell=True, check=True, stdout=subprocess.DEVNULL)
"""

ENFORCE = (
    ATTEMPT
    + """
import subprocess, os, sys, sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
quiet = dict(check=True, stdout=subprocess.DEVNULL)
attempt("argv-learned", lambda: subprocess.run(["echo", "hello"], **quiet))
attempt("argv-by-path", lambda: subprocess.run(["/usr/bin/echo", "hello"], **quiet) if os.path.realpath("/usr/bin/echo") == os.path.realpath(__import__("shutil").which("echo")) else print("skip"))
attempt("argv-other", lambda: subprocess.run(["echo", "bye"], **quiet))
attempt("other-binary", lambda: subprocess.run(["id"], **quiet))
attempt("shell-learned", lambda: subprocess.run("echo report", shell=True, **quiet))
attempt("shell-injected-semicolon", lambda: subprocess.run("echo report; id", shell=True, **quiet))
attempt("shell-injected-and", lambda: subprocess.run("echo report && id", shell=True, **quiet))
attempt("shell-injected-subst", lambda: subprocess.run("echo report$(id)", shell=True, **quiet))
attempt("shell-injected-newline", lambda: subprocess.run("echo report\\nid", shell=True, **quiet))
attempt("os-system", lambda: os.system("echo report; id"))
attempt("os-exec", lambda: os.execv("/bin/sh", ["sh", "-c", "id"]))
attempt("posix-spawn", lambda: os.posix_spawn("/usr/bin/id", ["id"], os.environ))
attempt("fork", lambda: os.fork())
"""
)


def test_learn_then_enforce_processes(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a function that runs one program and one fixed shell command
    learned = child(LEARN)
    assert learned.returncode == 0, learned.stderr
    execs = [o for o in learned.observations if o["category"] == "processes"]
    # THEN learn recorded the resolved executables with their arguments
    assert {(o["target"].rsplit("/", 1)[-1], tuple(o["argv"])) for o in execs} >= {
        ("echo", ("hello",)),
        ("sh", ("-c", "echo report")),
    }
    assert all(o["target"].startswith("/") for o in execs)
    # WHEN enforcing
    (tmp_path / "profile.json").write_text(
        json.dumps(profile_from_observations(learned.observations))
    )
    enforced = child(ENFORCE)
    assert enforced.returncode == 0, enforced.stderr
    outcome = dict(line.split(" ", 1) for line in enforced.lines if " " in line)
    # THEN exactly the learned commands run ...
    assert outcome["argv-learned"] == "ALLOWED"
    assert outcome["shell-learned"] == "ALLOWED"
    # ... and neighbours and every injection are blocked before anything starts
    for label in (
        "argv-other",
        "other-binary",
        "shell-injected-semicolon",
        "shell-injected-and",
        "shell-injected-subst",
        "shell-injected-newline",
        "os-system",
        "os-exec",
        "posix-spawn",
    ):
        assert outcome[label] == "BLOCKED PermissionViolation processes exec", label
    assert outcome["fork"] == "BLOCKED PermissionViolation processes fork"
    rule = next(f for f in enforced.findings if "id" in f["target"])["rule"]
    assert rule.startswith("rules.processes:")


def test_generalised_shell_rule_never_matches_injection(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a hand-generalised rule: convert any file in /tmp (wildcard inside a shell command)
    profile = {
        "schema_version": 1,
        "function": "t",
        "extends": ["python-runtime"],
        "rules": {
            "processes": [
                {
                    "action": "exec",
                    "target": "/bin/sh",
                    "argv": ["-c", "echo /tmp/*.png"],
                    "phase": "any",
                }
            ]
        },
    }
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    result = child(
        """
        import subprocess, sandbox
        sandbox.install(mode="enforce", profile="profile.json")
        for cmd in ["echo /tmp/a1.png", "echo /tmp/x.png; id", "echo /tmp/`id`.png",
                    "echo /tmp/$(id).png", "echo /tmp/a.png /etc/passwd.png", "echo /tmp/a|id.png",
                    "echo /tmp/a>x.png"]:
            try:
                subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
                print("ALLOWED", cmd)
            except PermissionError:
                print("BLOCKED", cmd)
        """
    )
    # THEN the wildcard admits a file name, never shell syntax or a second word
    assert result.lines[0] == "ALLOWED echo /tmp/a1.png", result.stderr
    assert all(line.startswith("BLOCKED") for line in result.lines[1:]), result.lines
