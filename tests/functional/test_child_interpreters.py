"""Python children: protected with the parent's profile and mode, however they are started."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox.runtime.child import child_site_dir, python_child_problem
from sandbox.runtime.compiler import compile_profile
from tests.conftest import REPO, Child, profile_doc, run_child

# The child's attempt: read a file outside the profile and say what happened (and whose error).
WORKER = """
def read_secret(path):
    try:
        with open(path) as f:
            result = "ALLOWED " + f.read().strip()
    except PermissionError as exc:
        result = "BLOCKED " + type(exc).__module__ + "." + type(exc).__name__
    print("child:", result, flush=True)
"""

# The parent: optionally install the sandbox, optionally give its children the environment that
# protects them (what install() will do itself once wired), then start one child one way.
PARENT = """
import os, sys
import sandbox
from sandbox.runtime.child import prepare_environment
MODE, PROTECT, HOW, SECRET = {mode!r}, {protect!r}, {how!r}, {secret!r}
if MODE != "off":
    sandbox.install(mode=MODE, profile="profile.json")
if PROTECT:
    for name, value in prepare_environment(MODE, os.path.abspath("profile.json"), "init").items():
        os.environ[name] = value
sys.stdout.flush()
CHILD = f"import worker; worker.read_secret({{SECRET!r}})"
if HOW == "subprocess":
    import subprocess
    subprocess.run([sys.executable, "-c", CHILD], check=False)
elif HOW == "posix_spawn":
    pid = os.posix_spawn(sys.executable, [sys.executable, "-c", CHILD], os.environ)
    os.waitpid(pid, 0)
else:
    import multiprocessing, worker
    process = multiprocessing.get_context(HOW).Process(target=worker.read_secret, args=(SECRET,))
    process.start()
    process.join()
"""

HOW = ["subprocess", "spawn", "forkserver", "posix_spawn"]


def _profile() -> dict[str, Any]:
    """The function's profile: run Python, fork (forkserver), the worker module; no secret."""
    return profile_doc(
        processes=[
            {"action": "exec", "target": sys.executable, "phase": "any"},
            {"action": "exec", "target": os.path.realpath(sys.executable), "phase": "any"},
            {"action": "fork", "target": "fork", "phase": "any"},
        ],
        modules=[
            {"action": "import", "target": "worker", "phase": "any"},
            # multiprocessing's resource tracker (spawn, forkserver) imports POSIX shared
            # memory, which {stdlib} leaves out (its C code opens /dev/shm files unaudited):
            # a function that uses it learns this import
            {"action": "import", "target": "_posixshmem", "phase": "any"},
        ],
        files=[
            # multiprocessing's private directory (the forkserver's socket lives there)
            {"action": action, "target": target, "phase": "any"}
            for action in ("read", "write", "list", "connect")
            for target in ("{tmp}/pymp-*", "{tmp}/pymp-*/**")
        ],
        network=[
            {"action": "socket", "target": "unix/stream", "phase": "any"},
            {"action": "socket", "target": "unix/-1", "phase": "any"},  # socket(fileno=...)
        ],
    )


def child_records(result: Child, kind: str) -> list[dict[str, Any]]:
    """The children's JSON lines of one type: a child's sandbox writes them to its stderr."""
    records = []
    for line in result.stderr.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("type") == kind:
                records.append(record)
    return records


@pytest.fixture
def task(tmp_path: Path) -> Path:
    """A task root with the worker and the compiled profile; the secret lies outside it."""
    root = tmp_path / "task"
    root.mkdir()
    (root / "worker.py").write_text(WORKER)
    compiled = compile_profile(_profile(), kernel=True)
    (root / "profile.json").write_text(json.dumps(compiled))
    (tmp_path / "secret.txt").write_text("s3cr3t")
    return root


def _parent(task: Path, *, mode: str, protect: bool, how: str) -> Child:
    secret = str(task.parent / "secret.txt")
    code = PARENT.format(mode=mode, protect=protect, how=how, secret=secret)
    return run_child(code, cwd=task, timeout=120)


@pytest.mark.parametrize("how", HOW)
def test_python_child_is_protected_with_the_parents_profile_and_mode(task: Path, how: str) -> None:
    # GIVEN a parent in enforce whose children inherit the sandbox's environment
    # WHEN it starts a Python child (this way) that reads a file the profile does not allow
    result = _parent(task, mode="enforce", protect=True, how=how)
    assert result.returncode == 0, result.stderr
    # THEN the child's read is refused by the sandbox inside the child
    assert "child: BLOCKED _lambda_sandbox.errors.PermissionViolation" in result.lines, (
        result.stdout + result.stderr
    )
    blocked = [
        f
        for f in child_records(result, "sandbox.finding")
        if f["category"] == "files" and f["target"].endswith("secret.txt")
    ]
    assert blocked and all(f["decision"] == "blocked" for f in blocked)
    # AND the child started its own sandbox, in enforce (its record on its stderr, never
    # mixed into its stdout; the parent's own record on the parent's stdout)
    assert [s["mode"] for s in result.of_type("sandbox.start")] == ["enforce"]
    starts = child_records(result, "sandbox.start")
    assert starts and {s["mode"] for s in starts} == {"enforce"}
    assert not [f for f in result.findings if f["target"].endswith("secret.txt")]


@pytest.mark.parametrize("how", HOW)
def test_without_the_sandbox_the_childs_read_succeeds(task: Path, how: str) -> None:
    # GIVEN no sandbox at all WHEN the same child reads the same file
    result = _parent(task, mode="off", protect=False, how=how)
    assert result.returncode == 0, result.stderr
    # THEN the read works: the attack is real without protection
    assert "child: ALLOWED s3cr3t" in result.lines, result.stdout + result.stderr
    assert result.of_type("sandbox.start") == child_records(result, "sandbox.start") == []


# ------------------------------------------------------------------ what undoes it


ESCAPES = """
import json, os, subprocess, sys
import sandbox
from sandbox.runtime.child import prepare_environment, python_child_problem
sandbox.install(mode="enforce", profile="profile.json")
for name, value in prepare_environment("enforce", os.path.abspath("profile.json"), "init").items():
    os.environ[name] = value
sys.stdout.flush()
# Inline (with -I the working directory is not on sys.path, so no worker module).
CHILD = "print('child: ALLOWED', open({secret!r}).read().strip())"
for label, argv, env in [
    ("isolated", [sys.executable, "-I", "-c", CHILD], None),
    ("empty-env", [sys.executable, "-c", CHILD], {{"PATH": os.environ.get("PATH", "")}}),
]:
    problem = python_child_problem(sys.executable, argv, env, dict(os.environ))
    print(label, "problem:", json.dumps(problem))
    sys.stdout.flush()
    try:
        subprocess.run(argv, env=env, cwd=os.getcwd(), check=False)
        print(label, "started")
    except PermissionError as exc:
        print(label, "refused", exc.category, exc.action)
"""


def test_isolated_or_empty_environment_children_are_detected(task: Path) -> None:
    # GIVEN a protected parent WHEN it starts Python with -I, or with an environment of its own
    secret = str(task.parent / "secret.txt")
    result = run_child(ESCAPES.format(secret=secret), cwd=task, timeout=120)
    assert result.returncode == 0, result.stderr
    problems = {
        line.split(" problem: ")[0]: json.loads(line.split(" problem: ")[1])
        for line in result.lines
        if " problem: " in line
    }
    # THEN python_child_problem names why each child would run unprotected
    assert "-I" in problems["isolated"]
    assert "SANDBOX_MODE" in problems["empty-env"]
    # AND the hook refuses to start either: no child read the secret
    assert "isolated refused processes exec" in result.lines, result.stdout + result.stderr
    assert "empty-env refused processes exec" in result.lines
    assert "child: ALLOWED s3cr3t" not in result.lines


def test_the_protecting_environment_has_no_problem(task: Path) -> None:
    # GIVEN the environment prepare_environment gives
    code = """
import json, os, sys
from sandbox.runtime.child import prepare_environment, python_child_problem
env = dict(os.environ)
env.update(prepare_environment("enforce", os.path.abspath("profile.json"), "invoke", environ=env))
argv = [sys.executable, "-c", "pass"]
print(json.dumps([python_child_problem(sys.executable, argv, None, env),
                  python_child_problem(sys.executable, argv, dict(env), env)]))
"""
    result = run_child(code, cwd=task)
    assert result.returncode == 0, result.stderr
    # THEN an inherited or copied environment starts a protected child
    assert json.loads(result.lines[-1]) == [None, None]


def test_a_protected_childs_stdout_is_its_own(task: Path) -> None:
    # GIVEN a protected parent that reads a Python child's stdout as its result
    code = """
import os, subprocess, sys, sandbox
from sandbox.runtime.child import prepare_environment
sandbox.install(mode="enforce", profile="profile.json")
os.environ.update(prepare_environment("enforce", os.path.abspath("profile.json"), "init"))
out = subprocess.check_output([sys.executable, "-c", "print('{\\"answer\\": 42}')"])
print("child stdout", repr(out))
"""
    result = run_child(code, cwd=task, timeout=120)
    assert result.returncode == 0, result.stderr
    # THEN it holds exactly what the child printed; the child's sandbox wrote to stderr
    assert "child stdout b'{\"answer\": 42}\\n'" in result.lines, result.stdout
    assert [s["mode"] for s in child_records(result, "sandbox.start")] == ["enforce"]


# ------------------------------------------------------------------ child_site/sitecustomize.py


def _site_env(task: Path, mode: str, profile: str, *extra_path: str) -> dict[str, str]:
    return {
        "SANDBOX_MODE": mode,
        "SANDBOX_PROFILE": profile,
        "PYTHONPATH": os.pathsep.join([child_site_dir(), *extra_path, str(REPO)]),
    }


def test_sitecustomize_installs_under_the_private_name(task: Path) -> None:
    # GIVEN a Python started with the sandbox's environment (as any inheriting child is)
    code = """
import sys
print("runtime", sys.modules["_lambda_sandbox"].__name__, "sandbox" in sys.modules)
import _lambda_sandbox.control as hook
print("status", hook.installed()["mode"])
"""
    result = run_child(code, cwd=task, env=_site_env(task, "enforce", str(task / "profile.json")))
    assert result.returncode == 0, result.stderr
    # THEN the runtime was loaded as _lambda_sandbox (not the tooling's package) and installed
    assert "runtime _lambda_sandbox False" in result.lines
    assert "status enforce" in result.lines
    assert [s["mode"] for s in child_records(result, "sandbox.start")] == ["enforce"]


def test_sitecustomize_fails_closed_in_enforce(task: Path) -> None:
    # GIVEN enforce with a profile that does not exist
    env = _site_env(task, "enforce", str(task / "missing.json"))
    # WHEN a Python child starts
    result = run_child("print('child code ran')", cwd=task, env=env)
    # THEN it never runs its code: status 70, the reason on stderr
    assert result.returncode == 70
    assert "child code ran" not in result.stdout
    assert "not running unprotected" in result.stderr


def test_sitecustomize_reports_and_goes_on_in_learn(task: Path) -> None:
    # GIVEN learn with an invalid setting the sandbox cannot use
    env = {**_site_env(task, "learn", str(task / "profile.json")), "SANDBOX_SECCOMP": "maybe"}
    # WHEN a Python child starts
    result = run_child("print('child code ran')", cwd=task, env=env)
    # THEN learn never breaks the child: it runs, and the problem is reported in its start
    # record (on stderr: a child's stdout is its own)
    assert result.returncode == 0, result.stderr
    assert "child code ran" in result.lines
    assert "SANDBOX_SECCOMP='maybe'" in result.stderr


def test_sitecustomize_chains_the_next_one_under_the_sandbox(task: Path, tmp_path: Path) -> None:
    # GIVEN a distribution's own sitecustomize later on the path
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text(
        "import sys\n"
        "import _lambda_sandbox.control as hook\n"
        "print('chained, sandbox', (hook.installed() or {}).get('mode'), flush=True)\n"
    )
    env = _site_env(task, "enforce", str(task / "profile.json"), str(other))
    # (it is read under the sandbox already, so the profile allows reading it)
    doc = _profile()
    doc["rules"]["files"].append({"action": "read", "target": f"{other}/**", "phase": "any"})
    (task / "profile.json").write_text(json.dumps(compile_profile(doc, kernel=True)))
    # WHEN a Python child starts
    result = run_child("print('child code ran')", cwd=task, env=env)
    # THEN the other sitecustomize ran, after the sandbox was installed, then the child's code
    assert result.returncode == 0, result.stderr
    assert result.lines == ["chained, sandbox enforce", "child code ran"], result.stderr


def _older_interpreters() -> list[str]:
    """Interpreters older than the runtime supports that this machine happens to have."""
    found = set()
    for version in ("2.7", "3.6", "3.7", "3.8", "3.9"):
        for candidate in Path(sys.base_prefix).parent.glob(f"{version}*/bin/python{version}"):
            found.add(str(candidate))
        for directory in ("/usr/bin", "/usr/local/bin"):
            if os.access(f"{directory}/python{version}", os.X_OK):
                found.add(f"{directory}/python{version}")
    return sorted(found)


@pytest.mark.skipif(not _older_interpreters(), reason="no Python older than 3.10 on this machine")
@pytest.mark.parametrize("mode", ["enforce", "learn"])
def test_older_interpreters_fail_closed_in_enforce(task: Path, mode: str) -> None:
    import subprocess

    for python in _older_interpreters():
        # GIVEN a child interpreter too old for the runtime (even Python 2 compiles the file)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")},
            **_site_env(task, mode, str(task / "profile.json")),
            "PYTHONPATH": child_site_dir(),
            # (Python 2 writes sitecustomize.pyc next to the source: not into the package)
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        # WHEN it starts
        proc = subprocess.run(
            [python, "-c", "print('child code ran')"],
            env=env,
            cwd=task,
            capture_output=True,
            text=True,
            timeout=60,
        )
        # THEN enforce never runs it unprotected; learn runs it and says why it is not protected
        assert "older than the sandbox supports" in proc.stderr, (python, proc.stderr)
        if mode == "enforce":
            assert proc.returncode == 70, (python, proc.stderr)
            assert "child code ran" not in proc.stdout
        else:
            assert proc.returncode == 0, (python, proc.stderr)
            assert "child code ran" in proc.stdout


# ------------------------------------------------------------------ needs the hook's wiring

WIRING = (
    "needs the hook to call sandbox.runtime.child (issue #10 class 4 wiring, not in this branch)"
)


def test_install_itself_protects_children(task: Path) -> None:
    # GIVEN a parent that only installs the sandbox (install() applies prepare_environment)
    code = PARENT.replace("if PROTECT:", "if False:").format(
        mode="enforce", protect=False, how="spawn", secret=str(task.parent / "secret.txt")
    )
    result = run_child(code, cwd=task, timeout=120)
    # THEN its spawn child is protected all the same
    assert "child: BLOCKED _lambda_sandbox.errors.PermissionViolation" in result.lines


def test_hook_refuses_an_unprotected_python_child(task: Path) -> None:
    # GIVEN a protected parent WHEN it starts Python with -I (its exec otherwise allowed)
    code = """
import os, subprocess, sys, sandbox
sandbox.install(mode="enforce", profile="profile.json")
try:
    subprocess.run([sys.executable, "-I", "-c", "print('child code ran')"], check=False)
except PermissionError as exc:
    print("refused", type(exc).__name__)
"""
    result = run_child(code, cwd=task, timeout=120)
    # THEN the exec is refused and reported
    assert "refused PermissionViolation" in result.lines
    assert "child code ran" not in result.lines


def test_hook_decides_a_dangerous_environment_change(task: Path) -> None:
    # GIVEN a protected parent WHEN it sets LD_PRELOAD for its children
    code = """
import os, sandbox
sandbox.install(mode="enforce", profile="profile.json")
try:
    os.environ["LD_PRELOAD"] = "/tmp/evil.so"
except PermissionError as exc:
    print("refused", type(exc).__name__)
"""
    result = run_child(code, cwd=task)
    # THEN the change is refused as an access of its own
    assert "refused PermissionViolation" in result.lines
    assert any(
        f["category"] == "processes"
        and f["action"] == "env"
        and f["target"].startswith("LD_PRELOAD=")
        for f in result.findings
    )


def test_python_child_problem_sees_the_running_interpreter() -> None:
    # GIVEN this interpreter's own path WHEN asked with isolation flags hidden in a cluster
    problem = python_child_problem(sys.executable, [sys.executable, "-bIc", "pass"], None, {})
    # THEN it is recognised as Python and the flag found
    assert problem is not None and "-I" in problem


# ------------------------------------------------------------------ the layer's package name

LAYER_PARENT = """
import os, subprocess, sys
import _lambda_sandbox.install as install
from _lambda_sandbox.child import prepare_environment
install.install(mode="enforce", profile="profile.json")
for name, value in prepare_environment("enforce", os.path.abspath("profile.json"), "init").items():
    os.environ[name] = value
print("parent runtime", install.__file__.startswith({layer!r}), "sandbox" in sys.modules)
sys.stdout.flush()
child = "import sys, worker; print('child runtime', sys.modules['_lambda_sandbox'].__file__.startswith({layer!r})); worker.read_secret({secret!r})"
subprocess.run([sys.executable, "-c", child], check=False)
"""


def test_children_are_protected_under_the_layers_package_name(task: Path, tmp_path: Path) -> None:
    # GIVEN the runtime as the layer ships it (_lambda_sandbox, no `sandbox` package importable)
    from sandbox.layer import stage_layer

    opt = tmp_path / "opt"
    stage_layer(opt)
    layer_python = str(opt / "python")
    code = LAYER_PARENT.format(layer=layer_python, secret=str(tmp_path / "secret.txt"))
    # WHEN a parent running from the layer starts a Python child that reads outside the profile
    result = run_child(code, cwd=task, env={"PYTHONPATH": layer_python}, timeout=120)
    assert result.returncode == 0, result.stderr
    # THEN parent and child both run the layer's package, and the child's read is refused
    assert "parent runtime True False" in result.lines
    assert "child runtime True" in result.lines
    assert "child: BLOCKED _lambda_sandbox.errors.PermissionViolation" in result.lines
    assert [s["mode"] for s in result.of_type("sandbox.start")] == ["enforce"]  # the parent
    assert [s["mode"] for s in child_records(result, "sandbox.start")] == ["enforce"]


@pytest.mark.parametrize("core", ["native", "python"])
def test_a_protected_child_inherits_no_ready_made_native_code(
    task: Path, tmp_path: Path, core: str
) -> None:
    # GIVEN a protected child (the runtime loaded as _lambda_sandbox, kernel layer active; with
    # the Python core the layer's calls went through _ctypes)
    code = """
import os, sys
calls = sys.modules.get("_lambda_sandbox.kernel.ctypes_calls")
libc = getattr(calls, "_LIBC", None)
if libc is None:
    print("no native code left")
else:
    ffi = sys.modules["_lambda_sandbox.kernel.ffi"]
    path = ffi.create_string_buffer({secret!r}.encode())
    # openat(AT_FDCWD, path, O_RDONLY), every argument a full register (syscall is variadic)
    fd = libc.syscall(ffi.c_long(257), ffi.c_long(-100), path, ffi.c_long(0))
    print("read around the hook:", os.read(fd, 64) if fd >= 0 else fd)
"""
    secret = str(tmp_path / "secret.txt")
    env = _site_env(task, "enforce", str(task / "profile.json"))
    if core == "python":
        env["SANDBOX_NATIVE"] = "off"
    # WHEN its code looks for the sandbox's own native helpers
    result = run_child(code.format(secret=secret), cwd=task, env=env)
    # THEN there are none to use (else openat runs with no audit event: file rules bypassed)
    assert result.lines == ["no native code left"], result.stdout + result.stderr


def test_a_python_child_started_during_an_invocation_starts_protected(task: Path) -> None:
    # GIVEN a protected parent in the invoke phase, whose profile allows running Python
    code = """
import json, subprocess, sys, sandbox, sandbox.runtime.hook
sandbox.install(mode="enforce", profile="profile.json")
sandbox.runtime.hook.mark_invoke_phase()
child = subprocess.run([sys.executable, "phase.py"], capture_output=True, text=True)
print("rc", child.returncode, child.stdout.strip())
print("stderr", json.dumps(child.stderr[-300:]))
"""
    (task / "phase.py").write_text("import _lambda_sandbox._core as c\nprint('child', c.phase())\n")
    profile = _profile()
    profile["rules"]["files"].append({"action": "read", "target": "{task}/phase.py"})
    # (the child runs the script: decided as running that file, not a compile at no site)
    profile["rules"]["code"] = [{"action": "exec", "target": "{task}/phase.py"}]
    profile["rules"]["modules"].append({"action": "import", "target": "phase"})
    (task / "profile.json").write_text(json.dumps(profile))
    # WHEN it starts a Python child
    result = run_child(code, cwd=task, timeout=120)
    # THEN the child installs the sandbox and starts in the invoke phase (not refused: exit 70)
    assert "rc 0 child invoke" in result.lines, result.stdout + result.stderr


# The parent installs from a document (its children then load a copy written in the temp dir,
# which this profile lets the function write), optionally changes that file one way, then
# starts a Python child that reads the secret.
REWRITTEN = """
import json, os, subprocess, sys
import sandbox
document = json.load(open("profile.json"))
sandbox.install(mode="enforce", profile=document)
path = os.environ["SANDBOX_PROFILE"]
SECRET, HOW = {secret!r}, {how!r}
if HOW == "rewrite":  # the rules widened in place: the secret allowed to the child
    copy = json.load(open(path))
    copy["rules"].setdefault("files/read/init", []).append(os.path.dirname(SECRET) + "/**")
    with open(path, "w") as out:
        json.dump(copy, out)
elif HOW == "replace":  # the same bytes, another file renamed over it
    data = open(path).read()
    with open(path + ".new", "w") as out:
        out.write(data)
    os.replace(path + ".new", path)
elif HOW == "touch":  # nothing written, the times set
    os.utime(path)
sys.stdout.flush()
result = subprocess.run([sys.executable, "-c", f"import worker; worker.read_secret({{SECRET!r}})"])
print("child exit", result.returncode, flush=True)
"""


@pytest.mark.parametrize("how", ["untouched", "rewrite", "replace", "touch"])
def test_a_child_refuses_a_profile_file_changed_after_its_parent_installed(
    task: Path, how: str
) -> None:
    # GIVEN a parent installed from a profile document that lets the function write the
    # compiled copy its Python children load (the sandbox writes it in the temp dir, and gives
    # the children the file's identity)
    document = json.loads((task / "profile.json").read_text())
    for action in ("read", "write"):
        document["rules"].setdefault(f"files/{action}/init", []).append("{tmp}/sandbox-profile-*")
    (task / "profile.json").write_text(json.dumps(document))
    code = REWRITTEN.format(secret=str(task.parent / "secret.txt"), how=how)
    # WHEN the function changes that file (widens its rules, replaces it with the same bytes,
    # or only sets its times), then starts a Python child
    result = run_child(code, cwd=task, timeout=120)
    if how == "untouched":
        # THEN an untouched file protects the child as its parent is protected
        assert "child: BLOCKED _lambda_sandbox.errors.PermissionViolation" in result.lines
        assert "child exit 0" in result.lines, result.stdout + result.stderr
    else:
        # THEN the child refuses to start on it (fail closed: no code of the child's runs),
        # saying why
        assert not any(line.startswith("child:") for line in result.lines), result.stdout
        assert "child exit 70" in result.lines, result.stdout + result.stderr
        assert "changed since the parent process was installed with it" in result.stderr


def test_a_child_passes_on_the_identity_it_read_not_a_later_one(task: Path) -> None:
    # GIVEN a process that loaded its compiled profile (as a Python child does, from the path
    # its parent gave it), and a function that rewrites the file right after that read (in a
    # child, between its check and the environment it prepares for its own children)
    code = """
import json, os
from sandbox.runtime import install
from sandbox.runtime.config import Config
from sandbox.runtime.policy import file_identity_text
path = os.path.abspath("profile.json")
runtime = install._private_runtime()
config = Config(mode="enforce", profile_path=path)
roots = runtime.module("roots").Roots.detect(None)
policy, loaded = install._policy_from(runtime, path, config, roots, "enforce")
with open(path, "a") as out:
    out.write(" ")
install._protect_children(runtime, "enforce", config, policy, loaded)
runtime.finish()
given = os.environ["SANDBOX_PROFILE_IDENTITY"]
print("given is the one read", given == file_identity_text(loaded[1], loaded[2]))
print("the file has another", file_identity_text(os.stat(path), open(path, "rb").read()) != given)
"""
    # WHEN it prepares its children's environment
    result = run_child(code, cwd=task, timeout=120)
    # THEN the identity it hands them is the one of what it read: a grandchild started after the
    # rewrite refuses the file (red team 46: a second look at the path took the rewrite in)
    assert "given is the one read True" in result.lines, result.stdout + result.stderr
    assert "the file has another True" in result.lines, result.stdout + result.stderr


@pytest.mark.parametrize("changed", ["nothing", "the bytes", "the times"])
def test_a_childs_profile_identity_holds_its_bytes_digest(task: Path, changed: str) -> None:
    # GIVEN the identity a parent hands its Python child for the profile file: its stat
    # fields, and the SHA-256 of its bytes
    from sandbox.runtime.policy import file_identity_text

    path = task / "profile.json"
    fields = file_identity_text(path.stat(), path.read_bytes()).split(":")
    # WHEN one part of it differs from the file the child finds -- the bytes (as after a
    # rewrite whose times were set back by a process allowed to set the clock), or a time
    if changed == "the bytes":
        fields[-1] = file_identity_text(path.stat(), path.read_bytes() + b" ").split(":")[-1]
    elif changed == "the times":
        fields[3] = str(int(fields[3]) - 1)
    env = {**_site_env(task, "enforce", str(path)), "SANDBOX_PROFILE_IDENTITY": ":".join(fields)}
    result = run_child("print('child code ran')", cwd=task, env=env)
    # THEN only the identity of the very file and bytes lets the child start
    if changed == "nothing":
        assert "child code ran" in result.lines, result.stderr
    else:
        assert result.returncode == 70 and "child code ran" not in result.stdout
        assert "changed since the parent process was installed with it" in result.stderr


def test_a_profile_that_runs_no_program_gives_children_an_identity_no_file_has(
    task: Path,
) -> None:
    # GIVEN an enforce profile with no rule that runs a program (no Python child can start
    # under it: its bytes are not hashed at install)
    document = json.loads((task / "profile.json").read_text())
    document["rules"] = {k: v for k, v in document["rules"].items() if "processes/exec" not in k}
    (task / "profile.json").write_text(json.dumps(document))
    code = """
import os, sandbox
sandbox.install(mode="enforce", profile="profile.json")
print("digest", os.environ["SANDBOX_PROFILE_IDENTITY"].rsplit(":", 1)[1])
"""
    result = run_child(code, cwd=task, timeout=120)
    # THEN the identity it hands children holds no digest, which no file matches
    assert "digest -" in result.lines, result.stdout + result.stderr
    # AND a Python child started with it anyway refuses to run (fail closed)
    from sandbox.runtime.policy import file_identity_text

    path = task / "profile.json"
    identity = file_identity_text(path.stat(), None)
    env = {**_site_env(task, "enforce", str(path)), "SANDBOX_PROFILE_IDENTITY": identity}
    child = run_child("print('child code ran')", cwd=task, env=env)
    assert child.returncode == 70 and "child code ran" not in child.stdout
