"""A batch job in a per-call temp directory: write inputs, run an executable, tar the result."""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile


def handler(event, context):  # type: ignore[no-untyped-def]
    job = event["job"]
    with tempfile.TemporaryDirectory() as workdir:
        names = []
        for item in event["inputs"]:
            # The vulnerability: the input's name is trusted (../ escapes the work dir).
            path = os.path.join(workdir, item["name"])
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(item["text"])
            names.append(path)
        counted = subprocess.run(
            ["/usr/bin/wc", "-l", *names], capture_output=True, text=True, check=True
        )
        total = int(counted.stdout.strip().splitlines()[-1].split()[0])
        archive = os.path.join(workdir, f"{job}.tar.gz")
        with tarfile.open(archive, "w:gz") as tar:
            for path in names:
                tar.add(path, arcname=os.path.basename(path))
        with tarfile.open(archive) as tar:
            members = sorted(m.name for m in tar.getmembers())
    return {"job": job, "lines": total, "members": members}
