"""Files OpenSSL reads by name, one subprocess each.

``SSLContext.load_verify_locations`` (``cafile``, ``capath``), ``load_cert_chain`` (``certfile``,
``keyfile``) and ``_ssl._test_decode_cert`` hand a path to OpenSSL, which opens it itself: CPython
raises no audit event for them (red team 94 read a PEM file no rule names, and told an existing
file from a missing one). The native core has the extension loader seal the ``_ssl`` module it
makes, so each raises ``ssl.load_file`` first; the Python core cannot replace C functions (a
documented limit).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import ENFORCE_ATTEMPTS, RunChild, audit_only, profile_doc

ATTEMPT = (
    ENFORCE_ATTEMPTS
    + """
import pathlib, ssl
from sandbox.runtime import core
def context():
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
def verify(**where):
    made = context()
    made.load_verify_locations(**where)
    return len(made.get_ca_certs())
"""
)


def _certificate(
    name: str, key: Any, issuer: str | None = None, issuer_key: Any = None
) -> x509.Certificate:
    """A certificate for ``CN=<name>`` and ``key``: an authority signed by itself, or, with an
    issuer, a server certificate for ``localhost`` that issuer signed."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


def _write(certificate: x509.Certificate, key: Any, pem: Path, key_file: Path | None) -> None:
    pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    if key_file is not None:
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def _pem_files(folder: Path, name: str) -> None:
    """A self-signed certificate (``<name>.pem``) and its key (``<name>.key``) in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    _write(_certificate(name, key), key, folder / f"{name}.pem", folder / f"{name}.key")


def _task(tmp_path: Path) -> None:
    """allowed/ (read, written, listed) and secret/ (named by no rule), each with a certificate
    and its key; secret/plain.txt, not PEM."""
    for folder in ("allowed", "secret"):
        (tmp_path / folder).mkdir()
        _pem_files(tmp_path / folder, "ca")
    (tmp_path / "secret" / "plain.txt").write_text("TOPSECRET\n")
    rules = {
        "files": [
            {"action": a, "target": "{task}/allowed/**", "phase": "any"}
            for a in ("read", "write", "list")
        ]
    }
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(**rules)))


@pytest.mark.parametrize("core", ["native", "python"])
def test_files_openssl_reads_by_name_are_decided_as_reads(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a certificate in allowed/ and one in secret/, which no rule names
    _task(tmp_path)
    code = (
        ATTEMPT
        + """
import _imp, _ssl, importlib.util
# WHEN the function has OpenSSL read each of them, every way it takes a path
attempt("allowed cafile", lambda: verify(cafile=A + "/ca.pem"))
attempt("allowed capath", lambda: verify(capath=A))
attempt("secret cafile", lambda: verify(cafile=S + "/ca.pem"))
attempt("secret cafile, positional", lambda: context().load_verify_locations(S + "/ca.pem"))
attempt("secret cafile, a path object", lambda: verify(cafile=pathlib.Path(S, "ca.pem")))
attempt("secret cafile, bytes", lambda: verify(cafile=(S + "/ca.pem").encode()))
attempt("secret capath", lambda: verify(capath=S))
attempt("missing cafile", lambda: verify(cafile=S + "/nothing.pem"))
attempt("plain file", lambda: verify(cafile=S + "/plain.txt"))
attempt("secret chain", lambda: context().load_cert_chain(S + "/ca.pem", S + "/ca.key"))
attempt("secret chain, keywords",
        lambda: context().load_cert_chain(certfile=S + "/ca.pem", keyfile=S + "/ca.key"))
attempt("secret key only", lambda: context().load_cert_chain(A + "/ca.pem", keyfile=S + "/ca.key"))
attempt("allowed chain", lambda: context().load_cert_chain(A + "/ca.pem", A + "/ca.key"))
attempt("secret decode", lambda: _ssl._test_decode_cert(S + "/ca.pem")["subject"])
# AND through a module the extension loader makes again, called directly
again = _imp.create_dynamic(importlib.util.find_spec("_ssl"))
attempt("secret decode, a new module", lambda: again._test_decode_cert(S + "/ca.pem")["subject"])
out["sealed"] = list(core.ssl_sealed())
print("RESULT", json.dumps(out))
"""
    )
    result = child(code, env=audit_only(core))
    out = result.result()
    # THEN what the rules allow is read as before
    assert out["allowed cafile"] == 1 and out["allowed capath"] == 0
    assert out["allowed chain"] is None
    secret = [
        "secret cafile",
        "secret cafile, positional",
        "secret cafile, a path object",
        "secret cafile, bytes",
        "secret capath",
        "missing cafile",
        "plain file",
        "secret chain",
        "secret chain, keywords",
        "secret key only",
        "secret decode",
        "secret decode, a new module",
    ]
    if core == "native":
        # AND every read outside them is refused before OpenSSL opens anything (a missing
        # file and a file that is not PEM alike: no existence oracle), and reported
        assert {label: out[label] for label in secret} == dict.fromkeys(secret, "refused"), out
        assert out["sealed"] == [True, True, True]
        assert any(
            f["target"] == "{task}/secret/ca.pem" and f["action"] == "read" for f in result.findings
        ), result.stdout
        assert any(f["target"] == "{task}/secret/**" for f in result.findings), result.stdout
        return
    # AND on the Python core (a documented limit: no event, no C function it can replace)
    # OpenSSL reads them
    assert out["secret cafile"] == 1 and out["missing cafile"] == "FileNotFoundError", out
    assert out["sealed"] == [False, False, False]


def test_an_ssl_module_loaded_before_install_is_sealed_at_install(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a process that imported ssl before the sandbox (a layer, a test harness)
    _task(tmp_path)
    code = (
        "import ssl\n"
        + ATTEMPT
        + (
            """
import _ssl
# WHEN the function has OpenSSL read the secret certificate
attempt("secret cafile", lambda: verify(cafile=S + "/ca.pem"))
attempt("secret decode", lambda: _ssl._test_decode_cert(S + "/ca.pem")["subject"])
attempt("allowed cafile", lambda: verify(cafile=A + "/ca.pem"))
print("RESULT", json.dumps(out))
"""
        )
    )
    out = child(code, env=audit_only("native")).result()
    # THEN the module loaded already was sealed at install: refused, the allowed one read
    assert out == {"secret cafile": "refused", "secret decode": "refused", "allowed cafile": 1}


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    head = bytes([size]) if size < 128 else bytes([0x81, size])
    return bytes([tag]) + head + body


def _hashed_name(common_name: str) -> str:
    """OpenSSL's subject hash of the name ``CN=<common_name>`` (lower-case ASCII, no space: its
    canonical form is its own), the file name a ``capath`` lookup opens (``<hash>.0``)."""
    canonical = _der(
        0x31, _der(0x30, bytes.fromhex("0603550403") + _der(0x0C, common_name.encode()))
    )
    digest = hashlib.sha1(canonical).digest()  # (OpenSSL's own name hash)
    return f"{int.from_bytes(digest[:4], 'little'):08x}.0"


def _hashed_authority(tmp_path: Path) -> None:
    """secret/<hash>.0: a certificate authority (CN=sandboxtestca) no rule names; allowed/srv.pem
    and srv.key: a server certificate it signed, for an in-memory handshake."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("sandboxtestca", ca_key)
    _write(ca, ca_key, tmp_path / "secret" / _hashed_name("sandboxtestca"), None)
    key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("localhost", key, "sandboxtestca", ca_key)
    _write(server, key, tmp_path / "allowed" / "srv.pem", tmp_path / "allowed" / "srv.key")


def test_a_capath_is_decided_part_by_part_and_handed_to_openssl_absolute(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN an authority in secret/ under its hashed name (OpenSSL reads a capath's files at each
    # handshake, by those names) and a server certificate it signed in allowed/
    _task(tmp_path)
    _hashed_authority(tmp_path)
    code = (
        # (a descriptor on the task folder, taken before install: what the function may hold)
        "import os\nHELD = os.open(os.getcwd(), os.O_PATH)\n"
        + ATTEMPT
        + """
import ssl
def handshake(client):
    server = context_server()
    a, b, c, d = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    ends = [client.wrap_bio(a, b, server_hostname="localhost"),
            server.wrap_bio(c, d, server_side=True)]
    done = [False, False]
    for _ in range(20):
        for i, end in enumerate(ends):
            if not done[i]:
                try:
                    end.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError as exc:
                    return type(exc).__name__
        if b.pending:
            c.write(b.read())
        if d.pending:
            a.write(d.read())
    return all(done)
def context_server():
    made = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    made.load_cert_chain(A + "/srv.pem", A + "/srv.key")
    return made
def with_capath(capath):
    made = context()
    made.load_verify_locations(capath=capath)
    return made
class Named(str):
    pass
# WHEN the function hides secret/ behind an allowed folder in one capath ("a:b": OpenSSL
# searches both), names the folder by a relative text that leads into allowed/ now and to
# secret/ from where it goes next, or names cafile by a keyword that is a str subclass
attempt("two folders", lambda: handshake(with_capath(A + "/x:" + S)))
later = [p for p in sys.path if p.endswith("site-packages")][0]
climb = len([p for p in later.split("/") if p])
deep = A + "/" + "/".join("d%d" % i for i in range(climb + 2))
os.makedirs(deep)
os.chdir(deep)
attempt("relative", lambda: handshake(with_capath("../" * climb + S.lstrip("/"))))
# (and a ".." after a link it repoints later, or after /proc/self/cwd: OpenSSL follows the
# text again at each handshake -- red team 96)
os.makedirs(A + "/a/b")
os.symlink(A + "/a/b", A + "/sub")
attempt("dotdot after a link", lambda: handshake(with_capath(A + "/sub/../../secret")))
os.chdir(A + "/a/b")
attempt("dotdot after the working folder",
        lambda: handshake(with_capath("/proc/self/cwd/../../secret")))
attempt("a link to an allowed folder", lambda: with_capath(A + "/sub") and "loaded")
# (and a name not there yet behind a descriptor's link: /dev/stdin/secret is allowed/secret
# while descriptor 0 is allowed/, and the task folder's secret/ once an os.dup2, which raises no
# event, repoints it before the handshake -- red team 98)
os.dup2(os.open(A, os.O_PATH), 0)
through_stdin = with_capath("/dev/stdin/secret")
os.dup2(HELD, 0)
attempt("a missing name through a descriptor", lambda: handshake(through_stdin))
# (and a folder whose real path holds a ":" -- from the working folder or a link's target --
# which OpenSSL would split again: red team 97)
os.makedirs(A + "/p:" + S)
os.chdir(A + "/p:" + S)
attempt("a colon from the working folder", lambda: handshake(with_capath(".")))
attempt("a keyword of a str subclass",
        lambda: context().load_verify_locations(**{Named("cafile"): A + "/ca.pem"}))
print("RESULT", json.dumps(out))
"""
    )
    out = child(code, env=audit_only("native")).result()
    # THEN the folder behind the allowed one is decided (refused); a folder is handed to OpenSSL
    # as its real path, decided as such (what it leads to could change before a handshake): one
    # not there yet is its existing part's real path (its "..", links and descriptors resolved
    # now) and the names after it, so the relative, climbing and descriptor texts all lead into
    # allowed/, where no authority is; one through /proc that cannot be resolved is refused; a
    # link to an allowed folder is its target; and a keyword name of a str subclass is
    # refused before OpenSSL reads anything -- the secret authority never verifies anything
    assert out["two folders"] == "refused"
    assert out["relative"] == "SSLCertVerificationError"
    assert out["dotdot after a link"] == "SSLCertVerificationError"
    assert out["dotdot after the working folder"] == "PermissionError"
    assert out["a link to an allowed folder"] == "loaded"
    assert out["a colon from the working folder"] == "PermissionError"
    assert out["a missing name through a descriptor"] == "SSLCertVerificationError"
    assert out["a keyword of a str subclass"] == "TypeError"


@pytest.mark.parametrize("way", ["exec_builtin", "code inside exec"])
def test_an_ssl_module_run_by_hand_never_hands_out_unsealed_readers(
    child: RunChild, tmp_path: Path, way: str
) -> None:
    # GIVEN a process where _ssl was never made yet (nothing imported ssl)
    _task(tmp_path)
    code = (
        ENFORCE_ATTEMPTS
        + f"""
import _imp, builtins, importlib.util
WAY = {way!r}
def read(made):
    context = made._SSLContext(2)
    context.load_verify_locations(cafile=S + "/ca.pem")
    return len(context.get_ca_certs())
# WHEN the function makes the module and runs its exec by another door (exec_builtin), or has
# its own code run inside the sealed exec (the module's exec imports _socket's C API through
# the calling frame's __import__, after it made _SSLContext) to read with the type's methods
made = _imp.create_dynamic(importlib.util.find_spec("_ssl"))
inside = []
def planted(name, *args, **kwargs):
    inside.append(name)
    out["inside"] = read(made)
    return builtins.__import__(name, *args, **kwargs)
if WAY == "exec_builtin":
    attempt("exec", lambda: _imp.exec_builtin(made))
else:
    globals()["__builtins__"] = dict(vars(builtins), __import__=planted)
    attempt("exec", lambda: _imp.exec_dynamic(made))
    globals()["__builtins__"] = builtins
out["ran inside"] = inside
attempt("read after", lambda: read(made))
print("RESULT", json.dumps(out))
"""
    )
    out = child(code, env=audit_only("native")).result()
    # THEN no code of the function's ran inside the exec, and the type's readers are sealed
    # afterwards (the secret authority is refused), whether the exec succeeded or not
    assert out["ran inside"] == [] and "inside" not in out
    assert out["read after"] == "refused"
    # (the exec fails when the refused import was its own: ImportError, or on 3.10 the
    # refusal itself)
    expected = {0} if way == "exec_builtin" else {"ImportError", "PermissionError"}
    assert out["exec"] in expected


def test_an_ssl_type_taken_during_its_exec_already_has_sealed_readers(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN a process where _ssl was never made yet, and a chain of C callables (no frame, no
    # event) that runs when the module's exec looks _socket up, and takes the new _SSLContext
    # out of the module's dict (red team 103)
    _task(tmp_path)
    code = (
        ENFORCE_ATTEMPTS
        + """
import _imp, collections, functools, importlib.util
made = _imp.create_dynamic(importlib.util.find_spec("_ssl"))
store = collections.defaultdict(functools.partial(made.__dict__.pop, "_SSLContext", None))
class Planted:
    __getattribute__ = store.__getitem__
real = sys.modules["_socket"]
sys.modules["_socket"] = Planted()
# WHEN the module's exec runs with it (and fails: the capsule is not there), and the function
# reads with the type it took
attempt("exec", lambda: _imp.exec_dynamic(made))
sys.modules["_socket"] = real
taken = store.get("__spec__")
out["taken"] = isinstance(taken, type)
def read():
    context = taken(2)
    context.load_verify_locations(cafile=S + "/ca.pem")
    return len(context.get_ca_certs())
attempt("read", read)
print("RESULT", json.dumps(out))
"""
    )
    out = child(code, env=audit_only("native")).result()
    # THEN the type's readers were sealed before it existed: the secret authority is refused
    assert out["taken"] is True
    assert out["read"] == "refused"


def test_an_ssl_exec_holds_no_other_threads_name_changes(child: RunChild, tmp_path: Path) -> None:
    # GIVEN an _ssl module's exec (which runs in a window of its own thread: no frame of the
    # function's, no collection, no signal handler) made to wait there, with no frame, by C
    # callables reached when it looks _socket up, after telling the main thread it is inside
    _task(tmp_path)
    code = (
        ENFORCE_ATTEMPTS
        + """
import _imp, collections, functools, importlib.util, operator, queue, threading
with open(A + "/old.txt", "w") as handle:
    handle.write("x")
made = _imp.create_dynamic(importlib.util.find_spec("_ssl"))
inside, hold = queue.SimpleQueue(), threading.Lock()
hold.acquire()
steps = map(operator.methodcaller("__call__"), [functools.partial(inside.put, 1), hold.acquire])
store = collections.defaultdict(functools.partial(collections.deque, steps, 0))
class Planted:
    __getattribute__ = store.__getitem__
real = sys.modules["_socket"]
sys.modules["_socket"] = Planted()
runner = threading.Thread(target=attempt, args=("exec", lambda: _imp.exec_dynamic(made)))
runner.start()
out["inside"] = inside.get(timeout=30)
# WHEN another thread renames a file the profile allows it to, while the exec waits
renamer = threading.Thread(
    target=attempt, args=("rename", lambda: os.rename(A + "/old.txt", A + "/new.txt"))
)
renamer.start()
renamer.join(10)
out.setdefault("rename", "still waiting")
sys.modules["_socket"] = real
hold.release()
runner.join(30)
renamer.join(30)
out["renamed"] = os.path.exists(A + "/new.txt")
print("RESULT", json.dumps(out))
"""
    )
    out = child(code, env=audit_only("native")).result()
    # THEN the rename is decided as in any thread (the window holds its own thread only); the
    # exec goes on once released (with the real _socket put back meanwhile; 3.14 keeps the
    # planted object it was handed, which has no capsule)
    assert out["inside"] == 1
    assert out["rename"] is None
    assert out["renamed"] is True
    assert out["exec"] in (0, "ImportError")


def test_the_cores_own_ssl_module_is_never_a_way_to_crash(child: RunChild, tmp_path: Path) -> None:
    # GIVEN the collector keeping every cycle it finds (gc.DEBUG_SAVEALL: no audit event), then
    # the first _ssl made (the core makes a private one from its definition, to seal its
    # readers before any type exists: red team 104 took it from gc.garbage)
    _task(tmp_path)
    code = (
        ENFORCE_ATTEMPTS
        + """
import gc
gc.set_debug(gc.DEBUG_SAVEALL)
import ssl
gc.collect()
gc.set_debug(0)
# WHEN the function makes an instance of every _SSLContext type it can find (the collector's
# garbage, object's subclasses), and calls every function of any _ssl module in the garbage
kinds = [t for t in object.__subclasses__() if t.__name__ == "_SSLContext"]
kinds += [t for t in gc.garbage if isinstance(t, type) and t.__name__ == "_SSLContext"]
out["kinds"] = len({id(t) for t in kinds})
results = []
for kind in kinds:
    try:
        kind(2)
        results.append("made")
    except TypeError:
        results.append("TypeError")
out["results"] = sorted(set(results))
out["garbage modules"] = [m.__name__ for m in gc.garbage if type(m).__name__ == "module"]
print("RESULT", json.dumps(out))
"""
    )
    result = child(code, env=audit_only("native"))
    out = result.result()
    # THEN the process lives: the real type makes contexts, the core's own makes none (and its
    # module, kept by the core, is never garbage)
    assert out["kinds"] == 2  # (the importable _ssl's, and the core's own)
    assert out["results"] == ["TypeError", "made"]
    assert out["garbage modules"] == []


def test_no_type_of_the_cores_own_ssl_module_makes_an_instance_any_way(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN the first _ssl made (the core's private one is made with it) and every type of the
    # core's own module, found where no audit event is raised (object.__subclasses__())
    _task(tmp_path)
    code = (
        ENFORCE_ATTEMPTS
        + """
import ssl, _ssl
private = [
    kind for kind in object.__subclasses__()
    if kind.__module__ == "_ssl" and getattr(_ssl, kind.__name__, None) is not kind
]
out["private"] = sorted(kind.__name__ for kind in private)
# WHEN the function makes an instance of each every way CPython has: calling the type, its
# __new__ (red team 105: a C __new__ entry that called a NULL tp_new), a subclass's __new__
# through super(), object.__new__
ways = {}
for kind in private:
    try:
        class Sub(kind):
            def __new__(cls, *args):
                return super().__new__(cls, *args)
    except TypeError:  # (a type that is no base)
        Sub = None
    tries = {
        "call": lambda: kind(2),
        "__new__": lambda: kind.__new__(kind, 2),
        "object.__new__": lambda: object.__new__(kind),
    }
    if Sub is not None:
        tries["subclass"] = lambda: Sub(2)
    for way, make in tries.items():
        try:
            make()
            result = "made"
        except Exception as exc:
            result = type(exc).__name__
        ways.setdefault(way, set()).add(result)
out["ways"] = {way: sorted(results) for way, results in ways.items()}
print("RESULT", json.dumps(out))
"""
    )
    out = child(code, env=audit_only("native")).result()
    # THEN the process lives, and no way makes one: each is a TypeError
    assert "_SSLContext" in out["private"] and "MemoryBIO" in out["private"]
    assert out["ways"]["call"] == ["TypeError"]
    assert out["ways"]["__new__"] == ["TypeError"]
    assert out["ways"]["object.__new__"] == ["TypeError"]
    assert out["ways"]["subclass"] == ["TypeError"]


def test_an_ssl_module_made_and_never_executed_decides_before_it_crashes(
    child: RunChild, tmp_path: Path
) -> None:
    # GIVEN an _ssl module the function made from its extension and never executed (its state
    # is zeroed: CPython's own API, red team 106)
    _task(tmp_path)
    code = (
        ENFORCE_ATTEMPTS
        + """
import _imp, importlib.util
half = _imp.create_dynamic(importlib.util.find_spec("_ssl"))
# WHEN it reads a certificate file no rule names, then an allowed file that is none
attempt("secret", lambda: half._test_decode_cert(S + "/ca.pem"))
print("RESULT", json.dumps(out), flush=True)
half._test_decode_cert(A + "/ca.key")
print("LIVED", flush=True)
"""
    )
    result = child(code, env=audit_only("native"))
    # THEN the read is decided first, as for the real module (refused); and the allowed one
    # (a documented limit: the zeroed state's error path reads a NULL field) ends the process
    assert result.result()["secret"] == "refused"
    # (SIGSEGV on 3.10-3.14)
    assert "LIVED" not in result.lines
    assert result.returncode != 0


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_forged_ssl_event_never_has_its_arguments_asked_anything(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN an object whose comparison and text run the function's code
    _task(tmp_path)
    code = (
        ATTEMPT
        + """
asked = []
class Kind:
    def __eq__(self, other):
        asked.append("eq")
        return True
    __hash__ = object.__hash__
    def __str__(self):
        asked.append("str")
        return "folder"
# WHEN the function raises the core's ssl.load_file itself with it as the kind, and as the path
attempt("kind", lambda: sys.audit("ssl.load_file", S + "/ca.pem", Kind()))
attempt("path", lambda: sys.audit("ssl.load_file", Kind(), "file"))
out["asked"] = asked
print("RESULT", json.dumps(out))
"""
    )
    out = child(code, env=audit_only(core)).result()
    # THEN none of its methods ran inside the hook: a path of the secret folder is refused, a
    # path that is not text too
    assert out["asked"] == []
    assert out["kind"] == "refused" and out["path"] == "refused"
