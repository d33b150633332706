"""How fast this machine is at what the sandbox pays beyond instructions, measured in the run.

The timed figures of ``python -m bench`` move with the machine: on the shared Firecracker VMs
this project is measured on, the same tree's sandbox init has measured 10.6 ms in one session
and 14.1 ms in another, with ``import boto3`` (no sandbox) at 108 ms and 209 ms. Ratios against a
baseline of the same run cancel most of that, absolute budgets (sandbox init ≤ 10 ms) do not.
What moved most between those sessions is not the CPU but two kernel costs the instruction
counts cannot see:

- **a first touch of a fresh page** (an anonymous page fault): every new page a cold start
  allocates, unmarshalling the hook's bytecode included (3-5 µs each on these VMs, where free
  page reporting hands guest memory back to the host; ~0.1-0.3 µs on bare metal);
- **a path lookup** (``lstat``): what the file decisions add to a handler, once per new name.

Each run measures them at its start and at its end, so a reader can tell a slow machine from a
slow change.

Example
-------
>>> figures = measure(pages=64, lookups=200)
>>> sorted(figures)
['getppid_us', 'lstat_missing_us', 'lstat_us', 'page_touch_us']
"""

from __future__ import annotations

import mmap
import os
import statistics
import tempfile
import time


def _page_touch_us(pages: int) -> float:
    """Microseconds per first write to a page of a fresh anonymous mapping."""
    size = pages * mmap.PAGESIZE
    area = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        start = time.perf_counter()
        for offset in range(0, size, mmap.PAGESIZE):
            area[offset] = 1
        return (time.perf_counter() - start) / pages * 1e6
    finally:
        area.close()


def _per_call_us(call: object, arg: object, count: int) -> float:
    function = call  # (bound once: the loop measures the call, not the lookup)
    start = time.perf_counter()
    for _ in range(count):
        try:
            function(arg)  # type: ignore[operator]
        except OSError:
            pass
    return (time.perf_counter() - start) / count * 1e6


def measure(pages: int = 512, lookups: int = 2_000, rounds: int = 5) -> dict[str, float]:
    """The medians over ``rounds`` of: a page's first touch, an ``lstat`` of an existing and of
    a missing name (in a fresh temporary folder), and ``getppid`` (a system call that does
    nothing: the floor), each in microseconds.

    Parameters
    ----------
    pages, lookups : int
        Pages touched and lookups made per round.
    rounds : int
        Rounds; the median is reported.
    """
    with tempfile.TemporaryDirectory(prefix="lsbench-speed-") as folder:
        present = os.path.join(folder, "present")
        with open(present, "w") as handle:
            handle.write("x")
        missing = os.path.join(folder, "missing")
        samples: dict[str, list[float]] = {
            "page_touch_us": [],
            "lstat_us": [],
            "lstat_missing_us": [],
            "getppid_us": [],
        }
        for _ in range(rounds):
            samples["page_touch_us"].append(_page_touch_us(pages))
            samples["lstat_us"].append(_per_call_us(os.lstat, present, lookups))
            samples["lstat_missing_us"].append(_per_call_us(os.lstat, missing, lookups))
            samples["getppid_us"].append(
                _per_call_us(lambda _: os.getppid(), None, lookups)  # (same loop shape)
            )
    return {name: round(statistics.median(values), 3) for name, values in samples.items()}
