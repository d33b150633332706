"""``python -m sandbox.kernel probe|compile|bench``: inspect the host, build a section, time it."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

_BENCH_CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
from sandbox.kernel import install_kernel_detailed
t1 = time.perf_counter()
section = json.load(open(sys.argv[1]))

def per_call(n=200_000):
    f = os.getppid
    start = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - start) / n * 1e9

before = min(per_call() for _ in range(3))
result = install_kernel_detailed(section, "enforce", landlock_enabled=sys.argv[2] == "1")
after = min(per_call() for _ in range(3))
print(json.dumps({
    "import_sandbox_kernel_ms": round((t1 - t0) * 1e3, 3),
    "install_ms": round(result.seconds * 1e3, 3),
    "statuses": result.statuses,
    "reasons": result.reasons,
    "getppid_ns_before": round(before, 1),
    "getppid_ns_after": round(after, 1),
}))
"""


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list[str] or None
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    from sandbox.kernel import KernelRequest, compile_kernel, describe, probe

    parser = argparse.ArgumentParser(prog="python -m sandbox.kernel")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("probe", help="what this host offers (loads nothing)")
    for name in ("compile", "bench"):
        p = sub.add_parser(name)
        p.add_argument("--allow-exec", action="store_true")
        p.add_argument("--allow-fork", action="store_true")
        p.add_argument("--describe", action="store_true", help="print the denied calls")
        p.add_argument(
            "--write-dir",
            action="append",
            default=[],
            help="Landlock: a directory writes may go beneath (repeatable)",
        )
        p.add_argument("--landlock", action="store_true", help="bench: include Landlock")
    args = parser.parse_args(argv)
    if args.cmd == "probe":
        print(json.dumps(probe(), indent=2, sort_keys=True))
        return 0
    section = compile_kernel(
        KernelRequest(
            allow_exec=args.allow_exec,
            allow_fork=args.allow_fork or args.allow_exec,
            write_dirs=tuple(args.write_dir),
        )
    )
    if args.cmd == "compile":
        if args.describe:
            print("\n".join(describe(section)))
        else:
            print(json.dumps(section, indent=2, sort_keys=True))
        return 0
    # bench: a fresh interpreter loads the filter into itself, never into this process
    with tempfile.NamedTemporaryFile("w", suffix=".json") as fh:
        json.dump(section, fh)
        fh.flush()
        out = subprocess.run(
            [sys.executable, "-c", _BENCH_CHILD, fh.name, "1" if args.landlock else "0"],
            capture_output=True,
            text=True,
            check=True,
        )
    print(out.stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
