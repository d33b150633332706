"""Modules: the import event and a first meta-path finder (importlib.import_module has no event)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ATTEMPT, RunChild, profile_from_observations

LEARN = """
import sys, sandbox
sys.path.insert(0, ".")
sandbox.install(mode="learn")
import mod_a
from sandbox.runtime.hook import mark_invoke_phase
mark_invoke_phase()
import importlib
importlib.import_module("mod_lazy")
"""

ENFORCE = (
    ATTEMPT
    + """
import sys, importlib, sandbox
sys.path.insert(0, ".")
sandbox.install(mode="enforce", profile="profile.json")
attempt("init-learned", lambda: __import__("mod_a"))
attempt("init-neighbour", lambda: __import__("mod_b"))
attempt("import-module-neighbour", lambda: importlib.import_module("mod_c"))
try:
    import mod_b
except ImportError:
    mod_b = None
print("fallback", mod_b is None)
from sandbox.runtime.hook import mark_invoke_phase
mark_invoke_phase()
attempt("invoke-learned-lazy", lambda: importlib.import_module("mod_lazy"))
attempt("ctypes", lambda: __import__("ctypes"))
attempt("subinterpreters", lambda: __import__("_xxsubinterpreters"))
"""
)


def _modules(tmp_path: Path) -> None:
    for name in ("mod_a", "mod_b", "mod_c", "mod_lazy"):
        (tmp_path / f"{name}.py").write_text("VALUE = 1\n")


def test_learn_then_enforce_modules(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a function importing one module at init and one lazily with importlib
    _modules(tmp_path)
    learned = child(LEARN)
    assert learned.returncode == 0, learned.stderr
    seen = {(o["target"], o["phase"]) for o in learned.observations if o["category"] == "modules"}
    # THEN both imports were recorded, in their phases (import_module included)
    assert ("mod_a", "init") in seen
    assert ("mod_lazy", "invoke") in seen
    # WHEN enforcing
    (tmp_path / "profile.json").write_text(
        json.dumps(profile_from_observations(learned.observations))
    )
    enforced = child(ENFORCE)
    assert enforced.returncode == 0, enforced.stderr
    outcome = dict(line.split(" ", 1) for line in enforced.lines)
    # THEN learned imports work; neighbours raise an ImportError subclass (fallbacks keep working)
    assert outcome["init-learned"] == "ALLOWED"
    assert outcome["invoke-learned-lazy"] == "ALLOWED"
    assert outcome["init-neighbour"] == "BLOCKED ImportViolation modules import"
    assert outcome["import-module-neighbour"] == "BLOCKED ImportViolation modules import"
    assert outcome["fallback"] == "True"
    # AND native-memory access and subinterpreters are not in the runtime bundle
    assert outcome["ctypes"] == "BLOCKED ImportViolation modules import"
    assert outcome["subinterpreters"] == "BLOCKED ImportViolation modules import"


def test_new_module_after_init_is_a_violation(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a module learned during init only
    _modules(tmp_path)
    profile = {
        "schema_version": 1,
        "function": "t",
        "extends": ["python-runtime"],
        "rules": {"modules": [{"action": "import", "target": "mod_b", "phase": "init"}]},
    }
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN it is first imported during an invocation
    result = child(
        """
        import sys, sandbox
        sys.path.insert(0, ".")
        sandbox.install(mode="enforce", profile="profile.json")
        from sandbox.runtime.hook import mark_invoke_phase
        mark_invoke_phase()
        try:
            import mod_b
        except ImportError as exc:
            print("blocked", exc.name)
        """
    )
    # THEN it is blocked: loading new code after init needs a rule that says so
    assert result.lines == ["blocked mod_b"], result.stderr
