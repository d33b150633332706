"""The layer's bytecode: a .pyc per module per Python, loaded from a read-only layer, reproducible."""

from __future__ import annotations

import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from sandbox.layer import LAYER_PACKAGE
from sandbox.layer.build import Arch, LayerBuildError, build_layer
from sandbox.layer.bytecode import (
    LAYER_ROOT,
    BytecodeBuildError,
    bundle_name,
    compile_package,
    find_compilers,
    pyc_name,
)
from sandbox.layer.native import OPTIONAL_PYTHONS, PYTHONS, interpreters
from sandbox.runtime.private_modules import bundle_sources
from tests.conftest import REPO
from tests.unit.test_layer_build import layer_zip

# The Lambda Pythons with an interpreter here (3.14 only after `make python3.14`): the layer
# holds bytecode for exactly these.
COMPILERS = {v: exe for v in PYTHONS if (exe := next(interpreters(v), None)) is not None}
PACKAGE = f"python/{LAYER_PACKAGE}/"


def no_interpreter(version: str) -> str:
    hint = " (make python3.14)" if version == "3.14" else ""
    return f"no CPython {version} interpreter here{hint}: the layer has no bytecode for it"


def each_python() -> list[Any]:
    return [
        pytest.param(
            v, marks=pytest.mark.skipif(v not in COMPILERS, reason=no_interpreter(v)), id=v
        )
        for v in PYTHONS
    ]


def host_arch() -> Arch:
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


@pytest.fixture(scope="session", params=["x86_64", "arm64"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return layer_zip(tmp_path_factory, request.param)


@pytest.fixture(scope="session")
def host_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return layer_zip(tmp_path_factory, host_arch())


def extract(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(dest)
    return dest


def tree(root: Path) -> dict[str, int]:
    """Every file and folder under ``root`` with its size (folders -1)."""
    return {
        p.relative_to(root).as_posix(): (p.stat().st_size if p.is_file() else -1)
        for p in sorted(root.rglob("*"))
    }


def read_only(directory: Path, cmd: list[str]) -> list[str]:
    """``cmd`` run with ``directory`` read-only, as ``/opt`` is in Lambda.

    Its modes lose every write bit; a root user (whom modes do not stop) gets a read-only bind
    mount of it in a private mount namespace where ``unshare`` allows one.
    """
    for path in [directory, *directory.rglob("*")]:
        path.chmod(stat.S_IMODE(path.lstat().st_mode) & ~0o222)
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return cmd
    if subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False).returncode:
        return cmd
    mount = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    return ["unshare", "-m", "sh", "-c", mount, str(directory), *cmd]


def writable(directory: Path) -> None:
    for path in [directory, *directory.rglob("*")]:
        path.chmod(stat.S_IMODE(path.lstat().st_mode) | 0o200)


def test_layer_holds_a_pyc_per_module_per_python(built: Path) -> None:
    # GIVEN a built layer (each arch) / WHEN listing its sources and its bytecode
    with zipfile.ZipFile(built) as zf:
        entries = [n.removeprefix(PACKAGE) for n in zf.namelist() if n.startswith(PACKAGE)]
    sources = [n for n in entries if n.endswith(".py")]
    pycs = sorted(n for n in entries if n.endswith(".pyc"))
    # THEN every source is there, and beside it in __pycache__ the .pyc each Lambda Python
    # with an interpreter here loads for it (named with that version's cache tag), nothing else
    assert "bootstrap.py" in sources and "decoders/files.py" in sources
    assert pycs == sorted(pyc_name(s, v) for s in sources for v in COMPILERS)
    # AND only an optional version (3.14) may be missing
    assert set(PYTHONS) - set(COMPILERS) <= OPTIONAL_PYTHONS


# Run by each interpreter over an extracted layer: what is wrong with each of its .pyc files.
CHECK_PYCS = """
import importlib.util, json, marshal, os, sys
package, origin = sys.argv[1], sys.argv[2]
tag = sys.implementation.cache_tag
problems, checked = [], 0

def names(code):
    yield code.co_filename
    for const in code.co_consts:
        if hasattr(const, "co_filename"):
            yield from names(const)

for folder, _, files in os.walk(package):
    for leaf in sorted(files):
        if not leaf.endswith(".py"):
            continue
        source = os.path.join(folder, leaf)
        rel = os.path.relpath(source, package)
        with open(source, "rb") as fh:
            text = fh.read()
        with open(os.path.join(folder, "__pycache__", leaf[:-3] + "." + tag + ".pyc"), "rb") as fh:
            data = fh.read()
        checked += 1
        if data[:4] != importlib.util.MAGIC_NUMBER:
            problems.append((rel, "magic", data[:4].hex()))
        if int.from_bytes(data[4:8], "little") != 0b01:  # hash-based, unchecked
            problems.append((rel, "flags", int.from_bytes(data[4:8], "little")))
        if data[8:16] != importlib.util.source_hash(text):
            problems.append((rel, "hash of another source"))
        shown = {n for n in names(marshal.loads(data[16:]))}
        if shown != {origin + "/" + rel}:
            problems.append((rel, "co_filename", sorted(shown)))
print(json.dumps({"checked": checked, "problems": problems}))
"""


@pytest.mark.parametrize("version", each_python())
def test_each_pyc_is_its_pythons_unchecked_hash_of_the_shipped_source(
    version: str, host_layer: Path, tmp_path: Path
) -> None:
    # GIVEN the built layer, extracted
    layer = extract(host_layer, tmp_path)
    package = layer / PACKAGE
    sources = list(package.rglob("*.py"))
    # WHEN that Python reads the .pyc files it would load
    out = subprocess.run(
        [str(COMPILERS[version]), "-S", "-c", CHECK_PYCS, str(package), f"{LAYER_ROOT}/{LAYER_PACKAGE}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout)
    # THEN each has its magic number, is hash-based and unchecked (PEP 552), holds the hash of
    # the source shipped beside it, and every code object in it names that source at its
    # place in Lambda (/opt/python/...), not the build machine's staging directory
    assert report == {"checked": len(sources), "problems": []}


def test_bytecode_holds_no_path_of_the_build_machine(host_layer: Path) -> None:
    # GIVEN the built layer / WHEN reading its .pyc files' and bytecode bundles' bytes
    with zipfile.ZipFile(host_layer) as zf:
        pycs = {n: zf.read(n) for n in zf.namelist() if n.endswith((".pyc", ".bundle"))}
    # THEN neither the staging directory's name nor the source tree's path is in them (as a
    # folder: a clone at /tmp/x is not found in a docstring's "/tmp/x.so")
    staging = os.path.join(tempfile.gettempdir(), "sandbox-layer-").encode()
    source_tree = (str(REPO) + os.sep).encode()
    assert pycs
    for name, data in pycs.items():
        assert staging not in data, name
        assert source_tree not in data, name


# Imports every module of the layer's package (the sandbox off: nothing installed) and reports
# which files the import system compiled (builtins.compile raises "compile"; the import
# system calls it for a source it has no usable bytecode for), and each module's cache file.
IMPORT_ALL = """
import importlib, json, os, pkgutil, sys
layer = sys.argv[1]
compiled = []
sys.addaudithook(lambda event, args: event == "compile" and compiled.append(str(args[1])))
import _lambda_sandbox as package
for info in pkgutil.walk_packages(package.__path__, "_lambda_sandbox."):
    importlib.import_module(info.name)
modules = {
    name: {
        "file": module.__file__,
        "cached": module.__cached__,
        "cached_exists": os.path.isfile(module.__cached__ or ""),
        "code_names_file": all(
            f.__code__.co_filename == module.__file__
            for f in vars(module).values()
            if type(f).__name__ == "function" and f.__module__ == name
        ),
    }
    for name, module in sorted(sys.modules.items())
    if name.split(".")[0] == "_lambda_sandbox" and getattr(module, "__file__", "").endswith(".py")
}
print(json.dumps({
    "compiled": [c for c in compiled if c.startswith(layer)],
    "dont_write_bytecode": sys.flags.dont_write_bytecode,
    "modules": modules,
}))
"""


def import_all(python: Path, layer: Path) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(layer / "python"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "SANDBOX_MODE": "off",
        "SANDBOX_ORIGINAL_HANDLER": "json.dumps",
    }
    cmd = read_only(layer, [str(python), "-B", "-c", IMPORT_ALL, str(layer)])
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    finally:
        writable(layer)
    assert out.returncode == 0, out.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.stdout)
    return report


@pytest.mark.parametrize("version", each_python())
def test_runtime_loads_from_the_layers_bytecode_in_a_read_only_layer(
    version: str, host_layer: Path, tmp_path: Path
) -> None:
    # GIVEN the built layer extracted, and the same layer without its __pycache__ folders
    shipped = extract(host_layer, tmp_path / "shipped")
    bare = extract(host_layer, tmp_path / "bare")
    for folder in sorted(bare.rglob("__pycache__"), reverse=True):
        shutil.rmtree(folder)
    before = tree(shipped)
    # WHEN that Python imports every runtime module from each, read-only and with -B
    # (PYTHONDONTWRITEBYTECODE too), as a Lambda cold start does from /opt
    with_pycs = import_all(COMPILERS[version], shipped)
    without = import_all(COMPILERS[version], bare)
    # THEN from the shipped layer no module was compiled: each came from its .pyc, which
    # exists where the module says (__cached__), and its code names its source file (so
    # tracebacks show the layer's sources)
    modules = with_pycs["modules"]
    assert isinstance(modules, dict) and f"{LAYER_PACKAGE}.bootstrap" in modules
    assert with_pycs["compiled"] == []
    assert with_pycs["dont_write_bytecode"] == 1
    for name, module in modules.items():
        assert module["cached_exists"], (name, module)
        assert module["cached"].startswith(str(shipped / "python")), (name, module)
        assert module["code_names_file"], name
    # AND nothing was written into the layer
    assert tree(shipped) == before
    # AND the probe does see compiles: without the bytecode every module is compiled
    assert {Path(p).name for p in without["compiled"]} >= {"bootstrap.py", "hook.py"}


# Loads the private runtime (nothing installed) from an extracted layer: whether the hook's
# bytecode bundle was read, and the file names its code objects record.
READ_BUNDLE = """
import json, sys
import _lambda_sandbox.private_modules as private
runtime = private.load("_lambda_sandbox", private.__file__.rsplit("/", 1)[0])
bundle = runtime.bundle or {}
print(json.dumps({
    "modules": sorted(bundle),
    "bundled": sorted(private.BUNDLED),
    "files": sorted({code.co_filename for codes in bundle.values() for code in codes}),
}))
"""


@pytest.mark.parametrize("version", each_python())
def test_each_python_reads_its_bundle_from_a_read_only_layer(
    version: str, host_layer: Path, tmp_path: Path
) -> None:
    # GIVEN the built layer, extracted and read-only, as /opt in Lambda
    layer = extract(host_layer, tmp_path)
    package = layer / PACKAGE
    assert (package / bundle_name(version)).is_file()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(layer / "python")}
    cmd = read_only(layer, [str(COMPILERS[version]), "-B", "-c", READ_BUNDLE])
    # WHEN that Python loads the hook's private runtime from it
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    finally:
        writable(layer)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    # THEN its bundle is read (unchecked: no source is looked at), with every bundled module,
    # and each code object names its source where it really is (not /opt: rewritten as the
    # import system rewrites a .pyc's)
    assert report["modules"] == report["bundled"] and report["modules"]
    expected = {src for _, src in bundle_sources(str(package))}
    assert set(report["files"]) == expected


def test_an_optional_python_without_interpreter_is_left_out_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a machine without any CPython 3.14 (nothing on PATH, no pyenv, no private prefix)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PY314", str(tmp_path / "missing" / "python3.14"))
    left_out: list[str] = []
    # WHEN looking for the interpreters to compile the bytecode with
    found = find_compilers(("3.14",), left_out=left_out)
    # THEN the build goes on without that version, and says so on stderr and to the caller
    assert found == {}
    err = capsys.readouterr().err
    assert "layer build: warning: no bytecode for python3.14" in err
    assert "make python3.14" in err
    assert len(left_out) == 1 and left_out[0].startswith("no bytecode for python3.14")


def test_a_required_python_without_interpreter_fails_the_layer_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a machine with no CPython of the Lambda Pythons anywhere the build looks
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PY314", "")
    # WHEN looking for a required version / THEN that fails, naming it and where it was sought
    with pytest.raises(BytecodeBuildError, match=r"no CPython 3\.11 interpreter .*PYENV_ROOT"):
        find_compilers(("3.11",))
    # AND the layer build fails with that message, writing no zip
    with pytest.raises(LayerBuildError, match=r"bytecode: no CPython 3\.10 interpreter"):
        build_layer("x86_64", out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "out" / "sandbox-layer-x86_64.zip").exists()


def test_an_interpreter_of_another_version_is_refused(tmp_path: Path) -> None:
    # GIVEN a package and this interpreter presented as another version
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "m.py").write_text("X = 1\n")
    other = "3.12" if sys.version_info[:2] != (3, 12) else "3.11"
    # WHEN compiling / THEN the build fails, saying which interpreter is which version
    with pytest.raises(BytecodeBuildError, match=rf"not CPython {other}"):
        compile_package(package, {other: Path(sys.executable)})


@pytest.mark.skipif("3.10" not in COMPILERS, reason=no_interpreter("3.10"))
def test_a_source_one_python_cannot_compile_fails_the_build(tmp_path: Path) -> None:
    # GIVEN a module using syntax newer than CPython 3.10 (a PEP 695 type alias)
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "new.py").write_text("type Pair = tuple[int, int]\n")
    # WHEN compiling it with 3.10 / THEN the build fails, naming the interpreter and the file
    with pytest.raises(BytecodeBuildError, match=r"(?s)3\.10.*failed: .*/new\.py: .*SyntaxError"):
        compile_package(package, {"3.10": COMPILERS["3.10"]})
