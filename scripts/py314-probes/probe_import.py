# Events raised while importing a fresh source module and a sourceless .pyc
# (what a path-resolving sandbox sees). Run without -B.
import os, sys, tempfile, py_compile, importlib
from _hook import record, capture
d = tempfile.mkdtemp()
os.makedirs(os.path.join(d, "pkgx"))
open(os.path.join(d, "pkgx", "__init__.py"), "w").write("from . import mod\n")
open(os.path.join(d, "pkgx", "mod.py"), "w").write("X = 1\n")
open(os.path.join(d, "srcless.py"), "w").write("Y = 2\n")
py_compile.compile(os.path.join(d, "srcless.py"), cfile=os.path.join(d, "srcless.pyc"))
os.remove(os.path.join(d, "srcless.py"))
sys.path.insert(0, d)
importlib.invalidate_caches()
record(["import", "open", "os.listdir", "os.scandir", "compile", "exec", "marshal"])
with capture("import pkgx (first time: compiles, writes .pyc)"):
    import pkgx
for m in ("pkgx", "pkgx.mod"): del sys.modules[m]
with capture("import pkgx (second time: from __pycache__)"):
    import pkgx
with capture("import srcless  (sourceless .pyc: SourcelessFileLoader)"):
    import srcless
print("   __pycache__:", sorted(os.listdir(os.path.join(d, "pkgx", "__pycache__"))))
