"""The OCSF export validated against the OCSF models (py-ocsf-models), the ASFF one by shape."""

from __future__ import annotations

from typing import Any

from py_ocsf_models.events.findings.detection_finding import DetectionFinding

from sandbox.fleet.cwfindings import aggregate, iso_to_ms
from sandbox.fleet.export import asff_state, merge_state, to_asff, to_ocsf
from tests.unit.test_aws_findings import finding, summary

# Attributes of the security_control profile (declared in metadata.profiles) that the models
# leave out; everything else the export writes must be a field the models know.
_PROFILE_ONLY = {"action", "action_id", "disposition", "disposition_id"}


def _unknown_keys(sent: Any, parsed: Any, path: str = "") -> list[str]:
    """Keys in what was sent that the validated model dropped (pydantic ignores extras)."""
    if isinstance(sent, dict):
        out = []
        for key, value in sent.items():
            if not isinstance(parsed, dict) or key not in parsed:
                out.append(f"{path}{key}")
            else:
                out.extend(_unknown_keys(value, parsed[key], f"{path}{key}."))
        return out
    if isinstance(sent, list) and isinstance(parsed, list):
        return [k for s, p in zip(sent, parsed, strict=False) for k in _unknown_keys(s, p, path)]
    return []


def _groups() -> list[dict[str, Any]]:
    return aggregate(
        [
            finding(0, ip="203.0.113.9", request="r1"),
            summary(2, {"files read /etc/passwd ": 4}, request="r1"),
            finding(9, ip="198.51.100.1", agent="python-requests/2", request="r2"),
            {**finding(12, target="/bin/sh", request="r3"), "decision": "would-block"},
        ]
    ).groups


def test_ocsf_detection_findings_validate_against_the_schema_models() -> None:
    # GIVEN aggregated findings, blocked and would-block, with several callers
    groups = _groups()
    for group in groups:
        # WHEN exported as OCSF
        event = to_ocsf(group, account="123456789012", region="us-east-1")
        # THEN the OCSF models accept it, and know every attribute it carries
        model = DetectionFinding.model_validate(event)
        parsed = model.model_dump(mode="json", exclude_none=True)
        assert set(_unknown_keys(event, parsed)) <= _PROFILE_ONLY
        # AND times are epoch milliseconds: time is the last occurrence, start_time the first
        assert event["time"] == iso_to_ms(group["last_seen"]) == model.time
        assert event["start_time"] == iso_to_ms(group["first_seen"])
        assert event["finding_info"]["first_seen_time"] == event["start_time"]
        assert event["count"] == group["count"]
        assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
        assert len(event["evidences"]) == len(group["who"])
    blocked, would = (to_ocsf(g) for g in groups)
    assert (blocked["severity_id"], blocked["disposition"]) == (4, "Blocked")
    assert (would["severity_id"], would["action"]) == (3, "Allowed")
    # AND each caller's IP is an observable
    ips = {o["value"] for o in blocked["observables"] if o["type_id"] == 2}
    assert ips == {"203.0.113.9", "198.51.100.1"}


def test_asff_round_trip_keeps_count_and_callers() -> None:
    # GIVEN an aggregated finding exported as ASFF
    group = _groups()[0]
    record = to_asff(group, account="123456789012", region="us-east-1")
    # WHEN read back and merged with later occurrences
    state = asff_state(record)
    later = aggregate([finding(50, ip="192.0.2.7", request="r9")]).groups[0]
    merged = merge_state(state, later)
    # THEN nothing is lost: the count adds, the callers keep their own counts
    assert state["count"] == group["count"] == 6
    assert {w["source_ip"]: w["count"] for w in state["who"]} == {
        "203.0.113.9": 5,
        "198.51.100.1": 1,
    }
    assert merged["count"] == 7 and merged["last_seen"] == later["last_seen"]
    assert {w["source_ip"] for w in merged["who"]} == {"203.0.113.9", "198.51.100.1", "192.0.2.7"}
    # AND the record is within Security Hub's limits
    assert len(record["Id"]) <= 512 and len(record["ProductFields"]) <= 50
    assert all(len(k) <= 128 and len(v) <= 2048 for k, v in record["ProductFields"].items())
