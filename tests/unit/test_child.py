"""Child processes: the protecting environment, and the inputs that would undo it."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from sandbox.errors import ConfigError
from sandbox.runtime.child import (
    DANGEROUS_ENV,
    DANGEROUS_PREFIXES,
    child_site_dir,
    dangerous_env_changes,
    env_problem,
    prepare_environment,
    python_child_problem,
)
from tests.conftest import hostile

PY = sys.executable


@pytest.fixture
def protected(tmp_path: Path) -> dict[str, str]:
    """An environment as the sandbox leaves it after install (what children inherit)."""
    base = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": "/opt/python", "LANG": "C"}
    return {**base, **prepare_environment("enforce", str(tmp_path / "p.json"), "init", base)}


def problem(
    argv: Sequence[object], env: object = None, inherited: object = None, **kw: Any
) -> object:
    """python_child_problem on this interpreter, with hostile values allowed through."""
    return python_child_problem(PY, hostile(argv), hostile(env), hostile(inherited), **kw)


# ------------------------------------------------------------------ prepare_environment


def test_prepare_environment_puts_child_site_first_and_keeps_the_rest(tmp_path: Path) -> None:
    # GIVEN an environment with a PYTHONPATH of its own
    env = {"PYTHONPATH": f"/a{os.pathsep}/b"}
    # WHEN preparing it for enforce
    changes = prepare_environment("enforce", "rel/p.json", "invoke", env)
    # THEN child_site comes first, the existing entries after it, the profile made absolute
    assert changes["PYTHONPATH"] == os.pathsep.join([child_site_dir(), "/a", "/b"])
    assert changes["SANDBOX_MODE"] == "enforce"
    assert changes["SANDBOX_PHASE"] == "invoke"
    assert changes["SANDBOX_PROFILE"] == os.path.abspath("rel/p.json")


def test_prepare_environment_returns_only_what_changes(tmp_path: Path) -> None:
    # GIVEN an environment already prepared
    env: dict[str, str] = {}
    env.update(prepare_environment("alert", str(tmp_path / "p.json"), "init", env))
    # WHEN preparing it again THEN nothing changes (child_site is not added twice)
    assert prepare_environment("alert", str(tmp_path / "p.json"), "init", env) == {}
    # AND a new phase changes only the phase
    assert prepare_environment("alert", str(tmp_path / "p.json"), "invoke", env) == {
        "SANDBOX_PHASE": "invoke"
    }


@pytest.mark.parametrize(
    ("mode", "profile", "phase"),
    [
        ("off", "/p", "init"),
        ("bogus", "/p", "init"),
        ("enforce", "/p", "later"),
        ("enforce", "", "init"),
    ],
)
def test_prepare_environment_rejects_what_a_child_cannot_use(
    mode: str, profile: str, phase: str
) -> None:
    # GIVEN a setting a child could not use WHEN preparing THEN a clear ConfigError
    with pytest.raises(ConfigError):
        prepare_environment(mode, profile, phase, {})


def test_child_site_holds_only_sitecustomize() -> None:
    # GIVEN the directory every Python child puts first on its path
    names = {p.name for p in Path(child_site_dir()).iterdir() if p.name != "__pycache__"}
    # THEN it shadows nothing but sitecustomize
    assert names == {"sitecustomize.py"}


# ------------------------------------------------------------------ python_child_problem: options


@pytest.mark.parametrize(
    ("argv", "found"),
    [
        ([PY, "-I", "-c", "pass"], "-I"),
        ([PY, "-E", "script.py"], "-E"),
        ([PY, "-S", "-m", "mod"], "-S"),
        ([PY, "-bIc", "pass"], "-I"),  # hidden in a cluster, before the command
        ([PY, "-sE"], "-E"),
        ([PY, "-uOO", "-S"], "-S"),
        ([PY, "-W", "ignore::evil.Warn", "x.py"], "evil.Warn"),
        ([PY, "-Wignore::a.B", "x.py"], "a.B"),
        ([PY, "-X", "presite=evil", "x.py"], "presite"),
        ([PY, "-J", "x.py"], "unknown"),
        ([PY, "--bogus", "x.py"], "unknown"),
        ([PY, "-W"], "without a value"),
        (["/tmp/elsewhere/bin/python3", "-c", "pass"], "argv[0]"),
    ],
)
def test_options_that_unprotect_are_found(
    protected: dict[str, str], argv: list[str], found: str
) -> None:
    # GIVEN a protected environment WHEN Python is started with these options
    reason = problem(argv, None, protected)
    # THEN the reason names the option
    assert isinstance(reason, str) and found in reason


@pytest.mark.parametrize(
    "argv",
    [
        [PY, "-c", "pass"],
        [PY, "-s", "-c", "pass"],  # no user site: stricter, harmless
        [PY, "-Xdev", "-Wignore", "-W", "error::DeprecationWarning", "x.py"],
        [PY, "--check-hash-based-pycs", "always", "x.py"],
        [PY, "-cI"],  # the command is "I"
        [PY, "x.py", "-I", "-S"],  # the script's own arguments
        [PY, "-m", "mod", "-E"],
        [PY, "--", "-I"],  # a script called "-I"
        [PY, "-", "-I"],  # stdin
    ],
)
def test_harmless_options_are_not_problems(protected: dict[str, str], argv: list[str]) -> None:
    # GIVEN a protected environment WHEN Python starts with these THEN it stays protected
    assert problem(argv, None, protected) is None


def test_bytes_arguments_are_read_as_the_os_reads_them(protected: dict[str, str]) -> None:
    # GIVEN argv given as bytes (os.exec* accepts them) THEN the flag is still found
    reason = problem([PY.encode(), b"-I", b"x.py"], None, protected)
    assert isinstance(reason, str) and "-I" in reason


def test_str_subclasses_are_undecodable_never_called(protected: dict[str, str]) -> None:
    # GIVEN values whose methods lie (and count their calls)
    calls: list[str] = []

    class Sly(str):
        def startswith(self, *args: object) -> bool:
            calls.append("startswith")
            return False

        def __eq__(self, other: object) -> bool:
            calls.append("eq")
            return True

        __hash__ = str.__hash__

    # WHEN they are the executable, an argument, an environment name or value
    assert problem([PY, Sly("-I"), "x.py"], None, protected) is not None
    assert python_child_problem(Sly(PY), [PY, "x.py"], None, protected) is not None
    assert problem([PY, "x.py"], {**protected, Sly("X"): "1"}, protected) is not None
    assert problem([PY, "x.py"], {**protected, "X": Sly("1")}, protected) is not None
    # THEN each is treated as unprotected, without one of their methods being called
    assert calls == []


def test_environments_that_are_not_plain_dicts_are_undecodable(protected: dict[str, str]) -> None:
    # GIVEN a mapping with its own __getitem__ and items
    calls: list[str] = []

    class Env(dict[str, str]):
        def items(self) -> Any:
            calls.append("items")
            return protected.items()

        def __getitem__(self, key: str) -> str:
            calls.append("getitem")
            return protected[key]

    # WHEN it is the child's environment, or the inherited one
    assert problem([PY, "x.py"], Env(protected), protected) is not None
    assert problem([PY, "x.py"], None, Env(protected)) is not None
    # THEN unprotected, and nothing of it was called
    assert calls == []


def test_os_environ_itself_is_read_through_its_data(protected: dict[str, str]) -> None:
    # GIVEN env=os.environ (as subprocess and posix_spawn callers often pass)
    # THEN it reads exactly as a copy of it does
    copy = dict(os.environ)
    assert problem([PY, "x.py"], os.environ, copy) == problem([PY, "x.py"], copy, copy)
    assert problem([PY, "x.py"], os.environ, copy) is not None  # (this process is unprotected)


# ------------------------------------------------------------------ python_child_problem: env


def test_inherited_and_copied_protected_environments_are_fine(protected: dict[str, str]) -> None:
    # GIVEN the protected environment, inherited or passed as a copy with an extra variable
    # THEN the child is protected
    assert problem([PY, "x.py"], None, protected) is None
    assert problem([PY, "x.py"], {**protected, "FOO": "1"}, protected) is None
    # AND bytes names/values (os.execve accepts them) read the same
    as_bytes = {k.encode(): v.encode() for k, v in protected.items()}
    assert problem([PY, "x.py"], as_bytes, protected) is None


@pytest.mark.parametrize(
    ("change", "found"),
    [
        ({"SANDBOX_MODE": None}, "SANDBOX_MODE"),
        ({"SANDBOX_MODE": "off"}, "SANDBOX_MODE"),
        ({"SANDBOX_MODE": "learn"}, "SANDBOX_MODE"),  # weaker than the parent's
        ({"SANDBOX_PROFILE": None}, "SANDBOX_PROFILE"),
        ({"SANDBOX_PROFILE": "/tmp/mine.json"}, "SANDBOX_PROFILE"),
        ({"SANDBOX_PHASE": "init-again"}, "SANDBOX_PHASE"),
        ({"SANDBOX_SECCOMP": "off"}, "SANDBOX_SECCOMP"),
        ({"PYTHONPATH": "/opt/python"}, "PYTHONPATH"),
        ({"PYTHONPATH": None}, "PYTHONPATH"),
        ({"LD_PRELOAD": "/tmp/x.so"}, "LD_PRELOAD"),
        ({"PYTHONHOME": "/tmp/fake"}, "PYTHONHOME"),
        ({"PYTHONUSERBASE": "/tmp/u"}, "PYTHONUSERBASE"),
        ({"PYTHONWARNINGS": "ignore::evil.W"}, "PYTHONWARNINGS"),
    ],
)
def test_explicit_environments_that_unprotect(
    protected: dict[str, str], change: dict[str, str | None], found: str
) -> None:
    # GIVEN an explicit environment that differs from the protected one like this
    env = {k: v for k, v in {**protected, **change}.items() if v is not None}
    # WHEN Python starts with it THEN the reason names the variable
    reason = problem([PY, "x.py"], env, protected)
    assert isinstance(reason, str) and found in reason


def test_an_empty_environment_unprotects(protected: dict[str, str]) -> None:
    # GIVEN env={} (a hand-built environment) THEN the child would run without the sandbox
    reason = problem([PY, "-c", "pass"], {}, protected)
    assert isinstance(reason, str) and "SANDBOX_MODE" in reason


def test_an_inherited_environment_without_the_sandbox_unprotects() -> None:
    # GIVEN env=None but the tracked environment lacks the sandbox's variables
    reason = problem([PY, "x.py"], None, {"PATH": "/usr/bin"})
    # THEN the inherited environment is the one judged
    assert isinstance(reason, str) and "SANDBOX_MODE" in reason


def test_user_site_switch_matters_only_with_user_site_on(protected: dict[str, str]) -> None:
    # GIVEN a parent that runs without a user site (PYTHONNOUSERSITE prepared)
    if "PYTHONNOUSERSITE" not in protected:
        pytest.skip("this interpreter uses a user site directory")
    env = {k: v for k, v in protected.items() if k != "PYTHONNOUSERSITE"}
    # WHEN a child's environment drops it THEN its user site .pth files would run first
    reason = problem([PY, "x.py"], env, protected)
    assert isinstance(reason, str) and "PYTHONNOUSERSITE" in reason
    # BUT with -s the child has no user site anyway
    assert problem([PY, "-s", "x.py"], env, protected) is None


def test_expected_values_override_the_inherited_ones(protected: dict[str, str]) -> None:
    # GIVEN the values the sandbox set, and an inherited environment someone changed
    expected = {k: v for k, v in protected.items() if k.startswith("SANDBOX_")}
    changed = {**protected, "SANDBOX_PROFILE": "/tmp/other.json"}
    # THEN a child inheriting the changed value is judged against the expected one
    reason = problem([PY, "x.py"], None, changed, expected=expected)
    assert isinstance(reason, str) and "SANDBOX_PROFILE" in reason
    assert problem([PY, "x.py"], None, protected, expected=expected) is None


def test_duplicate_names_are_ambiguous(protected: dict[str, str]) -> None:
    # GIVEN the same name as str and as bytes (which one the OS uses is its own business)
    env: dict[str | bytes, str | bytes] = {name: value for name, value in protected.items()}
    env[b"SANDBOX_MODE"] = b"off"
    # THEN it is not trusted
    assert problem([PY, "x.py"], env, protected) is not None


# ------------------------------------------------------------------ which executables are Python


@pytest.mark.parametrize(
    "name",
    ["python", "python3", "python3.12", "python3.13t", "python3.11-dbg", "pypy3", "pypy3.10"],
)
def test_interpreters_are_recognised_by_name(protected: dict[str, str], name: str) -> None:
    # GIVEN an executable named like an interpreter (it need not be this one)
    path = f"/usr/local/bin/{name}"
    # WHEN started with -I THEN it is judged as Python
    assert python_child_problem(path, [path, "-I", "x.py"], None, protected) is not None


@pytest.mark.parametrize("name", ["python3-config", "pythonista", "ls", "sh", "node"])
def test_other_programs_are_not_python(protected: dict[str, str], name: str) -> None:
    # GIVEN a program that is not a Python interpreter WHEN started with "-I"
    path = f"/nonexistent/bin/{name}"
    # THEN no problem: the kernel layers bound it, not this check
    assert python_child_problem(path, [path, "-I"], {}, protected) is None


def test_the_running_interpreter_under_another_name_is_python(
    protected: dict[str, str], tmp_path: Path
) -> None:
    # GIVEN a symlink with an unremarkable name to this interpreter
    link = tmp_path / "tool"
    link.symlink_to(os.path.realpath(PY))
    # THEN its real path gives it away
    assert python_child_problem(str(link), [str(link), "-I", "x.py"], None, protected) is not None


def test_env_is_followed_to_the_program_it_starts(protected: dict[str, str]) -> None:
    env_path = "/usr/bin/env"
    python3 = os.path.basename(PY)
    protected = {**protected, "PATH": os.path.dirname(PY) + os.pathsep + protected["PATH"]}
    # GIVEN env starting Python: plain, emptied, with a variable, with -u, with -S
    fine = python_child_problem(env_path, ["env", python3, "x.py"], None, protected)
    emptied = python_child_problem(env_path, ["env", "-i", PY, "x.py"], None, protected)
    preload = python_child_problem(
        env_path, ["env", "LD_PRELOAD=/tmp/x.so", python3, "x.py"], None, protected
    )
    unset = python_child_problem(env_path, ["env", "-u", "SANDBOX_MODE", python3], None, protected)
    split = python_child_problem(env_path, ["env", "-S", f"{python3} -I"], None, protected)
    # THEN only the plain one keeps the child protected
    assert fine is None
    assert emptied is not None and "SANDBOX_MODE" in emptied
    assert preload is not None and "LD_PRELOAD" in preload
    assert unset is not None and "SANDBOX_MODE" in unset
    assert split is not None and "-S" in split
    # AND env running something else is not this check's business
    assert python_child_problem(env_path, ["env", "-i", "ls"], None, protected) is None


def test_shebang_scripts_are_followed_to_their_interpreter(
    protected: dict[str, str], tmp_path: Path
) -> None:
    # GIVEN scripts whose first line starts Python isolated, plainly, or starts a shell
    isolated, plain, shell = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    isolated.write_text(f"#!{PY} -I\nprint(1)\n")
    plain.write_text(f"#!{PY}\nprint(1)\n")
    shell.write_text("#!/bin/sh -e\necho 1\n")
    # WHEN each is executed THEN the isolated one is found, the others are fine
    reason = python_child_problem(str(isolated), [str(isolated)], None, protected)
    assert reason is not None and "-I" in reason
    assert python_child_problem(str(plain), [str(plain)], None, protected) is None
    assert python_child_problem(str(shell), [str(shell)], None, protected) is None


def test_argv0_bare_name_must_resolve_to_the_executable(
    protected: dict[str, str], tmp_path: Path
) -> None:
    # GIVEN a PATH whose "python3" is some other file
    other = tmp_path / "bin"
    other.mkdir()
    (other / "python3").write_text("")
    (other / "python3").chmod(0o755)
    env = {**protected, "PATH": str(other)}
    # WHEN this interpreter runs with argv[0] "python3" THEN Python would find its library there
    reason = python_child_problem(PY, ["python3", "x.py"], env, env)
    assert reason is not None and "argv[0]" in reason
    # AND a name found nowhere leaves the build's own prefix: fine
    assert python_child_problem(PY, ["no-such-python", "x.py"], env, env) is None


# ------------------------------------------------------------------ env_problem


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LD_PRELOAD", "/tmp/x.so"),
        ("LD_AUDIT", "/tmp/x.so"),
        ("LD_ANYTHING_NEW", "1"),
        ("BASH_ENV", "/tmp/rc"),
        ("BASH_FUNC_ls%%", "() { id; }"),
        ("GIT_SSH_COMMAND", "sh -c id"),
        ("GIT_CONFIG_COUNT", "1"),
        ("PATH", "/tmp:/usr/bin"),
        ("SANDBOX_MODE", "off"),
        ("PYTHONPATH", "/tmp/evil"),
        ("PYTHONPATH", child_site_dir() + "_evil"),  # a look-alike prefix is not ours
        ("PYTHONWARNINGS", "ignore::evil.Warn"),
        ("PYTHONHOME", "/tmp/fake"),
        ("NODE_OPTIONS", "--require /tmp/x.js"),
        ("OPENSSL_CONF", "/tmp/engine.cnf"),
    ],
)
def test_dangerous_settings(name: str, value: str) -> None:
    # GIVEN a setting that turns a learned command into other code THEN a reason is given
    reason = env_problem(name, value)
    assert isinstance(reason, str) and reason


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LANG", "C.UTF-8"),
        ("AWS_REGION", "eu-west-1"),
        ("PYTHONPATH", os.pathsep.join([child_site_dir(), "/var/task/vendor"])),
        ("PYTHONWARNINGS", "ignore,error::DeprecationWarning"),
        ("PYTHONNOUSERSITE", "1"),
        ("LD_PRELOAD", None),  # unsetting a loader switch loads less
        ("PATH", None),
        ("SANDBOX_REQUEST_ID", None),  # a label for children's findings, protecting nothing
    ],
)
def test_harmless_settings(name: str, value: str | None) -> None:
    # GIVEN a setting or removal that gives no code a way in THEN no reason
    assert env_problem(name, value) is None


@pytest.mark.parametrize(
    "name", ["SANDBOX_MODE", "SANDBOX_PROFILE", "PYTHONPATH", "PYTHONNOUSERSITE"]
)
def test_unsetting_what_protects_children(name: str) -> None:
    # GIVEN a removal of what carries the sandbox to children THEN a reason
    assert env_problem(name, None) is not None


def test_setting_the_request_id_children_carry_is_decided() -> None:
    # GIVEN the label the core keeps for children THEN setting it (a forged request id in a
    # child's findings) has a reason: decided like any SANDBOX_ setting
    assert env_problem("SANDBOX_REQUEST_ID", "req-forged") is not None


def test_env_problem_reads_bytes_and_refuses_lookalikes() -> None:
    # GIVEN os.putenv's bytes form, and str subclasses
    class Name(str):
        pass

    # THEN bytes are read as the OS reads them; subclasses are not text
    assert env_problem(hostile(b"LD_PRELOAD"), hostile(b"/tmp/x.so")) is not None
    assert env_problem(Name("LANG"), "C") is not None
    assert env_problem("LD_PRELOAD", Name("/x.so")) is not None


def test_the_documented_families_are_dangerous() -> None:
    # GIVEN the variables the runtime hardening names
    named = {
        "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
        "PYTHONINSPECT", "PYTHONWARNINGS", "PYTHONBREAKPOINT", "BASH_ENV", "ENV", "SHELLOPTS",
        "BASHOPTS", "PS4", "PROMPT_COMMAND", "IFS", "GCONV_PATH", "LOCALDOMAIN", "RES_OPTIONS",
        "HOSTALIASES", "NODE_OPTIONS", "PERL5OPT", "PERL5LIB", "RUBYOPT", "GIT_SSH",
        "GIT_SSH_COMMAND", "GIT_EXEC_PATH",
    }  # fmt: skip
    # THEN each is listed, and the families by prefix
    assert named <= DANGEROUS_ENV
    assert {"LD_", "SANDBOX_", "GIT_CONFIG", "BASH_FUNC_"} <= set(DANGEROUS_PREFIXES)


def test_dangerous_env_changes_of_an_explicit_environment() -> None:
    # GIVEN an inherited environment and an explicit one for some program
    inherited = {"PATH": "/usr/bin", "LANG": "C", "SANDBOX_MODE": "enforce"}
    env = {"PATH": "/tmp:/usr/bin", "LANG": "C.UTF-8", "BASH_ENV": "/tmp/rc"}
    # WHEN comparing them
    changes = dangerous_env_changes(env, inherited)
    # THEN each dangerous change is listed once, removals as None; harmless ones are not
    assert changes is not None
    assert [(name, value) for name, value, _ in changes] == [
        ("BASH_ENV", "/tmp/rc"),
        ("PATH", "/tmp:/usr/bin"),
        ("SANDBOX_MODE", None),
    ]
    # AND an inherited environment changes nothing; an undecodable one is not trusted
    assert dangerous_env_changes(None, inherited) == []
    assert dangerous_env_changes(hostile({"A": bytearray(b"1")}), inherited) is None


def test_an_executable_path_that_is_a_fifo_does_not_hang(
    protected: dict[str, str], tmp_path: Path
) -> None:
    # GIVEN an "executable" that is a FIFO nobody writes to
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # WHEN it is checked for a #! line THEN the answer comes at once: not Python
    assert python_child_problem(str(fifo), [str(fifo)], None, protected) is None
