"""The fleet subcommands: layer publish, attach, detach, enforce, alert, learn, rollback,
status, inventory, iam suggest|check, findings. Wired into ``sandbox`` by :func:`add_fleet_parsers`.

Exit status: 0 done (or nothing to do), 1 a function was refused or failed, an issue was found
(``iam check``), or the command could not run; 2 usage errors (argparse).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError
from sandbox.fleet._api import AwsOptions, FleetError, call, wait_updated
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
    select_functions,
)
from sandbox.fleet.layers import (
    PYTHON_RUNTIMES,
    SSM_PREFIX,
    default_cache_dir,
    find_sandbox_layer,
    profile_summary,
    profile_zip,
    publish_profile_layer,
    publish_sandbox_layer,
    share_layer_version,
    write_layer_parameters,
)
from sandbox.fleet.versions import apply_versioned, rollback_alias

__all__ = ["add_fleet_parsers", "add_layer_publish", "main"]

Subparsers = "argparse._SubParsersAction[argparse.ArgumentParser]"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# --------------------------------------------------------------------------- shared options


def _aws_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("AWS")
    group.add_argument("--region", help="AWS region (default: the SDK's configuration)")
    group.add_argument("--endpoint-url", metavar="URL", help="API endpoint (e.g. a moto server)")
    group.add_argument("--profile-name", metavar="NAME", help="named AWS profile (credentials)")


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("functions", nargs="*", metavar="FUNCTION", help="function names or ARNs")
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="select Python functions with this tag (repeatable: all must match)",
    )
    parser.add_argument(
        "--all", dest="all_python", action="store_true", help="every Python function in the region"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would change, change nothing"
    )
    parser.add_argument("--json", action="store_true", help="print the outcomes as JSON")


def _profile_options(parser: argparse.ArgumentParser, *, learning: bool) -> None:
    parser.add_argument("function", metavar="FUNCTION")
    parser.add_argument(
        "--profile",
        required=True,
        type=Path,
        metavar="FILE",
        help="the function's profile (source, not compiled)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="skip the learning-done and profile-name checks"
        if learning
        else "skip the profile-name check",
    )
    if learning:
        parser.add_argument(
            "--min-quiet-invocations",
            type=int,
            default=100,
            metavar="N",
            help="invocations with nothing novel before enforce (default 100)",
        )
        parser.add_argument(
            "--min-quiet-time",
            default="24h",
            metavar="T",
            help="time with nothing novel before enforce (default 24h)",
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
    parser.add_argument(
        "--dry-run", action="store_true", help="check and show, publish and change nothing"
    )
    _alias_option(parser)
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


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
    return AwsOptions(
        region=args.region, endpoint_url=args.endpoint_url, profile_name=args.profile_name
    )


def _duration(value: str) -> dt.timedelta:
    value = value.strip()
    if value and value[-1] in _UNITS and value[:-1].isdigit():
        return dt.timedelta(seconds=int(value[:-1]) * _UNITS[value[-1]])
    if value.isdigit():
        return dt.timedelta(seconds=int(value))
    raise FleetError(f"duration {value!r}: expected e.g. 24h, 30m, 7d")


def _report(outcomes: Sequence[Outcome], as_json: bool) -> int:
    if as_json:
        print(json.dumps([o.to_dict() for o in outcomes], indent=2, sort_keys=True))
    else:
        for outcome in outcomes:
            stream = sys.stdout if outcome.ok else sys.stderr
            print(f"{outcome.function}: {outcome.status}: {outcome.message}", file=stream)
        failed = [o for o in outcomes if not o.ok]
        if len(outcomes) > 1:
            print(
                f"{len(outcomes) - len(failed)} of {len(outcomes)} functions done, "
                f"{len(failed)} refused or failed"
            )
    return 1 if any(not o.ok for o in outcomes) else 0


def _doc(func: Callable[..., Any]) -> str:
    """A command's docstring as help text: plain words, no reStructuredText markup."""
    import inspect

    return inspect.cleandoc(func.__doc__ or "").replace("``", "")


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn the tool's own errors into a message and exit status 1 (no traceback)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
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

    def __init__(self, opts: AwsOptions, explicit: str | None, *, upgrade: bool):
        self.opts = opts
        self.explicit = explicit
        self.upgrade = upgrade
        self._latest: dict[tuple[str, str], str] = {}

    def __call__(self, config: Mapping[str, Any]) -> str | None:
        if self.explicit:
            return self.explicit
        if not self.upgrade and attachment(config).sandbox_layer:
            return None  # keep the attached one
        runtime = str(config.get("Runtime") or "")
        if not runtime.startswith("python3"):
            return None  # plan_attach refuses it by name
        arch = (config.get("Architectures") or ["x86_64"])[0]
        key = (runtime, arch)
        if key not in self._latest:
            self._latest[key] = find_sandbox_layer(self.opts, runtime, arch)
        return self._latest[key]


# --------------------------------------------------------------------------- commands


@_guard
def cmd_layer_publish(args: argparse.Namespace) -> int:
    """``sandbox layer publish``: one layer version per runtime for the arch."""
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
    chooser = _LayerChooser(opts, args.layer_arn, upgrade=upgrade)
    planner = _attach_planner(chooser, mode, True, args.redirect_handler)
    names = select_functions(opts, args.functions, tags=args.tag, all_python=args.all_python)
    return _report(
        [
            apply_versioned(opts, name, planner, alias=args.alias, dry_run=args.dry_run)
            for name in names
        ],
        args.json,
    )


@_guard
def cmd_attach(args: argparse.Namespace) -> int:
    """``sandbox attach``: add the layer and the wrapper, set the mode."""
    return _attach_all(args, args.mode, upgrade=True)


@_guard
def cmd_detach(args: argparse.Namespace) -> int:
    """``sandbox detach``: remove everything the sandbox added."""
    opts = _options(args)
    names = select_functions(opts, args.functions, tags=args.tag, all_python=args.all_python)
    return _report(
        [apply(opts, name, plan_detach, dry_run=args.dry_run) for name in names], args.json
    )


@_guard
def cmd_learn(args: argparse.Namespace) -> int:
    """``sandbox learn``: switch to learn (attaching if needed), keeping any profile layer."""
    return _attach_all(args, "learn", upgrade=False)


@_guard
def cmd_rollback(args: argparse.Namespace) -> int:
    """``sandbox rollback``: the previous mode and profile layer version (``SANDBOX_PREVIOUS``)."""
    opts = _options(args)
    names = select_functions(opts, args.functions, tags=args.tag, all_python=args.all_python)
    if args.alias:
        return _report(
            [rollback_alias(opts, name, args.alias, dry_run=args.dry_run) for name in names],
            args.json,
        )
    return _report(
        [apply(opts, name, plan_rollback, dry_run=args.dry_run) for name in names], args.json
    )


def _profile_mode(mode: str) -> Callable[[argparse.Namespace], int]:
    @_guard
    def command(args: argparse.Namespace) -> int:
        from sandbox.profile import Profile
        from sandbox.profile.package import layer_description

        opts = _options(args)
        function = args.function
        profile = Profile.load(args.profile)
        short = function.rsplit(":function:", 1)[-1].split(":")[0]
        if profile.function != short and not args.force:
            raise Refused(
                f"{args.profile} is the profile of {profile.function!r}, not {short!r} "
                "(--force to use it anyway)"
            )
        if mode == "enforce":
            done, reason = learning_status(
                profile.learning,
                min_invocations=args.min_quiet_invocations,
                quiet=_duration(args.min_quiet_time),
            )
            if not done and not args.force:
                raise Refused(
                    f"{function}: learning is not done ({reason}); keep learning, "
                    "use `sandbox alert` "
                    "to see what enforce would block, or --force"
                )
        lambda_client = opts.client("lambda")
        config = wait_updated(lambda_client, function, opts)
        # Refuse (not Python, wrapper slot, layer limit) before publishing anything.
        placeholder = "arn:aws:lambda:r:0:layer:{}:1"
        plan_attach(
            config,
            sandbox_layer=placeholder.format("lambda-sandbox-placeholder"),
            mode=mode,
            profile_layer=placeholder.format("sandbox-profile-placeholder"),
            redirect_handler=args.redirect_handler,
        )
        compiled = profile.compile(base_dir=args.profile.resolve().parent)
        meta = profile_summary(profile, compiled)
        data = profile_zip(compiled, meta)
        sha = str(compiled.get("profile_sha256", ""))[:12]
        if args.dry_run:
            print(
                f"{function}: would publish profile {sha} ({len(data)} bytes) and switch to {mode}"
            )
            return 0
        arn, published = publish_profile_layer(
            opts,
            function,
            data,
            description=layer_description(short, str(compiled.get("profile_sha256", ""))),
            cache_dir=args.cache_dir or default_cache_dir(),
        )
        chooser = _LayerChooser(opts, args.layer_arn, upgrade=False)
        planner = _attach_planner(chooser, mode, arn, args.redirect_handler)
        outcome = apply_versioned(opts, function, planner, alias=args.alias)
        outcome.details["profile_layer"] = arn
        outcome.details["profile_published"] = published
        return _report([outcome], args.json)

    command.__doc__ = f"``sandbox {mode}``: publish the profile layer, attach it, switch to {mode}."
    return command


@_guard
def cmd_status(args: argparse.Namespace) -> int:
    """``sandbox status``: does what is deployed match the repository and the latest layer?"""
    from sandbox.fleet.drift import check_function, format_status

    if args.profile is not None and (len(args.functions) != 1 or args.tag or args.all_python):
        raise FleetError("--profile FILE is for one function; use --profiles DIR for several")
    opts = _options(args)
    names = select_functions(opts, args.functions, tags=args.tag, all_python=args.all_python)
    statuses = []
    for name in names:
        profile = args.profile
        if profile is None and args.profiles is not None:
            candidate = args.profiles / f"{name.rsplit(':function:', 1)[-1].split(':')[0]}.json"
            profile = candidate if candidate.is_file() else None
        statuses.append(
            check_function(
                opts,
                name,
                profile=profile,
                mode=args.mode,
                qualifier=args.alias,
                ssm_prefix=args.ssm_prefix,
                cache_dir=args.cache_dir or default_cache_dir(),
            )
        )
    if args.json:
        print(json.dumps([s.to_dict() for s in statuses], indent=2, sort_keys=True))
    else:
        print(format_status(statuses))
    return 1 if any(s.drift for s in statuses) else 0


@_guard
def cmd_inventory(args: argparse.Namespace) -> int:
    """sandbox inventory: per Python function, the mode, the sandbox and profile layer versions,
    the learning state, the hosts and AWS services it talks to (from its deployed profile),
    whether its role grants more than the profile uses (iam check against the profile layer),
    and with --findings its last findings and who caused them.

    Exit status: 0 listed, 1 a named function does not exist or AWS could not be read, 2 usage.
    """
    from sandbox.fleet.cwfindings import parse_since
    from sandbox.fleet.inventory import collect, format_csv, format_table

    opts = _options(args)
    rows = collect(
        opts,
        args.functions,
        cache_dir=args.cache_dir or default_cache_dir(),
        findings=args.findings,
        iam=not args.no_iam,
        since_ms=parse_since(args.since) if args.findings else None,
        min_invocations=args.min_quiet_invocations,
        quiet=_duration(args.min_quiet_time),
    )
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True, default=str))
    elif args.csv:
        sys.stdout.write(format_csv(rows))
    else:
        print(format_table(rows))
    return 0


def _function_arn_and_role(opts: AwsOptions, function: str) -> tuple[str, str, str]:
    config = call(opts.client("lambda"), "get_function_configuration", opts, FunctionName=function)
    return str(config["FunctionArn"]), str(config.get("Role", "")), str(config["FunctionName"])


@_guard
def cmd_iam_suggest(args: argparse.Namespace) -> int:
    """``sandbox iam suggest``: a least-privilege policy from the profile's AWS calls."""
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
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


@_guard
def cmd_iam_check(args: argparse.Namespace) -> int:
    """``sandbox iam check``: the role's grants against what the profile uses."""
    from sandbox.fleet.iam import check_role, role_policies
    from sandbox.profile import Profile

    opts = _options(args)
    profile = Profile.load(args.profile)
    arn, role_arn, name = _function_arn_and_role(opts, args.function)
    role_name = role_arn.rsplit("/", 1)[-1]
    policies = role_policies(opts.client("iam"), role_name, opts)
    result = check_role(policies, profile, function_arn=arn, function_name=name)
    if args.json:
        print(
            json.dumps(
                {"function": name, "role": role_arn, **result.to_dict()}, indent=2, sort_keys=True
            )
        )
    else:
        print(f"{name}: role {role_arn}: {len(policies)} policies")
        for item in result.over_permissive:
            print(
                f"  over-permissive  {item['kind']:<17} {item['policy']} [{item['sid']}]: "
                f"{item['detail']}"
            )
        for action in result.missing:
            print(f"  missing          {action} (used by the function, granted by no statement)")
        if result.ok:
            print("  least privilege: nothing beyond what the function uses")
    return 0 if result.ok else 1


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
    """``sandbox findings``: every distinct finding of a function from CloudWatch Logs, with
    its count, first and last seen and each caller; export to OCSF or Security Hub.

    Exit status: 0 no finding, 1 findings (or a failed export or lookup), 2 usage error.
    """
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
    records: list[dict[str, Any]] = []
    if args.logs:
        records.extend(read_findings_files(args.logs, args.function))
    else:
        name = require_function(opts, args.function)
        records.extend(read_findings(opts, name, since_ms=parse_since(args.since)))
    agg = aggregate(records)
    if args.ocsf:
        region = None if args.logs else opts.region_name()
        for group in agg.groups:
            print(json.dumps(to_ocsf(group, region=region), sort_keys=True))
    elif args.json:
        print(
            json.dumps(
                {"function": args.function, "since": args.since, **agg.to_dict()},
                indent=2,
                sort_keys=True,
            )
        )
    else:
        window = "in the files given" if args.logs else f"since {args.since}"
        _print_findings(args.function, window, agg)
    status = 1 if agg.groups else 0
    if args.to_securityhub:
        if not records:
            print("nothing to send to Security Hub", file=sys.stderr)
            return status
        summary = import_to_security_hub(opts, records)
        print(
            f"Security Hub: {summary['created']} created, {summary['updated']} updated, "
            f"{summary['unchanged']} unchanged; {summary['success']} imported, "
            f"{summary['failed']} failed in {summary['batches']} batches",
            file=sys.stderr,
        )
        for error in summary["errors"][:10]:
            print(
                f"  {error.get('Id')}: {error.get('ErrorCode')} {error.get('ErrorMessage')}",
                file=sys.stderr,
            )
        if summary["failed"]:
            return 1
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
        print("sandbox report: give --html FILE, --json, or both", file=sys.stderr)
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
    """Add attach, detach, enforce, alert, learn, rollback, inventory, iam, findings.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``sandbox`` command's subparsers. Each command sets ``func`` (namespace → exit code).
    """
    attach = subparsers.add_parser(
        "attach", help="attach the sandbox layer to functions", description=cmd_attach.__doc__
    )
    _selection(attach)
    attach.add_argument(
        "--mode",
        choices=("learn", "off"),
        default="learn",
        help="mode after attaching (default learn; alert/enforce: see `sandbox enforce`)",
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
    _alias_option(attach)
    _aws_options(attach)
    attach.set_defaults(func=cmd_attach, command="attach")

    detach = subparsers.add_parser(
        "detach", help="remove the sandbox from functions", description=cmd_detach.__doc__
    )
    _selection(detach)
    _aws_options(detach)
    detach.set_defaults(func=cmd_detach, command="detach")

    for mode in ("enforce", "alert"):
        parser = subparsers.add_parser(
            mode,
            help=f"publish a profile layer and switch to {mode}",
            description=_profile_mode(mode).__doc__,
        )
        _profile_options(parser, learning=(mode == "enforce"))
        _aws_options(parser)
        parser.set_defaults(func=_profile_mode(mode), command=mode)

    learn = subparsers.add_parser(
        "learn", help="switch functions to learn mode", description=cmd_learn.__doc__
    )
    _selection(learn)
    learn.add_argument(
        "--layer-arn", metavar="ARN", help="sandbox layer version when not yet attached"
    )
    learn.add_argument("--redirect-handler", action="store_true")
    _alias_option(learn)
    _aws_options(learn)
    learn.set_defaults(func=cmd_learn, command="learn")

    rollback = subparsers.add_parser(
        "rollback",
        help="return to the previous mode/profile version",
        description=cmd_rollback.__doc__,
    )
    _selection(rollback)
    _alias_option(rollback, rollback=True)
    _aws_options(rollback)
    rollback.set_defaults(func=cmd_rollback, command="rollback")

    inventory = subparsers.add_parser(
        "inventory",
        help="Python functions and the sandbox on each",
        description=_doc(cmd_inventory),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inventory.add_argument(
        "functions", nargs="*", metavar="FUNCTION", help="only these (default all Python functions)"
    )
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
    inventory.add_argument("--min-quiet-invocations", type=int, default=100, metavar="N")
    inventory.add_argument("--min-quiet-time", default="24h", metavar="T")
    inventory.add_argument("--cache-dir", type=Path, default=None, metavar="DIR")
    _aws_options(inventory)
    inventory.set_defaults(func=cmd_inventory, command="inventory")

    status = subparsers.add_parser(
        "status",
        help="drift: deployed sandbox vs the repository's profiles and the latest layer",
        description=cmd_status.__doc__,
    )
    status.add_argument("functions", nargs="*", metavar="FUNCTION", help="function names or ARNs")
    status.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    status.add_argument("--all", dest="all_python", action="store_true")
    expected = status.add_mutually_exclusive_group()
    expected.add_argument(
        "--profiles",
        type=Path,
        metavar="DIR",
        help="the repository's profiles: DIR/<function>.json is each function's",
    )
    expected.add_argument(
        "--profile", type=Path, metavar="FILE", help="the profile of the (one) function"
    )
    status.add_argument(
        "--mode", choices=("off", "learn", "alert", "enforce"), help="the mode expected"
    )
    status.add_argument(
        "--alias", metavar="NAME", help="check this alias or version (what callers run)"
    )
    status.add_argument("--ssm-prefix", default=SSM_PREFIX, metavar="PREFIX")
    status.add_argument("--cache-dir", type=Path, default=None, metavar="DIR")
    status.add_argument("--json", action="store_true")
    _aws_options(status)
    status.set_defaults(func=cmd_status, command="status")

    iam = subparsers.add_parser("iam", help="least-privilege IAM from a profile")
    iam_sub = iam.add_subparsers(dest="iam_command", required=True)
    suggest = iam_sub.add_parser(
        "suggest", help="write a least-privilege policy", description=cmd_iam_suggest.__doc__
    )
    suggest.add_argument("function", metavar="FUNCTION")
    suggest.add_argument("--profile", required=True, type=Path, metavar="FILE")
    suggest.add_argument("--out", type=Path, metavar="FILE", help="write here (default stdout)")
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
        help="compare the function's role with its profile",
        description=cmd_iam_check.__doc__,
    )
    check.add_argument("function", metavar="FUNCTION")
    check.add_argument("--profile", required=True, type=Path, metavar="FILE")
    check.add_argument("--json", action="store_true")
    _aws_options(check)
    check.set_defaults(func=cmd_iam_check, command="iam check")

    findings = subparsers.add_parser(
        "findings",
        help="a function's findings from CloudWatch Logs, aggregated",
        description=_doc(cmd_findings),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    findings.add_argument("function", metavar="FUNCTION")
    findings.add_argument(
        "--since", default="1h", help="how far back: 1h, 30m, 2d or an ISO time (default 1h)"
    )
    findings.add_argument(
        "--logs",
        type=Path,
        action="append",
        metavar="PATH",
        help="read these files or folders of log lines instead of CloudWatch Logs (repeatable)",
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
    _aws_options(findings)
    findings.set_defaults(func=cmd_findings, command="findings")

    report = subparsers.add_parser(
        "report",
        help="an HTML report: profile map, learning curve, findings over time",
        description=_doc(cmd_report),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("functions", nargs="+", metavar="FUNCTION")
    report.add_argument("--html", type=Path, metavar="FILE", help="write the page here")
    report.add_argument("--json", action="store_true", help="print the report's data as JSON")
    report.add_argument(
        "--profile",
        type=Path,
        action="append",
        metavar="FILE",
        help="a function's profile file (repeatable; matched by its function name); "
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
