"""The Lambda layer: what it contains, how it is laid out, and how it is built.

The layer is the runtime subpackage (:mod:`sandbox.runtime`) installed under a private import
name, plus the exec wrapper at its root::

    sandbox-wrapper                  AWS_LAMBDA_EXEC_WRAPPER=/opt/sandbox-wrapper
    python/_lambda_sandbox/...       sandbox/runtime/, file for file
    python/_lambda_sandbox/_core.cpython-3XY-<triple>.so
                                     the native core, one per Python (layer build: all of
                                     them for the layer's arch; local runs: the one built
                                     for the running interpreter, if any)
    python/_lambda_sandbox/**/__pycache__/NAME.cpython-3XY.pyc
                                     each module's bytecode, one per Python (layer build
                                     only: :mod:`sandbox.layer.bytecode`)

:func:`stage_layer` writes that tree but the bytecode (the layer build compiles it into the
staged tree, then zips it; local runs use the tree as their ``/opt``), so what runs locally is
what ships.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
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
_NATIVE_SUFFIX = ".so"


def runtime_files(native: Iterable[Path] | None = None) -> Iterator[tuple[str, Path]]:
    """Yield ``(path inside the runtime package, file)`` for every file the layer ships, sorted.

    Parameters
    ----------
    native : iterable of Path, optional
        The native core's shared objects to ship (the layer build passes those built for its
        architecture, :func:`sandbox.layer.native.build_native`); they replace any shared
        object found in the runtime directory. ``None``: ship the runtime directory as it is,
        with the extension built in place for the running interpreter, if any (local runs).

    Example
    -------
    >>> sorted(name for name, _ in runtime_files())[:2]
    ['__init__.py', '_core.c']
    """
    files: dict[str, Path] = {}
    for path in sorted(RUNTIME_DIR.rglob("*")):
        rel = path.relative_to(RUNTIME_DIR)
        if _SKIP_DIRS.intersection(rel.parts) or path.name.endswith(_SKIP_SUFFIXES):
            continue
        if native is not None and path.name.endswith(_NATIVE_SUFFIX):
            continue
        if path.is_file():
            files[rel.as_posix()] = path
    for path in native or ():
        files[path.name] = path
    yield from sorted(files.items())


def stage_layer(dest: Path, native: Iterable[Path] | None = None) -> Path:
    """Lay the layer out under ``dest`` (an ``/opt``-like directory); return the wrapper's path.

    ``native``: as in :func:`runtime_files`.

    Example
    -------
    >>> wrapper = stage_layer(Path(tempfile.mkdtemp()))  # doctest: +SKIP
    """
    package = dest / "python" / LAYER_PACKAGE
    for rel, source in runtime_files(native):
        target = package / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    wrapper = dest / WRAPPER_NAME
    shutil.copyfile(WRAPPER, wrapper)
    wrapper.chmod(0o755)
    return wrapper
