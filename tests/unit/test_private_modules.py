"""``private_modules``: the hook's modules run as private copies, never the importable ones.

Loading copies installs nothing (no audit hook): these tests run in the test process itself.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterator

import pytest

import sandbox
from sandbox.runtime import private_modules
from sandbox.runtime.call_time import verify
from sandbox.runtime.hook import INSTALL_TIME

RUNTIME = os.path.dirname(private_modules.__file__)


@pytest.fixture
def runtime() -> Iterator[private_modules.PrivateRuntime]:
    loaded = private_modules.load("sandbox.runtime", RUNTIME)
    yield loaded
    loaded.finish()


def _load_all(runtime: private_modules.PrivateRuntime) -> None:
    for name in sorted(private_modules.HOOK_MODULES):
        runtime.module(name)


def test_every_hook_module_reaches_only_private_copies_at_call_time(
    runtime: private_modules.PrivateRuntime,
) -> None:
    # GIVEN private copies of every module the hook runs (both cores' and learn's recorder)
    _load_all(runtime)
    # WHEN they are verified as a freezing's result would be
    # THEN no function outside the install-time ones looks a module up at call time: each
    # binds what it calls at import (the check install made at every start, kept here)
    verify(runtime.as_copies(), install_time=INSTALL_TIME)


def test_the_copies_are_not_the_importable_modules(runtime: private_modules.PrivateRuntime) -> None:
    # GIVEN the importable paths module, and the private copies
    from sandbox.runtime import paths

    private_paths = runtime.module("paths")
    # WHEN both are compared
    # THEN they are distinct objects all the way down (module, functions, code objects), and
    # no copy is in sys.modules or an attribute of the importable package
    assert private_paths is not paths
    assert private_paths.resolve is not paths.resolve
    assert private_paths.resolve.__code__ is not paths.resolve.__code__
    assert private_paths.resolve.__globals__ is private_paths.__dict__
    assert all(module is not private_paths for module in list(sys.modules.values()))
    assert getattr(sys.modules["sandbox.runtime"], "paths", None) is not private_paths


def test_the_copies_import_each_other_privately(runtime: private_modules.PrivateRuntime) -> None:
    # GIVEN the private hook
    hook = runtime.module("hook")
    # WHEN its imports of the runtime's modules are looked at
    # THEN each is the private copy (relative imports, `from . import x` and `from .x import y`)
    assert hook.paths is runtime.module("paths")
    assert hook.core is runtime.module("core")
    assert hook.lookup is runtime.module("values").lookup
    assert runtime.module("decoders").code is runtime.module("decoders.code")


def test_modules_the_hook_does_not_run_are_the_processes_own(
    runtime: private_modules.PrivateRuntime,
) -> None:
    # GIVEN the private hook, which imports the control functions and the runtime package
    hook = runtime.module("hook")
    # WHEN a module outside HOOK_MODULES is imported by a copy
    from sandbox.runtime import control

    # THEN it is the process's own module (the control functions' code is the caller's)
    assert hook.mark_invoke_phase is control.mark_invoke_phase
    assert hook.DEFAULT_CONTROL is control.DEFAULT_CONTROL


def test_the_errors_keep_the_importable_classes_and_copy_the_functions(
    runtime: private_modules.PrivateRuntime,
) -> None:
    # GIVEN the private errors
    from sandbox.runtime import errors as importable

    errors = runtime.module("errors")
    # WHEN the hook builds a refusal, and the function catches it
    made = errors.build_violation(errors.PermissionViolation, "files", "read", "/secret")
    # THEN its class is the importable one (the function catches what it imports), while the
    # function that built it is the hook's copy, on globals of its own (rebinding the
    # importable module's helpers reaches nothing the hook runs: red team 42)
    assert errors.PermissionViolation is sandbox.PermissionViolation
    assert type(made) is sandbox.PermissionViolation
    assert errors.build_violation is not importable.build_violation
    assert errors.build_violation.__globals__ is errors.__dict__
    assert errors.build_violation.__code__ is not importable.build_violation.__code__
    assert set(runtime.error_classes) >= {sandbox.PermissionViolation, sandbox.SandboxError}
    with pytest.raises(sandbox.PermissionViolation):
        raise made


def test_each_private_class_is_listed_only_under_its_empty_anchor(
    runtime: private_modules.PrivateRuntime,
) -> None:
    # GIVEN the private policy module's classes
    policy = runtime.module("policy")
    pairs = {cls: anchor for anchor, cls in runtime.classes}
    # WHEN a class is looked at
    cls = policy.Policy
    anchor = pairs[cls]
    # THEN its only base is its anchor, which holds no function (nothing to walk to), and only
    # the anchor lists it (what the native core takes out at install)
    assert cls.__bases__ == (anchor,)
    assert not [v for v in vars(anchor).values() if isinstance(v, types.FunctionType)]
    assert cls in type.__subclasses__(anchor)
    assert cls not in object.__subclasses__()
    # (and the class behaves as written: its own methods, its slots)
    assert cls.__name__ == "Policy" and "prepare" in vars(cls)


def test_finish_gives_the_interpreters_imports_back(
    runtime: private_modules.PrivateRuntime,
) -> None:
    # GIVEN copies that were loaded
    runtime.module("hook")
    # WHEN install finishes
    runtime.finish()
    # THEN their builtins import and build classes as the interpreter does
    import builtins

    assert runtime.builtins["__import__"] is builtins.__import__
    assert runtime.builtins["__build_class__"] is builtins.__build_class__


def test_a_module_that_fails_to_load_leaves_no_half_copy(tmp_path: os.PathLike[str]) -> None:
    # GIVEN a runtime folder whose hook module raises while it runs
    folder = os.path.join(os.fspath(tmp_path), "rt")
    os.mkdir(folder)
    with open(os.path.join(folder, "__init__.py"), "w") as out:
        out.write("")
    with open(os.path.join(folder, "hook.py"), "w") as out:
        out.write("raise RuntimeError('broken')\n")
    runtime = private_modules.load("sandbox.runtime", folder)
    # WHEN it is loaded
    with pytest.raises(RuntimeError, match="broken"):
        runtime.module("hook")
    # THEN the error surfaces and nothing half-run is kept
    assert "hook" not in runtime.modules
    runtime.finish()
