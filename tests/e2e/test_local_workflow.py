"""The local workflow as the README shows it: `sandbox run` → `profile build` → enforce."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]

ENV_APP = """
import os


def handler(event, context):
    return {key: os.environ.get(key) for key in event["keys"]} | {"name": context.function_name}
"""


def _sandbox(*args: str, cwd: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "sandbox.cli", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload, no-any-return]


def _readme_block() -> str:
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- using-it:start", 1)[1].split("<!-- using-it:end -->", 1)[0]
    return block.split("```sh\n", 1)[1].rsplit("```", 1)[0]


def test_readme_using_it_block_runs_as_written_in_a_fresh_shell(tmp_path: Path) -> None:
    # GIVEN a fresh shell in a checkout: the examples and the project's venv, nothing else set
    shutil.copytree(REPO / "examples" / "vulnerable", tmp_path / "examples" / "vulnerable")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    # WHEN the README's block runs line by line in bash
    done = subprocess.run(
        ["bash", "-c", _readme_block()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # THEN every step produced its output: the log, the profile (policy + learning record),
    # the compiled profile, and an enforce run where the report passed and the traversal failed
    assert "command not found" not in done.stderr, done.stderr
    learned = (tmp_path / "build" / "learn.log").read_text()
    assert '"function":"vulnerable"' in learned.replace(" ", "")
    profile = json.loads((tmp_path / "build" / "profiles" / "vulnerable.json").read_text())
    assert profile["function"] == "vulnerable" and profile["rules"]
    assert (tmp_path / "build" / "profiles" / "vulnerable.learning.json").is_file()
    assert (tmp_path / "build" / "vulnerable.compiled.json").is_file()
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"')]
    assert {"statusCode": 200, "body": "quarterly numbers: 43\n"} in lines
    assert lines[-1]["errorType"] == "PermissionViolation"
    assert done.returncode == 1  # the last command: an invocation was blocked


def test_run_names_the_function_after_its_code_dir_and_passes_env(tmp_path: Path) -> None:
    # GIVEN a function in a directory named "orders" and a SAM-style --env-vars file
    code = tmp_path / "orders"
    code.mkdir()
    (code / "app.py").write_text(textwrap.dedent(ENV_APP))
    env_file = tmp_path / "env.json"
    env_file.write_text(
        json.dumps(
            {
                "Parameters": {"TABLE_NAME": "from-parameters", "STAGE": "dev"},
                "orders": {"TABLE_NAME": "orders-table", "RETRIES": 3},
                "billing": {"STAGE": "not-mine"},
            }
        )
    )
    event = tmp_path / "e.json"
    event.write_text(json.dumps({"keys": ["TABLE_NAME", "STAGE", "RETRIES", "OUTPUT_BUCKET"]}))
    # WHEN run with --env-file and --env (which wins over the file)
    done = _sandbox(
        "run", "app.handler", "--code-dir", str(code), "--event", str(event),
        "--env-file", str(env_file), "--env", "OUTPUT_BUCKET=out", "--env", "STAGE=prod",
        cwd=tmp_path,
    )  # fmt: skip
    # THEN the function sees its configuration, and is named after its directory
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "TABLE_NAME": "orders-table",
        "STAGE": "prod",
        "RETRIES": "3",
        "OUTPUT_BUCKET": "out",
        "name": "orders",
    }
    # AND --function-name overrides the name
    named = _sandbox(
        "run", "app.handler", "--code-dir", str(code), "--event", str(event),
        "--function-name", "orders-prod", cwd=tmp_path,
    )  # fmt: skip
    assert json.loads(named.stdout)["name"] == "orders-prod"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "NOEQUALS"], "expected KEY=VALUE"),
        (["--env", "1BAD=x"], "expected KEY=VALUE"),
        (["--env-file", "missing.json"], "cannot read --env-file"),
        (["--env-file", "list.json"], "expected SAM's format"),
    ],
)
def test_bad_env_input_is_a_usage_error(tmp_path: Path, args: list[str], message: str) -> None:
    # GIVEN a function and a malformed --env / --env-file
    (tmp_path / "app.py").write_text(textwrap.dedent(ENV_APP))
    (tmp_path / "list.json").write_text("[1, 2]")
    # WHEN run THEN exit 2 with a message, and the function never starts
    done = _sandbox("run", "app.handler", "--code-dir", str(tmp_path), *args, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_learn_log_of_sandbox_run_builds_without_function(tmp_path: Path) -> None:
    # GIVEN a learn log written by `sandbox run` for a function in ./orders
    code = tmp_path / "orders"
    code.mkdir()
    (code / "app.py").write_text(textwrap.dedent(ENV_APP))
    event = tmp_path / "e.json"
    event.write_text(json.dumps({"keys": []}))
    run = _sandbox(
        "run", "app.handler", "--code-dir", str(code), "--event", str(event),
        "--mode", "learn", "--log", "learn.log", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    # WHEN the README's next step runs, with or without --function
    built = _sandbox(
        "profile", "build", "--function", "orders", "--from", "learn.log",
        "--out", "profiles/orders.json", cwd=tmp_path,
    )  # fmt: skip
    default = _sandbox(
        "profile", "build", "--from", "learn.log", "--out", "p2/orders.json", cwd=tmp_path
    )
    # THEN both find the function's observations
    assert built.returncode == 0, built.stderr
    assert default.returncode == 0, default.stderr
    assert (tmp_path / "profiles" / "orders.json").read_text() == (
        tmp_path / "p2" / "orders.json"
    ).read_text()


# `sandbox` with SIGINT blocked in its main thread (and so in every thread that one starts) but not
# in an idle thread started first: the kernel hands SIGINT to that thread, CPython records it,
# and the main thread acts on it only when it next runs bytecode. That is what happens by chance
# when Ctrl-C lands just before the main thread blocks in a wait, made certain.
SIGINT_SEEN_LATE = """
import signal, sys, threading
threading.Thread(target=threading.Event().wait, daemon=True).start()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
from sandbox.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "seen_late",
    [
        # Ctrl-C as soon as the first result is out, while the main thread is busy.
        pytest.param(False, id="sigint-at-first-result"),
        # Ctrl-C while the main thread waits for the second result, noticed only when it next
        # runs bytecode: a wait that does not wake up by itself (the function's 900 s) holds it.
        pytest.param(True, id="sigint-seen-late-while-waiting"),
    ],
)
def test_results_stream_and_survive_ctrl_c(code_dir: Path, tmp_path: Path, seen_late: bool) -> None:
    # GIVEN three events, the second of which sleeps far longer than the test waits
    paths = []
    for i, doc in enumerate([{"n": 1}, {"sleep": 600}, {"n": 3}]):
        path = tmp_path / f"e{i}.json"
        path.write_text(json.dumps(doc))
        paths += ["--event", str(path)]
    launch = ["-c", SIGINT_SEEN_LATE] if seen_late else ["-m", "sandbox.cli"]
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, *launch, "run", "app.handler", "--code-dir", str(code_dir),
             "--timeout", "900", *paths],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        # WHEN the first invocation finishes THEN its line is printed at once (not at the end)
        first = json.loads(proc.stdout.readline())
        assert first["count"] == 1 and first["event"] == {"n": 1}
        if seen_late:
            # (the second invocation is running: the main thread waits for its result)
            deadline = time.monotonic() + 60
            while "invocation 2 " not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)
        # WHEN interrupted during the second THEN it stops cleanly (130), the first line stays
        proc.send_signal(signal.SIGINT)
        try:
            status = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit 60 s after SIGINT; its log:\n{log.read_text()}")
        assert status == 130, log.read_text()
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
