"""``call_time.verify``: code of the hook's copies that still reaches a module the function can
rebind is named."""

from __future__ import annotations

import types

import pytest

from sandbox.runtime.call_time import Copies, verify

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


def _copies(module: types.ModuleType) -> Copies:
    """``module`` as the private copies are handed to verify (its functions, classes, codes)."""
    copies = Copies()
    space = module.__dict__
    copies.modules[id(module)] = module
    copies.snapshots[id(space)] = space
    made: list[types.CodeType] = []
    for value in space.values():
        own_function = isinstance(value, types.FunctionType) and value.__globals__ is space
        if own_function or (isinstance(value, type) and value.__module__ == module.__name__):
            copies.copies[id(value)] = value
    for value in list(copies.copies.values()):
        functions = [value] if isinstance(value, types.FunctionType) else list(vars(value).values())
        pending = [f.__code__ for f in functions if isinstance(f, types.FunctionType)]
        while pending:
            code = pending.pop()
            made.append(code)
            pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    copies.made[id(space)] = made
    return copies


def test_verify_names_every_function_that_reaches_an_unfrozen_module() -> None:
    # GIVEN a module whose functions look os up at call time: directly, in a nested function,
    # in a method; and one that bound what it calls at import
    frozen = _copies(_module("verify_case", SOURCE))
    # WHEN the copies are verified
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
    frozen = _copies(_module("verify_case", SOURCE))
    exempt = {"looks_up_at_call_time", "nested_lookup", "Holder.method"}
    # WHEN verified with that exemption, and a module that reaches no module at all
    verify(frozen, install_time=exempt)
    verify(_copies(_module("clean_case", "def f(x):\n    return len(x)\n")))
    # THEN neither is refused (no exception)
