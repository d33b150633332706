"""Shared moto fixtures for the fleet tests (imported by the test_aws_* modules)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REGION = "us-east-1"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no shared config: nothing can reach real AWS."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def code_zip(source: str = "def handler(event, context):\n    return event\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("app.py", source)
    return buffer.getvalue()


def layer_zip(marker: str = "v1") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("sandbox-wrapper", '#!/bin/sh\nexec "$@"\n')
        zf.writestr("python/sandbox/__init__.py", f"# {marker}\n")
    return buffer.getvalue()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process, every service."""
    from moto import mock_aws

    fake_credentials(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture
def opts(aws: None) -> Any:
    from sandbox.fleet import AwsOptions

    return AwsOptions(region=REGION, poll_delay=0.0)


def make_role(opts: Any, name: str = "fn-role") -> str:
    iam = opts.client("iam")
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except Exception:
        return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"])


def make_function(
    opts: Any,
    name: str,
    *,
    runtime: str = "python3.11",
    layers: list[str] | None = None,
    env: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    arch: str = "x86_64",
    role: str = "fn-role",
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": runtime,
        "Role": make_role(opts, role),
        "Handler": "app.handler",
        "Code": {"ZipFile": code_zip()},
        "Architectures": [arch],
    }
    if layers:
        kwargs["Layers"] = layers
    if env:
        kwargs["Environment"] = {"Variables": env}
    if tags:
        kwargs["Tags"] = tags
    return dict(opts.client("lambda").create_function(**kwargs))


def publish_sandbox(opts: Any, tmp_path: Path, runtimes: tuple[str, ...] = ("python3.11",)) -> str:
    from sandbox.fleet.layers import publish_sandbox_layer

    path = tmp_path / "sandbox-layer-x86_64.zip"
    path.write_bytes(layer_zip())
    return str(publish_sandbox_layer(opts, path, arch="x86_64", runtimes=runtimes)[0]["arn"])


def other_layer(opts: Any, name: str) -> str:
    response = opts.client("lambda").publish_layer_version(
        LayerName=name, Content={"ZipFile": code_zip()}, CompatibleRuntimes=["python3.11"]
    )
    return str(response["LayerVersionArn"])


def config(opts: Any, name: str) -> dict[str, Any]:
    return dict(opts.client("lambda").get_function_configuration(FunctionName=name))


def env_of(opts: Any, name: str) -> dict[str, str]:
    return dict((config(opts, name).get("Environment") or {}).get("Variables") or {})


def layers_of(opts: Any, name: str) -> list[str]:
    return [layer["Arn"] for layer in config(opts, name).get("Layers") or []]


def write_profile(
    path: Path,
    function: str,
    *,
    done: bool = True,
    aws_calls: tuple[str, ...] = ("s3:GetObject:my-bucket",),
    hosts: tuple[str, ...] = ("api.example.com:443",),
) -> Path:
    learning: dict[str, Any] = {
        "invocations": 500,
        "invocations_since_novel": 300 if done else 3,
        "last_novel": "2020-01-01T00:00:00Z",
    }
    document = {
        "schema_version": 1,
        "function": function,
        "extends": ["python-runtime"],
        "rules": {
            "aws": [{"action": "call", "target": t, "phase": "invoke"} for t in aws_calls],
            "network": [{"action": "connect", "target": h, "phase": "invoke"} for h in hosts],
        },
        "learning": learning,
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
