"""The profile model (tooling side, pydantic v2): validated, deterministic, schema-exported.

The runtime never imports this module; it reads the compiled form (:mod:`sandbox.runtime.compiler`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sandbox.errors import ProfileError
from sandbox.runtime.categories import ACTIONS
from sandbox.runtime.compiler import SCHEMA_VERSION, compile_profile, with_regex_programs

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
    first: tuple[str, str, int] | None = Field(
        default=None,
        description="The first observation: (time, environment, invocation); joined by min.",
    )

    def first_key(self) -> tuple[str, str, int] | None:
        """The first observation's place in the total order ``(time, env, invocation)``."""
        return self.first


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
    risk: str | None = Field(
        default=None,
        description="Why a reviewer must read this rule (shell, exec, raw IP, write under {task}...); "
        "written by the tools, recomputed on every save.",
    )

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
    #
    # On disk a profile is two files: the policy (NAME.json: rules, phases, risk marks; short
    # and stable, its git diff is the review) and its learning record (NAME.learning.json:
    # per-rule coverage, learning state, read cursors; churns on every build). No machine path
    # is written to either.

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Profile:
        """Read and validate a profile file and its learning record (when present).

        Errors name the file and the field; a file written by a newer version says so.
        """
        policy = cls._read(Path(path))
        record_path = learning_path(path)
        if record_path.exists():
            policy.attach_learning(cls._read_text(record_path), source=str(record_path))
        return policy

    @classmethod
    def _read_text(cls, path: Path) -> str:
        if path.is_dir():
            raise ProfileError("is a directory, not a profile file", source=str(path))
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ProfileError("file not found", source=str(path)) from None
        except OSError as exc:
            raise ProfileError(f"cannot read: {exc.strerror}", source=str(path)) from exc

    @classmethod
    def _read(cls, path: Path) -> Profile:
        return cls.from_json(cls._read_text(path), source=str(path))

    @classmethod
    def from_json(cls, text: str, *, source: str = "profile") -> Profile:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProfileError(f"not valid JSON: {exc}", source=source) from exc
        if isinstance(data, dict) and data.get("format") == "lambda-sandbox.compiled":
            raise ProfileError("this is a compiled profile; give the source profile", source=source)
        if isinstance(data, dict) and data.get("format") == LEARNING_FORMAT:
            raise ProfileError(
                "this is a profile's learning record; give the profile (NAME.json)", source=source
            )
        _check_version(data, source)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ProfileError(first["msg"], source=source, field=field or None) from exc

    def attach_learning(self, text: str, *, source: str = "learning record") -> None:
        """Merge a learning record (``NAME.learning.json``) into this profile's rules and state."""
        from sandbox.profile.merge import join_coverage, join_learning

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProfileError(f"not valid JSON: {exc}", source=source) from exc
        if not isinstance(data, dict) or data.get("format") != LEARNING_FORMAT:
            raise ProfileError(f"not a learning record (format {LEARNING_FORMAT!r})", source=source)
        _check_version(data, source)
        if data.get("function") != self.function:
            raise ProfileError(
                f"the learning record is for {data.get('function')!r}, not {self.function!r}",
                source=source,
                field="function",
            )
        try:
            learning = Learning.model_validate(data.get("learning", {}))
            coverage = {
                str(k): Coverage.model_validate(v)
                for k, v in dict(data.get("coverage", {})).items()
            }
        except (ValidationError, TypeError, ValueError) as exc:
            raise ProfileError(f"invalid learning record: {exc}", source=source) from exc
        self.learning = join_learning(self.learning, learning)
        for category, rules in self.rules.items():
            for rule in rules:
                known = coverage.get(coverage_key(category, rule))
                if known is not None:
                    rule.coverage = join_coverage(rule.coverage, known)

    def to_json(self) -> str:
        """The policy file: rules (one per line), phases and risk marks; deterministic.

        Coverage and learning state go to :meth:`learning_json`, so that a rebuild that only
        saw more of the same changes nothing here.
        """
        from sandbox.profile.risk import risk

        lines = ["{", f'  "schema_version": {self.schema_version},']
        lines.append(f'  "function": {_dumps(self.function)},')
        if self.description:
            lines.append(f'  "description": {_dumps(self.description)},')
        lines.append(f'  "extends": {_dumps(sorted(self.extends))},')
        sections: list[str] = []
        rules = {c: r for c, r in sorted(self.rules.items()) if r}
        body = []
        for category, items in rules.items():
            ordered = sorted(
                (_policy_rule(r, risk(category, r)) for r in items), key=_rule_sort_key
            )
            entries = ",\n".join(f"      {_dumps(r)}" for r in ordered)
            body.append(f'    "{category}": [\n{entries}\n    ]')
        sections.append('  "rules": {' + ("\n" + ",\n".join(body) + "\n  " if body else "") + "}")
        deny = {c: d for c, d in sorted(self.deny.items()) if d}
        if deny:
            dbody = []
            for category, denies in deny.items():
                ordered_d = sorted(
                    (d.model_dump(mode="json", exclude_none=True) for d in denies),
                    key=lambda r: (r["action"], r["target"]),
                )
                entries = ",\n".join(f"      {_dumps(d)}" for d in ordered_d)
                dbody.append(f'    "{category}": [\n{entries}\n    ]')
            sections.append('  "deny": {\n' + ",\n".join(dbody) + "\n  }")
        lines.append(",\n".join(sections))
        lines.append("}")
        return "\n".join(lines) + "\n"

    def learning_json(self) -> str:
        """The learning record: per-rule coverage and the learning state (deterministic JSON)."""
        coverage: dict[str, Any] = {}
        for category, rules in sorted(self.rules.items()):
            for rule in rules:
                if rule.coverage is not None:
                    coverage[coverage_key(category, rule)] = rule.coverage.model_dump(
                        mode="json", exclude_none=True
                    )
        data = {
            "format": LEARNING_FORMAT,
            "schema_version": LEARNING_SCHEMA_VERSION,
            "function": self.function,
            "learning": self.learning.model_dump(mode="json", exclude_none=True),
            "coverage": coverage,
        }
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the policy and its learning record, each atomically (temp file, then rename)."""
        target = Path(path)
        if target.is_dir():
            raise ProfileError(
                "is a directory; give a file name (e.g. NAME.json)", source=str(target)
            )
        atomic_write(learning_path(target), self.learning_json())
        atomic_write(target, self.to_json())

    def compile(self, *, base_dir: Path | None = None, kernel: bool = True) -> dict[str, Any]:
        """The runtime form (see :func:`sandbox.runtime.compiler.compile_profile`)."""
        document = json.loads(self.to_json())
        for rules in document.get("rules", {}).values():
            for rule in rules:
                rule.pop("risk", None)  # a review mark, not policy
        compiled = compile_profile(document, base_dir=base_dir, source=self.function, kernel=kernel)
        # This interpreter's programs of the rules' regexes: install skips re's parse for them.
        return with_regex_programs(compiled)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The published JSON Schema of the profile format."""
        schema = cls.model_json_schema()
        schema["$id"] = "https://lambda-sandbox.dev/schema/profile-v1.json"
        return schema


def _rule_sort_key(rule: dict[str, Any]) -> tuple[str, str, str, str]:
    return (rule["action"], rule["target"], rule.get("phase", "any"), json.dumps(rule.get("argv")))


LEARNING_FORMAT = "lambda-sandbox.learning"
LEARNING_SCHEMA_VERSION = 1


def learning_path(path: str | os.PathLike[str]) -> Path:
    """Where a profile's learning record lives: ``NAME.json`` → ``NAME.learning.json``.

    Example
    -------
    >>> learning_path("profiles/orders.json").as_posix()
    'profiles/orders.learning.json'
    """
    target = Path(path)
    stem = target.name[: -len(".json")] if target.name.endswith(".json") else target.name
    return target.with_name(f"{stem}.learning.json")


def coverage_key(category: str, rule: Rule) -> str:
    """A rule's identity in the learning record: ``category action target [argv]``.

    Example
    -------
    >>> coverage_key("files", Rule(action="read", target="/etc/hosts"))
    'files read /etc/hosts'
    """
    key = f"{category} {rule.action} {rule.target}"
    return key if rule.argv is None else f"{key} {json.dumps(rule.argv, ensure_ascii=False)}"


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path`` and rename it over ``path``.

    Example
    -------
    >>> atomic_write(Path("build/x.json"), "{}\\n")  # doctest: +SKIP
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise ProfileError("is a directory; give a file name", source=str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


_POLICY_KEYS = ("action", "target", "argv", "phase", "risk")


def _policy_rule(rule: Rule, mark: str | None) -> dict[str, Any]:
    data = {"action": rule.action, "target": rule.target, "argv": rule.argv, "phase": rule.phase}
    data["risk"] = mark
    return {k: data[k] for k in _POLICY_KEYS if data[k] is not None}


def _check_version(data: Any, source: str) -> None:
    """A document of a newer schema names the version instead of failing field by field."""
    if not isinstance(data, dict):
        return
    version = data.get("schema_version")
    supported = LEARNING_SCHEMA_VERSION if data.get("format") == LEARNING_FORMAT else SCHEMA_VERSION
    if isinstance(version, int) and not isinstance(version, bool) and version > supported:
        raise ProfileError(
            f"written by a newer version of lambda-sandbox (schema_version {version}; this "
            f"version reads {supported}): upgrade lambda-sandbox to read it",
            source=source,
            field="schema_version",
        )
