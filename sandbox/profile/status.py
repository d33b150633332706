"""``profile status``: is learning done? The evidence, as lines or as data."""

from __future__ import annotations

import datetime as _dt
import re

from sandbox.profile.model import Profile

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


__all__ = ["learning_evidence", "learning_status", "parse_duration", "status_data"]
