"""``python -m bench.sinks``'s figures and budget verdicts on synthetic numbers (no timing here)."""

from __future__ import annotations

from bench.sinks import (
    budgets,
    decision_figures,
    handler_figures,
    markdown,
    noop_figures,
)


def _results() -> dict[str, object]:
    def runs(before: list[float], factor: float) -> list[dict[str, float]]:
        return [{"before_us": b, "after_us": b * factor} for b in before]

    machine = [1000.0, 2000.0, 1000.0]  # the second repeat ran on a machine twice as slow
    handler = handler_figures(
        {
            variant: {
                "off/-": runs(machine, 1.0),
                "enforce/native": runs(machine, 1.03),
                "learn/native": runs(machine, 1.2),
            }
            for variant in ("full", "full+child")
        }
    )
    decision = decision_figures(
        {
            "enforce/native": [
                {
                    "before_us": {"exec": 0.1, "connect": 0.1},
                    "after_us": {"exec": 90.1, "connect": 2.1},
                }
            ]
        }
    )
    noop = noop_figures({"learn/native": [{"before_us": 0.05, "after_us": 4.05}]})
    return {"handler": handler, "decision": decision, "noop": noop, "steps": {"step": 1.0}}


def test_handler_ratio_is_paired_against_off_of_the_same_repeat() -> None:
    # GIVEN a machine twice as slow in the second repeat, enforce 3 % over off in every child
    results = _results()
    # WHEN the figures are made THEN the ratio is 1.03, the overhead 30 µs, off its own control
    handler = results["handler"]
    assert isinstance(handler, dict)
    assert handler["full"]["enforce/native"]["x_off"] == 1.03
    assert handler["full"]["enforce/native"]["overhead_us"] == 30.0
    assert handler["full"]["off/-"]["x_off"] == 1.0


def test_decision_and_noop_are_differences_over_no_hook() -> None:
    # GIVEN loops timed before and after the install in the same child
    results = _results()
    # WHEN the figures are made THEN the decision is the difference
    decision = results["decision"]
    noop = results["noop"]
    assert isinstance(decision, dict) and isinstance(noop, dict)
    assert decision["enforce/native"]["exec"]["decision_us"] == 90.0
    assert decision["enforce/native"]["connect"]["decision_us"] == 2.0
    assert noop["learn/native"]["overhead_us"] == 4.0


def test_budgets_say_met_and_not_met() -> None:
    # GIVEN enforce within 1.05x, learn at 1.2x, an exec decision of 90 µs, a connect of 2 µs
    results = _results()
    # WHEN judged
    verdicts = {b["name"]: b["met"] for b in budgets(results)}
    # THEN each budget gets its verdict
    assert verdicts["handler full enforce/native x off"] is True
    assert verdicts["handler full+child learn/native x off"] is False
    assert verdicts["allowed exec decision enforce/native µs"] is False  # 90 µs > budget
    assert verdicts["allowed connect decision enforce/native µs"] is True
    assert verdicts["learn per invocation learn/native µs"] is True
    # AND the Markdown report shows the missed ones
    results["budgets"] = budgets(results)
    assert "**NOT met**" in markdown(results)
