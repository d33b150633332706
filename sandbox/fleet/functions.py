"""Attach, detach, switch mode, publish-and-attach a profile, roll back: one function at a time.

Every change is a read-merge-write of the function's configuration: the function's own layers
and environment variables are kept (in order), the sandbox's are added, replaced or removed, and
the write carries the ``RevisionId`` read, so a concurrent change is re-read and merged again
rather than overwritten. A plan equal to the current configuration writes nothing (idempotent).

Settings the sandbox owns on a function:

- the sandbox layer (``lambda-sandbox-pyXY-ARCH:N``) and the profile layer
  (``sandbox-profile-FUNCTION:N``), last in the layer list so they win over other layers' files;
- ``AWS_LAMBDA_EXEC_WRAPPER=/opt/sandbox-wrapper`` — or, with ``--redirect-handler`` (when the
  wrapper slot is another tool's), handler ``_lambda_sandbox.bootstrap.handler`` and
  ``SANDBOX_ORIGINAL_HANDLER``;
- ``SANDBOX_MODE``;
- ``SANDBOX_PREVIOUS``: the rollback history, most recent first, ``mode@version`` entries
  (``version`` of the profile layer, ``-`` for none), comma-separated, at most 10. It changes
  in the same write as the mode and layers, so history and state never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.fleet._api import AwsOptions, FleetError, call, error_code, wait_updated
from sandbox.fleet.change import Change, State
from sandbox.fleet.layers import (
    is_profile_layer,
    is_sandbox_layer,
    layer_name_of,
    profile_layer_name,
)
from sandbox.layer import BOOTSTRAP_HANDLER

__all__ = [
    "BOOTSTRAP_HANDLER",
    "MAX_LAYERS",
    "WRAPPER",
    "Attachment",
    "Change",
    "Outcome",
    "Plan",
    "Refused",
    "apply",
    "attachment",
    "learning_status",
    "plan_attach",
    "plan_detach",
    "plan_rollback",
    "select_functions",
]

WRAPPER = "/opt/sandbox-wrapper"
MAX_LAYERS = 5
HISTORY_VAR = "SANDBOX_PREVIOUS"
HISTORY_DEPTH = 10
_OWNED_VARS = ("SANDBOX_MODE", HISTORY_VAR)


class Refused(FleetError):
    """The change would be unsafe or impossible; nothing was written."""


@dataclass(frozen=True)
class Plan:
    """A function's target configuration: layer ARNs, environment, handler."""

    layers: tuple[str, ...]
    env: Mapping[str, str]
    handler: str


@dataclass
class Outcome:
    """What happened to one function.

    Attributes
    ----------
    status:
        ``changed``, ``unchanged``, ``refused`` or ``error``.
    region:
        The function's region (empty when not known).
    change:
        The planned change (before → after) the outcome comes from, when one was made.
    """

    function: str
    status: str
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    region: str = ""
    change: Change | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Changed or already as wanted."""
        return self.status in ("changed", "unchanged")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = {
            "function": self.function,
            "status": self.status,
            "message": self.message,
            **self.details,
        }
        if self.region:
            out["region"] = self.region
        if self.change is not None:
            out["plan"] = self.change.to_dict()
        return out


@dataclass(frozen=True)
class Attachment:
    """The sandbox's state on a function, read from its configuration."""

    attached: bool
    method: str | None  # "wrapper", "redirect" or None
    mode: str
    sandbox_layer: str | None
    profile_layer: str | None
    history: tuple[tuple[str, int | None], ...]

    @property
    def profile_version(self) -> int | None:
        """The attached profile layer's version number."""
        return layer_name_of(self.profile_layer)[1] if self.profile_layer else None


def _layers(config: Mapping[str, Any]) -> list[str]:
    return [str(layer["Arn"]) for layer in config.get("Layers") or []]


def _env(config: Mapping[str, Any]) -> dict[str, str]:
    environment = config.get("Environment") or {}
    if environment.get("Error"):
        error = environment["Error"]
        raise Refused(
            f"cannot read the environment variables ({error.get('ErrorCode')}: "
            f"{error.get('Message')}); "
            "writing them back would erase them"
        )
    return dict(environment.get("Variables") or {})


def _parse_history(value: str | None) -> tuple[tuple[str, int | None], ...]:
    out: list[tuple[str, int | None]] = []
    for entry in (value or "").split(","):
        mode, _, version = entry.strip().partition("@")
        if not mode:
            continue
        out.append((mode, int(version) if version.isdigit() else None))
    return tuple(out)


def _format_history(history: Iterable[tuple[str, int | None]]) -> str:
    return ",".join(f"{m}@{v if v is not None else '-'}" for m, v in list(history)[:HISTORY_DEPTH])


def attachment(config: Mapping[str, Any]) -> Attachment:
    """Read the sandbox's state from a ``GetFunctionConfiguration`` answer."""
    layers = _layers(config)
    environment = (config.get("Environment") or {}).get("Variables") or {}
    sandbox_layer = next((arn for arn in layers if is_sandbox_layer(arn)), None)
    profile_layer = next((arn for arn in layers if is_profile_layer(arn)), None)
    method = None
    if config.get("Handler") == BOOTSTRAP_HANDLER:
        method = "redirect"
    elif environment.get("AWS_LAMBDA_EXEC_WRAPPER") == WRAPPER:
        method = "wrapper"
    attached = sandbox_layer is not None and method is not None
    return Attachment(
        attached=attached,
        method=method,
        mode=environment.get("SANDBOX_MODE", "off") if attached else "off",
        sandbox_layer=sandbox_layer,
        profile_layer=profile_layer,
        history=_parse_history(environment.get(HISTORY_VAR)),
    )


def _check_function(config: Mapping[str, Any]) -> None:
    name = config.get("FunctionName", "?")
    if config.get("PackageType") == "Image":
        raise Refused(
            f"{name} is a container image function: layers do not apply; add the layer to the image"
        )
    runtime = str(config.get("Runtime") or "")
    if not runtime.startswith("python3"):
        raise Refused(
            f"{name} runs {runtime or 'an unknown runtime'}, not Python: "
            "the sandbox is for Python functions"
        )


def plan_attach(
    config: Mapping[str, Any],
    *,
    sandbox_layer: str | None,
    mode: str,
    profile_layer: str | bool | None = True,
    redirect_handler: bool = False,
) -> Plan:
    """The configuration that attaches the sandbox in ``mode``.

    Parameters
    ----------
    config:
        The function's ``GetFunctionConfiguration`` answer.
    sandbox_layer:
        Sandbox layer version ARN to attach; ``None`` keeps the attached one.
    mode:
        ``off``, ``learn``, ``alert`` or ``enforce``.
    profile_layer:
        A profile layer version ARN, ``True`` to keep the attached one, ``False`` to remove it.
    redirect_handler:
        Attach by handler redirection instead of the exec wrapper (for when the wrapper slot is
        another tool's).

    Raises
    ------
    Refused
        Not Python, a container image, the wrapper slot taken, more than five layers, or
        ``alert``/``enforce`` with no profile.
    """
    _check_function(config)
    name = config.get("FunctionName", "?")
    layers = _layers(config)
    env = _env(config)
    handler = str(config.get("Handler") or "")
    current = attachment(config)

    sandbox_layer = sandbox_layer or current.sandbox_layer
    if sandbox_layer is None:
        raise Refused(f"{name}: no sandbox layer given or attached")
    if profile_layer is True:
        new_profile = current.profile_layer
    elif profile_layer is False:
        new_profile = None
    else:
        new_profile = str(profile_layer)
    if mode in ("alert", "enforce") and new_profile is None:
        raise Refused(f"{name}: {mode} needs a profile: use `sandbox {mode} {name} --profile FILE`")

    others = [arn for arn in layers if not is_sandbox_layer(arn) and not is_profile_layer(arn)]
    new_layers = [*others, sandbox_layer, *([new_profile] if new_profile else [])]
    if len(new_layers) > MAX_LAYERS:
        raise Refused(
            f"{name}: would have {len(new_layers)} layers, Lambda allows {MAX_LAYERS}; "
            f"it already has {len(others)} of its own "
            f"({', '.join(layer_name_of(a)[0] for a in others)}). "
            "Merge some of them, or build the sandbox into one of them"
        )

    wrapper = env.get("AWS_LAMBDA_EXEC_WRAPPER")
    method = current.method
    if method is None:
        if handler == BOOTSTRAP_HANDLER:
            method = "redirect"
        elif wrapper and wrapper != WRAPPER:
            if not redirect_handler:
                raise Refused(
                    f"{name}: AWS_LAMBDA_EXEC_WRAPPER is already {wrapper!r} (another tool's); "
                    f"attach with --redirect-handler instead (handler {BOOTSTRAP_HANDLER}, "
                    "the original kept in SANDBOX_ORIGINAL_HANDLER)"
                )
            method = "redirect"
        else:
            method = "redirect" if redirect_handler else "wrapper"
    if method == "wrapper":
        env["AWS_LAMBDA_EXEC_WRAPPER"] = WRAPPER
    elif handler != BOOTSTRAP_HANDLER:
        env["SANDBOX_ORIGINAL_HANDLER"] = handler
        handler = BOOTSTRAP_HANDLER

    new_version = layer_name_of(new_profile)[1] if new_profile else None
    history = list(current.history)
    if current.attached and (current.mode, current.profile_version) != (mode, new_version):
        history.insert(0, (current.mode, current.profile_version))
    env["SANDBOX_MODE"] = mode
    if history:
        env[HISTORY_VAR] = _format_history(history)
    return Plan(tuple(new_layers), env, handler)


def plan_detach(config: Mapping[str, Any]) -> Plan:
    """The configuration without anything the sandbox added (the function's own settings kept)."""
    layers = [
        arn for arn in _layers(config) if not is_sandbox_layer(arn) and not is_profile_layer(arn)
    ]
    env = _env(config)
    handler = str(config.get("Handler") or "")
    if env.get("AWS_LAMBDA_EXEC_WRAPPER") == WRAPPER:
        del env["AWS_LAMBDA_EXEC_WRAPPER"]
    if handler == BOOTSTRAP_HANDLER:
        original = env.get("SANDBOX_ORIGINAL_HANDLER")
        if not original:
            raise Refused(
                f"{config.get('FunctionName')}: handler is {BOOTSTRAP_HANDLER} but "
                "SANDBOX_ORIGINAL_HANDLER "
                "is not set; set the handler by hand"
            )
        handler = original
        del env["SANDBOX_ORIGINAL_HANDLER"]
    for var in _OWNED_VARS:
        env.pop(var, None)
    return Plan(tuple(layers), env, handler)


def plan_rollback(config: Mapping[str, Any]) -> Plan:
    """Back to the previous mode and profile layer version, from ``SANDBOX_PREVIOUS``."""
    name = str(config.get("FunctionName", "?"))
    current = attachment(config)
    if not current.attached:
        raise Refused(f"{name}: the sandbox is not attached")
    if not current.history:
        raise Refused(
            f"{name}: no earlier mode or profile to return to "
            "(use `sandbox detach` to remove the sandbox)"
        )
    (mode, version), *rest = current.history
    profile: str | bool = False
    if version is not None:
        arn = str(config.get("FunctionArn", ""))
        parts = arn.split(":")
        if len(parts) < 5:
            raise Refused(f"{name}: cannot derive the profile layer ARN from {arn!r}")
        layer = profile_layer_name(name)
        profile = f"arn:{parts[1]}:lambda:{parts[3]}:{parts[4]}:layer:{layer}:{version}"
    plan = plan_attach(config, sandbox_layer=None, mode=mode, profile_layer=profile)
    env = dict(plan.env)
    if rest:
        env[HISTORY_VAR] = _format_history(rest)
    else:
        env.pop(HISTORY_VAR, None)
    return Plan(plan.layers, env, plan.handler)


def state_of(config: Mapping[str, Any]) -> State:
    """The sandbox-relevant configuration of a ``GetFunctionConfiguration`` answer.

    Example
    -------
    >>> state_of({"Handler": "app.handler", "Environment": {"Variables": {"A": "1"}}}).mode
    'off'
    """
    current = attachment(config)
    env = (config.get("Environment") or {}).get("Variables") or {}
    return State(
        tuple(_layers(config)),
        dict(env),
        str(config.get("Handler") or ""),
        current.mode,
        current.profile_version,
    )


def plan_change(config: Mapping[str, Any], plan: Plan) -> Change:
    """Before (``config``) → after (``plan``), with the revision the plan was made from.

    Example
    -------
    >>> config = {"FunctionName": "f", "Handler": "app.handler", "RevisionId": "r1"}
    >>> plan_change(config, Plan((), {"SANDBOX_MODE": "off"}, "app.handler")).changes
    True
    """
    after = {
        "Layers": [{"Arn": arn} for arn in plan.layers],
        "Environment": {"Variables": dict(plan.env)},
        "Handler": plan.handler,
    }
    return Change(
        str(config.get("FunctionName") or ""),
        state_of(config),
        state_of(after),
        config.get("RevisionId"),
    )


def _write(opts: AwsOptions, function: str, change: Change, target: State) -> None:
    """One ``UpdateFunctionConfiguration``: layers, variables and (if it moves) the handler."""
    kwargs: dict[str, Any] = {
        "FunctionName": function,
        "Layers": list(target.layers),
        "Environment": {"Variables": dict(target.env)},
    }
    if change.revision_id:
        kwargs["RevisionId"] = change.revision_id
    if target.handler != change.before.handler:
        kwargs["Handler"] = target.handler
    call(opts.client("lambda"), "update_function_configuration", opts, **kwargs)


def restore(opts: AwsOptions, function: str, change: Change) -> str:
    """Put back ``change.before`` after a failed step; says what was done (never raises).

    Used when the update itself failed (Lambda's ``LastUpdateStatus: Failed``) or when a later
    step of the same change (publishing a version, moving an alias) failed, so a function is
    never left half-changed. Only this tool's own write is undone: a configuration changed by
    someone else since is left alone (and said so).

    Example
    -------
    >>> restore(opts, "orders", outcome.change)  # doctest: +SKIP
    'the previous configuration was restored'
    """
    try:
        client = opts.client("lambda")
        config = call(client, "get_function_configuration", opts, FunctionName=function)
        now = state_of(config)
        if now.same_configuration(change.before):
            return "the configuration is as it was"
        if not now.same_configuration(change.after):
            return "the configuration was changed by someone else since; not restored"
        back = Change(function, now, change.before, config.get("RevisionId"))
        _write(opts, function, back, change.before)
        wait_updated(client, function, opts)
        return "the previous configuration was restored"
    except Exception as exc:
        return f"restoring the previous configuration failed too ({error_code(exc) or exc})"


_REPLAN = frozenset({"PreconditionFailedException", "ResourceConflictException"})


def apply(
    opts: AwsOptions,
    function: str,
    planner: Callable[[Mapping[str, Any]], Plan],
    *,
    dry_run: bool = False,
) -> Outcome:
    """Read, plan, then (unless ``dry_run``) write that plan: one function, never raising.

    The plan (a :class:`~sandbox.fleet.change.Change`) is what ``--dry-run`` shows and what the
    real run writes, in one ``UpdateFunctionConfiguration`` carrying the revision it was planned
    from. A concurrent change (``PreconditionFailedException``) or an update in progress
    (``ResourceConflictException``) means: wait (botocore's waiter), read again, plan again, at
    most five times. If Lambda reports the update failed, the previous configuration is written
    back.
    """
    client = opts.client("lambda")
    region = str(opts.region or client.meta.region_name or "")

    def outcome(status: str, message: str, change: Change | None = None) -> Outcome:
        details: dict[str, Any] = {}
        if change is not None:
            details = {
                "layers": list(change.after.layers),
                "mode": change.after.mode,
                "handler": change.after.handler,
            }
        return Outcome(function, status, message, details, region=region, change=change)

    try:
        for _ in range(5):
            config = wait_updated(client, function, opts)
            change = plan_change(config, planner(config))
            if not change.changes:
                return outcome("unchanged", "already as wanted", change)
            if dry_run:
                return outcome("changed", "dry run: would update", change)
            try:
                _write(opts, function, change, change.after)
            except Exception as exc:
                if error_code(exc) in _REPLAN:
                    continue  # changed or changing under us: wait, read again, merge again
                raise
            try:
                wait_updated(client, function, opts)
            except FleetError as exc:
                return outcome("error", f"{exc}; {restore(opts, function, change)}", change)
            return outcome("changed", "updated", change)
        return outcome("error", "the configuration kept changing under us; try again")
    except Refused as exc:
        return outcome("refused", str(exc))
    except FleetError as exc:
        return outcome("error", str(exc))
    except Exception as exc:
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            return outcome("error", "function not found")
        return outcome("error", f"{code or type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- selection


def select_functions(
    opts: AwsOptions,
    names: Sequence[str] = (),
    *,
    prefix: str | None = None,
    tags: Sequence[str] = (),
    all_python: bool = False,
) -> list[str]:
    """Resolve a selection in ``opts``'s region to function names: explicit names, then every
    Python function with the prefix and all the given tags (or, ``all_python``, every one).

    Explicit names are returned as given (non-Python ones are refused later, by name). For
    several regions and the (region, function) pairs, see
    :func:`sandbox.fleet.batch.select_targets`.

    Example
    -------
    >>> select_functions(opts, tags=["team=payments"])  # doctest: +SKIP
    ['charge', 'refund']
    """
    from sandbox.fleet.batch import Selection, select_targets

    selection = Selection(
        names=tuple(names), prefix=prefix, tags=tuple(tags), all_python=all_python
    )
    return [t.function for t in select_targets(opts, selection)]


# --------------------------------------------------------------------------- learning status


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def learning_status(
    learning: Any,
    *,
    min_invocations: int = 100,
    quiet: dt.timedelta = dt.timedelta(hours=24),
    now: dt.datetime | None = None,
) -> tuple[bool, str]:
    """Whether learning is done: N invocations and T time with no novel observation.

    Parameters
    ----------
    learning:
        A profile's ``learning`` (model or mapping).
    min_invocations:
        N: invocations since the last novel observation.
    quiet:
        T: time since the last novel observation.
    now:
        The current time (tests).

    Returns
    -------
    (bool, str)
        Done, and a one-line reason.
    """
    get = (
        learning.get if isinstance(learning, Mapping) else lambda k, d=None: getattr(learning, k, d)
    )
    since = int(get("invocations_since_novel", 0) or 0)
    invocations = int(get("invocations", 0) or 0)
    last_novel = _parse_time(get("last_novel"))
    now = now or dt.datetime.now(dt.timezone.utc)
    if invocations == 0:
        return False, "never learned (0 invocations observed)"
    if since < min_invocations:
        return (
            False,
            f"{since} invocations since the last novel observation (need {min_invocations})",
        )
    if last_novel is None:
        if quiet > dt.timedelta(0):
            return False, "no time of the last novel observation recorded"
        return True, f"{since} quiet invocations"
    elapsed = now - last_novel
    if elapsed < quiet:
        return False, f"last novel observation {_human(elapsed)} ago (need {_human(quiet)} quiet)"
    return True, f"{since} quiet invocations, last novel {_human(elapsed)} ago"


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
