"""The audit hook's core contract, run against the native core and the Python fallback alike.

Every case runs in a fresh interpreter (audit hooks cannot be removed); ``SANDBOX_NATIVE=off``
selects the fallback. Where the two differ by design (what Python cannot hide), the test says
so and asserts each side's documented behaviour.

More native kinds run the same cases on the objects the layer ships: ``native-arm64``, the
layer staged for arm64 in Debian's arm64 Python under ``qemu-aarch64`` (``make arm64-root``
prepares them; skipped where absent), and ``native-3.X``, the x86_64 layer in each other
installed Lambda Python (3.10-3.14; 3.14 from ``make python3.14``).
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sandbox.layer import LAYER_PACKAGE, stage_layer
from sandbox.layer.native import PYTHONS, buildable_pythons, interpreters
from tests.conftest import REPO, Child, RunChild, run_child

NATIVE_BUILT = importlib.util.find_spec("sandbox.runtime._core") is not None
ZIG = importlib.util.find_spec("ziglang") is not None
ARM64_ROOT = Path(os.environ.get("SANDBOX_ARM64_ROOT", REPO / "build" / "arm64-root"))
ARM64_PYTHON = ARM64_ROOT / "usr" / "bin" / "python3.11"
QEMU = shutil.which("qemu-aarch64")
ARM64_READY = bool(QEMU) and ARM64_PYTHON.is_file() and ZIG
HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"
# The other Lambda Pythons installed here, each running the x86_64 layer's object for it (when
# their headers are here too: without them the layer has no object for that version).
OTHER_PYTHONS = {
    v: exe
    for v in buildable_pythons(tuple(p for p in PYTHONS if p != HOST))
    if (exe := next(interpreters(v), None)) is not None
}


def _kind_param(name: str, ready: bool, why: str) -> Any:
    return pytest.param(name, marks=pytest.mark.skipif(not ready, reason=why))


NATIVE_KINDS = [
    _kind_param("native", NATIVE_BUILT, "_core extension not built here"),
    _kind_param("native-arm64", ARM64_READY, "no qemu-aarch64 + arm64 root (make arm64-root)"),
    *(_kind_param(f"native-{v}", ZIG, "ziglang not installed") for v in sorted(OTHER_PYTHONS)),
]
_LAYER: dict[str, Path] = {}


def kind_version(kind: str) -> tuple[int, int]:
    """The CPython version a kind's child runs."""
    if kind == "native-arm64":
        return (3, 11)
    if kind.startswith("native-"):
        major, minor = kind.removeprefix("native-").split(".")
        return (int(major), int(minor))
    return (sys.version_info[0], sys.version_info[1])


@pytest.fixture(scope="session")
def staged_layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The layer staged per arch (its native core cross-built), once per session, lazily."""
    return {}


def _layer_for(kind: str, request: pytest.FixtureRequest) -> None:
    if kind in ("native", "python"):
        return
    from sandbox.layer.native import build_native

    arch = "arm64" if kind == "native-arm64" else "x86_64"
    layers: dict[str, Path] = request.getfixturevalue("staged_layers")
    if arch not in layers:
        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        dest = factory.mktemp(f"layer-{arch}")
        stage_layer(dest, build_native(arch, factory.mktemp(f"native-{arch}")))
        layers[arch] = dest
    _LAYER[kind] = layers[arch]


@pytest.fixture(params=[NATIVE_KINDS[0], "python", *NATIVE_KINDS[1:]])
def kind(request: pytest.FixtureRequest) -> str:
    """Each core: native (this interpreter), python (the fallback), native-arm64 (the aarch64
    object under qemu), native-3.X (the x86_64 layer's object in another installed CPython)."""
    _layer_for(str(request.param), request)
    return str(request.param)


@pytest.fixture(params=NATIVE_KINDS)
def native_kind(request: pytest.FixtureRequest) -> str:
    """The native cores only."""
    _layer_for(str(request.param), request)
    return str(request.param)


PRELUDE = """
import gc, json, os, sys, traceback
{import_core}
assert core.KIND == {expected!r}, (core.KIND, {expected!r})
def emit(**kw):
    print("RESULT " + json.dumps(kw), flush=True)
"""


def _run_from_layer(kind: str, code: str, cwd: Path) -> Child:
    """Run ``code`` in the kind's interpreter with only the staged layer on its path."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
    env["PYTHONPATH"] = str(_LAYER[kind] / "python")
    if kind == "native-arm64":
        cmd = [str(QEMU), "-L", str(ARM64_ROOT), str(ARM64_PYTHON), "-S", "-c", code]
    else:
        cmd = [str(OTHER_PYTHONS[kind.removeprefix("native-")]), "-S", "-c", code]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return Child(proc.returncode, proc.stdout, proc.stderr)


def run_core(kind: str, body: str, tmp_path: Path) -> dict[str, Any]:
    """Run ``body`` under the chosen core in a child; return what it ``emit``-ted."""
    from_layer = kind not in ("native", "python")
    if from_layer:
        import_core = f"from {LAYER_PACKAGE} import core"
    else:
        import_core = "from sandbox.runtime import core"
    expected = "python" if kind == "python" else "native"
    code = PRELUDE.format(import_core=import_core, expected=expected) + textwrap.dedent(body)
    if from_layer:
        child = _run_from_layer(kind, code, tmp_path)
    else:
        env = {"SANDBOX_NATIVE": "off"} if kind == "python" else {}
        child = run_child(code, cwd=tmp_path, env=env)
    results = [
        json.loads(line.removeprefix("RESULT "))
        for line in child.stdout.splitlines()
        if line.startswith("RESULT ")
    ]
    assert child.returncode == 0 and results, child.stderr
    result: dict[str, Any] = results[-1]
    return result


def test_kind_follows_sandbox_native(kind: str, tmp_path: Path) -> None:
    # GIVEN the environment of each kind WHEN importing the core
    body = """
    import platform
    emit(kind=core.KIND, installed=core.installed(), file=os.path.basename(core._impl.__file__),
         machine=platform.machine())
    """
    result = run_core(kind, body, tmp_path)
    # THEN KIND names it, and the native one is the extension built for that machine
    assert result["kind"] == ("python" if kind == "python" else "native")
    assert result["installed"] is False
    if kind == "python":
        assert result["file"] == "core_fallback.py"
    else:
        assert result["file"].startswith("_core.cpython-")
        assert result["file"].endswith(f"-{result['machine']}-linux-gnu.so")
    if kind == "native-arm64":
        assert result["machine"] == "aarch64"
    if kind != "python":
        assert f"cpython-{''.join(map(str, kind_version(kind)))}-" in result["file"]


def test_seal_compilers_copies_a_bytearray_source_and_nothing_else(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a core asked to seal something that is not the builtins, then the builtins
    body = """
    import builtins, inspect
    before = (eval, exec, compile, inspect.signature(compile), eval.__doc__)
    not_builtins = core.seal_compilers(len, exec, compile)
    sealed = core.seal_compilers(builtins.eval, builtins.exec, builtins.compile)
    again = core.seal_compilers(builtins.eval, builtins.exec, builtins.compile)
    seen = []
    source = bytearray(b"(1+2)*3")
    def later(event, args):
        if event == "compile" and args and args[0] == b"(1+2)*3":
            seen.append(args[0])
            source[:] = b"'abc'*1"
    sys.addaudithook(later)
    value = eval(source)
    source[:] = b"(1+2)*3"
    view = eval(memoryview(source))  # (a view of a bytearray: another buffer)
    same = (eval, exec, compile, inspect.signature(compile), eval.__doc__) == before
    emit(not_builtins=not_builtins, sealed=sealed, again=again, value=value, seen=len(seen),
         view=view, same=same,
         keyword=eval(compile(source=bytearray(b"6*7"), filename="<b>", mode="eval")))
    """
    result = run_core(kind, body, tmp_path)
    # THEN only the builtins are sealed, once; a bytearray changed while the compile event is
    # decided is parsed as it was decided by the native core (the Python core cannot: it
    # parses the live buffer), and the builtins are the same objects with the same signatures
    native = kind != "python"
    assert result["not_builtins"] is False
    assert result["sealed"] is native and result["again"] is native
    assert result["seen"] == 2
    assert result["value"] == (9 if native else "abc")
    assert result["view"] == 9  # (CPython copies any other buffer before the event itself)
    assert result["same"] is True and result["keyword"] == 42


def test_a_parse_inside_the_hook_runs_no_warning_code_of_anyones(kind: str, tmp_path: Path) -> None:
    # GIVEN sealed compilers, and a callback that parses a source that warns (an invalid
    # escape) to a syntax tree, as the shape decoder does: once with the list CPython's C
    # warning code keeps as warnings.filters and an "ignore" entry first; once with another
    # entry put first; once with another list put in place of a kept one whose finalizer
    # records where it ran (what another thread can do between the decoder's Python checks);
    # and a source with a non-ASCII name with the real unicodedata, and with another module
    body = """
    import ast, builtins, warnings
    core.seal_compilers(builtins.eval, builtins.exec, builtins.compile)
    IGNORE = ("ignore", None, Warning, None, 0)
    ORIGINAL = list(warnings.filters)
    ran = []
    class Finalized:
        def __del__(self):
            ran.append("inside" if core.inside() else "outside")
    def keep_then_swap():
        warnings.filters = [IGNORE, ("ignore", Finalized(), Warning, None, 0)]
        warnings.warn("kept")  # (the C code keeps that list)
        warnings.filters = [IGNORE, *ORIGINAL]
    def parse():
        try:
            compile("'\\d'", "<shape>", "exec", ast.PyCF_ONLY_AST, True)
            return "parsed"
        except RuntimeError as exc:
            return "refused: " + str(exc)
    found = {}
    import types, unicodedata
    core.expect_unicodedata(unicodedata, unicodedata.normalize, type(unicodedata.__spec__))
    def parse_name():  # (a non-ASCII name: the parser imports unicodedata to normalize it)
        try:
            compile("\u00e9t\u00e9 = 1", "<shape>", "exec", ast.PyCF_ONLY_AST, True)
            return "parsed"
        except RuntimeError as exc:
            return "refused: " + str(exc)
    def callback(event, args, caller):
        found["settled"] = parse()
        warnings.filters.insert(0, ("default", None, Warning, None, 0))
        found["other-first"] = parse()
        del warnings.filters[0]
        found["real-unicodedata"] = parse_name()
        sys.modules["unicodedata"] = types.ModuleType("unicodedata")
        sys.modules["unicodedata"].normalize = unicodedata.normalize
        found["other-unicodedata"] = parse_name()
        sys.modules["unicodedata"] = unicodedata
        keep_then_swap()
        found["swapped"] = parse()
        found["ran-in-callback"] = list(ran)
    core.install(frozenset({"zz.ev"}), callback, frozenset({callback.__code__}), "enforce")
    warnings.filters = [IGNORE, *ORIGINAL]
    warnings.warn("settle")
    # WHEN the event is decided, and then the function compiles something itself
    sys.audit("zz.ev")
    eval("1")
    emit(**found, ran=ran)
    """
    result = run_core(kind, body, tmp_path)
    # THEN the native core parses only where the warning can run nothing but the "ignore"
    # entry, and settles nothing inside the hook: the kept list is dropped (its finalizer
    # run) at the function's own compile, outside. The Python core cannot tell (a limit)
    assert result["settled"] == result["real-unicodedata"] == "parsed"
    if kind == "python":
        assert result["other-first"] == result["swapped"] == "parsed"
        assert result["other-unicodedata"] == "parsed"
        return
    refused = (
        "refused: lambda-sandbox: the warning filters or unicodedata changed before the shape parse"
    )
    assert result["other-first"] == refused
    assert result["swapped"] == refused
    assert result["other-unicodedata"] == refused
    assert result["ran-in-callback"] == [] and result["ran"] == ["outside"]


def test_no_exception_the_callback_raised_keeps_its_frames(kind: str, tmp_path: Path) -> None:
    # GIVEN a callback that raises exceptions the function holds: a BaseException (no
    # `except Exception` catches it) whose context is another held one, and an exception
    # group holding a third, each raised inside the callback (red team 113 read the hook's
    # frames from such an exception's traceback afterwards)
    body = """
    class Held(BaseException):
        pass
    first, second, member = Held("first"), ValueError("second"), KeyError("member")
    def callback(event, args, caller):
        if args[0] == "chain":
            try:
                raise second
            except ValueError:
                raise first
        try:
            raise member
        except KeyError:
            pass
        raise BaseExceptionGroup("group", [member])  # (3.10: NameError, member left out)
    core.install(frozenset({"zz.ev"}), callback, frozenset({callback.__code__}), "enforce")
    outcomes = []
    for label in ("chain", "group"):
        try:
            sys.audit("zz.ev", label)
            outcomes.append("allowed")
        except PermissionError as exc:
            outcomes.append(type(exc).__name__)
    emit(outcomes=outcomes, tracebacks=[e.__traceback__ is None for e in (first, second, member)],
         context=first.__context__ is None)
    """
    result = run_core(kind, body, tmp_path)
    # THEN each event is refused, and none of the held exceptions keeps a traceback
    assert result["outcomes"] == ["PermissionError", "PermissionError"]
    assert result["tracebacks"][:2] == [True, True]
    assert result["context"] is True
    if kind_version(kind) >= (3, 11):  # (a group's members too)
        assert result["tracebacks"][2] is True


def test_a_frame_of_the_hooks_own_code_is_never_read_from_a_traceback(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a callback whose code is hidden, which keeps a traceback of its own frame (as an
    # exception the function holds would, raised by C code inside the hook), and a traceback
    # of the function's own
    body = """
    kept = []
    def callback(event, args, caller):
        try:
            raise KeyError("inside")
        except KeyError as exc:
            kept.append(exc.__traceback__)
    core.install(frozenset({"zz.ev"}), callback, frozenset({callback.__code__}), "enforce",
                 hidden_codes=(callback.__code__,))
    sys.audit("zz.ev")
    def read(tb):
        try:
            return tb.tb_frame.f_code.co_name
        except PermissionError as exc:
            return "refused: " + str(exc)
    try:
        raise ValueError("outside")
    except ValueError as exc:
        own = exc.__traceback__
    emit(hook=read(kept[0]), own=read(own))
    """
    result = run_core(kind, body, tmp_path)
    # THEN the hook's frame is refused, the function's own is read as ever
    assert result["hook"].startswith("refused: lambda-sandbox: object.__getattr__ refused")
    assert result["own"] == "<module>"


def test_no_builtin_reads_the_hooks_frame_inside_the_callback(kind: str, tmp_path: Path) -> None:
    # GIVEN a callback that calls the builtins which read the innermost frame -- globals(),
    # locals(), vars() and dir() without an argument, eval() with no globals -- as a C
    # callable of the function's could there (red team 115: a metaclass's __hash__ made of
    # them handed over a private module's globals), and their forms that read no frame
    body = """
    import builtins
    core.seal_compilers(builtins.eval, builtins.exec, builtins.compile)
    class Plain:
        pass
    one = compile("1", "<one>", "eval")  # (code: no parse inside the callback)
    tries = {
        "globals": lambda: globals(), "locals": lambda: locals(), "vars": lambda: vars(),
        "dir": lambda: dir(), "eval": lambda: eval(one), "vars(obj)": lambda: vars(Plain()),
        "dir(obj)": lambda: dir(Plain), "eval(globals)": lambda: eval(one, {}),
    }
    def run_all():
        out = {}
        for name, attempt in tries.items():
            try:
                attempt()
                out[name] = "done"
            except PermissionError:
                out[name] = "refused"
        return out
    inside = {}
    def callback(event, args, caller):
        inside.update(run_all())
    core.install(frozenset({"zz.ev"}), callback, frozenset({callback.__code__}), "enforce")
    sys.audit("zz.ev")
    emit(inside=inside, outside=run_all())
    """
    result = run_core(kind, body, tmp_path)
    # THEN on the native core each frame read is refused inside the callback and nowhere
    # else; the forms with an object of their own work everywhere. The Python core cannot
    # seal builtins (a documented limit)
    assert set(result["outside"].values()) == {"done"}
    frame_reads = {"globals", "locals", "vars", "dir", "eval"}
    for name, outcome in result["inside"].items():
        refused = kind != "python" and name in frame_reads
        assert outcome == ("refused" if refused else "done"), (name, result)


def test_nothing_but_the_parser_runs_inside_a_parse_in_the_callback(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a setter of C callables on Tuple's line number (the parser sets it on each node:
    # no frame of its own) that compiles code of the function's, and a callback that parses
    # a tuple to a syntax tree as the shape decoder does (red team 117: that compile passed as
    # the decoder's own, and the code ran later undecided)
    body = """
    import ast, builtins, functools, itertools
    core.seal_compilers(builtins.eval, builtins.exec, builtins.compile)
    made = []
    steps = map(made.append, itertools.starmap(compile, itertools.repeat(("1", "<x>", "exec"))))
    outcome = {}
    def callback(event, args, caller):
        try:
            compile("(1, 2)", "<shape>", "exec", ast.PyCF_ONLY_AST, True)
            outcome["parse"] = "parsed"
        except Exception as exc:
            outcome["parse"] = type(exc).__name__
    core.install(frozenset({"zz.ev"}), callback, frozenset({callback.__code__}), "enforce")
    import warnings  # (the warning state a parse inside the callback needs: the decoder's)
    warnings.filters.insert(0, ("ignore", None, Warning, None, 0))
    warnings.warn("settled")
    ast.Tuple.lineno = property(None, functools.partial(max, key=functools.partial(next, steps)))
    sys.audit("zz.ev")
    del ast.Tuple.lineno
    emit(parse=outcome["parse"], made=len(made))
    """
    result = run_core(kind, body, tmp_path)
    # THEN on the native core the compile inside the parse is refused (and the parse fails
    # with it): no code is made. The Python core cannot tell a parse apart (a documented limit)
    if kind == "python":
        assert result["made"] > 0
        return
    assert result == {"parse": "PermissionError", "made": 0}


def test_seal_marshal_copies_a_buffer_that_can_change_and_nothing_else(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a core asked to seal something that is not marshal.loads, then marshal.loads and
    # _imp.get_frozen_object (whose buffer argument, 3.11+, is another unmarshaller's)
    body = """
    import marshal, array, _imp
    before = (marshal.loads, marshal.loads.__doc__)
    seals = (_imp.get_frozen_object, _imp._fix_co_filename)
    not_loads = core.seal_marshal(len, *seals)
    sealed = core.seal_marshal(marshal.loads, *seals)
    again = core.seal_marshal(marshal.loads, *seals)
    one, two = marshal.dumps(1111), marshal.dumps(2222)
    # (get_frozen_object unmarshals code objects only)
    code_one = marshal.dumps(compile("1111", "x", "eval"))
    code_two = marshal.dumps(compile("2222", "x", "eval"))
    def later(event, args):
        # (another thread of the function's, changing the buffer while the hook decides)
        if event == "marshal.loads" and args and args[0] == was:
            for live in live_buffers:
                live[:] = now if not isinstance(live, array.array) else array.array("B", now)
    live_buffers = []
    sys.addaudithook(later)
    values = {}
    readers = [("", one, two, marshal.loads)]
    if sys.version_info >= (3, 11):  # (3.10's takes a name only)
        readers.append(("frozen ", code_one, code_two,
                        lambda data: eval(_imp.get_frozen_object("x", data))))
    for prefix, was, now, read in readers:
        for label, make in (("bytearray", lambda: bytearray(was)),
                            ("view of a bytearray", lambda: bytearray(was)),
                            ("array", lambda: array.array("B", was))):
            live = make()
            live_buffers[:] = [live]
            argument = memoryview(live) if label.startswith("view") else live
            values[prefix + label] = read(argument)
    live_buffers[:] = []
    values["bytes"] = marshal.loads(one)
    values["view of bytes"] = marshal.loads(memoryview(b"xx" + one)[2:])
    if sys.version_info >= (3, 13):
        # (allow_code= is made a bool before the original runs: the same answer)
        class Truth:
            def __bool__(self):
                return True
        values["keyword"] = marshal.loads(one, allow_code=Truth())
    same = (marshal.loads, marshal.loads.__doc__) == before
    emit(not_loads=not_loads, sealed=sealed, again=again, values=values, same=same,
         version=sys.version_info[:2])
    """
    result = run_core(kind, body, tmp_path)
    # THEN only marshal.loads is sealed, once; a buffer changed while the marshal.loads event
    # is decided is unmarshalled as it was decided by the native core (the Python core cannot:
    # marshal reads the live buffer), bytes and views of bytes as they are
    native = kind != "python"
    assert result["not_loads"] is False
    assert result["sealed"] is native and result["again"] is native
    changed = 1111 if native else 2222
    expected = {
        "bytearray": changed,
        "view of a bytearray": changed,
        "array": changed,
        "bytes": 1111,
        "view of bytes": 1111,
    }
    version = tuple(result["version"])  # (the child's Python)
    if version >= (3, 11):
        expected.update({"frozen " + label: changed for label in list(expected)[:3]})
    if version >= (3, 13):
        expected["keyword"] = 1111
    assert result["values"] == expected
    assert result["same"] is True


def test_file_is_names_the_regular_file_read_when_its_bytes_are_the_ones_given(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a file (larger than one read), links to it and its folder, a FIFO and a device
    body = """
    body = bytes(range(256)) * 1000
    with open("mod.pyc", "wb") as f:
        f.write(b"H" * 16 + body)
    os.symlink("mod.pyc", "link.pyc")
    os.mkfifo("fifo")
    real = os.path.realpath("mod.pyc")
    here = os.path.dirname(real)
    os.symlink(here, "folder-link")
    def named(answer):
        return "the file" if answer == real else answer
    out = {
        "same bytes": named(core.file_is("mod.pyc", 16, body)),
        "through a link": named(core.file_is("link.pyc", 16, body)),
        "whole file": named(core.file_is(real, 0, b"H" * 16 + body)),
        "absolute": named(core.file_is(real, 16, body)),
        "absolute, through a folder link": named(
            core.file_is(here + "/folder-link/mod.pyc", 16, body)
        ),
        "absolute, through a file link": named(core.file_is(here + "/link.pyc", 16, body)),
        "absolute, //": named(core.file_is(here + "//mod.pyc", 16, body)),
        "absolute, /./": named(core.file_is(here + "/./mod.pyc", 16, body)),
        "absolute, /../": named(
            core.file_is(here + "/../" + os.path.basename(here) + "/mod.pyc", 16, body)
        ),
        "absolute, missing": core.file_is(here + "/nope.pyc", 0, b""),
        "absolute, a folder": core.file_is(here, 0, b""),
        "last byte differs": core.file_is("mod.pyc", 16, body[:-1] + b"x"),
        "shorter": core.file_is("mod.pyc", 16, body[:-1]),
        "fifo": core.file_is("fifo", 0, b""),
        "device": core.file_is(os.devnull, 0, b""),
        "missing": core.file_is("nope", 0, b""),
        "bytes name": core.file_is(b"mod.pyc", 16, body),
        "NUL in name": core.file_is("mod.pyc\\0", 16, body),
        "negative offset": core.file_is("mod.pyc", -16, body),
        "head": named(core.file_is("mod.pyc", 16, body, b"HHHH")),
        "other head": core.file_is("mod.pyc", 16, body, b"HHHh"),
        "a longer head": core.file_is("mod.pyc", 16, body, b"H" * 65536),
    }
    try:
        core.file_is("mod.pyc", 16, body, b"H" * 65537)
    except TypeError:
        out["head too long"] = "TypeError"
    try:
        core.file_is("mod.pyc", "16", body)
    except TypeError:
        out["str offset"] = "TypeError"
    # WHEN the function's own code asks after install
    assert core.install(frozenset({"zz.a"}), print, frozenset(), "enforce")
    try:
        out["after install"] = named(core.file_is("mod.pyc", 16, body))
    except PermissionError:
        out["after install"] = "refused"
    emit(**out)
    """
    result = run_core(kind, body, tmp_path)
    # THEN it names the file really read (its real name, whatever way the name given took:
    # links, "//", "." and "..") when its bytes from the offset on are exactly the
    # ones given (and it starts with the head given), and nothing else (no other length or bytes, no FIFO or device, no odd
    # name); after install the native core answers only the sandbox's own code (it opens a
    # file with no decision) -- the Python core's open is an audited open like any other
    assert result == {
        "same bytes": "the file",
        "through a link": "the file",
        "whole file": "the file",
        "absolute": "the file",
        "absolute, through a folder link": "the file",
        "absolute, through a file link": "the file",
        "absolute, //": "the file",
        "absolute, /./": "the file",
        "absolute, /../": "the file",
        "absolute, missing": None,
        "absolute, a folder": None,
        "last byte differs": None,
        "shorter": None,
        "fifo": None,
        "device": None,
        "missing": None,
        "bytes name": None,
        "NUL in name": None,
        "negative offset": None,
        "head": "the file",
        "other head": None,
        "a longer head": None,
        "head too long": "TypeError",
        "str offset": "TypeError",
        "after install": "the file" if kind == "python" else "refused",
    }


def test_events_not_in_names_never_reach_the_callback(kind: str, tmp_path: Path) -> None:
    # GIVEN a core handling zz.a (with its caller) and zz.b
    body = """
    calls = []
    def callback(event, args, caller):
        calls.append([event, list(args), caller is not None and caller.co_name])
    def raiser():
        sys.audit("zz.a", 1)
        sys.audit("zz.b", 2)
    assert core.install(frozenset({"zz.a", "zz.b"}), callback, frozenset({callback.__code__}),
                        "learn", frozenset({"zz.a"}))
    # WHEN other events happen, then the handled ones
    sys.audit("zz.other", 0)
    open(os.devnull).close()
    raiser()
    emit(calls=calls, installed=core.installed(), again=core.install(
        frozenset({"zz.c"}), callback, frozenset(), "enforce"), mode=core.mode())
    """
    result = run_core(kind, body, tmp_path)
    # THEN only the handled events reached it, with the raising frame's code for zz.a only
    assert result["calls"] == [["zz.a", [1], "raiser"], ["zz.b", [2], False]]
    # AND a second install changes nothing
    assert result == result | {"installed": True, "again": False, "mode": "learn"}


def test_invoke_only_events_reach_the_callback_from_the_invoke_phase_on(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a core handling zz.code only in the invoke phase, and zz.phase in any
    body = """
    calls = []
    def callback(event, args, caller):
        calls.append(event)
        if event == "zz.phase":
            core.enter_invoke()
    core.install(frozenset({"zz.code", "zz.phase"}), callback, frozenset({callback.__code__}),
                 "enforce", invoke_only=frozenset({"zz.code"}))
    # WHEN zz.code is raised in init, then the phase moves, then it is raised again
    sys.audit("zz.code")
    sys.audit("zz.phase")
    sys.audit("zz.code")
    emit(calls=calls)
    """
    result = run_core(kind, body, tmp_path)
    # THEN the init one was filtered in the hook, the invoke one decided
    assert result["calls"] == ["zz.phase", "zz.code"]


def test_the_frame_lookup_event_itself_can_be_handled(kind: str, tmp_path: Path) -> None:
    # GIVEN a core handling sys._getframe, the event of the frame lookup the hook may use
    body = """
    calls = []
    def callback(event, args, caller):
        calls.append([event, caller.co_name])
        core.cache_add("seen")
    def mark():
        core.enter_invoke()
    def probe():
        return sys._getframe()
    core.install(frozenset({"sys._getframe"}), callback,
                 frozenset({callback.__code__, mark.__code__}), "enforce",
                 frozenset({"sys._getframe"}))
    # WHEN the function looks up its frame, and the sandbox uses the core's guarded calls
    probe()
    mark()
    emit(calls=calls, phase=core.phase(), cached=core.cache_has("seen"))
    """
    result = run_core(kind, body, tmp_path)
    # THEN the function's lookup was decided once, with its caller; the core's own checks
    # raised nothing the callback saw, and nothing looped
    assert result == {"calls": [["sys._getframe", "probe"]], "phase": "invoke", "cached": True}


def test_own_frames_are_ignored_and_foreign_frames_decided(kind: str, tmp_path: Path) -> None:
    # GIVEN a callback that raises handled events itself and through code not its own
    body = """
    calls = []
    def foreign():
        sys.audit("zz.ev", "foreign")
    def callback(event, args, caller):
        calls.append([args[0], core.inside()])
        if args[0] == "top":
            sys.audit("zz.ev", "own")
            foreign()
    core.install(frozenset({"zz.ev"}), callback, frozenset({callback.__code__}), "enforce")
    # WHEN an event is decided
    sys.audit("zz.ev", "top")
    emit(calls=calls, inside=core.inside())
    """
    result = run_core(kind, body, tmp_path)
    # THEN the callback's own event was ignored, the foreign one decided by a nested call
    assert result["calls"] == [["top", True], ["foreign", True]]
    assert result["inside"] is False


def test_own_sites_take_only_what_each_own_function_does_itself(kind: str, tmp_path: Path) -> None:
    # GIVEN a core told which events and core calls each of its own functions makes itself:
    # the callback raises zz.ev and adds to the cache; `relay`, its helper, makes neither
    body = """
    import functools
    calls, errors = [], []
    def relay(step):
        # C code calling a C function: no Python frame of the callee, `relay`'s is innermost
        try:
            list(map(step, ["frameless"]))
        except PermissionError as exc:
            errors.append(str(exc))
    def callback(event, args, caller):
        calls.append(args[0])
        if args[0] == "top":
            sys.audit("zz.ev", "own")
            relay(functools.partial(sys.audit, "zz.ev"))
            relay(core.cache_add)
            core.cache_add("the callback's")
    own = frozenset({callback.__code__, relay.__code__})
    core.install(frozenset({"zz.ev"}), callback, own, "enforce",
                 own_sites=[("zz.ev", callback.__code__), ("core.cache_add", callback.__code__)])
    # WHEN an event is decided
    sys.audit("zz.ev", "top")
    emit(calls=calls, errors=errors, own=core.cache_has("the callback's"),
         frameless=core.cache_has("frameless"))
    """
    result = run_core(kind, body, tmp_path)
    # THEN the callback's own event passed, the frameless one under `relay` was decided as
    # foreign (a nested call), and the frameless core call was refused; the callback's went in
    assert result["calls"] == ["top", "frameless"]
    assert len(result["errors"]) == 1 and "cache_add" in result["errors"][0]
    assert result["own"] is True and result["frameless"] is False


def test_caller_local_reads_the_frame_that_raised_the_event_being_decided(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a core with one caller event (zz.caller) and one other (zz.plain), whose callback
    # reads the local `secret` of the frame that raised the event
    body = """
    seen = []
    def callback(event, args, caller):
        row = [event, args[0], core.caller_local("secret"), core.caller_local("missing")]
        if args[0] == "outer":
            nested()  # a caller event of the sandbox's own inside the callback (not decided)
            row.append(core.caller_local("secret"))  # (still the outer event's frame)
        seen.append(row)
    def nested():
        secret = "nested's"
        sys.audit("zz.caller", "nested")
    own = frozenset({callback.__code__, nested.__code__})
    core.install(frozenset({"zz.caller", "zz.plain"}), callback, own, "enforce",
                 caller_events=frozenset({"zz.caller"}),
                 own_sites=[("zz.caller", nested.__code__)])
    def function():
        secret = "the function's"
        sys.audit("zz.caller", "outer")
        sys.audit("zz.plain", "plain")
    # WHEN the function raises both events, and outside the callback
    function()
    emit(seen=seen, outside=core.caller_local("secret"))
    """
    result = run_core(kind, body, tmp_path)
    # THEN the caller event's callback reads the raising frame's local (none for a name it
    # lacks), and the other event's -- and code outside the callback -- read nothing
    assert result["seen"] == [
        ["zz.caller", "outer", "the function's", None, "the function's"],
        ["zz.plain", "plain", None, None],
    ]
    assert result["outside"] is None


def test_own_sites_must_name_own_code(kind: str, tmp_path: Path) -> None:
    # GIVEN malformed own_sites WHEN installing THEN each is refused, and nothing installed
    body = """
    def callback(event, args, caller):
        return None
    def other():
        pass
    errors = []
    for sites in ([("zz", other.__code__)], [("zz", "not code")], [["zz", callback.__code__]],
                  [("z\\x00z", callback.__code__)]):
        try:
            core.install(frozenset({"zz"}), callback, frozenset({callback.__code__}), "enforce",
                         own_sites=sites)
        except (TypeError, ValueError) as exc:
            errors.append(type(exc).__name__)
    emit(errors=errors, installed=core.installed())
    """
    result = run_core(kind, body, tmp_path)
    assert result == {
        "errors": ["ValueError", "TypeError", "TypeError", "ValueError"],
        "installed": False,
    }


def test_the_frame_guard_runs_no_code_of_the_functions_inside_the_callback(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a finalizer of the function's on an object the callback frees (the last reference
    # dropped inside it), and a generator of the function's suspended inside a try block
    body = """
    import weakref
    ran = []
    class Victim:
        pass
    def finalizer(ref):
        ran.append("finalizer")
    def suspended():
        try:
            yield 1
        finally:
            ran.append("generator's finally")
    gen = suspended()
    next(gen)
    holder = [Victim()]
    ref = weakref.ref(holder[0], finalizer)
    def callback(event, args, caller):
        if args[0] == "drop":
            holder.clear()
        elif args[0] == "resume":
            try:
                next(gen)
            except PermissionError as exc:
                ran.append("resume refused")
                # (the traceback: the callback's own entry only, no frame of the generator's)
                tb = exc.__traceback__
                ran.append([tb.tb_frame.f_code.co_name, tb.tb_next, exc.__context__])
            except StopIteration:
                ran.append("resumed")
    core.install(frozenset({"zz.ev"}), callback, frozenset({callback.__code__}), "enforce",
                 frame_guard=True)
    # WHEN the callback frees the object, and resumes the generator
    sys.audit("zz.ev", "drop")
    sys.audit("zz.ev", "resume")
    emit(ran=ran, freed=ref() is None)
    """
    result = run_core(kind, body, tmp_path)
    assert result["freed"] is True
    if kind == "python":
        # THEN (Python core) the finalizer ran inside the callback: a Python audit hook sees
        # no frame before it runs -- the stated limit of the fallback
        assert result["ran"] == ["finalizer", "generator's finally", "resumed"]
    else:
        # THEN (native) neither ran: the finalizer's call evaluated to None, the resumption was
        # refused before any handler of the generator's, with no traceback or context
        assert result["ran"] == ["resume refused", ["callback", None, None]]


def test_what_the_callback_holds_is_released_at_the_next_decision_outside_it(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN an object of the function's with a finalizer that notes where it runs, whose
    # last reference the callback takes (as another thread may leave it) and hands to hold()
    body = """
    import weakref
    where = []
    class Victim:
        pass
    def finalizer(ref):
        where.append(core.inside())
    box = [Victim()]
    ref = weakref.ref(box[0], finalizer)
    def callback(event, args, caller):
        if args[0] == "take":
            core.hold(box.pop())
        return None
    core.install(frozenset({"zz.ev"}), callback, frozenset({callback.__code__}), "enforce")
    # WHEN the callback takes it, then another decision starts
    sys.audit("zz.ev", "take")
    alive_between = ref() is not None
    sys.audit("zz.ev", "next")
    emit(where=where, alive_between=alive_between, freed=ref() is None)
    """
    result = run_core(kind, body, tmp_path)
    # THEN it was not freed inside the callback, but at the next decision's start, outside
    assert result == {"where": [False], "alive_between": True, "freed": True}


def test_nesting_is_limited(kind: str, tmp_path: Path) -> None:
    # GIVEN a callback whose foreign helper raises a handled event again, without end
    body = """
    depths, errors = [], []
    def foreign():
        sys.audit("zz.r")
    def callback(event, args, caller):
        depths.append(len(depths) + 1)
        try:
            foreign()
        except PermissionError as exc:
            errors.append(str(exc))
    core.install(frozenset({"zz.r"}), callback, frozenset({callback.__code__}), "enforce")
    # WHEN the first event is raised
    sys.audit("zz.r")
    emit(depth=len(depths), errors=errors)
    """
    result = run_core(kind, body, tmp_path)
    # THEN 8 nested decisions ran and the ninth was refused
    assert result == {"depth": 8, "errors": ["lambda-sandbox: nested audit events too deep"]}


def test_returned_exception_is_raised_without_sandbox_frames(kind: str, tmp_path: Path) -> None:
    # GIVEN a callback that returns an exception for zz.deny
    body = """
    def callback(event, args, caller):
        return PermissionError("denied " + event)
    core.install(frozenset({"zz.deny"}), callback, frozenset({callback.__code__}), "enforce")
    def victim():
        sys.audit("zz.deny")
    # WHEN the event is raised
    try:
        victim()
    except PermissionError as exc:
        frames = [(f.filename, f.name) for f in traceback.extract_tb(exc.__traceback__)]
        emit(message=str(exc), frames=frames, files=[core.__file__, core._impl.__file__])
    """
    result = run_core(kind, body, tmp_path)
    # THEN it is raised in the caller
    assert result["message"] == "denied zz.deny"
    names = [name for _, name in result["frames"]]
    sandbox_frames = [f for f, _ in result["frames"] if f in result["files"]]
    if kind != "python":
        # AND no frame of the sandbox is in the traceback: it ends in the raising frame
        assert names == ["<module>", "victim"]
        assert sandbox_frames == []
    else:
        # (documented limit: the Python hook's own frame is the innermost entry)
        assert names[:2] == ["<module>", "victim"]
        assert sandbox_frames != []


def test_a_callback_error_never_leaves_with_the_callbacks_frames(kind: str, tmp_path: Path) -> None:
    # GIVEN a callback that raises for zz.boom (its frame holds a secret local), returns an
    # exception made while handling another for zz.context, and a non-exception for zz.odd
    body = """
    def callback(event, args, caller):
        secret = "the callback's state"
        if event == "zz.boom":
            raise ValueError("the message of the callback's")
        if event == "zz.context":
            try:
                raise KeyError("inner")
            except KeyError:
                return PermissionError("denied")
        return 42
    core.install(frozenset({"zz.boom", "zz.context", "zz.odd"}), callback,
                 frozenset({callback.__code__}), "x")
    out, leaked = {}, []
    for name in ("zz.boom", "zz.context", "zz.odd"):
        try:
            sys.audit(name)
        except Exception as exc:
            out[name] = [type(exc).__name__, str(exc)]
            seen, pending = set(), [exc]
            while pending:                       # every exception it leads to, and their frames
                e = pending.pop()
                if e is None or id(e) in seen:
                    continue
                seen.add(id(e))
                tb = e.__traceback__
                while tb is not None:
                    frame = tb.tb_frame
                    while frame is not None:
                        if frame.f_code is callback.__code__:
                            leaked.append(name)
                        frame = frame.f_back
                    tb = tb.tb_next
                pending += [e.__context__, e.__cause__]
    emit(out=out, leaked=leaked, inside=core.inside())
    """
    # WHEN each is raised
    result = run_core(kind, body, tmp_path)
    # THEN a raised error becomes a PermissionError naming its type only (fail closed)
    assert result["out"]["zz.boom"][0] == "PermissionError"
    assert "ValueError" in result["out"]["zz.boom"][1]
    assert "message" not in result["out"]["zz.boom"][1]
    # AND a returned exception is raised without the exception it was made while handling
    assert result["out"]["zz.context"] == ["PermissionError", "denied"]
    # AND a bad return value is refused, and the flag is clear
    assert result["out"]["zz.odd"][0] == "TypeError"
    assert result["inside"] is False
    # AND no frame of the callback is reachable from what was raised (native; the Python core
    # itself stays on the stack of what it raises: its documented limit)
    if kind != "python":
        assert result["leaked"] == []
    else:
        assert "zz.boom" not in result["leaked"] and "zz.context" not in result["leaked"]


def test_frames_objects_and_tracing_are_refused_to_foreign_code_inside_the_callback(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a callback that runs a function of the caller's (as a finalizer or a rebound hook
    # of the interpreter's would), and refused-inside events, one of them decided nowhere else
    body = """
    out = {}
    def foreign():
        for name, call in (("getframe", lambda: sys._getframe(1)),
                           ("gc", lambda: __import__("gc").get_referrers(out)),
                           ("settrace", lambda: sys.settrace(None))):
            try:
                call()
                out[name] = "allowed"
            except PermissionError:
                out[name] = "refused"
    def callback(event, args, caller):
        if event == "zz.run":
            foreign()
            out["own_getframe"] = sys._getframe(0).f_code.co_name
        elif event == "sys._getframe":
            out["decided_outside"] = True
    REFUSED = frozenset({"sys._getframe", "gc.get_referrers", "sys.settrace"})
    core.install(frozenset({"zz.run", "gc.get_referrers", "sys.settrace"}), callback,
                 frozenset({callback.__code__}), "enforce", refused_inside=REFUSED,
                 inside_only=frozenset({"sys._getframe"}))
    sys.audit("zz.run")
    sys._getframe(0)                     # outside the callback: not decided at all
    emit(**out)
    """
    result = run_core(kind, body, tmp_path)
    # THEN the foreign code is refused frames, objects and tracing inside the callback
    assert (result["getframe"], result["gc"], result["settrace"]) == ("refused",) * 3
    # AND the sandbox's own code is not, and an inside-only event is never decided outside
    assert result["own_getframe"] == "callback"
    assert "decided_outside" not in result


def test_phase_is_one_way_and_only_the_sandbox_moves_it(kind: str, tmp_path: Path) -> None:
    # GIVEN a core whose own code includes mark()
    body = """
    def mark():
        core.enter_invoke()
    def callback(event, args, caller):
        return None
    out = [core.phase()]
    try:
        core.enter_invoke()  # before install: refused
    except PermissionError:
        out.append("refused")
    core.install(frozenset({"zz.a"}), callback, frozenset({mark.__code__}), "enforce")
    # WHEN foreign code, then the sandbox's own code, asks for the invoke phase
    try:
        core.enter_invoke()
    except PermissionError:
        out.append("refused")
    out.append(core.phase())
    mark()
    out.append(core.phase())
    mark()
    out.append(core.phase())
    emit(out=out)
    """
    result = run_core(kind, body, tmp_path)
    # THEN only the sandbox's call switched it, and it stays switched
    assert result["out"] == ["init", "refused", "refused", "init", "invoke", "invoke"]


def test_cache_is_bounded_and_only_the_sandbox_writes_it(kind: str, tmp_path: Path) -> None:
    # GIVEN a callback that fills the cache, and foreign code that tries to
    body = """
    out = {}
    def foreign_add():
        try:
            core.cache_add("forged")
        except PermissionError:
            out["foreign_inside"] = "refused"
    def callback(event, args, caller):
        if event == "zz.fill":
            for i in range(args[0]):
                core.cache_add(f"k{i}")
        elif event == "zz.clear":
            core.cache_clear()
        elif event == "zz.add_subclass":
            try:
                core.cache_add(Key("k1"))
            except TypeError:
                out["inside_subclass"] = "TypeError"
        else:
            foreign_add()
    core.install(frozenset({"zz.fill", "zz.clear", "zz.foreign", "zz.add_subclass"}), callback,
                 frozenset({callback.__code__}), "enforce")
    for fn, arg in ((core.cache_add, "x"), (core.cache_clear, None)):
        try:
            fn(arg) if arg else fn()
        except PermissionError:
            out.setdefault("outside", []).append("refused")
    sys.audit("zz.foreign")
    # WHEN the sandbox adds exactly the limit, then one more key
    sys.audit("zz.fill", 8192)
    out["full"] = [core.cache_has("k0"), core.cache_has("k8191"), core.cache_has("k8192")]
    sys.audit("zz.fill", 8193)
    out["over"] = [core.cache_has("k0"), core.cache_has("k8192")]
    sys.audit("zz.clear")
    out["cleared"] = core.cache_has("k8192")
    out["forged"] = core.cache_has("forged")
    class Key(str):
        def __hash__(self):
            out["method"] = "called"
            return 0
        def __eq__(self, other):
            out["method"] = "called"
            return True
    out["subclass"] = core.cache_has(Key("k1"))
    out["not_str"] = [core.cache_has(b"k1"), core.cache_has(1)]
    try:
        core.cache_add(Key("k1"))
    except (TypeError, PermissionError):
        out["add_subclass"] = "refused"
    sys.audit("zz.add_subclass")
    emit(**out)
    """
    result = run_core(kind, body, tmp_path)
    # THEN writes from outside the callback or from foreign code were refused
    assert result["outside"] == ["refused", "refused"]
    assert result["foreign_inside"] == "refused"
    assert result["forged"] is False
    # AND at the limit all keys are held; one more clears it before adding
    assert result["full"] == [True, True, False]
    assert result["over"] == [False, True]
    assert result["cleared"] is False
    # AND only an exact str is ever found or stored, without calling any of the key's methods
    assert result["subclass"] is False
    assert result["not_str"] == [False, False]
    assert result["add_subclass"] == "refused"
    assert result["inside_subclass"] == "TypeError"
    assert "method" not in result


def test_an_answer_decided_before_the_phase_moved_is_not_kept_for_the_new_phase(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a callback that decides an open by the init rules, and the phase moving to invoke
    # (another thread's switch, simulated here) before it keeps the answer -- for the file, for
    # its folder, for a folder pattern, for a module prefix
    body = """
    base = os.getcwd()
    target = base + "/a.txt"
    open(target, "w").close()
    st = os.stat(base)
    out = {"seen": 0}
    def callback(event, args, caller):
        if event == "open" and args[0] == target:
            out["seen"] += 1
            if core.phase() == "init":
                core.enter_invoke()  # the switch, between the decision and the keeping
                out["kept"] = [
                    core.open_cache_add(args, None),
                    core.dir_verdict_add(base, "read", (st.st_dev, st.st_ino)),
                    core.pattern_verdict_add(base, "*.txt", "read", 0, (st.st_dev, st.st_ino)),
                    core.module_verdict_add("zzmod."),
                ]
    core.install(frozenset({"open"}), callback, frozenset({callback.__code__}), "enforce")
    open(target).close()   # decided in init, the phase moves to invoke meanwhile
    open(target).close()   # invoke: nothing of init's was kept for it
    emit(kept=out["kept"], seen=out["seen"], phase=core.phase())
    """
    result = run_core(kind, body, tmp_path)
    # THEN nothing was kept, and the open in invoke is decided again (by invoke's rules)
    assert result == {"kept": [False, False, False, False], "seen": 2, "phase": "invoke"}


def test_forgetting_names_drops_exactly_the_answers_at_and_below_them(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a core whose open table holds 3,000 answers (names in a small tree, so that probe
    # runs form and removals move entries back), and a model of what it holds
    body = """
    import random
    rng = random.Random(20261203)
    out = {"seen": 0}
    folders = ["/lsb/" + a + "/" + b for a in "pqrst" for b in ("u", "v", "w", "uv")]
    names = sorted({rng.choice(folders) + "/f" + str(rng.randrange(900)) for _ in range(3200)})[:3000]
    def callback(event, args, caller):
        if event == "open":
            out["seen"] += 1
        elif event == "zz.fill":
            for name in names:
                core.open_cache_add((name, "r", 0), None)
        elif event == "zz.forget":
            core.open_cache_forget(args[0])
    core.install(frozenset({"open", "zz.fill", "zz.forget"}), callback,
                 frozenset({callback.__code__}), "enforce")
    sys.audit("zz.fill")
    held = set(names)
    wrong = []
    def check(label):
        for name in names:
            before = out["seen"]
            sys.audit("open", name, "r", 0)
            answered = out["seen"] == before
            if answered != (name in held):
                wrong.append((label, name, answered))
    check("filled")
    # forget single names, whole folders, a folder's prefix that is no folder, and a parent
    targets = rng.sample(names, 400) + rng.sample(folders, 6) + ["/lsb/p/u", "/lsb/q/uv/f1", "/lsb/r"]
    for number, target in enumerate(targets):
        sys.audit("zz.forget", target)
        held = {n for n in held if not (n == target or n.startswith(target + "/"))}
        if number % 50 == 0 or number >= len(targets) - 4:
            check("after " + target)
    out["held"] = len(held)
    out["wrong"] = wrong[:5]
    out["count"] = len(wrong)
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN after every run of removals, each name is answered exactly while the model holds it
    # (a name below a forgotten one goes to the callback; "/lsb/p/u" does not take "/lsb/p/uv")
    assert result["count"] == 0, result["wrong"]
    assert 0 < result["held"] < 3000


def test_every_thread_with_a_change_in_flight_is_seen_however_many(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN 40 threads, each with an audited name change in flight (its change event fired,
    # and it has raised no audit event since): more than any fixed table of threads would hold
    body = """
    import threading
    def callback(event, args, caller):
        if event == "zz.forget":
            core.open_cache_forget(args[0])
    core.install(frozenset({"zz.forget", "zz.noop"}), callback,
                 frozenset({callback.__code__}), "enforce")
    count = 40
    marked = threading.Semaphore(0)
    cleared = threading.Semaphore(0)
    go = [threading.Event() for _ in range(count)]
    def changer(i):
        sys.audit("zz.forget", "/lsb/flight/" + str(i))   # its change is now in flight
        marked.release()
        go[i].wait()
        sys.audit("zz.noop")                            # its next event: the change returned
        cleared.release()
    threads = [threading.Thread(target=changer, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for _ in range(count):
        marked.acquire()
    seen = {"all": core.changes_elsewhere()}
    # WHEN the threads clear one by one, the first ones recorded first and the last ones last
    order = list(range(count))
    for step, i in enumerate(order):
        go[i].set()
        cleared.acquire()
        if step in (15, 16, 30, count - 2):
            seen["after " + str(step + 1)] = core.changes_elsewhere()
    seen["none"] = core.changes_elsewhere()
    for t in threads:
        t.join()
    emit(**seen)
    """
    result = run_core(kind, body, tmp_path)
    # THEN while any one of them still has its change in flight, another thread sees it (the
    # core keeps no answer then); once the last one's next event fired, none is in flight
    assert result == {
        "all": True,
        "after 16": True,
        "after 17": True,
        "after 31": True,
        "after 39": True,
        "none": False,
    }


def test_no_answer_is_kept_for_a_name_sqlite_makes_and_removes_itself(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a core whose callback keeps an open answer for each name it decides
    body = """
    out = {}
    def callback(event, args, caller):
        out[args[0].rsplit("/", 1)[1]] = core.open_cache_add((args[0], "r", 0), None)
    core.install(frozenset({"zz.decide"}), callback, frozenset({callback.__code__}), "enforce")
    # WHEN it decides the names SQLite makes and removes itself (red teams 70, 71), and others
    for leaf in ("x.db-journal", "x.db-wal", "x.db-shm", "x.db-mj0A1b2C3d", "etilqs_Zq81",
                 "x.db.lock", "x.db", "notes-mjournal", "x.db-mj0A1b2C3", "wal",
                 "my-journal.txt"):
        sys.audit("zz.decide", "/lsb/" + leaf)
    emit(**out)
    """
    result = run_core(kind, body, tmp_path)
    # THEN none is kept for SQLite's own names (each open of one is decided again: SQLite
    # removes them with no audit event, and anything may be made there); others are kept
    assert result == {
        "x.db-journal": False,
        "x.db-wal": False,
        "x.db-shm": False,
        "x.db-mj0A1b2C3d": False,
        "etilqs_Zq81": False,
        "x.db.lock": False,
        "x.db": True,
        "notes-mjournal": True,
        "x.db-mj0A1b2C3": True,
        "wal": True,
        "my-journal.txt": True,
    }


def test_an_answer_is_not_kept_when_a_name_changed_during_its_decision(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a core whose callback keeps an open answer for a name at the end of its decision
    body = """
    import threading
    out = {}
    go = threading.Event()
    def callback(event, args, caller):
        if event == "zz.forget":
            core.open_cache_forget(args[0])
        elif event == "zz.decide":
            name, during, label = args
            if during == "change":      # another thread's audited change, made meanwhile
                t = threading.Thread(target=changer, args=(False,))
                t.start(); t.join()
            elif during == "complete":  # another thread's change, in flight before, done now
                go.set(); waiting.join()
            elif during == "inside":    # a change made inside the decision (a signal handler's)
                foreign()
            elif during == "own":       # the decision's own forget, for the event it decides
                core.open_cache_forget("/lsb/elsewhere")
            out[label] = core.open_cache_add((name, "r", 0), None)
    def foreign():  # (not the sandbox's code: its event is decided, inside the decision)
        sys.audit("zz.forget", "/lsb/elsewhere")
    def changer(wait):
        sys.audit("zz.forget", "/lsb/elsewhere")
        if wait:
            go.wait()
        sys.audit("zz.noop")   # its next event: the change returned
    core.install(frozenset({"zz.forget", "zz.decide", "zz.noop"}), callback,
                 frozenset({callback.__code__}), "enforce")
    sys.audit("zz.decide", "/lsb/a", "", "quiet")
    sys.audit("zz.decide", "/lsb/b", "change", "changed_meanwhile")
    sys.audit("zz.decide", "/lsb/c", "", "after")
    waiting = threading.Thread(target=changer, args=(True,))
    waiting.start()
    while not core.changes_elsewhere():
        pass
    sys.audit("zz.decide", "/lsb/d", "complete", "completed_meanwhile")
    sys.audit("zz.decide", "/lsb/e", "", "after_completed")
    sys.audit("zz.decide", "/lsb/f", "inside", "changed_inside")
    sys.audit("zz.decide", "/lsb/h", "own", "own_forget_inside")
    sys.audit("zz.forget", "/lsb/elsewhere")   # this thread's own change, outside a decision
    sys.audit("zz.decide", "/lsb/g", "", "after_own_change")
    emit(**out)
    """
    result = run_core(kind, body, tmp_path)
    # THEN an answer is kept when no name changed during its decision; not when another
    # thread changed one meanwhile, nor when one's change in flight at the decision's start
    # was made before its end (the walk may have seen the names before the change), nor when
    # something run inside the decision changed one; the decision's own forget (for the event
    # it decides: made after it) does not count against it
    assert result == {
        "quiet": True,
        "changed_meanwhile": False,
        "after": True,
        "completed_meanwhile": False,
        "after_completed": True,
        "changed_inside": False,
        "own_forget_inside": True,
        "after_own_change": True,
    }


def test_open_cache_answers_only_what_the_sandbox_added_while_it_holds(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a callback that counts the `open` events it sees and adds the first allowed one
    body = """
    import subprocess
    out = {"seen": []}
    base = os.getcwd()
    a, b, secret, link = (base + "/" + n for n in ("a.txt", "b.txt", "secret.txt", "link.txt"))
    for name in (a, b, secret):
        open(name, "w").close()
    os.symlink(a, link)
    def identity(path):
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    validating = [False]
    def callback(event, args, caller):
        if event == "open":
            out["seen"].append(os.path.basename(args[0]) if type(args[0]) is str else "?")
            if args[0] == link and args[1] == "r":
                ok = core.open_cache_add(args, identity(a) if validating[0] else None)
                out.setdefault("added", []).append(ok)
            elif type(args[0]) is not str:
                out["not_held"] = core.open_cache_add(args, None)
        elif event == "zz.clear":
            core.open_cache_clear()
        elif event == "zz.validate":
            core.open_cache_validate()
            validating[0] = True
        elif event == "zz.phase":
            core.enter_invoke()
    core.install(frozenset({"open", "zz.clear", "zz.validate", "zz.phase"}), callback,
                 frozenset({callback.__code__, identity.__code__}), "enforce")
    try:
        core.open_cache_add((link, "r", 0), None)
    except PermissionError:
        out["outside"] = "refused"
    def reads(tag, path=link, mode="r"):
        before = len(out["seen"])
        open(path, mode).close()
        out[tag] = len(out["seen"]) - before   # 1: the callback decided; 0: the core answered
    reads("first")
    reads("again")
    reads("other_mode", mode="a")
    reads("other_file", path=b)
    class Path(str):
        pass
    reads("subclass", path=Path(link))
    out["seen"].clear(); open(link.encode()).close(); out["bytes"] = len(out["seen"])
    sys.audit("zz.phase")
    reads("new_phase")
    reads("new_phase_again")
    sys.audit("zz.clear")
    reads("after_clear")
    sys.audit("zz.validate")
    reads("validating_first")
    reads("validating_again")
    subprocess.run(["ln", "-sfn", secret, link], check=True)   # a child swaps the link
    reads("after_swap")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN only the sandbox's own code inside the callback may add
    assert result["outside"] == "refused"
    # AND an added open is answered by the core for the same path, mode, flags and phase only
    assert (result["first"], result["again"]) == (1, 0)
    assert (result["other_mode"], result["other_file"]) == (1, 1)
    # AND arguments of other types always reach the callback (no method of theirs runs)
    assert (result["subclass"], result["bytes"], result["not_held"]) == (1, 1, False)
    assert (result["new_phase"], result["new_phase_again"]) == (1, 0)
    # AND clearing forgets every answer; once validating, an answer holds only while the name
    # leads to the same file: a swap by a child sends the next open to the callback
    assert result["after_clear"] == 1
    assert (result["validating_first"], result["validating_again"]) == (1, 0)
    assert result["after_swap"] == 1


def test_directory_verdicts_answer_new_names_but_never_a_link(kind: str, tmp_path: Path) -> None:
    # GIVEN a callback that, at the first allowed open in a folder, keeps a verdict for the
    # whole folder (read), as the hook does when a rule covers every name in it
    body = """
    import subprocess
    out = {"seen": []}
    base = os.getcwd()
    os.mkdir(base + "/job")
    os.mkdir(base + "/other")
    job = base + "/job"
    for name in ("a.txt", "b.txt", "c.txt", "mod.py"):
        open(job + "/" + name, "w").close()
    open(base + "/secret.txt", "w").close()
    os.symlink(base + "/secret.txt", job + "/link.txt")
    validating = [False]
    def identity(path):
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    def callback(event, args, caller):
        if event == "open":
            out["seen"].append(os.path.basename(args[0]) if type(args[0]) is str else "?")
            if type(args[0]) is str and args[0] == job + "/a.txt" and args[1] == "r":
                out.setdefault("added", []).append(core.dir_verdict_add(
                    job, "read", identity(job) if validating[0] else None))
        elif event == "zz.forget":
            core.open_cache_forget(args[0])
        elif event == "zz.validate":
            core.open_cache_validate()
            validating[0] = True
        elif event == "zz.phase":
            core.enter_invoke()
    core.install(frozenset({"open", "zz.forget", "zz.validate", "zz.phase"}), callback,
                 frozenset({callback.__code__, identity.__code__}), "enforce")
    for bad in ((job, "read", None), (job, "list", None)):
        try:
            core.dir_verdict_add(*bad)
            out.setdefault("outside", []).append("added")
        except PermissionError:
            out.setdefault("outside", []).append("refused")
    def opens(tag, path, mode="r"):
        before = len(out["seen"])
        try:
            open(path, mode).close()
        except OSError:
            pass
        out[tag] = len(out["seen"]) - before   # 1: the callback decided; 0: the core answered
    opens("first", job + "/a.txt")
    opens("new_name", job + "/b.txt")
    opens("new_name_again", job + "/b.txt")
    opens("missing_name", job + "/nothing.txt")
    opens("write", job + "/c.txt", "a")
    opens("link", job + "/link.txt")
    opens("module_file", job + "/mod.py")
    opens("dotdot", job + "/..")
    opens("newline", job + "/x\\ny")
    opens("read_write", job + "/b.txt", "r+")
    opens("other_folder", base + "/other/x.txt")
    opens("below", job + "/sub/x.txt")
    opens("gone", job + "/gone.txt")                 # not there: answered (a new name)
    os.symlink(base + "/secret.txt", job + "/gone.txt")
    sys.audit("zz.forget", job + "/gone.txt")        # (the hook forgets a name it saw made)
    opens("gone_now_a_link", job + "/gone.txt", "rb")  # (another mode: not the kept answer)
    sys.audit("zz.forget", base + "/other")          # a name elsewhere: the verdict holds
    opens("after_other_forget", job + "/c.txt")
    sys.audit("zz.forget", job)                      # the folder itself: gone
    opens("after_forget", job + "/c.txt")
    opens("readd", job + "/a.txt")
    sys.audit("zz.phase")
    opens("new_phase", job + "/c.txt")
    opens("readd_invoke", job + "/a.txt")
    sys.audit("zz.validate")
    opens("validating_first", job + "/a.txt")
    opens("validating_new", job + "/c.txt")
    os.rename(job, base + "/moved")                  # no event the core sees: a child could
    subprocess.run(["ln", "-sfn", base + "/other", job], check=True)
    open(base + "/other/c.txt", "w").close()
    opens("after_swap", job + "/c.txt")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN only the sandbox's own code inside the callback may keep a verdict
    assert result["outside"] == ["refused", "refused"]
    assert result["added"][0] is True
    # AND new names directly in the folder are answered by the core, existing or not, for
    # the verdict's action (a read); the answer is then kept like any open
    assert (result["first"], result["new_name"], result["new_name_again"]) == (1, 0, 0)
    assert result["missing_name"] == 0
    assert result["write"] == 1
    # AND a link, a module file, "..", another folder or a folder below always reach the callback
    assert (result["link"], result["module_file"], result["dotdot"]) == (1, 1, 1)
    # AND a name with a newline (the rules' "**" does not match one), and an open that also
    # writes (the verdict is a read's), reach the callback
    assert (result["newline"], result["read_write"]) == (1, 1)
    assert (result["other_folder"], result["below"]) == (1, 1)
    # AND what a lookup of a name found is not trusted once the name was seen changed: a
    # name that was missing and is a link now reaches the callback
    assert (result["gone"], result["gone_now_a_link"]) == (0, 1)
    # AND forgetting the folder (or a name above it) drops the verdict; another name does not
    assert result["after_other_forget"] == 0
    assert (result["after_forget"], result["readd"]) == (1, 1)
    # AND a verdict holds for its phase only
    assert (result["new_phase"], result["readd_invoke"]) == (1, 1)
    # AND once validating, a verdict holds only while the folder's name leads to the same
    # folder: swapped for a link by another process, the next new name reaches the callback
    if kind != "native-arm64":
        # (qemu-user resolves "/" to its sysroot for an open of it: the core's walk from the
        # root with no link on the way finds no such folder there and leaves the name to the
        # callback -- the safe way; the answer itself is checked on the real kernels)
        assert (result["validating_first"], result["validating_new"]) == (1, 0)
    assert result["after_swap"] == 1


def test_an_open_that_only_makes_a_new_name_is_answered_without_following_what_is_there(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a write verdict for a folder holding a link to a secret file and a link to
    # another folder (the verdict added at the first open there, as the hook does)
    body = """
    import errno
    out = {"seen": []}
    base = os.getcwd()
    job = base + "/job"
    os.mkdir(job)
    os.mkdir(base + "/elsewhere")
    with open(base + "/secret.txt", "w") as handle:
        handle.write("secret")
    os.symlink(base + "/secret.txt", job + "/link.txt")
    os.symlink(base + "/elsewhere", job + "/linked_folder")
    def callback(event, args, caller):
        if event == "open":
            out["seen"].append(os.path.basename(args[0]) if type(args[0]) is str else "?")
            if args[0] == job + "/first.txt":
                core.dir_verdict_add(job, "write", None)
                core.dir_verdict_add(job, "read", None)
        elif event == "zz.validate":
            core.open_cache_validate()
    core.install(frozenset({"open", "zz.validate"}), callback,
                 frozenset({callback.__code__}), "enforce")
    def opens(tag, path, flags):
        before = len(out["seen"])
        try:
            os.close(os.open(path, flags, 0o600))
            result = "made"
        except OSError as error:
            result = errno.errorcode[error.errno]
        out[tag] = (len(out["seen"]) - before, result)  # (1: the callback decided)
    new = os.O_RDWR | os.O_CREAT | os.O_EXCL
    opens("first", job + "/first.txt", os.O_WRONLY | os.O_CREAT)
    opens("new", job + "/new.txt", new)
    opens("on_a_link", job + "/link.txt", new)
    opens("on_a_file", job + "/new.txt", new)
    opens("create_on_a_link", job + "/link.txt", os.O_WRONLY | os.O_CREAT)
    opens("path_on_a_link", job + "/link.txt", os.O_PATH | new)
    opens("tmpfile_in_a_linked_folder", job + "/linked_folder", os.O_TMPFILE | os.O_RDWR)
    sys.audit("zz.validate")
    opens("validating", job + "/newer.txt", new)
    with open(base + "/secret.txt") as handle:
        out["secret"] = handle.read()
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN an O_CREAT | O_EXCL open is answered by the core (no lookup of the name needed):
    # a new name is made, a name there (a link included) fails with EEXIST, never followed
    assert result["first"][0] == 1
    assert result["new"] == [0, "made"]
    assert result["on_a_link"] == [0, "EEXIST"]
    assert result["on_a_file"] == [0, "EEXIST"]
    assert result["secret"] == "secret"
    # AND an open that may follow a link there still reaches the callback: O_CREAT alone,
    # O_PATH (which ignores O_CREAT and O_EXCL) and O_TMPFILE (its name is a folder, followed)
    assert result["create_on_a_link"][0] == 1
    assert result["path_on_a_link"][0] == 1
    assert result["tmpfile_in_a_linked_folder"][0] == 1
    # AND once validating (a child may have swapped a folder), the name's folder is looked
    # up again: the open reaches the callback or is answered after that lookup
    assert result["validating"][1] == "made"


def test_module_file_verdicts_answer_reads_with_the_folders_read_verdict_only(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN three folders of module files: "plain" gets a read verdict and a module-file
    # verdict, "only_read" the read verdict alone, "only_modules" the module-file verdict alone
    body = """
    out = {"seen": []}
    base = os.getcwd()
    names = ("a.pyc", "b.py", "c.so", "d.pth", "e.zip", "f.pyi", "g.txt")
    for folder in ("plain", "only_read", "only_modules"):
        os.mkdir(base + "/" + folder)
        for name in names:
            open(base + "/" + folder + "/" + name, "w").close()
    open(base + "/secret.txt", "w").close()
    os.symlink(base + "/secret.txt", base + "/plain/link.py")
    def callback(event, args, caller):
        if event == "open":
            out["seen"].append(args[0])
        elif event == "zz.verdicts":
            out["added"] = [
                core.dir_verdict_add(base + "/plain", "read", None),
                core.dir_module_verdict_add(base + "/plain", None),
                core.dir_verdict_add(base + "/only_read", "read", None),
                core.dir_module_verdict_add(base + "/only_modules", None),
                core.dir_module_verdict_add("relative", None),
                core.dir_module_verdict_add(base + "/plain/", None),
            ]
            try:
                core.dir_module_verdict_add(b"/x", None)
            except TypeError:
                out["bytes"] = "TypeError"
        elif event == "zz.forget":
            core.open_cache_forget(args[0])
        elif event == "zz.phase":
            core.enter_invoke()
    core.install(frozenset({"open", "zz.verdicts", "zz.forget", "zz.phase"}), callback,
                 frozenset({callback.__code__}), "enforce")
    try:
        core.dir_module_verdict_add(base + "/only_read", None)
        out["outside"] = "added"
    except PermissionError:
        out["outside"] = "refused"
    sys.audit("zz.verdicts")
    def opens(path, mode="rb"):
        before = len(out["seen"])
        try:
            open(path, mode).close()
        except OSError:
            pass
        return len(out["seen"]) - before   # 1: the callback decided; 0: the core answered
    for folder in ("plain", "only_read", "only_modules"):
        out[folder] = [opens(base + "/" + folder + "/" + name) for name in names]
    out["new_module"] = opens(base + "/plain/new.pyc")
    out["write"] = opens(base + "/plain/b.py", "ab")
    out["read_write"] = opens(base + "/plain/b.py", "r+b")
    out["link"] = opens(base + "/plain/link.py")
    sys.audit("zz.forget", base + "/plain")
    out["after_forget"] = opens(base + "/plain/c.so")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN only the sandbox's own code inside the callback keeps one, for plain folder names
    assert result["outside"] == "refused"
    assert result["added"] == [True, True, True, True, False, False]
    assert result["bytes"] == "TypeError"
    # AND module files are read without the callback only where both verdicts hold
    assert result["plain"] == [0, 0, 0, 0, 0, 0, 0]
    assert result["new_module"] == 0
    assert result["only_read"] == [1, 1, 1, 1, 1, 1, 0]
    assert result["only_modules"] == [1, 1, 1, 1, 1, 1, 1]
    # AND writing a module file, a link, and a forgotten folder reach the callback
    assert (result["write"], result["read_write"], result["link"]) == (1, 1, 1)
    assert result["after_forget"] == 1


def test_module_files_a_read_pattern_covers_are_answered_only_with_the_module_file_verdict(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN two folders of bytecode outside any module root, each with a read pattern for
    # "*.pyc" (a learned ".../__pycache__/*.pyc" rule): "marked" also gets the module-file
    # verdict (the hook's remember_patterns, for a folder outside the module roots), "bare" not
    body = """
    out = {"seen": []}
    base = os.getcwd()
    for folder in ("marked", "bare"):
        os.mkdir(base + "/" + folder)
        for name in ("a.pyc", "b.pyc", "c.py", "d.txt"):
            open(base + "/" + folder + "/" + name, "w").close()
    open(base + "/secret.txt", "w").close()
    os.symlink(base + "/secret.txt", base + "/marked/link.pyc")
    def callback(event, args, caller):
        if event == "open":
            out["seen"].append(args[0])
        elif event == "zz.verdicts":
            out["added"] = [
                core.pattern_verdict_add(base + "/marked", "*.pyc", "read", 0, None),
                core.dir_module_verdict_add(base + "/marked", None),
                core.pattern_verdict_add(base + "/bare", "*.pyc", "read", 0, None),
            ]
    core.install(frozenset({"open", "zz.verdicts"}), callback, frozenset({callback.__code__}),
                 "enforce")
    sys.audit("zz.verdicts")
    def opens(path, mode="rb"):
        before = len(out["seen"])
        try:
            open(path, mode).close()
        except OSError:
            pass
        return len(out["seen"]) - before   # 1: the callback decided; 0: the core answered
    for folder in ("marked", "bare"):
        out[folder] = [opens(base + "/" + folder + "/" + name)
                       for name in ("a.pyc", "b.pyc", "new.pyc", "c.py", "d.txt")]
    out["write"] = opens(base + "/marked/a.pyc", "ab")
    out["link"] = opens(base + "/marked/link.pyc")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    assert result["added"] == [True, True, True]
    # THEN with the module-file verdict the pattern answers the bytecode it covers (new names
    # too), and nothing it does not cover (a source, another file)
    assert result["marked"] == [0, 0, 0, 1, 1]
    # AND without it every module file still reaches the callback
    assert result["bare"] == [1, 1, 1, 1, 1]
    # AND a write and a link the pattern covers reach the callback
    assert (result["write"], result["link"]) == (1, 1)


def test_an_import_the_decision_cache_allowed_is_answered_by_the_core(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a callback that counts `import` events and caches the first one's key, as the hook
    # does for an allowed module ("modules" SEP "import" SEP phase SEP name)
    body = """
    out = {"seen": 0}
    def callback(event, args, caller):
        if event == "import":
            out["seen"] += 1
            if args[0] == "allowed_mod":
                core.cache_add("modules\\x1fimport\\x1f" + core.phase() + "\\x1f" + args[0])
        elif event == "zz.phase":
            core.enter_invoke()
    core.install(frozenset({"import", "zz.phase"}), callback, frozenset({callback.__code__}),
                 "enforce")
    def imports(tag, name, *rest):
        before = out["seen"]
        sys.audit("import", name, *rest)
        out[tag] = out["seen"] - before   # 1: the callback decided; 0: the core answered
    imports("first", "allowed_mod", None, [], [], [])
    imports("again", "allowed_mod", None, [], [], [])
    imports("extension", "allowed_mod", "/x/allowed_mod.so")
    imports("other", "other_mod", None, [], [], [])
    class Name(str):
        pass
    imports("subclass", Name("allowed_mod"), None, [], [], [])
    imports("not_str", b"allowed_mod", None, [], [], [])
    imports("wide", "allowed_mod\\u0100", None, [], [], [])
    sys.audit("zz.phase")
    imports("new_phase", "allowed_mod", None, [], [], [])
    imports("new_phase_again", "allowed_mod", None, [], [], [])
    imports("extension_invoke", "allowed_mod", "/x/allowed_mod.so")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN a cached name's import events are answered without the callback, in its phase only
    assert (result["first"], result["again"]) == (1, 0)
    assert (result["new_phase"], result["new_phase_again"]) == (1, 0)
    # AND a C extension's event (it names the file being loaded) always reaches the callback,
    # init included: the file is decided in every phase (red team 51)
    assert (result["extension"], result["extension_invoke"]) == (1, 1)
    # AND other names, and names of any other type, always reach the callback
    assert (result["other"], result["subclass"], result["not_str"]) == (1, 1, 1)
    assert result["wide"] == 1


def test_an_exec_that_runs_no_module_is_answered_by_the_core(kind: str, tmp_path: Path) -> None:
    # GIVEN a callback that counts `exec` events (the hook's answer for these is None: only a
    # "<module>" code object of an absolute file is a module running)
    body = """
    out = {"seen": 0}
    def callback(event, args, caller):
        out["seen"] += 1
    core.install(frozenset({"exec"}), callback, frozenset({callback.__code__}), "enforce")
    def execs(tag, *args):
        before = out["seen"]
        sys.audit("exec", *args)
        out[tag] = out["seen"] - before   # 1: the callback decided; 0: the core answered
    def f():
        pass
    execs("function", f.__code__)
    execs("string", compile("1", "<string>", "eval"))
    execs("relative", compile("1", "rel/mod.py", "exec"))
    execs("empty_file", compile("1", "", "exec"))
    execs("module", compile("1", "/abs/mod.py", "exec"))
    class Name(str):
        pass
    execs("name_subclass", compile("1", "/abs/mod.py", "exec").replace(
        co_name=Name("<module>")))
    execs("file_subclass", compile("1", "/abs/mod.py", "exec").replace(
        co_filename=Name("rel.py")))
    execs("not_code", "print(1)")
    execs("no_args")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN code that is not a module's (by its exact name, or its exact file name) is answered
    assert (result["function"], result["string"], result["relative"]) == (0, 0, 0)
    assert result["empty_file"] == 0
    # AND a module's code of an absolute file, and anything not shown plainly, reach the callback
    assert result["module"] == 1
    assert (result["name_subclass"], result["file_subclass"]) == (1, 1)
    assert (result["not_code"], result["no_args"]) == (1, 1)


def test_a_lookup_of_an_ip_literal_is_answered_by_the_core(kind: str, tmp_path: Path) -> None:
    # GIVEN a callback that counts `socket.getaddrinfo` events (the hook's answer is None for a
    # passive lookup and for an IP literal: no DNS query leaves)
    body = """
    out = {"seen": 0}
    def callback(event, args, caller):
        out["seen"] += 1
    core.install(frozenset({"socket.getaddrinfo"}), callback, frozenset({callback.__code__}),
                 "enforce")
    def looks_up(tag, *args):
        before = out["seen"]
        sys.audit("socket.getaddrinfo", *args)
        out[tag] = out["seen"] - before   # 1: the callback decided; 0: the core answered
    class Name(str):
        pass
    for tag, host in (("v4", "127.0.0.1"), ("v6", "::1"), ("v6_long", "fe80::1:2"),
                      ("passive", None), ("name", "localhost"), ("metadata_name", "instance-data"),
                      ("trailing_dot", "127.0.0.1."), ("scope", "fe80::1%eth0"),
                      ("brackets", "[::1]"), ("bytes", b"127.0.0.1"), ("bytes_v6", b"::1"),
                      ("bytes_name", b"localhost"), ("bytes_dot", b"127.0.0.1."),
                      ("bytes_high", b"127.0.0.1\\xff"), ("bytearray", bytearray(b"127.0.0.1")),
                      ("subclass", Name("::1")), ("short", "1"), ("empty", ""),
                      ("spaces", " 127.0.0.1")):
        looks_up(tag, host, 80, 0, 0, 0)
    looks_up("no_args")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN literals as given and passive lookups are answered, an ASCII literal in exact bytes
    # too (the native core's sealed resolvers hand an ASCII host on as bytes)
    for tag in ("v4", "v6", "v6_long", "passive", "bytes", "bytes_v6"):
        assert result[tag] == 0, tag
    # AND names, and anything the decoder would have to normalise or read, reach the callback
    for tag in ("name", "metadata_name", "trailing_dot", "scope", "brackets", "bytes_name"):
        assert result[tag] == 1, tag
    for tag in ("bytes_dot", "bytes_high", "bytearray"):
        assert result[tag] == 1, tag
    for tag in ("subclass", "short", "empty", "spaces", "no_args"):
        assert result[tag] == 1, tag


def test_a_compile_verdict_answers_the_same_source_from_the_same_code(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a callback that counts `compile` events and keeps a verdict for each one it is
    # told to keep (as the hook does once every access of the event was allowed, in enforce)
    body = """
    out = {"seen": 0, "kept": []}
    keep = [False]
    def callback(event, args, caller):
        if event == "compile":
            out["seen"] += 1
            if keep[0]:
                out["kept"].append(core.compile_verdict_add(args, caller))
        elif event == "zz.phase":
            core.enter_invoke()
        elif event == "zz.clear":
            core.cache_clear()
        elif event == "zz.odd":
            try:
                core.compile_verdict_add(("1", "<s>"), "not code")
            except TypeError:
                out["not_code"] = "TypeError"
    core.install(frozenset({"compile", "zz.phase", "zz.clear", "zz.odd"}), callback,
                 frozenset({callback.__code__}), "enforce", caller_events=frozenset({"compile"}))
    def site(source, filename="<string>"):
        sys.audit("compile", source, filename)
    def other_site(source, filename="<string>"):
        sys.audit("compile", source, filename)
    def compiles(tag, fn, *args):
        before = out["seen"]
        fn(*args)
        out[tag] = out["seen"] - before   # 1: the callback decided; 0: the core answered
    keep[0] = True
    compiles("first", site, "6 * 7")
    compiles("first_bytes", site, b"6 * 7")
    compiles("first_wide", site, "\u00e9 + \u0100")
    compiles("absolute", site, "1", "/x/mod.py")
    compiles("odd_name", site, "1", b"<string>")
    class Text(str):
        pass
    compiles("subclass", site, Text("6 * 7"))
    keep[0] = False
    compiles("again", site, "6 * 7")
    compiles("again_bytes", site, b"6 * 7")
    compiles("again_wide", site, "\u00e9 + \u0100")
    compiles("other_source", site, "6 * 8")
    compiles("longer_source", site, "6 * 7 ")
    compiles("other_name", site, "6 * 7", "<other>")
    compiles("other_code", other_site, "6 * 7")
    compiles("subclass_again", site, Text("6 * 7"))
    compiles("absolute_again", site, "1", "/x/mod.py")
    sys.audit("zz.odd")
    try:
        core.compile_verdict_add(("6 * 8", "<string>"), site.__code__)
        out["foreign"] = "added"
    except PermissionError:
        out["foreign"] = "PermissionError"
    compiles("after_foreign", site, "6 * 8")
    sys.audit("zz.phase")
    compiles("new_phase", site, "6 * 7")
    sys.audit("zz.clear")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN exact str and bytes sources with a plain file name are kept; an absolute file name
    # (the import system's), a name of another type and a str subclass are not
    assert result["kept"] == [True, True, True, False, False, False]
    # AND the same code compiling the same source with the same file name, in the same phase,
    # is answered by the core
    assert (result["again"], result["again_bytes"], result["again_wide"]) == (0, 0, 0)
    # AND any other source, file name, compiling code, kind or phase reaches the callback
    for tag in (
        "other_source",
        "longer_source",
        "other_name",
        "other_code",
        "subclass_again",
        "absolute_again",
        "after_foreign",
        "new_phase",
    ):
        assert result[tag] == 1, tag
    # AND only the sandbox's own code inside the callback keeps one, and only for a code object
    assert result["not_code"] == "TypeError"
    assert result["foreign"] == "PermissionError"


def test_an_exec_verdict_answers_the_same_fork_exec_while_its_program_is_unchanged(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a callback that, at the first fork_exec of a program, keeps an exec verdict with
    # the program's identity (as the hook does once it allowed it on a program judged plain)
    body = """
    import shutil
    tool = os.getcwd() + "/tool"
    shutil.copy("/bin/true", tool)
    out = {"seen": 0}
    def callback(event, args, caller):
        if event == "zz.keep":
            out["kept"] = core.exec_verdict_add(args[0], core.file_identity(tool))
            kinds = []
            for odd in ((["/bin/true", tool.encode()], [b"x"], None, None, False),
                        ([tool], [b"x"], None, None, False),
                        ([b"rel/tool"], [b"x"], None, None, False),
                        ([tool.encode()], [b"x"], None, None, True),
                        ([tool.encode()], [bytearray(b"x")], None, None, False)):
                kinds.append(core.exec_verdict_add(odd, core.file_identity(tool)))
            out["odd_kept"] = kinds
            try:
                core.exec_verdict_add(args[0], (1, 2, 3))
            except TypeError:
                out["bad_identity"] = "TypeError"
        elif event == "zz.clear":
            core.cache_clear()
        elif event == "zz.phase":
            core.enter_invoke()
        else:
            out["seen"] += 1
    EVENTS = {"_posixsubprocess.fork_exec", "zz.keep", "zz.clear", "zz.phase"}
    core.install(frozenset(EVENTS), callback, frozenset({callback.__code__}), "enforce")
    T = tool.encode()
    ARGS = ([T], [b"tool", b"-x"], None, None, False)
    def execs(tag, *args):
        before = out["seen"]
        sys.audit("_posixsubprocess.fork_exec", *args)
        out[tag] = out["seen"] - before   # 1: the callback decided; 0: the core answered
    execs("before", *ARGS)
    sys.audit("zz.keep", ARGS)
    try:
        core.exec_verdict_add(ARGS, core.file_identity(tool))
        out["outside"] = "added"
    except PermissionError:
        out["outside"] = "PermissionError"
    execs("same", *ARGS)
    execs("same_tuple", (T,), (b"tool", b"-x"), None, None, False)
    execs("other_argv", [T], [b"tool", b"-y"], None, None, False)
    execs("str_argv", [T], ["tool", "-x"], None, None, False)
    execs("env", [T], [b"tool", b"-x"], [b"A=1"], None, False)
    execs("cwd", [T], [b"tool", b"-x"], None, b"/tmp", False)
    execs("preexec", [T], [b"tool", b"-x"], None, None, True)
    execs("three_args", [T], [b"tool", b"-x"], None)
    os.utime(tool, (1, 1))                          # the program changed (its mtime)
    execs("changed", *ARGS)
    sys.audit("zz.keep", ARGS)
    execs("kept_again", *ARGS)
    sys.audit("zz.phase")
    execs("other_phase", *ARGS)
    sys.audit("zz.keep", ARGS)
    sys.audit("zz.clear")
    execs("after_clear", *ARGS)
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN only the sandbox's own code inside the callback keeps one, of the plain kind only
    assert result["outside"] == "PermissionError"
    assert result["kept"] is True
    assert result["odd_kept"] == [False] * 5
    assert result["bad_identity"] == "TypeError"
    # AND the same arguments (list or tuple) are answered by the core
    assert (result["before"], result["same"], result["same_tuple"]) == (1, 0, 0)
    # AND other arguments, another phase, a changed program, or a cleared cache reach the
    # callback
    for tag in ("other_argv", "str_argv", "env", "cwd", "preexec", "three_args"):
        assert result[tag] == 1, tag
    assert (result["changed"], result["kept_again"]) == (1, 0)
    assert (result["other_phase"], result["after_clear"]) == (1, 1)


# What a Popen verdict's checks are built from in these cases: fake os, os.path and subprocess
# modules (their dicts are what the core probes), the real os.environ (its class, one method,
# its decoders), a Popen._execute_child stand-in, and a plain-program table of the test's own.
POPEN_SETUP = """
import shutil, types
tool = os.getcwd() + "/tool"
shutil.copy("/bin/true", tool)
ARGV = ["tool", "-x"]
def original_get_exec_path(env=None): return []
def original_fsencode(name): return name
def original_join(*parts): return "/".join(parts)
def original_dirname(name): return name
fake_path = types.ModuleType("fake_path")
fake_path.join, fake_path.dirname = original_join, original_dirname
fake_os = types.ModuleType("fake_os")
fake_os.get_exec_path, fake_os.fsencode = original_get_exec_path, original_fsencode
fake_os.path, fake_os.environ = fake_path, os.environ
fake_subprocess = types.ModuleType("fake_subprocess")
fake_subprocess.os = fake_os
modules = {"subprocess": fake_subprocess}
ENVIRON = type(os.environ)
environ_class_dict = gc.get_referents(ENVIRON.__dict__)[0]   # (the live class dict)
original_getitem = environ_class_dict["__getitem__"]
dict_attribute = next(vars(k)["__dict__"] for k in ENVIRON.__mro__ if "__dict__" in vars(k))
def execute_child(pass_fds, preexec_fn):
    sys.audit("subprocess.Popen", tool, ARGV, None, None)
plain = {tool: core.file_identity(tool)}
def checks(wrapper=None):
    return (fake_os.__dict__, original_get_exec_path, original_fsencode, original_join,
            original_dirname, modules, execute_child.__code__, ENVIRON,
            ((environ_class_dict, "__getitem__", original_getitem),),
            os.environ.decodekey, os.environ.decodevalue, dict_attribute, plain, wrapper)
out = {"seen": 0, "kept": []}
keep = [None]   # the checks the callback keeps the next Popen's verdict with
on_keep = [None]   # what the callback runs at zz.keep
def keeper(args, caller, identity, given):   # (the sandbox's own code, as the hook's is)
    try:
        return core.popen_verdict_add(args, caller, identity, given)
    except TypeError:
        return "TypeError"
def callback(event, args, caller):
    if event == "zz.keep":
        on_keep[0]()
    elif event == "zz.clear":
        core.cache_clear()
    elif event == "zz.phase":
        core.enter_invoke()
    elif event == "subprocess.Popen":
        out["seen"] += 1
        if keep[0] is not None:
            out["kept"].append(keeper(args, caller, plain[tool], keep[0]))
            keep[0] = None
EVENTS = {"subprocess.Popen", "zz.keep", "zz.clear", "zz.phase"}
core.install(frozenset(EVENTS), callback, frozenset({callback.__code__, keeper.__code__}),
             "enforce", caller_events=frozenset({"subprocess.Popen"}))
def raiser(argv=ARGV, program=tool, cwd=None, env=None):
    sys.audit("subprocess.Popen", program, argv, cwd, env)
def other_raiser():
    sys.audit("subprocess.Popen", tool, ARGV, None, None)
def popens(tag, fn=raiser):
    before = out["seen"]
    fn()
    out[tag] = out["seen"] - before   # 1: the callback decided; 0: the core answered
"""


def test_a_popen_verdict_answers_the_same_popen_while_everything_it_read_holds(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a callback that keeps a Popen verdict (as the hook does once it allowed a usual
    # Popen on a program judged plain), with checks built from fake os/os.path/subprocess
    # modules, the real os.environ and a plain-program table of its own
    body = POPEN_SETUP + textwrap.dedent(
        """
    class Text(str):
        pass
    class Items(list):
        pass
    class Liar(str):
        def __eq__(self, other): return True
        __hash__ = str.__hash__
    def step(tag, change, undo, fn=raiser):
        change()
        popens(tag, fn)
        undo()
        popens(tag + "_undone", fn)
    keep[0] = checks()
    popens("before")
    try:
        core.popen_verdict_add((tool, ARGV, None, None), raiser.__code__, plain[tool], checks())
        out["outside"] = "added"
    except PermissionError:
        out["outside"] = "PermissionError"
    popens("same")
    popens("same_tuple", lambda: raiser(tuple(ARGV)))
    popens("other_argv", lambda: raiser(["tool", "-y"]))
    popens("str_subclass_argv", lambda: raiser([Text("tool"), "-x"]))
    popens("liar_argv", lambda: raiser([Liar("tool"), Liar("-x")]))
    popens("list_subclass_argv", lambda: raiser(Items(ARGV)))
    popens("str_subclass_program", lambda: raiser(program=Text(tool)))
    popens("cwd", lambda: raiser(cwd="/tmp"))
    popens("env", lambda: raiser(env={}))
    popens("other_code", other_raiser)
    other = lambda *a: None
    def rebind(namespace, name, value):
        held = namespace[name]
        return (lambda: namespace.__setitem__(name, value)), (lambda: namespace.__setitem__(name, held))
    step("get_exec_path", *rebind(fake_os.__dict__, "get_exec_path", other))
    step("fsencode", *rebind(fake_os.__dict__, "fsencode", other))
    step("join", *rebind(fake_path.__dict__, "join", other))
    step("dirname", *rebind(fake_path.__dict__, "dirname", other))
    step("path_module", *rebind(fake_os.__dict__, "path", types.ModuleType("p")))
    step("subprocess_os", *rebind(fake_subprocess.__dict__, "os", types.ModuleType("o")))
    step("environ", *rebind(fake_os.__dict__, "environ", dict(os.environ)))
    step("environ_method", *rebind(environ_class_dict, "__getitem__", other))
    step("environ_decoder", *rebind(os.environ.__dict__, "decodevalue", other))
    step("no_subprocess", *rebind(modules, "subprocess", None))
    step("plain_entry", *rebind(plain, tool, (1, 2, 3, 4, 5, 6, 7)))
    os.utime(tool, (1, 1))                          # the program changed (its times)
    popens("changed")
    plain[tool] = core.file_identity(tool)         # judged plain again (the hook's table)
    keep[0] = checks()
    popens("judged_again")
    popens("kept_again")
    # Popen's own code: its pass_fds and preexec_fn are read from its frame
    class Fd(int):
        def __hash__(self): return 3
    keep[0] = checks()
    popens("child_first", lambda: execute_child((), None))
    popens("child_same", lambda: execute_child([3, 4], None))
    popens("child_fd_subclass", lambda: execute_child((Fd(3),), None))
    popens("child_fd_bool", lambda: execute_child([3, True], None))
    popens("child_fds_list_subclass", lambda: execute_child(Items([3]), None))
    popens("child_fds_none", lambda: execute_child(None, None))
    popens("child_preexec", lambda: execute_child((), lambda: None))
    popens("child_again", lambda: execute_child((3,), None))
    sys.audit("zz.phase")
    popens("other_phase")
    keep[0] = checks()
    popens("phase_first")
    popens("phase_same")
    sys.audit("zz.clear")
    popens("after_clear")
    keep[0] = checks()
    popens("last_first")
    popens("last_same")
    fake_os.__dict__[1] = 1                         # (its keys are no longer all str, for good)
    popens("non_str_key")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    )
    result = run_core(kind, body, tmp_path)
    answered = kind_version(kind) >= (3, 11)  # (3.10: no dict says its keys are all str)
    zero = 0 if answered else 1
    # THEN only the sandbox's own code inside the callback keeps one
    assert result["outside"] == "PermissionError"
    assert result["kept"] == [True] * 5
    # AND the same arguments (list or tuple) from the same code are answered by the core
    assert (result["before"], result["same"], result["same_tuple"]) == (1, zero, zero)
    # AND other arguments, arguments of other types (whatever they compare equal to), other
    # code, a cwd= or env= reach the callback
    for tag in (
        "other_argv",
        "str_subclass_argv",
        "liar_argv",
        "list_subclass_argv",
        "str_subclass_program",
        "cwd",
        "env",
        "other_code",
    ):
        assert result[tag] == 1, tag
    # AND so does the event while any object the decision read differs from what it was; the
    # same event is answered again once it is back
    for tag in (
        "get_exec_path",
        "fsencode",
        "join",
        "dirname",
        "path_module",
        "subprocess_os",
        "environ",
        "environ_method",
        "environ_decoder",
        "plain_entry",
    ):
        assert (result[tag], result[tag + "_undone"]) == (1, zero), tag
    # AND without subprocess in sys.modules the decoder reads nothing of it: still answered
    assert (result["no_subprocess"], result["no_subprocess_undone"]) == (zero, zero)
    # AND a changed program reaches the callback until judged (and kept) again
    assert (result["changed"], result["judged_again"], result["kept_again"]) == (1, 1, zero)
    # AND from Popen's own code only exact int descriptors in a tuple or list and no
    # preexec_fn are answered
    assert (result["child_first"], result["child_same"], result["child_again"]) == (1, zero, zero)
    for tag in (
        "child_fd_subclass",
        "child_fd_bool",
        "child_fds_list_subclass",
        "child_fds_none",
        "child_preexec",
    ):
        assert result[tag] == 1, tag
    # AND another phase, or a cleared cache, reaches the callback
    assert (result["other_phase"], result["phase_first"], result["phase_same"]) == (1, 1, zero)
    assert result["after_clear"] == 1
    # AND a dict the core cannot probe without running code (a key that is not a str) makes
    # every later event the callback's
    assert (result["last_first"], result["last_same"], result["non_str_key"]) == (1, zero, 1)


def test_a_popen_verdict_is_kept_for_plain_arguments_only(kind: str, tmp_path: Path) -> None:
    # GIVEN the same setup WHEN the callback keeps verdicts for arguments of other kinds, with
    # malformed identities, callers and checks
    body = POPEN_SETUP + textwrap.dedent(
        """
    class Text(str):
        pass
    kinds = []
    def attempt(args, caller=raiser.__code__, identity=None, given=None):
        kinds.append(keeper(args, caller, plain[tool] if identity is None else identity,
                            checks() if given is None else given))
    def odd():
        attempt((tool, ARGV, None, None))
        attempt((tool, ARGV, "/tmp", None))
        attempt((tool, ARGV, None, {}))
        attempt((tool, ARGV, None))
        attempt((Text(tool), ARGV, None, None))
        attempt((tool.encode(), ARGV, None, None))
        attempt(("rel/tool", ARGV, None, None))
        attempt((tool, ["tool", "\u00e9"], None, None))
        attempt((tool, [b"tool"], None, None))
        attempt((tool, "tool -x", None, None))
        attempt((tool, ARGV, None, None), caller=None)
        attempt((tool, ARGV, None, None), caller=keeper.__code__)
        attempt((tool, ARGV, None, None), caller="code")
        attempt((tool, ARGV, None, None), identity=(1, 2, 3))
        attempt((tool, ARGV, None, None), identity=(1 << 70,) * 7)
        attempt((tool, ARGV, None, None), given=checks()[:-1])
        attempt((tool, ARGV, None, None), given=checks(wrapper=(1, 2, 3)))
    on_keep[0] = odd
    sys.audit("zz.keep")
    emit(kinds=kinds)
    """
    )
    result = run_core(kind, body, tmp_path)
    # THEN exact ASCII str program and argv items with no cwd= or env= are kept, from any code
    # but the sandbox's own (or none); every other kind is not
    assert result["kinds"] == [
        True,
        *[False] * 9,
        True,
        False,
        "TypeError",
        "TypeError",
        False,
        "TypeError",
        "TypeError",
    ]


def test_a_popen_verdict_checks_the_sealed_wrapper_where_fork_exec_is_not_sealed(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a verdict whose checks name a fork_exec wrapper (what the hook gives where the
    # native core could not seal fork_exec): the module dict holding it, its cells, their
    # contents
    body = POPEN_SETUP + textwrap.dedent(
        """
    def make(audit, original):
        def wrapper(*args):
            return audit, original
        return wrapper
    def real_audit(*args): pass
    def real_fork_exec(*args): pass
    wrapper = make(real_audit, real_fork_exec)
    posix = {"fork_exec": wrapper}
    fake_subprocess._fork_exec = wrapper
    cells = wrapper.__closure__
    names = wrapper.__code__.co_freevars
    audit_cell, original_cell = cells[names.index("audit")], cells[names.index("original")]
    sealed = (posix, wrapper, audit_cell, real_audit, original_cell, real_fork_exec)
    keep[0] = checks(wrapper=sealed)
    popens("first")
    popens("same")
    other = lambda *a: None
    fake_subprocess._fork_exec = other
    popens("subprocess_name")
    fake_subprocess._fork_exec = wrapper
    posix["fork_exec"] = real_fork_exec
    popens("module_name")
    posix["fork_exec"] = wrapper
    audit_cell.cell_contents = other
    popens("audit_cell")
    audit_cell.cell_contents = real_audit
    original_cell.cell_contents = other
    popens("original_cell")
    original_cell.cell_contents = real_fork_exec
    popens("restored")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    )
    result = run_core(kind, body, tmp_path)
    zero = 0 if kind_version(kind) >= (3, 11) else 1
    # THEN the same Popen is answered while both names lead to the wrapper and its cells hold
    # what they held; any change sends it to the callback
    assert (result["first"], result["same"], result["restored"]) == (1, zero, zero)
    for tag in ("subprocess_name", "module_name", "audit_cell", "original_cell"):
        assert result[tag] == 1, tag


# A callback that counts the `object.__setattr__` events it decides; `sets(tag, *args)` raises
# one and records 1 (the callback decided) or 0 (the core answered). `guarded` is a function
# install may be told the code of ({install}: install's keyword arguments).
SETATTR_COUNTER = """
out = {{"seen": 0}}
def callback(event, args, caller):
    out["seen"] += 1
def guarded():
    return 1
core.install(frozenset({{"object.__setattr__"}}), callback, frozenset({{callback.__code__}}),
             "enforce", {install})
def sets(tag, *args):
    before = out["seen"]
    sys.audit("object.__setattr__", *args)
    out[tag] = out["seen"] - before
"""


def test_a_setattr_of_a_name_the_callback_does_not_guard_is_answered_by_the_core(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a callback that counts `object.__setattr__` events and guards two names
    body = SETATTR_COUNTER.format(install='setattr_names=frozenset({"__code__", "find_spec"})')
    body += textwrap.dedent("""
    class Name(str):
        pass
    target = lambda: None
    sets("other_name", target, "x", 1)
    sets("not_ascii", target, "\u00e9", 1)
    sets("not_str", target, 7, 1)
    sets("no_name", target)
    sets("guarded", target, "__code__", None)
    sets("guarded_other", target, "find_spec", None)
    sets("subclass", target, Name("x"), 1)
    sets("nul", target, "__code__\\x00", None)
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """)
    result = run_core(kind, body, tmp_path)
    # THEN names it does not guard (and no exact-str name at all, whose answer is None too)
    # are answered by the core; the guarded names reach the callback
    for tag in ("other_name", "not_ascii", "not_str", "no_name", "subclass"):
        assert result[tag] == 0, tag
    assert (result["guarded"], result["guarded_other"]) == (1, 1)
    # AND a name that reads as a guarded one up to a NUL reaches it natively (answered by
    # the Python core: either way the callback's answer for it is None)
    assert result["nul"] == (0 if kind == "python" else 1)


def test_a_guarded_name_set_on_no_function_the_callback_guards_is_answered_by_the_core(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a callback that counts `object.__setattr__` events, guards two names, and is told
    # the code of the one function they are guarded on
    body = SETATTR_COUNTER.format(
        install='setattr_names=frozenset({"__defaults__", "__class__"}), '
        "setattr_codes=(guarded.__code__,)"
    )
    body += textwrap.dedent("""
    def other(x=1):
        return x
    class Holder:
        pass
    sets("the guarded function", guarded, "__defaults__", (2,))
    sets("its class", guarded, "__class__", object)
    sets("another function", other, "__defaults__", (2,))
    sets("an object", Holder(), "__defaults__", (2,))
    sets("a class", Holder, "__class__", type)
    sets("a method", Holder().__init__, "__defaults__", (2,))
    sets("not a name it guards", guarded, "x", 1)
    other.__code__ = guarded.__code__
    sets("another function, the guarded code", other, "__defaults__", (2,))
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """)
    result = run_core(kind, body, tmp_path)
    # THEN a guarded name set on the function whose code is guarded reaches the callback, and
    # so it does on any function whose code is that code
    for tag in ("the guarded function", "its class", "another function, the guarded code"):
        assert result[tag] == 1, tag
    # AND set on anything else -- another function, an object, a class, a bound method -- it
    # is answered by the core (the callback's answer is None), on both cores
    for tag in ("another function", "an object", "a class", "a method", "not a name it guards"):
        assert result[tag] == 0, tag


def test_an_init_read_of_a_module_file_by_the_import_system_is_answered_and_noted(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a module root holding a module and its bytecode, a reader the core is told is the
    # import system's, and a callback that counts opens and takes the noted sources
    body = """
    base = os.getcwd()
    root = base + "/root"
    os.makedirs(root + "/pkg/__pycache__")
    for name in ("pkg/mod.py", "pkg/__pycache__/mod.cpython-311.pyc", "pkg/data.txt"):
        open(root + "/" + name, "w").close()
    open(base + "/elsewhere.py", "w").close()
    out = {"seen": 0}
    def callback(event, args, caller):
        if event == "zz.take":
            out["noted"] = core.loaded_sources()
        elif event == "zz.phase":
            core.enter_invoke()
        else:
            out["seen"] += 1
    def importer_reads(path, mode="r"):
        open(path, mode).close()
    def other_reads(path):
        open(path).close()
    core.install(frozenset({"open", "zz.take", "zz.phase"}), callback,
                 frozenset({callback.__code__}), "enforce",
                 module_prefixes=(root + "/",), import_codes=frozenset({importer_reads.__code__}))
    def reads(tag, fn, *args):
        before = out["seen"]
        try:
            fn(*args)
        except OSError:
            pass
        out[tag] = out["seen"] - before   # 0: the core answered; 1: the callback decided
    reads("source", importer_reads, root + "/pkg/mod.py")
    reads("bytecode", importer_reads, root + "/pkg/__pycache__/mod.cpython-311.pyc")
    reads("not_a_module_file", importer_reads, root + "/pkg/data.txt")
    reads("outside_the_roots", importer_reads, base + "/elsewhere.py")
    reads("not_plain", importer_reads, root + "/pkg/./mod.py")
    reads("a_write", importer_reads, root + "/pkg/new.py", "w")
    reads("another_reader", other_reads, root + "/pkg/mod.py")
    sys.audit("zz.take")
    out["first"] = out.pop("noted")
    sys.audit("zz.take")
    out["again"] = out.pop("noted")
    try:
        core.loaded_sources()
        out["outside"] = "taken"
    except PermissionError:
        out["outside"] = "PermissionError"
    sys.audit("zz.phase")
    reads("invoke", importer_reads, root + "/pkg/mod.py")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    root = str(tmp_path / "root")
    # THEN the import system's reads of module files under a root are answered at init, and
    # each one's source is noted once (bytecode: its .py)
    assert (result["source"], result["bytecode"]) == (0, 0)
    assert result["first"] == [root + "/pkg/mod.py", root + "/pkg/mod.py"]
    assert result["again"] is None
    # AND any other file, root, spelling, access or reader -- or the invoke phase -- reaches
    # the callback; only the sandbox's own code may take the notes
    for tag in ("not_a_module_file", "outside_the_roots", "not_plain", "a_write"):
        assert result[tag] == 1, tag
    assert (result["another_reader"], result["invoke"]) == (1, 1)
    assert result["outside"] == "PermissionError"


def test_an_init_listing_of_a_module_folder_by_the_import_system_is_answered(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a module root holding a package, a link to a folder, a folder elsewhere, a lister
    # the core is told is the import system's, and a callback that counts listings
    body = """
    base = os.getcwd()
    root = base + "/root"
    os.makedirs(root + "/pkg/sub")
    os.makedirs(base + "/elsewhere")
    os.symlink(base + "/elsewhere", root + "/linked")
    open(root + "/pkg/mod.py", "w").close()
    out = {"seen": 0}
    def callback(event, args, caller):
        if event == "zz.phase":
            core.enter_invoke()
        else:
            out["seen"] += 1
    def importer_lists(path):
        os.listdir(path)
    def other_lists(path):
        os.listdir(path)
    core.install(frozenset({"os.listdir", "zz.phase"}), callback,
                 frozenset({callback.__code__}), "enforce",
                 module_prefixes=(root + "/",), import_codes=frozenset({importer_lists.__code__}))
    def lists(tag, fn, path):
        before = out["seen"]
        try:
            fn(path)
        except (OSError, ValueError):
            pass
        out[tag] = out["seen"] - before   # 0: the core answered; 1: the callback decided
    lists("root", importer_lists, root)
    lists("package", importer_lists, root + "/pkg")
    lists("deeper", importer_lists, root + "/pkg/sub")
    lists("a_link", importer_lists, root + "/linked")
    lists("a_file", importer_lists, root + "/pkg/mod.py")
    lists("missing", importer_lists, root + "/nope")
    lists("outside", importer_lists, base + "/elsewhere")
    lists("root_sibling", importer_lists, root + "x")
    for tag, spelled in (("dot", "/pkg/./sub"), ("dotdot", "/pkg/../pkg"), ("double", "//pkg"),
                         ("trailing", "/pkg/"), ("ends_dot", "/pkg/."), ("ends_dotdot", "/pkg/..")):
        lists(tag, importer_lists, root + spelled)
    lists("relative", importer_lists, "root/pkg")
    lists("bytes", importer_lists, (root + "/pkg").encode())
    lists("not_ascii", importer_lists, root + "/pkg\u00e9")
    lists("another_lister", other_lists, root + "/pkg")
    sys.audit("zz.phase")
    lists("invoke", importer_lists, root + "/pkg")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN the import system's listings of folders at or under a root are answered at init
    assert (result["root"], result["package"], result["deeper"]) == (0, 0, 0)
    # AND a link, anything but a folder, any other place or spelling, another lister, or the
    # invoke phase reaches the callback
    for tag in (
        "a_link",
        "a_file",
        "missing",
        "outside",
        "root_sibling",
        "dot",
        "dotdot",
        "double",
        "trailing",
        "ends_dot",
        "ends_dotdot",
        "relative",
        "bytes",
        "not_ascii",
        "another_lister",
        "invoke",
    ):
        assert result[tag] == 1, tag


def test_file_identity_is_what_os_stat_says(kind: str, tmp_path: Path) -> None:
    # GIVEN a file, a link to it, a missing name and names os.stat refuses
    body = """
    import stat
    open("f", "w").write("x")
    os.symlink("f", "link")
    def seen(st):
        return [st.st_dev, st.st_ino, st.st_nlink, st.st_ctime_ns, st.st_mtime_ns, st.st_size,
                st.st_mode]
    out = {
        "file": [list(core.file_identity(os.path.abspath("f"))), seen(os.stat("f"))],
        "link": [list(core.file_identity("link")), seen(os.stat("link"))],
        "dir": [list(core.file_identity(".")), seen(os.stat("."))],
        "missing": core.file_identity("nope"),
        "nul": core.file_identity("f\\x00"),
        "surrogate": core.file_identity("\\ud800"),
        "escaped": core.file_identity("\\udcff"),
        "types": [type(v).__name__ for v in core.file_identity("f")],
    }
    try:
        core.file_identity(b"f")
    except TypeError:
        out["bytes"] = "TypeError"
    emit(**out)
    """
    result = run_core(kind, body, tmp_path)
    # THEN the identity is os.stat's (links followed), as exact ints
    for name in ("file", "link", "dir"):
        assert result[name][0] == result[name][1], name
    assert result["types"] == ["int"] * 7
    # AND every name os.stat raises on is None, and only a str is taken
    assert result["missing"] is None and result["nul"] is None
    assert result["surrogate"] is None and result["escaped"] is None
    assert result["bytes"] == "TypeError"


def test_resolved_path_is_realpaths_walk_where_every_name_exists(kind: str, tmp_path: Path) -> None:
    # GIVEN a folder reached through a link, a relative link chain, a missing name, a loop
    body = """
    os.makedirs("real/inner")
    os.symlink("real", "via")
    os.symlink("via/inner", "chain")
    os.symlink("loop", "loop")
    here = os.path.realpath(".")
    out = {
        "via": [core.resolved_path(here + "/via/inner"), os.path.realpath("via/inner")],
        "chain": [core.resolved_path(here + "/chain/../inner"), os.path.realpath("chain/../inner")],
        "dots": [core.resolved_path(here + "//real/./inner/.."), os.path.realpath("real")],
        "missing": core.resolved_path(here + "/real/nope"),
        "loop": core.resolved_path(here + "/loop"),
        "nul": core.resolved_path("real\\x00"),
        "surrogate": core.resolved_path("\\ud800"),
    }
    try:
        core.resolved_path(b"real")
    except TypeError:
        out["bytes"] = "TypeError"
    emit(**out)
    """
    result = run_core(kind, body, tmp_path)
    # THEN an existing path resolves as os.path.realpath resolves it (links, "..", ".", "//")
    for name in ("via", "chain", "dots"):
        assert result[name][0] == result[name][1], name
    # AND a path with a missing name, a loop or a name the system cannot take is None (the
    # caller then resolves as os.path.realpath), and only a str is taken
    assert result["missing"] is None and result["loop"] is None
    assert result["nul"] is None and result["surrogate"] is None
    assert result["bytes"] == "TypeError"


def test_content_digest_is_sha256(kind: str, tmp_path: Path) -> None:
    # GIVEN bytes of every length around SHA-256's block and padding edges, and larger ones
    body = """
    import hashlib
    sizes = list(range(0, 130)) + [1000, 4096, 65536, 100001]
    data = [bytes((i * 7 + n) % 256 for i in range(n)) for n in sizes]
    out = {
        "same": all(core.content_digest(d) == hashlib.sha256(d).hexdigest() for d in data),
        "text": type(core.content_digest(b"")).__name__,
    }
    for bad in ("str", bytearray(b"x"), memoryview(b"x")):
        try:
            core.content_digest(bad)
        except TypeError:
            out.setdefault("refused", []).append(type(bad).__name__)
    emit(**out)
    """
    # WHEN the core digests each
    result = run_core(kind, body, tmp_path)
    # THEN it is SHA-256's hex digest, and only exact bytes are taken
    assert result["same"] is True and result["text"] == "str"
    assert result["refused"] == ["str", "bytearray", "memoryview"]


# Modules compiled to this Python's bytecode, and importlib's own frames between its unmarshal
# and _find_and_load, recorded from a real import before install (what the core is told).
PYC_HELPERS = """
import marshal, py_compile, _imp
from importlib import _bootstrap_external as ext
here = os.path.realpath(".")
def module(folder, name, value):
    os.makedirs(folder, exist_ok=True)
    source = f"{here}/{folder}/{name}.py"
    with open(source, "w") as f:
        f.write(f"VALUE = {value!r}\\ndef where():\\n    return 1\\n")
    py_compile.compile(source, cfile=ext.cache_from_source(source), doraise=True)
    return source
def import_frames(folder):
    frames = []
    def spy(event, args):
        if event == "marshal.loads" and not frames:
            frame = sys._getframe(1)
            while frame is not None:
                frames.append(frame.f_code)
                if frame.f_code.co_name == "_find_and_load":
                    break
                frame = frame.f_back
    sys.addaudithook(spy)
    module(folder, "warm_up", "w")
    __import__("warm_up")
    assert frames[0] is ext._compile_bytecode.__code__, frames
    return tuple(frames[:-1]), (frames[-1],)
def module_rules(folder):
    # the import system's frames and reader (FileLoader.get_data, returned), marshal sealed,
    # and the core told the module rules of a folder no write rule reaches
    chain, find_and_load = import_frames(folder)
    get_data = ext.FileLoader.get_data.__code__
    core.seal_marshal(marshal.loads, _imp.get_frozen_object, _imp._fix_co_filename)
    core.module_bytecode_rules(
        ext._compile_bytecode.__code__, chain + (get_data,), find_and_load,
        (f"{here}/{folder}/",), False, ext.MAGIC_NUMBER, sys.implementation.cache_tag,
        8 * 1024 * 1024)
    core.deployment_rules((f"{here}/{folder}/",), (f"{here}/{folder}",))
    return get_data
"""


def test_a_modules_own_pyc_unmarshalled_by_the_import_system_is_answered_by_the_native_core(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN modules compiled to this Python's bytecode in a deployment folder the callback has
    # found steady, in a steady folder it has not judged yet, and outside the steady prefixes;
    # the import system's own frames (recorded from a real import before install); the core
    # told what the callback checks with, marshal.loads sealed, and a callback that counts
    # the unmarshal events it decides
    body = PYC_HELPERS + textwrap.dedent("""
    told = module("dep", "fast_a", "a")
    module("dep", "fast_b", "b")
    module("dep/pkg", "__init__", "pkg")
    module("dep2", "untold_c", "c")
    module("out", "outside_d", "d")
    module("dep", "other_bytes_e", "e")
    module("dep", "by_hand_f", "f")
    for folder in ("dep", "dep2", "out"):
        sys.path.insert(0, f"{here}/{folder}")
    chain, find_and_load = import_frames("dep2")
    core.seal_marshal(marshal.loads, _imp.get_frozen_object, _imp._fix_co_filename)
    try:  # (a flag that is not a bool: nothing of it is asked for its truth)
        core.module_bytecode_rules(ext._compile_bytecode.__code__, chain, find_and_load, (),
                                   1, ext.MAGIC_NUMBER, None, 1)
        not_bool = "accepted"
    except TypeError:
        not_bool = "TypeError"
    rules = core.module_bytecode_rules(
        ext._compile_bytecode.__code__, chain, find_and_load,
        (here + "/dep/", here + "/dep2/"), True, ext.MAGIC_NUMBER,
        sys.implementation.cache_tag, 8 * 1024 * 1024)
    again = core.module_bytecode_rules(
        ext._compile_bytecode.__code__, chain, find_and_load, (), False, ext.MAGIC_NUMBER,
        None, 1)
    core.deployment_folder(here + "/dep")
    core.deployment_folder(here + "/dep/__pycache__")
    core.deployment_folder(here + "/dep/pkg/__pycache__")
    out = {"rules": rules, "again": again, "not_bool": not_bool, "seen": 0}
    def callback(event, args, caller):
        if event == "marshal.loads":
            out["seen"] += 1
            # (as the hook: the one name importlib may then give the code, its source's)
            frame = sys._getframe(1)
            while frame is not None and frame.f_code is not ext._compile_bytecode.__code__:
                frame = frame.f_back
            if frame is not None:
                core.unmarshal_renames_to(frame.f_locals.get("source_path"))
    assert core.install(frozenset({"marshal.loads"}), callback, frozenset({callback.__code__}),
                        "enforce",
                        own_sites=[("core.unmarshal_renames_to", callback.__code__)])
    def counted(tag, load):
        before = out["seen"]
        value = load()
        out[tag] = (out["seen"] - before, value)
    # WHEN the import system loads each module (one unmarshal each)
    counted("deployment", lambda: __import__("fast_a").VALUE)
    counted("renamed", lambda: __import__("fast_b").where.__code__.co_filename
            == f"{here}/dep/fast_b.py")
    counted("package", lambda: __import__("pkg").VALUE)
    counted("folder not judged", lambda: __import__("untold_c").VALUE)
    counted("outside the prefixes", lambda: __import__("outside_d").VALUE)
    class OtherBytes(ext.SourceFileLoader):
        def get_data(self, path):
            data = super().get_data(path)
            if path.endswith(".pyc"):
                other = marshal.dumps(compile("VALUE = 'other'", self.path, "exec"))
                return data[:16] + other
            return data
    other_path = f"{here}/dep/other_bytes_e.py"
    loader = OtherBytes("other_bytes_e", other_path)
    spec = ext.spec_from_file_location("other_bytes_e", other_path, loader=loader)
    sys.meta_path.insert(0, type("Finder", (), {"find_spec": staticmethod(
        lambda name, path=None, target=None: spec if name == "other_bytes_e" else None)}))
    counted("a loader's other bytes", lambda: __import__("other_bytes_e").VALUE)
    pyc = ext.cache_from_source(f"{here}/dep/by_hand_f.py")
    with open(pyc, "rb") as f:
        data = f.read()
    counted("by hand", lambda: ext._compile_bytecode(memoryview(data)[16:], name="by_hand_f",
            bytecode_path=pyc) is not None)
    # AND the function's own code tells the core of a folder, or its rules again
    try:
        out["told after install"] = core.deployment_folder(here + "/dep2")
    except PermissionError:
        out["told after install"] = "refused"
    try:
        core.module_bytecode_rules(ext._compile_bytecode.__code__, (), (), (), False,
                                   b"x", None, 1)
        out["rules after install"] = "accepted"
    except PermissionError:
        out["rules after install"] = "refused"
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """)
    result = run_core(kind, body, tmp_path)
    native = kind != "python"
    answered = 0 if native else 1
    # THEN the native core answers a module's own .pyc in a folder the callback found the
    # deployment's, packages included, and lets importlib give its code the source's name; the
    # Python core's callback decides each (the same answer: the module loads)
    assert result["rules"] is native
    # (once: a second call changes nothing; a flag must be a bool)
    assert result["again"] is False and result["not_bool"] == "TypeError"
    assert result["deployment"] == [answered, "a"]
    assert result["renamed"] == [answered, True]
    assert result["package"] == [answered, "pkg"]
    # AND a folder not judged yet, a name outside the deployment's folders, bytes that are not
    # the file's, and the import system's unmarshal called by hand reach the callback
    assert result["folder not judged"] == [1, "c"]
    assert result["outside the prefixes"] == [1, "d"]
    assert result["a loader's other bytes"] == [1, "other"]
    assert result["by hand"] == [1, True]
    # AND only the sandbox's own code tells the native core of a folder once installed, and
    # the rules are an install-time call on both cores
    assert result["told after install"] == ("refused" if native else None)
    assert result["rules after install"] == "refused"


def test_below_a_deployment_tree_the_native_core_answers_module_bytecode_and_extensions_at_home(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN modules compiled to this Python's bytecode in folders below a steady tree no write
    # rule reaches (never told one by one), and in a steady folder that is no such tree; the
    # import system's frames (from a real import before install); the core told its unmarshal
    # rules with write rules present, the tree and the import roots; and a callback that
    # counts the unmarshal events and the C extension loads it decides, and makes a name
    # known (the decision cache) when asked to
    body = PYC_HELPERS + textwrap.dedent("""
    module("tree/a", "in_tree_a", "a")
    module("tree/b/pkg", "__init__", "pkg")
    module("mixed", "mixed_c", "c")
    for folder in ("tree/a", "tree/b", "mixed"):
        sys.path.insert(0, f"{here}/{folder}")
    chain, find_and_load = import_frames("mixed")
    core.seal_marshal(marshal.loads, _imp.get_frozen_object, _imp._fix_co_filename)
    core.module_bytecode_rules(
        ext._compile_bytecode.__code__, chain, find_and_load,
        (here + "/tree/", here + "/mixed/"), True, ext.MAGIC_NUMBER,
        sys.implementation.cache_tag, 8 * 1024 * 1024)
    out = {"seen": 0}
    def error(*args):
        try:
            return core.deployment_rules(*args)
        except Exception as exc:
            return type(exc).__name__
    out["rules: a list"] = error([here + "/tree/"], ())
    out["rules: bytes"] = error((here.encode() + b"/tree/",), ())
    out["rules: no slash"] = error((here + "/tree",), ())
    out["rules: relative"] = error(("tree/",), ())
    out["rules: arity"] = error(())
    root, root2 = here + "/tree/ext", here + "/other/ext"
    out["rules"] = core.deployment_rules((here + "/tree/",), (root, root2, here + "/tree/a"))
    out["again"] = core.deployment_rules((), ())
    def callback(event, args, caller):
        if event == "zz.allow":
            core.cache_add("modules\\x1fimport\\x1finit\\x1f" + args[0])
        elif event == "import" and args[1] is not None:
            out["seen"] += 1
        elif event == "marshal.loads":
            out["seen"] += 1
            # (as the hook: the one name importlib may then give the code, its source's)
            frame = sys._getframe(1)
            while frame is not None and frame.f_code is not ext._compile_bytecode.__code__:
                frame = frame.f_back
            if frame is not None:
                core.unmarshal_renames_to(frame.f_locals.get("source_path"))
    assert core.install(frozenset({"marshal.loads", "import", "zz.allow"}), callback,
                        frozenset({callback.__code__}), "enforce",
                        own_sites=[("core.cache_add", callback.__code__),
                                   ("core.unmarshal_renames_to", callback.__code__)])
    def counted(tag, load):
        before = out["seen"]
        value = load()
        out[tag] = [out["seen"] - before, value]
    # WHEN the import system loads each module (one unmarshal each)
    counted("below the tree", lambda: __import__("in_tree_a").VALUE)
    counted("a package below it", lambda: __import__("pkg").VALUE)
    counted("no tree", lambda: __import__("mixed_c").VALUE)
    # AND a C extension's load is announced (the `import` event with its file) for names
    # made known, and one not known
    suffix = ext.EXTENSION_SUFFIXES[0]
    for name in ("zzext", "zzpkg.mod", "zzpkg2", "zzext_b", "a.zzext_b"):
        sys.audit("zz.allow", name)
    def load(name, path):
        return lambda: sys.audit("import", name, path, None, None, None)
    counted("at home", load("zzext", f"{root}/zzext{suffix}"))
    counted("in a package", load("zzpkg.mod", f"{root}/zzpkg/mod{suffix}"))
    counted("a package's own", load("zzpkg2", f"{root}/zzpkg2/__init__{suffix}"))
    counted("a name not known", load("zzunknown", f"{root}/zzunknown{suffix}"))
    counted("another name's file", load("zzext", f"{root}/zzext_b{suffix}"))
    counted("not an import root", load("zzext", f"{here}/tree/zzext{suffix}"))
    counted("a root below no tree", load("zzext", f"{root2}/zzext{suffix}"))
    counted("a name ending like its path", load("a.zzext_b", f"{here}/tree/a/zzext_b{suffix}"))
    for name in (".zzext", "zzext.", "zz..ext", "zz/ext", "zzdot."):
        sys.audit("zz.allow", name)
    counted("a name with an empty first part", load(".zzext", f"{root}//zzext{suffix}"))
    counted("a name with an empty last part", load("zzext.", f"{root}/zzext/__init__{suffix}"))
    counted("a name with an empty part", load("zz..ext", f"{root}/zz//ext{suffix}"))
    counted("a name with a slash", load("zz/ext", f"{root}/zz/ext{suffix}"))
    counted("a file with no stem", load("zzdot.", f"{root}/zzdot/{suffix}"))
    counted("a dot folder", load("zzext", f"{here}/tree/./ext/zzext{suffix}"))
    counted("a double slash", load("zzext", f"{here}/tree//ext/zzext{suffix}"))
    counted("a dot-dot", load("zzext", f"{here}/tree/x/../ext/zzext{suffix}"))
    counted("a loader variable", load("zzext", f"{root}/$LIB/../zzext{suffix}"))
    counted("relative", load("zzext", f"zzext{suffix}"))
    counted("bytes", load("zzext", f"{root}/zzext{suffix}".encode()))
    counted("not ASCII", load("zzext", f"{root}/zzext\\u00e9{suffix}"))
    class Text(str):
        pass
    counted("a str subclass", load("zzext", Text(f"{root}/zzext{suffix}")))
    try:
        out["rules after install"] = core.deployment_rules((), ())
    except PermissionError:
        out["rules after install"] = "refused"
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """)
    result = run_core(kind, body, tmp_path)
    native = kind != "python"
    answered = 0 if native else 1
    # THEN both cores check the arguments alike; the native core takes the rules once
    checks = ("a list", "bytes", "no slash", "relative", "arity")
    assert [result["rules: " + k] for k in checks] == [
        "TypeError",
        "TypeError",
        "ValueError",
        "ValueError",
        "TypeError",
    ]
    assert result["rules"] is native and result["again"] is False
    assert result["rules after install"] == "refused"
    # AND the native core answers a module's .pyc in a folder below the tree the callback was
    # never asked about, package or not; the Python core's callback decides each (the same
    # answer: the module loads)
    assert result["below the tree"] == [answered, "a"]
    assert result["a package below it"] == [answered, "pkg"]
    # AND a steady folder that is no tree, not judged yet, still reaches the callback
    assert result["no tree"] == [1, "c"]
    # AND a C extension's own file at an import root below the tree, under a name already
    # allowed, is answered by the native core (module, package member, package)
    for case in ("at home", "in a package", "a package's own"):
        assert result[case] == [answered, None], case
    # AND anything else reaches the callback on both cores
    for case in (
        "a name not known",
        "another name's file",
        "not an import root",
        "a root below no tree",
        "a name ending like its path",
        "a name with an empty first part",
        "a name with an empty last part",
        "a name with an empty part",
        "a name with a slash",
        "a file with no stem",
        "a dot folder",
        "a double slash",
        "a dot-dot",
        "a loader variable",
        "relative",
        "bytes",
        "not ASCII",
        "a str subclass",
    ):
        assert result[case] == [1, None], case


def test_in_an_invocation_the_native_core_answers_the_import_systems_module_reads_and_runs(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a package's modules compiled to bytecode below a module root that is an import
    # root and a tree the code exec rules cover; the import system's frames (a real import
    # before install) and its reader, FileLoader.get_data; the core told its rules; a callback
    # that counts the module-file opens and module-code runs it decides, makes a name known
    # when asked to, and moves the core to the invoke phase
    body = PYC_HELPERS + textwrap.dedent("""
    for name in ("m1", "m2", "m3", "m4"):
        module("root/pk", name, name)
    module("root/pk", "__init__", "pk")
    os.symlink(here + "/root/pk", here + "/root/pklink")
    os.symlink(ext.cache_from_source(here + "/root/pk/m1.py"),
               ext.cache_from_source(here + "/root/pk/m0.py"))
    with open(here + "/root/pk/m0.py", "w") as f:
        f.write("VALUE = 'm0'\\n")
    sys.path.insert(0, here + "/root")
    get_data = module_rules("root")
    out = {"opens": 0, "runs": 0}
    def error(*args):
        try:
            return core.module_exec_rules(*args)
        except Exception as exc:
            return type(exc).__name__
    out["rules: a list"] = error([here + "/root/"])
    out["rules: bytes"] = error((here.encode() + b"/root/",))
    out["rules: no slash"] = error((here + "/root",))
    out["rules: arity"] = error()
    out["rules"] = core.module_exec_rules((here + "/root/",))
    out["again"] = core.module_exec_rules(())
    def callback(event, args, caller):
        if event == "zz.allow":
            core.cache_add("modules\\x1fimport\\x1finvoke\\x1f" + args[0])
        elif event == "zz.phase":
            core.enter_invoke()
        elif event == "open" and type(args[0]) is str and args[0].endswith((".py", ".pyc")):
            out["opens"] += 1
        elif event == "exec" and getattr(args[0], "co_name", None) == "<module>":
            out["runs"] += 1
        elif event == "marshal.loads":
            frame = sys._getframe(1)
            while frame is not None and frame.f_code is not ext._compile_bytecode.__code__:
                frame = frame.f_back
            if frame is not None:
                core.unmarshal_renames_to(frame.f_locals.get("source_path"))
    assert core.install(frozenset({"open", "exec", "marshal.loads", "zz.allow", "zz.phase"}),
                        callback, frozenset({callback.__code__}), "enforce",
                        module_prefixes=(here + "/root/",), import_codes=[get_data],
                        own_sites=[("core.cache_add", callback.__code__),
                                   ("core.enter_invoke", callback.__code__),
                                   ("core.unmarshal_renames_to", callback.__code__)])
    def counted(tag, run):
        before = (out["opens"], out["runs"])
        try:
            value = run()
        except Exception as exc:
            value = type(exc).__name__
        out[tag] = [out["opens"] - before[0], out["runs"] - before[1], value]
    sys.audit("zz.phase")
    for name in ("pk", "pk.m1", "pk.m2", "pk.m0", "pklink", "pklink.m3", "pk.m3"):
        sys.audit("zz.allow", name)
    counted("the package", lambda: __import__("pk").VALUE)
    # WHEN the import system loads its modules in the invocation
    counted("a module allowed", lambda: __import__("pk.m1").m1.VALUE)
    counted("another", lambda: __import__("pk.m2").m2.VALUE)
    counted("a name not known", lambda: __import__("pk.m4").m4.VALUE)
    counted("a link for its .pyc", lambda: __import__("pk.m0").m0.VALUE)
    counted("through a folder link", lambda: __import__("pklink.m3").m3.VALUE)
    # AND the function reads a module's file itself, and runs code named after one
    pyc = ext.cache_from_source(here + "/root/pk/m2.py")
    counted("read by the function", lambda: len(open(pyc, "rb").read()) > 0)
    def run(filename, name="<module>"):
        code = compile("VALUE = 1", filename, "exec").replace(co_name=name)
        return lambda: exec(code, {})
    counted("run: a known module's file", run(here + "/root/pk/m3.py"))
    counted("run: a package's file", run(here + "/root/pk/__init__.py"))
    counted("run: a name not known", run(here + "/root/pk/m4.py"))
    counted("run: outside the tree", run(here + "/elsewhere/pk/m3.py"))
    counted("run: a dot folder", run(here + "/root/./pk/m3.py"))
    counted("run: a double slash", run(here + "/root//pk/m3.py"))
    counted("run: a dot-dot", run(here + "/root/x/../pk/m3.py"))
    counted("run: not a module's code", run(here + "/root/pk/m3.py", "f"))
    sys.audit("zz.allow", "q" * 1100)
    counted("run: a name too long", run(here + "/root/" + "q" * 1100 + ".py"))
    try:
        out["rules after install"] = core.module_exec_rules(())
    except PermissionError:
        out["rules after install"] = "refused"
    emit(**{k: v for k, v in out.items() if k not in ("opens", "runs")})
    """)
    result = run_core(kind, body, tmp_path)
    native = kind != "python"
    # THEN both cores check the arguments alike; the native core takes the rules once
    assert [result["rules: " + k] for k in ("a list", "bytes", "no slash", "arity")] == [
        "TypeError",
        "TypeError",
        "ValueError",
        "TypeError",
    ]
    assert result["rules"] is native and result["again"] is False
    assert result["rules after install"] == "refused"
    # AND the native core answers the module file's read and the module's run of an allowed
    # name loaded by the import system at its home; the Python core's callback decides each
    # (the same answer: the module loads)
    for case, value in (("a module allowed", "m1"), ("another", "m2")):
        if kind == "native-arm64":
            # (qemu-user resolves "/" to its sysroot for the core's walk from the root with no
            # link on the way: it finds no such folder there and leaves the read to the
            # callback -- the safe way; the answer itself is checked on the real kernels)
            assert result[case] == [1, 0, value], case
            continue
        assert result[case] == ([0, 0, value] if native else [1, 1, value]), case
    # AND a name not known, a .pyc that is a link, a folder link on the way reach the callback
    assert result["a name not known"] == [1, 1, "m4"]
    # (the link's .pyc is another module's: stale for m0.py, which the import system compiles)
    assert result["a link for its .pyc"][0] >= 1 and result["a link for its .pyc"][2] == "m0"
    assert result["through a folder link"][0] == 2  # (the package, then its module)
    # AND so does the function's own read of a module file
    assert result["read by the function"] == [1, 0, True]
    # AND a module's code run below the tree under a known name is answered; anything else
    # reaches the callback (code that is no module's never did: no module runs)
    answered = 0 if native else 1
    assert result["run: a known module's file"] == [0, answered, None]
    assert result["run: a package's file"] == [0, answered, None]
    for case in ("a name not known", "outside the tree", "a dot folder", "a double slash"):
        assert result["run: " + case] == [0, 1, None], case
    assert result["run: a dot-dot"] == [0, 1, None]
    # (red team 68: a module name longer than the core reads was taken for none)
    assert result["run: a name too long"] == [0, 1, None]
    assert result["run: not a module's code"] == [0, 0, None]


def test_the_native_core_reads_the_import_systems_module_files_after_the_same_open_event(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a package's modules compiled to bytecode below a module root (an import root, a
    # tree no write rule reaches), one whose .pyc is a link to another's, a folder named like a
    # module file and a source outside the root; the import system's frames and its reader;
    # a callback that counts the module-file opens it decides and refuses the outside source;
    # and, after install, an audit hook of the function's own that records every open event
    body = PYC_HELPERS + textwrap.dedent("""
    import io
    for name in ("m1", "m2", "m3"):
        module("root/pk", name, name)
    module("root/pk", "__init__", "pk")
    os.symlink(ext.cache_from_source(here + "/root/pk/m1.py"),
               ext.cache_from_source(here + "/root/pk/m0.py"))
    with open(here + "/root/pk/m0.py", "w") as f:
        f.write("VALUE = 'm0'\\n")
    os.makedirs(here + "/root/folder.py")
    with open(here + "/outside.py", "w") as f:
        f.write("TOKEN = 1\\n")
    os.symlink(here + "/outside.py", here + "/root/pk/ln.py")
    sys.path.insert(0, here + "/root")
    get_data = module_rules("root")
    out = {"opens": 0}
    def callback(event, args, caller):
        if event == "open" and type(args[0]) is str and args[0].endswith((".py", ".pyc")):
            out["opens"] += 1
            if args[0] in (here + "/outside.py", here + "/root/pk/ln.py"):
                raise PermissionError("refused by the callback")
        elif event == "marshal.loads":
            frame = sys._getframe(1)
            while frame is not None and frame.f_code is not ext._compile_bytecode.__code__:
                frame = frame.f_back
            if frame is not None:
                core.unmarshal_renames_to(frame.f_locals.get("source_path"))
    assert core.install(frozenset({"open", "marshal.loads"}), callback,
                        frozenset({callback.__code__}), "enforce",
                        module_prefixes=(here + "/root/",), import_codes=[get_data],
                        own_sites=[("core.unmarshal_renames_to", callback.__code__)])
    seen = []
    def later_hook(event, args):
        if event == "open" and type(args[0]) is str and args[0].endswith((".py", ".pyc")):
            seen.append([args[0].removeprefix(here), args[1], args[2]])
    sys.addaudithook(later_hook)
    def nested_hook(event, args):
        # (a hook of the function's that opens a module file itself while the event runs)
        if event == "open" and type(args[0]) is str and args[0].endswith("/ln.py"):
            with io.open_code(here + "/root/pk/m3.py") as f:
                f.read()
    sys.addaudithook(nested_hook)
    def reads():
        # read system calls so far (the kernel's count for this process)
        with open("/proc/self/io", "rb", buffering=0) as f:
            text = f.read()
        return int(text.split(b"syscr: ")[1].split(b"\\n")[0])
    def counted(tag, run):
        before, events, read_calls = out["opens"], len(seen), reads()
        try:
            value = run()
        except Exception as exc:
            value = [type(exc).__name__, getattr(exc, "filename", None)]
        out[tag] = {"decided": out["opens"] - before, "seen": seen[events:],
                    "read calls": reads() - read_calls, "value": value}
    counted("nothing", lambda: None)
    # WHEN the import system loads modules at init, one of them through a linked .pyc
    counted("the package", lambda: __import__("pk").VALUE)
    counted("a module", lambda: __import__("pk.m2").m2.VALUE)
    counted("a linked .pyc", lambda: __import__("pk.m0").m0.VALUE)
    # AND the function itself opens module files with io.open_code
    def open_code(path):
        with io.open_code(path) as f:
            return [type(f).__name__, f.read()[:12].decode()]
    # AND the import system's reader reads a module source that is a link to a file the
    # callback refuses, while a later hook opens another module file in the same event
    link = here + "/root/pk/ln.py"
    counted("a linked source", lambda: ext.SourceFileLoader("pk.ln", link).get_data(link).decode())
    counted("open_code: a source", lambda: open_code(here + "/root/pk/m3.py"))
    counted("open_code: refused", lambda: open_code(here + "/outside.py"))
    counted("open_code: missing", lambda: open_code(here + "/root/pk/none.py"))
    counted("open_code: a folder", lambda: open_code(here + "/root/folder.py"))
    counted("open_code: another name", lambda: open_code(here + "/root/pk/m3.txt"))
    emit(**{k: v for k, v in out.items() if k != "opens"})
    """)
    (tmp_path / "root" / "pk").mkdir(parents=True)
    (tmp_path / "root" / "pk" / "m3.txt").write_text("not a module\n")
    result = run_core(kind, body, tmp_path)
    native = kind != "python"
    # THEN a source that is a link is decided in full, whatever a later hook opens meanwhile:
    # refused on both cores, its bytes never read
    assert result["a linked source"]["value"] == ["PermissionError", None]
    assert result["a linked source"]["decided"] >= 1
    # AND every module file read raises one open event, the one FileIO raises (the name, "r",
    # O_RDONLY | O_CLOEXEC), seen alike by a hook after the sandbox's on both cores
    flags = os.O_RDONLY | os.O_CLOEXEC
    tag = sys.implementation.cache_tag if kind in ("native", "python") else None
    for case, value, module in (("the package", "pk", "__init__"), ("a module", "m2", "m2")):
        got = result[case]
        assert got["value"] == value, case
        assert len(got["seen"]) == 1, case
        name, mode, seen_flags = got["seen"][0]
        assert name.startswith(f"/root/pk/__pycache__/{module}.") and name.endswith(".pyc"), case
        assert (mode, seen_flags) == ("r", flags), case
        if tag is not None:
            assert name == f"/root/pk/__pycache__/{module}.{tag}.pyc", case
    if native and kind != "native-arm64":
        # AND the native core answers the import system's read of a module's .pyc at its home
        # with no callback, and reads it once: one read system call for the import (FileIO
        # makes two, and checking the bytes a second read of the file)
        for case in ("the package", "a module"):
            assert result[case]["decided"] == 0, case
            assert result[case]["read calls"] - result["nothing"]["read calls"] == 1, case
    # AND a linked .pyc is decided in full (the callback asked) and still loads (the link's
    # bytecode is another module's, stale for m0.py: the import system compiles the source);
    # its open events are the same on both cores
    linked = result["a linked .pyc"]
    assert linked["value"] == "m0" and linked["decided"] >= 1
    assert [(n.split("/")[-1].split(".")[0], n.endswith(".pyc")) for n, _, _ in linked["seen"]] == [
        ("m0", True),
        ("m0", False),
    ]
    # AND io.open_code of a source reads it (the native core hands back its bytes in a
    # BytesIO), of a name the callback refuses raises its refusal before any open, of a missing
    # file or a folder raises what FileIO raises, and of another name is FileIO's own
    source = result["open_code: a source"]
    assert source["value"] == ["BytesIO" if native else "BufferedReader", "VALUE = 'm3'"]
    assert source["decided"] == 1 and len(source["seen"]) == 1
    assert result["open_code: refused"]["value"] == ["PermissionError", None]
    assert result["open_code: refused"]["seen"] == []  # (the sandbox's hook refused it first)
    missing = result["open_code: missing"]["value"]
    assert missing[0] == "FileNotFoundError" and missing[1].endswith("/root/pk/none.py")
    folder = result["open_code: a folder"]["value"]
    assert folder[0] == "IsADirectoryError" and folder[1].endswith("/root/folder.py")
    assert result["open_code: another name"]["value"] == ["BufferedReader", "not a module"]


def test_unmarshal_file_loads_from_an_offset_to_the_end_before_install_only(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN files holding a header, then a marshalled value: code objects and a large tuple
    # (over many pages), a value cut short, and things that are not regular files
    body = """
    import marshal
    code = compile("def f(x):\\n    return x * 2\\n", "<m>", "exec")
    value = (code, tuple(str(i) * 7 for i in range(60000)), b"x" * 70000, {"k": 1.5})
    data = marshal.dumps(value)
    with open("bundle", "wb") as f:
        f.write(b"HEADER16HEADER16" + data)
    with open("short", "wb") as f:
        f.write(b"HEADER16HEADER16" + data[: len(data) // 2])
    out = {}
    with open("bundle", "rb") as f:
        loaded = core.unmarshal_file(f.fileno(), 16)
        out["same"] = loaded[1:] == value[1:] and loaded[0] == value[0]
        namespace = {}
        exec(loaded[0], namespace)
        out["runs"] = namespace["f"](21)
        out["position"] = f.tell()
    def error(*args):
        try:
            core.unmarshal_file(*args)
        except Exception as exc:
            return type(exc).__name__
        return "no error"
    with open("bundle", "rb") as f:
        size = os.fstat(f.fileno()).st_size
        out["at_end"] = error(f.fileno(), size)
        out["negative"] = error(f.fileno(), -1)
        out["huge"] = error(f.fileno(), 2**70)
        out["bool"] = error(f.fileno(), True)
        out["text"] = error(str(f.fileno()), 16)
        out["arity"] = error(f.fileno())
        out["garbage"] = error(f.fileno(), 1)
    with open("short", "rb") as f:
        out["short"] = error(f.fileno(), 16)
    r, w = os.pipe()
    out["pipe"] = error(r, 0)
    os.close(r); os.close(w)
    out["closed"] = error(r, 0)
    out["not_fd"] = error(-1, 0)
    # once the hook is in place: an install-time call, refused like the seals and the kernel's
    core.install(frozenset({"zz.a"}), lambda event, args, caller: None, frozenset(), "enforce")
    with open("bundle", "rb") as f:
        out["after_install"] = error(f.fileno(), 16)
    emit(**out)
    """
    # WHEN the core loads each
    result = run_core(kind, body, tmp_path)
    # THEN the value from the offset comes back whole (its code runs), the file's own
    # position untouched
    assert result["same"] is True and result["runs"] == 42 and result["position"] == 0
    # AND no data, cut-short or damaged data raise marshal's errors, nothing else is taken
    assert result["at_end"] == "EOFError" and result["negative"] == "EOFError"
    assert result["huge"] == "EOFError" and result["short"] == "EOFError"
    assert result["garbage"] in ("ValueError", "EOFError")
    assert result["bool"] == result["text"] == result["arity"] == "TypeError"
    assert result["pipe"] == "ValueError" and result["not_fd"] == "ValueError"
    assert result["closed"] == "OSError"
    # AND once the hook is installed it is refused (an install-time call)
    assert result["after_install"] == "PermissionError"


def test_no_other_copy_of_the_native_core_changes_the_process_once_a_core_is_installed(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN the native extension loaded a second time from another file (a copy: its own
    # statics, so its own "installed" is false), beside the installed core of each kind
    body = """
    import glob, importlib.machinery, importlib.util, shutil
    package_dir = os.path.dirname(core.__file__)
    objects = [
        path
        for suffix in importlib.machinery.EXTENSION_SUFFIXES  # (this interpreter's own object)
        for path in glob.glob(os.path.join(package_dir, "_core" + suffix))
    ]
    if not objects:
        emit(skip="no native extension beside the package")
        sys.exit(0)
    shutil.copy(objects[0], "copy.so")
    name = core.__name__.rpartition(".")[0] + "._core"
    real = sys.modules.get(name)  # (the installed native core's module; None for the Python core)
    loader = importlib.machinery.ExtensionFileLoader(name, os.path.abspath("copy.so"))
    copy = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
    out = {"separate": copy is not real, "before": copy.installed()}
    # before any core is installed the copy's install-time calls run (nothing refuses them)
    out["seal_before"] = copy.seal_clock(lambda: 0, lambda: 0) in (True, False)
    core.install(frozenset({"zz.a"}), lambda event, args, caller: None, frozenset(), "enforce")
    def refused(call):
        try:
            call()
        except PermissionError as exc:
            return "refused" if "no other core" in str(exc) else "other: " + str(exc)
        except Exception as exc:
            return type(exc).__name__
        return "ran"
    with open("copy.so", "rb") as f:
        fd = f.fileno()
        out["after"] = {
            "kernel_no_new_privs": refused(copy.kernel_no_new_privs),
            "kernel_seccomp": refused(lambda: copy.kernel_seccomp(b"\\x06" + bytes(7))),
            "seal_types": refused(lambda: copy.seal_types(())),
            "hide_copies": refused(lambda: copy.hide_copies(())),
            "seal_compilers": refused(lambda: copy.seal_compilers(eval, exec, compile)),
            "seal_marshal": refused(
                lambda: copy.seal_marshal(__import__("marshal").loads, None, None)
            ),
            "unmarshal_file": refused(lambda: copy.unmarshal_file(fd, 0)),
            "install": refused(
                lambda: copy.install(frozenset({"zz.b"}), print, frozenset(), "enforce")
            ),
        }
    emit(**out)
    """
    # WHEN, with a core installed, the copy is asked to change the process
    result = run_core(kind, body, tmp_path)
    if "skip" in result:
        pytest.skip(result["skip"])
    # THEN it is a separate copy that believes itself not installed...
    assert result["separate"] is True and result["before"] is False and result["seal_before"]
    # AND every call that would change the process -- a kernel filter, a seal, a second hook,
    # an unaudited unmarshal -- is refused by the installed core, whichever kind it is
    assert set(result["after"].values()) == {"refused"}, result["after"]


def test_a_stale_native_core_falls_back_to_the_python_core(child: RunChild) -> None:
    # GIVEN a native core object built from an older source (it lacks a function the
    # runtime binds): modelled by a module holding all but one of the core's names
    result = child(
        """
        import sys, types
        import sandbox.runtime.core_fallback as fallback
        stale = types.ModuleType("sandbox.runtime._core")
        for name in fallback.__all__:
            if name != "seal_resolvers":
                setattr(stale, name, getattr(fallback, name))
        sys.modules["sandbox.runtime._core"] = stale
        import sandbox.runtime
        sandbox.runtime._core = stale
        import importlib
        import sandbox.runtime.core as core
        importlib.reload(core)  # (the package imported it already: its choice made again)
        print(core.KIND)
        print(core.LOAD_ERROR)
        """
    )
    # THEN the runtime imports, on the Python core, and says why
    assert result.lines[0] == "python", result.stderr
    assert (
        result.lines[1].startswith("stale native core (no ") and "seal_resolvers" in result.lines[1]
    )


def test_frame_local_reads_the_frames_own_variables_and_no_planted_key(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN frames with a plain local, a cell variable that is an argument too, a free
    # variable, an unbound one, and a key planted in a frame's locals with the name's hash
    body = """
    import sys
    calls = []
    class Planted(str):
        def __hash__(self):
            return hash(str(self)[:-1])  # the hash of the name less its last letter
        def __eq__(self, other):
            calls.append("eq")
            return False  # (kept beside the real key)
    def outer(fileno, other=2):
        later = None
        def inner():
            return fileno, sys._getframe()
        frame = sys._getframe()
        if sys.version_info < (3, 13):
            # kept in the frame's own dict: a lookup of "fileno" or "nothing" compares them
            frame.f_locals[Planted("filenoX")] = frame.f_locals[Planted("nothingX")] = 0
        del later
        return frame, inner()[1]
    frame, inner_frame = outer(7)
    calls.clear()  # (planting compared it with the real key)
    out = {
        "cell_argument": core.frame_local(frame, "fileno"),
        "plain": core.frame_local(frame, "other"),
        "unbound": core.frame_local(frame, "later"),
        "missing": core.frame_local(frame, "nothing"),
        "free": core.frame_local(inner_frame, "fileno"),
        "calls": calls,
        "refused": [],
    }
    for index, bad in enumerate(
        ((frame, Planted("filenoX")), (frame, b"fileno"), (object(), "x"), (frame,))
    ):
        try:
            core.frame_local(*bad)
        except TypeError:
            out["refused"].append(index)
    emit(**out)
    """
    result = run_core(kind, body, tmp_path)
    # THEN each variable is the frame's own value (cells opened), unbound and missing ones None
    assert (result["cell_argument"], result["plain"], result["free"]) == (7, 2, 7)
    assert result["unbound"] is None and result["missing"] is None
    # AND the planted key's __eq__ never ran (except where CPython itself runs it: reading
    # f_locals on 3.10 stores each local into that dict, comparing colliding keys -- the
    # Python core must read f_locals, a stated limit), and only a frame and an exact str
    if kind != "python" or sys.version_info >= (3, 11):
        assert result["calls"] == []
    assert result["refused"] == [0, 1, 2, 3]


def test_changes_a_write_verdict_covers_are_answered_and_queued(kind: str, tmp_path: Path) -> None:
    # GIVEN a write verdict on one folder (added from inside the callback, as the hook does
    # once the policy allows every name there) and none on another
    body = """
    os.mkdir("d"); os.mkdir("other"); os.mkdir("w")
    d, other, w = os.path.abspath("d"), os.path.abspath("other"), os.path.abspath("w")
    out = {"seen": 0}
    EVENTS = {"os.remove", "os.rmdir", "os.mkdir", "os.rename", "zz.verdict", "zz.take"}
    def callback(event, args, caller):
        if event == "zz.verdict":
            st = os.stat(d)
            core.dir_verdict_add(d, "write", (st.st_dev, st.st_ino))
            core.dir_verdict_add(d, "read", (st.st_dev, st.st_ino))
            st = os.stat(w)
            core.dir_verdict_add(w, "write", (st.st_dev, st.st_ino))  # (written, not read)
        elif event == "zz.take":
            out["taken"] = core.forgotten()
        else:
            out["seen"] += 1
    core.install(frozenset(EVENTS), callback, frozenset({callback.__code__}), "enforce")
    sys.audit("zz.verdict")
    def asked(tag, event, *args):
        before = out["seen"]
        sys.audit(event, *args)
        out[tag] = out["seen"] - before   # 1: the callback decided; 0: the core answered
    fd, fd_other = os.open(d, os.O_RDONLY), os.open(other, os.O_RDONLY)
    asked("remove", "os.remove", d + "/a", -1)
    asked("rmdir", "os.rmdir", d + "/sub", -1)
    asked("mkdir", "os.mkdir", d + "/new", 0o777, -1)
    asked("rename", "os.rename", d + "/a", d + "/b", -1, -1)
    asked("remove_dir_fd", "os.remove", "c", fd)
    sys.audit("zz.take")
    out["queued"] = out.pop("taken")
    sys.audit("zz.take")
    out["again"] = out.pop("taken")
    # what the core cannot tell plainly, or no verdict covers, goes to the callback
    asked("other_folder", "os.remove", other + "/a", -1)
    asked("rename_out", "os.rename", d + "/a", other + "/a", -1, -1)
    asked("rename_unreadable", "os.rename", w + "/a", w + "/b", -1, -1)
    asked("other_fd", "os.remove", "c", fd_other)
    asked("deeper_dir_fd", "os.remove", "x/c", fd)
    asked("cwd_relative", "os.remove", "d/a", -1)
    asked("dotdot", "os.remove", d + "/../d/a", -1)
    asked("dot", "os.remove", d + "/./a", -1)
    asked("double_slash", "os.remove", d + "//a", -1)
    asked("trailing_slash", "os.rmdir", d + "/sub/", -1)
    asked("newline", "os.remove", d + "/a\\nb", -1)
    asked("module_file", "os.remove", d + "/m.py", -1)
    asked("not_ascii", "os.remove", d + "/\\u00e9", -1)
    class Name(str):
        pass
    asked("subclass", "os.remove", Name(d + "/a"), -1)
    asked("bytes", "os.remove", (d + "/a").encode(), -1)
    asked("short_args", "os.remove", d + "/a")
    asked("folder_itself", "os.rmdir", d, -1)
    for i in range(70):
        sys.audit("os.remove", d + f"/n{i}", -1)
    sys.audit("zz.take")
    out["overflow"] = out.pop("taken")
    try:
        core.forgotten()
    except PermissionError:
        out["outside"] = "PermissionError"
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    d = str(tmp_path / "d")
    # THEN removes, rmdirs, mkdirs and renames of names in the folder are answered by the core
    # (a rename's source read too: the file is read through its new name)
    for tag in ("remove", "rmdir", "mkdir", "rename", "remove_dir_fd"):
        assert result[tag] == 0, tag
    # AND the names they change are handed to the hook once, in order
    assert result["queued"] == [d + "/a", d + "/sub", d + "/new", d + "/a", d + "/b", d + "/c"]
    assert result["again"] is None
    # AND every other change reaches the callback
    for tag in (
        "other_folder",
        "rename_out",
        "rename_unreadable",
        "other_fd",
        "deeper_dir_fd",
        "cwd_relative",
        "dotdot",
        "dot",
        "double_slash",
        "trailing_slash",
        "newline",
        "module_file",
        "not_ascii",
        "subclass",
        "bytes",
        "short_args",
        "folder_itself",
    ):
        assert result[tag] == 1, tag
    # AND past the queue's bound the hook is told to forget everything; only it may ask
    assert result["overflow"] is True
    assert result["outside"] == "PermissionError"


def test_pattern_verdicts_answer_the_names_of_new_sibling_folders(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a folder "jobs" whose sub-folders "job-*" the rules cover: its names (depth 0:
    # write, list) and the names in them (depth 1: read, write), kept by the callback from
    # inside (as the hook does once the policy shows them), and folders and links beside
    body = """
    import subprocess
    base = os.getcwd()
    P = base + "/jobs"
    os.mkdir(P)
    for d in ("job-1", "job-2", "other"):
        os.mkdir(P + "/" + d)
    os.mkdir(base + "/elsewhere")
    os.symlink(base + "/elsewhere", P + "/job-link")
    open(P + "/job-1/a.txt", "w").close()
    open(base + "/secret.txt", "w").close()
    os.symlink(base + "/secret.txt", P + "/job-1/link.txt")
    out = {"seen": 0}
    EVENTS = {"open", "os.mkdir", "os.rmdir", "os.remove", "os.listdir", "os.scandir",
              "tempfile.mkstemp", "sqlite3.connect", "shutil.rmtree", "shutil.copyfile",
              "zz.add", "zz.bad", "zz.forget", "zz.validate", "zz.phase", "zz.take"}
    def identity(path):
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    def callback(event, args, caller):
        if event == "zz.add":
            ident = identity(P) if args[0] else None
            out["added"] = []   # (a loop: a comprehension's code is not the callback's own)
            for a, d in (("read", 1), ("write", 1), ("write", 0), ("list", 0)):
                out["added"].append(core.pattern_verdict_add(P, "job-*", a, d, ident))
        elif event == "zz.bad":
            kept = []
            for bad in ((P, "job/*", "read", 1), (P, "job-**", "read", 1),
                        ("jobs", "job-*", "read", 1), (P + "/../jobs", "job-*", "read", 1),
                        (P + "/", "job-*", "read", 1), (P, "", "read", 1),
                        (P, "\\u00e9*", "read", 1)):
                kept.append(core.pattern_verdict_add(*bad, None))
            out["not_kept"] = kept
            errors = []
            for bad in ((P, "job-*", "exec", 0), (P, "job-*", "read", 2),
                        (P, "job-*", "list", 1)):
                try:
                    core.pattern_verdict_add(*bad, None)
                except ValueError:
                    errors.append("ValueError")
            out["errors"] = errors
        elif event == "zz.fill":
            out["fill_kept"] = True
            for i in range(64):
                kept = core.pattern_verdict_add(base + "/f" + str(i), "x*", "read", 1, None)
                out["fill_kept"] = out["fill_kept"] and kept
        elif event == "zz.forget":
            core.open_cache_forget(args[0])
        elif event == "zz.validate":
            core.open_cache_validate()
        elif event == "zz.phase":
            core.enter_invoke()
        elif event == "zz.take":
            out["taken"] = core.forgotten()
        else:
            out["seen"] += 1
    core.install(frozenset(EVENTS | {"zz.fill"}), callback,
                 frozenset({callback.__code__, identity.__code__}), "enforce")
    try:
        core.pattern_verdict_add(P, "job-*", "read", 1, None)
        out["outside"] = "added"
    except PermissionError:
        out["outside"] = "PermissionError"
    sys.audit("zz.bad")
    sys.audit("zz.add", False)
    def asked(tag, fn, *args):
        before = out["seen"]
        try:
            fn(*args)
        except OSError:
            pass
        out[tag] = out["seen"] - before   # 0: the core answered; 1 or more: the callback
    def opens(path, mode="r"):
        open(path, mode).close()
    asked("write_in_job", opens, P + "/job-1/a.txt", "w")
    asked("new_name_other_job", opens, P + "/job-2/new.txt", "w")
    asked("read_in_job", opens, P + "/job-1/a.txt")
    asked("other_folder", opens, P + "/other/a.txt", "w")
    asked("folder_is_link", opens, P + "/job-link/x.txt", "w")
    asked("deeper", opens, P + "/job-1/sub/x.txt", "w")
    asked("name_is_link", opens, P + "/job-1/link.txt")
    asked("module_file", opens, P + "/job-1/m.py")
    asked("not_plain", opens, P + "/../jobs/job-2/new.txt")
    asked("dotdot_folder", opens, P + "/job-1/../other/a.txt", "w")
    asked("mkdir_job", os.mkdir, P + "/job-3")
    asked("rmdir_job", os.rmdir, P + "/job-3")
    asked("mkdir_other", os.mkdir, P + "/nojob")
    asked("mkdir_in_job", os.mkdir, P + "/job-2/sub")
    asked("list_job", os.listdir, P + "/job-1")
    asked("list_other", os.listdir, P + "/other")
    asked("list_link", os.listdir, P + "/job-link")
    fd, fd_other = os.open(P + "/job-1", os.O_RDONLY), os.open(P + "/other", os.O_RDONLY)
    out["seen"] = 0
    asked("scandir_fd", lambda: os.scandir(fd).close())
    asked("scandir_other_fd", lambda: os.scandir(fd_other).close())
    asked("mkstemp", sys.audit, "tempfile.mkstemp", P + "/job-1/tmpx.csv")
    asked("sqlite", sys.audit, "sqlite3.connect", P + "/job-2/job.db")
    asked("sqlite_other", sys.audit, "sqlite3.connect", P + "/other/job.db")
    asked("rmtree", sys.audit, "shutil.rmtree", P + "/job-2", None)
    asked("rmtree_dir_fd", sys.audit, "shutil.rmtree", P + "/job-2", fd)
    sys.audit("zz.take")
    out.pop("taken", None)
    asked("copy", sys.audit, "shutil.copyfile", P + "/job-1/a.txt", P + "/job-2/b.txt")
    asked("copy_out", sys.audit, "shutil.copyfile", P + "/job-1/a.txt", P + "/other/b.txt")
    asked("copy_link", sys.audit, "shutil.copyfile", P + "/job-1/link.txt", P + "/job-2/c.txt")
    sys.audit("zz.take")
    out["copy_queued"] = out.pop("taken")
    asked("wraps_fd", sys.audit, "open", 3, "r", 0)
    asked("wraps_fd_odd_mode", sys.audit, "open", 3, 5, 0)
    sys.audit("zz.forget", base + "/elsewhere")        # another name: the patterns hold
    asked("after_other_forget", opens, P + "/job-2/new2.txt", "w")
    sys.audit("zz.forget", P)                          # the folder itself: gone
    os.mkdir(P + "/job-5")
    out["seen"] = 0
    asked("after_forget", opens, P + "/job-5/x.txt", "w")
    sys.audit("zz.add", False)
    sys.audit("zz.phase")
    asked("new_phase", opens, P + "/job-5/y.txt", "w")
    sys.audit("zz.add", False)
    asked("readd_invoke", opens, P + "/job-5/y.txt", "w")
    os.mkdir(P + "/job-6")
    sys.audit("zz.fill")                               # 64 more: the oldest four go
    asked("after_fill", opens, P + "/job-6/x.txt", "w")
    sys.audit("zz.add", False)
    sys.audit("zz.validate")                           # a child exists from now on
    sys.audit("zz.add", False)
    out["added_without_identity"] = out["added"]
    sys.audit("zz.add", True)
    asked("validating", opens, P + "/job-5/z.txt", "w")
    os.rename(P, base + "/moved")                      # no event the core sees: a child could
    subprocess.run(["ln", "-sfn", base + "/elsewhere", P], check=True)
    os.mkdir(base + "/elsewhere/job-7")
    asked("after_swap", opens, P + "/job-7/x.txt", "w")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    P = str(tmp_path / "jobs")
    # THEN only the sandbox's own code inside the callback may keep a pattern verdict; odd
    # folders and globs are not kept, odd actions and depths are errors
    assert result["outside"] == "PermissionError"
    assert result["not_kept"] == [False] * 7
    assert result["errors"] == ["ValueError"] * 3
    # AND names in any folder the glob covers are answered by the core, new folders too
    for tag in ("write_in_job", "new_name_other_job", "read_in_job"):
        assert result[tag] == 0, tag
    # AND another folder, a folder that is a link, a deeper name, a name that is a link, a
    # module file, and names not spelled plainly reach the callback
    for tag in ("other_folder", "folder_is_link", "deeper", "name_is_link", "module_file"):
        assert result[tag] >= 1, tag
    assert (result["not_plain"], result["dotdot_folder"]) == (1, 1)
    # AND the covered names themselves (depth 0) are made, removed and listed by the core,
    # a folder's listing through its descriptor too; others reach the callback
    for tag in ("mkdir_job", "rmdir_job", "mkdir_in_job", "list_job", "scandir_fd"):
        assert result[tag] == 0, tag
    for tag in ("mkdir_other", "list_other", "list_link", "scandir_other_fd"):
        assert result[tag] == 1, tag
    # AND names decided as opens are (a temporary file, a database, a tree, a copy) too
    for tag in ("mkstemp", "sqlite", "rmtree", "copy"):
        assert result[tag] == 0, tag
    for tag in ("sqlite_other", "rmtree_dir_fd", "copy_out", "copy_link"):
        assert result[tag] == 1, tag
    # AND a copy's destination is handed to the hook's path cache
    assert result["copy_queued"] == [P + "/job-2/b.txt"]
    # AND open(fd) is answered (the descriptor's access was decided when it was opened)
    assert (result["wraps_fd"], result["wraps_fd_odd_mode"]) == (0, 1)
    # AND forgetting the folder (or a name above it) drops its patterns; another name does not
    assert result["after_other_forget"] == 0
    assert result["after_forget"] == 1
    # AND a pattern holds for its phase only
    assert (result["new_phase"], result["readd_invoke"]) == (1, 0)
    # AND a full table (64) drops its oldest patterns to keep new ones
    assert result["fill_kept"] is True
    assert result["after_fill"] == 1
    # AND once validating, a pattern needs the folder's identity, and holds only while the
    # folder's name leads to that folder: swapped for a link by another process, the
    # callback decides again
    assert result["added_without_identity"] == [False] * 4
    if kind != "native-arm64":  # (qemu-user's sysroot: see the directory verdicts' test)
        assert result["validating"] == 0
    assert result["after_swap"] == 1


def test_a_module_verdict_answers_the_names_below_its_prefix_only(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a callback that counts `import` events and, on "pkg", adds the verdicts "pkg." and
    # "a.b." (as the hook does once the policy allows every name below them), and some that
    # are not prefixes the table holds
    body = """
    out = {"seen": 0}
    def callback(event, args, caller):
        if event == "import":
            out["seen"] += 1
            if args[0] == "pkg":
                out["added"], out["not_held"] = [], []   # (loops: a comprehension's code
                for p in ("pkg.", "a.b.", "a.b."):     # is not the callback's own)
                    out["added"].append(core.module_verdict_add(p))
                out["added"].append(core.module_verdict_add("kids.", True))
                out["added"].append(core.module_verdict_add("x.y.", False))
                for p in ("pkg", ".x.", "x\\x00.", "\\u00e9.", "", ".", "x" * 1024 + "."):
                    out["not_held"].append(core.module_verdict_add(p))
                try:
                    core.module_verdict_add(b"pkg.")
                except TypeError:
                    out["bytes"] = "TypeError"
                try:
                    core.module_verdict_add("other.", 1)
                except TypeError:
                    out["not_bool"] = "TypeError"
        elif event == "zz.phase":
            core.enter_invoke()
        elif event == "zz.clear":
            core.cache_clear()
    core.install(frozenset({"import", "zz.phase", "zz.clear"}), callback,
                 frozenset({callback.__code__}), "enforce")
    def imports(tag, name, *rest):
        before = out["seen"]
        sys.audit("import", name, *(rest or (None, [], [], [])))
        out[tag] = out["seen"] - before   # 1: the callback decided; 0: the core answered
    out["known_before"] = core.import_known("pkg.sub")
    imports("first", "pkg")
    imports("pkg_again", "pkg")
    imports("below", "pkg.sub")
    imports("deeper", "pkg.sub.mod")
    imports("odd", "pkg..x")
    imports("latin1", "pkg.\\u00e9")
    imports("sibling", "pkgx.sub")
    imports("a_b_below", "a.b.c")
    imports("a_b_itself", "a.b")
    imports("a_other", "a.c")
    imports("wide", "pkg.\\u0100")
    imports("kids_child", "kids.a")
    imports("kids_empty", "kids.")
    imports("kids_grandchild", "kids.a.b")
    imports("kids_itself", "kids")
    imports("other_not_bool", "other.a")
    imports("extension", "pkg.sub", "/x/pkg/sub.so")
    class Name(str):
        pass
    imports("subclass", Name("pkg.sub"))
    imports("not_str", b"pkg.sub")
    out["known"] = [core.import_known(n) for n in (
        "pkg.sub", "a.b.c", "pkg", "pkgx.sub", "pkg.\\u0100", Name("pkg.sub"), b"pkg.sub", 7)]
    try:
        core.module_verdict_add("evil.")
        out["foreign"] = "added"
    except PermissionError:
        out["foreign"] = "PermissionError"
    imports("evil", "evil.x")
    sys.audit("zz.phase")
    imports("new_phase", "pkg.sub")
    out["known_new_phase"] = core.import_known("pkg.sub")
    imports("first_invoke", "pkg")
    imports("below_invoke", "pkg.sub")
    imports("extension_invoke", "pkg.sub", "/x/pkg/sub.so")
    sys.audit("zz.clear")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN the verdicts are kept; names that are no dotted prefix are not, nor anything but a str
    assert result["added"] == [True, True, True, True, True]
    assert result["not_held"] == [False] * 7
    assert result["bytes"] == result["not_bool"] == "TypeError"
    assert result["known_before"] is False
    # AND every one-byte name below a verdict's prefix is answered by the core, in its phase
    assert (result["below"], result["deeper"], result["odd"], result["latin1"]) == (0, 0, 0, 0)
    assert result["a_b_below"] == 0
    # AND a children verdict answers only the names directly below its prefix
    assert (result["kids_child"], result["kids_empty"]) == (0, 0)
    assert (result["kids_grandchild"], result["kids_itself"], result["other_not_bool"]) == (1, 1, 1)
    # AND the prefix's own name, other names, wider characters and names of any other type
    # reach the callback
    assert (result["first"], result["pkg_again"], result["a_b_itself"]) == (1, 1, 1)
    assert (result["sibling"], result["a_other"], result["wide"]) == (1, 1, 1)
    assert (result["subclass"], result["not_str"]) == (1, 1)
    # AND a C extension's event (it names the file being loaded) reaches the callback in every
    # phase (the file is decided at init too)
    assert result["extension"] == 1
    assert (result["first_invoke"], result["below_invoke"]) == (1, 0)
    assert result["extension_invoke"] == 1
    assert result["known"] == [True, True, False, False, False, False, False, False]
    # AND only the sandbox's own code inside the callback adds verdicts
    assert result["foreign"] == "PermissionError"
    assert result["evil"] == 1
    # AND a verdict holds in its phase only
    assert (result["new_phase"], result["known_new_phase"]) == (1, False)


def test_package_verdicts_answer_a_top_level_name_and_every_name_below_it(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a callback that counts `import` events and, on "json", hands the core a set of
    # package names (as the hook does once the policy allows every name of those packages),
    # some of which are no top-level names
    body = """
    out = {"seen": 0}
    class Name(str):
        pass
    def callback(event, args, caller):
        if event == "import":
            out["seen"] += 1
            if args[0] == "json":
                names = frozenset({"json", "boto3", "a.b", "", "x\\x00", "\\u00e9t\\u00e9",
                                   "y" * 256, 7, Name("named")})
                out["kept"] = core.module_packages_add(names)
                out["kept_tuple"] = core.module_packages_add(("email",))
                try:
                    core.module_packages_add(["listed"])
                except TypeError:
                    out["list"] = "TypeError"
                try:
                    core.module_packages_add(frozenset(str(i) for i in range(1025)))
                except ValueError:
                    out["too_many"] = "ValueError"
        elif event == "zz.phase":
            core.enter_invoke()
        elif event == "zz.clear":
            core.cache_clear()
    core.install(frozenset({"import", "zz.phase", "zz.clear"}), callback,
                 frozenset({callback.__code__}), "enforce")
    def imports(tag, name, *rest):
        before = out["seen"]
        sys.audit("import", name, *(rest or (None, [], [], [])))
        out[tag] = out["seen"] - before   # 1: the callback decided; 0: the core answered
    out["known_before"] = core.import_known("boto3")
    imports("first", "json")
    imports("again", "json")
    imports("other", "boto3")
    imports("below", "boto3.session")
    imports("deep", "email.mime.text")
    imports("shorter", "boto")
    imports("longer", "boto3x")
    imports("dotted_entry", "a.b")
    imports("dotted_below", "a.b.c")
    imports("named", "named")
    imports("extension_init", "boto3.x", "/x/boto3/x.so")
    imports("subclass", Name("boto3"))
    out["known"] = [core.import_known(n) for n in ("boto3", "boto3.s", "boto", Name("boto3"))]
    try:
        core.module_packages_add(frozenset({"evil"}))
        out["foreign"] = "added"
    except PermissionError:
        out["foreign"] = "PermissionError"
    imports("evil", "evil")
    sys.audit("zz.phase")
    imports("new_phase", "boto3")
    imports("first_invoke", "json")
    imports("other_invoke", "boto3.client")
    imports("extension_invoke", "boto3.x", "/x/boto3/x.so")
    sys.audit("zz.clear")
    imports("after_clear", "boto3")
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN only top-level names are kept (ASCII, 1-255 characters, no dot, no NUL, exact str)
    assert (result["kept"], result["kept_tuple"]) == (2, 1)
    assert result["list"] == "TypeError" and result["too_many"] == "ValueError"
    assert result["known_before"] is False
    # AND each kept name, and every name below it, is answered by the core in its phase
    assert (result["again"], result["other"], result["below"], result["deep"]) == (0, 0, 0, 0)
    assert result["extension_init"] == 1  # (a C extension's event: its file is decided)
    assert result["known"] == [True, True, False, False]
    # AND other names, names not kept, and a str subclass reach the callback
    assert (result["first"], result["shorter"], result["longer"]) == (1, 1, 1)
    assert (result["dotted_entry"], result["dotted_below"], result["named"]) == (1, 1, 1)
    assert result["subclass"] == 1
    # AND only the sandbox's own code inside the callback adds them
    assert result["foreign"] == "PermissionError" and result["evil"] == 1
    # AND they hold in their phase only (a C extension's event reaches the callback), and go
    # with the decision cache
    assert (result["new_phase"], result["first_invoke"], result["other_invoke"]) == (1, 1, 0)
    assert result["extension_invoke"] == 1
    assert result["after_clear"] == 1


TRACE_BODY = """
traced = []
def tracer(frame, event, arg):
    traced.append(frame.f_code.co_name)
    return tracer
def secret_callback(event, args, caller):
    return None
core.install(frozenset({"zz.t"}), secret_callback, frozenset({secret_callback.__code__}),
             "enforce")
cantrace = []
{attack}
sys.settrace(tracer)
sys.setprofile(tracer)
sys.audit("zz.t")
sys.settrace(None)
sys.setprofile(None)
emit(traced="secret_callback" in traced, cantrace=cantrace)
"""


def test_tracing_cannot_observe_the_callback(kind: str, tmp_path: Path) -> None:
    # GIVEN sys.settrace and sys.setprofile hooks installed by the function
    # WHEN it also sets __cantrace__ on every function of the core and every audit hook found
    attack = """
import types
kinds = (types.FunctionType, types.BuiltinFunctionType)
found = [*vars(core._impl).values()]
found += [o for o in gc.get_objects() if getattr(o, "__module__", None) == core._impl.__name__]
for obj in found:
    if isinstance(obj, kinds):
        try:
            obj.__cantrace__ = True
            cantrace.append(obj.__name__)
        except (AttributeError, TypeError):
            pass
"""
    result = run_core(kind, TRACE_BODY.replace("{attack}", attack), tmp_path)
    if kind != "python":
        # THEN the callback ran unobserved: the hook is C, nothing took __cantrace__
        assert result == {"traced": False, "cantrace": []}
    else:
        # (documented limit: the Python hook takes __cantrace__, and then is traced)
        assert "_hook" in result["cantrace"]
        assert result["traced"] is True


def test_tracing_is_off_in_the_callback_by_default(kind: str, tmp_path: Path) -> None:
    # GIVEN sys.settrace/sys.setprofile hooks WHEN an event is decided (no __cantrace__)
    result = run_core(kind, TRACE_BODY.replace("{attack}", ""), tmp_path)
    # THEN neither saw the callback
    assert result["traced"] is False


def test_sys_monitoring_cannot_observe_the_callback(kind: str, tmp_path: Path) -> None:
    if kind_version(kind) < (3, 12):
        pytest.skip("sys.monitoring is 3.12+")
    # GIVEN a sys.monitoring PY_START callback for every code object
    body = """
    seen = []
    def secret_callback(event, args, caller):
        return None
    core.install(frozenset({"zz.m"}), secret_callback, frozenset({secret_callback.__code__}), "x")
    mon = sys.monitoring
    mon.use_tool_id(3, "spy")
    mon.register_callback(3, mon.events.PY_START, lambda code, off: seen.append(code.co_name))
    mon.set_events(3, mon.events.PY_START)
    # WHEN an event is decided
    sys.audit("zz.m")
    mon.set_events(3, 0)
    emit(seen="secret_callback" in seen)
    """
    result = run_core(kind, body, tmp_path)
    # THEN the monitoring callback never saw the core's callback start
    assert result["seen"] is False


SIGNAL_BODY = """
import signal, time
seen = []
def handler(signum, frame):
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    seen.append({{"inside": core.inside(), "callback_frame": "slow_callback" in names}})
def slow_callback(event, args, caller):
    signal.setitimer(signal.ITIMER_REAL, 0.01)
    end = time.monotonic() + 0.3
    while time.monotonic() < end and not seen:
        pass
signal.signal(signal.SIGALRM, handler)
if {other_thread}:
    # A thread that does not block signals: the kernel hands it the process-directed signal,
    # and its C-level handler marks it for the main thread (which is in the callback).
    import threading
    threading.Thread(target=time.sleep, args=(1,), daemon=True).start()
core.install(frozenset({{"zz.slow"}}), slow_callback, frozenset({{slow_callback.__code__}}),
             "enforce", {extra})
sys.audit("zz.slow")
for _ in range(1000):
    if seen:
        break
    time.sleep(0.001)
emit(seen=seen)
"""


@pytest.mark.parametrize("other_thread", [False, True], ids=["one-thread", "two-threads"])
def test_signal_handlers_do_not_run_inside_the_native_callback(
    native_kind: str, other_thread: bool, tmp_path: Path
) -> None:
    # GIVEN a SIGALRM timer that fires while a slow callback runs, with or without another
    # thread that can take the signal
    body = SIGNAL_BODY.format(extra="frozenset()", other_thread=other_thread)
    # WHEN the event is decided by the native core (Python signal handlers deferred)
    result = run_core(native_kind, body, tmp_path)
    # THEN the Python handler ran once, after the callback, and saw none of its frames
    assert result["seen"] == [{"inside": False, "callback_frame": False}]


def test_without_signal_blocking_handlers_run_inside(kind: str, tmp_path: Path) -> None:
    # GIVEN the same timer, with the native core's signal blocking switched off, or the Python
    # core (which cannot block them: a documented limit)
    extra = "frozenset()" if kind == "python" else "frozenset(), block_signals=False"
    # WHEN the event is decided
    result = run_core(kind, SIGNAL_BODY.format(extra=extra, other_thread=False), tmp_path)
    # THEN the handler ran inside the callback and could see its frame
    assert result["seen"] == [{"inside": True, "callback_frame": True}]


GC_BODY = """
def callback(event, args, caller):
    core.cache_add("zz.secret|" + str(args[0]))
core.install(frozenset({"zz.secret"}), callback, frozenset({callback.__code__}), "enforce-x")
sys.audit("zz.secret", int.from_bytes(os.urandom(4), "little"))
del callback

def holds_key(obj):
    try:
        refs = gc.get_referents(obj)
    except Exception:
        return False
    return any(type(r) is str and r.startswith("zz.secret|") and r[10:].isdigit() for r in refs)

# Walk everything the collector knows, and what it refers to, for the cache's content; try
# to write into every container found.
found, forged = [], False
for obj in gc.get_objects():
    if holds_key(obj):
        found.append(type(obj).__name__)
        if isinstance(obj, set):
            obj.add("zz.forged")
forged = core.cache_has("zz.forged")
module_refs = sorted({type(r).__name__ for r in gc.get_referents(core._impl)})
emit(found=found, forged=forged, module_refs=module_refs, phase=core.phase())
"""


def test_gc_walk_finds_the_core_state_only_in_python(kind: str, tmp_path: Path) -> None:
    # GIVEN a cache key added by the sandbox's callback
    # WHEN the function walks gc.get_objects() for it and writes into what it finds
    result = run_core(kind, GC_BODY, tmp_path)
    if kind != "python":
        # THEN nothing holds it, nothing could be forged, the module holds only its dict
        assert result["found"] == []
        assert result["forged"] is False
        assert result["module_refs"] == ["dict"]
    else:
        # (documented limit: the fallback's set is found and rewritten)
        assert "set" in result["found"]
        assert result["forged"] is True


def test_fallback_phase_cell_is_reachable_native_is_not(kind: str, tmp_path: Path) -> None:
    # GIVEN the invoke phase entered by the sandbox
    body = """
    def mark():
        core.enter_invoke()
    core.install(frozenset({"zz.a"}), lambda e, a, c: None, frozenset({mark.__code__}), "x")
    mark()
    # WHEN the function rewrites every list it can find that holds "invoke", and every
    # one-byte shared page (the phase forked children share)
    import mmap
    rewritten = 0
    for obj in gc.get_objects():
        if type(obj) is list and obj == ["invoke"]:
            obj[0] = "init"
            rewritten += 1
        elif type(obj) is mmap.mmap and len(obj) == 1:
            obj[0] = 0
            rewritten += 1
    emit(rewritten=rewritten, phase=core.phase())
    """
    result = run_core(kind, body, tmp_path)
    if kind != "python":
        # THEN the native phase is out of reach
        assert result == {"rewritten": 0, "phase": "invoke"}
    else:
        # (documented limit: the fallback's phase cell and page are found and rewound)
        assert result == {"rewritten": 2, "phase": "init"}


def test_subinterpreter_events_never_run_the_callback(kind: str, tmp_path: Path) -> None:
    # GIVEN a core handling zz.sub, and a subinterpreter (skipped where CPython has no module)
    body = """
    try:
        import _interpreters as si
    except ImportError:
        import _xxsubinterpreters as si
    calls = []
    def callback(event, args, caller):
        calls.append(event)
    core.install(frozenset({"zz.sub"}), callback, frozenset({callback.__code__}), "enforce")
    interp = si.create()
    # WHEN code in the subinterpreter raises the event
    try:
        out = si.run_string(interp, "import sys; sys.audit('zz.sub')")
        out = "error" if out else "ran"
    except Exception as exc:
        out = "PermissionError" if "PermissionError" in str(exc) else repr(exc)
    si.destroy(interp)
    emit(out=out, calls=calls)
    """
    result = run_core(kind, body, tmp_path)
    # THEN the main interpreter's callback never ran there
    assert result["calls"] == []
    if kind != "python":
        # AND the native hook (process-wide) refused the event: fail closed
        assert result["out"] in ("PermissionError", "error")
    else:
        # (the Python hook belongs to the main interpreter: it never sees the event)
        assert result["out"] == "ran"


def test_each_thread_has_its_own_flag(kind: str, tmp_path: Path) -> None:
    # GIVEN a callback that, for zz.block, waits inside until released
    body = """
    import threading
    entered, release = threading.Event(), threading.Event()
    calls = []
    def callback(event, args, caller):
        calls.append([event, threading.current_thread().name, core.inside()])
        if event == "zz.block":
            entered.set()
            release.wait(10)
    core.install(frozenset({"zz.block", "zz.main"}), callback, frozenset({callback.__code__}),
                 "enforce")
    worker = threading.Thread(target=sys.audit, args=("zz.block",), name="worker")
    worker.start()
    entered.wait(10)
    # WHEN the main thread raises a handled event while the worker is inside the callback
    main_inside = core.inside()
    sys.audit("zz.main")
    release.set()
    worker.join()
    emit(calls=calls, main_inside=main_inside)
    """
    result = run_core(kind, body, tmp_path)
    # THEN the main thread was not inside, and its event was decided, not taken as re-entry
    assert result["main_inside"] is False
    assert result["calls"] == [["zz.block", "worker", True], ["zz.main", "MainThread", True]]


def test_forked_child_keeps_working(kind: str, tmp_path: Path) -> None:
    # GIVEN an installed core with a cached key
    body = """
    calls = []
    def callback(event, args, caller):
        calls.append(event)
        core.cache_add("k:" + event)
    core.install(frozenset({"zz.f"}), callback, frozenset({callback.__code__}), "enforce")
    sys.audit("zz.f")
    # WHEN the process forks and the child raises the event
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        sys.audit("zz.f")
        os.write(write, json.dumps([calls, core.cache_has("k:zz.f"), core.inside(),
                                    core.mode()]).encode())
        os._exit(0)
    os.close(write)
    data = os.read(read, 65536)
    os.waitpid(pid, 0)
    emit(child=json.loads(data))
    """
    result = run_core(kind, body, tmp_path)
    # THEN the child's hook decided it, with the state inherited
    assert result["child"] == [["zz.f", "zz.f"], True, False, "enforce"]


def test_a_child_forked_during_init_moves_to_invoke_with_its_parent(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN an installed core in init, and a child forked now (a worker pool made at init)
    body = """
    def callback(event, args, caller):
        if event == "zz.phase":
            core.enter_invoke()
    core.install(frozenset({"zz.phase"}), callback, frozenset({callback.__code__}), "enforce")
    go, gone = os.pipe()
    ready, seen = os.pipe()
    back, answer = os.pipe()
    pid = os.fork()
    if pid == 0:
        before = core.phase()
        os.write(seen, b"x")
        os.read(go, 1)                       # the parent has moved to invoke
        os.write(answer, json.dumps([before, core.phase()]).encode())
        os._exit(0)
    # WHEN the parent moves to invoke (after the child saw init)
    os.read(ready, 1)
    sys.audit("zz.phase")
    os.write(gone, b"x")
    data = os.read(back, 65536)
    os.waitpid(pid, 0)
    emit(parent=core.phase(), child=json.loads(data))
    """
    result = run_core(kind, body, tmp_path)
    # THEN the child follows (its init rules end with its parent's)
    assert result == {"parent": "invoke", "child": ["init", "invoke"]}


def test_install_refused_by_an_earlier_hook(kind: str, tmp_path: Path) -> None:
    # GIVEN an earlier audit hook that refuses new hooks
    body = """
    def earlier(event, args):
        if event == "sys.addaudithook":
            raise RuntimeError("no more hooks")
    sys.addaudithook(earlier)
    # WHEN the core is installed
    try:
        core.install(frozenset({"zz.a"}), lambda e, a, c: None, frozenset(), "enforce")
        outcome = "installed"
    except RuntimeError as exc:
        outcome = str(exc)
    emit(outcome=outcome, installed=core.installed())
    """
    result = run_core(kind, body, tmp_path)
    # THEN the refusal is an error, not a silently missing hook
    assert result == {"outcome": "no more hooks", "installed": False}


def test_bad_arguments_are_refused(kind: str, tmp_path: Path) -> None:
    # GIVEN bad install arguments WHEN installing THEN each is a TypeError and nothing installs
    body = """
    errors = []
    for args in (
        (frozenset({1}), lambda e, a, c: None, frozenset(), "x"),
        (frozenset({"a"}), 42, frozenset(), "x"),
        (frozenset({"a"}), lambda e, a, c: None, frozenset({"not code"}), "x"),
    ):
        try:
            core.install(*args)
        except TypeError:
            errors.append("TypeError")
    emit(errors=errors, installed=core.installed())
    """
    result = run_core(kind, body, tmp_path)
    assert result == {"errors": ["TypeError"] * 3, "installed": False}


def test_kernel_calls_load_what_they_are_given_before_install_only(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN the kernel layer's system calls as the loader finds them: the native core's
    # kernel_* functions, or the ctypes path's with the Python core
    body = """
    import importlib
    package = core.__name__.rpartition(".")[0]
    loader = importlib.import_module(package + ".kernel")
    calls = loader._calls()
    out = {"calls": calls.__name__.rpartition(".")[2]}
    def outcome(call, *args):
        try:
            return ["ok", call(*args)]
        except Exception as exc:
            return [type(exc).__name__, getattr(exc, "errno", None)]
    # WHEN they are given arguments of the wrong type or range, or a descriptor that is no
    # ruleset (nothing is loaded by any of these)
    unopened = 2**31 - 1  # in range, and above any limit on open descriptors
    out["bad"] = [
        outcome(calls.kernel_seccomp, b"x" * 7),
        outcome(calls.kernel_seccomp, b""),
        outcome(calls.kernel_seccomp, b"\\x06" + b"\\x00" * (8 * 4097 - 1)),
        outcome(calls.kernel_seccomp, bytearray(8)),
        outcome(calls.kernel_seccomp_prctl, "12345678"),
        outcome(calls.kernel_landlock_create, True),
        outcome(calls.kernel_landlock_create, -1),
        outcome(calls.kernel_landlock_create, 1 << 64),
        outcome(calls.kernel_landlock_add_rule, unopened, 0, 1),
        outcome(calls.kernel_landlock_add_rule, 0, -1, 1),
        outcome(calls.kernel_landlock_restrict, 2**31),
        outcome(calls.kernel_landlock_restrict, unopened),
    ]
    # AND they load a one-instruction program (RET ALLOW) and a Landlock ruleset
    out["abi"] = outcome(calls.kernel_landlock_abi)
    out["nnp"] = outcome(calls.kernel_no_new_privs)
    allow = bytes([6, 0, 0, 0, 0, 0, 0xFF, 0x7F])
    out["seccomp"] = outcome(calls.kernel_seccomp, allow)
    if out["abi"][0] == "ok":
        os.mkdir("allowed")
        open("outside", "w").close()
        ruleset = calls.kernel_landlock_create(2)  # LANDLOCK_ACCESS_FS_WRITE_FILE
        parent = os.open("allowed", os.O_PATH | os.O_CLOEXEC)
        out["rule"] = outcome(calls.kernel_landlock_add_rule, ruleset, parent, 2)
        os.close(parent)
        out["restrict"] = outcome(calls.kernel_landlock_restrict, ruleset)
        os.close(ruleset)
        open("allowed/f", "w").write("x")
        out["inside"] = open("allowed/f").read()
        out["outside"] = outcome(lambda: open("outside", "w").write("x"))
    status = open("/proc/self/status").read()
    out["state"] = [line.split()[1] for line in status.splitlines()
                    if line.startswith(("NoNewPrivs:", "Seccomp:"))]
    # AND once the hook is installed
    core.install(frozenset({"x.y"}), lambda e, a, c: None, frozenset(), "enforce")
    out["after"] = [outcome(calls.kernel_seccomp, allow), outcome(calls.kernel_no_new_privs),
                    outcome(calls.kernel_landlock_create, 2),
                    outcome(calls.kernel_landlock_restrict, 0)]
    out["after_calls"] = loader._calls().__name__.rpartition(".")[2]
    emit(**out)
    """
    result = run_core(kind, body, tmp_path)
    native = kind != "python"
    # THEN the native core makes them itself, the Python core through _ctypes
    assert result["calls"] == ("_core" if native else "ctypes_calls")
    # AND both refuse the same arguments the same way (OSError with the kernel's errno;
    # qemu-user does not pass Landlock's system calls to the host kernel: ENOSYS there)
    landlock_errno = errno.ENOSYS if kind == "native-arm64" else errno.EBADF
    assert result["bad"] == [
        ["ValueError", None],
        ["ValueError", None],
        ["ValueError", None],
        ["TypeError", None],
        ["TypeError", None],
        ["TypeError", None],
        ["OverflowError", None],
        ["OverflowError", None],
        ["OSError", landlock_errno],
        ["OverflowError", None],
        ["OverflowError", None],
        ["OSError", landlock_errno],
    ]
    # AND the program and the ruleset are loaded: no_new_privs, a filter, writes confined
    assert result["nnp"] == ["ok", None]
    if kind != "native-arm64":  # qemu-user does not pass seccomp(2) to the host kernel
        assert result["seccomp"] == ["ok", 0]
        assert result["state"] == ["1", "2"]
    if result["abi"][0] == "ok" and kind != "native-arm64":
        assert result["rule"] == ["ok", None] and result["restrict"] == ["ok", None]
        assert result["inside"] == "x"
        assert result["outside"] == ["PermissionError", 13]
    # AND after install the native core refuses every call that changes the process (the
    # loader then takes the ctypes path, on which the hook decides); the Python core's calls
    # are plain ctypes calls
    if native:
        assert result["after"] == [["PermissionError", None]] * 4
        assert result["after_calls"] == "ctypes_calls"
    else:
        assert result["after"][0] == ["ok", 0]
        assert result["after_calls"] == "ctypes_calls"


def test_quiet_invocation_ends_are_answered_and_logged(kind: str, tmp_path: Path) -> None:
    # GIVEN a core whose control code's invocation ends may be answered (defer_quiet_ends, from
    # the sandbox's own code), in enforce
    body = """
    out = {"ends": 0, "taken": []}
    EVENTS = {"sandbox.invocation_end", "zz.defer", "zz.take", "zz.need", "zz.calm"}
    def callback(event, args, caller):
        if event == "zz.defer":
            out["deferred"] = core.defer_quiet_ends(frozenset({control.__code__}))
            out["again"] = core.defer_quiet_ends(frozenset({control.__code__}))
        elif event == "zz.take":
            out["taken"].append(core.ends_deferred())
        elif event == "zz.need":
            core.end_needed(True)
        elif event == "zz.calm":
            core.end_needed(False)
        else:
            out["ends"] += 1
    def control():
        sys.audit("sandbox.invocation_end")
    def other():
        sys.audit("sandbox.invocation_end")
    def with_args():
        sys.audit("sandbox.invocation_end", 1)
    core.install(frozenset(EVENTS), callback, frozenset({callback.__code__}), "enforce")
    control()
    out["before"] = out["ends"]
    sys.audit("zz.defer")
    control(); control()
    out["quiet"] = out["ends"]
    sys.audit("zz.take"); sys.audit("zz.take")
    other(); with_args()
    out["foreign"] = out["ends"]
    sys.audit("zz.need")
    control()
    out["needed"] = out["ends"]
    sys.audit("zz.calm")
    control()
    out["calm"] = out["ends"]
    sys.audit("zz.take")
    for name, call in (("take_outside", core.ends_deferred),
                       ("need_outside", lambda: core.end_needed(True))):
        try:
            call()
        except PermissionError:
            out[name] = "PermissionError"
    emit(**out)
    """
    result = run_core(kind, body, tmp_path)
    # THEN before defer_quiet_ends every end reaches the callback
    assert result["before"] == 1
    # AND after it the control code's ends are answered and counted, taken once
    assert result["deferred"] is True and result["again"] is False
    assert result["quiet"] == 1 and result["taken"][:2] == [[None, None], []]
    # AND an end from other code, or with arguments, reaches the callback
    assert result["foreign"] == 3
    # AND so does the control code's while an end is needed (something was reported)
    assert result["needed"] == 4
    # AND once it no longer is, its end is answered again
    assert result["calm"] == 4 and result["taken"][2] == [None]
    # AND the log and the flag are the sandbox's own, inside the callback only
    assert result["take_outside"] == result["need_outside"] == "PermissionError"


def test_the_start_after_a_quiet_end_is_logged_with_a_copy_of_its_source(
    kind: str, tmp_path: Path
) -> None:
    # GIVEN a core deferring the control code's quiet ends, in enforce
    body = """
    import threading
    out = {"calls": [], "taken": []}
    EVENTS = {"sandbox.invocation", "sandbox.invocation_end", "zz.defer", "zz.take"}
    def callback(event, args, caller):
        if event == "zz.defer":
            core.defer_quiet_ends(frozenset({start.__code__, end.__code__}))
        elif event == "zz.take":
            out["taken"].append(core.ends_deferred())
        else:
            out["calls"].append(event + " " + str(args[0] if args else ""))
    def start(request_id, who):
        sys.audit("sandbox.invocation", request_id, who)
    def end():
        sys.audit("sandbox.invocation_end")
    def forged(request_id, who):
        sys.audit("sandbox.invocation", request_id, who)
    core.install(frozenset(EVENTS), callback, frozenset({callback.__code__}), "enforce")
    sys.audit("zz.defer")
    start("r0", {}); end()
    who = {"source": "apigateway", "source_ip": "192.0.2.1", "port": 1, "ok": True, "x": None}
    start("r1", who)
    who["source_ip"] = "changed after the start"
    out["r1_logged_before"] = len(out["calls"])
    start("r1-nested", {})
    end()
    forged("r2-forged", {})
    start("r2", {"listed": ["not", "plain"]})
    end()
    start(None, {})
    sys.audit("zz.take")
    out["ident"] = threading.get_ident()
    for i in range(520):
        end(); start("bulk" + str(i), {})
    out["bulk"] = out["calls"][4:]
    sys.audit("zz.take")
    emit(**out)
    """
    result = run_core(kind, body, tmp_path)
    taken = result["taken"][0]
    # THEN the first start (none ended before it) reaches the callback; the end after it and
    # the next start do not: they are logged in order, the start with its request id, a copy
    # of its plain source (a later change of the caller's dict is not in it), its boot-clock
    # seconds and its thread
    assert result["calls"][0] == "sandbox.invocation r0"
    assert result["r1_logged_before"] == 1
    assert taken[0] is None
    request_id, source, seconds, thread = taken[1]
    assert request_id == "r1" and thread == result["ident"] and seconds > 0
    assert source == {
        "source": "apigateway",
        "source_ip": "192.0.2.1",
        "port": 1,
        "ok": True,
        "x": None,
    }
    # AND a start while one may still run (no end since), a start from other code and one
    # whose source holds anything but plain values reach the callback
    assert result["calls"][1:4] == [
        "sandbox.invocation r1-nested",
        "sandbox.invocation r2-forged",
        "sandbox.invocation r2",
    ]
    # AND after an end the callback saw allowed nothing, the next start is logged again
    assert taken[2:] == [None, None, [None, {}, taken[4][2], result["ident"]]]
    # AND the log holds at most 1,024 between two takes (512 quiet invocations): the ends and
    # starts after that go to the callback (which takes the log first, in the hook)
    assert len(result["taken"][1]) == 1024
    past_the_log = []
    for i in range(512, 520):
        past_the_log += ["sandbox.invocation_end ", f"sandbox.invocation bulk{i}"]
    assert result["bulk"] == past_the_log


def test_learn_never_defers_an_invocation_end(kind: str, tmp_path: Path) -> None:
    # GIVEN a core in learn (its recorder writes every end)
    body = """
    out = {"ends": 0}
    def callback(event, args, caller):
        if event == "zz.defer":
            out["deferred"] = core.defer_quiet_ends(frozenset({control.__code__}))
        else:
            out["ends"] += 1
    def control():
        sys.audit("sandbox.invocation_end")
    core.install(frozenset({"sandbox.invocation_end", "zz.defer"}), callback,
                 frozenset({callback.__code__}), "learn")
    sys.audit("zz.defer")
    control()
    try:
        core.defer_quiet_ends(frozenset())
    except PermissionError:
        out["foreign"] = "PermissionError"
    emit(**out)
    """
    result = run_core(kind, body, tmp_path)
    # THEN nothing is deferred: the end reaches the callback
    assert result == {"deferred": False, "ends": 1, "foreign": "PermissionError"}


def test_sqlite_authorizer_answers_every_action_but_attach(kind: str, tmp_path: Path) -> None:
    # GIVEN the authorizer the core makes of the hook's (which answers ATTACH itself)
    body = """
    import sqlite3
    calls = []
    def authorize(action, arg1, arg2, database, source):
        calls.append([action, arg1])
        if action != 24:
            return 0
        return 1 if arg1 and "denied" in arg1 else 0
    made = core.sqlite_authorizer(authorize)
    db = sqlite3.connect(":memory:")
    db.set_authorizer(made)
    db.execute("CREATE TABLE t (x)")
    db.execute("INSERT INTO t VALUES (1)")
    rows = db.execute("SELECT x FROM t").fetchall()
    db.execute("ATTACH DATABASE ':memory:' AS fine")
    try:
        db.execute("ATTACH DATABASE 'denied.db' AS no")
        refused = False
    except sqlite3.DatabaseError:
        refused = True
    attached = [c for c in calls if c[0] == 24]
    others = len([c for c in calls if c[0] != 24])
    direct = [made(1, None, None, "main", None), made(2**70, None, None, None, None),
              made("odd", 1, 2, 3, 4)]
    try:
        core.sqlite_authorizer(None)
    except TypeError:
        direct.append("TypeError")
    emit(rows=rows, refused=refused, attached=attached, others=others, direct=direct,
         last=calls[-1], exists=os.path.exists("denied.db"))
    """
    result = run_core(kind, body, tmp_path)
    # THEN statements run, and each ATTACH reached the hook's authorizer, which refused one
    assert result["rows"] == [[1]] and result["refused"] is True and not result["exists"]
    assert result["attached"] == [[24, ":memory:"], [24, "denied.db"]]
    # AND every other action is answered SQLITE_OK: in C by the native core (the hook's
    # authorizer never runs), by the hook's own authorizer with the Python core
    if kind == "python":
        assert result["others"] > 0
    else:
        assert result["others"] == 0
    # AND what is not an exact int goes to the hook's authorizer (whose answer it is)
    assert result["direct"][:2] == [0, 0]
    assert result["direct"][2:] == [0, "TypeError"] and result["last"] == ["odd", 1]


def test_a_descriptors_folder_is_the_one_it_is_open_on_now(kind: str, tmp_path: Path) -> None:
    # GIVEN list and read patterns for the folders jobs/job-* (as the hook keeps them), and a
    # folder the core let be opened by its name (the native core then names a descriptor on
    # it by that name, checked with an lstat, instead of reading /proc)
    body = """
    base = os.path.abspath("t")
    os.mkdir(base)
    P = base + "/jobs"
    os.mkdir(P)
    for d in ("job-1", "job-2"):
        os.mkdir(P + "/" + d)
    out = {"seen": 0}
    EVENTS = {"open", "os.scandir", "zz.add"}
    def callback(event, args, caller):
        if event == "zz.add":
            st = os.stat(P)
            for a, d in (("read", 1), ("read", 0), ("list", 0)):
                core.pattern_verdict_add(P, "job-*", a, d, (st.st_dev, st.st_ino))
        else:
            out["seen"] += 1
    core.install(frozenset(EVENTS), callback, frozenset({callback.__code__}), "enforce")
    sys.audit("zz.add")
    def asked(tag, fn):
        before = out["seen"]
        fn()
        out[tag] = out["seen"] - before   # 0: the core answered; 1: the callback
    fds = {}
    asked("open_job", lambda: fds.update(job=os.open(P + "/job-1", os.O_RDONLY)))
    asked("scandir", lambda: os.scandir(fds["job"]).close())
    # the folder renamed where the core does not see it (no os.rename event here)
    os.rename(P + "/job-1", P + "/moved-1")
    fds["moved"] = os.open(P + "/moved-1", os.O_RDONLY)
    asked("scandir_moved", lambda: os.scandir(fds["moved"]).close())
    # ...and another folder made at the old name
    os.mkdir(P + "/job-1")
    fds["third"] = os.open(P + "/moved-1", os.O_RDONLY)
    asked("scandir_old_name_reused", lambda: os.scandir(fds["third"]).close())
    asked("open_new", lambda: fds.update(new=os.open(P + "/job-1", os.O_RDONLY)))
    asked("scandir_new", lambda: os.scandir(fds["new"]).close())
    emit(**{k: v for k, v in out.items() if k != "seen"})
    """
    result = run_core(kind, body, tmp_path)
    # THEN a listing through a descriptor on a covered folder is answered by the core
    assert result["open_job"] == 0 and result["scandir"] == 0
    # AND once the folder is elsewhere (moved unseen), its listing is decided by where it is
    # now -- a name no pattern covers: the callback -- even with a new folder at the old name
    assert result["scandir_moved"] == 1
    assert result["scandir_old_name_reused"] == 1
    # AND the new folder at the covered name is answered again
    assert result["open_new"] == 0 and result["scandir_new"] == 0


def test_hide_copies_unlists_a_copy_once_and_only_before_install(kind: str, tmp_path: Path) -> None:
    # GIVEN an original class, a direct subclass (the copy) and another subclass
    body = """
    class Original:
        pass
    class Copy(Original):
        pass
    class Other(Original):
        pass
    errors = []
    for bad in ([(Original, Copy)], ((Original,),), ((Copy, Original),), ((int, bool),)):
        try:
            core.hide_copies(bad)
        except TypeError as exc:
            errors.append(str(exc).split(":")[0])
    listed_before = [c.__name__ for c in Original.__subclasses__()]
    # WHEN the copy is hidden before install, then again, then after install
    first = core.hide_copies(((Original, Copy),))
    listed = [c.__name__ for c in Original.__subclasses__()]
    second = core.hide_copies(((Original, Other),))
    core.install(frozenset({"zz.a"}), lambda *a: None, frozenset(), "learn")
    after = core.hide_copies(((Original, Other),))
    emit(errors=errors, listed_before=listed_before, first=first, listed=listed, second=second,
         after=after, still=[c.__name__ for c in Original.__subclasses__()],
         copy_works=issubclass(Copy, Original) and isinstance(Copy(), Original))
    """
    result = run_core(kind, body, tmp_path)
    # THEN bad arguments are refused alike by both cores
    assert result["errors"] == ["hide_copies"] * 4
    assert result["listed_before"] == ["Copy", "Other"]
    # AND the native core takes the copy out of the list, once (the Python core cannot)
    native = kind != "python"
    assert result["first"] is native
    assert result["listed"] == (["Other"] if native else ["Copy", "Other"])
    assert result["second"] is False and result["after"] is False
    assert result["still"] == result["listed"]
    # AND the copy is still a subclass of its original in every other way
    assert result["copy_works"] is True
