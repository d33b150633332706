"""Code: evaluated source, module code run outside the finders, hand-built code, and the hook's own safety.

- ``compile`` of source (``eval``/``exec``/``compile``, an AST included) is decided by its call
  site, ``{task}/app.py:handler``: the filename the caller *claims* does not count, except for
  the import system compiling a module file (then it is the file, and ``modules`` decides).
- ``exec`` of a module's code object (``co_name == "<module>"``) is decided by the module's file
  and the module name it implies: ``spec_from_file_location`` + ``exec_module`` skip every
  finder, but not this.
- ``code.__new__``/``function.__new__`` (``types.CodeType``, ``code.replace``) and ``marshal.loads``
  outside the import system build code that never went through ``compile``: ``construct`` and
  ``unmarshal``, decided by site.
- The standard library evaluating type annotations is a class of its own, allowed in every
  phase without a rule, and only for what annotations are: ``typing.ForwardRef`` (3.10-3.13),
  ``annotationlib.ForwardRef`` and ``get_annotations(eval_str=True)`` (3.14),
  ``inspect.get_annotations`` compile a string only when it is an *annotation expression*
  (:func:`annotation_expression`: names, attributes, subscripts, calls, constants, ``|``; no
  dunder name, no ``lambda``, no ``eval``/``getattr``/``globals``...); any other source there is
  decided by the site like any compile. ``annotationlib.call_annotate_function`` (3.14: the
  ``FORWARDREF``/``STRING`` formats) may build a function from a compiler-generated
  ``__annotate__`` code object (not one of the sandbox's): no source, code that was compiled
  already; any other code object there is ``construct``.
- ``sys.addaudithook`` (``hook``: a later hook runs between the sandbox's decision and the
  operation), ``gc.get_objects``/``get_referrers``/``get_referents``, ``sys._current_frames``
  and ``sys._current_exceptions`` (``introspect``: the ways to reach another object's or
  thread's state), ``sys.settrace``,
  ``sys.setprofile`` and ``sys.monitoring`` callbacks (``trace``) are capabilities of their own.

During init, compiling code is what the import system and the code generators
(``namedtuple``, ``dataclasses``) do: only invoke decides ``compile``, ``exec`` and
``function.__new__`` (see the hook). Building code by hand and unmarshalling bytes are decided
in every phase: the interpreter does not verify bytecode, and code made at init is kept.
"""

from __future__ import annotations

import sys
from os import stat as _stat
from stat import S_ISDIR as _S_ISDIR

from ..categories import UNDECODABLE
from ..core import compile_name as _compile_name
from ..core import compile_to_tree as _compile_to_tree
from ..core import deployment_folder as _core_deployment_folder
from ..core import file_is as _file_is
from ..core import frame_local as _frame_local
from ..core import phase as _phase
from ..core import unmarshal_renames_to as _unmarshal_renames_to
from ..core import unmarshal_sealed as _unmarshal_sealed
from ..paths import absolute as _absolute
from ..paths import realpath as _realpath
from ..values import as_text, code_text
from .shape import features as _features

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType, FrameType
    from typing import Any

    Access = tuple[str, str, str, Any]

_type = type
_str = str
_len = len
_getframe = sys._getframe
_str_startswith = str.startswith
_str_endswith = str.endswith
_str_rpartition = str.rpartition
_str_replace = str.replace
_str_split = str.split
_str_join = str.join
_str_encode = str.encode
_bytes = bytes
_open = open
# A module file's size up to which the import system's compile of it is checked against it.
MAX_MODULE = 8 * 1024 * 1024
_str_partition = str.partition
_str_isdigit = str.isdigit
_getattr = getattr
_id = id
_CodeType = _type((lambda: None).__code__)

# Filled at install (hook.py): the sandbox's own code objects, whose frames are never a site,
# and the import system's code objects that compile and unmarshal module files.
OWN_CODES: tuple[CodeType, ...] = ()
# The same, by identity (code objects compare by value: an original function's code equals its
# frozen copy's, and only the copy is the sandbox's own).
OWN_IDS: frozenset[int] = frozenset()
IMPORT_CODES: frozenset[int] = frozenset()  # ids (identity, not equality, counts)
# importlib's _compile_bytecode (its code's id): the one frame from which marshal.loads is the
# import system unmarshalling the `data` it holds (from get_code, marshal is called through
# what that frame's `self` hands it -- any C callable, with any bytes: red team 55).
COMPILE_BYTECODE_CODES: frozenset[int] = frozenset()
# zipimport's unmarshal of a module's bytecode from an archive (its code's id): bytes no file
# holds as they are, never verified -- no rule may allow them (see _module_bytecode).
ZIP_UNMARSHAL_CODES: frozenset[int] = frozenset()
# importlib's _call_with_frames_removed: what called it decides.
TRAMPOLINE_CODES: frozenset[int] = frozenset()
# The import system's and the traceback machinery's readers (linecache, tokenize.open).
MACHINERY_CODES: frozenset[int] = frozenset()
SOURCE_READER_CODES: frozenset[int] = frozenset()  # linecache.updatecache, tokenize.open
# importlib's functions that may stand between _find_and_load and the read of a module file
# (_find_and_load_unlocked, _load_unlocked, exec_module, get_code, get_data...), and
# _find_and_load itself, whose `name` is the module being imported.
IMPORT_CHAIN_CODES: frozenset[int] = frozenset()
FIND_AND_LOAD_CODES: frozenset[int] = frozenset()
# Source files of modules the import system loaded, whose lines a traceback may show: as
# resolved when read for an import after install, and (``__file__`` as given) those loaded
# before it.
LOADED_SOURCES: set[str] = set()
LOADED_FILES: frozenset[str] = frozenset()
# Directories whose module files imply a module name: {task}, site-packages, stdlib, /opt/python.
MODULE_ROOTS: tuple[str, ...] = ()
MODULE_PREFIXES: tuple[str, ...] = ()  # each root + "/": one startswith call tests them all
IMPORT_ROOTS: tuple[str, ...] = ()  # sys.path at install and at init's end, module roots
# IMPORT_ROOTS as install found them (init's end adds the folders sys.path holds then: the
# function may have put one of its temp dir's there): see extension_at_home.
INSTALL_IMPORT_ROOTS: tuple[str, ...] = ()
# Folders whose names only the deployment sets (see name_is_steady): each such folder + "/",
# filled at install (hook.steady_prefixes): the roots but {tmp}, INSTALL_IMPORT_ROOTS and the
# system's own folders, less any that is a temp dir or holds one.
STEADY_PREFIXES: tuple[str, ...] = ()
# The profile's `files write` matchers, every phase (policy.write_matchers, at install): a
# name one of them matches is one the function may change (name_writable).
WRITE_MATCHERS: tuple[Any, ...] = ()
# The system's own folders: a link such as /lib -> usr/lib is the image's.
SYSTEM_PREFIXES = ("/usr/", "/lib/", "/lib32/", "/lib64/", "/libx32/", "/bin/", "/sbin/", "/etc/")
# The function's own code ({task}): its eval/exec sites are decided by shape too (shape.py).
SHAPE_ROOTS: tuple[str, ...] = ()
# The action of a compile at such a site whose text no reading parses; its detail is what the
# parser raised (shape.features): never a rule's action, never learned.
UNPARSED = "unparsed"
# The feature of a compile of a syntax tree (not text) at such a site.
SYNTAX_TREE = "syntax-tree"
_list = list
# The standard library's annotation evaluators (sites, filled at install from {stdlib}): where a
# compile of an annotation expression, and a function built from an ``__annotate__`` code
# object, are the annotation machinery's own work (module docstring).
ANNOTATION_COMPILE_SITES: frozenset[str] = frozenset()
ANNOTATE_CALL_SITES: frozenset[str] = frozenset()
# The stdlib files and qualified names of those sites (3.10 has no co_qualname: bare names;
# before 3.12 a comprehension is a function of its own).
ANNOTATION_COMPILERS = (
    "typing.py:ForwardRef.__init__",
    "typing.py:__init__",
    "annotationlib.py:ForwardRef.__forward_code__",
    "annotationlib.py:__forward_code__",
    "annotationlib.py:get_annotations",
    "inspect.py:get_annotations",
    "inspect.py:get_annotations.<locals>.<dictcomp>",
    "inspect.py:<dictcomp>",
)
ANNOTATE_CALLERS = ("annotationlib.py:call_annotate_function",)
# The standard library's parsers that compile to a syntax tree only (sites, filled at install
# from {stdlib}): ``ast.parse`` takes its flags from its module's global ``PyCF_ONLY_AST``, and
# calls ``compile`` by a name its module or the builtins answer, both of which the function can
# rebind with no event (0: a code object, run by exec; a C callable that hands compile() other
# flags). A compile there that does not parse to a tree only (core.compile_to_tree: the flags
# compile() was given) is not the parser's work, and is decided as a site of its own
# (``…:parse#code``).
AST_ONLY_SITES: frozenset[str] = frozenset()
AST_PARSERS = ("ast.py:parse",)
_NOT_AST = "#code"
# The interpreter's own ``-c`` command (``python -c COMMAND``: a Python child's, such as
# multiprocessing's spawn worker): compiled with no Python frame, as the bytes of COMMAND and a
# newline (filled at install from ``sys.orig_argv``). Any other compile with no Python frame
# (a thread started straight into ``exec``/``compile``: ``_thread.start_new_thread(exec, ...)``)
# gets a site of its own, never the command's.
COMMAND_SOURCES: frozenset[bytes] = frozenset()
_FRAMELESS_SITE = "<no frame>:<no frame>"
_int = int
# namedtuple's site (filled at install from {stdlib}): what it compiles is its __new__, a lambda
# over the field names, which it passes through its module's ``_sys.intern`` -- a global the
# function can rebind (or make a C callable, ``partial(exec, ...)``, that runs at this very
# site) after the names were checked. Only that template with identifiers is namedtuple's work;
# any other source there is the site ``…:namedtuple#other``.
NAMEDTUPLE_SITES: frozenset[str] = frozenset()
NAMEDTUPLE_MAKERS = ("collections/__init__.py:namedtuple",)
_NAMEDTUPLE_HEAD = "lambda _cls, "
_NAMEDTUPLE_MIDDLE = ": _tuple_new(_cls, ("
_NAMEDTUPLE_TAIL = "))"
_NOT_NAMEDTUPLE = "#other"
_str_isidentifier = str.isidentifier
_bytes_decode = bytes.decode
_str_find = str.find
# Syntax an annotation expression may use (features of shape.py; operators do not count), and
# names it may not: the builtins that run code or reach any attribute by a string.
_ANNOTATION_SYNTAX = frozenset(
    {
        "Attribute",
        "BinOp",
        "Call",
        "Constant",
        "List",
        "Name",
        "Slice",
        "Starred",
        "Subscript",
        "Tuple",
        "UnaryOp",
        "keyword",
    }
)
_NOT_IN_ANNOTATIONS = frozenset(
    {
        "breakpoint",
        "compile",
        "delattr",
        "eval",
        "exec",
        "getattr",
        "globals",
        "locals",
        "setattr",
        "vars",
    }
)
_ANNOTATE = "__annotate__"


def _norm(filename: str) -> str:
    """A frame's file as an absolute, ``.``-free path (3.10 keeps ``/a/./b.py``)."""
    if _str_startswith(filename, "<") or not _str_startswith(filename, "/"):
        return filename
    parts: list[str] = []
    for part in _str_split(filename, "/"):
        if not part or part == ".":
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + _str_join("/", parts)


def caller_frame(depth: int = 1) -> FrameType | None:
    """The innermost frame that is not the sandbox's own code."""
    try:
        frame: FrameType | None = _getframe(depth + 1)
    except ValueError:  # a shallow stack (a thread started straight into C code)
        return None
    own = OWN_IDS
    while frame is not None and _id(frame.f_code) in own:
        frame = frame.f_back
    return frame


_NO_SITE = "<unknown>:<unknown>"
# _norm's answers by exact str file name (a pure function of it), for the eval/exec sites.
_NORMED: dict[str, str] = {}
_NORMED_LIMIT = 1024
_dict_get = dict.get


def caller_site(depth: int = 1) -> str:
    """``/path/file.py:qualname`` of the innermost frame outside the sandbox."""
    frame = caller_frame(depth + 1)
    if frame is None:
        return _NO_SITE
    code = frame.f_code
    name = code_text(_getattr(code, "co_qualname", code.co_name))
    return _norm(code_text(code.co_filename)) + ":" + name


def importing(frame: FrameType | None) -> str | None:
    """The module name a real import is loading, if ``frame`` is the import system's own
    reader called by it: every frame from ``frame`` up to ``_find_and_load`` must be importlib's
    (a loader or finder of the function's in between — its own ``get_data`` call included —
    is not the import system reading a module file)."""
    while frame is not None:
        code_id = _id(frame.f_code)
        if code_id in FIND_AND_LOAD_CODES:
            name = _frame_local(frame, "name")
            return name if _type(name) is _str else None
        if code_id not in IMPORT_CHAIN_CODES and code_id not in TRAMPOLINE_CODES:
            return None
        frame = frame.f_back
    return None


def file_is_module(path: str, name: str) -> bool:
    """Whether ``path`` is a file that module ``name`` loads from: ``…/a/b.py``, ``…/a/b/__init__.py``
    or their ``__pycache__/….<tag>.pyc`` (``a.b``). The name's dotted path must end the file's."""
    directory, _, leaf = _str_rpartition(path, "/")
    if _str_endswith(directory, "/__pycache__"):
        directory = directory[: -_len("/__pycache__")]
    stem = _str_split(leaf, ".", 1)[0]
    tail = "/" + _str_replace(name, ".", "/")
    if stem == "__init__":
        return _str_endswith(directory, tail)
    return _str_endswith(directory + "/" + stem, tail)


def module_file_at_root(path: str, name: str) -> bool:
    """Whether ``path`` is where the import system finds module ``name``'s own file: under an
    import root (``sys.path`` at install, the module roots), at ``<root>/a/b.<suffix>`` or
    ``<root>/a/b/__init__.<suffix>`` for ``a.b`` (not merely a file whose name ends like the
    module's)."""
    directory, _, leaf = _str_rpartition(path, "/")
    if _str_endswith(directory, "/__pycache__") and _str_endswith(leaf, ".pyc"):
        directory = directory[: -_len("/__pycache__")]
    stem = _str_split(leaf, ".", 1)[0]
    place = directory if stem == "__init__" else directory + "/" + stem
    tail = "/" + _str_replace(name, ".", "/")
    return any(place == root + tail for root in IMPORT_ROOTS)


def extension_at_home(path: str, name: str) -> bool:
    """Whether the C extension file ``path`` is module ``name``'s own file
    (``<root>/a/b.<suffix>`` for ``a.b``) where the import system finds it by that name: at an
    import root as install found it (``sys.path`` then, the module roots). Not a folder only
    ``sys.path`` named since: the temp dir is the function's to write, and a shared object
    written there loads under any name as well as under its own (red team 51: a second copy
    of the sandbox's own core, ``_ctypes`` under an allowed package's name). Nor any folder
    below a root: a package's extension there is some other module's file, and under a name
    that ends like its path it loaded as an allowed module (red team 54: scipy's
    ``io._fast_matrix_market._fmm_core`` as the standard library's ``io`` package, the
    interpreter's ``site-packages`` being a folder of ``{stdlib}``). Nor a file whose name, or the name of a folder
    on the way to it from that folder, a ``files write`` rule of the profile matches (a local
    profile that lets the function write into its own task folder).

    Example
    -------
    >>> extension_at_home("/nowhere/a/b.so", "a.b")  # (no roots outside the hook)
    False
    """
    if not _dotted_name(name):
        return False  # (no module's own file: "", ".x", "x.", "x..y", "x/y" name none)
    directory, _, leaf = _str_rpartition(path, "/")
    stem = _str_split(leaf, ".", 1)[0]
    if not stem:
        return False  # (".<suffix>": the file of no module)
    place = directory if stem == "__init__" else directory + "/" + stem
    tail = "/" + _str_replace(name, ".", "/")
    if not _str_endswith(place, tail):
        return False
    folder = place[: _len(place) - _len(tail)]
    if folder not in INSTALL_IMPORT_ROOTS:
        return False
    if WRITE_MATCHERS:
        # Nor a file the function may have put there since: no name from the root down to
        # the file is one a `files write` rule matches (it could be removed, or renamed, and
        # another put in its place).
        here = path
        while _len(here) > _len(folder):
            if name_writable(here):
                return False
            here = _str_rpartition(here, "/")[0]
    return True


def _dotted_name(name: str) -> bool:
    """Whether ``name`` is a module's dotted name: parts that are not empty, no ``/``."""
    return bool(name) and "/" not in name and "" not in _str_split(name, ".")


def name_is_steady(name: str) -> bool:
    """Whether the name ``name`` (a link, or a folder a ``..`` walks back over) is the
    deployment's, not the function's to change: it is in the root folder, a folder install
    trusts (the module roots, the interpreter's prefix, the import roots as install found them,
    the system's own folders) or one below such a folder -- never a temp dir or a folder
    holding one -- and no ``files write`` rule of the profile matches it (the function may
    remove or rename it, and put a link in its place). A steady name leads where it led at
    the decision when the loader follows it a moment later.

    Example
    -------
    >>> name_is_steady("/tmp/x"), name_is_steady("/tmp/x/y")
    (False, False)
    """
    folder = _str_rpartition(name, "/")[0]
    if folder and not (STEADY_PREFIXES and _str_startswith(folder + "/", STEADY_PREFIXES)):
        return False
    return not name_writable(name)


def name_writable(name: str) -> bool:
    """Whether a ``files write`` rule of the profile, in either phase, matches ``name``: the
    function may make, remove, rename or link it.

    Example
    -------
    >>> name_writable("/srv/x")  # (no rules outside the hook)
    False
    """
    return any(matcher.match(name) for matcher in WRITE_MATCHERS)


# sys.pycache_prefix as it was at import (PYTHONPYCACHEPREFIX, -X pycache_prefix): bytecode is
# then kept under it, at the source folder's path, not in a __pycache__ beside the source.
# (Read once: the function can rebind sys.pycache_prefix later.)
_PYCACHE_PREFIX = sys.pycache_prefix if _type(sys.pycache_prefix) is _str else None


def unprefixed(path: str) -> str:
    """A bytecode file kept under ``sys.pycache_prefix`` (``<prefix>/<source folder>/b.<tag>.pyc``)
    as the path of the folder it stands for (``<source folder>/b.<tag>.pyc``); any other path
    as it is. :func:`module_file_at_root` then finds it at the module's place.

    Example
    -------
    >>> unprefixed("/srv/app/b.py")
    '/srv/app/b.py'
    """
    prefix = _PYCACHE_PREFIX
    if prefix and _str_startswith(path, prefix + "/") and _str_endswith(path, ".pyc"):
        return path[_len(prefix) :]
    return path


def add_import_roots(entries: list[Any]) -> None:
    """At the end of init (the hook's phase change, before any event data): the folders
    ``sys.path`` holds then join the import roots, resolved -- a vendored folder the function's
    init put there is where its later imports find their files. Only exact absolute ``str``
    entries that are folders; nothing of anyone's runs."""
    global IMPORT_ROOTS
    found = set(IMPORT_ROOTS)
    for entry in entries[:256]:
        if _type(entry) is not _str or not _str_startswith(entry, "/"):
            continue
        resolved = _realpath(entry)
        if resolved is None or resolved in found:
            continue
        try:
            if _S_ISDIR(_stat(resolved).st_mode):
                found.add(resolved)
        except (OSError, ValueError):
            continue
    IMPORT_ROOTS = tuple(sorted(found))


def module_source(path: str) -> str:
    """The source file of a module file: ``…/__pycache__/b.<tag>.pyc`` → ``…/b.py``."""
    directory, _, leaf = _str_rpartition(path, "/")
    if _str_endswith(directory, "/__pycache__") and _str_endswith(leaf, ".pyc"):
        return directory[: -_len("/__pycache__")] + "/" + _str_split(leaf, ".", 1)[0] + ".py"
    return path


def _import_system_frame(depth: int = 2) -> FrameType | None:
    """The import system's frame that compiles or unmarshals (one of IMPORT_CODES), when it is
    the caller of the event (through importlib's trampoline or not); else None."""
    frame = caller_frame(depth + 1)
    if frame is not None and _id(frame.f_code) in TRAMPOLINE_CODES:
        frame = frame.f_back  # importlib calls compile/exec through _call_with_frames_removed
    return frame if frame is not None and _id(frame.f_code) in IMPORT_CODES else None


_memoryview = memoryview
_memoryview_obj = memoryview.__dict__["obj"].__get__  # (the C getset: the exporter)


def _immutable_bytes(value: object) -> bool:
    """Whether ``value`` is an exact ``bytes``, or a memoryview over one: a buffer no thread
    can change. The events of ``marshal.loads`` and ``compile`` carry a *copy* of the buffer
    they are given, and CPython then reads the buffer itself: a content check of the copy holds
    for what is read only when the buffer cannot change in between (red team 39: a bytearray
    another thread rewrote while the hook read the file to compare)."""
    if _type(value) is _bytes:
        return True
    if _type(value) is not _memoryview:
        return False
    try:
        return _type(_memoryview_obj(value)) is _bytes
    except ValueError:  # (a released view)
        return False


def module_name(filename: str) -> str | None:
    """The dotted module a file under a module root implies (``{site}/yaml/cyaml.py`` → ``yaml.cyaml``)."""
    for root in MODULE_ROOTS:
        if _str_startswith(filename, root + "/"):
            rest = filename[_len(root) + 1 :]
            for suffix in ("/__init__.py", ".py", ".pyc"):
                if _str_endswith(rest, suffix):
                    rest = rest[: -_len(suffix)]
                    break
            else:
                return None
            if "." in rest or not rest:
                return None
            return _str_replace(rest, "/", ".")
    return None


def annotation_expression(source: object) -> bool:
    """Whether ``source`` is a type annotation and nothing more (the class above).

    Names, attributes, subscripts, calls with keywords, constants, tuples and lists, starred
    items, slices and operators (``int | None``): what annotations and their metadata
    (``Annotated[int, Field(gt=0)]``) are written with. No dunder identifier (except the
    ``__annotationlib_name_N__`` placeholders annotationlib writes itself), none of the builtins
    that run code or read attributes by string, no other syntax; text the parser rejects is not
    one either.

    Example
    -------
    >>> annotation_expression("dict[str, Annotated[int, Field(gt=0)]] | None")
    True
    >>> annotation_expression("__import__('os').system('id')")
    False
    """
    found = _features(source)
    if _type(found) is not _list or not found:
        return False
    for feature in found:
        kind, colon, name = _str_partition(feature, ":")
        if not colon:
            if feature not in _ANNOTATION_SYNTAX:
                return False
            continue
        if kind not in ("name", "attr", "keyword.arg"):
            return False
        if _str_startswith(name, "__") and not (
            kind == "name"
            and _str_startswith(name, "__annotationlib_name_")
            and _str_endswith(name, "__")
            and _str_isdigit(name[21:-2])
        ):
            return False
        if kind == "name" and name in _NOT_IN_ANNOTATIONS:
            return False
    return True


def _is_file_content(source: object, path: str) -> bool:
    """Whether ``source`` is exactly the bytes of the file at ``path`` (at most MAX_MODULE); an
    exact ``str`` counts as its UTF-8 bytes."""
    if _type(source) is _str:
        try:
            source = _str_encode(source, "utf-8")
        except UnicodeEncodeError:
            return False
    if _type(source) is not _bytes or _len(source) > MAX_MODULE:
        return False
    return _file_is(path, 0, source) is not None


_MODULE_FILE_SUFFIXES = (".py", ".pyc")


def claimed_module_file(filename: object) -> str | None:
    """The module file a ``compile`` of code under ``filename`` would be charged to: the file
    part of the site that name makes (normalised as sites are, up to the first ``:``) when it
    is an absolute ``….py`` or ``….pyc``; else None. A ``str`` subclass's text is copied with
    ``str``'s own slot. Code carries the file name it was compiled under, and a site is that
    name: code claiming a module's file would be charged to that module's sites and their
    grants -- whatever spelling the site logic reads as that file (red team 60: ``D/``,
    ``D/.``, ``D/x/..``, ``D:x``).

    Example
    -------
    >>> claimed_module_file("/usr/lib/python3.11/dataclasses.py/.")
    '/usr/lib/python3.11/dataclasses.py'
    >>> claimed_module_file("/srv/app.py:x")
    '/srv/app.py'
    >>> claimed_module_file("<string>") is None
    True
    """
    text = code_text(filename, "")  # ("" for anything but a str or a subclass)
    if not _str_startswith(text, "/"):
        return None
    path = _str_partition(_norm(text), ":")[0]
    return path if _str_endswith(path, _MODULE_FILE_SUFFIXES) else None


def compile_may_claim(args: tuple[Any, ...]) -> bool:
    """Whether a ``compile`` event may make code that claims a file, and so is decided at init
    too: under an absolute name, or of a syntax tree (CPython raises that one with no file
    name: the caller names the code as it likes)."""
    if _len(args) < 2:
        return False
    if args[1] is None:
        return args[0] is not None
    return _str_startswith(code_text(args[1], ""), "/")


def _site_of(caller: Any) -> str:
    """The site of the code that raised the event, as :func:`caller_site` finds it: ``caller``
    itself when the core named it and it is not the sandbox's own (then it is the innermost
    frame the walk would stop at), else the walk."""
    if _type(caller) is _CodeType and _id(caller) not in OWN_IDS:
        filename = code_text(caller.co_filename)
        normed = _dict_get(_NORMED, filename)
        if normed is None:
            normed = _norm(filename)
            if _len(_NORMED) < _NORMED_LIMIT:
                _NORMED[filename] = normed
        return normed + ":" + code_text(_getattr(caller, "co_qualname", caller.co_name))
    return caller_site(2)


def _compile(args: tuple[Any, ...], caller: Any = None) -> list[Access] | None:
    filename = as_text(args[1]) if _len(args) > 1 else None
    if (
        filename is not None
        and _str_startswith(filename, "/")
        and (importer := _import_system_frame()) is not None
    ):
        # The import system compiling a module's source file (no usable .pyc): when what it
        # compiles is that file's content and the file implies a module, this is loading that
        # module and is decided as running it will be (the exec of its code, the module
        # rule); anything else claiming a file (a loader whose get_data returns other bytes)
        # is a compile of that file, decided by a rule for it.
        path = _norm(filename)
        name = module_name(path)
        content = (
            args
            and _immutable_bytes(_frame_local(importer, "data"))  # (source_to_code's source)
            and _is_file_content(args[0], path)
        )
        if content and _phase() != "invoke":
            return None  # (init: the import system compiling a file's own content, as ever)
        if content and name is not None:
            return [("code", "exec", path, None), ("modules", "import", name, path)]
        return [("code", "compile", _file_target(path), None)]
    # A syntax tree: CPython names no file in its event, and the code is named as its caller
    # likes (a module's file included): decided by the caller's site in every phase, with
    # the refinements below (red teams 60, 61).
    tree = _len(args) > 1 and args[1] is None and args[0] is not None
    if tree:
        # ... whose name the native core knows (the call's own, for this very tree): a tree
        # under a module file's name is that claim, as text is (the Python core cannot tell).
        named = _compile_name(args[0])
        if named is not None:
            text = as_text(named) if _type(named) is _bytes else code_text(named, "\0")
            if text is None or text == "\0":
                return [("code", "compile", UNDECODABLE + "a syntax tree's file name", None)]
            tree_claim = claimed_module_file(text)
            if tree_claim is not None:
                return [("code", "compile", _file_target(tree_claim), None)]
    # (no source object: the interpreter parsing the file itself, below)
    claimed = claimed_module_file(args[1]) if _len(args) > 1 and args[0] is not None else None
    if claimed is not None:
        # Code claiming a module's file (not the import system's: above) that is not that
        # file's content would pass for that module's code -- its sites' grants (red team 56:
        # compiled at init under dataclasses' file name, it passed as dataclasses' code
        # generator). Decided as a compile of that file, in every phase; the file's own
        # content (runpy) is what the module's code is, decided by the site as before.
        path = _norm(claimed)
        if not (args and _is_file_content(args[0], path)):
            return [("code", "compile", _file_target(path), None)]
        if _phase() != "invoke":
            return None  # (init decides only claims and trees)
    elif _phase() != "invoke" and not tree:
        return None  # (init: other names, as ever)
    site = _site_of(caller)
    if site == _NO_SITE and args and args[0] is None and filename is not None:
        # No Python frame, no source object: the interpreter parsing a file it opened itself
        # (`python script.py`, after its cpython.run_file event). Running that file decides,
        # as the exec of its code will (the compile of a source string always has a source).
        where = _absolute(filename)  # as given on the command line: relative to the cwd
        return [("code", "exec", _norm(where) if where is not None else filename, None)]
    if site == _NO_SITE and not (
        args and _type(args[0]) is _bytes and filename == "<string>" and args[0] in COMMAND_SOURCES
    ):
        site = _FRAMELESS_SITE  # (not the interpreter's -c command: see COMMAND_SOURCES)
    if site in ANNOTATION_COMPILE_SITES and args and annotation_expression(args[0]):
        return None  # the standard library evaluating a type annotation (module docstring)
    if site in AST_ONLY_SITES and not _compile_to_tree():
        # (the flags compile() itself was given, not the ones the parser's frame holds: the
        # name it calls can be a C callable of the function's that hands over others)
        site = site + _NOT_AST  # a code object, not a syntax tree (AST_ONLY_SITES)
    elif site in NAMEDTUPLE_SITES and not (args and namedtuple_source(args[0])):
        site = site + _NOT_NAMEDTUPLE  # not namedtuple's own template (NAMEDTUPLE_SITES)
    out: list[Access] = [("code", "compile", site, None)]
    for root in SHAPE_ROOTS:
        if _str_startswith(site, root + "/") and args:
            # The function's own eval/exec site: what is evaluated is decided by its shape too.
            found = _features(args[0])
            if _type(found) is _str:
                out.append(("code", "shape", found, None))  # undecodable: refused in enforce
            elif _type(found) is tuple:
                # No reading parses: where the profile knows the site's shapes, the hook raises
                # what the parser raised, in place of the compile (never "no features").
                out.append(("code", UNPARSED, site, found))
            else:
                for feature in found:
                    out.append(("code", "shape", site + "#" + feature, None))
                if _type(args[0]) is not _str and _type(args[0]) is not _bytes:
                    # A syntax tree: a feature of its own. Another thread of the function's can
                    # change a tree after the walk and before CPython reads it again; a site
                    # that learned trees accepts that, any other refuses every tree.
                    out.append(("code", "shape", site + "#" + SYNTAX_TREE, None))
            break
    return out


def _file_target(path: str) -> str:
    """A compile's target that names a file: ``path``, unless it holds a ``:`` -- then rules
    would read it as a site (``<file>:<function>``: a rule for ``{stdlib}/dataclasses.py:**``
    matched the import system's compile of ``…/dataclasses.py:x``, red team 61), and no rule
    may allow it."""
    if ":" in path:
        return UNDECODABLE + "a file name with ':' (it would read as a site)"
    return path


def namedtuple_source(source: Any) -> bool:
    """Whether ``source`` is exactly what ``collections.namedtuple`` compiles for its
    ``__new__``: ``lambda _cls, a, b: _tuple_new(_cls, (a, b))`` (identifiers only).

    Example
    -------
    >>> namedtuple_source("lambda _cls, x, y: _tuple_new(_cls, (x, y))")
    True
    >>> namedtuple_source("lambda _cls, : _tuple_new(_cls, ())")
    True
    >>> namedtuple_source(b"lambda _cls, x,: _tuple_new(_cls, (x,))")
    True
    >>> namedtuple_source("lambda _cls, x: _tuple_new(_cls, (x)) or __import__('os')")
    False
    """
    if _type(source) is _bytes:  # (eval of a str hands the compile event its UTF-8 bytes)
        try:
            source = _bytes_decode(source, "utf-8")
        except UnicodeDecodeError:
            return False
    if _type(source) is not _str or not _str_startswith(source, _NAMEDTUPLE_HEAD):
        return False
    middle = _str_find(source, _NAMEDTUPLE_MIDDLE)
    if middle < 0:
        return False
    names = source[_len(_NAMEDTUPLE_HEAD) : middle]
    if source != _NAMEDTUPLE_HEAD + names + _NAMEDTUPLE_MIDDLE + names + _NAMEDTUPLE_TAIL:
        return False
    if _str_endswith(names, ","):
        return _str_isidentifier(names[:-1])  # one field: ``x,`` (a tuple of one)
    return not names or all(map(_str_isidentifier, _str_split(names, ", ")))


def _exec(args: tuple[Any, ...]) -> list[Access] | None:
    code = args[0]
    if _type(code) is not _CodeType or code_text(code.co_name) != "<module>":
        return None  # a string was compiled (decided there); a function body runs as a call
    filename = code_text(code.co_filename)
    if _type(filename) is not _str or not _str_startswith(filename, "/"):
        # "<string>" and friends: compiled from source at a call site (decided there),
        # unmarshalled or built by hand (decided there too); "<frozen …>": the interpreter's own.
        return None
    filename = _norm(filename)
    out: list[Access] = [("code", "exec", filename, None)]
    name = module_name(filename)
    if name is not None:
        out.append(("modules", "import", name, filename))
    return out


def _injected(args: tuple[Any, ...]) -> list[Access] | None:
    # Python 3.14+ (PEP 768): another process asks this one to run a script file, now.
    script = as_text(args[0]) if args else None
    if script is None:
        return [("code", "exec", "\x00injected script", None)]
    return [("code", "exec", _norm(script), None)]


def _construct(args: tuple[Any, ...]) -> list[Access] | None:
    site = caller_site()
    code = args[0] if args else None
    if (
        site in ANNOTATE_CALL_SITES
        and _type(code) is _CodeType
        and code_text(code.co_name) == _ANNOTATE
        and _id(code) not in OWN_IDS
    ):
        # annotationlib running a compiler-generated __annotate__ with stand-in globals
        # (FORWARDREF/STRING formats, 3.14): code compiled already, no source.
        return None
    return [("code", "construct", site, None)]


_PYC_HEADER = 16  # magic, flags, and the source's mtime and size (or hash): PEP 552
# This interpreter's bytecode: its magic number (importlib's, read at install: the frozen
# module is loaded at startup) and its cache tag. Another Python's .pyc is bytecode this one
# does not verify either -- hand-made code to it (red team 58: a 3.12 .pyc of the machine's,
# handed to importlib after 3.11's magic, read past a names tuple).
_MAGIC: bytes = __import__("_frozen_importlib_external").MAGIC_NUMBER
_CACHE_TAG: str | None = sys.implementation.cache_tag


def bytecode_for_this_python(path: str) -> bool:
    """Whether the ``.pyc`` file name ``path`` is for this interpreter: ``…/__pycache__/
    <stem>.<cache tag>[.opt-N].pyc``, or a sourceless ``…/<stem>.pyc`` outside ``__pycache__``
    (its magic number, checked with its bytes, then says which Python it is for).

    Example
    -------
    >>> bytecode_for_this_python("/x/__pycache__/m.cpython-01.pyc")
    False
    """
    directory, _, leaf = _str_rpartition(path, "/")
    if not _str_endswith(leaf, ".pyc"):
        return False
    parts = _str_split(leaf[: -_len(".pyc")], ".")
    if not _str_endswith(directory, "/__pycache__"):
        return _len(parts) == 1
    if _len(parts) == 3 and _str_startswith(parts[2], "opt-"):
        parts = parts[:2]
    return _len(parts) == 2 and _CACHE_TAG is not None and parts[1] == _CACHE_TAG


def _module_bytecode(args: tuple[Any, ...]) -> bool | None:
    """Whether ``marshal.loads`` is importlib unmarshalling a module's own ``.pyc``: ``True``;
    ``None`` when it is the import machinery's unmarshal of other bytes (importlib's, called
    by an import or by hand, or zipimport's); ``False`` when the machinery has no part in it.

    Bytecode is not verified by the interpreter: hand-made bytes can corrupt memory (a
    ``LOAD_CONST`` past the constants reads any address: red team 54). So the import system's
    unmarshal passes only for a real import (every frame up to ``_find_and_load``
    importlib's), of a file whose name is the module's ``.pyc``, that is the deployment's
    (:func:`deployment_file`: not in a temp dir, no name on the way one the function may
    write), for this Python (its magic number and cache tag), with exactly that file's bytes
    -- a loader whose ``get_data`` returns other bytes, another Python's bytecode, bytecode
    the function wrote, or a direct call of ``_compile_bytecode`` is not.
    """
    frame = caller_frame(3)
    if frame is None or not args:
        return False
    code_id = _id(frame.f_code)
    if code_id not in IMPORT_CODES:
        # (zipimport's bytes come out of an archive: nothing here can say they are a file's)
        return None if code_id in ZIP_UNMARSHAL_CODES else False
    if code_id not in COMPILE_BYTECODE_CODES:
        return None  # (another reader of importlib's: not its unmarshal of `data`)
    if not _unmarshal_sealed():
        # Not marshal.loads itself (the native core knows): another unmarshaller reached from
        # importlib through a C callable planted in its `marshal` global, which reads the live
        # buffer after this event (_imp.get_frozen_object: red team 56).
        return None
    name = importing(frame)
    if name is None:
        return None  # importlib's own unmarshal called by hand: never a rule's to allow
    if not _immutable_bytes(_frame_local(frame, "data")):
        return None  # (_compile_bytecode's buffer: what marshal reads after the event)
    path = _frame_local(frame, "bytecode_path")
    data = args[0]
    if _type(path) is not _str or _type(data) is not _bytes or _len(data) > MAX_MODULE:
        return None
    # The file read (whatever its name led to), with these bytes after this Python's magic
    # number (importlib checked the one in the bytes it was handed, not the file's): the
    # module's .pyc for this Python, the deployment's.
    real = _file_is(path, _PYC_HEADER, data, _MAGIC)
    if (
        real is None
        or not bytecode_for_this_python(real)
        or not file_is_module(real, name)
        or not deployment_file(real)
    ):
        return None
    # The one name importlib may then give this code (_imp._fix_co_filename: no event), the
    # source this .pyc is the cache of, as importlib itself names it: not a file a loader
    # claims as the source (red team 59: timeit's code renamed to dataclasses' file).
    _unmarshal_renames_to(source_of_bytecode(path))
    return True


def source_of_bytecode(path: str) -> str | None:
    """The source file a ``.pyc`` under ``__pycache__`` is the cache of, as importlib names it
    (``<dir>/__pycache__/<stem>.<tag>[.opt-N].pyc`` -> ``<dir>/<stem>.py``); None for a
    sourceless one (outside ``__pycache__``: importlib renames nothing then).

    Example
    -------
    >>> source_of_bytecode("/x/__pycache__/m.cpython-311.opt-1.pyc")
    '/x/m.py'
    >>> source_of_bytecode("/x/m.pyc") is None
    True
    """
    directory, _, leaf = _str_rpartition(path, "/")
    if not _str_endswith(directory, "/__pycache__") or not _str_endswith(leaf, ".pyc"):
        return None
    return directory[: -_len("/__pycache__")] + "/" + _str_partition(leaf, ".")[0] + ".py"


# What deployment_file found of a folder (its answer depends on the folder's name and the
# profile only): a module's bytecode at init asks about one folder again and again.
_DEPLOYMENT_FOLDERS: dict[str, int] = {}
_DEPLOYMENT_FOLDERS_KEPT = 4096


def deployment_file(path: str) -> bool:
    """Whether the file at the real ``path`` is the deployment's: below a folder whose names
    the deployment sets (``STEADY_PREFIXES``: not a temp dir), and neither it nor any folder
    on the way from ``/`` a name a ``files write`` rule matches (the function could have
    written it, or put another in its place).

    Example
    -------
    >>> deployment_file("/tmp/x.pyc")
    False
    """
    if not (STEADY_PREFIXES and _str_startswith(path, STEADY_PREFIXES)):
        return False
    if not WRITE_MATCHERS:
        return True
    folder = _str_rpartition(path, "/")[0]
    known = _DEPLOYMENT_FOLDERS.get(folder)
    if known is None:
        known = _deployment_folder(folder)
        if _len(_DEPLOYMENT_FOLDERS) < _DEPLOYMENT_FOLDERS_KEPT:
            _DEPLOYMENT_FOLDERS[folder] = known
        if known is _FOLDER_STEADY:
            # (the native core answers the import system's unmarshal of the next module's
            # .pyc here itself: the same steps, this answer)
            _core_deployment_folder(folder)
    if known is _FOLDER_WRITABLE:
        return False
    # (a rule may reach some name in the folder: this one asked for by name)
    return known is _FOLDER_STEADY or not name_writable(path)


_FOLDER_WRITABLE = 0  # the folder, or one on the way to it, is a name a write rule matches
_FOLDER_STEADY = 1  # and no write rule can reach any name in it
_FOLDER_MIXED = 2  # a write rule may reach some name in it: each file asked for by name


def _deployment_folder(folder: str) -> int:
    here = folder
    while here:
        if name_writable(here):
            return _FOLDER_WRITABLE
        here = _str_rpartition(here, "/")[0]
    for matcher in WRITE_MATCHERS:
        if matcher.may_match_below(folder):
            return _FOLDER_MIXED
    return _FOLDER_STEADY


def steady_trees(prefixes: tuple[str, ...]) -> tuple[str, ...]:
    """The ``prefixes`` (folders + ``/``, as :data:`STEADY_PREFIXES`) below which no name, at
    any depth, is one a ``files write`` rule may match, nor the folder or one on the way to it
    from ``/``: every folder below such a prefix is one :func:`deployment_file` finds steady,
    and every name checked by :func:`extension_at_home` under it is no rule's to write. A pure
    function of the profile, known at install: what the native core is told
    (``core.deployment_rules``), so that it need not wait for the callback to find each
    folder of a package tree steady, one module at a time (a third of the callbacks of
    ``import boto3``). With no write rule, every prefix. Conservative, and no regex is run
    (:meth:`policy.Matcher.may_match_around`: an exact target, prefix or glob's literal start
    that could reach the folder, one above it or a name below it keeps it out).

    Example
    -------
    >>> steady_trees(("/var/task/", "/opt/python/"))  # (no rules outside the hook)
    ('/var/task/', '/opt/python/')
    """
    if not WRITE_MATCHERS:
        return prefixes
    kept: list[str] = []
    # (shortest first: a prefix below one kept is kept with no test -- nothing below the outer
    # one is reachable, and the folders above it are the outer one's or below it)
    for prefix in sorted(prefixes, key=_len):
        folder = prefix[:-1] if _str_endswith(prefix, "/") else prefix
        if not folder:
            continue
        if any(_str_startswith(prefix, tree) for tree in kept) or not any(
            matcher.may_match_around(folder) for matcher in WRITE_MATCHERS
        ):
            kept.append(prefix)
    return tuple(prefix for prefix in prefixes if prefix in kept)


def _unmarshal(args: tuple[Any, ...]) -> list[Access] | None:
    verdict = _module_bytecode(args)
    if verdict:
        return None  # a module's cached bytecode; the module decides
    if verdict is None:
        # The import system about to run bytes that are not the deployment's bytecode file:
        # no rule may allow that (it would allow any bytes through importlib's own site).
        return [("code", "unmarshal", UNDECODABLE + _UNTRUSTED_BYTECODE, None)]
    return [("code", "unmarshal", caller_site(), None)]


_UNTRUSTED_BYTECODE = "bytecode that is not the deployment's own file (the import system)"


def _hook(args: tuple[Any, ...]) -> list[Access] | None:
    return [("code", "hook", caller_site(), None)]


def _introspect(args: tuple[Any, ...]) -> list[Access] | None:
    return [("code", "introspect", caller_site(), None)]


def _trace(args: tuple[Any, ...]) -> list[Access] | None:
    return [("code", "trace", caller_site(), None)]


# Events decided only during invoke (init is the import system and the code generators). Not
# code.__new__ and marshal.loads: bytes made into code with no compiler in between can read and
# write any memory -- the audit hooks themselves -- and code that runs at init (a hijacked
# dependency) keeps what it made (red team 54).
INVOKE_ONLY = frozenset({"compile", "exec", "function.__new__"})

DECODERS = {
    "compile": _compile,
    "exec": _exec,
    "cpython.remote_debugger_script": _injected,
    "code.__new__": _construct,
    "function.__new__": _construct,
    "marshal.loads": _unmarshal,
    "marshal.load": _unmarshal,
    "sys.addaudithook": _hook,
    "gc.get_objects": _introspect,
    "gc.get_referrers": _introspect,
    "gc.get_referents": _introspect,
    "sys._current_frames": _introspect,
    # Another thread's exception being handled holds its traceback, hence its frames: while the
    # hook handles one of its own (then makes a system call, the GIL released), those are the
    # hook's frames, and their locals hold everything the Python half decides with.
    "sys._current_exceptions": _introspect,
    "sys.settrace": _trace,
    "sys.setprofile": _trace,
    "sys.monitoring.register_callback": _trace,
}
