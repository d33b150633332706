"""The process's real environment, as the C library and every child will see it.

``os.environ`` is a Python object the function can replace or fill with anything; the C-level
environment changes only through ``os.putenv``/``os.unsetenv`` (both audited) or native code. The
sandbox keeps its own copy, taken at import (before the function's code loads) and updated from
those audit events once they are allowed, and reads ``PATH`` and inherited variables from it.
"""

from __future__ import annotations

import os

_str = str
_type = type

# Taken at import, before the function's code runs.
ENVIRON: dict[str, str] = {
    k: v for k, v in os.environ.items() if _type(k) is _str and _type(v) is _str
}


def get(name: str, default: str | None = None) -> str | None:
    return ENVIRON.get(name, default)


def apply(name: str, value: str | None) -> None:
    """Record an allowed ``putenv`` (value) or ``unsetenv`` (``None``)."""
    if value is None:
        ENVIRON.pop(name, None)
    else:
        ENVIRON[name] = value
