"""What the hook's functions look up at call time: nothing the function's code can rebind.

Code in the function can rebind any module attribute (``os.path.join = ...``) with no audit
event. The hook's functions run on private copies of their modules (:mod:`.private_modules`),
and must bind everything they call at import (``_lstat = os.lstat``): a module looked up at call
time (``os.path.join(...)``) would be the function's to change. :func:`verify` names every
function that still does so. It depends only on the sources, so the test suite runs it on the
private copies of every supported Python (``tests/unit/test_private_modules.py``); functions
that run only while installing, before the function's code, are exempt by name.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from itertools import compress, repeat
from operator import attrgetter

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Copies", "verify"]

_FunctionType = types.FunctionType
_ModuleType = types.ModuleType
_CodeType = types.CodeType
_co_names = attrgetter("co_names")


class Copies:
    """Private copies of modules, as :func:`verify` reads them (keyed by ``id()``)."""

    __slots__ = ("copies", "made", "modules", "snapshots")

    def __init__(self) -> None:
        self.copies: dict[int, Any] = {}  # id → each function or class of the copies
        self.modules: dict[int, types.ModuleType] = {}  # id → each private module
        self.snapshots: dict[int, dict[str, Any]] = {}  # id → each private module's globals
        # id(globals) → every code object of that module (nested ones too)
        self.made: dict[int, list[types.CodeType]] = {}


def verify(copies: Copies, install_time: Iterable[str] = ()) -> None:
    """Raise if code of the copies still reaches a module that is not a private copy.

    A module looked up at call time (``os.path.join(...)``) can be rebound by the function;
    the copies' code must bind what it calls at import instead.

    Raises
    ------
    RuntimeError
        Naming the function and the module it reaches.
    """
    privates = {id(m) for m in copies.modules.values()}
    exempt = set(install_time)
    problems: list[str] = []
    # Per globals dict (most functions share their module's snapshot): the names bound there
    # to a module that is not a private copy. Only a function using one of them is a problem.
    bound_modules: dict[int, dict[str, types.ModuleType]] = {}
    # A snapshot none of whose code objects uses such a name has nothing to report: its
    # functions are not looked at one by one (most snapshots: one pass over their codes).
    clean: set[int] = set()
    for snapshot in copies.snapshots.values():
        bound = bound_modules[id(snapshot)] = _bound_modules_in(snapshot, privates)
        names = bound.keys()
        # (in C iterators: ~560 code objects in all, most snapshots clean)
        if not bound or all(
            map(names.isdisjoint, map(_co_names, copies.made.get(id(snapshot), ())))
        ):
            clean.add(id(snapshot))
    checked: set[int] = set()  # a class copy's methods are copies checked on their own too
    for copy in list(copies.copies.values()):
        functions = [copy] if isinstance(copy, _FunctionType) else []
        if isinstance(copy, type):
            functions = [v for v in vars(copy).values() if isinstance(v, _FunctionType)]
        for function in functions:
            scope = function.__globals__
            if id(scope) in clean or id(function) in checked:
                continue
            checked.add(id(function))
            if function.__qualname__ in exempt:
                continue
            found = bound_modules.get(id(scope))
            if found is None:
                found = bound_modules[id(scope)] = _bound_modules_in(scope, privates)
            if not found:
                continue
            for name in _names_in(function.__code__, found.keys()):
                problems.append(f"{function.__qualname__} reaches module {found[name].__name__}")
    if problems:
        detail = "; ".join(sorted(set(problems)))
        raise RuntimeError("lambda-sandbox: code on the hook's path looks modules up: " + detail)


def _bound_modules_in(scope: dict[str, Any], privates: set[int]) -> dict[str, types.ModuleType]:
    """The names ``scope`` binds to a module that is not one of the private copies."""
    # (the modules picked out in C: a module's globals are mostly functions and constants)
    picked = compress(scope.items(), map(isinstance, scope.values(), repeat(_ModuleType)))
    return {name: value for name, value in picked if id(value) not in privates}


def _names_in(code: types.CodeType, wanted: Any) -> list[str]:
    """The names of ``wanted`` (a set-like) that ``code`` or a code nested in it uses."""
    found: list[str] = []
    pending = [code]
    while pending:
        current = pending.pop()
        names = current.co_names
        if not wanted.isdisjoint(names):  # (most codes use none: no set is built for them)
            found.extend(name for name in names if name in wanted)
        pending.extend(c for c in current.co_consts if type(c) is _CodeType)
    return found
