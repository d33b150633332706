"""``sandbox run``: invoke a handler locally under the real awslambdaric and the layer wrapper."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sandbox.local.runner import MODES, run_function
from sandbox.local.runtime_api import InvocationResult

__all__ = ["add_run_parser", "cmd_run", "main", "parse_env"]


def add_run_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``run`` subcommand; it sets ``func=cmd_run`` on the parsed namespace.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The result of ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``run`` parser.
    """
    parser = subparsers.add_parser(
        "run",
        help="invoke a handler locally under the real awslambdaric",
        description=(
            "Run HANDLER (module.function) on each event, in order, in one warm runtime process "
            "started through the layer's exec wrapper and the real awslambdaric. Prints each "
            "response (or error document) as one JSON line on stdout as soon as it finishes; "
            "the function's log goes to --log, or to stderr. Exits 1 if any invocation failed."
        ),
    )
    parser.add_argument("handler", metavar="HANDLER", help="handler string, e.g. app.handler")
    parser.add_argument(
        "--event",
        action="append",
        metavar="FILE|-",
        help="event JSON file, '-' for stdin; repeat for several invocations (default: {})",
    )
    parser.add_argument("--mode", choices=MODES, default="off", help="SANDBOX_MODE (default off)")
    parser.add_argument("--profile", type=Path, metavar="FILE", help="compiled profile")
    parser.add_argument(
        "--code-dir", type=Path, default=Path("."), metavar="DIR", help="task root (default .)"
    )
    parser.add_argument("--log", type=Path, metavar="FILE", help="write the log stream here")
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="function timeout (default 30)"
    )
    parser.add_argument(
        "--function-name",
        metavar="NAME",
        help="AWS_LAMBDA_FUNCTION_NAME, the name observations and findings carry "
        "(default: the code directory's name)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a function environment variable (repeatable; overrides --env-file)",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="FILE",
        help="environment variables in SAM's --env-vars JSON format: "
        '{"Parameters": {...}, "<function name>": {...}}',
    )
    parser.set_defaults(func=cmd_run)
    return parser


def _read_events(sources: list[str] | None) -> list[bytes]:
    """Read and validate every event before anything starts; raise ValueError on bad input."""
    if not sources:
        return [b"{}"]
    if sources.count("-") > 1:
        raise ValueError("--event - (stdin) can be given only once")
    events = []
    for source in sources:
        name = "stdin" if source == "-" else source
        try:
            data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read event {name}: {exc.strerror or exc}") from exc
        try:
            json.loads(data)
        except ValueError as exc:
            raise ValueError(f"event {name} is not JSON: {exc}") from exc
        events.append(data)
    return events


def parse_env(pairs: list[str], env_file: Path | None, function_name: str) -> dict[str, str]:
    """The function's environment from ``--env-file`` (SAM format) then ``--env KEY=VALUE``.

    SAM's ``--env-vars`` file maps ``Parameters`` (every function) and function names (that
    function only, taking precedence) to ``{KEY: VALUE}``. Raises ValueError on bad input.

    Example
    -------
    >>> parse_env(["TABLE_NAME=orders"], None, "orders")
    {'TABLE_NAME': 'orders'}
    """
    env: dict[str, str] = {}
    if env_file is not None:
        try:
            data = json.loads(env_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"cannot read --env-file {env_file}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise ValueError(f"--env-file {env_file} is not JSON: {exc}") from exc
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ValueError(
                f"--env-file {env_file}: expected SAM's format "
                '{"Parameters": {"KEY": "VALUE"}, "<function name>": {"KEY": "VALUE"}}'
            )
        for section in ("Parameters", function_name):
            for key, value in data.get(section, {}).items():
                if isinstance(value, (dict, list)) or value is None:
                    raise ValueError(f"--env-file {env_file}: {section}.{key} must be a scalar")
                env[str(key)] = value if isinstance(value, str) else json.dumps(value)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise ValueError(f"--env {pair!r}: expected KEY=VALUE")
        env[key] = value
    return env


def _one_line(result: InvocationResult) -> str:
    try:
        return json.dumps(result.json(), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return result.payload.decode("utf-8", "replace").replace("\n", "\\n")


def cmd_run(args: argparse.Namespace) -> int:
    """Execute ``sandbox run`` from parsed arguments.

    Parameters
    ----------
    args : argparse.Namespace
        Namespace produced by the parser from :func:`add_run_parser`.

    Returns
    -------
    int
        0 if every invocation succeeded, 1 if one failed, 2 on bad input.
    """
    try:
        events = _read_events(args.event)
        if args.profile is not None and not args.profile.is_file():
            raise ValueError(f"profile {args.profile} not found")
        if not args.code_dir.is_dir():
            raise ValueError(f"code dir {args.code_dir} is not a directory")
        function_name = args.function_name or args.code_dir.resolve().name
        env = parse_env(args.env, args.env_file, function_name)
    except ValueError as exc:
        print(f"sandbox run: {exc}", file=sys.stderr)
        return 2

    def to_stderr(line: str) -> None:
        # awslambdaric joins a multi-line error with \r (one CloudWatch event); show it as lines.
        print(line.replace("\r", "\n"), file=sys.stderr, flush=True)

    def on_result(_index: int, item: InvocationResult) -> None:
        # One line per invocation as it finishes: Ctrl-C after 12 of 40 has printed 12.
        print(_one_line(item), flush=True)
        if not item.ok:
            print(f"{item.error_type}: {item.error_message}", file=sys.stderr, flush=True)

    try:
        result = run_function(
            args.handler,
            events,
            code_dir=args.code_dir,
            mode=args.mode,
            profile=args.profile,
            log_file=args.log,
            timeout_s=args.timeout,
            env=env,
            function_name=function_name,
            on_log_line=None if args.log else to_stderr,
            on_result=on_result,
        )
    except (OSError, ValueError) as exc:
        print(f"sandbox run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sandbox run: interrupted", file=sys.stderr)
        return 130
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (``python -m sandbox.local run ...``).

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m sandbox.local")
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status
