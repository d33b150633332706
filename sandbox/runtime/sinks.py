"""Where the sandbox's JSON lines go: a private duplicate of stdout, and optionally files.

The sink duplicates fd 1 at install, so a function that closes or redirects stdout cannot
silence findings, and writes with ``os.write`` (not audited, no Python buffering): one
``write`` per line keeps lines whole in CloudWatch.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any


# Bound once: the function cannot reroute the sandbox's writes by rebinding os.write later.
_write = os.write
_json_dumps = json.dumps


def dumps(record: dict[str, Any]) -> bytes:
    """One compact JSON line (non-UTF-8 path names stay escaped, never lost)."""
    return (_json_dumps(record, separators=(",", ":"), default=str) + "\n").encode()


class LineSink:
    """Append JSON lines to one or more file descriptors owned by the sandbox."""

    __slots__ = ("_fds",)

    def __init__(self, *, stdout: bool = True, files: tuple[str | None, ...] = ()):
        fds: list[int] = []
        if stdout:
            try:
                fds.append(os.dup(1))
            except OSError:
                pass
        for path in files:
            if path:
                fds.append(
                    os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
                )
        self._fds = tuple(fds)

    def write(self, record: dict[str, Any]) -> None:
        data = dumps(record)
        for fd in self._fds:
            try:
                view = memoryview(data)
                while view:
                    written = _write(fd, view)
                    view = view[written:]
            except OSError:
                pass  # a closed log pipe must never break the function


class TeeSink:
    """Write each line to several sinks; ``flush`` those that buffer (the S3 sink)."""

    __slots__ = ("_sinks",)

    def __init__(self, *sinks: Any):
        self._sinks = sinks

    def write(self, record: dict[str, Any]) -> None:
        for sink in self._sinks:
            sink.write(record)

    def flush(self) -> None:
        for sink in self._sinks:
            flush = getattr(sink, "flush", None)
            if flush is not None:
                flush()
