"""Learning converges through the real runtime: a per-call temp directory job.

The job makes a fresh temp directory per call (``tempfile.mkdtemp``), writes an input file with
a new name, counts it with ``wc`` and removes both (``os.remove``/``os.rmdir``: no ``dir_fd``).
After learning on 3 calls, 6 calls with 6 new file names pass under enforce, with the same
responses as without the sandbox.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from sandbox.local import run_function
from sandbox.profile.build import build_profile

pytestmark = pytest.mark.e2e

JOB = """
import os
import subprocess
import tempfile


def handler(event, context):
    workdir = tempfile.mkdtemp()
    path = os.path.join(workdir, event["name"])
    with open(path, "w") as handle:
        handle.write("line\\n" * event["lines"])
    counted = subprocess.run(["/usr/bin/wc", "-l", path], capture_output=True, text=True)
    os.remove(path)
    os.rmdir(workdir)
    return {"name": event["name"], "count": counted.stdout.split()[0], "rc": counted.returncode}
"""


def _events(names: list[str]) -> list[bytes]:
    return [json.dumps({"name": n, "lines": i + 1}).encode() for i, n in enumerate(names)]


def test_temp_directory_job_passes_six_new_names_after_learning_three(tmp_path: Path) -> None:
    # GIVEN the job, learned on three calls with three file names
    code = tmp_path / "job"
    code.mkdir()
    (code / "app.py").write_text(textwrap.dedent(JOB))
    env = {"TMPDIR": str(tmp_path / "scratch")}
    (tmp_path / "scratch").mkdir()
    log = tmp_path / "learn.log"
    learned = run_function(
        "app.handler",
        _events(["input-a.nml", "params.nml", "run_7.nml"]),
        code_dir=code,
        mode="learn",
        log_file=log,
        env=env,
        function_name="job",
    )
    assert learned.ok, [r.error_message for r in learned.results]
    profile, _report = build_profile("job", [str(log)], warn=lambda message: None)
    compiled = tmp_path / "job.compiled.json"
    compiled.write_text(json.dumps(profile.compile()))
    # WHEN six calls with six new names run without the sandbox, then under enforce
    fresh = _events(["delta.nml", "x.nml", "final-run.nml", "Z9.nml", "input-b.nml", "n.nml"])
    off = run_function(
        "app.handler", fresh, code_dir=code, mode="off", env=env, function_name="job"
    )
    enforced = run_function(
        "app.handler",
        fresh,
        code_dir=code,
        mode="enforce",
        profile=compiled,
        env=env,
        function_name="job",
    )
    # THEN nothing is blocked and every response is the same
    findings = [line for line in enforced.log if '"type":"sandbox.finding"' in line]
    assert findings == [], (profile.to_json(), findings[:2])
    assert [r.json() for r in enforced.results] == [r.json() for r in off.results]
    assert all(r.json()["rc"] == 0 for r in off.results)
