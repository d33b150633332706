"""Event decoding: every odd input normalised (bytes, PathLike, .., non-UTF-8, fds, IPv6...)."""

from __future__ import annotations

import array
import os
import pathlib
import socket
import sys

import pytest

from sandbox.runtime import paths
from sandbox.runtime.categories import UNDECODABLE
from sandbox.runtime.decoders import DECODERS
from sandbox.runtime.decoders.files import target_of as norm_path
from sandbox.runtime.decoders.network import host_port, norm_host, norm_ip
from sandbox.runtime.decoders.processes import find_program
from sandbox.runtime.values import capture_pathlib
from tests.conftest import hostile

capture_pathlib()


def which(name: str) -> str:
    return find_program(name, os.environ.get("PATH"), None)


def test_paths_are_absolute_and_resolved(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a working directory with a symlink pointing elsewhere
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    os.symlink(tmp_path / "real" / "f", tmp_path / "link")
    # THEN relative, bytes, PathLike, '..' and symlinked forms all name the real file
    real = str(tmp_path / "real" / "f")
    assert norm_path("real/f") == real
    assert norm_path(b"real/f") == real
    assert norm_path(pathlib.Path("real/../real/f")) == real
    assert norm_path("link") == real


def test_fds_name_the_file_they_are_open_on_and_empty_paths_no_file(
    tmp_path: pathlib.Path,
) -> None:
    # GIVEN an fd open on a file WHEN decoding it as a path THEN it is that file
    fd = os.open(tmp_path / "f", os.O_CREAT | os.O_WRONLY)
    try:
        assert norm_path(fd) == str(tmp_path / "f")
    finally:
        os.close(fd)
    # AND an fd that names no file (a pipe) is refused, not "no access"
    read_end, write_end = os.pipe()
    try:
        assert norm_path(read_end) == UNDECODABLE + "fd"
    finally:
        os.close(read_end)
        os.close(write_end)
    assert norm_path("") is None
    assert norm_path(None) is None
    assert norm_path("bad\x00name") is None


def test_non_utf8_names_survive_distinctly(tmp_path: pathlib.Path) -> None:
    # GIVEN a name that is not valid UTF-8
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9"
    # THEN it decodes with surrogateescape and round-trips to the same bytes
    decoded = norm_path(raw)
    assert decoded is not None and os.fsencode(decoded) == raw


def test_paths_the_kernel_refuses_are_decided_at_once(tmp_path: pathlib.Path) -> None:
    # GIVEN a path of a few MB (a data-only attack on the cost of checking) and one just
    # under PATH_MAX
    huge = str(tmp_path) + "/" + "/".join(["d" * 200] * 20_000)
    fits = str(tmp_path) + "/" + "/".join(["d" * 200] * 15)
    # THEN the first is refused without being walked, the second resolves
    refused = norm_path(huge) or ""
    assert refused.startswith(UNDECODABLE + "unresolvable path: " + huge[:120])
    assert len(refused) < 300  # (the name's head and tail only)
    assert norm_path(fits) == fits


def test_dir_fd_relative_paths(tmp_path: pathlib.Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        assert norm_path("x.txt", fd) == str(tmp_path / "x.txt")
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("mode", "flags", "actions"),
    [
        ("r", os.O_RDONLY, "read"),
        ("rb", os.O_RDONLY | os.O_CLOEXEC, "read"),
        ("w", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "write"),
        ("a", os.O_WRONLY | os.O_CREAT | os.O_APPEND, "write"),
        # A read-write open reads too: a write rule grants no read, a read deny holds
        ("r+", os.O_RDWR, "read write"),
        ("a+", os.O_RDWR | os.O_CREAT | os.O_APPEND, "read write"),
        ("w+b", os.O_RDWR | os.O_CREAT | os.O_TRUNC, "read write"),
        (None, os.O_RDONLY, "read"),  # os.open gives no mode: the flags decide
        (None, os.O_WRONLY, "write"),
        (None, os.O_RDWR, "read write"),
        (None, os.O_RDONLY | os.O_TRUNC, "read write"),  # truncates: a change of the file
        (None, os.O_RDWR | os.O_CREAT | os.O_EXCL, "read write"),  # tempfile.mkstemp
    ],
)
def test_open_mode_and_flags_decide_read_or_write(
    mode: str | None, flags: int, actions: str
) -> None:
    accesses = DECODERS["open"](("/tmp/x", mode, flags))
    assert accesses == [("files", action, "/tmp/x", None) for action in actions.split()]


def test_open_of_an_fd_is_not_a_file_access() -> None:
    assert DECODERS["open"]((5, "r", 0)) is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Example.COM.", "example.com"),
        (b"example.com", "example.com"),
        ("[::1]", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        # every form the C library reads as an IPv4 address without a lookup is that address
        ("127.000.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("2852039166", "169.254.169.254"),
        ("127.0.0.1 x", "127.0.0.1 x"),  # a space: no address, no name getaddrinfo reads
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("", None),
    ],
)
def test_host_normalisation(given: object, expected: str | None) -> None:
    assert norm_host(given) == expected


def test_a_host_name_not_in_ascii_form_is_undecodable() -> None:
    # GIVEN a Unicode name (its IDNA form would need the codec registry inside the hook)
    # WHEN it is normalised THEN it is refused as undecodable, never encoded
    result = norm_host("bücher.example")
    assert result is not None and result.startswith(UNDECODABLE)


def test_ip_and_host_port_forms() -> None:
    assert norm_ip("fe80::1%eth0") == "fe80::1%eth0"
    assert norm_ip("not-an-ip") is None
    assert host_port("::1", 443) == "[::1]:443"
    assert host_port("example.com", None) == "example.com:*"


def test_connect_to_a_name_also_checks_its_resolution() -> None:
    sock = socket.socket()
    try:
        accesses = DECODERS["socket.connect"]((sock, ("LocalHost.", 80)))
    finally:
        sock.close()
    assert accesses == [
        ("network", "resolve", "localhost", None),
        ("network", "connect", "localhost:80", "localhost"),
    ]


def test_kept_address_answers_are_the_decoded_ones_and_only_for_exact_types() -> None:
    # GIVEN an IPv4 and an IPv6 socket, and addresses of exact and of derived types
    class Host(str):
        pass

    class Port(int):
        pass

    v4, v6 = socket.socket(), socket.socket(socket.AF_INET6)
    try:
        connect = DECODERS["socket.connect"]
        # WHEN the same addresses are decoded twice (the second answer is the kept one)
        cases = [
            (v4, ("127.1", 80)),
            (v4, ("Example.COM.", 443)),
            (v6, ("::1", 80)),
            (v4, (Host("example.com"), 443)),
            (v4, ("127.0.0.1", Port(80))),
        ]
        first = [connect((sock, address)) or [] for sock, address in cases]
        second = [connect((sock, address)) or [] for sock, address in cases]
    finally:
        v4.close()
        v6.close()
    # THEN both answers are the same, each time a fresh list (the callers may not share it)
    assert first == second and all(a is not b for a, b in zip(first, second, strict=True))
    assert first[0] == [("network", "connect", "127.0.0.1:80", "127.0.0.1")]
    assert first[1][0] == ("network", "resolve", "example.com", None)
    assert first[2] == [("network", "connect", "[::1]:80", "::1")]
    # AND a derived str or int is decoded every time, never kept (a str subclass as a host is
    # undecodable: refused)
    assert first[3][-1][2].startswith(UNDECODABLE)
    assert first[4] == [("network", "connect", "127.0.0.1:80", "127.0.0.1")]


def test_literal_look_alikes_are_names_the_c_library_looks_up() -> None:
    # GIVEN hosts that are address literals only once normalised (a trailing dot, brackets):
    # the C library's getaddrinfo reads them as names (the hosts file, then a DNS query)
    resolve, connect = DECODERS["socket.getaddrinfo"], DECODERS["socket.connect"]
    sock = socket.socket()
    try:
        # WHEN they are looked up, or connected to
        looked = [resolve((host, 80, 0, 0, 0)) for host in ("127.0.0.1.", "[::1]", "127.1")]
        connected = connect((sock, ("127.0.0.1.", 80)))
    finally:
        sock.close()
    # THEN each is decided as the name it is, as written (no rule for the address matches it);
    # a true literal, in any form the C library reads as one ("127.1"), sends no query
    assert looked == [
        [("network", "resolve", "127.0.0.1.", None)],
        [("network", "resolve", "[::1]", None)],
        None,
    ]
    assert connected == [
        ("network", "resolve", "127.0.0.1.", None),
        ("network", "connect", "127.0.0.1.:80", "127.0.0.1."),
    ]


def test_a_unix_socket_name_with_a_nul_inside_is_the_name_before_it() -> None:
    # GIVEN AF_UNIX addresses holding a NUL after a path (CPython copies the whole buffer, the
    # kernel takes the name up to the first NUL), and ones no file stands for
    sock = socket.socket(socket.AF_UNIX)
    try:
        bind, connect = DECODERS["socket.bind"], DECODERS["socket.connect"]
        # WHEN they are bound or connected to
        cut = [bind((sock, "/tmp/made\x00junk")), connect((sock, b"/run/peer.sock\x00x"))]
        other = [bind((sock, 5)), bind((sock, ""))]
    finally:
        sock.close()
    # THEN each is decided on the name the kernel uses
    assert cut == [
        [("files", "write", "/tmp/made", None)],
        [("files", "connect", "/run/peer.sock", None)],
    ]
    # AND an address that names no file is refused as undecodable; "" (autobind) is an
    # abstract name the kernel picks, "@"
    assert other[0] is not None and other[0][0][2].startswith(UNDECODABLE)
    assert other[1] == [("files", "write", "@", None)]


def test_ioctl_requests_beyond_the_open_file_are_native_accesses() -> None:
    # GIVEN ioctl requests: one that reads (FIONREAD), one that sets an inode's flags
    # (FS_IOC_SETFLAGS), one that changes the host's network (SIOCSIFMTU), one that sets whom
    # the kernel signals (FIOSETOWN), and a request that is not a plain int
    ioctl = DECODERS["fcntl.ioctl"]
    # WHEN they are decoded
    reads = ioctl((3, 0x541B, 0))
    others = [ioctl((3, request, b"")) for request in (0x40086602, 0x8922)]
    owner = ioctl((3, 0x8901, os.getppid().to_bytes(4, sys.byteorder)))
    odd = ioctl((3, "0x8922", b""))
    # THEN only the read passes undecided; the others are decided (refused unless a rule
    # names the request), the owner as a signal to that process
    assert reads is None
    assert others == [
        [("native", "ioctl", "0x40086602", None)],
        [("native", "ioctl", "0x8922", None)],
    ]
    assert owner == [("processes", "kill", "other:setown", None)]
    assert odd is not None and odd[0][2].startswith(UNDECODABLE)


def test_an_int_the_kernel_takes_as_an_address_is_memory_at_that_address() -> None:
    # GIVEN fcntl/ioctl calls whose third argument the kernel reads as a pointer: CPython
    # hands it an int as it is, its own copy of a bytes or str, the caller's writable buffer
    ioctl, fcntl_ = DECODERS["fcntl.ioctl"], DECODERS["fcntl.fcntl"]

    class Index:  # (a class of Python's: CPython reads it through __index__)
        def __index__(self) -> int:
            return 0x601000

    memory = [("native", "memory", "write", None)]
    # WHEN an address is passed as an int, or as anything CPython reads as one
    # THEN it is memory at that address: FIONREAD's count, F_GETLK's lock written there, the
    # owner FIOSETOWN reads there, an unknown request's anything
    for call in (
        ioctl((3, 0x541B, 0x601000)),
        ioctl((3, 0x8901, 0x601000)),
        ioctl((3, 0x541B, Index())),
        ioctl((3, 0x541B, True)),
        ioctl((3, 0x40086602, -1)),
        fcntl_((3, 5, 0x601000)),  # F_GETLK
        fcntl_((3, 16, 0x601000)),  # F_GETOWN_EX
        fcntl_((3, 0x7FFF, 1)),  # a command this table does not know
    ):
        assert call == memory
    # AND NULL, CPython's copies, the caller's buffers and commands that take a value pass
    assert ioctl((3, 0x541B, 0)) is None
    assert ioctl((3, 0x541B, bytearray(4))) is None
    # (SIOCGIFCONF is none of those: its struct names the buffer the kernel writes to)
    assert ioctl((3, 0x8912, bytearray(16))) == [("native", "ioctl", "0x8912", None)]
    assert ioctl((3, 0x541B, array.array("i", [0]))) is None
    assert ioctl((3, 0x5451, 7)) is None  # FIOCLEX: no argument
    assert fcntl_((3, 5, bytes(32))) is None
    assert fcntl_((3, 4, os.O_NONBLOCK)) is None  # F_SETFL
    assert fcntl_((3, 1030, 10)) is None  # F_DUPFD_CLOEXEC


def test_unix_and_abstract_socket_addresses_are_files() -> None:
    sock = socket.socket(socket.AF_UNIX)
    try:
        assert DECODERS["socket.connect"]((sock, "/run/x.sock")) == [
            ("files", "connect", "/run/x.sock", None)
        ]
        assert DECODERS["socket.connect"]((sock, b"\x00abstract")) == [
            ("files", "connect", "@abstract", None)
        ]
        assert DECODERS["socket.bind"]((sock, "/tmp/s.sock")) == [
            ("files", "write", "/tmp/s.sock", None)
        ]
    finally:
        sock.close()


def test_resolving_literals_or_passive_lookups_is_not_a_query() -> None:
    assert DECODERS["socket.getaddrinfo"]((None, 80, 0, 0, 0)) is None
    assert DECODERS["socket.getaddrinfo"](("127.0.0.1", 80, 0, 0, 0)) is None
    assert DECODERS["socket.getaddrinfo"](("Api.Example.com.", 443, 0, 0, 0)) == [
        ("network", "resolve", "api.example.com", None)
    ]


def test_raw_and_packet_sockets_are_named() -> None:
    decoded = DECODERS["socket.__new__"](
        (None, socket.AF_INET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
    )
    assert decoded == [("network", "socket", "inet/raw", None)]


def test_exec_resolves_the_program_on_path() -> None:
    accesses = DECODERS["subprocess.Popen"](("echo", ["echo", "hi"], None, None))
    assert accesses is not None
    category, action, target, argv = accesses[0]
    assert (category, action) == ("processes", "exec")
    assert target.split("\x1f") == [which("echo"), "hi"]
    assert target.startswith("/")
    assert argv == ["echo", "hi"]


def test_os_system_is_a_shell_command() -> None:
    accesses = DECODERS["os.system"]((b"ls; id",))
    assert accesses is not None
    assert accesses[0][2] == "/bin/sh\x1f-c\x1fls; id"


def test_kill_names_self_group_all_or_other() -> None:
    import signal

    assert DECODERS["os.kill"]((os.getpid(), signal.SIGTERM)) == [
        ("processes", "kill", "self:SIGTERM", None)
    ]
    assert DECODERS["os.kill"]((1, 9)) == [("processes", "kill", "other:SIGKILL", None)]
    # pid 0 is the caller's whole process group, -1 every process it may signal
    assert DECODERS["os.kill"]((0, 9)) == [("processes", "kill", "group:SIGKILL", None)]
    assert DECODERS["os.kill"]((-1, 9)) == [("processes", "kill", "all:SIGKILL", None)]


def test_compile_is_located_at_its_call_site_whatever_it_compiles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN source, an AST, and names that are no module file, at invoke (init decides only
    # compiles that may claim a module's file)
    import ast

    from sandbox.runtime.decoders import code

    monkeypatch.setattr(code, "_phase", lambda: "invoke")

    here = "test_decoders.py:test_compile_is_located_at_its_call_site_whatever_it_compiles"
    for source, filename in (
        ("1+1", "<string>"),
        (ast.parse("1"), "<x>"),
        (b"x=1", "/var/task/templates/page.html"),
    ):
        accesses = DECODERS["compile"]((source, filename))
        # THEN each is decided by where it was compiled
        assert accesses is not None and accesses[0][:2] == ("code", "compile")
        assert accesses[0][2].endswith(here), accesses


def test_a_compile_claiming_a_module_file_is_decided_by_that_file_unless_it_is_its_content(
    tmp_path: pathlib.Path,
) -> None:
    # GIVEN a module file, and source claiming its name: other text, an AST, its own content
    import ast

    module = tmp_path / "m.py"
    module.write_bytes(b"x = 1\n")
    claimed = str(module)

    class Text(str):
        pass

    # WHEN each is decoded (not the import system's compile)
    other = DECODERS["compile"]((b"x = 2\n", claimed))
    tree = DECODERS["compile"]((ast.parse("x = 1"), claimed))
    subclass = DECODERS["compile"]((b"x = 2\n", Text(claimed)))
    bytecode = DECODERS["compile"]((b"x = 2\n", claimed + "c"))
    own = DECODERS["compile"]((b"x = 1\n", claimed))
    own_text = DECODERS["compile"](("x = 1\n", claimed))
    # THEN code that is not the file's content is a compile of that file (it would carry that
    # module's sites), a subclass of the name included, in every phase; the file's own
    # content is a compile like any other (here, at init: not decided)
    spelled = [
        DECODERS["compile"]((b"x = 2\n", name))
        for name in (claimed + "/", claimed + "/.", claimed + "/x/..", claimed + ":x")
    ]
    assert other == tree == subclass == [("code", "compile", claimed, None)]
    assert spelled == [[("code", "compile", claimed, None)]] * 4
    assert bytecode == [("code", "compile", claimed + "c", None)]
    assert own is None and own_text is None


def test_aws_call_event() -> None:
    assert DECODERS["sandbox.aws"](("S3", "GetObject", "my-bucket")) == [
        ("aws", "call", "s3:GetObject:my-bucket", None)
    ]


def test_sqlite_extensions_are_native_code_and_thread_signals_are_kills() -> None:
    # (SQLite retries a name that does not load with ".so" added, whatever it ends with)
    assert DECODERS["sqlite3.load_extension"]((None, "libevil.so")) == [
        ("native", "dlopen", "libevil.so", None),
        ("native", "dlopen", "libevil.so.so", None),
    ]
    # AND switching extension loading on is native code too (SQL's load_extension() then loads
    # any library with no event of its own); switching it off is nothing
    assert DECODERS["sqlite3.enable_load_extension"]((None, True)) == [
        ("native", "dlopen", "<sqlite3 load_extension()>", None)
    ]
    assert DECODERS["sqlite3.enable_load_extension"]((None, False)) is None
    assert DECODERS["signal.pthread_kill"]((1, 9)) == [
        ("processes", "kill", "thread:SIGKILL", None)
    ]


def test_cached_resolution_matches_realpath(tmp_path: pathlib.Path) -> None:
    # GIVEN a symlinked directory, a symlinked file, and a link whose '..' climbs out
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "real" / "sub" / "f").write_text("x")
    os.symlink(tmp_path / "real", tmp_path / "dirlink")
    os.symlink(tmp_path / "real" / "sub" / "f", tmp_path / "real" / "filelink")
    os.symlink(tmp_path / "real" / "sub", tmp_path / "sublink")
    cases = [
        tmp_path / "dirlink" / "sub" / "f",
        tmp_path / "dirlink" / "filelink",
        tmp_path / "dirlink" / "not-yet-created",
        tmp_path / "sublink" / ".." / "filelink",  # '..' after a symlink: the real parent
        tmp_path / "real" / "." / "sub" / "f",
    ]
    for path in cases:
        # WHEN resolving twice (the second time from the cache)
        first, second = norm_path(str(path)), norm_path(str(path))
        # THEN both agree with os.path.realpath
        assert first == second == os.path.realpath(path), path
    # AND a symlink created later is seen once the event that made it clears the cache
    target = str(tmp_path / "real" / "later")
    assert norm_path(target) == target
    paths.forget_resolved_paths()
    os.symlink("/etc/hostname", target)
    assert norm_path(target) == os.path.realpath("/etc/hostname")


@pytest.mark.parametrize(
    ("event", "args", "action"),
    [
        ("ctypes.memoryview_at", (4096, 3, 1), "read"),  # the event's readonly is a C int
        ("ctypes.memoryview_at", (4096, 3, True), "read"),
        ("ctypes.memoryview_at", (4096, 3, 0), "write"),
        ("ctypes.memoryview_at", (4096, 3, hostile("1")), "write"),
        ("ctypes.memoryview_at", (4096, 3), "write"),
        ("ctypes.string_at", (4096, 3), "read"),
        ("ctypes.wstring_at", (4096, -1), "read"),
        ("ctypes.cdata", (4096,), "write"),
        ("ctypes.call_function", (4096, (1, 2)), "call"),  # (any foreign call: any memory)
    ],
)
def test_raw_memory_helpers_are_native_memory(
    event: str, args: tuple[object, ...], action: str
) -> None:
    # GIVEN a ctypes helper's event naming an address / WHEN decoding it
    # THEN it is native memory, read only when the view is read-only by the C flag
    assert DECODERS[event](args) == [("native", "memory", action, None)]


def test_module_files_are_plain_only_in_folders_outside_every_module_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sandbox.runtime.decoders import code
    from sandbox.runtime.decoders.files import module_files_plain

    roots = ("/var/task", "/opt/python", "/srv/data/lib.zip")
    monkeypatch.setattr(code, "MODULE_ROOTS", roots)
    monkeypatch.setattr(code, "MODULE_PREFIXES", tuple(root + "/" for root in roots))
    # A folder outside every root, with none below it: a module file there is any file
    assert module_files_plain("/tmp/plugins")
    assert module_files_plain("/var/taskforce")
    assert module_files_plain("/opt/pythonic/x")
    # A root, a folder below one, a folder holding one (a root named like a module file,
    # "/srv/data/lib.zip") or above one, and "/": the import machinery's reads are tracked
    for folder in (
        "/var/task",
        "/var/task/pkg/__pycache__",
        "/opt/python/a",
        "/srv/data",
        "/srv",
        "/opt",
        "/",
    ):
        assert not module_files_plain(folder), folder


def test_own_limits_that_silence_the_sandbox_are_decided() -> None:
    # GIVEN resource.setrlimit and resource.prlimit events of this process
    import resource

    setrlimit, prlimit = DECODERS["resource.setrlimit"], DECODERS["resource.prlimit"]
    inf = resource.RLIM_INFINITY
    fsize = [("processes", "kill", "self:setrlimit:RLIMIT_FSIZE", None)]
    # THEN lowering FSIZE/NOFILE/AS is an access, the same for setrlimit and prlimit of itself
    assert setrlimit((resource.RLIMIT_FSIZE, (10, inf))) == fsize
    assert prlimit((0, resource.RLIMIT_FSIZE, (10, inf))) == fsize
    assert prlimit((os.getpid(), resource.RLIMIT_FSIZE, [10, 10])) == fsize
    assert setrlimit((resource.RLIMIT_NOFILE, (8, 8))) == [
        ("processes", "kill", "self:setrlimit:RLIMIT_NOFILE", None)
    ]
    assert setrlimit((resource.RLIMIT_AS, (1 << 30, inf))) == [
        ("processes", "kill", "self:setrlimit:RLIMIT_AS", None)
    ]
    # AND a sequence it cannot read safely is decided, not believed
    assert setrlimit((resource.RLIMIT_FSIZE, hostile(range(2)))) == fsize
    # AND unlimited values, other limits and reads pass; another process stays other:prlimit
    assert setrlimit((resource.RLIMIT_FSIZE, (inf, inf))) is None
    # BUT unlimited in a list is decided: CPython reads the list again after the event, and
    # another thread can lower an item in between (red team 116)
    assert setrlimit((resource.RLIMIT_FSIZE, [inf, inf])) == fsize
    assert setrlimit((resource.RLIMIT_CORE, (0, 0))) is None
    assert setrlimit((resource.RLIMIT_CORE, (0, inf))) is None
    # AND raising the core dump limit is decided, the other way round: a dump is a file the
    # kernel writes with no audit event (red team 129); a list is read again after the event
    core = [("processes", "kill", "self:setrlimit:RLIMIT_CORE", None)]
    assert setrlimit((resource.RLIMIT_CORE, (inf, inf))) == core
    assert setrlimit((resource.RLIMIT_CORE, (1, 1))) == core
    assert prlimit((0, resource.RLIMIT_CORE, (4096, inf))) == core
    assert setrlimit((resource.RLIMIT_CORE, [0, inf])) == core
    assert setrlimit((resource.RLIMIT_CORE, (False, inf))) == core
    assert prlimit((0, resource.RLIMIT_FSIZE, None)) is None
    assert prlimit((1, resource.RLIMIT_FSIZE, (1, 1))) == [
        ("processes", "kill", "other:prlimit", None)
    ]


def test_the_guarded_limit_numbers_are_linuxs() -> None:
    # GIVEN the decoder's table (resource is not imported at cold start)
    import resource

    from sandbox.runtime.decoders.processes import _GUARDED_LIMITS

    # THEN every number is the resource module's constant of that name
    assert {n: getattr(resource, name) for n, name in _GUARDED_LIMITS.items()} == {
        n: n for n in _GUARDED_LIMITS
    }


def test_a_c_extension_loads_on_its_name_only_from_its_own_place(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the folders install trusts: an import root of its (sys.path then) and a module root
    from sandbox.runtime.decoders import code, modules

    site, task = tmp_path / "site", tmp_path / "task"
    for folder in (site / "pkg", task / "vendor" / "pkg", tmp_path / "tmp" / "pkg"):
        folder.mkdir(parents=True)
    monkeypatch.setattr(code, "INSTALL_IMPORT_ROOTS", (str(site),))
    monkeypatch.setattr(code, "MODULE_PREFIXES", (str(task) + "/",))
    # (a folder sys.path named only later is no import root of install's)
    monkeypatch.setattr(code, "IMPORT_ROOTS", (str(site), str(tmp_path / "tmp")))
    suffix = ".cpython-311-x86_64-linux-gnu.so"

    def decided(name: str, path: str) -> list[tuple[str, str]]:
        accesses = modules.DECODERS["import"]((name, path, None, None)) or []
        return [(c, a) for c, a, _, _ in accesses]

    # WHEN C extensions' import events are decoded
    own = str(site / "pkg" / ("mod" + suffix))
    vendored = str(task / "vendor" / "pkg" / ("mod" + suffix))
    written = str(tmp_path / "tmp" / "pkg" / ("mod" + suffix))
    dotted = str(site) + "/../tmp/pkg/mod" + suffix
    # THEN the module's own file at an import root install found loads on its name
    assert decided("pkg.mod", own) == [("modules", "import")]
    assert decided("pkg", str(site / "pkg" / ("__init__" + suffix))) == [("modules", "import")]
    # AND a file elsewhere, a real module's file under another name, or a spelling that leads
    # elsewhere is native code -- a folder below a module root too: there a package's file
    # loads under a name that merely ends like its path (red team 54)
    native = [("modules", "import"), ("native", "dlopen")]
    assert decided("pkg.mod", vendored) == native
    assert decided("pkg.mod", written) == native
    assert decided("sandbox.runtime.mod", own) == native
    assert decided("mod", own) == native
    assert decided("pkg.mod", dotted) == native
    # AND a name the dynamic loader reads otherwise than the kernel -- a dynamic string token
    # glibc expands ($ORIGIN is libpython's folder, not one of the working directory's), or no
    # "/" at all (a library-path search) -- is native code whose file nothing can name
    monkeypatch.chdir(site / "pkg")  # (where "$ORIGIN/.." read as folders leads to pkg/mod)
    assert decided("pkg.mod", "$ORIGIN/../mod" + suffix) == native
    for spelled in ("$ORIGIN/../../tmp/calendar", "${ORIGIN}/x.so", str(site) + "/$LIB/m.so"):
        assert decided("calendar", spelled) == native, spelled
        accesses = DECODERS["ctypes.dlopen"]((spelled, 0))
        assert accesses is not None and len(accesses) == 1
        assert accesses[0][:2] == ("native", "dlopen") and accesses[0][2].startswith(UNDECODABLE)
    assert decided("pkg.mod", "mod" + suffix) == native
    # AND the plain-spelling test the shortcut relies on
    assert modules._plain(own) and not modules._plain(dotted)
    assert not modules._plain("pkg/mod.so") and not modules._plain("/a//pkg/mod.so")
    assert not modules._plain("/a/./pkg/mod.so") and not modules._plain("/a/pkg/mod.so\x00")


def test_a_native_load_is_decided_on_its_file_only_when_nothing_can_turn_its_name_elsewhere(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a deployment folder (site/, steady) holding an extension module, its own link to
    # it, and out/ below it where the profile lets the function write; and a scratch folder
    # outside every trusted one (the temp dir's part)
    from sandbox.runtime.decoders import code, modules

    site, scratch = tmp_path / "site", tmp_path / "scratch"
    for folder in (site / "pkg" / "sub", site / "out", scratch / "d"):
        folder.mkdir(parents=True)
    suffix = ".cpython-311-x86_64-linux-gnu.so"
    own = site / "pkg" / ("mod" + suffix)
    own.write_bytes(b"\x7fELF")
    monkeypatch.setattr(code, "INSTALL_IMPORT_ROOTS", (str(site),))
    monkeypatch.setattr(code, "IMPORT_ROOTS", (str(site),))
    monkeypatch.setattr(code, "STEADY_PREFIXES", (str(site) + "/",))
    from sandbox.runtime.policy import Matcher

    monkeypatch.setattr(code, "WRITE_MATCHERS", (Matcher((), (str(site / "out"),), []),))
    (site / "pkg" / "libmod.so").symlink_to(own)  # the deployment's (libx.so -> libx.so.1)
    (site / "out" / "link.so").symlink_to(own)
    (scratch / "link.so").symlink_to(own)
    fd = os.open(own, os.O_RDONLY)
    self_fd = f"/proc/self/fd/{fd}"
    climb = "/.." * len(site.parts)

    def dlopen(name: str) -> str:
        accesses = DECODERS["ctypes.dlopen"]((name, 0))
        assert (
            accesses is not None
            and len(accesses) == 1
            and accesses[0][:2]
            == (
                "native",
                "dlopen",
            )
        )
        return str(accesses[0][2])

    def imported(path: str) -> list[tuple[str, str, str]]:
        accesses = modules.DECODERS["import"](("pkg.mod", path, None, None)) or []
        return [(c, a, str(t)) for c, a, t, _ in accesses if c == "native"]

    try:
        # WHEN loads are named through links, ".." and descriptors
        # THEN a name that turns only in the deployment's folders is decided on its file
        assert dlopen(str(site / "pkg" / "libmod.so")) == str(own)
        assert dlopen(str(site / "pkg" / "sub") + "/../mod" + suffix) == str(own)
        assert dlopen(str(site) + "/pkg/../pkg/mod" + suffix) == str(own)
        assert imported(str(site / "pkg" / "sub") + "/../mod" + suffix) == []  # (its own file)
        # AND a name the function could turn elsewhere before the loader follows it is
        # native code nothing can name: a descriptor's name (dup2 raises no event), a link in
        # a folder outside the deployment's or where the profile lets it write, a ".." after
        # a folder it may swap for a link, a name relative to the working directory
        for name in (
            self_fd,
            "/dev/fd/" + str(fd),
            str(scratch / "link.so"),
            str(site / "out" / "link.so"),
            str(scratch / "d") + climb + str(own),
            str(site / "out") + "/.." + "/pkg/mod" + suffix,
        ):
            assert dlopen(name).startswith(UNDECODABLE), name
            found = imported(name)
            assert len(found) == 1 and found[0][2].startswith(UNDECODABLE), name
        monkeypatch.chdir(site)
        assert dlopen("pkg/mod" + suffix).startswith(UNDECODABLE)
        # AND a name is steady only inside a trusted folder, and when no write rule matches it
        assert code.name_is_steady(str(site / "pkg")) and code.name_is_steady("/usr")
        assert not code.name_is_steady(str(site / "out"))
        assert not code.name_is_steady(str(scratch / "d")) and not code.name_is_steady("/tmp/x")
        # AND an extension's own file is not at home where the function may write it
        (site / "out" / ("mod" + suffix)).write_bytes(b"\x7fELF")
        planted = modules.DECODERS["import"](("out.mod", str(site / "out" / ("mod" + suffix))))
        assert [a[:2] for a in planted or []] == [("modules", "import"), ("native", "dlopen")]
    finally:
        os.close(fd)


def test_an_extension_is_at_home_only_under_a_modules_dotted_name_and_its_own_stem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an import root install found, and no write rule
    from sandbox.runtime.decoders import code

    monkeypatch.setattr(code, "INSTALL_IMPORT_ROOTS", ("/opt/python",))
    monkeypatch.setattr(code, "WRITE_MATCHERS", ())
    suffix = ".cpython-311-x86_64-linux-gnu.so"
    # WHEN a module's own file is asked about under its name THEN it is at home
    assert code.extension_at_home(f"/opt/python/a/b{suffix}", "a.b")
    assert code.extension_at_home(f"/opt/python/a/__init__{suffix}", "a")
    # AND a name with an empty part or a "/", or a file with no stem, never is (red team 64:
    # a file loaded under the empty name)
    for path, name in [
        (f"/opt/python/{suffix}", ""),
        (f"/opt/python/a/{suffix}", "a."),
        (f"/opt/python//b{suffix}", ".b"),
        (f"/opt/python/a//b{suffix}", "a..b"),
        (f"/opt/python/a/b{suffix}", "a/b"),
    ]:
        assert not code.extension_at_home(path, name), (path, name)
