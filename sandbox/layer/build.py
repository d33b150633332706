"""Build the Lambda layer zip: the staged layer (:func:`sandbox.layer.stage_layer`), deterministic."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Literal, get_args

from sandbox.errors import SandboxError
from sandbox.layer import LAYER_PACKAGE, WRAPPER, WRAPPER_NAME, stage_layer
from sandbox.layer.bytecode import BytecodeBuildError, compile_package, find_compilers
from sandbox.layer.native import NativeBuildError, build_native

__all__ = [
    "ARCHES",
    "Arch",
    "LayerBuildError",
    "add_layer_parser",
    "build_layer",
    "cmd_layer_build",
    "layer_entries",
    "runtime_requirements",
]

Arch = Literal["x86_64", "arm64"]
ARCHES: tuple[str, ...] = get_args(Arch)
_PIP_PLATFORM = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}


# Runtime dependencies, and only those: pydantic, psutil and pyseccomp serve the tooling
# (profile models, benchmarks, BPF compilation) and must not be shipped into every function.
# The runtime is pure standard library today (the botocore interposer is a plain function: wrapt
# 2.x would import asyncio at cold start); the per-arch wheel machinery stays for native deps.
_RUNTIME_DEPENDENCIES: tuple[str, ...] = ()

# Fixed metadata so the same inputs give the same bytes: the earliest date a zip can hold,
# Unix permissions (create_system=3) so Lambda's unzip restores the wrapper's exec bit.
_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644
_EXEC_MODE = 0o100755
_DIR_MODE = 0o040755
_MSDOS_DIR = 0x10
# Lambda's documented limits for a layer.
_MAX_ZIPPED = 50 * 1024 * 1024
_MAX_UNZIPPED = 250 * 1024 * 1024


class LayerBuildError(SandboxError, RuntimeError):
    """The layer could not be built (no network for the wheels, missing inputs, too big)."""


def runtime_requirements() -> list[str]:
    """Return the layer's pip requirements, pinned to the versions installed here.

    Pinning to what the test suite ran against keeps the layer reproducible (a new upstream
    release does not change its bytes) and tested.

    Returns
    -------
    list of str
        Requirement strings, e.g. ``["wrapt==1.17.2"]`` (empty: the runtime needs none).
    """
    reqs = []
    for name in _RUNTIME_DEPENDENCIES:
        try:
            reqs.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            reqs.append(name)
    return reqs


def _pip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _install_deps(
    target: Path, arch: str, python_version: str, requirements: Sequence[str], wheels: Path
) -> None:
    """Install ``requirements`` as manylinux wheels for ``arch`` into ``target``.

    Wheels are kept in ``wheels``: the install runs offline from there, and only when that
    fails are they downloaded (the one step needing the network).
    """
    platform_args = [
        "--platform",
        _PIP_PLATFORM[arch],
        "--only-binary=:all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
    ]
    install = [
        "install",
        "--quiet",
        "--no-index",
        "--find-links",
        str(wheels),
        "--target",
        str(target),
        "--no-compile",  # no .pyc: they would embed timestamps and the wrong interpreter
        *platform_args,
        *requirements,
    ]
    if not requirements:
        return
    wheels.mkdir(parents=True, exist_ok=True)
    if _pip(install).returncode == 0:
        return
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    download = _pip(["download", "--quiet", "--dest", str(wheels), *platform_args, *requirements])
    if download.returncode != 0:
        detail = (download.stderr or download.stdout).strip().splitlines()[-3:]
        raise LayerBuildError(
            f"could not download {', '.join(requirements)} for {_PIP_PLATFORM[arch]} "
            f"(cp{python_version}); is PyPI reachable? Wheels are cached in {wheels}, so one "
            "successful online build makes later builds offline. pip said: " + " | ".join(detail)
        )
    retry = _pip(install)
    if retry.returncode != 0:
        detail = (retry.stderr or retry.stdout).strip().splitlines()[-3:]
        raise LayerBuildError("pip install into the layer failed: " + " | ".join(detail))


def layer_entries(staging: Path) -> list[tuple[str, Path | None]]:
    """List a staged layer tree as sorted zip entries (directories end in ``/``, path None).

    Parameters
    ----------
    staging : Path
        Root of the staged layer (holding ``python/``, ``sandbox-wrapper``...).

    Returns
    -------
    list of (str, Path or None)
        Archive name and source file (``None`` for a directory), sorted by name.
    """
    entries: list[tuple[str, Path | None]] = []
    for path in staging.rglob("*"):
        rel = path.relative_to(staging).as_posix()
        if path.is_dir():
            entries.append((rel + "/", None))
        elif path.is_file():
            entries.append((rel, path))
    return sorted(entries)


def _write_zip(entries: list[tuple[str, Path | None]], dest: Path) -> int:
    """Write a deterministic zip; return the uncompressed size."""
    total = 0
    with zipfile.ZipFile(dest, "w") as zf:
        for name, source in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.create_system = 3  # Unix: external_attr carries st_mode
            if source is None:
                info.external_attr = (_DIR_MODE << 16) | _MSDOS_DIR
                zf.writestr(info, b"", compress_type=zipfile.ZIP_STORED)
                continue
            data = source.read_bytes()
            total += len(data)
            mode = _EXEC_MODE if name == "sandbox-wrapper" else _FILE_MODE
            info.external_attr = mode << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return total


def build_layer(
    arch: Arch,
    out_dir: Path = Path("dist"),
    python_version: str = "3.11",
    profile: Path | None = None,
    *,
    cache_dir: Path | None = None,
    requirements: Sequence[str] | None = None,
    wrapper: Path | None = None,
) -> Path:
    """Build ``<out_dir>/sandbox-layer-<arch>.zip``.

    Layout (extracted under ``/opt`` by Lambda)::

        sandbox-wrapper            exec wrapper, mode 0755 (AWS_LAMBDA_EXEC_WRAPPER)
        python/_lambda_sandbox/... the runtime subpackage, file for file, with the native
                                   core built for every Lambda Python on ``arch`` and each
                                   module's bytecode compiled by every Lambda Python
                                   (``__pycache__/NAME.cpython-3XY.pyc``, unchecked-hash
                                   PEP 552 files: :mod:`sandbox.layer.bytecode`)
        python/<dep>/...           runtime deps (none today), manylinux wheels for ``arch``
        sandbox-profile/           profile slot (profile.json when ``profile`` is given)

    The zip is deterministic: sorted entries, fixed timestamps (1980-01-01) and permissions.

    Parameters
    ----------
    arch : {"x86_64", "arm64"}
        Lambda architecture.
    out_dir : Path
        Output directory (created).
    python_version : str
        Target ``major.minor`` for the wheels, e.g. ``"3.11"``.
    profile : Path, optional
        Compiled profile to ship as ``sandbox-profile/profile.json``.
    cache_dir : Path, optional
        Wheel cache (default ``build/layer-cache``); repeated builds run offline from it. The
        native core's objects are built (and kept) in its ``native/`` subdirectory.
    requirements : sequence of str, optional
        Runtime requirements; :func:`runtime_requirements` by default.
    wrapper : Path, optional
        Wrapper script; the runtime's own ``sandbox-wrapper`` by default.

    Returns
    -------
    Path
        The zip written.

    Raises
    ------
    LayerBuildError
        Bad arguments, missing inputs, wheels not obtainable, the native core not buildable
        (no Zig toolchain, no CPython headers), no interpreter of a required Python to compile
        the bytecode with, or the layer over Lambda's limits.
    """
    if arch not in ARCHES:
        raise LayerBuildError(f"arch {arch!r}: expected one of {', '.join(ARCHES)}")
    if not re.fullmatch(r"3\.\d{1,2}", python_version):
        raise LayerBuildError(f"python version {python_version!r}: expected e.g. 3.11")
    wrapper = wrapper or WRAPPER
    if not wrapper.is_file():
        raise LayerBuildError(f"wrapper script {wrapper} not found (build from the source tree)")
    profile_bytes = None
    if profile is not None:
        try:
            profile_bytes = profile.read_bytes()
            json.loads(profile_bytes)
        except OSError as exc:
            raise LayerBuildError(f"cannot read profile {profile}: {exc}") from exc
        except ValueError as exc:
            raise LayerBuildError(f"profile {profile} is not JSON: {exc}") from exc
    requirements = list(requirements) if requirements is not None else runtime_requirements()
    cache_dir = cache_dir or Path("build") / "layer-cache"
    wheels = cache_dir.resolve() / f"wheels-{arch}-cp{python_version.replace('.', '')}"

    try:
        compilers = find_compilers()
    except BytecodeBuildError as exc:
        raise LayerBuildError(f"bytecode: {exc}") from exc
    try:
        native = build_native(arch, cache_dir.resolve() / "native")
    except NativeBuildError as exc:
        raise LayerBuildError(f"native core for {arch}: {exc}") from exc

    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"sandbox-layer-{arch}.zip"
    with tempfile.TemporaryDirectory(prefix="sandbox-layer-") as tmp:
        staging = Path(tmp) / "layer"
        python_dir = staging / "python"
        python_dir.mkdir(parents=True)
        if requirements:
            _install_deps(python_dir, arch, python_version, requirements, wheels)
        stage_layer(staging, native)
        # pip may leave bytecode or a bin/ dir (console scripts) behind; neither belongs here.
        for junk in sorted(python_dir.rglob("__pycache__"), reverse=True):
            shutil.rmtree(junk)
        shutil.rmtree(python_dir / "bin", ignore_errors=True)
        try:
            compile_package(python_dir / LAYER_PACKAGE, compilers)
        except BytecodeBuildError as exc:
            raise LayerBuildError(f"bytecode: {exc}") from exc
        shutil.copyfile(wrapper, staging / WRAPPER_NAME)
        (staging / "sandbox-profile").mkdir()
        if profile_bytes is not None:
            (staging / "sandbox-profile" / "profile.json").write_bytes(profile_bytes)

        partial = dest.with_name(f".{dest.name}.partial")
        unzipped = _write_zip(layer_entries(staging), partial)
    zipped = partial.stat().st_size
    if zipped > _MAX_ZIPPED or unzipped > _MAX_UNZIPPED:
        partial.unlink()
        raise LayerBuildError(
            f"layer too big for Lambda: {zipped} bytes zipped (max {_MAX_ZIPPED}), "
            f"{unzipped} unzipped (max {_MAX_UNZIPPED})"
        )
    os.replace(partial, dest)
    return dest


def add_layer_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add ``layer build``; the build parser sets ``func=cmd_layer_build`` on the namespace.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The result of ``parser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``layer`` parser.
    """
    layer = subparsers.add_parser("layer", help="build the Lambda layer")
    layer_sub = layer.add_subparsers(dest="layer_command", required=True)
    build = layer_sub.add_parser(
        "build",
        help="build dist/sandbox-layer-<arch>.zip",
        description="Build the sandbox Lambda layer zip for one architecture.",
    )
    build.add_argument("--arch", choices=ARCHES, required=True, help="Lambda architecture")
    build.add_argument(
        "--out", type=Path, default=Path("dist"), metavar="DIR", help="output dir (default dist)"
    )
    build.add_argument(
        "--profile", type=Path, metavar="FILE", help="compiled profile to ship in the layer"
    )
    build.add_argument(
        "--python-version", default="3.11", metavar="X.Y", help="target Python (default 3.11)"
    )
    build.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("build") / "layer-cache",
        metavar="DIR",
        help="wheel cache (default build/layer-cache)",
    )
    build.set_defaults(func=cmd_layer_build)
    return layer


def cmd_layer_build(args: argparse.Namespace) -> int:
    """Execute ``sandbox layer build`` from parsed arguments; print the zip and its size.

    Parameters
    ----------
    args : argparse.Namespace
        Namespace produced by the parser from :func:`add_layer_parser`.

    Returns
    -------
    int
        0 on success, 1 on failure (message on stderr).
    """
    try:
        path = build_layer(
            args.arch,
            out_dir=args.out,
            python_version=args.python_version,
            profile=args.profile,
            cache_dir=args.cache_dir,
        )
    except LayerBuildError as exc:
        print(f"sandbox layer build: {exc}", file=sys.stderr)
        return 1
    size = path.stat().st_size
    print(f"{path} {size} bytes ({size / 1024:.1f} KiB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m sandbox.layer.build layer build --arch ...``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name.

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m sandbox.layer.build")
    add_layer_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
