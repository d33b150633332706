"""Where the sandbox's JSON lines go: a private duplicate of stdout, and optionally files.

The sink duplicates fd 1 at install, so a function that closes or redirects ``sys.stdout``
cannot silence findings, and writes with ``os.write`` (not audited, no Python buffering): one
``write`` per line keeps lines whole in CloudWatch. ``os.dup2`` is not audited either: code in
the function could put ``/dev/null`` over the sandbox's descriptor. So each descriptor's identity
(device, inode) is taken at install and checked before every write; a descriptor that no longer
is what it was is dropped, the tampering is written to what remains (stderr last), and
``tampered`` tells the reporter (which in enforce ends the process: it will not run unprotected
*and* unwatched). A write that fails (``EFBIG`` past an ``RLIMIT_FSIZE``, ``ENOSPC``, ``EPIPE``...;
``EINTR`` is retried by ``os.write``, ``EAGAIN`` below) is the same: the descriptor is dropped
and the line goes on to what remains. Nothing costs more while writes succeed.
"""

from __future__ import annotations

import json.encoder
import os
from errno import errorcode as _errno_codes

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any


# Bound once: the function cannot reroute the sandbox's writes by rebinding os.write later,
# nor change its encoding by rebinding json's module globals (the encoder is the sandbox's own
# instance; the hook runs on frozen copies of its class).
_write = os.write
_fstat = os.fstat
_set_blocking = os.set_blocking
_BlockingIOError = BlockingIOError
# A descriptor whose writes keep failing with EAGAIN even in blocking mode is given up on
# after this many tries (another thread flipping O_NONBLOCK back each time): as if replaced.
_BLOCKED_TRIES = 100
_str = str
_int = int
_type = type
_errorcode = dict(_errno_codes)
_errno_of = OSError.__dict__["errno"].__get__
_OSError = OSError
_memoryview = memoryview
# JSON is written by the C encoder objects of the json module, made once with fixed
# settings: their attributes are read-only. (A JSONEncoder instance keeps its settings in
# writable attributes -- ``indent``, ``default`` -- which the function could set to objects
# whose code would then run inside the hook while it reports.)
_c_make_encoder = json.encoder.c_make_encoder  # type: ignore[attr-defined]
_ascii = json.encoder.encode_basestring_ascii
_COMPACT = _c_make_encoder(None, str, _ascii, None, ":", ",", False, False, True)
# For JSON inside messages people read (a rule hint): sorted keys, ", " and ": ".
_TEXT = _c_make_encoder(None, str, _ascii, None, ": ", ", ", True, False, True)
_str_join = str.join
_str_encode = str.encode


def encode_compact(value: Any) -> str:
    """Compact JSON text, ASCII only (non-UTF-8 path names stay escaped, never lost).

    Example
    -------
    >>> encode_compact({"a": [1, "x"]})
    '{"a":[1,"x"]}'
    """
    return _str_join("", _COMPACT(value, 0))


def encode_text(value: Any) -> str:
    """JSON text for messages people read: sorted keys, the usual separators.

    Example
    -------
    >>> encode_text({"b": 1, "a": 2})
    '{"a": 2, "b": 1}'
    """
    return _str_join("", _TEXT(value, 0))


def dumps(record: dict[str, Any]) -> bytes:
    """One compact JSON line (non-UTF-8 path names stay escaped, never lost)."""
    return _str_encode(encode_compact(record) + "\n", "ascii")


def _identity(fd: int) -> tuple[int, int] | None:
    try:
        st = _fstat(fd)
    except _OSError:
        return None
    return (st.st_dev, st.st_ino)


def _errno_name(error: OSError) -> str:
    number = _errno_of(error)
    if _type(number) is not _int:
        return "?"
    return _errorcode.get(number) or _str(number)


def _write_all(fd: int, data: bytes) -> bool:
    """Write all of ``data`` to ``fd`` as a blocking write would; ``False`` when it cannot.

    The sandbox's descriptor shares its open file description with fd 1 (a ``dup``): code in
    the function can make it non-blocking (``os.set_blocking``, no audit event) and fill the
    log pipe, so that a plain write fails with EAGAIN and the line is lost. Then the
    description is made blocking for this write (the line waits for the log reader, as it
    would have) and put back as it was.
    """
    view = _memoryview(data)
    tries = 0
    while view:
        try:
            count = _write(fd, view)
        except _BlockingIOError:
            tries += 1
            if tries > _BLOCKED_TRIES:
                return False
            _set_blocking(fd, True)
            try:
                count = _write(fd, view)
            except _BlockingIOError:
                continue  # (made non-blocking again in between: another try)
            finally:
                _set_blocking(fd, False)
        view = view[count:]
    return True


def _append_if_file(fd: int) -> None:
    """A regular file as stdout (``> log``): its description is made ``O_APPEND``.

    A Python child whose stderr is elsewhere appends its records to the same file through a
    description of its own (``/proc/<pid>/fd/<fd>``); without ``O_APPEND`` this process's next
    line, written at its own offset, would overwrite the child's. (Writes to the file end where
    they ended before: only a function that seeks in its stdout sees the difference.) Only for a
    regular file: never on Lambda, whose stdout is a pipe (fcntl is imported only here).
    """
    import stat

    if not stat.S_ISREG(_fstat(fd).st_mode):
        return
    import fcntl

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    if not flags & os.O_APPEND:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_APPEND)


class LineSink:
    """Append JSON lines to file descriptors owned by the sandbox (identity-checked)."""

    __slots__ = ("_fallback", "_fds", "_stream", "problems", "tampered")

    def __init__(self, *, stdout: bool = True, files: tuple[str | None, ...] = ()):
        fds: list[tuple[int, tuple[int, int] | None]] = []
        self.problems: list[str] = []
        self.tampered = False
        # stderr as it was at install: where lines go once every descriptor of ours is lost.
        self._fallback = (2, _identity(2))
        self._stream: tuple[int, tuple[int, int]] | None = None
        if stdout:
            try:
                fd = os.dup(1)
                identity = _identity(fd)
                fds.append((fd, identity))
                if identity is not None:
                    self._stream = (fd, identity)
                    _append_if_file(fd)
            except OSError:
                pass
        for path in files:
            if not path:
                continue
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                # Reported by install(): learn and alert go on without this file, enforce stops.
                self.problems.append(f"cannot write {path}: {exc.strerror}")
                continue
            fds.append((fd, _identity(fd)))
        self._fds = fds

    def report_stream(self, inherited: str | None = None) -> str | None:
        """``SANDBOX_REPORT`` for this process's Python children: ``pid:fd:dev:ino:dev2:ino2``.

        ``pid``/``fd``: this process and its private duplicate of stdout, which a child opens
        as ``/proc/<pid>/fd/<fd>`` when its own stderr is somewhere else (``stderr=DEVNULL``,
        ``capture_output=True``, fd 2 put over /dev/null before a ``multiprocessing`` start):
        the parent chooses a child's stderr, so that cannot be where its refusals go.
        ``dev:ino``: that stream's identity (the child checks what it opened). ``dev2:ino2``:
        the other stream a child may keep writing to, the first sandbox's stderr at install
        (where a child's records have always gone; taken from ``inherited``, the value this
        process was started with, if any). ``None`` without a stdout of its own.
        """
        if self._stream is None:
            return None
        fd, (dev, ino) = self._stream
        second = self._fallback[1] or (dev, ino)
        if inherited:
            parts = inherited.split(":")
            if len(parts) == 6 and all(part.isdigit() for part in parts):
                second = (int(parts[4]), int(parts[5]))
        return ":".join(str(n) for n in (os.getpid(), fd, dev, ino, second[0], second[1]))

    def write(self, record: dict[str, Any]) -> bool:
        """Write one line to every intact descriptor; ``False`` when none took it."""
        data = dumps(record)
        written = False
        lost: list[int] = []
        blocked: list[int] = []
        failed: list[tuple[int, str]] = []  # (fd, the errno's name)
        for fd, identity in self._fds:
            if _identity(fd) != identity:
                lost.append(fd)
                continue
            try:
                if _write_all(fd, data):
                    written = True
                else:
                    blocked.append(fd)  # (O_NONBLOCK set again and again: taken as tampering)
            except _OSError as exc:
                # Not silent: EFBIG (an RLIMIT_FSIZE the function set), ENOSPC (a file system it
                # filled), EPIPE, EIO... the line did not get there. (EINTR is retried by
                # os.write itself, EAGAIN above.) The descriptor is given up like a replaced
                # one: the loss is written to what remains, the line goes on there (stderr
                # last), and in enforce a line nothing took ends the process (the reporter).
                failed.append((fd, _errno_name(exc)))
        if blocked:
            self._lose(blocked, "writes to a descriptor of the sandbox's output kept failing")
        if failed:
            self._lose(
                [fd for fd, _ in failed],
                "a write to a descriptor of the sandbox's output failed: "
                + ",".join(name for _, name in failed),
            )
        if lost:
            self._lose(lost)
        if (blocked or lost or failed) and not written and self._fds:
            return self.write(record)
        if not written and not self._fds:
            fd, identity = self._fallback
            if identity is not None and _identity(fd) == identity:
                try:
                    _write(fd, data)
                    written = True
                except _OSError:
                    pass
        return written

    def _lose(
        self,
        lost: list[int],
        what: str = "a descriptor of the sandbox's output was replaced (dup2)",
    ) -> None:
        self.tampered = True
        self._fds = [(fd, ident) for fd, ident in self._fds if fd not in lost]
        note = dumps({"type": "sandbox.tamper", "level": "ERROR", "what": what, "fds": lost})
        targets = [fd for fd, _ in self._fds] or [2]
        for fd in targets:
            try:
                _write_all(fd, note)
            except _OSError:
                pass


class TeeSink:
    """Write each line to several sinks; ``flush`` those that buffer (the S3 sink)."""

    __slots__ = ("_sinks",)

    def __init__(self, *sinks: Any):
        self._sinks = sinks

    @property
    def tampered(self) -> bool:
        return any(getattr(s, "tampered", False) for s in self._sinks)

    @property
    def problems(self) -> list[str]:
        return [p for s in self._sinks for p in getattr(s, "problems", [])]

    def write(self, record: dict[str, Any]) -> bool:
        written = False
        for sink in self._sinks:
            written = bool(sink.write(record)) or written
        return written

    def flush(self) -> None:
        for sink in self._sinks:
            flush = getattr(sink, "flush", None)
            if flush is not None:
                flush()
