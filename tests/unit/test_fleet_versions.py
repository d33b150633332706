"""Versions and aliases in the CLI path (moto): publish, move the alias, roll back by moving it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.fleet.cli import main
from sandbox.fleet.functions import WRAPPER
from sandbox.fleet.versions import (
    AliasState,
    format_alias_description,
    parse_alias_description,
)
from tests.unit import test_aws_support as support
from tests.unit.test_aws_support import REGION, make_function, publish_sandbox, write_profile

aws = support.aws
opts = support.opts


def cli(*args: str, cache: Path | None = None) -> int:
    argv = [*args, "--region", REGION]
    if cache is not None:
        argv += ["--cache-dir", str(cache)]
    return main(argv)


def alias(opts: Any, name: str = "orders", alias_name: str = "live") -> dict[str, Any]:
    return dict(opts.client("lambda").get_alias(FunctionName=name, Name=alias_name))


def version_env(opts: Any, version: str, name: str = "orders") -> dict[str, str]:
    config = opts.client("lambda").get_function_configuration(FunctionName=name, Qualifier=version)
    return dict((config.get("Environment") or {}).get("Variables") or {})


def versions(opts: Any, name: str = "orders") -> list[str]:
    answer = opts.client("lambda").list_versions_by_function(FunctionName=name)
    return [v["Version"] for v in answer["Versions"] if v["Version"] != "$LATEST"]


def test_learn_then_enforce_publish_versions_and_move_the_alias(opts: Any, tmp_path: Path) -> None:
    # GIVEN a function and a published sandbox layer
    make_function(opts, "orders")
    publish_sandbox(opts, tmp_path)
    profile = write_profile(tmp_path / "orders.json", "orders")
    # WHEN it is attached in learn, then enforced, both with --alias live
    assert cli("attach", "orders", "--alias", "live") == 0
    learn_version = alias(opts)["FunctionVersion"]
    assert (
        cli("enforce", "orders", "--profile", str(profile), "--alias", "live", cache=tmp_path) == 0
    )
    live = alias(opts)
    # THEN each step published a version and moved `live` to it: the learn version keeps learn,
    # the enforce version has enforce, the wrapper and the profile layer
    assert live["FunctionVersion"] != learn_version
    assert version_env(opts, learn_version)["SANDBOX_MODE"] == "learn"
    enforced = version_env(opts, live["FunctionVersion"])
    assert enforced["SANDBOX_MODE"] == "enforce"
    assert enforced["AWS_LAMBDA_EXEC_WRAPPER"] == WRAPPER
    state = parse_alias_description(live["Description"])
    assert state.at == int(live["FunctionVersion"]) and state.previous == (int(learn_version),)


def test_rollback_moves_the_alias_back_and_rolls_latest_back(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function switched from learn to enforce behind `live`
    make_function(opts, "orders")
    publish_sandbox(opts, tmp_path)
    profile = write_profile(tmp_path / "orders.json", "orders")
    assert cli("attach", "orders", "--alias", "live") == 0
    learn_version = alias(opts)["FunctionVersion"]
    assert (
        cli("enforce", "orders", "--profile", str(profile), "--alias", "live", cache=tmp_path) == 0
    )
    enforce_version = alias(opts)["FunctionVersion"]
    published_before = versions(opts)
    # WHEN it is rolled back with --alias live
    code = cli("rollback", "orders", "--alias", "live")
    # THEN `live` is back on the learn version without publishing anything, and $LATEST is
    # back in learn too (so the next publish does not bring enforce back)
    assert code == 0, capsys.readouterr().err
    assert f"live: {enforce_version} -> {learn_version}" in capsys.readouterr().out
    assert alias(opts)["FunctionVersion"] == learn_version
    assert versions(opts) == published_before
    latest = opts.client("lambda").get_function_configuration(FunctionName="orders")
    assert latest["Environment"]["Variables"]["SANDBOX_MODE"] == "learn"
    assert parse_alias_description(alias(opts)["Description"]) == AliasState(
        "", int(learn_version), ()
    )


def test_a_failed_update_leaves_the_alias_where_it_was(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function in learn behind `live`
    make_function(opts, "orders")
    layer = publish_sandbox(opts, tmp_path)
    assert cli("attach", "orders", "--alias", "live") == 0
    before = alias(opts)
    published_before = versions(opts)
    # WHEN an update that Lambda rejects is made with --alias (a layer version that does not
    # exist: UpdateFunctionConfiguration fails)
    missing = layer.rsplit(":", 1)[0] + ":99"
    code = cli("attach", "orders", "--layer-arn", missing, "--alias", "live")
    # THEN the command fails, nothing is published, and `live` has not moved
    assert code == 1
    assert "orders: error" in capsys.readouterr().err
    assert versions(opts) == published_before
    after = alias(opts)
    assert after["FunctionVersion"] == before["FunctionVersion"]
    assert after["Description"] == before["Description"]


def test_rerun_without_change_publishes_nothing_and_leaves_the_alias(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function attached behind `live`
    make_function(opts, "orders")
    publish_sandbox(opts, tmp_path)
    assert cli("attach", "orders", "--alias", "live") == 0
    first = alias(opts)
    # WHEN the same attach runs again
    assert cli("attach", "orders", "--alias", "live") == 0
    # THEN no new version, the alias is where it was, and the outcome says so
    assert "live already at" in capsys.readouterr().out
    assert versions(opts) == [first["FunctionVersion"]]
    assert alias(opts)["FunctionVersion"] == first["FunctionVersion"]


def test_rollback_refuses_when_the_alias_was_moved_by_something_else(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN `live` moved by this tool twice, then moved back by hand (an IaC deploy, a person)
    make_function(opts, "orders")
    publish_sandbox(opts, tmp_path)
    profile = write_profile(tmp_path / "orders.json", "orders")
    assert cli("attach", "orders", "--alias", "live") == 0
    learn_version = alias(opts)["FunctionVersion"]
    assert cli("alert", "orders", "--profile", str(profile), "--alias", "live", cache=tmp_path) == 0
    current = alias(opts)
    opts.client("lambda").update_alias(
        FunctionName="orders",
        Name="live",
        FunctionVersion=learn_version,
        Description=current["Description"],
    )
    # WHEN rollback --alias runs
    code = cli("rollback", "orders", "--alias", "live")
    # THEN it refuses and says why; the alias stays where the other tool put it
    assert code == 1
    assert "moved by a deploy or by hand" in capsys.readouterr().err
    assert alias(opts)["FunctionVersion"] == learn_version


def test_rollback_without_history_is_refused(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an alias made by this tool once (no earlier version)
    make_function(opts, "orders")
    publish_sandbox(opts, tmp_path)
    assert cli("attach", "orders", "--alias", "live") == 0
    # WHEN rolled back, and rolled back on an alias that does not exist
    first = cli("rollback", "orders", "--alias", "live")
    first_err = capsys.readouterr().err
    second = cli("rollback", "orders", "--alias", "stable")
    # THEN both are refused with the reason
    assert first == 1 and "no earlier version" in first_err
    assert second == 1 and "no alias stable" in capsys.readouterr().err


def test_description_keeps_other_text_and_fits_lambdas_limit() -> None:
    # GIVEN an alias description written by someone else, and a long history
    state = AliasState("x" * 300, 42, tuple(range(41, 20, -1)))
    # WHEN this tool's bracket is written and read back
    text = format_alias_description(state)
    back = parse_alias_description(text)
    # THEN it fits 256 characters, keeps the bracket whole, and the history is bounded
    assert len(text) <= 256
    assert back.at == 42 and back.previous == tuple(range(41, 31, -1))
    assert parse_alias_description("team text") == AliasState("team text", None, ())


def test_bad_alias_name_is_an_error_and_changes_nothing(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function
    make_function(opts, "orders")
    publish_sandbox(opts, tmp_path)
    # WHEN attached with an alias that is only digits (a version number, not an alias)
    code = cli("attach", "orders", "--alias", "12")
    # THEN it fails before changing $LATEST
    assert code == 1 and "alias '12'" in capsys.readouterr().err
    config = opts.client("lambda").get_function_configuration(FunctionName="orders")
    assert "SANDBOX_MODE" not in (config.get("Environment") or {}).get("Variables", {})
