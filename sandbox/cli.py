"""The ``sandbox`` command: one parser, each feature's subcommands added by its own module."""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, function adding subcommands). Each feature owns its parser; this file only wires.
_FEATURES = (
    ("sandbox.local.cli", "add_run_parser"),
    ("sandbox.layer_build", "add_layer_parser"),
    ("sandbox.profile.cli", "add_profile_parser"),
    ("sandbox.aws.cli", "add_fleet_parsers"),
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with the subcommands of every feature installed."""
    from sandbox import __version__

    parser = argparse.ArgumentParser(
        prog="sandbox",
        description="lambda-sandbox: learn, review and enforce what a Python Lambda function may do.",
    )
    parser.add_argument("--version", action="version", version=f"lambda-sandbox {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name, function_name in _FEATURES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
                raise  # a missing dependency of a feature is a real error
            continue  # the feature is not part of this installation (e.g. the Lambda layer)
        getattr(module, function_name)(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sandbox`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
