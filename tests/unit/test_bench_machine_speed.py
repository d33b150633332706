"""``python -m bench``'s measure of the machine's kernel costs (``bench.machine_speed``) and the
line the report shows of it: shape only, no figure asserted (machines here are noisy)."""

from __future__ import annotations

from bench import machine_speed, report


def test_the_machine_speed_is_four_positive_figures() -> None:
    # GIVEN a small measure of this machine
    # WHEN it runs
    figures = machine_speed.measure(pages=16, lookups=50, rounds=3)
    # THEN each kernel cost is there, in microseconds, above zero
    assert set(figures) == {"page_touch_us", "lstat_us", "lstat_missing_us", "getppid_us"}
    assert all(isinstance(v, float) and v > 0 for v in figures.values())


def test_the_report_shows_the_start_and_the_end_of_the_run() -> None:
    # GIVEN the speed measured at a run's start and at its end
    start = {"page_touch_us": 3.5, "lstat_us": 2.8, "lstat_missing_us": 2.1, "getppid_us": 0.3}
    end = dict(start, page_touch_us=4.25)
    # WHEN the markdown report is written
    text = report.markdown({"meta": {"speed": {"start": start, "end": end}}})
    # THEN its header says both, and an older results file (no speed) has no such line
    assert "a first touch of a fresh page 3.5 / 4.25 µs" in text
    assert "an `lstat` 2.8 / 2.8 µs (2.1 / 2.1 µs for a missing name)" in text
    assert "first touch" not in report.markdown({"meta": {}})
