"""The layer zip: layout, permissions, determinism, runtime-only contents."""

from __future__ import annotations

import json
import platform
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sandbox.layer import LAYER_PACKAGE, WRAPPER, runtime_files
from sandbox.layer.build import Arch, LayerBuildError, build_layer, main
from sandbox.layer.native import native_files
from tests.conftest import hostile

# ELF e_machine values: what the wheels' native code was built for.
ELF_MACHINE = {"x86_64": 62, "arm64": 183}
TOOLING_DEPS = ("pydantic", "pydantic_core", "psutil", "pyseccomp", "seccomp")


def wheel_cache(factory: pytest.TempPathFactory) -> Path:
    # Same place as tests/e2e/conftest.py uses: wheels are downloaded once per session.
    return factory.getbasetemp() / "layer-wheel-cache"


def layer_zip(factory: pytest.TempPathFactory, arch: Arch) -> Path:
    """Build the layer for ``arch`` once per session (shared with the e2e tests)."""
    out = factory.getbasetemp() / "layers" / arch
    path = out / f"sandbox-layer-{arch}.zip"
    if not path.exists():
        try:
            build_layer(arch, out_dir=out, cache_dir=wheel_cache(factory))
        except LayerBuildError as exc:
            if "could not download" in str(exc):
                pytest.skip(f"layer wheels not obtainable (offline?): {exc}")
            raise
    return path


@pytest.fixture(scope="session", params=["x86_64", "arm64"])
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    arch: Arch = request.param
    return arch, layer_zip(tmp_path_factory, arch)


def names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


def test_layout_is_lambda_layer_layout(built: tuple[str, Path]) -> None:
    # GIVEN a built layer
    arch, path = built
    # WHEN listing it
    entries = names(path)
    # THEN it is named for its arch and holds the wrapper, the profile slot and the package,
    # and nothing else: the runtime needs no third-party package
    assert path.name == f"sandbox-layer-{arch}.zip"
    assert "sandbox-wrapper" in entries
    assert "sandbox-profile/" in entries
    assert f"python/{LAYER_PACKAGE}/__init__.py" in entries
    assert {n.split("/")[1] for n in entries if n.startswith("python/") and n.count("/") > 1} == {
        LAYER_PACKAGE
    }
    # AND entries are sorted (deterministic order)
    assert entries == sorted(entries)


def test_layer_package_equals_the_runtime_subpackage(
    built: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # GIVEN a built layer / WHEN reading its package files
    prefix = f"python/{LAYER_PACKAGE}/"
    with zipfile.ZipFile(built[1]) as zf:
        shipped = {
            n.removeprefix(prefix): zf.read(n)
            for n in zf.namelist()
            if n.startswith(prefix) and not n.endswith("/")
        }
        others = [n for n in zf.namelist() if not n.startswith(prefix) and not n.endswith("/")]
    # THEN besides the bytecode they are exactly sandbox/runtime/, file for file and byte for
    # byte, and besides them the zip holds only the wrapper at its root
    # (with the native core's objects for the layer's arch in place of any built locally;
    # the bytecode: tests/unit/test_layer_bytecode.py)
    native = [
        path
        for path in native_files(built[0], wheel_cache(tmp_path_factory).resolve() / "native")
        if path.is_file()  # an optional Python without headers here (3.14) has none
    ]
    bytecode = {n for n in shipped if "/__pycache__/" in f"/{n}"}
    assert bytecode and all(n.endswith((".pyc", ".bundle")) for n in bytecode)
    assert {n: data for n, data in shipped.items() if n not in bytecode} == {
        rel: path.read_bytes() for rel, path in runtime_files(native)
    }
    assert others == ["sandbox-wrapper"]
    assert not [n for n in shipped if n.endswith(".pyo")]


def test_modes_and_timestamps_are_fixed(built: tuple[str, Path]) -> None:
    # GIVEN a built layer / WHEN reading each entry's metadata
    with zipfile.ZipFile(built[1]) as zf:
        infos = zf.infolist()
    # THEN every entry is Unix-made, dated 1980-01-01, with fixed permissions
    for info in infos:
        mode = info.external_attr >> 16
        assert info.create_system == 3
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        if info.filename == "sandbox-wrapper":
            assert mode == stat.S_IFREG | 0o755
        elif info.is_dir():
            assert mode == stat.S_IFDIR | 0o755
        else:
            assert mode == stat.S_IFREG | 0o644, info.filename


def test_wrapper_in_zip_is_the_source_script(built: tuple[str, Path]) -> None:
    # GIVEN a built layer / WHEN reading its wrapper / THEN it is the source tree's script
    with zipfile.ZipFile(built[1]) as zf:
        data = zf.read("sandbox-wrapper")
    assert data == WRAPPER.read_bytes()


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_native_dependencies_match_arch(
    arch: Arch, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # GIVEN a layer with a native dependency (the runtime has none today; the machinery that
    # installs manylinux wheels per arch must still be right for the day it does)
    try:
        path = build_layer(
            arch,
            out_dir=tmp_path,
            cache_dir=wheel_cache(tmp_path_factory),
            requirements=["wrapt>=1.16"],
        )
    except LayerBuildError as exc:
        if "could not download" in str(exc):
            pytest.skip(f"wheels not obtainable (offline?): {exc}")
        raise
    # WHEN reading the ELF header of each shared object
    with zipfile.ZipFile(path) as zf:
        machines = {
            int.from_bytes(zf.read(n)[18:20], "little") for n in zf.namelist() if n.endswith(".so")
        }
    # THEN all are built for the layer's architecture
    assert machines == {ELF_MACHINE[arch]}


def test_same_inputs_give_identical_bytes(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a layer built once this session, and a caller with other Python settings (a hash
    # seed changes CPython 3.10's set constants in bytecode; a pycache prefix or an
    # optimisation level would move or change .pyc files) in another working directory
    first = layer_zip(tmp_path_factory, "x86_64")
    monkeypatch.setenv("PYTHONHASHSEED", "4242")
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(tmp_path / "prefix"))
    monkeypatch.setenv("PYTHONOPTIMIZE", "2")
    monkeypatch.chdir(tmp_path)
    # WHEN building it again into another directory (from the wheel cache, offline)
    second = build_layer(
        "x86_64", out_dir=tmp_path / "out", cache_dir=wheel_cache(tmp_path_factory)
    )
    # THEN the bytes are identical, the runtime's bytecode included
    with zipfile.ZipFile(second) as zf:
        assert any(n.endswith(".pyc") for n in zf.namelist())
    assert second.read_bytes() == first.read_bytes()


def test_profile_is_shipped_in_its_slot(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # GIVEN a compiled profile
    profile = tmp_path / "compiled.json"
    profile.write_text(json.dumps({"format": "test", "rules": []}))
    # WHEN building the layer with it
    path = build_layer(
        "x86_64", out_dir=tmp_path / "out", profile=profile, cache_dir=wheel_cache(tmp_path_factory)
    )
    # THEN it sits at sandbox-profile/profile.json (/opt/sandbox-profile/profile.json in Lambda)
    with zipfile.ZipFile(path) as zf:
        assert zf.read("sandbox-profile/profile.json") == profile.read_bytes()


def test_runtime_package_imports_with_stdlib_and_layer_only(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # GIVEN the host-arch layer extracted, and an interpreter without site-packages (-S)
    arch: Arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    with zipfile.ZipFile(layer_zip(tmp_path_factory, arch)) as zf:
        zf.extractall(tmp_path)
    probe = f"""
import importlib, json, pkgutil, sys
sys.path.insert(0, {str(tmp_path / "python")!r})
import {LAYER_PACKAGE} as package
failed = {{}}
for mod in pkgutil.walk_packages(package.__path__, "{LAYER_PACKAGE}."):
    try:
        importlib.import_module(mod.name)
    except Exception as exc:
        failed[mod.name] = repr(exc)
report = {{"failed": failed, "file": package.__file__, "modules": sorted(sys.modules)}}
with open("report.json", "w") as fh:
    json.dump(report, fh)
"""
    # (the bootstrap installs the sandbox on import: give it learn mode and a handler)
    env = {
        "PATH": "/usr/bin:/bin",
        "SANDBOX_MODE": "learn",
        "SANDBOX_ORIGINAL_HANDLER": "json.dumps",
        "SANDBOX_OBSERVATIONS_FILE": str(tmp_path / "observations.jsonl"),
    }
    # WHEN importing every module the layer ships (the bootstrap included)
    subprocess.run(
        [sys.executable, "-S", "-c", probe], env=env, capture_output=True, check=True, cwd=tmp_path
    )
    report = json.loads((tmp_path / "report.json").read_text())
    # THEN all import from the layer alone, and no tooling dependency was needed or loaded
    assert report["failed"] == {}
    assert report["file"].startswith(str(tmp_path / "python"))
    loaded_top = {m.split(".")[0] for m in report["modules"]}
    assert not loaded_top.intersection(TOOLING_DEPS)
    assert "sandbox" not in loaded_top  # the runtime never imports the tooling package
    assert f"{LAYER_PACKAGE}.bootstrap" in report["modules"]


def test_bad_inputs_fail_clearly(tmp_path: Path) -> None:
    # GIVEN an unknown arch, a bad python version and a profile that is not JSON
    bad_profile = tmp_path / "p.json"
    bad_profile.write_text("{nope")
    # WHEN / THEN building refuses with a clear message, before any download
    with pytest.raises(LayerBuildError, match="arch"):
        build_layer(hostile("sparc"), out_dir=tmp_path)
    with pytest.raises(LayerBuildError, match="python version"):
        build_layer("x86_64", out_dir=tmp_path, python_version="311")
    with pytest.raises(LayerBuildError, match="not JSON"):
        build_layer("x86_64", out_dir=tmp_path, profile=bad_profile)
    assert not list(tmp_path.glob("*.zip"))


def test_no_network_and_empty_cache_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an unreachable package index (a closed loopback port) and an empty wheel cache
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    # WHEN building
    with pytest.raises(LayerBuildError) as info:
        build_layer(
            "x86_64",
            out_dir=tmp_path / "out",
            cache_dir=tmp_path / "cache",
            requirements=["lambda-sandbox-test-dependency==1.0"],  # in no index, local or remote
        )
    # THEN the error says what could not be downloaded and where the cache is
    message = str(info.value)
    assert "could not download lambda-sandbox-test-dependency==1.0" in message
    assert str(tmp_path / "cache") in message
    assert not (tmp_path / "out" / "sandbox-layer-x86_64.zip").exists()


def test_cli_builds_and_prints_size(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the layer build command with a warm wheel cache
    cache = wheel_cache(tmp_path_factory)
    layer_zip(tmp_path_factory, "x86_64")
    # WHEN running it
    status = main(
        ["layer", "build", "--arch", "x86_64", "--out", str(tmp_path), "--cache-dir", str(cache)]
    )
    # THEN it writes the zip and prints its path and size
    out = capsys.readouterr().out
    zip_path = tmp_path / "sandbox-layer-x86_64.zip"
    assert status == 0
    assert out.startswith(f"{zip_path} {zip_path.stat().st_size} bytes")
