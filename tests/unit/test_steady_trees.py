"""decoders.code.steady_trees: the deployment's folders no ``files write`` rule reaches into.

The native core is told these at install (``core.deployment_rules``) and then answers, below
them, what the callback would find steady folder by folder (``deployment_file``) and the
names ``extension_at_home`` walks. So every tree it keeps must be one where the callback's own
per-folder answer is "steady" for every folder below it: checked here against
``deployment_file`` itself, for each profile.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.runtime.compiler import compile_profile
from sandbox.runtime.decoders import code
from sandbox.runtime.policy import Policy

PREFIXES = ("/opt/python/", "/var/lang/lib/python3.11/", "/var/task/")
BELOW = ("", "pkg/", "pkg/sub/__pycache__/", "a/b/c/d/")


def _write_matchers(*targets: str) -> tuple[Any, ...]:
    rules = [{"action": "write", "target": t, "phase": "any"} for t in targets]
    document = compile_profile({"schema_version": 1, "function": "f", "rules": {"files": rules}})
    return Policy.load(document).write_matchers()


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> Any:
    def use(*targets: str) -> tuple[str, ...]:
        monkeypatch.setattr(code, "WRITE_MATCHERS", _write_matchers(*targets) if targets else ())
        monkeypatch.setattr(code, "STEADY_PREFIXES", PREFIXES)
        monkeypatch.setattr(code, "_DEPLOYMENT_FOLDERS", {})
        monkeypatch.setattr(code, "_core_deployment_folder", lambda folder: None)
        return code.steady_trees(PREFIXES)

    return use


def test_with_no_write_rule_every_steady_prefix_is_a_tree(rules: Any) -> None:
    # GIVEN a profile with no files write rule WHEN the trees are computed
    # THEN every steady prefix is one
    assert rules() == PREFIXES


def test_a_write_rule_elsewhere_leaves_the_deployment_trees(rules: Any) -> None:
    # GIVEN write rules on the temp dir only
    trees = rules("/tmp/**", "/tmp/job-*/out.json")
    # THEN every deployment folder is still a tree
    assert trees == PREFIXES


@pytest.mark.parametrize(
    ("target", "gone"),
    [
        ("/var/task/cache/**", "/var/task/"),  # a rule reaching into a folder below
        ("/var/task/out.json", "/var/task/"),  # one name in it
        ("/var", "/var/task/"),  # a folder on the way, and with it the other /var tree
        ("/opt/*/x.txt", "/opt/python/"),  # a glob whose literal start is above the tree
        ("/var/task", "/var/task/"),  # the folder itself
    ],
)
def test_a_write_rule_reaching_in_or_on_the_way_takes_the_tree_out(
    rules: Any, target: str, gone: str
) -> None:
    # GIVEN a write rule that reaches into a tree, or names it or a folder above it
    trees = rules(target)
    # THEN that tree is not kept
    assert gone not in trees


def test_a_glob_that_can_match_anywhere_leaves_no_tree(rules: Any) -> None:
    # GIVEN a write rule whose glob starts with "**" WHEN the trees are computed
    # THEN none is kept (the answer is conservative: "might")
    assert rules("**/*.log") == ()


@pytest.mark.parametrize(
    "targets",
    [
        (),
        ("/tmp/**",),
        ("/var/task/cache/**",),
        ("/var",),
        ("/opt/*/x.txt", "/tmp/**"),
        ("/var/lang/lib/python3.11/site-packages/pkg/data.json",),
    ],
)
def test_below_every_tree_kept_each_folder_is_one_the_callback_finds_steady(
    rules: Any, targets: tuple[str, ...]
) -> None:
    # GIVEN a profile's write rules and the trees kept for it
    trees = rules(*targets)
    # WHEN the callback's own per-folder test is asked about files in folders below each
    # THEN it finds every one the deployment's (the core answers nothing it would not)
    for tree in trees:
        for below in BELOW:
            assert code.deployment_file(tree + below + "m.cpython-311.pyc"), (tree, below)
