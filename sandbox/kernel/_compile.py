"""Tooling side: build the seccomp BPF for each Lambda architecture with libseccomp."""

from __future__ import annotations

import base64
import ctypes
import errno
import tempfile
from typing import Any

from sandbox.kernel._rules import ENOSYS, Rule

# Lambda runs x86_64 and arm64 (aarch64) functions; the compiled profile carries both.
ARCHES = ("x86_64", "aarch64")


class SeccompUnavailable(Exception):
    """libseccomp or its binding cannot be used on this machine."""


def _load_pyseccomp() -> Any:
    try:
        import pyseccomp
    except (ImportError, RuntimeError, OSError) as exc:  # RuntimeError: no libseccomp.so
        raise SeccompUnavailable(f"pyseccomp/libseccomp unavailable: {exc}") from exc
    return pyseccomp


def libseccomp_version(sc: Any) -> str:
    """Return libseccomp's version as ``major.minor.micro`` (``unknown`` when not exposed)."""

    class _Version(ctypes.Structure):
        _fields_ = [
            ("major", ctypes.c_uint),
            ("minor", ctypes.c_uint),
            ("micro", ctypes.c_uint),
        ]

    try:
        fn = sc._libseccomp.seccomp_version
    except AttributeError:
        return "unknown"
    fn.argtypes = ()
    fn.restype = ctypes.POINTER(_Version)
    v = fn().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def _arch_token(sc: Any, arch: str) -> int:
    return int({"x86_64": sc.Arch.X86_64, "aarch64": sc.Arch.AARCH64}[arch])


def build_filter(sc: Any, arch: str, rules: list[Rule]) -> bytes:
    """Build the raw BPF program (``struct sock_filter[]``) for one architecture.

    Parameters
    ----------
    sc : module
        The ``pyseccomp`` module.
    arch : str
        ``x86_64`` or ``aarch64``.
    rules : list[Rule]
        The denylist.

    Returns
    -------
    bytes
        The program as the kernel wants it (8 bytes per instruction, little-endian).
    """
    token = _arch_token(sc, arch)
    flt = sc.SyscallFilter(sc.ALLOW)
    # Any other ABI on this kernel (i386 via int 0x80 on x86_64, x32 = nr >= 0x40000000)
    # gets ENOSYS: the filter only speaks the native 64-bit numbering, so every foreign-ABI
    # syscall must fail or it would bypass the denylist. libseccomp emits the x32 check.
    flt.set_attr(sc.Attr.ACT_BADARCH, sc.ERRNO(ENOSYS))
    try:
        # A binary search over syscall numbers instead of a linear chain (libseccomp >= 2.5).
        flt.set_attr(sc.Attr.CTL_OPTIMIZE, 2)
    except OSError:
        pass
    if token != int(sc.system_arch()):
        # Rules must be added after the arch switch: libseccomp translates the (native)
        # syscall numbers by name into every arch present when the rule is added.
        flt.add_arch(token)
        flt.remove_arch(sc.Arch.NATIVE)
    for rule in rules:
        args = [sc.Arg(c.index, c.op, c.a, c.b) for c in rule.args]
        flt.add_rule(sc.ERRNO(rule.errno), rule.syscall, *args)
    with tempfile.TemporaryFile() as out:
        flt.export_bpf(out)
        out.flush()
        out.seek(0)
        program = out.read()
    if not program or len(program) % 8:
        raise OSError(f"libseccomp exported {len(program)} bytes for {arch}")
    return program


def compile_seccomp(rules: list[Rule]) -> dict[str, object]:
    """Build the ``seccomp`` section: base64 BPF per arch (and hex), the denied names and notes.

    Parameters
    ----------
    rules : list[Rule]
        The denylist.

    Returns
    -------
    dict[str, object]
        ``{"x86_64": b64, "aarch64": b64, "hex": {"x86_64": hex, "aarch64": hex},
        "denies": [...], "rules": [...], "absent": {...}, "errors": {...},
        "libseccomp": "x.y.z"}``; an arch whose export failed is missing and its reason is in
        ``errors``.

    Raises
    ------
    SeccompUnavailable
        When pyseccomp or libseccomp cannot be loaded.
    """
    sc = _load_pyseccomp()
    section: dict[str, object] = {}
    errors: dict[str, str] = {}
    absent: dict[str, list[str]] = {}
    names = sorted({r.syscall for r in rules})
    hexed: dict[str, str] = {}
    for arch in ARCHES:
        token = _arch_token(sc, arch)
        missing = [n for n in names if sc.resolve_syscall(token, n) < 0]
        if missing:
            absent[arch] = missing
        try:
            program = build_filter(sc, arch, rules)
        except OSError as exc:
            errors[arch] = f"libseccomp could not export a filter for {arch}: {exc}"
            continue
        section[arch] = base64.b64encode(program).decode("ascii")
        # The same program in hex, which the runtime decodes with bytes.fromhex, without
        # loading the binascii extension at every cold start (~0.2 ms). A copy under its own
        # key: a runtime from before it reads the base64, never hex as if it were base64.
        hexed[arch] = program.hex()
    section["hex"] = hexed
    section["denies"] = names
    # One line per distinct label (the socket-family blocks share one), in rule order.
    section["rules"] = list(
        dict.fromkeys(f"{r.label} -> {errno.errorcode[r.errno]}: {r.why}" for r in rules)
    )
    section["absent"] = absent
    section["errors"] = errors
    section["libseccomp"] = libseccomp_version(sc)
    return section
