"""S3 → /tmp → S3: download the uploaded object, normalise it, upload the result.

The object key comes from the S3 event; ``download_file`` goes through s3transfer, which
writes ``<name>.<8 hex>`` and renames it (the table's s3transfer row).
"""

from __future__ import annotations

import os
import tempfile
import urllib.parse

import boto3

s3 = boto3.client("s3")
OUTPUT_BUCKET = os.environ["OUTPUT_BUCKET"]


def handler(event, context):  # type: ignore[no-untyped-def]
    done = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        # The vulnerability: the key's path is trusted (a key with ../ escapes the temp dir).
        local = os.path.join(tempfile.gettempdir(), key.split("/", 1)[-1])
        s3.download_file(bucket, key, local)
        with open(local, encoding="utf-8") as handle:
            lines = [line.strip().upper() for line in handle if line.strip()]
        out = local + ".out"
        with open(out, "w", encoding="utf-8") as handle:
            handle.write("\n".join(sorted(lines)) + "\n")
        s3.upload_file(out, OUTPUT_BUCKET, f"processed/{os.path.basename(local)}")
        os.remove(local)
        os.remove(out)
        done.append({"key": key, "lines": len(lines)})
    return {"processed": done}
