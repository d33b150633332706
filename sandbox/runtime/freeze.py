"""Snapshot a module's functions so rebinding its globals later cannot change them.

Code in the function can rebind any module global (``sandbox.runtime.events.norm_path = ...``) with no
audit event. The hook therefore runs *copies* of its decoder functions whose globals are a
private snapshot taken at install time, before the function's code loads; functions that call
each other inside the snapshot call the copies too.
"""

from __future__ import annotations

import types
from collections.abc import Iterable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any


def freeze(modules: Iterable[types.ModuleType]) -> dict[int, Any]:
    """Copy the functions and methods of ``modules`` onto snapshot globals.

    Returns a map ``id(original) → copy``; the snapshots themselves point at the copies.
    """
    snapshots: dict[int, dict[str, Any]] = {}
    for module in modules:
        snapshots[id(module.__dict__)] = dict(module.__dict__)
    copies: dict[int, Any] = {}
    functions: list[types.FunctionType] = []
    for snapshot in snapshots.values():
        for value in snapshot.values():
            if isinstance(value, types.FunctionType):
                functions.append(value)
            elif isinstance(value, type):
                functions.extend(
                    v for v in vars(value).values() if isinstance(v, types.FunctionType)
                )
    for value in functions:
        if id(value.__globals__) not in snapshots or id(value) in copies:
            continue  # imported from elsewhere, or already copied
        clone = types.FunctionType(
            value.__code__,
            snapshots[id(value.__globals__)],
            value.__name__,
            value.__defaults__,
            value.__closure__,
        )
        clone.__kwdefaults__ = value.__kwdefaults__
        clone.__qualname__ = value.__qualname__
        copies[id(value)] = clone
    for snapshot in snapshots.values():
        for name, value in list(snapshot.items()):
            if id(value) in copies:
                snapshot[name] = copies[id(value)]
            elif type(value) in (dict, list, set):
                # Module-level mutable state (caches, tables): the frozen code gets its own
                # copy, so filling or clearing the module's object from outside changes nothing.
                snapshot[name] = value.copy()
    return copies


def freeze_instances(instances: Iterable[Any], copies: dict[int, Any]) -> None:
    """Give each instance a subclass whose methods are the frozen copies (same layout).

    Attribute lookups still go through the class, so rebinding a *module global* cannot
    change what the instance does. (Assigning to the class attributes themselves is a
    different, documented limit: plain class attributes are mutable with no audit event.)
    """
    frozen_classes: dict[type, type] = {}
    for instance in instances:
        cls = type(instance)
        if cls not in frozen_classes:
            namespace: dict[str, Any] = {"__slots__": (), "__module__": cls.__module__}
            for klass in reversed(cls.__mro__):
                for name, value in vars(klass).items():
                    if isinstance(value, types.FunctionType) and id(value) in copies:
                        namespace[name] = copies[id(value)]
            frozen_classes[cls] = type(cls.__name__, (cls,), namespace)
        instance.__class__ = frozen_classes[cls]
