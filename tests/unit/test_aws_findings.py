"""Findings from CloudWatch Logs (moto): read, group, OCSF, Security Hub in batches of ≤ 100."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from sandbox.fleet.cli import main
from sandbox.fleet.cwfindings import batches, group_findings, import_to_security_hub, parse_since
from tests.unit import test_aws_support as support
from tests.unit.test_aws_support import REGION

aws = support.aws
opts = support.opts


def finding(n: int, *, target: str = "/etc/passwd", ip: str = "203.0.113.9") -> dict[str, Any]:
    return {
        "type": "sandbox.finding",
        "schema": 1,
        "level": "ERROR",
        "time": f"2024-05-01T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "function": "orders",
        "version": "$LATEST",
        "request_id": f"req-{n}",
        "phase": "invoke",
        "mode": "enforce",
        "category": "files",
        "action": "read",
        "target": target,
        "decision": "blocked",
        "reason": "not in profile",
        "rule": 'rules.files: {"action": "read", "target": "/etc/passwd"}',
        "site": "{task}/app.py:12",
        "who": {
            "source": "apigateway",
            "source_ip": ip,
            "path": "/download",
            "user_agent": "curl/8",
        },
        "layers": {"audit": "active"},
    }


def put_logs(opts: Any, function: str, lines: list[str]) -> None:
    logs = opts.client("logs")
    group = f"/aws/lambda/{function}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2024/05/01/[$LATEST]abc")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2024/05/01/[$LATEST]abc",
        logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)],
    )


def test_parse_since() -> None:
    # GIVEN relative and absolute times WHEN parsed THEN epoch milliseconds
    assert parse_since("1h", now=10_000.0) == 6_400_000
    assert parse_since("2d", now=200_000.0) == 27_200_000
    assert parse_since("2024-01-01T00:00:00Z") == 1_704_067_200_000


def test_group_findings_counts_who_and_where() -> None:
    # GIVEN repeated findings from two sources and one other finding
    records = [finding(i) for i in range(3)] + [
        finding(9, ip="198.51.100.1"),
        finding(4, target="/proc/self/environ"),
    ]
    # WHEN grouped
    groups = group_findings(records)
    # THEN the most frequent comes first with its count, sources, sites and time span
    top = groups[0]
    assert (top["target"], top["count"], top["requests"]) == ("/etc/passwd", 4, 4)
    assert top["sources"] == ["198.51.100.1 /download (curl/8)", "203.0.113.9 /download (curl/8)"]
    assert top["sites"] == ["{task}/app.py:12"]
    assert (top["first"], top["last"]) == ("2024-05-01T10:00:00Z", "2024-05-01T10:00:09Z")
    assert groups[1]["target"] == "/proc/self/environ"


def test_cli_findings_reads_cloudwatch_logs(
    aws: None, opts: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a log group with findings (one behind Lambda's text-format prefix) and other lines
    put_logs(
        opts,
        "orders",
        [
            "START RequestId: req-0 Version: $LATEST",
            json.dumps(finding(0)),
            "2024-05-01T10:00:01Z\treq-1\tINFO\t" + json.dumps(finding(1)),
            json.dumps({"type": "sandbox.start", "mode": "enforce"}),
            json.dumps(finding(2, target="/proc/self/environ")),
            "END RequestId: req-0",
        ],
    )
    # WHEN listed, as JSON and as OCSF
    assert main(["findings", "orders", "--since", "1h", "--region", REGION]) == 0
    text = capsys.readouterr().out
    assert main(["findings", "orders", "--json", "--region", REGION]) == 0
    groups = json.loads(capsys.readouterr().out)
    assert main(["findings", "orders", "--ocsf", "--region", REGION]) == 0
    ocsf = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # THEN the three findings are found, grouped, with who and where
    assert "3 findings in 2 groups" in text
    assert "2x blocked" in text and "203.0.113.9 /download (curl/8)" in text
    assert "{task}/app.py:12" in text
    assert [g["count"] for g in groups] == [2, 1]
    assert len(ocsf) == 3 and all(r["class_uid"] == 2004 for r in ocsf)


def test_cli_findings_without_log_group_is_empty(
    aws: None, opts: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function never invoked WHEN listing findings THEN none, no error
    assert main(["findings", "never", "--region", REGION]) == 0
    assert "0 findings" in capsys.readouterr().out


def test_cli_findings_to_security_hub_in_batches(
    aws: None, opts: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN 250 distinct findings in the logs (moto implements BatchImportFindings)
    put_logs(opts, "orders", [json.dumps(finding(i)) for i in range(250)])
    # WHEN sent to Security Hub
    status = main(["findings", "orders", "--to-securityhub", "--region", REGION])
    err = capsys.readouterr().err
    # THEN three calls (100, 100, 50) import all of them as ASFF
    assert status == 0
    assert "250 imported, 0 failed in 3 batches" in err
    stored = opts.client("securityhub").get_findings(MaxResults=100)
    assert stored["Findings"][0]["GeneratorId"] == "lambda-sandbox"
    assert stored["Findings"][0]["Resources"][0]["Type"] == "AwsLambdaFunction"


def test_security_hub_batches_never_exceed_100_stubbed(opts: Any) -> None:
    # GIVEN a stubbed Security Hub expecting 100 + 100 + 1 findings
    client = opts.client("securityhub")
    sizes: list[int] = []
    stubber = Stubber(client)
    for size in (100, 100, 1):
        stubber.add_response(
            "batch_import_findings",
            {
                "FailedCount": 1 if size == 1 else 0,
                "SuccessCount": size - (1 if size == 1 else 0),
                "FailedFindings": [],
            },
            {"Findings": ANY},
        )
        sizes.append(size)
    records = [finding(i) for i in range(201)]
    # WHEN imported
    with stubber:
        summary = import_to_security_hub(opts, records, account="123456789012")
        stubber.assert_no_pending_responses()
    # THEN exactly those batches went out and the failure is counted
    assert summary == {"batches": 3, "success": 200, "failed": 1, "errors": []}
    assert [len(b) for b in batches(list(range(201)))] == [100, 100, 1]
