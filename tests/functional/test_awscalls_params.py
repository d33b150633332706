"""awscalls: the call botocore sends is the call that was audited (one subprocess per case).

A moto server on loopback stands in for AWS. In each child a first audit hook stands in for the
sandbox (it records ``sandbox.aws`` events and refuses buckets outside ``ALLOWED``); a second
hook, added later, plays the attacker who rewrites the parameters once the decision is made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.functional.conftest import aws_child_env

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import json, os, sys
EVENTS, ENFORCE = [], [False]
ALLOWED = {"allowed"}
def sandbox_stand_in(event, args):
    if event == "sandbox.aws" and ENFORCE[0]:  # off while the test sets up and looks
        EVENTS.append(list(args))
        if args[2] not in ALLOWED:
            raise PermissionError("blocked: " + str(args[2]))
sys.addaudithook(sandbox_stand_in)
from sandbox.runtime import aws_calls
aws_calls.interpose()
import boto3
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
for bucket in ("allowed", "victim"):  # the moto server outlives each child: start clean
    s3.create_bucket(Bucket=bucket)
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])
s3.put_object(Bucket="victim", Key="secret", Body=b"the crown jewels")
def keys(bucket):
    ENFORCE[0] = False
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
def attempt(run):
    try:
        run()
        return "sent"
    except PermissionError as exc:
        return "refused: " + str(exc)
EVENTS.clear()
ENFORCE[0] = True
"""

SWAP = """
SWAPPED = []
def attacker(event, args):
    # Runs after the sandbox's hook has allowed the call: walk up the stack and point every
    # reachable parameter dict (named below) at the victim's bucket.
    if event != "sandbox.aws" or args[2] != "allowed" or not ENFORCE[0]:
        return
    frame = sys._getframe(1)
    while frame is not None:
        for name, value in list(frame.f_locals.items()):
            if (NAMES is None or name in NAMES) and type(value) is dict \\
                    and value.get("Bucket") == "allowed":
                value["Bucket"] = "victim"
                SWAPPED.append(frame.f_code.co_name + ":" + name)
        frame = frame.f_back
sys.addaudithook(attacker)
"""


def run_child(code: str, endpoint: str, attack: str = "") -> dict[str, Any]:
    """Run PRELUDE, ``attack``, then ``code`` in a fresh interpreter; return its last line."""
    env = {
        **aws_child_env(endpoint, str(ROOT)),
    }
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + attack + textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_a_later_hook_swapping_the_callers_params_does_not_change_the_request(
    moto_endpoint: str,
) -> None:
    # GIVEN an attacker hook that rewrites the caller's parameter dicts after the decision
    attack = 'NAMES = {"api_params", "kwargs", "params"}\n' + SWAP  # the caller's dict
    result = run_child(
        """
        # WHEN the function puts an object into its allowed bucket
        outcome = attempt(lambda: s3.put_object(Bucket="allowed", Key="report", Body=b"x"))
        print(json.dumps({"outcome": outcome, "events": EVENTS, "swapped": SWAPPED,
                          "allowed": keys("allowed"), "victim": keys("victim")}))
        """,
        moto_endpoint,
        attack,
    )
    # THEN the attacker did rewrite the caller's dict, yet the request that reached S3 is the
    # one that was audited: the object is in the allowed bucket and the victim's is untouched
    assert result["swapped"], "the attack must have reached the caller's dict"
    assert result["outcome"] == "sent"
    assert result["events"] == [["s3", "PutObject", "allowed"]]
    assert result["allowed"] == ["report"]
    assert result["victim"] == ["secret"]


def test_rewriting_the_audited_copy_itself_refuses_the_call(moto_endpoint: str) -> None:
    # GIVEN an attacker hook that rewrites every parameter dict it can reach, the copy included
    attack = "NAMES = None\n" + SWAP
    result = run_child(
        """
        # WHEN the function puts an object into its allowed bucket
        outcome = attempt(lambda: s3.put_object(Bucket="allowed", Key="report", Body=b"x"))
        print(json.dumps({"outcome": outcome, "swapped": SWAPPED,
                          "allowed": keys("allowed"), "victim": keys("victim")}))
        """,
        moto_endpoint,
        attack,
    )
    # THEN the change to the audited values is noticed and nothing is sent anywhere
    assert any(name.endswith(":frozen") for name in result["swapped"])
    assert result["outcome"].startswith("refused: ")
    assert "changed while audited" in result["outcome"]
    assert result["allowed"] == [] and result["victim"] == ["secret"]


def test_copy_object_from_a_bucket_outside_the_profile_is_refused(moto_endpoint: str) -> None:
    # GIVEN the sandbox stand-in allowing the "allowed" bucket only
    result = run_child(
        """
        # WHEN the function copies the victim's object into its own bucket, naming the source as
        # a dict, a string, a URL-encoded string with a version, and then its own bucket
        outcomes = [
            attempt(lambda: s3.copy_object(Bucket="allowed", Key="a",
                                           CopySource={"Bucket": "victim", "Key": "secret"})),
            attempt(lambda: s3.copy_object(Bucket="allowed", Key="b", CopySource="victim/secret")),
            attempt(lambda: s3.copy_object(Bucket="allowed", Key="c",
                                           CopySource="/%76ictim/secret?versionId=null")),
        ]
        s3.put_object(Bucket="allowed", Key="mine", Body=b"m")
        EVENTS.pop()
        outcomes.append(attempt(lambda: s3.copy_object(Bucket="allowed", Key="d",
                                                       CopySource="allowed/mine")))
        print(json.dumps({"outcomes": outcomes, "events": EVENTS, "allowed": keys("allowed")}))
        """,
        moto_endpoint,
    )
    # THEN each copy from the victim raised an event for the source bucket and was refused;
    # the copy within the allowed bucket went through
    assert result["outcomes"] == ["refused: blocked: victim"] * 3 + ["sent"]
    copy_events = [e for e in result["events"] if e[1] == "CopyObject"]
    assert copy_events == [["s3", "CopyObject", "allowed"], ["s3", "CopyObject", "victim"]] * 3 + [
        ["s3", "CopyObject", "allowed"]
    ]
    assert result["allowed"] == ["d", "mine"]


def test_s3transfer_uploads_a_file_body_through_the_snapshot(
    moto_endpoint: str, tmp_path: Path
) -> None:
    # GIVEN a file to upload with s3transfer (its body is a file object, kept by reference)
    source = tmp_path / "upload.bin"
    source.write_bytes(os.urandom(100_000))
    result = run_child(
        f"""
        # WHEN the function uploads and downloads it
        s3.upload_file({str(source)!r}, "allowed", "upload.bin")
        s3.download_file("allowed", "upload.bin", {str(tmp_path / "back.bin")!r})
        print(json.dumps({{"events": EVENTS}}))
        """,
        moto_endpoint,
    )
    # THEN the bytes round-trip and every call named the allowed bucket
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    assert {tuple(e[::2]) for e in result["events"]} == {("s3", "allowed")}
    assert {e[1] for e in result["events"]} >= {"PutObject", "HeadObject", "GetObject"}
