"""Review tools: ``diff`` and ``show``, with the risk marks of :mod:`sandbox.profile.risk`.

A ``!`` before a ``+`` line (reason at the end) flags an addition a reviewer must read. ``check``
(:mod:`.check`), ``status`` (:mod:`.status`) and ``compile``/``schema`` (:mod:`.compiled`) live
in their own modules and are re-exported here.
"""

from __future__ import annotations

import json

from sandbox.profile.check import Issue, check_profile
from sandbox.profile.compiled import compile_file, schema_text
from sandbox.profile.model import Profile, Rule
from sandbox.profile.risk import broad_reason, risk
from sandbox.profile.status import (
    learning_evidence,
    learning_status,
    parse_duration,
    status_data,
)


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


# Re-exported: check, status and compile live in their own modules.
__all__ = [
    "Issue",
    "broad_reason",
    "check_profile",
    "compile_file",
    "describe",
    "diff_json",
    "diff_profiles",
    "learning_evidence",
    "learning_status",
    "parse_duration",
    "risk",
    "rule_dict",
    "schema_text",
    "show_json",
    "show_profile",
    "status_data",
]
