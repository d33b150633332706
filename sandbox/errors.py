"""The sandbox's exceptions, all rooted at :class:`SandboxError` (defined in the runtime).

Hierarchy::

    SandboxError (Exception)
     ├── ProfileError (+ ValueError)          a profile is missing, unreadable or invalid
     ├── ConfigError (+ ValueError)           a SANDBOX_* setting is invalid
     ├── SandboxViolation                     an operation the profile does not allow
     │    ├── PermissionViolation (+ PermissionError)   files, network, processes, native, code, aws
     │    └── ImportViolation (+ ImportError)           modules (so optional-import fallbacks work)
     └── tooling errors, each beside its feature:
          profile.observations.SourceError, profile.build.BuildError (+ ValueError),
          layer.build.LayerBuildError (+ RuntimeError), fleet.FleetError → fleet.Refused

The runtime's errors live in :mod:`sandbox.runtime.errors` (the layer ships them); this module
is their public name for the tooling and for code that imports ``sandbox``.
"""

from __future__ import annotations

from sandbox.runtime.errors import (
    ConfigError,
    ImportViolation,
    PermissionViolation,
    ProfileError,
    SandboxError,
    SandboxViolation,
)

__all__ = [
    "ConfigError",
    "ImportViolation",
    "PermissionViolation",
    "ProfileError",
    "SandboxError",
    "SandboxViolation",
]
