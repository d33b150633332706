"""Where the hook's time goes: the hot path's parts timed one by one, and a cProfile diff.

Python audit hooks run with profiling and tracing switched off (CPython only traces a hook
that sets ``__cantrace__``), so cProfile cannot see inside the sandbox's hook: its cost shows up
as extra *own* time of the C functions that raise the events (``io.open``, ``__import__``,
``socket.connect``). :func:`profile_diff` ranks those; :func:`decompose` times the parts of the
hook's work (path resolution, the decision cache, the matchers) directly, without a hook.
"""

from __future__ import annotations

import json
import os
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def per_call_ns(fn: Callable[[], Any], n: int = 20_000, batches: int = 5) -> float:
    """Nanoseconds per call of ``fn``: the fastest of ``batches`` loops of ``n`` calls."""
    best = float("inf")
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    loop = _empty_loop_ns(n)
    return round(max(0.0, best / n * 1e9 - loop), 1)


def _empty_loop_ns(n: int) -> float:
    def nothing() -> None:
        return None

    start = time.perf_counter()
    for _ in range(n):
        nothing()
    return (time.perf_counter() - start) / n * 1e9


def decompose(data: dict[str, Any], micro_profile: Path | None, task_dir: Path) -> dict[str, Any]:
    """Time the parts of the hook's work for ``open`` and for an ignored event.

    Parameters
    ----------
    data : dict
        The micro fixtures (a file to open, fresh files).
    micro_profile : Path or None
        The compiled micro profile (for the matcher timings).
    task_dir : Path
        The micro children's task root.

    Returns
    -------
    dict
        ns per call of each part, with the paths used.
    """
    import botocore.client

    from sandbox.runtime.decoders import DECODERS
    from sandbox.runtime.decoders.files import decode_open
    from sandbox.runtime.policy import Policy
    from sandbox.runtime.roots import Roots

    same = data["same_file"]
    deep = os.path.abspath(botocore.client.__file__)
    out: dict[str, Any] = {
        "paths": {"shallow": same, "deep": deep},
        "components": {"shallow": same.count("/"), "deep": deep.count("/")},
    }
    out["lstat_ns"] = per_call_ns(lambda: os.lstat(same))
    out["stat_ns"] = per_call_ns(lambda: os.stat(same))
    out["realpath_shallow_ns"] = per_call_ns(lambda: os.path.realpath(same), n=5_000)
    out["realpath_deep_ns"] = per_call_ns(lambda: os.path.realpath(deep), n=5_000)
    out["decode_open_shallow_ns"] = per_call_ns(lambda: decode_open((same, "r", 0)), n=5_000)
    out["abspath_normpath_deep_ns"] = per_call_ns(lambda: os.path.normpath(deep), n=5_000)
    out["open_close_shallow_ns"] = per_call_ns(lambda: open(same, "rb").close(), n=5_000)
    get = DECODERS.get
    out["dispatch_get_miss_ns"] = per_call_ns(lambda: get("sys._getframe"), n=200_000)
    cache = {("files", "read", same, "init"): True}
    out["cache_hit_ns"] = per_call_ns(lambda: cache.get(("files", "read", same, "init")), n=200_000)
    if micro_profile is not None:
        os.environ["LAMBDA_TASK_ROOT"] = str(task_dir)
        try:
            roots = Roots.detect(str(task_dir))
            with open(micro_profile) as handle:
                policy = Policy.load(json.load(handle), roots)
            first = os.path.realpath(data["files"]["b"][0])
            out["policy_allows_file_ns"] = per_call_ns(
                lambda: policy.allows("files", "read", first, "init"), n=20_000
            )
            out["policy_allows_module_ns"] = per_call_ns(
                lambda: policy.allows("modules", "import", "lsb_b.m00001", "init"), n=20_000
            )
        finally:
            os.environ.pop("LAMBDA_TASK_ROOT", None)
    return out


def profile_diff(off: Path, enforce: Path, top: int = 12) -> list[dict[str, Any]]:
    """Functions whose own time grew most from ``off`` to ``enforce`` (same invocations).

    Parameters
    ----------
    off, enforce : Path
        ``cProfile`` dumps of the timed invocations of two e2e children.
    top : int
        How many to return.

    Returns
    -------
    list of dict
        ``function``, ``calls``, ``off_ms``, ``enforce_ms``, ``delta_ms``, largest delta first.
    """

    def own_times(path: Path) -> dict[str, tuple[int, float]]:
        stats = pstats.Stats(str(path), stream=sys.stderr)
        out: dict[str, tuple[int, float]] = {}
        for (filename, line, name), (_cc, nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            key = f"{_short(filename)}:{line}({name})" if filename != "~" else name
            calls, own = out.get(key, (0, 0.0))
            out[key] = (calls + nc, own + tt)
        return out

    a, b = own_times(off), own_times(enforce)
    rows: list[dict[str, Any]] = []
    for key, (calls, own) in b.items():
        base = a.get(key, (0, 0.0))[1]
        rows.append(
            {
                "function": key,
                "calls": calls,
                "off_ms": round(base * 1e3, 3),
                "enforce_ms": round(own * 1e3, 3),
                "delta_ms": round((own - base) * 1e3, 3),
            }
        )
    rows.sort(key=lambda r: r["delta_ms"], reverse=True)
    return rows[:top]


def install_breakdown(path: Path, top: int = 14) -> list[dict[str, Any]]:
    """Where ``sandbox.install`` spends its time: the largest cumulative entries.

    Parameters
    ----------
    path : Path
        A ``cProfile`` dump of one ``install(mode="enforce")`` (the hook is not yet installed
        while it runs, so the profile sees all of it).
    top : int
        How many entries.

    Returns
    -------
    list of dict
        ``function``, ``calls``, ``cumulative_ms``, ``own_ms``, largest cumulative first.
    """
    stats = pstats.Stats(str(path), stream=sys.stderr)
    rows = []
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        shown = f"{_short(filename)}:{line}({name})" if filename != "~" else name
        if "bench/" in shown:
            continue
        rows.append(
            {
                "function": shown,
                "calls": nc,
                "cumulative_ms": round(ct * 1e3, 3),
                "own_ms": round(tt * 1e3, 3),
            }
        )
    rows.sort(key=lambda r: r["cumulative_ms"], reverse=True)
    return rows[:top]


def _short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3", f"{Path(__file__).resolve().parents[1]}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
