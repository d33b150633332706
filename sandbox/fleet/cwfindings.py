"""Findings from CloudWatch Logs: read, and aggregate without losing a repeat or a caller."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.fleet._api import AwsOptions, FleetError, call, error_code, paginate

__all__ = [
    "FINDING",
    "SUMMARY",
    "WHO_FIELDS",
    "Aggregate",
    "aggregate",
    "finding_id",
    "group_findings",
    "iso_to_ms",
    "parse_line",
    "parse_since",
    "read_findings",
    "read_findings_files",
    "require_function",
]

FINDING = "sandbox.finding"
SUMMARY = "sandbox.finding.summary"
# What tells one caller from another: three IPs running the same attack are three entries.
WHO_FIELDS = ("source", "source_ip", "user_agent", "principal", "event_source", "source_arn")
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


def iso_to_ms(value: str | None) -> int | None:
    """An ISO 8601 UTC time (the runtime's ``time``) → epoch milliseconds, ``None`` if unreadable.

    Example
    -------
    >>> iso_to_ms("1970-01-01T00:00:01Z")
    1000
    """
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return int(parsed.timestamp() * 1000)


def _ms_to_iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_line(message: str) -> dict[str, Any] | None:
    """The finding or finding-summary record in one log line (any prefix), else ``None``.

    Example
    -------
    >>> parse_line('2024-05-01T10:00:00Z\\treq\\tERROR\\t{"type": "sandbox.finding"}')
    {'type': 'sandbox.finding'}
    """
    # Lambda's text log format may prefix lines (time, request id, level); the record is the JSON.
    start = message.find("{")
    if start < 0:
        return None
    try:
        record = json.loads(message[start:])
    except ValueError:
        return None
    if isinstance(record, dict) and record.get("type") in (FINDING, SUMMARY):
        return record
    return None


def require_function(opts: AwsOptions, function: str) -> str:
    """The function's name, or :class:`FleetError` when it does not exist (not "0 findings").

    Raises
    ------
    FleetError
        ``GetFunctionConfiguration`` says ``ResourceNotFoundException``.
    """
    try:
        config = call(
            opts.client("lambda"), "get_function_configuration", opts, FunctionName=function
        )
    except FleetError:
        raise
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise FleetError(
                f"{function}: no such function in {opts.region_name()} "
                "(check the name, --region and --profile-name)"
            ) from None
        raise
    return str(config["FunctionName"])


def read_findings(
    opts: AwsOptions, function: str, *, since_ms: int | None = None, until_ms: int | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the finding and summary records in ``/aws/lambda/FUNCTION`` (every page).

    A function never invoked has no log group yet: that yields nothing (check that the
    function exists with :func:`require_function`).
    """
    kwargs: dict[str, Any] = {
        "logGroupName": f"/aws/lambda/{function}",
        "filterPattern": '"sandbox.finding"',  # matches the summaries too
    }
    if since_ms is not None:
        kwargs["startTime"] = since_ms
    if until_ms is not None:
        kwargs["endTime"] = until_ms
    client = opts.client("logs")
    try:
        for event in paginate(client, "filter_log_events", "events", opts, **kwargs):
            record = parse_line(str(event.get("message", "")))
            if record is not None:
                record.setdefault("function", function)
                record.setdefault("log_stream", event.get("logStreamName"))
                if not record.get("time") and event.get("timestamp"):
                    record["time"] = _ms_to_iso(int(event["timestamp"]))
                yield record
    except FleetError:
        raise
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return  # never invoked (no log group yet): no findings
        raise


def read_findings_files(
    paths: Iterable[Path], function: str | None = None
) -> Iterator[dict[str, Any]]:
    """Finding and summary records from local files of log lines (``SANDBOX_FINDINGS_FILE``)."""
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            try:
                text = file.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise FleetError(f"{file}: cannot read: {exc.strerror}") from exc
            for line in text.splitlines():
                record = parse_line(line)
                if record is not None and (function is None or record.get("function") == function):
                    yield record


# --------------------------------------------------------------------------- aggregation


def _target_text(record: Mapping[str, Any]) -> str:
    """The target as the summary's repeat key spells it (argv appended, whitespace folded)."""
    argv = record.get("argv") or []
    return " ".join(" ".join([str(record.get("target", "")), *map(str, argv)]).split())


def _who_key(who: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(who.get(name) or "") for name in WHO_FIELDS)


def finding_id(function: str, category: str, action: str, target: str, decision: str) -> str:
    """A deterministic identity for one distinct finding: the same on every read and export.

    Example
    -------
    >>> finding_id("orders", "files", "read", "/etc/passwd", "blocked")[:26]
    'lambda-sandbox/orders/file'
    """
    digest = hashlib.sha256(
        "\x1f".join((function, category, action, target, decision)).encode()
    ).hexdigest()[:24]
    return f"lambda-sandbox/{function}/{category}-{action}/{digest}"


@dataclass
class _Who:
    fields: dict[str, str]
    count: int = 0
    first_seen: str | None = None
    last_seen: str | None = None
    paths: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.fields,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "paths": sorted(self.paths),
        }


@dataclass
class _Group:
    function: str
    category: str
    action: str
    target: str
    decision: str
    count: int = 0
    first_seen: str | None = None
    last_seen: str | None = None
    requests: set[str] = field(default_factory=set)
    sites: set[str] = field(default_factory=set)
    phases: set[str] = field(default_factory=set)
    rule: str | None = None
    reason: str | None = None
    who: dict[tuple[str, ...], _Who] = field(default_factory=dict)
    timeline: dict[str, int] = field(default_factory=dict)

    def add(self, when: str | None, n: int, who: Mapping[str, Any], request: str | None) -> None:
        self.count += n
        if when:
            self.first_seen = min(filter(None, (self.first_seen, when)))
            self.last_seen = max(filter(None, (self.last_seen, when)))
            self.timeline[when] = self.timeline.get(when, 0) + n
        if request:
            self.requests.add(request)
        key = _who_key(who)
        entry = self.who.get(key)
        if entry is None:
            fields = {name: str(who[name]) for name in WHO_FIELDS if who.get(name)}
            entry = self.who[key] = _Who(fields)
        entry.count += n
        if when:
            entry.first_seen = min(filter(None, (entry.first_seen, when)))
            entry.last_seen = max(filter(None, (entry.last_seen, when)))
        path = " ".join(str(who[k]) for k in ("method", "path") if who.get(k))
        if path:
            entry.paths.add(path)

    def to_dict(self) -> dict[str, Any]:
        who = sorted(self.who.values(), key=lambda w: (-w.count, sorted(w.fields.items())))
        return {
            "id": finding_id(self.function, self.category, self.action, self.target, self.decision),
            "function": self.function,
            "category": self.category,
            "action": self.action,
            "target": self.target,
            "decision": self.decision,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "invocations": len(self.requests),
            "sites": sorted(self.sites),
            "phases": sorted(self.phases),
            "rule": self.rule,
            "reason": self.reason,
            "who": [w.to_dict() for w in who],
            "timeline": [[t, n] for t, n in sorted(self.timeline.items())],
        }


@dataclass
class Aggregate:
    """Distinct findings with every repeat counted and every caller kept.

    Attributes
    ----------
    groups:
        One dict per distinct finding (function, category, action, target, decision), most
        frequent first: ``id, count, first_seen, last_seen, invocations, sites, phases, rule,
        who`` (each distinct caller with its own ``count``, first and last seen), ``timeline``
        (``[time, occurrences]`` pairs).
    lines:
        Finding lines read (one per distinct finding per invocation).
    repeats:
        Occurrences counted only in the end-of-invocation summaries.
    suppressed:
        Findings past the runtime's per-invocation budget: counted there, never described.
    unattributed:
        Summary repeats whose finding line was not in the records read (counted, no who).
    """

    groups: list[dict[str, Any]]
    lines: int = 0
    repeats: int = 0
    suppressed: int = 0
    unattributed: int = 0

    @property
    def occurrences(self) -> int:
        """Every occurrence: finding lines plus repeats."""
        return self.lines + self.repeats

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "occurrences": self.occurrences,
            "distinct": len(self.groups),
            "lines": self.lines,
            "repeats": self.repeats,
            "suppressed": self.suppressed,
            "unattributed": self.unattributed,
            "findings": self.groups,
        }


def aggregate(records: Iterable[Mapping[str, Any]]) -> Aggregate:
    """Aggregate finding lines and summary repeats per distinct finding, per caller.

    A summary's repeats are attributed to the finding of the same invocation (``request_id``),
    whose caller they share; without it, to the latest finding with that target (caller
    unknown unless the summary carries ``who``).

    Example
    -------
    >>> line = {"type": "sandbox.finding", "function": "f", "category": "files",
    ...         "action": "read", "target": "/etc/passwd", "decision": "blocked",
    ...         "request_id": "r1", "time": "2024-05-01T10:00:00Z", "who": {"source_ip": "1.2.3.4"}}
    >>> summary = {"type": "sandbox.finding.summary", "function": "f", "request_id": "r1",
    ...            "time": "2024-05-01T10:00:01Z", "repeats": {"files read /etc/passwd ": 2}}
    >>> agg = aggregate([line, summary])
    >>> agg.groups[0]["count"], agg.groups[0]["who"][0]["count"]
    (3, 3)
    """
    groups: dict[tuple[str, str, str, str, str], _Group] = {}
    by_request: dict[tuple[str, str, str], list[tuple[_Group, Mapping[str, Any]]]] = {}
    by_text: dict[tuple[str, str], list[_Group]] = {}
    summaries: list[Mapping[str, Any]] = []
    out = Aggregate(groups=[])
    for record in records:
        if record.get("type") == SUMMARY:
            summaries.append(record)
            continue
        function = str(record.get("function") or "")
        category, action = str(record.get("category", "")), str(record.get("action", ""))
        target = _target_text(record)
        decision = str(record.get("decision", ""))
        key = (function, category, action, target, decision)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(function, category, action, target, decision)
            by_text.setdefault((function, f"{category} {action} {target}"), []).append(group)
        who = record.get("who") or {}
        group.add(record.get("time"), 1, who, record.get("request_id"))
        out.lines += 1
        for name, bucket in (("site", group.sites), ("phase", group.phases)):
            if record.get(name):
                bucket.add(str(record[name]))
        group.rule = group.rule or record.get("rule")
        group.reason = group.reason or record.get("reason")
        request = str(record.get("request_id") or "")
        by_request.setdefault((function, request, group.category), []).append((group, who))
    for summary in summaries:
        function = str(summary.get("function") or "")
        request = str(summary.get("request_id") or "")
        out.suppressed += int(summary.get("suppressed") or 0)
        for text, n in (summary.get("repeats") or {}).items():
            n = int(n)
            if n <= 0:
                continue
            text = " ".join(str(text).split())
            out.repeats += n
            category = text.split(" ", 1)[0]
            same_request = [
                (g, who)
                for g, who in by_request.get((function, request, category), [])
                if f"{g.category} {g.action} {g.target}" == text
            ]
            if same_request:
                group, who = same_request[0]
            else:
                candidates = by_text.get((function, text))
                if candidates:
                    group = max(candidates, key=lambda g: g.last_seen or "")
                else:  # the finding line is outside what was read: keep the count anyway
                    parts = [*text.split(" ", 2), "", ""]
                    key = (function, parts[0], parts[1], parts[2], "unknown")
                    group = groups.get(key) or _Group(function, *key[1:])
                    groups[key] = group
                    by_text.setdefault((function, text), []).append(group)
                who = summary.get("who") or {}
                if not who:
                    out.unattributed += n
            group.add(summary.get("time"), n, who, request or None)
    out.groups = [g.to_dict() for g in groups.values()]
    out.groups.sort(key=lambda g: (-g["count"], g["function"], g["category"], g["target"]))
    return out


def group_findings(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The distinct findings of :func:`aggregate` (most frequent first)."""
    return aggregate(records).groups


def who_label(who: Mapping[str, Any]) -> str:
    """One caller on one line: ``203.0.113.9 curl/8 principal=alice (apigateway)``.

    Example
    -------
    >>> who_label({"source": "apigateway", "source_ip": "203.0.113.9", "user_agent": "curl/8"})
    '203.0.113.9 curl/8 (apigateway)'
    """
    parts = [str(who[k]) for k in ("source_ip", "source_arn", "user_agent") if who.get(k)]
    if who.get("principal"):
        parts.append(f"principal={who['principal']}")
    if who.get("event_source"):
        parts.append(f"event-source={who['event_source']}")
    label = " ".join(parts) or "unknown caller"
    return f"{label} ({who['source']})" if who.get("source") else label
