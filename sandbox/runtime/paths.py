"""Resolve a path the way the kernel will: against ``dir_fd`` or the cwd, through symlinks, in linear time.

The decision is made on the real file: relative names are joined to the directory the kernel
will use (the directory behind ``dir_fd``, read from ``/proc/self/fd``; the working directory
otherwise), and symlinks are followed component by component with ``lstat``/``readlink`` only
(C functions bound at import: no ``posixpath`` code whose module globals the function could
rebind). A path the kernel would refuse (longer than ``PATH_MAX``, a symlink loop) or whose base
cannot be known (a ``dir_fd`` that names no directory) resolves to ``None``: the caller refuses it.

Resolved answers are cached, by absolute name (the cwd is read afresh for every relative one).
Every audited way to change a resolution (remove, rename, symlink, link, mkdir/rmdir, a change
of mode, owner or ACL, the shutil tree operations) drops the answers that depend on the name it
changes (:func:`forget_below`): an answer depends on every name its walk looked at. For a name
reached with no link on the way (its answer is the name itself) those are the name and its
ancestors, so the answers below the changed name go (an index of cached names by directory
finds them); an answer whose walk went through a link keeps the list of names it looked at, and
goes when any of them is the changed name or below it. Once a child process exists it could swap a symlink
at any moment with no event in this process, and once a second thread exists a decision in it
could keep an answer computed just before another thread's audited change; from then on each
cached answer is re-validated with one ``stat`` before use: the name as given, followed
through its links as the kernel will, must lead to the same file (device, inode) the answer
resolved to — or, for a name that does not exist yet, to the same directory — or the path is
resolved afresh. The identity an answer is validated against is taken from a lookup that
cannot pass through a link (``core.plain_identity``: the directory opened with no symbolic
link on the way, the name looked at inside it), never by following the name: a folder on the
way swapped for a link between the walk and that lookup makes it fail (nothing is kept),
where a ``stat`` would have kept the other file's identity -- confirmed by every later check
of the name through the link. The hook's open cache (answers to whole ``open`` events, kept by the core so
an allowed ``open`` repeats without the callback) follows the same rules: cleared with this
cache, validated with one ``stat`` from the same moment. Names whose resolution passes through
``/proc`` change it with no event at all (the descriptor table behind ``/proc/self/fd``, the
cwd behind ``/proc/self/cwd``; ``/dev/fd`` and ``/dev/stdin`` are links into it): they are
resolved afresh every time. Limit: another thread or process swapping a link in the
instant between the decision and the system call (time of check to time of use) is not seen;
only the kernel layer (Landlock) closes that.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # (no stubs: the C module signal wraps)
import _thread
import os
import stat as _stat_module

from . import core as _core
from .values import PATH_MAX
from .values import fs_encodable as _fs_encodable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_lstat = os.lstat
_changes = _core.changes
_plain_identity = _core.plain_identity
_changes_elsewhere = _core.changes_elsewhere
_descriptors_pinned = _core.descriptors_pinned
_descriptor_hold = _core.descriptor_hold
_stat = os.stat
_fstat = os.fstat
_readlink = os.readlink
_getcwd = os.getcwd
_access = os.access
_W_OK = os.W_OK
_S_ISLNK = _stat_module.S_ISLNK
_S_ISDIR = _stat_module.S_ISDIR
_str_split = str.split
_str_rfind = str.rfind
_str_startswith = str.startswith
_str_endswith = str.endswith
_len = len
_OSError = OSError
_ValueError = ValueError
_type = type
_str = str
_int = int
_str_isascii = str.isascii
_str_isdigit = str.isdigit
_getpid = os.getpid
_str_encode = str.encode
_bytes_decode = bytes.decode
_FS_ENCODING = __import__("sys").getfilesystemencoding()
_FS_ERRORS = __import__("sys").getfilesystemencodeerrors()
_threads_running = _thread._count  # threads started by Python code, not counting the main one
# (the C function: signal.getsignal is Python code whose globals the function could rebind)
_getsignal = _signal.getsignal
_SIGNALS = tuple(sorted(_signal.valid_signals()))
_default_int_handler = _signal.default_int_handler
# The Python core decides in Python code: a signal's Python handler can run inside a decision
# (the native core defers them to after the system call).
_HANDLERS_RUN_INSIDE = _core.KIND != "native"
_AT_FDCWD = -100
_OWN_NAMES = ("self", "thread-self")  # (/proc's names for the process or thread asking)
# The lstat errors that mean "no such name here" (a missing name, or a file where a folder
# would be): what is below cannot be a link. Any other error leaves the name unknown.
_ABSENT = frozenset({__import__("errno").ENOENT, __import__("errno").ENOTDIR})
_MAX_LINKS = 40  # the kernel's own limit on symlinks followed in one lookup (ELOOP)
_CACHE_LIMIT = 4096
# Names whose resolution changes with no event at all (the fd table behind /proc/self/fd, a
# process's cwd or root behind /proc/PID): resolved afresh every time, never kept. A walk
# that passes through /proc (a link into /proc/self/cwd, /dev/fd) is not kept either.
_VOLATILE = ("/proc/",)
_VOLATILE_DIRS = ("/proc",)

# The resolution cache and its state; the hook runs on a private copy of this module and its
# containers (see private_modules.py), and with the native core the decision cache sits in C.
_RESOLVED: dict[str, tuple[str, int, int]] = {}
# Cached names by directory, for the answers with no link on the way (the answer is the name):
# a change of a name drops its subtree. Directories on the way are indexed even when they have
# no answer of their own, so the subtree is reachable from any of them.
_BELOW: dict[str, set[str]] = {}
# Answers whose walk went through a link (or ``.``, ``..``): every name the walk looked at.
_THROUGH_LINKS: dict[str, tuple[str, ...]] = {}
_STATE: dict[str, Any] = {"validate": False}
# More answers through links than this: a change drops them all rather than look at each.
_THROUGH_LINKS_LIMIT = 256


def fd_path(fd: int) -> str | None:
    """The path an open descriptor refers to, or ``None`` (a socket, pipe, deleted file...).

    A descriptor the running decision pinned (``core.descriptors_pinned``) is read as it was
    when the decision began: the one the call will use, checked again when it ends.
    """
    if fd < 0:
        return None
    pin = pinned(fd)
    try:
        if pin is not None:
            target, held = pin[4], (pin[2], pin[3])
        else:
            target = _readlink("/proc/self/fd/" + str(fd))
            held = _stat_identity(_fstat(fd))
        if target is None or not _str_startswith(target, "/"):
            return None
        # (the link's text is only the object's last name: a removed one reads "<name>
        # (deleted)", which may be anyone's now; taken only where it leads to the object)
        return target if _stat_identity(_stat(target)) == held else None
    except (_OSError, _ValueError):
        return None


def pinned(fd: int) -> tuple[int, int, int, int, str | None] | None:
    """What the running decision pinned for ``fd``: ``(fd, st_mode, st_dev, st_ino, name)``
    (see ``core.descriptors_pinned``), or ``None`` when it did not pin it."""
    for pin in _descriptors_pinned():
        if pin[0] == fd:
            return pin
    return None


def cwd() -> str | None:
    """The working directory the kernel uses for relative names, read afresh each time.

    Never cached: the kernel resolves relative names from the directory itself, and a rename
    of one of its ancestors changes its path with no event about the working directory.
    """
    try:
        return _getcwd()
    except _OSError:
        return None


def absolute(path: str, dir_fd: int | None = None) -> str | None:
    """``path`` joined to the directory the kernel would use; ``None`` when that is unknown.

    The result is in one canonical spelling: two ``str`` that the kernel receives as the same
    bytes (``"é"`` and ``"\\udcc3\\udca9"``, its undecodable-bytes spelling) come out equal, so
    the caches and the rules see one name; a ``str`` no bytes stand for is ``None``, and so
    is one with a NUL (no system call takes it: CPython raises ``ValueError`` first, and the
    decoders' own markers of an undecodable name begin with one).
    """
    if "\x00" in path:
        return None
    if not _str_startswith(path, "/"):
        # No dir_fd (the events pass -1) or AT_FDCWD: the working directory.
        base = cwd() if dir_fd is None or dir_fd < 0 else fd_path(dir_fd)
        if base is None:
            return None
        path = (base if base != "/" else "") + "/" + path
    if _str_isascii(path):
        return path
    if not _fs_encodable(path):
        return None  # (a surrogate only a registered error handler could encode: refused)
    try:
        return _bytes_decode(_str_encode(path, _FS_ENCODING, _FS_ERRORS), _FS_ENCODING, _FS_ERRORS)
    except (UnicodeError, _ValueError):
        return None  # no bytes stand for it: the kernel call fails (the caller refuses it)


def realpath(path: str) -> str | None:
    """Resolve ``..``, ``.`` and symlinks of an absolute path like the kernel; ``None`` on a loop.

    Linear in the number of components: each is looked at once (plus the components of each
    symlink's target, at most 40 symlinks), and the input is at most ``PATH_MAX`` long.

    Example
    -------
    >>> realpath("/usr/../usr/./bin") == os.path.realpath("/usr/bin")
    True
    """
    canonical = absolute(path) if _str_startswith(path, "/") else path
    return _walk(canonical)[0] if canonical is not None else None


def _walk(
    path: str,
    seen: list[str] | None = None,
    turns: list[str] | None = None,
    climbs_alone: list[str] | None = None,
) -> tuple[str | None, bool]:
    """:func:`realpath`, and whether the walk went through ``/proc`` (a link into
    ``/proc/self/cwd``, ``/dev/fd``: resolves differently with no event, never cached).
    ``seen`` collects every name the walk looked at (what the answer depends on); ``turns``
    the names where it turned: each link it followed, and each name a ``..`` walked back
    over (see :func:`walk_turns`); ``climbs_alone`` the names a ``..`` walked back over that
    could be moved, decidable only because nothing else runs now (:func:`_alone`): an answer
    with one is right for this call only, never kept. (A climb over a folder no one can move,
    in a read-only tree, is decided and kept either way.)"""
    if _len(path) > PATH_MAX:
        return None, False
    volatile = False
    pending = _str_split(path, "/")
    pending.reverse()
    parts: list[str] = []  # resolved components
    links = 0
    missing = False
    alone: bool | None = None  # (asked of the kernel once a walk, at its first "..")
    while pending:
        name = pending.pop()
        if not name or name == ".":
            continue
        if name == "..":
            if parts:
                if missing or not _climb_holds(parts):
                    if alone is None:
                        alone = _alone()
                    if not alone:
                        # Another process (a child) or thread exists, and could move the
                        # folder ".." walks back over between this walk and the system call,
                        # with no event here: the kernel's ".." then leads to the folder's new
                        # parent, outside what was decided (red team 123: a forked child's
                        # renames inside an allowed folder led "c/../../secret" to the real
                        # secret, 3-5 % of tries; red team 125: a thread swapping a link the
                        # name climbs from). Only a folder no one can move keeps the climb
                        # decidable then.
                        return None, volatile
                    if climbs_alone is not None:
                        climbs_alone.append("/" + "/".join(parts))
                if turns is not None:
                    turns.append("/" + "/".join(parts))
                parts.pop()
            missing = False  # back above the missing name: look again, as realpath does
            continue
        parts.append(name)
        if missing:
            continue  # below a name that does not exist nothing can be a link
        current = "/" + "/".join(parts)
        if _len(current) > PATH_MAX:
            # Longer than a name the sandbox can look at, while the kernel walks on from
            # component to component (relative to a descriptor or the cwd): undecidable.
            return None, volatile
        if seen is not None:
            seen.append(current)
        if not volatile and (_str_startswith(current, _VOLATILE) or current in _VOLATILE_DIRS):
            volatile = True
        try:
            mode = _lstat(current).st_mode
        except _OSError as exc:
            if exc.errno not in _ABSENT:
                # Not "there is no such name": the name may be a link the sandbox cannot see
                # now (EACCES until a chmod gives the search right back, ENAMETOOLONG...).
                return None, volatile
            missing = True
            continue
        if not _S_ISLNK(mode):
            continue
        links += 1
        if links > _MAX_LINKS:
            return None, volatile
        if turns is not None:
            turns.append(current)
        number = _fd_link_number(parts)
        if number is not None and any(p and p != "." for p in pending):
            # A name below a descriptor's folder (/proc/self/fd/N/x, /dev/fd/N/x, another
            # process's too): the kernel follows the link again at the system call, to
            # whatever has been put under N by then (os.dup2 raises no event; red team 118).
            return None, volatile
        own = _descriptor_link(parts) if number is not None else None
        pin = _descriptor_hold(own) if own is not None else None
        if pin is False:
            return None, volatile
        try:
            # (a descriptor of this process held for the decision: the name it named when
            # held, which the decision's end checks it still names, never the live link)
            target = _readlink(current) if pin is None else pin[4]  # type: ignore[index]
        except _OSError:
            return None, volatile
        if target is None:
            return None, volatile
        if _STATE["validate"] and _str_startswith(current, "/proc/") and not _own_proc_link(parts):
            # Another process's link in /proc (its cwd, root, a descriptor): once a child
            # exists it may be that child's, which can re-point it (os.chdir, os.dup2) between
            # this walk and the system call with no event here -- the folder-move race of
            # red team 123 by another road.
            return None, volatile
        if _str_startswith(target, "/") and _str_startswith(current, "/proc/"):
            # A link /proc keeps for a process (its working directory, root, executable, a
            # descriptor): its text is only what the kernel last called the object; the
            # kernel never walks it -- a removed folder's "<name> (deleted)" can be a link of
            # the function's, from which ".." climbs elsewhere (red team 119). The text is
            # walked on its own, and followed only where that walk ends at the very object
            # the link does: checked after the walk, so that no link planted in the text's
            # names while it is walked can turn it elsewhere (red team 120).
            if seen is not None and _len(seen) > _PROC_DEPTH:
                return None, volatile  # (texts of /proc links naming /proc links: refused)
            inner = [] if seen is None else seen
            inner.append(current)
            walked, inner_volatile = _walk(target, inner, turns, climbs_alone)
            volatile = volatile or inner_volatile
            if walked is None:
                return None, volatile
            try:
                held = (pin[2], pin[3]) if pin is not None else _stat_identity(_stat(current))  # type: ignore[index]
                # (looked at with no link on the way: a link planted in the walked names since
                # cannot stand in for the object)
                reached = _plain_identity(walked) if walked != "/" else _stat_identity(_stat("/"))
                if reached != held:
                    return None, volatile
            except _OSError:
                return None, volatile
            parts = _str_split(walked, "/")[1:] if walked != "/" else []
            continue
        parts.pop()
        if _str_startswith(target, "/"):
            parts = []
        more = _str_split(target, "/")
        more.reverse()
        pending.extend(more)
    return "/" + "/".join(parts), volatile


def _alone() -> bool:
    """Whether nothing but this thread can change a name until the system call it decides: no
    child process was ever started (one may outlive anything this process sees) and this
    process has one thread now -- counted by the kernel, so that threads started by C code
    count too (a link in ``/proc/self/task`` per thread: its count of links is 2 more). Any
    doubt (no ``/proc``) is not alone.

    Between a decision and its system call nothing else runs in this thread (the native core
    defers signal handlers and the collector to after the call; the Python core turns the
    collector off, but a signal's Python handler runs inside its decisions: with the Python
    core a process with one is not alone -- red team 126's handler swapped a link between the
    walk and the open), so an answer that depends on this holds for the call it decides, and
    only for it: a thread may be started before the next."""
    if _STATE["validate"] or _threads_running():
        return False
    if _HANDLERS_RUN_INSIDE and _python_signal_handlers():
        return False
    try:
        return _stat("/proc/self/task").st_nlink == 3
    except (_OSError, _ValueError):
        return False


def _python_signal_handlers() -> bool:
    """Whether a signal has a Python handler that could run code (not ``SIG_DFL``, ``SIG_IGN``,
    ``None`` -- set from C -- nor the interpreter's own SIGINT handler, which only raises).
    Compared by identity and type: a handler's own ``__eq__`` is code of the function's."""
    for number in _SIGNALS:
        handler = _getsignal(number)
        if (
            handler is not None
            and _type(handler) is not _int
            and handler is not _default_int_handler
        ):
            return True
    return False


def _climb_holds(parts: list[str]) -> bool:
    """Whether the folder ``"/" + "/".join(parts)`` (which a ``..`` walks back over) stays
    where it is until the system call: no process of this user can move it, the folder it is
    in being there and giving no write right (a read-only tree: the deployment's, the
    runtime's). A folder's move is what changes where ``..`` leads from it; its own rights do
    not matter. (A ``..`` after a name that is not there is the caller's: decidable only while
    the process is alone, as another process or thread could put a link there.)"""
    parent = "/" + "/".join(parts[:-1])
    try:
        # (a folder that is not there now -- moved away by a child: red team 124 -- holds
        # nothing; os.access answers False for it, as for a read-only one)
        if not _S_ISDIR(_lstat(parent).st_mode):
            return False
        return not _access(parent, _W_OK)
    except (_OSError, _ValueError):
        return False


def _stat_identity(st: Any) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


_PROC_DEPTH = 4096  # (names looked at by one walk, /proc links' texts included)


def _fd_link_number(parts: list[str]) -> int | None:
    """The descriptor number when ``parts`` spell any process's descriptor link in ``/proc``
    (``proc/<pid, tid, self, thread-self>[/task/<tid>]/fd/<N>``), else ``None``."""
    count = _len(parts)
    if count not in (4, 6) or parts[0] != "proc" or parts[-2] != "fd":
        return None
    if count == 6 and parts[2] != "task":
        return None
    number = parts[-1]
    if not (_str_isdigit(number) and _str_isascii(number)) or _len(number) > 10:
        return None
    return _int(number)


def _descriptor_link(parts: list[str]) -> int | None:
    """The descriptor number when ``parts`` spell a descriptor's link in ``/proc`` of this
    process (``proc/<self|thread-self|pid|tid>[/task/<tid>]/fd/<N>``), else ``None`` (another
    process's descriptor: see :func:`_walk`)."""
    number = _fd_link_number(parts)
    return number if number is not None and _own_proc_link(parts) else None


def _own_proc_link(parts: list[str]) -> bool:
    """Whether a link in ``/proc`` (``parts``: ``proc/<who>/...``) is this process's or one
    of its threads' (``self``, ``thread-self``, its pid, its threads' ids, under ``task/``
    too): links no other process can re-point."""
    if _len(parts) < 3:
        return True  # (/proc/self, /proc/thread-self: links to this process's own folder)
    if parts[1] not in _OWN_NAMES and not _own_task(parts[1]):
        return False
    task = parts[3] if _len(parts) >= 5 and parts[2] == "task" else "self"
    return task in _OWN_NAMES or _own_task(task)


def _own_task(who: str) -> bool:
    """Whether ``/proc/<who>`` is this process or one of its threads (same descriptor table)."""
    if not (_str_isdigit(who) and _str_isascii(who)):
        return False
    if who == _str(_getpid()):
        return True
    try:
        _lstat("/proc/self/task/" + who)
    except _OSError:
        return False
    return True


def walk_turns(path: str) -> tuple[str | None, list[str], bool]:
    """The real path of the absolute ``path`` (``None``: a loop, a name too long, a name that
    cannot be looked at), the names where the walk to it turned, and whether it went through
    ``/proc``. A name where it turned is a link it followed, or a name a ``..`` walked back
    over: whoever may change that name can make the same spelling lead elsewhere a moment
    later. Never cached (a load of native code is rare, and decided on what the name is now).

    Example
    -------
    >>> walk_turns("/usr/../usr/bin")[1]
    ['/usr']
    """
    turns: list[str] = []
    resolved, volatile = _walk(path, None, turns)
    return resolved, turns, volatile


def _identity(path: str) -> tuple[int, int]:
    """(device, inode) of the file, or of its directory when the name does not exist.

    "Does not exist" is the name itself (``lstat`` fails), not only what it leads to: a
    dangling link is a name, and an ``O_CREAT`` through it creates its target elsewhere.
    """
    try:
        st = _stat(path)
    except _OSError:
        try:
            _lstat(path)
        except _OSError:
            pass
        else:
            return (-1, -1)  # a dangling link: matches nothing kept
        cut = _str_rfind(path, "/")
        try:
            st = _stat(path[:cut] or "/")
        except _OSError:
            return (-1, -1)
        return (st.st_dev, -st.st_ino - 1)  # marked: the identity of the directory
    return (st.st_dev, st.st_ino)


def resolve(path: str, dir_fd: int | None = None) -> str | None:
    """The real path the kernel will open for ``path`` (see the module docstring).

    Events that change how paths resolve resolve through the cache too, then drop what the
    change touches (:func:`changed_name`, :func:`forget_below`).
    """
    full = absolute(path, dir_fd)
    if full is None or _len(full) > PATH_MAX:
        return None
    if not _STATE["validate"] and _threads_running():
        # Another thread may resolve while an audited change is under way (the event fires
        # before it): its answer could be kept after the clear. From now on every answer is
        # checked before use, as once a child exists.
        child_started()
    if _str_startswith(full, _VOLATILE):
        return realpath(full)
    resolved = _cached(full)
    if resolved is not None:
        return resolved
    # An audited change elsewhere (another thread's rename, whose forget ran before this
    # walk could keep anything) makes the answer stale before it is kept: the count of
    # changes, read before the walk, says so, and nothing is kept (its identity, taken after
    # the change, would validate it for good).
    generation = _changes()
    fresh = _below_a_known_ancestor(full, generation)
    if fresh is None:
        seen: list[str] = []
        climbs_alone: list[str] = []
        fresh, volatile = _walk(full, seen, None, climbs_alone)
        if fresh is None:
            return None
        if not volatile and not climbs_alone:
            _keep(full, fresh, seen, generation)
    return fresh


def _below_a_known_ancestor(full: str, generation: int = -1) -> str | None:
    """Resolve ``full`` from its nearest ancestor with a cached answer, one lstat per component
    below it (the next file of a folder: one lstat; a new folder beside known ones: two);
    every directory on the way is kept. ``None`` when a component is a link, ``.``, ``..`` or
    empty: the caller walks the whole path then, as the kernel would."""
    names: list[str] = []
    prefix = full
    base: str | None = None
    while base is None:
        cut = _str_rfind(prefix, "/")
        leaf = prefix[cut + 1 :]
        if not leaf or leaf == "." or leaf == "..":
            return None
        names.append(leaf)
        prefix = prefix[:cut]
        base = _cached(prefix) if prefix else "/"
    if base != (prefix or "/"):
        return None  # the ancestor's answer went through a link: the caller walks it all
    names.reverse()
    for leaf in names:
        base = _one_more(base, leaf)
        if base is None:
            return None
        prefix = prefix + "/" + leaf
        _keep(prefix, base, None, generation)
    return base


def _cached(full: str) -> str | None:
    """The cached answer for ``full``, if there is one and it still holds."""
    entry = _RESOLVED.get(full)
    if entry is None:
        return None
    resolved, dev, ino = entry
    # Validated on the name as given, through whatever its links point to now: a link (or a
    # directory on the way) swapped by a child leads to another file, whose identity differs
    # from the one resolved.
    if not _STATE["validate"] or (dev >= 0 and _identity(full) == (dev, ino)):
        return resolved
    return None


def _one_more(base: str, leaf: str) -> str | None:
    """``realpath(base + "/" + leaf)`` for a resolved ``base``; ``None`` when ``leaf`` is a link
    (the caller walks the whole path then: a link's target starts the walk over)."""
    candidate = (base if base != "/" else "") + "/" + leaf
    if _str_startswith(candidate, _VOLATILE) or candidate in _VOLATILE_DIRS:
        return None  # into /proc: the caller walks (and keeps nothing)
    if _len(candidate) > PATH_MAX:
        return None  # the caller walks, and refuses it
    try:
        mode = _lstat(candidate).st_mode
    except _OSError as exc:
        if exc.errno in _ABSENT:
            return candidate  # does not exist (yet): nothing below it can be a link
        return None  # the caller walks, and refuses what it cannot look at
    except _ValueError:
        return None
    return None if _S_ISLNK(mode) else candidate


def _keep(full: str, resolved: str, seen: list[str] | None = None, generation: int = -1) -> None:
    if _str_startswith(resolved, _VOLATILE):
        return
    if generation < 0:
        generation = _changes()  # (a caller with no walk of its own: from here on)
    if _changes() != generation:
        return  # a name changed while this was resolved: nothing kept (see resolve)
    if _changes_elsewhere():
        # Another thread has an audited change in flight -- its event fires (and forgets)
        # before the change is made: an answer kept now could be stale, and its identity,
        # taken after the change, would validate it for good. Until that thread's next audit
        # event (its call returned), answers are not kept (each is walked afresh).
        return
    if _len(_RESOLVED) >= _CACHE_LIMIT:
        _forget_all()
    if resolved != full:
        if seen is None:
            return  # (not reached: only a walk resolves a name to another)
        if _len(_THROUGH_LINKS) >= _THROUGH_LINKS_LIMIT:
            _forget_all()
        _THROUGH_LINKS[full] = tuple(seen)
    else:
        _index(full)
    if _STATE["validate"]:
        # The identity of the very file the walk decided on (no link on the way to it):
        # a link swapped in since would give another file's identity here, which later
        # checks of the name (through that link) would confirm for good. None: not kept.
        plain = _plain_identity(resolved)
        if plain is None:
            return
        dev, ino = plain
    else:
        dev, ino = -1, -1  # none taken (no child, no other thread: every change is seen)
    _RESOLVED[full] = (resolved, dev, ino)
    if _changes() != generation or _changes_elsewhere():
        # Kept first, then tested, then taken back: on the Python core a signal handler can
        # run between any two steps here, and a change it made after the test above, before
        # the store, would leave the answer stale for good (red team 41). A change after this
        # test forgets the entry itself.
        _RESOLVED.pop(full, None)
        _THROUGH_LINKS.pop(full, None)


def _index(name: str) -> None:
    """File ``name`` under its directory in :data:`_BELOW`, and each directory under its own,
    up to the first one already there (or ``/``)."""
    while True:
        cut = _str_rfind(name, "/")
        parent = name[:cut] or "/"
        below = _BELOW.get(parent)
        if below is not None:
            below.add(name)
            return
        _BELOW[parent] = {name}
        if parent == "/":
            return
        name = parent


def lexists(path: str) -> bool:
    """Whether a name is there (``lstat``: a link counts, whatever it leads to)."""
    try:
        _lstat(path)
    except (_OSError, _ValueError):
        return False
    return True


def keeping_safe() -> bool:
    """Whether an answer may be kept now: no other thread has an audited name change in
    flight (see :func:`_keep`)."""
    return not _changes_elsewhere()


def cacheable(path: str, resolved: str) -> bool:
    """Whether an answer for ``path`` (resolved to ``resolved``) may be answered without
    resolving again (the hook's open cache): one the path cache kept, reached with no link on
    the way (the name is the answer), so that :func:`forget_below` of any name it depends on
    (the name or an ancestor) finds it by prefix."""
    entry = _RESOLVED.get(path)
    return entry is not None and path == resolved and entry[0] == resolved


def identity_for_cache(resolved: str) -> tuple[int, int] | None:
    """What a cached answer resolving to ``resolved`` is validated against (``None``: no child yet).

    The identity of the resolved file (or of its directory), looked up with no link on the
    way (``core.plain_identity``): the file the decision was about even if a child swapped a
    folder on the way for a link since; ``(-1, -1)`` (no identity: the core keeps nothing)
    when that lookup meets a link.
    """
    if not _STATE["validate"]:
        return None
    plain = _plain_identity(resolved)
    return plain if plain is not None else (-1, -1)


def forget_resolved_paths() -> None:
    """Something may create, move or remove a symlink or directory: drop every cached answer."""
    _forget_all()


def _forget_all() -> None:
    forget_cached_paths()
    _core.open_cache_clear()


def forget_cached_paths() -> None:
    """Drop every answer of this cache, not the core's open answers (for names the core
    changed itself: it dropped its own answers for them then)."""
    _RESOLVED.clear()
    _BELOW.clear()
    _THROUGH_LINKS.clear()


def changed_name(path: Any, dir_fd: int | None = None) -> str | None:
    """Where a change of ``path`` (as a call names it) happens: its directory resolved, then
    its last name — not followed, a change of a link changes the link. An ``int`` is an open
    descriptor (the file it is open on). ``None``: the place cannot be known (an odd last name,
    a directory that does not resolve): the caller drops everything."""
    if _type(path) is _int:
        return fd_path(path)
    if _type(path) is not _str or not path:
        return None
    full = absolute(path, dir_fd)
    if full is None:
        return None
    while _len(full) > 1 and _str_endswith(full, "/"):
        full = full[:-1]  # "dir/" names the directory itself
    cut = _str_rfind(full, "/")
    leaf = full[cut + 1 :]
    if leaf == "." or leaf == ".." or not leaf:
        return None if full != "/" else "/"
    parent = resolve(full[:cut] or "/", None)
    if parent is None or _str_startswith(parent, _VOLATILE):
        return None
    return (parent if parent != "/" else "") + "/" + leaf


def forget_below(name: str | None, core_too: bool = True) -> None:
    """``name`` (from :func:`changed_name`) is about to change (be removed, renamed, replaced,
    linked, its mode or owner changed): drop every cached answer that depends on it — its own,
    those below it, those whose walk went through it — and the open answers kept for them
    (``core_too=False``: a name the core changed itself, whose open answers it dropped then).
    ``None``: drop everything."""
    if name is None or name == "/":
        _forget_all()
        return
    below = name + "/"
    pending = [name]
    while pending:
        current = pending.pop()
        _RESOLVED.pop(current, None)
        names = _BELOW.pop(current, None)
        if names:
            pending.extend(names)
    cut = _str_rfind(name, "/")
    siblings = _BELOW.get(name[:cut] or "/")
    if siblings is not None:
        siblings.discard(name)
    if _THROUGH_LINKS:
        for full, seen in list(_THROUGH_LINKS.items()):
            for looked_at in seen:
                if looked_at == name or _str_startswith(looked_at, below):
                    del _THROUGH_LINKS[full]
                    _RESOLVED.pop(full, None)
                    break
    if core_too:
        _core.open_cache_forget(name)


def child_started() -> None:
    """A child process exists from now on: validate each cached answer before using it."""
    if not _STATE["validate"]:
        _STATE["validate"] = True
        _forget_all()
        _core.open_cache_validate()
