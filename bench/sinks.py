"""``python -m bench.sinks``: what decisions cost on real sinks (exec, file, HTTP, eval, import), as ratios.

Every figure comes from fresh child processes (``python -m bench.sinks --child SPEC``: audit
hooks cannot be removed), configurations interleaved within each repeat, ratios the median of
the per-repeat ratios against ``off`` measured in the same repeat. The profile is learned in
this run (one ``learn`` child, then :func:`sandbox.profile.build.build_profile`).

1. ``handler``: a sink-heavy handler, per call one ``/bin/sh -c true``, one file read, one HTTP
   GET to a loopback server in this process, one ``eval`` of a constant at a learned site and
   one ``import`` of an imported module; ``learn``/``enforce``, native and Python core, and
   ``enforce-hook`` (enforce without seccomp and Landlock). Each child times the calls first
   with nothing installed (``off``), then installs and times them again: the ratio is paired
   within the process; the ``off/-`` children install nothing (the control for order effects).
   Variant ``noexec`` drops the shell command: the handler's own exec makes the path cache
   validate from its first call on, so only without it does a child at init change anything.
2. The same with a child process started at init (``/bin/true`` after install).
3. ``decision``: one allowed exec and one allowed connect decision alone: ``sys.audit`` with
   the arguments ``Popen``/``connect`` pass, in a loop, before and after the install in the
   same child (the difference is the decision).
4. ``noop``: ``begin_invocation``/``end_invocation`` around nothing, before and after install.

Then the hook's steps are timed one by one in this process (no hook installed): the decoders,
the path resolution with and without validation, the policy's matchers.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from bench import fixtures

RESULTS = Path(__file__).resolve().parent / "results"
FUNCTION = "bench-sinks"
SHELL = ["/bin/sh", "-c", "true"]
# (mode, core) of the handler children; off has no core; enforce-hook is enforce without
# the kernel layers (seccomp, Landlock).
CONFIGS = (
    ("off", "-"),
    ("learn", "native"),
    ("enforce", "native"),
    ("learn", "python"),
    ("enforce", "python"),
    ("enforce-hook", "native"),
)
VARIANTS = ("full", "full+child", "noexec", "noexec+child")
BUDGET_HANDLER = 1.05
BUDGET_DECISION_US = 5.0
BUDGET_LEARN_US = 5.0


# --------------------------------------------------------------------------- child side


def _handler(file: str, port: int, shell: bool) -> None:
    """The sink-heavy handler (its eval is at one fixed site, learned as such)."""
    import http.client

    if shell:
        subprocess.run(SHELL, check=True)
    with open(file, "rb") as handle:
        handle.read()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    conn.getresponse().read()
    conn.close()
    if eval("6 * 7") != 42:  # a constant expression at a learned site
        raise RuntimeError("eval")
    __import__("json")  # already imported: no import event


def _install(spec: dict[str, Any]) -> None:
    mode = spec["mode"]
    if mode == "enforce-hook":
        # enforce without the kernel layers: the audit hook's share of enforce.
        os.environ["SANDBOX_SECCOMP"] = os.environ["SANDBOX_LANDLOCK"] = "off"
        mode = "enforce"
    if mode != "off":
        import sandbox

        sandbox.install(mode=mode, profile=spec.get("profile"))


def _per_op_us(run: Callable[[int], float], n: int, batches: int = 5) -> float:
    return min(run(n) for _ in range(batches)) / n * 1e6


def _handler_phase(spec: dict[str, Any], first: int) -> float:
    """Median µs per call of ``calls`` invocations after ``warm`` untimed ones."""
    from sandbox.runtime import control as hook

    shell = spec["shell"]
    times: list[float] = []
    for i in range(first, first + spec["warm"] + spec["calls"]):
        t0 = time.perf_counter()
        hook.begin_invocation(f"sinks-{i:06d}", {})
        try:
            _handler(spec["file"], spec["port"], shell)
        finally:
            hook.end_invocation()
        if i >= first + spec["warm"]:
            times.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(times)


def child_handler(spec: dict[str, Any]) -> dict[str, Any]:
    """The handler without a hook, then installed (and a child started at init), same process.

    Pairing both phases in one process removes the process-to-process spread (address
    layout, CPU placement), which on a small shared machine is larger than the overhead.
    """
    import tempfile as _tempfile

    from sandbox.runtime import control as hook

    _tempfile.gettempdir()  # its random probe file, before any instrumentation
    before = _handler_phase(spec, 0)
    _install(spec)
    if spec["child_at_init"]:
        subprocess.run(["/bin/true"], check=True)
    hook.mark_invoke_phase()
    after = _handler_phase(spec, spec["warm"] + spec["calls"])
    return {"before_us": before, "after_us": after}


def child_decision(spec: dict[str, Any]) -> dict[str, Any]:
    """``sys.audit`` of an exec and a connect in a loop, before and after the install."""
    import socket

    from sandbox.runtime import control as hook

    audit = sys.audit
    sock = socket.socket()
    address = ("127.0.0.1", spec["port"])
    executable, argv = SHELL[0], list(SHELL)

    def exec_loop(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            audit("subprocess.Popen", executable, argv, None, None)
        return time.perf_counter() - start

    def connect_loop(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            audit("socket.connect", sock, address)
        return time.perf_counter() - start

    n, n_exec = spec["n"], spec["n_exec"]
    before = {"exec": _per_op_us(exec_loop, n_exec), "connect": _per_op_us(connect_loop, n)}
    _install(spec)
    hook.mark_invoke_phase()
    hook.begin_invocation("decision", {})
    after = {"exec": _per_op_us(exec_loop, n_exec), "connect": _per_op_us(connect_loop, n)}
    hook.end_invocation()
    sock.close()
    return {"before_us": before, "after_us": after}


def child_noop(spec: dict[str, Any]) -> dict[str, Any]:
    """``begin_invocation``/``end_invocation`` around nothing, before and after the install."""
    from sandbox.runtime import control as hook

    begin, end = hook.begin_invocation, hook.end_invocation
    who: dict[str, Any] = {}

    def loop(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            begin("noop", who)
            end()
        return time.perf_counter() - start

    n = spec["n"]
    before = _per_op_us(loop, n)
    _install(spec)
    hook.mark_invoke_phase()
    return {"before_us": before, "after_us": _per_op_us(loop, n)}


def child_events(spec: dict[str, Any]) -> dict[str, Any]:
    """The audit events one handler call raises, by name (a counting hook, no sandbox)."""
    counts: dict[str, int] = {}
    _handler(spec["file"], spec["port"], spec["shell"])  # warm: first-call imports excluded
    calls = 10

    def count(event: str, args: tuple[Any, ...]) -> None:
        counts[event] = counts.get(event, 0) + 1

    sys.addaudithook(count)
    for _ in range(calls):
        _handler(spec["file"], spec["port"], spec["shell"])
    counts.pop("sys.addaudithook", None)
    return {event: n / calls for event, n in sorted(counts.items())}


CHILD_TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "events": child_events,
    "handler": child_handler,
    "decision": child_decision,
    "noop": child_noop,
}


# --------------------------------------------------------------------------- parent side


class _Quiet(http.server.BaseHTTPRequestHandler):
    """A 2-byte answer to every GET, no logging."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def loopback_http() -> Iterator[int]:
    """A tiny threaded HTTP server on 127.0.0.1; yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


class Runner:
    """Starts ``python -m bench.sinks --child`` processes in a working folder."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.count = 0

    def run(self, spec: dict[str, Any], core: str = "native", log: Path | None = None) -> Any:
        """Run one child; its JSON result (its stdout, the sandbox's records, goes to a log)."""
        self.count += 1
        log = log or self.work / f"child-{self.count:04d}-{spec['task']}-{spec['mode']}.log"
        spec_path = self.work / f"spec-{self.count:04d}.json"
        spec_path.write_text(json.dumps(spec))
        extra = {"AWS_LAMBDA_FUNCTION_NAME": FUNCTION, "LAMBDA_TASK_ROOT": str(self.work / "task")}
        if core == "python":
            extra["SANDBOX_NATIVE"] = "off"
        cpu = fixtures.timed_cpu()  # (every mode on the same CPU: see fixtures.timed_cpu)
        with tempfile.TemporaryFile() as result, open(log, "wb") as sink:
            fd = result.fileno()
            proc = subprocess.run(
                [sys.executable, "-m", "bench.sinks", "--child", str(spec_path), str(fd)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=fixtures.child_env(extra),
                cwd=self.work,
                pass_fds=(fd,),
                timeout=300,
                check=False,
                preexec_fn=None if cpu is None else partial(os.sched_setaffinity, 0, {cpu}),
            )
            result.seek(0)
            raw = result.read()
        if proc.returncode != 0 or not raw:
            tail = log.read_text(errors="replace")[-3000:]
            raise fixtures.ChildError(f"{spec['task']}/{spec['mode']}/{core}: log {log}:\n{tail}")
        return json.loads(raw)


def _ratio(values: list[float], base: list[float]) -> float:
    return round(statistics.median(v / b for v, b in zip(values, base, strict=True)), 4)


def _med(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def measure(
    repeats: int = 5, calls: int = 200, loops: int = 20_000, *, keep: bool = False
) -> dict[str, Any]:
    """Run items 1-4 and the step timings; every figure with its baseline of the same run.

    Parameters
    ----------
    repeats : int
        Interleaved repeats of every child.
    calls : int
        Timed handler calls per child (after 20 untimed ones).
    loops : int
        Iterations per timed batch of the decision and no-op loops (best of 5 batches).
    keep : bool
        Keep the working folder (specs, logs, the learned profile); its path is in ``work``.

    Returns
    -------
    dict
        ``handler``, ``decision``, ``noop``, ``steps``, ``budgets``.

    Example
    -------
    >>> measure(repeats=1, calls=20, loops=1000)["budgets"]  # doctest: +SKIP
    """
    work = Path(tempfile.mkdtemp(prefix="lssinks-"))
    (work / "task").mkdir()
    data = work / "data.txt"
    data.write_text("x" * 4096)
    try:
        out = _measure(work, repeats, calls, loops)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    if keep:
        out["work"] = str(work)
    return out


def _measure(work: Path, repeats: int, calls: int, loops: int) -> dict[str, Any]:
    runner = Runner(work)
    data = work / "data.txt"
    with loopback_http() as port:
        base = {"file": str(data), "port": port, "warm": 20}
        # Learn: the handler with a child at init, plus the decision and no-op loops (their
        # events are the handler's own), so one learned profile allows exactly these sinks.
        learn_log = work / "learn.log"
        spec = dict(base, task="handler", mode="learn", calls=20, shell=True, child_at_init=True)
        runner.run(spec, log=learn_log)
        profile = str(fixtures.build_compiled(FUNCTION, [learn_log], work))
        handler: dict[str, dict[str, list[dict[str, Any]]]] = {v: {} for v in VARIANTS}
        decision: dict[str, list[dict[str, Any]]] = {}
        noop: dict[str, list[dict[str, Any]]] = {}
        for _ in range(repeats):
            for variant in VARIANTS:
                for mode, core in CONFIGS:
                    spec = dict(
                        base,
                        task="handler",
                        mode=mode,
                        profile=profile,
                        calls=calls,
                        shell=variant.startswith("full"),
                        child_at_init=variant.endswith("+child"),
                    )
                    result = runner.run(spec, core=core if core != "-" else "native")
                    handler[variant].setdefault(f"{mode}/{core}", []).append(result)
            for mode, core in CONFIGS[1:5]:
                key = f"{mode}/{core}"
                # An exec decision costs ~100x a connect's: fewer loops, same precision.
                common = {"mode": mode, "profile": profile, "port": port}
                spec = dict(common, task="decision", n=loops, n_exec=max(1, loops // 20))
                decision.setdefault(key, []).append(runner.run(spec, core))
                spec = dict(common, task="noop", n=max(1, loops // 4))
                noop.setdefault(key, []).append(runner.run(spec, core))
        events = runner.run(dict(base, task="events", mode="off", shell=True))
        steps = step_costs(profile, str(data), port)
    out = {
        "repeats": repeats,
        "calls": calls,
        "loops": loops,
        "handler": handler_figures(handler),
        "decision": decision_figures(decision),
        "noop": noop_figures(noop),
        "events_per_call": events,
        "steps": steps,
    }
    out["budgets"] = budgets(out)
    return out


def handler_figures(raw: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Per variant and configuration: µs per call before and after the install in the same
    child, the overhead (the difference) and the paired ratio (after ÷ before), all medians
    over the repeats. ``off/-`` installs nothing: its ratio is the control (order effects)."""
    out: dict[str, Any] = {}
    for variant, configs in raw.items():
        entry: dict[str, Any] = {}
        for key, runs in configs.items():
            before = [r["before_us"] for r in runs]
            after = [r["after_us"] for r in runs]
            entry[key] = {
                "off_us": _med(before),
                "us_per_call": _med(after),
                "overhead_us": _med([a - b for a, b in zip(after, before, strict=True)]),
                "x_off": _ratio(after, before),
            }
        out[variant] = entry
    return out


def decision_figures(raw: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per configuration and sink: µs without a hook, with it, and the decision (the difference)."""
    out: dict[str, Any] = {}
    for key, runs in raw.items():
        entry = {}
        for sink in ("exec", "connect"):
            before = [r["before_us"][sink] for r in runs]
            after = [r["after_us"][sink] for r in runs]
            entry[sink] = {
                "no_hook_us": _med(before),
                "with_hook_us": _med(after),
                "decision_us": _med([a - b for a, b in zip(after, before, strict=True)]),
            }
        out[key] = entry
    return out


def noop_figures(raw: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per configuration: µs per no-op invocation over off (same child, before the install)."""
    return {
        key: {
            "off_us": _med([r["before_us"] for r in runs]),
            "overhead_us": _med([r["after_us"] - r["before_us"] for r in runs]),
        }
        for key, runs in raw.items()
    }


def budgets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's budgets, each with the measured figure and met / NOT met."""
    out: list[dict[str, Any]] = []
    for variant in ("full", "full+child"):
        for key, figure in results["handler"][variant].items():
            if key.startswith(("enforce/", "learn/")):
                out.append(
                    _budget(f"handler {variant} {key} x off", figure["x_off"], BUDGET_HANDLER)
                )
    for key, entry in results["decision"].items():
        if key.startswith("enforce"):
            for sink in ("exec", "connect"):
                value = entry[sink]["decision_us"]
                out.append(_budget(f"allowed {sink} decision {key} µs", value, BUDGET_DECISION_US))
    for key, entry in results["noop"].items():
        if key.startswith("learn"):
            value = entry["overhead_us"]
            out.append(_budget(f"learn per invocation {key} µs", value, BUDGET_LEARN_US))
    return out


def _budget(name: str, value: float, limit: float) -> dict[str, Any]:
    return {"name": name, "value": value, "limit": limit, "met": value <= limit}


# --------------------------------------------------------------------------- steps


def _time_us(fn: Callable[[], Any], n: int = 2000, batches: int = 5) -> float:
    def run(k: int) -> float:
        start = time.perf_counter()
        for _ in range(k):
            fn()
        return time.perf_counter() - start

    return round(_per_op_us(run, n, batches), 3)


def step_costs(profile: str, file: str, port: int) -> dict[str, float]:
    """The hook's steps timed one by one in this process (no hook installed), µs per call.

    Runs the runtime's own decoders, path resolution and policy on the learned profile, with
    the arguments the handler's events carry. The decision's key check (``cache_has``) is
    the Python fallback's; the native one is timed by ``bench.core_micro``.
    """
    import socket

    from sandbox.runtime import child, core_fallback, paths
    from sandbox.runtime import environ as sandbox_environ
    from sandbox.runtime.categories import ARG_SEP
    from sandbox.runtime.decoders import DECODERS
    from sandbox.runtime.decoders.processes import find_program
    from sandbox.runtime.findings import Invocation
    from sandbox.runtime.policy import Policy, load_json
    from sandbox.runtime.recorder import Recorder, mac
    from sandbox.runtime.roots import Roots
    from sandbox.runtime.sinks import LineSink

    policy = Policy.load(load_json(profile))
    policy.prepare()
    popen_args = (SHELL[0], list(SHELL), None, None)
    sock = socket.socket()
    connect_args = (sock, ("127.0.0.1", port))
    steps: dict[str, float] = {}
    state = paths._STATE
    for validate in (False, True):
        state["validate"] = validate
        paths.forget_resolved_paths()
        tag = "validated" if validate else "cached"
        steps[f"paths.resolve file ({tag})"] = _time_us(lambda: paths.resolve(file))
        steps[f"decode open(path, 'rb') ({tag})"] = _time_us(
            lambda: DECODERS["open"]((file, "rb", 0))
        )
        steps[f"decode open(path, None, flags) ({tag})"] = _time_us(
            lambda: DECODERS["open"]((file, None, os.O_RDONLY | os.O_CLOEXEC))
        )
        steps[f"paths.resolve /bin/sh ({tag})"] = _time_us(lambda: paths.resolve(SHELL[0]))
    steps["paths.realpath file (uncached)"] = _time_us(lambda: paths.realpath(file))
    steps["decode subprocess.Popen (validated)"] = _time_us(
        lambda: DECODERS["subprocess.Popen"](popen_args)
    )
    steps["  find_program /bin/sh"] = _time_us(lambda: find_program(SHELL[0], None, None))
    environ_data = sandbox_environ.ENVIRON  # what the Popen decoder passes as inherited
    steps["  child.known_plain /bin/sh (the verdict cache: one stat)"] = _time_us(
        lambda: child.known_plain(SHELL[0])
    )
    # What a verdict costs when it is not cached (a program changed since the install, or
    # one that is Python, env or a script): python_child_problem's parts, as they are called.
    steps["  not cached: decode the inherited environment"] = _time_us(
        lambda: child._decode_env(environ_data)
    )
    steps["  not cached: _is_python /bin/sh (realpath + name checks)"] = _time_us(
        lambda: child._is_python(SHELL[0], child._real(SHELL[0]))
    )
    steps["    child._real /bin/sh (the sandbox's own realpath walk)"] = _time_us(
        lambda: child._real(SHELL[0])
    )
    steps["  not cached: _read_program /bin/sh (open + fstat + read 256 bytes + fd name)"] = (
        _time_us(lambda: child._read_program(SHELL[0]))
    )
    steps["decode socket.connect"] = _time_us(lambda: DECODERS["socket.connect"](connect_args))
    steps["decode socket.__new__"] = _time_us(
        lambda: DECODERS["socket.__new__"]((sock, socket.AF_INET, socket.SOCK_STREAM, 0))
    )
    steps["decode compile (caller site)"] = _time_us(
        lambda: DECODERS["compile"]((b"6 * 7", "<string>"))
    )
    accesses = {
        "exec": DECODERS["subprocess.Popen"](popen_args) or [],
        "open": DECODERS["open"]((file, "rb", 0)) or [],
        "connect": DECODERS["socket.connect"](connect_args) or [],
    }
    for name, found in accesses.items():
        for category, action, target, _detail in found:
            key = category + ARG_SEP + action + ARG_SEP + "invoke" + ARG_SEP + target
            steps[f"Policy.allows {category} {action}"] = _time_us(
                functools.partial(policy.allows, category, action, target, "invoke")
            )
            steps[f"key + cache_has (python core) {name}"] = _time_us(
                functools.partial(core_fallback.cache_has, key)
            )
            break
    # Learn's per-invocation work: a quiet invocation's end is counted into a run (one signed
    # record per run); a novel one's (or every one, unbatched) is a MAC'd JSON line written.
    sink = LineSink(stdout=False, files=(os.devnull,))
    roots = Roots.detect()
    quiet = Recorder(sink, function=FUNCTION, version="$LATEST", roots=roots)
    numbers = iter(range(1, 10**9))
    steps["learn: Recorder.end_invocation, quiet (counted into a run)"] = _time_us(
        lambda: quiet.end_invocation(Invocation("noop", {}, next(numbers)))
    )
    single = Recorder(sink, function=FUNCTION, version="$LATEST", roots=roots, batch=1)
    invocation = Invocation("noop", {}, 1)
    record = {"type": "sandbox.invocation", "function": FUNCTION, "request_id": "noop"}
    steps["learn: Recorder.end_invocation, one record (record, MAC, write)"] = _time_us(
        lambda: single.end_invocation(invocation)
    )
    steps["learn:   mac(key, record)"] = _time_us(lambda: mac(single.key, record))
    steps["learn:   LineSink.write (to /dev/null)"] = _time_us(lambda: sink.write(record))
    sock.close()
    state["validate"] = False
    paths.forget_resolved_paths()
    return steps


# --------------------------------------------------------------------------- report


def markdown(results: dict[str, Any]) -> str:
    """The figures as Markdown tables."""
    lines = [
        "| handler variant | config | off µs | µs per call | overhead µs | x off |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for variant, configs in results["handler"].items():
        for key, f in configs.items():
            lines.append(
                f"| {variant} | {key} | {f['off_us']} | {f['us_per_call']} | "
                f"{f['overhead_us']} | {f['x_off']} |"
            )
    lines += ["", "| decision | config | no hook µs | with hook µs | decision µs |"]
    lines.append("|---|---|---:|---:|---:|")
    for key, entry in results["decision"].items():
        for sink, fig in entry.items():
            lines.append(
                f"| {sink} | {key} | {fig['no_hook_us']} | {fig['with_hook_us']} | "
                f"{fig['decision_us']} |"
            )
    lines += ["", "| no-op invocation | off µs | overhead µs |", "|---|---:|---:|"]
    for key, entry in results["noop"].items():
        lines.append(f"| {key} | {entry['off_us']} | {entry['overhead_us']} |")
    events = results.get("events_per_call", {})
    lines += [
        "",
        "Audit events per handler call (no sandbox): "
        + ", ".join(f"{name} {n:g}" for name, n in events.items()),
    ]
    lines += ["", "| step (no hook, µs per call) | µs |", "|---|---:|"]
    for name, value in results["steps"].items():
        lines.append(f"| {name} | {value} |")
    lines += ["", "| budget | measured | limit | verdict |", "|---|---:|---:|---|"]
    for b in results["budgets"]:
        verdict = "met" if b["met"] else "**NOT met**"
        lines.append(f"| {b['name']} | {b['value']} | {b['limit']} | {verdict} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run, print the tables, write ``bench/results/sinks.json``; exit 1 when a budget is missed.

    Parameters
    ----------
    argv : list of str, optional
        ``--repeats N``, ``--calls N``, ``--loops N``, ``--no-write``; ``--child SPEC FD`` is
        the children's entry point.

    Returns
    -------
    int
        0 when every budget is met, else 1.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.sinks", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--loops", type=int, default=20_000)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "FD"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(Path(args.child[0]).read_text())
        result = CHILD_TASKS[spec["task"]](spec)
        # A file the parent opened; os.write raises no audit event, so the result needs no
        # rule in the profile.
        os.write(int(args.child[1]), json.dumps(result).encode())
        return 0
    started = time.perf_counter()
    results = measure(args.repeats, args.calls, args.loops, keep=args.keep)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["python"] = sys.version.split()[0]
    results["measured"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print(markdown(results))
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "sinks.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(b["met"] for b in results["budgets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
