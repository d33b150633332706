"""Aggregated findings → the formats security teams ingest: OCSF Detection Finding and AWS ASFF.

Tooling only: the runtime writes its own JSON lines (:mod:`sandbox.runtime.findings`); these
exporters take the distinct findings of :func:`sandbox.fleet.cwfindings.aggregate` (one record
per distinct finding, with its count, first and last seen and every caller), so an export
never has one record per occurrence and never drops a repeat.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "OCSF_VERSION",
    "WHO_SLOTS",
    "asff_state",
    "finding_id_asff",
    "merge_state",
    "to_asff",
    "to_ocsf",
]

OCSF_VERSION = "1.5.0"
WHO_SLOTS = 20  # callers written one per ProductFields entry; the rest are summed
_PRODUCT = "lambda-sandbox"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _ms(value: Any) -> int | None:
    from sandbox.fleet.cwfindings import iso_to_ms

    return iso_to_ms(str(value)) if value else None


def _blocked(group: Mapping[str, Any]) -> bool:
    return group.get("decision") == "blocked"


def _function_arn(function: str, *, account: str | None, region: str | None) -> str | None:
    if account and region:
        return f"arn:aws:lambda:{region}:{account}:function:{function}"
    return None


def _message(group: Mapping[str, Any]) -> str:
    callers = len(group.get("who") or [])
    return (
        f"{group.get('decision')}: {group.get('category')} {group.get('action')} "
        f"{group.get('target')} ({group.get('count')} times, {callers} caller"
        f"{'' if callers == 1 else 's'}, {group.get('first_seen')} to {group.get('last_seen')})"
    )


def to_ocsf(
    group: Mapping[str, Any], *, account: str | None = None, region: str | None = None
) -> dict[str, Any]:
    """An OCSF Detection Finding (class 2004) for one distinct finding.

    Times are epoch milliseconds (``time`` is the last occurrence, ``start_time`` the first),
    ``count`` is every occurrence, each caller is an evidence with its own count, and caller
    IP addresses are observables.

    Example
    -------
    >>> event = to_ocsf({"function": "f", "category": "files", "action": "read",
    ...                  "target": "/etc/passwd", "decision": "blocked", "count": 3,
    ...                  "first_seen": "1970-01-01T00:00:01Z", "last_seen": "1970-01-01T00:00:02Z",
    ...                  "id": "lambda-sandbox/f/files-read/0", "who": []})
    >>> event["time"], event["start_time"], event["count"]
    (2000, 1000, 3)
    """
    blocked = _blocked(group)
    first, last = _ms(group.get("first_seen")), _ms(group.get("last_seen"))
    last = last if last is not None else int(time.time() * 1000)
    who = list(group.get("who") or [])
    function = str(group.get("function") or "")
    resource: dict[str, Any] = {"type": "AWS::Lambda::Function", "name": function}
    arn = _function_arn(function, account=account, region=region)
    if arn:
        resource["uid"] = arn
    if region:
        resource["region"] = region
    observables = []
    for caller in who:
        if caller.get("source_ip"):
            observables.append(
                {
                    "name": "who.source_ip",
                    "type": "IP Address",
                    "type_id": 2,
                    "value": caller["source_ip"],
                }
            )
        if caller.get("source_arn"):
            observables.append(
                {
                    "name": "who.source_arn",
                    "type": "Resource UID",
                    "type_id": 10,
                    "value": caller["source_arn"],
                }
            )
    event: dict[str, Any] = {
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": 4 if blocked else 3,
        "severity": "High" if blocked else "Medium",
        "status_id": 1,
        "status": "New",
        "time": last,
        "start_time": first if first is not None else last,
        "end_time": last,
        "count": int(group.get("count") or 0),
        "message": _message(group),
        # security_control profile: what the control did.
        "action_id": 2 if blocked else 1,
        "action": "Denied" if blocked else "Allowed",
        "disposition_id": 2 if blocked else 15,
        "disposition": "Blocked" if blocked else "Detected",
        "finding_info": {
            "uid": str(group.get("id") or ""),
            "title": f"lambda-sandbox {group.get('decision')}: {group.get('category')} "
            f"{group.get('action')}",
            "desc": f"{group.get('target')} at {', '.join(group.get('sites') or []) or '-'} "
            f"({group.get('reason') or 'not in profile'})",
            "types": [str(group.get("category"))],
            "first_seen_time": first if first is not None else last,
            "last_seen_time": last,
            "data_sources": ["AWS CloudWatch Logs"],
        },
        "resources": [resource],
        "evidences": [
            {"name": "caller", "data": {k: v for k, v in caller.items() if v not in (None, [])}}
            for caller in who
        ],
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": _PRODUCT, "vendor_name": _PRODUCT},
            "profiles": ["cloud", "security_control"],
        },
        "unmapped": {
            "target": group.get("target"),
            "sites": group.get("sites") or [],
            "phases": group.get("phases") or [],
            "invocations": group.get("invocations"),
            "rule": group.get("rule"),
        },
    }
    if observables:
        event["observables"] = observables
    if region:
        event["cloud"] = {"provider": "AWS", "region": region}
    if group.get("rule"):
        event["remediation"] = {
            "desc": f"If this access is legitimate, add to the profile: {group['rule']}"
        }
    return event


def finding_id_asff(group: Mapping[str, Any], *, account: str, region: str) -> str:
    """The ASFF ``Id`` of a distinct finding: account, region and its deterministic id.

    Example
    -------
    >>> finding_id_asff({"id": "lambda-sandbox/f/files-read/0"}, account="1", region="r")
    '1/r/lambda-sandbox/f/files-read/0'
    """
    return f"{account}/{region}/{group['id']}"[:512]


def _types(group: Mapping[str, Any]) -> list[str]:
    if group.get("category") == "processes":
        return ["TTPs/Execution"]
    return ["Unusual Behaviors/Application"]


def _top_ipv4(who: list[Mapping[str, Any]]) -> str | None:
    for caller in who:  # most frequent first
        try:
            if ipaddress.ip_address(str(caller.get("source_ip"))).version == 4:
                return str(caller["source_ip"])
        except ValueError:
            continue
    return None


def to_asff(
    group: Mapping[str, Any],
    *,
    account: str,
    region: str,
    created: str | None = None,
    now: str | None = None,
) -> dict[str, Any]:
    """An AWS Security Finding Format record for one distinct finding (BatchImportFindings).

    The ``Id`` is deterministic, so importing again updates the finding; the count, first and
    last seen and each caller (``sandbox/who/NN``, JSON) are in ``ProductFields``, the first
    and last occurrence in ``FirstObservedAt``/``LastObservedAt`` and ``UpdatedAt``.

    Example
    -------
    >>> record = to_asff({"id": "lambda-sandbox/f/files-read/0", "function": "f", "count": 2,
    ...                   "category": "files", "action": "read", "target": "/etc/passwd",
    ...                   "decision": "blocked", "first_seen": "2024-05-01T10:00:00Z",
    ...                   "last_seen": "2024-05-01T10:05:00Z", "who": []},
    ...                  account="123456789012", region="us-east-1")
    >>> record["ProductFields"]["sandbox/count"], record["UpdatedAt"]
    ('2', '2024-05-01T10:05:00Z')
    """
    blocked = _blocked(group)
    function = str(group.get("function") or "")
    first = str(group.get("first_seen") or now or _now())
    last = str(group.get("last_seen") or first)
    created_at = min(created or first, first)
    who = list(group.get("who") or [])
    fields: dict[str, str] = {
        "sandbox/function": function,
        "sandbox/category": str(group.get("category")),
        "sandbox/action": str(group.get("action")),
        "sandbox/target": str(group.get("target"))[:2048],
        "sandbox/decision": str(group.get("decision")),
        "sandbox/count": str(int(group.get("count") or 0)),
        "sandbox/first_seen": first,
        "sandbox/last_seen": last,
        "sandbox/invocations": str(int(group.get("invocations") or 0)),
        "sandbox/sites": json.dumps(group.get("sites") or [])[:2048],
        "sandbox/phases": json.dumps(group.get("phases") or []),
        "sandbox/rule": str(group.get("rule") or "")[:2048],
        "sandbox/callers": str(len(who) + int(group.get("who_other_distinct") or 0)),
    }
    for index, caller in enumerate(who[:WHO_SLOTS], start=1):
        fields[f"sandbox/who/{index:02d}"] = json.dumps(caller, sort_keys=True)[:2048]
    rest = who[WHO_SLOTS:]
    other_count = sum(int(c.get("count") or 0) for c in rest) + int(
        group.get("who_other_count") or 0
    )
    if other_count:
        fields["sandbox/who_other_count"] = str(other_count)
        fields["sandbox/who_other_distinct"] = str(
            len(rest) + int(group.get("who_other_distinct") or 0)
        )
    record: dict[str, Any] = {
        "SchemaVersion": "2018-10-08",
        "Id": finding_id_asff(group, account=account, region=region),
        "ProductArn": f"arn:aws:securityhub:{region}:{account}:product/{account}/default",
        "GeneratorId": _PRODUCT,
        "AwsAccountId": account,
        "Types": _types(group),
        "CreatedAt": created_at,
        "UpdatedAt": last,
        "FirstObservedAt": first,
        "LastObservedAt": last,
        "Severity": {"Label": "HIGH" if blocked else "MEDIUM"},
        "Title": f"lambda-sandbox {group.get('decision')}: {group.get('category')} "
        f"{group.get('action')} {group.get('target')}"[:256],
        "Description": _message(group)[:1024],
        "Resources": [
            {
                "Type": "AwsLambdaFunction",
                "Id": _function_arn(function, account=account, region=region),
                "Region": region,
            }
        ],
        "ProductFields": fields,
    }
    if group.get("rule"):
        record["Remediation"] = {
            "Recommendation": {
                "Text": f"If this access is legitimate, add to the profile: {group['rule']}"[:512]
            }
        }
    ip = _top_ipv4(who)
    if ip:
        record["Network"] = {"Direction": "IN", "SourceIpV4": ip}
    return record


def asff_state(finding: Mapping[str, Any]) -> dict[str, Any]:
    """Read back what :func:`to_asff` stored: a distinct finding (count, times, callers)."""
    fields = finding.get("ProductFields") or {}
    who = [
        json.loads(fields[k]) for k in sorted(fields) if k.startswith("sandbox/who/") and fields[k]
    ]
    ident = str(finding.get("Id", ""))
    return {
        "id": ident.split("/", 2)[2] if ident.count("/") >= 2 else ident,
        "function": fields.get("sandbox/function"),
        "category": fields.get("sandbox/category"),
        "action": fields.get("sandbox/action"),
        "target": fields.get("sandbox/target"),
        "decision": fields.get("sandbox/decision"),
        "count": int(fields.get("sandbox/count") or 0),
        "first_seen": fields.get("sandbox/first_seen") or finding.get("FirstObservedAt"),
        "last_seen": fields.get("sandbox/last_seen") or finding.get("LastObservedAt"),
        "invocations": int(fields.get("sandbox/invocations") or 0),
        "sites": json.loads(fields.get("sandbox/sites") or "[]"),
        "phases": json.loads(fields.get("sandbox/phases") or "[]"),
        "rule": fields.get("sandbox/rule") or None,
        "who": who,
        "who_other_count": int(fields.get("sandbox/who_other_count") or 0),
        "who_other_distinct": int(fields.get("sandbox/who_other_distinct") or 0),
    }


def _who_key(caller: Mapping[str, Any]) -> tuple[str, ...]:
    from sandbox.fleet.cwfindings import WHO_FIELDS

    return tuple(str(caller.get(k) or "") for k in WHO_FIELDS)


def merge_state(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A stored finding plus the occurrences after its last seen: counts add, callers merge.

    Example
    -------
    >>> old = {"count": 2, "first_seen": "a", "last_seen": "b", "who": [{"source_ip": "1", "count": 2}]}
    >>> new = {"count": 1, "first_seen": "c", "last_seen": "c", "who": [{"source_ip": "1", "count": 1}]}
    >>> merged = merge_state(old, new)
    >>> merged["count"], merged["last_seen"], merged["who"][0]["count"]
    (3, 'c', 3)
    """
    merged = {**old, **{k: v for k, v in new.items() if v not in (None, [], "")}}
    merged["count"] = int(old.get("count") or 0) + int(new.get("count") or 0)
    merged["invocations"] = int(old.get("invocations") or 0) + int(new.get("invocations") or 0)
    merged["first_seen"] = min(
        filter(None, (old.get("first_seen"), new.get("first_seen"))), default=None
    )
    merged["last_seen"] = max(
        filter(None, (old.get("last_seen"), new.get("last_seen"))), default=None
    )
    for name in ("sites", "phases"):
        merged[name] = sorted({*(old.get(name) or []), *(new.get(name) or [])})
    callers: dict[tuple[str, ...], dict[str, Any]] = {}
    for caller in [*(old.get("who") or []), *(new.get("who") or [])]:
        key = _who_key(caller)
        known = callers.get(key)
        if known is None:
            callers[key] = dict(caller)
            continue
        known["count"] = int(known.get("count") or 0) + int(caller.get("count") or 0)
        known["first_seen"] = min(
            filter(None, (known.get("first_seen"), caller.get("first_seen"))), default=None
        )
        known["last_seen"] = max(
            filter(None, (known.get("last_seen"), caller.get("last_seen"))), default=None
        )
        known["paths"] = sorted({*(known.get("paths") or []), *(caller.get("paths") or [])})
    merged["who"] = sorted(callers.values(), key=lambda c: -int(c.get("count") or 0))
    merged["who_other_count"] = int(old.get("who_other_count") or 0)
    merged["who_other_distinct"] = int(old.get("who_other_distinct") or 0)
    return merged
