"""``sandbox report``: what the page shows per function (profile map, learning curve, findings).

:mod:`sandbox.fleet.report_page` draws it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.fleet._api import AwsOptions, FleetError

__all__ = [
    "CURVE_POINTS",
    "collect",
    "findings_buckets",
    "learning_curve",
    "profile_map",
]

CURVE_POINTS = 400  # a longer learning curve is summed into this many points
_BUCKETS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
_MAX_BUCKETS = 48


# --------------------------------------------------------------------------- data


def profile_map(profile: Any) -> dict[str, Any]:
    """A profile as the report shows it: per category its rules with counts and risk marks.

    Parameters
    ----------
    profile:
        A :class:`sandbox.profile.Profile`.

    Example
    -------
    >>> from sandbox.profile import Profile
    >>> p = Profile.model_validate({"function": "f", "rules": {"processes": [
    ...     {"action": "exec", "target": "/bin/sh"}]}})
    >>> profile_map(p)["categories"][0]["rules"][0]["risk"]
    'shell'
    """
    from sandbox.profile.diff import risk

    categories = []
    for category, rules in sorted(profile.rules.items()):
        shown = []
        for rule in rules:
            shown.append(
                {
                    "action": rule.action,
                    "target": rule.target + (" " + json.dumps(rule.argv) if rule.argv else ""),
                    "phase": rule.phase,
                    "count": rule.coverage.count if rule.coverage else None,
                    "risk": risk(category, rule),
                }
            )
        categories.append(
            {
                "name": category,
                "rules": shown,
                "risky": sum(1 for r in shown if r["risk"]),
                "observations": sum(r["count"] or 0 for r in shown),
            }
        )
    deny = [
        {"category": c, "action": d.action, "target": d.target, "reason": d.reason}
        for c, denies in sorted(profile.deny.items())
        for d in denies
    ]
    learning = profile.learning.model_dump(mode="json", exclude={"sources", "env_invocations"})
    return {
        "source": "file",
        "extends": list(profile.extends),
        "categories": categories,
        "deny": deny,
        "learning": learning,
    }


def _deployed_map(meta: Mapping[str, Any], layer: str) -> dict[str, Any]:
    """What a deployed profile layer's summary tells: hosts and AWS calls, learning state."""
    categories = []
    for name, action, targets in (
        ("network", "connect", meta.get("hosts") or []),
        ("aws", "call", meta.get("aws_calls") or []),
    ):
        if targets:
            categories.append(
                {
                    "name": name,
                    "rules": [
                        {"action": action, "target": t, "phase": "any", "count": None, "risk": None}
                        for t in targets
                    ],
                    "risky": 0,
                    "observations": 0,
                }
            )
    return {
        "source": f"deployed profile layer {layer} (summary: hosts and AWS calls)",
        "extends": [],
        "categories": categories,
        "deny": [],
        "learning": dict(meta.get("learning") or {}),
    }


def learning_curve(observed: Any, points: int = CURVE_POINTS) -> list[dict[str, Any]]:
    """New observations per invocation, in time order, with the running total.

    Parameters
    ----------
    observed:
        A :class:`sandbox.profile.observations.ObservationSet` (its invocation ends).
    points:
        At most this many points: consecutive invocations are summed beyond it.

    Returns
    -------
    list of dict
        ``{"invocation": n, "novel": k, "total": t, "time": iso}``, ``n`` counted from 1.

    Example
    -------
    >>> from sandbox.profile.observations import ObservationSet, InvocationEnd
    >>> s = ObservationSet()
    >>> for i, novel in enumerate([5, 2, 0]):
    ...     s.add(InvocationEnd("e", i + 1, f"2024-01-01T00:00:0{i}Z", novel))
    >>> [p["total"] for p in learning_curve(s)]
    [5, 7, 7]
    """
    ends = sorted(observed.invocations.values(), key=lambda e: (e.time, e.env, e.invocation))
    step = max(1, -(-len(ends) // points))
    out: list[dict[str, Any]] = []
    total = 0
    for start in range(0, len(ends), step):
        chunk = ends[start : start + step]
        novel = sum(e.novel for e in chunk)
        total += novel
        out.append(
            {
                "invocation": start + len(chunk),
                "novel": novel,
                "total": total,
                "time": chunk[-1].time,
            }
        )
    return out


def findings_buckets(groups: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Occurrences over time in at most 48 equal buckets, split blocked / would-block.

    Example
    -------
    >>> g = {"decision": "blocked", "timeline": [["2024-01-01T00:00:00Z", 2],
    ...                                          ["2024-01-01T00:30:00Z", 1]]}
    >>> b = findings_buckets([g])
    >>> b["seconds"], len(b["buckets"]), b["buckets"][0]["blocked"], b["buckets"][-1]["blocked"]
    (60, 31, 2, 1)
    """
    from sandbox.fleet.cwfindings import iso_to_ms

    events: list[tuple[int, str, int]] = []
    for group in groups:
        decision = "blocked" if group.get("decision") == "blocked" else "other"
        for when, n in group.get("timeline") or []:
            ms = iso_to_ms(when)
            if ms is not None:
                events.append((ms // 1000, decision, int(n)))
    if not events:
        return {"seconds": 0, "buckets": []}
    low, high = min(e[0] for e in events), max(e[0] for e in events)
    size = next((s for s in _BUCKETS if (high - low) // s < _MAX_BUCKETS), _BUCKETS[-1])
    start = low - low % size
    count = (high - start) // size + 1
    buckets: list[dict[str, Any]] = [
        {
            "start": dt.datetime.fromtimestamp(start + i * size, tz=dt.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "blocked": 0,
            "other": 0,
        }
        for i in range(count)
    ]
    for second, decision, n in events:
        bucket = buckets[(second - start) // size]
        bucket[decision] = int(bucket[decision]) + n
    return {"seconds": size, "buckets": buckets}


def collect(
    function: str,
    *,
    opts: AwsOptions | None = None,
    profile_path: Path | None = None,
    logs: Sequence[Path] = (),
    since_ms: int | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Everything the report shows for one function.

    Parameters
    ----------
    function:
        The function name.
    opts:
        Where to read from AWS (CloudWatch Logs, the function's configuration and profile
        layer); ``None`` with ``logs`` for a report from local files only.
    profile_path:
        The function's profile file (rules with counts); without it, the deployed profile
        layer's summary.
    logs:
        Files or folders of log lines to read instead of CloudWatch Logs.
    since_ms:
        Findings from this time (epoch ms); the learning curve always reads everything.
    cache_dir:
        The local cache of published profile zips.

    Raises
    ------
    FleetError
        The function does not exist, or neither ``opts`` nor ``logs`` were given.
    """
    from sandbox.fleet.cwfindings import (
        aggregate,
        read_findings,
        read_findings_files,
        require_function,
    )
    from sandbox.profile import Profile
    from sandbox.profile.observations import read_sources

    report: dict[str, Any] = {"function": function, "state": None, "profile": None}
    if logs:
        records = list(read_findings_files(logs, function))
        observed = read_sources(
            [str(p) for p in logs], function=function, warn=lambda _message: None
        )
    elif opts is not None:
        name = require_function(opts, function)
        records = list(read_findings(opts, name, since_ms=since_ms))
        try:
            observed = read_sources(
                ["cloudwatch"],
                function=name,
                warn=lambda _message: None,
                clients={"logs": opts.client("logs")},
            )
        except Exception as exc:
            if "ResourceNotFoundException" not in str(exc):
                raise
            observed = read_sources([], function=name)
    else:
        raise FleetError("a report needs AWS access or --logs")
    if opts is not None and not logs:
        report["state"], deployed = _state(opts, function, cache_dir)
        if profile_path is None and deployed is not None:
            report["profile"] = deployed
    if profile_path is not None:
        report["profile"] = profile_map(Profile.load(profile_path))
    agg = aggregate(records)
    report["findings"] = agg.to_dict()
    report["buckets"] = findings_buckets(agg.groups)
    report["curve"] = learning_curve(observed)
    report["observations"] = len(observed)
    return report


def _state(
    opts: AwsOptions, function: str, cache_dir: Path | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    from sandbox.fleet._api import call
    from sandbox.fleet.functions import attachment
    from sandbox.fleet.layers import layer_name_of, read_profile_layer

    config = call(opts.client("lambda"), "get_function_configuration", opts, FunctionName=function)
    state = attachment(config)
    out: dict[str, Any] = {
        "attached": state.attached,
        "mode": state.mode if state.attached else None,
        "sandbox_layer": None,
        "profile_layer": None,
    }
    if state.sandbox_layer:
        name, version = layer_name_of(state.sandbox_layer)
        out["sandbox_layer"] = f"{name}:{version}"
    deployed = None
    if state.profile_layer:
        name, version = layer_name_of(state.profile_layer)
        out["profile_layer"] = f"{name}:{version}"
        meta, why = read_profile_layer(opts, state.profile_layer, cache_dir=cache_dir)
        if meta is not None:
            deployed = _deployed_map(meta, out["profile_layer"])
        else:
            out["profile_error"] = why
    return out, deployed
