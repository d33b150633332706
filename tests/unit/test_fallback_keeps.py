"""The Python core's keeps of answers about names, against a change made between its steps.

In Python a signal handler can run between any two steps of the hook's own code (the native
core's C cannot be interrupted so): a test of "nothing changed", then a store, left a window in
which a handler's rename made the stored answer stale for good (red team 40). The keep stores
first and tests after.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.runtime import core_fallback


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    state = [5]
    monkeypatch.setattr(core_fallback, "_CHANGE_COUNT", [lambda: state[0]])
    monkeypatch.setattr(core_fallback, "_IN_FLIGHT", [lambda: False])
    return state


def test_an_answer_is_kept_when_no_name_changed(counts: list[int]) -> None:
    # GIVEN a walk that began at count 5, and no change since
    table: dict[Any, Any] = {}
    # WHEN its answer is kept
    core_fallback._kept_unless_changed(table, "k", (1, 2, 3), before=5)
    # THEN it is there
    assert table == {"k": (1, 2, 3)}


def test_an_answer_is_not_kept_when_a_name_changed_during_the_walk(counts: list[int]) -> None:
    # GIVEN a walk that began at count 5, and one change since (a handler's rename)
    table: dict[Any, Any] = {}
    counts[0] = 6
    # WHEN its answer is kept
    core_fallback._kept_unless_changed(table, "k", (1, 2, 3), before=5)
    # THEN it is not there
    assert table == {}


def test_a_change_between_the_store_and_the_test_takes_the_answer_back(
    counts: list[int],
) -> None:
    # GIVEN a change that lands right after the store (the table reports it when written)
    class Table(dict[Any, Any]):
        def __setitem__(self, key: Any, value: Any) -> None:
            super().__setitem__(key, value)
            counts[0] += 1  # (the handler's rename runs here; its forget is not modelled)

    table = Table()
    # WHEN the answer is kept
    core_fallback._kept_unless_changed(table, "k", (1, 2, 3), before=5)
    # THEN the test after the store sees the change, and takes it back
    assert dict(table) == {}


def test_an_answer_is_not_kept_while_another_thread_has_a_change_in_flight(
    counts: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN another thread with an audited change in flight
    monkeypatch.setattr(core_fallback, "_IN_FLIGHT", [lambda: True])
    table: dict[Any, Any] = {}
    # WHEN an answer is kept THEN it is not
    core_fallback._kept_unless_changed(table, "k", (1, 2, 3), before=5)
    assert table == {}
