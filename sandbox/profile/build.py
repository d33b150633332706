"""``profile build``: observations → generalised rules merged into a (new or existing) profile.

Pipeline, each step deterministic in the *set* of observations (never their order):

1. read the sources (:mod:`.observations`), resuming from the profile's cursors;
2. drop what the ceiling denies (reported, never a rule) and what the ``extends`` bundles allow;
3. credit observations an existing rule already allows to that rule's coverage;
4. rewrite the rest with the table, then collapse families with evidence (:mod:`.generalise`);
5. fold rules subsumed by another glob, add coverage, update the learning state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sandbox.errors import SandboxError
from sandbox.profile.generalise import (
    FAKE_ROOTS,
    BaseCoverage,
    Options,
    collapse_families,
    exec_families,
    rewrite,
    subsumes,
)
from sandbox.profile.merge import add_coverage, join_phase, merge_rules, with_novelty
from sandbox.profile.model import Category, Coverage, Learning, Profile, Rule
from sandbox.profile.observations import (
    Observation,
    ObservationSet,
    Warn,
    read_sources,
    stderr_warn,
)
from sandbox.runtime.globs import is_glob, process_target
from sandbox.runtime.policy import build_matcher

DEFAULT_EXTENDS = ("python-runtime",)
# Observed imports that mean the function uses the AWS SDK: extend the bundle instead of
# learning hundreds of botocore submodules.
_AWS_SDK_MODULES = ("boto3", "botocore")


class BuildError(SandboxError, ValueError):
    """The build cannot produce a useful profile (e.g. no observations at all)."""


@dataclass(frozen=True)
class BuildOptions:
    """Settings of one build (see :class:`sandbox.profile.generalise.Options`)."""

    threshold: int = 3
    generalise_regions: bool = False
    literal_cap: int = 20
    region: str | None = None
    extends: tuple[str, ...] = DEFAULT_EXTENDS
    base_dir: Path | None = None
    insights: bool = False  # CloudWatch sources aggregated by Logs Insights
    allow_unauthenticated: bool | None = None  # records without a MAC (see observations.py)

    def generalise(self) -> Options:
        return Options(self.threshold, self.generalise_regions, self.literal_cap)


@dataclass
class BuildReport:
    """What a build read, skipped, dropped and added."""

    lines: int = 0
    observations: int = 0
    invocations: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    covered_by_base: int = 0
    credited_to_existing: int = 0
    ceiling_denied: list[str] = field(default_factory=list)
    new_rules: int = 0
    families: dict[str, int] = field(default_factory=dict)
    extends_added: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"read {self.lines} line(s): {self.observations} new observation(s), "
            f"{self.invocations} invocation end(s)",
        ]
        if self.skipped:
            lines.append(
                "skipped: " + ", ".join(f"{n} {r}" for r, n in sorted(self.skipped.items()))
            )
        lines.append(
            f"{self.covered_by_base} covered by base bundles, {self.credited_to_existing} by existing "
            f"rules, {self.new_rules} new rule(s)"
        )
        for glob, n in sorted(self.families.items()):
            lines.append(f"family: {n} literals -> {glob}")
        if self.extends_added:
            lines.append("extends added: " + ", ".join(self.extends_added))
        for target in self.ceiling_denied:
            lines.append(f"ceiling denies (not learned): {target}")
        return "\n".join(lines)


def build_profile(
    function: str,
    sources: Sequence[str],
    existing: Profile | None = None,
    options: BuildOptions | None = None,
    *,
    warn: Warn = stderr_warn,
    clients: Mapping[str, Any] | None = None,
) -> tuple[Profile, BuildReport]:
    """Build (or extend) a function's profile from observation sources.

    Parameters
    ----------
    function:
        The function name; records of other functions are skipped.
    sources:
        Files, folders, ``cloudwatch[:GROUP]``, ``s3://bucket/prefix``.
    existing:
        The profile to extend (its cursors make the read incremental).

    Raises
    ------
    BuildError
        When the sources hold no record at all: an empty profile would block everything.

    Example
    -------
    >>> profile, report = build_profile("orders", ["obs/"])  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
    """
    options = options or BuildOptions()
    cursors = existing.learning.sources if existing is not None else {}
    observed = read_sources(
        sources,
        function=function,
        cursors=cursors,
        region=options.region,
        warn=warn,
        clients=clients,
        insights=options.insights,
        allow_unauthenticated=options.allow_unauthenticated,
    )
    return build_from_observations(function, observed, existing, options)


def build_from_observations(
    function: str,
    observed: ObservationSet,
    existing: Profile | None = None,
    options: BuildOptions | None = None,
) -> tuple[Profile, BuildReport]:
    """The build's steps 2-5 on observations already read (see :func:`build_profile`).

    Example
    -------
    >>> from sandbox.profile.observations import ObservationSet
    >>> s = ObservationSet(function="f")
    >>> _ = s.add_line('{"type":"sandbox.observation","v":1,"function":"f","env":"e","phase":"invoke",'
    ...                '"invocation":1,"category":"files","action":"write","target":"{task}/out.txt"}', "x")
    >>> build_from_observations("f", s)[0].rules["files"][0].target
    '{task}/out.txt'
    """
    options = options or BuildOptions()
    report = BuildReport(
        lines=observed.lines,
        observations=len(observed.observations),
        invocations=len(observed.invocations),
        skipped=dict(sorted(observed.skipped.items())),
    )
    if existing is None and not observed.observations and not observed.invocations:
        raise BuildError(
            f"no observations of function {function!r} in the sources: refusing to write an empty "
            "profile (it would block everything). Run the function in learn mode first, and check "
            "--function and the skipped counts."
        )
    profile = (
        existing.model_copy(deep=True)
        if existing is not None
        else Profile(function=function, extends=list(options.extends))
    )
    if profile.function != function:
        raise BuildError(f"the existing profile is for {profile.function!r}, not {function!r}")
    items = sorted(observed.observations.values())
    uses_sdk = any(
        o.category == "modules" and o.target.partition(".")[0] in _AWS_SDK_MODULES for o in items
    )
    if uses_sdk and "aws-sdk" not in profile.extends:
        profile.extends = sorted({*profile.extends, "aws-sdk"} - {"python-runtime"})
        report.extends_added.append("aws-sdk")
    base = BaseCoverage(
        profile.extends,
        base_dir=options.base_dir,
        deny={
            c: [d.model_dump(exclude_none=True) for d in rules] for c, rules in profile.deny.items()
        },
    )
    gen = options.generalise()

    fresh: list[Observation] = []
    denied: set[str] = set()
    credited: dict[tuple[str, int], Coverage] = {}
    rule_index = _RuleIndex(profile)
    for obs in items:
        if base.denied(obs.category, obs.action, obs.target, obs.argv):
            denied.add(f"{obs.category} {obs.action} {_shown(obs.target, obs.argv)}")
            continue
        if base.covers(obs.category, obs.action, obs.target, obs.argv, obs.phase):
            report.covered_by_base += 1
            continue
        where = rule_index.find(obs)
        if where is not None:
            report.credited_to_existing += 1
            credited[where] = add_coverage(
                credited.get(where), _coverage(obs, None), options.literal_cap
            )  # type: ignore[assignment]
            rule_index.widen(where, obs.phase)
            continue
        fresh.append(obs)
    report.ceiling_denied = sorted(denied)
    rule_index.credit(credited, options.literal_cap)

    # Stage 1: the table.
    candidates: dict[str, dict[tuple[str, str, tuple[str, ...] | None], Rule]] = {}
    for obs in fresh:
        target, argv = rewrite(obs.category, obs.action, obs.target, obs.argv, gen)
        literal = _shown(obs.target, obs.argv)
        shown = _shown(target, argv)
        rule = Rule(
            action=obs.action,
            target=target,
            argv=list(argv) if argv is not None else None,
            phase=obs.phase,  # type: ignore[arg-type]
            coverage=_coverage(obs, literal if literal != shown else None),
        )
        _add(candidates.setdefault(obs.category, {}), rule, options.literal_cap)

    # Stage 2: families with evidence, over new literals and the profile's own literal rules.
    for category in sorted(candidates):
        by_action: dict[str, list[Rule]] = {}
        for rule in candidates[category].values():
            by_action.setdefault(rule.action, []).append(rule)
        for action, rules in sorted(by_action.items()):
            own = [
                r
                for r in profile.rules.get(cast(Category, category), [])
                if r.action == action and r.argv is None
            ]
            targets = [r.target for r in rules if r.argv is None] + [r.target for r in own]
            mapping = collapse_families(category, targets, gen, action)
            if not mapping:
                continue
            for glob in set(mapping.values()):
                report.families[f"{category} {action} {glob}"] = sum(
                    1 for g in mapping.values() if g == glob
                )
            for rule in rules:
                if rule.target in mapping:
                    del candidates[category][_key(rule)]
                    _add(
                        candidates[category],
                        _retarget(rule, mapping[rule.target]),
                        options.literal_cap,
                    )
            kept = []
            for rule in profile.rules.get(category, []):  # type: ignore[call-overload]
                if rule.action == action and rule.argv is None and rule.target in mapping:
                    _add(
                        candidates[category],
                        _retarget(rule, mapping[rule.target]),
                        options.literal_cap,
                    )
                else:
                    kept.append(rule)
            profile.rules[category] = kept  # type: ignore[index]
        if category == "processes" and "exec" in by_action:
            _exec_families(profile, candidates, by_action["exec"], gen, report, options)

    # Stage 3: fold subsumed rules, drop globs the base already allows, merge into the profile.
    for category in sorted(candidates):
        rules = list(candidates[category].values())
        existing_rules = list(profile.rules.get(category, []))  # type: ignore[call-overload]
        new_rules: list[Rule] = []
        for rule in sorted(rules, key=lambda r: (r.action, r.target, r.argv or [])):
            if is_glob(rule.target) and base.covers(
                category, rule.action, rule.target, rule.argv, rule.phase
            ):
                report.covered_by_base += rule.coverage.count if rule.coverage else 1
                continue
            new_rules.append(rule)
        folded = _fold_subsumed(category, [*existing_rules, *new_rules], options.literal_cap)
        before = {(r.action, r.target, tuple(r.argv or ())) for r in existing_rules}
        report.new_rules += sum(
            1 for r in folded if (r.action, r.target, tuple(r.argv or ())) not in before
        )
        profile.rules[category] = folded  # type: ignore[index]
    profile.rules = {c: r for c, r in sorted(profile.rules.items()) if r}

    profile.learning = _learning(profile.learning, observed)
    return with_novelty(Profile.model_validate(profile.model_dump())), report


# --------------------------------------------------------------------------- helpers


def _shown(target: str, argv: Iterable[str] | None) -> str:
    if argv is None:
        return target
    import shlex

    return shlex.join([target, *argv])


def _coverage(obs: Observation, literal: str | None) -> Coverage:
    return Coverage(
        count=1,
        first_seen=obs.time or None,
        last_seen=obs.time or None,
        environments=[obs.env],
        literals=[literal] if literal else [],
        env_counts={obs.env: 1},
        first=(obs.time, obs.env, obs.invocation),
    )


def _key(rule: Rule) -> tuple[str, str, tuple[str, ...] | None]:
    return (rule.action, rule.target, tuple(rule.argv) if rule.argv is not None else None)


def _add(bucket: dict[tuple[str, str, tuple[str, ...] | None], Rule], rule: Rule, cap: int) -> None:
    key = _key(rule)
    known = bucket.get(key)
    if known is None:
        bucket[key] = rule
        return
    bucket[key] = Rule(
        action=rule.action,
        target=rule.target,
        argv=rule.argv,
        phase=join_phase(known.phase, rule.phase),
        coverage=add_coverage(known.coverage, rule.coverage, cap),
    )


def _exec_families(
    profile: Profile,
    candidates: dict[str, dict[tuple[str, str, tuple[str, ...] | None], Rule]],
    rules: list[Rule],
    gen: Options,
    report: BuildReport,
    options: BuildOptions,
) -> None:
    """Argument and shell-word families over new exec rules and the profile's own."""
    own = [r for r in profile.rules.get("processes", []) if r.action == "exec" and r.argv]
    pool = [(r.target, tuple(r.argv)) for r in [*rules, *own] if r.argv is not None]
    mapping = exec_families(pool, gen.threshold)
    if not mapping:
        return
    for (exec_path, _argv), new_argv in mapping.items():
        shown = _shown(exec_path, new_argv)
        report.families[f"processes exec {shown}"] = (
            report.families.get(f"processes exec {shown}", 0) + 1
        )
    bucket = candidates["processes"]
    for rule in rules:
        key = (rule.target, tuple(rule.argv or ()))
        if rule.argv is not None and key in mapping:
            del bucket[_key(rule)]
            _add(bucket, _reargv(rule, list(mapping[key])), options.literal_cap)
    kept = []
    for rule in profile.rules.get("processes", []):
        key = (rule.target, tuple(rule.argv or ()))
        if rule.action == "exec" and rule.argv is not None and key in mapping:
            _add(bucket, _reargv(rule, list(mapping[key])), options.literal_cap)
        else:
            kept.append(rule)
    profile.rules["processes"] = kept


def _reargv(rule: Rule, argv: list[str]) -> Rule:
    coverage = rule.coverage.model_copy(deep=True) if rule.coverage else Coverage(count=0)
    if not coverage.literals:
        coverage.literals = [_shown(rule.target, rule.argv)]
    return Rule(
        action=rule.action, target=rule.target, argv=argv, phase=rule.phase, coverage=coverage
    )


def _retarget(rule: Rule, glob: str) -> Rule:
    coverage = rule.coverage.model_copy(deep=True) if rule.coverage else Coverage(count=0)
    if not coverage.literals and not is_glob(rule.target):
        coverage.literals = [rule.target]
    return Rule(
        action=rule.action, target=glob, argv=rule.argv, phase=rule.phase, coverage=coverage
    )


def _fold_subsumed(category: str, rules: list[Rule], cap: int) -> list[Rule]:
    """Merge equal rules and fold a rule into another glob of the same action that covers it."""
    merged = merge_rules([], rules, cap, add=True)
    globs = [r for r in merged if is_glob(r.target)]
    out: dict[tuple[str, str, tuple[str, ...] | None], Rule] = {_key(r): r for r in merged}
    for rule in merged:
        if rule.argv is not None:
            continue
        for glob in globs:
            if glob.action != rule.action or glob.argv is not None or glob is rule:
                continue
            if _key(glob) in out and subsumes(category, glob.target, rule.target):
                del out[_key(rule)]
                literal = (
                    rule.coverage.literals
                    if rule.coverage and rule.coverage.literals
                    else [rule.target]
                )
                extra = Coverage(
                    **{**(rule.coverage or Coverage(count=0)).model_dump(), "literals": literal}
                )
                host = out[_key(glob)]
                out[_key(glob)] = Rule(
                    action=host.action,
                    target=host.target,
                    argv=None,
                    phase=join_phase(host.phase, rule.phase),
                    coverage=add_coverage(host.coverage, extra, cap),
                )
                break
    return [out[k] for k in sorted(out, key=lambda k: (k[0], k[1], k[2] or ()))]


class _RuleIndex:
    """Finds the existing rule that already allows an observation (any phase; it then widens)."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self.matchers: list[tuple[str, int, Any]] = []
        for category, rules in sorted(profile.rules.items()):
            for i, rule in enumerate(rules):
                pattern: Any = [rule.target, rule.argv] if category == "processes" else rule.target
                self.matchers.append((category, i, build_matcher(category, [pattern], FAKE_ROOTS)))
        self.categories = {c: i for i, c in enumerate(sorted(profile.rules))}
        self._phases: dict[tuple[str, int], str] = {}

    def find(self, obs: Observation) -> tuple[str, int] | None:
        if obs.category == "processes" and obs.action == "exec":
            args = [FAKE_ROOTS.expand_all(a)[0] for a in obs.argv or ()]
            concrete = [process_target(head, args) for head in FAKE_ROOTS.expand(obs.target)]
        elif obs.category in ("files", "native", "code"):
            concrete = FAKE_ROOTS.expand(obs.target)
        else:
            concrete = [obs.target]
        for category, i, matcher in self.matchers:
            rule = self.profile.rules[category][i]  # type: ignore[index]
            if category != obs.category or rule.action != obs.action:
                continue
            if all(matcher.match(c) for c in concrete):
                return (category, i)
        return None

    def widen(self, where: tuple[str, int], phase: str) -> None:
        rule = self.profile.rules[where[0]][where[1]]  # type: ignore[index]
        rule.phase = join_phase(rule.phase, phase)

    def credit(self, credited: Mapping[tuple[str, int], Coverage], cap: int) -> None:
        for (category, i), coverage in credited.items():
            rule = self.profile.rules[category][i]  # type: ignore[index]
            own = rule.coverage
            if not is_glob(rule.target) and rule.argv is None:
                coverage = coverage.model_copy(update={"literals": []})
            rule.coverage = add_coverage(own, coverage, cap)


def _learning(state: Learning, observed: ObservationSet) -> Learning:
    """Add what was read: invocations per environment, times, cursors.

    Novelty (``last_novel``, ``invocations_since_novel``) is then derived from the rules'
    first observations (:func:`sandbox.profile.merge.novelty`), never from how the
    observations were batched into builds.
    """
    env_invocations = dict(state.env_invocations)
    times: list[str] = []
    for inv in observed.invocations.values():
        env_invocations[inv.env] = max(env_invocations.get(inv.env, 0), inv.invocation)
        if inv.time:
            times.append(inv.time)
    for obs in observed.observations.values():
        env_invocations[obs.env] = max(env_invocations.get(obs.env, 0), obs.invocation)
        if obs.time:
            times.append(obs.time)
    return Learning(
        invocations=max(sum(env_invocations.values()), state.invocations),
        environments=sorted(set(state.environments) | set(env_invocations)),
        first_seen=min([*times, state.first_seen] if state.first_seen else times, default=None),
        last_seen=max([*times, state.last_seen] if state.last_seen else times, default=None),
        last_novel=state.last_novel,
        invocations_since_novel=state.invocations_since_novel,
        sources=dict(sorted({**state.sources, **observed.cursors}.items())),
        env_invocations=dict(sorted(env_invocations.items())),
    )


__all__ = ["BuildError", "BuildOptions", "BuildReport", "build_from_observations", "build_profile"]
