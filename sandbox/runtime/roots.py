"""Symbolic roots: store paths as ``{task}/app.py`` so a profile holds on a laptop and in Lambda.

A profile learned locally sees ``/home/me/fn/app.py`` and ``.venv/lib/python3.11/site-packages``;
in Lambda the same files are ``/var/task/app.py`` and ``/var/lang/lib/python3.12/site-packages``.
Both are written as ``{task}/app.py`` and ``{site}/...``. Roots are matched longest-first, so a
virtualenv inside the code directory is still ``{site}``.
"""

from __future__ import annotations

import os
import sys

from .categories import ARG_SEP, REGISTRY, UNDECODABLE
from .core import resolved_path as _resolved_path

_SYMBOLIC = {name: entry.symbolic for name, entry in REGISTRY.items()}
ROOT_NAMES = ("task", "opt", "stdlib", "site", "runtime", "prefix", "tmp", "sandbox")


class Roots:
    """The concrete directories behind each symbolic root, for this process.

    Example
    -------
    >>> roots = Roots.detect(task_root="/var/task")
    >>> roots.to_symbolic("/var/task/app.py")
    '{task}/app.py'
    """

    __slots__ = ("_ordered", "dirs")

    def __init__(self, dirs: dict[str, tuple[str, ...]]):
        self.dirs = {
            name: tuple(d.rstrip("/") or "/" for d in ds if d) for name, ds in dirs.items()
        }
        # Longest directory first so the most specific root wins.
        pairs = [(d, name) for name, ds in self.dirs.items() for d in ds]
        self._ordered = tuple(sorted(pairs, key=lambda p: (-len(p[0]), p[1])))

    @classmethod
    def detect(cls, task_root: str | None = None) -> Roots:
        """Find the roots of the running interpreter (no sysconfig: it costs ~2 ms at cold start)."""
        stdlib = os.path.dirname(os.__file__)
        site = {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
        # The Lambda runtime client's own directory (/var/runtime in Lambda), wherever it is.
        runtime = set()
        client = sys.modules.get("awslambdaric")
        client_file = getattr(client, "__file__", None)
        if client_file:
            runtime.add(os.path.dirname(os.path.dirname(client_file)))
        task = task_root or os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
        tmp = os.environ.get("TMPDIR") or "/tmp"
        dirs = {
            "task": (task,),
            "opt": ("/opt",),
            "stdlib": (stdlib,),
            "site": tuple(site),
            "runtime": tuple(runtime - site),
            "prefix": tuple({sys.base_prefix, sys.prefix}),
            "tmp": (tmp,),
            # The sandbox's own package (in Lambda it is under /opt; in a dev install anywhere).
            "sandbox": (os.path.dirname(os.path.abspath(__file__)),),
        }
        # Resolve symlinked roots too (macOS /tmp -> /private/tmp; /var/task may be a link).
        resolved = {
            name: tuple(sorted({resolved_dir(d) for d in ds} | set(ds)))
            for name, ds in dirs.items()
        }
        return cls(resolved)

    def to_symbolic(self, path: str) -> str:
        """Rewrite an absolute path against the most specific root it lies under."""
        for directory, name in self._ordered:
            if path == directory:
                return "{" + name + "}"
            if path.startswith(directory) and path[len(directory) : len(directory) + 1] == "/":
                return "{" + name + "}" + path[len(directory) :]
        return path

    def symbolise_text(self, text: str) -> str:
        """Rewrite every root directory inside free text (a shell command) as its token."""
        for directory, name in self._ordered:
            if directory == "/" or directory not in text:
                continue
            out, i = [], 0
            while True:
                j = text.find(directory, i)
                if j < 0:
                    out.append(text[i:])
                    break
                end = j + len(directory)
                boundary = end == len(text) or text[end] in "/ \t'\";:"
                out.append(text[i:j] + ("{" + name + "}" if boundary else directory))
                i = end
            text = "".join(out)
        return text

    def symbolic(self, category: str, target: str) -> tuple[str, list[str] | None]:
        """A target as profiles, observations and findings show it, and argv for an exec.

        The one place that decides what is written against symbolic roots (from the category
        registry): paths (``files``, ``native``), a command's program and its arguments
        (``processes``), the file part of a call site (``code``: ``{task}/app.py:handler``).

        Example
        -------
        >>> roots = Roots({"task": ("/var/task",)})
        >>> roots.symbolic("code", "/var/task/app.py:handler")
        ('{task}/app.py:handler', None)
        """
        kind = _SYMBOLIC.get(category, "none")
        if target.startswith(UNDECODABLE):
            return "<" + target[1:] + ">", None
        if kind == "path":
            return self.to_symbolic(target), None
        if kind == "command":
            if ARG_SEP not in target:
                return self.symbolise_text(target), None
            program, *argv = target.split(ARG_SEP)
            return self.to_symbolic(program), [self.symbolise_text(a) for a in argv]
        if kind == "site" and target.startswith("/"):
            path, sep, name = target.rpartition(":")
            if sep and "/" not in name:
                return self.to_symbolic(path) + ":" + name, None
            return self.to_symbolic(target), None
        return target, None

    def expand_all(self, text: str) -> list[str]:
        """Every concrete form of text holding root tokens anywhere (e.g. in a shell command)."""
        forms = [text]
        for name, directories in self.dirs.items():
            token = "{" + name + "}"
            if token in text:
                forms = [
                    f.replace(token, "" if d == "/" else d) for f in forms for d in directories
                ]
        return forms

    def expand(self, pattern: str) -> list[str]:
        """Every concrete form of a symbolic pattern (one per directory of its root)."""
        if not pattern.startswith("{"):
            return [pattern]
        end = pattern.find("}")
        name = pattern[1:end]
        if name not in self.dirs:
            return [pattern]
        rest = pattern[end + 1 :]
        return [("" if d == "/" else d) + rest for d in self.dirs[name]]


_realpath = os.path.realpath


def resolved_dir(path: str) -> str:
    """``os.path.realpath(path)``, by the native core's walk when every name on it exists
    (``core.resolved_path``: no Python per name). Install-time only.

    Example
    -------
    >>> resolved_dir("/tmp/../tmp") == os.path.realpath("/tmp")
    True
    """
    return _resolved_path(path) or _realpath(path)
