"""The Lambda layer: what it contains, how it is laid out, and how it is built.

The layer is the runtime subpackage (:mod:`sandbox.runtime`) installed under a private import
name, plus the exec wrapper at its root::

    sandbox-wrapper                  AWS_LAMBDA_EXEC_WRAPPER=/opt/sandbox-wrapper
    python/_lambda_sandbox/...       sandbox/runtime/, file for file (no bytecode)

:func:`stage_layer` writes that tree (the layer build zips it; local runs use it as their
``/opt``), so what runs locally is what ships.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import sandbox.runtime

__all__ = [
    "BOOTSTRAP_HANDLER",
    "LAYER_PACKAGE",
    "RUNTIME_DIR",
    "WRAPPER",
    "WRAPPER_NAME",
    "runtime_files",
    "stage_layer",
]

# The runtime's import name inside the layer: private, so no function's own module shadows it.
LAYER_PACKAGE = "_lambda_sandbox"
BOOTSTRAP_HANDLER = f"{LAYER_PACKAGE}.bootstrap.handler"
RUNTIME_DIR = Path(sandbox.runtime.__file__).resolve().parent
WRAPPER_NAME = "sandbox-wrapper"
WRAPPER = RUNTIME_DIR / WRAPPER_NAME

_SKIP_DIRS = frozenset({"__pycache__"})
_SKIP_SUFFIXES = (".pyc", ".pyo")


def runtime_files() -> Iterator[tuple[str, Path]]:
    """Yield ``(path inside the runtime package, file)`` for every file the layer ships.

    Example
    -------
    >>> sorted(name for name, _ in runtime_files())[:2]
    ['__init__.py', 'address_book.py']
    """
    for path in sorted(RUNTIME_DIR.rglob("*")):
        rel = path.relative_to(RUNTIME_DIR)
        if _SKIP_DIRS.intersection(rel.parts) or path.name.endswith(_SKIP_SUFFIXES):
            continue
        if path.is_file():
            yield rel.as_posix(), path


def stage_layer(dest: Path) -> Path:
    """Lay the layer out under ``dest`` (an ``/opt``-like directory); return the wrapper's path.

    Example
    -------
    >>> wrapper = stage_layer(Path(tempfile.mkdtemp()))  # doctest: +SKIP
    """
    package = dest / "python" / LAYER_PACKAGE
    for rel, source in runtime_files():
        target = package / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    wrapper = dest / WRAPPER_NAME
    shutil.copyfile(WRAPPER, wrapper)
    wrapper.chmod(0o755)
    return wrapper
