"""Violation records: one JSON line per finding, deduplicated, rate-limited, exportable.

A finding says who attacked (the event source), where (the first non-library frame) and how
(category, action, normalised target), what the sandbox did (``blocked`` or ``would-block``),
and the profile rule that would allow it. Repeats of the same finding are counted, not
re-logged; past ``max_per_invocation`` findings in one invocation the rest are only counted,
and the counts are written when the invocation ends.
"""

from __future__ import annotations

import os
import sys
import time

from .roots import Roots
from .sinks import LineSink

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any


SCHEMA = 1
_getframe = sys._getframe
_SANDBOX_DIR = os.path.dirname(os.path.abspath(__file__))


class Invocation:
    """The current invocation: request id and the event source (who)."""

    __slots__ = ("number", "request_id", "who")

    def __init__(
        self, request_id: str | None = None, who: dict[str, Any] | None = None, number: int = 0
    ):
        self.request_id = request_id
        self.who = who or {}
        self.number = number


class Reporter:
    """Writes findings; holds the dedup table and the per-invocation budget."""

    def __init__(
        self,
        sink: LineSink,
        *,
        function: str,
        version: str,
        mode: str,
        roots: Roots,
        layers: dict[str, str],
        max_per_invocation: int = 100,
    ):
        self.sink = sink
        self.function = function
        self.version = version
        self.mode = mode
        self.roots = roots
        self.layers = layers
        self.max_per_invocation = max_per_invocation
        self._seen: dict[tuple[str, ...], int] = {}
        self._emitted_this_invocation = 0
        self._suppressed = 0
        library = [
            d + "/" for name in ("stdlib", "site", "prefix") for d in roots.dirs.get(name, ())
        ]
        self._library_dirs = (*library, _SANDBOX_DIR + "/")

    def site(self) -> str:
        """``file:line`` of the first frame that is not the sandbox, stdlib or a library."""
        frame = _getframe(1)
        fallback = None
        while frame is not None:
            filename = frame.f_code.co_filename
            if not filename.startswith(_SANDBOX_DIR):
                if fallback is None:
                    fallback = frame
                if not filename.startswith(self._library_dirs) and not filename.startswith(
                    "<frozen"
                ):
                    break
            frame = frame.f_back  # type: ignore[assignment]
        chosen = frame or fallback
        if chosen is None:
            return "<unknown>"
        filename = chosen.f_code.co_filename
        if not filename.startswith("<"):
            filename = os.path.normpath(filename)
        return f"{self.roots.to_symbolic(filename)}:{chosen.f_lineno}"

    def report(
        self,
        *,
        category: str,
        action: str,
        target: str,
        decision: str,
        rule: str,
        phase: str,
        invocation: Invocation,
        reason: str = "not in profile",
        argv: list[str] | None = None,
    ) -> None:
        site = self.site()
        key = (category, action, target + "\x1f" + "\x1f".join(argv or ()), decision, site)
        count = self._seen.get(key, 0) + 1
        if len(self._seen) > 4096:
            self._seen.clear()
        self._seen[key] = count
        if count > 1:
            return
        if self._emitted_this_invocation >= self.max_per_invocation:
            self._suppressed += 1
            return
        self._emitted_this_invocation += 1
        self.sink.write(
            {
                "type": "sandbox.finding",
                "schema": SCHEMA,
                "level": "ERROR" if decision == "blocked" else "WARN",
                "time": _now(),
                "function": self.function,
                "version": self.version,
                "request_id": invocation.request_id,
                "phase": phase,
                "mode": self.mode,
                "category": category,
                "action": action,
                "target": target,
                **({"argv": argv} if argv is not None else {}),
                "decision": decision,
                "reason": reason,
                "rule": rule,
                "site": site,
                "who": invocation.who,
                "layers": self.layers,
            }
        )

    def end_invocation(self, invocation: Invocation) -> None:
        """Write the repeat and suppressed counts of the invocation that ends, then reset."""
        repeats = {
            f"{k[0]} {k[1]} {k[2].replace(chr(31), ' ')}": n - 1
            for k, n in self._seen.items()
            if n > 1
        }
        if repeats or self._suppressed:
            self.sink.write(
                {
                    "type": "sandbox.finding.summary",
                    "schema": SCHEMA,
                    "level": "WARN",
                    "time": _now(),
                    "function": self.function,
                    "version": self.version,
                    "request_id": invocation.request_id,
                    "repeats": repeats,
                    "suppressed": self._suppressed,
                }
            )
        self._seen = {k: 1 for k in self._seen}
        self._emitted_this_invocation = 0
        self._suppressed = 0

    def internal_error(self, event: str, error: BaseException, invocation: Invocation) -> None:
        self.sink.write(
            {
                "type": "sandbox.error",
                "schema": SCHEMA,
                "level": "ERROR",
                "time": _now(),
                "function": self.function,
                "request_id": invocation.request_id,
                "event": event,
                "error": f"{type(error).__name__}: {error}",
            }
        )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def rule_hint(category: str, action: str, target: str, phase: str, roots: Roots) -> str:
    """The profile rule (as JSON text) that would allow an access."""
    import json

    shown = target
    rule: dict[str, Any] = {"action": action, "phase": phase}
    if category == "processes" and action == "exec":
        parts = target.split("\x1f")
        shown = roots.to_symbolic(parts[0])
        rule["argv"] = [roots.symbolise_text(a) for a in parts[1:]]
    elif category in ("files", "native", "code"):
        shown = roots.to_symbolic(target)
    rule["target"] = shown
    return f"rules.{category}: " + json.dumps(rule, sort_keys=True)
