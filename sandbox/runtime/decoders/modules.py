"""Modules: the ``import`` event (the name; a C extension's second event carries its file).

The decision is made on the name: nothing here asks the import system's finders or reads a
module's ``__path__`` (both are code the function can influence). Whether a refused name could
have loaded anything only decides whether the refusal is *reported* (see the hook): an optional
import of a module that is not installed is refused silently, as "not found" would be.

A C extension is native code: from the invoke phase on, the file it is loaded from must be the
module's own file under a module root (``<root>/a/b.cpython-….so`` for ``a.b``); any other file
(one the function wrote, under any module name) is decided as loading native code from it
(``native dlopen``), like ``ctypes``.
"""

from __future__ import annotations

from ..core import phase as _phase
from ..values import as_text, undecodable
from . import code as _code
from .files import target_of as _target_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Access = tuple[str, str, str, Any]

_type = type
_str = str
_len = len


def _import(args: tuple[Any, ...]) -> list[Access] | None:
    name = args[0]
    if _type(name) is not _str:
        return [("modules", "import", undecodable(name), None)]
    if not name:
        return None
    if _len(name) > 1024:
        # No module has such a name (the file system could not hold it): decided at once, so
        # matching never grows with an input of the attacker's.
        return [("modules", "import", undecodable(name), None)]
    # A C extension raises a second event with its file: it exists and is being loaded now.
    # Any file given counts, of whatever type: CPython loads a str subclass's or a path
    # object's text too, so one that cannot be read here is undecodable, never "no file".
    raw = args[1] if _len(args) > 1 else None
    filename = as_text(raw) if raw is not None else None
    accesses = [("modules", "import", name, filename)]
    if raw is not None and _phase() == "invoke":
        target = _target_of(filename) if filename is not None else None
        if target is None or not _code.module_file_at_root(target, name):
            accesses.append(("native", "dlopen", target or undecodable(raw), None))
    return accesses


DECODERS = {"import": _import}
