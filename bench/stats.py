"""Summaries, paired ratios and the ``--check`` verdicts: pure functions over measured numbers."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def summary(values: Sequence[float]) -> dict[str, Any]:
    """``{"min", "median", "max", "n"}`` of repeated measurements (rounded for the report).

    Parameters
    ----------
    values : sequence of float
        One figure per repeat.

    Returns
    -------
    dict
        The summary; ``n`` is 0 (and the rest ``None``) for no values.
    """
    if not values:
        return {"min": None, "median": None, "max": None, "n": 0}
    return {
        "min": _round(min(values)),
        "median": _round(statistics.median(values)),
        "max": _round(max(values)),
        "n": len(values),
    }


def _round(value: float) -> float:
    return round(value, 4 if abs(value) < 10 else 2)


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float | None:
    """Median of the per-repeat ratios of two interleaved series.

    Repeat ``i`` of both series ran back to back, so dividing within a repeat cancels the drift
    of a noisy machine between repeats; the median then drops the odd outlier.

    Parameters
    ----------
    numerators, denominators : sequence of float
        Same length; repeat ``i`` of one pairs with repeat ``i`` of the other.

    Returns
    -------
    float or None
        ``None`` when there is no usable pair (a denominator ≤ 0).
    """
    ratios = [n / d for n, d in zip(numerators, denominators, strict=False) if d > 0]
    return round(statistics.median(ratios), 4) if ratios else None


@dataclass(frozen=True)
class Threshold:
    """A gross-regression limit on a ratio.

    Attributes
    ----------
    name : str
        What is compared (``ignored_event_vs_floor`` ...).
    limit : float
        Fail above this ratio.
    slack : float
        ...but only if the absolute excess over ``limit`` x baseline is also above this (in the
        figure's own unit): a 40 ns floor measured as 15 ns on a noisy machine must not fail CI.
    what : str
        Human description for the report.
    """

    name: str
    limit: float
    slack: float
    what: str


CHECKS = (
    # The native core filters an ignored event in C at ~0.3x the empty Python hook; 1.0x (the
    # cost of any Python hook) means it no longer does, e.g. the Python core ran instead.
    Threshold(
        "ignored_event_vs_floor",
        1.0,
        30.0,
        "ignored audit event (sys._getframe) overhead, enforce (native core) ÷ empty hook (ns)",
    ),
    Threshold(
        "ignored_event_py_vs_floor",
        2.0,
        60.0,
        "ignored audit event (sys._getframe) overhead, enforce-py (Python core) ÷ empty hook (ns)",
    ),
    # CPU of the function's process per call (~4 ms off, ~4.5 ms enforce): its wall time (~10
    # ms) waits on loopback services that share this machine and doubles at random, whatever
    # the mode, which failed CI once at 1.66x with no change in the sandbox.
    Threshold(
        "e2e_enforce_vs_off",
        1.5,
        1.0,
        "orders handler per invocation, enforce ÷ off (CPU ms of the function's process)",
    ),
    # ~0.5 ms a call, ~24 decisions: enforce measures ~1.7-1.9x today; 2.5x and +0.2 ms
    # over that is a gross regression (decisions no longer cached, a decoder gone slow).
    Threshold(
        "e2e_stdlib_enforce_vs_off",
        2.5,
        0.2,
        "stdlib-heavy handler per invocation, enforce ÷ off (ms)",
    ),
    Threshold("import_boto3_enforce_vs_off", 2.5, 150.0, "import boto3, enforce ÷ off (ms)"),
)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check."""

    name: str
    ratio: float | None
    limit: float
    excess: float | None
    ok: bool
    what: str

    def line(self) -> str:
        """One line for the terminal."""
        shown = "n/a" if self.ratio is None else f"{self.ratio:.2f}x"
        state = "ok" if self.ok else "REGRESSION"
        return f"{state:<10} {self.name:<30} {shown:>8} (limit {self.limit:.2f}x)  {self.what}"


def check(pairs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> list[Verdict]:
    """Judge each check from its paired series ``(measured, baseline)``.

    A check fails only when the paired-median ratio is above its limit *and* the median
    absolute excess (measured - limit x baseline) is above its slack. A check with no data
    passes (it is reported as ``n/a``): only a measured regression fails CI.

    Parameters
    ----------
    pairs : mapping
        Check name → (measured per repeat, baseline per repeat), e.g. enforce's and the
        empty hook's overhead in ns per ignored event.

    Returns
    -------
    list[Verdict]
        One per :data:`CHECKS` entry, in order.
    """
    out = []
    for threshold in CHECKS:
        measured, baseline = pairs.get(threshold.name, ((), ()))
        ratio = paired_ratio(measured, baseline)
        excess = None
        ok = True
        if ratio is not None:
            excess = statistics.median(
                m - threshold.limit * b for m, b in zip(measured, baseline, strict=False)
            )
            ok = not (ratio > threshold.limit and excess > threshold.slack)
        out.append(
            Verdict(
                threshold.name,
                ratio,
                threshold.limit,
                None if excess is None else round(excess, 3),
                ok,
                threshold.what,
            )
        )
    return out
