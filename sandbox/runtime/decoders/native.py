"""Native code: ``ctypes.dlopen``/``dlsym``, SQLite extensions, raw memory at an address,
``_ctypes.call_function``.

A load is decided on the file its name leads to now, and the dynamic loader follows the name
again a moment later: the decision holds only for a name nothing can turn elsewhere in between
(:func:`loaded_file`). A descriptor's name (``/proc/self/fd/N``: ``os.dup2`` raises no event),
a link the function may swap, or a ``..`` after a folder it may replace made the hook decide on
one file while the loader opened another (red team 53, both cores, init and invoke).
"""

from __future__ import annotations

from .. import paths
from ..categories import UNDECODABLE
from ..values import as_path, as_text, undecodable
from ..values import unresolvable as _unresolvable
from . import code as _code

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Access = tuple[str, str, str, Any]

_type = type
_str = str
_len = len
_int = int
_bool = bool
_str_startswith = str.startswith


_SHOWN = 240  # (of a name in a refusal's target: a name may be megabytes long)
_walk_turns = paths.walk_turns
_absolute = paths.absolute


def loaded_file(name: str) -> str:
    """The file the dynamic loader opens for ``name`` (a name with a ``/`` and no ``$``), or an
    undecodable marker when the name may lead elsewhere by the time the loader follows it, with
    no event decided in between:

    - a name relative to the working directory (another thread's ``chdir``);
    - a name through ``/proc`` (``/proc/self/fd/N``, ``/dev/fd/N``: which file a descriptor
      number stands for changes with ``dup2``, which raises no event);
    - a name whose walk turns at a name that is not the deployment's: a link, or a name a
      ``..`` walks back over, outside the deployment's folders or one a ``files write`` rule
      matches (``code.name_is_steady``: a link in the temp dir can be swapped for another, a
      folder there for a link).

    A name that turns only in the deployment's folders (``/lib -> usr/lib``, a library's
    ``libx.so -> libx.so.1``) is decided on the file it leads to.

    Example
    -------
    >>> loaded_file("lib/x.so").startswith(UNDECODABLE)
    True
    """
    if not _str_startswith(name, "/"):
        return UNDECODABLE + "a native library named from the working directory: " + name[:_SHOWN]
    full = _absolute(name)
    if full is None:
        return _unresolvable(name)
    resolved, turns, volatile = _walk_turns(full)
    if resolved is None:
        return _unresolvable(full)
    if volatile or _str_startswith(resolved, "/proc/"):
        return UNDECODABLE + "a native library named through /proc: " + full[:_SHOWN]
    for turn in turns:
        if not _code.name_is_steady(turn):
            return (
                UNDECODABLE
                + "a native library named through a link or .. at "
                + turn[:_SHOWN]
                + ": "
                + full[:_SHOWN]
            )
    return resolved


def _dlopen(args: tuple[Any, ...]) -> list[Access] | None:
    name = args[0]
    if name is None:
        return [("native", "dlopen", "<main>", None)]
    text = as_path(name)
    if _type(text) is not _str or "$" in text:
        # ($ in a name with a "/": glibc expands $ORIGIN, $LIB, $PLATFORM -- the file it opens
        # is not the one the name spells; in a bare name: no library is called that)
        return [("native", "dlopen", undecodable(name), None)]
    if "/" in text:
        return [("native", "dlopen", loaded_file(text), None)]
    return [("native", "dlopen", text, None)]


def _sqlite_extension(args: tuple[Any, ...]) -> list[Access] | None:
    # SQLite loading a native extension is native code like ctypes.dlopen. When the name
    # itself does not load, SQLite tries it again with ".so" added: both names are decided.
    if _len(args) < 2:
        return None
    first = _dlopen((args[1],)) or []
    text = as_path(args[1])
    if _type(text) is not _str:
        return first
    return first + (_dlopen((text + ".so",)) or [])


# SQLite's own SQL function load_extension('any/library'), which enable_load_extension(True)
# switches on with the C call: it loads native code named in SQL, with no audit event of its
# own. Enabling it is that capability (a learned rule names it; SQL injection could use it).
SQLITE_SQL_LOADER = "<sqlite3 load_extension()>"


def _sqlite_enable_extensions(args: tuple[Any, ...]) -> list[Access] | None:
    # (connection, enabled): switching extension loading off needs no decision
    enabled = args[1] if _len(args) > 1 else True
    if (_type(enabled) is _bool or _type(enabled) is _int) and not enabled:
        return None
    return [("native", "dlopen", SQLITE_SQL_LOADER, None)]


def _dlsym(args: tuple[Any, ...]) -> list[Access] | None:
    name = args[1]
    text = as_text(name)
    if text is None:
        number = name if _type(name) is int else None
        return [
            (
                "native",
                "dlsym",
                "#" + _str(number) if number is not None else undecodable(name),
                None,
            )
        ]
    return [("native", "dlsym", text, None)]


# Raw memory at an address the caller names: one capability, ``native memory``, whatever the
# ctypes helper (once ctypes itself was allowed, these are what reach any memory from Python).
def _memoryview_at(args: tuple[Any, ...]) -> list[Access] | None:
    # Python 3.14+: ctypes.memoryview_at(address, size, readonly) — a view of any memory. The
    # event carries readonly as a C int (1 or 0); anything else is read as writable.
    readonly = args[2] if _len(args) > 2 else 0
    read_only = (_type(readonly) is _int or _type(readonly) is _bool) and readonly == 1
    return [("native", "memory", "read" if read_only else "write", None)]


def _memory_read(args: tuple[Any, ...]) -> list[Access] | None:
    # ctypes.string_at / wstring_at(address, size): a copy of any memory.
    return [("native", "memory", "read", None)]


def _memory_write(args: tuple[Any, ...]) -> list[Access] | None:
    # ctypes.cdata (Type.from_address(address)): an object over any memory, writable.
    return [("native", "memory", "write", None)]


def _foreign_call(args: tuple[Any, ...]) -> list[Access] | None:
    # ctypes.call_function: _ctypes.call_function(address, args), which calls the function at
    # any address -- native code that reads and writes any memory, with no dlsym to decide
    # where the address came from. One capability, whatever the function:
    # ``native memory call``. (Up to 3.13 a ctypes function pointer's own call raises no event:
    # the dlopen and dlsym events, and the import of _ctypes, are where ctypes is decided.
    # CPython 3.14.x raises this event for every foreign call: each one is this capability.)
    return [("native", "memory", "call", None)]


DECODERS = {
    "ctypes.memoryview_at": _memoryview_at,
    "ctypes.string_at": _memory_read,
    "ctypes.wstring_at": _memory_read,
    "ctypes.cdata": _memory_write,
    "ctypes.call_function": _foreign_call,
    "ctypes.dlopen": _dlopen,
    "ctypes.dlsym": _dlsym,
    "ctypes.dlsym/handle": _dlsym,
    "sqlite3.load_extension": _sqlite_extension,
    "sqlite3.enable_load_extension": _sqlite_enable_extensions,
}
