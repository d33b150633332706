"""The runtime's finding lines and summaries, aggregated by the CLI: nothing lost end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.fleet.cwfindings import aggregate, parse_line
from sandbox.local.runner import run_function
from sandbox.profile.build import build_profile

pytestmark = pytest.mark.e2e

APP = """
def handler(event, context):
    for _ in range(event.get("reads", 0)):
        with open("/etc/passwd") as f:  # alert mode: reported, not blocked
            f.read(1)
    return "ok"
"""


def _api_event(ip: str, reads: int) -> bytes:
    return json.dumps(
        {
            "reads": reads,
            "path": "/download",
            "httpMethod": "GET",
            "requestContext": {"identity": {"sourceIp": ip, "userAgent": "curl/8"}},
        }
    ).encode()


@pytest.fixture
def attacked(tmp_path: Path) -> list[dict[str, object]]:
    """The finding records of three attacked invocations (IPs A, B, A; three reads each)."""
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(APP)
    learn_log = tmp_path / "learn.log"
    learned = run_function(
        "app.handler", [_api_event("192.0.2.1", 0)], code_dir=code, mode="learn",
        log_file=learn_log, function_name="orders",
    )  # fmt: skip
    assert learned.ok, learned.log
    profile, _ = build_profile("orders", [str(learn_log)], warn=lambda _m: None)
    compiled = tmp_path / "orders.compiled.json"
    compiled.write_text(json.dumps(profile.compile()))
    events = [_api_event(ip, 3) for ip in ("203.0.113.9", "198.51.100.1", "203.0.113.9")]
    result = run_function(
        "app.handler", events, code_dir=code, mode="alert", profile=compiled,
        function_name="orders",
    )  # fmt: skip
    assert result.ok, result.log
    return [r for r in map(parse_line, result.log) if r is not None]


def test_every_occurrence_is_counted(attacked: list[dict[str, object]]) -> None:
    # GIVEN three invocations reading /etc/passwd three times each, in alert mode
    # WHEN the runtime's lines are aggregated
    agg = aggregate(attacked)
    passwd = next(g for g in agg.groups if g["target"] == "/etc/passwd")
    # THEN all nine reads are counted, over three invocations
    assert passwd["decision"] == "would-block"
    assert passwd["count"] == 9


def test_every_caller_keeps_its_own_count(attacked: list[dict[str, object]]) -> None:
    # GIVEN the same three invocations from two IPs
    # WHEN aggregated
    passwd = next(g for g in aggregate(attacked).groups if g["target"] == "/etc/passwd")
    # THEN each IP has its own count: A twice (6 reads), B once (3 reads)
    assert {w.get("source_ip"): w["count"] for w in passwd["who"]} == {
        "203.0.113.9": 6,
        "198.51.100.1": 3,
    }
