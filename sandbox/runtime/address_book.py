"""Name → address memory: which allowed names resolved to which IPs, for ``connect`` checks.

The ``socket.getaddrinfo`` audit event fires *before* the DNS query, with the name only; the
answer is never audited. So the sandbox interposes on ``_socket.getaddrinfo`` /
``gethostbyname[_ex]`` (what ``socket.getaddrinfo`` and friends call) to remember the answer: a
later ``connect`` to one of those IPs is then matched through the name. Interposition is
idempotent (an already-wrapped function is left alone) and the originals are captured first.
Code holding an original reference still raises the audit event, so the name is still checked;
only the IP memory is missed, and the connect then fails closed.
"""

from __future__ import annotations

import _socket
import sys
import types
from collections.abc import Callable

from .categories import UNDECODABLE
from .decoders.network import norm_host, norm_ip
from .sealing import sealed

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any


_MARK = "__sandbox_original__"
MAX_ADDRESSES = 4096


class AddressBook:
    """Bounded map IP → names that resolved to it (most recent last)."""

    __slots__ = ("_names",)

    def __init__(self) -> None:
        self._names: dict[str, list[str]] = {}

    def add(self, name: str, addresses: list[str]) -> None:
        if len(self._names) > MAX_ADDRESSES:
            self._names.clear()
        for address in addresses:
            names = self._names.setdefault(address, [])
            if name in names:
                names.remove(name)
            names.append(name)

    def names(self, address: str) -> list[str]:
        return self._names.get(address, [])


RESOLVED_EVENT = "sandbox.resolved"


def remember(book: AddressBook, kind: str, host: Any, result: Any) -> None:
    """Record what a real resolver call answered (the hook calls this for ``sandbox.resolved``).

    The host is read exactly as the resolver got it (exact str/bytes only): a hostile object
    that answers one name to the sandbox and another to the resolver is never remembered. The
    answer is the wrapper's immutable copy (tuples all the way down, made before any name of
    the wrapper's frame held it): another thread that reached that frame cannot edit it while
    this reads it.
    """
    name = norm_host(host)
    if name is None or name.startswith(UNDECODABLE) or norm_ip(name) is not None:
        return
    # (plain loops: inside the callback a comprehension or a generator is a guarded frame)
    addresses: list[str] = []
    if kind == "getaddrinfo" and type(result) is tuple:
        for entry in result:
            if (
                type(entry) is tuple
                and len(entry) == 5
                and type(entry[4]) is tuple
                and entry[4]
                and type(entry[4][0]) is str
            ):
                addresses.append(entry[4][0])
    elif kind == "gethostbyname" and type(result) is str:
        addresses.append(result)
    elif kind == "gethostbyname_ex" and type(result) is tuple and len(result) == 3:
        if type(result[2]) is tuple:
            for address in result[2]:
                if type(address) is str:
                    addresses.append(address)
    else:
        return
    normal: list[str] = []
    for address in addresses:
        ip = norm_ip(address)
        if ip:
            normal.append(ip)
    book.add(name, normal)


# The real resolvers, captured at import (before the function's code runs).
REAL_RESOLVERS = {
    name: getattr(_socket, name)
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex")
    if not hasattr(getattr(_socket, name), _MARK)
}


# The resolver wrappers' code objects (see interpose): the event they raise is honoured only
# from them.
WRAPPER_CODES: list[types.CodeType] = []


def interpose() -> None:
    """Wrap the resolver functions so their answers reach the hook (idempotent).

    Each wrapper calls the real resolver, then raises ``sandbox.resolved`` with the name and
    the answer; the hook honours that event only from the wrapper's own code. The wrappers are
    *sealed* (empty globals): they sit in ``_socket`` for anyone to read, and nothing of the
    sandbox is reachable from them.
    """

    def wrap(module: Any, attr: str) -> None:
        original = getattr(module, attr, None)
        if original is None or hasattr(original, _MARK):
            return
        wrapper = _resolver_wrapper(original, attr)
        WRAPPER_CODES.append(wrapper.__code__)
        setattr(wrapper, _MARK, True)
        wrapper.__doc__ = getattr(original, "__doc__", None)
        setattr(module, attr, wrapper)

    wrap(_socket, "getaddrinfo")
    # socket.py copies these names from _socket when it is imported: wrapping _socket is
    # enough if it is not imported yet (importing it here would cost ~2 ms of cold start).
    modules = [_socket]
    if "socket" in sys.modules:
        modules.append(sys.modules["socket"])
    for module in modules:
        wrap(module, "gethostbyname")
        wrap(module, "gethostbyname_ex")


def _freeze_ex(answer: Any, _tuple: Any = tuple) -> Any:
    # gethostbyname_ex's (name, aliases, addresses), its lists as tuples. (Sealed below: no
    # globals; its frame is reachable from no frame of the function's.)
    name, aliases, addresses = answer
    return (name, _tuple(aliases), _tuple(addresses))


def _thaw_ex(frozen: Any, _list: Any = list) -> Any:
    # What gethostbyname_ex returns: lists again (new ones: the caller's to change).
    return (frozen[0], _list(frozen[1]), _list(frozen[2]))


# Per resolver: how its answer is made immutable before the wrapper keeps it anywhere, and
# made what the resolver returns again for the caller.
_FREEZE: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "getaddrinfo": (tuple, list),  # a list of tuples of immutables
    "gethostbyname": (str, str),  # a str (the real resolver's: exact; str() returns it)
    "gethostbyname_ex": (sealed(_freeze_ex), sealed(_thaw_ex)),
}


def _resolver_wrapper(original: Callable[..., Any], kind: str) -> Callable[..., Any]:
    """The sealed wrapper of the resolver ``original``: C functions and types only, held as its
    code's constants (see :mod:`.sealing`: no globals, no builtins, no cell to rewrite)."""
    freeze, thaw = _FREEZE.get(kind, (tuple, list))
    tools = (
        sys.audit,
        RESOLVED_EVENT,
        Exception,
        _socket.inet_pton,
        (_socket.AF_INET, _socket.AF_INET6),
        str,
        type,
        (OSError, ValueError),
        freeze,
        thaw,
    )
    wrapper = sealed(_wrapper, tools=tools, original=original, kind=kind)
    wrapper.__name__ = kind
    return wrapper


def _wrapper(host: Any, *args: Any, **kwargs: Any) -> Any:
    # Sealed per resolver (_resolver_wrapper): the three constants below are replaced by the
    # wrapper's helpers, its resolver and its name. Nothing it uses can change: a helper of the
    # function's would edit the answer between the resolver and the event that hands it to the
    # hook, and the resolver is read once (the one that answered is the one reported).
    tools: Any = "\x00sealed:tools"
    resolver: Any = "\x00sealed:original"
    kind: Any = "\x00sealed:kind"
    audit, event, failure, pton, families, text, type_of, not_ip, freeze, thaw = tools
    literal = False
    if type_of(host) is text:
        # An IP literal as given: the hook remembers nothing for it (remember() drops
        # literals), so no event. Skipping one is never a wider allow: a connect to an
        # address no remembered name leads to is decided by its IP rules alone.
        for family in families:
            try:
                pton(family, host)
            except not_ip:
                continue
            literal = True
            break
    if literal:
        return resolver(host, *args, **kwargs)
    # The answer made immutable in the very expression that calls the resolver: no name of
    # this frame ever holds the resolver's own list. Another thread can read this frame's
    # locals with no audit event (from a frame it took here: an __index__ of an argument
    # runs inside this call), and it edited that list in place while the hook read it
    # (red team 36).
    answer = freeze(resolver(host, *args, **kwargs))
    try:
        audit(event, kind, host, answer, resolver)
    except failure:
        pass  # remembering is best effort; the connect check fails closed
    return thaw(answer)
