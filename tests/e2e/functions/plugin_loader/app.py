"""A plugin loader: each event names a formatter plugin, imported on first use."""

from __future__ import annotations

import importlib


def handler(event, context):  # type: ignore[no-untyped-def]
    name = event["plugin"]
    # The vulnerability: a dotted name is imported as given.
    module = importlib.import_module(name if "." in name else f"plugins.{name}")
    return {"plugin": name, "result": module.render(event["text"])}
