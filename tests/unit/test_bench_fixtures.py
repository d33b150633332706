"""The micro benchmark's generated modules (``bench.fixtures``): the import benchmark measures a
deployment's modules (a folder no write rule reaches, outside the temp dir) and, in a row of
its own, modules in the temp dir."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from bench import fixtures


def test_the_deployment_folder_is_made_in_the_users_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a user's cache folder (home's, or $XDG_CACHE_HOME)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # WHEN the deployment folder is asked for, twice
    first, second = fixtures.deployment_root(), fixtures.deployment_root()
    # THEN each run gets a fresh folder of its own there (not the temp dir's, unless it is there)
    assert first.parent == second.parent == tmp_path / "cache" / "lambda-sandbox" / "bench"
    assert first != second and first.is_dir() and second.is_dir()


def test_the_deployment_modules_and_the_temp_dir_modules_are_apart(tmp_path: Path) -> None:
    # GIVEN the run's data folder and a deployment folder
    deployment = tmp_path / "deployment"
    deployment.mkdir()
    # WHEN the micro data is made
    data = fixtures.make_data(tmp_path / "data", n_files=2, n_modules=3, deployment=deployment)
    # THEN the deployment's modules are in the deployment folder, the others in the data
    # folder, each with this Python's bytecode, in packages of their own
    assert data["modules_dir"] == str(deployment / "mods")
    assert data["modules_tmp_dir"] == str(tmp_path / "data" / "mods")
    assert data["modules"]["b"] == ["lsb_b.m00000", "lsb_b.m00001", "lsb_b.m00002"]
    assert data["modules_tmp"]["a"][0] == "lsbt_a.m00000"
    assert set(data["packages"]) == {"lsb_a", "lsb_b", "lsb_c", "lsbt_a", "lsbt_b", "lsbt_c"}
    assert data["modules"]["c"] == ["lsb_c.m00000", "lsb_c.m00001", "lsb_c.m00002"]
    for folder in (data["modules_dir"], data["modules_tmp_dir"]):
        assert list(Path(folder).glob("*_b/__pycache__/m00002.*.pyc"))


def test_without_a_cache_folder_the_deployment_modules_fall_back_to_the_temp_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a cache folder that cannot be made (its parent is a file)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    # WHEN the deployment folder is asked for
    deployment = fixtures.deployment_root()
    try:
        # THEN the run still gets one, in the temp dir
        assert deployment.is_dir()
        assert str(deployment).startswith(tempfile.gettempdir())
    finally:
        deployment.rmdir()


def test_timed_children_run_on_one_cpu_chosen_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN this process's CPUs
    allowed = sorted(os.sched_getaffinity(0))
    # WHEN no CPU is named, THEN the first one is used where there are several (none where
    # there is one: nothing to choose between)
    monkeypatch.delenv("BENCH_CPU", raising=False)
    assert fixtures.timed_cpu() == (allowed[0] if len(allowed) > 1 else None)
    # AND a CPU can be named, or pinning switched off
    monkeypatch.setenv("BENCH_CPU", str(allowed[-1]))
    assert fixtures.timed_cpu() == allowed[-1]
    monkeypatch.setenv("BENCH_CPU", "none")
    assert fixtures.timed_cpu() is None
    # AND a CPU this process may not use is an error, not a silent fallback
    monkeypatch.setenv("BENCH_CPU", str(max(allowed) + 1000))
    with pytest.raises(ValueError, match="not one of this process's CPUs"):
        fixtures.timed_cpu()
