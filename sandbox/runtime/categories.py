"""The category registry: everything the sandbox knows about each kind of access, in one table.

A category names a family of capabilities a profile can grant. Each entry says which actions it
has, what its target is (a path, a host, a command line, a module name...), how ``*`` matches in
its globs, whether its targets are written against symbolic roots (``{task}/app.py``), which
violation class a block raises, and what a reviewer should look at twice (risk marks). The
decoders (``decoders/<category>.py``) produce accesses of these categories; the compiler, the
policy, the findings, the recorder and the profile tooling all read this table instead of
spelling category names again. ``docs/CATEGORIES.md`` shows how to add one.
"""

from __future__ import annotations

from .errors import ImportViolation, PermissionViolation

# The separator between an exec path and its argv items in a process target, and between the
# fields of a decision-cache key. A control character no path, host or argument can hold
# unnoticed (a target holding one is refused by its decoder).
ARG_SEP = "\x1f"
# Prefix of a target the decoder could not read (an object of a type the sandbox does not
# decode): such an access is refused in enforce whatever the profile says. NUL never occurs in
# a real path, host, module name or argument (the kernel and Python refuse them).
UNDECODABLE = "\x00"


class Category:
    """One row of the registry (immutable by convention: built once at import)."""

    __slots__ = (
        "actions",
        "glob_class",
        "name",
        "risky",
        "symbolic",
        "target_kind",
        "violation",
    )

    def __init__(
        self,
        name: str,
        actions: tuple[str, ...],
        target_kind: str,
        glob_class: str,
        symbolic: str,
        violation: type[PermissionViolation] | type[ImportViolation],
        risky: tuple[str, ...] = (),
    ):
        self.name = name
        self.actions = actions
        self.target_kind = target_kind
        self.glob_class = glob_class
        self.symbolic = symbolic  # "path", "site", "command" or "none": see roots.Roots.symbolic
        self.violation = violation
        self.risky = risky  # actions a reviewer always looks at twice


FILES = Category(
    "files",
    ("read", "write", "list", "connect"),
    target_kind="path",
    glob_class="files",
    symbolic="path",
    violation=PermissionViolation,
)
NETWORK = Category(
    "network",
    ("resolve", "reverse", "connect", "sendto", "bind", "socket", "adopt"),
    target_kind="host",
    glob_class="network",
    symbolic="none",
    violation=PermissionViolation,
)
PROCESSES = Category(
    "processes",
    ("exec", "fork", "kill", "env", "inject", "namespace"),
    target_kind="command",
    glob_class="files",  # the exec path; argv items have their own classes (globs.py)
    symbolic="command",
    violation=PermissionViolation,
    risky=("exec", "env", "inject", "namespace"),
)
MODULES = Category(
    "modules",
    ("import",),
    target_kind="module",
    glob_class="modules",
    symbolic="none",
    violation=ImportViolation,
)
NATIVE = Category(
    "native",
    ("dlopen", "dlsym", "memory", "ioctl"),
    target_kind="library",
    glob_class="native",
    symbolic="path",
    violation=PermissionViolation,
    risky=("dlopen", "dlsym", "memory", "ioctl"),
)
CODE = Category(
    "code",
    # compile: eval/exec/compile of source at a call site; exec: a module's code run outside
    # the import system's finders; construct: code or function objects built by hand;
    # unmarshal: marshal.loads outside the import system; introspect: gc walks and other
    # threads' frames; trace: trace/profile/monitoring callbacks; hook: a new audit hook;
    # shape: one feature of what the function's own eval/exec site evaluates (site#feature).
    (
        "compile",
        "exec",
        "construct",
        "unmarshal",
        "introspect",
        "trace",
        "hook",
        "tamper",
        "shape",
    ),
    target_kind="site",
    glob_class="code",
    symbolic="site",
    violation=PermissionViolation,
    risky=("compile", "construct", "unmarshal", "introspect", "trace", "hook"),
)
AWS = Category(
    "aws",
    ("call",),
    target_kind="aws",
    glob_class="aws",
    symbolic="none",
    violation=PermissionViolation,
)
# The sandbox's own failures: reported, never granted by a rule.
SANDBOX = Category(
    "sandbox",
    ("error",),
    target_kind="event",
    glob_class="aws",
    symbolic="none",
    violation=PermissionViolation,
)

REGISTRY: dict[str, Category] = {
    c.name: c for c in (FILES, NETWORK, PROCESSES, MODULES, NATIVE, CODE, AWS)
}
# Categories a profile may hold rules for, in their canonical order.
CATEGORIES: tuple[str, ...] = tuple(REGISTRY)
ACTIONS: dict[str, tuple[str, ...]] = {name: c.actions for name, c in REGISTRY.items()}


def violation_class(category: str) -> type[PermissionViolation] | type[ImportViolation]:
    """The exception a block of this category raises (modules: an ``ImportError``)."""
    entry = REGISTRY.get(category, SANDBOX)
    return entry.violation
