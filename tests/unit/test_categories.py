"""The category registry is the one source: every other place agrees with it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from sandbox.runtime import categories, compiler, globs, roots
from sandbox.runtime.decoders import DECODERS, MODULES

RUNTIME = Path(categories.__file__).parent


def _produced_accesses() -> set[tuple[str, str]]:
    """(category, action) pairs the decoder modules can produce, read from their source."""
    found: set[tuple[str, str]] = set()
    for module in MODULES:
        assert module.__file__ is not None
        tree = ast.parse(Path(module.__file__).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple) and len(node.elts) == 4:
                first, second = node.elts[0], node.elts[1]
                if (
                    isinstance(first, ast.Constant)
                    and isinstance(second, ast.Constant)
                    and isinstance(first.value, str)
                    and isinstance(second.value, str)
                ):
                    found.add((first.value, second.value))
    return found


def test_every_access_a_decoder_produces_is_registered() -> None:
    # GIVEN the decoders' literal (category, action) tuples
    produced = _produced_accesses()
    # THEN each names a registered category and one of its actions
    assert produced, "no accesses found: the scan is broken"
    for category, action in produced:
        assert category in categories.REGISTRY, category
        assert action in categories.ACTIONS[category], (category, action)


def test_every_registry_row_is_complete_and_used() -> None:
    for name, entry in categories.REGISTRY.items():
        # THEN its glob class exists, its symbolic rule is known to roots, it has actions
        assert entry.glob_class in globs._CLASSES, name
        assert entry.symbolic in ("path", "command", "site", "none"), name
        assert entry.actions and set(entry.risky) <= set(entry.actions), name
        assert roots._SYMBOLIC[name] == entry.symbolic
    # AND the compiler validates against the very same table
    assert vars(compiler)["ACTIONS"] is categories.ACTIONS
    # AND each category is produced by some decoder
    produced = {category for category, _ in _produced_accesses()}
    assert set(categories.REGISTRY) <= produced


def test_every_event_has_exactly_one_decoder() -> None:
    owners: dict[str, str] = {}
    for module in MODULES:
        for event in module.DECODERS:
            assert event not in owners, (event, owners.get(event), module.__name__)
            owners[event] = module.__name__
    assert set(owners) == set(DECODERS)


def test_base_bundles_only_use_registered_actions() -> None:
    for bundle in (RUNTIME / "data" / "base").glob("*.json"):
        document = json.loads(bundle.read_text())
        for category, rules in document.get("rules", {}).items():
            assert category in categories.REGISTRY, (bundle.name, category)
            for rule in rules:
                assert rule["action"] in categories.ACTIONS[category], (bundle.name, rule)
