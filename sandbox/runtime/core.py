"""The audit hook's core: name filter, re-entrancy guard, phase and decision cache (Python version).

Interim pure-Python implementation of the core contract (the native C core and the selector
between the two replace this module). Its state sits in closure cells and a thread-local:
Python code that reaches them (``gc``, frames) can change them — a documented limit that only
the native core closes.
"""

from __future__ import annotations

import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import CodeType
    from typing import Any

KIND = "python"
_CACHE_LIMIT = 8192
_MAX_NESTING = 8
_getframe = sys._getframe
_addaudithook = sys.addaudithook
_type = type
_str = str

_state: dict[str, Any] = {"installed": False, "mode": "off", "phase": "init"}
_local = threading.local()
_cache: set[str] = set()
_own: list[frozenset[CodeType]] = [frozenset()]


def _depth() -> int:
    return getattr(_local, "depth", 0)


def _caller_is_own(depth: int = 2) -> bool:
    frame = _getframe(depth)
    return frame is not None and frame.f_code in _own[0]


def install(
    names: frozenset[str],
    callback: Callable[[str, tuple[Any, ...], CodeType | None], BaseException | None],
    own_codes: frozenset[CodeType],
    mode: str,
    caller_events: frozenset[str] = frozenset(),
) -> bool:
    """Install the audit hook once per process; ``False`` if a core hook is already there."""
    if _state["installed"]:
        return False
    _state["installed"] = True
    _state["mode"] = mode
    _own[0] = own_codes
    local = _local
    get_frame = _getframe

    def sandbox_audit_hook(event: str, args: tuple[Any, ...]) -> None:
        if event not in names:
            return
        depth = getattr(local, "depth", 0)
        if depth:
            frame = get_frame(1)
            if frame.f_code in own_codes:
                return  # the sandbox's own work
            if depth >= _MAX_NESTING:
                raise PermissionError("lambda-sandbox: nested audit events too deep")
        caller = get_frame(1).f_code if event in caller_events else None
        local.depth = depth + 1
        try:
            error = callback(event, args, caller)
        finally:
            local.depth = depth
        if error is not None:
            raise error

    _addaudithook(sandbox_audit_hook)
    return True


def mode() -> str:
    return str(_state["mode"])


def phase() -> str:
    return str(_state["phase"])


def enter_invoke() -> None:
    if not _caller_is_own():
        raise PermissionError("lambda-sandbox: the phase is the sandbox's own to change")
    _state["phase"] = "invoke"


def cache_has(key: str) -> bool:
    return _type(key) is _str and key in _cache


def cache_add(key: str) -> None:
    if not _depth() or not _caller_is_own():
        raise PermissionError("lambda-sandbox: the decision cache is the sandbox's own")
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache.add(key)


def cache_clear() -> None:
    if not _depth() or not _caller_is_own():
        raise PermissionError("lambda-sandbox: the decision cache is the sandbox's own")
    _cache.clear()


def inside() -> bool:
    return _depth() > 0


def installed() -> bool:
    return bool(_state["installed"])
