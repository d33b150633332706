"""The public surface: __all__ is honest, errors subclass the natural builtins, cheap import."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import sandbox
from sandbox.errors import (
    ConfigError,
    ImportViolation,
    PermissionViolation,
    ProfileError,
    SandboxError,
)
from sandbox.runtime.config import Config
from sandbox.runtime.event_source import event_source


def test_all_is_honest() -> None:
    # GIVEN the public names THEN each exists, and nothing public is missing from __all__
    for name in sandbox.__all__:
        assert getattr(sandbox, name) is not None
    public = {
        name
        for name, value in vars(sandbox).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    } - {"TYPE_CHECKING", "annotations"}
    assert public <= set(sandbox.__all__), public - set(sandbox.__all__)


def test_violations_are_natural_builtins() -> None:
    blocked = PermissionViolation("files", "read", "/etc/passwd", "rules.files: {...}")
    assert isinstance(blocked, PermissionError) and isinstance(blocked, SandboxError)
    assert blocked.errno == 1
    assert "files read '/etc/passwd'" in str(blocked) and "rules.files" in str(blocked)
    module = ImportViolation("modules", "import", "evil", "")
    assert isinstance(module, ImportError) and module.name == "evil"
    assert "no rule can allow it" in str(module)
    assert issubclass(ProfileError, ValueError)


def test_config_collects_bad_values_as_problems_and_refuses_an_unknown_mode() -> None:
    # GIVEN an unknown mode THEN it is an error at once (no safe default exists)
    with pytest.raises(ConfigError, match="SANDBOX_MODE"):
        Config.from_env({"SANDBOX_MODE": "block-everything"})
    # GIVEN a misspelt switch THEN it becomes a problem (install decides: enforce refuses to
    # start, learn and alert report it) and the protective default is used
    config = Config.from_env({"SANDBOX_SECCOMP": "maybe", "SANDBOX_MAX_FINDINGS": "lots"})
    assert config.seccomp is True and config.max_findings == 100
    assert sorted(p.split("=")[0] for p in config.problems) == [
        "SANDBOX_MAX_FINDINGS",
        "SANDBOX_SECCOMP",
    ]
    config = Config.from_env({"SANDBOX_MODE": "Enforce ", "AWS_LAMBDA_FUNCTION_NAME": "orders"})
    assert config.mode == "enforce" and config.function_name == "orders" and not config.problems


def test_event_sources() -> None:
    assert event_source(
        {
            "requestContext": {
                "http": {"sourceIp": "1.2.3.4", "userAgent": "ua", "path": "/p", "method": "GET"}
            }
        }
    ) == {
        "source": "apigateway",
        "source_ip": "1.2.3.4",
        "user_agent": "ua",
        "path": "/p",
        "method": "GET",
    }
    sqs = {"Records": [{"eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q"}]}
    assert event_source(sqs)["source_arn"] == "arn:aws:sqs:us-east-1:1:q"
    s3 = {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"arn": "arn:aws:s3:::b"}}}]}
    assert event_source(s3)["source_arn"] == "arn:aws:s3:::b"
    assert (
        event_source({"source": "my.app", "detail-type": "x", "resources": []})["source"]
        == "eventbridge"
    )
    assert event_source("not a dict") == {}


def test_runtime_import_pulls_no_tooling_dependencies() -> None:
    # GIVEN a fresh interpreter WHEN the layer's entry modules are imported (mode off)
    code = (
        "import sys, sandbox, sandbox.runtime, sandbox.runtime.hook\n"
        "heavy = [m for m in ('pydantic', 'typing', 'dataclasses', 'hashlib', 'boto3', 'pyseccomp', 'psutil') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    # THEN none of the heavy or tooling-only modules were loaded (import-time SLA)
    assert out == ""
