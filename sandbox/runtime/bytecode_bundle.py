"""The hook's modules' bytecode in one file: one read and one unmarshal at install.

Install executes ~25 of the runtime's modules privately (:mod:`.private_modules`). From their
``.pyc`` files that is ~25 opens, reads, header checks and unmarshals, ~3.5 ms of every cold
start; from one file it is one of each. The bundle is a cache, as a ``.pyc`` is: it sits in
the runtime package's ``__pycache__`` (``hook-modules.<cache tag>.bundle``), says which
interpreter wrote it (the import system's magic number), and is used only while it matches
the sources, else ignored (the modules then load one by one, as before) and written again.

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

Standard library only, no package-relative import: the layer build runs this file by path in
each Lambda Python (``runpy``), to write the layer's unchecked bundle.
"""

from __future__ import annotations

import _imp
import marshal
import os
import sys
import types
from _frozen_importlib_external import MAGIC_NUMBER
from io import open_code

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cold start)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import CodeType

__all__ = ["UNCHECKED", "build", "bundle_path", "compile_stripped", "nested_codes", "read"]

UNCHECKED = 0b1
_HEADER = 16
_CodeType = types.CodeType
_type = type
_len = len
_int_from_bytes = int.from_bytes
_fix_co_filename = _imp._fix_co_filename  # type: ignore[attr-defined]


def bundle_path(directory: str) -> str:
    """Where the bundle of the runtime package in ``directory`` is, for this interpreter.

    Example
    -------
    >>> bundle_path("/opt/python/_lambda_sandbox").endswith(".bundle")
    True
    """
    return f"{directory}/__pycache__/hook-modules.{sys.implementation.cache_tag}.bundle"


def read(path: str, sources: Sequence[tuple[str, str]]) -> dict[str, tuple[CodeType, ...]] | None:
    """The code of each module ``(name, source path)`` of ``sources``, from the bundle at
    ``path``: ``{name: (module code, *nested codes)}``, each module code's file name set to its
    source's. ``None`` when there is no usable bundle: absent, unreadable, another interpreter's,
    another list of modules, a source changed since (checked bundles), damaged.

    Example
    -------
    >>> read("/nonexistent/hook-modules.bundle", [("paths", "/nonexistent/paths.py")]) is None
    True
    """
    try:
        with open_code(path) as handle:
            data = handle.read()
    except OSError:
        return None
    if _len(data) < _HEADER or data[:4] != MAGIC_NUMBER:
        return None
    flags = _int_from_bytes(data[4:8], "little")
    end = _HEADER + _int_from_bytes(data[8:12], "little")
    view = memoryview(data)
    try:
        stamps = marshal.loads(view[_HEADER:end])
        if _type(stamps) is not tuple or _len(stamps) != _len(sources):
            return None
        for stamp, (name, source) in zip(stamps, sources, strict=True):
            if _type(stamp) is not tuple or _len(stamp) != 3 or stamp[0] != name:
                return None
            if not flags & UNCHECKED:
                found = os.stat(source)
                if stamp[1] != found.st_mtime_ns or stamp[2] != found.st_size:
                    return None
        codes = marshal.loads(view[end:])
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


def build(
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
        found = os.stat(source)
        stamps.append((name, 0, 0) if unchecked else (name, found.st_mtime_ns, found.st_size))
        codes.append(tuple(nested_codes(compile_stripped(source, shown[index] if shown else None))))
    head = marshal.dumps(tuple(stamps))
    body = marshal.dumps(tuple(codes))
    data = b"".join(
        (
            MAGIC_NUMBER,
            (UNCHECKED if unchecked else 0).to_bytes(4, "little"),
            _len(head).to_bytes(4, "little"),
            bytes(4),
            head,
            body,
        )
    )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def compile_stripped(source: str, shown: str | None = None) -> CodeType:
    """The module code of the file ``source``, its docstrings compiled out, recording ``shown``
    (default ``source``) as its file name.

    Compiled at optimisation level 2, which also drops ``assert`` statements: the bundled
    modules have none (tested), so only their docstrings go.

    Example
    -------
    >>> import inspect
    >>> "__doc__" in compile_stripped(inspect.getfile(compile_stripped)).co_names
    False
    """
    with open_code(source) as handle:
        text = handle.read()
    code: CodeType = compile(text, shown or source, "exec", dont_inherit=True, optimize=2)
    return code


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
