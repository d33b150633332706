"""``sandbox report``: data from AWS (moto) or files, the curve and buckets, a page that escapes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sandbox.fleet.cli import main
from sandbox.fleet.report import findings_buckets, learning_curve
from sandbox.fleet.report_page import render_html
from sandbox.profile.observations import InvocationEnd, ObservationSet
from tests.unit import test_aws_support as support
from tests.unit.test_aws_findings import finding, put_logs
from tests.unit.test_aws_support import REGION, make_function, publish_sandbox, write_profile
from tests.unit.test_profile_observations import inv, obs

aws = support.aws
opts = support.opts


def test_report_from_aws_reads_state_deployed_profile_curve_and_findings(
    aws: None, opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an enforced function whose log group holds observation lines and findings
    make_function(opts, "orders")
    publish_sandbox(opts, tmp_path)
    cache = tmp_path / "cache"
    profile = write_profile(tmp_path / "p.json", "orders")
    enforce = ["enforce", "orders", "--profile", str(profile), "--cache-dir", str(cache)]
    assert main([*enforce, "--region", REGION]) == 0
    records = [obs("{task}/a", invocation=1), inv("e1", 1, 1), inv("e1", 2, 0)]
    put_logs(opts, "orders", [json.dumps(r) for r in records] + [json.dumps(finding(5))])
    capsys.readouterr()
    page = tmp_path / "out" / "report.html"
    # WHEN the report is written
    args = ["report", "orders", "--html", str(page), "--json", "--cache-dir", str(cache)]
    assert main([*args, "--region", REGION]) == 0
    (data,) = json.loads(capsys.readouterr().out)
    # THEN it holds the function's state, the deployed profile's summary, the curve, the findings
    assert data["state"]["mode"] == "enforce"
    assert data["state"]["profile_layer"] == "sandbox-profile-orders:1"
    network = next(c for c in data["profile"]["categories"] if c["name"] == "network")
    assert [r["target"] for r in network["rules"]] == ["api.example.com:443"]
    assert [p["novel"] for p in data["curve"]] == [1, 0]
    assert data["findings"]["findings"][0]["who"][0]["source_ip"] == "203.0.113.9"
    assert page.read_text().startswith("<!DOCTYPE html>")


def test_report_of_a_function_that_does_not_exist_is_an_error(
    aws: None, opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no function "ghost" WHEN a report is asked for THEN exit 1, nothing written
    page = tmp_path / "r.html"
    assert main(["report", "ghost", "--html", str(page), "--region", REGION]) == 1
    assert "ghost: no such function" in capsys.readouterr().err
    assert not page.exists()


def test_report_needs_an_output(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN neither -o/--out (--html) nor --json WHEN run THEN a usage error (2)
    assert main(["report", "orders", "--logs", "x"]) == 2
    assert "-o/--out FILE, --json" in capsys.readouterr().err


def test_learning_curve_is_summed_beyond_its_points() -> None:
    # GIVEN 1000 invocations, one novel observation every tenth
    observed = ObservationSet()
    for i in range(1000):
        observed.add(
            InvocationEnd(
                "e",
                i + 1,
                f"2024-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                int(i % 10 == 0),
            )
        )
    # WHEN drawn with at most 400 points
    curve = learning_curve(observed, points=400)
    # THEN fewer points, nothing lost: the last total is every novel observation
    assert len(curve) <= 400 and curve[-1]["invocation"] == 1000
    assert curve[-1]["total"] == sum(p["novel"] for p in curve) == 100


def test_findings_buckets_split_blocked_from_would_block() -> None:
    # GIVEN occurrences over two days WHEN bucketed THEN at most 48 buckets, counts preserved
    groups = [
        {
            "decision": "blocked",
            "timeline": [["2024-01-01T00:00:00Z", 3], ["2024-01-02T23:00:00Z", 1]],
        },
        {"decision": "would-block", "timeline": [["2024-01-01T12:00:00Z", 2]]},
    ]
    result = findings_buckets(groups)
    assert len(result["buckets"]) <= 48
    assert sum(b["blocked"] for b in result["buckets"]) == 4
    assert sum(b["other"] for b in result["buckets"]) == 2


def test_page_escapes_what_an_attacker_controls() -> None:
    # GIVEN a finding whose target and user agent carry markup
    hostile = "</script><img src=x onerror=alert(1)>"
    report = {
        "function": "orders",
        "curve": [],
        "buckets": {"seconds": 0, "buckets": []},
        "findings": {
            "findings": [
                {
                    "count": 1,
                    "decision": "blocked",
                    "category": "files",
                    "action": "read",
                    "target": hostile,
                    "who": [{"source_ip": "203.0.113.9", "user_agent": hostile, "count": 1}],
                    "timeline": [["2024-01-01T00:00:00Z", 1]],
                }
            ]
        },
    }
    # WHEN rendered
    page = render_html([report], generated="now")
    # THEN no tag comes from the data, and the page loads nothing from anywhere
    assert "<img" not in page
    assert page.count("</script>") == 2  # the data block's and the script's own
    assert not re.search(r"(src|href)=\"?https?:", page)
