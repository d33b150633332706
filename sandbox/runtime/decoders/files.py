"""Files: ``open``, the ``os.*`` and ``shutil.*`` file events, listings, ``chdir``, SQLite databases.

Every path is resolved against what the kernel will use: the directory behind ``dir_fd``, the
file behind an fd argument (``os.chmod(fd)``, ``os.listdir(fd)``...), or the working directory.
The ``open`` event carries no ``dir_fd`` (``os.open(name, flags, dir_fd=fd)`` raises it with the
bare name): a relative ``os.open`` is decided against every directory the name could be in —
the working directory and each directory descriptor the process holds — where it exists, and
for an open that may create, wherever it could be made; a directory where the name cannot be
looked at, or a descriptor table that cannot be read, makes it undecidable.
Events that change how paths resolve (remove, rename, link, symlink, mkdir/rmdir, mode and
owner changes, the shutil trees) fire before the operation: they are decided like any other,
then drop the cached answers that depend on the names they change (``paths.forget_below``).
"""

from __future__ import annotations

import _thread
import os
import sys

from .. import paths
from ..categories import UNDECODABLE
from ..core import descriptors_pinned as _descriptors_pinned
from ..core import import_known as _import_known
from ..core import phase as _phase
from ..sqlite_guard import parse_uri as _parse_uri
from ..values import PATH_MAX, as_int, as_path, undecodable
from ..values import open_actions as _open_actions
from ..values import unresolvable as _unresolvable
from . import code as _code

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Access = tuple[str, str, str, Any]

_type = type
_memoryview = memoryview
_Exception = Exception
# (tp_flags read by type's own descriptor: a metaclass cannot answer for it)
_type_flags = type.__dict__["__flags__"].__get__
_IMMUTABLE_TYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: set on C types, never on a class statement's
_str = str
_int = int
_len = len
_str_startswith = str.startswith
_str_find = str.find
_str_split = str.split
_str_endswith = str.endswith
_str_isascii = str.isascii
_str_rfind = str.rfind
_listdir = os.listdir
_getpid = os.getpid
_getpgrp = os.getpgrp
_native_thread_id = _thread.get_native_id
_int_from_bytes = int.from_bytes
_BYTEORDER = sys.byteorder
_readlink = os.readlink
_stat = os.stat
_lstat = os.lstat
_S_ISDIR = __import__("stat").S_ISDIR
_S_ISFIFO = __import__("stat").S_ISFIFO
_S_ISCHR = __import__("stat").S_ISCHR
_S_ISBLK = __import__("stat").S_ISBLK
_S_ISREG = __import__("stat").S_ISREG
_O_NONBLOCK = os.O_NONBLOCK
_OSError = OSError
_ValueError = ValueError
_ENOENT = __import__("errno").ENOENT
# lstat errors that mean "no such name here" (missing, or a file where a folder would be):
# the kernel finds none either. Any other error leaves the name unknown.
_ABSENT = frozenset({_ENOENT, __import__("errno").ENOTDIR})
_O_CREAT = os.O_CREAT
_O_TMPFILE = getattr(os, "O_TMPFILE", 0)  # (Linux: includes O_DIRECTORY)
_forget_below = paths.forget_below
_changed_name = paths.changed_name
_resolve = paths.resolve
_fd_path = paths.fd_path
_absolute = paths.absolute
_walk_turns = paths.walk_turns
_S_ISLNK = __import__("stat").S_ISLNK


def target_of(path: Any, dir_fd: Any = None) -> str | None:
    """The resolved target for a path argument: a real path, an undecodable marker, or None.

    ``None`` means the argument names no file (``None`` itself). An fd names the file it is
    open on; an fd or a base directory that cannot be known is undecodable (refused).
    """
    name = spelled(path, dir_fd)
    if name is None or name == "":
        return None  # no file; "" is refused by the kernel (ENOENT) before any lookup
    if _type(name) is _int:
        found = _fd_path(name)
        return found if found is not None else UNDECODABLE + "fd"
    if _str_startswith(name, UNDECODABLE):
        return name  # type: ignore[no-any-return]
    resolved = _resolve(name, None)
    return resolved if resolved is not None else _unresolvable(name)


def spelled(path: Any, dir_fd: Any = None) -> Any:
    """A path argument as the kernel will take it: an absolute name (joined to the directory
    behind ``dir_fd``, or the cwd, in one canonical spelling), an fd, ``None`` (no file, or a
    name the kernel refuses outright), ``""``, or an undecodable marker."""
    value = as_path(path)
    if _type(value) is not _str or _str_startswith(value, UNDECODABLE) or not value:
        return value
    if _str_find(value, "\x00") >= 0:
        return None  # the kernel refuses it (ValueError before any system call)
    base_fd = None
    if dir_fd is not None:
        base_fd = as_int(dir_fd)
        if base_fd is None:
            return undecodable(dir_fd)
    full = _absolute(value, base_fd)
    return full if full is not None else _unresolvable(value)


def _one(action: str, path: Any, dir_fd: Any = None) -> list[Access] | None:
    target = target_of(path, dir_fd)
    return None if target is None else [("files", action, target, None)]


def _arg(args: tuple[Any, ...], index: int) -> Any:
    return args[index] if _len(args) > index else None


def _directory_fds() -> tuple[list[str], list[int]] | None:
    """Directories the process holds descriptors on (candidates for an unseen ``dir_fd``):
    those with a name, and the descriptors of those without one (removed, or not the folder
    their old name leads to now). ``None`` when the descriptor table cannot be read (listing
    ``/proc/self/fd`` needs a free descriptor: it fails with a full table): any descriptor
    could be the one the kernel uses, so the caller refuses."""
    found: list[str] = []
    unnamed: list[int] = []
    try:
        names = _listdir("/proc/self/fd")
    except _OSError:
        return None
    # A descriptor the decision pinned (the native core's os.open dir_fd) is taken as it was
    # when the decision began, listed now or not: the one the call will use (checked again
    # when the decision ends), whatever another thread put under its number meanwhile.
    pins = _descriptors_pinned()
    pinned = [pin[0] for pin in pins]
    for pin in pins:
        fd, mode, dev, ino, target = pin
        if not _S_ISDIR(mode):
            continue
        named: str | None = None
        if target is not None and _str_startswith(target, "/"):
            try:
                named = target if _same_identity(_stat(target), dev, ino) else None
            except _OSError:
                pass
        _add_folder(found, unnamed, fd, named)
    for name in names:
        if _int(name) in pinned:
            continue
        link = "/proc/self/fd/" + name
        try:
            held = _stat(link)  # the descriptor's own file, whatever its name
        except _OSError as exc:
            if exc.errno == _ENOENT:
                continue  # closed meanwhile (the listing's own descriptor, among others)
            return None  # a descriptor the sandbox cannot look at may be a folder
        if not _S_ISDIR(held.st_mode):
            continue
        named = None
        try:
            # A name that cannot be read (longer than PATH_MAX...) is no name to decide on.
            target = _readlink(link)
            if _str_startswith(target, "/") and _same_file(_stat(target), held):
                named = target
        except _OSError:
            pass
        _add_folder(found, unnamed, _int(name), named)
    return found, unnamed


def _add_folder(found: list[str], unnamed: list[int], fd: int, target: str | None) -> None:
    if target is None:
        unnamed.append(fd)
    elif target not in found:
        found.append(target)


def _same_identity(a: Any, dev: int, ino: int) -> bool:
    return bool(a.st_dev == dev and a.st_ino == ino)


def _same_file(a: Any, b: Any) -> bool:
    return bool(a.st_dev == b.st_dev and a.st_ino == b.st_ino)


def _may_create(flags: int | None) -> bool:
    """Whether an ``os.open`` with these flags may make a file where the name leads
    (``O_CREAT``; ``O_TMPFILE``, whose unnamed file goes in the folder it names): unknown
    flags may."""
    if flags is None:
        return True
    return bool(flags & _O_CREAT) or (_O_TMPFILE != 0 and (flags & _O_TMPFILE) == _O_TMPFILE)


def _relative_os_open(actions: tuple[str, ...], name: str, flags: int | None) -> list[Access]:
    """``os.open`` of a relative name: the event does not say which ``dir_fd`` the kernel uses.

    Decided against every folder the kernel could start from — the working directory and each
    folder the process holds a descriptor on. An open that cannot create is decided where the
    name exists (from any other folder the kernel fails); one that may create
    (:func:`_may_create`) in every folder where the name exists or could be made (its own
    folder exists): the kernel makes it in whichever folder the call really names. A name
    that exists nowhere is decided where its folder exists (or from the working directory):
    the kernel refuses it, and learn records what was asked. Refused outright (undecidable):
    a descriptor table that cannot be read, a folder where the name cannot be looked at
    (longer than ``PATH_MAX`` from there, no search right, a link loop: any error but "no
    such name"), and a name reachable from a folder with no name to decide on (a descriptor
    on a removed folder: the kernel still resolves from it, ``..`` included).
    """
    fds = _directory_fds()
    if fds is None:
        return _undecidable(actions, "a descriptor table that cannot be read")
    folders, unnamed = fds
    if any(pin[0] in unnamed for pin in _descriptors_pinned()):
        # The native core's os.open knows its dir_fd (pinned): a folder with no name, from
        # which the kernel resolves the name, ".." included, wherever it is there.
        return _undecidable(actions, "a name under a removed folder's descriptor")
    here = paths.cwd()
    if here is None:
        # The working directory has no name (removed, or longer than PATH_MAX): the kernel
        # resolves from it, ".." included, to where the sandbox cannot say.
        return _undecidable(actions, "a working directory with no name")
    creates = _may_create(flags)
    existing: list[str] = []
    missing: list[str] = []  # (folders where the name is not: where it could be made)
    for base in (here, *folders):
        full = (base if base != "/" else "") + "/" + name
        found = _look(full)
        if found is None:
            missing.append(full)
        elif found:
            resolved = _resolved(full)
            if resolved not in existing:
                existing.append(resolved)
        else:
            return _undecidable(
                actions, "a name that cannot be looked at from a folder it may be in"
            )
    for fd in unnamed:
        full = "/proc/self/fd/" + _str(fd) + "/" + name
        found = _look(full)
        if found is None:
            missing.append(full)
        else:
            # (found or not looked at: either way from a folder with no name)
            return _undecidable(actions, "a name under a removed folder's descriptor")
    candidates = existing
    if creates or not existing:
        for full in missing:
            place = _could_be_made(full)
            if place is None:
                continue  # its folder is not there: the kernel fails from this one
            if not place or _str_startswith(full, "/proc/self/fd/"):
                return _undecidable(actions, "a new name whose folder cannot be looked at")
            resolved = _resolved(full)
            if resolved not in candidates:
                candidates.append(resolved)
    if not candidates:
        target = target_of(name)
        candidates = [] if target is None else [target]
    return [("files", action, c, None) for c in candidates for action in actions]


def _undecidable(actions: tuple[str, ...], why: str) -> list[Access]:
    return [("files", action, UNDECODABLE + why, None) for action in actions]


def _look(full: str) -> bool | None:
    """Whether the name ``full`` is there (``lstat``): ``True``; ``None`` when there is no such
    name (``ENOENT``, ``ENOTDIR``: the kernel finds none either); ``False`` when it cannot be
    looked at (too long, no search right, a loop...): the kernel, starting from a descriptor
    rather than this spelling, may well find it."""
    if _len(full) > PATH_MAX:
        return False
    try:
        _lstat(full)
    except _OSError as exc:
        return None if exc.errno in _ABSENT else False
    except _ValueError:
        return False
    return True


def _could_be_made(full: str) -> bool | None:
    """Whether the missing name ``full`` could be made: its folder (followed) is a folder
    (``True``); ``None`` when that is not there; ``False`` when it cannot be looked at."""
    folder = full[: _str_rfind(full, "/")] or "/"
    try:
        mode = _stat(folder).st_mode
    except _OSError as exc:
        return None if exc.errno in _ABSENT else False
    except _ValueError:
        return False
    return True if _S_ISDIR(mode) else None


def _resolved(full: str) -> str:
    resolved = _resolve(full)
    return resolved if resolved is not None else _unresolvable(full)


# What the import system and the traceback machinery read for themselves: module files under
# the module roots, and the directories they list. These belong to the import (decided by the
# module's name) or to an error being formatted (the function's own source lines in a
# traceback, at any phase), not to the function's code.
_MODULE_SUFFIXES = (".py", ".pyc", ".pyi", ".so", ".pth", ".zip")


def _for_the_machinery(target: str, listing: bool, raw: Any = None) -> bool | str:
    """Whether the import system (or a traceback reader) makes this read or listing:
    ``True`` (no access), ``False`` (decided as any other), or the name of the module whose
    file it reads for an import not decided yet (decided as that import)."""
    if not listing and not target.endswith(_MODULE_SUFFIXES):
        return False
    # Where first (string tests), then who (a walk of the stack): most reads outside the
    # module roots are the function's, and need no frame looked at.
    if not _str_startswith(target, _code.MODULE_PREFIXES) and target not in _code.MODULE_ROOTS:
        return False
    frame = _code.caller_frame(3)
    if frame is None:
        return False
    code_id = id(frame.f_code)
    if listing:
        return code_id in _code.MACHINERY_CODES  # a folder's names, for the finders
    if code_id in _code.SOURCE_READER_CODES:
        # A traceback's source lines: only of modules the import system loaded (what they
        # hold is in memory anyway), not any file linecache or tokenize is pointed at.
        # (A module loaded before install is known by its __file__: it counts when the name
        # asked for is that and leads to itself, no link on the way.)
        return target in _code.LOADED_SOURCES or (raw == target and target in _code.LOADED_FILES)
    if code_id in _code.IMPORT_CODES:
        # A module file read for a real import of the module it is the file of -- an import
        # decided already (its event, or the import guard's). A finder placed before the guard
        # (importlib.import_module raises no import event) loads with importlib's own readers
        # too: the import of that name is then decided here, as the read's access.
        name = _code.importing(frame)
        if name is not None and _code.file_is_module(target, name):
            if not _code.module_file_at_root(_code.unprefixed(target), name):
                # Not where the import system finds that module (under an import root, at
                # its dotted path): a loader of the function's naming some file after an
                # allowed module (round 26). Decided as the read it is.
                return False
            if not _import_known(name):
                return name
            _code.LOADED_SOURCES.add(_code.module_source(target))
            return True
    return False


def module_files_plain(directory: str) -> bool:
    """Whether reading a module file directly in ``directory`` (a resolved folder) is decided
    like reading any other file there: the folder is outside the module roots (none at or
    above it, none below it), so neither :func:`_imports_at_init` nor
    :func:`_for_the_machinery` looks at such a read. The hook then lets the folder's read
    verdict answer module files too (``core.dir_module_verdict_add``).
    """
    below = directory if directory == "/" else directory + "/"
    if _str_startswith(below, _code.MODULE_PREFIXES):
        return False
    return not any(_str_startswith(root, below) for root in _code.MODULE_ROOTS)


def open_actions(mode: Any, flag_bits: int | None) -> tuple[str, ...]:
    """What an ``open`` with this mode and these flags does: ``("read",)``, ``("write",)`` or
    both. It reads unless it is write-only, and writes when it may change the file (a write
    access mode, creating, truncating, appending, ``O_TMPFILE``); the mode's letters add to
    that. A read-write open is both accesses: a write rule grants no read, a read deny holds.
    (``values.open_actions``: the cores' rule too, for the answers they give themselves.)

    Example
    -------
    >>> open_actions("r+", os.O_RDWR), open_actions(None, os.O_WRONLY | os.O_CREAT)
    (('read', 'write'), ('write',))
    """
    reads, writes = _open_actions(mode if _type(mode) is _str else None, flag_bits or 0)
    if reads and writes:
        return _READ_WRITE
    return _WRITE if writes else _READ


_READ = ("read",)
_WRITE = ("write",)
_READ_WRITE = ("read", "write")


def decode_open(args: tuple[Any, ...]) -> list[Access] | None:
    path, mode, flags = args[0], args[1], args[2]
    if mode is not None and _type(mode) is not _str:
        return [("files", "write", undecodable(mode), None)]
    actions = open_actions(mode, as_int(flags))
    value = as_path(path)
    if _type(value) is _int:
        return None  # open(fd): wraps a descriptor already open (decided when it was opened)
    if _len(args) > 3 and args[3] is True and _in_the_child_elsewhere(path):
        # (the native core's posix_spawn OPEN action: the child resolves the name after the
        # actions before it, which may put anything under a descriptor's number there)
        return [("files", action, _CHILD_ELSEWHERE, None) for action in actions]
    if (
        mode is None
        and _type(value) is _str
        and value
        and not _str_startswith(value, "/")
        and not _str_startswith(value, UNDECODABLE)
    ):
        return special_files(_relative_os_open(actions, value, as_int(flags)), flags)
    reading = actions is _READ
    if reading and _type(value) is _str and _phase() == "init" and _imports_at_init(value):
        return None
    accesses = _one(actions[0], path)
    if not accesses:
        return accesses
    checked = special_files(accesses, flags)
    if checked is not accesses:
        return checked
    if reading:
        machinery = _for_the_machinery(accesses[0][2], False, value)
        if machinery is True:
            return None
        if machinery:
            return [("modules", "import", machinery, None)]  # (a name: see _for_the_machinery)
        return accesses
    return [
        (category, action, target, detail)
        for category, _, target, detail in accesses
        for action in actions
    ]


_CHILD_ELSEWHERE = (
    UNDECODABLE + "a name that leads elsewhere in the child (/proc, /dev/fd, /dev/std*)"
)


def _in_the_child_elsewhere(path: Any) -> bool:
    """Whether a name a child will open may lead elsewhere there than here: one whose walk
    goes through ``/proc`` (``/proc/self/fd/N``, ``/dev/fd/N``, ``/dev/stdout``: the child's
    own, after its earlier file actions), or one that cannot be walked."""
    name = spelled(path)
    if _type(name) is not _str or _str_startswith(name, UNDECODABLE):
        return False  # (decided as it is: undecodable, or no file)
    resolved, _, volatile = paths.walk_turns(name)
    return resolved is None or volatile


def special_files(accesses: list[Access], flags: Any) -> list[Access]:
    """``accesses``, or a refusal when one of them opens a FIFO without ``O_NONBLOCK``, or a
    device node anywhere but the system's ``/dev``.

    A blocking FIFO open waits until the other end opens; a signal interrupts it, and CPython
    runs the Python handler before it retries the open -- with no new audit event, on the name
    as it is then: a handler that swaps the name for a link makes the retry open what the
    decision never saw. A device node is made with ``os.mknod``, which raises no audit event:
    where the function runs as root and seccomp does not hold (``mknodat`` refused), one made at
    a name the rules allow (a temp file's) would be an allowed open of a disk or of memory. The
    system's nodes are in ``/dev`` (a name there resolves to them), never in its two folders
    anyone may write, ``/dev/shm`` and ``/dev/mqueue``. (The native core answers opens of
    regular files and directories only: see _core.c.)"""
    bits = as_int(flags)
    blocking = bits is not None and not bits & _O_NONBLOCK
    for access in accesses:
        target = access[2]
        if _str_startswith(target, UNDECODABLE):
            continue
        try:
            mode = _stat(target).st_mode
        except (_OSError, _ValueError):
            continue  # not there (a create makes a regular file), or refused by the kernel
        if blocking and _S_ISFIFO(mode):
            return [
                (
                    "files",
                    access[1],
                    UNDECODABLE + "a FIFO opened blocking (its open is retried after "
                    "signal handlers run)",
                    None,
                )
            ]
        if (_S_ISCHR(mode) or _S_ISBLK(mode)) and not _system_device(target):
            return [
                (
                    "files",
                    access[1],
                    UNDECODABLE + "a device node outside /dev (os.mknod makes one with no "
                    "audit event)",
                    None,
                )
            ]
    return accesses


def _system_device(target: str) -> bool:
    """Whether a device node's real name is one of the system's: below ``/dev``, not in the
    folders there anyone may write.

    Example
    -------
    >>> _system_device("/dev/null"), _system_device("/dev/shm/x"), _system_device("/tmp/x")
    (True, False, False)
    """
    return _str_startswith(target, "/dev/") and not _str_startswith(
        target, ("/dev/shm/", "/dev/mqueue/")
    )


def _imports_at_init(value: str) -> bool:
    """The import system reading a module file under a code root during init.

    Init is the function's own start (its imports), before any event data reaches it: the file
    is not resolved and no stack walk proves a real import (both cost more than the rest of
    the decision; ``import boto3`` reads ~270 such files). From invoke on, every module read
    is resolved and proven (:func:`_for_the_machinery`).
    """
    if not value.endswith(_MODULE_SUFFIXES) or not _str_startswith(value, _code.MODULE_PREFIXES):
        return False
    if "/../" in value or "/./" in value:
        return False
    if not _by_the_import_system(value, _S_ISREG):
        return False
    _code.LOADED_SOURCES.add(_code.module_source(value))
    return True


def _by_the_import_system(value: str, kind: Any) -> bool:
    """The init shortcuts' common test: ``value`` names a file of that kind itself (``lstat``:
    a link, to anything, says nothing of where it leads), and the innermost function outside
    the sandbox is one of the import system's readers."""
    try:
        if not kind(_lstat(value).st_mode):
            return False
    except (_OSError, _ValueError):
        return False
    frame = _code.caller_frame(3)
    return frame is not None and id(frame.f_code) in _code.IMPORT_CODES


def _lists_at_init(value: str) -> bool:
    """The import system listing a folder at or under a code root during init (its finder
    filling its cache): :func:`_imports_at_init` for a listing, not resolved either. The name
    is absolute, ASCII, with no ``.`` or ``..`` segment and no doubled or trailing slash, and
    is a folder itself (no link); the innermost function outside the sandbox is the finder's.
    From invoke on, every listing is resolved and proven (:func:`_for_the_machinery`).
    """
    if not _str_isascii(value) or not 2 <= _len(value) < 4096 or value[0] != "/":
        return False
    if value[-1] == "/" or "\x00" in value or "//" in value or "/./" in value or "/../" in value:
        return False
    if _str_endswith(value, ("/.", "/..")):
        return False
    if not _str_startswith(value + "/", _code.MODULE_PREFIXES):
        return False
    return _by_the_import_system(value, _S_ISDIR)


def _changes(name: Any, accesses: list[Access] | None) -> None:
    """``name`` (from :func:`spelled`) is about to change: drop the cached answers that
    depend on it (all of them when where it is cannot be read) — and on the file it leads to,
    which is what changes when the call follows a final link (``chmod``, ``chown``, ``utime``,
    ``setxattr``...)."""
    if _type(name) is _str and _str_startswith(name, UNDECODABLE):
        name = None
    _forget_below(_changed_name(name) if name is not None else None)
    if accesses:
        target = accesses[0][2]
        if not _str_startswith(target, UNDECODABLE):
            _forget_below(target)


def _the_name(action: str, name: Any) -> list[Access] | None:
    """The access to a name itself, its last component not followed: what ``remove``,
    ``rmdir``, ``mkdir``, ``rename`` and ``symlink`` change is the directory entry (removing
    a link removes the link, not its target). Where that place cannot be named, the name is
    decided as usual (followed)."""
    if _type(name) is _str and name and not _str_startswith(name, UNDECODABLE):
        place = _changed_name(name)
        if place is not None:
            return [("files", action, place, None)]
    return _one(action, name)


def _mutating(action: str, path_index: int, dir_fd_index: int | None, follows: bool = True) -> Any:
    decide = _one if follows else _the_name

    def decode(args: tuple[Any, ...]) -> list[Access] | None:
        dir_fd = _arg(args, dir_fd_index) if dir_fd_index is not None else None
        name = spelled(_arg(args, path_index), dir_fd)
        out = decide(action, name)
        _changes(name, out)
        return out if follows else _system_names_kept(out)

    return decode


def _made_node(mode_index: int, dir_fd_index: int) -> Any:
    """``os.mkfifo`` (path, mode, dir_fd) and ``os.mknod`` (path, mode, device, dir_fd): events
    the native core raises (CPython raises none): a new name, written. Only an exact ``str`` or
    ``bytes`` path is decided (CPython converts any other again after the event), and a device
    node is refused wherever it would be made (an open outside the system's ``/dev`` would be
    refused anyway: :func:`special_files`; none may be added there)."""

    def decode(args: tuple[Any, ...]) -> list[Access] | None:
        path, mode = _arg(args, 0), _arg(args, mode_index)
        if _type(path) is not _str and _type(path) is not bytes:
            return [("files", "write", undecodable(path), None)]
        if mode is not None and _type(mode) is not _int:
            return [("files", "write", undecodable(mode), None)]
        if mode is not None and (_S_ISCHR(mode) or _S_ISBLK(mode)):
            return [("files", "write", UNDECODABLE + "a device node (os.mknod)", None)]
        name = spelled(path, _arg(args, dir_fd_index))
        out = _the_name("write", name)
        _changes(name, out)
        return _system_names_kept(out)

    return decode


def _system_names_kept(accesses: list[Access] | None) -> list[Access] | None:
    """``accesses`` of a change of names (a removal, a rename, a new link or folder), or a
    refusal when one of them is a name in the system's ``/dev``: an open there trusts the
    device node it finds (:func:`special_files`), so none may be removed, replaced or added
    -- a rule that lets the function write ``/dev/null`` lets it open it, not remove it and
    make another device at its name with ``os.mknod`` (no audit event)."""
    for access in accesses or ():
        if _system_device(access[2]):
            return [
                (
                    "files",
                    access[1],
                    UNDECODABLE + "a name in the system's /dev changed (an open there trusts "
                    "the device node it finds)",
                    None,
                )
            ]
    return accesses


def _two(
    first_action: str,
    second_action: str,
    dir_fds: bool,
    follows: bool = True,
    changes_names: bool = False,
) -> Any:
    decide = _one if follows else _the_name

    def decode(args: tuple[Any, ...]) -> list[Access] | None:
        first = spelled(args[0], _arg(args, 2) if dir_fds else None)
        second = spelled(_arg(args, 1), _arg(args, 3) if dir_fds else None)
        first_out = decide(first_action, first)
        if changes_names and first_out is not None:
            # A file moved or linked to a new name is read through that name under the new
            # name's rules: only a file the function may read may go where it could be read
            # (red team 72: a write-only file renamed or linked to a readable name, read, and
            # renamed back).
            first_out = first_out + (decide("read", first) or [])
        second_out = decide(second_action, second)
        if changes_names:
            # (a link moved, or given a second name, is read from its new folder: red team 84;
            # a folder moved carries what is under it: red team 86)
            second_out = (second_out or []) + _moved_link(first, second)
            second_out += _moved_folder(first, second)
        if first_action == "write":
            # (a copy's or a hard link's source is read: no name changes, no file's identity
            # either — a new link changes the file's link count, not where a name leads)
            _changes(first, first_out)
        _changes(second, second_out)
        out = ((first_out or []) + (second_out or [])) or None
        return _system_names_kept(out) if changes_names else out

    return decode


def _tree_removal(args: tuple[Any, ...]) -> list[Access] | None:
    # shutil.rmtree: decided on the tree's root (followed, as rmtree refuses a link there).
    # It drops no cached answer itself: what it removes, it removes with os.unlink and
    # os.rmdir, each an audited change of its own that drops what depends on its name (the
    # answers for names still there, the directory verdicts, stay good until then).
    return _system_names_kept(_one("write", spelled(_arg(args, 0), _arg(args, 1))))


def _symlink(args: tuple[Any, ...]) -> list[Access] | None:
    # The new link is written; it is also a second name for its target, which programs the
    # sandbox does not see open through it (a child handed the link's name: red team 83's
    # learned `zip` of a name the function had made a link to a secret). The target is decided
    # as os.link decides its source: read and written (a link grants no access its target's
    # rules do not), on the file the link would lead to now -- a relative target from the
    # link's own folder.
    name = spelled(_arg(args, 1), _arg(args, 2))
    written = _the_name("write", name)
    _changes(name, written)
    out = _system_names_kept(written)
    accesses = (out or []) + _link_accesses(_link_target(_arg(args, 0), name))
    # (deciding the target resolved names, and kept the answers: one below the link's own
    # name -- a target under the link, which the link makes a loop -- is stale once it exists)
    _changes(name, written)
    return accesses or None


def _link_accesses(target: str) -> list[Access]:
    """A link to ``target`` (from :func:`_link_target`) is a read and a write of the file it
    leads to -- refused when the way there goes through ``/proc`` (``/proc/self/cwd``,
    ``/dev/fd`` and the like): every process that follows the link reads those as its own,
    so what the function's view says it leads to is not what an allowed program it hands the
    name to opens (red team 84: ``/proc/self/cwd/x`` from a child run in another folder). A
    link is also a way to everything under its target (:func:`_everything_under`), should
    that be, or become, a folder."""
    turns: list[str] = []
    if not _str_startswith(target, UNDECODABLE):
        _, turns, through_proc = _walk_turns(target)
        if through_proc:
            target = (
                UNDECODABLE + "a link that leads through /proc (each process reads it as its own)"
            )
    out = (_one("read", target) or []) + (_one("write", target) or [])
    if not _str_startswith(target, UNDECODABLE):
        # (whatever the target is now: a name not there yet, or a file the function may
        # remove, can be made a folder after the check -- os.mkdir decides the folder's name
        # alone -- and the link then leads into it: red team 89 had a learned cp write there)
        out += _everything_under(target, ("read", "write"))
        # (and a link on the way, which leads elsewhere now, may be replaced by a folder at its
        # own name: everything under that name, not under where it leads -- red team 90)
        for turn in turns:
            out += _under(_changed_name(turn), ("read", "write"))
    return out


def _everything_under(folder: str, actions: tuple[str, ...]) -> list[Access]:
    """``folder``'s contents, whatever they are or become, as the accesses ``actions`` of the
    name ``<folder>/**``: allowed where a rule covers everything under the folder, not where
    one allows the folder's name alone (the runtime's ``{tmp}/????????``, for tempfile's
    probe file, matches an 8-character folder of anyone's in the temp folder: red teams 86
    and 88 made it reachable from the function's own folders by a move and by a link)."""
    resolved = target_of(folder)
    return [] if resolved is None else _under(resolved, actions)


def _under(place: str | None, actions: tuple[str, ...]) -> list[Access]:
    """The accesses ``actions`` of ``<place>/**``, ``place`` a name already resolved as the
    caller means it: "/**" is added as text, so an entry of that name there (a link) is never
    followed. ``None``: a place that cannot be named (refused)."""
    if place is None:
        under = UNDECODABLE + "a folder that cannot be named"
    elif _str_startswith(place, UNDECODABLE):
        under = place
    else:
        under = (place if place != "/" else "") + "/**"
    return [("files", action, under, None) for action in actions]


def _moved_folder(source: Any, destination: Any) -> list[Access]:
    """A folder moved (``os.rename``) carries everything under it: the names there are then
    read and written under the destination's rules. Decided as a read and a write of
    everything under the source (what the function may not read or change where it is, it
    may not take elsewhere to read or change) and a write of everything under the
    destination."""
    if _type(source) is not _str or _type(destination) is not _str:
        return []
    place = _changed_name(source)
    there = _changed_name(destination)
    if place is None or there is None:
        return []
    try:
        if not _S_ISDIR(_lstat(place).st_mode):
            return []
    except _OSError as exc:
        if exc.errno in _ABSENT:
            return []  # (no such name: the call fails, nothing is moved)
        return [("files", "write", UNDECODABLE + "a moved name that cannot be looked at", None)]
    return _everything_under(place, ("read", "write")) + _everything_under(there, ("write",))


def _moved_link(source: Any, destination: Any) -> list[Access]:
    """A link moved or given a second name (``os.rename``, ``os.link`` of the link itself:
    its event does not say which) is a link with the same text in the destination's folder.
    A relative text read from there may lead elsewhere (red team 84: a link allowed in its own
    folder, hard-linked into ``/tmp``, led to the secret from there): decided as a new link
    there, when it leads elsewhere than from where it is."""
    if _type(source) is not _str or _type(destination) is not _str:
        return []
    place = _changed_name(source)
    if place is None:
        return []
    try:
        if not _S_ISLNK(_lstat(place).st_mode):
            return []
        text = _readlink(place)
    except _OSError as exc:
        if exc.errno in _ABSENT:
            return []  # (no such name: the call fails, nothing is moved)
        return [("files", "write", UNDECODABLE + "a moved name that cannot be looked at", None)]
    if _str_startswith(text, "/"):
        return []  # (the same text leads to the same place from anywhere)
    there = _link_target(text, destination, climbing=True)
    here = _link_target(text, source, climbing=True)
    if (
        not _str_startswith(there, UNDECODABLE)
        and not _str_startswith(here, UNDECODABLE)
        and not _walk_turns(here)[2]
        and _resolve(there, None) == _resolve(here, None) is not None
    ):
        return []  # (it leads to the same file from both folders)
    return _link_accesses(there)


def _holds_dotdot(text: str) -> bool:
    """Whether the path ``text`` has a ``..`` component anywhere."""
    return ".." in _str_split(text, "/")


def _link_target(value: Any, name: Any, climbing: bool = False) -> str:
    """Where a new link ``name`` (from :func:`spelled`) to ``value`` would lead: ``value``
    itself when absolute, else joined to the link's folder; an undecodable marker when that
    cannot be told (a target of another type than exact ``str``/``bytes``, a folder that
    cannot be named)."""
    target = as_path(value)
    if _type(target) is not _str or _str_startswith(target, UNDECODABLE):
        return target if _type(target) is _str else undecodable(value)
    if not target or _str_find(target, "\x00") >= 0:
        return UNDECODABLE + "a link's target the kernel refuses"
    if not climbing and _holds_dotdot(target):
        # A ".." is taken from wherever the component before it leads when the link is
        # followed, not from where it leads now: a relative text that climbs above the link's
        # own folder leads elsewhere as soon as that folder moves (red team 85: "../../secret"
        # from staging/north, then the folder published one level up), and any text --
        # absolute too -- whose ".." comes after a component the function can later make a
        # link (or point elsewhere) climbs from there (red team 87: /task/allowed/x/../../secret
        # with x a link to allowed/deep/deeper, then x pointed at allowed/deep). A text with no
        # ".." leads inside whatever its folders become; a move of the link itself is decided
        # again (_moved_link).
        return UNDECODABLE + "a link whose text holds '..'"
    if _str_startswith(target, "/"):
        return target
    place = _changed_name(name) if _type(name) is _str and name else None
    if place is None:
        return UNDECODABLE + "a relative link whose folder cannot be named"
    folder = place[: _str_rfind(place, "/")] or "/"
    return (folder if folder != "/" else "") + "/" + target


def _reads_first(args: tuple[Any, ...]) -> list[Access] | None:
    return _one("read", args[0])


def _writes_first(args: tuple[Any, ...]) -> list[Access] | None:
    return _one("write", args[0])


def _lists_first(args: tuple[Any, ...]) -> list[Access] | None:
    path = args[0] if args else None
    if _type(path) is _str and _phase() == "init" and _lists_at_init(path):
        return None
    accesses = _one("list", "." if path is None else path)
    if accesses and _for_the_machinery(accesses[0][2], True):
        return None
    return accesses


def _chdir(args: tuple[Any, ...]) -> list[Access] | None:
    # Entering a directory moves the base of every later relative path: decided as a listing.
    # No cached answer depends on the cwd (relative names are joined to it afresh, and a
    # resolution through /proc/self/cwd is never kept).
    return _one("list", args[0])


def _sqlite(args: tuple[Any, ...]) -> list[Access] | None:
    # SQLite reads the name two ways depending on a flag the event does not carry (uri=): a
    # plain file name, and a `file:` URI (percent-decoded, the last mode= wins). Both are
    # decided, as for ATTACH (sqlite_guard): a memory database opens no file in the URI reading.
    database = args[0]
    value = as_path(database)
    if _type(value) is not _str or _str_startswith(value, UNDECODABLE):
        return _one("write", database)
    if value == "" or value == ":memory:":
        return None
    # (SQLite reads the database it opens as well as writes it: both are decided)
    out = (_one("write", value) or []) + (_one("read", value) or [])
    if _str_startswith(value, "file:"):
        path, mode = _parse_uri(value)
        if path is None:
            return special_files(out, None) or None  # (a URI SQLite refuses opens nothing)
        if path != "" and path != ":memory:" and mode != "memory":
            out += _one("read" if mode == "ro" else "write", path) or []
    return special_files(out, None) or None


def _ssl_file(args: tuple[Any, ...]) -> list[Access] | None:
    """``ssl.load_file`` (raised by the native core before OpenSSL reads a file by name, which
    it does with no audit event: ``load_verify_locations``, ``load_cert_chain``,
    ``_ssl._test_decode_cert``): the path as SQLite's and every open's are, a read; a
    ``"folder"`` (``capath``, whose files OpenSSL reads later, by hashed names) as a read of
    everything under it."""
    path, kind = _arg(args, 0), _arg(args, 1)
    if _type(kind) is _str and kind == "folder":  # (a forged event's object is never asked)
        return _under(target_of(path), ("read",))
    return _one("read", path) or _under(None, ("read",))


def _catalog_folder(args: tuple[Any, ...]) -> list[Access] | None:
    """``locale.bindtextdomain`` (raised by the native core before glibc keeps a gettext
    domain's folder, whose catalogs ``<folder>/<locale>/LC_<category>/<domain>.mo`` it opens
    later by name, with no audit event): a read of everything under the folder."""
    return _under(target_of(_arg(args, 0)), ("read",))


def _perf_map_file(args: tuple[Any, ...]) -> list[Access] | None:
    """``sys.perf_map_file`` (raised by the native core before ``sys.activate_stack_trampoline``
    has CPython make and append to ``/tmp/perf-<pid>.map``, or 3.14's ``/tmp/jit-<pid>.dump``,
    with no audit event): a write of that file."""
    return _one("write", _arg(args, 0)) or _under(None, ("write",))


# fcntl commands that make this process's own later open of a file block, to be retried
# after signal handlers run (see special_files): a lease is broken by an open of the file,
# and its holder is signalled while that open waits.
_F_SETLEASE = 1024


# fcntl/ioctl commands that make the kernel signal a process (SIGIO, or F_SETSIG's signal)
# when the descriptor is ready: the owner they set is decided like a signal to it.
_F_SETOWN, _F_SETOWN_EX = 8, 15
_FIOSETOWN, _SIOCSPGRP = 0x8901, 0x8902
_TIOCSPGRP = 0x5410  # a terminal's foreground process group: signalled from the terminal
_F_OWNER_PGRP = 2


# An int argument is handed to the kernel as it is: where a command or request takes a pointer
# (a lock's struct flock, an owner's struct, FIONREAD's count), the int is the address the
# kernel reads and writes -- any memory of the process below 4 GB (the C int CPython passes),
# which is where a non-PIE interpreter keeps its static data and its malloc heap (the audit
# hooks' list among them). CPython's own copy is used only for a bytes or buffer argument.
# So a nonzero int where the kernel takes a pointer is `native memory write`, like ctypes'
# from_address; 0 (NULL) is the kernel's EFAULT. The commands and requests below take a value
# (or nothing): their int is not an address.
_FCNTL_VALUE_COMMANDS = frozenset(
    {
        0,  # F_DUPFD
        1,  # F_GETFD
        2,  # F_SETFD
        3,  # F_GETFL
        4,  # F_SETFL
        8,  # F_SETOWN
        9,  # F_GETOWN
        10,  # F_SETSIG
        11,  # F_GETSIG
        1024,  # F_SETLEASE
        1025,  # F_GETLEASE
        1026,  # F_NOTIFY
        1029,  # F_CANCELLK
        1030,  # F_DUPFD_CLOEXEC
        1031,  # F_SETPIPE_SZ
        1032,  # F_GETPIPE_SZ
        1033,  # F_ADD_SEALS
        1034,  # F_GET_SEALS
    }
)
_IOCTL_VALUE_REQUESTS = frozenset(
    {
        0x5450,  # FIONCLEX (no argument)
        0x5451,  # FIOCLEX (no argument)
        0x5409,  # TCSBRK
        0x540A,  # TCXONC
        0x540B,  # TCFLSH
        0x540C,  # TIOCEXCL (no argument)
        0x540D,  # TIOCNXCL (no argument)
        0x540E,  # TIOCSCTTY
        0x5422,  # TIOCNOTTY (no argument)
        0x5427,  # TIOCSBRK (no argument)
        0x5428,  # TIOCCBRK (no argument)
    }
)
_MEMORY_AT_AN_ADDRESS: list[Access] = [("native", "memory", "write", None)]


def _address_argument(value: Any) -> bool:
    """Whether ``value``, the third argument of ``fcntl.fcntl``/``fcntl.ioctl``, reaches the
    kernel as an address. CPython takes a buffer first (a str, bytes or read-only buffer: its
    own copy; a writable buffer: the caller's memory), else an int (0 is NULL). An object of a
    class written in Python is an address: its ``__index__`` or ``__buffer__`` is code the
    hook does not run, so it cannot tell which."""
    kind = _type(value)
    if value is None or kind is str or kind is bytes or kind is bytearray or kind is memoryview:
        return False
    number = as_int(value)
    if number is not None:
        return number != 0
    if not _type_flags(kind) & _IMMUTABLE_TYPE:
        return True
    # A type of C's (array.array, mmap.mmap...): asking for its buffer runs only its C code.
    try:
        _memoryview(value).release()
    except _Exception:
        return True  # (no buffer: CPython reads it as an int, through its __index__)
    return False


def _fcntl(args: tuple[Any, ...]) -> list[Access] | None:
    """``fcntl.fcntl(fd, cmd, arg)``: a lease (``F_SETLEASE``) is refused, whatever the file:
    with a lease held, an open of the file blocks until the holder's signal handler runs, then
    is retried on the name as it is then (a handler that swaps it for a link opens what no
    decision saw). ``F_SETOWN``/``F_SETOWN_EX`` name the process the kernel signals when the
    descriptor is ready (with ``O_ASYNC``): decided like a signal to it. An int handed to a
    command that takes a pointer (``F_GETLK``: the kernel writes the lock there) is memory at
    that address. Every other command changes no name, opens nothing and signals no one."""
    command = as_int(_arg(args, 1))
    if (command is None or command not in _FCNTL_VALUE_COMMANDS) and _address_argument(
        _arg(args, 2)
    ):
        return _MEMORY_AT_AN_ADDRESS
    if command == _F_SETLEASE:
        reason = "a file lease (an open of the file then blocks, retried after signal handlers)"
        return [("files", "write", UNDECODABLE + reason, None)]
    if command == _F_SETOWN:
        return _owner(as_int(_arg(args, 2)), _arg(args, 2))
    if command == _F_SETOWN_EX:
        return _owner_ex(_arg(args, 2))
    return None


# ioctl requests that only read, or act on the descriptor's own open file description, and
# whose argument holds no pointer: answered without a decision. (SIOCGIFCONF is not one: its
# struct ifconf names the buffer the kernel writes the interface list to -- any address; red
# team 137 rewrote an immutable bytes object through it.) Every other request can change the
# file's inode (its flags, attributes), the file system, the host's network or a terminal
# beyond the process: a `native ioctl 0x<request>` access, refused unless a rule names it
# (learn records it).
_IOCTL_HARMLESS = frozenset(
    {
        0x541B,  # FIONREAD / SIOCINQ
        0x5411,  # TIOCOUTQ / SIOCOUTQ
        0x5421,  # FIONBIO
        0x5450,  # FIONCLEX
        0x5451,  # FIOCLEX
        0x5452,  # FIOASYNC (signals go to the owner, decided at F_SETOWN/FIOSETOWN)
        0x5401,  # TCGETS
        0x5413,  # TIOCGWINSZ
        0x540F,  # TIOCGPGRP
        0x8903,  # FIOGETOWN
        0x8904,  # SIOCGPGRP
        0x8905,  # SIOCATMARK
        0x8906,  # SIOCGSTAMP
        0x8910,  # SIOCGIFNAME
        0x8913,  # SIOCGIFFLAGS
        0x8915,  # SIOCGIFADDR
        0x891B,  # SIOCGIFNETMASK
        0x8921,  # SIOCGIFMTU
        0x8927,  # SIOCGIFHWADDR
        0x8933,  # SIOCGIFINDEX
        0x2,  # FIGETBSZ
        0x80086601,  # FS_IOC_GETFLAGS
        0x80087601,  # FS_IOC_GETVERSION
        0x80081272,  # BLKGETSIZE64
    }
)


def _ioctl(args: tuple[Any, ...]) -> list[Access] | None:
    """``fcntl.ioctl(fd, request, arg)``: ``FIOSETOWN``/``SIOCSPGRP``/``TIOCSPGRP`` set whom the
    kernel signals (as ``F_SETOWN``); requests that only read or act on the open file itself
    pass; any other request is a ``native ioctl`` access (an inode's flags, the file system,
    the host's network configuration, a terminal: effects beyond the process)."""
    request = as_int(_arg(args, 1))
    if request is None:
        return [("native", "ioctl", undecodable(_arg(args, 1)), None)]
    request &= 0xFFFFFFFF  # (as the kernel reads it: an unsigned int)
    if request not in _IOCTL_VALUE_REQUESTS and _address_argument(_arg(args, 2)):
        return _MEMORY_AT_AN_ADDRESS  # (FIONREAD's count written there, an owner read there)
    if request in _IOCTL_HARMLESS:
        return None
    if request not in (_FIOSETOWN, _SIOCSPGRP, _TIOCSPGRP):
        return [("native", "ioctl", f"0x{request:x}", None)]
    value = _arg(args, 2)
    owner = (
        _int_from_bytes(value[:4], _BYTEORDER, signed=True)
        if _type(value) is bytes and _len(value) >= 4
        else as_int(value)
    )
    if request == _TIOCSPGRP and owner is not None:
        owner = -owner  # (a process group's id)
    return _owner(owner, value)


def _owner(owner: int | None, raw: Any) -> list[Access] | None:
    # A positive owner is a process, a negative one a process group (0: none, no signal).
    if owner is None:
        return [("processes", "kill", undecodable(raw), None)]
    if owner in (0, _getpid()):
        return None
    if owner < 0:
        whose = "group" if -owner == _getpgrp() else "other-group"
        return [("processes", "kill", whose + ":setown", None)]
    return [("processes", "kill", "other:setown", None)]


def _owner_ex(raw: Any) -> list[Access] | None:
    # struct f_owner_ex {int type; pid_t pid;}: a thread, a process or a process group.
    if _type(raw) is not bytes or _len(raw) < 8:
        return [("processes", "kill", undecodable(raw), None)]
    kind = _int_from_bytes(raw[:4], _BYTEORDER, signed=True)
    pid = _int_from_bytes(raw[4:8], _BYTEORDER, signed=True)
    if kind == _F_OWNER_PGRP:
        return _owner(-pid if pid > 0 else pid, raw)
    if pid in (0, _getpid()) or (kind == 0 and pid == _native_thread_id()):
        return None  # (this process, or this thread)
    return [("processes", "kill", "other:setown", None)]


DECODERS = {
    "open": decode_open,
    "fcntl.fcntl": _fcntl,
    "fcntl.ioctl": _ioctl,
    "os.remove": _mutating("write", 0, 1, follows=False),
    "os.rmdir": _mutating("write", 0, 1, follows=False),
    "os.mkdir": _mutating("write", 0, 2, follows=False),
    "os.mkfifo": _made_node(1, 2),  # (raised by the native core: CPython raises no event)
    "os.mknod": _made_node(1, 3),
    "os.chmod": _mutating("write", 0, 2),
    "os.chown": _mutating("write", 0, 3),
    "os.utime": _mutating("write", 0, 3),
    "os.truncate": _mutating("write", 0, None),
    "os.setxattr": _mutating("write", 0, None),
    "os.removexattr": _mutating("write", 0, None),
    "os.getxattr": _reads_first,
    "os.listxattr": _reads_first,
    "os.rename": _two("write", "write", True, follows=False, changes_names=True),
    # (a second name for a file is every access that name has: a write of the source too)
    "os.link": _two("write", "write", True, changes_names=True),
    "os.symlink": _symlink,
    "os.listdir": _lists_first,
    "os.scandir": _lists_first,
    "os.chdir": _chdir,
    "shutil.copyfile": _two("read", "write", False),
    "shutil.copymode": _two("read", "write", False),
    "shutil.copystat": _two("read", "write", False),
    "shutil.copytree": _two("read", "write", False),
    "shutil.move": _two("write", "write", False, changes_names=True),
    "shutil.rmtree": _tree_removal,
    "shutil.chown": _mutating("write", 0, None),
    "shutil.make_archive": _mutating("write", 0, None),
    "shutil.unpack_archive": _two("read", "write", False),
    "tempfile.mkstemp": _writes_first,
    "tempfile.mkdtemp": _writes_first,
    "sqlite3.connect": _sqlite,
    "ssl.load_file": _ssl_file,
    "locale.bindtextdomain": _catalog_folder,
    "sys.perf_map_file": _perf_map_file,
}
