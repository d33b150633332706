"""The runtime contract: fail closed/open, write-through, limits, threads, fork."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, RunChild, profile_doc

EMPTY = profile_doc()


def _profile(tmp_path: Path, document: dict[str, Any] = EMPTY) -> None:
    (tmp_path / "profile.json").write_text(json.dumps(document))


def test_enforce_refuses_to_start_without_a_valid_profile(child: RunChild, tmp_path: Path) -> None:
    # GIVEN an invalid profile WHEN enforce installs
    (tmp_path / "profile.json").write_text(
        '{"schema_version": 1, "function": "t", "rules": {"files": 3}}'
    )
    result = child(
        """
        import sandbox
        try:
            sandbox.install(mode="enforce", profile="profile.json")
        except sandbox.ProfileError as exc:
            print("refused:", exc)
        print("status", sandbox.status())
        """
    )
    # THEN install raises, naming the file and the field, and nothing is installed
    assert result.lines[0].startswith("refused: profile.json: rules.files: expected a list"), (
        result.lines
    )
    assert result.lines[1] == "status None"


def test_learn_fails_open_on_a_bad_profile(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a corrupt profile WHEN learn installs
    (tmp_path / "profile.json").write_text("{not json")
    result = child(
        """
        import sandbox
        status = sandbox.install(mode="learn", profile="profile.json")
        print("mode", status["mode"], "profile_error" in status)
        open("x.txt", "w").write("still works")
        """
    )
    # THEN learning goes on against the base bundles and says why in the start record
    assert result.lines == ["mode learn True"], result.stderr
    assert result.of_type("sandbox.start")[0]["level"] == "WARN"
    assert any(o["target"] == "{task}/x.txt" for o in result.observations)


def test_observations_are_written_through_before_a_kill(tmp_path: Path) -> None:
    # GIVEN a learning process that is SIGKILLed right after touching a file
    out = tmp_path / "obs.jsonl"
    code = (
        "import sandbox, os, time\n"
        "sandbox.install(mode='learn')\n"
        "open('touched.txt', 'w').close()\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "SANDBOX_OBSERVATIONS_FILE": str(out),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready"):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # THEN the observation is already in the file: nothing was held back
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert any(r.get("target") == "{task}/touched.txt" for r in records)


def test_findings_are_deduplicated_and_never_silent(child: RunChild, tmp_path: Path) -> None:
    # GIVEN enforce with at most 3 findings per invocation
    _profile(tmp_path)
    result = child(
        """
        import sandbox, sys
        sandbox.install(mode="enforce", profile="profile.json")
        __import__("sandbox.runtime.control", fromlist=["_"]).mark_invoke_phase()
        __import__("sandbox.runtime.control", fromlist=["_"]).begin_invocation("req-1", {"source": "test"})
        for i in range(10):
            for _ in range(5):
                try:
                    open(f"f{i}.txt").read()
                except PermissionError:
                    pass
        __import__("sandbox.runtime.control", fromlist=["_"]).end_invocation()
        """,
        env={"SANDBOX_MAX_FINDINGS": "3"},
    )
    # THEN every distinct refused target is written once: 3 complete records, the other 7
    # compact (never silent), and the repeats are counted in a summary line
    complete = [f for f in result.findings if not f.get("compact")]
    compact = [f for f in result.findings if f.get("compact")]
    assert (len(complete), len(compact)) == (3, 7), result.stderr
    assert len({f["target"] for f in result.findings}) == 10
    assert all(f["request_id"] == "req-1" for f in result.findings)
    assert all(f["who"] == {"source": "test"} for f in complete)
    summary = result.of_type("sandbox.finding.summary")[0]
    assert summary["compact"] == 7
    assert len(summary["repeats"]) == 10 and set(summary["repeats"].values()) == {4}
    # AND the invocation's counts go out as a CloudWatch Embedded Metric Format line
    metrics = result.of_type("sandbox.metrics")
    assert [(m["category"], m["blocked"]) for m in metrics] == [("files", 50)]
    assert metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "lambda-sandbox"


@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize("mode", ["enforce", "alert"])
def test_an_invocation_end_writes_its_summary_when_something_was_reported(
    child: RunChild, tmp_path: Path, mode: str, core: str
) -> None:
    # GIVEN enforce or alert, either core, and invocations with and without refused accesses
    # (an end with nothing reported is answered by the core: see core.defer_quiet_ends)
    _profile(tmp_path)
    result = child(
        """
        import sandbox, sys
        hook = __import__("sandbox.runtime.control", fromlist=["_"])
        sandbox.install(mode=MODE, profile="profile.json")
        hook.mark_invoke_phase()
        def refused_twice():
            for _ in range(2):
                try:
                    open("secret.txt").read()
                except (PermissionError, FileNotFoundError):
                    pass
        for number, work in enumerate([None, refused_twice, None, refused_twice, None], 1):
            hook.begin_invocation(f"req-{number}", {})
            if work is not None:
                work()
            hook.end_invocation()
            print(f"ended req-{number}", flush=True)
        try:
            sys.audit("sandbox.invocation_end")
        except PermissionError as exc:
            print("forged end:", type(exc).__name__)
        print("status", sandbox.status()["invocations"])
        """.replace("MODE", repr(mode)),
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN each invocation that reported writes its summary at its own end (before the next
    # one starts), and the quiet ones write none
    order = [
        line if not line.startswith("{") else json.loads(line).get("type")
        for line in result.stdout.splitlines()
    ]
    ends = [i for i, item in enumerate(order) if str(item).startswith("ended")]
    summaries = [i for i, item in enumerate(order) if item == "sandbox.finding.summary"]
    assert len(ends) == 5, result.stderr
    assert [sum(1 for s in summaries if s < end) for end in ends] == [0, 1, 1, 2, 2]
    assert [s["request_id"] for s in result.of_type("sandbox.finding.summary")] == [
        "req-2",
        "req-4",
    ]
    # AND every start after a quiet end was accepted (not taken for a nested one)
    assert result.lines[-1] == "status 5"
    # AND an end raised by the function's own code is refused as before
    if mode == "enforce":
        assert "forged end: PermissionViolation" in result.lines
    tamper = [f for f in result.findings if f.get("action") == "tamper"]
    assert [f["target"] for f in tamper] == ["control event sandbox.invocation_end"]


@pytest.mark.parametrize("core", ["native", "python"])
def test_findings_name_the_invocation_whose_start_the_core_logged(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce, either core, and quiet invocations (their ends and the starts after them
    # are answered by the core and logged for the callback: see core.defer_quiet_ends)
    _profile(tmp_path)
    result = child(
        """
        import sandbox, threading
        hook = __import__("sandbox.runtime.control", fromlist=["_"])
        sandbox.install(mode="enforce", profile="profile.json")
        hook.mark_invoke_phase()
        def refused(name):
            try:
                open(name).read()
            except (PermissionError, FileNotFoundError):
                pass
        go, done = threading.Event(), threading.Event()
        def elsewhere():
            go.wait()
            refused("from-the-other-thread.txt")  # its callback replays the core's log
            done.set()
        threading.Thread(target=elsewhere).start()
        for number in range(1, 4):
            hook.begin_invocation(f"req-{number}", {"source_ip": f"192.0.2.{number}"})
            hook.end_invocation()
        who = {"source_ip": "192.0.2.4", "path": "/orders"}
        hook.begin_invocation("req-4", who)
        who["source_ip"] = "changed by the handler"
        go.set(); done.wait()
        refused("in-req-4.txt")
        try:
            hook.begin_invocation("req-nested", {})
        except PermissionError as exc:
            print("nested:", type(exc).__name__)
        hook.end_invocation()
        print("status", sandbox.status()["invocations"])
        """,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    files = {f["target"].rsplit("/", 1)[-1]: f for f in result.findings if f["category"] == "files"}
    # THEN the handler thread's finding names the invocation it runs in, with the source it
    # started with (a later change of the caller's dict is not in it), though another
    # thread's callback replayed that start
    mine = files["in-req-4.txt"]
    assert mine["request_id"] == "req-4", result.stdout
    assert mine["who"] == {"source_ip": "192.0.2.4", "path": "/orders"}
    # AND the thread started at init keeps the invocation it began in
    assert files["from-the-other-thread.txt"]["request_id"] != "req-4"
    # AND a start inside a running invocation is still refused, and every start was counted
    assert "nested: PermissionViolation" in result.lines
    assert result.lines[-1] == "status 4"


@pytest.mark.parametrize("core", ["native", "python"])
def test_runs_of_quiet_invocations_longer_than_the_cores_log_keep_their_count_and_sources(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce, either core, a refused access in the first invocation, then 1,199 quiet
    # ones (the core logs their ends and starts for the callback, which replays them in
    # batches: more than its log holds), and refused accesses in invocations 150 and 1100
    _profile(tmp_path)
    result = child(
        """
        import sandbox
        hook = __import__("sandbox.runtime.control", fromlist=["_"])
        sandbox.install(mode="enforce", profile="profile.json")
        hook.mark_invoke_phase()
        def refused(name):
            try:
                open(name).read()
            except (PermissionError, FileNotFoundError):
                pass
        for number in range(1, 1201):
            hook.begin_invocation(f"req-{number}", {"source_ip": f"192.0.2.{number % 250}"})
            if number in (1, 150, 1100):
                refused(f"in-req-{number}.txt")
                refused(f"in-req-{number}.txt")
            hook.end_invocation()
        print("status", sandbox.status()["invocations"])
        """,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN each finding names its own invocation and the source that invocation started with
    files = {f["target"].rsplit("/", 1)[-1]: f for f in result.findings if f["category"] == "files"}
    assert files["in-req-150.txt"]["request_id"] == "req-150", result.stdout[-2000:]
    assert files["in-req-150.txt"]["who"] == {"source_ip": "192.0.2.150"}
    assert files["in-req-1100.txt"]["request_id"] == "req-1100"
    assert files["in-req-1100.txt"]["who"] == {"source_ip": "192.0.2.100"}
    assert files["in-req-1.txt"]["request_id"] == "req-1"
    # AND only those three invocations wrote a summary, each at its own end
    summaries = result.of_type("sandbox.finding.summary")
    assert [s["request_id"] for s in summaries] == ["req-1", "req-150", "req-1100"]
    # AND every start was counted
    assert result.lines[-1] == "status 1200"


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_leftover_threads_refusal_does_not_hide_the_next_invocations(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce and a thread started in req-1 that is refused after req-1 has ended, at
    # the same line the next invocation is refused at (red team 30)
    _profile(tmp_path)
    result = child(
        """
        import sandbox, threading
        hook = __import__("sandbox.runtime.control", fromlist=["_"])
        sandbox.install(mode="enforce", profile="profile.json")
        hook.mark_invoke_phase()
        def refused():
            try:
                open("secret.txt").read()
            except (PermissionError, FileNotFoundError):
                pass
        go, done = threading.Event(), threading.Event()
        def leftover():
            go.wait()
            refused()
            done.set()
        hook.begin_invocation("req-1", {"source_ip": "192.0.2.1"})
        threading.Thread(target=leftover).start()
        hook.end_invocation()
        go.set(); done.wait()
        hook.begin_invocation("req-2", {"source_ip": "192.0.2.2"})
        refused()
        hook.end_invocation()
        """,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    secret = [f for f in result.findings if f["target"].endswith("secret.txt")]
    # THEN each refusal is written as a finding of its own: the leftover thread's (charged to
    # the invocation running when it started: req-1, or init within the same clock tick) and
    # req-2's, naming its caller
    assert len(secret) == 2, result.stdout
    assert secret[0]["request_id"] in ("req-1", None)
    assert secret[1]["request_id"] == "req-2"
    assert secret[1]["who"] == {"source_ip": "192.0.2.2"}


def test_on_violation_exit_ends_the_process(child: RunChild, tmp_path: Path) -> None:
    # GIVEN SANDBOX_ON_VIOLATION=exit WHEN the function swallows the violation
    _profile(tmp_path)
    result = child(
        """
        import sandbox, sandbox.runtime.hook
        sandbox.install(mode="enforce", profile="profile.json")
        sandbox.runtime.hook.mark_invoke_phase()  # the task root is readable during init only
        try:
            open("secret.txt").read()
        except Exception:
            print("swallowed")
        print("still running")
        """,
        env={"SANDBOX_ON_VIOLATION": "exit"},
    )
    # THEN the process ended hard after logging the finding
    assert result.returncode == 70
    assert result.lines == []
    assert result.findings and result.findings[0]["decision"] == "blocked"


def test_threads_are_held_to_the_profile(child: RunChild, tmp_path: Path) -> None:
    _profile(tmp_path)
    result = child(
        """
        import sandbox, sandbox.runtime.hook, threading
        sandbox.install(mode="enforce", profile="profile.json")
        sandbox.runtime.hook.mark_invoke_phase()
        outcome = []
        def work():
            try:
                open("secret.txt").read()
                outcome.append("read")
            except PermissionError:
                outcome.append("blocked")
        threads = [threading.Thread(target=work) for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(sorted(outcome))
        """
    )
    assert result.lines == ["['blocked', 'blocked', 'blocked', 'blocked']"], result.stderr


def test_forked_children_keep_the_hook(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a profile that allows fork (and so the kernel layer allows it too)
    _profile(tmp_path, {**EMPTY, "rules": {"processes": [{"action": "fork", "target": "fork"}]}})
    result = child(
        """
        import os, sandbox, sandbox.runtime.hook
        sandbox.install(mode="enforce", profile="profile.json")
        sandbox.runtime.hook.mark_invoke_phase()
        pid = os.fork()
        if pid == 0:
            try:
                open("secret.txt").read()
                os._exit(1)
            except PermissionError:
                os._exit(7)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
        """
    )
    # THEN the child is still enforced
    assert result.lines == ["child exit 7"], result.stderr


def test_install_is_idempotent_and_cheap_to_query(child: RunChild, tmp_path: Path) -> None:
    _profile(tmp_path)
    result = child(
        """
        import sandbox, time
        first = sandbox.install(mode="enforce", profile="profile.json")
        second = sandbox.install(mode="learn")
        print(first["mode"], second["mode"], sandbox.status()["phase"])
        """
    )
    assert result.lines == ["enforce enforce init"], result.stderr
    assert len(result.of_type("sandbox.start")) == 1


def test_tempfile_probe_is_part_of_the_runtime_bundle(child: RunChild, tmp_path: Path) -> None:
    # GIVEN enforce with only the base bundle WHEN tempfile finds its directory (it writes and
    # removes a random 8-character probe file in the temp dir at its first call)
    _profile(tmp_path)
    result = child(
        """
        import sandbox, sandbox.runtime.hook, tempfile
        sandbox.install(mode="enforce", profile="profile.json")
        sandbox.runtime.hook.mark_invoke_phase()
        found = set()
        for _ in range(20):
            tempfile.tempdir = None
            found.add(tempfile.gettempdir())
        print(sorted(found))
        """
    )
    # THEN every probe passes and the temp dir is found each time
    assert result.lines == ["['/tmp']"], result.stderr
    assert result.findings == []
