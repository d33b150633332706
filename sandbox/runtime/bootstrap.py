"""Layer entry point: the handler ``_lambda_sandbox.bootstrap.handler`` that the wrapper substitutes.

Importing this module (which the Lambda runtime does through ``importlib.import_module``)
installs the sandbox from the environment, then imports the function's own handler
(``SANDBOX_ORIGINAL_HANDLER``) under the hook — the init phase. The first call to
:func:`handler` switches to the invoke phase; every call tells the hook the request id and the
event source, and re-raises the function's errors untouched.

Without the exec wrapper, set the function's handler to ``_lambda_sandbox.bootstrap.handler`` and
``SANDBOX_ORIGINAL_HANDLER`` to the real one.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from .config import Config
from .event_source import event_source
from .install import install

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from typing import Any

    Handler = Callable[[Any, Any], Any]


def _fault(kind: str, message: str) -> Exception:
    """The runtime client's own error type, so Lambda reports ``Runtime.ImportModuleError`` etc."""
    try:
        from awslambdaric.lambda_runtime_exception import FaultException
    except ImportError:  # pragma: no cover - every supported runtime ships awslambdaric
        return RuntimeError(f"{kind}: {message}")
    return FaultException(getattr(FaultException, kind), message)  # type: ignore[no-any-return]


def load_handler(spec: str | None) -> Handler:
    """Import ``module.function`` as the Lambda runtime would, with its error types."""
    if not spec:
        raise _fault(
            "MALFORMED_HANDLER_NAME", "Bad handler '': SANDBOX_ORIGINAL_HANDLER is not set"
        )
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise _fault("MALFORMED_HANDLER_NAME", f"Bad handler '{spec}': {exc}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise _fault(
            "BUILT_IN_MODULE_CONFLICT",
            f"Cannot use built-in module {module_name} as a handler module",
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise _fault(
            "IMPORT_MODULE_ERROR", f"Unable to import module '{module_name}': {exc}"
        ) from None
    except SyntaxError as exc:
        raise _fault(
            "USER_CODE_SYNTAX_ERROR", f"Syntax error in module '{module_name}': {exc}"
        ) from None
    try:
        function: Handler = getattr(module, function_name)
    except AttributeError:
        raise _fault(
            "HANDLER_NOT_FOUND", f"Handler '{function_name}' missing on module '{module_name}'"
        ) from None
    return function


_invoked = [False]


def handler(
    event: Any,
    context: Any,
    _audit: Callable[..., None] = sys.audit,
    _event_source: Callable[[Any], dict[str, Any]] = event_source,
) -> Any:
    """Run the function's handler under the sandbox (invoke phase).

    The control events are raised here, in this function's own code: the hook honours them
    only from it, so the function cannot forge a request id or an event source for findings.
    """
    if not _invoked[0]:
        _invoked[0] = True
        _audit("sandbox.phase", "invoke")
    _audit("sandbox.invocation", getattr(context, "aws_request_id", None), _event_source(event))
    try:
        return _user_handler(event, context)
    finally:
        _audit("sandbox.invocation_end")


def _load_failed(_audit: Callable[..., None] = sys.audit) -> None:
    """The function's module did not load: the runtime will post the init error itself."""
    _audit("sandbox.init_failed")


_config = Config.from_env()
_status = install(config=_config, control=(handler, _load_failed))
if _status.get("mode", "off") != "off":
    # Lambda's code directory is read-only: don't let the import system try to write
    # bytecode there (each attempt would be a file write the profile has to explain).
    sys.dont_write_bytecode = True
try:
    _user_handler = load_handler(_config.original_handler)
except BaseException:
    _load_failed()
    raise
