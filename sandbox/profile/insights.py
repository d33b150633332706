"""CloudWatch Logs Insights: distinct observations per function aggregated server-side.

``profile build --from cloudwatch --insights`` sends two queries instead of downloading every
line: the distinct observations per environment (first invocation and time, count), and the
invocation ends per environment and hour. The answers become the same records the line reader
produces, checked by the same parser, so the build cannot tell them apart except for one
approximation: invocation times are known to the hour (``--insights-bin``), which only makes
``invocations_since_novel`` conservative (invocations in the hour of the last novelty are not
counted as quiet).

When Insights cannot answer (an error, an endpoint such as moto that ignores ``stats``, or a
result cut at the 10,000-row limit), :func:`read_insights` says why and the caller falls back
to ``FilterLogEvents``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_ROWS",
    "SETTLE_SECONDS",
    "InsightsUnavailable",
    "Queries",
    "build_queries",
    "invocation_records",
    "observation_records",
    "read_insights",
]

MAX_ROWS = 10_000  # Logs Insights returns at most this many result rows per query
# Query up to this many seconds ago: lines still being ingested for the last moments would be
# missed for good, since the next build starts after the end of this one.
SETTLE_SECONDS = 60
OBSERVATION_FIELDS = ("env", "phase", "category", "action", "target", "argv_key", "v")
INVOCATION_FIELDS = ("env", "period", "n", "last_invocation", "first", "last", "v")


class InsightsUnavailable(Exception):
    """Logs Insights could not answer; the message says why (the caller falls back)."""


def _quote(value: str) -> str:
    """A string literal for the Insights query language."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Queries:
    """The two query strings for one function."""

    observations: str
    invocations: str


def build_queries(function: str, *, bin_minutes: int = 60) -> Queries:
    """The Logs Insights queries that aggregate one function's observation records.

    Parameters
    ----------
    function:
        Only records whose ``function`` is this name.
    bin_minutes:
        Invocation ends are counted per environment in bins of this many minutes.

    Example
    -------
    >>> q = build_queries("orders")
    >>> 'filter type = "sandbox.observation" and function = "orders"' in q.observations
    True
    >>> "by env, phase, category, action, target, argv_key, v" in q.observations
    True
    """
    if bin_minutes < 1:
        raise ValueError("bin_minutes must be at least 1")
    name = _quote(function)
    # The runtime writes compact JSON ("argv":[...]); Insights flattens arrays into argv.0,
    # argv.1..., so the raw list text is parsed out to group by the whole argv.
    observations = (
        f'filter type = "sandbox.observation" and function = {name}\n'
        "| parse @message '\"argv\":[*]' as argv_raw\n"
        '| fields coalesce(argv_raw, "") as argv_key\n'
        "| stats count(*) as n, min(invocation) as first_invocation, min(time) as first\n"
        "    by env, phase, category, action, target, argv_key, v\n"
        f"| limit {MAX_ROWS}"
    )
    # A record covers one invocation, or a run of quiet ones (first_invocation..invocation,
    # first_time..time: see sandbox.runtime.recorder): n counts invocations, not records.
    invocations = (
        f'filter type = "sandbox.invocation" and function = {name}\n'
        "| fields invocation - coalesce(first_invocation, invocation) + 1 as covered,\n"
        "    coalesce(first_time, time) as began\n"
        "| stats sum(covered) as n, max(invocation) as last_invocation, min(began) as first,\n"
        f"    max(time) as last by env, bin({bin_minutes}m) as period, v\n"
        f"| limit {MAX_ROWS}"
    )
    return Queries(observations, invocations)


def _row(fields: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    return {str(f.get("field")): str(f.get("value", "")) for f in fields}


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(float(value)) if value not in (None, "") else default
    except ValueError:
        return default


def observation_records(
    results: Sequence[Sequence[Mapping[str, Any]]], function: str
) -> list[dict[str, Any]]:
    """``sandbox.observation`` records from the observation query's result rows.

    Example
    -------
    >>> row = [{"field": k, "value": v} for k, v in {"env": "e1", "phase": "invoke",
    ...        "category": "processes", "action": "exec", "target": "/bin/ls",
    ...        "argv_key": '"-l","/tmp"', "v": "1", "n": "3", "first_invocation": "2",
    ...        "first": "2024-01-01T00:00:00Z"}.items()]
    >>> observation_records([row], "f")[0]["argv"]
    ['-l', '/tmp']
    """
    out = []
    for fields in results:
        row = _row(fields)
        if not all(k in row for k in OBSERVATION_FIELDS[:5]):
            raise InsightsUnavailable(
                "the answer lacks the aggregate fields (the endpoint ignored stats)"
            )
        record: dict[str, Any] = {
            "type": "sandbox.observation",
            "v": _int(row.get("v"), 1),
            "function": function,
            "env": row["env"],
            "phase": row["phase"],
            "invocation": _int(row.get("first_invocation")),
            "time": row.get("first", ""),
            "category": row["category"],
            "action": row["action"],
            "target": row["target"],
        }
        if row.get("argv_key"):
            try:
                record["argv"] = json.loads("[" + row["argv_key"] + "]")
            except ValueError:
                record["argv"] = None  # the line parser counts it as invalid
        out.append(record)
    return out


def invocation_records(
    results: Sequence[Sequence[Mapping[str, Any]]], function: str
) -> list[dict[str, Any]]:
    """``sandbox.invocation`` records from the invocation query's rows, one per invocation.

    A row says: in this bin, environment ``env`` ended ``n`` invocations, the last numbered
    ``last_invocation``. Invocation numbers are consecutive per environment, so the numbers are
    exact; the last one gets the bin's last time, the others its first time.

    Example
    -------
    >>> row = [{"field": k, "value": v} for k, v in {"env": "e1", "n": "3",
    ...        "last_invocation": "7", "first": "2024-01-01T00:00:00Z",
    ...        "last": "2024-01-01T00:40:00Z", "v": "1"}.items()]
    >>> [(r["invocation"], r["time"][-9:]) for r in invocation_records([row], "f")]
    [(7, '00:40:00Z'), (6, '00:00:00Z'), (5, '00:00:00Z')]
    """
    out = []
    for fields in results:
        row = _row(fields)
        if "env" not in row or "last_invocation" not in row:
            raise InsightsUnavailable(
                "the answer lacks the aggregate fields (the endpoint ignored stats)"
            )
        last = _int(row["last_invocation"])
        for i in range(min(_int(row.get("n"), 1), last)):
            out.append(
                {
                    "type": "sandbox.invocation",
                    "v": _int(row.get("v"), 1),
                    "function": function,
                    "env": row["env"],
                    "invocation": last - i,
                    "time": row.get("last" if i == 0 else "first", ""),
                    "novel": 0,
                }
            )
    return out


Sleep = Callable[[float], None]


def _run(
    client: Any,
    group: str,
    query: str,
    start: int,
    end: int,
    *,
    timeout: float,
    sleep: Sleep,
) -> list[list[dict[str, Any]]]:
    try:
        query_id = client.start_query(
            logGroupName=group, startTime=start, endTime=end, queryString=query, limit=MAX_ROWS
        )["queryId"]
    except Exception as exc:
        raise InsightsUnavailable(f"StartQuery failed: {exc}") from exc
    waited, delay = 0.0, 0.5
    while True:
        try:
            answer = client.get_query_results(queryId=query_id)
        except Exception as exc:
            raise InsightsUnavailable(f"GetQueryResults failed: {exc}") from exc
        status = answer.get("status")
        if status == "Complete":
            results: list[list[dict[str, Any]]] = answer.get("results", [])
            if len(results) >= MAX_ROWS:
                raise InsightsUnavailable(f"the answer reached the {MAX_ROWS}-row limit")
            return results
        if status in ("Failed", "Cancelled", "Timeout", "Unknown"):
            raise InsightsUnavailable(f"query {status.lower()}")
        if waited >= timeout:
            raise InsightsUnavailable(f"no answer after {timeout:.0f}s")
        sleep(delay)
        waited += delay
        delay = min(delay * 2, 5.0)


def read_insights(
    client: Any,
    group: str,
    function: str,
    *,
    start: int,
    end: int | None = None,
    bin_minutes: int = 60,
    timeout: float = 300.0,
    sleep: Sleep = time.sleep,
) -> tuple[list[dict[str, Any]], int]:
    """Run both queries on ``group`` from ``start`` (epoch seconds); records and the end used.

    ``end`` defaults to :data:`SETTLE_SECONDS` ago; the next read starts after it.

    Raises
    ------
    InsightsUnavailable
        Insights could not give a complete, aggregated answer.
    """
    end = int(time.time()) - SETTLE_SECONDS if end is None else end
    if start > end:
        return [], start - 1  # nothing settled since the last read
    queries = build_queries(function, bin_minutes=bin_minutes)
    records = observation_records(
        _run(client, group, queries.observations, start, end, timeout=timeout, sleep=sleep),
        function,
    )
    records += invocation_records(
        _run(client, group, queries.invocations, start, end, timeout=timeout, sleep=sleep),
        function,
    )
    return records, end
