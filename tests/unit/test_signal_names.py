"""The process decoder names signals as ``signal.Signals`` does, without importing ``signal``."""

from __future__ import annotations

import signal

from sandbox.runtime.decoders import processes


def test_signal_names_are_the_signals_enum_names() -> None:
    # GIVEN the names the standard library's Signals enum gives each signal number
    expected = {int(member): member.name for member in signal.Signals}
    # WHEN the decoder's table (read from the builtin _signal at import) is compared
    # THEN it is the same table: every number, and the enum's name for numbers with aliases
    assert expected == processes._SIGNALS
    assert processes.signal_name(int(signal.SIGKILL)) == "SIGKILL"
