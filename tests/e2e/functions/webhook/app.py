"""A webhook poster: each event becomes a signed JSON POST to a configured endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import urllib.request

WEBHOOK_URL = os.environ["WEBHOOK_URL"]
SECRET = os.environ.get("WEBHOOK_SECRET", "s3cret").encode()


def handler(event, context):  # type: ignore[no-untyped-def]
    payload = json.dumps({"type": event["type"], "data": event["data"]}, sort_keys=True).encode()
    signature = hmac.new(SECRET, payload, hashlib.sha256).hexdigest()
    # The vulnerability: the caller may override the endpoint (an SSRF).
    url = event.get("callback_url") or f"{WEBHOOK_URL}/{event['type']}"
    request = urllib.request.Request(
        url,
        data=payload,
        headers={"Content-Type": "application/json", "X-Signature": signature},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return {"status": response.status, "sent": len(payload)}
