"""The profile model (tooling side, pydantic v2): validated, deterministic, schema-exported.

The runtime never imports this module; it reads the compiled form (:mod:`sandbox.runtime.compiler`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sandbox.errors import ProfileError
from sandbox.runtime.categories import ACTIONS
from sandbox.runtime.compiler import SCHEMA_VERSION, compile_profile

assert SCHEMA_VERSION == 1, "update Profile.schema_version's Literal"

Category = Literal["files", "network", "processes", "modules", "native", "code", "aws"]
Phase = Literal["init", "invoke", "any"]


class Coverage(BaseModel):
    """How often a rule was seen, when, in how many environments, from which literals."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(0, ge=0)
    first_seen: str | None = None
    last_seen: str | None = None
    environments: list[str] = Field(default_factory=list)
    literals: list[str] = Field(
        default_factory=list, description="Observed targets behind a glob (capped sample)."
    )
    env_counts: dict[str, int] = Field(
        default_factory=dict,
        description="Observations per execution environment; count is their sum (merge takes the max per environment).",
    )


class Rule(BaseModel):
    """One allow rule: an action on a target (glob) in a phase."""

    model_config = ConfigDict(extra="forbid")

    action: str
    target: str = Field(min_length=1)
    phase: Phase = "any"
    argv: list[str] | None = Field(
        default=None, description="processes/exec only: arguments after argv[0]."
    )
    coverage: Coverage | None = None

    def key(self) -> tuple[str, str, str, tuple[str, ...] | None]:
        return (
            self.action,
            self.target,
            self.phase,
            tuple(self.argv) if self.argv is not None else None,
        )


class DenyRule(BaseModel):
    """An explicit deny added to the ceiling; no learned rule overrides it."""

    model_config = ConfigDict(extra="forbid")

    action: str
    target: str = Field(min_length=1)
    reason: str | None = None


class Learning(BaseModel):
    """Where learning stands: the evidence for switching to enforce."""

    model_config = ConfigDict(extra="allow")

    invocations: int = 0
    environments: list[str] = Field(default_factory=list)
    first_seen: str | None = None
    last_seen: str | None = None
    last_novel: str | None = None
    invocations_since_novel: int = 0
    sources: dict[str, Any] = Field(
        default_factory=dict, description="Incremental read cursors per source."
    )
    env_invocations: dict[str, int] = Field(
        default_factory=dict,
        description="Highest invocation number seen per execution environment; invocations is their sum.",
    )


def _empty_rules() -> dict[Category, list[Rule]]:
    return {}


class Profile(BaseModel):
    """A function's allowlist.

    Example
    -------
    >>> p = Profile(function="orders", extends=["aws-sdk"],
    ...             rules={"files": [Rule(action="read", target="{task}/**", phase="init")]})
    >>> p.compile()["format"]
    'lambda-sandbox.compiled'
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1  # == sandbox.runtime.compiler.SCHEMA_VERSION
    function: str
    description: str | None = None
    extends: list[str] = Field(default_factory=list)
    rules: dict[Category, list[Rule]] = Field(default_factory=_empty_rules)
    deny: dict[Category, list[DenyRule]] = Field(default_factory=dict)
    learning: Learning = Field(default_factory=Learning)

    @model_validator(mode="after")
    def _actions_fit_categories(self) -> Profile:
        sections: tuple[dict[Category, list[Rule]] | dict[Category, list[DenyRule]], ...] = (
            self.rules,
            self.deny,
        )
        for section in sections:
            for category, rules in section.items():
                items: list[Rule | DenyRule] = list(rules)
                for index, rule in enumerate(items):
                    if rule.action not in ACTIONS[category]:
                        raise ValueError(
                            f"rules.{category}[{index}].action {rule.action!r} is not one of "
                            f"{', '.join(ACTIONS[category])}"
                        )
                    if (
                        isinstance(rule, Rule)
                        and rule.argv is not None
                        and (category, rule.action) != ("processes", "exec")
                    ):
                        raise ValueError(
                            f"{category}[{index}].argv is only for processes/exec rules"
                        )
        return self

    # ------------------------------------------------------------------ I/O

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Profile:
        """Read and validate a profile file; errors name the file and the field."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProfileError("file not found", source=str(path)) from None
        except OSError as exc:
            raise ProfileError(f"cannot read: {exc.strerror}", source=str(path)) from exc
        return cls.from_json(text, source=str(path))

    @classmethod
    def from_json(cls, text: str, *, source: str = "profile") -> Profile:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProfileError(f"not valid JSON: {exc}", source=source) from exc
        if isinstance(data, dict) and data.get("format") == "lambda-sandbox.compiled":
            raise ProfileError("this is a compiled profile; give the source profile", source=source)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ProfileError(first["msg"], source=source, field=field or None) from exc

    def to_json(self) -> str:
        """Deterministic JSON: rules sorted, keys sorted, two-space indent, newline at the end."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["rules"] = {
            category: sorted(rules, key=_rule_sort_key)
            for category, rules in sorted(data.get("rules", {}).items())
            if rules
        }
        data["deny"] = {
            category: sorted(rules, key=lambda r: (r["action"], r["target"]))
            for category, rules in sorted(data.get("deny", {}).items())
            if rules
        }
        if not data["deny"]:
            del data["deny"]
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (a temp file renamed over the target): a crash never truncates it."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        os.replace(tmp, target)

    def compile(self, *, base_dir: Path | None = None, kernel: bool = True) -> dict[str, Any]:
        """The runtime form (see :func:`sandbox.runtime.compiler.compile_profile`)."""
        document = json.loads(self.to_json())
        return compile_profile(document, base_dir=base_dir, source=self.function, kernel=kernel)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The published JSON Schema of the profile format."""
        schema = cls.model_json_schema()
        schema["$id"] = "https://lambda-sandbox.dev/schema/profile-v1.json"
        return schema


def _rule_sort_key(rule: dict[str, Any]) -> tuple[str, str, str, str]:
    return (rule["action"], rule["target"], rule.get("phase", "any"), json.dumps(rule.get("argv")))
