"""The kernel layer's input, derived from a profile by the core (tooling and runtime)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KernelRequest:
    """What the profile allows, as far as the kernel layer can tell.

    Attributes
    ----------
    allow_exec : bool
        The profile has any subprocess exec rule.
    allow_fork : bool
        The profile has exec or fork rules (fork/vfork/clone without ``CLONE_THREAD``).
    read_dirs, write_dirs, exec_dirs : tuple[str, ...]
        Absolute directories for Landlock (may be empty: that access type is not restricted).
    """

    allow_exec: bool
    allow_fork: bool
    read_dirs: tuple[str, ...] = ()
    write_dirs: tuple[str, ...] = ()
    exec_dirs: tuple[str, ...] = ()


KernelRequest.__module__ = "sandbox.kernel"
