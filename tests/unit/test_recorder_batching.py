"""Learn's invocation ends: quiet ones written as signed runs, novel ones at once, the same counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.profile.build import build_from_observations
from sandbox.profile.observations import ObservationSet, read_sources
from sandbox.runtime import recorder as recorder_module
from sandbox.runtime.findings import Invocation
from sandbox.runtime.recorder import BATCH_INVOCATIONS, Recorder
from sandbox.runtime.roots import Roots

KEY = bytes(range(32))
ENV = "e1"


class ListSink:
    """Collects the records (the recorder's sink interface: ``write`` and ``flush``)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> bool:
        self.records.append(json.loads(json.dumps(record)))
        return True

    def flush(self) -> None:
        pass


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The recorder's clock, set by the test: ``clock[0]`` seconds since the epoch."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(recorder_module, "_time", lambda: now[0])
    monkeypatch.setattr(recorder_module, "_now", lambda: recorder_module._at(now[0]))
    return now


def _recorder(batch: int = BATCH_INVOCATIONS, batch_seconds: float = 60.0) -> Recorder:
    sink = ListSink()
    return Recorder(
        sink,  # type: ignore[arg-type]
        function="f",
        version="$LATEST",
        roots=Roots({}),
        environment=ENV,
        key=KEY,
        batch=batch,
        batch_seconds=batch_seconds,
    )


def _records(rec: Recorder) -> list[dict[str, Any]]:
    sink = rec.sink
    assert isinstance(sink, ListSink)
    return sink.records


def _play(rec: Recorder, clock: list[float], count: int, novel_at: dict[int, str]) -> None:
    """``count`` invocations, one second apart; invocation n reads ``novel_at[n]`` if given."""
    for number in range(1, count + 1):
        clock[0] += 1.0
        inv = Invocation(f"req-{number}", {}, number)
        rec.begin_invocation()
        if number in novel_at:
            rec.record("files", "read", novel_at[number], "invoke", inv)
        rec.end_invocation(inv)


def _read(records: list[dict[str, Any]]) -> ObservationSet:
    start = {"type": "sandbox.start", "mode": "learn", "env": ENV, "observation_key": KEY.hex()}
    observed = ObservationSet(function="f", allow_unauthenticated=False)
    for line in [json.dumps(start)] + [json.dumps(r) for r in records]:
        observed.add_line(line, "log")
    return observed


def test_quiet_invocation_ends_are_written_as_runs_that_double_up_to_the_limit(
    clock: list[float],
) -> None:
    # GIVEN a recorder (no time bound) WHEN 200 quiet invocations end
    rec = _recorder(batch_seconds=1e9)
    _play(rec, clock, 200, {})
    runs = [(r.get("first_invocation", r["invocation"]), r["invocation"]) for r in _records(rec)]
    # THEN their ends are written as consecutive runs of 1, 2, 4... then 64 invocations
    assert runs[:7] == [(1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, 63), (64, 127)]
    assert runs[7] == (128, 191)
    # AND what is not written yet is less than the limit, and written at exit
    assert 200 - runs[-1][1] < BATCH_INVOCATIONS
    rec.write_pending()
    assert _records(rec)[-1]["invocation"] == 200
    assert _records(rec)[-1]["first_invocation"] == 192


def test_a_novel_observation_is_written_at_once_after_the_quiet_run_before_it(
    clock: list[float],
) -> None:
    # GIVEN quiet invocations 1-9 (some still held back) WHEN invocation 10 sees a new file
    rec = _recorder()
    _play(rec, clock, 10, {10: "/srv/new"})
    kinds = [(r["type"], r["invocation"], r.get("first_invocation")) for r in _records(rec)]
    # THEN the held-back run (8-9) is written first, then the observation, then the end of
    # the novel invocation with its count, each in order
    assert kinds[-3:] == [
        ("sandbox.invocation", 9, 8),
        ("sandbox.observation", 10, None),
        ("sandbox.invocation", 10, None),
    ]
    assert _records(rec)[-1]["novel"] == 1


def test_a_run_that_began_long_ago_is_written_at_the_next_end(clock: list[float]) -> None:
    # GIVEN a run limit far away and a 30 s bound WHEN invocations end 20 s apart
    rec = _recorder(batch=64, batch_seconds=30.0)
    rec._limit = 64
    for number in range(1, 4):
        clock[0] += 20.0
        rec.end_invocation(Invocation(f"r{number}", {}, number))
    # THEN the run is written once it is older than the bound (at the end of invocation 3)
    assert [(r.get("first_invocation"), r["invocation"]) for r in _records(rec)] == [(1, 3)]


def test_run_records_are_signed_and_a_changed_run_does_not_verify(clock: list[float]) -> None:
    # GIVEN the records of 20 quiet invocations
    rec = _recorder()
    _play(rec, clock, 20, {})
    rec.write_pending()
    records = _records(rec)
    # WHEN read as the builder reads, and again with one run stretched by the function
    genuine = _read(records)
    stretched = [dict(r) for r in records]
    stretched[-1]["first_invocation"] = 1
    forged = _read(stretched)
    # THEN every invocation is counted once from the genuine log; the stretched run is refused
    assert sorted(n for _env, n in genuine.invocations) == list(range(1, 21))
    assert genuine.skipped.get("unauthenticated", 0) == 0
    assert forged.skipped["unauthenticated"] == 1


def test_a_profile_built_from_runs_equals_one_built_from_single_ends(clock: list[float]) -> None:
    # GIVEN the same 150 invocations (new files at 1, 40, 41 and 130) recorded twice: once with
    # every end written alone (the old form), once with quiet ends written as runs
    novel = {1: "/srv/a", 40: "/srv/b", 41: "/srv/c", 130: "/srv/d"}
    start = clock[0]
    single = _recorder(batch=1)
    _play(single, clock, 150, novel)
    clock[0] = start
    batched = _recorder()
    _play(batched, clock, 150, novel)
    batched.write_pending()
    assert len(_records(batched)) < len(_records(single)) / 5
    # WHEN each log is built into a profile
    built = [build_from_observations("f", _read(_records(r))) for r in (single, batched)]
    # THEN the profiles are the same (rules, coverage, learning counts, times, novelty)
    assert built[0][0].model_dump() == built[1][0].model_dump()
    assert built[0][1].invocations == built[1][1].invocations == 150
    assert built[0][0].learning.invocations == 150
    assert built[0][0].learning.invocations_since_novel == 20


def test_old_logs_and_run_records_read_from_a_file_alike(
    tmp_path: Path, clock: list[float]
) -> None:
    # GIVEN a log file holding single ends (an older runtime) then runs (this one)
    old = _recorder(batch=1)
    _play(old, clock, 5, {})
    new = _recorder()
    for number in range(6, 30):
        clock[0] += 1.0
        new.end_invocation(Invocation(f"r{number}", {}, number))
    new.write_pending()
    start = {"type": "sandbox.start", "mode": "learn", "env": ENV, "observation_key": KEY.hex()}
    lines = [json.dumps(start)] + [json.dumps(r) for r in _records(old) + _records(new)]
    path = tmp_path / "learn.log"
    path.write_text("\n".join(lines) + "\n")
    # WHEN read from the file
    observed = read_sources([str(path)], function="f")
    # THEN all 29 invocation ends are known, none skipped
    assert sorted(n for _env, n in observed.invocations) == list(range(1, 30))
    assert set(observed.skipped) <= {"foreign"}  # the start record


def test_implausible_runs_are_invalid() -> None:
    # GIVEN run records a runtime never writes (first after last, an endless run, not ints)
    base = {"type": "sandbox.invocation", "v": 2, "function": "f", "env": ENV, "time": "t"}
    observed = ObservationSet(function="f", allow_unauthenticated=True)
    for extra in (
        {"invocation": 3, "first_invocation": 5},
        {"invocation": 10_000_000, "first_invocation": 1},
        {"invocation": 3, "first_invocation": 0},
        {"invocation": 3, "first_invocation": True},
        {"invocation": 3, "first_invocation": 1, "first_time": 7},
    ):
        # WHEN read THEN each is refused as invalid, and nothing is expanded
        assert observed.add_line(json.dumps({**base, **extra}), "log") == "invalid"
    assert observed.invocations == {}
