"""``sandbox status``: drift between what is deployed and what the team expects (moto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.fleet.cli import main
from sandbox.profile.package import package_profile
from tests.unit import test_aws_support as support
from tests.unit.test_aws_support import REGION, layer_zip, make_function, write_profile

aws = support.aws
opts = support.opts


def cli(*args: str, cache: Path | None = None) -> int:
    argv = [*args, "--region", REGION]
    if cache is not None:
        argv += ["--cache-dir", str(cache)]
    return main(argv)


def publish_layer(tmp_path: Path, marker: str = "v1") -> None:
    """`sandbox layer publish` of a layer zip for python3.11 (writes the SSM parameters)."""
    zip_path = tmp_path / f"layer-{marker}.zip"
    zip_path.write_bytes(layer_zip(marker))
    assert (
        cli(
            "layer",
            "publish",
            "--arch",
            "x86_64",
            "--runtime",
            "python3.11",
            "--zip",
            str(zip_path),
        )
        == 0
    )


def enforced(tmp_path: Path) -> Path:
    """The orders function enforced with its profile through the CLI path; the profile file."""
    make_function(support_opts(), "orders")
    publish_layer(tmp_path)
    (tmp_path / "profiles").mkdir()
    profile = write_profile(tmp_path / "profiles" / "orders.json", "orders")
    assert cli("attach", "orders") == 0
    assert cli("enforce", "orders", "--profile", str(profile), cache=tmp_path / "cache") == 0
    return profile


def support_opts() -> Any:
    from sandbox.fleet import AwsOptions

    return AwsOptions(region=REGION, poll_delay=0.0)


def status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = cli("status", *args, "--json")
    (only,) = json.loads(capsys.readouterr().out)
    return code, {c["check"]: c for c in only["checks"]} | {"_": only}


def test_in_sync_when_layer_profile_mode_and_wrapper_match(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function enforced with the repository's profile and the latest layer
    enforced(tmp_path)
    capsys.readouterr()
    # WHEN its status is checked against the profiles folder and the expected mode
    code, checks = status(
        capsys, "orders", "--profiles", str(tmp_path / "profiles"), "--mode", "enforce"
    )
    # THEN every check is ok and the exit status is 0
    assert code == 0 and checks["_"]["in_sync"]
    assert {name: c["status"] for name, c in checks.items() if name != "_"} == {
        "wrapper": "ok",
        "layer": "ok",
        "profile": "ok",
        "mode": "ok",
    }


def test_layer_behind_the_latest_published_is_drift(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an enforced function, then a newer sandbox layer published
    enforced(tmp_path)
    publish_layer(tmp_path, "v2")
    capsys.readouterr()
    # WHEN its status is checked
    code, checks = status(capsys, "orders")
    # THEN the layer check says it is behind, naming both versions and where latest came from
    assert code == 1 and checks["layer"]["status"] == "drift"
    detail = checks["layer"]["detail"]
    assert "lambda-sandbox-py311-x86_64:1 is behind lambda-sandbox-py311-x86_64:2" in detail
    assert "/lambda-sandbox/layer/x86_64/python3.11/latest" in detail


def test_profile_changed_in_the_repository_is_drift(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an enforced function, then its profile changed (reviewed, merged) but not deployed
    profile = enforced(tmp_path)
    write_profile(profile, "orders", hosts=("api.example.com:443", "new.example.com:443"))
    capsys.readouterr()
    # WHEN its status is checked against the repository's profile
    code, checks = status(capsys, "orders", "--profile", str(profile))
    # THEN the profile check names the deployed hash and the repository's
    want = package_profile(profile).profile_sha256
    assert code == 1 and checks["profile"]["status"] == "drift"
    assert want[:12] in checks["profile"]["detail"]


def test_mode_other_than_expected_is_drift(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function in learn
    make_function(opts, "orders")
    publish_layer(tmp_path)
    assert cli("attach", "orders") == 0
    capsys.readouterr()
    # WHEN enforce is expected
    code, checks = status(capsys, "orders", "--mode", "enforce")
    # THEN the mode check is drift; with no profile to compare, that check is unknown, not drift
    assert code == 1 and checks["mode"] == {
        "check": "mode",
        "status": "drift",
        "detail": "learn, expected enforce",
    }
    assert checks["profile"]["status"] == "unknown"


def test_wrapper_slot_taken_by_another_tool_is_drift(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an attached function whose AWS_LAMBDA_EXEC_WRAPPER another tool then overwrote
    make_function(opts, "orders")
    publish_layer(tmp_path)
    assert cli("attach", "orders") == 0
    env = opts.client("lambda").get_function_configuration(FunctionName="orders")["Environment"]
    variables = {**env["Variables"], "AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-instrument"}
    opts.client("lambda").update_function_configuration(
        FunctionName="orders", Environment={"Variables": variables}
    )
    capsys.readouterr()
    # WHEN its status is checked
    code, checks = status(capsys, "orders")
    # THEN the wrapper check says the slot is taken and the sandbox never loads
    assert code == 1 and checks["wrapper"]["status"] == "drift"
    assert "'/opt/otel-instrument' (another tool took the slot)" in checks["wrapper"]["detail"]


def test_iac_deployed_profile_layer_is_matched_by_its_bytes(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a profile layer deployed by an IaC tool from `sandbox profile package` (no hash in
    # its description), attached with the sandbox layer and the wrapper
    make_function(opts, "orders")
    publish_layer(tmp_path)
    profile = write_profile(tmp_path / "orders.json", "orders")
    package = package_profile(profile)
    lam = opts.client("lambda")
    arn = lam.publish_layer_version(
        LayerName="sandbox-profile-orders", Content={"ZipFile": package.data}
    )["LayerVersionArn"]
    parameter = "/lambda-sandbox/layer/x86_64/python3.11/latest"
    sandbox = opts.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
    lam.update_function_configuration(
        FunctionName="orders",
        Layers=[sandbox, arn],
        Environment={
            "Variables": {
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/sandbox-wrapper",
                "SANDBOX_MODE": "enforce",
            }
        },
    )
    capsys.readouterr()
    # WHEN its status is checked against the profile
    code, checks = status(capsys, "orders", "--profile", str(profile), "--mode", "enforce")
    # THEN the profile matches by CodeSha256 and everything is in sync
    assert code == 0, checks
    assert checks["profile"]["status"] == "ok" and "CodeSha256" in checks["profile"]["detail"]


def test_alias_is_checked_not_latest(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN `live` on a learn version while $LATEST has moved on to enforce without the alias
    make_function(opts, "orders")
    publish_layer(tmp_path)
    profile = write_profile(tmp_path / "orders.json", "orders")
    assert cli("attach", "orders", "--alias", "live") == 0
    assert cli("enforce", "orders", "--profile", str(profile), cache=tmp_path / "c") == 0
    capsys.readouterr()
    # WHEN the alias and $LATEST are checked for enforce
    alias_code, alias_checks = status(capsys, "orders", "--alias", "live", "--mode", "enforce")
    latest_code, _ = status(capsys, "orders", "--mode", "enforce")
    # THEN the alias (what callers run) is still in learn: drift; $LATEST is as expected
    assert alias_code == 1 and alias_checks["mode"]["detail"] == "learn, expected enforce"
    assert alias_checks["_"]["qualifier"] == "live"
    assert latest_code == 0


def test_text_output_and_unknown_function(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN one function in learn and a name that does not exist
    make_function(opts, "orders")
    publish_layer(tmp_path)
    assert cli("attach", "orders") == 0
    capsys.readouterr()
    # WHEN both are checked, as text
    code = cli("status", "orders", "missing", "--mode", "learn")
    out = capsys.readouterr().out
    # THEN one block per function: orders in sync with its checks, the other an error
    assert code == 1
    assert "orders: in sync" in out and "  wrapper  ok" in out
    assert "missing: ERROR function not found" in out
