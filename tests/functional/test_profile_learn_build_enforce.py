"""Learn in parallel processes → build (order-independent, byte-identical) → compile → enforce."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sandbox.profile.build import build_profile

FUNCTION = "orders-fn"
WORKERS = 4

SCRIPT = textwrap.dedent(
    """
    import json, os, socket, subprocess, sys, tempfile
    import sandbox
    mode, profile, port, other_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if mode == "learn":
        sandbox.install(mode="learn")
    else:
        sandbox.install(mode="enforce", profile=profile)
    import helper_mod  # a module of the function's own, imported during init
    from sandbox.runtime.control import begin_invocation, end_invocation, mark_invoke_phase
    mark_invoke_phase()
    begin_invocation("req-1", {})
    task = os.environ["LAMBDA_TASK_ROOT"]

    def actions():
        fd, name = tempfile.mkstemp(dir=os.environ["TMPDIR"])  # a per-process temp name
        os.write(fd, b"x")
        os.close(fd)
        with open(name) as f:
            f.read()
        with open(os.path.join(task, "data.txt")) as f:
            f.read()
        socket.create_connection(("localhost", port), timeout=5).close()
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        subprocess.run(["/bin/sh", "-c", "cat " + name], check=True, stdout=subprocess.DEVNULL)
        return name

    name = actions()
    end_invocation()
    if mode == "enforce":
        actions()  # a second round with new temp names: still allowed
        blocked = {}
        neighbours = {
            "read secret": lambda: open(os.path.join(task, "secret.txt")).read(),
            "write task": lambda: open(os.path.join(task, "out.txt"), "w").close(),
            "other port": lambda: socket.create_connection(("127.0.0.1", other_port), timeout=5),
            "injected shell": lambda: subprocess.run(["/bin/sh", "-c", "cat " + name + "; curl x"]),
            "other module": lambda: __import__("other_mod"),
            "other exec": lambda: subprocess.run(["/bin/echo", "hi"]),
        }
        for label, attempt in neighbours.items():
            try:
                attempt()
            except sandbox.SandboxViolation as exc:
                blocked[label] = isinstance(exc, (PermissionError, ImportError))
        print("RESULT " + json.dumps({"blocked": blocked}))
    """
)


def _listener() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)  # connections complete in the backlog; nothing needs to accept
    return server


def _env(task: Path, scratch: Path, observations: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "AWS_"))}
    env.update(
        LAMBDA_TASK_ROOT=str(task),
        AWS_LAMBDA_FUNCTION_NAME=FUNCTION,
        TMPDIR=str(scratch),
        SANDBOX_SECCOMP="off",
        SANDBOX_LANDLOCK="off",
        PYTHONDONTWRITEBYTECODE="1",
    )
    if observations is not None:
        env["SANDBOX_OBSERVATIONS_FILE"] = str(observations)
    return env


def test_parallel_learn_build_is_order_independent_and_enforce_blocks_neighbours(
    tmp_path: Path,
) -> None:
    # GIVEN a function's code directory, a scratch dir and two loopback listeners
    task = tmp_path / "task"
    task.mkdir()
    (task / "helper_mod.py").write_text("VALUE = 1\n")
    (task / "other_mod.py").write_text("VALUE = 2\n")
    (task / "data.txt").write_text("data\n")
    (task / "secret.txt").write_text("secret\n")
    (task / "fn.py").write_text(SCRIPT)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    obs_dir = tmp_path / "obs"
    obs_dir.mkdir()
    server, other = _listener(), _listener()
    port, other_port = server.getsockname()[1], other.getsockname()[1]
    try:
        # WHEN N processes learn in parallel, each writing its own observations file
        procs = [
            subprocess.Popen(
                [sys.executable, str(task / "fn.py"), "learn", "-", str(port), str(other_port)],
                cwd=task,
                env=_env(task, scratch, obs_dir / f"env{i}.jsonl"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(WORKERS)
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        for p, (_out, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, err
        # THEN observations went to the files and to stdout
        assert all('"sandbox.observation"' in out for out, _ in outputs)
        files = sorted(str(p) for p in obs_dir.iterdir())
        assert len(files) == WORKERS

        # WHEN built from the files in two different orders THEN the profiles are byte-identical
        forward, report = build_profile(FUNCTION, files, warn=lambda m: None)
        backward, _ = build_profile(FUNCTION, list(reversed(files)), warn=lambda m: None)
        assert forward.to_json() == backward.to_json()
        assert report.ceiling_denied == []
        # AND built from the stdout captures, the same rules come out (other lines skipped)
        for i, (out, _) in enumerate(outputs):
            (tmp_path / f"stdout{i}.log").write_text(out)
        from_stdout, stdout_report = build_profile(
            FUNCTION,
            [str(tmp_path / f"stdout{i}.log") for i in range(WORKERS)],
            warn=lambda m: None,
        )
        assert (
            from_stdout.rules == forward.rules
            and stdout_report.skipped.get("foreign", 0) >= WORKERS
        )
        rules = {(c, r.action, r.target) for c, rs in forward.rules.items() for r in rs}
        assert ("files", "write", "{tmp}/tmp*") in rules
        assert ("files", "read", "{tmp}/tmp*") in rules
        assert ("files", "read", "{task}/data.txt") in rules
        assert ("modules", "import", "helper_mod") in rules
        [shell] = forward.rules["processes"]
        assert shell.argv == ["-c", "cat {tmp}/tmp*"]  # the recorder writes roots as tokens
        assert shell.coverage is not None and len(shell.coverage.environments) == WORKERS
        assert forward.learning.environments and len(forward.learning.environments) == WORKERS

        # WHEN compiled and enforced in a further process
        compiled = tmp_path / "orders.compiled.json"
        compiled.write_text(json.dumps(forward.compile(kernel=False)))
        result = subprocess.run(
            [
                sys.executable,
                str(task / "fn.py"),
                "enforce",
                str(compiled),
                str(port),
                str(other_port),
            ],
            cwd=task,
            env=_env(task, scratch, None),
            capture_output=True,
            text=True,
            timeout=60,
        )
        # THEN the learned actions (with new temp names) pass and every neighbour is blocked
        assert result.returncode == 0, result.stderr
        line = next(ln for ln in result.stdout.splitlines() if ln.startswith("RESULT "))
        blocked = json.loads(line[len("RESULT ") :])["blocked"]
        expected = [
            "read secret",
            "write task",
            "other port",
            "injected shell",
            "other module",
            "other exec",
        ]
        # (each a SandboxViolation that is also a PermissionError, or an ImportError for modules)
        assert blocked == dict.fromkeys(expected, True)
    finally:
        server.close()
        other.close()


MULTIPROCESSING_FUNCTION = textwrap.dedent(
    """
    import json, multiprocessing, os, sys

    def work(queue, lock):
        with lock:
            queue.put(21 * 2)

    def run(method):
        context = multiprocessing.get_context(method)
        queue, lock = context.Queue(), context.Lock()
        process = context.Process(target=work, args=(queue, lock))
        process.start()
        value = queue.get(timeout=30)
        process.join()
        return value

    if __name__ == "__main__":
        mode, profile, shift = sys.argv[1], sys.argv[2], int(sys.argv[3])
        # (descriptors held open: multiprocessing's helpers get other numbers than in learn)
        held = [os.open(os.devnull, os.O_RDONLY) for _ in range(shift)]
        # (imported here, not at the top: a spawned child runs this file again as
        # __mp_main__, with the sandbox installed already, which refuses a second copy)
        import sandbox
        if mode == "learn":
            sandbox.install(mode="learn")
        else:
            sandbox.install(mode="enforce", profile=profile)
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        result = {method: run(method) for method in ("fork", "spawn", "forkserver")}
        if mode == "enforce" and os.environ.get("SANDBOX_NATIVE") != "off":
            # (the native core's refusals; the Python core would make the file)
            import _multiprocessing
            neighbours = {
                "other semaphore": lambda: _multiprocessing.SemLock(1, 1, 1, "/evil-1", False),
                "remove semaphore": lambda: _multiprocessing.sem_unlink("/victim-1"),
                "semaphore at an address": lambda: _multiprocessing.SemLock._rebuild(
                    id(result), 1, 1, None
                ),
            }
            for label, attempt in neighbours.items():
                try:
                    attempt()
                    result[label] = "allowed"
                except sandbox.SandboxViolation:
                    result[label] = "blocked"
                except OSError as exc:
                    result[label] = "error " + type(exc).__name__
        print("RESULT " + json.dumps(result), flush=True)
    """
)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm on this machine")
@pytest.mark.parametrize("core", ["native", "python"])
def test_multiprocessing_learned_is_enforced_with_new_names_and_descriptors(
    tmp_path: Path, core: str
) -> None:
    # GIVEN a function that runs work in a child process through multiprocessing (fork, spawn
    # and the fork server, 3.14's default), with a queue and a lock: semaphores in /dev/shm named mp-<random>, a resource
    # tracker and spawned children started as `python -c` programs naming descriptor numbers
    task = tmp_path / "task"
    task.mkdir()
    (task / "fn.py").write_text(MULTIPROCESSING_FUNCTION)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    observations = tmp_path / "learn.jsonl"
    env = _env(task, scratch, observations)
    if core == "python":
        env["SANDBOX_NATIVE"] = "off"

    def run(mode: str, profile: str, shift: int, env: dict[str, str]) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, str(task / "fn.py"), mode, profile, str(shift)],
            cwd=task,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT "))
        result: dict[str, Any] = json.loads(line[len("RESULT ") :])
        return result

    # WHEN it is learned once, built, and enforced with other descriptors held open
    assert run("learn", "-", 0, env) == {"fork": 42, "spawn": 42, "forkserver": 42}
    profile, _report = build_profile(FUNCTION, [str(observations)], warn=lambda m: None)
    rules = {(c, r.action, r.target) for c, rs in profile.rules.items() for r in rs}
    argvs = [r.argv for r in profile.rules.get("processes", []) if r.argv]
    compiled = tmp_path / "compiled.json"
    compiled.write_text(json.dumps(profile.compile(kernel=False)))
    enforce_env = {k: v for k, v in env.items() if k != "SANDBOX_OBSERVATIONS_FILE"}
    result = run("enforce", str(compiled), 3, enforce_env)
    # THEN the rules name the semaphores and the helpers' descriptors as families, and the
    # fork server's program keeps its own "**" literal (a wildcard never matches a "*")
    assert any(argv[-1].endswith("main(*)") for argv in argvs), argvs
    assert any("main(*, *, ['__main__'], \\*\\*{" in argv[-1] for argv in argvs), argvs
    if core == "native":
        assert ("files", "write", "/dev/shm/sem.mp-*") in rules
    # AND the function runs under enforce with new names and descriptor numbers
    assert result["fork"] == result["spawn"] == result["forkserver"] == 42
    if core == "native":
        # AND the native core refuses another semaphore, a removal and an address
        assert result["other semaphore"] == "blocked"
        assert result["remove semaphore"] == "blocked"
        assert result["semaphore at an address"] == "blocked"
