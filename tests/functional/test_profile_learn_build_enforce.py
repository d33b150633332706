"""Learn in parallel processes → build (order-independent, byte-identical) → compile → enforce."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

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
