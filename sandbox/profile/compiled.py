"""``profile compile`` and ``profile schema``: the runtime form and the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox.errors import ProfileError
from sandbox.profile.model import Profile, atomic_write


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


__all__ = ["compile_file", "schema_text"]
