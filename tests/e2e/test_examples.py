"""The examples through the real awslambdaric and wrapper: learn → profile → enforce → attacks.

Everything runs on loopback: a moto server for S3/DynamoDB, a pricing service and an internal
admin service (the SSRF target), started by ``examples/services.py``.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples"))

from services import function_env, loopback_services  # noqa: E402

from sandbox.layer import BOOTSTRAP_HANDLER  # noqa: E402
from sandbox.local import run_function  # noqa: E402
from sandbox.profile.build import build_profile  # noqa: E402

pytestmark = pytest.mark.e2e
VULNERABLE = REPO / "examples" / "vulnerable"
ORDERS = REPO / "examples" / "orders"


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, int]]:
    with loopback_services() as ports:
        yield ports


def _events(folder: Path, ports: dict[str, int]) -> dict[str, bytes]:
    out = {}
    for path in sorted(folder.glob("*.json")):
        text = path.read_text()
        text = text.replace("{PRICING_PORT}", str(ports["pricing"])).replace(
            "{ADMIN_PORT}", str(ports["admin"])
        )
        text = text.replace("{HOSTNAME}", socket.gethostname())  # answered by /etc/hosts
        out[path.stem] = text.encode()
    return out


def _findings(log: list[str]) -> list[dict[str, Any]]:
    return [
        json.loads(line[line.find("{") :]) for line in log if '"type":"sandbox.finding"' in line
    ]


def _learn_and_compile(code_dir: Path, name: str, ports: dict[str, int], tmp_path: Path) -> Path:
    log = tmp_path / f"{name}.log"
    benign = _events(code_dir / "events" / "benign", ports)
    learned = run_function(
        "app.handler",
        list(benign.values()),
        code_dir=code_dir,
        mode="learn",
        log_file=log,
        env=function_env(ports),
        function_name=name,
    )
    assert learned.ok, [r.error_message for r in learned.results]
    assert learned.cold_starts == 1
    profile, _report = build_profile(name, [str(log)], warn=lambda message: None)
    compiled = tmp_path / f"{name}.compiled.json"
    compiled.write_text(json.dumps(profile.compile()))
    return compiled


def test_orders_learned_then_enforced(services: dict[str, int], tmp_path: Path) -> None:
    # GIVEN the realistic function learned on its benign events
    compiled = _learn_and_compile(ORDERS, "orders", services, tmp_path)
    benign = _events(ORDERS / "events" / "benign", services)
    # WHEN the same events replay under enforce, with the kernel layer on
    result = run_function(
        "app.handler",
        list(benign.values()),
        code_dir=ORDERS,
        mode="enforce",
        profile=compiled,
        env=function_env(services),
        function_name="orders",
    )
    # THEN every invocation succeeds in one warm process, with no finding at all
    assert result.ok, [r.error_message for r in result.results]
    assert [r.json()["statusCode"] for r in result.results] == [201] * len(benign)
    assert result.cold_starts == 1
    assert _findings(result.log) == []
    start = next(
        json.loads(line[line.find("{") :])
        for line in result.log
        if '"type":"sandbox.start"' in line
    )
    # (the runtime staged as it is: the native core wherever it was built for this Python)
    native = importlib.util.find_spec("sandbox.runtime._core") is not None
    assert start["mode"] == "enforce" and start["layers"]["audit"] == (
        "native" if native else "python"
    )
    # AND, where this kernel takes a filter (not nested in another one), seccomp is on too
    from sandbox.kernel import probe

    if probe().get("seccomp") == 0:
        assert start["layers"]["seccomp"] == "active", start


def test_vulnerable_attacks_blocked_benign_pass(services: dict[str, int], tmp_path: Path) -> None:
    # GIVEN the vulnerable function learned on benign traffic
    compiled = _learn_and_compile(VULNERABLE, "vulnerable", services, tmp_path)
    env = function_env(services)
    benign = _events(VULNERABLE / "events" / "benign", services)
    attacks = _events(VULNERABLE / "events" / "attack", services)
    # WHEN benign and attack events replay under enforce in one warm environment
    result = run_function(
        "app.handler",
        [*benign.values(), *attacks.values()],
        code_dir=VULNERABLE,
        mode="enforce",
        profile=compiled,
        env=env,
        function_name="vulnerable",
    )
    outcomes = dict(zip([*benign, *attacks], result.results, strict=True))
    # THEN benign traffic passes and each attack fails with the sandbox's error
    for name in benign:
        assert outcomes[name].ok, (name, outcomes[name].error_message)
    for name in attacks:
        assert not outcomes[name].ok, name
        assert "lambda-sandbox blocked" in outcomes[name].error_message, (
            name,
            outcomes[name].error_message,
        )
    # AND each attack is a finding that says who, where and how
    findings = _findings(result.log)
    by_request: dict[str, dict[str, Any]] = {}
    for f in findings:
        by_request.setdefault(
            f["request_id"], f
        )  # the first finding of an invocation is the attack
    attack_findings = [by_request[outcomes[name].request_id] for name in attacks]
    hows = [(f["category"], f["action"]) for f in attack_findings]
    assert hows == [
        ("processes", "exec"),  # command injection
        ("files", "read"),  # path traversal
        ("network", "connect"),  # SSRF to the internal admin service
        ("code", "shape"),  # eval of a call: refused by its shape, before it compiles
        ("network", "resolve"),  # DNS exfiltration, stopped before the query
    ]
    for f in attack_findings:
        assert f["decision"] == "blocked" and f["level"] == "ERROR"
        assert f["who"]["source_ip"] == "203.0.113.66"
        assert f["who"]["user_agent"].startswith("sqlmap")
        assert f["site"].startswith(("{task}/app.py:", "<string>:"))
        assert f["phase"] == "invoke"
    # (the command injection before it started a child process: from then on a ".." over a
    # folder that can be moved is refused as undecidable, and the finding names the traversal
    # as the function spelled it)
    traversal = attack_findings[1]["target"]
    assert traversal == "/etc/passwd" or (
        traversal.startswith("<unresolvable") and traversal.endswith("/etc/passwd>")
    ), traversal


def test_alert_mode_reports_without_blocking(services: dict[str, int], tmp_path: Path) -> None:
    # GIVEN the learned vulnerable profile WHEN the path traversal runs in alert mode
    compiled = _learn_and_compile(VULNERABLE, "vulnerable", services, tmp_path)
    attack = _events(VULNERABLE / "events" / "attack", services)["02-path-traversal"]
    result = run_function(
        "app.handler",
        [attack],
        code_dir=VULNERABLE,
        mode="alert",
        profile=compiled,
        env=function_env(services),
        function_name="vulnerable",
    )
    # THEN the function answers (the file was read) and a would-block finding is logged
    assert result.ok
    assert "root:" in result.results[0].json()["body"]
    findings = _findings(result.log)
    assert findings[0]["decision"] == "would-block" and findings[0]["level"] == "WARN"


def test_enforce_without_a_valid_profile_never_runs_the_handler(tmp_path: Path) -> None:
    # GIVEN enforce mode and a profile file that is missing, then one that is invalid
    broken = tmp_path / "broken.json"
    broken.write_text(
        '{"schema_version": 1, "function": "x", "rules": {"files": [{"action": "zap"}]}}'
    )
    for profile in (tmp_path / "missing.json", broken):
        result = run_function(
            "app.handler",
            [b"{}"],
            code_dir=VULNERABLE,
            mode="enforce",
            profile=profile,
            function_name="vulnerable",
        )
        # THEN init fails with the sandbox's error naming the file, and no invocation succeeds
        assert not result.ok
        assert result.init_errors, result.log
        error = result.init_errors[0]
        assert error.error_type == "ProfileError"
        assert str(profile) in error.error_message


def test_off_mode_installs_nothing(services: dict[str, int]) -> None:
    # GIVEN mode off WHEN the function runs
    benign = _events(VULNERABLE / "events" / "benign", services)
    result = run_function(
        "app.handler",
        [benign["06-calc"]],
        code_dir=VULNERABLE,
        mode="off",
        env=function_env(services),
        function_name="vulnerable",
    )
    # THEN it works and the sandbox wrote nothing (the wrapper did not even redirect)
    assert result.ok
    assert not any('"type":"sandbox.' in line for line in result.log)


def test_without_the_exec_wrapper_the_handler_redirect_works(
    services: dict[str, int], tmp_path: Path
) -> None:
    # GIVEN a function whose exec-wrapper slot is taken by another tool (a pass-through wrapper)
    other_tool = tmp_path / "other-tool-wrapper"
    other_tool.write_text('#!/bin/sh\nexport OTHER_TOOL=1\nexec "$@"\n')
    other_tool.chmod(0o755)
    compiled = _learn_and_compile(VULNERABLE, "vulnerable", services, tmp_path)
    events = _events(VULNERABLE / "events" / "attack", services)
    benign = _events(VULNERABLE / "events" / "benign", services)
    # WHEN its handler is set to the sandbox's, with the real one in SANDBOX_ORIGINAL_HANDLER
    result = run_function(
        BOOTSTRAP_HANDLER,
        [benign["06-calc"], events["02-path-traversal"]],
        code_dir=VULNERABLE,
        mode="enforce",
        profile=compiled,
        env={**function_env(services), "SANDBOX_ORIGINAL_HANDLER": "app.handler"},
        function_name="vulnerable",
        wrapper=other_tool,
    )
    # THEN the function is protected all the same: benign passes, the traversal is blocked
    assert result.results[0].ok, result.results[0].error_message
    assert not result.results[1].ok
    assert "lambda-sandbox blocked files read '/etc/passwd'" in result.results[1].error_message


def test_multi_concurrency_mode_holds_every_worker(tmp_path: Path) -> None:
    # GIVEN the reviewed profile of the vulnerable example, compiled
    from sandbox.profile import Profile

    profiles = REPO / "profiles"
    compiled = tmp_path / "vulnerable.compiled.json"
    compiled.write_text(
        json.dumps(Profile.load(profiles / "vulnerable.json").compile(base_dir=profiles))
    )
    report = {"queryStringParameters": {"action": "report", "name": "q1.txt"}}
    traversal = {"queryStringParameters": {"action": "report", "name": "../../../../../etc/passwd"}}
    # WHEN awslambdaric runs in multi-concurrency mode (it forks a pool of workers, each
    # importing the handler, i.e. the sandbox's bootstrap, on its own)
    result = run_function(
        "app.handler",
        [json.dumps(e).encode() for e in (report, traversal, report, traversal)],
        code_dir=VULNERABLE,
        mode="enforce",
        profile=compiled,
        env={"AWS_LAMBDA_MAX_CONCURRENCY": "2"},
        function_name="vulnerable",
    )
    # THEN every worker installed the sandbox, and whichever worker served it, the attack failed
    assert sum('"type":"sandbox.start"' in line for line in result.log) == 2
    assert [r.ok for r in result.results] == [True, False, True, False]
    assert all("lambda-sandbox blocked" in r.error_message for r in result.results[1::2])
