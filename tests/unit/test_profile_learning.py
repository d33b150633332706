"""Learning status: derived from the observations, never from how they were batched into builds."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sandbox.profile.build import build_profile
from sandbox.profile.diff import status_data
from sandbox.profile.merge import merge_profiles, novelty
from sandbox.profile.model import Profile

NOW = dt.datetime(2026, 1, 3, tzinfo=dt.timezone.utc)


def _time(inv: int) -> str:
    # One second apart at most: timestamps tie often, as they do in real logs.
    return f"2026-01-01T00:00:{inv // 2:02d}Z"


def _invocation(env: str, inv: int, targets: list[str]) -> list[str]:
    lines = [
        json.dumps(
            {
                "type": "sandbox.observation",
                "v": 1,
                "function": "f",
                "env": env,
                "phase": "invoke",
                "invocation": inv,
                "time": _time(inv),
                "category": "files",
                "action": "write",
                "target": target,
            }
        )
        for target in targets
    ]
    lines.append(
        json.dumps(
            {
                "type": "sandbox.invocation",
                "v": 1,
                "function": "f",
                "env": env,
                "invocation": inv,
                "time": _time(inv),
                "novel": len(targets),
            }
        )
    )
    return lines


def _log(env: str, invocations: range, novel_until: int) -> list[str]:
    """Each invocation writes a receipt with a new uuid; until ``novel_until`` also a new file.

    (A literal that a family absorbs later is not novel: the profile as it stands would have
    allowed it. These new files never form a family.)
    """
    lines: list[str] = []
    for inv in invocations:
        targets = [f"{{tmp}}/receipt-{inv:08x}-0000-4000-8000-{inv:012x}.json"]
        if inv <= novel_until:
            targets.append(f"/srv{inv}/data")  # top-level directories never form a family
        lines += _invocation(env, inv, targets)
    return lines


def _write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _status(profile: Profile) -> dict[str, object]:
    return status_data(profile, invocations=20, quiet_for=3600, now=NOW)


def test_one_shot_build_counts_quiet_invocations(tmp_path: Path) -> None:
    # GIVEN one log of 40 invocations where nothing new happens after the 10th
    # (every invocation still writes a receipt with a fresh uuid: one rule after the table)
    source = _write(tmp_path / "learn.log", _log("e1", range(1, 41), novel_until=10))
    # WHEN the profile is built in one go
    profile, _report = build_profile("f", [source], warn=lambda message: None)
    # THEN the 30 invocations after the 10th count as quiet, and learning is done
    assert novelty(profile)[1] == 30
    assert profile.learning.invocations_since_novel == 30
    assert _status(profile)["done"] is True


def test_status_is_the_same_however_the_observations_were_batched(tmp_path: Path) -> None:
    # GIVEN 14 invocations of one environment and 6 of another
    lines_a = _log("e1", range(1, 15), novel_until=3)
    lines_b = _log("e2", range(1, 7), novel_until=2)
    # WHEN built in one build, in two builds (split mid-log), and by merging two profiles
    one, _ = build_profile(
        "f", [_write(tmp_path / "all.log", lines_a + lines_b)], warn=lambda m: None
    )
    first, _ = build_profile("f", [_write(tmp_path / "a1.log", lines_a[:12])], warn=lambda m: None)
    second, _ = build_profile(
        "f",
        [_write(tmp_path / "a2.log", lines_a[12:] + lines_b)],
        first,
        warn=lambda m: None,
    )
    left, _ = build_profile("f", [_write(tmp_path / "l.log", lines_a)], warn=lambda m: None)
    right, _ = build_profile("f", [_write(tmp_path / "r.log", lines_b)], warn=lambda m: None)
    merged = merge_profiles(left, right)
    # THEN the status (and the field the fleet's enforce gate reads) is the same every time
    expected = _status(one)
    # (e2's two new files were first seen in e1, at the same second: e2 saw nothing novel)
    assert expected["invocations_since_novel"] == (14 - 3) + 6
    for other in (second, merged, merge_profiles(right, left)):
        assert _status(other) == expected
        assert other.learning.invocations_since_novel == one.learning.invocations_since_novel


def test_status_survives_the_learning_record(tmp_path: Path) -> None:
    # GIVEN a built profile saved to disk (policy + learning record)
    source = _write(tmp_path / "learn.log", _log("e1", range(1, 41), novel_until=10))
    profile, _ = build_profile("f", [source], warn=lambda message: None)
    profile.save(tmp_path / "f.json")
    # WHEN it is loaded again THEN the status is unchanged
    assert _status(Profile.load(tmp_path / "f.json")) == _status(profile)
