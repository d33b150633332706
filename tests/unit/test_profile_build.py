"""build_profile: empty input refused, ceiling never learned, base not repeated, incremental."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.profile.build import BuildError, BuildOptions, build_profile


def rec(
    target: str,
    *,
    env: str = "e1",
    inv: int = 1,
    phase: str = "invoke",
    category: str = "files",
    action: str = "read",
    time: str = "2026-01-01T00:00:00Z",
    **extra: Any,
) -> str:
    return json.dumps(
        {
            "type": "sandbox.observation",
            "v": 1,
            "function": "f",
            "env": env,
            "phase": phase,
            "invocation": inv,
            "time": time,
            "category": category,
            "action": action,
            "target": target,
            **extra,
        }
    )


def end(env: str = "e1", inv: int = 1, time: str = "2026-01-01T00:00:05Z") -> str:
    return json.dumps(
        {
            "type": "sandbox.invocation",
            "v": 1,
            "function": "f",
            "env": env,
            "invocation": inv,
            "time": time,
            "novel": 0,
        }
    )


def write(path: Path, *lines: str) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def quiet(_: str) -> None:
    return None


def test_empty_input_is_refused(tmp_path: Path) -> None:
    # GIVEN sources with no record of the function WHEN built THEN a clear error, no profile
    src = write(tmp_path / "o.log", "START", rec("{task}/a").replace('"f"', '"other"'))
    with pytest.raises(BuildError, match="refusing to write an empty profile"):
        build_profile("f", [src], warn=quiet)


def test_ceiling_denied_and_base_covered_never_become_rules(tmp_path: Path) -> None:
    src = write(
        tmp_path / "o.log",
        rec("/proc/1/environ"),
        rec("169.254.169.254:80", category="network", action="connect"),
        rec("{stdlib}/json/decoder.py"),
        rec("{task}/templates/a.html"),
    )
    profile, report = build_profile("f", [src], warn=quiet)
    assert [r.target for r in profile.rules["files"]] == ["{task}/templates/a.html"]
    assert "network" not in profile.rules
    assert report.ceiling_denied == [
        "files read /proc/1/environ",
        "network connect 169.254.169.254:80",
    ]
    assert report.covered_by_base == 1


def test_phase_any_counts_envs_and_literals(tmp_path: Path) -> None:
    src = write(
        tmp_path / "o.log",
        rec("{task}/a", phase="init", inv=0, action="write"),
        rec("{task}/a", env="e2", action="write"),
        *[rec(f"{{tmp}}/out/r{i}.json", env=f"e{i}", action="write") for i in range(4)],
        end("e1", 3),
        end("e2", 2),
    )
    profile, _ = build_profile("f", [src], warn=quiet)
    rules = {r.target: r for r in profile.rules["files"]}
    assert rules["{task}/a"].phase == "any"
    glob = rules["{tmp}/out/*.json"]
    assert glob.coverage is not None and glob.coverage.count == 4
    assert glob.coverage.literals == [f"{{tmp}}/out/r{i}.json" for i in range(4)]
    assert profile.learning.invocations == 7 and profile.learning.environments == [
        "e0",
        "e1",
        "e2",
        "e3",
    ]


def test_incremental_build_credits_existing_rules_and_does_not_double_count(tmp_path: Path) -> None:
    path = tmp_path / "o.log"
    write(path, rec("{tmp}/tmpab12cd_x", action="write"), end("e1", 1))
    first, _ = build_profile("f", [str(path)], warn=quiet)
    # WHEN the same source is read again: nothing new
    again, report = build_profile("f", [str(path)], first, warn=quiet)
    assert again.to_json() == first.to_json() and report.observations == 0
    # WHEN it grows with another temp name in a later invocation
    with path.open("a") as f:
        f.write(rec("{tmp}/tmpzz99yy_q", action="write", inv=2, time="2026-01-02T00:00:00Z") + "\n")
        f.write(end("e1", 2, "2026-01-02T00:00:05Z") + "\n")
    second, report = build_profile("f", [str(path)], first, warn=quiet)
    rule = second.rules["files"][0]
    assert rule.target == "{tmp}/tmp*" and rule.coverage is not None and rule.coverage.count == 2
    assert report.credited_to_existing == 1 and report.new_rules == 0
    # Credited observations are not novel: the quiet run grows.
    assert second.learning.invocations == 2
    assert second.learning.invocations_since_novel == first.learning.invocations_since_novel + 1


def test_threshold_across_builds_collapses_existing_literals(tmp_path: Path) -> None:
    a = write(tmp_path / "a.log", rec("{task}/data/x.csv"), rec("{task}/data/y.csv"))
    first, _ = build_profile("f", [a], warn=quiet)
    assert len(first.rules["files"]) == 2
    b = write(tmp_path / "b.log", rec("{task}/data/z.csv", env="e2"))
    second, report = build_profile("f", [b], first, warn=quiet)
    assert [r.target for r in second.rules["files"]] == ["{task}/data/*.csv"]
    coverage = second.rules["files"][0].coverage
    assert coverage is not None
    assert coverage.literals == [
        "{task}/data/x.csv",
        "{task}/data/y.csv",
        "{task}/data/z.csv",
    ]
    assert report.families


def test_boto3_imports_extend_the_sdk_bundle(tmp_path: Path) -> None:
    src = write(
        tmp_path / "o.log",
        rec("boto3", category="modules", action="import", phase="init", inv=0),
        rec("botocore.client", category="modules", action="import", phase="init", inv=0),
        rec("orders_lib", category="modules", action="import", phase="init", inv=0),
    )
    profile, report = build_profile("f", [src], warn=quiet)
    assert profile.extends == ["aws-sdk"] and report.extends_added == ["aws-sdk"]
    assert [r.target for r in profile.rules["modules"]] == ["orders_lib"]


def test_shell_exec_rule_is_generalised(tmp_path: Path) -> None:
    src = write(
        tmp_path / "o.log",
        rec("/bin/sh", category="processes", action="exec", argv=["-c", "cat /tmp/tmpab12cd_x"]),
        rec(
            "/bin/sh",
            category="processes",
            action="exec",
            argv=["-c", "cat /tmp/tmpzz99yy_q"],
            env="e2",
        ),
    )
    profile, _ = build_profile("f", [src], None, BuildOptions(), warn=quiet)
    [rule] = profile.rules["processes"]
    assert rule.argv == ["-c", "cat /tmp/tmp*"] and rule.coverage is not None
    assert rule.coverage.literals == [
        "/bin/sh -c 'cat /tmp/tmpab12cd_x'",
        "/bin/sh -c 'cat /tmp/tmpzz99yy_q'",
    ]


def test_existing_profile_of_other_function_refused(tmp_path: Path) -> None:
    from sandbox.profile.model import Profile

    src = write(tmp_path / "o.log", rec("{task}/a"))
    with pytest.raises(BuildError):
        build_profile("f", [src], Profile(function="g"), warn=quiet)
