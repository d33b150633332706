"""The shape of evaluated code: what counts as a feature, and what cannot be shaped."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from sandbox.runtime.categories import UNDECODABLE
from sandbox.runtime.compiler import compile_profile
from sandbox.runtime.decoders import shape
from sandbox.runtime.decoders.code import annotation_expression
from sandbox.runtime.decoders.shape import MAX_SOURCE, features
from sandbox.runtime.policy import Policy
from tests.conftest import hostile


@pytest.mark.parametrize(
    ("one", "other"),
    [("1 + 2", "10 - 3"), ("a < b", "x >= y and True"), ("-1", "not 0")],
)
def test_operators_and_constants_do_not_change_a_shape(one: str, other: str) -> None:
    # GIVEN two sources that differ only in operators and constant values
    strip = {f for f in features(one) if not f.startswith("name:")}
    again = {f for f in features(other) if not f.startswith("name:")}
    # THEN their node types are the same kind of thing (no Add/Sub/Lt/Load features)
    assert not strip & {"Add", "Sub", "Lt", "GtE", "Load", "USub", "Not", "And"}
    assert not again & {"Add", "Sub", "Lt", "GtE", "Load", "USub", "Not", "And"}


def test_calls_attributes_and_names_are_features() -> None:
    assert features("__import__('os').system('id')") == [
        "Attribute",
        "Call",
        "Constant",
        "Name",
        "attr:system",
        "name:__import__",
    ]
    assert features(b"obj.field") == ["Attribute", "Name", "attr:field", "name:obj"]


def test_a_syntax_tree_is_shaped_like_its_source() -> None:
    assert features(ast.parse("f(x)")) == features("f(x)")


def test_what_cannot_be_shaped_is_undecodable_and_syntax_errors_are_what_the_parser_raised() -> (
    None
):
    rejected = features("1 +")
    assert isinstance(rejected, tuple) and rejected[:4] == (SyntaxError, "invalid syntax", 1, 4)
    assert features("x" * (MAX_SOURCE + 1)) == UNDECODABLE + "code too large to shape"
    assert features(12) == UNDECODABLE + "code that is neither text nor a syntax tree"
    name = ast.Name(id=7, ctx=ast.Load())  # type: ignore[arg-type]
    hand_built = ast.Expression(body=name)
    assert features(hand_built) == UNDECODABLE + "a name that is not text"


def test_policy_knows_which_sites_have_shapes() -> None:
    # GIVEN a profile with shapes for one site
    policy = Policy.load(
        compile_profile(
            {
                "schema_version": 1,
                "function": "f",
                "rules": {
                    "code": [
                        {"action": "compile", "target": "/t/app.py:calc", "phase": "invoke"},
                        {"action": "shape", "target": "/t/app.py:calc#BinOp", "phase": "invoke"},
                    ]
                },
            }
        )
    )
    # THEN that site's shape is decided by its rules, another site's is not known
    assert policy.shapes_known("/t/app.py:calc#Call")
    assert policy.allows("code", "shape", "/t/app.py:calc#BinOp", "invoke")
    assert not policy.allows("code", "shape", "/t/app.py:calc#Call", "invoke")
    assert not policy.shapes_known("/t/app.py:other#Call")


@pytest.mark.parametrize(
    "source",
    [
        b'# coding: bogus\n__import__("os").getcwd()',  # one reading unparseable
        b"\n# vim: set fileencoding=bogus :\n__import__('os').getcwd()",
        # utf-7: read with its cookie, only a string constant; read as eval reads a str, code
        b"# coding: utf-7\n0 +- +ACI- 0 if 0 else (__import__('os').getcwd()) if 1 else 0 +- +ACI- +- 0",
        # the tokenizer takes a lone CR (or CRLF) as a newline: a declaration on "line 2"
        b"\r# coding: bogus\n__import__('os').getcwd()",
        b"x = 1\r\n# coding: bogus\r\n__import__('os').getcwd()",
    ],
)
def test_a_coding_line_cannot_hide_code_from_the_shape(source: bytes) -> None:
    # GIVEN bytes whose coding line names a codec the C decoder would look up in the codec
    # registry (where the function can register one of its own: its code would run inside the
    # hook) -- and which changes how a cookie-honouring parser reads them
    # WHEN shaped (eval of a str hands the hook its UTF-8 bytes, compiled ignoring the cookie)
    found = features(source)
    # THEN they are not parsed at all: an undecodable target, refused in enforce
    assert isinstance(found, str) and found.startswith(UNDECODABLE), found


@pytest.mark.parametrize(
    "source",
    [
        b"# -*- coding: latin-1 -*-\n__import__('os').getcwd()",
        b"#!/usr/bin/env python\n# coding=utf-8\n__import__('os').getcwd()",
        b"x = 1\n\n# coding: bogus\n__import__('os').getcwd()",  # (line 3: not a declaration)
    ],
)
def test_coding_lines_the_c_decoder_reads_itself_are_shaped(source: bytes) -> None:
    # GIVEN bytes with no declaration, or one CPython decodes without the codec registry
    # WHEN shaped
    found = features(source)
    # THEN the code is read in every reading
    assert isinstance(found, list)
    assert {"Call", "Attribute", "name:__import__"} <= set(found)


@pytest.mark.parametrize(
    "error",
    [
        RecursionError("maximum recursion depth exceeded during compilation"),
        MemoryError(),
        SyntaxError("too complex"),
    ],
)
def test_a_parse_that_runs_out_of_depth_is_refused_not_empty(
    monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    # GIVEN a parse that fails for depth (the hook's parse runs frames deeper than the
    # caller's compile, so a source nested just under the caller's limit fails here only)
    def too_deep(*_args: object) -> object:
        raise error

    monkeypatch.setattr(shape, "_compile_source", too_deep)
    # WHEN shaped
    found = shape.features("(__import__('os').getpid(), " + "-" * 2981 + "1)[0]")
    # THEN it is undecodable (refused in enforce), never "no features" (allowed by its site)
    assert found == UNDECODABLE + "code too deeply nested to shape"


def test_renaming_an_import_is_not_the_shape_of_the_learned_import() -> None:
    # GIVEN the shape a site learned from "from math import sqrt; y = sqrt(16)"
    learned = set(features("from math import sqrt\ny = sqrt(16)"))
    # WHEN an injected source imports something else under the learned name (red team)
    renamed = set(features('from os import getenv as sqrt\ny = sqrt("PATH")'))
    # THEN what it imports and the renaming are features the site never learned
    assert renamed - learned == {"ImportFrom.module:os", "alias.name:getenv", "alias.asname:sqrt"}


def test_every_identifier_is_a_feature() -> None:
    found = features("def f(a, *, k=1):\n    global g\n    return print(a, sep=k)")
    assert isinstance(found, list)
    assert {
        "FunctionDef.name:f",
        "arg.arg:a",
        "arg.arg:k",
        "Global.names:g",
        "keyword.arg:sep",
    } <= set(found)


@pytest.mark.parametrize(
    "source",
    [
        "int",
        "list[str]",
        "Optional[Item]",
        "dict[str, Annotated[int, Field(gt=0, description='n')]] | None",
        "typing.Callable[[int, str], Awaitable[None]]",
        "Literal['a', -1, None, ...]",
        "(*Ts,)[0]",
        pytest.param(
            "tuple[*Ts]",
            marks=pytest.mark.skipif(
                sys.version_info < (3, 11), reason="star in a subscript is 3.11+ syntax (PEP 646)"
            ),
        ),
        "__annotationlib_name_3__[int]",  # annotationlib's own placeholder for a value
        b"bytes[int]",
    ],
)
def test_annotation_expressions_are_recognised(source: str | bytes) -> None:
    # GIVEN what type annotations are written with / WHEN classifying it
    # THEN it is an annotation expression (allowed at the stdlib's annotation evaluators)
    assert annotation_expression(source)


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('id')",
        "int.__subclasses__()",
        "x.__globals__",
        "getattr(int, 'mro')()",
        "eval('1')",
        "exec('x = 1')",
        "compile('1', '', 'eval')",
        "globals()",
        "vars(object)",
        "(lambda: 0)()",
        "[x for x in y]",
        "(x := 1)",
        "f(**{'a': 1})",
        "a if b else c",
        "import os",
        "x = 1",
        "__annotationlib_name_x__",
        "Field(__class__=1)",
        "",
        "(",
        "x" * (MAX_SOURCE + 1),
        42,
        ast.parse("lambda: 0", mode="eval"),
    ],
)
def test_other_sources_are_not_annotation_expressions(source: object) -> None:
    # GIVEN code that runs more than an annotation can (or that cannot be read at all)
    # THEN it is not one: a compile of it is decided by its site like any other
    assert not annotation_expression(source)


CORES = pytest.mark.parametrize("native", ["on", "off"], ids=["native-core", "python-core"])


def _shaped_in_a_fresh_process(native: str, before: str, sources: list[str]) -> list[object]:
    """Run ``before`` in a fresh interpreter, then shape each source there (the syntax classes
    load on the first shape, and the native core seals them: never in the test process)."""
    script = (
        "import ast, json, sys\n"
        + before
        + "\nfrom sandbox.runtime.decoders.shape import features\n"
        + "print(json.dumps([features(s) for s in json.loads(sys.argv[1])]))\n"
    )
    env = {**os.environ, "SANDBOX_NATIVE": native}
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(sources)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    result: list[object] = json.loads(done.stdout)
    return result


@CORES
def test_a_renamed_node_class_keeps_its_own_feature_name(native: str) -> None:
    # GIVEN node classes the function renamed before anything was shaped (a heap type's
    # __name__ can be reassigned): a slice made to look like a constant, a keyword like an alias
    before = "ast.Slice.__name__ = 'Constant'; ast.keyword.__name__ = 'alias'"
    # WHEN sources using them are shaped
    sliced, called = _shaped_in_a_fresh_process(native, before, ["x[0:10]", "f(sep=1)"])
    # THEN the features carry the classes' own names (the interpreter's), not the new ones
    assert isinstance(sliced, list) and "Slice" in sliced
    assert isinstance(called, list)
    assert "keyword.arg:sep" in called and "alias.arg:sep" not in called


# Ways to change the parser's classes before the sandbox reads them: made by a compile() of
# a bad argument (no audit event), reached through object.__subclasses__() (no audit event).
_MADE_AND_FOUND = (
    "try:\n    compile(0, 'x', 'exec')\nexcept TypeError:\n    pass\n"
    "base = next(c for c in object.__subclasses__() if c.__name__ == 'AST')\n"
    "def every(c):\n    for s in type.__subclasses__(c):\n        yield s\n        yield from every(s)\n"
    "found = {c.__name__: c for c in every(base)}\n"
)


@CORES
@pytest.mark.parametrize(
    "change",
    [
        "found['Call']._fields = ('func',)",  # the call's arguments hidden from the walk
        "found['Call'].args = property(lambda self: [])",  # a descriptor takes the setattr
        "found['Call'].__bases__ = (found['operator'],)",  # a call made an unshaped operator
        "base.__setattr__ = lambda self, k, v: None",  # every field dropped
        "found['Constant'].value = property(len)",  # a C function runs at the parser's setattr
    ],
    ids=["fields", "descriptor", "bases", "setattr", "patched-class"],
)
def test_classes_changed_before_they_are_read_shape_nothing(native: str, change: str) -> None:
    # GIVEN syntax classes made and changed by the function's code before anything was shaped
    before = _MADE_AND_FOUND + change
    # WHEN a source is shaped
    (found,) = _shaped_in_a_fresh_process(native, before, ["__import__('os').system('id')"])
    # THEN nothing is shaped: undecodable (refused in enforce), never a shorter list of features
    assert isinstance(found, str) and found.startswith(UNDECODABLE)
    assert "changed before the sandbox read them" in found


@CORES
def test_classes_made_early_but_unchanged_are_shaped(native: str) -> None:
    # GIVEN syntax classes made by a compile() of a bad argument, and the ast module imported
    # (it sets its properties on Constant and Tuple), before anything was shaped
    before = _MADE_AND_FOUND + "import ast"
    # WHEN a source is shaped
    (found,) = _shaped_in_a_fresh_process(native, before, ["__import__('os').system('id')"])
    # THEN as always
    assert found == ["Attribute", "Call", "Constant", "Name", "attr:system", "name:__import__"]


def test_the_layouts_are_this_pythons() -> None:
    # GIVEN this interpreter's syntax classes, as CPython made them (a fresh process)
    script = (
        "from sandbox.runtime import core; from sandbox.runtime.decoders import shape;"
        "print(shape.syntax_layout(core.syntax_classes()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    # THEN their layout is the one the table holds for this version
    assert done.stdout.strip() == shape.SYNTAX_LAYOUTS[sys.version_info[:2]]


def test_the_parser_flags_are_the_interpreters() -> None:
    assert shape.PyCF_ONLY_AST == ast.PyCF_ONLY_AST
    assert shape.PyCF_ALLOW_TOP_LEVEL_AWAIT == ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def test_the_coding_declaration_is_read_as_pep_263s_regex_reads_it() -> None:
    # GIVEN lines built from the pieces the declaration pattern is about (blanks, "#",
    # "coding", ":" or "=", name characters) and a few others, in many orders
    import random
    import re

    pattern = re.compile(shape._COOKIE_PATTERN)
    pieces = [b" ", b"\t", b"\f", b"#", b"coding", b"cod", b"ing", b":", b"=", b"-", b".", b"_"]
    pieces += [b"latin-1", b"utf8", b"x", b"Z9", b"\xe9", b"\x00", b"*", b"\r", b"/"]
    pieces += [b"coding:", b"coding=", b"coding: "]  # (more lines that declare one)
    rng = random.Random(263)
    lines = [
        b"",
        b"#",
        b"# coding",
        b"# coding:",
        b"# coding: ",
        b"#coding=x",
        b"# -*- coding: latin-1 -*-",
    ]
    for _ in range(20000):
        body = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        # (half of them a comment: blanks, "#", then the rest; some of those declare one)
        lead = b"".join(rng.choice([b" ", b"\t", b"\f"]) for _ in range(rng.randint(0, 2)))
        lines.append(lead + b"#" + body if rng.random() < 0.5 else body)
    for line in lines:
        found = pattern.match(line)
        # THEN the runtime's reader finds exactly the regex's name, or none where it finds none
        assert shape._declared_coding(line) == (found.group(1) if found else None), line


def test_a_text_the_parser_rejects_is_a_rejection_never_no_features() -> None:
    # GIVEN texts the shape parse rejects for reasons the function can change with no audit
    # event (the digit limit), or that no reading decodes
    long_literal = "__import__('os').getpid() if 1 else " + "9" * 5000
    # WHEN shaped
    found = [features(long_literal), features(b"\xff\xfe x"), features("1 +")]
    # THEN each is what compile would raise (the hook raises it at a site with shapes), not []
    assert [f[0] for f in found] == [SyntaxError, SyntaxError, SyntaxError]
    assert "limit" in found[0][1]


class _HiddenCall(ast.Call):
    pass


class _HiddenList(list):  # type: ignore[type-arg]
    pass


@pytest.mark.parametrize(
    "tree",
    [
        lambda: ast.Expression(
            body=_HiddenCall(func=ast.Name("f", ast.Load()), args=[], keywords=[])
        ),
        lambda: ast.Module(body=_HiddenList([ast.Pass()]), type_ignores=[]),
        lambda: ast.Expression(
            body=ast.Call(func=ast.Name("f", ast.Load()), args=hostile(()), keywords=[])
        ),
        lambda: ast.Expression(body=ast.Name(id="x", ctx=hostile(object()))),
    ],
    ids=["node-subclass", "list-subclass", "tuple", "other-object"],
)
def test_a_hand_built_tree_with_values_the_parser_never_makes_is_undecodable(tree: Any) -> None:
    # GIVEN a hand-built tree holding what CPython's tree-to-code step accepts but the walk
    # cannot follow: a subclass of a node class, of list, or any other object
    # WHEN shaped
    found = features(tree())
    # THEN it is refused (undecodable), never a shorter list of features (red team 48)
    assert found == UNDECODABLE + "a syntax node field of a type the parser does not make"


def test_scalar_fields_and_constants_are_still_shaped() -> None:
    # GIVEN trees with an import's level, a conversion, a constant of any kind
    sources = ["from . import x", "f'{x!r}'", "(1.5, 2j, b'x', None, ...)"]
    # WHEN shaped, as text and as the parser's own trees
    # THEN both give features
    for source in sources:
        assert isinstance(features(source), list)
        assert features(ast.parse(source)) == features(source)


def test_a_parsed_node_missing_a_field_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the shape parse handing back a tree whose Tuple lacks its elts: what a setter of
    # the function's leaves, set on the unsealed Tuple class by another thread between the
    # check of the classes and the parse (red team 109; CPython's parser sets every field)
    real = shape._compile_source

    def diverted(*args: Any) -> Any:
        tree = real(*args)
        for node in ast.walk(tree):
            if type(node) is ast.Tuple:
                del node.__dict__["elts"]
        return tree

    monkeypatch.setattr(shape, "_compile_source", diverted)
    # WHEN a source whose call sits in that tuple is shaped
    found = features("(print(1), 2)")
    # THEN it is refused, never shaped as a Tuple alone
    assert isinstance(found, str) and found.startswith(UNDECODABLE), found
    assert "changed" in found


def test_a_tree_built_by_hand_may_leave_an_optional_field_out() -> None:
    # GIVEN a syntax tree built by hand with no type_comment on its assignment (CPython's
    # tree-to-code reads a missing optional field as None)
    tree = ast.Module(
        body=[ast.Assign(targets=[ast.Name(id="x", ctx=ast.Store())], value=ast.Constant(1))],
        type_ignores=[],
    )
    tree.body[0].__dict__.pop("type_comment", None)  # (3.13+ sets the default None itself)
    # WHEN it is shaped, THEN it is, as the code it compiles to
    found = features(tree)
    assert isinstance(found, list) and "Assign" in found and "name:x" in found
