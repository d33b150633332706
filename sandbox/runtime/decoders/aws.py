"""AWS API calls: the ``sandbox.aws`` event raised by the botocore interposer (``aws_calls.py``)."""

from __future__ import annotations

from ..values import as_text, undecodable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Access = tuple[str, str, str, Any]

_len = len
_str_lower = str.lower
_str_startswith = str.startswith


def _aws_call(args: tuple[Any, ...]) -> list[Access] | None:
    # (service, operation, resource): resource None when the call names none.
    service, operation = as_text(args[0]), as_text(args[1])
    if service is None or operation is None:
        return [("aws", "call", undecodable(args[0] if service is None else args[1]), None)]
    raw = args[2] if _len(args) > 2 else None
    resource = as_text(raw) if raw is not None else None
    if raw is not None and resource is None:
        return [("aws", "call", undecodable(raw), None)]
    target = _str_lower(service) + ":" + operation + (":" + resource if resource else "")
    return [("aws", "call", target, None)]


DECODERS = {"sandbox.aws": _aws_call}
