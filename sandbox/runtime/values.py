"""Read audit-event arguments as the kernel will receive them: exact built-in types only.

An audit event hands over the caller's own objects. A ``str`` subclass can answer ``lower()``
differently from its data, a ``PathLike`` can answer ``__fspath__`` once for the event and
again for the system call, an ``int`` subclass can claim another value through ``__int__``.
So nothing here ever calls a method of an argument: values are read only from exact built-in
types, through the built-in implementations captured at import (``str.lower(x)``, never
``x.lower()``), and from the exact standard ``pathlib`` classes and ``os.DirEntry``, whose
conversion is the one the operating-system call will make. Anything else is *undecodable*:
a target starting with :data:`~.categories.UNDECODABLE` that no rule matches — blocked in
enforce, reported in alert, recorded in learn — never "no access, allowed".

Everything a function here calls is bound at import (module-level names), so code that later
rebinds ``builtins.isinstance`` or ``os.fsdecode`` changes nothing.
"""

from __future__ import annotations

import os
import sys

from .categories import UNDECODABLE

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any

# Bound at import: the built-in implementations, never looked up again.
_str = str
_bytes = bytes
_int = int
_bool = bool
_tuple: type = tuple
_list = list
_dict = dict
_type = type
_len = len
_bytearray = bytearray
_memoryview = memoryview
_str_join = str.join
_bytes_decode = bytes.decode
_bytes_join = bytes.join
_int_index = int.__index__
_str_str = str.__str__
_str_startswith = str.startswith
_fs_encoding = sys.getfilesystemencoding()
_fs_errors = sys.getfilesystemencodeerrors()
_DirEntry: type = _type(None)  # replaced below by os.DirEntry (not importable by name)
try:
    with os.scandir(os.path.dirname(__file__)) as _it:
        for _entry in _it:
            _DirEntry = _type(_entry)
            break
except OSError:  # pragma: no cover - our own directory is always listable
    pass
_dir_entry_path = getattr(_DirEntry, "path", None)

# The kernel refuses longer paths (ENAMETOOLONG) and longer single arguments (E2BIG): an
# input past these is decided at once, whatever its content, so no check grows with it.
PATH_MAX = 4096
ARG_MAX = 131072  # MAX_ARG_STRLEN: the longest single argv/env string execve accepts
HOST_MAX = 253

# The exact pathlib classes and their original conversion methods, captured once at install
# (see :func:`capture_pathlib`): {class: (__fspath__, __str__)}.
# A list compared with ``is``, never a dict: a lookup would hash the argument's type, and a
# metaclass of the attacker's can define ``__hash__``/``__eq__``.
_PATH_TYPES: list[tuple[type, object, object]] = []
_type_dict = type.__dict__["__dict__"].__get__
_mro = type.__dict__["__mro__"].__get__


def _lookup(kind: type, name: str) -> object:
    for klass in _mro(kind):
        found = _type_dict(klass).get(name)
        if found is not None:
            return found
    return None


def capture_pathlib() -> None:
    """Record the standard ``pathlib`` classes and their conversion methods.

    Called at install, before the function's code runs, so what is recorded is the real
    thing (inside Lambda the runtime client has imported pathlib already: no cost). A pathlib
    class whose ``__fspath__`` or ``__str__`` was rebound later no longer counts as standard.
    """
    if _PATH_TYPES:
        return
    import pathlib

    for kind in (pathlib.PurePosixPath, pathlib.PosixPath, pathlib.PurePath, pathlib.Path):
        _PATH_TYPES.append((kind, _lookup(kind, "__fspath__"), _lookup(kind, "__str__")))


# A dict whose keys are all exact ``str`` (CPython 3.11+ marks its key table "unicode") is
# probed with built-in string comparison only: ``dict.get`` with an exact-str name can then run
# no code of the function's, whatever the dict holds. CPython switches a table to the general
# kind for good as soon as any other key (a ``str`` subclass, bytes...) is inserted, and the two
# kinds differ in entry size (16 bytes against 24), so ``dict.__sizeof__`` tells them apart in
# constant time. The sizes are computed from the layout and checked against real dicts of both
# kinds at import; on any mismatch (another CPython, 3.10) every lookup walks.
_dict_sizeof = dict.__sizeof__
_dict_get = dict.get
_tuple_index = tuple.index
_enumerate = enumerate


def _table_sizes() -> frozenset[int]:
    """The ``dict.__sizeof__`` values of a combined, unshared, unicode-only dict (or nothing)."""
    base = _dict_sizeof({})  # the dict object alone (an empty dict shares a static table)
    head = 32  # PyDictKeysObject without its arrays (3.11-3.14)

    def size(log2: int, entry: int) -> int:
        slots = 1 << log2
        index = 1 if log2 < 8 else 2 if log2 < 16 else 4 if log2 < 32 else 8
        return base + head + slots * index + (2 * slots // 3) * entry

    unicode = {size(log2, 16) for log2 in range(3, 48)}
    general = {size(log2, 24) for log2 in range(3, 48)}
    if unicode & general:
        return frozenset()
    for count in (1, 5, 6, 11, 22, 43, 86, 171, 342):
        plain = {"k" + _str(i): i for i in range(count)}
        mixed: dict[object, int] = {"k" + _str(i): i for i in range(count)}
        mixed[0] = 0
        if _dict_sizeof(plain) not in unicode or _dict_sizeof(mixed) not in general:
            return frozenset()
    return frozenset(unicode)


_UNICODE_SIZES = _table_sizes() if sys.version_info >= (3, 11) else frozenset()


def _exact_str_keys(mapping: dict[Any, Any]) -> bool:
    """Whether every key of ``mapping`` is an exact ``str`` (known in O(1); False if unknown)."""
    return _dict_sizeof(mapping) in _UNICODE_SIZES


def lookup(mapping: object, name: object, default: object = None) -> object:
    """``mapping[name]`` found by walking its items, never by a dict lookup that could run code.

    A dict the function can write to (``sys.modules``, a module's or an object's ``__dict__``,
    ``os.environ``'s data) may hold a key of the attacker's whose hash equals ``name``'s: a
    lookup would call that key's ``__eq__`` inside the hook. Walking compares only keys of
    ``name``'s exact type, with the built-in comparison. A dict whose keys are all exact
    ``str`` (see :func:`_exact_str_keys`) is probed directly: the same answer in O(1).
    """
    if _type(mapping) is not _dict:
        return default
    kind = _type(name)
    if kind is _str and _exact_str_keys(mapping):
        return _dict_get(mapping, name, default)
    for key, value in _dict.items(mapping):
        if _type(key) is kind and key == name:
            return value
    return default


def lookup_all(mapping: object, names: tuple[str, ...]) -> list[object]:
    """:func:`lookup` of several ``str`` names (``None`` for each name not found).

    One walk over the items instead of one per name, or one probe per name when every key is
    an exact ``str``. A name given twice is found once, at its first place, as the walk does.
    """
    found: list[object] = [None] * _len(names)
    if _type(mapping) is not _dict:
        return found
    for name in names:
        if _type(name) is not _str:
            raise TypeError("lookup_all takes exact str names")
    if _exact_str_keys(mapping):
        for index, name in _enumerate(names):
            # Our own exact strs, compared as built-ins; a repeated name is found once.
            if _tuple_index(names, name) == index:
                found[index] = _dict_get(mapping, name)
        return found
    # Our own dict of our own exact str names: probing it with an exact-str key runs only
    # str's built-in hash and comparison, never code of the function's.
    positions: dict[str, int] = {}
    index = 0
    while index < _len(names):
        positions.setdefault(names[index], index)
        index += 1
    seen: set[int] = set()
    for key, value in _dict.items(mapping):
        # Type first: probing our dict hashes the key, and a str subclass's __hash__ is code.
        if _type(key) is _str and key in positions:
            position = positions[key]
            if position not in seen:
                found[position] = value
                seen.add(position)
    return found


_type_name = type.__dict__["__name__"].__get__


def undecodable(value: object) -> str:
    """The target for an argument the sandbox does not read: ``\\x00`` + its type's name.

    The name is read through ``type``'s own getter: a metaclass cannot answer for it.
    """
    name = _type_name(_type(value))
    return UNDECODABLE + (name if _type(name) is _str else "?")


def is_undecodable(target: str) -> bool:
    return _str_startswith(target, UNDECODABLE)


def as_int(value: object) -> int | None:
    """An ``int`` as the C API reads it: its stored value; ``None`` for anything that is not an int.

    Subclasses count (``IntEnum`` members such as ``socket.AF_INET`` and ``signal.SIGTERM`` are
    what real code passes): the C API reads their digits and never calls an overridden
    ``__index__`` or ``__int__``, and neither does ``int.__index__`` applied here. Whether the
    type is an int is read from its real MRO, not through ``isinstance`` (which would consult an
    overridable ``__class__``).
    """
    kind = _type(value)
    if kind is _int or kind is _bool or _int in _mro(kind):
        return _int_index(value)  # type: ignore[arg-type]
    return None


def as_text(value: object) -> str | None:
    """Exact ``str`` or ``bytes``/``bytearray``/``memoryview`` (decoded as the OS would); else None."""
    kind = _type(value)
    if kind is _str:
        return value  # type: ignore[return-value]
    if kind is _bytes:
        return _bytes_decode(value, _fs_encoding, _fs_errors)  # type: ignore[arg-type]
    if kind is _bytearray or kind is _memoryview:
        # Copied first: a buffer can change after the decision; the copy cannot.
        return _bytes_decode(_bytes_join(b"", [value]), _fs_encoding, _fs_errors)  # type: ignore[list-item]
    return None


def as_path(value: object) -> str | int | None:
    """A path argument as the kernel receives it.

    Returns
    -------
    str
        The path text (may be relative; the caller resolves it), or an undecodable target.
    int
        A file descriptor (the operation names an open file, not a path).
    None
        No path at all (``None``).

    Example
    -------
    >>> as_path(b"/tmp/x"), as_path(3), as_path(None)
    ('/tmp/x', 3, None)
    """
    if value is None:
        return None
    kind = _type(value)
    if kind is _str:
        return value  # type: ignore[return-value]
    if kind is _bytes:
        return _bytes_decode(value, _fs_encoding, _fs_errors)  # type: ignore[arg-type]
    if kind is _int or kind is _bool or _int in _mro(kind):
        return _int_index(value)  # type: ignore[arg-type]
    if kind is _DirEntry and _dir_entry_path is not None:
        path = _dir_entry_path.__get__(value)  # the C struct member: what os.fspath() returns
        return as_path(path) if _type(path) in (_str, _bytes) else undecodable(value)
    for path_type, fspath, to_str in _PATH_TYPES:
        if kind is not path_type:
            continue
        if _lookup(kind, "__fspath__") is not fspath or _lookup(kind, "__str__") is not to_str:
            return undecodable(value)  # pathlib's conversion was rebound: not standard any more
        # The class's own conversion, which the system call repeats: for the standard classes
        # it is a pure function of the object's parts.
        text = fspath(value)  # type: ignore[operator]
        return text if _type(text) is _str else undecodable(value)
    if kind is _bytearray or kind is _memoryview:
        return as_text(value)
    return undecodable(value)


def as_argv(value: object) -> list[str] | str:
    """An argv list (list/tuple of exact str/bytes/PathLike) or a lone command; else undecodable."""
    kind = _type(value)
    if kind is _str or kind is _bytes:
        text = as_path(value)
        if _type(text) is not _str or _str_startswith(text, UNDECODABLE):
            return undecodable(value)
        return [text]
    if kind is not _list and kind is not _tuple:
        return undecodable(value)
    out: list[str] = []
    for item in value:  # type: ignore[attr-defined]
        if _type(item) is _str:
            out.append(item)  # (what as_path answers for an exact str, without the call)
            continue
        text = as_path(item)
        if _type(text) is not _str:
            return undecodable(item)
        if _str_startswith(text, UNDECODABLE):
            return text
        out.append(text)
    return out


_Environ = _type(os.environ)
_object_dict = object.__getattribute__
# What subprocess calls to turn os.environ into the child's environment: its class's methods
# and the instance's decoders. Compared by identity at each use, so a rebound one is seen.
# (CPython's own envlist building calls keys() and values() and iterates the views they
# return: those, and the views' iteration, count too.)
_ENVIRON_NAMES = ("__getitem__", "__iter__", "__len__", "keys", "values", "items")
_ENVIRON_METHODS = tuple(_lookup(_Environ, n) for n in _ENVIRON_NAMES)
_VIEWS = tuple(
    (view, name, _lookup(view, name))
    for view in (
        __import__("collections.abc").abc.KeysView,
        __import__("collections.abc").abc.ValuesView,
        __import__("collections.abc").abc.ItemsView,
    )
    for name in ("__iter__", "__len__", "__init__")
)
_ENVIRON_DECODERS = (
    _object_dict(os.environ, "__dict__").get("decodekey"),
    _object_dict(os.environ, "__dict__").get("decodevalue"),
)


# The class's own namespace dict itself (a class keeps it for life), taken once through its
# read-only view: probed with dict.get, without the view's indirection. In a tuple: the hook's
# frozen copy copies module-level dicts, and this one must stay the live one (a method
# rebound on the class later shows here). Its keys are exact str: setting a class attribute
# interns a copy of the name.
_ENVIRON_OWN = (__import__("gc").get_referents(_type_dict(_Environ))[0],)


def _environ_data(value: object) -> object:
    """``os.environ``'s own data dict (encoded), if nothing that reads it was rebound."""
    # Compared item by item by identity: a tuple's != would call a rebound object's __eq__.
    # The class's own dict first (where the originals live: the usual answer at once), else
    # along the MRO as attribute lookup goes.
    own = _ENVIRON_OWN[0]
    if (
        (
            _dict_get(own, "__getitem__") is not _ENVIRON_METHODS[0]
            and _lookup(_Environ, "__getitem__") is not _ENVIRON_METHODS[0]
        )
        or (
            _dict_get(own, "__iter__") is not _ENVIRON_METHODS[1]
            and _lookup(_Environ, "__iter__") is not _ENVIRON_METHODS[1]
        )
        or (
            _dict_get(own, "__len__") is not _ENVIRON_METHODS[2]
            and _lookup(_Environ, "__len__") is not _ENVIRON_METHODS[2]
        )
    ):
        return None
    for index in (3, 4, 5):
        if _lookup(_Environ, _ENVIRON_NAMES[index]) is not _ENVIRON_METHODS[index]:
            return None
    for view, name, method in _VIEWS:
        if _lookup(view, name) is not method:
            return None
    decodekey = decodevalue = data = None
    found = 0
    for key, item in _dict.items(_object_dict(value, "__dict__")):
        if _type(key) is _str:
            if key == "_data":
                if not found & 4:
                    data, found = item, found | 4
            elif key == "decodekey":
                if not found & 1:
                    decodekey, found = item, found | 1
            elif key == "decodevalue" and not found & 2:
                decodevalue, found = item, found | 2
    if decodekey is not _ENVIRON_DECODERS[0] or decodevalue is not _ENVIRON_DECODERS[1]:
        return None
    return data


def as_env(value: object) -> dict[str, str] | str | None:
    """An ``env`` mapping of an exec; ``None`` = inherit; else undecodable.

    Exact ``dict`` of str/bytes, or ``os.environ`` itself (read from its own data dict, as long
    as nothing that subprocess would call on it was rebound).
    """
    if value is None:
        return None
    if _type(value) is _Environ:
        data = _environ_data(value)
        if _type(data) is not _dict:
            return undecodable(value)
        value = data
    if _type(value) is not _dict:
        return undecodable(value)
    out: dict[str, str] = {}
    for key, item in _dict.items(value):
        name = as_text(key)
        text = as_text(item)
        if name is None or text is None:
            return undecodable(item if name is not None else key)
        out[name] = text
    return out


# What an `open` does (one rule for the files decoder and both cores): it reads unless it is
# write-only, and writes when it may change the file — a write access mode, or creating,
# truncating, appending, an O_TMPFILE; the mode's letters add to that ("+" both, "w"/"a"/"x" a
# write, "r" a read). The native core's open_actions is the same rule in C.
_ACCMODE = os.O_ACCMODE
_O_RDONLY = os.O_RDONLY
_O_WRONLY = os.O_WRONLY
_CHANGING_FLAGS = (
    os.O_CREAT
    | os.O_TRUNC
    | os.O_APPEND
    | (getattr(os, "O_TMPFILE", 0) & ~getattr(os, "O_DIRECTORY", 0))
)


def open_actions(mode: str | None, flags: int) -> tuple[bool, bool]:
    """``(reads, writes)`` of an ``open`` with this mode (``None`` for ``os.open``) and flags.

    Example
    -------
    >>> open_actions("r+", os.O_RDWR), open_actions(None, os.O_WRONLY | os.O_CREAT)
    ((True, True), (False, True))
    """
    access = flags & _ACCMODE
    reads = access != _O_WRONLY
    writes = access != _O_RDONLY or bool(flags & _CHANGING_FLAGS)
    if mode is not None:
        if "+" in mode:
            reads = writes = True
        if "w" in mode or "a" in mode or "x" in mode:
            writes = True
        if "r" in mode:
            reads = True
    return reads, writes
