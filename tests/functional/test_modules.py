"""Modules: the import event and a first meta-path finder (importlib.import_module has no event)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ATTEMPT, RunChild, profile_from_observations

LEARN = """
import sys, sandbox
sys.path.insert(0, ".")
sandbox.install(mode="learn")
import mod_a
from sandbox.runtime.control import mark_invoke_phase
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
from sandbox.runtime.control import mark_invoke_phase
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
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        try:
            import mod_b
        except ImportError as exc:
            print("blocked", exc.name)
        """
    )
    # THEN it is blocked: loading new code after init needs a rule that says so
    assert result.lines == ["blocked mod_b"], result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_module_verdicts_never_answer_a_denied_or_unlisted_name(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a package allowed as a whole except one denied submodule, another allowed by name
    # only, and a neighbour package with no rule
    for package in ("lsbv", "lsbw", "lsbx", "lsby"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        for leaf in ("good", "other", "bad"):
            (tmp_path / package / f"{leaf}.py").write_text("VALUE = 1\n")
        (tmp_path / package / "sub").mkdir()
        (tmp_path / package / "sub" / "__init__.py").write_text("")
        (tmp_path / package / "sub" / "deep.py").write_text("VALUE = 1\n")
    profile = {
        "schema_version": 1,
        "function": "t",
        "extends": ["python-runtime"],
        "rules": {
            "modules": [
                {"action": "import", "target": "lsbv.**", "phase": "any"},
                {"action": "import", "target": "lsbw", "phase": "any"},
                {"action": "import", "target": "lsbw.good", "phase": "any"},
                {"action": "import", "target": "lsby", "phase": "any"},
                {"action": "import", "target": "lsby.*", "phase": "any"},
            ]
        },
        "deny": {"modules": [{"action": "import", "target": "lsbv.bad"}]},
    }
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN names below the package are imported (the first one leaves a verdict in the core),
    # then the denied one, names with no rule, and the ceiling's own names
    result = child(
        ATTEMPT
        + """
import sys, importlib, sandbox
from sandbox.runtime import core
sys.path.insert(0, ".")
sandbox.install(mode="enforce", profile="profile.json")
attempt("lsbv.good", lambda: __import__("lsbv.good"))
attempt("lsbv.sub.deep", lambda: importlib.import_module("lsbv.sub.deep"))
known = core.import_known
print("verdict", known("lsbv.anything"), known("lsbv"), known("lsbv.sub.x"), known("lsbv.bad"))
attempt("lsbv.bad", lambda: __import__("lsbv.bad"))
attempt("lsbv.bad-again", lambda: importlib.import_module("lsbv.bad"))
attempt("lsbw.good", lambda: __import__("lsbw.good"))
attempt("lsbw.other", lambda: __import__("lsbw.other"))
attempt("lsbx.good", lambda: __import__("lsbx.good"))
attempt("lsby.good", lambda: __import__("lsby.good"))
attempt("lsby.other", lambda: __import__("lsby.other"))
attempt("lsby.sub", lambda: __import__("lsby.sub"))
attempt("lsby.sub.deep", lambda: __import__("lsby.sub.deep"))
print("children", known("lsby.x"), known("lsby.x.y"))
attempt("concurrent.futures", lambda: __import__("concurrent.futures"))
attempt("_xxsubinterpreters", lambda: __import__("_xxsubinterpreters"))
print("ceiling", core.import_known("concurrent.interpreters"), core.import_known("lsbw.x"))
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
attempt("invoke-lsbv.other", lambda: __import__("lsbv.other"))
attempt("invoke-lsbv.bad", lambda: __import__("lsbv.bad"))
""",
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    assert result.returncode == 0, result.stderr
    outcome = dict(line.split(" ", 1) for line in result.lines)
    blocked = "BLOCKED ImportViolation modules import"
    # THEN the package's names are allowed, and the core knows every name below it
    assert outcome["lsbv.good"] == outcome["lsbv.sub.deep"] == "ALLOWED"
    assert outcome["invoke-lsbv.other"] == "ALLOWED"
    if core == "native":
        # (the deny reaches into the package: no verdict for "lsbv." but one for "lsbv.sub.";
        # "lsbv" was decided. The Python core's state is the installed copy's: its module
        # functions see none.)
        assert outcome["verdict"] == "False True True False"
        assert outcome["ceiling"] == "False False"
        assert outcome["children"] == "True False"
    # AND the denied name, names with no rule and the ceiling's names still reach the
    # callback and are refused
    assert outcome["lsbv.bad"] == outcome["lsbv.bad-again"] == outcome["invoke-lsbv.bad"] == blocked
    assert outcome["lsbw.good"] == "ALLOWED"
    assert outcome["lsbw.other"] == outcome["lsbx.good"] == blocked
    # AND "lsby.*" allows the names directly below the package, not deeper ones
    assert outcome["lsby.good"] == outcome["lsby.other"] == outcome["lsby.sub"] == "ALLOWED"
    assert outcome["lsby.sub.deep"] == blocked
    assert outcome["concurrent.futures"] == "ALLOWED"
    assert outcome["_xxsubinterpreters"] == blocked


@pytest.mark.parametrize("core", ["native", "python"])
def test_init_reads_and_listings_of_module_files_by_other_code_are_decided_by_the_rules(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN modules in the task root (a module root), and a profile of its own (no runtime
    # bundle) that allows importing one of them and reading the other's file at init
    task = tmp_path / "task"
    task.mkdir()
    for name in ("mod_a", "mod_b"):
        (task / f"{name}.py").write_text("VALUE = 1\n")
    profile = {
        "schema_version": 1,
        "function": "t",
        "rules": {
            "files": [{"action": "read", "target": str(task / "mod_b.py"), "phase": "init"}],
            "modules": [{"action": "import", "target": "mod_a", "phase": "init"}],
        },
    }
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN code that is not the import system reads and lists module files there at init (a
    # traceback's source, a module reading its own file, a plugin scan), then imports one
    env = {"LAMBDA_TASK_ROOT": str(task)}
    if core == "python":
        env["SANDBOX_NATIVE"] = "off"
    result = child(
        ATTEMPT
        + """
import os, sys, sandbox
task = os.environ["LAMBDA_TASK_ROOT"]
sys.path.insert(0, task)
sandbox.install(mode="enforce", profile="profile.json")
attempt("allowed-module-file", lambda: open(task + "/mod_b.py").close())
attempt("other-module-file", lambda: open(task + "/mod_a.py").close())
attempt("list-module-root", lambda: os.listdir(task))
attempt("import", lambda: __import__("mod_a"))
""",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    outcome = dict(line.split(" ", 1) for line in result.lines)
    # THEN each is decided by the profile's rules like any file access: allowed where a rule
    # says so, refused elsewhere -- never the sandbox's own error -- and the import system's
    # own reads and listings still pass
    assert outcome["allowed-module-file"] == "ALLOWED"
    assert outcome["other-module-file"] == "BLOCKED PermissionViolation files read"
    assert outcome["list-module-root"] == "BLOCKED PermissionViolation files list"
    assert outcome["import"] == "ALLOWED"
    assert "sandbox.error" not in result.stdout


REFUSALS = (
    ATTEMPT
    + """
import os, sys, sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
attempt("missing", lambda: __import__("lsb_not_installed_anywhere"))
attempt("missing-package", lambda: __import__("lsb_no_such_package.core"))
class Finder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        return None
sys.meta_path.append(Finder)
attempt("meta-path-limit", lambda: __import__("lsb_only_a_finder_knows"))
attempt("padded-ctypes", lambda: (sys.path.__setitem__(slice(0, 0), ["/nonexistent-%d" % i for i in range(300)]), __import__("ctypes")))
del sys.path[:300]
sys.path = ["planted"] + list(sys.path)
attempt("rebound-planted", lambda: __import__("evilmod"))
attempt("planted-package", lambda: __import__("evilpkg.sub"))
sys.path.insert(0, os.path.abspath("archive.zip"))
attempt("zip-archive", lambda: __import__("zipmod"))
from importlib.machinery import FileFinder, SourceFileLoader
sys.path.append("/nonexistent-lsb-entry")
sys.path_importer_cache["/nonexistent-lsb-entry"] = FileFinder(
    os.path.abspath("hidden"), (SourceFileLoader, [".py"]))
attempt("planted-finder", lambda: __import__("hiddenmod"))
"""
)


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_refused_import_of_a_module_that_can_load_is_reported_however_sys_path_is_changed(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a module planted in a folder of the function's, and a profile allowing neither it
    # nor ctypes
    (tmp_path / "planted").mkdir()
    (tmp_path / "planted" / "evilmod.py").write_text("VALUE = 1\n")
    (tmp_path / "planted" / "evilpkg").mkdir()
    (tmp_path / "planted" / "evilpkg" / "__init__.py").write_text("")
    (tmp_path / "planted" / "evilpkg" / "sub.py").write_text("VALUE = 1\n")
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / "hiddenmod.py").write_text("VALUE = 1\n")
    with zipfile.ZipFile(tmp_path / "archive.zip", "w") as archive:
        archive.writestr("zipmod.py", "VALUE = 1\n")
    profile = {"schema_version": 1, "function": "t", "extends": ["python-runtime"], "rules": {}}
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN the function pushes the real folders past what a bounded look would see, rebinds
    # sys.path to reach the planted folder, puts a zip archive on it, caches a finder of its
    # own for an entry, and imports through a meta-path finder of its own
    env = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}
    if core == "python":
        env["SANDBOX_NATIVE"] = "off"
    result = child(REFUSALS, env=env)
    assert result.returncode == 0, result.stderr
    outcome = dict(line.split(" ", 1) for line in result.lines)
    reported = {f["target"] for f in result.findings if f["category"] == "modules"}
    # THEN every import is refused; a module that is not installed anywhere, or below a
    # package that is not (the standard library's probes: copy's org.python.core), is refused
    # quietly (an optional import), but one that can load is reported however sys.path was
    # changed
    assert all(v == "BLOCKED ImportViolation modules import" for v in outcome.values()), outcome
    assert "lsb_not_installed_anywhere" not in reported
    assert "lsb_no_such_package.core" not in reported
    assert {"ctypes", "evilmod", "evilpkg.sub", "zipmod", "hiddenmod"} <= reported, result.findings
    # AND (a stated limit) a name only a finder of the function's in sys.meta_path could load
    # is refused as a missing one is: quietly (the finder's code cannot run inside the hook)
    assert "lsb_only_a_finder_knows" not in reported
