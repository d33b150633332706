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
              no ``/``, never ``..``;     never ``..``; the same first
              first character never       character rule
              ``-``, ``+`` or ``@``
  (alone)     anything but ``/``, ``.``    anything but ``..`` or ``.``;
              or ``..``; no first         no first ``-``, ``+``, ``@``
              ``-``, ``+``, ``@``
shell cmd     only "word" characters, no ``/``, never ``..``, a word's first character
              never ``-``, ``+`` or ``@``; nothing where a program is named (literal there)
============  ==========================  ============================================

In "argv item" and "shell cmd" text, ``\\*``, ``\\?`` and ``\\\\`` are a literal ``*``, ``?`` and
backslash (an argument's own ``*``: ``find -name '*.py'``); the builder escapes what it saw.

The shell row is the security-relevant one: a rule learned from ``sh -c "convert /tmp/a.png"``
and generalised to ``convert /tmp/*`` must not match ``convert /tmp/x; curl evil``. Inside a
shell command string a wildcard never matches shell syntax (``; & | ` $ ( ) < > \\ ' "``,
whitespace, newlines, globbing and brace characters), so an injected command cannot ride on it.
"""

from __future__ import annotations

import re

from .regex_programs import compile_pattern

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
# "any argument here": anything but "/" (``**``: anything, never ".."), but an option, a
# command or an argument file (its first character "-", "+" or "@"), like every wildcard that
# starts an argument: the builder writes one for a family of unrelated values (ids, names),
# none of which was an option (red team 84: ``*`` took tar's ``--files-from=-``).
_ARG_STAR = SHELL_WORD + "*"
# A wildcard that starts an argument or a shell word never stands for a first character that
# makes the argument something other than a value: "-" an option (tar's ``--files-from=x.txt``
# matched ``*.txt``: red team 83), "+" a command for some programs (``less +!cmd``), "@" a file
# of further arguments (gcc's, javac's ``@args.txt``). The builder generalises no value that
# starts with one of them; a rule that means one names it literally (``--out=*.csv``).
_NOT_OPTION = "(?![-+@])"
_ARG_DOUBLE = "(?:(?!\\.\\.)[A-Za-z0-9_.,:=+@%/-])*"
# (nor "." alone, or anything with "..": a folder's own name and its parent's, which a program
# takes as a path relative to its working directory or its -C folder -- red team 85: a lone
# "*" took tar's "..", and /tmp was archived)
_NOT_A_DOT = "(?!\\.(?:\x1f|\\Z))"
_ANY_ARG_STAR = _NOT_OPTION + _NOT_A_DOT + "(?:(?!\\.\\.)[^\x1f/])*"
_ANY_ARG_DOUBLE = _NOT_OPTION + _NOT_A_DOT + "(?:(?!\\.\\.)[^\x1f])*"
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


# Inside an exec argument or a shell command string ("arg", "shell"), a backslash before "*",
# "?" or another backslash makes that character literal: a program's own argument can hold a
# "*" (find's -name '*.py', Python's **kwargs in multiprocessing's fork server program), which
# a wildcard never matches. The builder writes the observed text so (escape_argument); a
# backslash before any other character is itself (rules written before stay as they were).
_ESCAPABLE = "*?\\"
_KINDS_WITH_ESCAPES = ("arg", "shell")


def escape_argument(text: str) -> str:
    """An observed argument (or shell command string) as a rule's literal text.

    Example
    -------
    >>> escape_argument("*.py")
    '\\\\*.py'
    """
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _argument_characters(text: str) -> list[tuple[str, bool]]:
    """Each character of a rule's argument text, with whether it was escaped."""
    out: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        escaped = text[i] == "\\" and i + 1 < n and text[i + 1] in _ESCAPABLE
        out.append((text[i + 1], True) if escaped else (text[i], False))
        i += 2 if escaped else 1
    return out


def unescape_argument(text: str) -> str:
    """A rule's argument text with its escapes read (what a literal match compares)."""
    if "\\" not in text:
        return text
    return "".join(character for character, _escaped in _argument_characters(text))


def has_wildcard(text: str, kind: str) -> bool:
    """Whether ``text`` holds a wildcard: escaped ``*``/``?`` do not count in "arg" and
    "shell" text."""
    if kind not in _KINDS_WITH_ESCAPES or "\\" not in text:
        return is_glob(text)
    return any(c in "*?" and not escaped for c, escaped in _argument_characters(text))


def glob_to_regex(pattern: str, kind: str) -> str:
    """Translate one glob into a regex source (no anchors) for a category ``kind``."""
    star, double = _CLASSES[kind]
    single = star[:-1] if star.endswith("*") else star
    out: list[str] = []
    escapes = kind in _KINDS_WITH_ESCAPES
    if escapes and pattern[:1] in ("*", "?"):
        out.append(_NOT_OPTION)
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if escapes and c == "\\" and i + 1 < n and pattern[i + 1] in _ESCAPABLE:
            out.append(re.escape(pattern[i + 1]))  # (a literal "*", "?" or backslash)
            i += 2
            continue
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
                if escapes and pattern[j] == "\\":
                    break
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


# Where a shell reads a program name: the first word of a command, which follows the start of
# the text, an operator (``| ; & ( )``, a backquote, a newline), a keyword that starts a
# command (``then``, ``do``, ``!``, ``{``…), or assignments (``X=1 cmd``); and every word of a wrapper
# that runs a program named among its own arguments (``env``, ``timeout 5``, ``xargs``,
# ``sudo``…), up to the next operator. A wildcard there would stand for any program: a rule
# learned from ``sh -c "gzip {tmp}/a.txt"`` and ``sh -c "xz {tmp}/b.txt"`` generalised to
# ``* {tmp}/*.txt`` ran ``sh {tmp}/evil.txt`` (red team 75). The profile builder never
# generalises these words, and in a rule they are matched literally, ``*`` included.
_SHELL_SPLIT_SOURCE = r"([|;&()`]|\s+)"
_ASSIGNMENT_SOURCE = r"[A-Za-z_][A-Za-z0-9_]*="
# (their programs are shipped: no re parse at install, see regex_programs)
PATTERNS = ((_SHELL_SPLIT_SOURCE, 0), (_ASSIGNMENT_SOURCE, 0))
_SHELL_SPLIT = compile_pattern(_SHELL_SPLIT_SOURCE)
_SHELL_OPERATOR = frozenset("|;&()`")
_SHELL_KEYWORDS = frozenset(
    {"!", "{", "if", "then", "elif", "else", "while", "until", "do", "time", "exec", "command"}
)
_ASSIGNMENT = compile_pattern(_ASSIGNMENT_SOURCE)
PROGRAM_RUNNERS = frozenset(
    {
        "env", "nice", "nohup", "timeout", "xargs", "stdbuf", "sudo", "doas", "su", "runuser",
        "setsid", "flock", "chroot", "ionice", "taskset", "chrt", "strace", "ltrace", "watch",
        "unshare", "nsenter", "parallel", "builtin", "eval", "exec", "command", "time",
        "busybox", "xvfb-run", "catchsegv", "valgrind",
    }
)  # fmt: skip


def shell_pieces(text: str) -> list[tuple[str, bool]]:
    """A shell command text cut into words and separators, each with whether a program is
    named there (see above): ``(piece, names_program)``.

    Example
    -------
    >>> [p for p, program in shell_pieces("gzip a|xargs rm -f b") if program]
    ['gzip', 'xargs', 'rm', '-f', 'b']
    """
    out: list[tuple[str, bool]] = []
    command = True  # the next word names a program
    runner = False  # inside a program runner's arguments (up to the next operator)
    for piece in _SHELL_SPLIT.split(text):
        if not piece:
            continue
        if piece in _SHELL_OPERATOR:
            out.append((piece, False))
            command, runner = True, False
            continue
        if piece.isspace():
            out.append((piece, False))
            if "\n" in piece:  # (a newline ends a command, as ";" does)
                command, runner = True, False
            continue
        if command and _ASSIGNMENT.match(piece):
            out.append((piece, runner))  # (X=1 before a command: a value, not a program)
            continue
        out.append((piece, command or runner))
        if command:
            runner = runner or piece.rsplit("/", 1)[-1] in PROGRAM_RUNNERS
            command = piece in _SHELL_KEYWORDS
    return out


def shell_program_words(text: str) -> list[bool]:
    """For each word of ``re.split(r"(\\s+)", text)[0::2]``: whether a program is named in it.

    Example
    -------
    >>> shell_program_words("timeout 5 gzip a; cat b")
    [True, True, True, True, True, False]
    """
    flags = [False]
    for piece, names in shell_pieces(text):
        if piece.isspace():
            flags.append(False)
        elif names:
            flags[-1] = True
    return flags


_escape = re.escape  # (bound at import: the hook's path looks no module up)


def shell_text_regex(pattern: str) -> str:
    """Regex source for a rule's shell command text: a wildcard matches only shell-safe word
    characters (``SHELL_WORD``), and not at all where a program is named (literal there)."""
    return "".join(
        _escape(unescape_argument(piece)) if names else glob_to_regex(piece, "shell")
        for piece, names in shell_pieces(pattern)
    )


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
        forms = alternatives[i] if alternatives else [arg]
        if i == shell_at:
            regexes = [shell_text_regex(form) for form in forms]
        else:
            regexes = [glob_to_regex(form, "arg") for form in forms]
        parts.append(regexes[0] if len(regexes) == 1 else "(?:" + "|".join(regexes) + ")")
    return ARG_SEP.join(parts)
