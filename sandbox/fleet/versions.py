"""Versions and aliases: a sandbox change as a deploy step that moving an alias rolls back.

With ``--alias NAME`` the fleet commands change ``$LATEST`` as before, then publish a version of
exactly what they wrote (``PublishVersion`` with the ``RevisionId`` they left) and move the alias
to it. Callers, event sources and provisioned concurrency that use the alias pick the change up
there; nothing else does. If the configuration update fails, nothing is published and the alias
stays where it was.

The alias's description keeps where the alias was before each move, so ``rollback --alias``
moves it straight back (no publish, no configuration change on the version callers use)::

    [lambda-sandbox at=7 previous=5,3]

``at`` is the version this tool set; if the alias points elsewhere (an IaC deploy or a person
moved it), ``rollback --alias`` refuses rather than guess. Any text before the bracket is kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.fleet._api import AwsOptions, FleetError, call, error_code, wait, wait_updated
from sandbox.fleet.functions import (
    HISTORY_DEPTH,
    Outcome,
    Plan,
    Refused,
    apply,
    plan_rollback,
    restore,
)

__all__ = [
    "AliasState",
    "apply_versioned",
    "format_alias_description",
    "parse_alias_description",
    "publish_and_move",
    "rollback_alias",
]

_MARK = re.compile(r"\s*\[lambda-sandbox at=(?P<at>\d+)(?: previous=(?P<previous>[\d,]*))?\]\s*$")
_ALIAS_NAME = re.compile(r"^(?!^[0-9]+$)[a-zA-Z0-9-_]{1,128}$")


@dataclass(frozen=True)
class AliasState:
    """What the alias's description says about this tool's moves.

    Attributes
    ----------
    text:
        The description without this tool's bracket (kept as it is).
    at:
        The version this tool last moved the alias to, if any.
    previous:
        Where the alias was before each move, most recent first.
    """

    text: str
    at: int | None
    previous: tuple[int, ...]


def parse_alias_description(description: str | None) -> AliasState:
    """Read this tool's bracket from an alias description.

    Example
    -------
    >>> parse_alias_description("prod [lambda-sandbox at=7 previous=5,3]")
    AliasState(text='prod', at=7, previous=(5, 3))
    """
    text = description or ""
    match = _MARK.search(text)
    if not match:
        return AliasState(text.strip(), None, ())
    previous = tuple(int(v) for v in (match.group("previous") or "").split(",") if v)
    return AliasState(text[: match.start()].strip(), int(match.group("at")), previous)


def format_alias_description(state: AliasState) -> str:
    """The description holding ``state`` (within Lambda's 256 characters).

    Example
    -------
    >>> format_alias_description(AliasState("prod", 7, (5, 3)))
    'prod [lambda-sandbox at=7 previous=5,3]'
    """
    previous = ",".join(str(v) for v in state.previous[:HISTORY_DEPTH])
    mark = f"[lambda-sandbox at={state.at}" + (f" previous={previous}]" if previous else "]")
    room = 256 - len(mark) - 1
    text = state.text[:room].strip() if room > 0 else ""
    return f"{text} {mark}" if text else mark


def _check_alias_name(alias: str) -> None:
    if not _ALIAS_NAME.match(alias) or alias == "$LATEST":
        raise FleetError(f"alias {alias!r}: letters, digits, - and _, not only digits")


def _get_alias(opts: AwsOptions, function: str, alias: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = call(
            opts.client("lambda"), "get_alias", opts, FunctionName=function, Name=alias
        )
    except FleetError:
        raise
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return found


def _wait_version(opts: AwsOptions, function: str, version: str) -> None:
    """Wait (botocore's ``published_version_active``) while the new version is ``Pending``."""
    client = opts.client("lambda")
    config = call(
        client, "get_function_configuration", opts, FunctionName=function, Qualifier=version
    )
    state = config.get("State", "Active")
    if state == "Failed":
        raise FleetError(
            f"{function}: version {version} failed: {config.get('StateReason', 'no reason')}"
        )
    if state == "Pending":
        wait(
            client,
            "published_version_active",
            opts,
            f"{function}: version {version} failed",
            FunctionName=function,
            Qualifier=version,
        )


def publish_and_move(
    opts: AwsOptions,
    function: str,
    alias: str,
    *,
    description: str = "",
    revision_id: str | None = None,
) -> dict[str, Any]:
    """Publish ``$LATEST`` as a version and point ``alias`` at it (creating the alias if needed).

    Parameters
    ----------
    function:
        Function name or ARN (unqualified).
    alias:
        The alias to move, e.g. ``live``.
    description:
        The new version's description.
    revision_id:
        ``$LATEST``'s revision as this tool left it: the publish fails rather than publish
        someone else's later change.

    Returns
    -------
    dict
        ``alias``, ``version``, ``previous_version`` (``None`` for a new alias), ``moved``.

    Raises
    ------
    FleetError
        The publish or the alias update failed; the alias is where it was.
    """
    _check_alias_name(alias)
    client = opts.client("lambda")
    kwargs: dict[str, Any] = {"FunctionName": function, "Description": description[:256]}
    if revision_id:
        kwargs["RevisionId"] = revision_id
    try:
        published = call(client, "publish_version", opts, **kwargs)
    except FleetError:
        raise
    except Exception as exc:
        raise FleetError(
            f"{function}: PublishVersion failed ({error_code(exc) or type(exc).__name__}: {exc}); "
            f"the alias {alias} was not moved"
        ) from exc
    version = str(published["Version"])
    # A new version may still be Pending: the alias (and its provisioned concurrency) must not
    # point at a version that cannot serve yet.
    _wait_version(opts, function, version)
    current = _get_alias(opts, function, alias)
    if current is None:
        state = AliasState("", int(version), ())
        call(
            client,
            "create_alias",
            opts,
            FunctionName=function,
            Name=alias,
            FunctionVersion=version,
            Description=format_alias_description(state),
        )
        return {"alias": alias, "version": version, "previous_version": None, "moved": True}
    was = str(current["FunctionVersion"])
    if was == version:
        return {"alias": alias, "version": version, "previous_version": was, "moved": False}
    state = parse_alias_description(current.get("Description"))
    previous = (int(was), *state.previous) if was.isdigit() else state.previous
    new_state = AliasState(state.text, int(version), previous)
    update: dict[str, Any] = {
        "FunctionName": function,
        "Name": alias,
        "FunctionVersion": version,
        "Description": format_alias_description(new_state),
    }
    if current.get("RevisionId"):
        update["RevisionId"] = current["RevisionId"]
    call(client, "update_alias", opts, **update)
    return {"alias": alias, "version": version, "previous_version": was, "moved": True}


_COMPARED = ("CodeSha256", "Handler", "Runtime", "MemorySize", "Timeout", "Role")


def _fingerprint(config: Mapping[str, Any]) -> tuple[Any, ...]:
    layers = tuple(str(layer["Arn"]) for layer in config.get("Layers") or [])
    variables = (config.get("Environment") or {}).get("Variables") or {}
    return (*(config.get(k) for k in _COMPARED), layers, tuple(sorted(variables.items())))


def _serving_same(
    opts: AwsOptions, function: str, alias: str, latest: Mapping[str, Any]
) -> str | None:
    """The alias's version when it already serves what ``$LATEST`` holds (else ``None``)."""
    current = _get_alias(opts, function, alias)
    if current is None:
        return None
    version = str(current["FunctionVersion"])
    config = call(
        opts.client("lambda"),
        "get_function_configuration",
        opts,
        FunctionName=function,
        Qualifier=version,
    )
    return version if _fingerprint(config) == _fingerprint(latest) else None


def apply_versioned(
    opts: AwsOptions,
    function: str,
    planner: Callable[[Mapping[str, Any]], Plan],
    *,
    alias: str | None = None,
    dry_run: bool = False,
) -> Outcome:
    """:func:`sandbox.fleet.functions.apply`, then (with ``alias``) publish and move the alias.

    Never raises. An update that fails or is refused leaves the alias untouched; a publish or
    alias failure after a successful update writes the previous ``$LATEST`` configuration back
    (nothing is left half-changed) and is reported as an error naming both.
    """
    if alias is not None:
        try:
            _check_alias_name(alias)
        except FleetError as exc:
            return Outcome(function, "error", str(exc), region=opts.region or "")
    outcome = apply(opts, function, planner, dry_run=dry_run)
    if alias is None or not outcome.ok:
        return outcome

    def result(status: str, message: str, details: dict[str, Any]) -> Outcome:
        return Outcome(
            function, status, message, details, region=outcome.region, change=outcome.change
        )

    if dry_run:
        outcome.message += f"; would publish a version and move {alias}"
        return outcome
    try:
        config = wait_updated(opts.client("lambda"), function, opts)
        if outcome.status == "unchanged":
            serving = _serving_same(opts, function, alias, config)
            if serving is not None:
                message = f"{outcome.message}; {alias} already at {serving}"
                return result("unchanged", message, {**outcome.details, "alias": alias})
        mode = outcome.details.get("mode", "off")
        moved = publish_and_move(
            opts,
            function,
            alias,
            description=f"lambda-sandbox {mode}",
            revision_id=config.get("RevisionId"),
        )
    except Exception as exc:
        why = (
            str(exc)
            if isinstance(exc, FleetError)
            else (f"{error_code(exc) or type(exc).__name__}: {exc}")
        )
        undone = ""
        if outcome.status == "changed" and outcome.change is not None:
            undone = f"; {restore(opts, function, outcome.change)}"
        return result(
            "error",
            f"$LATEST {outcome.status}, but the alias was not moved: {why}{undone}",
            outcome.details,
        )
    details = {**outcome.details, **moved}
    if moved["moved"]:
        was = moved["previous_version"] or "none"
        return result(
            "changed", f"{outcome.message}; {alias}: {was} -> {moved['version']}", details
        )
    return result(
        outcome.status, f"{outcome.message}; {alias} already at {moved['version']}", details
    )


def rollback_alias(
    opts: AwsOptions, function: str, alias: str, *, dry_run: bool = False
) -> Outcome:
    """Move ``alias`` back to where it was before this tool's last move; then roll ``$LATEST``
    back too, so the next publish does not bring the change back.

    The alias moves first: it is what callers use, and it needs no publish. Refused when the
    alias was moved by something else since (its version is not the one this tool set).
    """
    region = str(opts.region or "")
    try:
        _check_alias_name(alias)
        current = _get_alias(opts, function, alias)
        if current is None:
            raise Refused(f"{function}: no alias {alias}")
        state = parse_alias_description(current.get("Description"))
        now = str(current["FunctionVersion"])
        if state.at is None or not state.previous:
            raise Refused(f"{function}: {alias} has no earlier version recorded by lambda-sandbox")
        if str(state.at) != now:
            raise Refused(
                f"{function}: {alias} points at {now}, not at {state.at} where lambda-sandbox "
                "left it (moved by a deploy or by hand); move it with your deploy tool"
            )
        target, *rest = state.previous
        details: dict[str, Any] = {"alias": alias, "version": str(target), "previous_version": now}
        if dry_run:
            message = f"dry run: would move {alias}: {now} -> {target}"
            return Outcome(function, "changed", message, details, region=region)
        update: dict[str, Any] = {
            "FunctionName": function,
            "Name": alias,
            "FunctionVersion": str(target),
            "Description": format_alias_description(AliasState(state.text, target, tuple(rest))),
        }
        if current.get("RevisionId"):
            update["RevisionId"] = current["RevisionId"]
        call(opts.client("lambda"), "update_alias", opts, **update)
    except Refused as exc:
        return Outcome(function, "refused", str(exc), region=region)
    except FleetError as exc:
        return Outcome(function, "error", str(exc), region=region)
    except Exception as exc:
        message = f"{error_code(exc) or type(exc).__name__}: {exc}"
        return Outcome(function, "error", message, region=region)
    latest = apply(opts, function, plan_rollback)
    message = f"{alias}: {now} -> {target}; $LATEST: {latest.status}: {latest.message}"
    return Outcome(
        function, "changed", message, {**details, "latest": latest.to_dict()}, region=region
    )
