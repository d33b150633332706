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

Which parameters name a resource is read from the model botocore sends the call with
(``client._service_model`` is botocore's property for ``client.meta.service_model``): the
client's ``meta``, exactly botocore's ``ClientMeta``, and its service model, exactly botocore's
``ServiceModel``, both read from the objects' own ``__dict__`` (no property, ``__getattr__`` or
key comparison of anyone's runs), and the operation's model, exactly botocore's
``OperationModel``. Anything else -- a ``meta`` or a model of the function's, a subclass of
botocore's -- makes the service :data:`UNDECODABLE`. Of the parameters the call passes, a
resource is named by a top-level string member named in :data:`RESOURCE_MEMBERS` (``Bucket``,
``TableName``, ``QueueUrl``, ``FunctionName``, ``SecretId``, ``KeyId``...), or in
:data:`SERVICE_MEMBERS` for that service (SSM's ``Name``), or whose name ends in
``Arn``/``ARN``; by S3's ``CopySource`` (its source bucket); by DynamoDB's ``RequestItems`` and
``TransactItems`` (every table). Values are read only from exact built-in types; anything else
(a ``str`` subclass, a mapping that is not a ``dict``, a key that is not an exact ``str``) is
the resource :data:`UNDECODABLE`, which no profile allows. See :func:`resources` for the
normal forms.

Nothing the function can change decides. Every function on the interposer's path takes what it
calls -- the builtins, ``sys.audit``, the helpers, the tables -- as parameter defaults bound
when this module is imported (at install, before the function's code runs), and its body
looks up no global and no builtin (``tests/unit/test_aws_resources.py`` reads the bytecode):
rebinding this module's globals or the builtins changes nothing. The wrapper installed on
``BaseClient`` holds the decision function, botocore's method and botocore's classes the same
way. Defaults are a tuple, and the hook refuses to assign the ``__defaults__`` or ``__code__``
of these functions (they are the sandbox's own code); there is no closure (a cell can be
rewritten with no audit event) and no cache (a dict anyone can reach can be written): which
members name a resource is read from the operation's model at each call, for the few
parameters the call passes.

What remains (the least-privilege role from ``sandbox iam suggest`` is the boundary that
holds): code that calls around the wrapper -- botocore's unwrapped method (``__wrapped__``,
:func:`original`, the wrapper's defaults, ``gc``; or the wrapper called with extra arguments
in place of its defaults), ``BaseClient._make_api_call`` rebound, botocore imported with the
post-import finder taken out of ``sys.meta_path`` -- or that sends raw HTTP with the
function's credentials; botocore event handlers that rewrite the parameters after the
decision; and botocore's own classes and objects, the function's to edit like any library's:
a model it built or changed (a member renamed, a cached answer replaced, a class's method
rebound, another model put in the client's ``meta`` by another thread between the decision
and the send) is the model botocore sends with, and the decision reads it as it is.
"""

from __future__ import annotations

import sys
from collections import OrderedDict

from .errors import PermissionViolation

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start: ~4 ms)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import CodeType
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
_state: dict[str, Any] = {"registered": False}  # (interpose's own idempotence, not a decision)

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

# The interposer's own copy of SERVICE_MEMBERS: (service, member) pairs, immutable.
_SERVICE_MEMBERS = frozenset(
    (service, name) for service, names in SERVICE_MEMBERS.items() for name in names
)
# Each byte's value as a hex digit, 255 when it is not one (an immutable table for _unquote).
_hex = bytearray(b"\xff" * 256)
_hex[48:58] = range(10)
_hex[65:71] = range(10, 16)
_hex[97:103] = range(10, 16)
_HEX = bytes(_hex)
del _hex
_SNAPSHOT_DEPTH = 100  # deeper containers are kept by reference (no resource sits that deep)

# Every function from here to interpose() runs on the interposer's path: what it calls is a
# parameter default (``_type=type``...), bound at import; its body reads no global and no
# builtin. Callers never pass those parameters.


# --------------------------------------------------------------------------- snapshot


def _copy(
    value: Any,
    memo: dict[int, tuple[Any, Any]],
    depth: int,
    copy: Any,
    _type: Any = type,
    _dict: Any = dict,
    _list: Any = list,
    _tuple: Any = tuple,
    _str: Any = str,
    _id: Any = id,
    _limit: int = _SNAPSHOT_DEPTH,
) -> Any:
    # (``copy`` is this function itself: recursion without a global lookup)
    kind = _type(value)
    if kind is not _dict and kind is not _list and kind is not _tuple:
        return value
    if depth >= _limit:
        return value
    done = memo.get(_id(value))
    if done is not None:
        return done[1]
    depth += 1
    # The memo holds each original too, so no id can be reused while the copy is made.
    if kind is _dict:
        new_dict: dict[Any, Any] = {}
        memo[_id(value)] = (value, new_dict)
        for key, item in value.items():
            if _type(key) is not _str:
                # Storing another key would run its own hash and comparison (code of the
                # caller's, here): the dict is kept as it is, and read as undecodable.
                memo[_id(value)] = (value, value)
                return value
            kind = _type(item)
            if kind is _dict or kind is _list or kind is _tuple:
                item = copy(item, memo, depth, copy)
            new_dict[key] = item
        return new_dict
    new_list: list[Any] = []
    memo[_id(value)] = (value, new_list)
    for item in value:  # iterating an exact list or tuple runs no code of the caller's
        kind = _type(item)
        if kind is _dict or kind is _list or kind is _tuple:
            item = copy(item, memo, depth, copy)
        new_list.append(item)
    if kind is _tuple:
        # A tuple holding itself cannot be rebuilt; its copy holds the list instead (botocore
        # takes lists and tuples alike).
        frozen = (*new_list,)
        memo[_id(value)] = (value, frozen)
        return frozen
    return new_list


def _snapshot(value: Any, _copy: Any = _copy) -> Any:
    return _copy(value, {}, 0, _copy)


def snapshot(value: Any) -> Any:
    """A copy of ``value`` whose containers nobody else holds.

    Exact ``dict``, ``list`` and ``tuple`` containers are copied (shared and cyclic ones once,
    so the work is linear in the input); every other value, immutable built-ins and file
    objects alike, is the same object. Containers deeper than 100 levels, and dicts with a
    key that is not an exact ``str``, are kept as they are.

    Examples
    --------
    >>> params = {"Bucket": "b", "Tags": [{"Key": "k"}]}
    >>> copy = snapshot(params)
    >>> copy == params, copy is params, copy["Tags"][0] is params["Tags"][0]
    (True, False, False)
    """
    return _snapshot(value)


# --------------------------------------------------------------------------- resource members


def _classify(
    service: str,
    name: str,
    type_name: str | None,
    item_type: str | None,
    _named: frozenset[str] = RESOURCE_MEMBERS,
    _service: frozenset[tuple[str, str]] = _SERVICE_MEMBERS,
    _special: frozenset[str] = frozenset({"CopySource", "RequestItems", "TransactItems"}),
) -> str | None:
    """How a top-level member names a resource (``None``: it does not)."""
    if name in _special:
        if service == "s3" and name == "CopySource":
            return "copy"
        if service == "dynamodb" and name == "RequestItems":
            return "tables"
        if service == "dynamodb" and name == "TransactItems":
            return "transact"
    own = (service, name) in _service
    if not (name in _named or name.endswith(("Arn", "ARN")) or name == "arn" or own):
        return None
    if type_name == "string" or type_name is None:
        return "name"
    if type_name == "list" and item_type == "string" and own:
        return "names"
    return None


# Every name _classify may answer for, but the ``*Arn``/``*ARN`` ones.
_CANDIDATES = RESOURCE_MEMBERS | {"CopySource", "RequestItems", "TransactItems", "arn"}
_CANDIDATES |= {name for _, name in _SERVICE_MEMBERS}


def _kinds_of(
    service: str,
    operation_model: Any,
    fields: dict[str, Any],
    _type: Any = type,
    _str: Any = str,
    _dict: Any = dict,
    _ordered: Any = OrderedDict,
    _get: Any = dict.get,
    _len: Any = len,
    _sorted: Any = sorted,
    _classify: Any = _classify,
    _candidates: frozenset[str] = _CANDIDATES,
    _named: frozenset[str] = RESOURCE_MEMBERS,
) -> tuple[tuple[str, str], ...] | None:
    """The ``(member, kind)`` pairs of the parameters ``fields`` that name resources, by member
    name; ``None`` when the model's members cannot be read as botocore's."""
    shape = operation_model.input_shape
    if shape is None:
        return ()
    members = shape.members
    if _type(members) is not _ordered and _type(members) is not _dict:
        return None
    found: tuple[tuple[str, str], ...] = ()
    for name in fields:  # (the call passes a few; the model has up to ~100 members)
        if not (name in _candidates or name.endswith(("Arn", "ARN"))):
            continue  # (what _classify answers for most names, without the call)
        member = _get(members, name)
        if member is None:
            continue  # not a member: botocore refuses it, or sends nothing of it
        type_name = member.type_name
        if _type(type_name) is not _str:
            return None
        if type_name == "string" and name in _named:  # (the usual one, without the call)
            found += ((name, "name"),)
            continue
        item = None
        if type_name == "list":
            item = member.member.type_name
            if _type(item) is not _str:
                return None
        kind = _classify(service, name, type_name, item)
        if kind is not None:
            found += ((name, kind),)
    if _len(found) > 1:
        # By member name, whatever order the call put them in (CopyObject: Bucket, then
        # CopySource); the names are distinct exact strs: only built-in comparisons run.
        found = (*_sorted(found),)
    return found


def _by_name(
    service: str,
    fields: dict[str, Any],
    _type: Any = type,
    _list: Any = list,
    _tuple: Any = tuple,
    _service: frozenset[tuple[str, str]] = _SERVICE_MEMBERS,
    _classify: Any = _classify,
) -> tuple[tuple[str, str], ...]:
    """The ``(member, kind)`` pairs of ``fields`` by their names alone (no model at hand)."""
    found: tuple[tuple[str, str], ...] = ()
    for name, value in fields.items():
        kind = _classify(service, name, None, None)
        if kind == "name" and (_type(value) is _list or _type(value) is _tuple):
            kind = "names" if (service, name) in _service else None
        if kind is not None:
            found += ((name, kind),)
    return found


def resource_members(service_model: Any, operation: str) -> tuple[tuple[str, str], ...]:
    """The ``(member, kind)`` pairs of an operation's input that name resources.

    ``kind`` is ``name`` (a string), ``names`` (a list of strings), ``copy`` (S3
    ``CopySource``), ``tables`` / ``transact`` (DynamoDB ``RequestItems`` / ``TransactItems``).
    Empty when the model has no such operation or input. (A reading aid: the interposer
    classifies only the members a call passes, at each call.)

    Examples
    --------
    >>> import botocore.session  # doctest: +SKIP
    >>> model = botocore.session.get_session().get_service_model("s3")  # doctest: +SKIP
    >>> resource_members(model, "CopyObject")  # doctest: +SKIP
    (('Bucket', 'name'), ('CopySource', 'copy'))
    """
    try:
        service = service_model.service_name
        shape = service_model.operation_model(operation).input_shape
        members = dict(shape.members) if shape is not None else {}
    except Exception:  # no such operation in this model: nothing names a resource
        return ()
    if type(service) is not str:
        return ()
    found: tuple[tuple[str, str], ...] = ()
    for name, member in members.items():
        if type(name) is not str:
            continue
        type_name = member.type_name
        item = member.member.type_name if type_name == "list" else None
        kind = _classify(service, name, type_name, item)
        if kind is not None:
            found += ((name, kind),)
    return found


# --------------------------------------------------------------------------- normal forms


def _last(value: str, sep: str) -> str:
    return value.rstrip(sep).rsplit(sep, 1)[-1]


def _lambda_name(value: str, _undecodable: str = UNDECODABLE) -> str:
    # "name", "name:alias", "123456789012:function:name", "arn:aws:lambda:r:a:function:name[:q]"
    at = value.find(":function:")
    if at >= 0:
        if value.find(":function:", at + 1) >= 0:
            return _undecodable  # (red team 30: "...:function:allowed:function:victim")
        value = value[at + 10 :]
    name, colon, qualifier = value.partition(":")
    if colon and (not qualifier or ":" in qualifier):
        return _undecodable  # one qualifier at most: anything more is not a name Lambda reads
    return name


def _unquote(
    text: str,
    _ord: Any = ord,
    _bytearray: Any = bytearray,
    _bytes: Any = bytes,
    _len: Any = len,
    _hex: bytes = _HEX,
    _undecodable: str = UNDECODABLE,
) -> str:
    if "%" not in text:
        return text  # (nothing to decode: the usual "bucket/key")
    if not text.isascii():
        # A surrogate outside U+DC80..U+DCFF sends the encoder to the codec error-handler
        # registry, where the function can register a handler of its own (no audit event).
        for char in text:
            point = _ord(char)
            if 0xD800 <= point <= 0xDFFF and not 0xDC80 <= point <= 0xDCFF:
                return _undecodable
    raw = text.encode("utf-8", "surrogateescape")
    out = _bytearray()
    i, n = 0, _len(raw)
    while i < n:
        c = raw[i]
        if c == 37 and i + 2 < n and _hex[raw[i + 1]] < 16 and _hex[raw[i + 2]] < 16:  # %HH
            c = _hex[raw[i + 1]] * 16 + _hex[raw[i + 2]]
            i += 3
        else:
            i += 1
        out.append(c)
    result: str = _bytes(out).decode("utf-8", "surrogateescape")
    return result


def _fields(mapping: dict[Any, Any], _type: Any = type, _str: Any = str) -> dict[str, Any] | None:
    """The members of an exact dict by name; ``None`` when a key is not an exact ``str``."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if _type(key) is not _str:
            return None  # botocore would read it as a member: it cannot be decided on
        out[key] = value
    return out


def _copy_source_bucket(
    value: Any,
    _type: Any = type,
    _dict: Any = dict,
    _str: Any = str,
    _fields: Any = _fields,
    _unquote: Any = _unquote,
    _undecodable: str = UNDECODABLE,
) -> str | None:
    """The source bucket of S3 ``CopySource``: ``"bucket/key[?versionId=v]"`` or a dict."""
    if _type(value) is _dict:
        fields = _fields(value)
        bucket: Any = fields.get("Bucket") if fields is not None else None
        if _type(bucket) is not _str:
            return _undecodable
        value = bucket + "/"  # botocore sends "Bucket/quoted-Key": the bucket is not quoted
    elif _type(value) is not _str:
        return _undecodable
    text = _unquote(value)  # S3 decodes the header before reading the bucket out of it
    if text.startswith("/"):
        text = text[1:]
    # An access point or outpost ARN runs up to "/object/"; a bucket name up to the first "/".
    end = text.find("/object/") if text.startswith("arn:") else text.find("/")
    question = text.find("?")
    if end < 0 or 0 <= question < end:
        end = question
    bucket = text if end < 0 else text[:end]
    # No bucket where one must be ("///victim/key", "//x/victim/key", {"Bucket": "/"}): which
    # bucket the service reads then is not a name this can tell (red team 30), so none allows it.
    return bucket or _undecodable


def _name(
    service: str,
    name: str,
    value: Any,
    _type: Any = type,
    _str: Any = str,
    _last: Any = _last,
    _lambda_name: Any = _lambda_name,
    _undecodable: str = UNDECODABLE,
) -> str | None:
    """The resource one string member names, in normal form."""
    if _type(value) is not _str:
        return _undecodable
    if not value:
        return None  # AWS rejects an empty name: nothing is touched
    if service == "sqs" and name == "QueueUrl":
        value = _last(value, "/")
    elif service == "sns" and name.endswith(("Arn", "ARN")):
        value = _last(value, ":")
    elif service == "lambda" and name == "FunctionName":
        value = _lambda_name(value)
    return value or None


def _names(
    service: str,
    name: str,
    kind: str,
    value: Any,
    _type: Any = type,
    _str: Any = str,
    _dict: Any = dict,
    _list: Any = list,
    _tuple: Any = tuple,
    _set: Any = set,
    _sorted: Any = sorted,
    _fields: Any = _fields,
    _copy_source_bucket: Any = _copy_source_bucket,
    _name: Any = _name,
    _undecodable: str = UNDECODABLE,
) -> tuple[str | None, ...]:
    """The resources one member names, in normal form."""
    if kind == "copy":
        return (_copy_source_bucket(value),)
    if kind == "tables":
        if _type(value) is not _dict:
            return (_undecodable,)
        tables = _fields(value)
        if tables is None:
            return (_undecodable,)
        return (*_sorted(tables),)
    if kind == "transact":
        if _type(value) is not _list and _type(value) is not _tuple:
            return (_undecodable,)
        found: set[str] = _set()
        for item in value:
            operations = _fields(item) if _type(item) is _dict else None
            if operations is None:
                return (_undecodable,)
            for operation in operations.values():
                fields = _fields(operation) if _type(operation) is _dict else None
                table: Any = fields.get("TableName") if fields is not None else None
                if _type(table) is not _str:
                    return (_undecodable,)
                found.add(table)
        return (*_sorted(found),)
    if kind == "names":
        if _type(value) is not _list and _type(value) is not _tuple:
            return (_undecodable,)
        out: tuple[str | None, ...] = ()
        for item in value:
            out += (_name(service, name, item),)
        return out
    return (_name(service, name, value),)


def _resources_for(
    service: str,
    fields: dict[str, Any],
    members: tuple[tuple[str, str], ...],
    _name: Any = _name,
    _names: Any = _names,
) -> tuple[str | None, ...]:
    """The distinct resources the members ``members`` of ``fields`` name (``(None,)``: none)."""
    found: list[str | None] = []
    for name, kind in members:
        value = fields.get(name)
        if value is None:
            continue
        if kind == "name":  # (the usual one: a single string)
            resource = _name(service, name, value)
            if resource is not None and resource not in found:
                found.append(resource)
            continue
        for resource in _names(service, name, kind, value):
            if resource is not None and resource not in found:
                found.append(resource)
    return (*found,) if found else (None,)


def _plan(
    service: str,
    params: Any,
    operation_model: Any,
    by_name: bool,
    copied: bool = False,
    _type: Any = type,
    _dict: Any = dict,
    _fields: Any = _fields,
    _kinds_of: Any = _kinds_of,
    _by_name: Any = _by_name,
) -> tuple[dict[str, Any] | None, tuple[tuple[str, str], ...]]:
    """The call's parameters by name and the ``(member, kind)`` pairs among them that name
    resources: from the operation's model, or by the names alone (``by_name``: the call is
    undecodable anyway, the names are for the report). ``(None, ())``: undecodable.

    ``copied``: ``params`` is a dict :func:`snapshot` has just made (every key an exact
    ``str``, nobody else holds it), read as it is."""
    if _type(params) is not _dict:
        return None, ()
    fields = params if copied else _fields(params)
    if fields is None:
        return None, ()
    if by_name:
        return fields, _by_name(service, fields)
    if operation_model is None:
        return None, ()
    members = _kinds_of(service, operation_model, fields)
    if members is None:
        return None, ()
    return fields, members


def _call_resources(
    service: str,
    params: Any,
    operation_model: Any,
    by_name: bool,
    _plan: Any = _plan,
    _resources_for: Any = _resources_for,
    _undecodable: str = UNDECODABLE,
) -> tuple[str | None, ...]:
    fields, members = _plan(service, params, operation_model, by_name)
    if fields is None:
        return (_undecodable,)
    found: tuple[str | None, ...] = _resources_for(service, fields, members)
    return found


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
        A botocore service model; without it (or for an undecodable operation) the member
        names present in ``params`` are classified by name alone.

    Examples
    --------
    >>> call_resources("s3", "CopyObject", {"Bucket": "dst", "CopySource": "src/k?versionId=1"})
    ('dst', 'src')
    """
    if service_model is None or type(operation) is not str or operation == UNDECODABLE:
        return _call_resources(service, params, None, True)
    try:
        operation_model = service_model.operation_model(operation)
    except Exception:  # no such operation in this model: nothing names a resource
        fields = _fields(params) if type(params) is dict else None
        return (None,) if fields is not None else (UNDECODABLE,)
    return _call_resources(service, params, operation_model, False)


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


# --------------------------------------------------------------------------- the decision


def _service_model_of(
    client: Any,
    botocore: tuple[Any, ...],
    _type: Any = type,
    _str: Any = str,
    _dict: Any = dict,
    _failure: Any = Exception,
    _meta: str = "meta",
    _model: str = "_service_model",
) -> Any:
    """The service model botocore sends ``client``'s calls with (``client._service_model`` is
    ``client.meta.service_model``), or ``None`` when it is not botocore's own.

    Both are read from the objects' own ``__dict__``, through the C getter of the ``__dict__``
    slot of botocore's classes: no property, no ``__getattr__``, no key's own comparison runs.
    The keys are walked (a lookup would compare a planted key with a colliding hash by its own
    ``__eq__``): the interned name itself, as an attribute set the usual way has it, or an
    exact ``str`` equal to it.
    """
    service_type, _, meta_type, client_space, meta_space = botocore
    if meta_type is None or service_type is None or client_space is None or meta_space is None:
        return None
    try:
        space = client_space(client)
    except _failure:  # not a botocore client
        return None
    meta = None
    if _type(space) is _dict:
        for key, value in space.items():
            if key is _meta or (_type(key) is _str and key == _meta):
                meta = value
                break
    if _type(meta) is not meta_type:
        return None
    space = meta_space(meta)
    model = None
    if _type(space) is _dict:
        for key, value in space.items():
            if key is _model or (_type(key) is _str and key == _model):
                model = value
                break
    return model if _type(model) is service_type else None


def _decide(
    client: Any,
    operation: Any,
    params: Any,
    botocore: tuple[Any, ...],
    _type: Any = type,
    _str: Any = str,
    _failure: Any = Exception,
    _model_of: Any = _service_model_of,
    _snapshot: Any = _snapshot,
    _plan: Any = _plan,
    _fields: Any = _fields,
    _resources_for: Any = _resources_for,
    _audit: Any = sys.audit,
    _event: str = _EVENT,
    _undecodable: str = UNDECODABLE,
    _violation: Any = PermissionViolation,
) -> Any:
    """Raise the events for a snapshot of ``params``; return the snapshot botocore must send.

    ``botocore``: botocore's ``ServiceModel``, ``OperationModel`` and ``ClientMeta`` classes and
    the getters of its clients' and metas' ``__dict__`` (see :func:`_botocore_bindings`).
    """
    operation_type = botocore[1]
    model = _model_of(client, botocore)
    service = _undecodable
    if model is not None:
        service = model.service_name
        if _type(service) is not _str:
            service, model = _undecodable, None
    name = operation if _type(operation) is _str else _undecodable
    operation_model = None
    if model is not None and name is operation:
        try:
            operation_model = model.operation_model(operation)
        except _failure:  # no such operation: botocore would not send it either
            operation_model = None
        if _type(operation_model) is not operation_type:
            operation_model = None
    by_name = model is None or name is not operation  # (undecodable anyway: for the report)
    frozen = _snapshot(params)
    fields, members = _plan(service, frozen, operation_model, by_name, frozen is not params)
    found = (_undecodable,)
    if fields is not None:
        names = (*fields,)  # (fields may be the copy itself: what it holds now, apart)
        found = _resources_for(service, fields, members)
    for resource in found:
        _audit(_event, service, name, resource)
    if fields is not None:
        # Only code running inside an audit hook can reach the copy: a change of its names, or
        # of the resources they name, refuses the call outright.
        again = _fields(frozen)
        if again is None or (*again,) != names or _resources_for(service, again, members) != found:
            raise _violation("aws", "call", service + ":" + name + ":<changed while audited>")
    return frozen


def _botocore_bindings(
    client_module: Any,
    model_module: Any,
    _getattr: Any = getattr,
    _isinstance: Any = isinstance,
    _type: Any = type,
) -> tuple[Any, ...]:
    """What :func:`_decide` checks a client against, taken from botocore's modules once, when
    ``botocore.client`` has just been loaded: the exact classes (``None``: missing, and every
    call is undecodable) and the C getters of the ``__dict__`` of clients and metas."""
    found: list[Any] = []
    for module, name in (
        (client_module, "ServiceModel"),
        (model_module, "OperationModel"),
        (client_module, "ClientMeta"),
    ):
        value = _getattr(module, name, None)
        found.append(value if _isinstance(value, _type) else None)
    base: Any = _getattr(client_module, "BaseClient", None)
    for cls in (base, found[2]):
        getter = None
        if _isinstance(cls, _type):
            for klass in cls.__mro__:
                slot = klass.__dict__.get("__dict__")
                if slot is not None:
                    getter = slot.__get__  # (a getset descriptor's: C code)
                    break
        found.append(getter)
    return (*found,)


def _wrapper_for(current: Any, botocore: tuple[Any, ...], decide: Any = _decide) -> Any:
    """botocore's ``_make_api_call`` wrapped: decide on a snapshot, send the snapshot."""

    # A plain function, not wrapt: wrapt 2.x imports asyncio (50-100 ms), which alone would
    # blow the sandbox's cold-start budget (docs/BENCHMARKS.md) for every function using boto3.
    # What it calls are its defaults (no closure: a cell can be rewritten with no event).
    def _make_api_call(
        self: Any,
        operation_name: Any,
        api_params: Any,
        _decide: Any = decide,
        _send: Any = current,
        _botocore: tuple[Any, ...] = botocore,
    ) -> Any:
        return _send(self, operation_name, _decide(self, operation_name, api_params, _botocore))

    return _make_api_call


def _patch(
    module: Any,
    _sys: Any = sys,
    _getattr: Any = getattr,
    _setattr: Any = setattr,
    _mark: str = _MARK,
    _bindings: Any = _botocore_bindings,
    _wrapper_for: Any = _wrapper_for,
) -> None:
    base = _getattr(module, "BaseClient", None)
    current = base.__dict__.get("_make_api_call") if base is not None else None
    if current is None or _getattr(current, _mark, False):
        return  # already ours (interpose twice, or the module reloaded under our wrapper)
    botocore = _bindings(module, _sys.modules.get("botocore.model"))
    wrapper = _wrapper_for(current, botocore)
    wrapper.__name__ = _getattr(current, "__name__", "_make_api_call")
    wrapper.__qualname__ = _getattr(current, "__qualname__", "BaseClient._make_api_call")
    wrapper.__doc__ = _getattr(current, "__doc__", None)
    wrapper.__wrapped__ = current
    _setattr(wrapper, _mark, True)
    base._make_api_call = wrapper


class _PatchingLoader:
    """Runs the real loader, then patches the module (a post-import hook, no dependency)."""

    def __init__(self, loader: Any):
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any, _patch: Any = _patch) -> None:
        self._loader.exec_module(module)
        _patch(module)


class _PostImportFinder:
    """On ``import botocore.client``: find it with the other finders, patch it once loaded."""

    def __init__(self) -> None:
        self._busy = False

    def find_spec(
        self,
        fullname: str,
        path: Any = None,
        target: Any = None,
        _target: str = _TARGET,
        _sys: Any = sys,
        _getattr: Any = getattr,
        _hasattr: Any = hasattr,
        _loader: Any = _PatchingLoader,
    ) -> Any:
        if fullname != _target or self._busy:
            return None
        self._busy = True
        try:
            for finder in _sys.meta_path:
                method = _getattr(finder, "find_spec", None)
                if finder is self or method is None:
                    continue
                spec = method(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and _hasattr(spec.loader, "exec_module"):
                        spec.loader = _loader(spec.loader)
                    return spec
            return None
        finally:
            self._busy = False

    def invalidate_caches(self) -> None:
        return None


# --------------------------------------------------------------------------- public entry points


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
    module = sys.modules.get("botocore.client")
    wrapper = module.BaseClient.__dict__.get("_make_api_call") if module is not None else None
    return getattr(wrapper, "__wrapped__", None) if getattr(wrapper, _MARK, False) else None


def _interposer_functions() -> tuple[Any, ...]:
    """The functions on the interposer's path (what :func:`_codes` and the tests look at)."""
    return (
        _copy,
        _snapshot,
        _classify,
        _kinds_of,
        _by_name,
        _last,
        _lambda_name,
        _unquote,
        _fields,
        _copy_source_bucket,
        _name,
        _names,
        _resources_for,
        _plan,
        _call_resources,
        _service_model_of,
        _decide,
        _botocore_bindings,
        _wrapper_for,
        _patch,
        _PatchingLoader.__init__,
        _PatchingLoader.create_module,
        _PatchingLoader.exec_module,
        _PostImportFinder.__init__,
        _PostImportFinder.find_spec,
        _PostImportFinder.invalidate_caches,
    )


def _codes() -> tuple[CodeType, ...]:
    """The code objects of the interposer's path, nested ones (the wrapper's) included: the
    sandbox's own, whose ``__code__`` and ``__defaults__`` the hook refuses to let change."""
    pending = [function.__code__ for function in _interposer_functions()]
    out: list[CodeType] = []
    while pending:
        code = pending.pop()
        out.append(code)
        pending.extend(c for c in code.co_consts if type(c) is type(code))
    return (*out,)
