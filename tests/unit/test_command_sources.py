"""What the interpreter compiles for its own ``-c`` command: the one frameless compile that keeps
the ``<unknown>:<unknown>`` site a Python child's profile learns."""

from __future__ import annotations

import pytest

from sandbox.runtime.hook import _command_sources


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["python", "-c", "print(1)"], {b"print(1)\n"}),
        (["python", "-I", "-c", "print(1)", "extra"], {b"print(1)\n"}),
        (["python", "-Sc", "pass"], {b"pass\n"}),
        (["python", "-cpass"], {b"pass\n"}),
        (["python", "-X", "dev", "-W", "error", "-c", "x=1"], {b"x=1\n"}),
        (["python", "-Xdev", "-c", "x=1"], {b"x=1\n"}),
        (["python", "--check-hash-based-pycs", "never", "-c", "x"], {b"x\n"}),
        (["python", "-c", "caf\u00e9"], {"caf\u00e9\n".encode()}),
        (["python", "app.py", "-c", "x"], set()),
        (["python", "-m", "mod", "-c", "x"], set()),
        (["python", "-"], set()),
        (["python", "-c"], set()),
        ([], set()),
        ("python -c x", set()),
    ],
)
def test_the_command_is_read_as_the_interpreter_reads_its_options(
    argv: object, expected: set[bytes]
) -> None:
    # GIVEN an interpreter's argv WHEN reading its -c command THEN the bytes it compiles
    assert _command_sources(argv) == expected
