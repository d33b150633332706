"""The runtime side of a profile: compiled matchers and allow/deny decisions (no pydantic).

The runtime form of a profile (``profile compile``'s output, see :mod:`sandbox.runtime.compiler`) holds
its rules already grouped by ``(category, action, phase)`` and split into exact targets,
directory prefixes and globs. Loading it is a ``json.load``, a root expansion and one
``re.compile`` per group.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from functools import partial

from .categories import REGISTRY
from .core import content_digest
from .errors import ProfileError
from .globs import _CLASSES, glob_to_regex, is_glob, process_rule_regex
from .regex_programs import KEY
from .regex_programs import table as program_table
from .roots import Roots
from .values import stat_identity

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any


FORMAT = "lambda-sandbox.compiled"
FORMAT_VERSION = 1
PHASES = ("init", "invoke")


def load_json(path: str | os.PathLike[str], identity: str | None = None) -> dict[str, Any]:
    """Read a JSON object from a file, naming the file in any error (:func:`read_json`)."""
    return read_json(path, identity)[0]


def read_json(
    path: str | os.PathLike[str], identity: str | None = None
) -> tuple[dict[str, Any], os.stat_result, bytes]:
    """A JSON object read from a file, with the open file's stat result after reading it and
    the bytes read (:func:`file_identity_text` makes the identity a Python child is given to
    check the same file against). Errors name the file.

    ``identity``: what the file's identity must be (the one a sandboxed parent was installed
    with): a file written, replaced or linked since (its change time moves, and its bytes'
    digest differs) is refused (``ProfileError``).
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
            st = os.fstat(handle.fileno())
        if identity is not None:
            found = file_identity_text(st, data)
            if found != identity:
                raise ProfileError(
                    f"changed since the parent process was installed with it (its identity "
                    f"{found} is not {identity}): a Python child does not start on a profile "
                    "its parent did not have",
                    source=str(path),
                )
        document = json.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise ProfileError("file not found", source=str(path)) from None
    except OSError as exc:
        raise ProfileError(f"cannot read: {exc.strerror}", source=str(path)) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"not valid JSON: {exc}", source=str(path)) from exc
    if not isinstance(document, dict):
        raise ProfileError("expected a JSON object at the top level", source=str(path))
    return document, st, data


def file_identity_text(st: os.stat_result, data: bytes | None) -> str:
    """A file's identity as ``SANDBOX_PROFILE_IDENTITY`` holds it: device, inode, link count,
    change and modification times (ns), size and mode of its stat result ``st``, and the
    SHA-256 of its bytes ``data``, ``:``-separated. (The times alone can be set back by a
    process allowed to set the clock; the digest cannot.) ``data`` ``None``: ``-`` for the
    digest, which matches no file (for a profile that lets no program run: no Python child
    can start under it, and one that did anyway would refuse to).

    Example
    -------
    >>> file_identity_text(os.stat("/"), b"").count(":")
    7
    """
    digest = content_digest(data) if data is not None else "-"
    return ":".join([*[str(part) for part in stat_identity(st)], digest])


def is_compiled(document: Mapping[str, Any]) -> bool:
    """Whether a document is a compiled profile (rather than a profile to compile)."""
    return document.get("format") == FORMAT


class Matcher:
    """Exact set + directory prefixes + one alternation regex; the cheapest test first."""

    __slots__ = (
        "_child_stems",
        "_globs",
        "_literals",
        "_module_globs",
        "_name_globs",
        "_regex",
        "_tree_stems",
        "exact",
        "heads",
        "packages",
        "prefixes",
    )

    def __init__(
        self,
        exact: Iterable[str],
        prefixes: Iterable[str],
        globs: list[Callable[[], str]],
        packages: Iterable[str] = (),
        heads: Iterable[str] = (),
    ):
        self.exact = frozenset(exact)
        self.packages = frozenset(packages)  # modules: a top-level package and all below it
        self.prefixes = tuple(sorted(set(prefixes)))
        # Globs "<literal>**" whose "**" is ".*" (code, modules, aws...): the regex
        # "<literal>.*\Z" (DOTALL, see prepare) matches exactly the targets that start with
        # the literal; tested as that, with no regex to compile.
        self.heads = tuple(sorted(set(heads)))
        # Globs become one alternation regex on first use: most groups are settled by the exact
        # set or a prefix, and translating + compiling costs ~0.1 ms a glob of cold start.
        self._globs = globs
        self._regex: re.Pattern[str] | None = None
        # For the questions about a whole directory (children_allowed): file globs ending in
        # "/*" and "/**" as the regex of what comes before (their stem), and every glob's
        # literal start ("" when it is not a file glob: anything may match it).
        self._child_stems: tuple[re.Pattern[str], ...] = ()
        self._tree_stems: tuple[re.Pattern[str], ...] = ()
        self._literals: tuple[str, ...] = ()
        # For the questions about every module below a prefix (modules_below_allowed): each
        # glob's pattern when it is a module glob, else None (anything may match it).
        self._module_globs: tuple[str | None, ...] = ()
        # For pattern verdicts (name_glob): file globs "<folder>/<one name's glob>", with
        # "/*" or "/**" after it or not, as (folder, glob, depth 0 covered, depth 1 covered).
        self._name_globs: tuple[tuple[str, str, re.Pattern[str], bool, bool], ...] = ()

    def match(self, target: str) -> bool:
        if target in self.exact:
            return True
        if self.packages and target.partition(".")[0] in self.packages:
            return True
        for prefix in self.prefixes:
            if target.startswith(prefix) and (
                len(target) == len(prefix) or target[len(prefix)] == "/" or prefix.endswith("/")
            ):
                return True
        for head in self.heads:
            if target.startswith(head):
                return True
        if not self._globs:
            return False
        regex = self._regex
        if regex is None:
            self.prepare()  # outside the hook (tooling); the hook prepares every matcher at install
            regex = self._regex
        return regex is not None and regex.match(target) is not None

    def prepare(self, programs: dict[tuple[str, int], list[Any]] | None = None) -> None:
        """Compile the globs' regexes now. ``programs``: the compiled profile's own (see
        :meth:`Policy.prepare`)."""
        if self._globs and self._regex is None:
            # Built from the shipped programs where this interpreter has the very pattern (the
            # built-in ceiling's: regex_programs), else from the profile's own, by re otherwise:
            # the same pattern either way.
            from .regex_programs import compile_pattern

            source, stems, literals = self._plan()
            self._regex = compile_pattern(source, _DOTALL, programs)
            child_stems: list[re.Pattern[str]] = []
            tree_stems: list[re.Pattern[str]] = []
            for stem, below in stems:
                (tree_stems if below else child_stems).append(
                    compile_pattern(stem, _DOTALL, programs)
                )
            self._child_stems, self._tree_stems = tuple(child_stems), tuple(tree_stems)
            self._literals = tuple(literals)
            name_globs: list[tuple[str, str, re.Pattern[str], bool, bool]] = []
            for build in self._globs:
                pattern = _file_glob(build)
                shape = _name_glob_of(pattern) if pattern is not None else None
                if shape is not None:
                    folder, glob, shallow, deep = shape
                    # (the glob's own regex, as the rules': matched on a name with no "/")
                    regex = compile_pattern(_name_glob_regex(glob), _DOTALL, programs)
                    name_globs.append((folder, glob, regex, shallow, deep))
            self._name_globs = tuple(name_globs)
            self._module_globs = tuple(_module_glob(build) for build in self._globs)

    def name_glob_regexes(self) -> list[tuple[str, int]]:
        """The ``(pattern, flags)`` of the name globs' regexes :meth:`prepare` compiles."""
        out: list[tuple[str, int]] = []
        for build in self._globs:
            pattern = _file_glob(build)
            shape = _name_glob_of(pattern) if pattern is not None else None
            if shape is not None:
                out.append((_name_glob_regex(shape[1]), int(_DOTALL)))
        return out

    def regexes(self) -> list[tuple[str, int]]:
        """The ``(pattern, flags)`` of every regex :meth:`prepare` compiles (none without globs).

        Example
        -------
        >>> Matcher([], [], [lambda: "a[0-9]"]).regexes() == [("(?:a[0-9])\\\\Z", 16)]
        True
        """
        if not self._globs:
            return []
        source, stems, _ = self._plan()
        return [(source, int(_DOTALL))] + [(stem, int(_DOTALL)) for stem, _ in stems]

    def _plan(self) -> tuple[str, list[tuple[str, bool]], list[str]]:
        """The globs' alternation regex; each file glob's stem regex (``True``: its "/**"
        stem, ``False``: its "/*" one); and each glob's literal start (``""``: not a file glob)."""
        # DOTALL: a glob's "**" (".*") stands for any text, a newline too — a name with a
        # newline in it must not slip past a deny (nor be refused by an allow).
        source = "(?:" + "|".join(build() for build in self._globs) + ")\\Z"
        stems: list[tuple[str, bool]] = []
        literals: list[str] = []
        for build in self._globs:
            pattern = _file_glob(build)
            if pattern is None:
                literals.append("")
                continue
            literals.append(pattern[: min(_wildcard_at(pattern, c) for c in "*?")])
            # The stem is cut from the pattern's own regex (a "**" means ".*" inside a
            # pattern but "(?:/.*)?" at its end: translating the stem alone would differ).
            regex = glob_to_regex(pattern, "files")
            for ending, below in ((_ANY_BELOW, True), (_ANY_NAME, False)):
                if regex.endswith(ending):
                    stems.append((regex[: -len(ending)] + "\\Z", below))
                    break
        return source, stems, literals

    def covers_children(self, directory: str) -> bool:
        """Whether every name directly in ``directory`` (an absolute path with no trailing
        ``/``, or ``/``) matches: a prefix above it, or a glob ``<stem>/*`` whose stem matches
        it, or ``<stem>/**`` whose stem matches it or a directory above it. A glob of any
        other shape never counts (the answer is "not shown", never a wrong yes)."""
        below = directory if directory == "/" else directory + "/"
        for prefix in self.prefixes:
            if _str_startswith(below, prefix) and (
                _str_endswith(prefix, "/") or below[_len(prefix)] == "/"
            ):
                return True
        if self._globs and self._regex is None:
            self.prepare()  # outside the hook (tooling); the hook prepares every matcher at install
        # A name in the folder is the stem's match + "/" + the name: for "/" the stem must
        # match "" (the text before that "/"), not "/".
        name = "" if directory == "/" else directory
        for stem in self._child_stems:
            if stem.match(name) is not None:
                return True
        if self._tree_stems:
            while True:
                for stem in self._tree_stems:
                    if stem.match(name) is not None:
                        return True
                if not name:
                    break
                name = name[: _str_rfind(name, "/")]
        return False

    def covers_tree(self, directory: str) -> bool:
        """Whether every name at any depth below ``directory`` matches: a prefix at or above
        it, a head (``<literal>**`` read as ``.*``) that ``directory/`` starts with, or a glob
        ``<stem>/**`` whose stem matches it or a directory above it."""
        below = directory if directory == "/" else directory + "/"
        for prefix in self.prefixes:
            if _str_startswith(below, prefix) and (
                _str_endswith(prefix, "/") or below[_len(prefix)] == "/"
            ):
                return True
        for head in self.heads:
            if _str_startswith(below, head):
                return True  # (every name below starts with the head: match() says yes)
        if self._globs and self._regex is None:
            self.prepare()
        name = "" if directory == "/" else directory
        if self._tree_stems:
            while True:
                for stem in self._tree_stems:
                    if stem.match(name) is not None:
                        return True
                if not name:
                    break
                name = name[: _str_rfind(name, "/")]
        return False

    def name_glob(self, directory: str, name: str, depth: int) -> str | None:
        """A one-name glob ``g`` matching ``name`` such that every ``directory/x`` (depth 0),
        or every name directly in a folder ``directory/x`` (depth 1), with ``x`` matching
        ``g``, matches: ``"*"`` when everything below ``directory`` does
        (:meth:`covers_tree`), else the glob of a rule ``<directory>/<g>`` (depth 0),
        ``<directory>/<g>/*`` (depth 1) or ``<directory>/<g>/**`` (both). ``None``: no such
        glob is shown (never a wrong one)."""
        if not name or name in (".", "..") or "/" in name or "\n" in name:
            return None
        if self.covers_tree(directory):
            return "*"
        if self._globs and self._regex is None:
            self.prepare()
        for folder, glob, regex, shallow, deep in self._name_globs:
            if folder == directory and (deep if depth else shallow) and regex.match(name):
                return glob
        return None

    def may_match_tree(self, directory: str) -> bool:
        """Whether some name at any depth below ``directory`` might match (conservative:
        ``False`` only when no exact target, prefix or glob can reach below it)."""
        return self._may_reach(directory, _str_startswith)

    def may_match_around(self, directory: str) -> bool:
        """Whether the folder ``directory`` itself, a folder on the way to it from ``/``, or
        some name at any depth below it might match (conservative: ``False`` only when no
        exact target, prefix or glob's literal start can reach any of them; no regex is run).

        Example
        -------
        >>> m = Matcher({"/dev/null"}, (), [])
        >>> m.may_match_around("/var/task"), m.may_match_around("/dev"), m.may_match_around("/")
        (False, True, True)
        """
        if self.may_match_tree(directory):
            return True
        # The folder or one above it: a prefix or a glob's literal start that could match one
        # starts the folder's name, which may_match_tree asked already; an exact target names
        # it ("/" is above every folder).
        below = directory if directory == "/" else directory + "/"
        return any(
            _str_startswith(below, target if _str_endswith(target, "/") else target + "/")
            for target in self.exact
        )

    def may_match_below(self, directory: str) -> bool:
        """Whether some name directly in ``directory`` might match (conservative: ``False``
        only when no exact target, prefix or glob can reach below it)."""
        return self._may_reach(directory, _in_folder)

    def _may_reach(self, directory: str, inside: Callable[[str, str], bool]) -> bool:
        """The two questions above: ``inside(text, below)`` says whether a text starting with
        the folder (``below``, ending in ``/``) reaches the names asked about."""
        below = directory if directory == "/" else directory + "/"
        if self.packages or self.heads:
            return True  # (not file matchers: never asked; "might" is the safe answer)
        for target in self.exact:
            if inside(target, below):
                return True
        for prefix in self.prefixes:
            if _str_startswith(below, prefix) or inside(prefix, below):
                return True
        if self._globs and self._regex is None:
            self.prepare()
        # A glob's match starts with its literal start: (for the names directly in the
        # folder) one that goes below the folder and on into a subfolder matches none of them.
        for literal in self._literals:
            if _str_startswith(below, literal) or inside(literal, below):
                return True
        return False

    def covers_modules_below(self, prefix: str) -> bool:
        """Whether every module name starting with ``prefix`` (a dotted prefix ending in
        ``.``: ``"boto3."``, ``"google.cloud."``) matches: a package rule of its first
        component (``a.**``, ``{stdlib}``) or a head (``<literal>**``) it starts with. Exact
        names and other globs never count (the answer is "not shown", never a wrong yes)."""
        if _str_partition(prefix, ".")[0] in self.packages:
            return True
        return any(_str_startswith(prefix, head) for head in self.heads)

    def packages_reached(self, names: frozenset[str]) -> frozenset[str]:
        """The top-level module names of ``names`` (no dot) that this matcher might match, by
        themselves or through a name below them (conservative, as
        :meth:`may_match_modules_below` for each ``name + "."``, and :meth:`match` of the
        name itself, but in one pass over the matcher's entries rather than one per name)."""
        if self.prefixes:
            return names  # (file matchers only: never asked; "might" is the safe answer)
        reached = set(names & self.packages) | (names & self.exact)
        for target in self.exact:
            top, dot, _ = _str_partition(target, ".")
            if dot and top in names:
                reached.add(top)
        if self._globs and self._regex is None:
            self.prepare()  # outside the hook (tooling); the hook prepares every matcher at install
        starts = list(self.heads)
        for pattern in self._module_globs:
            if pattern is None:
                return names
            starts.append(_literal_start(pattern))
        short: list[str] = []
        for start in starts:
            top, dot, _ = _str_partition(start, ".")
            if not dot:
                short.append(start)  # every name it starts reaches: "con" -> "concurrent"...
            elif top in names:
                reached.add(top)  # a start with a dot reaches below its first component only
        if short:
            begins = tuple(short)
            reached.update(name for name in names if _str_startswith(name, begins))
        return frozenset(reached)

    def may_match_modules_below(self, prefix: str) -> bool:
        """Whether some module name starting with ``prefix`` (ending in ``.``) might match
        (conservative: ``False`` only when no exact name, package, head or glob can reach a
        name below it). A module glob's match starts with its literal start (the text before
        its first ``*`` or ``?``: every other character stands for itself), so it can reach
        below the prefix only when one of the two starts with the other."""
        if self.prefixes:
            return True  # (file matchers only: never asked; "might" is the safe answer)
        if _str_partition(prefix, ".")[0] in self.packages:
            return True
        for target in self.exact:
            if _str_startswith(target, prefix):
                return True
        for head in self.heads:
            if _str_startswith(head, prefix) or _str_startswith(prefix, head):
                return True
        if self._globs and self._regex is None:
            self.prepare()  # outside the hook (tooling); the hook prepares every matcher at install
        for pattern in self._module_globs:
            if pattern is None:
                return True
            literal = _literal_start(pattern)
            if _str_startswith(literal, prefix) or _str_startswith(prefix, literal):
                return True
        return False

    def covers_module_children(self, prefix: str) -> bool:
        """Whether every module name directly below ``prefix`` (``prefix`` + a text with no
        ``.``, empty included) matches: everything below it does
        (:meth:`covers_modules_below`), or a module glob is exactly ``prefix + "*"``."""
        if self.covers_modules_below(prefix):
            return True
        if self._globs and self._regex is None:
            self.prepare()  # outside the hook (tooling); the hook prepares every matcher at install
        return prefix + "*" in self._module_globs

    def __bool__(self) -> bool:
        return bool(self.exact or self.packages or self.prefixes or self.heads or self._globs)


_DOTALL = re.DOTALL


def _name_glob_regex(glob: str) -> str:
    """A name glob's regex (matched on one name, no "/")."""
    return glob_to_regex(glob, "files") + "\\Z"


_str_startswith = str.startswith
_str_endswith = str.endswith
_str_rfind = str.rfind
_str_find = str.find
_str_partition = str.partition
_len = len


def _file_glob(build: Callable[[], str]) -> str | None:
    """The pattern of a file glob's regex builder (``None``: not a file glob).

    By name, not identity: in the hook this runs on frozen copies, where ``glob_to_regex`` is
    the private copy while the builders made at load hold the original."""
    if (
        type(build) is partial
        and getattr(build.func, "__name__", None) == "glob_to_regex"
        and build.args[1:] == ("files",)
    ):
        pattern = build.args[0]
        return pattern if type(pattern) is str else None
    return None


def _module_glob(build: Callable[[], str]) -> str | None:
    """The pattern of a module glob's regex builder (``None``: not a module glob); by name,
    as :func:`_file_glob`."""
    if (
        type(build) is partial
        and getattr(build.func, "__name__", None) == "glob_to_regex"
        and build.args[1:] == ("modules",)
    ):
        pattern = build.args[0]
        return pattern if type(pattern) is str else None
    return None


def _literal_start(pattern: str) -> str:
    """A module glob's text before its first wildcard (every match starts with it)."""
    cut = _str_find(pattern, "*")
    other = _str_find(pattern, "?")
    if cut < 0 or 0 <= other < cut:
        cut = other
    return pattern if cut < 0 else pattern[:cut]


# How a file glob's regex ends for "<stem>/**" and "<stem>/*" (see globs.glob_to_regex).
_ANY_BELOW = "(?:/.*)?"
_ANY_NAME = "/[^/]*"


def _name_glob_of(pattern: str) -> tuple[str, str, bool, bool] | None:
    """``<folder>/<g>``, ``<folder>/<g>/*`` or ``<folder>/<g>/**`` (a literal folder, ``g`` one
    name's glob with a wildcard and no ``**``) as (folder, g, depth 0 covered, depth 1
    covered); ``None`` for any other shape."""
    shallow, deep = True, False
    stem = pattern
    if _str_endswith(pattern, "/**"):
        stem, deep = pattern[:-3], True
    elif _str_endswith(pattern, "/*"):
        stem, shallow, deep = pattern[:-2], False, True
    cut = _str_rfind(stem, "/")
    if cut < 0:
        return None
    folder, glob = stem[:cut] or "/", stem[cut + 1 :]
    if not glob or "**" in glob or not is_glob(glob) or is_glob(folder) or folder[:1] != "/":
        return None
    if "//" in stem or "/./" in stem + "/" or "/../" in stem + "/":
        return None
    return folder, glob, shallow, deep


def _in_folder(text: str, below: str) -> bool:
    """Whether ``text`` starts with the folder ``below`` (ending in ``/``) and goes no deeper."""
    return _str_startswith(text, below) and _str_find(text, "/", _len(below)) < 0


def _wildcard_at(pattern: str, wildcard: str) -> int:
    at = pattern.find(wildcard)
    return at if at >= 0 else len(pattern)


# Standard-library modules the "{stdlib}" module target does NOT include: native-memory
# access and test hooks are capabilities of their own and must be learned explicitly; so are
# the modules whose C code opens files, runs programs or talks to the network with no audit
# event, where no hook would see it: a whole Tcl interpreter (open, exec, socket), readline's
# history and init files, the dbm.gnu/dbm.ndbm databases, curses' terminal database, POSIX
# shared memory (files in /dev/shm), syslog's socket, the NIS and shadow
# password databases, 3.14's _remote_debugging (it reads a process's memory and stacks with
# process_vm_readv: red team 113). A function that uses one learns its import like any other
# module's.
STDLIB_EXCLUDED = frozenset(
    {
        "ctypes",
        "_ctypes",
        "_testcapi",
        "_testinternalcapi",
        "_testbuffer",
        "_tkinter",
        "tkinter",
        "readline",
        "_gdbm",
        "_dbm",
        "_curses",
        "_curses_panel",
        "_posixshmem",
        "syslog",
        "nis",
        "spwd",
        "ossaudiodev",
        "_remote_debugging",
    }
)


def stdlib_modules() -> frozenset[str]:
    """Top-level standard-library module names of the running interpreter (3.10+)."""
    import sys

    return frozenset(sys.stdlib_module_names) - STDLIB_EXCLUDED


def _kind(category: str, action: str) -> str:
    if category == "processes" and action == "env":
        return "env"
    entry = REGISTRY.get(category)
    return entry.glob_class if entry is not None else category


def build_matcher(
    category: str, patterns: Iterable[Any], roots: Roots, action: str = ""
) -> Matcher:
    """Compile rule targets (symbolic globs) of one (category, action) into a :class:`Matcher`."""
    exact: list[str] = []
    prefixes: list[str] = []
    heads: list[str] = []
    regexes: list[Callable[[], str]] = []  # each builds its regex source when first needed
    packages: set[str] = set()
    kind = _kind(category, action)
    # "**" is ".*" in these classes (glob_to_regex): "<literal>**" is a plain head match.
    # (files: "/**" at the end also matches the directory itself, see glob_to_regex.)
    any_tail = kind in _ANY_TAIL
    for pattern in patterns:
        if category == "modules":
            if pattern == "{stdlib}":
                packages.update(stdlib_modules())
                continue
            if pattern.endswith(".**") and not is_glob(pattern[:-3]) and "." not in pattern[:-3]:
                packages.add(pattern[:-3])
                continue
        if category == "processes" and action in ("exec", ""):
            exec_pattern, argv = pattern if isinstance(pattern, list) else (pattern, None)
            alternatives = [roots.expand_all(arg) for arg in argv] if argv is not None else None
            for concrete in roots.expand(exec_pattern):
                regexes.append(partial(process_rule_regex, concrete, argv, alternatives))
            continue
        # (an environment entry's roots stand anywhere in its value: HOME={tmp}, as the profile
        # builder writes what it learned -- red team 73 found HOME=/tmp refused by that rule)
        forms = roots.expand_all(pattern) if kind == "env" else roots.expand(pattern)
        for concrete in forms:
            if not is_glob(concrete):
                exact.append(concrete)
            elif category == "files" and concrete.endswith("/**") and not is_glob(concrete[:-3]):
                prefixes.append(concrete[:-3] or "/")
            elif any_tail and concrete.endswith("**") and not is_glob(concrete[:-2]):
                heads.append(concrete[:-2])
            else:
                regexes.append(partial(glob_to_regex, concrete, kind))
    return Matcher(exact, prefixes, regexes, packages, heads)


# The glob classes whose "**" is ".*" and has no special case (files' trailing "/**" has one).
_ANY_TAIL = frozenset(kind for kind, (_, double) in _CLASSES.items() if double == ".*") - {"files"}


def host_part(target: str) -> str:
    """``example.com:443`` → ``example.com``; ``[::1]:0`` → ``::1``."""
    if target.startswith("["):
        return target[1 : target.find("]")]
    return target.rsplit(":", 1)[0]


def _shape_site_matcher(document: Mapping[str, Any], roots: Roots) -> Matcher:
    """A matcher of the sites that have ``code shape`` rules (``site#feature`` → ``site``)."""
    sites: set[str] = set()
    for key, patterns in document.get("rules", {}).items():
        category, action, _phase = key.split("/")
        if (category, action) == ("code", "shape"):
            sites.update(pattern.partition("#")[0] for pattern in patterns)
    return build_matcher("code", sorted(sites), roots, "compile")


class Policy:
    """Decisions for one profile: ``allows(category, action, target, phase)`` and the ceiling.

    Example
    -------
    >>> from .compiler import compile_profile
    >>> policy = Policy.load(compile_profile({"schema_version": 1, "function": "f", "rules": {
    ...     "files": [{"action": "read", "target": "/etc/hosts", "phase": "any"}]}}))
    >>> policy.allows("files", "read", "/etc/hosts", "invoke")
    True
    """

    __slots__ = (
        "_ceiling",
        "_groups",
        "_programs",
        "_shape_sites",
        "document",
        "function",
        "kernel",
        "roots",
    )

    def __init__(
        self,
        groups: dict[tuple[str, str, str], Matcher],
        ceiling: dict[tuple[str, str], Matcher],
        *,
        roots: Roots,
        document: Mapping[str, Any],
    ):
        self._groups = groups
        self._ceiling = ceiling
        # The eval/exec sites whose shape the profile knows: a site with no shape rule at all
        # (a profile learned before shapes were) is decided by its compile rule alone.
        self._shape_sites = _shape_site_matcher(document, roots)
        self.roots = roots
        self.document = document
        self.function = str(document.get("function", ""))
        self.kernel = document.get("kernel")
        # The profile's own regex programs for this interpreter (compiler.with_regex_programs),
        # for its rules' regexes only: never the ceiling's.
        tables = document.get("regex_programs")
        self._programs: dict[tuple[str, int], list[Any]] | None = None
        if type(tables) is dict and tables.get(KEY) is not None:
            self._programs = program_table(tables[KEY])

    @classmethod
    def load(cls, document: Mapping[str, Any], roots: Roots | None = None) -> Policy:
        """Build matchers from a compiled profile document (validated structurally)."""
        if document.get("format") != FORMAT:
            raise ProfileError("not a compiled profile", field="format")
        version = document.get("format_version")
        if version != FORMAT_VERSION:
            raise ProfileError(
                f"compiled format version {version!r} is not supported (expected {FORMAT_VERSION})",
                field="format_version",
            )
        roots = roots or Roots.detect()
        groups: dict[tuple[str, str, str], Matcher] = {}
        try:
            for key, patterns in document["rules"].items():
                category, action, phase = key.split("/")
                if phase not in PHASES:
                    raise ProfileError(f"unknown phase {phase!r}", field=f"rules.{key}")
                groups[(category, action, phase)] = build_matcher(category, patterns, roots, action)
            ceiling = {
                tuple(key.split("/")): build_matcher(
                    key.split("/")[0], patterns, roots, key.split("/")[1]
                )
                for key, patterns in document.get("ceiling", {}).items()
            }
        except (KeyError, ValueError, TypeError, AttributeError, re.error) as exc:
            if isinstance(exc, ProfileError):
                raise
            raise ProfileError(f"malformed compiled profile: {exc}", field="rules") from exc
        return cls(groups, ceiling, roots=roots, document=document)

    def allows(self, category: str, action: str, target: str, phase: str) -> bool:
        """Whether a rule of the profile allows this access in this phase."""
        matcher = self._groups.get((category, action, phase))
        return matcher is not None and matcher.match(target)

    def write_matchers(self) -> tuple[Matcher, ...]:
        """The matchers of the ``files write`` rules of every phase: what answers "may the
        function make, remove, rename or link this name?" (``decoders.code.name_writable``).

        Example
        -------
        >>> from .compiler import compile_profile
        >>> policy = Policy.load(compile_profile({"schema_version": 1, "function": "f",
        ...     "rules": {"files": [{"action": "write", "target": "/tmp/**", "phase": "any"}]}}))
        >>> [m.match("/tmp/x") for m in policy.write_matchers()]
        [True, True]
        """
        found = (self._groups.get(("files", "write", phase)) for phase in PHASES)
        return tuple(m for m in found if m is not None)

    def shapes_known(self, target: str) -> bool:
        """Whether the profile has ``code shape`` rules for this ``site#feature``'s site.

        A site with none (a profile learned before shapes were) is decided by its compile
        rule alone: the hook then lets its shape accesses pass.
        """
        return self._shape_sites.match(_str_partition(target, "#")[0])

    def children_allowed(self, action: str, directory: str, phase: str) -> bool:
        """Whether every name directly in ``directory`` may be opened for ``action`` (``read``
        or ``write``) in ``phase``: a rule covers them all (:meth:`Matcher.covers_children`)
        and no ceiling entry can reach any of them. The hook's core then answers new names
        there itself (a name that is a link still goes through the full decision).

        Example
        -------
        >>> from .compiler import compile_profile
        >>> policy = Policy.load(compile_profile({"schema_version": 1, "function": "f",
        ...     "rules": {"files": [{"action": "write", "target": "/tmp/**", "phase": "any"}]}}))
        >>> policy.children_allowed("write", "/tmp/job", "invoke")
        True
        >>> policy.children_allowed("read", "/tmp/job", "invoke")
        False
        """
        group = self._groups.get(("files", action, phase))
        if group is None or not group.covers_children(directory):
            return False
        ceiling = self._ceiling.get(("files", action))
        return ceiling is None or not ceiling.may_match_below(directory)

    def tree_allowed(self, category: str, action: str, directory: str, phase: str) -> bool:
        """Whether every target at any depth below ``directory`` is allowed for ``category``
        ``action`` in ``phase``: a rule covers the whole tree (:meth:`Matcher.covers_tree`)
        and no ceiling entry can reach below it. For ``code exec`` below a module root, the
        hook's core then answers a module's code run there itself.

        Example
        -------
        >>> from .compiler import compile_profile
        >>> policy = Policy.load(compile_profile({"schema_version": 1, "function": "f",
        ...     "rules": {"code": [{"action": "exec", "target": "/var/task/**", "phase": "any"}]}}))
        >>> policy.tree_allowed("code", "exec", "/var/task", "invoke")
        True
        >>> policy.tree_allowed("code", "exec", "/opt/python", "invoke")
        False
        """
        group = self._groups.get((category, action, phase))
        if group is None or not group.covers_tree(directory):
            return False
        ceiling = self._ceiling.get((category, action))
        return ceiling is None or not ceiling.may_match_below(directory)

    def name_patterns(self, action: str, target: str, phase: str) -> list[tuple[str, str, int]]:
        """The pattern verdicts an allowed file access shows: ``(folder, glob, depth)`` such
        that ``action`` is allowed in ``phase`` on every ``folder/x`` (depth 0) — or on every
        name directly in a folder ``folder/x`` (depth 1, read and write) — whose ``x``
        matches ``glob``, and no ceiling entry reaches anything below ``folder``. The hook's
        core then answers the names of new sibling folders (``/tmp/job-<uuid>``) itself.

        Example
        -------
        >>> from .compiler import compile_profile
        >>> policy = Policy.load(compile_profile({"schema_version": 1, "function": "f",
        ...     "rules": {"files": [{"action": "write", "target": "/srv/job-*/*",
        ...                          "phase": "any"}]}}))
        >>> policy.name_patterns("write", "/srv/job-1/out.csv", "invoke")
        [('/srv', 'job-*', 1)]
        """
        group = self._groups.get(("files", action, phase))
        if group is None or not target or target[0] != "/" or target == "/":
            return []
        ceiling = self._ceiling.get(("files", action))
        out: list[tuple[str, str, int]] = []
        folder = target[: _str_rfind(target, "/")] or "/"
        for depth, name in ((0, target), (1, folder)):
            if depth == 1 and name == "/":
                break
            cut = _str_rfind(name, "/")
            parent, leaf = name[:cut] or "/", name[cut + 1 :]
            if depth == 1 and action == "list":
                break
            if ceiling is not None and ceiling.may_match_tree(parent):
                continue
            glob = group.name_glob(parent, leaf, depth)
            if glob is not None:
                out.append((parent, glob, depth))
        return out

    def modules_below_allowed(self, prefix: str, phase: str) -> bool:
        """Whether importing every module name that starts with ``prefix`` (a dotted prefix
        ending in ``.``) is allowed in ``phase``: a rule covers them all
        (:meth:`Matcher.covers_modules_below`) and no ceiling entry can reach any of them
        (:meth:`Matcher.may_match_modules_below`). The hook's core then answers the imports
        of those names itself (``core.module_verdict_add``).

        Example
        -------
        >>> from .compiler import compile_profile
        >>> policy = Policy.load(compile_profile({"schema_version": 1, "function": "f",
        ...     "rules": {"modules": [{"action": "import", "target": "boto3.**",
        ...     "phase": "any"}, {"action": "import", "target": "concurrent.**",
        ...     "phase": "any"}]}}))
        >>> policy.modules_below_allowed("boto3.", "init")
        True
        >>> policy.modules_below_allowed("concurrent.", "init")  # the ceiling reaches below
        False
        >>> policy.modules_below_allowed("concurrent.futures.", "init")
        True
        """
        if not _str_endswith(prefix, ".") or _str_startswith(prefix, "."):
            return False
        group = self._groups.get(("modules", "import", phase))
        if group is None or not group.covers_modules_below(prefix):
            return False
        ceiling = self._ceiling.get(("modules", "import"))
        return ceiling is None or not ceiling.may_match_modules_below(prefix)

    def module_children_allowed(self, prefix: str, phase: str) -> bool:
        """Whether importing every module name directly below ``prefix`` (a dotted prefix
        ending in ``.``, then a text with no ``.``) is allowed in ``phase``: a rule covers them
        all (:meth:`Matcher.covers_module_children`: ``<prefix>*``, or everything below) and no
        ceiling entry can reach any name below the prefix.

        Example
        -------
        >>> from .compiler import compile_profile
        >>> policy = Policy.load(compile_profile({"schema_version": 1, "function": "f",
        ...     "rules": {"modules": [{"action": "import", "target": "plugins.*",
        ...     "phase": "any"}]}}))
        >>> policy.module_children_allowed("plugins.", "init")
        True
        >>> policy.modules_below_allowed("plugins.", "init")
        False
        """
        if not _str_endswith(prefix, ".") or _str_startswith(prefix, "."):
            return False
        group = self._groups.get(("modules", "import", phase))
        if group is None or not group.covers_module_children(prefix):
            return False
        ceiling = self._ceiling.get(("modules", "import"))
        return ceiling is None or not ceiling.may_match_modules_below(prefix)

    def packages_allowed(self, phase: str) -> frozenset[str]:
        """The top-level module names whose import, and every name's below them, is allowed in
        ``phase``: a package rule (``a.**``, ``{stdlib}``) covers them and no ceiling entry can
        reach any of their names. The hook's core answers those imports itself once one of them
        was allowed (``core.module_packages_add``).

        Example
        -------
        >>> from .compiler import compile_profile
        >>> policy = Policy.load(compile_profile({"schema_version": 1, "function": "f",
        ...     "rules": {"modules": [{"action": "import", "target": "boto3.**",
        ...     "phase": "any"}, {"action": "import", "target": "concurrent.**",
        ...     "phase": "any"}]}}))
        >>> sorted(policy.packages_allowed("init"))  # (the ceiling reaches concurrent.*)
        ['boto3']
        """
        group = self._groups.get(("modules", "import", phase))
        if group is None or not group.packages:
            return frozenset()
        ceiling = self._ceiling.get(("modules", "import"))
        if ceiling is None:
            return group.packages
        return group.packages - ceiling.packages_reached(group.packages)

    def runs_programs(self) -> bool:
        """Whether a rule lets a program run (``processes exec``, any phase): whether a Python
        child can start at all (the native core decides every way one starts).

        Example
        -------
        >>> from .compiler import compile_profile
        >>> Policy.load(compile_profile({"schema_version": 1, "function": "f"})).runs_programs()
        False
        """
        return any(
            category == "processes" and action == "exec" for category, action, _ in self._groups
        )

    def ceiling(self, category: str, action: str, target: str) -> bool:
        """Whether the ceiling (denies no learning can override) forbids this access."""
        matcher = self._ceiling.get((category, action))
        return matcher is not None and matcher.match(target)

    def prepare(self) -> None:
        """Compile every matcher's regex now (install does, before the function's code runs:
        compiling later would run ``re``'s Python code, whose module globals it could rebind).
        The rules' regexes may come from the profile's own programs; the ceiling's never do."""
        programs = self._programs
        for matcher in self._groups.values():
            matcher.prepare(programs)
        self._shape_sites.prepare(programs)
        for matcher in self._ceiling.values():
            matcher.prepare()

    def rule_regexes(self) -> list[tuple[str, int]]:
        """Every ``(pattern, flags)`` the rules' matchers compile (not the ceiling's): those a
        compiled profile may carry programs for (``compiler.with_regex_programs``)."""
        out: list[tuple[str, int]] = []
        for matcher in [*self._groups.values(), self._shape_sites]:
            out += matcher.regexes() + matcher.name_glob_regexes()
        return out

    def matchers(self) -> list[Matcher]:
        """Every matcher (the hook freezes them at install)."""
        return [*self._groups.values(), *self._ceiling.values(), self._shape_sites]
