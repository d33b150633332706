"""The hook's dict walks: a key of the function's never runs code, one walk finds several names."""

from __future__ import annotations

import sys

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


DIRECT_PROBE = sys.version_info >= (3, 11)


def test_a_dict_of_exact_str_keys_is_probed_directly_and_a_hostile_key_turns_that_off() -> None:
    # GIVEN a namespace like a module's (exact str keys only) and the same with a hostile key
    from sandbox.runtime.values import _exact_str_keys

    namespace: dict[object, object] = {f"name{i}": i for i in range(300)}
    planted = dict(namespace)
    planted[_Hostile("planted")] = "attacker's"
    _Hostile.calls.clear()
    # WHEN the sizes tell the kinds apart
    plain_kind, planted_kind = _exact_str_keys(namespace), _exact_str_keys(planted)
    # THEN only the plain one is probed directly, both answer as the walk does, and the
    # hostile key's methods never run
    # (CPython 3.10 keeps no separate kind for str-only tables: every lookup walks there)
    assert plain_kind is DIRECT_PROBE and planted_kind is False
    assert lookup(namespace, "name7") == 7 and lookup(planted, "name7") == 7
    assert lookup_all(planted, ("name7", "name8", "missing")) == [7, 8, None]
    assert lookup_all(namespace, ("name7", "name7")) == [7, None]
    assert _Hostile.calls == []


def test_the_direct_probe_answers_as_the_walk_for_every_size() -> None:
    # GIVEN exact-str dicts of many sizes (every table size up to a few thousand entries)
    from sandbox.runtime import values

    for count in (0, 1, 5, 6, 11, 22, 43, 86, 171, 342, 683, 1366, 2731, 5462):
        namespace: dict[object, int] = {f"k{i}": i for i in range(count)}
        mixed = dict(namespace)
        mixed[b"bytes"] = -1
        # WHEN looked up THEN the answers agree, and only exact-str tables take the probe
        assert values._exact_str_keys(namespace) is (count > 0 and DIRECT_PROBE)
        assert values._exact_str_keys(mixed) is False
        for name in ("k0", f"k{count - 1}", "absent"):
            assert lookup(namespace, name) == lookup(mixed, name)
