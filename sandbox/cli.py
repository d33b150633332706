"""The ``sandbox`` command: one parser, each feature's subcommands added by its own module."""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, function adding subcommands). Each feature owns its parser; this file only wires.
_FEATURES = (
    ("sandbox.local.cli", "add_run_parser"),
    ("sandbox.layer.build", "add_layer_parser"),
    ("sandbox.profile.cli", "add_profile_parser"),
    ("sandbox.fleet.cli", "add_fleet_parsers"),
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
    layer_parser: argparse.ArgumentParser | None = None
    for module_name, function_name in _FEATURES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
                raise  # a missing dependency of a feature is a real error
            continue  # the feature is not part of this installation (e.g. the Lambda layer)
        added = getattr(module, function_name)(subparsers)
        if function_name == "add_layer_parser":
            layer_parser = added
    # `layer publish` (fleet) joins `layer build` (sandbox.layer.build) under the same `layer` command.
    try:
        from sandbox.fleet.cli import add_layer_publish
    except ModuleNotFoundError:
        pass
    else:
        assert layer_parser is not None, "the layer command comes with the package"
        layer_sub = next(
            a for a in layer_parser._actions if isinstance(a, argparse._SubParsersAction)
        )
        add_layer_publish(layer_sub)
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
