"""The CDK aspect, synthesised with aws_cdk.assertions (needs the `cdk` extra and Node.js)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

# jsii prints a banner for Node releases it no longer supports; the synth works all the same.
for _what in ("END_OF_LIFE", "DEPRECATED", "UNTESTED"):
    os.environ.setdefault(f"JSII_SILENCE_WARNING_{_what}_NODE_VERSION", "18,20,22,24")

# `make test-iac` sets SANDBOX_REQUIRE_CDK: there a missing extra or Node.js fails, not skips.
if not os.environ.get("SANDBOX_REQUIRE_CDK"):
    if shutil.which("node") is None:
        pytest.skip("aws-cdk-lib needs Node.js", allow_module_level=True)
    pytest.importorskip("aws_cdk", reason="the cdk extra is not installed (make test-iac)")
import aws_cdk as cdk  # noqa: E402
from aws_cdk import assertions  # noqa: E402
from aws_cdk import aws_ecr as ecr  # noqa: E402
from aws_cdk import aws_lambda as lambda_  # noqa: E402

from sandbox.fleet.layers import ssm_parameter_name  # noqa: E402
from sandbox.iac.cdk import LambdaSandbox  # noqa: E402
from sandbox.layer import BOOTSTRAP_HANDLER  # noqa: E402
from sandbox.profile.package import PROFILE_PATH, package_profile  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"
WRAPPER = "/opt/sandbox-wrapper"


def example_template(mode: str | None) -> dict[str, Any]:
    """Synthesise iac/cdk/app.py's stack as `cdk synth [-c sandbox_mode=MODE]` would."""
    spec = importlib.util.spec_from_file_location(
        "cdk_example_app", REPO / "iac" / "cdk" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = cdk.App(context={"sandbox_mode": mode} if mode else {})
    stack = module.build(app)
    return dict(assertions.Template.from_stack(stack).to_json())


@pytest.fixture(scope="module")
def learn() -> dict[str, Any]:
    return example_template(None)


@pytest.fixture(scope="module")
def enforce() -> dict[str, Any]:
    return example_template("enforce")


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def function(template: dict[str, Any], prefix: str) -> dict[str, Any]:
    matching: list[dict[str, Any]] = [
        v["Properties"]
        for k, v in of_type(template, "AWS::Lambda::Function").items()
        if k.startswith(prefix)
    ]
    (props,) = matching
    return props


def variables(props: dict[str, Any]) -> dict[str, Any]:
    return dict(props.get("Environment", {}).get("Variables", {}))


def test_example_function_gets_sandbox_layer_profile_layer_and_settings(
    learn: dict[str, Any],
) -> None:
    # GIVEN the example app synthesised in its default mode
    orders = function(learn, "Orders")
    # WHEN its layers and environment are read
    (layer_id,) = of_type(learn, "AWS::Lambda::LayerVersion")
    layer = learn["Resources"][layer_id]
    sandbox_ref, profile_ref = orders["Layers"]
    # THEN the sandbox layer is the SSM parameter `sandbox layer publish` writes ...
    parameter = learn["Parameters"][sandbox_ref["Ref"]]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == ssm_parameter_name("python3.12", "x86_64")
    # ... the profile layer is profiles/orders.json packaged, its hash in the description, kept
    assert profile_ref == {"Ref": layer_id}
    sha = package_profile(PROFILES / "orders.json").profile_sha256
    assert layer["Properties"]["LayerName"] == "sandbox-profile-orders"
    assert sha in layer["Properties"]["Description"]
    assert layer["DeletionPolicy"] == layer["UpdateReplacePolicy"] == "Retain"
    # ... and the wrapper, the mode and the profile path are set, the function's own kept
    assert variables(orders) == {
        "ORDERS_TABLE": "orders",
        "AWS_LAMBDA_EXEC_WRAPPER": WRAPPER,
        "SANDBOX_MODE": "learn",
        "SANDBOX_PROFILE": PROFILE_PATH,
    }


def test_tagged_function_is_left_alone(learn: dict[str, Any]) -> None:
    # GIVEN the example's function tagged lambda-sandbox=off
    legacy = function(learn, "Legacy")
    # WHEN its configuration is read
    # THEN it has no layer and no sandbox setting
    assert "Layers" not in legacy
    assert not any(
        k.startswith("SANDBOX_") or k == "AWS_LAMBDA_EXEC_WRAPPER" for k in variables(legacy)
    )


def test_enforce_publishes_a_new_version_behind_the_alias_with_the_same_profile_asset(
    learn: dict[str, Any], enforce: dict[str, Any]
) -> None:
    # GIVEN the example synthesised in learn and with -c sandbox_mode=enforce
    # WHEN the versions, the alias and the profile layer's asset are compared
    (learn_version,) = of_type(learn, "AWS::Lambda::Version")
    (enforce_version,) = of_type(enforce, "AWS::Lambda::Version")
    (alias,) = of_type(enforce, "AWS::Lambda::Alias").values()
    learn_layer = next(iter(of_type(learn, "AWS::Lambda::LayerVersion").values()))
    enforce_layer = next(iter(of_type(enforce, "AWS::Lambda::LayerVersion").values()))
    # THEN the mode change is a new function version, `live` points at it, and the unchanged
    # profile is the same asset (no new layer version)
    assert variables(function(enforce, "Orders"))["SANDBOX_MODE"] == "enforce"
    assert learn_version != enforce_version
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [enforce_version, "Version"]}
    assert alias["Properties"]["Name"] == "live"
    assert learn_layer["Properties"]["Content"] == enforce_layer["Properties"]["Content"]


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Any]:
    """One stack of edge cases: other runtimes, an image, a tag override, a missing profile."""
    app = cdk.App()
    stack = cdk.Stack(app, "Cases")
    code = lambda_.Code.from_inline("def handler(event, context):\n    return event\n")
    lambda_.Function(stack, "Node", runtime=lambda_.Runtime.NODEJS_20_X, handler="i.h", code=code)
    repo = ecr.Repository.from_repository_name(stack, "Repo", "functions")
    lambda_.DockerImageFunction(stack, "Image", code=lambda_.DockerImageCode.from_ecr(repo))
    arm = lambda_.Function(
        stack,
        "Tagged",
        runtime=lambda_.Runtime.PYTHON_3_13,
        architecture=lambda_.Architecture.ARM_64,
        handler="app.handler",
        code=code,
    )
    cdk.Tags.of(arm).add("lambda-sandbox", "enforce")
    cdk.Tags.of(arm).add("lambda-sandbox:profile", "vulnerable")
    missing = lambda_.Function(
        stack, "NoProfile", runtime=lambda_.Runtime.PYTHON_3_12, handler="app.handler", code=code
    )
    cdk.Tags.of(missing).add("lambda-sandbox", "alert")
    cdk.Aspects.of(app).add(
        LambdaSandbox(mode="learn", profiles_dir=PROFILES, build_dir=tmp_path_factory.mktemp("b"))
    )
    template = dict(assertions.Template.from_stack(stack).to_json())
    return template, assertions.Annotations.from_stack(stack)


def test_only_python_zip_functions_are_changed(cases: tuple[dict[str, Any], Any]) -> None:
    # GIVEN a Node.js function and a container-image function in the scope
    template, annotations = cases
    # WHEN the stack is synthesised with the aspect
    node, image = function(template, "Node"), function(template, "Image")
    # THEN both are untouched, and the image function carries a warning saying what to do
    for props in (node, image):
        assert "Layers" not in props and "SANDBOX_MODE" not in variables(props)
    annotations.has_warning("/Cases/Image", assertions.Match.string_like_regexp("container image"))


def test_tags_choose_the_mode_and_the_profile(cases: tuple[dict[str, Any], Any]) -> None:
    # GIVEN an arm64 python3.13 function tagged lambda-sandbox=enforce and a profile name
    template, _ = cases
    # WHEN its configuration is read
    tagged = function(template, "Tagged")
    sandbox_ref = tagged["Layers"][0]["Ref"]
    # THEN the tag's mode wins over the aspect's, the named profile is used, and the sandbox
    # layer is the one for its runtime and architecture
    assert variables(tagged)["SANDBOX_MODE"] == "enforce"
    assert template["Parameters"][sandbox_ref]["Default"] == ssm_parameter_name(
        "python3.13", "arm64"
    )
    layers = of_type(template, "AWS::Lambda::LayerVersion").values()
    assert [layer["Properties"]["LayerName"] for layer in layers] == ["sandbox-profile-vulnerable"]


def test_alert_without_a_profile_is_a_synth_error(cases: tuple[dict[str, Any], Any]) -> None:
    # GIVEN a function tagged lambda-sandbox=alert with no profile in profiles/
    template, annotations = cases
    # WHEN the stack is synthesised
    # THEN an error names the cause, and the function was not half-attached
    annotations.has_error(
        "/Cases/NoProfile", assertions.Match.string_like_regexp("alert needs a profile")
    )
    assert "Layers" not in function(template, "NoProfile")


def test_redirect_handler_and_a_mode_parameter() -> None:
    # GIVEN a stack whose mode is a CloudFormation parameter and whose functions need the
    # handler redirection (another tool owns AWS_LAMBDA_EXEC_WRAPPER), with a fixed layer ARN
    app = cdk.App()
    stack = cdk.Stack(app, "Redirect")
    mode = cdk.CfnParameter(
        stack, "SandboxMode", default="learn", allowed_values=["learn", "enforce"]
    )
    lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="app.handler",
        code=lambda_.Code.from_inline("def handler(e, c):\n    return e\n"),
        environment={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-instrument"},
    )
    arn = "arn:aws:lambda:us-east-1:111122223333:layer:lambda-sandbox-py312-x86_64:7"
    cdk.Aspects.of(app).add(
        LambdaSandbox(mode=mode.value_as_string, sandbox_layer_arn=arn, redirect_handler=True)
    )
    # WHEN it is synthesised
    props = function(dict(assertions.Template.from_stack(stack).to_json()), "Fn")
    # THEN the handler is the sandbox's, the original kept, the other tool's wrapper untouched,
    # and the mode follows the parameter
    assert props["Handler"] == BOOTSTRAP_HANDLER
    assert props["Layers"] == [arn]
    assert variables(props) == {
        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-instrument",
        "SANDBOX_MODE": {"Ref": "SandboxMode"},
        "SANDBOX_ORIGINAL_HANDLER": "app.handler",
    }


def test_bad_mode_is_refused_at_once() -> None:
    # GIVEN a mode that is not one of the four
    # WHEN the aspect is made
    # THEN it raises, naming the valid modes
    from sandbox.errors import SandboxError

    with pytest.raises(SandboxError, match="off, learn, alert, enforce"):
        LambdaSandbox(mode="block")
