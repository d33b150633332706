"""The hook's own copies of the runtime's modules: executed from their bytecode, published nowhere.

Code in the function can rebind any module global (``sandbox.runtime.paths.resolve = ...``), any
attribute of a class, any builtin, with no audit event. So the modules the hook runs
(:data:`HOOK_MODULES`) are not the importable ones: at install, before the function's code
loads, each is executed from its bytecode into a module object of its own that is never put
in ``sys.modules``, nor in any package's attributes. Importing ``sandbox.runtime.paths`` later
gives a different module, with different functions, classes and code objects: changing it
changes nothing the hook does (and in Lambda nothing imports it at all, which is why this is
cheaper than importing the modules and then copying them).

- Their imports of each other are answered by an ``__import__`` of the copies' own builtins
  (a private copy of ``builtins``, taken at install), so ``from .paths import resolve`` binds the
  private ``resolve``. Every other import is the interpreter's: the standard library, the
  native core's extension, and the runtime modules the hook does not run (``aws_calls``,
  ``kernel``, ``control``...) are the process's own modules, as before.
- :mod:`.errors` is the exception: the hook raises the sandbox's errors, and
  ``except sandbox.PermissionViolation`` must catch them, so its private copy keeps the
  importable *classes* (sealed by the native core at install) and copies only its functions
  (``build_violation`` makes an instance without running any code of the class's).
- Every class statement of the copies goes through the copies' ``__build_class__``: the class
  is made on an empty *anchor* class with the same bases (one anchor for every class with the
  same bases), so the only list of subclasses that names it is its anchor's. The native core
  takes it out of that list and seals both at install (``type.__subclasses__()``, with no audit event, would lead from ``object`` to a
  private class, and through its methods' ``__globals__`` to every private module).
- Both builtins go back to the interpreter's own when install ends (:meth:`PrivateRuntime.finish`):
  nothing of this module runs once the function's code does.

What this cannot do (as any Python-level hook): an object reached through the hook's frames or
``gc`` exposes the copies. The native core keeps the hook's frames out of reach and the
``introspect`` category refuses ``gc`` walks.

Where the code comes from: the bytecode bundle
----------------------------------------------

Install executes ~25 of the runtime's modules privately. From their ``.pyc`` files that is ~25
opens, reads, header checks and unmarshals, ~3.5 ms of every cold start; from one file it is
one of each. The bundle is a cache, as a ``.pyc`` is: it sits in the runtime package's
``__pycache__`` (``hook-modules.<cache tag>.bundle``), says which interpreter wrote it (the
import system's magic number), and is used only while it matches the sources, else ignored (the modules then load one by one, as before) and written again --
by a start that found every module's ``.pyc`` (one that compiled from source already would
compile everything twice).

Layout (little-endian)::

    magic (4) | flags (4) | length of the stamps (4) | zero (4) | stamps | codes

- ``flags`` bit 0: *unchecked* (the layer's, like its unchecked-hash ``.pyc``: ``/opt`` is
  read-only and a layer version immutable), the sources are not looked at; otherwise each
  source's ``st_mtime_ns`` and ``st_size`` must be the ones recorded.
- ``stamps``: marshalled ``((name, mtime_ns, size), ...)``, one per module, in the order the
  reader asks for them (a different list of modules: not used).
- ``codes``: marshalled ``((module code, *nested codes), ...)``, one tuple per module. Marshal
  keeps the identity of an object written twice, so each nested code object of the tuple *is*
  the one in its parent's constants: install gets the list of the sandbox's own code objects
  without walking every module's constants.

Docstrings are compiled out (``__doc__`` is ``None`` on the private copies; nothing reads it):
a fifth of the bytes. Line numbers are the source's.

This module imports the standard library only (no package-relative import at module level):
the layer build runs it by path in each Lambda Python (``runpy``), to write the layer's
unchecked bundle.
"""

from __future__ import annotations

import _imp  # (the import system's own modules, always loaded: they import everything else)
import builtins
import marshal
import os as _os
import sys
import types
from _frozen_importlib_external import MAGIC_NUMBER as _MAGIC
from _frozen_importlib_external import SourceFileLoader
from io import open_code as _open_code
from os import W_OK as _W_OK
from os import access as _access
from os import stat as _stat
from os.path import exists as _exists

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import CodeType
    from typing import Any

    from .call_time import Copies

__all__ = [
    "BUNDLED",
    "HOOK_MODULES",
    "UNCHECKED",
    "PrivateRuntime",
    "build_bundle",
    "bundle_path",
    "bundle_sources",
    "compile_stripped",
    "load",
    "nested_codes",
    "read_bundle",
]

# The modules the hook runs, relative to the runtime package: each is executed privately when
# first imported by another (or asked for by install). ``core_fallback`` loads only when the
# Python core is the hook's, ``recorder`` only in learn.
HOOK_MODULES = frozenset(
    {
        "",  # the runtime package itself
        "address_book",
        "categories",
        "child",
        "core",
        "core_fallback",
        "environ",
        "findings",
        "generalisation",
        "globs",
        "hook",
        "paths",
        "policy",
        "recorder",
        "regex_programs",
        "roots",
        "sealing",
        "sinks",
        "sqlite_guard",
        "values",
        "decoders",
        "decoders.aws",
        "decoders.code",
        "decoders.files",
        "decoders.modules",
        "decoders.native",
        "decoders.network",
        "decoders.processes",
        "decoders.shape",
    }
)
_PACKAGES = frozenset({"", "decoders"})
# The modules every install executes, whose code comes from one file (see the module docstring); the
# Python core's and learn's own modules load one by one, only when used.
BUNDLED = tuple(sorted(HOOK_MODULES - {"core_fallback", "recorder"}))
# Its classes are the importable ones, its functions copied (see the module docstring).
_ERRORS = "errors"

_CodeType = types.CodeType
_FunctionType = types.FunctionType
_ModuleType = types.ModuleType
_real_import = builtins.__import__
_real_build_class = builtins.__build_class__
_CACHE_TAG = sys.implementation.cache_tag
_int_from_bytes = int.from_bytes
_type = type
_len = len
UNCHECKED = 0b1  # a bundle's flag: never look at the sources (the layer's; see below)
_HEADER = 16
_marshal_loads = marshal.loads
_fix_co_filename = _imp._fix_co_filename  # type: ignore[attr-defined]


def _bytecode_as_imported() -> bool:
    """Whether cached bytecode is read here as the import system would in the common case:
    no ``PYTHONPYCACHEPREFIX``, no ``-O``, no ``--check-hash-based-pycs always`` (those go
    to the import system's own loader, module by module)."""
    return _pycache_prefix() is None and not _optimize() and _check_hashes() != "always"


def bundle_sources(directory: str) -> list[tuple[str, str]]:
    """``(name, source file)`` of each module of :data:`BUNDLED`, for the runtime package in
    ``directory``: what its bytecode bundle holds, in that order.

    Example
    -------
    >>> bundle_sources("/opt/python/_lambda_sandbox")[0]
    ('', '/opt/python/_lambda_sandbox/__init__.py')
    """
    return [(name, _source(directory, name)[1]) for name in BUNDLED]


def _source(directory: str, relative: str) -> tuple[str, str]:
    """The folder and source file of the runtime module ``relative`` (``""``: the package)."""
    parts = relative.split(".") if relative else []
    if relative in _PACKAGES:
        folder = "/".join([directory, *parts])
        return folder, folder + "/__init__.py"
    folder = "/".join([directory, *parts[:-1]])
    return folder, folder + "/" + parts[-1] + ".py"


def _pycache_prefix() -> str | None:
    return sys.pycache_prefix


def _optimize() -> int:
    return sys.flags.optimize


def _check_hashes() -> str:
    return _imp.check_hash_based_pycs


class PrivateRuntime:
    """The private copies of one install: modules, classes, code objects.

    Parameters
    ----------
    package : str
        The runtime package's name (``sandbox.runtime``; ``_lambda_sandbox`` in the layer).
    directory : str
        Its folder.
    """

    def __init__(self, package: str, directory: str) -> None:
        self.package = package
        self.directory = directory
        self.modules: dict[str, types.ModuleType] = {}  # relative name → private module
        # relative name → its module code, then every code object nested in it
        self.module_codes: dict[str, tuple[types.CodeType, ...]] = {}
        # (anchor, class) for every class a private module made: what install hides and seals
        self.classes: list[tuple[type, type]] = []
        self._anchors: dict[tuple[type, tuple[Any, ...]], type] = {}
        self.builtins: dict[str, Any] = dict(builtins.__dict__)
        self.builtins["__import__"] = self._import
        self.builtins["__build_class__"] = self._build_class
        errors = _real_import(package + "." + _ERRORS, None, None, ("__name__",), 0)
        # The importable error classes: the private errors keep them (see above), and install
        # seals them with the private classes.
        self.error_classes: tuple[type, ...] = tuple(
            value
            for value in vars(errors).values()
            if isinstance(value, type) and value.__module__ == errors.__name__
        )
        self.errors_codes: list[types.CodeType] = []
        self.errors: types.ModuleType = _functions_copied(errors, self.builtins, self.errors_codes)
        # The bundled modules' code, from one file (see the module docstring), when it is current.
        self.bundle: dict[str, tuple[types.CodeType, ...]] | None = None
        self.uncached = False  # whether a module loaded without a usable .pyc
        self.bundle_path: str | None = None
        if _bytecode_as_imported():
            self.bundle_path = bundle_path(directory)
            self.bundle = read_bundle(self.bundle_path, self._bundle_sources())

    # ------------------------------------------------------------------ loading

    def module(self, name: str) -> Any:
        """The private module ``name`` (relative to the package: ``"hook"``, ``"decoders.code"``),
        executed now if it was not yet."""
        return self._get(self.package + "." + name if name else self.package)

    def finish(self) -> None:
        """Give the copies the interpreter's own ``__import__`` and ``__build_class__`` back.

        Called when install ends, before the function's code runs: an import statement the
        hook's code runs later is the interpreter's, as for any code."""
        self.builtins["__import__"] = _real_import
        self.builtins["__build_class__"] = _real_build_class

    def _get(self, absolute: str) -> Any:
        package = self.package
        relative = "" if absolute == package else absolute[len(package) + 1 :]
        found = self.modules.get(relative)
        if found is not None:
            return found
        if relative == _ERRORS:
            module = self.errors
        elif relative in HOOK_MODULES:
            return self._execute(relative)
        else:
            # Not one the hook runs (the native core's extension, aws_calls, kernel...): the
            # process's own module.
            module = _real_import(absolute, None, None, ("__name__",), 0)
        parent, _, leaf = relative.rpartition(".")
        if relative:
            setattr(self._get(package + "." + parent if parent else package), leaf, module)
        return module

    def _execute(self, relative: str) -> types.ModuleType:
        package = self.package
        absolute = package + "." + relative if relative else package
        if relative:  # the parent package first, as the import system does
            parent = relative.rpartition(".")[0]
            self._get(package + "." + parent if parent else package)
            found = self.modules.get(relative)  # (the parent's own imports may have run it)
            if found is not None:
                return found
        is_package = relative in _PACKAGES
        folder, path = _source(self.directory, relative)
        loader = SourceFileLoader(absolute, path)
        codes = self.bundle.get(relative) if self.bundle is not None else None
        if codes is None:
            code = _cached_code(folder, path)
            if code is None:
                # (compiled from its source now, or read by the import system's own rules)
                self.uncached = True
                code = loader.get_code(absolute)
            if code is None:  # pragma: no cover - a source file always has code
                raise ImportError(f"lambda-sandbox: no code for {absolute}", name=absolute)
            codes = tuple(nested_codes(code))
        code = codes[0]
        module = _ModuleType(absolute)
        namespace = module.__dict__
        namespace["__file__"] = path
        namespace["__package__"] = absolute if is_package else absolute.rpartition(".")[0]
        namespace["__loader__"] = loader
        namespace["__builtins__"] = self.builtins
        if is_package:
            namespace["__path__"] = [folder]
        self.modules[relative] = module  # before running it: a cycle finds it (as sys.modules)
        self.module_codes[relative] = codes
        try:
            exec(code, namespace)
        except BaseException:
            del self.modules[relative]
            del self.module_codes[relative]
            raise
        if relative:
            parent, _, leaf = relative.rpartition(".")
            setattr(self._get(package + "." + parent if parent else package), leaf, module)
        return module

    def _import(
        self,
        name: str,
        globals: dict[str, Any] | None = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        """``__import__`` for the private copies: the runtime's modules from the copies."""
        if level:
            base = (globals or {}).get("__package__") or ""
            if level > 1:
                base = base.rsplit(".", level - 1)[0]
            absolute = base + "." + name if name else base
        else:
            absolute = name
        package = self.package
        if not fromlist or (absolute != package and not absolute.startswith(package + ".")):
            # (every import inside the runtime package is relative, with names: `from . import x`)
            return _real_import(name, globals, locals, fromlist, level)
        module = self._get(absolute)
        namespace = module.__dict__
        for item in fromlist:
            # (the namespace, not hasattr: a missing name's AttributeError is formatted, and
            # most names asked for are submodules not yet run: ~250 at every install)
            if item != "*" and item not in namespace:
                try:
                    self._get(absolute + "." + item)
                except ModuleNotFoundError as exc:
                    if exc.name != absolute + "." + item:
                        raise
                    # (no such module: `from x import name` reports the missing name itself)
        return module

    def _build_class(self, body: Any, name: str, *bases: Any, **keywords: Any) -> type:
        """``__build_class__`` for the private copies: each class made on an anchor (see above)."""
        metaclass = keywords.pop("metaclass", None)
        if metaclass is None:
            metaclass = type
            for base in bases:
                if issubclass(type(base), metaclass):
                    metaclass = type(base)
        # One anchor per (metaclass, bases) when the class statement has no keyword: a class
        # costs ~20 us to make at every cold start, and an anchor needs nothing of its class's.
        key = (metaclass, bases) if not keywords else None
        anchor = self._anchors.get(key) if key is not None else None
        if anchor is None:
            anchor = metaclass(
                "_anchor" if key is not None else name,
                bases or (object,),
                {"__slots__": (), "__module__": body.__globals__.get("__name__")},
                **keywords,
            )
            if key is not None:
                self._anchors[key] = anchor
        cls: type = _real_build_class(body, name, anchor, metaclass=metaclass, **keywords)
        self.classes.append((anchor, cls))
        return cls

    # ------------------------------------------------------------------ what install needs

    def codes(self) -> tuple[types.CodeType, ...]:
        """Every code object of the copies (their modules' and all nested ones), by identity,
        and the private errors' functions'."""
        out: list[types.CodeType] = list(self.errors_codes)
        for codes in self.module_codes.values():
            out += codes
        return tuple(out)

    def save_bundle(self) -> bool:
        """Write the bundle of :data:`BUNDLED` when the one found was not current (or none was),
        as the import system writes a ``.pyc``: not under ``-B``/``PYTHONDONTWRITEBYTECODE``,
        nor in a folder this process cannot write to, nor when a module loaded so far had no
        usable ``.pyc`` (that start compiled from source already). ``True`` when written.

        Called by install before the hook exists (its writes are no decision)."""
        path = self.bundle_path
        if self.bundle is not None or path is None or sys.dont_write_bytecode:
            return False
        if self.uncached:
            # A module had no usable .pyc: this start compiled from source already (a fresh
            # copy of the sources). Compiling all of them again for the bundle would double
            # that; the next start, with the .pyc files the import system wrote, writes it.
            return False
        folder = path.rpartition("/")[0]
        if not _access(folder if _exists(folder) else self.directory, _W_OK):
            return False  # (a read-only install, /opt in Lambda: nothing compiled for nothing)
        try:
            build_bundle(path, self._bundle_sources())
        except (OSError, SyntaxError, ValueError):
            return False  # (the modules load one by one, as they did this time)
        return True

    def _bundle_sources(self) -> list[tuple[str, str]]:
        return bundle_sources(self.directory)

    def as_copies(self) -> Copies:
        """The copies as :func:`.call_time.verify` reads them (for the tests)."""
        from .call_time import Copies

        view = Copies()
        errors_space = self.errors.__dict__
        view.modules[id(self.errors)] = self.errors
        view.snapshots[id(errors_space)] = errors_space
        view.made[id(errors_space)] = list(self.errors_codes)
        for value in errors_space.values():
            if type(value) is _FunctionType and value.__globals__ is errors_space:
                view.copies[id(value)] = value
        for relative, module in self.modules.items():
            namespace = module.__dict__
            view.modules[id(module)] = module
            view.snapshots[id(namespace)] = namespace
            view.made[id(namespace)] = list(self.module_codes[relative])
            for value in namespace.values():
                kind = type(value)
                if (kind is _FunctionType and value.__globals__ is namespace) or (
                    isinstance(value, type) and value.__module__ == namespace["__name__"]
                ):
                    view.copies[id(value)] = value
                elif kind is dict:  # dispatch tables: functions made by factories at import
                    for item in value.values():
                        if type(item) is _FunctionType and item.__globals__ is namespace:
                            view.copies[id(item)] = item
        return view


def _functions_copied(
    module: types.ModuleType, builtins_copy: dict[str, Any], made: list[types.CodeType]
) -> types.ModuleType:
    """A private module with ``module``'s globals, each of its own functions re-created on
    them with code objects of their own (appended to ``made``); its classes stay the same."""
    private = _ModuleType(module.__name__, module.__doc__)
    space = private.__dict__
    space.update(module.__dict__)
    space["__builtins__"] = builtins_copy
    for name, value in list(space.items()):
        if type(value) is _FunctionType and value.__globals__ is module.__dict__:
            copy = _FunctionType(
                _renewed(value.__code__, made), space, value.__name__, value.__defaults__
            )
            copy.__kwdefaults__ = value.__kwdefaults__
            copy.__qualname__ = value.__qualname__
            space[name] = copy
    return private


def _renewed(code: types.CodeType, made: list[types.CodeType]) -> types.CodeType:
    """A distinct copy of ``code`` and of every code object nested in it (all added to ``made``)."""
    consts = tuple(_renewed(c, made) if type(c) is _CodeType else c for c in code.co_consts)
    fresh = code.replace(co_consts=consts)
    made.append(fresh)
    return fresh


def _cached_code(folder: str, path: str) -> types.CodeType | None:
    """The code of the source file ``path`` from its ``.pyc``, when that is valid as the import
    system would judge it in the common case (else ``None``: the import system's own loader
    then reads, or compiles and caches, as for any import).

    The same checks as ``SourceFileLoader.get_code`` in the cases it takes here: the
    interpreter's magic number; a timestamp ``.pyc`` whose recorded mtime and size are the
    source's; a hash-based one only when unchecked (the layer's). Anything else -- a checked
    hash, ``--check-hash-based-pycs``, ``PYTHONPYCACHEPREFIX``, ``-O`` -- goes to the loader.
    (Its Python steps cost ~30 µs per module; ~25 modules load at every cold start.)
    """
    if not _bytecode_as_imported():
        return None
    leaf = path[len(folder) + 1 : -3]
    try:
        with _open_code(folder + "/__pycache__/" + leaf + "." + _CACHE_TAG + ".pyc") as handle:
            data = handle.read()
    except OSError:
        return None
    if len(data) < 16 or data[:4] != _MAGIC:
        return None
    flags = _int_from_bytes(data[4:8], "little")
    if flags & 0b1:  # hash-based: only the unchecked kind is taken without its source
        if flags & 0b10 and _check_hashes() != "never":
            return None
    elif flags == 0:
        try:
            source = _stat(path)
        except OSError:
            return None
        if (
            _int_from_bytes(data[8:12], "little") != int(source.st_mtime) & 0xFFFFFFFF
            or _int_from_bytes(data[12:16], "little") != source.st_size & 0xFFFFFFFF
        ):
            return None
    else:
        return None
    try:
        code = _marshal_loads(memoryview(data)[16:])
    except (EOFError, ValueError, TypeError):
        return None
    if type(code) is not _CodeType:
        return None
    _fix_co_filename(code, path)  # (as the import system: the layer's bytecode names /opt)
    return code


def load(package: str, directory: str) -> PrivateRuntime:
    """A new set of private copies of the runtime package ``package`` (folder ``directory``).

    Nothing is executed yet: :meth:`PrivateRuntime.module` executes a module and those it imports.

    Example
    -------
    >>> runtime = load("sandbox.runtime", "/path/to/sandbox/runtime")  # doctest: +SKIP
    >>> runtime.module("hook") is sys.modules.get("sandbox.runtime.hook")  # doctest: +SKIP
    False
    """
    return PrivateRuntime(package, directory)


# ---------------------------------------------------------------- the bytecode bundle


def bundle_path(directory: str) -> str:
    """Where the bundle of the runtime package in ``directory`` is, for this interpreter.

    Example
    -------
    >>> bundle_path("/opt/python/_lambda_sandbox").endswith(".bundle")
    True
    """
    return f"{directory}/__pycache__/hook-modules.{sys.implementation.cache_tag}.bundle"


def _read_rest(handle: Any, offset: int) -> Any:
    """What is marshalled in ``handle``'s file from ``offset`` (where it stands) to its end.

    Through the native core's ``unmarshal_file`` where it loads: it maps the file instead of
    copying ~450 KB into fresh memory first (~110 page faults at every cold start). The choice
    of core is core.py's (the bundle is read before that module runs), made again here; a
    handle with no descriptor (an ``io.open_code`` hook's) is read."""
    unmarshal_file = _native_unmarshal_file()
    if unmarshal_file is not None:
        try:
            fd = handle.fileno()
        except (OSError, ValueError):
            pass
        else:
            return unmarshal_file(fd, offset)
    return _marshal_loads(handle.read())


def _native_unmarshal_file() -> Any:
    if _os.environ.get("SANDBOX_NATIVE", "").strip().lower() in ("off", "0", "false", "no"):
        return None
    try:
        from . import _core  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(_core, "unmarshal_file", None)  # (a stale build may lack it)


def read_bundle(
    path: str, sources: Sequence[tuple[str, str]]
) -> dict[str, tuple[CodeType, ...]] | None:
    """The code of each module ``(name, source path)`` of ``sources``, from the bundle at
    ``path``: ``{name: (module code, *nested codes)}``, each module code's file name set to its
    source's. ``None`` when there is no usable bundle: absent, unreadable, another interpreter's,
    another list of modules, a source changed since (checked bundles), damaged.

    Example
    -------
    >>> read_bundle("/nonexistent/hook-modules.bundle", [("paths", "/nonexistent/paths.py")]) is None
    True
    """
    try:
        with _open_code(path) as handle:
            head = handle.read(_HEADER)
            if _len(head) < _HEADER or head[:4] != _MAGIC:
                return None
            flags = _int_from_bytes(head[4:8], "little")
            end = _HEADER + _int_from_bytes(head[8:12], "little")
            stamps = _marshal_loads(handle.read(end - _HEADER))
            if _type(stamps) is not tuple or _len(stamps) != _len(sources):
                return None
            for stamp, (name, source) in zip(stamps, sources, strict=True):
                if _type(stamp) is not tuple or _len(stamp) != 3 or stamp[0] != name:
                    return None
                if not flags & UNCHECKED:
                    found = _stat(source)
                    if stamp[1] != found.st_mtime_ns or stamp[2] != found.st_size:
                        return None
            codes = _read_rest(handle, end)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if _type(codes) is not tuple or _len(codes) != _len(sources):
        return None
    out: dict[str, tuple[CodeType, ...]] = {}
    for module_codes, (name, source) in zip(codes, sources, strict=True):
        if _type(module_codes) is not tuple or not module_codes:
            return None
        for code in module_codes:
            if _type(code) is not _CodeType:
                return None
        # (as the import system does for a .pyc: the layer's bundle names /opt)
        _fix_co_filename(module_codes[0], source)
        out[name] = module_codes
    return out


def build_bundle(
    path: str,
    sources: Sequence[tuple[str, str]],
    *,
    shown: Sequence[str] | None = None,
    unchecked: bool = False,
) -> None:
    """Compile each module ``(name, source path)`` of ``sources`` (docstrings out) and write
    their bundle to ``path``, atomically (a temporary file renamed over it).

    Parameters
    ----------
    shown : sequence of str, optional
        The file name each code object records, per source (the layer's: ``/opt/python/...``);
        default the source's path.
    unchecked : bool
        Write an unchecked bundle (the layer's): its readers never look at the sources.

    Raises
    ------
    OSError
        A source cannot be read, or the folder written (the caller goes on without a bundle).
    SyntaxError
        A source does not compile.
    """
    stamps = []
    codes = []
    for index, (name, source) in enumerate(sources):
        # Stamped before it is read: a source changed while compiling is found stale next time.
        found = _stat(source)
        stamps.append((name, 0, 0) if unchecked else (name, found.st_mtime_ns, found.st_size))
        codes.append(tuple(nested_codes(compile_stripped(source, shown[index] if shown else None))))
    head = marshal.dumps(tuple(stamps))
    body = marshal.dumps(tuple(codes))
    data = b"".join(
        (
            _MAGIC,
            (UNCHECKED if unchecked else 0).to_bytes(4, "little"),
            _len(head).to_bytes(4, "little"),
            bytes(4),
            head,
            body,
        )
    )
    _os.makedirs(_os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{_os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as out:
            out.write(data)
        _os.replace(temporary, path)
    except BaseException:
        try:
            _os.unlink(temporary)
        except OSError:
            pass
        raise


def compile_stripped(source: str, shown: str | None = None) -> CodeType:
    """The module code of the file ``source``, its docstrings compiled out, recording ``shown``
    (default ``source``) as its file name.

    Compiled at optimisation level 2, which also drops ``assert`` statements and ``if
    __debug__:`` blocks: the bundled modules have neither (tested), so only their docstrings go.

    Example
    -------
    >>> import inspect
    >>> "__doc__" in compile_stripped(inspect.getfile(compile_stripped)).co_names
    False
    """
    with _open_code(source) as handle:
        text = handle.read()
    code: CodeType = compile(text, shown or source, "exec", dont_inherit=True, optimize=2)
    return _lines_only(code)


# Since 3.11 a code object's location table holds each instruction's line and columns (the
# carets under a traceback's line); the columns are two fifths of it, a fifth of the bundle,
# and the bundle's code is never shown with carets (no traceback leaves the hook with its
# frames). Kept: the lines, in the table's "no column" entries (what -X no_debug_ranges
# writes, runs of one line merged).
_NO_COLUMNS, _NO_LOCATION = 13, 15


def _lines_only(code: CodeType) -> CodeType:
    """``code`` and every code nested in it with a location table of lines only (3.11 and
    later: 3.10 keeps no columns).

    Example
    -------
    >>> code = compile("x = 1\\nif x:\\n    y = [x\\n         for _ in 'ab']", "<m>", "exec")
    >>> lines = _lines_only(code)
    >>> [p[0] for p in lines.co_positions()] == [p[0] for p in code.co_positions()]
    True
    >>> {p[2] for p in lines.co_positions()}
    {None}
    """
    if sys.version_info < (3, 11):  # (no location table: nothing to strip)
        return code
    consts = tuple(_lines_only(c) if _type(c) is _CodeType else c for c in code.co_consts)
    lines = [position[0] for position in code.co_positions()]  # (one per code unit)
    table = bytearray()
    previous = code.co_firstlineno
    start = 0
    while start < len(lines):
        line = lines[start]
        end = start + 1
        while end < len(lines) and end - start < 8 and lines[end] == line:
            end += 1
        if line is None:
            table.append(0x80 | _NO_LOCATION << 3 | (end - start - 1))
        else:
            table.append(0x80 | _NO_COLUMNS << 3 | (end - start - 1))
            delta = line - previous
            _varint(table, (-delta) << 1 | 1 if delta < 0 else delta << 1)  # (signed)
            previous = line
        start = end
    return code.replace(co_consts=consts, co_linetable=bytes(table))


def _varint(table: bytearray, value: int) -> None:
    """Append ``value`` as the location table's varint: 6 bits a byte, bit 6 set when more
    follow."""
    while value >= 64:
        table.append(0x40 | (value & 63))
        value >>= 6
    table.append(value)


def nested_codes(code: CodeType) -> list[CodeType]:
    """``code`` and every code object nested in it (functions, classes, comprehensions...),
    breadth first, each once.

    Example
    -------
    >>> len(nested_codes(compile("def f(): return lambda: 1", "<f>", "exec")))
    3
    """
    out = [code]
    for current in out:  # (the list grows while walked)
        out += [c for c in current.co_consts if _type(c) is _CodeType]
    return out
