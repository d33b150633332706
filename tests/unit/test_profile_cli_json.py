"""``sandbox profile``: compile --json, diff --exit-code, and a missing file is an input error (2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.profile.cli import main


def write(path: Path, rules: dict[str, Any], *, since_novel: int = 300) -> Path:
    document = {
        "schema_version": 1,
        "function": "orders",
        "extends": ["python-runtime"],
        "rules": rules,
        "learning": {
            "invocations": 500,
            "invocations_since_novel": since_novel,
            "last_novel": "2020-01-01T00:00:00Z",
        },
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


NET = {"network": [{"action": "connect", "target": "api.example.com:443", "phase": "invoke"}]}
SHELL = {"processes": [{"action": "exec", "target": "/bin/sh", "phase": "invoke"}]}


def test_compile_json_and_diff_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a profile and a newer one that adds a shell
    old = write(tmp_path / "old.json", NET)
    new = write(tmp_path / "new.json", {**NET, **SHELL}, since_novel=2)
    out = tmp_path / "compiled.json"
    # WHEN the profiles are diffed with --exit-code and one is compiled with --json
    same = main(["profile", "diff", str(old), str(old), "--exit-code"])
    differ = main(["profile", "diff", str(old), str(new), "--exit-code"])
    capsys.readouterr()
    assert main(["profile", "compile", str(old), "-o", str(out), "--json"]) == 0
    compiled = json.loads(capsys.readouterr().out)
    # THEN diff exits 0 when equal and 1 when not; compile names what it wrote, as JSON
    assert (same, differ) == (0, 1)
    assert compiled["out"] == str(out) and out.is_file()
    assert compiled["profile_sha256"] == json.loads(out.read_text())["profile_sha256"]


def test_input_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN paths that do not exist
    missing = str(tmp_path / "nope.json")
    # WHEN show, diff, status and check are given them
    codes = [
        main(["profile", "show", missing]),
        main(["profile", "diff", missing, missing]),
        main(["profile", "status", missing]),
        main(["profile", "check", missing]),
    ]
    # THEN each is an input error, with a message
    assert codes == [2, 2, 2, 2]
    assert capsys.readouterr().err.count("error:") == 4
