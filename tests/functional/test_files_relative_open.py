"""Relative ``os.open``: decided in every folder the kernel could start from, on both cores.

The ``open`` event carries no ``dir_fd``: the decision cannot know which directory descriptor
(or the working directory) the kernel will resolve a relative name from, so it looks at each.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunChild, profile_doc

PRELUDE = """
import os, resource, sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
sandbox.runtime.hook.mark_invoke_phase()
task = os.getcwd()
def attempt(tag, fn):
    try:
        fn()
        print(tag, "done")
    except PermissionError as exc:
        print(tag, "blocked" if hasattr(exc, "category") else "kernel")
    except OSError:
        print(tag, "kernel")
def read(name, **kw):
    fd = os.open(name, os.O_RDONLY, **kw)
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)
def make(name, **kw):
    os.close(os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, **kw))
"""

CORES = ["native", "python"]


def _env(core: str) -> dict[str, str] | None:
    return {"SANDBOX_NATIVE": "off"} if core == "python" else None


def _task(tmp_path: Path, **extra: list[dict[str, Any]]) -> None:
    """A task root with data/secret.txt, and a profile that reads, writes and lists out/."""
    (tmp_path / "data").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "data" / "secret.txt").write_text("secret")
    rules = [{"action": action, "target": "{task}/out/**"} for action in ("read", "write", "list")]
    profile = profile_doc(files=rules + extra.pop("files", []), **extra)
    (tmp_path / "profile.json").write_text(json.dumps(profile))


@pytest.mark.parametrize("core", CORES)
def test_a_descriptor_whose_name_is_too_long_to_join_a_name_to_is_not_skipped(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a descriptor D on a folder under out/ whose full name is 4093 characters (its
    # /proc link still reads, but D's name joined to any name is longer than PATH_MAX), with
    # D/out a link to the task root (present in out/.staged before the sandbox started, moved
    # there): "out/..." names out/ from the working directory and the task root from D
    _task(tmp_path)
    (tmp_path / "out" / ".staged").mkdir()
    os.symlink(tmp_path, tmp_path / "out" / ".staged" / "out")
    body = """
path = task + "/out"
short = ["c%d" % i for i in range(17)]
for name in short:
    path += "/" + name
    os.mkdir(path)
os.rename(task + "/out/.staged/out", path + "/out")
D = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
extra = 4093 - len(path)
for i in reversed(range(len(short))):
    grow = min(extra, 255 - len(short[i]))
    parent = task + "/out" + "".join("/" + n for n in short[:i])
    os.rename(parent + "/" + short[i], parent + "/" + short[i] + "x" * grow)
    extra -= grow
    if extra == 0:
        break
assert len(os.readlink("/proc/self/fd/%d" % D)) == 4093
# WHEN names under D/out are opened relative to D (the event does not say so)
attempt("read", lambda: read("out/data/secret.txt", dir_fd=D))
attempt("create", lambda: make("out/data/planted.txt", dir_fd=D))
os.close(D)
# and, without that descriptor, relative opens of the function's own files
os.chdir("out")
os.mkdir("w")
A = os.open("w", os.O_RDONLY | os.O_DIRECTORY)
attempt("new", lambda: make("f.txt"))
attempt("existing", lambda: read("f.txt"))
attempt("new at fd", lambda: make("g.txt", dir_fd=A))
attempt("existing at fd", lambda: read("g.txt", dir_fd=A))
"""
    result = child(PRELUDE + body, env=_env(core))
    # THEN the names under D are refused (where D's name cannot be joined to them they
    # cannot be looked at: never decided from the working directory alone), and the
    # function's own relative opens, with and without a descriptor, still work
    assert result.lines == [
        "read blocked",
        "create blocked",
        "new done",
        "existing done",
        "new at fd done",
        "existing at fd done",
    ], result.stdout + result.stderr
    assert not (tmp_path / "data" / "planted.txt").exists()
    assert (tmp_path / "out" / "w" / "g.txt").exists()


@pytest.mark.parametrize("core", CORES)
def test_an_open_that_may_create_is_decided_in_every_folder_it_could_be_made_in(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a folder ro/ the profile lets the function read but not write (holding zone.txt),
    # the working directory out/ (read and write) holding decoy.txt, and a descriptor B on ro/
    _task(tmp_path, files=[{"action": "read", "target": "{task}/ro/**"}])
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "zone.txt").write_text("zone")
    body = """
os.chdir("out")
make("decoy.txt")
os.mkdir("w")
B = os.open(task + "/ro", os.O_RDONLY | os.O_DIRECTORY)
# WHEN a name that exists in the working directory only is created relative to B
attempt("create where it exists elsewhere", lambda: make("decoy.txt", dir_fd=B))
attempt("create a new name", lambda: make("fresh.txt", dir_fd=B))
# and names are opened without creating: a file of ro/, decoy.txt of the working directory
attempt("read at fd", lambda: read("zone.txt", dir_fd=B))
attempt("read existing", lambda: read("decoy.txt"))
attempt("write existing", lambda: os.close(os.open("decoy.txt", os.O_WRONLY)))
os.close(B)
# and, with a descriptor on a folder the function may write, names created relative to it
A = os.open("w", os.O_RDONLY | os.O_DIRECTORY)
attempt("create at fd", lambda: make("decoy.txt", dir_fd=A))
attempt("new at fd", lambda: make("g.txt", dir_fd=A))
attempt("existing at fd", lambda: read("g.txt", dir_fd=A))
attempt("new", lambda: make("h.txt"))
"""
    result = child(PRELUDE + body, env=_env(core))
    # THEN a creating open is refused where one of the folders it could be made in may not
    # be written (the kernel makes it in the folder the call names, wherever the name already
    # is), while opens that create nothing are decided where the name is, and creating in
    # writable folders works
    assert result.lines == [
        "create where it exists elsewhere blocked",
        "create a new name blocked",
        "read at fd done",
        "read existing done",
        "write existing done",
        "create at fd done",
        "new at fd done",
        "existing at fd done",
        "new done",
    ], result.stdout + result.stderr
    assert sorted(p.name for p in (tmp_path / "ro").iterdir()) == ["zone.txt"]
    assert sorted(p.name for p in (tmp_path / "out" / "w").iterdir()) == ["decoy.txt", "g.txt"]


@pytest.mark.parametrize("core", CORES)
def test_a_relative_open_is_refused_when_the_descriptor_table_cannot_be_read(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a descriptor D on out/d, where out/d/up leads to the task root ("up/data/..." is
    # under out/ from the working directory out/, the task root's data/ from D; the relative
    # link was present in out/.staged before the sandbox started, and is moved there)
    # (the function lowers its own RLIMIT_NOFILE: a rule of its profile)
    _task(tmp_path, processes=[{"action": "kill", "target": "self:setrlimit:RLIMIT_NOFILE"}])
    (tmp_path / "out" / ".staged").mkdir()
    os.symlink("../..", tmp_path / "out" / ".staged" / "up")
    body = """
os.chdir("out")
os.mkdir("d")
os.rename(".staged/up", "d/up")
make("d/g.txt")
D = os.open("d", os.O_RDONLY | os.O_DIRECTORY)
attempt("control", lambda: read("up/data/secret.txt", dir_fd=D))
# WHEN every descriptor slot is taken (listing /proc/self/fd needs one) and a name is opened
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
held = []
while True:
    try:
        held.append(os.dup(1))
    except OSError:
        break
attempt("full table", lambda: read("up/data/secret.txt", dir_fd=D))
for fd in held:
    os.close(fd)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
# and, with free slots again, the function's own relative opens
attempt("new", lambda: make("f.txt"))
attempt("existing", lambda: read("f.txt"))
attempt("existing at fd", lambda: read("g.txt", dir_fd=D))
"""
    result = child(PRELUDE + body, env=_env(core))
    # THEN with the table unreadable the name is refused by the sandbox (not decided from the
    # working directory alone, leaving the kernel's answer to chance), and the rest works
    assert result.lines == [
        "control blocked",
        "full table blocked",
        "new done",
        "existing done",
        "existing at fd done",
    ], result.stdout + result.stderr
