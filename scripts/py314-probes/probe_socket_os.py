# socket and os events (arguments)
import os, socket, sys
from _hook import record, capture
record(["socket.", "os.", "open"])
with capture("socket(AF_INET) + bind/listen/connect/getaddrinfo on loopback"):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    c = socket.create_connection(s.getsockname()); c.close(); s.close()
with capture("socket.getaddrinfo('localhost', 80)"):
    socket.getaddrinfo("localhost", 80)
with capture("os.putenv / unsetenv / os.reload_environ (3.14)"):
    os.environ["PROBE"] = "1"; del os.environ["PROBE"]
    if hasattr(os, "reload_environ"): os.reload_environ()
with capture("os.listdir / scandir / chmod / utime / truncate on a temp file"):
    import tempfile; d = tempfile.mkdtemp(); f = os.path.join(d, "f"); open(f, "w").close()
    os.listdir(d); list(os.scandir(d)); os.chmod(f, 0o600); os.utime(f); os.truncate(f, 0)
    os.remove(f); os.rmdir(d)
with capture("os.readinto (3.14) / os.open+os.read"):
    fd = os.open("/etc/hostname", os.O_RDONLY)
    if hasattr(os, "readinto"): os.readinto(fd, bytearray(4))
    os.close(fd)
