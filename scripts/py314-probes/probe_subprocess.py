# gh-115322: _posixsubprocess.fork_exec raises its own event in 3.14. Which exec path does Popen take?
import subprocess, sys
from _hook import record, capture
record(["subprocess.", "_posixsubprocess.", "os.posix_spawn", "os.exec", "os.fork", "os.spawn", "os.system"])
print("_USE_POSIX_SPAWN =", subprocess._USE_POSIX_SPAWN, " _USE_VFORK =", getattr(subprocess, "_USE_VFORK", None))
with capture("Popen(['/bin/true'])"):
    subprocess.run(["/bin/true"])
with capture("Popen(['true'], close_fds=False)  # PATH lookup"):
    subprocess.run(["true"], close_fds=False)
with capture("Popen('/bin/true', shell=True, env={'A':'1'})"):
    subprocess.run("/bin/true", shell=True, env={"A": "1"})
with capture("os.system('true')"):
    import os; os.system("true")
