"""Runtime side: load a prebuilt seccomp program and a Landlock ruleset.

The system calls are the native core's ``kernel_*`` functions, or the same functions of
:mod:`.ctypes_calls` where the Python core is the core; what to load and each layer's status
and reason are decided here, once, for both.
"""

from __future__ import annotations

import errno
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold-start cost)

if TYPE_CHECKING:
    from typing import Any

ACTIVE = "active"
DENIED = "denied-by-host"
UNSUPPORTED = "unsupported"

BPF_MAXINSNS = 4096

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


def _calls() -> Any:
    """Who makes the kernel's system calls.

    The native core when it is the core (no ``_ctypes`` to load; its calls act only before
    install), else :mod:`.ctypes_calls` (the same functions, through ``_ctypes``). Chosen per
    call: once the hook is installed the ctypes path is the one left.
    """
    from .. import core

    if core.KIND == "native" and not core.installed():
        from .. import _core  # type: ignore[attr-defined]  # the extension (loaded: it is the core)

        if hasattr(_core, "kernel_seccomp"):  # not an object built before these calls existed
            return _core
    from . import ctypes_calls

    return ctypes_calls


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
    try:
        _calls().kernel_no_new_privs()
    except OSError as exc:
        return _refusal("prctl(PR_SET_NO_NEW_PRIVS)", exc.errno or 0)
    return None


def load_seccomp(program: bytes, arch: str) -> tuple[str, str]:
    """Load a seccomp program on every thread of the process.

    Parameters
    ----------
    program : bytes
        ``struct sock_filter[]`` for ``arch``.
    arch : str
        The running arch (as :func:`machine` names it).

    Returns
    -------
    tuple[str, str]
        ``(status, reason)``: ``active``, ``denied-by-host`` or ``unsupported``. Never raises
        for a refusal.
    """
    count = len(program) // 8
    if not count or len(program) % 8 or count > BPF_MAXINSNS:
        return UNSUPPORTED, f"invalid BPF program ({len(program)} bytes)"
    refused = set_no_new_privs()
    if refused:
        return refused
    calls = _calls()
    try:
        ret = calls.kernel_seccomp(bytes(program))
    except OSError as exc:
        code = exc.errno or 0
    else:
        if ret == 0:
            return ACTIVE, f"{count} BPF instructions on all threads (TSYNC)"
        # TSYNC names a thread that cannot take the filter; nothing was installed.
        return DENIED, f"seccomp TSYNC refused by thread {ret}; no filter loaded"
    if code == errno.ENOSYS and len(os.listdir("/proc/self/task")) == 1:
        # seccomp(2) missing (kernel < 3.17): prctl covers this thread and future children,
        # which is the whole process only while it is single-threaded.
        try:
            calls.kernel_seccomp_prctl(bytes(program))
        except OSError as exc:
            code = exc.errno or 0
        else:
            return ACTIVE, f"{count} BPF instructions via prctl (single-threaded process)"
    return _refusal("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)", code)


def landlock_abi() -> tuple[int, str]:
    """Return ``(abi, reason)``: the Landlock ABI version, or ``-errno`` and why it is absent."""
    try:
        abi = int(_calls().kernel_landlock_abi())
    except OSError as exc:
        code = exc.errno or 0
    else:
        return abi, f"Landlock ABI {abi}"
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

    calls = _calls()
    try:
        ruleset = int(calls.kernel_landlock_create(handled))
    except OSError as exc:
        return _refusal("landlock_create_ruleset", exc.errno or 0)
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
                calls.kernel_landlock_add_rule(ruleset, fd, allowed)
            except OSError as exc:
                skipped.append(f"{path} ({_errno_name(exc.errno or 0)})")
            finally:
                os.close(fd)
        refused = set_no_new_privs()
        if refused:
            return refused
        try:
            calls.kernel_landlock_restrict(ruleset)
        except OSError as exc:
            return _refusal("landlock_restrict_self", exc.errno or 0)
    finally:
        os.close(ruleset)
    reason = f"Landlock ABI {abi}, handles {'/'.join(handle)}, {len(grants) - len(skipped)} rules"
    if skipped:
        reason += f"; skipped: {', '.join(skipped)}"
    return ACTIVE, reason
