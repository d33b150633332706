"""The SAM templates in iac/sam: cfn-lint clean, and transformed by the real SAM translator."""

from __future__ import annotations

import copy
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox.fleet.layers import ssm_parameter_name
from sandbox.layer import WRAPPER_NAME
from sandbox.profile.package import PROFILE_PATH, package_profile

cfnlint_api = pytest.importorskip("cfnlint.api")
sam_transform = pytest.importorskip("samtranslator.translator.transform")
sam_yaml = pytest.importorskip("samtranslator.yaml_helper")

REPO = Path(__file__).resolve().parents[2]
SAM = REPO / "iac" / "sam"
TEMPLATES = ("template.yaml", "globals.yaml", "alias.yaml")
WRAPPER = f"/opt/{WRAPPER_NAME}"


class NoManagedPolicies:
    """The translator's managed-policy loader; the templates name no managed policy."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's iac/, examples/ and profiles/, profiles packaged by the
    example's own Makefile (the build step a team runs)."""
    root = tmp_path_factory.mktemp("checkout")
    shutil.copytree(REPO / "iac", root / "iac")
    shutil.copytree(REPO / "examples", root / "examples")
    shutil.copytree(REPO / "profiles", root / "profiles", symlinks=False)
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(root / "iac" / "sam"),
            "profiles",
            f"SANDBOX={sys.executable} -m sandbox.cli",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return root


def digest(path: Path) -> str:
    """What `sam package` names an artefact by: the MD5 of a file, or of a folder's files."""
    md5 = hashlib.md5()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        md5.update(file.read_bytes())
    return md5.hexdigest()


def package(template: dict[str, Any], base: Path) -> dict[str, Any]:
    """Replace local CodeUri/ContentUri with S3 locations named by content, as `sam package` does.

    Every local path must exist relative to the template: the templates refer to real code
    and to the packaged profile.
    """
    out = copy.deepcopy(template)
    for resource in out["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                local = (base / props[key]).resolve()
                assert local.exists(), f"{key} {props[key]} does not exist"
                props[key] = f"s3://artifacts/{digest(local)}"
    return out


def transform(
    name: str, checkout: Path, params: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    base = checkout / "iac" / "sam"
    template = sam_yaml.yaml_parse((base / name).read_text())
    result: dict[str, Any] = sam_transform.transform(
        package(template, base), params, NoManagedPolicies()
    )
    return result


def functions(output: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical: resource["Properties"]
        for logical, resource in output["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }


def layer_named(output: dict[str, Any], layer_name: str) -> str:
    named: list[str] = [
        logical
        for logical, resource in output["Resources"].items()
        if resource["Type"] == "AWS::Lambda::LayerVersion"
        and resource["Properties"]["LayerName"] == layer_name
    ]
    (logical,) = named
    return logical


def resolve(value: Any, output: dict[str, Any], params: dict[str, str]) -> Any:
    """Ref to a parameter -> its value (given, else its Default); other values unchanged."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in output["Parameters"]:
        return params.get(value["Ref"], output["Parameters"][value["Ref"]].get("Default"))
    return value


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_pass_cfn_lint(name: str) -> None:
    # GIVEN an example template
    text = (SAM / name).read_text()
    # WHEN cfn-lint checks it (SAM transform included)
    matches = cfnlint_api.lint(text, regions=["us-east-1"])
    # THEN it reports nothing: no error, no warning, no informational match
    assert [str(m) for m in matches] == []


def test_example_function_gets_both_layers_the_wrapper_mode_and_profile(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the example template with the profile packaged by the build step
    # WHEN SAM transforms it
    out = transform("template.yaml", checkout, {}, monkeypatch)
    orders = functions(out)["Orders"]
    # THEN the function has the sandbox layer (by SSM name) and the orders profile layer
    profile_layer = layer_named(out, "sandbox-profile-orders")
    assert orders["Layers"] == [{"Ref": "SandboxLayerArn"}, {"Ref": profile_layer}]
    parameter = out["Parameters"]["SandboxLayerArn"]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == ssm_parameter_name("python3.12", "x86_64")
    # ... the profile layer holds the packaged zip of profiles/orders.json
    packaged = checkout / "iac" / "sam" / "build" / "orders-profile.zip"
    assert packaged.read_bytes() == package_profile(checkout / "profiles" / "orders.json").data
    assert out["Resources"][profile_layer]["Properties"]["Content"]["S3Key"] == digest(packaged)
    # ... and the three settings: wrapper, mode (a parameter, learn by default), profile path
    variables = orders["Environment"]["Variables"]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == WRAPPER
    assert variables["SANDBOX_MODE"] == {"Ref": "SandboxMode"}
    assert out["Parameters"]["SandboxMode"]["Default"] == "learn"
    assert variables["SANDBOX_PROFILE"] == PROFILE_PATH


def test_learn_to_enforce_is_one_parameter(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the example template deployed with SandboxMode=learn, then SandboxMode=enforce
    learn_params, enforce_params = {"SandboxMode": "learn"}, {"SandboxMode": "enforce"}
    learn = transform("template.yaml", checkout, learn_params, monkeypatch)
    enforce = transform("template.yaml", checkout, enforce_params, monkeypatch)
    # WHEN the function's mode is resolved as CloudFormation would
    modes = [
        resolve(functions(o)["Orders"]["Environment"]["Variables"]["SANDBOX_MODE"], o, p)
        for o, p in ((learn, learn_params), (enforce, enforce_params))
    ]
    # THEN the mode follows the parameter, and nothing else in the template changes
    assert modes == ["learn", "enforce"]
    assert learn["Resources"] == enforce["Resources"]
    assert learn["Parameters"]["SandboxMode"]["AllowedValues"] == [
        "off",
        "learn",
        "alert",
        "enforce",
    ]


def test_globals_put_the_sandbox_on_every_function(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the Globals template with three functions, one opted out
    # WHEN SAM transforms it
    out = transform("globals.yaml", checkout, {"SandboxMode": "enforce"}, monkeypatch)
    found = functions(out)
    # THEN each function has the sandbox layer first, then its own profile layer ...
    for logical, profile in (("Orders", "orders"), ("Vulnerable", "vulnerable")):
        props = found[logical]
        assert props["Layers"] == [
            {"Ref": "SandboxLayerArn"},
            {"Ref": layer_named(out, f"sandbox-profile-{profile}")},
        ]
        variables = props["Environment"]["Variables"]
        assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == WRAPPER
        assert variables["SANDBOX_MODE"] == {"Ref": "SandboxMode"}
        assert variables["SANDBOX_PROFILE"] == PROFILE_PATH
    # ... and the opted-out function's own SANDBOX_MODE wins over the Globals
    assert found["Legacy"]["Environment"]["Variables"]["SANDBOX_MODE"] == "off"


def version_of(output: dict[str, Any]) -> str:
    versions: list[str] = [
        logical
        for logical, resource in output["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Version"
    ]
    (logical,) = versions
    return logical


def test_alias_template_publishes_a_version_for_a_new_profile_or_mode_only(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the alias template, transformed as is, after repackaging the same profile, after a
    # profile change, and after the one-line mode change
    sam_dir = checkout / "iac" / "sam"
    first = transform("alias.yaml", checkout, {}, monkeypatch)
    repackaged = package_profile(checkout / "profiles" / "orders.json").data
    (sam_dir / "build" / "orders-profile.zip").write_bytes(repackaged)
    same = transform("alias.yaml", checkout, {}, monkeypatch)
    other = package_profile(checkout / "profiles" / "vulnerable.json").data
    (sam_dir / "build" / "orders-profile.zip").write_bytes(other)
    new_profile = transform("alias.yaml", checkout, {}, monkeypatch)
    (sam_dir / "build" / "orders-profile.zip").write_bytes(repackaged)
    text = (sam_dir / "alias.yaml").read_text()
    assert text.count("SANDBOX_MODE: learn") == 1
    (sam_dir / "alias.yaml").write_text(
        text.replace("SANDBOX_MODE: learn", "SANDBOX_MODE: enforce")
    )
    try:
        enforce = transform("alias.yaml", checkout, {}, monkeypatch)
    finally:
        (sam_dir / "alias.yaml").write_text(text)
    # WHEN the published versions (logical ids SAM derives from what changed) are compared
    versions = [version_of(o) for o in (first, same, new_profile, enforce)]
    # THEN an unchanged profile publishes nothing new; a new profile or mode publishes a version
    assert versions[0] == versions[1]
    assert len({versions[0], versions[2], versions[3]}) == 3
    # ... and `live` points at the version, rolled out by CodeDeploy with the errors alarm
    alias = next(r for r in enforce["Resources"].values() if r["Type"] == "AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [versions[3], "Version"]}
    assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["DeploymentGroupName"]
