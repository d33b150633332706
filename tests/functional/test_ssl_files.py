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
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import Child, RunChild, audit_only, profile_doc

ATTEMPT = """
import json, os, pathlib, ssl, sys
import sandbox
sandbox.install(mode="enforce", profile="profile.json")
from sandbox.runtime import core
from sandbox.runtime.control import mark_invoke_phase
mark_invoke_phase()
BASE = os.getcwd()
A, S = BASE + "/allowed", BASE + "/secret"
out = {}
def attempt(label, fn):
    try:
        out[label] = fn()
    except PermissionError as exc:  # (the sandbox's refusal is one)
        out[label] = "refused" if "lambda-sandbox blocked" in str(exc) else type(exc).__name__
    except Exception as exc:
        out[label] = type(exc).__name__
def context():
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
def verify(**where):
    made = context()
    made.load_verify_locations(**where)
    return len(made.get_ca_certs())
"""


def _pem_files(folder: Path, name: str) -> None:
    """A self-signed certificate (``<name>.pem``) and its key (``<name>.key``) in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


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


def _result(result: Child) -> dict[str, Any]:
    line = next((x for x in result.lines if x.startswith("RESULT ")), None)
    assert line is not None, result.stdout + result.stderr
    return dict(json.loads(line[len("RESULT ") :]))


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
    out = _result(result)
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
    out = _result(child(code, env=audit_only("native")))
    # THEN the module loaded already was sealed at install: refused, the allowed one read
    assert out == {"secret cafile": "refused", "secret decode": "refused", "allowed cafile": 1}
