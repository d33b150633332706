# Stdlib code generators at run time (namedtuple, dataclasses, annotationlib): which events?
import sys
from _hook import record, capture
import collections, dataclasses, typing  # imported before recording: only the generation is seen
record(["compile", "exec", "function.__new__", "code.__new__", "object.__setattr__", "object.__getattr__", "sys._getframe"])
with capture("collections.namedtuple('P', 'x y')"):
    collections.namedtuple("P", "x y")
with capture("@dataclass class D: x: int; y: list = field(default_factory=list)"):
    @dataclasses.dataclass
    class D:
        x: int
        y: list = dataclasses.field(default_factory=list)
with capture("@dataclass(frozen=True, slots=True)"):
    @dataclasses.dataclass(frozen=True, slots=True)
    class F:
        x: int
with capture("typing.get_type_hints on a class with a forward ref"):
    class C:
        a: "int"
    typing.get_type_hints(C)
with capture("C.__annotations__ access (3.14: lazily evaluated via __annotate__)"):
    class E:
        a: int
    E.__annotations__
