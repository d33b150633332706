"""The audit hook's core in pure Python: the semantics of the native ``_core``, state reachable.

Same contract as the C extension (see ``docs/NATIVE.md``), used where the extension cannot
load or ``SANDBOX_NATIVE=off``. Its limits, shown by the tests and not closable in Python:

* its state (names, mode, phase, cache, callback) lives in closure cells and a
  ``threading.local``: code that walks ``gc.get_objects()`` finds and can rewrite it;
* the hook is a Python function: setting ``__cantrace__`` on it (found through gc) lets
  ``sys.settrace`` observe the callback;
* asynchronous signals are not blocked (``signal.pthread_sigmask`` runs pending handlers
  itself, inside the hook), so a Python signal handler may run inside the callback;
* an exception returned by the callback is raised by the Python hook, whose frame is the
  innermost entry of the caller's traceback.
"""

from __future__ import annotations

import _thread
import gc
import sys

from .values import (
    SHAPE_FILE,
    _exact_str_keys,
    _lookup,
    as_int,
    forget_frames,
    fs_encodable,
    makes_new_only,
    open_actions,
    stat_identity,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from os import stat_result
    from types import CodeType, FrameType
    from typing import Any

    Callback = Callable[[str, tuple[Any, ...], CodeType | None], BaseException | None]

__all__ = [
    "cache_add",
    "cache_clear",
    "cache_has",
    "caller_local",
    "changes",
    "changes_elsewhere",
    "compile_to_tree",
    "compile_verdict_add",
    "core_dumps_off",
    "defer_quiet_ends",
    "deployment_folder",
    "deployment_rules",
    "descriptor_hold",
    "descriptors_pinned",
    "dir_module_verdict_add",
    "dir_verdict_add",
    "end_needed",
    "ends_deferred",
    "enter_invoke",
    "exec_verdict_add",
    "file_identity",
    "file_is",
    "forgotten",
    "fork_exec_sealed",
    "frame_local",
    "hide_copies",
    "import_known",
    "inside",
    "install",
    "installed",
    "loaded_sources",
    "mode",
    "module_bytecode_rules",
    "module_exec_rules",
    "module_packages_add",
    "module_verdict_add",
    "network_verdict_add",
    "open_cache_add",
    "open_cache_clear",
    "open_cache_forget",
    "open_cache_validate",
    "pattern_verdict_add",
    "phase",
    "plain_identity",
    "popen_verdict_add",
    "request_env",
    "seal_clock",
    "seal_compilers",
    "seal_extensions",
    "seal_fork_exec",
    "seal_library_files",
    "seal_marshal",
    "seal_process_calls",
    "seal_resolvers",
    "seal_socket_addresses",
    "seal_spawn_env",
    "seal_sqlite",
    "seal_types",
    "sem_sealed",
    "shm_sealed",
    "sqlite_authorizer",
    "sqlite_companions_add",
    "sqlite_open_guard",
    "ssl_sealed",
    "syntax_classes",
]

CACHE_LIMIT = 8192
OPEN_CACHE_LIMIT = 4096
OPEN_PATH_MAX = 4096
OPEN_MODE_MAX = 7
MAX_NESTING = 8
IMPORT_NAME_MAX = 1024
MODULE_VERDICT_LIMIT = 1024
PACKAGE_NAME_MAX = 255  # a package verdict's top-level name (one file name's length at most)
_PACKAGE = 2  # a package verdict's kind in the module verdicts (False, True: the prefix kinds)
_IMPORT_KEY = "modules\x1fimport\x1f"  # the hook's decision-cache key of an import, less phase
_LONG_LONG = 1 << 63

_CodeType = type((lambda: None).__code__)
_FunctionType = type(lambda: None)
_type_of = type
_type_name_of = type.__dict__["__name__"].__get__  # (a class's own __name__, no metaclass code)


def _type_name(obj: object) -> str:
    name = _type_name_of(_type_of(obj))
    return name if _type_of(name) is str else "an exception"


# Bound at import: no function here looks a module up at call time (code in the function
# could rebind ``sys.audit`` or ``gc.disable``; the hook's freezing refuses such lookups).
_getframe = sys._getframe
_get_ident = _thread.get_ident
_audit = sys.audit
_addaudithook = sys.addaudithook
_gc_disable, _gc_enable, _gc_isenabled = gc.disable, gc.enable, gc.isenabled
# What the hook's own frame lookup raises (sys._getframe; f_code is an audited attribute):
# the only events ignored while it looks.
_FETCH_EVENTS = frozenset({"sys._getframe", "object.__getattr__"})
# (a traceback's frame and a frame's code, through their own descriptors: no class of anyone's)
_TracebackType = __import__("types").TracebackType
_tb_frame = _TracebackType.__dict__["tb_frame"].__get__
_frame_code = __import__("types").FrameType.__dict__["f_code"].__get__
_stat = __import__("os").stat
_realpath = __import__("os").path.realpath  # (install-time only: resolved_path)
try:  # the C SHA-256 of the standard library (not OpenSSL's: ~2 ms to load)
    _sha256 = __import__("_sha2").sha256  # 3.12+
except ImportError:  # pragma: no cover - 3.10, 3.11
    _sha256 = __import__("_sha256").sha256
_mmap = __import__("mmap").mmap
_clock_gettime = __import__("time").clock_gettime
_CLOCK_BOOTTIME = getattr(__import__("time"), "CLOCK_BOOTTIME", 7)
_MAP_SHARED = __import__("mmap").MAP_SHARED
_lstat = __import__("os").lstat
_fstat = __import__("os").fstat
_pread = __import__("os").pread
_marshal_loads = __import__("marshal").loads
_readlink = __import__("os").readlink
_inet_pton = __import__("_socket").inet_pton
_SOCKET_TYPE = __import__("_socket").socket
_sock_family = _SOCKET_TYPE.__dict__["family"].__get__  # the C member: a raw int
# (a socket's type without its SOCK_NONBLOCK / SOCK_CLOEXEC flags, as the decoder masks it)
_SOCK_TYPE_MASK = ~(
    getattr(__import__("_socket"), "SOCK_NONBLOCK", 0)
    | getattr(__import__("_socket"), "SOCK_CLOEXEC", 0)
)
NET_VERDICT_LIMIT = 64
NET_HOST_MAX = 253  # (a DNS name's longest text; an address literal is shorter)
_NET_RESOLVE = 2  # (the third kind of network verdict: a name's lookup)
_NET_AWS = 3  # (and the botocore interposer's sandbox.aws event)
_IP_FAMILIES = (__import__("_socket").AF_INET, __import__("_socket").AF_INET6)
_O_RDONLY = __import__("os").O_RDONLY
_O_WRITE_NEW = __import__("os").O_WRONLY | __import__("os").O_CREAT  # (the core's synthetic open)
_O_READ_WRITE_NEW = __import__("os").O_RDWR | __import__("os").O_CREAT
_INT_MAX = 2**31 - 1
# The audit event by which a copy of the native core that is not installed announces each of
# its install-time calls (the native core's announce_core_call): refused once a core is.
CORE_CALL_EVENT = "sandbox.core"
_S_ISDIR = __import__("stat").S_ISDIR
_S_ISLNK = __import__("stat").S_ISLNK
_ENOENT_CODE = __import__("errno").ENOENT
_ENOTDIR_CODE = __import__("errno").ENOTDIR
_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()
_os_open = __import__("os").open
_os_close = __import__("os").close
# One directory looked up in another, never through a link (see _plain_lstat).
_O_PLAIN_DIR = (
    __import__("os").O_PATH
    | __import__("os").O_DIRECTORY
    | __import__("os").O_NOFOLLOW
    | __import__("os").O_CLOEXEC
)
_str_isascii = str.isascii
_str_partition = str.partition
_str_rfind = str.rfind
_str_endswith = str.endswith
_str_find = str.find
_S_ISREG = __import__("stat").S_ISREG
_S_ISCHR = __import__("stat").S_ISCHR
_S_ISBLK = __import__("stat").S_ISBLK
_os = __import__("os")
_MODULE_SUFFIXES = (".py", ".pyc", ".pyi", ".so", ".pth", ".zip")
_DIR_VERDICT = "\x00dir"  # the mode of a directory verdict's key (no open has it)
_DIR_MODULE_READS = 2  # its "flags" for reading module files (0 read, 1 write)
del _os


# Pattern verdicts (see _core.c's pattern_find): (directory, glob, action, depth, phase) →
# (kind, dev, ino) of the directory. Actions: 0 read, 1 write, _LIST list.
PATTERN_LIMIT = 64
# Whether another thread has a change in flight (set at install; see changes_elsewhere()).
_IN_FLIGHT: list[Callable[[], bool]] = [lambda: False]
# The count of audited name changes (set at install; see changes()).
_CHANGE_COUNT: list[Callable[[], int]] = [lambda: 0]
_LIST = 3


def _glob_name_matches(glob: str, name: str) -> bool:
    """The native core's glob_name_matches: ``*`` any run of characters, ``?`` any one."""
    gi = si = mark = 0
    star = -1
    gn, n = len(glob), len(name)
    while si < n:
        if gi < gn and (glob[gi] == "?" or (glob[gi] != "*" and glob[gi] == name[si])):
            gi += 1
            si += 1
        elif gi < gn and glob[gi] == "*":
            star = gi
            gi += 1
            mark = si
        elif star >= 0:
            gi = star + 1
            mark += 1
            si = mark
        else:
            return False
    while gi < gn and glob[gi] == "*":
        gi += 1
    return gi == gn


def _plain_lstat(path: str) -> tuple[stat_result | None, stat_result] | None:
    """The native core's ``plain_lstat``: ``(lstat of the name, fstat of its directory)``, the
    name looked up in its directory reached with no link on the way (one ``openat`` with
    ``O_NOFOLLOW`` per component); the name's part ``None`` when it is not there; ``None``
    when neither can be said (a link, ``.``, ``..`` or an empty component on the way, an
    error). Why: a kept answer's identity must be the very file the decision was about, not
    whatever a swapped link leads to when it is taken (see ``_core.c``)."""
    cut = _str_rfind(path, "/")
    leaf = path[cut + 1 :]
    if cut < 0 or path[:1] != "/" or not leaf or leaf == "." or leaf == "..":
        return None
    parts = path[1:cut].split("/") if cut > 0 else []
    for part in parts:
        if not part or part == "." or part == "..":
            return None
    own = _OWN_LOOKUP
    ident = _get_ident()
    was = ident in own
    own[ident] = True
    try:
        try:
            fd = _os_open("/", _O_PLAIN_DIR)
        except (OSError, ValueError):
            return None
        try:
            for part in parts:
                inner = _os_open(part, _O_PLAIN_DIR, dir_fd=fd)
                _os_close(fd)
                fd = inner
            folder = _fstat(fd)
            try:
                return (_stat(leaf, dir_fd=fd, follow_symlinks=False), folder)
            except FileNotFoundError:
                return (None, folder)
        except (OSError, ValueError):
            return None
        finally:
            _os_close(fd)
    finally:
        if not was:
            del own[ident]


# The threads in :func:`_plain_lstat` now (their O_PATH directory opens pass the hook). A dict
# of exact ints: the installed hook and the lookups it calls are frozen copies, which share a
# private copy of it (the function can neither reach it nor make its lookup run code).
_OWN_LOOKUP: dict[int, bool] = {}


def _pattern_find(
    patterns: dict[tuple[str, str, int, int, str], tuple[int, int, int]],
    directory: str,
    name: str,
    action: int,
    depth: int,
    phase: str,
    validate: bool,
) -> tuple[int, int, int] | None:
    """The identity of a still-valid pattern verdict covering ``directory``/``name``, or None."""
    if not name or name == "." or name == ".." or "\n" in name or "/" in name:
        return None
    for (folder, glob, code, level, when), identity in tuple(patterns.items()):
        if (code, level, when, folder) != (action, depth, phase, directory):
            continue
        if not _glob_name_matches(glob, name):
            continue
        if validate:
            if identity[0] != 1:
                continue
            try:
                st = _stat(folder)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) != identity[1:]:
                continue
        return identity
    return None


def _pattern_for_name(
    patterns: dict[tuple[str, str, int, int, str], tuple[int, int, int]],
    path: str,
    action: int,
    phase: str,
    validate: bool,
) -> tuple[int, int, int] | None:
    """A depth-0 pattern verdict for the name ``path`` (absolute, plain)."""
    if not patterns:
        return None
    cut = _str_rfind(path, "/")
    return _pattern_find(patterns, path[:cut] or "/", path[cut + 1 :], action, 0, phase, validate)


def _kept_unless_changed(table: dict[Any, Any], key: Any, value: Any, before: int) -> None:
    """Keep ``table[key] = value`` unless a name changed since ``before`` (the count of changes
    when the walk that found it began) or another thread has a change in flight.

    Kept first, then tested, then taken back: in Python a signal handler can run between any
    two steps (the native core's C cannot be interrupted so). A change the handler makes after
    the store forgets the entry itself; one made before the test is seen by it (a test, then a
    store, left a window between the two: red team 40).
    """
    table[key] = value
    if _CHANGE_COUNT[0]() != before or _IN_FLIGHT[0]():
        table.pop(key, None)


def _folder_verdict(
    directory: str,
    action: int,
    phase: str,
    table: dict[tuple[str, str | None, int, str], tuple[int, int, int]],
    patterns: dict[tuple[str, str, int, int, str], tuple[int, int, int]],
    validate: bool,
    dirs: list[int],
) -> tuple[int, int, int] | None:
    """The native core's dir_verdict_for: the folder's verdict, or one a depth-1 pattern
    gives it now (the folder a directory, not a link: kept in the table)."""
    key = (directory, _DIR_VERDICT, action, phase)
    entry = table.get(key)
    if entry is not None and (not validate or (entry[0] and _open_still_valid(directory, entry))):
        return entry
    if action == _DIR_MODULE_READS or not patterns or len(directory) < 2 or _IN_FLIGHT[0]():
        return None  # (another thread's change in flight: nothing taken that would be kept)
    cut = _str_rfind(directory, "/")
    pattern = _pattern_find(
        patterns, directory[:cut] or "/", directory[cut + 1 :], action, 1, phase, validate
    )
    if pattern is None:
        return None
    before = _CHANGE_COUNT[0]()  # (a change during the lstat below: nothing kept)
    if validate:
        # The folder looked at inside the pattern's own folder, no link on the way.
        plain = _plain_lstat(directory)
        if plain is None or pattern[0] != 1:
            return None
        found_st, parent = plain
        if found_st is None or (parent.st_dev, parent.st_ino) != pattern[1:]:
            return None
        st = found_st
    else:
        try:
            st = _lstat(directory)
        except (OSError, ValueError):
            return None
    if not _S_ISDIR(st.st_mode):
        return None
    found = (1, st.st_dev, st.st_ino)
    if key not in table:
        if len(table) >= OPEN_CACHE_LIMIT:
            table.clear()
            patterns.clear()
            dirs[0] = 0
        dirs[0] += 1
    table[key] = found
    if _CHANGE_COUNT[0]() != before and table.pop(key, None) is not None:
        # A name changed while the folder was looked at (this fast path is Python: a signal
        # handler can run in it, red team 40): the answer holds for this call only. Kept
        # first, then taken back: a change after the test forgets it (see _kept_unless_changed).
        dirs[0] -= 1
    return found


EXEC_VERDICT_LIMIT = 32
COMPILE_VERDICT_LIMIT = 32
COMPILE_SOURCE_MAX = 65536  # the shape decoder's own limit
COMPILE_NAME_MAX = 1024


def _compile_key(args: Any) -> tuple[Any, str] | None:
    """The native core's ``compile_key_of``: (source, file name) of a ``compile`` event when
    the source is an exact ``str`` or ``bytes`` of at most 262,144 bytes of code units (a str
    stores 1, 2 or 4 a character) and the file name an exact ASCII ``str`` of 1-1024
    characters, not absolute, with no NUL."""
    if type(args) is not tuple or len(args) < 2:
        return None
    source, name = args[0], args[1]
    limit = COMPILE_SOURCE_MAX * 4  # bytes of code units, as the native core counts them
    if type(source) is str:
        if len(source) * 4 > limit:
            widest = max(source)
            width = 1 if widest <= "\xff" else 2 if widest <= "\uffff" else 4
            if len(source) * width > limit:
                return None
    elif type(source) is not bytes or len(source) > limit:
        return None
    if type(name) is not str or not 1 <= len(name) <= COMPILE_NAME_MAX or not name.isascii():
        return None
    if name[0] == "/" or "\x00" in name:
        return None
    return source, name


def _exec_key(args: Any) -> tuple[Any, ...] | None:
    """The native core's ``exec_key_of``: the exec-verdict key of a fork_exec event's
    arguments, or ``None`` (not the plain kind the table holds). Its last item: the program."""
    if type(args) is not tuple or not (len(args) == 3 or (len(args) == 5 and args[4] is False)):
        return None
    candidates = args[0]
    if (type(candidates) is not list and type(candidates) is not tuple) or len(candidates) != 1:
        return None
    program = candidates[0]
    if type(program) is not bytes or not 2 <= len(program) <= OPEN_PATH_MAX:
        return None
    if program[:1] != b"/" or b"\x00" in program or b"//" in program or b"/." in program:
        return None
    if program[-1:] == b"/":
        return None
    argv = _exec_items(args[1], True)
    if argv is None:
        return None
    env = args[2]
    if env is not None:
        env = _exec_items(env, False)
        if env is None:
            return None
    key: list[Any] = [len(args), program, argv, env]
    if len(args) == 5:
        cwd = args[3]
        if cwd is not None and type(cwd) is not bytes:
            if type(cwd) is not str or not _str_isascii(cwd):
                return None
            cwd = ("s", cwd)
        key.append(cwd)
    key.append(program)
    return tuple(key)


def _exec_items(items: Any, str_ok: bool) -> tuple[Any, ...] | None:
    if (type(items) is not list and type(items) is not tuple) or len(items) > 4096:
        return None
    out: list[Any] = []
    for item in items:
        if type(item) is bytes:
            out.append(item)
        elif str_ok and type(item) is str and _str_isascii(item):
            out.append(("s", item))
        else:
            return None
    return tuple(out)


def _exec_identity_holds(program: bytes, identity: tuple[int, ...]) -> bool:
    try:
        st = _stat(program)
    except (OSError, ValueError):
        return False
    return stat_identity(st) == identity


POPEN_VERDICT_LIMIT = 32
EXEC_KEY_MAX = 65536  # the native core's limit on a verdict key's bytes
_ModuleType = type(sys)
_module_dict: Any = vars(_ModuleType)["__dict__"].__get__
_dict_get = dict.get
_object_getattribute = object.__getattribute__
_CellType = type((lambda x: lambda: x)(0).__closure__[0])  # type: ignore[index]


def _popen_key(args: Any) -> tuple[str, tuple[str, ...]] | None:
    """The native core's ``popen_key_of``: (program, argv) of a ``subprocess.Popen`` event
    whose program is an exact ASCII ``str`` (absolute, 2-4096 characters, no NUL), argv a list
    or tuple of at most 4096 exact ASCII ``str``, cwd and env ``None``; else ``None``."""
    if type(args) is not tuple or len(args) != 4 or args[2] is not None or args[3] is not None:
        return None
    program, argv = args[0], args[1]
    if type(program) is not str or not 2 <= len(program) <= OPEN_PATH_MAX:
        return None
    if not _str_isascii(program) or program[0] != "/" or "\x00" in program:
        return None
    if type(argv) is not list and type(argv) is not tuple:
        return None
    items = tuple(argv)  # (a copy: the function may change its list later)
    size = 1 + 5 + len(program) + 4  # (the native key: a tag, then length-prefixed items)
    if len(items) > 4096:
        return None
    for item in items:
        if type(item) is not str or not _str_isascii(item):
            return None
        size += 5 + len(item)
    if size > EXEC_KEY_MAX:
        return None
    return program, items


def _popen_checks_valid(checks: Any) -> bool:
    """The native core's ``popen_checks_valid``: ``checks`` as processes.popen_checks builds it."""
    if type(checks) is not tuple or len(checks) != 14:
        return False
    os_dict, modules, execute_child = checks[0], checks[5], checks[6]
    environ_type, probes, plain, wrapper = checks[7], checks[8], checks[12], checks[13]
    if (
        type(os_dict) is not dict
        or type(modules) is not dict
        or type(execute_child) is not _CodeType
        or not isinstance(environ_type, type)
        or type(probes) is not tuple
        or type(plain) is not dict
    ):
        return False
    for entry in probes:
        if type(entry) is not tuple or len(entry) != 3:
            return False
        if type(entry[0]) is not dict or type(entry[1]) is not str:
            return False
    if wrapper is None:
        return True
    return (
        type(wrapper) is tuple
        and len(wrapper) == 6
        and type(wrapper[0]) is dict
        and type(wrapper[2]) is _CellType
        and type(wrapper[4]) is _CellType
    )


def _popen_checks_hold(
    checks: tuple[Any, ...], caller: Any, frame: Any, program: str, identity: tuple[int, ...]
) -> bool:
    """The native core's ``popen_helpers_hold``, ``popen_environ_holds`` and
    ``popen_plain_holds``: every object the Popen decision read is as it was (see
    ``popen_verdict_add``)."""
    os_dict, get_exec_path, fsencode, join, dirname, modules, execute_child = checks[:7]
    environ_type, probes, decodekey, decodevalue, dict_attribute, plain, wrapper = checks[7:]
    get = _dict_get
    if (
        not _exact_str_keys(os_dict)
        or get(os_dict, "get_exec_path") is not get_exec_path
        or get(os_dict, "fsencode") is not fsencode
    ):
        return False
    path = get(os_dict, "path")
    if type(path) is not _ModuleType:
        return False
    path_dict = _module_dict(path)
    if (
        not _exact_str_keys(path_dict)
        or get(path_dict, "join") is not join
        or get(path_dict, "dirname") is not dirname
    ):
        return False
    if not _exact_str_keys(modules):
        return False
    subprocess = get(modules, "subprocess")
    if type(subprocess) is _ModuleType:
        space = _module_dict(subprocess)
        if not _exact_str_keys(space):
            return False
        its_os = get(space, "os")
        if type(its_os) is not _ModuleType or _module_dict(its_os) is not os_dict:
            return False
        if wrapper is not None:
            posix, sealed, audit_cell, audit, original_cell, original = wrapper
            if (
                get(space, "_fork_exec") is not sealed
                or not _exact_str_keys(posix)
                or get(posix, "fork_exec") is not sealed
                or audit_cell.cell_contents is not audit
                or original_cell.cell_contents is not original
            ):
                return False
    if caller is execute_child:
        if frame is None:
            return False
        fds = frame_local(frame, "pass_fds")
        if type(fds) is not tuple and type(fds) is not list:
            return False
        for fd in fds:
            if type(fd) is not int:
                return False
        if frame_local(frame, "preexec_fn") is not None:
            return False
    environ = get(os_dict, "environ")
    if type(environ) is not environ_type:
        return False
    for namespace, name, expected in probes:
        if not _exact_str_keys(namespace) or get(namespace, name) is not expected:
            return False
    if _lookup(environ_type, "__dict__") is not dict_attribute:
        return False
    # (the attribute is the original descriptor: it gives the instance's own dict, no code)
    data = found_key = found_value = None
    for key, value in _dict_items(_object_getattribute(environ, "__dict__")):
        if type(key) is str:
            if key == "_data":
                data = value
            elif key == "decodekey":
                found_key = value
            elif key == "decodevalue":
                found_value = value
    if type(data) is not dict or found_key is not decodekey or found_value is not decodevalue:
        return False
    if not _exact_str_keys(plain):
        return False
    held = get(plain, program)
    if type(held) is not tuple or held != identity:  # (exact ints both: no code runs)
        return False
    try:
        st = _stat(program)
    except (OSError, ValueError):
        return False
    return stat_identity(st) == identity


LOADED_LIMIT = 1024


def _init_module_read(args: Any, prefixes: tuple[str, ...]) -> str | None:
    """The native core's ``init_module_read`` (its frame and phase tests made by the caller):
    the source to note for a read of a module file under a module root, or ``None``."""
    key = _open_key(args, "init")
    if key is None:
        return None
    path, mode, flags, _ = key
    reads, writes = open_actions(mode, flags)
    if not reads or writes or not _str_endswith(path, _MODULE_SUFFIXES):
        return None
    if "/../" in path or "/./" in path or not any(path.startswith(p) for p in prefixes):
        return None
    try:
        if not _S_ISREG(_lstat(path).st_mode):
            return None  # (a link: its name says nothing of what it leads to)
    except (OSError, ValueError):
        return None
    directory, _, leaf = path.rpartition("/")
    if _str_endswith(path, ".pyc") and _str_endswith(directory, "/__pycache__"):
        return directory[: -len("/__pycache__")] + "/" + leaf.split(".", 1)[0] + ".py"
    return path


def _init_module_list(args: Any, prefixes: tuple[str, ...]) -> bool:
    """The native core's ``init_module_list`` (its frame and phase tests made by the caller):
    an ``os.listdir`` of a module folder the files decoder answers None for at init."""
    if type(args) is not tuple or len(args) != 1:
        return False
    path = args[0]
    if type(path) is not str or not _str_isascii(path):
        return False
    return _plain_module_folder(path, prefixes)


def _plain_module_folder(path: str, prefixes: tuple[str, ...]) -> bool:
    """An absolute name with no "." or ".." segment, no doubled or trailing slash, at or below
    a module root (``prefixes``: each root and its "/"), that is a folder itself (no link)."""
    if not 2 <= len(path) < 4096 or path[0] != "/" or path[-1] == "/" or "\x00" in path:
        return False
    if "//" in path or "/./" in path or "/../" in path or _str_endswith(path, ("/.", "/..")):
        return False
    below = path + "/"
    if not any(below.startswith(prefix) for prefix in prefixes):
        return False
    try:
        return bool(_S_ISDIR(_lstat(path).st_mode))
    except (OSError, ValueError):
        return False


def _lookup_of_literal(args: Any) -> bool:
    """The native core's ``lookup_of_literal``: a lookup of ``None`` or of an exact ASCII
    ``str`` or ``bytes`` that is an IPv4 or IPv6 literal as given (the network decoder answers
    None)."""
    if type(args) is not tuple or not args:
        return False
    host = args[0]
    if host is None:
        return True
    if type(host) is bytes and host.isascii():
        host = host.decode("ascii")
    if type(host) is not str or not 2 <= len(host) <= 45 or not _str_isascii(host):
        return False
    if "\x00" in host:
        return False
    for family in _IP_FAMILIES:
        try:
            _inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return True
    return False


def _open_key(args: tuple[Any, ...], phase: str) -> tuple[str, str | None, int, str] | None:
    """The open cache's key of an ``open`` event's arguments, or ``None`` (not held).

    The native core's rule: exact types only (no method of an argument runs), an absolute
    ASCII path of at most PATH_MAX characters without NUL, a short ASCII mode or ``None``.
    """
    if type(args) is not tuple or len(args) != 3:
        return None
    path, mode, flags = args
    if type(path) is not str or type(flags) is not int:
        return None
    if not path or len(path) > OPEN_PATH_MAX or path[0] != "/" or "\x00" in path:
        return None
    if not _str_isascii(path) or not -_LONG_LONG <= flags < _LONG_LONG:
        return None
    if mode is not None and (
        type(mode) is not str or len(mode) > OPEN_MODE_MAX or not _str_isascii(mode)
    ):
        return None
    return (path, mode, flags, phase)


def _dir_verdict(
    key: tuple[str, str | None, int, str],
    table: dict[tuple[str, str | None, int, str], tuple[int, int, int]],
    validate: bool,
    patterns: dict[tuple[str, str, int, int, str], tuple[int, int, int]],
    dirs: list[int],
) -> tuple[int, int, int] | None:
    """The native core's ``dir_verdict_allows``: the identity to keep for an ``open`` a
    directory (or pattern) verdict allows, or ``None`` (the callback decides)."""
    path, mode, flags, phase = key
    module_file = _str_endswith(path, _MODULE_SUFFIXES)
    cut = _str_rfind(path, "/")
    leaf = path[cut + 1 :]
    if not leaf or leaf == "." or leaf == ".." or "\n" in leaf:
        return None  # (a newline: the rules' "**" does not match it)
    directory = path[:cut] or "/"
    accesses = open_actions(mode, flags)
    if not accesses[0] and not accesses[1]:
        return None
    # Each access needs the folder's verdict or a depth-0 pattern for the name; once
    # validating, each one's folder identity, which the name's own lookup must find again.
    folder = (0, 0, 0)
    checked: tuple[int, int, int] | None = None
    for action, needed in enumerate(accesses):
        if not needed:
            continue
        entry = _folder_verdict(directory, action, phase, table, patterns, validate, dirs)
        if entry is not None:
            folder = source = entry
        else:
            pattern = _pattern_for_name(patterns, path, action, phase, validate)
            if pattern is None:
                return None
            source = pattern
        if validate:
            if source[0] != 1 or (checked is not None and checked != source):
                return None
            checked = source
    if module_file:
        # Only read, and only where the callback said module files are plain files.
        if accesses[1]:
            return None
        found = table.get((directory, _DIR_VERDICT, _DIR_MODULE_READS, phase))
        if found is None or (validate and not (found[0] and _open_still_valid(directory, found))):
            return None
    if validate:
        # The name looked at inside the very folder the verdict holds for (_plain_lstat).
        plain = _plain_lstat(path)
        if plain is None or checked is None:
            return None
        found_st, parent = plain
        if (1, parent.st_dev, parent.st_ino) != checked:
            return None
        if found_st is None:
            return (2 if folder[0] == 1 else 0, folder[1], folder[2])
        st = found_st
    elif makes_new_only(flags):
        # (O_CREAT | O_EXCL makes the name or fails on anything there, a link included: no
        # lookup is needed to know it lands in this folder as a new file)
        return (2 if folder[0] == 1 else 0, folder[1], folder[2])
    else:
        try:
            st = _lstat(path)
        except FileNotFoundError:
            return (2 if folder[0] == 1 else 0, folder[1], folder[2])
        except OSError:
            return None
    if not _S_ISREG(st.st_mode) and not _S_ISDIR(st.st_mode):
        return None  # (a link, or a FIFO or device: the native core's rule, see _core.c)
    return (1, st.st_dev, st.st_ino)


def _open_still_valid(path: str, identity: tuple[int, int, int]) -> bool:
    """One ``stat`` of the name as given (its directory's when it does not exist)."""
    kind, dev, ino = identity
    try:
        st = _stat(path)
    except OSError:
        if kind != 2:
            return False
        try:
            _lstat(path)
            return False  # the name is there now (a dangling link: O_CREAT follows it)
        except OSError:
            pass
        try:
            st = _stat(path[: _str_rfind(path, "/")] or "/")
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (dev, ino)
    # (and no device node now where a file was kept, outside the system's /dev: the inode a
    # file removed with no audit event left free may be a node's now)
    return (
        kind == 1
        and (st.st_dev, st.st_ino) == (dev, ino)
        and (
            not (_S_ISCHR(st.st_mode) or _S_ISBLK(st.st_mode))
            or (path.startswith("/dev/") and not path.startswith(_OPEN_DEV_FOLDERS))
        )
    )


_OPEN_DEV_FOLDERS = ("/dev/shm/", "/dev/mqueue/")  # (in /dev, but anyone may write there)
_SQLITE_SUFFIXES = ("-journal", "-wal", "-shm", ".lock")
_HEX = frozenset("0123456789abcdefABCDEF")


def _sqlite_own_name(path: Any) -> bool:
    """Whether a name is one SQLite makes and removes itself with no audit event (the native
    core's sqlite_own_name): a database's journal, WAL and shared-memory files, its
    super-journals (``-mj`` and 8 hex digits), its temporary files (``etilqs_...``) and its
    unix-dotfile lock folders (``<db>.lock``). No answer is kept for one (red teams 70, 71).

    Example
    -------
    >>> [_sqlite_own_name(p) for p in ("/t/x.db-journal", "/t/etilqs_ab", "/t/x.db-mj0A1B2C3D")]
    [True, True, True]
    >>> _sqlite_own_name("/t/x.db"), _sqlite_own_name("/t/notes-mjournal")
    (False, False)
    """
    if type(path) is not str:
        return False
    leaf = path[path.rfind("/") + 1 :]
    return (
        leaf.startswith("etilqs_")
        or leaf.endswith(_SQLITE_SUFFIXES)
        or (len(leaf) >= 11 and leaf[-11:-8] == "-mj" and all(c in _HEX for c in leaf[-8:]))
    )


_CHANGE_EVENTS = {"os.remove": 1, "os.rmdir": 1, "os.mkdir": 2}  # → the dir_fd's index
FORGET_QUEUE_SLOTS = 64
# The current invocation's request id, in this process's environment for the children it
# starts (the native core's request_env_set).
REQUEST_ENV = "SANDBOX_REQUEST_ID"
REQUEST_ID_MAX = 128
_putenv = __import__("posix").putenv  # (raises os.putenv: the sandbox's own, see OWN_SITES)


def _request_env_value(request_id: object) -> str:
    # (as the native core: ASCII, at most 128 characters, no NUL -- which would cut it short;
    # the child takes only 1-128 printable characters other than space)
    if type(request_id) is not str or len(request_id) > REQUEST_ID_MAX:
        return ""
    if not request_id.isascii() or "\x00" in request_id:
        return ""
    return request_id


_END_EVENT = "sandbox.invocation_end"  # (an end the hook may answer: see defer_quiet_ends)
_START_EVENT = "sandbox.invocation"  # (so may the next start)
INVOCATION_LOG_LIMIT = 1024  # the native core's: a full log sends the next one to the callback
_PLAIN_SOURCE_TYPES = (str, int, float, bool)


def _plain_source_copy(who: Any) -> dict[str, Any] | None:
    """The native core's ``plain_source_copy``: a start's source copied when it is an exact
    dict of exact str keys and exact str/int/float/bool/None values, else ``None``."""
    if type(who) is not dict:
        return None
    out: dict[str, Any] = {}
    for key, value in dict.items(who):
        if type(key) is not str or (
            value is not None and not any(type(value) is k for k in _PLAIN_SOURCE_TYPES)
        ):
            return None
        out[key] = value
    return out


_CHANGE_ODD_ENDINGS = ("/.", "/..", *_MODULE_SUFFIXES)


def _change_place(path: Any, dir_fd: Any) -> tuple[str, str, int] | None:
    """The native core's ``change_place``: (the changed name, its directory, the descriptor it
    is relative to or -1), or ``None`` (the callback decides)."""
    if type(path) is not str or type(dir_fd) is not int:
        return None
    if not path or len(path) >= OPEN_PATH_MAX or not _str_isascii(path):
        return None
    if "\x00" in path or "\n" in path or not -_LONG_LONG <= dir_fd < _LONG_LONG:
        return None
    fd = -1
    if path[0] != "/":
        if not 0 <= dir_fd <= _INT_MAX:
            return None  # relative to the working directory: the callback reads it
        try:
            folder = _readlink("/proc/self/fd/" + str(dir_fd))
        except (OSError, ValueError):
            return None
        if (
            not folder
            or folder[0] != "/"
            or len(folder) >= OPEN_PATH_MAX
            or _str_endswith(folder, " (deleted)")
            or not _str_isascii(folder)
            or "\n" in folder
        ):
            return None
        path = (folder if folder != "/" else "") + "/" + path
        if len(path) >= OPEN_PATH_MAX:
            return None
        fd = dir_fd
    if (
        len(path) < 2
        or path[-1] == "/"
        or "//" in path
        or "/./" in path
        or "/../" in path
        or _str_endswith(path, _CHANGE_ODD_ENDINGS)
    ):
        return None
    return path, path[: _str_rfind(path, "/")] or "/", fd


def _change_allowed(
    place: tuple[str, str, int],
    phase: str,
    table: dict[tuple[str, str | None, int, str], tuple[int, int, int]],
    validate: bool,
    patterns: dict[tuple[str, str, int, int, str], tuple[int, int, int]],
    dirs: list[int],
    action: int = 1,
) -> bool:
    """The native core's ``change_allowed``: a write (``action`` 1) or read (0) verdict on the
    name's directory holds, or a depth-0 pattern for it on the name (and a descriptor the name
    is relative to is open on that very directory)."""
    name, directory, fd = place
    entry = _folder_verdict(directory, action, phase, table, patterns, validate, dirs)
    if entry is None:
        entry = _pattern_for_name(patterns, name, action, phase, validate)
        if entry is None:
            return False
    if fd >= 0:
        # /proc named the descriptor's directory by this very path; with an identity (once
        # answers are validated) the descriptor must be open on the verdict's directory too.
        try:
            st = _fstat(fd)
        except OSError:
            return False
        if not _S_ISDIR(st.st_mode):
            return False
        if entry[0] == 1:
            if (st.st_dev, st.st_ino) != entry[1:]:
                return False
        elif entry[0] != 0 or validate:
            return False
    return True


def _moved_elsewhere_decides(name: str, elsewhere: bool) -> bool:
    """Whether a rename of ``name`` goes to the callback (as the native core's
    ``change_answered``): a folder, wherever it goes (what it carries: ``files._moved_folder``),
    a link moved to another folder (its text read there: ``files._moved_link``), or a name
    that cannot be looked at."""
    try:
        mode = _lstat(name).st_mode
    except OSError as exc:
        return exc.errno not in (_ENOENT_CODE, _ENOTDIR_CODE)
    return bool(_S_ISDIR(mode)) or (elsewhere and bool(_S_ISLNK(mode)))


def _change_answer(
    event: str,
    args: tuple[Any, ...],
    phase: str,
    table: dict[tuple[str, str | None, int, str], tuple[int, int, int]],
    validate: bool,
    patterns: dict[tuple[str, str, int, int, str], tuple[int, int, int]],
    dirs: list[int],
) -> list[str] | None:
    """The names a remove, rmdir, mkdir or rename changes, when write verdicts cover them all
    (the native core's ``change_answered``); ``None``: the callback decides."""
    if event == "os.rename":
        if len(args) != 4:
            return None
        first = _change_place(args[0], args[2])
        second = _change_place(args[1], args[3])
        if first is None or second is None:
            return None
        if not _change_allowed(first, phase, table, validate, patterns, dirs):
            return None
        # (and read: the file is read through its new name under that name's rules)
        if not _change_allowed(first, phase, table, validate, patterns, dirs, 0):
            return None
        if not _change_allowed(second, phase, table, validate, patterns, dirs):
            return None
        if _moved_elsewhere_decides(first[0], first[1] != second[1]):
            return None
        return [first[0], second[0]]
    index = _CHANGE_EVENTS[event]
    if len(args) != index + 1:
        return None
    place = _change_place(args[0], args[index])
    if place is None or not _change_allowed(place, phase, table, validate, patterns, dirs):
        return None
    return [place[0]]


_NAMED_WRITES = frozenset({"tempfile.mkstemp", "tempfile.mkdtemp", "sqlite3.connect"})
NAMES_EVENTS = frozenset(
    {"os.listdir", "os.scandir", "shutil.rmtree", "shutil.copyfile", *_NAMED_WRITES}
)


def _names_answer(
    event: str,
    args: tuple[Any, ...],
    phase: str,
    table: dict[tuple[str, str | None, int, str], tuple[int, int, int]],
    validate: bool,
    patterns: dict[tuple[str, str, int, int, str], tuple[int, int, int]],
    dirs: list[int],
) -> list[str] | None:
    """The native core's ``names_answered``: ``[]`` (or the names whose answers to drop, for a
    copy) when the event's names are answered as opens of them would be, or a listing a
    pattern covers; ``None``: the callback decides."""
    n = len(args)

    def opens(name: Any, writes: bool, flags: int | None = None) -> bool:
        if type(name) is not str:
            return False
        if flags is None:
            flags = _O_WRITE_NEW if writes else _O_RDONLY
        key = _open_key((name, None, flags), phase)
        if key is None:
            return False
        entry = table.get(key)
        if entry is not None and (not validate or (entry[0] and _open_still_valid(name, entry))):
            return True
        before = _CHANGE_COUNT[0]()
        found = _dir_verdict(key, table, validate, patterns, dirs)
        if found is None:
            return False
        if found[0] and len(table) < OPEN_CACHE_LIMIT:
            _kept_unless_changed(table, key, found, before)
        return True

    if event == "os.listdir" or event == "os.scandir":
        return [] if n == 1 and _list_answered(args[0], phase, patterns, validate) else None
    if event == "sqlite3.connect":
        # (SQLite reads the database it opens as well: files._sqlite decides both, one lookup)
        return [] if n == 1 and opens(args[0], True, _O_READ_WRITE_NEW) else None
    if event in _NAMED_WRITES:
        return [] if n == 1 and opens(args[0], True) else None
    if event == "shutil.rmtree":
        # (path) before 3.11, (path, dir_fd) since: a dir_fd goes to the callback
        return [] if (n == 1 or (n == 2 and args[1] is None)) and opens(args[0], True) else None
    if event == "shutil.copyfile":
        if n != 2 or not opens(args[0], False) or not opens(args[1], True):
            return None
        return [args[1]]
    return None


def _list_answered(
    path: Any,
    phase: str,
    patterns: dict[tuple[str, str, int, int, str], tuple[int, int, int]],
    validate: bool,
) -> bool:
    """The native core's ``list_answered``: a listing of a folder a depth-0 list pattern
    covers (an absolute plain name, or a descriptor /proc names), a directory now."""
    if not patterns:
        return False
    held = None
    if type(path) is int:
        if not 0 <= path <= _INT_MAX:
            return False
        try:
            place = _readlink("/proc/self/fd/" + str(path))
            held = _fstat(path)
        except (OSError, ValueError):
            return False
        if not _S_ISDIR(held.st_mode):
            return False
    elif type(path) is str:
        place = path
    else:
        return False
    if (
        len(place) < 2
        or len(place) >= OPEN_PATH_MAX
        or not _str_isascii(place)
        or place[0] != "/"
        or place[-1] == "/"
        or "\x00" in place
        or "//" in place
        or "/./" in place
        or "/../" in place
        or _str_endswith(place, ("/.", "/.."))
    ):
        return False
    if _pattern_for_name(patterns, place, _LIST, phase, validate) is None:
        return False
    try:
        st = _lstat(place)
    except (OSError, ValueError):
        return False
    if not _S_ISDIR(st.st_mode):
        return False
    return held is None or (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def _identity_of(identity: tuple[int, int] | None, what: str) -> tuple[int, int, int]:
    """The native core's identity convention: (kind, dev, ino); see ``_core.c``."""
    if identity is None:
        return (0, 0, 0)
    if (
        type(identity) is not tuple
        or len(identity) != 2
        or type(identity[0]) is not int
        or type(identity[1]) is not int
    ):
        raise TypeError(f"{what}: identity must be (int, int) or None")
    dev, ino = identity
    if dev < 0:
        return (0, 0, 0)
    return (1, dev, ino) if ino >= 0 else (2, dev, -ino - 1)


class _Depth(_thread._local):
    """Per-thread depth of callback calls (0: not inside), and the hook's own frame lookup."""

    depth = 0
    fetching = False
    event_frame: Any = None  # the frame that raised the caller event being decided
    decision_phase = "init"  # the phase when the decision running on this thread started
    # This thread's audited changes of names made outside a decision, or by the sandbox's own
    # code inside one; and, when the decision running here started, every other change
    # (see _names_hold)
    own_changes = 0
    decision_changes = 0
    # The descriptors pinned by the decision running here (_pins_take)
    pins: tuple[tuple[int, int, int, int, str | None], ...] = ()


# The events whose system call resolves a name from a descriptor or acts on one: (path,
# dir_fd) argument pairs; path == dir_fd is a descriptor given for a path. (The native core's
# g_fd_events; its os.open is held so that the `open` event's dir_fd is known there: not here.)
_FD_EVENTS: dict[str, tuple[tuple[int, int], ...]] = {
    "os.mkdir": ((0, 2),),
    "os.rmdir": ((0, 1),),
    "os.remove": ((0, 1),),
    "os.rename": ((0, 2), (1, 3)),
    "os.link": ((0, 2), (1, 3)),
    "os.symlink": ((1, 2),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.utime": ((0, 3),),
    "os.mkfifo": ((0, 2),),
    "os.mknod": ((0, 3),),
    "os.truncate": ((0, 0),),
    "os.listdir": ((0, 0),),
    "os.scandir": ((0, 0),),
    "os.chdir": ((0, 0),),
    "os.setxattr": ((0, 0),),
    "os.getxattr": ((0, 0),),
    "os.removexattr": ((0, 0),),
    "os.listxattr": ((0, 0),),
    "os.exec": ((0, 0),),
}


_fd_events_get = _FD_EVENTS.get  # (a C call: no pending signal handler runs in it)


def _pin_read(fd: int) -> tuple[int, int, int, int, str | None]:
    """(fd, st_mode, st_dev, st_ino, /proc name or None); (fd, 0, 0, 0, None) if not open."""
    try:
        held = _fstat(fd)
    except OSError:
        return (fd, 0, 0, 0, None)
    try:
        name: str | None = _readlink("/proc/self/fd/" + str(fd))
    except OSError:
        name = None
    return (fd, held.st_mode, held.st_dev, held.st_ino, name)


def _descriptor(value: Any) -> int | None:
    """A descriptor argument's number (an int's stored value, a subclass's too, read as the C
    API reads it: no code of its class runs), or None."""
    number = as_int(value)
    return number if number is not None and 0 <= number <= _INT_MAX else None


def _absolute_name(path: Any) -> bool:
    kind = type(path)
    return (kind is str and path.startswith("/")) or (kind is bytes and path.startswith(b"/"))


def _pins_take(event: str, args: Any) -> tuple[tuple[int, int, int, int, str | None], ...]:
    """The native core's pins_take: what each descriptor this event's call uses names now."""
    pairs = _FD_EVENTS.get(event) if type(event) is str else None
    if pairs is None or type(args) is not tuple:
        return ()
    fds: list[int] = []
    for at, fd_at in pairs:
        if at >= len(args):
            continue
        fd = _descriptor(args[at])
        if fd is None and fd_at != at and fd_at < len(args) and not _absolute_name(args[at]):
            fd = _descriptor(args[fd_at])
        if fd is not None and fd not in fds:
            fds.append(fd)
    return tuple(_pin_read(fd) for fd in fds)


def _pins_changed(pins: tuple[tuple[int, int, int, int, str | None], ...]) -> int | None:
    for pin in pins:
        if _pin_read(pin[0]) != pin:
            return pin[0]
    return None


def _refuse(what: str) -> PermissionError:
    return PermissionError(f"lambda-sandbox: {what} refused")


# The one installed core of this process; empty until install().
_api: dict[str, Callable[..., Any]] = {}


def install(
    names: frozenset[str],
    callback: Callback,
    own_codes: Iterable[CodeType],
    mode: str,
    caller_events: frozenset[str] = frozenset(),
    block_signals: bool = True,
    invoke_only: frozenset[str] = frozenset(),
    setattr_names: frozenset[str] | None = None,
    refused_inside: frozenset[str] = frozenset(),
    inside_only: frozenset[str] = frozenset(),
    module_prefixes: tuple[str, ...] = (),
    import_codes: frozenset[CodeType] = frozenset(),
    own_sites: Iterable[tuple[str, CodeType]] | None = None,
    frame_guard: bool = False,
    setattr_codes: Iterable[CodeType] | None = None,
    hidden_codes: Iterable[CodeType] | None = None,
) -> bool:
    """Install the audit hook once per process; ``False`` (nothing changed) if already there.

    Parameters
    ----------
    names : frozenset of str
        The audit events handled; every other event returns at once.
    callback : callable
        ``callback(event, args, caller)`` returning ``None`` (allow) or an exception instance
        (raised from the hook).
    own_codes : iterable of code (a tuple: by identity)
        The sandbox's own code objects: events they raise inside the callback are ignored.
    mode : str
        Kept and returned by :func:`mode`.
    caller_events : frozenset of str
        Events whose ``caller`` argument is the raising frame's code object.
    block_signals : bool
        Accepted for the native core's signature; the Python core cannot block signals.
    invoke_only : frozenset of str
        Events that never reach the callback in the init phase (the import system and the
        code generators at work): filtered in the hook, before any other step.
    setattr_names : frozenset of str, optional
        The attribute names the callback decides an ``object.__setattr__`` on: an event of
        any other name (or of no exact ``str`` name) is answered in the hook.
    refused_inside : frozenset of str
        Events refused outright (``PermissionError``) when code that is not the sandbox's
        raises them while the callback runs (frames, objects, tracing).
    inside_only : frozenset of str
        Of ``names``, the events that are not decided at all outside the callback.
    module_prefixes : tuple of str
        The module roots (each ending in ``/``) under which an init-phase read of a module
        file by one of ``import_codes`` is answered in the hook, its source queued for
        :func:`loaded_sources` (the files decoder's ``_imports_at_init``).
    import_codes : frozenset of code
        The import system's readers (by identity).
    own_sites : iterable of (str, code) tuples, optional
        Which of ``own_codes`` raise which event inside the callback, and make which core
        call (``"core.cache_add"``...), themselves. Given, an event inside the callback is
        the sandbox's own only if its innermost frame's code raises that event itself, and a
        core call is taken only from the code that makes it (a C function called by C code
        inside the callback pushes no frame: it is not the code whose frame is innermost).
        ``None``: any of ``own_codes``, for every event and call.
    frame_guard : bool
        The native core's frame guard (no code but ``own_codes`` is evaluated inside the
        callback). The Python core cannot hold it (a Python audit hook sees no frame before it
        runs): accepted and ignored, a stated limit.
    setattr_codes : iterable of code (by identity), optional
        The code of the functions ``setattr_names`` are guarded on: given, a guarded name set on
        anything but an exact function whose code is one of these is answered in the hook too.
    hidden_codes : iterable of code (by identity), optional
        The hook's own code: a traceback's ``tb_frame`` running one of these is refused to
        the function's code (its locals lead to everything the hook decides with).

    Returns
    -------
    bool
        ``True`` if installed now.

    Example
    -------
    >>> install(frozenset({"open"}), lambda e, a, c: None, frozenset(), "learn")  # doctest: +SKIP
    True
    """
    if _api:
        return False
    if not callable(callback):
        raise TypeError("install: callback must be callable")
    if not isinstance(mode, str):
        raise TypeError("install: mode must be str")
    # (and the native core's install-time calls, announced by any copy of it that is not the
    # installed core: refused outright, see _hook)
    _names = frozenset(_strs(names, "install: names")) | {CORE_CALL_EVENT}
    _hidden_codes = tuple(_codes(hidden_codes or ()))  # (held: their ids stay theirs)
    _hidden = frozenset(id(c) for c in _hidden_codes)
    _caller_events = frozenset(_strs(caller_events, "install: caller_events"))
    _invoke_only = frozenset(_strs(invoke_only, "install: invoke_only"))
    _refused_inside = frozenset(_strs(refused_inside, "install: refused_inside"))
    _inside = [0]  # callbacks running now, all threads (a cheap test for inside_only events)
    _module_prefixes = tuple(
        p
        for p in _strs(frozenset(module_prefixes), "install: module_prefixes")
        if len(p) >= 2 and p[0] == "/" and p[-1] == "/" and _str_isascii(p)
    )[:64]
    _import_ids = frozenset(id(c) for c in _codes(frozenset(import_codes)))
    _loaded: list[str] = []  # sources of module files read at init, for loaded_sources()
    _inside_only = frozenset(_strs(inside_only, "install: inside_only"))
    _setattr_names = (
        None if setattr_names is None else frozenset(_strs(setattr_names, "install: setattr_names"))
    )
    _setattr_codes = (
        None if setattr_codes is None else frozenset(id(c) for c in _codes(setattr_codes))
    )
    # By identity: code objects compare by value, and a copy of the sandbox's code is not it.
    _own = frozenset(id(c) for c in _codes(own_codes))
    _sites = None if own_sites is None else _site_pairs(own_sites, _own)
    _mode = str(mode)
    _callback = callback
    _local = _Depth()
    _cache: set[str] = set()
    # Module verdicts: (prefix ending in ".", phase, children); see _core.c's modv_covers.
    _modv: set[tuple[str, str, int]] = set()  # (prefix or package, phase, kind: 0, 1, _PACKAGE)
    # (path, mode, flags, phase) → (kind, dev, ino); kind 0: no identity (see _core.c).
    _open: dict[tuple[str, str | None, int, str], tuple[int, int, int]] = {}
    _open_validate = [False]
    _dirs = [0]  # directory verdicts held (keys with the mode _DIR_VERDICT)
    _patterns: dict[tuple[str, str, int, int, str], tuple[int, int, int]] = {}
    _execs: dict[tuple[Any, str], tuple[int, ...]] = {}  # exec verdicts: (key, phase) → identity
    # Popen verdicts (the native core's popen_verdict): [key, phase, caller, identity], oldest
    # first, and the checks tuple of the last add.
    _popens: list[list[Any]] = []
    _popen_checks: list[Any] = [None]
    # compile verdicts (the native core's compile_verdict): (code, source, file name, phase)
    _compiles: list[tuple[Any, Any, str, str]] = []
    # network verdicts (the native core's net_verdict): (connect, phase, family, value, host);
    # and socket.py's socket.__init__ code, once one is kept
    _nets: dict[tuple[bool, str, int, int, str], None] = {}
    _socket_init: list[Any] = []
    _aws_code: list[Any] = []  # the botocore interposer's code, once an AWS call is kept
    _changes = [0]  # audited name changes seen (see changes())
    _in_flight: set[int] = set()  # threads with a change in flight (see changes_elsewhere())
    # Names changed by events answered here (see _change_answer), for the hook's path cache;
    # [True] past the bound: forget everything.
    _forgotten: list[Any] = []
    # Quiet invocation ends and the starts after them (see defer_quiet_ends): the control
    # codes' ids once deferring, whether the next end is needed by the callback, whether the
    # last start or end allowed was an end, the log of those answered here since taken.
    _quiet_codes: list[frozenset[int]] = []
    _end_needed = [False]
    _invocation_closed = [False]
    _invocation_log: list[Any] = []
    _phase = ["init"]
    # The phase as processes forked from this one see it (a page shared across fork): a
    # worker forked during init moves to invoke with its parent. None where mmap fails.
    try:
        _shared = _mmap(-1, 1, _MAP_SHARED)
    except (OSError, ValueError):
        _shared = None

    def _phase_now() -> str:
        if _phase[0] == "init" and _shared is not None and _shared[0] == 1:
            _phase[0] = "invoke"
        return _phase[0]

    _PermissionError = PermissionError
    _BaseException = BaseException
    _TypeError = TypeError
    _ValueError = ValueError
    _str = str

    def _decide(
        event: str, args: tuple[Any, ...], frame_code: CodeType | None, frame: Any = None
    ) -> None:
        if _HELD and not _local.depth:
            _HELD[:] = []  # the native core's release_held (see hold())
        caller = frame_code if event in _caller_events else None
        outer_frame = _local.event_frame
        _local.event_frame = frame if caller is not None else None
        outer_phase = _local.decision_phase
        _local.decision_phase = _phase_now()
        outer_changes = _local.decision_changes
        outer_own = _local.own_changes
        _local.decision_changes = _changes[0] - _local.own_changes
        was_enabled = _gc_isenabled()
        _gc_disable()
        _local.depth += 1
        _inside[0] += 1
        failed = None
        changed = None
        outer_pins = _local.pins
        try:
            # (inside the try, and a Python call only for the rare events that use a
            # descriptor: a call is where a pending signal handler runs, and one that raised
            # here, before the try, left the depth and the collector as set above)
            _local.pins = _pins_take(event, args) if _fd_events_get(event) else ()
            result = _callback(event, args, caller)
            pins = _local.pins  # (with the descriptors its names went through: descriptor_hold)
            if pins and result is None:
                # (here, with the collector still off: no gc callback of the function's runs
                # with this hook's frames under it, which its own-code checks would trust)
                changed = _pins_changed(pins)
        except _BaseException as exc:
            # (the native core's rule: the callback's exception, whose traceback holds its
            # frames, never leaves -- nor the frames: every exception in its chain may be one
            # the function holds (red team 113); a fresh PermissionError, raised outside this
            # handler so it has no context, names its type only)
            forget_frames(exc)
            failed = _type_name(exc)
            result = None
            del exc
        finally:
            _local.depth -= 1
            _local.event_frame = outer_frame
            _local.decision_phase = outer_phase
            _local.decision_changes = outer_changes
            _local.own_changes = outer_own  # (the native core's: to an outer decision, not its own)
            _local.pins = outer_pins
            _inside[0] -= 1
            if was_enabled:
                _gc_enable()
        if failed is not None:
            raise _PermissionError(
                f"lambda-sandbox: {event} refused (the hook failed deciding it: {failed})"
            )
        if result is None:
            if changed is not None:
                # (narrower than the native core's: bytecode runs between this look and the
                # system call, and another thread may run in between)
                raise _PermissionError(
                    f"lambda-sandbox: {event} refused (descriptor {changed} was changed while "
                    "it was decided)"
                )
            return
        if isinstance(result, _BaseException):
            result.__context__ = result.__cause__ = None
            raise result.with_traceback(None)
        raise _TypeError(
            f"lambda-sandbox: audit callback returned {type(result).__name__} "
            "(expected None or an exception)"
        )

    def _others_in_flight() -> bool:
        # (a copy first: another thread may change the set while this looks)
        return bool(_in_flight) and any(t != _get_ident() for t in tuple(_in_flight))

    _IN_FLIGHT[0] = _others_in_flight  # (for _folder_verdict, a module-level helper)
    _CHANGE_COUNT[0] = lambda: _changes[0]

    def _hook(event: str, args: tuple[Any, ...]) -> None:
        if (
            event == "object.__getattr__"
            and _hidden
            and not _local.depth
            and not _local.fetching
            and type(args) is tuple
            and len(args) == 2
            and type(args[0]) is _TracebackType
            and type(args[1]) is str
            and args[1] == "tb_frame"
        ):
            # (a frame of the hook's: the native core's frame_of_the_hook_read; read with
            # `fetching` set, so that the reads' own events pass)
            _local.fetching = True
            try:
                hidden = id(_frame_code(_tb_frame(args[0]))) in _hidden
            finally:
                _local.fetching = False
            if hidden:
                raise _PermissionError(
                    "lambda-sandbox: object.__getattr__ refused (a frame of the sandbox's hook: "
                    "its locals lead to what it decides with)"
                )
        if event not in _names and not (_inside[0] and event in _inside_only and _local.depth):
            return  # (inside_only: refused to foreign code inside the callback, else ignored)
        if event == CORE_CALL_EVENT:
            # A native core's install-time call (a seal, a kernel filter, install): the
            # extension cannot tell this core is installed, so it asks; no other core may
            # change the process once this one holds it (red team 51). Every mode.
            raise PermissionError(
                "lambda-sandbox: the sandbox's core is installed: no other core may change "
                "the process"
            )
        if (
            event == "open"
            and _OWN_LOOKUP
            and _get_ident() in _OWN_LOOKUP
            and type(args) is tuple
            and len(args) == 3
            and args[1] is None
            and args[2] == _O_PLAIN_DIR
            and type(args[0]) is _str
        ):
            # The core's own lookups in _plain_lstat (the native core makes them with no
            # event): only an O_PATH open of a directory, not followed, while this thread is
            # in one. (Such an open reads nothing: its descriptor serves as a dir_fd, and what
            # is done there is decided.)
            return
        if _in_flight and not _local.depth:
            # This thread's last audited call returned. (Cleared at its next handled event,
            # not at every event as the native core does: an ignored event stays as cheap as
            # it was; a mark kept longer only keeps other threads' answers from being kept.)
            me = _get_ident()
            if me in _in_flight:
                _in_flight.discard(me)
                # Its change was made meanwhile: that counts as a change too (the native
                # core's in_flight_clear; see _names_hold).
                _changes[0] += 1
                _local.own_changes += 1
        if (
            event in _invoke_only
            and _phase_now() == "init"
            and not _claims_module_file(event, args)
        ):
            return
        if (
            event == "open"
            and type(args) is tuple
            and len(args) == 3
            and type(args[0]) is int
            and (args[1] is None or type(args[1]) is _str)
            and type(args[2]) is int
        ):
            return  # the native core's open_wraps_descriptor: open(fd), the callback's None
        if event == "open" and (_open or _patterns):
            key = _open_key(args, _phase_now())
            entry = _open.get(key) if key is not None else None
            if entry is not None and (
                not _open_validate[0] or (entry[0] and _open_still_valid(key[0], entry))  # type: ignore[index]
            ):
                return
            if key is not None and (_dirs[0] or _patterns):
                # (a signal handler may run between two steps of this walk and change a name:
                # unlike the native core's, this fast path is Python. The answer holds for this
                # open -- the race of one call -- but is kept only if nothing changed meanwhile:
                # red team 40)
                before = _changes[0]
                found = _dir_verdict(key, _open, _open_validate[0], _patterns, _dirs)
                if found is not None:
                    if found[0] and len(_open) < OPEN_CACHE_LIMIT and not _sqlite_own_name(key[0]):
                        _kept_unless_changed(_open, key, found, before)
                    return
        if event == "_posixsubprocess.fork_exec" and _execs:
            exec_key = _exec_key(args)
            held = _execs.get((exec_key, _phase_now())) if exec_key is not None else None
            if (
                exec_key is not None
                and held is not None
                and _exec_identity_holds(exec_key[-1], held)
            ):
                return  # the native core's exec_answered
        if (
            event == "object.__setattr__"
            and _setattr_names is not None
            and type(args) is tuple
            and (
                len(args) < 2
                or type(args[1]) is not _str
                or args[1] not in _setattr_names
                or (
                    _setattr_codes is not None
                    and (
                        type(args[0]) is not _FunctionType
                        or id(args[0].__code__) not in _setattr_codes
                    )
                )
            )
        ):
            # the native core's setattr_unprotected: not a name the callback guards, or not
            # on a function it guards it on (an exact function's code slot: nothing runs)
            return
        if (
            event == "open"
            and type(args) is tuple
            and args
            and type(args[0]) is _str
            and args[0] == SHAPE_FILE
        ):
            return  # the native core's open_is_shape_file: the shape parse's, which no kernel opens
        if event == "socket.getaddrinfo" and _lookup_of_literal(args):
            return  # the native core's lookup_of_literal: the callback would answer None
        if event == "socket.getaddrinfo" and _nets:
            net_key = _net_key(_NET_RESOLVE, args)
            if net_key is not None and (_NET_RESOLVE, _phase_now(), *net_key) in _nets:
                return  # the native core's net_answered (a name allowed before)
        if event == "exec" and type(args) is tuple and args and type(args[0]) is _CodeType:
            # The native core's exec_runs_no_module: the callback would answer None.
            ran = args[0]
            name, filename = ran.co_name, ran.co_filename
            if (type(name) is _str and name != "<module>") or (
                type(filename) is _str and filename[:1] != "/"
            ):
                return
        if (_dirs[0] or _patterns) and type(args) is tuple:
            changed = None
            if event == "os.rename" or event in _CHANGE_EVENTS:
                # The native core's change_answered: a change of names a write verdict covers.
                changed = _change_answer(
                    event, args, _phase_now(), _open, _open_validate[0], _patterns, _dirs
                )
            elif event in NAMES_EVENTS:
                # Its names_answered: names decided as opens of them are, listings.
                changed = _names_answer(
                    event, args, _phase_now(), _open, _open_validate[0], _patterns, _dirs
                )
            if changed is not None:
                for place in changed:
                    _open_cache_forget(place)
                    if _forgotten[:1] != [True]:
                        if len(_forgotten) < FORGET_QUEUE_SLOTS:
                            _forgotten.append(place)
                        else:
                            _forgotten[:] = [True]
                return
        if (
            event == "import"
            and (_cache or _modv)
            and type(args) is tuple
            and args
            # (a C extension's file: the callback decides what loads it, in every phase)
            and (len(args) < 2 or args[1] is None)
            and _import_known(args[0])
        ):
            return  # the native core's import_cached: a decision-cache hit or a module verdict
        local = _local
        if local.fetching and event in _FETCH_EVENTS:
            return  # the events of the frame lookup below (and nothing else)
        # The collector is off while the frame is fetched: making the frame object allocates,
        # a collection would run the function's gc.callbacks there, inside the hook, and the
        # events of their code would meet `fetching` set (red team 35).
        collecting = _gc_isenabled()
        if collecting:
            _gc_disable()
        local.fetching = True
        frame: FrameType | None
        try:
            frame = _getframe(1)
            code: CodeType | None = frame.f_code
        except ValueError:
            # No Python frame: a thread started straight into C code (_thread.start_new_thread
            # of a builtin), or the interpreter compiling its own -c command. The native core
            # decides with no caller then; so does this one (the error left the hook before:
            # the operation failed, but unreported).
            frame = code = None
        finally:
            local.fetching = False
            if collecting:
                _gc_enable()
        depth = local.depth
        if (
            not depth
            and event == "open"
            and _module_prefixes
            and id(code) in _import_ids
            and len(_loaded) < LOADED_LIMIT
            and _phase_now() == "init"
        ):
            source = _init_module_read(args, _module_prefixes)
            if source is not None:
                _loaded.append(source)  # the native core's init_module_read
                return
        if event == "compile" and _compiles and _compile_key(args) is not None:
            phase = _phase_now()
            for held_code, held_source, held_name, held_phase in _compiles:
                if (
                    held_code is code
                    and held_phase == phase
                    and type(held_source) is type(args[0])
                    and held_source == args[0]
                    and held_name == args[1]
                ):
                    return  # the native core's compile_answered
        if (event == "socket.__new__" or event == "socket.connect") and _nets:
            connect = event == "socket.connect"
            net_key = _net_key(connect, args)
            if (
                net_key is not None
                and (connect, _phase_now(), *net_key) in _nets
                and (
                    connect
                    or not (code is _socket_init[0] and frame_local(frame, "fileno") is not None)
                )
            ):
                return  # the native core's net_answered
        if event == "sandbox.aws" and _nets and _aws_code and code is _aws_code[0]:
            aws_key = _net_key(_NET_AWS, args)
            if aws_key is not None and (_NET_AWS, _phase_now(), *aws_key) in _nets:
                return  # the native core's net_answered (an AWS call allowed before)
        if event == "subprocess.Popen" and _popens:
            popen_key = _popen_key(args)
            if popen_key is not None:
                phase = _phase_now()
                for held_key, held_phase, held_caller, held_identity in _popens:
                    if held_caller is code and held_phase == phase and held_key == popen_key:
                        if _popen_checks_hold(
                            _popen_checks[0], code, frame, popen_key[0], held_identity
                        ):
                            return  # the native core's popen_answered
                        break
        if (
            not depth
            and event == "os.listdir"
            and _module_prefixes
            and id(code) in _import_ids
            and _phase_now() == "init"
            and _init_module_list(args, _module_prefixes)
        ):
            return  # the native core's init_module_list
        control = (
            not depth
            and _quiet_codes
            and event in (_END_EVENT, _START_EVENT)
            and type(args) is tuple
            and id(code) in _quiet_codes[0]
        )
        if control and len(_invocation_log) < INVOCATION_LOG_LIMIT:
            if event == _END_EVENT and not args and not _end_needed[0]:
                _invocation_log.append(None)  # the native core's quiet_end_answered
                _invocation_closed[0] = True
                return
            if (
                event == _START_EVENT
                and _invocation_closed[0]
                and len(args) == 2
                and (args[0] is None or type(args[0]) is _str)
            ):
                started_by = _plain_source_copy(args[1])  # the native core's quiet_start_answered
                if started_by is not None:
                    seconds = float(_clock_gettime(_CLOCK_BOOTTIME))
                    _invocation_log.append((args[0], started_by, seconds, _get_ident()))
                    _invocation_closed[0] = False
                    _put_request_id(args[0])  # the native core's request_env_set
                    return
        if depth:
            if id(code) in _own and (_sites is None or (event, id(code)) in _sites):
                return
            if event in _refused_inside:
                raise _PermissionError(
                    f"lambda-sandbox: {event} refused (code running inside the sandbox's hook)"
                )
            if depth >= MAX_NESTING:
                raise _PermissionError("lambda-sandbox: nested audit events too deep")
        _decide(event, args, code, frame)
        if control:  # allowed by the callback: the native core's invocation_seen
            if event == _END_EVENT and not args:
                _invocation_closed[0] = True
            elif event == _START_EVENT:
                _invocation_closed[0] = False

    def _import_known(name: Any) -> bool:
        # The native core's import_name_units + import_name_known: an exact str of one-byte
        # code units (latin-1), 1-1024 of them, not starting with NUL.
        if type(name) is not _str or not 0 < len(name) <= IMPORT_NAME_MAX or name[0] == "\x00":
            return False
        if max(name) > "\xff":
            return False
        phase = _phase_now()
        if _cache and _IMPORT_KEY + phase + "\x1f" + name in _cache:
            return True
        if _modv:
            if (_str_partition(name, ".")[0], phase, _PACKAGE) in _modv:
                return True  # a package verdict: the top-level name and everything below
            last = 0
            at = _str_find(name, ".", 1)
            while at > 0:
                last = at
                if (name[: at + 1], phase, False) in _modv:
                    return True
                at = _str_find(name, ".", at + 1)
            return last > 0 and (name[: last + 1], phase, True) in _modv
        return False

    def _module_verdict_add(prefix: str, children: bool = False) -> bool:
        if not _local.depth or not _is_own_caller("module_verdict_add"):
            raise _refuse("module_verdict_add")
        if children is not True and children is not False:
            raise _TypeError("module_verdict_add: children must be a bool")
        if type(prefix) is not _str:
            raise _TypeError("module_verdict_add: prefix must be str")
        if (
            not 2 <= len(prefix) <= IMPORT_NAME_MAX
            or not _str_isascii(prefix)
            or prefix[-1] != "."
            or prefix[0] == "."
            or "\x00" in prefix
        ):
            return False
        if _phase_now() != _local.decision_phase:
            return False  # (the phase moved since the decision started: keep nothing)
        key = (prefix, _phase_now(), children)
        if key not in _modv and len(_modv) >= MODULE_VERDICT_LIMIT:
            _modv.clear()
        _modv.add(key)
        return True

    def _module_packages_add(names: Any) -> int:
        if not _local.depth or not _is_own_caller("module_packages_add"):
            raise _refuse("module_packages_add")
        if type(names) is not tuple and type(names) is not frozenset:
            raise _TypeError("module_packages_add: names must be a tuple or frozenset")
        if _phase_now() != _local.decision_phase:
            return 0  # (the phase moved since the decision started: keep nothing)
        if len(names) > MODULE_VERDICT_LIMIT:
            raise _ValueError("module_packages_add: more names than the table holds")
        if len(_modv) + len(names) > MODULE_VERDICT_LIMIT:
            _modv.clear()
        phase = _phase_now()
        kept = 0
        for name in names:
            if (
                type(name) is not _str
                or not 1 <= len(name) <= PACKAGE_NAME_MAX
                or not _str_isascii(name)
                or "." in name
                or "\x00" in name
            ):
                continue
            _modv.add((name, phase, _PACKAGE))
            kept += 1
        return kept

    def _api_caller_code() -> int:
        # id() of the code that called a core function: frame 0 this helper, 1 its caller here,
        # 2 the closure (or lambda) the API table holds, 3 the module-level function, 4 its
        # caller. The lookup raises sys._getframe: the hook ignores it (as the native core
        # raises none).
        local = _local
        collecting = _gc_isenabled()
        if collecting:
            _gc_disable()  # (no collection, so no gc.callbacks of the function's, meanwhile)
        local.fetching = True
        try:
            return id(_getframe(4).f_code)
        finally:
            local.fetching = False
            if collecting:
                _gc_enable()

    def _forget_caller_is_own() -> bool:
        # The native core's forget_caller_is_own: inside a decision, whether the code calling
        # open_cache_forget/clear is the sandbox's own (its forget is for the event decided).
        return bool(_local.depth) and _api_caller_code() in _own

    def _is_own_caller(call: str) -> bool:
        code = _api_caller_code()
        return code in _own and (_sites is None or ("core." + call, code) in _sites)

    def _enter_invoke() -> None:
        if not _is_own_caller("enter_invoke"):
            raise _refuse("enter_invoke")
        _phase[0] = "invoke"
        if _shared is not None:
            _shared[0] = 1  # forked children follow

    def _cache_has(key: str) -> bool:
        return type(key) is _str and key in _cache

    def _cache_add(key: str) -> None:
        if not _local.depth or not _is_own_caller("cache_add"):
            raise _refuse("cache_add")
        if type(key) is not _str:
            raise _TypeError(f"cache key must be str, not {type(key).__name__}")
        if key in _cache:
            return
        if len(_cache) >= CACHE_LIMIT:
            _cache.clear()
        _cache.add(key)

    def _cache_clear() -> None:
        if not _local.depth or not _is_own_caller("cache_clear"):
            raise _refuse("cache_clear")
        _cache.clear()
        _modv.clear()  # verdicts are decisions too
        _execs.clear()
        _popens.clear()
        _popen_checks[0] = None
        _compiles.clear()
        _nets.clear()

    def _names_hold() -> bool:
        # The native core's decision_names_hold: an answer about names the decision reached
        # is kept only if the phase holds, no name changed since the decision started (its
        # answer could be stale before it is kept) -- by another thread, or by anything but
        # the sandbox's own code run inside this decision (a signal handler: red team 40) --
        # and no other thread has a change in flight.
        return (
            _phase_now() == _local.decision_phase
            and _changes[0] - _local.own_changes == _local.decision_changes
            and not _others_in_flight()
        )

    def _open_cache_add(args: tuple[Any, ...], identity: tuple[int, int] | None) -> bool:
        if not _local.depth or not _is_own_caller("open_cache_add"):
            raise _refuse("open_cache_add")
        if not _names_hold():
            return False  # (the phase moved, or a name changed elsewhere: keep nothing)
        key = _open_key(args, _phase_now())
        if key is None:
            return False
        kind, dev, ino = _identity_of(identity, "open_cache_add")
        if (_open_validate[0] and not kind) or _sqlite_own_name(key[0]):
            return False
        if key not in _open and len(_open) >= OPEN_CACHE_LIMIT:
            _open_cache_clear()
        _open[key] = (kind, dev, ino)
        if not _names_hold():  # (kept, then tested: see _kept_unless_changed)
            _open.pop(key, None)
            return False
        return True

    def _open_cache_forget(name: str, own: bool = False) -> None:
        if type(name) is not _str:
            raise _TypeError("open_cache_forget: name must be str")
        _changes[0] += 1
        if not _local.depth or own:  # (see _names_hold)
            _local.own_changes += 1
        _in_flight.add(_get_ident())
        below = name + "/" if name != "/" else "/"
        # (snapshots taken in one C call: another thread's callback may change the tables
        # between two steps of a Python loop over them -- "changed size during iteration")
        for key in [k for k in tuple(_open) if k[0] == name or k[0].startswith(below)]:
            if _open.pop(key, None) is not None and key[1] == _DIR_VERDICT:
                _dirs[0] -= 1
        for pattern in [p for p in tuple(_patterns) if p[0] == name or p[0].startswith(below)]:
            _patterns.pop(pattern, None)

    def _open_cache_clear(own: bool = False) -> None:
        _changes[0] += 1
        if not _local.depth or own:  # (see _names_hold)
            _local.own_changes += 1
        _in_flight.add(_get_ident())
        _open.clear()
        _patterns.clear()
        _dirs[0] = 0

    def _defer_quiet_ends(codes: frozenset[CodeType]) -> bool:
        if not _is_own_caller("defer_quiet_ends"):
            raise _refuse("defer_quiet_ends")
        if _quiet_codes or _mode == "learn":
            return False
        _quiet_codes.append(frozenset(id(c) for c in _codes(codes)))
        return True

    def _put_request_id(request_id: object) -> None:
        # (its os.putenv event is the sandbox's own: raised inside the hook, by this code)
        value = _request_env_value(request_id)
        _local.depth += 1
        try:
            _putenv(REQUEST_ENV, value)
        finally:
            _local.depth -= 1

    def _request_env(request_id: object) -> None:
        if not _local.depth or not _is_own_caller("request_env"):
            raise _refuse("request_env")
        _put_request_id(request_id)

    def _set_end_needed(flag: bool) -> None:
        if not _local.depth or not _is_own_caller("end_needed"):
            raise _refuse("end_needed")
        if flag is not True and flag is not False:
            raise _TypeError("end_needed: a bool is needed")
        _end_needed[0] = flag

    def _take_ends_deferred() -> tuple[Any, ...]:
        if not _local.depth or not _is_own_caller("ends_deferred"):
            raise _refuse("ends_deferred")
        log = (*_invocation_log,)
        _invocation_log.clear()
        return log

    def _take_forgotten() -> tuple[str, ...] | bool | None:
        if not _local.depth or not _is_own_caller("forgotten"):
            raise _refuse("forgotten")
        if not _forgotten:
            return None
        out: tuple[str, ...] | bool = True if _forgotten[0] is True else tuple(_forgotten)
        _forgotten.clear()
        return out

    def _sqlite_companions_add(database: str) -> bool:
        if not _local.depth or not _is_own_caller("sqlite_companions_add"):
            raise _refuse("sqlite_companions_add")
        return False  # (no SQLite open is ever decided here: see sqlite_open_guard)

    def _dir_verdict_add(directory: str, action: str, identity: tuple[int, int] | None) -> bool:
        if not _local.depth or not _is_own_caller("dir_verdict_add"):
            raise _refuse("dir_verdict_add")
        if action not in ("read", "write"):
            raise ValueError("dir_verdict_add: action must be 'read' or 'write'")
        return _verdict_add(directory, 1 if action == "write" else 0, identity, "dir_verdict_add")

    def _dir_module_verdict_add(directory: str, identity: tuple[int, int] | None) -> bool:
        if not _local.depth or not _is_own_caller("dir_module_verdict_add"):
            raise _refuse("dir_module_verdict_add")
        return _verdict_add(directory, _DIR_MODULE_READS, identity, "dir_module_verdict_add")

    def _verdict_add(
        directory: str, flags: int, identity: tuple[int, int] | None, what: str
    ) -> bool:
        if type(directory) is not _str:
            raise _TypeError(what + ": directory must be str")
        if (
            not directory
            or len(directory) > OPEN_PATH_MAX
            or directory[0] != "/"
            or "\x00" in directory
            or (len(directory) > 1 and directory[-1] == "/")
            or not _str_isascii(directory)
        ):
            return False
        kind, dev, ino = _identity_of(identity, what)
        if kind == 2 or (_open_validate[0] and not kind):
            return False
        if not _names_hold():
            return False  # (the phase moved, or a name changed elsewhere: keep nothing)
        key = (directory, _DIR_VERDICT, flags, _phase_now())
        if key not in _open:
            if len(_open) >= OPEN_CACHE_LIMIT:
                _open_cache_clear()
            _dirs[0] += 1
        _open[key] = (kind, dev, ino)
        if not _names_hold():  # (kept, then tested: see _kept_unless_changed)
            if _open.pop(key, None) is not None:
                _dirs[0] -= 1
            return False
        return True

    def _pattern_verdict_add(
        directory: str, glob: str, action: str, depth: int, identity: tuple[int, int] | None
    ) -> bool:
        if not _local.depth or not _is_own_caller("pattern_verdict_add"):
            raise _refuse("pattern_verdict_add")
        if type(directory) is not _str or type(glob) is not _str:
            raise _TypeError("pattern_verdict_add: directory and glob must be str")
        code = {"read": 0, "write": 1, "list": _LIST}.get(action) if type(action) is _str else None
        if code is None:
            raise ValueError("pattern_verdict_add: action must be 'read', 'write' or 'list'")
        if type(depth) is not int or depth not in (0, 1) or (depth == 1 and code == _LIST):
            raise ValueError("pattern_verdict_add: depth must be 0, or 1 for 'read' and 'write'")
        kind, dev, ino = _identity_of(identity, "pattern_verdict_add")
        if (
            not directory
            or len(directory) > OPEN_PATH_MAX
            or directory[0] != "/"
            or not _str_isascii(directory)
            or "\x00" in directory
            or "\n" in directory
            or (
                len(directory) > 1
                and (
                    directory[-1] == "/"
                    or "//" in directory
                    or "/./" in directory
                    or "/../" in directory
                    or _str_endswith(directory, ("/.", "/.."))
                )
            )
            or not 1 <= len(glob) <= 255
            or not _str_isascii(glob)
            or "\x00" in glob
            or "/" in glob
            or "\n" in glob
            or "**" in glob
        ):
            return False
        if kind == 2 or (_open_validate[0] and not kind):
            return False
        if not _names_hold():
            return False  # (the phase moved, or a name changed elsewhere: keep nothing)
        key = (directory, glob, code, depth, _phase_now())
        if key not in _patterns and len(_patterns) >= PATTERN_LIMIT:
            del _patterns[next(iter(_patterns))]  # full: the oldest goes (as the native core)
        _patterns[key] = (kind, dev, ino)
        if not _names_hold():  # (kept, then tested: see _kept_unless_changed)
            _patterns.pop(key, None)
            return False
        return True

    def _exec_verdict_add(args: Any, identity: Any) -> bool:
        if not _local.depth or not _is_own_caller("exec_verdict_add"):
            raise _refuse("exec_verdict_add")
        if (
            type(identity) is not tuple
            or len(identity) != 7
            or any(type(value) is not int for value in identity)
        ):
            raise _TypeError("exec_verdict_add: identity must be a 7-tuple of int")
        if not all(-_LONG_LONG <= value < _LONG_LONG for value in identity):
            return False
        key = _exec_key(args)
        if key is None:
            return False
        if _phase_now() != _local.decision_phase:
            return False  # (the phase moved since the decision started: keep nothing)
        entry = (key, _phase_now())
        if entry not in _execs and len(_execs) >= EXEC_VERDICT_LIMIT:
            del _execs[next(iter(_execs))]  # full: the oldest goes (as the native core)
        _execs[entry] = identity
        return True

    def _popen_verdict_add(args: Any, caller: Any, identity: Any, checks: Any) -> bool:
        if not _local.depth or not _is_own_caller("popen_verdict_add"):
            raise _refuse("popen_verdict_add")
        if (
            type(identity) is not tuple
            or len(identity) != 7
            or any(type(value) is not int for value in identity)
        ):
            raise _TypeError("popen_verdict_add: identity must be a 7-tuple of int")
        if caller is not None and type(caller) is not _CodeType:
            raise _TypeError("popen_verdict_add: caller must be a code object or None")
        if not _popen_checks_valid(checks):
            raise _TypeError("popen_verdict_add: checks must be processes.popen_checks()")
        if not all(-_LONG_LONG <= value < _LONG_LONG for value in identity):
            return False
        if caller is not None and id(caller) in _own:
            return False  # (the sandbox's own code never raises a Popen of its own)
        key = _popen_key(args)
        if key is None:
            return False
        if _phase_now() != _local.decision_phase:
            return False  # (the phase moved since the decision started: keep nothing)
        phase = _phase_now()
        for entry in _popens:
            if entry[2] is caller and entry[1] == phase and entry[0] == key:
                entry[3] = identity
                break
        else:
            if len(_popens) >= POPEN_VERDICT_LIMIT:
                del _popens[0]  # full: the oldest goes (as the native core)
            _popens.append([key, phase, caller, identity])
        _popen_checks[0] = checks
        return True

    def _compile_verdict_add(args: Any, code: Any) -> bool:
        if not _local.depth or not _is_own_caller("compile_verdict_add"):
            raise _refuse("compile_verdict_add")
        if type(code) is not _CodeType:
            raise _TypeError("compile_verdict_add: code must be a code object")
        if id(code) in _own or _compile_key(args) is None:
            return False
        if _phase_now() != _local.decision_phase:
            return False  # (the phase moved since the decision started: keep nothing)
        entry = (code, args[0], args[1], _phase_now())
        for held in _compiles:
            if (
                held[0] is code
                and held[3] == entry[3]
                and type(held[1]) is type(entry[1])
                and held[1] == entry[1]
                and held[2] == entry[2]
            ):
                return True
        if len(_compiles) >= COMPILE_VERDICT_LIMIT:
            del _compiles[0]  # full: the oldest goes (as the native core)
        _compiles.append(entry)
        return True

    def _network_verdict_add(event: Any, args: Any, socket_init: Any) -> bool:
        if not _local.depth or not _is_own_caller("network_verdict_add"):
            raise _refuse("network_verdict_add")
        if type(event) is not _str:
            raise _TypeError("network_verdict_add: event must be str")
        connect: Any = event == "socket.connect"
        if event == "socket.getaddrinfo":
            connect = _NET_RESOLVE
        elif event == "sandbox.aws":
            if type(socket_init) is not _CodeType:
                return False
            if _aws_code and _aws_code[0] is not socket_init:
                return False  # (one interposer for good: the first the hook named)
            connect = _NET_AWS
        elif not connect:
            if event != "socket.__new__" or type(socket_init) is not _CodeType:
                return False
            if _socket_init and _socket_init[0] is not socket_init:
                return False  # (one constructor for good: the first the hook named)
        net_key = _net_key(connect, args)
        if net_key is None or _phase_now() != _local.decision_phase:
            return False
        if connect is False and not _socket_init:
            _socket_init.append(socket_init)
        if connect is _NET_AWS and not _aws_code:
            _aws_code.append(socket_init)
        entry = (connect, _phase_now(), *net_key)
        if entry not in _nets and len(_nets) >= NET_VERDICT_LIMIT:
            del _nets[next(iter(_nets))]  # full: the oldest goes (as the native core)
        _nets[entry] = None
        return True

    def _take_loaded() -> tuple[str, ...] | None:
        if not _local.depth or not _is_own_caller("loaded_sources"):
            raise _refuse("loaded_sources")
        if not _loaded:
            return None
        out = tuple(_loaded)
        _loaded.clear()
        return out

    def _open_cache_validate() -> None:
        if not _open_validate[0]:
            _open_validate[0] = True
            _open_cache_clear()

    def _descriptor_hold(fd: int) -> tuple[int, int, int, int, str | None] | bool | None:
        if _local.depth != 1:
            return None  # (only the top decision's: a nested one ends before its call)
        if not 0 <= fd <= _INT_MAX:
            return False
        for pin in _local.pins:
            if pin[0] == fd:
                return pin
        pin = _pin_read(fd)
        _local.pins = (*_local.pins, pin)
        return pin

    _audit("sys.addaudithook")  # refused by an existing hook: raise, as the native core
    _addaudithook(_hook)
    _api.update(
        mode=lambda: _mode,
        phase=_phase_now,
        descriptors_pinned=lambda: _local.pins,
        descriptor_hold=_descriptor_hold,
        enter_invoke=_enter_invoke,
        cache_has=_cache_has,
        cache_add=_cache_add,
        cache_clear=_cache_clear,
        open_cache_add=_open_cache_add,
        open_cache_clear=lambda: _open_cache_clear(_forget_caller_is_own()),
        dir_verdict_add=_dir_verdict_add,
        sqlite_companions_add=_sqlite_companions_add,
        dir_module_verdict_add=_dir_module_verdict_add,
        pattern_verdict_add=_pattern_verdict_add,
        exec_verdict_add=_exec_verdict_add,
        popen_verdict_add=_popen_verdict_add,
        compile_verdict_add=_compile_verdict_add,
        network_verdict_add=_network_verdict_add,
        changes=lambda: _changes[0],
        changes_elsewhere=_others_in_flight,
        module_verdict_add=_module_verdict_add,
        module_packages_add=_module_packages_add,
        import_known=_import_known,
        open_cache_forget=lambda name: _open_cache_forget(name, _forget_caller_is_own()),
        open_cache_validate=_open_cache_validate,
        forgotten=_take_forgotten,
        defer_quiet_ends=_defer_quiet_ends,
        end_needed=_set_end_needed,
        request_env=_request_env,
        ends_deferred=_take_ends_deferred,
        loaded_sources=_take_loaded,
        inside=lambda: _local.depth > 0,
        event_frame=lambda: _local.event_frame if _local.depth > 0 else None,
    )
    return True


def _strs(items: frozenset[str], what: str) -> list[str]:
    out = []
    for item in items:
        if type(item) is not str:
            raise TypeError(f"{what}: expected str items, got {type(item).__name__}")
        out.append(item)
    return out


def _site_pairs(pairs: Iterable[tuple[str, CodeType]], own: frozenset[int]) -> frozenset[Any]:
    # The native core's own_sites_build: (event or "core.<call>", id(code)), each code own.
    out = set()
    for pair in pairs:
        if not (
            type(pair) is tuple
            and len(pair) == 2
            and type(pair[0]) is str
            and isinstance(pair[1], _CodeType)
        ):
            raise TypeError("install: own_sites: expected (str, code object) tuples")
        if id(pair[1]) not in own:
            raise ValueError("install: own_sites: a code object not in own_codes")
        if "\x00" in pair[0]:
            raise ValueError("install: own_sites: a name with a NUL character")
        out.add((pair[0], id(pair[1])))
    return frozenset(out)


def _codes(items: Iterable[CodeType]) -> list[CodeType]:
    out = []
    for item in items:
        if not isinstance(item, _CodeType):
            raise TypeError(f"own_codes: expected code objects, got {type(item).__name__}")
        out.append(item)
    return out


def mode() -> str:
    """Return the mode given at install (``""`` before).

    Example
    -------
    >>> mode()  # doctest: +SKIP
    'enforce'
    """
    return str(_api["mode"]()) if _api else ""


def phase() -> str:
    """Return ``"init"`` until :func:`enter_invoke`, then ``"invoke"`` for good.

    Example
    -------
    >>> phase()
    'init'
    """
    return str(_api["phase"]()) if _api else "init"


def enter_invoke() -> None:
    """Switch the phase to ``"invoke"``; only the sandbox's own code may.

    Raises
    ------
    PermissionError
        Called from code not in ``own_codes`` (or before install).

    Example
    -------
    >>> enter_invoke()  # doctest: +SKIP
    """
    if not _api:
        raise _refuse("enter_invoke")
    _api["enter_invoke"]()


def cache_has(key: str) -> bool:
    """Whether ``key`` is in the decision cache (anything but an exact ``str``: ``False``).

    No method of ``key`` is called.

    Example
    -------
    >>> cache_has("open:/etc/hosts")
    False
    """
    if not _api:
        return False
    return bool(_api["cache_has"](key))


def cache_add(key: str) -> None:
    """Add ``key`` to the decision cache (cleared when 8192 keys are held).

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.

    Example
    -------
    >>> cache_add("open:/etc/hosts")  # doctest: +SKIP
    """
    if not _api:
        raise _refuse("cache_add")
    _api["cache_add"](key)


def cache_clear() -> None:
    """Empty the decision cache (same conditions as :func:`cache_add`).

    Example
    -------
    >>> cache_clear()  # doctest: +SKIP
    """
    if not _api:
        raise _refuse("cache_clear")
    _api["cache_clear"]()


def open_cache_add(args: tuple[Any, ...], identity: tuple[int, int] | None) -> bool:
    """Answer later ``open`` events with these arguments in the hook, without the callback.

    Only from the sandbox's own code inside the callback, after it allowed the event. Holds
    for the same phase; after :func:`open_cache_validate`, only while a ``stat`` of the path
    finds ``identity``: ``(dev, ino)`` of the file, ``(dev, -ino - 1)`` of its directory when
    the name does not exist (``None``, or a negative ``dev``: no identity).

    Returns
    -------
    bool
        Whether the arguments were of the kind the table holds (and were added).

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.

    Example
    -------
    >>> open_cache_add(("/etc/hosts", "r", 524288), None)  # doctest: +SKIP
    True
    """
    if not _api:
        raise _refuse("open_cache_add")
    return bool(_api["open_cache_add"](args, identity))


def open_cache_clear() -> None:
    """Forget every ``open`` answer (a path may resolve differently now); anyone may.

    Example
    -------
    >>> open_cache_clear()
    """
    if _api:
        _api["open_cache_clear"]()


def dir_verdict_add(directory: str, action: str, identity: tuple[int, int] | None) -> bool:
    """Answer later ``open`` events of new names directly in ``directory`` in the hook.

    Only from the sandbox's own code inside the callback, once the policy allows ``action``
    (``"read"`` or ``"write"``) on every name directly in ``directory`` in this phase and the
    directory was reached with no link on the way. A name that is a link, a module file,
    ``.`` or ``..`` still goes to the callback; an allowed name is kept like
    :func:`open_cache_add`'s. ``identity``: the directory's ``(dev, ino)``, needed once
    answers are validated (:func:`open_cache_validate`). Dropped by :func:`open_cache_forget`
    of the directory or a name above it.

    Returns
    -------
    bool
        Whether the verdict was kept.

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.

    Example
    -------
    >>> dir_verdict_add("/tmp/job", "write", None)  # doctest: +SKIP
    True
    """
    if not _api:
        raise _refuse("dir_verdict_add")
    return bool(_api["dir_verdict_add"](directory, action, identity))


def changes() -> int:
    """The count of audited name changes the core has seen (each forget or clear of the open
    table): read before and after a resolution, it tells whether something changed meanwhile.

    Example
    -------
    >>> before = changes()
    >>> changes() == before
    True
    """
    if not _api:
        return 0
    return int(_api["changes"]())


def descriptors_pinned() -> tuple[tuple[int, int, int, int, str | None], ...]:
    """What the descriptors this thread's decision pinned named when it began.

    One ``(fd, st_mode, st_dev, st_ino, name or None)`` each (``(fd, 0, 0, 0, None)`` for one
    that was not open then; the name is the ``/proc/self/fd`` link's text, ``None`` where it
    has none); ``()`` outside a decision, or when its event uses no descriptor. The decoders
    read these instead of the live descriptor table, which another thread can change while
    the hook decides (``os.dup2`` raises no event); the decision is taken only if each still
    names the same thing when it ends.

    Example
    -------
    >>> descriptors_pinned()
    ()
    """
    return tuple(_api["descriptors_pinned"]()) if _api else ()


def descriptor_hold(fd: int) -> tuple[int, int, int, int, str | None] | bool | None:
    """Pin, for the decision running on this thread, a descriptor its name goes through
    ``/proc`` for (``/proc/self/fd/N``, ``/dev/fd/N``, ``/dev/stdout``...): what it names now,
    as :func:`descriptors_pinned` gives it; the walk follows that name, and the decision is
    refused if the descriptor names something else when it ends. ``None`` outside a decision;
    ``False`` for a number no descriptor can have. (The native core also holds it against
    ``os.dup2`` up to the thread's next event; this core cannot.)

    Example
    -------
    >>> descriptor_hold(0) is None  # (no decision runs here)
    True
    """
    if type(fd) is not int:
        raise TypeError("descriptor_hold: fd must be int")
    return _api["descriptor_hold"](fd) if _api else None


def changes_elsewhere() -> bool:
    """Whether a thread other than this one has an audited name change in flight: its event
    was seen (it fires before the change is made), its next audit event not yet. A walk now
    may see a name change under it: its answer is not kept.

    Example
    -------
    >>> changes_elsewhere()
    False
    """
    return bool(_api["changes_elsewhere"]()) if _api else False


def exec_verdict_add(args: tuple[Any, ...], identity: tuple[int, ...]) -> bool:
    """Answer later ``_posixsubprocess.fork_exec`` events with these very arguments in the hook.

    Only from the sandbox's own code inside the callback, after it allowed this event in
    enforce, in this phase, on its one absolute candidate judged a plain program (neither
    Python, ``env`` nor a script) with ``identity`` (:func:`file_identity`'s 7-tuple): the
    process decoder's decision then reads nothing but the arguments. A later event is
    answered while it has the same arguments (exact types only: a list or tuple of exact
    ``bytes`` candidates — exactly one — and environment items, argv items of exact ``bytes``
    or ASCII ``str``, a ``None``, ``bytes`` or ASCII ``str`` cwd, preexec ``False``) and a
    ``stat`` of the program gives the same identity. At most 32 (a full table drops its
    oldest); :func:`cache_clear` drops them.

    Returns
    -------
    bool
        Whether the verdict was kept (``False``: arguments of another kind).

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.
    TypeError
        ``identity`` is not a 7-tuple of ``int``.

    Example
    -------
    >>> exec_verdict_add(([b"/bin/true"], [b"true"], None, None, False), identity)  # doctest: +SKIP
    True
    """
    if not _api:
        raise _refuse("exec_verdict_add")
    return bool(_api["exec_verdict_add"](args, identity))


def popen_verdict_add(
    args: tuple[Any, ...], caller: Any, identity: tuple[int, ...], checks: tuple[Any, ...]
) -> bool:
    """Answer later ``subprocess.Popen`` events with these very arguments from ``caller`` in
    the hook, while everything the decision read still holds.

    Only from the sandbox's own code inside the callback, after it allowed this event in
    enforce, in this phase, raised by ``caller`` (the code object the core handed the
    callback, or ``None``), on an absolute program judged plain with ``identity``
    (:func:`file_identity`'s 7-tuple), the decision having compared the objects of ``checks``
    (``processes.popen_checks()``). A later event is answered when it has the same arguments
    (exact types only: an ASCII ``str`` program, a list or tuple of ASCII ``str`` argv, cwd and
    env ``None``), the same raising code and phase, and every check gives what it gave then:
    os's and os.path's helpers and subprocess's ``os`` (and, where fork_exec is not sealed, its
    wrapper's routing) are the originals, read from the live dicts; Popen's ``pass_fds`` (exact
    ints) and ``preexec_fn`` (``None``), read from the raising frame when it is
    ``_execute_child``'s; ``os.environ`` and what reads it are the originals; the plain-program
    table still holds ``identity`` for the program, and a ``stat`` of it gives that identity.
    At most 32 (a full table drops its oldest); :func:`cache_clear` drops them.

    Returns
    -------
    bool
        Whether the verdict was kept (``False``: arguments of another kind).

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.
    TypeError
        ``identity`` is not a 7-tuple of ``int``, ``caller`` not a code object or ``None``,
        ``checks`` not what ``processes.popen_checks`` builds.

    Example
    -------
    >>> popen_verdict_add(("/bin/true", ["true"], None, None), code, identity, checks)  # doctest: +SKIP
    True
    """
    if not _api:
        raise _refuse("popen_verdict_add")
    return bool(_api["popen_verdict_add"](args, caller, identity, checks))


def pattern_verdict_add(
    directory: str, glob: str, action: str, depth: int, identity: tuple[int, int] | None
) -> bool:
    """Answer later accesses of the names a one-name glob covers in ``directory`` in the hook.

    Only from the sandbox's own code inside the callback, once the policy allows ``action``
    (``"read"``, ``"write"`` or ``"list"``) in this phase on every name ``directory/x``
    (``depth`` 0) — or on every name directly in a folder ``directory/x`` (``depth`` 1, read
    and write) — whose ``x`` matches ``glob`` (``*`` any characters, ``?`` one; no ``/``, no
    ``**``), no ceiling entry reaching below ``directory``, and the directory was reached with
    no link on the way. Depth 1 acts as a :func:`dir_verdict_add` for each such folder, taken
    when the folder is a directory (not a link) at its first use. ``x`` is never ``""``,
    ``.``, ``..`` or a name with a newline; names that are links or module files still go to
    the callback. ``identity``: the directory's ``(dev, ino)``, needed once answers are
    validated. Dropped by :func:`open_cache_forget` of the directory or a name above it; at
    most 64 are kept.

    Returns
    -------
    bool
        Whether the verdict was kept.

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.

    Example
    -------
    >>> pattern_verdict_add("/tmp", "job-*", "write", 1, None)  # doctest: +SKIP
    True
    """
    if not _api:
        raise _refuse("pattern_verdict_add")
    return bool(_api["pattern_verdict_add"](directory, glob, action, depth, identity))


def dir_module_verdict_add(directory: str, identity: tuple[int, int] | None) -> bool:
    """Let the ``read`` verdict of ``directory`` (:func:`dir_verdict_add`) answer reads of
    the module files directly in it too (``.py``, ``.pyc``, ``.pyi``, ``.so``, ``.pth``,
    ``.zip``; writes of them still reach the callback).

    Only from the sandbox's own code inside the callback, for a folder where reading a module
    file is decided like reading any other file: outside the module roots, where the hook does
    not track the import machinery's reads. Same conditions, identity and lifetime as
    :func:`dir_verdict_add`; it answers nothing without the folder's read verdict.

    Returns
    -------
    bool
        Whether the verdict was kept.

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.

    Example
    -------
    >>> dir_module_verdict_add("/srv/plugins", None)  # doctest: +SKIP
    True
    """
    if not _api:
        raise _refuse("dir_module_verdict_add")
    return bool(_api["dir_module_verdict_add"](directory, identity))


def module_verdict_add(prefix: str, children: bool = False) -> bool:
    """Answer later imports of every module name starting with ``prefix`` in the hook (with
    ``children``: of every name directly below it, ``prefix`` and a text with no ``.``).

    ``prefix`` is a dotted module prefix ending in ``.`` (``"boto3."``, ``"google.cloud."``):
    only from the sandbox's own code inside the callback, once the policy allows importing
    every such name in this phase and no ceiling entry can match any name below it. The
    import guard's question (:func:`import_known`) and the ``import`` event of such a name
    (not a C extension's second event) are then answered without the callback. Cleared with
    the decision cache; at most 1024 are held (a full table is emptied first).

    Returns
    -------
    bool
        Whether the prefix is of the kind the table holds (ASCII, 2-1024 characters, ending
        and not starting with ``.``, no NUL) and was kept.

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.
    TypeError
        ``prefix`` is not a ``str``, or ``children`` not a ``bool``.

    Example
    -------
    >>> module_verdict_add("boto3.")  # doctest: +SKIP
    True
    """
    if not _api:
        raise _refuse("module_verdict_add")
    return bool(_api["module_verdict_add"](prefix, children))


def compile_verdict_add(args: tuple[Any, ...], code: CodeType) -> bool:
    """Answer later ``compile`` events with these arguments, raised by ``code``, in the hook.

    Only from the sandbox's own code inside the callback, after the hook allowed such an event
    (enforce): the same compiling code (by identity; the table holds it), the same source
    (an exact ``str`` or ``bytes``, compared exactly) and the same file name (an exact ASCII
    ``str``, not absolute: an absolute one may be the import system's) in the same phase are
    the same decision -- the site's rules and the source's shape. Anything else is not kept.
    At most 32 are held (a full table drops its oldest); :func:`cache_clear` drops them.

    Returns
    -------
    bool
        Whether it was kept (``False``: not a kind the table holds, the sandbox's own code,
        or the phase moved since the decision started).

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.
    TypeError
        ``code`` is not a code object.

    Example
    -------
    >>> compile_verdict_add(("6 * 7", "<string>"), site_code)  # doctest: +SKIP
    True
    """
    if not _api:
        raise _refuse("compile_verdict_add")
    return bool(_api["compile_verdict_add"](args, code))


def _net_key(connect: Any, args: Any) -> tuple[int, int, str] | None:
    """(family, type or port, host) of a ``socket.__new__`` (``connect`` False), a
    ``socket.connect`` (True) or a ``socket.getaddrinfo`` (:data:`_NET_RESOLVE`) the network
    verdicts hold, or None (exact types only; the family read from the C member)."""
    if type(args) is not tuple:
        return None
    if connect is _NET_AWS:
        if len(args) != 3:
            return None
        parts = [args[0], args[1]] if args[2] is None else [args[0], args[1], args[2]]
        for part in parts:
            if type(part) is not str or not part or not part.isascii():
                return None
            if "\x1f" in part or "\x00" in part:
                return None
        joined = "\x1f".join(parts)
        if len(joined) > NET_HOST_MAX:
            return None
        return (0, int(args[2] is not None), joined)
    if connect is _NET_RESOLVE:
        name = args[0] if args else None
        if type(name) is bytes:
            if not name.isascii():
                return None
            name = name.decode("ascii")
        elif type(name) is not str or not name.isascii():
            return None
        if not 0 < len(name) <= NET_HOST_MAX or "\x00" in name:
            return None
        return (0, 0, name)
    if not connect:
        if len(args) < 3 or type(args[1]) is not int or type(args[2]) is not int:
            return None
        if args[1] < 0 or args[2] < 0:
            return None  # (a negative one adopts a descriptor)
        return (args[1], args[2] & _SOCK_TYPE_MASK, "")
    if len(args) != 2 or not isinstance(args[0], _SOCKET_TYPE):
        return None
    address = args[1]
    if type(address) is not tuple or len(address) != 2 or type(address[1]) is not int:
        return None
    host = address[0]
    if type(host) is not str or not 0 < len(host) <= NET_HOST_MAX or not host.isascii():
        return None
    family = _sock_family(args[0])
    if type(family) is not int or family not in _IP_FAMILIES:
        return None
    return (family, address[1], host)


def network_verdict_add(event: str, args: tuple[Any, ...], socket_init: Any) -> bool:
    """Answer later ``socket.__new__`` or ``socket.connect`` events with these values in the
    hook (network verdicts).

    Only from the sandbox's own code inside the callback, after the hook allowed the event in
    enforce. ``socket.__new__``: the same exact-int family and type (its ``SOCK_NONBLOCK`` and
    ``SOCK_CLOEXEC`` flags aside, neither negative) in the same phase, raised from code that
    is not ``socket_init`` (socket.py's ``socket.__init__``, which must be given) or from it
    with its local ``fileno`` None: a descriptor it wraps is an adoption, decided by the
    callback. ``socket.connect``: a ``_socket.socket`` of family ``AF_INET`` or ``AF_INET6``
    (read from the C member) to an exact 2-tuple of the same exact ASCII ``str`` and exact
    ``int``, in the same phase (the hook keeps only an address literal in canonical text).
    ``socket.getaddrinfo``: a host of the same text (an exact ASCII ``str`` or ``bytes``; the
    hook keeps only a name already in its normal form) in the same phase. ``sandbox.aws``:
    the same service, operation and resource (exact ASCII ``str``, the resource or ``None``)
    in the same phase, raised by ``socket_init`` -- here the botocore interposer's code the
    hook checked the event came from.
    At most 64 (a full table drops its oldest); :func:`cache_clear` drops them.

    Returns
    -------
    bool
        Whether it was kept (``False``: not a kind the table holds, no ``socket_init`` for a
        socket, or the phase moved since the decision started).

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.

    Example
    -------
    >>> network_verdict_add("socket.connect", (sock, ("127.0.0.1", 80)), None)  # doctest: +SKIP
    True
    """
    if not _api:
        raise _refuse("network_verdict_add")
    return bool(_api["network_verdict_add"](event, args, socket_init))


def module_packages_add(names: tuple[str, ...] | frozenset[str]) -> int:
    """Answer later imports of each top-level module name in ``names``, and of every name below
    it, in the hook (package verdicts).

    ``names`` is an exact ``tuple`` or ``frozenset`` of top-level names (``"json"``,
    ``"boto3"``): only from the sandbox's own code inside the callback, once the policy allows
    importing each of them and every name below it in this phase and no ceiling entry can
    match any of those names (:meth:`~sandbox.runtime.policy.Policy.packages_allowed`). Names
    that are not ASCII, 1-255 characters, with no ``.`` and no NUL are skipped. The hook adds
    them all at once, at the first import of one of them it allowed: each later first import
    of a top-level name (``import boto3`` makes a few hundred) needs no callback. Held with
    the module verdicts (a table too full for them all is emptied first; cleared with the
    decision cache).

    Returns
    -------
    int
        How many names were kept (0 when the phase moved since the decision started).

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.
    TypeError
        ``names`` is not a ``tuple`` or ``frozenset``.
    ValueError
        More names than the table holds (1024).

    Example
    -------
    >>> module_packages_add(frozenset({"json", "boto3"}))  # doctest: +SKIP
    2
    """
    if not _api:
        raise _refuse("module_packages_add")
    return int(_api["module_packages_add"](names))


def import_known(name: str) -> bool:
    """Whether importing ``name`` in this phase is known to be allowed: the decision cache
    holds its key, or a module verdict covers it. ``False`` for anything but an exact ``str``
    of one-byte characters, 1-1024 long, not starting with NUL (no method of ``name`` runs).

    Example
    -------
    >>> import_known("json")
    False
    """
    return bool(_api["import_known"](name)) if _api else False


def open_cache_forget(name: str) -> None:
    """Forget the ``open`` answers for ``name`` and every name below it; anyone may.

    Example
    -------
    >>> open_cache_forget("/tmp/job")
    """
    if _api:
        _api["open_cache_forget"](name)


def open_cache_validate() -> None:
    """From now on re-check every ``open`` answer with a ``stat`` (one way); anyone may.

    Example
    -------
    >>> open_cache_validate()  # doctest: +SKIP
    """
    if _api:
        _api["open_cache_validate"]()


def forgotten() -> tuple[str, ...] | bool | None:
    """The names changed by events the core answered itself (a remove, rmdir, mkdir or rename
    that write verdicts cover) since the last call: the hook's path cache drops what depends
    on them. ``True``: more than the queue holds, drop everything; ``None``: nothing.

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.

    Example
    -------
    >>> forgotten()  # doctest: +SKIP
    """
    if not _api:
        raise _refuse("forgotten")
    result: tuple[str, ...] | bool | None = _api["forgotten"]()
    return result


def defer_quiet_ends(codes: frozenset[CodeType]) -> bool:
    """From now on, an invocation's end with nothing to write is answered in the hook: a
    ``sandbox.invocation_end`` with no arguments, raised outside the callback by one of
    ``codes`` (the control functions'), while :func:`end_needed` is not set, never reaches the
    callback; nor does the next ``sandbox.invocation`` from them after such an end (or after an
    end the callback allowed), when its request id is an exact str or ``None`` and its source
    an exact dict of plain values (copied). Both are logged for :func:`ends_deferred` (at most
    128 between two callbacks: then the next goes to the callback). Once; ``False`` (nothing deferred) in
    learn, which writes every end, or when already done.

    Raises
    ------
    PermissionError
        Not installed, or not called from the sandbox's own code.

    Example
    -------
    >>> defer_quiet_ends(frozenset())  # doctest: +SKIP
    True
    """
    if not _api:
        raise _refuse("defer_quiet_ends")
    result: bool = _api["defer_quiet_ends"](codes)
    return result


def request_env(request_id: object) -> None:
    """Put ``request_id`` in this process's environment as ``SANDBOX_REQUEST_ID``, for the
    children started from now on (a Python child's findings name the invocation it was started
    in); empty unless it is an exact ASCII ``str`` of at most 128 characters without NUL (the
    child takes only 1-128 printable characters other than space). The hook calls it at each
    invocation start it decides (the starts the hook answers itself set it themselves).

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.

    Example
    -------
    >>> request_env("4f1c-example")  # doctest: +SKIP
    """
    if not _api:
        raise _refuse("request_env")
    _api["request_env"](request_id)


def end_needed(flag: bool) -> None:
    """``True``: the next invocation end goes to the callback (something was reported that
    its summary writes); ``False``: an end may be answered in the hook again.

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.

    Example
    -------
    >>> end_needed(True)  # doctest: +SKIP
    """
    if not _api:
        raise _refuse("end_needed")
    _api["end_needed"](flag)


def ends_deferred() -> tuple[Any, ...]:
    """The invocation ends and starts answered in the hook since the last call (see
    :func:`defer_quiet_ends`), in order: ``None`` for an end, ``(request_id, source, seconds,
    thread)`` for a start (its ``CLOCK_BOOTTIME`` seconds and the thread that raised it). The
    callback replays them before anything reads the invocation's state.

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.

    Example
    -------
    >>> ends_deferred()  # doctest: +SKIP
    ()
    """
    if not _api:
        raise _refuse("ends_deferred")
    result: tuple[Any, ...] = _api["ends_deferred"]()
    return result


def loaded_sources() -> tuple[str, ...] | None:
    """The sources of the module files the core let the import system read at init since the
    last call (``None``: none); the hook adds them to what the traceback readers may read.

    Raises
    ------
    PermissionError
        Not inside the callback, or not called from the sandbox's own code.

    Example
    -------
    >>> loaded_sources()  # doctest: +SKIP
    """
    if not _api:
        raise _refuse("loaded_sources")
    result: tuple[str, ...] | None = _api["loaded_sources"]()
    return result


def sqlite_authorizer(authorize: Any) -> Any:
    """SQLite's authorizer for the hook: the native core's answers every action but
    ``SQLITE_ATTACH`` (24) and ``SQLITE_PRAGMA`` (19) with ``SQLITE_OK`` in C and hands those to
    ``authorize``;
    the Python core returns ``authorize`` itself, which answers the same (more slowly: a
    Python call at every step of every statement).

    Example
    -------
    >>> sqlite_authorizer(len) is len
    True
    """
    if not callable(authorize):
        raise TypeError("sqlite_authorizer: a callable is needed")
    return authorize


def seal_fork_exec(function: Any) -> bool:
    """The native core makes every call of ``_posixsubprocess.fork_exec`` raise its audit event
    (before 3.14 CPython raises none there); the Python core cannot change a C function: always
    ``False``, and the hook puts its sealed wrapper in the module instead.

    Example
    -------
    >>> seal_fork_exec(None)
    False
    """
    return False


def seal_spawn_env(posix_spawn: Any, posix_spawnp: Any, execve: Any, execv: Any) -> bool:
    """The native core has ``posix_spawn``, ``posix_spawnp``, ``execve`` and ``execv`` read their
    path, argv and env mapping into exact copies before their audit event; the Python core cannot change C functions:
    always ``False`` (a documented limit: a mapping whose code answers differently after the
    decision gives the child another environment).

    Example
    -------
    >>> seal_spawn_env(None, None, None, None)
    False
    """
    return False


def seal_process_calls(
    chroot: Any, pidfd_send_signal: Any, unshare: Any, setns: Any, targets: tuple[Any, ...]
) -> bool:
    """The native core has ``os.chroot``, ``os.unshare``, ``os.setns``,
    ``signal.pidfd_send_signal`` and (``targets``) ``os.setpriority``, ``os.sched_setaffinity``,
    ``os.sched_setscheduler``, ``os.sched_setparam`` (CPython raises no event for any) raise an
    event first; the Python core cannot change C functions: always ``False`` (a documented
    limit).

    Example
    -------
    >>> seal_process_calls(None, None, None, None, (None, None, None, None))
    False
    """
    return False


def seal_sqlite(authorizer: Any, trampoline: Any) -> bool:
    """The native core guards SQLite connections itself (``sqlite3.connect/handle`` and the
    thread's next profile event answered in C); the Python core leaves both to the hook's
    handlers (:mod:`sandbox.runtime.sqlite_guard`): always ``False``.

    Example
    -------
    >>> seal_sqlite(None, None)
    False
    """
    return False


def seal_extensions(create_dynamic: Any, exec_dynamic: Any, exec_builtin: Any, loaded: Any) -> bool:
    """The native core has the extension loader seal the ``_ssl`` module it makes, so that
    OpenSSL's reads of files by name (``load_verify_locations``, ``load_cert_chain``,
    ``_test_decode_cert``: no audit event of CPython's) raise ``ssl.load_file`` first; the
    Python core cannot replace C functions (a documented limit).

    Example
    -------
    >>> seal_extensions(None, None, None, None)
    False
    """
    return False


def seal_library_files(create_builtin: Any, loaded: Any, trampoline: Any) -> bool:
    """The native core has glibc's gettext (the ``_locale`` module the built-in module maker
    makes: ``bindtextdomain`` and the functions taking a domain) and
    ``sys.activate_stack_trampoline`` raise ``locale.bindtextdomain`` and ``sys.perf_map_file``
    first, so that the catalogs glibc opens by name and the perf map file CPython writes are
    decided; the Python core cannot replace C functions (a documented limit).

    Example
    -------
    >>> seal_library_files(None, None, None)
    False
    """
    return False


def shm_sealed() -> tuple[bool, bool]:
    """Which of ``_posixshmem``'s ``shm_open`` and ``shm_unlink`` are sealed: none with the
    Python core (a documented limit: they make, open and remove files in ``/dev/shm`` with no
    audit event once the module's import is allowed; the native core decides each).

    Example
    -------
    >>> shm_sealed()
    (False, False)
    """
    return (False, False)


def sem_sealed() -> tuple[bool, bool, bool]:
    """Which of ``_multiprocessing``'s are sealed (``SemLock``, ``SemLock._rebuild``,
    ``sem_unlink``): none with the Python core (a documented limit: once the module's import
    is allowed they make, open and remove ``/dev/shm/sem.*`` files with no audit event, and
    ``SemLock._rebuild(address, kind, maxvalue, None)`` reads and changes memory at any
    address; the native core decides each).

    Example
    -------
    >>> sem_sealed()
    (False, False, False)
    """
    return (False, False, False)


def ssl_sealed() -> tuple[bool, bool, bool]:
    """Which of ``_ssl``'s file readers are sealed (``_test_decode_cert``,
    ``load_verify_locations``, ``load_cert_chain``): none on the Python core.

    Example
    -------
    >>> ssl_sealed()
    (False, False, False)
    """
    return (False, False, False)


def sqlite_companions_add(database: str) -> bool:
    """The callback's word, while it decides SQLite's own open of ``database`` or of one of its
    companions (journal, WAL, shared-memory and super-journal files, ``.lock`` folder), that
    the companions are decided as the database. Only from the sandbox's own code inside the
    callback. The Python core never decides SQLite's own opens (:func:`sqlite_open_guard`):
    ``False``, nothing named.

    Returns
    -------
    bool
        Whether ``database`` is the one being decided.

    Example
    -------
    >>> sqlite_companions_add("/tmp/x.db")
    Traceback (most recent call last):
    PermissionError: lambda-sandbox: sqlite_companions_add refused
    """
    if not _api:
        raise _refuse("sqlite_companions_add")
    return bool(_api["sqlite_companions_add"](database))


def sqlite_open_guard() -> str:
    """The native core decides SQLite's own opens at the open (it replaces the open system call
    of SQLite's unix VFS: docs/NATIVE.md); the Python core cannot replace a C function pointer,
    so SQLite's opens stay decided before them, by name (a documented limit).

    Example
    -------
    >>> sqlite_open_guard()[:4]
    'off:'
    """
    return "off: the Python core cannot replace SQLite's open system call"


def seal_clock(clock_settime: Any, clock_settime_ns: Any) -> bool:
    """The native core has ``time.clock_settime`` and ``clock_settime_ns`` (no event of
    CPython's) raise ``time.clock_settime`` first; the Python core cannot change C functions:
    always ``False`` (a documented limit).

    Example
    -------
    >>> seal_clock(None, None)
    False
    """
    return False


def seal_compilers(eval_: Any, exec_: Any, compile_: Any) -> bool:
    """The native core has ``eval``, ``exec`` and ``compile`` hand CPython an immutable copy of
    a ``bytearray`` source (CPython parses a bytearray from its live buffer, after the compile
    event); the Python core cannot change C functions: always ``False`` (a documented limit:
    another thread can change the buffer between the decision and the parse).

    Example
    -------
    >>> seal_compilers(None, None, None)
    False
    """
    return False


def seal_marshal(loads: Any, get_frozen_object: Any, fix_co_filename: Any) -> bool:
    """The native core has ``marshal.loads`` and ``_imp.get_frozen_object`` hand CPython an
    immutable copy of a buffer that can change (they read the live buffer after their event,
    which shows a copy), and, once installed, ``_imp._fix_co_filename`` rename only the code
    object its ``marshal.loads`` has just returned on the thread (the import system's rename of
    a module's code); the Python core cannot change C functions: always ``False`` (documented
    limits: another thread can change the buffer between the decision and the read, and the
    function can rename code to claim another file's site).

    Example
    -------
    >>> seal_marshal(None, None, None)
    False
    """
    return False


def seal_resolvers(
    getaddrinfo: Any, gethostbyname: Any, gethostbyname_ex: Any, gethostbyaddr: Any
) -> bool:
    """The native core hands ``_socket``'s resolvers an ASCII host as bytes (no "idna" codec
    of the function's runs after the decision); the Python core cannot change C functions:
    always ``False`` (a documented limit).

    Example
    -------
    >>> seal_resolvers(None, None, None, None)
    False
    """
    return False


def seal_socket_addresses(socket_type: Any) -> bool:
    """The native core has ``connect``, ``connect_ex``, ``bind``, ``sendto`` and ``sendmsg`` of
    ``_socket.socket`` raise a host name as ``socket.getaddrinfo`` (decided) before CPython looks
    it up; the Python core cannot change a C type's methods: always ``False`` (a documented
    limit: with it, a name given to those methods is looked up before it is decided).

    Example
    -------
    >>> import _socket
    >>> seal_socket_addresses(_socket.socket)
    False
    """
    return False


def fork_exec_sealed() -> bool:
    """Whether :func:`seal_fork_exec` took effect: never with the Python core.

    Example
    -------
    >>> fork_exec_sealed()
    False
    """
    return False


def seal_types(types: tuple[type, ...]) -> bool:
    """The native core's ``seal_types``: the Python core cannot make a class immutable (a
    documented limit: an attribute set on one of the sandbox's classes reaches its frozen
    copy). Checks its argument the same way and returns ``False``.

    Example
    -------
    >>> seal_types(())
    False
    """
    if type(types) is not tuple:
        raise TypeError("seal_types: a tuple of classes is needed")
    for item in types:
        if not isinstance(item, type) or not item.__flags__ & (1 << 9):
            raise TypeError("seal_types: only heap types can be sealed")
    return False


def hide_copies(pairs: tuple[tuple[type, type], ...]) -> bool:
    """The native core's ``hide_copies``: the Python core cannot take a class out of its base's
    ``__subclasses__()`` (a documented limit: a frozen copy found there leads to the hook's
    private module snapshots). Checks its argument the same way and returns ``False``.

    Example
    -------
    >>> hide_copies(())
    False
    """
    if type(pairs) is not tuple:
        raise TypeError("hide_copies: a tuple of (original, copy) is needed")
    for pair in pairs:
        if type(pair) is not tuple or len(pair) != 2:
            raise TypeError("hide_copies: a tuple of (original, copy) is needed")
        original, copy = pair
        if not (isinstance(original, type) and isinstance(copy, type)) or not (
            original.__flags__ & copy.__flags__ & (1 << 9)
        ):
            raise TypeError("hide_copies: only heap types")
        if original not in copy.__bases__:
            raise TypeError("hide_copies: a copy must subclass its original")
    return False


def plain_identity(path: str) -> tuple[int, int] | None:
    """The identity a kept answer for the real path ``path`` is validated against: ``(dev,
    ino)`` of the name looked up in its directory reached with no symbolic link on the way,
    ``(dev, -ino - 1)`` of that directory when the name is not there, ``None`` when neither
    holds (a link on the way or as the name itself, an odd name): nothing is kept then.

    Example
    -------
    >>> plain_identity("/") is None  # (no name in a directory)
    True
    """
    if type(path) is not str:
        raise TypeError("plain_identity: path must be str")
    if not fs_encodable(path):
        return None  # (a surrogate only a registered error handler could encode)
    try:
        if len(path.encode(_FS_ENCODING, _FS_ERRORS)) > OPEN_PATH_MAX:
            return None  # (the native core's bound, in the bytes the kernel gets)
    except UnicodeError:
        return None
    plain = _plain_lstat(path)
    if plain is None:
        return None
    st, folder = plain
    if st is None:
        return (folder.st_dev, -folder.st_ino - 1)
    if _S_ISLNK(st.st_mode):
        return None
    return (st.st_dev, st.st_ino)


def content_digest(data: bytes) -> str:
    """SHA-256 of ``data``, as 64 lowercase hex digits (the native core computes it in C).

    Example
    -------
    >>> content_digest(b"abc")[:16]
    'ba7816bf8f01cfea'
    """
    if type(data) is not bytes:
        raise TypeError("content_digest: data must be bytes")
    digest: str = _sha256(data).hexdigest()
    return digest


def compile_name(tree: object) -> object:
    """The native core says which file name the sealed ``compile`` running on this thread was
    given with ``tree`` as its source (CPython's event for a syntax tree carries none); the
    Python core seals nothing: always ``None`` (a documented limit: a site allowed to compile
    a tree can name its code as it likes).

    Example
    -------
    >>> compile_name(None) is None
    True
    """
    return None


_compile_original = compile  # (the builtin, taken at import: before the function's code runs)
_PyCF_ONLY_AST = 0x400


def compile_to_tree() -> bool:
    """Whether the compile whose event is being decided on this thread parses to a syntax tree
    only. The native core reads the flags its sealed ``compile`` was given; here, the frame
    that raised the event must hold ``flags`` with ``PyCF_ONLY_AST`` and call the builtin
    ``compile`` by that name: no global of its module and no other builtin answers for it
    (red team 136 pointed ``ast.compile`` at a C callable that handed ``compile()`` other
    flags). Only exact-``str`` keys are compared, with the built-in comparison; a module or
    builtins dict with another key is taken as answering otherwise. Another thread can still
    rebind the name between the call and this check (a documented limit of this core).

    Example
    -------
    >>> compile_to_tree()
    False
    """
    frame = _api["event_frame"]() if _api else None
    if frame is None:
        return False
    flags = frame_local(frame, "flags")
    if _type_of(flags) is not int or not flags & _PyCF_ONLY_AST:
        return False
    for key, _value in _dict_items(frame.f_globals):
        if _type_of(key) is not str or str.__eq__(key, "compile"):
            return False
    found = False
    for key, value in _dict_items(frame.f_builtins):
        if _type_of(key) is not str:
            return False
        if str.__eq__(key, "compile"):
            found = value is _compile_original
    return found


def unmarshal_renames_to(path: str | None) -> None:
    """The native core keeps the name ``_imp._fix_co_filename`` may give the code its sealed
    ``marshal.loads`` returns (the source the checked ``.pyc`` implies); the Python core seals
    nothing: it checks the argument and keeps nothing (a documented limit: the function can
    rename code, and so claim another file's site).

    Example
    -------
    >>> unmarshal_renames_to(None)
    """
    if path is not None and type(path) is not str:
        raise TypeError("unmarshal_renames_to(path: str | None)")


def module_bytecode_rules(
    compile_bytecode: object,
    chain: object,
    find_and_load: object,
    steady_prefixes: object,
    write_rules: bool,
    magic: bytes,
    cache_tag: str | None,
    max_module: int,
) -> bool:
    """The native core answers the import system's unmarshal of a module's own ``.pyc``
    itself, with these (the callback's own code sets, folders, magic number, cache tag and
    size bound); the Python core answers nothing itself (the callback decides every one, the
    same way): ``False``. Before install only (``PermissionError`` after, as the native core).

    Example
    -------
    >>> module_bytecode_rules((lambda: 0).__code__, (), (), (), False, b"x", None, 1)
    False
    """
    if _api:
        raise PermissionError("module_bytecode_rules: only before install")
    if (
        type(compile_bytecode) is not _CodeType
        or type(write_rules) is not bool
        or type(magic) is not bytes
        or not 0 < len(magic) <= 16
        or (cache_tag is not None and type(cache_tag) is not str)
        or type(max_module) is not int
    ):
        raise TypeError(
            "module_bytecode_rules(compile_bytecode: code, chain, find_and_load, "
            "steady_prefixes, write_rules: bool, magic: bytes, cache_tag: str | None, "
            "max_module: int)"
        )
    return False


def deployment_rules(steady_trees: tuple[str, ...], import_roots: tuple[str, ...]) -> bool:
    """The native core answers, below these folders (``decoders.code.steady_trees``: no
    ``files write`` rule reaches into them), the unmarshal of a module's ``.pyc`` in a folder
    not yet judged, and the load of a C extension's own file at one of the import roots under
    a name already allowed; the Python core answers neither itself (its callback decides
    every one, the same way): ``False``. Before install only (``PermissionError`` after, as
    the native core); the same checks of the arguments.

    Example
    -------
    >>> deployment_rules(("/var/task/",), ("/var/task",))
    False
    """
    if _api:
        raise PermissionError("deployment_rules: only before install")
    if (
        type(steady_trees) is not tuple
        or type(import_roots) is not tuple
        or any(type(item) is not str for item in steady_trees + import_roots)
    ):
        raise TypeError(
            "deployment_rules(steady_trees: tuple[str, ...], import_roots: tuple[str, ...])"
        )
    _trees_are_folders(steady_trees, 'deployment_rules: a steady tree is an absolute folder + "/"')
    return False


def module_exec_rules(exec_trees: tuple[str, ...]) -> bool:
    """The native core answers, below these module roots (each + ``/``: the invoke phase's
    ``code exec`` rules cover them whole, ``Policy.tree_allowed``), the ``exec`` event of a
    module's code in an invocation whose name the decision cache already allows; the Python
    core answers none itself (its callback decides every one, the same way): ``False``. Before
    install only (``PermissionError`` after, as the native core); the same checks of the
    argument.

    Example
    -------
    >>> module_exec_rules(("/var/task/",))
    False
    """
    if _api:
        raise PermissionError("module_exec_rules: only before install")
    if type(exec_trees) is not tuple or any(type(item) is not str for item in exec_trees):
        raise TypeError("module_exec_rules(exec_trees: tuple[str, ...])")
    _trees_are_folders(exec_trees, 'module_exec_rules: a tree is an absolute folder + "/"')
    return False


def _trees_are_folders(trees: tuple[str, ...], message: str) -> None:
    """The native core's check: each plain-ASCII tree an absolute folder + ``/`` (else
    ``ValueError(message)``); the others are left out there."""
    for tree in trees:
        if tree.isascii() and (len(tree) < 2 or tree[0] != "/" or tree[-1] != "/"):
            raise ValueError(message)


def deployment_folder(folder: str) -> None:
    """The native core keeps the folders the callback found the deployment's, to answer the
    import system's unmarshal of the modules in them itself; the Python core keeps nothing
    (its callback decides every one). Checks the argument only.

    Example
    -------
    >>> deployment_folder("/var/task")
    """
    if type(folder) is not str:
        raise TypeError("deployment_folder(folder: str)")


def unmarshal_sealed() -> bool:
    """The native core tells whether the ``marshal.loads`` event being decided comes from its
    sealed ``marshal.loads`` (not another unmarshaller, such as ``_imp.get_frozen_object``'s,
    which reads the live buffer after the event); the Python core seals nothing and cannot
    tell: always ``True`` (a documented limit).

    Example
    -------
    >>> unmarshal_sealed()
    True
    """
    return True


def core_dumps_off() -> int:
    """``RLIMIT_CORE``'s soft limit set to 0 (the hard one left as it is); the soft limit found
    (``-1``: unlimited). A core dump is a file the kernel writes with no system call of the
    process's, so no audit event could decide it (see docs/NATIVE.md).

    Example
    -------
    >>> core_dumps_off() >= -1
    True
    """
    import resource  # (only the Python core loads it: the native one calls setrlimit itself)

    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if soft != 0:
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    return -1 if soft == resource.RLIM_INFINITY else soft


def unmarshal_file(fd: int, offset: int) -> object:
    """``marshal.loads`` of the bytes of the regular file open at ``fd``, from ``offset`` to its
    end (the native core maps the file instead of copying it: see docs/NATIVE.md); before
    install only (``PermissionError`` after, as the native core).

    Example
    -------
    >>> import marshal, tempfile
    >>> with tempfile.TemporaryFile() as f:
    ...     _ = f.write(b"head" + marshal.dumps((1, "two"))); _ = f.flush()
    ...     unmarshal_file(f.fileno(), 4)
    (1, 'two')
    """
    if _api:
        # (as the native core: an install-time call)
        raise PermissionError("unmarshal_file: only before install")
    if type(fd) is not int or type(offset) is not int:
        raise TypeError("unmarshal_file(fd: int, offset: int)")
    if fd < 0 or fd > _INT_MAX:
        raise ValueError("unmarshal_file: not a file descriptor")
    size = _fstat(fd)
    if not _S_ISREG(size.st_mode):
        raise ValueError("unmarshal_file: not a regular file")
    end = size.st_size
    if offset < 0 or end <= offset:
        raise EOFError("unmarshal_file: no data at that offset")
    chunks = []
    while offset < end:
        chunk = _pread(fd, end - offset, offset)
        if not chunk:
            break  # (the file shrank: marshal says what is missing)
        chunks.append(chunk)
        offset += len(chunk)
    return _marshal_loads(b"".join(chunks))


_create_builtin = __import__("_imp").create_builtin  # (the import system's own: always loaded)
_exec_builtin = __import__("_imp").exec_builtin
_ModuleType = type(sys)
_SYNTAX_CLASSES: list[tuple[tuple[str, type], ...]] = []


def type_versions(types: tuple[type, ...]) -> tuple[int, ...]:
    """Each type's version tag, which a set or deleted attribute changes; the native core reads
    them, the Python core cannot (a documented limit): zeros.

    Example
    -------
    >>> type_versions((int, str))
    (0, 0)
    """
    return (0,) * len(types)


_UNICODEDATA_EXPECTED: list[object] = []


def expect_unicodedata(module: object, normalize: object, spec_type: type) -> bool:
    """The real ``unicodedata``, its ``normalize`` and importlib's ``ModuleSpec``, for the native
    core's check just before a non-ASCII shape parse; ``True`` for the first call only. The
    Python core keeps them and checks nothing in C (a documented limit: another thread can
    change them between the shape decoder's checks and the parse).

    Example
    -------
    >>> expect_unicodedata(sys, len, type) in (True, False)
    True
    """
    if _UNICODEDATA_EXPECTED:
        return False
    _UNICODEDATA_EXPECTED.append((module, normalize, spec_type))
    return True


def warnings_settled(filters: object) -> bool:
    """Whether CPython's C warning code keeps ``filters`` as the list it read last (a warning
    then drops no list of anyone's, whose finalizers would run inside the hook) and, from 3.14,
    no warnings context is set. The native core reads the interpreter's own state; the Python
    core cannot (a documented limit): ``True``.

    Example
    -------
    >>> warnings_settled([])
    True
    """
    return True


def syntax_classes() -> tuple[tuple[str, type], ...]:
    """The parser's syntax-node classes as ``(name, class)`` pairs, from a module of the
    interpreter's own ``_ast`` made here (never the one in ``sys.modules``). The native core
    also seals each but ``Constant`` and ``Tuple``; the Python core cannot (a documented limit:
    an attribute set on one later reaches the parser's nodes). Once: later calls return the
    same tuple.

    Example
    -------
    >>> dict(syntax_classes())["Name"].__name__
    'Name'
    """
    if _SYNTAX_CLASSES:
        return _SYNTAX_CLASSES[0]
    spec = _ModuleType("_ast")  # (a bare module standing in for a spec: only its name is read)
    spec.name = "_ast"  # type: ignore[attr-defined]
    module = _create_builtin(spec)
    _exec_builtin(module)
    found = tuple(
        (name, value)
        for name, value in module.__dict__.items()
        if type(name) is str and isinstance(value, type) and value.__flags__ & (1 << 9)
    )
    _SYNTAX_CLASSES.append(found)
    return found


def resolved_path(path: str) -> str | None:
    """``path`` with every link resolved, when every name on it exists (as libc's
    ``realpath(3)``, which the native core calls); ``None`` otherwise (a missing name, a loop,
    a name that cannot be encoded). Install-time only (roots, ``sys.path``'s folders).

    Example
    -------
    >>> resolved_path("/no/such/dir") is None
    True
    """
    if type(path) is not str:
        raise TypeError("resolved_path: path must be str")
    if not fs_encodable(path):
        return None
    try:
        return str(_realpath(path, strict=True))
    except (OSError, ValueError):
        return None


_os = __import__("os")
_os_open, _fstat, _pread, _readlink, _close = (
    _os.open,
    _os.fstat,
    _os.pread,
    _os.readlink,
    _os.close,
)
_FILE_IS_FLAGS = _os.O_RDONLY | _os.O_CLOEXEC | _os.O_NONBLOCK
_FILE_IS_HEAD_MAX = 65536  # (the native core's one read)
del _os


def file_is(path: str, offset: int, data: bytes, head: bytes = b"") -> str | None:
    """The real path of the regular file at ``path`` when its bytes from ``offset`` on are
    exactly ``data`` and it starts with ``head``, else ``None``: whether bytes the import
    system unmarshals (after a ``.pyc`` header whose magic number must be this Python's: the
    interpreter runs whatever bytecode it is given, and another version's is hand-made code
    to it), or a source it compiles, are the file's.

    The file really read names itself (``/proc/self/fd/N``): no resolution of ``path`` before
    or after, which another thread could change in between. One open (``O_NONBLOCK``: a FIFO
    at the name answers at once, with nothing), fstat (not a regular file, or a length that
    differs, answers at once), pread and readlink. The native core makes the same calls in C
    (and opens a plain absolute name with ``openat2``'s ``RESOLVE_NO_SYMLINKS``: opened, the
    name is its own real name, with no readlink), with no audit event
    and no object the size of the file, and after install answers the sandbox's own code
    only (it opens a file with no decision); here the open is the sandbox's own event
    (``hook.OWN_SITES``): this calls nothing of the function's.

    Example
    -------
    >>> file_is("/no/such/file", 0, b"") is None
    True
    """
    if type(offset) is not int or type(data) is not bytes or type(head) is not bytes:
        raise TypeError("file_is(path: str, offset: int, data: bytes, head: bytes = b'')")
    if len(head) > _FILE_IS_HEAD_MAX:
        raise TypeError("file_is: head is at most 65536 bytes")
    if type(path) is not str or offset < 0 or not fs_encodable(path):
        return None
    try:
        fd = _os_open(path, _FILE_IS_FLAGS)
    except (OSError, ValueError):
        return None
    try:
        st = _fstat(fd)
        if not _S_ISREG(st.st_mode) or st.st_size != offset + len(data):
            return None
        if head and _pread(fd, len(head), 0) != head:
            return None
        if _pread(fd, len(data), offset) != data:
            return None
        return str(_readlink("/proc/self/fd/" + str(fd)))
    except OSError:
        return None
    finally:
        _close(fd)


def _claims_module_file(event: str, args: object) -> bool:
    """A ``compile`` decided at init too: under an absolute file name (a ``str`` subclass's
    text read with ``str``'s own slot), or of a syntax tree (raised with no file name). The
    native core's compile_claims_module_file; the decoder tells which are claims."""
    if event != "compile" or type(args) is not tuple or len(args) < 2:
        return False
    name = args[1]
    if name is None:
        return args[0] is not None
    if not issubclass(type(name), str):
        return False
    return str.startswith(str.__str__(name), "/")


def file_identity(path: str) -> tuple[int, int, int, int, int, int, int] | None:
    """What ``os.stat(path)`` says of the file ``path`` leads to: (device, inode, link count,
    change time ns, modification time ns, size, mode); ``None`` where it raises (no such
    file, a NUL in the name, a name it cannot encode). The native core makes the same call
    without building a stat result (a verdict cache checks one per exec).

    Example
    -------
    >>> file_identity("/no/such/file") is None
    True
    """
    if type(path) is not str:
        raise TypeError("file_identity: path must be str")
    if not fs_encodable(path):
        return None  # (a surrogate only a registered error handler could encode)
    try:
        st = _stat(path)
    except (OSError, ValueError):
        return None
    return stat_identity(st)


_FrameType = type(sys._getframe())
_dict_items = dict.items


def frame_local(frame: object, name: object) -> object:
    """Local variable ``name`` of the Python frame ``frame``; ``None`` when it has none or it
    is unbound (a cell variable's contents, not its cell).

    The native core reads the frame's slots; here the frame's locals are snapshotted and
    walked, comparing only exact-``str`` keys with the built-in comparison (the snapshot may
    hold keys the function planted with ``frame.f_locals[...] = ...``: no lookup by hash that
    could call one's ``__eq__``).

    Example
    -------
    >>> def f():
    ...     answer = 42
    ...     return frame_local(sys._getframe(), "answer")
    >>> f()
    42
    """
    if _type_of(frame) is not _FrameType or _type_of(name) is not str:
        raise TypeError("frame_local(frame, name: str): a frame and an exact str")
    local = frame.f_locals
    if _type_of(local) is not dict:
        local = dict(local)  # (3.13+: a proxy of the frame's slots)
    for key, value in _dict_items(local):
        if _type_of(key) is str and str.__eq__(key, name):
            return value
    return None


# Objects kept by hold() until the next decision starts outside the callback.
_HELD: list[Any] = []


def hold(obj: object) -> None:
    """Keep ``obj`` until the next decision starts on a thread outside the callback.

    The callback hands what it read from the function's objects here (a syntax tree's
    nodes): another thread of the function's may drop its own references meanwhile, and the
    callback's must not be the last (a finalizer would run inside the hook). Anyone may
    call it: it only delays a release.

    Example
    -------
    >>> hold([1, 2])
    """
    _HELD.append(obj)


def caller_local(name: object) -> object:
    """Inside the callback, :func:`frame_local` of the frame that raised the caller event being
    decided on this thread; ``None`` elsewhere (outside the callback, or another event).

    Example
    -------
    >>> caller_local("anything") is None
    True
    """
    if type(name) is not str:
        raise TypeError("caller_local(name: str): an exact str")
    frame = _api["event_frame"]() if _api else None
    return None if frame is None else frame_local(frame, name)


def inside() -> bool:
    """Whether this thread is inside the callback now.

    Example
    -------
    >>> inside()
    False
    """
    return bool(_api["inside"]()) if _api else False


def installed() -> bool:
    """Whether the core's hook is installed in this process.

    Example
    -------
    >>> installed()  # doctest: +SKIP
    False
    """
    return bool(_api)
