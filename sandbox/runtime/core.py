"""The audit hook's core: the native ``_core`` extension, or its pure-Python fallback.

``KIND`` says which one is active: ``"native"`` unless the extension cannot be loaded for this
interpreter or ``SANDBOX_NATIVE=off`` is set. Both implement the same contract
(``docs/NATIVE.md``); only the native one keeps its state out of Python's reach.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "KIND",
    "LOAD_ERROR",
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


def _choose() -> tuple[ModuleType, str, str | None]:
    if os.environ.get("SANDBOX_NATIVE", "").strip().lower() in {"off", "0", "false", "no"}:
        from . import core_fallback

        return core_fallback, "python", "SANDBOX_NATIVE=off"
    try:
        from . import _core  # type: ignore[attr-defined]
    except ImportError as exc:
        from . import core_fallback

        return core_fallback, "python", f"{type(exc).__name__}: {exc}"
    return _core, "native", None


_impl, KIND, LOAD_ERROR = _choose()

install = _impl.install
mode = _impl.mode
phase = _impl.phase
enter_invoke = _impl.enter_invoke
cache_has = _impl.cache_has
cache_add = _impl.cache_add
cache_clear = _impl.cache_clear
inside = _impl.inside
installed = _impl.installed
