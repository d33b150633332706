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


# Taken at import, before the function's code runs: what os.environ.items() yields. From its
# own data through its own decoders (which make exact strs) when it is the plain mapping, with
# no mapping view's Python code per variable (~1.5 µs each, at every cold start). (Module-level
# code: a function here reading `os` would be named by call_time.verify in the tests.)
_data = getattr(os.environ, "_data", None)
if _type(os.environ) is os._Environ and _type(_data) is dict:
    _key, _value = os.environ.decodekey, os.environ.decodevalue
    ENVIRON: dict[str, str] = {_key(k): _value(v) for k, v in _data.items()}
    del _key, _value
else:
    ENVIRON = {k: v for k, v in os.environ.items() if _type(k) is _str and _type(v) is _str}
del _data
# The environment at install: what this process had when the sandbox loaded, with the sandbox's
# own changes (its children's variables at install, SANDBOX_PHASE at the switch to invoke). A
# child's variable set to a value other than this is decided by the hook (decoders/processes.py;
# a removal only when it removes what protects children). Changes only through `own`, never
# through the function's putenv.
INSTALLED: dict[str, str] = dict(ENVIRON)


def get(name: str, default: str | None = None) -> str | None:
    return ENVIRON.get(name, default)


def apply(name: str, value: str | None) -> None:
    """Record an allowed ``putenv`` (value) or ``unsetenv`` (``None``)."""
    if value is None:
        ENVIRON.pop(name, None)
    else:
        ENVIRON[name] = value


def own(name: str, value: str) -> None:
    """Record a change the sandbox itself makes (install, phase switch): part of the baseline."""
    ENVIRON[name] = value
    INSTALLED[name] = value
