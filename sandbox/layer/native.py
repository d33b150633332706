"""Cross-build the native core (``_core.c``) for every Lambda Python and architecture, reproducibly.

One shared object per CPython minor version and architecture, named as the import system of
that interpreter looks for it (``_core.cpython-311-aarch64-linux-gnu.so``), compiled with the
Zig toolchain (``pip install ziglang``) for glibc 2.26 (Amazon Linux 2, the oldest C library of
a Lambda Python runtime). The CPython headers come from an installed interpreter of each
version; they are the same on both architectures except ``pyconfig.h``, whose
architecture-specific lines are rewritten for aarch64 (:data:`AARCH64_PYCONFIG`).

A version in :data:`OPTIONAL_PYTHONS` (3.14: its interpreter comes from ``make python3.14``,
which not every build machine has) whose headers are not found is left out with a warning on
stderr naming the version and architecture: that runtime then runs the pure-Python core (same
decisions; ``docs/NATIVE.md``). Any other version without headers fails the build.

Reproducible: fixed flags, no build id, no debug info, no paths (``-ffile-prefix-map``), a
private Zig cache; the same inputs give the same bytes (tested).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from sandbox.errors import SandboxError
from sandbox.layer import RUNTIME_DIR

__all__ = [
    "AARCH64_PYCONFIG",
    "ARCH_TRIPLES",
    "ELF_MACHINES",
    "GLIBC_TARGET",
    "OPTIONAL_PYTHONS",
    "PYTHONS",
    "NativeBuildError",
    "build_native",
    "buildable_pythons",
    "elf_glibc_versions",
    "elf_machine",
    "find_headers",
    "interpreters",
    "main",
    "native_files",
    "private_interpreter",
]

SOURCE = RUNTIME_DIR / "_core.c"
PYTHONS: tuple[str, ...] = ("3.10", "3.11", "3.12", "3.13", "3.14")
# Built when their headers are found, else left out with a warning (the others are required).
OPTIONAL_PYTHONS = frozenset({"3.14"})
# Lambda's architecture name -> the GNU triple in the extension suffix and Zig's target.
ARCH_TRIPLES = {"x86_64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
ELF_MACHINES = {"x86_64": 62, "arm64": 183}  # EM_X86_64, EM_AARCH64
GLIBC_TARGET = (2, 26)
# pyconfig.h lines that differ between x86_64 and aarch64 builds of the same CPython (Debian's
# python3.11 pyconfig.h for amd64 and arm64 differ in exactly the first four; 3.14's also in the
# two HACL* SIMD switches, which no public header reads): no x86 inline assembly, an unsigned
# 32-bit wchar_t, the platform's support tier, no x86 vector code. The rest of LP64 Linux is
# identical.
AARCH64_PYCONFIG = {
    "HAVE_GCC_ASM_FOR_X64": None,
    "HAVE_GCC_ASM_FOR_X87": None,
    "HAVE_USABLE_WCHAR_T": "#define HAVE_USABLE_WCHAR_T 1",
    "PY_SUPPORT_TIER": "#define PY_SUPPORT_TIER 2",
    "_Py_HACL_CAN_COMPILE_VEC128": None,
    "_Py_HACL_CAN_COMPILE_VEC256": None,
}
CFLAGS = (
    "-std=gnu11",
    "-O2",
    "-fPIC",
    "-fvisibility=hidden",
    "-fno-strict-aliasing",
    "-g0",
    "-D_GNU_SOURCE",
    # Warning-free against every version's headers, or no object (warnings change no bytes).
    "-Wall",
    "-Wextra",
    "-Werror",
)
LDFLAGS = ("-shared", "-s", "-Wl,--build-id=none", "-Wl,--hash-style=gnu")


class NativeBuildError(SandboxError, RuntimeError):
    """The native core could not be built (no Zig, no headers for a Python, a bad object)."""


def private_interpreter(version: str) -> Path | None:
    """The interpreter ``scripts/get-python3.14.sh`` installs for ``version``, if configured.

    For 3.14 the ``PY314`` environment variable names it, as in the Makefile (set but empty:
    none); otherwise, and for other versions, ``${XDG_CACHE_HOME:-~/.cache}/lambda-sandbox/
    python3.X/bin/python3.X`` (the script's default prefix; ``PY_SERIES`` builds other versions
    there). Whether it exists is not checked here.

    Example
    -------
    >>> private_interpreter("3.14")  # doctest: +SKIP
    PosixPath('/root/.cache/lambda-sandbox/python3.14/bin/python3.14')
    """
    if version == "3.14" and "PY314" in os.environ:
        configured = os.environ["PY314"].strip()
        return Path(configured).expanduser() if configured else None
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "lambda-sandbox" / f"python{version}" / "bin" / f"python{version}"


def interpreters(version: str) -> Iterator[Path]:
    """Working interpreters of CPython ``version`` (``3.X``): on PATH, under pyenv's root, then
    the private prefix of ``make python3.14`` (:func:`private_interpreter`).

    Each candidate is run once to confirm its version (a pyenv shim on PATH may not run).

    Example
    -------
    >>> next(interpreters("3.11"), None)  # doctest: +SKIP
    PosixPath('/usr/bin/python3.11')
    """
    candidates = []
    found = shutil.which(f"python{version}")
    if found:
        candidates.append(Path(found))
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if root.is_dir():
        for candidate in sorted(root.glob(f"{version}.*"), reverse=True):
            exe = candidate / "bin" / f"python{version}"
            if re.fullmatch(rf"{re.escape(version)}\.\d+", candidate.name) and exe.is_file():
                candidates.append(exe)
    private = private_interpreter(version)
    if private is not None and private.is_file():
        candidates.append(private)
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    for exe in candidates:
        try:
            proc = subprocess.run(
                [str(exe), "-c", probe], capture_output=True, text=True, check=False, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0 and proc.stdout.strip() == version:
            yield exe


def find_headers(version: str) -> Path:
    """Return the CPython include directory for ``version`` (``3.X``) from an interpreter.

    Example
    -------
    >>> (find_headers("3.11") / "Python.h").is_file()  # doctest: +SKIP
    True
    """
    probe = "import sysconfig; print(sysconfig.get_paths()['include'])"
    for exe in interpreters(version):
        proc = subprocess.run([str(exe), "-c", probe], capture_output=True, text=True, check=False)
        include = Path(proc.stdout.strip())
        if proc.returncode == 0 and (include / "Python.h").is_file():
            return include
    hint = " (make python3.14 provides them)" if version == "3.14" else ""
    raise NativeBuildError(
        f"no CPython {version} headers: install python{version} (with its headers) on PATH "
        f"or under PYENV_ROOT{hint}"
    )


def buildable_pythons(pythons: Sequence[str] = PYTHONS) -> tuple[str, ...]:
    """The versions of ``pythons`` whose headers are found here (what a build will produce).

    Example
    -------
    >>> "3.11" in buildable_pythons()  # doctest: +SKIP
    True
    """
    found = []
    for version in pythons:
        try:
            find_headers(version)
        except NativeBuildError:
            continue
        found.append(version)
    return tuple(found)


def _pyconfig_for(arch: str, text: str) -> str:
    """``pyconfig.h`` of the headers' build machine, rewritten for ``arch``."""
    if arch == "x86_64":
        return text
    for macro, value in AARCH64_PYCONFIG.items():
        pattern = rf"^(?:#define {macro}\b.*|/\* #undef {macro} \*/)$"
        line = f"/* #undef {macro} */" if value is None else value
        text = re.sub(pattern, line.replace("\\", "\\\\"), text, flags=re.M)
    return text


def _zig() -> list[str]:
    if importlib.util.find_spec("ziglang") is None:
        raise NativeBuildError("the Zig toolchain is missing: pip install ziglang (dev extra)")
    return [sys.executable, "-m", "ziglang"]


def _run(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise NativeBuildError(f"{' '.join(cmd[:6])} ... failed: {detail}")


def _suffix(version: str, arch: str) -> str:
    return f".cpython-{version.replace('.', '')}-{ARCH_TRIPLES[arch]}.so"


def native_files(arch: str, out_dir: Path) -> list[Path]:
    """The shared objects :func:`build_native` writes for ``arch`` into ``out_dir``, sorted.

    Example
    -------
    >>> [p.name for p in native_files("arm64", Path("build/native"))][0]
    '_core.cpython-310-aarch64-linux-gnu.so'
    """
    return sorted(out_dir / arch / f"_core{_suffix(v, arch)}" for v in PYTHONS)


def _inputs_key(arch: str, version: str, include: Path, zig: list[str]) -> str:
    """A digest of everything that decides the bytes of one object."""
    version_out = subprocess.run(
        [*zig, "version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    digest = hashlib.sha256()
    for part in (
        arch,
        version,
        version_out,
        *CFLAGS,
        *LDFLAGS,
        repr(sorted(AARCH64_PYCONFIG.items())),
    ):
        digest.update(part.encode() + b"\0")
    digest.update(SOURCE.read_bytes())
    for header in sorted(include.rglob("*.h")):
        digest.update(header.relative_to(include).as_posix().encode() + b"\0")
        digest.update(header.read_bytes())
    return digest.hexdigest()


def build_native(
    arch: str,
    out_dir: Path = Path("build") / "native",
    pythons: Sequence[str] = PYTHONS,
    *,
    left_out: list[str] | None = None,
) -> list[Path]:
    """Build ``_core`` for every Python in ``pythons`` for ``arch``; return the objects.

    Objects whose inputs (source, headers, flags, Zig version) did not change are kept. A
    version of :data:`OPTIONAL_PYTHONS` without headers is left out: a warning naming it and
    ``arch`` goes to stderr (always) and to ``left_out`` (when given).

    Parameters
    ----------
    arch : {"x86_64", "arm64"}
        Lambda architecture.
    out_dir : Path
        Objects go to ``<out_dir>/<arch>/``.
    pythons : sequence of str
        CPython minor versions, e.g. ``("3.11",)``.
    left_out : list of str, optional
        Receives one message per optional version left without a native core.

    Returns
    -------
    list of Path
        The shared objects, sorted by name.

    Raises
    ------
    NativeBuildError
        No Zig, no headers for a required version, a failed compile, or an object needing a newer glibc
        than 2.26 or built for another machine.

    Example
    -------
    >>> build_native("arm64", Path("build/native"))  # doctest: +SKIP
    """
    if arch not in ARCH_TRIPLES:
        raise NativeBuildError(f"arch {arch!r}: expected one of {', '.join(ARCH_TRIPLES)}")
    zig = _zig()
    target = f"{ARCH_TRIPLES[arch]}.{GLIBC_TARGET[0]}.{GLIBC_TARGET[1]}"
    dest_dir = out_dir / arch
    dest_dir.mkdir(parents=True, exist_ok=True)
    built = []
    for version in sorted(pythons):
        try:
            include = find_headers(version)
        except NativeBuildError as exc:
            if version not in OPTIONAL_PYTHONS:
                raise
            message = (
                f"no native core for python{version} on {arch}: {exc}; that runtime runs the "
                "pure-Python core (same decisions, see docs/NATIVE.md)"
            )
            print(f"native build: warning: {message}", file=sys.stderr)
            if left_out is not None:
                left_out.append(message)
            continue
        dest = dest_dir / f"_core{_suffix(version, arch)}"
        stamp = dest.with_name(dest.name + ".inputs")
        key = _inputs_key(arch, version, include, zig)
        if dest.is_file() and stamp.is_file() and stamp.read_text() == key:
            built.append(dest)
            continue
        with tempfile.TemporaryDirectory(prefix="sandbox-native-") as tmp:
            work = Path(tmp)
            headers = work / "include"
            shutil.copytree(include, headers)
            pyconfig = headers / "pyconfig.h"
            pyconfig.write_text(_pyconfig_for(arch, pyconfig.read_text()))
            shutil.copyfile(SOURCE, work / "_core.c")
            env = dict(os.environ)
            env["ZIG_LOCAL_CACHE_DIR"] = str(work / "zig-cache")
            env["SOURCE_DATE_EPOCH"] = "315532800"
            cmd = [
                *zig,
                "cc",
                "-target",
                target,
                *CFLAGS,
                f"-ffile-prefix-map={work}=.",
                "-Iinclude",
                "_core.c",
                *LDFLAGS,
                "-o",
                "_core.so",
            ]
            _run(cmd, work, env)
            _check_object(work / "_core.so", arch)
            shutil.copyfile(work / "_core.so", dest)
        stamp.write_text(key)
        built.append(dest)
    return sorted(built)


def _check_object(path: Path, arch: str) -> None:
    machine = elf_machine(path)
    if machine != ELF_MACHINES[arch]:
        raise NativeBuildError(f"{path.name}: ELF machine {machine}, expected {arch}")
    too_new = [v for v in elf_glibc_versions(path) if v > GLIBC_TARGET]
    if too_new:
        raise NativeBuildError(f"{path.name}: needs glibc {max(too_new)} (> 2.26)")


def elf_machine(path: Path) -> int:
    """The ``e_machine`` of an ELF file (62 x86-64, 183 aarch64).

    Example
    -------
    >>> elf_machine(Path(sys.executable).resolve())  # doctest: +SKIP
    62
    """
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        raise NativeBuildError(f"{path} is not an ELF file")
    machine: int = struct.unpack_from("<H", header, 18)[0]
    return machine


def elf_glibc_versions(path: Path) -> list[tuple[int, ...]]:
    """The ``GLIBC_x.y[.z]`` versions an ELF64 little-endian object requires, sorted.

    Read from its version-needs section (``SHT_GNU_verneed``), as ``readelf -V`` shows them.

    Example
    -------
    >>> max(elf_glibc_versions(Path("_core.cpython-311-aarch64-linux-gnu.so")))  # doctest: +SKIP
    (2, 17)
    """
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise NativeBuildError(f"{path}: not a little-endian ELF64 object")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    versions: set[tuple[int, ...]] = set()
    for _name, sh_type, _flags, _addr, offset, _size, link, info, _align, _entsize in sections:
        if sh_type != 0x6FFFFFFE:  # SHT_GNU_verneed
            continue
        strtab = sections[link][4]
        entry = offset
        for _ in range(info):
            _ver, cnt, _file, aux, nxt = struct.unpack_from("<HHIII", data, entry)
            aux_at = entry + aux
            for _ in range(cnt):
                _hash, _flags2, _other, name, aux_next = struct.unpack_from("<IHHII", data, aux_at)
                start = strtab + name
                text = data[start : data.index(b"\0", start)].decode()
                match = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)+)", text)
                if match:
                    versions.add(tuple(int(p) for p in match.group(1).split(".")))
                aux_at += aux_next
                if not aux_next:
                    break
            entry += nxt
            if not nxt:
                break
    return sorted(versions)


def main(argv: list[str] | None = None) -> int:
    """``python -m sandbox.layer.native [--arch A]... [--out DIR]``: build and list the objects.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name.

    Returns
    -------
    int
        0 on success, 1 on a build failure (message on stderr).
    """
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.layer.native",
        description="Cross-build the native audit-hook core for CPython 3.10-3.14.",
    )
    parser.add_argument("--arch", action="append", choices=sorted(ARCH_TRIPLES), default=None)
    parser.add_argument("--out", type=Path, default=Path("build") / "native", metavar="DIR")
    args = parser.parse_args(argv)
    try:
        for arch in args.arch or sorted(ARCH_TRIPLES):
            for path in build_native(arch, args.out):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
                print(f"{path} {path.stat().st_size} bytes sha256:{digest}")
    except NativeBuildError as exc:
        print(f"native build: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
