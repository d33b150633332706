"""lambda-sandbox: learn-then-enforce runtime sandbox for Python AWS Lambda functions.

The public surface is small: :func:`install` (any Python process), :func:`status`, the errors,
and the tooling-side :class:`Profile` model (imported lazily: the runtime never loads pydantic).

Example
-------
>>> import sandbox
>>> sandbox.install(mode="learn")  # doctest: +SKIP
"""

from __future__ import annotations

# First: install's module pauses the collector while the runtime's modules load (install.py).
from sandbox.runtime.install import install

# isort: split
# From the runtime's errors module (sandbox.errors re-exports these very classes for the
# tooling): `import sandbox` loads one module fewer (~50 µs of its cold start).
from sandbox.runtime.control import installed as status
from sandbox.runtime.errors import (
    ConfigError,
    ImportViolation,
    PermissionViolation,
    ProfileError,
    SandboxError,
    SandboxViolation,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any

    from sandbox.profile import Profile

__all__ = [
    "ConfigError",
    "ImportViolation",
    "PermissionViolation",
    "Profile",
    "ProfileError",
    "SandboxError",
    "SandboxViolation",
    "__version__",
    "install",
    "status",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The profile model needs pydantic; load it only when the tooling asks for it.
    if name == "Profile":
        from sandbox.profile import Profile

        return Profile
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
