"""Who triggered an invocation: the event source, from the event's own shape (no parsing libs)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any


def event_source(event: Any) -> dict[str, Any]:
    """Attribution for findings: API Gateway caller, or the ARN of a queue, bucket or bus.

    Example
    -------
    >>> event_source({"requestContext": {"identity": {"sourceIp": "203.0.113.9"}}, "path": "/x"})
    {'source': 'apigateway', 'source_ip': '203.0.113.9', 'path': '/x'}
    """
    if not isinstance(event, dict):
        return {}
    context = event.get("requestContext")
    if isinstance(context, dict):
        http = context.get("http")
        identity = context.get("identity")
        who: dict[str, Any] = {"source": "apigateway"}
        if isinstance(http, dict):  # HTTP API (payload 2.0) and function URLs
            who["source_ip"] = http.get("sourceIp")
            who["user_agent"] = http.get("userAgent")
            who["path"] = http.get("path")
            who["method"] = http.get("method")
        elif isinstance(identity, dict):  # REST API (payload 1.0)
            who["source_ip"] = identity.get("sourceIp")
            who["user_agent"] = identity.get("userAgent")
            who["path"] = event.get("path")
            who["method"] = event.get("httpMethod")
        if "elb" in context:
            who["source"] = "alb"
        return {k: v for k, v in who.items() if v is not None}
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        first = records[0]
        source = first.get("eventSource") or first.get("EventSource") or "unknown"
        arn = first.get("eventSourceARN") or first.get("EventSubscriptionArn")
        if source == "aws:s3":
            bucket = (first.get("s3") or {}).get("bucket") or {}
            arn = bucket.get("arn") or arn
        return {
            k: v
            for k, v in {"source": source, "source_arn": arn, "records": len(records)}.items()
            if v
        }
    if "detail-type" in event and "source" in event:
        return {
            "source": "eventbridge",
            "event_source": event.get("source"),
            "detail_type": event.get("detail-type"),
            "resources": event.get("resources"),
        }
    return {}
