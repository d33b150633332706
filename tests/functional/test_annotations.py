"""The standard library evaluating type annotations during invoke, under enforce, on every Python.

Reading annotations compiles and builds code inside the standard library: ``typing.ForwardRef``
compiles string annotations (3.10-3.13), ``annotationlib`` compiles them lazily and runs a
class's or function's ``__annotate__`` as a new function for the ``FORWARDREF``/``STRING``
formats (3.14), ``inspect.get_annotations(eval_str=True)`` evaluates them. That is a class of
its own (``sandbox/runtime/decoders/code.py``): allowed without a rule for annotation
expressions and compiler-generated ``__annotate__`` code, while the same helpers called with a
source of the attacker's choosing, or with a code object that is not an ``__annotate__``, are
decided like any compile or hand-built function (refused here).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import ATTEMPT, RunChild, profile_doc

PY314 = sys.version_info >= (3, 14)

# A handler module written as applications are: some annotations are strings (forward
# references, `from __future__ import annotations` in other modules), some name a class
# defined further down.
HANDLER = """
import dataclasses, inspect, sys, typing
from typing import Annotated, Optional

class Item:
    name: str
    tags: "list[str]"
    parent: "Optional[Item]"
    size: Annotated[int, dict(unit="bytes")]

def handle(event: "dict[str, Item]", limit: Optional[int] = None) -> "Item | None":
    return None

def later():
    # Defined while the function is invoked: annotations, a dataclass, a forward reference.
    @dataclasses.dataclass
    class Order:
        id: int
        lines: "list[Line]" = dataclasses.field(default_factory=list)
        note: Optional[str] = None

    @dataclasses.dataclass(frozen=True, slots=True)
    class Line:
        sku: str
        qty: "int" = 1

    if sys.version_info >= (3, 14):  # deferred: a name undefined at run time is fine
        def f(order: Order, line: "Line", missing: NotDefinedAnywhere = None) -> "Order":
            return order
    else:
        def f(order: Order, line: "Line", missing: "NotDefinedAnywhere" = None) -> "Order":
            return order

    return Order, Line, f
"""

BENIGN = (
    ATTEMPT
    + """
import json, sys, sandbox
sys.path.insert(0, ".")
sandbox.install(mode="enforce", profile="profile.json")
import handler, inspect, typing
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
attempt("hints_import", lambda: typing.get_type_hints(handler.Item, include_extras=True))
attempt("hints_func", lambda: typing.get_type_hints(handler.handle))
attempt("dunder_import", lambda: handler.Item.__annotations__)
attempt("signature", lambda: inspect.signature(handler.handle, eval_str=False))
attempt("signature_eval", lambda: inspect.signature(handler.handle, eval_str=True))
attempt("get_annotations_eval", lambda: inspect.get_annotations(handler.handle, eval_str=True))
Order, Line, f = handler.later()
attempt("dataclass", lambda: Order(1, [Line("a"), Line("b", 2)]))
attempt("hints_invoke", lambda: typing.get_type_hints(Order, localns={"Line": Line}))
attempt("dunder_invoke", lambda: Line.__annotations__)
attempt("signature_invoke", lambda: inspect.signature(Order))
if sys.version_info >= (3, 14):
    import annotationlib
    F = annotationlib.Format
    attempt("forwardref", lambda: annotationlib.get_annotations(f, format=F.FORWARDREF))
    attempt("string", lambda: annotationlib.get_annotations(f, format=F.STRING))
    attempt("signature_fwd", lambda: inspect.signature(f, annotation_format=F.FORWARDREF))
    attempt("class_string", lambda: annotationlib.get_annotations(Order, format=F.STRING))
    print("values", json.dumps({
        "forwardref": sorted(annotationlib.get_annotations(f, format=F.FORWARDREF)),
        "string": annotationlib.get_annotations(f, format=F.STRING)["missing"],
    }))
"""
)

# The same helpers, called by the function with sources and code of its own choosing.
ATTACKS = (
    ATTEMPT
    + """
import sys, sandbox, inspect, typing
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
SOURCES = {
    "import": "__import__('os').getpid()",
    "getattr": "getattr(int, 'mro')()",
    "lambda": "(lambda: 0)()",
    "eval": "eval('1')",
    "comprehension": "[x for x in ()]",
    "dunder": "int.__subclasses__()",
    "globals": "globals()",
    "walrus": "(x := 1)",
}
def evaluate(src):
    if sys.version_info >= (3, 14):
        import annotationlib
        return annotationlib.ForwardRef(src).evaluate(globals={})
    return typing.ForwardRef(src)._evaluate({}, {}, recursive_guard=frozenset())
for label, src in SOURCES.items():
    attempt("forwardref_" + label, lambda: evaluate(src))
def evil(x: "__import__('os').getpid()"):
    pass
attempt("hints_evil", lambda: typing.get_type_hints(evil))
attempt("eval_str_evil", lambda: inspect.get_annotations(evil, eval_str=True))
if sys.version_info >= (3, 14):
    import annotationlib
    def body(format):
        return {"x": __import__("os").getpid()}
    class NotAnAnnotate:  # annotationlib reads these attributes and builds a function
        __code__ = body.__code__
        __globals__ = {}
        __builtins__ = {}
        __closure__ = None
        __defaults__ = None
        __kwdefaults__ = None
        def __call__(self, format):  # "only VALUE": annotationlib builds its own function
            raise NotImplementedError if format != 2 else TypeError
    attempt("annotate_other_code", lambda: annotationlib.call_annotate_function(
        NotAnAnnotate(), annotationlib.Format.FORWARDREF))
    attempt("annotate_string_other_code", lambda: annotationlib.call_annotate_function(
        NotAnAnnotate(), annotationlib.Format.STRING))
"""
)


def _outcome(lines: list[str]) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in lines if " " in line)


def test_annotations_read_during_invoke_need_no_rule(child: RunChild, tmp_path: Path) -> None:
    # GIVEN enforce with the runtime bundle only, and a handler whose classes and functions
    # carry string, forward and Annotated annotations, some defined during the invocation
    profile = profile_doc(modules=[{"action": "import", "target": "handler", "phase": "init"}])
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    (tmp_path / "handler.py").write_text(HANDLER)
    # WHEN the function reads them in every way the standard library offers
    result = child(BENIGN)
    assert result.returncode == 0, result.stderr
    outcome = _outcome(result.lines)
    # THEN every read works as without the sandbox, and nothing is refused or reported
    expected = [
        "hints_import",
        "hints_func",
        "dunder_import",
        "signature",
        "signature_eval",
        "get_annotations_eval",
        "dataclass",
        "hints_invoke",
        "dunder_invoke",
        "signature_invoke",
    ]
    if PY314:
        expected += ["forwardref", "string", "signature_fwd", "class_string"]
    assert {label: outcome.get(label) for label in expected} == dict.fromkeys(
        expected, "ALLOWED"
    ), result.stdout
    assert result.findings == []
    if PY314:
        # (the FORWARDREF and STRING formats ran the real __annotate__ with stand-in globals)
        values = json.loads(outcome["values"])
        assert values == {
            "forwardref": ["line", "missing", "order", "return"],
            "string": "NotDefinedAnywhere",
        }


def test_annotation_helpers_refuse_sources_and_code_of_the_functions_choosing(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN enforce with the runtime bundle only
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function hands the annotation helpers code that is no annotation
    result = child(ATTACKS)
    assert result.returncode == 0, result.stderr
    outcome = _outcome(result.lines)
    # THEN each source is refused as a compile at the helper's site (no rule allows it) ...
    compiles = [
        "forwardref_import",
        "forwardref_getattr",
        "forwardref_lambda",
        "forwardref_eval",
        "forwardref_comprehension",
        "forwardref_dunder",
        "forwardref_globals",
        "forwardref_walrus",
        "hints_evil",
        "eval_str_evil",
    ]
    assert {label: outcome.get(label) for label in compiles} == dict.fromkeys(
        compiles, "BLOCKED PermissionViolation code compile"
    ), result.stdout
    sites = {f["target"] for f in result.findings if f["action"] == "compile"}
    helper = "annotationlib.py" if PY314 else "typing.py"
    assert any(site.startswith("{stdlib}/" + helper) for site in sites), sites
    assert any(
        site.startswith(("{stdlib}/annotationlib.py", "{stdlib}/inspect.py")) for site in sites
    )
    if PY314:
        # ... and a function built from code that is not an __annotate__ is a hand-built one
        for label in ("annotate_other_code", "annotate_string_other_code"):
            assert outcome[label] == "BLOCKED PermissionViolation code construct", result.stdout
        assert any(
            f["action"] == "construct"
            and f["target"] == "{stdlib}/annotationlib.py:call_annotate_function"
            for f in result.findings
        )
