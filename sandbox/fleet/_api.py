"""boto3 plumbing for the fleet commands: clients, retries, AccessDenied → the IAM action needed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import SandboxError

__all__ = [
    "ACCESS_DENIED",
    "AwsOptions",
    "FleetError",
    "call",
    "error_code",
    "paginate",
    "wait_updated",
]

# Error codes AWS uses for "the caller lacks a permission".
ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
        "NotAuthorized",
    }
)
# Transient conflicts: the function is being updated by someone (or something) else.
_CONFLICTS = frozenset({"ResourceConflictException"})
_THROTTLES = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded"}
)

Sleep = Callable[[float], None]


class FleetError(SandboxError):
    """A fleet operation failed or was refused; the message says why and what to do."""


@dataclass
class AwsOptions:
    """How to reach AWS: region, endpoint (a moto server in tests), named profile, retry pacing.

    Attributes
    ----------
    region, endpoint_url, profile_name:
        Passed to ``boto3.session.Session`` / ``Session.client``.
    max_attempts:
        botocore's own retry budget per call (throttling, 5xx), in ``standard`` mode.
    conflict_attempts:
        How often one call is retried on ``ResourceConflictException`` (an update in progress).
    base_delay, max_delay:
        Exponential backoff for the conflict loop and the update wait, in seconds.
    update_timeout:
        Longest wait for a function update to finish.
    sleep:
        Injected in tests so retries do not really wait.
    """

    region: str | None = None
    endpoint_url: str | None = None
    profile_name: str | None = None
    max_attempts: int = 8
    conflict_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 10.0
    update_timeout: float = 300.0
    sleep: Sleep = time.sleep
    _session: Any = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A cached boto3 client for ``service`` with standard-mode retries."""
        if service not in self._clients:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:  # the fleet commands need the AWS SDK (dev/tooling extra)
                raise FleetError("the fleet commands need boto3: pip install boto3") from exc
            if self._session is None:
                self._session = boto3.session.Session(
                    profile_name=self.profile_name, region_name=self.region
                )
            config = Config(retries={"max_attempts": self.max_attempts, "mode": "standard"})
            self._clients[service] = self._session.client(
                service, endpoint_url=self.endpoint_url, config=config
            )
        return self._clients[service]

    def region_name(self) -> str:
        """The region the clients talk to."""
        return str(self.client("lambda").meta.region_name)


def _iam_action_for(client: Any, operation: str) -> str:
    from sandbox.fleet.iam import iam_actions

    service = client.meta.service_model.service_name
    return ", ".join(iam_actions(service, operation)) or f"{service}:{operation}"


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (empty for anything else)."""
    return _error_code(exc)


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def call(client: Any, method: str, opts: AwsOptions | None = None, **kwargs: Any) -> Any:
    """Call ``client.<method>(**kwargs)``, retrying update conflicts and naming missing permissions.

    Throttling and 5xx are retried by botocore itself (standard mode); this loop adds
    ``ResourceConflictException`` (a function update in progress) with exponential backoff.

    Parameters
    ----------
    client:
        A boto3 client.
    method:
        The snake_case method name, e.g. ``"update_function_configuration"``.
    opts:
        Backoff settings (defaults when omitted).
    **kwargs:
        The API parameters.

    Returns
    -------
    Any
        The API response.

    Raises
    ------
    FleetError
        Access denied (the message names the IAM action needed), or conflicts that outlast the
        retry budget.
    botocore.exceptions.ClientError
        Any other API error, unchanged.
    """
    opts = opts or AwsOptions()
    delay = opts.base_delay
    operation = client.meta.method_to_api_mapping.get(method, method)
    for attempt in range(1, opts.conflict_attempts + 1):
        try:
            return getattr(client, method)(**kwargs)
        except Exception as exc:
            code = _error_code(exc)
            if code in ACCESS_DENIED:
                raise FleetError(
                    f"{operation}: access denied; the caller needs IAM permission "
                    f"{_iam_action_for(client, operation)}"
                ) from exc
            retryable = code in _CONFLICTS or code in _THROTTLES
            if not retryable or attempt == opts.conflict_attempts:
                if retryable:
                    raise FleetError(
                        f"{operation}: still {code} after {attempt} attempts; "
                        "another update is running, try again later"
                    ) from exc
                raise
            opts.sleep(delay)
            delay = min(delay * 2, opts.max_delay)
    raise AssertionError("unreachable")  # pragma: no cover


def paginate(
    client: Any, method: str, key: str, opts: AwsOptions | None = None, **kwargs: Any
) -> Iterator[Any]:
    """Yield the items under ``key`` from every page of a paginated API."""
    paginator = client.get_paginator(method)
    try:
        for page in paginator.paginate(**kwargs):
            yield from page.get(key, [])
    except Exception as exc:
        if _error_code(exc) in ACCESS_DENIED:
            operation = client.meta.method_to_api_mapping.get(method, method)
            raise FleetError(
                f"{operation}: access denied; the caller needs IAM permission "
                f"{_iam_action_for(client, operation)}"
            ) from exc
        raise


def wait_updated(client: Any, function: str, opts: AwsOptions) -> dict[str, Any]:
    """Poll until the function's last update is no longer ``InProgress``; return its configuration.

    Raises
    ------
    FleetError
        The update failed (with Lambda's reason) or did not finish within ``update_timeout``.
    """
    waited = 0.0
    delay = opts.base_delay
    while True:
        config: dict[str, Any] = call(
            client, "get_function_configuration", opts, FunctionName=function
        )
        status = config.get("LastUpdateStatus", "Successful")
        state = config.get("State", "Active")
        if status == "Failed":
            raise FleetError(
                f"{function}: update failed: "
                f"{config.get('LastUpdateStatusReason', 'no reason given')}"
            )
        if status != "InProgress" and state != "Pending":
            return config
        if waited >= opts.update_timeout:
            raise FleetError(f"{function}: update still in progress after {waited:.0f}s")
        opts.sleep(delay)
        waited += delay
        delay = min(delay * 2, opts.max_delay)
