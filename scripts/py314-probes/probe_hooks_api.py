# sys.addaudithook / sys.audit behaviour checks
import sys
from _hook import record, capture
record(["sys.addaudithook", "cpython.", "sys.audit"])
with capture("sys.addaudithook(second hook)"):
    sys.addaudithook(lambda e, a: None)
def blocker(ev, args):
    if ev == "sys.addaudithook":
        raise RuntimeError("no more hooks")
sys.addaudithook(blocker)
called = []
try:
    sys.addaudithook(lambda e, a: called.append(e))
    sys.audit("probe.event", 1, 2)
    print("third hook after a RuntimeError-raising hook: no exception; hook called:", bool(called))
except Exception as e:
    print("third hook: raised", type(e).__name__, e)
print("flags: gil_enabled =", getattr(sys, "_is_gil_enabled", lambda: True)(),
      "| Py_GIL_DISABLED =", __import__("sysconfig").get_config_var("Py_GIL_DISABLED"),
      "| sys._jit present =", hasattr(sys, "_jit"))
