"""Loopback Lambda Runtime API (2018-06-01) so handlers run under the real awslambdaric."""

from __future__ import annotations

import json
import queue
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "ERROR_TYPE_HEADER",
    "MAX_RESPONSE_BYTES",
    "Invocation",
    "InvocationResult",
    "RuntimeAPIServer",
]

API_PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_NEXT_PATH = f"{API_PREFIX}/invocation/next"
_INIT_ERROR_PATH = f"{API_PREFIX}/init/error"
_INVOCATION_RE = re.compile(rf"^{re.escape(API_PREFIX)}/invocation/([^/]+)/(response|error)$")
# Lambda's limit on a synchronous response payload.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
# How often a blocked GET /next re-checks whether the server is closing.
_POLL_S = 0.1


@dataclass(frozen=True)
class InvocationResult:
    """What the runtime (or the runner, for timeouts and crashes) reported for one invocation.

    Attributes
    ----------
    request_id : str
        The invocation's request id ("" for an init error, as awslambdaric posts it).
    payload : bytes
        The response body on success; the error document (JSON) on failure.
    error_type : str or None
        ``None`` on success, else the error type (``"ValueError"``, ``"Runtime.ExitError"``...).
    content_type : str
        Content type of ``payload``.
    """

    request_id: str
    payload: bytes
    error_type: str | None = None
    content_type: str = "application/json"

    @property
    def ok(self) -> bool:
        """Whether the invocation succeeded."""
        return self.error_type is None

    def json(self) -> Any:
        """Decode the payload as JSON.

        Returns
        -------
        Any
            The decoded document.
        """
        return json.loads(self.payload)

    @property
    def error_message(self) -> str:
        """The error document's ``errorMessage`` ("" on success or when absent)."""
        if self.ok:
            return ""
        try:
            doc = self.json()
        except ValueError:
            return self.payload.decode("utf-8", "replace")
        if isinstance(doc, dict):
            return str(doc.get("errorMessage", ""))
        return ""

    @classmethod
    def error(cls, request_id: str, error_type: str, message: str) -> InvocationResult:
        """Build an error result in the shape awslambdaric posts.

        Parameters
        ----------
        request_id : str
            Request id the error belongs to.
        error_type : str
            Error type, e.g. ``"Sandbox.Timedout"``.
        message : str
            Human-readable message.

        Returns
        -------
        InvocationResult
            The error result.
        """
        doc = {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": [],
        }
        return cls(request_id, json.dumps(doc).encode(), error_type)


@dataclass
class Invocation:
    """One queued event and the futures that report its progress.

    Attributes
    ----------
    request_id : str
        Request id handed to the runtime.
    event : bytes
        Event body.
    started : Future[float]
        Resolved with ``time.monotonic()`` when the runtime fetched the event (GET /next).
    result : Future[InvocationResult]
        Resolved when the runtime posts a response or an error.
    """

    request_id: str
    event: bytes
    client_context: str | None = None
    cognito_identity: str | None = None
    trace_id: str | None = None
    deadline_ms: int = 0
    started: Future[float] = field(default_factory=Future)
    result: Future[InvocationResult] = field(default_factory=Future)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying a back-reference to its RuntimeAPIServer."""

    daemon_threads = True
    api: RuntimeAPIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Drop connection errors quietly: a killed runtime (timeout, crash) resets its socket."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Request handler: routes the Runtime API paths, everything else is a 404."""

    # HTTP/1.1 with Content-Length on every response: awslambdaric's libcurl client keeps
    # one connection alive across invocations.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms per request on Linux loopback).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging (the function's log is the interesting one)."""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Type" not in (headers or {}):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_error_doc(self, status: int, error_type: str, message: str) -> None:
        body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
        self._send(status, body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers (if any) end with an empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        """Serve GET /invocation/next (blocking until an event is queued)."""
        if self.path != _NEXT_PATH:
            self._not_found_or_bad_method({"POST"})
            return
        invocation = self.server.api._next_invocation()
        if invocation is None:  # server closing
            self.close_connection = True
            self._send_error_doc(HTTPStatus.GONE, "Runtime.Shutdown", "runtime API shutting down")
            return
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.server.api.function_arn,
            "Lambda-Runtime-Trace-Id": invocation.trace_id or "",
        }
        if invocation.client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = invocation.client_context
        if invocation.cognito_identity is not None:
            headers["Lambda-Runtime-Cognito-Identity"] = invocation.cognito_identity
        self._send(HTTPStatus.OK, invocation.event, headers)

    def do_POST(self) -> None:
        """Serve the response, invocation error and init error endpoints."""
        body = self._read_body()
        api = self.server.api
        if self.path == _INIT_ERROR_PATH:
            result = _error_result("", body, self.headers.get(ERROR_TYPE_HEADER))
            if not api._set_init_error(result):
                self._send_error_doc(
                    HTTPStatus.FORBIDDEN, "InvalidStateTransition", "init error already reported"
                )
                return
            self._send(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
            return
        match = _INVOCATION_RE.match(self.path)
        if match is None:
            self._not_found_or_bad_method({"GET"} if self.path == _NEXT_PATH else set())
            return
        request_id, kind = match.groups()
        invocation = api._invocation(request_id)
        if invocation is None:
            self._send_error_doc(
                HTTPStatus.BAD_REQUEST, "InvalidRequestID", f"unknown request id {request_id}"
            )
            return
        if kind == "response" and len(body) > MAX_RESPONSE_BYTES:
            # As Lambda: the invocation fails and the runtime is told its response was refused.
            message = (
                f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload "
                f"size ({MAX_RESPONSE_BYTES} bytes)."
            )
            api._resolve(
                invocation,
                InvocationResult.error(request_id, "Function.ResponseSizeTooLarge", message),
            )
            self._send_error_doc(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "RequestEntityTooLarge", message
            )
            return
        if kind == "response":
            content_type = self.headers.get("Content-Type") or "application/json"
            result = InvocationResult(request_id, body, None, content_type)
        else:
            result = _error_result(request_id, body, self.headers.get(ERROR_TYPE_HEADER))
        # Resolve before answering 202: once the runtime sees 202 it may exit, and the caller
        # must find the result already there when it notices the exit.
        if not api._resolve(invocation, result):
            self._send_error_doc(
                HTTPStatus.FORBIDDEN,
                "InvalidStateTransition",
                f"invocation {request_id} already has a result",
            )
            return
        self._send(HTTPStatus.ACCEPTED, b'{"status":"OK"}')

    def do_PUT(self) -> None:
        """No PUT endpoints."""
        self._not_found_or_bad_method({"GET", "POST"})

    do_DELETE = do_PUT
    do_PATCH = do_PUT

    def _not_found_or_bad_method(self, allowed: set[str]) -> None:
        known = self.path == _NEXT_PATH or self.path == _INIT_ERROR_PATH
        known = known or _INVOCATION_RE.match(self.path) is not None
        if known and allowed:
            self._send(
                HTTPStatus.METHOD_NOT_ALLOWED,
                json.dumps({"errorMessage": "method not allowed", "errorType": "Method"}).encode(),
                {"Allow": ", ".join(sorted(allowed))},
            )
            return
        self._send_error_doc(HTTPStatus.NOT_FOUND, "NotFound", f"no such path: {self.path}")


def _error_result(request_id: str, body: bytes, header_type: str | None) -> InvocationResult:
    """Build the result for an error POST: errorType from the body, else the header."""
    error_type = None
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("errorType"):
        error_type = str(doc["errorType"])
    return InvocationResult(request_id, body, error_type or header_type or "Unhandled")


class RuntimeAPIServer:
    """Lambda Runtime API on 127.0.0.1 for one execution environment (one runtime process).

    Events are queued with :meth:`submit` and handed to the runtime in order by
    ``GET /2018-06-01/runtime/invocation/next``; results come back through futures. All
    public methods are thread-safe.

    Parameters
    ----------
    function_arn : str
        Value of the ``Lambda-Runtime-Invoked-Function-Arn`` header.
    timeout_s : float
        Function timeout, used for ``Lambda-Runtime-Deadline-Ms`` (counted from GET /next).
    host : str
        Address to bind; loopback by default and by intent.

    Attributes
    ----------
    on_next : callable or None
        Called with each invocation just before it is handed to the runtime (from a request
        thread), e.g. to log ``START`` strictly before anything the handler prints. Errors
        raised by it are ignored.

    Examples
    --------
    >>> with RuntimeAPIServer(function_arn="arn:aws:lambda:us-east-1:1:function:f") as api:
    ...     inv = api.submit(b"{}")   # doctest: +SKIP
    ...     # run awslambdaric with AWS_LAMBDA_RUNTIME_API=api.address
    ...     inv.result.result(timeout=5)   # doctest: +SKIP
    """

    def __init__(self, *, function_arn: str, timeout_s: float = 30.0, host: str = "127.0.0.1"):
        self.function_arn = function_arn
        self.timeout_s = timeout_s
        self.init_error: Future[InvocationResult] = Future()
        self._queue: queue.Queue[Invocation] = queue.Queue()
        self._invocations: dict[str, Invocation] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = _Server((host, 0), _Handler)
        self._httpd.api = self
        self._thread: threading.Thread | None = None
        self.on_next: Callable[[Invocation], None] | None = None
        # GET /next requests waiting for an event: one per runtime worker ready
        self._ready = threading.Condition()
        self._waiting = 0

    @property
    def address(self) -> str:
        """``host:port`` for ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._httpd.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> RuntimeAPIServer:
        """Serve in a daemon thread.

        Returns
        -------
        RuntimeAPIServer
            ``self``, for chaining.
        """
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": _POLL_S},
                name=f"runtime-api-{self.address}",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; blocked GET /next requests are released. Idempotent."""
        self._closing.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> RuntimeAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(
        self,
        event: bytes,
        *,
        request_id: str | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
        trace_id: str | None = None,
    ) -> Invocation:
        """Queue an event for the runtime.

        Parameters
        ----------
        event : bytes
            Event body (JSON for the default marshaller).
        request_id : str, optional
            Request id; a fresh UUID by default.
        client_context, cognito_identity : str, optional
            JSON documents sent as the matching headers when given.
        trace_id : str, optional
            X-Ray trace header; a generated ``Root=...`` value by default.

        Returns
        -------
        Invocation
            Its ``started`` and ``result`` futures report progress.
        """
        request_id = request_id or str(uuid.uuid4())
        if trace_id is None:
            trace_id = (
                f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
                f"Parent={uuid.uuid4().hex[:16]};Sampled=0"
            )
        invocation = Invocation(
            request_id,
            event,
            client_context=client_context,
            cognito_identity=cognito_identity,
            trace_id=trace_id,
        )
        with self._lock:
            if request_id in self._invocations:
                raise ValueError(f"duplicate request id {request_id}")
            self._invocations[request_id] = invocation
        self._queue.put(invocation)
        return invocation

    # -- called from request-handler threads -------------------------------------------

    def wait_ready(self, workers: int, timeout_s: float) -> bool:
        """Wait until ``workers`` GET /next requests are waiting (every worker of a runtime in
        multi-concurrency mode done with its init), at most ``timeout_s``. Whether they are.

        Example
        -------
        >>> RuntimeAPIServer(function_arn="arn").wait_ready(0, 0.0)
        True
        """
        with self._ready:
            return self._ready.wait_for(lambda: self._waiting >= workers, timeout=timeout_s)

    def _next_invocation(self) -> Invocation | None:
        with self._ready:
            self._waiting += 1
            self._ready.notify_all()
        try:
            return self._next_queued()
        finally:
            with self._ready:
                self._waiting -= 1

    def _next_queued(self) -> Invocation | None:
        while not self._closing.is_set():
            try:
                invocation = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            invocation.deadline_ms = int((time.time() + self.timeout_s) * 1000)
            if self.on_next is not None:
                try:
                    self.on_next(invocation)
                except Exception:  # a logging hook must not break the Runtime API
                    pass
            invocation.started.set_result(time.monotonic())
            return invocation
        return None

    def _invocation(self, request_id: str) -> Invocation | None:
        with self._lock:
            invocation = self._invocations.get(request_id)
        if invocation is None or not invocation.started.done():
            # Never handed out: the runtime cannot know this id.
            return None
        return invocation

    def _resolve(self, invocation: Invocation, result: InvocationResult) -> bool:
        with self._lock:
            if invocation.result.done():
                return False
            invocation.result.set_result(result)
            return True

    def _set_init_error(self, result: InvocationResult) -> bool:
        with self._lock:
            if self.init_error.done():
                return False
            self.init_error.set_result(result)
            return True
