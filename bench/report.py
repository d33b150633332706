"""Tables (terminal and markdown), the §6 budget verdicts and the chart."""

from __future__ import annotations

from collections.abc import Callable
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
    """DESIGN.md §6: each budget with the measured figure and whether it holds."""
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


def tables(results: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every table as ``(title, header, rows)``, shared by the terminal and markdown output."""
    out: list[tuple[str, list[str], list[list[str]]]] = []
    micro = results.get("micro", {}).get("benches", {})
    if micro:
        modes = _modes(next(iter(micro.values()))["modes"])
        header = ["per event (ns/op)", "off", *[f"{m} +ns (xfloor)" for m in modes]]
        rows = []
        for bench, entry in micro.items():
            row = [BENCH_LABELS.get(bench, bench), _fmt(_med(entry["off_ns"]), digits=0)]
            for mode in modes:
                m = entry["modes"][mode]
                extra = "" if mode == "floor" else f" ({_x(m['x_floor'])})"
                row.append(_fmt(_med(m["overhead_ns"]), digits=0) + extra)
            rows.append(row)
        out.append(("Per-event cost: overhead over no hook, ns (median)", header, rows))
    e2e = results.get("e2e", {})
    if e2e:
        rows = []
        for mode in _modes(e2e):
            m = e2e[mode]
            rows.append(
                [
                    mode,
                    _fmt(_med(m["median_ms"]), " ms", 2),
                    _x(m["x_off"])
                    + (" vs ddtrace-off" if m.get("baseline") == "ddtrace-off" else ""),
                    _fmt(_med(m["rss_mb"]), " MB"),
                    _fmt(m.get("rss_delta_mb"), " MB"),
                    _fmt(_med(m["ru_maxrss_mb"]), " MB"),
                    _fmt(m.get("maxrss_delta_mb"), " MB"),
                ]
            )
        out.append(
            (
                "Orders handler (boto3→moto S3+DynamoDB, HTTP, /tmp, logging), warm process",
                ["mode", "per invocation", "x off", "RSS", "Δ RSS", "peak RSS", "Δ peak"],
                rows,
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
                    f"{_fmt(_med(m['import_boto3_ms']), ' ms')} ({_x(m['import_boto3_ms'].get('x_off'))})",
                    f"{_fmt(_med(m['to_first_call_ms']), ' ms')} ({_x(m['to_first_call_ms'].get('x_off'))})",
                    f"{_fmt(_med(lm.get('init_duration_ms')), ' ms')} ({_x((lm.get('init_duration_ms') or {}).get('x_off'))})"
                    if lm
                    else "-",
                ]
            )
        out.append(
            (
                "Cold start",
                [
                    "mode",
                    "sandbox init",
                    "import boto3 (xoff)",
                    "start → first call (xoff)",
                    "awslambdaric Init Duration (xoff)",
                ],
                rows,
            )
        )
    kernel = results.get("kernel", {})
    if kernel:
        out.append(
            (
                "Kernel layer (seccomp, `python -m sandbox.kernel bench`)",
                ["filter load", "getppid before", "getppid after", "per syscall", "status"],
                [
                    [
                        _fmt(_med(kernel["install_ms"]), " ms", 2),
                        _fmt(_med(kernel["getppid_ns_before"]), " ns", 0),
                        _fmt(_med(kernel["getppid_ns_after"]), " ns", 0),
                        "+" + _fmt(_med(kernel["per_syscall_ns"]), " ns", 0),
                        str((kernel.get("statuses") or {}).get("seccomp")),
                    ]
                ],
            )
        )
    verdicts = results.get("budgets") or []
    if verdicts:
        out.append(
            (
                "DESIGN.md §6 budgets",
                ["budget", "measured", "met"],
                [
                    [
                        b["budget"],
                        ("-" if b["measured"] is None else f"{b['measured']:.2f}")
                        + " "
                        + b["unit"],
                        "yes" if b["met"] else "NO",
                    ]
                    for b in verdicts
                ],
            )
        )
    return out


def terminal(results: dict[str, Any]) -> str:
    """Plain-text tables for the terminal."""
    chunks = []
    for title, header, rows in tables(results):
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
        lines = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False))]
        lines.append("  ".join("-" * w for w in widths))
        for row in rows:
            lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)))
        chunks.append("\n".join(lines))
    return "\n\n".join(chunks)


def markdown(results: dict[str, Any]) -> str:
    """The markdown summary (for the README): date, machine, every table, notes."""
    meta = results.get("meta", {})
    lines = [
        f"Measured {meta.get('date', '?')} on {meta.get('cpu', '?')} ({meta.get('cpus', '?')} CPUs), "
        f"Linux {meta.get('kernel', '?')}, Python {meta.get('python', '?')}; "
        f"`python -m bench` in {results.get('duration_s', '?')} s. Medians of "
        f"{results.get('plan', {}).get('repeats', '?')} interleaved runs, each in a fresh process.",
        "",
    ]
    for title, header, rows in tables(results):
        lines.append(f"**{title}**")
        lines.append("")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
        lines.append("")
    for note in results.get("notes", []):
        lines.append(f"- {note}")
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
