"""A classic-BPF interpreter for seccomp programs, to check a filter for any arch off-line."""

from __future__ import annotations

import struct
from collections.abc import Sequence

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCHES = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}

SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000

_M32 = 0xFFFFFFFF


def seccomp_data(nr: int, arch: int, args: Sequence[int] = (), ip: int = 0) -> bytes:
    """Pack ``struct seccomp_data`` (little-endian, as on x86_64 and aarch64)."""
    full = [a & 0xFFFFFFFFFFFFFFFF for a in args] + [0] * (6 - len(args))
    signed_nr = ((nr + 0x80000000) & _M32) - 0x80000000  # `int nr` in the kernel struct
    return struct.pack("<iIQ6Q", signed_nr, arch, ip, *full)


def run(program: bytes, data: bytes) -> int:
    """Run a seccomp BPF program on one ``seccomp_data`` and return its 32-bit verdict.

    Parameters
    ----------
    program : bytes
        ``struct sock_filter[]``, 8 bytes per instruction.
    data : bytes
        The packed ``struct seccomp_data`` (see :func:`seccomp_data`).

    Returns
    -------
    int
        The ``SECCOMP_RET_*`` value, e.g. ``0x7fff0000`` (allow) or ``0x00050001`` (EPERM).

    Raises
    ------
    ValueError
        On an instruction seccomp would reject, or running off the end.
    """
    insns = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    a = x = 0
    mem = [0] * 16
    pc = 0
    while pc < len(insns):
        code, jt, jf, k = insns[pc]
        cls = code & 0x07
        pc += 1
        if cls == 0x00:  # BPF_LD
            mode = code & 0xE0
            if mode == 0x20 and code & 0x18 == 0x00:  # ABS, W
                (a,) = struct.unpack_from("<I", data, k)
            elif mode == 0x00:
                a = k
            elif mode == 0x60:
                a = mem[k]
            elif mode == 0x80:
                a = len(data)
            else:
                raise ValueError(f"unsupported load {code:#x}")
        elif cls == 0x01:  # BPF_LDX
            mode = code & 0xE0
            x = k if mode == 0x00 else mem[k] if mode == 0x60 else len(data)
        elif cls == 0x02:  # BPF_ST
            mem[k] = a
        elif cls == 0x03:  # BPF_STX
            mem[k] = x
        elif cls == 0x04:  # BPF_ALU
            op = code & 0xF0
            src = x if code & 0x08 else k
            if op == 0x00:
                a = a + src
            elif op == 0x10:
                a = a - src
            elif op == 0x20:
                a = a * src
            elif op == 0x30:
                a = a // src
            elif op == 0x40:
                a = a | src
            elif op == 0x50:
                a = a & src
            elif op == 0x60:
                a = a << src
            elif op == 0x70:
                a = a >> src
            elif op == 0x80:
                a = -a
            elif op == 0x90:
                a = a % src
            elif op == 0xA0:
                a = a ^ src
            else:
                raise ValueError(f"unsupported alu {code:#x}")
            a &= _M32
        elif cls == 0x05:  # BPF_JMP
            op = code & 0xF0
            src = x if code & 0x08 else k
            if op == 0x00:
                pc += k
                continue
            if op == 0x10:
                taken = a == src
            elif op == 0x20:
                taken = a > src
            elif op == 0x30:
                taken = a >= src
            elif op == 0x40:
                taken = bool(a & src)
            else:
                raise ValueError(f"unsupported jump {code:#x}")
            pc += jt if taken else jf
        elif cls == 0x06:  # BPF_RET
            return (a if code & 0x18 == 0x10 else k) & _M32
        else:  # BPF_MISC
            if code & 0xF8 == 0x00:
                x = a
            else:
                a = x
    raise ValueError("program ran off its end")


def verdict(program: bytes, arch: str, nr: int, args: Sequence[int] = ()) -> str:
    """Return ``ALLOW``, ``EPERM``, ``ENOSYS``, ... for one syscall on a native-arch program."""
    import errno

    ret = run(program, seccomp_data(nr, AUDIT_ARCHES[arch], args))
    action = ret & SECCOMP_RET_ACTION_FULL
    if action == SECCOMP_RET_ALLOW:
        return "ALLOW"
    if action == SECCOMP_RET_ERRNO:
        return errno.errorcode.get(ret & SECCOMP_RET_DATA, str(ret & SECCOMP_RET_DATA))
    return f"{ret:#010x}"
