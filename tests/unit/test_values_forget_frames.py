"""values.forget_frames: every traceback in an exception's chain goes, and no code of the
exception's class runs while it looks (red team 114: isinstance() read a __class__ property
of the function's inside the hook, before the traceback was dropped)."""

from __future__ import annotations

import sys

import pytest

from sandbox.runtime.values import forget_frames


def test_forget_frames_reads_no_class_attribute_of_anyones() -> None:
    # GIVEN an exception whose class answers __class__ with code of its own, as the context of
    # another, both raised (tracebacks set)
    asked: list[str] = []

    class Answering(Exception):
        @property  # type: ignore[misc]
        def __class__(self) -> type:
            asked.append("__class__")
            return Exception

    try:
        try:
            raise Answering("inner")
        except Answering:
            raise ValueError("outer")  # noqa: B904 (its context is the point)
    except ValueError as exc:
        outer = exc
    inner = outer.__context__
    assert inner is not None and inner.__traceback__ is not None
    # WHEN its frames are forgotten
    forget_frames(outer)
    # THEN both tracebacks are gone, the chain is cut, and the class was never asked
    assert outer.__traceback__ is None and inner.__traceback__ is None
    assert outer.__context__ is None
    assert asked == []


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are 3.11's")
def test_forget_frames_reaches_a_groups_members() -> None:
    # GIVEN a group holding an exception that was raised (its traceback set)
    try:
        raise KeyError("member")
    except KeyError as exc:
        member = exc
    group = BaseExceptionGroup("group", [member])  # type: ignore[name-defined]  # noqa: F821
    # WHEN the group's frames are forgotten
    forget_frames(group)
    # THEN the member's traceback is gone too
    assert member.__traceback__ is None
