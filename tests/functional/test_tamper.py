"""Switching the sandbox off from inside the function must not work (what we claim, tested)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Child, RunChild, profile_doc

PROFILE = profile_doc()

PROBE = """
def probe(label):
    try:
        open("secret.txt").read()
        print(label, "READ")
    except PermissionError:
        print(label, "BLOCKED")
"""


def _run(child: RunChild, tmp_path: Path, attack: str) -> Child:
    # The attack runs during init (where compiling and reloading are unchecked), the probe
    # during an invocation.
    (tmp_path / "profile.json").write_text(json.dumps(PROFILE))
    (tmp_path / "secret.txt").write_text("s3cr3t")
    return child(
        "import sys, importlib, sandbox\n"
        "from sandbox.runtime.control import mark_invoke_phase as _enter_invoke\n"
        'sandbox.install(mode="enforce", profile="profile.json")\n'
        + PROBE
        + attack
        # The control helper captured before the attack (what the bootstrap's handler does).
        + "\n_enter_invoke()\n"
        'probe("after")\n'
    )


def test_mutating_module_globals_changes_nothing(child: RunChild, tmp_path: Path) -> None:
    # GIVEN enforce mode WHEN the function rebinds every global of every sandbox module
    result = _run(
        child,
        tmp_path,
        """
for name, module in list(sys.modules.items()):
    if name == "sandbox" or name.startswith("sandbox."):
        for attr in list(vars(module)):
            if not attr.startswith("__"):
                try:
                    setattr(module, attr, None)
                except Exception:
                    pass
""",
    )
    # THEN reads outside the profile are still blocked
    assert result.lines == ["after BLOCKED"], result.stderr


def test_reload_reinstall_and_second_hook_change_nothing(child: RunChild, tmp_path: Path) -> None:
    # GIVEN enforce mode WHEN the function reloads the modules, re-installs in 'off' and
    # 'learn', adds its own audit hook and removes the sandbox's import finder
    result = _run(
        child,
        tmp_path,
        """
import sandbox.runtime.install, sandbox.runtime.control, sandbox.runtime
importlib.reload(sandbox.runtime.install)
importlib.reload(sandbox.runtime.control)
importlib.reload(sandbox.runtime)
print("reinstall-off", sandbox.install(mode="off").get("mode"))
print("reinstall-learn", sandbox.install(mode="learn").get("mode"))
sys.addaudithook(lambda event, args: None)
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "SandboxFinder"]
try:
    sys.audit("sandbox.phase", "init")  # control events come from the sandbox's code only
except PermissionError as exc:
    print("control refused", exc.category, exc.action)
""",
    )
    # THEN the hook still enforces, and install() reports the mode already in force
    assert result.lines == [
        "reinstall-off enforce",
        "reinstall-learn enforce",
        "control refused code tamper",
        "after BLOCKED",
    ], result.stderr


def test_rewriting_the_hook_code_is_refused(child: RunChild, tmp_path: Path) -> None:
    # GIVEN enforce mode WHEN the function finds the hook through gc and swaps its code
    (tmp_path / "profile.json").write_text(json.dumps(PROFILE))
    (tmp_path / "secret.txt").write_text("s3cr3t")
    result = child(
        PROBE
        + """
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
import sys
finder = sys.meta_path[0]
try:
    type(finder).find_spec.__code__ = (lambda *a, **k: None).__code__
    print("code swapped")
except PermissionError as exc:
    print("swap blocked", exc.category, exc.action)
"""
    )
    # THEN the assignment itself is blocked (object.__setattr__ is audited for __code__)
    assert result.lines == ["swap blocked code tamper"], result.stderr


def test_walking_gc_for_the_hooks_state_is_refused(child: RunChild, tmp_path: Path) -> None:
    # GIVEN enforce mode WHEN the function walks gc.get_objects() looking for the hook's
    # closure cells (the decision cache, the dispatch table) to rewrite them
    (tmp_path / "profile.json").write_text(json.dumps(PROFILE))
    (tmp_path / "secret.txt").write_text("s3cr3t")
    result = child(
        """
import sandbox, gc
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="enforce", profile="profile.json")
mark_invoke_phase()
for walk in (lambda: gc.get_objects(), lambda: gc.get_referrers(open),
             lambda: gc.get_referents(sandbox)):
    try:
        walk()
        print("walked")
    except PermissionError as exc:
        print("refused", exc.category, exc.action)
try:
    print(open("secret.txt").read())
except PermissionError:
    print("still blocked")
"""
    )
    # THEN every way into the garbage collector's object lists is refused (the profile never
    # learned it), and the read stays blocked
    assert result.lines == ["refused code introspect"] * 3 + ["still blocked"], result.stderr


def test_an_importable_policy_is_installed_as_the_hooks_own_copy(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a profile loaded as a Policy of the importable module (tooling-side code may)
    (tmp_path / "profile.json").write_text(json.dumps(PROFILE))
    (tmp_path / "secret.txt").write_text("s3cr3t")
    result = child(
        """
        import sandbox
        from sandbox.runtime.control import mark_invoke_phase
        from sandbox.runtime.compiler import load_any
        from sandbox.runtime.policy import Policy
        from sandbox.runtime.roots import Roots
        policy = Policy.load(load_any("profile.json"), Roots.detect("."))
        status = sandbox.install(mode="enforce", profile=policy)
        print("mode", status["mode"], status["profile_sha256"] == policy.document.get("profile_sha256"))
        Policy.allows = lambda *args, **kwargs: True  # the importable class: not the hook's
        mark_invoke_phase()  # (the task root is readable during init)
        try:
            open("secret.txt").read()
            print("read")
        except PermissionError:
            print("refused")
        """
    )
    # WHEN it is handed to install
    # THEN the hook loads its own copy from the document, which changing the importable class
    # does not reach
    assert "mode enforce True" in result.lines, result.stdout + result.stderr
    assert "refused" in result.lines, result.stdout
