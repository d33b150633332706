"""The generalisation table: per-call names (temp files, ids, versions) → the glob a profile holds.

Shared by the profile builder (``sandbox profile build``) and the runtime's block messages, so
that a finding suggests the rule the builder would write, never a literal random path that
would not match again. Pure functions, standard library only; the regular expressions are
compiled on first use, not at import (the runtime imports this module at cold start).

==================  ==============================================  ==============================
row                 literal                                          rule
==================  ==============================================  ==============================
``pycache``         ``{task}/pkg/__pycache__/m.cpython-311.pyc``     ``{task}/pkg/__pycache__/*.pyc``
``dist-info``       ``{site}/requests-2.31.0.dist-info/RECORD``      ``{site}/requests-*.dist-info/**``
``proc-pid``        ``/proc/4242/status``, ``/proc/1/task/7/stat``   ``/proc/*/status``, ``/proc/*/task/*/stat``
``tmp-probe``       ``{tmp}/9nhb8_5f`` (8 chars, a digit or ``_``)   ``{tmp}/*``
``cpython-ext``     ``_speedups.cpython-311-x86_64-linux-gnu.so``    ``_speedups.cpython-*.so``
``versioned-so``    ``libffi.so.8.1.2``                              ``libffi.so.*``
``uuid``            ``3f2c…-…-…-…-…`` (8-4-4-4-12 hex)              ``*``
``tempfile``        ``tmpab12cd_x`` (``tmp`` + 8 of ``[a-z0-9_]``)  ``tmp*``
``multiprocessing`` ``pymp-ab12cd_x``, ``listener-ab12cd_x``         ``pymp-*``, ``listener-*``
``semaphore``       ``/dev/shm/sem.mp-ab12cd_x``                     ``/dev/shm/sem.mp-*``
``mp-descriptor``   ``…resource_tracker import main;main(8)``         ``…main(*)`` (exec arguments)
``s3transfer``      ``report.csv.6fA3b2C1`` (a name + 8 hex digits)  ``report.csv.*``
``tempfile-prefix`` ``{tmp}/job-x1y2z3w4.nml`` (``-`` + 8 of tempfile's characters, a digit or ``_``)  ``{tmp}/job-*.nml``
``hex-id``          ≥ 8 hex digits with a digit and a letter, or of mixed case   ``*``
``digits``          ≥ 6 digits (timestamps, ids)                     ``*``
==================  ==============================================  ==============================

Where the names come from: :mod:`tempfile` (``tmp`` + 8 of ``[a-z0-9_]``, any prefix;
``gettempdir()``'s 8-character probe), :mod:`multiprocessing` (``pymp-`` directories,
``listener-`` sockets, ``mp-`` semaphores, and the descriptor numbers its resource tracker,
fork server and spawned children are started with: ``python -c "from multiprocessing.… import
main;main(8)"``, a number that differs between runs), s3transfer (``download_file`` writes
``<name>.<8 of string.hexdigits>`` and renames it), botocore (its credential cache writes ``tmpXXXXXXXX.tmp`` then
``<sha1 hex>.json``), Powertools (idempotency keys ``<function>#<md5 hex>``), uuids and
timestamps everywhere. urllib3 creates no files (its import-time IPv6 probe ``bind [::1]:0``
is in the ``aws-sdk`` bundle).

Counter-examples that stay literal: ``libfoo.so``, ``tmpfiles``, ``deadbeef`` (no digit),
``12345`` (five digits), ``/proc/self/status``, ``{tmp}/download`` (no digit or ``_``).

Where the table applies: file, native and code paths (all rows); ``aws`` resources and exec
arguments (the name rows); shell command strings after ``sh -c`` (word by word). Inside a shell
command string a ``*`` only matches shell-safe characters (:mod:`.globs`). Network hosts,
modules and symbols are never rewritten by the table.
"""

from __future__ import annotations

from .globs import escape_argument as _escape_argument
from .globs import shell_command_index as _shell_command_index

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from re import Match
    from typing import Any

# (row name, regex source, replacement): compiled on first use by _compiled().
_NAME_ROW_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("cpython-ext", r"\.cpython-[A-Za-z0-9_-]+\.so(?![A-Za-z0-9_.])", ".cpython-*.so"),
    ("versioned-so", r"\.so(?:\.[0-9]+)+(?![A-Za-z0-9_.])", ".so.*"),
    (
        "uuid",
        r"(?<![0-9A-Fa-f])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
        r"[0-9a-fA-F]{12}(?![0-9A-Fa-f])",
        "*",
    ),
    ("tempfile", r"(?<![A-Za-z0-9])tmp[a-z0-9_]{8}(?![a-z0-9_])", "tmp*"),
    ("multiprocessing", r"(?<![A-Za-z0-9])(pymp|listener)-[a-z0-9_]{8}(?![a-z0-9_])", r"\1-*"),
    # a SemLock's file: glibc's sem.<name>, multiprocessing's name /mp-<8 of tempfile's>
    ("semaphore", r"(?<=/sem\.)mp-[a-z0-9_]{8}(?![a-z0-9_])", "mp-*"),
    # s3transfer's download temp file: <name>.<8 of string.hexdigits>, at the end of a name.
    ("s3transfer", r"(?<=[^/.])\.[0-9a-fA-F]{8}(?=$|/)", ".*"),
    (
        "hex-id",
        r"(?<![A-Za-z0-9])(?:(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])|"
        r"(?=[0-9a-fA-F]*[a-f])(?=[0-9a-fA-F]*[A-F]))[0-9a-fA-F]{8,}(?![A-Za-z0-9])",
        "*",
    ),
    ("digits", r"(?<![0-9])[0-9]{6,}(?![0-9])", "*"),
)
TABLE_ROWS = (
    "pycache",
    "dist-info",
    "proc-pid",
    "tmp-probe",
    "tempfile-prefix",
    *(row[0] for row in _NAME_ROW_SOURCES),
    "mp-descriptor",
)
# multiprocessing's own `python -c` programs: main(8), main(8, 11, ...), spawn_main(
# tracker_fd=9, pipe_handle=12). A number there is a descriptor the parent happened to get.
# Only the argument that starts with this is rewritten; a `*` inside an argument matches
# word characters only (no parenthesis, quote, space or ";": globs), so the program stays
# the one learned.
_MP_PROGRAM = "from multiprocessing."

# The table's other regexes, by the name _compiled() gives them.
_OTHER_SOURCES: tuple[tuple[str, str], ...] = (
    ("pycache", r"/__pycache__/[^/]+\.pyc$"),
    ("dist_info", r"^(?P<dir>.*)/(?P<pkg>[A-Za-z0-9_.]+)-[^/]+\.dist-info(?:/.*)?$"),
    ("proc_pid", r"^/proc/[0-9]+(?=/|$)"),
    ("proc_tid", r"^(/proc/[^/]+/task/)[0-9]+(?=/|$)"),
    ("tmp_probe", r"^(\{tmp\}|/tmp)/(?=[a-z0-9_]*[0-9_])[a-z0-9_]{8}$"),
    (
        "tmp_prefixed",
        r"(?<=[A-Za-z0-9]-)(?=[a-z0-9_]{0,7}[0-9_])[a-z0-9_]{8}(?=$|/|\.[A-Za-z0-9]+(?:$|/))",
    ),
    ("stars", r"\*{2,}"),
    ("mp_descriptor", r"(?<=[(=])[0-9]+(?=[,)])|(?<=, )[0-9]+(?=[,)])"),
    ("region", r"(?<=\.)[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9](?=\.)"),
    ("space", r"(\s+)"),
)
# Every (pattern, flags) the table compiles: their programs are shipped (regex_programs).
PATTERNS = tuple((src, 0) for _, src, _ in _NAME_ROW_SOURCES) + tuple(
    (src, 0) for _, src in _OTHER_SOURCES
)

_cache: dict[str, Any] = {}


def _compiled() -> dict[str, Any]:
    """The table's regexes, compiled once on first use (nothing is compiled at import)."""
    if not _cache:
        from .regex_programs import compile_pattern

        _cache["rows"] = tuple(
            (name, compile_pattern(src), _replacement(repl))
            for name, src, repl in _NAME_ROW_SOURCES
        )
        for name, src in _OTHER_SOURCES:
            _cache[name] = compile_pattern(src)
    return _cache


def generalise_name(text: str) -> str:
    """Apply the name rows of the table (temp names, ids, versions) anywhere in ``text``.

    Example
    -------
    >>> generalise_name("out-3f2c1a9e-8b7d-4c6e-9f00-1234567890ab.json")
    'out-*.json'
    >>> generalise_name("libssl.so.3")
    'libssl.so.*'
    """
    rx = _compiled()
    for _name, regex, replacement in rx["rows"]:
        text = regex.sub(replacement, text)
    return str(rx["stars"].sub("*", text))


def _replacement(template: str) -> Any:
    """A row's replacement as ``re.sub`` takes it without the ``re`` module's Python code: a
    template with a group reference (only ``\\1`` at the start here) becomes a function --
    the C engine hands templates with a backslash to the ``re`` module (imported and run
    inside the hook, where the function can rebind what it calls)."""
    if "\\" not in template:
        return template
    if not template.startswith("\\1") or "\\" in template[2:]:
        raise ValueError(f"generalisation: unsupported replacement {template!r}")
    suffix = template[2:]

    def expand(match: Match[str]) -> str:
        # (made before the freezing: it looks up no global and no builtin, only its cell)
        return match.group(1) + suffix

    return expand


def _first_group_star(match: Match[str]) -> str:
    return match.group(1) + "*"


def generalise_path(path: str) -> str:
    """Apply the whole table to a (symbolic) path.

    Example
    -------
    >>> generalise_path("{tmp}/tmpab12cd_x/report.pdf")
    '{tmp}/tmp*/report.pdf'
    >>> generalise_path("/proc/4242/status")
    '/proc/*/status'
    """
    rx = _compiled()
    pycache = rx["pycache"].search(path)
    if pycache:
        return generalise_path(path[: pycache.start()]) + "/__pycache__/*.pyc"
    match = rx["dist_info"].match(path)
    if match and "*" not in match["dir"] and "?" not in match["dir"]:
        return f"{match['dir']}/{match['pkg']}-*.dist-info/**"
    if path.startswith("/proc/"):
        # (a function, not a "\1" template: the C regex engine hands a template to the re
        # module's Python code, imported and run inside the hook)
        path = rx["proc_tid"].sub(_first_group_star, rx["proc_pid"].sub("/proc/*", path))
    if rx["tmp_probe"].match(path):
        return path.rsplit("/", 1)[0] + "/*"
    if path.startswith(("{tmp}/", "/tmp/")):
        path = rx["tmp_prefixed"].sub("*", path)
    return generalise_name(path)


def generalise_shell(command: str) -> str:
    """Apply the table word by word to a shell command string (``sh -c`` argument).

    Example
    -------
    >>> generalise_shell("convert /tmp/tmpab12cd_x.png /tmp/out.png")
    'convert /tmp/tmp*.png /tmp/out.png'
    """
    words = _compiled()["space"].split(command)
    return "".join(
        generalise_path(w)
        if w.startswith(("/", "{"))
        else (w if w.isspace() else generalise_name(w))
        for w in words
    )


def shell_command_index(exec_path: str, argv: list[str] | tuple[str, ...]) -> int:
    """Index in ``argv`` (without argv[0]) of a shell's ``-c`` command string, or -1 (the
    runtime's own reading of a shell's options: ``globs.shell_command_index``).

    Example
    -------
    >>> shell_command_index("/bin/sh", ["-c", "true"])
    1
    """
    return _shell_command_index(exec_path, list(argv))


def generalise_argv(exec_path: str, argv: tuple[str, ...]) -> tuple[str, ...]:
    """The table applied to each argument; a shell's ``-c`` string word by word. The text is
    first written as a rule's literal text (a ``*``, ``?`` or backslash of the argument's own
    escaped: ``globs.escape_argument``), so that a wildcard is only what the table writes.

    Example
    -------
    >>> generalise_argv("/bin/sh", ("-c", "cat /tmp/tmpab12cd_x"))
    ('-c', 'cat /tmp/tmp*')
    >>> generalise_argv("/bin/python3", ("-c", "from multiprocessing.resource_tracker import main;main(8)"))
    ('-c', 'from multiprocessing.resource_tracker import main;main(*)')
    >>> generalise_argv("/usr/bin/find", (".", "-name", "*.py"))
    ('.', '-name', '\\\\*.py')
    """
    shell_at = shell_command_index(exec_path, argv)
    out = []
    for i, observed in enumerate(argv):
        arg = _escape_argument(observed)
        if i == shell_at:
            out.append(generalise_shell(arg))
        elif arg.startswith(("/", "{")):
            out.append(generalise_path(arg))
        elif arg.startswith(_MP_PROGRAM):
            out.append(generalise_name(_compiled()["mp_descriptor"].sub("*", arg)))
        else:
            out.append(generalise_name(arg))
    return tuple(out)


def _host_part(target: str) -> str:
    if target.startswith("["):
        return target[1 : target.find("]")] if "]" in target else target
    return target.rsplit(":", 1)[0] if ":" in target else target


def generalise_host(target: str, generalise_regions: bool = False) -> str:
    """Network targets stay exact, but for AWS regions with ``generalise_regions``.

    Example
    -------
    >>> generalise_host("dynamodb.us-east-1.amazonaws.com:443", True)
    'dynamodb.*.amazonaws.com:443'
    """
    if not generalise_regions:
        return target
    host = _host_part(target)
    if host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return str(_compiled()["region"].sub("*", host)) + target[len(host) :]
    return target


def rewrite(
    category: str,
    action: str,
    target: str,
    argv: tuple[str, ...] | None,
    generalise_regions: bool = False,
) -> tuple[str, tuple[str, ...] | None]:
    """The table for one observation's target (and argv).

    Example
    -------
    >>> rewrite("files", "write", "{tmp}/tmpab12cd_x", None)
    ('{tmp}/tmp*', None)
    """
    if category in ("files", "native") and action != "dlsym" and target.startswith(("/", "{")):
        return generalise_path(target), None
    if category == "code" and action == "shape":
        return target, None  # a site's syntax and names: each one is what it is
    if category == "code":
        return generalise_path(target) if target.startswith(("/", "{")) else target, None
    if category == "processes" and action == "exec":
        new_argv = generalise_argv(target, argv) if argv is not None else None
        return generalise_path(target), new_argv
    if category == "aws":
        service, sep, rest = target.partition(":")
        operation, sep2, resource = rest.partition(":")
        if sep2:
            return f"{service}{sep}{operation}:{generalise_name(resource)}", None
        return target, None
    if category == "network" and action in ("connect", "sendto", "resolve"):
        return generalise_host(target, generalise_regions), None
    return target, argv


def suggest(
    category: str, action: str, symbolic_target: str, argv: list[str] | tuple[str, ...] | None
) -> tuple[str, list[str] | None]:
    """The rule the profile builder would write for one blocked access (for block messages).

    ``symbolic_target`` is the target with symbolic roots (``{tmp}/…``); ``argv`` the exec
    arguments after argv[0] (symbolic), or ``None``.

    Example
    -------
    >>> suggest("files", "write", "{tmp}/tmp7ka7hhx8/input-d.nml", None)
    ('{tmp}/tmp*/input-d.nml', None)
    >>> suggest("processes", "exec", "/usr/bin/wc", ["-l", "{tmp}/tmpab12cd_x.txt"])
    ('/usr/bin/wc', ['-l', '{tmp}/tmp*.txt'])
    """
    target, new_argv = rewrite(
        category, action, symbolic_target, tuple(argv) if argv is not None else None
    )
    return target, list(new_argv) if new_argv is not None else None


__all__ = [
    "TABLE_ROWS",
    "generalise_argv",
    "generalise_host",
    "generalise_name",
    "generalise_path",
    "generalise_shell",
    "rewrite",
    "shell_command_index",
    "suggest",
]
