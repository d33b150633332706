"""Compile the layer's runtime package to bytecode with every Lambda Python, reproducibly.

``/opt`` is read-only in Lambda: without bytecode in the layer, every cold start compiles each
runtime module from source (sandbox init measured ~5x slower). So the layer build compiles
every ``.py`` of the staged package with each supported CPython, by that interpreter (the
magic number and the bytecode differ per minor version), into ``__pycache__/NAME.cpython-3XY.pyc``
next to its source, where that interpreter's import system looks. The sources stay in the layer
(tracebacks, review).

The ``.pyc`` files are hash-based (PEP 552) and **unchecked**: their header holds a hash of the
source instead of its mtime, so the bytes do not depend on when the layer was built, and the
import system does not read or hash the source to validate them. A checked-hash ``.pyc`` makes
each import read its source and hash it: ~0.4 ms per cold start for the ~35 modules sandbox init
loads (measured, warm page cache), for no gain in a layer that nobody can change in place (layer
versions are immutable and ``/opt`` is read-only). The cost of that choice: an edited source in
an unzipped copy of the layer is ignored until its ``.pyc`` is removed (or the interpreter runs
with ``--check-hash-based-pycs always``); rebuild the layer instead.

Beside them, each interpreter writes the hook's bytecode bundle
(``__pycache__/hook-modules.cpython-3XY.bundle``: the modules install executes privately, in
one file; :mod:`sandbox.runtime.private_modules`), unchecked for the same reason: install reads
it without looking at the sources, and an edited source in an unzipped copy is ignored there
too until the bundle is removed.

Each code object records the path its source will have in Lambda
(``/opt/python/_lambda_sandbox/...``, :data:`LAYER_ROOT`), not the build directory's: no path
of the build machine is in the bytes. Where the layer is unzipped elsewhere, the import system
rewrites that name to the real file's (``_imp._fix_co_filename``), so tracebacks point at the
sources either way.

Which Pythons: those the native core is built for (:data:`sandbox.layer.native.PYTHONS`), found
as the native build finds them (:func:`sandbox.layer.native.interpreters`), with the same rule:
a version in :data:`~sandbox.layer.native.OPTIONAL_PYTHONS` (3.14) without an interpreter is
left out with a warning naming it (that runtime then compiles the runtime's modules at each cold
start); any other version missing fails the build.

Reproducible: one process per interpreter compiles the files in sorted order with a fixed hash
seed (CPython 3.10 writes a set literal's constant in hash order, so its bytes follow
``PYTHONHASHSEED``) and no ``PYTHON*`` setting of the caller's; the same sources and
interpreters give the same bytes (tested).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from sandbox.errors import SandboxError
from sandbox.layer import LAYER_PACKAGE
from sandbox.layer.native import OPTIONAL_PYTHONS, PYTHONS, interpreters
from sandbox.runtime.private_modules import bundle_sources

__all__ = [
    "INVALIDATION_MODE",
    "LAYER_ROOT",
    "BytecodeBuildError",
    "bundle_name",
    "compile_package",
    "find_compilers",
    "pyc_name",
]

# Where Lambda extracts the layer's python/ directory: the name each code object records.
LAYER_ROOT = PurePosixPath("/opt/python")
# PEP 552 mode (py_compile.PycInvalidationMode's name); see the module docstring for the choice.
INVALIDATION_MODE = "UNCHECKED_HASH"

# Run by each interpreter: compile every (source, recorded name) of the job, in the given
# order, into __pycache__/<stem>.<cache tag>.pyc next to the source. The cache file's name is
# built here rather than by importlib.util.cache_from_source, which would follow a
# pycache_prefix. Prints the files written as JSON.
_COMPILER = """
import json, os, py_compile, sys
job = json.loads(sys.stdin.buffer.read())
found = "%d.%d" % sys.version_info[:2]
if found != job["version"] or sys.implementation.name != "cpython":
    sys.exit("this interpreter is %s %s, not CPython %s" % (sys.implementation.name, found, job["version"]))
mode = py_compile.PycInvalidationMode[job["mode"]]
written = []
for source, shown in job["files"]:
    folder, leaf = os.path.split(source)
    cfile = os.path.join(folder, "__pycache__", "%s.%s.pyc" % (leaf[:-3], sys.implementation.cache_tag))
    try:
        py_compile.compile(source, cfile=cfile, dfile=shown, doraise=True, optimize=0, invalidation_mode=mode)
    except py_compile.PyCompileError as exc:
        sys.exit("%s: %s" % (source, exc.msg.strip()))
    written.append(cfile)
bundle = job.get("bundle")
if bundle:
    import runpy
    space = runpy.run_path(bundle["module"])  # (stdlib only at import: runs by path)
    path = space["bundle_path"](bundle["directory"])
    sources = [tuple(pair) for pair in bundle["sources"]]
    try:
        space["build_bundle"](path, sources, shown=bundle["shown"], unchecked=True)
    except (OSError, SyntaxError, ValueError) as exc:
        sys.exit("the hook's bytecode bundle: %s" % exc)
    written.append(path)
sys.stdout.write(json.dumps(written))
"""


class BytecodeBuildError(SandboxError, RuntimeError):
    """The runtime's bytecode could not be built (no interpreter for a Python, a failed compile)."""


def pyc_name(source: str, version: str) -> str:
    """The ``.pyc`` path (relative, POSIX) that CPython ``version`` loads for ``source``.

    Example
    -------
    >>> pyc_name("decoders/files.py", "3.11")
    'decoders/__pycache__/files.cpython-311.pyc'
    """
    path = PurePosixPath(source)
    tag = f"cpython-{version.replace('.', '')}"
    return str(path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc")


def bundle_name(version: str) -> str:
    """The hook's bytecode bundle (relative, POSIX) that CPython ``version`` reads.

    Example
    -------
    >>> bundle_name("3.11")
    '__pycache__/hook-modules.cpython-311.bundle'
    """
    return f"__pycache__/hook-modules.cpython-{version.replace('.', '')}.bundle"


def find_compilers(
    pythons: Sequence[str] = PYTHONS, *, left_out: list[str] | None = None
) -> dict[str, Path]:
    """An interpreter for each version of ``pythons``, to compile the layer's bytecode with.

    A version of :data:`~sandbox.layer.native.OPTIONAL_PYTHONS` with no interpreter here is
    left out: a warning naming it goes to stderr (always) and to ``left_out`` (when given).

    Parameters
    ----------
    pythons : sequence of str
        CPython minor versions, e.g. ``("3.10", "3.11")``.
    left_out : list of str, optional
        Receives one message per optional version left without bytecode.

    Returns
    -------
    dict of str to Path
        ``{version: interpreter}``, by version.

    Raises
    ------
    BytecodeBuildError
        A required version has no working interpreter on PATH, under pyenv's root or in the
        private prefix of ``make python3.14``.

    Example
    -------
    >>> find_compilers(("3.11",))  # doctest: +SKIP
    {'3.11': PosixPath('/usr/bin/python3.11')}
    """
    found: dict[str, Path] = {}
    for version in sorted(pythons):
        exe = next(interpreters(version), None)
        if exe is not None:
            found[version] = exe
            continue
        hint = " (make python3.14 provides one)" if version == "3.14" else ""
        problem = (
            f"no CPython {version} interpreter to compile the runtime's bytecode with: install "
            f"python{version} on PATH or under PYENV_ROOT{hint}"
        )
        if version not in OPTIONAL_PYTHONS:
            raise BytecodeBuildError(problem)
        message = (
            f"no bytecode for python{version}: {problem}; that runtime compiles the sandbox's "
            "modules from source at every cold start (sandbox init several times slower)"
        )
        print(f"layer build: warning: {message}", file=sys.stderr)
        if left_out is not None:
            left_out.append(message)
    return found


def _child_env() -> dict[str, str]:
    """The caller's environment without its ``PYTHON*`` settings, with a fixed hash seed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    return env


def compile_package(
    package: Path,
    compilers: Mapping[str, Path],
    *,
    origin: PurePosixPath = LAYER_ROOT / LAYER_PACKAGE,
) -> list[Path]:
    """Compile every ``.py`` under ``package`` with each interpreter; return the ``.pyc`` files.

    Parameters
    ----------
    package : Path
        The staged package directory (``<staging>/python/_lambda_sandbox``).
    compilers : mapping of str to Path
        ``{version: interpreter}`` (:func:`find_compilers`).
    origin : PurePosixPath
        The package's path where it runs: each code object records ``origin/<file>``.

    Returns
    -------
    list of Path
        The ``.pyc`` files written, sorted.

    Raises
    ------
    BytecodeBuildError
        An interpreter failed (a syntax error its version does not accept, a wrong version).

    Example
    -------
    >>> compile_package(Path("layer/python/_lambda_sandbox"), find_compilers())  # doctest: +SKIP
    """
    sources = sorted(
        path
        for path in package.rglob("*.py")
        if path.is_file() and "__pycache__" not in path.relative_to(package).parts
    )
    files = [[str(path), str(origin / path.relative_to(package).as_posix())] for path in sources]
    bundled = bundle_sources(str(package))
    bundle = {
        "module": str(package / "private_modules.py"),
        "directory": str(package),
        "sources": bundled,
        "shown": [str(origin / Path(path).relative_to(package).as_posix()) for _, path in bundled],
    }
    written: list[Path] = []
    for version, exe in sorted(compilers.items()):
        job = {"version": version, "mode": INVALIDATION_MODE, "files": files, "bundle": bundle}
        proc = subprocess.run(
            [str(exe), "-S", "-s", "-c", _COMPILER],
            input=json.dumps(job).encode(),
            capture_output=True,
            env=_child_env(),
            check=False,
        )
        if proc.returncode != 0:
            detail = proc.stderr.decode(errors="replace").strip()[-2000:]
            raise BytecodeBuildError(
                f"compiling the runtime with {exe} ({version}) failed: {detail}"
            )
        done = [Path(p) for p in json.loads(proc.stdout)]
        expected = [
            package / pyc_name(path.relative_to(package).as_posix(), version) for path in sources
        ] + [package / bundle_name(version)]
        if done != expected:
            raise BytecodeBuildError(
                f"{exe} ({version}) wrote {len(done)} bytecode files, not the {len(expected)} "
                f"expected ({expected[:1]}...)"
            )
        written.extend(done)
    return sorted(written)
