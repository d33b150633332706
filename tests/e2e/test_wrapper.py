"""The layer's exec wrapper script, run for real with a stub runtime command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox.layer import BOOTSTRAP_HANDLER
from sandbox.local.runner import default_wrapper

pytestmark = pytest.mark.e2e

SANDBOX_HANDLER = BOOTSTRAP_HANDLER
# The "runtime command": prints what it received, as awslambdaric would see it.
SHOW = (
    "import json, os, sys; print(json.dumps({'argv': sys.argv[1:], "
    "'handler': os.environ.get('_HANDLER'), "
    "'original': os.environ.get('SANDBOX_ORIGINAL_HANDLER'), "
    "'pythonpath': os.environ.get('PYTHONPATH')}))"
)
SHELLS = [s for s in ("dash", "bash") if shutil.which(s)]


def run_wrapper(
    wrapper: Path,
    *args: str,
    env: dict[str, str],
    prefix: tuple[str, ...] = (),
    cwd: Path | None = None,
) -> dict[str, Any]:
    """Run ``prefix + wrapper + [python -c SHOW] + args`` and return what the runtime saw."""
    full_env = {"PATH": os.environ["PATH"], **env}
    cmd = [*prefix, str(wrapper), sys.executable, "-c", SHOW, *args]
    out = subprocess.run(cmd, env=full_env, capture_output=True, text=True, check=True, cwd=cwd)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_wrapper_is_executable_posix_sh() -> None:
    # GIVEN the wrapper in the source tree
    wrapper = default_wrapper()
    # WHEN inspecting it
    first_line = wrapper.read_text().splitlines()[0]
    # THEN it is a /bin/sh script with mode 0755 that parses under a strict POSIX shell
    assert first_line == "#!/bin/sh"
    assert wrapper.stat().st_mode & 0o777 == 0o755
    if shutil.which("dash"):
        subprocess.run(["dash", "-n", str(wrapper)], check=True)


@pytest.mark.parametrize("mode", [None, "", "off", "OFF", "Off"])
def test_mode_off_passes_everything_through_untouched(mode: str | None) -> None:
    # GIVEN SANDBOX_MODE unset, empty or off, and a handler with a preset PYTHONPATH
    env = {"_HANDLER": "app.handler", "PYTHONPATH": "/var/task/vendor"}
    if mode is not None:
        env["SANDBOX_MODE"] = mode
    # WHEN the wrapper runs the runtime command
    seen = run_wrapper(default_wrapper(), "a b", "app.handler", env=env)
    # THEN argv, handler and PYTHONPATH are exactly what Lambda passed
    assert seen == {
        "argv": ["a b", "app.handler"],
        "handler": "app.handler",
        "original": None,
        "pythonpath": "/var/task/vendor",
    }


@pytest.mark.parametrize("shell", SHELLS)
def test_mode_on_redirects_handler_env_and_argv(shell: str) -> None:
    # GIVEN learn mode, a handler, and args with spaces, an empty arg and a glob character
    env = {"_HANDLER": "app.handler", "SANDBOX_MODE": "learn"}
    # WHEN the wrapper runs under a POSIX shell
    seen = run_wrapper(
        default_wrapper(), "  two  spaces ", "", "*", "app.handler", env=env, prefix=(shell,)
    )
    # THEN the handler points at the sandbox, the original is kept, other args are intact
    assert seen["handler"] == SANDBOX_HANDLER
    assert seen["original"] == "app.handler"
    assert seen["argv"] == ["  two  spaces ", "", "*", SANDBOX_HANDLER]
    # AND the layer's python/ dir (next to the wrapper) is importable
    assert seen["pythonpath"] == str(default_wrapper().parent / "python")


def test_preset_pythonpath_is_kept_first_and_layer_appended() -> None:
    # GIVEN a function that sets its own PYTHONPATH
    env = {"_HANDLER": "app.handler", "SANDBOX_MODE": "enforce", "PYTHONPATH": "/a b:/c"}
    # WHEN the wrapper runs
    seen = run_wrapper(default_wrapper(), "app.handler", env=env)
    # THEN the function's entries keep precedence and the layer dir comes last
    assert seen["pythonpath"] == f"/a b:/c:{default_wrapper().parent / 'python'}"


def test_attached_twice_is_idempotent() -> None:
    # GIVEN the wrapper chained through itself (the layer attached twice)
    wrapper = default_wrapper()
    env = {"_HANDLER": "app.handler", "SANDBOX_MODE": "alert", "PYTHONPATH": "/x"}
    # WHEN it runs
    seen = run_wrapper(wrapper, "app.handler", env=env, prefix=(str(wrapper),))
    # THEN the original handler survives and nothing is added twice
    assert seen["original"] == "app.handler"
    assert seen["handler"] == SANDBOX_HANDLER
    assert seen["argv"] == [SANDBOX_HANDLER]
    assert seen["pythonpath"] == f"/x:{wrapper.parent / 'python'}"


def test_handler_already_sandbox_keeps_configured_original() -> None:
    # GIVEN a function configured with the sandbox handler directly
    env = {
        "_HANDLER": SANDBOX_HANDLER,
        "SANDBOX_ORIGINAL_HANDLER": "app.handler",
        "SANDBOX_MODE": "learn",
    }
    # WHEN the wrapper runs
    seen = run_wrapper(default_wrapper(), SANDBOX_HANDLER, env=env)
    # THEN the configured original handler is not overwritten
    assert seen["original"] == "app.handler"
    assert seen["argv"] == [SANDBOX_HANDLER]


def test_relative_invocation_gives_absolute_layer_path(tmp_path: Path) -> None:
    # GIVEN a copy of the wrapper in a layer dir, invoked by a relative path
    layer = tmp_path / "opt"
    layer.mkdir()
    shutil.copy2(default_wrapper(), layer / "sandbox-wrapper")
    env = {"_HANDLER": "app.handler", "SANDBOX_MODE": "learn"}
    # WHEN it runs from the layer's parent directory
    seen = run_wrapper(Path("opt/sandbox-wrapper"), "app.handler", env=env, cwd=tmp_path)
    # THEN PYTHONPATH holds the absolute path of the layer's python/ dir
    assert seen["pythonpath"] == str(layer / "python")
