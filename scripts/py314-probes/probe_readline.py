# gh-115322 (3.14.0b1): readline's history/init-file functions now raise `open` events.
import os, sys, tempfile
from _hook import record, capture
try:
    import readline
except ImportError as e:
    print("no readline:", e); sys.exit(0)
record(["open"])
d = tempfile.mkdtemp(); h = os.path.join(d, "hist"); i = os.path.join(d, "inputrc")
open(i, "w").write("set bell-style none\n")
readline.add_history("x = 1")
with capture("readline.write_history_file / append_history_file / read_history_file / read_init_file"):
    readline.write_history_file(h)
    readline.append_history_file(1, h)
    readline.read_history_file(h)
    readline.read_init_file(i)
