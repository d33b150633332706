"""Finding records → the formats security teams ingest: OCSF Detection Finding and AWS ASFF.

Tooling only: the runtime writes its own JSON lines (:mod:`sandbox.runtime.findings`); these
exporters run where the findings are read back (``sandbox findings --ocsf``, Security Hub).
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["to_asff", "to_ocsf"]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def to_ocsf(finding: dict[str, Any]) -> dict[str, Any]:
    """An OCSF 1.x Detection Finding (class 2004) for one finding record."""
    blocked = finding.get("decision") == "blocked"
    return {
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "type_uid": 200401,
        "severity_id": 4 if blocked else 3,
        "severity": "High" if blocked else "Medium",
        "time": finding.get("time"),
        "message": f"{finding.get('category')} {finding.get('action')} {finding.get('target')}",
        "action_id": 2 if blocked else 1,
        "action": "Denied" if blocked else "Allowed",
        "disposition": "Blocked" if blocked else "Alert",
        "finding_info": {
            "uid": f"{finding.get('function')}:{finding.get('request_id')}:{finding.get('target')}",
            "title": f"lambda-sandbox {finding.get('decision')}: {finding.get('category')}",
            "desc": finding.get("reason"),
            "types": [str(finding.get("category"))],
        },
        "resources": [{"type": "AWS::Lambda::Function", "name": finding.get("function")}],
        "src_endpoint": {"ip": (finding.get("who") or {}).get("source_ip")},
        "metadata": {
            "version": "1.1.0",
            "product": {"name": "lambda-sandbox", "vendor_name": "lambda-sandbox"},
        },
        "unmapped": {k: finding.get(k) for k in ("site", "rule", "phase", "layers", "who")},
    }


def to_asff(finding: dict[str, Any], *, account: str, region: str) -> dict[str, Any]:
    """An AWS Security Finding Format record for Security Hub's BatchImportFindings."""
    blocked = finding.get("decision") == "blocked"
    function = finding.get("function")
    created = finding.get("time") or _now()
    ident = (
        f"{function}/{finding.get('request_id')}/{finding.get('category')}/{finding.get('target')}"
    )
    return {
        "SchemaVersion": "2018-10-08",
        "Id": ident[:512],
        "ProductArn": f"arn:aws:securityhub:{region}:{account}:product/{account}/default",
        "GeneratorId": "lambda-sandbox",
        "AwsAccountId": account,
        "Types": [
            "TTPs/Execution"
            if finding.get("category") == "processes"
            else "Unusual Behaviors/Application"
        ],
        "CreatedAt": created,
        "UpdatedAt": created,
        "Severity": {"Label": "HIGH" if blocked else "MEDIUM"},
        "Title": f"lambda-sandbox {finding.get('decision')}: {finding.get('category')} {finding.get('action')}"[
            :256
        ],
        "Description": f"{finding.get('target')} at {finding.get('site')} ({finding.get('reason')})"[
            :1024
        ],
        "Resources": [
            {
                "Type": "AwsLambdaFunction",
                "Id": f"arn:aws:lambda:{region}:{account}:function:{function}",
                "Region": region,
            }
        ],
        "ProductFields": {
            "sandbox/rule": str(finding.get("rule"))[:4096],
            "sandbox/site": str(finding.get("site")),
            "sandbox/source_ip": str((finding.get("who") or {}).get("source_ip", "")),
        },
    }
