# PEP 768 (3.14): sys.remote_exec(pid, script) raises sys.remote_exec in the caller and
# cpython.remote_debugger_script in the target.
import os, subprocess, sys, tempfile, time
from _hook import record, capture
print("has sys.remote_exec:", hasattr(sys, "remote_exec"),
      "| is_remote_debug_enabled:", getattr(sys, "is_remote_debug_enabled", lambda: "n/a")())
if not hasattr(sys, "remote_exec"):
    sys.exit(0)
record(["sys.remote_exec", "cpython.remote_debugger_script"])
d = tempfile.mkdtemp()
out = os.path.join(d, "target.log")
script = os.path.join(d, "injected.py")
with open(script, "w") as f:
    f.write(f"open({out!r}, 'a').write('injected code ran in pid %d\\n' % __import__('os').getpid())\n")
target_src = f"""
import sys, time
import os
def hook(ev, args):
    if ev.startswith(('cpython.remote', 'sys.remote')):
        open({out!r}, 'a').write(f'target saw audit event {{ev}} {{args}}\\n')
        if os.environ.get('BLOCK'):
            raise PermissionError('blocked by target hook')
sys.addaudithook(hook)
print('ready', flush=True)
for _ in range(100):
    time.sleep(0.05)
"""
for label, extra_env in (("default", {}), ("hook raises on cpython.remote_debugger_script", {"BLOCK": "1"}),
                         ("PYTHON_DISABLE_REMOTE_DEBUG=1", {"PYTHON_DISABLE_REMOTE_DEBUG": "1"})):
    open(out, "w").close()
    p = subprocess.Popen([sys.executable, "-c", target_src], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, **extra_env})
    p.stdout.readline()
    err_in_caller = None
    with capture(f"caller: sys.remote_exec(target, script)  [target {label}]"):
        try:
            sys.remote_exec(p.pid, script)
        except Exception as e:
            err_in_caller = e
    print("   caller:", f"raised {type(err_in_caller).__name__}: {err_in_caller}" if err_in_caller else "returned")
    time.sleep(1.0)
    p.kill(); _, err = p.communicate()
    if err and err.strip():
        print("   target stderr:", err.strip().splitlines()[-1])
    print("   target log:", open(out).read().strip().replace("\n", " | ") or "(nothing)")
