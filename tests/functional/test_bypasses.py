"""What the audit layer cannot stop, stated as tests — and the kernel layer closing it.

Native code and, up to CPython 3.13, the C ``_posixsubprocess.fork_exec`` raise no audit
event. With ``SANDBOX_SECCOMP=off`` these run even in enforce mode (the honest limit); with the
kernel layer on and a profile without subprocesses, the kernel refuses the exec. From 3.14
``fork_exec`` raises ``_posixsubprocess.fork_exec`` (gh-115322), so the audit layer alone refuses
an unlearned program there (see ``test_python314.py``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ATTEMPT, FORK_EXEC_ARGS, Child, RunChild, audit_only, profile_doc

# ctypes and libc's system() are allowed by this profile, as if a dependency had learned them:
# the audit layer then has no reason to object, and only the kernel can stop the exec. (From
# CPython 3.14.x every foreign call raises ctypes.call_function: learned as native memory call.)
PROFILE = {
    "schema_version": 1,
    "function": "t",
    "extends": ["python-runtime"],
    "rules": {
        "modules": [
            {"action": "import", "target": "ctypes.**", "phase": "any"},
            {"action": "import", "target": "_ctypes", "phase": "any"},
        ],
        "native": [
            {"action": "dlopen", "target": "<main>", "phase": "any"},
            {"action": "dlsym", "target": "system", "phase": "any"},
            {"action": "memory", "target": "call", "phase": "any"},
        ],
    },
}

CTYPES_SYSTEM = """
import sandbox
status = sandbox.install(mode="enforce", profile="profile.json")
print("seccomp", status["layers"]["seccomp"])
import ctypes
rc = ctypes.CDLL(None).system(b"touch ran-ctypes")
import os
print("ran", os.path.exists("ran-ctypes"))
"""

FORK_EXEC = (
    FORK_EXEC_ARGS
    + """
import os, sys, sandbox
status = sandbox.install(mode="enforce", profile="profile.json")
print("seccomp", status["layers"]["seccomp"])
import _posixsubprocess, subprocess
fork_exec = _posixsubprocess.fork_exec
if {original}:
    # The C function itself, dug out of the sandbox's wrapper (code that already runs
    # arbitrary Python can): no audit event exists for it before Python 3.14.
    # (3.14+: no wrapper, the event is CPython's own: the C function is the module's.)
    code = getattr(fork_exec, "__code__", None)
    cells = dict(zip(code.co_freevars, fork_exec.__closure__ or ())) if code else {}
    fork_exec = cells["original"].cell_contents if "original" in cells else fork_exec
args = [b"/usr/bin/touch", b"ran-forkexec"]
r, w = os.pipe()
try:
    pid = fork_exec(*fork_exec_args(args, [b"/usr/bin/touch"], r, w, (w,)))
    os.waitpid(pid, 0)
except OSError as exc:
    print("error", type(exc).__name__)
except PermissionError as exc:
    print("refused", exc.category)
print("ran", os.path.exists("ran-forkexec"))
"""
)

# CPython 3.14 added the ``_posixsubprocess.fork_exec`` audit event (gh-115322).
FORK_EXEC_AUDITED = sys.version_info >= (3, 14)


def _audit_layer_only(core: str) -> dict[str, str]:
    """A child's environment: the kernel layers off (as on Lambda), on the core named."""
    env = {"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}
    if core == "python":
        env["SANDBOX_NATIVE"] = "off"
    return env


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(PROFILE))
    return path


def test_audit_layer_alone_cannot_stop_ctypes_system(child: RunChild, profile: Path) -> None:
    # GIVEN enforce with the kernel layer off WHEN native code calls system()
    result = child(CTYPES_SYSTEM, env={"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"})
    # THEN the command runs: the audit hook never sees it (documented limit)
    assert result.lines == ["seccomp off", "ran True"], result.stderr


def test_audit_layer_decides_fork_exec_called_through_its_module(
    child: RunChild, profile: Path
) -> None:
    # GIVEN enforce with the kernel layer off WHEN _posixsubprocess.fork_exec is called directly
    # (as multiprocessing's spawn does), through the module's attribute
    result = child(
        FORK_EXEC.replace("{original}", "False"),
        env={"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"},
    )
    # THEN it is decided like any exec (the sandbox raises the event CPython 3.14 raises)
    assert result.lines[0] == "seccomp off", result.stderr
    assert result.lines[-2:] == ["error PermissionViolation", "ran False"], (
        result.stdout + result.stderr
    )


@pytest.mark.skipif(FORK_EXEC_AUDITED, reason="3.14+ audits fork_exec: see test_python314.py")
@pytest.mark.parametrize("core", ["native", "python"])
def test_the_original_fork_exec_is_decided_only_by_the_native_core(
    child: RunChild, profile: Path, core: str
) -> None:
    # GIVEN enforce with the kernel layer off WHEN code running arbitrary Python digs the C
    # function out of the Python core's wrapper (the native core puts no wrapper there) and
    # calls it
    env = _audit_layer_only(core)
    result = child(FORK_EXEC.replace("{original}", "True"), env=env)
    assert result.lines[0] == "seccomp off", result.stderr
    if core == "native":
        # THEN the native core's method-table entry raises the event first: refused
        assert result.lines[-2:] == ["error PermissionViolation", "ran False"], (
            result.stdout + result.stderr
        )
    else:
        # AND with the Python core the program runs (before 3.14 no audit event exists for
        # the C function: the documented limit)
        assert result.lines[-1] == "ran True", result.stderr


def test_kernel_layer_stops_ctypes_system(child: RunChild, profile: Path) -> None:
    # GIVEN enforce with the kernel layer on and a profile without subprocesses
    result = child(CTYPES_SYSTEM, env={"SANDBOX_LANDLOCK": "off"})
    if result.lines and result.lines[0] != "seccomp active":
        pytest.skip(f"seccomp not available here: {result.lines[0]}")
    # THEN the exec is refused by the kernel and nothing ran
    assert result.lines == ["seccomp active", "ran False"], result.stderr


def test_kernel_layer_stops_direct_fork_exec(child: RunChild, profile: Path) -> None:
    # GIVEN the same WHEN _posixsubprocess.fork_exec is called directly
    result = child(FORK_EXEC.replace("{original}", "True"), env={"SANDBOX_LANDLOCK": "off"})
    if result.lines and result.lines[0] != "seccomp active":
        pytest.skip(f"seccomp not available here: {result.lines[0]}")
    # THEN the fork itself is refused (PermissionError) and nothing ran
    assert result.lines[-1] == "ran False", result.stderr + result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
def test_ctypes_is_never_left_in_the_extension_cache_by_the_native_core(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with the kernel layer and a profile without ctypes, not compiled beforehand
    # (install compiles it: libseccomp's binding is ctypes), on each core (the Python core's
    # kernel calls go through _ctypes)
    (tmp_path / "p.json").write_text(json.dumps(profile_doc()))
    result = child(
        """
        import sandbox, sys
        status = sandbox.install(mode="enforce", profile="p.json")
        import importlib.machinery, _imp, os
        try:
            import _ctypes
            print("import", "loaded")
        except ImportError:
            print("import", "blocked")
        # Code that already runs arbitrary Python can ask the C loader directly:
        # (lib-dynload, found on the path: _csv, once a way to it, is built in on some builds)
        directory = next(p for p in sys.path if p.endswith("lib-dynload"))
        name = next(n for n in os.listdir(directory) if n.startswith("_ctypes.") and n.endswith(".so"))
        origin = os.path.join(directory, name)
        spec = importlib.machinery.ModuleSpec(
            "_ctypes", importlib.machinery.ExtensionFileLoader("_ctypes", origin), origin=origin
        )
        try:
            _imp.create_dynamic(spec)
            print("create_dynamic", "loaded")
        except ImportError:
            print("create_dynamic", "blocked")
        print("left", sorted(
            name for name, module in sys.modules.items()
            if any(getattr(value, "__name__", "") in ("ctypes", "_ctypes") for value in vars(module).values())
        ))
        """,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    if "_ctypes" in sys.builtin_module_names:
        pytest.skip("_ctypes is built in here")
    # THEN the import statement is always blocked, and no loaded module holds ctypes
    assert result.lines[0] == "import blocked", result.stderr
    assert result.lines[2] == "left []", result.stderr
    # AND with the native core _ctypes was never loaded in the process (the profile's kernel
    # section is compiled in a child, the kernel calls are the core's): a direct load of it is
    # a real one, decided and refused
    if core == "native" or sys.version_info >= (3, 13):
        assert result.lines[1] == "create_dynamic blocked", result.stderr
    else:
        # AND with the Python core up to 3.12 (a single-phase extension): its kernel calls
        # loaded _ctypes, and CPython hands its cached copy out again with no import event --
        # the documented limit of the Python core, under the seccomp filter it cannot remove
        assert result.lines[1] == "create_dynamic loaded", result.stderr


def test_landlock_holds_children_to_the_profiles_write_directories(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a profile that lets the function run `touch` on any path ("**": "*" stops at "/")
    # and write under {tmp}
    profile = {
        "schema_version": 1,
        "function": "t",
        "extends": ["python-runtime"],
        "rules": {
            "processes": [{"action": "exec", "target": "/usr/bin/touch", "argv": ["**"]}],
            "files": [{"action": "write", "target": "{tmp}/**"}],
        },
    }
    (tmp_path / "p.json").write_text(json.dumps(profile))
    result = child(
        """
        import os, subprocess, tempfile, sandbox
        status = sandbox.install(mode="enforce", profile="p.json")
        print("landlock", status["layers"]["landlock"])
        inside = tempfile.mktemp(dir="/tmp")
        # (the test's own folder is under /tmp, so "outside" is the other tmpfs, /dev/shm)
        outside = os.path.join("/dev/shm", f"made-by-child-{os.getpid()}")
        for path in (inside, outside):
            # The audit hook sees only the exec (allowed); the child's own write it never sees.
            code = subprocess.run(["/usr/bin/touch", path], stderr=subprocess.DEVNULL).returncode
            print(os.path.basename(path).startswith("made-by-child"), os.path.exists(path))
            if os.path.exists(path):
                os.remove(path)
        """
    )
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm to write outside the temp dir")
    if result.lines and result.lines[0] != "landlock active":
        pytest.skip(
            f"Landlock not available here: {result.lines[0] if result.lines else result.stderr}"
        )
    # THEN the child may write in the temp dir, and the kernel refuses its write elsewhere
    assert result.lines[1:] == ["False True", "True False"], result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_the_kernel_layers_native_helpers_are_not_left_to_the_function(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with the kernel layer loaded (through _ctypes where the Python core is the
    # core; the native core makes the calls itself)
    (tmp_path / "p.json").write_text(json.dumps(profile_doc()))
    result = child(
        """
        import sys, sandbox
        sandbox.install(mode="enforce", profile="p.json")
        native = ("ctypes", "_ctypes", "pyseccomp", "sandbox.runtime.kernel.ctypes_calls", "sandbox.runtime.kernel.ffi")
        print([m for m in sys.modules if m.startswith(native)])
        for attempt in ("from sandbox.kernel import _ffi", "import ctypes", "import _ctypes"):
            try:
                exec(attempt)
                print("loaded")
            except ImportError:
                print("blocked")
        """,
        env={"SANDBOX_NATIVE": "off"} if core == "python" else None,
    )
    # THEN nothing of it stays importable for free: each is a real, refused import again
    assert result.lines == ["[]", "blocked", "blocked", "blocked"], result.stderr


LATER_HOOK = """
import os, sys
sys.path.insert(0, os.getcwd())
import sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
import apm
sandbox.runtime.hook.mark_invoke_phase()
from sandbox.runtime import core
inside = []
def hook(event, args):
    if core.inside():
        inside.append(event)
apm.install(hook)
try:
    open("nothere-rel", "w")   # decided: the sandbox's own code raises events while it decides
except PermissionError:
    pass
print("later hook ran inside the sandbox's callback", bool(inside))
"""


def _grant_a_later_hook(tmp_path: Path) -> None:
    """An APM-like module whose install() adds an audit hook, and a profile granting it."""
    (tmp_path / "apm.py").write_text("import sys\ndef install(cb):\n    sys.addaudithook(cb)\n")
    doc = profile_doc(
        code=[{"action": "hook", "target": "{task}/apm.py:install", "phase": "any"}],
        modules=[{"action": "import", "target": "apm", "phase": "any"}],
    )
    (tmp_path / "profile.json").write_text(json.dumps(doc))


def test_a_granted_later_audit_hook_is_not_run_inside_the_callback(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a profile that grants an audit hook (an APM library's, at its install site) whose
    # callbacks the function's code may register
    _grant_a_later_hook(tmp_path)
    # WHEN a decision of the sandbox's raises events of its own (a frame walk, a listing)
    result = child(LATER_HOOK, env={"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"})
    # THEN (native core) CPython's calls of the later hook for them are refused by the frame
    # guard before their first instruction (each evaluates to None: no objection), and the
    # sandbox decides as before. (The Python core has no frame guard: its stated limit.)
    assert "later hook ran inside the sandbox's callback False" in result.lines, (
        result.stdout + result.stderr
    )
    assert any(f["target"] == "{task}/nothere-rel" for f in result.findings)


FRAMELESS_LATER_HOOK = """
import functools, os, sys
sys.path.insert(0, os.getcwd())
import sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
import apm
sandbox.runtime.hook.mark_invoke_phase()
# A C function as the later hook: called by CPython's audit dispatch (C code) for every event,
# the sandbox's own ones inside its callback included, it pushes no Python frame of its own.
apm.install(functools.partial(sys.audit, "os.system"))
try:
    open("nothere-rel", "w")
except PermissionError:
    pass
"""


def test_a_frameless_later_hook_inside_the_callback_is_not_taken_for_the_sandbox(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the profile granting a later audit hook, and a C function registered as that hook
    # which raises a command event for every event it is called with
    _grant_a_later_hook(tmp_path)
    # WHEN a decision of the sandbox's raises events of its own (its frame lookups), so that
    # the hook raises `os.system` inside the callback with a frame of the sandbox innermost
    result = child(FRAMELESS_LATER_HOOK, env={"SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"})
    # THEN those commands are decided as the function's, not taken for the sandbox's own work:
    # the decision of each fails closed (refused, or too deeply nested as the hook calls
    # itself again), where the frame-based attribution let every one of them through silently
    errors = [r for r in result.of_type("sandbox.error") if r.get("event") == "os.system"]
    assert errors, result.stdout[-2000:] + result.stderr[-2000:]


NAME_IN_ADDRESS = """
import os, resource, socket, sandbox
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="enforce", profile="p.json")
mark_invoke_phase()

def attempt(method, host):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if method == "sendto" else socket.SOCK_STREAM)
    free = os.dup(0)
    os.close(free)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # No descriptor left: a lookup that ran could open no hosts file and no DNS socket --
    # nothing leaves even if the decision came after it (it would fail with EMFILE).
    resource.setrlimit(resource.RLIMIT_NOFILE, (free, hard))
    try:
        if method == "connect":
            sock.connect((host, 9))
        elif method == "connect_ex":
            sock.connect_ex((host, 9))
        elif method == "bind":
            sock.bind((host, 0))
        elif method == "sendto":
            sock.sendto(b"x", (host, 9))
        else:
            sock.sendmsg([b"x"], [], 0, (host, 9))
        return "done"
    except PermissionError as exc:
        return "refused " + exc.category + " " + exc.action
    except OSError as exc:
        return "looked up" if exc.errno == 24 or isinstance(exc, socket.gaierror) else "error " + str(exc)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        sock.close()

for method in ("connect", "connect_ex", "bind", "sendto", "sendmsg"):
    print(method, attempt(method, "exfil-" + method + ".invalid"))
print("bytearray", attempt("connect", bytearray(b"exfil.invalid")))

import _socket
inet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for method in ("sendto", "sendmsg"):
    # An AF_UNIX socket turned into an AF_INET one by the flags' __index__, which CPython runs
    # after the method was entered and before it reads the family: the name is decided all
    # the same (whatever the family was when the method was entered).
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    duplicate = os.dup(inet.fileno())
    class Flags:
        def __index__(self):
            _socket.socket.__init__(unix, socket.AF_INET, socket.SOCK_DGRAM, 0, duplicate)
            return 0
    free = os.dup(0)
    os.close(free)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (free, hard))
    try:
        if method == "sendto":
            unix.sendto(b"x", Flags(), ("switched.invalid", 9))
        else:
            unix.sendmsg([b"x"], [], Flags(), ("switched.invalid", 9))
        outcome = "done"
    except PermissionError as exc:
        outcome = "refused " + exc.category + " " + exc.action
    except OSError as exc:
        outcome = "looked up" if exc.errno == 24 or isinstance(exc, socket.gaierror) else "error"
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    print("switched-" + method, outcome)
print("literal", attempt("connect", "127.0.0.1"))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_name_in_a_socket_address_is_decided_before_it_is_looked_up(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce (the audit layer alone) with a profile that resolves no name and connects
    # nowhere, and no descriptor free (a lookup, were it made, could send nothing: the
    # function's own lowered RLIMIT_NOFILE, a rule of its profile)
    nofile = {"action": "kill", "target": "self:setrlimit:RLIMIT_NOFILE", "phase": "any"}
    (tmp_path / "p.json").write_text(json.dumps(profile_doc(processes=[nofile])))
    env = _audit_layer_only(core)
    # WHEN the function gives a host name to connect, connect_ex, bind, sendto and sendmsg
    result = child(NAME_IN_ADDRESS, env=env)
    lines = dict(line.split(" ", 1) for line in result.lines)
    if core == "native":
        # THEN each name is refused as a resolve before any lookup (the query never leaves)
        for method in ("connect", "connect_ex", "bind", "sendto", "sendmsg", "bytearray"):
            assert lines[method] == "refused network resolve", (method, result.stderr)
        # AND a socket whose family changes while the method converts its arguments too
        for method in ("switched-sendto", "switched-sendmsg"):
            assert lines[method] == "refused network resolve", (method, result.stderr)
    else:
        # AND with the Python core the C resolver runs first (the documented limit: it cannot
        # change a C type's methods); the decision refuses the connect only afterwards
        assert lines["connect"] == "looked up", result.stderr
    # AND a literal address is decided as a connect (no lookup to make)
    assert lines["literal"] == "refused network connect", result.stderr


PROCESS_CALLS = """
import os, resource, signal, sys, sandbox
from sandbox.runtime.control import mark_invoke_phase
import fcntl, socket
os.mkdir("root")
parent = os.pidfd_open(os.getppid())
ends = socket.socketpair()
sandbox.install(mode="enforce", profile="p.json")
mark_invoke_phase()

def attempt(what, call):
    try:
        call()
        print(what, "done")
    except PermissionError as exc:
        print(what, "refused", exc.category, exc.action, exc.target)
    except (OSError, ValueError) as exc:
        print(what, "error", type(exc).__name__)

attempt("pidfd_send_signal", lambda: signal.pidfd_send_signal(parent, 0))  # (0: a probe)
attempt("prlimit", lambda: resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE))
if hasattr(os, "unshare"):
    attempt("unshare", lambda: os.unshare(0))  # (no namespace at all: harmless if it ran)
    attempt("setns", lambda: os.setns(-1, 0))
    # (keywords in another order than the parameters': red team 107)
    attempt("setns_keywords", lambda: os.setns(nstype=0x40000000, fd=-1))
attempt("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, os.getppid(), 0))
attempt("setpriority_keywords", lambda: os.setpriority(who=os.getppid(), which=os.PRIO_PROCESS, priority=0))
attempt("sched_setaffinity", lambda: os.sched_setaffinity(os.getppid(), os.sched_getaffinity(0)))
attempt("own_priority", lambda: os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0)))
# the kernel signals a descriptor's owner when it is ready (O_ASYNC): the owner is decided
attempt("setown", lambda: fcntl.fcntl(ends[0].fileno(), fcntl.F_SETOWN, os.getppid()))
attempt("setown_ex", lambda: fcntl.fcntl(ends[0].fileno(), 15, (1).to_bytes(4, sys.byteorder) + os.getppid().to_bytes(4, sys.byteorder)))
attempt("fiosetown", lambda: fcntl.ioctl(ends[0].fileno(), 0x8901, os.getppid().to_bytes(4, sys.byteorder)))
# an int where the kernel takes a pointer is an address: FIONREAD writes its count there,
# F_GETLK the lock, FIOSETOWN reads the owner there (any memory below 4 GB: a non-PIE
# interpreter's data and heap); 0 is NULL, and a buffer is CPython's copy or the caller's own
low = 0x601000  # (a non-PIE binary's data; nothing is mapped there on this machine's PIE builds)
attempt("fionread_address", lambda: fcntl.ioctl(ends[0].fileno(), 0x541B, low))
attempt("fiosetown_address", lambda: fcntl.ioctl(ends[0].fileno(), 0x8901, low))
attempt("getlk_address", lambda: fcntl.fcntl(ends[0].fileno(), fcntl.F_GETLK, low))
class Index:
    def __index__(self):
        return low
attempt("fionread_index", lambda: fcntl.ioctl(ends[0].fileno(), 0x541B, Index()))
attempt("fionread_buffer", lambda: fcntl.ioctl(ends[0].fileno(), 0x541B, bytearray(4)))
attempt("fionread_null", lambda: fcntl.ioctl(ends[0].fileno(), 0x541B, 0))
# SIOCGIFCONF's struct ifconf names the buffer the kernel writes the interface list to
import struct
inet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
attempt("ifconf_pointer", lambda: fcntl.ioctl(inet.fileno(), 0x8912, bytearray(struct.pack("iiQ", 40, 0, low))))
# SO_ATTACH_FILTER's struct sock_fprog names the program the kernel reads (native core only:
# CPython raises no event for setsockopt)
attempt("attach_filter", lambda: inet.setsockopt(socket.SOL_SOCKET, 26, struct.pack("HxxxxxxQ", 1, low)))
attempt("own_setown", lambda: fcntl.fcntl(ends[0].fileno(), fcntl.F_SETOWN, os.getpid()))
attempt("sethostname", lambda: socket.sethostname(socket.gethostname()))  # (the same name)
import time
if os.environ.get("SANDBOX_NATIVE") != "off":  # (the Python core would set the clock: not here)
    attempt(
        "clock_settime",  # the time it is (harmless should the call go through)
        lambda: time.clock_settime_ns(time.CLOCK_REALTIME, time.clock_gettime_ns(time.CLOCK_REALTIME)),
    )
attempt("chroot", lambda: os.chroot("root"))  # last: it may act (the Python core, as root)
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_calls_without_an_audit_event_that_change_the_root_or_reach_other_processes(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce (the audit layer alone) with a profile that allows no such thing, and a
    # pidfd of the parent process opened before the install
    (tmp_path / "p.json").write_text(json.dumps(profile_doc()))
    env = _audit_layer_only(core)
    # WHEN the function signals the parent through the pidfd, reads the parent's limits, sets
    # its priority or CPUs, unshares or joins namespaces (3.12+) and changes its root --
    # CPython raises no event for any of them but prlimit
    result = child(PROCESS_CALLS, env=env)
    lines = dict(line.split(" ", 1) for line in result.lines)
    # THEN reading another process's limits is decided like a signal to it, on both cores
    assert lines["prlimit"] == "refused processes kill other:prlimit", result.stderr
    # AND the process's own priority is its own business
    assert lines["own_priority"] == "done", result.stderr
    # AND a descriptor's owner (whom the kernel signals) is decided like a signal, on both
    # cores (fcntl and ioctl raise events): another process refused, this one allowed
    for way in ("setown", "setown_ex", "fiosetown"):
        assert lines[way] == "refused processes kill other:setown", (way, result.stderr)
    assert lines["own_setown"] == "done", result.stderr
    # AND an int the kernel takes as an address is memory at that address, decided before the
    # call on both cores (ints, and objects it reads as ints); a buffer and NULL are not
    for way in ("fionread_address", "fiosetown_address", "getlk_address", "fionread_index"):
        assert lines[way] == "refused native memory write", (way, result.stderr)
    assert lines["fionread_buffer"] == "done", result.stderr
    assert lines["ifconf_pointer"] == "refused native ioctl 0x8912", result.stderr
    if core == "native":
        assert lines["attach_filter"] == "refused native memory read", result.stderr
    assert lines["fionread_null"] in ("done", "error OSError"), result.stderr
    # AND renaming the host is a change of the process's namespace, on both cores
    assert lines["sethostname"] == "refused processes namespace sethostname", result.stderr
    if core == "native":
        # AND the native core raises an event for each of the others: all refused
        assert lines["pidfd_send_signal"] == "refused processes kill other:0", result.stderr
        assert lines["chroot"] == "refused processes namespace chroot", result.stderr
        assert lines["clock_settime"] == "refused processes namespace clock_settime", result.stderr
        assert lines["setpriority"] == "refused processes kill other:setpriority", result.stderr
        assert lines["setpriority_keywords"] == lines["setpriority"], result.stderr
        assert lines["sched_setaffinity"] == "refused processes kill other:sched_setaffinity", (
            result.stderr
        )
        if sys.version_info >= (3, 12):
            assert lines["unshare"] == "refused processes namespace unshare:0x0", result.stderr
            assert lines["setns"] == "refused processes namespace setns:0x0", result.stderr
            # (each keyword read by its name: the type given is the one decided)
            assert lines["setns_keywords"] == "refused processes namespace setns:newnet", (
                result.stderr
            )
    else:
        # AND the Python core cannot change C functions: they act undecided (documented limit)
        assert lines["pidfd_send_signal"] == "done", result.stderr
        assert not lines["chroot"].startswith("refused"), result.stderr


SPAWN_FILE_ACTIONS = """
import os, sandbox
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="enforce", profile="p.json")
mark_invoke_phase()
os.mkdir("open-here")
HERE = os.open("open-here", os.O_RDONLY | os.O_DIRECTORY)
TASK = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
for label, name, flags, first in (
    ("made-by-child.txt", "made-by-child.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, []),
    ("secret.txt", "secret.txt", os.O_RDONLY, []),
    # a name through a descriptor's folder, which an earlier action re-points in the child
    ("through-fd", f"/proc/self/fd/{HERE}/secret.txt", os.O_RDONLY,
     [(os.POSIX_SPAWN_DUP2, TASK, HERE)]),
    ("through-dev-fd", f"/dev/fd/{HERE}/made-by-child.txt", os.O_WRONLY | os.O_CREAT,
     [(os.POSIX_SPAWN_DUP2, TASK, HERE)]),
):
    try:
        pid = os.posix_spawn("/usr/bin/true", ["true"], os.environ,
                             file_actions=[*first, (os.POSIX_SPAWN_OPEN, 1, name, flags, 0o600)])
        os.waitpid(pid, 0)
        print(label, "spawned")
    except PermissionError as exc:
        print(label, "refused", exc.category, exc.action)
print("exists", os.path.exists("made-by-child.txt"))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_posix_spawn_file_actions_open_only_what_the_profile_allows(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce (the audit layer alone) with a profile that runs /usr/bin/true and lets
    # the function open nothing in its folder but a folder of its own, open-here/
    (tmp_path / "secret.txt").write_text("s3cr3t")
    rules: dict[str, list[dict[str, Any]]] = {
        "processes": [{"action": "exec", "target": "/usr/bin/true", "argv": []}],
        "files": [
            {"action": action, "target": "{task}/open-here" + below, "phase": "any"}
            for action in ("read", "write")
            for below in ("", "/**")
        ]
        + [{"action": "read", "target": "{task}", "phase": "any"}],
    }
    (tmp_path / "p.json").write_text(json.dumps(profile_doc(**rules)))
    env = _audit_layer_only(core)
    # WHEN posix_spawn's file actions have the child open a file to write and the secret to
    # read before it runs the allowed program
    result = child(SPAWN_FILE_ACTIONS, env=env)
    lines = dict(line.split(" ", 1) for line in result.lines)
    if core == "native":
        # THEN each open is decided like os.open's: both refused, nothing made
        assert lines["made-by-child.txt"] == "refused files write", result.stderr
        assert lines["secret.txt"] == "refused files read", result.stderr
        # AND a name through /proc or /dev/fd is the child's to resolve, after its earlier
        # actions (red team 118: a dup2 action put the task folder under the number): refused
        assert lines["through-fd"] == "refused files read", result.stderr
        assert lines["through-dev-fd"] == "refused files write", result.stderr
        assert lines["exists"] == "False", result.stderr
    else:
        # AND the Python core cannot read the actions before the C function does: the child
        # opens them undecided (documented limit; Landlock holds writes where it loads)
        assert lines["made-by-child.txt"] == "spawned", result.stderr


# A child's attempt at a socket call: what the sandbox said, or the errno.
SOCKET_ATTEMPT = """
def attempt(what, call):
    try:
        call()
        print(what, "done")
    except PermissionError as exc:
        print(what, "refused", exc.category, exc.action)
    except OSError as exc:
        print(what, "error", exc.errno)
"""

SOCKET_OPTIONS = (
    """
import socket, sandbox
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="enforce", profile="p.json")
mark_invoke_phase()

"""
    + SOCKET_ATTEMPT
    + """
# an IPv4 loose source route whose first hop is 127.0.0.2 (loopback: nothing leaves)
route = bytes([1, 131, 7, 4, 127, 0, 0, 2])
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
attempt("ip_options", lambda: udp.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, route))
attempt("reuseaddr", lambda: udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1))
attempt("per_message_route", lambda: udp.sendmsg([b"x"], [(socket.IPPROTO_IP, 7, route)], 0, ("127.0.0.1", 18555)))
attempt("listen_unbound", lambda: socket.socket().listen())
attempt("unix_listen_unbound", lambda: socket.socket(socket.AF_UNIX).listen())
"""
)


@pytest.mark.parametrize("core", ["native", "python"])
def test_options_that_reroute_packets_and_an_implicit_bind_are_decided(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce (the audit layer alone) with a profile that may send to 127.0.0.1:18555 only
    rules = {"network": [{"action": "sendto", "target": "127.0.0.1:18555"}]}
    (tmp_path / "p.json").write_text(json.dumps(profile_doc(**rules)))
    env = _audit_layer_only(core)
    # WHEN the function sets a source route on a socket (Linux then sends the flow to the
    # route's first hop), sends one with a route per message, and listens on a socket it never
    # bound (the kernel binds it to every address)
    result = child(SOCKET_OPTIONS, env=env)
    lines = dict(line.split(" ", 1) for line in result.lines)
    # THEN an ordinary option is the function's business
    assert lines["reuseaddr"] == "done", result.stderr
    if core == "native":
        # AND a route is refused (set on the socket or per message), and so is the bind
        assert lines["ip_options"] == "refused network connect", result.stderr
        assert lines["per_message_route"] == "refused network connect", result.stderr
        assert lines["listen_unbound"] == "refused network bind", result.stderr
        # (an AF_UNIX one gets an abstract name any local process can reach: "@")
        assert lines["unix_listen_unbound"] == "refused files write", result.stderr
    else:
        # AND the Python core cannot see setsockopt or listen (no audit event): stated limit
        assert lines["ip_options"] == "done", result.stderr


ANOTHER_SOCKET_MODULE = (
    """
import _imp, importlib.util, socket, sys, sandbox
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="enforce", profile="p.json")
mark_invoke_phase()
# Another copy of _socket, made by hand: from its extension file (3.12, 3.13: a module of its
# own, with a socket type of its own), or as a built-in (3.14's standalone build)
spec = importlib.util.find_spec("_socket")
if spec.origin == "built-in":
    fresh = _imp.create_builtin(spec)
    _imp.exec_builtin(fresh)
else:
    fresh = _imp.create_dynamic(spec)
    _imp.exec_dynamic(fresh)
print("copy", fresh is not sys.modules["_socket"] and fresh.socket is not socket.socket)

"""
    + SOCKET_ATTEMPT
    + """
attempt("listen_unbound", lambda: fresh.socket(fresh.AF_INET, fresh.SOCK_STREAM).listen())
attempt("unix_listen_unbound", lambda: fresh.socket(fresh.AF_UNIX, fresh.SOCK_STREAM).listen())
closed = fresh.socket(fresh.AF_INET, fresh.SOCK_STREAM)
closed.close()
attempt("closed", lambda: closed.listen())
"""
)


def test_a_listen_on_another_copy_of_socket_is_decided(child: RunChild, tmp_path: Path) -> None:
    # GIVEN enforce (the audit layer alone, native core) with no network rule, and a second
    # copy of _socket the function made by hand, whose socket type is not the one the core
    # captured at install (red team 106)
    (tmp_path / "p.json").write_text(json.dumps(profile_doc()))
    result = child(ANOTHER_SOCKET_MODULE, env=_audit_layer_only("native"))
    lines = dict(line.split(" ", 1) for line in result.lines)
    if lines.get("copy") != "True":
        pytest.skip("this interpreter hands back the loaded _socket (single-phase, 3.10/3.11)")
    # WHEN the function listens on sockets of that copy it never bound (the kernel would bind
    # them to every address, or to an abstract name any local process reaches)
    # THEN each implicit bind is decided (refused: nothing names it), as on the real type;
    # and a name that cannot be read (a closed socket) is no listen either
    assert lines["listen_unbound"] == "refused network bind", result.stderr
    # (an AF_UNIX one: the decoder reads no family off a type it did not capture, so the name
    # is undecodable and refused as a bind, never taken for a name it could allow)
    assert lines["unix_listen_unbound"] == "refused network bind", result.stderr
    assert lines["closed"] == "error 9", result.stderr


PLANTED_IDNA = """
import codecs, encodings, socket, sandbox
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="enforce", profile="p.json")
mark_invoke_phase()
# An "idna" codec of the function's: the resolvers encode a str host with it, after (or, for
# gethostbyname, before) their event -- it turns the literal the decision saw into a name.
# (The name is localhost: the hosts file answers it, nothing is sent even if the block fails.)
def encode(text, errors="strict"):
    return (b"localhost" if text == "127.0.0.1" else text.encode("ascii")), len(text)
def decode(data, errors="strict"):
    return bytes(data).decode("ascii"), len(data)
encodings._cache["idna"] = codecs.CodecInfo(encode, decode, name="idna")
info = socket.getaddrinfo("127.0.0.1", 80, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_CANONNAME)
print("canonname", info[0][3])
print("byname", socket.gethostbyname_ex("127.0.0.1")[0])
# The host given by keyword to the C resolver itself (red team 107's way past the positional
# one): through a copy of _socket made by hand, whose getaddrinfo is the C function, not the
# sandbox's wrapper; the interpreter's codec cache dropped, so "idna" is looked up again.
import _imp, importlib.util
spec = importlib.util.find_spec("_socket")
if spec.origin == "built-in":
    copy = _imp.create_builtin(spec)
    _imp.exec_builtin(copy)
else:
    copy = _imp.create_dynamic(spec)
    _imp.exec_dynamic(copy)
def nothing(name):
    return None
codecs.register(nothing)
codecs.unregister(nothing)
info = copy.getaddrinfo(host="127.0.0.1", port=80, family=socket.AF_INET, flags=socket.AI_CANONNAME)
print("keyword", info[0][3])
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_planted_idna_codec_does_not_change_the_name_looked_up(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with a profile that resolves no name, and a codec of the function's planted
    # as "idna" before any lookup used it
    (tmp_path / "p.json").write_text(json.dumps(profile_doc()))
    env = _audit_layer_only(core)
    # WHEN the function looks up an address literal (no name: no rule needed)
    result = child(PLANTED_IDNA, env=env)
    lines = dict(line.split(" ", 1) for line in result.lines)
    if core == "native":
        # THEN the resolvers get the host as bytes: no codec runs, the literal is looked up
        assert lines == {
            "canonname": "127.0.0.1",
            "byname": "127.0.0.1",
            "keyword": "127.0.0.1",
        }, result.stderr
    else:
        # AND the Python core cannot change C functions: the codec's name is looked up
        # (documented limit; localhost here, from the hosts file)
        assert lines["canonname"] == "localhost", result.stderr
        assert lines["keyword"] == "localhost", result.stderr


def test_a_hard_link_is_a_write_of_the_file_it_names(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a profile that may read allowed.txt and write under out/
    (tmp_path / "out").mkdir()
    (tmp_path / "allowed.txt").write_text("original")
    rules = {
        "files": [
            {"action": "read", "target": "{task}/allowed.txt"},
            {"action": "write", "target": "{task}/out/**"},
        ]
    }
    (tmp_path / "p.json").write_text(json.dumps(profile_doc(**rules)))
    # WHEN the function links allowed.txt into out/ (then writing the link would write it)
    result = child(
        """
        import os, sandbox
        from sandbox.runtime.control import mark_invoke_phase
        sandbox.install(mode="enforce", profile="p.json")
        mark_invoke_phase()
        try:
            os.link("allowed.txt", "out/alias")
            print("linked")
        except PermissionError as exc:
            print("refused", exc.category, exc.action)
        """,
        env={
            "SANDBOX_SECCOMP": "off",
            "SANDBOX_LANDLOCK": "off",
            "LAMBDA_TASK_ROOT": str(tmp_path),
        },
    )
    # THEN the link is refused: a second name for a file is a write of that file
    assert result.lines == ["refused files write"], result.stderr
    assert (tmp_path / "allowed.txt").read_text() == "original"


ROUND25 = """
import os, sys, json, sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
def attempt(label, fn):
    try:
        fn()
        print(label, "ALLOWED")
    except sandbox.SandboxViolation as exc:
        print(label, "BLOCKED", exc.category, exc.action)
    except Exception as exc:
        print(label, "ERROR", type(exc).__name__)
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_c_extension_given_its_file_as_a_str_subclass_is_decided_by_that_file(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with the runtime bundle (the standard library's names allowed, not
    # _ctypes), and _ctypes' own file
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    import importlib.util

    spec = importlib.util.find_spec("_ctypes")
    assert spec is not None and spec.origin
    # WHEN the function loads it under an allowed name, its file given as a str subclass (or
    # an exact str), at invoke (round 25: the subclass read as "no file")
    result = child(
        ROUND25
        + f"""
import _imp, importlib.machinery as m
class Text(str):
    pass
origin = {spec.origin!r}
attempt("subclass", lambda: _imp.create_dynamic(m.ModuleSpec("email._ctypes", None,
                                                              origin=Text(origin))))
attempt("exact", lambda: _imp.create_dynamic(m.ModuleSpec("email._ctypes", None,
                                                           origin=origin)))
""",
        env=audit_only(core),
    )
    outcome = dict(line.split(" ", 1) for line in result.lines)
    # THEN both are refused as loading native code from a file that is not the module's own
    assert outcome["subclass"] == "BLOCKED native dlopen", result.stderr
    assert outcome["exact"] == "BLOCKED native dlopen", result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize("phase", ["init", "invoke"])
def test_a_c_extension_file_loaded_under_the_empty_name_is_native_code(
    child: RunChild, tmp_path: Path, core: str, phase: str
) -> None:
    # GIVEN enforce with the runtime bundle, and a C extension's file the function wrote to
    # the temp dir under a name it may write (8 characters): a copy of a standard one, as a
    # shared object of its own would be
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    import importlib.util

    # (one that is a file: CPython 3.14's standalone build has _bisect built in)
    specs = [importlib.util.find_spec(name) for name in ("_bisect", "_queue")]
    spec = next(s for s in specs if s is not None and s.origin and s.origin.endswith(".so"))
    # WHEN the function loads that file under the empty module name (round 64: its
    # constructors ran before any module was asked for), by spec and by loader, and the
    # standard one the same way
    prelude = ROUND25 if phase == "invoke" else ROUND25.replace("mark_invoke_phase()\n", "")
    result = child(
        prelude
        + f"""
import _imp, shutil, tempfile, importlib.machinery as m
copy = os.path.join(tempfile.gettempdir(), "rt64evil")
shutil.copyfile({spec.origin!r}, copy)
attempt("spec", lambda: _imp.create_dynamic(m.ModuleSpec("", None, origin=copy)))
attempt("loader", lambda: m.ExtensionFileLoader("", copy).create_module(
    m.ModuleSpec("", None, origin=copy)))
attempt("deployment", lambda: _imp.create_dynamic(m.ModuleSpec("", None,
                                                                origin={spec.origin!r})))
os.unlink(copy)
""",
        env=audit_only(core),
    )
    outcome = dict(line.split(" ", 1) for line in result.lines)
    # THEN each is refused before the file is opened, as native code no rule allows
    assert outcome["spec"] == "BLOCKED native dlopen", result.stderr
    assert outcome["loader"] == "BLOCKED native dlopen", result.stderr
    assert outcome["deployment"] == "BLOCKED native dlopen", result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_finder_before_the_guard_cannot_load_an_undecided_module_with_importlibs_readers(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a module in the task root that the profile does not allow importing, and one it does
    task = tmp_path / "task"
    (task / "private").mkdir(parents=True)
    (task / "private" / "__init__.py").write_text("")
    (task / "private" / "settings.py").write_text("SECRET = 'xyzzy'\n")
    (task / "allowed_mod.py").write_text("VALUE = 1\n")
    profile = profile_doc(modules=[{"action": "import", "target": "allowed_mod", "phase": "any"}])
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN the function puts its own finder before the import guard (importlib.import_module
    # raises no import event) and loads with importlib's own loader, whose reads look like
    # the import system's (round 25); and imports the allowed module the same way
    result = child(
        ROUND25
        + """
import importlib, importlib.machinery as m, importlib.util
task = os.environ["LAMBDA_TASK_ROOT"]
class Finder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        where = {"private.settings": task + "/private/settings.py",
                 "private": task + "/private/__init__.py",
                 "allowed_mod": task + "/allowed_mod.py"}.get(name)
        if where is None:
            return None
        loader = m.SourceFileLoader(name, where)
        return importlib.util.spec_from_file_location(name, where, loader=loader,
            submodule_search_locations=[task + "/private"] if name == "private" else None)
    @staticmethod
    def invalidate_caches():
        pass
sys.meta_path.insert(0, Finder)
attempt("undecided", lambda: importlib.import_module("private.settings"))
attempt("allowed", lambda: importlib.import_module("allowed_mod"))
""",
        env=audit_only(core, LAMBDA_TASK_ROOT=str(task), PYTHONDONTWRITEBYTECODE="1"),
    )
    outcome = dict(line.split(" ", 1) for line in result.lines)
    # THEN the module file's read is decided as importing that module: refused; the allowed
    # module loads
    assert outcome["undecided"] == "BLOCKED modules import", result.stderr
    assert outcome["allowed"] == "ALLOWED", result.stderr
    assert "xyzzy" not in result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_pragma_naming_sqlites_temporary_folder_is_a_write_there(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a folder the profile allows writing to, and one it does not
    (tmp_path / "allowed").mkdir()
    (tmp_path / "elsewhere").mkdir()
    profile = profile_doc(files=[{"action": "write", "target": str(tmp_path / "allowed") + "/**"}])
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN SQL alone points SQLite's temporary files at each (round 25: PRAGMA
    # temp_store_directory, then a temporary table that spills to a file)
    result = child(
        ROUND25
        + """
import sqlite3
here = os.getcwd()
def spill(folder, name):
    con = sqlite3.connect(":memory:")
    con.execute("PRAGMA " + name + " = '" + folder + "'")
    con.execute("PRAGMA temp_store = FILE")
    con.execute("PRAGMA temp.cache_size = 1")
    con.execute("CREATE TEMP TABLE t(x)")
    for _ in range(20):
        con.execute("INSERT INTO t VALUES (zeroblob(100000))")
    con.close()
def refused(folder, name="temp_store_directory"):
    try:
        spill(folder, name)
    except sqlite3.DatabaseError as exc:
        return "refused: " + str(exc)
    return "ran"
print("elsewhere", refused(here + "/elsewhere"))
print("allowed", refused(here + "/allowed"))
print("spelled", refused(here + "/elsewhere", "main.Temp_Store_DIRECTORY"))
print("asks", sqlite3.connect(":memory:").execute("PRAGMA temp_store_directory").fetchall())
""",
        env=audit_only(core),
    )
    outcome = dict(line.split(" ", 1) for line in result.lines)
    # THEN the pragma is decided as a write in that folder: refused elsewhere (SQLite fails
    # the statement), allowed where the profile says so, whatever the name's case and schema;
    # asking for the value is no write
    assert outcome["elsewhere"] == "refused: not authorized", result.stderr
    assert outcome["spelled"] == "refused: not authorized", result.stderr
    assert outcome["allowed"] == "ran", result.stderr
    assert outcome["asks"].startswith("["), result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_limit_code_that_runs_can_use_the_standard_librarys_generators_and_finder(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with the runtime bundle (dataclasses' generated code allowed at its own
    # site, any phase), and a task-root folder readable and listable only at init
    task = tmp_path / "task"
    (task / "private").mkdir(parents=True)
    (task / "private" / "names.txt").write_text("x")
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN code already running at invoke hands source to dataclasses' private generator,
    # and fills an importlib finder's cache for that folder (round 25)
    result = child(
        ROUND25
        + """
import dataclasses, importlib.machinery as m
task = os.environ["LAMBDA_TASK_ROOT"]
attempt("compile-direct", lambda: compile("1", "<x>", "exec"))
def generator():
    if hasattr(dataclasses, "_create_fn"):  # (3.10-3.12)
        return dataclasses._create_fn("f", "", ["return 42"], globals={})()
    builder = dataclasses._FuncBuilder({})  # (3.13+)
    builder.add_fn("f", ("self",), ["  return 42"])
    class Made:
        pass
    builder.add_fns_to_class(Made)
    return Made().f()
attempt("generator", generator)
attempt("listdir", lambda: os.listdir(task + "/private"))
finder = m.FileFinder(task + "/private")
attempt("finder", finder._fill_cache)
print("names", sorted(finder._path_cache))
attempt("read", lambda: open(task + "/private/names.txt").read())
""",
        env=audit_only(core, LAMBDA_TASK_ROOT=str(task)),
    )
    outcome = dict(line.split(" ", 1) for line in result.lines)
    # THEN (the stated limit) the generator compiles what it is given, and the finder lists
    # the folder's names -- while a direct compile, listing and the file's read are refused
    assert outcome["compile-direct"] == "BLOCKED code compile", result.stderr
    assert outcome["generator"] == "ALLOWED", result.stderr
    assert outcome["listdir"] == "BLOCKED files list", result.stderr
    assert outcome["finder"] == "ALLOWED" and outcome["names"] == "['names.txt']"
    assert outcome["read"] == "BLOCKED files read", result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_syntax_tree_with_a_field_under_a_str_subclass_key_is_not_shaped_as_empty(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a site that compiles what it is given, allowed by its rule and learned shapes
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text(
        "def calc(expr):\n    return eval(compile(expr, '<calc>', 'eval'), {'__builtins__': {}})\n"
    )
    site = str(task / "app.py") + ":calc"
    profile = profile_doc(
        modules=[{"action": "import", "target": "app", "phase": "any"}],
        code=[
            {"action": "compile", "target": site, "phase": "any"},
            {"action": "shape", "target": site + "#BinOp", "phase": "any"},
            {"action": "shape", "target": site + "#Constant", "phase": "any"},
        ],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN it is handed a tree whose body hides under a str subclass key of the node's dict
    # (the walk saw an empty tree, the compiler found the body by attribute: round 26)
    result = child(
        """
import os, sys, ast, sandbox
sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
sandbox.install(mode="enforce", profile="profile.json")
import app
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
print("arithmetic", app.calc("6 * 7"))
class Key(str):
    pass
tree = ast.Expression.__new__(ast.Expression)
tree.__dict__[Key("body")] = ast.parse("(1).__class__", mode="eval").body
try:
    print("ran", app.calc(tree))
except sandbox.SandboxViolation as exc:
    print("blocked", exc.category, exc.action)
""",
        env=audit_only(core, LAMBDA_TASK_ROOT=str(task)),
    )
    # THEN such a tree is refused as unreadable; plain arithmetic still runs
    assert result.lines == ["arithmetic 42", "blocked code shape"], result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_importlibs_readers_read_only_a_modules_own_file_at_invoke(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a task-root file named like a standard-library module (not that module's file),
    # and a folder the function puts on sys.path at init, holding a module it imports later
    task = tmp_path / "task"
    (task / "private").mkdir(parents=True)
    (task / "private" / "secrets.py").write_text("TOKEN = 'xyzzy'\n")
    (task / "vendor").mkdir()
    (task / "vendor" / "late_mod.py").write_text("VALUE = 7\n")
    # (as learned: the import, and the running of its file, named from the task root)
    profile = profile_doc(
        modules=[
            {"action": "import", "target": "late_mod", "phase": "any"},
            {"action": "import", "target": "vendor.late_mod", "phase": "any"},
        ]
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN a finder before the guard has importlib read that file as the module "secrets"
    # (allowed by the standard library's rule: round 26), and the vendored module is
    # imported for the first time at invoke
    result = child(
        (
            ROUND25
            + """
import importlib, importlib.machinery as m, importlib.util
task = os.environ["LAMBDA_TASK_ROOT"]
class Finder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "secrets":
            return None
        where = task + "/private/secrets.py"
        return importlib.util.spec_from_file_location(name, where,
                                                      loader=m.SourceFileLoader(name, where))
    @staticmethod
    def invalidate_caches():
        pass
sys.modules.pop("secrets", None)
sys.meta_path.insert(0, Finder)
attempt("claimed", lambda: importlib.import_module("secrets"))
sys.meta_path.remove(Finder)
attempt("vendored", lambda: __import__("late_mod"))
"""
        ).replace(
            "mark_invoke_phase()\n",
            "sys.path.insert(0, os.environ['LAMBDA_TASK_ROOT'] + '/vendor')\nmark_invoke_phase()\n",
            1,
        ),
        env=audit_only(core, LAMBDA_TASK_ROOT=str(task), PYTHONDONTWRITEBYTECODE="1"),
    )
    outcome = dict(line.split(" ", 1) for line in result.lines)
    # THEN the claimed read is decided as the read of that file (refused at invoke); the
    # vendored module, under a folder init put on sys.path, loads
    assert outcome["claimed"] == "BLOCKED files read", result.stderr
    assert outcome["vendored"] == "ALLOWED", result.stderr
    assert "xyzzy" not in result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
def test_sqlites_temporary_folder_variables_are_decided_like_other_dangerous_environment(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with the runtime bundle (no rule for these variables)
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function points SQLite's temporary files elsewhere through the environment
    # (round 26: SQLite reads SQLITE_TMPDIR, then TMPDIR, with no audit event)
    result = child(
        ROUND25
        + """
attempt("SQLITE_TMPDIR", lambda: os.environ.__setitem__("SQLITE_TMPDIR", os.getcwd()))
attempt("TMPDIR", lambda: os.environ.__setitem__("TMPDIR", os.getcwd()))
attempt("putenv", lambda: os.putenv("SQLITE_TMPDIR", os.getcwd()))
attempt("LANG", lambda: os.environ.__setitem__("LANG", "C.UTF-8"))
""",
        env=audit_only(core),
    )
    outcome = dict(line.split(" ", 1) for line in result.lines)
    # THEN each is a decided environment change, refused without a rule; others are not
    for name in ("SQLITE_TMPDIR", "TMPDIR", "putenv"):
        assert outcome[name] == "BLOCKED processes env", (name, result.stderr)
    assert outcome["LANG"] == "ALLOWED", result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_limit_files_sqlite_makes_itself_and_builtin_modules_made_by_hand(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a database the profile allows writing, in a folder of its own (SQLite's default
    # temporary folder, $TMPDIR, set there too), and the interpreter's built-in modules
    (tmp_path / "db").mkdir()
    database = str(tmp_path / "db" / "app.db")
    profile = profile_doc(files=[{"action": a, "target": database} for a in ("read", "write")])
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    outside = sorted(set(sys.builtin_module_names) - set(sys.stdlib_module_names))
    # WHEN SQLite keeps its journal beside the database and spills a temporary table, and code
    # that runs makes a built-in module outside the standard library's names by hand (round 26)
    result = child(
        ROUND25
        + f"""
import sqlite3, _imp, importlib.machinery as m
here = os.getcwd()
con = sqlite3.connect(here + "/db/app.db")
con.execute("PRAGMA journal_mode = PERSIST")
con.execute("CREATE TABLE t(x)")
con.commit()
con.execute("PRAGMA temp_store = FILE")
con.execute("PRAGMA temp.cache_size = 1")
con.execute("CREATE TEMP TABLE s(x)")
for _ in range(20):
    con.execute("INSERT INTO s VALUES (zeroblob(100000))")
print("journal", os.path.exists(here + "/db/app.db-journal"))
outside = {outside!r}
if outside:
    name = outside[0]
    attempt("import", lambda: __import__(name))
    module = _imp.create_builtin(m.ModuleSpec(name, None))
    _imp.exec_builtin(module)
    print("by-hand", type(module).__name__)
else:
    print("import BLOCKED (none)")
    print("by-hand module")
""",
        env=audit_only(core, TMPDIR=str(tmp_path / "db")),
    )
    outcome = dict(line.split(" ", 1) for line in result.lines)
    # THEN (the stated limits) SQLite writes its journal and temporary files itself, with no
    # audit event; a built-in module refused by name is made by _imp's own calls
    assert outcome["journal"] == "True", result.stderr
    assert outcome["import"].startswith("BLOCKED"), result.stderr
    assert outcome["by-hand"] == "module", result.stderr


# ast.parse's flags come from the ast module's PyCF_ONLY_AST (a global the function can
# rebind). The native core decides the compile at ast.parse's site by the flags its sealed
# compile() was given; the Python core by ast.parse's own local `flags` (and the name
# `compile` resolving to the builtin). A source object with __buffer__ (PEP 688, 3.12+) runs
# while compile() takes its buffer, after the flags were passed: from 3.13 (PEP 667) it can
# write ast.parse's local back.
AST_FLAGS_LOCAL = """
import ast, sys
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
SOURCE = b"PWNED = 6 * 7\\n"
class Source:
    def __buffer__(self, flags):
        sys._getframe(1).f_locals["flags"] = ast.PyCF_ONLY_AST_SAVED   # ast.parse's local
        return memoryview(SOURCE)
ast.PyCF_ONLY_AST_SAVED = ast.PyCF_ONLY_AST
ast.PyCF_ONLY_AST = 0
try:
    made = ast.parse(Source(), "<made>")
    print("made", type(made).__name__)
except PermissionError:
    print("refused")
except TypeError:
    print("no buffer protocol for Python classes")
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_frame_locals_rewritten_inside_a_c_call_fool_the_python_cores_ast_only_site_from_3_13(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with the base bundle, which allows compiling at ast.parse's site only for
    # a syntax tree
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function makes ast.parse ask for a code object, and rewrites the local from
    # inside the compile call (a source object's __buffer__)
    result = child(AST_FLAGS_LOCAL, env=audit_only(core))
    outcome = result.lines[-1] if result.lines else result.stderr
    if sys.version_info < (3, 12):
        # THEN before 3.12 a Python class cannot hand out a buffer at all
        assert outcome == "no buffer protocol for Python classes", result.stdout + result.stderr
    elif core == "native" or sys.version_info < (3, 13):
        # THEN the native core decides on the flags compile() was given: refused; so does the
        # Python core on 3.12, where the write does not reach the frame's fast locals
        assert outcome == "refused", result.stdout + result.stderr
    else:
        # AND from 3.13 the Python core reads the rewritten local and allows it: a code object
        # is made at the site (the stated limit: frame locals that code run inside a C call
        # can rewrite are not evidence; README, "What each layer does not stop")
        assert outcome == "made code", result.stdout + result.stderr


# ast.parse calls `compile` by a name its module (ast.compile) or the builtins answer. A C
# callable there adds no frame, so the compile's site is still ast.parse's: red team 136 made
# it functools.partial's __call__, which shifted the arguments by one, so compile() got flags
# 0 (code) while ast.parse's local said "syntax tree".
AST_COMPILE_REBOUND = (
    ATTEMPT
    + """
import ast, builtins, functools
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
SOURCE = "PWNED = 6 * 7"
def through(where):
    source = functools.partial(builtins.compile, SOURCE, "<made>")
    saved = getattr(where, "compile", None)
    setattr(where, "compile", type(source).__call__)
    try:
        made = ast.parse(source, "exec", 0)  # -> compile(SOURCE, "<made>", "exec", 0, 0x400...)
    finally:
        if where is builtins:
            builtins.compile = saved
        else:
            del ast.compile
    space = {}
    exec(made, space)
    print("ran", space["PWNED"])
attempt("module-global", lambda: through(ast))
attempt("builtins", lambda: through(builtins))
attempt("a-tree", lambda: print("tree", type(ast.parse("x = 1")).__name__))
"""
)


@pytest.mark.parametrize("core", ["native", "python"])
def test_ast_parse_calling_another_compile_is_not_the_parsers_work(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with the base bundle (ast.parse's site may compile to a syntax tree only)
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function points the name ast.parse calls (its module's global, or the
    # builtin) at a C callable that hands compile() flags 0, then runs what comes back
    result = child(AST_COMPILE_REBOUND, env=audit_only(core))
    # THEN on both cores the compile is decided as the site's code compile (not the parser's
    # tree), and refused; a real parse still passes
    assert result.lines == [
        "module-global BLOCKED PermissionViolation code compile",
        "builtins BLOCKED PermissionViolation code compile",
        "tree Module",
        "a-tree ALLOWED",
    ], result.stdout + result.stderr
    targets = {f["target"] for f in result.findings}
    assert all(t.endswith("ast.py:parse#code") for t in targets), targets


CACHED_CTYPES = """
import importlib.util, _imp, json
from importlib.machinery import ModuleSpec
origin = importlib.util.find_spec("_ctypes").origin  # (found before install: no decision)
import sandbox
status = sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
try:
    module = _imp.create_dynamic(ModuleSpec("_ctypes", None, origin=origin))
    print("ctypes back", hasattr(module, "_memmove_addr"))
except ImportError as exc:
    print("refused", type(exc).__name__)
print("layers", json.dumps(status["layers"], sort_keys=True))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_the_python_cores_kernel_layer_leaves_ctypes_to_be_taken_back(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with a profile that does not allow _ctypes, the kernel layers on (the
    # Python core loads them through ctypes, at install; the native core through itself)
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function asks CPython's extension loader for _ctypes directly
    result = child(CACHED_CTYPES, env={"SANDBOX_NATIVE": "off"} if core == "python" else None)
    assert result.returncode == 0, result.stderr
    layers = json.loads(result.lines[-1].removeprefix("layers "))
    # THEN with the native core it is an import like any other, refused by the profile
    if core == "native":
        assert result.lines[0] == "refused ImportViolation"
        return
    # AND with the Python core, when its kernel layer ran through ctypes, CPython 3.10-3.12
    # hands back the _ctypes it keeps from that load with no audit event at all: raw memory,
    # no decision. A documented limit of the Python core (red team 52; docs/ARCHITECTURE.md).
    # CPython 3.13 raises the import event for a kept extension too: refused there.
    used_ctypes = "active" in (layers["seccomp"], layers["landlock"])
    handed_back = used_ctypes and sys.version_info < (3, 13)
    assert result.lines[0] == ("ctypes back True" if handed_back else "refused ImportViolation")


DATACLASS_FIELD = """
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
import dataclasses
try:
    eval("6*7")
    print("eval allowed")
except PermissionError:
    print("eval refused")
payload = "print('injected', 6 * 7)"
C = type("C", (), {"__annotations__": {"x," + payload: int}, "x": 1})
D = dataclasses.dataclass(init=False)(C)
d = D()
repr(d)
print("equal", d == d)
"""


def test_a_dataclass_field_name_is_pasted_into_the_code_dataclasses_compiles(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN enforce at invoke with the python-runtime bundle, which allows dataclasses' code
    # generator to compile (decided by its site alone), and no eval for the function
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function makes a dataclass whose field name carries code
    result = child(DATACLASS_FIELD)
    assert result.returncode == 0, result.stderr
    # THEN its own eval is refused, but the text pasted into __repr__ (and, before 3.13,
    # __eq__) runs: a documented limit (red team 52; docs/ARCHITECTURE.md): dataclasses'
    # site is not checked against its templates, as namedtuple's is
    assert result.lines[0] == "eval refused" and result.lines[-1] == "equal True"
    assert "injected 42" in result.lines


@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize("phase", ["init", "invoke"])
def test_code_made_from_bytes_is_decided_in_every_phase(
    child: RunChild, tmp_path: Path, core: str, phase: str
) -> None:
    # GIVEN a module the deployment ships with its bytecode, and out/, where the profile lets
    # the function write, holding a module's bytecode it could have written
    import marshal
    import py_compile

    task = tmp_path / "task"
    (task / "out").mkdir(parents=True)
    (task / "shipped.py").write_text("VALUE = 1\n")
    py_compile.compile(str(task / "shipped.py"))
    (task / "planted.py").write_text("VALUE = 2\n")
    py_compile.compile(str(task / "planted.py"), cfile=str(task / "out" / "planted.pyc"))
    (task / "planted.py").unlink()
    import zipfile

    with zipfile.ZipFile(task / "zipped.zip", "w") as archive:  # (a module's bytecode only)
        archive.writestr("zipped.pyc", (task / "out" / "planted.pyc").read_bytes())
    names = ("shipped", "planted", "zipped")
    profile = profile_doc(
        modules=[{"action": "import", "target": n, "phase": "any"} for n in names],
        files=[{"action": a, "target": "{task}/out/**", "phase": "any"} for a in ("read", "write")]
        + [{"action": "read", "target": "{task}/zipped.zip", "phase": "any"}],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    script = (
        ROUND25
        + """
import marshal, importlib.machinery as m, importlib.util
task = os.environ["LAMBDA_TASK_ROOT"]
attempt("replace", lambda: (lambda: None).__code__.replace(co_consts=(None, 1)))
attempt("unmarshal", lambda: marshal.loads(marshal.dumps((lambda: 1).__code__)))
shipped = importlib.util.cache_from_source(task + "/shipped.py")
class OtherBytes(m.SourcelessFileLoader):
    # importlib's own get_code and _compile_bytecode, given bytes that are not the file's
    def get_data(self, path):
        return HEADER + OTHER
def other_bytes():
    spec = importlib.util.spec_from_file_location("shipped", shipped,
                                                  loader=OtherBytes("shipped", shipped))
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
attempt("other-bytes", other_bytes)
from importlib import _bootstrap_external
attempt("by-hand", lambda: _bootstrap_external._compile_bytecode(OTHER))
sys.path[:0] = [task + "/zipped.zip", task + "/out", task]
attempt("zip-bytecode", lambda: __import__("zipped"))
attempt("written-bytecode", lambda: __import__("planted"))
attempt("deployment-bytecode", lambda: __import__("shipped"))
""".replace("HEADER", repr((task / "out" / "planted.pyc").read_bytes()[:16])).replace(
            "OTHER", repr(marshal.dumps(compile("VALUE = 3", "x", "exec")))
        )
    )
    if phase == "init":
        script = script.replace("mark_invoke_phase()\n", "", 1)
    # WHEN the function makes code from bytes, in either phase
    result = child(script, env=audit_only(core, LAMBDA_TASK_ROOT=str(task)), cwd=tmp_path)
    outcome = dict(line.split(" ", 1) for line in result.lines)
    # THEN code built by hand, bytes unmarshalled, importlib handed other bytes than the file's
    # or called by hand, bytecode out of a zip archive, and bytecode where the function may
    # write are refused -- at init too, where a hijacked
    # dependency runs and keeps what it made (red team 54: a LOAD_CONST past the constants
    # reads and writes any memory, the audit hooks included) -- while the deployment's own
    # bytecode loads
    assert outcome == {
        "replace": "BLOCKED code construct",
        "unmarshal": "BLOCKED code unmarshal",
        "other-bytes": "BLOCKED code unmarshal",
        "by-hand": "BLOCKED code unmarshal",
        "zip-bytecode": "BLOCKED code unmarshal",
        "written-bytecode": "BLOCKED code unmarshal",
        "deployment-bytecode": "ALLOWED",
    }, result.stderr


def _shipped_with_bytecode(tmp_path: Path, source: str) -> tuple[Path, bytes]:
    """A task folder shipping module ``shipped`` (``source``) with its bytecode, and a profile
    that imports it and lets the function's script add an audit hook: (the folder, the
    ``.pyc``'s body after its 16-byte header)."""
    import py_compile

    task = tmp_path / "task"
    task.mkdir()
    (task / "shipped.py").write_text(source)
    pyc = Path(str(py_compile.compile(str(task / "shipped.py"))))
    profile = profile_doc(
        modules=[{"action": "import", "target": "shipped", "phase": "any"}],
        code=[{"action": "hook", "target": "<string>:<module>", "phase": "any"}],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    return task, pyc.read_bytes()[16:]


@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize("reader", ["marshal.loads", "_imp.get_frozen_object"])
def test_bytes_changed_while_the_import_systems_unmarshal_is_decided_are_not_what_runs(
    child: RunChild, tmp_path: Path, core: str, reader: str
) -> None:
    # GIVEN a module the deployment ships with its bytecode, a later audit hook of the
    # function's (its site allowed) standing for another thread that changes a buffer while
    # the sandbox decides, and importlib's marshal swapped for a C callable that unmarshals
    # that buffer whatever importlib hands it (red team 55: no Python frame in between)
    if reader == "_imp.get_frozen_object" and sys.version_info < (3, 11):
        pytest.skip("3.10's _imp.get_frozen_object takes a name only: it reads no buffer")
    import marshal

    task, body = _shipped_with_bytecode(tmp_path, "VALUE = 'shipped' * 40\n")
    other = marshal.dumps(compile("VALUE = 'other'", "x", "exec"))
    script = (
        ROUND25
        + """
import marshal, types, functools, collections, importlib.util
from importlib import _bootstrap_external
task = os.environ["LAMBDA_TASK_ROOT"]
real = REAL
live = bytearray(real)
other = OTHER.ljust(len(real), b"\\0")  # (marshal reads one object: the rest is ignored)
def later(event, args):
    if event == "marshal.loads" and args and args[0] == real:
        live[:] = other  # (the same length: the buffer stays where it is)
sys.addaudithook(later)
import _imp
reader = (functools.partial(marshal.loads, live) if READER == "marshal.loads"
          else functools.partial(_imp.get_frozen_object, "shipped", live))
loads = collections.defaultdict(reader).__getitem__
_bootstrap_external.marshal = types.SimpleNamespace(loads=loads)
sys.path.insert(0, task)
attempt("import", lambda: print("value", __import__("shipped").VALUE[:8]))
""".replace("OTHER", repr(other))
        .replace("REAL", repr(body))
        .replace("READER", repr(reader))
    )
    result = child(script, env=audit_only(core, LAMBDA_TASK_ROOT=str(task)), cwd=tmp_path)
    # THEN the native core unmarshals the bytes it decided (marshal.loads hands CPython an
    # immutable copy first: seal_marshal), and refuses any other unmarshaller importlib is
    # made to reach (it knows its sealed marshal.loads raised the event: red team 56); the
    # Python core cannot change or tell C functions, and the changed bytes run -- a documented
    # limit of the Python core (docs/ARCHITECTURE.md)
    assert result.returncode == 0, result.stderr
    expected = ["value other", "import ALLOWED"]
    if core == "native":
        expected = (
            ["value shippeds", "import ALLOWED"]
            if reader == "marshal.loads"
            # (_imp.get_frozen_object turns the refusal into an ImportError of its own; the
            # finding says what was refused)
            else ["import ERROR ImportError"]
        )
    assert result.lines[-len(expected) :] == expected, result.stderr
    if core == "native" and reader != "marshal.loads":
        refused = [json.loads(line) for line in result.stdout.splitlines() if "finding" in line]
        assert any(
            f.get("category") == "code" and f.get("action") == "unmarshal" for f in refused
        ), result.stdout


@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize("phase", ["init", "invoke"])
def test_another_pythons_bytecode_is_not_the_deployments_own(
    child: RunChild, tmp_path: Path, core: str, phase: str
) -> None:
    # GIVEN a module the deployment ships with its bytecode, and beside it the same body in
    # files that are not this Python's: another magic number under this Python's cache tag,
    # and this magic under another cache tag (red team 58 used a 3.12 .pyc of the machine's:
    # 3.11 does not verify bytecode, and another version's reads past its tables)
    import importlib.util
    import sys

    task, body = _shipped_with_bytecode(tmp_path, "VALUE = 'shipped' * 40\n")
    cache = task / "__pycache__"
    this_tag = sys.implementation.cache_tag
    other_magic = bytes([importlib.util.MAGIC_NUMBER[0] ^ 0x55]) + importlib.util.MAGIC_NUMBER[1:]
    header = importlib.util.MAGIC_NUMBER + bytes(12)
    (cache / f"other_magic.{this_tag}.pyc").write_bytes(other_magic + bytes(12) + body)
    (cache / "other_tag.cpython-01.pyc").write_bytes(header + body)
    (cache / f"this_python.{this_tag}.pyc").write_bytes(header + body)
    profile = json.loads((tmp_path / "profile.json").read_text())
    profile["rules"]["modules"] += [
        {"action": "import", "target": name, "phase": "any"}
        for name in ("other_magic", "other_tag", "this_python")
    ]
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    script = (
        ROUND25
        + """
from importlib import _bootstrap, _bootstrap_external, util
task = os.environ["LAMBDA_TASK_ROOT"]
class Finder:
    # (each file's body handed to importlib after this Python's header, without reading the
    # file: importlib's own magic check reads the bytes it is handed, not the file)
    @staticmethod
    def find_spec(name, path=None, target=None):
        files = {n: f for n, f in FILES}
        if name not in files:
            return None
        loader = _bootstrap_external.SourcelessFileLoader(name, os.path.join(task, files[name]))
        loader.get_data = lambda p: util.MAGIC_NUMBER + bytes(12) + BODY
        return _bootstrap.spec_from_loader(name, loader)
sys.meta_path.insert(0, Finder)
for name, _ in FILES:
    attempt(name, lambda: print("value", __import__(name).VALUE[:7]))
""".replace(
            "FILES",
            repr(
                [
                    ("other_magic", f"__pycache__/other_magic.{this_tag}.pyc"),
                    ("other_tag", "__pycache__/other_tag.cpython-01.pyc"),
                    ("this_python", f"__pycache__/this_python.{this_tag}.pyc"),
                ]
            ),
        ).replace("BODY", repr(body))
    )
    if phase == "init":
        script = script.replace("mark_invoke_phase()\n", "", 1)
    # WHEN the function has the import system load each
    result = child(script, env=audit_only(core, LAMBDA_TASK_ROOT=str(task)), cwd=tmp_path)
    # THEN only this Python's bytecode loads (its magic number in the file, its cache tag in
    # the name); the others are refused as not the deployment's own bytecode, on both cores
    assert result.returncode == 0, result.stderr
    assert result.lines[-4:] == [
        "other_magic BLOCKED code unmarshal",
        "other_tag BLOCKED code unmarshal",
        "value shipped",
        "this_python ALLOWED",
    ], result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_the_import_systems_rename_names_only_the_source_its_bytecode_is_the_cache_of(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a module the deployment ships with its bytecode, and another module's file name a
    # site could be granted for (red team 59 used dataclasses' file, whose site may compile)
    task, _ = _shipped_with_bytecode(tmp_path, "def f():\n    return 42\n")
    (task / "claimed.py").write_text("")
    profile = json.loads((tmp_path / "profile.json").read_text())
    profile["rules"]["modules"].append({"action": "import", "target": "claimed", "phase": "any"})
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    script = (
        ROUND25
        + """
import _imp
import _frozen_importlib as bootstrap, _frozen_importlib_external as external
task = os.environ["LAMBDA_TASK_ROOT"]
claimed = os.path.join(task, "claimed.py")
pyc = external.cache_from_source(os.path.join(task, "shipped.py"))
stats = {"mtime": os.stat(os.path.join(task, "shipped.py")).st_mtime, "size": 23}
class Claiming(external.SourceFileLoader):
    def path_stats(self, path):
        return stats  # (the shipped source's: its .pyc is current)
def find(loader_of):
    class Finder:
        @staticmethod
        def find_spec(name, path=None, target=None):
            return bootstrap.spec_from_loader(name, loader_of(name)) if name == "shipped" else None
    return Finder
real_cache_from_source = external.cache_from_source
def load(finder):
    sys.modules.pop("shipped", None)
    sys.meta_path.insert(0, finder)
    try:
        return __import__("shipped")
    finally:
        sys.meta_path.remove(finder)
# 1. a loader that says its source is another file: importlib renames the code to it
external.cache_from_source = lambda p, *a, **k: pyc if p == claimed else real_cache_from_source(p, *a, **k)
def claimed_source():
    print("claimed", load(find(lambda name: Claiming(name, claimed))).f.__code__.co_filename == claimed)
attempt("claimed-source", claimed_source)
external.cache_from_source = real_cache_from_source
# 2. a sourceless load (importlib renames nothing), then the function's own rename
caught = []
real_call = bootstrap._call_with_frames_removed
def keep(f, *args, **kw):
    if f is exec and args and type(args[0]).__name__ == "code":
        caught.append(args[0])
        return None
    return real_call(f, *args, **kw)
bootstrap._call_with_frames_removed = keep
load(find(lambda name: external.SourcelessFileLoader(name, pyc)))
bootstrap._call_with_frames_removed = real_call
def own_rename():
    _imp._fix_co_filename(caught[0], claimed)
    print("renamed", caught[0].co_filename == claimed)
attempt("own-rename", own_rename)
"""
    )
    # WHEN the function has importlib load it with a loader claiming the other file as its
    # source, and loads it sourceless then renames its code itself
    result = child(script, env=audit_only(core, LAMBDA_TASK_ROOT=str(task)), cwd=tmp_path)
    # THEN the native core lets the rename name only the source the checked .pyc is the cache
    # of (importlib's own rename of a normal import passes: every other test imports so);
    # the Python core cannot seal the rename, and both pass -- its documented limit
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.lines if not line.startswith("{")]
    if core == "native":
        assert lines[-2:] == [
            "claimed-source ERROR PermissionError",
            "own-rename ERROR PermissionError",
        ], lines
    else:
        assert lines[-4:] == [
            "claimed True",
            "claimed-source ALLOWED",
            "renamed True",
            "own-rename ALLOWED",
        ], lines


@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize("phase", ["init", "invoke"])
def test_an_unmarshaller_run_inside_the_import_systems_unmarshal_is_not_it(
    child: RunChild, tmp_path: Path, core: str, phase: str
) -> None:
    # GIVEN a module the deployment ships with its bytecode, a later audit hook of the
    # function's (its site allowed) that, at the import system's marshal.loads event, leaves a
    # garbage cycle whose finalizer is made of C callables only and lowers the collector's
    # threshold, so that the collection falls inside the unmarshal that follows; the
    # finalizer has _imp.get_frozen_object unmarshal a buffer holding the module file's
    # bytes -- no Python frame in between, so the innermost one is still importlib's
    # _compile_bytecode (red team 57: another thread then changed the buffer while the hook
    # compared it, and hand-made bytecode ran)
    if sys.version_info < (3, 11):
        pytest.skip("3.10's _imp.get_frozen_object takes a name only: it reads no buffer")
    task, body = _shipped_with_bytecode(
        tmp_path, "VALUE = ('shipped',) * 40\nMORE = [(i, str(i)) for i in range(9)]\n"
    )
    script = (
        ROUND25
        + """
import gc, functools, collections, _imp
task = os.environ["LAMBDA_TASK_ROOT"]
real = REAL
live = bytearray(real)
made = collections.defaultdict(functools.partial(_imp.get_frozen_object, "shipped", live))
armed = [True]
def later(event, args):
    if armed and event == "marshal.loads" and args and args[0] == real:
        armed.clear()
        class Cycle:
            __del__ = staticmethod(functools.partial(made.__getitem__, "inner"))  # (no frame)
        c = Cycle()
        c.me = c
        del c, Cycle
        gc.set_threshold(1)  # (the next allocation collects: marshal's first object)
sys.unraisablehook = lambda unraisable: print("finalizer", type(unraisable.exc_value).__name__)
sys.addaudithook(later)
sys.path.insert(0, task)
attempt("import", lambda: __import__("shipped"))
gc.set_threshold(700, 10, 10)
gc.collect()
print("inner", type(made.get("inner")).__name__)
""".replace("REAL", repr(body))
    )
    if phase == "init":
        script = script.replace("mark_invoke_phase()\n", "", 1)
    # WHEN the function imports that module, in either phase
    result = child(script, env=audit_only(core, LAMBDA_TASK_ROOT=str(task)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.lines if not line.startswith("{")]
    # THEN the native core counts as the import system's only the event its sealed
    # marshal.loads raised first, for what it was handed, with the collector held until it
    # returns: the finalizer's unmarshal is refused (it runs after the sealed call; no code
    # object made) and the module imports; the Python core cannot tell the two apart, and
    # the finalizer's unmarshal passes -- the documented limit of the Python core
    assert "import ALLOWED" in lines, result.stdout + result.stderr
    if core == "native":
        # (_imp.get_frozen_object turns the refusal into an ImportError of its own)
        assert "inner NoneType" in lines and "finalizer ImportError" in lines, lines
        refused = [json.loads(line) for line in result.stdout.splitlines() if "finding" in line]
        assert any(
            f.get("category") == "code" and f.get("action") == "unmarshal" for f in refused
        ), result.stdout
    else:
        assert "inner code" in lines, lines


SITE_CLAIMED = """
import os, sys, json, sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
import _imp, dataclasses
claimed = {}
class Text(str):
    pass
# at init: code compiled under another module's file name, and a subclass of that name;
# other absolute names are not decided at init
import ast
D = dataclasses.__file__
for label, name in (("compiled-as", D), ("compiled-as-text", Text(D)),
                    # (names a site reads as that file: red team 60)
                    ("spelled", [D + "/", D + "/.", D + "/x/..", D + ":x", (D + "/").encode()]),
                    ("tree", D), ("template", "/var/task/templates/page.html")):
    try:
        for one in name if type(name) is list else [name]:
            source = "def payload():\\n    return eval('6*7')\\n"
            exec(compile(ast.parse(source) if label == "tree" else source, one, "exec"), claimed)
        claimed[label] = claimed["payload"]
        print(label, "compiled")
    except PermissionError:
        print(label, "refused")
# through importlib's own compile, under a name that reads as a site (red team 61), and a
# syntax tree made code by ast.parse with its flag rebound (no file name in the event)
from importlib import machinery
def tree_to_code():
    ast.PyCF_ONLY_AST = 0
    try:
        return ast.parse("x = 1", filename=D)
    finally:
        ast.PyCF_ONLY_AST = 1024
for label, make in (
    ("loader-site", lambda: machinery.SourceFileLoader("x", D).source_to_code(b"x = 1", D + ":x")),
    ("parse-to-code", tree_to_code),
):
    try:
        make()
        print(label, "compiled")
    except PermissionError:
        print(label, "refused")
# and a module file's own content under its own name (runpy): its code
with open(dataclasses.__file__, "rb") as f:
    own_content = f.read()
try:
    compile(own_content, dataclasses.__file__, "exec")
    print("own-content compiled")
except PermissionError:
    print("own-content refused")
def own():
    return eval("6*7")
def renamed():
    return eval("6*7")
mark_invoke_phase()
for label, fn in (("own", own), ("renamed", renamed)):
    try:
        if label == "renamed":
            _imp._fix_co_filename(renamed.__code__, dataclasses.__file__)  # (no audit event)
        print(label, fn())
    except PermissionError:
        print(label, "refused")
"""


BORROWED_FRAME = """
import os, sys, gc, functools, sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
import lib
mark_invoke_phase()
def attempt(label, fn):
    try:
        print(label, fn())
    except PermissionError:
        print(label, "refused")
class Hashed:
    __hash__ = staticmethod(functools.partial(eval, "6*7"))  # (C callables: no frame)
class Finalized:
    __del__ = staticmethod(functools.partial(eval, "print('finalized', 6*7)"))
attempt("own", lambda: eval("6*7"))
attempt("hashed-by-the-library", lambda: lib.helper(Hashed()))
attempt("dropped-by-the-library", lambda: lib.helper([Finalized()]))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_c_callables_run_under_the_frame_that_calls_them(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a library whose function may evaluate text at invoke (its site is granted
    # compile), and a function whose own code may not
    task = tmp_path / "task"
    task.mkdir()
    (task / "lib.py").write_text(
        "def helper(value):\n"
        "    if isinstance(value, list):\n"
        "        value.clear()\n"
        "        return 'cleared'\n"
        "    return {value: 1} and 'hashed'\n"
    )
    profile = profile_doc(
        modules=[{"action": "import", "target": "lib", "phase": "any"}],
        code=[{"action": "compile", "target": "{task}/lib.py:helper", "phase": "invoke"}],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN the function evaluates text itself, then hands the library an object whose
    # __hash__ is a C callable that evaluates text, and one whose finalizer is (the library's
    # frame drops the last reference)
    result = child(BORROWED_FRAME, env=audit_only(core, LAMBDA_TASK_ROOT=str(task)), cwd=tmp_path)
    # THEN its own eval is refused and the C callable's passes as the library's: code made
    # only of C callables (a slot, a finalizer, a weakref callback) has no frame, and its
    # events are charged to the frame that runs when it is called -- an open limit of both
    # cores (docs/ARCHITECTURE.md), like the file name a code object claims (above)
    assert result.returncode == 0, result.stderr
    assert result.lines[-4:] == [
        "own refused",
        "hashed-by-the-library hashed",
        "finalized 42",
        "dropped-by-the-library cleared",
    ], result.stderr


WARNINGS_DURING_THE_SHAPE = """
import sys, _ast, warnings, functools, itertools, collections
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
sys.path.insert(0, "task")
import app
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
SOURCE = "(print('RAN'), '\\d')"  # (an invalid escape: the parse warns)
def attempt(label):
    try:
        app.calc(SOURCE)
        print(label, "ran")
    except PermissionError as exc:
        print(label, "refused", exc.category, exc.action)
    except Exception as exc:
        print(label, "error", type(exc).__name__)
attempt("plain")
# C callables only (no frame of their own): when run, they make Tuple's nodes keep a line
# number for their elements, hiding the call from the shape
T = _ast.Tuple
steps = itertools.starmap(setattr, [(T, "_fields", ("elts",)),
                                    (T, "lineno", property(None, _ast.AST.__init__))])
class Finalized:
    __del__ = staticmethod(functools.partial(collections.deque, steps, 0))
# A filters list CPython's C warning code keeps, then swaps out (dropping it) at the next
# warning: the shape parse's own
kept = [("ignore", None, Warning, None, 0), ("ignore", Finalized(), Warning, None, 0)]
warnings.filters, before = kept, warnings.filters
warnings.warn("kept")
warnings.filters = list(before)
del kept
attempt("dropped-list")
"""


def _tuple_site(tmp_path: Path) -> Path:
    """``task/app.py``'s ``calc`` (an eval site) and a profile that lets it evaluate tuples of
    constants only; the task folder."""
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text("def calc(s):\n    return eval(s)\n")
    site = "{task}/app.py:calc"
    profile = profile_doc(
        modules=[{"action": "import", "target": "app", "phase": "any"}],
        code=[
            {"action": "compile", "target": site, "phase": "any"},
            *(
                {"action": "shape", "target": f"{site}#{f}", "phase": "any"}
                for f in ("Tuple", "Constant")
            ),
        ],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    return task


def _at_tuple_site(
    child: RunChild, tmp_path: Path, code: str, core: str
) -> tuple[Child, dict[str, str]]:
    """Run ``code`` in a child whose task is :func:`_tuple_site`'s, on ``core``: the result and
    its ``label value`` lines as a dict."""
    task = _tuple_site(tmp_path)
    result = child(code, env=audit_only(core, LAMBDA_TASK_ROOT=str(task)), cwd=tmp_path)
    return result, dict(line.split(" ", 1) for line in result.lines if " " in line)


@pytest.mark.parametrize("core", ["native", "python"])
def test_code_run_by_a_warning_during_the_shape_parse_changes_nothing(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN an eval site whose rules allow tuples of constants only
    # WHEN a source with a call is evaluated there, plainly, and after the function had
    # CPython's C warning code keep a filters list whose drop runs C callables of its own
    # (the shape parse warns: red team 110)
    result, lines = _at_tuple_site(child, tmp_path, WARNINGS_DURING_THE_SHAPE, core)
    # THEN the plain call is refused by its shape; and on the native core the dropped list's
    # finalizer runs before the decision (in the caller's own context), so the shape sees what
    # it did: refused too. The Python core cannot tell the C warning state: a documented limit
    assert lines["plain"] == "refused code shape", result.stdout + result.stderr
    if core == "native":
        assert lines["dropped-list"] == "refused code shape", result.stdout + result.stderr
        assert "RAN" not in result.lines
    else:
        assert lines["dropped-list"] == "ran", result.stdout + result.stderr


NODES_CAUGHT_DURING_THE_SHAPE = """
import sys, threading, time, _ast
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
sys.path.insert(0, "task")
import app
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
# Another thread sets and deletes a property on Tuple (an attribute the parser sets after the
# fields) whose C setter keeps each node it is handed, and empties a kept node's elements:
# the walk, which pops the padding's constants first, would read a tuple with no call in it
caught = {}
setter = property(None, caught.__setitem__)
stop = []
def race():
    while not stop:
        _ast.Tuple.end_col_offset = setter
        time.sleep(0)
        del _ast.Tuple.end_col_offset
        for node in list(caught):
            elements = vars(node).get("elts")
            if type(elements) is list:
                elements.clear()
        caught.clear()
        time.sleep(0)
sys.setswitchinterval(1e-6)
racer = threading.Thread(target=race)
racer.start()
ran = []
for attempt in range(ATTEMPTS):
    try:
        app.calc("((ran.append(%d), 2)," % attempt + "0," * 3000 + ")")
    except PermissionError:
        pass
stop.append(True)
racer.join()
print("ran", len(ran))
"""


def test_nodes_caught_by_a_descriptor_set_around_the_check_change_no_shape(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN an eval site whose rules allow tuples of constants only
    task = _tuple_site(tmp_path)
    # WHEN another thread sets and deletes, again and again, a descriptor on the unsealed Tuple
    # class that catches the parser's nodes, and empties them before the walk reads them, while
    # the function evaluates a tuple holding a call (red team 111: it ran within 84 to 11,571
    # attempts on the core before the fix)
    code = NODES_CAUGHT_DURING_THE_SHAPE.replace("ATTEMPTS", "3000")
    result = child(
        code, env=audit_only("native", LAMBDA_TASK_ROOT=str(task)), cwd=tmp_path, timeout=300
    )
    # THEN the call never runs: the class's version changed between its check and the walk
    assert "ran 0" in result.lines, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.mark.skipif(sys.version_info < (3, 14), reason="warnings contexts are 3.14's")
def test_a_warnings_context_refuses_the_shape_parse(child: RunChild, tmp_path: Path) -> None:
    # GIVEN an eval site whose rules allow tuples of constants, and a warnings context set by
    # the function (3.14: its filters are asked before the global list, whatever
    # sys.flags.context_aware_warnings says; a match of the function's would run in the parse)
    task = _tuple_site(tmp_path)
    code = """
import sys, warnings
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
sys.path.insert(0, "task")
import app
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
print("allowed", app.calc("(1, 2)"))
class Context:
    _filters = [("ignore", None, Warning, None, 0)]
warnings._warnings_context.set(Context())
try:
    app.calc("(3, 4)")  # (another source: not one decided before)
    print("context", "ran")
except PermissionError as exc:
    print("context", "refused", exc.target)
"""
    result = child(code, env=audit_only("native", LAMBDA_TASK_ROOT=str(task)), cwd=tmp_path)
    lines = dict(line.split(" ", 1) for line in result.lines if " " in line)
    # THEN with the context set, even a harmless source is not shaped: refused
    assert lines["allowed"] == "(1, 2)", result.stdout + result.stderr
    assert lines["context"].startswith("refused <code shaped while the warning filters"), lines


CLASS_DICT_ROUTES = """
import collections.abc, operator, types
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
handed = []
class Keep:  # (every comparison and `|` keeps what it is handed)
    def __eq__(self, other):
        handed.append(other)
        return NotImplemented
    __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __or__ = __ror__ = __eq__
    __hash__ = None
class KeepDict(dict):  # (a dict subclass's reflected methods are asked first)
    __eq__ = __or__ = __ror__ = Keep.__eq__
class KeepMapping(collections.abc.Mapping):
    __getitem__ = dict().__getitem__
    __len__ = lambda self: 0
    __iter__ = lambda self: iter(())
    __eq__ = __or__ = __ror__ = Keep.__eq__
    __hash__ = None
P = str.__dict__
Proxy = type(P)
routes = {
    "==": lambda: P == Keep(), "!=": lambda: P != Keep(), "<": lambda: P < Keep(),
    ">= reflected": lambda: Keep() >= P, "|": lambda: P | Keep(), "| reflected": lambda: Keep() | P,
    "dict subclass ==": lambda: P == KeepDict(), "dict subclass |": lambda: KeepDict() | P,
    "proxy of a mapping ==": lambda: types.MappingProxyType(KeepMapping()) == P,
    "proxy of a mapping |": lambda: P | types.MappingProxyType(KeepMapping()),
    "wrapper __eq__": lambda: Proxy.__eq__(P, Keep()), "wrapper __ror__": lambda: Proxy.__ror__(P, Keep()),
    "operator.eq": lambda: operator.eq(P, Keep()), "list.index": lambda: [Keep()].index(P),
}
# object.__getstate__ (3.11+) of a class: CPython's default state is the class's own dict
# (every class on 3.11, heap types -- re.Pattern, sealed classes -- from 3.12)
import re
for label, cls in (("str", str), ("re.Pattern", re.Pattern)):
    if hasattr(object, "__getstate__"):
        routes["getstate " + label] = lambda cls=cls: handed.append(object.__getstate__(cls))
        routes["bound getstate " + label] = lambda cls=cls: handed.append(
            object.__getstate__.__get__(cls)())
        routes["super getstate " + label] = lambda cls=cls: handed.append(
            super(type, cls).__getstate__())
        # (method_descriptor's own __get__, called on the descriptor: red team 114)
        routes["descriptor __get__ getstate " + label] = lambda cls=cls: handed.append(
            type(str.join).__get__(vars(object)["__getstate__"], cls)())
leaked = []
for name, route in routes.items():
    del handed[:]
    try:
        route()
    except Exception:
        pass
    if any(type(seen) is dict for seen in handed):
        leaked.append(name)
print("leaked", leaked)
print("plain", P == dict(P), (P | {"x": 1})["x"], dict(P) == P, P == types.MappingProxyType(dict(P)))
# type.__abstractmethods__'s setter writes a class's dict and flags with no check of the
# immutable flag (red team 114): a built-in's, a sealed one's; a class of the function's
abstract = type.__dict__["__abstractmethods__"]
class Mine:
    pass
outcomes = []
for cls in (str, re.Pattern, Mine):
    try:
        abstract.__set__(cls, frozenset({"x"}))
        outcomes.append("set")
        abstract.__delete__(cls)
    except TypeError:
        outcomes.append("refused")
print("abstract", " ".join(outcomes))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_no_operator_of_a_class_dict_hands_the_real_dict_to_the_functions_code(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN an enforced function that compares a class's __dict__ (a mappingproxy) with, and
    # `|`s it with, objects that keep what they are handed: its own, a dict subclass, a proxy
    # over a mapping of its own, through the operators, the slot wrappers and C callers; and
    # that asks object.__getstate__ for a class's state, unbound, bound and through super()
    # (red team 113)
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    result = child(CLASS_DICT_ROUTES, env=audit_only(core), cwd=tmp_path)
    lines = dict(line.split(" ", 1) for line in result.lines if " " in line)
    # THEN on the native core no route hands over the real dict (with it, red team 112 changed
    # str, re.Pattern and object with no audit event: matchers said yes to any path, the shape
    # parser's nodes were caught); comparisons with plain dicts and proxies answer as before.
    # The Python core cannot change CPython's proxy: every route leaks (a documented limit)
    assert lines["plain"] == "True 1 True True", result.stdout + result.stderr
    if core == "native":
        assert lines["leaked"] == "[]", result.stdout + result.stderr
        # AND no immutable class is made abstract (its dict written) behind its back
        assert lines["abstract"] == "refused refused set", result.stdout + result.stderr
    else:
        assert "'=='" in lines["leaked"] and "'|'" in lines["leaked"], lines
        assert lines["abstract"] == "set set set", result.stdout + result.stderr


UNICODEDATA_OF_ANOTHER_CLASS = """
import functools, sys, types
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
sys.path.insert(0, "task")
import app
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
print("plain", app.calc("('\\u00e9t\\u00e9', 1)"))
asked = {}
class Answering(types.ModuleType):  # (C callables only: no frame of its own)
    __getattribute__ = staticmethod(functools.partial(dict.__setitem__, asked))
sys.modules["unicodedata"].__class__ = Answering
try:
    app.calc("(\\u00e9t\\u00e9, 1)")  # (a non-ASCII name: normalized with unicodedata)
    print("swapped", "ran")
except PermissionError as exc:
    print("swapped", "refused", exc.target)
print("asked", len(asked))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_unicodedata_of_another_class_is_never_asked_inside_the_shape_parse(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN an eval site whose rules allow tuples of constants, and the real unicodedata
    # module given a class of the function's whose attribute lookup is a C callable (red team
    # 113 raised an exception of its own from it inside the parse and read the hook's frames)
    # WHEN a source with a non-ASCII name is evaluated there
    result, lines = _at_tuple_site(child, tmp_path, UNICODEDATA_OF_ANOTHER_CLASS, core)
    # THEN it is refused unshaped, and the module's class was never asked anything
    assert lines["plain"] == "('\u00e9t\u00e9', 1)", result.stdout + result.stderr
    assert lines["swapped"] == (
        "refused <code shaped with parser classes or modules that were changed>"
    ), result.stdout + result.stderr
    assert lines["asked"] == "0"


@pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("_remote_debugging") is None,
    reason="_remote_debugging is CPython 3.14's",
)
def test_the_remote_debugging_module_is_not_a_standard_library_import(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a profile that allows the standard library's imports ({stdlib}, the runtime's)
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function imports 3.14's _remote_debugging (it reads a process's memory and
    # stacks with process_vm_readv, no audit event: red team 113)
    code = """
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
try:
    import _remote_debugging
    print("import", "done")
except ImportError as exc:
    print("import", "refused", type(exc).__name__)
"""
    result = child(code, env=audit_only("native"), cwd=tmp_path)
    # THEN it is refused, as ctypes is: a capability a profile names on its own
    assert "import refused ImportViolation" in result.lines, result.stdout + result.stderr


def test_an_extension_whose_exec_fails_keeps_its_own_error(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a profile with no rule for asyncio, and _asyncio's exec, which imports it
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    code = """
import sys, sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
sys.modules.pop("asyncio", None)
try:
    import _asyncio
    print("import", "done")
except BaseException as exc:
    print("import", type(exc).__name__)
"""
    # WHEN the function imports _asyncio in an invocation
    result = child(code, env=audit_only("native"), cwd=tmp_path)
    # THEN the import fails with the refusal its exec met (red team 114: a SystemError,
    # "error return without exception set", where the core's check after it cleared it)
    lines = dict(line.split(" ", 1) for line in result.lines if " " in line)
    assert lines.get("import") == "PermissionViolation", result.stdout + result.stderr


SYNTAX_CLASS_OF_ANOTHER_METACLASS = """
import ast, itertools, sys
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
sys.path.insert(0, "task")
import app
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
hashed = []
class Answering(type):  # (C callables only: no frame of their own)
    __hash__ = map(
        {}.get, map(hashed.append, itertools.repeat("hashed")), itertools.repeat(12345)
    ).__next__
    __eq__ = bool
class Root(ast.Expression, metaclass=Answering):
    pass
tree = ast.fix_missing_locations(Root(body=ast.Constant(1)))
try:
    app.cc(tree, "<tree>", "eval")
    print("compiled", "yes")
except PermissionError as exc:
    print("compiled", "refused")
print("hashed", len(hashed))
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_syntax_class_of_another_metaclass_runs_nothing_in_the_shape_walk(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a compile site whose rules allow trees of constants, and a subclass of a syntax
    # class whose metaclass hashes with C callables of the function's (red team 115: they
    # ran inside the hook, where globals() handed over a private module's dict)
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text("def cc(*args):\n    return compile(*args)\n")
    site = "{task}/app.py:cc"
    rules = [{"action": "compile", "target": site, "phase": "any"}] + [
        {"action": "shape", "target": f"{site}#{f}", "phase": "any"}
        for f in ("syntax-tree", "Constant", "Expression")
    ]
    profile = profile_doc(
        modules=[{"action": "import", "target": "app", "phase": "any"}], code=rules
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    # WHEN the function compiles a tree whose root is of that class
    result = child(
        SYNTAX_CLASS_OF_ANOTHER_METACLASS,
        env=audit_only(core, LAMBDA_TASK_ROOT=str(task)),
        cwd=tmp_path,
    )
    lines = dict(line.split(" ", 1) for line in result.lines if " " in line)
    # THEN it is refused, and the class's hash never ran
    assert lines == {"compiled": "refused", "hashed": "0"}, result.stdout + result.stderr


METHOD_SWAPPED_THROUGH_A_CLASS_DICT = """
import re, sys
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
handed = []
class Keep:
    def __eq__(self, other):
        handed.append(other)
        return True
    __hash__ = None
re.Pattern.__dict__ == Keep()
real = next((seen for seen in handed if type(seen) is dict), None)
print("dict", real is not None)
if real is not None:
    # Pattern.match is Pattern.search now: a rule's regex found at the end of any deeper path
    real["match"] = real["search"]
    (getattr(sys, "_clear_internal_caches", None) or sys._clear_type_cache)()  # (3.14's name)
try:
    open(TARGET, "w").close()
    print("write", "done")
except PermissionError:
    print("write", "refused")
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_regex_method_swapped_through_a_class_dict_widens_no_rule(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN the runtime's rule that lets a function write an 8-character file directly in the
    # temp folder, and a folder outside every rule whose path ends as the temp folder's does
    import tempfile

    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    deeper = tmp_path / "w" / tempfile.gettempdir().strip("/")
    deeper.mkdir(parents=True)
    target = deeper / "abcdefgh"
    # WHEN the function takes re.Pattern's real dict through its proxy's comparison and makes
    # `match` search, then writes that file (red team 112: allowed, and made)
    code = METHOD_SWAPPED_THROUGH_A_CLASS_DICT.replace("TARGET", repr(str(target)))
    result = child(code, env=audit_only(core), cwd=tmp_path)
    lines = dict(line.split(" ", 1) for line in result.lines if " " in line)
    # THEN on the native core the dict never reaches it: the write is refused, nothing made.
    # The Python core cannot close the proxy: the write is made (a documented limit)
    if core == "native":
        assert lines == {"dict": "False", "write": "refused"}, result.stdout + result.stderr
        assert not target.exists()
    else:
        assert lines == {"dict": "True", "write": "done"}, result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_syntax_tree_compiled_under_a_module_files_name_is_that_claim(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a site of the function's allowed to compile syntax trees at invoke (its rule and
    # learned shapes), and another module's file (dataclasses', whose site may compile)
    import ast

    from sandbox.runtime.decoders.shape import features

    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text(
        "import ast\ndef build(name):\n    return compile(ast.parse('6 * 7', mode='eval'), name, 'eval')\n"
    )
    site = "{task}/app.py:build"
    profile = profile_doc(
        modules=[{"action": "import", "target": "app", "phase": "any"}],
        code=[
            {"action": "compile", "target": site, "phase": "invoke"},
            *(
                {"action": "shape", "target": site + "#" + feature, "phase": "invoke"}
                for feature in (*features(ast.parse("6 * 7", mode="eval")), "syntax-tree")
            ),
        ],
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    script = (
        ROUND25
        + """
import dataclasses
sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
import app
attempt("own-name", lambda: app.build("<tree>"))
attempt("module-name", lambda: app.build(dataclasses.__file__))
attempt("module-name-bytes", lambda: app.build((dataclasses.__file__ + "/").encode()))
"""
    )
    # WHEN the site compiles a tree under its own kind of name, and under dataclasses' file
    result = child(script, env=audit_only(core, LAMBDA_TASK_ROOT=str(task)), cwd=tmp_path)
    # THEN the native core refuses the tree named as another module's file (it knows the
    # call's name: CPython's event carries none for a tree) and allows the other; the Python
    # core cannot tell the name and allows both -- its documented limit
    assert result.returncode == 0, result.stderr
    refused = "BLOCKED code compile" if core == "native" else "ALLOWED"
    assert result.lines[-3:] == [
        "own-name ALLOWED",
        f"module-name {refused}",
        f"module-name-bytes {refused}",
    ], result.stdout + result.stderr


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_site_is_the_file_name_its_code_claims(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with the runtime bundle, which lets dataclasses' code generator compile at
    # invoke (its site, {stdlib}/dataclasses.py:**), and no eval for the function's own code
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function compiles code at init under dataclasses' file name (an exact str, a
    # str subclass, spellings a site reads as that file, a syntax tree: CPython's event names
    # no file for one), under a template's name, and dataclasses' own content under its name;
    # then evaluates text at invoke from its own function, and from one it renames to
    # dataclasses' file with _imp._fix_co_filename (no audit event)
    result = child(SITE_CLAIMED, env=audit_only(core))
    # THEN code claiming a module's file that is not its content is refused at init too
    # (decided as a compile of that file: no rule allows it), while other names stay
    # undecided at init and a module's own content compiles; its own site is refused at
    # invoke; the rename is refused by the native core (after install it renames only the
    # code the import system has just unmarshalled) and passes as dataclasses' site with the
    # Python core, which cannot seal it -- a documented limit (red team 56;
    # docs/ARCHITECTURE.md), as are sites that are not module files ("<string>", a template)
    assert result.returncode == 0, result.stderr
    renamed = "renamed refused" if core == "native" else "renamed 42"
    assert result.lines[-10:] == [
        "compiled-as refused",
        "compiled-as-text refused",
        "spelled refused",
        "tree refused",
        "template compiled",
        "loader-site refused",
        "parse-to-code refused",
        "own-content compiled",
        "own refused",
        renamed,
    ], result.stderr


# getsockopt(level, option, buflen): CPython hands the kernel a buffer it allocated and never
# set. For TCP_ZEROCOPY_RECEIVE the kernel reads it first -- its struct names the address the
# received bytes are copied to -- and a bytes object of the same size freed just before leaves
# its contents there (red team 138: an immutable object rewritten, then the audit hook list).
ZEROCOPY_TARGET = """
import os, socket, struct, select, time, sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
target = bytes([0x41]) * 24  # an immutable object: its data at id() + 32 (64-bit)
address = id(target) + 32
peer = socket.create_connection(("127.0.0.1", int(os.environ["PEER_PORT"])))
select.select([peer], [], [], 5)
time.sleep(0.2)
planted = 0
for attempt in range(50):
    layout = struct.pack("<QIIIiQiIQQII", 0, 0, 0, 0, 0, address, 64, 0, 0, 0, 0, 0)
    del layout  # (its memory is the next 64-byte buffer's)
    try:
        reply = peer.getsockopt(socket.IPPROTO_TCP, 35, 64)  # TCP_ZEROCOPY_RECEIVE
    except OSError as exc:
        print("error", exc.errno)
        break
    planted += struct.unpack("<QIIIiQiIQQII", reply)[5] == address
print("planted seen", planted > 0)
print("target", "unchanged" if target == bytes([0x41]) * 24 else "rewritten")
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_getsockopt_hands_the_kernel_no_bytes_of_the_functions(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce with one loopback peer allowed, which sends the function 16 bytes
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve() -> None:
        try:
            connection, _ = server.accept()
            with connection:
                connection.sendall(b"REWRITTEN-BY-TCP")
                connection.recv(1)  # (until the child goes)
        except OSError:
            pass  # (the child reset the connection, or the test closed the server)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    rules = [{"action": "connect", "target": f"127.0.0.1:{port}", "phase": "any"}]
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(network=rules)))
    try:
        # WHEN the function plants a struct naming an immutable object's data where CPython's
        # next getsockopt buffer comes from, and asks for TCP_ZEROCOPY_RECEIVE
        result = child(ZEROCOPY_TARGET, env=audit_only(core, PEER_PORT=str(port)))
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    if core == "native":
        # THEN the native core hands the kernel a zeroed buffer: nothing planted is read, and
        # the object is untouched
        assert result.lines[-2:] == ["planted seen False", "target unchanged"], result.stdout
        return
    # AND the Python core cannot (a documented limit): the call is not even seen
    assert result.lines[-1] in ("target unchanged", "target rewritten"), result.stdout


# recv(n, MSG_TRUNC) on a datagram socket: the kernel answers the datagram's whole length while
# it copied n bytes, and CPython grows its result to that length -- the rest is heap memory
# nobody wrote, freed memory of the process (red team 139 read back a freed str's text).
TRUNCATED_DATAGRAM = """
import re, socket, sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
for way in ("recv", "recvfrom"):
    freed = "".join("token=%06d;" % i for i in range(800))
    ours.send(b"\\x00" * (len(freed) + 15))
    del freed
    got = getattr(theirs, way)(1, socket.MSG_TRUNC)
    data = got if way == "recv" else got[0]
    print(way, len(data) > 1, "tokens" if re.search(rb"token=[0-9]{6};", data) else "zeros"
          if data == bytes(len(data)) else "other")
"""


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_truncated_datagram_hands_back_no_freed_memory_on_the_native_core(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN enforce (a socket pair needs no rule)
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc()))
    # WHEN the function frees a long str, then receives one byte of a longer datagram with
    # MSG_TRUNC, through recv and recvfrom
    result = child(TRUNCATED_DATAGRAM, env=audit_only(core))
    assert result.returncode == 0, result.stderr
    if core == "native":
        # THEN the length is the kernel's answer (what MSG_TRUNC asks for) and the rest is
        # zeros: nothing freed is read back
        assert result.lines == ["recv True zeros", "recvfrom True zeros"], result.stdout
        return
    # AND the Python core cannot see the call (a documented limit): the length is the same
    assert [line.split()[:2] for line in result.lines] == [["recv", "True"], ["recvfrom", "True"]]
