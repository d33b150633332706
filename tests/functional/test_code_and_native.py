"""Code evaluation during invoke and native code (ctypes), learned and enforced."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from sandbox.runtime.compiler import compile_profile
from tests.conftest import (
    ATTEMPT,
    Child,
    RunChild,
    audit_only,
    profile_doc,
    profile_from_observations,
)

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
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        handler.calc("1 + 1")
        """
    )
    assert learned.returncode == 0, learned.stderr
    code = [o for o in learned.observations if o["category"] == "code" and o["action"] == "compile"]
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
        from sandbox.runtime.control import mark_invoke_phase
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
        __import__("sandbox.runtime.control", fromlist=["_"]).mark_invoke_phase()
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


CALCULATOR = """
def calc(expr):
    return eval(expr)
"""


def test_eval_is_bound_to_the_shape_it_was_learned_with(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a calculator learned on two arithmetic expressions
    (tmp_path / "handler.py").write_text(CALCULATOR)
    learned = child(
        """
        import sys, sandbox
        sys.path.insert(0, ".")
        sandbox.install(mode="learn")
        import handler
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        print(handler.calc("1 + 2"), handler.calc("3 * 4"))
        """
    )
    assert learned.lines == ["3 12"], learned.stderr
    shapes = sorted(
        o["target"]
        for o in learned.observations
        if (o["category"], o["action"]) == ("code", "shape")
    )
    # THEN learn recorded the site's shape: syntax node types, no operators, no constants' values
    assert shapes == ["{task}/handler.py:calc#BinOp", "{task}/handler.py:calc#Constant"]
    (tmp_path / "profile.json").write_text(
        json.dumps(profile_from_observations(learned.observations))
    )
    # WHEN enforcing: new arithmetic passes; a call, an attribute or a name is refused before
    # it runs; a syntax error stays a syntax error
    enforced = child(
        """
        import sys, sandbox
        sys.path.insert(0, ".")
        sandbox.install(mode="enforce", profile="profile.json")
        import handler
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        print("calc", handler.calc("10 - 3"), handler.calc("2 ** 5"))
        sources = [
            "__import__('os').getpid()",
            "(1).__class__",
            "secret",
            "1 +",
            # a coding line the real eval ignores must not blind the shape (red team)
            "# coding: bogus\\n__import__('os').getpid()",
        ]
        for source in sources:
            try:
                print("ran", handler.calc(source))
            except PermissionError as exc:
                print("blocked", exc.action, exc.target.rpartition("#")[2])
            except SyntaxError:
                print("syntax error")
        """,
        env={"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"},
    )
    assert enforced.lines == [
        "calc 7 32",
        "blocked shape Attribute",
        "blocked shape Attribute",
        "blocked shape Name",
        "syntax error",
        # (a coding declaration the C decoder would look up in the codec registry -- where
        # the function may register one -- is not parsed inside the hook at all: refused)
        "blocked shape <code with a coding declaration the sandbox does not decode>",
    ], enforced.stderr
    # AND each block is a finding that names the feature the site never had
    targets = [
        f["target"]
        for f in enforced.findings
        if f.get("action") == "shape" and not f["target"].startswith("<")
    ]
    assert targets and all(t.startswith("{task}/handler.py:calc#") for t in targets), targets


def _hook_only(core: str) -> dict[str, str]:
    """The environment of a child in enforce with the audit layer alone, on ``core``."""
    env = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}
    if core == "python":
        env["SANDBOX_NATIVE"] = "off"
    return env


def _arithmetic_site(tmp_path: Path, *more: dict[str, str]) -> None:
    """The calculator, its eval site learned on arithmetic only (compiled, as the layer ships
    it: a plain profile is compiled at install, whose tooling imports the ast module, and the
    syntax classes are read then)."""
    (tmp_path / "handler.py").write_text(CALCULATOR)
    site = "{task}/handler.py:calc"
    rules = [{"action": "compile", "target": site}] + [
        {"action": "shape", "target": f"{site}#{feature}"} for feature in ("BinOp", "Constant")
    ]
    document = profile_doc(
        code=[*rules, *more], modules=[{"action": "import", "target": "handler"}]
    )
    (tmp_path / "profile.json").write_text(json.dumps(compile_profile(document, kernel=False)))


# Every syntax class by name, reached from object.__subclasses__() (no audit event).
_FIND_SYNTAX_CLASSES = """
base = next(c for c in object.__subclasses__() if c.__name__ == "AST")
def every(c):
    for s in type.__subclasses__(c):
        yield s
        yield from every(s)
found = {c.__name__: c for c in every(base)}
"""

# Made by a compile() of a bad argument (no audit event), then changed so that
# `__import__('os').getpid()` would look like the learned arithmetic: calls and attributes
# made operators (unshaped), names and attributes with no identifier fields.
_SYNTAX_CHANGED = (
    """
try:
    compile(0, "x", "exec")
except TypeError:
    pass
"""
    + _FIND_SYNTAX_CLASSES
    + """
try:
    for name in ("Call", "Attribute", "Name"):
        found[name].__bases__ = (found["operator"],)
    found["Name"]._fields = ()
    found["Attribute"]._fields = ("value",)
    print("changed")
except TypeError:
    print("sealed")  # (classes the sandbox read at install: sealed by the native core)
"""
)


@pytest.mark.parametrize("core", ["native", "python"])
def test_syntax_classes_changed_before_the_first_shape_shape_nothing(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a calculator whose eval site learned arithmetic only
    _arithmetic_site(tmp_path)
    # WHEN, in enforce, the function makes the parser's classes and changes them before the
    # sandbox first reads them, then evaluates a call at that site
    enforced = child(
        """
        import sys, sandbox
        sys.path.insert(0, ".")
        print("installed", sandbox.install(mode="enforce", profile="profile.json")["layers"]["audit"])
        print("parser classes loaded", "_ast" in sys.modules)
        import handler
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        """
        + textwrap.indent(_SYNTAX_CHANGED, "        ")
        + """
        try:
            print("ran", handler.calc("__import__('os').getpid()"))
        except PermissionError as exc:
            print("blocked", exc.action, exc.target)
        """,
        env=_hook_only(core),
    )
    # THEN install did not load the classes, and the call is refused: nothing is shaped with
    # classes the sandbox cannot trust (never the shorter list of features they would give)
    assert enforced.lines == [
        f"installed {core}",
        "parser classes loaded False",
        "changed",
        "blocked shape <code shaped with parser classes changed before the sandbox read them>",
    ], enforced.stderr


_ENFORCE_CALCULATOR = """
import sys, sandbox
sys.path.insert(0, ".")
sandbox.install(mode="enforce", profile="profile.json")
import handler
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
def attempt(label, source):
    try:
        print(label, "ran", handler.calc(source))
    except PermissionError as exc:
        print(label, "blocked", exc.action)
    except SyntaxError as exc:
        print(label, "syntax error")
"""


def _calculate(child: RunChild, core: str, script: str) -> Child:
    """Run ``script`` after the calculator's enforce prelude (``attempt(label, source)``), with
    the audit layer alone on ``core``."""
    return child(_ENFORCE_CALCULATOR + script, env=_hook_only(core))


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_text_the_shape_parse_rejects_never_compiles_unshaped(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the calculator learned on arithmetic, and a call hidden behind a literal longer
    # than the interpreter's digit limit (the shape parse rejects the text)
    _arithmetic_site(tmp_path)
    # WHEN it is evaluated, then evaluated again after the limit is lifted (no audit event)
    enforced = _calculate(
        child,
        core,
        """
source = "__import__('os').getpid() if 1 else " + "9" * 5000
attempt("limited", source)
sys.set_int_max_str_digits(0)
attempt("unlimited", source)
attempt("plain syntax error", "1 +")
attempt("arithmetic", "2 ** 10")
""",
    )
    # THEN the first raises what the parser raised (nothing kept as allowed), the second is
    # shaped and refused: the call never runs; a plain syntax error stays one
    assert enforced.lines == [
        "limited syntax error",
        "unlimited blocked shape",
        "plain syntax error syntax error",
        "arithmetic ran 1024",
    ], enforced.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_hand_built_tree_with_subclassed_nodes_is_refused(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the calculator learned on arithmetic, its eval rebound to a compile of syntax trees
    # (a C callable: the calculator stays the compile site)
    _arithmetic_site(tmp_path)
    # WHEN it compiles trees that hide a call in a subclass of Call, or statements in a
    # subclass of list
    enforced = _calculate(
        child,
        core,
        """
import functools
handler.calc.__globals__["eval"] = functools.partial(compile, filename="<x>", mode="eval", flags=0x400)
handler.calc("1 + 2")  # (a first shape: the classes are loaded)
"""
        + _FIND_SYNTAX_CLASSES
        + """
class HiddenCall(found["Call"]):
    pass
class HiddenList(list):
    pass
call = HiddenCall(func=found["Name"]("print", found["Load"]()), args=[], keywords=[])
handler.calc.__globals__["eval"] = functools.partial(compile, filename="<x>", mode="eval")
attempt("node subclass", found["Expression"](body=call))
handler.calc.__globals__["eval"] = functools.partial(compile, filename="<x>", mode="exec")
module = found["Module"](body=HiddenList([found["Expr"](value=call)]), type_ignores=[])
attempt("list subclass", module)
""",
    )
    # THEN neither compiles: refused as undecodable, never shaped as the arithmetic they hide
    assert enforced.lines == [
        "node subclass blocked shape",
        "list subclass blocked shape",
    ], enforced.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_setter_on_a_syntax_class_never_runs_inside_the_shape_parse(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the calculator learned on arithmetic, its syntax classes loaded by a first shape
    _arithmetic_site(tmp_path)
    # WHEN the function puts a property of its own on a field the parser sets (on Constant,
    # which the ast module patches and nothing seals; and on Call, sealed by the native core)
    enforced = _calculate(
        child,
        core,
        """
attempt("first", "1 + 2")
ran = []
def setter(node, value):
    ran.append(value)
"""
        + _FIND_SYNTAX_CLASSES
        + """
Constant, Call = found["Constant"], found["Call"]
try:
    Constant.kind = property(lambda node: None, setter)
    print("Constant changed")
except TypeError:
    print("Constant sealed")
attempt("with a property on Constant", "3 * 4")
del Constant.kind
try:
    Call.func = property(lambda node: None, setter)
    print("Call changed")
except TypeError:
    print("Call sealed")
attempt("with a property on Call", "5 - 1")
print("setter ran", bool(ran))
""",
    )
    # THEN the setter never runs inside the hook: the texts are refused as unshapeable (the
    # native core seals Call, so only the Constant change takes)
    call = ["Call sealed", "with a property on Call ran 4"]
    if core == "python":
        call = ["Call changed", "with a property on Call blocked shape"]
    assert enforced.lines == [
        "first ran 3",
        "Constant changed",
        "with a property on Constant blocked shape",
        *call,
        "setter ran False",
    ], enforced.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_syntax_tree_is_a_feature_of_its_own(child: RunChild, tmp_path: Path, core: str) -> None:
    # GIVEN the calculator learned on arithmetic text, its eval rebound to a compile (a C
    # callable: the calculator stays the compile site)
    _arithmetic_site(tmp_path)
    # WHEN it compiles the parser's own tree of arithmetic
    enforced = _calculate(
        child,
        core,
        """
import functools
handler.calc.__globals__["eval"] = functools.partial(compile, filename="<x>", mode="eval", flags=0x400)
tree = handler.calc("1 + 2")
handler.calc.__globals__["eval"] = functools.partial(compile, filename="<x>", mode="eval")
try:
    handler.calc(tree)
    print("tree compiled")
except PermissionError as exc:
    print("tree blocked", exc.target.rpartition("#")[2])
""",
    )
    # THEN it is refused: a tree can change after the check (another thread), so a site
    # accepts trees only where it learned them (the feature syntax-tree)
    assert enforced.lines == ["tree blocked syntax-tree"], enforced.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_base_swapped_on_a_syntax_class_shapes_nothing(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the calculator learned on arithmetic, its syntax classes loaded by a first shape
    _arithmetic_site(tmp_path)
    # WHEN the function gives BinOp (sealed by the native core) or Constant (the ast module
    # patches it: never sealed) a base of its own: a __setattr__ that stores nothing, a
    # __class__ that answers another kind (red team 49)
    enforced = _calculate(
        child,
        core,
        """
attempt("first", "1 + 2")
"""
        + _FIND_SYNTAX_CLASSES
        + """
class Shim(found["expr"]):
    __setattr__ = {}.get
for name in ("BinOp", "Constant"):
    try:
        found[name].__bases__ = (Shim,)
        print(name, "changed")
    except TypeError:
        print(name, "sealed")
attempt("with a base swapped", "0 + __import__('os').getpid()")
attempt("arithmetic", "3 * 4")
""",
    )
    # THEN nothing is shaped with the swapped classes: refused, never run
    binop = "BinOp sealed" if core == "native" else "BinOp changed"
    assert enforced.lines == [
        "first ran 3",
        binop,
        "Constant changed",
        "with a base swapped blocked shape",
        "arithmetic blocked shape",
    ], enforced.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_bytearray_changed_after_the_decision_is_not_what_is_parsed(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the calculator learned on arithmetic, and a later audit hook of the function's
    # (its site allowed) that changes the bytearray being compiled once the sandbox decided
    # it -- what another thread of the function's can do while the sandbox decides
    _arithmetic_site(tmp_path, {"action": "hook", "target": "<string>:<module>"})
    # WHEN the calculator evaluates that bytearray
    enforced = _calculate(
        child,
        core,
        """
attempt("first", "1 + 2")
source = bytearray(b"(1+2)*3")
def later(event, args):
    if event == "compile" and args and type(args[0]) is bytes and args[0] == b"(1+2)*3":
        source[:] = b"print()"  # (the same length: the buffer stays where it is)
sys.addaudithook(later)
attempt("changed after the decision", source)
""",
    )
    # THEN the native core hands CPython a copy of what was decided: the arithmetic runs, the
    # call never does. The Python core cannot (a documented limit): CPython parses the live
    # buffer, and the call runs unshaped.
    parsed = "changed after the decision ran 9"
    if core == "python":
        parsed = "\nchanged after the decision ran None"
    assert enforced.stdout.endswith("first ran 3\n" + parsed + "\n"), enforced.stdout


def test_a_profile_without_shapes_keeps_deciding_by_site(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a profile learned before shapes: the eval site's compile rule and nothing else
    (tmp_path / "handler.py").write_text(CALCULATOR)
    profile = profile_doc(
        code=[{"action": "compile", "target": "{task}/handler.py:calc", "phase": "invoke"}],
        modules=[{"action": "import", "target": "handler", "phase": "init"}],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN enforcing any expression at that site
    enforced = child(
        """
        import sys, sandbox
        sys.path.insert(0, ".")
        sandbox.install(mode="enforce", profile="profile.json")
        import handler
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        print("calc", handler.calc("len('abc')"))
        """,
        env={"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"},
    )
    # THEN it is decided as before (by site), with no shape finding
    assert enforced.lines == ["calc 3"], enforced.stderr
    assert not [f for f in enforced.findings if f.get("action") == "shape"]


RAW_MEMORY = (
    ATTEMPT
    + """
import sys, sandbox
sandbox.install(mode="enforce", profile="profile.json")
import ctypes  # allowed by the profile: the helpers below are decided one by one
buf = ctypes.create_string_buffer(b"secret")
address = ctypes.addressof(buf)
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
attempt("string_at", lambda: ctypes.string_at(address, 6))
attempt("wstring_at", lambda: ctypes.wstring_at(address, 1))
attempt("from_address", lambda: ctypes.c_char.from_address(address))
if sys.version_info >= (3, 14):
    attempt("memoryview_at", lambda: ctypes.memoryview_at(address, 6, readonly=True))
    attempt("memoryview_at_rw", lambda: ctypes.memoryview_at(address, 6))  # writable default
attempt("buffer", lambda: buf.raw)  # the object's own memory: no address named
"""
)


def test_raw_memory_at_an_address_is_a_capability_of_its_own(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN enforce with ctypes importable but no native memory rule
    profile = profile_doc(
        modules=[
            {"action": "import", "target": t, "phase": "any"} for t in ("ctypes.**", "_ctypes")
        ],
        native=[{"action": "dlopen", "target": "<main>", "phase": "any"}],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN the function reads or maps memory at an address through ctypes' helpers
    result = child(RAW_MEMORY, env={"SANDBOX_SECCOMP": "off"})
    assert result.returncode == 0, result.stderr
    outcome = dict(line.split(" ", 1) for line in result.lines)
    # THEN each is refused as native memory (read, or write for a writable view/object),
    # memoryview_at (3.14) like string_at and from_address on every version
    expected = {
        "string_at": "BLOCKED PermissionViolation native memory",
        "wstring_at": "BLOCKED PermissionViolation native memory",
        "from_address": "BLOCKED PermissionViolation native memory",
        "buffer": "ALLOWED",
    }
    if sys.version_info >= (3, 14):
        expected["memoryview_at"] = "BLOCKED PermissionViolation native memory"
        expected["memoryview_at_rw"] = "BLOCKED PermissionViolation native memory"
    assert outcome == expected, result.stdout
    targets = {(f["action"], f["target"]) for f in result.findings}
    if sys.version_info < (3, 14):
        assert targets == {("memory", "read"), ("memory", "write")}
    else:
        # (CPython 3.14.x raises ctypes.call_function for every foreign call, string_at's own
        # included: refused as a native memory call before its read is asked)
        assert ("memory", "write") in targets
        assert targets <= {("memory", "read"), ("memory", "write"), ("memory", "call")}


SEMAPHORE_AT_AN_ADDRESS = (
    ATTEMPT
    + """
import os, sandbox
import _multiprocessing
sandbox.install(mode="enforce", profile="profile.json")
word = bytes([7, 0, 0, 0, 0, 0, 0, 0]) + os.urandom(8)  # (not a shared constant)
address = id(word) + 32  # the bytes' own data, after the object's header (64-bit)
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
def read_word():
    lock = _multiprocessing.SemLock._rebuild(address, 1, 1 << 30, None)
    print("read", lock._get_value())
attempt("semaphore-at-address", read_word)
"""
)


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_semaphore_rebuilt_over_an_address_is_native_memory_on_the_native_core(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with _multiprocessing importable (what a function using multiprocessing's
    # locks or queues learns) and no native memory rule; SemLock._rebuild(handle, kind,
    # maxvalue, None) takes the handle as the address of a semaphore: its _get_value reads the
    # word there, release and acquire add to it and take from it (this core's state included)
    profile = profile_doc(
        modules=[{"action": "import", "target": "_multiprocessing", "phase": "any"}]
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN the function rebuilds a semaphore over the address of a word of its choosing
    result = child(
        SEMAPHORE_AT_AN_ADDRESS,
        env=audit_only(core),
    )
    assert result.returncode == 0, result.stderr
    if core == "native":
        # THEN the native core decides it as memory at an address, like ctypes' from_address,
        # before the semaphore exists
        assert result.lines == ["semaphore-at-address BLOCKED PermissionViolation native memory"], (
            result.stdout
        )
        assert [(f["category"], f["action"], f["target"]) for f in result.findings] == [
            ("native", "memory", "write")
        ]
        return
    # AND the Python core cannot (a documented limit): the word is read
    assert result.lines == ["read 7", "semaphore-at-address ALLOWED"], result.stdout


FAILED_EXEC_SEMAPHORE = (
    ATTEMPT
    + """
import array, importlib.util, sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
# _multiprocessing not imported yet: its module made, then its exec made to fail after its
# SemLock type exists (a key of the function's in the module's dict, whose comparison raises
# in C, collides with "SemLock"), so that no lookup by name finds the type (red team 135)
spec = importlib.util.find_spec("_multiprocessing")
module = importlib.util.module_from_spec(spec)
class Key(str):
    def __hash__(self):
        return hash("SemLock")
    __eq__ = int.__add__
module.__dict__[Key("x")] = 1
try:
    spec.loader.exec_module(module)
    print("exec ran")
except Exception as exc:
    print("exec failed", type(exc).__name__)
made = [t for t in object.__subclasses__() if t.__name__ == "SemLock"]
print("types", len(made) > 0)
word = array.array("q", [41, 0])
address = word.buffer_info()[0]
def read_word():
    print("read", made[-1]._rebuild(address, 1, 1 << 30, None)._get_value())
attempt("rebuild-at-address", read_word)
attempt("make-file", lambda: made[-1](1, 1, 1, "/lsb-failed-exec", True))
"""
)


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_semaphore_type_from_a_failed_exec_is_sealed_on_the_native_core(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with _multiprocessing importable (in every profile: it is standard
    # library) and no native memory rule or /dev/shm rule
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function makes the module's first exec fail after its SemLock type was made,
    # then takes the type from object.__subclasses__()
    result = child(FAILED_EXEC_SEMAPHORE, env=audit_only(core))
    Path("/dev/shm/sem.lsb-failed-exec").unlink(missing_ok=True)
    assert result.returncode == 0, result.stderr
    if core == "native":
        # THEN on the native core the exec is refused before it runs (a module dict holding
        # more than the import system put there), and every SemLock type there is is sealed
        # all the same -- found by its constructor, not by name: memory at an address and the
        # semaphore's file are decided, and refused
        assert result.lines[:2] == ["exec failed ImportError", "types True"], result.stdout
        assert result.lines[2:] == [
            "rebuild-at-address BLOCKED PermissionViolation native memory",
            "make-file BLOCKED PermissionViolation files read",
        ], result.stdout
        return
    # AND the Python core cannot see either (a documented limit): the exec fails where the
    # function made it fail, after the type was made, and the type is used
    assert result.lines == [
        "exec failed TypeError",
        "types True",
        "read 41",
        "rebuild-at-address ALLOWED",
        "make-file ALLOWED",
    ], result.stdout


EXEC_WITH_A_KEY_OF_ITS_OWN = (
    ATTEMPT
    + """
import _imp, functools, operator, os, sandbox
sandbox.install(mode="enforce", profile="profile.json")
import _multiprocessing
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
# a fresh module, its dict given a key whose __eq__ is a C callable (no Python frame) that
# calls the module's SemLock type when the exec inserts "flags" -- before the exec returns,
# so before the seal (red team 137; 3.12+ makes a new type at each exec)
module = _imp.create_dynamic(_multiprocessing.__spec__)
space = module.__dict__
made = []
calls = map(operator.methodcaller("__call__", 1, 1, 1, "/lsb-in-exec", 0),
            map(space.__getitem__, ["SemLock"]))
keep = map(made.append, calls)
class Key(str):
    __eq__ = staticmethod(functools.partial(dict.fromkeys, keep))
    __hash__ = str.__hash__
space[Key("flags")] = None
def run_exec():
    try:
        _imp.exec_dynamic(module)
        print("exec ran")
    except ImportError as exc:
        print("exec refused", "lambda-sandbox" in str(exc))
attempt("exec", run_exec)
print("made", len(made), os.path.exists("/dev/shm/sem.lsb-in-exec"))
"""
)


def test_an_extension_exec_on_a_module_dict_with_keys_of_the_functions_own_is_refused(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN enforce on the native core, with no /dev/shm rule
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function runs a _multiprocessing exec on a module dict holding a key of its
    # own, whose comparison would call the type the exec just made
    result = child(EXEC_WITH_A_KEY_OF_ITS_OWN, env=audit_only("native"))
    Path("/dev/shm/sem.lsb-in-exec").unlink(missing_ok=True)
    # THEN the exec is refused before it runs: nothing made, no file
    assert result.lines == ["exec refused True", "exec ALLOWED", "made 0 False"], (
        result.stdout + result.stderr
    )


@pytest.mark.skipif(
    sys.version_info < (3, 14), reason="ctypes.memoryview_at and its audit event are new in 3.14"
)
def test_memoryview_at_is_learned_as_native_memory(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a function that maps memory with ctypes.memoryview_at while learning
    learned = child(
        """
        import sandbox
        sandbox.install(mode="learn")
        import ctypes
        buf = ctypes.create_string_buffer(b"abc")
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        print("view", bytes(ctypes.memoryview_at(ctypes.addressof(buf), 3, readonly=True)))
        """,
        env={"SANDBOX_SECCOMP": "off"},
    )
    assert learned.returncode == 0, learned.stderr
    # THEN the read is recorded as native memory (a risky rule for review)
    assert "view b'abc'" in learned.lines
    native = {(o["category"], o["action"], o["target"]) for o in learned.observations}
    assert ("native", "memory", "read") in native


UNMARSHAL = (
    ATTEMPT
    + """
import importlib.abc, importlib._bootstrap_external as external, importlib.machinery, marshal
import importlib.util, os, sys, sandbox, sandbox.runtime.hook
sys.path.insert(0, ".")
# (made before install: a compile under a module file's name that is not its content is
# decided in every phase since)
gadget = compile("print('gadget ran')", os.path.abspath("hijacked.py"), "exec")
sandbox.install(mode="enforce", profile="profile.json")
evil = marshal.dumps(gadget)
sandbox.runtime.hook.mark_invoke_phase()
attempt("_compile_bytecode called directly", lambda: external._compile_bytecode(evil))

class Loader(importlib.machinery.SourceFileLoader):
    # A loader of the function's own, in a real import: it hands the import system bytecode
    # with a header that matches the source (no read of the real .pyc), so importlib
    # unmarshals it as the module's cached code
    def get_data(self, path):
        st = os.stat(self.path)
        return bytes(external._code_to_timestamp_pyc(gadget, st.st_mtime, st.st_size))
class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "hijacked":
            return None
        where = os.path.abspath("hijacked.py")
        return importlib.util.spec_from_file_location(name, where, loader=Loader(name, where))
sys.meta_path.insert(1, Finder())
attempt("a loader returning other bytecode", lambda: __import__("hijacked"))
attempt("a real import of a module with bytecode", lambda: print("mod says", __import__("mod").X))
"""
)


def test_only_a_modules_own_bytecode_is_unmarshalled_without_a_rule(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a module with its compiled bytecode under the task root, allowed to be imported
    import py_compile

    for name in ("mod", "hijacked"):
        (tmp_path / f"{name}.py").write_text("X = 42\n")
        py_compile.compile(str(tmp_path / f"{name}.py"), doraise=True)
    profile = profile_doc(
        modules=[{"action": "import", "target": name} for name in ("mod", "hijacked")],
        code=[{"action": "exec", "target": f"{{task}}/{name}.py"} for name in ("mod", "hijacked")],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN bytes of the attacker's are unmarshalled through the import system's helpers
    result = child(UNMARSHAL)
    # THEN they are refused (hand-made bytecode is not verified by the interpreter); the real
    # import of the module's own .pyc still works
    blocked = {
        line.split(" BLOCKED ")[0] for line in result.lines if line.endswith("code unmarshal")
    }
    assert blocked == {"_compile_bytecode called directly", "a loader returning other bytecode"}, (
        result.stdout + result.stderr
    )
    assert "mod says 42" in result.lines, result.stderr
    assert "gadget ran" not in result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_kept_compile_answers_only_the_same_source_at_the_same_site(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a calculator learned on arithmetic (its site and shape), and a second eval site
    (tmp_path / "handler.py").write_text(CALCULATOR + HANDLER.replace("calc", "calc2"))
    learned = child(
        """
        import sys, sandbox
        sys.path.insert(0, ".")
        sandbox.install(mode="learn")
        import handler
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        print(handler.calc("1 + 2"))
        """
    )
    assert learned.lines == ["3"], learned.stderr
    (tmp_path / "profile.json").write_text(
        json.dumps(profile_from_observations(learned.observations))
    )
    # WHEN an allowed expression is evaluated again and again (the core keeps the answer),
    # then other sources at the same site, and the same source at another site
    enforced = child(
        """
        import sys, sandbox
        sys.path.insert(0, ".")
        sandbox.install(mode="enforce", profile="profile.json")
        import handler
        from sandbox.runtime.control import mark_invoke_phase
        mark_invoke_phase()
        print("calc", [handler.calc("6 * 7") for _ in range(5)], handler.calc(b"6 * 7"))
        for source in ("6 * 7 and __import__('os')", "(6 * 7).__class__", "6 * 7 "):
            try:
                print("ran", handler.calc(source))
            except PermissionError as exc:
                print("blocked", exc.action, exc.target.rpartition("#")[2])
        try:
            print("other site", handler.calc2("6 * 7"))
        except PermissionError as exc:
            print("other site blocked", exc.action)
        print("calc again", handler.calc("6 * 7"))
        """,
        env=_hook_only(core),
    )
    # THEN the kept answer is the same decision each time; a different source is shaped anew
    # (even one that starts with the allowed text), and the site is the compiling code's
    assert enforced.lines == [
        "calc [42, 42, 42, 42, 42] 42",
        "blocked shape BoolOp",
        "blocked shape Attribute",
        "ran 42",
        "other site blocked compile",
        "calc again 42",
    ], enforced.stderr
