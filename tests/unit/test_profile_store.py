"""The profile on disk: a short, stable policy file plus a learning record, and the CLI around it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.errors import ProfileError
from sandbox.profile.cli import main
from sandbox.profile.model import Profile, learning_path

REPO = Path(__file__).resolve().parents[2]


def _obs(
    target: str, inv: int, *, function: str = "orders", env: str = "e1", **extra: object
) -> str:
    return json.dumps(
        {
            "type": "sandbox.observation",
            "v": 1,
            "function": function,
            "env": env,
            "phase": "invoke",
            "invocation": inv,
            "time": f"2026-01-01T00:00:{inv:02d}Z",
            "category": extra.pop("category", "files"),
            "action": extra.pop("action", "write"),
            "target": target,
            **extra,
        }
    )


def _end(inv: int, *, function: str = "orders", env: str = "e1") -> str:
    return json.dumps(
        {
            "type": "sandbox.invocation",
            "v": 1,
            "function": function,
            "env": env,
            "invocation": inv,
            "time": f"2026-01-01T00:00:{inv:02d}Z",
        }
    )


def _log(path: Path, first: int, last: int, *, env: str = "e1", function: str = "orders") -> Path:
    lines = []
    for inv in range(first, last + 1):
        lines.append(_obs(f"{{tmp}}/receipt-{inv:06d}00.json", inv, env=env, function=function))
        lines.append(_end(inv, env=env, function=function))
    if first == 1:
        lines.append(
            _obs("/bin/sh", 1, env=env, function=function, category="processes", action="exec",
                 argv=["-c", "date"])
        )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["profile", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_policy_file_is_short_stable_and_free_of_machine_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a learn log, built into profiles/orders.json
    log = _log(tmp_path / "logs" / "learn.log", 1, 5)
    out = tmp_path / "profiles" / "orders.json"
    assert _run(capsys, "build", "--from", str(log), "--out", str(out))[0] == 0
    policy = out.read_text()
    record = learning_path(out).read_text()
    # THEN the policy holds rules, phases and risk marks, one rule per line, nothing else
    assert "coverage" not in policy and "learning" not in policy
    assert (
        '{"action": "exec", "target": "/bin/sh", "argv": ["-c", "date"], "phase": "invoke", "risk": "shell"}'
        in policy
    )
    assert len(policy.splitlines()) < 20
    # AND the learning record holds the counters; neither file holds a machine path
    assert json.loads(record)["learning"]["invocations"] == 5
    for text in (policy, record):
        assert str(tmp_path) not in text
    # WHEN the log grows with more of the same and the profile is rebuilt
    _log(tmp_path / "logs" / "learn.log", 1, 9)
    assert _run(capsys, "build", "--from", str(log), "--out", str(out))[0] == 0
    # THEN the review (the policy file) is byte-identical; only the learning record moved
    assert out.read_text() == policy
    assert learning_path(out).read_text() != record
    assert Profile.load(out).learning.invocations == 9


def test_old_single_file_profiles_still_load(tmp_path: Path) -> None:
    # GIVEN a profile in the earlier format (coverage and learning inline)
    old = tmp_path / "old.json"
    old.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "function": "f",
                "learning": {"invocations": 4},
                "rules": {
                    "files": [{"action": "read", "target": "/etc/hosts", "coverage": {"count": 4}}]
                },
            }
        )
    )
    # WHEN loaded and saved again THEN the state survives, split into the two files
    profile = Profile.load(old)
    assert profile.learning.invocations == 4
    profile.save(old)
    assert "coverage" not in old.read_text()
    assert Profile.load(old).rules["files"][0].coverage.count == 4  # type: ignore[union-attr]


@pytest.mark.parametrize("which", ["policy", "record"])
def test_a_newer_schema_says_so(tmp_path: Path, which: str) -> None:
    # GIVEN a profile (or its learning record) written by a newer version
    path = tmp_path / "f.json"
    Profile(function="f").save(path)
    target = path if which == "policy" else learning_path(path)
    data = json.loads(target.read_text())
    data["schema_version"] = 7
    data["rules_v7"] = {"something": "new"}
    target.write_text(json.dumps(data))
    # WHEN loaded THEN the error names the version, not a validation detail
    with pytest.raises(ProfileError, match="written by a newer version"):
        Profile.load(path)


def test_compile_is_atomic_and_refuses_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a profile and an output path that is a directory
    source = tmp_path / "f.json"
    Profile(function="f").save(source)
    build = tmp_path / "build"
    build.mkdir()
    # WHEN compiled into the directory THEN a clean usage error, exit 2
    code, _out, err = _run(capsys, "compile", str(source), "-o", str(build))
    assert code == 2 and "is a directory" in err and "Traceback" not in err
    # WHEN compiled over an existing file THEN it is replaced whole, no temp file is left
    target = build / "f.compiled.json"
    target.write_text("stale")
    assert _run(capsys, "compile", str(source), "-o", str(target))[0] == 0
    assert json.loads(target.read_text())["format"] == "lambda-sandbox.compiled"
    assert [p.name for p in build.iterdir()] == ["f.compiled.json"]


def test_check_reports_risky_rules_and_fails_with_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a profile with a shell exec, a raw IP and a write under {task}
    path = tmp_path / "risky.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "function": "risky",
                "rules": {
                    "processes": [{"action": "exec", "target": "/bin/sh", "argv": ["-c", "id"]}],
                    "network": [{"action": "connect", "target": "10.0.0.5:5432"}],
                    "files": [{"action": "write", "target": "{task}/cache.db"}],
                },
            }
        )
    )
    # WHEN checked THEN each risky rule is reported and the check passes
    code, out, _err = _run(capsys, "check", str(path))
    assert code == 0
    for reason in ("shell", "raw IP host", "write under {task}"):
        assert f"risk: {reason}" in out
    # WHEN checked with --strict THEN it fails
    assert _run(capsys, "check", "--strict", str(path))[0] == 1
    # AND --json gives the same issues as data
    code, out, _err = _run(capsys, "check", "--json", "--strict", str(path))
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    assert {i["level"] for i in data["files"][str(path)]} == {"risk"}


def test_check_flags_a_write_glob_over_the_task_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a profile learned before dir_fd cleanups were resolved: `write {task}/*`
    path = tmp_path / "old.json"
    path.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "function": "old",
                "rules": {"files": [{"action": "write", "target": "{task}/*"}]},
            }
        )
    )
    # WHEN checked THEN it is an error (not only with --strict)
    code, out, _err = _run(capsys, "check", str(path))
    assert code == 1 and "write to a whole code root" in out


def test_diff_exit_code_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN two profiles that differ by a shell exec
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    Profile(function="f").save(old)
    Profile.model_validate(
        {
            "function": "f",
            "rules": {"processes": [{"action": "exec", "target": "/bin/sh"}]},
        }
    ).save(new)
    # WHEN diffed with --exit-code THEN 1 for differences, 0 for none, 2 for a missing file
    assert _run(capsys, "diff", "--exit-code", str(old), str(new))[0] == 1
    assert _run(capsys, "diff", "--exit-code", str(old), str(old))[0] == 0
    assert _run(capsys, "diff", str(old), str(tmp_path / "missing.json"))[0] == 2
    assert _run(capsys, "diff", str(old), str(new))[0] == 0
    # AND --json lists the added rule with its risk
    data = json.loads(_run(capsys, "diff", "--json", str(old), str(new))[1])
    assert data["changed"] is True and data["risky_added"] == 1
    assert data["added"][0]["target"] == "/bin/sh" and data["added"][0]["risk"] == "shell"


def test_show_and_status_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a built profile
    out = tmp_path / "orders.json"
    _run(capsys, "build", "--from", str(_log(tmp_path / "l.log", 1, 3)), "--out", str(out))
    # WHEN shown and its status asked as JSON
    shown = json.loads(_run(capsys, "show", "--json", str(out))[1])
    code, text, _err = _run(capsys, "status", "--json", str(out))
    status = json.loads(text)
    # THEN both are data; status exits 1 while learning is not done
    assert shown["function"] == "orders" and shown["rules"]
    assert code == 1 and status["done"] is False and status["invocations"] == 3


def test_build_defaults_to_the_only_function(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a log of one function
    log = _log(tmp_path / "learn.log", 1, 2, function="orders")
    # WHEN built without --function THEN that function's profile is built
    out = tmp_path / "p.json"
    assert _run(capsys, "build", "--from", str(log), "--out", str(out))[0] == 0
    assert Profile.load(out).function == "orders"
    # GIVEN logs of two functions WHEN built without --function THEN a usage error naming both
    other = _log(tmp_path / "other.log", 1, 2, function="billing")
    code, _out, err = _run(capsys, "build", "--from", str(log), str(other))
    assert code == 2 and "billing, orders" in err
    # AND an output that is a directory is refused
    assert _run(capsys, "build", "--from", str(log), "--out", str(tmp_path))[0] == 2


def test_concurrent_builds_into_one_profile_lose_nothing(tmp_path: Path) -> None:
    # GIVEN two learn logs from two environments
    logs = [_log(tmp_path / f"env{i}.log", 1, 30, env=f"env{i}") for i in range(4)]
    out = tmp_path / "profiles" / "orders.json"
    # WHEN four builds write the same --out at the same time
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox.profile.cli",
                "profile",
                "build",
                "--allow-unauthenticated",  # records written by hand, without a MAC
                "--from",
                str(log),
                "--out",
                str(out),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for log in logs
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    # THEN every log's observations are in the profile (no last-writer-wins)
    profile = Profile.load(out)
    assert profile.learning.env_invocations == {f"env{i}": 30 for i in range(4)}
    assert profile.learning.invocations == 120
    assert not list(out.parent.glob(".*"))  # no temp or lock file left behind


def test_check_of_a_glob_skips_learning_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a profile and its learning record, named together by `profiles/*.json`
    out = tmp_path / "orders.json"
    _run(capsys, "build", "--from", str(_log(tmp_path / "l.log", 1, 2)), "--out", str(out))
    files = sorted(str(p) for p in tmp_path.glob("*.json"))
    assert len(files) == 2
    # WHEN both are checked THEN the record is read with its profile, not linted as one
    code, text, _err = _run(capsys, "check", *files)
    assert code == 0
    assert "learning record, checked with its profile" in text
    # AND a corrupt record makes its profile fail to load, with the record's name
    learning_path(out).write_text("{")
    code, text, _err = _run(capsys, "check", str(out))
    assert code == 1 and "orders.learning.json" in text
