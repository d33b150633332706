"""A shell command per event: write the payload to a file named by the event, count it with wc."""

from __future__ import annotations

import os
import subprocess
import tempfile


def handler(event, context):  # type: ignore[no-untyped-def]
    name = event["id"]
    path = os.path.join(tempfile.gettempdir(), f"{name}.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(event["text"])
    # The vulnerability: the id goes into a shell command unquoted.
    result = subprocess.run(
        f"wc -l {tempfile.gettempdir()}/{name}.txt", shell=True, capture_output=True, text=True
    )
    count = result.stdout.split()[0] if result.returncode == 0 and result.stdout else None
    if os.path.exists(path):
        os.remove(path)
    return {"id": name, "lines": count, "rc": result.returncode}
