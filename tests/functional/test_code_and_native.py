"""Code evaluation during invoke and native code (ctypes), learned and enforced."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunChild, profile_doc, profile_from_observations

HANDLER = """
def calc(expr):
    return eval(expr)

def other(expr):
    return eval(expr)
"""


def test_eval_during_invoke_is_bound_to_its_call_site(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a function that evaluates an expression at one place in its code
    (tmp_path / "handler.py").write_text(HANDLER)
    learned = child(
        """
        import sys, sandbox
        sys.path.insert(0, ".")
        sandbox.install(mode="learn")
        import handler
        from collections import namedtuple
        namedtuple("Point", "x y")  # code generated during init is not recorded
        from sandbox.runtime.hook import mark_invoke_phase
        mark_invoke_phase()
        handler.calc("1 + 1")
        """
    )
    assert learned.returncode == 0, learned.stderr
    code = [o for o in learned.observations if o["category"] == "code"]
    # THEN learn recorded the call site (file and function), not the source string
    assert [o["target"] for o in code] == ["{task}/handler.py:calc"]
    (tmp_path / "profile.json").write_text(
        json.dumps(profile_from_observations(learned.observations))
    )
    # WHEN enforcing: the same site may eval, another site may not
    enforced = child(
        """
        import sys, sandbox
        sys.path.insert(0, ".")
        sandbox.install(mode="enforce", profile="profile.json")
        import handler
        from sandbox.runtime.hook import mark_invoke_phase
        mark_invoke_phase()
        print("calc", handler.calc("2 * 21"))
        try:
            handler.other("__import__('os').getpid()")
        except PermissionError as exc:
            print("other blocked", exc.category, exc.action)
        try:
            exec("x = 1")
        except PermissionError as exc:
            print("exec blocked", exc.category)
        """
    )
    assert enforced.lines == ["calc 42", "other blocked code compile", "exec blocked code"], (
        enforced.stderr
    )
    assert "secret" not in json.dumps(enforced.findings)


def test_ctypes_is_a_capability_of_its_own(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a function that loads libc with ctypes and calls getpid
    learned = child(
        """
        import sandbox
        sandbox.install(mode="learn")
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.getpid()
        """,
        env={"SANDBOX_SECCOMP": "off"},
    )
    assert learned.returncode == 0, learned.stderr
    native = {(o["category"], o["action"], o["target"]) for o in learned.observations}
    # THEN the import, the library and the symbol are each recorded
    assert ("modules", "import", "ctypes") in native
    assert ("native", "dlopen", "libc.so.6") in native
    assert ("native", "dlsym", "getpid") in native
    (tmp_path / "profile.json").write_text(
        json.dumps(profile_from_observations(learned.observations))
    )
    # WHEN enforcing: getpid works, resolving system() is blocked
    enforced = child(
        """
        import sandbox
        sandbox.install(mode="enforce", profile="profile.json")
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        print("getpid", libc.getpid() > 0)
        try:
            libc.system
        except PermissionError as exc:
            print("system blocked", exc.category, exc.action, exc.target)
        """,
        env={"SANDBOX_SECCOMP": "off"},
    )
    assert enforced.lines == ["getpid True", "system blocked native dlsym system"], enforced.stderr


def test_stdlib_code_generators_work_during_invoke(child: RunChild, tmp_path: Path) -> None:
    # GIVEN enforce with only the runtime bundle, during an invocation
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    result = child(
        """
        import sys, sandbox
        sandbox.install(mode="enforce", profile="profile.json")
        __import__("sandbox.runtime.hook", fromlist=["_"]).mark_invoke_phase()
        # WHEN late-imported code builds namedtuples and dataclasses (they compile source)
        from collections import namedtuple
        import dataclasses
        Point = namedtuple("Point", "x y")
        Item = dataclasses.make_dataclass("Item", [("name", str), ("qty", int)])
        print(Point(1, 2).y, Item("a", 3).qty)
        # AND the function's own code evaluates a string
        try:
            eval("1 + 1")
        except PermissionError as exc:
            print("eval blocked", exc.category)
        """
    )
    # THEN the standard library's generators work, the function's own eval does not
    assert result.lines == ["2 3", "eval blocked code"], result.stderr
