"""Risk marks: which rules a reviewer must read (``!`` in diffs, ``risk`` in the policy file).

==================  =======================================================================
reason              when
==================  =======================================================================
broad glob          a target ``check`` calls over-broad (an error in ``check``)
write under {task}  ``files`` ``write`` under the function's own code (``app.py`` could be
                    overwritten; profiles learned before ``dir_fd`` cleanup was resolved)
write outside tmp   other ``files`` ``write`` not under ``{tmp}`` (``/dev/null`` excepted)
/proc               any ``files`` rule under ``/proc``
exec / shell        any ``processes`` rule; ``shell`` when the executable is a shell
shell wildcard …    a shell command's wildcard where a program is named: matched literally
                    (a profile built before that word was kept as learned)
raw IP host         ``network`` rule whose host is an IP address
native code         any ``native`` rule, or importing ``ctypes``/``_ctypes``/``cffi``
code <action>      any ``code`` rule (``code compile``: ``eval``/``exec`` of strings after init)
==================  =======================================================================
"""

from __future__ import annotations

from sandbox.profile.model import Rule
from sandbox.runtime.decoders.network import norm_ip
from sandbox.runtime.globs import (
    SHELLS,
    has_wildcard,
    shell_command_index,
    shell_pieces,
)
from sandbox.runtime.policy import host_part

_NATIVE_MODULES = ("ctypes", "_ctypes", "cffi", "_cffi_backend")
CODE_ROOTS = ("{task}", "{site}", "{stdlib}", "{prefix}", "{opt}", "{runtime}")


def _is_ip(host: str) -> bool:
    return norm_ip(host) is not None


def broad_reason(category: str, rule: Rule) -> str | None:
    """Why a rule's target is over-broad, or ``None``.

    Example
    -------
    >>> broad_reason("files", Rule(action="read", target="/**"))
    'matches every path'
    >>> broad_reason("files", Rule(action="write", target="{tmp}/**")) is None
    True
    """
    target = rule.target
    if category in ("files", "native", "code") or (
        category == "processes" and rule.action == "exec"
    ):
        if target in ("*", "**", "/*", "/**") or target.startswith(("**", "/**", "/*/")):
            return "matches every path"
        if (
            category == "files"
            and rule.action == "write"
            and target
            in (
                *(f"{root}/**" for root in CODE_ROOTS),
                *(f"{root}/*" for root in CODE_ROOTS),
            )
        ):
            return "write to a whole code root"
    elif category == "network":
        host = host_part(target) if ":" in target or target.startswith("[") else target
        if host.replace(".", "").replace("*", "") == "":
            return "matches every host"
    elif (
        category in ("modules", "aws")
        and target.replace(".", "").replace(":", "").replace("*", "") == ""
    ):
        return "matches everything"
    return None


def risk(category: str, rule: Rule) -> str | None:
    """Why an added rule deserves a reviewer's attention, or ``None``.

    Example
    -------
    >>> risk("files", Rule(action="write", target="{task}/cache.db"))
    'write under {task}'
    """
    broad = broad_reason(category, rule)
    if broad:
        return f"broad glob: {broad}"
    target = rule.target
    if category == "files":
        if target.startswith("/proc"):
            return "/proc"
        if rule.action == "write" and (target == "{task}" or target.startswith("{task}/")):
            return "write under {task}"
        if rule.action == "write" and not (
            target == "{tmp}" or target.startswith("{tmp}/") or target == "/dev/null"
        ):
            return "write outside {tmp}"
    elif category == "processes":
        argv = rule.argv or []
        at = shell_command_index(target, argv)
        if at >= 0 and any(
            names and has_wildcard(p, "shell") for p, names in shell_pieces(argv[at])
        ):
            # (such a rule matches only the literal text: see globs.shell_pieces)
            return "shell wildcard where a program is named (matched literally)"
        if target.rsplit("/", 1)[-1] in SHELLS:
            return "shell"
        return "exec"
    elif category == "network" and rule.action in ("connect", "sendto", "bind"):
        if _is_ip(host_part(target)):
            return "raw IP host"
    elif category == "native":
        return "native code"
    elif category == "modules" and target.partition(".")[0] in _NATIVE_MODULES:
        return "native code (ctypes)"
    elif category == "code" and rule.action == "shape":
        # Most features narrow what a site evaluates; these let it reach anything.
        feature = target.rpartition("#")[2]
        name = feature.partition(":")[2]
        if feature in _REACHING_SHAPES or (name.startswith("__") and name.endswith("__")):
            return f"evaluated code may use {feature}"
    elif category == "code":
        return f"code {rule.action}"
    return None


_REACHING_SHAPES = frozenset(
    {"Call", "Import", "ImportFrom", "Lambda", "FunctionDef", "AsyncFunctionDef", "ClassDef"}
)


__all__ = ["broad_reason", "risk"]
