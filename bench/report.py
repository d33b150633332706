"""Tables (terminal and markdown, each with a legend), the budget verdicts and the chart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODE_ORDER = (
    "off",
    "floor",
    "floor-c",
    "learn",
    "alert",
    "enforce",
    "enforce-hook",
    "enforce-py",
    "enforce-hook-py",
    "ddtrace-off",
    "ddtrace",
)
BENCH_LABELS = {
    "ignored_getframe": "ignored event (sys._getframe)",
    "ignored_id": "ignored event (id)",
    "open_cached": "open, cached decision",
    "open_first": "open, first decision",
    "connect": "connect 127.0.0.1",
    "import": "import (new module)",
    "import_invoke": "import (new module, in an invocation)",
    "import_tmp": "import (new module, temp dir)",
    "subprocess": "subprocess `true`",
}


def _med(figure: dict[str, Any] | None) -> float | None:
    return None if not figure else figure.get("median")


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f}k{unit}"
    return f"{value:,.{digits}f}{unit}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _modes(present: Any) -> list[str]:
    return [m for m in MODE_ORDER if m in present]


CORES = ("native", "python")
PY = "-py"  # the mode suffix of the Python fallback core (bench.child)


def core_mode(mode: str, core: str) -> str:
    """The bench mode of ``mode`` on ``core``: ``enforce`` → ``enforce`` or ``enforce-py``."""
    return mode + PY if core == "python" else mode


def _get(tree: Any, *keys: Any) -> Any:
    """``tree[k1][k2]...``, or ``None`` when any step is missing."""
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _scaled(value: Any, factor: float) -> float | None:
    return None if value is None else float(value) * factor


Figure = Callable[[dict[str, Any], str], float | None]


def _micro_x_floor(bench: str) -> Figure:
    def figure(results: dict[str, Any], core: str) -> float | None:
        mode = core_mode("enforce", core)
        value = _get(results, "micro", "benches", bench, "modes", mode, "x_floor")
        return None if value is None else float(value)

    return figure


def _micro_extra_us(bench: str, mode: str = "enforce") -> Figure:
    def figure(results: dict[str, Any], core: str) -> float | None:
        ns = _get(
            results,
            "micro",
            "benches",
            bench,
            "modes",
            core_mode(mode, core),
            "overhead_ns",
            "median",
        )
        return _scaled(ns, 1e-3)

    return figure


def _core_alone(results: dict[str, Any], core: str) -> float | None:
    value = _get(results, "core", "ratios", f"{core}_ignored_vs_empty_py")
    return None if value is None else float(value)


def _handler_x_off(section: str) -> Figure:
    def figure(results: dict[str, Any], core: str) -> float | None:
        value = _get(results, section, core_mode("enforce", core), "x_off")
        return None if value is None else float(value)

    return figure


def _instructions_x_off(section: str) -> Figure:
    """A ratio of instruction counts (:mod:`bench.instructions`), kernel layers off."""

    def figure(results: dict[str, Any], core: str) -> float | None:
        value = _get(results, "instructions", section, core_mode("enforce-hook", core), "x_off")
        return None if value is None else float(value)

    return figure


def _rss_delta(results: dict[str, Any], core: str) -> float | None:
    value = _get(results, "e2e", core_mode("enforce", core), "rss_delta_mb")
    return None if value is None else float(value)


def _init_ms(results: dict[str, Any], core: str) -> float | None:
    value = _get(results, "cold", core_mode("enforce", core), "sandbox_init_ms", "median")
    return None if value is None else float(value)


def _boto3_x_off(results: dict[str, Any], core: str) -> float | None:
    value = _get(results, "cold", core_mode("enforce", core), "import_boto3_ms", "x_off")
    return None if value is None else float(value)


def _sinks_handler(variant: str, mode: str) -> Figure:
    def figure(results: dict[str, Any], core: str) -> float | None:
        value = _get(results, "sinks", "handler", variant, f"{mode}/{core}", "x_off")
        return None if value is None else float(value)

    return figure


def _sinks_decision(sink: str) -> Figure:
    def figure(results: dict[str, Any], core: str) -> float | None:
        value = _get(results, "sinks", "decision", f"enforce/{core}", sink, "decision_us")
        return None if value is None else float(value)

    return figure


def _sinks_learn(results: dict[str, Any], core: str) -> float | None:
    value = _get(results, "sinks", "noop", f"learn/{core}", "overhead_us")
    return None if value is None else float(value)


@dataclass(frozen=True)
class Budget:
    """One cost budget of the project (issues #15 and #17).

    Attributes
    ----------
    name : str
        What is bounded (in enforce unless it says otherwise).
    limit : float
        The most it may measure, in ``unit``.
    unit : str
        ``x floor`` (extra time ÷ the empty Python hook's), ``x off`` (time ÷ no sandbox, paired
        per repeat), ``µs`` / ``ms`` / ``MB`` (over no hook, or absolute for init).
    figure : callable
        ``figure(results, core)``: the measured value for ``core`` (``native`` or ``python``),
        ``None`` when this run did not measure it.
    """

    name: str
    limit: float
    unit: str
    figure: Figure


BUDGETS = (
    Budget(
        "ignored audit event (`sys._getframe`)", 0.35, "x floor", _micro_x_floor("ignored_getframe")
    ),
    Budget("ignored audit event (`id`)", 0.35, "x floor", _micro_x_floor("ignored_id")),
    Budget(
        "ignored audit event, the core alone (`bench.core_micro`)", 0.35, "x floor", _core_alone
    ),
    # The hook's decisions: measured with the kernel layers off (enforce-hook), as on Lambda,
    # where the kernel refuses them; what Landlock adds to each open (in the kernel, whatever
    # the hook does) is in the per-event table's enforce column.
    Budget(
        "`open`, cached file decision (audit hook): extra time",
        0.5,
        "µs",
        _micro_extra_us("open_cached", "enforce-hook"),
    ),
    Budget(
        "`open`, first file decision (audit hook): extra time",
        3.0,
        "µs",
        _micro_extra_us("open_first", "enforce-hook"),
    ),
    Budget(
        "import of a new module (audit hook): extra time",
        10.0,
        "µs",
        _micro_extra_us("import", "enforce-hook"),
    ),
    Budget(
        "import of a new module in an invocation (audit hook): extra time",
        10.0,
        "µs",
        _micro_extra_us("import_invoke", "enforce-hook"),
    ),
    Budget("`import boto3`", 1.05, "x off", _boto3_x_off),
    Budget(
        "stdlib-heavy handler (~20 decided events a call)",
        1.05,
        "x off",
        _handler_x_off("e2e_stdlib"),
    ),
    Budget("orders handler", 1.05, "x off", _handler_x_off("e2e")),
    # The same three ratios in instructions executed (bench.instructions): exact where the
    # timed ones swing by more than the budget, but user space only (no kernel work counted).
    Budget("`import boto3`, instructions", 1.05, "x off", _instructions_x_off("boto3")),
    Budget(
        "stdlib-heavy handler, instructions per call",
        1.05,
        "x off",
        _instructions_x_off("stdlib"),
    ),
    Budget("orders handler, instructions per call", 1.05, "x off", _instructions_x_off("orders")),
    Budget("sandbox init, loading the extension included", 10.0, "ms", _init_ms),
    Budget("memory after the orders handler: RSS over off", 5.0, "MB", _rss_delta),
    Budget("sink handler (`bench.sinks`)", 1.05, "x off", _sinks_handler("full", "enforce")),
    Budget(
        "sink handler, a child process at init",
        1.05,
        "x off",
        _sinks_handler("full+child", "enforce"),
    ),
    Budget("sink handler, learn", 1.05, "x off", _sinks_handler("full", "learn")),
    Budget(
        "sink handler, learn, a child process at init",
        1.05,
        "x off",
        _sinks_handler("full+child", "learn"),
    ),
    Budget("allowed exec decision", 5.0, "µs", _sinks_decision("exec")),
    Budget("allowed connect decision", 5.0, "µs", _sinks_decision("connect")),
    Budget("learn: cost per invocation (no events)", 5.0, "µs", _sinks_learn),
)


def budgets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every budget of :data:`BUDGETS`, measured on the native core and on the Python fallback.

    Parameters
    ----------
    results : dict
        A session's results (``micro``, ``e2e``, ``e2e_stdlib``, ``cold``, ``core``, ``sinks``).

    Returns
    -------
    list of dict
        One per budget, in order: ``budget``, ``limit``, ``unit``, and per core (``native``,
        ``python``) the figure and ``<core>_met`` (``None`` when not measured in this run).

    Example
    -------
    >>> rows = budgets({"cold": {"enforce": {"sandbox_init_ms": {"median": 4.2}}}})
    >>> [(r["native"], r["native_met"], r["python"]) for r in rows if r["unit"] == "ms"]
    [(4.2, True, None)]
    """
    out: list[dict[str, Any]] = []
    for budget in BUDGETS:
        row: dict[str, Any] = {"budget": budget.name, "limit": budget.limit, "unit": budget.unit}
        for core in CORES:
            value = budget.figure(results, core)
            row[core] = None if value is None else round(value, 4)
            row[f"{core}_met"] = None if value is None else value <= budget.limit
        out.append(row)
    return out


@dataclass
class Table:
    """One table of the report: a title, the header, the rows and a legend for its columns."""

    title: str
    header: list[str]
    rows: list[list[str]]
    legend: list[str] = field(default_factory=list)


NOISE = "≈0"  # a measured extra cost below zero: smaller than the run-to-run noise


def _extra(value: float | None, unit: str, digits: int = 0) -> str:
    """An added cost: ``+1,234 ns``; below zero it is noise, shown as ``≈0``."""
    if value is None:
        return "-"
    if value < 0:
        return NOISE
    return "+" + _fmt(value, unit, digits)


def _ratio(value: float | None) -> str:
    """A ratio of two positive times; ``-`` when there is none (a baseline row)."""
    return "-" if value is None or value <= 0 else _x(value)


def _cost(overhead: float | None, x_off: float | None) -> str:
    """A per-event cell: the extra ns, and how many times the operation's own time it makes."""
    shown = _extra(overhead, " ns")
    if shown in ("-", NOISE) or x_off is None or x_off <= 0:
        return shown
    return f"{shown} ({_x(x_off)})"


MICRO_LEGEND = [
    "**operation**: what the child repeats; an *ignored event* is an audited call the sandbox "
    "lets through without a decision (most audit events are).",
    "**off**: time of one operation with no audit hook, ns.",
    "**floor**: extra time with an empty Python audit hook (`sys.addaudithook(lambda e, a: "
    "None)`), the least any Python-level hook costs.",
    "**learn**, **alert**, **enforce**: extra time in that mode with the native core (enforce: "
    "audit hook, seccomp and Landlock); **enforce-hook**: enforce with the kernel layers off "
    "(`SANDBOX_SECCOMP=off`, `SANDBOX_LANDLOCK=off`); **enforce-py**: enforce with the "
    "pure-Python fallback core (`SANDBOX_NATIVE=off`); **enforce-hook-py**: both; "
    "**ddtrace**: Datadog's tracer with exploit prevention (see the note).",
    "In parentheses: the operation's time in that mode ÷ its time with no hook (1.50x = half as "
    "long again), the median of the per-repeat ratios (so not quite the medians' quotient).",
    f"**{NOISE}**: the measured extra time was below zero: smaller than the noise of the "
    "operation itself (a subprocess varies by tens of µs from one run to the next), or, for a "
    "new module under the native core, a real saving too small to tell from it (the core reads "
    "module files in fewer system calls than FileIO does with no hook).",
]
E2E_MODES = (
    "**mode**: `-py` runs the Python fallback core (`SANDBOX_NATIVE=off`), the others the native "
    "one; `enforce-hook`: enforce without seccomp and Landlock; `floor`: an empty Python audit "
    "hook; `floor-c`: an empty C audit hook (what CPython itself spends on every audit event "
    "once any hook exists: the least any hook, the sandbox's included, can cost)."
)
E2E_LEGEND = [
    "**per invocation**: median time of one warm call of `examples/orders` (boto3 to a local "
    "moto S3 and DynamoDB, an HTTP call, a file in /tmp, logging).",
    E2E_MODES,
    "**x off**: per-invocation time ÷ the same in `off`, paired per repeat (ddtrace: ÷ "
    "`ddtrace-off`, the same handler in ddtrace's own environment without ddtrace). Below 1.00x "
    "means no measurable cost: the difference is noise.",
    "**RSS**: resident memory after the calls; **peak RSS**: the process's maximum "
    f"(`ru_maxrss`); **Δ**: over `off` ({NOISE}: no measurable growth).",
]
STDLIB_LEGEND = [
    "**per invocation**: median time of one warm call of `bench/functions/stdlib` (a per-call "
    "folder in the temp dir, in memory: `/dev/shm`; SQLite, JSON, CSV and gzip files, a "
    "rename, a copy, a listing, cleanup: about 20 events the sandbox decides on per call, no "
    "network).",
    E2E_MODES,
    "**x off**, **RSS**, **peak RSS**, **Δ**: as in the orders table.",
]
INSTRUCTIONS_LEGEND = [
    "Counted by Valgrind (`cachegrind --cache-sim=no`, `bench.instructions`), each a "
    "difference of two children so that what both do cancels: **sandbox init**: "
    "`import sandbox` + `install(...)` after `awslambdaric.bootstrap` (`off`: the import "
    "alone is not counted); **import boto3**: the import after that, ÷ `off`; "
    "**stdlib handler, a call** and **orders, a call**: (N2 calls - N1 calls) ÷ (N2 - N1) "
    "in a warm process, ÷ `off`.",
    "Exact to a few thousandths from run to run, where the timed tables swing by 10-20 %; but "
    "user space only: the kernel's work for each system call (the I/O, the seccomp filter, "
    "Landlock), cache misses and page faults are not in it. Sandbox modes with the kernel "
    "layers off (`enforce-hook`), as on Lambda. `floor-c`: an empty C audit hook, CPython's "
    "own cost per event once any hook exists (the part of a budget no hook can save).",
]
CORE_LEGEND = [
    "The audit hook core alone (`python -m bench.core_micro`): fresh processes, the core "
    "installed directly with a made-up set of names, no policy. **configuration**: `none` no "
    "hook; `empty_py` `sys.addaudithook(lambda e, a: None)` (the floor); `c_floor` a C hook "
    "doing nothing (what CPython spends on an event once any hook exists); `native_ignored` / "
    "`python_ignored` the native or Python core, the event not in its names; `*_callback` the "
    "event in its names, an empty callback called (`nosig`: without blocking signals).",
    "**sys._getframe**, **sys.audit**: ns per event raised from C and from Python; **extra**: "
    "over `none`; **x empty hook**: the extra ÷ `empty_py`'s, paired per round.",
    "**load + install**: importing the core and installing it, ms.",
]
COLD_LEGEND = [
    "**sandbox init**: `import sandbox` (loading the native extension, or not for `-py`) plus "
    "`install(...)` in that mode (profile load, hook, kernel filter), in a process that has "
    "imported `awslambdaric.bootstrap` first, as the Lambda runtime has when it loads the "
    "layer's bootstrap (every mode).",
    "**import boto3**: importing boto3 with the sandbox installed; **start → first call**: "
    "process spawn to the handler's first call; in parentheses ÷ `off`, the median of the "
    "per-repeat ratios of `cold_repeats` interleaved runs (more than the other tables: one "
    "figure per process).",
    "**awslambdaric Init Duration**: what the real runtime client reports when started "
    "through the layer's wrapper script (a layer staged once with its bytecode, as the "
    "layer build ships it; the orders function's own init, `import boto3` included).",
]
KERNEL_LEGEND = [
    "**filter load**: time to install the seccomp filter; **getppid before**, **getppid "
    "after**: a cheap system call without and with the filter; **per syscall**: the "
    "difference (what every system call pays); **status**: what the kernel answered.",
]
BUDGET_LEGEND = [
    "The targets the project set itself for the sandbox's cost (issues #15 and #17), in "
    "enforce unless the row says otherwise; **limit**: the most each may measure; "
    "**native**: this run's median with the native core (mode `enforce`, `learn`), "
    "**python**: with the Python fallback (`enforce-py`; `SANDBOX_NATIVE=off`); **met**: "
    "whether that figure is within the limit (`-`: not measured in this run).",
    "Units: *x floor*: the extra time of an ignored event ÷ the empty Python hook's (per-event "
    "table, `sys._getframe` and `id`; or the core alone); *µs*, *ms*, *MB*: over no hook (init: "
    "absolute); *x off*: time ÷ the same without the sandbox, paired per repeat (handlers: the "
    "tables above; sink handler, exec/connect decision, learn per invocation: `bench.sinks`, "
    "whose figures are in `latest.json` under `sinks`).",
]


def tables(results: dict[str, Any]) -> list[Table]:
    """Every table, shared by the terminal and markdown output."""
    out: list[Table] = []
    micro = results.get("micro", {}).get("benches", {})
    if micro:
        modes = _modes(next(iter(micro.values()))["modes"])
        header = ["operation", "off", *modes]
        rows: list[list[str]] = []
        known = [b for b in BENCH_LABELS if b in micro]  # cheapest operation first
        for bench in known + [b for b in micro if b not in BENCH_LABELS]:
            entry = micro[bench]
            row: list[str] = [
                BENCH_LABELS.get(bench) or str(bench),
                _fmt(_med(entry["off_ns"]), " ns", 0),
            ]
            for mode in modes:
                m = entry["modes"][mode]
                row.append(_cost(_med(m["overhead_ns"]), m.get("x_off")))
            rows.append(row)
        out.append(Table("Per event: extra time over no hook (median)", header, rows, MICRO_LEGEND))
    for section, title, legend in (
        ("e2e", "Orders handler, warm process", E2E_LEGEND),
        ("e2e_stdlib", "Stdlib-heavy handler, warm process", STDLIB_LEGEND),
    ):
        if results.get(section):
            out.append(_handler_table(results[section], title, legend))
    cold = results.get("cold", {})
    lam = results.get("lambda_cold", {})
    if cold:
        rows = []
        for mode in _modes(cold):
            m = cold[mode]
            lm = lam.get(mode, {})
            rows.append(
                [
                    mode,
                    _fmt(_med(m["sandbox_init_ms"]), " ms", 2),
                    _with_ratio(m["import_boto3_ms"], " ms"),
                    _with_ratio(m["to_first_call_ms"], " ms"),
                    _with_ratio(lm.get("init_duration_ms"), " ms") if lm else "-",
                ]
            )
        out.append(
            Table(
                "Cold start",
                [
                    "mode",
                    "sandbox init",
                    "import boto3",
                    "start → first call",
                    "awslambdaric Init Duration",
                ],
                rows,
                COLD_LEGEND,
            )
        )
    counted = results.get("instructions") or {}
    if counted.get("init"):
        out.append(_instructions_table(counted))
    kernel = results.get("kernel", {})
    if kernel:
        out.append(
            Table(
                "Kernel layer (seccomp, `python -m sandbox.kernel bench`)",
                ["filter load", "getppid before", "getppid after", "per syscall", "status"],
                [
                    [
                        _fmt(_med(kernel["install_ms"]), " ms", 2),
                        _fmt(_med(kernel["getppid_ns_before"]), " ns", 0),
                        _fmt(_med(kernel["getppid_ns_after"]), " ns", 0),
                        _extra(_med(kernel["per_syscall_ns"]), " ns"),
                        str((kernel.get("statuses") or {}).get("seccomp")),
                    ]
                ],
                KERNEL_LEGEND,
            )
        )
    core = results.get("core") or {}
    if core.get("ns"):
        out.append(_core_table(core))
    verdicts = results.get("budgets") or []
    if verdicts:
        rows = []
        for b in verdicts:
            row = [b["budget"], "≤ " + _amount(b["limit"], b["unit"])]
            for core_name in CORES:
                row.append(_measured(b.get(core_name), b["unit"]))
                row.append(_met(b.get(f"{core_name}_met")))
            rows.append(row)
        out.append(
            Table(
                "Budgets",
                ["budget", "limit", "native", "met", "python", "met"],
                rows,
                BUDGET_LEGEND,
            )
        )
    return out


def _handler_table(figures: dict[str, Any], title: str, legend: list[str]) -> Table:
    """A warm handler's table: per mode the time per invocation, ÷ off, RSS and peak RSS."""
    rows = []
    for mode in _modes(figures):
        m = figures[mode]
        rows.append(
            [
                mode,
                _fmt(_med(m["median_ms"]), " ms", 2),
                _ratio(m["x_off"])
                + (" vs ddtrace-off" if m.get("baseline") == "ddtrace-off" else ""),
                _fmt(_med(m["rss_mb"]), " MB"),
                "-" if mode == "off" else _extra(m.get("rss_delta_mb"), " MB", 1),
                _fmt(_med(m["ru_maxrss_mb"]), " MB"),
                "-" if mode == "off" else _extra(m.get("maxrss_delta_mb"), " MB", 1),
            ]
        )
    header = ["mode", "per invocation", "x off", "RSS", "Δ RSS", "peak RSS", "Δ peak"]
    return Table(title, header, rows, legend)


def _millions(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:,.1f}M"


def _instructions_table(counted: dict[str, Any]) -> Table:
    """Instructions executed per mode (:mod:`bench.instructions`): init, boto3, per call."""
    rows = []
    for mode in counted["init"]:
        cells = [mode, "-" if mode == "off" else _millions(counted["init"][mode])]
        boto3 = _get(counted, "boto3", mode) or {}
        cells.append(_millions(boto3.get("instructions")) + _paren(boto3.get("x_off"), mode))
        for handler in ("stdlib", "orders"):
            entry = _get(counted, handler, mode) or {}
            per_call = entry.get("per_call")
            shown = "-" if per_call is None else f"{per_call / 1e3:,.0f}k"
            cells.append(shown + _paren(entry.get("x_off"), mode))
        rows.append(cells)
    header = ["mode", "sandbox init", "import boto3", "stdlib handler, a call", "orders, a call"]
    return Table("Instructions executed (Valgrind)", header, rows, INSTRUCTIONS_LEGEND)


def _paren(x_off: float | None, mode: str) -> str:
    return "" if mode == "off" or x_off is None else f" ({_x(x_off)})"


def _core_table(core: dict[str, Any]) -> Table:
    """The core alone (:mod:`bench.core_micro`): ns per event, extra, ÷ the empty hook."""
    rows = []
    for config in core["ns"].get("getframe_ns", {}):
        row = [config]
        for loop, suffix in (("getframe_ns", ""), ("audit_ns", "_sys_audit")):
            extra = _get(core, "overhead_ns", loop, config)
            ratio = _get(core, "ratios", f"{config}_vs_empty_py{suffix}")
            row += [
                _fmt(_get(core, "ns", loop, config), " ns", 0),
                "-" if config == "none" else _extra(extra, " ns"),
                "1.00x" if config == "empty_py" else _ratio(ratio),
            ]
        init = _get(core, "init_ms", config)
        row.append("-" if init is None or config in ("none", "empty_py") else _fmt(init, " ms", 2))
        rows.append(row)
    header = [
        "configuration",
        "sys._getframe",
        "extra",
        "x empty hook",
        "sys.audit",
        "extra",
        "x empty hook",
        "load + install",
    ]
    return Table("Audit hook core alone (`bench.core_micro`)", header, rows, CORE_LEGEND)


def _amount(value: float, unit: str) -> str:
    """``0.35x floor``, ``0.5 µs``: a figure and its unit (ratios written with their ``x``)."""
    return f"{value:g}{unit}" if unit.startswith("x") else f"{value:g} {unit}"


def _met(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


def _measured(value: float | None, unit: str) -> str:
    """A budget's measured figure with its unit; below zero it is noise."""
    if value is None:
        return "-"
    if value < 0:
        return NOISE
    if unit.startswith("x"):
        # (three decimals where two would round onto the limit's own figure: 1.049 is no 1.05)
        return f"{value:.3f}{unit}" if abs(value - round(value, 2)) > 1e-9 else f"{value:.2f}{unit}"
    return f"{value:.2f} {unit}"


def _with_ratio(figure: dict[str, Any] | None, unit: str) -> str:
    """``151.5 ms (1.09x)``: a median and its ratio to ``off`` (none on the baseline row)."""
    if not figure:
        return "-"
    ratio = figure.get("x_off")
    shown = _fmt(_med(figure), unit)
    return shown if ratio is None or ratio <= 0 else f"{shown} ({_x(ratio)})"


def terminal(results: dict[str, Any]) -> str:
    """Plain-text tables for the terminal."""
    chunks = []
    for table in tables(results):
        header, rows = table.header, table.rows
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
        lines = [table.title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False))]
        lines.append("  ".join("-" * w for w in widths))
        for row in rows:
            lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)))
        chunks.append("\n".join(lines))
    return "\n\n".join(chunks)


def speed_line(speed: Any) -> str:
    """What the machine's kernel costs in this run (:mod:`bench.machine_speed`), at its start
    and at its end; empty when not measured.

    Example
    -------
    >>> one = {"page_touch_us": 3.5, "lstat_us": 2.8, "lstat_missing_us": 2.1, "getppid_us": 0.3}
    >>> speed_line({"start": one, "end": one})[:60]
    'This machine in this run (at its start / end): a first touch'
    """
    if not isinstance(speed, dict) or not speed.get("start") or not speed.get("end"):
        return ""
    start, end = speed["start"], speed["end"]

    def pair(key: str) -> str:
        return f"{start.get(key, '?')} / {end.get(key, '?')} µs"

    return (
        "This machine in this run (at its start / end): a first touch of a fresh page "
        f"{pair('page_touch_us')}, an `lstat` {pair('lstat_us')} ({pair('lstat_missing_us')} "
        f"for a missing name), `getppid` {pair('getppid_us')}. Page faults and path lookups "
        "are what a cold start and the file decisions pay beyond their instructions "
        "(`bench/machine_speed.py`): absolute times, the init budget's among them, move with "
        "them from one machine or session to the next."
    )


def markdown(results: dict[str, Any]) -> str:
    """The markdown report (for docs/BENCHMARKS.md): date, machine, every table with its legend."""
    meta = results.get("meta", {})
    lines = [
        f"Measured {meta.get('date', '?')} on {meta.get('cpu', '?')} ({meta.get('cpus', '?')} CPUs), "
        f"Linux {meta.get('kernel', '?')}, Python {meta.get('python', '?')}; "
        f"`python -m bench` in {results.get('duration_s', '?')} s. Medians of "
        f"{results.get('plan', {}).get('repeats', '?')} interleaved runs, each in a fresh process"
        + (
            f", every timed one on CPU {meta['timed_cpu']} (`BENCH_CPU`)."
            if meta.get("timed_cpu") is not None
            else "."
        ),
        "",
    ]
    speed = speed_line(meta.get("speed"))
    if speed:
        lines += [speed, ""]
    for table in tables(results):
        lines.append(f"**{table.title}**")
        lines.append("")
        lines.append("| " + " | ".join(table.header) + " |")
        lines.append("|" + "|".join("---" for _ in table.header) + "|")
        for row in table.rows:
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
        lines.append("")
        lines.extend(f"- {line}" for line in table.legend)
        if table.legend:
            lines.append("")
    notes = results.get("notes", [])
    if notes:
        lines.append("Notes:")
        lines.append("")
        lines.extend(f"- {note}" for note in notes)
    return "\n".join(lines).rstrip() + "\n"


def chart(results: dict[str, Any], path: Path, note: Callable[[str], None]) -> bool:
    """A two-panel PNG: per-event overhead xfloor, and end-to-end/cold ratios xoff."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        note("chart skipped: matplotlib is not installed (pip install -e '.[bench]')")
        return False
    micro = results.get("micro", {}).get("benches", {})
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    if micro:
        modes = [m for m in _modes(next(iter(micro.values()))["modes"]) if m != "floor"]
        benches = list(micro)
        width = 0.8 / max(1, len(modes))
        for i, mode in enumerate(modes):
            values = [micro[b]["modes"][mode]["x_floor"] or 0 for b in benches]
            left.bar([j + i * width for j in range(len(benches))], values, width, label=mode)
        left.axhline(1.0, color="black", lw=0.8)
        left.axhline(0.35, color="red", lw=0.8, ls="--", label="budget (ignored event)")
        left.set_xticks([j + 0.4 - width / 2 for j in range(len(benches))])
        left.set_xticklabels([BENCH_LABELS.get(b, b) for b in benches], rotation=30, ha="right")
        left.set_yscale("log")
        left.set_ylabel("overhead ÷ empty-hook overhead")
        left.set_title("Per-event overhead (x empty Python hook)")
        left.legend(fontsize=7)
    groups: list[tuple[str, dict[str, float]]] = []
    for section, label in (("e2e", "orders handler"), ("e2e_stdlib", "stdlib handler")):
        e2e = results.get(section, {})
        if e2e:
            groups.append((label, {m: e2e[m]["x_off"] for m in _modes(e2e) if e2e[m]["x_off"]}))
    cold = results.get("cold", {})
    if cold:
        groups.append(
            (
                "import boto3",
                {m: cold[m]["import_boto3_ms"].get("x_off") for m in _modes(cold) if m != "off"},
            )
        )
        groups.append(
            (
                "start→1st call",
                {m: cold[m]["to_first_call_ms"].get("x_off") for m in _modes(cold) if m != "off"},
            )
        )
    modes = [m for m in MODE_ORDER if m != "off" and any(m in g for _, g in groups)]
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        values = [g.get(mode) or 0 for _, g in groups]
        right.bar([j + i * width for j in range(len(groups))], values, width, label=mode)
    right.axhline(1.0, color="black", lw=0.8)
    right.set_xticks([j + 0.4 - width / 2 for j in range(len(groups))])
    right.set_xticklabels([name for name, _ in groups])
    right.set_ylabel("x off")
    right.set_title("Handler and cold start (x no instrumentation)")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
