"""``Frozen.codes``: the sandbox's own code objects, every one, by identity."""

from __future__ import annotations

import types

from sandbox.runtime.freeze import freeze

SOURCE = """
def _factory(kind):
    def decode(args):
        return (kind, args)
    return decode

# A dispatch table of functions made by one factory: their codes are equal by value.
TABLE = {"a": _factory("a"), "b": _factory("b")}

def helper(x):
    def inner(y):
        return y
    return [inner(y) for y in x]

class Holder:
    def method(self):
        return helper(())
"""


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, name, "exec"), module.__dict__)
    return module


def test_codes_holds_each_copy_code_by_identity_even_when_equal_by_value() -> None:
    # GIVEN a module whose dispatch table holds two functions with equal code objects
    module = _module("codes_case", SOURCE)
    assert module.TABLE["a"].__code__ == module.TABLE["b"].__code__
    # WHEN it is frozen and its code objects are listed
    frozen = freeze([module])
    codes = frozen.codes()
    ids = {id(code) for code in codes}
    # THEN each copy's code is there (both table entries, nested ones too), none twice
    table = frozen.snapshots[id(module.__dict__)]["TABLE"]
    assert table["a"] is not module.TABLE["a"] and table["b"] is not module.TABLE["b"]
    assert id(table["a"].__code__) in ids and id(table["b"].__code__) in ids
    assert table["a"].__code__ is not table["b"].__code__
    helper = frozen(module.helper)
    nested = [c for c in helper.__code__.co_consts if isinstance(c, types.CodeType)]
    assert nested and all(id(c) in ids for c in nested)
    assert id(frozen(module.Holder).method.__code__) in ids
    assert len(ids) == len(codes)


def test_codes_holds_no_code_of_the_original_module() -> None:
    # GIVEN the same module, frozen
    module = _module("codes_case_originals", SOURCE)
    frozen = freeze([module])
    ids = {id(code) for code in frozen.codes()}
    # WHEN the original functions' code objects (and their nested ones) are looked up
    originals = [module._factory, module.TABLE["a"], module.helper, module.Holder.method]
    pending = [f.__code__ for f in originals]
    seen: list[types.CodeType] = []
    while pending:
        code = pending.pop()
        seen.append(code)
        pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    # THEN none is the sandbox's own: the importable originals never count as its code
    assert seen and not any(id(code) in ids for code in seen)


def test_a_closure_copied_before_the_function_in_it_gets_the_copy() -> None:
    # GIVEN a table in one module of closures over another module's function (a factory's
    # closures, as the decoders' package table holds the files decoder's), the table's
    # module frozen first
    helpers = _module("helpers_mod", "def the_name(x):\n    return x\n")
    table_source = (
        "def _make(decide):\n"
        "    def decode(args):\n"
        "        return decide(args)\n"
        "    return decode\n"
    )
    table = _module("table_mod", table_source)
    table.__dict__["TABLE"] = {"a": table.__dict__["_make"](helpers.__dict__["the_name"])}
    # WHEN both are frozen
    frozen = freeze([table, helpers])
    copy = frozen.snapshots[id(table.__dict__)]["TABLE"]["a"]
    held = copy.__closure__[0].cell_contents
    # THEN the copy's cell holds the frozen copy of the function, never the original (whose
    # module globals anyone can rebind)
    assert held is not helpers.__dict__["the_name"]
    assert held is frozen(helpers.__dict__["the_name"])


INSTANCES = """
class Row:
    __slots__ = ("name", "kind")
    def __init__(self, name, kind):
        self.name, self.kind = name, kind

class Plain:
    def __init__(self):
        self.value = 1

class Made:
    def __new__(cls):
        return object.__new__(cls)

ROW = Row("a", "files")
ROWS = {"b": Row("b", "network"), "again": ROW, "n": 3}
NESTED = [Row("c", "modules")]
PLAIN = Plain()
MADE = Made()
"""


def test_module_level_instances_of_copied_classes_get_private_copies() -> None:
    # GIVEN a module holding instances of its own classes: at module level, in a table (one of
    # them twice), in a list, and one made by a __new__ of its own
    module = _module("instances_case", INSTANCES)
    # WHEN it is frozen
    frozen = freeze([module])
    snapshot = frozen.snapshots[id(module.__dict__)]
    # THEN the module-level and table instances are private copies of the frozen class, with
    # the same slot and dict values, one copy per instance however often it is held
    row, table = snapshot["ROW"], snapshot["ROWS"]
    assert row is not module.ROW and type(row) is frozen(module.Row)
    assert (row.name, row.kind) == ("a", "files")
    assert table["b"] is not module.ROWS["b"] and type(table["b"]) is frozen(module.Row)
    assert (table["b"].name, table["b"].kind) == ("b", "network")
    assert table["again"] is row and table["n"] == 3
    assert snapshot["PLAIN"] is not module.PLAIN and snapshot["PLAIN"].value == 1
    assert type(snapshot["PLAIN"]) is frozen(module.Plain)
    # AND an instance in a list, or made by another __new__, is left as it is
    assert snapshot["NESTED"][0] is module.NESTED[0]
    assert snapshot["MADE"] is module.MADE


def test_a_table_two_modules_share_gets_the_same_instance_copies_in_both() -> None:
    # GIVEN a second module holding the first one's table (walked once when frozen)
    module = _module("instances_shared", INSTANCES)
    other = types.ModuleType("instances_other")
    other.SHARED = module.ROWS  # type: ignore[attr-defined]
    # WHEN both are frozen
    frozen = freeze([module, other])
    mine = frozen.snapshots[id(module.__dict__)]["ROWS"]
    theirs = frozen.snapshots[id(other.__dict__)]["SHARED"]
    # THEN each snapshot has its own table holding the same private copies
    assert mine is not module.ROWS and theirs is not module.ROWS
    assert mine["b"] is theirs["b"] and mine["b"] is not module.ROWS["b"]
    assert type(theirs["b"]) is frozen(module.Row)
