"""awscalls: code in the function cannot change what the botocore interposer decides (red team 29).

Each case runs in a fresh interpreter (audit hooks cannot be removed), against a moto server on
loopback: the sandbox in enforce with a profile that allows reading and writing the bucket
``allowed`` only. The function's code then attacks the interposer's state -- its module's
globals and caches, the objects reachable from the installed wrapper, the client's ``meta``, the
builtins, the call's arguments, from another thread -- and tries to read the ``victim`` bucket's
secret and plant an object there. Each attempt must be refused before a request is sent: the
child reports what it got, and the test reads the victim bucket itself afterwards.
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
CORES = ["native", "python"]

PRELUDE = """
import json, os, sys, types
import boto3
from sandbox.runtime import aws_calls
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
for bucket in ("allowed", "victim"):  # the moto server outlives each child: start clean
    s3.create_bucket(Bucket=bucket)
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])
s3.put_object(Bucket="victim", Key="secret", Body=b"the crown jewels")
s3.put_object(Bucket="allowed", Key="public", Body=b"hello")
import sandbox
sandbox.install(mode="enforce", profile={
    "schema_version": 1, "function": "f", "extends": ["python-runtime"],
    "rules": {"aws": [{"action": "call", "target": "s3:GetObject:allowed"},
                      {"action": "call", "target": "s3:PutObject:allowed"},
                      # (as a learned profile may hold: the operations naming no bucket)
                      {"action": "call", "target": "s3:GetObject"},
                      {"action": "call", "target": "s3:PutObject"},
                      {"action": "call", "target": "sts:GetCallerIdentity"}],
              "network": [{"action": "connect", "target": "127.0.0.1:*"}]}})
OUT = {}
def attempt(label, run):
    try:
        OUT[label] = "SENT " + str(run())
    except PermissionError as exc:
        OUT[label] = "REFUSED " + str(getattr(exc, "category", "?"))
    except Exception as exc:  # (broken by the attack: not sent either, but not refused)
        OUT[label] = "FAILED " + type(exc).__name__
def body(answer):
    return answer["Body"].read().decode()
def steal(get=None, put=None, label=""):
    # Read the victim's secret and plant an object beside it (each must be refused), then read
    # the allowed bucket (which must still work: the attack broke nothing of the sandbox's).
    attempt("read" + label, lambda: body(s3.get_object(Bucket="victim", Key="secret", **(get or {}))))
    attempt("plant" + label, lambda: s3.put_object(
        Bucket="victim", Key="planted" + label, Body=b"x", **(put or {}))["ETag"])
    attempt("allowed" + label, lambda: body(s3.get_object(Bucket="allowed", Key="public")))
class Member:  # what a model's member looks like to the interposer: a string member
    type_name = "string"
class LyingModel:
    # A service model of the function's: "s3", whose operations name no resource at all (the
    # real Bucket is not one of its members), so every call is "s3:<Operation>" alone.
    service_name = "s3"
    def operation_model(self, name):
        shape = types.SimpleNamespace(members={"Key": Member()}, type_name="structure")
        return types.SimpleNamespace(input_shape=shape, name=name)
# Harmless members of GetObject and PutObject (response and object headers) carrying the
# allowed bucket's name, for the attacks that make the interposer read them instead of Bucket.
GET = {"ResponseCacheControl": "allowed"}
PUT = {"CacheControl": "allowed"}
"""

EPILOGUE = """
print(json.dumps(OUT))
"""


def run_attack(attack: str, endpoint: str, core: str) -> dict[str, Any]:
    """Run PRELUDE, ``attack`` and EPILOGUE in a fresh interpreter; return what it printed."""
    env = {
        **aws_child_env(endpoint, str(ROOT)),
        "SANDBOX_SECCOMP": "off",
        "SANDBOX_LANDLOCK": "off",
        "SANDBOX_MAX_FINDINGS": "100000",
    }
    if core == "python":
        env["SANDBOX_NATIVE"] = "off"
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(attack) + EPILOGUE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = [line for line in proc.stdout.splitlines() if not line.startswith('{"type"')]
    return dict(json.loads(lines[-1]))


def victim_keys(endpoint: str) -> list[str]:
    """The victim bucket's keys, read by the test itself (no sandbox here)."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket="victim").get("Contents", []))


def assert_refused_and_unsent(result: dict[str, Any], endpoint: str, label: str = "") -> None:
    assert result["read" + label] == "REFUSED aws", result
    assert result["plant" + label] == "REFUSED aws", result
    assert result["allowed" + label] == "SENT hello", result
    assert victim_keys(endpoint) == ["secret"]


@pytest.mark.parametrize("core", CORES)
def test_writing_the_interposers_member_cache_changes_nothing(
    moto_endpoint: str, core: str
) -> None:
    """GIVEN enforce allowing only the bucket "allowed"
    WHEN the function writes into the interposer's cache of which members name a resource (the
    module's dict, as it was) so that GetObject and PutObject name a header member instead of
    Bucket, and passes "allowed" in that header
    THEN reading and writing the victim bucket are refused, and no request reached the server.
    """
    result = run_attack(
        """
        cache = vars(aws_calls).setdefault("_MEMBERS", {})
        cache[("s3", "GetObject")] = (("ResponseCacheControl", "name"),)
        cache[("s3", "PutObject")] = (("CacheControl", "name"),)
        steal(GET, PUT)
        cache.clear()  # and the attack of the report: no member names a resource at all
        cache[("s3", "GetObject")] = cache[("s3", "PutObject")] = ()
        steal(label="-empty")
        """,
        moto_endpoint,
        core,
    )
    assert_refused_and_unsent(result, moto_endpoint)
    assert_refused_and_unsent(result, moto_endpoint, "-empty")


@pytest.mark.parametrize("core", CORES)
def test_refilling_the_member_cache_from_a_fake_model_changes_nothing(
    moto_endpoint: str, core: str
) -> None:
    """GIVEN enforce allowing only the bucket "allowed" (and the operations naming no bucket)
    WHEN the function fills the interposer's member cache past its bound with models of its own
    (so it starts over), then asks the interposer's functions about a fake "s3" model in which
    GetObject and PutObject name no resource, directly and through a fake client
    THEN the real calls on the victim bucket still name it and are refused, and no request
    reached the server.
    """
    result = run_attack(
        """
        class Filler:
            def __init__(self, n):
                self.service_name = "svc%d" % n
            def operation_model(self, name):
                return types.SimpleNamespace(input_shape=None)
        ask = [getattr(aws_calls, n) for n in ("resource_members", "_audit", "_decide")
               if hasattr(aws_calls, n)]
        for n in range(1100):
            aws_calls.resource_members(Filler(n), "Op")
        model = LyingModel()
        client = types.SimpleNamespace(meta=types.SimpleNamespace(service_model=model))
        for operation in ("GetObject", "PutObject"):
            params = {"Bucket": "victim", "Key": "k"}
            aws_calls.resource_members(model, operation)
            aws_calls.call_resources("s3", operation, params, model)
            for function in ask:
                try:
                    function(client, operation, params)
                except Exception:
                    pass
        steal()
        """,
        moto_endpoint,
        core,
    )
    assert_refused_and_unsent(result, moto_endpoint)


@pytest.mark.parametrize("core", CORES)
def test_rebinding_the_interposers_module_globals_changes_nothing(
    moto_endpoint: str, core: str
) -> None:
    """GIVEN enforce allowing only the bucket "allowed"
    WHEN the function rebinds the interposer module's functions and helpers (the resources of a
    call, the audit function, the snapshot, the member lookup...) to its own
    THEN the calls on the victim bucket are refused, and no request reached the server.
    """
    result = run_attack(
        """
        space = vars(aws_calls)
        allowed = lambda *args, **kwargs: ("allowed",)
        space["call_resources"] = space["resources"] = space["_names"] = allowed
        space["resource_members"] = lambda *args, **kwargs: ()
        space["UNDECODABLE"] = "allowed"
        space["PermissionViolation"] = Exception
        steal(GET, PUT)
        space["_audit_event"] = lambda *args: None  # (the function raising the events)
        steal(GET, PUT, label="-silent")
        for name in [n for n in space if not n.startswith("__")]:  # and everything else
            space[name] = None
        steal(GET, PUT, label="-none")
        """,
        moto_endpoint,
        core,
    )
    assert_refused_and_unsent(result, moto_endpoint)
    assert_refused_and_unsent(result, moto_endpoint, "-silent")
    assert_refused_and_unsent(result, moto_endpoint, "-none")


@pytest.mark.parametrize("core", CORES)
def test_a_model_that_lies_to_the_interposer_alone_is_refused(
    moto_endpoint: str, core: str
) -> None:
    """GIVEN enforce allowing only the bucket "allowed" (and the operations naming no bucket)
    WHEN the function gives its S3 client a ``meta`` of its own, or a service model of a class
    of its own (a ``ServiceModel`` subclass), that answers botocore truthfully and the
    interposer's code with a model in which no member names a resource
    THEN every call of that client is refused (its service model is not botocore's: the service
    is undecodable) until the function puts botocore's back, and no request reached the server.
    """
    result = run_attack(
        """
        import botocore.model
        own = aws_calls.__file__
        def asked_by_the_interposer():
            frame = sys._getframe(2)
            return frame is not None and frame.f_code.co_filename == own
        class Meta:
            def __init__(self, real):
                self.real = real
            @property
            def service_model(self):
                return LyingModel() if asked_by_the_interposer() else self.real.service_model
            def __getattr__(self, name):
                return getattr(self.real, name)
        real = s3.meta
        s3.meta = Meta(real)
        steal(label="-meta")
        s3.meta = real
        class Sly(botocore.model.ServiceModel):
            def operation_model(self, name):
                if asked_by_the_interposer():
                    return LyingModel().operation_model(name)
                return super().operation_model(name)
            @property
            def service_name(self):
                return "s3"
        genuine = real.service_model
        sly = Sly.__new__(Sly)
        vars(sly).update(vars(genuine))
        vars(real)["_service_model"] = sly
        steal(label="-model")
        vars(real)["_service_model"] = genuine
        attempt("allowed", lambda: body(s3.get_object(Bucket="allowed", Key="public")))
        """,
        moto_endpoint,
        core,
    )
    # (the client as a whole is undecodable while it holds them: its allowed call too)
    for label in ("-meta", "-model"):
        for attempted in ("read", "plant", "allowed"):
            assert result[attempted + label] == "REFUSED aws", (attempted + label, result)
    assert result["allowed"] == "SENT hello", result
    assert victim_keys(moto_endpoint) == ["secret"]


@pytest.mark.parametrize("core", CORES)
def test_state_reachable_from_the_installed_wrapper_cannot_be_changed(
    moto_endpoint: str, core: str
) -> None:
    """GIVEN enforce allowing only the bucket "allowed"
    WHEN the function walks everything reachable from the wrapper on ``BaseClient`` (defaults,
    closure cells, globals, containers) and rewrites what it can: every cell, every global (and
    the builtins its globals name), every dict, list and set; and tries to assign the functions'
    ``__defaults__`` and ``__code__``
    THEN assigning defaults or code is refused as tampering, the calls on the victim bucket are
    refused, the allowed bucket still works, and no request reached the server.
    """
    result = run_attack(
        """
        import botocore.client
        allowed = lambda *args, **kwargs: ("allowed",)
        wrapper = botocore.client.BaseClient.__dict__["_make_api_call"]
        own = aws_calls.__file__
        seen, pending, functions = set(), [wrapper], []
        while pending:  # the interposer's own functions (botocore's are left alone)
            item = pending.pop()
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, (tuple, frozenset)):
                pending.extend(item)
            elif isinstance(item, (dict, list, set)):
                pending.extend(item.values() if isinstance(item, dict) else item)
                item.clear()
            elif isinstance(item, types.FunctionType) and item.__code__.co_filename == own:
                functions.append(item)
                pending.extend(item.__defaults__ or ())
                pending.extend(item.__kwdefaults__.values() if item.__kwdefaults__ else ())
                for cell in item.__closure__ or ():
                    pending.append(cell.cell_contents)
                    cell.cell_contents = allowed
                space = item.__globals__
                for name in list(space):
                    space[name] = allowed
                space["__builtins__"] = {"type": allowed, "len": allowed, "str": allowed}
        OUT["functions"] = len(functions)
        for function in functions:
            for attribute, value in (("__defaults__", (allowed,) * 9), ("__code__", allowed.__code__)):
                try:
                    setattr(function, attribute, value)
                    OUT[attribute] = "ASSIGNED"
                except PermissionError as exc:
                    OUT.setdefault(attribute, "REFUSED " + exc.category)
                except ValueError:  # (a code object with other free variables)
                    OUT[attribute] = "NOT ASSIGNED"
        steal(GET, PUT)
        """,
        moto_endpoint,
        core,
    )
    assert result["functions"] >= 2, result
    assert result["__defaults__"] == result["__code__"] == "REFUSED code", result
    assert_refused_and_unsent(result, moto_endpoint)


@pytest.mark.parametrize("core", CORES)
def test_builtins_that_lie_to_the_interposer_change_nothing(moto_endpoint: str, core: str) -> None:
    """GIVEN enforce allowing only the bucket "allowed"
    WHEN the function rebinds the builtins to functions that answer as usual, except to code of
    the interposer's module (where they would make every call name "allowed")
    THEN the interposer never calls them, the calls on the victim bucket are refused, and no
    request reached the server.
    """
    result = run_attack(
        """
        import builtins
        own = aws_calls.__file__
        asked = []
        def liar(name, real):
            def lie(*args, **kwargs):
                if sys._getframe(1).f_code.co_filename == own:
                    asked.append(name)
                    return {"len": 0, "type": dict, "sorted": ["allowed"]}.get(name)
                return real(*args, **kwargs)
            return lie
        saved = dict(vars(builtins))
        for name in ("type", "len", "id", "sorted", "isinstance", "getattr", "hasattr", "repr"):
            setattr(builtins, name, liar(name, saved[name]))
        steal(GET, PUT)
        vars(builtins).update(saved)
        OUT["asked"] = sorted(set(asked))
        """,
        moto_endpoint,
        core,
    )
    assert result["asked"] == [], result
    assert_refused_and_unsent(result, moto_endpoint)


@pytest.mark.parametrize("core", CORES)
def test_arguments_the_interposer_cannot_read_are_refused(moto_endpoint: str, core: str) -> None:
    """GIVEN enforce allowing only the bucket "allowed"
    WHEN the function calls the victim bucket with a ``str`` subclass as the operation name, a
    mapping that is not a dict as the parameters, a ``str`` subclass as the bucket, and a
    parameter key that is a ``str`` subclass
    THEN each call is refused (nothing of the argument's own code is believed), and no request
    reached the server.
    """
    result = run_attack(
        """
        from collections import UserDict
        class Sly(str):
            def __eq__(self, other):
                return True
            __hash__ = str.__hash__
        call = s3._make_api_call
        secret = {"Bucket": "victim", "Key": "secret"}
        attempt("operation", lambda: body(call(Sly("GetObject"), dict(secret))))
        attempt("params", lambda: body(call("GetObject", UserDict(secret))))
        attempt("bucket", lambda: body(call("GetObject", {"Bucket": Sly("victim"), "Key": "secret"})))
        attempt("key", lambda: body(call("GetObject", {Sly("Bucket"): "victim", "Key": "secret"})))
        attempt("plant", lambda: call("PutObject", {"Bucket": Sly("victim"), "Key": "p", "Body": b"x"}))
        attempt("allowed", lambda: body(call("GetObject", {"Bucket": "allowed", "Key": "public"})))
        """,
        moto_endpoint,
        core,
    )
    for label in ("operation", "params", "bucket", "key", "plant"):
        assert result[label] == "REFUSED aws", (label, result)
    assert result["allowed"] == "SENT hello", result
    assert victim_keys(moto_endpoint) == ["secret"]


@pytest.mark.parametrize("core", CORES)
def test_another_thread_changing_the_call_and_the_module_does_not_change_what_is_sent(
    moto_endpoint: str, core: str
) -> None:
    """GIVEN enforce allowing only the bucket "allowed"
    WHEN another thread keeps switching the caller's parameter dict between the allowed and the
    victim bucket, and the interposer module's globals between the real ones and liars, while
    the function puts objects through that dict (with a switch interval of a microsecond)
    THEN every call is either refused or sent to the allowed bucket: the victim bucket is
    untouched.
    """
    result = run_attack(
        """
        import threading
        sys.setswitchinterval(1e-6)
        params = {"Bucket": "allowed", "Key": "k", "Body": b"x"}
        space, real = vars(aws_calls), dict(vars(aws_calls))
        allowed = lambda *args, **kwargs: ("allowed",)
        liars = {"call_resources": allowed, "_names": allowed, "resources": allowed,
                 "resource_members": lambda *args, **kwargs: ()}
        stop = []
        def flip():
            while not stop:
                params["Bucket"] = "victim"
                space.update(liars)
                params["Bucket"] = "allowed"
                space.update(real)
        thread = threading.Thread(target=flip)
        thread.start()
        outcomes = {}
        for n in range(150):
            params["Key"] = "k%d" % n
            try:
                s3._make_api_call("PutObject", params)
                outcome = "sent"
            except PermissionError:
                outcome = "refused"
            except Exception as exc:  # (whatever else went wrong: it was not sent either)
                outcome = type(exc).__name__
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        stop.append(True)
        thread.join()
        space.update(real)
        OUT["outcomes"] = outcomes
        steal(GET, PUT)
        """,
        moto_endpoint,
        core,
    )
    assert sum(result["outcomes"].values()) == 150, result
    assert_refused_and_unsent(result, moto_endpoint)
