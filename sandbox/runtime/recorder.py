"""Learn mode's recorder: each novel observation written through at once, authenticated.

Observation format (``"type": "sandbox.observation"``, ``"v": 2``)::

    {"type": "sandbox.observation", "v": 2, "function": "orders", "version": "$LATEST",
     "env": "6f1c…", "phase": "invoke", "request_id": "…", "invocation": 3,
     "time": "2026-11-29T03:00:00Z", "category": "files", "action": "read",
     "target": "{task}/templates/order.html", "mac": "…"}

``target`` is normalised and written against symbolic roots; an ``exec`` also carries ``argv``
(without argv[0]). Novel observations are never held back: each is written the moment it is
seen, so a timeout, crash or SIGKILL loses nothing already seen.

Invocation ends (``"type": "sandbox.invocation"``) count the invocations learning has seen,
which is how ``profile status`` knows learning has settled. An invocation that saw something
novel has its end written at once (with ``novel``, the count). The ends of invocations that saw
nothing novel are counted in memory and written as ONE signed record for a run of consecutive
invocations: ``invocation`` (the last), ``first_invocation``, ``time`` (the last one's end),
``first_time`` (the first one's end), ``novel`` 0, ``request_id`` (the last one's). The run is
written when it reaches its size limit (1, 2, 4... doubling up to :data:`BATCH_INVOCATIONS`),
when it began more than :data:`BATCH_SECONDS` before an invocation's end, before any novel
observation is written (so the log stays in order), and at a clean exit. A crash or SIGKILL
(how Lambda ends an environment) therefore loses at most the run not yet written: fewer than
``BATCH_INVOCATIONS`` invocation ends, and never more than were written before them; never an
observation. The profile builder reads both forms (one end, or a run) into the same counts;
lost ends only make learning look less settled than it is (conservative).

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
from .sinks import LineSink, TeeSink, encode_compact

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any

try:  # the C implementation (OpenSSL): no Python code whose module globals could be rebound
    from _hashlib import hmac_digest as _hmac_digest
except ImportError:  # pragma: no cover - every CPython with ssl has it
    from hmac import digest as _hmac_digest  # type: ignore[assignment]

OBSERVATION_VERSION = 2
# Runs of invocation ends that carry nothing novel: at most this many per record, and a run
# that began this many seconds ago is written at the next invocation end (see the docstring).
BATCH_INVOCATIONS = 64
BATCH_SECONDS = 60.0
_strftime = time.strftime
_gmtime = time.gmtime
_time = time.time
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
    canonical = encode_compact(dict(sorted(body.items())))
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
        batch: int = BATCH_INVOCATIONS,
        batch_seconds: float = BATCH_SECONDS,
    ):
        self.sink = sink
        self.function = function
        self.version = version
        self.roots = roots
        self.environment = environment or os.urandom(8).hex()
        self.key = key or os.urandom(32)
        self._novel_this_invocation = 0
        # Known once (the method itself is looked up at each call: the instance's class is
        # swapped for its frozen copy at install); LineSink has no flush, and getattr with a
        # default costs an AttributeError at every invocation end.
        self._buffered = getattr(sink, "flush", None) is not None
        self._batch = max(1, batch)
        self._batch_seconds = batch_seconds
        self._limit = 1  # the current run's size limit: doubles after each run written
        # The run not yet written: [first, last, first end (s), last end (s), last request id]
        self._pending: list[Any] | None = None

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
        if self._pending is not None:
            self.write_pending()  # the quiet invocations before it come first in the log
        self.sink.write(record)

    def flush(self) -> None:
        """Push buffered lines (the S3 sink) out; the hook calls it under its re-entrancy guard."""
        if self._buffered:
            self.sink.flush()  # type: ignore[union-attr]

    def begin_invocation(self) -> None:
        self._novel_this_invocation = 0

    def end_invocation(self, invocation: Invocation) -> None:
        """Count the invocation's end; write it at once if it saw something novel."""
        number = invocation.number
        pending = self._pending
        if self._novel_this_invocation or self._batch == 1:
            if pending is not None:
                self.write_pending()
            now = _time()
            self._write_end(
                number, number, now, now, invocation.request_id, self._novel_this_invocation
            )
            self._novel_this_invocation = 0
            return
        now = _time()
        if pending is not None and number != pending[1] + 1:
            self.write_pending()  # (numbers are consecutive; anything else starts a new run)
            pending = None
        if pending is None:
            pending = self._pending = [number, number, now, now, invocation.request_id]
        else:
            pending[1] = number
            pending[3] = now
            pending[4] = invocation.request_id
        if number - pending[0] + 1 >= self._limit or now - pending[2] >= self._batch_seconds:
            self.write_pending()
            self._limit = min(self._limit * 2, self._batch)

    def write_pending(self) -> None:
        """Write the run of quiet invocation ends not yet written (at exit, before a novelty)."""
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        self._write_end(pending[0], pending[1], pending[2], pending[3], pending[4], 0)

    def _write_end(
        self,
        first: int,
        last: int,
        first_time: float,
        last_time: float,
        request_id: Any,
        novel: int,
    ) -> None:
        record: dict[str, Any] = {
            "type": "sandbox.invocation",
            "v": OBSERVATION_VERSION,
            "function": self.function,
            "version": self.version,
            "env": self.environment,
            "request_id": request_id,
            "invocation": last,
            "time": _at(last_time),
            "novel": novel,
        }
        if first != last:
            record["first_invocation"] = first
            record["first_time"] = _at(first_time)
        record["mac"] = mac(self.key, record)
        self.sink.write(record)


def _at(seconds: float) -> str:
    return _strftime("%Y-%m-%dT%H:%M:%SZ", _gmtime(seconds))


def _now() -> str:
    return _strftime("%Y-%m-%dT%H:%M:%SZ", _gmtime())
