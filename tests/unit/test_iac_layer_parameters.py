"""``sandbox layer publish`` writes SSM parameters for templates and shares layers (moto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox import __version__
from sandbox.fleet.cli import main
from sandbox.fleet.layers import share_layer_version, ssm_parameter_name
from tests.unit import test_aws_support as support
from tests.unit.test_aws_support import REGION, layer_zip

aws = support.aws
opts = support.opts


def publish(zip_path: Path, *extra: str) -> int:
    return main(
        ["layer", "publish", "--arch", "arm64", "--zip", str(zip_path), *extra, "--region", REGION]
    )


def parameter(opts: Any, name: str) -> str:
    return str(opts.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])


def test_publish_writes_latest_and_release_parameters_per_runtime(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a built layer zip
    zip_path = tmp_path / "layer.zip"
    zip_path.write_bytes(layer_zip("v1"))
    # WHEN it is published for two runtimes
    assert publish(zip_path, "--runtime", "python3.12", "--runtime", "python3.13", "--json") == 0
    results = json.loads(capsys.readouterr().out)
    # THEN each runtime's ARN is in .../latest and .../<release>, named by arch and runtime
    for item in results:
        for release in ("latest", __version__):
            name = f"/lambda-sandbox/layer/arm64/{item['runtime']}/{release}"
            assert name == ssm_parameter_name(item["runtime"], "arm64", release=release)
            assert parameter(opts, name) == item["arn"]
        assert all(p["written"] for p in item["ssm_parameters"])


def test_republishing_unchanged_bytes_writes_no_parameter_and_a_new_zip_moves_latest(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a layer published once
    zip_path = tmp_path / "layer.zip"
    zip_path.write_bytes(layer_zip("v1"))
    assert publish(zip_path, "--runtime", "python3.12", "--json") == 0
    first = json.loads(capsys.readouterr().out)[0]
    name = ssm_parameter_name("python3.12", "arm64")
    version_before = opts.client("ssm").get_parameter(Name=name)["Parameter"]["Version"]
    # WHEN the same zip is published again, then a changed one
    assert publish(zip_path, "--runtime", "python3.12", "--json") == 0
    again = json.loads(capsys.readouterr().out)[0]
    version_again = opts.client("ssm").get_parameter(Name=name)["Parameter"]["Version"]
    zip_path.write_bytes(layer_zip("v2"))
    assert publish(zip_path, "--runtime", "python3.12", "--json") == 0
    changed = json.loads(capsys.readouterr().out)[0]
    # THEN the unchanged run leaves the parameter alone; the new version moves latest
    assert not again["published"] and not any(p["written"] for p in again["ssm_parameters"])
    assert version_again == version_before
    assert changed["arn"] != first["arn"] and parameter(opts, name) == changed["arn"]


def test_custom_prefix_and_no_ssm(opts: Any, tmp_path: Path) -> None:
    # GIVEN a layer zip
    zip_path = tmp_path / "layer.zip"
    zip_path.write_bytes(layer_zip())
    # WHEN published with another prefix, and (another runtime) with --no-ssm
    assert publish(zip_path, "--runtime", "python3.11", "--ssm-prefix", "/platform/sandbox") == 0
    assert publish(zip_path, "--runtime", "python3.10", "--no-ssm") == 0
    # THEN only the prefixed parameters of the first run exist
    names = {p["Name"] for p in opts.client("ssm").describe_parameters()["Parameters"]}
    assert names == {
        "/platform/sandbox/layer/arm64/python3.11/latest",
        f"/platform/sandbox/layer/arm64/python3.11/{__version__}",
    }


def test_bad_prefix_is_refused(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a layer zip
    zip_path = tmp_path / "layer.zip"
    zip_path.write_bytes(layer_zip())
    # WHEN the prefix has no leading slash
    code = publish(zip_path, "--runtime", "python3.11", "--ssm-prefix", "sandbox/")
    # THEN the command fails with a message naming the prefix
    assert code == 1 and "SSM prefix 'sandbox/'" in capsys.readouterr().err


def test_share_org_grants_get_layer_version_once(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a published layer version
    zip_path = tmp_path / "layer.zip"
    zip_path.write_bytes(layer_zip())
    assert publish(zip_path, "--runtime", "python3.12") == 0
    arn = parameter(opts, ssm_parameter_name("python3.12", "arm64"))
    name, version = arn.split(":")[-2], int(arn.split(":")[-1])
    # moto keeps no OrganizationId condition in the policy: record what is sent instead
    sent: list[dict[str, Any]] = []
    opts.client("lambda").meta.events.register(
        "provide-client-params.lambda.AddLayerVersionPermission",
        lambda params, **_: sent.append(dict(params)),
    )
    # WHEN it is shared with an organization twice
    first = share_layer_version(opts, arn, organization_id="o-abc123def4")
    second = share_layer_version(opts, arn, organization_id="o-abc123def4")
    # THEN one statement lets the organization's accounts call GetLayerVersion, added once
    policy = json.loads(
        opts.client("lambda").get_layer_version_policy(LayerName=name, VersionNumber=version)[
            "Policy"
        ]
    )
    assert first == second == "lambda-sandbox-o-abc123def4"
    assert [s["Sid"] for s in policy["Statement"]] == [first]
    assert policy["Statement"][0]["Action"] == "lambda:GetLayerVersion"
    assert sent == [
        {
            "LayerName": name,
            "VersionNumber": version,
            "StatementId": first,
            "Action": "lambda:GetLayerVersion",
            "Principal": "*",
            "OrganizationId": "o-abc123def4",
        }
    ]


def test_cli_share_account_on_publish(opts: Any, tmp_path: Path) -> None:
    # GIVEN a layer zip
    zip_path = tmp_path / "layer.zip"
    zip_path.write_bytes(layer_zip())
    # WHEN published with --share-account
    assert publish(zip_path, "--runtime", "python3.12", "--share-account", "210987654321") == 0
    # THEN the account may get the layer version
    arn = parameter(opts, ssm_parameter_name("python3.12", "arm64"))
    policy = json.loads(
        opts.client("lambda").get_layer_version_policy(
            LayerName=arn.split(":")[-2], VersionNumber=int(arn.split(":")[-1])
        )["Policy"]
    )
    assert [s["Sid"] for s in policy["Statement"]] == ["lambda-sandbox-210987654321"]
