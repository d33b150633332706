"""Inventory against moto: Python functions, mode, profile read back, learning, talks-to."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.fleet.cli import main
from tests.unit import test_aws_support as support
from tests.unit.test_aws_findings import finding, put_logs
from tests.unit.test_aws_support import REGION, make_function, publish_sandbox, write_profile

aws = support.aws
opts = support.opts


def test_inventory_reads_profile_back(
    aws: None, opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an enforced function, an attached one in learn mode, an untouched one, and findings
    for name in ("orders", "billing", "plain"):
        make_function(opts, name)
    make_function(opts, "web", runtime="nodejs20.x")
    publish_sandbox(opts, tmp_path)
    cache = tmp_path / "cache"
    profile = write_profile(
        tmp_path / "p.json", "orders", aws_calls=("s3:GetObject:b", "dynamodb:Query:t")
    )
    assert main(["attach", "billing", "--region", REGION]) == 0
    assert (
        main(
            [
                "enforce",
                "orders",
                "--profile",
                str(profile),
                "--region",
                REGION,
                "--cache-dir",
                str(cache),
            ]
        )
        == 0
    )
    put_logs(opts, "orders", [json.dumps(finding(1))])
    capsys.readouterr()
    # WHEN listing the inventory (JSON, table, and without the local cache)
    assert (
        main(["inventory", "--json", "--findings", "--region", REGION, "--cache-dir", str(cache)])
        == 0
    )
    rows = {r["function"]: r for r in json.loads(capsys.readouterr().out)}
    assert main(["inventory", "--findings", "--region", REGION, "--cache-dir", str(cache)]) == 0
    table = capsys.readouterr().out
    assert main(["inventory", "--region", REGION, "--cache-dir", str(tmp_path / "empty")]) == 0
    uncached = capsys.readouterr().out
    # THEN Python functions only, with mode, profile version, learning, last finding, talks-to
    assert set(rows) == {"orders", "billing", "plain"}
    assert rows["orders"]["mode"] == "enforce" and rows["orders"]["profile"] == "v1"
    assert rows["orders"]["learning"] == "done"
    assert rows["orders"]["hosts"] == ["api.example.com:443"]
    assert rows["orders"]["aws_services"] == ["dynamodb", "s3"]
    assert rows["orders"]["last_finding"]["target"] == "/etc/passwd"
    assert rows["billing"]["mode"] == "learn" and rows["billing"]["profile"] is None
    assert rows["plain"]["attached"] is False
    assert table.splitlines()[0].split()[:3] == ["FUNCTION", "RUNTIME", "LAYER"]
    orders_line = next(line for line in table.splitlines() if line.startswith("orders"))
    assert "lambda-sandbox-py311-x86_64:1" in orders_line and "enforce" in orders_line
    assert "api.example.com:443, aws:dynamodb, aws:s3" in orders_line
    # AND when the profile cannot be fetched (moto's Location is s3://), it says so
    orders_uncached = next(line for line in uncached.splitlines() if line.startswith("orders"))
    assert "profile not retrievable" in orders_uncached


def test_inventory_answers_role_findings_and_exports_csv(
    aws: None, opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an enforced function whose role allows s3:* on everything while its profile only
    # reads one bucket, attacked from two IPs
    make_function(opts, "orders", role="orders-role")
    opts.client("iam").put_role_policy(
        RoleName="orders-role",
        PolicyName="wide",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    publish_sandbox(opts, tmp_path)
    cache = tmp_path / "cache"
    profile = write_profile(tmp_path / "p.json", "orders", aws_calls=("s3:GetObject:b",))
    enforce = ["enforce", "orders", "--profile", str(profile), "--cache-dir", str(cache)]
    assert main([*enforce, "--region", REGION]) == 0
    put_logs(
        opts,
        "orders",
        [
            json.dumps(finding(1, ip="203.0.113.9")),
            json.dumps(finding(2, ip="198.51.100.1")),
            json.dumps(finding(3, target="/proc/self/environ")),
        ],
    )
    capsys.readouterr()
    common = ["--findings", "--region", REGION, "--cache-dir", str(cache)]
    # WHEN listing the inventory as JSON, as CSV and as a table
    assert main(["inventory", "orders", "--json", *common]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert main(["inventory", "orders", "--csv", *common]) == 0
    (line,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert main(["inventory", "orders", *common]) == 0
    table = capsys.readouterr().out
    # THEN the role's excess over the deployed profile is named
    kinds = {p["kind"] for p in row["iam"]["over_permissive"]}
    assert {"wildcard-action", "wildcard-resource"} <= kinds
    assert row["iam"]["ok"] is False and row["iam"]["role"].endswith("/orders-role")
    # AND the last findings come with their callers, latest first
    assert row["last_finding"]["target"] == "/proc/self/environ"
    passwd = next(f for f in row["last_findings"] if f["target"] == "/etc/passwd")
    assert {w["source_ip"] for w in passwd["who"]} == {"203.0.113.9", "198.51.100.1"}
    # AND the CSV row carries the same answers, lists joined with ";"
    assert line["function"] == "orders" and line["mode"] == "enforce"
    assert line["hosts"] == "api.example.com:443" and line["aws_services"] == "s3"
    assert line["iam"].startswith("over") and "wildcard-action" in line["iam_over_permissive"]
    assert line["last_finding"] == "blocked files read /proc/self/environ"
    assert line["last_finding_who"] == "1x 203.0.113.9 curl/8 (apigateway)"
    assert "over (" in next(t for t in table.splitlines() if t.startswith("orders"))


def test_inventory_of_a_function_that_does_not_exist_is_an_error(
    aws: None, opts: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no function "ghost" WHEN it is asked for THEN exit 1 naming it
    assert main(["inventory", "ghost", "--region", REGION]) == 1
    assert "ghost: no such function" in capsys.readouterr().err
