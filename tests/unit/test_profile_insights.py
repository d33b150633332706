"""The Logs Insights query builder and the conversion of its answers into observation records."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

import pytest

from sandbox.profile.insights import (
    InsightsUnavailable,
    build_queries,
    invocation_records,
    observation_records,
)
from sandbox.profile.observations import ObservationSet
from tests.unit.test_profile_observations import inv, obs


def test_queries_select_one_function_and_aggregate_server_side() -> None:
    # GIVEN a function name WHEN the queries are built
    queries = build_queries("orders", bin_minutes=30)
    # THEN they filter on the record type and the function, aggregate with stats, and stay
    # within the Insights row limit
    assert queries.observations.startswith(
        'filter type = "sandbox.observation" and function = "orders"'
    )
    assert "| stats count(*) as n, min(invocation) as first_invocation" in queries.observations
    assert "by env, phase, category, action, target, argv_key, v" in queries.observations
    assert queries.invocations.startswith(
        'filter type = "sandbox.invocation" and function = "orders"'
    )
    assert "by env, bin(30m) as period, v" in queries.invocations
    assert all(
        q.rstrip().endswith("| limit 10000") for q in (queries.observations, queries.invocations)
    )


def test_function_names_are_quoted_as_literals() -> None:
    # GIVEN a name with a quote and a backslash WHEN quoted into the query
    query = build_queries('a"b\\c').observations
    # THEN it stays one string literal
    assert 'function = "a\\"b\\\\c"' in query
    with pytest.raises(ValueError):
        build_queries("orders", bin_minutes=0)


def _rows(records: list[dict[str, Any]], bin_minutes: int = 60) -> tuple[list[Any], list[Any]]:
    """What Insights answers for these records: the stats of the two queries, as result rows."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    ends: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r["type"] == "sandbox.observation":
            argv = json.dumps(r["argv"], separators=(",", ":"))[1:-1] if "argv" in r else ""
            key = (r["env"], r["phase"], r["category"], r["action"], r["target"], argv, str(r["v"]))
            groups[key].append(r)
        else:
            ends[(r["env"], r["time"][:13])].append(r)

    def row(values: dict[str, Any]) -> list[dict[str, str]]:
        return [{"field": k, "value": str(v)} for k, v in values.items()]

    observation_rows = [
        row(
            dict(
                zip(
                    ("env", "phase", "category", "action", "target", "argv_key", "v"),
                    key,
                    strict=True,
                )
            )
            | {
                "n": len(rs),
                "first_invocation": min(r["invocation"] for r in rs),
                "first": min(r["time"] for r in rs),
            }
        )
        for key, rs in groups.items()
    ]
    invocation_rows = [
        row(
            {
                "env": env,
                "period": period,
                "v": 1,
                # (the query sums each record's run of invocations: one, or a batched run)
                "n": sum(
                    r["invocation"] - r.get("first_invocation", r["invocation"]) + 1 for r in rs
                ),
                "last_invocation": max(r["invocation"] for r in rs),
                "first": min(r.get("first_time", r["time"]) for r in rs),
                "last": max(r["time"] for r in rs),
            }
        )
        for (env, period), rs in ends.items()
    ]
    return observation_rows, invocation_rows


def test_answers_become_the_records_the_line_reader_would_have_read() -> None:
    # GIVEN two environments' lines: repeated accesses, an exec with argv, invocation ends
    records = [
        obs("{task}/a", env="e1", invocation=1),
        obs("{task}/a", env="e1", invocation=3),
        obs("{task}/b", env="e2", invocation=2),
        obs(
            "/bin/ls",
            env="e2",
            invocation=2,
            category="processes",
            action="exec",
            argv=["-l", "x,y"],
        ),
        *(inv("e1", i) for i in (1, 2, 3)),
        *(inv("e2", i) for i in (1, 2)),
    ]
    direct = ObservationSet(function="orders")
    for record in records:
        direct.add_line(json.dumps(record), "lines")
    # WHEN the aggregated answers for the same records are converted and read
    observation_rows, invocation_rows = _rows(records)
    aggregated = ObservationSet(function="orders")
    converted = observation_records(observation_rows, "orders") + invocation_records(
        invocation_rows, "orders"
    )
    kinds = {aggregated.add_line(json.dumps(r), "insights") for r in converted}
    # THEN every record is valid, each distinct access per environment is there once (its first
    # invocation), argv intact, and the invocations per environment are exact
    assert kinds == {"observation", "invocation"}
    distinct = {
        (o.env, o.category, o.action, o.target, o.argv) for o in direct.observations.values()
    }
    assert {
        (o.env, o.category, o.action, o.target, o.argv) for o in aggregated.observations.values()
    } == distinct
    first_a = next(o for o in aggregated.observations.values() if o.target == "{task}/a")
    assert first_a.invocation == 1
    assert set(aggregated.invocations) == set(direct.invocations)


def test_an_answer_without_the_aggregates_is_refused() -> None:
    # GIVEN the raw rows an endpoint that ignores stats returns (moto does)
    raw = [[{"field": "@ptr", "value": "x"}, {"field": "@message", "value": "{}"}]]
    # WHEN converted THEN Insights is reported unavailable, so the reader falls back
    with pytest.raises(InsightsUnavailable, match="aggregate fields"):
        observation_records(raw, "orders")
    with pytest.raises(InsightsUnavailable, match="aggregate fields"):
        invocation_records(raw, "orders")


def test_moto_ignores_stats_so_insights_is_unavailable_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN moto's CloudWatch Logs holding settled lines (ten minutes old) and fresh ones
    from moto import mock_aws

    from sandbox.profile.insights import SETTLE_SECONDS, read_insights
    from tests.unit.test_aws_support import fake_credentials

    fake_credentials(monkeypatch)
    with mock_aws():
        import boto3

        logs = boto3.client("logs", region_name="us-east-1")
        logs.create_log_group(logGroupName="/aws/lambda/orders")
        logs.create_log_stream(logGroupName="/aws/lambda/orders", logStreamName="s")
        now = int(time.time())
        logs.put_log_events(
            logGroupName="/aws/lambda/orders",
            logStreamName="s",
            logEvents=[
                {"timestamp": (now - 600) * 1000, "message": json.dumps(obs("{task}/a"))},
                {"timestamp": now * 1000, "message": json.dumps(obs("{task}/b"))},
            ],
        )
        # WHEN only the fresh lines are in the window, and then the settled ones too
        fresh, fresh_end = read_insights(logs, "/aws/lambda/orders", "orders", start=now - 30)
        # THEN lines younger than the settle time wait for a later build (no error), and
        # moto's raw answer to the aggregate queries is refused
        assert (fresh, fresh_end) == ([], now - 31)  # not queried: the cursor stays put
        assert now - 30 > now - SETTLE_SECONDS
        with pytest.raises(InsightsUnavailable, match="aggregate fields"):
            read_insights(logs, "/aws/lambda/orders", "orders", start=now - 3600)
