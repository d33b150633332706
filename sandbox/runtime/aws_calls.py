"""AWS API calls as audit events: wrap botocore's call path so the hook sees ``service:Operation``.

:func:`interpose` registers a post-import hook on ``botocore.client`` (a small finder, not
wrapt: wrapt 2.x imports asyncio, 50-100 ms of cold start): nothing is imported until the
function imports botocore itself. From then on every API call first raises
``sys.audit("sandbox.aws", service, operation, resource)``, which :mod:`sandbox.runtime.decoders.aws` decodes
into category ``aws``, action ``call``, target ``service:Operation[:resource]``. In enforce the
hook raises there, before any request is signed or sent, so a blocked call never leaves the
process. (botocore may retry a ``PermissionError``; each retry is blocked again.)

The resource is the one parameter that names what the call touches: the S3 ``Bucket``, the
DynamoDB ``TableName`` (every table of a batch or transaction, one event each), the SQS queue
name from ``QueueUrl``, the SNS topic name from ``TopicArn``, the Lambda function name from
``FunctionName``; ``None`` for anything else.

Native code and raw HTTP to AWS endpoints bypass this layer; the network rules still see them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start: ~4 ms)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["installed", "interpose", "original", "resources"]

_EVENT = "sandbox.aws"
_MARK = "_sandbox_aws"
_TARGET = "botocore.client"
_state: dict[str, Any] = {"registered": False, "original": None}


def _last(value: Any, sep: str) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value.rstrip(sep).rsplit(sep, 1)[-1] or None


def _lambda_name(value: Any) -> str | None:
    # "name", "name:alias", "123456789012:function:name", "arn:aws:lambda:r:a:function:name[:q]"
    if not isinstance(value, str) or not value:
        return None
    if ":function:" in value:
        value = value.split(":function:", 1)[1]
    return value.split(":", 1)[0] or None


def resources(service: str, params: Mapping[str, Any]) -> tuple[str | None, ...]:
    """The resources an API call names (at least one entry; ``(None,)`` when none is known).

    Parameters
    ----------
    service:
        botocore's service name (``s3``, ``dynamodb``...).
    params:
        The call's API parameters.

    Returns
    -------
    tuple of (str or None)

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
    found: str | None = None
    if service in ("s3", "s3control"):
        found = params.get("Bucket") if isinstance(params.get("Bucket"), str) else None
    elif service == "dynamodb":
        table = params.get("TableName")
        if isinstance(table, str) and table:
            found = table
        else:
            tables: set[str] = set()
            items = params.get("RequestItems")
            if isinstance(items, Mapping):
                tables.update(str(t) for t in items)
            for item in params.get("TransactItems") or ():
                if isinstance(item, Mapping):
                    for op in item.values():
                        if isinstance(op, Mapping) and isinstance(op.get("TableName"), str):
                            tables.add(op["TableName"])
            if tables:
                return tuple(sorted(tables))
    elif service == "sqs":
        found = _last(params.get("QueueUrl"), "/") or (
            params.get("QueueName") if isinstance(params.get("QueueName"), str) else None
        )
    elif service == "sns":
        found = _last(params.get("TopicArn"), ":")
    elif service == "lambda":
        found = _lambda_name(params.get("FunctionName"))
    return (found or None,)


def _audit(instance: Any, operation: Any, params: Any) -> None:
    try:
        service = instance.meta.service_model.service_name
    except AttributeError:  # not a botocore client as we know it: audit what we can
        service = "unknown"
    for resource in resources(service, params if isinstance(params, Mapping) else {}):
        sys.audit(_EVENT, service, operation, resource)


def _patch(module: Any) -> None:
    base = module.BaseClient
    current = base.__dict__.get("_make_api_call")
    if current is None or getattr(current, _MARK, False):
        return  # already ours (interpose twice, or the module reloaded under our wrapper)

    # A plain function, not wrapt: wrapt 2.x imports asyncio (50-100 ms), which alone would
    # blow the cold-start budget of DESIGN.md section 6 for every function using boto3.
    def _make_api_call(
        self: Any, operation_name: Any, api_params: Any, *args: Any, **kwargs: Any
    ) -> Any:
        _audit(self, operation_name, api_params)
        return current(self, operation_name, api_params, *args, **kwargs)

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
