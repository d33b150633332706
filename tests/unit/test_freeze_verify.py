"""``freeze.verify``: frozen code that still reaches a module the function can rebind is refused."""

from __future__ import annotations

import types

import pytest

from sandbox.runtime.freeze import freeze, verify

SOURCE = """
import os
_join = os.path.join

def bound_at_import(a, b):
    return _join(a, b)

def looks_up_at_call_time(a, b):
    return os.path.join(a, b)

def nested_lookup():
    def inner(a):
        return os.getcwd() + a
    return inner

class Holder:
    def method(self):
        return os.sep
"""


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, name, "exec"), module.__dict__)
    return module


def test_verify_names_every_function_that_reaches_an_unfrozen_module() -> None:
    # GIVEN a module whose functions look os up at call time: directly, in a nested function,
    # in a method; and one that bound what it calls at import
    frozen = freeze([_module("verify_case", SOURCE)])
    # WHEN the frozen copies are verified
    with pytest.raises(RuntimeError) as refused:
        verify(frozen)
    # THEN each function that reaches os is named, and the one bound at import is not
    message = str(refused.value)
    assert "looks_up_at_call_time reaches module os" in message
    assert "nested_lookup reaches module os" in message
    assert "Holder.method reaches module os" in message
    assert "bound_at_import" not in message


def test_verify_exempts_install_time_functions_and_passes_clean_code() -> None:
    # GIVEN the same module, with the functions that reach os declared install-time only
    frozen = freeze([_module("verify_case", SOURCE)])
    exempt = {"looks_up_at_call_time", "nested_lookup", "Holder.method"}
    # WHEN verified with that exemption, and a module that reaches no module at all
    verify(frozen, install_time=exempt)
    verify(freeze([_module("clean_case", "def f(x):\n    return len(x)\n")]))
    # THEN neither is refused (no exception)
