"""A planned change of one function's configuration: before → after, shown and then applied.

The same object is printed by ``--dry-run`` (text or ``--json``) and written by the real run:
the layers, environment variables and handler of ``after`` go into one
``UpdateFunctionConfiguration`` carrying ``revision_id``, the revision they were planned from.
Environment values are shown only for the sandbox's own variables (``SANDBOX_*`` and
``AWS_LAMBDA_EXEC_WRAPPER``); the function's other variables appear by name only, since they
may hold secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Change", "State", "format_change", "shown_variable"]


def shown_variable(name: str) -> bool:
    """Whether a variable's value may be printed (the sandbox's own variables only).

    Example
    -------
    >>> shown_variable("SANDBOX_MODE"), shown_variable("DB_PASSWORD")
    (True, False)
    """
    return name.startswith("SANDBOX_") or name == "AWS_LAMBDA_EXEC_WRAPPER"


@dataclass(frozen=True)
class State:
    """A function's sandbox-relevant configuration."""

    layers: tuple[str, ...]
    env: Mapping[str, str]
    handler: str
    mode: str
    profile_version: int | None

    def same_configuration(self, other: State) -> bool:
        """Same layers, variables and handler (what a write would change)."""
        return (self.layers, dict(self.env), self.handler) == (
            other.layers,
            dict(other.env),
            other.handler,
        )

    def env_shown(self) -> dict[str, str | None]:
        """Variables by name; the value only for the sandbox's own (``None`` otherwise)."""
        return {k: (v if shown_variable(k) else None) for k, v in sorted(self.env.items())}


@dataclass(frozen=True)
class Change:
    """Before → after for one function, and the revision the plan was made from.

    Example
    -------
    >>> before = State(("arn:aws:lambda:r:1:layer:deps:1",), {"DB": "x"}, "app.handler", "off", None)
    >>> after = State(before.layers, {"DB": "x", "SANDBOX_MODE": "learn"}, "app.handler", "learn", None)
    >>> Change("orders", before, after, "rev-1").to_dict()["environment"]["after"]
    {'DB': None, 'SANDBOX_MODE': 'learn'}
    """

    function: str
    before: State
    after: State
    revision_id: str | None = None

    @property
    def changes(self) -> bool:
        """Whether applying it writes anything."""
        return not self.before.same_configuration(self.after)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``plan`` of an outcome)."""
        return {
            "changes": self.changes,
            "revision_id": self.revision_id,
            "layers": {"before": list(self.before.layers), "after": list(self.after.layers)},
            "environment": {"before": self.before.env_shown(), "after": self.after.env_shown()},
            "handler": {"before": self.before.handler, "after": self.after.handler},
            "mode": {"before": self.before.mode, "after": self.after.mode},
            "profile_version": {
                "before": self.before.profile_version,
                "after": self.after.profile_version,
            },
        }


def _layer_label(arn: str) -> str:
    parts = arn.split(":")
    return f"{parts[-2]}:{parts[-1]}" if len(parts) >= 8 else arn


def _env_lines(before: Mapping[str, str | None], after: Mapping[str, str | None]) -> list[str]:
    lines = []
    kept = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, ...), after.get(name, ...)
        if old is ... and new is not ...:
            lines.append(f"+ {name}" + (f"={new}" if new is not None else ""))
        elif new is ... and old is not ...:
            lines.append(f"- {name}" + (f"={old}" if old is not None else ""))
        elif old != new:
            lines.append(f"~ {name}={old} -> {new}")
        elif shown_variable(name):
            lines.append(f"  {name}={new}")
        else:
            kept.append(name)
    if kept:
        lines.append(f"  kept: {', '.join(kept)}")
    return lines


def format_change(plan: Mapping[str, Any], indent: str = "    ") -> list[str]:
    """The text form of :meth:`Change.to_dict` (one aspect per line, before -> after).

    Example
    -------
    >>> before = State((), {}, "app.handler", "off", None)
    >>> after = State((), {"SANDBOX_MODE": "learn"}, "app.handler", "learn", None)
    >>> format_change(Change("f", before, after).to_dict(), indent="")[2]
    'mode:    off -> learn'
    """

    def pair(key: str, show: Any = str) -> str:
        old, new = plan[key]["before"], plan[key]["after"]
        text_old = "-" if old in (None, [], "") else show(old)
        text_new = "-" if new in (None, [], "") else show(new)
        return f"{text_old} (unchanged)" if old == new else f"{text_old} -> {text_new}"

    def layers(value: list[str]) -> str:
        return ", ".join(_layer_label(a) for a in value)

    def version(value: int) -> str:
        return f"v{value}"

    env = _env_lines(plan["environment"]["before"], plan["environment"]["after"])
    lines = [
        f"layers:  {pair('layers', layers)}",
        f"handler: {pair('handler')}",
        f"mode:    {pair('mode')}",
        f"profile: {pair('profile_version', version)}",
        "env:",
        *(f"  {line}" for line in env),
    ]
    return [indent + line for line in lines]
