"""Install sets the objects aside from the collector while it runs, and gives them back.

``install()`` freezes the existing objects (``gc.freeze``) and pauses the collector while it
loads the hook's modules and builds its state: no collection walks them during init. On the
way out everything goes to the oldest generation (``gc.freeze`` + ``gc.unfreeze``). The
collector's state seen by the function's code must be what it was: nothing left frozen, a freeze
made by the process before install untouched, collection on (or off, as the process had it).
One subprocess per case (a hook stays).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sandbox.runtime.compiler import compile_profile
from tests.conftest import REPO, profile_doc

SCRIPT = """
import gc, json, sys
if sys.argv[3] == "frozen-before":
    gc.freeze()
if sys.argv[3] == "collector-off":
    gc.disable()
before = gc.get_freeze_count()
import sandbox
imported = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
try:
    sandbox.install(mode=sys.argv[1], profile=sys.argv[2])
    failed = None
except Exception as exc:
    failed = type(exc).__name__
young = gc.get_count()[0]
print("GC " + json.dumps({"before": before, "after": gc.get_freeze_count(),
                          "enabled": gc.isenabled(), "failed": failed, "imported": imported,
                          "young": young, "threshold": gc.get_threshold()[0]}))
"""


def _gc_state(tmp_path: Path, profile: str, case: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "AWS_LAMBDA"))}
    env.update(PYTHONPATH=str(REPO), LAMBDA_TASK_ROOT=str(tmp_path), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, "enforce", profile, case],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("GC "))
    result: dict[str, object] = json.loads(line[len("GC ") :])
    return result


def _compiled(tmp_path: Path) -> str:
    profile = tmp_path / "profile.compiled.json"
    profile.write_text(json.dumps(compile_profile(profile_doc(), kernel=False)))
    return str(profile)


def test_install_leaves_nothing_frozen(tmp_path: Path) -> None:
    # GIVEN a process that froze nothing
    # WHEN it installs the sandbox
    state = _gc_state(tmp_path, _compiled(tmp_path), "plain")
    # THEN nothing is left frozen and the collector is on (CPython 3.12 starts with objects in
    # the permanent generation of its own: what counts is that install gives back what it froze)
    assert state["after"] == state["before"]
    assert {k: state[k] for k in ("enabled", "failed")} == {"enabled": True, "failed": None}


def test_install_keeps_a_freeze_made_before(tmp_path: Path) -> None:
    # GIVEN a process that froze its objects itself before installing
    # WHEN it installs the sandbox
    state = _gc_state(tmp_path, _compiled(tmp_path), "frozen-before")
    # THEN its frozen objects are still frozen (install does not unfreeze another's freeze)
    assert state["failed"] is None
    assert state["before"] == state["after"]
    assert isinstance(state["before"], int) and state["before"] > 0


def test_a_failed_install_leaves_nothing_frozen(tmp_path: Path) -> None:
    # GIVEN a profile that does not exist (enforce refuses to start without one)
    # WHEN the process tries to install the sandbox
    state = _gc_state(tmp_path, str(tmp_path / "missing.json"), "plain")
    # THEN install failed, and the collector's state is what it was
    assert state["after"] == state["before"]
    assert {k: state[k] for k in ("enabled", "failed")} == {
        "enabled": True,
        "failed": "ProfileError",
    }


def test_import_and_install_leave_the_collector_on_and_no_collection_due(tmp_path: Path) -> None:
    # GIVEN a process that froze nothing, its collector on
    # WHEN it imports the sandbox, then installs it
    state = _gc_state(tmp_path, _compiled(tmp_path), "plain")
    # THEN after the import the collector is on and nothing more is frozen; after install too,
    # and (where install could set the objects aside: nothing frozen before it) the young
    # generation's count is below its threshold: no collection of init's objects is left due
    assert state["imported"] == {"enabled": True, "frozen": state["before"]}
    assert state["enabled"] is True and state["failed"] is None
    if state["before"] == 0:
        assert isinstance(state["young"], int) and isinstance(state["threshold"], int)
        assert state["young"] < state["threshold"]


def test_a_collector_the_process_turned_off_stays_off(tmp_path: Path) -> None:
    # GIVEN a process that turned its collector off before importing the sandbox
    # WHEN it imports and installs the sandbox
    state = _gc_state(tmp_path, _compiled(tmp_path), "collector-off")
    # THEN the collector is still off after each, and nothing is left frozen
    assert state["imported"] == {"enabled": False, "frozen": state["before"]}
    assert state["enabled"] is False and state["failed"] is None
    assert state["after"] == state["before"]
