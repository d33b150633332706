"""Modules: the ``import`` event (the name; a C extension's second event carries its file).

The decision is made on the name alone: nothing here asks the import system's finders or reads
a module's ``__path__`` (both are code the function can influence). Whether a refused name
could have loaded anything only decides whether the refusal is *reported* (see the hook): an
optional import of a module that is not installed is refused silently, as "not found" would be.
"""

from __future__ import annotations

from ..values import as_text, undecodable

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
    filename = as_text(args[1]) if _len(args) > 1 and args[1] is not None else None
    return [("modules", "import", name, filename)]


DECODERS = {"import": _import}
