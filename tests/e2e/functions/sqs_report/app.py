"""An SQS batch report writer: a CSV per batch in a per-batch directory, uploaded to S3.

Bad records are reported back as ``batchItemFailures`` (partial batch response), so a blocked
operation inside the loop shows up only in the response.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import tempfile

import boto3

logger = logging.getLogger()
s3 = boto3.client("s3")
BUCKET = os.environ["REPORT_BUCKET"]


def handler(event, context):  # type: ignore[no-untyped-def]
    failures = []
    rows = []
    for record in event["Records"]:
        try:
            body = json.loads(record["body"])
            rows.append((body["customer"], int(body["amount"])))
        except (ValueError, KeyError) as exc:
            logger.warning("bad record %s: %r", record["messageId"], exc)
            failures.append({"itemIdentifier": record["messageId"]})
    batch = event["Records"][0]["attributes"]["MessageGroupId"]
    # The vulnerability: the report name comes from the first message's attributes.
    name = (
        event["Records"][0]
        .get("messageAttributes", {})
        .get("report", {})
        .get("stringValue", "report.csv")
    )
    folder = os.path.join(tempfile.gettempdir(), "reports", batch)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    try:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["customer", "amount"])
            writer.writerows(sorted(rows))
        s3.upload_file(path, BUCKET, f"reports/{batch}/{os.path.basename(path)}")
    except OSError:
        logger.exception("report %s failed", batch)
        failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"]]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"batchItemFailures": failures, "rows": len(rows)}
