"""Child processes: which environment variables are dangerous, and whether a Python child is protected.

(Interim version: the complete one — with the child_site that installs the sandbox in every
Python child — replaces it.)
"""

from __future__ import annotations

_str_startswith = str.startswith

DANGEROUS_ENV = frozenset(
    {
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONINSPECT",
        "PYTHONBREAKPOINT",
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PROMPT_COMMAND",
        "IFS",
        "GCONV_PATH",
        "LOCALDOMAIN",
        "RES_OPTIONS",
        "HOSTALIASES",
        "NODE_OPTIONS",
        "PERL5OPT",
        "PERL5LIB",
        "RUBYOPT",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_EXEC_PATH",
    }
)


def env_problem(name: str, value: str | None) -> str | None:
    if name in DANGEROUS_ENV or _str_startswith(name, ("LD_", "SANDBOX_", "GIT_CONFIG")):
        return "changes how programs load or resolve"
    return None


def python_child_problem(
    exec_path: str, argv: list[str], env: dict[str, str] | None, inherited: dict[str, str]
) -> str | None:
    return None
