"""Which environment and interpreter options would let a Python child run other code first."""

from __future__ import annotations

import os
import sys

import pytest

from sandbox.runtime.child import (
    env_decided,
    env_inert,
    env_problem,
    prepare_environment,
    python_child_problem,
)


def _protected_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(prepare_environment("enforce", "/tmp/profile.json", "invoke", environ=env))
    return env


@pytest.mark.parametrize(
    "name",
    [
        "PYTHONPYCACHEPREFIX",  # bytecode from a tree of the function's: a planted sitecustomize
        "PYTHON_PRESITE",
        "PYTHONPERFSUPPORT",
        "PYTHONSOMETHINGNEW",  # a later CPython's variable: decided until known harmless
    ],
)
def test_python_variables_that_change_the_code_a_child_runs_matter(name: str) -> None:
    # GIVEN a protected child's environment WHEN one PYTHON* variable is set in it
    reference = _protected_env()
    env = dict(reference, **{name: "/tmp/planted"})
    argv = [sys.executable, "child.py"]
    # THEN setting it is a decision of its own, and the child would run unprotected
    assert env_problem(name, "/tmp/planted") is not None
    assert python_child_problem(sys.executable, argv, env, reference) is not None


@pytest.mark.parametrize("name", ["PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONHASHSEED"])
def test_harmless_python_variables_do_not_matter(name: str) -> None:
    reference = _protected_env()
    env = dict(reference, **{name: "1"})
    assert env_problem(name, "1") is None
    assert python_child_problem(sys.executable, [sys.executable, "x.py"], env, reference) is None


@pytest.mark.parametrize(
    ("option", "harmful"),
    [
        ("pycache_prefix=/tmp/planted", True),
        ("presite=evil", True),
        ("perf", True),
        ("a_new_option", True),
        ("importtime", False),
        ("utf8", False),
        ("frozen_modules=off", True),  # stdlib from files, found along PYTHONPATH first
    ],
)
def test_interpreter_options_are_allowed_only_when_known_harmless(
    option: str, harmful: bool
) -> None:
    # GIVEN a protected environment WHEN the child is started with -X option
    env = _protected_env()
    problem = python_child_problem(sys.executable, [sys.executable, "-X", option, "x.py"], env, env)
    # THEN only the options that change no code it runs pass
    assert (problem is not None) == harmful, problem


def test_a_pythonpath_with_entries_of_its_own_makes_a_child_unprotected() -> None:
    # GIVEN the protected environment (child_site first, then the function's own entries)
    reference = _protected_env()
    added = dict(reference, PYTHONPATH=reference["PYTHONPATH"] + os.pathsep + "/tmp/evil")
    # WHEN a child would get an extra entry after child_site (searched for `encodings` before
    # site runs, so a planted package there runs before the sandbox)
    problem = python_child_problem(sys.executable, [sys.executable, "x.py"], added, reference)
    # THEN it is refused; the protected value itself is not
    assert problem is not None and "PYTHONPATH" in problem
    assert (
        python_child_problem(sys.executable, [sys.executable, "x.py"], reference, reference) is None
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LANG", "C.UTF-8"),
        ("LANGUAGE", "en_US:en"),
        ("LC_ALL", "C"),
        ("TZ", "UTC"),
        ("TERM", "dumb"),
        ("COLUMNS", "80"),
        ("PYTHONUNBUFFERED", "1"),
        ("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"),
        ("LANG", None),  # removed
    ],
)
def test_inert_variables_are_not_decided(name: str, value: str | None) -> None:
    # GIVEN an environment at install without (or with another value of) the variable
    installed = {"LANG": "en_US.UTF-8"}
    # WHEN a child would get it THEN no decision: it changes no program, file or host
    assert env_inert(name, value)
    assert not env_decided(name, value, installed)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TAR_OPTIONS", "--checkpoint-action=exec=id"),
        ("ZIPOPT", "-TT=id"),
        ("GIT_COMMON_DIR", "/tmp/evil"),
        ("CURL_HOME", "/tmp/c"),
        ("WGETRC", "/tmp/w"),
        ("http_proxy", "http://127.0.0.2:9"),
        ("TZ", ":/tmp/zone"),  # a file
        ("TZ", "/tmp/zone"),
        ("LC_ALL", "/tmp/locale"),
        ("LANG", "../../tmp/x/y"),
        ("TERM", "../tmp/terminfo"),
        # an entry gettext puts between a catalog folder and LC_<category>: ".." climbs out
        # of it with no "/" (red team 100), as does the language part of "..@x"
        ("LANGUAGE", ".."),
        ("LANGUAGE", "de:.."),
        ("LANGUAGE", "..@latin"),
        ("LANG", ".."),
        ("LC_MESSAGES", ".x"),
        ("PYTHONNOUSERSITE", None),
    ],
)
def test_every_other_change_is_decided(name: str, value: str | None) -> None:
    # GIVEN the environment at install
    installed = {"APP_SETTING": "1", "PYTHONNOUSERSITE": "1"}
    # WHEN a child would get the variable set, changed or removed THEN it is decided ...
    assert env_decided(name, value, installed)
    # ... but not when the child gets the very value it had at install
    assert not env_decided(name, installed.get(name), installed)


def test_a_name_or_value_that_is_not_plain_text_is_decided() -> None:
    assert env_decided(b"TERM", "dumb", {})  # type: ignore[arg-type]
    assert env_decided("TERM", b"dumb", {})  # type: ignore[arg-type]


def test_the_decoders_compare_with_the_environment_at_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sandbox.runtime import environ
    from sandbox.runtime.decoders import processes

    # GIVEN an environment at install with a denylisted, a plain and an inert variable
    installed = {"LD_LIBRARY_PATH": "/opt/lib", "APP": "1", "LANG": "C"}
    monkeypatch.setattr(environ, "INSTALLED", installed)
    # WHEN a child gets exactly that environment THEN nothing is decided
    assert processes._env_accesses(dict(installed)) == []
    # WHEN it gets another value or a new variable THEN each (but the inert) is
    changed = {"LD_LIBRARY_PATH": "/opt/lib", "APP": "2", "NEW": "x"}
    assert [a[2] for a in processes._env_accesses(changed)] == ["APP=2", "NEW=x"]
    # (one left out is not: less of the deployment's configuration)
    assert processes._env_accesses({}) == []
    # ... and in this process a denylisted name is decided even with its value at install, the
    # removal of what protects children too; a plain variable's removal is not
    access = processes._putenv(("LD_LIBRARY_PATH", "/opt/lib"))
    assert access is not None and access[0][2] == "LD_LIBRARY_PATH=/opt/lib"
    removal = processes._unsetenv(("PYTHONNOUSERSITE",))
    assert removal is not None and removal[0][2] == "PYTHONNOUSERSITE="
    assert processes._unsetenv(("APP",)) is None


def test_a_removal_is_decided_only_when_it_removes_what_protects_children() -> None:
    # GIVEN the environment at install
    installed = {"APP_SETTING": "1", "HTTP_PROXY": "x", "SANDBOX_MODE": "enforce"}
    # WHEN a child would not get a variable THEN only the protection's removal is decided
    assert not env_decided("APP_SETTING", None, installed)
    assert not env_decided("HTTP_PROXY", None, installed)
    assert env_decided("SANDBOX_MODE", None, installed)
    assert not env_decided("NEVER_SET", None, installed)
