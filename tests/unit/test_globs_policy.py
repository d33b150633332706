"""Globs per category and compiled policy decisions (no hook involved)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.errors import ProfileError
from sandbox.runtime.compiler import compile_profile
from sandbox.runtime.globs import (
    glob_to_regex,
    process_rule_regex,
    process_target,
    shell_command_index,
)
from sandbox.runtime.policy import Policy
from sandbox.runtime.roots import Roots

ROOTS = Roots(
    {
        "task": ("/var/task",),
        "tmp": ("/tmp",),
        "site": ("/opt/python", "/var/lang/lib/site-packages"),
    }
)


def _match(pattern: str, kind: str, target: str) -> bool:
    return re.fullmatch(glob_to_regex(pattern, kind), target, re.DOTALL) is not None


@pytest.mark.parametrize(
    ("pattern", "target", "expected"),
    [
        ("/tmp/*.json", "/tmp/a.json", True),
        ("/tmp/*.json", "/tmp/sub/a.json", False),
        ("/tmp/**", "/tmp/sub/a.json", True),
        ("/tmp/**", "/tmp", True),
        ("/tmp/**", "/tmpfoo", False),
        ("/tmp/?.txt", "/tmp/a.txt", True),
    ],
)
def test_file_globs(pattern: str, target: str, expected: bool) -> None:
    assert _match(pattern, "files", target) is expected


@pytest.mark.parametrize(
    ("pattern", "target", "expected"),
    [
        ("*.s3.amazonaws.com:443", "bucket.s3.amazonaws.com:443", True),
        ("*.s3.amazonaws.com:443", "a.b.s3.amazonaws.com:443", False),
        ("**.amazonaws.com:443", "a.b.s3.amazonaws.com:443", True),
        ("api.example.com:*", "api.example.com:8443", True),
        ("api.example.com:*", "api.example.com.evil.com:443", False),
    ],
)
def test_network_globs(pattern: str, target: str, expected: bool) -> None:
    assert _match(pattern, "network", target) is expected


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("convert /tmp/a1.png", True),
        ("convert /tmp/x.png; id", False),
        ("convert /tmp/x.png && id", False),
        ("convert /tmp/`id`.png", False),
        ("convert /tmp/$(id).png", False),
        ("convert /tmp/a.png /etc/passwd.png", False),
        ("convert /tmp/a\nid.png", False),
        ("convert /tmp/a|id.png", False),
        ("convert /tmp/a>x.png", False),
    ],
)
def test_shell_wildcards_never_match_shell_syntax(command: str, expected: bool) -> None:
    # GIVEN a generalised rule for sh -c "convert /tmp/*.png"
    regex = process_rule_regex("/bin/sh", ["-c", "convert /tmp/*.png"])
    target = process_target("/bin/sh", ["-c", command])
    # THEN the wildcard stands for a file name only
    assert (re.fullmatch(regex, target) is not None) is expected


@pytest.mark.parametrize(
    ("rule", "command", "expected"),
    [
        ("* /tmp/*.txt", "gzip /tmp/a.txt", False),
        ("* /tmp/*.txt", "sh /tmp/evil.txt", False),
        ("* /tmp/*.txt", "* /tmp/a.txt", True),  # (the literal text only)
        ("gzip /tmp/*.txt", "gzip /tmp/a.txt", True),
        ("cat /tmp/a.txt | *", "cat /tmp/a.txt | sh", False),
        ("cat /tmp/a.txt|g*", "cat /tmp/a.txt|gzip", False),
        ("X=1 * /tmp/a", "X=1 sh /tmp/a", False),
        ("X=* gzip /tmp/a", "X=1 gzip /tmp/a", True),
        ("timeout 5 * /tmp/a", "timeout 5 sh /tmp/a", False),
        ("env * /tmp/a", "env sh /tmp/a", False),
        ("if true; then *; fi", "if true; then sh; fi", False),
        ("gzip /tmp/a\n*", "gzip /tmp/a\nsh", False),
        ("gzip -k /tmp/*", "gzip -k /tmp/a1", True),
    ],
)
def test_a_shell_wildcard_never_stands_for_a_program(
    rule: str, command: str, expected: bool
) -> None:
    # GIVEN a shell rule with a wildcard where the shell names a program (red team 75: the
    # builder once wrote `* {tmp}/*.txt` from gzip, bzip2, xz and zstd; `sh {tmp}/evil.txt`
    # matched) or elsewhere
    regex = process_rule_regex("/bin/sh", ["-c", rule])
    target = process_target("/bin/sh", ["-c", command])
    # THEN a program's name is matched literally, the other words as before
    assert (re.fullmatch(regex, target) is not None) is expected


def test_a_whole_argument_wildcard_is_any_one_argument() -> None:
    # GIVEN a rule whose argument is a wildcard alone ("any argument here")
    regex = process_rule_regex("/usr/bin/gzip", ["-k", "*"])
    # THEN it is any one argument but a path (one "*": no "/") or an option, a command or an
    # argument file (red team 84: the builder writes one for a family of unrelated names, and
    # it took tar's --files-from=-)
    assert re.fullmatch(regex, process_target("/usr/bin/gzip", ["-k", "any thing; really"]))
    for option in ("--files-from=-", "-T-", "+x", "@args", "..", ".", "a..b"):
        assert not re.fullmatch(regex, process_target("/usr/bin/gzip", ["-k", option]))
    double = process_rule_regex("/usr/bin/gzip", ["-k", "**"])
    assert re.fullmatch(double, process_target("/usr/bin/gzip", ["-k", "a/b c"]))
    assert not re.fullmatch(
        double, process_target("/usr/bin/gzip", ["-k", "--use-compress-program=sh"])
    )
    assert not re.fullmatch(regex, process_target("/usr/bin/gzip", ["-k", "a", "b"]))
    assert not re.fullmatch(regex, process_target("/usr/bin/gzip", ["-k", "dir/name"]))


def test_a_wildcard_among_an_arguments_text_stands_for_word_characters_only() -> None:
    # GIVEN rules with a wildcard inside an argument's text (a program may hand the argument
    # to a shell of its own: flock -c "cat {tmp}/job-*.txt", red team 72)
    flock = process_rule_regex("/usr/bin/flock", ["-c", "cat /tmp/work/job-*.txt"])
    deep = process_rule_regex("/usr/bin/gzip", ["-k", "/tmp/**.gz"])

    def matches(pattern: str, program: str, *argv: str) -> bool:
        return re.fullmatch(pattern, process_target(program, list(argv))) is not None

    # THEN the wildcard is word characters, never shell syntax, a space or "/"
    assert matches(flock, "/usr/bin/flock", "-c", "cat /tmp/work/job-2026-12.txt")
    for hostile in ("x; id; echo ", "x|id|", "$(id)", "`id`", "x& ", "a\nid\n", "x>y", "a b"):
        command = f"cat /tmp/work/job-{hostile}.txt"
        assert not matches(flock, "/usr/bin/flock", "-c", command), command
    assert not matches(flock, "/usr/bin/flock", "-c", "cat /tmp/work/job-a/b.txt")
    # AND "**" crosses folders, never ".." nor syntax
    assert matches(deep, "/usr/bin/gzip", "-k", "/tmp/a/b/c.gz")
    assert not matches(deep, "/usr/bin/gzip", "-k", "/tmp/../etc/shadow.gz")
    assert not matches(deep, "/usr/bin/gzip", "-k", "/tmp/x;id.gz")


@pytest.mark.parametrize(
    ("rule", "argument", "expected"),
    [
        ("*.txt", "notes.txt", True),
        ("*.txt", "x-1.txt", True),
        ("*.txt", "--files-from=list.txt", False),  # (red team 83: tar read a list's files)
        ("*.txt", "-Tlist.txt", False),
        ("*.txt", "+x.txt", False),
        ("*.txt", "@args.txt", False),
        ("?x.txt", "-x.txt", False),
        ("?x.txt", "ax.txt", True),
        ("--out=*.csv", "--out=a.csv", True),  # (an option the rule names literally)
        ("job-*", "job--x", True),  # (inside a word: a value's own characters)
        ("*", "--files-from=-", False),  # (a whole-argument wildcard too: red team 84)
        ("*", "north", True),
    ],
)
def test_a_wildcard_starting_an_argument_never_stands_for_an_option(
    rule: str, argument: str, expected: bool
) -> None:
    # GIVEN an exec rule and a shell rule with the wildcard where an argument or word starts
    direct = process_rule_regex("/usr/bin/tar", ["-cf", "out.tar", rule])
    shell = process_rule_regex("/bin/sh", ["-c", f"sort -u {rule}"])
    # WHEN the argument is an option (-), a command (+) or an argument file (@)
    got_direct = re.fullmatch(direct, process_target("/usr/bin/tar", ["-cf", "out.tar", argument]))
    got_shell = re.fullmatch(shell, process_target("/bin/sh", ["-c", f"sort -u {argument}"]))
    # THEN it matches only where the rule names that character itself
    assert (got_direct is not None) is expected
    assert (got_shell is not None) is expected


@pytest.mark.parametrize(
    "argv, index",
    [
        (["-c", "cmd"], 1),
        (["-ec", "cmd"], 1),
        (["-o", "pipefail", "-c", "cmd"], 3),
        (["-euo", "pipefail", "-c", "cmd"], 3),
        (["-c", "-o", "pipefail", "cmd"], 3),
        (["-O", "extglob", "-c", "cmd"], 3),
        (["+o", "histexpand", "-c", "cmd"], 3),
        (["--rcfile", "rc", "-c", "cmd"], 3),
        (["--norc", "-c", "cmd"], 2),
        (["-c", "--", "cmd"], 2),
        (["script.sh", "-c", "x"], -1),
        (["-x", "script.sh"], -1),
        (["-c"], -1),
    ],
)
def test_a_shells_options_with_arguments_are_read_as_the_shell_reads_them(
    argv: list[str], index: int
) -> None:
    # GIVEN bash started with options, some taking the next word (red team 72: -o pipefail)
    # WHEN the command string is looked for
    # THEN it is the first word after the options, when -c is among them
    assert shell_command_index("/bin/bash", argv) == index


def test_a_learned_wildcard_after_set_options_never_matches_an_injected_command() -> None:
    # GIVEN the rule learned from bash -o pipefail -c "cat {tmp}/job-*.txt | wc -c"
    rule = ["-o", "pipefail", "-c", "cat /tmp/work/job-*.txt | wc -c"]
    regex = process_rule_regex("/bin/bash", rule)
    injected = "cat /tmp/work/job-x; S=$(printf '\\057'); id; echo .txt | wc -c"
    # THEN the benign command matches and the injected one does not
    assert re.fullmatch(regex, process_target("/bin/bash", [*rule[:3], rule[3].replace("*", "7")]))
    assert not re.fullmatch(regex, process_target("/bin/bash", [*rule[:3], injected]))


def _policy(rules: dict[str, Any], deny: dict[str, Any] | None = None) -> Policy:
    document = {"schema_version": 1, "function": "f", "rules": rules}
    if deny:
        document["deny"] = deny
    return Policy.load(compile_profile(document, kernel=False), ROOTS)


def test_symbolic_roots_expand_to_every_directory() -> None:
    policy = _policy({"files": [{"action": "read", "target": "{site}/**"}]})
    assert policy.allows("files", "read", "/opt/python/boto3/__init__.py", "invoke")
    assert policy.allows("files", "read", "/var/lang/lib/site-packages/x.py", "init")
    assert not policy.allows("files", "read", "/var/task/x.py", "init")


def test_phases_are_separate() -> None:
    policy = _policy({"modules": [{"action": "import", "target": "mod", "phase": "init"}]})
    assert policy.allows("modules", "import", "mod", "init")
    assert not policy.allows("modules", "import", "mod", "invoke")


def test_connect_rules_imply_resolving_their_names() -> None:
    policy = _policy({"network": [{"action": "connect", "target": "api.example.com:443"}]})
    assert policy.allows("network", "resolve", "api.example.com", "invoke")
    assert not policy.allows("network", "resolve", "evil.example.com", "invoke")


def test_module_packages_and_stdlib() -> None:
    policy = _policy(
        {
            "modules": [
                {"action": "import", "target": "boto3.**"},
                {"action": "import", "target": "{stdlib}"},
            ]
        }
    )
    assert policy.allows("modules", "import", "boto3.session", "invoke")
    assert policy.allows("modules", "import", "json.decoder", "invoke")
    assert not policy.allows("modules", "import", "ctypes", "invoke")
    assert not policy.allows("modules", "import", "boto3x", "invoke")


def test_the_ceiling_is_never_overridden() -> None:
    policy = _policy(
        {"files": [{"action": "read", "target": "/proc/**"}]},
        deny={"files": [{"action": "read", "target": "/etc/shadow"}]},
    )
    assert policy.ceiling("files", "read", "/proc/1/environ")
    assert policy.ceiling("files", "read", "/etc/shadow")
    assert policy.ceiling("network", "connect", "169.254.169.254:80")
    assert not policy.ceiling("files", "read", "/proc/1/status")


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"schema_version": 2, "function": "f"}, "schema_version"),
        ({"schema_version": 1, "function": "f", "rules": {"disks": []}}, "rules.disks"),
        (
            {
                "schema_version": 1,
                "function": "f",
                "rules": {"files": [{"action": "zap", "target": "/x"}]},
            },
            "rules.files[0].action",
        ),
        (
            {
                "schema_version": 1,
                "function": "f",
                "rules": {"files": [{"action": "read", "target": ""}]},
            },
            "rules.files[0].target",
        ),
        (
            {
                "schema_version": 1,
                "function": "f",
                "rules": {"files": [{"action": "read", "target": "/x", "phase": "later"}]},
            },
            "rules.files[0].phase",
        ),
        ({"schema_version": 1, "function": "f", "extends": ["nope"]}, "extends"),
    ],
)
def test_invalid_profiles_name_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(ProfileError) as info:
        compile_profile(document, source="p.json", kernel=False)
    assert info.value.field == field
    assert "p.json" in str(info.value) or field == "extends"


def test_compiled_format_is_checked() -> None:
    with pytest.raises(ProfileError):
        Policy.load({"format": "other"}, ROOTS)
    with pytest.raises(ProfileError):
        Policy.load({"format": "lambda-sandbox.compiled", "format_version": 99, "rules": {}}, ROOTS)


def test_roots_symbolise_most_specific_first() -> None:
    roots = Roots({"task": ("/var/task",), "site": ("/var/task/.venv/lib/site-packages",)})
    assert roots.to_symbolic("/var/task/app.py") == "{task}/app.py"
    assert roots.to_symbolic("/var/task/.venv/lib/site-packages/x.py") == "{site}/x.py"
    assert roots.to_symbolic("/var/taskforce/x") == "/var/taskforce/x"
    assert roots.symbolise_text("wc -c /var/task/r/a.txt") == "wc -c {task}/r/a.txt"
    assert roots.expand_all("wc {task}/a") == ["wc /var/task/a"]


def test_a_directory_verdict_needs_a_rule_covering_every_name_and_no_ceiling_below() -> None:
    # GIVEN rules of each shape, and a deny of key files in one folder
    policy = _policy(
        {
            "files": [
                {"action": "write", "target": "/tmp/**"},
                {"action": "read", "target": "/srv/job-*/*"},
                {"action": "read", "target": "/srv/*/data/**"},
                {"action": "read", "target": "/opt/app/*.txt"},
                {"action": "read", "target": "/opt/app/f????"},
                {"action": "read", "target": "/opt/app/exact.json"},
                {"action": "read", "target": "/keys/**"},
            ]
        },
        deny={"files": [{"action": "read", "target": "/keys/private/*.pem"}]},
    )
    policy.prepare()
    # THEN a prefix, "<stem>/*" and "<stem>/**" (on the folder or above it) cover every name
    assert policy.children_allowed("write", "/tmp", "invoke")
    assert policy.children_allowed("write", "/tmp/job/sub", "invoke")
    assert policy.children_allowed("read", "/srv/job-1", "init")
    assert policy.children_allowed("read", "/srv/x/data", "invoke")
    assert policy.children_allowed("read", "/srv/x/data/a/b", "invoke")
    # AND globs that name some files only, exact names, or rules for another action do not
    assert not policy.children_allowed("read", "/opt/app", "invoke")
    assert not policy.children_allowed("read", "/srv", "invoke")
    assert not policy.children_allowed("read", "/srv/job-1/sub", "invoke")
    assert not policy.children_allowed("read", "/tmp", "invoke")
    # AND a ceiling entry that may reach a name in the folder rules the verdict out
    assert policy.children_allowed("read", "/keys", "invoke")
    assert not policy.children_allowed("read", "/keys/private", "invoke")
    assert not policy.children_allowed("read", "/proc/1", "invoke")


_SEGMENTS = st.sampled_from(["a", "b", "job-1", "*", "**", "?", "job-*", "*.pem", ".env", "x?"])
_LEAVES = st.text(
    alphabet=st.characters(blacklist_characters="/\x00", codec="utf-8"),
    min_size=1,
    max_size=12,
).filter(lambda leaf: leaf not in (".", ".."))


@settings(max_examples=300, deadline=None)
@given(
    allow=st.lists(st.lists(_SEGMENTS, min_size=1, max_size=4), min_size=1, max_size=4),
    deny=st.lists(st.lists(_SEGMENTS, min_size=1, max_size=4), max_size=3),
    directory=st.lists(st.sampled_from(["a", "b", "job-1", "x1", ".env"]), max_size=3),
    leaves=st.lists(_LEAVES, min_size=1, max_size=8),
)
def test_a_directory_verdict_is_never_wider_than_the_rules(
    allow: list[list[str]], deny: list[list[str]], directory: list[str], leaves: list[str]
) -> None:
    # GIVEN any rules and denies built from literal names and wildcards
    policy = _policy(
        {"files": [{"action": "read", "target": "/" + "/".join(p)} for p in allow]},
        deny={"files": [{"action": "read", "target": "/" + "/".join(p)} for p in deny]}
        if deny
        else None,
    )
    policy.prepare()
    folder = "/" + "/".join(directory)
    # WHEN the policy says every name in a folder may be read
    if policy.children_allowed("read", folder, "invoke"):
        # THEN every name there is allowed by the rules, and none is under the ceiling
        for leaf in leaves:
            target = (folder if folder != "/" else "") + "/" + leaf
            assert policy.allows("files", "read", target, "invoke"), target
            assert not policy.ceiling("files", "read", target), target


def _instance(glob: str, fill: str) -> str:
    """A name a one-name glob matches: each "*" stands for ``fill``, each "?" for its start."""
    return glob.replace("*", fill).replace("?", (fill or "q")[0])


@settings(max_examples=400, deadline=None)
@given(
    allow=st.lists(st.lists(_SEGMENTS, min_size=1, max_size=4), min_size=1, max_size=4),
    deny=st.lists(st.lists(_SEGMENTS, min_size=1, max_size=4), max_size=3),
    target=st.lists(
        st.sampled_from(["a", "b", "job-1", "job-", "x1", ".env", "k.pem"]), min_size=1, max_size=4
    ),
    action=st.sampled_from(["read", "write", "list"]),
    fills=st.lists(_LEAVES | st.just(""), min_size=1, max_size=6),
    leaves=st.lists(_LEAVES, min_size=1, max_size=4),
)
def test_a_pattern_verdict_is_never_wider_than_the_rules(
    allow: list[list[str]],
    deny: list[list[str]],
    target: list[str],
    action: str,
    fills: list[str],
    leaves: list[str],
) -> None:
    # GIVEN any rules and denies built from literal names and wildcards, and a target
    from sandbox.runtime.core_fallback import _glob_name_matches

    policy = _policy(
        {"files": [{"action": action, "target": "/" + "/".join(p)} for p in allow]},
        deny={"files": [{"action": action, "target": "/" + "/".join(p)} for p in deny]}
        if deny
        else None,
    )
    policy.prepare()
    path = "/" + "/".join(target)
    # WHEN the policy shows pattern verdicts for an access to it
    for folder, glob, depth in policy.name_patterns(action, path, "invoke"):
        # THEN the target is one of the names the pattern covers (as the core matches)...
        covered = path if depth == 0 else path[: path.rfind("/")]
        assert covered.rsplit("/", 1)[0] in (folder, "" if folder == "/" else folder)
        assert _glob_name_matches(glob, covered.rsplit("/", 1)[1])
        # ...and every name it covers is allowed by the rules and under no ceiling entry
        names = [_instance(glob, fill) for fill in fills]
        names += [leaf for leaf in leaves if _glob_name_matches(glob, leaf)]
        for name in names:
            if name in (".", "..") or "\n" in name or "/" in name or not name:
                continue  # (never covered by the core)
            base = (folder if folder != "/" else "") + "/" + name
            for full in [base] if depth == 0 else [base + "/" + leaf for leaf in leaves]:
                assert policy.allows("files", action, full, "invoke"), (folder, glob, full)
                assert not policy.ceiling("files", action, full), (folder, glob, full)


def test_pattern_verdicts_come_from_job_folder_rules_and_prefixes_only() -> None:
    # GIVEN rules for per-call job folders, a prefix, a deeper glob, and a ceiling entry
    policy = _policy(
        {
            "files": [
                {"action": "write", "target": "/srv/job-*"},
                {"action": "write", "target": "/srv/job-*/*"},
                {"action": "read", "target": "/data/**"},
                {"action": "read", "target": "/opt/*/conf/*.json"},
                {"action": "read", "target": "/keys/**"},
            ]
        },
        deny={"files": [{"action": "read", "target": "/keys/private/*"}]},
    )
    # THEN a job folder's name and the names in it show the job-* glob
    assert policy.name_patterns("write", "/srv/job-7", "invoke") == [("/srv", "job-*", 0)]
    assert policy.name_patterns("write", "/srv/job-7/out.csv", "invoke") == [("/srv", "job-*", 1)]
    # AND below a prefix every name does ("*")
    assert policy.name_patterns("read", "/data/a/b.txt", "invoke") == [
        ("/data/a", "*", 0),
        ("/data", "*", 1),
    ]
    # AND a glob of another shape or another action shows none
    assert policy.name_patterns("read", "/opt/x/conf/a.json", "invoke") == []
    assert policy.name_patterns("read", "/srv/job-7/out.csv", "invoke") == []
    # AND a folder the ceiling reaches below shows none: /keys/public's names, not the names
    # of /keys's sub-folders (/keys/private/* is denied)
    assert policy.name_patterns("read", "/keys/public/a.pem", "invoke") == [
        ("/keys/public", "*", 0)
    ]


@pytest.mark.parametrize(
    ("category", "action"),
    [
        ("code", "exec"),
        ("modules", "import"),
        ("aws", "call"),
        ("native", "dlopen"),
        ("processes", "env"),
    ],
)
@pytest.mark.parametrize(
    "pattern", ["/opt/**", "{task}/**", "a.b.**", "s3:Get**", "X=**", "**", "/a/**x**"]
)
@pytest.mark.parametrize("tail", ["", "x", "/y/z", ".q", ":w", "\n", "x\n", "\ny", "x\ny", "**"])
def test_literal_heads_decide_as_their_regex(
    category: str, action: str, pattern: str, tail: str
) -> None:
    # "<literal>**" is matched without a regex (a head): the decision is the regex's, newline
    # included (DOTALL: "**" stands for any text, a newline too).
    from sandbox.runtime.policy import _kind, build_matcher

    matcher = build_matcher(category, [pattern], ROOTS, action)
    kind = _kind(category, action)
    for concrete in ROOTS.expand(pattern):
        head = concrete[:-2] if concrete.endswith("**") else concrete
        for target in (head + tail, head[:-1] + tail, tail):
            expected = any(_match(form, kind, target) for form in ROOTS.expand(pattern))
            if category == "modules" and pattern == "a.b.**":
                expected = expected or target.partition(".")[0] in matcher.packages
            assert matcher.match(target) is expected, (pattern, target)
    if pattern.count("*") == 2 and not pattern.startswith("{"):
        assert matcher.heads and not matcher._globs  # no regex to compile at install


def test_packages_allowed_are_whole_packages_no_ceiling_entry_reaches() -> None:
    # GIVEN package rules (one per phase, {stdlib} at init), an exact name, and ceiling
    # entries of every kind: an exact name below a package, a package, a glob whose literal
    # start has no dot ("ev*"), one whose literal start has one ("wide.*.secret"), a head
    policy = _policy(
        {
            "modules": [
                {"action": "import", "target": "boto3.**"},
                {"action": "import", "target": "pkg.**"},
                {"action": "import", "target": "wide.**"},
                {"action": "import", "target": "evil.**"},
                {"action": "import", "target": "every.**"},
                {"action": "import", "target": "hd.**"},
                {"action": "import", "target": "whole.**"},
                {"action": "import", "target": "yaml"},
                {"action": "import", "target": "late.**", "phase": "invoke"},
                {"action": "import", "target": "{stdlib}", "phase": "init"},
            ]
        },
        deny={
            "modules": [
                {"action": "import", "target": "pkg.bad"},
                {"action": "import", "target": "whole.**"},
                {"action": "import", "target": "ev*"},
                {"action": "import", "target": "wide.*.secret"},
                {"action": "import", "target": "hd.x**"},
            ]
        },
    )
    policy.prepare()
    # WHEN the packages each phase allows whole are asked for
    init, invoke = policy.packages_allowed("init"), policy.packages_allowed("invoke")
    # THEN a package rule's top-level name counts, in its phase only ({stdlib} at init)
    assert {"boto3", "json", "email"} <= init
    assert "late" in invoke and "late" not in init and "json" not in invoke
    # AND no name any ceiling entry may reach, by itself or below it, nor an exact rule's name
    for reached in ("pkg", "whole", "evil", "every", "wide", "hd", "yaml", "concurrent"):
        assert reached not in init and reached not in invoke, reached
    # AND each answer agrees with the one-name questions the hook asks
    for name in init:
        assert policy.allows("modules", "import", name, "init")
        assert not policy.ceiling("modules", "import", name)
        assert policy.modules_below_allowed(name + ".", "init"), name
    # AND a profile with no package rule has none
    assert _policy({"files": []}).packages_allowed("init") == frozenset()


def test_a_module_verdict_needs_a_rule_covering_every_name_below_and_no_ceiling_below() -> None:
    # GIVEN package rules, a head, an exact name, a glob, and denies reaching into two packages
    policy = _policy(
        {
            "modules": [
                {"action": "import", "target": "boto3.**"},
                {"action": "import", "target": "google.cloud.**"},
                {"action": "import", "target": "yaml"},
                {"action": "import", "target": "lsb.m*"},
                {"action": "import", "target": "pkg.**"},
                {"action": "import", "target": "wide.**"},
                {"action": "import", "target": "{stdlib}", "phase": "init"},
            ]
        },
        deny={
            "modules": [
                {"action": "import", "target": "pkg.bad"},
                {"action": "import", "target": "wide.*.secret"},
            ]
        },
    )
    policy.prepare()
    # THEN a package rule covers every name below its own or any deeper prefix, a head the
    # names below a prefix that starts with it
    assert policy.modules_below_allowed("boto3.", "invoke")
    assert policy.modules_below_allowed("boto3.s3.", "init")
    assert policy.modules_below_allowed("google.cloud.", "invoke")
    assert policy.modules_below_allowed("google.cloud.storage.", "invoke")
    assert policy.modules_below_allowed("json.", "init")
    # AND exact names, globs, other phases, and what is not a dotted prefix never do
    assert not policy.modules_below_allowed("google.", "invoke")
    assert not policy.modules_below_allowed("yaml.", "invoke")
    assert not policy.modules_below_allowed("lsb.", "invoke")
    assert not policy.modules_below_allowed("json.", "invoke")
    assert not policy.modules_below_allowed("boto3", "invoke")
    assert not policy.modules_below_allowed(".boto3.", "invoke")
    # AND a ceiling entry that may reach a name below the prefix rules the verdict out (the
    # built-in one for concurrent.interpreters too; any glob in the ceiling, conservatively)
    assert not policy.modules_below_allowed("pkg.", "invoke")
    assert policy.modules_below_allowed("pkg.good.", "invoke")
    assert not policy.modules_below_allowed("concurrent.", "init")
    assert not policy.modules_below_allowed("wide.", "invoke")
    # AND "<prefix>*" covers the names directly below the prefix (only), unless the ceiling
    # reaches below it
    assert not policy.module_children_allowed("lsb.", "invoke")  # "lsb.m*": some names only
    assert policy.module_children_allowed("boto3.", "invoke")
    assert not policy.module_children_allowed("yaml.", "invoke")
    kids = _policy(
        {
            "modules": [
                {"action": "import", "target": "plug.*"},
                {"action": "import", "target": "deny.*"},
                {"action": "import", "target": "a.b.*"},
            ]
        },
        deny={"modules": [{"action": "import", "target": "deny.bad"}]},
    )
    kids.prepare()
    assert kids.module_children_allowed("plug.", "invoke")
    assert kids.module_children_allowed("a.b.", "init")
    assert not kids.modules_below_allowed("plug.", "invoke")
    assert not kids.module_children_allowed("a.", "invoke")
    assert not kids.module_children_allowed("deny.", "invoke")


_MODULE_PARTS = st.sampled_from(["a", "b", "ab", "c1", "_x", "*", "**", "?", "a*", "b?"])
_MODULE_TAILS = st.text(
    alphabet=st.sampled_from(["a", "b", ".", "*", "\n", "_", "é", "ā", "x"]), max_size=8
)


@settings(max_examples=400, deadline=None)
@given(
    allow=st.lists(st.lists(_MODULE_PARTS, min_size=1, max_size=3), min_size=1, max_size=4),
    deny=st.lists(st.lists(_MODULE_PARTS, min_size=1, max_size=3), max_size=3),
    prefix=st.lists(st.sampled_from(["a", "b", "ab", "c1", "_x"]), min_size=1, max_size=3),
    tails=st.lists(_MODULE_TAILS, min_size=1, max_size=8),
    stdlib=st.booleans(),
    package=st.integers(min_value=0, max_value=3),
    children=st.booleans(),
)
def test_a_module_verdict_is_never_wider_than_the_rules(
    allow: list[list[str]],
    deny: list[list[str]],
    prefix: list[str],
    tails: list[str],
    stdlib: bool,
    package: int,
    children: bool,
) -> None:
    # GIVEN any module rules and denies built from literal names and wildcards (often with a
    # "<part>.**" rule above the prefix asked about, so that verdicts are found)
    targets = [".".join(parts) for parts in allow] + (["{stdlib}"] if stdlib else [])
    if package:
        targets.append(".".join(prefix[:package]) + ".**")
    if children:
        targets.append(".".join(prefix) + ".*")
    policy = _policy(
        {"modules": [{"action": "import", "target": t} for t in targets]},
        deny={"modules": [{"action": "import", "target": ".".join(p)} for p in deny]}
        if deny
        else None,
    )
    policy.prepare()
    below = ".".join(prefix) + "."
    # WHEN the policy says every name below a dotted prefix may be imported (or every name
    # directly below it: a tail with no dot)
    everything = policy.modules_below_allowed(below, "invoke")
    direct = policy.module_children_allowed(below, "invoke")
    assert direct or not everything
    for tail in tails:
        name = below + tail
        if everything or (direct and "." not in tail):
            # THEN every such name is allowed by the rules, and none is under the ceiling (the
            # hook's own decision: ceiling first, then the rules)
            assert policy.allows("modules", "import", name, "invoke"), name
            assert not policy.ceiling("modules", "import", name), name


def _glob_to_regex_one_char_at_a_time(pattern: str, kind: str) -> str:
    """The translation as it was written first: each literal character escaped on its own
    (and a wildcard starting an argument or shell word kept from standing for an option; in
    those, a backslash before "*", "?" or a backslash makes that character literal)."""
    from sandbox.runtime.globs import _CLASSES

    star, double = _CLASSES[kind]
    single = star[:-1] if star.endswith("*") else star
    out: list[str] = []
    if kind in ("arg", "shell") and pattern[:1] in ("*", "?"):
        out.append("(?![-+@])")
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if kind in ("arg", "shell") and c == "\\" and i + 1 < n and pattern[i + 1] in "*?\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                if kind == "files" and out and out[-1] == "/" and i + 2 == n:
                    out[-1] = "(?:/.*)?"
                    i += 2
                    continue
                out.append(double)
                i += 2
                continue
            out.append(star)
        elif c == "?":
            out.append(single)
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def test_literal_runs_translate_as_their_characters_one_by_one() -> None:
    # GIVEN 20,000 random globs over paths' characters, wildcards and regex metacharacters
    import random

    from sandbox.runtime.globs import _CLASSES

    rng = random.Random(20261203)
    alphabet = "ab/.*?-\\ x[]()+**/"
    patterns = [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(14))) for _ in range(20000)
    ]
    patterns += ["/tmp/**", "/**", "**", "a/**/b", "/var/task/*.py"]
    # WHEN each is translated for every kind
    # THEN the regex is the one escaping every literal character on its own
    for pattern in patterns:
        for kind in _CLASSES:
            assert glob_to_regex(pattern, kind) == _glob_to_regex_one_char_at_a_time(pattern, kind)


def test_an_environment_rules_roots_stand_anywhere_in_its_value() -> None:
    # GIVEN env rules as the profile builder writes them (red team 73: HOME=/tmp was refused
    # by the learned HOME={tmp}, matched as text)
    policy = _policy(
        {
            "processes": [
                {"action": "env", "target": "HOME={tmp}", "phase": "any"},
                {"action": "env", "target": "PYTHONPATH={task}/lib:{site}/*", "phase": "any"},
            ]
        }
    )
    # THEN each root is its directories, wherever it stands in the value
    assert policy.allows("processes", "env", "HOME=/tmp", "invoke")
    assert not policy.allows("processes", "env", "HOME=/etc", "invoke")
    assert not policy.allows("processes", "env", "HOME={tmp}", "invoke")
    for site in ("/opt/python", "/var/lang/lib/site-packages"):
        value = f"PYTHONPATH=/var/task/lib:{site}/extra"
        assert policy.allows("processes", "env", value, "invoke"), value
