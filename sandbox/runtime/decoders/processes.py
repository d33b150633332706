"""Processes: exec (Popen, os.exec*, posix_spawn[p], os.spawn*, os.system), fork, kill, environment.

The program is found the way the kernel and C library will find it: ``PATH`` from the ``env``
argument for ``Popen`` (the caller's own for ``posix_spawnp``), relative entries and relative
programs against the child's working directory (``cwd=``), and for ``posix_spawn`` — whose event
does not say whether the ``p`` variant is used — both readings are decided. The child tries
every candidate of a search (and of a ``fork_exec`` list) in order, in its own view (after its
``chdir`` to ``cwd=`` and the ``dup2`` of its pipes onto 0/1/2): each one that may run is
decided, and a candidate, ``PATH`` entry or ``cwd=`` through ``/proc`` (``/dev/fd``,
``/dev/stdin``...) or that cannot be looked at makes the exec undecidable. The environment a
child gets is part of what it will do: every variable set to a value other than at install,
but a few inert ones (child.INERT_ENV: locale, TZ, TERM...), is an access of its own
(``processes env NAME=value``), whether it is passed in ``env=`` or set in this process with
``os.putenv``; removing one (``os.unsetenv``: ``NAME=``) only when it protects children; a denylisted one
(child.DANGEROUS_ENV: ``LD_PRELOAD``, ``PYTHONPATH``...) set in this process is decided whatever
its value. A Python child must start
under the sandbox; one that would not (isolated ``-I``/``-E``/``-S``, an environment without the
sandbox's variables) is refused whatever the profile says.
"""

from __future__ import annotations

import os

from .. import child, environ, paths
from .. import core as _core
from ..categories import ARG_SEP, UNDECODABLE
from ..values import (
    _ENVIRON_DECODERS,
    _ENVIRON_PROBES,
    _UNICODE_SIZES,
    ARG_MAX,
    _environ_data,
    _exact_str_keys,
    as_argv,
    as_env,
    as_int,
    as_path,
    as_text,
    code_text,
    lookup,
    lookup_all,
    undecodable,
)
from ..values import (
    _lookup as _class_lookup,
)
from ..values import unresolvable as _unresolvable
from .code import caller_frame as _caller_frame

_frame_local = _core.frame_local
_caller_local = _core.caller_local

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Access = tuple[str, str, str, Any]

_type = type
_str = str
_int = int
_list = list
_tuple: Any = tuple
_dict = dict
_ModuleType = type(os)
_Environ = type(os.environ)
_len = len
_sum = sum
_map = map
_dict_get = dict.get
_dict_sizeof = dict.__sizeof__
_enumerate = enumerate
_str_startswith = str.startswith
_str_endswith = str.endswith
_str_split = str.split
_str_join = str.join
_str_find = str.find
_stat = os.stat
_access = os.access
_X_OK = os.X_OK
_getpid = os.getpid
_getpgrp = os.getpgrp
_S_ISREG = __import__("stat").S_ISREG
_OSError = OSError
_ValueError = ValueError
_DEFPATH = os.defpath
# Bound once (the hook's frozen copy gets the frozen functions): no module attribute read.
_child_started = paths.child_started
_known_plain = child.known_plain
_plain_table = child.plain_table
# A module's own namespace, read through ModuleType's slot (what object.__getattribute__
# finds for an exact module, without the lookup).
_module_dict: Any = vars(_ModuleType)["__dict__"].__get__
# Signal numbers to the names ``signal.Signals`` gives them, read from the builtin ``_signal``
# (loaded with the interpreter): importing ``signal`` builds its enums (~0.4 ms of init). The
# same members (``SIG*`` constants, ``CTRL_*`` on Windows) and, for numbers with several
# names, the same name: Signals sorts the constants by (number, name) and the first one wins.
_SIGNALS: dict[int, str] = {}
try:
    import _signal as _signal_module  # type: ignore[import-not-found]  # (no stub)

    _SIGNALS = {
        number: name
        for name, number in sorted(
            (
                (name, value)
                for name, value in vars(_signal_module).items()
                if type(value) is int
                and name.isupper()
                and (
                    (name.startswith("SIG") and not name.startswith("SIG_"))
                    or name.startswith("CTRL_")
                )
            ),
            key=lambda item: (item[1], item[0]),
            reverse=True,  # the first name of a number is assigned last: it wins
        )
    }
except Exception:  # pragma: no cover - every POSIX Python has _signal
    pass


def _is_program(path: str) -> bool:
    try:
        return _S_ISREG(_stat(path).st_mode) and _access(path, _X_OK)
    except (_OSError, _ValueError):
        return False


# Names that lead to another file in the child than here: the child runs with other
# descriptors on 0/1/2 (dup2 of stdin=/stdout=/stderr=, posix_spawn's file actions), in
# another working directory (cwd=) and as another process, so /proc/self/... (cwd, fd/N,
# root, exe), /proc/<pid>/... and the /dev names that link there (/dev/fd/N, /dev/stdin...)
# are not what this process sees. A program, a PATH entry or a cwd= through one of them is
# undecidable, whether spelled so or reached through a symlink (paths' walk says so).
_ELSEWHERE_PREFIXES = ("/proc/", "/dev/fd/", "/dev/stdin/", "/dev/stdout/", "/dev/stderr/")
_ELSEWHERE_NAMES = frozenset(("/proc", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"))
_ELSEWHERE = UNDECODABLE + "a name that leads elsewhere in the child (/proc, /dev/fd, /dev/std*)"
_UNJUDGED = UNDECODABLE + "a program or folder the sandbox cannot look at"
_BAD_PROGRAM = UNDECODABLE + "a program name holding the argument separator or NUL"
# lstat/stat errors that mean "no such name" (here and in the child alike); any other error
# (EACCES, ENAMETOOLONG, ELOOP...) leaves the name unknown: the exec is undecidable.
_ABSENT = frozenset({__import__("errno").ENOENT, __import__("errno").ENOTDIR})
_walk = paths._walk  # (resolved, went through /proc): bound once, no module attribute read
_cacheable = paths.cacheable
_lstat = os.lstat
_S_ISLNK = __import__("stat").S_ISLNK
_str_rfind = str.rfind
_readlink = os.readlink
_MAX_LINKS = 40  # the kernel's own limit on symlinks followed in one lookup (ELOOP)


def _walked(path: str) -> str | None:
    """Why the absolute ``path`` may name another file in the child (see
    ``_ELSEWHERE_PREFIXES``) or cannot be looked at (any error but a missing name), or None:
    the whole walk, one ``lstat`` per component."""
    if _str_startswith(path, _ELSEWHERE_PREFIXES) or path in _ELSEWHERE_NAMES:
        return _ELSEWHERE
    resolved, volatile = _walk(path)
    if volatile:
        return _ELSEWHERE
    if resolved is None:
        return _UNJUDGED
    return None


def _elsewhere(path: str) -> str | None:
    """Why the absolute ``path`` may name another file in the child or cannot be looked at
    (see :func:`_look`), or None."""
    return _look(path)[0]


def _look(path: str, links: int = 0) -> tuple[str | None, Any]:
    """``(why the absolute path may name another file in the child or cannot be looked at, or
    None; the lstat of its last name, None when there is no such name)``.

    :func:`_walked`'s answer, with the path cache for the folder: a folder the cache kept with
    no link on the way (``paths.cacheable``) has no ``/proc`` on it either (a walk through
    ``/proc`` is never kept), so only the last name is looked at (one ``lstat``; a link there
    is followed the same way, at most 40 of them as the kernel does).
    """
    if _str_find(path, "/..") >= 0:
        # ".." after the links, as the kernel takes it: the whole walk, then the name itself.
        problem = _walked(path)
        return (problem, None) if problem is not None else _lstat_of(path, links)
    if not _clean(path):
        path = _lexical(path)  # (no ".." in it: "//", "." and a trailing "/" change nothing)
    if _str_startswith(path, _ELSEWHERE_PREFIXES) or path in _ELSEWHERE_NAMES:
        return _ELSEWHERE, None
    cut = _str_rfind(path, "/")
    if cut == 0:
        return _lstat_of(path, links)  # a name in / (or / itself): no folder to look through
    directory = path[:cut]
    resolved = paths.resolve(directory)
    if resolved is None:
        return _UNJUDGED, None  # (a walk error: what _walked says too)
    if resolved != directory or not _cacheable(directory, resolved):
        problem = _walked(directory)
        if problem is not None:
            return problem, None
    return _lstat_of(_join(resolved, path[cut + 1 :]), links)


def _lstat_of(physical: str, links: int) -> tuple[str | None, Any]:
    """``_look``'s answer from the ``lstat`` of ``physical`` (a name in a resolved folder); a
    link is followed (its target looked at as a path of its own)."""
    try:
        st = _lstat(physical)
        if not _S_ISLNK(st.st_mode):
            return None, st
        if links >= _MAX_LINKS:
            return _UNJUDGED, None  # ELOOP
        target = _readlink(physical)
    except _OSError as exc:
        return (None if exc.errno in _ABSENT else _UNJUDGED), None
    except _ValueError:
        return _UNJUDGED, None
    if not _str_startswith(target, "/"):
        target = _join(physical[: _str_rfind(physical, "/")] or "/", target)
    problem = _look(target, links + 1)[0]
    return problem, st


def _judge(path: str) -> tuple[int, int] | str | None:
    """What the child's ``execve`` of the absolute ``path`` (one candidate of a search) can do.

    ``None``: nothing -- no such name (ENOENT, ENOTDIR), or not an executable regular file
    (the execve fails and the child goes on to the next candidate); ``(device, inode)``: it
    may run that file; a ``str``: why the candidate is undecidable (it leads elsewhere in the
    child, or an error other than a missing name hides what is there).
    """
    problem, st = _look(path)
    if problem is not None:
        return problem
    if st is None:
        return None
    if _S_ISLNK(st.st_mode):
        try:
            st = _stat(path)
        except _OSError as exc:
            return None if exc.errno in _ABSENT else _UNJUDGED
        except _ValueError:
            return _UNJUDGED
    if not _S_ISREG(st.st_mode) or not _access(path, _X_OK):
        return None
    return (st.st_dev, st.st_ino)


def _raw(name: str, cwd: str | None) -> str | None:
    """``name`` absolute as the kernel receives it in the child (relative to ``cwd``, the
    child's working directory, else this process's), not normalised: the walk of
    :func:`_elsewhere` takes ``..`` after the links as the kernel does."""
    if _str_startswith(name, "/"):
        return name
    base = cwd if cwd is not None else paths.cwd()
    return None if base is None else _join(base, name)


def _run_candidates(candidates: list[str], cwd: str | None, none_found: str) -> list[str]:
    """The candidates (absolute, or relative to ``cwd``, the child's working directory) the
    child may run, in order and as :func:`_in_dir` names them: every one that exists as an
    executable file, one name per file; ``[none_found]`` when none does (the exec then
    fails); a single undecidable program (``UNDECODABLE...``) when one of them cannot be
    judged (see :func:`_judge`) or holds the argument separator or NUL.

    The child tries them in order until an execve succeeds, and an execve can fail for
    reasons the function controls (a file it can write: ENOEXEC, ETXTBSY): each one that
    could run is decided, not only the first one found here.
    """
    found: list[str] = []
    files: list[tuple[int, int]] = []
    for name in candidates:
        if _str_find(name, ARG_SEP) >= 0 or _str_find(name, "\x00") >= 0:
            return [_BAD_PROGRAM]
        raw = _raw(name, cwd)
        if raw is None:
            return [_UNJUDGED]
        verdict = _judge(raw)
        if verdict is None:
            continue
        if _type(verdict) is _str:
            return [verdict]
        if verdict in files:
            continue  # the same file by another name (/bin/sh, /usr/bin/sh): the same exec
        full = _in_dir(name, cwd)
        if full is None:
            return [_UNJUDGED]
        files.append(verdict)  # type: ignore[arg-type]
        found.append(full)
    return found if found else [none_found]


def _join(base: str, name: str) -> str:
    return (base if base != "/" else "") + "/" + name


def _in_dir(name: str, directory: str | None) -> str | None:
    """``name`` as the kernel finds it from ``directory`` (the child's cwd), lexically normalised.

    The path is kept as given (``/bin/sh`` stays ``/bin/sh``, not the ``dash`` or ``bash`` it
    links to, nor ``/usr/bin/sh``), so a profile learned on one system holds on another.
    """
    full = name if _str_startswith(name, "/") else None
    if full is None:
        base = directory if directory is not None else paths.cwd()
        if base is None:
            return None
        full = _join(base, name)
    if "/../" in full or _str_endswith(full, "/.."):
        # The kernel follows symlinks before ".." (x/../ is not the directory holding x when
        # x is a link): resolve the directories physically, keep the program's own name.
        head, _, tail = full.rpartition("/")
        real_head = paths.resolve(head or "/")
        if real_head is None or tail in ("", ".", ".."):
            return paths.resolve(full)
        return _join(real_head, tail)
    return _lexical(full)


def _lexical(path: str) -> str:
    parts: list[str] = []
    for part in _str_split(path, "/"):
        if not part or part == ".":
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + _str_join("/", parts)


def _clean(path: str) -> bool:
    """Whether an absolute ``path`` is its own :func:`_lexical` form (no ``//``, ``.``, ``..``
    component nor trailing ``/``; ``/`` itself is left to the general case)."""
    return (
        _len(path) > 1
        and _str_find(path, "//") < 0
        and _str_find(path, "/.") < 0
        and not _str_endswith(path, "/")
    )


def find_program(name: str, search_path: str | None, cwd: str | None) -> str:
    """Where an ``execvp``-style search finds ``name`` first (``name`` itself if nowhere); see
    :func:`find_programs` for every program the search may run.

    Example
    -------
    >>> find_program("/no/such/program", None, None)
    '/no/such/program'
    """
    return find_programs(name, search_path, cwd)[0]


def find_programs(name: str, search_path: str | None, cwd: str | None) -> list[str]:
    """Every program an ``execvp``-style search of ``name`` may run, in order.

    ``search_path`` is the ``PATH`` the search uses; relative entries (``""`` is ``.``) and a
    relative ``name`` with a ``/`` resolve against ``cwd``, the child's working directory. A
    name with a ``/`` is that one program. Otherwise every ``PATH`` candidate that exists as an
    executable file is one (the child goes on past one whose execve fails), ``[name]`` when
    none does; a single undecidable program (``UNDECODABLE...``) when a candidate cannot be
    judged: it leads elsewhere in the child (``/proc``, ``/dev/fd``...) or an error other than
    a missing name hides what is there.

    Example
    -------
    >>> find_programs("/no/such/program", None, None)
    ['/no/such/program']
    """
    if _str_find(name, ARG_SEP) >= 0 or _str_find(name, "\x00") >= 0:
        return [_BAD_PROGRAM]
    if "/" in name:
        if _str_startswith(name, "/") and _clean(name):
            # Absolute and lexically normal: its own _in_dir form. A program judged plain
            # (neither Python, env nor a script, file unchanged) was judged through no /proc
            # (child._plain_identity): as on the usual exec's short way, not walked again.
            if _str_startswith(name, _ELSEWHERE_PREFIXES) or name in _ELSEWHERE_NAMES:
                return [_ELSEWHERE]
            problem = None if _known_plain(name) else _elsewhere(name)
            return [problem if problem is not None else name]
        raw = _raw(name, cwd)
        found = _in_dir(name, cwd) if raw is not None else None
        if raw is None or found is None:
            return [UNDECODABLE + "unresolvable program"]
        problem = _elsewhere(raw)
        return [problem if problem is not None else found]
    candidates = [
        _join(directory or ".", name)
        for directory in _str_split(search_path if search_path is not None else _DEFPATH, ":")
    ]
    return _run_candidates(candidates, cwd, name)


def process_target(exec_path: str, argv: list[str]) -> str:
    """The matchable string for an exec: the path and ``argv[1:]``, separated by ``\\x1f``."""
    return _str_join(ARG_SEP, [exec_path, *argv])


def _env_accesses(env: dict[str, str] | None) -> list[Access]:
    """A child's variables that differ from the environment at install (inheriting is none).

    Set or changed, each is an access unless inert (child.env_decided); one left out is none. Compared with the install-time environment, which only the sandbox's
    own changes move, so the answer depends on ``env`` alone (the native core's exec verdicts
    are keyed by it).
    """
    if env is None:
        return []
    out: list[Access] = []
    installed = environ.INSTALLED
    decided = child.env_decided
    for name, value in env.items():
        if installed.get(name) != value and decided(name, value, installed):
            out.append(("processes", "env", name + "=" + value, None))
    # (A variable left out is no access: a program gets less configuration, not the function's;
    # a Python child without the sandbox's variables is refused by python_child_problem.)
    return out


# The usual exec's target, a pure function of the program name and argv (no file, variable or
# cwd is read for it), kept per (program, *argv) so a repeated exec skips the string work; the
# decision on it (os.environ, the program's verdict, the policy) is taken afresh every time.
_TARGETS: dict[tuple[str, ...], str] = {}
_TARGETS_LIMIT = 256
_TARGET_MAX = 4096


_str_rpartition = str.rpartition
_ODD_ARGV0 = UNDECODABLE + (
    "an argv[0] that is not the program's name (a login shell's -name, another tool of a "
    "multi-call program)"
)


def _argv0_names(first: str, name: str, found: str) -> bool:
    """Whether ``argv[0]`` names the program started: as given, as found, or by its bare
    file name (what a PATH search hands it).

    A rule matches the program and ``argv[1:]``, so argv[0] must not change what that program
    does: a leading ``-`` makes a shell a login shell (it reads ``$HOME/.profile``: red team
    76 ran any program so through a learned ``sh -c`` rule); a multi-call program
    (``busybox``) runs the tool its argv[0] names, through a link of any name to it (red team
    77); and a program that finds its helpers from argv[0]'s folder (``gcc``'s ``cc1``) finds
    them wherever a path there says (red team 77). So a path must be the program's own, and a
    name without a folder its own file name.

    Example
    -------
    >>> _argv0_names("gzip", "gzip", "/usr/bin/gzip"), _argv0_names("-sh", "/bin/sh", "/bin/sh")
    (True, False)
    >>> _argv0_names("/tmp/bin/gzip", "/usr/bin/gzip", "/usr/bin/gzip")
    False
    """
    if first[:1] == "-":
        return False
    if first in (name, found):  # (exact str all: as_argv, as_path)
        return True
    return "/" not in first and first in (
        _str_rpartition(name, "/")[2],
        _str_rpartition(found, "/")[2],
    )


def exec_accesses(
    program: Any, args: Any, env: Any, cwd: Any, *, search: str | None = "env"
) -> list[Access]:
    """The accesses of starting a program (see the module docstring).

    ``search``: ``"env"`` (Popen: PATH from ``env`` if given, else inherited), ``"none"`` (a
    plain exec of the path), ``"both"`` (posix_spawn: relative to cwd, and the caller's PATH).
    """
    _child_started()  # a child may change symlinks at any time from now on
    argv = as_argv(args) if args is not None else []
    if _type(argv) is _str:
        return [("processes", "exec", argv, None)]  # undecodable
    arguments: list[str] = argv  # type: ignore[assignment]
    usual = env is None and cwd is None
    key: tuple[str, ...] | None = None
    target: str | None = None
    name: Any = program
    if usual and _type(program) is _str:
        key = (program, *arguments)  # exact str all (as_argv's): no code of theirs runs
        target = _dict_get(_TARGETS, key)
    if target is None:
        # Some argument may be too long or hold the separator (none can when all of them
        # together are short enough and hold none; joined only then, so at most ARG_MAX long):
        # which one, item by item.
        if _sum(_map(_len, arguments)) > ARG_MAX or ARG_SEP in _str_join("", arguments):
            for item in arguments:
                if _len(item) > ARG_MAX or _str_find(item, ARG_SEP) >= 0:
                    return [("processes", "exec", UNDECODABLE + "argument", None)]
        if usual:
            # The usual exec (inherited environment, this process's cwd) of an absolute
            # program name already in lexical normal form: find_program would give it back.
            # (Not a name holding the separator or NUL, nor one spelled through /proc or
            # /dev/fd: the general case refuses those. A symlink into /proc on the way is
            # looked for below, for a program not already judged plain: see _plain_identity.)
            name = as_path(program) if program is not None else (arguments[0] if arguments else "")
            if (
                _type(name) is _str
                and _str_startswith(name, "/")
                and "//" not in name
                and "/." not in name
                and name[-1] != "/"
                and _len(name) > 1
                and ARG_SEP not in name
                and "\x00" not in name
                and not _str_startswith(name, _ELSEWHERE_PREFIXES)
                and name not in _ELSEWHERE_NAMES
            ):  # _clean(name), inlined
                target = _str_join(ARG_SEP, [name, *arguments[1:]])  # process_target, inlined
                if key is not None and _len(target) <= _TARGET_MAX:
                    if _len(_TARGETS) >= _TARGETS_LIMIT:
                        _TARGETS.clear()
                    _TARGETS[key] = target
    if target is not None:
        # The general case's answer for one program and no env= (below), in fewer steps.
        if arguments and not _argv0_names(arguments[0], name, name):
            return [("processes", "exec", _ODD_ARGV0, None)]
        if search == "env":
            # _python_environ_data, inlined: a rebound os.environ refuses the exec.
            namespace = _LIVE_OS[0]
            current = (
                _dict_get(namespace, "environ")
                if _dict_sizeof(namespace) in _UNICODE_SIZES
                else lookup(namespace, "environ")
            )
            if _type(current) is not _Environ or _type(_environ_data(current)) is not _dict:
                return [("processes", "exec", UNDECODABLE + "os.environ", None)]
        # argv and the tracked environment are plain str (see the general case below).
        if _known_plain(name):
            problem = None
        else:
            elsewhere = _elsewhere(name)  # a symlink into /proc on the way
            if elsewhere is not None:
                return [("processes", "exec", elsewhere, None)]
            problem = child.python_child_problem(name, arguments, None, environ.ENVIRON)
        detail = ("unprotected", problem) if problem is not None else arguments
        return [("processes", "exec", target, detail)]
    children_env = as_env(env)
    if _type(children_env) is _str:
        return [("processes", "exec", children_env, None)]
    child_env: dict[str, str] | None = children_env  # type: ignore[assignment]
    directory = None
    if cwd is not None:
        base = as_path(cwd)
        if _type(base) is not _str or _str_startswith(base, UNDECODABLE):
            return [("processes", "exec", undecodable(cwd), None)]
        # The child chdir()s there: a folder through /proc or /dev/fd is another one in the
        # child (its own cwd, its fd 0 after the dup2 of stdin=), and one the sandbox cannot
        # look at hides where its relative names lead.
        full = paths.absolute(base)
        if full is None:
            return [("processes", "exec", _unresolvable(base), None)]
        elsewhere = _elsewhere(full)
        if elsewhere is not None:
            return [("processes", "exec", elsewhere, None)]
        directory = paths.resolve(full)
        if directory is None:
            return [("processes", "exec", _unresolvable(full), None)]
    name = as_path(program) if program is not None else (arguments[0] if arguments else "")
    if _type(name) is not _str or _str_startswith(name, UNDECODABLE):
        return [("processes", "exec", undecodable(program), None)]
    inherited_path = environ.get("PATH")
    if search == "env":
        # Popen searches the PATH of env=, else os.environ's (the Python mapping, which can
        # differ from the C environment: its data dict is writable without putenv). A rebound
        # os.environ refuses the exec either way; its PATH is read only for a name to search
        # (find_program does not search a name with a slash).
        search_path: str | None = None
        if child_env is not None:
            search_path = child_env.get("PATH", _DEFPATH)
        else:
            data = _python_environ_data()
            if _type(data) is _str:
                return [("processes", "exec", data, None)]
            if "/" not in name:
                raw = lookup(data, b"PATH")
                search_path = as_text(raw) if raw is not None else None
        programs = find_programs(name, search_path, directory)
    elif search == "both" and "/" not in name:
        programs = [
            *find_programs("./" + name, None, directory),
            *find_programs(name, inherited_path, directory),
        ]
    else:
        programs = find_programs(name if "/" in name else "./" + name, None, directory)
    for found in programs:
        if _str_startswith(found, UNDECODABLE):
            # Some program the child may run cannot be decided: the whole exec cannot.
            return [("processes", "exec", found, None)]
    out: list[Access] = []
    problem_env = child_env if child_env is not None else None
    for found in programs:
        if out and found in [o[2].partition(ARG_SEP)[0] for o in out]:
            continue
        if arguments and not _argv0_names(arguments[0], name, found):
            return [("processes", "exec", _ODD_ARGV0, None)]
        # argv, env and the tracked environment are plain str here (decoded above; the copy
        # holds only what as_text gave): for a program known to be neither Python, env nor a
        # script, the check's answer is None without decoding them again.
        problem = (
            None
            if child.known_plain(found)
            else child.python_child_problem(found, arguments, problem_env, environ.ENVIRON)
        )
        detail = ("unprotected", problem) if problem is not None else arguments
        out.append(("processes", "exec", process_target(found, arguments[1:]), detail))
    return out + _env_accesses(child_env)


# subprocess's own helpers, as they were at install: Popen runs Python code after its audit
# event (PATH search, argument conversion) that the function could have rebound.
# The os module's own dict, live (in a tuple: the hook's frozen copy copies module-level dicts,
# and this one must stay the real thing): rebinding os.environ or os.fsencode shows here.
_LIVE_OS = (os.__dict__,)
_ORIGINALS = (os.get_exec_path, os.fsencode, os.path.join, os.path.dirname)
_GET_EXEC_PATH, _FSENCODE, _JOIN, _DIRNAME = _ORIGINALS
_EXECUTE_CHILD: list[Any] = []  # subprocess.Popen._execute_child's code, once subprocess loads
_OS_NAMES = ("get_exec_path", "fsencode", "path")
_PATH_NAMES = ("join", "dirname")
_SUBPROCESS_NAMES = ("os", "Popen")
_type_type = type
_FunctionType = type(_is_program)
_class_attribute = _class_lookup
_sys = __import__("sys")
# sys.modules itself, live (in a tuple, as _LIVE_OS): subprocess may be imported after install.
_LIVE_MODULES = (_sys.modules,)
# subprocess.py of the standard library: only its own Popen._execute_child counts as Popen's.
_SUBPROCESS_PY = os.path.join(os.path.dirname(os.__file__), "subprocess.py")
_function_code = _FunctionType.__dict__["__code__"].__get__
# What attribute lookup finds for __dict__ on os.environ's class (object.__getattribute__ of
# the instance's __dict__ goes through it: values._environ_instance_data).
_ENVIRON_DICT = _class_lookup(_Environ, "__dict__")
_LIVE_POSIXSUBPROCESS = (__import__("_posixsubprocess").__dict__,)  # live (see _LIVE_OS)
_fork_exec_original = _LIVE_POSIXSUBPROCESS[0]["fork_exec"]
_audit = _sys.audit
_FORK_EXEC_EVENT = "_posixsubprocess.fork_exec"
# Before 3.14 CPython raises no event at fork_exec itself, and Popen runs Python code between
# its own event and the fork (code the function can rebind). So the sandbox puts a sealed
# wrapper there that raises the event 3.14 raises, with the final argv, programs, environment
# and cwd: the exec is decided again on exactly what the child gets.
_EMULATE_FORK_EXEC = _sys.version_info < (3, 14)
# Whether the native core made fork_exec raise that event itself (then no wrapper is needed,
# and none is put in place): a C flag, not a Python object the function could flip.
_fork_exec_sealed = _core.fork_exec_sealed


def _fork_exec_wrapper(original: Any) -> Any:
    audit = _audit
    event = _FORK_EXEC_EVENT

    def fork_exec(*args: Any) -> Any:
        audit(event, args[1], args[0], args[5], args[4])
        return original(*args)

    return __import__("types").FunctionType(
        fork_exec.__code__, {"__builtins__": {}}, "fork_exec", None, fork_exec.__closure__
    )


_FORK_EXEC_WRAPPER = (_fork_exec_wrapper(_fork_exec_original),)


_NO_CALLER: Any = ("no caller given",)  # _popen called without the core's caller: walk the frames

# The wrapper's own code and cells, and where each captured name sits in them. Its code cannot
# change once the sandbox is installed (assigning __code__ raises object.__setattr__, refused in
# every mode for the sandbox's own code, the wrapper's included), so the Popen check reads the
# two cells at these places without reading __code__ (a read that raises an audit event).
_WRAPPER_CODE = _FORK_EXEC_WRAPPER[0].__code__
_WRAPPER_CELLS = _FORK_EXEC_WRAPPER[0].__closure__
_WRAPPER_AUDIT = _WRAPPER_CODE.co_freevars.index("audit")
_WRAPPER_ORIGINAL = _WRAPPER_CODE.co_freevars.index("original")
# Its two cells themselves (a function's __closure__ is read-only: the same cells for life).
_AUDIT_CELL = _WRAPPER_CELLS[_WRAPPER_AUDIT]
_ORIGINAL_CELL = _WRAPPER_CELLS[_WRAPPER_ORIGINAL]


def _wrapper_intact(candidate: Any) -> bool:
    if candidate is not _FORK_EXEC_WRAPPER[0]:
        return False
    cells = candidate.__closure__
    if candidate.__code__ is _WRAPPER_CODE and cells is _WRAPPER_CELLS:
        return (
            cells[_WRAPPER_AUDIT].cell_contents is _audit
            and cells[_WRAPPER_ORIGINAL].cell_contents is _fork_exec_original
        )
    names = candidate.__code__.co_freevars
    if _len(names) != _len(cells):
        raise _ValueError("the fork_exec wrapper's closure does not match its code")
    for index, name in _enumerate(names):
        value = cells[index].cell_contents
        if (name == "audit" and value is not _audit) or (
            name == "original" and value is not _fork_exec_original
        ):
            return False
    return True


def _route_fork_exec(namespace: Any, name: str) -> str | None:
    """Make ``namespace[name]`` the sealed wrapper; why not, if it is neither it nor the original."""
    current = _dict_get(namespace, name) if _exact_str_keys(namespace) else lookup(namespace, name)
    if current is _fork_exec_original:
        namespace[name] = _FORK_EXEC_WRAPPER[0]
        return None
    if current is None or _wrapper_intact(current):
        return None
    return "subprocess's fork_exec was rebound"


def _python_environ_data() -> dict[bytes, Any] | str:
    """os.environ's data dict (what Popen's PATH search reads), or undecodable if rebound."""
    namespace = _LIVE_OS[0]
    current = (
        _dict_get(namespace, "environ")
        if _exact_str_keys(namespace)
        else lookup(namespace, "environ")
    )
    data = _environ_data(current) if _type(current) is _Environ else None
    if _type(data) is not _dict:
        return UNDECODABLE + "os.environ"
    return data


def _popen_problem(caller: Any = _NO_CALLER) -> str | None:
    """Why Popen would not do what was decided, or None: the code it runs after the event.

    Nothing of the function's runs here: names are read from the namespaces with
    :func:`~..values.lookup_all`, and an object's ``__dict__`` only from an exact module (a
    class of the function's could answer ``__dict__`` with a property).
    """
    # A dict whose keys are all exact str (its size says so: see values._exact_str_keys) is
    # probed directly, what lookup_all does for it without its generality: the usual case.
    namespace = _LIVE_OS[0]
    if _dict_sizeof(namespace) in _UNICODE_SIZES:
        get_exec_path = _dict_get(namespace, "get_exec_path")
        fsencode = _dict_get(namespace, "fsencode")
        path_module = _dict_get(namespace, "path")
    else:
        get_exec_path, fsencode, path_module = lookup_all(namespace, _OS_NAMES)
    if _type(path_module) is not _ModuleType:
        return "os's functions that subprocess calls were rebound"
    path_space = _module_dict(path_module)
    if _dict_sizeof(path_space) in _UNICODE_SIZES:
        join = _dict_get(path_space, "join")
        dirname = _dict_get(path_space, "dirname")
    else:
        join, dirname = lookup_all(path_space, _PATH_NAMES)
    # Compared item by item by identity: a tuple's == would call a rebound object's __eq__.
    if (
        get_exec_path is not _GET_EXEC_PATH
        or fsencode is not _FSENCODE
        or join is not _JOIN
        or dirname is not _DIRNAME
    ):
        return "os's functions that subprocess calls were rebound"
    modules = _LIVE_MODULES[0]
    subprocess = (
        _dict_get(modules, "subprocess")
        if _dict_sizeof(modules) in _UNICODE_SIZES
        else lookup(modules, "subprocess")
    )
    if subprocess is not None and _type(subprocess) is _ModuleType:
        space = _module_dict(subprocess)
        exact = _dict_sizeof(space) in _UNICODE_SIZES
        if exact:
            its_os = _dict_get(space, "os")
            popen = _dict_get(space, "Popen")
        else:
            its_os, popen = lookup_all(space, _SUBPROCESS_NAMES)
        if _type(its_os) is not _ModuleType or _module_dict(its_os) is not namespace:
            return "subprocess's own references were rebound"
        if _EMULATE_FORK_EXEC and not _fork_exec_sealed():
            # Both names already lead to the sealed wrapper, whose code and cells are its own
            # (what _route_fork_exec answers None for, without routing anything): else ask it.
            wrapper = _FORK_EXEC_WRAPPER[0]
            posix = _LIVE_POSIXSUBPROCESS[0]
            if not (
                exact
                and _dict_get(space, "_fork_exec") is wrapper
                and _dict_sizeof(posix) in _UNICODE_SIZES
                and _dict_get(posix, "fork_exec") is wrapper
                and _AUDIT_CELL.cell_contents is _audit
                and _ORIGINAL_CELL.cell_contents is _fork_exec_original
            ):
                problem = _route_fork_exec(space, "_fork_exec") or _route_fork_exec(
                    posix, "fork_exec"
                )
                if problem is not None:
                    return problem
        if not _EXECUTE_CHILD and _type(popen) is _type_type:
            # The class's own method, read from the class dicts along its MRO (getattr would
            # run a metaclass's code of the function's).
            method = _class_attribute(popen, "_execute_child")
            if _type(method) is _FunctionType:
                code = _function_code(method)
                if (
                    code_text(code.co_filename) == _SUBPROCESS_PY
                ):  # (not a module planted under its name)
                    _EXECUTE_CHILD.append(code)
    # pass_fds: Popen hashes each item *after* its audit event (set(pass_fds)), running the
    # item's own __hash__/__eq__: anything but exact ints could rewrite the argv decided on.
    if caller is not _NO_CALLER:
        # The core named the code that raised the event, and keeps its frame: when it is
        # Popen's, its locals are read from that frame (core.caller_local) -- no frame lookup
        # (sys._getframe raises an audit event of its own). Only subprocess's own code (or the
        # function's, through sys.audit) raises the event, never the sandbox's.
        for known in _EXECUTE_CHILD:
            if caller is known:
                return _popen_locals_problem(_caller_local("pass_fds"), _caller_local("preexec_fn"))
        return None
    frame = _caller_frame(2)
    if frame is not None:
        code = frame.f_code
        for known in _EXECUTE_CHILD:
            if code is known:
                return _popen_locals_problem(
                    _frame_local(frame, "pass_fds"), _frame_local(frame, "preexec_fn")
                )
    return None


def popen_checks() -> tuple[Any, ...] | None:
    """What the decision of a usual ``subprocess.Popen`` read besides its arguments, for the
    core to check again when it answers the same event itself (``core.popen_verdict_add``);
    ``None`` while Popen's ``_execute_child`` is not known (its frame's locals could not be
    told from another caller's).

    In order: os's own dict and the four originals :func:`_popen_problem` finds there and in
    os.path's, ``sys.modules``, ``_execute_child``'s code, os.environ's class, the probes and
    decoders of ``values._environ_data`` and what attribute lookup finds for ``__dict__`` on
    that class, the plain-program table (``child.known_plain``'s), and, where ``fork_exec`` is
    not sealed, the sealed wrapper's routing: (``_posixsubprocess``'s dict, the wrapper, its
    audit cell and ``sys.audit``, its original cell and ``fork_exec``), else ``None``.
    """
    if not _EXECUTE_CHILD:
        return None
    wrapper = None
    if _EMULATE_FORK_EXEC and not _fork_exec_sealed():
        wrapper = (
            _LIVE_POSIXSUBPROCESS[0],
            _FORK_EXEC_WRAPPER[0],
            _AUDIT_CELL,
            _audit,
            _ORIGINAL_CELL,
            _fork_exec_original,
        )
    return (
        _LIVE_OS[0],
        _GET_EXEC_PATH,
        _FSENCODE,
        _JOIN,
        _DIRNAME,
        _LIVE_MODULES[0],
        _EXECUTE_CHILD[0],
        _Environ,
        _ENVIRON_PROBES,
        _ENVIRON_DECODERS[0],
        _ENVIRON_DECODERS[1],
        _ENVIRON_DICT,
        _plain_table(),
        wrapper,
    )


def _popen_locals_problem(fds: Any, preexec: Any) -> str | None:
    """Why Popen's ``pass_fds`` and ``preexec_fn`` would run code after the decision, or None."""
    if (_type(fds) is not _tuple and _type(fds) is not _list) or any(
        _type(fd) is not _int for fd in fds
    ):
        return "pass_fds holds objects that run code after the decision"
    if preexec is not None:
        return _PREEXEC
    return None


def _popen(args: tuple[Any, ...], caller: Any = _NO_CALLER) -> list[Access] | None:
    """``subprocess.Popen``; ``caller``: the code that raised the event, as the core hands it to
    the hook (``subprocess.Popen`` is one of its caller events), else found from the frames."""
    problem = _popen_problem(caller)
    if problem is not None:
        return [("processes", "exec", UNDECODABLE + problem, None)]
    if _len(args) == 4:  # (executable, args, cwd, env): what Popen raises
        return exec_accesses(args[0], args[1], args[3], args[2])
    return exec_accesses(args[0], args[1], _arg(args, 3), _arg(args, 2))


def _exec(args: tuple[Any, ...]) -> list[Access] | None:
    return exec_accesses(args[0], args[1], _arg(args, 2), None, search="none")


def _posix_spawn(args: tuple[Any, ...]) -> list[Access] | None:
    return exec_accesses(args[0], args[1], _arg(args, 2), None, search="both")


def _spawn(args: tuple[Any, ...]) -> list[Access] | None:
    # os.spawn*(mode, path, args, env): a plain exec of the path in a forked child.
    return exec_accesses(args[1], args[2], _arg(args, 3), None, search="none")


def _fork_exec(args: tuple[Any, ...], caller: Any = _NO_CALLER) -> list[Access] | None:
    # Python 3.14+: _posixsubprocess.fork_exec(exec_list, args, env) — raised for Popen's fork
    # path and for direct calls (multiprocessing's spawn and forkserver): the candidates the
    # child will try in order, the argv, and the environment as b"NAME=value" items (or None).
    # Before 3.14 the sandbox raises it (the native core, or the Python core's wrapper) with the
    # cwd too, and (the native core) whether a preexec_fn will run in the child.
    if _len(args) > 4 and args[4] is True:
        return [("processes", "exec", UNDECODABLE + _PREEXEC, None)]
    given = as_argv(args[0])
    if _type(given) is _str:
        return [("processes", "exec", given, None)]
    candidates: list[str] = given  # type: ignore[assignment]
    # CPython 3.14's own event names no cwd: a relative program is found from the child's,
    # which the event does not show. Popen decided it at its own event, with its cwd; a
    # direct call (anyone's) cannot be decided so.
    if (
        _len(args) == 3
        and any(not _str_startswith(c, "/") for c in candidates)
        and not (caller is not _NO_CALLER and any(caller is code for code in _EXECUTE_CHILD))
    ):
        reason = "a relative program with a working directory the event does not show"
        return [("processes", "exec", UNDECODABLE + reason, None)]
    env = None
    raw_env = _arg(args, 2)
    if raw_env is not None:
        items = as_argv(raw_env)
        if _type(items) is _str:
            return [("processes", "exec", items, None)]
        env = {}
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or name in env:
                # (a name given twice: the decision would keep one, the child's getenv the
                # first of the two)
                return [("processes", "exec", undecodable(raw_env), None)]
            env[name] = value
    cwd = _arg(args, 3)  # the sandbox's own event (before 3.14) also says where the child runs
    # The child tries EVERY candidate in order until an execve succeeds, after it chdir()ed to
    # cwd= and dup2()ed the pipes onto 0/1/2: each candidate it may run is decided (one alone
    # is decided as the exec of that name, like a plain exec), and one that cannot be judged
    # -- through /proc or /dev/fd, or hidden by an error other than a missing name -- makes
    # the whole exec undecidable (exec_accesses refuses the same for the cwd).
    if _len(candidates) > 1:
        base = None
        if cwd is not None:
            # The child tries a relative candidate from its cwd, not from this process's.
            where = as_path(cwd)
            if _type(where) is not _str or _str_startswith(where, UNDECODABLE):
                return [("processes", "exec", undecodable(cwd), None)]
            base = paths.absolute(where)
            if base is None:
                return [("processes", "exec", _unresolvable(where), None)]
            elsewhere = _elsewhere(base)
            if elsewhere is not None:
                return [("processes", "exec", elsewhere, None)]
        programs = _run_candidates(candidates, base, candidates[0])
        if _str_startswith(programs[0], UNDECODABLE):
            return [("processes", "exec", programs[0], None)]
    else:
        programs = candidates if candidates else [""]
    out: list[Access] = []
    for program in programs:
        for access in exec_accesses(program, args[1], env, cwd, search="none"):
            if access not in out:  # (the env= accesses: once)
                out.append(access)
    return out


_PREEXEC = "preexec_fn (the function's code in the child, between the decision and the exec)"


def _remote_exec(args: tuple[Any, ...]) -> list[Access] | None:
    # Python 3.14+ (PEP 768): this process injects a script into another Python process.
    pid = as_int(args[0])
    script = as_path(args[1]) if _len(args) > 1 else None
    if pid is None or _type(script) is not _str:
        return [("processes", "inject", undecodable(args[0] if pid is None else args[1]), None)]
    return [("processes", "inject", _str(pid) + ":" + script, None)]


def _system(args: tuple[Any, ...]) -> list[Access] | None:
    command = as_text(args[0])
    if command is None:
        return [("processes", "exec", undecodable(args[0]), None)]
    return exec_accesses("/bin/sh", ["sh", "-c", command], None, None, search="none")


def _fork(args: tuple[Any, ...]) -> list[Access] | None:
    paths.child_started()
    return [("processes", "fork", "fork", None)]


def _pty_spawn(args: tuple[Any, ...]) -> list[Access] | None:
    paths.child_started()
    return [("processes", "fork", "fork", None)]


def signal_name(number: Any) -> str:
    value = as_int(number)
    if value is None:
        return "?"
    return _SIGNALS.get(value, _str(value))


def _kill(args: tuple[Any, ...]) -> list[Access] | None:
    pid = as_int(args[0])
    if pid is None:
        return [("processes", "kill", undecodable(args[0]), None)]
    if pid == _getpid():
        who = "self"
    elif pid == 0:
        who = "group"  # pid 0 is the caller's whole process group, not the caller
    elif pid == -1:
        who = "all"
    elif pid < 0:
        who = "group" if -pid == _getpgrp() else "other-group"
    else:
        who = "other"
    return [("processes", "kill", who + ":" + signal_name(args[1]), None)]


def _killpg(args: tuple[Any, ...]) -> list[Access] | None:
    group = as_int(args[0])
    if group is None:
        return [("processes", "kill", undecodable(args[0]), None)]
    who = "group" if group in (0, _getpgrp()) else "other-group"
    return [("processes", "kill", who + ":" + signal_name(args[1]), None)]


def _prlimit(args: tuple[Any, ...]) -> list[Access] | None:
    # resource.prlimit(pid, resource[, limits]): reads (and sets) another process's limits.
    pid = as_int(args[0])
    if pid is None:
        return [("processes", "kill", undecodable(args[0]), None)]
    if pid in (0, _getpid()):
        return _own_limit(_arg(args, 1), _arg(args, 2))  # (this process's: as setrlimit)
    return [("processes", "kill", "other:prlimit", None)]


def _setrlimit(args: tuple[Any, ...]) -> list[Access] | None:
    # resource.setrlimit(resource, limits): this process's own limits.
    return _own_limit(args[0], _arg(args, 1))


# The limits (Linux numbers: resource's RLIMIT_* without importing it, ~0.5 ms at cold start)
# whose lowering makes the sandbox's own work fail in this process: FSIZE its writes of records
# to a regular file (EFBIG: a findings file, stdout sent to a file), NOFILE its opens (/proc
# lookups, a file sink), AS/DATA/STACK its allocations and its recursion. Each is decided on
# itself (``processes kill self:setrlimit:RLIMIT_<NAME>``), learnable like a signal; the others
# (CPU, NPROC...) pass: they stop nothing the sandbox does, or end the process visibly.
# CORE is the other way round (see _own_limit): raising it is what is decided.
_GUARDED_LIMITS = {
    1: "RLIMIT_FSIZE",
    2: "RLIMIT_DATA",
    3: "RLIMIT_STACK",
    7: "RLIMIT_NOFILE",
    9: "RLIMIT_AS",
}
_RLIM_INFINITY = -1
_RLIMIT_CORE = 4


def _own_limit(which: Any, limits: Any) -> list[Access] | None:
    if limits is None:
        return None  # (prlimit without limits: a read)
    number = as_int(which)
    if number is None:
        return [("processes", "kill", "self:setrlimit:" + undecodable(which), None)]
    if number == _RLIMIT_CORE:
        # A core dump is a file the kernel writes itself, in the crashing process's folder,
        # with no system call of the process's: no audit event could decide it (red team 129
        # made `core` outside the rules with fork and SIGQUIT). Enforce starts with the soft
        # limit at 0; any value but an exact soft 0 (one that cannot change after the event,
        # as below) is decided, learnable like the others.
        if (
            _type(limits) is _tuple
            and _len(limits) == 2
            and _type(limits[0]) is _int
            and _type(limits[1]) is _int
            and limits[0] == 0
        ):
            return None
        return [("processes", "kill", "self:setrlimit:RLIMIT_CORE", None)]
    name = _GUARDED_LIMITS.get(number)
    if name is None:
        return None
    # Unlimited (soft, and so hard) takes nothing away. Any other value is decided, whichever
    # way it moves the limit: the decision needs no reading of the current one. Unlimited is
    # read from an exact tuple of exact ints only: CPython reads the limits again after the
    # event, and another thread can change a list's items in between (red team 116 lowered
    # RLIMIT_FSIZE with a list it flipped), or another sequence's code answer otherwise.
    if (
        _type(limits) is _tuple
        and _len(limits) == 2
        and _type(limits[0]) is _int
        and _type(limits[1]) is _int
        and limits[0] == _RLIM_INFINITY
        and limits[1] == _RLIM_INFINITY
    ):
        return None
    return [("processes", "kill", "self:setrlimit:" + name, None)]


def _setpriority(args: tuple[Any, ...]) -> list[Access] | None:
    # (raised by the native core) which: PRIO_PROCESS, PRIO_PGRP or PRIO_USER; who: 0 is
    # this process, its group or its user (every process of the user).
    which, who = as_int(args[0]), as_int(_arg(args, 1))
    if which is None or who is None:
        return [("processes", "kill", undecodable(args[0] if which is None else args[1]), None)]
    if which == _PRIO_PROCESS:
        if who in (0, _getpid()):
            return None  # (this process's own priority)
        return [("processes", "kill", "other:setpriority", None)]
    if which == _PRIO_PGRP:
        whose = "group" if who in (0, _getpgrp()) else "other-group"
        return [("processes", "kill", whose + ":setpriority", None)]
    return [("processes", "kill", "all:setpriority", None)]  # PRIO_USER: the user's processes


def _another_process(args: tuple[Any, ...], name: str) -> list[Access] | None:
    # (raised by the native core) another process's CPUs or scheduling
    pid = as_int(args[0])
    if pid is None:
        return [("processes", "kill", undecodable(args[0]), None)]
    if pid in (0, _getpid()):
        return None  # (this process)
    return [("processes", "kill", "other:" + name, None)]


def _sched_setaffinity(args: tuple[Any, ...]) -> list[Access] | None:
    return _another_process(args, "sched_setaffinity")


def _sched_setscheduler(args: tuple[Any, ...]) -> list[Access] | None:
    return _another_process(args, "sched_setscheduler")


def _sched_setparam(args: tuple[Any, ...]) -> list[Access] | None:
    return _another_process(args, "sched_setparam")


_PRIO_PROCESS = getattr(os, "PRIO_PROCESS", 0)
_PRIO_PGRP = getattr(os, "PRIO_PGRP", 1)


# Namespace flags by value (os.CLONE_*: Linux, CPython 3.12+), for a readable target. (In
# the order of their names: only the flags are sorted, not all of os's ~350 names.)
_CLONE_FLAGS = tuple(
    (value, name[len("CLONE_") :].lower())
    for name, value in sorted(
        (name, value)
        for name, value in vars(os).items()
        if name.startswith("CLONE_NEW") and _type(value) is _int
    )
)


def _namespace_flags(value: Any) -> str:
    flags = as_int(value)
    if flags is None:
        return undecodable(value)
    names = [name for bit, name in _CLONE_FLAGS if flags & bit]
    rest = flags & ~_sum(bit for bit, _ in _CLONE_FLAGS)
    if rest or not names:
        names.append(hex(rest))
    return "+".join(names)


def _unshare(args: tuple[Any, ...]) -> list[Access] | None:
    # A new user namespace makes the process root there (chroot, mounts: how names resolve
    # changes under the sandbox's own lookups); the others move it out of the host's view.
    return [("processes", "namespace", "unshare:" + _namespace_flags(args[0]), None)]


def _setns(args: tuple[Any, ...]) -> list[Access] | None:
    return [("processes", "namespace", "setns:" + _namespace_flags(_arg(args, 1)), None)]


def _clock_settime(args: tuple[Any, ...]) -> list[Access] | None:
    # (raised by the native core) a system clock: CLOCK_REALTIME has no namespace, the host's
    return [("processes", "namespace", "clock_settime", None)]


def _sethostname(args: tuple[Any, ...]) -> list[Access] | None:
    # The host's name (in its UTS namespace: the machine's, unless unshare made one).
    return [("processes", "namespace", "sethostname", None)]


def _chroot(args: tuple[Any, ...]) -> list[Access] | None:
    # (raised by the native core: CPython has no event) Every absolute name -- the sandbox's
    # own /proc/self lookups included -- would lead into a tree of the function's making.
    return [("processes", "namespace", "chroot", None)]


def _pthread_kill(args: tuple[Any, ...]) -> list[Access] | None:
    return [("processes", "kill", "thread:" + signal_name(args[1]), None)]


def _putenv(args: tuple[Any, ...]) -> list[Access] | None:
    name, value = as_text(args[0]), as_text(args[1])
    if name is None or value is None:
        return [("processes", "env", undecodable(args[0] if name is None else args[1]), None)]
    if child.env_problem(name, value) is None and not child.env_decided(
        name, value, environ.INSTALLED
    ):
        environ.apply(name, value)  # inert, or the value at install: the copy follows
        return None
    return [("processes", "env", name + "=" + value, ("setenv", name, value))]


def _unsetenv(args: tuple[Any, ...]) -> list[Access] | None:
    name = as_text(args[0])
    if name is None:
        return [("processes", "env", undecodable(args[0]), None)]
    if child.env_problem(name, None) is None and not child.env_decided(
        name, None, environ.INSTALLED
    ):
        environ.apply(name, None)
        return None
    return [("processes", "env", name + "=", ("setenv", name, None))]


def _arg(args: tuple[Any, ...], index: int) -> Any:
    return args[index] if _len(args) > index else None


DECODERS = {
    "subprocess.Popen": _popen,
    "os.system": _system,
    "os.exec": _exec,
    "os.posix_spawn": _posix_spawn,
    "os.spawn": _spawn,
    "os.fork": _fork,
    "os.forkpty": _fork,
    "pty.spawn": _pty_spawn,
    "os.kill": _kill,
    "os.killpg": _killpg,
    "signal.pthread_kill": _pthread_kill,
    "resource.prlimit": _prlimit,
    "resource.setrlimit": _setrlimit,
    "os.unshare": _unshare,
    "os.setns": _setns,
    "os.chroot": _chroot,
    "socket.sethostname": _sethostname,
    "time.clock_settime": _clock_settime,
    "os.setpriority": _setpriority,
    "os.sched_setaffinity": _sched_setaffinity,
    "os.sched_setscheduler": _sched_setscheduler,
    "os.sched_setparam": _sched_setparam,
    "_posixsubprocess.fork_exec": _fork_exec,
    "sys.remote_exec": _remote_exec,
    "os.putenv": _putenv,
    "os.unsetenv": _unsetenv,
}
