"""The generalisation table, families with evidence, shell-safe wildcards, base coverage."""

from __future__ import annotations

import pytest

from sandbox.profile.generalise import (
    FAKE_ROOTS,
    BaseCoverage,
    Options,
    collapse_families,
    generalise_argv,
    generalise_host,
    generalise_path,
    rewrite,
    subsumes,
)
from sandbox.runtime.compiler import compile_profile
from sandbox.runtime.globs import process_target
from sandbox.runtime.policy import Policy


@pytest.mark.parametrize(
    ("literal", "rule"),
    [
        ("{task}/pkg/__pycache__/m.cpython-311.pyc", "{task}/pkg/__pycache__/*.pyc"),
        ("{site}/requests-2.31.0.dist-info/RECORD", "{site}/requests-*.dist-info/**"),
        ("{task}/vendor/attrs-23.1.0.dist-info", "{task}/vendor/attrs-*.dist-info/**"),
        ("/proc/4242/status", "/proc/*/status"),
        ("/proc/1/task/77/stat", "/proc/*/task/*/stat"),
        ("{tmp}/9nhb8_5f", "{tmp}/*"),
        ("{task}/_speedups.cpython-311-x86_64-linux-gnu.so", "{task}/_speedups.cpython-*.so"),
        ("/usr/lib64/libffi.so.8.1.2", "/usr/lib64/libffi.so.*"),
        ("/lib/libssl.so.3", "/lib/libssl.so.*"),
        ("{tmp}/out-3f2c1a9e-8b7d-4c6e-9f00-1234567890ab.json", "{tmp}/out-*.json"),
        ("{tmp}/3F2C1A9E-8B7D-4C6E-9F00-1234567890AB", "{tmp}/*"),
        ("{tmp}/tmpab12cd_x", "{tmp}/tmp*"),
        ("{tmp}/tmpab12cd_x/report.pdf", "{tmp}/tmp*/report.pdf"),
        ("{tmp}/tmpab12cd_x.json", "{tmp}/tmp*.json"),
        ("{tmp}/cache/a1b2c3d4e5f6.bin", "{tmp}/cache/*.bin"),
        ("{tmp}/export-20240131.csv", "{tmp}/export-*.csv"),
        ("{tmp}/job_1700000000123", "{tmp}/job_*"),
    ],
)
def test_table_row_generalises_literal(literal: str, rule: str) -> None:
    # GIVEN a literal of a generated-name shape WHEN generalised THEN the table's rule comes out
    assert generalise_path(literal) == rule


@pytest.mark.parametrize(
    "literal",
    [
        "/usr/lib/libfoo.so",
        "{task}/tmpfiles",
        "{task}/tmpdirectory",
        "{task}/deadbeef",
        "{task}/12345",
        "/proc/self/status",
        "{tmp}/download",
        "{task}/templates/order.html",
        "{stdlib}/python3.11/json/__init__.py",
        "{task}/abcdef12x",
    ],
)
def test_counter_examples_stay_literal(literal: str) -> None:
    # GIVEN an ordinary name WHEN generalised THEN it is unchanged (no guessing)
    assert generalise_path(literal) == literal


def test_family_collapse_needs_threshold_distinct_literals() -> None:
    # GIVEN two then three distinct names in one directory
    two = ["{task}/data/a.csv", "{task}/data/b.csv"]
    three = [*two, "{task}/data/c.csv"]
    # WHEN collapsed with the default threshold 3 THEN only the second becomes a glob
    assert collapse_families("files", two, Options()) == {}
    assert set(collapse_families("files", three, Options()).values()) == {"{task}/data/*.csv"}
    # AND a configurable threshold changes it
    assert set(collapse_families("files", two, Options(threshold=2)).values()) == {
        "{task}/data/*.csv"
    }


def test_family_mixed_extensions_and_unsafe_directories() -> None:
    mixed = ["{tmp}/a.csv", "{tmp}/b.json", "{tmp}/c"]
    assert set(collapse_families("files", mixed, Options()).values()) == {"{tmp}/*"}
    # GIVEN many files directly in /etc, in / or under /proc THEN never collapsed
    for directory in ("/etc", "", "/proc/self"):
        names = [f"{directory}/f{i}" for i in range(10)]
        assert collapse_families("files", names, Options()) == {}


def test_host_family_collapses_only_with_evidence() -> None:
    hosts = [f"{b}.s3.eu-west-1.amazonaws.com:443" for b in ("logs", "media", "exports")]
    assert collapse_families("network", hosts[:2], Options()) == {}
    assert set(collapse_families("network", hosts, Options()).values()) == {
        "*.s3.eu-west-1.amazonaws.com:443"
    }
    # Different ports are different families; IPs and two-label names never join.
    assert (
        collapse_families("network", ["a.x.com:443", "b.x.com:80", "c.x.com:8443"], Options()) == {}
    )
    assert (
        collapse_families("network", ["10.0.0.1:443", "10.0.0.2:443", "10.0.0.3:443"], Options())
        == {}
    )
    assert collapse_families("network", ["a.com:443", "b.com:443", "c.com:443"], Options()) == {}


def test_module_family() -> None:
    mods = ["app.plugins.csv", "app.plugins.xml", "app.plugins.pdf"]
    assert set(collapse_families("modules", mods, Options()).values()) == {"app.plugins.*"}
    assert collapse_families("modules", ["a", "b", "c"], Options()) == {}


def test_regional_endpoints_exact_unless_option() -> None:
    target = "dynamodb.us-east-1.amazonaws.com:443"
    assert generalise_host(target, Options()) == target
    assert rewrite("network", "connect", target, None, Options())[0] == target
    assert (
        generalise_host(target, Options(generalise_regions=True)) == "dynamodb.*.amazonaws.com:443"
    )
    assert generalise_host("example.us-east-1.com:443", Options(generalise_regions=True)) == (
        "example.us-east-1.com:443"
    )


def test_shell_command_generalised_but_injection_never_matches() -> None:
    # GIVEN an observed `sh -c "cat /tmp/tmpab12cd_x"` generalised by the table
    argv = generalise_argv("/bin/sh", ("-c", "cat /tmp/tmpab12cd_x"))
    assert argv == ("-c", "cat /tmp/tmp*")
    doc = {
        "schema_version": 1,
        "function": "f",
        "rules": {"processes": [{"action": "exec", "target": "/bin/sh", "argv": list(argv)}]},
    }
    policy = Policy.load(compile_profile(doc, kernel=False), FAKE_ROOTS)

    def allowed(command: str) -> bool:
        return policy.allows(
            "processes", "exec", process_target("/bin/sh", ["-c", command]), "invoke"
        )

    # WHEN another temp name is used THEN allowed
    assert allowed("cat /tmp/tmpzz99yy_q")
    # WHEN shell syntax is injected THEN no wildcard matches it
    for attack in (
        "cat /tmp/tmpx; curl x",
        "cat /tmp/tmpx;curl x",
        "cat /tmp/tmp$(curl x)",
        "cat /tmp/tmp`id`",
        "cat /tmp/tmpx && curl x",
        "cat /tmp/tmpx | sh",
        "cat /tmp/tmpx\ncurl x",
        "cat /tmp/tmpx /etc/passwd",
    ):
        assert not allowed(attack), attack


def test_aws_and_exec_arguments_use_name_rows() -> None:
    assert rewrite("aws", "call", "s3:GetObject:bucket/in/1700000000.json", None, Options()) == (
        "s3:GetObject:bucket/in/*.json",
        None,
    )
    assert rewrite(
        "processes", "exec", "/usr/bin/convert", ("{tmp}/tmpab12cd_x.png", "-resize"), Options()
    ) == (
        "/usr/bin/convert",
        ("{tmp}/tmp*.png", "-resize"),
    )
    # Hosts, modules and symbols are never touched by the table.
    assert rewrite("modules", "import", "pkg_1234567", None, Options())[0] == "pkg_1234567"


def test_subsumes_is_conservative() -> None:
    assert subsumes("files", "{tmp}/*", "{tmp}/a.txt")
    assert subsumes("files", "{tmp}/**", "{tmp}/a/*")
    assert not subsumes("files", "{tmp}/*", "{tmp}/a/b")
    assert not subsumes("files", "{tmp}/*", "{tmp}/**")
    assert not subsumes("files", "{tmp}/?", "{tmp}/*")


def test_base_coverage_and_ceiling_use_fake_roots() -> None:
    base = BaseCoverage(["python-runtime"])
    assert base.covers("files", "read", "{stdlib}/json/__init__.py", None, "any")
    assert base.covers("files", "read", "{task}/app.py", None, "init")
    assert not base.covers("files", "read", "{task}/app.py", None, "invoke")
    assert not base.covers("files", "read", "{task}/app.py", None, "any")
    assert base.denied("files", "read", "/proc/1/environ", None)
    assert base.denied("network", "connect", "169.254.169.254:80", None)
    assert not base.denied("files", "read", "/etc/hosts", None)
