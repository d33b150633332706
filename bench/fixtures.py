"""What the benchmarks run against: generated files and modules, the child harness, learned profiles.

Everything is made fresh in one working folder per run; the services (a moto server and the
pricing service of ``examples/services.py``) listen on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import py_compile
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
ORDERS = EXAMPLES / "orders"
# The stdlib-heavy handler: SQLite, temp files and file I/O, ~20 decided events per call.
STDLIB = REPO / "bench" / "functions" / "stdlib"
STDLIB_FUNCTION = "bench-stdlib"
SHM = "/dev/shm"
# Environment names a child never inherits: the sandbox's and Datadog's settings, the
# parent's Python settings (PYTHONDONTWRITEBYTECODE would make every import compile source).
_DROP_PREFIXES = ("SANDBOX_", "DD_", "PYTHON", "AWS_", "LAMBDA_")


class ChildError(RuntimeError):
    """A benchmark child failed; the message holds the tail of its output."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deployment_root() -> Path:
    """A fresh folder for the import benchmark's deployment modules, outside the temp dir.

    A function's modules live where the deployment put them (``/var/task``, a layer's
    ``/opt``): folders no ``files write`` rule reaches. The micro children's profile writes to
    the temp dir (a learned ``{tmp}`` rule), so modules generated there are in a folder a write
    rule may reach, and each ``.pyc`` is checked by name by the callback (the ``import (new
    module, temp dir)`` row). The deployment case needs a folder beyond the temp dir: under the
    user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``), removed with the run's folder;
    in the temp dir where that cannot be made (both rows then measure the temp-dir case). The
    micro children take it as their task root (``Session.micro_env``): its modules are then
    below a module root, as a function's are in ``/var/task``.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    base = cache / "lambda-sandbox" / "bench"
    try:
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="deploy-", dir=base))
    except OSError:
        return Path(tempfile.mkdtemp(prefix="lsbench-deploy-"))


def _make_modules(mods: Path, prefix: str, n_modules: int) -> dict[str, list[str]]:
    """Packages ``<prefix>_a``, ``_b`` and ``_c`` of ``n_modules`` modules each, with bytecode
    (``a``: imported before install, ``b``: after it, at init, ``c``: in an invocation)."""
    modules: dict[str, list[str]] = {}
    for tag in ("a", "b", "c"):
        package = mods / f"{prefix}_{tag}"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        py_compile.compile(str(package / "__init__.py"))
        modules[tag] = []
        for i in range(n_modules):
            source = package / f"m{i:05d}.py"
            source.write_text(f"VALUE = {i}\n\ndef f():\n    return VALUE\n")
            # Bytecode up front: the import benchmark measures imports, not compilation.
            py_compile.compile(str(source))
            modules[tag].append(f"{prefix}_{tag}.m{i:05d}")
    return modules


def make_data(root: Path, n_files: int, n_modules: int, deployment: Path) -> dict[str, Any]:
    """Files to open and modules to import, two fresh sets (``a``: before install, ``b``: after).

    Parameters
    ----------
    root : Path
        The run's data folder (in the temp dir): the files, and the temp-dir modules.
    n_files, n_modules : int
        Files and modules per set.
    deployment : Path
        A folder outside the temp dir (:func:`deployment_root`): the deployment's modules.

    Returns
    -------
    dict
        The ``data`` part of a micro spec.
    """
    files: dict[str, list[str]] = {}
    for tag in ("a", "b"):
        folder = root / "files" / tag
        folder.mkdir(parents=True)
        files[tag] = []
        for i in range(n_files):
            path = folder / f"f{i:05d}.txt"
            path.write_text("x")
            files[tag].append(str(path))
    modules = _make_modules(deployment / "mods", "lsb", n_modules)
    modules_tmp = _make_modules(root / "mods", "lsbt", n_modules)
    same = root / "files" / "same.txt"
    same.write_text("x")
    true = shutil.which("true") or "/bin/true"
    return {
        "files": files,
        "modules": modules,
        "modules_tmp": modules_tmp,
        "modules_dir": str(deployment / "mods"),
        "modules_tmp_dir": str(root / "mods"),
        "packages": ["lsb_a", "lsb_b", "lsb_c", "lsbt_a", "lsbt_b", "lsbt_c"],
        "same_file": str(same),
        "true": os.path.realpath(true),
    }


def no_handler_bytecode() -> None:
    """Remove the bytecode an earlier run left beside the benchmark's handlers (see
    ``bench.child._load_handler``): the children compile them from source, in every mode."""
    for folder in (ORDERS, STDLIB):
        shutil.rmtree(Path(folder) / "__pycache__", ignore_errors=True)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without sandbox, Datadog, Python and AWS settings; repo on path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP_PREFIXES)}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


def timed_cpu() -> int | None:
    """The CPU every timed child runs on: ``BENCH_CPU`` (a number, or ``none``: wherever the
    scheduler puts them), by default the first this process may use, on a machine with more
    than one.

    The shared VMs this is measured on have CPUs of different speeds (one of two vCPUs has
    run 35-45 % slower than the other for minutes at a time): a child the scheduler put on
    the slow one made its mode look that much slower, and the ratios of two modes of the
    same run swung with where each child landed (the orders handler's five off runs: 13.0,
    12.0, 15.9, 13.3 and 20.8 ms). On one CPU, every mode is measured on the same one.

    Example
    -------
    >>> timed_cpu() in (None, *os.sched_getaffinity(0))
    True
    """
    chosen = os.environ.get("BENCH_CPU", "").strip().lower()
    if chosen == "none":
        return None
    allowed = os.sched_getaffinity(0)
    if chosen.isdigit():
        if int(chosen) not in allowed:
            raise ValueError(
                f"BENCH_CPU={chosen}: not one of this process's CPUs {sorted(allowed)}"
            )
        return int(chosen)
    return min(allowed) if len(allowed) > 1 else None


class Harness:
    """Starts benchmark children (``python -m bench.child``) in a working folder.

    Parameters
    ----------
    work : Path
        Folder for specs, logs and results.
    python : str
        The interpreter (the project's venv by default).
    """

    def __init__(self, work: Path, python: str = sys.executable) -> None:
        self.work = work
        self.python = python
        self.count = 0
        self._lock = threading.Lock()
        self.cpu = timed_cpu()

    def run(
        self,
        spec: dict[str, Any],
        *,
        python: str | None = None,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        timeout: float = 240.0,
        wrapper: list[str] | None = None,
    ) -> dict[str, Any]:
        """Run one child and return its JSON result.

        Parameters
        ----------
        spec : dict
            The task spec (see :mod:`bench.child`).
        python : str, optional
            Another interpreter (the ddtrace venv).
        env : dict, optional
            Extra environment variables.
        log : Path, optional
            Where the child's stdout and stderr go (default a numbered file in ``work``).
        timeout : float
            Seconds before the child is killed.
        wrapper : list of str, optional
            A command the child runs under (``valgrind ...``: bench.instructions).

        Raises
        ------
        ChildError
            When the child exits non-zero or writes no result.
        """
        with self._lock:  # (children may be started from several threads: instructions)
            self.count += 1
            number = self.count
        log = log or self.work / f"child-{number:04d}-{spec['task']}-{spec['mode']}.log"
        spec_path = self.work / f"spec-{number:04d}.json"
        with tempfile.TemporaryFile() as result, open(log, "wb") as out:
            spec = dict(spec, result_fd=result.fileno())
            if spec["task"] == "cold":
                # The child measures from here: interpreter start is part of its cold start.
                spec["spawned"] = time.monotonic()
            spec_path.write_text(json.dumps(spec))
            # A timed child runs on the same CPU as every other (a counted or traced one, under
            # a wrapper, runs where it may: two at a time)
            pinned = {self.cpu} if self.cpu is not None and wrapper is None else None
            proc = subprocess.run(
                [*(wrapper or ()), python or self.python, "-m", "bench.child", str(spec_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=child_env(env),
                cwd=self.work,
                pass_fds=(result.fileno(),),
                timeout=timeout,
                check=False,
                preexec_fn=partial(os.sched_setaffinity, 0, pinned) if pinned else None,
            )
            result.seek(0)
            raw = result.read()
        if proc.returncode != 0 or not raw:
            tail = log.read_text(errors="replace")[-3000:]
            raise ChildError(
                f"{spec['task']}/{spec['mode']} exited {proc.returncode}; log {log}:\n{tail}"
            )
        return dict(json.loads(raw))


def build_compiled(
    name: str, logs: list[Path], folder: Path, extra_rules: dict[str, list[Any]] | None = None
) -> Path:
    """Build a profile from learn logs (the project's own builder) and compile it.

    Parameters
    ----------
    name : str
        Function name (records of other functions are skipped).
    logs : list[Path]
        Observation logs.
    folder : Path
        Where ``NAME.json`` and ``NAME.compiled.json`` go.
    extra_rules : dict, optional
        Rules added by hand (category → rule documents) before compiling.

    Returns
    -------
    Path
        The compiled profile.
    """
    from sandbox.profile import Profile
    from sandbox.profile.build import build_profile

    profile, _report = build_profile(name, [str(p) for p in logs], warn=lambda message: None)
    path = folder / f"{name}.json"
    profile.save(path)
    if extra_rules:
        document = json.loads(path.read_text())
        for category, rules in extra_rules.items():
            document["rules"].setdefault(category, []).extend(rules)
        path.write_text(json.dumps(document, indent=2, sort_keys=True))
    compiled = folder / f"{name}.compiled.json"
    compiled.write_text(json.dumps(Profile.load(path).compile(base_dir=path.parent)))
    return compiled


def orders_events(ports: dict[str, int]) -> list[str]:
    """The orders example's benign events, with the loopback ports filled in."""
    values = {
        "{PRICING_PORT}": str(ports["pricing"]),
        "{ADMIN_PORT}": str(ports["admin"]),
        "{HOSTNAME}": socket.gethostname(),
    }
    out = []
    for path in sorted((ORDERS / "events" / "benign").glob("*.json")):
        text = path.read_text()
        for key, value in values.items():
            text = text.replace(key, value)
        out.append(text)
    return out


def orders_env(ports: dict[str, int]) -> dict[str, str]:
    """The orders function's environment (as ``examples/services.function_env``) plus Lambda's."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    from services import function_env

    env = dict(function_env(ports))
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": "orders",
            "AWS_REGION": "us-east-1",
            "LAMBDA_TASK_ROOT": str(ORDERS),
        }
    )
    return env


def stdlib_env() -> dict[str, str]:
    """The stdlib-heavy function's environment: Lambda's names, its folder as the task root.

    Its temp dir (``TMPDIR``, the sandbox's ``{tmp}``) is ``/dev/shm`` when there is one: on a
    disk the handler's file creations and removals wait on the filesystem journal, and its
    time per call spreads over 1-5 ms, too wide to see a 5 % budget; in memory it takes about
    0.5 ms, steadily, so the sandbox's share is measured against the handler's own work.
    """
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": STDLIB_FUNCTION,
        "AWS_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": str(STDLIB),
    }
    if os.path.isdir(SHM) and os.access(SHM, os.W_OK):
        env["TMPDIR"] = SHM
    return env


def stdlib_events() -> list[str]:
    """The stdlib-heavy handler's events: two job sizes (its default 40 rows, and 60)."""
    rows = [[f"sku-{i}", i % 5 + 1] for i in range(60)]
    return [json.dumps({}), json.dumps({"rows": rows})]
