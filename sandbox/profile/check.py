"""``profile check``: validate a profile file and lint it (over-broad globs, the ceiling, risk)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import ProfileError
from sandbox.profile.generalise import FAKE_ROOTS, BaseCoverage
from sandbox.profile.model import Profile
from sandbox.profile.risk import broad_reason, risk
from sandbox.runtime.policy import build_matcher


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


def _reason(exc: ProfileError, name: str) -> str:
    """The error's message without the file and field it names (the issue line has them),
    keeping another file's name (a broken learning record beside the profile)."""
    text = str(exc)
    if exc.source:
        text = text.removeprefix(f"{exc.source}: ")
    if exc.field:
        text = text.removeprefix(f"{exc.field}: ")
    return text if not exc.source or exc.source == name else f"{exc.source}: {text}"


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
        return [Issue(name, exc.field or "-", "error", _reason(exc, name))]
    issues: list[Issue] = []
    try:
        profile.compile(base_dir=Path(path).parent, kernel=False)
        base = BaseCoverage(
            profile.extends,
            base_dir=Path(path).parent,
            deny={c: [d.model_dump(exclude_none=True) for d in r] for c, r in profile.deny.items()},
        )
    except ProfileError as exc:
        return [Issue(name, exc.field or "-", "error", _reason(exc, name))]
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


__all__ = ["Issue", "check_profile"]
