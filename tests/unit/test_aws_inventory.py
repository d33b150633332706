"""Inventory against moto: Python functions, mode, profile read back, learning, talks-to."""

from __future__ import annotations

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
