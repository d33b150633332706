"""Run by ``site`` at the start of every Python child of a protected function: install the sandbox first.

The sandbox puts this directory first on ``PYTHONPATH`` (``child.prepare_environment``), so a
child that inherits the environment imports this module before any code of its own runs. It

1. loads the runtime package (the directory above this one) under its private name
   ``_lambda_sandbox`` (as the layer ships it; in a development install the same files are
   ``sandbox.runtime``, loaded here once more under the private name);
2. calls its ``install()``, which reads ``SANDBOX_MODE``, ``SANDBOX_PROFILE`` and ``SANDBOX_PHASE``
   from the environment: same profile, mode and phase as the parent. The child's sandbox
   writes its JSON lines (``sandbox.start``, findings, observations) to the child's stderr,
   never into its stdout, which is often the child's result -- unless that stderr is not
   where the parent reports (``stderr=DEVNULL``, ``capture_output=True``): then to the
   parent's report stream, opened through ``/proc/<pid>/fd`` (``SANDBOX_REPORT``), and in
   enforce a child that can reach neither exits 70 (``_report_fd``);
3. runs the next ``sitecustomize`` on ``sys.path`` (a distribution's or the function's own),
   under the sandbox now;
4. fails closed: in ``enforce`` (or with a mode it cannot read) a child whose sandbox cannot be
   installed prints the error to stderr and exits with status 70: it never runs unprotected;
   in ``learn``/``alert`` (and ``off``) it reports the error on stderr and goes on.

The file is written in syntax that every Python since 2.7 can compile (ASCII only, no
annotations, no f-strings; type comments for the checker): an interpreter older than the runtime supports
reaches step 4 and fails closed, instead of failing to compile this file, which ``site``
would report and then run the child unprotected.

This directory must hold nothing but this file: every entry in it shadows a module of that
name in every child.
"""

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Callable  # noqa: F401 (the type comments use them)
    from types import ModuleType  # noqa: F401

RUNTIME_NAME = "_lambda_sandbox"
FAIL_CLOSED_STATUS = 70  # EX_SOFTWARE, as the hook's on_violation=exit uses
OLDEST_PYTHON = (3, 10)  # the runtime's own minimum
_HERE = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_DIR = os.path.dirname(_HERE)


def _say(message):
    # type: (str) -> None
    """To fd 2 directly: ``sys.stderr`` may not be set up, or replaced, this early."""
    line = "lambda-sandbox (child " + str(os.getpid()) + "): " + message + "\n"
    try:
        os.write(2, line.encode("utf-8", "replace"))
    except Exception:
        pass


def load_runtime():
    # type: () -> ModuleType
    """The runtime package under ``_lambda_sandbox``: the one already loaded from here, or loaded now."""
    init = os.path.join(_PACKAGE_DIR, "__init__.py")
    existing = sys.modules.get(RUNTIME_NAME)
    existing_file = getattr(existing, "__file__", None)
    if (
        existing is not None
        and existing_file
        and os.path.realpath(existing_file) == os.path.realpath(init)
    ):
        return existing
    import importlib.util

    # Anything under the name from elsewhere (a stale or planted module) is replaced.
    for name in [n for n in sys.modules if n == RUNTIME_NAME or n.startswith(RUNTIME_NAME + ".")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        RUNTIME_NAME, init, submodule_search_locations=[_PACKAGE_DIR]
    )
    if spec is None or spec.loader is None:
        raise ImportError("cannot load the sandbox runtime from " + _PACKAGE_DIR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[RUNTIME_NAME] = module  # before exec: its relative imports look it up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(RUNTIME_NAME, None)
        raise
    return module


def install_sandbox():
    # type: () -> dict[str, object]
    """Install the sandbox in this child from its environment; the start status."""
    if sys.version_info < OLDEST_PYTHON:
        raise RuntimeError(
            "Python "
            + ".".join(str(part) for part in sys.version_info[:3])
            + " is older than the sandbox supports (3.10)"
        )
    import importlib

    load_runtime()
    install_module = importlib.import_module(RUNTIME_NAME + ".install")
    try:
        target = _report_fd()
    except RuntimeError as exc:
        if (os.environ.get("SANDBOX_MODE") or "").strip().lower() not in ("learn", "alert"):
            raise  # enforce: main() fails closed, with the reason on this child's stderr
        _say(str(exc) + " (learn/alert: its records go to its own stderr)")
        target = 2
    restore = _records_to_stderr(target)
    try:
        status = install_module.install()  # type: dict[str, object]
    finally:
        restore()
    return status


def _identity(fd):
    # type: (int) -> tuple[int, int] | None
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _proc_fd(pid, fd):
    # type: (int, int) -> str
    return "/proc/" + str(pid) + "/fd/" + str(fd)


def _report_fd():
    # type: () -> int
    """The descriptor this child's records go to: its stderr, or its parent's report stream.

    The parent chooses the child's stderr (``stderr=DEVNULL``, ``capture_output=True``, fd 2
    put over /dev/null before a ``multiprocessing`` start), so the child's refusals cannot
    simply go there. The parent's sandbox passes ``SANDBOX_REPORT`` (``pid:fd:dev:ino:dev2:ino2``,
    decided like the other ``SANDBOX_*`` variables): when fd 2 is that stream (``dev:ino``) or
    the first sandbox's stderr (``dev2:ino2``), the records go to fd 2 as they always did.
    Otherwise the parent's stream is opened as ``/proc/<pid>/fd/<fd>`` (the parent's pid, then
    this process's parent's: a pipe or a file of the same user; ``O_APPEND``: the parent made
    a file's description append too) and kept only when it is that stream. When neither can
    be reached (no /proc, another user, a socket, the parent gone) this raises: ``main``
    fails closed in enforce; learn and alert report on stderr and go on.
    """
    value = os.environ.get("SANDBOX_REPORT") or ""
    parts = value.split(":")
    if len(parts) != 6 or not all(part.isdigit() for part in parts):
        return 2  # a parent without a report stream of its own (or an older sandbox)
    pid, fd, dev, ino, dev2, ino2 = [int(part) for part in parts]
    if _identity(2) in ((dev, ino), (dev2, ino2)):
        return 2
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    errors = []
    for owner in (pid, os.getppid()):
        try:
            opened = os.open(_proc_fd(owner, fd), flags)
        except OSError as exc:
            errors.append(_proc_fd(owner, fd) + ": " + str(exc.strerror))
            continue
        if _identity(opened) == (dev, ino):
            return opened
        os.close(opened)
        errors.append(_proc_fd(owner, fd) + ": another file")
    raise RuntimeError(
        "this child's stderr is not its parent's report stream, and that stream cannot be "
        "reached (" + "; ".join(errors) + "): its refusals would go unreported"
    )


def _records_to_stderr(target=2):
    # type: (int) -> Callable[[], None]
    """Point fd 1 at ``target`` (stderr) while ``install()`` takes its private duplicate of "stdout".

    A child's stdout is often its result (``check_output([sys.executable, ...])``, the AWS
    CLI's JSON): the sandbox's own lines must not be mixed into it. Its records go to the
    child's stderr instead (in Lambda, CloudWatch as well), or to its parent's report stream
    (``_report_fd``). Returns the function that puts fd 1 back as it was (closed, if it was
    closed), and closes ``target`` if it was opened for this.
    """
    try:
        saved = os.dup(1)
    except OSError:
        saved = -1  # no stdout at all
    try:
        os.dup2(target, 1)
    except OSError:  # no stderr either: leave fd 1 as it is
        if saved >= 0:
            os.close(saved)
        return lambda: None

    def restore():
        # type: () -> None
        if saved >= 0:
            os.dup2(saved, 1)
            os.close(saved)
        else:
            os.close(1)
        if target > 2:
            os.close(target)

    return restore


def chain_next_sitecustomize():
    # type: () -> ModuleType | None
    """Run the ``sitecustomize`` that this one shadows (the next on ``sys.path``), if any."""
    from importlib.machinery import PathFinder
    from importlib.util import module_from_spec

    here = os.path.realpath(_HERE)
    rest = [p for p in sys.path if isinstance(p, str) and os.path.realpath(p or ".") != here]
    spec = PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return None
    module = module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # as site.py treats its own sitecustomize: report, go on
        _say("error in " + str(spec.origin) + ": " + type(exc).__name__ + ": " + str(exc))
    return module


def main():
    # type: () -> ModuleType | None
    """Install, then chain; exit 70 instead of running unprotected in enforce."""
    mode = (os.environ.get("SANDBOX_MODE") or "off").strip().lower()
    try:
        install_sandbox()
    except BaseException as exc:  # whatever it is, the child must not run unprotected
        reason = type(exc).__name__ + ": " + str(exc)
        if mode not in ("off", "learn", "alert"):
            _say("the sandbox could not be installed, not running unprotected: " + reason)
            os._exit(FAIL_CLOSED_STATUS)
        _say("the sandbox could not be installed (" + mode + ": going on): " + reason)
    try:
        return chain_next_sitecustomize()
    except Exception as exc:  # an interpreter too old for importlib.util: nothing to chain
        _say("the next sitecustomize was not run: " + type(exc).__name__ + ": " + str(exc))
        return None


_chained = main()
