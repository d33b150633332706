"""Kernel layer, runtime side: load the profile's prebuilt seccomp program and Landlock rules.

The audit hook cannot see native code; this layer can. The tooling (:mod:`sandbox.kernel`)
compiles the filter with libseccomp into the compiled profile; here the prebuilt bytes are
loaded by the native core's system calls (through ``_ctypes`` where the Python core is the
core), and a host that refuses a layer never fails the function: each layer's status
(``active``, ``denied-by-host``, ``unsupported``, ``off``, ``alert``) is reported.
"""

from __future__ import annotations

import errno
import os
import sys
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = [
    "ACTIVE",
    "ALERT",
    "DENIED_BY_HOST",
    "OFF",
    "UNSUPPORTED",
    "KernelInstall",
    "describe",
    "install_kernel",
    "install_kernel_detailed",
    "parse_proc_status",
    "probe",
    "seccomp_program",
]

ACTIVE = "active"
DENIED_BY_HOST = "denied-by-host"
UNSUPPORTED = "unsupported"
OFF = "off"
ALERT = "alert"

SECTION_VERSION = 1


class KernelInstall:
    """The outcome of :func:`install_kernel_detailed`.

    A plain class, not a dataclass: the runtime imports this module on the cold-start path and
    building dataclasses costs milliseconds there.

    Attributes
    ----------
    statuses : dict[str, str]
        ``{"seccomp": status, "landlock": status}``, status one of ``active``,
        ``denied-by-host``, ``unsupported``, ``off``, ``alert``.
    reasons : dict[str, str]
        Per layer, why it has that status (errno, instruction count, ...).
    would_deny : list[str]
        In ``alert`` mode, what enforce would deny (see :func:`describe`); else empty.
    seconds : float
        Wall time spent installing.
    """

    __slots__ = ("reasons", "seconds", "statuses", "would_deny")

    def __init__(
        self,
        statuses: dict[str, str],
        reasons: dict[str, str],
        would_deny: list[str] | None = None,
        seconds: float = 0.0,
    ) -> None:
        self.statuses = statuses
        self.reasons = reasons
        self.would_deny = would_deny if would_deny is not None else []
        self.seconds = seconds

    def __repr__(self) -> str:
        return (
            f"KernelInstall(statuses={self.statuses!r}, reasons={self.reasons!r}, "
            f"would_deny=<{len(self.would_deny)} lines>, seconds={self.seconds:.6f})"
        )


def describe(section: dict[str, object] | None) -> list[str]:
    """List, one line each, what the section denies (what ``alert`` mode reports).

    Parameters
    ----------
    section : dict or None
        The ``kernel`` section from :func:`compile_kernel`.

    Returns
    -------
    list[str]
        Lines such as ``seccomp: execve -> EPERM: the profile runs no programs``.
    """
    if not section:
        return ["kernel: no kernel section in the profile"]
    lines: list[str] = []
    seccomp = section.get("seccomp")
    if isinstance(seccomp, dict):
        lines += [f"seccomp: {rule}" for rule in seccomp.get("rules", [])]
        for arch, why in sorted(dict(seccomp.get("errors") or {}).items()):
            lines.append(f"seccomp: no program for {arch}: {why}")
    else:
        lines.append(f"seccomp: unavailable: {section.get('reason', 'not compiled')}")
    landlock = section.get("landlock")
    if isinstance(landlock, dict):
        for kind in landlock.get("handle", []):
            dirs = landlock.get(kind) or []
            where = ", ".join(dirs) if dirs else "nowhere"
            lines.append(f"landlock: {kind} only beneath: {where}")
    return lines


def seccomp_program(seccomp: Mapping[str, object], arch: str) -> bytes:
    """The BPF program of ``arch`` in a compiled ``seccomp`` section.

    From its hex copy (``"hex": {arch: ...}``, decoded by ``bytes.fromhex``: no module to load
    at a cold start) when the section has one; from the base64 under ``arch`` otherwise
    (sections compiled before the copy existed).

    Raises
    ------
    ValueError
        When the text is not valid in its encoding.

    Example
    -------
    >>> section = {"x86_64": "BgAAAAAAAAA=", "hex": {"x86_64": "0600000000000000"}}
    >>> seccomp_program(section, "x86_64").hex()
    '0600000000000000'
    """
    hexed = seccomp.get("hex")
    if isinstance(hexed, dict) and isinstance(hexed.get(arch), str):
        return bytes.fromhex(hexed[arch])
    import binascii

    return binascii.a2b_base64(str(seccomp[arch]))


_INSTALLED: KernelInstall | None = None
# Whether the native core is the hook's, as install said (None: ask the core module).
_NATIVE_CHOICE: bool | None = None


def install_kernel(
    section: dict[str, object] | None,
    mode: str,
    *,
    seccomp_enabled: bool = True,
    landlock_enabled: bool = True,
) -> dict[str, str]:
    """Install the kernel layer for ``mode`` and return each layer's status.

    Parameters
    ----------
    section : dict or None
        The ``kernel`` section of the compiled profile.
    mode : str
        ``off``, ``learn``, ``alert`` or ``enforce``.
    seccomp_enabled, landlock_enabled : bool
        Operator switches (e.g. ``SANDBOX_SECCOMP=off``, read by the caller).

    Returns
    -------
    dict[str, str]
        ``{"seccomp": status, "landlock": status}``; see :class:`KernelInstall`.
        Never raises: a refusal or an unexpected error becomes a status.
    """
    return install_kernel_detailed(
        section, mode, seccomp_enabled=seccomp_enabled, landlock_enabled=landlock_enabled
    ).statuses


def install_kernel_detailed(
    section: dict[str, object] | None,
    mode: str,
    *,
    seccomp_enabled: bool = True,
    landlock_enabled: bool = True,
    native_core: bool | None = None,
) -> KernelInstall:
    """Like :func:`install_kernel`, with reasons, the alert description and the time taken.

    In ``enforce`` the layers load once per process: a second call returns the first result
    (a filter cannot be removed, and stacking copies would only cost time per syscall).
    ``native_core`` says whether the native core is the hook's (install knows; ``None``: asked
    of :mod:`..core`).
    """
    global _INSTALLED, _NATIVE_CHOICE
    start = time.perf_counter()
    if mode == "enforce" and _INSTALLED is not None:
        return _INSTALLED
    _NATIVE_CHOICE = native_core
    try:
        result = _install(section, mode, seccomp_enabled, landlock_enabled)
    except Exception as exc:  # never fail the function because of this layer
        why = f"internal error: {type(exc).__name__}: {exc}"
        result = KernelInstall(
            {"seccomp": UNSUPPORTED, "landlock": UNSUPPORTED}, {"seccomp": why, "landlock": why}
        )
    result = KernelInstall(
        result.statuses, result.reasons, result.would_deny, time.perf_counter() - start
    )
    if mode == "enforce":
        _INSTALLED = result
    return result


def _install(
    section: dict[str, object] | None, mode: str, seccomp_on: bool, landlock_on: bool
) -> KernelInstall:
    if mode not in ("alert", "enforce"):
        why = f"mode {mode}: nothing loaded"
        return KernelInstall({"seccomp": OFF, "landlock": OFF}, {"seccomp": why, "landlock": why})
    statuses: dict[str, str] = {}
    reasons: dict[str, str] = {}
    section = section or {}
    arch = machine()

    # What each layer would load, or why it cannot.
    program: bytes | None = None
    seccomp = section.get("seccomp")
    if not seccomp_on:
        statuses["seccomp"], reasons["seccomp"] = OFF, "switched off by configuration"
    elif not isinstance(seccomp, dict):
        statuses["seccomp"] = UNSUPPORTED
        reasons["seccomp"] = str(section.get("reason", "profile has no seccomp program"))
    elif arch is None or not isinstance(seccomp.get(arch), str):
        statuses["seccomp"] = UNSUPPORTED
        reasons["seccomp"] = f"no program for {arch or os.uname().machine} in the profile"
    else:
        program = seccomp_program(seccomp, arch)

    landlock = section.get("landlock")
    plan: dict[str, list[str]] = {}
    if not landlock_on:
        statuses["landlock"], reasons["landlock"] = OFF, "switched off by configuration"
    elif not isinstance(landlock, dict) or not landlock.get("handle"):
        statuses["landlock"], reasons["landlock"] = OFF, "no directories to restrict"
    else:
        plan = {k: [str(d) for d in landlock.get(k) or []] for k in ("read", "write", "exec")}
        plan["handle"] = [str(h) for h in landlock["handle"]]

    if mode == "alert":
        if program is not None:
            statuses["seccomp"], reasons["seccomp"] = ALERT, "would load; nothing loaded"
        if plan:
            statuses["landlock"], reasons["landlock"] = ALERT, "would restrict; nothing loaded"
        return KernelInstall(statuses, reasons, describe(section) if section else [])

    # Landlock first: it is configured with syscalls the seccomp filter leaves alone anyway,
    # and an independent refusal of one layer must not stop the other.
    if plan:
        statuses["landlock"], reasons["landlock"] = load_landlock(
            plan["read"], plan["write"], plan["exec"], plan["handle"]
        )
    if program is not None and arch is not None:
        statuses["seccomp"], reasons["seccomp"] = load_seccomp(program, arch)
    return KernelInstall(statuses, reasons)


def parse_proc_status(text: str) -> dict[str, int | None]:
    """Extract the seccomp-related fields of ``/proc/<pid>/status``.

    Parameters
    ----------
    text : str
        The file's content.

    Returns
    -------
    dict[str, int | None]
        ``no_new_privs``, ``seccomp`` (0 none, 1 strict, 2 filter) and ``seccomp_filters``
        (Linux >= 5.9); None where the field is absent.
    """
    wanted = {
        "NoNewPrivs": "no_new_privs",
        "Seccomp": "seccomp",
        "Seccomp_filters": "seccomp_filters",
    }
    out: dict[str, int | None] = dict.fromkeys(wanted.values())
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in wanted:
            try:
                out[wanted[key]] = int(value.split()[0])
            except (IndexError, ValueError):
                pass
    return out


def probe() -> dict[str, object]:
    """Report what this host offers the kernel layer (cheap; loads nothing).

    Returns
    -------
    dict[str, object]
        ``arch`` (or None when unsupported), ``machine``, ``kernel`` (release),
        ``no_new_privs``, ``seccomp``, ``seccomp_filters`` (from /proc/self/status),
        ``landlock_abi`` (> 0 when available) and ``landlock_reason``.
    """
    info: dict[str, object] = {
        "arch": machine(),
        "machine": os.uname().machine,
        "kernel": os.uname().release,
    }
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            info.update(parse_proc_status(fh.read()))
    except OSError as exc:
        info.update(parse_proc_status(""))
        info["status_error"] = str(exc)
    try:
        abi, why = landlock_abi()
    except Exception as exc:  # ctypes missing or libc without syscall(): report, don't fail
        abi, why = 0, f"cannot probe: {exc}"
    info["landlock_abi"] = max(abi, 0)
    info["landlock_reason"] = why
    return info


# The loader: what to load and each layer's status and reason, decided once for both
# cores; the system calls themselves are the native core's kernel_* functions, or the same
# functions of .ctypes_calls where the Python core is the core.

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
    native = _NATIVE_CHOICE
    if native is None:
        from .. import core

        native = core.KIND == "native"
    if native:
        from .. import _core  # type: ignore[attr-defined]  # the extension (loaded: it is the core)

        # (not an object built before these calls existed; its calls act only before install)
        if hasattr(_core, "kernel_seccomp") and not _core.installed():
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
        return DENIED_BY_HOST, reason
    if code in (errno.ENOSYS, errno.EINVAL) and _under_filter():
        return DENIED_BY_HOST, reason + "; an existing seccomp filter answered"
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
        return DENIED_BY_HOST, f"seccomp TSYNC refused by thread {ret}; no filter loaded"
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
            return DENIED_BY_HOST, why
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
