"""The hook's bytecode bundle: one file for the modules install executes, used only while current.

Nothing here installs the sandbox (no audit hook): the tests run in the test process, on a copy
of the runtime package in a temporary folder (so the real package's cache is never touched).
"""

from __future__ import annotations

import ast
import io
import marshal
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.runtime import private_modules
from sandbox.runtime.private_modules import UNCHECKED, bundle_path, nested_codes
from sandbox.runtime.private_modules import build_bundle as build
from sandbox.runtime.private_modules import read_bundle as read

RUNTIME = Path(private_modules.__file__).parent


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the runtime package's sources (no bytecode), as ``<tmp>/runtime``."""
    copy = tmp_path / "runtime"
    shutil.copytree(RUNTIME, copy, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    return copy


def sources_of(package: Path) -> list[tuple[str, str]]:
    return private_modules.bundle_sources(str(package))


def test_a_bundle_gives_each_modules_code_and_its_nested_codes_by_identity(package: Path) -> None:
    # GIVEN a bundle built for the copy's sources
    sources = sources_of(package)
    path = bundle_path(str(package))
    build(path, sources)
    # WHEN it is read
    codes = read(path, sources)
    # THEN every bundled module is there, its module code first, naming its source file
    assert codes is not None and list(codes) == list(private_modules.BUNDLED)
    for name, source in sources:
        module_codes = codes[name]
        assert module_codes[0].co_filename == source
        # AND the rest is every code object nested in it, the very objects of its constants
        # (what install counts as the sandbox's own, with no walk of the constants)
        walked = nested_codes(module_codes[0])
        assert len(walked) == len(module_codes)
        assert all(a is b for a, b in zip(walked, module_codes, strict=True)), name
        assert all(code.co_filename == source for code in module_codes), name


@pytest.mark.parametrize("native", ["on", "off"])
def test_both_cores_read_the_same_bundle(
    package: Path, native: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a bundle, read once by marshal from the file's bytes
    sources = sources_of(package)
    path = bundle_path(str(package))
    build(path, sources)
    data = Path(path).read_bytes()
    end = private_modules._HEADER + int.from_bytes(data[8:12], "little")
    expected = marshal.loads(data[end:])
    # WHEN install's reader reads it with the native core (its mapping of the file) or with the
    # Python core (SANDBOX_NATIVE=off: the file's bytes)
    monkeypatch.setenv("SANDBOX_NATIVE", native)
    if native == "on" and private_modules._native_unmarshal_file() is None:
        pytest.skip("_core extension not built here")
    assert (private_modules._native_unmarshal_file() is None) is (native == "off")
    codes = read(path, sources)
    # THEN each module's codes are the ones marshal gives
    assert codes is not None
    assert [c[0] for c in expected] == [codes[name][0] for name, _ in sources]


def test_a_handle_without_a_descriptor_is_read() -> None:
    # GIVEN what an io.open_code hook may return: a file object with no descriptor
    head = b"0123456789abcdef"
    handle = io.BytesIO(head + marshal.dumps(("codes", 1)))
    handle.read(len(head))
    # WHEN the rest is read / THEN it is unmarshalled from the handle's bytes
    assert private_modules._read_rest(handle, len(head)) == ("codes", 1)


def test_the_bundle_compiles_docstrings_out_and_keeps_line_numbers(package: Path) -> None:
    # GIVEN a bundle of the copy / WHEN the paths module's code is read from it
    sources = sources_of(package)
    path = bundle_path(str(package))
    build(path, sources)
    codes = read(path, sources)
    assert codes is not None
    module = codes["paths"][0]
    # THEN the module sets no __doc__, and each function's first line is its source's
    tree = ast.parse((package / "paths.py").read_text())
    lines = {node.name: node.lineno for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert "__doc__" not in module.co_names
    functions = [c for c in codes["paths"] if c.co_name in lines]
    assert functions and all(c.co_firstlineno == lines[c.co_name] for c in functions)


def test_the_bundled_modules_hold_no_assert_nor_debug_switch(package: Path) -> None:
    # GIVEN the bundled modules' sources / WHEN looking for assert statements
    found = [
        f"{source}:{node.lineno}"
        for _, source in sources_of(package)
        for node in ast.walk(ast.parse(Path(source).read_text()))
        if isinstance(node, ast.Assert) or (isinstance(node, ast.Name) and node.id == "__debug__")
    ]
    # THEN there is none, nor any use of __debug__: the bundle compiles at optimisation level
    # 2, which would drop or change them (only the docstrings are meant to go)
    assert found == []


def test_a_changed_source_makes_a_checked_bundle_unused(package: Path) -> None:
    # GIVEN a checked bundle of the copy, current
    sources = sources_of(package)
    path = bundle_path(str(package))
    build(path, sources)
    assert read(path, sources) is not None
    # WHEN one source changes (a comment added: another size and time)
    policy = package / "policy.py"
    policy.write_text(policy.read_text() + "# edited\n")
    # THEN the bundle is not used
    assert read(path, sources) is None


def test_an_unchecked_bundle_never_looks_at_the_sources(package: Path) -> None:
    # GIVEN an unchecked bundle (the layer's) / WHEN a source changes, or is gone
    sources = sources_of(package)
    path = bundle_path(str(package))
    build(path, sources, unchecked=True)
    (package / "policy.py").unlink()
    # THEN it is read all the same (as the layer's unchecked-hash .pyc files are)
    codes = read(path, sources)
    assert codes is not None and set(codes) == set(private_modules.BUNDLED)
    assert int.from_bytes(Path(path).read_bytes()[4:8], "little") == UNCHECKED


@pytest.mark.parametrize(
    "damage",
    ["another interpreter", "truncated", "another list", "garbage"],
)
def test_a_bundle_that_is_not_this_ones_is_unused(package: Path, damage: str) -> None:
    # GIVEN a current bundle of the copy
    sources = sources_of(package)
    path = Path(bundle_path(str(package)))
    build(str(path), sources)
    data = path.read_bytes()
    # WHEN it is damaged, or asked for another list of modules
    if damage == "another interpreter":
        path.write_bytes(b"\x00\x00\r\n" + data[4:])
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "another list":
        sources = sources[:-1]
    else:
        path.write_bytes(data[:16] + os.urandom(64))
    # THEN it is not used (the modules then load one by one)
    assert read(str(path), sources) is None


@pytest.fixture
def importable_copy(package: Path) -> Iterator[str]:
    """The copy importable as the top-level package ``runtime`` (for private_modules.load)."""
    sys.path.insert(0, str(package.parent))
    try:
        yield "runtime"
    finally:
        sys.path.remove(str(package.parent))
        for name in [n for n in sys.modules if n == "runtime" or n.startswith("runtime.")]:
            del sys.modules[name]


def test_install_writes_the_bundle_once_and_the_next_one_reads_it(
    package: Path, importable_copy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the copy, with no bundle, bytecode writing on, and the modules' .pyc files (a
    # first start compiled them)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    compileall = __import__("compileall")
    assert compileall.compile_dir(str(package), quiet=1)
    first = private_modules.load(importable_copy, str(package))
    assert first.bundle is None
    first.module("paths")
    assert first.uncached is False
    # WHEN a first runtime saves its bundle
    # THEN it is written, where the next load looks for it
    assert first.save_bundle() is True
    assert Path(bundle_path(str(package))).is_file()
    first.finish()
    # AND the next runtime reads it: its modules' code is the bundle's, and saving is a no-op
    second = private_modules.load(importable_copy, str(package))
    try:
        assert second.bundle is not None
        hook = second.module("hook")
        assert second.module_codes["hook"] is second.bundle["hook"]
        assert hook.install_hook.__code__ in second.bundle["hook"]
        assert second.save_bundle() is False
    finally:
        second.finish()


def test_no_bundle_is_written_without_bytecode_writing_or_a_writable_folder(
    package: Path, importable_copy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the copy with no bundle
    # WHEN bytecode writing is off (-B, PYTHONDONTWRITEBYTECODE)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    runtime = private_modules.load(importable_copy, str(package))
    # THEN nothing is written
    assert runtime.save_bundle() is False
    # AND WHEN writing is on but the folder is not writable (a read-only install, as /opt),
    # THEN nothing is compiled for nothing: nothing is written, and the build is never called
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(private_modules, "_access", lambda path, mode: False)
    monkeypatch.setattr(private_modules, "build_bundle", pytest.fail)
    assert runtime.save_bundle() is False
    runtime.finish()
    assert not Path(bundle_path(str(package))).exists()


def test_a_start_that_compiled_from_source_leaves_the_bundle_to_the_next(
    package: Path, importable_copy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the copy with no bundle and no .pyc files (a freshly staged copy of the sources)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    runtime = private_modules.load(importable_copy, str(package))
    # WHEN a module is loaded (compiled from its source) and the bundle is asked for
    runtime.module("paths")
    # THEN it is not written: that start compiled from source once already, and compiling
    # every module again would double it (the next start, with the .pyc files, writes it)
    assert runtime.uncached is True
    assert runtime.save_bundle() is False
    runtime.finish()
    assert not Path(bundle_path(str(package))).exists()
