"""The loopback Lambda Runtime API server, driven with http.client."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator

import pytest

from sandbox.local.runtime_api import (
    ERROR_TYPE_HEADER,
    MAX_RESPONSE_BYTES,
    InvocationResult,
    RuntimeAPIServer,
)

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
NEXT = "/2018-06-01/runtime/invocation/next"


@pytest.fixture
def api() -> Iterator[RuntimeAPIServer]:
    with RuntimeAPIServer(function_arn=ARN, timeout_s=3) as server:
        yield server


def connect(api: RuntimeAPIServer) -> http.client.HTTPConnection:
    host, port = api.address.split(":")
    return http.client.HTTPConnection(host, int(port), timeout=5)


def request(
    api: RuntimeAPIServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = connect(api)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_binds_loopback_only(api: RuntimeAPIServer) -> None:
    # GIVEN a started server / WHEN reading its address / THEN it is on 127.0.0.1, a real port
    host, port = api.address.split(":")
    assert host == "127.0.0.1"
    assert int(port) > 0


def test_next_blocks_until_an_event_is_queued(api: RuntimeAPIServer) -> None:
    # GIVEN a runtime waiting on /next with nothing queued
    got: list[tuple[int, dict[str, str], bytes]] = []
    waiter = threading.Thread(target=lambda: got.append(request(api, "GET", NEXT)))
    waiter.start()
    time.sleep(0.3)
    assert not got
    # WHEN an event is submitted
    before_ms = time.time() * 1000
    invocation = api.submit(b'{"k": 1}', client_context='{"c": 1}', cognito_identity='{"i": 2}')
    waiter.join(timeout=5)
    # THEN the runtime receives it with Lambda's headers
    status, headers, body = got[0]
    assert status == 200
    assert body == b'{"k": 1}'
    assert headers["Lambda-Runtime-Aws-Request-Id"] == invocation.request_id
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == ARN
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    assert headers["Lambda-Runtime-Client-Context"] == '{"c": 1}'
    assert headers["Lambda-Runtime-Cognito-Identity"] == '{"i": 2}'
    deadline = int(headers["Lambda-Runtime-Deadline-Ms"])
    assert before_ms + 2000 < deadline <= time.time() * 1000 + 3000
    # AND the invocation is marked as started
    assert invocation.started.done()
    assert not invocation.result.done()


def test_on_next_runs_before_the_event_is_handed_over(api: RuntimeAPIServer) -> None:
    # GIVEN a hook that records whether the invocation had started when it ran
    seen: list[tuple[str, bool]] = []
    api.on_next = lambda inv: seen.append((inv.request_id, inv.started.done()))
    inv = api.submit(b"{}")
    # WHEN the runtime fetches the event
    status, _, _ = request(api, "GET", NEXT)
    # THEN the hook ran first, once
    assert status == 200
    assert seen == [(inv.request_id, False)]


def test_failing_on_next_does_not_break_the_api(api: RuntimeAPIServer) -> None:
    # GIVEN a hook that raises
    def broken(_inv: object) -> None:
        raise RuntimeError("hook bug")

    api.on_next = broken
    api.submit(b'{"x": 1}')
    # WHEN the runtime fetches the event / THEN it still gets it
    status, _, body = request(api, "GET", NEXT)
    assert (status, body) == (200, b'{"x": 1}')


def test_optional_context_headers_absent_when_not_given(api: RuntimeAPIServer) -> None:
    # GIVEN an event without client context or identity
    api.submit(b"{}")
    # WHEN the runtime fetches it
    _, headers, _ = request(api, "GET", NEXT)
    # THEN those headers are not sent
    assert "Lambda-Runtime-Client-Context" not in headers
    assert "Lambda-Runtime-Cognito-Identity" not in headers


def test_events_are_handed_out_in_order_over_one_keepalive_connection(
    api: RuntimeAPIServer,
) -> None:
    # GIVEN two queued events and one persistent connection (as libcurl keeps)
    first, second = api.submit(b"1"), api.submit(b"2")
    conn = connect(api)
    # WHEN the runtime loops next → response twice on that connection
    seen = []
    for inv in (first, second):
        conn.request("GET", NEXT)
        resp = conn.getresponse()
        seen.append(resp.read())
        conn.request("POST", f"/2018-06-01/runtime/invocation/{inv.request_id}/response", b"ok")
        resp = conn.getresponse()
        assert resp.status == 202
        resp.read()
    conn.close()
    # THEN both arrived in order and both results are delivered
    assert seen == [b"1", b"2"]
    assert first.result.result(timeout=1).payload == b"ok"
    assert second.result.result(timeout=1).ok


def test_response_is_delivered_through_the_future(api: RuntimeAPIServer) -> None:
    # GIVEN a fetched invocation
    inv = api.submit(b"{}")
    request(api, "GET", NEXT)
    # WHEN the runtime posts its response
    status, _, body = request(
        api,
        "POST",
        f"/2018-06-01/runtime/invocation/{inv.request_id}/response",
        b'{"answer": 42}',
        {"Content-Type": "application/json"},
    )
    # THEN 202 is returned and the caller gets the result
    assert status == 202
    assert json.loads(body) == {"status": "OK"}
    result = inv.result.result(timeout=1)
    assert result.ok
    assert result.json() == {"answer": 42}
    assert result.request_id == inv.request_id


def test_error_post_carries_type_from_body_or_header(api: RuntimeAPIServer) -> None:
    # GIVEN three fetched invocations
    invs = [api.submit(b"{}") for _ in range(3)]
    for _ in invs:
        request(api, "GET", NEXT)
    doc = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": ["x"]}
    bodies = [json.dumps(doc).encode(), b'{"errorMessage": "no type"}', b"not json"]
    # WHEN the runtime posts errors (header type: awslambdaric's native client sends one)
    for inv, body in zip(invs, bodies, strict=True):
        status, _, _ = request(
            api,
            "POST",
            f"/2018-06-01/runtime/invocation/{inv.request_id}/error",
            body,
            {ERROR_TYPE_HEADER: "Unhandled"},
        )
        assert status == 202
    # THEN the errorType comes from the document, else from the header
    results = [inv.result.result(timeout=1) for inv in invs]
    assert [r.error_type for r in results] == ["ValueError", "Unhandled", "Unhandled"]
    assert results[0].error_message == "boom"
    assert results[1].error_message == "no type"
    assert results[2].error_message == "not json"
    assert not results[0].ok


def test_init_error_is_accepted_once(api: RuntimeAPIServer) -> None:
    # GIVEN a runtime that failed to load the handler
    doc = {"errorMessage": "Unable to import module 'x'", "errorType": "Runtime.ImportModuleError"}
    path = "/2018-06-01/runtime/init/error"
    # WHEN it posts the init error twice
    first = request(
        api, "POST", path, json.dumps(doc).encode(), {ERROR_TYPE_HEADER: doc["errorType"]}
    )
    second = request(api, "POST", path, b"{}")
    # THEN the first is accepted and delivered, the second refused
    assert first[0] == 202
    assert second[0] == 403
    result = api.init_error.result(timeout=1)
    assert result.error_type == "Runtime.ImportModuleError"
    assert result.error_message == "Unable to import module 'x'"


def test_unknown_or_unfetched_request_id_is_rejected(api: RuntimeAPIServer) -> None:
    # GIVEN a queued but not yet fetched invocation
    inv = api.submit(b"{}")
    # WHEN posting for it, and for an id that never existed
    early = request(api, "POST", f"/2018-06-01/runtime/invocation/{inv.request_id}/response", b"x")
    unknown = request(api, "POST", "/2018-06-01/runtime/invocation/nope/response", b"x")
    # THEN both are 400 InvalidRequestID and nothing is delivered
    assert early[0] == unknown[0] == 400
    assert json.loads(unknown[2])["errorType"] == "InvalidRequestID"
    assert not inv.result.done()


def test_second_result_for_an_invocation_is_refused(api: RuntimeAPIServer) -> None:
    # GIVEN an invocation that already has a response
    inv = api.submit(b"{}")
    request(api, "GET", NEXT)
    base = f"/2018-06-01/runtime/invocation/{inv.request_id}"
    assert request(api, "POST", f"{base}/response", b"1")[0] == 202
    # WHEN the runtime posts again
    status, _, body = request(api, "POST", f"{base}/error", b"{}")
    # THEN it is refused and the first result stands
    assert status == 403
    assert json.loads(body)["errorType"] == "InvalidStateTransition"
    assert inv.result.result().payload == b"1"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 404),
        ("GET", "/2018-06-01/runtime/invocation/nxt", 404),
        ("POST", "/2019-01-01/runtime/init/error", 404),
        ("POST", "/2018-06-01/runtime/invocation/id/other", 404),
        ("POST", NEXT, 405),
        ("GET", "/2018-06-01/runtime/init/error", 405),
        ("PUT", NEXT, 405),
        ("DELETE", "/x", 404),
    ],
)
def test_unknown_paths_and_methods(
    api: RuntimeAPIServer, method: str, path: str, status: int
) -> None:
    # GIVEN a running server / WHEN calling a path or method it does not serve
    got, _, _ = request(api, method, path, b"" if method != "GET" else None)
    # THEN it answers 404 (unknown path) or 405 (known path, wrong method)
    assert got == status


def test_oversized_response_fails_the_invocation(api: RuntimeAPIServer) -> None:
    # GIVEN a fetched invocation
    inv = api.submit(b"{}")
    request(api, "GET", NEXT)
    # WHEN the runtime posts a response over Lambda's 6 MB limit
    body = b'"' + b"x" * MAX_RESPONSE_BYTES + b'"'
    status, _, _ = request(
        api, "POST", f"/2018-06-01/runtime/invocation/{inv.request_id}/response", body
    )
    # THEN the runtime gets 413 and the caller Lambda's error
    assert status == 413
    result = inv.result.result(timeout=1)
    assert result.error_type == "Function.ResponseSizeTooLarge"
    assert "exceeded maximum allowed payload size" in result.error_message


def test_chunked_request_body(api: RuntimeAPIServer) -> None:
    # GIVEN a fetched invocation
    inv = api.submit(b"{}")
    request(api, "GET", NEXT)
    # WHEN the response is sent with chunked transfer encoding
    conn = connect(api)
    conn.request(
        "POST",
        f"/2018-06-01/runtime/invocation/{inv.request_id}/response",
        body=iter([b'{"a":', b" 1}"]),
        encode_chunked=True,
        headers={"Transfer-Encoding": "chunked"},
    )
    assert conn.getresponse().status == 202
    conn.close()
    # THEN the body is reassembled
    assert inv.result.result(timeout=1).json() == {"a": 1}


def test_close_releases_a_blocked_next() -> None:
    # GIVEN a runtime blocked on /next
    server = RuntimeAPIServer(function_arn=ARN).start()
    got: list[int] = []

    def fetch() -> None:
        try:
            got.append(request(server, "GET", NEXT)[0])
        except (OSError, http.client.HTTPException):
            got.append(-1)

    waiter = threading.Thread(target=fetch)
    waiter.start()
    time.sleep(0.2)
    # WHEN the server closes
    started = time.monotonic()
    server.close()
    waiter.join(timeout=5)
    # THEN the request ends promptly instead of hanging
    assert not waiter.is_alive()
    assert got and got[0] in (410, -1)
    assert time.monotonic() - started < 2
    server.close()  # idempotent


def test_duplicate_request_id_is_refused(api: RuntimeAPIServer) -> None:
    # GIVEN a submitted request id / WHEN submitting it again / THEN it is refused
    api.submit(b"{}", request_id="same")
    with pytest.raises(ValueError, match="duplicate"):
        api.submit(b"{}", request_id="same")


def test_error_result_builder_matches_awslambdaric_shape() -> None:
    # GIVEN / WHEN building an error result as the runner does for timeouts
    result = InvocationResult.error("rid", "Sandbox.Timedout", "Task timed out after 1.00 seconds")
    # THEN it has awslambdaric's keys and reads back
    assert result.json() == {
        "errorMessage": "Task timed out after 1.00 seconds",
        "errorType": "Sandbox.Timedout",
        "requestId": "rid",
        "stackTrace": [],
    }
    assert result.error_message == "Task timed out after 1.00 seconds"
    assert not result.ok
