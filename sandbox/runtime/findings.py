"""Violation records: one JSON line per distinct finding per invocation — a blocked target is never silent.

A finding says who attacked (the event source of the invocation the thread belongs to), where
(the first frame that is neither the sandbox nor a library) and how (category, action,
normalised target), what the sandbox did (``blocked`` or ``would-block``), and the profile rule
that would allow it. Every distinct target refused in an invocation is written at least once in
that invocation: the first ``max_per_invocation`` as complete records, any more as compact ones
(so junk findings cannot push the real one out). Repeats are counted and the counts written when
the invocation ends, together with CloudWatch Embedded Metric Format lines (blocked and
would-block counts per category), which make dashboards and alarms work with no API call.
"""

from __future__ import annotations

import os
import sys
import time

from .categories import ARG_SEP
from .decoders import code as _code_module
from .roots import Roots
from .sinks import LineSink, encode_text
from .values import code_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any


SCHEMA = 1
METRICS_NAMESPACE = "lambda-sandbox"
_getframe = sys._getframe
_strftime = time.strftime
_gmtime = time.gmtime
_time = time.time
_exit = os._exit
_getattr = getattr


class Invocation:
    """An invocation: request id, the event source (who), and its number in this process."""

    __slots__ = ("number", "request_id", "who")

    def __init__(
        self, request_id: str | None = None, who: dict[str, Any] | None = None, number: int = 0
    ):
        self.request_id = request_id
        self.who = who or {}
        self.number = number


class Reporter:
    """Writes findings; holds the per-invocation table of what was refused, and the metrics."""

    def __init__(
        self,
        sink: LineSink,
        *,
        function: str,
        version: str,
        mode: str,
        roots: Roots,
        layers: dict[str, str],
        max_per_invocation: int = 100,
        suggest: Any = None,
    ):
        self.sink = sink
        self.function = function
        self.version = version
        self.mode = mode
        self.roots = roots
        self.layers = layers
        self.max_per_invocation = max_per_invocation
        self.suggest = suggest  # the builder's generalisation, for rule hints (optional)
        self._seen: dict[tuple[Any, ...], int] = {}
        self._complete = 0
        self._compact = 0
        self._metrics: dict[tuple[str, str], int] = {}
        library = [
            d + "/" for name in ("stdlib", "site", "prefix") for d in roots.dirs.get(name, ())
        ]
        self._library_dirs = tuple(library)

    def site(self) -> str:
        """``file:line`` of the first frame that is not the sandbox, stdlib or a library."""
        frame: FrameType | None = _getframe(1)
        own = _code_module.OWN_IDS
        fallback = None
        while frame is not None:
            code = frame.f_code
            if id(code) not in own:
                filename = code_text(code.co_filename)
                if fallback is None:
                    fallback = frame
                if not filename.startswith(self._library_dirs) and not filename.startswith(
                    "<frozen"
                ):
                    break
            frame = frame.f_back
        chosen = frame or fallback
        if chosen is None:
            return "<unknown>"
        filename = _code_module._norm(code_text(chosen.f_code.co_filename))
        return self.roots.to_symbolic(filename) + ":" + str(chosen.f_lineno)

    def rule_hint(self, category: str, action: str, target: str, phase: str) -> str:
        """The profile rule (as JSON text) that would allow an access: the builder's form of it."""
        shown, argv = self.roots.symbolic(category, target)
        if self.suggest is not None:
            try:
                shown, argv = self.suggest(category, action, shown, argv)
            except Exception:
                pass  # a hint is a courtesy: the literal rule will do
        rule: dict[str, Any] = {"action": action, "phase": phase, "target": shown}
        if argv is not None:
            rule["argv"] = argv
        return "rules." + category + ": " + encode_text(rule)

    def report(
        self,
        *,
        category: str,
        action: str,
        target: str,
        decision: str,
        phase: str,
        invocation: Invocation,
        reason: str = "not in profile",
        named: str | None = None,
        hint: bool = True,
    ) -> None:
        site = self.site()
        # Per invocation: a thread left over from the last one can be refused after its end,
        # before the table is reset; the same refusal in the next invocation is still written.
        key = (category, action, target, decision, site, invocation.number)
        count = self._seen.get(key, 0) + 1
        self._seen[key] = count
        metric = (category, decision)
        self._metrics[metric] = self._metrics.get(metric, 0) + 1
        if count > 1:
            return  # counted; the invocation's summary says how often
        try:
            shown, argv = self.roots.symbolic(category, target)
            if named:
                shown = shown + " (" + named + ")"
            record: dict[str, Any] = {
                "type": "sandbox.finding",
                "schema": SCHEMA,
                "level": "ERROR" if decision == "blocked" else "WARN",
                "time": _now(),
                "function": self.function,
                "request_id": invocation.request_id,
                "category": category,
                "action": action,
                "target": shown,
                "decision": decision,
            }
            if argv is not None:
                record["argv"] = argv
            if self._complete < self.max_per_invocation:
                self._complete += 1
                record.update(
                    {
                        "version": self.version,
                        "phase": phase,
                        "mode": self.mode,
                        "reason": reason,
                        "rule": self.rule_hint(category, action, target, phase) if hint else "",
                        "site": site,
                        "who": invocation.who,
                        "layers": self.layers,
                    }
                )
            else:
                # Past the budget: still written (a distinct refused target is never silent),
                # without the parts that cost most.
                self._compact += 1
                record["compact"] = True
                record["site"] = site
            self._write(record)
        except BaseException:
            # Not written (the stack or memory ran out while the line was made: the function
            # chooses how deep it calls from): the next refusal of it is written, not counted.
            self._seen[key] = 0
            raise

    def _write(self, record: dict[str, Any]) -> None:
        written = self.sink.write(record)
        if not written and self.mode == "enforce" and _getattr(self.sink, "tampered", False):
            # Nothing can be reported any more: the function does not run on unwatched.
            _exit(70)

    def end_invocation(self, invocation: Invocation, quiet: int = 0) -> None:
        """Write the repeat counts and metrics of the invocation that ends, then reset."""
        if not self._seen and not self._metrics:
            return  # nothing reported since the last end (the common case): nothing to write
        repeats = {
            " ".join((k[0], k[1], k[2].replace(ARG_SEP, " "))): n - 1
            for k, n in self._seen.items()
            if n > 1
        }
        if repeats or self._compact:
            self._write(
                {
                    "type": "sandbox.finding.summary",
                    "schema": SCHEMA,
                    "level": "WARN",
                    "time": _now(),
                    "function": self.function,
                    "version": self.version,
                    "request_id": invocation.request_id,
                    "repeats": repeats,
                    "compact": self._compact,
                    "optional_imports_refused": quiet,
                }
            )
        self._write_metrics()
        self._seen = {}
        self._complete = 0
        self._compact = 0

    def _write_metrics(self) -> None:
        if not self._metrics:
            return
        by_category: dict[str, dict[str, int]] = {}
        for (category, decision), count in self._metrics.items():
            name = "blocked" if decision == "blocked" else "would_block"
            by_category.setdefault(category, {})[name] = count
        self._metrics = {}
        for category, counts in sorted(by_category.items()):
            self._write(emf(self.function, category, counts))

    def internal_error(self, event: str, error: BaseException, invocation: Invocation) -> None:
        self._write(
            {
                "type": "sandbox.error",
                "schema": SCHEMA,
                "level": "ERROR",
                "time": _now(),
                "function": self.function,
                "request_id": invocation.request_id,
                "event": event,
                "error": code_text(_type_name(type(error))) + ": " + _error_text(error),
            }
        )


_type_name = type.__dict__["__name__"].__get__
_exception_args = BaseException.__dict__["args"].__get__
_int_text = int.__repr__


def _error_text(error: BaseException) -> str:
    """The arguments of an exception the hook caught, as text, with none of its code run (an
    error raised by an object of the function's may carry a ``__str__`` or a text subclass of
    its own): exact ``str`` and ``int`` arguments, the type's name of any other."""
    parts = []
    args = _exception_args(error)
    for arg in args[:3] if type(args) is tuple else ():
        kind = type(arg)
        if kind is str:
            parts.append(arg)
        elif kind is int:
            parts.append(_int_text(arg))
        else:
            parts.append("<" + code_text(_type_name(kind)) + ">")
    return ", ".join(parts)


def emf(function: str, category: str, counts: dict[str, int]) -> dict[str, Any]:
    """A CloudWatch Embedded Metric Format record: counts per category for one function.

    Example
    -------
    >>> emf("orders", "files", {"blocked": 2})["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    [{'Name': 'blocked', 'Unit': 'Count'}]
    """
    return {
        "_aws": {
            "Timestamp": int(_time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [["function", "category"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in sorted(counts)],
                }
            ],
        },
        "type": "sandbox.metrics",
        "function": function,
        "category": category,
        **counts,
    }


def _now() -> str:
    return _strftime("%Y-%m-%dT%H:%M:%SZ", _gmtime())
