# PEP 734 (3.14): concurrent.interpreters is public. Python-level audit hooks (sys.addaudithook)
# are per interpreter: does a hook added in the main interpreter see what a subinterpreter does?
import sys
from _hook import record, capture
record([""])  # everything
try:
    from concurrent import interpreters as I; api = "concurrent.interpreters"
except ImportError:
    I = None
    import _interpreters; api = "_interpreters (private)"
print("API:", api)
if I:
    with capture("I.create()"):
        interp = I.create()
    with capture("interp.exec(\"open('/etc/hostname').read()\")"):
        interp.exec("open('/etc/hostname').read()")
    with capture("interp.call(os.listdir, '/')"):
        import os
        interp.call(os.listdir, "/")
    with capture("interp.exec('import sys; sys.addaudithook(...)') then open"):
        interp.exec("import sys; sys.addaudithook(lambda e,a: print('   [sub-hook]', e, a) if e=='open' else None); open('/etc/hostname').close()")
    interp.close()
else:
    with capture("_interpreters.create()"):
        iid = _interpreters.create()
    with capture("_interpreters.exec(iid, \"open('/etc/hostname').read()\")"):
        _interpreters.exec(iid, "open('/etc/hostname').read()")
    _interpreters.destroy(iid)
try:
    from concurrent.futures import InterpreterPoolExecutor
    print("concurrent.futures.InterpreterPoolExecutor: present")
except ImportError:
    print("concurrent.futures.InterpreterPoolExecutor: absent")
