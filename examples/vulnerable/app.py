"""A deliberately vulnerable function (do not deploy): every action trusts the event.

- ``wordcount``: command injection (the file name goes into a shell command)
- ``report``: path traversal (the name is joined to a directory unchecked)
- ``fetch``: SSRF (the URL is fetched as given)
- ``calc``: code evaluation (the expression is ``eval``-ed)
"""

from __future__ import annotations

import os
import subprocess
import urllib.request

REPORTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reports")


def handler(event, context):  # type: ignore[no-untyped-def]
    params = event.get("queryStringParameters") or {}
    action = params.get("action")
    if action == "wordcount":
        command = f"wc -c {REPORTS}/{params['file']}"
        result = subprocess.run(command, shell=True, capture_output=True, text=True, check=False)
        return {"statusCode": 200, "body": result.stdout.strip()}
    if action == "report":
        with open(os.path.join(REPORTS, params["name"])) as handle:
            return {"statusCode": 200, "body": handle.read()}
    if action == "fetch":
        with urllib.request.urlopen(params["url"], timeout=5) as response:
            return {"statusCode": 200, "body": response.read().decode()[:200]}
    if action == "calc":
        return {
            "statusCode": 200,
            "body": str(eval(params["expr"])),
        }  # the vulnerability, on purpose
    return {"statusCode": 400, "body": "unknown action"}
