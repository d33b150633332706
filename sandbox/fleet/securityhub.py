"""Security Hub: one ASFF finding per distinct finding, created once and updated after."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sandbox.fleet._api import AwsOptions, call, paginate
from sandbox.fleet.cwfindings import aggregate

__all__ = ["BATCH_LIMIT", "batches", "import_to_security_hub"]

BATCH_LIMIT = 100  # BatchImportFindings takes at most 100 findings per call


def batches(items: Sequence[Any], size: int = BATCH_LIMIT) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items."""
    if size < 1:
        raise ValueError("batch size must be positive")
    for start in range(0, len(items), size):
        yield items[start : start + size]


_ID_FILTER_LIMIT = 20  # values per GetFindings string filter


def _existing(client: Any, opts: AwsOptions, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The findings already in Security Hub with these Ids (filtered again locally)."""
    wanted = set(ids)
    found: dict[str, dict[str, Any]] = {}
    for chunk in batches(list(ids), _ID_FILTER_LIMIT):
        filters = {"Id": [{"Value": i, "Comparison": "EQUALS"} for i in chunk]}
        for item in paginate(client, "get_findings", "Findings", opts, Filters=filters):
            if item.get("Id") in wanted:
                found[str(item["Id"])] = item
    return found


def import_to_security_hub(
    opts: AwsOptions,
    records: Sequence[Mapping[str, Any]],
    *,
    account: str | None = None,
    now: str | None = None,
) -> dict[str, Any]:
    """Create or update one ASFF finding per distinct finding (BatchImportFindings, ≤ 100 a call).

    A finding already in Security Hub (same deterministic Id) is updated: its count and
    callers grow by the occurrences after its last-seen time, ``LastObservedAt`` and
    ``UpdatedAt`` move on; one with nothing new is left alone (re-running is idempotent).

    Returns
    -------
    dict
        ``{"batches", "success", "failed", "errors", "created", "updated", "unchanged"}``.
    """
    from sandbox.fleet.export import asff_state, finding_id_asff, merge_state, to_asff

    region = opts.region_name()
    if account is None:
        account = str(call(opts.client("sts"), "get_caller_identity", opts)["Account"])
    client = opts.client("securityhub")
    groups = aggregate(records).groups
    ids = [finding_id_asff(g, account=account, region=region) for g in groups]
    existing = _existing(client, opts, ids)
    summary: dict[str, Any] = {
        "batches": 0,
        "success": 0,
        "failed": 0,
        "errors": [],
        "created": 0,
        "updated": 0,
        "unchanged": 0,
    }
    out: list[dict[str, Any]] = []
    for group, ident in zip(groups, ids, strict=True):
        old = existing.get(ident)
        if old is None:
            out.append(to_asff(group, account=account, region=region, now=now))
            summary["created"] += 1
            continue
        state = asff_state(old)
        newer = [
            r
            for r in records
            if str(r.get("time") or "") > str(state.get("last_seen") or "")
            and r.get("function", group["function"]) == group["function"]
        ]
        fresh = [g for g in aggregate(newer).groups if g["id"] == group["id"]]
        if not fresh or not fresh[0]["count"]:
            summary["unchanged"] += 1
            continue
        merged = merge_state(state, fresh[0])
        out.append(
            to_asff(
                merged,
                account=account,
                region=region,
                created=str(old.get("CreatedAt") or merged["first_seen"]),
                now=now,
            )
        )
        summary["updated"] += 1
    for batch in batches(out):
        response = call(client, "batch_import_findings", opts, Findings=list(batch))
        summary["batches"] += 1
        summary["success"] += int(response.get("SuccessCount", 0))
        summary["failed"] += int(response.get("FailedCount", 0))
        summary["errors"].extend(response.get("FailedFindings", []))
    return summary
