"""Profile → runtime form: resolve ``extends``, validate, group rules into prebuilt matchers.

Pure Python and ``json`` only, so the runtime can also compile a plain profile at start when it
is handed one (the Lambda layer ships the compiled form; the pydantic model in
:mod:`sandbox.profile` is the tooling's stricter validator).
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]  # the regex engine (no stub)
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .categories import ACTIONS, CATEGORIES
from .config import RULE_PHASES
from .errors import ProfileError
from .policy import FORMAT, FORMAT_VERSION, host_part, is_compiled, load_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .roots import Roots

SCHEMA_VERSION = 1
BASE_DIR = Path(__file__).parent / "data" / "base"


# The ceiling: denies that no learned or hand-written rule can override.
CEILING: dict[str, list[str]] = {
    "files/read": [
        "/proc/*/environ",
        "/proc/*/task/*/environ",
        "/proc/*/mem",
        "/proc/*/task/*/mem",
    ],
    "files/write": ["/proc/*/mem", "/proc/*/task/*/mem", "/proc/*/environ"],
    # The sandbox's own control of child interpreters and the dynamic loader: never granted.
    "processes/env": ["SANDBOX_*=*", "LD_PRELOAD=*", "LD_AUDIT=*"],
    # Instance/container metadata and credential endpoints (IPv4 link-local, EC2 IPv6).
    "network/connect": ["169.254.*.*:*", "[fd00:ec2::254]:*"],
    "network/sendto": ["169.254.*.*:*", "[fd00:ec2::254]:*"],
    "network/resolve": ["instance-data", "instance-data.ec2.internal", "metadata.google.internal"],
    # Python audit hooks are per-interpreter: a subinterpreter runs without them.
    "modules/import": [
        "_xxsubinterpreters",
        "_interpreters",
        "_xxinterpchannels",
        "_interpchannels",
        "_interpqueues",
        "concurrent.interpreters",
    ],
}


def resolve_extends(
    document: Mapping[str, Any], *, base_dir: Path | None = None, _seen: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The profile and every bundle it extends (depth first), as plain documents."""
    out: list[dict[str, Any]] = []
    extends = document.get("extends", [])
    if not isinstance(extends, list) or not all(isinstance(e, str) for e in extends):
        raise ProfileError("expected a list of bundle names", field="extends")
    for name in extends:
        if name in _seen:
            raise ProfileError(f"cycle through {name!r}", field="extends")
        candidates = [BASE_DIR / f"{name}.json"]
        if base_dir is not None:
            candidates.insert(0, base_dir / name)
            candidates.insert(1, base_dir / f"{name}.json")
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise ProfileError(f"unknown bundle {name!r}", field="extends")
        bundle = load_json(path)
        out.extend(resolve_extends(bundle, base_dir=path.parent, _seen=(*_seen, name)))
    out.append(dict(document))
    return out


def iter_rules(
    document: Mapping[str, Any], section: str = "rules", source: str = "profile"
) -> list[tuple[str, dict[str, Any]]]:
    """Validate a document's rules structurally; yield ``(category, rule)`` pairs."""
    rules = document.get(section, {})
    if not isinstance(rules, dict):
        raise ProfileError("expected an object keyed by category", source=source, field=section)
    out: list[tuple[str, dict[str, Any]]] = []
    for category, items in rules.items():
        if category not in ACTIONS:
            raise ProfileError(
                f"unknown category {category!r} (expected one of {', '.join(CATEGORIES)})",
                source=source,
                field=f"{section}.{category}",
            )
        if not isinstance(items, list):
            raise ProfileError("expected a list", source=source, field=f"{section}.{category}")
        for index, rule in enumerate(items):
            where = f"{section}.{category}[{index}]"
            if not isinstance(rule, dict):
                raise ProfileError("expected an object", source=source, field=where)
            action = rule.get("action")
            if action not in ACTIONS[category]:
                raise ProfileError(
                    f"action {action!r} is not one of {', '.join(ACTIONS[category])}",
                    source=source,
                    field=f"{where}.action",
                )
            target = rule.get("target")
            if not isinstance(target, str) or not target:
                raise ProfileError(
                    "expected a non-empty string", source=source, field=f"{where}.target"
                )
            phase = rule.get("phase", "any")
            if section == "rules" and phase not in RULE_PHASES:
                raise ProfileError(
                    f"phase {phase!r} is not one of {', '.join(RULE_PHASES)}",
                    source=source,
                    field=f"{where}.phase",
                )
            argv = rule.get("argv")
            if argv is not None and (
                not isinstance(argv, list) or not all(isinstance(a, str) for a in argv)
            ):
                raise ProfileError(
                    "expected a list of strings", source=source, field=f"{where}.argv"
                )
            out.append((category, rule))
    return out


def compile_profile(
    document: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    source: str = "profile",
    kernel: bool = True,
    kernel_in_child: bool = False,
) -> dict[str, Any]:
    """Compile a profile document (with its ``extends``) into the runtime form.

    ``kernel_in_child``: build the kernel section in a child process (what ``install`` asks
    for a profile it compiles itself): libseccomp's binding loads ``ctypes``, which must never
    be loaded in the process the sandbox protects (see :func:`_kernel_section`).

    Example
    -------
    >>> doc = compile_profile({"schema_version": 1, "function": "f", "rules": {}})
    >>> doc["format"]
    'lambda-sandbox.compiled'
    """
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ProfileError(
            f"schema_version {version!r} is not supported (expected {SCHEMA_VERSION})",
            source=source,
            field="schema_version",
        )
    groups: dict[str, set[str] | list[Any]] = {}
    ceiling: dict[str, set[str]] = {key: set(values) for key, values in CEILING.items()}
    for layer in resolve_extends(document, base_dir=base_dir):
        for category, rule in iter_rules(layer, "rules", source):
            phase = rule.get("phase", "any")
            phases = ("init", "invoke") if phase == "any" else (phase,)
            for ph in phases:
                key = f"{category}/{rule['action']}/{ph}"
                if category == "processes" and rule["action"] == "exec":
                    entry = [rule["target"], rule.get("argv")]
                    bucket = groups.setdefault(key, [])
                    assert isinstance(bucket, list)
                    if entry not in bucket:
                        bucket.append(entry)
                else:
                    bucket_set = groups.setdefault(key, set())
                    assert isinstance(bucket_set, set)
                    bucket_set.add(rule["target"])
                if category == "network" and rule["action"] in ("connect", "sendto"):
                    # Connecting to a name means resolving it first.
                    host_key = f"network/resolve/{ph}"
                    resolve_bucket = groups.setdefault(host_key, set())
                    assert isinstance(resolve_bucket, set)
                    resolve_bucket.add(host_part(rule["target"]))
        for category, rule in iter_rules(layer, "deny", source):
            ceiling.setdefault(f"{category}/{rule['action']}", set()).add(rule["target"])
    compiled_rules = {
        key: (sorted(value) if isinstance(value, set) else sorted(value, key=json.dumps))
        for key, value in sorted(groups.items())
    }
    import hashlib

    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    compiled: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "function": document.get("function", ""),
        "profile_sha256": hashlib.sha256(body).hexdigest(),
        "rules": compiled_rules,
        "ceiling": {key: sorted(value) for key, value in sorted(ceiling.items())},
        "kernel": _kernel_section(compiled_rules, kernel_in_child) if kernel else None,
    }
    return compiled


def _kernel_section(rules: Mapping[str, Any], in_child: bool = False) -> dict[str, Any] | None:
    """The seccomp/Landlock section, when the kernel layer's tooling is installed beside us.

    The layer ships compiled profiles only (``sandbox profile compile`` adds this section); a
    development install also compiles it for a raw profile handed to ``install()``. Inside the
    layer the runtime is not the ``sandbox.runtime`` package, and nothing is imported: a module
    of the function's that happens to be called ``sandbox`` must never be loaded by the sandbox.
    """
    if __package__ != "sandbox.runtime":
        return None
    try:
        from sandbox.kernel import KernelRequest, compile_kernel
    except ImportError:
        return None
    allow_exec = any(key.startswith("processes/exec/") for key in rules)
    allow_fork = allow_exec or any(key.startswith("processes/fork/") for key in rules)
    # Landlock: writes (and creating, removing, renaming) only beneath the directory form of the
    # profile's write rules, kept symbolic ({tmp}, {task}) and expanded where the profile loads.
    # Reads are not restricted: native code (OpenSSL's CA files, libc's locale and resolver
    # files, dlopen'ed libraries) reads files the audit layer never sees, so learning cannot
    # know them and a read ruleset would break functions.
    write_dirs = sorted(
        {
            static_part(target)
            for key, targets in rules.items()
            if key.startswith("files/write/")
            for target in targets
        }
    )
    if in_child:
        return _kernel_section_in_child(allow_exec, allow_fork, write_dirs)
    try:
        return compile_kernel(
            KernelRequest(
                allow_exec=allow_exec, allow_fork=allow_fork, write_dirs=tuple(write_dirs)
            )
        )
    except Exception as exc:  # the kernel layer is optional: say why it is missing
        return {"seccomp": None, "reason": f"kernel compile failed: {exc}"}


def _kernel_section_in_child(
    allow_exec: bool, allow_fork: bool, write_dirs: list[str]
) -> dict[str, Any]:
    """The kernel section built by ``python -m sandbox.kernel compile`` in a child process.

    libseccomp's binding is ``ctypes``: loaded in the protected process, it would stay there
    for the function (a module dropped from ``sys.modules`` is still referenced by the modules
    that imported it, and CPython hands a single-phase extension out again from its cache with
    no ``import`` event) -- and ``ctypes`` reads and writes any memory with no audit event.
    Only ``install`` of a profile that was not compiled beforehand pays this (~0.1 s); the
    layer ships compiled profiles.
    """
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[2])
    arguments = ["compile"] + ["--allow-exec"] * allow_exec + ["--allow-fork"] * allow_fork
    for directory in write_dirs:
        arguments += ["--write-dir", directory]
    program = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from sandbox.kernel.__main__ import main; sys.exit(main(sys.argv[2:]))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", program, root, *arguments],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError((done.stderr.strip().splitlines() or ["no output"])[-1])
        section = json.loads(done.stdout)
        if not isinstance(section, dict):
            raise ValueError("not a JSON object")
        return section
    except Exception as exc:  # the kernel layer is optional: say why it is missing
        return {"seccomp": None, "reason": f"kernel compile failed: {exc}"}


def static_part(pattern: str) -> str:
    """The longest leading part of a file glob with no wildcard: a directory, or the file itself.

    Example
    -------
    >>> static_part("{tmp}/receipt-*.json"), static_part("{task}/out/**"), static_part("/dev/null")
    ('{tmp}', '{task}/out', '/dev/null')
    """
    cut = min((i for i, c in enumerate(pattern) if c in "*?["), default=-1)
    if cut < 0:
        return pattern
    return pattern[:cut].rsplit("/", 1)[0] or "/"


def load_any(path: str | os.PathLike[str], *, kernel_in_child: bool = False) -> dict[str, Any]:
    """Load a profile or a compiled profile from a file; always return the compiled form."""
    document = load_json(path)
    if is_compiled(document):
        return document
    return compile_profile(
        document, base_dir=Path(path).parent, source=str(path), kernel_in_child=kernel_in_child
    )


def encode_row(
    pattern: str,
    flags: int,
    final_flags: int,
    code: list[int],
    groups: int,
    groupindex: dict[str, int],
    indexgroup: Any,
    *,
    codesize: int,
    byteorder: str,
) -> list[Any]:
    """One row of a program table: the arguments ``re`` passed to ``_sre.compile``, its code
    words in hex (``codesize`` bytes each, in ``byteorder``).

    Example
    -------
    >>> encode_row("a", 0, 32, [1, 2], 1, {}, (None,), codesize=4, byteorder="little")
    ['a', 0, 32, '0100000002000000', 1, [], [None]]
    """
    words = b"".join(
        int(word).to_bytes(codesize, "big" if byteorder == "big" else "little") for word in code
    ).hex()
    return [
        pattern,
        flags,
        final_flags,
        words,
        groups,
        [[name, number] for name, number in sorted(groupindex.items())],
        list(indexgroup),
    ]


def regex_program_rows(patterns: Any) -> list[list[Any]]:
    """This interpreter's program rows (:mod:`.regex_programs`) for ``patterns`` (``(pattern,
    flags)`` pairs), as ``re`` compiles them (tooling only, never at install).

    Example
    -------
    >>> from .regex_programs import compile_pattern, table
    >>> row = regex_program_rows([("a[0-9]", 0)])[0]
    >>> compile_pattern("a[0-9]", 0, table([row])).pattern
    'a[0-9]'
    """
    try:
        import re._compiler as compiler  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - 3.10
        import sre_compile as compiler

    captured: list[tuple[Any, ...]] = []

    class _Spy:  # the regex engine as re's compiler sees it, keeping what it is asked
        def __getattr__(self, name: str) -> Any:
            return getattr(_sre, name)

        def compile(self, *args: Any) -> Any:
            captured.append(args)
            return _sre.compile(*args)

    engine = compiler._sre
    compiler._sre = _Spy()
    out = []
    try:
        for pattern, flags in patterns:
            del captured[:]
            compiler.compile(pattern, flags)
            (args,) = captured
            source, final_flags, code, groups, groupindex, indexgroup = args
            out.append(
                encode_row(
                    source, int(flags), final_flags, list(code), groups, dict(groupindex),
                    indexgroup, codesize=_sre.CODESIZE, byteorder=sys.byteorder,
                )
            )  # fmt: skip
    finally:
        compiler._sre = engine
    return out


def lambda_roots() -> Roots:
    """The roots a function of this interpreter's version has in AWS Lambda (its runtime
    images' layout), for :func:`with_regex_programs`.

    Example
    -------
    >>> lambda_roots().dirs["tmp"]
    ('/tmp',)
    """
    from .roots import Roots

    lib = "/var/lang/lib/python{}.{}".format(*sys.version_info[:2])
    return Roots(
        {
            "task": ("/var/task",),
            "opt": ("/opt",),
            "stdlib": (lib,),
            "site": (lib + "/site-packages", "/opt/python"),
            "runtime": ("/var/runtime",),
            "prefix": ("/var/lang",),
            "tmp": ("/tmp",),
            "sandbox": ("/opt/python/_lambda_sandbox",),
        }
    )


def with_regex_programs(compiled: Mapping[str, Any], roots: Any = None) -> dict[str, Any]:
    """``compiled`` with this interpreter's programs of its rules' regexes, as each of ``roots``
    (default: Lambda's, :func:`lambda_roots`) expands them, under ``regex_programs``: install
    then builds those regexes from their programs, without ``re``'s parse (~0.1 ms a regex
    of cold start). Tooling only.

    A program is found by its regex's exact text, for the interpreter that made it (cache tag,
    regex engine version): an install elsewhere, or with other roots, compiles with ``re`` as
    before. The ceiling never takes a program from the profile (its regexes come from the
    shipped programs or ``re``): a profile's programs can only speed up its own rules.

    Example
    -------
    >>> doc = compile_profile({"schema_version": 1, "function": "f", "rules": {"files": [
    ...     {"action": "read", "target": "/data/*.csv", "phase": "any"}]}}, kernel=False)
    >>> from .regex_programs import KEY
    >>> len(with_regex_programs(doc)["regex_programs"][KEY]) > 0
    True
    """
    from .policy import Policy
    from .regex_programs import KEY, programs

    shipped = programs()
    wanted: list[tuple[str, int]] = []
    # (Lambda's roots only by default: the compiled form then depends on the profile and the
    # Python alone, never on the machine or the folder it is compiled in)
    for each in roots or (lambda_roots(),):
        for pattern in Policy.load(compiled, each).rule_regexes():
            if pattern not in shipped and pattern not in wanted:
                wanted.append(pattern)
    out = dict(compiled)
    tables = dict(out.get("regex_programs") or {})
    tables[KEY] = regex_program_rows(sorted(wanted))
    out["regex_programs"] = tables
    return out
