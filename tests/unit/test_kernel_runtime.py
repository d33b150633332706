"""Unit tests: /proc/self/status parsing, probe, and the modes that must load nothing."""

from __future__ import annotations

import base64
import sys

import pytest

from sandbox.kernel import (
    ALERT,
    OFF,
    UNSUPPORTED,
    install_kernel,
    install_kernel_detailed,
    parse_proc_status,
    probe,
)
from sandbox.runtime.kernel import seccomp_program

STATUS_FIXTURE = """Name:\tpython3
Umask:\t0022
State:\tR (running)
NoNewPrivs:\t1
Seccomp:\t2
Seccomp_filters:\t3
Speculation_Store_Bypass:\tthread vulnerable
"""

OLD_KERNEL_FIXTURE = """Name:\tpython3
NoNewPrivs:\t0
Seccomp:\t0
"""

FAKE_SECTION: dict[str, object] = {
    "version": 1,
    "seccomp": {
        "x86_64": "BgAAAAAA/38=",  # one instruction: RET ALLOW
        "aarch64": "BgAAAAAA/38=",
        "denies": ["execve"],
        "rules": ["execve -> EPERM: the profile runs no programs"],
        "errors": {},
    },
    "landlock": {"read": [], "write": ["/tmp"], "exec": [], "handle": ["write"]},
}


def seccomp_state() -> dict[str, int | None]:
    with open("/proc/self/status", encoding="ascii") as fh:
        return parse_proc_status(fh.read())


def test_parse_proc_status_fixture() -> None:
    # GIVEN a process under two stacked filters  WHEN parsed  THEN every field is read
    assert parse_proc_status(STATUS_FIXTURE) == {
        "no_new_privs": 1,
        "seccomp": 2,
        "seccomp_filters": 3,
    }


def test_parse_proc_status_old_kernel() -> None:
    # GIVEN a kernel before 5.9 (no Seccomp_filters line)  THEN that field is None
    assert parse_proc_status(OLD_KERNEL_FIXTURE) == {
        "no_new_privs": 0,
        "seccomp": 0,
        "seccomp_filters": None,
    }
    assert parse_proc_status("Seccomp:\tgarbage\n")["seccomp"] is None


def test_probe_reports_this_host() -> None:
    # WHEN the host is probed
    info = probe()
    # THEN it names the arch and kernel and reads the live seccomp fields
    assert info["kernel"]
    assert info["arch"] in ("x86_64", "aarch64", None)
    assert isinstance(info["seccomp"], int)
    assert isinstance(info["landlock_abi"], int) and info["landlock_abi"] >= 0
    assert info["landlock_reason"]


@pytest.mark.parametrize("mode", ["off", "learn"])
def test_off_and_learn_load_nothing(mode: str) -> None:
    # GIVEN a section that would load
    before = seccomp_state()
    # WHEN installed in off/learn
    statuses = install_kernel(FAKE_SECTION, mode)
    # THEN nothing is loaded and both layers say so
    assert statuses == {"seccomp": OFF, "landlock": OFF}
    assert seccomp_state() == before


def test_alert_loads_nothing_and_describes() -> None:
    # GIVEN a section that would load
    before = seccomp_state()
    # WHEN installed in alert
    result = install_kernel_detailed(FAKE_SECTION, "alert")
    # THEN nothing is loaded, both layers report 'alert' and say what would be denied
    assert result.statuses == {"seccomp": ALERT, "landlock": ALERT}
    assert "seccomp: execve -> EPERM: the profile runs no programs" in result.would_deny
    assert "landlock: write only beneath: /tmp" in result.would_deny
    assert seccomp_state() == before
    assert result.seconds < 0.05


def test_alert_respects_switches_and_missing_programs() -> None:
    # GIVEN the operator switched seccomp off, and a section without seccomp
    off = install_kernel(FAKE_SECTION, "alert", seccomp_enabled=False, landlock_enabled=False)
    none = install_kernel({"seccomp": None, "reason": "no libseccomp"}, "alert")
    # THEN the switch wins, and a missing program is 'unsupported'
    assert off == {"seccomp": OFF, "landlock": OFF}
    assert none == {"seccomp": UNSUPPORTED, "landlock": OFF}


def test_runtime_import_does_not_need_libseccomp() -> None:
    # GIVEN a fresh interpreter  WHEN the runtime API is imported and used in alert mode
    import subprocess

    code = (
        "import sys; from sandbox.kernel import install_kernel, probe; "
        "install_kernel({'seccomp': None}, 'alert'); probe(); "
        "print('pyseccomp' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # THEN pyseccomp was never imported
    assert out.stdout.strip() == "False"


def test_seccomp_program_reads_the_hex_copy_and_the_base64_of_older_sections() -> None:
    # GIVEN one BPF program (two instructions), as the compiler writes it now (base64 under the
    # arch, and a hex copy) and as sections compiled before the copy hold it (base64 only)
    program = bytes(range(16))
    b64 = base64.b64encode(program).decode("ascii")
    current = {"x86_64": b64, "hex": {"x86_64": program.hex()}}
    older = {"x86_64": b64}
    # WHEN each is decoded for the arch
    # THEN both give the program's bytes
    assert seccomp_program(current, "x86_64") == program
    assert seccomp_program(older, "x86_64") == program
    # AND a hex copy that is not hex is an error (the layer reports it, nothing loaded)
    with pytest.raises(ValueError):
        seccomp_program({"x86_64": b64, "hex": {"x86_64": "not hex"}}, "x86_64")


def test_enforce_with_both_layers_switched_off_is_answered_without_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN enforce with both layers switched off by configuration, the kernel package not
    # loaded (as at a cold start: install then does not import it)
    from sandbox.runtime import install as runtime_install
    from sandbox.runtime import kernel as runtime_kernel

    monkeypatch.delitem(sys.modules, "sandbox.runtime.kernel")
    shortcut = runtime_install._kernel_switched_off()
    monkeypatch.undo()
    # WHEN the package itself decides the same (its uncached step: enforce caches per process)
    result = runtime_kernel._install(FAKE_SECTION, "enforce", False, False)
    # THEN install's answer is the package's: the same statuses and reasons, nothing to deny
    assert shortcut == (dict(result.statuses), {"reasons": result.reasons})
    assert not result.would_deny
    # AND with the package loaded (a layer an earlier install loaded stays loaded), the
    # package answers
    assert runtime_install._kernel_switched_off() is None
