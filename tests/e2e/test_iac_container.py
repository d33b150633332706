"""The container-image recipe of iac/container/Dockerfile, replayed without Docker: the image's
files laid out as its COPY lines say, run under the real awslambdaric with the image's CMD and
ENV (no exec wrapper: an image's runtime need not honour one), through learn, profile, enforce."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from sandbox.layer import stage_layer
from sandbox.local.runner import RunResult, run_function
from sandbox.profile.cli import main as profile_main
from sandbox.profile.package import package_profile, write_package

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "iac" / "container" / "Dockerfile"
# The function's own code, in place of the example's (which needs its services).
APP = """\
def handler(event, context):
    if "read" in event:
        with open(event["read"]) as handle:
            return {"read": len(handle.read())}
    return {"ok": True}
"""


def instructions() -> tuple[list[tuple[str, str]], dict[str, str], str]:
    """The Dockerfile's COPY (source, destination) pairs, ENV and CMD handler."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    copies = [tuple(line.split()[1:3]) for line in lines if line.startswith("COPY ")]
    env = dict(
        re.findall(r"(\w+)=(\S+)", " ".join(line for line in lines if line.startswith("ENV ")))
    )
    (cmd,) = [json.loads(line.removeprefix("CMD "))[0] for line in lines if line.startswith("CMD ")]
    return [(str(s), str(d)) for s, d in copies], env, cmd


def build_image(context: Path, image: Path) -> None:
    """Replay the COPY lines: the build context's files into the image root."""
    if image.exists():
        shutil.rmtree(image)
    copies, _, _ = instructions()
    for source, dest in copies:
        target = image / dest.replace("${LAMBDA_TASK_ROOT}", "var/task").lstrip("/")
        origin = context / source
        if origin.is_dir():
            shutil.copytree(origin, target, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(origin, target / origin.name)


def run(image: Path, tmp_path: Path, mode: str, *events: dict[str, str]) -> RunResult:
    _, env, cmd = instructions()
    passthrough = tmp_path / "no-wrapper"
    passthrough.write_text('#!/bin/sh\nexec "$@"\n')
    passthrough.chmod(0o755)
    opt = image / "opt"
    env = {**env, "SANDBOX_MODE": mode}
    env["SANDBOX_PROFILE"] = str(opt / env["SANDBOX_PROFILE"].removeprefix("/opt/"))
    return run_function(
        cmd,
        [json.dumps(e).encode() for e in events],
        code_dir=image / "var" / "task",
        mode=mode,
        layer=opt,
        wrapper=passthrough,
        env=env,
        function_name="image",
        log_file=tmp_path / f"{mode}.log",
    )


def test_image_learns_then_enforces_its_profile(tmp_path: Path) -> None:
    # GIVEN the build context as the guide prepares it: the layer's files, a first minimal
    # profile packaged as a directory, and the function's code
    context, image = tmp_path / "context", tmp_path / "image"
    stage_layer(context / "build" / "image" / "sandbox-layer")
    app = context / "examples" / "orders" / "app.py"
    app.parent.mkdir(parents=True)
    app.write_text(APP)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copytree(REPO / "profiles" / "base", profiles / "base")
    minimal = {"schema_version": 1, "function": "image", "extends": ["python-runtime"]}
    (profiles / "image.json").write_text(json.dumps(minimal))
    write_package(package_profile(profiles / "image.json"), context / "build/image/orders-profile")
    build_image(context, image)
    task_file = image / "var" / "task" / "data.txt"
    task_file.write_text("benign")
    benign = {"read": str(task_file)}

    # WHEN the image runs in learn, the profile is built from its log and packaged into the
    # image, and the image runs again in enforce with a benign and a malicious event
    learned = run(image, tmp_path, "learn", benign)
    assert (
        profile_main(
            [
                "profile",
                "build",
                "--function",
                "image",
                "--from",
                str(tmp_path / "learn.log"),
                "--out",
                str(profiles / "image.json"),
            ]
        )
        == 0
    )
    shutil.rmtree(context / "build" / "image" / "orders-profile")
    write_package(package_profile(profiles / "image.json"), context / "build/image/orders-profile")
    build_image(context, image)
    task_file.write_text("benign")
    enforced = run(image, tmp_path, "enforce", benign, {"read": "/etc/passwd"})

    # THEN learn ran the function and recorded it; enforce lets the benign event through and
    # blocks the read outside the profile, naming the file
    assert learned.ok, learned.log
    assert '"sandbox.observation"' in (tmp_path / "learn.log").read_text()
    first, attack = enforced.results
    assert first.json() == {"read": len("benign")}
    assert attack.error_type == "PermissionViolation"
    assert "blocked files read '/etc/passwd'" in json.loads(attack.payload)["errorMessage"]
