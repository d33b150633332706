"""Network: sockets, connects, sends, binds and name lookups, read from exact built-in types.

A name is checked at ``getaddrinfo``/``gethostbyname`` — before any DNS query — and an IP at
``connect``/``sendto`` (allowed when an allowed name resolved to it, see ``address_book``).
``connect(("name", port))`` resolves inside C with no lookup event: the name is checked too.
The socket's family is read through ``_socket.socket``'s own member descriptor, never through
an attribute a subclass could answer for; hosts and ports only from exact ``str``/``bytes``/``int``.
"""

from __future__ import annotations

import _socket

from ..categories import UNDECODABLE
from ..core import caller_local as _caller_local
from ..core import frame_local as _frame_local
from ..values import HOST_MAX, as_int, as_path, as_text, code_text, lookup, undecodable
from .code import caller_frame as _caller_frame
from .files import target_of

_type_dict = type.__dict__["__dict__"].__get__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Access = tuple[str, str, str, Any]

_type = type
_str = str
_tuple: Any = tuple
_len = len
_str_lower = str.lower
_str_rstrip = str.rstrip
_str_startswith = str.startswith
_str_endswith = str.endswith
_str_isascii = str.isascii
_bytes_decode = bytes.decode
_str_partition = str.partition
_inet_pton = _socket.inet_pton
_inet_ntop = _socket.inet_ntop
_inet_aton = _socket.inet_aton
_str_isspace = str.isspace
_str_split = str.split
_AF_INET = _socket.AF_INET
_AF_INET6 = _socket.AF_INET6
_AF_UNIX = getattr(_socket, "AF_UNIX", 1)
_sock_family = _socket.socket.__dict__["family"].__get__  # the C member: a raw int
_OSError = OSError
_ValueError = ValueError

_FAMILIES: dict[int, str] = {_AF_INET: "inet", _AF_INET6: "inet6", _AF_UNIX: "unix"}
for _name in ("AF_NETLINK", "AF_PACKET", "AF_BLUETOOTH", "AF_CAN", "AF_ALG", "AF_VSOCK"):
    if hasattr(_socket, _name):
        _FAMILIES[getattr(_socket, _name)] = _name[3:].lower()
_TYPES: dict[int, str] = {
    _socket.SOCK_STREAM: "stream",
    _socket.SOCK_DGRAM: "dgram",
    _socket.SOCK_RAW: "raw",
    _socket.SOCK_SEQPACKET: "seqpacket",
}
_TYPE_MASK = ~(getattr(_socket, "SOCK_NONBLOCK", 0) | getattr(_socket, "SOCK_CLOEXEC", 0))


def norm_ip(text: str) -> str | None:
    """Canonical IP text (IPv4-mapped IPv6 becomes IPv4), or ``None`` if not an IP literal.

    IPv4 in every form the C library reads as an address without a lookup (``inet_aton``:
    ``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``) is that address: a name
    rule or the ceiling compared as text would miss what the connect really reaches.

    Example
    -------
    >>> norm_ip("2852039166"), norm_ip("127.1"), norm_ip("example.com")
    ('169.254.169.254', '127.0.0.1', None)
    """
    # Every IPv4 form the C library reads (inet_pton's and inet_aton's) begins with an ASCII
    # digit: a name does not try them (each failed try raised an exception: ~2,500
    # instructions, twice for every name the hook normalises).
    if not ("0" <= text[:1] <= "9"):
        if ":" not in text:
            return None
    else:
        try:
            return _inet_ntop(_AF_INET, _inet_pton(_AF_INET, text))
        except (_OSError, _ValueError):
            pass
    if ":" not in text:
        if not text or _str_isspace(text[-1:]) or _len(_str_split(text)) != 1:
            return None  # (inet_aton stops at a space: getaddrinfo reads no such name as one)
        try:
            return _inet_ntop(_AF_INET, _inet_aton(text))
        except (_OSError, _ValueError):
            return None
    text, _, scope = _str_partition(text, "%")
    try:
        packed = _inet_pton(_AF_INET6, text)
    except (_OSError, _ValueError):
        return None
    if packed[:12] == b"\x00" * 10 + b"\xff\xff":
        return _inet_ntop(_AF_INET, packed[12:])
    return _inet_ntop(_AF_INET6, packed) + ("%" + scope if scope else "")


def norm_host(host: Any) -> str | None:
    """Lower-case, no trailing dot, IDNA for non-ASCII; IP literals canonical; undecodable marked.

    Only exact ``str``/``bytes`` are read; ``None`` and the empty name are no host.
    """
    text = as_text(host)
    if text is None:
        return None if host is None else undecodable(host)
    if not text:
        return None
    if _len(text) > HOST_MAX + 2:
        return UNDECODABLE + "host too long"
    text = _str_lower(_str_rstrip(text, "."))
    if _str_startswith(text, "[") and _str_endswith(text, "]"):
        text = text[1:-1]
    ip = norm_ip(text)
    if ip is not None:
        return ip
    if not _str_isascii(text):
        # A name in Unicode, not in its ASCII (IDNA) form: encoding it here would run the
        # codec registry's code inside the hook (a lookup the function can plant a module
        # for). Libraries encode names before they reach the socket; such a name is refused.
        return UNDECODABLE + "host not in ASCII (IDNA) form"
    return text


def host_port(host: str, port: Any) -> str:
    """``host:port`` with IPv6 literals bracketed; a port that is not an exact int is ``*``."""
    shown = "[" + host + "]" if ":" in host else host
    number = as_int(port)
    return shown + ":" + (_str(number) if number is not None else "*")


# _address's answers for (family, host, port, action) of exact str and int: a pure function
# of them (the name's normal form, the literal's canonical text), so kept, bounded.
_ADDRESSES: dict[tuple[Any, str, int, str], tuple[Access, ...]] = {}
_ADDRESSES_LIMIT = 256
_dict_get = dict.get
_int = int
_list = list


def _address(sock: Any, address: Any, action: str) -> list[Access] | None:
    try:
        family = _sock_family(sock)
    except (TypeError, _ValueError):
        family = None
    if (
        _type(address) is _tuple
        and _len(address) == 2
        and _type(address[0]) is _str
        and _type(address[1]) is _int
        and family != _AF_UNIX
    ):
        # (exact types only: the key's hash and comparison are the built-ins')
        key = (family, address[0], address[1], action)
        known = _dict_get(_ADDRESSES, key)
        if known is None:
            decided = _address_decoded(family, address, action)
            if decided is None:
                return None
            if _len(_ADDRESSES) >= _ADDRESSES_LIMIT:
                _ADDRESSES.clear()
            known = _ADDRESSES[key] = _tuple(decided)
        return _list(known)
    return _address_decoded(family, address, action)


def _address_decoded(family: Any, address: Any, action: str) -> list[Access] | None:
    file_action = "connect" if action != "bind" else "write"
    if family == _AF_UNIX:
        if _type(address) is _int or _type(address) is bool:
            # (a number is no AF_UNIX address -- CPython refuses it -- and never a descriptor)
            return [("files", file_action, undecodable(address), None)]
        value = as_path(address) if _type(address) is not _str else address
        if _type(value) is _str and _str_startswith(value, "\x00"):
            return [("files", file_action, "@" + value[1:], None)]
        if _type(address) is bytes and address[:1] == b"\x00":
            return [
                (
                    "files",
                    file_action,
                    "@" + _bytes_decode(address[1:], "utf-8", "surrogateescape"),
                    None,
                )
            ]
        if _type(value) is _str and "\x00" in value:
            # Not abstract, a NUL inside: CPython copies the whole buffer into sun_path and
            # the kernel takes the name up to the first NUL -- decided as that name.
            value = _str_partition(value, "\x00")[0]
            target = target_of(value)
        elif _type(value) is _str and not value:
            # "": an abstract name the kernel picks (autobind) -- reachable by any process of
            # the host's network namespace once bound or listening: decided as abstract "@"
            return [("files", file_action, "@", None)]
        else:
            target = target_of(address)
        if target is None:
            # (never "no file": a socket address always names one, or is refused)
            return [("files", file_action, undecodable(address), None)]
        return [("files", file_action, target, None)]
    if _type(address) is not _tuple or _len(address) < 2:
        return [("network", action, undecodable(address), None)]
    host = norm_host(address[0])
    if host is None:
        host = "0.0.0.0" if family == _AF_INET else "::"
    if _str_startswith(host, UNDECODABLE):
        return [("network", action, host, None)]
    if as_int(address[1]) is None:
        return [("network", action, undecodable(address[1]), None)]
    out: list[Access] = []
    raw = as_text(address[0])
    if norm_ip(host) is not None and raw is not None and raw and norm_ip(raw) is None:
        # A literal only once normalised ("127.0.0.1.", "[::1]"): the C library looks it up as
        # a name, and the socket goes where that answer says -- a name, decided as written.
        name = _str_lower(raw)
        port = as_int(address[1])
        out.append(("network", "resolve", name, None))
        out.append(("network", action, name + ":" + _str(port), name))  # (port: checked above)
        return out
    if norm_ip(host) is None:
        # connect/sendto/bind(("name", port)) resolve the name inside C with no getaddrinfo
        # event (and before this one: the query has left, the operation is still decided).
        out.append(("network", "resolve", host, None))
    out.append(("network", action, host_port(host, address[1]), host))
    return out


_NO_CALLER: Any = ("no caller given",)  # _socket_new called without the core's caller
_SOCKET_INIT: list[Any] = []  # socket.socket.__init__'s code, once socket.py is loaded
# sys.modules itself, live (in a tuple: the hook's frozen copy copies module-level dicts, and
# socket.py may be imported after install).
_LIVE_MODULES = (__import__("sys").modules,)
_object_getattribute = object.__getattribute__
_ModuleType = type(_socket)
_module_dict = _ModuleType.__dict__["__dict__"].__get__  # type: ignore[index]
_mappingproxy_items = type(type.__dict__).items
_FunctionType = type(lambda: None)
_function_code = _FunctionType.__dict__["__code__"].__get__
_SOCKET_METHODS = ("__init__", "accept", "dup")
_SOCKET_PY = __import__("os").path.join(
    __import__("os").path.dirname(__import__("os").__file__), "socket.py"
)


def _socket_codes() -> list[Any]:
    """socket.py's ``socket.__init__``, ``accept`` and ``dup`` code, once socket.py is loaded.

    Read from the live ``sys.modules`` with nothing of anyone's running: an exact module, an
    exact class, exact functions, their items walked (no lookup that could compare a planted
    key), and only code of the standard library's own ``socket.py`` (a module planted under
    that name shows no such code)."""
    module = lookup(_LIVE_MODULES[0], "socket")
    if _type(module) is not _ModuleType:
        return []
    cls = lookup(_module_dict(module), "socket")
    if _type(cls) is not type:
        return []
    found: dict[str, Any] = {}
    for key, value in _mappingproxy_items(_type_dict(cls)):
        if _type(key) is _str and key in _SOCKET_METHODS and _type(value) is _FunctionType:
            code = _function_code(value)
            if code_text(code.co_filename) == _SOCKET_PY:
                found[key] = code
    if "__init__" not in found:
        return []
    return [found[name] for name in _SOCKET_METHODS if name in found]


def _adopting(caller: Any = _NO_CALLER) -> bool:
    """Whether socket.py's constructor is wrapping an existing descriptor (fileno given).

    ``caller``: the code that raised the event, as the core hands it to the hook (the frame
    it raised it in is then read with ``core.caller_local``, no frame lookup); the frames are
    walked only for an adoption (socket.accept and dup are told apart by the outer frame) or
    when no caller was given.
    """
    if not _SOCKET_INIT:
        codes = _socket_codes()
        if not codes:
            return False
        _SOCKET_INIT.extend(codes)
    if caller is not _NO_CALLER and (
        caller is not _SOCKET_INIT[0] or _caller_local("fileno") is None
    ):
        return False  # (the usual socket: no descriptor to adopt)
    frame = _caller_frame(3)
    if frame is None or frame.f_code is not _SOCKET_INIT[0]:
        return False
    if _frame_local(frame, "fileno") is None:
        return False
    # socket.accept() and socket.dup() wrap a descriptor this process just made from its own
    # socket: not an adoption of someone else's.
    outer = frame.f_back
    if outer is None:
        return True
    outer_code = outer.f_code  # (read here, in this function: the core's own sites)
    return not any(outer_code is code for code in _SOCKET_INIT[1:])


def _connect(args: tuple[Any, ...]) -> list[Access] | None:
    return _address(args[0], args[1], "connect")


def _sendto(args: tuple[Any, ...]) -> list[Access] | None:
    if args[1] is None:
        return None  # sendmsg on a connected socket: the connect was decided
    return _address(args[0], args[1], "sendto")


def _bind(args: tuple[Any, ...]) -> list[Access] | None:
    return _address(args[0], args[1], "bind")


def _resolve(args: tuple[Any, ...]) -> list[Access] | None:
    host = norm_host(args[0])
    if host is None:
        return None  # a passive lookup sends no DNS query
    if norm_ip(host) is not None:
        # An address literal sends no query -- as given, not once normalised: the C library
        # looks "127.0.0.1." or "[::1]" up as a name (the hosts file, then DNS). Such a name
        # is decided as written (lower-cased), which no rule for the address matches.
        text = as_text(args[0])
        if text is not None and norm_ip(text) is not None:
            return None
        return [("network", "resolve", _str_lower(text) if text is not None else host, None)]
    return [("network", "resolve", host, None)]


def _reverse(args: tuple[Any, ...]) -> list[Access] | None:
    first = args[0]
    if _type(first) is _tuple and first:
        first = first[0]
    host = norm_host(first)
    return None if host is None else [("network", "reverse", host, None)]


def _socket_new(args: tuple[Any, ...], caller: Any = _NO_CALLER) -> list[Access] | None:
    family, kind = as_int(args[1]), as_int(args[2])
    if family is None or kind is None:
        return [("network", "socket", undecodable(args[1] if family is None else args[2]), None)]
    if family < 0:
        # socket(fileno=n) adopts a descriptor the sandbox did not see connected (the event
        # carries no descriptor number): decided as what it is, an adoption of any socket.
        return [("network", "adopt", "any", None)]
    fam = _FAMILIES.get(family, _str(family))
    if _adopting(caller):
        # socket.socket(family, type, proto, fileno): the event does not carry the descriptor,
        # but socket.py's constructor frame does — wrapping an existing descriptor is adopting.
        return [("network", "adopt", fam, None)]
    if kind < 0:
        # socket(family, fileno=n): the type is read from the descriptor, so this adopts an
        # existing socket of that family (multiprocessing's forkserver does, for AF_UNIX).
        return [("network", "adopt", fam, None)]
    typ = _TYPES.get(kind & _TYPE_MASK, _str(kind))
    return [("network", "socket", fam + "/" + typ, None)]


# setsockopt options whose value holds a pointer the kernel follows, (level, name) -> what it
# does there: a struct sock_fprog's classic BPF program is read (SO_ATTACH_FILTER,
# SO_ATTACH_REUSEPORT_CBPF, PACKET_FANOUT_DATA); the firewall tables' replace and counters
# options (iptables, arptables, ebtables at SOL_IP; ip6tables at SOL_IPV6) have their
# `counters` written. The native core raises them (CPython has no setsockopt event).
_POINTER_OPTIONS: dict[tuple[int | None, int | None], str] = {
    (1, 26): "read",
    (1, 51): "read",
    (263, 22): "read",
    **{(0, n): "write" for n in (64, 65, 96, 97, 128, 129)},
    (41, 64): "write",
    (41, 65): "write",
}


def _setsockopt(args: tuple[Any, ...]) -> list[Access] | None:
    # (raised by the native core, for setsockopt and sendmsg's ancillary data) an option that
    # sends the packets elsewhere than the decided address, or one it could not read; or one
    # that has the kernel read memory at an address the value names: native memory
    level = as_int(args[1]) if _len(args) > 1 else None
    name = as_int(args[2]) if _len(args) > 2 else None
    follows = _POINTER_OPTIONS.get((level, name))
    if follows is not None:
        return [("native", "memory", follows, None)]
    reason = "a route set on the socket (an IP source route, an IPv6 routing header or next hop)"
    return [("network", "connect", UNDECODABLE + reason, None)]


# Where the C library's syslog() sends (glibc and musl: _PATH_LOG).
_SYSLOG_SOCKET = "/dev/log"


def _syslog(args: tuple[Any, ...]) -> list[Access] | None:
    """``syslog.openlog`` and ``syslog.syslog`` (``syslog`` opens the log itself when no
    ``openlog`` did, raising that event first): the C library connects a datagram socket of its
    own to ``/dev/log`` (at the ``openlog``, or at the first message), with no ``socket`` event
    -- decided as that socket and that connect, as the same ones made through ``socket``. (The
    module is outside ``{stdlib}``; these decide it wherever it came from: a profile that
    allows its import, or CPython 3.14's built-in one made by hand.)"""
    target = target_of(_SYSLOG_SOCKET)
    if target is None:
        return [("files", "connect", undecodable(_SYSLOG_SOCKET), None)]
    return [("network", "socket", "unix/dgram", None), ("files", "connect", target, None)]


DECODERS = {
    "syslog.openlog": _syslog,
    "syslog.syslog": _syslog,
    "socket.__new__": _socket_new,
    "socket.setsockopt": _setsockopt,
    "socket.connect": _connect,
    "socket.sendto": _sendto,
    "socket.sendmsg": _sendto,
    "socket.bind": _bind,
    "socket.getaddrinfo": _resolve,
    "socket.gethostbyname": _resolve,
    "socket.gethostbyname_ex": _resolve,
    "socket.gethostbyaddr": _reverse,
    "socket.getnameinfo": _reverse,
}
