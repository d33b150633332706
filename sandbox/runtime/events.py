"""Audit event → accesses: decode each event's arguments into ``(category, action, target, detail)``.

One decoder per audit event name, collected in :data:`DECODERS`; the hook looks the event name up
there and returns at once for everything else. Decoders normalise what they see — paths made
absolute with symlinks resolved, ``os.open`` flags read for write intent, host names lower-cased
without a trailing dot, IPv6 compressed, executables found on ``PATH`` — and never keep the raw
arguments (``http.client.send`` would hold signed requests; ``marshal.loads`` whole modules).
See ``../shared/AUDIT-FACTS.md`` for which events exist and when they fire.
"""

from __future__ import annotations

import _socket as socket  # the C module: socket.py builds enums at import (~2 ms)
import os
import stat
import sys
from collections.abc import Callable

from .globs import process_target

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any

    Access = tuple[str, str, str, Any]
    Decoder = Callable[[tuple[Any, ...]], "list[Access] | None"]

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_SANDBOX_DIR = os.path.dirname(os.path.abspath(__file__))
_realpath = os.path.realpath
_getcwd = os.getcwd
_lstat = os.lstat
_S_ISLNK = stat.S_ISLNK
# Absolute path → its realpath. Resolving costs a syscall per component (~10 µs for a module
# path); the answer only changes when a symlink or directory changes, and every audited way
# to do that clears this cache (forget_resolved_paths). The hook runs on a frozen copy of
# this dict (sandbox.runtime.freeze), so code rebinding or filling the module's own copy changes nothing.
_RESOLVED: dict[str, str] = {}
# Off for good once the process starts a child: a child runs alongside and may change
# symlinks at any moment, with no audit event in this process to say so.
_CACHE_ON = [True]
_RESOLVED_LIMIT = 4096
_fspath = os.fspath
_fsdecode = os.fsdecode


# --------------------------------------------------------------------------- paths


def norm_path(path: Any, dir_fd: Any = None, cache: bool = True) -> str | None:
    """An absolute, symlink-resolved path as ``str``; ``None`` for fds and empty paths.

    Bytes and non-UTF-8 names decode with ``surrogateescape`` (``os.fsdecode``), so they stay
    distinct and round-trip; relative paths resolve against ``dir_fd`` or the working directory.
    """
    if path is None or isinstance(path, int):
        return None
    if not isinstance(path, (str, bytes)):
        try:
            path = _fspath(path)
        except TypeError:
            return None
    if isinstance(path, bytes):
        path = _fsdecode(path)
    if not path or "\x00" in path:
        return None
    if path[0] != "/":
        if isinstance(dir_fd, int) and dir_fd >= 0:
            try:
                # /proc/self/fd/N names the directory the fd refers to (readlink is not audited).
                path = os.readlink(f"/proc/self/fd/{dir_fd}") + "/" + path
            except OSError:
                path = _getcwd() + "/" + path
        else:
            path = _getcwd() + "/" + path
    if not cache or not _CACHE_ON[0]:
        return str(_realpath(path))
    resolved = _RESOLVED.get(path)
    if resolved is None:
        resolved = _resolve_path(path)
        if len(_RESOLVED) >= _RESOLVED_LIMIT:
            _RESOLVED.clear()
        _RESOLVED[path] = resolved
    return resolved


def _resolve_path(path: str) -> str:
    """``realpath``, reusing the cached resolution of the directory (one lstat per new file)."""
    head, _, tail = path.rpartition("/")
    if (
        not tail
        or tail in (".", "..")
        or "/./" in path
        or "/../" in path
        or head.endswith(("/.", "/.."))
    ):
        return str(_realpath(path))  # dot components: let realpath apply them in order
    directory = head or "/"
    real_dir = _RESOLVED.get(directory)
    if real_dir is None:
        real_dir = str(_realpath(directory))
        _RESOLVED[directory] = real_dir
    try:
        if _S_ISLNK(_lstat(path).st_mode):
            return str(_realpath(path))
    except OSError:
        pass  # nothing there (yet): the name is taken as it is, in the real directory
    return (real_dir if real_dir != "/" else "") + "/" + tail


def stop_caching_paths() -> None:
    """A child process exists from now on: resolve every path afresh (see forget_resolved_paths)."""
    _CACHE_ON[0] = False
    _RESOLVED.clear()


def forget_resolved_paths() -> None:
    """Drop the realpath cache: something may create, move or remove a symlink or directory.

    Called by every decoder of an event that can change how a path resolves (remove, rename,
    symlink, mkdir/rmdir, shutil's tree operations) and of every exec or fork (a child may do
    any of these). Audit events fire *before* the operation, so those decoders resolve their
    own paths without the cache and clear it last: the next lookup, after the operation, starts
    afresh. Limits: another thread resolving the same path in the instant between the event and
    the operation could cache the old answer, and native code that creates symlinks is not seen
    at all (it is outside the audit layer).
    """
    _RESOLVED.clear()


def _one(
    category: str, action: str, path: Any, dir_fd: Any = None, cache: bool = True
) -> list[Access] | None:
    target = norm_path(path, dir_fd, cache)
    return None if target is None else [(category, action, target, None)]


def _arg(args: tuple[Any, ...], index: int) -> Any:
    return args[index] if len(args) > index else None


def decode_open(args: tuple[Any, ...]) -> list[Access] | None:
    path, mode, flags = args[0], args[1], args[2]
    write = bool(isinstance(flags, int) and flags & _WRITE_FLAGS)
    if isinstance(mode, str) and ("w" in mode or "a" in mode or "x" in mode or "+" in mode):
        write = True
    return _one("files", "write" if write else "read", path)


def _writes_first(args: tuple[Any, ...]) -> list[Access] | None:
    out = _one("files", "write", args[0], _arg(args, 3) if len(args) == 4 else None, False)
    forget_resolved_paths()
    return out


def _writes_first_plain(args: tuple[Any, ...]) -> list[Access] | None:
    out = _one("files", "write", args[0], None, False)
    forget_resolved_paths()
    return out


def _reads_first(args: tuple[Any, ...]) -> list[Access] | None:
    return _one("files", "read", args[0])


def _lists_first(args: tuple[Any, ...]) -> list[Access] | None:
    path = args[0] if args else None
    return _one("files", "list", "." if path is None else path)


def _read_src_write_dst(args: tuple[Any, ...]) -> list[Access] | None:
    out = (_one("files", "read", args[0], None, False) or []) + (
        _one("files", "write", args[1], None, False) or []
    )
    forget_resolved_paths()
    return out or None


def _write_both(args: tuple[Any, ...]) -> list[Access] | None:
    out = (_one("files", "write", args[0], None, False) or []) + (
        _one("files", "write", args[1], None, False) or []
    )
    forget_resolved_paths()
    return out or None


def _symlink(args: tuple[Any, ...]) -> list[Access] | None:
    # Only the new link is written; reads through it are resolved to the real file later.
    out = _one("files", "write", args[1], None, False)
    forget_resolved_paths()
    return out


def _sqlite(args: tuple[Any, ...]) -> list[Access] | None:
    database = args[0]
    if isinstance(database, bytes):
        database = _fsdecode(database)
    if database in ("", ":memory:") or (isinstance(database, str) and database.startswith("file:")):
        return None if database in ("", ":memory:") else [("files", "write", database, None)]
    return _one("files", "write", database)


# --------------------------------------------------------------------------- network

_FAMILIES: dict[int, str] = {
    socket.AF_INET: "inet",
    socket.AF_INET6: "inet6",
    socket.AF_UNIX: "unix",
}
for _name in ("AF_NETLINK", "AF_PACKET", "AF_BLUETOOTH", "AF_CAN", "AF_ALG", "AF_VSOCK"):
    if hasattr(socket, _name):
        _FAMILIES[getattr(socket, _name)] = _name[3:].lower()
_TYPES: dict[int, str] = {
    socket.SOCK_STREAM: "stream",
    socket.SOCK_DGRAM: "dgram",
    socket.SOCK_RAW: "raw",
    socket.SOCK_SEQPACKET: "seqpacket",
}
_TYPE_MASK = ~(getattr(socket, "SOCK_NONBLOCK", 0) | getattr(socket, "SOCK_CLOEXEC", 0))


def norm_host(host: Any) -> str | None:
    """Lower-case, no trailing dot, IDNA for non-ASCII; IP literals in canonical form."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str) or not host:
        return None
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    ip = norm_ip(host)
    if ip is not None:
        return ip
    if not host.isascii():
        try:
            return str(host.encode("idna").decode("ascii"))
        except UnicodeError:
            return str(host)
    return str(host)


def norm_ip(text: str) -> str | None:
    """Canonical IP text (IPv4-mapped IPv6 becomes IPv4), or ``None`` if not an IP literal."""
    try:
        packed = socket.inet_pton(socket.AF_INET, text)
        return socket.inet_ntop(socket.AF_INET, packed)
    except (OSError, ValueError):
        pass
    if ":" not in text:
        return None
    scope = ""
    if "%" in text:
        text, _, scope = text.partition("%")
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):
        return None
    if packed[:12] == b"\x00" * 10 + b"\xff\xff":
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return socket.inet_ntop(socket.AF_INET6, packed) + (f"%{scope}" if scope else "")


def host_port(host: str, port: Any) -> str:
    """``host:port`` with IPv6 literals bracketed."""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port if isinstance(port, int) else '*'}"


def _address(sock: Any, address: Any, action: str) -> list[Access] | None:
    family = getattr(sock, "family", None)
    if family == socket.AF_UNIX or isinstance(address, (str, bytes)):
        if isinstance(address, bytes) and address[:1] == b"\x00":
            return [
                (
                    "files",
                    "connect" if action != "bind" else "write",
                    "@" + address[1:].decode("utf-8", "backslashreplace"),
                    None,
                )
            ]
        if isinstance(address, str) and address[:1] == "\x00":
            return [("files", "connect" if action != "bind" else "write", "@" + address[1:], None)]
        return _one("files", "connect" if action != "bind" else "write", address)
    if not isinstance(address, tuple) or len(address) < 2:
        return None
    host = norm_host(address[0])
    if host is None:
        host = "0.0.0.0" if family == socket.AF_INET else "::"
    port = address[1]
    out: list[Access] = []
    if action != "bind" and norm_ip(host) is None:
        # connect(("name", port)) resolves inside C with no getaddrinfo event.
        out.append(("network", "resolve", host, None))
    out.append(("network", action, host_port(host, port), host))
    return out


def _connect(args: tuple[Any, ...]) -> list[Access] | None:
    return _address(args[0], args[1], "connect")


def _sendto(args: tuple[Any, ...]) -> list[Access] | None:
    if args[1] is None:
        return None
    return _address(args[0], args[1], "sendto")


def _bind(args: tuple[Any, ...]) -> list[Access] | None:
    return _address(args[0], args[1], "bind")


def _resolve(args: tuple[Any, ...]) -> list[Access] | None:
    host = norm_host(args[0])
    if host is None or norm_ip(host) is not None:
        return None  # passive lookups and literals send no DNS query
    return [("network", "resolve", host, None)]


def _reverse(args: tuple[Any, ...]) -> list[Access] | None:
    first = args[0]
    if isinstance(first, tuple):
        first = first[0]
    host = norm_host(first)
    return None if host is None else [("network", "reverse", host, None)]


def _socket_new(args: tuple[Any, ...]) -> list[Access] | None:
    family, kind = args[1], args[2]
    if not isinstance(family, int) or family < 0:
        return None  # socket(fileno=...) adopts an existing fd
    fam = _FAMILIES.get(family, str(family))
    typ = _TYPES.get(kind & _TYPE_MASK, str(kind)) if isinstance(kind, int) else str(kind)
    return [("network", "socket", f"{fam}/{typ}", None)]


# --------------------------------------------------------------------------- processes


def which(name: str, env: Any = None, cwd: Any = None) -> str:
    """Resolve an executable as ``execvp`` would, without running anything."""
    if isinstance(name, bytes):
        name = _fsdecode(name)
    elif not isinstance(name, str):
        name = _fspath(name)
        if isinstance(name, bytes):
            name = _fsdecode(name)
    if "/" in name:
        base = norm_path(cwd) if cwd is not None else None
        joined = os.path.join(base, name) if base and not name.startswith("/") else name
        return os.path.normpath(os.path.abspath(joined))
    path = None
    if isinstance(env, dict):
        path = env.get("PATH", env.get(b"PATH"))
        if isinstance(path, bytes):
            path = _fsdecode(path)
    if path is None:
        path = os.environ.get("PATH", os.defpath)
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.normpath(os.path.abspath(candidate))
    return name


def _argv(args: Any) -> list[str]:
    if isinstance(args, (str, bytes)):
        args = [args]
    out: list[str] = []
    for arg in args or ():
        if isinstance(arg, bytes):
            out.append(_fsdecode(arg))
        elif isinstance(arg, str):
            out.append(arg)
        else:
            try:
                value = _fspath(arg)
                out.append(_fsdecode(value) if isinstance(value, bytes) else value)
            except TypeError:
                out.append(str(arg))
    return out


def exec_access(executable: Any, args: Any, env: Any = None, cwd: Any = None) -> Access:
    stop_caching_paths()  # the child may create or move symlinks at any time
    argv = _argv(args)
    exe = executable if executable is not None else (argv[0] if argv else "")
    path = which(exe, env, cwd)
    return ("processes", "exec", process_target(path, argv[1:]), argv)


def _popen(args: tuple[Any, ...]) -> list[Access] | None:
    return [exec_access(args[0], args[1], _arg(args, 3), _arg(args, 2))]


def _system(args: tuple[Any, ...]) -> list[Access] | None:
    command = args[0]
    if isinstance(command, bytes):
        command = _fsdecode(command)
    return [exec_access("/bin/sh", ["sh", "-c", command])]


def _exec(args: tuple[Any, ...]) -> list[Access] | None:
    return [exec_access(args[0], args[1], _arg(args, 2))]


def _fork(args: tuple[Any, ...]) -> list[Access] | None:
    stop_caching_paths()
    return [("processes", "fork", "fork", None)]


def _kill(args: tuple[Any, ...]) -> list[Access] | None:
    pid, sig = args[0], args[1]
    who = "self" if pid in (0, os.getpid()) else "other"
    try:
        name = signal_name(sig)
    except ValueError:
        name = str(sig)
    return [("processes", "kill", f"{who}:{name}", None)]


def signal_name(number: Any) -> str:
    import signal

    return signal.Signals(number).name


# --------------------------------------------------------------------------- modules, native, code


def _import(args: tuple[Any, ...]) -> list[Access] | None:
    name = args[0]
    if not isinstance(name, str) or not name:
        return None
    # A C extension raises a second event with its file: it exists and is being loaded now.
    filename = args[1] if len(args) > 1 and isinstance(args[1], str) else None
    return [("modules", "import", name, filename)]


def _dlopen(args: tuple[Any, ...]) -> list[Access] | None:
    name = args[0]
    if name is None:
        return [("native", "dlopen", "<main>", None)]
    if isinstance(name, bytes):
        name = _fsdecode(name)
    name = str(name)
    target = norm_path(name) if "/" in name else name
    return [("native", "dlopen", target or name, None)]


def _sqlite_extension(args: tuple[Any, ...]) -> list[Access] | None:
    # SQLite loading a native extension is native code like ctypes.dlopen.
    return _dlopen((args[1],)) if len(args) > 1 else None


def _pthread_kill(args: tuple[Any, ...]) -> list[Access] | None:
    try:
        name = signal_name(args[1])
    except ValueError:
        name = str(args[1])
    return [("processes", "kill", f"thread:{name}", None)]


def _dlsym(args: tuple[Any, ...]) -> list[Access] | None:
    name = args[1]
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    return [("native", "dlsym", name if isinstance(name, str) else f"#{name}", None)]


def caller_site() -> tuple[str, str]:
    """``(filename, qualname)`` of the first frame outside the sandbox package."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_SANDBOX_DIR):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return ("<unknown>", "<unknown>")
    code = frame.f_code
    filename = code.co_filename
    if not filename.startswith("<"):
        filename = os.path.normpath(os.path.abspath(filename))  # 3.10 keeps "/a/./b.py"
    return (filename, getattr(code, "co_qualname", code.co_name))


def _compile(args: tuple[Any, ...]) -> list[Access] | None:
    source, filename = args[0], args[1]
    if not isinstance(source, (str, bytes)):
        return None  # an AST or code object: compiled from something already audited
    if isinstance(filename, bytes):
        filename = _fsdecode(filename)
    if isinstance(filename, str) and filename.startswith("/"):
        return [("code", "compile", filename, None)]
    site_file, site_name = caller_site()
    return [("code", "compile", f"{site_file}:{site_name}", None)]


def _aws_call(args: tuple[Any, ...]) -> list[Access] | None:
    # Raised by sandbox.runtime.aws_calls around botocore's API call: (service, operation, resource).
    service, operation = str(args[0]).lower(), str(args[1])
    resource = args[2] if len(args) > 2 and args[2] else None
    target = f"{service}:{operation}" + (f":{resource}" if resource else "")
    return [("aws", "call", target, None)]


DECODERS: dict[str, Decoder] = {
    "sandbox.aws": _aws_call,
    "open": decode_open,
    "os.remove": _writes_first,
    "os.rmdir": _writes_first,
    "os.mkdir": _writes_first,
    "os.chmod": _writes_first,
    "os.chown": _writes_first,
    "os.utime": _writes_first,
    "os.truncate": _writes_first_plain,
    "os.setxattr": _writes_first_plain,
    "os.removexattr": _writes_first_plain,
    "os.getxattr": _reads_first,
    "os.listxattr": _reads_first,
    "os.rename": _write_both,
    "os.link": _read_src_write_dst,
    "os.symlink": _symlink,
    "os.listdir": _lists_first,
    "os.scandir": _lists_first,
    "shutil.copyfile": _read_src_write_dst,
    "shutil.copymode": _read_src_write_dst,
    "shutil.copystat": _read_src_write_dst,
    "shutil.copytree": _read_src_write_dst,
    "shutil.move": _write_both,
    "shutil.rmtree": _writes_first_plain,
    "shutil.chown": _writes_first_plain,
    "shutil.make_archive": _writes_first_plain,
    "shutil.unpack_archive": _read_src_write_dst,
    "tempfile.mkstemp": _writes_first_plain,
    "tempfile.mkdtemp": _writes_first_plain,
    "sqlite3.connect": _sqlite,
    "socket.__new__": _socket_new,
    "socket.connect": _connect,
    "socket.sendto": _sendto,
    "socket.sendmsg": _sendto,
    "socket.bind": _bind,
    "socket.getaddrinfo": _resolve,
    "socket.gethostbyname": _resolve,
    "socket.gethostbyname_ex": _resolve,
    "socket.gethostbyaddr": _reverse,
    "socket.getnameinfo": _reverse,
    "subprocess.Popen": _popen,
    "os.system": _system,
    "os.exec": _exec,
    "os.posix_spawn": _exec,
    "os.spawn": _exec,
    "os.fork": _fork,
    "os.forkpty": _fork,
    "os.kill": _kill,
    "os.killpg": _kill,
    "import": _import,
    "ctypes.dlopen": _dlopen,
    "ctypes.dlsym": _dlsym,
    "ctypes.dlsym/handle": _dlsym,
    "sqlite3.load_extension": _sqlite_extension,
    "signal.pthread_kill": _pthread_kill,
    "compile": _compile,
}
