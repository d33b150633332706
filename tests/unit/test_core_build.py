"""The native core's cross-build: ELF machine, glibc 2.26, reproducible bytes, the layer's contents."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from sandbox.layer import LAYER_PACKAGE
from sandbox.layer.build import Arch
from sandbox.layer.native import (
    ARCH_TRIPLES,
    ELF_MACHINES,
    GLIBC_TARGET,
    OPTIONAL_PYTHONS,
    PYTHONS,
    NativeBuildError,
    _pyconfig_for,
    build_native,
    buildable_pythons,
    elf_glibc_versions,
    elf_machine,
    find_headers,
)
from tests.conftest import REPO
from tests.unit.test_layer_build import layer_zip

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ziglang") is None, reason="ziglang (dev extra) not installed"
)


# The Lambda Pythons whose headers this machine has (3.14 only after `make python3.14`).
BUILDABLE = buildable_pythons()
NO_314 = "no CPython 3.14 headers here (make python3.14): its native core is not built"


@pytest.fixture(scope="session")
def objects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    out = tmp_path_factory.mktemp("native")
    return {arch: build_native(arch, out) for arch in sorted(ARCH_TRIPLES)}


@pytest.mark.parametrize("arch", sorted(ARCH_TRIPLES))
def test_one_object_per_python_named_for_the_import_system(
    arch: str, objects: dict[str, list[Path]]
) -> None:
    # GIVEN the objects built for an arch / WHEN listing their names
    names = [p.name for p in objects[arch]]
    # THEN there is one per Lambda Python whose headers are here, with that interpreter's
    # extension suffix; only an optional version (3.14) may be missing
    assert names == [
        f"_core.cpython-{v.replace('.', '')}-{ARCH_TRIPLES[arch]}.so" for v in sorted(BUILDABLE)
    ]
    assert set(PYTHONS) - set(BUILDABLE) <= OPTIONAL_PYTHONS


@pytest.mark.skipif("3.14" not in BUILDABLE, reason=NO_314)
@pytest.mark.parametrize("arch", sorted(ARCH_TRIPLES))
def test_python314_core_is_built_from_its_headers(
    arch: str, objects: dict[str, list[Path]]
) -> None:
    # GIVEN CPython 3.14's headers (make python3.14) / WHEN the objects for an arch are built
    # THEN one of them is the 3.14 core, an object for the arch
    wanted = f"_core.cpython-314-{ARCH_TRIPLES[arch]}.so"
    built = [p for p in objects[arch] if p.name == wanted]
    assert built and elf_machine(built[0]) == ELF_MACHINES[arch]
    assert (find_headers("3.14") / "Python.h").is_file()


def test_an_optional_python_without_headers_is_left_out_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a machine without any CPython 3.14 (nothing on PATH, no pyenv, no private prefix)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PY314", str(tmp_path / "missing" / "python3.14"))
    left_out: list[str] = []
    # WHEN building the native core for 3.14 on each arch
    for arch in sorted(ARCH_TRIPLES):
        built = build_native(arch, tmp_path / "native", ("3.14",), left_out=left_out)
        # THEN the build goes on without that object ...
        assert built == []
    # ... and says, on stderr and to the caller, which Python and arch have no native core
    err = capsys.readouterr().err
    for arch in sorted(ARCH_TRIPLES):
        line = f"no native core for python3.14 on {arch}"
        assert line in err
        assert any(m.startswith(line) and "pure-Python core" in m for m in left_out)
    assert "make python3.14" in err


def test_a_required_python_without_headers_fails_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a machine without CPython 3.11 anywhere the build looks
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # WHEN building its native core / THEN the build fails, naming the version
    with pytest.raises(NativeBuildError, match=r"no CPython 3\.11 headers"):
        build_native("x86_64", tmp_path / "native", ("3.11",))


@pytest.mark.parametrize("arch", sorted(ARCH_TRIPLES))
def test_objects_are_for_their_arch_and_need_no_glibc_after_2_26(
    arch: str, objects: dict[str, list[Path]]
) -> None:
    for path in objects[arch]:
        # GIVEN an object / WHEN reading its ELF header and its version needs
        versions = elf_glibc_versions(path)
        # THEN it is an ELF object for the arch, and every glibc symbol version it needs is
        # at most 2.26 (Amazon Linux 2)
        assert elf_machine(path) == ELF_MACHINES[arch]
        assert versions and max(versions) <= GLIBC_TARGET, (path.name, versions)
        # AND binutils' reading of the same section agrees with ours
        if shutil.which("readelf"):
            out = subprocess.run(
                ["readelf", "-V", "-W", str(path)], capture_output=True, text=True, check=True
            ).stdout
            theirs = {
                tuple(int(p) for p in v.split(".")) for v in re.findall(r"GLIBC_([\d.]+)", out)
            }
            assert theirs == set(versions)
            header = subprocess.run(
                ["readelf", "-h", str(path)], capture_output=True, text=True, check=True
            ).stdout
            assert ("AArch64" if arch == "arm64" else "X86-64") in header


def test_same_inputs_give_identical_objects(objects: dict[str, list[Path]], tmp_path: Path) -> None:
    # GIVEN objects built once this session
    # WHEN building them again elsewhere
    again = {arch: build_native(arch, tmp_path / "again") for arch in sorted(ARCH_TRIPLES)}
    # THEN the bytes are identical, and no build directory is recorded in them
    for arch, paths in objects.items():
        assert [p.read_bytes() for p in again[arch]] == [p.read_bytes() for p in paths]
        for path in paths:
            data = path.read_bytes()
            assert str(tmp_path).encode() not in data
            assert str(path.parent).encode() not in data
            assert b".build-id" not in data and b"GNU\x00" not in data[:4096]


def test_aarch64_pyconfig_rewrite_equals_debians_arm64_header() -> None:
    # GIVEN Debian's python3.11 pyconfig.h for amd64 and for arm64 (make arm64-root)
    amd64 = Path("/usr/include/x86_64-linux-gnu/python3.11/pyconfig.h")
    arm64_root = Path(os.environ.get("SANDBOX_ARM64_ROOT", REPO / "build" / "arm64-root"))
    arm64 = arm64_root / "usr/include/aarch64-linux-gnu/python3.11/pyconfig.h"
    if not (amd64.is_file() and arm64.is_file()):
        pytest.skip("Debian's amd64 and arm64 python3.11 headers not both present")
    # WHEN rewriting the amd64 one for aarch64
    rewritten = _pyconfig_for("arm64", amd64.read_text())
    # THEN it is exactly the arm64 one: the rewrite covers every difference
    assert rewritten == arm64.read_text()


@pytest.mark.skipif("3.14" not in BUILDABLE, reason=NO_314)
def test_aarch64_pyconfig_rewrite_equals_debians_arm64_header_for_314() -> None:
    # GIVEN the amd64 pyconfig.h of make python3.14 (Debian's build) and Debian's arm64 one of
    # the same version (libpython3.14-dev:arm64, extracted; its path in the environment)
    amd64 = find_headers("3.14") / "pyconfig.h"
    given = os.environ.get("SANDBOX_ARM64_PYCONFIG_314", "")
    if not given or not Path(given).is_file():
        pytest.skip(
            "SANDBOX_ARM64_PYCONFIG_314 does not name Debian's arm64 python3.14 pyconfig.h "
            "(dpkg-deb -x libpython3.14-dev_<version>_arm64.deb)"
        )
    # WHEN rewriting the amd64 one for aarch64 / THEN it is exactly the arm64 one
    assert _pyconfig_for("arm64", amd64.read_text()) == Path(given).read_text()


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_layer_ships_every_python_for_its_arch(
    arch: Arch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # GIVEN the layer built for an arch / WHEN listing its shared objects
    with zipfile.ZipFile(layer_zip(tmp_path_factory, arch)) as zf:
        shipped = {n: zf.read(n) for n in zf.namelist() if n.endswith(".so")}
    # THEN the package dir holds the core for every Lambda Python, built for that arch
    triple = "aarch64-linux-gnu" if arch == "arm64" else "x86_64-linux-gnu"
    assert sorted(shipped) == [
        f"python/{LAYER_PACKAGE}/_core.cpython-{v.replace('.', '')}-{triple}.so"
        for v in sorted(BUILDABLE)
    ]
    assert {int.from_bytes(data[18:20], "little") for data in shipped.values()} == {
        ELF_MACHINES[arch]
    }
