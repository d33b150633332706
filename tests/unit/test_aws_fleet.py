"""Fleet operations against moto in-process: attach, detach, modes, enforce, rollback, selection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox.fleet.cli import main
from sandbox.fleet.functions import (
    BOOTSTRAP_HANDLER,
    WRAPPER,
    apply,
    learning_status,
    plan_attach,
    plan_detach,
    plan_rollback,
    select_functions,
)
from sandbox.fleet.layers import get_layer_version
from tests.unit import test_aws_support as support
from tests.unit.test_aws_support import (
    REGION,
    config,
    env_of,
    layers_of,
    make_function,
    other_layer,
    publish_sandbox,
    write_profile,
)

aws = support.aws
opts = support.opts


def attach(opts: Any, name: str, layer: str, **kw: Any) -> Any:
    mode = kw.pop("mode", "learn")
    return apply(opts, name, lambda c: plan_attach(c, sandbox_layer=layer, mode=mode, **kw))


def cli(*args: str, cache: Path | None = None) -> int:
    argv = [*args, "--region", REGION]
    if cache is not None:
        argv += ["--cache-dir", str(cache)]
    return main(argv)


def test_attach_merges_with_existing_layers_and_env_and_is_idempotent(
    opts: Any, tmp_path: Path
) -> None:
    # GIVEN a Python function with a layer and variables of its own
    own = other_layer(opts, "deps")
    make_function(opts, "orders", layers=[own], env={"TABLE": "orders"})
    layer = publish_sandbox(opts, tmp_path)
    # WHEN the sandbox is attached twice
    first = attach(opts, "orders", layer)
    second = attach(opts, "orders", layer)
    # THEN its own settings are kept, ours added once, and the second run writes nothing
    assert first.status == "changed" and second.status == "unchanged"
    assert layers_of(opts, "orders") == [own, layer]
    assert env_of(opts, "orders") == {
        "TABLE": "orders",
        "AWS_LAMBDA_EXEC_WRAPPER": WRAPPER,
        "SANDBOX_MODE": "learn",
    }


def test_detach_restores_the_original_configuration_and_is_idempotent(
    opts: Any, tmp_path: Path
) -> None:
    # GIVEN an attached function
    own = other_layer(opts, "deps")
    make_function(opts, "orders", layers=[own], env={"TABLE": "orders"})
    attach(opts, "orders", publish_sandbox(opts, tmp_path))
    # WHEN it is detached twice
    first = apply(opts, "orders", plan_detach)
    second = apply(opts, "orders", plan_detach)
    # THEN exactly its own layers and variables remain
    assert (first.status, second.status) == ("changed", "unchanged")
    assert layers_of(opts, "orders") == [own]
    assert env_of(opts, "orders") == {"TABLE": "orders"}


def test_resource_conflict_is_read_again_and_planned_again(opts: Any, tmp_path: Path) -> None:
    # GIVEN a function whose update conflicts twice (another update in progress)
    make_function(opts, "busy")
    layer = publish_sandbox(opts, tmp_path)
    client = opts.client("lambda")
    real = client.update_function_configuration
    calls: list[int] = []

    def flaky(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= 2:
            raise ClientError(
                {"Error": {"Code": "ResourceConflictException", "Message": "update in progress"}},
                "UpdateFunctionConfiguration",
            )
        return real(**kwargs)

    client.update_function_configuration = flaky
    # WHEN the sandbox is attached
    outcome = attach(opts, "busy", layer)
    # THEN the third write (each after a fresh read and plan) succeeds
    assert outcome.status == "changed", outcome.message
    assert len(calls) == 3
    assert env_of(opts, "busy")["SANDBOX_MODE"] == "learn"


def test_an_update_in_progress_is_waited_for_with_botocores_waiter(
    opts: Any, tmp_path: Path
) -> None:
    # GIVEN a function whose first read says an update is in progress
    make_function(opts, "updating")
    layer = publish_sandbox(opts, tmp_path)
    client = opts.client("lambda")
    real = client.get_function_configuration
    reads: list[str] = []

    def in_progress_once(**kwargs: Any) -> Any:
        answer = dict(real(**kwargs))
        if not reads:
            answer["LastUpdateStatus"] = "InProgress"
        reads.append(answer.get("LastUpdateStatus", ""))
        return answer

    client.get_function_configuration = in_progress_once
    # WHEN the sandbox is attached
    outcome = attach(opts, "updating", layer)
    # THEN the function_updated waiter polled until the update finished, then the write went in
    assert outcome.status == "changed", outcome.message
    assert reads[0] == "InProgress" and reads[1] == "Successful"
    assert env_of(opts, "updating")["SANDBOX_MODE"] == "learn"


def test_throttling_is_left_to_botocores_retry_mode(opts: Any) -> None:
    # GIVEN clients in standard and adaptive retry modes, and an API that always throttles
    from sandbox.fleet import AwsOptions
    from sandbox.fleet._api import call

    adaptive = AwsOptions(region=REGION, retry_mode="adaptive", max_attempts=3)
    client = opts.client("lambda")
    attempts: list[int] = []

    def throttled(**kwargs: Any) -> Any:
        attempts.append(1)
        raise ClientError(
            {"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}},
            "GetFunctionConfiguration",
        )

    client.get_function_configuration = throttled
    # WHEN a call is made through the fleet's call()
    with pytest.raises(ClientError):
        call(client, "get_function_configuration", opts, FunctionName="x")
    # THEN it is made once (botocore, below it, does the retrying) and the clients carry the mode
    assert attempts == [1]
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 8}
    assert adaptive.client("lambda").meta.config.retries == {
        "mode": "adaptive",
        "total_max_attempts": 3,
    }


def test_access_denied_names_the_iam_action(opts: Any, tmp_path: Path) -> None:
    # GIVEN a caller without lambda:UpdateFunctionConfiguration
    make_function(opts, "locked")
    layer = publish_sandbox(opts, tmp_path)
    client = opts.client("lambda")

    def denied(**kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "no"}},
            "UpdateFunctionConfiguration",
        )

    client.update_function_configuration = denied
    # WHEN attaching
    outcome = attach(opts, "locked", layer)
    # THEN the error says which permission is missing
    assert outcome.status == "error"
    assert "lambda:UpdateFunctionConfiguration" in outcome.message


def test_five_layer_limit_is_refused(opts: Any, tmp_path: Path) -> None:
    # GIVEN one function with 5 layers of its own and one with 4
    own = [other_layer(opts, f"dep{i}") for i in range(5)]
    make_function(opts, "full", layers=own)
    make_function(opts, "four", layers=own[:4])
    layer = publish_sandbox(opts, tmp_path)
    # WHEN the sandbox is attached to both
    full = attach(opts, "full", layer)
    four = attach(opts, "four", layer)
    # THEN the full one is refused untouched, the other gets its fifth layer
    assert full.status == "refused" and "Lambda allows 5" in full.message
    assert layers_of(opts, "full") == own
    assert four.status == "changed" and len(layers_of(opts, "four")) == 5


def test_wrapper_slot_taken_is_refused_and_redirect_handler_works(
    opts: Any, tmp_path: Path
) -> None:
    # GIVEN a function whose exec wrapper slot belongs to another tool
    make_function(opts, "traced", env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-instrument"})
    layer = publish_sandbox(opts, tmp_path)
    # WHEN attached plainly, then with handler redirection, then detached
    refused = attach(opts, "traced", layer)
    redirected = attach(opts, "traced", layer, redirect_handler=True)
    cfg = config(opts, "traced")
    again = attach(opts, "traced", layer)
    detached = apply(opts, "traced", plan_detach)
    # THEN the plain attach is refused with the alternative named; the redirect keeps the
    # other tool's wrapper and the original handler; detach restores the handler
    assert refused.status == "refused" and "--redirect-handler" in refused.message
    assert redirected.status == "changed" and again.status == "unchanged"
    assert cfg["Handler"] == BOOTSTRAP_HANDLER
    assert cfg["Environment"]["Variables"]["SANDBOX_ORIGINAL_HANDLER"] == "app.handler"
    assert cfg["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/otel-instrument"
    assert detached.status == "changed"
    assert config(opts, "traced")["Handler"] == "app.handler"
    assert env_of(opts, "traced") == {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-instrument"}


def test_non_python_runtime_is_refused(opts: Any, tmp_path: Path) -> None:
    # GIVEN a Node.js function
    make_function(opts, "web", runtime="nodejs20.x")
    layer = publish_sandbox(opts, tmp_path)
    # WHEN attaching
    outcome = attach(opts, "web", layer)
    # THEN it is refused by name and left alone
    assert outcome.status == "refused" and "nodejs20.x" in outcome.message
    assert layers_of(opts, "web") == []


def test_selection_by_tag_and_all(opts: Any) -> None:
    # GIVEN Python functions (two tagged team=a) and a Node.js one tagged team=a
    make_function(opts, "a1", tags={"team": "a"})
    make_function(opts, "a2", tags={"team": "a", "env": "prod"})
    make_function(opts, "b1", tags={"team": "b"})
    make_function(opts, "js", runtime="nodejs20.x", tags={"team": "a"})
    # WHEN selecting
    # THEN tags pick Python functions with every tag; --all every Python function
    assert sorted(select_functions(opts, tags=["team=a"])) == ["a1", "a2"]
    assert select_functions(opts, tags=["team=a", "env=prod"]) == ["a2"]
    assert sorted(select_functions(opts, all_python=True)) == ["a1", "a2", "b1"]


def test_cli_attach_reports_partial_failures_without_aborting(
    aws: None, opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a Python function, a Node.js one and a missing name
    make_function(opts, "good")
    make_function(opts, "web", runtime="nodejs20.x")
    publish_sandbox(opts, tmp_path)
    # WHEN attaching all three through the CLI
    status = cli("attach", "web", "missing", "good", "--json")
    # THEN each gets its own outcome, the good one is attached, and the exit status says 1
    outcomes = {o["function"]: o for o in json.loads(capsys.readouterr().out)}
    assert status == 1
    assert outcomes["good"]["status"] == "changed"
    assert outcomes["web"]["status"] == "refused"
    assert (
        outcomes["missing"]["status"] == "error" and "not found" in outcomes["missing"]["message"]
    )
    assert env_of(opts, "good")["SANDBOX_MODE"] == "learn"


def test_cli_attach_all_without_a_published_layer_says_what_to_do(
    aws: None, opts: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function and no published sandbox layer
    make_function(opts, "f")
    # WHEN attaching
    status = cli("attach", "--all")
    # THEN the message names the layer and the command that publishes it
    assert status == 1
    assert "sandbox layer publish" in capsys.readouterr().err


def test_cli_layer_publish_per_runtime_and_idempotent(
    aws: None, opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a built layer zip
    zip_path = tmp_path / "layer.zip"
    zip_path.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    # WHEN published twice for all runtimes
    assert cli("layer", "publish", "--arch", "arm64", "--zip", str(zip_path), "--json") == 0
    first = json.loads(capsys.readouterr().out)
    assert cli("layer", "publish", "--arch", "arm64", "--zip", str(zip_path), "--json") == 0
    second = json.loads(capsys.readouterr().out)
    # THEN one layer per runtime with its runtime and arch; the second run publishes nothing
    assert [r["runtime"] for r in first] == [
        "python3.10",
        "python3.11",
        "python3.12",
        "python3.13",
        "python3.14",
    ]
    assert all(r["published"] for r in first) and not any(r["published"] for r in second)
    info = get_layer_version(opts, first[2]["arn"])
    assert info["CompatibleRuntimes"] == ["python3.12"]
    assert info["CompatibleArchitectures"] == ["arm64"]
    assert first[2]["arn"].split(":")[-2] == "lambda-sandbox-py312-arm64"


def test_enforce_publishes_profile_layer_and_rollback_returns(
    aws: None, opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function in learn mode and a finished profile
    make_function(opts, "orders")
    layer = publish_sandbox(opts, tmp_path)
    assert cli("attach", "orders") == 0
    profile = write_profile(tmp_path / "orders.json", "orders")
    cache = tmp_path / "cache"
    # WHEN enforced, enforced again (same profile), then with a changed profile
    assert cli("enforce", "orders", "--profile", str(profile), cache=cache) == 0
    after_first = layers_of(opts, "orders")
    assert cli("enforce", "orders", "--profile", str(profile), cache=cache) == 0
    write_profile(profile, "orders", aws_calls=("s3:PutObject:my-bucket",))
    assert cli("enforce", "orders", "--profile", str(profile), cache=cache) == 0
    after_third = layers_of(opts, "orders")
    env = env_of(opts, "orders")
    # THEN the profile layer (versioned, immutable) comes after the sandbox layer and the mode flips
    assert after_first[0] == layer and after_first[1].endswith(":layer:sandbox-profile-orders:1")
    assert after_third[1].endswith(":layer:sandbox-profile-orders:2")
    assert env["SANDBOX_MODE"] == "enforce"
    assert env["SANDBOX_PREVIOUS"] == "enforce@1,learn@-"
    # WHEN rolled back twice, then once more
    assert cli("rollback", "orders") == 0
    assert layers_of(opts, "orders")[1].endswith(":sandbox-profile-orders:1")
    assert env_of(opts, "orders")["SANDBOX_MODE"] == "enforce"
    assert cli("rollback", "orders") == 0
    capsys.readouterr()
    # THEN it is back at learn with no profile, and a third rollback has nowhere to go
    assert layers_of(opts, "orders") == [layer]
    assert env_of(opts, "orders")["SANDBOX_MODE"] == "learn"
    assert "SANDBOX_PREVIOUS" not in env_of(opts, "orders")
    assert cli("rollback", "orders") == 1
    assert "no earlier mode" in capsys.readouterr().err
    # AND detach removes everything the sandbox added
    assert cli("detach", "orders") == 0
    assert layers_of(opts, "orders") == [] and env_of(opts, "orders") == {}


def test_enforce_refuses_unfinished_learning_unless_forced(
    aws: None, opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a profile with a novel observation 3 invocations ago
    make_function(opts, "orders")
    publish_sandbox(opts, tmp_path)
    profile = write_profile(tmp_path / "p.json", "orders", done=False)
    # WHEN enforcing without and with --force, and alerting (no learning check)
    refused = cli("enforce", "orders", "--profile", str(profile), cache=tmp_path)
    err = capsys.readouterr().err
    forced = cli("enforce", "orders", "--profile", str(profile), "--force", cache=tmp_path)
    # THEN it is refused with the reason, nothing is published; --force goes through
    assert refused == 1 and "learning is not done" in err and "3 invocations" in err
    assert forced == 0 and env_of(opts, "orders")["SANDBOX_MODE"] == "enforce"
    assert cli("alert", "orders", "--profile", str(profile), cache=tmp_path) == 0
    assert env_of(opts, "orders")["SANDBOX_MODE"] == "alert"


def test_enforce_refuses_another_functions_profile(
    aws: None, opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the profile of another function
    make_function(opts, "orders")
    publish_sandbox(opts, tmp_path)
    profile = write_profile(tmp_path / "p.json", "billing")
    # WHEN enforcing it on orders
    status = cli("enforce", "orders", "--profile", str(profile), cache=tmp_path)
    # THEN it is refused and nothing changes
    assert status == 1 and "'billing'" in capsys.readouterr().err
    assert layers_of(opts, "orders") == []


def test_enforce_with_four_own_layers_is_refused_before_publishing(
    aws: None, opts: Any, tmp_path: Path
) -> None:
    # GIVEN a function with 4 layers of its own (room for the sandbox, not the profile too)
    make_function(opts, "crowded", layers=[other_layer(opts, f"d{i}") for i in range(4)])
    publish_sandbox(opts, tmp_path)
    profile = write_profile(tmp_path / "p.json", "crowded")
    # WHEN enforcing
    status = cli("enforce", "crowded", "--profile", str(profile), cache=tmp_path)
    # THEN refused; the function keeps its 4 layers and no profile layer was published
    assert status == 1 and len(layers_of(opts, "crowded")) == 4
    assert (
        opts.client("lambda").list_layer_versions(LayerName="sandbox-profile-crowded")[
            "LayerVersions"
        ]
        == []
    )


def test_plans_are_pure_and_rollback_history_is_bounded() -> None:
    # GIVEN a configuration as GetFunctionConfiguration returns it
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    sandbox_layer = "arn:aws:lambda:us-east-1:123456789012:layer:lambda-sandbox-py311-x86_64:1"
    cfg: dict[str, Any] = {
        "FunctionName": "f",
        "FunctionArn": arn,
        "Runtime": "python3.11",
        "Handler": "app.handler",
        "Layers": [],
        "Environment": {"Variables": {}},
    }
    # WHEN switching between profile versions many times
    for version in range(1, 15):
        profile = f"arn:aws:lambda:us-east-1:123456789012:layer:sandbox-profile-f:{version}"
        plan = plan_attach(cfg, sandbox_layer=sandbox_layer, mode="enforce", profile_layer=profile)
        cfg["Layers"] = [{"Arn": a} for a in plan.layers]
        cfg["Environment"] = {"Variables": dict(plan.env)}
    # THEN the history keeps the last 10 states and rollback pops the newest
    history = cfg["Environment"]["Variables"]["SANDBOX_PREVIOUS"].split(",")
    assert len(history) == 10 and history[0] == "enforce@13"
    back = plan_rollback(cfg)
    assert back.layers[-1].endswith(":sandbox-profile-f:13")
    assert back.env["SANDBOX_PREVIOUS"].startswith("enforce@12,")


def test_environment_that_cannot_be_read_is_not_overwritten() -> None:
    # GIVEN a KMS-encrypted environment the caller cannot decrypt
    cfg = {
        "FunctionName": "f",
        "Runtime": "python3.12",
        "Handler": "app.handler",
        "Environment": {"Error": {"ErrorCode": "AccessDeniedException", "Message": "kms"}},
    }
    # WHEN planning an attach THEN it is refused (writing would erase the variables)
    from sandbox.fleet.functions import Refused

    with pytest.raises(Refused, match="erase"):
        plan_attach(
            cfg,
            sandbox_layer="arn:aws:lambda:r:1:layer:lambda-sandbox-py312-x86_64:1",
            mode="learn",
        )


@pytest.mark.parametrize(
    ("learning", "done"),
    [
        ({"invocations": 0}, False),
        (
            {
                "invocations": 200,
                "invocations_since_novel": 99,
                "last_novel": "2020-01-01T00:00:00Z",
            },
            False,
        ),
        (
            {
                "invocations": 200,
                "invocations_since_novel": 100,
                "last_novel": "2020-01-01T00:00:00Z",
            },
            True,
        ),
        (
            {
                "invocations": 200,
                "invocations_since_novel": 150,
                "last_novel": "2999-01-01T00:00:00Z",
            },
            False,
        ),
        ({"invocations": 200, "invocations_since_novel": 150}, False),
    ],
)
def test_learning_status(learning: dict[str, Any], done: bool) -> None:
    # GIVEN learning states WHEN judged with N=100, T=24h THEN done only when both hold
    assert learning_status(learning)[0] is done
