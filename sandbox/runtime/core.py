"""The audit hook's core: the native ``_core`` extension, or its pure-Python fallback.

``KIND`` says which one is active: ``"native"`` unless the extension cannot be loaded for this
interpreter or ``SANDBOX_NATIVE=off`` is set; ``LOAD_ERROR`` says why not (``None`` when
native). Both implement the same contract (``docs/NATIVE.md``); only the native one keeps its
state out of Python's reach.

The choice is made once, at import, by module-level code (no function here: nothing for the
hook's freezing to copy, nothing that reaches a module at call time).
"""

from __future__ import annotations

from os import environ as _environ

__all__ = [
    "KIND",
    "LOAD_ERROR",
    "cache_add",
    "cache_clear",
    "cache_has",
    "caller_local",
    "changes",
    "changes_elsewhere",
    "compile_name",
    "compile_to_tree",
    "compile_verdict_add",
    "content_digest",
    "core_dumps_off",
    "defer_quiet_ends",
    "deployment_folder",
    "deployment_rules",
    "descriptor_hold",
    "descriptors_pinned",
    "dir_module_verdict_add",
    "dir_verdict_add",
    "end_needed",
    "ends_deferred",
    "enter_invoke",
    "exec_verdict_add",
    "expect_unicodedata",
    "file_identity",
    "file_is",
    "forgotten",
    "fork_exec_sealed",
    "frame_local",
    "hide_copies",
    "hold",
    "import_known",
    "inside",
    "install",
    "installed",
    "loaded_sources",
    "mode",
    "module_bytecode_rules",
    "module_exec_rules",
    "module_packages_add",
    "module_verdict_add",
    "network_verdict_add",
    "open_cache_add",
    "open_cache_clear",
    "open_cache_forget",
    "open_cache_validate",
    "pattern_verdict_add",
    "phase",
    "plain_identity",
    "popen_verdict_add",
    "request_env",
    "resolved_path",
    "seal_clock",
    "seal_compilers",
    "seal_extensions",
    "seal_fork_exec",
    "seal_library_files",
    "seal_marshal",
    "seal_process_calls",
    "seal_resolvers",
    "seal_socket_addresses",
    "seal_spawn_env",
    "seal_sqlite",
    "seal_types",
    "sem_sealed",
    "shm_sealed",
    "sqlite_authorizer",
    "sqlite_companions_add",
    "sqlite_open_guard",
    "ssl_sealed",
    "syntax_classes",
    "type_versions",
    "unmarshal_file",
    "unmarshal_renames_to",
    "unmarshal_sealed",
    "warnings_settled",
]

KIND: str
LOAD_ERROR: str | None
if _environ.get("SANDBOX_NATIVE", "").strip().lower() in ("off", "0", "false", "no"):
    from . import core_fallback as _impl

    KIND, LOAD_ERROR = "python", "SANDBOX_NATIVE=off"
else:
    try:
        from . import _core as _impl  # type: ignore[attr-defined, no-redef]
    except ImportError as _exc:
        from . import core_fallback as _impl

        KIND, LOAD_ERROR = "python", f"{type(_exc).__name__}: {_exc}"
        del _exc
    else:
        KIND, LOAD_ERROR = "native", None
        # An object built from an older source (a stale build left beside the package) lacks
        # functions this module binds: the fallback then, saying why, never a failed import.
        _missing = [name for name in __all__[2:] if not hasattr(_impl, name)]
        if _missing:
            from . import core_fallback as _impl

            KIND, LOAD_ERROR = "python", "stale native core (no " + ", ".join(_missing) + ")"
        del _missing

install = _impl.install
content_digest = _impl.content_digest
core_dumps_off = _impl.core_dumps_off
unmarshal_file = _impl.unmarshal_file
resolved_path = _impl.resolved_path
mode = _impl.mode
phase = _impl.phase
enter_invoke = _impl.enter_invoke
cache_has = _impl.cache_has
cache_add = _impl.cache_add
cache_clear = _impl.cache_clear
open_cache_add = _impl.open_cache_add
dir_verdict_add = _impl.dir_verdict_add
dir_module_verdict_add = _impl.dir_module_verdict_add
pattern_verdict_add = _impl.pattern_verdict_add
exec_verdict_add = _impl.exec_verdict_add
popen_verdict_add = _impl.popen_verdict_add
compile_verdict_add = _impl.compile_verdict_add
changes = _impl.changes
changes_elsewhere = _impl.changes_elsewhere
descriptor_hold = _impl.descriptor_hold
descriptors_pinned = _impl.descriptors_pinned
module_verdict_add = _impl.module_verdict_add
network_verdict_add = _impl.network_verdict_add
module_packages_add = _impl.module_packages_add
import_known = _impl.import_known
open_cache_clear = _impl.open_cache_clear
open_cache_forget = _impl.open_cache_forget
open_cache_validate = _impl.open_cache_validate
inside = _impl.inside
hold = _impl.hold
file_identity = _impl.file_identity
file_is = _impl.file_is
frame_local = _impl.frame_local
caller_local = _impl.caller_local
plain_identity = _impl.plain_identity
forgotten = _impl.forgotten
defer_quiet_ends = _impl.defer_quiet_ends
request_env = _impl.request_env
end_needed = _impl.end_needed
ends_deferred = _impl.ends_deferred
loaded_sources = _impl.loaded_sources
seal_fork_exec = _impl.seal_fork_exec
seal_types = _impl.seal_types
syntax_classes = _impl.syntax_classes
warnings_settled = _impl.warnings_settled
expect_unicodedata = _impl.expect_unicodedata
type_versions = _impl.type_versions
hide_copies = _impl.hide_copies
sqlite_authorizer = _impl.sqlite_authorizer
seal_spawn_env = _impl.seal_spawn_env
seal_socket_addresses = _impl.seal_socket_addresses
seal_process_calls = _impl.seal_process_calls
seal_resolvers = _impl.seal_resolvers
seal_clock = _impl.seal_clock
seal_compilers = _impl.seal_compilers
seal_extensions = _impl.seal_extensions
seal_library_files = _impl.seal_library_files
seal_marshal = _impl.seal_marshal
unmarshal_sealed = _impl.unmarshal_sealed
unmarshal_renames_to = _impl.unmarshal_renames_to
module_bytecode_rules = _impl.module_bytecode_rules
deployment_folder = _impl.deployment_folder
deployment_rules = _impl.deployment_rules
module_exec_rules = _impl.module_exec_rules
compile_name = _impl.compile_name
compile_to_tree = _impl.compile_to_tree
seal_sqlite = _impl.seal_sqlite
sqlite_companions_add = _impl.sqlite_companions_add
sqlite_open_guard = _impl.sqlite_open_guard
ssl_sealed = _impl.ssl_sealed
shm_sealed = _impl.shm_sealed
sem_sealed = _impl.sem_sealed
fork_exec_sealed = _impl.fork_exec_sealed
installed = _impl.installed
