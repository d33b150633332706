"""Regenerate ``sandbox/runtime/data/regex/``: the fixed regexes' programs, one file per interpreter.

Usage: ``python scripts/regex_programs.py PYTHON [PYTHON...]`` (one interpreter per CPython
minor version the layer should start fast on; any other interpreter compiles the regexes itself).
Each interpreter compiles every pattern with its own ``re`` and reports the arguments its
``re`` passed to ``_sre.compile``; one file per interpreter keeps them (cache tag, the regex
engine's ``MAGIC`` and code size, byte order).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "sandbox" / "runtime" / "data" / "regex"

# Run by each interpreter: compile every (pattern, flags) and capture what reached _sre.compile.
CAPTURE = r"""
import json, re, sys, _sre
try:
    import re._compiler as compiler
except ImportError:  # 3.10
    import sre_compile as compiler
captured = []
class Spy:
    def __getattr__(self, name):
        return getattr(_sre, name)
    def compile(self, *args):
        captured.append(args)
        return _sre.compile(*args)
compiler._sre = Spy()
out = []
for pattern, flags in json.load(sys.stdin):
    re.purge()
    del captured[:]
    re.compile(pattern, flags)
    (args,) = captured
    source, final_flags, code, groups, groupindex, indexgroup = args
    assert source == pattern and isinstance(code, list) and isinstance(groupindex, dict)
    out.append([pattern, flags, final_flags, code, groups, sorted(groupindex.items()),
                list(indexgroup)])
key = "%s-%d-%d-%s" % (sys.implementation.cache_tag, _sre.MAGIC, _sre.CODESIZE, sys.byteorder)
print(json.dumps({"key": key, "codesize": _sre.CODESIZE, "programs": out}))
"""


def patterns() -> list[tuple[str, int]]:
    """The hint table's patterns, then the built-in ceiling's (``regex_programs.wanted``)."""
    from sandbox.runtime import regex_programs

    return regex_programs.wanted()


def capture(python: str, wanted: list[tuple[str, int]]) -> dict[str, Any]:
    """The programs of ``wanted`` as ``python``'s ``re`` compiles them."""
    proc = subprocess.run(
        [python, "-I", "-c", CAPTURE],
        input=json.dumps(wanted),
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def rows(result: dict[str, Any]) -> list[list[Any]]:
    """One interpreter's file: ``[pattern, flags, flags as compiled, words in hex, groups,
    group index pairs, index group]`` per pattern (the words in that interpreter's byte order)."""
    from sandbox.runtime.compiler import encode_row

    size = int(result["codesize"])
    order: Literal["little", "big"] = "big" if str(result["key"]).endswith("-big") else "little"
    return [
        encode_row(
            pattern, flags, final, code, groups, dict(index), indexgroup,
            codesize=size, byteorder=order,
        )
        for pattern, flags, final, code, groups, index, indexgroup in result["programs"]
    ]  # fmt: skip


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO))
    wanted = patterns()
    results = [capture(python, wanted) for python in argv]
    TARGET.mkdir(parents=True, exist_ok=True)
    for result in results:
        path = TARGET / (str(result["key"]) + ".json")
        lines = ",\n".join(json.dumps(row, separators=(",", ":")) for row in rows(result))
        path.write_text("[\n" + lines + "\n]\n")  # one pattern a line
    print(f"{TARGET}: {len(wanted)} patterns for {', '.join(str(r['key']) for r in results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
