"""The control channel's public end: the functions that talk to the installed hook.

The hook keeps no handle anyone can hold: a process that installed the sandbox talks to it
with audit events (``sandbox.phase``, ``sandbox.invocation``...), which the hook honours only
from the code of its *control* functions. These are the default ones, for processes that
install the sandbox themselves (``sandbox.install()``); the Lambda bootstrap passes its own
handler instead. They live in this small module, apart from the hook's: importing them loads
nothing else of the runtime, and the hook's own modules run on private copies nobody imports.

Example
-------
>>> from sandbox.runtime.control import installed, mark_invoke_phase
>>> installed() is None or mark_invoke_phase()  # doctest: +SKIP
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "DEFAULT_CONTROL",
    "begin_invocation",
    "end_invocation",
    "flush",
    "installed",
    "mark_invoke_phase",
    "report_init_failed",
]

_audit = sys.audit

# The control helpers bind ``sys.audit`` as a default argument: rebinding this module's globals
# cannot stop them (and assigning their ``__defaults__`` is refused like any tamper).


def installed() -> dict[str, Any] | None:
    """Status of the installed hook in this process, or ``None`` (asks it over the audit channel)."""
    answers: list[dict[str, Any]] = []
    _audit("sandbox.status", answers)
    return answers[0] if answers else None


def mark_invoke_phase(_audit: Callable[..., None] = sys.audit) -> None:
    """Switch the installed hook from init to invoke rules (one way)."""
    _audit("sandbox.phase", "invoke")


def begin_invocation(
    request_id: str | None, who: dict[str, Any], _audit: Callable[..., None] = sys.audit
) -> None:
    """Tell the hook an invocation starts (request id and event source, for findings)."""
    _audit("sandbox.invocation", request_id, who)


def end_invocation(_audit: Callable[..., None] = sys.audit) -> None:
    """Tell the hook the invocation ended (summaries and the learn record are written)."""
    _audit("sandbox.invocation_end")


def flush(_audit: Callable[..., None] = sys.audit) -> None:
    """Write what learn holds back (the run of quiet invocation ends) and push buffered
    observations out (the S3 sink); registered with ``atexit`` in learn mode."""
    _audit("sandbox.flush")


def report_init_failed(_audit: Callable[..., None] = sys.audit) -> None:
    """The function's code failed to load: the runtime may post the init error to its API."""
    _audit("sandbox.init_failed")


# The control functions any process may use when it installs the sandbox itself
# (``sandbox.install()``); the Lambda bootstrap replaces them with its own handler's code.
DEFAULT_CONTROL = (mark_invoke_phase, begin_invocation, end_invocation, flush, report_init_failed)
