"""``sandbox profile`` show, diff, check, status, compile: --json, diff --exit-code, exit codes."""

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


def test_json_forms_and_diff_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a profile and a newer one that adds a shell
    old = write(tmp_path / "old.json", NET)
    new = write(tmp_path / "new.json", {**NET, **SHELL}, since_novel=2)
    # WHEN each command prints JSON, and diff is asked for an exit code
    same = main(["profile", "diff", str(old), str(old), "--exit-code"])
    capsys.readouterr()
    differ = main(["profile", "diff", str(old), str(new), "--exit-code", "--json"])
    diff = json.loads(capsys.readouterr().out)
    assert main(["profile", "show", str(new), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    not_done = main(["profile", "status", str(new), "--json"])
    status = json.loads(capsys.readouterr().out)
    checked = main(["profile", "check", str(old), "--json"])
    issues = json.loads(capsys.readouterr().out)
    out = tmp_path / "compiled.json"
    assert main(["profile", "compile", str(old), "-o", str(out), "--json"]) == 0
    compiled = json.loads(capsys.readouterr().out)
    # THEN diff exits 0 when equal and 1 when not, and names the risky addition
    assert (same, differ) == (0, 1)
    assert diff["changed"] and [r["target"] for r in diff["added"]] == ["/bin/sh"]
    assert diff["added"][0]["risk"] == "shell" and diff["removed"] == []
    # AND show marks the same risk, status says not done (exit 1), check finds nothing (exit 0)
    assert shown["rules"]["processes"][0]["risk"] == "shell"
    assert not_done == 1 and status["done"] is False and status["invocations_since_novel"] == 2
    assert checked == 0 and issues == []
    assert compiled["out"] == str(out) and len(compiled["profile_sha256"]) == 64


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
