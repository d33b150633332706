# tempfile/shutil/pathlib: which events, with which path arguments (absolute? dir_fd?)
import os, pathlib, shutil, sys, tempfile
from _hook import record, capture
record(["tempfile.", "shutil.", "os.", "open", "pathlib.", "glob."])
base = tempfile.mkdtemp(prefix="probe-")
os.chdir(base)
with capture("tempfile.mkstemp(dir='.') / mkdtemp(dir='.')"):
    fd, p = tempfile.mkstemp(dir="."); os.close(fd)
    q = tempfile.mkdtemp(dir=".")
print("   mkstemp ->", os.path.relpath(p, base) if os.path.isabs(p) else p, "(abs)" if os.path.isabs(p) else "(rel)",
      "| mkdtemp ->", "(abs)" if os.path.isabs(q) else "(rel)", os.path.basename(q))
with capture("tempfile.TemporaryDirectory() cleanup"):
    with tempfile.TemporaryDirectory(dir=".") as t:
        open(os.path.join(t, "f"), "w").close()
os.makedirs("tree/a/b"); open("tree/a/b/f.txt", "w").write("x"); open("tree/top.txt", "w").write("y")
with capture("shutil.copytree('tree','tree2')"):
    shutil.copytree("tree", "tree2")
with capture("shutil.rmtree('tree2')"):
    shutil.rmtree("tree2")
with capture("shutil.copyfile / copy2"):
    shutil.copyfile("tree/top.txt", "c1.txt"); shutil.copy2("tree/top.txt", "c2.txt")
with capture("shutil.move('c2.txt','c3.txt')"):
    shutil.move("c2.txt", "c3.txt")
P = pathlib.Path("tree")
with capture("pathlib.Path.copy (3.14) / copy_into / move"):
    if hasattr(P, "copy"):
        P.joinpath("top.txt").copy("p1.txt"); P.copy("tree3"); pathlib.Path("p1.txt").move("p2.txt")
    else:
        print("   (no Path.copy on", sys.version.split()[0] + ")")
with capture("pathlib.Path.glob('**/*.txt') / rglob"):
    list(P.glob("**/*.txt")); list(P.rglob("*.txt"))
with capture("glob.glob('tree/**', recursive=True)"):
    import glob; glob.glob("tree/**", recursive=True)
with capture("os.walk / os.fwalk('tree')"):
    list(os.walk("tree")); list(os.fwalk("tree"))
with capture("os.path.realpath('tree/../tree/a', strict=...)"):
    os.path.realpath("tree/../tree/a")
    print("   os.path.ALLOW_MISSING:", hasattr(os.path, "ALLOW_MISSING"))
shutil.rmtree(base)
