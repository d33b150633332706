"""Which environment and interpreter options would let a Python child run other code first."""

from __future__ import annotations

import os
import sys

import pytest

from sandbox.runtime.child import env_problem, prepare_environment, python_child_problem


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
