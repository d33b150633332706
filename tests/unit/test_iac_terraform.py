"""The Terraform module and example in iac/terraform: formatted, and their structure parsed.

Providers cannot be downloaded here, so ``terraform validate``/``plan`` cannot run; the files are
parsed with python-hcl2 and checked against what the tool writes (SSM names, manifest fields).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox.fleet.layers import PROFILE_LAYER_PREFIX, SSM_PREFIX, ssm_parameter_name
from sandbox.layer import BOOTSTRAP_HANDLER, WRAPPER_NAME
from sandbox.profile.package import PROFILE_PATH, package_profile

hcl2 = pytest.importorskip("hcl2")

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "iac" / "terraform"
MODULE = TERRAFORM / "modules" / "lambda-sandbox"
EXAMPLE = TERRAFORM / "examples" / "orders"


def clean(value: Any) -> Any:
    """python-hcl2's tree without its markers, string literals unquoted."""
    if isinstance(value, dict):
        return {
            clean(k): clean(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__")
        }
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse(directory: Path) -> dict[str, Any]:
    """All .tf files of a directory, merged by block type."""
    merged: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            for key, blocks in clean(hcl2.load(handle)).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


def named(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {name: body for block in blocks for name, body in block.items()}


def resources(tree: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        name: body
        for block in tree.get("resource", [])
        for rtype, items in block.items()
        if rtype == kind
        for name, body in items.items()
    }


def test_terraform_fmt_check_passes() -> None:
    # GIVEN the terraform binary (on the project's machines; skipped where it is not)
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("terraform is not installed")
    # WHEN `terraform fmt -check` runs over the module and the example
    result = subprocess.run(
        [binary, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        check=False,
    )
    # THEN every file is formatted
    assert result.returncode == 0, result.stdout + result.stderr


def test_module_takes_function_name_mode_and_profile_package() -> None:
    # GIVEN the module
    variables = named(parse(MODULE)["variable"])
    # WHEN its inputs are read
    mode = variables["mode"]
    # THEN function name is required, mode defaults to learn and is validated, the profile
    # package is optional (a new function learns without one)
    assert "default" not in variables["function_name"]
    assert mode["default"] == "learn"
    condition = mode["validation"][0]["condition"]
    assert all(f'"{m}"' in condition for m in ("off", "learn", "alert", "enforce"))
    assert variables["profile_package"]["default"] is None
    assert variables["ssm_prefix"]["default"] == SSM_PREFIX


def test_module_resolves_the_sandbox_layer_by_the_published_ssm_name() -> None:
    # GIVEN the module's SSM data source
    tree = parse(MODULE)
    (block,) = tree["data"]
    name = block["aws_ssm_parameter"]["sandbox_layer"]["name"]
    # WHEN its name template is filled with the module's defaults
    defaults = {k: v.get("default") for k, v in named(tree["variable"]).items()}
    filled = re.sub(r"\$\{var\.(\w+)\}", lambda m: str(defaults[m.group(1)]), name)
    # THEN it is the parameter `sandbox layer publish` writes
    assert filled == ssm_parameter_name(defaults["runtime"], defaults["architecture"])


def test_module_publishes_the_packaged_profile_and_keeps_old_versions(tmp_path: Path) -> None:
    # GIVEN the module's profile layer, and the profile packaged by the example's build step
    tree = parse(MODULE)
    layer = resources(tree, "aws_lambda_layer_version")["profile"]
    shutil.copytree(REPO / "iac", tmp_path / "iac")
    shutil.copytree(REPO / "profiles", tmp_path / "profiles", symlinks=False)
    example = tmp_path / "iac" / "terraform" / "examples" / "orders"
    subprocess.run(
        ["make", "-s", "-C", str(example), "profiles", f"SANDBOX={sys.executable} -m sandbox.cli"],
        check=True,
        capture_output=True,
    )
    out = example / "build" / "orders-profile.zip"
    manifest_text = (example / "build" / "orders-profile.json").read_text()
    # WHEN the fields the module reads from the manifest are listed
    locals_ = {k: v for block in tree["locals"] for k, v in block.items()}
    used = set(re.findall(r"local\.manifest\.(\w+)", str(tree)))
    # THEN each exists in the manifest, the zip is found beside it, and the layer is named,
    # described, hashed and kept as the tool expects
    assert used and all(f'"{field}"' in manifest_text for field in used)
    assert "dirname(var.profile_package)" in locals_["profile_zip"]
    assert "local.manifest.zip" in locals_["profile_zip"]
    assert layer["layer_name"] == PROFILE_LAYER_PREFIX + "${var.function_name}"
    assert layer["description"] == "${local.manifest.description}"
    assert layer["source_code_hash"] == "${filebase64sha256(local.profile_zip)}"
    assert layer["skip_destroy"] is True
    assert package_profile(REPO / "profiles" / "orders.json").data == out.read_bytes()
    assert '"zip": "orders-profile.zip"' in manifest_text


def test_module_outputs_the_layers_environment_and_handler() -> None:
    # GIVEN the module's outputs and locals
    tree = parse(MODULE)
    outputs = named(tree["output"])
    locals_ = {k: v for block in tree["locals"] for k, v in block.items()}
    # WHEN the environment it hands to the function is read
    environment = locals_["sandbox_environment"]
    # THEN the three settings are there (wrapper, mode, profile path), or the redirect
    assert "AWS_LAMBDA_EXEC_WRAPPER = local.wrapper" in environment
    assert "SANDBOX_MODE = var.mode" in environment
    assert "SANDBOX_PROFILE = local.profile_path" in environment
    assert "SANDBOX_ORIGINAL_HANDLER = var.handler" in environment
    assert locals_["wrapper"] == f"/opt/{WRAPPER_NAME}"
    assert locals_["profile_path"] == PROFILE_PATH
    assert locals_["bootstrap_handler"] == BOOTSTRAP_HANDLER
    # ... layers: the sandbox layer, then the profile layer; alert/enforce need a profile
    assert (
        outputs["layers"]["value"] == "${concat([local.sandbox_layer_arn], local.profile_layers)}"
    )
    conditions = [p["condition"] for p in outputs["environment"]["precondition"]]
    assert any("var.profile_package != null" in c for c in conditions)
    assert set(outputs) >= {"layers", "environment", "handler", "profile_layer_arn"}


def test_example_wires_the_module_into_a_published_function_behind_an_alias() -> None:
    # GIVEN the example root module
    tree = parse(EXAMPLE)
    (call,) = tree["module"]
    sandbox = call["sandbox"]
    function = resources(tree, "aws_lambda_function")["orders"]
    alias = resources(tree, "aws_lambda_alias")["live"]
    # WHEN its wiring is read
    source = (EXAMPLE / sandbox["source"]).resolve()
    # THEN the module is the repository's, fed the mode variable and the packaged profile ...
    assert source == MODULE.resolve()
    assert sandbox["mode"] == "${var.sandbox_mode}"
    assert sandbox["profile_package"].endswith("/build/orders-profile.json")
    # ... the function takes the module's layers and merges its environment, publishes versions
    assert function["layers"] == "${module.sandbox.layers}"
    (environment,) = function["environment"]
    assert "module.sandbox.environment" in environment["variables"]
    assert function["publish"] is True
    # ... and `live` follows the published version
    assert alias["function_version"] == "${aws_lambda_function.orders.version}"
    # ... and the example's build step writes the manifest the module reads
    makefile = (EXAMPLE / "Makefile").read_text()
    assert "profile package" in makefile and "--manifest $(BUILD)/$*-profile.json" in makefile
