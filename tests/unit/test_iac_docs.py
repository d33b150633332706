"""docs/DEPLOY.md cannot rot: each snippet is in the file it names, each `sandbox` line parses,
and the Serverless and container examples agree with what the tool writes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from sandbox.cli import build_parser
from sandbox.fleet.layers import PROFILE_LAYER_PREFIX, ssm_parameter_name
from sandbox.layer import BOOTSTRAP_HANDLER, WRAPPER_NAME
from sandbox.profile.package import PROFILE_PATH

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "docs" / "DEPLOY.md"
FENCE = re.compile(r"(?:<!-- from: (?P<source>\S+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)


def blocks() -> list[tuple[str | None, str, str]]:
    """``(source file or None, language, body)`` of every fenced block of DEPLOY.md."""
    return [(m["source"], m["lang"], m["body"]) for m in FENCE.finditer(DEPLOY.read_text())]


def sandbox_lines() -> list[str]:
    return [
        line.strip()
        for _, lang, body in blocks()
        if lang == "sh"
        for line in body.splitlines()
        if line.strip().startswith("sandbox ")
    ]


def test_every_code_snippet_is_copied_from_the_file_it_names() -> None:
    # GIVEN the fenced blocks of the deployment guide
    found = blocks()
    # WHEN the non-shell ones are compared with their source files
    snippets = [(source, body) for source, lang, body in found if lang != "sh"]
    # THEN each names its file, and its text is in that file verbatim
    assert len(snippets) >= 10
    for source, body in snippets:
        assert source is not None, f"snippet without a source file:\n{body}"
        assert body in (REPO / source).read_text(), f"snippet not in {source}:\n{body}"


@pytest.mark.parametrize("line", sandbox_lines())
def test_every_sandbox_command_in_the_guide_parses(line: str) -> None:
    # GIVEN a `sandbox ...` command line from the guide
    argv = shlex.split(line)[1:]
    # WHEN the real command-line parser reads it
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse's way to reject a command line
        pytest.fail(f"{line!r} does not parse (exit {exc.code})")
    # THEN it names a command
    assert callable(getattr(args, "func", None))


def test_guide_names_existing_files_and_the_real_ssm_names() -> None:
    # GIVEN the guide's text
    text = DEPLOY.read_text()
    # WHEN the repository paths and SSM names it mentions are collected
    paths = set(re.findall(r"`(iac/[^`\s]+)`", text))
    # THEN each path exists and the SSM examples are the names the publish step writes
    assert paths and all((REPO / p).exists() for p in paths), paths
    assert f"`{ssm_parameter_name('python3.12', 'x86_64')}`" in text
    assert "(FLEET.md)" in text and (REPO / "docs" / "FLEET.md").exists()


def test_serverless_example_matches_the_tool() -> None:
    # GIVEN the Serverless Framework example
    path = REPO / "iac" / "serverless" / "serverless.yml"
    config = yaml.safe_load(path.read_text())
    # WHEN its settings, layers and packaging comment are read
    environment = config["provider"]["environment"]
    (layer_key, layer) = next(iter(config["layers"].items()))
    sandbox_layer, profile_layer = config["functions"]["orders"]["layers"]
    (command,) = [
        line.removeprefix("#").strip()
        for line in path.read_text().splitlines()
        if line.startswith("#") and "sandbox profile package" in line
    ]
    # THEN the three settings are the runtime's, the sandbox layer is the SSM name publish
    # writes, and the profile layer is the zip the comment's command packages
    assert environment["AWS_LAMBDA_EXEC_WRAPPER"] == f"/opt/{WRAPPER_NAME}"
    assert environment["SANDBOX_PROFILE"] == PROFILE_PATH
    assert environment["SANDBOX_MODE"] == "${param:sandboxMode}"
    assert config["params"]["default"]["sandboxMode"] == "learn"
    assert sandbox_layer == "${{ssm:{}}}".format(ssm_parameter_name("python3.12", "x86_64"))
    assert layer["name"] == f"{PROFILE_LAYER_PREFIX}orders" and layer["retain"] is True
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.out == layer["package"]["artifact"]
    # ... referenced by the logical id the framework gives a layer (key capitalised + LambdaLayer)
    assert profile_layer == {"Ref": layer_key[0].upper() + layer_key[1:] + "LambdaLayer"}


def test_container_example_uses_the_redirect_and_the_packaged_files() -> None:
    # GIVEN the container-image Dockerfile
    text = (REPO / "iac" / "container" / "Dockerfile").read_text()
    instructions = [line for line in text.splitlines() if line and not line.startswith(("#", " "))]
    # WHEN its CMD, ENV and COPY instructions are read
    (cmd,) = [line for line in instructions if line.startswith("CMD ")]
    env = dict(re.findall(r"(SANDBOX_\w+)=(\S+)", text))
    copies = [line.split()[1:] for line in instructions if line.startswith("COPY ")]
    # THEN the image starts the sandbox's bootstrap, which finds the function's handler and the
    # profile where the package step and the runtime put them
    assert cmd == f'CMD ["{BOOTSTRAP_HANDLER}"]'
    assert env["SANDBOX_PROFILE"] == PROFILE_PATH
    module, function = env["SANDBOX_ORIGINAL_HANDLER"].split(".")
    app = [src for src, _ in copies if src.endswith(f"/{module}.py")]
    assert app and f"def {function}(" in (REPO / app[0]).read_text()
    assert ["build/image/sandbox-layer/python/", "${LAMBDA_TASK_ROOT}/"] in copies
    assert ["build/image/orders-profile/", "/opt/"] in copies
