"""Layer versions: the sandbox layer (per runtime and arch) and per-function profile layers.

Names (letters, digits, ``-``, ``_``; Lambda's rule):

- ``lambda-sandbox-py311-x86_64``: the sandbox layer for one runtime and architecture.
- ``sandbox-profile-<function>``: the function's compiled profile, at
  ``sandbox-profile/profile.json`` in the zip (so ``/opt/sandbox-profile/profile.json`` in
  Lambda, the default ``SANDBOX_PROFILE``), beside ``sandbox-profile/meta.json`` (function,
  profile digest, learning state, hosts and AWS services) that ``inventory`` reads back.

Each published sandbox layer version is also written to SSM parameters, like the public Powertools
layers, so templates resolve the current version by name (:func:`ssm_parameter_name`):

- ``/lambda-sandbox/layer/x86_64/python3.12/latest``: the newest version;
- ``/lambda-sandbox/layer/x86_64/python3.12/0.1.0``: the version for this release of the tool.

Profile zips are deterministic: the same compiled profile gives the same bytes, hence the same
``CodeSha256``, so publishing it again reuses the existing version (idempotent). Every published
zip is also kept in a local cache keyed by that digest, so ``inventory`` can read a profile back
when Lambda's ``Content.Location`` cannot be fetched (moto answers ``s3://``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.fleet._api import AwsOptions, FleetError, call, error_code, paginate

__all__ = [
    "PROFILE_LAYER_PREFIX",
    "PYTHON_RUNTIMES",
    "SANDBOX_LAYER_PREFIX",
    "SSM_PREFIX",
    "default_cache_dir",
    "find_sandbox_layer",
    "get_layer_version",
    "is_profile_layer",
    "is_sandbox_layer",
    "latest_layer_version_arn",
    "layer_name_of",
    "profile_layer_name",
    "profile_summary",
    "profile_zip",
    "publish_profile_layer",
    "publish_sandbox_layer",
    "read_profile_layer",
    "sandbox_layer_name",
    "share_layer_version",
    "ssm_parameter_name",
    "write_layer_parameters",
]

# python3.14 runs the layer's pure-Python core (no native build for it yet); python3.10 stays
# while Lambda still runs it (deprecated 31 Oct 2026, updates blocked from 15 Jan 2027).
PYTHON_RUNTIMES = ("python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
SANDBOX_LAYER_PREFIX = "lambda-sandbox-"
PROFILE_LAYER_PREFIX = "sandbox-profile-"
SSM_PREFIX = "/lambda-sandbox"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_LAYER_ARN = re.compile(
    r"^arn:[^:]+:lambda:[^:]*:[^:]*:layer:(?P<name>[A-Za-z0-9_-]+)(?::(?P<version>\d+))?$"
)


def default_cache_dir() -> Path:
    """Where published profile zips are kept (``~/.cache/lambda-sandbox/layers``)."""
    return Path.home() / ".cache" / "lambda-sandbox" / "layers"


def sandbox_layer_name(runtime: str, arch: str) -> str:
    """``lambda-sandbox-py311-x86_64`` for ``python3.11`` on ``x86_64``."""
    if not runtime.startswith("python3."):
        raise FleetError(f"runtime {runtime!r} is not a Python 3 runtime")
    return f"{SANDBOX_LAYER_PREFIX}py{runtime.removeprefix('python').replace('.', '')}-{arch}"


def profile_layer_name(function: str) -> str:
    """``sandbox-profile-<function>`` (function names already fit layer-name rules)."""
    name = function.rsplit(":function:", 1)[-1].split(":")[0]
    return f"{PROFILE_LAYER_PREFIX}{name}"[:140]


def layer_name_of(arn: str) -> tuple[str, int | None]:
    """``(name, version)`` of a layer (version) ARN."""
    match = _LAYER_ARN.match(arn)
    if not match:
        raise FleetError(f"{arn!r} is not a layer ARN")
    version = match.group("version")
    return match.group("name"), int(version) if version else None


def is_sandbox_layer(arn: str) -> bool:
    """Whether a layer version ARN is a sandbox layer (any runtime, arch, version)."""
    try:
        return layer_name_of(arn)[0].startswith(SANDBOX_LAYER_PREFIX)
    except FleetError:
        return False


def is_profile_layer(arn: str) -> bool:
    """Whether a layer version ARN is a sandbox profile layer."""
    try:
        return layer_name_of(arn)[0].startswith(PROFILE_LAYER_PREFIX)
    except FleetError:
        return False


def publish_sandbox_layer(
    opts: AwsOptions, zip_path: Path, *, arch: str, runtimes: Sequence[str] = PYTHON_RUNTIMES
) -> list[dict[str, Any]]:
    """Publish ``zip_path`` as one layer version per runtime for ``arch``.

    A runtime whose latest version already holds the same bytes is not published again.

    Returns
    -------
    list of dict
        ``{"runtime", "arn", "version", "published"}`` per runtime.
    """
    try:
        data = zip_path.read_bytes()
    except OSError as exc:
        raise FleetError(
            f"cannot read layer zip {zip_path}: {exc.strerror}; "
            f"run `sandbox layer build --arch {arch}` first"
        ) from exc
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    client = opts.client("lambda")
    out = []
    for runtime in runtimes:
        name = sandbox_layer_name(runtime, arch)
        latest = _latest_version(opts, name)
        if latest and _code_sha(opts, latest["LayerVersionArn"]) == digest:
            out.append(
                {
                    "runtime": runtime,
                    "arn": latest["LayerVersionArn"],
                    "version": latest["Version"],
                    "published": False,
                }
            )
            continue
        response = call(
            client,
            "publish_layer_version",
            opts,
            LayerName=name,
            Description=f"lambda-sandbox runtime layer ({runtime}, {arch})",
            Content={"ZipFile": data},
            CompatibleRuntimes=[runtime],
            CompatibleArchitectures=[arch],
            LicenseInfo="Apache-2.0",
        )
        out.append(
            {
                "runtime": runtime,
                "arn": response["LayerVersionArn"],
                "version": response["Version"],
                "published": True,
            }
        )
    return out


def ssm_parameter_name(
    runtime: str, arch: str, *, prefix: str = SSM_PREFIX, release: str = "latest"
) -> str:
    """The SSM parameter holding the sandbox layer version ARN for a runtime and arch.

    Example
    -------
    >>> ssm_parameter_name("python3.12", "arm64")
    '/lambda-sandbox/layer/arm64/python3.12/latest'
    """
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise FleetError(f"SSM prefix {prefix!r}: expected /name (a leading slash, none trailing)")
    return f"{prefix}/layer/{arch}/{runtime}/{release}"


def write_layer_parameters(
    opts: AwsOptions,
    published: Sequence[Mapping[str, Any]],
    *,
    arch: str,
    prefix: str = SSM_PREFIX,
    releases: Sequence[str] = ("latest",),
) -> list[dict[str, Any]]:
    """Write each layer version ARN to its SSM parameters (one per release label).

    A parameter already holding the ARN is left alone, so re-publishing unchanged bytes writes
    nothing and the parameter's history shows only real changes.

    Parameters
    ----------
    published:
        :func:`publish_sandbox_layer`'s answer (``runtime`` and ``arn`` per item).
    releases:
        The last path element(s): ``latest`` and, e.g., the tool's version.

    Returns
    -------
    list of dict
        ``{"name", "value", "written"}`` per parameter.
    """
    client = opts.client("ssm")
    out = []
    for item in published:
        for release in releases:
            name = ssm_parameter_name(str(item["runtime"]), arch, prefix=prefix, release=release)
            value = str(item["arn"])
            try:
                current = call(client, "get_parameter", opts, Name=name)["Parameter"]["Value"]
            except FleetError:
                raise
            except Exception as exc:
                if error_code(exc) != "ParameterNotFound":
                    raise
                current = None
            if current == value:
                out.append({"name": name, "value": value, "written": False})
                continue
            call(
                client,
                "put_parameter",
                opts,
                Name=name,
                Value=value,
                Type="String",
                Overwrite=True,
                Description=f"lambda-sandbox layer version ARN ({item['runtime']}, {arch})",
            )
            out.append({"name": name, "value": value, "written": True})
    return out


def share_layer_version(
    opts: AwsOptions, arn: str, *, organization_id: str | None = None, account: str | None = None
) -> str:
    """Let an AWS Organization (or one account) use a layer version: ``AddLayerVersionPermission``.

    Idempotent: the statement id is derived from the grantee, and an existing one is kept.

    Returns
    -------
    str
        The statement id.
    """
    if (organization_id is None) == (account is None):
        raise FleetError("share with exactly one of an organization id or an account id")
    name, version = layer_name_of(arn)
    if version is None:
        raise FleetError(f"{arn!r} has no version number")
    grantee = organization_id or account or ""
    sid = f"lambda-sandbox-{grantee}"
    kwargs: dict[str, Any] = {
        "LayerName": name,
        "VersionNumber": version,
        "StatementId": sid,
        "Action": "lambda:GetLayerVersion",
        "Principal": "*" if organization_id else str(account),
    }
    if organization_id:
        kwargs["OrganizationId"] = organization_id
    client = opts.client("lambda")
    try:
        policy = call(
            client, "get_layer_version_policy", opts, LayerName=name, VersionNumber=version
        )
        statements = json.loads(policy.get("Policy") or "{}").get("Statement", [])
    except FleetError:
        raise
    except Exception as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        statements = []
    if any(statement.get("Sid") == sid for statement in statements):
        return sid  # already shared: adding it again would be a conflict
    call(client, "add_layer_version_permission", opts, **kwargs)
    return sid


def _latest_version(opts: AwsOptions, name: str) -> dict[str, Any] | None:
    client = opts.client("lambda")
    try:
        versions = list(
            paginate(client, "list_layer_versions", "LayerVersions", opts, LayerName=name)
        )
    except FleetError:
        raise
    except Exception as exc:
        if getattr(exc, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    if not versions:
        return None
    latest: dict[str, Any] = max(versions, key=lambda v: int(v["Version"]))
    return latest


def latest_layer_version_arn(opts: AwsOptions, layer: str) -> str | None:
    """The newest version ARN of a layer (name, or layer ARN for another account's); ``None``
    when it has no version."""
    latest = _latest_version(opts, layer)
    return str(latest["LayerVersionArn"]) if latest else None


def get_layer_version(opts: AwsOptions, arn: str) -> dict[str, Any]:
    """GetLayerVersion for a layer version ARN (the layer's ARN as name: works across accounts)."""
    version = layer_name_of(arn)[1]
    if version is None:
        raise FleetError(f"{arn!r} has no version number")
    layer_arn = arn.rsplit(":", 1)[0]
    response: dict[str, Any] = call(
        opts.client("lambda"), "get_layer_version", opts, LayerName=layer_arn, VersionNumber=version
    )
    return response


def _code_sha(opts: AwsOptions, arn: str) -> str | None:
    response = get_layer_version(opts, arn)
    sha = response.get("Content", {}).get("CodeSha256")
    return str(sha) if sha else None


def find_sandbox_layer(opts: AwsOptions, runtime: str, arch: str) -> str:
    """The latest sandbox layer version ARN for a runtime and arch in this region."""
    name = sandbox_layer_name(runtime, arch)
    latest = _latest_version(opts, name)
    if latest is None:
        raise FleetError(
            f"no sandbox layer {name} in {opts.region_name()}: "
            f"run `sandbox layer publish --arch {arch}` "
            "or pass --layer-arn"
        )
    return str(latest["LayerVersionArn"])


# --------------------------------------------------------------------------- profile layers


def profile_summary(profile: Any, compiled: Mapping[str, Any]) -> dict[str, Any]:
    """What ``meta.json`` holds: digest, learning state, hosts and AWS services talked to."""
    hosts: set[str] = set()
    services: set[str] = set()
    calls: set[str] = set()
    for key, targets in compiled.get("rules", {}).items():
        category, action = key.split("/")[:2]
        if category == "network" and action in ("connect", "sendto"):
            hosts.update(str(t) for t in targets)
        elif category == "aws" and action == "call":
            calls.update(str(t) for t in targets)
            services.update(str(t).split(":", 1)[0] for t in targets)
    learning = profile.learning.model_dump(mode="json", exclude={"sources"})
    return {
        "function": getattr(profile, "function", ""),
        "profile_sha256": compiled.get("profile_sha256"),
        "learning": learning,
        "hosts": sorted(hosts),
        "aws_services": sorted(services),
        "aws_calls": sorted(calls),
    }


def profile_zip(compiled: Mapping[str, Any], meta: Mapping[str, Any]) -> bytes:
    """The profile layer's zip: ``sandbox-profile/profile.json`` + ``meta.json``, deterministic."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, document in (
            ("sandbox-profile/meta.json", meta),
            ("sandbox-profile/profile.json", compiled),
        ):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode() + b"\n"
            zf.writestr(info, body, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buffer.getvalue()


def _cache(cache_dir: Path | None, data: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        (cache_dir / f"{_cache_key(digest)}.zip").write_bytes(data)
    return digest


def _cache_key(code_sha256: str) -> str:
    return code_sha256.replace("/", "_").replace("+", "-").rstrip("=")


def publish_profile_layer(
    opts: AwsOptions,
    function: str,
    data: bytes,
    *,
    runtimes: Sequence[str] = PYTHON_RUNTIMES,
    description: str = "",
    cache_dir: Path | None = None,
) -> tuple[str, bool]:
    """Publish a profile zip as the next version of the function's profile layer.

    Returns
    -------
    (str, bool)
        The layer version ARN and whether a new version was published (``False``: the latest
        version already holds these bytes).
    """
    name = profile_layer_name(function)
    digest = _cache(cache_dir, data)
    latest = _latest_version(opts, name)
    if latest and _code_sha(opts, latest["LayerVersionArn"]) == digest:
        return str(latest["LayerVersionArn"]), False
    response = call(
        opts.client("lambda"),
        "publish_layer_version",
        opts,
        LayerName=name,
        Description=description[:256],
        Content={"ZipFile": data},
        CompatibleRuntimes=list(runtimes),
    )
    return str(response["LayerVersionArn"]), True


def planned_profile_layer(opts: AwsOptions, function_arn: str, data: bytes) -> tuple[str, bool]:
    """The profile layer version ARN :func:`publish_profile_layer` would give, publishing nothing.

    Returns
    -------
    (str, bool)
        The ARN and whether a new version would be published (``True``: the ARN is the next
        version number, as Lambda will number it unless someone publishes first).

    Example
    -------
    >>> planned_profile_layer(opts, "arn:aws:lambda:us-east-1:1:function:orders", data)  # doctest: +SKIP
    ('arn:aws:lambda:us-east-1:1:layer:sandbox-profile-orders:3', True)
    """

    parts = function_arn.split(":")
    function = parts[6] if len(parts) >= 7 else function_arn
    name = profile_layer_name(function)
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    latest = _latest_version(opts, name)
    if latest and _code_sha(opts, latest["LayerVersionArn"]) == digest:
        return str(latest["LayerVersionArn"]), False
    version = int(latest["Version"]) + 1 if latest else 1
    if latest:
        return f"{str(latest['LayerVersionArn']).rsplit(':', 1)[0]}:{version}", True
    if len(parts) < 5:
        raise FleetError(f"cannot derive the profile layer ARN from {function_arn!r}")
    return f"arn:{parts[1]}:lambda:{parts[3]}:{parts[4]}:layer:{name}:{version}", True


def read_profile_layer(
    opts: AwsOptions, arn: str, *, cache_dir: Path | None = None, timeout: float = 10.0
) -> tuple[dict[str, Any] | None, str | None]:
    """Read a profile layer version back: ``(meta, None)`` or ``(None, why not)``.

    The local cache (by ``CodeSha256``) is tried first, then ``Content.Location`` (a presigned
    URL in AWS); bytes are checked against ``CodeSha256`` either way.
    """
    try:
        response = get_layer_version(opts, arn)
    except FleetError as exc:
        return None, str(exc)
    except Exception as exc:
        return None, f"GetLayerVersion failed: {exc}"
    content = response.get("Content", {})
    sha = str(content.get("CodeSha256") or "")
    data: bytes | None = None
    if cache_dir is not None and sha:
        cached = cache_dir / f"{_cache_key(sha)}.zip"
        if cached.is_file():
            data = cached.read_bytes()
    location = str(content.get("Location") or "")
    if data is None:
        if not location.startswith(("https://", "http://")):
            return (
                None,
                f"profile not retrievable: layer content location is {location or 'empty'!r} "
                "and it is not in the local cache",
            )
        try:
            with urllib.request.urlopen(location, timeout=timeout) as answer:
                data = answer.read()
        except Exception as exc:
            return None, f"profile not retrievable: download failed ({exc})"
    if sha and base64.b64encode(hashlib.sha256(data).digest()).decode() != sha:
        return None, "profile not retrievable: content does not match CodeSha256"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            meta = json.loads(zf.read("sandbox-profile/meta.json"))
    except (KeyError, zipfile.BadZipFile, ValueError) as exc:
        return None, f"not a sandbox profile layer ({exc})"
    return dict(meta), None
