"""Findings from CloudWatch Logs: read, group, count; export to Security Hub (ASFF) or OCSF."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sandbox.fleet._api import AwsOptions, FleetError, call, paginate

__all__ = [
    "BATCH_LIMIT",
    "batches",
    "group_findings",
    "import_to_security_hub",
    "parse_since",
    "read_findings",
]

BATCH_LIMIT = 100  # BatchImportFindings takes at most 100 findings per call
_SINCE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str, *, now: float | None = None) -> int:
    """``1h``, ``30m``, ``2d``, ``90s``, ``1w`` or an ISO time → epoch milliseconds.

    Examples
    --------
    >>> parse_since("1h", now=7200.0)
    3600000
    """
    now = time.time() if now is None else now
    match = _SINCE.match(value.strip())
    if match:
        return int((now - int(match.group(1)) * _UNITS[match.group(2)]) * 1000)
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FleetError(f"--since {value!r}: expected e.g. 1h, 30m, 2d or an ISO time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return int(parsed.timestamp() * 1000)


def _parse_line(message: str) -> dict[str, Any] | None:
    # Lambda's text log format may prefix lines (time, request id, level); the record is the JSON.
    start = message.find("{")
    if start < 0:
        return None
    try:
        record = json.loads(message[start:])
    except ValueError:
        return None
    if isinstance(record, dict) and record.get("type") == "sandbox.finding":
        return record
    return None


def read_findings(
    opts: AwsOptions, function: str, *, since_ms: int | None = None, until_ms: int | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the finding records in ``/aws/lambda/FUNCTION`` (FilterLogEvents, every page)."""
    kwargs: dict[str, Any] = {
        "logGroupName": f"/aws/lambda/{function}",
        "filterPattern": '"sandbox.finding"',
    }
    if since_ms is not None:
        kwargs["startTime"] = since_ms
    if until_ms is not None:
        kwargs["endTime"] = until_ms
    client = opts.client("logs")
    try:
        for event in paginate(client, "filter_log_events", "events", opts, **kwargs):
            record = _parse_line(str(event.get("message", "")))
            if record is not None:
                record.setdefault("function", function)
                record.setdefault("log_stream", event.get("logStreamName"))
                yield record
    except FleetError:
        raise
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException":
            return  # never invoked (no log group yet): no findings
        raise


def group_findings(findings: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Group by what happened (category, action, target, decision): count, when, who, where.

    Returns
    -------
    list of dict
        Most frequent first: ``category, action, target, decision, count, first, last, sites,
        sources, requests, phases, rule``.
    """
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for finding in findings:
        key = tuple(str(finding.get(k, "")) for k in ("category", "action", "target", "decision"))
        group = groups.setdefault(
            key,  # type: ignore[arg-type]
            {
                "function": finding.get("function"),
                "category": key[0],
                "action": key[1],
                "target": key[2],
                "decision": key[3],
                "count": 0,
                "first": None,
                "last": None,
                "sites": set(),
                "sources": set(),
                "requests": set(),
                "phases": set(),
                "rule": finding.get("rule"),
            },
        )
        group["count"] += 1
        when = finding.get("time")
        if when:
            group["first"] = min(filter(None, (group["first"], when)))
            group["last"] = max(filter(None, (group["last"], when)))
        if finding.get("site"):
            group["sites"].add(str(finding["site"]))
        if finding.get("request_id"):
            group["requests"].add(str(finding["request_id"]))
        if finding.get("phase"):
            group["phases"].add(str(finding["phase"]))
        who = finding.get("who") or {}
        source = who.get("source_ip") or who.get("source_arn") or who.get("source")
        if source:
            text = " ".join(str(p) for p in (source, who.get("path")) if p)
            agent = who.get("user_agent")
            group["sources"].add(f"{text} ({agent})" if agent else text)
    out = []
    for group in groups.values():
        requests = group.pop("requests")
        group["requests"] = len(requests)
        for name in ("sites", "sources", "phases"):
            group[name] = sorted(group[name])
        out.append(group)
    out.sort(key=lambda g: (-g["count"], g["category"], g["target"]))
    return out


def batches(items: Sequence[Any], size: int = BATCH_LIMIT) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items."""
    if size < 1:
        raise ValueError("batch size must be positive")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_to_security_hub(
    opts: AwsOptions, findings: Sequence[Mapping[str, Any]], *, account: str | None = None
) -> dict[str, Any]:
    """Send findings as ASFF through BatchImportFindings, ≤ 100 per call.

    Returns
    -------
    dict
        ``{"batches", "success", "failed", "errors"}`` summed over the calls.
    """
    from sandbox.fleet.export import to_asff

    region = opts.region_name()
    if account is None:
        account = str(call(opts.client("sts"), "get_caller_identity", opts)["Account"])
    records = [to_asff(dict(f), account=account, region=region) for f in findings]
    client = opts.client("securityhub")
    summary: dict[str, Any] = {"batches": 0, "success": 0, "failed": 0, "errors": []}
    for batch in batches(records):
        response = call(client, "batch_import_findings", opts, Findings=list(batch))
        summary["batches"] += 1
        summary["success"] += int(response.get("SuccessCount", 0))
        summary["failed"] += int(response.get("FailedCount", 0))
        summary["errors"].extend(response.get("FailedFindings", []))
    return summary
