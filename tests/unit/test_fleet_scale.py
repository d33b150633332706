"""Fleet commands at scale on moto in-process: selectors, regions, concurrency, plans, failures."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.fleet import AwsOptions
from sandbox.fleet.batch import Progress, Target, run_all, summarise
from sandbox.fleet.cli import main
from sandbox.fleet.functions import WRAPPER
from tests.unit import test_aws_support as support
from tests.unit.test_aws_support import (
    REGION,
    env_of,
    layers_of,
    make_function,
    publish_sandbox,
    write_profile,
)

aws = support.aws
opts = support.opts
OTHER = "eu-west-1"
FLEET = 300


def run(*args: str) -> int:
    return main([*args])


def error_response(code: str, message: str) -> tuple[Any, dict[str, Any]]:
    """A (http, parsed) pair a ``before-call`` handler returns to short-circuit a request."""
    from botocore.awsrequest import AWSResponse

    http = AWSResponse("https://lambda.local", 400, {}, None)
    return http, {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {}}


def about(params: dict[str, Any], function: str) -> bool:
    """Whether a request (``before-call``'s request dict) is about ``function``."""
    return f"/functions/{function}/" in str(params.get("url_path", "")) + "/"


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any]]]:
    """Register ``(event, handler)`` pairs on every client the fleet commands create."""
    hooks: list[tuple[str, Any]] = []
    original = AwsOptions._make_client

    def make_client(self: AwsOptions, service: str) -> Any:
        client = original(self, service)
        for event, handler in hooks:
            client.meta.events.register(event, handler)
        return client

    monkeypatch.setattr(AwsOptions, "_make_client", make_client)
    yield hooks


def fleet(opts: Any, tmp_path: Path, count: int = FLEET) -> list[str]:
    publish_sandbox(opts, tmp_path)
    names = [f"fn-{i:03d}" for i in range(count)]
    for name in names:
        make_function(opts, name, env={"DB_PASSWORD": "hunter2"})
    return names


def test_hundreds_of_functions_with_one_refused_midway(
    opts: Any,
    tmp_path: Path,
    inject: list[tuple[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN 300 Python functions, one of which Lambda refuses to update
    names = fleet(opts, tmp_path)
    broken = "fn-137"

    def refuse(params: dict[str, Any], **_: Any) -> Any:
        if about(params, broken):
            return error_response("InvalidParameterValueException", "KMS key is disabled")
        return None

    inject.append(("before-call.lambda.UpdateFunctionConfiguration", refuse))
    # WHEN the sandbox is attached to all of them, four at a time
    status = run("attach", "--all", "--concurrency", "4", "--region", REGION)
    captured = capsys.readouterr()
    # THEN the others complete, the failure is reported with its reason, the summary counts
    # outcomes and the exit status says something failed
    assert status == 1
    assert f"{broken}: error: InvalidParameterValueException" in captured.err
    assert f"{FLEET} functions: {FLEET - 1} changed, 1 error" in captured.err
    assert len([line for line in captured.out.splitlines() if ": changed: " in line]) == FLEET - 1
    for name in names:
        env = env_of(opts, name)
        if name == broken:  # nothing half-changed: exactly as before
            assert env == {"DB_PASSWORD": "hunter2"} and layers_of(opts, name) == []
        else:
            assert env["SANDBOX_MODE"] == "learn" and env["AWS_LAMBDA_EXEC_WRAPPER"] == WRAPPER
            assert len(layers_of(opts, name)) == 1


def test_a_function_deleted_during_the_run_is_an_error_and_the_rest_complete(
    opts: Any,
    tmp_path: Path,
    inject: list[tuple[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN 200 attached functions, one of which is deleted between its read and its write
    names = fleet(opts, tmp_path, 200)
    assert run("attach", "--prefix", "fn-", "--region", REGION, "--concurrency", "8") == 0
    gone = "fn-042"

    def delete_first(params: dict[str, Any], **_: Any) -> None:
        if about(params, gone):
            AwsOptions(region=REGION).client("lambda").delete_function(FunctionName=gone)

    inject.append(("before-call.lambda.UpdateFunctionConfiguration", delete_first))
    capsys.readouterr()
    # WHEN all of them are detached
    status = run("detach", "--prefix", "fn-", "--region", REGION, "--json")
    outcomes = {o["function"]: o for o in json.loads(capsys.readouterr().out)}
    # THEN that one is reported as not found, every other one is detached
    assert status == 1
    assert outcomes[gone]["status"] == "error" and "not found" in outcomes[gone]["message"]
    assert {n for n, o in outcomes.items() if o["status"] == "changed"} == set(names) - {gone}
    assert all(env_of(opts, n) == {"DB_PASSWORD": "hunter2"} for n in names if n != gone)


def test_a_failed_alias_move_puts_latest_back(
    opts: Any,
    tmp_path: Path,
    inject: list[tuple[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN 20 functions and a PublishVersion that fails for one of them
    names = fleet(opts, tmp_path, 20)
    broken = "fn-007"

    def refuse(params: dict[str, Any], **_: Any) -> Any:
        if about(params, broken):
            return error_response("CodeStorageExceededException", "code storage full")
        return None

    inject.append(("before-call.lambda.PublishVersion", refuse))
    # WHEN attached with an alias to move
    status = run("attach", *names, "--alias", "live", "--region", REGION, "--json")
    outcomes = {o["function"]: o for o in json.loads(capsys.readouterr().out)}
    # THEN the broken one's $LATEST is back as it was and its alias was never created
    assert status == 1
    assert "restored" in outcomes[broken]["message"]
    assert env_of(opts, broken) == {"DB_PASSWORD": "hunter2"} and layers_of(opts, broken) == []
    client = opts.client("lambda")
    assert not client.list_aliases(FunctionName=broken)["Aliases"]
    # AND every other function serves the change through its alias
    for name in set(names) - {broken}:
        alias = client.get_alias(FunctionName=name, Name="live")
        served = client.get_function_configuration(
            FunctionName=name, Qualifier=alias["FunctionVersion"]
        )
        assert served["Environment"]["Variables"]["SANDBOX_MODE"] == "learn"


def test_a_failed_alias_move_leaves_someone_elses_later_change_alone(
    opts: Any,
    tmp_path: Path,
    inject: list[tuple[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a function that someone else changes between our write and our failed publish
    fleet(opts, tmp_path, 1)

    def change_then_refuse(params: dict[str, Any], **_: Any) -> Any:
        other = AwsOptions(region=REGION).client("lambda")
        other.update_function_configuration(
            FunctionName="fn-000", Environment={"Variables": {"DB_PASSWORD": "rotated"}}
        )
        return error_response("CodeStorageExceededException", "code storage full")

    inject.append(("before-call.lambda.PublishVersion", change_then_refuse))
    # WHEN attached with an alias
    status = run("attach", "fn-000", "--alias", "live", "--region", REGION)
    err = capsys.readouterr().err
    # THEN the error says the configuration was not restored, and the other change stands
    assert status == 1 and "changed by someone else since; not restored" in err
    assert env_of(opts, "fn-000") == {"DB_PASSWORD": "rotated"}


def test_an_update_lambda_reports_failed_is_written_back(
    opts: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a function whose next update Lambda reports as Failed (after an InProgress)
    from sandbox.fleet.functions import apply, plan_attach

    layer = publish_sandbox(opts, tmp_path)
    make_function(opts, "orders", env={"TABLE": "orders"})
    client = opts.client("lambda")
    real_read, real_write = client.get_function_configuration, client.update_function_configuration
    state = {"writes": 0, "reads_since_write": 0}

    def write(**kwargs: Any) -> Any:
        state["writes"] += 1
        state["reads_since_write"] = 0
        return real_write(**kwargs)

    def read(**kwargs: Any) -> Any:
        answer = dict(real_read(**kwargs))
        if state["writes"] == 1:  # the sandbox's write: in progress, then failed
            state["reads_since_write"] += 1
            first = state["reads_since_write"] == 1
            answer["LastUpdateStatus"] = "InProgress" if first else "Failed"
            answer["LastUpdateStatusReason"] = "layer not accessible"
        return answer

    client.update_function_configuration = write
    client.get_function_configuration = read
    # WHEN the sandbox is attached
    outcome = apply(opts, "orders", lambda c: plan_attach(c, sandbox_layer=layer, mode="learn"))
    # THEN the failure is reported with Lambda's reason and the configuration is as before
    assert outcome.status == "error"
    assert "layer not accessible" in outcome.message and "restored" in outcome.message
    assert env_of(opts, "orders") == {"TABLE": "orders"} and layers_of(opts, "orders") == []


def selected(capsys: pytest.CaptureFixture[str], *args: str) -> set[tuple[str, str]]:
    assert run("learn", *args, "--dry-run", "--json") == 0, capsys.readouterr().err
    return {(o["region"], o["function"]) for o in json.loads(capsys.readouterr().out)}


def test_every_selector_and_several_regions(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN Python functions in two regions with tags and prefixes, and a Node.js function
    other = opts.for_region(OTHER)
    publish_sandbox(opts, tmp_path)
    publish_sandbox(other, tmp_path)
    make_function(opts, "pay-charge", tags={"team": "pay", "env": "prod"})
    make_function(opts, "pay-refund", tags={"team": "pay", "env": "dev"})
    make_function(opts, "ship-label", tags={"team": "ship", "env": "prod"})
    make_function(opts, "pay-web", runtime="nodejs20.x", tags={"team": "pay"})
    make_function(other, "pay-charge", tags={"team": "pay", "env": "prod"})
    make_function(other, "ship-label", tags={"team": "ship"})
    arn = other.client("lambda").get_function(FunctionName="ship-label")["Configuration"][
        "FunctionArn"
    ]
    # WHEN selecting with each selector (a dry run: nothing changes)
    by_names = selected(capsys, "pay-charge", "ship-label", "--region", REGION)
    by_prefix = selected(capsys, "--prefix", "pay-", "--region", REGION)
    by_tag = selected(capsys, "--tag", "team=pay", "--region", REGION)
    by_tags = selected(capsys, "--tag", "team=pay", "--tag", "env=prod", "--region", REGION)
    by_prefix_tag = selected(capsys, "--prefix", "ship", "--tag", "env=prod", "--region", REGION)
    everything = selected(capsys, "--all", "--region", f"{REGION},{OTHER}")
    repeated = selected(capsys, "--prefix", "pay", "--region", REGION, "--region", OTHER)
    by_arn = selected(capsys, arn, "--region", REGION)
    # THEN names are taken as given, the others pick Python functions matching all criteria,
    # in every region given; an ARN is acted on in its own region
    assert by_names == {(REGION, "pay-charge"), (REGION, "ship-label")}
    assert by_prefix == {(REGION, "pay-charge"), (REGION, "pay-refund")}
    assert by_tag == by_prefix
    assert by_tags == {(REGION, "pay-charge")}
    assert by_prefix_tag == {(REGION, "ship-label")}
    assert everything == {
        (REGION, "pay-charge"),
        (REGION, "pay-refund"),
        (REGION, "ship-label"),
        (OTHER, "pay-charge"),
        (OTHER, "ship-label"),
    }
    assert repeated == {(REGION, "pay-charge"), (REGION, "pay-refund"), (OTHER, "pay-charge")}
    assert by_arn == {(OTHER, arn)}
    # AND a dry run changed nothing anywhere
    assert "SANDBOX_MODE" not in env_of(opts, "pay-charge")
    assert "SANDBOX_MODE" not in env_of(other, "ship-label")


def test_several_regions_are_changed_and_labelled(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the same function name in two regions
    other = opts.for_region(OTHER)
    for region_opts in (opts, other):
        publish_sandbox(region_opts, tmp_path)
        make_function(region_opts, "orders")
    # WHEN attached in both at once
    status = run("attach", "orders", "--region", REGION, "--region", OTHER)
    out = capsys.readouterr().out
    # THEN each region's function is attached with its own region's layer, lines say where
    assert status == 0
    assert f"{REGION}/orders: changed" in out and f"{OTHER}/orders: changed" in out
    assert f":{REGION}:" in layers_of(opts, "orders")[0]
    assert f":{OTHER}:" in layers_of(other, "orders")[0]


def test_dry_run_prints_the_plan_the_real_run_then_executes(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function with a secret variable and a layer of its own
    layer = publish_sandbox(opts, tmp_path)
    make_function(opts, "orders", env={"DB_PASSWORD": "hunter2", "SANDBOX_LOG": "debug"})
    # WHEN a dry run is printed as text and as JSON, then the real run is made
    assert run("attach", "orders", "--dry-run", "--region", REGION) == 0
    text = capsys.readouterr().out
    assert run("attach", "orders", "--dry-run", "--json", "--region", REGION) == 0
    (planned,) = json.loads(capsys.readouterr().out)
    untouched = env_of(opts, "orders")
    assert run("attach", "orders", "--json", "--region", REGION) == 0
    (done,) = json.loads(capsys.readouterr().out)
    # THEN the text shows before -> after of layers, handler, mode, profile and variables,
    # the sandbox's variables with their values, the others by name only
    assert "layers:  - -> lambda-sandbox-py311-x86_64:1" in text
    assert "mode:    off -> learn" in text
    assert "handler: app.handler (unchanged)" in text
    assert "profile: - (unchanged)" in text
    assert f"+ AWS_LAMBDA_EXEC_WRAPPER={WRAPPER}" in text and "+ SANDBOX_MODE=learn" in text
    assert "SANDBOX_LOG=debug" in text and "kept: DB_PASSWORD" in text
    assert "hunter2" not in text and "hunter2" not in json.dumps(planned)
    plan = planned["plan"]
    assert plan["layers"] == {"before": [], "after": [layer]}
    assert plan["mode"] == {"before": "off", "after": "learn"}
    assert plan["environment"]["after"]["DB_PASSWORD"] is None
    assert untouched == {"DB_PASSWORD": "hunter2", "SANDBOX_LOG": "debug"}
    # AND the real run executed exactly that plan, from the revision it was made from
    assert done["plan"] == planned["plan"]
    assert layers_of(opts, "orders") == plan["layers"]["after"]
    after = env_of(opts, "orders")
    assert sorted(after) == sorted(plan["environment"]["after"])
    assert {k: v for k, v in after.items() if k != "DB_PASSWORD"} == {
        k: v for k, v in plan["environment"]["after"].items() if k != "DB_PASSWORD"
    }


def test_enforce_many_with_profiles_dir_and_the_split_force_flags(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN three functions: a done profile, a not-done one, and one whose file is another's
    publish_sandbox(opts, tmp_path)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for name in ("done", "young", "copied"):
        make_function(opts, name)
    write_profile(profiles / "done.json", "done")
    write_profile(profiles / "young.json", "young", done=False)
    write_profile(profiles / "copied.json", "done")
    cache = ["--cache-dir", str(tmp_path / "cache")]
    common = ["done", "young", "copied", "--profiles", str(profiles), "--region", REGION, *cache]
    # WHEN enforcing all three plainly, as a dry run, then with each explicit flag
    plain = run("enforce", *common, "--json")
    first = {o["function"]: o for o in json.loads(capsys.readouterr().out)}
    dry = run("enforce", "young", "--profiles", str(profiles), "--skip-learning-check",
              "--dry-run", "--json", "--region", REGION, *cache)  # fmt: skip
    (planned,) = json.loads(capsys.readouterr().out)
    dry_mode = env_of(opts, "young").get("SANDBOX_MODE")
    skip = run("enforce", "young", "--profiles", str(profiles), "--skip-learning-check",
               "--region", REGION, *cache)  # fmt: skip
    foreign = run("enforce", "copied", "--profiles", str(profiles), "--allow-foreign-profile",
                  "--region", REGION, *cache)  # fmt: skip
    # THEN the plain run enforces the done one and refuses the others, naming the flag to use
    assert plain == 1
    assert first["done"]["status"] == "changed"
    assert (
        first["young"]["status"] == "refused"
        and "--skip-learning-check" in first["young"]["message"]
    )
    assert (
        first["copied"]["status"] == "refused"
        and "--allow-foreign-profile" in first["copied"]["message"]
    )
    # AND the dry run planned the profile layer version it would publish, publishing nothing
    assert dry == 0 and dry_mode is None
    assert planned["plan"]["profile_version"] == {"before": None, "after": 1}
    assert planned["plan"]["mode"]["after"] == "enforce" and planned["profile_published"]
    # AND each flag lifts only its own check
    assert skip == 0 and env_of(opts, "young")["SANDBOX_MODE"] == "enforce"
    assert foreign == 0 and env_of(opts, "copied")["SANDBOX_MODE"] == "enforce"
    capsys.readouterr()


def test_force_still_lifts_both_checks_with_a_deprecation_note(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a function and a not-done profile learned for another function
    publish_sandbox(opts, tmp_path)
    make_function(opts, "orders")
    profile = write_profile(tmp_path / "p.json", "billing", done=False)
    # WHEN enforcing with --force
    status = run("enforce", "orders", "--profile", str(profile), "--force", "--region", REGION,
                 "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    # THEN it is enforced and the note names the explicit flags
    assert status == 0 and env_of(opts, "orders")["SANDBOX_MODE"] == "enforce"
    err = capsys.readouterr().err
    assert "deprecated" in err and "--allow-foreign-profile" in err


@pytest.mark.parametrize(
    "args",
    [
        ["attach"],
        ["attach", "--tag", "novalue", "--region", REGION],
        ["attach", "x", "--concurrency", "0", "--region", REGION],
        ["enforce", "x", "--profile", "/nonexistent/p.json", "--region", REGION],
        ["enforce", "a", "b", "--profile", "PROFILE", "--region", REGION],
        ["inventory", "--quiet-for", "soon", "--region", REGION],
        ["iam", "check", "x", "--profile", "/nonexistent/p.json", "--region", REGION],
        ["findings", "--all", "--logs", "x.log", "--region", REGION],
    ],
)
def test_usage_and_input_errors_exit_2(
    opts: Any, tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a command line with a usage or input error (no selection, a bad tag, a missing
    # profile file, one profile for two functions, a bad duration...)
    make_function(opts, "a")
    make_function(opts, "b")
    profile = write_profile(tmp_path / "p.json", "a")
    argv = [str(profile) if a == "PROFILE" else a for a in args]
    # WHEN it runs
    status = run(*argv)
    # THEN it exits 2 with a message and no traceback, having changed nothing
    assert status == 2
    assert capsys.readouterr().err.startswith("sandbox ")
    assert "SANDBOX_MODE" not in env_of(opts, "a")


def test_read_commands_take_selectors_and_regions(
    opts: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN attached functions in two regions, with profiles in a directory
    other = opts.for_region(OTHER)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for region_opts in (opts, other):
        publish_sandbox(region_opts, tmp_path)
        for name in ("pay-a", "pay-b", "ship"):
            make_function(region_opts, name, tags={"team": name.split("-")[0]})
    for name in ("pay-a", "pay-b", "ship"):
        write_profile(profiles / f"{name}.json", name)
    assert run("attach", "--all", "--region", f"{REGION},{OTHER}") == 0
    regions = ["--region", REGION, "--region", OTHER]
    capsys.readouterr()
    # WHEN status, inventory, iam check and findings are asked for the team's functions
    status = run("status", "--tag", "team=pay", "--mode", "learn", "--json", *regions)
    statuses = json.loads(capsys.readouterr().out)
    inventory = run("inventory", "--prefix", "pay-", "--no-iam", "--json", *regions)
    rows = json.loads(capsys.readouterr().out)
    iam = run("iam", "check", "--prefix", "pay-", "--profiles", str(profiles), "--json", *regions)
    checks = json.loads(capsys.readouterr().out)
    findings = run("findings", "--tag", "team=pay", "--json", *regions)
    found = json.loads(capsys.readouterr().out)
    # THEN each covers the same four functions (two per region), in region then name order
    expected = [(r, n) for r in sorted((REGION, OTHER)) for n in ("pay-a", "pay-b")]
    assert sorted((s["region"], s["function"]) for s in statuses) == expected
    assert status == 0 and all(s["in_sync"] and s["error"] is None for s in statuses)
    assert [(r["region"], r["function"]) for r in rows] == expected
    assert all(r["mode"] == "learn" for r in rows) and inventory == 0
    assert sorted((c["region"], c["function"]) for c in checks) == expected
    assert sorted((f["region"], f["function"]) for f in found) == expected
    assert findings == 0 and all(f["occurrences"] == 0 for f in found)
    # AND the roles (no policy at all) lack what the profiles use: iam check exits 1
    assert iam == 1 and all("s3:GetObject" in c["missing"] for c in checks)


def test_progress_bar_only_on_a_terminal_and_summary_counts() -> None:
    # GIVEN a terminal and a pipe
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    targets = [Target(REGION, f"f{i}") for i in range(5)]
    # WHEN five results arrive on a pool of two workers
    bars = [Progress(len(targets), tty), Progress(len(targets), pipe)]
    statuses = []
    for _target, status in run_all(targets, lambda t: "error" if t.function == "f3" else "changed",
                                   concurrency=2):  # fmt: skip
        statuses.append(status)
        for bar in bars:
            bar.update(status)
    # THEN the terminal shows a bar with the counts, the pipe nothing; the summary counts
    assert "5/5" in tty.getvalue() and "changed 4" in tty.getvalue()
    assert pipe.getvalue() == ""
    assert summarise(statuses) == "5 functions: 4 changed, 1 error"


def test_an_interrupted_run_starts_no_further_function() -> None:
    # GIVEN 50 targets whose first piece of work raises (as Ctrl-C would interrupt the loop)
    started: list[str] = []

    def work(target: Target) -> str:
        started.append(target.function)
        if target.function == "f0":
            raise KeyboardInterrupt
        return target.function

    targets = [Target(REGION, f"f{i}") for i in range(50)]
    # WHEN the results are consumed
    with pytest.raises(KeyboardInterrupt):
        for _ in run_all(targets, work, concurrency=1):
            pass
    # THEN the interruption reached the caller and the queued functions were never started
    assert started[0] == "f0" and len(started) < len(targets)
