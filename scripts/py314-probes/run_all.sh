#!/usr/bin/env bash
# Run every probe on each interpreter given, one after the other:
#   scripts/py314-probes/run_all.sh PY [PY...] > out.txt
set -u
cd "$(dirname "$0")"
[ $# -ge 1 ] || { echo "usage: $0 PYTHON [PYTHON...]" >&2; exit 2; }
for p in probe_*.py; do
  for py in "$@"; do
    echo "=================== $p on $("$py" -c 'import sys;print(sys.version.split()[0])') ($py)"
    timeout 60 "$py" -E -s "$p" 2>&1 | sed 's/^/  /' || true
  done
done
