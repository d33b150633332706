"""Run a handler locally under the real awslambdaric, through the layer's wrapper script."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sandbox.layer import WRAPPER, WRAPPER_NAME, stage_layer
from sandbox.local.runtime_api import Invocation, InvocationResult, RuntimeAPIServer

__all__ = ["MODES", "RunResult", "default_wrapper", "run_function"]

MODES = ("off", "learn", "alert", "enforce")
# Parent variables a local run passes on: what a process needs to run at all, credentials and
# endpoints for AWS calls (Lambda provides these too), and the sandbox's own settings.
_PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
_PASS_THROUGH_PREFIXES = ("AWS_", "SANDBOX_")
# Upper bound on waiting for the log reader to catch up (normally well under a millisecond;
# generous so a loaded machine does not reorder the log).
_DRAIN_S = 5.0
# Longest single sleep of the thread that runs run_function. CPython acts on a signal only when
# the main thread next executes bytecode: a SIGINT that arrives just before the main thread
# enters a blocking lock wait (or that the kernel hands to another thread) does not wake that
# wait, and Ctrl-C would go unnoticed until it times out, which for a function can be many
# minutes. Every wait of the caller's thread is therefore sliced to at most this long.
_SLICE_S = 0.1


def default_wrapper() -> Path:
    """The exec wrapper script as the runtime package ships it (``sandbox/runtime/sandbox-wrapper``).

    Returns
    -------
    Path
        The wrapper inside the installed (or checked-out) runtime package.
    """
    return WRAPPER


@dataclass
class RunResult:
    """Outcome of :func:`run_function`.

    Attributes
    ----------
    results : list[InvocationResult]
        One per event, in order: the response, or the error (function error, init error,
        ``Sandbox.Timedout``, ``Runtime.ExitError``).
    log : list[str]
        The log stream as CloudWatch would hold it: platform lines (``START``, ``END``,
        ``REPORT``, timeouts, exits) and the process's stdout+stderr, one item per line.
    init_errors : list[InvocationResult]
        Init errors posted by the runtime, one per failed initialisation.
    cold_starts : int
        Runtime processes started (1 when every event ran in one warm process).
    exit_codes : list[int | None]
        Exit status of each runtime process (negative: killed by that signal).
    """

    results: list[InvocationResult] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    init_errors: list[InvocationResult] = field(default_factory=list)
    cold_starts: int = 0
    exit_codes: list[int | None] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every invocation succeeded."""
        return all(r.ok for r in self.results)


class _LogPump(threading.Thread):
    """Read the runtime's merged stdout/stderr line by line into a shared log.

    ``drain()`` waits until everything written to the pipe before the call has been read, so
    platform lines (``END``...) land after the output of the invocation they close.
    """

    def __init__(self, stream: IO[bytes], emit: Callable[[str], None]):
        super().__init__(name="runtime-log", daemon=True)
        self._fd = stream.fileno()
        self._stream = stream
        self._emit = emit
        self._wake_r, self._wake_w = os.pipe()
        self._cond = threading.Condition()
        self._idle_seq = 0
        self._eof = False

    def run(self) -> None:
        pending = b""
        drain_requested = False
        try:
            while True:
                # A pending drain must not wait for new output: poll, then report idle.
                timeout = 0 if drain_requested else None
                ready, _, _ = select.select([self._fd, self._wake_r], [], [], timeout)
                if self._wake_r in ready:
                    os.read(self._wake_r, 4096)
                    drain_requested = True
                if self._fd in ready or select.select([self._fd], [], [], 0)[0]:
                    chunk = os.read(self._fd, 65536)
                    if not chunk:
                        break
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        self._emit(line.decode("utf-8", "replace"))
                    continue
                if drain_requested:
                    drain_requested = False
                    with self._cond:
                        self._idle_seq += 1
                        self._cond.notify_all()
        finally:
            if pending:
                self._emit(pending.decode("utf-8", "replace"))
            with self._cond:
                self._eof = True
                self._cond.notify_all()
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._stream.close()

    def drain(self, timeout: float = _DRAIN_S) -> None:
        """Wait until the pipe has been read up to this moment (or EOF, or ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._eof:
                return
            target = self._idle_seq + 1
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
            while not (self._eof or self._idle_seq >= target):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(min(remaining, _SLICE_S))


def _workers(env: dict[str, str]) -> int:
    """How many workers a runtime with this environment runs: ``AWS_LAMBDA_MAX_CONCURRENCY``
    (awslambdaric's multi-concurrency mode), else one.

    Example
    -------
    >>> _workers({"AWS_LAMBDA_MAX_CONCURRENCY": "4"}), _workers({})
    (4, 1)
    """
    try:
        return max(1, int(env.get("AWS_LAMBDA_MAX_CONCURRENCY", "1")))
    except ValueError:
        return 1


class _Environment:
    """One execution environment: a Runtime API server plus one runtime process."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path, server: RuntimeAPIServer):
        self.server = server
        self.started_at = time.monotonic()
        self.exited: Future[int] = Future()
        # Set once the runtime fetched its first event: init is over.
        self.initialised = False
        # Workers the runtime runs (awslambdaric's multi-concurrency mode: one per event at
        # most AWS_LAMBDA_MAX_CONCURRENCY at a time)
        self.workers = _workers(env)
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own process group: a timeout kills the runtime and anything it spawned.
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        self.pump: _LogPump | None = None
        self._stdout = self.proc.stdout
        self._waiter = threading.Thread(target=self._wait, name="runtime-wait", daemon=True)

    def start_threads(self, emit: Callable[[str], None]) -> None:
        self.pump = _LogPump(self._stdout, emit)
        self.pump.start()
        self._waiter.start()

    def _wait(self) -> None:
        self.exited.set_result(self.proc.wait())

    def drain(self) -> None:
        if self.pump is not None:
            self.pump.drain()

    def max_memory_mb(self) -> int | None:
        """Peak RSS of the runtime process (VmHWM), while it is alive."""
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) // 1024
        except (OSError, ValueError, IndexError):
            return None
        return None

    def kill(self) -> None:
        """Kill the runtime's process group (only the processes this run started)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def close(self) -> None:
        self.kill()
        if self.pump is not None:
            _join(self.pump, _DRAIN_S)
        self.server.close()


def _wait_first(futures: Sequence[Future[Any]], timeout: float) -> None:
    """Return when one of ``futures`` is done or after ``timeout`` seconds, whichever is first.

    ``concurrent.futures.wait`` sleeps in one lock acquire, which a SIGINT recorded just before
    it (or delivered to another thread) does not wake; this wakes up every ``_SLICE_S``, so a
    pending KeyboardInterrupt is raised within that time (see ``_SLICE_S``).
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        done, _ = wait(
            futures, timeout=max(0.0, min(remaining, _SLICE_S)), return_when=FIRST_COMPLETED
        )
        if done or remaining <= _SLICE_S:
            return


def _join(thread: threading.Thread, timeout: float) -> None:
    """``thread.join(timeout)`` in slices of at most ``_SLICE_S`` (see ``_SLICE_S``)."""
    deadline = time.monotonic() + timeout
    while thread.is_alive():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        thread.join(min(remaining, _SLICE_S))


def _exit_description(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name.removeprefix("SIG").lower()
        except ValueError:
            name = str(-code)
        if name == "kill":
            name = "killed"
        return f"signal: {name}"
    return f"exit status {code}"


def _iso_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def run_function(
    handler: str,
    events: Sequence[bytes],
    *,
    code_dir: Path,
    mode: str = "off",
    profile: Path | None = None,
    log_file: Path | None = None,
    timeout_s: float = 30.0,
    init_timeout_s: float = 10.0,
    env: Mapping[str, str] | None = None,
    function_name: str = "sandbox-local",
    memory_mb: int = 128,
    region: str = "us-east-1",
    layer: Path | None = None,
    wrapper: Path | None = None,
    python: str = sys.executable,
    on_log_line: Callable[[str], None] | None = None,
    on_result: Callable[[int, InvocationResult], None] | None = None,
) -> RunResult:
    """Run ``handler`` on ``events`` under the real awslambdaric, as Lambda would.

    The events go, in order, to one warm runtime process started as
    ``[wrapper, python, "-m", "awslambdaric", handler]`` with ``AWS_LAMBDA_EXEC_WRAPPER`` set,
    talking to a loopback Runtime API. As in Lambda, an environment that timed out, crashed or
    failed to initialise is discarded and the next event starts a fresh one (a cold start).
    Nothing here blocks without a bound: every invocation ends with a response, an error,
    ``Sandbox.Timedout`` or ``Runtime.ExitError``.

    Parameters
    ----------
    handler : str
        Handler string, ``module.function`` (``pkg/module.function`` also works).
    events : sequence of bytes
        Event bodies (JSON), one invocation each.
    code_dir : Path
        The function's code (``LAMBDA_TASK_ROOT`` and working directory).
    mode : str
        ``SANDBOX_MODE``: ``off``, ``learn``, ``alert`` or ``enforce``.
    profile : Path, optional
        ``SANDBOX_PROFILE`` (compiled profile); unset by default.
    log_file : Path, optional
        Write the log stream here, line by line as it is produced (its directory is created).
    timeout_s : float
        Function timeout per invocation, counted from when the runtime fetches the event.
    init_timeout_s : float
        Limit on initialisation (process start until it asks for the first event).
    env : mapping, optional
        Function environment variables; override everything else.
    function_name : str
        ``AWS_LAMBDA_FUNCTION_NAME`` (also used in the ARN and log group).
    memory_mb : int
        ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``.
    region : str
        ``AWS_REGION`` / ``AWS_DEFAULT_REGION``.
    layer : Path, optional
        The run's ``/opt``: a layer laid out as Lambda extracts it (``sandbox-wrapper``,
        ``python/``). Its ``python/`` directory is importable, as ``/opt/python`` is in Lambda.
        By default the layer is staged afresh from this package's runtime into a temporary
        directory (:func:`sandbox.layer.stage_layer`): what runs is what the layer ships.
    wrapper : Path, optional
        ``AWS_LAMBDA_EXEC_WRAPPER``; the layer's ``sandbox-wrapper`` by default.
    python : str
        Interpreter with awslambdaric installed; this one by default.
    on_log_line : callable, optional
        Called with each log line as it arrives (from a reader thread).
    on_result : callable, optional
        Called with ``(index, result)`` as each invocation finishes, in event order (results
        stream: an interrupted run has reported every invocation that finished).

    Returns
    -------
    RunResult
        Results in event order, the log and process statistics.

    Raises
    ------
    ValueError
        On an unknown mode or a bad argument.
    FileNotFoundError, PermissionError
        When the code dir or the wrapper is missing, or the wrapper is not executable.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    if timeout_s <= 0 or init_timeout_s <= 0:
        raise ValueError("timeouts must be positive")
    code_dir = Path(code_dir).resolve()
    if not code_dir.is_dir():
        raise FileNotFoundError(f"code dir {code_dir} is not a directory")
    staged: tempfile.TemporaryDirectory[str] | None = None
    if layer is None:
        staged = tempfile.TemporaryDirectory(prefix="sandbox-local-opt-")
        layer = Path(staged.name)
        stage_layer(layer)
    layer = Path(layer).absolute()
    # absolute(), not resolve(): the wrapper finds its layer from $0, as in Lambda.
    wrapper = Path(wrapper).absolute() if wrapper is not None else layer / WRAPPER_NAME
    if not wrapper.is_file():
        raise FileNotFoundError(f"wrapper {wrapper} not found")
    if not os.access(wrapper, os.X_OK):
        raise PermissionError(f"wrapper {wrapper} is not executable (Lambda execs it directly)")

    arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
    base_env = _function_env(
        handler=handler,
        code_dir=code_dir,
        mode=mode,
        profile=profile,
        function_name=function_name,
        memory_mb=memory_mb,
        region=region,
        wrapper=wrapper,
        layer=layer,
        extra=env,
    )
    cmd = [str(wrapper), python, "-m", "awslambdaric", handler]

    result = RunResult()
    log_lock = threading.Lock()
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    log_fh = open(log_file, "w", encoding="utf-8") if log_file is not None else None  # noqa: SIM115

    def emit(line: str) -> None:
        with log_lock:
            result.log.append(line)
            # A reader thread can outlive the run (a grandchild holding the pipe open).
            if log_fh is not None and not log_fh.closed:
                log_fh.write(line + "\n")
                log_fh.flush()
            if on_log_line is not None:
                on_log_line(line)

    current: _Environment | None = None
    try:
        for event in events:
            outcome: InvocationResult | None = None
            while outcome is None:
                if current is None or current.exited.done():
                    if current is not None:
                        current.close()
                        result.exit_codes.append(current.proc.returncode)
                    current = _start_environment(cmd, base_env, code_dir, arn, timeout_s, emit)
                    result.cold_starts += 1
                # None: a warm environment died before taking the event (e.g. it crashed
                # right after its previous response). Lambda would route the event to a new
                # environment; so do we. A cold one always yields an outcome: no loop.
                outcome, init_error = _invoke(
                    current, event, timeout_s, init_timeout_s, memory_mb, emit
                )
                if init_error is not None:
                    result.init_errors.append(init_error)
            result.results.append(outcome)
            if on_result is not None:
                on_result(len(result.results) - 1, outcome)
    finally:
        if current is not None:
            current.close()
            result.exit_codes.append(current.proc.returncode)
        if log_fh is not None:
            with log_lock:
                log_fh.close()
        if staged is not None:
            staged.cleanup()
    return result


def _start_environment(
    cmd: list[str],
    base_env: dict[str, str],
    code_dir: Path,
    arn: str,
    timeout_s: float,
    emit: Callable[[str], None],
) -> _Environment:
    """Start a Runtime API server and a runtime process talking to it."""
    server = RuntimeAPIServer(function_arn=arn, timeout_s=timeout_s).start()
    proc_env = dict(base_env, AWS_LAMBDA_RUNTIME_API=server.address)
    emit(f"INIT_START Runtime Version: python:{_py_version(cmd[1])} (local)")
    envt = _Environment(cmd, proc_env, code_dir, server)
    envt.start_threads(emit)

    def on_next(invocation: Invocation) -> None:
        # Runs before the event is handed over, so START precedes anything the handler
        # prints; draining first keeps init output before it.
        envt.drain()
        emit(f"START RequestId: {invocation.request_id} Version: $LATEST")

    server.on_next = on_next
    return envt


def _invoke(
    envt: _Environment,
    event: bytes,
    timeout_s: float,
    init_timeout_s: float,
    memory_mb: int,
    emit: Callable[[str], None],
) -> tuple[InvocationResult | None, InvocationResult | None]:
    """Run one invocation; return its result (None: not delivered) and any init error."""
    server = envt.server
    cold = not envt.initialised
    if cold and envt.workers > 1:
        # A runtime in multi-concurrency mode forks its workers, each with an init of its own:
        # the first event goes out once all of them wait for one (or the init limit is up), so
        # that one worker does not take every event while another is still starting.
        server.wait_ready(
            envt.workers, max(0.0, envt.started_at + init_timeout_s - time.monotonic())
        )
    submitted = time.monotonic()
    invocation = server.submit(event)
    rid = invocation.request_id

    # Phase 1: wait for the runtime to fetch the event. In a cold environment that is init,
    # bounded by the init limit; in a warm one the function's clock is already running.
    deadline = envt.started_at + init_timeout_s if cold else submitted + timeout_s
    waiters: list[Future[Any]] = [invocation.started, server.init_error, envt.exited]
    _wait_first(waiters, max(0.0, deadline - time.monotonic()))
    if not invocation.started.done():
        if server.init_error.done():
            init_error = server.init_error.result()
            envt.kill()
            envt.drain()
            emit(
                f"INIT_REPORT Init Duration: {(time.monotonic() - envt.started_at) * 1000:.2f} ms"
                f"\tPhase: init\tStatus: error\tError Type: {init_error.error_type}"
            )
            return InvocationResult(rid, init_error.payload, init_error.error_type), init_error
        if envt.exited.done():
            envt.drain()
            if not cold:
                return None, None
            return _exit_error(emit, rid, envt.exited.result()), None
        envt.kill()
        envt.drain()
        if cold:
            message = f"RequestId: {rid} Error: Init timed out after {init_timeout_s:.2f} seconds"
            emit(f"{_iso_now()} {message}")
            emit(
                f"INIT_REPORT Init Duration: {init_timeout_s * 1000:.2f} ms\tPhase: init"
                "\tStatus: timeout"
            )
            return InvocationResult.error(rid, "Sandbox.Timedout", message), None
        message = f"RequestId: {rid} Error: Task timed out after {timeout_s:.2f} seconds"
        emit(f"{_iso_now()} {message}")
        return InvocationResult.error(rid, "Sandbox.Timedout", message), None

    started = invocation.started.result()
    init_ms = (started - envt.started_at) * 1000 if cold else None
    envt.initialised = True

    # Phase 2: wait for the response, an exit or the deadline.
    deadline = (started if cold else submitted) + timeout_s
    phase2: list[Future[Any]] = [invocation.result, envt.exited]
    _wait_first(phase2, max(0.0, deadline - time.monotonic()))
    duration_ms = (time.monotonic() - started) * 1000
    memory = envt.max_memory_mb()
    status = ""
    if invocation.result.done():
        outcome = invocation.result.result()
        envt.drain()
    elif envt.exited.done():
        envt.drain()
        outcome = _exit_error(emit, rid, envt.exited.result())
        status = "\tStatus: error\tError Type: Runtime.ExitError"
    else:
        envt.kill()
        envt.drain()
        message = f"RequestId: {rid} Error: Task timed out after {timeout_s:.2f} seconds"
        emit(f"{_iso_now()} {message}")
        outcome = InvocationResult.error(rid, "Sandbox.Timedout", message)
        status = "\tStatus: timeout"
        duration_ms = timeout_s * 1000
    _report(emit, rid, duration_ms, memory_mb, memory, init_ms, status)
    return outcome, None


def _exit_error(emit: Callable[[str], None], rid: str, code: int) -> InvocationResult:
    message = f"RequestId: {rid} Error: Runtime exited with error: {_exit_description(code)}"
    emit(message)
    return InvocationResult.error(rid, "Runtime.ExitError", message)


def _report(
    emit: Callable[[str], None],
    rid: str,
    duration_ms: float,
    memory_mb: int,
    used_mb: int | None,
    init_ms: float | None,
    status: str,
) -> None:
    emit(f"END RequestId: {rid}")
    line = (
        f"REPORT RequestId: {rid}\tDuration: {duration_ms:.2f} ms"
        f"\tBilled Duration: {max(1, int(duration_ms + 0.999))} ms"
        f"\tMemory Size: {memory_mb} MB"
    )
    if used_mb is not None:
        line += f"\tMax Memory Used: {used_mb} MB"
    if init_ms is not None:
        line += f"\tInit Duration: {init_ms:.2f} ms"
    emit(line + status)


def _py_version(python: str) -> str:
    if python == sys.executable:
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    return "unknown"


def _function_env(
    *,
    handler: str,
    code_dir: Path,
    mode: str,
    profile: Path | None,
    function_name: str,
    memory_mb: int,
    region: str,
    wrapper: Path,
    layer: Path,
    extra: Mapping[str, str] | None,
) -> dict[str, str]:
    """The runtime process's environment, modelled on Lambda's reserved variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in _PASS_THROUGH or k.startswith(_PASS_THROUGH_PREFIXES)
    }
    # The parent's own PYTHONPATH/virtualenv settings are deliberately not inherited: the
    # function sees what Lambda would give it plus what the caller passes in `extra`.
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    # As in Lambda: the code directory first, then the layers' python/ directory.
    path_entries = [str(code_dir), str(layer / "python")]
    env.update(
        {
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(code_dir),
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]local"),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{py}",
            "AWS_LAMBDA_EXEC_WRAPPER": str(wrapper),
            "PYTHONPATH": os.pathsep.join(path_entries),
            # Output before awslambdaric installs its unbuffered streams survives a crash.
            "PYTHONUNBUFFERED": "1",
            "TZ": ":UTC",
            "SANDBOX_MODE": mode,
        }
    )
    if profile is not None:
        env["SANDBOX_PROFILE"] = str(Path(profile).resolve())
    else:
        env.pop("SANDBOX_PROFILE", None)
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    if extra:
        env.update(extra)
    return env
