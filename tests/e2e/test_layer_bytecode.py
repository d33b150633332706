"""The built layer, bytecode and all, runs a function under the real runtime in learn and enforce."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from sandbox.local.runner import run_function
from sandbox.profile.build import build_profile

pytestmark = pytest.mark.e2e


def fingerprint(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a digest of its bytes."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_built_layer_with_bytecode_learns_then_enforces(
    extracted_layer: Path, code_dir: Path, tmp_path: Path
) -> None:
    # GIVEN a copy of the built layer extracted as Lambda does, its bytecode included
    layer = tmp_path / "opt"
    shutil.copytree(extracted_layer, layer, symlinks=True)
    assert list((layer / "python").rglob("__pycache__/*.pyc"))
    before = fingerprint(layer)
    event = [json.dumps({"n": 1}).encode()]
    # WHEN the function runs from it in learn mode, then in enforce mode on what was learned
    # (the import system may write bytecode: nothing stops it from replacing a .pyc it cannot
    # use)
    log = tmp_path / "learn.log"
    learned = run_function("app.handler", event, code_dir=code_dir, mode="learn", layer=layer,
                           log_file=log)  # fmt: skip
    profile, _ = build_profile("sandbox-local", [str(log)], warn=lambda message: None)
    compiled = tmp_path / "compiled.json"
    compiled.write_text(json.dumps(profile.compile()))
    enforced = run_function(
        "app.handler", event, code_dir=code_dir, mode="enforce", layer=layer, profile=compiled
    )
    # THEN both runs answer the function's own result
    for result in (learned, enforced):
        assert result.ok, [r.payload for r in result.results] + result.log
        assert result.results[0].json()["count"] == 1
    start = next(
        json.loads(line[line.find("{") :]) for line in enforced.log if '"sandbox.start"' in line
    )
    assert start["mode"] == "enforce"
    # AND the layer is as shipped: every .pyc this interpreter loaded was one it accepts (a
    # stale or foreign one is recompiled and rewritten by the import system)
    assert fingerprint(layer) == before
