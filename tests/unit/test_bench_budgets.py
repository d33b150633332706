"""``python -m bench``'s Budgets table: every budget, native and Python side by side, from a
synthetic session (the figures made by the bench's own functions; no timing in these tests)."""

from __future__ import annotations

from typing import Any

from bench import instructions, report
from bench.child import mode_environment
from bench.run import cold_figures, e2e_figures, micro_figures
from bench.sinks import decision_figures, handler_figures, noop_figures

# Extra ns per operation over no hook, per mode (the same in every repeat).
# (enforce-hook: the audit hook alone, kernel layers off; the decision budgets are judged on it)
MICRO = {
    "ignored_getframe": {"off": 30.0, "floor": 230.0, "enforce": 69.0, "enforce-py": 276.0},
    "ignored_id": {"off": 50.0, "floor": 200.0, "enforce": 60.0, "enforce-py": 240.0},
    "open_cached": {"off": 5_500.0, "floor": 200.0, "enforce": 900.0, "enforce-py": 1_400.0},
    "open_first": {"off": 5_200.0, "floor": 300.0, "enforce": 3_000.0, "enforce-py": 4_500.0},
    "import": {"off": 70_000.0, "floor": 2_000.0, "enforce": 8_500.0, "enforce-py": 12_500.0},
    "import_invoke": {
        "off": 70_000.0,
        "floor": 2_000.0,
        "enforce": 9_500.0,
        "enforce-py": 14_000.0,
    },
}
for _name, _figures in MICRO.items():
    _kernel = 500.0 if _name.startswith(("open", "import")) else 0.0  # Landlock's cost per open
    _figures["enforce-hook"] = _figures["enforce"] - _kernel
    _figures["enforce-hook-py"] = _figures["enforce-py"] - _kernel
MACHINE = [1.0, 2.0, 1.0]  # the second repeat ran on a machine twice as slow


def _micro() -> dict[str, Any]:
    raw: dict[str, list[dict[str, Any]]] = {}
    for mode in ("floor", "enforce", "enforce-py", "enforce-hook", "enforce-hook-py"):
        raw[mode] = [
            {
                "before": {b: f["off"] * k for b, f in MICRO.items()},
                "after": {b: (f["off"] + f[mode]) * k for b, f in MICRO.items()},
                "status": {"layers": {"audit": "python" if mode.endswith("-py") else "native"}},
            }
            for k in MACHINE
        ]
    return micro_figures(raw, MICRO)


def _handler(ms: dict[str, float]) -> dict[str, Any]:
    """Warm-handler figures: ``ms`` per invocation by mode; RSS grows 1 MB (native), 2 MB (py)."""
    rss = {"off": 50.0, "enforce": 51.0, "enforce-py": 52.0}
    return e2e_figures(
        {
            mode: [
                {"median_ms": value * k, "init_ms": 1.0, "rss_mb": rss[mode], "ru_maxrss_mb": 99.0}
                for k in MACHINE
            ]
            for mode, value in ms.items()
        }
    )


def _cold() -> dict[str, Any]:
    init = {"off": 0.0, "enforce": 7.0, "enforce-py": 12.0}
    boto3 = {"off": 150.0, "enforce": 153.0, "enforce-py": 165.0}
    return cold_figures(
        {
            mode: [
                {
                    "sandbox_init_ms": init[mode],
                    "import_boto3_ms": boto3[mode] * k,
                    "import_boto3_after_sandbox_ms": boto3[mode],
                    "function_init_ms": 100.0,
                    "to_first_call_ms": 300.0,
                }
                for k in MACHINE
            ]
            for mode in init
        }
    )


def _sinks() -> dict[str, Any]:
    def runs(factor: float) -> list[dict[str, float]]:
        return [{"before_us": 1000.0 * k, "after_us": 1000.0 * k * factor} for k in MACHINE]

    factors = {
        "enforce/native": 1.03,
        "enforce/python": 1.08,
        "learn/native": 1.04,
        "learn/python": 1.06,
    }
    handler = handler_figures(
        {v: {key: runs(f) for key, f in factors.items()} for v in ("full", "full+child")}
    )
    decision = decision_figures(
        {
            key: [
                {
                    "before_us": {"exec": 0.1, "connect": 0.1},
                    "after_us": {"exec": 0.1 + ex, "connect": 0.1 + co},
                }
            ]
            for key, ex, co in (("enforce/native", 4.0, 2.0), ("enforce/python", 6.0, 3.0))
        }
    )
    noop = noop_figures(
        {
            "learn/native": [{"before_us": 0.05, "after_us": 2.05}],
            "learn/python": [{"before_us": 0.05, "after_us": 3.05}],
        }
    )
    return {"handler": handler, "decision": decision, "noop": noop}


def _results() -> dict[str, Any]:
    return {
        "meta": {"date": "d", "cpu": "c", "cpus": 2, "kernel": "k", "python": "3.11"},
        "plan": {"repeats": 3},
        "micro": _micro(),
        "e2e": _handler({"off": 15.0, "enforce": 15.6, "enforce-py": 16.5}),
        "e2e_stdlib": _handler({"off": 2.0, "enforce": 2.08, "enforce-py": 2.2}),
        "cold": _cold(),
        "core": {
            "ns": {
                "getframe_ns": {"none": 30.0, "empty_py": 260.0, "native_ignored": 100.0},
                "audit_ns": {"none": 60.0, "empty_py": 300.0, "native_ignored": 130.0},
            },
            "overhead_ns": {
                "getframe_ns": {"none": 0.0, "empty_py": 230.0, "native_ignored": 70.0},
                "audit_ns": {"none": 0.0, "empty_py": 240.0, "native_ignored": 70.0},
            },
            "ratios": {
                "native_ignored_vs_empty_py": 0.3,
                "native_ignored_vs_empty_py_sys_audit": 0.29,
                "python_ignored_vs_empty_py": 1.1,
            },
            "init_ms": {"none": 0.1, "empty_py": 0.1, "native_ignored": 0.4},
        },
        "sinks": _sinks(),
        "instructions": instructions.figures(
            {
                "ric": 100,
                "init": {"off": 140, "enforce-hook": 190, "enforce-hook-py": 210},
                "boto3": {"off": 640, "enforce-hook": 655, "enforce-hook-py": 700},
                **{
                    handler: {
                        "off": {10: 100, 40: 400},
                        "enforce-hook": {10: 102, 40: 412},
                        "enforce-hook-py": {10: 110, 40: 440},
                    }
                    for handler in ("stdlib", "orders")
                },
            }
        ),
    }


def _rows(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["budget"]: row for row in report.budgets(results)}


def test_every_budget_is_measured_on_both_cores() -> None:
    # GIVEN a session with every section WHEN the budgets are made
    rows = report.budgets(_results())
    # THEN each budget of the issue is there, in order, with a figure for both cores
    assert [r["budget"] for r in rows] == [b.name for b in report.BUDGETS]
    assert len(rows) == 22
    for row in rows:
        assert row["native"] is not None and row["python"] is not None, row["budget"]
        assert isinstance(row["native_met"], bool) and isinstance(row["python_met"], bool)


def test_budget_figures_come_from_their_section_and_core() -> None:
    # GIVEN the synthetic session (a machine twice as slow in one repeat)
    rows = _rows(_results())
    # WHEN judged THEN ignored events are the extra time ÷ the empty hook's (paired)
    ignored = rows["ignored audit event (`sys._getframe`)"]
    assert (ignored["native"], ignored["native_met"]) == (0.3, True)
    assert (ignored["python"], ignored["python_met"]) == (1.2, False)
    core = rows["ignored audit event, the core alone (`bench.core_micro`)"]
    assert (core["native"], core["python"]) == (0.3, 1.1)
    # AND file and import decisions are µs over no hook (the median over the repeats)
    cached = rows["`open`, cached file decision (audit hook): extra time"]
    assert (cached["native"], cached["native_met"], cached["python_met"]) == (0.4, True, False)
    first = rows["`open`, first file decision (audit hook): extra time"]
    assert (first["native"], first["python"], first["python_met"]) == (2.5, 4.0, False)
    module = rows["import of a new module (audit hook): extra time"]
    assert (module["native_met"], module["python_met"]) == (True, False)
    # AND handlers and import boto3 are ratios to off of the same repeat
    stdlib = rows["stdlib-heavy handler (~20 decided events a call)"]
    assert (stdlib["native"], stdlib["native_met"]) == (1.04, True)
    assert (stdlib["python"], stdlib["python_met"]) == (1.1, False)
    assert rows["orders handler"]["native"] == 1.04
    boto3 = rows["`import boto3`"]
    assert (boto3["native"], boto3["python"]) == (1.02, 1.1)
    # AND init is absolute, memory over off
    init = rows["sandbox init, loading the extension included"]
    assert (init["native"], init["native_met"], init["python"], init["python_met"]) == (
        7.0,
        True,
        12.0,
        False,
    )
    assert (rows["memory after the orders handler: RSS over off"]["python"]) == 2.0
    # AND bench.sinks' figures are read per core
    sink = rows["sink handler, a child process at init"]
    assert (sink["native"], sink["python"]) == (1.03, 1.08)
    assert rows["allowed exec decision"]["native"] == 4.0
    assert rows["allowed exec decision"]["python_met"] is False
    assert rows["allowed connect decision"]["python"] == 3.0
    assert rows["learn: cost per invocation (no events)"]["python"] == 3.0


def test_a_budget_not_measured_is_shown_as_such() -> None:
    # GIVEN a run without bench.sinks, the core alone nor the Python core's learn
    results = _results()
    del results["sinks"], results["core"]
    rows = _rows(results)
    # WHEN judged THEN those budgets are still listed, with no figure and no verdict
    sink = rows["sink handler (`bench.sinks`)"]
    assert sink["native"] is None and sink["native_met"] is None
    assert rows["ignored audit event, the core alone (`bench.core_micro`)"]["python"] is None
    # AND the table shows them with a dash
    results["budgets"] = report.budgets(results)
    (table,) = [t for t in report.tables(results) if t.title == "Budgets"]
    (row,) = [r for r in table.rows if r[0] == "sink handler (`bench.sinks`)"]
    assert row == ["sink handler (`bench.sinks`)", "≤ 1.05x off", "-", "-", "-", "-"]


def test_budgets_table_has_native_and_python_columns() -> None:
    # GIVEN the session with its budgets
    results = _results()
    results["budgets"] = report.budgets(results)
    # WHEN rendered as markdown and for the terminal
    text = report.markdown(results)
    plain = report.terminal(results)
    # THEN the Budgets table has a limit, then measured + verdict per core
    assert "| budget | limit | native | met | python | met |" in text
    assert (
        "| sandbox init, loading the extension included | ≤ 10 ms | 7.00 ms | yes | 12.00 ms "
        "| NO |" in text
    )
    assert "| ignored audit event (`sys._getframe`) | ≤ 0.35x floor | 0.30x floor | yes |" in text
    assert "Budgets" in plain and "12.00 ms" in plain
    # AND the other tables show the Python core's modes and the stdlib handler and the core
    titles = [t.title for t in report.tables(results)]
    assert "Stdlib-heavy handler, warm process" in titles
    assert "Audit hook core alone (`bench.core_micro`)" in titles
    (micro,) = [t for t in report.tables(results) if t.title.startswith("Per event")]
    assert micro.header == [
        "operation",
        "off",
        "floor",
        "enforce",
        "enforce-hook",
        "enforce-py",
        "enforce-hook-py",
    ]


def test_every_new_table_has_a_legend_naming_its_columns() -> None:
    # GIVEN every table of the synthetic session
    results = _results()
    results["budgets"] = report.budgets(results)
    for table in report.tables(results):
        legend = " ".join(table.legend)
        # THEN each legend names its measured columns
        for column in table.header[1:]:
            if column in ("Δ peak", "Δ RSS", "met"):
                continue
            assert f"**{column}**" in legend or column in legend, (table.title, column)


def test_a_python_core_mode_switches_the_native_core_off_before_import() -> None:
    # GIVEN the children's modes WHEN their environment is made
    # THEN -py modes turn the native core off, enforce-hook turns both kernel layers off
    assert mode_environment("enforce") == {}
    assert mode_environment("enforce-py") == {"SANDBOX_NATIVE": "off"}
    assert mode_environment("enforce-hook") == {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}
    assert mode_environment("enforce-hook-py") == {
        "SANDBOX_NATIVE": "off",
        "SANDBOX_SECCOMP": "off",
        "SANDBOX_LANDLOCK": "off",
    }
    assert report.core_mode("enforce", "python") == "enforce-py"
