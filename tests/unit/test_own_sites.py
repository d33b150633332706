"""The sandbox's own sites (``hook.OWN_SITES``): each names a function that exists.

A pair that names no code object fails closed at run time (the event is decided as the
function's, the core call refused), so a renamed function would show up as false refusals;
this test names the entry instead.
"""

from __future__ import annotations

import importlib
import types

from sandbox.runtime import hook


def _runtime_codes() -> tuple[types.CodeType, ...]:
    # The modules the table names (the bootstrap, which starts the runtime client, is not one)
    found: list[types.CodeType] = []
    pending: list[types.CodeType] = []
    for module_file in {module for _, module, _ in hook.OWN_SITES}:
        name = "sandbox.runtime." + module_file.removesuffix(".py").replace("/", ".")
        module = importlib.import_module(name)
        values = list(vars(module).values())
        values += [
            member
            for value in list(values)
            if isinstance(value, type) and value.__module__ == name
            for member in vars(value).values()
        ]
        for value in values:
            function = getattr(value, "fget", None) or getattr(value, "__func__", value)
            if isinstance(function, types.FunctionType) and function.__module__ == name:
                pending.append(function.__code__)
    while pending:
        code = pending.pop()
        if code not in found:
            found.append(code)
            pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return tuple(found)


def test_every_own_site_names_a_function_of_the_runtime() -> None:
    # GIVEN the runtime's code objects (the frozen copies have the same names and files)
    codes = _runtime_codes()
    # WHEN the table is resolved against them
    pairs = hook.own_site_pairs(codes)
    # THEN every entry found at least one code object of that name in that module file
    resolved = {(name, code.co_name, code.co_filename) for name, code in pairs}
    for name, module, function in hook.OWN_SITES:
        assert any(
            n == name and f == function and filename.endswith("/" + module)
            for n, f, filename in resolved
        ), (name, module, function)


def test_own_sites_name_only_the_events_and_calls_the_sandbox_makes() -> None:
    # GIVEN the table WHEN listing its names THEN no command, network or process event is
    # among them: the sandbox's own functions never raise one inside the callback
    names = {name for name, _, _ in hook.OWN_SITES}
    assert not {
        n
        for n in names
        if n.startswith(
            ("subprocess", "os.exec", "os.posix_spawn", "os.system", "socket.", "ctypes")
        )
    }
    calls = {n for n in names if n.startswith("core.")}
    assert calls <= {
        "core.enter_invoke",
        "core.cache_add",
        "core.loaded_sources",
        "core.forgotten",
        "core.exec_verdict_add",
        "core.popen_verdict_add",
        "core.module_verdict_add",
        "core.module_packages_add",
        "core.compile_verdict_add",
        "core.network_verdict_add",
        "core.open_cache_add",
        "core.dir_verdict_add",
        "core.sqlite_companions_add",
        "core.defer_quiet_ends",
        "core.ends_deferred",
        "core.end_needed",
        "core.request_env",
        "core.dir_module_verdict_add",
        "core.pattern_verdict_add",
        "core.file_is",
        "core.unmarshal_renames_to",
        "core.deployment_folder",
    }
