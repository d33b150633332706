"""Least-privilege IAM from a profile's ``aws`` rules, and a check of a role against it.

A profile's ``aws/call`` targets are ``service:Operation[:resource]`` (botocore names). This
module maps them to IAM actions (the service's IAM prefix and, where IAM differs from the API,
the action IAM checks — ``s3:HeadObject`` is authorised as ``s3:GetObject``) and to ARNs where
the resource is derivable, in the function's own partition, region and account.
"""

from __future__ import annotations

import fnmatch
import json
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RoleCheck",
    "check_role",
    "iam_actions",
    "iam_prefix",
    "parse_target",
    "resource_arns",
    "role_policies",
    "suggest_policy",
]

# botocore service name → IAM prefix, where they differ and the signing name does not say.
_PREFIX = {
    "stepfunctions": "states",
    "elbv2": "elasticloadbalancing",
    "elb": "elasticloadbalancing",
    "opensearch": "es",
    "iot-data": "iot",
    "apigatewaymanagementapi": "execute-api",
    "bedrock-runtime": "bedrock",
    "bedrock-agent-runtime": "bedrock",
    "dynamodbstreams": "dynamodb",
    "sesv2": "ses",
    "s3control": "s3",
    "appconfigdata": "appconfig",
    "timestream-write": "timestream",
    "timestream-query": "timestream",
    "cloudwatch": "cloudwatch",
    "logs": "logs",
    "events": "events",
    "lambda": "lambda",
    "kinesis-video-media": "kinesisvideo",
    "sagemaker-runtime": "sagemaker",
    "textract": "textract",
}

# (IAM prefix, API operation) → IAM actions, where the action is not the operation's name.
_ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("s3", "HeadObject"): ("GetObject",),
    ("s3", "SelectObjectContent"): ("GetObject",),
    ("s3", "HeadBucket"): ("ListBucket",),
    ("s3", "ListObjects"): ("ListBucket",),
    ("s3", "ListObjectsV2"): ("ListBucket",),
    ("s3", "ListObjectVersions"): ("ListBucketVersions",),
    ("s3", "ListMultipartUploads"): ("ListBucketMultipartUploads",),
    ("s3", "ListParts"): ("ListMultipartUploadParts",),
    ("s3", "ListBuckets"): ("ListAllMyBuckets",),
    ("s3", "CopyObject"): ("GetObject", "PutObject"),
    ("s3", "UploadPartCopy"): ("GetObject", "PutObject"),
    ("s3", "DeleteObjects"): ("DeleteObject",),
    ("s3", "CreateMultipartUpload"): ("PutObject",),
    ("s3", "UploadPart"): ("PutObject",),
    ("s3", "CompleteMultipartUpload"): ("PutObject",),
    ("s3", "GetObjectAttributes"): ("GetObject", "GetObjectAttributes"),
    ("dynamodb", "TransactGetItems"): ("GetItem",),
    ("dynamodb", "TransactWriteItems"): (
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "ConditionCheckItem",
    ),
    ("sqs", "SendMessageBatch"): ("SendMessage",),
    ("sqs", "DeleteMessageBatch"): ("DeleteMessage",),
    ("sqs", "ChangeMessageVisibilityBatch"): ("ChangeMessageVisibility",),
    ("sns", "PublishBatch"): ("Publish",),
    ("lambda", "Invoke"): ("InvokeFunction",),
    ("lambda", "InvokeAsync"): ("InvokeFunction",),
    ("lambda", "InvokeWithResponseStream"): ("InvokeFunction",),
    ("kms", "GenerateDataKeyWithoutPlaintext"): ("GenerateDataKeyWithoutPlaintext",),
    ("sts", "GetCallerIdentity"): (),  # needs no permission
}
# S3 actions on the bucket itself (ARN without "/*"); "*" where the action has no resource.
_S3_BUCKET_ACTIONS = frozenset(
    {"ListBucket", "ListBucketVersions", "ListBucketMultipartUploads", "GetBucketLocation"}
)
_S3_BUCKET_PREFIXES = ("GetBucket", "PutBucket", "DeleteBucket", "CreateBucket")
_NO_RESOURCE = frozenset(
    {"s3:ListAllMyBuckets", "sqs:ListQueues", "sns:ListTopics", "dynamodb:ListTables"}
)


def iam_prefix(service: str) -> str:
    """The IAM action prefix of a botocore service name (``stepfunctions`` → ``states``)."""
    if service in _PREFIX:
        return _PREFIX[service]
    try:
        import botocore.session

        model = botocore.session.get_session().get_service_model(service)
        signing = model.signing_name
        if isinstance(signing, str) and signing:
            return signing
    except Exception:  # unknown to this botocore: the service name is the best guess
        pass
    return service


def iam_actions(service: str, operation: str) -> list[str]:
    """The IAM actions an API call is authorised against (empty when it needs none).

    Examples
    --------
    >>> iam_actions("s3", "HeadObject")
    ['s3:GetObject']
    >>> iam_actions("lambda", "Invoke")
    ['lambda:InvokeFunction']
    """
    prefix = iam_prefix(service)
    names = _ACTIONS.get((prefix, operation), (operation,))
    return [f"{prefix}:{name}" for name in names]


def parse_target(target: str) -> tuple[str, str, str | None]:
    """Split ``service:Operation[:resource]`` (the resource may itself hold colons)."""
    parts = target.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"aws target {target!r}: expected service:Operation[:resource]")
    return parts[0], parts[1], (parts[2] if len(parts) == 3 and parts[2] else None)


@dataclass(frozen=True)
class _Where:
    partition: str = "aws"
    region: str = "*"
    account: str = "*"


def resource_arns(action: str, resource: str | None, where: _Where) -> list[str]:
    """ARNs for an IAM action on a named resource; ``["*"]`` when not derivable.

    Examples
    --------
    >>> resource_arns("s3:GetObject", "bucket", _Where())
    ['arn:aws:s3:::bucket/*']
    >>> resource_arns("dynamodb:Query", "t", _Where("aws", "eu-west-1", "1"))
    ['arn:aws:dynamodb:eu-west-1:1:table/t', 'arn:aws:dynamodb:eu-west-1:1:table/t/index/*']
    """
    if action in _NO_RESOURCE or resource is None:
        return ["*"]
    prefix, name = action.split(":", 1)
    p, r, a = where.partition, where.region, where.account
    if resource.startswith("arn:"):
        return [resource]
    if prefix == "s3":
        if name in _S3_BUCKET_ACTIONS or name.startswith(_S3_BUCKET_PREFIXES):
            return [f"arn:{p}:s3:::{resource}"]
        return [f"arn:{p}:s3:::{resource}/*"]
    if prefix == "dynamodb":
        table = f"arn:{p}:dynamodb:{r}:{a}:table/{resource}"
        if name in ("Query", "Scan"):
            return [table, f"{table}/index/*"]
        return [table]
    if prefix == "sqs":
        return [f"arn:{p}:sqs:{r}:{a}:{resource}"]
    if prefix == "sns":
        return [f"arn:{p}:sns:{r}:{a}:{resource}"]
    if prefix == "lambda":
        return [f"arn:{p}:lambda:{r}:{a}:function:{resource}"]
    return ["*"]


def _where_from_arn(function_arn: str | None) -> _Where:
    if not function_arn or not function_arn.startswith("arn:"):
        return _Where()
    parts = function_arn.split(":")
    return _Where(parts[1], parts[3] or "*", parts[4] or "*")


def _aws_targets(profile: Any) -> list[str]:
    """The ``aws/call`` targets of a profile (model or plain document)."""
    rules = profile.rules if hasattr(profile, "rules") else profile.get("rules", {})
    out = []
    for rule in rules.get("aws", []) if isinstance(rules, Mapping) else []:
        action = rule.action if hasattr(rule, "action") else rule.get("action")
        target = rule.target if hasattr(rule, "target") else rule.get("target")
        if action == "call" and isinstance(target, str):
            out.append(target)
    return sorted(set(out))


def used_actions(profile: Any, function_arn: str | None = None) -> dict[str, set[str]]:
    """IAM action → the resource ARNs the profile's ``aws`` rules use it on."""
    where = _where_from_arn(function_arn)
    used: dict[str, set[str]] = {}
    for target in _aws_targets(profile):
        service, operation, resource = parse_target(target)
        for action in iam_actions(service, operation):
            used.setdefault(action, set()).update(resource_arns(action, resource, where))
    for action, arns in used.items():
        if "*" in arns:
            used[action] = {"*"}
    return used


def _logging_statement(function_name: str | None, where: _Where) -> dict[str, Any] | None:
    if not function_name:
        return None
    group = (
        f"arn:{where.partition}:logs:{where.region}:{where.account}"
        f":log-group:/aws/lambda/{function_name}"
    )
    return {
        "Sid": "LambdaLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [group, f"{group}:*"],
    }


def suggest_policy(
    profile: Any,
    *,
    function_arn: str | None = None,
    function_name: str | None = None,
    logs: bool = True,
) -> dict[str, Any]:
    """A least-privilege identity policy for the calls a profile allows.

    Actions with the same resources share a statement; output is sorted (stable diffs). With
    ``logs`` the function's own CloudWatch log group is included (Lambda needs it to log).

    Parameters
    ----------
    profile:
        A :class:`sandbox.profile.Profile` or its JSON document.
    function_arn:
        The function's ARN: supplies partition, region and account for resource ARNs.
    function_name:
        The function's name (for the log-group statement).
    logs:
        Include the log-group statement.

    Returns
    -------
    dict
        The policy document.
    """
    where = _where_from_arn(function_arn)
    by_resources: dict[tuple[str, ...], list[str]] = {}
    for action, arns in sorted(used_actions(profile, function_arn).items()):
        by_resources.setdefault(tuple(sorted(arns)), []).append(action)
    statements: list[dict[str, Any]] = []
    ordered = sorted(by_resources.items(), key=lambda kv: kv[1])
    for index, (resources, actions) in enumerate(ordered, 1):
        statements.append(
            {
                "Sid": f"SandboxUsed{index}",
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": list(resources),
            }
        )
    log_statement = _logging_statement(function_name, where) if logs else None
    if log_statement:
        statements.append(log_statement)
    return {"Version": "2012-10-17", "Statement": statements}


# --------------------------------------------------------------------------- role check


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _document(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = json.loads(urllib.parse.unquote(raw))
    return dict(raw)


def role_policies(iam: Any, role_name: str, opts: Any = None) -> list[tuple[str, dict[str, Any]]]:
    """Every policy document on a role: inline (``inline:NAME``) and attached managed (ARN)."""
    from sandbox.fleet._api import call, paginate

    out: list[tuple[str, dict[str, Any]]] = []
    for name in paginate(iam, "list_role_policies", "PolicyNames", opts, RoleName=role_name):
        doc = call(iam, "get_role_policy", opts, RoleName=role_name, PolicyName=name)[
            "PolicyDocument"
        ]
        out.append((f"inline:{name}", _document(doc)))
    for attached in paginate(
        iam, "list_attached_role_policies", "AttachedPolicies", opts, RoleName=role_name
    ):
        arn = attached["PolicyArn"]
        version = call(iam, "get_policy", opts, PolicyArn=arn)["Policy"]["DefaultVersionId"]
        doc = call(iam, "get_policy_version", opts, PolicyArn=arn, VersionId=version)[
            "PolicyVersion"
        ]["Document"]
        out.append((arn, _document(doc)))
    return out


@dataclass
class RoleCheck:
    """What a role grants beyond (and short of) what the function uses.

    Attributes
    ----------
    over_permissive:
        One entry per problem: ``{"policy", "sid", "kind", "detail"}``; kinds are
        ``wildcard-action``, ``wildcard-resource``, ``unused-action``, ``not-action``.
    missing:
        Used IAM actions no Allow statement grants (the function would fail with AccessDenied).
    used:
        The IAM actions the profile uses, with their resources.
    """

    over_permissive: list[dict[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    used: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No over-permissive grant and nothing missing."""
        return not self.over_permissive and not self.missing

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "over_permissive": self.over_permissive,
            "missing": self.missing,
            "used": self.used,
        }


def _matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def check_role(
    policies: Iterable[tuple[str, Mapping[str, Any]]],
    profile: Any,
    *,
    function_arn: str | None = None,
    function_name: str | None = None,
) -> RoleCheck:
    """Compare a role's policies with what the profile uses.

    Parameters
    ----------
    policies:
        ``(source, document)`` pairs, as from :func:`role_policies`.
    profile:
        The function's profile (model or document).
    function_arn, function_name:
        As for :func:`suggest_policy`; the logging actions count as used.

    Returns
    -------
    RoleCheck
    """
    suggested = suggest_policy(profile, function_arn=function_arn, function_name=function_name)
    used: set[str] = set()
    for statement in suggested["Statement"]:
        used.update(statement["Action"])
    result = RoleCheck(
        used={a: sorted(r) for a, r in sorted(used_actions(profile, function_arn).items())}
    )
    granted: list[str] = []
    for source, document in policies:
        statements = document.get("Statement", [])
        if isinstance(statements, Mapping):
            statements = [statements]
        for index, statement in enumerate(statements):
            if statement.get("Effect") != "Allow":
                continue
            sid = str(statement.get("Sid") or f"#{index}")

            def problem(kind: str, detail: str, source: str = source, sid: str = sid) -> None:
                result.over_permissive.append(
                    {"policy": source, "sid": sid, "kind": kind, "detail": detail}
                )

            if "NotAction" in statement:
                problem(
                    "not-action", f"allows everything except {_as_list(statement['NotAction'])}"
                )
            actions = _as_list(statement.get("Action"))
            resources = _as_list(statement.get("Resource")) or _as_list(
                statement.get("NotResource")
            )
            for action in actions:
                if "*" in action or "?" in action:
                    covered = sorted(u for u in used if _matches(action, u))
                    problem(
                        "wildcard-action",
                        f"{action} (the function uses only "
                        f"{', '.join(covered) if covered else 'none of it'})",
                    )
                    granted.append(action)
                    continue
                granted.append(action)
                if not any(action.lower() == u.lower() for u in used):
                    problem("unused-action", f"{action} is never called")
            if "*" in resources and not all(
                f"{a}".lower() in {n.lower() for n in _NO_RESOURCE} for a in actions
            ):
                problem("wildcard-resource", f"Resource * on {', '.join(actions) or 'NotAction'}")
    result.missing = sorted(u for u in used if not any(_matches(g, u) for g in granted))
    result.over_permissive.sort(key=lambda p: (p["policy"], p["sid"], p["kind"], p["detail"]))
    return result
