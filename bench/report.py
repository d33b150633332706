"""Tables (terminal and markdown, each with a legend), the budget verdicts and the chart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODE_ORDER = (
    "off",
    "floor",
    "learn",
    "alert",
    "enforce",
    "enforce-hook",
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


def budgets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The project's cost budgets: each with the measured figure and whether it holds."""
    out: list[dict[str, Any]] = []
    micro = results.get("micro", {}).get("benches", {})
    for bench in ("ignored_getframe", "ignored_id"):
        entry = micro.get(bench, {}).get("modes", {}).get("enforce")
        if entry:
            out.append(
                {
                    "budget": f"ignored audit event ({bench}) ≤ 1.3x the empty-hook floor",
                    "measured": entry["x_floor"],
                    "unit": "x floor (overhead)",
                    "limit": 1.3,
                    "met": entry["x_floor"] is not None and entry["x_floor"] <= 1.3,
                }
            )
    e2e = results.get("e2e", {})
    for mode in ("enforce", "enforce-hook"):
        if mode in e2e and e2e[mode]["x_off"] is not None:
            out.append(
                {
                    "budget": f"orders handler per invocation, {mode} ≤ 1.05x off",
                    "measured": e2e[mode]["x_off"],
                    "unit": "x off",
                    "limit": 1.05,
                    "met": e2e[mode]["x_off"] <= 1.05,
                }
            )
    cold = results.get("cold", {})
    if "enforce" in cold:
        init = _med(cold["enforce"]["sandbox_init_ms"])
        out.append(
            {
                "budget": "sandbox's own init (import, profile load, hook + filter) ≤ 10 ms",
                "measured": init,
                "unit": "ms",
                "limit": 10.0,
                "met": init is not None and init <= 10.0,
            }
        )
        ratio = cold["enforce"]["import_boto3_ms"].get("x_off")
        out.append(
            {
                "budget": "import boto3 under enforce ≤ 1.15x off",
                "measured": ratio,
                "unit": "x off",
                "limit": 1.15,
                "met": ratio is not None and ratio <= 1.15,
            }
        )
    if "enforce" in e2e and e2e["enforce"].get("rss_delta_mb") is not None:
        delta = e2e["enforce"]["rss_delta_mb"]
        out.append(
            {
                "budget": "memory ≤ 5 MB RSS over baseline (enforce, after the handler ran)",
                "measured": delta,
                "unit": "MB",
                "limit": 5.0,
                "met": delta <= 5.0,
            }
        )
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
    "**learn**, **alert**, **enforce**: extra time in that mode (enforce: audit hook, seccomp and "
    "Landlock); **enforce-hook**: enforce with the kernel layers off (`SANDBOX_SECCOMP=off`); "
    "**ddtrace**: Datadog's tracer with exploit prevention (see the note).",
    "In parentheses: the operation's time in that mode ÷ its time with no hook (1.50x = half as "
    "long again), the median of the per-repeat ratios (so not quite the medians' quotient).",
    f"**{NOISE}**: the measured extra time was below zero, i.e. smaller than the noise of the "
    "operation itself (a subprocess varies by tens of µs from one run to the next).",
]
E2E_LEGEND = [
    "**per invocation**: median time of one warm call of `examples/orders` (boto3 to a local "
    "moto S3 and DynamoDB, an HTTP call, a file in /tmp, logging).",
    "**x off**: per-invocation time ÷ the same in `off`, paired per repeat (ddtrace: ÷ "
    "`ddtrace-off`, the same handler in ddtrace's own environment without ddtrace). Below 1.00x "
    "means no measurable cost: the difference is noise.",
    "**RSS**: resident memory after the calls; **peak RSS**: the process's maximum "
    f"(`ru_maxrss`); **Δ**: over `off` ({NOISE}: no measurable growth).",
]
COLD_LEGEND = [
    "**sandbox init**: `import sandbox` plus `install(...)` in that mode (profile load, hook, "
    "kernel filter).",
    "**import boto3**: importing boto3 with the sandbox installed; **start → first call**: "
    "process spawn to the handler's first call; in parentheses ÷ `off`.",
    "**awslambdaric Init Duration**: what the real runtime client reports when started "
    "through the layer's wrapper script.",
]
KERNEL_LEGEND = [
    "**filter load**: time to install the seccomp filter; **getppid before**, **getppid "
    "after**: a cheap system call without and with the filter; **per syscall**: the "
    "difference (what every system call pays); **status**: what the kernel answered.",
]
BUDGET_LEGEND = [
    "The targets the project set itself for the sandbox's cost; **measured** is this run's "
    "median (ratios as in the tables above; *x floor*: the extra time ÷ the empty hook's).",
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
    e2e = results.get("e2e", {})
    if e2e:
        rows = []
        for mode in _modes(e2e):
            m = e2e[mode]
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
        out.append(
            Table(
                "Orders handler, warm process",
                ["mode", "per invocation", "x off", "RSS", "Δ RSS", "peak RSS", "Δ peak"],
                rows,
                E2E_LEGEND,
            )
        )
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
    verdicts = results.get("budgets") or []
    if verdicts:
        out.append(
            Table(
                "Budgets",
                ["budget", "measured", "met"],
                [
                    [b["budget"], _measured(b["measured"], b["unit"]), "yes" if b["met"] else "NO"]
                    for b in verdicts
                ],
                BUDGET_LEGEND,
            )
        )
    return out


def _measured(value: float | None, unit: str) -> str:
    """A budget's measured figure with its unit; below zero it is noise."""
    if value is None:
        return "-"
    return NOISE if value < 0 else f"{value:.2f} {unit}"


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


def markdown(results: dict[str, Any]) -> str:
    """The markdown report (for docs/BENCHMARKS.md): date, machine, every table with its legend."""
    meta = results.get("meta", {})
    lines = [
        f"Measured {meta.get('date', '?')} on {meta.get('cpu', '?')} ({meta.get('cpus', '?')} CPUs), "
        f"Linux {meta.get('kernel', '?')}, Python {meta.get('python', '?')}; "
        f"`python -m bench` in {results.get('duration_s', '?')} s. Medians of "
        f"{results.get('plan', {}).get('repeats', '?')} interleaved runs, each in a fresh process.",
        "",
    ]
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
        left.axhline(1.3, color="red", lw=0.8, ls="--", label="budget (ignored event)")
        left.set_xticks([j + 0.4 - width / 2 for j in range(len(benches))])
        left.set_xticklabels([BENCH_LABELS.get(b, b) for b in benches], rotation=30, ha="right")
        left.set_yscale("log")
        left.set_ylabel("overhead ÷ empty-hook overhead")
        left.set_title("Per-event overhead (x empty Python hook)")
        left.legend(fontsize=7)
    groups: list[tuple[str, dict[str, float]]] = []
    e2e = results.get("e2e", {})
    if e2e:
        groups.append(("handler", {m: e2e[m]["x_off"] for m in _modes(e2e) if e2e[m]["x_off"]}))
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
