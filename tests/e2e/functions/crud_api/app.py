"""A DynamoDB CRUD API behind API Gateway, with its error paths (400, 404, 500)."""

from __future__ import annotations

import json
import logging
import os

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)
dynamodb = boto3.client("dynamodb")
DEFAULT_TABLE = os.environ["TABLE_NAME"]


class BadRequest(ValueError):
    """The request cannot be served as sent."""


def _response(status, body):  # type: ignore[no-untyped-def]
    return {"statusCode": status, "body": json.dumps(body, sort_keys=True)}


def handler(event, context):  # type: ignore[no-untyped-def]
    try:
        return _route(event)
    except BadRequest as exc:
        logger.exception("bad request")
        return _response(400, {"error": str(exc)})
    except ClientError as exc:
        logger.exception("dynamodb error")
        return _response(500, {"error": exc.response["Error"]["Code"]})


def _route(event):  # type: ignore[no-untyped-def]
    method = event["httpMethod"]
    item_id = (event.get("pathParameters") or {}).get("id")
    # The vulnerability: a debug parameter selects the table.
    table = (event.get("queryStringParameters") or {}).get("table", DEFAULT_TABLE)
    if not item_id:
        raise BadRequest("missing id")
    key = {"id": {"S": item_id}}
    if method == "GET":
        found = dynamodb.get_item(TableName=table, Key=key).get("Item")
        if found is None:
            return _response(404, {"error": "not found", "id": item_id})
        return _response(200, {"id": item_id, "name": found["name"]["S"]})
    if method == "PUT":
        try:
            body = json.loads(event.get("body") or "")
        except json.JSONDecodeError as exc:
            raise BadRequest(f"body is not JSON: {exc.msg}") from exc
        if "name" not in body:
            raise BadRequest("name is required")
        dynamodb.put_item(TableName=table, Item={**key, "name": {"S": str(body["name"])}})
        return _response(201, {"id": item_id})
    if method == "DELETE":
        dynamodb.delete_item(TableName=table, Key=key)
        return _response(204, {})
    raise BadRequest(f"method {method} not allowed")
