"""The sandbox's exceptions, all rooted at :class:`SandboxError`.

Hierarchy::

    SandboxError (Exception)
     ├── ProfileError (+ ValueError)          a profile is missing, unreadable or invalid
     ├── ConfigError (+ ValueError)           a SANDBOX_* setting is invalid
     ├── SandboxViolation                     an operation the profile does not allow
     │    ├── PermissionViolation (+ PermissionError)   files, network, processes, native, code, aws
     │    └── ImportViolation (+ ImportError)           modules (so optional-import fallbacks work)
     └── (the tooling's own errors: drawn in ``sandbox.errors``, not shipped in the layer)

Violations subclass the builtin a caller would naturally catch: code that already handles
``PermissionError`` from the OS handles a blocked ``open`` the same way, and ``try: import x
except ImportError`` keeps working for a blocked module.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ImportViolation",
    "PermissionViolation",
    "ProfileError",
    "SandboxError",
    "SandboxViolation",
]


class SandboxError(Exception):
    """Root of every error the sandbox raises."""


class ProfileError(SandboxError, ValueError):
    """A profile is missing, unreadable or invalid; the message names the file and the field."""

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        where = ""
        if source:
            where += f"{source}: "
        if field:
            where += f"{field}: "
        super().__init__(where + message)


class ConfigError(SandboxError, ValueError):
    """A ``SANDBOX_*`` environment setting has a value the sandbox does not understand."""


class SandboxViolation(SandboxError):
    """An operation outside the profile, blocked in ``enforce`` mode.

    Attributes
    ----------
    category, action, target:
        What was attempted, e.g. ``files``, ``read``, ``/etc/passwd``.
    rule:
        The profile rule that would allow it (empty if a ceiling forbids it outright).
    """

    category: str
    action: str
    target: str
    rule: str

    def _describe(self, category: str, action: str, target: str, rule: str) -> str:
        self.category = category
        self.action = action
        self.target = target
        self.rule = rule
        # (no rule: the ceiling, an argument the sandbox cannot read, an unprotected child, a
        # tamper -- refusals no profile rule lifts; the finding names which)
        hint = f"; a rule that would allow it: {rule}" if rule else "; no rule can allow it"
        return f"lambda-sandbox blocked {category} {action} {target!r}{hint}"


class PermissionViolation(SandboxViolation, PermissionError):
    """A blocked file, network, process, native-code or code-evaluation operation."""

    def __init__(self, category: str, action: str, target: str, rule: str = ""):
        message = self._describe(category, action, target, rule)
        PermissionError.__init__(self, 1, message)  # errno 1 = EPERM, as the kernel would say

    def __str__(self) -> str:
        return str(self.strerror)


class ImportViolation(SandboxViolation, ModuleNotFoundError):
    """A blocked module import: a ``ModuleNotFoundError`` (an ``ImportError``), so
    ``except ImportError`` and ``except ModuleNotFoundError`` fallbacks keep working."""

    def __init__(self, category: str, action: str, target: str, rule: str = ""):
        message = self._describe(category, action, target, rule)
        ModuleNotFoundError.__init__(self, message, name=target)
