"""Instruction counts: the budgets' ratios measured where wall-clock time cannot resolve them.

On a shared two-core VM one child's wall-clock figure swings by 10-20 % from the next one's,
and even two warm processes run in alternating blocks of twenty calls disagree by as much: a
5 % budget on a handler is below what the timed sections can resolve. The number of
instructions a process executes (counted by Valgrind's cachegrind, no cache simulation) is
the same from run to run to a few thousandths, so it shows the sandbox's own share exactly —
in user space only: what the kernel does for a system call (the seccomp filter, Landlock's
checks, the I/O itself) is not counted, and neither are cache misses or page faults.

Every figure is a difference of two children, so what both do (the interpreter's start, the
runtime client's import, the handler's init) cancels:

- **sandbox init**: ``import awslambdaric.bootstrap`` and then ``import sandbox`` +
  ``install(...)``, minus the runtime client alone;
- **import boto3**: ``import boto3`` after that, minus the same child without it, in ``off``
  (``sandbox`` imported, nothing installed) and under the sandbox;
- **handler per call**: a warm process making ``N2`` calls minus one making ``N1``, divided by
  ``N2 - N1``, in ``off`` and under the sandbox. After the warm calls the collector makes no
  more full collections, in every mode (``bench.child._young_collections_only``: where one
  falls in the window depends on the allocation schedule, not on the calls' work).

The sandbox modes are measured with the kernel layers off (``enforce-hook``): the counter sees
none of their work, and Valgrind does not run seccomp filters. Skipped (with a note) when
``valgrind`` is not installed.

Every counted child runs with one fixed string-hash seed (:data:`HASH_SEED`). With a random one,
each process lays its dicts and sets out differently (other probe runs, other resizes), and
the two children of a difference no longer cancel to the instruction: a handler's per-call
figure moved by +-3,000 (0.1 %) from one run to the next. With the seed fixed it moves by
about 200. The seed is the same in every mode, and was not chosen for its figures: other
seeds give figures within that 0.1 %.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# The sandbox modes counted: the native core and the Python fallback, kernel layers off.
MODES = ("enforce-hook", "enforce-hook-py")
# PYTHONHASHSEED of every counted child (see the module docstring).
HASH_SEED = "0"


def valgrind() -> str | None:
    """The ``valgrind`` executable, or ``None`` when it is not installed."""
    return shutil.which("valgrind")


def wrapper(out: Path) -> list[str]:
    """The command prefix that counts a child's instructions into ``out``.

    Example
    -------
    >>> wrapper(Path("/tmp/x.out"))[1:3]
    ['--tool=cachegrind', '--cache-sim=no']
    """
    return [
        valgrind() or "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        f"--cachegrind-out-file={out}",
    ]


def total(out: Path) -> int:
    """The instructions counted in a cachegrind output file (its ``summary:`` line).

    Raises
    ------
    ValueError
        When the file has no summary (the child did not end normally).
    """
    for line in out.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise ValueError(f"no instruction summary in {out}")


def per_call(counts: dict[int, int]) -> float:
    """Instructions per call from two warm children's totals keyed by their number of calls.

    Example
    -------
    >>> per_call({10: 1_000_000, 40: 2_500_000})
    50000.0
    """
    (few, low), (many, high) = sorted(counts.items())
    return (high - low) / (many - few)


def ratio(value: float | None, base: float | None) -> float | None:
    """``value / base`` rounded, or ``None`` when either is missing or the base is not positive."""
    if value is None or base is None or base <= 0:
        return None
    return round(value / base, 4)


def figures(counts: dict[str, Any]) -> dict[str, Any]:
    """The section's figures from the raw counts :meth:`bench.run.Session.measure_instructions`
    collects.

    Parameters
    ----------
    counts : dict
        ``ric`` (int), ``init`` and ``boto3`` (mode → int), and per handler (``stdlib``,
        ``orders``) mode → {calls → int}.

    Returns
    -------
    dict
        ``init`` (mode → added instructions), ``boto3`` (mode → instructions, ``x_off``),
        per handler mode → instructions per call and ``x_off``.

    Example
    -------
    >>> out = figures({"ric": 100, "init": {"off": 150, "enforce-hook": 400},
    ...                "boto3": {"off": 1150, "enforce-hook": 1430},
    ...                "stdlib": {"off": {1: 10, 3: 30}, "enforce-hook": {1: 11, 3: 33}}})
    >>> out["init"]["enforce-hook"], out["boto3"]["enforce-hook"]["x_off"]
    (300, 1.03)
    >>> out["stdlib"]["enforce-hook"]
    {'per_call': 11.0, 'x_off': 1.1}
    """
    out: dict[str, Any] = {}
    ric = counts.get("ric")
    init = counts.get("init", {})
    if ric is not None and init:
        out["init"] = {mode: value - ric for mode, value in init.items()}
    boto3 = counts.get("boto3", {})
    if boto3 and init:
        added = {m: boto3[m] - init[m] for m in boto3 if m in init}
        out["boto3"] = {
            m: {"instructions": v, "x_off": ratio(v, added.get("off"))} for m, v in added.items()
        }
    for handler in ("stdlib", "orders"):
        runs = counts.get(handler) or {}
        calls = {m: per_call(c) for m, c in runs.items() if len(c) == 2}
        if calls:
            out[handler] = {
                m: {"per_call": round(v, 1), "x_off": ratio(v, calls.get("off"))}
                for m, v in calls.items()
            }
    return out


def run_parallel(jobs: list[Any], workers: int = 2) -> list[Any]:
    """Run the zero-argument callables ``jobs``, ``workers`` at a time; their results in order.

    (Valgrind runs each child 20-50 times slower: two at a time on a two-core machine.)
    """
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: job(), jobs))


def version() -> str:
    """Valgrind's version line (for the report), or ``"-"``."""
    tool = valgrind()
    if tool is None:
        return "-"
    done = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "-"
