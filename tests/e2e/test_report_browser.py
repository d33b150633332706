"""``sandbox report --html`` opened in real headless Chromium: charts and tables render, no errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.fleet.cli import main
from sandbox.profile import Profile, Rule
from tests.e2e.chromium import Browser, find_chromium

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed and apt-get is not available to install it")
    return binary


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[Browser]:
    profile_dir = tmp_path / "chromium-profile"
    profile_dir.mkdir()
    page = Browser(chromium, profile_dir)
    try:
        yield page
    finally:
        page.close()


def _sample_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, list[dict[str, Any]]]:
    logs = tmp_path / "orders.jsonl"
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "report_sample.py"), str(logs)],
        check=True,
        capture_output=True,
    )
    page = tmp_path / "report.html"
    # The reviewed orders profile plus one rule a reviewer must read, so a risk mark renders
    # (the profile itself has none since the SDK's import-time noise moved to its bundle).
    profile = Profile.load(REPO / "profiles/orders.json")
    profile.rules.setdefault("processes", []).append(
        Rule(action="exec", target="/usr/bin/convert", phase="invoke")
    )
    profile.save(tmp_path / "orders.json")
    args = [
        "report",
        "orders",
        "--logs",
        str(logs),
        "--profile",
        str(tmp_path / "orders.json"),
    ]
    assert main([*args, "--html", str(page), "--json"]) == 0
    return page, json.loads(capsys.readouterr().out)


def test_report_renders_charts_and_tables_in_chromium(
    browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a report of a function that learned, then was attacked by three callers
    page, data = _sample_report(tmp_path, capsys)
    (report,) = data
    # WHEN headless Chromium opens it
    browser.open(page.as_uri())
    facts = browser.evaluate(
        """(() => {
        const svg = (kind) => document.querySelector(`svg[data-chart="${kind}"]`);
        return {
          charts: document.body.getAttribute("data-charts"),
          rendered: [...document.querySelectorAll("svg.chart")].map(
              s => s.getAttribute("data-rendered")),
          curveBars: svg("curve").querySelectorAll("rect.bar").length,
          curveLine: svg("curve").querySelectorAll("polyline.total").length,
          curveHeight: svg("curve").getBoundingClientRect().height,
          findingBars: svg("findings").querySelectorAll("rect.bar").length,
          findingRows: document.querySelectorAll("table.findings tbody tr").length,
          callers: [...document.querySelectorAll("table.findings tbody tr")].map(
              r => r.querySelectorAll("ul.who li").length),
          ruleRows: document.querySelectorAll("table.rules tbody tr").length,
          riskMarks: document.querySelectorAll("table.rules tr.risky").length,
          title: document.title,
        };
        })()"""
    )
    # THEN both charts are drawn from the data, with one bar per point or bucket
    assert facts["charts"] == "2" and facts["rendered"] == ["true", "true"]
    assert facts["curveBars"] == len(report["curve"]) > 0 and facts["curveLine"] == 1
    assert facts["curveHeight"] > 100
    assert facts["findingBars"] == 2 * len(report["buckets"]["buckets"]) > 0
    # AND the tables show every distinct finding with each of its callers, and every rule
    groups = report["findings"]["findings"]
    assert facts["findingRows"] == len(groups)
    assert facts["callers"] == [len(g["who"]) for g in groups]
    categories = report["profile"]["categories"]
    assert facts["ruleRows"] == sum(len(c["rules"]) for c in categories)
    assert facts["riskMarks"] == sum(c["risky"] for c in categories) > 0
    assert "orders" in facts["title"]
    # AND the console is clean and the page asked for nothing but itself
    assert browser.errors() == []
    assert browser.requests() == [page.as_uri()]


def test_console_errors_are_caught(browser: Browser, tmp_path: Path) -> None:
    # GIVEN a page whose script fails (the check must be able to fail)
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><script>console.error('boom');"
        "null.draw();</script></body></html>"
    )
    # WHEN opened
    browser.open(page.as_uri())
    # THEN the console error and the uncaught exception are both reported
    errors = browser.errors()
    assert any("console.error: boom" in e for e in errors)
    assert any(e.startswith("exception:") for e in errors)
