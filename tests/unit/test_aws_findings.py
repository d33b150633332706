"""Findings from CloudWatch Logs (moto): read, aggregate losslessly, OCSF, Security Hub updates."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.fleet.cli import main
from sandbox.fleet.cwfindings import aggregate, parse_since
from sandbox.fleet.securityhub import batches, import_to_security_hub
from tests.unit import test_aws_support as support
from tests.unit.test_aws_support import REGION

aws = support.aws
opts = support.opts


def finding(
    n: int,
    *,
    target: str = "/etc/passwd",
    ip: str = "203.0.113.9",
    agent: str = "curl/8",
    request: str | None = None,
    function: str = "orders",
) -> dict[str, Any]:
    """One ``sandbox.finding`` line as the runtime writes it (second ``n`` of 10:00 UTC)."""
    return {
        "type": "sandbox.finding",
        "schema": 1,
        "level": "ERROR",
        "time": f"2024-05-01T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "function": function,
        "version": "$LATEST",
        "request_id": request or f"req-{n}",
        "phase": "invoke",
        "mode": "enforce",
        "category": "files",
        "action": "read",
        "target": target,
        "decision": "blocked",
        "reason": "not in profile",
        "rule": f'rules.files: {{"action": "read", "target": "{target}"}}',
        "site": "{task}/app.py:12",
        "who": {
            "source": "apigateway",
            "source_ip": ip,
            "path": "/download",
            "method": "GET",
            "user_agent": agent,
        },
        "layers": {"audit": "active"},
    }


def summary(
    n: int, repeats: dict[str, int], *, request: str | None = None, function: str = "orders"
) -> dict[str, Any]:
    """The runtime's end-of-invocation ``sandbox.finding.summary`` line (keys as it spells them)."""
    return {
        "type": "sandbox.finding.summary",
        "schema": 1,
        "level": "WARN",
        "time": f"2024-05-01T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "function": function,
        "version": "$LATEST",
        "request_id": request or f"req-{n}",
        "repeats": repeats,
        "suppressed": 0,
    }


def put_logs(opts: Any, function: str, lines: list[str]) -> None:
    logs = opts.client("logs")
    group = f"/aws/lambda/{function}"
    stream = "2024/05/01/[$LATEST]abc"
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)],
    )


def test_parse_since() -> None:
    # GIVEN relative and absolute times WHEN parsed THEN epoch milliseconds
    assert parse_since("1h", now=10_000.0) == 6_400_000
    assert parse_since("2d", now=200_000.0) == 27_200_000
    assert parse_since("2024-01-01T00:00:00Z") == 1_704_067_200_000


def test_aggregate_keeps_every_repeat_and_every_caller() -> None:
    # GIVEN three IPs running the same attack over four invocations, each invocation's
    # repeats in its end-of-invocation summary, and one other finding
    records = [
        finding(0, ip="203.0.113.9", request="r1"),
        summary(1, {"files read /etc/passwd ": 4}, request="r1"),
        finding(10, ip="198.51.100.1", agent="python-requests/2", request="r2"),
        finding(20, ip="192.0.2.7", request="r3"),
        summary(21, {"files read /etc/passwd ": 1}, request="r3"),
        finding(30, ip="203.0.113.9", request="r4"),
        finding(31, target="/proc/self/environ", request="r4"),
    ]
    # WHEN aggregated
    agg = aggregate(records)
    # THEN one entry per distinct target, every occurrence counted (lines + repeats)
    top, other = agg.groups
    assert (top["target"], top["count"], top["invocations"]) == ("/etc/passwd", 9, 4)
    assert (top["first_seen"], top["last_seen"]) == ("2024-05-01T10:00:00Z", "2024-05-01T10:00:30Z")
    assert (agg.lines, agg.repeats, agg.occurrences) == (5, 5, 10)
    # AND each caller has its own count, first/last seen and user agent (repeats go to the
    # caller of their invocation)
    who = {w["source_ip"]: w for w in top["who"]}
    assert set(who) == {"203.0.113.9", "198.51.100.1", "192.0.2.7"}
    assert [who[ip]["count"] for ip in ("203.0.113.9", "198.51.100.1", "192.0.2.7")] == [6, 1, 2]
    assert (who["203.0.113.9"]["first_seen"], who["203.0.113.9"]["last_seen"]) == (
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:30Z",
    )
    assert who["198.51.100.1"]["user_agent"] == "python-requests/2"
    assert who["192.0.2.7"]["paths"] == ["GET /download"]
    assert top["who"][0]["source_ip"] == "203.0.113.9"  # the most frequent caller first
    assert top["sites"] == ["{task}/app.py:12"] and top["phases"] == ["invoke"]
    assert other["target"] == "/proc/self/environ" and other["count"] == 1
    # AND the identity of a distinct finding is deterministic
    assert top["id"] == aggregate(list(reversed(records))).groups[0]["id"]


def test_aggregate_keeps_repeats_whose_line_is_outside_the_window() -> None:
    # GIVEN a summary whose invocation's finding line was not read (before --since)
    records = [summary(5, {"processes exec /bin/sh -c id": 3}, request="old")]
    # WHEN aggregated
    agg = aggregate(records)
    # THEN the repeats are still counted, against their target, marked without a caller
    (group,) = agg.groups
    assert (group["category"], group["action"], group["target"]) == (
        "processes",
        "exec",
        "/bin/sh -c id",
    )
    assert group["count"] == 3 and agg.unattributed == 3


def test_cli_findings_reads_cloudwatch_logs(
    aws: None, opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function whose log group holds findings (one behind Lambda's text-format prefix),
    # a summary of repeats and other lines
    support.make_function(opts, "orders")
    put_logs(
        opts,
        "orders",
        [
            "START RequestId: req-0 Version: $LATEST",
            json.dumps(finding(0)),
            "2024-05-01T10:00:01Z\treq-1\tINFO\t" + json.dumps(finding(1, ip="198.51.100.1")),
            json.dumps({"type": "sandbox.start", "mode": "enforce"}),
            json.dumps(finding(2, target="/proc/self/environ")),
            json.dumps(summary(3, {"files read /etc/passwd ": 2}, request="req-1")),
            "END RequestId: req-0",
        ],
    )
    # WHEN listed as text, as JSON and as OCSF
    assert main(["findings", "orders", "--since", "1h", "--region", REGION]) == 1
    text = capsys.readouterr().out
    assert main(["findings", "orders", "--json", "--region", REGION]) == 1
    (result,) = json.loads(capsys.readouterr().out)
    assert main(["findings", "orders", "--ocsf", "--region", REGION]) == 1
    ocsf = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # THEN the findings are aggregated with their counts, callers and where (exit 1: findings)
    assert "5 occurrences of 2 distinct findings" in text
    assert "4x blocked     files read /etc/passwd" in text
    assert "3x 198.51.100.1 curl/8 (apigateway)  GET /download" in text
    assert "{task}/app.py:12" in text
    assert [g["count"] for g in result["findings"]] == [4, 1]
    assert [w["count"] for w in result["findings"][0]["who"]] == [3, 1]
    assert len(ocsf) == 2 and all(r["class_uid"] == 2004 for r in ocsf)
    assert ocsf[0]["count"] == 4 and isinstance(ocsf[0]["time"], int)
    # AND the same lines read from a local file give the same answer
    logs = tmp_path / "findings.jsonl"
    events = opts.client("logs").filter_log_events(logGroupName="/aws/lambda/orders")["events"]
    logs.write_text("\n".join(e["message"] for e in events) + "\n")
    assert main(["findings", "orders", "--logs", str(logs), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["findings"] == result["findings"]


def test_cli_findings_for_a_function_that_does_not_exist_is_an_error(
    aws: None, opts: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no function named "nosuch" WHEN listing its findings
    status = main(["findings", "nosuch", "--region", REGION])
    err = capsys.readouterr().err
    # THEN exit 1 with a message naming the function, not "0 findings"
    assert status == 1
    assert "nosuch: no such function in us-east-1" in err


def test_cli_findings_of_a_function_never_invoked_are_none(
    aws: None, opts: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function with no log group yet WHEN listing findings THEN none, exit 0
    support.make_function(opts, "quiet")
    assert main(["findings", "quiet", "--region", REGION]) == 0
    assert "0 occurrences of 0 distinct findings" in capsys.readouterr().out


def _stored(opts: Any) -> dict[str, dict[str, Any]]:
    findings = opts.client("securityhub").get_findings(MaxResults=100)["Findings"]
    return {f["Id"]: f for f in findings}


def test_security_hub_updates_the_finding_instead_of_adding_one(
    aws: None, opts: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function attacked by two IPs, its findings sent to Security Hub
    support.make_function(opts, "orders")
    put_logs(opts, "orders", [json.dumps(finding(0)), json.dumps(finding(1, ip="198.51.100.1"))])
    assert main(["findings", "orders", "--to-securityhub", "--region", REGION]) == 1
    assert "1 created, 0 updated" in capsys.readouterr().err
    (first,) = _stored(opts).values()
    # WHEN the attack goes on (a third IP, repeats) and the findings are sent again, twice
    put_logs(
        opts,
        "orders",
        [
            json.dumps(finding(40, ip="192.0.2.7", request="r40")),
            json.dumps(summary(41, {"files read /etc/passwd ": 5}, request="r40")),
        ],
    )
    assert main(["findings", "orders", "--to-securityhub", "--region", REGION]) == 1
    assert "0 created, 1 updated, 0 unchanged" in capsys.readouterr().err
    assert main(["findings", "orders", "--to-securityhub", "--region", REGION]) == 1
    assert "0 created, 0 updated, 1 unchanged" in capsys.readouterr().err
    # THEN Security Hub still holds one finding, same Id, with the new count and last seen
    stored = _stored(opts)
    assert list(stored) == [first["Id"]]
    fields = stored[first["Id"]]["ProductFields"]
    assert (first["ProductFields"]["sandbox/count"], fields["sandbox/count"]) == ("2", "8")
    assert fields["sandbox/last_seen"] == "2024-05-01T10:00:41Z"
    assert stored[first["Id"]]["LastObservedAt"] == "2024-05-01T10:00:41Z"
    assert stored[first["Id"]]["UpdatedAt"] > first["UpdatedAt"]
    assert stored[first["Id"]]["CreatedAt"] == first["CreatedAt"] == "2024-05-01T10:00:00Z"
    # AND every caller keeps its own count
    callers = [json.loads(v) for k, v in sorted(fields.items()) if k.startswith("sandbox/who/")]
    assert {c["source_ip"]: c["count"] for c in callers} == {
        "203.0.113.9": 1,
        "198.51.100.1": 1,
        "192.0.2.7": 6,
    }
    assert fields["sandbox/callers"] == "3"


def test_security_hub_import_goes_in_batches_of_100(aws: None, opts: Any) -> None:
    # GIVEN 250 distinct findings (moto implements BatchImportFindings)
    records = [finding(i, target=f"/data/{i}") for i in range(250)]
    # WHEN imported
    summary_ = import_to_security_hub(opts, records, account="123456789012")
    # THEN three calls (100, 100, 50) create all of them as ASFF
    assert {k: summary_[k] for k in ("batches", "success", "failed", "created")} == {
        "batches": 3,
        "success": 250,
        "failed": 0,
        "created": 250,
    }
    stored = opts.client("securityhub").get_findings(MaxResults=100)["Findings"]
    assert stored[0]["GeneratorId"] == "lambda-sandbox"
    assert stored[0]["Resources"][0]["Type"] == "AwsLambdaFunction"
    assert [len(b) for b in batches(list(range(201)))] == [100, 100, 1]
