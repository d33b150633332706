"""Drift: does what is deployed match what the team expects (the repository, the latest layer)?

For each function (or one of its versions/aliases), ``sandbox status`` checks:

- ``wrapper``: the sandbox actually runs: ``AWS_LAMBDA_EXEC_WRAPPER=/opt/sandbox-wrapper`` or the
  redirected handler. A sandbox layer without either never loads (typically another tool took
  the ``AWS_LAMBDA_EXEC_WRAPPER`` slot, or a deploy dropped the variable);
- ``layer``: the sandbox layer is the latest published for the function's runtime and
  architecture (the SSM parameter ``sandbox layer publish`` writes, else the newest version);
- ``profile``: the profile layer holds the profile in the repository, by hash: the hash in the
  layer's description, else the zip's ``CodeSha256`` (the package is deterministic), else the
  ``meta.json`` inside it;
- ``mode``: the mode is the one expected (``--mode``).

Each check is ``ok``, ``drift`` or ``unknown`` (could not be decided: said why); only ``drift``
makes the command exit 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError
from sandbox.fleet._api import AwsOptions, FleetError, call, error_code
from sandbox.fleet.functions import WRAPPER, attachment
from sandbox.fleet.layers import (
    SSM_PREFIX,
    get_layer_version,
    latest_layer_version_arn,
    layer_name_of,
    read_profile_layer,
    ssm_parameter_name,
)

__all__ = ["Check", "FunctionStatus", "check_function", "format_status"]

_HASH_IN_DESCRIPTION = re.compile(r"\bprofile ([0-9a-f]{12,64})\b")


@dataclass(frozen=True)
class Check:
    """One comparison: ``status`` is ``ok``, ``drift`` or ``unknown``."""

    name: str
    status: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"check": self.name, "status": self.status, "detail": self.detail}


@dataclass
class FunctionStatus:
    """The checks of one function (or qualified version/alias)."""

    function: str
    qualifier: str | None
    checks: list[Check] = field(default_factory=list)
    error: str | None = None

    @property
    def drift(self) -> bool:
        """Whether anything differs from what is expected (or the function could not be read)."""
        return self.error is not None or any(c.status == "drift" for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "function": self.function,
            "qualifier": self.qualifier,
            "in_sync": not self.drift,
            "error": self.error,
            "checks": [c.to_dict() for c in self.checks],
        }


def _wrapper_check(config: Mapping[str, Any]) -> Check:
    state = attachment(config)
    variables = (config.get("Environment") or {}).get("Variables") or {}
    if state.sandbox_layer is None:
        return Check("wrapper", "drift", "no sandbox layer attached")
    if state.method == "wrapper":
        return Check("wrapper", "ok", f"AWS_LAMBDA_EXEC_WRAPPER={WRAPPER}")
    if state.method == "redirect":
        original = variables.get("SANDBOX_ORIGINAL_HANDLER")
        if not original:
            return Check(
                "wrapper", "drift", "handler redirected but SANDBOX_ORIGINAL_HANDLER is not set"
            )
        return Check("wrapper", "ok", f"handler redirected (original {original})")
    other = variables.get("AWS_LAMBDA_EXEC_WRAPPER")
    if other:
        return Check(
            "wrapper",
            "drift",
            f"wrapper missing: AWS_LAMBDA_EXEC_WRAPPER is {other!r} (another tool took the "
            "slot); the sandbox layer is attached but never loads: attach with handler "
            "redirection instead",
        )
    return Check(
        "wrapper",
        "drift",
        "wrapper missing: AWS_LAMBDA_EXEC_WRAPPER is not set; the sandbox layer is attached "
        "but never loads",
    )


def _latest_sandbox_layer(
    opts: AwsOptions, attached: str, runtime: str, arch: str, ssm_prefix: str
) -> tuple[str | None, str]:
    """The newest sandbox layer version ARN and where it was learnt from."""
    name = ssm_parameter_name(runtime, arch, prefix=ssm_prefix)
    try:
        value = call(opts.client("ssm"), "get_parameter", opts, Name=name)["Parameter"]["Value"]
        return str(value), f"SSM {name}"
    except FleetError:
        raise
    except Exception as exc:
        if error_code(exc) != "ParameterNotFound":
            raise
    layer_arn = attached.rsplit(":", 1)[0]  # the unversioned layer ARN works across accounts
    return latest_layer_version_arn(opts, layer_arn), "the newest published version"


def _layer_check(opts: AwsOptions, config: Mapping[str, Any], ssm_prefix: str) -> Check:
    attached = attachment(config).sandbox_layer
    if attached is None:
        return Check("layer", "drift", "no sandbox layer attached")
    runtime = str(config.get("Runtime") or "")
    arch = str((config.get("Architectures") or ["x86_64"])[0])
    try:
        latest, source = _latest_sandbox_layer(opts, attached, runtime, arch, ssm_prefix)
    except (FleetError, SandboxError) as exc:
        return Check("layer", "unknown", f"cannot find the latest sandbox layer: {exc}")
    except Exception as exc:
        return Check("layer", "unknown", f"cannot find the latest sandbox layer: {exc}")
    name, version = layer_name_of(attached)
    if latest is None:
        return Check("layer", "unknown", f"{name}:{version}; no published version found")
    if latest == attached:
        return Check("layer", "ok", f"{name}:{version} (latest, from {source})")
    latest_name, latest_version = layer_name_of(latest)
    return Check(
        "layer",
        "drift",
        f"{name}:{version} is behind {latest_name}:{latest_version} (from {source})",
    )


def _deployed_profile_hash(
    opts: AwsOptions, arn: str, expected_code_sha: str, cache_dir: Path | None
) -> tuple[str | None, str]:
    """The deployed profile layer's profile hash, or ``(None, reason)``; ``"="`` for a zip
    whose bytes are the expected package's."""
    info = get_layer_version(opts, arn)
    match = _HASH_IN_DESCRIPTION.search(str(info.get("Description") or ""))
    if match:
        return match.group(1), "layer description"
    if str(info.get("Content", {}).get("CodeSha256") or "") == expected_code_sha:
        return "=", "CodeSha256"
    meta, why = read_profile_layer(opts, arn, cache_dir=cache_dir)
    if meta is None:
        return None, why or "unreadable"
    sha = meta.get("profile_sha256")
    return (str(sha) if sha else None), "meta.json"


def _profile_check(
    opts: AwsOptions, config: Mapping[str, Any], profile: Path | None, cache_dir: Path | None
) -> Check:
    from sandbox.profile.package import package_profile

    deployed = attachment(config).profile_layer
    if profile is None:
        shown = f"{layer_name_of(deployed)[0]}:{layer_name_of(deployed)[1]}" if deployed else "none"
        return Check("profile", "unknown", f"no profile in the repository to compare ({shown})")
    try:
        package = package_profile(profile)
    except SandboxError as exc:
        return Check("profile", "unknown", f"{profile}: {exc}")
    want = package.profile_sha256
    if deployed is None:
        return Check("profile", "drift", f"no profile layer attached; {profile} is {want[:12]}")
    name, version = layer_name_of(deployed)
    try:
        found, how = _deployed_profile_hash(opts, deployed, package.code_sha256, cache_dir)
    except Exception as exc:
        return Check("profile", "unknown", f"{name}:{version}: cannot read it ({exc})")
    if found == "=" or (found is not None and want.startswith(found)):
        return Check("profile", "ok", f"{name}:{version} holds {profile} ({want[:12]}, by {how})")
    if found is None:
        return Check("profile", "unknown", f"{name}:{version}: {how}")
    return Check(
        "profile",
        "drift",
        f"{name}:{version} holds profile {found[:12]}, {profile} is {want[:12]} (by {how}): "
        "deploy the repository's profile",
    )


def _mode_check(config: Mapping[str, Any], expected: str | None) -> Check:
    mode = attachment(config).mode
    if expected is None:
        return Check("mode", "ok", f"{mode} (no --mode to compare)")
    if mode == expected:
        return Check("mode", "ok", mode)
    return Check("mode", "drift", f"{mode}, expected {expected}")


def check_function(
    opts: AwsOptions,
    function: str,
    *,
    profile: Path | None = None,
    mode: str | None = None,
    qualifier: str | None = None,
    ssm_prefix: str = SSM_PREFIX,
    cache_dir: Path | None = None,
) -> FunctionStatus:
    """Compare one function's deployed sandbox with what is expected; never raises.

    Parameters
    ----------
    function:
        Function name or ARN.
    profile:
        The function's profile in the repository (source form); ``None`` skips that check.
    mode:
        The expected mode; ``None`` skips that check.
    qualifier:
        A version or alias to check instead of ``$LATEST`` (what callers of the alias run).
    ssm_prefix:
        Where ``sandbox layer publish`` wrote the layer parameters.
    cache_dir:
        Local cache of published profile zips (:func:`sandbox.fleet.layers.read_profile_layer`).

    Example
    -------
    >>> check_function(AwsOptions(), "orders", mode="enforce").drift  # doctest: +SKIP
    False
    """
    status = FunctionStatus(function, qualifier)
    kwargs: dict[str, Any] = {"FunctionName": function}
    if qualifier:
        kwargs["Qualifier"] = qualifier
    try:
        config = call(opts.client("lambda"), "get_function_configuration", opts, **kwargs)
    except FleetError as exc:
        status.error = str(exc)
        return status
    except Exception as exc:
        code = error_code(exc)
        status.error = "function not found" if code == "ResourceNotFoundException" else str(exc)
        return status
    status.checks = [
        _wrapper_check(config),
        _layer_check(opts, config, ssm_prefix),
        _profile_check(opts, config, profile, cache_dir),
        _mode_check(config, mode),
    ]
    return status


def format_status(statuses: Sequence[FunctionStatus]) -> str:
    """One line per function (``in sync`` or ``DRIFT``), then one indented line per check."""
    lines = []
    for status in statuses:
        name = status.function + (f":{status.qualifier}" if status.qualifier else "")
        if status.error:
            lines.append(f"{name}: ERROR {status.error}")
            continue
        lines.append(f"{name}: {'DRIFT' if status.drift else 'in sync'}")
        for check in status.checks:
            lines.append(f"  {check.name:<8} {check.status:<7} {check.detail}")
    return "\n".join(lines)
