"""Every SANDBOX_* (and Lambda) environment variable the sandbox reads, read here and only here."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import ConfigError

MODES = ("off", "learn", "alert", "enforce")
ON_VIOLATION = ("raise", "exit")

# Where the profile layer puts the compiled profile inside a Lambda environment.
DEFAULT_PROFILE_PATH = "/opt/sandbox-profile/profile.json"


class Config:
    """The sandbox's settings for one process.

    Attributes
    ----------
    mode:
        ``off | learn | alert | enforce`` (``SANDBOX_MODE``, default ``off``).
    profile_path:
        The profile or compiled profile (``SANDBOX_PROFILE``; default the profile layer's file).
    profile_explicit:
        Whether ``SANDBOX_PROFILE`` was set (a missing default file is not an error in learn).
    on_violation:
        ``raise`` (default) or ``exit`` (``SANDBOX_ON_VIOLATION``): end the invocation hard.
    observations_file:
        Learn mode: also append observations to this file (``SANDBOX_OBSERVATIONS_FILE``).
    findings_file:
        Also append findings to this file (``SANDBOX_FINDINGS_FILE``).
    observations_s3:
        Learn mode: also upload observations under ``s3://bucket/prefix`` (``SANDBOX_OBSERVATIONS_S3``).
    seccomp, landlock:
        Kernel layers on/off (``SANDBOX_SECCOMP``, ``SANDBOX_LANDLOCK``: ``on|off``).
    max_findings:
        Findings written per invocation before the rest are only counted.
    """

    # A plain class, not a dataclass: building dataclasses costs milliseconds at cold start.
    __slots__ = (
        "findings_file",
        "function_name",
        "function_version",
        "landlock",
        "max_findings",
        "mode",
        "observations_file",
        "observations_s3",
        "on_violation",
        "original_handler",
        "profile_explicit",
        "profile_path",
        "runtime_api",
        "seccomp",
        "task_root",
    )

    def __init__(
        self,
        *,
        mode: str = "off",
        profile_path: str = DEFAULT_PROFILE_PATH,
        profile_explicit: bool = False,
        on_violation: str = "raise",
        observations_file: str | None = None,
        findings_file: str | None = None,
        observations_s3: str | None = None,
        seccomp: bool = True,
        landlock: bool = True,
        max_findings: int = 100,
        function_name: str = "local",
        function_version: str = "$LATEST",
        task_root: str | None = None,
        original_handler: str | None = None,
        runtime_api: str | None = None,
    ):
        self.mode = mode
        self.profile_path = profile_path
        self.profile_explicit = profile_explicit
        self.on_violation = on_violation
        self.observations_file = observations_file
        self.findings_file = findings_file
        self.observations_s3 = observations_s3
        self.seccomp = seccomp
        self.landlock = landlock
        self.max_findings = max_findings
        self.function_name = function_name
        self.function_version = function_version
        self.task_root = task_root
        self.original_handler = original_handler
        self.runtime_api = runtime_api

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Read the configuration, raising :class:`ConfigError` on a value it cannot use."""
        env = os.environ if environ is None else environ
        mode = env.get("SANDBOX_MODE", "off").strip().lower() or "off"
        if mode not in MODES:
            raise ConfigError(f"SANDBOX_MODE={mode!r}: expected one of {', '.join(MODES)}")
        on_violation = env.get("SANDBOX_ON_VIOLATION", "raise").strip().lower() or "raise"
        if on_violation not in ON_VIOLATION:
            raise ConfigError(
                f"SANDBOX_ON_VIOLATION={on_violation!r}: expected one of {', '.join(ON_VIOLATION)}"
            )
        max_findings_raw = env.get("SANDBOX_MAX_FINDINGS", "100")
        try:
            max_findings = int(max_findings_raw)
        except ValueError:
            raise ConfigError(
                f"SANDBOX_MAX_FINDINGS={max_findings_raw!r}: not an integer"
            ) from None
        return cls(
            mode=mode,
            profile_path=env.get("SANDBOX_PROFILE") or DEFAULT_PROFILE_PATH,
            profile_explicit=bool(env.get("SANDBOX_PROFILE")),
            on_violation=on_violation,
            observations_file=env.get("SANDBOX_OBSERVATIONS_FILE") or None,
            findings_file=env.get("SANDBOX_FINDINGS_FILE") or None,
            observations_s3=env.get("SANDBOX_OBSERVATIONS_S3") or None,
            seccomp=_switch(env, "SANDBOX_SECCOMP"),
            landlock=_switch(env, "SANDBOX_LANDLOCK"),
            max_findings=max_findings,
            function_name=env.get("AWS_LAMBDA_FUNCTION_NAME") or "local",
            function_version=env.get("AWS_LAMBDA_FUNCTION_VERSION") or "$LATEST",
            task_root=env.get("LAMBDA_TASK_ROOT") or None,
            original_handler=env.get("SANDBOX_ORIGINAL_HANDLER") or None,
            runtime_api=env.get("AWS_LAMBDA_RUNTIME_API") or None,
        )


def _switch(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "on").strip().lower()
    if value in ("", "on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise ConfigError(f"{name}={value!r}: expected on or off")
