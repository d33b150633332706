"""SQLite ``ATTACH`` and ``VACUUM INTO`` as file writes: an authorizer on every connection.

SQLite opens (and creates) the files named by ``ATTACH DATABASE 'name' AS x`` and
``VACUUM INTO 'name'`` itself, in C: no audit event fires for them. Every connection does raise
``sqlite3.connect/handle`` (Python 3.10+, also for ``factory=`` subclasses); the hook calls
:func:`guard_connection` there, which installs an authorizer. The event fires just before the
connection is marked initialised, when ``set_authorizer`` is still refused, so the install
happens at the next profile event of the same thread (a one-shot ``sys.setprofile`` function,
which hands the event and the profile slot back to any profiler that was there): any call
made by Python code after ``connect()``, ``conn.execute`` included, and any return to Python
code comes first.

SQLite asks the authorizer with action ``SQLITE_ATTACH`` and the file name for both statements
(``VACUUM INTO`` runs an internal ``ATTACH 'name' AS vacuum_db`` while it executes, so its target
arrives even when it was a bound parameter). The authorizer resolves the name as SQLite will
(:func:`attach_targets`) and asks the hook's ``decide("files", "write", path)``; a refusal makes
SQLite fail the statement (``sqlite3.DatabaseError: not authorized`` for ``ATTACH``,
``authorization denied`` for ``VACUUM INTO``) before the file is opened.

Limits, stated plainly:

- With the Python core this holds against *data-only* attackers (SQL injection: ``ATTACH
  '/tmp/x'`` smuggled into a query string), not against code that already runs arbitrary
  Python: such code can call ``connection.set_authorizer(None)`` (no audit event) and attach
  what it likes. An application that installs its own authorizer replaces this one the same
  way. The native core takes ``set_authorizer``'s C function at the first connection: whatever
  a call hands it, the sandbox's authorizer stays first (``None`` leaves it alone, another
  callable is asked before it, the sandbox's answer last: docs/NATIVE.md).
- ``ATTACH ? AS x`` (or any non-literal expression) reaches the authorizer without its value:
  it is decided as :data:`UNDECODABLE`, which the hook must refuse in enforce.
- A ``file:`` name is checked under both readings (URI and plain file name), since whether
  SQLite parses URIs depends on how the connection was opened and how SQLite was compiled.
- A relative name is resolved against the working directory when the statement is prepared;
  Python's statement cache may run the same prepared ``ATTACH`` again after a ``chdir``.
- With the Python core, between ``connect()`` and the next profile event of the creating
  thread, another thread holding the connection could run a statement unguarded; so can the
  same thread when C code calls C code (``map(methodcaller("execute", ...),
  map(sqlite3.connect, names))``: a call from C raises no profile event) -- code that can do
  that can also remove the authorizer. A C-level profile function active at that moment
  (``cProfile`` on Python 3.11 and older) cannot be put back from Python and is switched off
  (the native core, which runs these steps in C, puts it back). Code that clears the profile
  slot inside that window (a later audit hook at the same event) leaves the connection
  unguarded until the thread's next connection arms the install again. The native core closes
  the window: the C methods that run statements (``execute``, ``executemany``,
  ``executescript`` of connections and cursors, and ``Connection.cursor``) install a waiting
  connection's authorizer first, in any thread (docs/NATIVE.md).
"""

from __future__ import annotations

import _thread
import os
import sys

from . import paths as _paths
from .values import fs_encodable as _fs_encodable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Decide = Callable[[str, str, str], bool]

__all__ = [
    "FOLDER_PRAGMAS",
    "UNDECODABLE",
    "attach_targets",
    "flush_pending",
    "folder_target",
    "guard_connection",
    "parse_uri",
]

UNDECODABLE = "<undecodable>"
"""The target of a name that cannot be read safely (not an exact ``str``): always refuse it."""

_SQLITE_ATTACH = 24  # sqlite3.SQLITE_ATTACH (fixed by SQLite's C API; no import needed here)
_SQLITE_PRAGMA = 19  # sqlite3.SQLITE_PRAGMA
_SQLITE_OK = 0
_SQLITE_DENY = 1
# Captured once: code under the sandbox can rebind os.path.realpath or builtins at any time.
# The sandbox's own resolver, not posixpath's: posixpath.realpath looks its helpers (os.lstat,
# _joinrealpath...) up in its module globals at every call, which the function can rebind.
_realpath = _paths.realpath
_type = type
_str = str
_list = list
_append_list = list.append
_tuple: Any = tuple
_Exception = Exception
_getcwd = os.getcwd
_startswith = str.startswith
_find = str.find
_split = str.split
_partition = str.partition
_lower = str.lower
_encode = str.encode
_decode = bytes.decode
_bytes = bytes
_bytearray = bytearray
_append = bytearray.append
_len = len
_callable = callable
_HEX = {c: i for i, c in enumerate(b"0123456789abcdef")}
_HEX.update({c: i + 10 for i, c in enumerate(b"ABCDEF")})
_PERCENT = 37  # ord("%")
_getprofile = sys.getprofile
_setprofile = sys.setprofile
_get_ident = _thread.get_ident
# Thread id → [connections waiting for their authorizer, previous profile function, events seen].
_PENDING: dict[int, list[Any]] = {}
_MAX_EVENTS = 100_000  # a safety valve: a connection never initialised stops costing anything
_state: dict[str, Any] = {}


def _unquote(text: str) -> str:
    """Percent-decode like SQLite's URI parser: ``%HH`` → byte, ``%00`` ends the text."""
    raw = _encode(text, "utf-8", "surrogateescape")  # (parse_uri checked it encodes inline)
    out = _bytearray()
    i, n = 0, _len(raw)
    while i < n:
        c = raw[i]
        if c == _PERCENT and i + 2 < n and raw[i + 1] in _HEX and raw[i + 2] in _HEX:
            c = _HEX[raw[i + 1]] * 16 + _HEX[raw[i + 2]]
            if c == 0:
                break  # SQLite ignores the rest of the path after %00
            i += 3
        else:
            i += 1
        _append(out, c)
    return _decode(_bytes(out), "utf-8", "surrogateescape")


def parse_uri(uri: str) -> tuple[str | None, str]:
    """``file:`` URI → (decoded path or ``None`` when SQLite rejects it, last ``mode`` value)."""
    if not _fs_encodable(uri):
        return None, ""  # (a surrogate only a registered error handler could encode: no URI)
    rest = uri[5:]
    if _startswith(rest, "//"):
        end = _find(rest, "/", 2)
        end = _len(rest) if end < 0 else end
        authority = rest[2:end]
        if authority != "" and authority != "localhost":
            return None, ""  # "invalid uri authority": SQLite opens nothing
        rest = rest[end:]
    hash_at = _find(rest, "#")
    if hash_at >= 0:
        rest = rest[:hash_at]
    path, _, query = _partition(rest, "?")
    mode = ""
    if query:
        for pair in _split(query, "&"):
            key, _, value = _partition(pair, "=")
            if _unquote(key) == "mode":
                mode = _unquote(value)  # the last one wins, as in SQLite
    return _unquote(path), mode


def _absolute(path: str) -> str:
    if not _startswith(path, "/"):
        path = _getcwd() + "/" + path  # SQLite's unix VFS makes it absolute the same way
    resolved = _realpath(path)
    return resolved if resolved is not None else UNDECODABLE  # a loop, or over PATH_MAX


def attach_targets(name: Any) -> tuple[tuple[str, str], ...]:
    """The ``(action, absolute path)`` pairs SQLite may open for an ``ATTACH`` name.

    Empty for ``''`` (a private temporary database), ``':memory:'`` and ``file:`` URIs with
    ``mode=memory`` or the path ``:memory:``. A ``file:`` name yields both readings (a URI and a
    plain relative file name). ``mode=ro`` makes the URI reading a ``read``; everything else is a
    ``write`` (an attached database is created when missing and writable by later statements).
    Anything but an exact ``str`` yields ``(("write", UNDECODABLE),)``.

    Parameters
    ----------
    name:
        The file name SQLite passes to the authorizer (``None`` when it was not a literal).

    Returns
    -------
    tuple of (str, str)

    Examples
    --------
    >>> attach_targets(":memory:")
    ()
    >>> attach_targets("/data/x.db")
    (('write', '/data/x.db'),)
    >>> attach_targets("file:///data/x%2Edb?mode=ro")[1]
    ('read', '/data/x.db')
    >>> attach_targets(None)
    (('write', '<undecodable>'),)
    """
    if _type(name) is not _str:
        return (("write", UNDECODABLE),)
    if name == "" or name == ":memory:":
        return ()
    targets: tuple[tuple[str, str], ...] = (("write", _absolute(name)),)
    if _startswith(name, "file:"):
        path, mode = parse_uri(name)
        if path is not None and path != "" and path != ":memory:" and mode != "memory":
            targets += (("read" if mode == "ro" else "write", _absolute(path)),)
    return targets


# The pragmas that name the folder SQLite creates its temporary files in (data_store_directory:
# Windows builds only): a write there, of names SQLite picks, with no audit event.
FOLDER_PRAGMAS = frozenset({"temp_store_directory", "data_store_directory"})


def folder_target(value: Any) -> str:
    """The folder a ``PRAGMA temp_store_directory = value`` names, or :data:`UNDECODABLE`.

    Only an absolute name is decided: SQLite keeps the text and opens its temporary files
    there later, relative to the working directory *then* -- a relative folder decided
    against today's working directory would be another folder after an ``os.chdir``
    (red team 34). A relative one is undecodable (refused in enforce).

    Example
    -------
    >>> folder_target(7), folder_target("sub"), folder_target("/tmp/scratch")
    ('<undecodable>', '<undecodable>', '/tmp/scratch')
    """
    if _type(value) is not _str or value == "":
        # (an empty value puts SQLite back on its default folders, which need no decision;
        # anything but an exact str is refused)
        return "" if value == "" and _type(value) is _str else UNDECODABLE
    if not _startswith(value, "/"):
        return UNDECODABLE
    return _absolute(value)


def _decide_attach(name: Any, decide: Decide) -> int:
    try:
        for action, path in attach_targets(name):
            if decide("files", action, path) is not True:
                return _SQLITE_DENY
    except _Exception:  # the hook blocking (SandboxViolation) or failing: refuse, fail closed
        return _SQLITE_DENY
    return _SQLITE_OK


_exception_args = BaseException.__dict__["args"].__get__
_type_mro = type.__dict__["__mro__"].__get__  # the class's own MRO (no metaclass code runs)
_type_dict = type.__dict__["__dict__"].__get__
_type_flags = type.__dict__["__flags__"].__get__
_type_name = type.__dict__["__name__"].__get__
_mappingproxy_get = type(_type_dict(int)).get
_MethodDescriptor = type(str.join)
_GetSetDescriptor = type(type.__dict__["__name__"])
_HEAPTYPE = 1 << 9
_IMMUTABLETYPE = 1 << 8
# (3.13+: the old name warns, and a warning would run the warnings machinery in the hook)
_clear_type_caches = getattr(sys, "_clear_internal_caches", None) or sys._clear_type_cache


def _set_authorizer_of(connection: Any) -> Any:
    """``sqlite3.Connection.set_authorizer`` of the object's own class, or ``None`` (not a
    connection). Read from the class's MRO with the raw descriptors of ``type`` (no attribute of
    the function's classes runs) and only from a class the C library made -- a static type, or a
    heap type marked immutable (what ``_sqlite3`` makes from 3.12 on), never a class of
    Python's: those cannot set that flag, nor replace what such a class holds. No import runs
    (``sys.modules`` is the function's to plant in)."""
    try:
        mro = _type_mro(_type(connection))
    except _Exception:
        return None
    for cls in mro:
        flags = _type_flags(cls)
        if flags & _HEAPTYPE and not flags & _IMMUTABLETYPE:
            continue  # a class of Python's
        if _type_name(cls) != "Connection":
            continue
        method = _mappingproxy_get(_type_dict(cls), "set_authorizer")
        if _type(method) is _MethodDescriptor:
            return method
    return None


# The exception classes the guard's two calls into the C library can raise inside the hook
# (members of the connection, set from the C library's own state when it is made): the
# ``total_changes`` getter and ``set_authorizer`` check the thread and the connection
# (ProgrammingError: "Base Connection.__init__ not called", "closed database", "created in a
# thread") and set_authorizer fails with OperationalError; nothing else of SQLite's is raised
# there (MemoryError and TypeError are built-in). They are classes the function can change
# (heap types): a class whose __init__, __new__ or __del__ is of the function's -- on it or on
# a base it shares with the others (DatabaseError, Error), which the MRO walk reaches -- would
# run its code inside the hook when the C library raises it there. Checked before each call
# (the other eight classes are never raised there: checking them cost 10 us a connection).
_ERROR_MEMBERS = ("ProgrammingError", "OperationalError")
_CREATION_HOOKS = ("__init__", "__new__", "__del__", "__setattr__", "__getattribute__")
_MemberDescriptor = type(type.__dict__["__weakrefoffset__"])


class ChangedErrorClasses(PermissionError):  # (a built-in base: no code of anyone's)
    """SQLite's exception classes were changed: the guard will not call into SQLite."""


def _errors_plain(connection: Any, cls: Any) -> bool:
    """Whether the exception classes ``connection`` raises are as SQLite made them: each an
    exact ``type`` whose classes up to the first static one define no creation or
    finalization code (read with the raw descriptors: nothing of theirs runs).

    The interpreter's method cache is emptied first: a class's real dict can be reached
    without an audit event (a mapping proxy compared with an object of the function's hands it
    over), and an ``__init__`` deleted there, behind the class's back, stays in the cache --
    found by SQLite's raise although the dict this reads is clean (red team 34). Emptied, the
    lookups that follow read the dicts read here. (Another thread of the function's could
    fill the cache again between this check and SQLite's raise: a race the Python core leaves
    open; the native core reads the classes' slots.)"""
    _clear_type_caches()
    space = _type_dict(cls)
    # The classes looked at so far: the two errors share their bases (DatabaseError, Error),
    # each looked at once. (Exact instances of type, as every class in an exact type's MRO:
    # `in` compares them by identity, no code of theirs runs.)
    checked: list[Any] = []
    for name in _ERROR_MEMBERS:
        member = _mappingproxy_get(space, name)
        if _type(member) is not _MemberDescriptor:
            continue
        error = member.__get__(connection, cls)
        if error is None:
            # Never initialised (Connection.__new__ alone: a real connection has them set
            # before its sqlite3.connect/handle event). SQLite raises its module's own classes
            # for it, which no member shows: nothing to check them by (red team 34).
            return False
        if _type(error) is not type:
            return False
        for klass in _type_mro(error):
            if not _type_flags(klass) & _HEAPTYPE:
                break  # static from here on: C slots, unchangeable (an immutable heap class
                # is looked at: anyone may have sealed it after giving it an __init__)
            if klass in checked:
                continue
            _append_list(checked, klass)
            klass_space = _type_dict(klass)
            for hook in _CREATION_HOOKS:
                if _mappingproxy_get(klass_space, hook) is not None:
                    return False
    return True


def _initialising(connection: Any) -> bool:
    """Whether ``connection`` is a real connection still inside its ``__init__`` -- what the
    C library hands its ``sqlite3.connect/handle`` event. Asked of the C class's own
    ``total_changes`` getter (no side effect, no code of anyone's): it refuses with "Base
    Connection.__init__ not called" until then. Anything else -- an initialised or closed
    connection, any other object -- is a forged event: the guard leaves it alone (installing
    an authorizer on it would free the one it holds, inside the hook)."""
    set_authorizer = _set_authorizer_of(connection)
    if set_authorizer is None:
        return False
    cls = set_authorizer.__objclass__
    getter = _mappingproxy_get(_type_dict(cls), "total_changes")
    if _type(getter) is not _GetSetDescriptor:
        return False
    if not _errors_plain(connection, cls):
        raise ChangedErrorClasses("SQLite's exception classes were changed")
    try:
        getter.__get__(connection)
    except _Exception as exc:
        args = _exception_args(exc)  # (BaseException's own getter: no property of a class)
        message = args[0] if _type(args) is _tuple and args else ""
        return _type(message) is _str and _find(message, "__init__") >= 0
    return False


def _set(connection: Any, authorize: Any) -> str:
    """Install the authorizer: ``"done"``, ``"later"`` (not initialised yet: the C library's
    refusal, "Base Connection.__init__ not called"), or ``"never"`` (closed, or not a
    connection at all). Nothing it raises leaves."""
    set_authorizer = _set_authorizer_of(connection)
    if set_authorizer is None:
        return "never"
    if not _errors_plain(connection, set_authorizer.__objclass__):
        raise ChangedErrorClasses("SQLite's exception classes were changed")
    try:
        set_authorizer(connection, authorize)
    except _Exception as exc:
        args = _exception_args(exc)  # (BaseException's own getter: no property of a class)
        message = args[0] if _type(args) is _tuple and args else ""
        if _type(message) is _str and _find(message, "__init__") >= 0:
            return "later"
        return "never"
    return "done"


def _authorizer(decide: Decide) -> Callable[[int, Any, Any, Any, Any], int]:
    def authorize(action: int, arg1: Any, arg2: Any, database: Any, source: Any) -> int:
        if action == _SQLITE_PRAGMA:
            if _type(arg1) is not _str or _lower(arg1) not in FOLDER_PRAGMAS or arg2 is None:
                return _SQLITE_OK
            try:
                folder = folder_target(arg2)
                if folder == "" or decide("files", "write", folder) is True:
                    return _SQLITE_OK
            except _Exception:
                pass
            return _SQLITE_DENY
        if action != _SQLITE_ATTACH:  # every other statement: one comparison
            return _SQLITE_OK
        return _decide_attach(arg1, decide)

    return authorize


def _flush(frame: Any, event: str, arg: Any) -> None:
    """Profile function: install the authorizers this thread's new connections still wait for,
    then hand the event to the profiler that was there (when called as the profile function
    itself; the hook calls :func:`flush_pending` instead, which calls no profiler)."""
    previous = flush_pending()
    if previous is not None:
        previous(frame, event, arg)  # the event belongs to the profiler that was there


def flush_pending() -> Any:
    """Install the authorizers this thread's new connections still wait for; once none waits,
    put the previous profile function back. Returns it (``None`` while still waiting).

    The sandbox never drops the last reference to an object of the function's here (that
    could run its finalizer, or its fields' finalizers, inside the hook): the list that held
    the connections is parked in a reference cycle, which the collector frees later, outside.
    """
    entry = _PENDING.get(_get_ident())
    if entry is None:
        return None
    waiting: list[Any] = []
    for connection, authorize in entry[0]:
        if _set(connection, authorize) == "later":
            # Still inside connect() (a later audit hook or our own caller is running
            # Python code before __init__ finished): try again at the next event.
            waiting.append((connection, authorize))
    connection = None
    previous = entry[1] if _callable(entry[1]) else None  # a C profiler cannot be put back
    entry[2] += 1
    done = entry[0]
    entry[0] = waiting
    _park(done)
    if not waiting or entry[2] > _MAX_EVENTS:
        _park(_PENDING.pop(_get_ident(), None))
        _setprofile(previous)
        return previous
    return None


def _park(held: Any) -> None:
    """Let go of ``held`` (a list of the sandbox's own) without freeing what it holds now: it
    joins a reference cycle, freed by the cyclic collector -- which the hook's core holds off
    while the callback runs -- later, outside the hook."""
    if _type(held) is _list:
        _append_list(held, held)


def guard_connection(
    connection: Any,
    decide: Decide | None,
    arm: Any = None,
    from_event: bool = False,
    authorizer: Any = None,
) -> None:
    """Install the ATTACH/VACUUM INTO authorizer on a new connection (call it from the hook).

    At ``sqlite3.connect/handle`` the connection is not initialised yet (CPython 3.10-3.13
    raise the event just before marking it so, and refuse ``set_authorizer`` until then), so
    the authorizer is installed at the next profile event of this thread: a one-shot
    ``sys.setprofile`` function that puts any previous profile function back and passes it the
    event. Any Python-level call or return after ``connect()`` (``conn.execute`` itself is one)
    fires it before the connection can run a statement. The base class's ``set_authorizer`` is
    called, never the connection's own (a ``factory=`` subclass may override it). A connection
    that is already initialised is guarded at once -- unless ``from_event``: the hook's
    ``sqlite3.connect/handle`` always comes from inside ``__init__``, so an initialised or
    closed connection, or any other object, is a forged event and is left alone (installing
    an authorizer would free the one it holds, running its code inside the hook). Nothing is
    raised, no import runs, and nothing of the function's is freed here (see
    :func:`flush_pending`).

    Parameters
    ----------
    connection:
        The argument of the ``sqlite3.connect/handle`` audit event.
    decide:
        ``decide(category, action, path) -> bool``: ``True`` lets the file be opened; the hook
        reports or blocks on its own. An exception counts as a refusal.
    arm:
        The profile function to set (default this module's own ``_flush``). The hook passes a
        sealed trampoline that reaches ``_flush`` through an audit event: ``sys.getprofile()``
        must never hand the function code a function whose globals lead to the sandbox.
    from_event:
        ``True`` from the hook's ``sqlite3.connect/handle``: act only on a connection still
        inside its ``__init__`` (anything else is a forged event).
    authorizer:
        The authorizer to install instead of one built on ``decide``. The hook passes a sealed
        one (no globals, only C functions in its closure) that raises an audit event for an
        ``ATTACH`` and lets the hook decide there: SQLite calls the authorizer outside the
        hook, where a profiler's frames must not lead to the sandbox's decision code.

    Example
    -------
    >>> import sqlite3
    >>> conn = sqlite3.connect(":memory:")
    >>> guard_connection(conn, lambda category, action, path: path.startswith("/tmp/"))
    >>> conn.execute("ATTACH DATABASE '/etc/x.db' AS x")
    Traceback (most recent call last):
    ...
    sqlite3.DatabaseError: not authorized
    """
    if authorizer is None:
        if decide is None:
            raise TypeError("guard_connection: a decide function or an authorizer is needed")
        authorizer = _authorizer(decide)
    authorize = authorizer
    if not _initialising(connection):
        if not from_event:
            _set(connection, authorize)  # (called directly on a connection: guarded at once)
        return  # from the event: not a connection the C library is making, left alone
    ident = _get_ident()
    entry = _PENDING.get(ident)
    current = _getprofile()
    profile = arm if arm is not None else _flush
    if entry is not None:
        entry[0].append((connection, authorize))
        if current is profile:
            return
        _park([entry[1]])  # (the profile function replaced: not freed here either)
        entry[1] = current  # something replaced the one-shot profile function: arm it again
    else:
        _PENDING[ident] = [[(connection, authorize)], current, 0]
    _setprofile(profile)
