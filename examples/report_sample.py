"""Sample log lines for ``sandbox report``: a function learning, then attacked by three callers.

``python examples/report_sample.py OUT.jsonl`` writes the lines the runtime would have written
(``sandbox.observation``, ``sandbox.invocation``, ``sandbox.finding`` and
``sandbox.finding.summary``) for the function ``orders``, deterministic, so that
``sandbox report orders --logs OUT.jsonl --profile profiles/orders.json --html report.html``
shows every part of the page without AWS (``make report-screenshot`` does this).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

START = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone.utc)
FUNCTION = "orders"
ATTACKERS = (
    ("203.0.113.9", "curl/8.5.0", "GET", "/orders/../../etc/passwd"),
    ("198.51.100.23", "python-requests/2.32", "POST", "/orders"),
    ("192.0.2.77", "Mozilla/5.0 (X11; Linux x86_64)", "GET", "/orders/export"),
)


def _t(minutes: float) -> str:
    return (START + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def lines() -> list[dict[str, Any]]:
    """The sample records, in time order."""
    out: list[dict[str, Any]] = []
    env = "e99a033404072f0e"
    seen = 0
    novel_per_invocation = [14, 6, 5, 3, 3, 2, 1, 1, 0, 1] + [0] * 50 + [1] + [0] * 60
    for number, novel in enumerate(novel_per_invocation, start=1):
        minute = number * 6
        for _ in range(novel):
            seen += 1
            out.append(
                {
                    "type": "sandbox.observation",
                    "v": 1,
                    "function": FUNCTION,
                    "env": env,
                    "phase": "invoke",
                    "invocation": number,
                    "time": _t(minute),
                    "category": "files",
                    "action": "read",
                    "target": f"{{task}}/templates/t{seen}.html",
                }
            )
        out.append(
            {
                "type": "sandbox.invocation",
                "v": 1,
                "function": FUNCTION,
                "env": env,
                "invocation": number,
                "time": _t(minute),
                "novel": novel,
            }
        )
    attacks = [
        ("files", "read", "/etc/passwd", None, "{task}/app.py:41"),
        ("processes", "exec", "/bin/sh", ["-c", "id"], "{task}/app.py:77"),
    ]
    for step in range(36):
        ip, agent, method, path = ATTACKERS[step % 3 if step > 8 else 0]
        category, action, target, argv, site = attacks[step % 2]
        request = f"req-{step:03d}"
        minute = 12 * 60 + step * 17 + (step % 5) * 3
        who = {
            "source": "apigateway",
            "source_ip": ip,
            "user_agent": agent,
            "method": method,
            "path": path,
        }
        record: dict[str, Any] = {
            "type": "sandbox.finding",
            "schema": 1,
            "level": "ERROR",
            "time": _t(minute),
            "function": FUNCTION,
            "version": "$LATEST",
            "request_id": request,
            "phase": "invoke",
            "mode": "enforce" if step > 5 else "alert",
            "category": category,
            "action": action,
            "target": target,
            "decision": "blocked" if step > 5 else "would-block",
            "reason": "not in profile",
            "rule": "rules.{}: {}".format(
                category,
                json.dumps(
                    {"action": action, "phase": "invoke", "target": target}
                    | ({"argv": argv} if argv else {}),
                    sort_keys=True,
                ),
            ),
            "site": site,
            "who": who,
        }
        if argv:
            record["argv"] = argv
        out.append(record)
        if step % 3 == 0:
            key = " ".join([category, action, target, *(argv or [])]) + ("" if argv else " ")
            out.append(
                {
                    "type": "sandbox.finding.summary",
                    "schema": 1,
                    "level": "WARN",
                    "time": _t(minute + 0.5),
                    "function": FUNCTION,
                    "version": "$LATEST",
                    "request_id": request,
                    "repeats": {key: 1 + step % 4},
                    "suppressed": 0,
                }
            )
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python examples/report_sample.py OUT.jsonl", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in lines()))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
