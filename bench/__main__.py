"""``python -m bench [--check]``: the sandbox's overhead, as ratios against baselines of the same run.

Full run (< 5 min on 2 cores, plus ~4 min of decision costs on real sinks, ``bench.sinks``):
per-event microbenchmarks, the orders handler end to end, cold
start (own harness and through awslambdaric), memory, the kernel filter, ddtrace side by side
when its separate venv exists, and a hot-path breakdown. Writes ``bench/results/latest.json``,
``latest.md`` and ``latest.png``, and the tables into ``docs/BENCHMARKS.md``.

``--check`` (< 60 s, for CI): only the ratios that catch gross regressions; exit 1 on one.
``--quick`` (a few minutes): every section and mode once on small sizes, to see the whole run
work; its figures are noise, and it never rewrites docs/BENCHMARKS.md.

Every sandbox mode is measured with the native core and, as ``MODE-py``, with the Python
fallback (``SANDBOX_NATIVE=off``); the Budgets table shows both side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import fixtures, machine_speed, report, sinks
from bench.run import (
    CHECK,
    FULL,
    QUICK,
    Plan,
    Session,
    check_pairs,
    ddtrace_python,
    machine,
    plan_dict,
    sections_to_confirm,
)
from bench.stats import check

RESULTS = Path(__file__).resolve().parent / "results"


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_session(
    check_only: bool, *, keep: bool = False, plan: Plan | None = None
) -> dict[str, Any]:
    """Run the benchmark (full or check) and return every figure.

    Parameters
    ----------
    check_only : bool
        The fast CI subset.
    keep : bool
        Keep the working folder (logs, specs, profiles) for inspection.
    plan : Plan, optional
        Another plan (e.g. :data:`bench.run.QUICK`); default ``CHECK`` or ``FULL``.

    Returns
    -------
    dict
        Figures, ratios, notes and metadata.
    """
    plan = plan or (CHECK if check_only else FULL)
    started = time.perf_counter()
    fixtures.no_handler_bytecode()
    session = Session(plan, _say)
    notes = session.notes
    dd = ddtrace_python() if plan.ddtrace else None
    if plan.ddtrace and dd is None:
        notes.append(
            "ddtrace: not compared — no separate venv at bench/.venv-ddtrace "
            "(python3 -m venv bench/.venv-ddtrace && bench/.venv-ddtrace/bin/pip install "
            "ddtrace boto3 psutil)"
        )
    speed_at_start = _speed_on_timed_cpu()
    try:
        _say(f"working folder {session.work}")
        session.probe_core()
        _say("micro: fixtures and the micro children's learned profile")
        session.prepare_micro()
        _say("stdlib-heavy handler: learning its profile")
        session.prepare_stdlib()
        if str(fixtures.EXAMPLES) not in sys.path:
            sys.path.insert(0, str(fixtures.EXAMPLES))
        from services import loopback_services

        with loopback_services() as ports:
            _say(f"services on 127.0.0.1: {ports}; learning the orders example")
            session.prepare_orders(ports, through_lambda=bool(plan.lambda_modes))
            _say(f"micro: {plan.repeats} x {len(plan.micro_modes) + bool(dd)} children")
            session.measure_micro(dd)
            _say(f"e2e: {plan.repeats} x {len(plan.e2e_modes) + 2 * bool(dd)} children")
            session.measure_e2e(dd)
            _say(f"e2e, stdlib-heavy handler: {plan.repeats} x {len(plan.stdlib_modes)} children")
            session.measure_stdlib()
            _say(f"cold start: 2 x {plan.cold_repeats} x {len(plan.cold_modes)} children")
            session.measure_cold()
            if check_only:
                _confirm_regressions(session, dd)
            if plan.lambda_modes and plan.lambda_repeats:
                _say(
                    f"cold start through awslambdaric: {plan.lambda_repeats} x {len(plan.lambda_modes)}"
                )
                session.measure_lambda_cold()
            if plan.instruction_modes:
                _say(f"instructions (valgrind): {', '.join(plan.instruction_modes)} against off")
                session.measure_instructions()
            if plan.hotpath:
                _say("hot path: decomposition and cProfile of the handler")
                session.measure_hotpath()
        if plan.kernel_repeats:
            _say("kernel filter")
            session.measure_kernel()
        if plan.core_rounds:
            _say(f"audit hook core alone (bench.core_micro): {plan.core_rounds} rounds")
            session.measure_core()
    finally:
        if not keep:
            shutil.rmtree(session.work, ignore_errors=True)
            if session.deployment is not None:
                shutil.rmtree(session.deployment, ignore_errors=True)
    if plan.sinks:
        _say("sinks: decision costs on real sinks (python -m bench.sinks)")
        session.results["sinks"] = sinks.measure(
            repeats=plan.repeats, calls=plan.sinks_calls, loops=plan.sinks_loops
        )
    results = dict(session.results)
    if keep:
        results["work"] = str(session.work)
        if session.deployment is not None:
            results["deployment"] = str(session.deployment)
    if dd:
        notes.append(
            "ddtrace: "
            + ddtrace_note(dd)
            + " with DD_APPSEC_ENABLED, DD_APPSEC_RASP_ENABLED (exploit prevention), "
            "`import ddtrace.auto`, traces to a closed loopback port. Its RASP checks only run "
            "inside a request context that a web-framework integration opens; a bare Lambda "
            "handler has none, so this measures ddtrace's instrumentation cost, not its "
            "exploit-prevention decisions (compare with the sandbox's floor/learn rows)."
        )
    results["budgets"] = report.budgets(results)
    results["checks"] = [v.__dict__ for v in check(check_pairs(results))]
    results["meta"] = machine()
    results["meta"]["speed"] = {"start": speed_at_start, "end": _speed_on_timed_cpu()}
    results["meta"]["timed_cpu"] = fixtures.timed_cpu()
    results["plan"] = plan_dict(plan)
    results["notes"] = notes
    results["duration_s"] = round(time.perf_counter() - started, 1)
    return results


def _confirm_regressions(session: Session, dd: str | None) -> None:
    """Measure again every section whose check failed; only the second figures are judged.

    A shared CI machine can slow one mode's children for seconds at a time; a gross
    regression in the sandbox shows in every measurement, a neighbour's burst seldom twice in
    a row. The first verdicts are kept in the results (``checks_first``).
    """
    first = check(check_pairs(session.results))
    sections = sections_to_confirm(first)
    if not sections:
        return
    session.results["checks_first"] = [v.__dict__ for v in first]
    for verdict in first:
        if not verdict.ok:
            _say(f"over its limit, measuring again: {verdict.line()}")
    for section in sections:
        session.remeasure(section, dd)


def ddtrace_note(python: str) -> str:
    """``ddtrace X.Y.Z (python)`` as installed in the separate venv."""
    import subprocess

    out = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('ddtrace'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    shown = Path(python)
    with contextlib.suppress(ValueError):  # named from the repository: no machine's paths
        shown = shown.relative_to(Path(__file__).resolve().parent.parent)
    return f"ddtrace {out.stdout.strip() or '?'} ({shown})"


def _speed_on_timed_cpu() -> dict[str, float]:
    """The machine's speed figures, measured on the CPU the timed children run on."""
    cpu = fixtures.timed_cpu()
    if cpu is None:
        return machine_speed.measure()
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        return machine_speed.measure()
    finally:
        os.sched_setaffinity(0, allowed)


def main(argv: list[str] | None = None) -> int:
    """Command line.

    Parameters
    ----------
    argv : list[str] or None
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0, or 1 when ``--check`` found a gross regression.
    """
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fast CI regression check (< 60 s)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every section once on small sizes (a smoke run; figures are noise)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results folder (default bench/results; with --quick a new temporary folder)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="lsbench-quick-")) if args.quick else RESULTS
    results = run_session(args.check, keep=args.keep, plan=QUICK if args.quick else None)
    verdicts = [check_line(v) for v in results["checks"]]
    if args.keep:
        Path(results["work"], "results.json").write_text(json.dumps(results, indent=1))
    if args.check:
        print("\n".join(verdicts))
        print(f"bench --check in {results['duration_s']} s")
        return 0 if all(v["ok"] for v in results["checks"]) else 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    if report.chart(results, args.out / "latest.png", results["notes"].append):
        _say(f"chart: {args.out / 'latest.png'}")
    summary = report.markdown(results)
    (args.out / "latest.md").write_text(summary)
    if args.out == RESULTS and not args.quick and write_between_markers(BENCH_DOC, summary):
        _say(f"tables updated: {BENCH_DOC}")
    print(report.terminal(results))
    for note in results["notes"]:
        print(f"note: {note}")
    print("\n".join(verdicts))
    print(f"python -m bench in {results['duration_s']} s; results in {args.out}/latest.{{json,md}}")
    return 0


BENCH_DOC = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
MARK_START = "<!-- bench:start (python -m bench writes this part) -->"
MARK_END = "<!-- bench:end -->"


def write_between_markers(doc: Path, summary: str) -> bool:
    """Put ``summary`` between the bench markers of ``doc``; ``False`` when there are none.

    Parameters
    ----------
    doc : Path
        The markdown file (``docs/BENCHMARKS.md``).
    summary : str
        The generated tables (:func:`bench.report.markdown`).

    Returns
    -------
    bool
        Whether the file was rewritten; everything outside the markers is kept.

    Example
    -------
    >>> write_between_markers(Path("docs/BENCHMARKS.md"), "| a |\\n")  # doctest: +SKIP
    True
    """
    if not doc.is_file():
        return False
    text = doc.read_text()
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start < 0 or end < start:
        return False
    doc.write_text(text[: start + len(MARK_START)] + "\n" + summary.rstrip() + "\n" + text[end:])
    return True


def check_line(verdict: dict[str, Any]) -> str:
    """One terminal line for a check verdict."""
    ratio = verdict["ratio"]
    shown = "n/a" if ratio is None else f"{ratio:.2f}x"
    state = "ok" if verdict["ok"] else "REGRESSION"
    return f"check {state:<10} {verdict['name']:<30} {shown:>8} (limit {verdict['limit']:.2f}x)"


if __name__ == "__main__":
    sys.exit(main())
