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
from collections.abc import Callable

from .categories import UNDECODABLE
from .decoders.network import norm_host, norm_ip

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


def interpose(book: AddressBook) -> None:
    """Wrap the resolver functions so their answers land in ``book`` (idempotent)."""

    def remember(host: Any, addresses: list[str]) -> None:
        # The host exactly as the resolver got it (exact str/bytes only): a hostile object that
        # answers one name to the sandbox and another to the resolver is never remembered.
        name = norm_host(host)
        if name is None or name.startswith(UNDECODABLE) or norm_ip(name) is not None:
            return
        book.add(name, [a for a in (norm_ip(x) for x in addresses) if a])

    def wrap(module: Any, attr: str, extract: Callable[[Any], list[str]]) -> None:
        original = getattr(module, attr, None)
        if original is None or hasattr(original, _MARK):
            return

        def wrapper(host: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(host, *args, **kwargs)
            try:
                remember(host, extract(result))
            except Exception:
                pass  # remembering is best effort; the connect check fails closed
            return result

        setattr(wrapper, _MARK, original)
        wrapper.__name__ = attr
        wrapper.__doc__ = getattr(original, "__doc__", None)
        setattr(module, attr, wrapper)

    def from_addrinfo(result: Any) -> list[str]:
        return [entry[4][0] for entry in result if isinstance(entry[4][0], str)]

    wrap(_socket, "getaddrinfo", from_addrinfo)
    # socket.py copies these names from _socket when it is imported: wrapping _socket is
    # enough if it is not imported yet (importing it here would cost ~2 ms of cold start).
    modules = [_socket]
    if "socket" in sys.modules:
        modules.append(sys.modules["socket"])
    for module in modules:
        wrap(module, "gethostbyname", lambda result: [result])
        wrap(module, "gethostbyname_ex", lambda result: list(result[2]))
