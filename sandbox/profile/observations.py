"""Read learn-mode observation records from files, folders, CloudWatch Logs and S3.

Sources (``--from``):

===========================  ==================================================================
``PATH``                     a file of JSON lines (any text: lines may carry a log prefix)
``DIR``                      every regular file below it, in sorted order
``cloudwatch``               ``/aws/lambda/<function>`` through ``FilterLogEvents`` (paginated),
                             or aggregated server-side by Logs Insights (``insights=True``)
``cloudwatch:GROUP``         another log group
``s3://bucket/prefix``       every object under the prefix (``ListObjectsV2`` + ``GetObject``)
===========================  ==================================================================

Every source is read incrementally: a cursor in ``profile.learning.sources`` remembers what was
read (a file's size and a digest of what was read; CloudWatch's last event timestamp and the
event ids seen at that timestamp; S3's keys and ETags), so re-running a build reads only what is
new and never counts an observation twice.

A line is used when it holds a JSON object (after any prefix such as the Lambda runtime's
``timestamp<TAB>request-id<TAB>LEVEL<TAB>``) whose ``type`` is ``sandbox.observation`` or
``sandbox.invocation``. Anything else is skipped and counted by reason, never a crash:

================  ==================================================================
``foreign``       not a sandbox record (other log lines, start records, findings)
``corrupt``       a sandbox record cut short or not valid JSON
``invalid``       valid JSON but a field is missing or has the wrong type
``newer-schema``  ``"v"`` greater than this reader understands
``other-function``  ``function`` is not the one being built
================  ==================================================================

boto3 is imported only for the CloudWatch and S3 sources.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError
from sandbox.runtime.categories import ACTIONS

SUPPORTED_VERSION = 2  # 2 adds the "mac" field (see sandbox.runtime.recorder)
OBSERVATION = "sandbox.observation"
INVOCATION = "sandbox.invocation"
PHASES = ("init", "invoke")
SKIP_REASONS = (
    "foreign",
    "corrupt",
    "invalid",
    "newer-schema",
    "other-function",
    "unauthenticated",
    "forged-start",
)
_DECODER = json.JSONDecoder()
# Whether records without a mac are read by default (never, in the product: tests that write
# records by hand to exercise other parts of the builder switch it on for themselves).
TRUST_UNSIGNED = False

Warn = Callable[[str], None]


class SourceError(SandboxError, ValueError):
    """A source cannot be read at all (missing file, unknown scheme, AWS error)."""


@dataclass(frozen=True, order=True)
class Observation:
    """One novel access seen by one execution environment (a normalised, symbolic target)."""

    env: str
    invocation: int
    phase: str
    category: str
    action: str
    target: str
    argv: tuple[str, ...] | None = None
    time: str = ""
    function: str = ""

    def key(self) -> tuple[str, int, str, str, str, str, tuple[str, ...] | None]:
        """Identity for deduplication: the same record read twice is one observation.

        ``time`` and ``request_id`` are left out on purpose: the recorder writes an access once
        per environment, so ``(env, invocation, phase, category, action, target, argv)``
        identifies the record, whichever copy (file, stdout capture, CloudWatch) it came from.
        """
        return (
            self.env,
            self.invocation,
            self.phase,
            self.category,
            self.action,
            self.target,
            self.argv,
        )


# A run record (``first_invocation``) covers at most this many invocations: the runtime writes
# runs of at most 64; anything longer is not the sandbox's (and would cost memory to expand).
MAX_RUN = 4096


@dataclass(frozen=True, order=True)
class InvocationEnd:
    """The end of one invocation in one environment, with its count of novel observations.

    A run record of the runtime (quiet invocations ``first``..``invocation``, see
    :mod:`sandbox.runtime.recorder`) is read as one end per invocation: the first at
    ``first_time``, the last at ``time``, the ones between at ``first_time`` (times are only
    ever joined by min and max, so the answer is the one the single records would give).
    """

    env: str
    invocation: int
    time: str = ""
    novel: int = 0
    function: str = ""
    first: int = 0  # a run's first invocation (0: a single end)
    first_time: str = ""

    def key(self) -> tuple[str, int]:
        return (self.env, self.invocation)

    def ends(self) -> list[InvocationEnd]:
        """The single ends this record stands for (itself, or one per invocation of a run)."""
        if not self.first or self.first >= self.invocation:
            return [self]
        return [
            InvocationEnd(
                self.env,
                number,
                self.time if number == self.invocation else self.first_time,
                0,
                self.function,
            )
            for number in range(self.first, self.invocation + 1)
        ]


@dataclass
class ObservationSet:
    """Observations and invocation ends, deduplicated by key, with skip counts and cursors.

    Example
    -------
    >>> line = '{"type": "sandbox.invocation", "v": 1, "env": "e", "invocation": 1}'
    >>> ObservationSet().add_line(line, "f")  # no MAC: not the sandbox's, unless trusted
    'unauthenticated'
    >>> s = ObservationSet(allow_unauthenticated=True)
    >>> s.add_line(line, "f")
    'invocation'
    >>> len(s.invocations)
    1
    """

    function: str | None = None
    observations: dict[tuple[Any, ...], Observation] = field(default_factory=dict)
    invocations: dict[tuple[str, int], InvocationEnd] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    keys: dict[str, str] = field(default_factory=dict)  # env → observation key (hex)
    # Records without a mac (logs of older versions): None takes TRUST_UNSIGNED (False).
    allow_unauthenticated: bool | None = None
    _expect_start: dict[str, bool] = field(default_factory=dict)
    _stream: set[str] = field(default_factory=set)
    lines: int = 0
    cursors: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.allow_unauthenticated is None:
            self.allow_unauthenticated = TRUST_UNSIGNED

    def add(self, item: Observation | InvocationEnd) -> None:
        if isinstance(item, Observation):
            self.observations.setdefault(item.key(), item)
        else:
            for end in item.ends():
                known = self.invocations.get(end.key())
                if known is None or (end.time, end.novel) > (known.time, known.novel):
                    self.invocations[end.key()] = end

    def add_line(self, line: str, source: str) -> str:
        """Parse one line; returns ``observation``, ``invocation`` or the skip reason.

        Records are authenticated (see :mod:`sandbox.runtime.recorder`): an observation counts
        only when its ``mac`` verifies under the key its environment's ``sandbox.start`` record
        announced, and a start record counts only where it can be the sandbox's own — the first
        sandbox record after the platform's ``INIT_START`` line in a log stream (a line the
        function printed later cannot announce a key), or any start record in a file that holds
        no platform lines (an observations file only the sandbox writes).
        """
        self.lines += 1
        if "INIT_START" in line and "{" not in line:
            self._expect_start[source] = True
            self._stream.add(source)
            self.skipped["foreign"] += 1
            return "foreign"
        records = _records(line)
        if not records:
            kind = "corrupt" if "sandbox." in line else "foreign"
            self.skipped[kind] += 1
            return kind
        kind = "foreign"
        for data in records:  # each authenticated as exactly the object that is parsed
            if data.get("type") == "sandbox.start":
                self._start_record(data, source)
            kind, item = parse_record(data, self.function)
            if item is not None and not self._authentic(data, source):
                kind, item = "unauthenticated", None
            if item is None:
                self.skipped[kind] += 1
            else:
                self.add(item)
        return kind

    def _start_record(self, data: dict[str, Any], source: str) -> None:
        env, key = data.get("env"), data.get("observation_key")
        if not isinstance(env, str) or not isinstance(key, str):
            return
        if not self._expect_start.get(source, True):
            self.skipped["forged-start"] += 1
            return
        known = self.keys.get(env)
        if known is not None and known != key:
            self.skipped["forged-start"] += 1  # an environment has one key
            return
        self.keys[env] = key
        if source in self._stream:
            self._expect_start[source] = False  # the next one comes after the next INIT_START

    def _authentic(self, data: dict[str, Any], source: str) -> bool:
        mac = data.get("mac")
        if not isinstance(mac, str):
            return bool(self.allow_unauthenticated)
        key = self.keys.get(str(data.get("env")))
        if key is None:
            return False
        from sandbox.runtime.recorder import mac as compute_mac

        try:
            expected = compute_mac(bytes.fromhex(key), data)
        except ValueError:
            return False
        return hmac.compare_digest(expected, mac)

    def union(self, other: ObservationSet) -> ObservationSet:
        """The set union (commutative, associative, idempotent on the records)."""
        out = ObservationSet(function=self.function or other.function)
        for item in sorted(self.observations.values()) + sorted(other.observations.values()):
            out.add(item)
        for inv in sorted(self.invocations.values()) + sorted(other.invocations.values()):
            out.add(inv)
        out.skipped = self.skipped + other.skipped
        out.lines = self.lines + other.lines
        out.cursors = {**self.cursors, **other.cursors}
        return out

    def __len__(self) -> int:
        return len(self.observations)


# --------------------------------------------------------------------------- lines


def _records(line: str) -> list[dict[str, Any]]:
    """Every sandbox record in ``line`` (a top-level JSON object whose ``type`` is
    ``sandbox.*``), each decoded where it begins.

    The sandbox writes one record per line, but the function shares the stream: bytes it writes
    without a newline end up on the record's line, before it. So a line is not taken as one
    object: each object on it is decoded in turn (never looking inside one), and each record is
    authenticated as exactly that object — an unsigned one the function printed is refused on
    its own, and the genuine record after it still counts.
    """
    out: list[dict[str, Any]] = []
    at = line.find("{")
    while at >= 0:
        try:
            data, end = _DECODER.raw_decode(line, at)
        except (json.JSONDecodeError, RecursionError):
            end = at + 1
        else:
            kind = data.get("type") if isinstance(data, dict) else None
            if isinstance(kind, str) and kind.startswith("sandbox."):
                out.append(data)
        at = line.find("{", end)
    return out


def parse_line(
    line: str, function: str | None = None
) -> tuple[str, Observation | InvocationEnd | None]:
    """Decode the (first) sandbox record of one log line, or say why it is skipped.

    Example
    -------
    >>> parse_line("2026-01-01T00:00:00Z\\tabc\\tINFO\\tnot json")
    ('foreign', None)
    """
    records = _records(line)
    if not records:
        # A truncated sandbox record is corrupt; any other line is someone else's.
        return ("corrupt" if "sandbox." in line else "foreign"), None
    return parse_record(records[0], function)


def parse_record(
    data: dict[str, Any], function: str | None = None
) -> tuple[str, Observation | InvocationEnd | None]:
    """One decoded sandbox record → ``(kind, record)``, or ``(skip reason, None)``."""
    kind = data.get("type")
    if kind not in (OBSERVATION, INVOCATION):
        return "foreign", None
    version = data.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        return "invalid", None
    if version > SUPPORTED_VERSION:
        return "newer-schema", None
    record_function = data.get("function", "")
    if not isinstance(record_function, str):
        return "invalid", None
    if function is not None and record_function != function:
        return "other-function", None
    env = data.get("env")
    invocation = data.get("invocation", 0)
    time = data.get("time", "")
    if (
        not isinstance(env, str)
        or not env
        or not isinstance(invocation, int)
        or isinstance(invocation, bool)
        or not isinstance(time, str)
    ):
        return "invalid", None
    if kind == INVOCATION:
        novel = data.get("novel", 0)
        first = data.get("first_invocation", 0)
        first_time = data.get("first_time", time)
        if (
            not isinstance(novel, int)
            or isinstance(novel, bool)
            or not isinstance(first, int)
            or isinstance(first, bool)
            or not isinstance(first_time, str)
            or (
                "first_invocation" in data
                and not (1 <= first <= invocation and invocation - first < MAX_RUN)
            )
        ):
            return "invalid", None
        return "invocation", InvocationEnd(
            env, invocation, time, novel, record_function, first, first_time
        )
    category, action, target, phase = (
        data.get(k) for k in ("category", "action", "target", "phase")
    )
    argv = data.get("argv")
    if (
        not isinstance(category, str)
        or category not in ACTIONS
        or action not in ACTIONS[category]
        or not isinstance(target, str)
        or not target
        or phase not in PHASES
        or (
            argv is not None
            and (not isinstance(argv, list) or not all(isinstance(a, str) for a in argv))
        )
    ):
        return "invalid", None
    assert isinstance(action, str) and isinstance(phase, str)
    return "observation", Observation(
        env,
        invocation,
        phase,
        category,
        action,
        target,
        tuple(argv) if argv is not None else None,
        time,
        record_function,
    )


# --------------------------------------------------------------------------- sources


def stderr_warn(message: str) -> None:
    """Default warning channel: one line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def read_sources(
    sources: Iterable[str],
    *,
    function: str | None,
    cursors: Mapping[str, Any] | None = None,
    region: str | None = None,
    warn: Warn = stderr_warn,
    clients: Mapping[str, Any] | None = None,
    insights: bool = False,
    insights_bin: int = 60,
    allow_unauthenticated: bool | None = None,
) -> ObservationSet:
    """Read every source into one :class:`ObservationSet`, resuming from ``cursors``.

    Parameters
    ----------
    sources:
        Paths, folders, ``cloudwatch[:GROUP]`` or ``s3://bucket/prefix``.
    function:
        Keep only records of this function (``None``: keep all).
    cursors:
        ``profile.learning.sources`` of an earlier build; the new cursors are in the result.
    region:
        AWS region for the CloudWatch and S3 clients.
    clients:
        Ready boto3 clients by service name (``logs``, ``s3``): an endpoint or a named AWS
        profile, and tests.
    insights:
        Let CloudWatch Logs Insights aggregate the CloudWatch sources server-side
        (:mod:`sandbox.profile.insights`); where it cannot, warn and read every line.
    insights_bin:
        Minutes per bin of the Insights invocation counts.
    allow_unauthenticated:
        Also accept records that carry no ``mac`` (logs written by versions before it, or
        rebuilt by Logs Insights): only for logs whose integrity is known otherwise.

    Example
    -------
    >>> obs = read_sources(["observations.jsonl"], function="orders")  # doctest: +SKIP
    """
    cursors = dict(cursors or {})
    out = ObservationSet(function=function, allow_unauthenticated=allow_unauthenticated)
    # Keys announced by start records read in earlier builds (their lines are behind a cursor).
    known_keys = cursors.get("observation_keys")
    if isinstance(known_keys, dict):
        out.keys.update({k: v for k, v in known_keys.items() if isinstance(v, str)})
    # ...and which sources are log streams, and whether a start record may come next in each:
    # a build that resumes behind a cursor must not take a start record the function printed
    # after the sandbox's own for the sandbox's (the next one counts after an INIT_START).
    streams = cursors.get("log_streams")
    if isinstance(streams, dict):
        for name, expecting in streams.items():
            if isinstance(name, str) and isinstance(expecting, bool):
                out._stream.add(name)
                out._expect_start[name] = expecting
    for source in sources:
        before = Counter(out.skipped)
        if source == "cloudwatch" or source.startswith("cloudwatch:"):
            group = source.partition(":")[2] or f"/aws/lambda/{function}"
            client = _client("logs", region, clients)
            done = False
            if insights:
                done = _read_insights(
                    out, group, function, cursors, client, source, insights_bin, warn
                )
            if not done:
                _read_cloudwatch(out, group, cursors, client, source)
        elif source.startswith("s3://"):
            _read_s3(out, source, cursors, _client("s3", region, clients))
        else:
            path = Path(source)
            if path.is_dir():
                files = sorted(
                    p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                )
                for file in files:
                    _read_file(out, file, cursors)
            elif path.is_file():
                _read_file(out, path, cursors)
            else:
                raise SourceError(f"{source}: no such file or folder")
        out.cursors["observation_keys"] = dict(sorted(out.keys.items()))
        out.cursors["log_streams"] = {
            name: out._expect_start.get(name, False) for name in sorted(out._stream)
        }
        skipped = out.skipped - before
        for reason in SKIP_REASONS:
            if skipped[reason]:
                warn(f"{source}: skipped {skipped[reason]} line(s): {reason}")
    return out


def _client(service: str, region: str | None, clients: Mapping[str, Any] | None) -> Any:
    if clients and service in clients:
        return clients[service]
    try:
        import boto3
    except ImportError as exc:  # pragma: no cover - boto3 ships with the dev extras
        raise SourceError(f"reading from {service} needs boto3 (pip install boto3)") from exc
    return boto3.client(service, region_name=region) if region else boto3.client(service)


def _read_file(out: ObservationSet, path: Path, cursors: dict[str, Any]) -> None:
    """Read a file from where the last build stopped, if the part read then is unchanged."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror}") from exc
    key = file_cursor_key(path, data)
    offset = 0
    cursor = cursors.get(key)
    if isinstance(cursor, dict):
        done = cursor.get("offset")
        if (
            isinstance(done, int)
            and 0 < done <= len(data)
            and hashlib.sha256(data[:done]).hexdigest() == cursor.get("sha256")
        ):
            offset = done
    # Only whole lines count: a line still being written is read next time.
    end = data.rfind(b"\n") + 1 if not data.endswith(b"\n") else len(data)
    if end < offset:
        end = offset
    for line in _lines(data[offset:end]):
        out.add_line(line, str(path))
    cursor_out = {"offset": end, "sha256": hashlib.sha256(data[:end]).hexdigest()}
    out.cursors[key] = cursor_out
    cursors[key] = cursor_out


def file_cursor_key(path: Path, data: bytes) -> str:
    """A file's cursor key: its name and a digest of its first sandbox record, no machine path.

    A log is appended to, never rewritten at the front, so its first record (which names an
    execution environment and a time) identifies it wherever it lies; the profile's learning
    record therefore holds no absolute path.

    Example
    -------
    >>> file_cursor_key(Path("/any/dir/learn.log"), b'x\\n{"type":"sandbox.observation"}\\n')[:19]
    'file:learn.log#bdab'
    """
    first = b""
    for raw in data.splitlines():
        if b'"sandbox.observation"' in raw or b'"sandbox.invocation"' in raw:
            first = raw
            break
    if not first:
        first = data.split(b"\n", 1)[0]
    return f"file:{path.name}#{hashlib.sha256(first).hexdigest()[:16]}"


def functions_in(sources: Iterable[str]) -> list[str]:
    """The function names of the observation records in local ``sources`` (files, folders).

    Example
    -------
    >>> functions_in(["learn.log"])  # doctest: +SKIP
    ['orders']
    """
    names: set[str] = set()
    for source in sources:
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            files = [path]
        else:
            raise SourceError(f"{source}: no such file or folder")
        for file in files:
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise SourceError(f"{file}: cannot read: {exc.strerror}") from exc
            for line in _lines(data):
                _kind, item = parse_line(line)
                if item is not None and item.function:
                    names.add(item.function)
    return sorted(names)


def _lines(data: bytes) -> Iterator[str]:
    for raw in data.splitlines():
        if raw.strip():
            yield raw.decode("utf-8", "replace")


def _read_cloudwatch(
    out: ObservationSet, group: str, cursors: dict[str, Any], client: Any, source: str
) -> None:
    """FilterLogEvents from the cursor's timestamp on, skipping event ids already read there."""
    key = f"cloudwatch:{group}"
    cursor = cursors.get(key) if isinstance(cursors.get(key), dict) else {}
    assert isinstance(cursor, dict)
    last_ts = int(cursor.get("timestamp", 0) or 0)
    seen_at_last = set(cursor.get("ids", []))
    kwargs: dict[str, Any] = {"logGroupName": group, "interleaved": True}
    if last_ts:
        kwargs["startTime"] = last_ts
    max_ts, ids_at_max = last_ts, set(seen_at_last)
    try:
        while True:
            page = client.filter_log_events(**kwargs)
            for event in page.get("events", []):
                ts = int(event.get("timestamp", 0))
                event_id = str(event.get("eventId", ""))
                if ts < last_ts or (ts == last_ts and event_id in seen_at_last):
                    continue
                # One authentication context per log stream (one execution environment).
                stream = f"{source}#{event.get('logStreamName', '')}"
                for line in str(event.get("message", "")).splitlines():
                    if line.strip():
                        out.add_line(line, stream)
                if ts > max_ts:
                    max_ts, ids_at_max = ts, {event_id}
                elif ts == max_ts:
                    ids_at_max.add(event_id)
            token = page.get("nextToken")
            if not token:
                break
            kwargs["nextToken"] = token
    except Exception as exc:
        if isinstance(exc, SourceError):
            raise
        raise SourceError(f"{source}: {exc}") from exc
    cursor_out = {"timestamp": max_ts, "ids": sorted(ids_at_max)}
    out.cursors[key] = cursor_out
    cursors[key] = cursor_out


def _read_insights(
    out: ObservationSet,
    group: str,
    function: str | None,
    cursors: dict[str, Any],
    client: Any,
    source: str,
    bin_minutes: int,
    warn: Warn,
) -> bool:
    """Read through Logs Insights; ``False`` (after a warning) when it cannot answer."""
    from sandbox.profile.insights import InsightsUnavailable, read_insights

    if not function:
        warn(f"{source}: Logs Insights needs the function name; reading every line instead")
        return False
    key = f"insights:{group}"
    done = cursors.get(key) if isinstance(cursors.get(key), dict) else {}
    lines_cursor = cursors.get(f"cloudwatch:{group}")
    assert isinstance(done, dict)
    start = int(done.get("end", -1)) + 1
    if isinstance(lines_cursor, dict) and lines_cursor.get("timestamp"):
        start = max(start, int(lines_cursor["timestamp"]) // 1000 + 1)
    try:
        records, end = read_insights(client, group, function, start=start, bin_minutes=bin_minutes)
    except InsightsUnavailable as exc:
        warn(f"{source}: Logs Insights: {exc}; reading every line with FilterLogEvents instead")
        return False
    for record in records:
        out.add_line(json.dumps(record), source)
    # Both cursors move: a later build, with or without Insights, starts after this second.
    for name, cursor in (
        (key, {"end": end}),
        (f"cloudwatch:{group}", {"timestamp": end * 1000 + 999, "ids": []}),
    ):
        out.cursors[name] = cursor
        cursors[name] = cursor
    return True


def _read_s3(out: ObservationSet, url: str, cursors: dict[str, Any], client: Any) -> None:
    """Every object under the prefix not read before (by key and ETag), in key order."""
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise SourceError(f"{url}: expected s3://bucket/prefix")
    key = f"s3:{bucket}/{prefix}"
    cursor = cursors.get(key) if isinstance(cursors.get(key), dict) else {}
    assert isinstance(cursor, dict)
    read: dict[str, str] = dict(cursor.get("keys", {}))
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    try:
        while True:
            page = client.list_objects_v2(**kwargs)
            for item in page.get("Contents", []):
                name, etag = item["Key"], str(item.get("ETag", "")).strip('"')
                if read.get(name) == etag:
                    continue
                body = client.get_object(Bucket=bucket, Key=name)["Body"].read()
                for line in _lines(body):
                    out.add_line(line, f"s3://{bucket}/{name}")
                read[name] = etag
            if not page.get("IsTruncated"):
                break
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
    except Exception as exc:
        if isinstance(exc, SourceError):
            raise
        raise SourceError(f"{url}: {exc}") from exc
    cursor_out = {"keys": dict(sorted(read.items()))}
    out.cursors[key] = cursor_out
    cursors[key] = cursor_out
