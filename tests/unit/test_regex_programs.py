"""The shipped regex programs (hint table, ceiling, base bundle): the pattern objects ``re.compile`` builds."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from sandbox.runtime import generalisation, regex_programs
from sandbox.runtime.compiler import compile_profile
from sandbox.runtime.policy import Policy
from sandbox.runtime.roots import Roots

WANTED = regex_programs.wanted()


@pytest.mark.parametrize(("pattern", "flags"), WANTED)
def test_shipped_program_builds_the_pattern_re_compiles(pattern: str, flags: int) -> None:
    # GIVEN one of the shipped patterns, and this interpreter's re compiling it itself
    re.purge()
    expected = re.compile(pattern, flags)
    # WHEN the pattern is built through the shipped programs (re.compile where none is shipped)
    built = regex_programs.compile_pattern(pattern, flags)
    # THEN it is an equal pattern (flags, source and program compare), with the same groups
    assert built == expected
    assert (built.groups, dict(built.groupindex)) == (expected.groups, dict(expected.groupindex))


def test_every_shipped_file_holds_exactly_the_fixed_patterns() -> None:
    # GIVEN the files shipped per interpreter
    files = sorted(Path(regex_programs.DIRECTORY).glob("*.json"))
    assert files
    assert set(generalisation.PATTERNS) < set(WANTED)
    for path in files:
        # WHEN a file's patterns are compared with the fixed ones (the hint table's, the
        # built-in ceiling's, the base bundle's with Lambda's /tmp)
        rows = json.loads(path.read_text())
        # THEN it has every pattern once and nothing else (regenerate with
        # scripts/regex_programs.py when the table, the ceiling or the bundle changes)
        assert sorted((row[0], row[1]) for row in rows) == sorted(WANTED), path


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
    # THEN its table is there (the hint table and the ceiling are built without re's parser)
    assert set(regex_programs.programs()) == set(WANTED)


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


def test_a_policy_builds_the_same_regexes_from_programs_or_re(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a compiled profile with globs of its own (one with a "/**" stem, one with a "/*"
    # stem) besides the built-in ceiling, loaded twice: once as install loads it, once with no
    # shipped program at all (re compiles every regex)
    document = compile_profile(
        {
            "schema_version": 1,
            "function": "f",
            "rules": {
                "files": [
                    {"action": "read", "target": "/data/*/in/**"},
                    {"action": "write", "target": "/out/run-*/*"},
                ]
            },
        },
        kernel=False,
    )
    shipped = Policy.load(document, Roots({}))
    shipped.prepare()
    monkeypatch.setattr(regex_programs, "_table", {})
    by_re = Policy.load(document, Roots({}))
    by_re.prepare()
    # WHEN their matchers' regexes are compared, one by one
    pairs = list(zip(shipped.matchers(), by_re.matchers(), strict=True))
    # THEN every regex is the same pattern (source, flags and program), stems included, and the
    # ceiling's were among those the shipped programs can build
    for built, expected in pairs:
        assert built.regexes() == expected.regexes()
        assert built._regex == expected._regex
        assert built._child_stems == expected._child_stems
        assert built._tree_stems == expected._tree_stems
    assert any(pattern in WANTED for m, _ in pairs for pattern in m.regexes())
    assert any(m._child_stems for m, _ in pairs) and any(m._tree_stems for m, _ in pairs)
