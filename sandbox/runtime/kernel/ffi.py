"""The few ctypes pieces the kernel layer's ctypes path needs, built on ``_ctypes`` alone.

``import ctypes`` costs ~2.5 ms at cold start (its ``__init__`` builds dozens of types and
helpers); the ctypes path (:mod:`.ctypes_calls`) needs a handful. Same names and behaviour as ctypes for what is here
(LP64 Linux only, which is all the kernel layer supports).
"""

from __future__ import annotations

from _ctypes import (
    FUNCFLAG_CDECL,
    FUNCFLAG_USE_ERRNO,
    CFuncPtr,
    Structure,
    _SimpleCData,
    addressof,
    byref,
    get_errno,
    sizeof,
)
from _ctypes import dlopen as _dlopen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CDLL",
    "Structure",
    "addressof",
    "byref",
    "c_char",
    "c_int",
    "c_int32",
    "c_long",
    "c_size_t",
    "c_uint",
    "c_uint32",
    "c_uint64",
    "c_ulong",
    "create_string_buffer",
    "get_errno",
    "sizeof",
]


class c_int(_SimpleCData):  # type: ignore[type-arg]
    _type_ = "i"


class c_uint(_SimpleCData):  # type: ignore[type-arg]
    _type_ = "I"


class c_long(_SimpleCData):  # type: ignore[type-arg]
    _type_ = "l"


class c_ulong(_SimpleCData):  # type: ignore[type-arg]
    _type_ = "L"


class c_char(_SimpleCData):  # type: ignore[type-arg]
    _type_ = "c"


# LP64: int is 32 bits, long and size_t 64.
c_int32 = c_int
c_uint32 = c_uint
c_uint64 = c_ulong
c_size_t = c_ulong


def create_string_buffer(init: bytes, size: int | None = None) -> Any:
    """A mutable ``char[size]`` holding ``init`` (embedded NULs included)."""
    buffer: Any = (c_char * (len(init) if size is None else size))()
    buffer.raw = init + b"\0" * (len(buffer) - len(init))
    return buffer


class _FuncPtr(CFuncPtr):
    _flags_ = FUNCFLAG_CDECL | FUNCFLAG_USE_ERRNO
    _restype_ = c_int


class CDLL:
    """``ctypes.CDLL(None, use_errno=True)``: the process's own symbols (libc)."""

    def __init__(self, name: str | None = None, use_errno: bool = True):
        self._name = name
        self._handle = _dlopen(name, 0)  # type: ignore[arg-type]  # None: the process itself

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        function = _FuncPtr((name, self))  # type: ignore[arg-type]  # any object with _handle
        setattr(self, name, function)
        return function
