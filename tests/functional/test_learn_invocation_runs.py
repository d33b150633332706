"""Learn's quiet invocation ends are held back in runs: a SIGKILL loses a bounded few, never a novelty.

One subprocess per case: a learn process ends 100 invocations (one of them reads a new file),
then is killed with SIGKILL from outside (as Lambda ends an environment) or exits normally.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from sandbox.profile.observations import ObservationSet
from sandbox.runtime.recorder import BATCH_INVOCATIONS
from tests.conftest import REPO

INVOCATIONS = 100
NOVEL_AT = 50

LEARNER = f"""
import os, sys, time
import sandbox
from sandbox.runtime.control import begin_invocation, end_invocation, mark_invoke_phase
sandbox.install(mode="learn")
mark_invoke_phase()
for number in range(1, {INVOCATIONS} + 1):
    begin_invocation("req-%d" % number, {{}})
    if number == {NOVEL_AT}:
        open("novel.txt").read()
    end_invocation()
sys.stderr.write("READY\\n")
sys.stderr.flush()
if sys.argv[1] == "wait":
    time.sleep(60)
"""


def _learn(tmp_path: Path, how: str) -> tuple[int, ObservationSet]:
    (tmp_path / "novel.txt").write_text("new")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "AWS_LAMBDA"))}
    env.update(PYTHONPATH=str(REPO), LAMBDA_TASK_ROOT=str(tmp_path), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(LEARNER), how],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.strip() == "READY":
            break
    if how == "wait":
        proc.kill()  # SIGKILL: no atexit, no flush
    out, _err = proc.communicate(timeout=60)
    observed = ObservationSet(allow_unauthenticated=False)
    for line in out.splitlines():
        observed.add_line(line, "stdout")
    return proc.returncode, observed


def test_a_sigkill_loses_fewer_than_a_run_of_quiet_ends_and_no_observation(
    tmp_path: Path,
) -> None:
    # GIVEN a learn process that ended 100 invocations, one of which read a new file
    # WHEN it is killed with SIGKILL
    returncode, observed = _learn(tmp_path, "wait")
    known = sorted(n for _env, n in observed.invocations)
    # THEN the novel observation and its invocation's end were written at once
    assert returncode == -9
    assert any(o.target.endswith("novel.txt") for o in observed.observations.values())
    assert NOVEL_AT in known
    # AND every record verified; the ends known are 1..k with no gap; what was lost is fewer
    # than one run, and never more than what was written before it
    assert observed.skipped.get("unauthenticated", 0) == 0
    assert known == list(range(1, len(known) + 1))
    lost = INVOCATIONS - len(known)
    assert 0 < lost < BATCH_INVOCATIONS  # (some were held back: the run is exercised)
    assert lost <= len(known)


def test_a_clean_exit_writes_every_invocation_end(tmp_path: Path) -> None:
    # GIVEN the same learn process WHEN it exits normally
    returncode, observed = _learn(tmp_path, "exit")
    # THEN every invocation end is known (the held-back run is written at exit), verified
    assert returncode == 0
    assert sorted(n for _env, n in observed.invocations) == list(range(1, INVOCATIONS + 1))
    assert observed.skipped.get("unauthenticated", 0) == 0
