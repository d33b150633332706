"""``sandbox profile build --from cloudwatch|s3`` against a moto server: endpoint, AWS profile,
Logs Insights with its fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_fleet_cli import client
from tests.unit.test_profile_observations import inv, obs

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
LINES = [
    obs("{task}/templates/a.html", invocation=1),
    obs("{task}/templates/b.html", invocation=2),
    obs("/bin/ls", invocation=2, category="processes", action="exec", argv=["-l"]),
    inv("e1", 1),
    inv("e1", 2),
]


@pytest.fixture
def server() -> Iterator[str]:
    """A moto server on loopback."""
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        moto.stop()


def _env(tmp_path: Path) -> dict[str, str]:
    """No credentials in the environment: only the named AWS profile has them."""
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[sandbox-test]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    config = tmp_path / "config"
    config.write_text("[profile sandbox-test]\nregion = us-east-1\n")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
    }


def _build(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox.cli",
            "profile",
            "build",
            "--function",
            "orders",
            "--allow-unauthenticated",
            *args,
        ],  # records written by hand, without a MAC
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _targets(stdout: str) -> dict[str, list[str]]:
    profile = json.loads(stdout)
    return {c: sorted(r["target"] for r in rules) for c, rules in profile["rules"].items()}


def test_cloudwatch_source_honours_endpoint_and_aws_profile_and_insights_falls_back(
    server: str,
    tmp_path: Path,
) -> None:
    # GIVEN a moto server whose CloudWatch Logs hold a function's observation lines
    logs = client(server, "logs")
    group = "/aws/lambda/orders"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000) - 600_000  # settled: older than Insights' settle time
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now + i, "message": json.dumps(r)} for i, r in enumerate(LINES)],
    )
    aws = ["--endpoint-url", server, "--profile-name", "sandbox-test"]
    # WHEN built by reading every line, and with --insights (moto ignores the stats command)
    lines = _build(tmp_path, "--from", "cloudwatch", *aws)
    insights = _build(tmp_path, "--from", "cloudwatch", "--insights", *aws)
    # THEN both reach the server with the named profile's credentials and build the same rules;
    # the Insights build says why it read every line instead
    assert lines.returncode == 0, lines.stderr
    assert insights.returncode == 0, insights.stderr
    assert _targets(lines.stdout) == _targets(insights.stdout)
    assert _targets(lines.stdout)["processes"] == ["/bin/ls"]
    assert "Logs Insights: the answer lacks the aggregate fields" in insights.stderr
    assert "reading every line with FilterLogEvents instead" in insights.stderr


def test_s3_source_honours_endpoint_and_aws_profile(server: str, tmp_path: Path) -> None:
    # GIVEN observation lines in an S3 bucket of the moto server
    s3 = client(server, "s3")
    s3.create_bucket(Bucket="observations")
    body = "".join(json.dumps(r) + "\n" for r in LINES)
    s3.put_object(Bucket="observations", Key="orders/part-0001.jsonl", Body=body.encode())
    # WHEN built from s3:// through the endpoint with the named profile
    built = _build(
        tmp_path,
        "--from",
        "s3://observations/orders/",
        "--endpoint-url",
        server,
        "--profile-name",
        "sandbox-test",
    )
    # THEN the rules come from the bucket's lines
    assert built.returncode == 0, built.stderr
    assert _targets(built.stdout)["processes"] == ["/bin/ls"]


def test_unknown_aws_profile_is_an_input_error(server: str, tmp_path: Path) -> None:
    # GIVEN no AWS profile named "nope" WHEN building from CloudWatch with it
    built = _build(
        tmp_path, "--from", "cloudwatch", "--endpoint-url", server, "--profile-name", "nope"
    )
    # THEN a clear message and exit status 2, no traceback
    assert built.returncode == 2
    assert "--profile-name nope" in built.stderr and "Traceback" not in built.stderr
