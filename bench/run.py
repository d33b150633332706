"""The benchmark session: fixtures, learned profiles, interleaved children, figures and ratios.

Every figure is measured in fresh child processes (:mod:`bench.child`), modes interleaved
within each repeat (``off, floor, learn, ...`` then again), and reported as min/median/max over
the repeats plus ratios against the baseline measured in the same run.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bench import fixtures
from bench.fixtures import Harness
from bench.stats import paired_ratio, summary

MICRO_BENCHES = (
    "ignored_getframe",
    "ignored_id",
    "open_cached",
    "open_first",
    "connect",
    "import",
    "import_tmp",
    "subprocess",
)
DDTRACE_PYTHON_CANDIDATES = (
    fixtures.REPO / "bench" / ".venv-ddtrace" / "bin" / "python",
    Path("/tmp/venv-ddtrace/bin/python"),
)


@dataclass
class Plan:
    """How much to measure.

    Attributes
    ----------
    repeats : int
        Interleaved repeats of every child (the min/median/max are over these).
    micro_modes, e2e_modes, stdlib_modes, cold_modes, lambda_modes : tuple of str
        Modes per section (``off`` is measured inside every micro child, before install);
        ``-py`` modes run the Python fallback core (``SANDBOX_NATIVE=off``), the others the
        native one. ``stdlib_modes``: the stdlib-heavy handler (``bench/functions/stdlib``).
    sizes : dict
        Operations per micro benchmark batch.
    n_files, n_modules : int
        Fresh files/modules per micro phase.
    warm, invocations : int
        Handler invocations per e2e child: untimed warm-up, then timed.
    stdlib_warm, stdlib_invocations : int
        The same for the stdlib-heavy handler (a few ms a call: more calls, a steadier median).
    cold_repeats : int
        Interleaved repeats of the cold-start children (sandbox init, ``import boto3``): one
        figure per process, each swinging by 10-20 % on a shared machine, so more repeats than
        ``repeats`` for the median of the per-repeat ratios to resolve a 5 % budget.
    lambda_repeats : int
        Cold starts through awslambdaric per mode (0: skip).
    kernel_repeats : int
        ``python -m sandbox.kernel bench`` runs (0: skip).
    ddtrace : bool
        Also run ddtrace (when its venv exists).
    hotpath : bool
        Decompose the hot path and profile the handler.
    instruction_modes, instruction_calls : tuple
        :mod:`bench.instructions` (instruction counts under Valgrind): the sandbox modes
        counted against ``off`` (empty: skip), and the two numbers of warm calls whose
        difference gives a handler's instructions per call.
    core_rounds, core_events : int
        :mod:`bench.core_micro` (the audit hook core alone: C floor, native and Python core on
        an ignored event): rounds (0: skip) and events per timed loop.
    sinks : bool
        Run :mod:`bench.sinks` (decision costs on real sinks) with ``repeats`` repeats,
        ``sinks_calls`` handler calls per child and ``sinks_loops`` decision loops.
    """

    repeats: int = 5
    micro_modes: tuple[str, ...] = (
        "floor",
        "learn",
        "alert",
        "enforce",
        "enforce-hook",
        "enforce-py",
        "enforce-hook-py",
    )
    e2e_modes: tuple[str, ...] = (
        "off",
        "floor",
        "learn",
        "alert",
        "enforce",
        "enforce-hook",
        "enforce-py",
        "enforce-hook-py",
    )
    stdlib_modes: tuple[str, ...] = (
        "off",
        "floor",
        "floor-c",
        "learn",
        "enforce",
        "enforce-hook",
        "enforce-py",
        "enforce-hook-py",
    )
    cold_modes: tuple[str, ...] = ("off", "floor", "learn", "alert", "enforce", "enforce-py")
    lambda_modes: tuple[str, ...] = ("off", "learn", "alert", "enforce")
    sizes: dict[str, int] = field(
        default_factory=lambda: {
            "ignored": 200_000,
            "open": 1_000,
            "connect": 150,
            "subprocess": 10,
            "batches": 5,
        }
    )
    benches: tuple[str, ...] = MICRO_BENCHES
    n_files: int = 1_000
    n_modules: int = 150
    warm: int = 5
    invocations: int = 30
    stdlib_warm: int = 20
    stdlib_invocations: int = 200
    cold_repeats: int = 15
    lambda_repeats: int = 3
    kernel_repeats: int = 3
    ddtrace: bool = True
    hotpath: bool = True
    instruction_modes: tuple[str, ...] = ("floor-c", "enforce-hook", "enforce-hook-py")
    instruction_calls: tuple[int, int] = (40, 200)
    core_rounds: int = 5
    core_events: int = 200_000
    sinks: bool = True
    sinks_calls: int = 200
    sinks_loops: int = 20_000


FULL = Plan()
CHECK = Plan(
    repeats=5,
    micro_modes=("floor", "enforce", "enforce-py"),
    e2e_modes=("off", "enforce"),
    stdlib_modes=("off", "enforce"),
    cold_modes=("off", "enforce"),
    lambda_modes=(),
    sizes={"ignored": 100_000, "open": 10, "connect": 1, "subprocess": 1, "batches": 5},
    benches=("ignored_getframe",),
    n_files=10,
    n_modules=5,
    warm=3,
    invocations=12,
    stdlib_warm=5,
    stdlib_invocations=40,
    cold_repeats=5,
    lambda_repeats=0,
    kernel_repeats=0,
    ddtrace=False,
    hotpath=False,
    instruction_modes=(),
    core_rounds=0,
    sinks=False,
)
# Every section and mode once, on small sizes (a few minutes): does the whole run work end
# to end? Its figures are too noisy to judge anything; it never rewrites docs/BENCHMARKS.md.
QUICK = Plan(
    repeats=1,
    sizes={"ignored": 50_000, "open": 100, "connect": 20, "subprocess": 2, "batches": 3},
    n_files=60,
    n_modules=30,
    warm=2,
    invocations=6,
    stdlib_warm=2,
    stdlib_invocations=10,
    cold_repeats=1,
    lambda_repeats=1,
    kernel_repeats=1,
    ddtrace=False,
    instruction_modes=("enforce-hook",),
    instruction_calls=(2, 4),
    core_rounds=1,
    core_events=20_000,
    sinks_calls=20,
    sinks_loops=1_000,
)


def ddtrace_python() -> str | None:
    """The separate ddtrace venv's interpreter, if one was created (see docs/BENCHMARKS.md)."""
    for candidate in DDTRACE_PYTHON_CANDIDATES:
        if candidate.exists():
            return str(candidate)
    return None


class Session:
    """One benchmark run: the working folder, services, profiles and the figures so far.

    Parameters
    ----------
    plan : Plan
        What to measure.
    say : callable
        Progress output (one line per step).
    """

    def __init__(self, plan: Plan, say: Callable[[str], None] = print) -> None:
        self.plan = plan
        self.say = say
        self.work = Path(tempfile.mkdtemp(prefix="lsbench-"))
        self.harness = Harness(self.work)
        self.results: dict[str, Any] = {}
        self.notes: list[str] = []
        self.data: dict[str, Any] = {}
        self.port = fixtures.free_port()
        self.micro_profile: Path | None = None
        # (the import benchmark's deployment modules: outside the temp dir, see fixtures)
        self.deployment: Path | None = None
        self.orders_profile: Path | None = None
        self.stdlib_profile: Path | None = None
        self.orders_logs: list[Path] = []
        self.ports: dict[str, int] = {}
        self.events: list[str] = []
        self.env: dict[str, str] = {}
        self.task_dir = self.work / "task"
        self.task_dir.mkdir()

    # ------------------------------------------------------------------ specs

    def micro_spec(self, mode: str) -> dict[str, Any]:
        """The spec of one micro child."""
        return {
            "task": "micro",
            "mode": mode,
            "sizes": self.plan.sizes,
            "benches": list(self.plan.benches),
            "data": self.data,
            "port": self.port,
            "profile": str(self.micro_profile) if self.micro_profile else None,
        }

    def micro_env(self) -> dict[str, str]:
        """A micro child's environment: its own function name; the deployment folder as its
        task root (the import rows' modules are the function's own, below a module root, as
        in ``/var/task``), else an empty one."""
        task = self.deployment or self.task_dir
        return {"AWS_LAMBDA_FUNCTION_NAME": "bench-micro", "LAMBDA_TASK_ROOT": str(task)}

    def handler_spec(self, task: str, mode: str, **extra: Any) -> dict[str, Any]:
        """The spec of one e2e or cold child (the orders example)."""
        return {
            "task": task,
            "mode": "off" if mode == "ddtrace-off" else mode,
            "env": self.env,
            "events": self.events,
            "code_dir": str(fixtures.ORDERS),
            "module": "app",
            "function": "handler",
            "profile": str(self.orders_profile) if self.orders_profile else None,
            "warm": self.plan.warm,
            "invocations": self.plan.invocations,
            **extra,
        }

    def stdlib_spec(self, mode: str, **extra: Any) -> dict[str, Any]:
        """The spec of one e2e child of the stdlib-heavy handler (``bench/functions/stdlib``)."""
        calls = {"warm": self.plan.stdlib_warm, "invocations": self.plan.stdlib_invocations}
        return self.handler_spec(
            "e2e",
            mode,
            env=fixtures.stdlib_env(),
            events=fixtures.stdlib_events(),
            code_dir=str(fixtures.STDLIB),
            profile=str(self.stdlib_profile) if self.stdlib_profile else None,
            **(calls | extra),
        )

    # ------------------------------------------------------------------ steps

    def prepare_micro(self) -> None:
        """Generate files and modules; learn the micro children's own profile."""
        self.deployment = fixtures.deployment_root()
        self.data = fixtures.make_data(
            self.work / "data", self.plan.n_files, self.plan.n_modules, self.deployment
        )
        log = self.work / "micro-learn.log"
        self.micro_profile = None
        # Every benchmark, whatever the plan measures: the profile must allow them all.
        spec = dict(self.micro_spec("learn"), benches=list(MICRO_BENCHES))
        self.harness.run(spec, env=self.micro_env(), log=log)
        # The import benchmark's package folders are listed by the import system when their
        # first submodule is imported; a learn run does not always record that listing (seen
        # on this machine, reported in docs/BENCHMARKS.md), so the rule is added by hand.
        extra = {
            "files": [
                {"action": action, "phase": "any", "target": folder + "/**"}
                for folder in (str(self.work / "data"), str(self.deployment))
                for action in ("list", "read")
            ]
        }
        self.micro_profile = fixtures.build_compiled("bench-micro", [log], self.work, extra)

    def prepare_orders(self, services: dict[str, int], through_lambda: bool) -> None:
        """Learn the orders example in-process (and through awslambdaric); build its profile."""
        self.ports = services
        self.events = fixtures.orders_events(services)
        self.env = fixtures.orders_env(services)
        # Warm-up with bytecode writing on: later children load .pyc, never compile.
        self.harness.run(self.handler_spec("cold", "off"))
        logs = [self.work / "orders-learn.log"]
        self.orders_profile = None
        self.harness.run(self.handler_spec("e2e", "learn", warm=2, invocations=4), log=logs[0])
        if through_lambda:
            from sandbox.local import run_function

            logs.append(self.work / "orders-learn-lambda.log")
            result = run_function(
                "app.handler",
                [e.encode() for e in self.events],
                code_dir=fixtures.ORDERS,
                mode="learn",
                log_file=logs[1],
                env=self.env,
                function_name="orders",
            )
            if not result.ok:
                raise fixtures.ChildError(f"learning through awslambdaric failed: see {logs[1]}")
        self.orders_logs = logs
        self.orders_profile = fixtures.build_compiled("orders", logs, self.work)

    def prepare_stdlib(self) -> None:
        """Learn the stdlib-heavy handler (one warm learn child) and build its profile."""
        log = self.work / "stdlib-learn.log"
        self.stdlib_profile = None
        self.harness.run(self.stdlib_spec("learn", warm=2, invocations=6), log=log)
        self.stdlib_profile = fixtures.build_compiled(fixtures.STDLIB_FUNCTION, [log], self.work)

    def probe_core(self) -> None:
        """Note when the native core cannot load here: its columns would show the fallback."""
        code = "import sandbox.runtime.core as c; print(c.KIND, c.LOAD_ERROR)"
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=False,
            env=fixtures.child_env(),
            cwd=self.work,
        )
        kind, _, error = out.stdout.strip().partition(" ")
        self.results["core_kind"] = kind or None
        if kind != "native":
            self.notes.append(
                "the native core did not load in the children "
                f"({error or out.stderr.strip()[-300:]}): every mode without -py ran the "
                "Python fallback too (build it: pip install -e .)"
            )

    def interleave(
        self,
        modes: Iterable[str],
        run: Callable[[str], dict[str, Any]],
        repeats: int | None = None,
    ) -> dict[str, list[dict[str, Any]]]:
        """Run ``run(mode)`` for every mode, ``repeats`` (default the plan's) times, modes
        interleaved."""
        out: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
        for _ in range(self.plan.repeats if repeats is None else repeats):
            for mode in out:
                out[mode].append(run(mode))
        return out

    def measure_micro(self, ddtrace: str | None) -> None:
        """Per-event microbenchmarks (no hook measured in each child before the install)."""
        modes = list(self.plan.micro_modes) + (["ddtrace"] if ddtrace else [])

        def run(mode: str) -> dict[str, Any]:
            python = ddtrace if mode == "ddtrace" else None
            return self.harness.run(
                self.micro_spec(mode), python=python, env=self.micro_env() | _dd_env()
            )

        raw = self.interleave(modes, run)
        benches = list(self.plan.benches)
        if "import" in benches:
            benches.insert(benches.index("import") + 1, "import_invoke")  # (task_micro's)
        self.results["micro"] = micro_figures(raw, benches)

    def measure_e2e(self, ddtrace: str | None) -> None:
        """The orders handler in one warm process per mode; RSS and peak RSS."""
        modes = list(self.plan.e2e_modes) + (["ddtrace-off", "ddtrace"] if ddtrace else [])

        def run(mode: str) -> dict[str, Any]:
            python = ddtrace if mode.startswith("ddtrace") else None
            return self.harness.run(self.handler_spec("e2e", mode), python=python, env=_dd_env())

        raw = self.interleave(modes, run)
        self.results["e2e"] = e2e_figures(raw)

    def remeasure(self, section: str, ddtrace: str | None) -> None:
        """Measure one section again (its figures replace the first ones)."""
        measure = {
            "micro": lambda: self.measure_micro(ddtrace),
            "e2e": lambda: self.measure_e2e(ddtrace),
            "e2e_stdlib": self.measure_stdlib,
            "cold": self.measure_cold,
        }
        measure[section]()

    def measure_stdlib(self) -> None:
        """The stdlib-heavy handler in one warm process per mode (as :meth:`measure_e2e`)."""
        raw = self.interleave(
            self.plan.stdlib_modes, lambda m: self.harness.run(self.stdlib_spec(m))
        )
        self.results["e2e_stdlib"] = e2e_figures(raw)

    def measure_core(self) -> None:
        """The audit hook core alone (:mod:`bench.core_micro`): C floor, native, Python."""
        from bench import core_micro

        self.results["core"] = core_micro.run(self.plan.core_rounds, self.plan.core_events)

    def measure_cold(self) -> None:
        """Process start to first handler call, the sandbox's own init, ``import boto3``."""
        repeats = self.plan.cold_repeats
        raw = self.interleave(
            self.plan.cold_modes, lambda m: self.harness.run(self.handler_spec("cold", m)), repeats
        )
        boto3 = self.interleave(
            self.plan.cold_modes,
            lambda m: self.harness.run(self.handler_spec("boto3", m)),
            repeats,
        )
        for mode, runs in raw.items():
            for run, other in zip(runs, boto3[mode], strict=False):
                run["import_boto3_after_sandbox_ms"] = run.pop("import_boto3_ms")
                run["import_boto3_ms"] = other["import_boto3_ms"]
        self.results["cold"] = cold_figures(raw)

    def measure_instructions(self) -> None:
        """Instruction counts under Valgrind (:mod:`bench.instructions`): init, ``import boto3``
        and both handlers per call, ``off`` against the sandbox (kernel layers off)."""
        from bench import instructions

        if instructions.valgrind() is None:
            self.notes.append("instructions: not counted (valgrind is not installed)")
            return
        folder = self.work / "instructions"
        folder.mkdir(exist_ok=True)
        modes = ("off", *self.plan.instruction_modes)

        def counted(name: str, spec: dict[str, Any]) -> Any:
            out = folder / f"{name}.out"

            def job() -> int:
                # (Valgrind runs the child 20-50 times slower: a generous timeout)
                self.harness.run(
                    spec,
                    wrapper=instructions.wrapper(out),
                    env={"PYTHONHASHSEED": instructions.HASH_SEED},
                    timeout=1800.0,
                )
                return instructions.total(out)

            return job

        def stages(stage: str, mode: str) -> dict[str, Any]:
            return self.handler_spec("stages", mode, stage=stage)

        jobs: dict[tuple[str, ...], Any] = {("ric",): counted("ric", stages("ric", "off"))}
        for mode in modes:
            for stage in ("init", "boto3"):
                jobs[(stage, mode)] = counted(f"{stage}-{mode}", stages(stage, mode))
        few, many = self.plan.instruction_calls
        for handler, spec_of, warm in (
            ("stdlib", self.stdlib_spec, self.plan.stdlib_warm),
            ("orders", lambda m, **x: self.handler_spec("e2e", m, **x), self.plan.warm),
        ):
            for mode in modes:
                for calls in (few, many):
                    spec = spec_of(mode, warm=warm, invocations=calls, young_gc_only=True)
                    jobs[(handler, mode, str(calls))] = counted(f"{handler}-{mode}-{calls}", spec)
        totals = dict(zip(jobs, instructions.run_parallel(list(jobs.values())), strict=True))
        counts: dict[str, Any] = {"ric": totals[("ric",)], "init": {}, "boto3": {}}
        for key, value in totals.items():
            if key[0] in ("init", "boto3"):
                counts[key[0]][key[1]] = value
            elif key[0] in ("stdlib", "orders"):
                counts.setdefault(key[0], {}).setdefault(key[1], {})[int(key[2])] = value
        self.results["instructions"] = {
            "counts": counts,
            **instructions.figures(counts),
            "calls": [few, many],
            "valgrind": instructions.version(),
            "hash_seed": int(instructions.HASH_SEED),
        }

    def measure_lambda_cold(self) -> None:
        """Cold starts through awslambdaric and the layer's wrapper (``run_function``).

        The layer is staged once, with its bytecode compiled for this interpreter as the layer
        build compiles it: ``run_function``'s default (a fresh copy of the sources for each run)
        compiles every runtime module from source at each cold start, which no real layer does.
        """
        from sandbox.layer import LAYER_PACKAGE, stage_layer
        from sandbox.layer.bytecode import compile_package
        from sandbox.local import run_function

        layer = self.work / "layer"
        stage_layer(layer)
        package = layer / "python" / LAYER_PACKAGE
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        compile_package(package, {version: Path(sys.executable)}, origin=PurePosixPath(package))

        def run(mode: str) -> dict[str, Any]:
            result = run_function(
                "app.handler",
                [self.events[0].encode()],
                code_dir=fixtures.ORDERS,
                mode=mode,
                profile=self.orders_profile if mode != "off" else None,
                env=self.env,
                function_name="orders",
                layer=layer,
            )
            if not result.ok:
                raise fixtures.ChildError(f"run_function {mode}: " + "\n".join(result.log[-20:]))
            return parse_lambda_log(result.log)

        raw: dict[str, list[dict[str, Any]]] = {m: [] for m in self.plan.lambda_modes}
        for _ in range(self.plan.lambda_repeats):
            for mode in raw:
                raw[mode].append(run(mode))
        self.results["lambda_cold"] = lambda_figures(raw)

    def measure_kernel(self) -> None:
        """The seccomp filter's load time and its cost per syscall (``sandbox.kernel bench``)."""
        runs = []
        for _ in range(self.plan.kernel_repeats):
            out = subprocess.run(
                [sys.executable, "-m", "sandbox.kernel", "bench"],
                capture_output=True,
                text=True,
                check=True,
                env=fixtures.child_env(),
                cwd=self.work,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        self.results["kernel"] = kernel_figures(runs)

    def measure_hotpath(self) -> None:
        """Decompose the hot path (in this process, no hook) and cProfile the handler."""
        from bench.hotpath import decompose, install_breakdown, profile_diff

        self.results["hotpath"] = decompose(self.data, self.micro_profile, self.task_dir)
        # Starting and stopping cProfile raises sys.setprofile, a `code trace` the orders
        # profile has not learned (enforce blocks it): the profiled children run with a
        # profile learned from the same children with cProfile on as well.
        learned = self.work / "cprofile-learn"
        learned.mkdir(exist_ok=True)
        logs = [learned / "e2e.log", learned / "cold.log"]
        spec = self.handler_spec("e2e", "learn", warm=2, invocations=4)
        self.harness.run(dict(spec, cprofile=str(learned / "e2e.pstats")), log=logs[0])
        spec = self.handler_spec("cold", "learn", cprofile=str(learned / "cold.pstats"))
        self.harness.run(spec, log=logs[1])
        profile = str(fixtures.build_compiled("orders", [*self.orders_logs, *logs], learned))
        stats = {}
        for mode in ("off", "enforce"):
            path = self.work / f"e2e-{mode}.pstats"
            self.harness.run(self.handler_spec("e2e", mode, cprofile=str(path), profile=profile))
            stats[mode] = path
        self.results["hotpath"]["e2e_cprofile"] = profile_diff(stats["off"], stats["enforce"])
        path = self.work / "install-enforce.pstats"
        self.harness.run(self.handler_spec("cold", "enforce", cprofile=str(path), profile=profile))
        self.results["hotpath"]["install_cprofile"] = install_breakdown(path)


def _dd_env() -> dict[str, str]:
    """Datadog settings for the ddtrace children: AppSec + exploit prevention, nothing sent."""
    return {
        "DD_APPSEC_ENABLED": "true",
        "DD_APPSEC_RASP_ENABLED": "true",
        "DD_IAST_ENABLED": "false",
        "DD_TRACE_ENABLED": "true",
        "DD_SERVICE": "orders",
        "DD_ENV": "bench",
        # Loopback, nothing listens there: traces are dropped, never sent anywhere.
        "DD_TRACE_AGENT_URL": "http://127.0.0.1:9",
        "DD_REMOTE_CONFIGURATION_ENABLED": "false",
        "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
        "DD_TRACE_STARTUP_LOGS": "false",
        "DD_DATA_STREAMS_ENABLED": "false",
        "DD_PROFILING_ENABLED": "false",
    }


# --------------------------------------------------------------------------- figures


def _series(raw: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in raw]


def micro_figures(raw: dict[str, list[dict[str, Any]]], benches: Iterable[str]) -> dict[str, Any]:
    """Per benchmark: ns/op without a hook, and per mode ns/op, overhead, xoff and xfloor.

    ``overhead`` is ns/op with the mode minus ns/op before the install in the same child;
    ``x_floor`` is the paired median of overhead ÷ the empty hook's overhead.
    """
    out: dict[str, Any] = {}
    for bench in benches:
        off = [r["before"][bench] for runs in raw.values() for r in runs]
        entry: dict[str, Any] = {"off_ns": summary(off), "modes": {}}
        floor = [r["after"][bench] - r["before"][bench] for r in raw.get("floor", [])]
        for mode, runs in raw.items():
            after = [r["after"][bench] for r in runs]
            overhead = [r["after"][bench] - r["before"][bench] for r in runs]
            entry["modes"][mode] = {
                "ns": summary(after),
                "overhead_ns": summary(overhead),
                "overhead_series": [round(v, 2) for v in overhead],
                "x_off": paired_ratio(after, [r["before"][bench] for r in runs]),
                "x_floor": paired_ratio(overhead, floor) if floor else None,
            }
        out[bench] = entry
    statuses = {m: runs[0].get("status", {}) for m, runs in raw.items() if runs}
    return {"benches": out, "status": statuses}


def e2e_figures(raw: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per mode: median ms per invocation, RSS, peak RSS; ratios against ``off`` (paired)."""
    out: dict[str, Any] = {}
    off = raw.get("off", [])
    dd_off = raw.get("ddtrace-off", [])
    for mode, runs in raw.items():
        base = dd_off if mode == "ddtrace" and dd_off else off
        med = _series(runs, "median_ms")
        # (results of children that did not report it, e.g. an older bench, have none)
        cpu = _series(runs, "cpu_median_ms") if all("cpu_median_ms" in r for r in runs) else []
        rss = _series(runs, "rss_mb")
        peak = _series(runs, "ru_maxrss_mb")
        out[mode] = {
            "median_ms": summary(med),
            "median_series": [round(v, 3) for v in med],
            # The function's own CPU per invocation: what the sandbox adds, without the wait
            # on the loopback services (they run in the bench's process and make wall time
            # bimodal, ~10 or ~23 ms per orders call, whatever the mode).
            "cpu_median_ms": summary(cpu),
            "cpu_median_series": [round(v, 3) for v in cpu],
            "init_ms": summary(_series(runs, "init_ms")),
            "rss_mb": summary(rss),
            "ru_maxrss_mb": summary(peak),
            "baseline": "ddtrace-off" if base is dd_off and mode == "ddtrace" else "off",
            "audit": ((runs[0].get("status") or {}).get("layers") or {}).get("audit")
            if runs
            else None,
            "x_off": paired_ratio(med, _series(base, "median_ms")) if base else None,
            "rss_delta_mb": _paired_delta(rss, _series(base, "rss_mb")) if base else None,
            "maxrss_delta_mb": _paired_delta(peak, _series(base, "ru_maxrss_mb")) if base else None,
        }
    return out


def _paired_delta(values: list[float], base: list[float]) -> float | None:
    deltas = [v - b for v, b in zip(values, base, strict=False)]
    return round(statistics.median(deltas), 2) if deltas else None


def cold_figures(raw: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per mode: sandbox init, ``import boto3``, function init, time to first call; xoff."""
    keys = (
        "sandbox_init_ms",
        "import_boto3_ms",
        "import_boto3_after_sandbox_ms",
        "function_init_ms",
        "to_first_call_ms",
    )
    off = raw.get("off", [])
    out: dict[str, Any] = {}
    for mode, runs in raw.items():
        entry: dict[str, Any] = {}
        for key in keys:
            values = _series(runs, key)
            entry[key] = summary(values)
            entry[key]["series"] = [round(v, 3) for v in values]
            if off and key != "sandbox_init_ms":
                entry[key]["x_off"] = paired_ratio(values, _series(off, key))
        out[mode] = entry
    return out


_INIT_RE = re.compile(r"Init Duration: ([0-9.]+) ms")
_DURATION_RE = re.compile(r"\tDuration: ([0-9.]+) ms")


def parse_lambda_log(log: list[str]) -> dict[str, Any]:
    """Init duration and first-invocation duration from the REPORT line; the sandbox's init."""
    out: dict[str, Any] = {}
    for line in log:
        if line.startswith("REPORT"):
            init = _INIT_RE.search(line)
            duration = _DURATION_RE.search(line)
            if init:
                out["init_duration_ms"] = float(init.group(1))
            if duration:
                out["first_invocation_ms"] = float(duration.group(1))
        start = line.find('{"type":"sandbox.start"')
        if start < 0:
            start = line.find('{"type": "sandbox.start"')
        if start >= 0:
            try:
                out["sandbox_install_ms"] = float(json.loads(line[start:])["init_ms"])
            except (ValueError, KeyError):
                pass
    return out


def lambda_figures(raw: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per mode: awslambdaric init duration (process start → first event fetched); xoff."""
    off = raw.get("off", [])
    out: dict[str, Any] = {}
    for mode, runs in raw.items():
        entry: dict[str, Any] = {}
        for key in ("init_duration_ms", "first_invocation_ms", "sandbox_install_ms"):
            values = [float(r[key]) for r in runs if key in r]
            if not values:
                continue
            entry[key] = summary(values)
            base = [float(r[key]) for r in off if key in r]
            if base and mode != "off" and len(base) == len(values):
                entry[key]["x_off"] = paired_ratio(values, base)
        out[mode] = entry
    return out


def kernel_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Filter load time, import time and ``getppid`` before/after the filter."""
    if not runs:
        return {}
    before = _series(runs, "getppid_ns_before")
    after = _series(runs, "getppid_ns_after")
    return {
        "install_ms": summary(_series(runs, "install_ms")),
        "import_sandbox_kernel_ms": summary(_series(runs, "import_sandbox_kernel_ms")),
        "getppid_ns_before": summary(before),
        "getppid_ns_after": summary(after),
        "per_syscall_ns": summary([a - b for a, b in zip(after, before, strict=False)]),
        "statuses": runs[0].get("statuses"),
        "reasons": runs[0].get("reasons"),
    }


# --------------------------------------------------------------------------- checks


# The section whose figures each check judges: a check that fails is confirmed by measuring
# its section again (see :meth:`Session.remeasure`).
CHECK_SECTIONS = {
    "ignored_event_vs_floor": "micro",
    "ignored_event_py_vs_floor": "micro",
    "e2e_enforce_vs_off": "e2e",
    "e2e_stdlib_enforce_vs_off": "e2e_stdlib",
    "import_boto3_enforce_vs_off": "cold",
}


def sections_to_confirm(verdicts: Iterable[Any]) -> list[str]:
    """The sections to measure again: those of the failed checks, each once, in check order."""
    out: list[str] = []
    for verdict in verdicts:
        section = CHECK_SECTIONS[verdict.name]
        if not verdict.ok and section not in out:
            out.append(section)
    return out


def check_pairs(results: dict[str, Any]) -> dict[str, tuple[list[float], list[float]]]:
    """The paired series :func:`bench.stats.check` judges, from a session's results."""
    pairs: dict[str, tuple[list[float], list[float]]] = {}
    micro = results.get("micro", {}).get("benches", {}).get("ignored_getframe")
    if micro and "floor" in micro["modes"]:
        for name, mode in (
            ("ignored_event_vs_floor", "enforce"),
            ("ignored_event_py_vs_floor", "enforce-py"),
        ):
            if mode in micro["modes"]:
                pairs[name] = (
                    micro["modes"][mode]["overhead_series"],
                    micro["modes"]["floor"]["overhead_series"],
                )
    for name, section in (
        ("e2e_enforce_vs_off", "e2e"),
        ("e2e_stdlib_enforce_vs_off", "e2e_stdlib"),
    ):
        e2e = results.get(section, {})
        if "enforce" in e2e and "off" in e2e:
            # CPU time when the children reported it (older results: wall time).
            key = "cpu_median_series" if e2e["off"].get("cpu_median_series") else "median_series"
            pairs[name] = (e2e["enforce"][key], e2e["off"][key])
    cold = results.get("cold", {})
    if "enforce" in cold and "off" in cold:
        pairs["import_boto3_enforce_vs_off"] = (
            cold["enforce"]["import_boto3_ms"]["series"],
            cold["off"]["import_boto3_ms"]["series"],
        )
    return pairs


def plan_dict(plan: Plan) -> dict[str, Any]:
    """The plan as JSON (for the results file)."""
    return asdict(plan)


def machine() -> dict[str, Any]:
    """Machine, Python and package versions for the results file."""
    import platform
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in ("lambda-sandbox", "boto3", "botocore", "moto", "awslambdaric", "psutil"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": versions,
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
