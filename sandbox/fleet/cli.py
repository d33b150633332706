"""The fleet subcommands: layer publish, attach, detach, enforce, alert, learn, rollback,
status, inventory, iam suggest|check, findings, report. Wired into ``sandbox`` by
:func:`add_fleet_parsers`.

Exit status, the same for every command: 0 done (or nothing to do); 1 a function was refused
or failed, drift or findings were found, or AWS could not be reached; 2 usage or input error
(a bad option, a profile file that does not exist or is invalid).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.errors import ProfileError, SandboxError
from sandbox.fleet._api import RETRY_MODES, AwsOptions, FleetError, call, wait_updated
from sandbox.fleet.batch import (
    DEFAULT_CONCURRENCY,
    Progress,
    Selection,
    Target,
    UsageError,
    parse_regions,
    run_all,
    select_targets,
    summarise,
)
from sandbox.fleet.change import format_change
from sandbox.fleet.functions import (
    Outcome,
    Plan,
    Refused,
    apply,
    attachment,
    learning_status,
    plan_attach,
    plan_detach,
    plan_rollback,
)
from sandbox.fleet.layers import (
    PYTHON_RUNTIMES,
    SSM_PREFIX,
    default_cache_dir,
    find_sandbox_layer,
    planned_profile_layer,
    profile_summary,
    profile_zip,
    publish_profile_layer,
    publish_sandbox_layer,
    share_layer_version,
    write_layer_parameters,
)
from sandbox.fleet.versions import apply_versioned, rollback_alias

__all__ = ["add_fleet_parsers", "add_layer_publish", "main"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# --------------------------------------------------------------------------- shared options


def _aws_options(parser: argparse.ArgumentParser, *, several_regions: bool = False) -> None:
    group = parser.add_argument_group("AWS")
    if several_regions:
        group.add_argument(
            "--region",
            action="append",
            metavar="REGION",
            help="AWS region; repeatable or a comma list (default: the SDK's configuration)",
        )
    else:
        group.add_argument("--region", help="AWS region (default: the SDK's configuration)")
    group.add_argument("--endpoint-url", metavar="URL", help="API endpoint (e.g. a moto server)")
    group.add_argument(
        "--profile-name",
        metavar="NAME",
        help="named AWS profile for the credentials (not a sandbox profile: see --profile)",
    )
    group.add_argument(
        "--retry-mode",
        choices=RETRY_MODES,
        default="standard",
        help="botocore's retry mode (default standard; adaptive also slows down on throttling)",
    )
    group.add_argument(
        "--max-attempts",
        type=int,
        default=8,
        metavar="N",
        help="attempts per API call, retries included, made by botocore (default 8)",
    )


def _selection(parser: argparse.ArgumentParser, *, names_help: str | None = None) -> None:
    parser.add_argument(
        "functions",
        nargs="*",
        metavar="FUNCTION",
        help=names_help or "function names or ARNs (an ARN selects its own region)",
    )
    parser.add_argument(
        "--prefix", metavar="TEXT", help="select the Python functions whose name starts with TEXT"
    )
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="select the Python functions with this tag (repeatable: all must match)",
    )
    parser.add_argument(
        "--all",
        dest="all_python",
        action="store_true",
        help="every Python function (of each region)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"functions worked on at the same time (default {DEFAULT_CONCURRENCY})",
    )


def _change_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (before -> after per function) and change nothing",
    )
    parser.add_argument("--json", action="store_true", help="print the outcomes as JSON")


def _learning_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--invocations",
        "--min-quiet-invocations",
        dest="invocations",
        type=int,
        default=100,
        metavar="N",
        help="invocations with nothing novel before learning counts as done (default 100; "
        "--min-quiet-invocations is the old name)",
    )
    parser.add_argument(
        "--quiet-for",
        "--min-quiet-time",
        dest="quiet_for",
        default="24h",
        metavar="T",
        help="time with nothing novel before learning counts as done (default 24h; "
        "--min-quiet-time is the old name)",
    )


def _profile_source(parser: argparse.ArgumentParser, *, required: bool) -> None:
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="the sandbox profile of the (one) function (source, not compiled)",
    )
    source.add_argument(
        "--profiles",
        type=Path,
        metavar="DIR",
        help="the repository's sandbox profiles: DIR/<function>.json is each function's",
    )


def _profile_options(parser: argparse.ArgumentParser, *, learning: bool) -> None:
    _selection(parser)
    _profile_source(parser, required=True)
    parser.add_argument(
        "--allow-foreign-profile",
        action="store_true",
        help="use a profile learned for another function (its 'function' differs)",
    )
    if learning:
        parser.add_argument(
            "--skip-learning-check",
            action="store_true",
            help="enforce even though learning is not done",
        )
        _learning_options(parser)
    parser.add_argument(
        "--force",
        action="store_true",
        help="deprecated: the same as --allow-foreign-profile"
        + (" --skip-learning-check" if learning else ""),
    )
    parser.add_argument(
        "--layer-arn",
        metavar="ARN",
        help="sandbox layer version to attach (default: the attached one, else the latest)",
    )
    parser.add_argument(
        "--redirect-handler",
        action="store_true",
        help="attach by handler redirection (when the exec-wrapper slot is taken)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="local copy of published profile zips (default ~/.cache/lambda-sandbox/layers)",
    )
    _change_options(parser)
    _alias_option(parser)


def _alias_option(parser: argparse.ArgumentParser, *, rollback: bool = False) -> None:
    parser.add_argument(
        "--alias",
        metavar="NAME",
        help="move this alias back to its previous version (then roll $LATEST back too)"
        if rollback
        else "after changing $LATEST, publish a version and move this alias to it "
        "(created if missing); a failed update leaves the alias where it was",
    )


def _options(args: argparse.Namespace) -> AwsOptions:
    region = args.region
    if isinstance(region, list):
        regions = parse_regions(region)
        region = regions[0]
    if getattr(args, "max_attempts", 8) < 1:
        raise UsageError("--max-attempts must be at least 1")
    return AwsOptions(
        region=region,
        endpoint_url=args.endpoint_url,
        profile_name=args.profile_name,
        retry_mode=getattr(args, "retry_mode", "standard"),
        max_attempts=getattr(args, "max_attempts", 8),
    )


def _targets(
    args: argparse.Namespace, opts: AwsOptions, *, default_all: bool = False
) -> list[Target]:
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    selection = Selection(
        names=tuple(args.functions),
        prefix=args.prefix,
        tags=tuple(args.tag),
        all_python=args.all_python,
        regions=parse_regions(args.region),
    )
    return select_targets(opts, selection, concurrency=args.concurrency, default_all=default_all)


class _Regions:
    """One :class:`AwsOptions` (own clients) per region, made once, shared by the workers."""

    def __init__(self, base: AwsOptions) -> None:
        self.base = base
        self._by_region: dict[str, AwsOptions] = {}
        self._lock = threading.Lock()

    def __call__(self, region: str) -> AwsOptions:
        with self._lock:
            if region not in self._by_region:
                self._by_region[region] = self.base.for_region(region)
            return self._by_region[region]


def _duration(value: str) -> dt.timedelta:
    value = value.strip()
    if value and value[-1] in _UNITS and value[:-1].isdigit():
        return dt.timedelta(seconds=int(value[:-1]) * _UNITS[value[-1]])
    if value.isdigit():
        return dt.timedelta(seconds=int(value))
    raise UsageError(f"duration {value!r}: expected e.g. 24h, 30m, 7d")


def _several_regions(targets: Sequence[Target]) -> bool:
    return len({t.region for t in targets}) > 1


def _stream(
    targets: Sequence[Target],
    work: Callable[[Target], Outcome],
    args: argparse.Namespace,
) -> int:
    """Run ``work`` on every target; print each outcome as it finishes; summary; exit status.

    Text: one line per function as it finishes (with ``--dry-run`` the plan under it), failures
    on stderr; a progress bar on stderr when it is a terminal; the counts by outcome on stderr.
    ``--json``: the outcomes as one JSON list (sorted by region and function) at the end.
    """
    if not targets:
        print("no function selected", file=sys.stderr)
        return 0
    with_region = _several_regions(targets)
    progress = Progress(len(targets))
    outcomes: list[Outcome] = []
    for target, outcome in run_all(targets, work, concurrency=args.concurrency):
        outcome.region = outcome.region or target.region
        outcomes.append(outcome)
        if not args.json:
            progress.clear()
            stream = sys.stdout if outcome.ok else sys.stderr
            label = target.label(with_region=with_region)
            print(f"{label}: {outcome.status}: {outcome.message}", file=stream, flush=True)
            if getattr(args, "dry_run", False) and outcome.change is not None:
                print("\n".join(format_change(outcome.change.to_dict())), flush=True)
        progress.update(outcome.status)
    if args.json:
        outcomes.sort(key=lambda o: (o.region, o.function))
        print(json.dumps([o.to_dict() for o in outcomes], indent=2, sort_keys=True))
    if len(outcomes) > 1 or args.json:
        dry = "dry run, nothing written: " if getattr(args, "dry_run", False) else ""
        print(dry + summarise(o.status for o in outcomes), file=sys.stderr)
    return 1 if any(not o.ok for o in outcomes) else 0


def _doc(func: Callable[..., Any]) -> str:
    """A command's docstring as help text: plain words, no reStructuredText markup."""
    import inspect

    return inspect.cleandoc(func.__doc__ or "").replace("``", "")


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The tool's own errors as a message, no traceback: input errors exit 2, the rest 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (UsageError, ProfileError) as exc:
            print(f"sandbox {args.command}: {exc}", file=sys.stderr)
            return 2
        except SandboxError as exc:
            print(f"sandbox {args.command}: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:  # botocore errors: NoCredentialsError, EndpointConnectionError...
            if type(exc).__module__.startswith(("botocore", "boto3")):
                print(f"sandbox {args.command}: {exc}", file=sys.stderr)
                return 1
            raise

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


class _LayerChooser:
    """The sandbox layer ARN for a function: given, attached (unless upgrading), or latest."""

    def __init__(self, regions: _Regions, explicit: str | None, *, upgrade: bool):
        self.regions = regions
        self.explicit = explicit
        self.upgrade = upgrade
        self._latest: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def __call__(self, config: Mapping[str, Any]) -> str | None:
        if self.explicit:
            return self.explicit
        if not self.upgrade and attachment(config).sandbox_layer:
            return None  # keep the attached one
        runtime = str(config.get("Runtime") or "")
        if not runtime.startswith("python3"):
            return None  # plan_attach refuses it by name
        arch = (config.get("Architectures") or ["x86_64"])[0]
        parts = str(config.get("FunctionArn") or "").split(":")
        region = parts[3] if len(parts) > 3 else ""
        key = (region, runtime, arch)
        with self._lock:  # one lookup per region, runtime and architecture
            if key not in self._latest:
                opts = self.regions(region) if region else self.regions.base
                self._latest[key] = find_sandbox_layer(opts, runtime, arch)
            return self._latest[key]


# --------------------------------------------------------------------------- commands


@_guard
def cmd_layer_publish(args: argparse.Namespace) -> int:
    """sandbox layer publish: one layer version per runtime for the arch."""
    opts = _options(args)
    results = []
    for runtime in args.runtime or PYTHON_RUNTIMES:
        zip_path = args.zip
        if args.build:
            from sandbox.layer.build import LayerBuildError, build_layer

            try:
                zip_path = build_layer(
                    args.arch,
                    out_dir=Path("build") / f"layer-{runtime}",
                    python_version=runtime.removeprefix("python"),
                )
            except LayerBuildError as exc:
                raise FleetError(str(exc)) from exc
        zip_path = zip_path or Path("dist") / f"sandbox-layer-{args.arch}.zip"
        results.extend(publish_sandbox_layer(opts, zip_path, arch=args.arch, runtimes=[runtime]))
    for item in results:
        item["shared_with"] = [
            share_layer_version(opts, str(item["arn"]), organization_id=org)
            for org in args.share_org
        ] + [
            share_layer_version(opts, str(item["arn"]), account=acct) for acct in args.share_account
        ]
        item["ssm_parameters"] = []
        if not args.no_ssm:
            from sandbox import __version__

            item["ssm_parameters"] = write_layer_parameters(
                opts,
                [item],
                arch=args.arch,
                prefix=args.ssm_prefix,
                releases=("latest", __version__),
            )
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        for item in results:
            state = "published" if item["published"] else "unchanged"
            print(f"{item['runtime']} {args.arch}: {item['arn']} ({state})")
            for parameter in item["ssm_parameters"]:
                state = "written" if parameter["written"] else "unchanged"
                print(f"  ssm {parameter['name']} ({state})")
    return 0


def _attach_planner(
    chooser: _LayerChooser, mode: str, profile_layer: bool | str, redirect_handler: bool
) -> Callable[[Mapping[str, Any]], Plan]:
    """The plan for one function: its sandbox layer, the mode, the profile layer to keep/set."""

    def planner(config: Mapping[str, Any]) -> Plan:
        return plan_attach(
            config,
            sandbox_layer=chooser(config),
            mode=mode,
            profile_layer=profile_layer,
            redirect_handler=redirect_handler,
        )

    return planner


def _attach_all(args: argparse.Namespace, mode: str, *, upgrade: bool) -> int:
    """Attach (or keep) the layer and the wrapper on every selected function, in ``mode``."""
    opts = _options(args)
    targets = _targets(args, opts)
    regions = _Regions(opts)
    chooser = _LayerChooser(regions, args.layer_arn, upgrade=upgrade)
    planner = _attach_planner(chooser, mode, True, args.redirect_handler)

    def work(target: Target) -> Outcome:
        return apply_versioned(
            regions(target.region),
            target.function,
            planner,
            alias=args.alias,
            dry_run=args.dry_run,
        )

    return _stream(targets, work, args)


@_guard
def cmd_attach(args: argparse.Namespace) -> int:
    """sandbox attach: add the layer and the wrapper, set the mode."""
    return _attach_all(args, args.mode, upgrade=True)


@_guard
def cmd_detach(args: argparse.Namespace) -> int:
    """sandbox detach: remove everything the sandbox added."""
    opts = _options(args)
    targets = _targets(args, opts)
    regions = _Regions(opts)

    def work(target: Target) -> Outcome:
        return apply(regions(target.region), target.function, plan_detach, dry_run=args.dry_run)

    return _stream(targets, work, args)


@_guard
def cmd_learn(args: argparse.Namespace) -> int:
    """sandbox learn: switch to learn (attaching if needed), keeping any profile layer."""
    return _attach_all(args, "learn", upgrade=False)


@_guard
def cmd_rollback(args: argparse.Namespace) -> int:
    """sandbox rollback: the previous mode and profile layer version (SANDBOX_PREVIOUS)."""
    opts = _options(args)
    targets = _targets(args, opts)
    regions = _Regions(opts)

    def work(target: Target) -> Outcome:
        region_opts = regions(target.region)
        if args.alias:
            return rollback_alias(region_opts, target.function, args.alias, dry_run=args.dry_run)
        return apply(region_opts, target.function, plan_rollback, dry_run=args.dry_run)

    return _stream(targets, work, args)


def _short(function: str) -> str:
    return function.rsplit(":function:", 1)[-1].split(":")[0]


def _profile_path(args: argparse.Namespace, function: str) -> Path:
    if args.profile is not None:
        return Path(args.profile)
    return Path(args.profiles) / f"{_short(function)}.json"


def _profile_mode(mode: str) -> Callable[[argparse.Namespace], int]:
    @_guard
    def command(args: argparse.Namespace) -> int:
        from sandbox.profile import Profile

        if args.force:
            print(
                f"sandbox {mode}: --force is deprecated; use --allow-foreign-profile"
                + (" and --skip-learning-check" if mode == "enforce" else ""),
                file=sys.stderr,
            )
        allow_foreign = args.allow_foreign_profile or args.force
        skip_learning = mode != "enforce" or args.skip_learning_check or args.force
        quiet = _duration(args.quiet_for) if mode == "enforce" else dt.timedelta(0)
        opts = _options(args)
        single = Profile.load(args.profile) if args.profile is not None else None
        if args.profiles is not None and not Path(args.profiles).is_dir():
            raise UsageError(f"--profiles {args.profiles}: not a directory")
        targets = _targets(args, opts)
        if single is not None and len(targets) > 1:
            raise UsageError("--profile FILE is for one function; use --profiles DIR for several")
        regions = _Regions(opts)
        chooser = _LayerChooser(regions, args.layer_arn, upgrade=False)
        cache_dir = args.cache_dir or default_cache_dir()

        def work(target: Target) -> Outcome:
            region_opts = regions(target.region)
            try:
                return _switch(region_opts, target.function, single)
            except (Refused, ProfileError) as exc:
                return Outcome(target.function, "refused", str(exc), region=target.region)
            except SandboxError as exc:
                return Outcome(target.function, "error", str(exc), region=target.region)
            except Exception as exc:
                from sandbox.fleet._api import error_code

                message = f"{error_code(exc) or type(exc).__name__}: {exc}"
                if error_code(exc) == "ResourceNotFoundException":
                    message = "function not found"
                return Outcome(target.function, "error", message, region=target.region)

        def _switch(opts: AwsOptions, function: str, profile: Any) -> Outcome:
            path = _profile_path(args, function)
            if profile is None:
                if not path.is_file():
                    raise Refused(f"{function}: no profile {path}")
                profile = Profile.load(path)
            short = _short(function)
            if profile.function != short and not allow_foreign:
                raise Refused(
                    f"{path} is the profile of {profile.function!r}, not {short!r} "
                    "(--allow-foreign-profile to use it anyway)"
                )
            if not skip_learning:
                done, reason = learning_status(
                    profile.learning, min_invocations=args.invocations, quiet=quiet
                )
                if not done:
                    raise Refused(
                        f"{function}: learning is not done ({reason}); keep learning, use "
                        "`sandbox alert` to see what enforce would block, or "
                        "--skip-learning-check"
                    )
            config = wait_updated(opts.client("lambda"), function, opts)
            # Refuse (not Python, wrapper slot, layer limit) before publishing anything.
            placeholder = "arn:aws:lambda:r:0:layer:{}:1"
            plan_attach(
                config,
                sandbox_layer=placeholder.format("lambda-sandbox-placeholder"),
                mode=mode,
                profile_layer=placeholder.format("sandbox-profile-placeholder"),
                redirect_handler=args.redirect_handler,
            )
            from sandbox.profile.package import layer_description

            compiled = profile.compile(base_dir=path.resolve().parent)
            data = profile_zip(compiled, profile_summary(profile, compiled))
            sha = str(compiled.get("profile_sha256", ""))
            if args.dry_run:
                arn, published = planned_profile_layer(opts, str(config["FunctionArn"]), data)
            else:
                arn, published = publish_profile_layer(
                    opts,
                    function,
                    data,
                    description=layer_description(short, sha),
                    cache_dir=cache_dir,
                )
            planner = _attach_planner(chooser, mode, arn, args.redirect_handler)
            outcome = apply_versioned(
                opts, function, planner, alias=args.alias, dry_run=args.dry_run
            )
            outcome.details["profile_layer"] = arn
            outcome.details["profile_published"] = published
            outcome.details["profile_sha256"] = sha
            if args.dry_run and published:
                outcome.message += f"; would publish profile {sha[:12]} ({len(data)} bytes)"
            return outcome

        return _stream(targets, work, args)

    command.__doc__ = f"sandbox {mode}: publish the profile layer, attach it, switch to {mode}."
    return command


def _collect(
    targets: Sequence[Target],
    work: Callable[[Target], Any],
    args: argparse.Namespace,
    *,
    status_of: Callable[[Any], str],
    show: Callable[[Target, Any], tuple[str, bool] | None] | None = None,
) -> list[tuple[Target, Any]]:
    """Run ``work`` on every target with the progress bar; print ``show``'s text as each result
    arrives (text mode), the counts by outcome at the end; results in selection order."""
    progress = Progress(len(targets))
    order = {target: index for index, target in enumerate(targets)}
    results: list[tuple[Target, Any]] = []
    for target, result in run_all(targets, work, concurrency=args.concurrency):
        results.append((target, result))
        shown = show(target, result) if show is not None and not args.json else None
        if shown:
            text, failed = shown
            progress.clear()
            print(text, file=sys.stderr if failed else sys.stdout, flush=True)
        progress.update(status_of(result))
    if len(results) > 1:
        print(summarise(status_of(r) for _, r in results), file=sys.stderr)
    results.sort(key=lambda item: order[item[0]])
    return results


@_guard
def cmd_status(args: argparse.Namespace) -> int:
    """sandbox status: does what is deployed match the repository and the latest layer?"""
    from sandbox.fleet.drift import FunctionStatus, check_function, format_status

    opts = _options(args)
    targets = _targets(args, opts)
    if args.profile is not None and len(targets) != 1:
        raise UsageError("--profile FILE is for one function; use --profiles DIR for several")
    regions = _Regions(opts)
    cache_dir = args.cache_dir or default_cache_dir()
    with_region = _several_regions(targets)

    def work(target: Target) -> FunctionStatus:
        profile = args.profile
        if profile is None and args.profiles is not None:
            candidate = _profile_path(args, target.function)
            profile = candidate if candidate.is_file() else None
        return check_function(
            regions(target.region),
            target.function,
            profile=profile,
            mode=args.mode,
            qualifier=args.alias,
            ssm_prefix=args.ssm_prefix,
            cache_dir=cache_dir,
        )

    def status_of(status: FunctionStatus) -> str:
        return "error" if status.error else "drift" if status.drift else "in sync"

    def show(target: Target, status: FunctionStatus) -> tuple[str, bool]:
        text = format_status([status])
        return (f"{target.region}/{text}" if with_region else text), False

    results = _collect(targets, work, args, status_of=status_of, show=show)
    if args.json:
        print(
            json.dumps(
                [{**s.to_dict(), "region": t.region} for t, s in results], indent=2, sort_keys=True
            )
        )
    return 1 if any(s.drift for _, s in results) else 0


@_guard
def cmd_inventory(args: argparse.Namespace) -> int:
    """sandbox inventory: per Python function, the mode, the sandbox and profile layer versions,
    the learning state, the hosts and AWS services it talks to (from its deployed profile),
    whether its role grants more than the profile uses (iam check against the profile layer),
    and with --findings its last findings and who caused them.

    Exit status: 0 listed, 1 a named function does not exist or AWS could not be read, 2 usage.
    """
    from sandbox.fleet.cwfindings import parse_since
    from sandbox.fleet.inventory import format_csv, format_table, row_for

    opts = _options(args)
    quiet = _duration(args.quiet_for)
    since_ms = parse_since(args.since) if args.findings else None
    targets = _targets(args, opts, default_all=True)
    regions = _Regions(opts)
    cache_dir = args.cache_dir or default_cache_dir()

    def work(target: Target) -> dict[str, Any] | FleetError | None:
        try:
            return row_for(
                regions(target.region),
                target.function,
                cache_dir=cache_dir,
                findings=args.findings,
                iam=not args.no_iam,
                since_ms=since_ms,
                min_invocations=args.invocations,
                quiet=quiet,
            )
        except FleetError as exc:
            return exc

    def status_of(row: Any) -> str:
        return "error" if isinstance(row, FleetError) else "skipped" if row is None else "listed"

    def show(target: Target, row: Any) -> tuple[str, bool] | None:
        return (f"sandbox inventory: {row}", True) if isinstance(row, FleetError) else None

    results = _collect(targets, work, args, status_of=status_of, show=show)
    rows = [r for _, r in results if isinstance(r, dict)]
    rows.sort(key=lambda r: (str(r.get("region")), str(r["function"])))
    if _several_regions(targets) and not args.json:
        rows = [{**r, "function": f"{r['region']}/{r['function']}"} for r in rows]
    errors = [r for _, r in results if isinstance(r, FleetError)]
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True, default=str))
    elif args.csv:
        sys.stdout.write(format_csv(rows))
    else:
        print(format_table(rows))
    return 1 if errors else 0


def _function_arn_and_role(opts: AwsOptions, function: str) -> tuple[str, str, str]:
    config = call(opts.client("lambda"), "get_function_configuration", opts, FunctionName=function)
    return str(config["FunctionArn"]), str(config.get("Role", "")), str(config["FunctionName"])


@_guard
def cmd_iam_suggest(args: argparse.Namespace) -> int:
    """sandbox iam suggest: a least-privilege policy from the profile's AWS calls."""
    from sandbox.fleet.iam import suggest_policy
    from sandbox.profile import Profile

    profile = Profile.load(args.profile)
    if args.offline:
        arn, name = None, args.function
    else:
        arn, _, name = _function_arn_and_role(_options(args), args.function)
    policy = suggest_policy(profile, function_arn=arn, function_name=name, logs=not args.no_logs)
    text = json.dumps(policy, indent=2, sort_keys=True) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr if args.json else sys.stdout)
    if args.json or not args.out:
        sys.stdout.write(text)
    return 0


def _iam_text(result: Mapping[str, Any]) -> str:
    lines = [f"{result['function']}: role {result['role']}: {result['policies']} policies"]
    for item in result["over_permissive"]:
        lines.append(
            f"  over-permissive  {item['kind']:<17} {item['policy']} [{item['sid']}]: "
            f"{item['detail']}"
        )
    for action in result["missing"]:
        lines.append(f"  missing          {action} (used by the function, granted by no statement)")
    if result["ok"]:
        lines.append("  least privilege: nothing beyond what the function uses")
    return "\n".join(lines)


@_guard
def cmd_iam_check(args: argparse.Namespace) -> int:
    """sandbox iam check: each role's grants against what its function's profile uses."""
    from sandbox.fleet.iam import check_role, role_policies
    from sandbox.profile import Profile

    opts = _options(args)
    single = Profile.load(args.profile) if args.profile is not None else None
    targets = _targets(args, opts)
    if single is not None and len(targets) > 1:
        raise UsageError("--profile FILE is for one function; use --profiles DIR for several")
    regions = _Regions(opts)

    def work(target: Target) -> dict[str, Any]:
        base = {"function": target.function, "region": target.region}
        try:
            profile = single
            if profile is None:
                path = _profile_path(args, target.function)
                if not path.is_file():
                    return {**base, "error": f"no profile {path}"}
                profile = Profile.load(path)
            region_opts = regions(target.region)
            arn, role_arn, name = _function_arn_and_role(region_opts, target.function)
            role_name = role_arn.rsplit("/", 1)[-1]
            policies = role_policies(region_opts.client("iam"), role_name, region_opts)
            result = check_role(policies, profile, function_arn=arn, function_name=name)
        except SandboxError as exc:
            return {**base, "error": str(exc)}
        except Exception as exc:
            from sandbox.fleet._api import error_code

            code = error_code(exc)
            message = "function not found" if code == "ResourceNotFoundException" else str(exc)
            return {**base, "error": message}
        return {
            **base,
            "function": name,
            "role": role_arn,
            "policies": len(policies),
            **result.to_dict(),
        }

    def status_of(result: Mapping[str, Any]) -> str:
        return "error" if "error" in result else "ok" if result["ok"] else "findings"

    def show(target: Target, result: Mapping[str, Any]) -> tuple[str, bool]:
        if "error" in result:
            return f"{target.function}: error: {result['error']}", True
        return _iam_text(result), False

    results = _collect(targets, work, args, status_of=status_of, show=show)
    if args.json:
        print(json.dumps([r for _, r in results], indent=2, sort_keys=True))
    return 0 if all(status_of(r) == "ok" for _, r in results) else 1


def _print_findings(function: str, window: str, agg: Any) -> None:
    from sandbox.fleet.cwfindings import who_label

    print(
        f"{function}: {agg.occurrences} occurrences of {len(agg.groups)} distinct findings "
        f"{window} ({agg.lines} logged, {agg.repeats} repeats, "
        f"{agg.suppressed} over the per-invocation budget)"
    )
    for group in agg.groups:
        print(
            f"  {group['count']:>5}x {group['decision']:<11} {group['category']} "
            f"{group['action']} {group['target']}"
        )
        print(
            f"         first {group['first_seen']}  last {group['last_seen']}  "
            f"invocations {group['invocations']}"
        )
        print(
            f"         where: {', '.join(group['sites']) or '-'}   "
            f"phase: {', '.join(group['phases']) or '-'}"
        )
        for index, caller in enumerate(group["who"]):
            label = "who:  " if index == 0 else "      "
            paths = f"  {', '.join(caller['paths'])}" if caller.get("paths") else ""
            print(f"         {label} {caller['count']:>5}x {who_label(caller)}{paths}")
        if group.get("rule"):
            print(f"         allow with: {group['rule']}")
    if agg.unattributed:
        print(
            f"  ({agg.unattributed} repeats counted without their caller: "
            "their invocation's finding line is outside the window)"
        )


@_guard
def cmd_findings(args: argparse.Namespace) -> int:
    """sandbox findings: every distinct finding of the functions from CloudWatch Logs, with
    its count, first and last seen and each caller; export to OCSF or Security Hub.

    Exit status: 0 no finding, 1 findings (or a failed export or lookup), 2 usage error.
    """
    import contextlib
    import io

    from sandbox.fleet.cwfindings import (
        aggregate,
        parse_since,
        read_findings,
        read_findings_files,
        require_function,
    )
    from sandbox.fleet.export import to_ocsf
    from sandbox.fleet.securityhub import import_to_security_hub

    opts = _options(args)
    window = "in the files given" if args.logs else f"since {args.since}"
    if args.logs:
        if len(args.functions) != 1 or args.prefix or args.tag or args.all_python:
            raise UsageError("--logs reads the findings of one named function")
        targets = [Target("", args.functions[0])]
        since_ms = None
    else:
        since_ms = parse_since(args.since)
        targets = _targets(args, opts)
    regions = _Regions(opts)
    with_region = _several_regions(targets)

    def work(target: Target) -> dict[str, Any]:
        try:
            if args.logs:
                records = list(read_findings_files(args.logs, target.function))
            else:
                region_opts = regions(target.region)
                name = require_function(region_opts, target.function)
                records = list(read_findings(region_opts, name, since_ms=since_ms))
        except SandboxError as exc:
            return {"target": target, "error": str(exc)}
        except Exception as exc:
            if type(exc).__module__.startswith(("botocore", "boto3")):
                return {"target": target, "error": str(exc)}
            raise
        return {"target": target, "records": records, "aggregate": aggregate(records)}

    def status_of(result: Mapping[str, Any]) -> str:
        if "error" in result:
            return "error"
        return "findings" if result["aggregate"].groups else "clean"

    def show(target: Target, result: Mapping[str, Any]) -> tuple[str, bool] | None:
        if "error" in result:
            return f"sandbox findings: {result['error']}", True
        if args.ocsf:
            region = None if args.logs else target.region
            lines = [
                json.dumps(to_ocsf(group, region=region), sort_keys=True)
                for group in result["aggregate"].groups
            ]
            return ("\n".join(lines), False) if lines else None
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            label = target.label(with_region=with_region)
            _print_findings(label, window, result["aggregate"])
        return text.getvalue().rstrip("\n"), False

    results = _collect(targets, work, args, status_of=status_of, show=show)
    if args.json:
        print(
            json.dumps(
                [
                    {"function": t.function, "region": t.region or None, "error": r["error"]}
                    if "error" in r
                    else {
                        "function": t.function,
                        "region": t.region or None,
                        "since": args.since,
                        **r["aggregate"].to_dict(),
                    }
                    for t, r in results
                ],
                indent=2,
                sort_keys=True,
            )
        )
    status = 0 if all(status_of(r) == "clean" for _, r in results) else 1
    if args.to_securityhub:
        by_region: dict[str, list[dict[str, Any]]] = {}
        for target, result in results:
            by_region.setdefault(target.region, []).extend(result.get("records", []))
        if not any(by_region.values()):
            print("nothing to send to Security Hub", file=sys.stderr)
            return status
        for region, records in by_region.items():
            if not records:
                continue
            summary = import_to_security_hub(regions(region) if region else opts, records)
            where = f" ({region})" if with_region else ""
            print(
                f"Security Hub{where}: {summary['created']} created, {summary['updated']} "
                f"updated, {summary['unchanged']} unchanged; {summary['success']} imported, "
                f"{summary['failed']} failed in {summary['batches']} batches",
                file=sys.stderr,
            )
            for error in summary["errors"][:10]:
                print(
                    f"  {error.get('Id')}: {error.get('ErrorCode')} {error.get('ErrorMessage')}",
                    file=sys.stderr,
                )
            if summary["failed"]:
                status = 1
    return status


@_guard
def cmd_report(args: argparse.Namespace) -> int:
    """sandbox report: one self-contained HTML page for the functions: the profile as a map
    (categories, rules, risk marks, counts), the learning curve, findings over time, and who,
    where and how for each finding. Reads CloudWatch Logs and the functions' configuration, or
    local files of log lines (--logs).

    Exit status: 0 written, 1 a function does not exist or could not be read, 2 usage error.
    """
    from sandbox.fleet.cwfindings import parse_since
    from sandbox.fleet.report import collect
    from sandbox.fleet.report_page import render_html
    from sandbox.profile import Profile

    if not args.html and not args.json:
        print("sandbox report: give -o/--out FILE, --json, or both", file=sys.stderr)
        return 2
    profiles: dict[str, Path] = {}
    for path in args.profile or []:
        profiles[Profile.load(path).function] = path
    opts = None if args.logs else _options(args)
    reports = [
        collect(
            function,
            opts=opts,
            profile_path=profiles.get(function),
            logs=args.logs or (),
            since_ms=parse_since(args.since),
            cache_dir=args.cache_dir or default_cache_dir(),
        )
        for function in args.functions
    ]
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(render_html(reports), encoding="utf-8")
    if args.json:
        print(json.dumps(reports, indent=2, sort_keys=True))
    else:
        print(f"wrote {args.html} ({len(reports)} functions)")
    return 0


# --------------------------------------------------------------------------- parsers


def add_layer_publish(layer_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``publish`` to the ``layer`` subcommand's subparsers.

    Parameters
    ----------
    layer_subparsers : argparse._SubParsersAction
        The subparsers of ``sandbox layer``.

    Returns
    -------
    argparse.ArgumentParser
    """
    publish = layer_subparsers.add_parser(
        "publish",
        help="publish the built layer zip (one version per runtime)",
        description="PublishLayerVersion of dist/sandbox-layer-<arch>.zip as "
        "lambda-sandbox-pyXY-<arch>, "
        "one layer per Python runtime. Unchanged bytes are not published again. Each layer "
        "version ARN is written to the SSM parameters PREFIX/layer/<arch>/<runtime>/latest "
        "and .../<release of this tool>, so templates resolve it by name.",
    )
    publish.add_argument("--arch", choices=("x86_64", "arm64"), required=True)
    publish.add_argument(
        "--runtime",
        action="append",
        choices=PYTHON_RUNTIMES,
        help="repeatable; default all of python3.10-3.13",
    )
    publish.add_argument(
        "--zip", type=Path, metavar="FILE", help="layer zip (default dist/sandbox-layer-<arch>.zip)"
    )
    publish.add_argument(
        "--build",
        action="store_true",
        help="build the zip for each runtime first (needs the wheels)",
    )
    publish.add_argument(
        "--ssm-prefix",
        default=SSM_PREFIX,
        metavar="PREFIX",
        help="SSM parameters PREFIX/layer/<arch>/<runtime>/{latest,<release>} receive each "
        f"layer version ARN (default {SSM_PREFIX})",
    )
    publish.add_argument("--no-ssm", action="store_true", help="write no SSM parameters")
    publish.add_argument(
        "--share-org",
        action="append",
        default=[],
        metavar="ORG_ID",
        help="let every account of this AWS Organization use the layer versions (repeatable)",
    )
    publish.add_argument(
        "--share-account",
        action="append",
        default=[],
        metavar="ACCOUNT_ID",
        help="let this account use the layer versions (repeatable)",
    )
    publish.add_argument("--json", action="store_true")
    _aws_options(publish)
    publish.set_defaults(func=cmd_layer_publish, command="layer publish")
    return publish  # type: ignore[no-any-return]


def add_fleet_parsers(subparsers: Any) -> None:
    """Add attach, detach, enforce, alert, learn, rollback, status, inventory, iam, findings,
    report.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``sandbox`` command's subparsers. Each command sets ``func`` (namespace → exit code).
    """
    attach = subparsers.add_parser(
        "attach", help="attach the sandbox layer to functions", description=_doc(cmd_attach)
    )
    _selection(attach)
    attach.add_argument(
        "--mode",
        choices=("learn", "off"),
        default="learn",
        help="mode after attaching (default learn; alert/enforce: see sandbox enforce)",
    )
    attach.add_argument(
        "--layer-arn",
        metavar="ARN",
        help="sandbox layer version (default: the latest for the function's runtime and arch)",
    )
    attach.add_argument(
        "--redirect-handler",
        action="store_true",
        help="attach by handler redirection (when AWS_LAMBDA_EXEC_WRAPPER is another tool's)",
    )
    _change_options(attach)
    _alias_option(attach)
    _aws_options(attach, several_regions=True)
    attach.set_defaults(func=cmd_attach, command="attach")

    detach = subparsers.add_parser(
        "detach", help="remove the sandbox from functions", description=_doc(cmd_detach)
    )
    _selection(detach)
    _change_options(detach)
    _aws_options(detach, several_regions=True)
    detach.set_defaults(func=cmd_detach, command="detach")

    for mode in ("enforce", "alert"):
        command = _profile_mode(mode)
        parser = subparsers.add_parser(
            mode,
            help=f"publish a profile layer and switch to {mode}",
            description=_doc(command),
        )
        _profile_options(parser, learning=(mode == "enforce"))
        _aws_options(parser, several_regions=True)
        parser.set_defaults(func=command, command=mode)

    learn = subparsers.add_parser(
        "learn", help="switch functions to learn mode", description=_doc(cmd_learn)
    )
    _selection(learn)
    learn.add_argument(
        "--layer-arn", metavar="ARN", help="sandbox layer version when not yet attached"
    )
    learn.add_argument(
        "--redirect-handler",
        action="store_true",
        help="attach by handler redirection (when AWS_LAMBDA_EXEC_WRAPPER is another tool's)",
    )
    _change_options(learn)
    _alias_option(learn)
    _aws_options(learn, several_regions=True)
    learn.set_defaults(func=cmd_learn, command="learn")

    rollback = subparsers.add_parser(
        "rollback",
        help="return to the previous mode/profile version",
        description=_doc(cmd_rollback),
    )
    _selection(rollback)
    _change_options(rollback)
    _alias_option(rollback, rollback=True)
    _aws_options(rollback, several_regions=True)
    rollback.set_defaults(func=cmd_rollback, command="rollback")

    inventory = subparsers.add_parser(
        "inventory",
        help="Python functions and the sandbox on each",
        description=_doc(cmd_inventory),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _selection(inventory, names_help="only these (default: every Python function)")
    inventory_out = inventory.add_mutually_exclusive_group()
    inventory_out.add_argument("--json", action="store_true", help="the rows as JSON")
    inventory_out.add_argument(
        "--csv", action="store_true", help="the rows as CSV (lists joined with ;)"
    )
    inventory.add_argument(
        "--findings",
        action="store_true",
        help="also read the last findings and their callers from CloudWatch Logs",
    )
    inventory.add_argument(
        "--no-iam",
        action="store_true",
        help="skip comparing each role with its deployed profile (no IAM reads)",
    )
    inventory.add_argument(
        "--since", default="24h", help="with --findings: how far back (default 24h)"
    )
    _learning_options(inventory)
    inventory.add_argument("--cache-dir", type=Path, default=None, metavar="DIR")
    _aws_options(inventory, several_regions=True)
    inventory.set_defaults(func=cmd_inventory, command="inventory")

    status = subparsers.add_parser(
        "status",
        help="drift: deployed sandbox vs the repository's profiles and the latest layer",
        description=_doc(cmd_status),
    )
    _selection(status)
    _profile_source(status, required=False)
    status.add_argument(
        "--mode", choices=("off", "learn", "alert", "enforce"), help="the mode expected"
    )
    status.add_argument(
        "--alias", metavar="NAME", help="check this alias or version (what callers run)"
    )
    status.add_argument("--ssm-prefix", default=SSM_PREFIX, metavar="PREFIX")
    status.add_argument("--cache-dir", type=Path, default=None, metavar="DIR")
    status.add_argument("--json", action="store_true", help="the checks as JSON")
    _aws_options(status, several_regions=True)
    status.set_defaults(func=cmd_status, command="status")

    iam = subparsers.add_parser("iam", help="least-privilege IAM from a profile")
    iam_sub = iam.add_subparsers(dest="iam_command", required=True)
    suggest = iam_sub.add_parser(
        "suggest", help="write a least-privilege policy", description=_doc(cmd_iam_suggest)
    )
    suggest.add_argument("function", metavar="FUNCTION")
    suggest.add_argument(
        "--profile", required=True, type=Path, metavar="FILE", help="the sandbox profile"
    )
    suggest.add_argument(
        "-o", "--out", type=Path, metavar="FILE", help="write the policy here (default stdout)"
    )
    suggest.add_argument(
        "--json", action="store_true", help="print the policy (JSON) even with --out"
    )
    suggest.add_argument(
        "--no-logs", action="store_true", help="leave out the function's CloudWatch Logs statement"
    )
    suggest.add_argument(
        "--offline",
        action="store_true",
        help="do not look the function up (ARNs get * for region/account)",
    )
    _aws_options(suggest)
    suggest.set_defaults(func=cmd_iam_suggest, command="iam suggest")
    check = iam_sub.add_parser(
        "check",
        help="compare the functions' roles with their profiles",
        description=_doc(cmd_iam_check),
    )
    _selection(check)
    _profile_source(check, required=True)
    check.add_argument("--json", action="store_true", help="the checks as JSON")
    _aws_options(check, several_regions=True)
    check.set_defaults(func=cmd_iam_check, command="iam check")

    findings = subparsers.add_parser(
        "findings",
        help="the functions' findings from CloudWatch Logs, aggregated",
        description=_doc(cmd_findings),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _selection(findings)
    findings.add_argument(
        "--since", default="1h", help="how far back: 1h, 30m, 2d or an ISO time (default 1h)"
    )
    findings.add_argument(
        "--logs",
        type=Path,
        action="append",
        metavar="PATH",
        help="read these files or folders of log lines instead of CloudWatch Logs (repeatable; "
        "one named function)",
    )
    out = findings.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="the distinct findings as JSON")
    out.add_argument(
        "--ocsf", action="store_true", help="one OCSF Detection Finding per distinct finding"
    )
    findings.add_argument(
        "--to-securityhub",
        action="store_true",
        help="create or update one ASFF finding per distinct finding (BatchImportFindings)",
    )
    _aws_options(findings, several_regions=True)
    findings.set_defaults(func=cmd_findings, command="findings")

    report = subparsers.add_parser(
        "report",
        help="an HTML report: profile map, learning curve, findings over time",
        description=_doc(cmd_report),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("functions", nargs="+", metavar="FUNCTION")
    report.add_argument(
        "-o", "--out", "--html", dest="html", type=Path, metavar="FILE", help="write the page here"
    )
    report.add_argument("--json", action="store_true", help="print the report's data as JSON")
    report.add_argument(
        "--profile",
        type=Path,
        action="append",
        metavar="FILE",
        help="a function's sandbox profile (repeatable; matched by its function name); "
        "default: the deployed profile layer's summary",
    )
    report.add_argument(
        "--logs",
        type=Path,
        action="append",
        metavar="PATH",
        help="read these files or folders of log lines instead of AWS (repeatable)",
    )
    report.add_argument(
        "--since", default="7d", help="findings from how far back: 7d, 24h or an ISO time"
    )
    report.add_argument("--cache-dir", type=Path, default=None, metavar="DIR")
    _aws_options(report)
    report.set_defaults(func=cmd_report, command="report")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sandbox.fleet.cli COMMAND ...``: the fleet commands on their own.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name.

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m sandbox.fleet.cli", description=__doc__)
    subparsers = parser.add_subparsers(dest="command_name", required=True)
    layer = subparsers.add_parser("layer", help="publish the layer")
    add_layer_publish(layer.add_subparsers(dest="layer_command", required=True))
    add_fleet_parsers(subparsers)
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
