"""Observations → rules: the generalisation table, evidence-based families, base coverage.

Stage 1, the table (applied to every literal, no evidence needed: these names are generated
per call and would never be seen twice), lives in :mod:`sandbox.runtime.generalisation` so that
the runtime's block messages suggest the rule this builder writes; it is re-exported here
(``generalise_name``, ``generalise_path``, ``generalise_shell``, ``generalise_argv``).

Stage 2, families (need evidence: at least ``threshold`` distinct values, default 3):

==================  ====================================================  =========================
category            family                                                 rule
==================  ====================================================  =========================
files/native/code   ≥ N names in one directory (the directory may be a     ``dir/*.ext`` (per
                    glob: a per-call temp directory ``{tmp}/tmp*``)         extension with evidence,
                                                                           else ``dir/*``)
files/native/code   ≥ N values of one directory component                  ``{tmp}/u/user-*/a.jpg``
processes           ≥ N values in one argv position / one ``sh -c`` word   ``--run run-*``,
                                                                           ``wc -l {tmp}/*.txt``
network             ≥ N hosts ``<label>.<rest>:port``, ``rest`` ≥ 2 labels  ``*.<rest>:port``
modules             ≥ N submodules of one package (not top level)          ``pkg.sub.*``
==================  ====================================================  =========================

Never collapsed: ``/`` and any top-level directory (``/etc``, ``/proc``, ``/dev`` …), anything
under ``/proc``, ``/sys`` or ``/dev``, raw IP hosts, writes under a code root (``{task}``,
``{site}``, ``{stdlib}``, ``{prefix}``, ``{opt}``, ``{runtime}``), exec values that are flags,
hold ``..`` or shell syntax, and interpreters' code arguments (``python -c``).
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
from typing import Any

from sandbox.runtime import generalisation as _table
from sandbox.runtime.compiler import compile_profile
from sandbox.runtime.decoders.network import norm_ip
from sandbox.runtime.globs import (
    ARG_SEP,
    PROGRAM_RUNNERS,
    glob_to_regex,
    is_glob,
    shell_program_words,
)
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
# The table itself lives in the runtime (sandbox.runtime.generalisation), so that block messages
# suggest exactly the rule this builder writes.

TABLE_ROWS = _table.TABLE_ROWS
generalise_name = _table.generalise_name
generalise_path = _table.generalise_path
generalise_shell = _table.generalise_shell
generalise_argv = _table.generalise_argv


def generalise_host(target: str, options: Options) -> str:
    """Network targets stay exact, but for AWS regions with ``generalise_regions``.

    Example
    -------
    >>> generalise_host("dynamodb.us-east-1.amazonaws.com:443", Options(generalise_regions=True))
    'dynamodb.*.amazonaws.com:443'
    """
    return _table.generalise_host(target, options.generalise_regions)


def rewrite(
    category: str, action: str, target: str, argv: tuple[str, ...] | None, options: Options
) -> tuple[str, tuple[str, ...] | None]:
    """Stage 1: the table for one observation's target (and argv).

    Example
    -------
    >>> rewrite("files", "write", "{tmp}/tmpab12cd_x", None, Options())
    ('{tmp}/tmp*', None)
    """
    return _table.rewrite(category, action, target, argv, options.generalise_regions)


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


_CODE_ROOTS = tuple(
    f"{{{root}}}/" for root in ("task", "site", "stdlib", "prefix", "opt", "runtime")
)


def collapse_families(
    category: str, targets: Iterable[str], options: Options, action: str = ""
) -> dict[str, str]:
    """Stage 2: which targets join a family glob (only those that change).

    Files and native paths (and the files of modules compiled from source, ``code``) form
    families over the last name (``dir/*.ext``) and over directory components
    (``{tmp}/avatars/user-*/photo.jpg``); a directory that is already a glob (a per-call temp
    directory, ``{tmp}/tmp*``) forms families like any other. Writes under a code root
    (``{task}``, ``{site}``, ``{stdlib}``, ``{prefix}``, ``{opt}``, ``{runtime}``) never do.

    Example
    -------
    >>> collapse_families("files", ["{tmp}/a.txt", "{tmp}/b.txt", "{tmp}/c.txt"], Options())
    {'{tmp}/a.txt': '{tmp}/*.txt', '{tmp}/b.txt': '{tmp}/*.txt', '{tmp}/c.txt': '{tmp}/*.txt'}
    """
    if category in ("files", "native", "code"):
        paths = [t for t in targets if t.startswith(("/", "{"))]
        if category == "code":  # a module compiled from source: a path without a call site
            paths = [t for t in paths if ":" not in t]
        if action == "write":  # writes into code stay literal: a reviewer must see each one
            paths = [t for t in paths if not t.startswith(_CODE_ROOTS)]
        return path_families(paths, options.threshold)
    literals = sorted({t for t in targets if not is_glob(t)})
    families: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for target in literals:
        if category == "network" and ":" in target:
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
        glob = f"*.{key[1]}{key[2]}" if key[0] == "host" else f"{key[1]}.*"
        for member in members:
            out[member] = glob
    return out


def _name_glob(names: Iterable[str]) -> str | None:
    """``*`` plus the longest suffix from a ``.`` that every name shares after a literal stem.

    Names may hold the table's globs in that suffix (s3transfer's ``report.csv.*``): they join
    ``*.csv.*``. Without a shared suffix, literal names give ``*``; a glob stem gives ``None``.

    Example
    -------
    >>> _name_glob(["a.csv.*", "bb.csv.*", "c.csv.*"])
    '*.csv.*'
    >>> _name_glob(["a.txt", "b.csv"])
    '*'
    """
    items = sorted(set(names))
    first = items[0]
    for i, char in enumerate(first):
        if char != "." or i == 0:
            continue
        suffix = first[i:]
        if all(
            n.endswith(suffix) and len(n) > len(suffix) and not is_glob(n[: -len(suffix)])
            for n in items
        ):
            return "*" + suffix
    return None if any(is_glob(n) for n in items) else "*"


_SEPARATORS = "-_.:=+@,"


def affix_glob(values: Iterable[str]) -> str:
    """One ``*`` between the values' common prefix and suffix, each cut at a separator.

    Example
    -------
    >>> affix_glob(["user-71114", "user-22", "user-9"])
    'user-*'
    >>> affix_glob(["a1b2", "zz9", "k3"])
    '*'
    """
    items = sorted(set(values))
    first, last = items[0], items[-1]
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    prefix = first[:n]
    while prefix and prefix[-1] not in _SEPARATORS:
        prefix = prefix[:-1]
    rest = [v[len(prefix) :] for v in items]
    m = 0
    shortest = min(len(r) for r in rest)
    while m < shortest and len({r[len(r) - 1 - m] for r in rest}) == 1:
        m += 1
    suffix = rest[0][len(rest[0]) - m :] if m else ""
    while suffix and suffix[0] not in _SEPARATORS:
        suffix = suffix[1:]
    if any(len(r) <= len(suffix) for r in rest):
        suffix = ""
    return f"{prefix}*{suffix}"


def _by_extension(names: set[str], threshold: int) -> list[set[str]]:
    """Names of several extensions split by extension when every group has the evidence.

    ``a.csv b.csv c.csv a.csv.out b.csv.out c.csv.out`` give ``*.csv`` and ``*.csv.out``
    rather than ``*``; when some extension has fewer than ``threshold`` names, all names stay
    one family (``*``), so a new extension never blocks where the evidence was mixed.
    """
    if _name_glob(names) != "*":
        return [names]
    groups: dict[str, set[str]] = defaultdict(set)
    for name in names:
        groups[_extension(name)].add(name)
    if len(groups) > 1 and "" not in groups and all(len(g) >= threshold for g in groups.values()):
        return [groups[ext] for ext in sorted(groups)]
    return [names]


def path_families(targets: Iterable[str], threshold: int) -> dict[str, str]:
    """Path families with evidence: over last names, then over directory components.

    ``threshold`` distinct names in one directory (literal or glob) become ``dir/*.ext`` (the
    shared extension, else ``dir/*``); ``threshold`` distinct values of one directory component
    with the same rest become ``prefix-*`` (:func:`affix_glob`), and when the last names vary
    with it, ``*.ext`` too. Repeated until nothing changes. ``/``, top-level directories and
    anything under ``/proc``, ``/sys`` and ``/dev`` never collapse.

    Example
    -------
    >>> sorted(set(path_families(["{tmp}/u/user-1/a.jpg", "{tmp}/u/user-2/b.jpg",
    ...                           "{tmp}/u/user-3/c.jpg"], 3).values()))
    ['{tmp}/u/user-*/*.jpg']
    """
    current = {t: t for t in sorted(set(targets))}
    for _round in range(8):
        patterns = sorted(set(current.values()))
        change: dict[str, str] = {}
        # 1. names in one directory (the directory may itself be a glob)
        by_dir: dict[str, set[str]] = defaultdict(set)
        for pattern in patterns:
            directory, sep, name = pattern.rpartition("/")
            if sep and name and name != "*" and "**" not in name and _collapsible_dir(directory):
                by_dir[directory].add(name)
        for directory, names in sorted(by_dir.items()):
            if len(names) < threshold:
                continue
            # All names together when they share a suffix; else literal names and names
            # holding the table's globs (``report.csv.*``) each form their own family.
            together = _name_glob(names)
            parts = (
                [names]
                if together is not None
                else [{n for n in names if not is_glob(n)}, {n for n in names if is_glob(n)}]
            )
            for part in parts:
                if len(part) < threshold:
                    continue
                for group in _by_extension(part, threshold):
                    name_glob = _name_glob(group)
                    for name in group if name_glob is not None else ():
                        if name != name_glob:
                            change[f"{directory}/{name}"] = f"{directory}/{name_glob}"
        # 2. directory components, the same rest (exact), then the same rest but the last name
        if not change:
            change = _component_families(patterns, threshold, loose=False) or (
                _component_families(patterns, threshold, loose=True)
            )
        if not change:
            break
        current = {t: change.get(p, p) for t, p in current.items()}
    return {t: p for t, p in current.items() if p != t}


def _component_families(patterns: list[str], threshold: int, *, loose: bool) -> dict[str, str]:
    groups: dict[tuple[str, int, tuple[str, ...]], dict[str, str]] = defaultdict(dict)
    for pattern in patterns:
        parts = pattern.split("/")
        for i in range(1, len(parts) - 1):
            value = parts[i]
            head = "/".join(parts[:i])
            if not value or is_glob(value) or not _collapsible_dir(head) or head == "":
                continue
            rest = tuple(parts[i + 1 :])
            if loose:
                if is_glob(rest[-1]):
                    continue
                rest = (*rest[:-1], _extension(rest[-1]))
            groups[(head, i, rest)].setdefault(value, pattern)
    change: dict[str, str] = {}
    for (head, _i, rest), members in sorted(groups.items(), key=lambda kv: (-kv[0][1], kv[0])):
        if len(members) < threshold or any(p in change for p in members.values()):
            continue
        glob = affix_glob(members)
        tail = list(rest)
        if loose:
            names = [p.rsplit("/", 1)[1] for p in members.values()]
            tail[-1] = (_name_glob(names) or "*") if len(set(names)) > 1 else names[0]
        for pattern in members.values():
            change[pattern] = "/".join([head, glob, *tail])
    return change


# --------------------------------------------------------------------------- exec families

_WORD_SAFE = re.compile(r"^[A-Za-z0-9_.,:=+@%/{}*-]+$")
_INTERPRETERS = ("python", "perl", "ruby", "node", "php", "lua", "awk", "env")


def _value_glob(values: list[str], shell: bool) -> str | None:
    """The glob for one argv item or shell word from its distinct benign values, or None."""
    # (a value starting with "-", "+" or "@" is an option, a command or an argument file to
    # many programs: kept literal, and a wildcard never stands for one: globs._NOT_OPTION)
    # (nor "." itself: a wildcard never stands for it either, globs._NOT_A_DOT)
    if any(
        not _WORD_SAFE.match(v) or v[:1] in ("-", "+", "@") or ".." in v or v == "." for v in values
    ):
        return None
    if all("/" in v for v in values):
        dirs = {v.rpartition("/")[0] for v in values}
        if len(dirs) != 1:
            return None
        directory = dirs.pop()
        if not directory or not _collapsible_dir(directory):
            return None
        name_glob = _name_glob(v.rpartition("/")[2] for v in values)
        return f"{directory}/{name_glob}" if name_glob else None
    if any("/" in v for v in values):
        return None
    return affix_glob(values)


def exec_families(
    rules: Iterable[tuple[str, tuple[str, ...]]], threshold: int
) -> dict[tuple[str, tuple[str, ...]], tuple[str, ...]]:
    """Families over exec arguments and over the words of a ``sh -c`` command string.

    Rules of one executable with the same argument count (and, for a shell, the same word
    count) are compared position by position: a position with ``threshold`` distinct values
    becomes a glob (a path's name ``dir/*.ext``, else ``prefix-*``). Only values made of
    shell-safe characters join (never one starting with ``-``, holding ``..`` or shell syntax),
    and inside a shell command string the runtime's ``*`` never matches a metacharacter, a
    space, ``..`` or ``/``: an injected ``x; touch /tmp/p`` never matches. Code arguments of
    interpreters (``python -c``) are never generalised.

    Example
    -------
    >>> rules = [("/usr/bin/wc", ("-l", f"{{tmp}}/{n}.txt")) for n in ("a", "b", "c")]
    >>> sorted(set(exec_families(rules, 3).values()))
    [('-l', '{tmp}/*.txt')]
    """
    # (exec path, argv shape) -> [(the rule, its slots, each slot's kind)]
    Entry = tuple[tuple[str, tuple[str, ...]], list[str], list[str]]
    clusters: dict[tuple[Any, ...], list[Entry]] = defaultdict(list)
    for exec_path, argv in sorted(set(rules)):
        shell_at = _table.shell_command_index(exec_path, argv)
        base = exec_path.rsplit("/", 1)[-1]
        code_at = -1
        if base.startswith(_INTERPRETERS):
            for i, arg in enumerate(argv[:-1]):
                if arg in ("-c", "-e", "--eval"):
                    code_at = i + 1
        # A program runner's arguments name the program it runs (``env gzip x``, ``timeout 5
        # xz y``): never generalised, nor a shell command's words that name one (red team 75:
        # ``sh -c "* {tmp}/*.txt"`` ran any program). A shell behind a runner (``timeout 5 sh
        # -c …``) keeps its command string's own reading.
        runner = base in PROGRAM_RUNNERS
        slots: list[str] = []
        shape: list[Any] = []
        kinds: list[str] = []
        for i, arg in enumerate(argv):
            if i == shell_at:
                words = re.split(r"(\s+)", arg)
                slots.extend(words[0::2])
                shape.append(("sh", tuple(words[1::2])))
                kinds.extend("code" if names else "sh" for names in shell_program_words(arg))
            else:
                slots.append(arg)
                shape.append("code" if i == code_at else "arg")
                kinds.append("code" if i == code_at or runner else "arg")
        clusters[(exec_path, tuple(shape))].append(((exec_path, argv), slots, kinds))
    out: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
    for (_exec, structure), entries in sorted(clusters.items(), key=lambda kv: str(kv[0])):
        if len(entries) < threshold:
            continue
        members = [(key, slots) for key, slots, _kinds in entries]
        # (a position any member names a program at stays as it is)
        width = len(members[0][1])
        kinds = [
            "code" if any(k[p] == "code" for _key, _slots, k in entries) else entries[0][2][p]
            for p in range(width)
        ]
        variable = [p for p in range(width) if len({s[p] for _k, s in members}) > 1]
        globs: dict[int, str] = {}
        for p in variable:
            values = sorted({s[p] for _k, s in members})
            glob = None
            if kinds[p] != "code" and len(values) >= threshold:
                glob = _value_glob(values, kinds[p] == "sh")
            if glob is not None:
                globs[p] = glob
        # (members split by what varies and stays: but never by a program's name or code,
        # which stay literal anyway -- the other positions' evidence is the whole family's:
        # gzip and xz over six job files give ``gzip {tmp}/*.txt`` and ``xz {tmp}/*.txt``)
        fixed = [p for p in variable if p not in globs and kinds[p] != "code"]
        subgroups: dict[tuple[str, ...], list[tuple[tuple[str, tuple[str, ...]], list[str]]]] = (
            defaultdict(list)
        )
        for key, slots in members:
            subgroups[tuple(slots[p] for p in fixed)].append((key, slots))
        for sub in subgroups.values():
            applied = {p: g for p, g in globs.items() if len({s[p] for _k, s in sub}) >= threshold}
            if not applied:
                continue
            for key, slots in sub:
                new_slots = [applied.get(p, v) for p, v in enumerate(slots)]
                argv_out = _rebuild(structure, new_slots)
                if argv_out != key[1]:
                    out[key] = argv_out
    return out


def _rebuild(shape: tuple[Any, ...], slots: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    at = 0
    for item in shape:
        if isinstance(item, tuple):
            seps = item[1]
            words = slots[at : at + len(seps) + 1]
            at += len(seps) + 1
            text = words[0]
            for sep, word in zip(seps, words[1:], strict=True):
                text += sep + word
            out.append(text)
        else:
            out.append(slots[at])
            at += 1
    return tuple(out)


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
