"""The identity a kept path answer is validated against: the file the decision was about.

Once a child process (or a second thread) exists, every kept answer is checked before use
with one ``stat`` of the name against the identity kept with it. That identity must be the
identity of the very file the decision was about: taken by following the name, a folder on the
way swapped for a link between the decision and the ``stat`` gives another file's identity,
which every later check (through the same link) confirms. ``core.plain_identity`` looks the
name up with no link on the way; both cores implement it, and the path cache keeps nothing
when it fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox.runtime import _core, core_fallback, paths  # type: ignore[attr-defined]

Identity = Callable[[str], "tuple[int, int] | None"]
CORES: dict[str, Identity] = {
    "native": _core.plain_identity,
    "python": core_fallback.plain_identity,
}


@pytest.fixture(params=sorted(CORES))
def plain_identity(request: pytest.FixtureRequest) -> Identity:
    return CORES[request.param]


def test_a_file_reached_through_folders_is_its_own_identity(
    plain_identity: Identity, tmp_path: Path
) -> None:
    # GIVEN a file and a folder reached with no link on the way
    real = Path(os.path.realpath(tmp_path))
    (real / "d").mkdir()
    (real / "d" / "f").write_text("x")
    # WHEN their identities are taken
    # THEN each is the (device, inode) lstat gives
    for name in (real / "d" / "f", real / "d"):
        st = os.lstat(name)
        assert plain_identity(str(name)) == (st.st_dev, st.st_ino)


def test_a_missing_name_is_its_directorys_identity_marked(
    plain_identity: Identity, tmp_path: Path
) -> None:
    # GIVEN a folder without the name
    real = Path(os.path.realpath(tmp_path))
    # WHEN the identity of a name not there yet is taken
    # THEN it is the folder's, with the inode marked (-ino - 1)
    st = os.stat(real)
    assert plain_identity(str(real / "new.txt")) == (st.st_dev, -st.st_ino - 1)


def test_a_link_anywhere_gives_no_identity(plain_identity: Identity, tmp_path: Path) -> None:
    # GIVEN a folder reached through a link, and a name that is itself a link
    real = Path(os.path.realpath(tmp_path))
    (real / "d").mkdir()
    (real / "d" / "f").write_text("x")
    (real / "via").symlink_to(real / "d")
    (real / "d" / "lnk").symlink_to(real / "d" / "f")
    # WHEN their identities are taken
    # THEN there is none: the name is not its own real path
    assert plain_identity(str(real / "via" / "f")) is None
    assert plain_identity(str(real / "via" / "missing")) is None
    assert plain_identity(str(real / "d" / "lnk")) is None


@pytest.mark.parametrize(
    "name",
    ["/", "", "relative/name", "/tmp/./x", "/tmp/../tmp/x", "//tmp/x", "/tmp/x/", "/tmp/\x00x"],
)
def test_odd_spellings_give_no_identity(plain_identity: Identity, name: str) -> None:
    # GIVEN a name that is not in the canonical form a walk produces
    # WHEN its identity is taken
    # THEN there is none (the caller keeps nothing)
    assert plain_identity(name) is None


def test_missing_folders_and_bad_encodings_give_no_identity(
    plain_identity: Identity, tmp_path: Path
) -> None:
    # GIVEN a name below a folder that does not exist, and one only a registered codec error
    # handler could encode
    real = os.path.realpath(tmp_path)
    # WHEN their identities are taken
    # THEN there is none, and no error
    assert plain_identity(real + "/nope/f") is None
    assert plain_identity(real + "/\ud800") is None
    assert plain_identity(real + "/" + "x" * 5000) is None


def test_only_a_str_is_a_name(plain_identity: Identity) -> None:
    # GIVEN bytes
    # WHEN passed as the name
    # THEN it is refused as the wrong type
    with pytest.raises(TypeError):
        plain_identity(b"/tmp")  # type: ignore[arg-type]


@pytest.fixture
def validating_cache(plain_identity: Identity, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The path cache with answers validated (as once a child exists), on one core."""
    monkeypatch.setattr(paths, "_plain_identity", plain_identity)
    monkeypatch.setitem(paths._STATE, "validate", True)
    paths.forget_resolved_paths()
    yield
    paths.forget_resolved_paths()


@pytest.mark.usefixtures("validating_cache")
def test_a_folder_swapped_for_a_link_between_walk_and_keep_leaves_no_stale_answer(
    tmp_path: Path,
) -> None:
    # GIVEN out/L a folder (no secret in it) and the secret beside out/
    real = Path(os.path.realpath(tmp_path))
    (real / "out" / "L").mkdir(parents=True)
    (real / "secret.txt").write_text("TOPSECRET")
    name = str(real / "out" / "L" / "secret.txt")
    # WHEN the walk decides on out/L/secret.txt, and a child swaps out/L for a link to the
    # task root before the answer is kept (the interleaving a racing child can win)
    seen: list[str] = []
    resolved, volatile = paths._walk(name, seen)
    assert (resolved, volatile) == (name, False)
    assert resolved is not None
    generation = paths._changes()
    (real / "out" / "L").rename(real / "out" / "R")
    (real / "out" / "L").symlink_to(real)
    paths._keep(name, resolved, seen, generation)
    # THEN the name is not answered from that walk: it resolves to the secret it leads to now
    assert paths.resolve(name) == str(real / "secret.txt")
    assert paths.resolve(name) == str(real / "secret.txt")


@pytest.mark.usefixtures("validating_cache")
def test_an_answer_kept_through_folders_is_used_while_nothing_changes(tmp_path: Path) -> None:
    # GIVEN a file under folders only, resolved once with answers validated
    real = Path(os.path.realpath(tmp_path))
    (real / "a" / "b").mkdir(parents=True)
    (real / "a" / "b" / "f").write_text("x")
    name = str(real / "a" / "b" / "f")
    assert paths.resolve(name) == name
    # WHEN it is resolved again
    # THEN the kept answer holds (its identity is the file's own)
    assert paths._RESOLVED[name][1:] == paths._plain_identity(name)
    assert paths.resolve(name) == name
    # AND once a child swaps a folder on the way for a link to another folder, the answer is
    # not used
    (real / "a" / "b").rename(real / "a" / "old")
    (real / "a" / "c").mkdir()
    (real / "a" / "c" / "f").write_text("other file")
    (real / "a" / "b").symlink_to(real / "a" / "c")
    assert paths.resolve(name) == str(real / "a" / "c" / "f")


@pytest.mark.parametrize("core", sorted(CORES))
def test_file_identity_takes_no_name_only_a_codec_handler_could_encode(core: str) -> None:
    # GIVEN a name with a surrogate the file-system encoder hands to the error-handler
    # registry (where the function could have registered code of its own)
    file_identity = _core.file_identity if core == "native" else core_fallback.file_identity
    # WHEN its identity is asked for
    # THEN there is none (no encoder runs), while an undecodable-bytes spelling still works
    assert file_identity("/tmp/\ud800") is None
    assert file_identity("/") == file_identity("/")
    assert file_identity("/no/such/\udcff") is None
