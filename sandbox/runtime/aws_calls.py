"""AWS API calls as audit events: wrap botocore's call path so the hook sees ``service:Operation``.

:func:`interpose` registers a post-import hook on ``botocore.client`` (a small finder, not
wrapt: wrapt 2.x imports asyncio, 50-100 ms of cold start): nothing is imported until the
function imports botocore itself. From then on every API call first raises
``sys.audit("sandbox.aws", service, operation, resource)``, once per resource it names, which
:mod:`sandbox.runtime.decoders.aws` decodes into category ``aws``, action ``call``, target
``service:Operation[:resource]``. In enforce the hook raises there, before any request is signed
or sent, so a blocked call never leaves the process. (botocore may retry a ``PermissionError``;
each retry is blocked again.)

Decided on values that cannot change afterwards: the call's parameters are first copied
(:func:`snapshot`: every plain ``dict``/``list``/``tuple`` container, bounded and linear in
size; strings and numbers are immutable; anything else, such as a file object ``Body``, is
kept by reference), the events are raised for the copy, and botocore sends *the copy*. Nothing
that changes the caller's dict afterwards (another thread, a later audit hook) reaches the
request; a change to the copy's resources while the events are raised makes the call fail.

Which parameters name a resource (:func:`resource_members`) is read from botocore's model of
the operation's input, once per ``(service, operation)``: top-level string members named in
:data:`RESOURCE_MEMBERS` (``Bucket``, ``TableName``, ``QueueUrl``, ``FunctionName``,
``SecretId``, ``KeyId``...), or in :data:`SERVICE_MEMBERS` for that service (SSM's ``Name``),
or whose name ends in ``Arn``/``ARN``; S3's ``CopySource`` (its source bucket); DynamoDB's
``RequestItems`` and ``TransactItems`` (every table). Values are read only from exact built-in
types; anything else (a ``str`` subclass, a mapping that is not a ``dict``) is the resource
:data:`UNDECODABLE`, which no profile allows. See :func:`resources` for the normal forms.

Native code and raw HTTP to AWS endpoints bypass this layer; the network rules still see them,
and code that already runs in the process can call the unwrapped method (:func:`original`) or
register botocore event handlers that rewrite parameters after the decision.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from .errors import PermissionViolation
from .values import fs_encodable as _fs_encodable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start: ~4 ms)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "RESOURCE_MEMBERS",
    "SERVICE_MEMBERS",
    "UNDECODABLE",
    "call_resources",
    "installed",
    "interpose",
    "original",
    "resource_members",
    "resources",
    "snapshot",
]

_EVENT = "sandbox.aws"
_MARK = "_sandbox_aws"
_TARGET = "botocore.client"
_state: dict[str, Any] = {"registered": False, "original": None}

UNDECODABLE = "<undecodable>"
"""The resource of a value that cannot be read safely: no profile rule may allow it."""

RESOURCE_MEMBERS = frozenset(
    {
        "Bucket",
        "TableName",
        "QueueUrl",
        "QueueName",
        "FunctionName",
        "SecretId",
        "KeyId",
        "StreamName",
        "DeliveryStreamName",
        "LogGroupName",
        "logGroupName",
        "logGroupIdentifier",
        "EventBusName",
    }
)
"""Top-level string members that name a resource in any service (exact member names)."""

SERVICE_MEMBERS: dict[str, frozenset[str]] = {
    "ssm": frozenset({"Name", "Names"}),  # parameter names (GetParameter, GetParameters)
}
"""Members that name a resource only in one service (strings, or lists of strings)."""

# Captured once: code under the sandbox can rebind builtins and module globals at any time.
_audit_event = sys.audit
_type = type
_str = str
_dict = dict
_list = list
_tuple: type[tuple[Any, ...]] = tuple
_set = set
_Exception = Exception
_dict_items = dict.items
_endswith = str.endswith
_startswith = str.startswith
_find = str.find
_rstrip = str.rstrip
_rsplit = str.rsplit
_split = str.split
_encode = str.encode
_decode = bytes.decode
_bytes = bytes
_bytearray = bytearray
_append = bytearray.append
_id = id
_len = len
_sorted = sorted
_HEX = {c: i for i, c in enumerate(b"0123456789abcdef")}
_HEX.update({c: i + 10 for i, c in enumerate(b"ABCDEF")})
_SNAPSHOT_DEPTH = 100  # deeper containers are kept by reference (no resource sits that deep)
_MEMBERS_LIMIT = 1024  # (service, operation) pairs cached; the cache starts over when full
_MEMBERS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}


# --------------------------------------------------------------------------- snapshot


def snapshot(value: Any) -> Any:
    """A copy of ``value`` whose containers nobody else holds.

    Exact ``dict``, ``list`` and ``tuple`` containers are copied (shared and cyclic ones once,
    so the work is linear in the input); every other value, immutable built-ins and file
    objects alike, is the same object. Containers deeper than 100 levels are kept as they are.

    Examples
    --------
    >>> params = {"Bucket": "b", "Tags": [{"Key": "k"}]}
    >>> copy = snapshot(params)
    >>> copy == params, copy is params, copy["Tags"][0] is params["Tags"][0]
    (True, False, False)
    """
    return _copy(value, {}, 0)


def _copy(value: Any, memo: dict[int, tuple[Any, Any]], depth: int) -> Any:
    kind: Any = _type(value)
    if kind is not _dict and kind is not _list and kind is not _tuple:
        return value
    if depth >= _SNAPSHOT_DEPTH:
        return value
    done = memo.get(_id(value))
    if done is not None:
        return done[1]
    depth += 1
    # The memo holds each original too, so no id can be reused while the copy is made.
    if kind is _dict:
        new_dict: dict[Any, Any] = {}
        memo[_id(value)] = (value, new_dict)
        for key, item in _dict_items(value):
            new_dict[key] = _copy(item, memo, depth)
        return new_dict
    new_list: list[Any] = []
    memo[_id(value)] = (value, new_list)
    for item in value:  # iterating an exact list or tuple runs no code of the caller's
        new_list.append(_copy(item, memo, depth))
    if kind is _tuple:
        # A tuple holding itself cannot be rebuilt; its copy holds the list instead (botocore
        # takes lists and tuples alike).
        frozen = (*new_list,)
        memo[_id(value)] = (value, frozen)
        return frozen
    return new_list


# --------------------------------------------------------------------------- resource members


def _classify(service: str, name: str, type_name: str | None, item_type: str | None) -> str | None:
    """How a top-level member names a resource (``None``: it does not)."""
    if service == "s3" and name == "CopySource":
        return "copy"
    if service == "dynamodb" and name == "RequestItems":
        return "tables"
    if service == "dynamodb" and name == "TransactItems":
        return "transact"
    named = (
        name in RESOURCE_MEMBERS
        or name in SERVICE_MEMBERS.get(service, ())
        or _endswith(name, ("Arn", "ARN"))
        or name == "arn"
    )
    if not named:
        return None
    if type_name == "string" or type_name is None:
        return "name"
    if type_name == "list" and item_type == "string" and name in SERVICE_MEMBERS.get(service, ()):
        return "names"
    return None


def resource_members(service_model: Any, operation: str) -> tuple[tuple[str, str], ...]:
    """The ``(member, kind)`` pairs of an operation's input that name resources (cached).

    ``kind`` is ``name`` (a string), ``names`` (a list of strings), ``copy`` (S3
    ``CopySource``), ``tables`` / ``transact`` (DynamoDB ``RequestItems`` / ``TransactItems``).
    Empty when the model has no such operation or input.

    Examples
    --------
    >>> import botocore.session  # doctest: +SKIP
    >>> model = botocore.session.get_session().get_service_model("s3")  # doctest: +SKIP
    >>> resource_members(model, "CopyObject")  # doctest: +SKIP
    (('Bucket', 'name'), ('CopySource', 'copy'))
    """
    try:
        service = service_model.service_name
    except _Exception:
        return ()
    if _type(service) is not _str or _type(operation) is not _str:
        return ()
    key = (service, operation)
    cached = _MEMBERS.get(key)
    if cached is not None:
        return cached
    found: tuple[tuple[str, str], ...] = ()
    try:
        shape = service_model.operation_model(operation).input_shape
        members = shape.members if shape is not None else {}
        for name, member in members.items():
            type_name = member.type_name
            item = member.member.type_name if type_name == "list" else None
            kind = _classify(service, name, type_name, item)
            if kind is not None:
                found += ((name, kind),)
    except _Exception:  # no such operation in this model: nothing names a resource
        found = ()
    if _len(_MEMBERS) >= _MEMBERS_LIMIT:
        _MEMBERS.clear()
    _MEMBERS[key] = found
    return found


# --------------------------------------------------------------------------- normal forms


def _last(value: str, sep: str) -> str:
    return _rsplit(_rstrip(value, sep), sep, 1)[-1]


def _lambda_name(value: str) -> str:
    # "name", "name:alias", "123456789012:function:name", "arn:aws:lambda:r:a:function:name[:q]"
    at = _find(value, ":function:")
    if at >= 0:
        value = value[at + 10 :]
    return _split(value, ":", 1)[0]


def _unquote(text: str) -> str:
    if not _fs_encodable(text):
        return UNDECODABLE  # (a surrogate only a registered error handler could encode)
    raw = _encode(text, "utf-8", "surrogateescape")
    out = _bytearray()
    i, n = 0, _len(raw)
    while i < n:
        c = raw[i]
        if c == 37 and i + 2 < n and raw[i + 1] in _HEX and raw[i + 2] in _HEX:  # %HH
            c = _HEX[raw[i + 1]] * 16 + _HEX[raw[i + 2]]
            i += 3
        else:
            i += 1
        _append(out, c)
    return _decode(_bytes(out), "utf-8", "surrogateescape")


def _copy_source_bucket(value: Any) -> str | None:
    """The source bucket of S3 ``CopySource``: ``"bucket/key[?versionId=v]"`` or a dict."""
    if _type(value) is _dict:
        fields = _fields(value)
        bucket = fields.get("Bucket") if fields is not None else None
        if _type(bucket) is not _str:
            return UNDECODABLE
        value = bucket + "/"  # botocore sends "Bucket/quoted-Key": the bucket is not quoted
    elif _type(value) is not _str:
        return UNDECODABLE
    text = _unquote(value)  # S3 decodes the header before reading the bucket out of it
    if _startswith(text, "/"):
        text = text[1:]
    # An access point or outpost ARN runs up to "/object/"; a bucket name up to the first "/".
    end = _find(text, "/object/") if _startswith(text, "arn:") else _find(text, "/")
    question = _find(text, "?")
    if end < 0 or 0 <= question < end:
        end = question
    bucket = text if end < 0 else text[:end]
    return bucket or None


def _fields(mapping: dict[Any, Any]) -> dict[str, Any] | None:
    """The members of an exact dict by name; ``None`` when a key is not an exact ``str``."""
    out: dict[str, Any] = {}
    for key, value in _dict_items(mapping):
        if _type(key) is not _str:
            return None  # botocore would read it as a member: it cannot be decided on
        out[key] = value
    return out


def _names(service: str, name: str, kind: str, value: Any) -> tuple[str | None, ...]:
    """The resources one member names, in normal form."""
    if kind == "copy":
        return (_copy_source_bucket(value),)
    if kind == "tables":
        if _type(value) is not _dict:
            return (UNDECODABLE,)
        tables = _fields(value)
        if tables is None:
            return (UNDECODABLE,)
        return (*_sorted(tables),)
    if kind == "transact":
        if _type(value) is not _list and _type(value) is not _tuple:
            return (UNDECODABLE,)
        found: set[str] = _set()
        for item in value:
            operations = _fields(item) if _type(item) is _dict else None
            if operations is None:
                return (UNDECODABLE,)
            for operation in operations.values():
                fields = _fields(operation) if _type(operation) is _dict else None
                table = fields.get("TableName") if fields is not None else None
                if _type(table) is not _str:
                    return (UNDECODABLE,)
                found.add(table)
        return (*_sorted(found),)
    if kind == "names":
        if _type(value) is not _list and _type(value) is not _tuple:
            return (UNDECODABLE,)
        out: tuple[str | None, ...] = ()
        for item in value:
            out += _names(service, name, "name", item)
        return out
    if _type(value) is not _str:
        return (UNDECODABLE,)
    if not value:
        return (None,)  # AWS rejects an empty name: nothing is touched
    if service == "sqs" and name == "QueueUrl":
        value = _last(value, "/")
    elif service == "sns" and _endswith(name, ("Arn", "ARN")):
        value = _last(value, ":")
    elif service == "lambda" and name == "FunctionName":
        value = _lambda_name(value)
    return (value or None,)


def call_resources(
    service: str, operation: str, params: Any, service_model: Any = None
) -> tuple[str | None, ...]:
    """The resources one API call names, one audit event each (``(None,)`` when none).

    Parameters
    ----------
    service, operation:
        botocore's service name and the operation (``s3``, ``CopyObject``).
    params:
        The call's parameters (a :func:`snapshot`); anything but an exact ``dict`` is
        :data:`UNDECODABLE`.
    service_model:
        The client's ``meta.service_model``; without it (or for an undecodable operation) the
        member names present in ``params`` are classified by name alone.

    Examples
    --------
    >>> call_resources("s3", "CopyObject", {"Bucket": "dst", "CopySource": "src/k?versionId=1"})
    ('dst', 'src')
    """
    if _type(params) is not _dict:
        return (UNDECODABLE,)
    fields = _fields(params)
    if fields is None:
        return (UNDECODABLE,)
    if service_model is not None and _type(operation) is _str and operation != UNDECODABLE:
        members = resource_members(service_model, operation)
    else:
        members = ()
        for name, value in fields.items():
            kind = _classify(service, name, None, None)
            listed = _type(value) is _list or _type(value) is _tuple
            if kind == "name" and listed:
                kind = "names" if name in SERVICE_MEMBERS.get(service, ()) else None
            if kind is not None:
                members += ((name, kind),)
    found: list[str | None] = []
    for name, kind in members:
        if name not in fields or fields[name] is None:
            continue
        for resource in _names(service, name, kind, fields[name]):
            if resource is not None and resource not in found:
                found.append(resource)
    return (*found,) if found else (None,)


def resources(service: str, params: Mapping[str, Any]) -> tuple[str | None, ...]:
    """The resources an API call names, by parameter names alone (no model at hand).

    Normal forms: the SQS queue name from ``QueueUrl``, the SNS name from ``TopicArn`` (and
    other SNS ARNs: the last ``:`` field), the Lambda function name from ``FunctionName``
    (name, ``name:alias``, partial or full ARN), the S3 source bucket from ``CopySource``,
    every DynamoDB table of a batch or transaction (sorted); any other resource as given (a
    name, or a full ARN).

    Parameters
    ----------
    service:
        botocore's service name (``s3``, ``dynamodb``...).
    params:
        The call's API parameters.

    Returns
    -------
    tuple of (str or None)
        At least one entry; ``(None,)`` when none is named.

    Examples
    --------
    >>> resources("s3", {"Bucket": "b", "Key": "k"})
    ('b',)
    >>> resources("sqs", {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/1/jobs"})
    ('jobs',)
    >>> resources("dynamodb", {"RequestItems": {"b": [], "a": []}})
    ('a', 'b')
    >>> resources("sts", {})
    (None,)
    """
    return call_resources(service, "", params)


def _audit(instance: Any, operation: Any, params: Any) -> Any:
    """Raise the events for a snapshot of ``params``; return the snapshot botocore must send."""
    try:
        model = instance.meta.service_model
        service = model.service_name
    except AttributeError:  # not a botocore client as we know it: audit what we can
        model, service = None, "unknown"
    if _type(service) is not _str:
        service = UNDECODABLE
    name = operation if _type(operation) is _str else UNDECODABLE
    frozen = snapshot(params)
    found = call_resources(service, name, frozen, model)
    for resource in found:
        _audit_event(_EVENT, service, name, resource)
    if call_resources(service, name, frozen, model) != found:
        # Only code running inside an audit hook can reach the copy: refuse the call outright.
        raise PermissionViolation("aws", "call", f"{service}:{name}:<changed while audited>")
    return frozen


def _patch(module: Any) -> None:
    base = module.BaseClient
    current = base.__dict__.get("_make_api_call")
    if current is None or getattr(current, _MARK, False):
        return  # already ours (interpose twice, or the module reloaded under our wrapper)

    # A plain function, not wrapt: wrapt 2.x imports asyncio (50-100 ms), which alone would
    # blow the sandbox's cold-start budget (docs/BENCHMARKS.md) for every function using boto3.
    def _make_api_call(
        self: Any, operation_name: Any, api_params: Any, *args: Any, **kwargs: Any
    ) -> Any:
        frozen = _audit(self, operation_name, api_params)
        return current(self, operation_name, frozen, *args, **kwargs)

    _make_api_call.__name__ = current.__name__
    _make_api_call.__qualname__ = current.__qualname__
    _make_api_call.__doc__ = current.__doc__
    _make_api_call.__wrapped__ = current  # type: ignore[attr-defined]
    setattr(_make_api_call, _MARK, True)
    _state["original"] = current
    base._make_api_call = _make_api_call


class _PatchingLoader:
    """Runs the real loader, then patches the module (a post-import hook, no dependency)."""

    def __init__(self, loader: Any):
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        _patch(module)


class _PostImportFinder:
    """On ``import botocore.client``: find it with the other finders, patch it once loaded."""

    _busy = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != _TARGET or self._busy:
            return None
        self._busy = True
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _PatchingLoader(spec.loader)  # type: ignore[assignment]
                    return spec
            return None
        finally:
            self._busy = False

    def invalidate_caches(self) -> None:
        return None


def interpose() -> None:
    """Wrap ``botocore.client.BaseClient._make_api_call`` once botocore is imported (idempotent).

    If botocore is already imported the wrap happens now; otherwise at its import, through a
    post-import finder on ``sys.meta_path`` (nothing is imported here). Calling this again does
    nothing: every API call raises exactly one event per resource.
    """
    if _state["registered"]:
        return
    _state["registered"] = True
    module = sys.modules.get(_TARGET)
    if module is not None:
        _patch(module)
        return
    sys.meta_path.insert(0, _PostImportFinder())


def installed() -> bool:
    """Whether botocore's call path is wrapped in this process."""
    module = sys.modules.get("botocore.client")
    if module is None:
        return False
    return bool(getattr(module.BaseClient.__dict__.get("_make_api_call"), _MARK, False))


def original() -> Any:
    """The unwrapped ``_make_api_call`` (``None`` until botocore has been imported and wrapped)."""
    return _state["original"]
