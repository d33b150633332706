"""The audit hook: decoders → decision → learn, alert or enforce, on top of the hook's core.

The *core* (:mod:`.core`: native C where it loads, Python otherwise) owns the hook itself: it
filters event names, keeps the per-thread re-entrancy guard, the phase and the decision cache,
and raises what the decision returns. This module builds the decision, in small factories:

- :func:`_decider`: an access → allowed or a violation (ceiling, cache, policy, address book);
- :func:`_violations`: what a violation does in each mode (record, report, raise, exit);
- :func:`_control`: the ``sandbox.*`` control events, honoured only from the bootstrap's code;
- :func:`_import_guard`: the first ``sys.meta_path`` finder (``importlib.import_module`` raises no
  ``import`` event);
- :func:`_callback`: the function the core calls for every event it does not ignore.

Everything runs on private copies of the runtime's modules (:mod:`.private_modules`): executed
from their bytecode at install, never imported, so code in the function that rebinds a module
global, a class attribute, a builtin or a standard-library function changes nothing the hook
does. That every function the hook calls bound what it uses at import is checked by the test
suite (``call_time.verify`` on the private copies, on every supported Python).
"""

from __future__ import annotations

import _thread
import sys
from _operator import itemgetter as _itemgetter
from collections.abc import Callable

from . import child as child_module
from . import core, environ, paths
from .address_book import REAL_RESOLVERS, RESOLVED_EVENT, remember
from .categories import ARG_SEP, UNDECODABLE, violation_class
from .control import (  # noqa: F401 (the control functions: importable from here too)
    DEFAULT_CONTROL,
    begin_invocation,
    end_invocation,
    flush,
    installed,
    mark_invoke_phase,
    report_init_failed,
)
from .decoders import code as code_module
from .decoders import files as files_module
from .decoders import network as network_decoders
from .decoders import processes as processes_module
from .decoders.code import INVOKE_ONLY, UNPARSED, compile_may_claim
from .decoders.files import special_files
from .errors import PermissionViolation, SandboxViolation, build_violation
from .findings import Invocation
from .sealing import SEALED_CODES, sealed
from .sqlite_guard import FOLDER_PRAGMAS as SQLITE_FOLDER_PRAGMAS
from .sqlite_guard import UNDECODABLE as SQLITE_UNDECODABLE
from .sqlite_guard import attach_targets, flush_pending, guard_connection
from .sqlite_guard import folder_target as sqlite_folder
from .values import forget_frames, lookup

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from types import CodeType, FrameType
    from typing import Any

    from .findings import Reporter
    from .policy import Policy
    from .private_modules import PrivateRuntime
    from .recorder import Recorder
    from .roots import Roots

_audit = sys.audit
_getframe = sys._getframe
_putenv = __import__("os").putenv
_CODE_TYPE = type((lambda: 0).__code__)  # (types.CodeType without importing types)
# os.environ's own data dict (bytes keys and values), taken at import: what subprocess and
# posix_spawn read when given os.environ (in a tuple: it must stay the live one).
_ENVIRON_DATA = (object.__getattribute__(__import__("os").environ, "__dict__").get("_data"),)
_dict_setitem = dict.__setitem__
PHASE_VARIABLE = "SANDBOX_PHASE"

# Events the hook answers besides the decoders'. Control events are the bootstrap's channel to
# the installed hook (no handle to it is kept anywhere).
CONTROL_EVENTS = frozenset(
    {
        "sandbox.status",
        "sandbox.phase",
        "sandbox.invocation",
        "sandbox.invocation_end",
        "sandbox.flush",
        "sandbox.init_failed",
        "object.__setattr__",
        "object.__delattr__",
        "sqlite3.connect/handle",
        "sandbox.import",
        "sandbox.sqlite",
        "sandbox.sqlite_flush",
        "sandbox.sqlite_refused",
        "sandbox.sqlite_open",
        "sandbox.resolved",
    }
)
# Events for which the core hands the callback the code object that raised them.
CALLER_EVENTS = frozenset(
    {
        "sys.setprofile",
        "sandbox.import",
        "sandbox.sqlite",
        "sandbox.sqlite_flush",
        "sandbox.aws",
        "sandbox.resolved",
        "sandbox.phase",
        "sandbox.invocation",
        "sandbox.invocation_end",
        "sandbox.flush",
        "sandbox.init_failed",
        "subprocess.Popen",  # the decoder reads Popen's frame only when Popen raised it
        "_posixsubprocess.fork_exec",  # (3.14: a relative program is Popen's or undecidable)
        "compile",  # the eval/exec site: the code that called them (see decoders.code)
        "socket.__new__",  # socket.py's constructor adopting a descriptor (its fileno local)
    }
)
# Of those, the events whose decoder takes the caller too.
CALLER_DECODERS = frozenset(
    {"subprocess.Popen", "compile", "_posixsubprocess.fork_exec", "socket.__new__"}
)
# Functions of the hook's modules that run only while installing (before the function's code
# loads), where looking a module attribute up is safe; everything else the hook may call must
# have bound what it uses at import (checked by call_time.verify in the test suite).
INSTALL_TIME = frozenset(
    {
        "install_hook",
        "install",
        "_build",
        "_control",
        "_decider",
        "_violations",
        "_import_guard",
        "_aws_codes",
        "_aws_own_codes",
        "_import_chain_codes",
        "_loaded_files",
        "_import_roots",
        "interpose",
        "_resolver_wrapper",
        "_sealed",
        "_fork_exec_wrapper",
        "load_json",
        "read_json",
        "glob_to_regex",
        "process_rule_regex",
        "LineSink.__init__",
        "LineSink.report_stream",
        "_append_if_file",
        "prepare_environment",
        "_user_site_in_use",
        "Recorder.__init__",
        "Matcher.prepare",
        "_compiled",
        "programs",
        "compile_pattern",
    }
)
# Raised by the import guard (the meta-path finder) so its decision runs inside the core.
IMPORT_EVENT = "sandbox.import"
MODULES_IMPORT = "modules" + ARG_SEP + "import" + ARG_SEP  # the decision cache's key prefix
# Raised by the SQLite authorizer for each file an ATTACH or VACUUM INTO would open.
SQLITE_EVENT = "sandbox.sqlite"
SQLITE_FOLDER = "folder"  # the event's second argument for a PRAGMA temp_store_directory's
# Raised by the sealed one-shot profile function that installs pending SQLite authorizers.
SQLITE_FLUSH_EVENT = "sandbox.sqlite_flush"
# What the native core refused itself about SQLite (an ATTACH on a connection with Python
# callables, code between an ATTACH's check and its open...), handed to the callback from C to
# be reported: never an audit event (the native core refuses one of that name).
SQLITE_REFUSED_EVENT = "sandbox.sqlite_refused"
# An open SQLite makes itself (no audit event), asked by the native core at the open
# (guarded_open): the real path of what was opened and the access (0 read, 1 write, 2 both).
# Handed to the callback from C only: the native core refuses an audit event of that name.
SQLITE_OPEN_EVENT = "sandbox.sqlite_open"
# A name below a database that only a rule reaching below it matches (no file name holds a
# NUL): see companions_ok.
_BELOW_PROBE = "/\x00"
_SQLITE_OPEN_ACTIONS = (("read",), ("write",), ("read", "write"))
FORK_EXEC_EVENT = "_posixsubprocess.fork_exec"
POPEN_EVENT = "subprocess.Popen"
COMPILE_EVENT = "compile"
# The events a network verdict answers in the core once allowed (see remember_network).
NETWORK_VERDICT_EVENTS = frozenset(
    {"socket.__new__", "socket.connect", "socket.getaddrinfo", "sandbox.aws"}
)
# The attribute names an ``object.__setattr__`` is decided on (rewriting a function's code or
# defaults, an object's class, a finder): the core answers every other name itself.
# Events refused outright when code that is not the sandbox's raises them while the hook's
# callback runs (a finalizer, a rebound hook of the interpreter's): they reach frames --
# whose locals lead to everything the hook decides with -- objects, or tracing. The core
# refuses them there; those the hook does not decide otherwise it ignores everywhere else.
REFUSED_INSIDE = frozenset(
    {
        "sys._getframe",
        "sys._getframemodulename",
        "sys._current_frames",
        "sys._current_exceptions",
        "object.__getattr__",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "sys.settrace",
        "sys.setprofile",
        "sys.monitoring.register_callback",
    }
)
# The sandbox's own sites: what each of its functions raises inside the callback, and which
# core calls it makes -- (event or "core.<function>", module file, function name). The core
# takes an event inside the callback for the sandbox's own only when the innermost frame's
# code raises that event itself, and a core call only from the code that makes it: a C
# function (a functools.partial, a bound method) that C code called inside the callback
# pushes no frame, so what it does carries the frame of the sandbox's function that called
# that C code (the parser's setattr on a node, a lookup's normalizer...). With the pairs it
# can do only what that very function does itself. A pair missing here fails closed: the
# event is decided as the function's (the frame lookups are refused), the call refused.
_FRAME_READ = ("sys._getframe", "object.__getattr__")  # (f_code is an audited attribute)
OWN_SITES = (
    *((event, "decoders/code.py", "caller_frame") for event in _FRAME_READ),
    *((event, "findings.py", "site") for event in _FRAME_READ),
    *((event, "hook.py", "reported_by_installer") for event in _FRAME_READ),
    ("object.__getattr__", "decoders/code.py", "caller_site"),
    ("object.__getattr__", "decoders/code.py", "importing"),
    ("object.__getattr__", "decoders/code.py", "_import_system_frame"),
    ("object.__getattr__", "decoders/code.py", "_module_bytecode"),
    ("core.file_is", "decoders/code.py", "_module_bytecode"),
    ("core.unmarshal_renames_to", "decoders/code.py", "_module_bytecode"),
    ("core.deployment_folder", "decoders/code.py", "deployment_file"),
    ("core.file_is", "decoders/code.py", "_is_file_content"),
    ("open", "core_fallback.py", "file_is"),
    ("object.__getattr__", "decoders/files.py", "_for_the_machinery"),
    ("object.__getattr__", "decoders/files.py", "_by_the_import_system"),
    ("object.__getattr__", "decoders/network.py", "_adopting"),
    ("object.__getattr__", "decoders/network.py", "_socket_codes"),
    ("object.__getattr__", "decoders/processes.py", "_popen_problem"),
    ("object.__getattr__", "decoders/processes.py", "_wrapper_intact"),
    ("compile", "decoders/shape.py", "features"),
    ("os.listdir", "decoders/files.py", "_directory_fds"),
    ("os.listdir", "hook.py", "names_in"),
    ("sys.setprofile", "sqlite_guard.py", "guard_connection"),
    ("sys.setprofile", "sqlite_guard.py", "flush_pending"),
    ("open", "child.py", "_read_program"),
    ("object.__getattr__", "hook.py", "_code_of"),
    ("open", "hook.py", "_origin_of_this_thread"),
    ("os.putenv", "hook.py", "on_phase"),
    ("core.enter_invoke", "hook.py", "on_phase"),
    ("core.enter_invoke", "hook.py", "_enter_invoke_at_install"),
    ("core.loaded_sources", "hook.py", "callback"),
    ("core.forgotten", "hook.py", "callback"),
    ("core.cache_add", "hook.py", "callback"),
    ("core.cache_add", "hook.py", "check"),
    ("core.cache_add", "hook.py", "violate"),
    ("core.exec_verdict_add", "hook.py", "remember_exec"),
    ("core.popen_verdict_add", "hook.py", "remember_popen"),
    ("core.compile_verdict_add", "hook.py", "callback"),
    ("core.network_verdict_add", "hook.py", "remember_network"),
    ("core.module_verdict_add", "hook.py", "remember_module"),
    ("core.module_packages_add", "hook.py", "remember_module"),
    ("core.open_cache_add", "hook.py", "remember_open"),
    ("core.dir_verdict_add", "hook.py", "remember_open"),
    ("core.sqlite_companions_add", "hook.py", "on_sqlite_open"),
    ("core.dir_module_verdict_add", "hook.py", "remember_open"),
    ("core.dir_verdict_add", "hook.py", "remember_patterns"),
    ("core.dir_module_verdict_add", "hook.py", "remember_patterns"),
    ("core.pattern_verdict_add", "hook.py", "remember_patterns"),
    ("core.defer_quiet_ends", "hook.py", "_defer_quiet_ends"),
    ("core.ends_deferred", "hook.py", "callback"),
    ("core.end_needed", "hook.py", "violate"),
    ("core.end_needed", "hook.py", "check"),
    ("core.end_needed", "hook.py", "end_of_invocation"),
    ("core.request_env", "hook.py", "on_invocation"),
    ("os.putenv", "core_fallback.py", "_put_request_id"),
)
PROTECTED_ATTRIBUTES = frozenset(
    {"__code__", "__defaults__", "__kwdefaults__", "__class__", "find_spec"}
)


def _defer_quiet_ends(codes: frozenset[CodeType]) -> None:
    """The control code's quiet invocation ends answered in the core (run as the hook's own
    code: the core takes it from own code only)."""
    core.defer_quiet_ends(codes)


def _enter_invoke_at_install() -> None:
    """Start in the invoke phase (run as the hook's own code: the core takes it from no other)."""
    core.enter_invoke()


def install_hook(
    *,
    private: PrivateRuntime,
    mode: str,
    policy: Policy,
    roots: Roots,
    reporter: Reporter,
    recorder: Recorder | None,
    runtime_api: str | None = None,
    on_violation: str = "raise",
    layers: dict[str, str] | None = None,
    control: tuple[Callable[..., Any], ...] | None = None,
    start_phase: str = "init",
    parent_request_id: str | None = None,
) -> bool:
    """Install the audit hook and the import guard once per process; ``False`` if already there.

    Parameters
    ----------
    private:
        The private copies of the runtime's modules this function is one of (it runs on them:
        see :mod:`.private_modules`).
    parent_request_id:
        For a child process: the request id of the parent's invocation that started it (its
        findings before any invocation of its own carry it).
    control:
        Functions whose code may send control events (phase, invocation begin/end); by
        default this module's helpers. Events from any other code are refused.
    start_phase:
        ``invoke`` for a Python child started during an invocation.

    Example
    -------
    >>> install_hook(private=runtime, mode="enforce", policy=policy, roots=roots,
    ...              reporter=reporter, recorder=None)  # doctest: +SKIP
    """
    if installed() is not None:
        return False
    # Every module the hook runs, executed now (the copies' imports are private only while
    # installing): the function's code finds none of them.
    from . import (  # noqa: F401
        address_book,
        categories,
        child,
        errors,
        findings,
        generalisation,
        globs,
        paths,
        sinks,
        sqlite_guard,
        values,
    )
    from . import decoders as decoders_package
    from . import policy as policy_module  # noqa: F401
    from . import roots as roots_module  # noqa: F401
    from .decoders import aws, code, files, modules, native, network, processes, shape  # noqa: F401

    values.capture_pathlib()
    if shape.syntax_at_install():
        shape.load_syntax(trusted=True)
    generalisation._compiled()  # the table's regexes, compiled now: nothing compiles later
    book = address_book.AddressBook()
    policy.prepare()  # every regex compiled now, before the function's code runs

    control_codes = frozenset(f.__code__ for f in (control or DEFAULT_CONTROL))
    # The module whose top-level code installs the sandbox (the Lambda bootstrap's): the only
    # code a failed init may be reported from (its handler import failing there).
    installer: FrameType | None = _getframe(1)
    while installer is not None and installer.f_code.co_name != "<module>":
        installer = installer.f_back
    installer_code = installer.f_code if installer is not None else None
    del installer
    finders = tuple(sys.meta_path)
    # The resolver wrappers first: the events they raise are honoured only from their code.
    address_book.interpose()
    build = _build
    names, callback, guard, sqlite_parts = build(
        mode=mode,
        policy=policy,
        roots=roots,
        reporter=reporter,
        recorder=recorder,
        book=book,
        runtime_api=runtime_api,
        on_violation=on_violation,
        layers=dict(layers or {}),
        control_codes=control_codes,
        installer_code=installer_code,
        finders=finders,
        start_phase=start_phase,
        parent_request_id=parent_request_id,
        frozen_decoders=decoders_package.DECODERS,
        socket_init=network_decoders._SOCKET_INIT,
        aws_codes=_aws_codes(),
        # The sealed resolver wrappers' code objects (interpose() made them, above).
        resolver_codes=tuple(address_book.WRAPPER_CODES),
    )
    # By identity (code objects compare by value: a set would keep one of two equal ones).
    # The sealed fork_exec wrapper's code, made at import and published (subprocess calls it):
    # the sandbox's own for the decoders (its ids), not for the core (own_codes).
    sealed = processes._FORK_EXEC_WRAPPER[0].__code__
    # The hook's own code -- not the published functions', whose frames an error the function
    # sees may pass through: a traceback's frame running it is refused to the function
    # (core: hidden_codes; red team 113 read the private policy from such a frame's locals).
    private_codes = tuple(c for c in private.codes() if c is not sealed)
    callback_codes = tuple(_codes_of(callback, guard))
    hidden_codes = private_codes + callback_codes
    # (and the published functions': resolver wrappers, guard, SQLite)
    own_codes = private_codes + tuple(SEALED_CODES) + callback_codes
    frozen_code = code
    frozen_code.OWN_CODES = own_codes
    # (and the botocore interposer's functions, imported before: their state is their defaults)
    guarded_codes = (*own_codes, sealed, *_aws_own_codes())
    frozen_code.OWN_IDS = frozenset(map(id, guarded_codes))
    import_codes = _import_codes()
    frozen_code.IMPORT_CODES = frozenset(id(c) for c in import_codes)
    from importlib import _bootstrap_external

    compile_bytecode = getattr(_bootstrap_external, "_compile_bytecode", None)  # (private)
    frozen_code.COMPILE_BYTECODE_CODES = (
        frozenset({id(compile_bytecode.__code__)}) if compile_bytecode is not None else frozenset()
    )
    import zipimport

    zip_unmarshal = getattr(zipimport, "_unmarshal_code", None)
    frozen_code.ZIP_UNMARSHAL_CODES = (
        frozenset({id(zip_unmarshal.__code__)}) if zip_unmarshal is not None else frozenset()
    )
    frozen_code.SOURCE_READER_CODES = frozenset(id(c) for c in _source_reader_codes())
    frozen_code.MACHINERY_CODES = frozen_code.IMPORT_CODES | frozen_code.SOURCE_READER_CODES
    chain, find_and_load = _import_chain_codes()
    frozen_code.IMPORT_CHAIN_CODES = frozenset(id(c) for c in chain) | frozen_code.IMPORT_CODES
    frozen_code.FIND_AND_LOAD_CODES = frozenset(id(c) for c in find_and_load)
    frozen_code.LOADED_FILES = _loaded_files()
    from importlib import _bootstrap

    trampoline = getattr(_bootstrap, "_call_with_frames_removed", None)
    frozen_code.TRAMPOLINE_CODES = (
        frozenset({id(trampoline.__code__)}) if trampoline else frozenset()
    )
    frozen_code.MODULE_ROOTS = _module_roots(roots)
    frozen_code.MODULE_PREFIXES = tuple(root + "/" for root in frozen_code.MODULE_ROOTS)
    frozen_code.IMPORT_ROOTS = _import_roots(frozen_code.MODULE_ROOTS)
    frozen_code.INSTALL_IMPORT_ROOTS = frozen_code.IMPORT_ROOTS
    frozen_code.STEADY_PREFIXES = _steady_prefixes(roots, frozen_code.IMPORT_ROOTS)
    frozen_code.WRITE_MATCHERS = policy.write_matchers()
    frozen_code.SHAPE_ROOTS = tuple(sorted(set(roots.dirs.get("task", ()))))
    stdlib_dirs = roots.dirs.get("stdlib", ())
    frozen_code.ANNOTATION_COMPILE_SITES = frozenset(
        d + "/" + site for d in stdlib_dirs for site in frozen_code.ANNOTATION_COMPILERS
    )
    frozen_code.ANNOTATE_CALL_SITES = frozenset(
        d + "/" + site for d in stdlib_dirs for site in frozen_code.ANNOTATE_CALLERS
    )
    frozen_code.AST_ONLY_SITES = frozenset(
        d + "/" + site for d in stdlib_dirs for site in frozen_code.AST_PARSERS
    )
    frozen_code.COMMAND_SOURCES = _command_sources(getattr(sys, "orig_argv", ()))
    frozen_code.NAMEDTUPLE_SITES = frozenset(
        d + "/" + site for d in stdlib_dirs for site in frozen_code.NAMEDTUPLE_MAKERS
    )
    frozen_processes = processes
    # Before 3.14 fork_exec raises no event: the native core makes every call of it raise
    # the event 3.14 raises (any function object of it, wherever the function's code found
    # it); the Python core cannot, and the sealed wrapper below stands in its place.
    sealed = frozen_processes._EMULATE_FORK_EXEC and core.seal_fork_exec(
        frozen_processes._fork_exec_original
    )
    # posix_spawn, posix_spawnp, execve and execv convert their path, argv and env around their
    # event (the function's __fspath__, keys()...): the native core hands them exact copies read
    # before the call (the Python core cannot: a documented limit), so the decision and the
    # child see the same program, argv and environment.
    posix = sys.modules["posix"]
    core.seal_spawn_env(
        getattr(posix, "posix_spawn", None),
        getattr(posix, "posix_spawnp", None),
        getattr(posix, "execve", None),
        getattr(posix, "execv", None),
    )
    # connect, connect_ex, bind, sendto and sendmsg look a host name up before their event:
    # the native core raises the name's resolve event first (the Python core cannot: a
    # documented limit), so a lookup -- a DNS query out -- follows a decision, as everywhere.
    core.seal_socket_addresses(sys.modules["_socket"].socket)
    # Every SQLite connection's authorizer, installed by the native core itself: its two steps
    # (the connection's event, the thread's next profile event) need no callback; the Python
    # core runs them in the hook's handlers (sqlite_guard.py), which are the native core's
    # too for anything it does not answer.
    core.seal_sqlite(*sqlite_parts)
    # A system clock (CLOCK_REALTIME: the host's) is set with no event either.
    time_module = sys.modules.get("time")
    core.seal_clock(
        getattr(time_module, "clock_settime", None), getattr(time_module, "clock_settime_ns", None)
    )
    # eval, exec and compile parse a bytearray (a memoryview of one, an array) from its live
    # buffer after the compile event (whose argument is a copy), and marshal.loads unmarshals
    # one after its event (so does _imp.get_frozen_object(name, buffer)): the native core hands
    # them an immutable copy first. It also keeps _imp._fix_co_filename (which renames code
    # with no event: a site is the file name its code claims) to the import system's use.
    import _imp
    import builtins
    import marshal

    core.seal_compilers(builtins.eval, builtins.exec, builtins.compile)
    # OpenSSL reads certificate files by name with no event (load_verify_locations,
    # load_cert_chain, _ssl._test_decode_cert): the native core has the extension loader seal
    # the `_ssl` module it makes (or the one loaded already) to raise ssl.load_file first; the
    # Python core cannot replace C functions (a documented limit).
    core.seal_extensions(
        _imp.create_dynamic, _imp.exec_dynamic, _imp.exec_builtin, sys.modules.get("_ssl")
    )
    # The same for files CPython's C code has glibc or itself open by name with no event:
    # gettext's catalog folders and domains (the `_locale` the built-in module maker makes, or
    # the one loaded already), the perf map file of a stack trampoline (3.12+).
    core.seal_library_files(
        _imp.create_builtin,
        sys.modules.get("_locale"),
        getattr(sys, "activate_stack_trampoline", None),
    )
    core.seal_marshal(
        marshal.loads,
        _imp.get_frozen_object,
        _imp._fix_co_filename,  # type: ignore[attr-defined]
    )
    # The resolvers encode a str host with the codec registry's "idna" codec (Python code the
    # function can plant) after or before their event: the native core hands them bytes.
    resolvers = REAL_RESOLVERS  # (captured at import: the C functions, not the wrappers)
    core.seal_resolvers(
        resolvers.get("getaddrinfo"),
        resolvers.get("gethostbyname"),
        resolvers.get("gethostbyname_ex"),
        getattr(sys.modules["_socket"], "gethostbyaddr", None),
    )
    # os.chroot (no event: every absolute name, the sandbox's own /proc lookups included,
    # would lead into a tree of the function's) and signal.pidfd_send_signal (no event: a
    # signal to any process the user may signal) raise events of their own (native core).
    core.seal_process_calls(
        getattr(posix, "chroot", None),
        getattr(sys.modules["_signal"], "pidfd_send_signal", None),
        getattr(posix, "unshare", None),  # (3.12+, like setns: no event either)
        getattr(posix, "setns", None),
        # (another process's priority, CPUs or scheduling: no event either)
        tuple(
            getattr(posix, name, None)
            for name in ("setpriority", "sched_setaffinity", "sched_setscheduler", "sched_setparam")
        ),
    )
    # Each private class subclasses an empty anchor, and type.__subclasses__() (no audit event)
    # lists it there: a private method's __globals__ is a private module, and through the
    # private modules in it every other is reachable. The native core takes each class out of
    # its anchor's list (both sealed below); the Python core cannot (a documented limit).
    core.hide_copies(tuple(private.classes))
    if compile_bytecode is not None:
        # The import system's unmarshal of a module's own .pyc (decoders/code._module_bytecode)
        # answered in the native core for its commonest case, with the callback's own data:
        # the codes of IMPORT_CHAIN_CODES | TRAMPOLINE_CODES and FIND_AND_LOAD_CODES, the
        # deployment's folders, magic number, cache tag and size bound (the Python core
        # answers none itself: its callback decides each, the same way).
        core.module_bytecode_rules(
            compile_bytecode.__code__,
            tuple(chain | import_codes | ({trampoline.__code__} if trampoline else set())),
            tuple(find_and_load),
            frozen_code.STEADY_PREFIXES,
            bool(frozen_code.WRITE_MATCHERS),
            frozen_code._MAGIC,
            frozen_code._CACHE_TAG,
            frozen_code.MAX_MODULE,
        )
    # The deployment's folders no write rule reaches into, at any depth (a pure function of
    # the profile): below them the native core need not wait for the callback to find each
    # package's folder steady before answering the unmarshal of its modules' .pyc, and answers
    # a C extension's own file at an import root under a name already allowed (the Python core
    # answers neither itself: its callback decides each, the same way).
    # (asked of the steady prefixes that are import or module roots, where module files are:
    # each costs a pass over the write rules at every cold start, ~0.25M instructions in all
    # for the orders example's roots)
    roots_here = frozenset(frozen_code.INSTALL_IMPORT_ROOTS + frozen_code.MODULE_ROOTS)
    core.deployment_rules(
        frozen_code.steady_trees(
            tuple(p for p in frozen_code.STEADY_PREFIXES if p[:-1] in roots_here)
        ),
        frozen_code.INSTALL_IMPORT_ROOTS,
    )
    if mode != "learn":
        # The module roots whose every file the invoke phase's code exec rules allow (no
        # ceiling below): there the native core answers a module's code run in an invocation
        # under a name already allowed (an import's exec: decoders/code._exec's two accesses).
        # Not in learn, which records what it sees. The Python core answers none itself.
        core.module_exec_rules(
            tuple(
                root + "/"
                for root in frozen_code.MODULE_ROOTS
                if policy.tree_allowed("code", "exec", root, "invoke")
            )
        )
    if not core.install(
        names,
        callback,
        own_codes,
        mode,
        CALLER_EVENTS,
        invoke_only=INVOKE_ONLY & names,
        setattr_names=PROTECTED_ATTRIBUTES,
        # (on_setattr refuses a guarded name only on these functions: the sandbox's own and
        # its control code; set on any other object, it is answered in the core)
        setattr_codes=(*guarded_codes, *control_codes),
        hidden_codes=hidden_codes,
        refused_inside=REFUSED_INSIDE,
        inside_only=REFUSED_INSIDE - names,
        # (the files decoder's init shortcut for the import system's module reads, in C)
        module_prefixes=frozen_code.MODULE_PREFIXES,
        import_codes=import_codes,
        own_sites=own_site_pairs(own_codes),
        # In enforce and alert no code but the sandbox's runs inside the callback; learn
        # defends nothing (it refuses nothing), and its S3 sink uploads from there (boto3).
        frame_guard=mode != "learn",
    ):
        return False
    # The private classes and their anchors made immutable (the native core): an attribute of
    # the function's set on an anchor would reach the class the hook runs. And the importable
    # error classes the hook raises (the function catches them): a special method set on one
    # would run when the hook reads a refusal it made.
    # (and importlib's ModuleSpec: C code inside the callback that looks a module up -- the
    # warning machinery, the regex engine's template -- asks its spec for _initializing)
    # (The syntax-node classes CPython's parser fills inside the hook are sealed by the core
    # when the shape decoder first loads them: shape.load_syntax.)
    core.seal_types(
        (
            type(sys.__spec__),
            *(kind for pair in private.classes for kind in pair),
            *private.error_classes,
        )
    )
    if recorder is None:
        # Enforce and alert: an invocation's end with nothing reported is answered in the core
        # (learn writes every end: never deferred there).
        _defer_quiet_ends(control_codes)
    if start_phase == "invoke":
        # A Python child started during an invocation: the core moves to invoke here, from the
        # sandbox's own (frozen) code. (A control event raised from this function was refused:
        # only the control code may send one.)
        _enter_invoke_at_install()
    sys.meta_path.insert(0, guard)
    if frozen_processes._EMULATE_FORK_EXEC and not sealed:
        # fork_exec's own event, as 3.14 raises it (multiprocessing calls it directly too).
        frozen_processes._route_fork_exec(frozen_processes._LIVE_POSIXSUBPROCESS[0], "fork_exec")
        loaded = lookup(sys.modules, "subprocess")
        if loaded is not None:
            frozen_processes._route_fork_exec(loaded.__dict__, "_fork_exec")
    return True


def own_site_pairs(own_codes: tuple[CodeType, ...]) -> list[tuple[str, CodeType]]:
    """:data:`OWN_SITES` as the core takes them: (name, code object) for every code object
    of ``own_codes`` with that function name in that module file of the runtime package
    (by the path the code was compiled with: the layer's bytecode names its install place)."""
    package = own_site_pairs.__code__.co_filename[: -len("hook.py")]
    # Only the codes named as a site's function are placed (~50 of ~600: ~0.15 ms of init).
    functions = {function for _, _, function in OWN_SITES}
    by_place: dict[tuple[str, str], list[CodeType]] = {}
    for code in own_codes:
        if code.co_name in functions and code.co_filename.startswith(package):
            place = (code.co_filename[len(package) :], code.co_name)
            by_place.setdefault(place, []).append(code)
    return [
        (name, code)
        for name, module, function in OWN_SITES
        for code in by_place.get((module, function), ())
    ]


def _codes_of(*objects: Any) -> list[CodeType]:
    out: list[CodeType] = []
    seen: set[int] = set()  # (by identity: equal code objects are two; `in` a list compares)
    pending: list[Any] = []
    for obj in objects:
        function = getattr(obj, "__func__", obj)
        code = getattr(function, "__code__", None)
        if code is not None:
            pending.append(code)
        for value in vars(type(obj)).values() if not hasattr(obj, "__code__") else ():
            inner = getattr(value, "__func__", value)
            if hasattr(inner, "__code__"):
                pending.append(inner.__code__)
    while pending:
        code = pending.pop()
        if id(code) in seen:
            continue
        seen.add(id(code))
        out.append(code)
        # (a constant is a code object or an immutable literal: its exact type tells)
        pending.extend(c for c in code.co_consts if type(c) is _CODE_TYPE)
    return out


def _aws_codes() -> frozenset[CodeType]:
    """The botocore interposer's function that raises ``sandbox.aws`` (the wrapper on
    ``BaseClient`` calls it, bound as its default: see aws_calls.py)."""
    from . import aws_calls

    raiser = getattr(aws_calls, "_decide", None)
    return frozenset({raiser.__code__}) if raiser is not None else frozenset()


def _aws_own_codes() -> tuple[CodeType, ...]:
    """Every code object on the botocore interposer's path: the sandbox's own (assigning the
    ``__code__`` or ``__defaults__`` of its functions is refused, as for the frozen code)."""
    from . import aws_calls

    codes = getattr(aws_calls, "_codes", None)
    return codes() if codes is not None else ()


def _import_codes() -> frozenset[CodeType]:
    """The import system's functions that compile, unmarshal and list for a module load."""
    from importlib import _bootstrap_external as external

    wanted = [
        external.SourceLoader.get_code,
        external.SourceLoader.source_to_code,
        getattr(external, "_compile_bytecode", None),
        getattr(external.FileFinder, "_fill_cache", None),
        external.FileLoader.get_data,
    ]
    return frozenset(getattr(f, "__code__") for f in wanted if hasattr(f, "__code__"))  # noqa: B009


def _import_chain_codes() -> tuple[frozenset[CodeType], frozenset[CodeType]]:
    """importlib's functions between ``_find_and_load`` and a module file's read; and it."""
    from importlib import _bootstrap
    from importlib import _bootstrap_external as external

    chain = [
        getattr(_bootstrap, "_find_and_load_unlocked", None),
        getattr(_bootstrap, "_load_unlocked", None),
        getattr(_bootstrap, "_load", None),
        getattr(_bootstrap, "_load_backward_compatible", None),
        getattr(getattr(external, "_LoaderBasics", None), "exec_module", None),
        external.SourceLoader.get_code,
        external.SourcelessFileLoader.get_code,
        external.FileLoader.get_data,
        getattr(external, "_check_name", None),
    ]
    codes = set(_codes_of(*[f for f in chain if f is not None]))
    # The botocore interposer's loader, which runs the real one for botocore.client and then
    # patches the module: the sandbox's own code between _load_unlocked and exec_module.
    from . import aws_calls

    patching = getattr(getattr(aws_calls, "_PatchingLoader", None), "exec_module", None)
    if patching is not None:
        codes.add(patching.__code__)
    # Decorated helpers (_check_name's wrapper) and nested functions come with their code.
    # _find_and_load, whose `name` is the module being imported; _exec, importlib.reload's
    # (its `name` is the spec's).
    loaders = [getattr(_bootstrap, "_find_and_load")]  # noqa: B009
    reloader = getattr(_bootstrap, "_exec", None)
    if reloader is not None:
        loaders.append(reloader)
    return frozenset(codes), frozenset(_codes_of(*loaders))


def _loaded_files() -> frozenset[str]:
    """The source files (``__file__``, as given) of the modules loaded before the function's
    code runs; no system call (resolving them all would cost init time): see ``files``."""
    out: set[str] = set()
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if type(filename) is str and filename.endswith(".py") and filename.startswith("/"):
            out.add(filename)
    return frozenset(out)


def _source_reader_codes() -> frozenset[CodeType]:
    """linecache's and tokenize's readers: a traceback shows source lines in any phase."""
    import linecache
    import tokenize

    wanted = [tokenize.open, linecache.updatecache]
    return frozenset(getattr(f, "__code__") for f in wanted if hasattr(f, "__code__"))  # noqa: B009


def _plain_copy(value: Any) -> Any:
    """``value`` with every dict, list and tuple in it copied (the status's JSON-like data)."""
    kind = type(value)
    if kind is dict:
        return {key: _plain_copy(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return kind(_plain_copy(item) for item in value)
    return value


def _command_sources(argv: Any) -> frozenset[bytes]:
    """What the interpreter compiles for its own ``-c`` command (``sys.orig_argv``): the
    command's bytes and a newline; empty when it was started otherwise.

    Example
    -------
    >>> sorted(_command_sources(["python", "-I", "-c", "print(1)", "x"]))
    [b'print(1)\\n']
    >>> _command_sources(["python", "-X", "dev", "-Sc", "pass"]) == {b"pass\\n"}
    True
    >>> _command_sources(["python", "--check-hash-based-pycs", "never", "-c", "x"])
    frozenset({b'x\\n'})
    >>> _command_sources(["python", "app.py", "-c", "x"])
    frozenset()
    """
    if type(argv) is not list and type(argv) is not tuple:
        return frozenset()
    args = [a for a in argv if type(a) is str]
    i = 1
    while i < len(args):
        arg = args[i]
        if arg == "--check-hash-based-pycs":  # (the one long option with a value)
            i += 2
            continue
        if arg == "--" or arg == "-" or not arg.startswith("-") or arg.startswith("--"):
            return frozenset()  # a script, stdin, or another long option: no -c before it
        for j in range(1, len(arg)):
            letter = arg[j]
            if letter == "c":
                command = arg[j + 1 :] or (args[i + 1] if i + 1 < len(args) else None)
                if command is None:
                    return frozenset()
                return frozenset({command.encode("utf-8", "surrogateescape") + b"\n"})
            if letter == "m":
                return frozenset()
            if letter in "XW":  # an option with a value: the rest of this word, or the next
                if j == len(arg) - 1:
                    i += 1
                break
        i += 1
    return frozenset()


def _module_roots(roots: Roots) -> tuple[str, ...]:
    found: list[str] = []
    for name in ("task", "site", "stdlib", "runtime"):
        found.extend(roots.dirs.get(name, ()))
    found.append("/opt/python")
    # Longest first: a site-packages inside the task root names modules from itself.
    return tuple(sorted(set(found), key=lambda d: -len(d)))


def _import_roots(module_roots: tuple[str, ...]) -> tuple[str, ...]:
    """Where the import system finds top-level modules, as install sees it (before the
    function's code runs): ``sys.path``'s folders (``lib-dynload`` among them) and the module
    roots, each resolved."""
    from os.path import isabs, isdir

    from .roots import resolved_dir

    found = set(module_roots) | {resolved_dir(root) for root in module_roots}
    for entry in sys.path:
        # (One found already resolves to what is found: a root, or a root's resolved form.)
        if type(entry) is str and entry not in found and isabs(entry) and isdir(entry):
            found.add(resolved_dir(entry))
    return tuple(sorted(found))


def _steady_prefixes(roots: Roots, import_roots: tuple[str, ...]) -> tuple[str, ...]:
    """The folders whose names the deployment sets, each + "/" (``code.name_is_steady``): the
    roots but ``{tmp}``, the import roots as install found them, the system's own folders;
    less any that is a temp dir or holds one (a task root of ``/tmp`` when run from there)."""
    from .decoders.code import SYSTEM_PREFIXES

    temps = [d + "/" for d in roots.dirs.get("tmp", ())] + ["/tmp/", "/var/tmp/", "/dev/shm/"]
    found = {d + "/" for name, ds in roots.dirs.items() if name != "tmp" for d in ds}
    found |= {d + "/" for d in import_roots} | set(SYSTEM_PREFIXES)
    return tuple(sorted(p for p in found if p != "//" and not any(t.startswith(p) for t in temps)))


_clock_gettime = __import__("time").clock_gettime
_CLOCK_BOOTTIME = getattr(__import__("time"), "CLOCK_BOOTTIME", 7)
_native_id = _thread.get_native_id
_get_ident = _thread.get_ident
_TICKS = __import__("os").sysconf("SC_CLK_TCK")


_new_instance = object.__new__
# The invocations the history keeps besides init's (the latest: a thread is charged to the one
# running when it started, and a thread older than these to the oldest kept).
HISTORY_KEPT = 63
_fourth = _itemgetter(3)  # (a logged start's thread)


def _boot_seconds() -> float:
    return float(_clock_gettime(_CLOCK_BOOTTIME))


def _origin_of_this_thread(history: list[tuple[float, Invocation]]) -> Invocation | None:
    """The invocation that was running when the kernel started the calling thread."""
    try:
        with open("/proc/self/task/" + str(_native_id()) + "/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        started = int(fields[19]) / _TICKS  # field 22 (starttime), after "pid (comm)"
    except (OSError, ValueError, IndexError) as exc:
        # (its frames forgotten: with the Python core a method of the file's class can be
        # the function's, raising an exception it holds -- red team 113)
        forget_frames(exc)
        return None
    # The start time has clock-tick granularity (usually 10 ms) and is rounded down: the
    # invocation running at that instant is the earliest the thread can belong to, and the
    # one it is charged to when two began within the same tick (never the later caller).
    chosen = None
    for begun, inv in history:
        if begun <= started:
            chosen = inv
    return chosen


def _plain_scalar(value: object) -> bool:
    """Whether ``value`` is an exact str, int, float or bool -- by identity of its class: ``in``
    a tuple of classes would compare a class of anyone's with its metaclass's code."""
    kind = type(value)
    return kind is str or kind is int or kind is float or kind is bool


def _plain_who(value: Any) -> dict[str, Any]:
    """The event source as plain data: only exact str/int/float/bool/None values (and lists of
    them) are kept, so nothing in a finding can run code when it is written."""
    if type(value) is not dict:
        return {}
    out: dict[str, Any] = {}
    for key, item in dict.items(value):
        if type(key) is not str:
            continue
        if item is None or _plain_scalar(item):
            out[key] = item
        elif type(item) is list:
            out[key] = [x for x in item if x is None or _plain_scalar(x)]
    return out


def _runtime_api_target(runtime_api: str | None) -> str | None:
    from .decoders.network import host_port, norm_host

    if not runtime_api or ":" not in runtime_api:
        return None
    host, _, port = runtime_api.rpartition(":")
    name = norm_host(host)
    return host_port(name, int(port)) if name and port.isdigit() else None


def _build(
    *,
    mode: str,
    policy: Policy,
    roots: Roots,
    reporter: Reporter,
    recorder: Recorder | None,
    book: Any,
    runtime_api: str | None,
    on_violation: str,
    layers: dict[str, str],
    control_codes: frozenset[CodeType],
    installer_code: CodeType | None,
    finders: tuple[Any, ...],
    start_phase: str,
    parent_request_id: str | None,
    frozen_decoders: dict[str, Callable[..., Any]],
    socket_init: list[CodeType],
    aws_codes: frozenset[CodeType],
    resolver_codes: tuple[CodeType, ...],
) -> tuple[frozenset[str], Callable[..., Any], Any, tuple[Any, Callable[..., Any]]]:
    """Assemble the callback from the factories (runs as a frozen copy: see install_hook)."""
    status = {"mode": mode, "function": policy.function, "layers": layers, "audit": core.KIND}
    state: dict[str, Any] = {"invocations": 0, "init_failed": False, "quiet": 0, "active": False}
    threads = _thread._local()
    # Threads that started an invocation the core logged, replayed from another thread's
    # callback: each takes its invocation at its own next decision (see invocation()).
    began_elsewhere: dict[int, Invocation] = {}
    current = [Invocation(parent_request_id)]
    history: list[tuple[float, Invocation]] = [(0.0, current[0])]  # (start, invocation)
    api_target = _runtime_api_target(runtime_api)
    phase_of = core.phase
    apply_env = environ.apply
    real_resolvers = REAL_RESOLVERS  # the frozen copy of the table (a private dict)

    def invocation() -> Invocation:
        # The invocation a thread belongs to: the one that was running when the kernel started
        # the thread (its start time in /proc), so a thread left running into the next
        # invocation is not charged to the next caller.
        origin = getattr(threads, "origin", None)
        if began_elsewhere:
            began = began_elsewhere.pop(_get_ident(), None)
            if began is not None:
                origin = threads.origin = began
        if origin is None:
            origin = threads.origin = _origin_of_this_thread(history) or current[0]
        return origin

    violate = _violations(mode, roots, reporter, recorder, book, on_violation, invocation)
    check = _decider(mode, policy, reporter, book, api_target, state, finders, violate)
    shapes_known = policy.shapes_known
    handlers, sqlite_decider, replay_invocations, sqlite_parts = _control(
        status,
        state,
        current,
        history,
        threads,
        began_elsewhere,
        reporter,
        recorder,
        control_codes,
        installer_code,
        violate,
        check,
    )
    native_core = core.KIND == "native"

    allows = policy.allows
    children_allowed = policy.children_allowed
    companions_add = core.sqlite_companions_add

    def companions_ok(database: str, actions: tuple[str, ...], ph: str) -> bool:
        # A database's companions (journal, WAL, shared-memory and super-journal files, its
        # ".lock" folder: SQLite makes them beside it, with no audit event) are decided as the
        # database -- a rule that allows a database allows them -- except where the rules
        # allow the database's own name only as a folder's: "P/" + "**" holds P's contents,
        # not names beside P, and a database made at P (the folder removed) would have its
        # companions made beside the folder, where no rule reaches (red team 92). Told by a
        # name below the database (a rule reaching below it treats it as a folder) when no
        # rule covers every name in the database's own folder.
        folder = database[: database.rfind("/")] or "/"
        for action in actions:
            if allows("files", action, database + _BELOW_PROBE, ph) and not children_allowed(
                action, folder, ph
            ):
                return False
        return True

    def on_sqlite_open(args: tuple[Any, ...], caller: Any) -> Any:
        # SQLite's own open of a file, decided at the open by the native core (guarded_open):
        # the real path of what it opened (no name is resolved again here) and the access, as
        # an os.open of that path with O_RDONLY, O_WRONLY or O_RDWR would be -- and kept in
        # the core's open table the same way (the raw arguments go with the last access, as
        # for an open event). With a third argument, the path is a companion of that database
        # (its journal...): decided as the database when companions_ok, else as itself. The
        # Python core never asks: an event of that name is forged.
        if (
            not native_core
            or len(args) not in (2, 3)
            or type(args[0]) is not str
            or type(args[1]) is not int
            or args[1] not in (0, 1, 2)
            or (len(args) == 3 and (type(args[2]) is not str or not args[0].startswith(args[2])))
        ):
            return violate(
                "code",
                "tamper",
                SQLITE_OPEN_EVENT,
                phase_of(),
                None,
                "an event of the sandbox's own",
            )
        path, access = args[0], args[1]
        database = args[2] if len(args) == 3 else path
        actions = _SQLITE_OPEN_ACTIONS[access]
        companions = companions_ok(database, actions, phase_of())
        target = database if companions else path
        raw = (target, None, access)
        for action in actions:
            last = action is actions[-1]
            keep = raw if last and (len(actions) == 1 or mode != "alert") else None
            refusal = check("files", action, target, None, keep)
            if refusal is not None:
                return refusal
        if companions:
            companions_add(database)  # (the core keeps it so if it keeps the database)
        return None

    handlers[SQLITE_OPEN_EVENT] = on_sqlite_open
    guard = _import_guard()
    # Events the sandbox raises for itself (its finder, its SQLite authorizer, its botocore
    # interposer): honoured only from that code, never from the function's.
    internal_sources = {
        RESOLVED_EVENT: frozenset(map(id, resolver_codes)),
        IMPORT_EVENT: frozenset({id(type(guard).find_spec.__code__)}),
        SQLITE_EVENT: frozenset({id(sqlite_decider.__code__)}),
        "sandbox.aws": frozenset(id(c) for c in aws_codes),
    }

    def callback(event: str, args: tuple[Any, ...], caller: CodeType | None) -> Any:
        try:
            loaded = take_loaded()
            if loaded is not None:
                # Module sources the core let the import system read at init: what the
                # traceback readers may read later (files._imports_at_init's note).
                code_module.LOADED_SOURCES.update(loaded)
            if quiet_ends:
                # Invocation ends the core answered (nothing was reported in them) and the
                # starts after them: replayed before anything reads the invocation's state.
                log = ends_deferred()
                if log:
                    replay_invocations(log)
            handler = handlers.get(event)
            if handler is not None:
                return handler(args, caller)  # (the control events read no path)
            if forget_pending[0]:
                forget_cached_paths()  # (a hand-over that failed before: see below)
                forget_pending[0] = False
            changed = take_forgotten()
            if changed is not None:
                # Names the core changed on its own (a remove, rename... a write verdict covers):
                # the path cache drops what depends on them before anything reads it. The core
                # has handed them over: until every one is forgotten, a failure here (a stack
                # the function filled to just below the limit, memory it used up) leaves the
                # whole path cache to be dropped first thing at the next callback.
                forget_pending[0] = True
                if type(changed) is tuple:
                    for place in changed:
                        forget_below(place, False)  # (the core dropped its own answers then)
                else:
                    # More than the core's queue holds: every answer of the path cache goes
                    # (the core dropped its own answers for each name as it changed it).
                    forget_cached_paths()
                forget_pending[0] = False
            sources = internal_sources.get(event)
            if sources is not None and (caller is None or id(caller) not in sources):
                return violate(
                    "code",
                    "tamper",
                    "forged " + event,
                    phase_of(),
                    None,
                    "an event of the sandbox's own",
                )
            if event == IMPORT_EVENT:
                name = args[0] if args and type(args[0]) is str else None
                if not name:
                    return None
                found = args[1] if len(args) > 1 else None
                if found is None:
                    # Allowed (and under no ceiling): known from now on, so the import event that
                    # follows is a cache hit, not a second decision.
                    ph = phase_of()
                    key = MODULES_IMPORT + ph + ARG_SEP + name
                    if cache_has(key):
                        return None
                    if not ceiling("modules", "import", name) and allows(
                        "modules", "import", name, ph
                    ):
                        cache_add(key)
                        remember_module(name, ph)
                        return None
                    # Not allowed: whether anything could load it decides reporting and learning;
                    # the guard asks the finders (outside the hook) and comes back with the answer.
                    return ASK_FINDERS
                return check("modules", "import", name, "found" if found is True else "missing")
            if event == RESOLVED_EVENT:
                # The real resolver's answer (the sealed wrapper): name → addresses, for connects.
                if len(args) == 4 and type(args[0]) is str:
                    real = real_resolvers.get(args[0])
                    if real is None or args[3] is not real:
                        return violate(
                            "code",
                            "tamper",
                            "resolver wrapper",
                            phase_of(),
                            None,
                            "an event of the sandbox's own",
                        )
                    remember(book, args[0], args[1], args[2])
                return None
            if event == SQLITE_EVENT:
                # The name of an ATTACH (or VACUUM INTO), from the sealed SQLite authorizer:
                # the files SQLite may open for it, each decided as a write (or a read). Or
                # (a second argument) the folder a PRAGMA temp_store_directory gives SQLite for
                # its temporary files: a write there, of any name.
                if len(args) == 2 and args[1] == SQLITE_FOLDER:
                    folder = sqlite_folder(args[0])
                    if folder == "":
                        return None  # SQLite's default folders again
                    if folder == SQLITE_UNDECODABLE:
                        folder = UNDECODABLE + "sqlite temporary folder"
                    return check("files", "write", folder, None)
                for action, path in attach_targets(args[0] if len(args) == 1 else None):
                    if path == SQLITE_UNDECODABLE:
                        path = UNDECODABLE + "sqlite database name"
                    # (an attached database is read as well as written: a write is both, as
                    # for sqlite3.connect -- red team 73 read a write-only database so)
                    wanted = [("files", action, path, None)]
                    if action == "write":
                        wanted.append(("files", "read", path, None))
                    # (a device node outside /dev is refused as for an open: special_files)
                    for _, act, target, _ in special_files(wanted, None):
                        refusal = check("files", act, target, None)
                        if refusal is not None:
                            return refusal
                return None
            decoder = frozen_decoders[event]
            if (
                event in INVOKE_ONLY
                and phase_of() != "invoke"
                # (at init, a compile that may claim a file is decided: decoders/code)
                and not (event == "compile" and compile_may_claim(args))
            ):
                return None
            try:
                accesses = decoder(args, caller) if event in CALLER_DECODERS else decoder(args)
                if not accesses:
                    return None
                # An open's raw arguments go with its last access (a read-write open is two, of
                # one file): once every access is known (allowed, or recorded by learn) the core
                # answers the same open itself (see remember_open).
                # (In alert a reported access does not stop the loop: only a one-access open is
                # remembered there, so a reported read of a read-write open is reported again.)
                last = accesses[-1]
                raw = (
                    args
                    if event == "open"
                    and (len(accesses) == 1 or mode != "alert")
                    and all(access[2] == last[2] for access in accesses)
                    else None
                )
                for access in accesses:
                    category, action, target, detail = access
                    if action == UNPARSED and category == "code":
                        # An eval/exec text no reading of which parses: at a site whose shapes
                        # the profile knows, enforce raises what the parser raised (compile
                        # would, unless the digit limit or the caller's flags change first:
                        # then unshaped). Elsewhere the site's compile rule decides, as before.
                        if mode == "enforce" and shapes_known(target + "#"):
                            return rejected_compile(detail, args)
                        continue
                    error = check(category, action, target, detail, raw if access is last else None)
                    if error is not None:
                        return error
                    if category == "processes" and action == "env" and type(detail) is tuple:
                        apply_env(detail[1], detail[2])  # allowed: the copy follows
                if event == FORK_EXEC_EVENT and mode == "enforce":
                    remember_exec(args, accesses)
                elif event == POPEN_EVENT and mode == "enforce":
                    remember_popen(args, caller, accesses)
                elif (
                    event == COMPILE_EVENT
                    and mode == "enforce"
                    and type(caller) is code_type
                    and accesses[0][2] not in code_module.AST_ONLY_SITES
                ):
                    # Every access allowed (the site's compile rule, the source's shape): the
                    # core answers the same source and file name from the same code itself.
                    # (Not at a parser's site: its answer depends on the flags in its frame,
                    # which the core's key does not hold.)
                    compile_verdict_add(args, caller)
                elif event in NETWORK_VERDICT_EVENTS and mode == "enforce":
                    remember_network(event, args, accesses, caller)
            except Exception as exc:  # a bug of the sandbox's own (or an error of the function's)
                forget_frames(exc)  # (first: it may be one the function holds)
                reporter.internal_error(event, exc, invocation())
                if mode == "enforce":
                    return build_violation(PermissionViolation, "sandbox", "error", event)
            return None
        except Exception as exc:
            # Outside the decoders' own try (the control handlers, the path cache's drain):
            # a bug of the sandbox's, reported; enforce refuses. (What escapes even this --
            # the report failing too -- the core replaces with a PermissionError of its own:
            # no exception leaves the hook with the callback's frames in it.)
            forget_frames(exc)
            reporter.internal_error(event, exc, invocation())
            if mode == "enforce":
                return build_violation(PermissionViolation, "sandbox", "error", event)
            return None

    def remember_network(
        event: str, args: tuple[Any, ...], accesses: list[Any], caller: Any
    ) -> None:
        # Allowed in enforce, with one access: a socket's creation (not an adoption: the
        # decoder said "socket"), a connect to an address literal already in canonical text
        # (its host the argument itself), a lookup of a name already in normal form, or an AWS
        # call from the interposer's code: the core answers the same values itself (its own
        # checks: see core.network_verdict_add). Anything else is decided here every time.
        if len(accesses) != 1:
            return
        _, action, _, detail = accesses[0]
        if event == "socket.__new__" and action == "socket":
            init = socket_init  # (the frozen decoder's list: filled once socket.py is seen)
            if init:
                network_verdict_add(event, args, init[0])
        elif (
            event == "socket.connect"
            and action == "connect"
            and len(args) == 2
            and type(args[1]) is tuple
            and len(args[1]) == 2
            and type(args[1][0]) is str
            and detail == args[1][0]
        ):
            network_verdict_add(event, args, None)
        elif event == "socket.getaddrinfo" and action == "resolve" and args:
            # A name whose text is its normal form already: the same text is the same name.
            host = args[0]
            text = host if type(host) is str else None
            if type(host) is bytes:
                text = bytes_decode(host, "ascii", "replace")
            if text is not None and text == accesses[0][2]:
                network_verdict_add(event, args, None)
        elif event == "sandbox.aws" and action == "call" and type(caller) is code_type:
            # An AWS call allowed from the botocore interposer (the callback checked the
            # event's code): the same service, operation and resource from it again.
            network_verdict_add(event, args, caller)

    def remember_exec(args: tuple[Any, ...], accesses: list[Any]) -> None:
        # A fork_exec every access of which was allowed (enforce): when its one candidate is
        # a program judged plain, the decoder read nothing but the arguments, and the core
        # answers the same arguments itself while the program keeps the identity judged.
        category, action, target, detail = accesses[0]
        if (category, action) != ("processes", "exec") or type(detail) is not list:
            return  # (an "unprotected" child or an undecodable argument never gets here)
        identity = judged_plain(target.partition(ARG_SEP)[0])
        if identity is not None:
            exec_verdict_add(args, identity)

    def remember_popen(args: tuple[Any, ...], caller: Any, accesses: list[Any]) -> None:
        # A usual Popen (no cwd=, no env=) whose one access was allowed (enforce) on a program
        # judged plain: its decision read the arguments, the raising frame and the objects
        # popen_checks names, and the core answers the same arguments from the same code
        # itself while every one of them is as it was (see core.popen_verdict_add).
        if len(accesses) != 1 or len(args) != 4:
            return
        category, action, target, detail = accesses[0]
        if (category, action) != ("processes", "exec") or type(detail) is not list:
            return  # (an "unprotected" child or an undecodable argument never gets here)
        program = args[0]
        if type(program) is not str or target.partition(ARG_SEP)[0] != program:
            return
        checks = popen_checks()
        if checks is None:
            return  # (Popen's _execute_child not known yet: its locals could not be told)
        identity = judged_plain(program)
        if identity is not None:
            popen_verdict_add(args, caller, identity, checks)

    allows = policy.allows
    ceiling = policy.ceiling
    remember_module = _module_verdicts(policy)
    exec_verdict_add = core.exec_verdict_add
    popen_verdict_add = core.popen_verdict_add
    popen_checks = processes_module.popen_checks
    compile_verdict_add = core.compile_verdict_add
    network_verdict_add = core.network_verdict_add
    bytes_decode = bytes.decode
    code_type = type(_plain_who.__code__)
    judged_plain = child_module.judged_plain
    cache_has = core.cache_has
    cache_add = core.cache_add
    take_forgotten = core.forgotten
    forget_pending = [False]  # (a hand-over from the core not yet done: callback, above)
    ends_deferred = core.ends_deferred
    quiet_ends = recorder is None  # (see install_hook: learn writes every end itself)
    take_loaded = core.loaded_sources
    forget_below = paths.forget_below
    forget_cached_paths = paths.forget_cached_paths
    names = frozenset(frozen_decoders) | CONTROL_EVENTS
    return names, callback, guard, sqlite_parts


def rejected_compile(rejection: tuple[Any, ...], args: tuple[Any, ...]) -> BaseException:
    """The exception a compile whose text the parser rejected raises (``shape.Rejection``:
    its class, message and place), with the compile's own file name."""
    kind, message, lineno, offset, text, end_lineno, end_offset = rejection
    if kind is ValueError:
        return ValueError(message)
    filename = args[1] if len(args) > 1 and type(args[1]) is str else "<string>"
    error: BaseException = kind(message, (filename, lineno, offset, text, end_lineno, end_offset))
    return error


def _module_verdicts(policy: Policy) -> Callable[[str, str], None]:
    """After the hook allowed importing ``name`` in ``phase`` (ceiling, then rules): when the
    policy allows every name below one of its dotted prefixes (the shortest such: ``"a."``,
    then ``"a.b."``...; the name itself is a package's name too), the core answers the imports
    below it from now on; else, when it allows every name directly below the name's parent
    (``"a.b.*"``), the core answers those (``core.module_verdict_add``). When the name's
    top-level package is one the policy allows whole (``Policy.packages_allowed``), every such
    package of the phase is handed to the core at once (``core.module_packages_add``): the
    first import of each other top-level name needs no callback either."""
    below_allowed = policy.modules_below_allowed
    children_allowed = policy.module_children_allowed
    # (two frozensets, read once at install: per decision, a phase's is one comparison away)
    init_packages = policy.packages_allowed("init")
    invoke_packages = policy.packages_allowed("invoke")
    verdict_add = core.module_verdict_add
    packages_add = core.module_packages_add
    find = str.find
    rfind = str.rfind
    partition = str.partition

    def remember_module(name: str, phase: str) -> None:
        packages = invoke_packages if phase == "invoke" else init_packages
        if partition(name, ".")[0] in packages:
            packages_add(packages)
            return
        below = name + "."
        at = find(below, ".")
        while at > 0:
            prefix = below[: at + 1]
            if below_allowed(prefix, phase):
                verdict_add(prefix)
                return
            at = find(below, ".", at + 1)
        parent = name[: rfind(name, ".") + 1]
        if parent and children_allowed(parent, phase):
            verdict_add(parent, True)

    return remember_module


def _violations(
    mode: str,
    roots: Roots,
    reporter: Reporter,
    recorder: Recorder | None,
    book: Any,
    on_violation: str,
    invocation: Callable[[], Invocation],
) -> Callable[..., SandboxViolation | None]:
    """What a refused access does in each mode; returns the error for the hook to raise."""
    enforce = mode == "enforce"
    learn = mode == "learn"
    cache_has = core.cache_has
    cache_add = core.cache_add
    end_needed = core.end_needed
    join_key = ARG_SEP.join
    from os import _exit

    def violate(
        category: str, action: str, target: str, phase: str, detail: Any, reason: str | None
    ) -> SandboxViolation | None:
        """``reason`` is set for denials no rule can lift (ceiling, undecodable, unprotected)."""
        inv = invocation()
        named = None
        if category == "network" and action in ("connect", "sendto") and detail:
            names = book.names(detail)
            named = names[-1] if names else None
        if learn and reason is None and recorder is not None:  # (learn always has one)
            learned = target
            if category == "network" and action in ("connect", "sendto"):
                # Never a decision-cache hit in learn (the name an address was reached by
                # is what is learned, and it can change), so recorded once per name here: the
                # recorder writes an access once per environment. The key's action is no real
                # action's, so no decision ever reads it.
                if named is not None:
                    learned = named + ":" + target.rsplit(":", 1)[1]
                seen = join_key((category, action + "/learned", phase, learned))
                if cache_has(seen):
                    return None
                recorder.record(category, action, learned, phase, inv)
                cache_add(seen)
                return None
            recorder.record(category, action, learned, phase, inv)
            return None
        end_needed(True)  # the invocation's end writes a summary: the callback must see it
        reporter.report(
            category=category,
            action=action,
            target=target,
            named=named,
            decision="blocked" if enforce else "would-block",
            phase=phase,
            invocation=inv,
            reason=reason or "not in profile",
            hint=reason is None,
        )
        if not enforce:
            return None
        if on_violation == "exit":
            _exit(70)
        shown = target if not target.startswith(UNDECODABLE) else "<" + target[1:] + ">"
        hint = reporter.rule_hint(category, action, target, phase) if reason is None else ""
        return build_violation(
            violation_class(category), category, action, shown.replace(ARG_SEP, " "), hint
        )

    return violate


# The file actions the core keeps pattern verdicts for (see core.pattern_verdict_add).
_PATTERN_ACTIONS = frozenset({"read", "write", "list"})


def _decider(
    mode: str,
    policy: Policy,
    reporter: Reporter,
    book: Any,
    api_target: str | None,
    state: dict[str, Any],
    finders: tuple[Any, ...],
    violate: Callable[..., SandboxViolation | None],
) -> Callable[..., SandboxViolation | None]:
    """An access → ``None`` (allowed) or the violation to raise (enforce)."""
    learn = mode == "learn"
    allows = policy.allows
    shapes_known = policy.shapes_known
    ceiling = policy.ceiling
    cache_has = core.cache_has
    cache_add = core.cache_add
    open_cache_add = core.open_cache_add
    end_needed = core.end_needed
    dir_verdict_add = core.dir_verdict_add
    dir_module_verdict_add = core.dir_module_verdict_add
    pattern_verdict_add = core.pattern_verdict_add
    keeping_safe = paths.keeping_safe
    lexists = paths.lexists
    module_files_plain = files_module.module_files_plain
    children_allowed = policy.children_allowed
    name_patterns = policy.name_patterns
    realpath = paths.realpath
    remember_module = _module_verdicts(policy)
    paths_cacheable = paths.cacheable
    identity_for_cache = paths.identity_for_cache
    phase_of = core.phase
    join_key = ARG_SEP.join
    import sys as _sys

    # The import system's state is read live from sys's own dict at each question (the
    # function can rebind sys.path or its hooks with no event). What the path finder may have
    # been given at install: its hooks, and the kinds of finder it caches per path entry.
    sys_space = _sys.__dict__
    install_hooks = tuple(_sys.path_hooks)
    from importlib import _bootstrap_external
    from importlib.machinery import EXTENSION_SUFFIXES as _suffixes
    from importlib.machinery import FileFinder as _file_finder

    # The finders the path finder held at install (a dev install's own, say), by identity, and
    # what a path hook's FileFinder is given now: (suffix, loader) pairs, as FileFinder keeps
    # them. A FileFinder cached later must have exactly these, for its own entry's folder.
    install_finders = dict(_sys.path_importer_cache)
    default_loaders = tuple(
        (suffix, loader)
        for loader, suffixes in _bootstrap_external._get_supported_file_loaders()  # type: ignore[attr-defined]
        for suffix in suffixes
    )
    instance_dict = _file_finder.__dict__["__dict__"].__get__  # (the class's own descriptor)
    absolute = paths.absolute

    def finder_plain(entry: str, finder: Any) -> bool:
        """Whether the finder the import system would use for ``entry`` looks only where the
        listing does, for the suffixes it knows (read from exact objects, nothing of theirs
        runs): none yet, None, the very one held at install, or a FileFinder of the entry's
        own folder with the default loaders."""
        if finder is None:
            return True
        if type(finder) is not _file_finder:
            return finder is lookup(install_finders, entry, _NO_FINDER)
        space = instance_dict(finder)
        path = lookup(space, "path")
        if type(path) is not str or (path != entry and path != absolute(entry or ".")):
            return False
        loaders = lookup(space, "_loaders")
        if type(loaders) is not list or len(loaders) != len(default_loaders):
            return False
        for pair, (suffix, loader) in zip(loaders, default_loaders, strict=True):
            if type(pair) is not tuple or len(pair) != 2 or pair[1] is not loader:
                return False
            if type(pair[0]) is not str or pair[0] != suffix:
                return False
        return True

    extension_suffixes = tuple(_suffixes)

    # Directory → (identity, names): each import-path directory's names, listed once and used
    # while the directory's identity (device, inode, change and modification times) stays the
    # same. One stat per directory per question instead of one per candidate file name; only
    # a directory whose last change is older than the file system's clock tick is kept (a
    # name made in that tick after the listing would not move the times).
    listings: dict[str, tuple[tuple[int, int, int, int], frozenset[str]]] = {}

    def names_in(directory: str) -> frozenset[str] | None:
        """The names in ``directory`` (empty: not a directory), or None: stat each candidate."""
        try:
            st = _stat(directory)
        except (OSError, ValueError):
            return _NO_NAMES  # nothing there: no candidate below it exists either
        if st.st_mode & 0o170000 != 0o040000:
            return _A_FILE  # a file: a zip archive may hold anything
        identity = (st.st_dev, st.st_ino, st.st_ctime_ns, st.st_mtime_ns)
        kept = listings.get(directory)
        if kept is not None and kept[0] == identity:
            return kept[1]
        if _time_ns() - max(st.st_ctime_ns, st.st_mtime_ns) < _SETTLED_NS:
            return None  # changed just now
        if len(listings) >= _MAX_LISTINGS and directory not in listings:
            return None
        try:
            names = frozenset(_listdir(directory))
        except (OSError, ValueError):
            return None
        listings[directory] = (identity, names)
        return names

    def findable(name: str) -> bool:
        """Whether a file could hold module ``name`` (decides reporting only, never allowing).

        Runs inside the hook, so it runs no code the function can influence: no finder, no
        attribute of a module object — only ``stat`` and listings of the import path's
        directories, read from sys's own dict as they are now. Whatever it cannot tell (a
        rebound or overlong ``sys.path``, an entry of another class, a file on it -- a zip
        archive may hold anything --, path hooks the import system did not have at install, a
        finder cached for an entry that is not the one held at install or a FileFinder of the
        entry's own folder with the default loaders) answers True: reported.
        Modules that only a finder knows (six.moves) are answered by the meta-path guard,
        which asks the finders outside the hook; a finder the function puts in
        ``sys.meta_path`` itself is not asked here (its code would run inside the hook): a
        name only it could load is refused as a missing one is -- quietly, counted in the
        invocation's summary (a stated limit). A refused name stays refused whatever this
        answers.
        """
        if len(name) > 255:
            return True
        if "." in name:
            # A submodule: once its package is loaded, its search path lives in objects the
            # function can shape (sys.modules, the package's dict): reported; the guard's
            # finders answer quietness. A package that is not loaded is imported first, by
            # its first name: when no file could hold that, nothing below it can load
            # either (the standard library's own probes, copy's `org.python.core` in 3.10
            # and 3.11, are optional imports of packages that exist nowhere).
            top = name.partition(".")[0]
            modules = lookup(sys_space, "modules")
            if not top or type(modules) is not dict or top in modules:
                return True
            name = top
        leaf = name
        candidates = (leaf, leaf + ".py", leaf + ".pyc", *(leaf + s for s in extension_suffixes))
        search_path = lookup(sys_space, "path")
        hooks = lookup(sys_space, "path_hooks")
        cached = lookup(sys_space, "path_importer_cache")
        if (
            type(search_path) is not list
            or len(search_path) > 256
            or type(hooks) is not list
            or len(hooks) != len(install_hooks)
            or any(hook is not known for hook, known in zip(hooks, install_hooks, strict=True))
            or type(cached) is not dict
        ):
            # Rebound, grown past what is looked at, or hooks the path finder did not have
            # at install: nothing here can tell that no file loads it -- reported.
            return True
        for directory in list(search_path):
            if type(directory) is not str:
                return True  # (an entry of a class of the function's: the finder uses its text)
            if not finder_plain(directory, lookup(cached, directory)):
                return True  # a finder that looks elsewhere, or for other suffixes
            # (the folder first: a package, or a namespace package; with no folder there is
            # no base/__init__.py to look for either)
            names = names_in(directory or ".")
            if names is _A_FILE:
                return True  # (what a zip archive holds is not looked at here)
            if names is not None:
                for candidate in candidates:
                    if candidate in names:
                        return True
                continue
            base = (directory or ".") + "/"
            for candidate in candidates:
                if _exists(base + candidate):
                    return True
        return False

    def allowed_by_rules(category: str, action: str, target: str, ph: str, detail: Any) -> bool:
        if allows(category, action, target, ph):
            return True
        if not learn and category == "code" and action == "shape" and not shapes_known(target):
            # A profile from before shapes: the site's compile rule decided. (Learning records
            # every shape, so the next build knows them.)
            return True
        if category == "network" and action in ("connect", "sendto") and detail:
            port = target.rsplit(":", 1)[1]
            for name in book.names(detail):
                if allows(category, action, name + ":" + port, ph):
                    return True
        return False

    def remember_open(
        args: tuple[Any, ...], action: str, target: str, detail: Any, ph: str
    ) -> None:
        # An open the decision cache knows (the policy said yes to the resolved file, or learn
        # recorded it): the core answers the same arguments itself from now on, while the
        # name leads to the same file (see paths). Never an open only the import or traceback
        # machinery may make (it has no access), nor a refused or reported one.
        path = args[0]
        if not keeping_safe():
            return  # another thread's change is in flight: nothing kept (see paths._keep)
        if detail is None and type(path) is str and paths_cacheable(path, target):
            identity = identity_for_cache(target)
            if identity is None and not lexists(target):
                # A name that does not exist, with no identity to check it by: not kept (it
                # may be made with no audit event -- os.mkfifo -- as something else). A rule's
                # glob that covers it still covers its siblings: the core answers the next
                # call's new name (/tmp/receipt-<uuid>.json), after its own lstat of it.
                if not learn:
                    remember_patterns(action, target, ph)
                return
            open_cache_add(args, identity)
            if learn:
                return  # (learn records every new name: no verdict for a whole directory)
            # When the policy allows every name in the file's directory (reached with no
            # link on the way), the core answers new names there too, after one lstat that
            # sends links (and module files) back here.
            directory = target[: target.rfind("/")] or "/"
            if paths_cacheable(directory, directory) and children_allowed(action, directory, ph):
                identity = identity_for_cache(directory)
                dir_verdict_add(directory, action, identity)
                if action == "read" and module_files_plain(directory):
                    # Outside the module roots a module file's read is decided like any
                    # other file's (nothing tracks the import machinery's reads there).
                    dir_module_verdict_add(directory, identity)
            remember_patterns(action, target, ph)

    def remember_patterns(action: str, target: str, ph: str) -> None:
        # A file access the rules allowed (not in learn): when a rule's glob covers the
        # target's sibling names (/tmp/job-*) or the names in its folder's siblings
        # (/tmp/job-*/*), the core answers those too -- the next call's new job folder
        # costs no callback. The pattern's folder must be reached with no link on the way
        # (its realpath is itself); the core checks each name below it with lstat.
        if action not in _PATTERN_ACTIONS or not keeping_safe():
            return  # (a unix socket's name is a file too: connect, bind, sendto)
        for folder, glob, depth in name_patterns(action, target, ph):
            if realpath(folder) != folder:
                continue
            identity = identity_for_cache(folder)
            if depth == 0 and glob == "*" and action != "list":
                dir_verdict_add(folder, action, identity)  # (the same verdict, kept as one)
            else:
                pattern_verdict_add(folder, glob, action, depth, identity)
            if depth == 0 and action == "read" and module_files_plain(folder):
                # Outside the module roots a module file's read is decided like any other
                # file's (as in remember_open): the folder's pattern answers module files too.
                # A learned "…/__pycache__/*.pyc" outside the roots (a sys.path entry such as
                # an EFS mount) then costs no callback a new module.
                dir_module_verdict_add(folder, identity)

    def check(
        category: str, action: str, target: str, detail: Any, raw: tuple[Any, ...] | None = None
    ) -> SandboxViolation | None:
        ph = phase_of()
        if type(target) is not str:
            # (every decoder hands on exact text; anything else -- a str subclass of the
            # function's, whose methods are its code -- is never looked at, only refused)
            target = UNDECODABLE + "a target that is not plain text"
        if target.startswith(UNDECODABLE):
            return violate(
                category, action, target, ph, detail, "an argument the sandbox cannot read"
            )
        if type(detail) is tuple and detail and detail[0] == "unprotected":
            return violate(
                category,
                action,
                target,
                ph,
                None,
                "a Python child would run unprotected: " + detail[1],
            )
        key = join_key((category, action, ph, target))  # one string built, not five
        if cache_has(key):
            if raw is not None:
                remember_open(raw, action, target, detail, ph)
            return None
        if category == "network" and target == api_target:
            # The runtime client talks to the Runtime API through native code; a Python
            # socket to it is the function's. After a failed init, it is the runtime's own
            # error report (the function never ran).
            if state["init_failed"] and ph == "init":
                return None
            return violate(
                category, action, target, ph, detail, "the Lambda Runtime API is the runtime's"
            )
        if ceiling(category, action, target):
            return violate(category, action, target, ph, detail, "denied by the ceiling")
        if allowed_by_rules(category, action, target, ph, detail):
            cache_add(key)
            if raw is not None:
                remember_open(raw, action, target, detail, ph)
            elif category == "modules" and action == "import":
                remember_module(target, ph)  # (the import event comes before the guard's)
            elif category == "files" and not learn and detail is None:
                remember_patterns(action, target, ph)
            return None
        unfindable = (detail == "missing") if detail in ("found", "missing") else None
        if (
            category == "modules"
            and detail in (None, "found", "missing")
            and (unfindable if unfindable is not None else not findable(target))
        ):
            # (detail "found"/"missing": the meta-path guard asked the finders for us)
            # Nothing could load it: refused without a finding or a learned rule (an optional
            # import of a module that is not installed fails as "not found" would).
            if mode == "enforce":
                state["quiet"] += 1
                end_needed(True)  # (the invocation's summary counts it)
                return build_violation(violation_class("modules"), "modules", "import", target)
            return None
        error = violate(category, action, target, ph, detail, None)
        if learn and not (category == "network" and action in ("connect", "sendto")):
            cache_add(key)  # recorded once; from now on it is known
            if raw is not None:
                remember_open(raw, action, target, detail, ph)
        return error

    return check


def _control(
    status: dict[str, Any],
    state: dict[str, Any],
    current: list[Invocation],
    history: list[tuple[float, Invocation]],
    threads: Any,
    began_elsewhere: dict[int, Invocation],
    reporter: Reporter,
    recorder: Recorder | None,
    control_codes: frozenset[CodeType],
    installer_code: CodeType | None,
    violate: Callable[..., SandboxViolation | None],
    check: Callable[[str, str, str, Any], SandboxViolation | None],
) -> tuple[
    dict[str, Callable[[tuple[Any, ...], Any], Any]],
    Callable[..., Any],
    Callable[[tuple[Any, ...]], None],
    tuple[Any, Callable[..., Any]],
]:
    """The control events: honoured only when raised by the control code (the bootstrap's).
    Also returns the sealed SQLite authorizer, the replay of the invocation ends and starts
    the core answered itself (its log), and what the native core guards SQLite connections
    with (the authorizer it installs, the trampoline a profiler sees)."""
    protected_names = PROTECTED_ATTRIBUTES
    control_ids = frozenset(id(c) for c in control_codes)
    putenv = _putenv
    environ_data = _ENVIRON_DATA
    own_env = environ.own  # (the sandbox's own change: part of the install-time environment)
    phase_of = core.phase
    enter_invoke = core.enter_invoke
    kept_values: list[Any] = []  # (see on_phase)
    end_needed = core.end_needed
    request_env = core.request_env
    add_import_roots = code_module.add_import_roots
    search_path = sys.path  # (the list itself: what init added to it counts)

    def trusted(caller: Any) -> bool:
        return caller is not None and id(caller) in control_ids

    def refused(what: str) -> Any:
        return violate(
            "code",
            "tamper",
            "control event " + what,
            phase_of(),
            None,
            "a control event from outside the sandbox",
        )

    def on_status(args: tuple[Any, ...], caller: Any) -> None:
        if args and type(args[0]) is list:
            # A copy all the way down: the layers' dict is also what every finding reports.
            answer = {**status, "phase": phase_of(), "invocations": state["invocations"]}
            args[0].append(_plain_copy(answer))

    def on_phase(args: tuple[Any, ...], caller: Any) -> Any:
        if not trusted(caller):
            return refused("sandbox.phase")
        if args and args[0] == "invoke" and phase_of() != "invoke":
            enter_invoke()  # one way: nothing returns the process to init rules
            # The folders sys.path holds at init's end are where later imports find files.
            add_import_roots(list(search_path))
            # Python children started from now on start in invoke too (their environment).
            putenv(PHASE_VARIABLE, "invoke")
            own_env(PHASE_VARIABLE, "invoke")
            # ...and os.environ says so too: a child given os.environ (posix_spawn, Popen's
            # close_fds=False path, env=dict(os.environ, ...)) would carry "init" otherwise,
            # which the environment checks refuse as a change of the sandbox's own variable.
            data = environ_data[0]
            # (only among exact bytes keys: storing compares with colliding keys' __eq__)
            if type(data) is dict and all(type(key) is bytes for key in data):
                name = PHASE_VARIABLE.encode()
                before = data.get(name)
                if before is not None and type(before) is not bytes:
                    # The function's object there: replacing it would drop what may be its
                    # last reference here, inside the hook (a finalizer of the function's
                    # would run as this function's code). Kept for the process's lifetime.
                    kept_values.append(before)
                _dict_setitem(data, name, b"invoke")
                before = None
        return None

    def on_invocation(args: tuple[Any, ...], caller: Any) -> Any:
        if not trusted(caller):
            return refused("sandbox.invocation")
        if state["active"]:
            # Re-entering the handler from inside an invocation (the function calling the
            # bootstrap's handler itself) must not make its own request id and caller.
            return refused("sandbox.invocation (nested)")
        request_id = args[0] if args and type(args[0]) is str else None
        who = _plain_who(args[1]) if len(args) > 1 else {}
        request_env(request_id)  # (for the children it starts: SANDBOX_REQUEST_ID)
        start_invocation(request_id, who, _boot_seconds(), _get_ident())
        return None

    def start_invocation(
        request_id: str | None, who: dict[str, Any], begun: float, by: int
    ) -> None:
        state["active"] = True
        if state["invocations"] == 0:
            reporter.end_invocation(current[0])  # init's findings have their own summary
        state["invocations"] += 1
        # (made without calling Invocation.__init__: inside the callback every Python call
        # runs a guarded frame of its own, and the core's log replays up to 512 starts at a time)
        inv = _new_instance(Invocation)
        inv.request_id, inv.who, inv.number = request_id, who, state["invocations"]
        current[0] = inv
        history.append((begun, inv))
        if len(history) > HISTORY_KEPT + 1:
            del history[1:2]  # (the first is init's)
        # The thread running the handler belongs to this invocation (the one that started it:
        # another thread replaying the core's log leaves it the invocation to take).
        if by == _get_ident():
            threads.origin = inv
        else:
            if len(began_elsewhere) >= 64:
                began_elsewhere.clear()  # (threads long gone: they take theirs from history)
            began_elsewhere[by] = inv
        if recorder is not None:
            recorder.begin_invocation()

    def replay_invocations(log: tuple[Any, ...]) -> None:
        # The core's log, in order: None for an end it answered, (request id, source, start
        # seconds, thread) for a start. The core logs a start only after an end (so none is
        # nested, and at most one start -- the first item -- comes before the first end), and
        # nothing else: no callback ran while it filled. So every invocation after the log's
        # first end reported nothing: that end writes what there is and clears the core's
        # flag; a later one only closes its invocation.
        # Inside the callback each Python step costs (a log holds up to 512 invocations), so
        # the passes over the log run in C (filter, map, zip); an Invocation is made only for
        # the starts something holds once the log is replayed: the last HISTORY_KEPT
        # (history's), each thread's last (its origin), the very first one (it closes init's
        # summary) and one before the first end (which closes it). Every other start only
        # counts: its invocation would be made, replaced and dropped within this replay.
        if not log:
            return
        starts = [*filter(None, log)]  # (an end is None; a start, a non-empty tuple)
        lead = log[0] is not None  # a start before the first end
        if lead and not state["active"]:
            take_logged_start(starts[0])
        if len(starts) < len(log):
            end_of_invocation()
        rest = len(starts)
        first = 1 if lead else 0
        if rest > first:
            if recorder is not None:
                made = set(range(first, rest))  # (learn: the recorder counts each start)
            else:
                made = set(range(max(first, rest - HISTORY_KEPT), rest))
                # each thread's last start (a dict made in C: the last position per thread)
                made.update(dict(zip(map(_fourth, starts), range(rest), strict=True)).values())
                if state["invocations"] == 0:
                    made.add(first)
            counted = first
            for position in sorted(made):
                if position < first:
                    continue
                state["invocations"] += position - counted  # (the starts skipped: counted only)
                state["active"] = False  # (an end came before each: see above)
                take_logged_start(starts[position])
                counted = position + 1
            state["invocations"] += rest - counted
        state["active"] = log[-1] is not None

    def take_logged_start(item: tuple[Any, ...]) -> None:
        # (the source is the core's own copy, logged only when it was plain already: exact
        # str keys, None/str/int/float/bool values -- what _plain_who keeps)
        if type(item) is tuple and len(item) == 4:
            who = item[1] if type(item[1]) is dict else {}
            start_invocation(item[0] if type(item[0]) is str else None, who, item[2], item[3])

    def on_invocation_end(args: tuple[Any, ...], caller: Any) -> Any:
        if not trusted(caller):
            return refused("sandbox.invocation_end")
        end_of_invocation()
        return None

    def end_of_invocation() -> None:
        # (also for an end the core answered itself -- nothing reported since the last end,
        # not learn: see core.defer_quiet_ends -- taken at the callback's next call)
        state["active"] = False
        end_needed(False)  # (before the summary: a report from now on is the next end's)
        inv = current[0]
        reporter.end_invocation(inv, quiet=state["quiet"])
        state["quiet"] = 0
        if recorder is not None:
            recorder.end_invocation(inv)
            recorder.flush()

    def on_flush(args: tuple[Any, ...], caller: Any) -> Any:
        if recorder is not None and trusted(caller):
            recorder.write_pending()  # the quiet invocation ends counted but not yet written
            recorder.flush()
        return None

    get_frame = _getframe

    def reported_by_installer(caller: Any) -> bool:
        # The control function's frame (the event's caller; sys.audit and the core have no
        # frames) must have been called by the installing module's top-level code: anyone
        # can call the control functions, but only a failing import in the installer's own
        # code reaches them from there.
        frame: FrameType | None = get_frame(1)
        for _ in range(8):
            if frame is None:
                return False
            if frame.f_code is caller:
                outer = frame.f_back
                return outer is not None and outer.f_code is installer_code
            frame = frame.f_back
        return False

    def on_init_failed(args: tuple[Any, ...], caller: Any) -> Any:
        if not trusted(caller):
            return refused("sandbox.init_failed")
        if phase_of() != "init" or state["invocations"]:
            return refused("sandbox.init_failed (after init)")
        if installer_code is None or not reported_by_installer(caller):
            return refused("sandbox.init_failed (not from the installing module)")
        state["init_failed"] = True  # the runtime will post the init error itself
        return None

    def on_setattr(args: tuple[Any, ...], caller: Any) -> Any:
        # Rewriting the code or defaults of any of the sandbox's functions would change what
        # it does: refused in every mode (learning does not excuse disabling the sandbox).
        # Exact types only: no __eq__ of the name, no __getattr__ of the target runs here.
        if len(args) >= 2 and type(args[1]) is str and args[1] in protected_names:
            target = args[0]
            code = _code_of(target) if args[1] != "__class__" else None
            if (code is not None and id(code) in control_ids) or _is_own(target):
                error = violate(
                    "code",
                    "tamper",
                    type(target).__name__ + "." + args[1],
                    phase_of(),
                    None,
                    "the sandbox's own code",
                )
                return error or build_violation(PermissionViolation, "code", "tamper", str(args[1]))
        return None

    def _code_of(target: Any) -> Any:
        # A plain function's code (a slot of the function type: nothing of the target's runs).
        return target.__code__ if type(target) is function_type else None

    def _is_own(target: Any) -> bool:
        code = _code_of(target)
        return code is not None and id(code) in code_module.OWN_IDS

    function_type = type(_is_own)

    def authorize(action: int, arg1: Any, arg2: Any, database: Any, source: Any) -> int:
        # SQLite's authorizer, called outside the hook for every statement's every step: an
        # ATTACH's name goes to the hook in an event (a refusal raises here, and SQLite
        # refuses the statement), and so does the folder a PRAGMA temp_store_directory names.
        # Sealed (sealing.py): what a profiler sees of its frame are C functions and
        # constants, nothing that leads to the sandbox's decisions, and no cell to rewrite.
        tools: Any = "\x00sealed:tools"
        audit, event, failure, folder_pragmas, folder_tag, lower, str_type, type_of = tools
        # (literals, not names of the enclosing function: those would be closure cells)
        pragma, attach, authorized, denied = 19, 24, 0, 1  # SQLITE_PRAGMA, _ATTACH, _OK, _DENY
        if action == 31:  # SQLITE_FUNCTION: fts3_tokenizer (built in some SQLites) takes and
            # hands out raw addresses, native code from SQL (red team 73): denied
            if type_of(arg2) is str_type and lower(arg2) == "fts3_tokenizer":
                return denied
            return authorized
        if action == pragma:
            if type_of(arg1) is not str_type or lower(arg1) not in folder_pragmas or arg2 is None:
                return authorized  # (any other pragma, or one that only asks)
            try:
                audit(event, arg2, folder_tag)
            except failure:
                return denied
            return authorized
        if action != attach:
            return authorized
        try:
            audit(event, arg1)
        except failure:
            return denied
        return authorized

    sealed_authorizer = sealed(
        authorize,
        tools=(
            _audit,
            SQLITE_EVENT,
            Exception,
            SQLITE_FOLDER_PRAGMAS,
            SQLITE_FOLDER,
            str.lower,
            str,
            type,
        ),
    )
    # What the connections get: the native core answers every step that is not an ATTACH in
    # C (no Python call), and hands an ATTACH to the sealed authorizer (the Python core: it
    # is the sealed authorizer itself).
    installed_authorizer = core.sqlite_authorizer(sealed_authorizer)

    def trampoline(frame: Any, event: str, arg: Any) -> None:
        # The one-shot profile function sys.getprofile() may show: it holds nothing of the
        # sandbox (sealed); the work happens in the hook, at the event it raises.
        audit: Any = "\x00sealed:audit"
        audit("\x00sealed:flush_event")

    sealed_trampoline = sealed(trampoline, audit=_audit, flush_event=SQLITE_FLUSH_EVENT)
    trampoline_code = sealed_trampoline.__code__  # (read once, outside the callback)

    def on_sqlite_handle(args: tuple[Any, ...], caller: Any) -> Any:
        if args:
            guard_connection(
                args[0], None, sealed_trampoline, from_event=True, authorizer=installed_authorizer
            )
        return None

    def on_sqlite_flush(args: tuple[Any, ...], caller: Any) -> Any:
        if caller is not None and caller is trampoline_code:
            flush_pending()  # (the previous profile function is put back, not called here)
        return None

    native_core = core.KIND == "native"

    def on_sqlite_refused(args: tuple[Any, ...], caller: Any) -> Any:
        # The native core's own refusal, reported (only the core hands it over: an audit
        # event of that name is refused in C; the Python core never makes one)
        if not native_core:
            return refused(SQLITE_REFUSED_EVENT)
        what = args[0] if args and type(args[0]) is str else "?"
        return violate("code", "tamper", "sqlite: " + what, phase_of(), None, "SQLite's guard")

    handlers: dict[str, Callable[[tuple[Any, ...], Any], Any]] = {
        "sandbox.status": on_status,
        "sandbox.phase": on_phase,
        "sandbox.invocation": on_invocation,
        "sandbox.invocation_end": on_invocation_end,
        "sandbox.flush": on_flush,
        "sandbox.init_failed": on_init_failed,
        "object.__setattr__": on_setattr,
        # (deleting a function's defaults: the same tamper, raised under another name)
        "object.__delattr__": on_setattr,
        "sqlite3.connect/handle": on_sqlite_handle,
        SQLITE_FLUSH_EVENT: on_sqlite_flush,
        SQLITE_REFUSED_EVENT: on_sqlite_refused,
    }
    # (the native core guards connections itself: what it installs, and what a profiler sees)
    sqlite_parts = (installed_authorizer, sealed_trampoline)
    return handlers, sealed_authorizer, replay_invocations, sqlite_parts


def _import_guard() -> Any:
    """The first ``sys.meta_path`` finder: ``importlib.import_module`` raises no import event.

    It raises an audit event of its own, so the decision runs inside the core like any other
    (and a refusal surfaces from here as the ``ImportViolation`` the hook returns).
    """
    own_code: list[Any] = []

    # Sealed (see sealing.py): the finder sits in sys.meta_path for anyone to read, so its
    # functions have empty globals and hold what they use as constants of their code -- a
    # closure cell could be rewritten with no audit event (red team 43). The native core
    # answers "known?" in C; the Python core's answer is a function of that core's state, so
    # its constants lead there (red team 42): one more way to the state the Python core cannot
    # keep out of reach (its private classes are listed by type.__subclasses__ too), kept
    # because without it every import under that core is asked by event (`import boto3`
    # 1.00x -> 1.46x its cost without the sandbox, measured).
    def find_spec(fullname: str, path: Any = None, target: Any = None) -> None:
        known: Any = "\x00sealed:known"
        audit: Any = "\x00sealed:audit"
        event: Any = "\x00sealed:event"
        ask: Any = "\x00sealed:ask"
        if known(fullname):
            # Allowed before (the decision cache), or below a module verdict: no event, the
            # same answer. (Only an exact str is looked at; no method of it runs.)
            return None
        try:
            audit(event, fullname, None)
        except ask:
            # Refused: could anything load it? The other finders answer, here, outside the
            # hook (their code runs audited like the function's); the answer only decides
            # whether the refusal is reported and learned.
            meta_path: Any = "\x00sealed:meta_path"
            to_list: Any = "\x00sealed:to_list"
            attribute: Any = "\x00sealed:attribute"
            own_code: Any = "\x00sealed:own_code"
            failure: Any = "\x00sealed:failure"
            found = False
            for finder in to_list(meta_path):
                method = attribute(finder, "find_spec", None)
                if method is None or attribute(method, "__code__", None) in own_code:
                    continue
                try:
                    if method(fullname, path, target) is not None:
                        found = True
                        break
                except failure:
                    found = True
                    break
            audit(event, fullname, found)
        return None

    def invalidate_caches() -> None:
        return None

    sealed_find_spec = sealed(
        find_spec,
        known=core.import_known,
        audit=_audit,
        event=IMPORT_EVENT,
        ask=type(ASK_FINDERS),  # the class of the very instance the hook returns
        meta_path=sys.meta_path,
        to_list=list,
        attribute=getattr,
        own_code=own_code,  # (a list only its code holds: reading __code__ is audited)
        failure=Exception,
    )
    own_code.append(sealed_find_spec.__code__)
    finder_class = type(
        "SandboxFinder",
        (),
        {
            "__slots__": (),
            "find_spec": staticmethod(sealed_find_spec),
            "invalidate_caches": staticmethod(sealed(invalidate_caches)),
        },
    )
    return finder_class()


class AskFinders(ImportError):
    """The guard's cue to ask the finders whether a refused module could load (internal)."""


ASK_FINDERS = AskFinders("lambda-sandbox: asking the finders")
_stat = __import__("os").stat
_listdir = __import__("os").listdir
_time_ns = __import__("time").time_ns
_NO_NAMES: frozenset[str] = frozenset()
_A_FILE: frozenset[str] = frozenset({"/"})  # names_in's answer for a file (no name has a "/")
_NO_FINDER = object()  # (lookup's default: no finder held at install for an entry)
_SETTLED_NS = 2_000_000_000  # older than any file system's clock tick (FAT's is 2 s)
_MAX_LISTINGS = 64  # directories kept (the import path rarely has more than a dozen)


def _exists(path: str) -> bool:
    try:
        _stat(path)
    except (OSError, ValueError):
        return False
    return True
