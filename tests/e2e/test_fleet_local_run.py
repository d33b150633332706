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
from typing import Any

import pytest

from sandbox.aws import AwsOptions
from sandbox.aws.cli import main
from sandbox.aws.layers import get_layer_version
from sandbox.local.runner import run_function
from tests.unit import test_aws_support as support
from tests.unit.test_aws_support import REGION, make_function, publish_sandbox

pytestmark = pytest.mark.e2e
aws = support.aws
opts = support.opts

APP = """
def handler(event, context):
    if event.get("steal"):
        with open(event["steal"]) as f:
            return {"stolen": f.read()[:20]}
    return {"ok": True}
"""


def _profile_from_learning(log: list[str], function: str) -> dict[str, Any]:
    rules: dict[str, list[dict[str, Any]]] = {}
    for line in log:
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("type") != "sandbox.observation":
            continue
        rule = {"action": record["action"], "target": record["target"], "phase": record["phase"]}
        if "argv" in record:
            rule["argv"] = record["argv"]
        if rule not in rules.setdefault(record["category"], []):
            rules[record["category"]].append(rule)
    return {
        "schema_version": 1,
        "function": function,
        "extends": ["python-runtime"],
        "rules": rules,
        "learning": {
            "invocations": 200,
            "invocations_since_novel": 150,
            "last_novel": "2020-01-01T00:00:00Z",
        },
    }


def test_attach_enforce_then_local_run_blocks_what_was_not_learned(
    aws: None, opts: AwsOptions, tmp_path: Path
) -> None:
    # GIVEN a tiny handler whose normal behaviour was learned locally
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(APP)
    learned = run_function("app.handler", [b'{"x": 1}'], code_dir=code, mode="learn")
    assert learned.ok, learned.log
    profile = tmp_path / "orders.json"
    profile.write_text(json.dumps(_profile_from_learning(learned.log, "orders")))
    # AND the function attached and enforced in (mocked) AWS
    make_function(opts, "orders")
    publish_sandbox(opts, tmp_path)
    cache = tmp_path / "cache"
    assert main(["attach", "orders", "--region", REGION]) == 0
    enforce = ["enforce", "orders", "--profile", str(profile), "--region", REGION]
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
        [b'{"x": 2}', b'{"steal": "/etc/passwd"}'],
        code_dir=code,
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
