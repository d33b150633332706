"""A realistic order API: API Gateway in, price lookup over HTTP, receipt to S3, order to DynamoDB.

Everything it talks to is configured by environment (as in Lambda): ``AWS_ENDPOINT_URL`` points
boto3 at the endpoint (a moto server on loopback in the demo), ``PRICING_URL`` at the pricing
service, ``ORDERS_BUCKET`` / ``ORDERS_TABLE`` at the resources.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import urllib.request
import uuid

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)

BUCKET = os.environ.get("ORDERS_BUCKET", "orders-receipts")
TABLE = os.environ.get("ORDERS_TABLE", "orders")
PRICING_URL = os.environ.get("PRICING_URL", "http://localhost:8088/price")

# Clients are created during init, as Lambda best practice says.
s3 = boto3.client("s3")
dynamodb = boto3.client("dynamodb")


def handler(event, context):  # type: ignore[no-untyped-def]
    body = json.loads(event.get("body") or "{}")
    sku = str(body["sku"])
    quantity = int(body.get("quantity", 1))
    order_id = str(uuid.uuid4())

    with urllib.request.urlopen(f"{PRICING_URL}?sku={sku}", timeout=5) as response:
        price = json.load(response)["price"]
    total = round(price * quantity, 2)

    # A scratch file in /tmp, as many functions do before an upload.
    receipt = os.path.join(tempfile.gettempdir(), f"receipt-{order_id}.json")
    with open(receipt, "w") as handle:
        json.dump({"order_id": order_id, "sku": sku, "quantity": quantity, "total": total}, handle)
    with open(receipt, "rb") as handle:
        s3.put_object(Bucket=BUCKET, Key=f"receipts/{order_id}.json", Body=handle.read())
    os.remove(receipt)

    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "order_id": {"S": order_id},
            "sku": {"S": sku},
            "quantity": {"N": str(quantity)},
            "total": {"N": str(total)},
        },
    )
    logger.info("order %s stored: %s x %s = %s", order_id, quantity, sku, total)
    return {"statusCode": 201, "body": json.dumps({"order_id": order_id, "total": total})}
