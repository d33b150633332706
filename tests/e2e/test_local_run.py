"""`sandbox run` / run_function: handlers under the real awslambdaric and the layer wrapper."""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.layer import BOOTSTRAP_HANDLER, LAYER_PACKAGE
from sandbox.local.runner import run_function

pytestmark = pytest.mark.e2e


def events(*docs: dict[str, object]) -> list[bytes]:
    """Encode event documents."""
    return [json.dumps(doc).encode() for doc in docs]


def sandbox_run(
    *args: str, cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the `run` command in a subprocess, as a user would."""
    cmd = [sys.executable, "-m", "sandbox.local", "run", *args]
    return subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60)


def test_three_events_run_in_one_warm_process(code_dir: Path, tmp_path: Path) -> None:
    # GIVEN a handler with a module-level counter and three events
    log_file = tmp_path / "function.log"
    # WHEN running them in mode off
    result = run_function(
        "app.handler", events({"n": 1}, {"n": 2}, {"n": 3}), code_dir=code_dir, log_file=log_file
    )
    # THEN each succeeds, the counter increments and the pid is the same: one warm process
    assert result.ok, [r.payload for r in result.results]
    docs = [r.json() for r in result.results]
    assert [d["count"] for d in docs] == [1, 2, 3]
    assert [d["event"] for d in docs] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert len({d["pid"] for d in docs}) == 1
    assert result.cold_starts == 1
    # AND the context carries the function's identity and a deadline
    assert docs[0]["function"] == "sandbox-local"
    assert 0 < docs[0]["remaining_ms"] <= 30_000
    # AND the log stream holds, in order, START / handler output / END / REPORT per invocation
    log = result.log
    for r in result.results:
        rid = r.request_id
        start = log.index(f"START RequestId: {rid} Version: $LATEST")
        printed = next(
            i for i, line in enumerate(log) if line.endswith(rid) and "invocation" in line
        )
        end = log.index(f"END RequestId: {rid}")
        assert start < printed < end, log
        assert log[end + 1].startswith(f"REPORT RequestId: {rid}\t")
    assert "Init Duration" in next(x for x in log if x.startswith("REPORT"))
    # AND the log file holds the same stream, one line per line
    assert log_file.read_text().splitlines() == log


def test_cli_prints_one_json_line_per_response(code_dir: Path, tmp_path: Path) -> None:
    # GIVEN three event files (one read from stdin)
    paths = []
    for n in (1, 3):
        path = tmp_path / f"event{n}.json"
        path.write_text(json.dumps({"n": n}))
        paths.append(path)
    log_file = tmp_path / "cli.log"
    # WHEN running the CLI
    proc = sandbox_run(
        "app.handler",
        "--event", str(paths[0]), "--event", "-", "--event", str(paths[1]),
        "--code-dir", str(code_dir), "--log", str(log_file),
        cwd=tmp_path, stdin='{"n": 2}',
    )  # fmt: skip
    # THEN it exits 0 with one compact JSON response per line, in order, from one process
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    docs = [json.loads(line) for line in lines]
    assert [d["event"]["n"] for d in docs] == [1, 2, 3]
    assert [d["count"] for d in docs] == [1, 2, 3]
    # AND the function's output went to the log file
    assert any(line.startswith("invocation 3 ") for line in log_file.read_text().splitlines())


def test_sandbox_cli_run_command(code_dir: Path, tmp_path: Path) -> None:
    # GIVEN the `sandbox` command (sandbox.cli wires in the run subcommand) and three events
    event_args = []
    for n in (1, 2, 3):
        event_args += ["--event", str(_event_file(tmp_path, n))]
    cmd = [sys.executable, "-m", "sandbox.cli", "run", "app.handler", "--code-dir", str(code_dir)]
    # WHEN running them in mode off
    proc = subprocess.run(
        [*cmd, "--mode", "off", *event_args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    # THEN the three responses come back, one JSON line each, from one warm process
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["count"] for d in docs] == [1, 2, 3]
    assert len({d["pid"] for d in docs}) == 1


def _event_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / f"e{n}.json"
    path.write_text(json.dumps({"n": n}))
    return path


def test_handler_exception_is_reported_as_function_error(code_dir: Path, tmp_path: Path) -> None:
    # GIVEN an event that makes the handler raise
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"raise": "bad input"}))
    # WHEN running it through the CLI
    proc = sandbox_run(
        "app.handler", "--event", str(event), "--code-dir", str(code_dir), cwd=tmp_path
    )
    # THEN the exit is non-zero, stderr says errorType: errorMessage, stdout has the error doc
    assert proc.returncode == 1
    assert "ValueError: bad input" in proc.stderr.splitlines()
    doc = json.loads(proc.stdout)
    assert doc["errorType"] == "ValueError"
    assert doc["errorMessage"] == "bad input"
    assert any("app.py" in frame for frame in doc["stackTrace"])


def test_error_then_success_stays_warm(code_dir: Path) -> None:
    # GIVEN a failing event between two good ones
    # WHEN running them
    result = run_function("app.handler", events({}, {"raise": "x"}, {}), code_dir=code_dir)
    # THEN a function error does not reset the environment (as in Lambda)
    assert [r.error_type for r in result.results] == [None, "ValueError", None]
    assert result.results[2].json()["count"] == 3
    assert result.cold_starts == 1


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        (
            "missing_module.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'missing_module'",
        ),
        ("app.nope", "Runtime.HandlerNotFound", "Handler 'nope' missing on module 'app'"),
        ("nodots", "Runtime.MalformedHandlerName", "Bad handler 'nodots'"),
    ],
)
def test_init_errors_are_reported_with_runtime_error_types(
    code_dir: Path, handler: str, error_type: str, message: str
) -> None:
    # GIVEN a handler string that cannot be loaded
    # WHEN invoking it
    started = time.monotonic()
    result = run_function(handler, events({}), code_dir=code_dir, timeout_s=5)
    # THEN the invocation fails with the init error awslambdaric posted, quickly
    (outcome,) = result.results
    assert outcome.error_type == error_type
    assert message in outcome.error_message
    assert [e.error_type for e in result.init_errors] == [error_type]
    assert any(line.startswith("INIT_REPORT") and error_type in line for line in result.log)
    assert time.monotonic() - started < 5


def test_cli_reports_init_error(code_dir: Path, tmp_path: Path) -> None:
    # GIVEN a missing handler module
    # WHEN running the CLI with the default event
    proc = sandbox_run("missing_module.handler", "--code-dir", str(code_dir), cwd=tmp_path)
    # THEN the exit is non-zero and stderr names the init error
    assert proc.returncode == 1
    assert any(
        line.startswith("Runtime.ImportModuleError: Unable to import module")
        for line in proc.stderr.splitlines()
    )


def test_timeout_kills_and_next_event_gets_a_fresh_environment(code_dir: Path) -> None:
    # GIVEN a handler that sleeps past a 0.5 s timeout, then a normal event
    started = time.monotonic()
    # WHEN running both
    result = run_function(
        "app.handler", events({"sleep": 30}, {}), code_dir=code_dir, timeout_s=0.5
    )
    # THEN the first is reported like Lambda's timeout, without waiting for the sleep
    first, second = result.results
    assert first.error_type == "Sandbox.Timedout"
    assert first.error_message.endswith("Task timed out after 0.50 seconds")
    assert time.monotonic() - started < 10
    # AND the second runs in a new environment (cold start: the counter restarted)
    assert second.json()["count"] == 1
    assert result.cold_starts == 2
    assert any("Task timed out after 0.50 seconds" in line for line in result.log)
    assert any(line.endswith("Status: timeout") for line in result.log)


def test_crash_mid_invocation_is_runtime_exit_error(code_dir: Path) -> None:
    # GIVEN a handler that calls os._exit(3) on the second event
    # WHEN running three events
    result = run_function("app.handler", events({}, {"exit": 3}, {}), code_dir=code_dir)
    # THEN the crash is reported as Runtime.ExitError with the exit status
    ok1, crashed, after = result.results
    assert ok1.ok
    assert crashed.error_type == "Runtime.ExitError"
    assert crashed.error_message.endswith("Runtime exited with error: exit status 3")
    # AND the next event starts a fresh environment
    assert after.json()["count"] == 1
    assert result.cold_starts == 2
    assert result.exit_codes[0] == 3


def test_oversized_response_then_next_event_in_fresh_environment(code_dir: Path) -> None:
    # GIVEN a handler whose first response is over Lambda's 6 MB limit
    (code_dir / "big.py").write_text(
        "def handler(event, context):\n"
        "    return 'x' * (7 * 1024 * 1024) if event.get('big') else 'small'\n"
    )
    # WHEN running it, then a normal event
    result = run_function("big.handler", events({"big": True}, {}), code_dir=code_dir)
    # THEN the first fails like Lambda; awslambdaric dies on the refused post, so the second
    # event goes to a new environment instead of being lost with the dead one
    first, second = result.results
    assert first.error_type == "Function.ResponseSizeTooLarge"
    assert second.ok
    assert second.json() == "small"
    assert result.cold_starts == 2


def test_crash_and_hang_during_init_are_reported(code_dir: Path) -> None:
    # GIVEN modules that exit, or hang, at import time
    (code_dir / "dies.py").write_text("import os\nos._exit(7)\n")
    (code_dir / "hangs.py").write_text("import time\ntime.sleep(60)\n")
    # WHEN invoking them
    started = time.monotonic()
    died = run_function("dies.handler", events({}), code_dir=code_dir)
    hung = run_function("hangs.handler", events({}), code_dir=code_dir, init_timeout_s=0.5)
    # THEN neither hangs the runner: an exit error and an init timeout
    assert died.results[0].error_type == "Runtime.ExitError"
    assert "exit status 7" in died.results[0].error_message
    assert hung.results[0].error_type == "Sandbox.Timedout"
    assert "Init timed out" in hung.results[0].error_message
    assert time.monotonic() - started < 10


def test_cli_rejects_non_json_event_before_starting(code_dir: Path, tmp_path: Path) -> None:
    # GIVEN an event file that is not JSON, and a handler that would record being started
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    marker = tmp_path / "started"
    (code_dir / "marks.py").write_text(f"open({str(marker)!r}, 'w').close()\nhandler = print\n")
    # WHEN running the CLI
    proc = sandbox_run(
        "marks.handler", "--event", str(bad), "--code-dir", str(code_dir), cwd=tmp_path
    )
    # THEN it fails with a clear message and the function never started
    assert proc.returncode == 2
    assert f"event {bad} is not JSON" in proc.stderr
    assert proc.stdout == ""
    assert not marker.exists()


def test_run_function_rejects_bad_arguments(code_dir: Path, tmp_path: Path) -> None:
    # GIVEN an unknown mode, a missing code dir and a non-executable wrapper
    wrapper = tmp_path / "wrapper"
    wrapper.write_text('#!/bin/sh\nexec "$@"\n')
    wrapper.chmod(0o644)
    # WHEN / THEN run_function refuses before starting anything
    with pytest.raises(ValueError, match="mode"):
        run_function("app.handler", [b"{}"], code_dir=code_dir, mode="audit")
    with pytest.raises(FileNotFoundError):
        run_function("app.handler", [b"{}"], code_dir=tmp_path / "missing")
    with pytest.raises(PermissionError, match="not executable"):
        run_function("app.handler", [b"{}"], code_dir=code_dir, wrapper=wrapper)


def test_function_env_matches_lambda_and_env_overrides(code_dir: Path) -> None:
    # GIVEN a handler that reports its environment
    (code_dir / "envdump.py").write_text(
        "import os\n"
        "def handler(event, context):\n"
        "    return {k: os.environ.get(k) for k in event['keys']}\n"
    )
    keys = [
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT",
        "AWS_LAMBDA_EXEC_WRAPPER", "SANDBOX_MODE", "_HANDLER", "MY_SETTING",
    ]  # fmt: skip
    # WHEN running it with a custom name and extra env
    result = run_function(
        "envdump.handler",
        events({"keys": keys}),
        code_dir=code_dir,
        function_name="orders",
        env={"MY_SETTING": "42"},
    )
    # THEN it sees Lambda's reserved variables and the function's own
    doc = result.results[0].json()
    assert doc["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
    assert doc["AWS_REGION"] == "us-east-1"
    assert (
        doc["AWS_EXECUTION_ENV"] == f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}"
    )
    assert doc["LAMBDA_TASK_ROOT"] == str(code_dir.resolve())
    assert doc["AWS_LAMBDA_EXEC_WRAPPER"].endswith("/sandbox-wrapper")
    assert doc["SANDBOX_MODE"] == "off"
    assert doc["_HANDLER"] == "envdump.handler"
    assert doc["MY_SETTING"] == "42"


# -- through the wrapper's redirection (stub bootstrap, then the real layer) ----------------


def test_wrapper_redirects_to_bootstrap_under_awslambdaric(
    code_dir: Path, stub_layer: Path
) -> None:
    # GIVEN a layer dir holding the wrapper and a stub bootstrap, in learn mode
    # WHEN running two events through the real awslambdaric
    result = run_function(
        "app.handler",
        events({}, {}),
        code_dir=code_dir,
        mode="learn",
        layer=stub_layer,
    )
    # THEN awslambdaric loaded the layer's bootstrap handler from the layer's python/ dir,
    # which called the original handler, warm across invocations
    assert result.ok, [r.payload for r in result.results]
    first, second = (r.json() for r in result.results)
    assert first["via"] == "stub-bootstrap"
    assert first["stub_file"] == str(stub_layer / "python" / LAYER_PACKAGE / "bootstrap.py")
    assert first["original"] == "app.handler"
    assert first["handler_env"] == first["argv_tail"] == BOOTSTRAP_HANDLER
    assert [first["result"]["count"], second["result"]["count"]] == [1, 2]


def test_wrapper_with_preset_pythonpath(code_dir: Path, stub_layer: Path, tmp_path: Path) -> None:
    # GIVEN a function that sets PYTHONPATH to its own vendor dir, imported by its handler
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    (vendor / "vendored.py").write_text("VALUE = 'from vendor'\n")
    (code_dir / "uses_vendor.py").write_text(
        "import vendored\ndef handler(event, context):\n    return vendored.VALUE\n"
    )
    # WHEN running it through the wrapper in enforce mode
    result = run_function(
        "uses_vendor.handler",
        events({}),
        code_dir=code_dir,
        mode="enforce",
        layer=stub_layer,
        env={"PYTHONPATH": f"{code_dir}{os.pathsep}{vendor}"},
    )
    # THEN the function's PYTHONPATH still works and the layer dir was appended after it
    assert result.ok, [r.payload for r in result.results]
    doc = result.results[0].json()
    assert doc["result"] == "from vendor"
    assert doc["pythonpath"] == os.pathsep.join(
        [str(code_dir), str(vendor), str(stub_layer / "python")]
    )


def test_wrapper_attached_twice_under_awslambdaric(
    code_dir: Path, stub_layer: Path, tmp_path: Path
) -> None:
    # GIVEN an exec wrapper that runs the layer's wrapper twice in a chain
    double = tmp_path / "double-wrapper"
    inner = stub_layer / "sandbox-wrapper"
    double.write_text(f'#!/bin/sh\nexec "{inner}" "{inner}" "$@"\n')
    double.chmod(0o755)
    # WHEN running an event in alert mode
    result = run_function(
        "app.handler",
        events({}),
        code_dir=code_dir,
        mode="alert",
        layer=stub_layer,
        wrapper=double,
    )
    # THEN the original handler survived the second pass and the layer is on the path once
    assert result.ok, [r.payload for r in result.results]
    doc = result.results[0].json()
    assert doc["original"] == "app.handler"
    assert doc["result"]["count"] == 1
    assert doc["pythonpath"].split(os.pathsep).count(str(stub_layer / "python")) == 1


def test_wrapper_from_built_zip_mode_off(code_dir: Path, extracted_layer: Path) -> None:
    # GIVEN the layer zip extracted like Lambda does into an /opt-like dir
    wrapper = extracted_layer / "sandbox-wrapper"
    assert os.access(wrapper, os.X_OK)
    # WHEN running events with the sandbox off through that wrapper
    result = run_function(
        "app.handler", events({}, {}), code_dir=code_dir, layer=extracted_layer, wrapper=wrapper
    )
    # THEN the function runs untouched, warm
    assert [r.json()["count"] for r in result.results] == [1, 2]


def test_wrapper_from_built_zip_resolves_layer_package(
    extracted_layer: Path, code_dir: Path
) -> None:
    # GIVEN the extracted layer's wrapper, sandbox on
    wrapper = extracted_layer / "sandbox-wrapper"
    probe = (
        "import importlib.util, os; "
        "print(importlib.util.find_spec('_lambda_sandbox').origin); print(os.environ['_HANDLER'])"
    )
    env = {"PATH": os.environ["PATH"], "_HANDLER": "app.handler", "SANDBOX_MODE": "learn"}
    # WHEN a runtime command looks for the `sandbox` package
    out = subprocess.run(
        [str(wrapper), sys.executable, "-c", probe, "app.handler"],
        env=env, capture_output=True, text=True, check=True, cwd=code_dir,
    )  # fmt: skip
    # THEN it is the layer's copy under python/, and the handler was redirected
    origin, handler = out.stdout.splitlines()
    assert origin == str(extracted_layer / "python" / LAYER_PACKAGE / "__init__.py")
    assert handler == BOOTSTRAP_HANDLER


def test_built_layer_in_learn_mode_runs_the_function(
    code_dir: Path, extracted_layer: Path, tmp_path: Path
) -> None:
    # GIVEN the real layer (with the real bootstrap) extracted to an /opt-like dir
    # WHEN running events in learn mode through the layer's own wrapper and package
    result = run_function(
        "app.handler",
        events({}, {}),
        code_dir=code_dir,
        mode="learn",
        layer=extracted_layer,
        env={"SANDBOX_OBSERVATIONS_FILE": str(tmp_path / "obs.jsonl")},
    )
    # THEN the function's own responses come back unchanged, warm
    assert result.ok, [r.payload for r in result.results] + result.log
    assert [r.json()["count"] for r in result.results] == [1, 2]
    # AND the hook runs on the layer's native core for this Python (3.10-3.14) when the layer
    # ships one for it (3.14 only where its headers were found: make python3.14)
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    shipped = (extracted_layer / "python" / LAYER_PACKAGE / f"_core{suffix}").is_file()
    start = next(
        json.loads(line[line.find("{") :]) for line in result.log if '"sandbox.start"' in line
    )
    assert start["layers"]["audit"] == ("native" if shipped else "python"), start
    if sys.version_info[:2] <= (3, 13):
        assert shipped  # required in every layer build


# -- a function with its own module called "sandbox" -------------------------------------------


def test_function_with_its_own_sandbox_module_runs_in_every_mode(tmp_path: Path) -> None:
    # GIVEN a function whose task root has its own top-level `sandbox` package (first on
    # sys.path in Lambda), used by its handler
    code_dir = tmp_path / "task"
    (code_dir / "sandbox").mkdir(parents=True)
    (code_dir / "sandbox" / "__init__.py").write_text("NAME = 'the function own sandbox'\n")
    (code_dir / "app.py").write_text(
        "import sandbox\n"
        "def handler(event, context):\n"
        "    return {'name': sandbox.NAME, 'file': sandbox.__file__}\n"
    )
    log = tmp_path / "learn.log"
    # WHEN it runs through the layer in learn mode, then alert and enforce on what was learned
    from sandbox.profile.build import build_profile

    learned = run_function(
        "app.handler", events({}, {}), code_dir=code_dir, mode="learn", log_file=log
    )
    profile, _ = build_profile("sandbox-local", [str(log)], warn=lambda message: None)
    compiled = tmp_path / "compiled.json"
    compiled.write_text(json.dumps(profile.compile()))
    runs = {"learn": learned}
    for mode in ("off", "alert", "enforce"):
        runs[mode] = run_function(
            "app.handler", events({}, {}), code_dir=code_dir, mode=mode, profile=compiled
        )
    # THEN in every mode the function imports its own module and the sandbox's own package
    # was never shadowed (an init failure would show as an error result)
    for mode, result in runs.items():
        assert result.ok, (mode, [r.payload for r in result.results], result.log[-5:])
        for item in result.results:
            assert item.json() == {
                "name": "the function own sandbox",
                "file": str(code_dir / "sandbox" / "__init__.py"),
            }, mode
    # AND the sandbox was really on: a start record in every mode but off, no findings
    for mode in ("learn", "alert", "enforce"):
        starts = [line for line in runs[mode].log if '"sandbox.start"' in line]
        assert starts and f'"mode":"{mode}"' in starts[0].replace(" ", ""), mode
        assert not [line for line in runs[mode].log if '"sandbox.finding"' in line], mode
