"""Private copies of a module's code, so rebinding anything the function can reach changes nothing.

The hook's own modules are not copied: they run as private copies executed from their bytecode
(:mod:`.private_modules`). What is left here: :func:`verify`, which the test suite runs on the
private copies (no function the hook calls looks a module up at call time), and :func:`freeze`,
which copies loaded modules (its tests keep its contract).

How a copy is made (:func:`freeze`):

- each module gets a private *snapshot* of its globals, and a private module object wrapping
  it (``paths.resolve`` inside frozen code finds the snapshot, not the real module);
- every snapshot's ``__builtins__`` is a private copy of the builtins taken at install, so the
  frozen functions (and every function they create later) resolve ``len``, ``isinstance``... there;
- every function is re-created on its module's snapshot, every class gets a frozen subclass
  whose namespace holds the frozen methods and copies of its class attributes;
- :func:`verify` names every copied function that still reaches a module that is not one of
  the private copies (a standard-library module looked up at call time, e.g. ``os.path``):
  everything the hook calls must be bound at import (``_lstat = os.lstat``).

What this cannot do (a documented limit of any Python-level hook): an object reached through
the hook's frames or ``gc`` exposes the snapshots themselves. The native core keeps the hook's
frames out of reach and the ``introspect`` category refuses ``gc`` walks.
"""

from __future__ import annotations

import builtins
import types
from collections.abc import Iterable
from itertools import compress, repeat
from operator import attrgetter

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any

_FunctionType = types.FunctionType
_ModuleType = types.ModuleType
_CodeType = types.CodeType
_OBJECT_NEW: Any = object.__new__
_co_names = attrgetter("co_names")


class Frozen:
    """The result of :func:`freeze`: maps from originals to their private copies."""

    __slots__ = ("builtins", "classes", "copies", "made", "modules", "snapshots")

    def __init__(self) -> None:
        self.copies: dict[int, Any] = {}  # id(original function or class) → copy
        self.modules: dict[int, types.ModuleType] = {}  # id(original module) → private module
        self.snapshots: dict[int, dict[str, Any]] = {}  # id(original module dict) → snapshot
        self.builtins: dict[str, Any] = dict(builtins.__dict__)
        # id(snapshot) → every code object made for the copies of its functions (nested ones too)
        self.made: dict[int, list[types.CodeType]] = {}
        # (original class, its frozen copy): what install makes immutable (core.seal_types)
        self.classes: list[tuple[type, type]] = []

    def __call__(self, original: Any) -> Any:
        """The private copy of a function, class or module (error if there is none)."""
        found = self.copies.get(id(original)) or self.modules.get(id(original))
        if found is None:
            raise RuntimeError(f"lambda-sandbox: {original!r} was not frozen")
        return found

    def codes(self) -> tuple[types.CodeType, ...]:
        """Every code object the frozen functions run (nested functions included), by identity.

        Code objects compare (and hash) by value: a set of them keeps one of two equal ones,
        and two copies of one factory-made function (a dispatch table's) have equal codes.
        Each is the sandbox's own, so each is kept here; no code object is hashed.
        """
        out = [code for made in self.made.values() for code in made]
        seen = {id(code) for code in out}
        # A frozen class's namespace may hold a function that was not copied (one inherited
        # from a class outside the frozen modules): it runs as the frozen code does.
        pending = [
            value.__code__
            for cls in self.copies.values()
            if isinstance(cls, type)
            for value in vars(cls).values()
            if type(value) is _FunctionType and id(value.__code__) not in seen
        ]
        while pending:
            code = pending.pop()
            if id(code) in seen:
                continue
            seen.add(id(code))
            out.append(code)
            pending.extend(c for c in code.co_consts if type(c) is _CodeType)
        return tuple(out)


def freeze(modules: Iterable[types.ModuleType]) -> Frozen:
    """Copy the functions, classes and globals of ``modules`` (see the module docstring)."""
    frozen = Frozen()
    copies = frozen.copies
    snapshots: list[tuple[str, dict[str, Any]]] = []  # (module name, its snapshot)
    for module in modules:
        # The private module's own dict is the snapshot: module attribute lookups and the
        # frozen functions' globals see one and the same private copy.
        private = _ModuleType(module.__name__, module.__doc__)
        snapshot = private.__dict__
        snapshot.update(module.__dict__)
        snapshot["__builtins__"] = frozen.builtins
        frozen.snapshots[id(module.__dict__)] = snapshot
        frozen.modules[id(module)] = private
        snapshots.append((module.__name__, snapshot))
    # Functions first (classes' methods need them), each on its own module's snapshot.
    scanned: set[int] = set()  # dicts already walked (every snapshot shares the builtins copy)
    classes: list[type] = []  # the classes each module defines, in the order found
    for name, snapshot in snapshots:
        for value in list(snapshot.values()):
            kind = type(value)
            if kind is _FunctionType:
                if id(value) not in copies:
                    _copy_function(value, frozen)
            elif kind is dict:  # dispatch tables: functions made by factories at import
                if id(value) in scanned:
                    continue  # copying is idempotent: a second walk would change nothing
                scanned.add(id(value))
                for item in value.values():
                    if type(item) is _FunctionType and id(item) not in copies:
                        _copy_function(item, frozen)
            elif isinstance(value, type) and value.__module__ == name:
                classes.append(value)
                for attr in vars(value).values():
                    if type(attr) is _FunctionType and id(attr) not in copies:
                        _copy_function(attr, frozen)
    for cls in classes:
        _copy_class(cls, frozen)
    # Instances of these classes held at module level (the category registry's rows): the
    # frozen code gets private copies too. Shared, an attribute of the function's written
    # into one (no audit event for a slot) would be read by the hook as its own -- a class
    # object with a __bases__ property of the function's ran its code inside the hook.
    # (~2,000 module values and table items, ~30 such instances: each table is walked once --
    # every snapshot holds the same builtins copy -- and each group is tested in C first, by
    # the ids of the classes copied: no hash or comparison of anyone's type runs.)
    instances: dict[int, Any] = {}
    copied = {id(cls) for cls in classes if id(cls) in copies}
    walked: set[int] = set()  # tables already walked (a second walk would copy nothing new)
    for _, snapshot in snapshots:
        values = list(snapshot.values())
        tables = [v for v in values if type(v) is dict and id(v) not in walked]
        walked.update(map(id, tables))
        for group in (values, *map(dict.values, tables)):
            if copied.isdisjoint(map(id, map(type, group))):
                continue
            for item in group:
                if id(type(item)) in copied:
                    _copy_instance(item, frozen, instances)
    copies.update(instances)
    # Copies of functions, classes and instances, and private modules (distinct live
    # objects: no id is in two), in one table.
    replaced = {**copies, **frozen.modules}
    copy_of = replaced.get
    shared_kinds = {set, list}
    for _, snapshot in snapshots:
        for name, value in list(snapshot.items()):
            if name == "__builtins__":
                continue
            replacement = copy_of(id(value))
            if replacement is not None:
                snapshot[name] = replacement
            elif type(value) is dict:
                # Module-level tables and caches: the frozen code gets its own copy, with the
                # functions in it replaced by their frozen copies.
                # (A table of sets or lists gets copies of them too: the index of the path
                # cache must not share its sets with the module the function can reach.)
                # Most tables hold neither (strings, tuples, frozensets...): tested in C, and
                # copied by dict() -- the same copy, without a Python step per item.
                items = value.values()
                if replaced.keys().isdisjoint(map(id, items)) and shared_kinds.isdisjoint(
                    map(type, items)
                ):
                    snapshot[name] = dict(value)
                    continue
                snapshot[name] = {
                    k: v.copy() if type(v) in (set, list) else copy_of(id(v)) or v
                    for k, v in value.items()
                }
            elif type(value) in (list, set):
                snapshot[name] = value.copy()
    # Closure cells made before the function in them was copied (a factory's closures in a
    # table of another module, walked first) still hold the original: the copy's cells get
    # the copy. An original runs the importable module's code, with its globals -- inside
    # the hook, where no code but the sandbox's own may run.
    for clone in list(copies.values()):
        if type(clone) is _FunctionType and clone.__closure__:
            for cell in clone.__closure__:
                try:
                    content = cell.cell_contents
                except ValueError:  # (an empty cell)
                    continue
                mapped = copies.get(id(content))
                if mapped is not None and type(mapped) is _FunctionType:
                    cell.cell_contents = mapped
    return frozen


def _copy_function(value: Any, frozen: Frozen) -> None:
    if not isinstance(value, _FunctionType) or id(value) in frozen.copies:
        return
    snapshot = frozen.snapshots.get(id(value.__globals__))
    if snapshot is None:
        return  # imported from elsewhere (not one of the frozen modules)
    closure = None
    if value.__closure__:
        # New cells: a cell shared with the original could be rewritten through it.
        closure = tuple(_cell(cell, frozen) for cell in value.__closure__)
    # A code object of its own (nested ones too): "the sandbox's own code" is decided by code
    # identity, and the original function stays importable by anyone — it must not count.
    made = frozen.made.get(id(snapshot))
    if made is None:
        made = frozen.made[id(snapshot)] = []
    clone = _FunctionType(
        _fresh_code(value.__code__, made),
        snapshot,
        value.__name__,
        value.__defaults__,
        closure,
    )
    clone.__kwdefaults__ = value.__kwdefaults__
    clone.__qualname__ = value.__qualname__
    frozen.copies[id(value)] = clone


def _fresh_code(code: types.CodeType, made: list[types.CodeType]) -> types.CodeType:
    """A distinct copy of ``code`` and of every code object nested in it (each added to ``made``)."""
    consts = code.co_consts
    for const in consts:
        if type(const) is _CodeType:  # (code objects cannot be subclassed)
            consts = tuple(_fresh_code(c, made) if type(c) is _CodeType else c for c in consts)
            break
    # replace() always builds a new code object, even with nothing nested to renew.
    fresh = code.replace(co_consts=consts)
    made.append(fresh)
    return fresh


def _cell(cell: Any, frozen: Frozen) -> Any:
    try:
        content = cell.cell_contents
    except ValueError:  # an empty cell (a name bound later)
        return types.CellType()
    return types.CellType(frozen.copies.get(id(content), content))


def _copy_instance(value: Any, frozen: Frozen, instances: dict[int, Any]) -> None:
    """A private copy of ``value`` in ``instances`` when it is a plain instance of a class the
    freezing copied (its slots and ``__dict__`` copied over, the same values)."""
    cls = type(value)
    frozen_cls = frozen.copies.get(id(cls))
    if frozen_cls is None or id(value) in instances or cls.__new__ is not _OBJECT_NEW:
        return  # (not one of the copied classes, or made by another __new__: left as it is)
    copy = object.__new__(frozen_cls)
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for slot in (slots,) if type(slots) is str else slots:
            if slot not in ("__dict__", "__weakref__") and hasattr(value, slot):
                object.__setattr__(copy, slot, getattr(value, slot))
    if hasattr(value, "__dict__") and hasattr(copy, "__dict__"):
        copy.__dict__.update(value.__dict__)
    instances[id(value)] = copy


def _copy_class(cls: type, frozen: Frozen) -> None:
    if id(cls) in frozen.copies:
        return
    namespace: dict[str, Any] = {"__slots__": (), "__module__": cls.__module__}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        for name, value in vars(klass).items():
            if name in ("__dict__", "__weakref__", "__slots__", "__module__", "__qualname__"):
                continue
            if isinstance(value, _FunctionType):
                namespace[name] = frozen.copies.get(id(value), value)
            elif isinstance(value, (staticmethod, classmethod)):
                inner = value.__func__
                namespace[name] = type(value)(frozen.copies.get(id(inner), inner))
            elif not (name.startswith("__") and name.endswith("__")) or name in ("__doc__",):
                namespace[name] = value
    try:
        copy = type(cls)(cls.__name__, (cls,), namespace)
    except TypeError:
        return  # a class that cannot be subclassed keeps its own (checked by verify)
    copy.__qualname__ = cls.__qualname__
    frozen.copies[id(cls)] = copy
    frozen.classes.append((cls, copy))


def freeze_instances(instances: Iterable[Any], frozen: Frozen) -> None:
    """Give each instance its class's frozen copy (same layout, frozen methods), and each of
    its attributes that holds an original function or class its frozen copy: an instance made
    before the freezing (the reporter) may hold a module-level function whose globals the
    function can rebind (the rule-hint generaliser's helper ran code of the function's)."""
    for instance in instances:
        copy = frozen.copies.get(id(type(instance)))
        if copy is not None:
            instance.__class__ = copy
        for klass in type(instance).__mro__:
            slots = klass.__dict__.get("__slots__", ())
            for slot in (slots,) if type(slots) is str else slots:
                if slot in ("__dict__", "__weakref__") or not hasattr(instance, slot):
                    continue
                replacement = frozen.copies.get(id(getattr(instance, slot)))
                if replacement is not None:
                    object.__setattr__(instance, slot, replacement)
        space = instance.__dict__ if hasattr(instance, "__dict__") else {}
        for name, value in list(space.items()):
            replacement = frozen.copies.get(id(value))
            if replacement is not None:
                space[name] = replacement


def verify(frozen: Frozen, install_time: Iterable[str] = ()) -> None:
    """Refuse to install if frozen code still reaches a module that is not a private copy.

    A module looked up at call time (``os.path.join(...)``) can be rebound by the function;
    the frozen code must bind what it calls at import instead.

    Raises
    ------
    RuntimeError
        Naming the function and the module it reaches.
    """
    privates = {id(m) for m in frozen.modules.values()}
    exempt = set(install_time)
    problems: list[str] = []
    # Per globals dict (most functions share their module's snapshot): the names bound there
    # to a module that is not a private copy. Only a function using one of them is a problem.
    unfrozen: dict[int, dict[str, types.ModuleType]] = {}
    # A snapshot none of whose code objects uses such a name has nothing to report: its
    # functions are not looked at one by one (most snapshots: one pass over their codes).
    clean: set[int] = set()
    for snapshot in frozen.snapshots.values():
        bound = unfrozen[id(snapshot)] = _unfrozen_in(snapshot, privates)
        names = bound.keys()
        # (in C iterators: ~560 code objects in all, most snapshots clean)
        if not bound or all(
            map(names.isdisjoint, map(_co_names, frozen.made.get(id(snapshot), ())))
        ):
            clean.add(id(snapshot))
    checked: set[int] = set()  # a class copy's methods are copies checked on their own too
    for copy in list(frozen.copies.values()):
        functions = [copy] if isinstance(copy, _FunctionType) else []
        if isinstance(copy, type):
            functions = [v for v in vars(copy).values() if isinstance(v, _FunctionType)]
        for function in functions:
            scope = function.__globals__
            if id(scope) in clean or id(function) in checked:
                continue
            checked.add(id(function))
            if function.__qualname__ in exempt:
                continue
            found = unfrozen.get(id(scope))
            if found is None:
                found = unfrozen[id(scope)] = _unfrozen_in(scope, privates)
            if not found:
                continue
            for name in _names_in(function.__code__, found.keys()):
                problems.append(f"{function.__qualname__} reaches module {found[name].__name__}")
    if problems:
        detail = "; ".join(sorted(set(problems)))
        raise RuntimeError("lambda-sandbox: unfrozen code on the hook's path: " + detail)


def _unfrozen_in(scope: dict[str, Any], privates: set[int]) -> dict[str, types.ModuleType]:
    """The names ``scope`` binds to a module that is not one of the private copies."""
    # (the modules picked out in C: a module's globals are mostly functions and constants)
    picked = compress(scope.items(), map(isinstance, scope.values(), repeat(_ModuleType)))
    return {name: value for name, value in picked if id(value) not in privates}


def _names_in(code: types.CodeType, wanted: Any) -> list[str]:
    """The names of ``wanted`` (a set-like) that ``code`` or a code nested in it uses."""
    found: list[str] = []
    pending = [code]
    while pending:
        current = pending.pop()
        names = current.co_names
        if not wanted.isdisjoint(names):  # (most codes use none: no set is built for them)
            found.extend(name for name in names if name in wanted)
        pending.extend(c for c in current.co_consts if type(c) is _CodeType)
    return found
