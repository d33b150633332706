"""Merge is a join: commutative, associative, idempotent (hypothesis), phases join to ``any``."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.profile.build import build_from_observations
from sandbox.profile.merge import add_coverage, join_phase, merge_observations, merge_profiles
from sandbox.profile.model import Coverage, Learning, Profile, Rule
from sandbox.profile.observations import ObservationSet

ENVS = st.sampled_from(["e1", "e2", "e3"])
TIMES = st.sampled_from([f"2026-01-0{d}T00:00:00Z" for d in range(1, 6)])


@st.composite
def coverages(draw: st.DrawFn) -> Coverage:
    env_counts = draw(st.dictionaries(ENVS, st.integers(1, 5), max_size=3))
    first, last = sorted([draw(TIMES), draw(TIMES)])
    return Coverage(
        count=max(sum(env_counts.values()), draw(st.integers(0, 3))),
        first_seen=first,
        last_seen=last,
        environments=sorted(env_counts),
        literals=sorted(
            draw(st.sets(st.sampled_from(["/a/1", "/a/2", "/a/3", "/b/x"]), max_size=3))
        )[:2],
        env_counts=dict(sorted(env_counts.items())),
        **draw(
            st.none().map(lambda _: {})
            | st.builds(
                lambda time, env, inv: {"first": (time, env, inv)},
                TIMES,
                ENVS,
                st.integers(0, 9),
            )
        ),
    )


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    return Rule(
        action=draw(st.sampled_from(["read", "write"])),
        target=draw(st.sampled_from(["/a/*", "/a/1", "/b/x", "{tmp}/**"])),
        phase=draw(st.sampled_from(["init", "invoke", "any"])),
        coverage=draw(st.none() | coverages()),
    )


@st.composite
def learnings(draw: st.DrawFn) -> Learning:
    env_inv = draw(st.dictionaries(ENVS, st.integers(0, 9), max_size=3))
    return Learning(
        invocations=sum(env_inv.values()),
        environments=sorted(env_inv),
        first_seen=draw(st.none() | TIMES),
        last_seen=draw(st.none() | TIMES),
        last_novel=draw(st.none() | TIMES),
        invocations_since_novel=draw(st.integers(0, 5)),
        sources=draw(
            st.dictionaries(
                st.sampled_from(["file:/x", "file:/y"]),
                st.builds(lambda o: {"offset": o, "sha256": str(o)}, st.integers(0, 3)),
                max_size=2,
            )
        ),
        env_invocations=dict(sorted(env_inv.items())),
    )


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    raw = Profile(
        function="f",
        extends=sorted(draw(st.sets(st.sampled_from(["python-runtime", "aws-sdk"])))),
        rules={"files": draw(st.lists(rules(), max_size=4))},
        learning=draw(learnings()),
    )
    # Normal form: what any merge returns (duplicates joined, sorted).
    return merge_profiles(raw, Profile(function="f"), cap=2)


def same(a: Profile, b: Profile) -> bool:
    # Both files: the policy and the learning record (coverage, learning state, novelty).
    return (a.to_json(), a.learning_json()) == (b.to_json(), b.learning_json())


@settings(max_examples=150, deadline=None)
@given(profiles(), profiles())
def test_merge_is_commutative(a: Profile, b: Profile) -> None:
    assert same(merge_profiles(a, b, cap=2), merge_profiles(b, a, cap=2))


@settings(max_examples=150, deadline=None)
@given(profiles(), profiles(), profiles())
def test_merge_is_associative(a: Profile, b: Profile, c: Profile) -> None:
    left = merge_profiles(merge_profiles(a, b, cap=2), c, cap=2)
    right = merge_profiles(a, merge_profiles(b, c, cap=2), cap=2)
    assert same(left, right)


@settings(max_examples=150, deadline=None)
@given(profiles())
def test_merge_is_idempotent(a: Profile) -> None:
    assert same(merge_profiles(a, a, cap=2), a)


def test_phase_lattice() -> None:
    assert join_phase("init", "invoke") == "any"
    assert join_phase("init", "init") == "init"
    assert join_phase("any", "invoke") == "any"


def test_merge_counts_are_per_environment_max() -> None:
    # GIVEN one environment's stream read partially (2) and fully (5), and another env (3)
    a = Profile(
        function="f",
        rules={
            "files": [
                Rule(action="read", target="/a", coverage=Coverage(count=2, env_counts={"e1": 2}))
            ]
        },
    )
    b = Profile(
        function="f",
        rules={
            "files": [
                Rule(
                    action="read",
                    target="/a",
                    coverage=Coverage(count=8, env_counts={"e1": 5, "e2": 3}),
                )
            ]
        },
    )
    coverage = merge_profiles(a, b).rules["files"][0].coverage
    assert coverage is not None and coverage.count == 8
    # AND adding certainly-new observations sums
    added = add_coverage(
        Coverage(count=2, env_counts={"e1": 2}), Coverage(count=1, env_counts={"e1": 1})
    )
    assert added is not None and added.count == 3 and added.env_counts == {"e1": 3}


def test_merge_refuses_other_function() -> None:
    import pytest

    with pytest.raises(ValueError):
        merge_profiles(Profile(function="a"), Profile(function="b"))


def _set(*targets: str) -> ObservationSet:
    s = ObservationSet(function="f")
    for i, target in enumerate(targets):
        record = {
            "type": "sandbox.observation",
            "v": 1,
            "function": "f",
            "env": f"e{i % 2}",
            "phase": "invoke",
            "invocation": 1,
            "time": "2026-01-01T00:00:00Z",
            "category": "files",
            "action": "write",
            "target": target,
        }
        s.add_line(json.dumps(record), "t")
    return s


def test_observation_union_idempotent_and_build_does_not_double_count() -> None:
    # GIVEN the same observation source merged twice
    s = _set("{task}/out/a", "{task}/out/b")
    twice = merge_observations(s, s)
    # THEN the built profile is the same as from one copy
    assert (
        build_from_observations("f", twice)[0].to_json()
        == build_from_observations("f", s)[0].to_json()
    )
    # AND the union is commutative
    t = _set("{task}/out/c")
    assert (
        merge_observations(s, t).observations.keys() == merge_observations(t, s).observations.keys()
    )
