"""``sandbox profile package``: the profile layer as a deterministic build artefact."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from sandbox.profile.cli import main
from sandbox.profile.model import Profile
from sandbox.profile.package import PROFILE_PATH, package_profile

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"


def copy_profiles(dest: Path) -> Path:
    """The repository's profiles (and their base bundles) at another place."""
    shutil.copytree(PROFILES, dest, symlinks=False)
    return dest


def test_same_profile_gives_the_same_bytes_wherever_and_whenever_it_is_packaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the same reviewed profile in two checkouts
    first = copy_profiles(tmp_path / "a" / "profiles")
    second = copy_profiles(tmp_path / "b" / "nested" / "profiles")
    # WHEN each is packaged as a zip, from different working directories
    monkeypatch.chdir(tmp_path / "a")
    assert main(["profile", "package", "profiles/orders.json", "-o", "out/orders.zip"]) == 0
    monkeypatch.chdir(tmp_path)
    out2 = tmp_path / "elsewhere" / "orders-profile.zip"
    assert main(["profile", "package", str(second / "orders.json"), "-o", str(out2)]) == 0
    # THEN the two zips are byte for byte identical
    assert (first.parent / "out" / "orders.zip").read_bytes() == out2.read_bytes()


def test_the_zip_holds_the_compiled_profile_where_the_runtime_reads_it(tmp_path: Path) -> None:
    # GIVEN a reviewed profile
    source = PROFILES / "orders.json"
    # WHEN it is packaged
    out = tmp_path / "orders.zip"
    assert main(["profile", "package", str(source), "-o", str(out)]) == 0
    # THEN the zip's profile.json is the compiled profile at /opt/sandbox-profile/profile.json
    with zipfile.ZipFile(out) as zf:
        names = sorted(zf.namelist())
        compiled = json.loads(zf.read("sandbox-profile/profile.json"))
        meta = json.loads(zf.read("sandbox-profile/meta.json"))
    assert PROFILE_PATH == "/opt/" + "sandbox-profile/profile.json"
    assert names == ["sandbox-profile/meta.json", "sandbox-profile/profile.json"]
    expected = Profile.load(source).compile(base_dir=source.parent)
    assert compiled == expected
    assert meta["profile_sha256"] == expected["profile_sha256"]


def test_directory_form_holds_exactly_the_zip_members(tmp_path: Path) -> None:
    # GIVEN a profile packaged both as a zip and as a directory
    source = PROFILES / "vulnerable.json"
    assert main(["profile", "package", str(source), "-o", str(tmp_path / "v.zip")]) == 0
    assert main(["profile", "package", str(source), "-o", str(tmp_path / "layer")]) == 0
    # WHEN the two are compared file by file
    with zipfile.ZipFile(tmp_path / "v.zip") as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    files = {
        p.relative_to(tmp_path / "layer").as_posix(): p.read_bytes()
        for p in (tmp_path / "layer").rglob("*")
        if p.is_file()
    }
    # THEN they hold the same files with the same bytes
    assert files == members


def test_manifest_names_the_hash_the_description_and_code_sha256(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a profile
    source = PROFILES / "orders.json"
    out = tmp_path / "orders-profile.zip"
    # WHEN it is packaged with a manifest and --json
    code = main(
        [
            "profile",
            "package",
            str(source),
            "-o",
            str(out),
            "--manifest",
            str(tmp_path / "m.json"),
            "--json",
        ]
    )
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((tmp_path / "m.json").read_text())
    # THEN both agree, the description carries the profile's hash, and code_sha256 is the
    # base64 SHA-256 Lambda reports for these bytes
    assert code == 0 and printed == written
    sha = Profile.load(source).compile(base_dir=source.parent)["profile_sha256"]
    assert written["profile_sha256"] == sha and sha in written["description"]
    assert written["function"] == "orders" and written["zip"] == "orders-profile.zip"
    digest = base64.b64encode(hashlib.sha256(out.read_bytes()).digest()).decode()
    assert written["code_sha256"] == digest


def test_print_sha256_prints_only_the_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a profile
    source = PROFILES / "orders.json"
    # WHEN packaged with --print-sha256
    assert (
        main(["profile", "package", str(source), "-o", str(tmp_path / "o.zip"), "--print-sha256"])
        == 0
    )
    # THEN stdout is the profile's hash alone (for a template parameter)
    assert capsys.readouterr().out.strip() == package_profile(source).profile_sha256


def test_a_changed_profile_gives_a_different_package(tmp_path: Path) -> None:
    # GIVEN a profile and a copy with one more rule
    profiles = copy_profiles(tmp_path / "profiles")
    data = json.loads((profiles / "orders.json").read_text())
    data["rules"].setdefault("files", []).append({"action": "read", "target": "/etc/hostname"})
    (profiles / "changed.json").write_text(json.dumps(data))
    # WHEN both are packaged
    before, after = (
        package_profile(profiles / "orders.json"),
        package_profile(profiles / "changed.json"),
    )
    # THEN the bytes and the hash differ
    assert before.data != after.data and before.profile_sha256 != after.profile_sha256
    with zipfile.ZipFile(io.BytesIO(after.data)) as zf:
        assert "/etc/hostname" in zf.read("sandbox-profile/profile.json").decode()


def test_invalid_profile_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a compiled profile given where the source is expected
    compiled = tmp_path / "c.json"
    compiled.write_text(json.dumps({"format": "lambda-sandbox.compiled"}))
    # WHEN it is packaged
    code = main(["profile", "package", str(compiled), "-o", str(tmp_path / "x.zip")])
    # THEN exit status 2, a message naming the file, and nothing written
    assert code == 2
    assert str(compiled) in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()
