"""``sandbox profile …``: build, diff, show, check, status, compile, package, schema.

Wire into the main parser with :func:`add_profile_parser`; every subcommand sets ``func`` to a
handler taking the parsed namespace and returning the exit code (0 ok; 1 ``check`` found
errors (with ``--strict`` also warnings and risky rules), ``status`` says learning is not done,
``diff --exit-code`` found differences; 2 usage or input errors). ``show``, ``diff``, ``check``
and ``status`` print JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError


def add_profile_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``profile`` and its subcommands to an ``argparse`` subparsers object.

    Example
    -------
    >>> parser = argparse.ArgumentParser(prog="sandbox")
    >>> _ = add_profile_parser(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["profile", "schema"]).func.__name__
    'cmd_schema'
    """
    profile = subparsers.add_parser("profile", help="build, review and compile profiles")
    sub = profile.add_subparsers(dest="profile_command", required=True)

    build = sub.add_parser("build", help="build or extend a profile from learn-mode observations")
    build.add_argument(
        "--function",
        help="function name (records of others are skipped); default: the only function in "
        "the sources",
    )
    build.add_argument(
        "--from",
        dest="sources",
        nargs="+",
        action="extend",
        required=True,
        metavar="SOURCE",
        help="file, folder, cloudwatch[:GROUP] or s3://bucket/prefix",
    )
    build.add_argument(
        "-o",
        "--out",
        help="profile file NAME.json (merged into when it exists; coverage and learning state "
        "go to NAME.learning.json beside it); default: print the policy",
    )
    build.add_argument(
        "--threshold", type=int, default=3, help="distinct literals before a family becomes a glob"
    )
    build.add_argument("--region", help="AWS region for cloudwatch and s3 sources")
    build.add_argument(
        "--endpoint-url", metavar="URL", help="AWS API endpoint for cloudwatch and s3 sources"
    )
    build.add_argument(
        "--profile-name", metavar="NAME", help="named AWS profile (credentials) for the sources"
    )
    build.add_argument(
        "--insights",
        action="store_true",
        help="cloudwatch sources: aggregate server-side with Logs Insights (falls back to "
        "reading every line where it cannot)",
    )
    build.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="also read records without a MAC (logs of versions before authentication, or "
        "rebuilt by Logs Insights): only for logs whose integrity is known otherwise",
    )
    build.add_argument(
        "--generalise-regions", action="store_true", help="AWS endpoints: region -> *"
    )
    build.add_argument(
        "--extends",
        action="append",
        metavar="BUNDLE",
        help="base bundles of a new profile (default python-runtime)",
    )
    build.add_argument(
        "--literal-cap", type=int, default=20, help="literals kept per rule's coverage"
    )
    build.set_defaults(func=cmd_build)

    diff = sub.add_parser("diff", help="review diff between two profiles")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument("--json", action="store_true", help="print the diff as JSON")
    diff.add_argument(
        "--exit-code", action="store_true", help="exit 1 when the profiles differ (as git diff)"
    )
    diff.set_defaults(func=cmd_diff)

    show = sub.add_parser("show", help="readable summary of a profile")
    show.add_argument("file")
    show.add_argument("--json", action="store_true", help="print rules and learning as JSON")
    show.set_defaults(func=cmd_show)

    check = sub.add_parser("check", help="validate and lint profiles, report risky rules")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--json", action="store_true", help="print the issues as JSON")
    check.add_argument("--strict", action="store_true", help="fail on warnings and risky rules too")
    check.set_defaults(func=cmd_check)

    status = sub.add_parser("status", help="is learning done?")
    status.add_argument("file")
    status.add_argument("--json", action="store_true", help="print the evidence as JSON")
    status.add_argument("--invocations", type=int, default=100, help="quiet invocations needed")
    status.add_argument("--quiet-for", default="24h", help="quiet time needed (30m, 1h, 2d)")
    status.set_defaults(func=cmd_status)

    comp = sub.add_parser("compile", help="write the runtime form")
    comp.add_argument("file")
    comp.add_argument("-o", "--out", required=True)
    comp.add_argument("--json", action="store_true", help="print the result as JSON")
    comp.set_defaults(func=cmd_compile)

    package = sub.add_parser(
        "package",
        help="the compiled profile as a Lambda layer (zip or directory), deterministic",
        description="Compile a reviewed profile and lay it out as the profile layer "
        "(/opt/sandbox-profile/profile.json). OUT ending in .zip: the layer zip, the same bytes "
        "for the same profile; otherwise a directory with the layer's files.",
    )
    package.add_argument("file", metavar="PROFILE")
    package.add_argument("-o", "--out", required=True, metavar="DIR_OR_ZIP")
    package.add_argument(
        "--manifest",
        metavar="FILE",
        help="also write the manifest (function, profile_sha256, description, code_sha256, zip)",
    )
    shown = package.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print the manifest as JSON")
    shown.add_argument("--print-sha256", action="store_true", help="print only the profile's hash")
    package.set_defaults(func=cmd_package)

    schema = sub.add_parser("schema", help="print the profile JSON Schema")
    schema.set_defaults(func=cmd_schema)
    return profile  # type: ignore[no-any-return]


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _aws_clients(args: argparse.Namespace) -> dict[str, Any] | None:
    """boto3 clients for the cloudwatch and s3 sources, honouring the endpoint and AWS profile."""
    services = {
        "logs" if s.startswith("cloudwatch") else "s3"
        for s in args.sources
        if s == "cloudwatch" or s.startswith(("cloudwatch:", "s3://"))
    }
    if not services or not (args.endpoint_url or args.profile_name):
        return None  # the sources make their own clients (region only) when needed
    from sandbox.profile.observations import SourceError

    try:
        import boto3
    except ImportError as exc:  # pragma: no cover - boto3 ships with the dev extras
        raise SourceError("reading from AWS needs boto3 (pip install boto3)") from exc
    try:
        session = boto3.session.Session(profile_name=args.profile_name, region_name=args.region)
    except Exception as exc:  # botocore.exceptions.ProfileNotFound
        raise SourceError(f"--profile-name {args.profile_name}: {exc}") from exc
    return {name: session.client(name, endpoint_url=args.endpoint_url) for name in services}


def cmd_build(args: argparse.Namespace) -> int:
    from sandbox.profile.build import BuildOptions, build_profile
    from sandbox.profile.diff import diff_profiles
    from sandbox.profile.model import Profile
    from sandbox.profile.observations import functions_in

    if args.threshold < 1:
        return _error("--threshold must be at least 1")
    out = Path(args.out) if args.out else None
    if out is not None and out.is_dir():
        return _error(f"--out {out} is a directory; give the profile's file name (NAME.json)")
    function = args.function
    try:
        if function is None:
            local = [s for s in args.sources if not s.startswith(("cloudwatch", "s3://"))]
            names = functions_in(local) if local == args.sources else []
            if len(names) != 1:
                found = ", ".join(names) if names else "none"
                return _error(
                    f"give --function: the sources hold {len(names) or 'no'} function(s) "
                    f"({found})" + ("" if local == args.sources else "; cloudwatch/s3 need it")
                )
            function = names[0]
        with _locked(out):
            existing = Profile.load(out) if out is not None and out.exists() else None
            options = BuildOptions(
                threshold=args.threshold,
                generalise_regions=args.generalise_regions,
                literal_cap=args.literal_cap,
                region=args.region,
                extends=tuple(args.extends or ("python-runtime",)),
                base_dir=out.parent if out is not None else None,
                insights=args.insights,
                allow_unauthenticated=args.allow_unauthenticated or None,
            )
            profile, report = build_profile(
                function, args.sources, existing, options, clients=_aws_clients(args)
            )
            if out is not None:
                profile.save(out)
    except SandboxError as exc:
        return _error(str(exc))
    print(report.summary(), file=sys.stderr)
    if out is None:
        sys.stdout.write(profile.to_json())
        return 0
    old = existing or Profile(function=function, extends=profile.extends)
    print("\n".join(diff_profiles(old, profile, old_name=str(out), new_name=f"{out} (built)")))
    return 0


@contextlib.contextmanager
def _locked(out: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on the output's directory for a read-build-write cycle.

    Two builds writing the same profile then run one after the other, and the second merges
    into what the first wrote (no lost observations); no lock file is left behind.
    """
    if out is None:
        yield
        return
    import fcntl

    directory = out.parent if str(out.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:  # a filesystem without flock: build unlocked, say so
            print(f"warning: cannot lock {directory}: {exc.strerror or exc}", file=sys.stderr)
        yield
    finally:
        os.close(fd)


def _load(path: str) -> Any:
    from sandbox.profile.model import Profile

    return Profile.load(path)


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def cmd_diff(args: argparse.Namespace) -> int:
    from sandbox.profile.diff import diff_json, diff_profiles

    try:
        old, new = _load(args.old), _load(args.new)
    except SandboxError as exc:
        return _error(str(exc))
    data = diff_json(old, new)
    if args.json:
        _print_json({"old": args.old, "new": args.new, **data})
    else:
        print("\n".join(diff_profiles(old, new, old_name=args.old, new_name=args.new)))
    return 1 if args.exit_code and data["changed"] else 0


def cmd_show(args: argparse.Namespace) -> int:
    from sandbox.profile.diff import show_json, show_profile

    try:
        profile = _load(args.file)
    except SandboxError as exc:
        return _error(str(exc))
    if args.json:
        _print_json(show_json(profile))
    else:
        print(show_profile(profile))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from sandbox.profile.check import check_profile

    missing = [file for file in args.files if not Path(file).is_file()]
    if missing:  # an input error (2), not a finding of the check (1)
        return _error(f"no such file: {', '.join(missing)}")
    failing = {"error"} | ({"warning", "risk"} if args.strict else set())
    results: dict[str, list[dict[str, str]]] = {}
    failed = False
    for file in args.files:
        if file.endswith(".learning.json"):
            # `check profiles/*.json` also names the learning records: they are read (and
            # validated) with their profile.
            if not args.json:
                print(f"{file}: learning record, checked with its profile")
            continue
        issues = check_profile(file)
        results[file] = [i.as_dict() for i in issues]
        failed = failed or any(i.level in failing for i in issues)
        if args.json:
            continue
        for issue in issues:
            print(issue)
        if not any(i.level in ("error", "warning") for i in issues):
            risky = sum(1 for i in issues if i.level == "risk")
            print(f"{file}: ok" + (f" ({risky} risky rule(s) to review)" if risky else ""))
    if args.json:
        _print_json({"ok": not failed, "strict": args.strict, "files": results})
    return 1 if failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    from sandbox.profile.status import learning_status, parse_duration, status_data

    try:
        quiet = parse_duration(args.quiet_for)
        profile = _load(args.file)
    except (SandboxError, ValueError) as exc:
        return _error(str(exc))
    if args.json:
        data = status_data(profile, invocations=args.invocations, quiet_for=quiet)
        _print_json(data)
        return 0 if data["done"] else 1
    done, lines = learning_status(profile, invocations=args.invocations, quiet_for=quiet)
    print("\n".join(lines))
    return 0 if done else 1


def cmd_compile(args: argparse.Namespace) -> int:
    from sandbox.profile.compiled import compile_file

    try:
        compiled = compile_file(args.file, args.out)
    except SandboxError as exc:
        return _error(str(exc))
    except OSError as exc:
        return _error(f"{args.out}: cannot write: {exc.strerror or exc}")
    groups: dict[str, list[Any]] = compiled["rules"]  # type: ignore[assignment]
    rules = sum(len(v) for v in groups.values())
    if args.json:
        _print_json(
            {"out": args.out, "entries": rules, "profile_sha256": compiled["profile_sha256"]}
        )
        return 0
    print(
        f"{args.out}: {rules} matcher entr{'y' if rules == 1 else 'ies'}, sha256 {compiled['profile_sha256']}"
    )
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    import json

    from sandbox.profile.package import package_profile, write_manifest, write_package

    try:
        package = package_profile(args.file)
        out = write_package(package, args.out)
        if args.manifest:
            write_manifest(package, out, args.manifest)
    except SandboxError as exc:
        return _error(str(exc))
    if args.json:
        print(json.dumps(package.manifest(out), indent=2, sort_keys=True))
    elif args.print_sha256:
        print(package.profile_sha256)
    else:
        print(f"{out}: profile layer of {package.function}, sha256 {package.profile_sha256}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from sandbox.profile.compiled import schema_text

    sys.stdout.write(schema_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m sandbox.profile.cli profile …``)."""
    parser = argparse.ArgumentParser(prog="sandbox")
    add_profile_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["add_profile_parser", "main"]
