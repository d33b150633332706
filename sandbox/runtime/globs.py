"""Glob patterns → regular expressions, with per-category meaning of ``*``.

============  ==========================  ============================================
category      ``*`` matches                ``**`` matches
============  ==========================  ============================================
files         within one path segment      any depth (``/a/**`` also matches ``/a``)
network       within one DNS label/port    any number of labels
aws           within one ``:`` field       anything (``s3:GetObject:**``)
modules       one dotted component         any number of components
processes     anything inside one argv     —
argv item     only "word" characters,     "word" characters and ``/``,
              no ``/``, never ``..``      never ``..``
  (alone)     anything but ``/``          anything but ``..``
shell cmd     only "word" characters, no ``/``, never ``..``
============  ==========================  ============================================

The shell row is the security-relevant one: a rule learned from ``sh -c "convert /tmp/a.png"``
and generalised to ``convert /tmp/*`` must not match ``convert /tmp/x; curl evil``. Inside a
shell command string a wildcard never matches shell syntax (``; & | ` $ ( ) < > \\ ' "``,
whitespace, newlines, globbing and brace characters), so an injected command cannot ride on it.
"""

from __future__ import annotations

import re

# Characters a wildcard may stand for inside a shell command: letters, digits and a few
# punctuation marks that the POSIX shell gives no meaning to. Whitespace is excluded too,
# because a new word is a new argument (``rm /tmp/* /etc/passwd``); so is "/", and ".." never
# matches, so ``/tmp/*`` cannot climb to ``/tmp/../etc/shadow``.
SHELL_WORD = r"(?:(?!\.\.)[A-Za-z0-9_.,:=+@%-])"
# Inside one argv item (no shell), a wildcard among literal text (``cat {tmp}/job-*.txt``,
# ``--out=*.csv``) stands for the same characters, "/" too for "**" (never ".."): a program
# may hand an argument to a shell or an interpreter of its own (``flock -c "cmd"``, ``su -c``,
# a shell's options the parser below does not know), and the text around the wildcard is
# then a command an injected ``; id`` would extend. The profile builder only generalises
# values made of these characters. A whole argument that is a wildcard (``*``, ``**``) says
# "any argument here" and means it: anything but "/" (``**``: anything, never "..").
_ARG_STAR = SHELL_WORD + "*"
_ARG_DOUBLE = "(?:(?!\\.\\.)[A-Za-z0-9_.,:=+@%/-])*"
_ANY_ARG_STAR = "[^\x1f/]*"
_ANY_ARG_DOUBLE = "(?:(?!\\.\\.)[^\x1f])*"
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "busybox"})
ARG_SEP = "\x1f"  # separates exec path and argv items in a process target

_CLASSES = {
    #            *            **
    "files": ("[^/]*", ".*"),
    "network": ("[^.:]*", "[^:]*"),
    "modules": ("[^.]*", ".*"),
    "native": ("[^/]*", ".*"),
    "code": ("[^/:]*", ".*"),
    "aws": ("[^:]*", ".*"),
    "arg": (_ARG_STAR, _ARG_DOUBLE),
    "shell": (SHELL_WORD + "*", SHELL_WORD + "*"),
    # An environment entry NAME=value (processes/env): the value is opaque text.
    "env": (".*", ".*"),
}


def is_glob(pattern: str) -> bool:
    """Whether a pattern has wildcards (otherwise it is matched exactly)."""
    return "*" in pattern or "?" in pattern


def glob_to_regex(pattern: str, kind: str) -> str:
    """Translate one glob into a regex source (no anchors) for a category ``kind``."""
    star, double = _CLASSES[kind]
    single = star[:-1] if star.endswith("*") else star
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                # "/**" at the end also matches the directory itself.
                if kind == "files" and out and out[-1].endswith("/") and i + 2 == n:
                    out[-1] = out[-1][:-1] + "(?:/.*)?"  # (a literal run's last "/")
                    i += 2
                    continue
                out.append(double)
                i += 2
                continue
            out.append(star)
        elif c == "?":
            out.append(single)
        else:
            # A run of literal characters, escaped at once (re.escape works character by
            # character: the same text as one call per character, at a fraction of the cost).
            j = i + 1
            while j < n and pattern[j] != "*" and pattern[j] != "?":
                j += 1
            out.append(re.escape(pattern[i:j]))
            i = j
            continue
        i += 1
    return "".join(out)


def process_target(exec_path: str, argv: list[str]) -> str:
    """The matchable string for an exec: the path and ``argv[1:]``, separated by ``\\x1f``."""
    return ARG_SEP.join([exec_path, *argv])


# A shell's options that take the next word as their argument: ``-o``/``+o`` (set),
# ``-O``/``+O`` (bash's shopt), and the long ones below. In a cluster (``-euo pipefail``) each
# ``o``/``O`` takes one word.
_SHELL_LONG_WITH_ARGUMENT = frozenset({"--rcfile", "--init-file"})


def shell_command_index(exec_path: str, argv: list[str]) -> int:
    """Index in ``argv`` (without argv[0]) of a shell's ``-c`` command string, or -1.

    The shell may be the program itself or sit behind any number of wrappers (``timeout 5 sh
    -c …``, ``env -i X=1 bash -c …``, ``nice``, ``nohup``, ``xargs``, ``stdbuf``, ``sudo``,
    ``busybox sh``…): wrappers are not parsed, the first shell word whose options hold ``-c``
    decides. The shell's options are read as the shell reads them: ``-o pipefail``, ``-O
    extglob``, ``-euo pipefail`` and ``--rcfile FILE`` take the next word, and with ``-c`` the
    command string is the first word after the options (``bash -c -o pipefail "cmd"`` too).
    Mistaking a plain argument ``sh`` for a shell only makes the glob stricter.

    Example
    -------
    >>> shell_command_index("/usr/bin/timeout", ["5", "sh", "-c", "wc -l x"])
    3
    >>> shell_command_index("/bin/bash", ["-o", "pipefail", "-c", "cat x | wc -c"])
    3
    """
    words = [exec_path, *argv]
    for i, word in enumerate(words):
        if word.rsplit("/", 1)[-1] not in SHELLS:
            continue
        command = False
        j = i + 1
        while j < len(words):
            arg = words[j]
            if arg in ("--", "-"):
                j += 1  # the end of the options
                break
            if arg in _SHELL_LONG_WITH_ARGUMENT:
                j += 2
                continue
            if arg.startswith("--"):
                j += 1
                continue
            if len(arg) > 1 and arg[0] in "-+":
                command = command or (arg[0] == "-" and "c" in arg)
                j += 1 + arg.count("o") + arg.count("O")
                continue
            break
        if command:
            return j - 1 if j < len(words) else -1  # (argv's index: words[j] is argv[j - 1])
    return -1


def process_rule_regex(
    exec_pattern: str, argv: list[str] | None, alternatives: list[list[str]] | None = None
) -> str:
    """Regex source for a process rule; ``argv=None`` means any arguments.

    ``alternatives`` gives, per argv item, its concrete forms (symbolic roots expanded).
    """
    head = glob_to_regex(exec_pattern, "files")
    if argv is None:
        return head + "(?:\x1f.*)?"
    shell_at = shell_command_index(exec_pattern, argv)
    parts = [head]
    for i, arg in enumerate(argv):
        if i != shell_at and arg in ("*", "**"):
            parts.append(_ANY_ARG_STAR if arg == "*" else _ANY_ARG_DOUBLE)
            continue
        kind = "shell" if i == shell_at else "arg"
        forms = alternatives[i] if alternatives else [arg]
        regexes = [glob_to_regex(form, kind) for form in forms]
        parts.append(regexes[0] if len(regexes) == 1 else "(?:" + "|".join(regexes) + ")")
    return ARG_SEP.join(parts)
