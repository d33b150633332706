"""Child processes: the environment that protects a Python child, and what would undo it.

What protects a Python child
----------------------------
Audit hooks are per interpreter: a new Python process starts with none. At install the sandbox
puts :func:`prepare_environment`'s variables into its own environment: ``SANDBOX_MODE``,
``SANDBOX_PROFILE`` (an absolute path to a compiled profile), ``SANDBOX_PHASE`` (a child started
during invoke starts in invoke), ``SANDBOX_REPORT`` (where the child's records go when its stderr
is not this process's report stream: ``child_site/sitecustomize.py``), ``PYTHONPATH`` with the ``child_site/`` directory first and, when
the function itself runs without a user site directory, ``PYTHONNOUSERSITE=1``. Every child that
inherits the environment therefore imports ``child_site/sitecustomize.py`` during its start-up
(``site`` imports ``sitecustomize`` from the first ``sys.path`` entry that has one, and the
``PYTHONPATH`` entries come before the standard library and site-packages; the script's own
directory is added only later). That module loads this package under its private name
``_lambda_sandbox`` and calls ``install()`` (same profile, same mode, same phase) before the
child's own code runs; then it runs the next ``sitecustomize`` on the path (a distribution's or
the function's own). In ``enforce`` a child whose install fails exits with status 70 instead of
running unprotected. This holds however the child is started: ``subprocess``, ``os.exec*``,
``os.posix_spawn``, and ``multiprocessing``'s ``spawn`` and ``forkserver`` start methods, which
call ``_posixsubprocess.fork_exec`` directly (no audit event) with the inherited environment.
(``fork`` children are copies of the parent: the hook is already in them.)

What can undo it, and who decides
---------------------------------
- At the exec: :func:`python_child_problem` tells the hook, for an exec it is about to decide,
  whether a Python interpreter would start without the sandbox: isolation options before the
  script (``-I``, ``-E``, ``-S``, also inside combined options such as ``-IS``), warning filters
  that import a module before ``site`` (``-W``/``PYTHONWARNINGS`` with a dotted category),
  ``-X presite``, an environment without our variables or with a weakened ``SANDBOX_*``
  setting, a dangerous variable (``LD_PRELOAD``, ``PYTHONHOME``...) changed for the child, or an
  ``argv[0]`` other than the executable (CPython on Linux finds its standard library, and
  ``site`` itself, relative to ``argv[0]``). It sees through ``env`` (``/usr/bin/env -i python3
  ...``) and ``#!`` scripts whose interpreter is Python.
- Before the exec: a variable a child would get set to a value other than at install
  (``os.environ[...] = ...``, ``os.putenv``, or an exec's explicit environment, for any
  program) is decided by the hook as an access of its own (``processes env NAME=value``;
  :func:`env_decided`), learnable like any other rule, unless it is inert (:data:`INERT_ENV`,
  :func:`env_inert`); a removal only when it removes what protects children (``os.unsetenv``:
  ``NAME=``). A change of the process's own environment to a variable of
  :data:`DANGEROUS_ENV` is decided whatever its value (:func:`env_problem` says why it
  matters); :func:`dangerous_env_changes` lists those in an explicit environment.

What bounds a non-Python child
------------------------------
A child that is not Python (a shell, ``git``, a compiled tool, a Node.js script) runs no audit
hook. The exec itself is decided by the hook against the learned commands (exact path and
argv; a wildcard in a learned shell command never matches shell syntax). In ``enforce`` the
kernel layers are inherited across ``fork`` and ``exec`` and cannot be removed: seccomp refuses
``execve``/``execveat``/``memfd_create`` when the profile has no exec rule, and new processes
(``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD``) when it has neither exec nor fork; it
always refuses ptrace and ``process_vm_*``, raw and packet sockets, ``bpf``, ``mount``,
namespaces, ``keyctl``, ``userfaultfd`` and ``io_uring``. Landlock (kernel 5.13 or later, where
the host allows it) confines writes to the directories of the profile's write rules, and exec
to the directories of its process rules (no exec at all when it has none). Nothing bounds a
non-Python child's reads, network connections or the commands it runs in turn once the profile
allows exec: a learned command is trusted with everything it can do, which is why every
variable that differs from the environment at install but the inert ones is decided by the
hook before it reaches it (a program's own variables, such as ``TAR_OPTIONS``, can turn it into
other code). In ``learn`` and ``alert`` the kernel layers are not loaded.

Honest limits
-------------
- ``_posixsubprocess.fork_exec`` (or native code) called directly with a hand-built
  environment raises no audit event: neither function here is ever asked. Only the kernel
  layers bound such a child (the ``processes`` exec rules do not apply to it).
- An interpreter that is not recognisable as one (a copy of the binary under another name,
  an embedded Python in another program) is a non-Python child here.
- A Python that finds its standard library in a directory the function can write (a planted
  ``pyvenv.cfg`` or ``lib/pythonX.Y`` next to a copied or linked binary) runs that
  directory's ``site``: the file rules (and Landlock) must keep such directories unwritable.
- ``.pth`` files in site-packages run before ``sitecustomize``, in children as in the function
  itself (where they run before the bootstrap): writing one needs a file write the profile
  allows.
- A parent started with ``-I``, ``-E`` or ``-S`` (the Lambda runtime is not) passes them on to the
  children ``multiprocessing`` starts, without an audit event.
- The environment tracked by the hook is the one Python changes: ``setenv`` from native code is
  not seen.
- A child interpreter older than the runtime supports (3.10) cannot be protected: in
  ``enforce`` it exits with status 70, in ``learn``/``alert`` it runs unprotected and says so
  on stderr.
- Each protected child writes its own ``sandbox.start`` record and findings as JSON lines to
  its stderr (never into its stdout, which is often its result), wherever the parent pointed
  that: a child started with ``stderr=DEVNULL`` reports nowhere, though it is still enforced.
"""

from __future__ import annotations

import os
import stat
import sys
import time

from . import paths
from .core import file_identity as _file_identity
from .errors import ConfigError
from .roots import resolved_dir as _resolved
from .values import stat_identity as _stat_identity

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DANGEROUS_ENV",
    "DANGEROUS_PREFIXES",
    "HARMLESS_PYTHON_ENV",
    "INERT_ENV",
    "REQUEST_ID_ENV",
    "SANDBOX_ENV",
    "child_site_dir",
    "dangerous_env_changes",
    "env_decided",
    "env_inert",
    "env_problem",
    "prepare_environment",
    "python_child_problem",
]

# Bound once, at import: the hook calls these while deciding on values the function built, so
# nothing here may call a method of those values or a name the function can rebind later.
_type = type
_str = str
_bytes = bytes
_list = list
_tuple: type[tuple[object, ...]] = tuple
_dict = dict
_len = len
_startswith = str.startswith
_split = str.split
_strip = str.strip
_lstrip = str.lstrip
_partition = str.partition
_join_str = str.join
_decode = bytes.decode
_bytes_startswith = bytes.startswith
_bytes_partition = bytes.partition
_bytes_strip = bytes.strip
_str_rpartition = str.rpartition
_getcwd = os.getcwd
_dirname = os.path.dirname
_access = os.access
_os_open = os.open
_os_read = os.read
_os_close = os.close
_X_OK = os.X_OK
# Non-blocking: an executable path that names a FIFO must not hang the hook.
_O_RDONLY = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
_fstat = os.fstat
_S_ISREG = stat.S_ISREG
_pathsep = os.pathsep
_defpath = os.defpath
_environ = os.environ
_object_getattribute = object.__getattribute__
_dict_get = dict.get
_fs_encoding = sys.getfilesystemencoding()
_executable = sys.executable
_base_executable = getattr(sys, "_base_executable", sys.executable)
# This interpreter's real paths, resolved once: every exec compares against them, and two
# realpath walks per exec were most of an allowed exec's decision time (sys.executable may be
# empty, hence the filter). Rebinding sys.executable later changes nothing here, by design.
_INTERPRETERS = frozenset(
    _resolved(interpreter) for interpreter in (_executable, _base_executable) if interpreter
)
_stat = os.stat
_time_ns = time.time_ns
_OSError = OSError
_ValueError = ValueError
_errno = __import__("errno")
# open errors of a program that say what the exec will do without a look at its first bytes:
# nothing there (ENOENT, ENOTDIR: the exec fails too), or not readable by this process (EACCES:
# a #! script it cannot read cannot be read by its interpreter either). Any other error
# (EMFILE, ENFILE, ENOMEM, EINTR...) leaves the program unknown: its exec is refused.
_NOT_A_SCRIPT_ERRORS = frozenset({_errno.ENOENT, _errno.ENOTDIR, _errno.EACCES})
_walk = paths._walk  # (resolved, went through /proc): bound once

CHILD_SITE_DIR = os.path.join(_dirname(os.path.abspath(__file__)), "child_site")

# The variables that carry the sandbox's configuration to a child, and the ones a child's
# environment must keep unchanged: a different value weakens or switches off its sandbox.
SANDBOX_ENV = ("SANDBOX_MODE", "SANDBOX_PROFILE", "SANDBOX_PROFILE_IDENTITY", "SANDBOX_PHASE")
# The request id of the invocation a child was started in (kept current by the core, in C):
# setting it is decided like any SANDBOX_ variable (a forged label); removing it protects nothing.
REQUEST_ID_ENV = "SANDBOX_REQUEST_ID"
_PROTECTING = (
    *SANDBOX_ENV,
    "SANDBOX_SECCOMP",
    "SANDBOX_LANDLOCK",
    "SANDBOX_ON_VIOLATION",
    "SANDBOX_REPORT",
)
_ACTIVE_MODES = ("learn", "alert", "enforce")
_PHASES = ("init", "invoke")

# Environment variables that turn a learned command into arbitrary code, point a resolver
# somewhere else, or unprotect a Python child. A change of one (set or unset) in the
# function's process is decided by the hook as ``processes env NAME=value``. Why each is here:
DANGEROUS_ENV = frozenset(
    {
        # Dynamic loader: a shared object (or audit library) loaded into every child, before main.
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "LD_BIND_NOW",
        "GLIBC_TUNABLES",  # the loader's tunables (CVE-2023-4911)
        # Python children: where the interpreter, its standard library and its path come from.
        "PYTHONPATH",  # only the value with our child_site/ first is harmless
        "PYTHONHOME",  # another standard library: its site.py need not run sitecustomize
        "PYTHONPLATLIBDIR",  # the same, through the platform library directory's name
        "PYTHONUSERBASE",  # the user site directory: its .pth files run before sitecustomize
        "PYTHONNOUSERSITE",  # unset: the user site directory (and its .pth files) comes back
        "PYTHONSTARTUP",  # a file an interactive Python runs
        "PYTHONINSPECT",  # a Python that reads code from stdin after its script
        "PYTHONBREAKPOINT",  # breakpoint() calls any importable callable
        "PYTHONWARNINGS",  # a filter with a dotted category imports a module before site
        "PYTHONPYCACHEPREFIX",  # bytecode read from a tree of its own: a planted sitecustomize
        "PYTHON_PRESITE",  # debug builds: a module imported before site
        "PYTHONPERFSUPPORT",  # perf maps written by C code (no audit event)
        "PYTHON_PERF_JIT_SUPPORT",
        # ...and every other PYTHON* name but the harmless ones (HARMLESS_PYTHON_ENV): the
        # family grows with each CPython release.
        # Shells: code run at start-up, or the meaning of a learned command line.
        "BASH_ENV",  # a file bash runs before a non-interactive command
        "ENV",  # the same for sh (dash, busybox) when interactive
        "SHELLOPTS",  # e.g. xtrace, which evaluates PS4
        "BASHOPTS",
        "PS4",  # expanded (command substitution) for every traced command
        "PROMPT_COMMAND",
        "IFS",  # how older shells split a learned command's words
        "PATH",  # which program a command name inside a learned shell command runs
        "HOME",  # dotfiles that configure commands (.gitconfig, .curlrc, .npmrc), Python's user site
        "XDG_CONFIG_HOME",  # the same for tools that read $XDG_CONFIG_HOME (git, pip)
        # glibc: modules loaded by iconv, and where host names are resolved.
        "GCONV_PATH",
        "LOCALDOMAIN",
        "RES_OPTIONS",
        "HOSTALIASES",
        "LOCPATH",  # locale data the C library parses (from a folder of the function's)
        "NLSPATH",  # message catalogs (format strings) the C library loads
        "TZDIR",  # where the C library reads time-zone files from
        # SQLite (in this process too): the folder it writes its temporary files in, with no
        # audit event (SQLITE_TMPDIR first, then TMPDIR).
        "SQLITE_TMPDIR",
        "TMPDIR",
        # OpenSSL: a configuration file can load engines/providers (native code) in any child.
        "OPENSSL_CONF",
        "OPENSSL_ENGINES",
        "OPENSSL_MODULES",
        # Other interpreters' "run this first" options and library paths.
        "NODE_OPTIONS",
        "NODE_PATH",
        "PERL5OPT",
        "PERL5LIB",
        "PERLLIB",
        "RUBYOPT",
        "RUBYLIB",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        # git: commands it runs, or the repository/configuration it trusts (hooks, core.*).
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_EXEC_PATH",
        "GIT_PAGER",
        "GIT_EDITOR",
        "GIT_ASKPASS",
        "GIT_PROXY_COMMAND",
        "GIT_EXTERNAL_DIFF",
        "GIT_DIR",
        "GIT_TEMPLATE_DIR",
        "SSH_ASKPASS",
        "PAGER",
        "EDITOR",
        "VISUAL",
    }
)
# Whole families: the loader's LD_* switches, bash's exported functions (``BASH_FUNC_ls%%``
# redefines a command inside a learned shell command), git's configuration injection
# (GIT_CONFIG, GIT_CONFIG_COUNT/KEY_n/VALUE_n, GIT_CONFIG_PARAMETERS...), and the sandbox's
# own settings (a change would weaken or switch off the sandbox of every child).
DANGEROUS_PREFIXES = ("LD_", "BASH_FUNC_", "GIT_CONFIG", "SANDBOX_", "PYTHON")
# The PYTHONPATH this process gives its children (child_site first), set at install.
_PROTECTED_PYTHONPATH: list[str | None] = [None]
# The PYTHON* variables that change no code a Python child runs, nor where it comes from:
# buffering, encodings, hashing, diagnostics written to stderr, limits. Any other PYTHON* name
# is decided (a new CPython's variable included).
HARMLESS_PYTHON_ENV = frozenset(
    {
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONHASHSEED",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTHONCOERCECLOCALE",
        "PYTHONFAULTHANDLER",
        "PYTHONOPTIMIZE",
        "PYTHONVERBOSE",
        "PYTHONDEBUG",
        "PYTHONDEVMODE",
        "PYTHONTRACEMALLOC",
        "PYTHONMALLOC",
        "PYTHONMALLOCSTATS",
        "PYTHONASYNCIODEBUG",
        "PYTHONNODEBUGRANGES",
        "PYTHONPROFILEIMPORTTIME",
        "PYTHONINTMAXSTRDIGITS",
        "PYTHONWARNDEFAULTENCODING",
        "PYTHONSAFEPATH",
        "PYTHONNOUSERSITE",
        "PYTHON_COLORS",
        "PYTHON_CPU_COUNT",
        "PYTHON_GIL",
        "PYTHON_THREAD_INHERIT_CONTEXT",
        "PYTHON_CONTEXT_AWARE_WARNINGS",
    }
)


# The only variables a child may receive changed from the environment at install without a
# decision. Every other one set to another value (through an exec's env=, os.environ or
# os.putenv) is decided as ``processes env NAME=value``: a program's own option
# and configuration variables (TAR_OPTIONS, ZIPOPT, CURL_HOME, WGETRC, GIT_COMMON_DIR,
# http_proxy...) are too many to list. None of these changes what a program runs, which files
# it reads or where it connects; a value with a "/" could name a file, so it is decided:
INERT_ENV = frozenset(
    {
        "LANG",  # a locale name (with a "/", glibc reads locale data from that path)
        "LANGUAGE",  # gettext's language list (a "/" or a ".." entry reaches another folder)
        "TZ",  # a zone name inside TZDIR (a leading ":" or a "/" names a file: decided)
        "TERM",  # a terminfo entry's name (looked up inside the terminfo folders)
        "COLUMNS",  # a terminal's width and height, numbers
        "LINES",
        # The invocation's X-Ray trace header, which the runtime client itself sets (or removes)
        # in this process at every invocation; an SDK only copies it into a request header.
        "_X_AMZN_TRACE_ID",
    }
)
INERT_PREFIXES = ("LC_",)  # the locale categories, like LANG


def env_inert(name: str, value: str | None) -> bool:
    """Whether a child may get ``name`` set to ``value`` (``None``: removed) with no decision.

    Only :data:`INERT_ENV`, ``LC_*`` and :data:`HARMLESS_PYTHON_ENV` (but ``PYTHONNOUSERSITE``),
    and only with a value that names no file: no ``/``, no ``:``-separated entry that starts
    with ``.``, for ``TZ`` no leading ``:``.

    Example
    -------
    >>> env_inert("LANG", "C.UTF-8"), env_inert("TZ", ":/tmp/zone"), env_inert("TAR_OPTIONS", "")
    (True, False, False)
    >>> env_inert("LANGUAGE", "de:fr"), env_inert("LANGUAGE", "de:.."), env_inert("LANG", "..@x")
    (True, False, False)
    """
    if name in HARMLESS_PYTHON_ENV:
        return name != "PYTHONNOUSERSITE"
    if name not in INERT_ENV and not _startswith(name, INERT_PREFIXES):
        return False
    if value is None:
        return True
    if "/" in value or (name == "TZ" and _startswith(value, ":")):
        return False
    # Nor an entry that starts with ".": gettext puts each of LANGUAGE's ":"-separated entries
    # (or the language part of one, which a leading "." leaves empty: "..@x" is tried as "..")
    # between a catalog folder and LC_<category>, and ".." there climbs out of the folder a
    # decision allowed (red team 100). No locale, zone or terminal name starts with one.
    return not any(_startswith(entry, ".") for entry in _split(value, ":"))


def env_decided(name: str, value: str | None, installed: Mapping[str, str]) -> bool:
    """Whether a child's ``name=value`` (``None``: not passed on) is an access to decide.

    Decided when it is set to a value that differs from ``installed`` (the environment at
    install) and is not inert (:func:`env_inert`); a removal only when it removes what protects
    children (:func:`env_problem`). A name or value that is not a plain ``str`` is decided. (A change of
    the process's own environment is also decided whenever :func:`env_problem` gives a reason,
    whatever the value: see ``decoders/processes.py``.)

    Example
    -------
    >>> env_decided("TAR_OPTIONS", "-v", {}), env_decided("TAR_OPTIONS", "-v", {"TAR_OPTIONS": "-v"})
    (True, False)
    >>> env_decided("LANG", "C.UTF-8", {}), env_decided("http_proxy", None, {"http_proxy": "x"})
    (False, False)
    """
    if _type(name) is not _str or (value is not None and _type(value) is not _str):
        return True
    if value is None:
        # Removed: a program gets less of the deployment's own configuration, not the
        # function's. Only removing what protects (SANDBOX_*, PYTHONPATH's child_site,
        # PYTHONNOUSERSITE: env_problem) is decided, as before; env={"PATH": ...} stays usable.
        return name in installed and env_problem(name, None) is not None
    return installed.get(name) != value and not env_inert(name, value)


def child_site_dir() -> str:
    """The absolute path of the ``child_site/`` directory (holds only ``sitecustomize.py``).

    Example
    -------
    >>> child_site_dir().endswith("/child_site")
    True
    """
    return CHILD_SITE_DIR


def prepare_environment(
    mode: str,
    profile_path: str,
    phase: str,
    environ: Mapping[str, str] | None = None,
    report: str | None = None,
    identity: str | None = None,
) -> dict[str, str]:
    """The variables to set in this process so that every Python child installs the sandbox.

    Parameters
    ----------
    mode:
        ``learn | alert | enforce``: the child's mode (the parent's).
    profile_path:
        The compiled profile the child loads (made absolute: a child may run elsewhere).
    phase:
        ``init | invoke``: the phase the child starts in.
    environ:
        The current environment (default ``os.environ``); only what differs is returned.
    report:
        ``SANDBOX_REPORT``: where a Python child's records go when its own stderr is not this
        process's report stream (``sinks.LineSink.report_stream``); ``None`` leaves it as it is.
    identity:
        ``SANDBOX_PROFILE_IDENTITY``: the profile file's identity as this process read or wrote
        it (``policy.file_identity_text``); the child refuses a file that no longer has it (one
        the function rewrote, replaced or linked since). ``None`` leaves it as it is.

    Returns
    -------
    dict
        Name → value for each variable that changes: ``SANDBOX_MODE``, ``SANDBOX_PROFILE``,
        ``SANDBOX_PHASE``, ``PYTHONPATH`` (``child_site/`` first, the existing entries after it)
        and, when this process has no user site directory on ``sys.path``, ``PYTHONNOUSERSITE``.
        Called again at the switch to invoke, it returns ``{"SANDBOX_PHASE": "invoke"}``.

    Raises
    ------
    ConfigError
        On a mode, phase or profile path the child could not use.

    Example
    -------
    >>> changes = prepare_environment("enforce", "/opt/p.json", "init", environ={})
    >>> changes["PYTHONPATH"] == child_site_dir(), changes["SANDBOX_MODE"]
    (True, 'enforce')
    """
    if mode not in _ACTIVE_MODES:
        raise ConfigError(f"child mode {mode!r}: expected one of {', '.join(_ACTIVE_MODES)}")
    if phase not in _PHASES:
        raise ConfigError(f"child phase {phase!r}: expected one of {', '.join(_PHASES)}")
    if _type(profile_path) is not _str or not profile_path:
        raise ConfigError(f"child profile {profile_path!r}: expected a path")
    env = _environ if environ is None else environ
    wanted = {
        "SANDBOX_MODE": mode,
        "SANDBOX_PROFILE": _abspath(profile_path),
        "SANDBOX_PHASE": phase,
        "PYTHONPATH": _with_child_site(env.get("PYTHONPATH", "")),
    }
    if report is not None:
        wanted["SANDBOX_REPORT"] = report
    if identity is not None:
        wanted["SANDBOX_PROFILE_IDENTITY"] = identity
    if not _user_site_in_use():
        # Then the function runs without one, and so must its children: a user site
        # directory's .pth files would run before sitecustomize, i.e. before the sandbox.
        wanted["PYTHONNOUSERSITE"] = env.get("PYTHONNOUSERSITE") or "1"
    if environ is None:
        _PROTECTED_PYTHONPATH[0] = wanted["PYTHONPATH"]  # this process's children's, from now on
    return {name: value for name, value in wanted.items() if env.get(name) != value}


def _with_child_site(pythonpath: str) -> str:
    entries = [e for e in _split(pythonpath, _pathsep) if e != CHILD_SITE_DIR] if pythonpath else []
    return _join_str(_pathsep, [CHILD_SITE_DIR, *entries])


def _user_site_in_use() -> bool:
    site = sys.modules.get("site")
    if site is None or not getattr(site, "ENABLE_USER_SITE", False):
        return False
    user_site = getattr(site, "USER_SITE", None)
    return _type(user_site) is _str and user_site in sys.path


def env_problem(name: str, value: str | None) -> str | None:
    """Why setting (``value``) or unsetting (``None``) ``name`` matters, or ``None`` if it does not.

    The denylist: only names in :data:`DANGEROUS_ENV` or with a prefix in
    :data:`DANGEROUS_PREFIXES` matter here (what guards Python children, and what makes a change
    of the process's own environment decided whatever its value). Whether a child's variable is
    decided at all is :func:`env_decided`'s answer: any variable, not only these.
    Unsetting matters only for what protects children (``SANDBOX_*``, ``PYTHONPATH``,
    ``PYTHONNOUSERSITE``). ``PYTHONPATH`` whose first entry is ``child_site/`` and
    ``PYTHONWARNINGS`` whose filters import nothing are harmless; so is setting
    ``PYTHONNOUSERSITE``. A name or value that is not a plain ``str`` or ``bytes`` matters.

    Example
    -------
    >>> env_problem("LD_PRELOAD", "/tmp/x.so")
    'LD_PRELOAD loads a shared object into every child'
    >>> env_problem("LANG", "C.UTF-8") is None
    True
    """
    name_text = _text(name)
    if name_text is None:
        return "an environment variable name that is not text"
    if name_text not in DANGEROUS_ENV and not _startswith(name_text, DANGEROUS_PREFIXES):
        return None
    if name_text in HARMLESS_PYTHON_ENV and name_text != "PYTHONNOUSERSITE":
        return None
    if value is None:
        if name_text == REQUEST_ID_ENV:
            return None  # (a label for children's findings: without it they carry none)
        if _startswith(name_text, "SANDBOX_") or name_text in ("PYTHONPATH", "PYTHONNOUSERSITE"):
            return f"unsetting {name_text} would leave Python children unprotected"
        return None
    text = _text(value)
    if text is None:
        return f"a value of {name_text} that is not text"
    if name_text == "PYTHONPATH":
        if _partition(text, _pathsep)[0] != CHILD_SITE_DIR:
            return (
                "PYTHONPATH without the sandbox's child_site first leaves Python children "
                "unprotected"
            )
        protected = _PROTECTED_PYTHONPATH[0]
        if protected is None or text == protected:
            return None
        # Any other entry is searched before site runs: `encodings`, imported while the
        # interpreter starts, would be found there and run before the sandbox.
        return "PYTHONPATH with entries of its own: a Python child imports from them before site"
    if name_text == "PYTHONWARNINGS":
        return _warning_filters_problem(_split(text, ","), "PYTHONWARNINGS")
    if name_text == "PYTHONNOUSERSITE":
        return None
    return f"{name_text} {_why(name_text)}"


def dangerous_env_changes(
    env: dict[str, str] | None, inherited: dict[str, str]
) -> list[tuple[str, str | None, str]] | None:
    """The dangerous variables an exec's explicit environment changes, for ANY program.

    An explicit ``env`` that sets ``LD_PRELOAD`` or ``GIT_SSH_COMMAND`` for a learned command is
    the same change as ``os.environ[...] = ...`` before it: the hook decides each one as a
    ``processes env NAME=value`` access. Compared with ``inherited`` (the environment the hook
    tracks); ``None`` (for an inherited environment) changes nothing.

    Returns
    -------
    list or None
        ``(name, value or None for removed, reason)`` per change that matters, sorted by name;
        ``None`` when either environment is not plain text (treat the exec as unprotected).

    Example
    -------
    >>> dangerous_env_changes({"LD_PRELOAD": "/tmp/x.so", "A": "1"}, {"A": "0"})
    [('LD_PRELOAD', '/tmp/x.so', 'LD_PRELOAD loads a shared object into every child')]
    """
    if env is None:
        return []
    child_env = _decode_env(env)
    passed_on = _decode_env(inherited)
    if child_env is None or passed_on is None:
        return None
    changes: list[tuple[str, str | None, str]] = []
    for name in sorted({*child_env, *passed_on}):
        value = child_env.get(name)
        if value == passed_on.get(name):
            continue
        reason = env_problem(name, value)
        if reason is not None:
            changes.append((name, value, reason))
    return changes


def _why(name: str) -> str:
    if _startswith(name, "LD_") or name == "GLIBC_TUNABLES":
        return (
            "loads a shared object into every child"
            if name in ("LD_PRELOAD", "LD_AUDIT")
            else "changes how the dynamic loader loads every child"
        )
    if _startswith(name, "SANDBOX_"):
        return "configures the sandbox of every child"
    if _startswith(name, ("PYTHON",)):
        return "changes what a Python child runs before or instead of its script"
    if _startswith(name, ("BASH", "PS4", "PROMPT_COMMAND", "SHELLOPTS", "IFS")) or name == "ENV":
        return "runs code in, or changes the meaning of, a shell command"
    if _startswith(name, ("LOCALDOMAIN", "RES_OPTIONS", "HOSTALIASES")):
        return "redirects host name resolution in children"
    if name == "PATH":
        return "changes which program a command name runs"
    return "can make a learned command run other code"


def python_child_problem(
    exec_path: str,
    argv: list[str],
    env: dict[str, str] | None,
    inherited: dict[str, str],
    *,
    expected: dict[str, str] | None = None,
) -> str | None:
    """Why a Python child of this exec would run WITHOUT the sandbox, or ``None``.

    ``None`` also for executables that are not Python: the kernel layers bound those (module
    docstring). An interpreter is recognised by its real path (this interpreter's) or by its
    name: ``python``, ``python3``, ``python3.12``, ``python3.13t``, ``python3.11-dbg``... and ``pypy``
    too (it honours the same options, variables and ``sitecustomize``; whether the sandbox then
    installs under PyPy is its child's own business: in enforce it exits 70 if not).
    ``/usr/bin/env`` and ``#!`` scripts are followed to the program they start (the first 256
    bytes of a regular file are read for a ``#!`` line).

    Only plain values are read, and never through their own methods: ``str`` and ``bytes``
    (decoded as the OS does), ``list``/``tuple`` argv, ``dict`` environments and ``os.environ``
    itself (through its plain data dict). Anything else, a ``str`` subclass for instance, or the
    same name twice as ``str`` and ``bytes``, is a reason: such a child counts as unprotected.

    Parameters
    ----------
    exec_path:
        The executable the exec runs (resolved as the hook resolves it).
    argv:
        The full argument vector, ``argv[0]`` included.
    env:
        The child's explicit environment, or ``None`` for an inherited one.
    inherited:
        The environment this process passes on (the one the hook tracks).
    expected:
        The values :func:`prepare_environment` set; default: those in ``inherited``.

    Example
    -------
    >>> import sys
    >>> python_child_problem(sys.executable, [sys.executable, "-I", "-c", "pass"], None, {})
    'the interpreter option -I (isolated: no environment, no user site)'
    >>> python_child_problem("/bin/ls", ["ls"], {}, {}) is None
    True
    """
    passed_on = _decode_env(inherited)
    if passed_on is None:
        return "the inherited environment is not plain text"
    reference = passed_on
    if expected is not None:
        overlay = _decode_env(expected)
        if overlay is None:
            return "the expected environment is not plain text"
        reference = {**passed_on, **overlay}
    child_env = passed_on if env is None else _decode_env(env)
    if child_env is None:
        return "an explicit environment that is not plain text"
    path = _text(exec_path)
    args = _decode_argv(argv)
    if path is None or args is None:
        return "an executable or arguments that are not plain text"
    return _problem(path, args, child_env, reference, 0)


# Linux follows at most 4 levels of #! interpreters; env and scripts count the same here.
_MAX_DEPTH = 4


def _problem(
    path: str, argv: list[str], env: dict[str, str], reference: dict[str, str], depth: int
) -> str | None:
    if depth > _MAX_DEPTH:
        return "too many levels of env or #! interpreters"
    identity = _plain_identity(path)
    if identity is not None and _dict_get(_PLAIN, path) == identity:
        return None  # known to be neither Python, env nor a script, and unchanged since
    real = _real(path)
    if _is_python(path, real):
        return _python_problem(path, argv, env, reference)
    if _basename(path) == "env" or _basename(real) == "env":
        return _env_problem(argv, env, reference, depth)
    shebang, read_identity, read_real = _read_program(path)
    if shebang is _UNREAD:
        # Whether it is a script (of Python?) is unknown: refused, and never kept as plain.
        return "the program could not be read to look for a #! line"
    if shebang is not None:
        interpreter, extra = shebang
        script_argv = [interpreter, *extra, path, *argv[1:]]
        return _problem(interpreter, script_argv, env, reference, depth + 1)
    if identity is not None and shebang is None and read_identity == identity and read_real == real:
        # Kept only when the identity, the real path the name checks read and the file whose
        # first bytes were read are one file: a link swapped between two of these lookups by
        # name (a child, another thread) would pair one file's verdict with another's
        # identity, and every later check of that identity would confirm it.
        if _len(_PLAIN) >= _PLAIN_LIMIT:
            _PLAIN.clear()
        _PLAIN[path] = identity
    return None


# The verdict cache. A program that is neither a Python interpreter, ``env`` nor a ``#!``
# script needs no look at argv or the environment: its verdict is "no Python child". Finding
# that out costs a realpath walk and an open + read of its first bytes; the answer is kept per
# path (exact ``str``, absolute) with the identity of the file the path leads to, and each use
# costs ONE ``stat`` of the path as given (symlinks followed): a swapped program or a swapped
# link shows as another identity, and the program is judged afresh. The identity is (device,
# inode, link count, change time, modification time, size, mode: core.file_identity, one
# stat(2) without a stat result object). A program is kept only when
# - it is a regular file with exactly one name (one directory entry): renaming it, or adding or
#   removing a name, changes its change time, so while the identity holds, the name the path
#   resolves to (the basename the interpreter and env checks read) is the one that was judged;
# - it was last changed (change and modification time) more than a second before this module
#   was imported, i.e. before the sandbox was installed, so before the function's code could
#   touch it (so nothing is cached in a Python child of a sandboxed process: see _CACHE_PLAIN). A write through a shared memory mapping updates the file's times only at the
#   first write into a clean page; a mapping the function made and wrote into before the
#   verdict was taken could change the content later without a new time. No write of the
#   function's can leave the times of a file from before the install unchanged, so such files
#   may be cached; files written since (the function's own tools) are judged at every exec.
# - every interpreter this process knows by its real path has a Python name, so the real-path
#   comparison of :func:`_is_python` adds nothing to the name checks (else nothing is cached).
# The cache lives in the module's globals, of which the hook runs a private frozen copy, like
# the path cache (``paths._RESOLVED``): code in the function reaches it only through ``gc``
# walks, which are a capability of their own (``introspect``), or a frame of the Python core.
_PLAIN: dict[str, tuple[int, int, int, int, int, int, int]] = {}
_PLAIN_LIMIT = 256
_dict_get = dict.get
# Files changed after this instant (less a second: the kernel stamps times from a coarse clock,
# and the margin covers it) are never cached.
_CACHE_BEFORE_NS = _time_ns() - 1_000_000_000


def known_plain(path: str) -> bool:
    """Whether ``path`` is a program already judged neither Python, ``env`` nor a script, and
    unchanged since (one ``stat``): then :func:`python_child_problem` is ``None`` for it with any
    plain argv and environment. See ``_PLAIN`` for when a verdict is kept.

    Example
    -------
    >>> known_plain("/no/such/program")
    False
    """
    if _type(path) is not _str:
        return False
    cached = _dict_get(_PLAIN, path)
    if cached is None:
        return False  # (an entry exists only for an identity _plain_identity gave)
    # The same identity as the judged file's (mode included: a regular file), so its link
    # count is 1 and its times lie before the install, as _plain_identity requires. A tuple of
    # exact ints on both sides: == runs no code of anyone's.
    return _file_identity(path) == cached


def judged_plain(path: str) -> tuple[int, int, int, int, int, int, int] | None:
    """The identity under which ``path`` was judged a plain program, while it still has it
    (:func:`known_plain`), else ``None``: what the hook hands the core with an exec verdict,
    the file's identity as it was judged (not as it is a moment later).

    Example
    -------
    >>> judged_plain("/no/such/program") is None
    True
    """
    if _type(path) is not _str:
        return None
    cached = _dict_get(_PLAIN, path)
    if cached is None or _file_identity(path) != cached:
        return None
    return cached


def plain_table() -> dict[str, tuple[int, int, int, int, int, int, int]]:
    """The verdict cache itself (see ``_PLAIN``; the hook's frozen copy gives its own): the
    native core reads it when it answers a Popen on a program judged plain, as
    :func:`known_plain` does (``core.popen_verdict_add``)."""
    return _PLAIN


def _plain_identity(path: str) -> tuple[int, int, int, int, int, int, int] | None:
    """The identity under which ``path``'s verdict may be cached, or ``None`` if it may not."""
    if _type(path) is not _str or not _CACHE_PLAIN or not _startswith(path, "/"):
        return None
    # A name that resolves through /proc (/proc/self/cwd/..., /dev/fd/N, a link there) leads
    # to another file in a child, and one that cannot be walked is unknown: never kept (the
    # core's exec verdicts are kept only for programs judged plain, see judged_plain); nor
    # one whose ".." was decidable only while nothing else ran (right for this call only).
    climbs_alone: list[str] = []
    resolved, volatile = _walk(path, None, None, climbs_alone)
    if volatile or resolved is None or climbs_alone:
        return None
    identity = _file_identity(path)
    if identity is None:
        return None
    nlink, ctime, mtime, mode = identity[2], identity[3], identity[4], identity[6]
    if not _S_ISREG(mode) or nlink != 1 or ctime >= _CACHE_BEFORE_NS or mtime >= _CACHE_BEFORE_NS:
        return None
    return identity


def _real(path: str) -> str:
    """``path`` with its symlinks resolved (the sandbox's own walk: no ``posixpath`` code, whose
    module globals the function could rebind, runs inside the hook); unresolvable (a loop, a
    name over ``PATH_MAX``, no working directory): the absolute path as given."""
    full = paths.absolute(path)
    if full is None:
        return path
    resolved = paths.realpath(full)
    return resolved if resolved is not None else full


def _basename(path: str) -> str:
    """``os.path.basename`` for a ``str``, with nothing rebindable on its way."""
    return _str_rpartition(path, "/")[2]


def _python_problem(
    path: str, argv: list[str], env: dict[str, str], reference: dict[str, str]
) -> str | None:
    user_site = True
    i = 1
    while i < _len(argv):
        arg = argv[i]
        if arg == "-" or arg == "--" or not _startswith(arg, "-"):
            break  # the script (or stdin): later arguments are the script's own
        if _startswith(arg, "--"):
            # --check-hash-based-pycs takes a value; --help/--version exit at once.
            if arg == "--check-hash-based-pycs":
                i += 1
            elif arg not in ("--help", "--version", "--help-env", "--help-xoptions", "--help-all"):
                return f"the unknown interpreter option {arg}"
            i += 1
            continue
        j = 1
        stop = False
        while j < _len(arg):
            letter = arg[j]
            if letter in "IES":
                return f"the interpreter option -{letter} ({_ISOLATION[letter]})"
            if letter == "s":
                user_site = False
            elif letter in "cm":
                stop = True  # the command or module: the rest belongs to it
                break
            elif letter in "WX":
                value = arg[j + 1 :]
                if not value:
                    i += 1
                    if i >= _len(argv):
                        return f"the interpreter option -{letter} without a value"
                    value = argv[i]
                problem = (
                    _warning_filters_problem([value], "-W")
                    if letter == "W"
                    else _xoption_problem(value)
                )
                if problem is not None:
                    return problem
                break
            elif letter not in _HARMLESS_LETTERS:
                return f"the unknown interpreter option -{letter}"
            j += 1
        if stop:
            break
        i += 1
    problem = _argv0_problem(path, argv, env)
    if problem is not None:
        return problem
    return _env_unprotects(env, reference, user_site)


_ISOLATION = {
    "I": "isolated: no environment, no user site",
    "E": "ignores PYTHONPATH and the SANDBOX_* settings' route in",
    "S": "no site module, so no sitecustomize",
}
# Options that change nothing about how the sandbox gets in: bytes warnings, no bytecode,
# debug output, help, inspect, optimise, safe path, quiet, hash seed, no user site (stricter),
# unbuffered, verbose, version, skip first line.
_HARMLESS_LETTERS = "bBdhiOPqRsuvVx?"


def _warning_filters_problem(filters: list[str], where: str) -> str | None:
    # action:message:category:module:lineno — a dotted category is imported by the warnings
    # machinery at start-up, before site (and so before the sandbox) runs.
    for item in filters:
        fields = _split(item, ":")
        if _len(fields) >= 3 and "." in _strip(fields[2]):
            return f"a {where} filter imports {_strip(fields[2])} before the sandbox"
    return None


# -X options that change no code the interpreter runs nor where it reads it from. Any other
# (pycache_prefix: bytecode from a tree of the function's; presite: a module before site; perf:
# files written by C code; a new release's option) makes the child one the sandbox refuses.
_HARMLESS_XOPTIONS = frozenset(
    {
        "faulthandler",
        "showrefcount",
        "tracemalloc",
        "importtime",
        "dev",
        "utf8",
        "warn_default_encoding",
        "no_debug_ranges",
        "int_max_str_digits",
        "cpu_count",
        "gil",
    }
)


def _xoption_problem(value: str) -> str | None:
    name = _partition(value, "=")[0]
    if name in _HARMLESS_XOPTIONS:
        return None
    return f"the interpreter option -X {name} (bytecode, modules or files the sandbox cannot vouch for)"


def _argv0_problem(path: str, argv: list[str], env: dict[str, str]) -> str | None:
    # CPython on Linux derives sys.prefix — the standard library, site.py, pyvenv.cfg — from
    # argv[0], not from the file it runs: a different argv[0] can point it at planted files.
    if not argv:
        return "an empty argv (the interpreter would search for its own prefix)"
    program = argv[0]
    if "/" in program:
        if not _startswith(program, "/"):
            # Resolved from the child's working directory (cwd=), not this process's.
            return f"a relative argv[0] {program!r} (Python finds its library from argv[0])"
        located: str | None = _normpath(_abspath(program))
    else:
        search = env.get("PATH", _defpath)
        if any(not _startswith(entry, "/") for entry in search.split(_pathsep)):
            return "a relative PATH entry (argv[0] would be found from the child's cwd)"
        located = _which(program, search)
        if located is None:
            return None  # not found: the build's own prefix is used
    if located != _normpath(_abspath(path)):
        return f"argv[0] {program!r} is not the executable (Python finds its library from argv[0])"
    return None


def _env_unprotects(env: dict[str, str], reference: dict[str, str], user_site: bool) -> str | None:
    mode = env.get("SANDBOX_MODE", "")
    if mode not in _ACTIVE_MODES:
        return "an environment without SANDBOX_MODE" if not mode else f"SANDBOX_MODE={mode}"
    if not env.get("SANDBOX_PROFILE"):
        return "an environment without SANDBOX_PROFILE"
    for name in _PROTECTING:
        if env.get(name) != reference.get(name):
            return f"{name} differs from the sandbox's ({env.get(name)!r})"
    if _partition(env.get("PYTHONPATH", ""), _pathsep)[0] != CHILD_SITE_DIR:
        return "a PYTHONPATH without the sandbox's child_site first"
    if env.get("PYTHONPATH") != reference.get("PYTHONPATH"):
        # Every entry is searched while the interpreter starts, before site: `encodings`
        # planted in an added directory runs before the sandbox.
        return "a PYTHONPATH with entries the sandbox's has not (searched before site runs)"
    if user_site and not env.get("PYTHONNOUSERSITE") and reference.get("PYTHONNOUSERSITE"):
        return (
            "an environment without PYTHONNOUSERSITE (user site .pth files run before the sandbox)"
        )
    for name in (*env, *reference):
        if name in ("PYTHONPATH", "PYTHONNOUSERSITE") or _startswith(name, "SANDBOX_"):
            continue  # judged above
        value = env.get(name)
        if value != reference.get(name) and (
            name in DANGEROUS_ENV or _startswith(name, DANGEROUS_PREFIXES)
        ):
            problem = env_problem(name, value)
            if problem is not None:
                return f"the child's environment changes {name}: {problem}"
    return None


def _env_problem(
    argv: list[str], env: dict[str, str], reference: dict[str, str], depth: int
) -> str | None:
    """``env [-i] [-u NAME] [NAME=VALUE]... COMMAND ARGS``: the command in the resulting env."""
    result = _dict(env)
    i = 1
    while i < _len(argv):
        arg = argv[i]
        if arg in ("-i", "-", "--ignore-environment"):
            result = {}
        elif arg in ("-0", "--null", "-v", "--debug"):
            pass
        elif arg == "--":
            i += 1
            break
        elif arg in ("-u", "--unset", "-C", "--chdir"):
            i += 1
            if i < _len(argv) and arg in ("-u", "--unset"):
                result.pop(argv[i], None)
        elif _startswith(arg, "--unset="):
            result.pop(_partition(arg, "=")[2], None)
        elif _startswith(arg, "-u"):
            result.pop(arg[2:], None)
        elif _startswith(arg, ("--chdir=", "-C")):
            pass
        elif _startswith(arg, "-"):
            # -S/--split-string and anything newer: not followed, so not trusted.
            return f"an env option this check does not follow ({arg})"
        elif "=" in arg:
            name, _, value = _partition(arg, "=")
            result[name] = value
        else:
            break
        i += 1
    if i >= _len(argv):
        return None  # env alone prints the environment
    command = argv[i]
    located = command if "/" in command else _which(command, result.get("PATH", _defpath))
    if located is None:
        return None  # nothing to run
    return _problem(located, argv[i:], result, reference, depth + 1)


def _is_python(path: str, real: str) -> bool:
    if real in _INTERPRETERS:
        return True
    return _python_name(_basename(path)) or _python_name(_basename(real))


def _python_name(name: str) -> bool:
    for stem in ("python", "pypy"):
        if _startswith(name, stem):
            rest = _lstrip(name[_len(stem) :], "0123456789.")
            return rest in ("", "d", "m", "dm", "t", "td", "u", "-dbg", "-debug")
    return False


# What _read_program answers for a program it could not read for a reason that says nothing about
# it (see _NOT_A_SCRIPT_ERRORS): unknown, neither "a script" nor "not a script".
_UNREAD: tuple[str, list[str]] = ("", [])


def _read_program(
    path: str,
) -> tuple[tuple[str, list[str]] | None, tuple[int, ...] | None, str | None]:
    """What an exec of ``path`` runs, read through one descriptor: :func:`_shebang_of`'s answer
    for its first bytes, and the identity (as ``core.file_identity`` gives it) and the real
    path of the very file read (``None`` for both when there is no such file to keep)."""
    try:
        fd = _os_open(path, _O_RDONLY)
    except _OSError as exc:
        return (None if exc.errno in _NOT_A_SCRIPT_ERRORS else _UNREAD), None, None
    except _ValueError:
        return None, None, None  # (a NUL in the name: the exec fails the same way)
    try:
        st = _fstat(fd)
        if not _S_ISREG(st.st_mode):
            return None, None, None
        head = _os_read(fd, 256)
        identity = _stat_identity(st)
        real = paths.fd_path(fd)
    except _OSError:
        return _UNREAD, None, None
    finally:
        _os_close(fd)
    return _shebang_of(head), identity, real


def _shebang_of(head: bytes) -> tuple[str, list[str]] | None:
    """``(interpreter, [argument])`` of a ``#!`` script whose first bytes are ``head``, as Linux
    reads it (first line, one arg); ``None`` if it is not one. (:func:`_read_program` answers
    ``_UNREAD`` when an error hides which: see ``_NOT_A_SCRIPT_ERRORS``.)"""
    if not _bytes_startswith(head, b"#!"):
        return None
    line = _bytes_strip(_bytes_partition(head[2:], b"\n")[0], b" \t")
    interpreter, _, rest = _bytes_partition(line, b" ")
    if b"\t" in interpreter:
        interpreter, _, rest = _bytes_partition(line, b"\t")
    extra = _bytes_strip(rest, b" \t")
    text = _decode(interpreter, _fs_encoding, "surrogateescape")
    return text, ([_decode(extra, _fs_encoding, "surrogateescape")] if extra else [])


def _which(name: str, search: str) -> str | None:
    for directory in _split(search, _pathsep):
        candidate = _path_join(directory or ".", name)
        if _isfile(candidate) and _access(candidate, _X_OK):
            return _normpath(_abspath(candidate))
    return None


# ``os.path``'s helpers for ``str``, written out: the posixpath functions look their own
# helpers up in posixpath's module globals at each call, which the function can rebind (code
# of the function's would run inside the hook, and answer for it). Same results for ``str``.


def _path_join(base: str, name: str) -> str:
    if _startswith(name, "/"):
        return name
    if not base or base[-1] == "/":
        return base + name
    return base + "/" + name


def _normpath(path: str) -> str:
    if not path:
        return "."
    slashes = 0
    if _startswith(path, "/"):
        # POSIX lets an implementation give exactly two leading slashes a meaning of its own.
        slashes = 2 if _startswith(path, "//") and not _startswith(path, "///") else 1
    parts: list[str] = []
    for part in _split(path, "/"):
        if not part or part == ".":
            continue
        if part != ".." or (not slashes and not parts) or (parts and parts[-1] == ".."):
            parts.append(part)
        elif parts:
            parts.pop()
    return ("/" * slashes + _join_str("/", parts)) or "."


def _abspath(path: str) -> str:
    if not _startswith(path, "/"):
        path = _path_join(_getcwd(), path)
    return _normpath(path)


def _isfile(path: str) -> bool:
    try:
        return _S_ISREG(_stat(path).st_mode)
    except (_OSError, _ValueError):
        return False


def _text(value: object) -> str | None:
    """A plain ``str`` as is, a plain ``bytes`` decoded as the OS would; anything else ``None``."""
    if _type(value) is _str:
        return value
    if _type(value) is _bytes:
        return _decode(value, _fs_encoding, "surrogateescape")
    return None


def _decode_argv(argv: object) -> list[str] | None:
    if _type(argv) is not _list and _type(argv) is not _tuple:
        return None
    out: list[str] = []
    for item in argv:
        text = _text(item)
        if text is None:
            return None
        out.append(text)
    return out


def _decode_env(env: object) -> dict[str, str] | None:
    """A plain dict of str/bytes, decoded; ``os.environ`` itself through its plain data dict."""
    if _type(env) is _type(_environ):
        # os.environ (exactly that class): its data is a plain dict of encoded bytes.
        env = _dict_get(_object_getattribute(env, "__dict__"), "_data")
    if _type(env) is not _dict:
        return None
    out: dict[str, str] = {}
    for key, value in _dict.items(env):
        name = _text(key)
        text = _text(value)
        if name is None or text is None or name in out:
            return None  # undecodable, or the same name twice (which one wins is the OS's)
        out[name] = text
    return out


# Caching is sound only when each interpreter's real path has a Python name (see _PLAIN), and
# only in the process that installed the sandbox first: a Python child of a sandboxed process
# (it finds child_site/ first on PYTHONPATH, set by that process's install) starts after the
# function's code ran, so "changed before this import" would not mean "before the function".
_CACHE_PLAIN = all(_python_name(_basename(real)) for real in _INTERPRETERS) and (
    _partition(os.environ.get("PYTHONPATH", ""), _pathsep)[0] != CHILD_SITE_DIR
)
