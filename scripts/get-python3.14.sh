#!/usr/bin/env bash
# Make a CPython 3.14 interpreter available on this (Debian bookworm) machine, in a private
# prefix outside any repository, cached between runs:
#
#     scripts/get-python3.14.sh            # or: make python3.14
#     -> ${XDG_CACHE_HOME:-$HOME/.cache}/lambda-sandbox/python3.14/bin/python3.14
#
# Nothing is installed into the system from Debian sid: the only system changes are the
# bookworm -dev packages the build needs and one deb-src entry for sid (which can never
# install a binary package).
#
# Two ways to get there, tried in this order (PY314_METHOD=auto, the default):
#
#   source  `apt-get source --download-only python3.14` from sid, then a plain upstream build
#           of the .orig tarball (the pristine python.org tree: Debian's patches are NOT
#           applied, see below) with ./configure --prefix=$PREFIX; make; make altinstall.
#   debs    when the mirror does not serve the sid source package (seen on this workplace's
#           mirror on 2026-12-01: the index lists python3.14 3.14.9-1/3.14.10-1 but every
#           source file 404s, while the binary .debs are served), the sid *binary* packages
#           of python3.14 and of the libraries it links (glibc included: sid's python needs
#           GLIBC_2.38, bookworm has 2.36) are downloaded with a private apt configuration
#           and unpacked (dpkg-deb -x, not installed) into $PREFIX; the interpreter is then
#           pointed at that private glibc with patchelf (PT_INTERP + DT_RPATH), so nothing of
#           it leaks into other processes. This is Debian's build, Debian patches included.
#
# Why Debian's patches are not applied in the source build: they target Debian's /usr
# layout (dist-packages, multiarch headers, deb_system/posix_local sysconfig schemes),
# disable ensurepip outside venvs, and change stdlib modules (tempfile/argparse fall back
# when shutil is missing). The Lambda runtime is an upstream build, so the upstream tree is
# what the sandbox should be tested against.
#
# Settings (environment):
#   PY314_PREFIX       install prefix   (default ${XDG_CACHE_HOME:-$HOME/.cache}/lambda-sandbox/python3.14)
#   PY314_WORKDIR      downloads/build  (default $PY314_PREFIX.work)
#   PY314_METHOD       auto | source | debs   (default auto)
#   PY314_DEB_VERSION  pin the Debian version, e.g. 3.14.10-1 (default: newest in sid)
#   PY314_FORCE=1      rebuild even if the prefix already works
#   PY_SERIES          3.14 (other values only to exercise the recipe, e.g. 3.13)
set -euo pipefail

SERIES="${PY_SERIES:-3.14}"
PKG="python${SERIES}"
PREFIX="${PY314_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/lambda-sandbox/python${SERIES}}"
WORK="${PY314_WORKDIR:-${PREFIX}.work}"
METHOD="${PY314_METHOD:-auto}"
DEB_VERSION="${PY314_DEB_VERSION:-}"
MIRROR="http://deb.debian.org/debian"
KEYRING="/usr/share/keyrings/debian-archive-keyring.gpg"
SID_SRC_LIST="/etc/apt/sources.list.d/sandbox-sid-src.sources"
MULTIARCH="x86_64-linux-gnu"
JOBS="$(nproc 2>/dev/null || echo 2)"
PY="$PREFIX/bin/python$SERIES"

# What the project needs of an interpreter; checked before (cache hit) and after a build.
REQUIRED_MODULES="ssl sqlite3 ctypes lzma bz2 zlib _socket venv ensurepip"

# bookworm packages a full upstream build needs (configure disables a module silently when
# its library is missing, hence the explicit list and the import check at the end).
BUILD_DEPS="build-essential pkg-config xz-utils dpkg-dev
  libssl-dev libsqlite3-dev libffi-dev liblzma-dev libbz2-dev zlib1g-dev libzstd-dev
  libreadline-dev libncurses-dev libgdbm-dev libgdbm-compat-dev uuid-dev libexpat1-dev
  tk-dev"
# What the debs route needs on the host, and what extensions built by pip need (headers
# come from bookworm; awslambdaric's bundled libcurl/aws-lambda-cpp build uses autotools/cmake).
DEBS_HOST_DEPS="patchelf build-essential pkg-config cmake autoconf automake libtool"

# sid binary packages for the debs route: the interpreter, its stdlib, headers, venv+pip
# wheel, and every library the interpreter or a lib-dynload module links.
SID_PY_PKGS="python${SERIES} python${SERIES}-minimal python${SERIES}-venv python${SERIES}-dev
  libpython${SERIES} libpython${SERIES}-minimal libpython${SERIES}-stdlib libpython${SERIES}-dev"
SID_LIB_PKGS="python3-pip-whl libc6 libgcc-s1 libssl3t64 libffi8 libsqlite3-0 liblzma5
  libbz2-1.0 zlib1g libzstd1 libexpat1 libncursesw6 libtinfo6 libreadline8t64 libuuid1
  libdb5.3t64 media-types"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

verify() {  # verify [quiet]: the interpreter runs and every required module imports
    [ -x "$PY" ] || return 1
    local out
    if ! out="$("$PY" - $REQUIRED_MODULES 2>&1 <<'EOF'
import importlib, sys
bad = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as e:
        bad.append(f"{name}: {type(e).__name__}: {e}")
import ensurepip, ssl, sqlite3
print(sys.version.replace("\n", " "))
print(f"ssl {ssl.OPENSSL_VERSION}; sqlite {sqlite3.sqlite_version}; bundled pip {ensurepip.version()}")
if bad:
    print("missing:\n  " + "\n  ".join(bad))
    sys.exit(1)
EOF
)"; then
        [ "${1:-}" = quiet ] || printf '%s\n' "$out" >&2
        return 1
    fi
    [ "${1:-}" = quiet ] || printf '%s\n' "$out" | sed 's/^/    /' >&2
    return 0
}

byte_compile_stdlib() {
    # Debian's binary packages carry no .pyc (py3compile makes them when the package is
    # installed, which dpkg-deb -x skips); `make altinstall` and Lambda's runtime have them.
    # Without them every stdlib import compiles its source, which the sandbox sees as a
    # `compile` of a stdlib file (refused after init in enforce). Idempotent: a no-op when
    # every .pyc is current.
    "$PY" -m compileall -q -j0 "$PREFIX/lib/$PKG" >/dev/null 2>&1 ||
        "$PY" -m compileall -q -j0 "$PREFIX/lib/$PKG" | tail -5 >&2 || true
}

# --- apt -------------------------------------------------------------------------------
SUDO=""
apt_preflight() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script needs a Debian (bookworm) host"
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null \
            || die "apt needs root: run as root or with password-less sudo"
        SUDO="sudo"
    fi
    [ -d /etc/apt/sources.list.d ] || die "/etc/apt/sources.list.d missing: apt is not usable here"
    [ -r "$KEYRING" ] || die "$KEYRING missing (package debian-archive-keyring)"
    command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found"
}

apt_install_host() {  # install the given bookworm packages if any is missing
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    say "installing from bookworm: ${missing[*]} (log: $WORK/apt-install.log)"
    $SUDO apt-get update -qq || die "apt-get update failed (network or sources broken?)"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        >"$WORK/apt-install.log" 2>&1 \
        || { tail -n 20 "$WORK/apt-install.log" >&2; die "apt-get install ${missing[*]} failed"; }
}

add_sid_src() {  # deb-src only: it can never bring a sid binary into the system
    local want
    want="$(printf 'Types: deb-src\nURIs: %s\nSuites: sid\nComponents: main\nSigned-By: %s\n' "$MIRROR" "$KEYRING")"
    if [ ! -f "$SID_SRC_LIST" ] || [ "$(cat "$SID_SRC_LIST")" != "$want" ]; then
        say "adding $SID_SRC_LIST (deb-src sid)"
        printf '%s\n' "$want" | $SUDO tee "$SID_SRC_LIST" >/dev/null
    fi
    say "apt-get update (only the sid deb-src entry)"
    $SUDO apt-get update -qq -o Dir::Etc::sourcelist="$SID_SRC_LIST" -o Dir::Etc::sourceparts=- \
        -o APT::Get::List-Cleanup=0 || die "apt-get update of $SID_SRC_LIST failed"
}

# --- route 1: upstream source build ---------------------------------------------------------
fetch_source() {  # -> prints the path of the .orig tarball; returns 2 if the mirror won't serve it
    local dl="$WORK/src" spec="$PKG${DEB_VERSION:+=$DEB_VERSION}" dsc orig
    mkdir -p "$dl"
    say "apt-get source --download-only $spec"
    if ! (cd "$dl" && $SUDO apt-get -qq -o APT::Sandbox::User=root source --download-only "$spec") >&2; then
        return 2
    fi
    if [ -n "$DEB_VERSION" ]; then dsc="$dl/${PKG}_${DEB_VERSION#*:}.dsc"; else dsc="$(ls -t "$dl/${PKG}_"*.dsc | head -n1)"; fi
    [ -f "$dsc" ] || die "no .dsc in $dl"
    orig="$(awk '/^Files:/{f=1;next} /^[^ ]/{f=0} f{print $3}' "$dsc" | grep '\.orig\.tar\.' | head -n1)"
    [ -n "$orig" ] && [ -f "$dl/$orig" ] || die "no .orig tarball listed in $dsc"
    printf '%s\n' "$dl/$orig"
}

build_from_source() {
    local orig="$1" build="$WORK/build" srcdir t0
    apt_install_host $BUILD_DEPS
    rm -rf "$build" && mkdir -p "$build"
    say "unpacking $(basename "$orig") (upstream tree; debian/ patches not applied)"
    tar -xf "$orig" -C "$build"
    srcdir="$(find "$build" -mindepth 1 -maxdepth 1 -type d -name 'Python-*' | head -n1)"
    [ -n "$srcdir" ] || die "unexpected tarball layout in $orig"
    cd "$srcdir"
    # Static libpython (no --enable-shared): the binary needs no rpath, venvs symlink it
    # as is. No PGO/LTO: too slow on 2 cores for a test interpreter. No pip in the prefix:
    # venvs get it from ensurepip's bundled wheel.
    say "configure (log: $build/configure.log)"
    ./configure --prefix="$PREFIX" --with-ensurepip=no >"$build/configure.log" 2>&1 \
        || { tail -n 30 "$build/configure.log" >&2; die "configure failed, see $build/configure.log"; }
    say "make -j$JOBS (log: $build/make.log)"
    t0=$SECONDS
    make -j"$JOBS" >"$build/make.log" 2>&1 || { tail -n 40 "$build/make.log" >&2; die "make failed, see $build/make.log"; }
    say "make took $((SECONDS - t0)) s"
    # The build's own summary of modules it could not build (missing -dev packages).
    sed -n '/^The necessary bits to build these optional modules were not found/,/^$/p;/^Following modules built successfully but were removed/,/^$/p;/^Failed to build these modules/,/^$/p' \
        "$build/make.log" >&2 || true
    rm -rf "$PREFIX"
    say "make altinstall -> $PREFIX (log: $build/install.log)"
    make altinstall >"$build/install.log" 2>&1 || { tail -n 30 "$build/install.log" >&2; die "make altinstall failed"; }
    echo "method=source orig=$(basename "$orig")" >"$PREFIX/.lambda-sandbox-build"
}

# --- route 2: sid binary packages unpacked into the prefix -------------------------------------
install_from_debs() {
    local apt="$WORK/apt-sid" debs="$WORK/debs" stage="$WORK/stage" ver p f pkgs=()
    apt_install_host $DEBS_HOST_DEPS
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$debs"
    : >"$apt/status"   # an empty dpkg status: apt resolves nothing against this system
    printf 'Types: deb\nURIs: %s\nSuites: sid\nComponents: main\nSigned-By: %s\n' "$MIRROR" "$KEYRING" >"$apt/sid.sources"
    local A=(-o Dir::Etc::sourcelist="$apt/sid.sources" -o Dir::Etc::sourceparts=-
             -o Dir::State::Lists="$apt/lists" -o Dir::State::status="$apt/status"
             -o Dir::Cache="$apt/cache"
             -o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o APT::Sandbox::User=root)
    [ "$(dpkg --print-architecture)" = amd64 ] || die "the debs route is written for amd64 only"
    say "apt-get update (private sid binary index in $apt, not the system's)"
    apt-get -qq "${A[@]}" update || die "apt-get update of the private sid index failed"
    ver="$DEB_VERSION"
    if [ -z "$ver" ]; then
        ver="$(apt-cache "${A[@]}" policy "$PKG" | awk '/Candidate:/{print $2}')"
        [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "$PKG not found in sid's binary index"
    fi
    for p in $SID_PY_PKGS; do pkgs+=("$p=$ver"); done
    for p in $SID_LIB_PKGS; do pkgs+=("$p"); done
    say "downloading ${#pkgs[@]} sid packages ($PKG $ver)"
    rm -f "$debs"/*.deb
    (cd "$debs" && apt-get -qq "${A[@]}" download "${pkgs[@]}") >&2 || die "apt-get download from sid failed"
    rm -rf "$stage" && mkdir -p "$stage"
    for f in "$debs"/*.deb; do dpkg-deb -x "$f" "$stage"; done
    [ -x "$stage/usr/bin/$PKG" ] || die "no usr/bin/$PKG in the unpacked packages"
    # non-usr-merged leftovers (lib/, lib64/) go to the same place as usr/lib
    for d in lib lib64 bin sbin; do
        if [ -d "$stage/$d" ] && [ ! -L "$stage/$d" ]; then mkdir -p "$stage/usr/$d" && cp -a "$stage/$d/." "$stage/usr/$d/"; fi
    done
    rm -rf "$PREFIX" && mkdir -p "$(dirname "$PREFIX")"
    mv "$stage/usr" "$PREFIX"
    local libdir="$PREFIX/lib/$MULTIARCH" stdlib="$PREFIX/lib/$PKG"
    [ -e "$libdir/ld-linux-x86-64.so.2" ] || die "sid's ld.so not found in $libdir"
    say "patchelf: interpreter and DT_RPATH -> $libdir"
    patchelf --set-interpreter "$libdir/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$libdir" "$PREFIX/bin/$PKG"
    # Debian-isms that would point outside the prefix:
    # - /usr/include/python3.X/pyconfig.h only #includes the multiarch one from /usr/include
    cp "$PREFIX/include/$MULTIARCH/$PKG/pyconfig.h" "$PREFIX/include/$PKG/pyconfig.h"
    # - ensurepip finds pip's wheel in WHEEL_PKG_DIR=/usr/share/python-wheels
    for f in "$stdlib"/_sysconfigdata_*.py; do
        sed -i "s#'/usr/share/python-wheels/\?'#'$PREFIX/share/python-wheels/'#g" "$f"
    done
    # - sitecustomize.py is a symlink to /etc/python3.X (apport hook); EXTERNALLY-MANAGED
    #   is for the system python only
    rm -f "$stdlib/sitecustomize.py" "$stdlib/EXTERNALLY-MANAGED"
    rm -rf "$stage"
    echo "method=debs version=$ver glibc=$(basename "$(ls "$debs"/libc6_*.deb)")" >"$PREFIX/.lambda-sandbox-build"
}

# --- main ------------------------------------------------------------------------------------------
case "$METHOD" in auto|source|debs) ;; *) die "PY314_METHOD must be auto, source or debs (got '$METHOD')";; esac

if [ "${PY314_FORCE:-0}" != 1 ] && verify quiet; then
    byte_compile_stdlib   # prefixes made before this step existed
    say "$PY already works (set PY314_FORCE=1 to rebuild)"
    echo "$PY"
    exit 0
fi

T0=$SECONDS
apt_preflight
mkdir -p "$WORK"
case "$PREFIX" in "$PWD"|"$PWD"/*) git -C "$PWD" rev-parse >/dev/null 2>&1 && die "refusing to install inside a git checkout: $PREFIX";; esac

used=""
if [ "$METHOD" != debs ]; then
    add_sid_src
    if orig="$(fetch_source)"; then
        build_from_source "$orig"; used=source
    elif [ "$METHOD" = source ]; then
        die "apt-get source $PKG failed: the mirror does not serve the sid source package (try PY314_METHOD=debs)"
    else
        say "the sid source package of $PKG could not be downloaded from $MIRROR; falling back to the sid binary packages (PY314_METHOD=debs)"
    fi
fi
[ -n "$used" ] || { install_from_debs; used=debs; }

byte_compile_stdlib
say "verifying $PY ($used route, $((SECONDS - T0)) s)"
verify || die "$PY does not import all of: $REQUIRED_MODULES"
echo "$PY"
