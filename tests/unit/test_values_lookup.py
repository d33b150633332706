"""The hook's dict walks: a key of the function's never runs code, one walk finds several names."""

from __future__ import annotations

import pytest

from sandbox.runtime.values import lookup, lookup_all


class _Hostile(str):
    """A str subclass whose hash collides with a real name and whose methods record calls."""

    calls: list[str] = []

    def __hash__(self) -> int:
        _Hostile.calls.append("hash")
        return hash(str(self))

    def __eq__(self, other: object) -> bool:
        _Hostile.calls.append("eq")
        return True


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    _Hostile.calls.clear()


def test_lookup_all_finds_each_name_in_one_walk() -> None:
    # GIVEN a namespace with the names and others
    namespace = {"a": 1, "join": 2, "dirname": 3, 7: "int key"}
    # WHEN several names are looked up at once
    found = lookup_all(namespace, ("join", "missing", "dirname"))
    # THEN each is found in place and a missing one is None
    assert found == [2, None, 3]


def test_lookup_all_never_runs_a_hostile_keys_code() -> None:
    # GIVEN a dict holding a str-subclass key equal (by its own __eq__) to every name
    namespace = {_Hostile("join"): "attacker's", "dirname": "real"}
    _Hostile.calls.clear()  # building the dict hashed the key: that was the test's own doing
    # WHEN names are looked up, singly and together
    together = lookup_all(namespace, ("join", "dirname"))
    single = lookup(namespace, "join")
    # THEN the hostile key counts for nothing and none of its methods ran
    assert together == [None, "real"]
    assert single is None
    assert _Hostile.calls == []


def test_lookup_all_keeps_the_first_of_a_name_and_refuses_odd_names() -> None:
    assert lookup_all({"x": 1}, ("x", "x")) == [1, None]
    assert lookup_all(["not", "a", "dict"], ("x",)) == [None]
    with pytest.raises(TypeError):
        lookup_all({"x": 1}, (_Hostile("x"),))
