"""A stdlib-heavy handler (the benchmark's): a per-call work folder, SQLite, files, no network.

Per call, about twenty audit events the sandbox decides on (``open``, ``os.mkdir``,
``os.listdir``/``os.scandir``, ``os.rename``, ``os.remove``, ``shutil.copyfile``,
``sqlite3.connect``, ``tempfile.mkstemp``, ``shutil.rmtree``, ``os.rmdir``) and many more it
ignores: a job unpacked into a temporary folder, loaded into an SQLite database there,
summarised into a CSV report, compressed and copied, then cleaned up. Its one shipped file
(``rates.json``) is read on every call, the way functions read bundled configuration.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import sqlite3
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))


def handler(event, context):  # type: ignore[no-untyped-def]
    with open(os.path.join(HERE, "rates.json"), encoding="utf-8") as handle:
        rates = json.load(handle)
    rows = event.get("rows") or [[f"sku-{i}", i % 7 + 1] for i in range(40)]
    job = str(uuid.uuid4())
    work = os.path.join(tempfile.gettempdir(), f"job-{job}")
    os.mkdir(work)
    try:
        source = os.path.join(work, "input.json")
        with open(source, "w", encoding="utf-8") as handle:
            json.dump(rows, handle)
        with open(source, encoding="utf-8") as handle:
            loaded = json.load(handle)
        db = sqlite3.connect(os.path.join(work, "job.db"))
        try:
            # A scratch database: no flush to disk (an fsync takes 2-70 ms on a shared VM,
            # which would drown the handler's own time and the sandbox's share of it).
            db.execute("PRAGMA synchronous = OFF")
            db.execute("CREATE TABLE items (sku TEXT, quantity INTEGER, rate REAL)")
            db.executemany(
                "INSERT INTO items VALUES (?, ?, ?)",
                [(sku, qty, rates.get(sku[-1], 1.0)) for sku, qty in loaded],
            )
            db.commit()
            summary = db.execute(
                "SELECT COUNT(*), SUM(quantity), ROUND(SUM(quantity * rate), 2) FROM items"
            ).fetchone()
        finally:
            db.close()
        fd, scratch = tempfile.mkstemp(dir=work, suffix=".csv")
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(loaded)
        report = os.path.join(work, "report.csv")
        os.rename(scratch, report)
        with open(report, "rb") as plain, gzip.open(report + ".gz", "wb") as packed:
            shutil.copyfileobj(plain, packed)
        shutil.copyfile(report + ".gz", os.path.join(work, "report-copy.csv.gz"))
        os.remove(report)
        names = sorted(os.listdir(work))
    finally:
        shutil.rmtree(work)
    count, quantity, total = summary
    body = {"job": job, "count": count, "quantity": quantity, "total": total, "files": names}
    return {"statusCode": 201, "body": json.dumps(body)}
