"""Network: names checked before DNS, IPs matched through the names they resolved from.

Every packet here goes to 127.0.0.1. Metadata and other non-loopback targets are modelled by
raising their audit events directly, so nothing could be sent even if a block failed.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.conftest import ATTEMPT, RunChild, profile_doc, profile_from_observations

SERVER = """
import os, socket, threading
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(os.environ["TEST_PORT"])))
listener.listen(8)
PORT = listener.getsockname()[1]
def serve():
    while True:
        conn, _ = listener.accept()
        conn.sendall(b"pong")
        conn.close()
threading.Thread(target=serve, daemon=True).start()
"""

LEARN = (
    SERVER
    + """
import sandbox, sys
sandbox.install(mode="learn")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
with socket.create_connection(("localhost", PORT)) as s:
    print(s.recv(4).decode())
"""
)

ENFORCE = (
    ATTEMPT
    + SERVER
    + """
import sandbox, sys
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
attempt("learned-name", lambda: socket.create_connection(("localhost", PORT)).close())
# Modelled (a trailing-dot name is not in /etc/hosts, so it must never be really resolved).
attempt("learned-name-mixed-case-dot", lambda: sys.audit("socket.getaddrinfo", "LocalHost.", PORT, 0, 0, 0))
# The machine's own hostname is answered by /etc/hosts: no DNS query even if this were allowed.
attempt("other-name", lambda: socket.getaddrinfo(socket.gethostname(), PORT))
attempt("other-name-gethostbyname", lambda: socket.gethostbyname(socket.gethostname()))
# A raw IP nobody resolved: blocked even though it is loopback and the port is right.
attempt("raw-ip", lambda: socket.create_connection(("127.0.0.2", PORT), timeout=1).close())
attempt("other-port", lambda: socket.create_connection(("localhost", PORT + 1), timeout=1).close())
# Modelled, never sent: the audit event alone decides, before any connect happens.
probe = socket.socket()
attempt("metadata-ipv4", lambda: sys.audit("socket.connect", probe, ("169.254.169.254", 80)))
attempt("metadata-ipv6", lambda: sys.audit("socket.connect", probe, ("fd00:ec2::254", 80, 0, 0)))
attempt("metadata-name", lambda: sys.audit("socket.getaddrinfo", "instance-data", 80, 0, 0, 0))
attempt("ipv6-mapped", lambda: sys.audit("socket.connect", probe, ("::ffff:169.254.169.254", 80, 0, 0)))
attempt("raw-socket", lambda: sys.audit("socket.__new__", probe, socket.AF_INET, socket.SOCK_RAW, 0))
"""
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_learn_then_enforce_network(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a function that connects to a loopback service by name
    port = _free_port()
    env = {"TEST_PORT": str(port)}
    learned = child(LEARN, env=env)
    assert learned.returncode == 0, learned.stderr
    net = {(o["action"], o["target"]) for o in learned.observations if o["category"] == "network"}
    # THEN learn recorded the name (resolve) and the connect bound to the name, not the IP
    assert ("resolve", "localhost") in net
    assert ("connect", f"localhost:{port}") in net
    # WHEN enforcing the learned profile
    (tmp_path / "profile.json").write_text(
        json.dumps(profile_from_observations(learned.observations))
    )
    enforced = child(ENFORCE, env=env)
    assert enforced.returncode == 0, enforced.stderr
    outcome = dict(line.split(" ", 1) for line in enforced.lines)
    # THEN the learned name and port work, whatever the case or trailing dot
    assert outcome["learned-name"] == "ALLOWED"
    assert outcome["learned-name-mixed-case-dot"] == "ALLOWED"
    # AND other names are stopped at resolve time (DNS exfiltration), raw IPs and ports at connect
    assert outcome["other-name"] == "BLOCKED PermissionViolation network resolve"
    assert outcome["other-name-gethostbyname"] == "BLOCKED PermissionViolation network resolve"
    assert outcome["raw-ip"] == "BLOCKED PermissionViolation network connect"
    assert outcome["other-port"] == "BLOCKED PermissionViolation network connect"
    # AND the ceiling stops metadata endpoints, by address and by name, and raw sockets
    assert outcome["metadata-ipv4"] == "BLOCKED PermissionViolation network connect"
    assert outcome["metadata-ipv6"] == "BLOCKED PermissionViolation network connect"
    assert outcome["metadata-name"] == "BLOCKED PermissionViolation network resolve"
    assert outcome["ipv6-mapped"] == "BLOCKED PermissionViolation network connect"
    assert outcome["raw-socket"] == "BLOCKED PermissionViolation network socket"
    targets = {f["target"] for f in enforced.findings}
    assert "169.254.169.254:80" in targets
    assert "[fd00:ec2::254]:80" in targets


LEARN_REPEATED = (
    SERVER
    + """
import sandbox
from sandbox.runtime import control as hook
sandbox.install(mode="learn")
other = socket.socket()
other.bind(("127.0.0.1", 0))
other.listen(8)
def connect(port):
    socket.create_connection(("localhost", port)).close()
connect(PORT)  # init
hook.mark_invoke_phase()
for i in range(3):
    hook.begin_invocation(f"req-{i}", {})
    connect(PORT)
    connect(PORT)
    hook.end_invocation()
hook.begin_invocation("req-other", {})
connect(other.getsockname()[1])
hook.end_invocation()
print("OTHER", other.getsockname()[1])
"""
)


def test_learn_writes_each_connect_once_per_name_port_and_phase(child: RunChild) -> None:
    # GIVEN a function that connects to the same service by name at init and twice in each of
    # three invocations, then once to another port
    port = _free_port()
    learned = child(LEARN_REPEATED, env={"TEST_PORT": str(port)})
    assert learned.returncode == 0, learned.stderr
    other = int(next(line.split()[1] for line in learned.lines if line.startswith("OTHER")))
    connects = [
        (o["phase"], o["target"], o["request_id"])
        for o in learned.observations
        if o["category"] == "network" and o["action"] == "connect"
    ]
    # THEN each (name:port, phase) is written once, in the invocation that first made it
    assert sorted(c[:2] for c in connects) == sorted(
        [
            ("init", f"localhost:{port}"),
            ("invoke", f"localhost:{port}"),
            ("invoke", f"localhost:{other}"),
        ]
    )
    assert {c[2] for c in connects if c[0] == "invoke"} == {"req-0", "req-other"}


def test_runtime_api_is_never_reached_from_python_code(child: RunChild, tmp_path: Path) -> None:
    # GIVEN the Runtime API address (the runtime client reaches it through native code, never
    # through a Python socket) and a profile allowing nothing else
    profile = {
        "schema_version": 1,
        "function": "t",
        "extends": ["python-runtime"],
        "rules": {"network": [{"action": "connect", "target": "127.0.0.1:*", "phase": "any"}]},
    }
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    result = child(
        """
        import socket, sys, threading, sandbox
        from sandbox.runtime import control as hook
        sandbox.install(mode="enforce", profile="profile.json")
        def attempt(label):
            try:
                sys.audit("socket.connect", socket.socket(), ("127.0.0.1", 9001))
                print(label, "allowed")
            except PermissionError as exc:
                print(label, "blocked", exc.rule == "")
        # WHEN the function's code connects, from the main thread or another thread, even
        # with a rule allowing every loopback port
        attempt("main")
        t = threading.Thread(target=attempt, args=("thread",)); t.start(); t.join()
        # WHEN the function's module failed to load, the runtime posts the init error itself
        hook.report_init_failed()
        attempt("after-init-failure")
        """,
        env={"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"},
    )
    # THEN the ceiling refuses it (no frame heuristic: a thread changes nothing) until a failed
    # init hands the address back to the runtime's own error report
    assert result.lines == [
        "main blocked True",
        "thread blocked True",
        "after-init-failure allowed",
    ], result.stderr + result.stdout


def test_a_lookup_of_an_ip_literal_tells_the_hook_nothing(child: RunChild) -> None:
    # GIVEN the sandbox's resolver wrappers, and a hook that counts what they report
    body = """
import _socket, socket, sys
from sandbox.runtime import address_book
seen = []
sys.addaudithook(lambda event, args: seen.append(args[1]) if event == "sandbox.resolved" else None)
address_book.interpose()
# WHEN the resolver answers an IP literal, then a name (/etc/hosts: no DNS query)
_socket.getaddrinfo("127.0.0.1", 80)
_socket.getaddrinfo("::1", 80)
socket.gethostbyname("127.0.0.1")
_socket.getaddrinfo("localhost", 80)
print(seen)
"""
    result = child(body)
    # THEN only the name's answer is reported: a literal leaves nothing to remember
    assert result.lines == ["['localhost']"], result.stderr


VERDICTS = (
    ATTEMPT
    + SERVER
    + """
import sandbox, sys
from sandbox.runtime.control import mark_invoke_phase
sandbox.install(mode="enforce", profile="profile.json")
def connect(address):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(address)
        assert s.recv(4) == b"pong"
class Text(str):
    pass
class Pair(tuple):
    pass
donor = socket.socket()
attempt("init-connect", lambda: connect(("127.0.0.1", PORT)))
attempt("init-resolve", lambda: socket.getaddrinfo("localhost", PORT))
mark_invoke_phase()
for i in range(3):
    attempt("invoke-resolve-" + str(i), lambda: socket.getaddrinfo("localhost", PORT))
attempt("resolve-bytes", lambda: socket.getaddrinfo(b"localhost", PORT))
# (modelled: the event alone decides, before any query could leave)
attempt("resolve-other", lambda: sys.audit("socket.getaddrinfo", "evil.example", 80, 0, 0, 0))
attempt("resolve-other-bytes", lambda: sys.audit("socket.getaddrinfo", b"localhost.evil.example", 80, 0, 0, 0))
# WHEN the same connect repeats (the core answers it from the second on), then its neighbours
for i in range(3):
    attempt("invoke-connect-" + str(i), lambda: connect(("127.0.0.1", PORT)))
attempt("other-port", lambda: connect(("127.0.0.1", PORT + 1)))
attempt("str-subclass-host", lambda: connect((Text("127.0.0.1"), PORT)))
attempt("tuple-subclass-address", lambda: connect(Pair(("127.0.0.1", PORT))))
attempt("trailing-dot", lambda: sys.audit("socket.connect", socket.socket(), ("127.0.0.1.", PORT)))
attempt("raw", lambda: sys.audit("socket.__new__", donor, socket.AF_INET, socket.SOCK_RAW, 0))
attempt("nonblocking-stream", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK).close())
attempt("adopt", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0, donor.fileno()).detach())
class Lying(socket.socket):
    @property
    def family(self):
        return socket.AF_UNIX
attempt("lying-family", lambda: Lying(socket.AF_INET, socket.SOCK_STREAM).connect(("127.0.0.1", PORT)))
"""
)


@pytest.mark.parametrize("core", ["native", "python"])
def test_kept_socket_and_connect_answers_hold_only_for_the_same_values(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN stream sockets allowed in any phase, and connects to the loopback service's
    # address and lookups of localhost in the invoke phase only (the first init connect and
    # lookup are refused)
    port = _free_port()
    profile = profile_doc(
        network=[
            {"action": "socket", "target": "inet/stream", "phase": "any"},
            {"action": "bind", "target": "127.0.0.1:*", "phase": "any"},
            {"action": "connect", "target": f"127.0.0.1:{port}", "phase": "invoke"},
            {"action": "resolve", "target": "localhost", "phase": "invoke"},
        ]
    )
    (tmp_path / "profile.json").write_text(json.dumps(profile))
    env = {"TEST_PORT": str(port), "SANDBOX_SECCOMP": "off", "SANDBOX_LANDLOCK": "off"}
    if core == "python":
        env["SANDBOX_NATIVE"] = "off"
    result = child(VERDICTS, env=env)
    outcome = dict(line.split(" ", 1) for line in result.lines)
    # THEN the kept answers hold for exactly the values allowed: another port, an address of
    # a class of the function's, a literal not in canonical text, another socket type, an
    # adopted descriptor and the init phase are each decided again (and refused); a host of a
    # str subclass is decided again too (the native core's sealed connect hands the event an
    # exact copy of its text, which is allowed; the Python core's event carries the object,
    # which the decoder refuses); a socket class that lies about its family is judged by the
    # C member
    assert outcome["init-connect"].startswith("BLOCKED"), result.stdout + result.stderr
    assert [outcome[f"invoke-connect-{i}"] for i in range(3)] == ["ALLOWED"] * 3, result.stderr
    assert [outcome[f"invoke-resolve-{i}"] for i in range(3)] == ["ALLOWED"] * 3, outcome
    assert outcome["resolve-bytes"] == "ALLOWED", outcome
    assert outcome["init-resolve"].startswith("BLOCKED"), outcome
    assert outcome["nonblocking-stream"] == "ALLOWED", outcome
    assert outcome["lying-family"] == "ALLOWED", outcome
    expected = "ALLOWED" if core == "native" else "BLOCKED PermissionViolation network connect"
    assert outcome["str-subclass-host"] == expected, outcome
    for refused in (
        "other-port",
        "tuple-subclass-address",
        "trailing-dot",
        "raw",
        "adopt",
        "resolve-other",
        "resolve-other-bytes",
    ):
        assert outcome[refused].startswith("BLOCKED"), (refused, outcome[refused])
