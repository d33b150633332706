"""Realistic functions learn on a few benign events, then pass 20 different ones under enforce.

Each function in ``tests/e2e/functions/`` runs through the real awslambdaric and the layer's
wrapper (:func:`sandbox.local.run_function`), against loopback services: a moto server for S3
and DynamoDB, a webhook receiver and an "internal" service (the SSRF target). For each:

1. learn on at most 10 benign events, build the profile, compile it;
2. run 20 *different* benign events in mode ``off``, then under ``enforce`` (fresh outputs each
   time): zero findings, the same responses and the same side effects (S3 objects, DynamoDB
   items, webhook deliveries) — a block the function's own code swallows shows up there;
3. run its attack events under ``enforce``: each is blocked (a finding for that invocation),
   and its side effect did not happen.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sandbox.local import run_function
from sandbox.local.runner import RunResult
from sandbox.profile.build import build_profile

pytestmark = pytest.mark.e2e
FUNCTIONS = Path(__file__).parent / "functions"
REGION = "us-east-1"


# --------------------------------------------------------------------------- services


class _Recorder(BaseHTTPRequestHandler):
    """A webhook receiver: remembers every POST (path, body, signature)."""

    received: list[tuple[str, str, str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        type(self).received.append((self.path, body, self.headers.get("X-Signature", "")))
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        self.do_POST()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Internal(_Recorder):
    received: list[tuple[str, str, str]] = []


@dataclass
class Services:
    moto: int
    webhook: int
    internal: int
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        import boto3

        if service not in self.clients:
            self.clients[service] = boto3.client(
                service,
                endpoint_url=f"http://127.0.0.1:{self.moto}",
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self.clients[service]

    def aws_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": f"http://localhost:{self.moto}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "PYTHONDONTWRITEBYTECODE": "1",
        }


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    webhook, internal = _serve(_Recorder), _serve(_Internal)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        yield Services(
            moto=moto.get_host_and_port()[1],
            webhook=webhook.server_address[1],
            internal=internal.server_address[1],
        )
    finally:
        webhook.shutdown()
        internal.shutdown()
        moto.stop()


# --------------------------------------------------------------------------- specs


@dataclass
class Spec:
    """One realistic function: its events, environment, resources and side effects."""

    name: str
    learn: Callable[[Context], list[dict[str, Any]]]
    benign: Callable[[Context], list[dict[str, Any]]]
    attacks: Callable[[Context], list[dict[str, Any]]]
    env: Callable[[Context], dict[str, str]] = lambda ctx: {}
    setup: Callable[[Context], None] = lambda ctx: None
    reset: Callable[[Context], None] = lambda ctx: None
    effects: Callable[[Context], Any] = lambda ctx: None
    # The attack's own side effect, which must not exist after the enforce run.
    damage: Callable[[Context], bool] = lambda ctx: False


@dataclass
class Context:
    """What a spec needs: services, the function's code and temp dirs."""

    services: Services
    code: Path
    tmp: Path


def _bucket_objects(ctx: Context, bucket: str) -> dict[str, str]:
    s3 = ctx.services.client("s3")
    out = {}
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        out[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
    return out


def _empty_bucket(ctx: Context, bucket: str) -> None:
    s3 = ctx.services.client("s3")
    for key in _bucket_objects(ctx, bucket):
        s3.delete_object(Bucket=bucket, Key=key)


def _make_bucket(ctx: Context, bucket: str) -> None:
    s3 = ctx.services.client("s3")
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)


# S3 → /tmp → S3 -------------------------------------------------------------------------

_S3_NAMES_LEARN = ["sales-q1.csv", "inventory.csv", "returns_2026.csv", "sales-q2.csv"]
_S3_NAMES_RUN = [
    *(f"orders-{n}.csv" for n in ("eu", "us", "apac", "latam", "africa")),
    *(f"batch{n}.csv" for n in (7, 12, 19, 33, 48)),
    "customers.csv",
    "suppliers.csv",
    "stock_levels.csv",
    "prices-v2.csv",
    "refunds.csv",
    "x.csv",
    "long_file_name_for_the_warehouse_export.csv",
    "A1.csv",
    "data.csv",
    "final-report.csv",
]


def _s3_event(key: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "s3": {"bucket": {"name": "pipeline-in"}, "object": {"key": key}},
            }
        ]
    }


def _s3_setup(ctx: Context) -> None:
    for bucket in ("pipeline-in", "pipeline-out"):
        _make_bucket(ctx, bucket)
    s3 = ctx.services.client("s3")
    for i, name in enumerate(_S3_NAMES_LEARN + _S3_NAMES_RUN):
        body = "\n".join(f"row {j} of {name}" for j in range(i % 5 + 1)) + "\n"
        s3.put_object(Bucket="pipeline-in", Key=f"incoming/{name}", Body=body.encode())
    s3.put_object(Bucket="pipeline-in", Key=_s3_attack_key(ctx), Body=b"pwned\n")


def _s3_attack_key(ctx: Context) -> str:
    return "incoming/" + os.path.relpath(ctx.code / "pwned.csv", ctx.tmp / "lambda-tmp")


S3_PIPELINE = Spec(
    name="s3_pipeline",
    learn=lambda ctx: [_s3_event(f"incoming/{n}") for n in _S3_NAMES_LEARN],
    benign=lambda ctx: [_s3_event(f"incoming/{n}") for n in _S3_NAMES_RUN],
    attacks=lambda ctx: [_s3_event(_s3_attack_key(ctx))],
    env=lambda ctx: {"OUTPUT_BUCKET": "pipeline-out"},
    setup=_s3_setup,
    reset=lambda ctx: _empty_bucket(ctx, "pipeline-out"),
    effects=lambda ctx: _bucket_objects(ctx, "pipeline-out"),
    damage=lambda ctx: (ctx.code / "pwned.csv").exists(),
)


# a temp-dir batch job with a subprocess and tarfile --------------------------------------


def _job(n: int, first: str, second: str) -> dict[str, Any]:
    return {
        "job": f"job-{n}",
        "inputs": [
            {"name": first, "text": "a\nb\n" * (n % 3 + 1)},
            {"name": second, "text": "c\n" * (n % 4 + 1)},
        ],
    }


_JOB_WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
]  # fmt: skip

BATCH_JOB = Spec(
    name="batch_job",
    learn=lambda ctx: [
        _job(1, "input-a.nml", "params-a.nml"),
        _job(2, "input-b.nml", "params-b.nml"),
        _job(3, "input-c.nml", "params-c.nml"),
    ],
    benign=lambda ctx: [
        _job(10 + i, f"{w}.nml", f"{w}-params.nml") for i, w in enumerate(_JOB_WORDS)
    ],
    attacks=lambda ctx: [_job(99, str(ctx.code / "pwned.nml"), "params-x.nml")],
    damage=lambda ctx: (ctx.code / "pwned.nml").exists(),
)


# a DynamoDB CRUD API with error paths ----------------------------------------------------


def _api(method: str, item: str | None, body: str | None = None, **query: str) -> dict[str, Any]:
    return {
        "httpMethod": method,
        "path": f"/items/{item or ''}",
        "pathParameters": {"id": item} if item else None,
        "queryStringParameters": query or None,
        "body": body,
        "requestContext": {"identity": {"sourceIp": "198.51.100.7", "userAgent": "curl/8.0"}},
    }


def _crud_learn(ctx: Context) -> list[dict[str, Any]]:
    return [
        _api("PUT", "item-1", json.dumps({"name": "first"})),
        _api("GET", "item-1"),
        _api("GET", "missing-1"),
        _api("PUT", "item-2", "{not json"),
        _api("PUT", "item-3", json.dumps({"nom": "x"})),
        _api("DELETE", "item-1"),
        _api("GET", None),
        _api("PATCH", "item-2"),
    ]


def _crud_benign(ctx: Context) -> list[dict[str, Any]]:
    events = []
    for i in range(5):
        events.append(_api("PUT", f"user-{100 + i}", json.dumps({"name": f"User {i}"})))
    for i in range(5):
        events.append(_api("GET", f"user-{100 + i}"))
    events += [
        _api("GET", "nobody-7"),
        _api("GET", "nobody-8"),
        _api("PUT", "user-200", "[broken"),
        _api("PUT", "user-201", json.dumps({"title": "no name"})),
        _api("DELETE", "user-100"),
        _api("DELETE", "user-101"),
        _api("GET", "user-100"),
        _api("POST", "user-102"),
        _api("HEAD", None),
        _api("PUT", "user-102", json.dumps({"name": "Renamed"})),
    ]
    return events


def _table_items(ctx: Context, table: str) -> list[Any]:
    items = ctx.services.client("dynamodb").scan(TableName=table)["Items"]
    return sorted(items, key=lambda i: json.dumps(i, sort_keys=True))


def _crud_setup(ctx: Context) -> None:
    dynamodb = ctx.services.client("dynamodb")
    for table in ("items", "secrets"):
        if table not in dynamodb.list_tables()["TableNames"]:
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
    dynamodb.put_item(TableName="secrets", Item={"id": {"S": "root"}, "name": {"S": "hunter2"}})


def _crud_reset(ctx: Context) -> None:
    dynamodb = ctx.services.client("dynamodb")
    for item in dynamodb.scan(TableName="items")["Items"]:
        dynamodb.delete_item(TableName="items", Key={"id": item["id"]})


CRUD_API = Spec(
    name="crud_api",
    learn=_crud_learn,
    benign=_crud_benign,
    attacks=lambda ctx: [_api("GET", "root", table="secrets")],
    env=lambda ctx: {"TABLE_NAME": "items"},
    setup=_crud_setup,
    reset=_crud_reset,
    effects=lambda ctx: _table_items(ctx, "items"),
)


# a webhook poster ------------------------------------------------------------------------

_TYPES_LEARN = ["order.created", "order.paid", "user.signup", "order.created"]
_TYPES_RUN = [
    "order.created", "order.paid", "order.shipped", "order.refunded", "user.signup",
    "user.deleted", "invoice.sent", "invoice.paid", "cart.abandoned", "review.posted",
] * 2  # fmt: skip


def _hook(kind: str, n: int, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "data": {"id": n, "amount": n * 3}, **extra}


def _deliveries(ctx: Context) -> list[tuple[str, str, str]]:
    return sorted(_Recorder.received)


WEBHOOK = Spec(
    name="webhook",
    learn=lambda ctx: [_hook(k, i) for i, k in enumerate(_TYPES_LEARN)],
    benign=lambda ctx: [_hook(k, 100 + i) for i, k in enumerate(_TYPES_RUN)],
    attacks=lambda ctx: [
        _hook(
            "order.created",
            1,
            callback_url=f"http://127.0.0.1:{ctx.services.internal}/latest/meta-data/",
        )
    ],
    env=lambda ctx: {"WEBHOOK_URL": f"http://localhost:{ctx.services.webhook}/hooks"},
    reset=lambda ctx: _Recorder.received.clear(),
    effects=_deliveries,
    damage=lambda ctx: bool(_Internal.received),
)


# an SQS batch report writer --------------------------------------------------------------


def _batch(group: str, rows: list[tuple[str, Any]], report: str | None = None) -> dict[str, Any]:
    records = []
    for i, (customer, amount) in enumerate(rows):
        body = json.dumps({"customer": customer, "amount": amount}) if customer else "oops"
        record: dict[str, Any] = {
            "messageId": f"{group}-m{i}",
            "eventSource": "aws:sqs",
            "body": body,
            "attributes": {"MessageGroupId": group},
        }
        if report and i == 0:
            record["messageAttributes"] = {"report": {"stringValue": report}}
        records.append(record)
    return {"Records": records}


def _sqs_learn(ctx: Context) -> list[dict[str, Any]]:
    return [
        _batch("batch-1001", [("ann", 5), ("bob", 7)]),
        _batch("batch-1002", [("cy", 1), ("", 0)]),
        _batch("batch-1003", [("dee", 2)]),
        _batch("batch-1004", [("eve", 9), ("fay", "x")]),
    ]


def _sqs_benign(ctx: Context) -> list[dict[str, Any]]:
    events = []
    for i in range(20):
        rows: list[tuple[str, Any]] = [(f"c{i}-{j}", i * 10 + j) for j in range(i % 3 + 1)]
        if i % 4 == 0:
            rows.append(("", 0))  # a bad record: reported in batchItemFailures
        events.append(_batch(f"batch-{2000 + i * 7}", rows))
    return events


SQS_REPORT = Spec(
    name="sqs_report",
    learn=_sqs_learn,
    benign=_sqs_benign,
    attacks=lambda ctx: [_batch("batch-9999", [("mal", 1)], report=str(ctx.code / "pwned.csv"))],
    env=lambda ctx: {"REPORT_BUCKET": "reports"},
    setup=lambda ctx: _make_bucket(ctx, "reports"),
    reset=lambda ctx: _empty_bucket(ctx, "reports"),
    effects=lambda ctx: _bucket_objects(ctx, "reports"),
    damage=lambda ctx: (ctx.code / "pwned.csv").exists(),
)


# a shell command per event ---------------------------------------------------------------

SHELL_PER_EVENT = Spec(
    name="shell_per_event",
    learn=lambda ctx: [
        {"id": i, "text": "x\n" * n} for n, i in enumerate(["ab12", "job-7", "q9z", "lines"], 1)
    ],
    benign=lambda ctx: [
        {"id": i, "text": "y\n" * (n % 5 + 1)}
        for n, i in enumerate(
            [
                "r1",
                "r2",
                "report_3",
                "job-42",
                "x",
                "Z9",
                "a.b",
                "id=7",
                "v1.2.3",
                "foo+bar",
                "k-1-2",
                "UPPER",
                "mixed_Case-9",
                "n0",
                "last",
                "t@home",
                "pct%20",
                "c,d",
                "e:f",
                "20261201",
            ]
        )
    ],
    attacks=lambda ctx: [
        {"id": "x;touch${IFS}pwned", "text": "1\n"},
        {"id": "x; touch pwned", "text": "1\n"},
        {"id": "$(touch pwned)", "text": "1\n"},
    ],
    damage=lambda ctx: any(p.name.startswith("pwned") for p in ctx.code.iterdir()),
)


# a plugin loader -------------------------------------------------------------------------

PLUGIN_LOADER = Spec(
    name="plugin_loader",
    learn=lambda ctx: [
        {"plugin": p, "text": f"Sample {i}"}
        for i, p in enumerate(["upper", "lower", "title", "upper", "reverse"])
    ],
    benign=lambda ctx: [
        {"plugin": p, "text": f" Text number {i} "}
        for i, p in enumerate(
            ["swap", "words", "chars", "strip", "upper", "lower", "title", "reverse"] * 2
            + ["chars", "words", "swap", "strip"]
        )
    ],
    attacks=lambda ctx: [{"plugin": "ctypes.util", "text": "x"}],
)

SPECS = [S3_PIPELINE, BATCH_JOB, CRUD_API, WEBHOOK, SQS_REPORT, SHELL_PER_EVENT, PLUGIN_LOADER]
# Functions that would block because of a runtime cause fixed separately: marked
# xfail(reason="runtime: <cause>") here until the runtime lands.
XFAIL: dict[str, str] = {}  # none since the runtime resolves dir_fd and import side effects


# --------------------------------------------------------------------------- the flow


def _findings(result: RunResult) -> list[dict[str, Any]]:
    return [
        json.loads(line[line.find("{") :])
        for line in result.log
        if '"type":"sandbox.finding"' in line
    ]


def _run(spec: Spec, ctx: Context, events: list[dict[str, Any]], mode: str, **kw: Any) -> RunResult:
    tmpdir = ctx.tmp / "lambda-tmp"
    tmpdir.mkdir(exist_ok=True)
    env = {**ctx.services.aws_env(), "TMPDIR": str(tmpdir), **spec.env(ctx)}
    return run_function(
        "app.handler",
        [json.dumps(e).encode() for e in events],
        code_dir=ctx.code,
        mode=mode,
        env=env,
        function_name=spec.name,
        region=REGION,
        **kw,
    )


def _outcomes(result: RunResult) -> list[Any]:
    return [r.json() if r.ok else ("error", r.error_type) for r in result.results]


@dataclass
class Learned:
    """A function learned once per module: its context, profile and compiled profile."""

    ctx: Context
    profile: Any
    compiled: Path


_LEARNED: dict[str, Learned] = {}


def _learned(spec: Spec, services: Services, factory: pytest.TempPathFactory) -> Learned:
    if spec.name in _LEARNED:
        return _LEARNED[spec.name]
    tmp = factory.mktemp(spec.name)
    code = tmp / "task"
    shutil.copytree(FUNCTIONS / spec.name, code)
    ctx = Context(services=services, code=code, tmp=tmp)
    spec.setup(ctx)
    learn = spec.learn(ctx)
    assert len(learn) <= 10
    log = tmp / "learn.log"
    learned = _run(spec, ctx, learn, "learn", log_file=log)
    assert learned.cold_starts == 1, learned.log[-20:]
    profile, _report = build_profile(spec.name, [str(log)], warn=lambda message: None)
    compiled = tmp / "compiled.json"
    compiled.write_text(json.dumps(profile.compile()))
    _LEARNED[spec.name] = Learned(ctx, profile, compiled)
    return _LEARNED[spec.name]


def _params(xfail: dict[str, str]) -> list[Any]:
    return [
        pytest.param(
            s,
            id=s.name,
            marks=[pytest.mark.xfail(reason=xfail[s.name], strict=False)]
            if s.name in xfail
            else [],
        )
        for s in SPECS
    ]


@pytest.mark.parametrize("spec", _params(XFAIL))
def test_enforce_after_learning_behaves_like_off(
    spec: Spec, services: Services, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # GIVEN the function learned on a few benign events (profile built and compiled)
    learned = _learned(spec, services, tmp_path_factory)
    ctx = learned.ctx
    benign = spec.benign(ctx)
    assert len(benign) == 20
    assert not {json.dumps(e, sort_keys=True) for e in spec.learn(ctx)} & {
        json.dumps(e, sort_keys=True) for e in benign
    }
    # WHEN 20 different benign events run in mode off, then under enforce (fresh outputs)
    spec.reset(ctx)
    off = _run(spec, ctx, benign, "off")
    off_effects = spec.effects(ctx)
    spec.reset(ctx)
    enforced = _run(spec, ctx, benign, "enforce", profile=learned.compiled)
    enforced_effects = spec.effects(ctx)
    # THEN enforce blocks nothing and behaves exactly as off: responses and side effects
    findings = _findings(enforced)
    assert findings == [], (
        learned.profile.to_json(),
        [(f["category"], f["action"], f["target"], f.get("argv"), f.get("site")) for f in findings],
    )
    assert _outcomes(enforced) == _outcomes(off)
    assert enforced_effects == off_effects
    assert enforced.cold_starts == 1


@pytest.mark.parametrize("spec", _params({}))
def test_attack_events_are_blocked(
    spec: Spec, services: Services, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # GIVEN the function learned on a few benign events
    learned = _learned(spec, services, tmp_path_factory)
    attacks = spec.attacks(learned.ctx)
    # WHEN its attack events run under enforce
    attacked = _run(spec, learned.ctx, attacks, "enforce", profile=learned.compiled)
    # THEN each is blocked (a finding for its invocation, or the sandbox's error as its
    # response) and did no damage
    findings = _findings(attacked)
    blocked = {f["request_id"] for f in findings if f["decision"] == "blocked"}
    assert len([f for f in findings if f["decision"] == "blocked"]) >= len(attacks)
    for event, outcome in zip(attacks, attacked.results, strict=True):
        # A block in a worker thread that the kernel started within the clock tick (10 ms) in
        # which the invocation began is charged to the invocation before it (documented limit
        # of thread attribution): the response still shows the block happened in this one.
        assert outcome.request_id in blocked or outcome.error_type == "PermissionViolation", (
            event,
            outcome.payload[:300],
        )
    assert not spec.damage(learned.ctx)
