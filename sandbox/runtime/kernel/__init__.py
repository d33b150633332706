"""Kernel layer, runtime side: load the profile's prebuilt seccomp program and Landlock rules.

The audit hook cannot see native code; this layer can. The tooling (:mod:`sandbox.kernel`)
compiles the filter with libseccomp into the compiled profile; here the prebuilt bytes are
loaded by the native core's system calls (through ``_ctypes`` where the Python core is the
core), and a host that refuses a layer never fails the function: each layer's status
(``active``, ``denied-by-host``, ``unsupported``, ``off``, ``alert``) is reported.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Mapping

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
) -> KernelInstall:
    """Like :func:`install_kernel`, with reasons, the alert description and the time taken.

    In ``enforce`` the layers load once per process: a second call returns the first result
    (a filter cannot be removed, and stacking copies would only cost time per syscall).
    """
    global _INSTALLED
    start = time.perf_counter()
    if mode == "enforce" and _INSTALLED is not None:
        return _INSTALLED
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
    from .loader import load_landlock, load_seccomp, machine

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
    from .loader import landlock_abi, machine

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
