"""Counted union of profiles and observation sets: commutative, associative, idempotent.

Two operations, deliberately different:

* :func:`merge_profiles` (``a ⊔ b``) joins two profiles that may describe overlapping histories
  (the same profile built twice, a copy merged back): it is a join — commutative, associative and
  idempotent — so profiles built from many environments in any order come out identical. Counts
  are kept **per execution environment** (``coverage.env_counts``, ``learning.env_invocations``)
  and joined with ``max``: an environment writes one append-only stream, so two readings of it
  differ only in how much of it they saw. ``count`` is the sum over environments.
* :func:`add_coverage` adds the coverage of observations that are certainly new (the sources'
  cursors guarantee that a build never reads a record twice) — used by the builder.

Observation sets merge by set union on the record identity
``(env, invocation, phase, category, action, target, argv)`` (see
:meth:`~sandbox.profile.observations.Observation.key`): reading the same file, its stdout copy
and its CloudWatch copy yields each observation once.

Phases join as a lattice: ``init ⊔ invoke = any``, ``x ⊔ any = any``. Rules are identified by
``(category, action, target, argv)``; a rule seen in init in one profile and in invoke in the
other becomes ``any``. Literals are the union, sorted, capped to the smallest ``cap``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sandbox.profile.generalise import DEFAULT_LITERAL_CAP
from sandbox.profile.model import Coverage, DenyRule, Learning, Phase, Profile, Rule
from sandbox.profile.observations import ObservationSet

RuleKey = tuple[str, str, str, tuple[str, ...] | None]


def join_phase(a: str, b: str) -> Phase:
    """``init ⊔ invoke = any``.

    Example
    -------
    >>> join_phase("init", "invoke")
    'any'
    """
    return cast(Phase, a if a == b else "any")


def _min(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: str | None, b: str | None) -> str | None:
    return b if a is None else a if b is None else max(a, b)


def _literals(a: Iterable[str], b: Iterable[str], cap: int) -> list[str]:
    return sorted(set(a) | set(b))[:cap]


def _first(a: Coverage, b: Coverage) -> dict[str, Any]:
    """The earlier first observation of two coverage records, as model fields."""
    known = [k for k in (a.first_key(), b.first_key()) if k is not None]
    return {"first": min(known)} if known else {}


def join_coverage(
    a: Coverage | None, b: Coverage | None, cap: int = DEFAULT_LITERAL_CAP
) -> Coverage | None:
    """Join two coverage records (per-environment max).

    Example
    -------
    >>> c = Coverage(count=2, env_counts={"e1": 2}, environments=["e1"])
    >>> join_coverage(c, c) == c
    True
    """
    if a is None or b is None:
        return a if b is None else b
    env_counts = dict(a.env_counts)
    for env, n in b.env_counts.items():
        env_counts[env] = max(env_counts.get(env, 0), n)
    # max(...) keeps the join associative when a hand-written count has no per-env breakdown.
    return Coverage(
        count=max(sum(env_counts.values()), a.count, b.count),
        first_seen=_min(a.first_seen, b.first_seen),
        last_seen=_max(a.last_seen, b.last_seen),
        environments=sorted(set(a.environments) | set(b.environments)),
        literals=_literals(a.literals, b.literals, cap),
        env_counts=dict(sorted(env_counts.items())),
        **_first(a, b),
    )


def add_coverage(
    a: Coverage | None, b: Coverage | None, cap: int = DEFAULT_LITERAL_CAP
) -> Coverage | None:
    """Add the coverage of new observations ``b`` to ``a`` (per-environment sum).

    Example
    -------
    >>> add_coverage(Coverage(count=1, env_counts={"e": 1}), Coverage(count=2, env_counts={"e": 2})).count
    3
    """
    if a is None or b is None:
        return a if b is None else b
    env_counts = dict(a.env_counts)
    for env, n in b.env_counts.items():
        env_counts[env] = env_counts.get(env, 0) + n
    return Coverage(
        count=a.count + b.count,
        first_seen=_min(a.first_seen, b.first_seen),
        last_seen=_max(a.last_seen, b.last_seen),
        environments=sorted(set(a.environments) | set(b.environments)),
        literals=_literals(a.literals, b.literals, cap),
        env_counts=dict(sorted(env_counts.items())),
        **_first(a, b),
    )


def _join_cursor(a: Any, b: Any) -> Any:
    """Cursors join to the one that has read more (deterministically on ties)."""
    if a == b:
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        if "keys" in a and "keys" in b:  # s3: keys read, with ETags
            keys = dict(a["keys"])
            for key, etag in b["keys"].items():
                keys[key] = max(keys.get(key, etag), etag)
            return {"keys": dict(sorted(keys.items()))}
        if "timestamp" in a and "timestamp" in b:  # cloudwatch
            if a["timestamp"] != b["timestamp"]:
                return a if a["timestamp"] > b["timestamp"] else b
            return {
                "timestamp": a["timestamp"],
                "ids": sorted(set(a.get("ids", [])) | set(b.get("ids", []))),
            }
        if "offset" in a and "offset" in b and a["offset"] != b["offset"]:  # file
            return a if a["offset"] > b["offset"] else b
    import json

    return max(a, b, key=lambda v: json.dumps(v, sort_keys=True))


def join_learning(a: Learning, b: Learning) -> Learning:
    """Join two learning states.

    ``invocations`` is the sum over environments of the highest invocation number seen in each;
    ``(last_novel, invocations_since_novel)`` is the lexicographic max: the state with the later
    novel observation wins (ties: the longer quiet run).

    Example
    -------
    >>> s = Learning(invocations=3, env_invocations={"e": 3}, environments=["e"])
    >>> join_learning(s, s) == s
    True
    """
    env_invocations = dict(a.env_invocations)
    for env, n in b.env_invocations.items():
        env_invocations[env] = max(env_invocations.get(env, 0), n)
    invocations = max(sum(env_invocations.values()), a.invocations, b.invocations)
    novel_a = (a.last_novel or "", a.invocations_since_novel)
    novel_b = (b.last_novel or "", b.invocations_since_novel)
    last_novel, since = max(novel_a, novel_b)
    sources = dict(a.sources)
    for key, cursor in b.sources.items():
        sources[key] = _join_cursor(sources[key], cursor) if key in sources else cursor
    return Learning(
        invocations=invocations,
        environments=sorted(set(a.environments) | set(b.environments)),
        first_seen=_min(a.first_seen, b.first_seen),
        last_seen=_max(a.last_seen, b.last_seen),
        last_novel=last_novel or None,
        invocations_since_novel=since,
        sources=dict(sorted(sources.items())),
        env_invocations=dict(sorted(env_invocations.items())),
    )


def novelty(profile: Profile) -> tuple[str | None, int, dict[str, int]]:
    """``(last_novel, invocations_since_novel, per-environment quiet counts)`` of a profile.

    An observation is *novel* when it is the first, in the total order ``(time, environment,
    invocation)``, of the rule that allows it (each rule's coverage keeps its first
    observation, joined by ``min``). Per environment, the quiet invocations are those after the
    last novel observation made there (all of them in an environment that saw nothing novel);
    ``invocations_since_novel`` is their sum. Everything is a ``min``/``max`` join, so the
    answer is the same however the observations were batched into builds.

    Example
    -------
    >>> p = Profile(function="f", learning=Learning(env_invocations={"e": 40}),
    ...             rules={"files": [Rule(action="read", target="/a", coverage=Coverage(
    ...                 count=1, first=("t", "e", 10)))]})
    >>> novelty(p)[:2]
    ('t', 30)
    """
    env_last: dict[str, int] = {}
    last_novel: str | None = None
    known = False
    for rules in profile.rules.values():
        for rule in rules:
            first = rule.coverage.first_key() if rule.coverage is not None else None
            if first is None:
                continue
            known = True
            time, env, invocation = first
            env_last[env] = max(env_last.get(env, 0), invocation)
            last_novel = _max(last_novel, time or None)
    if not known:
        return profile.learning.last_novel, profile.learning.invocations_since_novel, {}
    quiet = {
        env: max(0, n - env_last.get(env, 0))
        for env, n in sorted(profile.learning.env_invocations.items())
    }
    return last_novel, sum(quiet.values()), quiet


def with_novelty(profile: Profile) -> Profile:
    """The profile with ``learning.last_novel`` and ``invocations_since_novel`` recomputed."""
    last_novel, since, _quiet = novelty(profile)
    profile.learning = profile.learning.model_copy(
        update={"last_novel": last_novel, "invocations_since_novel": since}
    )
    return profile


def rule_key(rule: Rule) -> tuple[str, str, tuple[str, ...] | None]:
    """A rule's identity for merging: action, target, argv (the phase joins)."""
    return (rule.action, rule.target, tuple(rule.argv) if rule.argv is not None else None)


def merge_rules(
    a: Iterable[Rule], b: Iterable[Rule], cap: int = DEFAULT_LITERAL_CAP, *, add: bool = False
) -> list[Rule]:
    """Union of two rule lists of one category, joining phases and coverage (sorted)."""
    out: dict[tuple[str, str, tuple[str, ...] | None], Rule] = {}
    combine = add_coverage if add else join_coverage
    for rule in [*a, *b]:
        key = rule_key(rule)
        known = out.get(key)
        if known is None:
            out[key] = rule.model_copy(deep=True)
            continue
        out[key] = Rule(
            action=rule.action,
            target=rule.target,
            argv=rule.argv,
            phase=join_phase(known.phase, rule.phase),
            coverage=combine(known.coverage, rule.coverage, cap),
        )
    return [out[k] for k in sorted(out, key=lambda k: (k[0], k[1], k[2] or ()))]


def merge_profiles(a: Profile, b: Profile, *, cap: int = DEFAULT_LITERAL_CAP) -> Profile:
    """Join two profiles of one function (commutative, associative, idempotent).

    Example
    -------
    >>> p = Profile(function="f", rules={"files": [Rule(action="read", target="/a", phase="init")]})
    >>> q = Profile(function="f", rules={"files": [Rule(action="read", target="/a", phase="invoke")]})
    >>> merge_profiles(p, q).rules["files"][0].phase
    'any'
    """
    if a.function != b.function:
        raise ValueError(
            f"cannot merge profiles of different functions: {a.function!r} and {b.function!r}"
        )
    rules: dict[str, list[Rule]] = {}
    for category in sorted(set(a.rules) | set(b.rules)):
        merged = merge_rules(a.rules.get(category, []), b.rules.get(category, []), cap)
        if merged:
            rules[category] = merged
    deny: dict[str, list[DenyRule]] = {}
    for category in sorted(set(a.deny) | set(b.deny)):
        seen: dict[tuple[str, str], DenyRule] = {}
        for rule in [*a.deny.get(category, []), *b.deny.get(category, [])]:
            key = (rule.action, rule.target)
            if key not in seen or (rule.reason or "") > (seen[key].reason or ""):
                seen[key] = rule
        deny[category] = [seen[k] for k in sorted(seen)]
    descriptions = sorted(d for d in (a.description, b.description) if d)
    joined = Profile.model_validate(
        {
            "function": a.function,
            "description": descriptions[0] if descriptions else None,
            "extends": sorted(set(a.extends) | set(b.extends)),
            "rules": rules,
            "deny": deny,
            "learning": join_learning(a.learning, b.learning),
        }
    )
    return with_novelty(joined)


def merge_observations(a: ObservationSet, b: ObservationSet) -> ObservationSet:
    """Set union of observation records (the same record read twice counts once).

    Example
    -------
    >>> s = ObservationSet()
    >>> len(merge_observations(s, s))
    0
    """
    return a.union(b)
