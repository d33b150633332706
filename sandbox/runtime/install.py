"""``install()``: load the profile, start the kernel layer, install the audit hook — fail closed.

Used by the Lambda bootstrap and by any Python process (``sandbox.install(...)``).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable, Mapping

# Light on purpose: the modules the hook runs are not imported here but executed privately by
# install() (see private_modules.py); only what install itself needs before that is loaded.
from .config import Config, check_mode
from .control import flush as flush_observations
from .control import installed
from .errors import ConfigError, ProfileError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any, TypeAlias

    from .policy import Policy
    from .private_modules import PrivateRuntime
    from .recorder import Recorder
    from .sinks import LineSink as LineSinkType
    from .sinks import TeeSink as TeeSinkType

_gc_freeze, _gc_unfreeze, _gc_freeze_count = gc.freeze, gc.unfreeze, gc.get_freeze_count
_gc_isenabled, _gc_disable, _gc_enable = gc.isenabled, gc.disable, gc.enable

# Learn mode with no profile of its own still starts from the base bundles, so the
# observations hold only the function's own difference.
LEARN_BASE = {"schema_version": 1, "function": "", "extends": ["python-runtime"], "rules": {}}

if TYPE_CHECKING:
    ProfileSource: TypeAlias = str | os.PathLike[str] | Mapping[str, Any] | Policy | Any


def install(
    mode: str | None = None,
    profile: ProfileSource | None = None,
    *,
    config: Config | None = None,
    control: tuple[Callable[..., Any], ...] | None = None,
) -> dict[str, Any]:
    """Install the sandbox in this process (once; later calls return the existing status).

    Parameters
    ----------
    mode:
        ``off | learn | alert | enforce``; default ``SANDBOX_MODE``.
    profile:
        A path to a profile or its compiled form, a profile document (dict), a
        :class:`sandbox.Profile` or a :class:`~sandbox.policy.Policy`; default ``SANDBOX_PROFILE``.
    control:
        The functions whose code may send the hook its control events (phase, invocation
        begin and end). The Lambda bootstrap passes its own handler; by default the helpers of
        :mod:`.hook` (``mark_invoke_phase``...), for processes that install the sandbox themselves.

    Returns
    -------
    dict
        The status: mode, function, and each layer's state (``audit``, ``seccomp``, ``landlock``).

    Raises
    ------
    ProfileError
        In ``alert``/``enforce`` when the profile is missing or invalid: never run unprotected.
    ConfigError
        In ``enforce`` when a ``SANDBOX_*`` setting or an output file cannot be used (learn and
        alert report the problem in the start record and go on with the default).

    Example
    -------
    >>> import sandbox
    >>> sandbox.install(mode="enforce", profile="profiles/orders.compiled.json")  # doctest: +SKIP
    """
    started = time.perf_counter()
    # The objects that exist already (the runtime's modules, just imported) are set aside from
    # the collector while installing, and the collector is paused: no collection walks the
    # import's objects again, nor what install builds (the hook's frozen copies, which live as
    # long as the process). On the way out, errors included, what install built is set aside
    # too, and everything goes back at once to the oldest generation (where it would end
    # anyway), the young generation's count back to zero: no collection is left due for the
    # function's first allocations either. Only when nothing else has frozen objects:
    # gc.unfreeze() cannot give back another's freeze.
    aside = _gc_freeze_count() == 0
    collecting = aside and _gc_isenabled()
    if aside:
        _gc_freeze()
    if collecting:
        _gc_disable()
    try:
        return _install(mode, profile, config, control, started)
    finally:
        if aside:
            _gc_freeze()
            _gc_unfreeze()
        if collecting:
            _gc_enable()


def _install(
    mode: str | None,
    profile: ProfileSource | None,
    config: Config | None,
    control: tuple[Callable[..., Any], ...] | None,
    started: float,
) -> dict[str, Any]:
    modules_before = set(sys.modules)
    existing = installed()
    if existing is not None:
        return existing
    config = config or Config.from_env()
    mode = check_mode(mode or config.mode)
    if mode == "off":
        return {"mode": "off", "layers": {"audit": "off", "seccomp": "off", "landlock": "off"}}
    runtime = _private_runtime()
    try:
        return _install_on(runtime, mode, profile, config, control, started, modules_before)
    finally:
        runtime.finish()  # (the copies' imports are the interpreter's from here on)


def _install_on(
    runtime: PrivateRuntime,
    mode: str,
    profile: ProfileSource | None,
    config: Config,
    control: tuple[Callable[..., Any], ...] | None,
    started: float,
    modules_before: set[str],
) -> dict[str, Any]:
    # Every object the hook will hold is made from the private copies' classes.
    hook = runtime.module("hook")
    # The hook's modules' bytecode as one file for the next cold start, if this one found none
    # current (once per change of the sources; before the kernel layer, which may forbid the
    # write, and the hook, whose decisions these writes are not).
    runtime.save_bundle()
    sinks = runtime.module("sinks")
    LineSink, TeeSink = sinks.LineSink, sinks.TeeSink
    problems = list(config.problems)
    roots = runtime.module("roots").Roots.detect(config.task_root)
    stdout_sink = LineSink(stdout=True, files=(config.findings_file,))
    problems += stdout_sink.problems
    policy, load_error, compiled_file = _load_policy(runtime, mode, profile, config, roots)
    # AWS API calls as a category: wraps botocore when (and only if) the function imports it.
    # Before the hook, so the finder it adds is in place before the function's imports; and
    # before the kernel layer, whose Landlock rules would refuse the write of its bytecode
    # cache where none was written yet (every later start would compile it again: ~8 ms).
    try:
        from .aws_calls import interpose as interpose_aws_calls

        interpose_aws_calls()
        aws_calls = "active"
    except ImportError:  # a layer built without it: no AWS-call category, said in the status
        aws_calls = "unsupported"
    kernel_statuses, kernel_details = _kernel(
        policy, mode, config, runtime.module("core").KIND == "native"
    )
    layers = {"audit": "active", **kernel_statuses, "aws_calls": aws_calls}
    if mode == "enforce":
        # A core dump is a file the kernel writes with no system call of the process's (no
        # audit event: red team 129), in whatever folder the crashing process, or a child
        # that inherits the limit, is in. Raising the limit again is decided (the decoder).
        try:
            runtime.module("core").core_dumps_off()
        except OSError as exc:
            problems.append(f"cannot switch core dumps off: {exc}")
    recorder: Recorder | None = None
    start_sinks: tuple[Any, ...] = ()
    if mode == "learn":
        # Only learn records (and signs, with OpenSSL's HMAC: ~2 ms of cold start to load).
        Recorder = runtime.module("recorder").Recorder

        environment = os.urandom(8).hex()
        # Observations go to stdout and to the extra sinks; the extra sinks also get the start
        # record (it announces the key the observations are authenticated with).
        extra: list[Any] = []
        if config.observations_file:
            file_sink = LineSink(stdout=False, files=(config.observations_file,))
            problems += file_sink.problems
            extra.append(file_sink)
        if config.observations_s3:
            from .s3_sink import S3LineSink

            extra.append(S3LineSink(config.observations_s3, env=environment))
        # At exit, flush through the hook (the upload's own I/O is not audited): the run of
        # quiet invocation ends not yet written, and the S3 sink's buffer. (atexit imported
        # here: alert and enforce never need it.)
        import atexit

        atexit.register(flush_observations)
        start_sinks = tuple(extra)
        sink: LineSinkType | TeeSinkType = (
            TeeSink(LineSink(stdout=True), *extra) if extra else LineSink(stdout=True)
        )
        recorder = Recorder(
            sink,
            function=config.function_name,
            version=config.function_version,
            roots=roots,
            environment=environment,
        )
    reporter = runtime.module("findings").Reporter(
        stdout_sink,
        function=config.function_name,
        version=config.function_version,
        mode=mode,
        roots=roots,
        layers=layers,
        max_per_invocation=config.max_findings,
        suggest=runtime.module("generalisation").suggest,
    )
    if problems and mode == "enforce":
        # Fail closed: enforce never starts with a setting it could not use.
        raise ConfigError("cannot enforce: " + "; ".join(problems))
    _forget_native_modules(modules_before, runtime.module("policy").STDLIB_EXCLUDED)
    _load_frozen_modules()
    try:
        _protect_children(
            runtime,
            mode,
            config,
            policy,
            compiled_file,
            stdout_sink.report_stream(os.environ.get("SANDBOX_REPORT")),
        )
    except (OSError, ValueError) as exc:
        if mode == "enforce":
            raise ConfigError(f"cannot protect child processes: {exc}") from exc
        problems.append(f"child processes will run without the sandbox: {exc}")
    hook.install_hook(
        private=runtime,
        mode=mode,
        policy=policy,
        roots=roots,
        reporter=reporter,
        recorder=recorder,
        runtime_api=config.runtime_api,
        on_violation=config.on_violation,
        layers=layers,
        control=control,
        start_phase=config.phase,
        parent_request_id=config.parent_request_id,
    )
    if config.profile_identity:
        # A protected Python child: its parent, a sandboxed function, runs on and may move
        # folders or swap links at any moment with no event here -- the race a child of this
        # process would be: every kept answer validated, no '..' over a folder that can move.
        runtime.module("paths").child_started()
    layers["audit"] = runtime.module("core").KIND  # native or python: which core holds the hook
    status = {
        "type": "sandbox.start",
        "level": "INFO",
        "mode": mode,
        "function": config.function_name,
        "version": config.function_version,
        "profile_sha256": policy.document.get("profile_sha256"),
        "layers": layers,
        "kernel": kernel_details,
        "init_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if recorder is not None:
        # The observations' MAC key, announced before the function's code runs (recorder.py).
        status["env"] = recorder.environment
        status["observation_key"] = recorder.key.hex()
    if problems:
        # Learn and alert fail open: the problem is reported and the default used.
        status["problems"] = problems
        status["level"] = "WARN"
    if load_error:
        status["profile_error"] = load_error
        status["level"] = "WARN"
    stdout_sink.write(status)
    for extra_sink in start_sinks:
        extra_sink.write(status)
    return status


def _private_runtime() -> PrivateRuntime:
    """New private copies of this package's modules (executed as install asks for them)."""
    from .private_modules import load

    return load(_PACKAGE, os.path.dirname(os.path.abspath(__file__)))


def _protect_children(
    runtime: PrivateRuntime,
    mode: str,
    config: Config,
    policy: Policy,
    compiled_file: tuple[str, Any, bytes] | None,
    report: str | None = None,
) -> None:
    """Set the environment every Python child inherits so that it installs the sandbox first.

    The child loads the same compiled profile: the compiled file this process loaded, or — for
    a profile handed over as a document, or one compiled here from a plain profile (whose
    ``extends`` files a child would read again) — a private copy written now. With the file's
    identity: a child refuses a file changed since. Runs before the hook exists (no decision).
    """
    child, environ = runtime.module("child"), runtime.module("environ")
    if compiled_file is not None:
        path, st, data = compiled_file
    else:
        import json
        import tempfile

        data = json.dumps(dict(policy.document)).encode("utf-8")
        handle, path = tempfile.mkstemp(prefix="sandbox-profile-", suffix=".json")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            st = os.fstat(out.fileno())
    # The digest of the bytes only where a Python child can start at all (learn and alert
    # refuse no exec; in enforce, a rule must run a program): hashing a profile costs ~0.3 ms
    # of init. Without it the identity matches no file: a child started anyway (the Python
    # core cannot decide a direct fork_exec) refuses to run.
    can_start = mode != "enforce" or policy.runs_programs()
    identity = runtime.module("policy").file_identity_text(st, data if can_start else None)
    # The identity of the file as this process read (or wrote) it: a child loads the file only
    # if it still has it. The function may be allowed to write where it is (the copy above is
    # in the temp dir), and a later stat of the path would take in what it wrote there.
    changes = child.prepare_environment(
        mode, os.path.abspath(path), config.phase, report=report, identity=identity
    )
    for name, value in changes.items():
        os.environ[name] = value
        environ.own(name, value)


def _load_policy(
    runtime: PrivateRuntime, mode: str, profile: ProfileSource | None, config: Config, roots: Any
) -> tuple[Policy, str | None, tuple[str, Any, bytes] | None]:
    """The policy, why the profile could not be used (learn), and the compiled file it was
    loaded from with its identity when read (``None``: a document, or compiled here)."""
    policy_class: type[Policy] = runtime.module("policy").Policy  # (the hook's own class)
    try:
        policy, compiled_file = _policy_from(runtime, profile, config, roots, mode)
        return policy, None, compiled_file
    except ProfileError as exc:
        if mode != "learn":
            raise
        # Learn fails open: record against the base bundles and say why.
        from .compiler import compile_profile

        base = policy_class.load(compile_profile(LEARN_BASE, kernel=False), roots)
        return base, str(exc), None


def _policy_from(
    runtime: PrivateRuntime, profile: ProfileSource | None, config: Config, roots: Any, mode: str
) -> tuple[Policy, tuple[str, Any, bytes] | None]:
    """The policy, and the compiled file it was loaded from with the file's stat result and
    bytes when read (``None``: from a document, or compiled here)."""
    policy_module = runtime.module("policy")
    policy_class: type[Policy] = policy_module.Policy  # (the hook's own class)
    is_compiled, read_json = policy_module.is_compiled, policy_module.read_json
    importable = sys.modules.get(_PACKAGE + ".policy")
    if importable is not None and isinstance(profile, importable.Policy):
        # A Policy of the importable module: the hook's own copy is loaded from its document.
        return policy_class.load(dict(profile.document), roots), None
    if profile is None:
        profile = config.profile_path
        if not os.path.exists(profile) and mode == "learn" and not config.profile_explicit:
            profile = LEARN_BASE
    if isinstance(profile, (str, os.PathLike)):
        # A Python child checks the file is the one its parent was installed with; the identity
        # of what was read is what its own children check (never the file's later one).
        document, st, data = read_json(profile, identity=config.profile_identity)
        if is_compiled(document):
            # the fast path: no compiler import
            return policy_class.load(document, roots), (os.fspath(profile), st, data)
        from pathlib import Path

        from .compiler import compile_profile

        # (from the document read once: its file is not read again)
        compiled = compile_profile(
            document,
            base_dir=Path(os.fspath(profile)).parent,
            source=os.fspath(profile),
            kernel_in_child=True,
        )
        return policy_class.load(compiled, roots), None
    if hasattr(profile, "model_dump"):  # the pydantic Profile of the tooling side
        profile = profile.model_dump(mode="json", exclude_none=True)
    if isinstance(profile, Mapping):
        document = dict(profile)
        if is_compiled(document):
            return policy_class.load(document, roots), None
        from .compiler import compile_profile

        compiled = compile_profile(document, kernel=mode == "enforce", kernel_in_child=True)
        return policy_class.load(compiled, roots), None
    raise ProfileError(f"cannot use a {type(profile).__name__} as a profile")


def _kernel(
    policy: Policy, mode: str, config: Config, native_core: bool
) -> tuple[dict[str, str], dict[str, Any]]:
    """Load the kernel layer (seccomp, Landlock); statuses, plus reasons for the start record."""
    if mode == "enforce" and not (config.seccomp or config.landlock):
        off = _kernel_switched_off()
        if off is not None:
            return off
    try:
        from .kernel import install_kernel_detailed
    except ImportError:
        return {"seccomp": "unsupported", "landlock": "unsupported"}, {"reason": "no kernel module"}
    try:
        result = install_kernel_detailed(
            _concrete_kernel_section(policy),
            mode,
            seccomp_enabled=config.seccomp,
            landlock_enabled=config.landlock,
            native_core=native_core,
        )
    except Exception as exc:  # a kernel layer never fails the function
        return {"seccomp": "unsupported", "landlock": "unsupported"}, {"reason": str(exc)}
    details: dict[str, Any] = {"reasons": result.reasons}
    if result.would_deny:
        details["would_deny"] = result.would_deny
    return dict(result.statuses), details


def _kernel_switched_off() -> tuple[dict[str, str], dict[str, Any]] | None:
    """What the kernel package answers in enforce with both layers switched off by
    configuration, without importing it (~0.2 ms of init: it would load nothing). ``None``
    when the package is loaded already: a layer an earlier install of this process loaded
    stays loaded, and the package's own record of it answers (tested to agree with it)."""
    if _PACKAGE + ".kernel" in sys.modules:
        return None
    why = "switched off by configuration"
    return {"seccomp": "off", "landlock": "off"}, {"reasons": {"seccomp": why, "landlock": why}}


def _concrete_kernel_section(policy: Policy) -> dict[str, Any] | None:
    """The kernel section with Landlock's symbolic directories ({tmp}, {task}) made concrete."""
    section = policy.kernel
    if not isinstance(section, dict) or not isinstance(section.get("landlock"), dict):
        return section
    landlock = dict(section["landlock"])
    for kind in ("read", "write", "exec"):
        landlock[kind] = [
            concrete for path in landlock.get(kind) or () for concrete in policy.roots.expand(path)
        ]
    return {**section, "landlock": landlock}


# The kernel layer's own ctypes-based modules: re-importing them is an audited import of
# `_ctypes` (and of libc through ctypes.dlopen), which a profile without native code refuses.
# Named from this package's own name: "sandbox.runtime" in a development install,
# "_lambda_sandbox" in the layer and in every protected child interpreter.
_PACKAGE = __package__ or "sandbox.runtime"
_NATIVE_HELPERS = frozenset({_PACKAGE + ".kernel.ctypes_calls", _PACKAGE + ".kernel.ffi"})


def _load_frozen_modules() -> None:
    """Import the standard library's frozen modules not loaded yet (from Python 3.13).

    From 3.13 a frozen module (``runpy``, which multiprocessing's spawn imports) is unmarshalled
    from the interpreter's own table when first imported. After init the hook decides that
    unmarshal by its site, like any: it cannot tell the table's bytes from a buffer of the
    caller's that the same call reads after the event (red team 39), so it is refused. Loaded
    now, before the function's code, they are found in ``sys.modules`` later. (Before 3.13 they
    are built into the interpreter as objects: nothing is unmarshalled. The ``__hello__``-style
    test modules are left out.)
    """
    if sys.version_info < (3, 13):
        return
    import _imp

    for name in _imp._frozen_module_names():
        if name not in sys.modules and not name.startswith("__"):
            try:
                __import__(name)
            except ImportError:  # (a frozen module this build cannot load: left to import)
                pass


def _forget_native_modules(before: set[str], stdlib_excluded: frozenset[str]) -> None:
    """Drop ctypes & co. that the sandbox itself imported (the kernel layer's ctypes path, libseccomp binding).

    The function must not inherit them for free: with them gone from ``sys.modules`` the
    function's own ``import ctypes`` is a real, audited import again.
    """
    dropped: list[Any] = []
    for name in sorted(set(sys.modules) - before):
        top = name.partition(".")[0]
        if top in stdlib_excluded or top == "pyseccomp" or name in _NATIVE_HELPERS:
            module = sys.modules.pop(name)
            parent, _, child = name.rpartition(".")
            if parent in sys.modules and getattr(sys.modules[parent], child, None) is not None:
                delattr(sys.modules[parent], child)  # `from parent import child` finds it too
            dropped.append(module)
    # Emptied too: a module dropped from sys.modules is still the global of every module that
    # imported it (one the function reaches could hand it over, with ctypes' memory access);
    # only modules loaded during install are here, so nothing else of the process uses them.
    for module in dropped:
        namespace = getattr(module, "__dict__", None)
        if type(namespace) is dict:
            namespace.clear()
