"""``python -m bench --check``'s verdicts on synthetic numbers (no timing in these tests)."""

from __future__ import annotations

from pathlib import Path

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
    # GIVEN ratios near what the sandbox measures today
    pairs = {
        "ignored_event_vs_floor": ([v * 1.4 for v in FLOOR], FLOOR),
        "e2e_enforce_vs_off": ([15.5, 16.0, 15.0, 17.0, 15.2], [15.0, 15.5, 14.8, 16.0, 15.0]),
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
        "e2e_enforce_vs_off": True,
        "import_boto3_enforce_vs_off": True,
    }


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
    # WHEN checked THEN the ratio is over the limit but the excess (10 ns) is within slack
    (verdict,) = [
        v
        for v in check({"ignored_event_vs_floor": (enforce, floor)})
        if v.name == "ignored_event_vs_floor"
    ]
    assert verdict.ratio == 2.5
    assert verdict.ok is True
    assert verdict.excess == 10.0


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
                        "enforce": {"overhead_series": [v * 1.2 for v in FLOOR]},
                    }
                }
            }
        },
        "e2e": {"off": {"median_series": [15.0]}, "enforce": {"median_series": [16.0]}},
        "cold": {
            "off": {"import_boto3_ms": {"series": [200.0]}},
            "enforce": {"import_boto3_ms": {"series": [240.0]}},
        },
    }
    pairs = check_pairs(results)
    assert set(pairs) == {t.name for t in CHECKS}
    assert all(v.ok for v in check(pairs))


def test_readme_table_is_replaced_between_the_markers(tmp_path: Path) -> None:
    # GIVEN a README with the bench markers and an old table
    from bench.__main__ import README_END, README_START, update_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\nafter\n")
    # WHEN a new summary is written
    assert update_readme(readme, "new table\n")
    # THEN only the part between the markers changed
    assert readme.read_text() == f"intro\n{README_START}\nnew table\n{README_END}\nafter\n"
    # AND a README without markers is left alone
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers")
    assert not update_readme(plain, "x")
    assert plain.read_text() == "no markers"
