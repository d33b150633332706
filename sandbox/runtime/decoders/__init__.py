"""Audit event → accesses, one module per category; :data:`DECODERS` is their union.

A decoder takes the event's argument tuple and returns the accesses it stands for, each a
``(category, action, target, detail)`` tuple with a normalised target (see
:mod:`..values` for how arguments are read and :mod:`..paths` for how paths are resolved), or
``None`` when the event names no capability. Each category module contributes its slice of the
dispatch table (``DECODERS``); the hook looks the event name up there and returns at once for
every other event. Decoders never keep raw arguments: ``http.client.send`` would hold signed
requests, ``marshal.loads`` whole modules.
"""

from __future__ import annotations

from . import aws, code, files, modules, native, network, processes

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Access = tuple[str, str, str, Any]
    Decoder = Callable[[tuple[Any, ...]], "list[Access] | None"]

MODULES = (files, network, processes, modules, native, code, aws)

DECODERS: dict[str, Decoder] = {}
for _module in MODULES:
    for _event, _decoder in _module.DECODERS.items():
        if _event in DECODERS:  # one owner per event: a clash is a bug, found at import
            raise RuntimeError(f"audit event {_event!r} decoded twice")
        DECODERS[_event] = _decoder
