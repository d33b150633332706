"""The kernel layer's system calls through ``_ctypes``: the path where the native core is not the core.

The same functions, arguments, results and errors as the native core's ``kernel_*`` functions
(``docs/NATIVE.md``): the kernel package's loader makes its calls through one or the other.
Where the native core is the core, this module (and ``_ctypes``, 0.4-0.9 ms at a cold start)
is not loaded at all. Unlike the native core's, these calls are not refused after install: the
hook decides on ``_ctypes`` and its calls like any other code's.
"""

from __future__ import annotations

import errno
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold-start cost)
if TYPE_CHECKING:
    from . import ffi as ctypes  # ctypes' API without its import cost

__all__ = [
    "kernel_landlock_abi",
    "kernel_landlock_add_rule",
    "kernel_landlock_create",
    "kernel_landlock_restrict",
    "kernel_no_new_privs",
    "kernel_seccomp",
    "kernel_seccomp_prctl",
]

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
BPF_MAXINSNS = 4096
# seccomp(2) differs per arch; the landlock syscalls share the unified numbering
SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

# The kernel's structures, written as bytes in the machine's order (LP64 only: the package's
# machine() names no other).
_ORDER = sys.byteorder
_SOCK_FPROG_SIZE = 16
_RULESET_ATTR_SIZE = 8
_PATH_BENEATH_SIZE = 12
_INT_MAX = 2**31 - 1
_LLONG_MAX = 2**63 - 1

_LIBC: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    """Return libc through ctypes with errno capture (loaded once)."""
    global _LIBC
    if _LIBC is None:
        from . import ffi as ctypes

        lib = ctypes.CDLL(None, use_errno=True)
        lib.syscall.restype = ctypes.c_long
        lib.prctl.restype = ctypes.c_int
        lib.prctl.argtypes = (
            ctypes.c_int,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_ulong,
        )
        _LIBC = lib
    return _LIBC


def _u(value: int, size: int) -> bytes:
    """An unsigned integer of ``size`` bytes, as the kernel reads it."""
    return value.to_bytes(size, _ORDER)


def _failed() -> OSError:
    """The last call's errno as the OSError (subclass) the native core raises for it."""
    from . import ffi as ctypes

    code = ctypes.get_errno()
    return OSError(code, os.strerror(code))


def _int(value: object, high: int, what: str) -> int:
    if type(value) is not int:
        raise TypeError(f"{what}: an int is needed")
    if not 0 <= value <= high:
        raise OverflowError(f"{what}: out of range")
    return value


def _fprog(program: object) -> tuple[object, object]:
    """``struct sock_fprog`` for ``program``, and the buffer it points into (keep it alive)."""
    from . import ffi as ctypes

    if type(program) is not bytes:
        raise TypeError("a BPF program as bytes is needed")
    count = len(program) // 8
    if not program or len(program) % 8 or count > BPF_MAXINSNS:
        raise ValueError(f"invalid BPF program ({len(program)} bytes)")
    buf = ctypes.create_string_buffer(program, len(program))
    # struct sock_fprog {unsigned short len; struct sock_filter *filter;}: the count, padding to
    # the pointer's alignment, the program's address (LP64; bytes, not a ctypes Structure: a
    # class built per call costs more than the call).
    prog = ctypes.create_string_buffer(
        _u(count, 2) + bytes(6) + _u(ctypes.addressof(buf), 8), _SOCK_FPROG_SIZE
    )
    return prog, buf


def kernel_no_new_privs() -> None:
    """``prctl(PR_SET_NO_NEW_PRIVS, 1)``; OSError where refused."""
    if libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _failed()


def kernel_seccomp(program: bytes) -> int:
    """``seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)``: 0, or the thread TSYNC could not synchronise."""
    from . import ffi as ctypes
    from . import machine

    prog, _buf = _fprog(program)
    arch = machine()
    if arch is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))  # no seccomp(2) number known
    ret = libc().syscall(
        ctypes.c_long(SYS_SECCOMP[arch]),
        ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
        ctypes.c_uint(SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(prog),  # type: ignore[arg-type]
    )
    if ret < 0:
        raise _failed()
    return int(ret)


def kernel_seccomp_prctl(program: bytes) -> None:
    """``prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)``: this thread and its children only."""
    from . import ffi as ctypes

    prog, _buf = _fprog(program)
    address = ctypes.addressof(prog)  # type: ignore[arg-type]
    if libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, address, 0, 0) != 0:
        raise _failed()


def kernel_landlock_abi() -> int:
    """The Landlock ABI version; OSError (ENOSYS, EOPNOTSUPP, ...) where there is none."""
    from . import ffi as ctypes

    ret = libc().syscall(
        ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
    )
    if ret < 0:
        raise _failed()
    return int(ret)


def kernel_landlock_create(handled: int) -> int:
    """A ruleset handling ``handled`` (filesystem rights); its descriptor, for the caller to close."""
    from . import ffi as ctypes

    # struct landlock_ruleset_attr {__u64 handled_access_fs;} (as bytes: see _fprog)
    attr = ctypes.create_string_buffer(
        _u(_int(handled, _LLONG_MAX, "handled"), 8), _RULESET_ATTR_SIZE
    )
    ruleset = libc().syscall(
        ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
        ctypes.byref(attr),
        ctypes.c_size_t(_RULESET_ATTR_SIZE),
        ctypes.c_uint32(0),
    )
    if ruleset < 0:
        raise _failed()
    return int(ruleset)


def kernel_landlock_add_rule(ruleset_fd: int, parent_fd: int, allowed: int) -> None:
    """Grant ``allowed`` beneath the folder (or file) ``parent_fd`` is open on."""
    from . import ffi as ctypes

    ruleset_fd = _int(ruleset_fd, _INT_MAX, "ruleset_fd")
    parent_fd = _int(parent_fd, _INT_MAX, "parent_fd")
    # struct landlock_path_beneath_attr, packed: {__u64 allowed_access; __s32 parent_fd;}
    rule = ctypes.create_string_buffer(
        _u(_int(allowed, _LLONG_MAX, "allowed"), 8) + _u(parent_fd, 4), _PATH_BENEATH_SIZE
    )
    if (
        libc().syscall(
            ctypes.c_long(SYS_LANDLOCK_ADD_RULE),
            ctypes.c_int(ruleset_fd),
            ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
            ctypes.byref(rule),
            ctypes.c_uint32(0),
        )
        != 0
    ):
        raise _failed()


def kernel_landlock_restrict(ruleset_fd: int) -> None:
    """``landlock_restrict_self``: this thread (and what it starts later) under the ruleset."""
    from . import ffi as ctypes

    ruleset_fd = _int(ruleset_fd, _INT_MAX, "ruleset_fd")
    if libc().syscall(ctypes.c_long(SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset_fd), 0) != 0:
        raise _failed()
