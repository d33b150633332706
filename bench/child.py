"""Benchmark children: ``python -m bench.child SPEC.json`` runs one measurement in a fresh process.

Audit hooks cannot be removed, so every measurement runs in a process of its own. A child reads
a JSON spec (task, mode, sizes, paths), measures, and writes its figures as JSON to an inherited
file descriptor; its stdout (the sandbox's observations and findings) goes wherever the parent
sent it. Only the standard library is imported at module level: the same file runs under the
separate ddtrace venv, where the ``sandbox`` package is not installed.

Modes
-----
``off``
    Nothing installed.
``floor``
    ``sys.addaudithook(lambda event, args: None)``: the cost of any Python-level hook.
``floor-c``
    An audit hook in C that does nothing (libc's ``memcmp`` with a zero length, added with
    ``PySys_AddAuditHook`` through ctypes): what CPython itself spends on each audit event
    once any hook exists (the argument tuple built and freed), the least any hook costs.
``learn`` / ``alert`` / ``enforce``
    ``sandbox.install(mode=..., profile=...)`` (``enforce`` also loads the seccomp filter).
``enforce-hook``
    ``enforce`` with ``SANDBOX_SECCOMP=off`` and ``SANDBOX_LANDLOCK=off``: the audit hook's
    share of enforce.
``enforce-py`` / ``enforce-hook-py`` (any sandbox mode with ``-py``)
    The same with ``SANDBOX_NATIVE=off``: the pure-Python fallback core instead of the native
    one (set before anything imports ``sandbox``, which picks its core at import).
``ddtrace``
    ``import ddtrace.auto`` with AppSec and exploit prevention (RASP) on (ddtrace venv only).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

SANDBOX_MODES = ("learn", "alert", "enforce", "enforce-hook")
PYTHON_CORE = "-py"  # a sandbox mode with this suffix runs the Python fallback core


def mode_environment(mode: str) -> dict[str, str]:
    """The sandbox settings a mode needs in the environment before ``sandbox`` is imported.

    Parameters
    ----------
    mode : str
        One of the modes in the module docstring.

    Returns
    -------
    dict
        ``SANDBOX_NATIVE=off`` for the ``-py`` modes; the kernel layers off for ``enforce-hook``.

    Example
    -------
    >>> mode_environment("enforce-hook-py")["SANDBOX_NATIVE"]
    'off'
    """
    env: dict[str, str] = {}
    if mode.endswith(PYTHON_CORE):
        env["SANDBOX_NATIVE"] = "off"
        mode = mode[: -len(PYTHON_CORE)]
    if mode == "enforce-hook":
        env["SANDBOX_SECCOMP"] = env["SANDBOX_LANDLOCK"] = "off"
    return env


def install_mode(mode: str, profile: str | None) -> dict[str, Any]:
    """Install the instrumentation of ``mode`` in this process.

    Parameters
    ----------
    mode : str
        One of the modes in the module docstring.
    profile : str or None
        Compiled profile for the sandbox modes (``None``: learn from the base bundles).

    Returns
    -------
    dict
        What was installed (the sandbox's start status, or a short description).
    """
    if mode == "off":
        return {"mode": "off"}
    if mode == "floor":
        sys.addaudithook(lambda event, args: None)
        return {"mode": "floor"}
    if mode == "floor-c":
        _add_empty_c_hook()
        return {"mode": "floor-c"}
    if mode == "ddtrace":
        import ddtrace.auto  # noqa: F401  (patches boto3, urllib, logging; starts AppSec)

        return {"mode": "ddtrace"}
    python_core = mode.endswith(PYTHON_CORE)
    base = mode[: -len(PYTHON_CORE)] if python_core else mode
    if base in SANDBOX_MODES:
        os.environ.update(mode_environment(mode))  # main() set them already: a no-op there
        import sandbox

        status = dict(
            sandbox.install(mode="enforce" if base == "enforce-hook" else base, profile=profile)
        )
        audit = (status.get("layers") or {}).get("audit")
        if python_core and audit != "python":
            raise RuntimeError(f"{mode}: the sandbox runs the {audit} core, not the Python one")
        return status
    raise ValueError(f"unknown mode {mode!r}")


def _add_empty_c_hook() -> None:
    """Add libc's ``memcmp`` as an audit hook: called as ``memcmp(event, args, NULL)``, it
    compares zero bytes and returns 0 (carry on), so the hook does nothing at all."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    memcmp = ctypes.cast(libc.memcmp, ctypes.c_void_p)
    add = ctypes.pythonapi.PySys_AddAuditHook
    add.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    add.restype = ctypes.c_int
    if add(memcmp, None) != 0:
        raise RuntimeError("PySys_AddAuditHook refused the empty C hook")


def best_per_op(run: Callable[[int], float], n: int, batches: int) -> float:
    """Nanoseconds per operation: the fastest of ``batches`` batches of ``n`` operations.

    Parameters
    ----------
    run : callable
        ``run(n)`` performs ``n`` operations and returns the elapsed seconds.
    n : int
        Operations per batch.
    batches : int
        Batches; the minimum is the least noisy estimate of the cost (timeit's convention).

    Returns
    -------
    float
        Nanoseconds per operation.
    """
    return min(run(n) for _ in range(batches)) / n * 1e9


# --------------------------------------------------------------------------- micro


def _loop_call(fn: Callable[[], Any]) -> Callable[[int], float]:
    def run(n: int) -> float:
        rng = range(n)
        start = time.perf_counter()
        for _ in rng:
            fn()
        return time.perf_counter() - start

    return run


def _loop_id() -> Callable[[int], float]:
    obj = object()

    def run(n: int) -> float:
        rng = range(n)
        start = time.perf_counter()
        for _ in rng:
            id(obj)
        return time.perf_counter() - start

    return run


def _open_same(path: str) -> Callable[[int], float]:
    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            with open(path, "rb"):
                pass
        return time.perf_counter() - start

    return run


def _open_each(paths: list[str]) -> Callable[[int], float]:
    remaining = list(paths)

    def run(n: int) -> float:
        batch, remaining[:n] = remaining[:n], []
        start = time.perf_counter()
        for path in batch:
            with open(path, "rb"):
                pass
        return time.perf_counter() - start

    return run


def _connect(port: int) -> Callable[[int], float]:
    import socket

    socket_ = socket.socket
    address = ("127.0.0.1", port)

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            s = socket_()
            s.connect(address)
            s.close()
        return time.perf_counter() - start

    return run


def _import_each(names: list[str]) -> Callable[[int], float]:
    remaining = list(names)

    def run(n: int) -> float:
        batch, remaining[:n] = remaining[:n], []
        start = time.perf_counter()
        for name in batch:
            __import__(name)
        return time.perf_counter() - start

    return run


def _spawn(executable: str) -> Callable[[int], float]:
    import subprocess

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            subprocess.run([executable], check=True)
        return time.perf_counter() - start

    return run


def micro_phase(spec: dict[str, Any], tag: str) -> dict[str, float]:
    """Run every per-event microbenchmark once; ``tag`` picks the fresh files/modules to use.

    Parameters
    ----------
    spec : dict
        ``sizes`` (operations per benchmark), ``data`` (file/module layout), ``port``.
    tag : str
        ``"a"`` (before install) or ``"b"`` (after): first-decision files and imported modules
        must be new to the process, so each phase has its own set.

    Returns
    -------
    dict[str, float]
        Nanoseconds per operation by benchmark name.
    """
    sizes = spec["sizes"]
    data = spec["data"]
    k = sizes["batches"]
    benches: dict[str, Callable[[], float]] = {
        "ignored_getframe": lambda: best_per_op(_loop_call(sys._getframe), sizes["ignored"], k),
        "ignored_id": lambda: best_per_op(_loop_id(), sizes["ignored"], k),
        "open_cached": lambda: best_per_op(_open_same(data["same_file"]), sizes["open"], k),
        "open_first": lambda: best_per_op(
            _open_each(data["files"][tag]), len(data["files"][tag]) // k, k
        ),
        "connect": lambda: best_per_op(_connect(spec["port"]), sizes["connect"], k),
        "import": lambda: best_per_op(
            _import_each(data["modules"][tag]), len(data["modules"][tag]) // k, k
        ),
        "import_tmp": lambda: best_per_op(
            _import_each(data["modules_tmp"][tag]), len(data["modules_tmp"][tag]) // k, k
        ),
        "subprocess": lambda: best_per_op(_spawn(data["true"]), sizes["subprocess"], 3),
    }
    return {name: benches[name]() for name in spec.get("benches", benches)}


def task_micro(spec: dict[str, Any]) -> dict[str, Any]:
    """Microbenchmarks before (no hook) and after installing ``spec["mode"]``, in one process.

    Measuring ``off`` and the mode in the same process removes the process-to-process spread
    (address layout, CPU frequency) from the overhead, which is the difference of the two.
    """
    import socket

    sys.path.insert(0, spec["data"]["modules_tmp_dir"])
    sys.path.insert(0, spec["data"]["modules_dir"])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", spec["port"]))
    listener.listen(4096)  # never accepted: the kernel completes the handshakes
    for package in spec["data"]["packages"]:
        __import__(package)
    before = micro_phase(spec, "a")
    status = install_mode(spec["mode"], spec.get("profile"))
    after = micro_phase(spec, "b")
    if "import" in spec.get("benches", ()):
        # Modules new to the process imported in an invocation (lazy imports, a client made on
        # the first request): the sandbox's invoke phase decides them apart from init's. Their
        # baseline is the same set of imports before the install (phase "a").
        if isinstance(status.get("layers"), dict):
            from sandbox.runtime.control import mark_invoke_phase

            mark_invoke_phase()
        modules = spec["data"]["modules"]["c"]
        k = spec["sizes"]["batches"]
        after["import_invoke"] = best_per_op(_import_each(modules), len(modules) // k, k)
        before["import_invoke"] = before["import"]
    listener.close()
    return {"before": before, "after": after, "status": _short_status(status)}


def _short_status(status: dict[str, Any]) -> dict[str, Any]:
    return {k: status[k] for k in ("mode", "layers", "init_ms") if k in status}


# --------------------------------------------------------------------------- handler


class Context:
    """The parts of a Lambda context object the example handlers read."""

    function_name = "orders"
    function_version = "$LATEST"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders"

    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _who(event: dict[str, Any]) -> dict[str, Any]:
    identity = (event.get("requestContext") or {}).get("identity") or {}
    return {"source_ip": identity.get("sourceIp"), "user_agent": identity.get("userAgent")}


def _profile_sink(spec: dict[str, Any]) -> Any:
    """The cProfile output, opened *before* any instrumentation (writing it later would be a
    file write the profile does not allow, and no part of the measured function)."""
    return open(spec["cprofile"], "wb") if spec.get("cprofile") else None


def _dump_profile(profiler: Any, sink: Any) -> None:
    import marshal

    profiler.create_stats()
    marshal.dump(profiler.stats, sink)  # what Profile.dump_stats writes; pstats reads it
    sink.close()


def _prime_tempdir() -> None:
    """Resolve ``tempfile.gettempdir()`` before any instrumentation.

    Its first call writes a probe file with a random 8-character name into the temp dir;
    the profile generaliser keeps such a name literally (a product gap reported in
    docs/BENCHMARKS.md), so a learned profile would block the next process's probe. Lambda
    functions hit the same thing; the benchmark sidesteps it to measure the steady state.
    """
    import tempfile

    tempfile.gettempdir()


def _load_handler(spec: dict[str, Any]) -> tuple[Callable[[Any, Any], Any], float]:
    """Import the function's module (its init phase) and return the handler and the seconds."""
    import logging

    # As awslambdaric does: a handler on the root logger, so logger.info really formats.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(levelname)s %(message)s")
    sys.path.insert(0, spec["code_dir"])
    # No bytecode of the handler's module, in any mode: where the checkout sits in the temp dir
    # (a fresh clone in CI), a profile that writes there makes its folder one the function may
    # write, and the sandbox rightly runs no bytecode from such a folder (the import would be
    # refused). The parent removes what an earlier run left (bench.fixtures.no_handler_bytecode).
    sys.dont_write_bytecode = True
    start = time.perf_counter()
    module = __import__(spec["module"])
    elapsed = time.perf_counter() - start
    return getattr(module, spec["function"]), elapsed


def _invoke(handler: Callable[[Any, Any], Any], event: dict[str, Any], number: int) -> Any:
    request_id = f"bench-{number:06d}"
    __import__("sandbox.runtime.control", fromlist=["_"]).begin_invocation(request_id, _who(event))
    try:
        result = handler(event, Context(request_id))
    finally:
        __import__("sandbox.runtime.control", fromlist=["_"]).end_invocation()
    if not (isinstance(result, dict) and result.get("statusCode") == 201):
        raise RuntimeError(f"handler failed: {result!r}")
    return result


def _memory() -> dict[str, float]:
    import resource

    out = {"ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    try:
        import psutil

        out["rss_mb"] = psutil.Process().memory_info().rss / 2**20
    except ImportError:  # psutil comes with the `bench` extra; /proc says the same
        with open("/proc/self/statm") as handle:
            out["rss_mb"] = int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return out


def task_e2e(spec: dict[str, Any]) -> dict[str, Any]:
    """The example handler, many invocations in one warm process; also RSS and peak RSS."""
    os.environ.update(spec["env"])
    try:
        import psutil  # noqa: F401  (the harness's, imported before any instrumentation)
    except ImportError:
        pass
    events = [json.loads(e) for e in spec["events"]]
    _prime_tempdir()
    sink = _profile_sink(spec)
    started = time.perf_counter()
    status = install_mode(spec["mode"], spec.get("profile"))
    installed = time.perf_counter()
    handler, _ = _load_handler(spec)
    init_done = time.perf_counter()
    __import__("sandbox.runtime.control", fromlist=["_"]).mark_invoke_phase()
    for i in range(spec["warm"]):
        _invoke(handler, events[i % len(events)], i)
    if spec.get("young_gc_only"):
        _young_collections_only()
    profiler = None
    if spec.get("cprofile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    times: list[float] = []
    cpu: list[float] = []
    for i in range(spec["invocations"]):
        t0 = time.perf_counter()
        c0 = time.process_time()
        _invoke(handler, events[i % len(events)], spec["warm"] + i)
        cpu.append((time.process_time() - c0) * 1e3)
        times.append((time.perf_counter() - t0) * 1e3)
    if profiler is not None:
        profiler.disable()
        _dump_profile(profiler, sink)
    times.sort()
    cpu.sort()
    return {
        "cpu_median_ms": cpu[len(cpu) // 2],
        "status": _short_status(status),
        "install_ms": (installed - started) * 1e3,
        "init_ms": (init_done - started) * 1e3,
        "invocation_ms": times,
        "median_ms": times[len(times) // 2],
        **_memory(),
    }


def _young_collections_only() -> None:
    """From here on, no full collection (bench.instructions, every mode alike).

    Where a full collection falls in a window of counted calls depends on when the process
    allocated what (the sandbox's own objects move it), and one costs ~20M instructions in a
    process with boto3 loaded: in one window of one mode and not in the other's, it decided
    the ratio. Its cost spread over the calls does not depend on how many objects there are
    (more objects: each costs more, and comes less often). The young generations are still
    collected as they fill.
    """
    import gc

    gc.collect()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 1 << 30)


def _import_runtime_client() -> None:
    """Import the Lambda runtime client's entry module, as the runtime does before any layer."""
    try:
        import awslambdaric.bootstrap  # noqa: F401
    except ImportError:  # pragma: no cover - a dev install has it (the tests' runtime client)
        pass


def task_cold(spec: dict[str, Any]) -> dict[str, Any]:
    """Cold start: sandbox init, ``import boto3``, the function's init and its first call.

    ``spec["spawned"]`` is the parent's ``time.monotonic()`` just before it started this
    process (``CLOCK_MONOTONIC`` is system-wide on Linux), so ``to_first_call_ms`` includes the
    interpreter's own start.

    The runtime client is imported first, in every mode, as on Lambda: there the layer's
    bootstrap is the handler module ``awslambdaric`` imports, so the standard library the
    client loads (json, logging, traceback's linecache and tokenize...) is loaded already
    when the sandbox starts; ``sandbox_init_ms`` is what the sandbox adds to that.
    """
    os.environ.update(spec["env"])
    events = [json.loads(e) for e in spec["events"]]
    _prime_tempdir()
    _import_runtime_client()
    sink = _profile_sink(spec)
    profiler = None
    if spec.get("cprofile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    install_mode(spec["mode"], spec.get("profile"))
    t1 = time.perf_counter()
    if profiler is not None:
        profiler.disable()
        _dump_profile(profiler, sink)
    import boto3  # noqa: F401

    t2 = time.perf_counter()
    handler, _ = _load_handler(spec)
    __import__("sandbox.runtime.control", fromlist=["_"]).mark_invoke_phase()
    first_call = time.monotonic()
    t3 = time.perf_counter()
    _invoke(handler, events[0], 0)
    t4 = time.perf_counter()
    return {
        "sandbox_init_ms": (t1 - t0) * 1e3,
        "import_boto3_ms": (t2 - t1) * 1e3,
        "function_init_ms": (t3 - t2) * 1e3,
        "first_invocation_ms": (t4 - t3) * 1e3,
        "to_first_call_ms": (first_call - spec["spawned"]) * 1e3,
    }


def task_boto3(spec: dict[str, Any]) -> dict[str, Any]:
    """``import boto3`` alone, with the same modules already loaded in every mode.

    The sandbox's own install imports stdlib modules that boto3 needs too (json, re, socket,
    ...); timing ``import boto3`` right after it would credit the sandbox with a faster import.
    Here every mode first imports the runtime client and ``sandbox`` (off and floor without
    installing it).
    """
    os.environ.update(spec["env"])
    _prime_tempdir()
    _import_runtime_client()
    if spec["mode"] != "ddtrace":
        import sandbox  # noqa: F401

    install_mode(spec["mode"], spec.get("profile"))
    import gc

    gc.collect()
    t0 = time.perf_counter()
    import boto3  # noqa: F401

    return {"import_boto3_ms": (time.perf_counter() - t0) * 1e3}


def task_stages(spec: dict[str, Any]) -> dict[str, Any]:
    """The cold-start steps up to ``spec["stage"]``, for counting instructions (bench.instructions).

    ``ric``: the runtime client's import; ``init``: then ``import sandbox`` (every mode, as
    :func:`task_boto3`) and the mode's install; ``boto3``: then ``import boto3``. Nothing is
    timed: the parent counts what the whole process executed and subtracts the stage before.
    """
    os.environ.update(spec["env"])
    _prime_tempdir()
    _import_runtime_client()
    stage = spec["stage"]
    if stage in ("init", "boto3"):
        import sandbox  # noqa: F401

        install_mode(spec["mode"], spec.get("profile"))
    if stage == "boto3":
        import boto3  # noqa: F401
    return {"stage": stage}


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "micro": task_micro,
    "e2e": task_e2e,
    "cold": task_cold,
    "boto3": task_boto3,
    "stages": task_stages,
}


def main(argv: list[str] | None = None) -> int:
    """Run the task of the spec file named by the first argument.

    Parameters
    ----------
    argv : list[str] or None
        ``[spec_path]`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    args = sys.argv[1:] if argv is None else argv
    with open(args[0]) as handle:
        spec = json.load(handle)
    # Before any task imports sandbox: the core (native or Python) is chosen at its import.
    os.environ.update(mode_environment(spec["mode"]))
    result = TASKS[spec["task"]](spec)
    # A file the parent opened: os.write raises no audit event, so the result
    # needs no rule in the profile and never shows up in the observations.
    os.write(spec["result_fd"], json.dumps(result).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
