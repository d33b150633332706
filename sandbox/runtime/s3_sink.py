"""Observations to S3: JSON lines buffered in memory, one object per flush.

Objects are written as ``<prefix>/<env>/<seq>.jsonl`` (``seq`` zero-padded, so key order is
write order): never overwritten, so ``profile build --from s3://…`` can read each object once.
boto3 is imported at the first flush, never at install.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .sinks import dumps


class S3LineSink:
    """Buffer JSON lines; ``flush()`` uploads them as one new object under the prefix.

    Parameters
    ----------
    url:
        ``s3://bucket/prefix`` (the prefix may be empty).
    env:
        The execution environment id used in keys (default: random, one per process).
    client:
        A ready boto3 S3 client (default: ``boto3.client("s3")`` at the first flush).

    Example
    -------
    >>> sink = S3LineSink("s3://my-bucket/observations/orders")  # doctest: +SKIP
    >>> sink.write({"type": "sandbox.observation", "v": 1})  # doctest: +SKIP
    >>> sink.flush()  # doctest: +SKIP
    's3://my-bucket/observations/orders/6f1c…/000001.jsonl'
    """

    def __init__(self, url: str, *, env: str | None = None, client: Any = None):
        if not url.startswith("s3://"):
            raise ValueError(f"expected s3://bucket/prefix, got {url!r}")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"expected s3://bucket/prefix, got {url!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.env = env or os.urandom(8).hex()
        self._client = client
        self._buffer: list[bytes] = []
        self._seq = 0
        self._lock = threading.Lock()
        self.errors = 0

    def write(self, record: dict[str, Any]) -> None:
        """Buffer one record as a JSON line (cheap: no I/O)."""
        line = dumps(record)
        with self._lock:
            self._buffer.append(line)

    def key(self, seq: int) -> str:
        """The object key of flush number ``seq``."""
        name = f"{self.env}/{seq:06d}.jsonl"
        return f"{self.prefix}/{name}" if self.prefix else name

    def flush(self) -> str | None:
        """Upload what is buffered as one object; returns its URL, or ``None`` if nothing/failed.

        Never raises: a failed upload keeps the lines for the next flush (learn fails open).
        """
        with self._lock:
            if not self._buffer:
                return None
            lines, self._buffer = self._buffer, []
            self._seq += 1
            seq = self._seq
        # The upload runs outside the lock: records written meanwhile go to the next object.
        try:
            client = self._client
            if client is None:
                import boto3

                client = self._client = boto3.client("s3")
            key = self.key(seq)
            client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=b"".join(lines),
                ContentType="application/x-ndjson",
            )
        except Exception:
            self.errors += 1
            with self._lock:
                self._buffer[:0] = lines
            return None
        return f"s3://{self.bucket}/{key}"

    def pending(self) -> int:
        """Lines waiting for the next flush."""
        with self._lock:
            return len(self._buffer)
