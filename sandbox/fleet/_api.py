"""boto3 plumbing for the fleet commands: clients, botocore's retries and waiters, AccessDenied → the IAM action needed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from sandbox.errors import SandboxError

__all__ = [
    "ACCESS_DENIED",
    "RETRY_MODES",
    "AwsOptions",
    "FleetError",
    "call",
    "error_code",
    "paginate",
    "wait",
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
RETRY_MODES = ("standard", "adaptive")


class FleetError(SandboxError):
    """A fleet operation failed or was refused; the message says why and what to do."""


@dataclass
class AwsOptions:
    """How to reach AWS: region, endpoint (a moto server in tests), named profile, retries.

    Retrying is botocore's alone: throttling, 5xx and transient network errors are retried by
    the client (``retry_mode`` ``standard`` or ``adaptive``, ``max_attempts`` attempts in all per
    call); no loop of this tool retries on top of it. Waiting for a function update uses
    botocore's Lambda waiters.

    Attributes
    ----------
    region, endpoint_url, profile_name:
        Passed to ``boto3.session.Session`` / ``Session.client``.
    max_attempts:
        botocore's retry budget per call (the first attempt included).
    retry_mode:
        ``standard`` or ``adaptive`` (``adaptive`` also rate-limits the client on throttling:
        useful when many workers share one account's API limits).
    update_timeout:
        Longest wait for a function update (or a new version) to finish, in seconds.
    poll_delay:
        Seconds between the waiters' polls.

    Example
    -------
    >>> AwsOptions(region="eu-west-1", retry_mode="adaptive").for_region("us-east-1").region
    'us-east-1'
    """

    region: str | None = None
    endpoint_url: str | None = None
    profile_name: str | None = None
    max_attempts: int = 8
    retry_mode: str = "standard"
    update_timeout: float = 300.0
    poll_delay: float = 1.0
    _session: Any = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, service: str) -> Any:
        """A cached boto3 client for ``service`` (safe to call from several threads)."""
        with self._lock:  # boto3 sessions are not thread-safe; the clients they make are
            if service not in self._clients:
                self._clients[service] = self._make_client(service)
            return self._clients[service]

    def _make_client(self, service: str) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # the fleet commands need the AWS SDK (dev/tooling extra)
            raise FleetError("the fleet commands need boto3: pip install boto3") from exc
        if self.retry_mode not in RETRY_MODES:
            raise FleetError(f"retry mode {self.retry_mode!r}: expected standard or adaptive")
        if self._session is None:
            try:
                self._session = boto3.session.Session(
                    profile_name=self.profile_name, region_name=self.region
                )
            except Exception as exc:  # botocore.exceptions.ProfileNotFound
                if type(exc).__name__ == "ProfileNotFound":
                    raise FleetError(f"--profile-name {self.profile_name}: {exc}") from exc
                raise
        config = Config(
            retries={"total_max_attempts": self.max_attempts, "mode": self.retry_mode},
            # one connection per worker thread, so the pool never makes a worker wait
            max_pool_connections=64,
        )
        return self._session.client(service, endpoint_url=self.endpoint_url, config=config)

    def for_region(self, region: str | None) -> AwsOptions:
        """The same options for another region, with clients of its own."""
        return replace(self, region=region, _session=None, _clients={}, _lock=threading.Lock())

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


def _denied(client: Any, operation: str, exc: BaseException) -> FleetError:
    return FleetError(
        f"{operation}: access denied; the caller needs IAM permission "
        f"{_iam_action_for(client, operation)}"
    )


def call(client: Any, method: str, opts: AwsOptions | None = None, **kwargs: Any) -> Any:
    """Call ``client.<method>(**kwargs)`` once, naming the missing permission on access denied.

    Throttling, 5xx and transient errors are retried by botocore itself (the client's retry
    mode); nothing is retried here, so a throttle costs at most ``max_attempts`` requests.

    Parameters
    ----------
    client:
        A boto3 client.
    method:
        The snake_case method name, e.g. ``"update_function_configuration"``.
    opts:
        Unused; kept so callers read the same everywhere.
    **kwargs:
        The API parameters.

    Returns
    -------
    Any
        The API response.

    Raises
    ------
    FleetError
        Access denied (the message names the IAM action needed).
    botocore.exceptions.ClientError
        Any other API error, unchanged.

    Example
    -------
    >>> call(opts.client("lambda"), "get_function_configuration", FunctionName="orders")  # doctest: +SKIP
    """
    operation = client.meta.method_to_api_mapping.get(method, method)
    try:
        return getattr(client, method)(**kwargs)
    except Exception as exc:
        if _error_code(exc) in ACCESS_DENIED:
            raise _denied(client, operation, exc) from exc
        raise


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
            raise _denied(client, operation, exc) from exc
        raise


def wait(client: Any, waiter_name: str, opts: AwsOptions, what: str, **kwargs: Any) -> None:
    """Run one of botocore's waiters (``function_updated``, ``function_active_v2``, ...).

    Raises
    ------
    FleetError
        The resource reached a failed state (with AWS's reason), or the wait outlasted
        ``opts.update_timeout``.
    """
    from botocore.exceptions import WaiterError

    delay = max(opts.poll_delay, 0.0)
    # poll_delay 0 (tests, where nothing really takes time): a bounded number of polls
    attempts = max(1, int(opts.update_timeout / delay)) if delay else 100
    try:
        client.get_waiter(waiter_name).wait(
            **kwargs, WaiterConfig={"Delay": delay, "MaxAttempts": attempts}
        )
    except WaiterError as exc:
        last = exc.last_response or {}
        if _error_code_of(last) in ACCESS_DENIED:
            operation = str(client.get_waiter(waiter_name).config.operation)
            raise _denied(client, operation, exc) from exc
        config = last.get("Configuration", last)
        reason = (
            config.get("LastUpdateStatusReason")
            or config.get("StateReason")
            or exc.kwargs.get("reason", "")
        )
        raise FleetError(f"{what}: {reason or exc}") from exc


def _error_code_of(response: Any) -> str:
    return str((response.get("Error") or {}).get("Code", "")) if isinstance(response, dict) else ""


def wait_updated(client: Any, function: str, opts: AwsOptions, **kwargs: Any) -> dict[str, Any]:
    """The function's configuration once no update is in progress (botocore's waiters).

    One ``GetFunctionConfiguration`` when the function is idle; otherwise
    ``function_active_v2`` (a new function, ``State`` ``Pending``) or ``function_updated``
    (``LastUpdateStatus`` ``InProgress``), then a fresh read.

    Raises
    ------
    FleetError
        The update failed (with Lambda's reason) or did not finish within ``update_timeout``.
    """
    for _ in range(3):
        config: dict[str, Any] = call(
            client, "get_function_configuration", opts, FunctionName=function, **kwargs
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
        waiter = "function_active_v2" if state == "Pending" else "function_updated"
        wait(client, waiter, opts, f"{function}: update failed", FunctionName=function, **kwargs)
    raise FleetError(f"{function}: an update is still in progress; try again later")
