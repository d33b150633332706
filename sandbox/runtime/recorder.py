"""Learn mode's recorder: each novel observation written through at once, authenticated.

Observation format (``"type": "sandbox.observation"``, ``"v": 2``)::

    {"type": "sandbox.observation", "v": 2, "function": "orders", "version": "$LATEST",
     "env": "6f1c…", "phase": "invoke", "request_id": "…", "invocation": 3,
     "time": "2026-11-29T03:00:00Z", "category": "files", "action": "read",
     "target": "{task}/templates/order.html", "mac": "…"}

``target`` is normalised and written against symbolic roots; an ``exec`` also carries ``argv``
(without argv[0]). Each invocation's end writes ``"type": "sandbox.invocation"`` with the count of
novel observations, which is how ``profile status`` knows learning has settled. Nothing is held
back until the invocation ends, so a timeout, crash or SIGKILL loses nothing already seen.

Authentication: the function's own output goes to the same log stream, and a line it prints
(an event field echoed into a log message is enough) would otherwise be read as an observation
and become a rule. So every record carries ``mac`` = HMAC-SHA256 over its canonical JSON under
a key drawn at install for this process (``env``), and the ``sandbox.start`` record — written
before the function's code loads — announces the key. The profile builder accepts a record only
when its MAC verifies under the key of its environment's start record, and a start record only
where it can be the sandbox's (first in its log stream after the platform's ``INIT_START``).
Limit: code already running arbitrary Python during learning can read the key from memory
(learning blocks nothing); learn on benign traffic.
"""

from __future__ import annotations

import os
import time

from .findings import Invocation
from .roots import Roots
from .sinks import _ENCODER, LineSink, TeeSink

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any

try:  # the C implementation (OpenSSL): no Python code whose module globals could be rebound
    from _hashlib import hmac_digest as _hmac_digest
except ImportError:  # pragma: no cover - every CPython with ssl has it
    from hmac import digest as _hmac_digest  # type: ignore[assignment]

OBSERVATION_VERSION = 2
_strftime = time.strftime
_gmtime = time.gmtime
_bytes_hex = bytes.hex
_str_encode = str.encode


def mac(key: bytes, record: dict[str, Any]) -> str:
    """The MAC of a record (every field but ``mac``), over its canonical JSON.

    Example
    -------
    >>> len(mac(b"k" * 32, {"type": "sandbox.observation", "target": "/tmp/x"}))
    64
    """
    body = {k: v for k, v in record.items() if k != "mac"}
    canonical = _ENCODER.encode(dict(sorted(body.items())))
    return _bytes_hex(_hmac_digest(key, _str_encode(canonical, "utf-8"), "sha256"))


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
        key: bytes | None = None,
    ):
        self.sink = sink
        self.function = function
        self.version = version
        self.roots = roots
        self.environment = environment or os.urandom(8).hex()
        self.key = key or os.urandom(32)
        self._novel_this_invocation = 0

    def record(
        self, category: str, action: str, target: str, phase: str, invocation: Invocation
    ) -> None:
        shown, argv = self.roots.symbolic(category, target)
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
        record["mac"] = mac(self.key, record)
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
        record: dict[str, Any] = {
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
        record["mac"] = mac(self.key, record)
        self.sink.write(record)
        self._novel_this_invocation = 0


def _now() -> str:
    return _strftime("%Y-%m-%dT%H:%M:%SZ", _gmtime())
