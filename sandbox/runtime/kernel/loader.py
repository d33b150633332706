"""Runtime side: load a prebuilt seccomp program and a Landlock ruleset with ctypes only."""

from __future__ import annotations

import errno
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold-start cost)

if TYPE_CHECKING:
    from . import ffi as ctypes  # ctypes' API without its import cost

ACTIVE = "active"
DENIED = "denied-by-host"
UNSUPPORTED = "unsupported"

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

# Landlock filesystem rights (<linux/landlock.h>) and the ABI that introduced them
LL_EXECUTE = 1 << 0
LL_WRITE_FILE = 1 << 1
LL_READ_FILE = 1 << 2
LL_READ_DIR = 1 << 3
LL_REMOVE_DIR = 1 << 4
LL_REMOVE_FILE = 1 << 5
LL_MAKE_CHAR = 1 << 6
LL_MAKE_DIR = 1 << 7
LL_MAKE_REG = 1 << 8
LL_MAKE_SOCK = 1 << 9
LL_MAKE_FIFO = 1 << 10
LL_MAKE_BLOCK = 1 << 11
LL_MAKE_SYM = 1 << 12
LL_REFER = 1 << 13  # ABI 2
LL_TRUNCATE = 1 << 14  # ABI 3
LL_IOCTL_DEV = 1 << 15  # ABI 5
LL_READ = LL_READ_FILE | LL_READ_DIR
LL_WRITE = (
    LL_WRITE_FILE
    | LL_REMOVE_DIR
    | LL_REMOVE_FILE
    | LL_MAKE_CHAR
    | LL_MAKE_DIR
    | LL_MAKE_REG
    | LL_MAKE_SOCK
    | LL_MAKE_FIFO
    | LL_MAKE_BLOCK
    | LL_MAKE_SYM
    | LL_REFER
    | LL_TRUNCATE
    | LL_IOCTL_DEV
)
LL_FILE_RIGHTS = LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV
LL_ABI_MASK = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}


def machine() -> str | None:
    """Return the running arch as the compiled profile names it, or None if not supported.

    A 32-bit interpreter on a 64-bit kernel makes i386-ABI syscalls, which the x86_64 program
    answers with ENOSYS: loading it would break the process, so it counts as unsupported.
    """
    if sys.maxsize <= 2**32:
        return None
    m = os.uname().machine
    if m in ("x86_64", "amd64"):
        return "x86_64"
    if m in ("aarch64", "arm64"):
        return "aarch64"
    return None


_LIBC: ctypes.CDLL | None = None

# The kernel's structures, written as bytes in the machine's order (LP64 only: see machine()).
_ORDER = sys.byteorder
_SOCK_FPROG_SIZE = 16
_RULESET_ATTR_SIZE = 8
_PATH_BENEATH_SIZE = 12


def _u(value: int, size: int) -> bytes:
    """An unsigned integer of ``size`` bytes, as the kernel reads it."""
    return value.to_bytes(size, _ORDER)


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


def _errno_name(code: int) -> str:
    return errno.errorcode.get(code, str(code))


def _under_filter() -> bool:
    # Seccomp: 2 means a filter (the host's) already runs: an ENOSYS/EINVAL is then its answer.
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Seccomp:"):
                    return line.split()[1] == "2"
    except OSError:
        pass
    return False


def _refusal(call: str, code: int) -> tuple[str, str]:
    reason = f"{call} failed: {_errno_name(code)} ({os.strerror(code)})"
    if code in (errno.EPERM, errno.EACCES):
        return DENIED, reason
    if code in (errno.ENOSYS, errno.EINVAL) and _under_filter():
        return DENIED, reason + "; an existing seccomp filter answered"
    return UNSUPPORTED, reason


def set_no_new_privs() -> tuple[str, str] | None:
    """Set ``PR_SET_NO_NEW_PRIVS``; return a refusal ``(status, reason)`` or None on success."""
    from . import ffi as ctypes  # ctypes' API without its import cost

    lib = libc()
    if lib.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return _refusal("prctl(PR_SET_NO_NEW_PRIVS)", ctypes.get_errno())
    return None


def load_seccomp(program: bytes, arch: str) -> tuple[str, str]:
    """Load a seccomp program on every thread of the process.

    Parameters
    ----------
    program : bytes
        ``struct sock_filter[]`` for ``arch``.
    arch : str
        The running arch (selects the ``seccomp`` syscall number).

    Returns
    -------
    tuple[str, str]
        ``(status, reason)``: ``active``, ``denied-by-host`` or ``unsupported``. Never raises
        for a refusal.
    """
    from . import ffi as ctypes  # ctypes' API without its import cost

    count = len(program) // 8
    if not count or len(program) % 8 or count > BPF_MAXINSNS:
        return UNSUPPORTED, f"invalid BPF program ({len(program)} bytes)"

    buf = ctypes.create_string_buffer(program, len(program))
    # struct sock_fprog {unsigned short len; struct sock_filter *filter;}: the count, padding to
    # the pointer's alignment, the program's address (LP64; bytes, not a ctypes Structure: a
    # class built per call costs more than the call).
    prog = ctypes.create_string_buffer(
        _u(count, 2) + bytes(6) + _u(ctypes.addressof(buf), 8), _SOCK_FPROG_SIZE
    )
    refused = set_no_new_privs()
    if refused:
        return refused
    lib = libc()
    ret = lib.syscall(
        ctypes.c_long(SYS_SECCOMP[arch]),
        ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
        ctypes.c_uint(SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(prog),
    )
    if ret == 0:
        return ACTIVE, f"{count} BPF instructions on all threads (TSYNC)"
    if ret > 0:
        # TSYNC names a thread that cannot take the filter; nothing was installed.
        return DENIED, f"seccomp TSYNC refused by thread {ret}; no filter loaded"
    code = ctypes.get_errno()
    if code == errno.ENOSYS and len(os.listdir("/proc/self/task")) == 1:
        # seccomp(2) missing (kernel < 3.17): prctl covers this thread and future children,
        # which is the whole process only while it is single-threaded.
        if lib.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) == 0:
            return ACTIVE, f"{count} BPF instructions via prctl (single-threaded process)"
        code = ctypes.get_errno()
    return _refusal("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)", code)


def landlock_abi() -> tuple[int, str]:
    """Return ``(abi, reason)``: the Landlock ABI version, or ``-errno`` and why it is absent."""
    from . import ffi as ctypes  # ctypes' API without its import cost

    ret = libc().syscall(
        ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
    )
    if ret >= 0:
        return int(ret), f"Landlock ABI {ret}"
    code = ctypes.get_errno()
    if code == errno.EOPNOTSUPP:
        return -code, "Landlock is built in but disabled at boot (lsm= list)"
    if code == errno.ENOSYS:
        return -code, "kernel without Landlock (needs >= 5.13 with CONFIG_SECURITY_LANDLOCK)"
    return -code, f"landlock_create_ruleset failed: {_errno_name(code)}"


def load_landlock(
    read: list[str], write: list[str], execute: list[str], handle: list[str]
) -> tuple[str, str]:
    """Restrict this process (all threads created later and children) to directory trees.

    Parameters
    ----------
    read, write, execute : list[str]
        Absolute directories granted that access (write and execute also grant read).
    handle : list[str]
        Which of ``read``, ``write``, ``exec`` the ruleset restricts at all; an access type
        not handled stays unrestricted.

    Returns
    -------
    tuple[str, str]
        ``(status, reason)``. Never raises for a refusal. Landlock restricts the calling thread
        (and what it creates later) only: call this before starting threads, or accept that
        existing threads stay unrestricted.
    """
    from . import ffi as ctypes  # ctypes' API without its import cost

    abi, why = landlock_abi()
    if abi <= 0:
        code = -abi
        if code == errno.EPERM:
            return DENIED, why
        return UNSUPPORTED, why
    supported = LL_ABI_MASK.get(abi, (1 << 16) - 1)
    handled = 0
    if "read" in handle:
        handled |= LL_READ
    if "write" in handle:
        handled |= LL_WRITE
    if "exec" in handle:
        handled |= LL_EXECUTE
    handled &= supported
    if not handled:
        return UNSUPPORTED, "nothing to restrict at this Landlock ABI"

    lib = libc()
    # struct landlock_ruleset_attr {__u64 handled_access_fs;} (as bytes: see load_seccomp)
    attr = ctypes.create_string_buffer(_u(handled, 8), _RULESET_ATTR_SIZE)
    ruleset = lib.syscall(
        ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
        ctypes.byref(attr),
        ctypes.c_size_t(_RULESET_ATTR_SIZE),
        ctypes.c_uint32(0),
    )
    if ruleset < 0:
        return _refusal("landlock_create_ruleset", ctypes.get_errno())
    grants: dict[str, int] = {}
    for d in read:
        grants[d] = grants.get(d, 0) | LL_READ
    for d in write:
        grants[d] = grants.get(d, 0) | LL_READ | LL_WRITE
    for d in execute:
        grants[d] = grants.get(d, 0) | LL_READ | LL_EXECUTE
    skipped: list[str] = []
    try:
        for path, rights in sorted(grants.items()):
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                skipped.append(path)
                continue
            try:
                allowed = rights & handled
                if not os.path.isdir(path):
                    allowed &= LL_FILE_RIGHTS
                if not allowed:
                    continue
                # struct landlock_path_beneath_attr, packed: {__u64 allowed_access; __s32 parent_fd;}
                rule = ctypes.create_string_buffer(
                    _u(allowed, 8) + fd.to_bytes(4, _ORDER, signed=True), _PATH_BENEATH_SIZE
                )
                if (
                    lib.syscall(
                        ctypes.c_long(SYS_LANDLOCK_ADD_RULE),
                        ctypes.c_int(ruleset),
                        ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                        ctypes.byref(rule),
                        ctypes.c_uint32(0),
                    )
                    != 0
                ):
                    skipped.append(f"{path} ({_errno_name(ctypes.get_errno())})")
            finally:
                os.close(fd)
        refused = set_no_new_privs()
        if refused:
            return refused
        if lib.syscall(ctypes.c_long(SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset), 0) != 0:
            return _refusal("landlock_restrict_self", ctypes.get_errno())
    finally:
        os.close(ruleset)
    reason = f"Landlock ABI {abi}, handles {'/'.join(handle)}, {len(grants) - len(skipped)} rules"
    if skipped:
        reason += f"; skipped: {', '.join(skipped)}"
    return ACTIVE, reason
