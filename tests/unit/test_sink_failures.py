"""A failed write of a record is never silent: the sink gives the descriptor up as tampered."""

from __future__ import annotations

import json
import os

import pytest

from sandbox.runtime.sinks import LineSink


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_write_that_fails_is_tampering_and_the_line_goes_to_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a sink whose only file is /dev/full (every write fails with ENOSPC)
    sink = LineSink(stdout=False, files=("/dev/full",))
    assert not sink.problems
    # WHEN a record is written
    written = sink.write({"type": "sandbox.finding", "target": "x"})
    # THEN the descriptor is given up as tampered, the loss and the line are on stderr
    assert sink.tampered
    assert written
    err = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    assert err[0]["type"] == "sandbox.tamper" and "ENOSPC" in err[0]["what"]
    assert err[1] == {"type": "sandbox.finding", "target": "x"}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_failed_descriptor_leaves_the_others_writing(
    tmp_path: object, capfd: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a sink with a file that fails and one that works
    good = os.path.join(str(tmp_path), "good.log")
    sink = LineSink(stdout=False, files=("/dev/full", good))
    # WHEN two records are written
    assert sink.write({"n": 1})
    assert sink.write({"n": 2})
    # THEN the working file has the tamper note and both lines; nothing went to stderr
    with open(good) as log:
        lines = [json.loads(line) for line in log]
    assert [line.get("n") for line in lines] == [1, None, 2]
    assert lines[1]["type"] == "sandbox.tamper" and "ENOSPC" in lines[1]["what"]
    assert sink.tampered
    assert capfd.readouterr().err == ""
