"""``bench.instructions``: instruction counts turned into the budgets' ratios (synthetic counts),
and one real count under Valgrind (skipped where it is not installed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import instructions, report

REPO = Path(__file__).resolve().parents[2]

# Raw counts as Session.measure_instructions collects them: the runtime client alone, the
# sandbox's import + install, then import boto3; each handler at 10 and 40 warm calls.
COUNTS = {
    "ric": 100_000_000,
    "init": {"off": 140_000_000, "enforce-hook": 190_000_000, "enforce-hook-py": 210_000_000},
    "boto3": {"off": 640_000_000, "enforce-hook": 705_000_000, "enforce-hook-py": 760_000_000},
    "stdlib": {
        "off": {10: 50_000_000, 40: 140_000_000},
        "enforce-hook": {10: 52_000_000, 40: 146_000_000},
        "enforce-hook-py": {10: 60_000_000, 40: 165_000_000},
    },
    "orders": {"off": {10: 200_000_000, 40: 470_000_000}},
}


def test_figures_are_differences_of_children() -> None:
    # GIVEN raw counts of the stage and handler children
    # WHEN the figures are made
    out = instructions.figures(COUNTS)
    # THEN init is what the sandbox added to the runtime client's import
    assert out["init"]["enforce-hook"] == 90_000_000
    # AND import boto3 is compared with off's own import (500M against 515M)
    assert out["boto3"]["enforce-hook"] == {"instructions": 515_000_000, "x_off": 1.03}
    assert out["boto3"]["enforce-hook-py"]["x_off"] == 1.1
    # AND a call is (40 calls - 10 calls) / 30: 3.0M off, 3.133M enforce
    assert out["stdlib"]["off"] == {"per_call": 3_000_000.0, "x_off": 1.0}
    assert out["stdlib"]["enforce-hook"]["x_off"] == pytest.approx(1.0444, abs=1e-4)
    # AND a handler counted in off only has no sandbox ratio to show
    assert out["orders"] == {"off": {"per_call": 9_000_000.0, "x_off": 1.0}}


def test_budget_rows_judge_the_instruction_ratios_per_core() -> None:
    # GIVEN a session whose only section is the instruction counts
    results = {"instructions": instructions.figures(COUNTS)}
    # WHEN the budgets are judged
    rows = {row["budget"]: row for row in report.budgets(results)}
    # THEN the native core's rows come from enforce-hook, the fallback's from enforce-hook-py
    boto3 = rows["`import boto3`, instructions"]
    assert (boto3["native"], boto3["native_met"]) == (1.03, True)
    assert (boto3["python"], boto3["python_met"]) == (1.1, False)
    stdlib = rows["stdlib-heavy handler, instructions per call"]
    assert stdlib["native_met"] is True and stdlib["python_met"] is False
    # AND a budget with no figure in this run is neither met nor missed
    assert rows["orders handler, instructions per call"]["native_met"] is None


def test_the_report_has_an_instructions_table() -> None:
    # GIVEN counted figures
    results = {"instructions": instructions.figures(COUNTS)}
    # WHEN the tables are made
    table = next(t for t in report.tables(results) if t.title.startswith("Instructions"))
    # THEN one row per mode, with the init in millions and the ratios in parentheses
    rows = {row[0]: row for row in table.rows}
    assert rows["enforce-hook"][1] == "90.0M"
    assert rows["enforce-hook"][2].endswith("(1.03x)")
    assert rows["off"][3] == "3,000k"


def test_total_refuses_an_output_without_summary(tmp_path: Path) -> None:
    # GIVEN a cachegrind output cut short (the child was killed)
    out = tmp_path / "cut.out"
    out.write_text("desc: I1 cache\ncmd: python\nevents: Ir\n")
    # WHEN / THEN its total is an error, not zero
    with pytest.raises(ValueError, match="no instruction summary"):
        instructions.total(out)


@pytest.mark.skipif(instructions.valgrind() is None, reason="valgrind is not installed")
def test_a_real_count_grows_with_the_work_done(tmp_path: Path) -> None:
    # GIVEN the same interpreter doing a little and then more work under the counter
    def count(loops: int) -> int:
        out = tmp_path / f"{loops}.out"
        code = f"for _ in range({loops}): pass"
        subprocess.run(
            [*instructions.wrapper(out), sys.executable, "-S", "-c", code],
            check=True,
            capture_output=True,
        )
        return instructions.total(out)

    # WHEN both are counted
    few, many = count(10_000), count(110_000)
    # THEN the difference is the loop's, a few instructions per iteration, and positive
    per_loop = (many - few) / 100_000
    # (a module-level loop: ~60 instructions an iteration on 3.11, ~490-510 on 3.12)
    assert 5 < per_loop < 2_000


def test_every_counted_child_runs_with_the_fixed_hash_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a benchmark session whose children are recorded instead of run (each "counts" 1M)
    from bench.run import FULL, Session

    seen: list[dict[str, str] | None] = []

    class Recorder:
        def run(
            self, spec: object, *, wrapper: list[str], env: dict[str, str], **_: object
        ) -> dict[str, object]:
            seen.append(env)
            out = Path(wrapper[-1].split("=", 1)[1])
            out.write_text("summary: 1000000\n")
            return {}

    monkeypatch.setattr(instructions, "valgrind", lambda: "/usr/bin/valgrind")
    monkeypatch.setattr(instructions, "version", lambda: "valgrind-test")
    session = Session(FULL, say=lambda message: None)
    session.harness = Recorder()  # type: ignore[assignment]
    # WHEN the instructions are measured
    session.measure_instructions()
    # THEN every child had the same string-hash seed, and the results say which
    assert seen and all(env == {"PYTHONHASHSEED": instructions.HASH_SEED} for env in seen)
    assert session.results["instructions"]["hash_seed"] == int(instructions.HASH_SEED)


def test_the_empty_c_hook_is_added_and_lets_every_event_through() -> None:
    # GIVEN a fresh interpreter (an audit hook cannot be removed)
    code = (
        "import os, sys, tempfile\n"
        "from bench.child import install_mode\n"
        "seen = []\n"
        "sys.addaudithook(lambda e, a: seen.append(e) if e == 'bench.probe' else None)\n"
        "print(install_mode('floor-c', None))\n"
        "sys.audit('bench.probe', 1)\n"
        "with tempfile.TemporaryFile() as handle:\n"
        "    handle.write(b'x')\n"
        "print(seen)\n"
    )
    # WHEN the floor-c mode adds libc's memcmp as a C audit hook
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=60,
    )
    # THEN it was added (PySys_AddAuditHook said 0) and events carry on past it
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["{'mode': 'floor-c'}", "['bench.probe']"]
