"""Observations → rules: the generalisation table, evidence-based families, base coverage.

Stage 1, the table (applied to every literal, no evidence needed: these names are generated
per call and would never be seen twice):

==================  ======================================  =====================================
row                 literal                                  rule
==================  ======================================  =====================================
``pycache``         ``{task}/pkg/__pycache__/m.cpython-311.pyc``  ``{task}/pkg/__pycache__/*.pyc``
``dist-info``       ``{site}/requests-2.31.0.dist-info/RECORD``    ``{site}/requests-*.dist-info/**``
``proc-pid``        ``/proc/4242/status``, ``/proc/1/task/7/stat``  ``/proc/*/status``, ``/proc/*/task/*/stat``
``tmp-probe``       ``{tmp}/9nhb8_5f`` (8 chars, a digit or ``_``)  ``{tmp}/*``
``cpython-ext``     ``_speedups.cpython-311-x86_64-linux-gnu.so``  ``_speedups.cpython-*.so``
``versioned-so``    ``libffi.so.8.1.2``                      ``libffi.so.*``
``uuid``            ``3f2c…-…-…-…-…`` (8-4-4-4-12 hex)       ``*``
``tempfile``        ``tmpab12cd_x`` (``tmp`` + 8 of ``[a-z0-9_]``)  ``tmp*``
``hex-id``          ≥ 8 hex digits with a digit and a letter  ``*``
``digits``          ≥ 6 digits (timestamps, ids)             ``*``
==================  ======================================  =====================================

Counter-examples that stay literal: ``libfoo.so``, ``tmpfiles``, ``deadbeef`` (no digit),
``12345`` (five digits), ``/proc/self/status``, ``{tmp}/download`` (no digit or ``_``).

Where the table applies: file, native and code paths (all rows); ``aws`` resources and exec
arguments (the name rows); shell command strings after ``sh -c`` (the name rows, on each word).
In a shell command string a ``*`` only matches shell-safe characters (:mod:`sandbox.runtime.globs`), so
``convert /tmp/tmp*.png`` never matches ``convert /tmp/x.png; curl evil``. Network hosts,
modules and symbols are never rewritten by the table.

Stage 2, families (need evidence: at least ``threshold`` distinct literals, default 3):

==============  =====================================================  ==========================
category        family                                                  rule
==============  =====================================================  ==========================
files/native    ≥ N distinct names in one directory, same extension     ``dir/*.ext`` (else ``dir/*``)
network         ≥ N hosts ``<label>.<rest>:port``, ``rest`` ≥ 2 labels  ``*.<rest>:port``
modules         ≥ N submodules of one package (not top level)           ``pkg.sub.*``
==============  =====================================================  ==========================

Directories never collapsed: ``/`` and any top-level directory (``/etc``, ``/proc``, ``/dev`` …)
and anything under ``/proc``, ``/sys`` or ``/dev``. Raw IP hosts never join a family.
With ``generalise_regions`` an AWS regional endpoint ``dynamodb.us-east-1.amazonaws.com:443``
becomes ``dynamodb.*.amazonaws.com:443``; without it the region stays exact.

Stage 3: a rule the profile's ``extends`` bundles already allow is dropped, and an access the
ceiling denies never becomes a rule (both decided with :class:`sandbox.runtime.policy.Policy` over
deterministic fake roots, so the result does not depend on the machine running the build).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sandbox.runtime.compiler import compile_profile
from sandbox.runtime.decoders.network import norm_ip
from sandbox.runtime.globs import ARG_SEP, glob_to_regex, is_glob, shell_command_index
from sandbox.runtime.policy import Policy, host_part
from sandbox.runtime.roots import ROOT_NAMES, Roots

DEFAULT_THRESHOLD = 3
DEFAULT_LITERAL_CAP = 20

# Deterministic stand-ins for the symbolic roots: matching never depends on this machine.
FAKE_ROOTS = Roots({name: (f"/__root__/{name}",) for name in ROOT_NAMES})


@dataclass(frozen=True)
class Options:
    """Generalisation settings.

    Attributes
    ----------
    threshold:
        Distinct literals needed before a family (directory, host family, package) becomes a glob.
    generalise_regions:
        Replace the region in AWS endpoints by ``*``.
    literal_cap:
        How many literals a rule's coverage keeps (the smallest, sorted).
    """

    threshold: int = DEFAULT_THRESHOLD
    generalise_regions: bool = False
    literal_cap: int = DEFAULT_LITERAL_CAP


# --------------------------------------------------------------------------- the table

_NAME_ROWS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("cpython-ext", re.compile(r"\.cpython-[A-Za-z0-9_-]+\.so(?![A-Za-z0-9_.])"), ".cpython-*.so"),
    ("versioned-so", re.compile(r"\.so(?:\.[0-9]+)+(?![A-Za-z0-9_.])"), ".so.*"),
    (
        "uuid",
        re.compile(
            r"(?<![0-9A-Fa-f])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![0-9A-Fa-f])"
        ),
        "*",
    ),
    ("tempfile", re.compile(r"(?<![A-Za-z0-9])tmp[a-z0-9_]{8}(?![a-z0-9_])"), "tmp*"),
    (
        "hex-id",
        re.compile(
            r"(?<![A-Za-z0-9])(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}(?![A-Za-z0-9])"
        ),
        "*",
    ),
    ("digits", re.compile(r"(?<![0-9])[0-9]{6,}(?![0-9])"), "*"),
)
_PYCACHE = re.compile(r"/__pycache__/[^/]+\.pyc$")
_DIST_INFO = re.compile(r"^(?P<dir>.*)/(?P<pkg>[A-Za-z0-9_.]+)-[^/]+\.dist-info(?:/.*)?$")
_PROC_PID = re.compile(r"^/proc/[0-9]+(?=/|$)")
_PROC_TID = re.compile(r"^(/proc/[^/]+/task/)[0-9]+(?=/|$)")
_TMP_PROBE = re.compile(r"^(\{tmp\}|/tmp)/(?=[a-z0-9_]*[0-9_])[a-z0-9_]{8}$")
_STARS = re.compile(r"\*{2,}")
_REGION = re.compile(r"(?<=\.)[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9](?=\.)")

TABLE_ROWS = ("pycache", "dist-info", "proc-pid", "tmp-probe", *(row[0] for row in _NAME_ROWS))


def generalise_name(text: str) -> str:
    """Apply the name rows of the table (temp names, ids, versions) anywhere in ``text``.

    Example
    -------
    >>> generalise_name("out-3f2c1a9e-8b7d-4c6e-9f00-1234567890ab.json")
    'out-*.json'
    >>> generalise_name("libssl.so.3")
    'libssl.so.*'
    """
    for _name, regex, replacement in _NAME_ROWS:
        text = regex.sub(replacement, text)
    return _STARS.sub("*", text)


def generalise_path(path: str) -> str:
    """Apply the whole table to a (symbolic) path.

    Example
    -------
    >>> generalise_path("{tmp}/tmpab12cd_x/report.pdf")
    '{tmp}/tmp*/report.pdf'
    >>> generalise_path("/proc/4242/status")
    '/proc/*/status'
    """
    pycache = _PYCACHE.search(path)
    if pycache:
        return generalise_path(path[: pycache.start()]) + "/__pycache__/*.pyc"
    match = _DIST_INFO.match(path)
    if match and not is_glob(match["dir"]):
        return f"{match['dir']}/{match['pkg']}-*.dist-info/**"
    if path.startswith("/proc/"):
        path = _PROC_TID.sub(r"\1*", _PROC_PID.sub("/proc/*", path))
    if _TMP_PROBE.match(path):
        return path.rsplit("/", 1)[0] + "/*"
    return generalise_name(path)


def generalise_shell(command: str) -> str:
    """Apply the table word by word to a shell command string (``sh -c`` argument).

    Example
    -------
    >>> generalise_shell("convert /tmp/tmpab12cd_x.png /tmp/out.png")
    'convert /tmp/tmp*.png /tmp/out.png'
    """
    words = re.split(r"(\s+)", command)
    return "".join(
        generalise_path(w)
        if w.startswith(("/", "{"))
        else (w if w.isspace() else generalise_name(w))
        for w in words
    )


def generalise_argv(exec_path: str, argv: tuple[str, ...]) -> tuple[str, ...]:
    """The table applied to each argument; a shell's ``-c`` string word by word.

    Example
    -------
    >>> generalise_argv("/bin/sh", ("-c", "cat /tmp/tmpab12cd_x"))
    ('-c', 'cat /tmp/tmp*')
    """
    shell_at = shell_command_index(exec_path, list(argv))
    out = []
    for i, arg in enumerate(argv):
        if i == shell_at:
            out.append(generalise_shell(arg))
        elif arg.startswith(("/", "{")):
            out.append(generalise_path(arg))
        else:
            out.append(generalise_name(arg))
    return tuple(out)


def generalise_host(target: str, options: Options) -> str:
    """Network targets stay exact, but for AWS regions with ``generalise_regions``.

    Example
    -------
    >>> generalise_host("dynamodb.us-east-1.amazonaws.com:443", Options(generalise_regions=True))
    'dynamodb.*.amazonaws.com:443'
    """
    if not options.generalise_regions:
        return target
    host = host_part(target)
    if host.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return _REGION.sub("*", host) + target[len(host) :]
    return target


def rewrite(
    category: str, action: str, target: str, argv: tuple[str, ...] | None, options: Options
) -> tuple[str, tuple[str, ...] | None]:
    """Stage 1: the table for one observation's target (and argv).

    Example
    -------
    >>> rewrite("files", "write", "{tmp}/tmpab12cd_x", None, Options())
    ('{tmp}/tmp*', None)
    """
    if category in ("files", "native") and action != "dlsym" and (target.startswith(("/", "{"))):
        return generalise_path(target), None
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
        return generalise_host(target, options), None
    return target, argv


# --------------------------------------------------------------------------- families

_NEVER_COLLAPSE_UNDER = ("/proc/", "/sys/", "/dev/")


def _collapsible_dir(directory: str) -> bool:
    if directory.startswith("{"):
        return True
    if directory.count("/") < 2:  # "/" and every top-level directory
        return False
    return not (directory + "/").startswith(_NEVER_COLLAPSE_UNDER)


def _is_ip(host: str) -> bool:
    return norm_ip(host) is not None


def collapse_families(category: str, targets: Iterable[str], options: Options) -> dict[str, str]:
    """Stage 2: which literal targets join a family glob (only those that change).

    Example
    -------
    >>> collapse_families("files", ["{tmp}/a.txt", "{tmp}/b.txt", "{tmp}/c.txt"], Options())
    {'{tmp}/a.txt': '{tmp}/*.txt', '{tmp}/b.txt': '{tmp}/*.txt', '{tmp}/c.txt': '{tmp}/*.txt'}
    """
    literals = sorted({t for t in targets if not is_glob(t)})
    families: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for target in literals:
        if category in ("files", "native"):
            directory, sep, name = target.rpartition("/")
            if sep and name and _collapsible_dir(directory):
                families[("dir", directory)].append(target)
        elif category == "network" and ":" in target:
            host = host_part(target)
            port = target[len(host) :] if not target.startswith("[") else target[len(host) + 2 :]
            _label, dot, rest = host.partition(".")
            if dot and rest.count(".") >= 1 and not _is_ip(host):
                families[("host", rest, port)].append(target)
        elif category == "modules":
            parent, dot, _name = target.rpartition(".")
            if dot and parent:
                families[("pkg", parent)].append(target)
    out: dict[str, str] = {}
    for key, members in sorted(families.items()):
        if len(members) < options.threshold:
            continue
        if key[0] == "dir":
            extensions = {_extension(m.rsplit("/", 1)[1]) for m in members}
            ext = extensions.pop() if len(extensions) == 1 else ""
            glob = f"{key[1]}/*{ext}"
        elif key[0] == "host":
            glob = f"*.{key[1]}{key[2]}"
        else:
            glob = f"{key[1]}.*"
        for member in members:
            out[member] = glob
    return out


def _extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f".{ext}" if dot and stem and ext and ext.isalnum() else ""


def subsumes(category: str, pattern: str, target: str) -> bool:
    """Whether the glob ``pattern`` covers every access the rule ``target`` covers.

    Sound for the globs the builder writes: ``target``'s own ``*`` must be absorbed by a
    ``*`` or ``**`` of ``pattern``; targets with ``**`` or ``?`` are never folded.

    Example
    -------
    >>> subsumes("files", "{tmp}/*", "{tmp}/tmp*")
    True
    >>> subsumes("files", "{tmp}/*.txt", "{tmp}/tmp*")
    False
    """
    if pattern == target or not is_glob(pattern) or "?" in pattern:
        return False
    if "**" in target or "?" in target:
        return False
    kind = {"processes": "files"}.get(category, category)
    if kind not in ("files", "network", "modules", "native", "code", "aws"):
        return False
    return re.fullmatch(glob_to_regex(pattern, kind), target) is not None


# --------------------------------------------------------------------------- base coverage


class BaseCoverage:
    """Answers "do the ``extends`` bundles already allow this?" and "does the ceiling deny it?".

    Example
    -------
    >>> base = BaseCoverage(["python-runtime"])
    >>> base.covers("files", "read", "{site}/requests/api.py", None, "any")
    True
    >>> base.denied("files", "read", "/proc/self/environ", None)
    True
    """

    def __init__(
        self,
        extends: Iterable[str],
        *,
        base_dir: Path | None = None,
        deny: Mapping[str, list[dict[str, str]]] | None = None,
    ):
        document = {
            "schema_version": 1,
            "function": "",
            "extends": list(extends),
            "rules": {},
            "deny": {k: list(v) for k, v in (deny or {}).items()},
        }
        self.policy = Policy.load(
            compile_profile(document, base_dir=base_dir, kernel=False), FAKE_ROOTS
        )

    @staticmethod
    def concrete(category: str, action: str, target: str, argv: Iterable[str] | None) -> list[str]:
        """The targets to test, with fake roots expanded."""
        if category == "processes" and action == "exec":
            # Root tokens may sit anywhere in an argument (a shell command string).
            args = [FAKE_ROOTS.expand_all(a)[0] for a in argv] if argv is not None else []
            return [ARG_SEP.join([head, *args]) for head in FAKE_ROOTS.expand(target)]
        if category in ("files", "native", "code"):
            return FAKE_ROOTS.expand(target)
        return [target]

    def covers(
        self, category: str, action: str, target: str, argv: Iterable[str] | None, phase: str
    ) -> bool:
        phases = ("init", "invoke") if phase == "any" else (phase,)
        argv = list(argv) if argv is not None else None
        return all(
            self.policy.allows(category, action, concrete, ph)
            for concrete in self.concrete(category, action, target, argv)
            for ph in phases
        )

    def denied(self, category: str, action: str, target: str, argv: Iterable[str] | None) -> bool:
        argv = list(argv) if argv is not None else None
        return any(
            self.policy.ceiling(category, action, concrete)
            for concrete in self.concrete(category, action, target, argv)
        )
