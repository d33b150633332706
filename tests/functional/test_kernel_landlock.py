"""Functional tests: Landlock restricting writes and exec, one subprocess per case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sandbox.kernel import KernelRequest, compile_kernel, probe

HOST = probe()
pytestmark = pytest.mark.skipif(
    not HOST["landlock_abi"], reason=f"Landlock unavailable: {HOST['landlock_reason']}"
)


def run_child(
    section: dict[str, object], body: str, tmp_path: Path, *, native: bool = True
) -> dict[str, Any]:
    """``native=False``: with the Python core, whose kernel calls go through ``_ctypes``."""
    path = tmp_path / "section.json"
    path.write_text(json.dumps(section))
    code = textwrap.dedent(
        """
        import json, os, subprocess, sys
        from sandbox.kernel import install_kernel_detailed
        section = json.load(open(sys.argv[1]))
        result = install_kernel_detailed(section, "enforce", seccomp_enabled=False)
        print("STATUS", json.dumps(result.statuses), flush=True)
        print("REASONS", json.dumps(result.reasons), flush=True)
        """
    ) + textwrap.dedent(body)
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_NATIVE"}
    if not native:
        env["SANDBOX_NATIVE"] = "off"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, f"child failed:\n{proc.stdout}\n{proc.stderr}"
    line = next(x for x in proc.stdout.splitlines() if x.startswith("STATUS "))
    return {"statuses": json.loads(line[len("STATUS ") :]), "stdout": proc.stdout}


@pytest.mark.parametrize("native", [True, False], ids=["native-core", "python-core"])
def test_writes_are_confined_to_write_dirs(tmp_path: Path, native: bool) -> None:
    # GIVEN a profile that writes only beneath one directory (and execs nothing)
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    allowed.mkdir()
    other.mkdir()
    (other / "existing.txt").write_text("readable")
    section = compile_kernel(
        KernelRequest(allow_exec=False, allow_fork=False, write_dirs=(str(allowed),))
    )
    # WHEN Landlock is enforced (seccomp switched off, so only Landlock acts)
    result = run_child(
        section,
        f"""
        open({str(allowed / "new.txt")!r}, "w").write("ok")
        try:
            open({str(other / "new.txt")!r}, "w").write("no")
        except PermissionError:
            print("WRITE_DENIED")
        print("READ", open({str(other / "existing.txt")!r}).read())
        try:
            subprocess.run(["true"])
        except PermissionError:
            print("EXEC_DENIED")
        os.write(1, b"STDOUT_OK\\n")
        from sandbox.runtime import core
        print("CORE", core.KIND, "sandbox.runtime.kernel.ctypes_calls" in sys.modules)
        """,
        tmp_path,
        native=native,
    )
    # THEN writes elsewhere fail, reads are not restricted (not handled), exec is denied
    # everywhere (no exec in the profile), and the already-open stdout still works
    assert result["statuses"] == {"seccomp": "off", "landlock": "active"}
    out = str(result["stdout"])
    assert "WRITE_DENIED" in out
    assert "READ readable" in out
    assert "EXEC_DENIED" in out
    assert "STDOUT_OK" in out
    # AND the native core made the calls itself; the Python core through _ctypes
    assert ("CORE native False" if native else "CORE python True") in out
    assert (allowed / "new.txt").read_text() == "ok"
    assert not (other / "new.txt").exists()


def test_exec_dirs_allow_exec_beneath_them(tmp_path: Path) -> None:
    # GIVEN a profile that may exec programs beneath the system's bin and lib directories
    # (the kernel opens the ELF interpreter, ld.so, for exec too: its directory is needed)
    dirs = tuple(d for d in ("/usr/bin", "/bin", "/usr/lib", "/lib", "/lib64") if Path(d).is_dir())
    section = compile_kernel(KernelRequest(allow_exec=True, allow_fork=True, exec_dirs=dirs))
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    # WHEN Landlock is enforced
    result = run_child(
        section,
        f"""
        print("TRUE", subprocess.run(["true"]).returncode)
        try:
            subprocess.run([{str(script)!r}])
        except PermissionError:
            print("SCRIPT_DENIED")
        """,
        tmp_path,
    )
    # THEN /usr/bin/true runs and a program elsewhere is refused
    assert result["statuses"]["landlock"] == "active"
    assert "TRUE 0" in str(result["stdout"])
    assert "SCRIPT_DENIED" in str(result["stdout"])


def test_reads_are_confined_to_read_dirs(tmp_path: Path) -> None:
    # GIVEN a profile that reads only beneath one directory (everything the child needs
    # afterwards is already imported)
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    allowed.mkdir()
    other.mkdir()
    (allowed / "a.txt").write_text("A")
    (other / "b.txt").write_text("B")
    section = compile_kernel(
        KernelRequest(allow_exec=True, allow_fork=True, read_dirs=(str(allowed),))
    )
    # WHEN Landlock is enforced
    result = run_child(
        section,
        f"""
        print("A", open({str(allowed / "a.txt")!r}).read())
        try:
            open({str(other / "b.txt")!r}).read()
        except PermissionError:
            print("READ_DENIED")
        try:
            os.listdir({str(other)!r})
        except PermissionError:
            print("LIST_DENIED")
        """,
        tmp_path,
    )
    # THEN only the allowed tree is readable
    assert result["statuses"]["landlock"] == "active"
    out = str(result["stdout"])
    assert "A A" in out
    assert "READ_DENIED" in out
    assert "LIST_DENIED" in out
