"""aws_calls: which parameters name resources (from botocore's models), and the snapshot."""

from __future__ import annotations

import io
from collections import UserDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sandbox.runtime import aws_calls
from sandbox.runtime.aws_calls import (
    UNDECODABLE,
    call_resources,
    resource_members,
    resources,
    snapshot,
)

REGION = "us-east-1"
ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:orders"


def model(service: str) -> Any:
    """The service model of an offline client (no request is made)."""
    client = boto3.client(
        service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client.meta.service_model


def named(service: str, operation: str, params: dict[str, Any]) -> tuple[str | None, ...]:
    return call_resources(service, operation, snapshot(params), model(service))


class Sly(str):
    """A str subclass with its own answers: must never be believed."""

    def __str__(self) -> str:
        return "allowed-bucket"

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


def test_members_come_from_the_operation_input_shape() -> None:
    # GIVEN real botocore models of several services
    # WHEN the resource members of operations are derived
    found = {
        ("s3", "CopyObject"): resource_members(model("s3"), "CopyObject"),
        ("s3", "UploadPartCopy"): resource_members(model("s3"), "UploadPartCopy"),
        ("s3", "PutObject"): resource_members(model("s3"), "PutObject"),
        ("lambda", "CreateEventSourceMapping"): resource_members(
            model("lambda"), "CreateEventSourceMapping"
        ),
        ("ssm", "GetParameters"): resource_members(model("ssm"), "GetParameters"),
        ("sts", "GetCallerIdentity"): resource_members(model("sts"), "GetCallerIdentity"),
        ("s3", "NoSuchOperation"): resource_members(model("s3"), "NoSuchOperation"),
    }
    # THEN named members, *Arn strings and the special members are found, in shape order
    assert found[("s3", "CopyObject")] == (("Bucket", "name"), ("CopySource", "copy"))
    assert found[("s3", "UploadPartCopy")] == (("Bucket", "name"), ("CopySource", "copy"))
    assert found[("s3", "PutObject")] == (("Bucket", "name"),)
    assert found[("lambda", "CreateEventSourceMapping")] == (
        ("EventSourceArn", "name"),
        ("FunctionName", "name"),
        ("KMSKeyArn", "name"),
    )
    assert found[("ssm", "GetParameters")] == (("Names", "names"),)
    assert found[("sts", "GetCallerIdentity")] == ()
    assert found[("s3", "NoSuchOperation")] == ()


@pytest.mark.parametrize(
    ("copy_source", "expected"),
    [
        ("src/dir/key.txt", ("dst", "src")),
        ("/src/key", ("dst", "src")),
        ("src/k%3Fe%2Fy.txt?versionId=3", ("dst", "src")),
        ("sr%63/key", ("dst", "src")),  # an escaped bucket name is the bucket S3 reads
        ("src?versionId=1", ("dst", "src")),
        ({"Bucket": "src", "Key": "a/b c", "VersionId": "1"}, ("dst", "src")),
        ({"Bucket": "dst", "Key": "k"}, ("dst",)),  # one event per distinct resource
        (
            "arn:aws:s3:us-west-2:123456789012:accesspoint/ap/object/reports/x.pdf",
            ("dst", "arn:aws:s3:us-west-2:123456789012:accesspoint/ap"),
        ),
        (Sly("src/key"), ("dst", UNDECODABLE)),
        ({"Bucket": Sly("src"), "Key": "k"}, ("dst", UNDECODABLE)),
        (UserDict({"Bucket": "src", "Key": "k"}), ("dst", UNDECODABLE)),
        # no bucket where one must be: which one the service reads is not a name (red team 30)
        ("///victim/secret", ("dst", UNDECODABLE)),
        ("//x/victim/secret", ("dst", UNDECODABLE)),
        ("%2F/victim/secret", ("dst", UNDECODABLE)),
        ({"Bucket": "/", "Key": "/victim/secret"}, ("dst", UNDECODABLE)),
        ({"Bucket": "", "Key": "victim/secret"}, ("dst", UNDECODABLE)),
    ],
)
def test_copy_source_names_the_source_bucket(copy_source: Any, expected: tuple[str, ...]) -> None:
    # GIVEN a CopyObject call into bucket dst with this CopySource
    params = {"Bucket": "dst", "Key": "k", "CopySource": copy_source}
    # WHEN its resources are read
    found = named("s3", "CopyObject", params)
    # THEN the destination and the source bucket are both resources (or undecodable)
    assert found == expected


def test_dynamodb_tables_of_single_batch_and_transaction_calls() -> None:
    # GIVEN single-table, batch and transaction calls
    get = {"TableName": "orders", "Key": {"k": {"S": "1"}}}
    batch: dict[str, Any] = {"RequestItems": {"b": [{"PutRequest": {"Item": {}}}], "a": []}}
    transact = {
        "TransactItems": [
            {"Put": {"TableName": "t2", "Item": {}}},
            {"ConditionCheck": {"TableName": "t1", "Key": {}, "ConditionExpression": "x"}},
            {"Update": {"TableName": "t2", "Key": {}, "UpdateExpression": "y"}},
        ]
    }
    bad = {"TransactItems": [{"Put": {"TableName": Sly("t1"), "Item": {}}}]}
    # WHEN their resources are read
    # THEN every table is a resource, sorted and once; a subclass table name is undecodable
    assert named("dynamodb", "GetItem", get) == ("orders",)
    assert named("dynamodb", "BatchWriteItem", batch) == ("a", "b")
    assert named("dynamodb", "TransactWriteItems", transact) == ("t1", "t2")
    assert named("dynamodb", "TransactWriteItems", bad) == (UNDECODABLE,)


def test_normal_forms_of_queues_topics_functions_and_other_arns() -> None:
    # GIVEN calls naming resources by URL, ARN, partial ARN or name
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
    topic = "arn:aws:sns:us-east-1:123456789012:alerts"
    function = "arn:aws:lambda:us-east-1:123456789012:function:worker:live"
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
    # WHEN their resources are read
    # THEN queues, topics and functions keep their short names; other ARNs stay whole
    assert named("sqs", "SendMessage", {"QueueUrl": queue, "MessageBody": "m"}) == ("jobs",)
    assert named("sns", "Publish", {"TopicArn": topic, "Message": "m"}) == ("alerts",)
    assert named("sns", "Publish", {"TargetArn": topic + "x", "Message": "m"}) == ("alertsx",)
    assert named("lambda", "Invoke", {"FunctionName": function}) == ("worker",)
    assert named("lambda", "Invoke", {"FunctionName": "worker:live"}) == ("worker",)
    # AND a function name Lambda would not read as one name is undecodable (red team 30)
    twice = "arn:aws:lambda:us-east-1:123456789012:function:worker:function:victim"
    assert named("lambda", "Invoke", {"FunctionName": twice}) == (UNDECODABLE,)
    assert named("lambda", "Invoke", {"FunctionName": "worker:live:x"}) == (UNDECODABLE,)
    assert named("lambda", "Invoke", {"FunctionName": "worker:"}) == (UNDECODABLE,)
    assert named(
        "lambda",
        "CreateEventSourceMapping",
        {"EventSourceArn": "arn:aws:sqs:us-east-1:1:q", "FunctionName": "worker"},
    ) == ("arn:aws:sqs:us-east-1:1:q", "worker")
    assert named("secretsmanager", "GetSecretValue", {"SecretId": "db"}) == ("db",)
    assert named("secretsmanager", "GetSecretValue", {"SecretId": secret}) == (secret,)
    assert named("stepfunctions", "StartExecution", {"stateMachineArn": ARN, "name": "x"}) == (ARN,)
    assert named("ssm", "GetParameter", {"Name": "/app/db"}) == ("/app/db",)
    assert named("ssm", "GetParameters", {"Names": ["/a", "/b", "/a"]}) == ("/a", "/b")
    assert named("kms", "Encrypt", {"KeyId": "alias/app", "Plaintext": b"x"}) == ("alias/app",)
    assert named("sts", "GetCallerIdentity", {}) == (None,)
    assert named("sns", "CreateTopic", {"Name": "alerts"}) == (None,)


def test_only_exact_builtin_types_are_read() -> None:
    # GIVEN parameters whose resource values or keys are not exact built-ins
    subclass_bucket = {"Bucket": Sly("victim"), "Key": "k"}
    subclass_key = {Sly("Bucket"): "victim", "Key": "k"}
    not_a_dict = UserDict({"Bucket": "b", "Key": "k"})
    names_not_strings = {"Names": ["/a", Sly("/b")]}
    # WHEN their resources are read
    # THEN each is undecodable: the subclass's own answers are never asked
    assert named("s3", "PutObject", subclass_bucket) == (UNDECODABLE,)
    assert named("s3", "PutObject", subclass_key) == (UNDECODABLE,)
    assert call_resources("s3", "PutObject", not_a_dict, model("s3")) == (UNDECODABLE,)
    assert named("ssm", "GetParameters", names_not_strings) == ("/a", UNDECODABLE)
    assert resources("s3", {"Bucket": Sly("b")}) == (UNDECODABLE,)


def test_without_a_model_parameter_names_decide_and_existing_forms_hold() -> None:
    # GIVEN parameters only (no client at hand)
    # WHEN resources() reads them
    # THEN the same names and normal forms apply, and empty names name nothing
    assert resources("s3", {"Bucket": "b", "CopySource": "src/k"}) == ("b", "src")
    assert resources("sns", {"TopicArn": "arn:aws:sns:r:1:alerts"}) == ("alerts",)
    assert resources("sqs", {"QueueName": "jobs"}) == ("jobs",)
    assert resources("lambda", {"FunctionName": "123456789012:function:f"}) == ("f",)
    assert resources("dynamodb", {"TableName": ""}) == (None,)
    assert resources("s3", {"Bucket": ""}) == (None,)


def test_the_interposer_reads_no_global_and_keeps_no_mutable_state() -> None:
    """GIVEN every function on the botocore interposer's path (the wrapper made at the patch too)
    WHEN their bytecode, closures and defaults are inspected
    THEN none looks up a global or a builtin, none has a closure cell, and no default is a
    container anyone could write to (no cache): rebinding the module's globals or the builtins,
    or writing into anything reachable from the wrapper, cannot change a decision.
    """
    import dis

    import botocore.client

    wrapper = aws_calls._wrapper_for(botocore.client.BaseClient._make_api_call, ())
    functions = [*aws_calls._interposer_functions(), wrapper]
    codes = aws_calls._codes()
    assert wrapper.__code__ in codes
    lookups = {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_CLOSURE"}
    for code in codes:
        used = [i.argval for i in dis.get_instructions(code) if i.opname in lookups]
        assert used == [], (code.co_name, used)
        assert code.co_freevars == () and code.co_cellvars == (), code.co_name
    mutable = (dict, list, set, bytearray)
    for function in functions:
        assert function.__closure__ is None and function.__kwdefaults__ is None
        for value in function.__defaults__ or ():
            assert not isinstance(value, mutable), (function.__qualname__, value)
    assert not hasattr(aws_calls, "_MEMBERS")


def test_which_members_name_a_resource_is_read_from_the_model_at_each_call() -> None:
    """GIVEN a real S3 client's operation model
    WHEN the interposer plans a call, and the same operation model later says otherwise (an
    edit of botocore's own object, which botocore would send with too)
    THEN the plan follows the model it is given each time: nothing of a former answer is kept.
    """
    s3 = model("s3")
    operation = s3.operation_model("PutObject")
    params = {"Bucket": "b", "Key": "k"}
    assert aws_calls._plan("s3", params, operation, False) == (params, (("Bucket", "name"),))
    members = dict(operation.input_shape.members)
    try:
        del operation.input_shape.members["Bucket"]
        assert aws_calls._plan("s3", params, operation, False) == (params, ())
    finally:
        operation.input_shape.members.clear()
        operation.input_shape.members.update(members)


def test_snapshot_copies_containers_and_keeps_everything_else() -> None:
    # GIVEN parameters with nested containers, a shared sub-list and a file object
    body = io.BytesIO(b"data")
    shared = ["x"]
    params: dict[str, Any] = {
        "Bucket": "b",
        "Body": body,
        "Tags": [{"Key": "k"}],
        "A": shared,
        "B": shared,
    }
    # WHEN they are snapshotted and the caller then changes its own dict and lists
    copy = snapshot(params)
    params["Bucket"] = "victim"
    params["Tags"][0]["Key"] = "changed"
    shared.append("y")
    # THEN the copy is unchanged, shares its own sub-list once, and the body is the same object
    assert copy == {"Bucket": "b", "Body": body, "Tags": [{"Key": "k"}], "A": ["x"], "B": ["x"]}
    assert copy["A"] is copy["B"] and copy["Body"] is body


def test_snapshot_is_linear_on_shared_and_cyclic_structures() -> None:
    # GIVEN a 60-level structure where each level holds the next twice (2**60 paths), and a cycle
    node: list[Any] = ["leaf"]
    for _ in range(60):
        node = [node, node]
    cycle: dict[str, Any] = {"Bucket": "b"}
    cycle["self"] = cycle
    # WHEN both are snapshotted
    copy = snapshot(node)
    cyclic = snapshot(cycle)
    # THEN the copy mirrors the sharing (one copy per original container) and the cycle
    assert copy is not node and copy[0] is copy[1]
    assert cyclic["self"] is cyclic and cyclic is not cycle


def test_snapshot_depth_is_bounded_and_other_containers_are_kept() -> None:
    # GIVEN a 150-level nesting and containers of other types
    deep: list[Any] = []
    innermost = deep
    levels = [deep]
    for _ in range(150):
        inner: list[Any] = []
        innermost.append(inner)
        innermost = inner
        levels.append(inner)
    other = UserDict({"k": "v"})
    # WHEN they are snapshotted
    copy = snapshot({"Deep": deep, "Other": other})
    # THEN levels up to the bound are copied, deeper ones kept, other containers kept as is
    node = copy["Deep"]
    copied = 0
    while node is not levels[copied]:
        node = node[0]
        copied += 1
    assert 90 <= copied < 150
    assert copy["Other"] is other


@pytest.fixture
def s3_recorded() -> Iterator[tuple[Any, list[tuple[str, tuple[str | None, ...]]]]]:
    """An S3 client on moto whose calls go through snapshot + call_resources, recorded."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        calls: list[tuple[str, tuple[str | None, ...]]] = []
        bound = type(client)._make_api_call.__get__(client)
        service_model = client.meta.service_model

        def recorded(operation: str, api_params: dict[str, Any]) -> Any:
            frozen = snapshot(api_params)
            calls.append((operation, call_resources("s3", operation, frozen, service_model)))
            return bound(operation, frozen)  # the copy is what is sent, as in the interposer

        client._make_api_call = recorded
        yield client, calls


def test_s3transfer_upload_download_and_copy_name_their_buckets(
    s3_recorded: tuple[Any, list[tuple[str, tuple[str | None, ...]]]], tmp_path: Path
) -> None:
    # GIVEN two buckets on moto and a file larger than the multipart threshold
    from boto3.s3.transfer import TransferConfig

    client, calls = s3_recorded
    client.create_bucket(Bucket="src")
    client.create_bucket(Bucket="dst")
    data = bytes(range(256)) * (6 * 1024 * 1024 // 256 + 1)
    (tmp_path / "big.bin").write_bytes(data)
    config = TransferConfig(
        multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024
    )
    calls.clear()
    # WHEN s3transfer uploads it (multipart), downloads it, and copies it between buckets
    client.upload_file(str(tmp_path / "big.bin"), "src", "big.bin", Config=config)
    client.download_file("src", "big.bin", str(tmp_path / "back.bin"))
    client.copy({"Bucket": "src", "Key": "big.bin"}, "dst", "copy.bin")
    by_operation: dict[str, set[tuple[str | None, ...]]] = {}
    for operation, found in calls:
        by_operation.setdefault(operation, set()).add(found)
    # THEN the bytes round-trip through the snapshot (file bodies kept by reference), and each
    # call named its buckets: the copy both the destination and the source
    assert (tmp_path / "back.bin").read_bytes() == data
    # (moto's checksum of a multipart copy is off, so the copy is checked by size)
    assert client.head_object(Bucket="dst", Key="copy.bin")["ContentLength"] == len(data)
    assert by_operation["CreateMultipartUpload"] == {("src",)}
    assert by_operation["UploadPart"] == {("src",)}
    assert by_operation["CompleteMultipartUpload"] == {("src",)}
    assert by_operation["GetObject"] == {("src",)}
    assert by_operation["HeadObject"] == {("src",)}
    copies = by_operation.get("CopyObject", set()) | by_operation.get("UploadPartCopy", set())
    assert copies == {("dst", "src")}


def client(service: str) -> Any:
    """An offline botocore client (no request is made)."""
    return boto3.client(
        service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )


def bindings() -> tuple[Any, ...]:
    """What the wrapper holds of botocore's: its classes and the ``__dict__`` getters."""
    import botocore.client
    import botocore.model

    return aws_calls._botocore_bindings(botocore.client, botocore.model)


def decide(target: Any, operation: Any, params: Any) -> tuple[list[tuple[Any, ...]], Any]:
    """Run the interposer's decision with a recorder as its audit function."""
    events: list[tuple[Any, ...]] = []
    sent = aws_calls._decide(
        target, operation, params, bindings(), _audit=lambda *args: events.append(args)
    )
    return events, sent


def test_audit_raises_one_event_per_resource_on_a_copy() -> None:
    # GIVEN a CopyObject call of a real S3 client
    params = {"Bucket": "dst", "Key": "k", "CopySource": {"Bucket": "src", "Key": "k"}}
    # WHEN it is decided
    events, sent = decide(client("s3"), "CopyObject", params)
    # THEN there is one event per bucket, and what is to be sent is an equal, separate copy
    assert events == [
        ("sandbox.aws", "s3", "CopyObject", "dst"),
        ("sandbox.aws", "s3", "CopyObject", "src"),
    ]
    assert sent == params and sent is not params and sent["CopySource"] is not params["CopySource"]


def test_audit_of_undecodable_calls() -> None:
    # GIVEN parameters that are not a dict, an operation name that is not an exact str, an
    # operation the model does not have, and a key that is not an exact str
    odd = UserDict({"Bucket": "b"})

    class Op(str):
        pass

    s3 = client("s3")
    # WHEN each is decided
    odd_events, sent = decide(s3, "PutObject", odd)
    op_events, _ = decide(s3, Op("PutObject"), {"Bucket": "b"})
    missing_events, _ = decide(s3, "NoSuchOperation", {"Bucket": "b"})
    key_events, _ = decide(s3, "PutObject", {Sly("Bucket"): "b", "Key": "k"})
    # THEN the events carry the undecodable marker, and the odd mapping is passed on as it is
    assert odd_events == [("sandbox.aws", "s3", "PutObject", UNDECODABLE)]
    assert op_events == [("sandbox.aws", "s3", UNDECODABLE, "b")]
    assert missing_events == [("sandbox.aws", "s3", "NoSuchOperation", UNDECODABLE)]
    assert key_events == [("sandbox.aws", "s3", "PutObject", UNDECODABLE)]
    assert sent is odd


def test_a_client_whose_meta_or_model_is_not_botocores_is_undecodable() -> None:
    """GIVEN S3 clients whose ``meta`` is an object of the function's, whose service model is
    a ``ServiceModel`` subclass, or which are no botocore client at all
    WHEN a GetObject call of each is decided
    THEN the service is undecodable (no profile allows it): nothing of those objects is asked.
    """
    import botocore.model

    asked: list[str] = []

    class Meta:
        @property
        def service_model(self) -> Any:
            asked.append("service_model")
            return model("sts")

    class Sly(botocore.model.ServiceModel):  # type: ignore[misc]
        def operation_model(self, name: str) -> Any:
            asked.append("operation_model")
            return super().operation_model(name)

    lying_meta = client("s3")
    lying_meta.meta = Meta()
    subclassed = client("s3")
    genuine = subclassed.meta.service_model
    sly = Sly.__new__(Sly)
    sly.__dict__.update(genuine.__dict__)
    vars(subclassed.meta)["_service_model"] = sly
    params = {"Bucket": "victim", "Key": "k"}
    # WHEN / THEN
    for target in (lying_meta, subclassed, object()):
        events, _ = decide(target, "GetObject", params)
        assert events == [("sandbox.aws", UNDECODABLE, "GetObject", "victim")], target
    assert asked == []


def test_the_clients_meta_is_found_without_comparing_anyone_elses_key() -> None:
    """GIVEN an S3 client whose ``meta`` was put back under an equal str that is not the
    interned name, and one whose ``__dict__`` also holds a planted key with the same hash that
    claims to equal every name
    WHEN a GetObject call of each is decided
    THEN both are decided on botocore's own meta and model, and the planted key's ``__eq__``
    never runs.
    """
    compared: list[object] = []
    armed: list[bool] = []

    class Planted(str):
        def __eq__(self, other: object) -> bool:
            if armed:  # (unarmed while it is put in: the real "meta" key stays beside it)
                compared.append(other)
            return bool(armed)

        def __hash__(self) -> int:
            return hash("meta")

    rebuilt = client("s3")
    meta = rebuilt.meta
    del rebuilt.meta
    vars(rebuilt)["".join(["me", "ta"])] = meta
    planted = client("s3")
    vars(planted)[Planted("x")] = object()
    armed.append(True)
    params = {"Bucket": "victim", "Key": "k"}
    for target in (rebuilt, planted):
        events, _ = decide(target, "GetObject", params)
        assert events == [("sandbox.aws", "s3", "GetObject", "victim")]
    assert compared == []


def test_snapshot_keeps_a_dict_with_a_key_that_is_not_a_str() -> None:
    """GIVEN parameters holding a dict with a ``str`` subclass key (its hash and comparison
    are code of the caller's)
    WHEN they are snapshotted
    THEN that dict is kept as it is (storing its key would run that code), the rest is copied.
    """
    inner = {Sly("a"): 1}
    params = {"Bucket": "b", "Metadata": inner, "Tags": [{"Key": "k"}]}
    copy = snapshot(params)
    assert copy is not params and copy["Metadata"] is inner
    assert copy["Tags"] is not params["Tags"]
    assert snapshot(inner) is inner


def test_audit_refuses_a_call_whose_copy_changed_during_its_events() -> None:
    # GIVEN an event function that reaches into the deciding frame and rewrites the copy: its
    # bucket, or a name added to it
    import sys

    from sandbox.errors import PermissionViolation

    def rewrite(*args: Any) -> None:
        sys._getframe(1).f_locals["frozen"]["Bucket"] = "victim"

    def add(*args: Any) -> None:
        sys._getframe(1).f_locals["frozen"]["ExpectedBucketOwner"] = "x"

    # WHEN a call is decided
    # THEN it is refused as a sandbox violation
    for change in (rewrite, add):
        with pytest.raises(PermissionViolation, match="changed while audited"):
            aws_calls._decide(
                client("s3"),
                "PutObject",
                {"Bucket": "allowed", "Key": "k"},
                bindings(),
                _audit=change,
            )
