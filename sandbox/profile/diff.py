"""Review tools: ``diff`` (with risk marks), ``show``, ``check`` (lint), ``status``, ``compile``.

Risk marks (``!`` before a ``+`` line, reason at the end) flag additions a reviewer must read:

==================  =======================================================================
reason              when
==================  =======================================================================
write outside tmp   ``files`` ``write`` not under ``{tmp}`` (``/dev/null`` excepted)
/proc               any ``files`` rule under ``/proc``
exec / shell        any ``processes`` rule; ``shell`` when the executable is a shell
raw IP host         ``network`` rule whose host is an IP address
native code         any ``native`` rule, or importing ``ctypes``/``_ctypes``/``cffi``
code compile        any ``code`` rule (``eval``/``exec`` of strings after init)
broad glob          a target ``check`` calls over-broad
==================  =======================================================================
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import ProfileError
from sandbox.profile.generalise import FAKE_ROOTS, BaseCoverage
from sandbox.profile.model import Profile, Rule, atomic_write
from sandbox.profile.risk import broad_reason, risk
from sandbox.runtime.policy import build_matcher


def describe(category: str, rule: Rule) -> str:
    """One rule as one line: ``action target [argv] (phase)``.

    Example
    -------
    >>> describe("files", Rule(action="read", target="/etc/hosts", phase="init"))
    'read /etc/hosts (init)'
    """
    text = f"{rule.action} {rule.target}"
    if rule.argv is not None:
        text += " " + json.dumps(rule.argv)
    return f"{text} ({rule.phase})"


def diff_profiles(
    old: Profile, new: Profile, *, old_name: str = "old", new_name: str = "new"
) -> list[str]:
    """A review diff: grouped by category, ``+``/``-`` lines, ``!`` on risky additions.

    Example
    -------
    >>> a = Profile(function="f")
    >>> b = Profile(function="f", rules={"processes": [Rule(action="exec", target="/bin/sh")]})
    >>> diff_profiles(a, b)[2:]
    ['processes:', '! + exec /bin/sh (any)    [shell]']
    """
    lines = [f"--- {old_name}", f"+++ {new_name}"]
    for name in sorted(set(old.extends) | set(new.extends)):
        if name not in new.extends:
            lines.append(f"  - extends {name}")
        elif name not in old.extends:
            lines.append(f"  + extends {name}")
    for category in sorted(set(old.rules) | set(new.rules)):
        before = {describe(category, r): r for r in old.rules.get(category, [])}
        after = {describe(category, r): r for r in new.rules.get(category, [])}
        changes: list[str] = []
        for text in sorted(set(before) | set(after)):
            if text in before and text not in after:
                changes.append(f"  - {text}")
            elif text in after and text not in before:
                rule = after[text]
                reason = risk(category, rule)
                seen = ""
                if rule.coverage and rule.coverage.count:
                    seen = f"  seen {rule.coverage.count}x in {len(rule.coverage.environments)} env"
                changes.append(
                    f"{'!' if reason else ' '} + {text}{seen}"
                    + (f"    [{reason}]" if reason else "")
                )
        if changes:
            lines.append(f"{category}:")
            lines.extend(changes)
    for category in sorted(set(old.deny) | set(new.deny)):
        before_d = {f"deny {r.action} {r.target}" for r in old.deny.get(category, [])}
        after_d = {f"deny {r.action} {r.target}" for r in new.deny.get(category, [])}
        for text in sorted(before_d - after_d):
            lines.append(f"  - {category} {text}")
        for text in sorted(after_d - before_d):
            lines.append(f"  + {category} {text}")
    a, b = old.learning, new.learning
    if (a.invocations, a.invocations_since_novel, len(a.environments)) != (
        b.invocations,
        b.invocations_since_novel,
        len(b.environments),
    ):
        lines.append(
            f"learning: invocations {a.invocations} -> {b.invocations}, environments "
            f"{len(a.environments)} -> {len(b.environments)}, quiet for {b.invocations_since_novel} "
            f"invocation(s) since {b.last_novel or '-'}"
        )
    if len(lines) == 2:
        lines.append("(no changes)")
    return lines


def rule_dict(category: str, rule: Rule) -> dict[str, object]:
    """One rule as a JSON-ready dict with its risk mark (``None`` when not risky)."""
    data: dict[str, object] = {"category": category, "action": rule.action, "target": rule.target}
    if rule.argv is not None:
        data["argv"] = list(rule.argv)
    data["phase"] = rule.phase
    data["risk"] = risk(category, rule)
    if rule.coverage is not None:
        data["count"] = rule.coverage.count
    return data


def diff_json(old: Profile, new: Profile) -> dict[str, object]:
    """The review diff as data: added/removed rules (with risk), extends and deny changes.

    Example
    -------
    >>> diff_json(Profile(function="f"), Profile(function="f"))["changed"]
    False
    """
    added: list[dict[str, object]] = []
    removed: list[dict[str, object]] = []
    for category in sorted(set(old.rules) | set(new.rules)):
        before = {describe(category, r): r for r in old.rules.get(category, [])}
        after = {describe(category, r): r for r in new.rules.get(category, [])}
        added += [rule_dict(category, after[t]) for t in sorted(set(after) - set(before))]
        removed += [rule_dict(category, before[t]) for t in sorted(set(before) - set(after))]
    deny_old = {(c, d.action, d.target) for c, ds in old.deny.items() for d in ds}
    deny_new = {(c, d.action, d.target) for c, ds in new.deny.items() for d in ds}
    extends = {
        "added": sorted(set(new.extends) - set(old.extends)),
        "removed": sorted(set(old.extends) - set(new.extends)),
    }
    deny = {
        "added": [list(d) for d in sorted(deny_new - deny_old)],
        "removed": [list(d) for d in sorted(deny_old - deny_new)],
    }
    changed = bool(added or removed or extends["added"] or extends["removed"])
    changed = changed or bool(deny["added"] or deny["removed"])
    return {
        "changed": changed,
        "added": added,
        "removed": removed,
        "risky_added": sum(1 for r in added if r["risk"]),
        "extends": extends,
        "deny": deny,
    }


def show_json(profile: Profile) -> dict[str, object]:
    """A profile's rules (with risk marks) and learning evidence as data."""
    return {
        "function": profile.function,
        "extends": list(profile.extends),
        "rules": [
            rule_dict(category, rule)
            for category, rules in sorted(profile.rules.items())
            for rule in rules
        ],
        "deny": [
            {"category": c, "action": d.action, "target": d.target, "reason": d.reason}
            for c, ds in sorted(profile.deny.items())
            for d in ds
        ],
        "learning": profile.learning.model_dump(mode="json", exclude={"sources"}),
    }


def show_profile(profile: Profile) -> str:
    """A readable summary of one profile.

    Example
    -------
    >>> print(show_profile(Profile(function="f")).splitlines()[0])
    profile f (extends: -)
    """
    out = [f"profile {profile.function} (extends: {', '.join(profile.extends) or '-'})"]
    if profile.description:
        out.append(f"  {profile.description}")
    for category, rules in sorted(profile.rules.items()):
        out.append(f"{category}: {len(rules)} rule(s)")
        for rule in rules:
            reason = risk(category, rule)
            count = f"  [{rule.coverage.count}x]" if rule.coverage and rule.coverage.count else ""
            out.append(f"  {'!' if reason else ' '} {describe(category, rule)}{count}")
    for category, denies in sorted(profile.deny.items()):
        for d in denies:
            out.append(
                f"deny {category} {d.action} {d.target}" + (f"  ({d.reason})" if d.reason else "")
            )
    out.extend(learning_evidence(profile))
    return "\n".join(out)


@dataclass(frozen=True)
class Issue:
    """One finding of ``check``: file, location, level and reason."""

    file: str
    where: str
    level: str  # "error" | "warning" | "risk" (a rule to read; fails only with --strict)
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "where": self.where, "level": self.level, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.level}: {self.reason}"


def _ceiling_probe(pattern: str) -> str:
    return pattern.replace("*", "1")


def check_profile(path: str | Path) -> list[Issue]:
    """Validate a profile file and lint it: over-broad globs, rules the ceiling denies, risky rules.

    Levels: ``error`` (invalid, over-broad, denied by the ceiling), ``warning`` (overlaps the
    ceiling), ``risk`` (a rule a reviewer must read: a shell or any exec, a raw IP, a write
    under ``{task}``, native code, ``code compile``; ``check --strict`` fails on these).

    Example
    -------
    >>> [str(i) for i in check_profile("profiles/orders.json")]  # doctest: +SKIP
    []
    """
    name = str(path)
    try:
        profile = Profile.load(path)
    except ProfileError as exc:
        return [Issue(name, exc.field or "-", "error", str(exc).split(": ")[-1])]
    issues: list[Issue] = []
    try:
        profile.compile(base_dir=Path(path).parent, kernel=False)
        base = BaseCoverage(
            profile.extends,
            base_dir=Path(path).parent,
            deny={c: [d.model_dump(exclude_none=True) for d in r] for c, r in profile.deny.items()},
        )
    except ProfileError as exc:
        return [Issue(name, exc.field or "-", "error", str(exc).split(": ")[-1])]
    from sandbox.runtime.compiler import CEILING

    ceiling: dict[str, list[str]] = {k: list(v) for k, v in CEILING.items()}
    for category, denies in profile.deny.items():
        for d in denies:
            ceiling.setdefault(f"{category}/{d.action}", []).append(d.target)
    for category, rules in sorted(profile.rules.items()):
        for index, rule in enumerate(rules):
            where = f"rules.{category}[{index}] {rule.action} {rule.target}"
            broad = broad_reason(category, rule)
            if broad:
                issues.append(Issue(name, where, "error", f"over-broad glob: {broad}"))
            mark = risk(category, rule)
            if mark and not broad:
                issues.append(Issue(name, where, "risk", mark))
            if base.denied(category, rule.action, rule.target, rule.argv):
                issues.append(Issue(name, where, "error", "the ceiling denies this rule entirely"))
                continue
            pattern = [rule.target, rule.argv] if category == "processes" else rule.target
            matcher = build_matcher(category, [pattern], FAKE_ROOTS)
            for denied in ceiling.get(f"{category}/{rule.action}", []):
                if matcher.match(_ceiling_probe(denied)):
                    issues.append(
                        Issue(
                            name,
                            where,
                            "warning",
                            f"overlaps the ceiling ({denied}): that part stays denied",
                        )
                    )
                    break
    return issues


# --------------------------------------------------------------------------- status

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: str) -> float:
    """``90`` / ``90s`` / ``15m`` / ``1h`` / ``2d`` / ``1w`` → seconds.

    Example
    -------
    >>> parse_duration("1h")
    3600.0
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (e.g. 30m, 1h, 2d)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match[2]]
    return float(match[1]) * unit


def _parse_time(text: str | None) -> _dt.datetime | None:
    if not text:
        return None
    try:
        return _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def learning_evidence(profile: Profile) -> list[str]:
    learning = profile.learning
    return [
        f"learning: {learning.invocations} invocation(s) in {len(learning.environments)} environment(s), "
        f"{learning.first_seen or '-'} .. {learning.last_seen or '-'}",
        f"  last novel observation: {learning.last_novel or '-'}; "
        f"{learning.invocations_since_novel} invocation(s) since",
    ]


def status_data(
    profile: Profile,
    *,
    invocations: int = 100,
    quiet_for: float = 86400.0,
    now: _dt.datetime | None = None,
) -> dict[str, object]:
    """Is learning done, as data (the evidence ``status`` prints; ``status --json``).

    Novelty is derived from the rules' first observations (:func:`sandbox.profile.merge.novelty`),
    so the answer does not depend on how the observations were batched into builds.

    Example
    -------
    >>> status_data(Profile(function="f"))["done"]
    False
    """
    from sandbox.profile.merge import novelty

    now = now or _dt.datetime.now(_dt.timezone.utc)
    learning = profile.learning
    last_novel, since, per_env = novelty(profile)
    last = _parse_time(last_novel) or _parse_time(learning.first_seen)
    quiet = (now - last).total_seconds() if last else 0.0
    enough_calls = since >= invocations
    enough_time = last is not None and quiet >= quiet_for
    return {
        "function": profile.function,
        "done": enough_calls and enough_time,
        "invocations": learning.invocations,
        "environments": len(learning.environments),
        "first_seen": learning.first_seen,
        "last_seen": learning.last_seen,
        "last_novel": last_novel,
        "invocations_since_novel": since,
        "quiet_invocations_per_environment": len(per_env),
        "need_invocations": invocations,
        "quiet_seconds": int(quiet),
        "need_quiet_seconds": int(quiet_for),
        "enough_invocations": enough_calls,
        "enough_time": enough_time,
    }


def learning_status(
    profile: Profile,
    *,
    invocations: int = 100,
    quiet_for: float = 86400.0,
    now: _dt.datetime | None = None,
) -> tuple[bool, list[str]]:
    """Is learning done? No novel observation in the last ``invocations`` and ``quiet_for`` seconds.

    Example
    -------
    >>> done, lines = learning_status(Profile(function="f"))
    >>> done
    False
    """
    data = status_data(profile, invocations=invocations, quiet_for=quiet_for, now=now)
    done = bool(data["done"])
    lines = [
        f"{profile.function}: learning {'done: ready for alert/enforce' if done else 'not done'}",
        f"learning: {data['invocations']} invocation(s) in {data['environments']} environment(s), "
        f"{data['first_seen'] or '-'} .. {data['last_seen'] or '-'}",
        f"  last novel observation: {data['last_novel'] or '-'}; "
        f"{data['invocations_since_novel']} invocation(s) since",
        f"  quiet invocations: {data['invocations_since_novel']} (need {invocations}) "
        f"{'ok' if data['enough_invocations'] else 'not yet'}",
        f"  quiet time: {_fmt(float(data['quiet_seconds']))} (need {_fmt(quiet_for)}) "  # type: ignore[arg-type]
        f"{'ok' if data['enough_time'] else 'not yet'}",
    ]
    return done, lines


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"


def compile_file(path: str | Path, out: str | Path) -> dict[str, object]:
    """Validate a profile and write its runtime form (deterministic JSON).

    Example
    -------
    >>> compile_file("profiles/orders.json", "build/orders.compiled.json")  # doctest: +SKIP
    """
    target = Path(out)
    if target.is_dir():
        raise ProfileError(
            "is a directory; give the compiled file's name (e.g. build/NAME.compiled.json)",
            source=str(target),
        )
    profile = Profile.load(path)
    compiled = profile.compile(base_dir=Path(path).parent)
    atomic_write(target, json.dumps(compiled, indent=1, sort_keys=True) + "\n")
    return compiled


def schema_text() -> str:
    """The profile's JSON Schema, deterministic."""
    return json.dumps(Profile.json_schema(), indent=2, sort_keys=True) + "\n"
