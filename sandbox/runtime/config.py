"""Every setting the sandbox knows — modes, phases, ``SANDBOX_*`` variables, durations — defined here once.

The runtime reads the environment in :meth:`Config.from_env` and nowhere else; the tooling
imports the same constants (``MODES``, ``PHASES``, ``ENV``...) instead of spelling them again.

A value the sandbox cannot use is collected as a *problem*, not raised at once: in ``enforce``
``install()`` refuses to start (fail closed), in ``learn`` and ``alert`` it reports the problem,
uses the default, and lets the function run (fail open). An unknown ``SANDBOX_MODE`` is always
an error: guessing could run a function unprotected that its owner meant to enforce.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import ConfigError

# --------------------------------------------------------------------------- vocabulary

MODES = ("off", "learn", "alert", "enforce")
PHASES = ("init", "invoke")  # a process's phases; the switch to invoke is one way
RULE_PHASES = ("init", "invoke", "any")  # what a rule may say
ON_VIOLATION = ("raise", "exit")
SWITCH_ON = ("", "on", "1", "true", "yes")
SWITCH_OFF = ("off", "0", "false", "no")
NATIVE_CHOICES = ("auto", "on", "off")

# Where the profile layer puts the compiled profile inside a Lambda environment.
DEFAULT_PROFILE_PATH = "/opt/sandbox-profile/profile.json"
DEFAULT_MAX_FINDINGS = 100


class ENV:
    """Names of the environment variables the sandbox reads (and, for children, sets)."""

    MODE = "SANDBOX_MODE"
    PROFILE = "SANDBOX_PROFILE"
    # set for Python children: the identity of the profile file the parent was installed with
    PROFILE_IDENTITY = "SANDBOX_PROFILE_IDENTITY"
    PHASE = "SANDBOX_PHASE"  # set for Python child processes started during invoke
    ON_VIOLATION = "SANDBOX_ON_VIOLATION"
    OBSERVATIONS_FILE = "SANDBOX_OBSERVATIONS_FILE"
    OBSERVATIONS_S3 = "SANDBOX_OBSERVATIONS_S3"
    FINDINGS_FILE = "SANDBOX_FINDINGS_FILE"
    MAX_FINDINGS = "SANDBOX_MAX_FINDINGS"
    SECCOMP = "SANDBOX_SECCOMP"
    LANDLOCK = "SANDBOX_LANDLOCK"
    NATIVE = "SANDBOX_NATIVE"
    ORIGINAL_HANDLER = "SANDBOX_ORIGINAL_HANDLER"
    # set by the parent at each invocation start, for its children (core.request_env)
    REQUEST_ID = "SANDBOX_REQUEST_ID"
    # Lambda's own
    FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
    FUNCTION_VERSION = "AWS_LAMBDA_FUNCTION_VERSION"
    TASK_ROOT = "LAMBDA_TASK_ROOT"
    RUNTIME_API = "AWS_LAMBDA_RUNTIME_API"


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90s``, ``15m``, ``2h``, ``7d``, ``1w`` (or a bare number).

    Example
    -------
    >>> parse_duration("1h"), parse_duration("90"), parse_duration("2d")
    (3600.0, 90.0, 172800.0)
    """
    value = text.strip().lower()
    unit = _DURATION_UNITS.get(value[-1:]) if value else None
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"duration {text!r}: expected e.g. 90s, 15m, 2h, 7d or 1w") from None
    if seconds < 0:
        raise ValueError(f"duration {text!r}: must not be negative")
    return seconds


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
    profile_identity:
        ``SANDBOX_PROFILE_IDENTITY``, set by a sandboxed parent for its Python children: the
        identity (device, inode, links, change and modification times, size, mode) the profile
        file had when the parent installed. The child loads the file only if it still has it.
    phase:
        ``init`` (default) or ``invoke`` (``SANDBOX_PHASE``: a Python child started during invoke).
    on_violation:
        ``raise`` (default) or ``exit`` (``SANDBOX_ON_VIOLATION``): end the invocation hard.
    observations_file, findings_file, observations_s3:
        Extra sinks for observations (learn) and findings.
    seccomp, landlock:
        Kernel layers on/off (``SANDBOX_SECCOMP``, ``SANDBOX_LANDLOCK``: ``on|off``).
    native:
        ``auto`` (default), ``on`` or ``off`` (``SANDBOX_NATIVE``): the native audit-hook core.
    parent_request_id:
        The request id of the parent's invocation that started this process
        (``SANDBOX_REQUEST_ID``, which the parent keeps current for its children); its findings
        carry it. ``None`` when unset, empty, or not 1-128 printable ASCII characters other
        than space (a label: an unusable one is left out, never a problem).
    max_findings:
        Complete finding records written per invocation; further distinct findings are still
        written, in a compact form (a blocked target is never silent).
    problems:
        Settings that could not be used (the default was taken instead): ``install()`` refuses
        to start in enforce and reports them in learn and alert.
    """

    # A plain class, not a dataclass: building dataclasses costs milliseconds at cold start.
    __slots__ = (
        "findings_file",
        "function_name",
        "function_version",
        "landlock",
        "max_findings",
        "mode",
        "native",
        "observations_file",
        "observations_s3",
        "on_violation",
        "original_handler",
        "parent_request_id",
        "phase",
        "problems",
        "profile_explicit",
        "profile_identity",
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
        profile_identity: str | None = None,
        phase: str = "init",
        on_violation: str = "raise",
        observations_file: str | None = None,
        findings_file: str | None = None,
        observations_s3: str | None = None,
        seccomp: bool = True,
        landlock: bool = True,
        native: str = "auto",
        max_findings: int = DEFAULT_MAX_FINDINGS,
        function_name: str = "local",
        function_version: str = "$LATEST",
        task_root: str | None = None,
        original_handler: str | None = None,
        runtime_api: str | None = None,
        parent_request_id: str | None = None,
        problems: tuple[str, ...] = (),
    ):
        self.mode = mode
        self.profile_path = profile_path
        self.profile_explicit = profile_explicit
        self.profile_identity = profile_identity
        self.phase = phase
        self.on_violation = on_violation
        self.observations_file = observations_file
        self.findings_file = findings_file
        self.observations_s3 = observations_s3
        self.seccomp = seccomp
        self.landlock = landlock
        self.native = native
        self.max_findings = max_findings
        self.function_name = function_name
        self.function_version = function_version
        self.task_root = task_root
        self.original_handler = original_handler
        self.runtime_api = runtime_api
        self.parent_request_id = parent_request_id
        self.problems = problems

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Read the configuration; an unusable value becomes a problem and its default is used.

        Raises
        ------
        ConfigError
            Only for an unknown ``SANDBOX_MODE`` (the one setting with no safe default).
        """
        env = os.environ if environ is None else environ
        problems: list[str] = []
        mode = env.get(ENV.MODE, "off").strip().lower() or "off"
        if mode not in MODES:
            raise ConfigError(f"{ENV.MODE}={mode!r}: expected one of {', '.join(MODES)}")
        on_violation = _choice(env, ENV.ON_VIOLATION, ON_VIOLATION, "raise", problems)
        phase = _choice(env, ENV.PHASE, PHASES, "init", problems)
        native = _choice(env, ENV.NATIVE, NATIVE_CHOICES, "auto", problems)
        max_findings = DEFAULT_MAX_FINDINGS
        raw = env.get(ENV.MAX_FINDINGS)
        if raw is not None:
            try:
                max_findings = int(raw)
                if max_findings < 1:
                    raise ValueError
            except ValueError:
                max_findings = DEFAULT_MAX_FINDINGS
                problems.append(f"{ENV.MAX_FINDINGS}={raw!r}: not a positive integer")
        return cls(
            mode=mode,
            profile_path=env.get(ENV.PROFILE) or DEFAULT_PROFILE_PATH,
            profile_explicit=bool(env.get(ENV.PROFILE)),
            profile_identity=env.get(ENV.PROFILE_IDENTITY) or None,
            phase=phase,
            on_violation=on_violation,
            observations_file=env.get(ENV.OBSERVATIONS_FILE) or None,
            findings_file=env.get(ENV.FINDINGS_FILE) or None,
            observations_s3=env.get(ENV.OBSERVATIONS_S3) or None,
            seccomp=_switch(env, ENV.SECCOMP, problems),
            landlock=_switch(env, ENV.LANDLOCK, problems),
            native=native,
            max_findings=max_findings,
            function_name=env.get(ENV.FUNCTION_NAME) or "local",
            function_version=env.get(ENV.FUNCTION_VERSION) or "$LATEST",
            task_root=env.get(ENV.TASK_ROOT) or None,
            original_handler=env.get(ENV.ORIGINAL_HANDLER) or None,
            runtime_api=env.get(ENV.RUNTIME_API) or None,
            parent_request_id=_request_id(env.get(ENV.REQUEST_ID)),
            problems=tuple(problems),
        )


def check_mode(mode: str) -> str:
    """Normalise a mode given in code; :class:`ConfigError` for an unknown one."""
    value = mode.strip().lower()
    if value not in MODES:
        raise ConfigError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    return value


def _request_id(value: str | None) -> str | None:
    """``value`` as a request id: 1-128 printable ASCII characters other than space, else
    ``None`` (what the parent's core writes: the same test)."""
    if not value or len(value) > 128 or not value.isascii():
        return None
    return value if all("!" <= c <= "~" for c in value) else None


def _choice(
    env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str, problems: list[str]
) -> str:
    value = env.get(name, default).strip().lower() or default
    if value in choices:
        return value
    problems.append(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return default


def _switch(env: Mapping[str, str], name: str, problems: list[str]) -> bool:
    value = env.get(name, "on").strip().lower()
    if value in SWITCH_ON:
        return True
    if value in SWITCH_OFF:
        return False
    problems.append(f"{name}={value!r}: expected on or off")
    return True  # the protective default
