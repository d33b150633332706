"""A child's environment is decided against the environment at install, not a denylist.

Every variable a child would receive with a value other than at install (set, changed or
removed; through ``env=`` or this process's ``os.environ``) is a ``processes env NAME=value``
access, but a few inert ones (locale, ``TZ`` without a file, ``TERM``...). The variables below
turned a learned command into another one (red team 31b, finding 1): each is refused, and
reported, before the child starts. One subprocess per case, on both cores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Child, RunChild, profile_doc, profile_from_observations

AUDIT_ALONE = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}
CORES = {"native": {}, "python": {"SANDBOX_NATIVE": "off"}}
# The learned command: it leaves a line in ran.txt each time it really runs.
COMMAND = ["/bin/sh", "-c", "echo ran >> ran.txt"]
RULE: dict[str, Any] = {"action": "exec", "target": "/bin/sh", "argv": COMMAND[1:], "phase": "any"}

HARNESS = """
import os, subprocess, sandbox
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode={mode!r}, profile={profile!r})
mark_invoke_phase()
COMMAND = {command!r}
def attempt(label, fn):
    try:
        fn()
        print(label, "ALLOWED")
    except PermissionError as exc:
        print(label, "REFUSED", getattr(exc, "category", "?"), getattr(exc, "action", "?"))
def with_env(**changes):
    env = dict(os.environ)
    env.update(changes)
    return lambda: subprocess.run(COMMAND, env=env, check=True)
def through_environ(name, value):
    def run():
        os.environ[name] = value
        subprocess.run(COMMAND, check=True)
    return run
"""

# The red team's variables, with values that name no real file (nothing needs to run).
PROGRAM_VARIABLES = {
    "TAR_OPTIONS": "--checkpoint=1 --checkpoint-action=exec=id",
    "ZIPOPT": "-T -TT=id",
    "GIT_COMMON_DIR": "/tmp/evilgit",
    "CURL_HOME": "/tmp/c",
    "WGETRC": "/tmp/wgetrc",
    "http_proxy": "http://127.0.0.2:9",
}


def _run(
    child: RunChild,
    tmp_path: Path,
    code: str,
    core: str,
    *,
    mode: str = "enforce",
    rules: list[dict[str, Any]] | None = None,
    env: dict[str, str] | None = None,
) -> Child:
    if rules is not None:
        (tmp_path / "profile.json").write_text(json.dumps(profile_doc(processes=rules)))
    profile = "profile.json" if mode != "learn" else None
    harness = HARNESS.format(mode=mode, profile=profile, command=COMMAND)
    return child(harness + code, env={**AUDIT_ALONE, **CORES[core], **(env or {})})


def _outcomes(result: Child) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in result.lines if " " in line)


def _runs(tmp_path: Path) -> int:
    ran = tmp_path / "ran.txt"
    return len(ran.read_text().splitlines()) if ran.exists() else 0


def _env_findings(result: Child) -> list[str]:
    return [
        f["target"]
        for f in result.findings
        if f.get("category") == "processes" and f.get("action") == "env"
    ]


@pytest.mark.parametrize("via", ["env=", "os.environ"])
@pytest.mark.parametrize("name", sorted(PROGRAM_VARIABLES))
@pytest.mark.parametrize("core", sorted(CORES))
def test_a_program_variable_is_refused_and_reported_before_the_exec(
    child: RunChild, tmp_path: Path, core: str, name: str, via: str
) -> None:
    # GIVEN a profile with the learned command and no env rule
    value = PROGRAM_VARIABLES[name]
    how = (
        f"with_env(**{{{name!r}: {value!r}}})"
        if via == "env="
        else f"through_environ({name!r}, {value!r})"
    )
    # WHEN the function runs the learned command with the variable set for it
    result = _run(
        child,
        tmp_path,
        f'attempt("control", with_env())\nattempt("attack", {how})\n'
        f'attempt("after", with_env())\nprint("kept", os.environ.get({name!r}))\n',
        core,
        rules=[RULE],
    )
    outcome = _outcomes(result)
    context = result.stdout + result.stderr
    # THEN the command runs with the unchanged environment, but not with the variable: the
    # refusal comes before the child starts (ran.txt has the two allowed runs only) ...
    assert outcome.get("control") == "ALLOWED", context
    assert outcome.get("attack") == "REFUSED processes env", context
    assert outcome.get("after") == "ALLOWED", context
    assert _runs(tmp_path) == 2, context
    # ... the process's own environment did not change ...
    assert outcome.get("kept") == "None", context
    # ... and the refusal is reported as a finding naming the variable
    assert [t.partition("=")[0] for t in _env_findings(result)] == [name], context


@pytest.mark.parametrize("core", sorted(CORES))
def test_tar_options_no_longer_run_a_checkpoint_action(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a learned tar command (exact argv) and a TAR_OPTIONS that would make tar run a
    # program of the function's choice (here: one that leaves pwned.txt)
    (tmp_path / "allowed.txt").write_text("ok")
    tar = {
        "action": "exec",
        "target": "/usr/bin/tar",
        "argv": ["-cf", "{task}/out.tar", "-C", "{task}", "allowed.txt"],
        "phase": "any",
    }
    code = """
TAR = ["/usr/bin/tar", "-cf", os.path.abspath("out.tar"), "-C", os.getcwd(), "allowed.txt"]
EVIL = "--checkpoint=1 --checkpoint-action=exec=touch\\\\ " + os.path.abspath("pwned.txt")
attempt("learned", lambda: subprocess.run(TAR, check=True))
attempt("env=", lambda: subprocess.run(TAR, env=dict(os.environ, TAR_OPTIONS=EVIL), check=True))
def putenv_then_tar():
    os.environ["TAR_OPTIONS"] = EVIL
    subprocess.run(TAR, check=True)
attempt("os.environ", putenv_then_tar)
"""
    # WHEN the function runs it with TAR_OPTIONS through env= and through os.environ
    result = _run(child, tmp_path, code, core, rules=[tar])
    outcome = _outcomes(result)
    context = result.stdout + result.stderr
    # THEN the learned command runs, both attacks are refused and reported, nothing was run
    assert outcome.get("learned") == "ALLOWED", context
    assert outcome.get("env=") == "REFUSED processes env", context
    assert outcome.get("os.environ") == "REFUSED processes env", context
    assert not (tmp_path / "pwned.txt").exists(), context
    assert len(_env_findings(result)) == 2, context
    assert all(t.startswith("TAR_OPTIONS=--checkpoint=1") for t in _env_findings(result))


@pytest.mark.parametrize("core", sorted(CORES))
def test_inert_variables_pass_and_file_naming_values_are_decided(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned command and no env rule
    code = """
attempt("LANG=C.UTF-8,env=", with_env(LANG="C.UTF-8"))
attempt("LC_ALL=C,env=", with_env(LC_ALL="C"))
attempt("TZ=UTC,env=", with_env(TZ="UTC"))
attempt("TERM=dumb,os.environ", through_environ("TERM", "dumb"))
attempt("LANG=C.UTF-8,os.environ", through_environ("LANG", "C.UTF-8"))
def trace_id():  # what the runtime client does at every invocation (awslambdaric)
    os.environ["_X_AMZN_TRACE_ID"] = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"
    subprocess.run(COMMAND, check=True)
    del os.environ["_X_AMZN_TRACE_ID"]
attempt("_X_AMZN_TRACE_ID,os.environ", trace_id)
attempt("TZ=:/etc/localtime,env=", with_env(TZ=":/etc/localtime"))
attempt("LC_ALL=/tmp/loc,env=", with_env(LC_ALL="/tmp/loc"))
"""
    # WHEN the function changes locale, time zone, terminal and trace variables for it
    result = _run(child, tmp_path, code, core, rules=[RULE])
    outcome = _outcomes(result)
    context = result.stdout + result.stderr
    # THEN names and values that name no file pass with no finding ...
    for label in (
        "LANG=C.UTF-8,env=",
        "LC_ALL=C,env=",
        "TZ=UTC,env=",
        "TERM=dumb,os.environ",
        "LANG=C.UTF-8,os.environ",
        "_X_AMZN_TRACE_ID,os.environ",
    ):
        assert outcome.get(label) == "ALLOWED", (label, context)
    # ... and the same names with a value that names a file are decided (and reported)
    assert outcome.get("TZ=:/etc/localtime,env=") == "REFUSED processes env", context
    assert outcome.get("LC_ALL=/tmp/loc,env=") == "REFUSED processes env", context
    assert sorted(t.partition("=")[0] for t in _env_findings(result)) == ["LC_ALL", "TZ"]
    assert _runs(tmp_path) == 6, context


@pytest.mark.parametrize("core", sorted(CORES))
def test_the_unchanged_inherited_environment_needs_no_env_rule(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the learned command, no env rule, and a variable the function got at start
    code = """
attempt("inherited", lambda: subprocess.run(COMMAND, check=True))
attempt("inherited-again", lambda: subprocess.run(COMMAND, check=True))
attempt("env=os.environ", lambda: subprocess.run(COMMAND, env=os.environ, check=True))
attempt("env=copy", with_env())
attempt("env=same-value", with_env(APP_SETTING="from-start"))
def spawn():
    pid = os.posix_spawn(COMMAND[0], COMMAND, os.environ)
    assert os.waitpid(pid, 0)[1] == 0
attempt("posix_spawn", spawn)
def removed():
    env = dict(os.environ)
    del env["APP_SETTING"]
    subprocess.run(COMMAND, env=env, check=True)
attempt("removed", removed)
attempt("unsetenv", lambda: os.environ.pop("APP_SETTING"))
"""
    # WHEN it runs the command with its environment as it was at install
    result = _run(child, tmp_path, code, core, rules=[RULE], env={"APP_SETTING": "from-start"})
    outcome = _outcomes(result)
    context = result.stdout + result.stderr
    # THEN every such run passes (the usual exec stays on its short way) ...
    for label in (
        "inherited",
        "inherited-again",
        "env=os.environ",
        "env=copy",
        "env=same-value",
        "posix_spawn",
    ):
        assert outcome.get(label) == "ALLOWED", (label, context)
    assert _runs(tmp_path) == 7, context  # (and the run without APP_SETTING below)
    # ... and so does leaving out or removing a variable the function started with (a program
    # gets less of the deployment's configuration; only what protects children is decided)
    assert outcome.get("removed") == "ALLOWED", context
    assert outcome.get("unsetenv") == "ALLOWED", context
    assert _env_findings(result) == [], context


@pytest.mark.parametrize("core", sorted(CORES))
def test_a_learned_variable_passes_with_its_value_only(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a function that runs the command with its own settings, learned in learn mode
    learn = """
subprocess.run(COMMAND, env=dict(os.environ, TOOL_OPTIONS="--fast"), check=True)
os.environ["TOOL_HOME"] = "blue"
subprocess.run(COMMAND, check=True)
"""
    learned = _run(child, tmp_path, learn, core, mode="learn")
    assert learned.returncode == 0, learned.stderr
    envs = sorted(o["target"] for o in learned.observations if o["action"] == "env")
    assert envs == ["TOOL_HOME=blue", "TOOL_OPTIONS=--fast"], learned.stdout
    (tmp_path / "profile.json").write_text(
        json.dumps(profile_from_observations(learned.observations))
    )
    (tmp_path / "ran.txt").unlink()
    # WHEN enforcing with the profile built from the learn log
    enforce = """
attempt("learned-env=", with_env(TOOL_OPTIONS="--fast"))
attempt("learned-env=-again", with_env(TOOL_OPTIONS="--fast"))
attempt("other-env=", with_env(TOOL_OPTIONS="--checkpoint-action=exec=id"))
attempt("learned-os.environ", through_environ("TOOL_HOME", "blue"))
attempt("other-os.environ", through_environ("TOOL_HOME", "red"))
"""
    result = _run(child, tmp_path, enforce, core)
    outcome = _outcomes(result)
    context = result.stdout + result.stderr
    # THEN the learned values pass (a cached verdict included), any other value is refused
    assert outcome.get("learned-env=") == "ALLOWED", context
    assert outcome.get("learned-env=-again") == "ALLOWED", context
    assert outcome.get("learned-os.environ") == "ALLOWED", context
    assert outcome.get("other-env=") == "REFUSED processes env", context
    assert outcome.get("other-os.environ") == "REFUSED processes env", context
    assert _runs(tmp_path) == 3, context
    assert sorted(_env_findings(result)) == [
        "TOOL_HOME=red",
        "TOOL_OPTIONS=--checkpoint-action=exec=id",
    ], context
