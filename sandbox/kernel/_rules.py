"""The seccomp denylist as data: which syscalls, which integer arguments, and why."""

from __future__ import annotations

from dataclasses import dataclass

# errno values (identical on x86_64 and aarch64, the only arches Lambda offers)
EPERM = 1
ENOSYS = 38

# socket(2) families (<linux/socket.h>)
AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16
ALLOWED_FAMILIES = frozenset({AF_UNIX, AF_INET, AF_INET6, AF_NETLINK})
NETLINK_ROUTE = 0
SOCK_TYPE_MASK = 0xF  # the low bits of `type`; SOCK_NONBLOCK/SOCK_CLOEXEC live above
SOCK_RAW = 3
SOCK_PACKET = 10

# clone(2) flags
CLONE_THREAD = 0x00010000
NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}

PERSONALITY_QUERY = 0xFFFFFFFF
TIOCSTI = 0x5412
LOW32 = 0xFFFFFFFF

# comparison operators, numbered as libseccomp's enum scmp_compare
NE, LT, LE, EQ, GE, GT, MASKED_EQ = 1, 2, 3, 4, 5, 6, 7


@dataclass(frozen=True)
class ArgCmp:
    """One comparison on a syscall argument (libseccomp ``scmp_arg_cmp``).

    Attributes
    ----------
    index : int
        Argument position, 0-based.
    op : int
        One of ``NE, LT, LE, EQ, GE, GT, MASKED_EQ``.
    a : int
        The datum, or the mask for ``MASKED_EQ``.
    b : int
        The datum for ``MASKED_EQ``.
    """

    index: int
    op: int
    a: int
    b: int = 0


@dataclass(frozen=True)
class Rule:
    """A denied syscall (optionally only for some integer argument values).

    Attributes
    ----------
    syscall : str
        Syscall name as libseccomp spells it.
    errno : int
        The errno the call fails with.
    args : tuple[ArgCmp, ...]
        All must match (AND); rules for the same syscall are OR-ed.
    label : str
        Human-readable form, e.g. ``socket(domain=AF_PACKET)``.
    why : str
        The reason, shown by ``describe`` and in docs/KERNEL.md.
    """

    syscall: str
    errno: int
    args: tuple[ArgCmp, ...]
    label: str
    why: str


def _plain(names: str, why: str, err: int = EPERM) -> list[Rule]:
    return [Rule(n, err, (), n, why) for n in names.split()]


def build_rules(allow_exec: bool, allow_fork: bool) -> list[Rule]:
    """Return the denylist for a profile's capabilities.

    Parameters
    ----------
    allow_exec : bool
        The profile allows executing programs.
    allow_fork : bool
        The profile allows creating processes (fork/vfork/clone without ``CLONE_THREAD``).

    Returns
    -------
    list[Rule]
        Rules in a stable order (the order ``describe`` prints them).
    """
    rules: list[Rule] = []
    if not allow_exec:
        rules += _plain("execve execveat", "the profile runs no programs")
        rules += _plain(
            "memfd_create", "fileless payloads: an anonymous executable file needs no writable path"
        )
    if not allow_fork:
        rules += _plain("fork vfork", "the profile starts no processes")
        rules.append(
            Rule(
                "clone",
                EPERM,
                (ArgCmp(0, MASKED_EQ, CLONE_THREAD, 0),),
                "clone(flags without CLONE_THREAD)",
                "a new process, not a thread; threads (CLONE_THREAD) keep working",
            )
        )
    # clone3 passes its flags inside a struct: seccomp cannot read them. ENOSYS (not EPERM)
    # makes glibc >= 2.34 fall back to clone(2), whose flags the filter can check.
    rules.append(
        Rule(
            "clone3",
            ENOSYS,
            (),
            "clone3",
            "flags behind a pointer; glibc falls back to clone(2) on ENOSYS",
        )
    )
    for name, flag in NAMESPACE_FLAGS.items():
        rules.append(
            Rule(
                "clone",
                EPERM,
                (ArgCmp(0, MASKED_EQ, flag, flag),),
                f"clone({name})",
                "new namespaces (user namespaces open a large kernel attack surface)",
            )
        )
    rules += _plain(
        "ptrace process_vm_readv process_vm_writev pidfd_getfd kcmp",
        "reading or changing another process (memory, descriptors)",
    )
    rules += _plain("bpf perf_event_open", "kernel attack surface and side channels")
    rules += _plain(
        "mount umount2 fsopen fsconfig fsmount fspick move_mount open_tree mount_setattr "
        "pivot_root chroot",
        "changing the filesystem view",
    )
    rules += _plain("unshare setns", "namespaces (escape and kernel attack surface)")
    rules += _plain(
        "keyctl add_key request_key", "kernel keyrings: not namespaced, exploit surface"
    )
    rules += _plain("userfaultfd", "a standard primitive for widening kernel race windows")
    rules += _plain(
        "kexec_load kexec_file_load init_module finit_module delete_module reboot swapon "
        "swapoff syslog acct",
        "host administration",
    )
    rules += _plain("open_by_handle_at", "opens files by handle, bypassing path checks")
    rules += _plain(
        "mknod mknodat",
        "device nodes and FIFOs: created with no audit event (os.mknod, os.mkfifo)",
    )
    rules += _plain(
        "io_uring_setup io_uring_enter io_uring_register",
        "io_uring performs I/O without syscalls the filter can see",
    )
    rules.append(
        Rule(
            "personality",
            EPERM,
            (ArgCmp(0, NE, PERSONALITY_QUERY),),
            "personality(set)",
            "e.g. ADDR_NO_RANDOMIZE; only the query personality(0xffffffff) is allowed",
        )
    )
    rules.append(
        Rule(
            "ioctl",
            EPERM,
            (ArgCmp(1, MASKED_EQ, LOW32, TIOCSTI),),
            "ioctl(TIOCSTI)",
            "injects input into a terminal",
        )
    )
    rules += _socket_rules()
    return rules


def aligned_blocks(denied: frozenset[int], limit: int) -> list[tuple[int, int]]:
    """Cover ``denied`` (values below ``limit``, a power of two) with aligned power-of-two blocks.

    Parameters
    ----------
    denied : frozenset[int]
        The values to cover.
    limit : int
        Exclusive upper bound, a power of two.

    Returns
    -------
    list[tuple[int, int]]
        ``(start, size)`` pairs; each block is one ``MASKED_EQ`` comparison (mask ``~(size-1)``).
    """
    blocks: list[tuple[int, int]] = []
    value = 0
    while value < limit:
        if value not in denied:
            value += 1
            continue
        size = 1
        while (
            value % (size * 2) == 0
            and value + size * 2 <= limit
            and all(v in denied for v in range(value, value + size * 2))
        ):
            size *= 2
        blocks.append((value, size))
        value += size
    return blocks


def _socket_rules() -> list[Rule]:
    why_family = "unusual socket families (AF_PACKET, AF_VSOCK, AF_ALG, ...) are exploit surface"
    rules: list[Rule] = []
    limit = 64  # a power of two above AF_MAX, so one GE rule covers every later family
    denied = frozenset(range(limit)) - ALLOWED_FAMILIES
    for syscall in ("socket", "socketpair"):
        for start, size in aligned_blocks(denied, limit):
            # MASKED_EQ on the low 32 bits: the kernel truncates `int domain`, so garbage in
            # the upper half must not let a denied family through.
            rules.append(
                Rule(
                    syscall,
                    EPERM,
                    (ArgCmp(0, MASKED_EQ, LOW32 & ~(size - 1), start),),
                    f"{syscall}(domain not AF_UNIX/AF_INET/AF_INET6/AF_NETLINK)",
                    why_family,
                )
            )
        # Families the kernel may add later, and any value with the upper half set.
        rules.append(
            Rule(
                syscall,
                EPERM,
                (ArgCmp(0, GE, limit),),
                f"{syscall}(domain not AF_UNIX/AF_INET/AF_INET6/AF_NETLINK)",
                why_family,
            )
        )
    for family, fname in ((AF_UNIX, "AF_UNIX"), (AF_INET, "AF_INET"), (AF_INET6, "AF_INET6")):
        for stype, tname in ((SOCK_RAW, "SOCK_RAW"), (SOCK_PACKET, "SOCK_PACKET")):
            rules.append(
                Rule(
                    "socket",
                    EPERM,
                    (
                        ArgCmp(0, MASKED_EQ, LOW32, family),
                        ArgCmp(1, MASKED_EQ, SOCK_TYPE_MASK, stype),
                    ),
                    f"socket({fname}, {tname})",
                    "raw sockets forge packets and sniff traffic",
                )
            )
    rules.append(
        Rule(
            "socket",
            EPERM,
            (ArgCmp(0, MASKED_EQ, LOW32, AF_NETLINK), ArgCmp(2, NE, NETLINK_ROUTE)),
            "socket(AF_NETLINK, protocol!=NETLINK_ROUTE)",
            "netlink beyond NETLINK_ROUTE (which glibc's getaddrinfo and if_nameindex use)",
        )
    )
    return rules
