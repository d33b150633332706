"""Shared helper: record audit events whose name matches a prefix list, print them compactly."""
import sys

_SEEN = []
_ON = [False]


def _short(a, n=90):
    r = repr(a)
    return r if len(r) <= n else r[: n - 3] + "..."


def record(prefixes):
    def hook(ev, args):
        if _ON[0] and any(ev == p or ev.startswith(p) for p in prefixes):
            _SEEN.append((ev, tuple(_short(x, 60) for x in args)))
    sys.addaudithook(hook)


class capture:
    def __init__(self, label):
        self.label = label

    def __enter__(self):
        _SEEN.clear()
        _ON[0] = True

    def __exit__(self, *exc):
        _ON[0] = False
        print(f"## {self.label}: {len(_SEEN)} events")
        for ev, args in _SEEN:
            print(f"   {ev} {', '.join(args)}")
        return False
