"""attach + enforce (moto) → the configuration Lambda would get → run locally under awslambdaric.

The profile layer version that ``enforce`` published is extracted as ``/opt`` would be, and the
function's environment as ``attach``/``enforce`` left it drives a local run through the real
wrapper and runtime client, in the mode it set.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from sandbox.fleet import AwsOptions
from sandbox.fleet.cli import main
from sandbox.fleet.layers import get_layer_version
from sandbox.local.runner import run_function
from sandbox.profile.build import build_profile
from tests.unit import test_aws_support as support
from tests.unit.test_aws_support import REGION, make_function, publish_sandbox

pytestmark = pytest.mark.e2e
aws = support.aws
opts = support.opts

VULNERABLE = Path(__file__).resolve().parents[2] / "examples" / "vulnerable"
REPORT = {"queryStringParameters": {"action": "report", "name": "q1.txt"}}
TRAVERSAL = {"queryStringParameters": {"action": "report", "name": "../../../../../../etc/passwd"}}


def test_attach_enforce_then_local_run_blocks_what_was_not_learned(
    aws: None, opts: AwsOptions, tmp_path: Path
) -> None:
    # GIVEN the vulnerable example's report action learned locally and built into a profile
    log = tmp_path / "learn.log"
    learned = run_function(
        "app.handler",
        [json.dumps(REPORT).encode()],
        code_dir=VULNERABLE,
        mode="learn",
        log_file=log,
        function_name="orders",
    )
    assert learned.ok, learned.log
    built, _report = build_profile("orders", [str(log)], warn=lambda message: None)
    profile = tmp_path / "orders.json"
    built.save(profile)
    # AND the function attached and enforced in (mocked) AWS
    make_function(opts, "orders")
    publish_sandbox(opts, tmp_path)
    cache = tmp_path / "cache"
    assert main(["attach", "orders", "--region", REGION]) == 0
    # (one learning invocation is not "learning done": --force says we know)
    enforce = ["enforce", "orders", "--profile", str(profile), "--region", REGION, "--force"]
    assert main([*enforce, "--cache-dir", str(cache)]) == 0
    config = opts.client("lambda").get_function_configuration(FunctionName="orders")
    env = config["Environment"]["Variables"]
    profile_arn = config["Layers"][-1]["Arn"]
    sha = get_layer_version(opts, profile_arn)["Content"]["CodeSha256"]
    blob = next(p for p in cache.iterdir()).read_bytes()
    opt = tmp_path / "opt"
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        zf.extractall(opt)
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/sandbox-wrapper" and sha
    # WHEN the function runs locally with that configuration
    run_env = {k: v for k, v in env.items() if k not in ("AWS_LAMBDA_EXEC_WRAPPER", "SANDBOX_MODE")}
    run_env["SANDBOX_PROFILE"] = str(opt / "sandbox-profile" / "profile.json")
    result = run_function(
        "app.handler",
        [json.dumps(REPORT).encode(), json.dumps(TRAVERSAL).encode()],
        code_dir=VULNERABLE,
        mode=env["SANDBOX_MODE"],
        profile=opt / "sandbox-profile" / "profile.json",
        env=run_env,
        function_name="orders",
    )
    # THEN the learned behaviour runs, the unlearned read is blocked and reported
    assert env["SANDBOX_MODE"] == "enforce"
    assert result.results[0].ok, result.log
    assert not result.results[1].ok
    findings = [json.loads(line) for line in result.log if '"sandbox.finding"' in line]
    blocked = [f for f in findings if f["target"] == "/etc/passwd"]
    assert blocked and blocked[0]["decision"] == "blocked" and blocked[0]["function"] == "orders"
