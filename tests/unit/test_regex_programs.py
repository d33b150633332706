"""The hint table's shipped regex programs: the same pattern objects ``re.compile`` builds."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from sandbox.runtime import generalisation, regex_programs


@pytest.mark.parametrize(("pattern", "flags"), generalisation.PATTERNS)
def test_shipped_program_builds_the_pattern_re_compiles(pattern: str, flags: int) -> None:
    # GIVEN one of the hint table's patterns, and this interpreter's re compiling it itself
    re.purge()
    expected = re.compile(pattern, flags)
    # WHEN the pattern is built through the shipped programs (re.compile where none is shipped)
    built = regex_programs.compile_pattern(pattern, flags)
    # THEN it is an equal pattern (flags, source and program compare), with the same groups
    assert built == expected
    assert (built.groups, dict(built.groupindex)) == (expected.groups, dict(expected.groupindex))


def test_every_shipped_file_holds_exactly_the_hint_table() -> None:
    # GIVEN the files shipped per interpreter
    files = sorted(Path(regex_programs.DIRECTORY).glob("*.json"))
    assert files
    for path in files:
        # WHEN a file's patterns are compared with the ones the hint table compiles
        rows = json.loads(path.read_text())
        # THEN it has every pattern once and nothing else (regenerate with
        # scripts/regex_programs.py when the table changes)
        assert sorted((row[0], row[1]) for row in rows) == sorted(generalisation.PATTERNS), path


def test_a_pattern_without_a_program_is_compiled_by_re() -> None:
    # GIVEN a pattern that is not in the table
    pattern = r"^not-(in)-the-table[0-9]+$"
    # WHEN it is built
    built = regex_programs.compile_pattern(pattern)
    # THEN re compiled it: the same pattern, working as re's
    assert built == re.compile(pattern)
    assert built.match("not-in-the-table42") is not None


def test_the_supported_interpreters_have_a_table() -> None:
    # GIVEN an interpreter the tables were generated for (CPython 3.10 to 3.14)
    if not (3, 10) <= sys.version_info[:2] <= (3, 14):
        pytest.skip("no table shipped for this interpreter: re compiles the hint table")
    # WHEN its key is looked up
    # THEN its table is there (the hint table is built without re's parser)
    assert set(regex_programs.programs()) == set(generalisation.PATTERNS)


def test_a_damaged_program_is_compiled_by_re(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a table whose entry for a pattern holds a program the regex engine refuses
    pattern, flags = generalisation.PATTERNS[0]
    damaged = {(pattern, flags): [32, "ffffffff" * 4, 0, [], [None]]}
    monkeypatch.setattr(regex_programs, "_table", damaged)
    # WHEN the pattern is built
    built = regex_programs.compile_pattern(pattern, flags)
    # THEN re compiled it instead: the same pattern as re.compile's
    re.purge()
    assert built == re.compile(pattern, flags)
