"""The profile layer as a build artefact: a reviewed profile compiled and laid out as a layer.

``sandbox profile package PROFILE -o OUT`` writes the layer that an IaC tool deploys:

- ``OUT`` ending in ``.zip``: the layer zip, byte for byte what ``sandbox enforce`` publishes
  (:func:`sandbox.fleet.layers.profile_zip`): the same profile always gives the same bytes, so
  SAM, CDK and Terraform see an unchanged artefact and publish no new layer version;
- any other ``OUT``: a directory holding the layer's tree (``sandbox-profile/profile.json`` and
  ``meta.json``), the same files as the zip's members.

In Lambda the profile lands at ``/opt/sandbox-profile/profile.json``, the default
``SANDBOX_PROFILE``. The package's manifest (``--manifest FILE``, ``--json``) names the profile's
hash, the layer description that carries it, and the zip's ``CodeSha256``: ``sandbox status``
compares a deployed profile layer with the repository's profile by either.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError

__all__ = [
    "PROFILE_PATH",
    "Package",
    "PackageError",
    "layer_description",
    "package_profile",
    "write_manifest",
    "write_package",
]

# Where the runtime reads the profile by default (SANDBOX_PROFILE), inside the layer's /opt.
PROFILE_PATH = "/opt/sandbox-profile/profile.json"


class PackageError(SandboxError, ValueError):
    """The profile could not be packaged (invalid profile, unwritable output)."""


def layer_description(function: str, profile_sha256: str) -> str:
    """The profile layer's description: names the function and carries the profile's hash.

    The full hash is kept (Lambda allows 256 characters) so drift checks need no download.

    Example
    -------
    >>> layer_description("orders", "ab" * 32)[:38]
    'lambda-sandbox profile abababababababab'
    """
    return f"lambda-sandbox profile {profile_sha256} for {function}"[:256]


@dataclass(frozen=True)
class Package:
    """A packaged profile: the layer zip's bytes and what identifies them.

    Attributes
    ----------
    function:
        The profile's function.
    profile_sha256:
        The compiled profile's ``profile_sha256`` (hex), the hash in the layer description.
    data:
        The layer zip (deterministic).
    """

    function: str
    profile_sha256: str
    data: bytes

    @property
    def code_sha256(self) -> str:
        """The zip's digest as Lambda reports it (``CodeSha256``: base64 of the SHA-256)."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()

    @property
    def description(self) -> str:
        """The layer description to publish it with."""
        return layer_description(self.function, self.profile_sha256)

    def manifest(self, out: Path | None = None) -> dict[str, Any]:
        """JSON-ready summary; ``zip`` is the output's file name when ``out`` is a zip."""
        document: dict[str, Any] = {
            "function": self.function,
            "profile_sha256": self.profile_sha256,
            "description": self.description,
            "code_sha256": self.code_sha256,
            "profile_path": PROFILE_PATH,
        }
        if out is not None and out.suffix == ".zip":
            document["zip"] = out.name
        return document


def package_profile(path: str | Path) -> Package:
    """Validate and compile a profile and build its layer zip (deterministic bytes).

    Parameters
    ----------
    path:
        The reviewed profile (source form, as kept in the repository).

    Raises
    ------
    PackageError
        The profile is invalid (the message names the file and field).

    Example
    -------
    >>> package_profile("profiles/orders.json").function  # doctest: +SKIP
    'orders'
    """
    # The profile layer's layout lives with the fleet's publish helpers: one definition for both.
    from sandbox.fleet.layers import profile_summary, profile_zip
    from sandbox.profile.model import Profile

    source = Path(path)
    try:
        profile = Profile.load(source)
        compiled = profile.compile(base_dir=source.resolve().parent)
    except SandboxError as exc:
        raise PackageError(str(exc)) from exc
    data = profile_zip(compiled, profile_summary(profile, compiled))
    return Package(profile.function, str(compiled["profile_sha256"]), data)


def write_package(package: Package, out: str | Path) -> Path:
    """Write the package as a zip (``out`` ends in ``.zip``) or as a layer directory tree.

    A directory receives exactly the zip's members, so both forms deploy the same files.

    Raises
    ------
    PackageError
        ``out`` cannot be written.
    """
    target = Path(out)
    try:
        if target.suffix == ".zip":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(package.data)
            return target
        with zipfile.ZipFile(io.BytesIO(package.data)) as zf:
            for member in zf.infolist():
                dest = target / member.filename
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(zf.read(member))
    except OSError as exc:
        raise PackageError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target


def write_manifest(package: Package, out: Path, manifest: str | Path) -> Path:
    """Write the package's manifest as JSON (deterministic) and return its path."""
    target = Path(manifest)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(package.manifest(out), indent=2, sort_keys=True) + "\n"
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise PackageError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target
