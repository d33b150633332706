"""diff (risk marks), show, check (lint), status (evidence), compile, schema, and the CLI wiring."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest

from sandbox.profile.cli import add_profile_parser
from sandbox.profile.diff import (
    check_profile,
    diff_profiles,
    learning_status,
    parse_duration,
    show_profile,
)
from sandbox.profile.model import Coverage, Learning, Profile, Rule


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sandbox")
    add_profile_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_diff_groups_by_category_and_marks_risk() -> None:
    old = Profile(function="f", rules={"files": [Rule(action="read", target="{task}/old")]})
    new = Profile(
        function="f",
        extends=["aws-sdk"],
        rules={
            "files": [
                Rule(action="write", target="{tmp}/out/*"),
                Rule(
                    action="write",
                    target="{task}/cache.db",
                    coverage=Coverage(count=3, environments=["e"]),
                ),
                Rule(action="read", target="/proc/*/status"),
            ],
            "network": [
                Rule(action="connect", target="10.1.2.3:5432"),
                Rule(action="connect", target="api.example.com:443"),
            ],
            "processes": [Rule(action="exec", target="/usr/bin/convert")],
            "modules": [Rule(action="import", target="ctypes")],
            "code": [Rule(action="compile", target="{task}/app.py:handler")],
        },
    )
    text = "\n".join(diff_profiles(old, new))
    assert "  + extends aws-sdk" in text
    assert "  - read {task}/old (any)" in text
    assert "  + write {tmp}/out/* (any)" in text  # writes in {tmp}: no mark
    assert "! + write {task}/cache.db (any)  seen 3x in 1 env    [write under {task}]" in text
    assert "[/proc]" in text and "[raw IP host]" in text and "[exec]" in text
    assert "[native code (ctypes)]" in text and "[code compile]" in text
    assert "  + connect api.example.com:443 (any)" in text
    assert text.index("code:") < text.index("files:") < text.index("network:")
    assert diff_profiles(old, old)[-1] == "(no changes)"


def test_show_lists_rules_and_learning() -> None:
    text = show_profile(
        Profile(function="f", rules={"processes": [Rule(action="exec", target="/bin/sh")]})
    )
    assert "processes: 1 rule(s)" in text and "! exec /bin/sh (any)" in text and "learning:" in text


def _save(path: Path, profile: Profile) -> str:
    profile.save(path)
    return str(path)


def test_check_names_file_rule_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _save(
        tmp_path / "good.json",
        Profile(function="f", rules={"files": [Rule(action="write", target="{tmp}/**")]}),
    )
    bad = _save(
        tmp_path / "bad.json",
        Profile(
            function="f",
            rules={
                "files": [
                    Rule(action="read", target="/**"),
                    Rule(action="read", target="/proc/1/environ"),
                    Rule(action="read", target="/proc/*/*"),
                ],
                "network": [
                    Rule(action="connect", target="*:*"),
                    Rule(action="connect", target="*.*:443"),
                ],
                "modules": [Rule(action="import", target="**")],
            },
        ),
    )
    assert check_profile(good) == []
    issues = [str(i) for i in check_profile(bad)]
    assert any("rules.files[0] read /**: error: over-broad glob" in i for i in issues)
    assert any("/proc/1/environ: error: the ceiling denies" in i for i in issues)
    assert any("/proc/*/*: warning: overlaps the ceiling" in i for i in issues)
    assert any("connect *:*: error: over-broad" in i for i in issues)
    assert any("connect *.*:443: error: over-broad" in i for i in issues)
    assert any("import **: error" in i for i in issues)
    assert all(i.startswith(bad) for i in issues)
    # AND the command exits non-zero on errors, zero when clean
    assert run(["profile", "check", good]) == 0
    assert run(["profile", "check", good, bad]) == 1
    # AND an invalid file names the field
    (tmp_path / "invalid.json").write_text(
        '{"schema_version": 1, "function": "f", "rules": {"files": [{"action": "fly", "target": "/x"}]}}'
    )
    assert run(["profile", "check", str(tmp_path / "invalid.json")]) == 1
    assert "invalid.json" in capsys.readouterr().out


def test_status_needs_quiet_invocations_and_time() -> None:
    now = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    learning = Learning(
        invocations=500,
        environments=["a", "b"],
        last_novel="2026-01-01T00:00:00Z",
        invocations_since_novel=150,
    )
    done, lines = learning_status(
        Profile(function="f", learning=learning), invocations=100, quiet_for=3600, now=now
    )
    assert (
        done
        and "learning done" in lines[0]
        and any("quiet invocations: 150 (need 100) ok" in ln for ln in lines)
    )
    done, lines = learning_status(
        Profile(function="f", learning=learning), invocations=200, quiet_for=3600, now=now
    )
    assert not done and any("(need 200) not yet" in ln for ln in lines)
    done, _ = learning_status(
        Profile(function="f", learning=learning), invocations=100, quiet_for=2 * 86400, now=now
    )
    assert not done
    assert (
        parse_duration("1h") == 3600
        and parse_duration("30m") == 1800
        and parse_duration("2d") == 172800
    )
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_cli_compile_schema_diff_show_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _save(
        tmp_path / "p.json",
        Profile(
            function="f",
            extends=["python-runtime"],
            rules={"files": [Rule(action="read", target="{task}/data/**")]},
        ),
    )
    out = tmp_path / "build" / "p.compiled.json"
    assert run(["profile", "compile", src, "-o", str(out)]) == 0
    compiled = json.loads(out.read_text())
    assert (
        compiled["format"] == "lambda-sandbox.compiled" and "files/read/invoke" in compiled["rules"]
    )
    capsys.readouterr()
    assert run(["profile", "schema"]) == 0
    assert json.loads(capsys.readouterr().out)["$id"].endswith("profile-v1.json")
    assert run(["profile", "diff", src, src]) == 0 and "(no changes)" in capsys.readouterr().out
    assert run(["profile", "show", src]) == 0
    assert run(["profile", "status", src, "--invocations", "1", "--quiet-for", "1h"]) == 1
    assert run(["profile", "show", str(tmp_path / "missing.json")]) == 2


def test_cli_build_writes_then_merges_and_prints_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obs = tmp_path / "obs.jsonl"
    record = {
        "type": "sandbox.observation",
        "v": 1,
        "function": "f",
        "env": "e",
        "phase": "invoke",
        "invocation": 1,
        "time": "2026-01-01T00:00:00Z",
        "category": "files",
        "action": "write",
        "target": "{task}/report.txt",
    }
    obs.write_text(json.dumps(record) + "\n")
    out = tmp_path / "profiles" / "f.json"
    assert run(["profile", "build", "--function", "f", "--from", str(obs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "! + write {task}/report.txt (invoke)" in printed
    first = out.read_text()
    # Re-running reads nothing new: the file is unchanged.
    assert run(["profile", "build", "--function", "f", "--from", str(obs), "--out", str(out)]) == 0
    assert out.read_text() == first
    # An empty source refuses (exit 2) and writes nothing.
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert (
        run(
            [
                "profile",
                "build",
                "--function",
                "f",
                "--from",
                str(empty),
                "--out",
                str(tmp_path / "x.json"),
            ]
        )
        == 2
    )
    assert not (tmp_path / "x.json").exists()
