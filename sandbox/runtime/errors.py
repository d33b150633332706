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
        return _message(category, action, target, rule)


def _message(category: str, action: str, target: str, rule: str) -> str:
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


# Building a violation inside the hook runs none of its class's code: the classes are public
# (the function catches them), so the function can rebind their ``__init__``, ``__new__``,
# ``_describe``, or set properties on them -- code that would run inside the hook. The
# instance is made by the built-in exception types' own C functions, captured now, and its
# attributes are written to its dict directly.
_oserror_new = OSError.__new__
_oserror_init = OSError.__init__
_exception_new = BaseException.__new__
_import_init = ImportError.__init__
_instance_dict = BaseException.__dict__["__dict__"].__get__
_dict_update = dict.update


def build_violation(
    cls: type[SandboxViolation], category: str, action: str, target: str, rule: str = ""
) -> SandboxViolation:
    """An instance of ``cls`` (:class:`PermissionViolation` or :class:`ImportViolation`) as
    their ``__init__`` would make it, made without running any code of the class's.

    Example
    -------
    >>> str(build_violation(PermissionViolation, "files", "read", "/etc/shadow"))
    "lambda-sandbox blocked files read '/etc/shadow'; no rule can allow it"
    """
    message = _message(category, action, target, rule)
    made: object
    if issubclass(cls, ImportError):
        made = _exception_new(cls)
        _import_init(made, message, name=target)
    else:
        made = _oserror_new(cls, 1, message)
        _oserror_init(made, 1, message)  # errno 1 = EPERM, as the kernel would say
    fields = {"category": category, "action": action, "target": target, "rule": rule}
    _dict_update(_instance_dict(made), fields)
    return made
