"""Many functions at once: selection across regions, a bounded worker pool, progress, summary.

A selection is explicit names or ARNs, ``--prefix``, ``--tag KEY=VALUE`` (all must match) and
``--all``, in one or more regions. The work on each selected function runs in a pool of at most
``concurrency`` threads; each result is handed back as soon as it is known (the caller prints
it), a progress bar is drawn on stderr when stderr is a terminal, and a summary counts the
outcomes. One function's failure never stops the others.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from sandbox.fleet._api import AwsOptions, FleetError, call, paginate

__all__ = [
    "DEFAULT_CONCURRENCY",
    "Progress",
    "Selection",
    "Target",
    "UsageError",
    "parse_regions",
    "parse_tags",
    "run_all",
    "select_targets",
    "summarise",
]

DEFAULT_CONCURRENCY = 8
T = TypeVar("T")


class UsageError(FleetError):
    """The command line or an input file is wrong (exit status 2); nothing was done."""


@dataclass(frozen=True)
class Target:
    """One function in one region."""

    region: str
    function: str

    def label(self, *, with_region: bool) -> str:
        """``function`` or ``region/function``."""
        return f"{self.region}/{self.function}" if with_region else self.function


@dataclass(frozen=True)
class Selection:
    """What to act on, as given on the command line.

    Example
    -------
    >>> Selection(names=("orders",), regions=("eu-west-1",)).explicit_only
    True
    """

    names: tuple[str, ...] = ()
    prefix: str | None = None
    tags: tuple[str, ...] = ()
    all_python: bool = False
    regions: tuple[str | None, ...] = (None,)

    @property
    def explicit_only(self) -> bool:
        """Only names were given (no listing of the region is needed)."""
        return not (self.prefix or self.tags or self.all_python)

    @property
    def empty(self) -> bool:
        """Nothing was asked for."""
        return not self.names and self.explicit_only


def parse_regions(values: Iterable[str] | None) -> tuple[str | None, ...]:
    """``--region a --region b,c`` → ``("a", "b", "c")``; none given → the SDK's default.

    Example
    -------
    >>> parse_regions(["us-east-1", "eu-west-1, eu-west-1"])
    ('us-east-1', 'eu-west-1')
    """
    regions: list[str] = []
    for value in values or ():
        for item in value.split(","):
            item = item.strip()
            if item and item not in regions:
                regions.append(item)
    return tuple(regions) or (None,)


def parse_tags(tags: Sequence[str]) -> dict[str, str]:
    """``["team=a", "env=prod"]`` → ``{"team": "a", "env": "prod"}``.

    Raises
    ------
    UsageError
        A tag without ``=`` or without a key.

    Example
    -------
    >>> parse_tags(["team=a", "note="])
    {'team': 'a', 'note': ''}
    """
    out = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag {tag!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _arn_region(name: str) -> str | None:
    parts = name.split(":")
    if name.startswith("arn:") and len(parts) >= 7 and parts[2] == "lambda":
        return parts[3]
    return None


def _short(name: str) -> str:
    """The function name of a name or ARN (qualifier dropped)."""
    if name.startswith("arn:") and ":function:" in name:
        return name.rsplit(":function:", 1)[1].split(":")[0]
    return name


def pool_map(func: Callable[[T], Any], items: Sequence[T], concurrency: int) -> list[Any]:
    """``list(map(func, items))`` on at most ``concurrency`` threads, order kept."""
    if concurrency <= 1 or len(items) <= 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
        return list(pool.map(func, items))


def _region_functions(
    opts: AwsOptions, selection: Selection, wanted: dict[str, str], concurrency: int
) -> list[str]:
    """The Python functions of one region matching the prefix and every tag (sorted)."""
    client = opts.client("lambda")
    candidates = [
        function
        for function in paginate(client, "list_functions", "Functions", opts)
        if str(function.get("Runtime") or "").startswith("python3")
        and str(function["FunctionName"]).startswith(selection.prefix or "")
    ]
    if wanted:

        def tagged(function: dict[str, Any]) -> bool:
            found = call(client, "list_tags", opts, Resource=function["FunctionArn"]).get(
                "Tags", {}
            )
            return all(found.get(k) == v for k, v in wanted.items())

        keep = pool_map(tagged, candidates, concurrency)
        candidates = [f for f, ok in zip(candidates, keep, strict=True) if ok]
    return sorted(str(f["FunctionName"]) for f in candidates)


def select_targets(
    opts: AwsOptions,
    selection: Selection,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    default_all: bool = False,
) -> list[Target]:
    """Resolve a selection to (region, function) pairs, explicit names first, no duplicates.

    Explicit names are taken in every region given (an ARN only in its own region) and are not
    checked here: a name that does not exist becomes that function's error. ``--prefix``,
    ``--tag`` and ``--all`` list the **Python** functions of each region; several of them
    narrow each other (a prefix and tags: functions with that prefix and those tags).

    Parameters
    ----------
    opts:
        Credentials and endpoint; its region is the default region.
    selection:
        Names, prefix, tags, all, regions.
    concurrency:
        Parallel ``ListTags`` calls when filtering by tag.
    default_all:
        An empty selection means every Python function (``inventory``) instead of an error.

    Raises
    ------
    UsageError
        Nothing selected (and not ``default_all``), or a malformed tag.

    Example
    -------
    >>> select_targets(opts, Selection(names=("orders",), regions=("eu-west-1",)))  # doctest: +SKIP
    [Target(region='eu-west-1', function='orders')]
    """
    wanted = parse_tags(selection.tags)
    if selection.empty and not default_all:
        raise UsageError("name at least one function, or use --prefix, --tag KEY=VALUE or --all")
    listing = not selection.explicit_only or (default_all and not selection.names)
    targets: list[Target] = []
    resolved: list[str] = []
    for region in selection.regions:
        region_opts = opts.for_region(region) if region else opts
        region_name = region or region_opts.region_name()
        resolved.append(region_name)
        for name in selection.names:
            arn_region = _arn_region(name)
            if arn_region is None or arn_region == region_name:
                targets.append(Target(region_name, name))
        if listing:
            found = _region_functions(region_opts, selection, wanted, concurrency)
            targets.extend(Target(region_name, name) for name in found)
    # an ARN names its region: it is acted on there even when --region does not list it
    targets.extend(
        Target(str(_arn_region(name)), name)
        for name in selection.names
        if _arn_region(name) not in (None, *resolved)
    )
    # one entry per function: an ARN and its name are the same function
    seen: set[tuple[str, str]] = set()
    unique = []
    for target in targets:
        key = (target.region, _short(target.function))
        if key not in seen:
            seen.add(key)
            unique.append(target)
    return unique


class Progress:
    """A progress bar on a terminal, nothing otherwise (the result lines are the progress).

    Parameters
    ----------
    total:
        How many results to expect.
    stream:
        Where to draw (stderr); drawn only when it is a terminal.
    """

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = total > 1 and bool(getattr(self.stream, "isatty", lambda: False)())
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def clear(self) -> None:
        """Erase the bar (before a result line is printed)."""
        if self.enabled:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

    def update(self, status: str) -> None:
        """Count one result and redraw the bar."""
        self.counts[status] += 1
        if not self.enabled:
            return
        done = sum(self.counts.values())
        width = 30
        filled = width * done // max(self.total, 1)
        counts = " ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} {counts}"
        )
        if done == self.total:
            self.stream.write("\r\x1b[2K")
        self.stream.flush()


def run_all(
    targets: Sequence[Target],
    work: Callable[[Target], T],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Iterator[tuple[Target, T]]:
    """Run ``work`` on every target, at most ``concurrency`` at a time; yield as each finishes.

    ``work`` is expected not to raise (it turns its failures into a result); if it does, the
    exception propagates when that result is reached: the functions not yet started are
    skipped, the running ones are finished first.

    Example
    -------
    >>> sorted(r for _, r in run_all([Target("r", "a"), Target("r", "b")], lambda t: t.function))
    ['a', 'b']
    """
    if not targets:
        return
    workers = max(1, min(concurrency, len(targets)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fleet")
    try:
        futures: dict[Future[T], Target] = {pool.submit(work, t): t for t in targets}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        # Interrupted (Ctrl-C, an exception, the caller stopped reading): functions not started
        # are not started; the ones running finish their one write, so none is left half-done.
        pool.shutdown(wait=True, cancel_futures=True)


def summarise(statuses: Iterable[str]) -> str:
    """``"300 functions: 297 changed, 2 unchanged, 1 error"`` (counts by outcome).

    Example
    -------
    >>> summarise(["changed", "changed", "error"])
    '3 functions: 2 changed, 1 error'
    """
    counts = Counter(statuses)
    total = sum(counts.values())
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items(), key=_order))
    noun = "function" if total == 1 else "functions"
    return f"{total} {noun}: {parts}" if parts else f"0 {noun}"


_ORDER = ("changed", "unchanged", "ok", "drift", "findings", "refused", "error")


def _order(item: tuple[str, int]) -> tuple[int, str]:
    status = item[0]
    return (_ORDER.index(status) if status in _ORDER else len(_ORDER), status)
