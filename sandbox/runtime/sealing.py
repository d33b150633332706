"""Functions the hook publishes, holding nothing anyone can change.

Some of the hook's functions sit where the function's code can read them: the resolver
wrappers in ``_socket``, the import guard in ``sys.meta_path``. A function object shows its
globals, its closure cells and its defaults with no audit event. Globals and builtins can be
emptied; defaults cannot be reassigned (``object.__setattr__``, refused for the sandbox's
functions). A closure cell, though, is rewritten with no event at all
(``cell.cell_contents = ...``), and checking the cells when such a function raises its event
comes too late: it read them before, and a helper of the function's, put in a cell and put back
before the event, ran in between (red team 43: a resolver wrapper answered ``localhost`` with
an address of the function's choosing).

So what a published function holds goes into its code object as constants: each string
constant ``"\\x00sealed:NAME"`` in its code (nested code included) is replaced by the value
given for ``NAME``. Code objects are immutable, a function's ``__code__`` cannot be reassigned
(refused like its defaults), and making another code object is refused (``code.__new__``).
"""

from __future__ import annotations

import types

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["MARK", "SEALED_CODES", "sealed"]

MARK = "\x00sealed:"
# Every code object made here (nested ones too): the sandbox's own code, which install hands
# the core with the rest (a new code object is in no module's code tree; not counted as its
# own, its function's ``__code__`` could be reassigned unnoticed: red team 44).
SEALED_CODES: list[types.CodeType] = []
_FunctionType = types.FunctionType
_CodeType = types.CodeType


def sealed(function: Callable[..., Any], **constants: Any) -> Callable[..., Any]:
    """A copy of ``function`` with empty globals and builtins, no closure, and each
    ``"\\x00sealed:NAME"`` constant of its code replaced by ``constants[NAME]``.

    Raises
    ------
    ValueError
        When ``function`` has a closure (its state would stay in cells) or its code names a
        constant not given.

    Example
    -------
    >>> def answer():
    ...     value = "\\x00sealed:value"
    ...     return value
    >>> sealed(answer, value=42)()
    42
    """
    code = function.__code__
    if code.co_freevars:
        raise ValueError(f"{function.__name__}: a sealed function holds no closure cell")
    return _FunctionType(
        _with_constants(code, constants),
        {"__builtins__": {}},
        function.__name__,
        function.__defaults__,
        None,
    )


def _with_constants(code: types.CodeType, constants: dict[str, Any]) -> types.CodeType:
    replaced = []
    for const in code.co_consts:
        if type(const) is str and const.startswith(MARK):
            name = const[len(MARK) :]
            if name not in constants:
                raise ValueError(f"{code.co_name}: no value for the sealed constant {name!r}")
            const = constants[name]
        elif type(const) is _CodeType:
            const = _with_constants(const, constants)
        replaced.append(const)
    made = code.replace(co_consts=tuple(replaced))
    SEALED_CODES.append(made)
    return made
