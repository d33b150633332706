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


# ---------------------------------------------------------------- a compiled profile's own


def _orders_like() -> dict[str, object]:
    """A compiled profile whose rules have globs of their own (none of them shipped)."""
    return compile_profile(
        {
            "schema_version": 1,
            "function": "orders",
            "rules": {
                "files": [
                    {"action": "write", "target": "{tmp}/receipt-*.json", "phase": "any"},
                    {"action": "read", "target": "{tmp}/????????", "phase": "invoke"},
                ],
                "network": [{"action": "connect", "target": "*.orders.test:443", "phase": "any"}],
            },
        },
        kernel=False,
    )


def _counting_re(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    compiled: list[str] = []
    real = re._compile  # type: ignore[attr-defined]

    def counting(pattern: object, flags: object) -> object:
        compiled.append(str(pattern))
        return real(pattern, flags)

    monkeypatch.setattr(re, "_compile", counting)
    re.purge()
    return compiled


def test_a_compiled_profiles_own_programs_build_its_rules_regexes_without_re(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a compiled profile with globs of its own, and the same with this interpreter's
    # programs added by the tooling (what `profile compile` writes)
    from sandbox.runtime.compiler import with_regex_programs

    roots = Roots({"tmp": ("/tmp",)})
    bare = _orders_like()
    carried = with_regex_programs(bare, [roots])
    assert carried["regex_programs"][regex_programs.KEY]
    # WHEN each is loaded and prepared (as install does), counting re's own compiles
    compiled = _counting_re(monkeypatch)
    with_programs = Policy.load(carried, roots)
    with_programs.prepare()
    from_programs = list(compiled)
    plain = Policy.load(bare, roots)
    plain.prepare()
    # THEN with the programs re compiled nothing; without them it compiled the rules' globs
    assert from_programs == []
    assert len(compiled) > 0
    # AND both built equal patterns (source, flags and program compare), so every decision is
    # the same
    for a, b in zip(with_programs.matchers(), plain.matchers(), strict=True):
        assert a._regex == b._regex
        assert a._child_stems == b._child_stems and a._tree_stems == b._tree_stems
        assert [g[2] for g in a._name_globs] == [g[2] for g in b._name_globs]
    for target in ("/tmp/receipt-1.json", "/tmp/abcdefgh", "/tmp/abc", "/etc/passwd"):
        assert with_programs.allows("files", "write", target, "invoke") == plain.allows(
            "files", "write", target, "invoke"
        )
        assert with_programs.allows("files", "read", target, "invoke") == plain.allows(
            "files", "read", target, "invoke"
        )


def test_the_ceiling_never_takes_a_program_from_the_profile() -> None:
    # GIVEN a compiled profile carrying, for a ceiling regex, the program of a pattern that
    # matches nothing (a profile whose programs were tampered with)
    from sandbox.runtime.compiler import regex_program_rows

    roots = Roots({"tmp": ("/tmp",)})
    document = compile_profile(
        {
            "schema_version": 1,
            "function": "f",
            "deny": {"files": [{"action": "read", "target": "/srv/secret-*"}]},
        },
        kernel=False,
    )
    ceiling = Policy.load(document, roots)._ceiling[("files", "read")]
    (source, flags) = ceiling.regexes()[0]
    assert (source, flags) not in regex_programs.programs()  # (a ceiling no program ships)
    (row,) = regex_program_rows([("(?!)x\\Z", flags)])
    row[0] = source  # the ceiling's text, with the never-matching program
    tampered = dict(document, regex_programs={regex_programs.KEY: [row]})
    # WHEN the policy is loaded and prepared
    policy = Policy.load(tampered, roots)
    policy.prepare()
    # THEN the ceiling still denies what it denies (the built-in entries and the profile's own)
    assert policy.ceiling("files", "read", "/proc/1/environ")
    assert policy.ceiling("files", "read", "/srv/secret-key")
    assert policy._ceiling[("files", "read")]._regex == re.compile(source, flags)


def test_programs_of_another_interpreter_or_damaged_are_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a compiled profile whose programs are another interpreter's, and one whose rows
    # are damaged (a program the regex engine refuses, a row of the wrong shape)
    from sandbox.runtime.compiler import with_regex_programs

    roots = Roots({"tmp": ("/tmp",)})
    carried = with_regex_programs(_orders_like(), [roots])
    rows = carried["regex_programs"][regex_programs.KEY]
    other = dict(carried, regex_programs={"cpython-399-1-4-little": rows})
    damaged_rows = [[*row[:3], "ffffffff", *row[4:]] for row in rows] + ["junk"]
    damaged = dict(carried, regex_programs={regex_programs.KEY: damaged_rows})
    for document in (other, damaged):
        # WHEN each is loaded and prepared
        compiled = _counting_re(monkeypatch)
        policy = Policy.load(document, roots)
        policy.prepare()
        # THEN re compiled the rules' regexes, and the policy decides as the plain one does
        assert len(compiled) > 0
        assert policy.allows("files", "write", "/tmp/receipt-2.json", "invoke")
        assert not policy.allows("files", "write", "/tmp/other.json", "invoke")
