"""The audit hook: one dispatch table, early return, a re-entrancy guard, decisions by mode.

Everything the hook needs lives in closure cells created by :func:`install_hook`, not in module
globals or attributes of an object reachable from them: code in the function that rebinds
``sandbox.runtime.hook``'s globals, reloads the module or installs a second hook changes nothing about
the installed hook (audit hooks cannot be removed). Closure cells *can* be rewritten through
``fn.__closure__[i].cell_contents`` with no audit event — a documented limit of any Python-level
hook (AUDIT-FACTS bypass 4), closed only by a C-level hook.

The bootstrap talks to the installed hook through audit events of its own (``sandbox.*``), so
no handle to it needs to be kept anywhere: ``sandbox.phase`` (init → invoke, one way),
``sandbox.invocation`` / ``sandbox.invocation_end``, and ``sandbox.status`` (a snapshot).
"""

from __future__ import annotations

import _thread
import os
import sys
from collections.abc import Callable

from .address_book import AddressBook, interpose
from .errors import ImportViolation, PermissionViolation, SandboxViolation
from .events import DECODERS, host_port, norm_host
from .findings import Invocation, Reporter, rule_hint
from .freeze import freeze, freeze_instances
from .policy import Policy
from .recorder import Recorder
from .roots import Roots

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any

    from .events import Access


CACHE_LIMIT = 8192
_SANDBOX_DIR = os.path.dirname(os.path.abspath(__file__))


class _Guard(_thread._local):
    """Per-thread re-entrancy flag: the sandbox's own work never audits itself."""

    busy = False
    invocation: Invocation | None = None


def installed() -> dict[str, Any] | None:
    """Status of the installed hook in this process, or ``None`` (asks it over the audit channel)."""
    answers: list[dict[str, Any]] = []
    sys.audit("sandbox.status", answers)
    return answers[0] if answers else None


def install_hook(
    *,
    mode: str,
    policy: Policy,
    roots: Roots,
    reporter: Reporter,
    recorder: Recorder | None,
    runtime_api: str | None = None,
    on_violation: str = "raise",
    layers: dict[str, str] | None = None,
) -> bool:
    """Install the audit hook and the import finder once per process; ``False`` if already there.

    Example
    -------
    >>> install_hook(mode="enforce", policy=policy, roots=roots, reporter=reporter,
    ...              recorder=None)  # doctest: +SKIP
    """
    if installed() is not None:
        return False
    # Everything the hook touches is bound here, as closure cells: rebinding this module's
    # globals (or the events module's) after install changes nothing.
    _PermissionViolation = PermissionViolation
    _ImportViolation = ImportViolation
    _SandboxViolation = SandboxViolation
    _rule_hint = rule_hint
    _Invocation = Invocation
    _exit = os._exit
    _getframe = sys._getframe
    from . import address_book, events, findings, globs, sinks
    from . import policy as policy_module
    from . import recorder as recorder_module
    from . import roots as roots_module

    frozen = freeze(
        [events, findings, globs, recorder_module, policy_module, address_book, roots_module, sinks]
    )
    book = AddressBook()
    freeze_instances(
        [
            o
            for o in (
                policy,
                roots,
                reporter,
                reporter.sink,
                recorder,
                recorder and recorder.sink,
                book,
            )
            if o
        ],
        frozen,
    )
    for matcher in policy.matchers():
        freeze_instances([matcher], frozen)
    enforce = mode == "enforce"
    learn = mode == "learn"
    guard = _Guard()
    cache: dict[tuple[str, str, str, str], bool] = {}
    phase = ["init"]
    current = [Invocation()]
    invocations = [0]
    allows = policy.allows
    ceiling = policy.ceiling
    api_target = _runtime_api_target(runtime_api)
    task_dirs = tuple(d + "/" for d in roots.dirs.get("task", ()))
    status = {"mode": mode, "function": policy.function, "layers": dict(layers or {})}

    def invocation() -> Invocation:
        return guard.invocation or current[0]

    def from_user_code() -> bool:
        frame = _getframe(2)
        while frame is not None:
            if frame.f_code.co_filename.startswith(task_dirs):
                return True
            frame = frame.f_back  # type: ignore[assignment]
        return False

    def findable(name: str) -> bool:
        """Whether an import of ``name`` could load anything (asks the other finders).

        Optional imports (``try: import awscrt except ImportError``) of modules that are not
        installed are no capability: they are let through to fail as usual instead of being
        learned as rules or reported as attacks. A module that does exist is checked.
        """
        parent, _, _ = name.rpartition(".")
        path = None
        if parent:
            package = sys.modules.get(parent)
            if package is None:
                # `import a.b` is audited before `a` is imported: a missing parent means
                # nothing can load; an existing one will be checked on its own.
                return findable(parent)
            path = getattr(package, "__path__", None)
            if path is None:
                return True  # let the import machinery decide; the check still applies
        # The finders as they were at install: a finder the function adds later cannot answer
        # "nothing here" to this question and then load the module anyway.
        for other in original_finders:
            find_spec = getattr(other, "find_spec", None)
            if find_spec is None:
                return True
            try:
                if find_spec(name, path) is not None:
                    return True
            except Exception:
                return True
        return False

    def decide(category: str, action: str, target: str, ph: str, detail: Any) -> bool:
        if allows(category, action, target, ph):
            return True
        if category == "network" and action in ("connect", "sendto") and detail:
            port = target.rsplit(":", 1)[1]
            for name in book.names(detail):
                if allows(category, action, f"{name}:{port}", ph):
                    return True
        return False

    def violate(
        category: str, action: str, target: str, ph: str, detail: Any, ceiling_hit: bool
    ) -> SandboxViolation | None:
        """Record or report; in enforce, return the error for the hook to raise.

        Returned, not raised here, so the function's traceback ends at the hook's one frame
        rather than running through the sandbox's internals.
        """
        inv = invocation()
        shown = target
        if category == "network" and action in ("connect", "sendto") and detail:
            names = book.names(detail)
            if names:
                shown = f"{target} ({names[-1]})"
        if learn and not ceiling_hit:
            assert recorder is not None
            learned = target
            if category == "network" and action in ("connect", "sendto") and detail:
                names = book.names(detail)
                if names:
                    learned = f"{names[-1]}:{target.rsplit(':', 1)[1]}"
            recorder.record(category, action, learned, ph, inv)
            return None
        hint = "" if ceiling_hit else _rule_hint(category, action, target, ph, roots)
        decision = "blocked" if enforce else "would-block"
        argv = None
        if category == "processes" and action == "exec":
            shown, *argv = target.split("\x1f")
            argv = [roots.symbolise_text(arg) for arg in argv]
        reporter.report(
            category=category,
            action=action,
            target=roots.to_symbolic(shown) if category in ("files", "native") else shown,
            argv=argv,
            decision=decision,
            rule=hint,
            phase=ph,
            invocation=inv,
            reason="denied by the ceiling" if ceiling_hit else "not in profile",
        )
        if not enforce:
            return None
        if on_violation == "exit":
            _exit(70)
        error = _ImportViolation if category == "modules" else _PermissionViolation
        return error(category, action, target, hint)

    def check(category: str, action: str, target: str, detail: Any) -> SandboxViolation | None:
        """The decision for one access; the error to raise when enforce blocks it."""
        ph = phase[0]
        key = (category, action, target, ph)
        verdict = cache.get(key)
        if verdict is True:
            return None
        if category == "network" and target == api_target:
            # The runtime's own calls to the Runtime API pass; the function's code may not.
            if not from_user_code():
                return None
            return violate(category, action, target, ph, detail, True)
        if ceiling(category, action, target):
            return violate(category, action, target, ph, detail, True)
        verdict = decide(category, action, target, ph, detail)
        if verdict:
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            cache[key] = True
            return None
        if category == "modules" and detail is None and not findable(target):
            # Nothing to load: it fails with ModuleNotFoundError as it would anyway. (A C
            # extension being loaded carries its file as detail and is always checked.)
            return None
        error = violate(category, action, target, ph, detail, False)
        if learn and not (category == "network" and action in ("connect", "sendto")):
            # Recorded once; from now on it is known.
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            cache[key] = True
        return error

    # ------------------------------------------------------------------ control channel

    def on_status(args: tuple[Any, ...]) -> None:
        if args and isinstance(args[0], list):
            args[0].append({**status, "phase": phase[0], "invocations": invocations[0]})

    def on_phase(args: tuple[Any, ...]) -> None:
        if args and args[0] == "invoke":
            phase[0] = "invoke"  # one way: nothing returns the process to init rules

    def on_invocation(args: tuple[Any, ...]) -> None:
        if invocations[0] == 0:
            reporter.end_invocation(current[0])  # init's findings have their own budget
        invocations[0] += 1
        request_id = args[0] if args and isinstance(args[0], str) else None
        who = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        inv = _Invocation(request_id, dict(who), invocations[0])
        guard.invocation = inv
        current[0] = inv
        if recorder is not None:
            recorder.begin_invocation()

    def on_invocation_end(args: tuple[Any, ...]) -> None:
        inv = invocation()
        reporter.end_invocation(inv)
        if recorder is not None:
            recorder.end_invocation(inv)
            recorder.flush()

    def on_flush(args: tuple[Any, ...]) -> None:
        if recorder is not None:
            recorder.flush()

    def on_setattr(args: tuple[Any, ...]) -> None:
        # Rewriting the hook's or the finder's code/defaults would disable them silently.
        if (
            len(args) >= 2
            and id(args[0]) in protected
            and args[1]
            in (
                "__code__",
                "__defaults__",
                "__kwdefaults__",
                "__class__",
                "find_spec",
            )
        ):
            # Refused in every mode: learning does not excuse disabling the sandbox.
            error = violate(
                "code", "tamper", f"{type(args[0]).__name__}.{args[1]}", phase[0], None, True
            )
            raise error or _PermissionViolation("code", "tamper", str(args[1]), "")

    control: dict[str, Callable[[tuple[Any, ...]], None]] = {
        "sandbox.status": on_status,
        "sandbox.phase": on_phase,
        "sandbox.invocation": on_invocation,
        "sandbox.invocation_end": on_invocation_end,
        "sandbox.flush": on_flush,
        "object.__setattr__": on_setattr,
    }

    decoders: dict[str, Callable[[tuple[Any, ...]], list[Access] | None]] = {
        event: frozen.get(id(decoder), decoder) for event, decoder in DECODERS.items()
    }
    compile_decoder = decoders.pop("compile")

    def on_compile(args: tuple[Any, ...]) -> list[Access] | None:
        # Source compiled during init is the import machinery and code generators
        # (namedtuple, dataclasses); during invoke it is eval/exec of strings.
        if phase[0] != "invoke":
            return None
        return compile_decoder(args)

    decoders["compile"] = on_compile
    dispatch: dict[str, Callable[[tuple[Any, ...]], Any]] = {**decoders, **control}
    get = dispatch.get

    def sandbox_audit_hook(event: str, args: tuple[Any, ...]) -> None:
        handler = get(event)
        if handler is None:
            return
        if guard.busy:
            return
        guard.busy = True
        try:
            accesses = handler(args)
            if accesses:
                for category, action, target, detail in accesses:
                    error = check(category, action, target, detail)
                    if error is not None:
                        raise error
        except _SandboxViolation:
            raise
        except Exception as exc:
            reporter.internal_error(event, exc, invocation())
            if enforce:
                raise _PermissionViolation("sandbox", "error", event, "") from exc
        finally:
            guard.busy = False

    class SandboxFinder:
        """First on ``sys.meta_path``: ``importlib.import_module`` raises no ``import`` event."""

        @staticmethod
        def find_spec(fullname: str, path: Any = None, target: Any = None) -> None:
            if guard.busy:
                return None
            guard.busy = True
            try:
                error = check("modules", "import", fullname, None)
            finally:
                guard.busy = False
            if error is not None:
                raise error
            return None

        @staticmethod
        def invalidate_caches() -> None:
            return None

    original_finders = tuple(sys.meta_path)
    finder = SandboxFinder()
    protected = {id(sandbox_audit_hook), id(SandboxFinder.find_spec), id(finder), id(SandboxFinder)}
    frozen.get(id(interpose), interpose)(book)
    sys.meta_path.insert(0, finder)
    sys.addaudithook(sandbox_audit_hook)
    return True


def _runtime_api_target(runtime_api: str | None) -> str | None:
    if not runtime_api or ":" not in runtime_api:
        return None
    host, _, port = runtime_api.rpartition(":")
    name = norm_host(host)
    return host_port(name, int(port)) if name and port.isdigit() else None


def mark_invoke_phase() -> None:
    """Switch the installed hook from init to invoke rules (one way)."""
    sys.audit("sandbox.phase", "invoke")


def begin_invocation(request_id: str | None, who: dict[str, Any]) -> None:
    sys.audit("sandbox.invocation", request_id, who)


def end_invocation() -> None:
    sys.audit("sandbox.invocation_end")
