"""IAM: service:Operation → IAM actions and ARNs; suggest and check against a role in moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.fleet.cli import main
from sandbox.fleet.iam import check_role, iam_actions, suggest_policy
from tests.unit import test_aws_support as support
from tests.unit.test_aws_support import REGION, make_function, write_profile

aws = support.aws
opts = support.opts

FN_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
CALLS = (
    "s3:GetObject:my-bucket",
    "s3:HeadObject:my-bucket",
    "s3:ListObjectsV2:my-bucket",
    "dynamodb:Query:orders",
    "sqs:SendMessageBatch:jobs",
    "sns:Publish:alerts",
    "lambda:Invoke:billing",
    "stepfunctions:StartExecution",
    "sts:GetCallerIdentity",
)


def profile_doc(calls: tuple[str, ...] = CALLS) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "function": "orders",
        "rules": {"aws": [{"action": "call", "target": c} for c in calls]},
    }


@pytest.mark.parametrize(
    ("service", "operation", "expected"),
    [
        ("s3", "HeadObject", ["s3:GetObject"]),
        ("s3", "ListObjectsV2", ["s3:ListBucket"]),
        ("s3", "CopyObject", ["s3:GetObject", "s3:PutObject"]),
        ("lambda", "Invoke", ["lambda:InvokeFunction"]),
        ("stepfunctions", "StartExecution", ["states:StartExecution"]),
        ("sqs", "SendMessageBatch", ["sqs:SendMessage"]),
        ("dynamodb", "GetItem", ["dynamodb:GetItem"]),
        ("sts", "GetCallerIdentity", []),
    ],
)
def test_iam_actions(service: str, operation: str, expected: list[str]) -> None:
    # GIVEN an API call WHEN mapped THEN the IAM actions that authorise it
    assert iam_actions(service, operation) == expected


def test_suggest_policy_least_privilege_with_arns() -> None:
    # GIVEN a profile's AWS calls and the function's ARN
    # WHEN a policy is suggested
    policy = suggest_policy(profile_doc(), function_arn=FN_ARN, function_name="orders")
    by_action = {a: s["Resource"] for s in policy["Statement"] for a in s["Action"]}
    # THEN each action is scoped to the resource it was used on, in the function's region/account
    assert by_action["s3:GetObject"] == ["arn:aws:s3:::my-bucket/*"]
    assert by_action["s3:ListBucket"] == ["arn:aws:s3:::my-bucket"]
    assert by_action["dynamodb:Query"] == [
        "arn:aws:dynamodb:eu-west-1:123456789012:table/orders",
        "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/index/*",
    ]
    assert by_action["sqs:SendMessage"] == ["arn:aws:sqs:eu-west-1:123456789012:jobs"]
    assert by_action["sns:Publish"] == ["arn:aws:sns:eu-west-1:123456789012:alerts"]
    assert by_action["lambda:InvokeFunction"] == [
        "arn:aws:lambda:eu-west-1:123456789012:function:billing"
    ]
    assert by_action["states:StartExecution"] == ["*"]  # no resource known: said plainly
    assert "sts:GetCallerIdentity" not in by_action  # needs no permission
    assert by_action["logs:PutLogEvents"][0].endswith(":log-group:/aws/lambda/orders")
    # AND it is deterministic
    assert policy == suggest_policy(profile_doc(), function_arn=FN_ARN, function_name="orders")


def test_check_role_flags_over_permissive_and_missing() -> None:
    # GIVEN a role granting s3:* on *, an unused action, and missing sns:Publish
    policies = [
        (
            "inline:app",
            {
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {
                        "Effect": "Allow",
                        "Action": ["dynamodb:Query", "dynamodb:DeleteTable"],
                        "Resource": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders",
                    },
                ]
            },
        )
    ]
    # WHEN checked against the profile
    result = check_role(
        policies, profile_doc(("s3:GetObject:b", "dynamodb:Query:orders", "sns:Publish:t"))
    )
    kinds = {(p["kind"], p["detail"].split()[0]) for p in result.over_permissive}
    # THEN the wildcard action/resource and the never-used action are listed, and the gap too
    assert ("wildcard-action", "s3:*") in kinds
    assert ("wildcard-resource", "Resource") in kinds
    assert ("unused-action", "dynamodb:DeleteTable") in kinds
    assert result.missing == ["sns:Publish"]
    assert not result.ok


def test_cli_iam_suggest_and_check_against_moto_role(
    aws: None, opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function whose role has an inline s3:* policy and a managed admin-like policy
    make_function(opts, "orders", role="orders-role")
    iam = opts.client("iam")
    iam.put_role_policy(
        RoleName="orders-role",
        PolicyName="app",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    managed = iam.create_policy(
        PolicyName="broad",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "Tables",
                        "Effect": "Allow",
                        "Action": ["dynamodb:Query", "dynamodb:Scan"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="orders-role", PolicyArn=managed)
    profile = write_profile(
        tmp_path / "p.json", "orders", aws_calls=("s3:GetObject:my-bucket", "dynamodb:Query:orders")
    )
    out = tmp_path / "policy.json"
    # WHEN suggesting and checking through the CLI
    assert (
        main(
            [
                "iam",
                "suggest",
                "orders",
                "--profile",
                str(profile),
                "--out",
                str(out),
                "--region",
                REGION,
            ]
        )
        == 0
    )
    status = main(
        ["iam", "check", "orders", "--profile", str(profile), "--json", "--region", REGION]
    )
    (report,) = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    # THEN the policy is least privilege in moto's account, and the check lists what is too broad
    policy = json.loads(out.read_text())
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert {"s3:GetObject", "dynamodb:Query"} <= actions and "dynamodb:Scan" not in actions
    assert any(
        ":123456789012:table/orders" in r for s in policy["Statement"] for r in s["Resource"]
    )
    assert status == 1
    found = {(p["policy"], p["kind"]) for p in report["over_permissive"]}
    assert ("inline:app", "wildcard-action") in found
    assert (managed, "unused-action") in found  # dynamodb:Scan
    assert (managed, "wildcard-resource") in found
    assert report["missing"] == ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
