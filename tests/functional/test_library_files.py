"""Files CPython's own C code has a C library (or itself) open by name, one subprocess each.

Besides OpenSSL's (``test_ssl_files.py``), red team 99 found two with no audit event:

- glibc's gettext (``_locale.bindtextdomain``, ``dgettext``, ``dcgettext``, ``textdomain``,
  ``bind_textdomain_codeset``; re-exported by ``locale``): glibc keeps a domain's folder as text
  and opens ``<folder>/<locale>/LC_MESSAGES/<domain>.mo`` itself at each lookup, and a domain
  with ``../`` climbs out of any folder: a catalog no rule names was read back.
- ``sys.activate_stack_trampoline`` (3.12+): CPython makes and appends to ``/tmp/perf-<pid>.map``.

And red team 105 one a C library connects to by name: ``syslog`` (glibc's ``openlog``/``syslog``
connect a datagram socket of their own to ``/dev/log``, with no ``socket`` event), which CPython
3.14 builds in, so ``_imp.create_builtin`` makes it with no import decision: its own events are
decided as that socket and that connect, on either core.

The native core seals those functions (a folder bound is resolved and decided as a read of
everything under it, a domain with ``/`` is refused, a trampoline's file is decided as a write);
the Python core cannot replace C functions (a documented limit, shown here). Also shown: a
file's metadata and a link's text, told on either core (CPython raises no event for them).
"""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ENFORCE_ATTEMPTS, RunChild, audit_only, profile_doc

ATTEMPT = ENFORCE_ATTEMPTS + 'out["pid"] = os.getpid()\n'


def _catalog(path: Path, translations: dict[str, str]) -> None:
    """A GNU gettext catalog (``.mo``) at ``path``: its header entry and ``translations``."""
    entries = sorted({"": "Content-Type: text/plain; charset=UTF-8\n", **translations}.items())
    originals = b"".join(key.encode() + b"\0" for key, _ in entries)
    values = b"".join(value.encode() + b"\0" for _, value in entries)
    count = len(entries)
    start = 28 + 16 * count  # the header, then the two tables of (length, offset)
    table_o, table_t, at_o, at_v = b"", b"", start, start + len(originals)
    for key, value in entries:
        table_o += struct.pack("<2I", len(key.encode()), at_o)
        table_t += struct.pack("<2I", len(value.encode()), at_v)
        at_o += len(key.encode()) + 1
        at_v += len(value.encode()) + 1
    head = struct.pack("<7I", 0x950412DE, 0, count, 28, 28 + 8 * count, 0, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + table_o + table_t + originals + values)


def _task(tmp_path: Path, **extra: list[dict[str, Any]]) -> None:
    """allowed/ (read, written, listed) and secret/ (named by no rule), each with catalogs for
    the ``C.utf8`` locale (``app``; ``mine`` in allowed/, ``other`` in secret/); secret/creds.mo,
    a catalog at its top; LC_MESSAGES/creds2.mo, at the task folder's top."""
    _catalog(tmp_path / "allowed/C.utf8/LC_MESSAGES/app.mo", {"key": "ALLOWEDVALUE"})
    _catalog(tmp_path / "allowed/C.utf8/LC_MESSAGES/mine.mo", {"key": "ALLOWEDVALUE"})
    _catalog(tmp_path / "secret/C.utf8/LC_MESSAGES/app.mo", {"key": "TOPSECRET"})
    _catalog(tmp_path / "secret/C.utf8/LC_MESSAGES/other.mo", {"key": "TOPSECRET"})
    _catalog(tmp_path / "secret/creds.mo", {"key": "TOPSECRET"})
    _catalog(tmp_path / "LC_MESSAGES/creds2.mo", {"key": "TOPSECRET"})
    rules: dict[str, list[dict[str, Any]]] = {
        "files": [
            {"action": a, "target": "{task}/allowed/**", "phase": "any"}
            for a in ("read", "write", "list")
        ]
    }
    for category, more in extra.items():
        rules.setdefault(category, []).extend(more)
    (tmp_path / "profile.json").write_text(json.dumps(profile_doc(**rules)))


def _locale_with_catalogs(tmp_path: Path) -> None:
    """Skip where this interpreter's gettext reads no catalog: no ``C.utf8`` locale in glibc
    (gettext looks none up in ``C``), or a build whose ``_locale`` never opens one (CPython
    3.14's standalone build here). Probed with a catalog of its own (a domain no test uses)."""
    import _locale
    import locale

    probe = tmp_path / "probe"
    _catalog(probe / "C.utf8/LC_MESSAGES/lsprobe.mo", {"key": "found"})
    before = locale.setlocale(locale.LC_MESSAGES)
    try:
        locale.setlocale(locale.LC_MESSAGES, "C.utf8")
        _locale.bindtextdomain("lsprobe", str(probe))
        found = _locale.dgettext("lsprobe", "key") == "found"
    except locale.Error:
        found = False
    finally:
        locale.setlocale(locale.LC_MESSAGES, before)
    if not found:
        pytest.skip("this interpreter's gettext reads no catalog here")


@pytest.mark.parametrize("core", ["native", "python"])
def test_gettext_catalogs_are_decided_as_reads_of_their_folder(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN catalogs of one domain in allowed/ and in secret/, and a descriptor on the task
    # folder taken before install
    _locale_with_catalogs(tmp_path)
    _task(tmp_path)
    code = (
        "import os\nHELD = os.open(os.getcwd(), os.O_PATH)\n"
        + ATTEMPT
        + """
import _locale, locale
locale.setlocale(locale.LC_MESSAGES, "C.utf8")
# WHEN the function binds the domain to the secret folder and looks a message up, names a
# catalog outside its folder by a domain that climbs, binds through a descriptor's link and
# repoints the descriptor (os.dup2: no event) before the lookup, or binds its own folder
attempt("bind secret", lambda: _locale.bindtextdomain("app", S))
attempt("lookup after", lambda: _locale.dgettext("app", "key"))
CLIMB = "../../../secret/creds"  # (allowed/C.utf8/LC_MESSAGES/../../../secret/creds.mo)
attempt("climbing domain", lambda: [_locale.bindtextdomain(CLIMB, A), _locale.dgettext(CLIMB, "key")][1])
attempt("climbing textdomain", lambda: _locale.textdomain("../secret/creds"))
os.dup2(os.open(A, os.O_PATH), 0)
attempt("bind stdin", lambda: _locale.bindtextdomain("other", "/dev/stdin"))
os.dup2(HELD, 0)
attempt("lookup stdin", lambda: _locale.dgettext("other", "key"))
attempt("bind allowed", lambda: _locale.bindtextdomain("mine", A.encode()))
attempt("lookup allowed", lambda: _locale.dcgettext("mine", "key", locale.LC_MESSAGES))
attempt("domain of a str subclass", lambda: _locale.dgettext(type("D", (str,), {})("app"), "k"))
# (and a LANGUAGE entry "..": glibc reads <folder>/../LC_MESSAGES/<domain>.mo -- red team 100)
def climb_by_language():
    os.environ["LANGUAGE"] = ".."
    _locale.bindtextdomain("creds2", A)
    return _locale.dgettext("creds2", "key")
attempt("language entry", climb_by_language)
print("RESULT", json.dumps(out))
"""
    )
    out = child(code, env=audit_only(core)).result()
    if core == "native":
        # THEN the secret folder is refused (and so never read), a domain that climbs is
        # refused, a folder bound through a descriptor is the folder it led to then (allowed/,
        # whose catalog is not the secret one), and the function's own folder works
        assert out["bind secret"] == "refused"
        assert out["lookup after"] == "key"
        assert out["climbing domain"] == "PermissionError"
        assert out["climbing textdomain"] == "PermissionError"
        allowed = os.path.realpath(tmp_path / "allowed")
        assert out["bind stdin"] == allowed
        assert out["lookup stdin"] == "key"
        assert out["bind allowed"] == allowed
        assert out["lookup allowed"] == "ALLOWEDVALUE"
        assert out["domain of a str subclass"] == "TypeError"
    else:
        # THEN (the Python core's documented limit) glibc reads the secret catalog undecided
        assert out["lookup after"] == "TOPSECRET"
        assert out["climbing domain"] == "TOPSECRET"
    # AND on either core a LANGUAGE entry ".." is an environment change decided (refused): it
    # would climb out of the folder bound
    assert out["language entry"] == "refused"


@pytest.mark.parametrize("made", ["before install", "made again"])
def test_every_locale_module_has_its_gettext_sealed(
    child: RunChild, tmp_path: Path, made: str
) -> None:
    # GIVEN a _locale module imported before install, or one made again from its definition
    _task(tmp_path)
    code = (
        ("import _locale\n" if made == "before install" else "")
        + ATTEMPT
        + """
import _imp, importlib.util
made = _imp.create_builtin(importlib.util.find_spec("_locale"))
_imp.exec_builtin(made)
# WHEN the function binds the secret folder, or a domain that climbs, through it
attempt("bind secret", lambda: made.bindtextdomain("app", S))
attempt("climbing domain", lambda: made.dgettext("../../../secret/creds", "key"))
# (or sets a locale name with a "/": glibc rejoins "/_t../x" into a name that climbs, and
# only its codeset check stops it -- red team 101)
attempt("locale path", lambda: made.setlocale(made.LC_MESSAGES, "/_t../locale/C.utf8"))
print("RESULT", json.dumps(out))
"""
    )
    out = child(code, env=audit_only("native")).result()
    # THEN all three are refused
    assert out["bind secret"] == "refused"
    assert out["climbing domain"] == "PermissionError"
    assert out["locale path"] == "PermissionError"


@pytest.mark.parametrize("core", ["native", "python"])
@pytest.mark.parametrize("made", ["imported before install", "built in, made by hand"])
def test_syslog_is_decided_as_a_connect_to_its_socket(
    child: RunChild, tmp_path: Path, core: str, made: str
) -> None:
    # GIVEN the syslog module (outside {stdlib}: no rule of the profile's names it, nor
    # /dev/log): imported before install, or -- where it is built in (CPython 3.14) -- made by
    # hand with _imp.create_builtin, which no import decision sees (red team 105)
    if made == "built in, made by hand" and "syslog" not in sys.builtin_module_names:
        pytest.skip("syslog is not built into this interpreter")
    _task(tmp_path)
    if made == "imported before install":
        code = "import syslog as LOG\n" + ATTEMPT
    else:
        code = (
            ATTEMPT
            + """
import _imp, importlib.machinery
LOG = _imp.create_builtin(importlib.machinery.ModuleSpec("syslog", None, origin="built-in"))
_imp.exec_builtin(LOG)
"""
        )
    code += """
# WHEN the function opens the log at once, and sends a message
attempt("openlog", lambda: LOG.openlog("t", LOG.LOG_NDELAY))
attempt("syslog", lambda: LOG.syslog(LOG.LOG_INFO, "t"))
print("RESULT", json.dumps(out))
"""
    out = child(code, env=audit_only(core)).result()
    # THEN both are refused before the C library connects anywhere
    assert out["openlog"] == "refused"
    assert out["syslog"] == "refused"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="a stack trampoline is 3.12+")
@pytest.mark.parametrize("core", ["native", "python"])
def test_a_stack_trampoline_file_is_decided_as_a_write(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a profile with no rule for /tmp/perf-<pid>.map
    _task(tmp_path)
    code = (
        ATTEMPT
        + """
# WHEN the function activates the perf trampoline (CPython makes the file, appends to it), or
# names a backend the core does not know
attempt("perf", lambda: sys.activate_stack_trampoline("perf"))
out["made"] = os.path.exists("/tmp/perf-%d.map" % os.getpid())
attempt("unknown", lambda: sys.activate_stack_trampoline("perf_other"))
print("RESULT", json.dumps(out))
"""
    )
    out = child(code, env=audit_only(core)).result()
    made = Path(f"/tmp/perf-{out['pid']}.map")
    try:
        if core == "native":
            # THEN the file is decided as a write (refused) before CPython makes it, and an
            # unknown backend is refused
            assert out["perf"] == "refused"
            assert out["made"] is False and not made.exists()
            assert out["unknown"] == "ValueError"
        else:
            # THEN (the Python core's documented limit) CPython makes the file undecided
            assert out["perf"] is None and out["made"] is True
    finally:
        made.unlink(missing_ok=True)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="a stack trampoline is 3.12+")
def test_a_stack_trampoline_file_a_rule_allows_is_written(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a rule for the perf map files
    _task(tmp_path, files=[{"action": "write", "target": "{tmp}/perf-*.map", "phase": "any"}])
    code = (
        ATTEMPT
        + """
# WHEN the function activates the perf trampoline and runs new code
attempt("perf", lambda: sys.activate_stack_trampoline("perf"))
def later():
    return 1
later()
sys.deactivate_stack_trampoline()
out["size"] = os.path.getsize("/tmp/perf-%d.map" % os.getpid())
print("RESULT", json.dumps(out))
"""
    )
    out = child(code, env=audit_only("native")).result()
    try:
        # THEN CPython writes it
        assert out["perf"] is None and out["size"] > 0
    finally:
        Path(f"/tmp/perf-{out['pid']}.map").unlink(missing_ok=True)


def test_an_unsealable_ssl_copy_is_never_handed_out(child: RunChild, tmp_path: Path) -> None:
    # GIVEN a copy of the _ssl extension in a folder the function may load native code from
    # (its own entries, not the ones the core sealed)
    import _ssl

    copy = tmp_path / "allowed" / Path(str(_ssl.__file__)).name
    _task(tmp_path, native=[{"action": "dlopen", "target": "{task}/allowed/**", "phase": "any"}])
    copy.write_bytes(Path(str(_ssl.__file__)).read_bytes())
    os.chmod(copy, 0o755)
    code = (
        ATTEMPT
        + f"""
import _imp, importlib.util, ssl
# WHEN the function makes a module of the copy through the extension loader
spec = importlib.util.spec_from_file_location("_ssl", {str(copy)!r})
attempt("copy", lambda: type(_imp.create_dynamic(spec)).__name__)
try:
    _imp.create_dynamic(spec)
except ImportError as exc:
    out["why"] = str(exc)
out["sealed"] = list(__import__("sandbox.runtime.core", fromlist=["_"]).ssl_sealed())
print("RESULT", json.dumps(out))
"""
    )
    out = child(code, env=audit_only("native")).result()
    # THEN the copy's module is refused (its file readers could not be sealed); the first
    # _ssl's stay sealed
    assert out["copy"] == "ImportError" and "cannot be sealed" in out["why"]
    assert out["sealed"] == [True, True, True]


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_files_metadata_is_told_with_no_decision(
    child: RunChild, tmp_path: Path, core: str
) -> None:
    # GIVEN a file no rule names, and a link to it
    _task(tmp_path)
    (tmp_path / "secret" / "link").symlink_to("creds.mo")
    code = (
        ATTEMPT
        + """
# WHEN the function reads the file, and asks for its metadata and the link's text
attempt("read", lambda: open(S + "/creds.mo", "rb").read())
attempt("size", lambda: os.stat(S + "/creds.mo").st_size)
attempt("exists", lambda: os.path.exists(S + "/creds.mo"))
attempt("link", lambda: os.readlink(S + "/link"))
print("RESULT", json.dumps(out))
"""
    )
    out = child(code, env=audit_only(core)).result()
    # THEN the read is refused, but (a documented limit: CPython raises no audit event for
    # os.stat, os.access, os.readlink) the metadata and the link's text are told
    assert out["read"] == "refused"
    assert out["size"] == (tmp_path / "secret" / "creds.mo").stat().st_size
    assert out["exists"] is True and out["link"] == "creds.mo"
