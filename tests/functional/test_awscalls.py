"""awscalls: botocore API calls raise ``sandbox.aws`` audit events (one subprocess per case).

A moto server on loopback stands in for AWS; each case runs in a fresh interpreter because
audit hooks cannot be removed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.functional.conftest import aws_child_env

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import json, sys
EVENTS = []
def hook(event, args):
    if event == "sandbox.aws":
        EVENTS.append(list(args))
        if args[1] in BLOCK:
            raise PermissionError("blocked by test hook: " + args[1])
sys.addaudithook(hook)
BLOCK = set()
"""


def run_child(code: str, endpoint: str, **extra_env: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; return its last stdout line (JSON) plus all lines."""
    env = {
        **aws_child_env(endpoint, str(ROOT)),
        **extra_env,
    }
    script = PRELUDE + textwrap.dedent(code)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    result = dict(json.loads(lines[-1]))
    result["_lines"] = lines[:-1]
    return result


def test_put_object_raises_one_event_even_when_interposed_twice(moto_endpoint: str) -> None:
    # GIVEN interpose() called twice before botocore is imported
    result = run_child(
        """
        import os
        from sandbox.runtime import aws_calls as awscalls
        awscalls.interpose()
        awscalls.interpose()
        lazy = "botocore" not in sys.modules and "botocore.client" not in sys.modules
        import boto3
        s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
        s3.create_bucket(Bucket="bucket")
        EVENTS.clear()
        # WHEN an object is put
        s3.put_object(Bucket="bucket", Key="k", Body=b"x")
        print(json.dumps({"events": EVENTS, "lazy": lazy, "installed": awscalls.installed()}))
        """,
        moto_endpoint,
    )
    # THEN nothing was imported early, and exactly one (s3, PutObject, bucket) event was raised
    assert result["lazy"] is True and result["installed"] is True
    assert result["events"] == [["s3", "PutObject", "bucket"]]


def test_interpose_after_botocore_import_and_resources(moto_endpoint: str) -> None:
    # GIVEN botocore already imported, then interpose() twice
    result = run_child(
        """
        import os
        import boto3
        from sandbox.runtime import aws_calls as awscalls
        awscalls.interpose(); awscalls.interpose()
        kw = dict(endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
        sqs = boto3.client("sqs", **kw)
        url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="hi")
        sns = boto3.client("sns", **kw)
        arn = sns.create_topic(Name="alerts")["TopicArn"]
        sns.publish(TopicArn=arn, Message="m")
        ddb = boto3.client("dynamodb", **kw)
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        ddb.get_item(TableName="t", Key={"k": {"S": "1"}})
        boto3.client("sts", **kw).get_caller_identity()
        print(json.dumps({"events": EVENTS}))
        """,
        moto_endpoint,
    )
    # THEN every call raised one event, with the resource each service names
    assert result["events"] == [
        ["sqs", "CreateQueue", "jobs"],
        ["sqs", "SendMessage", "jobs"],
        ["sns", "CreateTopic", None],
        ["sns", "Publish", "alerts"],
        ["dynamodb", "CreateTable", "t"],
        ["dynamodb", "GetItem", "t"],
        ["sts", "GetCallerIdentity", None],
    ]


def test_a_hook_that_raises_blocks_the_call_before_it_is_sent(moto_endpoint: str) -> None:
    # GIVEN a hook that blocks DeleteObject
    result = run_child(
        """
        import os
        from sandbox.runtime import aws_calls as awscalls
        awscalls.interpose()
        import boto3
        s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
        s3.create_bucket(Bucket="keep")
        s3.put_object(Bucket="keep", Key="k", Body=b"x")
        BLOCK.add("DeleteObject")
        # WHEN the function tries to delete the object
        try:
            s3.delete_object(Bucket="keep", Key="k")
            error = None
        except PermissionError as exc:
            error = str(exc)
        BLOCK.clear()
        still_there = s3.get_object(Bucket="keep", Key="k")["Body"].read().decode()
        print(json.dumps({"error": error, "still_there": still_there}))
        """,
        moto_endpoint,
    )
    # THEN it raised PermissionError and the request never reached the server
    assert result["error"] and "DeleteObject" in str(result["error"])
    assert result["still_there"] == "x"


def test_the_sandbox_hook_reports_an_aws_call_outside_the_profile(moto_endpoint: str) -> None:
    # GIVEN the sandbox installed in alert with a profile allowing PutObject on "bucket" only
    result = run_child(
        """
        import os
        from sandbox.runtime import aws_calls as awscalls
        import boto3
        s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
        s3.create_bucket(Bucket="bucket")
        import sandbox
        profile = {"schema_version": 1, "function": "f", "extends": ["python-runtime"],
                   "rules": {"aws": [{"action": "call", "target": "s3:PutObject:bucket"}]}}
        sandbox.install(mode="alert", profile=profile)
        awscalls.interpose()
        # WHEN an allowed and a not-allowed call are made
        s3.put_object(Bucket="bucket", Key="k", Body=b"x")
        s3.get_object(Bucket="bucket", Key="k")
        print(json.dumps({"ok": True}))
        """,
        moto_endpoint,
        SANDBOX_MAX_FINDINGS="100000",  # init-phase module findings must not crowd ours out
    )
    records = [json.loads(line) for line in result["_lines"] if line.startswith("{")]
    aws = [r for r in records if r.get("type") == "sandbox.finding" and r.get("category") == "aws"]
    # THEN only the call outside the profile is reported, as would-block
    assert [(r["target"], r["decision"]) for r in aws] == [("s3:GetObject:bucket", "would-block")]


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_kept_aws_call_answers_only_the_same_call_from_the_interposer(
    moto_endpoint: str, core: str
) -> None:
    # GIVEN the sandbox in enforce with a profile allowing PutObject on "bucket" only (and the
    # connects to the moto server on loopback)
    code = """
        import os
        from sandbox.runtime import aws_calls as awscalls
        import boto3
        s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
        s3.create_bucket(Bucket="bucket")
        import sandbox
        profile = {"schema_version": 1, "function": "f", "extends": ["python-runtime"],
                   "rules": {"aws": [{"action": "call", "target": "s3:PutObject:bucket"}],
                             "network": [{"action": "connect", "target": "127.0.0.1:*"}]}}
        sandbox.install(mode="enforce", profile=profile)
        awscalls.interpose()
        out = {}
        def attempt(label, fn):
            try:
                fn()
                out[label] = "ALLOWED"
            except PermissionError as exc:
                out[label] = "BLOCKED " + str(getattr(exc, "category", "?"))
        # WHEN the allowed call repeats (kept from the second on), then its neighbours, and the
        # same event raised by the function's own code
        for i in range(3):
            attempt("put-" + str(i), lambda: s3.put_object(Bucket="bucket", Key="k", Body=b"x"))
        attempt("get", lambda: s3.get_object(Bucket="bucket", Key="k"))
        attempt("other-bucket", lambda: s3.put_object(Bucket="other", Key="k", Body=b"x"))
        attempt("forged", lambda: sys.audit("sandbox.aws", "s3", "PutObject", "bucket"))
        print(json.dumps(out))
        """
    env = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off", "SANDBOX_MAX_FINDINGS": "100000"}
    if core == "python":
        env["SANDBOX_NATIVE"] = "off"
    result = run_child(code, moto_endpoint, **env)
    # THEN the same call is allowed each time, every other call is refused, and the event from
    # anyone but the interposer is refused as forged (the kept answer never covers it)
    assert [result[f"put-{i}"] for i in range(3)] == ["ALLOWED"] * 3, result
    assert result["get"] == "BLOCKED aws" and result["other-bucket"] == "BLOCKED aws", result
    assert result["forged"] == "BLOCKED code", result
