"""Learn mode's recorder: each novel observation written through at once as a JSON line.

Observation format (``"type": "sandbox.observation"``, ``"v": 1``)::

    {"type": "sandbox.observation", "v": 1, "function": "orders", "version": "$LATEST",
     "env": "6f1c…", "phase": "invoke", "request_id": "…", "invocation": 3,
     "time": "2026-11-29T03:00:00Z", "category": "files", "action": "read",
     "target": "{task}/templates/order.html"}

``target`` is normalised and written against symbolic roots; an ``exec`` also carries ``argv``
(without argv[0]). Each invocation's end writes ``"type": "sandbox.invocation"`` with the count of
novel observations, which is how ``profile status`` knows learning has settled. Nothing is held
back until the invocation ends, so a timeout, crash or SIGKILL loses nothing already seen.
"""

from __future__ import annotations

import os
import time

from .findings import Invocation
from .globs import ARG_SEP
from .roots import Roots
from .sinks import LineSink, TeeSink

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any


OBSERVATION_VERSION = 1


class Recorder:
    """Writes observations for one execution environment (one process)."""

    def __init__(
        self,
        sink: LineSink | TeeSink,
        *,
        function: str,
        version: str,
        roots: Roots,
        environment: str | None = None,
    ):
        self.sink = sink
        self.function = function
        self.version = version
        self.roots = roots
        self.environment = environment or os.urandom(8).hex()
        self._novel_this_invocation = 0

    def symbolic(self, category: str, action: str, target: str) -> tuple[str, list[str] | None]:
        """The target as stored in profiles (symbolic roots), and argv for execs."""
        if category == "processes" and action == "exec":
            parts = target.split(ARG_SEP)
            argv = [self.roots.symbolise_text(a) for a in parts[1:]]
            return self.roots.to_symbolic(parts[0]), argv
        if category in ("files", "native", "code"):
            # A code target is "/path/file.py:qualname" or a compiled file path.
            return self.roots.to_symbolic(target), None
        return target, None

    def record(
        self, category: str, action: str, target: str, phase: str, invocation: Invocation
    ) -> None:
        shown, argv = self.symbolic(category, action, target)
        record: dict[str, Any] = {
            "type": "sandbox.observation",
            "v": OBSERVATION_VERSION,
            "function": self.function,
            "version": self.version,
            "env": self.environment,
            "phase": phase,
            "request_id": invocation.request_id,
            "invocation": invocation.number,
            "time": _now(),
            "category": category,
            "action": action,
            "target": shown,
        }
        if argv is not None:
            record["argv"] = argv
        self._novel_this_invocation += 1
        self.sink.write(record)

    def flush(self) -> None:
        """Push buffered lines (the S3 sink) out; the hook calls it under its re-entrancy guard."""
        flush = getattr(self.sink, "flush", None)
        if flush is not None:
            flush()

    def begin_invocation(self) -> None:
        self._novel_this_invocation = 0

    def end_invocation(self, invocation: Invocation) -> None:
        self.sink.write(
            {
                "type": "sandbox.invocation",
                "v": OBSERVATION_VERSION,
                "function": self.function,
                "version": self.version,
                "env": self.environment,
                "request_id": invocation.request_id,
                "invocation": invocation.number,
                "time": _now(),
                "novel": self._novel_this_invocation,
            }
        )
        self._novel_this_invocation = 0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
