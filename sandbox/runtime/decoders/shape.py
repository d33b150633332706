"""The shape of evaluated code: the syntax it uses and the names it reads, as rule targets.

A learned ``eval``/``exec`` call site in the function's own code (``{task}``) allows the
*shapes* it was seen with, not any source: each compile there is also decided as one
``code shape`` access per feature of the source, ``{task}/app.py:calc#BinOp``,
``…#name:abs``, ``…#attr:upper``. A calculator learned on ``1+2`` and ``3*4`` has ``BinOp`` and
``Constant`` and nothing else, so ``10-3`` passes and ``__import__('os')`` (a ``Call`` and
``name:__import__``) is refused before it is compiled, with the missing feature in the finding.

What counts as a feature: every syntax node's type (``Call``, ``Attribute``, ``Lambda``…) except
the operators, comparisons and contexts (``Add``, ``Lt``, ``Load``: ``1+2`` and ``10-3`` have
the same shape) and the wrappers every source has (``Module``, ``Expression``, ``Expr``); every
``Name`` it reads or writes (``name:x``), every attribute it reads (``attr:upper``) and every other identifier in it:
what it imports and renames (``ImportFrom.module:math``, ``alias.name:sqrt``,
``alias.asname:sq``), defines (``FunctionDef.name:f``, ``arg.arg:x``) or passes by keyword
(``keyword.arg:sep``). Constants
never count: their values are the data an expression is evaluated for.

Bytes are read both as UTF-8 text (what ``eval``/``exec`` of a str compile, ignoring any
``# coding:`` line) and as bytes (what ``compile`` of the caller's bytes reads, honouring it); the
shape is the union of both readings.

Limits: a source the parser below rejects in every reading is not shaped (compile then raises
``SyntaxError``, or accepts it only under a ``__future__`` flag the function's own module sets);
arithmetic on constants is a learned calculator's shape however large it gets (``9**9**9``: the
function's timeout bounds it); sources over
``MAX_SOURCE`` characters, or of more than ``MAX_NODES`` nodes, and objects that are neither text
nor the parser's own syntax nodes are undecodable (refused in enforce). Library and stdlib call
sites (template engines, ``namedtuple``) are decided by site only.
"""

from __future__ import annotations

import sys

from .. import core
from ..categories import UNDECODABLE
from ..values import SHAPE_FILE, _exact_str_keys, lookup
from ..values import forget_frames as _forget_frames

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any

_type = type
_str = str
_bytes = bytes
_list = list
_len = len
_compile_source = compile
_type_class = type  # (the syntax classes' metaclass: identity hash and equality, no code)
_str_isascii = str.isascii
_ModuleSpec = type(sys.__spec__)  # importlib's ModuleSpec, as it was at import
_type_dict = type.__dict__["__dict__"].__get__
_mappingproxy_get = type(_type_dict(int)).get
_instance_dict = _ModuleSpec.__dict__["__dict__"].__get__  # (its instances' C getset)
_NO_FIELD = object()
# CPython's parser imports unicodedata and calls its normalize() for every non-ASCII name: a
# module or function of the function's there would run inside the hook. The real ones,
# captured at import (the module is loaded with the sandbox for that).
_UNICODEDATA = (__import__("unicodedata"),)  # (in a tuple: the module is compared, never used)
_NORMALIZE = _UNICODEDATA[0].normalize
# (and handed to the native core, which compares them again just before a non-ASCII parse
# inside the hook: another thread can change them after the checks below)
core.expect_unicodedata(_UNICODEDATA[0], _NORMALIZE, _ModuleSpec)
_property = property
_property_accessors = (
    _property.__dict__["fget"].__get__,
    _property.__dict__["fset"].__get__,
    _property.__dict__["fdel"].__get__,
)


def _plain_class_value(value: object, before: object) -> bool:
    """Whether a patched node class's attribute runs no C code of anyone's when the parser sets
    it on a node: the value the sandbox found, or a property (the ast module's ``n``, ``s``,
    ``dims``) whose accessors are plain Python functions (the frame guard sees their frames)."""
    if value is before:
        return True
    if _type(value) is not _property:
        return False
    for accessor in _property_accessors:
        function = accessor(value)
        if function is not None and _type(function) is not _FunctionType:
            return False
    return True


_decode = bytes.decode
_dict_get = dict.get
_dict_items = dict.items
_mappingproxy_items = type(type.__dict__).items  # (a class dict's own items: no lookup)
_FunctionType = type(lambda: None)
_hold = core.hold
# PyCF_ONLY_AST, and top-level await accepted: the widest grammar compile() itself can be asked
# for, so a source this parser rejects is one compile rejects too. (The interpreter's constants,
# the same on every version: a test holds them to the ast module's.)
PyCF_ONLY_AST = 0x400
PyCF_ALLOW_TOP_LEVEL_AWAIT = 0x2000
_FLAGS = PyCF_ONLY_AST | PyCF_ALLOW_TOP_LEVEL_AWAIT
MAX_SOURCE = 65536
MAX_NODES = 20000

# The parser warns on some sources (an invalid escape, a numeric literal run into a name), and
# CPython's warning machinery then calls the warnings module's functions -- which the function
# can rebind -- or writes to sys.stderr, which it can replace: code of the function's would run
# inside the hook. So the parse runs with an "ignore" filter first in the list the C warning
# code reads (the warnings module's own `filters`, found in the real sys.modules with no code
# of anyone's running): the first filter matches every warning, nothing is shown or called.
# When that list cannot be found so (no warnings module, or one that is not a plain module
# with a plain list), the source is not shaped: refused.
# sys.modules itself, live (in a tuple: the hook's frozen copy copies module-level dicts).
_LIVE_MODULES = (sys.modules,)
_ModuleType = type(sys)
_module_dict = _ModuleType.__dict__["__dict__"].__get__  # type: ignore[index]
_IGNORE_ALL = ("ignore", None, Warning, None, 0)
_list_insert = list.insert
_list_pop = list.pop
_CONTEXT_WARNINGS = bool(getattr(sys.flags, "context_aware_warnings", False))  # (3.14+)


# The parser's syntax-node classes, and what the walk needs of them. CPython makes ~120 heap
# types the first time anything needs them (~1-2 ms), and most functions never shape a source:
# they are loaded (load_syntax) the first time a source is shaped, from a module of the
# interpreter's own _ast the core makes (core.syntax_classes: never sys.modules' one), and the
# native core seals them then. At install only where no layout below is known for this
# version, or where _ast was loaded already.
#
# Loaded later, they may have been made earlier with no audit event (compile() makes them
# before it even looks at its argument, so compile(0, ...) makes them and raises TypeError)
# and changed by the function's code in between: a field dropped from `_fields` hides what
# the walk would have read, a base swapped moves a class among the unshaped ones, a descriptor
# on a class takes the parser's setattr. So they are trusted only as CPython makes them:
# every class dict holds text, None, tuples of text, dicts, or its own C descriptors under
# their own names; and their names, bases and fields hash to the layout recorded for this
# version (SYNTAX_LAYOUTS; `python scripts/syntax_layouts.py PYTHON...` prints them, a test
# holds the table to every supported Python). Anything else: no source is shaped (refused in
# enforce), with the reason in the finding.
SYNTAX_LAYOUTS: dict[tuple[int, int], str] = {
    (3, 10): "0c6942c2ce5f173a01fbb6a4b9e9778de307a6a63926f82e10b8b0fba5e65bfb",
    (3, 11): "9d92414b8c2b63b70568ac8e0d37e0dbdeab091e00c50510734c921cf0a465c1",
    (3, 12): "1553ced03df0c1d8fc8a720d161bc3b56c194e5bfe3a56f0521106dad0dfe9a9",
    (3, 13): "947211daf82fbd0f8ae2ee0c4b3f3404097753a2326a3224c50c7b9ff0b89357",
    (3, 14): "87f6ba0745ba53aedfccbcf10abd2c150527fb02e150e5bee52ef3859367b63d",
}
_VERSION = (sys.version_info[0], sys.version_info[1])
_NOT_LOADED = object()
_FIELDS: dict[type, tuple[str, ...]] = {}
_NAMES: dict[type, str] = {}
_UNSHAPED: frozenset[type] = frozenset()
_Name: object = _NOT_LOADED
_Constant: object = _NOT_LOADED
_Attribute: object = _NOT_LOADED
_node_dict: Any = None  # (the AST base's own C getset of a node's __dict__)
_PATCHED_BY_AST: tuple[type, ...] = ()
_PATCHED_KEYS: tuple[frozenset[str], ...] = ()
_PATCHED_VALUES: tuple[dict[str, object], ...] = ()
_SYNTAX: list[str] = []  # once loaded: "" when the classes are usable, else why not
# The classes the core does not seal (all of them with the Python core, which cannot) but the two
# above, each with its own attributes as read at load: checked before each parse.
_UNSEALED = core.KIND != "native"
_SNAPSHOTS: tuple[tuple[type, tuple[type, ...], tuple[tuple[str, object], ...]], ...] = ()
_PATCHED_BASES: tuple[tuple[type, ...], ...] = ()  # Constant's and Tuple's, as read at load
# The two classes the ast module sets properties on when it is imported, and those properties.
_PATCHED_NAMES = ("Constant", "Tuple")
_AST_PROPERTIES = frozenset({"n", "s", "dims"})
# Syntax that is no feature: operators, comparisons, contexts, and the wrappers every source has.
_UNSHAPED_ROOTS = ("operator", "unaryop", "cmpop", "boolop", "expr_context", "mod")
# Which of a syntax class's own attributes CPython gives which kind of value: text, tuples of
# text, dicts (3.13's); every other attribute is None (an optional field's default) or a C
# descriptor of the class's own.
_TEXT_KEYS = frozenset({"__module__", "__doc__", "__qualname__"})
_TUPLE_KEYS = frozenset({"_fields", "_attributes", "__match_args__"})
# (3.14 keeps the classes' annotations, which CPython makes from their field types, under
# __annotations_cache__: a dict nothing here reads)
_DICT_KEYS = frozenset({"__annotations__", "__annotations_cache__", "_field_types"})
_type_bases = type.__dict__["__bases__"].__get__
_type_mro = type.__dict__["__mro__"].__get__
_types = __import__("types")
_WRAPPER = _types.WrapperDescriptorType
_METHOD = _types.MethodDescriptorType
_GETSET = _types.GetSetDescriptorType
_MEMBER = _types.MemberDescriptorType
_BUILTIN = _types.BuiltinFunctionType
_syntax_classes = core.syntax_classes
_warnings_settled = core.warnings_settled
_type_versions = core.type_versions
_inside_the_hook = core.inside
_digest = core.content_digest


def _class_value_plain(cls: type, name: str, key: object, value: object) -> bool:
    """Whether a syntax class's own attribute is one CPython puts there: text, None, a tuple
    of text, a dict (3.13's annotations, 3.14's annotations cache), or a C descriptor of the
    class's own under its own name (the AST base's slots, a ``__weakref__``); on the two
    classes the ast module patches, its properties too. (Types compared by identity only: a
    value's type may be a class of the function's whose metaclass hashes or compares with
    code of its own.)"""
    if _type(key) is not _str:
        return False
    kind = _type(value)
    if value is None:
        return True  # (the defaults of optional fields: never anything else)
    if kind is _str:
        return key in _TEXT_KEYS
    if kind is dict:
        return key in _DICT_KEYS
    if kind is tuple:
        return key in _TUPLE_KEYS and all(_type(item) is _str for item in value)  # type: ignore[attr-defined]
    if kind is _WRAPPER or kind is _METHOD or kind is _GETSET or kind is _MEMBER:
        return value.__objclass__ is cls and value.__name__ == key  # type: ignore[attr-defined]
    if kind is _BUILTIN:
        return value.__self__ is cls and value.__name__ == key  # type: ignore[attr-defined]
    if name in _PATCHED_NAMES and key in _AST_PROPERTIES:
        return _plain_class_value(value, _NOT_LOADED)
    return False


def _read_classes(
    classes: tuple[tuple[str, type], ...], check: bool = True
) -> tuple[str | None, dict[type, dict[str, object]]]:
    """Each class's own attributes, read once (what is checked is what is kept: the two
    unsealed classes can change meanwhile), and the SHA-256 of the classes' names, bases and
    fields; ``None`` for it when a class is not as CPython makes it (a metaclass, a base from
    elsewhere, a value of anyone's in its dict), or when not ``check``ed (install's own read:
    nothing to compare it with)."""
    spaces: dict[type, dict[str, object]] = {}
    for _, cls in classes:
        if _type(cls) is not type:
            return None, spaces
        items = _list(_mappingproxy_items(_type_dict(cls)))
        if not all(_type(key) is _str for key, _ in items):
            return None, spaces
        spaces[cls] = dict(items)
    if not check:
        return None, spaces
    names = {cls: name for name, cls in classes}
    rows = []
    plain = True
    for name, cls in sorted(classes, key=_first):
        bases = []
        for base in _type_bases(cls):
            if base is object:
                bases.append("object")
            elif _type(base) is type and base in names:
                bases.append(names[base])
            else:
                return None, spaces
        space = spaces[cls]
        for key, value in _dict_items(space):
            plain = plain and _class_value_plain(cls, name, key, value)
        rows.append((name, tuple(bases), _dict_get(space, "_fields")))
    if not plain:
        return None, spaces
    return _digest(repr(tuple(rows)).encode()), spaces


def syntax_layout(classes: tuple[tuple[str, type], ...]) -> str | None:
    """The SHA-256 of the syntax classes' names, bases and fields; ``None`` when a class is not
    as CPython makes it (a metaclass, a base from elsewhere, a value of anyone's in its dict).

    Example
    -------
    >>> len(syntax_layout(core.syntax_classes()))
    64
    """
    return _read_classes(classes)[0]


def _first(pair: tuple[str, type]) -> str:
    return pair[0]


def load_syntax(trusted: bool = False) -> str:
    """Load the syntax classes (once): ``""`` when they are usable, else why not.

    ``trusted``: at install, where no code of the function's has run: the classes are taken
    as they are. Otherwise they must be as CPython makes them (see ``SYNTAX_LAYOUTS``).
    """
    global _FIELDS, _NAMES, _UNSHAPED, _Name, _Constant, _Attribute, _node_dict
    global _PATCHED_BY_AST, _PATCHED_KEYS, _PATCHED_VALUES, _PATCHED_BASES, _SNAPSHOTS
    if _SYNTAX:
        return _SYNTAX[0]
    try:
        classes = _syntax_classes()
        layout, spaces = _read_classes(classes, check=not trusted)
        if not trusted and (layout is None or layout != SYNTAX_LAYOUTS.get(_VERSION)):
            _SYNTAX.append("code shaped with parser classes changed before the sandbox read them")
            return _SYNTAX[0]
        by_name = dict(classes)
        base = by_name["AST"]
        roots = frozenset(by_name[name] for name in _UNSHAPED_ROOTS)
        fields = {
            cls: tuple(f for f in _dict_get(spaces[cls], "_fields", ()) if _type(f) is _str)  # type: ignore[attr-defined]
            for _, cls in classes
            if cls is not base
        }
        unshaped = frozenset(
            cls
            for cls in fields
            if cls is by_name["Expr"] or any(kind in roots for kind in _type_mro(cls))
        )
        patched = tuple(by_name[name] for name in _PATCHED_NAMES)
        node_dict = spaces[base]["__dict__"].__get__  # type: ignore[attr-defined]
    except Exception as exc:  # (a MemoryError, or a version whose classes differ)
        _forget_frames(exc)
        _SYNTAX.append("code shaped where the parser's classes could not be read")
        return _SYNTAX[0]
    _FIELDS = fields
    _NAMES = {cls: name for name, cls in classes if cls is not base}
    _UNSHAPED = unshaped
    _Name, _Constant, _Attribute = by_name["Name"], by_name["Constant"], by_name["Attribute"]
    _node_dict = node_dict
    _PATCHED_BY_AST = patched
    _PATCHED_KEYS = tuple(frozenset(spaces[kind]) | _AST_PROPERTIES for kind in patched)
    _PATCHED_VALUES = tuple(spaces[kind] for kind in patched)
    _PATCHED_BASES = tuple(_type_bases(kind) for kind in patched)
    if _UNSEALED:
        _SNAPSHOTS = tuple(
            (cls, _type_bases(cls), tuple(_dict_items(spaces[cls])))
            for _, cls in classes
            if cls not in patched
        )
    _SYNTAX.append("")
    return ""


def _same_bases(cls: type, before: tuple[type, ...]) -> bool:
    """Whether ``cls`` has the very bases it had at load (a base swapped in brings attributes
    of its own: a ``__class__`` that CPython's tree-to-code step asks, a ``__setattr__`` the
    parser calls; the class's own dict does not show them: red team 49)."""
    now = _type_bases(cls)
    return _len(now) == _len(before) and all(a is b for a, b in zip(now, before))  # noqa: B905


def _classes_unchanged() -> bool:
    """Whether every class of :data:`_SNAPSHOTS` has the bases and holds the very attributes
    read at load, in the same order (a dict's items come in insertion order: a key set again
    keeps its place but not its value, a key added or removed changes the count)."""
    for cls, bases, before in _SNAPSHOTS:
        if not _same_bases(cls, bases):
            return False
        now = _list(_mappingproxy_items(_type_dict(cls)))
        if _len(now) != _len(before):
            return False
        for (key, value), (old_key, old_value) in zip(now, before):  # noqa: B905 (same length)
            if key is not old_key or value is not old_value:
                return False
    return True


def syntax_at_install() -> bool:
    """Whether install loads the syntax classes itself: no layout is known for this version
    (nothing to check them against later), or ``_ast`` is loaded already (the classes exist:
    only their reading is left)."""
    return _VERSION not in SYNTAX_LAYOUTS or "_ast" in _LIVE_MODULES[0]


def _identifier(cls: type, field: str, value: str) -> str:
    # Names read and attributes keep their short forms; any other identifier says where it
    # stands (``alias.asname:sqrt``, ``ImportFrom.module:os``, ``keyword.arg:sep``), so that
    # renaming an import cannot pass for reading a learned name.
    if cls is _Name:
        return "name:" + value
    if cls is _Attribute:
        return "attr:" + value
    kind: str = _NAMES[cls]
    return kind + "." + field + ":" + value


def _too_deep(exc: SyntaxError) -> bool:
    # Parser limits that depend on the stack depth show up as SyntaxErrors on some versions
    # ("too complex", "maximum recursion depth"): like RecursionError, not a plain syntax error.
    message = exc.args[0] if exc.args and _type(exc.args[0]) is _str else ""
    return "too complex" in message or "recursion" in message


def _warning_filters() -> list[object] | None:
    """The list of warning filters CPython's C warning code reads now, or ``None`` when it
    cannot be told without running code of anyone's (see ``_IGNORE_ALL``)."""
    if _CONTEXT_WARNINGS:
        return None  # (filters per context: not one list)
    modules = _LIVE_MODULES[0]
    module = lookup(modules, "warnings")
    if _type(module) is not _ModuleType:
        return None
    space = _module_dict(module)
    if not _str_keyed(modules) or not _str_keyed(space):
        # CPython's C warning code looks "warnings" up in sys.modules and "filters" in the
        # module's dict with ordinary dict lookups: a planted key of the same hash would have
        # its __eq__ run inside the hook. Only tables of exact str keys are safe to let it.
        return None
    if not _spec_plain(lookup(space, "__spec__")):
        return None
    filters = lookup(space, "filters")
    return filters if _type(filters) is _list else None


def _parser_plain(readings: list[object]) -> bool:
    """Whether CPython's parser runs no code of anyone's on these readings: the node classes
    it fills (with setattr) are sealed at install by the native core, except the two the ast
    module patches, whose own attributes must be what they were (or the ast module's); and
    for a non-ASCII reading, unicodedata in sys.modules is the real module with its real
    normalize, with a plain spec. With the Python core (nothing sealed) every other class's
    own attributes are checked too: the ones read at load, each the same object."""
    for kind, keys, values, bases in zip(
        _PATCHED_BY_AST, _PATCHED_KEYS, _PATCHED_VALUES, _PATCHED_BASES, strict=True
    ):
        if not _same_bases(kind, bases):
            return False
        for key, value in _list(_mappingproxy_items(_type_dict(kind))):
            if _type(key) is not _str or key not in keys:
                return False
            before = _dict_get(values, key)
            # Only the ast module's own names may hold a property (the parser never sets them);
            # every other attribute -- a field the parser sets, a slot -- is the one read at
            # load, or the parser's setattr could run a setter of anyone's (red team 48).
            if not (
                value is before or (key in _AST_PROPERTIES and _plain_class_value(value, before))
            ):
                return False
    if _UNSEALED and not _classes_unchanged():
        return False
    if all(_str_isascii(reading) for reading in readings):  # type: ignore[arg-type]
        return True
    modules = _LIVE_MODULES[0]
    if not _str_keyed(modules):
        return False
    module = lookup(modules, "unicodedata")
    # (its class too: a module subclass's __getattribute__ would answer the parser's reads --
    # red team 113 raised an exception of its own there and read the hook's frames)
    if module is not _UNICODEDATA[0] or _type(module) is not _ModuleType:
        return False
    space = _module_dict(module)
    return (
        _str_keyed(space)
        and lookup(space, "normalize") is _NORMALIZE
        and _spec_plain(lookup(space, "__spec__"))
    )


def _spec_plain(spec: object) -> bool:
    """Whether CPython's module lookup reads the ``warnings`` module's ``__spec__`` with no
    code of anyone's: ``PyImport_GetModule`` asks ``spec._initializing`` (and its truth) of
    every module it finds. An exact ``ModuleSpec`` (the class captured at import) whose class
    defines no ``_initializing`` and no attribute hooks, and whose own dict (exact ``str``
    keys) holds no ``_initializing`` or an exact ``bool``."""
    if _type(spec) is not _ModuleSpec:
        return False
    space = _type_dict(_ModuleSpec)
    for name in ("_initializing", "__getattribute__", "__getattr__"):
        if _mappingproxy_get(space, name) is not None:
            return False
    own = _instance_dict(spec)
    if not _str_keyed(own):
        return False
    value = lookup(own, "_initializing", _NO_FIELD)
    return value is _NO_FIELD or _type(value) is bool


# PEP 263's declaration, on one of the first two lines; and the names of the decoders CPython
# runs itself (UTF-8, Latin-1 and ASCII: their fast paths, no codec registry).
# The declaration is read by _declared_coding, not by the PEP's regex: compiling it at import
# was the runtime's only `re` compile before install (~0.1-0.3 ms of every cold start, the
# first compile of the process paying re's own warm-up).
_COOKIE_PATTERN = rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)"  # (what _declared_coding matches)
_LEADING = frozenset(b" \t\f")
_COLON_OR_EQUALS = frozenset(b":=")
_AFTER_COLON = frozenset(b" \t")
_CODEC_NAME = frozenset(b"-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_bytes_find = bytes.find
_UTF8_COOKIES = frozenset({b"utf-8", b"utf8", b"utf_8", b"ascii"})
_LATIN1_COOKIES = frozenset(
    {b"latin-1", b"latin1", b"latin_1", b"iso-8859-1", b"iso8859-1", b"iso_8859_1", b"iso-latin-1"}
)
_BOM = b"\xef\xbb\xbf"


def _bytes_readings(source: bytes) -> list[str] | None:
    """The texts bytes may be compiled as, decoded here (never by ``compile``, whose coding
    declaration lookup goes to the codec registry, where the function can register code of
    its own): as UTF-8 (what eval of a str hands the hook, compiled ignoring any declaration),
    and as the declaration on one of the first two lines says (any newline the tokenizer
    takes: ``\\n``, ``\\r\\n``, a lone ``\\r``). ``None`` for a declaration of any other codec (the
    shape cannot be known without it: refused); an empty list when no reading decodes."""
    body = source[3:] if source[:3] == _BOM else source
    lines = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n", 2)[:2]
    declared = None
    for line in lines:  # (both lines looked at: a second-line declaration counts as one)
        found = _declared_coding(line)
        if found is not None:
            declared = found.lower()
            break
    if declared is not None and declared not in _UTF8_COOKIES | _LATIN1_COOKIES:
        return None
    readings: list[str] = []
    try:
        readings.append(_decode(body, "utf-8"))
    except UnicodeDecodeError:
        pass  # not UTF-8: only a caller's own bytes, read with their declaration
    if declared in _LATIN1_COOKIES:
        readings.append(_decode(body, "latin-1"))
    return readings


def _declared_coding(line: bytes) -> bytes | None:
    """The codec name a line declares, as ``re.match(_COOKIE_PATTERN, line).group(1)`` finds
    it (``None``: no declaration): blanks, ``#``, then the first ``coding`` followed by ``:``
    or ``=``, blanks and a name of ``-``, ``.`` and ASCII word characters (a bytes pattern's
    ``\\w``). ``line`` holds no newline (``.`` of the pattern: any other byte).

    Example
    -------
    >>> _declared_coding(b"# -*- coding: latin-1 -*-")
    b'latin-1'
    """
    end = _len(line)
    at = 0
    while at < end and line[at] in _LEADING:
        at += 1
    if at == end or line[at] != 35:  # "#"
        return None
    # ".*?": the first "coding" after the "#" that the rest matches after (a later one when
    # an earlier one is not followed by a declaration).
    start = _bytes_find(line, b"coding", at + 1)
    while start >= 0:
        at = start + 6
        if at < end and line[at] in _COLON_OR_EQUALS:
            at += 1
            while at < end and line[at] in _AFTER_COLON:
                at += 1
            name_end = at
            while name_end < end and line[name_end] in _CODEC_NAME:
                name_end += 1
            if name_end > at:
                return line[at:name_end]
        start = _bytes_find(line, b"coding", start + 1)
    return None


def _str_keyed(mapping: object) -> bool:
    """Whether every key of the dict ``mapping`` is an exact ``str`` (O(1) from 3.11, else a
    walk of its keys: iterating a dict compares nothing)."""
    if _type(mapping) is not dict:
        return False
    if _exact_str_keys(mapping):
        return True
    return all(_type(key) is _str for key in mapping)


if TYPE_CHECKING:
    # (exception class, message, line, offset, text, end line, end offset)
    Rejection = tuple[Any, ...]


def features(source: object) -> list[str] | str | Rejection:
    """The sorted features of ``source`` (text or a syntax tree), or an undecodable target.

    For text the parser rejects in every reading, the :data:`Rejection` (what it raised): the
    hook raises that at a site whose shapes the profile knows, in place of the compile. Never
    "no features" -- whether the parser accepts a text is not the text's alone (the digit limit
    of ``sys.set_int_max_str_digits``, the caller's ``__future__`` flags change it with no
    audit event): a text the shape parse rejected could compile a moment later, unshaped
    (red team 48).

    Example
    -------
    >>> features("1 + 2")
    ['BinOp', 'Constant']
    >>> features("__import__('os').system('id')")
    ['Attribute', 'Call', 'Constant', 'Name', 'attr:system', 'name:__import__']
    """
    unusable = _SYNTAX[0] if _SYNTAX else load_syntax()
    if unusable:
        return UNDECODABLE + unusable
    kind = _type(source)
    if kind is _str or kind is _bytes:
        if _len(source) > MAX_SOURCE:  # type: ignore[arg-type]
            return UNDECODABLE + "code too large to shape"
        # eval()/exec() of a str hand the hook its UTF-8 bytes, and then compile them ignoring
        # any "# coding:" line; compile() of bytes the caller gave honours it. The hook cannot
        # tell the two apart, so bytes are parsed both ways and the shape is the union: a
        # cookie that makes one reading harmless (utf-7) or unparseable hides nothing.
        readings: list[object] = [source]
        if kind is _bytes:
            texts = _bytes_readings(source)  # type: ignore[arg-type]
            if texts is None:
                return UNDECODABLE + "code with a coding declaration the sandbox does not decode"
            readings = list(texts)  # (str only: compile() of a str looks no codec up)
        stack: list[object] = []
        filters = _warning_filters()
        if filters is None:
            return UNDECODABLE + "code shaped with a warnings machinery not the standard one"
        if _inside_the_hook() and not _warnings_settled(filters):
            # (a warning in the parse would drop the filters list CPython's C code kept, or ask
            # a warnings context's filters: code of anyone's run inside the parse, after the
            # classes' check -- red team 110. The sealed compilers settle it in the caller's
            # own context first: this holds where anything changed it since. Outside the hook
            # -- the tooling's own shapes -- no code of the function's runs at all.)
            return UNDECODABLE + "code shaped while the warning filters were changing"
        # The two unsealed classes' versions (native core, in the hook): read before their
        # check and again after the walk, equal only when nothing of theirs changed meanwhile
        # -- a descriptor set and deleted again around the check caught the parser's nodes
        # for another thread to change before the walk read them (red team 111).
        versions = _type_versions(_PATCHED_BY_AST) if not _UNSEALED and _inside_the_hook() else None
        if versions is not None and 0 in versions:
            return UNDECODABLE + "code shaped with parser classes whose changes cannot be told"
        if not _parser_plain(readings):
            return UNDECODABLE + "code shaped with parser classes or modules that were changed"
        rejected: Rejection | None = None
        for reading in readings:
            _list_insert(filters, 0, _IGNORE_ALL)
            try:
                # (the parse's file name: CPython may open it to show a syntax error's line;
                # no kernel opens SHAPE_FILE. A relative "<shape>" could be the function's FIFO)
                stack.append(_compile_source(reading, SHAPE_FILE, "exec", _FLAGS, True))  # type: ignore[call-overload]
            # (Each exception caught loses its traceback first: one raised by an object of
            # the function's may be one it holds -- forget_frames.)
            except SyntaxError as exc:
                _forget_frames(exc)
                if _too_deep(exc):
                    return UNDECODABLE + "code too deeply nested to shape"
                if rejected is None:
                    rejected = _rejection(exc)
            except ValueError as exc:
                _forget_frames(exc)
                if rejected is None:  # a NUL byte (3.11: ValueError; 3.12+: SyntaxError)
                    rejected = (ValueError, _message_of(exc), None, None, None, None, None)
                continue
            except (RecursionError, MemoryError) as exc:
                _forget_frames(exc)
                # The parser's nesting limit counts from the current stack depth, and this
                # parse runs frames deeper than the caller's compile: a source nested just
                # under the caller's limit fails here only. Refused, never "no features".
                return UNDECODABLE + "code too deeply nested to shape"
            except Exception as exc:
                _forget_frames(exc)
                return UNDECODABLE + "code the shape parser could not read"
            finally:
                if filters and filters[0] is _IGNORE_ALL:
                    _list_pop(filters, 0)
        if not stack:  # no reading parsed (or none decoded): what compile would raise
            return rejected if rejected is not None else _UNREADABLE
    elif _type(kind) is _type_class and _dict_get(_FIELDS, kind) is not None:
        # compile() of a syntax tree built by hand: CPython's tree-to-code step reads it by
        # attribute lookup, through the classes, as the parser writes through them
        if not _parser_plain([]):
            return UNDECODABLE + "code shaped with parser classes or modules that were changed"
        stack = [source]
        versions = None
    else:
        return UNDECODABLE + "code that is neither text nor a syntax tree"
    # Everything read from the tree is kept past the callback (core.hold): another thread of
    # the function's may drop its own references to a hand-built tree meanwhile, and the
    # walk's must not be the last (a finalizer of the function's would run inside the hook).
    held: list[object] = [stack]
    try:
        found = _walk(stack, held, kind is _str or kind is _bytes)
    finally:
        _hold(held)
    if versions is not None and _type_versions(_PATCHED_BY_AST) != versions:
        return UNDECODABLE + "code shaped with parser classes that were changed meanwhile"
    return found


_UNREADABLE: Rejection = (
    SyntaxError,
    "source code cannot be decoded",
    None,
    None,
    None,
    None,
    None,
)
_SYNTAX_ERRORS = (SyntaxError, IndentationError, TabError)
_int = int
_bool = bool


def _rejection(exc: SyntaxError) -> Rejection:
    """What the parser raised, as plain values (the exception itself stays here)."""
    kind = _type(exc)
    if kind not in _SYNTAX_ERRORS:
        kind = SyntaxError
    details = []
    for value in (exc.lineno, exc.offset, exc.text, exc.end_lineno, exc.end_offset):
        details.append(value if _type(value) is _int or _type(value) is _str else None)
    return (kind, _message_of(exc), *details)


def _message_of(exc: BaseException) -> str:
    syntax = any(_type(exc) is k for k in _SYNTAX_ERRORS)
    message = exc.msg if syntax else (exc.args[0] if exc.args else None)  # type: ignore[attr-defined]
    return message if _type(message) is _str else "invalid syntax"


def _walk(stack: list[object], held: list[object], parsed: bool) -> list[str] | str:
    """The features of the nodes on ``stack`` and under them, or an undecodable target.

    ``parsed``: the tree is the shape parse's of a text, where CPython's parser sets every
    field of every node (``None``, an empty list): a field missing there is a field whose
    setting a class of the function's diverted -- ``Constant`` and ``Tuple`` stay unsealed (the
    ``ast`` module patches them), and another thread can set a descriptor on one between the
    check of the classes and the parse (red team 109 hid a call under a ``Tuple`` whose
    ``elts`` a property's setter dropped, while the real compile read the text). Refused. (A
    tree built by hand may leave an optional field out: CPython's tree-to-code reads it as
    empty, and so does the walk.)"""
    keep = held.append
    found: set[str] = set()
    count = 0
    while stack:
        node = stack.pop()
        keep(node)
        count += 1
        if count > MAX_NODES:
            return UNDECODABLE + "code too large to shape"
        cls = _type(node)
        # (a class of another metaclass is no syntax class: and its hash or equality would be
        # code of the function's, run by this very lookup -- red team 115)
        fields = _dict_get(_FIELDS, cls) if _type(cls) is _type_class else None
        if fields is None:
            return UNDECODABLE + "a syntax node of an unknown type"
        if cls not in _UNSHAPED:
            found.add(_NAMES[cls])
        # A node's fields from its own __dict__ (the C getset captured at import), never by
        # attribute lookup: a data descriptor the function set on a node class would win
        # over the instance's value and run its code here. Walked, not looked up: a tree
        # built by hand may hold a key of the function's with a colliding hash.
        # One snapshot of the node's dict (a single C call: nothing runs, and nothing of it
        # is freed here while it is held), its exact-str keys in a dict of the sandbox's.
        items = _list(_dict_items(_node_dict(node)))
        keep(items)
        space = {key: value for key, value in items if _type(key) is _str}
        if _len(space) != _len(items):
            # A key of another type (a str subclass "body") is what CPython's tree-to-code
            # step finds by attribute lookup, where this walk would see no such field: the
            # tree would run what was never shaped (round 26).
            return UNDECODABLE + "a syntax node with a field name that is not plain text"
        for field in fields:
            value: Any = _dict_get(space, field, _NO_FIELD)
            if value is _NO_FIELD:
                if parsed:
                    return UNDECODABLE + "code shaped with parser classes that were changed"
                continue
            value_type = _type(value)
            if value_type is _list:
                value = _list(value)  # (a snapshot, held: the same reasons)
                keep(value)
                for item in value:
                    item_type = _type(item)
                    if (
                        _type(item_type) is _type_class
                        and _dict_get(_FIELDS, item_type) is not None
                    ):
                        stack.append(item)
                    elif _type(item) is _str:
                        if cls is not _Constant:
                            found.add(_identifier(cls, field, item))  # Global/Nonlocal names
                    elif item is not None:
                        return UNDECODABLE + "a syntax node of an unknown type"
            elif _type(value_type) is _type_class and _dict_get(_FIELDS, value_type) is not None:
                stack.append(value)
            elif value_type is _str:
                # Every identifier is a feature: what is read, imported, renamed (``as``),
                # defined, passed by keyword. A constant's text and a type comment are not.
                if cls is not _Constant and field != "type_comment":
                    found.add(_identifier(cls, field, value))
            elif (cls is _Name and field == "id") or (cls is _Attribute and field == "attr"):
                return UNDECODABLE + "a name that is not text"
            elif not (
                value is None or value_type is _int or value_type is _bool or cls is _Constant
            ):
                # Anything else is refused, never passed over: CPython's tree-to-code step
                # takes subclasses of the node classes and of list, which this walk would not
                # follow (a Call subclass hid a call; red team 48). Scalars are an import's
                # level, a conversion, a flag; a constant's value is never a feature.
                return UNDECODABLE + "a syntax node field of a type the parser does not make"
    return sorted(found)
