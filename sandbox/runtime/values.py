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
_ord = ord
_str_isascii = str.isascii
_DirEntry: type = os.DirEntry  # (posix.DirEntry: what os.scandir yields)
_dir_entry_path = getattr(_DirEntry, "path", None)

# The kernel refuses longer paths (ENAMETOOLONG) and longer single arguments (E2BIG): an
# input past these is decided at once, whatever its content, so no check grows with it.
PATH_MAX = 4096
ARG_MAX = 131072  # MAX_ARG_STRLEN: the longest single argv/env string execve accepts
HOST_MAX = 253
# The shape decoder's parse's file name (CPython may open it to show a syntax error's line):
# PATH_MAX characters, so that no kernel opens it (ENAMETOOLONG, before any file is looked at)
# whatever the function did to the file system; both cores answer an `open` of exactly this
# name without a decision (the native core's open_is_shape_file). Red team 67: under
# "/dev/null/<shape>" a function that may replace /dev/null (as root) chose what it read.
SHAPE_FILE = "/dev/null/<shape>/" + "_" * (PATH_MAX - 18)

# The exact pathlib classes and their original conversion methods, captured once at install
# (see :func:`capture_pathlib`): {class: (__fspath__, __str__)}.
# A list compared with ``is``, never a dict: a lookup would hash the argument's type, and a
# metaclass of the attacker's can define ``__hash__``/``__eq__``.
_PATH_TYPES: list[tuple[type, object, object]] = []
_type_dict = type.__dict__["__dict__"].__get__
_mro = type.__dict__["__mro__"].__get__


def _derives_from_int(kind: type) -> bool:
    # By identity: `int in mro` compares with `==`, and a metaclass of the function's defines
    # what `==` of its classes does (round 19: a C function there raised inside the hook).
    return any(base is _int for base in _mro(kind))


def _lookup(kind: type, name: str) -> object:
    for klass in _mro(kind):
        found = _type_dict(klass).get(name)
        if found is not None:
            return found
    return None


def capture_pathlib() -> None:
    """Record the standard ``pathlib`` classes, their conversion methods, and every name that
    conversion looks up, bound as it is now.

    Called at install, before the function's code runs, so what is recorded is the real
    thing (inside Lambda the runtime client has imported pathlib already: no cost). A path's
    conversion (``__fspath__`` → ``str(self)`` → ``__str__`` → the class's helpers → the path
    module's functions) looks names up at call time — module globals, builtins, class
    attributes, the flavour module or object — and reads the instance's slots; any of those
    rebound, or holding an object with methods of its own, would run the function's code
    inside the hook, and could answer the hook one thing and the system call another. So each
    such binding (or its absence, where a new one would shadow a builtin or a class attribute)
    is recorded here and compared before a path object is converted (:func:`_pathlib_intact`).
    """
    if _PATH_TYPES:
        return
    import builtins
    import pathlib

    kinds = (pathlib.PurePosixPath, pathlib.PosixPath, pathlib.PurePath, pathlib.Path)
    for kind in kinds:
        _PATH_TYPES.append((kind, _lookup(kind, "__fspath__"), _lookup(kind, "__str__")))
    classes = []
    for kind in kinds:
        for klass in _mro(kind):
            if klass is not object and klass not in classes:
                classes.append(klass)
    views = {id(klass): _type_dict(klass) for klass in classes}
    pending: list[Any] = [_lookup(kind, n) for kind in kinds for n in ("__fspath__", "__str__")]
    all_names: set[str] = {"__getattribute__", "__getattr__"}  # how every attribute is read
    done: set[int] = set()
    # Where the conversion reads attributes, each as its lookup order (the first namespace
    # holding the name answers): the path classes, then modules and flavour objects reached.
    chains: list[list[Any]] = [[views[id(klass)] for klass in classes]]
    seen_chains: set[int] = set()
    records: dict[tuple[int, str], tuple[Any, str, object]] = {}

    def note(namespace: Any, name: str, value: object) -> None:
        records.setdefault((id(namespace), name), (namespace, name, value))

    def lookup_in(chain: list[Any], name: str) -> None:
        if not any(name in namespace for namespace in chain):
            if name in ("__getattribute__", "__getattr__"):  # object's own: none may appear
                for namespace in chain:
                    note(namespace, name, _MISSING)
            return
        for namespace in chain:
            if name in namespace:
                note(namespace, name, namespace[name])
                follow(namespace[name])
                return
            note(namespace, name, _MISSING)  # one bound here later would answer first

    def walk(function: Any) -> None:
        module_dict = function.__globals__
        for name in sorted(_code_names(function.__code__)):
            all_names.add(name)
            if name in module_dict:
                note(module_dict, name, module_dict[name])
                follow(module_dict[name])
            elif name in builtins.__dict__:
                note(module_dict, name, _MISSING)  # a global of that name would shadow it
                note(builtins.__dict__, name, builtins.__dict__[name])
            for chain in list(chains):
                lookup_in(chain, name)

    def follow(value: Any) -> None:
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            for part in (value.fget, value.fset):
                if part is not None and id(part) not in done:
                    pending.append(part)
        elif isinstance(value, _FunctionType):
            if id(value) not in done:
                pending.append(value)
        elif isinstance(value, _ModuleType):
            add_chain([value.__dict__])
        elif not isinstance(value, type) and _type(getattr(value, "__dict__", None)) is _dict:
            # a flavour object (3.10/3.11): its own attributes, then its class's
            own = [value.__dict__]
            add_chain(own + [_type_dict(k) for k in _mro(_type(value)) if k is not object])

    def add_chain(chain: list[Any]) -> None:
        if id(chain[0]) not in seen_chains:
            seen_chains.add(id(chain[0]))
            chains.append(chain)

    while True:
        while pending:
            function = pending.pop()
            if not isinstance(function, _FunctionType) or id(function) in done:
                continue
            done.add(id(function))
            walk(function)
        # A chain reached late: the names of the functions walked before, looked up there.
        before = _len(records)
        for chain in list(chains):
            for name in sorted(all_names):
                lookup_in(chain, name)
        if not pending and _len(records) == before:
            break
    _PATHLIB_BINDINGS.extend(records.values())
    for klass in classes:
        slot_names = views[id(klass)].get("__slots__", ())
        for name in slot_names if _type(slot_names) is tuple else ():
            member = views[id(klass)].get(name)
            if member is not None:
                _PATHLIB_SLOTS.append((klass, member))


def _code_names(code: Any) -> set[str]:
    found = set(code.co_names)
    for const in code.co_consts:
        if _type(const) is _type(code):
            found |= _code_names(const)
    return found


_FunctionType = _type(_lookup)
_ModuleType = _type(sys)
# What capture_pathlib recorded: (namespace, name, the object then or _MISSING) for every name
# a conversion looks up (a class's namespace is read through its read-only view, live), and
# the instances' slots.
_PATHLIB_BINDINGS: list[tuple[Any, str, object]] = []
_PATHLIB_SLOTS: list[tuple[type, Any]] = []


def _any_is(items: tuple[Any, ...], wanted: object) -> bool:
    return any(item is wanted for item in items)


_MISSING = object()
_view_get = _type(_type_dict(object)).get


def _pathlib_intact(value: object) -> bool:
    """Whether converting ``value`` (an exact standard path object) runs only pathlib's own
    code on plain data: every name the conversion looks up is bound to what it was at install
    (and none shadows a builtin or a class attribute), and the instance's slots hold only
    ``None``, exact ``str``/``int``, or lists and tuples of exact ``str``."""
    for namespace, name, original in _PATHLIB_BINDINGS:
        if _type(namespace) is _dict:
            # (a module's dict the function can write to: looked up without running its keys)
            if lookup(namespace, name, _MISSING) is not original:
                return False
        elif _view_get(namespace, name, _MISSING) is not original:
            return False  # a class's namespace: str keys only
    classes = _mro(_type(value))
    for owner, member in _PATHLIB_SLOTS:
        if not _any_is(classes, owner):
            continue  # a slot of another of the classes (Path's, for a PurePosixPath)
        try:
            held = member.__get__(value)
        except AttributeError:
            continue  # not set yet
        kind = _type(held)
        if held is None or kind is _str or kind is _int or kind is _bool:
            continue
        if kind is not _list and kind is not _tuple:
            return False
        for item in held:
            if _type(item) is not _str:
                return False
    return True


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

    # Each table size a dict can have: its slots and the bytes of one index entry. (Plain
    # expressions, no helper function: this runs at every cold start.)
    shapes = [
        (1 << log2, 1 if log2 < 8 else 2 if log2 < 16 else 4 if log2 < 32 else 8)
        for log2 in range(3, 48)
    ]
    unicode = {base + head + slots * index + (2 * slots // 3) * 16 for slots, index in shapes}
    general = {base + head + slots * index + (2 * slots // 3) * 24 for slots, index in shapes}
    if unicode & general:
        return frozenset()
    # Dicts built by insertion, one key at a time (as a comprehension builds them; fromkeys of
    # a list does the same, in C: the probe costs ~0.1 ms less at every cold start). The keys:
    # 342 distinct exact strs, one character each (chr is the cheapest way to make them).
    keys = list(map(chr, range(342)))
    for count in (1, 5, 6, 11, 22, 43, 86, 171, 342):
        plain = _dict.fromkeys(keys[:count], 0)
        mixed: dict[object, int] = _dict.fromkeys(keys[:count], 0)
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


# A name shown in an unresolvable path's target: its head and tail at most (a name the kernel
# refuses may be megabytes long).
_SHOWN_NAME = 240
_ELLIPSIS = "\u2026"


def unresolvable(name: object) -> str:
    """The target for a path the sandbox cannot resolve: the undecodable mark (NUL), then
    ``unresolvable path: <name>``.

    Each name its own target, so that every one of them is reported (one generic target made
    every later refusal of an invocation a repeat of the first). A name longer than 240
    characters shows its first and last 120; a name that is not exact text shows none.

    Example
    -------
    >>> unresolvable("/a/b")[1:]
    'unresolvable path: /a/b'
    >>> len(unresolvable("/" + "d" * 5000)) - len(unresolvable(""))
    241
    """
    if _type(name) is not _str:
        return UNDECODABLE + "unresolvable path"
    if _len(name) > _SHOWN_NAME:
        half = _SHOWN_NAME // 2
        name = name[:half] + _ELLIPSIS + name[-half:]
    return UNDECODABLE + "unresolvable path: " + name


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
    if kind is _int or kind is _bool or _derives_from_int(kind):
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


_str_text = str.__str__  # (str's own slot: a subclass's text copied, none of its methods run)
_issubclass = issubclass


def code_text(value: object, default: str = "<unknown>") -> str:
    """An exact ``str`` of a code object's text attribute (``co_filename``, ``co_name``,
    ``co_qualname``), or ``default`` when it is no text.

    Those are ``str`` subclasses where the function made them so (``compile()`` at init keeps
    a subclass as the file name; ``_imp._fix_co_filename`` sets one on an existing code object,
    with no audit event): a method or operator of such an object -- ``startswith``, ``==``,
    ``+`` -- is code of the function's, a C function among them pushes no frame. The hook
    works on a copy made with ``str``'s own slot.

    Example
    -------
    >>> class Text(str):
    ...     def startswith(self, *args):
    ...         raise RuntimeError("ran")
    >>> type(code_text(Text("/app.py"))) is str
    True
    """
    kind = _type(value)
    if kind is _str:
        return value  # type: ignore[return-value]
    if _issubclass(kind, _str):
        return _str_text(value)
    return default


_exception_slots = BaseException.__dict__
_traceback_of = _exception_slots["__traceback__"].__get__
_set_traceback = _exception_slots["__traceback__"].__set__
_context_of = _exception_slots["__context__"].__get__
_set_context = _exception_slots["__context__"].__set__
_cause_of = _exception_slots["__cause__"].__get__
_set_cause = _exception_slots["__cause__"].__set__
# (3.11+: a group's members, read through its own slot; whether an exception is a group, by
# identity in its class's MRO -- isinstance() reads an object's __class__, which a class of
# the function's can answer with code of its own: red team 114)
_group_class = getattr(__import__("builtins"), "BaseExceptionGroup", None)
_members_of = _group_class.__dict__["exceptions"].__get__ if _group_class is not None else None
_mro_of = type.__dict__["__mro__"].__get__


def forget_frames(error: BaseException) -> None:
    """Drop the traceback of ``error`` and of every exception chained to it, through
    ``BaseException``'s own slots (no method of the exception's class runs).

    An exception raised inside the hook by an object of the function's (a C function on its
    class: no frame) may be one the function holds: its ``__traceback__`` would lead it to the
    hook's frames, and their locals to everything the hook decides with (red-team round 19).
    The hook forgets them before it does anything else with an exception it caught.

    Example
    -------
    >>> try:
    ...     raise ValueError("x")
    ... except ValueError as exc:
    ...     forget_frames(exc)
    ...     print(exc.__traceback__)
    None
    """
    seen: list[object] = []
    pending: list[object] = [error]
    while pending and _len(seen) < 64:
        item = pending.pop()
        if item is None or any(item is s for s in seen):  # (the slots hold exceptions only)
            continue
        seen.append(item)
        _set_traceback(item, None)  # (first: nothing below may run before it is gone)
        pending.append(_context_of(item))
        pending.append(_cause_of(item))
        if _members_of is not None and any(c is _group_class for c in _mro_of(_type(item))):
            pending.extend(_members_of(item))
    _set_context(error, None)
    _set_cause(error, None)


def stat_identity(st: os.stat_result) -> tuple[int, int, int, int, int, int, int]:
    """What a file's identity is for the exec verdicts: (device, inode, link count, change
    time ns, modification time ns, size, mode) of a stat result -- ``core.file_identity``'s
    tuple, built the same way wherever a stat result is at hand.

    Example
    -------
    >>> stat_identity(os.stat("/"))[1] == os.stat("/").st_ino
    True
    """
    return (
        st.st_dev,
        st.st_ino,
        st.st_nlink,
        st.st_ctime_ns,
        st.st_mtime_ns,
        st.st_size,
        st.st_mode,
    )


def fs_encodable(text: str) -> bool:
    """Whether ``text`` encodes with ``surrogateescape`` without the codec error-handler
    registry: ASCII, or no surrogate outside U+DC80..U+DCFF (what the UTF-8 encoder maps back
    to bytes itself). Any other surrogate sends the encoder to the registry by name -- where
    the function can register a handler of its own (``codecs.register_error``, no audit
    event), code that would run inside the hook and choose the bytes.

    Example
    -------
    >>> fs_encodable("caf\\u00e9"), fs_encodable("\\udcff"), fs_encodable("\\ud800")
    (True, True, False)
    """
    if _str_isascii(text):
        return True
    for char in text:
        point = _ord(char)
        if 0xD800 <= point <= 0xDFFF and not 0xDC80 <= point <= 0xDCFF:
            return False
    return True


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
    if kind is _int or kind is _bool or _derives_from_int(kind):
        return _int_index(value)  # type: ignore[arg-type]
    if kind is _DirEntry and _dir_entry_path is not None:
        path = _dir_entry_path.__get__(value)  # the C struct member: what os.fspath() returns
        return as_path(path) if _type(path) is _str or _type(path) is _bytes else undecodable(value)
    for path_type, fspath, to_str in _PATH_TYPES:
        if kind is not path_type:
            continue
        if _lookup(kind, "__fspath__") is not fspath or _lookup(kind, "__str__") is not to_str:
            return undecodable(value)  # pathlib's conversion was rebound: not standard any more
        if not _pathlib_intact(value):
            return undecodable(value)  # something it reaches was changed: not pure any more
        # The class's own conversion, which the system call repeats: with everything it reaches
        # as at install and plain data in the object, a pure function of the object's parts.
        text = fspath(value)  # type: ignore[operator]
        return text if _type(text) is _str else undecodable(value)
    # A bytearray or memoryview path is refused: the system call takes its copy of the bytes
    # when the call converts its arguments, and another argument's conversion (an __index__,
    # an __fspath__) or another thread can change the buffer before the event shows it.
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
_ENVIRON_NAMES = ("__getitem__", "__iter__", "__len__")
_ENVIRON_METHODS = tuple(_lookup(_Environ, n) for n in _ENVIRON_NAMES)
_referents = __import__("gc").get_referents


def _chain(kind: type, name: str) -> tuple[tuple[dict[str, Any], ...], object]:
    """The live namespace dicts attribute lookup of ``name`` on ``kind`` walks until the class
    that defines it (each dict taken once through its class's read-only view), and what that
    class defines: checked later with one probe per dict, no view and no MRO walk."""
    dicts = []
    for klass in _mro(kind):
        own = _referents(_type_dict(klass))[0]
        dicts.append(own)
        if name in own:
            return tuple(dicts), own[name]
    return tuple(dicts), None


_ABC = __import__("collections.abc").abc
# What CPython's envlist building reaches beyond the three methods above: keys() and
# values(), and the making and iteration of the views they return (what decides the
# contents; a view's length only sizes the list).
_ENVIRON_CHAIN_NAMES = ("keys", "values", "__init__", "__iter__", "__init__", "__iter__")
_ENVIRON_CHAINS = tuple(
    _chain(kind, name)
    for kind, name in zip(
        (_Environ, _Environ, _ABC.KeysView, _ABC.KeysView, _ABC.ValuesView, _ABC.ValuesView),
        _ENVIRON_CHAIN_NAMES,
        strict=True,
    )
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


# Every (namespace dict, name, what it held at install) that _environ_data checks, flat (live
# dicts, in tuples: see _ENVIRON_OWN), a shadowing dict on the way holding None: the usual
# answer in one loop, the exact one (along the MRO) only when a probe differs.
_ENVIRON_PROBES = tuple(
    [(_ENVIRON_OWN[0], n, m) for n, m in zip(_ENVIRON_NAMES, _ENVIRON_METHODS, strict=True)]
    + [
        (namespace, name, method if namespace is dicts[-1] else None)
        for name, (dicts, method) in zip(_ENVIRON_CHAIN_NAMES, _ENVIRON_CHAINS, strict=True)
        for namespace in dicts
    ]
)


def _environ_data(value: object) -> object:
    """``os.environ``'s own data dict (encoded), if nothing that reads it was rebound."""
    # Compared item by item by identity: a tuple's != would call a rebound object's __eq__.
    # The class's own dict first (where the originals live: the usual answer at once), else
    # along the MRO as attribute lookup goes.
    own = _ENVIRON_OWN[0]
    for namespace, name, expected in _ENVIRON_PROBES:
        if _dict_get(namespace, name) is not expected:
            break
    else:
        return _environ_instance_data(value)  # everything as at install (the usual case)
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
    for index, (dicts, method) in _enumerate(_ENVIRON_CHAINS):
        name = _ENVIRON_CHAIN_NAMES[index]
        if _dict_get(dicts[-1], name) is not method:
            return None
        for namespace in dicts[:-1]:
            if _dict_get(namespace, name) is not None:
                return None  # shadowed on the way
    return _environ_instance_data(value)


def _environ_instance_data(value: object) -> object:
    """The data dict of an ``os.environ`` instance whose decoders are the original ones."""
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
        if name in out:
            # One name twice (a str and a bytes key): the decision would keep one, the child's
            # getenv the first the kernel hands it.
            return undecodable(key)
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


_NEW_ONLY = os.O_CREAT | os.O_EXCL
# (O_TMPFILE's own bit: its name is a folder, followed; O_PATH ignores O_CREAT and O_EXCL and
# follows a link)
_NOT_NEW_ONLY = (getattr(os, "O_TMPFILE", 0) & ~getattr(os, "O_DIRECTORY", 0)) | getattr(
    os, "O_PATH", 0
)


def makes_new_only(flags: int) -> bool:
    """Whether an open with these flags can only make a new name: ``O_CREAT | O_EXCL`` (it
    fails on anything there, a link included, which it never follows), neither ``O_TMPFILE``
    (whose name is a folder, followed) nor ``O_PATH`` (which ignores both and follows a link).

    Example
    -------
    >>> makes_new_only(os.O_RDWR | os.O_CREAT | os.O_EXCL), makes_new_only(os.O_CREAT)
    (True, False)
    """
    return flags & _NEW_ONLY == _NEW_ONLY and not flags & _NOT_NEW_ONLY


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
