"""Modules: the ``import`` event (the name; a C extension's second event carries its file).

The decision is made on the name: nothing here asks the import system's finders or reads a
module's ``__path__`` (both are code the function can influence). Whether a refused name could
have loaded anything only decides whether the refusal is *reported* (see the hook): an optional
import of a module that is not installed is refused silently, as "not found" would be.

A C extension is native code: in every phase, the file it is loaded from must be the module's
own file (``<root>/a/b.cpython-….so`` for ``a.b``) at an import root as install found it, where
the import system finds it by that name, and no name on the way one the function may write
(:func:`.code.extension_at_home`); any other file (one the function wrote, or a real module's
file under another module's name) is decided as loading native code from it
(``native dlopen``), like ``ctypes``. A name other than the plain own-file spelling is decided
on the file the loader will open, and only when nothing can turn it elsewhere before the
loader follows it (:func:`.native.loaded_file`: not through ``/proc``, no link or ``..`` in a
folder the function may change -- red team 53). Init is no exception: code that runs at init (a hijacked
dependency) could otherwise load the sandbox's own core a second time, from a copy with
state of its own, or ``_ctypes`` under an allowed package's name (red team 51).
"""

from __future__ import annotations

from ..categories import UNDECODABLE
from ..values import as_text, undecodable
from . import code as _code
from .native import loaded_file as _loaded_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Access = tuple[str, str, str, Any]

_type = type
_str = str
_len = len
_str_startswith = str.startswith
_str_endswith = str.endswith


def _plain(path: str) -> bool:
    """Whether ``path`` is absolute and spelled with nothing to resolve but links: no empty,
    ``.`` or ``..`` component, no NUL.

    Example
    -------
    >>> _plain("/opt/python/a/b.so"), _plain("/opt/python/../../tmp/b.so"), _plain("a/b.so")
    (True, False, False)
    """
    return (
        _str_startswith(path, "/")
        and "//" not in path
        and "/./" not in path
        and "/../" not in path
        and not _str_endswith(path, ("/.", "/.."))
        and "\x00" not in path
    )


def _loader_reads_as_spelled(path: str) -> bool:
    """Whether the dynamic loader opens ``path`` as the kernel resolves it: a name with a ``/``
    (without one, dlopen searches the library path) and no ``$`` (glibc expands ``$ORIGIN``,
    ``$LIB``, ``$PLATFORM`` and their ``${...}`` forms in such a name: ``$ORIGIN/../../tmp/x``
    is libpython's folder, not a folder of the working directory -- red team 52).

    Example
    -------
    >>> [_loader_reads_as_spelled(p) for p in ("/a/b.so", "b.so", "$ORIGIN/../b.so", "/a/${LIB}/b.so")]
    [True, False, False, False]
    """
    return "/" in path and "$" not in path


def _import(args: tuple[Any, ...]) -> list[Access] | None:
    name = args[0]
    if _type(name) is not _str:
        return [("modules", "import", undecodable(name), None)]
    # A C extension raises a second event with its file: it exists and is being loaded now.
    # Any file given counts, of whatever type: CPython loads a str subclass's or a path
    # object's text too, so one that cannot be read here is undecodable, never "no file".
    raw = args[1] if _len(args) > 1 else None
    if not name:
        if raw is None:
            return None  # (no module has the empty name: nothing is loaded)
        # A file loaded under the empty name (a spec of the function's own making: CPython
        # opens it all the same, and its constructors run before any module is asked for,
        # red team 64): no module name allows that. Native code, decided on the file.
        return [_native_load(raw)]
    if _len(name) > 1024:
        # No module has such a name (the file system could not hold it): decided at once, so
        # matching never grows with an input of the attacker's.
        return [("modules", "import", undecodable(name), None)]
    filename = as_text(raw) if raw is not None else None
    accesses = [("modules", "import", name, filename)]
    if raw is not None and (filename is None or not _loader_reads_as_spelled(filename)):
        # dlopen's own reading of the name is not the kernel's (see _loader_reads_as_spelled):
        # nothing here can say which file it loads
        accesses.append(("native", "dlopen", undecodable(raw), None))
        return accesses
    if raw is not None:
        if _type(raw) is _str and _plain(raw) and _code.extension_at_home(raw, name):
            # The module's own file, named as the kernel will open it (absolute, nothing to
            # resolve in its spelling), in a folder install trusts: what is below such a folder
            # -- a link included -- is the deployment's, not the function's. No resolution
            # (~30 µs a C extension at init, ~30 of them in `import boto3`).
            return accesses
        # Any other name is decided on the file the loader will open, if nothing can turn the
        # name elsewhere before it does (a descriptor's name, a link in the temp dir: red
        # team 53): the module's own file at home is the module, any other file native code.
        target = _loaded_file(filename) if filename is not None else undecodable(raw)
        if _str_startswith(target, UNDECODABLE) or not _code.extension_at_home(target, name):
            accesses.append(("native", "dlopen", target, None))
    return accesses


def _native_load(raw: Any) -> Access:
    """The load of the C extension file ``raw`` as native code: decided on the file it opens
    (as ``_import`` decides a file that is not the module's own), undecodable where nothing
    can say which file that is."""
    filename = as_text(raw)
    if filename is None or not _loader_reads_as_spelled(filename):
        return ("native", "dlopen", undecodable(raw), None)
    return ("native", "dlopen", _loaded_file(filename), None)


DECODERS = {"import": _import}
