"""Unit tests: the seccomp program compiled for each arch, checked with a BPF interpreter."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

pyseccomp = pytest.importorskip("pyseccomp")

from sandbox.kernel import KernelRequest, compile_kernel, describe  # noqa: E402
from sandbox.kernel._bpf import AUDIT_ARCH_I386, AUDIT_ARCHES, run, seccomp_data, verdict  # noqa: E402
from sandbox.kernel._rules import aligned_blocks  # noqa: E402
from sandbox.runtime.kernel import seccomp_program  # noqa: E402

ARCH_TOKENS = {"x86_64": pyseccomp.Arch.X86_64, "aarch64": pyseccomp.Arch.AARCH64}
CLONE_THREAD_FLAGS = 0x3D0F00  # glibc pthread_create: VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|...
SIGCHLD = 17


def nr(arch: str, name: str) -> int:
    return int(pyseccomp.resolve_syscall(ARCH_TOKENS[arch], name))


@pytest.fixture(scope="module")
def locked() -> dict[str, Any]:
    return compile_kernel(KernelRequest(allow_exec=False, allow_fork=False))


@pytest.fixture(scope="module")
def exec_ok() -> dict[str, Any]:
    return compile_kernel(KernelRequest(allow_exec=True, allow_fork=True))


def program(section: dict[str, object], arch: str) -> bytes:
    seccomp = section["seccomp"]
    assert isinstance(seccomp, dict)
    return seccomp_program(seccomp, arch)


ARCHES = ("x86_64", "aarch64")


@pytest.mark.parametrize("arch", ARCHES)
def test_compile_produces_bpf_for_both_arches(locked: dict[str, object], arch: str) -> None:
    # GIVEN a profile without exec or fork
    # WHEN the kernel section is compiled
    prog = program(locked, arch)
    # THEN each arch has a whole number of 8-byte BPF instructions, under the kernel's limit
    assert prog and len(prog) % 8 == 0 and len(prog) // 8 < 4096
    # AND the program checks the arch it was built for first
    assert run(prog, seccomp_data(nr(arch, "getpid"), AUDIT_ARCHES[arch])) == 0x7FFF0000


def test_section_is_json_and_deterministic(locked: dict[str, object]) -> None:
    # GIVEN the same request compiled twice
    again = compile_kernel(KernelRequest(allow_exec=False, allow_fork=False))
    # THEN the sections serialise identically (a profile diff shows real changes only)
    assert json.dumps(locked, sort_keys=True) == json.dumps(again, sort_keys=True)
    seccomp = locked["seccomp"]
    assert isinstance(seccomp, dict)
    assert seccomp["errors"] == {}
    # (aarch64 has no fork, vfork or mknod system calls: only their *at/clone forms)
    assert seccomp["absent"] == {"aarch64": ["fork", "mknod", "vfork"]}


def test_denies_reflect_the_request(locked: dict[str, Any], exec_ok: dict[str, Any]) -> None:
    # GIVEN a locked request and one allowing exec and fork
    denies_locked = set(locked["seccomp"]["denies"])
    denies_exec = set(exec_ok["seccomp"]["denies"])
    # THEN exec, memfd and fork are denied only in the locked one
    assert {"execve", "execveat", "memfd_create", "fork", "vfork"} <= denies_locked
    assert not {"execve", "execveat", "memfd_create", "fork", "vfork"} & denies_exec
    # AND the always-denied set is in both
    always = {
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "bpf",
        "perf_event_open",
        "mount",
        "umount2",
        "unshare",
        "setns",
        "keyctl",
        "add_key",
        "request_key",
        "userfaultfd",
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "personality",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "clone3",
        "socket",
    }
    assert always <= denies_locked and always <= denies_exec


@pytest.mark.parametrize("arch", ARCHES)
def test_locked_program_verdicts(locked: dict[str, object], arch: str) -> None:
    # GIVEN the locked program for one arch
    prog = program(locked, arch)

    def v(name: str, *args: int) -> str:
        return verdict(prog, arch, nr(arch, name), args)

    # THEN exec, process creation and the always-denied calls fail with EPERM
    assert v("execve") == "EPERM"
    assert v("execveat") == "EPERM"
    assert v("memfd_create") == "EPERM"
    assert v("ptrace", 0) == "EPERM"
    assert v("bpf") == "EPERM"
    assert v("io_uring_setup") == "EPERM"
    assert v("clone", SIGCHLD) == "EPERM"  # fork via clone
    assert v("clone", 0x4111) == "EPERM"  # posix_spawn: CLONE_VM|CLONE_VFORK|SIGCHLD
    # AND threads keep working; clone3 says ENOSYS so glibc falls back to clone
    assert v("clone", CLONE_THREAD_FLAGS) == "ALLOW"
    assert v("clone3") == "ENOSYS"
    # AND a thread asking for a new namespace is still refused
    assert v("clone", CLONE_THREAD_FLAGS | 0x10000000) == "EPERM"
    # AND ordinary calls pass
    for name in ("read", "write", "openat", "mmap", "futex", "getpid", "connect"):
        assert v(name) == "ALLOW", name
    assert v("personality", 0xFFFFFFFF) == "ALLOW"
    assert v("personality", 0x0040000) == "EPERM"  # ADDR_NO_RANDOMIZE


@pytest.mark.parametrize("arch", ARCHES)
def test_socket_verdicts(locked: dict[str, object], arch: str) -> None:
    # GIVEN the locked program
    prog = program(locked, arch)

    def sock(domain: int, stype: int, proto: int = 0) -> str:
        return verdict(prog, arch, nr(arch, "socket"), (domain, stype, proto))

    nonblock_cloexec = 0o4000 | 0o2000000
    # THEN TCP/UDP/unix sockets and NETLINK_ROUTE (getaddrinfo, if_nameindex) are allowed
    assert sock(2, 1) == "ALLOW"
    assert sock(10, 2 | nonblock_cloexec) == "ALLOW"
    assert sock(1, 1 | nonblock_cloexec) == "ALLOW"
    assert sock(16, 3 | nonblock_cloexec, 0) == "ALLOW"
    assert sock(2, 2, 1) == "ALLOW"  # unprivileged ICMP "ping" socket is SOCK_DGRAM
    # AND raw and packet sockets are refused, whatever flags ride along
    assert sock(2, 3, 1) == "EPERM"
    assert sock(10, 3 | nonblock_cloexec, 58) == "EPERM"
    assert sock(2, 10) == "EPERM"  # SOCK_PACKET
    assert sock(17, 3) == "EPERM"  # AF_PACKET
    assert sock(16, 3, 9) == "EPERM"  # NETLINK_AUDIT
    # AND every unusual family, including ones the kernel may add later
    for family in (0, 3, 4, 5, 9, 11, 15, 17, 21, 38, 40, 44, 45, 46, 63, 64, 1000):
        assert sock(family, 1) == "EPERM", family
    # AND garbage in the upper 32 bits (the kernel ignores them) does not smuggle a family in
    assert sock((1 << 32) | 17, 3) == "EPERM"
    assert sock((1 << 32) | 2, 3, 1) == "EPERM"


def test_foreign_abis_get_enosys(locked: dict[str, object]) -> None:
    # GIVEN the x86_64 program
    prog = program(locked, "x86_64")
    # WHEN an x32 syscall (nr | 0x40000000) or an i386 (int 0x80) syscall arrives
    x32 = run(prog, seccomp_data(0x40000000 | 39, AUDIT_ARCHES["x86_64"]))
    i386 = run(prog, seccomp_data(11, AUDIT_ARCH_I386))  # i386 execve
    # THEN both fail with ENOSYS (they would otherwise bypass the denylist)
    assert x32 == 0x00050026
    assert i386 == 0x00050026
    # AND the aarch64 program refuses x86_64 numbering the same way
    assert run(program(locked, "aarch64"), seccomp_data(59, AUDIT_ARCHES["x86_64"])) == 0x00050026


def test_exec_allowed_program(exec_ok: dict[str, object]) -> None:
    # GIVEN a profile with exec rules
    for arch in ARCHES:
        prog = program(exec_ok, arch)
        # THEN exec, fork and memfd pass while ptrace stays denied
        assert verdict(prog, arch, nr(arch, "execve")) == "ALLOW"
        assert verdict(prog, arch, nr(arch, "clone"), (SIGCHLD,)) == "ALLOW"
        assert verdict(prog, arch, nr(arch, "memfd_create")) == "ALLOW"
        assert verdict(prog, arch, nr(arch, "ptrace")) == "EPERM"


def test_describe_lists_what_would_be_denied(locked: dict[str, object]) -> None:
    # WHEN the locked section is described
    lines = describe(locked)
    # THEN it names the denied calls with their errno and reason, one line each
    assert "seccomp: execve -> EPERM: the profile runs no programs" in lines
    assert any(line.startswith("seccomp: clone3 -> ENOSYS") for line in lines)
    assert any("socket(AF_INET, SOCK_RAW)" in line for line in lines)
    assert "landlock: exec only beneath: nowhere" in lines
    assert len(lines) == len(set(lines))


def test_describe_without_seccomp() -> None:
    # GIVEN a section compiled where libseccomp was missing
    section: dict[str, object] = {
        "seccomp": None,
        "reason": "pyseccomp/libseccomp unavailable: x",
        "landlock": {},
    }
    # THEN describe says so instead of failing
    assert describe(section) == ["seccomp: unavailable: pyseccomp/libseccomp unavailable: x"]
    assert describe(None) == ["kernel: no kernel section in the profile"]


def test_compile_without_libseccomp(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN pyseccomp cannot be imported
    import sys

    monkeypatch.setitem(sys.modules, "pyseccomp", None)
    # WHEN the section is compiled
    section = compile_kernel(KernelRequest(allow_exec=False, allow_fork=False))
    # THEN seccomp is None with a reason, and Landlock is still planned
    assert section["seccomp"] is None
    assert "unavailable" in str(section["reason"])
    assert section["landlock"] == {"read": [], "write": [], "exec": [], "handle": ["exec"]}


def test_landlock_plan() -> None:
    # GIVEN a request with directories
    section = compile_kernel(
        KernelRequest(True, True, read_dirs=("/usr", "/usr"), write_dirs=("/tmp",))
    )
    # THEN only the access types with directories are handled, sorted and deduplicated
    assert section["landlock"] == {
        "read": ["/usr"],
        "write": ["/tmp"],
        "exec": [],
        "handle": ["read", "write"],
    }


def test_aligned_blocks_cover_exactly() -> None:
    # GIVEN the allowed families removed from 0..63
    denied = frozenset(range(64)) - {1, 2, 10, 16}
    # WHEN covered with aligned blocks
    covered = {v for start, size in aligned_blocks(denied, 64) for v in range(start, start + size)}
    # THEN the cover is exact
    assert covered == denied


@pytest.mark.parametrize("arch", ARCHES)
def test_the_hex_copy_is_the_base64_program(locked: dict[str, Any], arch: str) -> None:
    # GIVEN a compiled section (base64 under the arch, for runtimes from before the hex copy)
    seccomp = locked["seccomp"]
    assert isinstance(seccomp, dict)
    # WHEN its two encodings of the arch's program are decoded
    # THEN they are the same program
    assert bytes.fromhex(seccomp["hex"][arch]) == base64.b64decode(seccomp[arch])
