"""A symbolic link's target is decided when the function makes the link (red team 83).

The function may write a name; a link there to a file it may not read made that file readable
to every program it may run: an allowed child opens the name with no decision and follows the
link (`zip -j out.zip report.txt` archived the secret). ``os.symlink`` is decided as a write of
the link's name and, like ``os.link``'s source, a read and a write of the file the link leads
to (a relative target from the link's own folder). Each case runs in its own child, on both
cores.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ATTEMPT, RunChild, audit_only, profile_doc


def _profile(tmp_path: Path, *extra: dict[str, Any]) -> None:
    (tmp_path / "allowed").mkdir()
    (tmp_path / "readonly").mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key.txt").write_text("TOP-SECRET\n")
    (tmp_path / "readonly" / "config.txt").write_text("config\n")
    files = [
        {"action": action, "target": "{task}/allowed/**", "phase": "any"}
        for action in ("read", "write", "list")
    ]
    files.append({"action": "read", "target": "{task}/readonly/**", "phase": "any"})
    rules: dict[str, list[dict[str, Any]]] = {"files": files + [dict(r) for r in extra]}
    cat = shutil.which("cat") or "/bin/cat"
    rules["processes"] = [
        {"action": "exec", "target": cat, "argv": ["{task}/allowed/report.txt"]},
        {"action": "fork", "target": "fork"},
    ]
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(**rules)))


ENFORCE = (
    """
import os, subprocess, shutil, sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
sandbox.runtime.hook.mark_invoke_phase()
BASE = os.getcwd()
A = BASE + "/allowed"
SECRET = BASE + "/secret/key.txt"
"""
    + ATTEMPT
)


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_link_to_a_file_the_function_may_not_read_is_refused_where_it_would_be_made(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a function that may read and write one folder, read another, and run `cat` on a
    # name in the first (the learned report)
    _profile(tmp_path)
    code = (
        ENFORCE
        + """
open(A + "/report.txt", "w").write("report\\n")
open(A + "/data.txt", "w").write("data\\n")
os.remove(A + "/report.txt")
# WHEN it makes links at names it may write: to the secret (absolute, relative, through
# "..", dangling below a folder it may not read), to its own files, to a read-only file
attempt("absolute", lambda: os.symlink(SECRET, A + "/report.txt"))
attempt("relative", lambda: os.symlink("../secret/key.txt", A + "/rel.txt"))
attempt("dotdot", lambda: os.symlink(A + "/../secret/key.txt", A + "/dd.txt"))
attempt("dangling_outside", lambda: os.symlink(BASE + "/secret/later.txt", A + "/later.txt"))
attempt("own_absolute", lambda: os.symlink(A + "/data.txt", A + "/own.txt"))
attempt("own_relative", lambda: os.symlink("data.txt", A + "/own_rel.txt"))
attempt("dangling_inside", lambda: os.symlink("new.txt", A + "/new_link.txt"))
attempt("readonly", lambda: os.symlink(BASE + "/readonly/config.txt", A + "/cfg.txt"))
class Name(str):
    pass
attempt("subclass", lambda: os.symlink(Name(A + "/data.txt"), A + "/sub.txt"))
print("made", sorted(n for n in os.listdir(A) if os.path.islink(A + "/" + n)))
# AND an allowed program is handed the name a link to the secret was refused at
open(A + "/report.txt", "w").write("report\\n")
print("cat", subprocess.run(["cat", A + "/report.txt"], capture_output=True, text=True).stdout.strip())
"""
    )
    result = child(code, env=audit_only(core))
    # THEN every link that leads where the function may not read and write is refused, before
    # it exists; links among its own files are made
    assert result.lines == [
        "absolute BLOCKED PermissionViolation files read",
        "relative BLOCKED PermissionViolation files read",
        "dotdot BLOCKED PermissionViolation files read",
        "dangling_outside BLOCKED PermissionViolation files read",
        "own_absolute ALLOWED",
        "own_relative ALLOWED",
        "dangling_inside ALLOWED",
        "readonly BLOCKED PermissionViolation files write",
        "subclass BLOCKED PermissionViolation files read",
        "made ['new_link.txt', 'own.txt', 'own_rel.txt']",
        "cat report",
    ], result.stdout + result.stderr
    # AND each refusal is reported with the target the link would have led to
    targets = {f["target"] for f in result.findings}
    assert "{task}/secret/key.txt" in targets and "{task}/readonly/config.txt" in targets


@pytest.mark.parametrize("core", ["native", "python"])
def test_learn_records_a_links_target_as_read_and_written(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a function in learn mode that makes a link to a file of its own
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "data.txt").write_text("data\n")
    code = """
import os, sandbox, sandbox.runtime.hook
sandbox.install(mode="learn")
sandbox.runtime.hook.mark_invoke_phase()
os.symlink("data.txt", os.getcwd() + "/work/link.txt")
"""
    # WHEN it runs
    result = child(code, env=audit_only(core))
    assert result.returncode == 0, result.stderr
    # THEN the profile learns the link's name written and its target read and written
    seen = {(o["action"], o["target"]) for o in result.observations if o["category"] == "files"}
    assert {
        ("write", "{task}/work/link.txt"),
        ("read", "{task}/work/data.txt"),
        ("write", "{task}/work/data.txt"),
    } <= seen, seen


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_link_through_proc_or_a_relative_link_moved_where_it_leads_elsewhere_is_refused(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a function that may read and write allowed/** and list the secret's folder
    # (and a relative link present before the sandbox started, allowed/sub/rel ->
    # ../secret/key.txt: from allowed/sub it leads to allowed/secret/key.txt)
    _profile(tmp_path, {"action": "list", "target": "{task}/secret", "phase": "any"})
    (tmp_path / "allowed" / "sub").mkdir()
    (tmp_path / "allowed" / "sub" / "key.txt").write_text("mine\n")
    (tmp_path / "allowed" / "sub" / "rel").symlink_to("../secret/key.txt")
    code = (
        ENFORCE
        + """
# WHEN it makes links whose way goes through /proc (each process reads /proc/self as its
# own: from a child run in the secret's folder, /proc/self/cwd/key.txt is the secret)
os.chdir(BASE + "/secret")
attempt("proc_cwd", lambda: os.symlink("/proc/self/cwd/key.txt", A + "/p1"))
os.chdir(A + "/sub")
attempt("proc_cwd_allowed_here", lambda: os.symlink("/proc/self/cwd/key.txt", A + "/p2"))
attempt("dev_fd", lambda: os.symlink("/dev/fd/0", A + "/p3"))
attempt("dev_stdin", lambda: os.symlink("/dev/stdin", A + "/p4"))
# AND makes links whose text holds ".." (a relative one that climbs above its folder leads
# elsewhere once the folder moves: red team 85), or one that stays below with no ".."
attempt("climbing", lambda: os.symlink("../secret/key.txt", A + "/sub/rel9"))
attempt("climbing_inside", lambda: os.symlink("x/../../key.txt", A + "/sub/deeper"))
# (a ".." climbs from wherever the component before it leads when the link is followed: x
# may be made a link, or pointed elsewhere, after the check -- red team 87)
attempt("dotdot_below", lambda: os.symlink("x/y/../../key.txt", A + "/sub/dotdot"))
attempt("dotdot_absolute", lambda: os.symlink(A + "/sub/x/../key.txt", A + "/sub/absolute"))
attempt("staying_below", lambda: os.symlink("./key.txt", A + "/sub/below"))
# AND moves the link present before, or hard-links the link itself, into allowed/, from
# where its text leads to the secret
attempt("moved_within_its_folder", lambda: os.rename(A + "/sub/rel", A + "/sub/rel2"))
attempt("moved_up", lambda: os.rename(A + "/sub/rel2", A + "/rel"))
attempt("link_itself_linked_up", lambda: os.link(A + "/sub/rel2", A + "/rel3", follow_symlinks=False))
print("links", sorted(os.listdir(A + "/sub")), sorted(n for n in os.listdir(A) if n.startswith(("p", "rel"))))
"""
    )
    result = child(code, env=audit_only(core))
    # THEN links through /proc are refused, wherever they lead from the function's own view
    # (the second would be allowed/sub/key.txt there), and so are texts that hold "..",
    # relative or absolute; a relative link moved within its folder is allowed, and one moved
    # or linked where its text leads to the secret is refused
    assert result.lines == [
        "proc_cwd BLOCKED PermissionViolation files read",
        "proc_cwd_allowed_here BLOCKED PermissionViolation files read",
        "dev_fd BLOCKED PermissionViolation files read",
        "dev_stdin BLOCKED PermissionViolation files read",
        "climbing BLOCKED PermissionViolation files read",
        "climbing_inside BLOCKED PermissionViolation files read",
        "dotdot_below BLOCKED PermissionViolation files read",
        "dotdot_absolute BLOCKED PermissionViolation files read",
        "staying_below ALLOWED",
        "moved_within_its_folder ALLOWED",
        "moved_up BLOCKED PermissionViolation files read",
        "link_itself_linked_up BLOCKED PermissionViolation files read",
        "links ['below', 'key.txt', 'rel2'] []",
    ], result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_folder_allowed_by_its_name_alone_is_never_a_way_to_its_contents(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a folder "named" whose name the function may read and write, but not what is in
    # it (the runtime's {tmp}/????????, for tempfile's 8-character probe file, matches any
    # 8-character folder in the temp folder), holding key.txt; and its own folders in allowed/
    named = {"target": "{task}/named", "phase": "any"}
    later = {"target": "{task}/later", "phase": "any"}
    inter = {"target": "{task}/inter", "phase": "any"}
    _profile(
        tmp_path,
        *(
            dict(rule, action=action)
            for rule in (named, later, inter)
            for action in ("read", "write")
        ),
    )
    (tmp_path / "named").mkdir()
    (tmp_path / "named" / "key.txt").write_text("THEIRS\n")
    # (and an entry named "**" there, a link into allowed/: "everything under named" is the
    # text named/**, never that entry followed -- red team 91's note)
    (tmp_path / "allowed" / "ok").mkdir(parents=True)
    (tmp_path / "named" / "**").symlink_to(tmp_path / "allowed" / "ok")
    code = (
        ENFORCE
        + """
os.makedirs(A + "/mine/sub")
# WHEN it makes a link to a name under allowed/d (not there yet: decided as that name), then
# makes d a link to "named" (red team 88), or moves "named" to d (red team 86)
attempt("link_under_d", lambda: os.symlink(A + "/d/key.txt", A + "/report.txt"))
attempt("d_a_link_to_named", lambda: os.symlink(BASE + "/named", A + "/d"))
attempt("named_moved_to_d", lambda: os.rename(BASE + "/named", A + "/d"))
# AND links to "later", a name the rules allow alone, not there yet, to make it a folder after
# (os.mkdir decides the name alone: red team 89 had a learned cp write in it through the link)
attempt("link_to_a_name_not_there", lambda: os.symlink(BASE + "/later", A + "/out.txt"))
# AND makes such a name a link into allowed/ first, then links to it (the name can be made a
# folder after: red team 90)
attempt("inter_a_link_to_allowed", lambda: os.symlink(A + "/dd", BASE + "/inter"))
attempt("link_through_inter", lambda: os.symlink(BASE + "/inter", A + "/out2.txt"))
# AND links to, and moves, a folder of its own
attempt("link_to_own_folder", lambda: os.symlink(A + "/mine", A + "/mine-link"))
attempt("own_folder_moved", lambda: os.rename(A + "/mine", A + "/moved"))
print("d", os.path.lexists(A + "/d"))
"""
    )
    result = child(code, env=audit_only(core))
    # THEN the way to "named" is refused both ways, and so are the links to "later" and through
    # "inter" (everything under a link's target, and under each link on its way, should it be
    # or become a folder, is decided, not its name alone); its own folders link and move
    assert result.lines == [
        "link_under_d ALLOWED",
        "d_a_link_to_named BLOCKED PermissionViolation files read",
        "named_moved_to_d BLOCKED PermissionViolation files read",
        "link_to_a_name_not_there BLOCKED PermissionViolation files read",
        "inter_a_link_to_allowed ALLOWED",
        "link_through_inter BLOCKED PermissionViolation files read",
        "link_to_own_folder ALLOWED",
        "own_folder_moved ALLOWED",
        "d False",
    ], result.stdout + result.stderr
    assert (tmp_path / "named" / "key.txt").read_text() == "THEIRS\n"
