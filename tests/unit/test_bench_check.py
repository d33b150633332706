"""``python -m bench --check``'s verdicts on synthetic numbers (no timing in these tests)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench.run import check_pairs
from bench.stats import CHECKS, check, paired_ratio, summary

FLOOR = [300.0, 310.0, 290.0, 305.0, 295.0]


def _verdicts(pairs: dict[str, tuple[list[float], list[float]]]) -> dict[str, bool]:
    return {v.name: v.ok for v in check(pairs)}


def test_summary_of_repeats() -> None:
    # GIVEN five repeats WHEN summarised THEN min/median/max/n
    assert summary([3.0, 1.0, 2.0, 5.0, 4.0]) == {"min": 1.0, "median": 3.0, "max": 5.0, "n": 5}
    assert summary([])["n"] == 0


def test_paired_ratio_is_the_median_of_per_repeat_ratios() -> None:
    # GIVEN a drifting machine: both series double in the last repeats
    measured = [110.0, 110.0, 220.0, 220.0, 990.0]
    baseline = [100.0, 100.0, 200.0, 200.0, 100.0]
    # WHEN paired THEN the drift cancels and the one outlier is ignored
    assert paired_ratio(measured, baseline) == 1.1
    assert paired_ratio([1.0], [0.0]) is None


def test_healthy_numbers_pass() -> None:
    # GIVEN ratios near what the sandbox measures today: the native core well under the
    # empty hook, the Python fallback a little over it
    pairs = {
        "ignored_event_vs_floor": ([v * 0.35 for v in FLOOR], FLOOR),
        "ignored_event_py_vs_floor": ([v * 1.4 for v in FLOOR], FLOOR),
        "e2e_enforce_vs_off": ([15.5, 16.0, 15.0, 17.0, 15.2], [15.0, 15.5, 14.8, 16.0, 15.0]),
        "e2e_stdlib_enforce_vs_off": ([2.3, 2.4, 2.2, 2.5, 2.3], [2.2, 2.2, 2.1, 2.3, 2.2]),
        "import_boto3_enforce_vs_off": ([260.0] * 5, [200.0] * 5),
    }
    # WHEN checked THEN every check passes
    assert all(_verdicts(pairs).values())


def test_ignored_event_regression_fails() -> None:
    # GIVEN the ignored event costing 3x the empty hook (e.g. a decoder run for every event)
    pairs = {"ignored_event_vs_floor": ([v * 3 for v in FLOOR], FLOOR)}
    # WHEN checked THEN that check fails, and the others (no data) pass
    verdicts = _verdicts(pairs)
    assert verdicts == {
        "ignored_event_vs_floor": False,
        "ignored_event_py_vs_floor": True,
        "e2e_enforce_vs_off": True,
        "e2e_stdlib_enforce_vs_off": True,
        "import_boto3_enforce_vs_off": True,
    }


def test_native_core_at_the_python_floor_fails() -> None:
    # GIVEN enforce's ignored event costing 1.2x the empty hook: what the Python core costs,
    # i.e. the native core no longer filters in C (or did not load)
    pairs = {
        "ignored_event_vs_floor": ([v * 1.2 for v in FLOOR], FLOOR),
        "ignored_event_py_vs_floor": ([v * 1.2 for v in FLOOR], FLOOR),
    }
    # WHEN checked THEN the native check fails, the same figure passes for the Python core
    verdicts = _verdicts(pairs)
    assert verdicts["ignored_event_vs_floor"] is False
    assert verdicts["ignored_event_py_vs_floor"] is True


def test_e2e_regression_fails() -> None:
    # GIVEN enforce making every invocation twice as slow
    off = [15.0, 16.0, 14.0, 15.0, 15.5]
    pairs = {"e2e_enforce_vs_off": ([v * 2 for v in off], off)}
    # WHEN checked THEN the e2e check fails
    assert _verdicts(pairs)["e2e_enforce_vs_off"] is False


def test_one_noisy_repeat_does_not_fail() -> None:
    # GIVEN one repeat hit by a noisy neighbour (10x), the others healthy
    off = [15.0, 15.0, 15.0, 15.0, 15.0]
    enforce = [15.5, 150.0, 15.4, 15.6, 15.3]
    # WHEN checked THEN the median of the pairs keeps it green
    assert _verdicts({"e2e_enforce_vs_off": (enforce, off)})["e2e_enforce_vs_off"] is True


def test_ratio_over_limit_with_tiny_absolute_excess_passes() -> None:
    # GIVEN a floor measured as 20 ns on a noisy machine and enforce at 50 ns (2.5x)
    floor = [20.0] * 5
    enforce = [50.0] * 5
    # WHEN checked THEN each ratio is over its limit (1.0x native, 2.0x Python) but the excess
    # (30 ns, 10 ns) is within the slack (30 ns, 60 ns)
    pairs = {
        "ignored_event_vs_floor": (enforce, floor),
        "ignored_event_py_vs_floor": (enforce, floor),
    }
    verdicts = {v.name: v for v in check(pairs)}
    native, python = verdicts["ignored_event_vs_floor"], verdicts["ignored_event_py_vs_floor"]
    assert native.ratio == python.ratio == 2.5
    assert native.ok and python.ok
    assert (native.excess, python.excess) == (30.0, 10.0)


def test_no_data_passes_as_not_available() -> None:
    # GIVEN nothing measured WHEN checked THEN every check passes with no ratio
    verdicts = check({})
    assert [v.name for v in verdicts] == [t.name for t in CHECKS]
    assert all(v.ok and v.ratio is None for v in verdicts)
    assert "n/a" in verdicts[0].line()


def test_check_pairs_reads_a_session_result() -> None:
    # GIVEN results shaped like a session's WHEN the pairs are extracted THEN each check has both series
    results = {
        "micro": {
            "benches": {
                "ignored_getframe": {
                    "modes": {
                        "floor": {"overhead_series": FLOOR},
                        "enforce": {"overhead_series": [v * 0.3 for v in FLOOR]},
                        "enforce-py": {"overhead_series": [v * 1.2 for v in FLOOR]},
                    }
                }
            }
        },
        "e2e": {"off": {"median_series": [15.0]}, "enforce": {"median_series": [16.0]}},
        "e2e_stdlib": {"off": {"median_series": [2.0]}, "enforce": {"median_series": [2.1]}},
        "cold": {
            "off": {"import_boto3_ms": {"series": [200.0]}},
            "enforce": {"import_boto3_ms": {"series": [240.0]}},
        },
    }
    pairs = check_pairs(results)
    assert set(pairs) == {t.name for t in CHECKS}
    assert all(v.ok for v in check(pairs))


def test_tables_are_replaced_between_the_markers(tmp_path: Path) -> None:
    # GIVEN a document with the bench markers and an old table
    from bench.__main__ import MARK_END, MARK_START, write_between_markers

    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(f"intro\n{MARK_START}\nold table\n{MARK_END}\nafter\n")
    # WHEN a new summary is written
    assert write_between_markers(doc, "new table\n")
    # THEN only the part between the markers changed
    assert doc.read_text() == f"intro\n{MARK_START}\nnew table\n{MARK_END}\nafter\n"
    # AND a document without markers is left alone
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers")
    assert not write_between_markers(plain, "x")
    assert plain.read_text() == "no markers"


def test_the_benchmark_page_has_the_markers() -> None:
    # GIVEN the page `python -m bench` writes to THEN it has both markers, in order,
    # and the README no longer holds the tables
    from bench.__main__ import BENCH_DOC, MARK_END, MARK_START

    text = BENCH_DOC.read_text()
    assert MARK_START in text and MARK_END in text
    assert text.index(MARK_START) < text.index(MARK_END)
    assert MARK_START not in (BENCH_DOC.parent.parent / "README.md").read_text()


def _figure(median: float) -> dict[str, float]:
    return {"min": median, "median": median, "max": median, "n": 5}


def _micro_mode(overhead: float, x_floor: float, x_off: float) -> dict[str, Any]:
    return {"overhead_ns": _figure(overhead), "x_floor": x_floor, "x_off": x_off}


def _noisy_results() -> dict[str, Any]:
    """Results as a noisy run gives them: costs below zero, ratios over a negative floor."""
    return {
        "meta": {"date": "d", "cpu": "c", "cpus": 2, "kernel": "k", "python": "3.11"},
        "plan": {"repeats": 5},
        "duration_s": 1.0,
        "micro": {
            "benches": {
                "subprocess": {
                    "off_ns": _figure(470_000.0),
                    "modes": {
                        "floor": _micro_mode(-23_000.0, 1.0, 0.95),
                        "alert": _micro_mode(76_000.0, -5.95, 1.14),
                        "enforce": _micro_mode(-1_000.0, 31.3, 0.99),
                    },
                },
                "open_cached": {
                    "off_ns": _figure(5_500.0),
                    "modes": {
                        "floor": _micro_mode(217.0, 1.0, 1.04),
                        "alert": _micro_mode(1_618.0, 8.1, 1.29),
                        "enforce": _micro_mode(3_198.0, 16.0, 1.58),
                    },
                },
            }
        },
        "e2e": {
            "off": {
                "median_ms": _figure(13.0),
                "x_off": None,
                "rss_mb": _figure(53.5),
                "rss_delta_mb": None,
                "ru_maxrss_mb": _figure(122.0),
                "maxrss_delta_mb": None,
            },
            "enforce": {
                "median_ms": _figure(14.0),
                "x_off": 1.08,
                "rss_mb": _figure(53.4),
                "rss_delta_mb": -0.1,
                "ru_maxrss_mb": _figure(123.0),
                "maxrss_delta_mb": 0.9,
            },
        },
        "cold": {
            "off": {
                "sandbox_init_ms": _figure(0.0),
                "import_boto3_ms": {**_figure(150.0), "x_off": None},
                "to_first_call_ms": {**_figure(300.0), "x_off": None},
            },
            "enforce": {
                "sandbox_init_ms": _figure(7.5),
                "import_boto3_ms": {**_figure(170.0), "x_off": 1.11},
                "to_first_call_ms": {**_figure(290.0), "x_off": 0.97},
            },
        },
        "kernel": {
            "install_ms": _figure(2.5),
            "getppid_ns_before": _figure(222.0),
            "getppid_ns_after": _figure(215.0),
            "per_syscall_ns": _figure(-7.0),
            "statuses": {"seccomp": "active"},
        },
        "budgets": [
            {
                "budget": "ignored event",
                "limit": 0.35,
                "unit": "x floor",
                "native": -0.4,
                "native_met": True,
                "python": 1.2,
                "python_met": False,
            },
            {
                "budget": "init",
                "limit": 10.0,
                "unit": "ms",
                "native": 7.49,
                "native_met": True,
                "python": None,
                "python_met": None,
            },
        ],
        "notes": ["a note"],
    }


def test_markdown_report_never_shows_a_negative_cost_or_ratio() -> None:
    # GIVEN a noisy run: an empty hook "saving" 23 µs on a subprocess, a ratio over it of -5.95x
    from bench.report import NOISE, markdown

    text = markdown(_noisy_results())
    cells = [
        cell.strip()
        for line in text.splitlines()
        if line.startswith("|")
        for cell in line.strip("|").split("|")
    ]
    # WHEN rendered THEN no cell holds a negative number: costs below zero read as noise
    assert not [c for c in cells if re.search(r"(^|[\s(])-\d", c)], cells
    assert NOISE in cells
    # AND a real cost keeps its sign and its ratio to no hook
    assert "+3,198 ns (1.58x)" in cells
    # AND the legend explains what the noise marker means, the notes follow the tables
    assert f"**{NOISE}**" in text and text.rstrip().endswith("- a note")


def test_every_table_has_a_legend_naming_its_columns() -> None:
    # GIVEN the tables of a run
    from bench.report import tables

    found = tables(_noisy_results())
    assert len(found) == 5  # per event, handler, cold start, kernel, budgets
    for table in found:
        # THEN each has a legend, and the legend names each of its measured columns
        legend = " ".join(table.legend)
        assert table.legend, table.title
        for column in table.header[1:]:
            if column in ("Δ peak", "Δ RSS", "met"):
                continue  # explained together with the column they qualify
            assert f"**{column}**" in legend or column in legend, (table.title, column)


def test_the_orders_check_judges_the_functions_cpu_not_its_wait_on_the_services() -> None:
    # GIVEN an orders run whose wall time doubled in two enforce children (the loopback
    # services slowed), while the function's own CPU per call stayed where it was
    wall_off, wall_enforce = [10.0, 10.0, 10.0, 10.0, 10.0], [23.0, 23.0, 10.5, 23.0, 10.4]
    cpu_off, cpu_enforce = [3.6, 3.7, 3.5, 3.6, 3.6], [4.0, 4.1, 3.9, 4.0, 4.0]
    results = {
        "e2e": {
            "off": {"median_series": wall_off, "cpu_median_series": cpu_off},
            "enforce": {"median_series": wall_enforce, "cpu_median_series": cpu_enforce},
        }
    }
    # WHEN the pairs are extracted and checked
    pairs = check_pairs(results)
    # THEN the CPU series are judged and the check passes
    assert pairs["e2e_enforce_vs_off"] == (cpu_enforce, cpu_off)
    assert _verdicts(pairs)["e2e_enforce_vs_off"] is True
    # AND results without CPU figures (older files) are judged on wall time
    for mode in ("off", "enforce"):
        del results["e2e"][mode]["cpu_median_series"]
    assert check_pairs(results)["e2e_enforce_vs_off"] == (wall_enforce, wall_off)
    assert _verdicts(check_pairs(results))["e2e_enforce_vs_off"] is False


def test_only_the_sections_of_failed_checks_are_measured_again() -> None:
    # GIVEN both micro checks and the boto3 check failing, the others passing
    from bench.run import CHECK_SECTIONS, sections_to_confirm

    off = [15.0] * 5
    pairs = {
        "ignored_event_vs_floor": ([v * 3 for v in FLOOR], FLOOR),
        "ignored_event_py_vs_floor": ([v * 3 for v in FLOOR], FLOOR),
        "e2e_enforce_vs_off": (off, off),
        "import_boto3_enforce_vs_off": ([900.0] * 5, [200.0] * 5),
    }
    # WHEN the sections to confirm are chosen THEN micro once and cold, in check order
    assert sections_to_confirm(check(pairs)) == ["micro", "cold"]
    # AND every check names a section, none when all pass
    assert set(CHECK_SECTIONS) == {t.name for t in CHECKS}
    assert sections_to_confirm(check({})) == []


class _Remeasured:
    """A session whose sections, measured again, give the figures queued for them."""

    def __init__(self, first: dict[str, Any], again: dict[str, dict[str, Any]]) -> None:
        self.results = first
        self.again = again
        self.measured: list[str] = []

    def remeasure(self, section: str, ddtrace: str | None) -> None:
        self.measured.append(section)
        self.results[section] = self.again[section]


def _e2e(enforce: list[float], off: list[float]) -> dict[str, Any]:
    return {"enforce": {"median_series": enforce}, "off": {"median_series": off}}


def test_a_failed_check_is_judged_on_its_second_measurement() -> None:
    # GIVEN a first e2e measurement over its limit, and a second one healthy
    from bench.__main__ import _confirm_regressions

    off = [4.0] * 5
    session = _Remeasured({"e2e": _e2e([9.0] * 5, off)}, {"e2e": _e2e([4.3] * 5, off)})
    # WHEN the regressions are confirmed
    _confirm_regressions(session, None)  # type: ignore[arg-type]
    # THEN only e2e was measured again, the first verdicts are kept, and the final ones pass
    assert session.measured == ["e2e"]
    first = {v["name"]: v["ok"] for v in session.results["checks_first"]}
    assert first["e2e_enforce_vs_off"] is False
    assert all(v.ok for v in check(check_pairs(session.results)))


def test_a_regression_seen_twice_still_fails() -> None:
    # GIVEN a regression in both measurements
    from bench.__main__ import _confirm_regressions

    off = [4.0] * 5
    session = _Remeasured({"e2e": _e2e([9.0] * 5, off)}, {"e2e": _e2e([9.5] * 5, off)})
    # WHEN confirmed THEN the final verdict fails
    _confirm_regressions(session, None)  # type: ignore[arg-type]
    assert _verdicts(check_pairs(session.results))["e2e_enforce_vs_off"] is False


def test_nothing_is_measured_again_when_every_check_passes() -> None:
    from bench.__main__ import _confirm_regressions

    session = _Remeasured({"e2e": _e2e([4.2] * 5, [4.0] * 5)}, {})
    _confirm_regressions(session, None)  # type: ignore[arg-type]
    assert session.measured == [] and "checks_first" not in session.results
