# gh-115322 (3.14.0b1): calling any ctypes foreign function now raises ctypes.call_function;
# ctypes.memoryview_at is new in 3.14.
import ctypes, sys
from _hook import record, capture
record(["ctypes."])
libc = ctypes.CDLL(None)
with capture("libc.getpid() via CDLL(None)"):
    libc.getpid()
with capture("ctypes.string_at(buf)"):
    b = ctypes.create_string_buffer(b"abc")
    ctypes.string_at(b, 3)
with capture("ctypes.cast(ptr, c_void_p)"):
    ctypes.cast(b, ctypes.c_void_p)
with capture("ctypes.memoryview_at(buf, 3)"):
    if hasattr(ctypes, "memoryview_at"):
        ctypes.memoryview_at(b, 3)
    else:
        print("   (no ctypes.memoryview_at on", sys.version.split()[0] + ")")
with capture("CFUNCTYPE(c_int)(addr)() of libc.getpid"):
    f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.cast(libc.getpid, ctypes.c_void_p).value)
    f()
