"""The fleet CLI as a user runs it: ``python -m sandbox.fleet.cli`` against a moto server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_aws_support import TRUST, code_zip, layer_zip, write_profile

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        moto.stop()


def fake_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),  # the profile cache lands under it, not in the real home
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


def sandbox(endpoint: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox.fleet.cli", *args, "--endpoint-url", endpoint],
        env=fake_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def client(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client(service, endpoint_url=endpoint)


def test_cli_against_moto_server(server: str, tmp_path: Path) -> None:
    # GIVEN a moto server with two Python functions (one tagged) and a built layer zip
    role = client(server, "iam").create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)["Role"][
        "Arn"
    ]
    lam = client(server, "lambda")
    for name, tags in (("orders", {"sandbox": "yes"}), ("billing", {})):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": code_zip()},
            Tags=tags,
        )
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "sandbox-layer-x86_64.zip").write_bytes(layer_zip())
    profile = write_profile(tmp_path / "orders.json", "orders")

    # WHEN the layer is published, the tagged function attached, enforced, inspected, rolled back
    publish = sandbox(
        server, tmp_path, "layer", "publish", "--arch", "x86_64", "--runtime", "python3.12"
    )
    attach = sandbox(server, tmp_path, "attach", "--tag", "sandbox=yes")
    enforce = sandbox(server, tmp_path, "enforce", "orders", "--profile", str(profile))
    inventory = sandbox(server, tmp_path, "inventory", "--json")
    rollback = sandbox(server, tmp_path, "rollback", "orders")
    after_rollback = lam.get_function_configuration(FunctionName="orders")
    detach = sandbox(server, tmp_path, "detach", "orders")

    # THEN every step succeeded and left the configuration it should
    for step in (publish, attach, enforce, inventory, rollback, detach):
        assert step.returncode == 0, step.stderr
    assert "lambda-sandbox-py312-x86_64:1 (published)" in publish.stdout
    assert "orders: changed" in attach.stdout and "billing" not in attach.stdout
    rows = {r["function"]: r for r in json.loads(inventory.stdout)}
    assert rows["orders"]["mode"] == "enforce" and rows["orders"]["profile"] == "v1"
    assert rows["orders"]["aws_services"] == ["s3"]  # read back through the local cache
    assert rows["billing"]["attached"] is False
    assert after_rollback["Environment"]["Variables"]["SANDBOX_MODE"] == "learn"
    final = lam.get_function_configuration(FunctionName="orders")
    assert not final.get("Layers") and not (final.get("Environment") or {}).get("Variables")


def test_cli_usage_errors_and_refusals(server: str, tmp_path: Path) -> None:
    # GIVEN an empty region
    # WHEN attaching with no selection, or to a missing function
    nothing = sandbox(server, tmp_path, "attach")
    missing = sandbox(
        server,
        tmp_path,
        "attach",
        "ghost",
        "--layer-arn",
        "arn:aws:lambda:us-east-1:123456789012:layer:lambda-sandbox-py312-x86_64:1",
    )
    # THEN clear messages, no tracebacks: no selection is a usage error (2), a missing
    # function that function's failure (1)
    assert nothing.returncode == 2 and "--tag KEY=VALUE or --all" in nothing.stderr
    assert missing.returncode == 1 and "ghost: error: function not found" in missing.stderr
    assert "Traceback" not in nothing.stderr + missing.stderr


def test_cli_many_functions_concurrently_over_http(server: str, tmp_path: Path) -> None:
    # GIVEN 120 Python functions behind a moto server (real HTTP, one connection per worker)
    role = client(server, "iam").create_role(RoleName="r-batch", AssumeRolePolicyDocument=TRUST)[
        "Role"
    ]["Arn"]
    lam = client(server, "lambda")
    names = [f"batch-{i:03d}" for i in range(120)]
    for name in names:
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": code_zip()},
            Environment={"Variables": {"TOKEN": "s3cret"}},
        )
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "sandbox-layer-x86_64.zip").write_bytes(layer_zip())
    publish = sandbox(
        server, tmp_path, "layer", "publish", "--arch", "x86_64", "--runtime", "python3.12"
    )
    # WHEN they are planned, attached 16 at a time in adaptive retry mode, and detached
    plan = sandbox(server, tmp_path, "attach", "--prefix", "batch-", "--dry-run", "--json")
    attach = sandbox(
        server, tmp_path, "attach", "--prefix", "batch-", "--concurrency", "16",
        "--retry-mode", "adaptive",
    )  # fmt: skip
    detach = sandbox(server, tmp_path, "detach", "--prefix", "batch-", "--concurrency", "16")
    # THEN the plan covered every function without showing the secret, each run streamed one
    # line per function (no progress bar: stderr is not a terminal) and counted the outcomes
    for step in (publish, plan, attach, detach):
        assert step.returncode == 0, step.stderr
    planned = json.loads(plan.stdout)
    assert sorted(o["function"] for o in planned) == names and "s3cret" not in plan.stdout
    assert len(attach.stdout.splitlines()) == len(names)
    assert "120 functions: 120 changed" in attach.stderr and "\r" not in attach.stderr
    assert "120 functions: 120 changed" in detach.stderr
    final = lam.get_function_configuration(FunctionName=names[-1])
    assert final["Environment"]["Variables"] == {"TOKEN": "s3cret"} and not final.get("Layers")
