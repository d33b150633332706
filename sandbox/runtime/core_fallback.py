"""The audit hook's core in pure Python: the semantics of the native ``_core``, state reachable.

Same contract as the C extension (see ``docs/NATIVE.md``), used where the extension cannot
load or ``SANDBOX_NATIVE=off``. Its limits, shown by the tests and not closable in Python:

* its state (names, mode, phase, cache, callback) lives in closure cells and a
  ``threading.local``: code that walks ``gc.get_objects()`` finds and can rewrite it;
* the hook is a Python function: setting ``__cantrace__`` on it (found through gc) lets
  ``sys.settrace`` observe the callback;
* asynchronous signals are not blocked (``signal.pthread_sigmask`` runs pending handlers
  itself, inside the hook), so a Python signal handler may run inside the callback;
* an exception returned by the callback is raised by the Python hook, whose frame is the
  innermost entry of the caller's traceback.
"""

from __future__ import annotations

import _thread
import gc
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import CodeType
    from typing import Any

    Callback = Callable[[str, tuple[Any, ...], CodeType | None], BaseException | None]

__all__ = [
    "cache_add",
    "cache_clear",
    "cache_has",
    "enter_invoke",
    "inside",
    "install",
    "installed",
    "mode",
    "phase",
]

CACHE_LIMIT = 8192
MAX_NESTING = 8

_CodeType = type((lambda: None).__code__)
# Bound at import: no function here looks a module up at call time (code in the function
# could rebind ``sys.audit`` or ``gc.disable``; the hook's freezing refuses such lookups).
_getframe = sys._getframe
_audit = sys.audit
_addaudithook = sys.addaudithook
_gc_disable, _gc_enable, _gc_isenabled = gc.disable, gc.enable, gc.isenabled


class _Depth(_thread._local):
    """Per-thread depth of callback calls (0: not inside), and the hook's own frame lookup."""

    depth = 0
    fetching = False


def _refuse(what: str) -> PermissionError:
    return PermissionError(f"lambda-sandbox: {what} refused")


# The one installed core of this process; empty until install().
_api: dict[str, Callable[..., Any]] = {}


def install(
    names: frozenset[str],
    callback: Callback,
    own_codes: frozenset[CodeType],
    mode: str,
    caller_events: frozenset[str] = frozenset(),
    block_signals: bool = True,
) -> bool:
    """Install the audit hook once per process; ``False`` (nothing changed) if already there.

    Parameters
    ----------
    names : frozenset of str
        The audit events handled; every other event returns at once.
    callback : callable
        ``callback(event, args, caller)`` returning ``None`` (allow) or an exception instance
        (raised from the hook).
    own_codes : frozenset of code
        The sandbox's own code objects: events they raise inside the callback are ignored.
    mode : str
        Kept and returned by :func:`mode`.
    caller_events : frozenset of str
        Events whose ``caller`` argument is the raising frame's code object.
    block_signals : bool
        Accepted for the native core's signature; the Python core cannot block signals.

    Returns
    -------
    bool
        ``True`` if installed now.

    Example
    -------
    >>> install(frozenset({"open"}), lambda e, a, c: None, frozenset(), "learn")  # doctest: +SKIP
    True
    """
    if _api:
        return False
    if not callable(callback):
        raise TypeError("install: callback must be callable")
    if not isinstance(mode, str):
        raise TypeError("install: mode must be str")
    _names = frozenset(_strs(names, "install: names"))
    _caller_events = frozenset(_strs(caller_events, "install: caller_events"))
    _own = frozenset(_codes(own_codes))
    _mode = str(mode)
    _callback = callback
    _local = _Depth()
    _cache: set[str] = set()
    _phase = ["init"]
    _PermissionError = PermissionError
    _BaseException = BaseException
    _TypeError = TypeError
    _str = str

    def _decide(event: str, args: tuple[Any, ...], frame_code: CodeType | None) -> None:
        caller = frame_code if event in _caller_events else None
        was_enabled = _gc_isenabled()
        _gc_disable()
        _local.depth += 1
        try:
            result = _callback(event, args, caller)
        finally:
            _local.depth -= 1
            if was_enabled:
                _gc_enable()
        if result is None:
            return
        if isinstance(result, _BaseException):
            raise result.with_traceback(None)
        raise _TypeError(
            f"lambda-sandbox: audit callback returned {type(result).__name__} "
            "(expected None or an exception)"
        )

    def _hook(event: str, args: tuple[Any, ...]) -> None:
        if event not in _names:
            return
        local = _local
        if local.fetching:
            return  # the sys._getframe event of the line below
        local.fetching = True
        try:
            code = _getframe(1).f_code
        finally:
            local.fetching = False
        depth = local.depth
        if depth:
            if code in _own:
                return
            if depth >= MAX_NESTING:
                raise _PermissionError("lambda-sandbox: nested audit events too deep")
        _decide(event, args, code)

    def _is_own_caller() -> bool:
        # frame 0: this function; 1: the closure; 2: the module-level function; 3: its caller.
        # The lookup raises sys._getframe: the hook ignores it (as the native core raises none).
        local = _local
        local.fetching = True
        try:
            return _getframe(3).f_code in _own
        finally:
            local.fetching = False

    def _enter_invoke() -> None:
        if not _is_own_caller():
            raise _refuse("enter_invoke")
        _phase[0] = "invoke"

    def _cache_has(key: str) -> bool:
        return type(key) is _str and key in _cache

    def _cache_add(key: str) -> None:
        if not _local.depth or not _is_own_caller():
            raise _refuse("cache_add")
        if type(key) is not _str:
            raise _TypeError(f"cache key must be str, not {type(key).__name__}")
        if key in _cache:
            return
        if len(_cache) >= CACHE_LIMIT:
            _cache.clear()
        _cache.add(key)

    def _cache_clear() -> None:
        if not _local.depth or not _is_own_caller():
            raise _refuse("cache_clear")
        _cache.clear()

    _audit("sys.addaudithook")  # refused by an existing hook: raise, as the native core
    _addaudithook(_hook)
    _api.update(
        mode=lambda: _mode,
        phase=lambda: _phase[0],
        enter_invoke=_enter_invoke,
        cache_has=_cache_has,
        cache_add=_cache_add,
        cache_clear=_cache_clear,
        inside=lambda: _local.depth > 0,
    )
    return True


def _strs(items: frozenset[str], what: str) -> list[str]:
    out = []
    for item in items:
        if type(item) is not str:
            raise TypeError(f"{what}: expected str items, got {type(item).__name__}")
        out.append(item)
    return out


def _codes(items: frozenset[CodeType]) -> list[CodeType]:
    out = []
    for item in items:
        if not isinstance(item, _CodeType):
            raise TypeError(f"own_codes: expected code objects, got {type(item).__name__}")
        out.append(item)
    return out


def mode() -> str:
    """Return the mode given at install (``""`` before).

    Example
    -------
    >>> mode()  # doctest: +SKIP
    'enforce'
    """
    return str(_api["mode"]()) if _api else ""


def phase() -> str:
    """Return ``"init"`` until :func:`enter_invoke`, then ``"invoke"`` for good.

    Example
    -------
    >>> phase()
    'init'
    """
    return str(_api["phase"]()) if _api else "init"


def enter_invoke() -> None:
    """Switch the phase to ``"invoke"``; only the sandbox's own code may.

    Raises
    ------
    PermissionError
        Called from code not in ``own_codes`` (or before install).

    Example
    -------
    >>> enter_invoke()  # doctest: +SKIP
    """
    if not _api:
        raise _refuse("enter_invoke")
    _api["enter_invoke"]()


def cache_has(key: str) -> bool:
    """Whether ``key`` is in the decision cache (anything but an exact ``str``: ``False``).

    No method of ``key`` is called.

    Example
    -------
    >>> cache_has("open:/etc/hosts")
    False
    """
    if not _api:
        return False
    return bool(_api["cache_has"](key))


def cache_add(key: str) -> None:
    """Add ``key`` to the decision cache (cleared when 8192 keys are held).

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.

    Example
    -------
    >>> cache_add("open:/etc/hosts")  # doctest: +SKIP
    """
    if not _api:
        raise _refuse("cache_add")
    _api["cache_add"](key)


def cache_clear() -> None:
    """Empty the decision cache (same conditions as :func:`cache_add`).

    Example
    -------
    >>> cache_clear()  # doctest: +SKIP
    """
    if not _api:
        raise _refuse("cache_clear")
    _api["cache_clear"]()


def inside() -> bool:
    """Whether this thread is inside the callback now.

    Example
    -------
    >>> inside()
    False
    """
    return bool(_api["inside"]()) if _api else False


def installed() -> bool:
    """Whether the core's hook is installed in this process.

    Example
    -------
    >>> installed()  # doctest: +SKIP
    False
    """
    return bool(_api)
