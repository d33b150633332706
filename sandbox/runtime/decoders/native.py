"""Native code: ``ctypes.dlopen``/``dlsym``, SQLite extensions, raw memory at an address,
``_ctypes.call_function``."""

from __future__ import annotations

from ..values import as_path, as_text, undecodable
from .files import target_of

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
        target = target_of(text)
        return [("native", "dlopen", target or text, None)]
    return [("native", "dlopen", text, None)]


def _sqlite_extension(args: tuple[Any, ...]) -> list[Access] | None:
    # SQLite loading a native extension is native code like ctypes.dlopen.
    return _dlopen((args[1],)) if _len(args) > 1 else None


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
    # ``native memory call``. (A ctypes function pointer's own call raises no event at all:
    # the dlopen and dlsym events, and the import of _ctypes, are where ctypes is decided.)
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
}
