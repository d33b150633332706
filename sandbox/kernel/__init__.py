"""Kernel layer, tooling side: compile a profile's capabilities into seccomp BPF and Landlock rules.

The filter is compiled with libseccomp (``pyseccomp``) on the engineer's machine or in CI and
stored in the compiled profile; the runtime (:mod:`sandbox.runtime.kernel`) only loads the
prebuilt bytes. The runtime's loading API is re-exported here for the tooling's convenience.
"""

from __future__ import annotations

from sandbox.kernel._request import KernelRequest
from sandbox.runtime.kernel import (
    ACTIVE,
    ALERT,
    DENIED_BY_HOST,
    OFF,
    SECTION_VERSION,
    UNSUPPORTED,
    KernelInstall,
    describe,
    install_kernel,
    install_kernel_detailed,
    parse_proc_status,
    probe,
)

__all__ = [
    "ACTIVE",
    "ALERT",
    "DENIED_BY_HOST",
    "OFF",
    "UNSUPPORTED",
    "KernelInstall",
    "KernelRequest",
    "compile_kernel",
    "describe",
    "install_kernel",
    "install_kernel_detailed",
    "parse_proc_status",
    "probe",
]


def _landlock_plan(request: KernelRequest) -> dict[str, object]:
    handle = []
    if request.read_dirs:
        handle.append("read")
    if request.write_dirs:
        handle.append("write")
    # No exec in the profile: Landlock denies exec too, which still holds where the host
    # refuses seccomp but has Landlock.
    if request.exec_dirs or not request.allow_exec:
        handle.append("exec")
    return {
        "read": sorted(set(request.read_dirs)),
        "write": sorted(set(request.write_dirs)),
        "exec": sorted(set(request.exec_dirs)),
        "handle": handle,
    }


def compile_kernel(request: KernelRequest) -> dict[str, object]:
    """Build the JSON-serialisable ``kernel`` section of a compiled runtime profile.

    Parameters
    ----------
    request : KernelRequest
        The capabilities derived from the profile.

    Returns
    -------
    dict[str, object]
        ``{"version": 1, "request": {...}, "seccomp": {"x86_64": hex, "aarch64": hex,
        "denies": [...], "rules": [...], ...} | None, "reason": str (only when seccomp is
        None), "landlock": {"read": [...], "write": [...], "exec": [...], "handle": [...]}}``.
        Never raises because libseccomp is missing: ``seccomp`` is then None with a reason.
    """
    from sandbox.kernel._compile import SeccompUnavailable, compile_seccomp
    from sandbox.kernel._rules import build_rules

    section: dict[str, object] = {
        "version": SECTION_VERSION,
        "request": {"allow_exec": request.allow_exec, "allow_fork": request.allow_fork},
        "landlock": _landlock_plan(request),
    }
    try:
        section["seccomp"] = compile_seccomp(build_rules(request.allow_exec, request.allow_fork))
    except SeccompUnavailable as exc:
        section["seccomp"] = None
        section["reason"] = str(exc)
    return section
