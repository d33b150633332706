/* The native core of the sandbox's audit hook: state in C memory, out of Python's reach.
 *
 * One audit hook per process (PySys_AddAuditHook). Everything it holds -- the event names it
 * handles, the callback, the sandbox's own code objects, the mode, the phase, the decision
 * cache -- lives in static C memory: no module attribute, no tp_traverse, no Python container
 * refers to it, so no Python object found through gc can be used to read or rewrite it.
 *
 * Hot path: an event whose name is not in the set returns after a bitmap test of its first two
 * bytes, or one hash of the C string and a probe of a C hash table (no Python object touched,
 * no allocation).
 *
 * Built against the CPython API only, for CPython 3.10-3.13. The GIL is held in every
 * function here (audit hooks and module functions run with it), which serialises all
 * access to the shared state; only the "inside the callback" depth is per thread.
 */
#define PY_SSIZE_T_CLEAN
/* Built like the standard library's own shared modules: one internal field is needed
 * (_PyRuntime.main_thread, see defer_signal_handlers); the layer has one object per CPython
 * minor version, each compiled against that version's headers. */
#ifndef Py_BUILD_CORE_MODULE
#define Py_BUILD_CORE_MODULE 1
#endif
#include <Python.h>
#include <frameobject.h>
#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h> /* PyMember_GetOne (in Python.h from 3.12 on) */
#endif
#include <marshal.h> /* PyMarshal_ReadObjectFromString: unmarshal_file */
#include "internal/pycore_runtime.h"
#if PY_VERSION_HEX < 0x030C0000
#include "internal/pycore_interp.h" /* the collector's first generation (3.10/3.11) */
#endif
/* (CPython's internal inline functions leave parameters unused: not this file's warnings) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#if PY_VERSION_HEX >= 0x030E0000
#include "internal/pycore_interpframe.h" /* the frame guard: a frame's code (3.14) */
#include "internal/pycore_frame.h"      /* frame_local: a frame object's data (3.14) */
#elif PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_frame.h" /* the frame guard: a frame's code (3.11-3.13) */
#endif
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_dict.h" /* Popen verdicts: whether a dict's keys are all exact str */
#endif
#pragma GCC diagnostic pop
#include <dlfcn.h>
#include <link.h> /* dl_iterate_phdr: the _sqlite3 module among the loaded objects */
#include <pthread.h>
#include <sys/sysmacros.h> /* makedev: the two device nodes SQLite opens itself */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h> /* core_dumps_off */
#include <sys/vfs.h>      /* statfs: where glibc's shm_open puts its files */
#include <gnu/libc-version.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#define CORE_MAX_NESTING 8
#define CORE_CACHE_LIMIT 8192
#define CORE_CACHE_SLOTS 16384 /* power of two, twice the limit: load factor <= 0.5 */
#define OPEN_CACHE_LIMIT 4096
#define OPEN_CACHE_SLOTS 8192   /* power of two, twice the limit */
#define OPEN_PATH_MAX 4096      /* the kernel's PATH_MAX: longer names go to the callback */
#define OPEN_MODE_MAX 7

/* ------------------------------------------------------------------------------------- */
/* Hashing                                                                               */

static inline uint64_t
mix64(uint64_t h)
{
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

/* A word-at-a-time hash of a byte string (cache keys: paths, hosts...), fixed-size loads. */
static uint64_t
bytes_hash(const char *p, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xc2b2ae3d27d4eb4fULL;
        h = (h << 31) | (h >> 33);
    }
    if (i < n) {
        uint64_t w = 0;
        if (n >= 8) {
            memcpy(&w, p + n - 8, 8); /* overlapping tail: one fixed-size load */
        }
        else {
            for (size_t k = 0; k < n; k++) {
                w = (w << 8) | (unsigned char)p[k];
            }
        }
        h = (h ^ w) * 0xc2b2ae3d27d4eb4fULL;
    }
    return mix64(h);
}

static size_t
table_size_for(size_t n)
{
    size_t size = 8;
    while (size < 2 * n + 1) {
        size <<= 1;
    }
    return size;
}

/* ------------------------------------------------------------------------------------- */
/* A set of C strings (event names), built once at install, read-only afterwards.        */
/*                                                                                       */
/* Lookup cost matters: every audit event of the process comes here. A bitmap of the     */
/* names' first two bytes rejects most events after one load; the rest are hashed from   */
/* their length and first and last bytes (no per-byte loop), then compared.                  */

typedef struct {
    uint64_t hash;
    size_t len;
    char *name; /* NULL: empty slot */
} name_slot;

typedef struct {
    name_slot *slots;
    size_t mask;
    uint8_t prefix[65536 / 8]; /* bit (s[0] << 8 | s[1]) set for each name */
} name_set;

static inline unsigned
prefix_key(const char *s)
{
    unsigned c0 = (unsigned char)s[0];
    return c0 ? (c0 << 8) | (unsigned char)s[1] : 0;
}

static inline uint64_t
load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t
load32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Fixed-size (possibly overlapping) loads of the head and tail: no per-byte loop, and no
 * variable-length copy (whose byte stores stall the wide load that follows). */
static inline uint64_t
name_hash(const char *s, size_t len)
{
    uint64_t a, b;
    if (len >= 8) {
        a = load64(s);
        b = load64(s + len - 8);
    }
    else if (len >= 4) {
        a = load32(s);
        b = load32(s + len - 4);
    }
    else {
        a = len ? ((uint64_t)(unsigned char)s[0] << 16) | ((uint64_t)(unsigned char)s[len / 2] << 8) |
                      (unsigned char)s[len - 1]
                : 0;
        b = 0;
    }
    return mix64((a * 0x9e3779b97f4a7c15ULL) ^ (b * 0xc2b2ae3d27d4eb4fULL) ^ len);
}

static int
name_set_build(name_set *set, PyObject *iterable, const char *what)
{
    PyObject *items = PySequence_Fast(iterable, what);
    if (items == NULL) {
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    /* Load factor <= 1/4: a miss (the common case) ends at an empty slot within a probe or two. */
    size_t size = table_size_for(2 * (size_t)n);
    set->slots = PyMem_RawCalloc(size, sizeof(name_slot));
    if (set->slots == NULL) {
        Py_DECREF(items);
        PyErr_NoMemory();
        return -1;
    }
    set->mask = size - 1;
    memset(set->prefix, 0, sizeof(set->prefix));
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(items, i);
        if (!PyUnicode_CheckExact(item)) {
            PyErr_Format(PyExc_TypeError, "%s: expected str items, got %.80s", what,
                         Py_TYPE(item)->tp_name);
            Py_DECREF(items);
            return -1;
        }
        Py_ssize_t len;
        const char *utf8 = PyUnicode_AsUTF8AndSize(item, &len);
        if (utf8 == NULL) {
            Py_DECREF(items);
            return -1;
        }
        if ((Py_ssize_t)strlen(utf8) != len) {
            PyErr_Format(PyExc_ValueError, "%s: event name with a NUL character", what);
            Py_DECREF(items);
            return -1;
        }
        uint64_t h = name_hash(utf8, (size_t)len);
        size_t j = (size_t)h & set->mask;
        int duplicate = 0;
        while (set->slots[j].name != NULL) {
            if (set->slots[j].hash == h && strcmp(set->slots[j].name, utf8) == 0) {
                duplicate = 1;
                break;
            }
            j = (j + 1) & set->mask;
        }
        if (duplicate) {
            continue;
        }
        char *copy = PyMem_RawMalloc((size_t)len + 1);
        if (copy == NULL) {
            Py_DECREF(items);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(copy, utf8, (size_t)len + 1);
        set->slots[j].hash = h;
        set->slots[j].len = (size_t)len;
        set->slots[j].name = copy;
        unsigned key = prefix_key(copy);
        set->prefix[key >> 3] |= (uint8_t)(1u << (key & 7));
    }
    Py_DECREF(items);
    return 0;
}

static void
name_set_free(name_set *set)
{
    if (set->slots == NULL) {
        return;
    }
    for (size_t i = 0; i <= set->mask; i++) {
        PyMem_RawFree(set->slots[i].name);
    }
    PyMem_RawFree(set->slots);
    set->slots = NULL;
    set->mask = 0;
    memset(set->prefix, 0, sizeof(set->prefix));
}

/* The hot path: no Python object, no allocation. */
static inline int
name_set_has(const name_set *set, const char *name)
{
    unsigned key = prefix_key(name);
    if (!(set->prefix[key >> 3] & (1u << (key & 7)))) {
        return 0;
    }
    size_t len = strlen(name);
    uint64_t h = name_hash(name, len);
    size_t j = (size_t)h & set->mask;
    for (;;) {
        const name_slot *slot = &set->slots[j];
        if (slot->name == NULL) {
            return 0;
        }
        if (slot->hash == h && slot->len == len && memcmp(slot->name, name, len) == 0) {
            return 1;
        }
        j = (j + 1) & set->mask;
    }
}

/* ------------------------------------------------------------------------------------- */
/* A set of code objects, compared by identity (strong references held here only).      */

typedef struct {
    PyObject **slots;
    size_t mask;
} code_set;

static inline size_t
ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static int
code_set_build(code_set *set, PyObject *iterable)
{
    PyObject *items = PySequence_Fast(iterable, "own_codes must be iterable");
    if (items == NULL) {
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    size_t size = table_size_for((size_t)n);
    set->slots = PyMem_RawCalloc(size, sizeof(PyObject *));
    if (set->slots == NULL) {
        Py_DECREF(items);
        PyErr_NoMemory();
        return -1;
    }
    set->mask = size - 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(items, i);
        if (!PyCode_Check(item)) {
            PyErr_Format(PyExc_TypeError, "own_codes: expected code objects, got %.80s",
                         Py_TYPE(item)->tp_name);
            Py_DECREF(items);
            return -1;
        }
        size_t j = ptr_hash(item) & set->mask;
        while (set->slots[j] != NULL && set->slots[j] != item) {
            j = (j + 1) & set->mask;
        }
        if (set->slots[j] == NULL) {
            Py_INCREF(item);
            set->slots[j] = item;
        }
    }
    Py_DECREF(items);
    return 0;
}

static void
code_set_free(code_set *set)
{
    if (set->slots == NULL) {
        return;
    }
    for (size_t i = 0; i <= set->mask; i++) {
        Py_XDECREF(set->slots[i]);
    }
    PyMem_RawFree(set->slots);
    set->slots = NULL;
    set->mask = 0;
}

static inline int
code_set_has(const code_set *set, const PyObject *code)
{
    if (set->slots == NULL || code == NULL) {
        return 0;
    }
    size_t j = ptr_hash(code) & set->mask;
    for (;;) {
        const PyObject *slot = set->slots[j];
        if (slot == NULL) {
            return 0;
        }
        if (slot == code) {
            return 1;
        }
        j = (j + 1) & set->mask;
    }
}

/* ------------------------------------------------------------------------------------- */
/* The decision cache: exact str keys, stored as copies of their canonical code units.  */

typedef struct {
    uint64_t hash;
    Py_ssize_t len;   /* in code units */
    int kind;         /* 1, 2 or 4 bytes per code unit */
    char *data;       /* NULL: empty slot */
} cache_slot;

static cache_slot g_cache[CORE_CACHE_SLOTS];
static size_t g_cache_count;

/* The canonical form of an exact str: CPython stores every ready str in the narrowest kind
 * that holds its widest character, so equal strings have equal (kind, code units). */
static int
str_units(PyObject *key, int *kind, const void **data, Py_ssize_t *len)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(key) < 0) {
        return -1;
    }
#endif
    *kind = (int)PyUnicode_KIND(key);
    *data = PyUnicode_DATA(key);
    *len = PyUnicode_GET_LENGTH(key);
    return 0;
}

static size_t
cache_find(uint64_t h, int kind, const void *data, Py_ssize_t len, int *found)
{
    size_t mask = CORE_CACHE_SLOTS - 1;
    size_t j = (size_t)h & mask;
    size_t nbytes = (size_t)len * (size_t)kind;
    for (;;) {
        cache_slot *slot = &g_cache[j];
        if (slot->data == NULL) {
            *found = 0;
            return j;
        }
        if (slot->hash == h && slot->len == len && slot->kind == kind &&
            memcmp(slot->data, data, nbytes) == 0) {
            *found = 1;
            return j;
        }
        j = (j + 1) & mask;
    }
}

static void
cache_clear_all(void)
{
    for (size_t i = 0; i < CORE_CACHE_SLOTS; i++) {
        if (g_cache[i].data != NULL) {
            PyMem_RawFree(g_cache[i].data);
            g_cache[i].data = NULL;
        }
    }
    g_cache_count = 0;
}

/* ------------------------------------------------------------------------------------- */
/* The open cache: `open` events answered in C, without calling the callback.            */
/*
 * The callback adds an entry after it allowed an `open` of an absolute ASCII path through the
 * decision cache (so the policy said yes to the resolved file, never a machinery exemption).
 * The key is the event's raw arguments (path, mode, flags) and the phase. An entry holds as
 * long as the name still leads to the same file: the sandbox's path-changing events clear the
 * table (open_cache_clear); once a child process exists (open_cache_validate, one way) a hit
 * is re-checked with one stat of the name as given, following its links as the kernel will,
 * against the identity (device, inode) of the file the callback resolved -- or, for a name
 * that does not exist yet, of its directory. A miss just calls the callback: this table can
 * only skip work the callback would do with the same answer.
 */

typedef struct {
    uint64_t hash;
    char *path;        /* NUL-terminated copy; NULL: empty slot */
    Py_ssize_t len;
    char mode[OPEN_MODE_MAX + 1];
    size_t mode_len;   /* strlen(mode), kept: compared at every probe */
    int mode_none;     /* the event's mode was None (os.open) */
    long long flags;
    int phase;
    int identity;      /* 0: none (valid only while not validating), 1: file, 2: directory */
    unsigned long long dev, ino;
} open_slot;

typedef struct {
    const char *path;
    Py_ssize_t len;
    const char *mode;
    Py_ssize_t mode_len;
    int mode_none;
    long long flags;
} open_key;

static open_slot g_open[OPEN_CACHE_SLOTS];
static size_t g_open_count;
static int g_open_validate;
/* Directory verdicts share the table: mode_none DIR_VERDICT, flags 0 (read) or 1 (write), the
 * directory's name as the path. See dir_verdict_allows. */
#define DIR_VERDICT 2
/* The flags of a directory verdict for reading module files (dir_module_verdict_add). */
#define DIR_MODULE_READS 2
static size_t g_dir_count;

/* An exact str's characters when they are all ASCII (one byte each, what the C tables hold):
 * 1 with *units and *len set; 0 for anything else (not an exact str, not ASCII); -1 with an
 * exception where a 3.10/3.11 str could not be readied. Calls no method of `s`. */
static int
ascii_of(PyObject *s, const char **units, Py_ssize_t *len)
{
    if (!PyUnicode_CheckExact(s)) {
        return 0;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0) {
        return -1;
    }
#endif
    if (!PyUnicode_IS_ASCII(s)) {
        return 0;
    }
    *units = (const char *)PyUnicode_DATA(s);
    *len = PyUnicode_GET_LENGTH(s);
    return 1;
}

/* The index of the last "/" of path[1..n-1] (n >= 1), or 0: the folder part's length of an
 * absolute name (its leading "/" alone counts as none). */
static inline size_t
last_slash(const char *path, size_t n)
{
    const char *slash = n > 1 ? memrchr(path + 1, '/', n - 1) : NULL;
    return slash != NULL ? (size_t)(slash - path) : 0;
}

/* open_key_of without its test for a NUL in the name: enough to probe the table (a slot's
 * name never holds one, so a name that does matches none: see core_hook), not to use the
 * name as a C string or to keep it. */
static int open_key_parse(PyObject *args, open_key *key);

/* The key of an `open` event's arguments, or 0 when they are not the plain kind this table
 * holds (no method of any argument is called: exact types only). */
static int
open_key_of(PyObject *args, open_key *key)
{
    return open_key_parse(args, key) && memchr(key->path, 0, (size_t)key->len) == NULL;
}

static int
open_key_parse(PyObject *args, open_key *key)
{
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) != 3) {
        return 0;
    }
    PyObject *path = PyTuple_GET_ITEM(args, 0);
    PyObject *mode = PyTuple_GET_ITEM(args, 1);
    PyObject *flags = PyTuple_GET_ITEM(args, 2);
    int plain = PyLong_CheckExact(flags) ? ascii_of(path, &key->path, &key->len) : 0;
    if (plain != 1) {
        if (plain < 0) {
            PyErr_Clear();
        }
        return 0;
    }
    if (key->len < 1 || key->len > OPEN_PATH_MAX || key->path[0] != '/') {
        return 0;
    }
    if (mode == Py_None) {
        key->mode_none = 1;
        key->mode = "";
        key->mode_len = 0;
    }
    else {
        int plain_mode = ascii_of(mode, &key->mode, &key->mode_len);
        if (plain_mode != 1 || key->mode_len > OPEN_MODE_MAX) {
            if (plain_mode < 0) {
                PyErr_Clear();
            }
            return 0;
        }
        key->mode_none = 0;
    }
    int overflow = 0;
    key->flags = PyLong_AsLongLongAndOverflow(flags, &overflow);
    if (overflow || (key->flags == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

static uint64_t
open_hash(const open_key *key, int phase)
{
    uint64_t seed = mix64((uint64_t)key->flags ^ ((uint64_t)phase << 1) ^ (uint64_t)key->mode_none);
    seed = bytes_hash(key->mode, (size_t)key->mode_len, seed);
    return bytes_hash(key->path, (size_t)key->len, seed);
}

static size_t
open_find(const open_key *key, int phase, uint64_t h, int *found)
{
    size_t mask = OPEN_CACHE_SLOTS - 1;
    size_t j = (size_t)h & mask;
    for (;;) {
        open_slot *slot = &g_open[j];
        if (slot->path == NULL) {
            *found = 0;
            return j;
        }
        if (slot->hash == h && slot->len == key->len && slot->phase == phase &&
            slot->flags == key->flags && slot->mode_none == key->mode_none &&
            slot->mode_len == (size_t)key->mode_len &&
            memcmp(slot->mode, key->mode, (size_t)key->mode_len) == 0 &&
            memcmp(slot->path, key->path, (size_t)key->len) == 0) {
            *found = 1;
            return j;
        }
        j = (j + 1) & mask;
    }
}

/* ------------------------------------------------------------------------------------- */
/* Pattern verdicts: the names of a folder's sub-folders that a rule's glob covers.        */
/*
 * A directory verdict holds for one folder; functions that make a new folder per call
 * (/tmp/job-<uuid>) would send the first name in each to the callback. A pattern verdict says,
 * for a folder P reached with no link on the way (identity as a directory verdict's):
 *   depth 0: every name P/x, x matching `glob`, may be accessed so (read, write or list) --
 *            a rule "P/<glob>" (or "P/<glob>/" + "**", or a prefix above P), the ceiling reaching
 *            nothing below P (see Policy.name_patterns);
 *   depth 1: every name directly in a folder P/x, x matching `glob` and a directory (not a
 *            link, one lstat), may be opened so -- a rule "P/<glob>/" + "*" or "**", or a prefix;
 *            used as a directory verdict for P/x, which is then kept in the open table.
 * A glob is one name's: literal characters, "*" (any run of characters) and "?" (any one),
 * as the files rules' "[^/]*" and "[^/]" in a name with no "/" (pattern_verdict_add refuses
 * "**" and "/"). Names "", ".", ".." and names with a newline are never covered.
 */
#define PATTERN_LIMIT 64
#define ACTION_LIST 3 /* (0 read, 1 write, as the open table's directory verdicts) */

typedef struct {
    char *dir; /* NUL-terminated; "/" for the root */
    size_t dir_len;
    char *glob;
    size_t glob_len;
    int action, depth, phase;
    int identity; /* as an open slot's: 0 none (valid while not validating), 1 directory */
    unsigned long long dev, ino;
} pattern_verdict;

static pattern_verdict g_patterns[PATTERN_LIMIT];
static size_t g_pattern_count;

static void
pattern_clear_all(void)
{
    for (size_t i = 0; i < g_pattern_count; i++) {
        PyMem_RawFree(g_patterns[i].dir);
        PyMem_RawFree(g_patterns[i].glob);
    }
    g_pattern_count = 0;
}

/* Drop the patterns of `name` and of every folder below it (as open_forget). */
static void
pattern_forget(const char *name, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < g_pattern_count; i++) {
        pattern_verdict *p = &g_patterns[i];
        if (p->dir_len >= n && memcmp(p->dir, name, n) == 0 &&
            (p->dir_len == n || p->dir[n] == '/' || n == 1)) {
            PyMem_RawFree(p->dir);
            PyMem_RawFree(p->glob);
            continue;
        }
        g_patterns[kept++] = *p;
    }
    g_pattern_count = kept;
}

/* Whether `s` (n characters, no "/") matches the one-name glob `g`. */
static int
glob_name_matches(const char *g, size_t gn, const char *s, size_t n)
{
    size_t gi = 0, si = 0, star = (size_t)-1, mark = 0;
    while (si < n) {
        if (gi < gn && (g[gi] == '?' || (g[gi] != '*' && g[gi] == s[si]))) {
            gi++;
            si++;
        }
        else if (gi < gn && g[gi] == '*') {
            if (gi + 1 == gn) {
                return 1; /* a last "*" takes the rest, whatever it is ("job-*": a uuid's 36) */
            }
            star = gi++;
            mark = si;
        }
        else if (star != (size_t)-1) {
            gi = star + 1;
            si = ++mark;
        }
        else {
            return 0;
        }
    }
    while (gi < gn && g[gi] == '*') {
        gi++;
    }
    return gi == gn;
}

/* A kept answer's identity must be the identity of the very file its decision was about.
 * Taken with lstat/stat of the name, it is the identity of whatever the name leads to at that
 * moment: a child (or thread) that swaps a folder on the way for a link between the decision
 * and the stat gets another file's identity kept with the decision -- and every later check
 * (one stat of the name, through the link) then confirms the stale answer for good. So, once
 * answers are validated, the identity is read from a lookup that cannot pass through a link:
 * the directory opened O_PATH with no symbolic link on the way (openat2's
 * RESOLVE_NO_SYMLINKS, else one openat(O_NOFOLLOW) per component), then the name looked at in
 * that directory. A link anywhere on the way fails the lookup and nothing is kept. */
#ifndef SYS_openat2
#define SYS_openat2 437 /* one number on x86_64 and aarch64 (the generic table), Linux 5.6+ */
#endif
#define PLAIN_RESOLVE_NO_SYMLINKS 0x04ULL
typedef struct {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
} plain_open_how;
static int g_no_openat2; /* the kernel (before 5.6) or a filter refused openat2: walk instead */

/* `path` opened with `flags` and no symbolic link anywhere on the way (openat2's
 * RESOLVE_NO_SYMLINKS): a descriptor, or -1 with errno (ELOOP: a link on the way). A kernel
 * or filter that refuses openat2 itself sets g_no_openat2 for good (a flag that only goes to
 * 1: no lock needed), and the callers take their other road from then on. No object touched:
 * callable with the GIL released. */
static int
open_no_links_mode(const char *path, int flags, int mode)
{
    plain_open_how how = {(uint64_t)flags, (flags & O_CREAT) ? (uint64_t)mode : 0,
                          PLAIN_RESOLVE_NO_SYMLINKS};
    long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM || errno == EINVAL || errno == E2BIG)) {
        g_no_openat2 = 1;
    }
    return (int)fd;
}

static int
open_no_links(const char *path, int flags)
{
    return open_no_links_mode(path, flags, 0);
}

/* Whether path[0, n) (absolute: it starts with "/") has no empty, "." or ".." component: walked
 * with no link on the way, it is its own real path. */
static int
plain_components(const char *path, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && path[j] != '/') {
            j++;
        }
        size_t len = j - i - 1;
        if (len == 0 || (len == 1 && path[i + 1] == '.') ||
            (len == 2 && path[i + 1] == '.' && path[i + 2] == '.')) {
            return 0;
        }
        i = j;
    }
    return 1;
}

/* The directory of `path` (absolute; its last "/" at `cut`) opened O_PATH through directories
 * only -- no link, ".", ".." or empty component on the way: the name must be its own real
 * path. -1 when it is not (or on any error). */
static int
plain_parent_open(const char *path, size_t cut)
{
    char dir[OPEN_PATH_MAX + 1];
    if (path[0] != '/' || cut > OPEN_PATH_MAX || !plain_components(path, cut)) {
        return -1;
    }
    if (cut == 0) {
        dir[0] = '/';
        dir[1] = '\0';
    }
    else {
        memcpy(dir, path, cut);
        dir[cut] = '\0';
    }
    if (!g_no_openat2) {
        int fd = open_no_links(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0 || !g_no_openat2) {
            return fd; /* (-1: ELOOP, a link on the way; ENOENT, ENOTDIR, EACCES...) */
        }
    }
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; fd >= 0 && i < cut;) {
        size_t j = i + 1;
        while (j < cut && path[j] != '/') {
            j++;
        }
        dir[j] = '\0';
        int next = openat(fd, dir + i + 1, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = next;
        i = j;
    }
    return fd;
}

/* lstat of the name `path` (absolute, NUL-terminated, n characters) looked up in its directory
 * reached through directories only (plain_parent_open); *dir: that directory's fstat. 0: the
 * name is there (*st: the name itself, not followed); 1: it is not (ENOENT; *st untouched);
 * -1: neither can be said (a link or a non-directory on the way, an odd name, an error). */
static int
plain_lstat(const char *path, size_t n, struct stat *st, struct stat *dir)
{
    const char *slash = memrchr(path, '/', n);
    size_t cut = slash != NULL ? (size_t)(slash - path) + 1 : 0; /* (just after the last "/") */
    if (cut == 0 || cut == n || (n - cut == 1 && path[cut] == '.') ||
        (n - cut == 2 && path[cut] == '.' && path[cut + 1] == '.')) {
        return -1;
    }
    int fd = plain_parent_open(path, cut - 1);
    if (fd < 0) {
        return -1;
    }
    int result = -1;
    if (fstat(fd, dir) == 0) {
        if (fstatat(fd, path + cut, st, AT_SYMLINK_NOFOLLOW) == 0) {
            result = 0;
        }
        else if (errno == ENOENT) {
            result = 1;
        }
    }
    close(fd);
    return result;
}

/* The pattern verdict of `depth` for `action` in `phase` that covers the name `x` (x_len) in
 * the folder `dir` (dir_len; "/" for the root), still valid; NULL if none. */
static const pattern_verdict *
pattern_find(const char *dir, size_t dir_len, const char *x, size_t x_len, int action,
             int depth, int phase)
{
    if (x_len == 0 || (x_len == 1 && x[0] == '.') || (x_len == 2 && x[0] == '.' && x[1] == '.') ||
        memchr(x, '\n', x_len) != NULL || memchr(x, '/', x_len) != NULL) {
        return NULL;
    }
    for (size_t i = 0; i < g_pattern_count; i++) {
        const pattern_verdict *p = &g_patterns[i];
        if (p->action != action || p->depth != depth || p->phase != phase ||
            p->dir_len != dir_len || memcmp(p->dir, dir, dir_len) != 0 ||
            !glob_name_matches(p->glob, p->glob_len, x, x_len)) {
            continue;
        }
        if (g_open_validate) {
            struct stat st;
            if (p->identity != 1 || stat(p->dir, &st) != 0 ||
                (unsigned long long)st.st_dev != p->dev || (unsigned long long)st.st_ino != p->ino) {
                continue;
            }
        }
        return p;
    }
    return NULL;
}

/* A depth-0 pattern verdict for the name `place` (n characters, absolute, plain; its last "/"
 * at `cut`). */
static const pattern_verdict *
pattern_for_name(const char *place, size_t cut, size_t n, int action, int phase)
{
    if (g_pattern_count == 0) {
        return NULL;
    }
    return pattern_find(cut > 0 ? place : "/", cut > 0 ? cut : 1, place + cut + 1, n - cut - 1,
                        action, 0, phase);
}

static int open_remember(const open_key *key, int phase, int kind, unsigned long long dev,
                         unsigned long long ino);
static int open_remember_hashed(const open_key *key, int phase, uint64_t h, int kind,
                                unsigned long long dev, unsigned long long ino);
static int other_in_flight(void);
static int memo_lstat(const char *path, size_t n, struct stat *st);
static int sqlite_own_name(const char *path, size_t n);

/* The directory verdict a depth-1 pattern gives the folder of `dir_key` (its action in
 * dir_key->flags): the folder must be a directory now (lstat: not a link); the verdict is
 * kept in the open table with that identity, like one the callback added. NULL: none. */
static const open_slot *
pattern_folder(open_key *dir_key, int phase)
{
    size_t len = (size_t)dir_key->len;
    if (g_pattern_count == 0 || len < 2 || len > OPEN_PATH_MAX || other_in_flight()) {
        return NULL; /* (another thread's change in flight: nothing taken that would be kept) */
    }
    size_t cut = last_slash(dir_key->path, len);
    const pattern_verdict *p =
        pattern_find(cut > 0 ? dir_key->path : "/", cut > 0 ? cut : 1, dir_key->path + cut + 1,
                     len - cut - 1, (int)dir_key->flags, 1, phase);
    if (p == NULL) {
        return NULL;
    }
    char folder[OPEN_PATH_MAX + 1];
    memcpy(folder, dir_key->path, len);
    folder[len] = '\0';
    struct stat st;
    if (g_open_validate) {
        /* the folder looked at inside the pattern's own folder, no link on the way (the
         * identity kept is the folder's the verdict is about: see plain_lstat) */
        struct stat parent;
        if (plain_lstat(folder, len, &st, &parent) != 0 || !S_ISDIR(st.st_mode) ||
            p->identity != 1 || (unsigned long long)parent.st_dev != p->dev ||
            (unsigned long long)parent.st_ino != p->ino) {
            return NULL;
        }
    }
    else if (memo_lstat(folder, len, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return NULL;
    }
    if (open_remember(dir_key, phase, 1, (unsigned long long)st.st_dev,
                      (unsigned long long)st.st_ino) < 0) {
        return NULL; /* out of memory: the callback decides */
    }
    int found;
    size_t j = open_find(dir_key, phase, open_hash(dir_key, phase), &found);
    return found ? &g_open[j] : NULL;
}

/* The names of directory descriptors (what /proc/self/fd/N reads, ~3 us a readlink), kept
 * for the descriptor's directory (its fstat identity): a descriptor that is closed and
 * reopened elsewhere has another identity. A kept name is dropped with the open table's
 * entries (open_forget of it or a name above it: a rename or removal the sandbox saw, and
 * open_clear_all); a rename the sandbox does not see (a child's) leaves it stale, which the
 * users of a name read this way check: the directory now at the name must be the
 * descriptor's (change_allowed's identity check once validating, list_answered's lstat). */
#define FD_NAMES 16
typedef struct {
    int fd;
    unsigned long long dev, ino;
    char *path; /* NUL-terminated; NULL: empty */
    size_t len;
} fd_name;
static fd_name g_fd_names[FD_NAMES];
static size_t g_fd_name_next;

static void
fd_names_forget(const char *name, size_t n)
{
    for (size_t i = 0; i < FD_NAMES; i++) {
        fd_name *e = &g_fd_names[i];
        if (e->path != NULL &&
            (name == NULL || (e->len >= n && memcmp(e->path, name, n) == 0 &&
                              (e->len == n || e->path[n] == '/' || n == 1)))) {
            PyMem_RawFree(e->path);
            e->path = NULL;
        }
    }
}

/* What the core's own lstats of names found, kept for the next decisions about the same name
 * (a copy's event and then its opens, a temp file's event and then its open, a listing, the
 * tree removal and its open of the folder: each would look the name up again, 1-3 us on
 * tmpfs). An answer is kept exactly as long as an answer the open table keeps from it: while
 * no child has run (answers are not validated) and no change the core sees touches the name
 * (open_forget drops the answers at and below a changed name, open_clear_all every one), and
 * never while another thread has a change in flight. What may still change a name unseen is
 * what the table trusts already: a regular file made by an open with O_CREAT (audited as the
 * open) or by SQLite; os.mkfifo and os.mknod raise events (the core seals them), and a child
 * turns validation on. Never a name SQLite makes and removes itself (sqlite_own_name: once
 * removed, anything may be made there unseen -- the table keeps no answer for one either).
 * Names of up to LSTAT_MEMO_PATH - 1 characters; errors other than ENOENT are not kept. */
#define LSTAT_MEMO_SLOTS 16
#define LSTAT_MEMO_PATH 256
typedef struct {
    size_t len; /* 0: empty */
    int missing;
    struct stat st;
    char path[LSTAT_MEMO_PATH];
} lstat_memo;
static lstat_memo g_lstat_memo[LSTAT_MEMO_SLOTS];
static size_t g_lstat_memo_next;

/* lstat(path) (NUL-terminated, n characters), answered from what the core found last when it
 * may be (above). */
static int
memo_lstat(const char *path, size_t n, struct stat *st)
{
    int usable = !g_open_validate && n > 0 && n < LSTAT_MEMO_PATH && !other_in_flight() &&
                 !sqlite_own_name(path, n);
    if (usable) {
        for (size_t i = 0; i < LSTAT_MEMO_SLOTS; i++) {
            const lstat_memo *e = &g_lstat_memo[i];
            if (e->len == n && memcmp(e->path, path, n) == 0) {
                if (e->missing) {
                    errno = ENOENT;
                    return -1;
                }
                *st = e->st;
                return 0;
            }
        }
    }
    int found = lstat(path, st) == 0;
    if (usable && (found || errno == ENOENT)) {
        int saved = errno;
        lstat_memo *e = &g_lstat_memo[g_lstat_memo_next];
        g_lstat_memo_next = (g_lstat_memo_next + 1) % LSTAT_MEMO_SLOTS;
        memcpy(e->path, path, n);
        e->path[n] = '\0';
        e->len = n;
        e->missing = !found;
        if (found) {
            e->st = *st;
        }
        errno = saved;
    }
    return found ? 0 : -1;
}

/* Whether the core's last lstat of `path` (NUL-terminated, n characters), kept, found nothing
 * there: a hint only (SQLite's open of a database the sqlite3.connect event just looked up is
 * then tried as a new file first), never a decision. */
static int
memo_lstat_missing(const char *path, size_t n)
{
    if (g_open_validate || n == 0 || n >= LSTAT_MEMO_PATH) {
        return 0;
    }
    for (size_t i = 0; i < LSTAT_MEMO_SLOTS; i++) {
        const lstat_memo *e = &g_lstat_memo[i];
        if (e->len == n && memcmp(e->path, path, n) == 0) {
            return e->missing;
        }
    }
    return 0;
}

/* Drop the kept lstats of `name` and below it (every one: NULL), as open_forget drops the
 * table's entries. */
static void
memo_lstat_forget(const char *name, size_t n)
{
    for (size_t i = 0; i < LSTAT_MEMO_SLOTS; i++) {
        lstat_memo *e = &g_lstat_memo[i];
        if (e->len != 0 &&
            (name == NULL || (e->len >= n && memcmp(e->path, name, n) == 0 &&
                              (e->len == n || e->path[n] == '/' || n == 1)))) {
            e->len = 0;
        }
    }
}

/* Directories the core found by name (a name it let be opened, its lstat a directory), by
 * identity: a descriptor open on one of them (rmtree opens the folder, then lists and
 * removes through the descriptor) is named by that name when an lstat of the name finds the
 * descriptor's directory there now (a directory has one name), instead of a readlink in /proc
 * (3-6 us). Dropped as the descriptor names are; not used once answers are validated. */
#define DIRS_SEEN 8
static fd_name g_dirs_seen[DIRS_SEEN]; /* (fd unused) */
static size_t g_dir_seen_next;

static void
dirs_seen_add(const char *path, size_t n, const struct stat *st)
{
    for (size_t i = 0; i < DIRS_SEEN; i++) {
        const fd_name *seen = &g_dirs_seen[i];
        if (seen->path != NULL && seen->dev == (unsigned long long)st->st_dev &&
            seen->ino == (unsigned long long)st->st_ino && seen->len == n &&
            memcmp(seen->path, path, n) == 0) {
            return; /* (kept already) */
        }
    }
    fd_name *e = &g_dirs_seen[g_dir_seen_next];
    char *copy = PyMem_RawMalloc(n + 1);
    if (copy == NULL) {
        return; /* (not kept: the readlink answers) */
    }
    memcpy(copy, path, n);
    copy[n] = '\0';
    PyMem_RawFree(e->path);
    e->dev = (unsigned long long)st->st_dev;
    e->ino = (unsigned long long)st->st_ino;
    e->path = copy;
    e->len = n;
    g_dir_seen_next = (g_dir_seen_next + 1) % DIRS_SEEN;
}

static void
dirs_seen_forget(const char *name, size_t n)
{
    for (size_t i = 0; i < DIRS_SEEN; i++) {
        fd_name *e = &g_dirs_seen[i];
        if (e->path != NULL &&
            (name == NULL || (e->len >= n && memcmp(e->path, name, n) == 0 &&
                              (e->len == n || e->path[n] == '/' || n == 1)))) {
            PyMem_RawFree(e->path);
            e->path = NULL;
        }
    }
}

/* The name of a directory the core found whose identity is `held`'s, if the name leads to
 * that directory now (lstat): written to `place` (NUL-terminated). */
static int
dirs_seen_name(const struct stat *held, char *place, size_t *n_out)
{
    for (size_t i = 0; i < DIRS_SEEN; i++) {
        const fd_name *e = &g_dirs_seen[i];
        if (e->path == NULL || e->dev != (unsigned long long)held->st_dev ||
            e->ino != (unsigned long long)held->st_ino || e->len >= OPEN_PATH_MAX) {
            continue;
        }
        struct stat now;
        if (lstat(e->path, &now) != 0 || !S_ISDIR(now.st_mode) || now.st_dev != held->st_dev ||
            now.st_ino != held->st_ino) {
            continue; /* (stale: another directory has its identity now) */
        }
        memcpy(place, e->path, e->len + 1);
        *n_out = e->len;
        return 1;
    }
    return 0;
}

/* "/proc/self/fd/<fd>" written to `link` (32 bytes at least), NUL-terminated: without
 * snprintf, whose machinery costs ~700 instructions a call (SQLite's opens and the pins of
 * descriptors build the name several times a handler call). */
static void
proc_fd_link(char *link, int fd)
{
    static const char head[] = "/proc/self/fd/";
    memcpy(link, head, sizeof head - 1);
    size_t at = sizeof head - 1;
    long long value = fd;
    if (value < 0) {
        link[at++] = '-';
        value = -value;
    }
    char digits[20];
    size_t count = 0;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (count > 0) {
        link[at++] = digits[--count];
    }
    link[at] = '\0';
}

/* Keep `place` (n characters, NUL-terminated) as the name of the directory `fd` is open on,
 * `held` its fstat: 1 when it is a name dir_fd_name gives (an absolute ASCII name without a
 * newline, not a removed folder's " (deleted)"), kept or not (out of memory); else 0. */
static int
fd_name_keep(int fd, const struct stat *held, const char *place, size_t n)
{
    static const char deleted[] = " (deleted)";
    if (n >= sizeof(deleted) - 1 &&
        memcmp(place + n - (sizeof(deleted) - 1), deleted, sizeof(deleted) - 1) == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)place[i] >= 0x80 || place[i] == '\n' || place[i] == '\0') {
            return 0;
        }
    }
    fd_name *e = &g_fd_names[g_fd_name_next];
    char *copy = PyMem_RawMalloc(n + 1);
    if (copy != NULL) {
        PyMem_RawFree(e->path);
        memcpy(copy, place, n);
        copy[n] = '\0';
        e->fd = fd;
        e->dev = (unsigned long long)held->st_dev;
        e->ino = (unsigned long long)held->st_ino;
        e->path = copy;
        e->len = n;
        g_fd_name_next = (g_fd_name_next + 1) % FD_NAMES;
    }
    return 1;
}

/* The name dir_fd_name kept for descriptor `fd` on the directory `held` (its fstat), written
 * to `place` (NUL-terminated): 1 when one is kept. */
static int
fd_names_find(int fd, const struct stat *held, char *place, size_t *n_out)
{
    for (size_t i = 0; i < FD_NAMES; i++) {
        const fd_name *e = &g_fd_names[i];
        if (e->path != NULL && e->fd == fd && e->dev == (unsigned long long)held->st_dev &&
            e->ino == (unsigned long long)held->st_ino) {
            memcpy(place, e->path, e->len + 1);
            *n_out = e->len;
            return 1;
        }
    }
    return 0;
}

/* A name kept for the directory `fd` is open on (`held` its fstat): dir_fd_name's for this
 * descriptor, else a name the core found the directory at (dirs_seen). Written to `place`
 * (NUL-terminated); 1 when one is kept. Where it leads now is the caller's to check. */
static int
fd_name_kept(int fd, const struct stat *held, char *place, size_t *n_out)
{
    if (fd_names_find(fd, held, place, n_out)) {
        return 1;
    }
    for (size_t i = 0; i < DIRS_SEEN; i++) {
        const fd_name *e = &g_dirs_seen[i];
        if (e->path != NULL && e->dev == (unsigned long long)held->st_dev &&
            e->ino == (unsigned long long)held->st_ino && e->len < OPEN_PATH_MAX) {
            memcpy(place, e->path, e->len + 1);
            *n_out = e->len;
            return 1;
        }
    }
    return 0;
}

/* The name of the directory `fd` is open on, written to `place` (at most OPEN_PATH_MAX - 1
 * characters, NUL-terminated) with `held` its fstat: 1 for a directory /proc names by an
 * absolute ASCII name without a newline (not a removed one), else 0. `looked_now` (may be
 * NULL): set to 1 when the name was found by dirs_seen_name, whose lstat of it, made here
 * in this very call, found a directory (not a link) with `held`'s identity; else 0. */
static int
dir_fd_name(int fd, char *place, size_t *n_out, struct stat *held, int *looked_now)
{
    if (looked_now != NULL) {
        *looked_now = 0;
    }
    if (fstat(fd, held) != 0 || !S_ISDIR(held->st_mode)) {
        return 0;
    }
    if (fd_names_find(fd, held, place, n_out)) {
        return 1;
    }
    size_t n;
    int seen = 0;
    if (g_open_validate || !(seen = dirs_seen_name(held, place, &n))) {
        char link[32];
        proc_fd_link(link, fd);
        ssize_t got = readlink(link, place, OPEN_PATH_MAX);
        if (got <= 0 || got >= OPEN_PATH_MAX || place[0] != '/') {
            return 0;
        }
        n = (size_t)got;
        place[n] = '\0';
    }
    if (!fd_name_keep(fd, held, place, n)) {
        return 0;
    }
    *n_out = n;
    if (looked_now != NULL) {
        *looked_now = seen;
    }
    return 1;
}

/* The slots in use, so that a clear (at every audited path change) costs the entries held,
 * not the table's size. */
static uint32_t g_open_used[OPEN_CACHE_LIMIT];
/* Each slot in use: where it stands in g_open_used (open_delete_at). */
static uint32_t g_open_where[OPEN_CACHE_SLOTS];

/* Audited changes of names so far (each forget and clear of the open table counts one): a
 * resolution that saw the count change while it walked keeps nothing (changes()). */
/* Thread-local state in the initial-exec model: one instruction to reach, where the default
 * model for a shared object calls __tls_get_addr at every access (~0.3 us a decision, most of
 * it on the hot path of every event). A few bytes of the static TLS block glibc keeps spare
 * for objects loaded later. */
#define CORE_TLS _Thread_local __attribute__((tls_model("initial-exec")))

/* Depth of callback calls on this thread (0: not inside). Never a Python object. */
static CORE_TLS int t_depth;
/* A parse to a syntax tree inside the callback (the shape decoder's): 1 while its own compile
 * event is awaited, 2 after -- when any event this thread raises is of code that ran inside
 * the parse (a setter of the function's on the unsealed Tuple, called by the parser with no
 * frame: its compile passed as the decoder's own site; red team 117). See compiler_sealed. */
static CORE_TLS int t_shape_parse;
/* An SQLite ATTACH allowed and not yet run on this thread; the sandbox's authorizer running
 * (sqlite_authorize, with the SQLite section). */
static CORE_TLS int t_attach_armed;
static CORE_TLS int t_in_sqlite_authorize;
/* How many threads are armed now (attach_arm): another thread's change of a name is refused
 * meanwhile (core_hook). */
static int g_attach_windows;
static void attach_arm(int on); /* (with the frame guard, below) */

/* The events that change what a name leads to (a link made, a name moved or removed, a
 * folder made or removed, the working directory changed, a node made): what another thread
 * would need to make an armed ATTACH open something else. */
static int
changes_names(const char *event)
{
    static const char *const names[] = {"os.rename", "os.remove", "os.rmdir", "os.symlink",
                                        "os.link",   "os.mkdir",  "os.chdir", "os.mkfifo",
                                        "os.mknod",  "shutil.rmtree"};
    if (event[0] != 'o' && event[0] != 's') {
        return 0;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(event, names[i]) == 0) {
            return 1;
        }
    }
    return 0;
}
static unsigned long long g_changes;
/* This thread's audited changes of names made outside any decision (its forgets and clears
 * of the open table, the ends of its changes in flight), and, when the decision running on
 * it started, the count of every other change (g_changes less those): see
 * decision_names_hold(). */
static CORE_TLS unsigned long long t_own_changes;
static CORE_TLS unsigned long long t_decision_changes;
/* Set while the sandbox's own code calls open_cache_forget/clear: inside a decision, a forget
 * the decision makes for the event it decides is its own (made before its keeps, about a
 * change made after it); any other change there counts against it (decision_names_hold). */
static CORE_TLS int t_forget_by_own_code;

/* The module files io.open_code reads for the import system (core_open_code, below): the name
 * of the open event it raises on this thread, until core_hook takes it (t_open_code_path: that
 * very object, borrowed), and where an answer to that event made on a promise is told (the
 * promise that the file is then opened with no link on the way and found regular: the lstat
 * the module-read answers make is then the open's own check) -- a variable of that call's own,
 * so a call made from a later hook while the event runs cannot change what this one was told.
 * And the last .pyc it read, with no link on the way under a plain name (its own real name):
 * what the import system unmarshals from it needs no second read (module_bytecode_answered). */
static CORE_TLS PyObject *t_open_code_path;
static CORE_TLS int *t_promise_slot;
static CORE_TLS char *t_read_path; /* (PyMem_RawMalloc'd, NUL-terminated) */
static CORE_TLS size_t t_read_path_len;
static CORE_TLS PyObject *t_read_data; /* (strong: the file's bytes, as the reader got them) */

/* Threads with a change in flight: an audited change fires before it is made, so from its
 * event until that thread's next audit event (by then the call returned) a name may change
 * under another thread's walk. While any other thread has one, resolutions keep nothing
 * (changes_elsewhere()). Every such thread is recorded, however many: a bounded table that
 * forgot the ones past its bound would, once the recorded ones cleared, say "none in flight"
 * while a forgotten one's change still was. The table grows as threads need it; if it cannot
 * grow, every thread counts as one with a change in flight from then on (keep nothing: the
 * safe way, and never undone). */
#define IN_FLIGHT_FIRST_SLOTS 16
static unsigned long *g_in_flight;
static size_t g_in_flight_count;
static size_t g_in_flight_room;
static int g_in_flight_overflow;

static void
in_flight_mark(void)
{
    unsigned long me = PyThread_get_thread_ident();
    for (size_t i = 0; i < g_in_flight_count; i++) {
        if (g_in_flight[i] == me) {
            return;
        }
    }
    if (g_in_flight_count == g_in_flight_room) {
        size_t room = g_in_flight_room ? g_in_flight_room * 2 : IN_FLIGHT_FIRST_SLOTS;
        unsigned long *grown = room > ((size_t)-1) / sizeof(unsigned long)
                                   ? NULL
                                   : PyMem_RawRealloc(g_in_flight, room * sizeof(unsigned long));
        if (grown == NULL) {
            g_in_flight_overflow = 1; /* (sticky: see above) */
            return;
        }
        g_in_flight = grown;
        g_in_flight_room = room;
    }
    g_in_flight[g_in_flight_count++] = me;
}

static void
in_flight_clear(void)
{
    if (g_in_flight_count == 0) {
        return;
    }
    unsigned long me = PyThread_get_thread_ident();
    for (size_t i = 0; i < g_in_flight_count; i++) {
        if (g_in_flight[i] == me) {
            g_in_flight[i] = g_in_flight[--g_in_flight_count];
            /* Its change was made meanwhile: that counts as a change too. A decision another
             * thread started while this one was in flight, and that ends after, walked names
             * before the change: decision_names_hold() sees the count move. */
            g_changes++;
            t_own_changes++;
            break;
        }
    }
}

/* Whether another thread has a change in flight (see above): the core keeps no answer then. */
static int
other_in_flight(void)
{
    if (g_in_flight_overflow) {
        return 1;
    }
    if (g_in_flight_count == 0) {
        return 0;
    }
    unsigned long me = PyThread_get_thread_ident();
    for (size_t i = 0; i < g_in_flight_count; i++) {
        if (g_in_flight[i] != me) {
            return 1;
        }
    }
    return 0;
}

static void
open_clear_all(void)
{
    g_changes++;
    t_own_changes += (t_depth == 0 || t_forget_by_own_code); /* (see decision_names_hold) */
    in_flight_mark();
    for (size_t i = 0; i < g_open_count; i++) {
        open_slot *slot = &g_open[g_open_used[i]];
        PyMem_RawFree(slot->path);
        slot->path = NULL;
    }
    g_open_count = 0;
    g_dir_count = 0;
    pattern_clear_all();
    fd_names_forget(NULL, 0);
    dirs_seen_forget(NULL, 0);
    memo_lstat_forget(NULL, 0);
}

/* Whether an entry's name is `name` or below it (`name` + "/" ...). */
static int
open_slot_below(const open_slot *slot, const char *name, size_t n)
{
    if ((size_t)slot->len < n || memcmp(slot->path, name, n) != 0) {
        return 0;
    }
    return (size_t)slot->len == n || slot->path[n] == '/';
}

/* Take the entry in slot `i` out of the table: its place in the list of slots in use goes to
 * the list's last, and the entries after it in its probe run move back (backward-shift
 * deletion: linear probing without tombstones stays exact, every entry reachable from its
 * home slot with no empty slot on the way). O(the run), not O(the table). */
static void
open_delete_at(size_t i)
{
    size_t mask = OPEN_CACHE_SLOTS - 1;
    open_slot *gone = &g_open[i];
    if (gone->mode_none == DIR_VERDICT) {
        g_dir_count--;
    }
    PyMem_RawFree(gone->path);
    gone->path = NULL;
    uint32_t at = g_open_where[i];
    uint32_t last = g_open_used[--g_open_count];
    g_open_used[at] = last;
    g_open_where[last] = at;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        open_slot *next = &g_open[j];
        if (next->path == NULL) {
            return;
        }
        size_t home = (size_t)next->hash & mask;
        /* It stays when its home lies cyclically in (i, j]: the empty slot i is not on the way
         * from its home to it. */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j)) {
            continue;
        }
        g_open[i] = *next;
        g_open_where[i] = g_open_where[j];
        g_open_used[g_open_where[i]] = (uint32_t)i;
        next->path = NULL;
        i = j;
    }
}

/* Drop the entries for `name` and every name below it: the sandbox's path-changing events
 * call this for each name they change. The table keeps only names reached with no link on the
 * way, whose answers depend on the name and its ancestors only. */
static void
open_forget(const char *name, size_t n)
{
    g_changes++;
    t_own_changes += (t_depth == 0 || t_forget_by_own_code); /* (see decision_names_hold) */
    in_flight_mark();
    pattern_forget(name, n);
    fd_names_forget(name, n);
    dirs_seen_forget(name, n);
    memo_lstat_forget(name, n);
    size_t i = 0;
    while (i < g_open_count) {
        size_t slot = g_open_used[i];
        if (open_slot_below(&g_open[slot], name, n)) {
            open_delete_at(slot); /* (the list's last now stands at i: looked at next) */
        }
        else {
            i++;
        }
    }
}

/* Whether the name still leads where the entry's decision was made (one stat; two when the
 * name does not exist). The GIL is held: no other thread changes the table meanwhile. */
/* Whether a name is in the system's /dev, where an open trusts the device node it finds (not
 * /dev/shm or /dev/mqueue, which anyone may write): decoders/files._system_device. */
static int
system_device_name(const char *path)
{
    return strncmp(path, "/dev/", 5) == 0 && strncmp(path, "/dev/shm/", 9) != 0 &&
           strncmp(path, "/dev/mqueue/", 12) != 0;
}

static int
open_still_valid(const open_slot *slot)
{
    if (!g_open_validate) {
        return 1;
    }
    if (slot->identity == 0) {
        return 0;
    }
    struct stat st;
    if (stat(slot->path, &st) == 0) {
        /* (and no device node now where a file was kept: its inode number may be the one a
         * file removed with no audit event -- by SQLite, say -- left free; outside the
         * system's /dev the callback refuses to open one: decoders/files.special_files) */
        return slot->identity == 1 && (unsigned long long)st.st_dev == slot->dev &&
               (unsigned long long)st.st_ino == slot->ino &&
               ((!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) ||
                system_device_name(slot->path));
    }
    if (slot->identity != 2 || lstat(slot->path, &st) == 0) {
        return 0; /* it existed, or the name is there now (a dangling link: O_CREAT follows) */
    }
    char parent[OPEN_PATH_MAX + 1];
    const char *cut = strrchr(slot->path, '/');
    size_t n = (size_t)(cut - slot->path);
    if (n == 0) {
        parent[0] = '/';
        n = 1;
    }
    else {
        memcpy(parent, slot->path, n);
    }
    parent[n] = '\0';
    return stat(parent, &st) == 0 && (unsigned long long)st.st_dev == slot->dev &&
           (unsigned long long)st.st_ino == slot->ino;
}

/* What an `open` does for the sandbox (the files decoder's open_actions, on exact values): it
 * reads unless write-only, and writes with a write access mode or when it creates, truncates,
 * appends or makes an O_TMPFILE; the mode's letters add to that ("+" both, "w"/"a"/"x" a
 * write, "r" a read). */
static void
open_actions(const open_key *key, int *reads, int *writes)
{
    long long changing = O_CREAT | O_TRUNC | O_APPEND;
#ifdef O_TMPFILE
    changing |= (O_TMPFILE & ~O_DIRECTORY);
#endif
    long long access = key->flags & O_ACCMODE;
    *reads = access != O_WRONLY;
    *writes = access != O_RDONLY || (key->flags & changing) != 0;
    for (Py_ssize_t i = 0; !key->mode_none && i < key->mode_len; i++) {
        char c = key->mode[i];
        if (c == '+') {
            *reads = *writes = 1;
        }
        else if (c == 'w' || c == 'a' || c == 'x') {
            *writes = 1;
        }
        else if (c == 'r') {
            *reads = 1;
        }
    }
}

/* Whether open flags can only make a new name: O_CREAT | O_EXCL, and neither O_TMPFILE (whose
 * name is a folder, followed, to make an unnamed file in) nor O_PATH (which ignores O_CREAT
 * and O_EXCL and follows a link: red team 92). */
static int
makes_new_only(long long flags)
{
#ifdef O_TMPFILE
    if (flags & (O_TMPFILE & ~O_DIRECTORY)) {
        return 0;
    }
#endif
#ifdef O_PATH
    if (flags & O_PATH) {
        return 0;
    }
#endif
    return (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
}

/* The verdict for `action` (0 read, 1 write) on the folder of `dir_key`, if one holds. */
static const open_slot *
dir_verdict_for(open_key *dir_key, int action, int phase)
{
    dir_key->flags = action;
    int found;
    size_t j = open_find(dir_key, phase, open_hash(dir_key, phase), &found);
    if (found && open_still_valid(&g_open[j])) {
        return &g_open[j];
    }
    /* (a stale entry is refreshed by a pattern that covers the folder now) */
    return action == DIR_MODULE_READS ? NULL : pattern_folder(dir_key, phase);
}

static int
ends_with(const char *s, Py_ssize_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return (size_t)n >= m && memcmp(s + n - (Py_ssize_t)m, suffix, m) == 0;
}

/* Whether the name p[0, n) is absolute and spelled with nothing to resolve but links: no NUL,
 * no empty, "." or ".." component, no trailing "/" (decoders/modules._plain, stricter by the
 * trailing "/"). */
static int
plain_absolute(const char *p, size_t n)
{
    if (n < 2 || p[0] != '/' || p[n - 1] == '/') {
        return 0;
    }
    /* (one pass, each component looked at from its "/": three memmem scans cost ~350
     * instructions a name, several names a handler call) */
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\0') {
            return 0;
        }
        if (p[i] != '/') {
            continue;
        }
        const size_t j = i + 1; /* (< n: the name does not end with "/") */
        if (p[j] == '/') {
            return 0; /* an empty component */
        }
        if (p[j] == '.') {
            if (j + 1 == n || p[j + 1] == '/') {
                return 0; /* "." */
            }
            if (p[j + 1] == '.' && (j + 2 == n || p[j + 2] == '/')) {
                return 0; /* ".." */
            }
        }
    }
    return 1;
}

/* Whether a name ends as a module file's does: ".py", ".pyc", ".pyi", ".so", ".pth", ".zip".
 * Each holds one ".", its first character, so a name ends with one exactly when the text
 * from its last "." is one (one memrchr; no strlen or compare for most names). */
static int
module_file_name(const char *path, size_t n)
{
    const char *dot = memrchr(path, '.', n);
    if (dot == NULL) {
        return 0;
    }
    size_t m = (size_t)(path + n - dot);
    switch (m) {
    case 3:
        return (dot[1] == 'p' && dot[2] == 'y') || (dot[1] == 's' && dot[2] == 'o');
    case 4:
        return memcmp(dot, ".pyc", 4) == 0 || memcmp(dot, ".pyi", 4) == 0 ||
               memcmp(dot, ".pth", 4) == 0 || memcmp(dot, ".zip", 4) == 0;
    default:
        return 0;
    }
}

/* A miss of the open table, answered by a directory verdict: the callback said every name
 * directly in this directory may be opened so (read or write) in this phase -- a rule covers
 * them all, the ceiling none (see Policy.children_allowed) -- and the directory is one the
 * path cache reached with no link on the way. The name itself may still be a link (to
 * anywhere): one lstat, and a link goes to the callback; so do module files (the import
 * machinery's reads are decided by the callback, which keeps track of them), ".", ".." and
 * anything lstat cannot answer plainly. An allowed name is kept in the table like one the
 * callback allowed (identity from the same lstat). */

static int
dir_verdict_allows(const open_key *key, int phase, uint64_t key_hash)
{
    int module_file = module_file_name(key->path, (size_t)key->len);
    Py_ssize_t cut = (Py_ssize_t)last_slash(key->path, (size_t)key->len);
    const char *leaf = key->path + cut + 1;
    Py_ssize_t leaf_len = key->len - cut - 1;
    if (leaf_len == 0 || (leaf_len == 1 && leaf[0] == '.') ||
        (leaf_len == 2 && leaf[0] == '.' && leaf[1] == '.') ||
        memchr(leaf, '\n', (size_t)leaf_len) != NULL) {
        return 0; /* (a newline: the rules' "**" does not match it) */
    }
    open_key dir_key = {cut > 0 ? key->path : "/", cut > 0 ? cut : 1, "", 0, DIR_VERDICT, 0};
    int reads, writes;
    open_actions(key, &reads, &writes);
    if (!reads && !writes) {
        return 0;
    }
    /* Each access needs the folder's verdict or a depth-0 pattern for the name. The folder's
     * identity (for a name not there yet) is copied at once: a later lookup may refill the
     * table. */
    int dir_kind = 0;
    unsigned long long dir_dev = 0, dir_ino = 0;
    /* Once validating: the folder identity each verdict was checked against (stat of the
     * folder's name), which the name's own lookup must find again (plain_lstat). */
    int have_folder = 0;
    unsigned long long folder_dev = 0, folder_ino = 0;
    for (int action = 0; action < 2; action++) {
        if (!(action == 0 ? reads : writes)) {
            continue;
        }
        int kind_of;
        unsigned long long dev_of, ino_of;
        const open_slot *dir = dir_verdict_for(&dir_key, action, phase);
        if (dir != NULL) {
            dir_kind = dir->identity;
            dir_dev = dir->dev;
            dir_ino = dir->ino;
            kind_of = dir->identity;
            dev_of = dir->dev;
            ino_of = dir->ino;
        }
        else {
            const pattern_verdict *p =
                pattern_for_name(key->path, (size_t)cut, (size_t)key->len, action, phase);
            if (p == NULL) {
                return 0;
            }
            kind_of = p->identity;
            dev_of = p->dev;
            ino_of = p->ino;
        }
        if (g_open_validate) {
            if (kind_of != 1 || (have_folder && (dev_of != folder_dev || ino_of != folder_ino))) {
                return 0;
            }
            have_folder = 1;
            folder_dev = dev_of;
            folder_ino = ino_of;
        }
    }
    /* A module file: only read, and only where the callback said module files are plain
     * files (a folder outside the module roots: no import-machinery tracking there). */
    if (module_file && (writes || dir_verdict_for(&dir_key, DIR_MODULE_READS, phase) == NULL)) {
        return 0;
    }
    struct stat st;
    int kind, there;
    unsigned long long dev, ino;
    if (g_open_validate) {
        /* The identity kept must be of the name found in the very folder the verdict holds
         * for (see plain_lstat): the folder, looked up with no link on the way, is the one
         * the verdict was checked against, and the name is looked at inside it. */
        struct stat folder;
        there = plain_lstat(key->path, (size_t)key->len, &st, &folder);
        if (there < 0 || !have_folder || (unsigned long long)folder.st_dev != folder_dev ||
            (unsigned long long)folder.st_ino != folder_ino) {
            return 0;
        }
    }
    else if (makes_new_only(key->flags)) {
        /* O_CREAT | O_EXCL makes the name or fails (EEXIST for anything there, a link
         * included, which it never follows): no lookup is needed to know it lands in this
         * folder, as a new regular file (the folder itself reached with no link: no child has
         * run, every change was seen) */
        there = 1;
    }
    else {
        /* (no child has run and no other thread changes names unseen: the name is the file) */
        there = memo_lstat(key->path, (size_t)key->len, &st) == 0 ? 0
                                                                   : (errno == ENOENT ? 1 : -1);
    }
    if (there == 0) { /* key->path: a str's data, NUL-terminated */
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
            /* a link (it may lead anywhere), or a FIFO or device (an open that blocks is
             * retried after signal handlers ran: the callback decides those) */
            return 0;
        }
        kind = 1;
        dev = (unsigned long long)st.st_dev;
        ino = (unsigned long long)st.st_ino;
    }
    else if (there == 1) {
        kind = dir_kind == 1 ? 2 : 0; /* a new name: validated by its directory */
        dev = dir_dev;
        ino = dir_ino;
    }
    else {
        return 0;
    }
    if (there == 0 && S_ISDIR(st.st_mode) && !g_open_validate && !other_in_flight()) {
        dirs_seen_add(key->path, (size_t)key->len, &st); /* (a descriptor on it: its name) */
    }
    if (kind != 0 && !other_in_flight()) {
        /* (a name that did not exist, with no identity to check it by, is not kept: it may be
         * made later with no audit event -- os.mkfifo, os.mknod -- as something else; nor is
         * anything while another thread's change is in flight: its lstats may have seen a
         * name halfway through that change) */
        /* (out of memory: not kept, still allowed) */
        (void)open_remember_hashed(key, phase, key_hash, kind, dev, ino);
    }
    return 1;
}

/* Names changed by events the core answered itself (below), for the hook's path cache: the
 * callback takes them (forgotten()) before it reads that cache. Bounded: past the bound, or
 * out of memory, the hook is told to forget everything instead. */
#define FORGET_QUEUE_SLOTS 64
static char *g_forget_queue[FORGET_QUEUE_SLOTS];
static size_t g_forget_count;
static int g_forget_everything;

static void
forget_queue_drop(void)
{
    for (size_t i = 0; i < g_forget_count; i++) {
        PyMem_RawFree(g_forget_queue[i]);
        g_forget_queue[i] = NULL;
    }
    g_forget_count = 0;
}

static void
forget_queue_add(const char *name, size_t n)
{
    if (g_forget_everything) {
        return;
    }
    char *copy = g_forget_count < FORGET_QUEUE_SLOTS ? PyMem_RawMalloc(n + 1) : NULL;
    if (copy == NULL) {
        forget_queue_drop();
        g_forget_everything = 1;
        return;
    }
    memcpy(copy, name, n);
    copy[n] = '\0';
    g_forget_queue[g_forget_count++] = copy;
}

/* The place a changing event's name argument changes -- its directory and last name, the
 * name itself not followed (what the files decoder's _the_name decides) -- written to
 * `place`, when the core can tell it plainly: an exact ASCII str without NUL or newline,
 * absolute (dir_fd ignored, as the kernel does) or relative to a dir_fd >= 0 whose
 * directory /proc names (not deleted); no "//", "." or ".." component, no trailing "/";
 * the last name not a module file's (the decoder's other paths keep track of those).
 * `dir_fd_out`: the descriptor the name is relative to, or -1; for a descriptor, `held` is
 * its fstat (a directory). 0: the callback decides. */
static int
change_place(PyObject *path, PyObject *dir_fd_obj, char *place, size_t *place_len,
             size_t *cut_out, int *dir_fd_out,
             struct stat *held)
{
    const char *name;
    Py_ssize_t len;
    int plain = PyLong_CheckExact(dir_fd_obj) ? ascii_of(path, &name, &len) : 0;
    if (plain != 1) {
        if (plain < 0) {
            PyErr_Clear();
        }
        return 0;
    }
    if (len < 1 || len >= OPEN_PATH_MAX || memchr(name, 0, (size_t)len) != NULL ||
        memchr(name, '\n', (size_t)len) != NULL) {
        return 0;
    }
    int overflow = 0;
    long long dir_fd = PyLong_AsLongLongAndOverflow(dir_fd_obj, &overflow);
    if (overflow || (dir_fd == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    size_t n = 0;
    *dir_fd_out = -1;
    if (name[0] != '/') {
        if (dir_fd < 0 || dir_fd > INT_MAX) {
            return 0; /* relative to the working directory: the callback reads it */
        }
        if (!dir_fd_name((int)dir_fd, place, &n, held, NULL)) {
            return 0;
        }
        if (n == 1) {
            n = 0; /* "/" + "/" + name: one slash */
        }
        if (n + 1 + (size_t)len >= OPEN_PATH_MAX) {
            return 0;
        }
        place[n++] = '/';
        *dir_fd_out = (int)dir_fd;
    }
    memcpy(place + n, name, (size_t)len);
    n += (size_t)len;
    place[n] = '\0';
    /* One pass over the components (absolute: place[0] is '/'): none empty ("//"), none "."
     * or "..", no trailing '/'. */
    if (n < 2 || place[0] != '/' || place[n - 1] == '/') {
        return 0;
    }
    /* (slash to slash with memchr: names here are ~60 characters, ~10 components) */
    size_t start = 1, cut = 0;
    for (;;) {
        const char *slash = memchr(place + start, '/', n - start);
        size_t end = slash != NULL ? (size_t)(slash - place) : n;
        size_t part = end - start;
        if (part == 0 ||
            (place[start] == '.' && (part == 1 || (part == 2 && place[start + 1] == '.')))) {
            return 0;
        }
        if (end == n) {
            break; /* (the last name: not empty, as place[n - 1] is no "/") */
        }
        cut = end;
        start = end + 1;
    }
    if (module_file_name(place, n)) {
        return 0; /* a module file's name: the callback decides those */
    }
    *place_len = n;
    *cut_out = cut;
    return 1;
}

/* Whether a write verdict holds for the directory of `place` (cut: its last "/"), and, for a
 * name relative to a descriptor, the descriptor is open on that very directory. */
static int
change_allowed(const char *place, size_t cut, size_t n, int dir_fd, const struct stat *held,
               int phase, int action)
{
    open_key dir_key = {cut > 0 ? place : "/", cut > 0 ? (Py_ssize_t)cut : 1, "", 0,
                        DIR_VERDICT, 1};
    open_slot by_pattern;
    const open_slot *dir = dir_verdict_for(&dir_key, action, phase);
    if (dir == NULL) {
        /* or a depth-0 pattern covers the name: its folder's identity stands in */
        const pattern_verdict *p = pattern_for_name(place, cut, n, action, phase);
        if (p == NULL) {
            return 0;
        }
        by_pattern.identity = p->identity;
        by_pattern.dev = p->dev;
        by_pattern.ino = p->ino;
        dir = &by_pattern;
    }
    if (dir_fd >= 0) {
        /* /proc named the descriptor's directory by this very path; with an identity (once
         * answers are validated) the descriptor must be open on the verdict's directory too.
         * Without one, no child has run and every change was decided: the directory now at
         * the path is the one the verdict was taken on. (`held`: the descriptor's fstat,
         * taken by change_place: a directory.) */
        if (dir->identity == 1) {
            if ((unsigned long long)held->st_dev != dir->dev ||
                (unsigned long long)held->st_ino != dir->ino) {
                return 0;
            }
        }
        else if (dir->identity != 0 || g_open_validate) {
            return 0;
        }
    }
    return 1;
}

/* A remove, rmdir, mkdir or rename of names in directories whose every name may be written
 * (a write verdict: see dir_verdict_allows; a rename's source read as well: the file is read
 * through its new name under that name's rules), answered as the callback would (the files
 * decoder decides each on its unfollowed name, "write"), with what the callback does after
 * it: the open answers for each name and below it are dropped, and the names are queued for
 * the hook's path cache. Anything else goes to the callback. */
static int
change_answered(const char *event, PyObject *args, int phase)
{
    if ((g_dir_count == 0 && g_pattern_count == 0) || !PyTuple_CheckExact(args)) {
        return 0;
    }
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    char first[OPEN_PATH_MAX + 1], second[OPEN_PATH_MAX + 1];
    size_t first_len, second_len, first_cut, second_cut;
    int first_fd, second_fd;
    struct stat first_held, second_held;
    /* (event is "os." and more: core_hook checked) */
    if (event[3] == 'r' && strcmp(event, "os.rename") == 0) {
        if (nargs != 4 ||
            !change_place(PyTuple_GET_ITEM(args, 0), PyTuple_GET_ITEM(args, 2), first, &first_len,
                          &first_cut, &first_fd, &first_held) ||
            !change_place(PyTuple_GET_ITEM(args, 1), PyTuple_GET_ITEM(args, 3), second,
                          &second_len, &second_cut, &second_fd, &second_held) ||
            system_device_name(first) || system_device_name(second) ||
            !change_allowed(first, first_cut, first_len, first_fd, &first_held, phase, 1) ||
            /* (and read: the file is read through its new name under that name's rules) */
            !change_allowed(first, first_cut, first_len, first_fd, &first_held, phase, 0) ||
            !change_allowed(second, second_cut, second_len, second_fd, &second_held, phase, 1)) {
            return 0;
        }
        struct stat moved;
        int elsewhere = first_cut != second_cut || memcmp(first, second, first_cut) != 0;
        if (lstat(first, &moved) == 0 ? S_ISDIR(moved.st_mode) ||
                                            (elsewhere && S_ISLNK(moved.st_mode))
                                      : (errno != ENOENT && errno != ENOTDIR)) {
            return 0; /* (a link moved to another folder: the callback reads its text there,
                       * where a relative one may lead elsewhere -- files._moved_link; a folder
                       * moved anywhere: the callback decides what it carries, whose rules
                       * change with its name -- files._moved_folder) */
        }
        open_forget(first, first_len);
        open_forget(second, second_len);
        forget_queue_add(first, first_len);
        forget_queue_add(second, second_len);
        return 1;
    }
    Py_ssize_t dir_fd_index;
    if (event[3] == 'r' && (strcmp(event, "os.remove") == 0 || strcmp(event, "os.rmdir") == 0)) {
        dir_fd_index = 1;
    }
    else if (event[3] == 'm' && strcmp(event, "os.mkdir") == 0) {
        dir_fd_index = 2;
    }
    else {
        return 0;
    }
    if (nargs != dir_fd_index + 1 ||
        !change_place(PyTuple_GET_ITEM(args, 0), PyTuple_GET_ITEM(args, dir_fd_index), first,
                      &first_len, &first_cut, &first_fd, &first_held) ||
        system_device_name(first) || /* (the callback refuses it: files._system_names_kept) */
        !change_allowed(first, first_cut, first_len, first_fd, &first_held, phase, 1)) {
        return 0;
    }
    open_forget(first, first_len);
    forget_queue_add(first, first_len);
    return 1;
}

/* An event's name that the callback decides as an open of it would be (read or write,
 * followed): answered when an open with those accesses would be -- the open table, or a
 * directory or pattern verdict (dir_verdict_allows: one lstat, links and module files go to
 * the callback). Only exact, absolute, ASCII names. */
static int name_opens_as(PyObject *name, long long flags, int phase);

static int
name_opens(PyObject *name, int writes, int phase)
{
    return name_opens_as(name, writes ? (O_WRONLY | O_CREAT) : O_RDONLY, phase);
}

/* (the same with the open flags given: O_RDWR | O_CREAT asks for both accesses with one
 * lookup of the name) */
static int
name_opens_as(PyObject *name, long long flags, int phase)
{
    open_key key;
    int plain = ascii_of(name, &key.path, &key.len);
    if (plain != 1) {
        if (plain < 0) {
            PyErr_Clear();
        }
        return 0;
    }
    if (key.len < 1 || key.len > OPEN_PATH_MAX || key.path[0] != '/' ||
        memchr(key.path, 0, (size_t)key.len) != NULL) {
        return 0;
    }
    key.mode = "";
    key.mode_len = 0;
    key.mode_none = 1;
    key.flags = flags;
    int found;
    uint64_t h = open_hash(&key, phase);
    size_t j = open_find(&key, phase, h, &found);
    if (found && open_still_valid(&g_open[j])) {
        return 1;
    }
    return dir_verdict_allows(&key, phase, h);
}

/* A listing (os.listdir, os.scandir) of a folder a depth-0 list pattern covers: an absolute
 * plain name, or a descriptor /proc names; the folder a directory now (lstat: no link), the
 * descriptor's own folder. What the files decoder decides: "list" on the folder followed. */
static int
list_answered(PyObject *args, int phase)
{
    if (g_pattern_count == 0 || PyTuple_GET_SIZE(args) != 1) {
        return 0;
    }
    PyObject *path = PyTuple_GET_ITEM(args, 0);
    char place[OPEN_PATH_MAX + 1];
    size_t n;
    struct stat held;
    int fd = -1;
    int looked_now = 0; /* the descriptor's name lstat-ed by dir_fd_name just now */
    if (PyLong_CheckExact(path)) {
        int overflow = 0;
        long long value = PyLong_AsLongLongAndOverflow(path, &overflow);
        if (overflow || value < 0 || value > INT_MAX) {
            PyErr_Clear();
            return 0;
        }
        fd = (int)value;
        if (!dir_fd_name(fd, place, &n, &held, &looked_now)) {
            return 0;
        }
    }
    else {
        const char *units;
        Py_ssize_t len;
        int plain = ascii_of(path, &units, &len);
        if (plain != 1) {
            if (plain < 0) {
                PyErr_Clear();
            }
            return 0;
        }
        if (len < 1 || len >= OPEN_PATH_MAX) {
            return 0;
        }
        memcpy(place, units, (size_t)len);
        n = (size_t)len;
    }
    place[n] = '\0';
    if (!plain_absolute(place, n)) {
        return 0; /* (" (deleted)" ends a removed folder's name: no pattern has that folder) */
    }
    size_t cut = last_slash(place, n);
    if (pattern_for_name(place, cut, n, ACTION_LIST, phase) == NULL) {
        return 0;
    }
    if (looked_now) {
        /* dir_fd_name found the name by an lstat of it made in this decision, with nothing
         * run in between (the GIL held): a directory, not a link, the descriptor's own --
         * the very test below, which would only repeat that lstat */
        return 1;
    }
    /* (a descriptor's folder is checked against its name now, as dirs_seen_name does, never
     * against a kept lookup: a descriptor may be open on a folder from anywhere -- inherited,
     * or moved since it was opened -- and only the name's lookup now says it is that one) */
    struct stat st;
    if ((fd < 0 ? memo_lstat(place, n, &st) : lstat(place, &st)) != 0 || !S_ISDIR(st.st_mode)) {
        return 0;
    }
    return fd < 0 || (st.st_dev == held.st_dev && st.st_ino == held.st_ino);
}

/* Events whose names the callback decides like opens (files decoder): a temporary file or
 * folder made (a write of its name), a copy (its source read, its destination written, then
 * the destination's answers dropped as the decoder's _changes does), an SQLite database
 * opened by name (a write), a tree removed by name (a write of its root; its removals are
 * audited one by one), and listings. Anything else, and every name these cannot answer, goes
 * to the callback. */
static int
names_answered(const char *event, PyObject *args, int phase)
{
    if (!PyTuple_CheckExact(args)) {
        return 0;
    }
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    /* (by the first two characters first: every event the core did not answer comes here) */
    const char c0 = event[0], c1 = c0 ? event[1] : '\0';
    if (c0 == 'o' && c1 == 's' &&
        (strcmp(event, "os.listdir") == 0 || strcmp(event, "os.scandir") == 0)) {
        return list_answered(args, phase);
    }
    if (c0 == 't' && c1 == 'e' &&
        (strcmp(event, "tempfile.mkstemp") == 0 || strcmp(event, "tempfile.mkdtemp") == 0)) {
        return nargs == 1 && name_opens(PyTuple_GET_ITEM(args, 0), 1, phase);
    }
    if (c0 == 's' && c1 == 'q' && strcmp(event, "sqlite3.connect") == 0) {
        /* (SQLite reads the database it opens as well: files._sqlite decides both) */
        return nargs == 1 && name_opens_as(PyTuple_GET_ITEM(args, 0), O_RDWR | O_CREAT, phase);
    }
    if (c0 != 's' || c1 != 'h') {
        return 0; /* (the rest are "shutil...") */
    }
    if (strcmp(event, "shutil.rmtree") == 0) {
        /* (path) before 3.11, (path, dir_fd) since: a dir_fd goes to the callback, and so does
         * a tree in the system's /dev (refused there: files._system_names_kept) */
        if (nargs != 1 && !(nargs == 2 && PyTuple_GET_ITEM(args, 1) == Py_None)) {
            return 0;
        }
        PyObject *root = PyTuple_GET_ITEM(args, 0);
        const char *units;
        Py_ssize_t len;
        int plain = ascii_of(root, &units, &len);
        if (plain < 0) {
            PyErr_Clear();
            return 0;
        }
        if (plain == 1 && len >= 5 && strncmp(units, "/dev/", 5) == 0 &&
            (!plain_absolute(units, (size_t)len) || system_device_name(units))) {
            return 0;
        }
        return name_opens(root, 1, phase);
    }
    if (strcmp(event, "shutil.copyfile") == 0) {
        if (nargs != 2 || !name_opens(PyTuple_GET_ITEM(args, 0), 0, phase)) {
            return 0;
        }
        /* The copy changes its destination: what was kept about it is dropped first, and the
         * destination then decided as a write (an open of it would be), whose lookup is kept
         * for the copy's own open of it, the next event (a name not there yet is made by that
         * open, audited; anything there is what was looked at: no change is seen meanwhile) */
        const char *units;
        Py_ssize_t len;
        PyObject *destination = PyTuple_GET_ITEM(args, 1);
        int plain = ascii_of(destination, &units, &len);
        if (plain != 1) {
            if (plain < 0) {
                PyErr_Clear();
            }
            return 0;
        }
        open_forget(units, (size_t)len);
        if (!name_opens(destination, 1, phase)) {
            return 0;
        }
        forget_queue_add(units, (size_t)len);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------- */
/* Process state                                                                         */

static int g_installed;

/* The calls that change the process or the core -- the kernel filters, the seals, install,
 * the bundle's unmarshal -- are for install alone, before the function's code runs. This copy's
 * own statics say whether it is installed; they cannot say whether ANOTHER sandbox core is:
 * the Python core, or a second copy of this extension loaded from another file (its own
 * statics, all zero: red team 51). So a copy that is not installed announces every such call
 * with the audit event "sandbox.core" (the call's name) before it acts: no hook exists yet
 * while installing, and an installed hook of either core refuses the event outright. */
#define CORE_CALL_EVENT "sandbox.core"
/* A refusal the core made itself about SQLite, handed to the callback to be reported
 * (sqlite_refusal); never an audit event: one raised by that name is refused (core_hook). */
#define SQLITE_REFUSED_EVENT "sandbox.sqlite_refused"
static int
announce_core_call(const char *name)
{
    if (g_installed) {
        return 1; /* this copy holds the process: its own guards decide (seal_types, once) */
    }
    return PySys_Audit(CORE_CALL_EVENT, "s", name) == 0;
}

static int g_invoke;              /* phase: 0 init, 1 invoke (one way) */
/* The phase as the whole process tree after fork sees it: an anonymous shared page, so a
 * child forked during init (a multiprocessing worker) moves to invoke with its parent.
 * NULL where mmap failed: this process's own flag only. */
static volatile int *g_shared_invoke;

static inline int
invoke_now(void)
{
    if (!g_invoke && g_shared_invoke != NULL && *g_shared_invoke) {
        g_invoke = 1; /* one way, here too */
    }
    return g_invoke;
}
static char *g_mode;              /* copy of the mode string */
static name_set g_names;
static name_set g_caller_events;
static name_set g_invoke_only;    /* events decided only in the invoke phase */
static name_set g_setattr_names;  /* the attribute names an object.__setattr__ is decided on */
static name_set g_refused_inside; /* refused when foreign code raises them inside the callback */
static name_set g_inside_only;    /* of those, the ones not decided outside it */
static int g_setattr_known;       /* whether install was given them */
static code_set g_setattr_codes;  /* the code of the functions those names are guarded on */
static int g_setattr_codes_known; /* whether install was given them */
static code_set g_own_codes;
/* The codes whose frames no code of the function's may read: the hook's (its private modules',
 * its callback's), never the published wrappers the function calls (an error through one is
 * the function's to show). See frame_of_the_hook_read. */
static code_set g_hidden_codes;
static code_set g_import_codes; /* the import system's readers (init-phase module reads) */
static PyObject *g_callback;      /* strong reference, held here only */
static int g_block_signals;       /* defer Python signal handlers while the callback runs */
static PyInterpreterState *g_interp; /* the interpreter the callback belongs to */


/* The frame that raised the caller event being decided on this thread (strong; NULL: none):
 * what core.caller_local reads, with no frame lookup by the callback. */
static CORE_TLS PyFrameObject *t_event_frame;
/* The phase (invoke_now()) when the decision running on this thread started: what it was
 * decided by. An answer kept from it is kept for that phase only -- if the process moved to
 * invoke meanwhile (another thread's mark_invoke_phase), an init rule's answer would be
 * kept as an invoke one: the adders keep nothing then. */
static CORE_TLS int t_decision_invoke;

/* Whether the phase is still the one the current decision started in. */
static int
decision_phase_holds(void)
{
    return invoke_now() == t_decision_invoke;
}


/* Whether an answer about names that the current decision reached may be kept: the phase
 * holds, no name changed since the decision started, and no other thread has a change in
 * flight now. A decision resolves names, then keeps what it found: another thread's audited
 * change in between (its event forgets, then it changes the name and raises its next event,
 * which ends its change in flight) leaves the answer stale before it is kept -- and, kept, the
 * core would answer from it for good. Red team 38 won that race against the in-flight test
 * alone. A change made while a decision runs on this thread counts too, unless the
 * sandbox's own code makes it (the forget for the event being decided: t_forget_by_own_code):
 * a change of anything else run inside the callback (the Python core cannot hold a signal
 * handler there: red team 40 swapped a folder from one). */
static int
decision_names_hold(void)
{
    return decision_phase_holds() && g_changes - t_own_changes == t_decision_changes &&
           !other_in_flight();
}

/* The code object of the innermost Python frame (new reference), or NULL (no frame). */
static PyObject *
innermost_code(void)
{
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed */
    if (frame == NULL) {
        return NULL;
    }
    return (PyObject *)PyFrame_GetCode(frame);
}

/* ------------------------------------------------------------------------------------- */
/* The sandbox's own sites: which of its code objects raise which event inside the callback,
 * and make which core call (install's own_sites, pairs (name, code)). Inside the callback the
 * innermost Python frame names the code that raised an event -- but a C function (a
 * functools.partial, a bound method) that C code called there pushes no frame: the event it
 * raises carries the frame of the sandbox's function that called that C code. Taking every
 * event under a frame of the sandbox's for its own would let such a function do anything the
 * hook lets itself do; with the pairs, it can do only what that very function of the
 * sandbox's does itself (a frame lookup, a compile...). */

typedef struct {
    uint64_t hash;    /* name_hash of the name, mixed with the code's address */
    const char *name; /* copy */
    PyObject *code;   /* strong reference */
} site_slot;

static site_slot *g_sites;
static size_t g_sites_mask;
static int g_sites_known; /* install was given own_sites (else: any own code, as before) */

static inline uint64_t
site_hash(const char *name, size_t len, const PyObject *code)
{
    return name_hash(name, len) ^ (uint64_t)ptr_hash(code);
}

static void
own_sites_free(void)
{
    if (g_sites != NULL) {
        for (size_t i = 0; i <= g_sites_mask; i++) {
            PyMem_RawFree((void *)g_sites[i].name);
            Py_XDECREF(g_sites[i].code);
        }
        PyMem_RawFree(g_sites);
    }
    g_sites = NULL;
    g_sites_mask = 0;
    g_sites_known = 0;
}

static int
own_sites_build(PyObject *iterable, const code_set *own)
{
    PyObject *items = PySequence_Fast(iterable, "install: own_sites must be iterable");
    if (items == NULL) {
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    size_t size = table_size_for(2 * (size_t)n);
    g_sites = PyMem_RawCalloc(size, sizeof(site_slot));
    if (g_sites == NULL) {
        Py_DECREF(items);
        PyErr_NoMemory();
        return -1;
    }
    g_sites_mask = size - 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(items, i);
        PyObject *name = PyTuple_CheckExact(pair) && PyTuple_GET_SIZE(pair) == 2
                             ? PyTuple_GET_ITEM(pair, 0)
                             : NULL;
        PyObject *code = name != NULL ? PyTuple_GET_ITEM(pair, 1) : NULL;
        if (name == NULL || !PyUnicode_CheckExact(name) || !PyCode_Check(code)) {
            PyErr_SetString(PyExc_TypeError,
                            "install: own_sites: expected (str, code object) tuples");
            goto fail;
        }
        if (!code_set_has(own, code)) {
            PyErr_SetString(PyExc_ValueError, "install: own_sites: a code object not in own_codes");
            goto fail;
        }
        Py_ssize_t len;
        const char *utf8 = PyUnicode_AsUTF8AndSize(name, &len);
        if (utf8 == NULL) {
            goto fail;
        }
        if ((Py_ssize_t)strlen(utf8) != len) {
            PyErr_SetString(PyExc_ValueError, "install: own_sites: a name with a NUL character");
            goto fail;
        }
        uint64_t h = site_hash(utf8, (size_t)len, code);
        size_t j = (size_t)h & g_sites_mask;
        int duplicate = 0;
        while (g_sites[j].name != NULL) {
            if (g_sites[j].hash == h && g_sites[j].code == code &&
                strcmp(g_sites[j].name, utf8) == 0) {
                duplicate = 1;
                break;
            }
            j = (j + 1) & g_sites_mask;
        }
        if (duplicate) {
            continue;
        }
        char *copy = PyMem_RawMalloc((size_t)len + 1);
        if (copy == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        memcpy(copy, utf8, (size_t)len + 1);
        Py_INCREF(code);
        g_sites[j].hash = h;
        g_sites[j].name = copy;
        g_sites[j].code = code;
    }
    Py_DECREF(items);
    g_sites_known = 1;
    return 0;
fail:
    Py_DECREF(items);
    own_sites_free();
    return -1;
}

/* Whether the innermost Python frame's code is the sandbox's own and makes `name` itself. */
static int
caller_is_site(const char *name)
{
    PyObject *code = innermost_code();
    int site = 0;
    if (code != NULL && code_set_has(&g_own_codes, code)) {
        if (!g_sites_known) {
            site = 1; /* (installed without own_sites: any code of the sandbox's) */
        }
        else {
            size_t len = strlen(name);
            uint64_t h = site_hash(name, len, code);
            for (size_t j = (size_t)h & g_sites_mask; g_sites[j].name != NULL;
                 j = (j + 1) & g_sites_mask) {
                if (g_sites[j].hash == h && g_sites[j].code == code &&
                    strcmp(g_sites[j].name, name) == 0) {
                    site = 1;
                    break;
                }
            }
        }
    }
    Py_XDECREF(code);
    return site;
}

/* The callback's own stack. The function chooses how deep it calls from: a decision made a
 * few frames below the recursion limit failed in the hook's Python half (RecursionError), the
 * operation refused with no finding or error record written. While the callback runs, the
 * thread gets HOOK_STACK more levels than it had left (given back after; the callback's own
 * calls are balanced), so the Python half never runs short because of where it was called
 * from. (A C stack the function itself exhausted is its own crash, with or without this.) */
#define HOOK_STACK 200

static inline void
stack_grant(PyThreadState *ts, int levels)
{
#if PY_VERSION_HEX >= 0x030E0000
    ts->py_recursion_remaining += levels;
#elif PY_VERSION_HEX >= 0x030C0000
    ts->py_recursion_remaining += levels;
    ts->c_recursion_remaining += levels;
#elif PY_VERSION_HEX >= 0x030B0000
    ts->recursion_remaining += levels;
#else
    ts->recursion_depth -= levels;
#endif
}

/* Tracing and profiling off for this thread while the callback runs. */
static inline void
tracing_off(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyThreadState_EnterTracing(ts);
#else
    ts->tracing++;
    ts->cframe->use_tracing = 0;
#endif
}

static inline void
tracing_on(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyThreadState_LeaveTracing(ts);
#else
    ts->tracing--;
    ts->cframe->use_tracing = (ts->c_tracefunc != NULL || ts->c_profilefunc != NULL) ? 255 : 0;
#endif
}

/* Python-level signal handlers run only in the main thread (CPython's
 * _Py_ThreadCanHandleSignals: the thread whose ident is _PyRuntime.main_thread), at the eval
 * loop's next check -- which, while the main thread is in the callback, is inside it: the
 * handler would receive the callback's frame (and through it the hook's state). Blocking the
 * signals in this thread is not enough: a process-directed signal is taken by any other thread
 * that does not block it, whose C-level handler then marks it for the main thread. So while
 * the main thread is in the callback, no thread is the main one: a signal that arrives stays
 * marked, and its handler runs once the audited call has returned (release_after_decision).
 * Only the thread in the callback changes the field, and restores it before anything else. */
static inline unsigned long
defer_signal_handlers(void)
{
    unsigned long main_thread = _PyRuntime.main_thread;
    if (!g_block_signals || main_thread == 0 || PyThread_get_thread_ident() != main_thread) {
        return 0; /* off, already deferred by an outer callback, or not the main thread */
    }
    _PyRuntime.main_thread = 0; /* no thread has ident 0 */
    return main_thread;
}

/* Nothing may run in this thread between a decision and the operation it allowed: a Python
 * signal handler or a finalizer the cyclic GC calls there could swap a link the decision
 * followed (the same thread, so no lock or race is needed: a red team made it near-certain).
 * So the handlers of signals that arrived meanwhile, and the collector, wait for the eval
 * loop's next check -- after the audited call has returned:
 * - signals: 3.13+ drop the pending-signals bit a thread that may not handle them meets, so the
 *   bit is set again on this (the main) thread; 3.10-3.12 compute the eval breaker without
 *   pending signals while no thread may handle them, so when a signal is pending a no-op
 *   pending call makes that check come (and runs the handlers there);
 * - the collector: 3.12+ collect only at such checks; 3.10/3.11 collect inside an allocation,
 *   so when an allocation in the audited call could start a collection (the first generation
 *   within a margin of its threshold), the collector stays off until that check (a pending
 *   call, in the main thread; or the end of the next decision, in any thread). */
#define GC_MARGIN 32
static int g_gc_held; /* the collector was on and is held off until the next check */

static int
resume_after_operation(void *unused)
{
    (void)unused;
    if (g_gc_held) {
        g_gc_held = 0;
        PyGC_Enable();
    }
    return PyErr_CheckSignals();
}

static inline int
collection_could_start(void)
{
#if PY_VERSION_HEX < 0x030C0000
    struct gc_generation *young = &PyInterpreterState_Get()->gc.generations[0];
    return young->threshold == 0 || young->count + GC_MARGIN >= young->threshold;
#else
    return 0;
#endif
}

static inline void
release_after_decision(PyThreadState *ts, unsigned long main_thread, int gc_was_enabled)
{
    int nudge = 0;
    if (main_thread != 0) {
        _PyRuntime.main_thread = main_thread; /* handlers of marked signals: at the next check */
#if PY_VERSION_HEX >= 0x030D0000
        _Py_atomic_or_uintptr(&ts->eval_breaker, (uintptr_t)1 << 1); /* _PY_SIGNALS_PENDING_BIT */
#else
        (void)ts;
        nudge = _Py_atomic_load_relaxed(&_PyRuntime.ceval.signals_pending) != 0;
#endif
    }
    if (gc_was_enabled) {
        if (collection_could_start()) {
            g_gc_held = 1;
            nudge = 1;
        }
        else {
            PyGC_Enable();
        }
    }
    if (nudge) {
        (void)Py_AddPendingCall(resume_after_operation, NULL); /* (a full queue: a later one) */
    }
}

/* The frame guard. Code that is not the sandbox's must not run inside the callback: the
 * callback's frames (an exception's traceback leads to them, with no audit event) hold what
 * it decides with. Every known route to get such code called there is closed one by one
 * (node classes sealed, lookups checked...), but some are not routes the sandbox can close:
 * a finalizer that runs when another thread of the function's drops the last reference to an
 * object the callback is looking at, or a warning filter another thread puts in between a
 * check and the parse. So while a thread is inside the callback, the interpreter evaluates
 * its frames through this function (PEP 523), and a frame whose code is neither the
 * sandbox's own (own_codes) is refused before its first instruction: the default evaluator is entered
 * with a PermissionError to raise (as generator.throw does: no handler covers the frame's
 * start, so nothing of it runs), and the exception leaves without a traceback or a
 * context. Other threads' frames (depth 0) go to the previous evaluator unchanged. The
 * evaluator is in place only while some thread is inside the callback; in 3.11+ that also
 * keeps Python-to-Python calls from being inlined past it. (C functions push no frame: the
 * own sites narrow what they can do.) */
static int g_frame_guard;          /* install's frame_guard */
static int g_callbacks_running;    /* callback calls in progress, all threads (GIL held) */
static _PyFrameEvalFunction g_eval_before; /* the interpreter's evaluator before (NULL: default) */

#if PY_VERSION_HEX >= 0x030B0000
typedef struct _PyInterpreterFrame guarded_frame;
static inline PyObject *
frame_code(guarded_frame *frame)
{
#if PY_VERSION_HEX >= 0x030D0000
    return (PyObject *)_PyFrame_GetCode(frame);
#else
    return (PyObject *)frame->f_code;
#endif
}
#else
typedef PyFrameObject guarded_frame;
static inline PyObject *
frame_code(guarded_frame *frame)
{
    return (PyObject *)frame->f_code;
}
#endif

/* Every exception reachable from `exc` -- its context and cause, theirs, a group's members --
 * loses its traceback: any of them may be an object the function holds (red team 113 raised
 * one of its own inside the hook and read the hook's frames from its traceback afterwards).
 * Bounded: a chain longer than that is cut where the walk stops. */
static void
forget_frames_of(PyObject *first, int budget)
{
    PyObject *exc = Py_XNewRef(first);
    while (exc != NULL && exc != Py_None && PyExceptionInstance_Check(exc) && budget-- > 0) {
        PyException_SetTraceback(exc, Py_None);
#if PY_VERSION_HEX >= 0x030B0000
        if (PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_BaseExceptionGroup)) {
            PyObject *members = ((PyBaseExceptionGroupObject *)exc)->excs;
            Py_XINCREF(members);
            for (Py_ssize_t i = 0; members != NULL && PyTuple_Check(members) &&
                                   i < PyTuple_GET_SIZE(members) && budget > 0;
                 i++) {
                forget_frames_of(PyTuple_GET_ITEM(members, i), --budget);
            }
            Py_XDECREF(members);
        }
#endif
        PyObject *cause = PyException_GetCause(exc); /* (new references, or NULL) */
        if (cause != NULL) {
            forget_frames_of(cause, budget / 2);
            Py_DECREF(cause);
        }
        PyObject *context = PyException_GetContext(exc);
        PyException_SetContext(exc, NULL);
        PyException_SetCause(exc, NULL);
        Py_DECREF(exc);
        exc = context; /* (owned) */
    }
    Py_XDECREF(exc);
}

static void
strip_raised(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc = PyErr_GetRaisedException();
    forget_frames_of(exc, 64);
    PyErr_SetRaisedException(exc);
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    Py_CLEAR(tb);
    PyErr_NormalizeException(&type, &value, &tb);
    Py_CLEAR(tb);
    forget_frames_of(value, 64);
    PyErr_Restore(type, value, NULL);
#endif
}

/* Where the refused frame's exception is raised: before its first instruction, so that no
 * handler of the frame covers it (a generator resumed there would run its except and finally
 * blocks otherwise) -- the frame unwinds, nothing of its code runs. */
static inline void
raise_before_any_handler(guarded_frame *frame)
{
#if PY_VERSION_HEX >= 0x030D0000
    frame->instr_ptr = _PyCode_CODE(_PyFrame_GetCode(frame));
#elif PY_VERSION_HEX >= 0x030B0000
    frame->prev_instr = _PyCode_CODE(frame->f_code) - 1;
#else
    frame->f_iblock = 0; /* (3.10: no block, no handler) */
#endif
}

static inline int
frame_of_generator(guarded_frame *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    return frame->owner == FRAME_OWNED_BY_GENERATOR;
#else
    return frame->f_gen != NULL;
#endif
}

static PyObject *
guarded_eval(PyThreadState *ts, guarded_frame *frame, int throwflag)
{
    if (t_attach_armed && t_depth == 0 && !code_set_has(&g_own_codes, frame_code(frame))) {
        /* Code of the function's in an ATTACH's window (attach_arm): refused, and raised
         * (SQLite's caller fails the statement; a finalizer's is ignored) */
        PyErr_SetString(PyExc_PermissionError,
                        "lambda-sandbox: code refused where none of the function's may run "
                        "(between an SQLite ATTACH's check and its open, or in an _ssl "
                        "module's exec)");
        raise_before_any_handler(frame);
        PyObject *result = _PyEval_EvalFrameDefault(ts, frame, 1);
        if (result != NULL) {
            return result; /* (cannot happen: no handler covers the frame's start) */
        }
        strip_raised();
        return NULL;
    }
    if (t_depth > 0) {
        PyObject *code = frame_code(frame);
        if (!code_set_has(&g_own_codes, code)) {
            /* Refused: the frame unwinds at once. A function's call evaluates to None (a
             * finalizer, a later audit hook, a warning's display: as if it did nothing); a
             * generator's or coroutine's resumption raises PermissionError. */
            int generator = frame_of_generator(frame);
            PyErr_SetString(PyExc_PermissionError,
                            "lambda-sandbox: code running inside the sandbox's hook refused");
            raise_before_any_handler(frame);
            PyObject *result = _PyEval_EvalFrameDefault(ts, frame, 1);
            if (result != NULL) {
                return result; /* (cannot happen: no handler covers the frame's start) */
            }
            if (!generator) {
                PyErr_Clear();
                Py_RETURN_NONE;
            }
            strip_raised();
            return NULL;
        }
    }
    if (g_eval_before != NULL) {
        return g_eval_before(ts, frame, throwflag);
    }
    return _PyEval_EvalFrameDefault(ts, frame, throwflag);
}

static inline void
frame_guard_on(void)
{
    if (g_frame_guard && g_callbacks_running++ == 0) {
        PyInterpreterState *interp = PyInterpreterState_Get();
        g_eval_before = interp->eval_frame == guarded_eval ? NULL : interp->eval_frame;
        interp->eval_frame = guarded_eval;
    }
}

static inline void
frame_guard_off(void)
{
    if (g_frame_guard && --g_callbacks_running == 0) {
        PyInterpreterState *interp = PyInterpreterState_Get();
        if (interp->eval_frame == guarded_eval) {
            interp->eval_frame = g_eval_before;
        }
    }
}

/* An SQLite ATTACH's window opened or closed on this thread (t_attach_armed). Refusing the
 * events of code that runs in there is not enough: that code can hand over to another process
 * without one (a pipe to a child started before, a forked one: red team 78). So no code of the
 * function's runs there at all: the frame guard refuses its frames as inside the callback (a
 * call raises PermissionError: a Connection subclass's __call__, a str subclass's __eq__ the
 * statement cache calls), and what would run legitimately waits for the window's end as after
 * a decision -- the collector and its finalizers, the main thread's signal handlers -- as
 * does tracing. */
static CORE_TLS unsigned long t_window_signals; /* the main thread's ident, deferred */
static CORE_TLS int t_window_gc;                /* the collector was on */
static CORE_TLS int t_window_holds_others;      /* counted in g_attach_windows */

/* The window opened or closed on this thread. `others`: whether other threads' name changes
 * wait too (an ATTACH's: its open follows a name; an `_ssl` module's exec follows none). */
static void
code_window(int on, int others)
{
    if (on == t_attach_armed) {
        return;
    }
    PyThreadState *ts = PyThreadState_Get();
    if (on) {
        t_window_holds_others = others;
        g_attach_windows += others;
    }
    else {
        g_attach_windows -= t_window_holds_others;
        t_window_holds_others = 0;
    }
    t_attach_armed = on;
    if (on) {
        frame_guard_on();
        t_window_gc = PyGC_Disable() || g_gc_held; /* (a held collector: taken, as decide does) */
        g_gc_held = 0;
        t_window_signals = defer_signal_handlers();
        tracing_off(ts);
        return;
    }
    tracing_on(ts);
    release_after_decision(ts, t_window_signals, t_window_gc);
    t_window_signals = 0;
    t_window_gc = 0;
    frame_guard_off();
}

static void
attach_arm(int on)
{
    code_window(on, 1);
}

/* Objects the callback let go of that may be the function's (core.hold): a list only this
 * module holds, released at the next decision's start on a thread outside the callback. Another
 * thread of the function's can drop its own references to what the callback is reading (a
 * syntax tree's nodes), so that the callback's were the last: a finalizer would then run
 * inside the hook. Released here, it runs as the function's code, before a decision. */
static PyObject *g_held;

static void
release_held(void)
{
    if (g_held != NULL && t_depth == 0) {
        PyObject *held = g_held;
        g_held = NULL;
        Py_DECREF(held); /* (finalizers may run: their errors are unraisable, never raised) */
    }
}

static unsigned long long g_cwd_changes; /* (seal_cwd_changes, below) */
static int g_cwd_in_flight;
static CORE_TLS int t_cwd_in_flight;
/* The thread that opens a relative SQLite database name now, or 0: _sqlite3 lets the GIL go
 * between the sqlite3.connect event and SQLite's open (and SQLite reads the working directory
 * itself then), so another thread's chdir is refused from that event to this thread's next
 * one (the connection's sqlite3.connect/handle, right after the open: red team 73). */
static unsigned long g_cwd_pinned_by;

/* Whether the database name of a sqlite3.connect event is read from the working directory:
 * anything but an absolute exact str or bytes name, a memory database or an absolute URI. */
static int sqlite_database_relative(PyObject *name);

static int
sqlite_name_relative(PyObject *args)
{
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) < 1) {
        return 1;
    }
    return sqlite_database_relative(PyTuple_GET_ITEM(args, 0));
}

/* (one database name: sqlite3.connect's, or an ATTACH's as the authorizer gets it) */
static int
sqlite_database_relative(PyObject *name)
{
    const char *text;
    Py_ssize_t n;
    if (PyUnicode_CheckExact(name)) {
        text = PyUnicode_AsUTF8AndSize(name, &n);
        if (text == NULL) {
            PyErr_Clear();
            return 1;
        }
    }
    else if (PyBytes_CheckExact(name)) {
        text = PyBytes_AS_STRING(name);
        n = PyBytes_GET_SIZE(name);
    }
    else {
        return 1;
    }
    if (n == 0 || (n == 8 && memcmp(text, ":memory:", 8) == 0) || text[0] == '/') {
        return 0;
    }
    return !(n >= 6 && memcmp(text, "file:/", 6) == 0);
}

/* ------------------------------------------------------------------------------------- */
/* Descriptors pinned for a decision (red team 116)                                      */
/*
 * A name given with a dir_fd is resolved by the kernel from the directory the descriptor names
 * when the system call runs; a descriptor given for a path (os.listdir(fd), os.chmod(fd),
 * fexecve...) is acted on as it is then. The descriptor table changes with no audit event
 * (os.dup2, close, a descriptor received over a Unix socket), and the hook's own system calls
 * let other threads run: another thread could put another directory under the same number
 * after the decision read it (or while it read it, and put the first back before the end).
 * So for each such descriptor, the core reads what it names once, when the decision starts
 * (its identity and its /proc/self/fd name, or the error), hands the callback that name
 * (descriptors_pinned: paths.fd_path and the open decoder read it instead of the live table),
 * and takes the decision only if the descriptor names the same thing when it ends; from there
 * the GIL is held up to the system call. os.open's event does not carry its dir_fd: os.open
 * is held so that the core knows it (dir_fd_call). */

#define PINS_MAX 4

typedef struct {
    int fd;
    int got;                      /* fstat's result: 0, or the errno */
    unsigned long long dev, ino;  /* (got == 0) */
    unsigned int mode;            /* (got == 0) */
    ssize_t n;                    /* readlink's length, or -1 */
    char name[OPEN_PATH_MAX + 1];
} fd_pin;

typedef struct {
    int count;
    fd_pin pin[PINS_MAX];
} fd_pins;

/* os.dup2 calls begun and ended so far (each counts twice), those running now, and this
 * thread's (see seal_descriptor_swaps). */
static unsigned long long g_fd_swaps;
static int g_fd_swaps_in_flight;
static CORE_TLS int t_fd_swaps_in_flight;

/* Descriptors in use (a count each): by a call some thread is making through a function the
 * core holds (dir_fd_call), from before its event to its return; or named through /proc by a
 * decision (descriptor_hold), up to its thread's next event. os.dup2 onto one is refused
 * meanwhile (dup2_sealed). Changed and read with the GIL held only. */
#define FDS_IN_USE 64
static struct {
    int fd;
    int count;
} g_fds_in_use[FDS_IN_USE];

static int
fd_in_use(long fd)
{
    for (int i = 0; i < FDS_IN_USE; i++) {
        if (g_fds_in_use[i].count > 0 && g_fds_in_use[i].fd == fd) {
            return 1;
        }
    }
    return 0;
}

/* Count `fd` in use: 1, or 0 when the table is full (64 calls at once: the call goes on
 * without, as a call through a function not held here). */
static int
fd_use(int fd)
{
    int free_at = -1;
    for (int i = 0; i < FDS_IN_USE; i++) {
        if (g_fds_in_use[i].count > 0 && g_fds_in_use[i].fd == fd) {
            g_fds_in_use[i].count++;
            return 1;
        }
        if (g_fds_in_use[i].count == 0 && free_at < 0) {
            free_at = i;
        }
    }
    if (free_at < 0) {
        return 0;
    }
    g_fds_in_use[free_at].fd = fd;
    g_fds_in_use[free_at].count = 1;
    return 1;
}

static void
fd_unuse(int fd)
{
    for (int i = 0; i < FDS_IN_USE; i++) {
        if (g_fds_in_use[i].count > 0 && g_fds_in_use[i].fd == fd) {
            g_fds_in_use[i].count--;
            return;
        }
    }
}

/* A descriptor's number, or -1 for anything else (or a number no descriptor has). */
static int
descriptor_number(PyObject *value)
{
    if (!PyLong_Check(value)) {
        return -1;
    }
    int overflow;
    long fd = PyLong_AsLongAndOverflow(value, &overflow);
    if (fd == -1 && PyErr_Occurred()) {
        PyErr_Clear();
    }
    return !overflow && fd >= 0 && fd <= INT_MAX ? (int)fd : -1;
}

/* The pins of the decision this thread is in (NULL: none): its stack's. */
static CORE_TLS fd_pins *t_pins;
/* os.open's dir_fd while its original runs on this thread, at decision depth t_open_depth
 * (-1: none; see open_dir_fd_sealed). */
static CORE_TLS int t_open_dir_fd = -1;
static CORE_TLS int t_open_depth;

static void
pin_read(int fd, fd_pin *pin)
{
    struct stat st;
    pin->fd = fd;
    pin->got = fstat(fd, &st) == 0 ? 0 : errno;
    pin->dev = pin->got == 0 ? (unsigned long long)st.st_dev : 0;
    pin->ino = pin->got == 0 ? (unsigned long long)st.st_ino : 0;
    pin->mode = pin->got == 0 ? (unsigned int)st.st_mode : 0;
    char link[32];
    proc_fd_link(link, fd);
    pin->n = pin->got == 0 ? readlink(link, pin->name, OPEN_PATH_MAX) : -1;
    if (pin->n < 0 || pin->n >= OPEN_PATH_MAX) {
        pin->n = -1;
    }
    pin->name[pin->n < 0 ? 0 : pin->n] = '\0';
}

/* Whether the descriptor still names what `pin` read. */
static int
pin_holds(const fd_pin *pin)
{
    fd_pin now;
    pin_read(pin->fd, &now);
    return now.got == pin->got && now.dev == pin->dev && now.ino == pin->ino &&
           now.mode == pin->mode && now.n == pin->n &&
           (now.n < 0 || memcmp(now.name, pin->name, (size_t)now.n) == 0);
}

static void
pin_add(fd_pins *pins, PyObject *value)
{
    if (!PyLong_Check(value) || pins->count >= PINS_MAX) {
        return; /* (the events pass a dir_fd as an exact int, -1 for none) */
    }
    int overflow;
    long fd = PyLong_AsLongAndOverflow(value, &overflow);
    if (overflow || fd < 0 || fd > INT_MAX) {
        PyErr_Clear(); /* (no descriptor: the kernel refuses it, or it is AT_FDCWD) */
        return;
    }
    for (int i = 0; i < pins->count; i++) {
        if (pins->pin[i].fd == (int)fd) {
            return;
        }
    }
    pin_read((int)fd, &pins->pin[pins->count++]);
}

/* Whether a path argument is a name the kernel resolves from the root (then a dir_fd is not
 * used): an exact str or bytes starting with '/'. Anything else may be relative. */
static int
path_is_absolute(PyObject *path)
{
    if (PyUnicode_CheckExact(path)) {
        return PyUnicode_GET_LENGTH(path) > 0 && PyUnicode_READ_CHAR(path, 0) == '/';
    }
    if (PyBytes_CheckExact(path)) {
        return PyBytes_GET_SIZE(path) > 0 && PyBytes_AS_STRING(path)[0] == '/';
    }
    return 0;
}

/* The events whose system call resolves a name from a descriptor or acts on one: (path, dir_fd)
 * argument pairs; a pair with path == fd is a descriptor given for a path. A descriptor given
 * as the path of a pair is pinned too (os.chmod(fd), os.utime(fd)...). */
typedef struct {
    const char *event;
    signed char pairs[2][2];
} fd_event;

static const fd_event g_fd_events[] = {
    {"os.mkdir", {{0, 2}, {-1, -1}}},     {"os.rmdir", {{0, 1}, {-1, -1}}},
    {"os.remove", {{0, 1}, {-1, -1}}},    {"os.rename", {{0, 2}, {1, 3}}},
    {"os.link", {{0, 2}, {1, 3}}},        {"os.symlink", {{1, 2}, {-1, -1}}},
    {"os.chmod", {{0, 2}, {-1, -1}}},     {"os.chown", {{0, 3}, {-1, -1}}},
    {"os.utime", {{0, 3}, {-1, -1}}},     {"os.mkfifo", {{0, 2}, {-1, -1}}},
    {"os.mknod", {{0, 3}, {-1, -1}}},     {"os.truncate", {{0, 0}, {-1, -1}}},
    {"os.listdir", {{0, 0}, {-1, -1}}},   {"os.scandir", {{0, 0}, {-1, -1}}},
    {"os.chdir", {{0, 0}, {-1, -1}}},     {"os.setxattr", {{0, 0}, {-1, -1}}},
    {"os.getxattr", {{0, 0}, {-1, -1}}},  {"os.removexattr", {{0, 0}, {-1, -1}}},
    {"os.listxattr", {{0, 0}, {-1, -1}}}, {"os.exec", {{0, 0}, {-1, -1}}},
};

/* Pin the descriptors of this event (see above); `pins->count` 0 when it has none. */
static void
pins_take(const char *event, PyObject *args, fd_pins *pins)
{
    pins->count = 0;
    if (event[0] == 'o' && event[1] == 'p' && strcmp(event, "open") == 0) {
        /* os.open's event (the sealed os.open's, at this depth): its dir_fd, for a name that
         * may be relative */
        if (t_open_dir_fd >= 0 && t_open_depth == t_depth && PyTuple_CheckExact(args) &&
            PyTuple_GET_SIZE(args) >= 1 && !path_is_absolute(PyTuple_GET_ITEM(args, 0))) {
            PyObject *fd = PyLong_FromLong(t_open_dir_fd);
            if (fd == NULL) {
                PyErr_Clear();
                return;
            }
            pin_add(pins, fd);
            Py_DECREF(fd);
        }
        return;
    }
    if (event[0] != 'o' || event[1] != 's' || event[2] != '.' || !PyTuple_CheckExact(args)) {
        return;
    }
    const Py_ssize_t size = PyTuple_GET_SIZE(args);
    for (size_t e = 0; e < sizeof g_fd_events / sizeof g_fd_events[0]; e++) {
        if (strcmp(event, g_fd_events[e].event) != 0) {
            continue;
        }
        for (int p = 0; p < 2; p++) {
            const int at = g_fd_events[e].pairs[p][0], fd_at = g_fd_events[e].pairs[p][1];
            if (at < 0 || at >= size) {
                continue;
            }
            PyObject *path = PyTuple_GET_ITEM(args, at);
            if (PyLong_Check(path)) {
                pin_add(pins, path); /* a descriptor given for a path */
            }
            else if (fd_at != at && fd_at < size && !path_is_absolute(path)) {
                pin_add(pins, PyTuple_GET_ITEM(args, fd_at));
            }
        }
        return;
    }
}

/* The descriptor whose pin no longer holds, or -1 (every one does). */
static int
pins_changed(const fd_pins *pins)
{
    for (int i = 0; i < pins->count; i++) {
        if (!pin_holds(&pins->pin[i])) {
            return pins->pin[i].fd;
        }
    }
    return -1;
}

/* core.descriptors_pinned(): what the descriptors this thread's decision pinned named when it
 * began, one (fd, st_mode, st_dev, st_ino, name or None) each -- (fd, 0, 0, 0, None) for one
 * that was not open then; name None where /proc gives none -- () outside a decision or when
 * it pinned none. */
static PyObject *
core_descriptors_pinned(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    const fd_pins *pins = t_pins;
    const int count = pins != NULL ? pins->count : 0;
    PyObject *out = PyTuple_New(count);
    for (int i = 0; out != NULL && i < count; i++) {
        const fd_pin *pin = &pins->pin[i];
        PyObject *name = Py_None;
        if (pin->got == 0 && pin->n >= 0) {
            name = PyUnicode_DecodeFSDefaultAndSize(pin->name, pin->n);
            if (name == NULL) {
                Py_CLEAR(out);
                break;
            }
        }
        else {
            Py_INCREF(name);
        }
        PyObject *item = Py_BuildValue("(iIKKN)", pin->fd, pin->mode, pin->dev, pin->ino, name);
        if (item == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyTuple_SET_ITEM(out, i, item);
    }
    return out;
}

/* Descriptors this thread's last answer named through /proc (/proc/self/fd/N, /dev/fd/N,
 * /dev/stdout...: the kernel follows the link again at the system call, which an unheld
 * caller such as io.open makes after the event): held in use from the decision up to the
 * thread's next event (core_hook), its native id kept so that a hold of a thread that ended
 * is let go (dup2_sealed). */
#define HELD_MAX 4
static CORE_TLS int t_held[HELD_MAX];
static CORE_TLS int t_held_n;
static CORE_TLS int t_held_new; /* (held by the answer running now: see core_hook) */
static struct {
    int fd;
    long tid;
} g_held_by[FDS_IN_USE];

static void
held_release(void)
{
    for (int i = 0; i < t_held_n; i++) {
        fd_unuse(t_held[i]);
        for (int j = 0; j < FDS_IN_USE; j++) {
            if (g_held_by[j].fd == t_held[i] && g_held_by[j].tid == (long)syscall(SYS_gettid)) {
                g_held_by[j].tid = 0;
                break;
            }
        }
    }
    t_held_n = 0;
}

/* core.descriptor_hold(fd): from the sandbox's own code inside a decision whose name goes
 * through the /proc link of descriptor `fd` of this process: what it names, read once and
 * pinned for the decision (as descriptors_pinned gives it: (fd, st_mode, st_dev, st_ino, name
 * or None)) -- the walk follows that name, not the live link -- and the descriptor held in use
 * up to this thread's next event. None outside a decision; False when no more can be held
 * (the caller refuses the name). */
static PyObject *
core_descriptor_hold(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyLong_CheckExact(arg)) {
        PyErr_SetString(PyExc_TypeError, "descriptor_hold: fd must be int");
        return NULL;
    }
    int fd = descriptor_number(arg);
    fd_pins *pins = t_pins;
    if (pins == NULL || t_depth != 1) {
        Py_RETURN_NONE; /* (only the top decision's: a nested one ends before its call) */
    }
    if (fd < 0) {
        Py_RETURN_FALSE;
    }
    int at = -1;
    for (int i = 0; i < pins->count; i++) {
        if (pins->pin[i].fd == fd) {
            at = i;
        }
    }
    int held = 0;
    for (int i = 0; i < t_held_n; i++) {
        held |= t_held[i] == fd;
    }
    if ((at < 0 && pins->count >= PINS_MAX) || (!held && t_held_n >= HELD_MAX)) {
        Py_RETURN_FALSE;
    }
    if (!held) {
        if (!fd_use(fd)) {
            Py_RETURN_FALSE;
        }
        t_held[t_held_n++] = fd;
        t_held_new = 1;
        for (int j = 0; j < FDS_IN_USE; j++) {
            if (g_held_by[j].tid == 0) {
                g_held_by[j].fd = fd;
                g_held_by[j].tid = (long)syscall(SYS_gettid);
                break;
            }
        }
    }
    if (at < 0) {
        at = pins->count++;
        pin_read(fd, &pins->pin[at]);
    }
    const fd_pin *pin = &pins->pin[at];
    PyObject *name = Py_None;
    if (pin->got == 0 && pin->n >= 0) {
        name = PyUnicode_DecodeFSDefaultAndSize(pin->name, pin->n);
        if (name == NULL) {
            return NULL;
        }
    }
    else {
        Py_INCREF(name);
    }
    return Py_BuildValue("(iIKKN)", pin->fd, pin->mode, pin->dev, pin->ino, name);
}

/* Whether a hold of `fd` belongs to a thread that no longer runs (its hold is let go then). */
static int
held_by_gone_thread(long fd)
{
    int any = 0, gone = 1;
    for (int j = 0; j < FDS_IN_USE; j++) {
        if (g_held_by[j].tid != 0 && g_held_by[j].fd == fd) {
            char task[48];
            struct stat st;
            any = 1;
            (void)snprintf(task, sizeof task, "/proc/self/task/%ld", g_held_by[j].tid);
            if (stat(task, &st) == 0) {
                gone = 0;
            }
        }
    }
    return any && gone;
}

/* Call the callback with tracing, the cyclic GC and Python signal handlers off; decide. */
static int
decide(const char *event, PyObject *args)
{
    release_held();
    /* (the working directory as at the decision's start: see seal_cwd_changes) */
    const unsigned long long cwd_changes = g_cwd_changes;
    /* (this decision's descriptors, read once, at the depth of its event: see "Descriptors
     * pinned") */
    fd_pins pins;
    pins_take(event, args, &pins);
    PyObject *caller = NULL;
    PyFrameObject *event_frame = NULL;
    if (name_set_has(&g_caller_events, event)) {
        event_frame = PyEval_GetFrame(); /* borrowed */
        if (event_frame != NULL) {
            Py_INCREF(event_frame);
            caller = (PyObject *)PyFrame_GetCode(event_frame);
        }
    }
    if (caller == NULL) {
        caller = Py_None;
        Py_INCREF(caller);
    }
    PyObject *name = PyUnicode_FromString(event);
    if (name == NULL) {
        Py_DECREF(caller);
        Py_XDECREF(event_frame);
        return -1;
    }
    PyObject *callback = g_callback;
    Py_INCREF(callback);

    unsigned long deferred = defer_signal_handlers();
    int gc_was_enabled = PyGC_Disable() || g_gc_held;
    g_gc_held = 0;
    PyThreadState *ts = PyThreadState_Get();
    tracing_off(ts);
    t_depth++;
    PyFrameObject *outer_event_frame = t_event_frame;
    t_event_frame = event_frame;
    int outer_decision_invoke = t_decision_invoke;
    t_decision_invoke = invoke_now();
    unsigned long long outer_decision_changes = t_decision_changes;
    unsigned long long outer_own_changes = t_own_changes;
    t_decision_changes = g_changes - t_own_changes;
    frame_guard_on();

    fd_pins *outer_pins = t_pins;
    t_pins = &pins; /* (a nested decision sees its own only) */

    PyObject *argv[3] = {name, args, caller};
    stack_grant(ts, HOOK_STACK);
    PyObject *result = PyObject_Vectorcall(callback, argv, 3, NULL);
    stack_grant(ts, -HOOK_STACK);
    t_pins = outer_pins;

    frame_guard_off();
    t_event_frame = outer_event_frame;
    t_decision_invoke = outer_decision_invoke;
    t_decision_changes = outer_decision_changes;
    /* What this decision's own code changed is its own; to a decision it ran inside of (a
     * nested one: foreign code inside the callback raised the event), it is a change made by
     * something else meanwhile. */
    t_own_changes = outer_own_changes;
    Py_XDECREF(event_frame);
    t_depth--;
    tracing_on(ts);
    if (t_depth > 0) {
        /* a nested decision (foreign code inside the callback): the outer one releases */
        if (gc_was_enabled) {
            g_gc_held = 1;
        }
        if (deferred != 0) {
            _PyRuntime.main_thread = deferred;
        }
    }
    else {
        release_after_decision(ts, deferred, gc_was_enabled);
    }
    Py_DECREF(callback);
    Py_DECREF(name);
    Py_DECREF(caller);

    if (result == NULL) {
        /* The callback raised (a bug of the sandbox's, a recursion limit, an odd argument):
         * its exception holds the callback's frames in its traceback (and its context's),
         * whose locals lead to everything the hook decides with. It never leaves: a fresh
         * PermissionError stands for it, naming its type only (fail closed). */
        strip_raised(); /* (its chain too: the function may hold any exception in it) */
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        const char *what = type != NULL && PyType_Check(type) ? ((PyTypeObject *)type)->tp_name
                                                              : "an exception";
        PyObject *message = PyUnicode_FromFormat(
            "lambda-sandbox: %s refused (the hook failed deciding it: %.80s)", event, what);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
        if (message != NULL) {
            PyErr_SetObject(PyExc_PermissionError, message);
            Py_DECREF(message);
        }
        return -1;
    }
    if (result == Py_None) {
        Py_DECREF(result);
        if (g_cwd_changes != cwd_changes || g_cwd_in_flight > t_cwd_in_flight) {
            /* another thread changed the working directory while this was decided: a
             * relative name may lead elsewhere now (refused whatever it was: fail closed) */
            PyErr_Format(PyExc_PermissionError,
                         "lambda-sandbox: %s refused (another thread changed the working "
                         "directory while it was decided)",
                         event);
            return -1;
        }
        int changed = pins_changed(&pins);
        if (changed >= 0) {
            /* what the call will act on is not what was decided (fail closed) */
            PyErr_Format(PyExc_PermissionError,
                         "lambda-sandbox: %s refused (descriptor %d was changed while it was "
                         "decided)",
                         event, changed);
            return -1;
        }
        return 0;
    }
    if (PyExceptionInstance_Check(result)) {
        /* Raise it from here: no frame of the sandbox in the caller's traceback, and none
         * through an exception it was made while handling (its context or cause). */
        PyException_SetTraceback(result, Py_None);
        PyException_SetContext(result, NULL);
        PyException_SetCause(result, NULL);
        PyErr_SetObject((PyObject *)Py_TYPE(result), result);
        Py_DECREF(result);
        return -1;
    }
    PyErr_Format(PyExc_TypeError,
                 "lambda-sandbox: audit callback returned %.80s (expected None or an exception)",
                 Py_TYPE(result)->tp_name);
    Py_DECREF(result);
    return -1;
}

/* A refusal of the core's own about SQLite (`what`: what was refused, and why), reported as a
 * finding by the callback (its handler of SQLITE_REFUSED_EVENT): 0 allowed (learn, alert: the
 * finding says "would-block"), -1 refused (enforce: the finding's exception set). */
static int
sqlite_refusal(const char *what)
{
    PyObject *args = Py_BuildValue("(s)", what);
    if (args == NULL) {
        return -1;
    }
    int answer = decide(SQLITE_REFUSED_EVENT, args);
    Py_DECREF(args);
    return answer;
}

/* Module verdicts: dotted prefixes ("a.", "a.b.") below which the policy allows importing
 * every name in a phase -- a rule covers them all (a package rule "a.**", "{stdlib}", a head
 * "a.b.**") and no ceiling entry can match any of them (see Policy.modules_below_allowed) --
 * or, for a "children" verdict, every name directly below it (the prefix and a text with no
 * dot: a rule "a.b.*"; Policy.module_children_allowed). The hook adds one
 * (module_verdict_add, only from its own code inside the callback) after it allowed an import
 * under it; from then on the import guard's question (import_known) and the `import` event of
 * a name it covers are answered here. A name is looked up by each of its prefixes that ends in
 * a dot (and, for children, by the one up to its last dot): a few probes of a small table.
 * A *package* verdict (module_packages_add) holds a top-level name with no dot: that name and
 * every name below it (a package rule "a.**" or "{stdlib}" that no ceiling entry reaches),
 * added in bulk -- every such package of the phase at once, at the first import of one of them
 * the hook allowed -- so a process's first import of each top-level name (a few hundred of
 * them in `import boto3`, stdlib included) needs no callback. */
#define MODV_LIMIT 1024
#define MODV_SLOTS 4096 /* power of two, four times the limit */

typedef struct {
    uint64_t hash;
    size_t len;
    int phase;
    int children; /* 0: every name below the prefix; 1: only the names directly below it;
                   * MODV_PACKAGE: the name (a top-level name, no dot) and every name below */
    char *data;   /* NULL: empty slot */
} modv_slot;

#define MODV_PACKAGE 2
#define MODV_PACKAGE_MAX 255 /* a top-level name: one file name's length at most */

static modv_slot g_modv[MODV_SLOTS];
static size_t g_modv_count;

static inline uint64_t
modv_hash(const char *s, size_t n, int phase, int children)
{
    return bytes_hash(s, n, 16 + (uint64_t)phase + 2 * (uint64_t)children);
}

static size_t
modv_find(const char *s, size_t n, int phase, int children, uint64_t h, int *found)
{
    size_t j = (size_t)h & (MODV_SLOTS - 1);
    for (;;) {
        modv_slot *slot = &g_modv[j];
        if (slot->data == NULL) {
            *found = 0;
            return j;
        }
        if (slot->hash == h && slot->len == n && slot->phase == phase &&
            slot->children == children && memcmp(slot->data, s, n) == 0) {
            *found = 1;
            return j;
        }
        j = (j + 1) & (MODV_SLOTS - 1);
    }
}

static void
modv_clear_all(void)
{
    for (size_t i = 0; i < MODV_SLOTS; i++) {
        if (g_modv[i].data != NULL) {
            PyMem_RawFree(g_modv[i].data);
            g_modv[i].data = NULL;
        }
    }
    g_modv_count = 0;
}

/* Whether a verdict of `phase` covers the module name (one-byte code units, n >= 1). */
static int
modv_covers(const char *name, size_t n, int phase)
{
    if (g_modv_count == 0) {
        return 0;
    }
    int found;
    const char *dot = memchr(name, '.', n);
    size_t top = dot != NULL ? (size_t)(dot - name) : n; /* the top-level name */
    if (top >= 1 && top <= MODV_PACKAGE_MAX) {
        modv_find(name, top, phase, MODV_PACKAGE, modv_hash(name, top, phase, MODV_PACKAGE),
                  &found);
        if (found) {
            return 1;
        }
    }
    size_t last = 0; /* the last dot (0: none past the first unit) */
    for (size_t i = 1; i < n; i++) {
        if (name[i] == '.') {
            last = i;
            modv_find(name, i + 1, phase, 0, modv_hash(name, i + 1, phase, 0), &found);
            if (found) {
                return 1;
            }
        }
    }
    if (last == 0) {
        return 0;
    }
    modv_find(name, last + 1, phase, 1, modv_hash(name, last + 1, phase, 1), &found);
    return found;
}

#define IMPORT_NAME_MAX 1024

/* An exact str module name the core may answer: one byte per code unit, 1-1024 of them, not
 * starting with NUL (the undecodable marker). Its units, or NULL (PyErr cleared). */
static const char *
import_name_units(PyObject *name, size_t *n)
{
    if (!PyUnicode_CheckExact(name)) {
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(name) < 0) {
        PyErr_Clear();
        return NULL;
    }
#endif
    Py_ssize_t len = PyUnicode_GET_LENGTH(name);
    if (PyUnicode_KIND(name) != PyUnicode_1BYTE_KIND || len < 1 || len > IMPORT_NAME_MAX) {
        return NULL;
    }
    const char *units = (const char *)PyUnicode_DATA(name);
    if (units[0] == '\0') {
        return NULL;
    }
    *n = (size_t)len;
    return units;
}

/* Whether the hook's answer to importing this name in the current phase is known to be
 * "allowed": the decision cache holds "modules" SEP "import" SEP phase SEP name (the
 * callback's own first lookup, the key built the same way), or a module verdict covers it. */
static int
import_name_known(const char *units, size_t len)
{
    static const char head[] = "modules\x1fimport\x1f";
    int phase = invoke_now();
    if (g_cache_count > 0) {
        const char *word = phase ? "invoke" : "init";
        char key[sizeof(head) + 8 + IMPORT_NAME_MAX];
        size_t n = sizeof(head) - 1, p = strlen(word);
        memcpy(key, head, n);
        memcpy(key + n, word, p);
        n += p;
        key[n++] = '\x1f';
        memcpy(key + n, units, len);
        n += len;
        int found;
        cache_find(bytes_hash(key, n, 1), 1, key, (Py_ssize_t)n, &found);
        if (found) {
            return 1;
        }
    }
    return modv_covers(units, len, phase);
}

/* An `import` event the decision cache already allowed (the import guard's decision of the same
 * name comes first), or a module verdict covers: answered here, as the callback would -- its
 * first steps for an exact str name are the decision-cache lookup of this very key
 * ("modules" SEP "import" SEP phase SEP name, built the same way), then the ceiling and the
 * rules, which a verdict answered for every name below its prefix. Names of another kind,
 * empty, too long or starting with the undecodable marker, and a C extension's event (it
 * carries the file), go to the callback. */
/* ------------------------------------------------------------------------------------- */
/* The deployment's trees: folders no write rule of the profile can reach into             */
/*
 * deployment_rules(steady_trees, import_roots), told once before install from the callback's
 * own data: decoders/code.steady_trees(STEADY_PREFIXES) -- the steady folders (each + "/")
 * below which no name at any depth, nor the folder or one on the way to it, is one a `files
 * write` rule may match -- and INSTALL_IMPORT_ROOTS. Below such a tree every folder is one
 * decoders/code.deployment_file finds steady (the unmarshal of a module's .pyc: answered in
 * the first module of each folder too, not only once the callback has told the folder), and
 * every name extension_at_home checks is no rule's to write (a C extension's own file at an
 * import root: extension_answered). Items that are not plain ASCII are left out (the callback
 * decides there). */
#define DEP_LIMIT 64
static char *g_dep_trees[DEP_LIMIT];
static size_t g_dep_tree_lens[DEP_LIMIT];
static size_t g_dep_tree_count;
static char *g_ext_roots[DEP_LIMIT];
static size_t g_ext_root_lens[DEP_LIMIT];
static size_t g_ext_root_count;
static int g_dep_given; /* (deployment_rules was called: once) */

/* Whether the absolute name p[0, n) is below one of the trees (strictly: a tree ends in "/"). */
static int
dep_under_tree(const char *p, size_t n)
{
    for (size_t i = 0; i < g_dep_tree_count; i++) {
        size_t len = g_dep_tree_lens[i];
        if (n > len && memcmp(p, g_dep_trees[i], len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* decoders/code.module_file_at_root (and extension_at_home: a C extension's leaf is no ".pyc")
 * over install's import roots: `path` (plain) is where the import system finds module `name`'s
 * own file -- <root>/a/b.<suffix> or <root>/a/b/__init__.<suffix> for a.b, a .pyc in a
 * __pycache__ folder standing for that folder. */
static int
module_file_at_import_root(const char *path, size_t n, const char *name, size_t name_len)
{
    const char *slash = memrchr(path, '/', n);
    if (slash == NULL) {
        return 0;
    }
    size_t dir_len = (size_t)(slash - path);
    const char *leaf = slash + 1;
    size_t leaf_len = n - dir_len - 1;
    if (leaf_len >= 4 && memcmp(leaf + leaf_len - 4, ".pyc", 4) == 0 && dir_len >= 12 &&
        memcmp(path + dir_len - 12, "/__pycache__", 12) == 0) {
        dir_len -= 12;
    }
    const char *dot = memchr(leaf, '.', leaf_len);
    size_t stem_len = dot != NULL ? (size_t)(dot - leaf) : leaf_len;
    if (stem_len == 0) {
        return 0; /* (".<suffix>": the file of no module) */
    }
    int package = stem_len == 8 && memcmp(leaf, "__init__", 8) == 0;
    /* place: the folder (a package's __init__) or the folder + "/" + the stem; it must be an
     * import root + "/" + the name's parts as folders */
    size_t place_len = package ? dir_len : dir_len + 1 + stem_len;
    if (name_len == 0 || place_len < name_len + 1) {
        return 0;
    }
    size_t root_len = place_len - name_len - 1;
    for (size_t i = 0; i < name_len + 1; i++) {
        size_t at = root_len + i; /* the place's character there */
        char have = at < dir_len ? path[at] : (at == dir_len ? '/' : leaf[at - dir_len - 1]);
        char want = i == 0 ? '/' : (name[i - 1] == '.' ? '/' : name[i - 1]);
        if (have != want) {
            return 0;
        }
    }
    if (root_len > dir_len) {
        return 0; /* (the root would end inside the stem) */
    }
    for (size_t i = 0; i < g_ext_root_count; i++) {
        if (g_ext_root_lens[i] == root_len && memcmp(g_ext_roots[i], path, root_len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* decoders/modules._import on a C extension's `import` event (name, file, ...), where it
 * hands on the one access ("modules", "import", name) -- the file an exact str, plain
 * (modules._plain), read by the loader as spelled (no "$"), the module's own file at an
 * import root as install found it (decoders/code.extension_at_home) -- and the hook's
 * check would allow it from its decision cache or a module verdict (import_name_known): the
 * same test the `import` event with no file already gets here. Only below a deployment tree
 * (extension_at_home's write-rule walk then finds nothing: see above). 1: allowed. Anything
 * else -- non-ASCII, another file, another root, a name not known yet -- goes to the
 * callback, which decides it as it always did (the first load of a name among them). */
static int
extension_answered(PyObject *args)
{
    if (g_ext_root_count == 0 || g_dep_tree_count == 0) {
        return 0;
    }
    size_t name_len;
    const char *name = import_name_units(PyTuple_GET_ITEM(args, 0), &name_len);
    if (name == NULL || name[0] == '.' || name[name_len - 1] == '.' ||
        memmem(name, name_len, "..", 2) != NULL || memchr(name, '/', name_len) != NULL) {
        return 0; /* (decoders/code._dotted_name: no empty part, no "/") */
    }
    const char *path;
    Py_ssize_t path_len;
    int plain = ascii_of(PyTuple_GET_ITEM(args, 1), &path, &path_len);
    if (plain != 1) {
        if (plain < 0) {
            PyErr_Clear();
        }
        return 0;
    }
    size_t n = (size_t)path_len;
    if (n > OPEN_PATH_MAX || !plain_absolute(path, n) || memchr(path, '$', n) != NULL) {
        return 0; /* (modules._plain, _loader_reads_as_spelled) */
    }
    if (!dep_under_tree(path, n)) {
        return 0;
    }
    return module_file_at_import_root(path, n, name, name_len) &&
           import_name_known(name, name_len);
}

static int
import_cached(PyObject *args)
{
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) < 1) {
        return 0;
    }
    if (PyTuple_GET_SIZE(args) > 1 && PyTuple_GET_ITEM(args, 1) != Py_None) {
        /* a C extension's file: the callback decides what loads it, in every phase (the
         * module's own file in a folder install trusts, else native code: modules._import),
         * but for the module's own file at home below a deployment tree, under a name
         * already allowed */
        return extension_answered(args);
    }
    size_t len;
    const char *units = import_name_units(PyTuple_GET_ITEM(args, 0), &len);
    return units != NULL && import_name_known(units, len);
}

/* An `exec` event that runs no module's code: the callback's answer is None
 * (decoders/code.py _exec: eval/exec of compiled source or of a function's code were decided
 * where the code was made; only a "<module>" code object of an absolute file is a module
 * running). Answered here for a code object whose name, or file, shows it at once; anything
 * else (another object, a str subclass) goes to the callback. */
static int
exec_runs_no_module(PyObject *args)
{
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) < 1) {
        return 0;
    }
    PyObject *code = PyTuple_GET_ITEM(args, 0);
    if (!PyCode_Check(code)) {
        return 0;
    }
    PyObject *name = ((PyCodeObject *)code)->co_name;
    if (PyUnicode_CheckExact(name) && PyUnicode_CompareWithASCIIString(name, "<module>") != 0) {
        return 1;
    }
    PyObject *filename = ((PyCodeObject *)code)->co_filename;
    if (!PyUnicode_CheckExact(filename)) {
        return 0;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(filename) < 0) {
        PyErr_Clear();
        return 0;
    }
#endif
    return PyUnicode_GET_LENGTH(filename) == 0 || PyUnicode_READ_CHAR(filename, 0) != '/';
}

/* Module files the import system reads during init. The files decoder lets such a read pass
 * unresolved (files._imports_at_init): an exact-str path read only, a module file's name,
 * under a module root (module_prefixes), no "/./" or "/../", a regular file itself (lstat:
 * not a link to anything else), raised by one of the import
 * system's readers (import_codes: the innermost frame's code, by identity) -- and notes the
 * module's source as loaded (LOADED_SOURCES, for the traceback readers later). The core does
 * the same here; the sources go to a queue the callback takes (loaded_sources()) before it
 * decides anything. A full queue: the callback decides (and takes it). */
#define MODULE_PREFIX_LIMIT 64
#define LOADED_LIMIT 1024
static char *g_module_prefixes[MODULE_PREFIX_LIMIT];
static size_t g_module_prefix_lens[MODULE_PREFIX_LIMIT];
static size_t g_module_prefix_count;
static char *g_loaded[LOADED_LIMIT];
static size_t g_loaded_count;

/* ------------------------------------------------------------------------------------- */
/* A module's code run in an invocation                                                    */
/*
 * module_exec_rules(exec_trees), told once before install (enforce and alert) from the
 * policy: the module roots (each + "/") below which the invoke phase's `code exec` rules
 * allow every file at any depth and no ceiling entry reaches (Policy.tree_allowed). An `exec`
 * event of a module's code in an invocation (a "<module>" code object: an import loading it)
 * is then answered here where the callback's decoders/code._exec would find both of its
 * accesses allowed: `code exec <file>` (the file, plain ASCII and already normal, below such a
 * tree) and `modules import <name>` for the name module_name derives from the file under the
 * module roots (install's module_prefixes, in their order), which the decision cache or a
 * module verdict already allows (the import event before it was decided). Anything else --
 * another object, a name of another kind, a file outside the trees, a name not known -- goes
 * to the callback. */
static char *g_exec_trees[DEP_LIMIT];
static size_t g_exec_tree_lens[DEP_LIMIT];
static size_t g_exec_tree_count;
static int g_exec_given;
static int g_module_prefixes_cut; /* install's module_prefixes did not all fit: no answer */

/* decoders/code.module_name over install's module prefixes: the dotted name of `path` (n
 * units, plain ASCII) in out (IMPORT_NAME_MAX), its length; 0: none (the callback's None);
 * -1: a name longer than IMPORT_NAME_MAX, which the callback decides (red team 68: taken for
 * "none", a 1,100-character one ran as the code exec alone). */
static Py_ssize_t
module_name_of(const char *path, size_t n, char *out)
{
    for (size_t i = 0; i < g_module_prefix_count; i++) {
        size_t m = g_module_prefix_lens[i];
        if (n < m || memcmp(path, g_module_prefixes[i], m) != 0) {
            continue;
        }
        const char *rest = path + m;
        size_t len = n - m;
        if (len >= 12 && memcmp(rest + len - 12, "/__init__.py", 12) == 0) {
            len -= 12;
        }
        else if (len >= 3 && memcmp(rest + len - 3, ".py", 3) == 0) {
            len -= 3;
        }
        else if (len >= 4 && memcmp(rest + len - 4, ".pyc", 4) == 0) {
            len -= 4;
        }
        else {
            return 0;
        }
        if (len == 0 || memchr(rest, '.', len) != NULL) {
            return 0;
        }
        if (len > IMPORT_NAME_MAX) {
            return -1;
        }
        for (size_t j = 0; j < len; j++) {
            out[j] = rest[j] == '/' ? '.' : rest[j];
        }
        return (Py_ssize_t)len;
    }
    return 0;
}

static int
exec_module_answered(PyObject *args)
{
    if (g_exec_tree_count == 0 || g_module_prefixes_cut || !invoke_now() ||
        !PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) < 1) {
        return 0;
    }
    PyObject *code = PyTuple_GET_ITEM(args, 0);
    if (!PyCode_Check(code)) {
        return 0;
    }
    PyObject *name = ((PyCodeObject *)code)->co_name;
    if (!PyUnicode_CheckExact(name) || PyUnicode_CompareWithASCIIString(name, "<module>") != 0) {
        return 0;
    }
    const char *path;
    Py_ssize_t n;
    int plain = ascii_of(((PyCodeObject *)code)->co_filename, &path, &n);
    if (plain != 1) {
        if (plain < 0) {
            PyErr_Clear();
        }
        return 0;
    }
    /* (already what decoders/code._norm makes of it: no empty, "." or ".." component) */
    if (n > OPEN_PATH_MAX || !plain_absolute(path, (size_t)n)) {
        return 0;
    }
    int in_tree = 0;
    for (size_t i = 0; i < g_exec_tree_count && !in_tree; i++) {
        in_tree = (size_t)n > g_exec_tree_lens[i] &&
                  memcmp(path, g_exec_trees[i], g_exec_tree_lens[i]) == 0;
    }
    if (!in_tree) {
        return 0;
    }
    char dotted[IMPORT_NAME_MAX];
    Py_ssize_t len = module_name_of(path, (size_t)n, dotted);
    /* (no name: the callback's only access is the code exec, allowed by the tree) */
    return len == 0 || (len > 0 && import_name_known(dotted, (size_t)len));
}

/* Whether `path` (n units) is at or below a module root (`itself`: the root itself counts),
 * and the innermost Python function is one of the import system's readers: the init-phase
 * answers' common test (init_module_read, init_module_list). */
static int
import_system_at_root(const char *path, size_t n, int itself)
{
    int under_root = 0;
    for (size_t i = 0; i < g_module_prefix_count && !under_root; i++) {
        size_t m = g_module_prefix_lens[i]; /* a root and its "/" */
        under_root = (n >= m && memcmp(path, g_module_prefixes[i], m) == 0) ||
                     (itself && n + 1 == m && memcmp(path, g_module_prefixes[i], n) == 0);
    }
    if (!under_root) {
        return 0;
    }
    PyObject *code = innermost_code();
    int importing = code != NULL && code_set_has(&g_import_codes, code);
    Py_XDECREF(code);
    return importing;
}

/* Note a module file's source (code.module_source: .../__pycache__/b.<tag>.pyc -> .../b.py)
 * as loaded, for the callback to take (loaded_sources()): 1, or 0 (no memory, or no room
 * left: the callback decides). `path` holds no NUL. */
static int
note_loaded_source(const char *path, size_t len)
{
    if (g_loaded_count >= LOADED_LIMIT) {
        return 0; /* (core_open_code notes after its open, which let other threads note first) */
    }
    const char *slash = memrchr(path, '/', len);
    size_t dir_len = slash != NULL ? (size_t)(slash - path) : 0;
    static const char cache_dir[] = "/__pycache__";
    size_t cache_len = sizeof(cache_dir) - 1;
    char *source;
    if (slash != NULL && ends_with(path, (Py_ssize_t)len, ".pyc") && dir_len >= cache_len &&
        memcmp(path + dir_len - cache_len, cache_dir, cache_len) == 0) {
        const char *leaf = slash + 1;
        const char *dot = memchr(leaf, '.', len - dir_len - 1);
        size_t stem = (size_t)(dot - leaf);
        size_t base = dir_len - cache_len;
        source = PyMem_RawMalloc(base + 1 + stem + 4);
        if (source == NULL) {
            return 0;
        }
        memcpy(source, path, base);
        source[base] = '/';
        memcpy(source + base + 1, leaf, stem);
        memcpy(source + base + 1 + stem, ".py", 4);
    }
    else {
        source = PyMem_RawMalloc(len + 1);
        if (source == NULL) {
            return 0;
        }
        memcpy(source, path, len);
        source[len] = '\0';
    }
    g_loaded[g_loaded_count++] = source;
    return 1;
}

/* `key`: the event's, parsed once by core_hook (open_key_parse: its name may hold a NUL).
 * `by_open_code`: the event core_open_code raised for the read it makes next itself. */
static int
init_module_read(const open_key *parsed, int by_open_code)
{
    if (g_module_prefix_count == 0 || g_loaded_count >= LOADED_LIMIT) {
        return 0;
    }
    /* (the name's suffix first: most files opened at init are no module's) */
    if (!module_file_name(parsed->path, (size_t)parsed->len) ||
        memchr(parsed->path, 0, (size_t)parsed->len) != NULL) {
        return 0;
    }
    open_key key = *parsed;
    int reads, writes;
    open_actions(&key, &reads, &writes);
    if (!reads || writes) {
        return 0;
    }
    if (strstr(key.path, "/../") != NULL || strstr(key.path, "/./") != NULL) {
        return 0;
    }
    if (!import_system_at_root(key.path, (size_t)key.len, 0)) {
        return 0;
    }
    if (by_open_code && t_promise_slot != NULL && !g_no_openat2 &&
        plain_absolute(key.path, (size_t)key.len)) {
        /* core_open_code opens it with no link on the way and notes its source, or asks again */
        *t_promise_slot = 1;
        return 1;
    }
    struct stat st;
    if (lstat(key.path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return 0; /* a link (its name says nothing of what it leads to), or no plain file */
    }
    return note_loaded_source(key.path, (size_t)key.len);
}

/* Module files the import system reads in an invocation: decoders/files._for_the_machinery's
 * answer for them (no access), in C. The callback resolves the name and proves a real import:
 * every frame from the reader up to _find_and_load importlib's (importing), the file the
 * module's own (file_is_module) where the import system finds it by that name
 * (module_file_at_root), the import of that name decided already (import_known); and notes the
 * module's source as loaded. The core does the same for a plain name (no empty, "." or ".."
 * component) reached with no link on the way (plain_lstat: the name is its own resolution), a
 * regular file (no FIFO), read only, under a module root, by one of the import system's
 * readers (the innermost frame's code), a .py or a .pyc in a __pycache__ folder (no
 * pycache_prefix tree), at one of install's import roots (the callback also counts the
 * folders sys.path holds when init ends: reads there go to it). Anything else goes to the
 * callback. */
static PyObject *mb_importing(PyFrameObject *frame);
static int mb_file_is_module(const char *p, size_t n, const char *name, size_t name_len);
static int g_mb_ready; /* (module_bytecode_rules given: the frames below; defined there) */

static int
invoke_module_read(const open_key *key, int by_open_code)
{
    if (g_loaded_count >= LOADED_LIMIT || g_ext_root_count == 0 || !g_mb_ready) {
        return 0;
    }
    const char *path = key->path;
    size_t n = (size_t)key->len;
    /* (the suffix first: this runs for every open in an invocation, most of them no module's) */
    int pyc = ends_with(path, (Py_ssize_t)n, ".pyc");
    if ((!pyc && !ends_with(path, (Py_ssize_t)n, ".py")) || !plain_absolute(path, n)) {
        return 0;
    }
    const char *slash = memrchr(path, '/', n);
    size_t dir_len = (size_t)(slash - path);
    if (pyc && !(dir_len >= 12 && memcmp(path + dir_len - 12, "/__pycache__", 12) == 0)) {
        return 0;
    }
    int reads, writes;
    open_actions(key, &reads, &writes);
    if (!reads || writes) {
        return 0;
    }
    int under_root = 0;
    for (size_t i = 0; i < g_module_prefix_count && !under_root; i++) {
        size_t m = g_module_prefix_lens[i];
        under_root = n > m && memcmp(path, g_module_prefixes[i], m) == 0;
    }
    if (!under_root) {
        return 0;
    }
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed: the reader's */
    if (frame == NULL) {
        return 0;
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    int reader = code_set_has(&g_import_codes, (PyObject *)code);
    Py_DECREF(code);
    if (!reader) {
        return 0;
    }
    PyObject *name = mb_importing(frame);
    if (name == NULL) {
        return 0;
    }
    size_t name_len;
    const char *units = import_name_units(name, &name_len);
    int known = units != NULL && mb_file_is_module(path, n, units, name_len) &&
                module_file_at_import_root(path, n, units, name_len) &&
                import_name_known(units, name_len);
    Py_DECREF(name);
    if (!known) {
        return 0;
    }
    if (by_open_code && t_promise_slot != NULL && !g_no_openat2) {
        /* core_open_code opens it with no link on the way and notes its source, or asks again */
        *t_promise_slot = 1;
        return 1;
    }
    struct stat st, folder;
    if (plain_lstat(path, n, &st, &folder) != 0 || !S_ISREG(st.st_mode)) {
        return 0; /* a link on the way or at the end, or no regular file: the callback resolves */
    }
    return note_loaded_source(path, n);
}

/* An `os.listdir` by the import system (its finder filling its cache) of a folder under a
 * module root at init: the files decoder's answer is None (decoders/files.py
 * _lists_at_init, the listing's counterpart of _imports_at_init: not resolved, no stack walk
 * beyond the innermost function). An absolute ASCII name with no "." or ".." segment, no
 * doubled or trailing slash, a root or below one, that is a folder itself (lstat: a link's
 * name says nothing of where it leads). `import boto3` lists some thirty such folders. */
static int
init_module_list(PyObject *args)
{
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) != 1) {
        return 0;
    }
    const char *path;
    Py_ssize_t len;
    int plain = ascii_of(PyTuple_GET_ITEM(args, 0), &path, &len);
    if (plain != 1) {
        if (plain < 0) {
            PyErr_Clear(); /* (the callback decides it, and says why) */
        }
        return 0;
    }
    if (len < 2 || len >= PATH_MAX || path[0] != '/' || path[len - 1] == '/' ||
        memchr(path, 0, (size_t)len) != NULL || strstr(path, "//") != NULL ||
        strstr(path, "/./") != NULL || strstr(path, "/../") != NULL || ends_with(path, len, "/.") ||
        ends_with(path, len, "/..")) {
        return 0;
    }
    if (!import_system_at_root(path, (size_t)len, 1)) {
        return 0;
    }
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* An `open` of an exact int (open(fd), os.fdopen): the files decoder's answer is None, the
 * descriptor's access was decided when it was opened. Exact types only. */
static int
open_wraps_descriptor(PyObject *args)
{
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) != 3) {
        return 0;
    }
    PyObject *mode = PyTuple_GET_ITEM(args, 1);
    return PyLong_CheckExact(PyTuple_GET_ITEM(args, 0)) &&
           (mode == Py_None || PyUnicode_CheckExact(mode)) &&
           PyLong_CheckExact(PyTuple_GET_ITEM(args, 2));
}

/* ------------------------------------------------------------------------------------- */
/* Exec verdicts: a fork_exec the callback allowed, answered again while its program is the */
/* file judged then.                                                                         */
/*
 * The process decoder decides `_posixsubprocess.fork_exec` (the sealed event: candidates,
 * argv, env, cwd, preexec; 3.14's own: candidates, argv, env) on its arguments alone when the
 * one candidate is an absolute program judged plain (neither Python, env nor a script:
 * child.known_plain, by the file's identity) -- the target is the program and argv, the env
 * items each an access of their own, no other state read. The hook keeps such an allowed
 * event (exec_verdict_add, enforce only, with the identity the judgement was made on); the
 * core answers the same arguments in the same phase while a stat of the program gives that
 * identity (dev, inode, links, ctime, mtime, size, mode). The key is a copy of the arguments'
 * bytes, exact types only: list/tuple of exact bytes (argv items: exact bytes or ASCII str),
 * None or a list of exact bytes for env, None, exact bytes or an ASCII str for cwd, False for
 * preexec.
 */
#define EXEC_VERDICT_LIMIT 32
#define EXEC_KEY_MAX 65536

typedef struct {
    unsigned char *key; /* NULL: empty */
    size_t len;
    uint64_t hash;
    int phase;
    char program[OPEN_PATH_MAX + 1];
    unsigned long long dev, ino, nlink, size, mode;
    long long ctime_ns, mtime_ns;
} exec_verdict;

static exec_verdict g_exec[EXEC_VERDICT_LIMIT];
static size_t g_exec_count, g_exec_next;

static void
exec_clear_all(void)
{
    for (size_t i = 0; i < EXEC_VERDICT_LIMIT; i++) {
        PyMem_RawFree(g_exec[i].key);
        g_exec[i].key = NULL;
    }
    g_exec_count = 0;
    g_exec_next = 0;
}

typedef struct {
    unsigned char *data;
    size_t len, cap;
} key_buffer;

static int
key_put(key_buffer *b, const void *p, size_t n)
{
    if (b->len + n > EXEC_KEY_MAX) {
        return 0;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) {
            cap *= 2;
        }
        unsigned char *grown = PyMem_RawRealloc(b->data, cap);
        if (grown == NULL) {
            return 0;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 1;
}

/* One item: a tag (b bytes, s ASCII str, n None) and its length-prefixed bytes. */
static int
key_put_item(key_buffer *b, PyObject *item, int str_ok, int none_ok)
{
    const char *data;
    Py_ssize_t len;
    char tag;
    if (item == Py_None && none_ok) {
        tag = 'n';
        data = "";
        len = 0;
    }
    else if (PyBytes_CheckExact(item)) {
        tag = 'b';
        data = PyBytes_AS_STRING(item);
        len = PyBytes_GET_SIZE(item);
    }
    else if (str_ok) {
        int plain = ascii_of(item, &data, &len);
        if (plain != 1) {
            if (plain < 0) {
                PyErr_Clear();
            }
            return 0;
        }
        tag = 's';
    }
    else {
        return 0;
    }
    uint32_t n = (uint32_t)len;
    return (size_t)len <= EXEC_KEY_MAX && key_put(b, &tag, 1) && key_put(b, &n, sizeof(n)) &&
           key_put(b, data, (size_t)len);
}

static int
key_put_list(key_buffer *b, PyObject *list, int str_ok)
{
    if (!PyList_CheckExact(list) && !PyTuple_CheckExact(list)) {
        return 0;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(list);
    uint32_t count = (uint32_t)n;
    if (n > 4096 || !key_put(b, &count, sizeof(count))) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!key_put_item(b, PySequence_Fast_GET_ITEM(list, i), str_ok, 0)) {
            return 0;
        }
    }
    return 1;
}

/* The key of a fork_exec event's arguments in `b` (b->data to be freed by the caller), and
 * its one program: 1, or 0 when they are not the plain kind this table holds. */
static int
exec_key_of(PyObject *args, key_buffer *b, const char **program, size_t *program_len)
{
    if (!PyTuple_CheckExact(args)) {
        return 0;
    }
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    if (nargs != 3 && !(nargs == 5 && PyTuple_GET_ITEM(args, 4) == Py_False)) {
        return 0;
    }
    PyObject *candidates = PyTuple_GET_ITEM(args, 0);
    if ((!PyList_CheckExact(candidates) && !PyTuple_CheckExact(candidates)) ||
        PySequence_Fast_GET_SIZE(candidates) != 1) {
        return 0;
    }
    PyObject *only = PySequence_Fast_GET_ITEM(candidates, 0);
    if (!PyBytes_CheckExact(only)) {
        return 0;
    }
    const char *name = PyBytes_AS_STRING(only);
    Py_ssize_t name_len = PyBytes_GET_SIZE(only);
    if (name_len < 2 || name_len > OPEN_PATH_MAX || name[0] != '/' ||
        (Py_ssize_t)strlen(name) != name_len || strstr(name, "//") != NULL ||
        strstr(name, "/.") != NULL || name[name_len - 1] == '/') {
        return 0;
    }
    char form = (char)('0' + nargs);
    PyObject *env = PyTuple_GET_ITEM(args, 2);
    if (!key_put(b, &form, 1) || !key_put_list(b, candidates, 0) ||
        !key_put_list(b, PyTuple_GET_ITEM(args, 1), 1)) {
        return 0;
    }
    if (env == Py_None) {
        if (!key_put(b, "N", 1)) {
            return 0;
        }
    }
    else if (!key_put(b, "L", 1) || !key_put_list(b, env, 0)) {
        return 0;
    }
    if (nargs == 5 && !key_put_item(b, PyTuple_GET_ITEM(args, 3), 1, 1)) {
        return 0;
    }
    *program = name;
    *program_len = (size_t)name_len;
    return 1;
}

static int
exec_identity_holds(const exec_verdict *v)
{
    struct stat st;
    return stat(v->program, &st) == 0 && (unsigned long long)st.st_dev == v->dev &&
           (unsigned long long)st.st_ino == v->ino &&
           (unsigned long long)st.st_nlink == v->nlink &&
           (long long)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec == v->ctime_ns &&
           (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec == v->mtime_ns &&
           (unsigned long long)st.st_size == v->size && (unsigned long long)st.st_mode == v->mode;
}

/* A fork_exec the hook allowed with these very arguments in this phase, its program still
 * the file judged then. */
static int
exec_answered(PyObject *args, int phase)
{
    key_buffer b = {NULL, 0, 0};
    const char *program;
    size_t program_len;
    int answered = 0;
    if (exec_key_of(args, &b, &program, &program_len)) {
        uint64_t h = bytes_hash((const char *)b.data, b.len, (uint64_t)phase + 1);
        for (size_t i = 0; i < EXEC_VERDICT_LIMIT; i++) {
            const exec_verdict *v = &g_exec[i];
            if (v->key != NULL && v->hash == h && v->phase == phase && v->len == b.len &&
                memcmp(v->key, b.data, b.len) == 0) {
                answered = exec_identity_holds(v);
                break;
            }
        }
    }
    PyMem_RawFree(b.data);
    return answered;
}

/* ------------------------------------------------------------------------------------- */
/* Popen verdicts: a `subprocess.Popen` event the callback allowed, answered again while    */
/* everything its decision read still holds.                                               */
/*
 * The process decoder decides the usual Popen (an absolute program in normal form, no cwd=,
 * no env=) from the arguments, the code that raised the event, and a fixed set of objects it
 * compares by identity: os's get_exec_path, fsencode, path.join and path.dirname, and
 * subprocess's os (and, where fork_exec is not sealed, the routing of its sealed wrapper),
 * read from the live dicts (processes._popen_problem); Popen's pass_fds (exact ints) and
 * preexec_fn (None), read from the raising frame when it is Popen._execute_child's; os.environ
 * (its class's methods, its views', its own decoders: values._environ_data); and the
 * program's plain verdict (child.known_plain: the verdict table's entry and a stat giving the
 * identity judged). The hook keeps such an allowed event (popen_verdict_add, enforce only)
 * with those objects (`checks`, see POPEN_CHECK_*); the core answers the same arguments from
 * the same code in the same phase while every one of those checks gives what it gave then,
 * re-made here from the live dicts and the raising frame at each event. A check that cannot
 * be made exactly as the decoder makes it (a dict with a key that is not an exact str, a
 * probe that differs) sends the event to the callback, which decides it afresh. The key is a
 * copy of the arguments' bytes, exact types only: an exact ASCII str program, a list or tuple
 * of exact ASCII str argv, cwd and env None.
 */
#define POPEN_VERDICT_LIMIT 32

typedef struct {
    unsigned char *key; /* NULL: empty */
    size_t len;
    uint64_t hash;
    int phase;
    PyObject *caller;  /* the raising code (strong), or None (no Python frame) */
    PyObject *program; /* the event's exact str program (strong): the plain table's key */
    char path[OPEN_PATH_MAX + 1];
    long long identity[7]; /* file_identity's: dev, ino, nlink, ctime, mtime, size, mode */
} popen_verdict;

static popen_verdict g_popen[POPEN_VERDICT_LIMIT];
static size_t g_popen_count, g_popen_next;
static PyObject *g_popen_checks; /* the checks tuple of the last add (strong) */

/* The checks tuple (processes.popen_checks builds it): where each object sits. */
enum {
    POPEN_CHECK_OS,            /* os's own dict (live) */
    POPEN_CHECK_GET_EXEC_PATH, /* ...and the originals found there and in os.path's */
    POPEN_CHECK_FSENCODE,
    POPEN_CHECK_JOIN,
    POPEN_CHECK_DIRNAME,
    POPEN_CHECK_MODULES,       /* sys.modules (live) */
    POPEN_CHECK_EXECUTE_CHILD, /* Popen._execute_child's code: its locals are read */
    POPEN_CHECK_ENVIRON_TYPE,  /* os._Environ */
    POPEN_CHECK_ENVIRON_PROBES, /* ((live dict, name, what it held or None), ...) */
    POPEN_CHECK_DECODEKEY,     /* os.environ's own decoders */
    POPEN_CHECK_DECODEVALUE,
    POPEN_CHECK_ENVIRON_DICT,  /* what attribute lookup finds for __dict__ on os._Environ */
    POPEN_CHECK_PLAIN,         /* child's plain-verdict table (the hook's frozen copy, live) */
    POPEN_CHECK_WRAPPER,       /* None, or (_posixsubprocess's dict, the sealed wrapper,
                                  its audit cell, sys.audit, its original cell, fork_exec) */
    POPEN_CHECKS
};

static PyObject *s_get_exec_path, *s_fsencode, *s_path, *s_join, *s_dirname, *s_subprocess,
    *s_os, *s_environ, *s_dict_name, *s_data, *s_decodekey, *s_decodevalue, *s_fork_exec_name,
    *s_private_fork_exec, *s_pass_fds, *s_preexec_fn;

static PyObject *core_frame_local(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

static int
popen_names_ready(void)
{
    if (s_preexec_fn != NULL) {
        return 1;
    }
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {{&s_get_exec_path, "get_exec_path"}, {&s_fsencode, "fsencode"},
                 {&s_path, "path"},                   {&s_join, "join"},
                 {&s_dirname, "dirname"},             {&s_subprocess, "subprocess"},
                 {&s_os, "os"},                       {&s_environ, "environ"},
                 {&s_dict_name, "__dict__"},          {&s_data, "_data"},
                 {&s_decodekey, "decodekey"},         {&s_decodevalue, "decodevalue"},
                 {&s_fork_exec_name, "fork_exec"},    {&s_private_fork_exec, "_fork_exec"},
                 {&s_pass_fds, "pass_fds"},           {&s_preexec_fn, "preexec_fn"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].slot == NULL) {
            *names[i].slot = PyUnicode_InternFromString(names[i].text);
            if (*names[i].slot == NULL) {
                return 0;
            }
        }
    }
    return 1;
}

/* Whether every key of `d` is an exact str (then a lookup by an exact str runs no code: no
 * key's __eq__ is called), what the decoder's values._exact_str_keys asks; 3.10: never. */
static int
str_keys_only(PyObject *d)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyDict_CheckExact(d) && DK_IS_UNICODE(((PyDictObject *)d)->ma_keys);
#else
    (void)d;
    return 0;
#endif
}

/* dict.get(d, name) of a dict str_keys_only said yes for: borrowed, NULL when absent. */
static PyObject *
probe(PyObject *d, PyObject *name)
{
    PyObject *found = PyDict_GetItemWithError(d, name);
    if (found == NULL && PyErr_Occurred()) {
        PyErr_Clear();
    }
    return found;
}

/* The key of a Popen event's arguments in `b` (b->data to be freed by the caller): 1, or 0
 * when they are not the plain kind this table holds. */
static int
popen_key_of(PyObject *args, key_buffer *b)
{
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) != 4 ||
        PyTuple_GET_ITEM(args, 2) != Py_None || PyTuple_GET_ITEM(args, 3) != Py_None) {
        return 0;
    }
    const char *name;
    Py_ssize_t name_len;
    int plain = ascii_of(PyTuple_GET_ITEM(args, 0), &name, &name_len);
    if (plain < 0) {
        PyErr_Clear();
    }
    if (plain != 1 || name_len < 2 || name_len > OPEN_PATH_MAX || name[0] != '/' ||
        (Py_ssize_t)strlen(name) != name_len) {
        return 0;
    }
    PyObject *argv = PyTuple_GET_ITEM(args, 1);
    if (!PyList_CheckExact(argv) && !PyTuple_CheckExact(argv)) {
        return 0;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(argv);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_CheckExact(PySequence_Fast_GET_ITEM(argv, i))) {
            return 0; /* (not bytes either: key_put_item takes exact bytes) */
        }
    }
    return key_put(b, "P", 1) && key_put_item(b, PyTuple_GET_ITEM(args, 0), 1, 0) &&
           key_put_list(b, argv, 1);
}

static int
identity_holds(const char *path, const long long identity[7])
{
    struct stat st;
    return stat(path, &st) == 0 && (long long)st.st_dev == identity[0] &&
           (long long)st.st_ino == identity[1] && (long long)st.st_nlink == identity[2] &&
           (long long)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec == identity[3] &&
           (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec == identity[4] &&
           (long long)st.st_size == identity[5] && (long long)st.st_mode == identity[6];
}

/* An exact tuple of 7 exact ints into `out`: 1; 0 for anything else (no exception). */
static int
identity_values(PyObject *identity, long long out[7])
{
    if (!PyTuple_CheckExact(identity) || PyTuple_GET_SIZE(identity) != 7) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < 7; i++) {
        PyObject *item = PyTuple_GET_ITEM(identity, i);
        if (!PyLong_CheckExact(item)) {
            return 0;
        }
        int overflow = 0;
        out[i] = PyLong_AsLongLongAndOverflow(item, &overflow);
        if (overflow || (out[i] == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
    }
    return 1;
}

/* processes._popen_problem's answer is None for this event raised by `caller` from `frame`:
 * os's and subprocess's helpers are the originals, Popen's locals run no code later. */
static int
popen_helpers_hold(PyObject *c, PyObject *caller, PyFrameObject *frame)
{
    PyObject *os_dict = PyTuple_GET_ITEM(c, POPEN_CHECK_OS);
    if (!str_keys_only(os_dict) ||
        probe(os_dict, s_get_exec_path) != PyTuple_GET_ITEM(c, POPEN_CHECK_GET_EXEC_PATH) ||
        probe(os_dict, s_fsencode) != PyTuple_GET_ITEM(c, POPEN_CHECK_FSENCODE)) {
        return 0;
    }
    PyObject *path = probe(os_dict, s_path);
    if (path == NULL || !PyModule_CheckExact(path)) {
        return 0;
    }
    PyObject *path_dict = PyModule_GetDict(path);
    if (path_dict == NULL || !str_keys_only(path_dict) ||
        probe(path_dict, s_join) != PyTuple_GET_ITEM(c, POPEN_CHECK_JOIN) ||
        probe(path_dict, s_dirname) != PyTuple_GET_ITEM(c, POPEN_CHECK_DIRNAME)) {
        return 0;
    }
    PyObject *modules = PyTuple_GET_ITEM(c, POPEN_CHECK_MODULES);
    if (!str_keys_only(modules)) {
        return 0;
    }
    PyObject *subprocess = probe(modules, s_subprocess);
    if (subprocess != NULL && PyModule_CheckExact(subprocess)) {
        /* (anything else there: the decoder reads nothing of subprocess either) */
        PyObject *space = PyModule_GetDict(subprocess);
        if (space == NULL || !str_keys_only(space)) {
            return 0;
        }
        PyObject *its_os = probe(space, s_os);
        if (its_os == NULL || !PyModule_CheckExact(its_os) || PyModule_GetDict(its_os) != os_dict) {
            return 0;
        }
        PyObject *w = PyTuple_GET_ITEM(c, POPEN_CHECK_WRAPPER);
        if (w != Py_None) {
            /* fork_exec is not sealed: both names lead to the sealed wrapper, whose cells hold
             * what they held at install (the decoder's fast test; else it routes: the callback) */
            PyObject *posix = PyTuple_GET_ITEM(w, 0), *wrapper = PyTuple_GET_ITEM(w, 1);
            if (probe(space, s_private_fork_exec) != wrapper || !str_keys_only(posix) ||
                probe(posix, s_fork_exec_name) != wrapper ||
                PyCell_GET(PyTuple_GET_ITEM(w, 2)) != PyTuple_GET_ITEM(w, 3) ||
                PyCell_GET(PyTuple_GET_ITEM(w, 4)) != PyTuple_GET_ITEM(w, 5)) {
                return 0;
            }
        }
    }
    if (caller == PyTuple_GET_ITEM(c, POPEN_CHECK_EXECUTE_CHILD)) {
        /* Popen's own code raised it: set(pass_fds) runs each item's __hash__/__eq__ after
         * the event, a preexec_fn runs in the child before the exec */
        if (frame == NULL) {
            return 0;
        }
        PyObject *local_args[2] = {(PyObject *)frame, s_pass_fds};
        PyObject *fds = core_frame_local(NULL, local_args, 2);
        if (fds == NULL) {
            PyErr_Clear();
            return 0;
        }
        int plain = PyTuple_CheckExact(fds) || PyList_CheckExact(fds);
        for (Py_ssize_t i = 0; plain && i < PySequence_Fast_GET_SIZE(fds); i++) {
            plain = PyLong_CheckExact(PySequence_Fast_GET_ITEM(fds, i));
        }
        Py_DECREF(fds); /* (exact ints in an exact tuple or list: no finalizer of anyone's) */
        if (!plain) {
            return 0;
        }
        local_args[1] = s_preexec_fn;
        PyObject *preexec = core_frame_local(NULL, local_args, 2);
        if (preexec == NULL) {
            PyErr_Clear();
            return 0;
        }
        int none = preexec == Py_None;
        Py_DECREF(preexec); /* (None, or an object the frame still holds) */
        if (!none) {
            return 0;
        }
    }
    return 1;
}

/* values._environ_data gives os.environ's own data dict without its slow path: os.environ is
 * an exact os._Environ, every probed method is the original, its decoders are too. */
static int
popen_environ_holds(PyObject *c)
{
    PyObject *environ = probe(PyTuple_GET_ITEM(c, POPEN_CHECK_OS), s_environ);
    if (environ == NULL || (PyObject *)Py_TYPE(environ) != PyTuple_GET_ITEM(c, POPEN_CHECK_ENVIRON_TYPE)) {
        return 0;
    }
    PyObject *probes = PyTuple_GET_ITEM(c, POPEN_CHECK_ENVIRON_PROBES);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(probes); i++) {
        PyObject *entry = PyTuple_GET_ITEM(probes, i);
        PyObject *namespace = PyTuple_GET_ITEM(entry, 0);
        if (!str_keys_only(namespace)) {
            return 0;
        }
        PyObject *found = probe(namespace, PyTuple_GET_ITEM(entry, 1));
        if ((found != NULL ? found : Py_None) != PyTuple_GET_ITEM(entry, 2)) {
            return 0;
        }
    }
    if (_PyType_Lookup(Py_TYPE(environ), s_dict_name) !=
        PyTuple_GET_ITEM(c, POPEN_CHECK_ENVIRON_DICT)) {
        return 0;
    }
    PyObject *own = PyObject_GenericGetDict(environ, NULL);
    if (own == NULL) {
        PyErr_Clear();
        return 0;
    }
    PyObject *data = NULL, *decodekey = NULL, *decodevalue = NULL;
    int ok = PyDict_CheckExact(own);
    if (ok) {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(own, &pos, &key, &value)) {
            if (!PyUnicode_CheckExact(key)) {
                continue; /* (the decoder compares exact str keys only) */
            }
            if (PyUnicode_Compare(key, s_data) == 0) {
                data = value;
            }
            else if (PyUnicode_Compare(key, s_decodekey) == 0) {
                decodekey = value;
            }
            else if (PyUnicode_Compare(key, s_decodevalue) == 0) {
                decodevalue = value;
            }
        }
    }
    ok = ok && data != NULL && PyDict_CheckExact(data) &&
         decodekey == PyTuple_GET_ITEM(c, POPEN_CHECK_DECODEKEY) &&
         decodevalue == PyTuple_GET_ITEM(c, POPEN_CHECK_DECODEVALUE);
    Py_DECREF(own); /* (the instance keeps its dict) */
    return ok;
}

/* child.known_plain(program): its table holds the identity this verdict was kept with, and a
 * stat of the program gives it. */
static int
popen_plain_holds(PyObject *c, const popen_verdict *v)
{
    PyObject *plain = PyTuple_GET_ITEM(c, POPEN_CHECK_PLAIN);
    if (!str_keys_only(plain)) {
        return 0;
    }
    PyObject *held = probe(plain, v->program);
    long long values[7];
    if (held == NULL || !identity_values(held, values) ||
        memcmp(values, v->identity, sizeof(values)) != 0) {
        return 0;
    }
    return identity_holds(v->path, v->identity);
}

/* A Popen the hook allowed with these very arguments from this code in this phase, every
 * object its decision read as it was then. */
static int
popen_answered(PyObject *args, int phase)
{
    PyObject *c = g_popen_checks;
    if (c == NULL) {
        return 0;
    }
    key_buffer b = {NULL, 0, 0};
    int answered = 0;
    if (popen_key_of(args, &b)) {
        PyFrameObject *frame = PyEval_GetFrame(); /* borrowed: the frame raising the event */
        PyObject *caller = frame != NULL ? (PyObject *)PyFrame_GetCode(frame) : Py_NewRef(Py_None);
        uint64_t h = bytes_hash((const char *)b.data, b.len, (uint64_t)phase + 1);
        for (size_t i = 0; i < POPEN_VERDICT_LIMIT; i++) {
            const popen_verdict *v = &g_popen[i];
            if (v->key != NULL && v->hash == h && v->phase == phase && v->caller == caller &&
                v->len == b.len && memcmp(v->key, b.data, b.len) == 0) {
                Py_INCREF(c); /* (a decision inside the checks cannot drop it: none runs) */
                answered = popen_helpers_hold(c, caller, frame) && popen_environ_holds(c) &&
                           popen_plain_holds(c, v);
                Py_DECREF(c);
                break;
            }
        }
        Py_DECREF(caller);
    }
    PyMem_RawFree(b.data);
    return answered;
}

static void
popen_slot_clear(popen_verdict *v)
{
    PyObject *caller = v->caller, *program = v->program;
    PyMem_RawFree(v->key);
    v->key = NULL;
    v->caller = v->program = NULL;
    Py_XDECREF(caller); /* (a code object or None, an exact str: no finalizer of anyone's) */
    Py_XDECREF(program);
}

static void
popen_clear_all(void)
{
    for (size_t i = 0; i < POPEN_VERDICT_LIMIT; i++) {
        if (g_popen[i].key != NULL) {
            popen_slot_clear(&g_popen[i]);
        }
    }
    g_popen_count = 0;
    g_popen_next = 0;
    Py_CLEAR(g_popen_checks); /* (the sandbox's own tuple) */
}

/* The checks tuple as processes.popen_checks builds it (exact types where the probes rely on
 * them): 1, or 0 with a TypeError set. */
static int
popen_checks_valid(PyObject *c)
{
    int ok = PyTuple_CheckExact(c) && PyTuple_GET_SIZE(c) == POPEN_CHECKS &&
             PyDict_CheckExact(PyTuple_GET_ITEM(c, POPEN_CHECK_OS)) &&
             PyDict_CheckExact(PyTuple_GET_ITEM(c, POPEN_CHECK_MODULES)) &&
             PyCode_Check(PyTuple_GET_ITEM(c, POPEN_CHECK_EXECUTE_CHILD)) &&
             PyType_Check(PyTuple_GET_ITEM(c, POPEN_CHECK_ENVIRON_TYPE)) &&
             PyTuple_CheckExact(PyTuple_GET_ITEM(c, POPEN_CHECK_ENVIRON_PROBES)) &&
             PyDict_CheckExact(PyTuple_GET_ITEM(c, POPEN_CHECK_PLAIN));
    if (ok) {
        PyObject *probes = PyTuple_GET_ITEM(c, POPEN_CHECK_ENVIRON_PROBES);
        for (Py_ssize_t i = 0; ok && i < PyTuple_GET_SIZE(probes); i++) {
            PyObject *entry = PyTuple_GET_ITEM(probes, i);
            ok = PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 3 &&
                 PyDict_CheckExact(PyTuple_GET_ITEM(entry, 0)) &&
                 PyUnicode_CheckExact(PyTuple_GET_ITEM(entry, 1));
        }
        PyObject *w = PyTuple_GET_ITEM(c, POPEN_CHECK_WRAPPER);
        ok = ok && (w == Py_None ||
                    (PyTuple_CheckExact(w) && PyTuple_GET_SIZE(w) == 6 &&
                     PyDict_CheckExact(PyTuple_GET_ITEM(w, 0)) &&
                     PyCell_Check(PyTuple_GET_ITEM(w, 2)) && PyCell_Check(PyTuple_GET_ITEM(w, 4))));
    }
    if (!ok) {
        PyErr_SetString(PyExc_TypeError, "popen_verdict_add: checks must be processes.popen_checks()");
    }
    return ok;
}

/* ------------------------------------------------------------------------------------- */
/* Compile verdicts: a `compile` event the hook allowed, by the code that compiled, the     */
/* source and the file name it gave.                                                      */

/* A `compile` (eval/exec/compile of a source) that the callback allowed in enforce, kept by
 * what its decision read: the code object that raised the event (the eval site, by identity:
 * a strong reference is held, so the address cannot be reused), the source's exact text
 * (exact str: its canonical code units; exact bytes), the file name it was given (an exact
 * str that is not absolute: an absolute one may be the import system compiling a module,
 * decided from the frames), and the phase. The same three in the same phase are the same
 * decision: the site's rules and the source's shape (a pure function of the text). At most
 * 32, a full table drops its oldest; `cache_clear` drops them. */
#define COMPILE_VERDICT_LIMIT 32
#define COMPILE_SOURCE_MAX 65536 /* the shape decoder's own limit */
#define COMPILE_NAME_MAX 1024

typedef struct {
    PyObject *code;   /* NULL: empty */
    unsigned char *source;
    size_t source_len;
    int source_kind;  /* 0: bytes; 1, 2, 4: a str's code unit size */
    char *filename;
    size_t filename_len;
    uint64_t hash;
    int phase;
} compile_verdict;

static compile_verdict g_compile[COMPILE_VERDICT_LIMIT];
static size_t g_compile_count, g_compile_next;

static void
compile_slot_clear(compile_verdict *v)
{
    PyObject *code = v->code;
    v->code = NULL;
    PyMem_RawFree(v->source);
    v->source = NULL;
    PyMem_RawFree(v->filename);
    v->filename = NULL;
    Py_XDECREF(code); /* (a code object: no finalizer of anyone's runs) */
}

static void
compile_clear_all(void)
{
    for (size_t i = 0; i < COMPILE_VERDICT_LIMIT; i++) {
        if (g_compile[i].code != NULL) {
            compile_slot_clear(&g_compile[i]);
        }
    }
    g_compile_count = 0;
    g_compile_next = 0;
}

typedef struct {
    const void *source;
    size_t source_len;
    int source_kind;
    const char *filename;
    size_t filename_len;
    uint64_t hash;
} compile_key;

/* The key of a `compile` event's arguments (source, filename, ...), or 0 when they are not
 * the kind this table holds. Exact types only: no method of either argument runs. */
static int
compile_key_of(PyObject *args, compile_key *key)
{
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) < 2) {
        return 0;
    }
    PyObject *source = PyTuple_GET_ITEM(args, 0);
    PyObject *filename = PyTuple_GET_ITEM(args, 1);
    if (PyBytes_CheckExact(source)) {
        key->source = PyBytes_AS_STRING(source);
        key->source_len = (size_t)PyBytes_GET_SIZE(source);
        key->source_kind = 0;
    }
    else if (PyUnicode_CheckExact(source)) {
        int kind;
        const void *data;
        Py_ssize_t len;
        if (str_units(source, &kind, &data, &len) < 0) {
            PyErr_Clear();
            return 0;
        }
        key->source = data;
        key->source_len = (size_t)len * (size_t)kind;
        key->source_kind = kind;
    }
    else {
        return 0;
    }
    if (key->source_len > COMPILE_SOURCE_MAX * 4) {
        return 0;
    }
    const char *units;
    Py_ssize_t n;
    int plain = ascii_of(filename, &units, &n);
    if (plain != 1) {
        if (plain < 0) {
            PyErr_Clear();
        }
        return 0;
    }
    if (n < 1 || n > COMPILE_NAME_MAX || units[0] == '/' || memchr(units, 0, (size_t)n) != NULL) {
        return 0;
    }
    key->filename = units;
    key->filename_len = (size_t)n;
    key->hash = bytes_hash((const char *)key->source, key->source_len,
                           bytes_hash(units, (size_t)n, 40 + (uint64_t)key->source_kind));
    return 1;
}

/* The callback's answer to this `compile` event is known (a verdict of the same code, source,
 * file name and phase): see compile_verdict. */
static int
compile_answered(PyObject *args, int phase)
{
    compile_key key;
    if (!compile_key_of(args, &key)) {
        return 0;
    }
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed */
    if (frame == NULL) {
        return 0;
    }
    PyCodeObject *code = PyFrame_GetCode(frame); /* new reference */
    int answered = 0;
    for (size_t i = 0; i < COMPILE_VERDICT_LIMIT; i++) {
        const compile_verdict *v = &g_compile[i];
        if (v->code == (PyObject *)code && v->hash == key.hash && v->phase == phase &&
            v->source_kind == key.source_kind && v->source_len == key.source_len &&
            v->filename_len == key.filename_len &&
            memcmp(v->filename, key.filename, key.filename_len) == 0 &&
            memcmp(v->source, key.source, key.source_len) == 0) {
            answered = 1;
            break;
        }
    }
    Py_DECREF(code);
    return answered;
}

/* An `object.__setattr__` the hook's answer is None for: no name, a name that is not an exact
 * str, or one not among the names install was given (the hook decides only those: rewriting
 * a function's code or defaults, a class, a finder); or, when install was given the code of
 * the functions they are guarded on, a guarded name set on anything but an exact function
 * whose code is one of those (the hook refuses only that: the sandbox's own functions; a
 * `__defaults__` set by a library's decorator, 17 in `import boto3`, is answered here). Only
 * the target's exact type and its code slot are read: nothing of it runs. A name with a NUL
 * reads as its start here: looked up as that, it can only reach the callback more often. */
static int
setattr_unprotected(PyObject *args)
{
    if (!g_setattr_known || !PyTuple_CheckExact(args)) {
        return 0;
    }
    if (PyTuple_GET_SIZE(args) < 2) {
        return 1;
    }
    PyObject *name = PyTuple_GET_ITEM(args, 1);
    if (!PyUnicode_CheckExact(name)) {
        return 1;
    }
    const char *units;
    Py_ssize_t len;
    int plain = ascii_of(name, &units, &len);
    if (plain < 0) {
        PyErr_Clear();
        return 0;
    }
    if (plain == 0 || !name_set_has(&g_setattr_names, units)) {
        return 1; /* (the names are ASCII) */
    }
    if (!g_setattr_codes_known) {
        return 0;
    }
    PyObject *target = PyTuple_GET_ITEM(args, 0);
    return !Py_IS_TYPE(target, &PyFunction_Type) ||
           !code_set_has(&g_setattr_codes, PyFunction_GET_CODE(target));
}

/* A `socket.getaddrinfo` whose host is None or an exact ASCII str or exact ASCII bytes (what
 * the sealed resolvers pass on) that is an IPv4 or IPv6 literal as given: the network
 * decoder's answer is None (no DNS query leaves for those; the connect decides the address).
 * Anything else -- a name, a literal with a trailing dot, a scope, brackets, a bytearray, a
 * subclass -- goes to the callback. */
static int
lookup_of_literal(PyObject *args)
{
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) < 1) {
        return 0;
    }
    PyObject *host = PyTuple_GET_ITEM(args, 0);
    if (host == Py_None) {
        return 1;
    }
    const char *text;
    Py_ssize_t len;
    if (PyBytes_CheckExact(host)) {
        /* (the sealed resolvers hand the lookup an ASCII host as bytes: the decoder reads
         * exact bytes as the OS would, the same text for ASCII) */
        text = PyBytes_AS_STRING(host);
        len = PyBytes_GET_SIZE(host);
        for (Py_ssize_t i = 0; i < len; i++) {
            if ((unsigned char)text[i] >= 0x80) {
                return 0;
            }
        }
    }
    else {
        int plain = ascii_of(host, &text, &len);
        if (plain != 1) {
            if (plain < 0) {
                PyErr_Clear();
            }
            return 0;
        }
    }
    if (len < 2 || len > 45 || memchr(text, 0, (size_t)len) != NULL) {
        return 0;
    }
    unsigned char packed[16];
    return inet_pton(AF_INET, text, packed) == 1 || inet_pton(AF_INET6, text, packed) == 1;
}

/* An open of the shape parse's own file name (values.SHAPE_FILE: "/dev/null/<shape>/" and
 * underscores to PATH_MAX characters): the parser's error path asks for it inside the callback,
 * and the kernel refuses it (ENAMETOOLONG, before it looks at any file), whatever the file
 * system holds -- so deciding it changes nothing. Any other name, however long, is decided
 * (and reported) as before. Until red team 67 the answer was for any name below /dev/null,
 * "which is no folder": a function allowed to write /dev/null (as root) removed it and put a
 * link there, and read and wrote anything through /dev/null/<path>. */
#define SHAPE_FILE_HEAD "/dev/null/<shape>/"
static int
open_is_shape_file(const char *path, size_t n)
{
    size_t head = sizeof(SHAPE_FILE_HEAD) - 1;
    if (n != OPEN_PATH_MAX || memcmp(path, SHAPE_FILE_HEAD, head) != 0) {
        return 0;
    }
    for (size_t i = head; i < n; i++) {
        if (path[i] != '_') {
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------------------------- */
/* Quiet invocation ends, and the starts between them                                    */
/*
 * The end of an invocation in which nothing was reported needs nothing of the callback but
 * the invocation marked as ended (its summary and metrics are empty; learn, which records
 * every end, never defers). Once defer_quiet_ends(codes) was called (the hook, with its
 * control functions' code), such an end -- `sandbox.invocation_end` with no arguments, raised
 * outside the callback by one of those codes, while no end_needed(True) is pending -- is
 * answered here and logged. So is the next invocation's start after such an end (or after an
 * end the callback allowed from those codes): `sandbox.invocation` (request id, source) from
 * those codes, its request id an exact str or None and its source an exact dict of exact str
 * keys and immutable plain values (copied here, with the start's CLOCK_BOOTTIME seconds, the
 * time the callback records). A start while one may still run (a nested one: no end seen
 * since) goes to the callback, which refuses it. The callback takes the log (ends_deferred())
 * first thing at its next call and replays it in order -- ends as None, starts as (request id,
 * source, seconds, thread ident) -- before anything reads the invocation's state. A full log (LOG_LIMIT)
 * sends the next end or start to the callback, which replays the log first. Any other start
 * or end (from other code: a forged one, refused there) goes to the callback as before. */
#define INVOCATION_LOG_LIMIT 1024
static int g_quiet_ends;              /* defer_quiet_ends() took effect */
static int g_end_needed;              /* something was reported: the next end goes to Python */
static int g_invocation_closed;       /* the last start or end the core saw allowed: an end */
static PyObject *g_invocation_log;    /* None (an end), (id, source, seconds, thread) (a start) */
static code_set g_control_codes;

static int
invocation_log_append(PyObject *item)
{
    if (g_invocation_log == NULL) {
        g_invocation_log = PyList_New(0);
        if (g_invocation_log == NULL) {
            PyErr_Clear();
            return 0;
        }
    }
    if (PyList_GET_SIZE(g_invocation_log) >= INVOCATION_LOG_LIMIT) {
        return 0;
    }
    if (PyList_Append(g_invocation_log, item) < 0) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

static int
raised_by_control_code(void)
{
    PyObject *code = innermost_code();
    int control = code_set_has(&g_control_codes, code);
    Py_XDECREF(code);
    return control;
}

static int
quiet_end_answered(PyObject *args)
{
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) != 0 || !raised_by_control_code()) {
        return 0;
    }
    if (!invocation_log_append(Py_None)) {
        return 0;
    }
    g_invocation_closed = 1;
    return 1;
}

/* A start's source copied, when every key is an exact str and every value an exact str, int,
 * float, bool or None (what the callback keeps of it); else NULL (no exception). */
static PyObject *
plain_source_copy(PyObject *who)
{
    if (!PyDict_CheckExact(who)) {
        return NULL;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(who, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key) ||
            !(value == Py_None || PyUnicode_CheckExact(value) || PyLong_CheckExact(value) ||
              PyFloat_CheckExact(value) || PyBool_Check(value))) {
            return NULL;
        }
    }
    PyObject *copy = PyDict_Copy(who);
    if (copy == NULL) {
        PyErr_Clear();
    }
    return copy;
}

/* The current invocation's request id, in this process's environment for the children it
 * starts (SANDBOX_REQUEST_ID): a Python child's findings name the invocation it was started in.
 * One buffer, handed to putenv() once and rewritten in place at each start: nothing allocated
 * per invocation (setenv() keeps every value it was ever given). A request id that is not an
 * exact ASCII str of at most 128 characters without NUL is written as empty (the child takes
 * only 1-128 printable characters other than space: Config.parent_request_id). */
#define REQUEST_ENV_NAME "SANDBOX_REQUEST_ID="
#define REQUEST_ID_MAX 128
static char g_request_env[sizeof(REQUEST_ENV_NAME) + REQUEST_ID_MAX];
static int g_request_env_put;

static void
request_env_set(PyObject *request_id)
{
    char *value = g_request_env + sizeof(REQUEST_ENV_NAME) - 1;
    const char *text = NULL;
    Py_ssize_t n = 0;
    if (request_id != NULL && PyUnicode_CheckExact(request_id) && PyUnicode_IS_ASCII(request_id)) {
        n = PyUnicode_GET_LENGTH(request_id);
        text = (const char *)PyUnicode_DATA(request_id);
        /* (a NUL would cut it short: another id. Spaces and control characters are left to
         * the child, which takes only 1-128 printable characters: no loop here, at every
         * invocation's start) */
        if (n > REQUEST_ID_MAX || memchr(text, '\0', (size_t)n) != NULL) {
            n = 0;
        }
    }
    if (!g_request_env_put) {
        memcpy(g_request_env, REQUEST_ENV_NAME, sizeof(REQUEST_ENV_NAME) - 1);
        value[0] = '\0';
        if (putenv(g_request_env) != 0) {
            return; /* (no memory for the environment's table: children get none) */
        }
        g_request_env_put = 1;
    }
    /* Empty first, the first character last: a child another thread starts meanwhile reads
     * an empty value or a whole one of the two (no memory order is promised; a torn read is
     * a garbled label, never more). */
    value[0] = '\0';
    if (n > 0) {
        memcpy(value + 1, text + 1, (size_t)n - 1);
        value[n] = '\0';
        value[0] = text[0];
    }
}

static int
quiet_start_answered(PyObject *args)
{
    if (!g_invocation_closed || !PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) != 2) {
        return 0;
    }
    PyObject *request_id = PyTuple_GET_ITEM(args, 0);
    if (request_id != Py_None && !PyUnicode_CheckExact(request_id)) {
        return 0;
    }
    if (!raised_by_control_code()) {
        return 0;
    }
    PyObject *source = plain_source_copy(PyTuple_GET_ITEM(args, 1));
    if (source == NULL) {
        return 0;
    }
    struct timespec now;
    if (clock_gettime(CLOCK_BOOTTIME, &now) != 0) {
        Py_DECREF(source);
        return 0;
    }
    /* (request id, source, seconds, thread), built directly: Py_BuildValue's format parsing
     * cost about as much as the rest of a logged start */
    PyObject *seconds = PyFloat_FromDouble((double)now.tv_sec + (double)now.tv_nsec / 1e9);
    PyObject *thread = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
    PyObject *item = seconds != NULL && thread != NULL ? PyTuple_New(4) : NULL;
    if (item == NULL) {
        Py_XDECREF(seconds);
        Py_XDECREF(thread);
        Py_DECREF(source);
        PyErr_Clear();
        return 0;
    }
    PyTuple_SET_ITEM(item, 0, Py_NewRef(request_id));
    PyTuple_SET_ITEM(item, 1, source); /* (its reference, handed on) */
    PyTuple_SET_ITEM(item, 2, seconds);
    PyTuple_SET_ITEM(item, 3, thread);
    int logged = invocation_log_append(item);
    Py_DECREF(item);
    if (logged) {
        g_invocation_closed = 0;
        request_env_set(request_id);
    }
    return logged;
}

/* After the callback allowed a start or an end from the control codes: what it is now. */
static void
invocation_seen(const char *event, PyObject *args)
{
    if (!g_quiet_ends || t_depth != 0 || event[0] != 's' || !PyTuple_CheckExact(args)) {
        return;
    }
    if (strcmp(event, "sandbox.invocation_end") == 0 && PyTuple_GET_SIZE(args) == 0 &&
        raised_by_control_code()) {
        g_invocation_closed = 1;
    }
    else if (strcmp(event, "sandbox.invocation") == 0 && raised_by_control_code()) {
        g_invocation_closed = 0;
    }
}

/* ------------------------------------------------------------------------------------- */
/* Network verdicts: sockets, connects to literals, name lookups, AWS calls (enforce)      */
/*
 * The callback's answer to `socket.__new__` is a pure function of the family, the type (its
 * SOCK_NONBLOCK / SOCK_CLOEXEC flags aside) and the phase -- unless socket.py's constructor is
 * wrapping a descriptor it was given (fileno), which is an adoption, decided apart. Its answer
 * to `socket.connect` of an AF_INET/AF_INET6 socket to (literal, port), the literal as
 * canonical text, is a function of the family, the literal, the port and the phase: the
 * decision cache keeps it for good once allowed (an address allowed through a name it was
 * resolved from included); so is its answer to a name's lookup, and to the botocore
 * interposer's sandbox.aws (service, operation, resource) from that interposer's code. After
 * the hook allowed one in enforce, network_verdict_add keeps it here; a later event with the
 * same values is answered with no callback:
 *   - socket.__new__: exact int family and type, neither negative (a negative one adopts a
 *     descriptor), raised from code that is not socket.py's socket.__init__ -- or from it with
 *     its local `fileno` None (read from the frame's slots);
 *   - socket.connect: an instance of _socket.socket (its family read from the C member), an
 *     exact 2-tuple of an exact ASCII str and an exact int;
 *   - socket.getaddrinfo of a name (the callback's answer: a pure function of the name's
 *     normal form and the phase), its host an exact ASCII str or bytes with the very text of
 *     a name kept already in normal form (lower case, no trailing dot);
 *   - sandbox.aws: the same exact ASCII strs (no 0x1f), the resource or None, raised by the
 *     very code object the hook checked the first one came from (g_aws_code).
 * At most NET_VERDICT_LIMIT (a full table drops its oldest); cache_clear drops them. */
#define NET_VERDICT_LIMIT 64
#define NET_HOST_MAX 253 /* a DNS name's longest text */
#define NET_SOCKET 0
#define NET_CONNECT 1
#define NET_RESOLVE 2
#define NET_AWS 3 /* (the botocore interposer's sandbox.aws event) */

typedef struct {
    int used;
    int connect; /* NET_SOCKET, NET_CONNECT or NET_RESOLVE */
    int phase;
    long family;
    long value; /* the type (masked), or the port */
    size_t host_len;
    char host[NET_HOST_MAX + 1];
} net_verdict;

static net_verdict g_net[NET_VERDICT_LIMIT];
static size_t g_net_count, g_net_next;
static long g_sock_type_mask = ~(long)(SOCK_NONBLOCK | SOCK_CLOEXEC); /* (as the decoder) */
static PyObject *g_socket_init_code; /* socket.py's socket.__init__ code (strong) */
static PyTypeObject *g_sock_type;    /* _socket.socket (seal_socket_addresses) */
static PyMemberDef *g_sock_family;   /* its `family` member */
static PyObject *g_fileno_name;      /* "fileno" */
static PyObject *g_aws_code;         /* the botocore interposer's code raising sandbox.aws */

static PyObject *core_frame_local(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
static PyObject *refuse(const char *what);

static void
net_clear_all(void)
{
    memset(g_net, 0, sizeof(g_net));
    g_net_count = 0;
    g_net_next = 0;
}

/* The key of a network event's arguments: 1 with the fields set, 0 when not a kind the table
 * holds. No method of any argument runs (exact types; the family from the C member). */
/* An exact ASCII str's text for the AWS key: 1 with it appended to scratch (n so far), 0 when
 * not plain, too long, or holding the separator. */
static int
aws_part(PyObject *part, char *scratch, size_t *n)
{
    const char *units;
    Py_ssize_t len;
    int plain = ascii_of(part, &units, &len);
    if (plain != 1) {
        if (plain < 0) {
            PyErr_Clear();
        }
        return 0;
    }
    if (len < 1 || *n + 1 + (size_t)len > NET_HOST_MAX || memchr(units, 0x1f, (size_t)len) ||
        memchr(units, 0, (size_t)len)) {
        return 0;
    }
    if (*n > 0) {
        scratch[(*n)++] = 0x1f;
    }
    memcpy(scratch + *n, units, (size_t)len);
    *n += (size_t)len;
    return 1;
}

static int
net_key_of(int connect, PyObject *args, long *family, long *value, const char **host,
           Py_ssize_t *host_len, char *scratch)
{
    if (!PyTuple_CheckExact(args)) {
        return 0;
    }
    if (connect == NET_AWS) {
        /* (service, operation, resource or None): "service\x1foperation[\x1fresource]" */
        if (PyTuple_GET_SIZE(args) != 3) {
            return 0;
        }
        size_t n = 0;
        PyObject *resource = PyTuple_GET_ITEM(args, 2);
        if (!aws_part(PyTuple_GET_ITEM(args, 0), scratch, &n) ||
            !aws_part(PyTuple_GET_ITEM(args, 1), scratch, &n) ||
            (resource != Py_None && !aws_part(resource, scratch, &n))) {
            return 0;
        }
        *host = scratch;
        *host_len = (Py_ssize_t)n;
        *family = 0;
        *value = resource != Py_None;
        return 1;
    }
    int overflow = 0;
    if (connect == NET_RESOLVE) {
        /* getaddrinfo(host, ...): the host as given, exact str or bytes, ASCII */
        if (PyTuple_GET_SIZE(args) < 1) {
            return 0;
        }
        PyObject *name = PyTuple_GET_ITEM(args, 0);
        if (PyBytes_CheckExact(name)) {
            *host = PyBytes_AS_STRING(name);
            *host_len = PyBytes_GET_SIZE(name);
            for (Py_ssize_t i = 0; i < *host_len; i++) {
                if ((unsigned char)(*host)[i] >= 0x80) {
                    return 0;
                }
            }
        }
        else {
            int plain = ascii_of(name, host, host_len);
            if (plain != 1) {
                if (plain < 0) {
                    PyErr_Clear();
                }
                return 0;
            }
        }
        if (*host_len < 1 || *host_len > NET_HOST_MAX || memchr(*host, 0, (size_t)*host_len)) {
            return 0;
        }
        *family = 0;
        *value = 0;
        return 1;
    }
    if (!connect) {
        if (PyTuple_GET_SIZE(args) < 3 || !PyLong_CheckExact(PyTuple_GET_ITEM(args, 1)) ||
            !PyLong_CheckExact(PyTuple_GET_ITEM(args, 2))) {
            return 0;
        }
        *family = PyLong_AsLongAndOverflow(PyTuple_GET_ITEM(args, 1), &overflow);
        if (overflow || *family < 0) {
            PyErr_Clear();
            return 0;
        }
        long kind = PyLong_AsLongAndOverflow(PyTuple_GET_ITEM(args, 2), &overflow);
        if (overflow || kind < 0) {
            PyErr_Clear();
            return 0;
        }
        *value = kind & g_sock_type_mask;
        *host = "";
        *host_len = 0;
        return 1;
    }
    if (PyTuple_GET_SIZE(args) != 2 || g_sock_type == NULL || g_sock_family == NULL) {
        return 0;
    }
    PyObject *sock = PyTuple_GET_ITEM(args, 0);
    PyObject *address = PyTuple_GET_ITEM(args, 1);
    if (!PyObject_TypeCheck(sock, g_sock_type) || !PyTuple_CheckExact(address) ||
        PyTuple_GET_SIZE(address) != 2 || !PyLong_CheckExact(PyTuple_GET_ITEM(address, 1))) {
        return 0;
    }
    int plain = ascii_of(PyTuple_GET_ITEM(address, 0), host, host_len);
    if (plain != 1 || *host_len < 1 || *host_len > NET_HOST_MAX) {
        if (plain < 0) {
            PyErr_Clear();
        }
        return 0;
    }
    PyObject *member = PyMember_GetOne((const char *)sock, g_sock_family);
    if (member == NULL || !PyLong_CheckExact(member)) {
        Py_XDECREF(member);
        PyErr_Clear();
        return 0;
    }
    *family = PyLong_AsLongAndOverflow(member, &overflow);
    Py_DECREF(member);
    if (overflow || (*family != AF_INET && *family != AF_INET6)) {
        PyErr_Clear();
        return 0;
    }
    *value = PyLong_AsLongAndOverflow(PyTuple_GET_ITEM(address, 1), &overflow);
    if (overflow) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

static const net_verdict *
net_find(int connect, int phase, long family, long value, const char *host, size_t host_len)
{
    for (size_t i = 0; i < NET_VERDICT_LIMIT; i++) {
        const net_verdict *v = &g_net[i];
        if (v->used && v->connect == connect && v->phase == phase && v->family == family &&
            v->value == value && v->host_len == host_len &&
            memcmp(v->host, host, host_len) == 0) {
            return v;
        }
    }
    return NULL;
}

/* Whether socket.py's constructor raised this socket.__new__ with a descriptor to wrap (its
 * local `fileno` not None): an adoption, which the callback decides. */
static int
socket_adopting(void)
{
    if (g_socket_init_code == NULL) {
        return 1; /* (no verdict is kept without it) */
    }
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed */
    if (frame == NULL) {
        return 0;
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    int constructor = (PyObject *)code == g_socket_init_code;
    Py_DECREF(code);
    if (!constructor) {
        return 0;
    }
    PyObject *args[2] = {(PyObject *)frame, g_fileno_name};
    PyObject *fileno = core_frame_local(NULL, args, 2);
    if (fileno == NULL) {
        PyErr_Clear();
        return 1;
    }
    int given = fileno != Py_None;
    Py_DECREF(fileno);
    return given;
}

/* The callback's answer to this socket.__new__ or socket.connect is known: see above. */
static int
net_answered(int connect, PyObject *args, int phase)
{
    long family, value;
    const char *host;
    Py_ssize_t host_len;
    char scratch[NET_HOST_MAX + 1];
    if (!net_key_of(connect, args, &family, &value, &host, &host_len, scratch)) {
        return 0;
    }
    if (net_find(connect, phase, family, value, host, (size_t)host_len) == NULL) {
        return 0;
    }
    if (connect == NET_AWS) {
        PyObject *code = innermost_code();
        int from_interposer = code != NULL && code == g_aws_code;
        Py_XDECREF(code);
        return from_interposer; /* (from anyone else: the callback refuses it as forged) */
    }
    return connect != NET_SOCKET || !socket_adopting();
}

static PyObject *
core_network_verdict_add(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *event, *event_args, *socket_init;
    if (!PyArg_ParseTuple(args, "UOO:network_verdict_add", &event, &event_args, &socket_init)) {
        return NULL;
    }
    if (t_depth == 0 || !caller_is_site("core.network_verdict_add")) {
        return refuse("network_verdict_add");
    }
    int connect;
    if (PyUnicode_CompareWithASCIIString(event, "socket.__new__") == 0) {
        connect = 0;
        if (!PyCode_Check(socket_init)) {
            Py_RETURN_FALSE; /* socket.py not loaded: an adoption could not be told apart */
        }
        if (g_socket_init_code != NULL && g_socket_init_code != socket_init) {
            Py_RETURN_FALSE; /* (one constructor for good: the first the hook named) */
        }
    }
    else if (PyUnicode_CompareWithASCIIString(event, "socket.connect") == 0) {
        connect = NET_CONNECT;
    }
    else if (PyUnicode_CompareWithASCIIString(event, "socket.getaddrinfo") == 0) {
        connect = NET_RESOLVE;
    }
    else if (PyUnicode_CompareWithASCIIString(event, "sandbox.aws") == 0) {
        connect = NET_AWS;
        /* (the third argument: the interposer's code the callback checked the event came from) */
        if (!PyCode_Check(socket_init) || (g_aws_code != NULL && g_aws_code != socket_init)) {
            Py_RETURN_FALSE;
        }
    }
    else {
        Py_RETURN_FALSE;
    }
    long family, value;
    const char *host;
    Py_ssize_t host_len;
    char scratch[NET_HOST_MAX + 1];
    if (!net_key_of(connect, event_args, &family, &value, &host, &host_len, scratch) ||
        !decision_phase_holds()) {
        Py_RETURN_FALSE;
    }
    int phase = invoke_now();
    if (net_find(connect, phase, family, value, host, (size_t)host_len) != NULL) {
        Py_RETURN_TRUE;
    }
    if (connect == NET_AWS && g_aws_code == NULL) {
        g_aws_code = Py_NewRef(socket_init);
    }
    if (!connect && g_socket_init_code == NULL) {
        if (g_fileno_name == NULL) {
            g_fileno_name = PyUnicode_InternFromString("fileno");
            if (g_fileno_name == NULL) {
                return NULL;
            }
        }
        g_socket_init_code = Py_NewRef(socket_init);
    }
    net_verdict *v = &g_net[g_net_next]; /* full: the oldest goes */
    g_net_next = (g_net_next + 1) % NET_VERDICT_LIMIT;
    if (!v->used) {
        g_net_count++;
    }
    v->used = 1;
    v->connect = connect;
    v->phase = phase;
    v->family = family;
    v->value = value;
    v->host_len = (size_t)host_len;
    memcpy(v->host, host, (size_t)host_len);
    v->host[host_len] = '\0';
    Py_RETURN_TRUE;
}

/* SQLite connections guarded in C (seal_sqlite; see that section for the steps). */
typedef struct {
    PyObject *waiting;      /* list: connections waiting for their authorizer (strong) */
    Py_tracefunc previous;  /* the profile function that was there */
    PyObject *previous_obj; /* its object (strong, or NULL) */
    long events;
} sqlite_pending;

static PyObject *g_sqlite_authorizer;      /* what set_authorizer installs */
static PyObject *g_sqlite_trampoline;      /* the profile object sys.getprofile() shows */
static PyObject *g_sqlite_trampoline_code; /* its code: the flush event it raises */
static int g_sqlite_sealed;
static CORE_TLS sqlite_pending *t_sqlite;
/* Set while the core itself sets this thread's profile function: the one sys.setprofile event
 * that call raises first (C hooks run before Python ones) is the core's own. */
static CORE_TLS int t_core_sets_profile;
static int sqlite_handle_answered(PyObject *args);
static int sqlite_flush_event(void);
static int sqlite_flush_from_trampoline(void);

static inline void sealed_event_take(const char *event);

/* A `compile` the callback decides at init too: under an absolute file name (a str subclass's
 * text read as it is, no method of it called), or of a syntax tree (CPython raises it with no
 * file name: the code's name is the caller's choice). Code carries the file name it was
 * compiled under and a site is that name, so code compiled at init under a module's file name
 * passed for that module's code (red team 56; red team 60: names the site reads as the
 * module's -- "D/", "D/.", "D:x" -- and trees); the callback tells which are claims
 * (decoders/code). */
static int module_bytecode_answered(PyObject *args); /* (below, with the marshal seal) */
static int g_mb_ready; /* (module_bytecode_rules was given, and holds) */

static int
compile_claims_module_file(const char *event, PyObject *args)
{
    if (event[0] != 'c' || strcmp(event, "compile") != 0 || !PyTuple_CheckExact(args) ||
        PyTuple_GET_SIZE(args) < 2) {
        return 0;
    }
    PyObject *name = PyTuple_GET_ITEM(args, 1);
    if (name == Py_None) {
        return PyTuple_GET_ITEM(args, 0) != Py_None; /* (a tree; no source: the interpreter's
                                                       * own parse of a file names it) */
    }
    if (!PyUnicode_Check(name) || PyUnicode_GET_LENGTH(name) < 1) {
        return 0;
    }
    int absolute = PyUnicode_ReadChar(name, 0) == '/';
    PyErr_Clear(); /* (ReadChar's errors: none for an index in range) */
    return absolute;
}

static int g_vfs_state;         /* (guarded_open, with the SQLite section at the end) */
static void vfs_guard_try(void);
#define SQLITE_OPEN_EVENT "sandbox.sqlite_open"

/* Whether an audited attribute read (`object.__getattr__`: obj, name) is a traceback's
 * `tb_frame` whose frame runs code of the hook's. The hook never lets an exception leave with
 * its frames (strip_raised); an exception of the function's raised inside it by C code is
 * stripped too -- and should any such path remain, its traceback still leads nowhere: the
 * frame itself is refused, outside the callback as inside. Tracebacks through the published
 * wrappers (the resolver's, SQLite's) are the function's own to show. */
static int
frame_of_the_hook_read(PyObject *args)
{
    if (g_hidden_codes.slots == NULL || !PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) != 2) {
        return 0;
    }
    PyObject *owner = PyTuple_GET_ITEM(args, 0), *name = PyTuple_GET_ITEM(args, 1);
    if (!PyTraceBack_Check(owner) || !PyUnicode_Check(name) ||
        PyUnicode_CompareWithASCIIString(name, "tb_frame") != 0) {
        return 0;
    }
    PyFrameObject *frame = ((PyTracebackObject *)owner)->tb_frame;
    if (frame == NULL) {
        return 0;
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    int hidden = code != NULL && code_set_has(&g_hidden_codes, (PyObject *)code);
    Py_XDECREF(code);
    return hidden;
}

static int core_hook_answer(const char *event, PyObject *args, void *userdata);

/* The audit hook: the answer (core_hook_answer), taken only if no descriptor was re-pointed
 * meanwhile by another thread when the event's call uses one (see seal_descriptor_swaps). */
static int
core_hook(const char *event, PyObject *args, void *userdata)
{
    if (t_held_n > 0 && t_depth == 0) {
        held_release(); /* (the call the last answer held them for has been made) */
    }
    const unsigned long long swaps = g_fd_swaps;
    const int outer_new = t_held_new;
    t_held_new = 0;
    int answer = core_hook_answer(event, args, userdata);
    const int held_now = t_held_new;
    t_held_new = outer_new;
    if (answer == 0 && (g_fd_swaps != swaps || g_fd_swaps_in_flight > t_fd_swaps_in_flight)) {
        fd_pins pins;
        pins_take(event, args, &pins);
        if (pins.count > 0 || held_now) {
            PyErr_Format(PyExc_PermissionError,
                         "lambda-sandbox: %s refused (another thread re-pointed a descriptor "
                         "with os.dup2 while it was decided)",
                         event);
            return -1;
        }
    }
    return answer;
}

static int
core_hook_answer(const char *event, PyObject *args, void *userdata)
{
    (void)userdata;
    sealed_event_take(event); /* (first: nothing that could run code may come before it) */
    /* The open event core_open_code raises, taken by the first open event after it on this
     * thread, whatever that event's fate below: no later one can pass for it. (This hook is
     * the first to see it: C hooks run before Python ones, and this one is the function's
     * first.) It is that event when it carries the very name object core_open_code gave. */
    int by_open_code = 0;
    if (t_open_code_path != NULL && event[0] == 'o' && strcmp(event, "open") == 0) {
        by_open_code = PyTuple_CheckExact(args) && PyTuple_GET_SIZE(args) >= 1 &&
                       PyTuple_GET_ITEM(args, 0) == t_open_code_path && t_depth == 0;
        t_open_code_path = NULL;
    }
    if (g_cwd_pinned_by != 0 && t_depth == 0 && g_cwd_pinned_by == PyThread_get_thread_ident()) {
        g_cwd_pinned_by = 0; /* this thread's open of a relative SQLite name has returned */
    }
    if (t_depth == 0 && event[0] == 's' && event[1] == 'q' && strcmp(event, "sqlite3.connect") == 0 &&
        sqlite_name_relative(args)) {
        g_cwd_pinned_by = PyThread_get_thread_ident();
    }
    if (t_depth == 0 && g_in_flight_count > 0) {
        in_flight_clear(); /* this thread's last audited call has returned */
    }
    if (g_gc_held && t_depth == 0) {
        /* an audit event after the held call (any thread): the collector comes back (a worker
         * thread's decision must not leave it off while the main thread waits in C) */
        g_gc_held = 0;
        PyGC_Enable();
    }
    if (!g_installed) {
        return 0;
    }
    if (g_vfs_state == 0 && g_sqlite_sealed && t_depth == 0 && event[0] == 's' &&
        event[1] == 'q' && strcmp(event, "sqlite3.connect") == 0) {
        vfs_guard_try(); /* (before this connection's open: SQLite's opens decided at the open) */
    }
    if (t_shape_parse != 0 && t_depth > 0) {
        if (t_shape_parse == 1 && event[0] == 'c' && strcmp(event, "compile") == 0) {
            t_shape_parse = 2; /* the parse's own event: decided as ever */
        }
        else {
            PyErr_Format(PyExc_PermissionError,
                         "lambda-sandbox: %s refused (raised inside the shape parse: nothing "
                         "but the parser runs there)",
                         event);
            return -1;
        }
    }
    if (t_depth == 0 && event[0] == 'o' && event[1] == 'b' &&
        strcmp(event, "object.__getattr__") == 0 && frame_of_the_hook_read(args)) {
        PyErr_SetString(PyExc_PermissionError,
                        "lambda-sandbox: object.__getattr__ refused (a frame of the sandbox's "
                        "hook: its locals lead to what it decides with)");
        return -1;
    }
    if (!name_set_has(&g_names, event) &&
        (t_depth == 0 || !name_set_has(&g_inside_only, event))) {
        return 0; /* (inside_only: refused to foreign code inside the callback, else ignored) */
    }
    if (event[0] == 's' && event[1] == 'a' && strcmp(event, SQLITE_REFUSED_EVENT) == 0) {
        PyErr_SetString(PyExc_PermissionError,
                        "lambda-sandbox: " SQLITE_REFUSED_EVENT " is the core's own (forged)");
        return -1;
    }
    if (event[0] == 's' && event[1] == 'a' && strcmp(event, SQLITE_OPEN_EVENT) == 0) {
        PyErr_SetString(PyExc_PermissionError,
                        "lambda-sandbox: " SQLITE_OPEN_EVENT " is the core's own (forged)");
        return -1;
    }
    if (event[0] == 's' && event[1] == 'a' && strcmp(event, CORE_CALL_EVENT) == 0) {
        /* another core's install-time call (announce_core_call; in g_names since install, so
         * an ignored event pays nothing for it): refused in every mode */
        PyErr_SetString(PyExc_PermissionError,
                        "lambda-sandbox: the sandbox's core is installed: no other core may "
                        "change the process");
        return -1;
    }
    if (!invoke_now() && name_set_has(&g_invoke_only, event) &&
        !compile_claims_module_file(event, args)) {
        return 0; /* init: the import system and the code generators at work (see install) */
    }
    if (PyInterpreterState_Get() != g_interp) {
        /* C hooks are process-wide: a subinterpreter's event must not run the main
         * interpreter's callback. Handled events there are refused (fail closed). */
        PyErr_SetString(PyExc_PermissionError,
                        "lambda-sandbox: audit event outside the main interpreter");
        return -1;
    }
    if (t_attach_armed && t_depth == 0 &&
        !(t_in_sqlite_authorize && event[0] == 's' && strcmp(event, "sandbox.sqlite") == 0)) {
        /* Python of the function's runs between an allowed ATTACH's check and its open
         * (sqlite_authorize), or an event comes from an `_ssl` module's exec (code_window):
         * whatever it reaches for, it is refused there (and reported) */
        const char *where = t_window_holds_others ? "between an SQLite ATTACH's check and its open"
                                                  : "in an _ssl module's exec";
        char what[200];
        snprintf(what, sizeof(what), "%.120s %s", event, where);
        if (sqlite_refusal(what) == 0) {
            PyErr_Format(PyExc_PermissionError, "lambda-sandbox: %s refused (%s)", event, where);
        }
        return -1;
    }
    if (g_attach_windows > 0 && !t_attach_armed && t_depth == 0 && changes_names(event)) {
        /* Another thread's ATTACH is between its check and its open, and the function's code
         * may run in its window only to hand over to this thread (a lock, a sleep: red team
         * 77): no name changes meanwhile, in any thread (one already in its system call when
         * the window opened is the symlink race the docs name) */
        char what[200];
        snprintf(what, sizeof(what),
                 "%.120s in another thread between an ATTACH's check and its open", event);
        if (sqlite_refusal(what) == 0) {
            PyErr_Format(PyExc_PermissionError,
                         "lambda-sandbox: %s refused (another thread is between an SQLite "
                         "ATTACH's check and its open)",
                         event);
        }
        return -1;
    }
    if (t_depth > 0) {
        if (caller_is_site(event)) {
            return 0; /* the sandbox's own work: an event its innermost function raises */
        }
        if (name_set_has(&g_refused_inside, event)) {
            /* Code that is not the sandbox's runs inside the callback (a finalizer, a rebound
             * hook of the interpreter's) and reaches for frames, objects or tracing: the
             * callback's frames lead to everything it decides with. Refused outright. */
            PyErr_Format(PyExc_PermissionError,
                         "lambda-sandbox: %s refused (code running inside the sandbox's hook)",
                         event);
            return -1;
        }
        if (t_depth >= CORE_MAX_NESTING) {
            PyErr_SetString(PyExc_PermissionError, "lambda-sandbox: nested audit events too deep");
            return -1;
        }
    }
    if (t_core_sets_profile && event[0] == 's' && strcmp(event, "sys.setprofile") == 0) {
        t_core_sets_profile = 0; /* the core's own (sqlite_pending): once */
        return 0;
    }
    if (g_sqlite_sealed && t_depth == 0 && event[0] == 's' && event[1] == 'q' &&
        strcmp(event, "sqlite3.connect/handle") == 0) {
        int answered = sqlite_handle_answered(args);
        if (answered != 0) {
            return answered > 0 ? 0 : -1;
        }
    }
    if (g_sqlite_sealed && t_sqlite != NULL && t_depth == 0 && event[0] == 's' &&
        event[1] == 'a' && strcmp(event, "sandbox.sqlite_flush") == 0 && sqlite_flush_from_trampoline()) {
        return sqlite_flush_event();
    }
    /* (told once: the commonest event, and the first test of every other "o..." one) */
    const int is_open = event[0] == 'o' && event[1] == 'p' && strcmp(event, "open") == 0;
    /* An open's arguments, parsed once for every answer below (keyed: a plain absolute name,
     * which may still hold a NUL: each answer that uses it as a C string tests that). */
    open_key key;
    const int keyed = is_open && open_key_parse(args, &key);
    if (keyed && open_is_shape_file(key.path, (size_t)key.len)) {
        return 0; /* the shape parse's own name, which no kernel opens (ENAMETOOLONG) */
    }
    if (is_open && !keyed && open_wraps_descriptor(args)) {
        /* (keyed: the name is a str, no descriptor) */
        return 0; /* the callback's answer: open(fd) wraps a descriptor, decided when opened */
    }
    if (keyed && g_module_prefix_count > 0 &&
        (invoke_now() ? invoke_module_read(&key, by_open_code)
                      : init_module_read(&key, by_open_code))) {
        return 0; /* the callback's answer: the import system reading a module file */
    }
    if (event[0] == 'o' && event[1] == 's' && g_module_prefix_count > 0 && !invoke_now() &&
        strcmp(event, "os.listdir") == 0 && init_module_list(args)) {
        return 0; /* the callback's answer: the import system listing a module folder at init */
    }
    if (keyed && (g_open_count > 0 || g_pattern_count > 0)) {
        int found;
        int phase = invoke_now();
        uint64_t h = open_hash(&key, phase);
        size_t j = open_find(&key, phase, h, &found);
        if (found && open_still_valid(&g_open[j])) {
            /* (a name holding a NUL matches no slot: each was kept from a name with none) */
            return 0; /* allowed before, and the name still leads to the same file */
        }
        if ((g_dir_count > 0 || g_pattern_count > 0) &&
            memchr(key.path, 0, (size_t)key.len) == NULL &&
            dir_verdict_allows(&key, phase, h)) {
            return 0; /* a new name in a directory whose every name is allowed */
        }
    }
    if (event[0] == 'i' && strcmp(event, "import") == 0 &&
        (g_cache_count > 0 || g_modv_count > 0) && import_cached(args)) {
        return 0; /* the callback's answer: a decision-cache hit or a module verdict */
    }
    if (event[0] == 'm' && g_mb_ready && strcmp(event, "marshal.loads") == 0 &&
        module_bytecode_answered(args)) {
        return 0; /* the callback's answer: importlib unmarshalling a module's own .pyc */
    }
    if (event[0] == '_' && g_exec_count > 0 && strcmp(event, "_posixsubprocess.fork_exec") == 0 &&
        exec_answered(args, invoke_now())) {
        return 0; /* allowed before with these arguments, the program the file judged then */
    }
    if (event[0] == 's' && event[1] == 'u' && g_popen_count > 0 &&
        strcmp(event, "subprocess.Popen") == 0 &&
        popen_answered(args, invoke_now())) {
        return 0; /* allowed before: the same arguments and code, everything it read as then */
    }
    if (event[0] == 'o' && event[1] == 'b' && strcmp(event, "object.__setattr__") == 0 &&
        setattr_unprotected(args)) {
        return 0; /* the callback's answer: not a name it guards */
    }
    if (event[0] == 's' && event[1] == 'o' && strcmp(event, "socket.getaddrinfo") == 0 &&
        lookup_of_literal(args)) {
        return 0; /* the callback's answer: a literal or passive lookup sends no query */
    }
    if (event[0] == 's' && event[1] == 'a' && g_net_count > 0 && g_aws_code != NULL &&
        strcmp(event, "sandbox.aws") == 0 && net_answered(NET_AWS, args, invoke_now())) {
        return 0; /* the same AWS call allowed before, from the botocore interposer */
    }
    if (event[0] == 's' && event[1] == 'o' && g_net_count > 0 &&
        strcmp(event, "socket.getaddrinfo") == 0 &&
        net_answered(NET_RESOLVE, args, invoke_now())) {
        return 0; /* a lookup of a name allowed before, as the decoder reads it */
    }
    if (event[0] == 'c' && g_compile_count > 0 && strcmp(event, "compile") == 0 &&
        compile_answered(args, invoke_now())) {
        return 0; /* allowed before: the same source, file name and compiling code */
    }
    if (event[0] == 's' && g_net_count > 0 && event[1] == 'o' &&
        (strcmp(event, "socket.__new__") == 0 || strcmp(event, "socket.connect") == 0) &&
        net_answered(event[7] == 'c', args, invoke_now())) {
        return 0; /* allowed before: the same socket kind, or the same address literal */
    }
    if (event[0] == 'e' && strcmp(event, "exec") == 0 &&
        (exec_runs_no_module(args) || exec_module_answered(args))) {
        return 0; /* the callback's answer: no module runs, or one its rules allow */
    }
    if (event[0] == 'o' && event[1] == 's' && event[2] == '.' &&
        (g_dir_count > 0 || g_pattern_count > 0) && change_answered(event, args, invoke_now())) {
        return 0; /* a change of names a write verdict covers */
    }
    if ((g_dir_count > 0 || g_pattern_count > 0) && names_answered(event, args, invoke_now())) {
        return 0; /* names decided as opens of them are, or a listing a pattern covers */
    }
    if (event[0] == 's' && g_quiet_ends && t_depth == 0 && event[1] == 'a' &&
        ((!g_end_needed && strcmp(event, "sandbox.invocation_end") == 0 &&
          quiet_end_answered(args)) ||
         (strcmp(event, "sandbox.invocation") == 0 && quiet_start_answered(args)))) {
        return 0; /* an end with nothing to write, or the next start: logged for the callback */
    }
    int decided = decide(event, args);
    if (decided == 0 && event[0] == 's' && g_quiet_ends) {
        invocation_seen(event, args);
    }
    return decided;
}

/* ------------------------------------------------------------------------------------- */
/* Module functions                                                                      */

static void
release_state(void)
{
    name_set_free(&g_names);
    name_set_free(&g_caller_events);
    name_set_free(&g_invoke_only);
    name_set_free(&g_setattr_names);
    code_set_free(&g_setattr_codes);
    g_setattr_codes_known = 0;
    name_set_free(&g_refused_inside);
    name_set_free(&g_inside_only);
    g_setattr_known = 0;
    code_set_free(&g_own_codes);
    code_set_free(&g_hidden_codes);
    own_sites_free();
    g_frame_guard = 0;
    code_set_free(&g_import_codes);
    for (size_t i = 0; i < g_module_prefix_count; i++) {
        PyMem_RawFree(g_module_prefixes[i]);
    }
    g_module_prefix_count = 0;
    Py_CLEAR(g_callback);
    PyMem_RawFree(g_mode);
    g_mode = NULL;
}

static int open_code_take(void); /* (below, with core_open_code) */

/* A class's `__dict__` is a mappingproxy over its real dict, and the proxy's comparisons and
 * `|` hand that dict to the other operand: `str.__dict__ == G()` -- dict's own comparison
 * declines an object that is not a dict, and Python then asks G.__eq__(real dict) -- and so
 * do `!=`, `<`..., `G() | str.__dict__`, a dict subclass's reflected method, a proxy over a
 * mapping of the function's. With the real dict, code changes any class -- a built-in's, a
 * sealed one's -- with no audit event and no version change: `str.startswith` or
 * `re.Pattern.match` swapped around a decision made the policy's matchers answer yes, and a
 * descriptor put in `object`'s dict caught the shape parser's nodes (red team 112). Sealed at
 * install: the proxy's comparison and `|` (its slots, and the slot wrappers in its dict that
 * call them) hand a real dict on only to an exact dict or another proxy over one -- whose
 * own code compares keys and values, never passing the dict itself -- and otherwise decline
 * (Python then asks the other operand with the proxy, as for any object). */
typedef struct {
    PyObject_HEAD
    PyObject *mapping;
} core_mappingproxy; /* (CPython's mappingproxyobject: the same fields since 3.3) */

static richcmpfunc g_proxy_compare;
static binaryfunc g_proxy_or;

static int
proxy_operand_plain(PyObject *operand)
{
    return PyDict_CheckExact(operand) ||
           (Py_IS_TYPE(operand, &PyDictProxy_Type) &&
            PyDict_CheckExact(((core_mappingproxy *)operand)->mapping));
}

static PyObject *
proxy_compare_sealed(PyObject *proxy, PyObject *other, int op)
{
    if (Py_IS_TYPE(proxy, &PyDictProxy_Type) &&
        PyDict_CheckExact(((core_mappingproxy *)proxy)->mapping) && !proxy_operand_plain(other)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    return g_proxy_compare(proxy, other, op);
}

static PyObject *
proxy_or_sealed(PyObject *left, PyObject *right)
{
    if (!proxy_operand_plain(left) || !proxy_operand_plain(right)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    return g_proxy_or(left, right);
}

/* object.__getstate__(cls) (3.11+) hands out the class's real dict too: CPython's default state
 * is PyObject_GenericGetDict(obj), and for a class that reads `type`'s dict offset -- its
 * tp_dict (every class on 3.11; heap types, _ast's and the sandbox's sealed ones among them,
 * from 3.12). Red team 113 wrote _io's and _ast's classes that way. Sealed at install on the
 * descriptor itself, for a class only: its unbound call (the descriptor's vectorcall) and its
 * binding to a class give a
 * read-only proxy of the dict (None where it is empty or there is none, as CPython's own).
 * Every other object keeps CPython's function and binding -- the pickler compares the bound
 * function with its own to pass on whether a state is required. The binding is sealed where
 * every binding goes: method_descriptor's own (its slot and its `__get__` wrapper, which red
 * team 114 called on the descriptor directly). */
#if PY_VERSION_HEX >= 0x030B0000
static vectorcallfunc g_getstate_vectorcall;
static descrgetfunc g_method_descr_get;

static PyObject *
getstate_of_a_class(PyObject *cls, PyObject *Py_UNUSED(unused))
{
    PyObject **slot = _PyObject_GetDictPtr(cls);
    if (slot == NULL || *slot == NULL || !PyDict_Check(*slot) || PyDict_GET_SIZE(*slot) == 0) {
        Py_RETURN_NONE;
    }
    return PyDictProxy_New(*slot);
}

static PyMethodDef g_getstate_of_a_class_def = {
    "__getstate__", getstate_of_a_class, METH_NOARGS,
    "Helper for pickle (a class's: a read-only view of its dict)."};

static PyObject *
getstate_descr_vectorcall(PyObject *descr, PyObject *const *args, size_t nargsf,
                          PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 1 && PyType_Check(args[0]) &&
        (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0)) {
        return getstate_of_a_class(args[0], NULL);
    }
    return g_getstate_vectorcall(descr, args, nargsf, kwnames);
}

static PyObject *g_getstate_descr; /* (borrowed: object's dict holds it for good) */

/* method_descriptor's binding (its tp_descr_get, and the `__get__` slot wrapper in its dict,
 * which calls the function it was made with): object.__getstate__ bound to a class binds the
 * class's function; every other binding is CPython's own. */
static PyObject *
method_descr_get_sealed(PyObject *descr, PyObject *obj, PyObject *type)
{
    if (descr == g_getstate_descr && obj != NULL && obj != Py_None && PyType_Check(obj)) {
        return PyCFunction_NewEx(&g_getstate_of_a_class_def, obj, NULL);
    }
    return g_method_descr_get(descr, obj, type);
}

static int
getstate_seal(void)
{
    if (g_getstate_vectorcall != NULL) {
        return 0;
    }
    PyObject *name = PyUnicode_InternFromString("__getstate__");
    PyObject *get_name = name != NULL ? PyUnicode_InternFromString("__get__") : NULL;
    if (get_name == NULL) {
        Py_XDECREF(name);
        return -1;
    }
    PyObject *descr = _PyType_Lookup(&PyBaseObject_Type, name); /* (borrowed) */
    PyObject *get = _PyType_Lookup(&PyMethodDescr_Type, get_name);
    Py_DECREF(name);
    Py_DECREF(get_name);
    descrgetfunc binding = PyMethodDescr_Type.tp_descr_get;
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMethodDescr_Type) ||
        ((PyMethodDescrObject *)descr)->vectorcall == NULL || binding == NULL || get == NULL ||
        !Py_IS_TYPE(get, &PyWrapperDescr_Type) ||
        ((PyWrapperDescrObject *)get)->d_wrapped != (void *)binding) {
        PyErr_SetString(PyExc_RuntimeError,
                        "lambda-sandbox: object.__getstate__ is not the method this core seals");
        return -1;
    }
    g_getstate_descr = descr;
    g_method_descr_get = binding;
    g_getstate_vectorcall = ((PyMethodDescrObject *)descr)->vectorcall;
    ((PyMethodDescrObject *)descr)->vectorcall = getstate_descr_vectorcall;
    PyMethodDescr_Type.tp_descr_get = method_descr_get_sealed;
    ((PyWrapperDescrObject *)get)->d_wrapped = (void *)method_descr_get_sealed;
    return 0;
}
#else
static int
getstate_seal(void)
{
    return 0; /* (3.10 has no object.__getstate__) */
}
#endif

/* type.__abstractmethods__'s setter writes the class's own dict and flags with no check of the
 * immutable flag and no audit event (CPython checks it for every other attribute of a type):
 * red team 114 used it to drop a built-in class's method caches after changing its dict, and
 * it makes any class abstract (uninstantiable). Sealed at install: refused on an immutable
 * type -- a built-in's, an extension's, the sandbox's sealed ones -- as setattr would be. */
static setter g_abstract_set;

static int
abstractmethods_set_sealed(PyObject *type, PyObject *value, void *context)
{
    if (PyType_Check(type) &&
        PyType_HasFeature((PyTypeObject *)type, Py_TPFLAGS_IMMUTABLETYPE)) {
        PyErr_Format(PyExc_TypeError,
                     "cannot set '__abstractmethods__' attribute of immutable type '%s'",
                     ((PyTypeObject *)type)->tp_name);
        return -1;
    }
    return g_abstract_set(type, value, context);
}

static int
abstractmethods_seal(void)
{
    if (g_abstract_set != NULL) {
        return 0;
    }
    PyObject *name = PyUnicode_InternFromString("__abstractmethods__");
    if (name == NULL) {
        return -1;
    }
    PyObject *descr = _PyType_Lookup(&PyType_Type, name); /* (borrowed) */
    Py_DECREF(name);
    if (descr == NULL || !Py_IS_TYPE(descr, &PyGetSetDescr_Type) ||
        ((PyGetSetDescrObject *)descr)->d_getset == NULL ||
        ((PyGetSetDescrObject *)descr)->d_getset->set == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "lambda-sandbox: type.__abstractmethods__ is not the setter this core seals");
        return -1;
    }
    g_abstract_set = ((PyGetSetDescrObject *)descr)->d_getset->set;
    ((PyGetSetDescrObject *)descr)->d_getset->set = abstractmethods_set_sealed;
    return 0;
}

/* Seal the proxy's operators (once; 0, or -1 with an exception where a slot is not the one
 * this code knows: install then fails rather than run with the door open). */
static int
proxy_seal(void)
{
    if (g_proxy_compare != NULL) {
        return 0;
    }
    PyTypeObject *kind = &PyDictProxy_Type;
    if (kind->tp_richcompare == NULL || kind->tp_as_number == NULL ||
        kind->tp_as_number->nb_or == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "lambda-sandbox: mappingproxy has no comparison or `|` to seal");
        return -1;
    }
    static const char *names[] = {"__eq__", "__ne__", "__lt__", "__le__",
                                  "__gt__", "__ge__", "__or__", "__ror__"};
    richcmpfunc compare = kind->tp_richcompare;
    binaryfunc or_ = kind->tp_as_number->nb_or;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        PyObject *name = PyUnicode_InternFromString(names[i]);
        if (name == NULL) {
            return -1;
        }
        PyObject *descr = _PyType_Lookup(kind, name); /* (borrowed) */
        Py_DECREF(name);
        if (descr == NULL || !Py_IS_TYPE(descr, &PyWrapperDescr_Type)) {
            PyErr_Format(PyExc_RuntimeError,
                         "lambda-sandbox: mappingproxy.%s is not its slot wrapper", names[i]);
            return -1;
        }
        PyWrapperDescrObject *wrapper = (PyWrapperDescrObject *)descr;
        void *sealed = i < 6 ? (void *)proxy_compare_sealed : (void *)proxy_or_sealed;
        void *original = i < 6 ? (void *)compare : (void *)or_;
        if (wrapper->d_wrapped != original && wrapper->d_wrapped != sealed) {
            PyErr_Format(PyExc_RuntimeError,
                         "lambda-sandbox: mappingproxy.%s wraps another function", names[i]);
            return -1;
        }
        wrapper->d_wrapped = sealed;
    }
    g_proxy_compare = compare;
    g_proxy_or = or_;
    kind->tp_richcompare = proxy_compare_sealed;
    kind->tp_as_number->nb_or = proxy_or_sealed;
    return 0;
}

/* globals(), locals(), and vars() and dir() without an argument read the innermost Python
 * frame -- inside the callback, always one of the hook's own (the frame guard runs no other):
 * called there by a C callable of the function's (a metaclass's __hash__ made of them, red
 * team 115), globals() handed over a private module's dict, and with it everything the hook
 * decides with. No audit event. Sealed at install (their method entries, each by its calling
 * convention): refused inside the callback, as they are nowhere in the hook's own code. */
static PyMethodDef *builtin_def(PyObject *function, const char *module_name, const char *name,
                                int flags);
#define FRAME_READERS 4
static const char *g_frame_reader_names[FRAME_READERS] = {"globals", "locals", "vars", "dir"};
static PyCFunction g_frame_reader_original[FRAME_READERS];

static int
frame_read_refused(int which, Py_ssize_t nargs)
{
    if (t_depth > 0 && (which < 2 || nargs == 0)) {
        PyErr_Format(PyExc_PermissionError,
                     "lambda-sandbox: %s() refused inside the sandbox's hook (it reads the "
                     "hook's own frame)",
                     g_frame_reader_names[which]);
        return 1;
    }
    return 0;
}

#define FRAME_READER(i)                                                                     \
    static PyObject *frame_reader_noargs_##i(PyObject *self, PyObject *unused)              \
    {                                                                                       \
        return frame_read_refused(i, 0) ? NULL : g_frame_reader_original[i](self, unused);  \
    }                                                                                       \
    static PyObject *frame_reader_varargs_##i(PyObject *self, PyObject *args)               \
    {                                                                                       \
        return frame_read_refused(i, PyTuple_GET_SIZE(args))                                \
                   ? NULL                                                                   \
                   : g_frame_reader_original[i](self, args);                                \
    }                                                                                       \
    static PyObject *frame_reader_fast_##i(PyObject *self, PyObject *const *args,           \
                                           Py_ssize_t nargs)                                \
    {                                                                                       \
        return frame_read_refused(i, nargs)                                                 \
                   ? NULL                                                                   \
                   : ((_PyCFunctionFast)(void (*)(void))g_frame_reader_original[i])(self, args, \
                                                                                   nargs);  \
    }
FRAME_READER(0)
FRAME_READER(1)
FRAME_READER(2)
FRAME_READER(3)
#undef FRAME_READER

static int
frame_readers_seal(void)
{
    static PyCFunction noargs[FRAME_READERS] = {frame_reader_noargs_0, frame_reader_noargs_1,
                                                frame_reader_noargs_2, frame_reader_noargs_3};
    static PyCFunction varargs[FRAME_READERS] = {frame_reader_varargs_0, frame_reader_varargs_1,
                                                 frame_reader_varargs_2, frame_reader_varargs_3};
    static _PyCFunctionFast fast[FRAME_READERS] = {frame_reader_fast_0, frame_reader_fast_1,
                                                   frame_reader_fast_2, frame_reader_fast_3};
    if (g_frame_reader_original[0] != NULL) {
        return 0;
    }
    PyObject *builtins = PyImport_ImportModule("builtins");
    if (builtins == NULL) {
        return -1;
    }
    PyMethodDef *defs[FRAME_READERS];
    PyCFunction replacements[FRAME_READERS];
    for (int i = 0; i < FRAME_READERS; i++) {
        PyObject *function = PyObject_GetAttrString(builtins, g_frame_reader_names[i]);
        if (function == NULL) {
            Py_DECREF(builtins);
            return -1;
        }
        if ((defs[i] = builtin_def(function, "builtins", g_frame_reader_names[i], METH_NOARGS))) {
            replacements[i] = noargs[i];
        }
        else if ((defs[i] = builtin_def(function, "builtins", g_frame_reader_names[i],
                                        METH_VARARGS))) {
            replacements[i] = varargs[i];
        }
        else if ((defs[i] = builtin_def(function, "builtins", g_frame_reader_names[i],
                                        METH_FASTCALL))) {
            replacements[i] = (PyCFunction)(void (*)(void))fast[i];
        }
        Py_DECREF(function);
        if (defs[i] == NULL) {
            Py_DECREF(builtins);
            PyErr_Format(PyExc_RuntimeError,
                         "lambda-sandbox: builtins.%s has a calling convention this core does "
                         "not seal",
                         g_frame_reader_names[i]);
            return -1;
        }
    }
    Py_DECREF(builtins);
    for (int i = 0; i < FRAME_READERS; i++) {
        g_frame_reader_original[i] = defs[i]->ml_meth;
        defs[i]->ml_meth = replacements[i];
    }
    return 0;
}

static PyObject *
core_install(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"names",         "callback",      "own_codes",
                             "mode",          "caller_events", "block_signals",
                             "invoke_only",   "setattr_names", "refused_inside",
                             "inside_only",   "module_prefixes", "import_codes",
                             "own_sites",     "frame_guard",   "setattr_codes",
                             "hidden_codes",  NULL};
    PyObject *names, *callback, *own_codes, *mode, *caller_events = NULL, *invoke_only = NULL;
    PyObject *setattr_names = NULL, *refused_inside = NULL, *inside_only = NULL;
    PyObject *module_prefixes = NULL, *import_codes = NULL, *own_sites = NULL;
    PyObject *setattr_codes = NULL, *hidden_codes = NULL;
    int block_signals = 1, frame_guard = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOU|OpOOOOOOOpOO:install", kwlist, &names,
                                     &callback, &own_codes, &mode, &caller_events,
                                     &block_signals, &invoke_only, &setattr_names,
                                     &refused_inside, &inside_only, &module_prefixes,
                                     &import_codes, &own_sites, &frame_guard, &setattr_codes,
                                     &hidden_codes)) {
        return NULL;
    }
    if (g_installed) {
        Py_RETURN_FALSE;
    }
    if (!announce_core_call("install")) {
        return NULL;
    }
    if (!PyCallable_Check(callback)) {
        PyErr_SetString(PyExc_TypeError, "install: callback must be callable");
        return NULL;
    }
    Py_ssize_t mode_len;
    const char *mode_utf8 = PyUnicode_AsUTF8AndSize(mode, &mode_len);
    if (mode_utf8 == NULL) {
        return NULL;
    }
    {
        /* the names, and the event of another copy's install-time calls (refused: core_hook) */
        PyObject *all = PySequence_List(names);
        PyObject *event = all != NULL ? PyUnicode_FromString(CORE_CALL_EVENT) : NULL;
        int rc = event != NULL ? PyList_Append(all, event) : -1;
        Py_XDECREF(event);
        if (rc == 0) {
            rc = name_set_build(&g_names, all, "install: names");
        }
        Py_XDECREF(all);
        if (rc < 0) {
            goto fail;
        }
    }
    if (caller_events != NULL) {
        if (name_set_build(&g_caller_events, caller_events, "install: caller_events") < 0) {
            goto fail;
        }
    }
    else {
        PyObject *empty = PyTuple_New(0);
        if (empty == NULL) {
            goto fail;
        }
        int rc = name_set_build(&g_caller_events, empty, "install: caller_events");
        Py_DECREF(empty);
        if (rc < 0) {
            goto fail;
        }
    }
    {
        PyObject *empty = invoke_only == NULL ? PyTuple_New(0) : NULL;
        if (invoke_only == NULL && empty == NULL) {
            goto fail;
        }
        int rc = name_set_build(&g_invoke_only, empty != NULL ? empty : invoke_only,
                                "install: invoke_only");
        Py_XDECREF(empty);
        if (rc < 0) {
            goto fail;
        }
    }
    {
        PyObject *empty = PyTuple_New(0);
        if (empty == NULL) {
            goto fail;
        }
        int rc = name_set_build(&g_refused_inside, refused_inside != NULL ? refused_inside : empty,
                                "install: refused_inside");
        if (rc == 0) {
            rc = name_set_build(&g_inside_only, inside_only != NULL ? inside_only : empty,
                                "install: inside_only");
        }
        Py_DECREF(empty);
        if (rc < 0) {
            goto fail;
        }
    }
    if (setattr_names != NULL && setattr_names != Py_None) {
        if (name_set_build(&g_setattr_names, setattr_names, "install: setattr_names") < 0) {
            goto fail;
        }
        g_setattr_known = 1;
    }
    if (setattr_codes != NULL && setattr_codes != Py_None) {
        if (code_set_build(&g_setattr_codes, setattr_codes) < 0) {
            goto fail;
        }
        g_setattr_codes_known = 1;
    }
    if (code_set_build(&g_own_codes, own_codes) < 0) {
        goto fail;
    }
    if (hidden_codes != NULL && hidden_codes != Py_None &&
        code_set_build(&g_hidden_codes, hidden_codes) < 0) {
        goto fail;
    }
    if (own_sites != NULL && own_sites != Py_None && own_sites_build(own_sites, &g_own_codes) < 0) {
        goto fail;
    }
    g_frame_guard = frame_guard;
    {
        PyObject *empty = PyTuple_New(0);
        if (empty == NULL) {
            goto fail;
        }
        int rc = code_set_build(&g_import_codes, import_codes != NULL ? import_codes : empty);
        Py_DECREF(empty);
        if (rc < 0) {
            goto fail;
        }
    }
    if (module_prefixes != NULL && module_prefixes != Py_None) {
        PyObject *items = PySequence_Fast(module_prefixes, "install: module_prefixes");
        if (items == NULL) {
            goto fail;
        }
        Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
        g_module_prefixes_cut = n > MODULE_PREFIX_LIMIT;
        for (Py_ssize_t i = 0; i < n && g_module_prefix_count < MODULE_PREFIX_LIMIT; i++) {
            const char *units;
            Py_ssize_t len;
            PyObject *item = PySequence_Fast_GET_ITEM(items, i);
            int plain = ascii_of(item, &units, &len);
            if (plain < 0) {
                Py_DECREF(items);
                goto fail;
            }
            if (plain != 1 || len < 2 || units[0] != '/' || units[len - 1] != '/') {
                continue; /* (a root that is not a plain ASCII folder: the callback decides) */
            }
            char *copy = PyMem_RawMalloc((size_t)len + 1);
            if (copy == NULL) {
                Py_DECREF(items);
                PyErr_NoMemory();
                goto fail;
            }
            memcpy(copy, units, (size_t)len + 1);
            g_module_prefixes[g_module_prefix_count] = copy;
            g_module_prefix_lens[g_module_prefix_count++] = (size_t)len;
        }
        Py_DECREF(items);
    }
    g_mode = PyMem_RawMalloc((size_t)mode_len + 1);
    if (g_mode == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    memcpy(g_mode, mode_utf8, (size_t)mode_len + 1);
    Py_INCREF(callback);
    g_callback = callback;
    g_block_signals = block_signals;
    g_interp = PyInterpreterState_Get();

    /* PySys_AddAuditHook drops a hook silently when an existing hook refuses the
     * sys.addaudithook event: ask first, so a refusal is an error here, not a silent gap. */
    if (PySys_Audit("sys.addaudithook", NULL) < 0) {
        goto fail;
    }
    /* (the open_code hook first: core_open_code hands every read to _io.open until install
     * ends, so an install that fails after it leaves reads as they were) */
    if (open_code_take() < 0) {
        goto fail;
    }
    if (proxy_seal() < 0 || getstate_seal() < 0 || abstractmethods_seal() < 0 ||
        frame_readers_seal() < 0 || PySys_AddAuditHook(core_hook, NULL) < 0) {
        goto fail;
    }
    {
        void *page = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                          -1, 0);
        if (page != MAP_FAILED) {
            g_shared_invoke = (volatile int *)page;
            *g_shared_invoke = g_invoke;
        }
    }
    g_installed = 1;
    Py_RETURN_TRUE;

fail:
    release_state();
    return NULL;
}

static PyObject *
core_mode(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(g_mode != NULL ? g_mode : "");
}

/* The two phase names, made once (the hook asks for the phase at every decision). Only
 * handed out in the interpreter that made them: objects are not shared across interpreters. */
static PyObject *g_phase_names[2];
static PyInterpreterState *g_phase_interp;

static PyObject *
core_phase(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    PyInterpreterState *interp = PyInterpreterState_Get();
    if (g_phase_interp == NULL) {
        PyObject *init = PyUnicode_InternFromString("init");
        PyObject *invoke = PyUnicode_InternFromString("invoke");
        if (init == NULL || invoke == NULL) {
            Py_XDECREF(init);
            Py_XDECREF(invoke);
            return NULL;
        }
        g_phase_names[0] = init;
        g_phase_names[1] = invoke;
        g_phase_interp = interp;
    }
    if (interp != g_phase_interp) {
        return PyUnicode_FromString(invoke_now() ? "invoke" : "init");
    }
    PyObject *name = g_phase_names[invoke_now() ? 1 : 0];
    Py_INCREF(name);
    return name;
}

static PyObject *
refuse(const char *what)
{
    PyErr_Format(PyExc_PermissionError, "lambda-sandbox: %s refused", what);
    return NULL;
}

static PyObject *
core_enter_invoke(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (!g_installed || !caller_is_site("core.enter_invoke")) {
        return refuse("enter_invoke");
    }
    g_invoke = 1;
    if (g_shared_invoke != NULL) {
        *g_shared_invoke = 1; /* forked children follow */
    }
    Py_RETURN_NONE;
}

static int
check_key(PyObject *key)
{
    if (!PyUnicode_CheckExact(key)) {
        PyErr_Format(PyExc_TypeError, "cache key must be str, not %.80s", Py_TYPE(key)->tp_name);
        return -1;
    }
    return 0;
}

static PyObject *
core_cache_has(PyObject *self, PyObject *key)
{
    (void)self;
    int kind, found;
    const void *data;
    Py_ssize_t len;
    if (!PyUnicode_CheckExact(key)) {
        Py_RETURN_FALSE; /* only exact str keys are ever stored; no method of key is called */
    }
    if (str_units(key, &kind, &data, &len) < 0) {
        return NULL;
    }
    uint64_t h = bytes_hash(data, (size_t)len * (size_t)kind, (uint64_t)kind);
    cache_find(h, kind, data, len, &found);
    return PyBool_FromLong(found);
}

static PyObject *
core_cache_add(PyObject *self, PyObject *key)
{
    (void)self;
    int kind, found;
    const void *data;
    Py_ssize_t len;
    if (t_depth == 0 || !caller_is_site("core.cache_add")) {
        return refuse("cache_add");
    }
    if (check_key(key) < 0 || str_units(key, &kind, &data, &len) < 0) {
        return NULL;
    }
    size_t nbytes = (size_t)len * (size_t)kind;
    uint64_t h = bytes_hash(data, nbytes, (uint64_t)kind);
    size_t j = cache_find(h, kind, data, len, &found);
    if (found) {
        Py_RETURN_NONE;
    }
    if (g_cache_count >= CORE_CACHE_LIMIT) {
        cache_clear_all();
        j = cache_find(h, kind, data, len, &found);
    }
    char *copy = PyMem_RawMalloc(nbytes ? nbytes : 1);
    if (copy == NULL) {
        return PyErr_NoMemory();
    }
    memcpy(copy, data, nbytes);
    g_cache[j].hash = h;
    g_cache[j].len = len;
    g_cache[j].kind = kind;
    g_cache[j].data = copy;
    g_cache_count++;
    Py_RETURN_NONE;
}

static PyObject *
core_cache_clear(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (t_depth == 0 || !caller_is_site("core.cache_clear")) {
        return refuse("cache_clear");
    }
    cache_clear_all();
    modv_clear_all(); /* verdicts are decisions too */
    exec_clear_all();
    popen_clear_all();
    compile_clear_all();
    net_clear_all();
    Py_RETURN_NONE;
}

/* The Python side's identity convention into (kind, dev, ino): (dev, ino) of the file; a
 * negative inode -i-1 is the directory's inode i (the name did not exist); None or a negative
 * device is "no identity" (kind 0). -1 with an exception set on a malformed value. */
static int
identity_of(PyObject *identity, const char *what, int *kind, long long *dev, long long *ino)
{
    *kind = 0;
    *dev = 0;
    *ino = 0;
    if (identity == Py_None) {
        return 0;
    }
    if (!PyTuple_CheckExact(identity) || PyTuple_GET_SIZE(identity) != 2 ||
        !PyLong_CheckExact(PyTuple_GET_ITEM(identity, 0)) ||
        !PyLong_CheckExact(PyTuple_GET_ITEM(identity, 1))) {
        PyErr_Format(PyExc_TypeError, "%s: identity must be (int, int) or None", what);
        return -1;
    }
    *dev = PyLong_AsLongLong(PyTuple_GET_ITEM(identity, 0));
    *ino = PyLong_AsLongLong(PyTuple_GET_ITEM(identity, 1));
    if (PyErr_Occurred()) {
        return -1;
    }
    if (*dev >= 0) {
        *kind = *ino >= 0 ? 1 : 2;
        if (*ino < 0) {
            *ino = -*ino - 1;
        }
    }
    return 0;
}

/* Keep (or refresh) the entry for `key` in `phase`, whose open_hash is `h`. -1 on memory
 * exhaustion. */
/* Whether a name is one SQLite makes and removes itself, in C, with no audit event: a
 * database's journal, WAL and shared-memory files ("<db>-journal", "-wal", "-shm"), its
 * super-journals ("<db>-mj" and 8 hex digits), its temporary files ("etilqs_...") and the lock
 * folder of its unix-dotfile VFS ("<db>.lock", made and removed with mkdir/rmdir). No answer
 * is kept for one: once SQLite has removed it, anything may be made at that name (a device
 * node with os.mknod, no event either) where a kept answer would still hold (red teams 70,
 * 71). */
static size_t sqlite_aux_suffix(const char *leaf, size_t m); /* (with guarded_open) */

static int
sqlite_own_name(const char *path, size_t n)
{
    const char *slash = memrchr(path, '/', n);
    const char *leaf = slash != NULL ? slash + 1 : path;
    size_t m = n - (size_t)(leaf - path);
    if (m >= 7 && memcmp(leaf, "etilqs_", 7) == 0) {
        return 1;
    }
    /* (the suffixes: sqlite_aux_suffix, which guarded_open decides them by) */
    return ends_with(leaf, (Py_ssize_t)m, ".lock") || sqlite_aux_suffix(leaf, m) > 0;
}

static int
open_remember_hashed(const open_key *key, int phase, uint64_t h, int kind,
                     unsigned long long dev, unsigned long long ino)
{
    if (sqlite_own_name(key->path, (size_t)key->len)) {
        return 0; /* (not kept: decided at each open) */
    }
    int found;
    size_t j = open_find(key, phase, h, &found);
    if (!found && g_open_count >= OPEN_CACHE_LIMIT) {
        open_clear_all();
        j = open_find(key, phase, h, &found);
    }
    open_slot *slot = &g_open[j];
    if (!found) {
        char *copy = PyMem_RawMalloc((size_t)key->len + 1);
        if (copy == NULL) {
            return -1;
        }
        memcpy(copy, key->path, (size_t)key->len);
        copy[key->len] = '\0';
        slot->hash = h;
        slot->path = copy;
        slot->len = key->len;
        memcpy(slot->mode, key->mode, (size_t)key->mode_len);
        slot->mode[key->mode_len] = '\0';
        slot->mode_len = (size_t)key->mode_len;
        slot->mode_none = key->mode_none;
        slot->flags = key->flags;
        slot->phase = phase;
        g_open_where[j] = (uint32_t)g_open_count;
        g_open_used[g_open_count++] = (uint32_t)j;
        if (key->mode_none == DIR_VERDICT) {
            g_dir_count++;
        }
    }
    slot->identity = kind;
    slot->dev = dev;
    slot->ino = ino;
    return 0;
}

/* Keep (or refresh) the entry for `key` in `phase`. -1 on memory exhaustion. */
static int
open_remember(const open_key *key, int phase, int kind, unsigned long long dev,
              unsigned long long ino)
{
    return open_remember_hashed(key, phase, open_hash(key, phase), kind, dev, ino);
}

static PyObject *
core_open_cache_add(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *event_args, *identity;
    if (!PyArg_ParseTuple(args, "OO:open_cache_add", &event_args, &identity)) {
        return NULL;
    }
    if (t_depth == 0 || !caller_is_site("core.open_cache_add")) {
        return refuse("open_cache_add");
    }
    open_key key;
    if (!open_key_of(event_args, &key)) {
        Py_RETURN_FALSE; /* not a kind this table holds: the callback decides every time */
    }
    int kind;
    long long dev, ino;
    if (identity_of(identity, "open_cache_add", &kind, &dev, &ino) < 0) {
        return NULL;
    }
    if ((g_open_validate && kind == 0) || !decision_names_hold() ||
        sqlite_own_name(key.path, (size_t)key.len)) {
        Py_RETURN_FALSE;
    }
    if (open_remember(&key, invoke_now(), kind, (unsigned long long)dev,
                      (unsigned long long)ino) < 0) {
        return PyErr_NoMemory();
    }
    Py_RETURN_TRUE;
}

/* Keep a directory verdict (the table's flags: 0 read, 1 write, DIR_MODULE_READS) for
 * `directory`, identified by `identity`; what dir_verdict_add and dir_module_verdict_add share. */
static PyObject *
verdict_keep(PyObject *directory, PyObject *identity, const char *what, long long flags)
{
    if (!PyUnicode_CheckExact(directory)) {
        PyErr_Format(PyExc_TypeError, "%s: directory must be str", what);
        return NULL;
    }
    const char *path;
    Py_ssize_t len;
    int plain = ascii_of(directory, &path, &len);
    if (plain < 0) {
        return NULL;
    }
    if (!plain || len < 1 || len > OPEN_PATH_MAX || path[0] != '/' ||
        memchr(path, 0, (size_t)len) != NULL || (len > 1 && path[len - 1] == '/')) {
        Py_RETURN_FALSE; /* not a name this table holds */
    }
    int kind;
    long long dev, ino;
    if (identity_of(identity, what, &kind, &dev, &ino) < 0) {
        return NULL;
    }
    if (kind == 2 || (g_open_validate && kind == 0) || !decision_names_hold()) {
        Py_RETURN_FALSE; /* a directory that is not there, or no identity to check it by */
    }
    open_key key = {path, len, "", 0, DIR_VERDICT, flags};
    if (open_remember(&key, invoke_now(), kind, (unsigned long long)dev,
                      (unsigned long long)ino) < 0) {
        return PyErr_NoMemory();
    }
    Py_RETURN_TRUE;
}

static PyObject *
core_dir_verdict_add(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *directory, *identity;
    const char *action;
    if (!PyArg_ParseTuple(args, "UsO:dir_verdict_add", &directory, &action, &identity)) {
        return NULL;
    }
    if (t_depth == 0 || !caller_is_site("core.dir_verdict_add")) {
        return refuse("dir_verdict_add");
    }
    int write;
    if (strcmp(action, "read") == 0) {
        write = 0;
    }
    else if (strcmp(action, "write") == 0) {
        write = 1;
    }
    else {
        PyErr_SetString(PyExc_ValueError, "dir_verdict_add: action must be 'read' or 'write'");
        return NULL;
    }
    return verdict_keep(directory, identity, "dir_verdict_add", write);
}

/* A pattern verdict (see pattern_find): the hook adds one when the policy says every name
 * `directory`/x (depth 0), or every name directly in a folder `directory`/x (depth 1), x
 * matching `glob`, may be accessed for `action`. False when not kept (a name this table does
 * not hold, no identity to check it by once validating); a full table drops its oldest. */
static PyObject *
core_pattern_verdict_add(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *directory, *glob, *identity;
    const char *action;
    int depth;
    if (!PyArg_ParseTuple(args, "UUsiO:pattern_verdict_add", &directory, &glob, &action, &depth,
                          &identity)) {
        return NULL;
    }
    if (t_depth == 0 || !caller_is_site("core.pattern_verdict_add")) {
        return refuse("pattern_verdict_add");
    }
    int code;
    if (strcmp(action, "read") == 0) {
        code = 0;
    }
    else if (strcmp(action, "write") == 0) {
        code = 1;
    }
    else if (strcmp(action, "list") == 0) {
        code = ACTION_LIST;
    }
    else {
        PyErr_SetString(PyExc_ValueError,
                        "pattern_verdict_add: action must be 'read', 'write' or 'list'");
        return NULL;
    }
    if (depth != 0 && (depth != 1 || code == ACTION_LIST)) {
        PyErr_SetString(PyExc_ValueError,
                        "pattern_verdict_add: depth must be 0, or 1 for 'read' and 'write'");
        return NULL;
    }
    int kind;
    long long dev, ino;
    if (identity_of(identity, "pattern_verdict_add", &kind, &dev, &ino) < 0) {
        return NULL;
    }
    const char *dir, *g;
    Py_ssize_t dir_len, glob_len;
    int plain_dir = ascii_of(directory, &dir, &dir_len);
    int plain_glob = plain_dir == 1 ? ascii_of(glob, &g, &glob_len) : 0;
    if (plain_dir < 0 || plain_glob < 0) {
        return NULL;
    }
    if (plain_dir != 1 || plain_glob != 1 || dir_len < 1 || dir_len > OPEN_PATH_MAX ||
        dir[0] != '/' || memchr(dir, 0, (size_t)dir_len) != NULL ||
        memchr(dir, '\n', (size_t)dir_len) != NULL ||
        (dir_len > 1 && (dir[dir_len - 1] == '/' || strstr(dir, "//") != NULL ||
                         strstr(dir, "/./") != NULL || strstr(dir, "/../") != NULL ||
                         ends_with(dir, dir_len, "/.") || ends_with(dir, dir_len, "/.."))) ||
        glob_len < 1 || glob_len > 255 || memchr(g, 0, (size_t)glob_len) != NULL ||
        memchr(g, '/', (size_t)glob_len) != NULL || memchr(g, '\n', (size_t)glob_len) != NULL ||
        strstr(g, "**") != NULL) {
        Py_RETURN_FALSE; /* not a folder or a one-name glob this table holds */
    }
    if (kind == 2 || (g_open_validate && kind == 0) || !decision_names_hold()) {
        Py_RETURN_FALSE; /* a folder that is not there, or no identity to check it by */
    }
    int phase = invoke_now();
    for (size_t i = 0; i < g_pattern_count; i++) {
        pattern_verdict *p = &g_patterns[i];
        if (p->action == code && p->depth == depth && p->phase == phase &&
            p->dir_len == (size_t)dir_len && memcmp(p->dir, dir, (size_t)dir_len) == 0 &&
            p->glob_len == (size_t)glob_len && memcmp(p->glob, g, (size_t)glob_len) == 0) {
            p->identity = kind;
            p->dev = (unsigned long long)dev;
            p->ino = (unsigned long long)ino;
            Py_RETURN_TRUE;
        }
    }
    char *dir_copy = PyMem_RawMalloc((size_t)dir_len + 1);
    char *glob_copy = PyMem_RawMalloc((size_t)glob_len + 1);
    if (dir_copy == NULL || glob_copy == NULL) {
        PyMem_RawFree(dir_copy);
        PyMem_RawFree(glob_copy);
        return PyErr_NoMemory();
    }
    memcpy(dir_copy, dir, (size_t)dir_len + 1);
    memcpy(glob_copy, g, (size_t)glob_len + 1);
    if (g_pattern_count >= PATTERN_LIMIT) {
        /* full: the oldest goes (forgetting a verdict only sends names to the callback) */
        PyMem_RawFree(g_patterns[0].dir);
        PyMem_RawFree(g_patterns[0].glob);
        memmove(&g_patterns[0], &g_patterns[1], sizeof(pattern_verdict) * (PATTERN_LIMIT - 1));
        g_pattern_count--;
    }
    pattern_verdict *p = &g_patterns[g_pattern_count++];
    p->dir = dir_copy;
    p->dir_len = (size_t)dir_len;
    p->glob = glob_copy;
    p->glob_len = (size_t)glob_len;
    p->action = code;
    p->depth = depth;
    p->phase = phase;
    p->identity = kind;
    p->dev = (unsigned long long)dev;
    p->ino = (unsigned long long)ino;
    Py_RETURN_TRUE;
}

/* popen_verdict_add(args, caller, identity, checks): the hook, after it allowed this Popen in
 * enforce, raised by `caller` (the code the core handed it, or None), on a program judged
 * plain with `identity` (file_identity's 7-tuple), its decision having read `checks`. */
static PyObject *
core_popen_verdict_add(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *event_args, *caller, *identity, *checks;
    if (!PyArg_ParseTuple(args, "OOOO:popen_verdict_add", &event_args, &caller, &identity,
                          &checks)) {
        return NULL;
    }
    if (t_depth == 0 || !caller_is_site("core.popen_verdict_add")) {
        return refuse("popen_verdict_add");
    }
    long long values[7];
    if (!identity_values(identity, values)) {
        if (PyTuple_CheckExact(identity) && PyTuple_GET_SIZE(identity) == 7) {
            int ints = 1;
            for (Py_ssize_t i = 0; i < 7; i++) {
                ints = ints && PyLong_CheckExact(PyTuple_GET_ITEM(identity, i));
            }
            if (ints) {
                Py_RETURN_FALSE; /* (a value out of range: nothing kept) */
            }
        }
        PyErr_SetString(PyExc_TypeError, "popen_verdict_add: identity must be a 7-tuple of int");
        return NULL;
    }
    if (caller != Py_None && !PyCode_Check(caller)) {
        PyErr_SetString(PyExc_TypeError, "popen_verdict_add: caller must be a code object or None");
        return NULL;
    }
    if (!popen_checks_valid(checks) || !popen_names_ready()) {
        return NULL;
    }
    if (caller != Py_None && code_set_has(&g_own_codes, caller)) {
        Py_RETURN_FALSE; /* (the sandbox's own code never raises a Popen of its own) */
    }
    key_buffer b = {NULL, 0, 0};
    if (!popen_key_of(event_args, &b)) {
        PyMem_RawFree(b.data);
        Py_RETURN_FALSE; /* not a kind this table holds: the callback decides every time */
    }
    if (!decision_phase_holds()) {
        PyMem_RawFree(b.data);
        Py_RETURN_FALSE;
    }
    PyObject *program = PyTuple_GET_ITEM(event_args, 0);
    const char *name;
    Py_ssize_t name_len;
    (void)ascii_of(program, &name, &name_len); /* (popen_key_of: an ASCII str) */
    int phase = invoke_now();
    uint64_t h = bytes_hash((const char *)b.data, b.len, (uint64_t)phase + 1);
    popen_verdict *v = NULL;
    for (size_t i = 0; i < POPEN_VERDICT_LIMIT && v == NULL; i++) {
        popen_verdict *e = &g_popen[i];
        if (e->key != NULL && e->hash == h && e->phase == phase && e->caller == caller &&
            e->len == b.len && memcmp(e->key, b.data, b.len) == 0) {
            v = e;
        }
    }
    if (v != NULL) {
        PyMem_RawFree(b.data);
    }
    else {
        v = &g_popen[g_popen_next]; /* full: the oldest goes */
        g_popen_next = (g_popen_next + 1) % POPEN_VERDICT_LIMIT;
        if (v->key == NULL) {
            g_popen_count++;
        }
        else {
            popen_slot_clear(v);
        }
        v->key = b.data;
        v->len = b.len;
        v->hash = h;
        v->phase = phase;
        v->caller = Py_NewRef(caller);
        v->program = Py_NewRef(program);
        memcpy(v->path, name, (size_t)name_len);
        v->path[name_len] = '\0';
    }
    memcpy(v->identity, values, sizeof(values));
    Py_INCREF(checks);
    Py_XSETREF(g_popen_checks, checks); /* (the same objects every time: the old one is ours) */
    Py_RETURN_TRUE;
}

/* exec_verdict_add(args, identity): the hook, after it allowed this fork_exec in enforce on
 * a program judged plain with `identity` (file_identity's 7-tuple). */
static PyObject *
core_exec_verdict_add(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *event_args, *identity;
    if (!PyArg_ParseTuple(args, "OO:exec_verdict_add", &event_args, &identity)) {
        return NULL;
    }
    if (t_depth == 0 || !caller_is_site("core.exec_verdict_add")) {
        return refuse("exec_verdict_add");
    }
    if (!PyTuple_CheckExact(identity) || PyTuple_GET_SIZE(identity) != 7) {
        PyErr_SetString(PyExc_TypeError, "exec_verdict_add: identity must be a 7-tuple of int");
        return NULL;
    }
    long long values[7];
    for (Py_ssize_t i = 0; i < 7; i++) {
        PyObject *item = PyTuple_GET_ITEM(identity, i);
        if (!PyLong_CheckExact(item)) {
            PyErr_SetString(PyExc_TypeError,
                            "exec_verdict_add: identity must be a 7-tuple of int");
            return NULL;
        }
        int overflow = 0;
        values[i] = PyLong_AsLongLongAndOverflow(item, &overflow);
        if (overflow || (values[i] == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            Py_RETURN_FALSE;
        }
    }
    key_buffer b = {NULL, 0, 0};
    const char *program;
    size_t program_len;
    if (!exec_key_of(event_args, &b, &program, &program_len)) {
        PyMem_RawFree(b.data);
        Py_RETURN_FALSE; /* not a kind this table holds: the callback decides every time */
    }
    if (!decision_phase_holds()) {
        PyMem_RawFree(b.data);
        Py_RETURN_FALSE;
    }
    int phase = invoke_now();
    uint64_t h = bytes_hash((const char *)b.data, b.len, (uint64_t)phase + 1);
    exec_verdict *v = NULL;
    for (size_t i = 0; i < EXEC_VERDICT_LIMIT && v == NULL; i++) {
        exec_verdict *e = &g_exec[i];
        if (e->key != NULL && e->hash == h && e->phase == phase && e->len == b.len &&
            memcmp(e->key, b.data, b.len) == 0) {
            v = e;
        }
    }
    if (v != NULL) {
        PyMem_RawFree(b.data);
    }
    else {
        v = &g_exec[g_exec_next]; /* full: the oldest goes */
        g_exec_next = (g_exec_next + 1) % EXEC_VERDICT_LIMIT;
        if (v->key == NULL) {
            g_exec_count++;
        }
        PyMem_RawFree(v->key);
        v->key = b.data;
        v->len = b.len;
        v->hash = h;
        v->phase = phase;
        memcpy(v->program, program, program_len);
        v->program[program_len] = '\0';
    }
    v->dev = (unsigned long long)values[0];
    v->ino = (unsigned long long)values[1];
    v->nlink = (unsigned long long)values[2];
    v->ctime_ns = values[3];
    v->mtime_ns = values[4];
    v->size = (unsigned long long)values[5];
    v->mode = (unsigned long long)values[6];
    Py_RETURN_TRUE;
}

/* compile_verdict_add(args, code): keep a `compile` the callback allowed (compile_verdict). */
static PyObject *
core_compile_verdict_add(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *event_args, *code;
    if (!PyArg_ParseTuple(args, "OO:compile_verdict_add", &event_args, &code)) {
        return NULL;
    }
    if (t_depth == 0 || !caller_is_site("core.compile_verdict_add")) {
        return refuse("compile_verdict_add");
    }
    if (!PyCode_Check(code)) {
        PyErr_SetString(PyExc_TypeError, "compile_verdict_add: code must be a code object");
        return NULL;
    }
    if (code_set_has(&g_own_codes, code)) {
        Py_RETURN_FALSE; /* the sandbox's own code: its site is found by a walk, not kept */
    }
    compile_key key;
    if (!compile_key_of(event_args, &key)) {
        Py_RETURN_FALSE; /* not a kind this table holds: the callback decides every time */
    }
    if (!decision_phase_holds()) {
        Py_RETURN_FALSE;
    }
    int phase = invoke_now();
    for (size_t i = 0; i < COMPILE_VERDICT_LIMIT; i++) {
        const compile_verdict *v = &g_compile[i];
        if (v->code == code && v->hash == key.hash && v->phase == phase &&
            v->source_kind == key.source_kind && v->source_len == key.source_len &&
            v->filename_len == key.filename_len &&
            memcmp(v->filename, key.filename, key.filename_len) == 0 &&
            memcmp(v->source, key.source, key.source_len) == 0) {
            Py_RETURN_TRUE; /* held already */
        }
    }
    unsigned char *source = PyMem_RawMalloc(key.source_len ? key.source_len : 1);
    char *filename = PyMem_RawMalloc(key.filename_len);
    if (source == NULL || filename == NULL) {
        PyMem_RawFree(source);
        PyMem_RawFree(filename);
        return PyErr_NoMemory();
    }
    memcpy(source, key.source, key.source_len);
    memcpy(filename, key.filename, key.filename_len);
    compile_verdict *v = &g_compile[g_compile_next]; /* full: the oldest goes */
    g_compile_next = (g_compile_next + 1) % COMPILE_VERDICT_LIMIT;
    if (v->code == NULL) {
        g_compile_count++;
    }
    else {
        compile_slot_clear(v);
    }
    Py_INCREF(code);
    v->code = code;
    v->source = source;
    v->source_len = key.source_len;
    v->source_kind = key.source_kind;
    v->filename = filename;
    v->filename_len = key.filename_len;
    v->hash = key.hash;
    v->phase = phase;
    Py_RETURN_TRUE;
}

/* dir_verdict_add's twin for module files: reading the module files (.py, .pyc, .pyi, .so,
 * .pth, .zip) directly in a folder is decided like reading any other file there -- the hook
 * says so for folders outside the module roots, where the import machinery's reads are not
 * tracked. Answers only together with the folder's read verdict (see dir_verdict_allows). */
static PyObject *
core_dir_module_verdict_add(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *directory, *identity;
    if (!PyArg_ParseTuple(args, "UO:dir_module_verdict_add", &directory, &identity)) {
        return NULL;
    }
    if (t_depth == 0 || !caller_is_site("core.dir_module_verdict_add")) {
        return refuse("dir_module_verdict_add");
    }
    return verdict_keep(directory, identity, "dir_module_verdict_add", DIR_MODULE_READS);
}

static PyObject *
core_module_verdict_add(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *prefix, *scope = Py_False;
    if (!PyArg_ParseTuple(args, "O|O:module_verdict_add", &prefix, &scope)) {
        return NULL;
    }
    if (t_depth == 0 || !caller_is_site("core.module_verdict_add")) {
        return refuse("module_verdict_add");
    }
    if (scope != Py_True && scope != Py_False) {
        PyErr_SetString(PyExc_TypeError, "module_verdict_add: children must be a bool");
        return NULL;
    }
    int children = scope == Py_True;
    if (!PyUnicode_CheckExact(prefix)) {
        PyErr_SetString(PyExc_TypeError, "module_verdict_add: prefix must be str");
        return NULL;
    }
    const char *units;
    Py_ssize_t len;
    int plain = ascii_of(prefix, &units, &len);
    if (plain < 0) {
        return NULL;
    }
    if (!plain || len < 2 || len > IMPORT_NAME_MAX ||
        units[len - 1] != '.' || units[0] == '.' || memchr(units, 0, (size_t)len) != NULL) {
        Py_RETURN_FALSE; /* not a prefix this table holds */
    }
    if (!decision_phase_holds()) {
        Py_RETURN_FALSE;
    }
    int phase = invoke_now();
    uint64_t h = modv_hash(units, (size_t)len, phase, children);
    int found;
    size_t j = modv_find(units, (size_t)len, phase, children, h, &found);
    if (found) {
        Py_RETURN_TRUE;
    }
    if (g_modv_count >= MODV_LIMIT) {
        modv_clear_all();
        j = modv_find(units, (size_t)len, phase, children, h, &found);
    }
    char *copy = PyMem_RawMalloc((size_t)len);
    if (copy == NULL) {
        return PyErr_NoMemory();
    }
    memcpy(copy, units, (size_t)len);
    g_modv[j].hash = h;
    g_modv[j].len = (size_t)len;
    g_modv[j].phase = phase;
    g_modv[j].children = children;
    g_modv[j].data = copy;
    g_modv_count++;
    Py_RETURN_TRUE;
}

/* Package verdicts (see modv_slot), every name of `names` (an exact tuple or frozenset of
 * exact str) that is a top-level module name: ASCII, 1-255 units, no dot, no NUL. Others are
 * skipped. A table too full for them all is emptied first, as module_verdict_add does. */
static PyObject *
core_module_packages_add(PyObject *self, PyObject *names)
{
    (void)self;
    if (t_depth == 0 || !caller_is_site("core.module_packages_add")) {
        return refuse("module_packages_add");
    }
    if (!PyTuple_CheckExact(names) && !PyFrozenSet_CheckExact(names)) {
        PyErr_SetString(PyExc_TypeError, "module_packages_add: names must be a tuple or frozenset");
        return NULL;
    }
    if (!decision_phase_holds()) {
        return PyLong_FromLong(0);
    }
    int phase = invoke_now();
    Py_ssize_t size = PyObject_Length(names);
    if (size < 0) {
        return NULL;
    }
    if (size > MODV_LIMIT) {
        PyErr_SetString(PyExc_ValueError, "module_packages_add: more names than the table holds");
        return NULL;
    }
    if (g_modv_count + (size_t)size > MODV_LIMIT) {
        modv_clear_all();
    }
    /* (an exact tuple's or frozenset's iterator runs no code of anyone's; the items are read
     * as exact str only) */
    PyObject *iterator = PyObject_GetIter(names);
    if (iterator == NULL) {
        return NULL;
    }
    long kept = 0;
    PyObject *item;
    while ((item = PyIter_Next(iterator)) != NULL) {
        const char *units;
        Py_ssize_t len;
        int plain = ascii_of(item, &units, &len);
        if (plain < 0) {
            Py_DECREF(item);
            Py_DECREF(iterator);
            return NULL;
        }
        if (!plain || len < 1 || len > MODV_PACKAGE_MAX || memchr(units, '.', (size_t)len) ||
            memchr(units, 0, (size_t)len)) {
            Py_DECREF(item);
            continue;
        }
        uint64_t h = modv_hash(units, (size_t)len, phase, MODV_PACKAGE);
        int found;
        size_t j = modv_find(units, (size_t)len, phase, MODV_PACKAGE, h, &found);
        if (!found) {
            char *copy = PyMem_RawMalloc((size_t)len);
            if (copy == NULL) {
                Py_DECREF(item);
                Py_DECREF(iterator);
                return PyErr_NoMemory();
            }
            memcpy(copy, units, (size_t)len);
            g_modv[j].hash = h;
            g_modv[j].len = (size_t)len;
            g_modv[j].phase = phase;
            g_modv[j].children = MODV_PACKAGE;
            g_modv[j].data = copy;
            g_modv_count++;
        }
        kept++;
        Py_DECREF(item);
    }
    Py_DECREF(iterator);
    if (PyErr_Occurred()) {
        return NULL;
    }
    return PyLong_FromLong(kept);
}

static PyObject *
core_import_known(PyObject *self, PyObject *name)
{
    (void)self;
    size_t len;
    const char *units = import_name_units(name, &len); /* no method of name is called */
    return PyBool_FromLong(units != NULL && import_name_known(units, len));
}

/* Whether the code calling open_cache_forget/clear inside a decision is the sandbox's own
 * (outside one, every change counts as the thread's own anyway). */
static int
forget_caller_is_own(void)
{
    if (t_depth == 0) {
        return 0;
    }
    PyObject *code = innermost_code();
    int own = code_set_has(&g_own_codes, code);
    Py_XDECREF(code);
    return own;
}

static PyObject *
core_open_cache_clear(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    t_forget_by_own_code = forget_caller_is_own();
    open_clear_all(); /* anyone may: it only makes later decisions slower */
    t_forget_by_own_code = 0;
    Py_RETURN_NONE;
}

static PyObject *
core_open_cache_forget(PyObject *self, PyObject *name)
{
    (void)self;
    if (!PyUnicode_CheckExact(name)) {
        PyErr_SetString(PyExc_TypeError, "open_cache_forget: name must be str");
        return NULL;
    }
    const char *units;
    Py_ssize_t len;
    int plain = ascii_of(name, &units, &len);
    if (plain < 0) {
        return NULL;
    }
    if (plain) { /* (the table holds ASCII names only: no other is this or below one) */
        t_forget_by_own_code = forget_caller_is_own();
        open_forget(units, (size_t)len); /* anyone may: it only makes later decisions slower */
        t_forget_by_own_code = 0;
    }
    Py_RETURN_NONE;
}

/* loaded_sources(): the sources of the module files the core let the import system read at
 * init since the last call (a tuple of str), or None; only the sandbox's own code inside the
 * callback may take them. */
static PyObject *
core_loaded_sources(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (t_depth == 0 || !caller_is_site("core.loaded_sources")) {
        return refuse("loaded_sources");
    }
    if (g_loaded_count == 0) {
        Py_RETURN_NONE;
    }
    PyObject *out = PyTuple_New((Py_ssize_t)g_loaded_count);
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < g_loaded_count; i++) {
        PyObject *name = PyUnicode_DecodeASCII(g_loaded[i], (Py_ssize_t)strlen(g_loaded[i]), NULL);
        if (name == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, (Py_ssize_t)i, name);
    }
    for (size_t i = 0; i < g_loaded_count; i++) {
        PyMem_RawFree(g_loaded[i]);
        g_loaded[i] = NULL;
    }
    g_loaded_count = 0;
    return out;
}

/* changes_elsewhere(): whether a thread other than this one has an audited change in flight
 * (its event seen, its next audit event not yet): a name may change under a walk now. */
static PyObject *
core_changes_elsewhere(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(other_in_flight());
}

/* changes(): the count of audited name changes the core has seen (a forget or a clear of
 * the open table): read before and after a resolution, it says whether something changed
 * meanwhile (another thread's rename, a change the core answered). Anyone may read it. */
static PyObject *
core_changes(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromUnsignedLongLong(g_changes);
}

static PyObject *
core_open_cache_validate(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (!g_open_validate) {
        g_open_validate = 1; /* one way; anyone may: it only makes later hits cost a stat */
        open_clear_all();
    }
    Py_RETURN_NONE;
}

/* Nanoseconds of a timespec as a Python int (what os.stat's st_*_ns give). */
static PyObject *
ns_of(const struct timespec *ts)
{
    long long sec = (long long)ts->tv_sec;
    if (sec > -9000000000LL && sec < 9000000000LL) { /* no overflow of 64 bits */
        return PyLong_FromLongLong(sec * 1000000000LL + (long long)ts->tv_nsec);
    }
    PyObject *s = PyLong_FromLongLong(sec), *g = PyLong_FromLong(1000000000L);
    PyObject *n = PyLong_FromLong((long)ts->tv_nsec), *m = NULL, *out = NULL;
    if (s != NULL && g != NULL && n != NULL && (m = PyNumber_Multiply(s, g)) != NULL) {
        out = PyNumber_Add(m, n);
    }
    Py_XDECREF(s);
    Py_XDECREF(g);
    Py_XDECREF(n);
    Py_XDECREF(m);
    return out;
}

/* os.stat's encoding of an exact str name into *encoded (a new bytes object): 1; 0 for a name
 * no file has (a NUL in it, one the encoder refuses, or a surrogate outside U+DC80..U+DCFF:
 * that one sends the encoder to the error-handler registry by name, where the function may
 * have registered code of its own -- not run inside the hook); -1 with an exception set. */
static int
fs_name_of(PyObject *path, PyObject **encoded)
{
    if (PyUnicode_READY(path) < 0) {
        return -1;
    }
    if (!PyUnicode_IS_ASCII(path)) {
        int kind = PyUnicode_KIND(path);
        const void *data = PyUnicode_DATA(path);
        for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(path); i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c >= 0xD800 && c <= 0xDFFF && !(c >= 0xDC80 && c <= 0xDCFF)) {
                return 0;
            }
        }
    }
    *encoded = PyUnicode_EncodeFSDefault(path);
    if (*encoded == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError)) {
            return -1;
        }
        PyErr_Clear();
        return 0;
    }
    if ((Py_ssize_t)strlen(PyBytes_AS_STRING(*encoded)) != PyBytes_GET_SIZE(*encoded)) {
        Py_CLEAR(*encoded);
        return 0;
    }
    return 1;
}

/* seal_types(types): make each of the sandbox's own classes immutable (what CPython marks the
 * C library's heap types with): setting or deleting any attribute of the class raises
 * TypeError from then on. The frozen copies of the runtime's classes subclass the importable
 * originals, and a slot method or descriptor set on an original (type.__setattr__ raises no
 * audit event on every version) would be inherited by the copy the hook runs -- a
 * __getattribute__ of the function's answering for the policy. Only heap types, and once (the
 * install's call): an immutable heap type is what a C library makes, and the checks that ask
 * whether a class is one (the SQLite guard's) must not be answered by a class of the
 * function's it sealed itself after giving it an __init__ (red team 34). */
static int g_types_sealed;

static PyObject *
core_seal_types(PyObject *self, PyObject *types)
{
    (void)self;
    if (g_types_sealed) {
        Py_RETURN_FALSE; /* (once: the install sealed what is the sandbox's) */
    }
    if (!announce_core_call("seal_types")) {
        return NULL;
    }
    if (!PyTuple_CheckExact(types)) {
        PyErr_SetString(PyExc_TypeError, "seal_types: a tuple of classes is needed");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(types); i++) {
        PyObject *item = PyTuple_GET_ITEM(types, i);
        if (!PyType_Check(item) || !(((PyTypeObject *)item)->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
            PyErr_SetString(PyExc_TypeError, "seal_types: only heap types can be sealed");
            return NULL;
        }
    }
    g_types_sealed = 1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(types); i++) {
        PyTypeObject *type = (PyTypeObject *)PyTuple_GET_ITEM(types, i);
        type->tp_flags |= Py_TPFLAGS_IMMUTABLETYPE;
        PyType_Modified(type);
    }
    Py_RETURN_TRUE;
}

/* syntax_classes(): the syntax-node classes of CPython's parser, as a tuple of (name, class),
 * from a module of the interpreter's own `_ast` made here (never the one in sys.modules, which
 * the function can replace), every heap type of it but Constant and Tuple sealed (the ast
 * module still sets properties on those two when it is imported). Once: later calls return the
 * same tuple.
 *
 * Why here, and not at install: the classes cost ~1-2 ms to make (CPython makes ~120 heap types
 * the first time anything needs them), and most functions never evaluate code at a site whose
 * shape the profile knows. The shape decoder asks for them the first time it parses, and checks
 * then that nothing of the function's changed them before (a compile() of a bad argument makes
 * them with no audit event): see decoders/shape.py. The classes are the interpreter's by
 * construction -- this function takes no argument -- so a call of the function's own can only
 * seal them earlier. */
static PyObject *g_syntax_classes;

static int
syntax_class_patched(PyObject *name)
{
    return PyUnicode_CompareWithASCIIString(name, "Constant") == 0 ||
           PyUnicode_CompareWithASCIIString(name, "Tuple") == 0;
}

static PyObject *
core_syntax_classes(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (g_syntax_classes != NULL) {
        return Py_NewRef(g_syntax_classes);
    }
    PyObject *(*initfunc)(void) = NULL;
    for (struct _inittab *entry = PyImport_Inittab; entry->name != NULL; entry++) {
        if (strcmp(entry->name, "_ast") == 0) {
            initfunc = entry->initfunc;
            break;
        }
    }
    if (initfunc == NULL) {
        PyErr_SetString(PyExc_ImportError, "syntax_classes: this interpreter has no _ast");
        return NULL;
    }
    PyObject *made = initfunc();
    if (made == NULL) {
        return NULL;
    }
    PyObject *module = NULL;
    if (PyObject_TypeCheck(made, &PyModuleDef_Type)) {
        /* Multi-phase (every supported version): a module of its own, only its name read
         * from the "spec" (a bare module object standing in for one). */
        PyModuleDef *def = (PyModuleDef *)made;
        PyObject *spec = PyModule_New("_ast");
        if (spec == NULL) {
            return NULL;
        }
        PyObject *name = PyModule_GetNameObject(spec);
        int named = name != NULL ? PyObject_SetAttrString(spec, "name", name) : -1;
        Py_XDECREF(name);
        if (named < 0) {
            Py_DECREF(spec);
            return NULL;
        }
        module = PyModule_FromDefAndSpec(def, spec);
        Py_DECREF(spec);
        if (module == NULL) {
            return NULL;
        }
        if (PyModule_ExecDef(module, def) < 0) {
            Py_DECREF(module);
            return NULL;
        }
    }
    else if (PyModule_Check(made)) {
        module = made; /* (single-phase: what its init made) */
    }
    else {
        Py_DECREF(made);
        PyErr_SetString(PyExc_ImportError, "syntax_classes: _ast made no module");
        return NULL;
    }
    PyObject *space = PyModule_GetDict(module);
    PyObject *found = space != NULL ? PyList_New(0) : NULL;
    if (found == NULL) {
        Py_DECREF(module);
        return NULL;
    }
    PyObject *key;
    PyObject *value;
    Py_ssize_t at = 0;
    while (PyDict_Next(space, &at, &key, &value)) {
        if (!PyUnicode_CheckExact(key) || !PyType_Check(value) ||
            !(((PyTypeObject *)value)->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
            continue; /* (its flags: PyCF_ONLY_AST...) */
        }
        PyObject *pair = PyTuple_Pack(2, key, value);
        if (pair == NULL || PyList_Append(found, pair) < 0) {
            Py_XDECREF(pair);
            Py_DECREF(found);
            Py_DECREF(module);
            return NULL;
        }
        Py_DECREF(pair);
    }
    PyObject *result = PyList_AsTuple(found);
    Py_DECREF(found);
    if (result == NULL) {
        Py_DECREF(module);
        return NULL;
    }
    /* Sealed with no Python code between the module's making and here: the GIL is held. */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(result); i++) {
        PyObject *pair = PyTuple_GET_ITEM(result, i);
        if (syntax_class_patched(PyTuple_GET_ITEM(pair, 0))) {
            continue;
        }
        PyTypeObject *type = (PyTypeObject *)PyTuple_GET_ITEM(pair, 1);
        type->tp_flags |= Py_TPFLAGS_IMMUTABLETYPE;
        PyType_Modified(type);
    }
    Py_DECREF(module); /* (the classes live on in the interpreter's own state) */
    g_syntax_classes = result;
    return Py_NewRef(result);
}

/* hide_copies(pairs): take each frozen copy out of its original's list of subclasses.
 *
 * The hook's frozen classes subclass the sandbox's own (importable) classes, and
 * type.__subclasses__() -- no audit event -- lists them: Policy.__subclasses__()[0].prepare
 * .__globals__ was the frozen policy module's private snapshot, and through the private
 * modules in it every snapshot the hook reads its globals from, open to any assignment (an own
 * function or a C builtin put in place of a check, which no frame guard sees). Removing the
 * copy's entry from the original's tp_subclasses leaves the copy unlisted; nothing else names
 * it (the hook's instances are not reachable from the function's code, and gc walks are
 * decided as introspection).
 *
 * What the entry is for: a change to the original propagates to its subclasses through it
 * (their method caches, their slots). Both are sealed before the function's code runs (each
 * pair's original and copy go to seal_types) and every other class in a copy's MRO is a static
 * built-in type or another sealed original: no change to propagate. Because an unlisted
 * subclass of a class that can still change would keep stale method-cache entries, this is
 * the sandbox's own: once, and only while installing, for direct subclasses only. */
static int g_copies_hidden;

static PyObject *
core_hide_copies(PyObject *self, PyObject *pairs)
{
    (void)self;
    if (g_copies_hidden || g_installed) {
        return PyBool_FromLong(0); /* once, and only while installing */
    }
    if (!announce_core_call("hide_copies")) {
        return NULL;
    }
    if (!PyTuple_CheckExact(pairs)) {
        PyErr_SetString(PyExc_TypeError, "hide_copies: a tuple of (original, copy) is needed");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(pairs); i++) {
        PyObject *pair = PyTuple_GET_ITEM(pairs, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "hide_copies: a tuple of (original, copy) is needed");
            return NULL;
        }
        PyObject *original = PyTuple_GET_ITEM(pair, 0);
        PyObject *copy = PyTuple_GET_ITEM(pair, 1);
        if (!PyType_Check(original) || !PyType_Check(copy) ||
            !(((PyTypeObject *)original)->tp_flags & Py_TPFLAGS_HEAPTYPE) ||
            !(((PyTypeObject *)copy)->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
            PyErr_SetString(PyExc_TypeError, "hide_copies: only heap types");
            return NULL;
        }
        PyObject *bases = ((PyTypeObject *)copy)->tp_bases;
        int direct = 0;
        for (Py_ssize_t j = 0; bases != NULL && j < PyTuple_GET_SIZE(bases); j++) {
            direct |= PyTuple_GET_ITEM(bases, j) == original;
        }
        if (!direct) {
            PyErr_SetString(PyExc_TypeError, "hide_copies: a copy must subclass its original");
            return NULL;
        }
    }
    g_copies_hidden = 1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(pairs); i++) {
        PyObject *pair = PyTuple_GET_ITEM(pairs, i);
        PyTypeObject *original = (PyTypeObject *)PyTuple_GET_ITEM(pair, 0);
        PyObject *copy = PyTuple_GET_ITEM(pair, 1);
        /* (a heap type's tp_subclasses is a dict {address as int: weak reference} on every
         * supported version; 3.12+ types the field void * for the static built-in types' index) */
        PyObject *subclasses = (PyObject *)original->tp_subclasses;
        if (subclasses == NULL || !PyDict_Check(subclasses)) {
            continue;
        }
        PyObject *key = PyLong_FromVoidPtr((void *)copy);
        if (key == NULL) {
            return NULL;
        }
        if (PyDict_DelItem(subclasses, key) < 0) {
            PyErr_Clear(); /* (not listed: nothing to hide) */
        }
        Py_DECREF(key);
    }
    Py_RETURN_TRUE;
}

/* The file-system name of an identity function's argument (an exact str, see fs_name_of):
 * 1 with *encoded set, 0 when it has none (the function answers None), -1 with an exception. */
static int
identity_name_of(PyObject *path, const char *what, PyObject **encoded)
{
    if (!PyUnicode_CheckExact(path)) {
        PyErr_Format(PyExc_TypeError, "%s: path must be str", what);
        return -1;
    }
    return fs_name_of(path, encoded);
}

/* plain_identity(path): the identity a kept answer for the real path `path` is validated
 * against (see plain_lstat): (dev, ino) of the name looked up in its directory reached with no
 * link on the way; (dev, -ino - 1) of that directory when the name is not there; None when
 * neither holds (a link on the way or as the name itself, an odd name, an error): keep
 * nothing then. */
static PyObject *
core_plain_identity(PyObject *self, PyObject *path)
{
    (void)self;
    PyObject *encoded;
    int named = identity_name_of(path, "plain_identity", &encoded);
    if (named <= 0) {
        return named == 0 ? Py_NewRef(Py_None) : NULL;
    }
    const char *name = PyBytes_AS_STRING(encoded);
    size_t n = (size_t)PyBytes_GET_SIZE(encoded);
    if (n > OPEN_PATH_MAX) {
        Py_DECREF(encoded);
        Py_RETURN_NONE;
    }
    struct stat st, dir;
    int there = plain_lstat(name, n, &st, &dir);
    Py_DECREF(encoded);
    if (there == 0 && !S_ISLNK(st.st_mode)) {
        return Py_BuildValue("(KK)", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    }
    if (there == 1) {
        PyObject *ino = PyLong_FromUnsignedLongLong((unsigned long long)dir.st_ino);
        if (ino == NULL) {
            return NULL;
        }
        PyObject *marked = PyNumber_Invert(ino); /* -ino - 1: the directory's identity */
        Py_DECREF(ino);
        if (marked == NULL) {
            return NULL;
        }
        return Py_BuildValue("(KN)", (unsigned long long)dir.st_dev, marked);
    }
    Py_RETURN_NONE;
}

static PyObject *
core_file_identity(PyObject *self, PyObject *path)
{
    (void)self;
    PyObject *encoded;
    int named = identity_name_of(path, "file_identity", &encoded);
    if (named <= 0) {
        return named == 0 ? Py_NewRef(Py_None) : NULL;
    }
    const char *name = PyBytes_AS_STRING(encoded);
    struct stat st;
    int failed;
    Py_BEGIN_ALLOW_THREADS
    failed = stat(name, &st);
    Py_END_ALLOW_THREADS
    Py_DECREF(encoded);
    if (failed != 0) {
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(KKKNNLk)", (unsigned long long)st.st_dev,
                         (unsigned long long)st.st_ino, (unsigned long long)st.st_nlink,
                         ns_of(&st.st_ctim), ns_of(&st.st_mtim), (long long)st.st_size,
                         (unsigned long)st.st_mode);
}

/* content_digest(data): SHA-256 of the bytes `data`, as 64 lowercase hex digits (FIPS 180-4).
 * A Python child checks the profile file it reads against its parent's digest of it: a file's
 * identity alone (inode, times) can be forged by a process allowed to set the clock. In C so
 * that no hash module is loaded at every cold start (~0.2 ms): install hashes ~20 KB here. */
static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define SHA_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
sha256_block(uint32_t state[8], const unsigned char *block)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++) {
        w[i] = ((uint32_t)block[4 * i] << 24) | ((uint32_t)block[4 * i + 1] << 16) |
               ((uint32_t)block[4 * i + 2] << 8) | (uint32_t)block[4 * i + 3];
    }
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = SHA_ROTR(w[i - 15], 7) ^ SHA_ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = SHA_ROTR(w[i - 2], 17) ^ SHA_ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (SHA_ROTR(e, 6) ^ SHA_ROTR(e, 11) ^ SHA_ROTR(e, 25)) +
                      ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
        uint32_t t2 = (SHA_ROTR(a, 2) ^ SHA_ROTR(a, 13) ^ SHA_ROTR(a, 22)) +
                      ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

static void
sha256_of(const unsigned char *data, size_t len, unsigned char out[32])
{
    uint32_t state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t done = 0;
    for (; len - done >= 64; done += 64) {
        sha256_block(state, data + done);
    }
    unsigned char tail[128];
    size_t rest = len - done;
    memcpy(tail, data + done, rest);
    tail[rest] = 0x80;
    size_t padded = rest + 1 + 8 <= 64 ? 64 : 128;
    memset(tail + rest + 1, 0, padded - rest - 1);
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) {
        tail[padded - 1 - i] = (unsigned char)(bits >> (8 * i));
    }
    sha256_block(state, tail);
    if (padded == 128) {
        sha256_block(state, tail + 64);
    }
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(state[i] >> 24);
        out[4 * i + 1] = (unsigned char)(state[i] >> 16);
        out[4 * i + 2] = (unsigned char)(state[i] >> 8);
        out[4 * i + 3] = (unsigned char)state[i];
    }
}

static PyObject *
core_content_digest(PyObject *self, PyObject *data)
{
    (void)self;
    if (!PyBytes_CheckExact(data)) {
        PyErr_SetString(PyExc_TypeError, "content_digest: data must be bytes");
        return NULL;
    }
    unsigned char digest[32];
    const unsigned char *bytes = (const unsigned char *)PyBytes_AS_STRING(data);
    size_t len = (size_t)PyBytes_GET_SIZE(data);
    Py_BEGIN_ALLOW_THREADS
    sha256_of(bytes, len, digest);
    Py_END_ALLOW_THREADS
    static const char hex[] = "0123456789abcdef";
    char text[64];
    for (int i = 0; i < 32; i++) {
        text[2 * i] = hex[digest[i] >> 4];
        text[2 * i + 1] = hex[digest[i] & 15];
    }
    return PyUnicode_FromStringAndSize(text, 64);
}

/* unmarshal_file(fd, offset): the object marshalled in the regular file open at `fd`, from byte
 * `offset` to the file's end (marshal.loads of those bytes: CPython's reader raises the same
 * marshal.loads event, the code category's unmarshal decision), before install only, as every
 * install-time call (announce_core_call: no other copy once a core is installed). Install reads the hook modules' bytecode bundle
 * (~450 KB) with it at every cold start, before the hook exists: read(2) into a bytes object would
 * first copy the file into ~110 pages of fresh anonymous memory, each a page fault (3-5 us on
 * a Firecracker VM, ~0.4 ms in all), to be freed right after; a private read-only mapping of
 * the file, populated at once, hands marshal the page cache's own pages. The file must not
 * shrink while it is read (a page past the new end would fault with SIGBUS): the bundle is
 * replaced by renaming a new file over it, never rewritten in place. */
static int kernel_before_install(const char *name); /* (below, with the kernel calls) */

static PyObject *
core_unmarshal_file(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!kernel_before_install("unmarshal_file")) {
        return NULL;
    }
    if (nargs != 2 || !PyLong_CheckExact(args[0]) || !PyLong_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "unmarshal_file(fd: int, offset: int)");
        return NULL;
    }
    int overflow = 0;
    long fd = PyLong_AsLongAndOverflow(args[0], &overflow);
    if (overflow != 0 || fd < 0 || fd > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "unmarshal_file: not a file descriptor");
        return NULL;
    }
    long long offset = PyLong_AsLongLongAndOverflow(args[1], &overflow);
    if (overflow != 0) {
        offset = -1; /* (past any file's end, or before its start: no data there) */
    }
    struct stat st;
    if (fstat((int)fd, &st) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (!S_ISREG(st.st_mode)) {
        PyErr_SetString(PyExc_ValueError, "unmarshal_file: not a regular file");
        return NULL;
    }
    if (offset < 0 || (long long)st.st_size <= offset ||
        (unsigned long long)st.st_size > (unsigned long long)PY_SSIZE_T_MAX) {
        PyErr_SetString(PyExc_EOFError, "unmarshal_file: no data at that offset");
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    const char *base = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, (int)fd, 0);
    if (base == MAP_FAILED) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *value =
        PyMarshal_ReadObjectFromString(base + offset, (Py_ssize_t)(size - (size_t)offset));
    (void)munmap((void *)base, size);
    return value;
}

/* resolved_path(path): the path with every link resolved, when every name on it exists (libc's
 * realpath(3)); None otherwise (a missing name, a loop, an odd name: the caller then resolves
 * as os.path.realpath does). Install resolves its roots and sys.path's folders with it: the
 * same walk as posixpath.realpath, without ~3 us of Python per name on the way. */
static PyObject *
core_resolved_path(PyObject *self, PyObject *path)
{
    (void)self;
    PyObject *encoded;
    int named = identity_name_of(path, "resolved_path", &encoded);
    if (named <= 0) {
        return named == 0 ? Py_NewRef(Py_None) : NULL;
    }
    char *found;
    Py_BEGIN_ALLOW_THREADS
    found = realpath(PyBytes_AS_STRING(encoded), NULL);
    Py_END_ALLOW_THREADS
    Py_DECREF(encoded);
    if (found == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *out = PyUnicode_DecodeFSDefault(found);
    free(found);
    return out;
}

/* file_is(path, offset, data, head=b""): the real path of the file at `path` when its bytes
 * from `offset` on are exactly `data`, and it starts with `head`, else None: whether bytes the
 * import system unmarshals (after a .pyc header whose magic number must be this Python's: the
 * interpreter runs whatever bytecode it is given, and another version's is hand-made code to
 * it, red team 58), or a source it compiles, are the file's (decoders/code). The file really read names itself
 * (/proc/self/fd/N; or a plain absolute name opened with no link on the way is its own real
 * name, with no readlink): no resolution of `path` before or after, which another thread could
 * change in between. One open (O_NONBLOCK: a FIFO answers at once, with nothing), fstat (not
 * a regular file, or a length that differs, answers at once), reads compared as they come,
 * readlink: the Python
 * core's steps (core_fallback.file_is), with no audit event of the sandbox's own to take and
 * no object the size of the file (a module's bytecode at init: hundreds in `import boto3`).
 * After install only the sandbox's own code may ask: it opens a file with no decision. */
#define FILE_IS_CHUNK 65536

/* Whether the .pyc at `path` (n units) as core_open_code last read it on this thread
 * (t_read_data: opened under that plain name with no link on the way, a regular file) is
 * exactly head[0, head_size) at its start and want[0, size) from `offset` to its end: the answer
 * file_is_read gives by reading the file again, from the bytes the reader was given (its real
 * name is `path` itself). The record stays until the thread's next such read replaces it: the
 * unmarshal answer and then the callback may both ask of the same bytes. */
static int
read_record_holds(const char *path, size_t n, unsigned long long offset, const char *want,
                  size_t size, const char *head, size_t head_size)
{
    PyObject *read = t_read_data;
    if (read == NULL) {
        return 0;
    }
    size_t got_size = (size_t)PyBytes_GET_SIZE(read);
    const char *got = PyBytes_AS_STRING(read);
    return t_read_path_len == n && memcmp(t_read_path, path, n) == 0 && offset <= got_size &&
           got_size - offset == size && head_size <= got_size &&
           (head_size == 0 || memcmp(got, head, head_size) == 0) &&
           memcmp(got + offset, want, size) == 0;
}
/* The real name of the regular file at `fspath` (readlink of /proc/self/fd/N: the file read
 * names itself) when its bytes from `offset` on are exactly want[0, size) and it starts with
 * head[0, head_size): its length in `real` (PATH_MAX + 1 bytes), else -1. `chunk` holds
 * FILE_IS_CHUNK bytes. With a head the file is read in one pass from its first byte: a .pyc's
 * magic number and its body come in one read when the file fits a chunk (the header's other
 * bytes are read and not compared), one system call fewer a module than a read of each.
 * Called with the GIL released: it touches no object. */
static ssize_t
file_is_read(const char *fspath, unsigned long long offset, const char *want, size_t size,
             const char *head, size_t head_size, char *chunk, char *real)
{
    /* The name that needs no readlink: a plain absolute one (plain_components) opened with no
     * link on the way (openat2's RESOLVE_NO_SYMLINKS) is the real name of the file it opened
     * -- what /proc/self/fd/N would read (~4 us a readlink on these VMs: every module's .pyc
     * at init pays it). A link, an odd name or any failure: the open and readlink below. */
    int fd = -1;
    size_t plain_len = 0;
    if (!g_no_openat2 && fspath[0] == '/') {
        size_t n = strlen(fspath);
        if (n <= PATH_MAX && plain_absolute(fspath, n)) {
            fd = open_no_links(fspath, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
            plain_len = fd >= 0 ? n : 0;
        }
    }
    if (fd < 0) {
        fd = open(fspath, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    }
    if (fd < 0) {
        return -1;
    }
    unsigned long long end = offset + size;
    struct stat st;
    int same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
               (unsigned long long)st.st_size == end && head_size <= end;
    unsigned long long at = head_size > 0 ? 0 : offset;
    while (same && at < end) {
        size_t want_now = end - at < FILE_IS_CHUNK ? (size_t)(end - at) : FILE_IS_CHUNK;
        ssize_t got = pread(fd, chunk, want_now, (off_t)at);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            same = 0;
            break;
        }
        size_t n = (size_t)got;
        if (at < head_size) {
            size_t in_head = head_size - at < n ? (size_t)(head_size - at) : n;
            same = memcmp(chunk, head + at, in_head) == 0;
        }
        if (same && at + n > offset) {
            size_t from = at < offset ? (size_t)(offset - at) : 0;
            same = memcmp(chunk + from, want + (at + from - offset), n - from) == 0;
        }
        at += n;
    }
    ssize_t real_len = -1;
    if (same && plain_len > 0) {
        memcpy(real, fspath, plain_len);
        real_len = (ssize_t)plain_len;
    }
    else if (same) {
        char link[32];
        proc_fd_link(link, fd);
        real_len = readlink(link, real, PATH_MAX);
    }
    (void)close(fd);
    return real_len;
}

static PyObject *
core_file_is(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (g_installed && (t_depth == 0 || !caller_is_site("core.file_is"))) {
        return refuse("file_is");
    }
    if (nargs < 3 || nargs > 4 || !PyLong_CheckExact(args[1]) || !PyBytes_CheckExact(args[2]) ||
        (nargs == 4 && (!PyBytes_CheckExact(args[3]) ||
                        PyBytes_GET_SIZE(args[3]) > FILE_IS_CHUNK))) {
        PyErr_SetString(PyExc_TypeError,
                        "file_is(path: str, offset: int, data: bytes, head: bytes = b'')");
        return NULL;
    }
    if (!PyUnicode_CheckExact(args[0])) {
        Py_RETURN_NONE;
    }
    int overflow = 0;
    long long offset = PyLong_AsLongLongAndOverflow(args[1], &overflow);
    if (overflow != 0 || offset < 0) {
        Py_RETURN_NONE;
    }
    PyObject *encoded;
    int named = fs_name_of(args[0], &encoded);
    if (named <= 0) {
        return named == 0 ? Py_NewRef(Py_None) : NULL;
    }
    PyObject *data = Py_NewRef(args[2]); /* (bytes: what is compared cannot change) */
    const char *want = PyBytes_AS_STRING(data);
    size_t size = (size_t)PyBytes_GET_SIZE(data);
    PyObject *head = Py_NewRef(nargs == 4 ? args[3] : Py_None);
    const char *head_want = head != Py_None ? PyBytes_AS_STRING(head) : NULL;
    size_t head_size = head != Py_None ? (size_t)PyBytes_GET_SIZE(head) : 0;
    char *chunk = NULL;
    int no_memory = 0;
    char real[PATH_MAX + 1];
    ssize_t real_len = -1;
    const char *fspath = PyBytes_AS_STRING(encoded);
    size_t fspath_len = (size_t)PyBytes_GET_SIZE(encoded);
    if (fspath_len <= PATH_MAX &&
        read_record_holds(fspath, fspath_len, (unsigned long long)offset, want, size, head_want,
                          head_size)) {
        memcpy(real, fspath, fspath_len); /* (core_open_code's bytes, under their real name) */
        real_len = (ssize_t)fspath_len;
    }
    else if ((chunk = PyMem_RawMalloc(FILE_IS_CHUNK)) != NULL) {
        Py_BEGIN_ALLOW_THREADS
        real_len = file_is_read(PyBytes_AS_STRING(encoded), (unsigned long long)offset, want,
                                size, head_want, head_size, chunk, real);
        Py_END_ALLOW_THREADS
        PyMem_RawFree(chunk);
    }
    else {
        no_memory = 1;
    }
    Py_DECREF(encoded);
    Py_DECREF(data);
    Py_DECREF(head);
    if (no_memory) {
        return PyErr_NoMemory();
    }
    if (real_len < 0) {
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeFSDefaultAndSize(real, real_len);
}

/* ------------------------------------------------------------------------------------- */
/* io.open_code: the import system's reads of module files                               */

/* CPython's io.open_code with no hook: _io.open(path, "rb"), which raises the open event
 * itself (decided in full). (Another interpreter's objects are never called: it looks its own
 * _io.open up.) */
static PyObject *g_io_open;   /* _io.open */
static PyObject *g_bytes_io;  /* _io.BytesIO */
static int g_open_code;       /* core_open_code is the process's open_code hook */

static PyObject *
open_code_as_io_open(PyObject *path)
{
    if (g_io_open != NULL && PyInterpreterState_Get() == g_interp) {
        return PyObject_CallFunction(g_io_open, "Os", path, "rb");
    }
    PyObject *io = PyImport_ImportModule("_io");
    if (io == NULL) {
        return NULL;
    }
    PyObject *f = PyObject_CallMethod(io, "open", "Os", path, "rb");
    Py_DECREF(io);
    return f;
}

/* The whole file open at `fd` (`size`: what fstat said, -1 when unknown), read as FileIO's
 * readall would: reads until one returns nothing, except that a regular file whose read came
 * back short of the room it was given, at the length fstat said, is at its end (no read more to
 * learn it). NULL with OSError set (named `path`) on a read error. */
static PyObject *
open_code_read_all(int fd, long long size, PyObject *path)
{
    size_t room = size >= 0 ? (size_t)size + 1 : 8192;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)room);
    if (out == NULL) {
        return NULL;
    }
    size_t got = 0;
    for (;;) {
        ssize_t n;
        char *at = PyBytes_AS_STRING(out) + got;
        size_t want = room - got;
        Py_BEGIN_ALLOW_THREADS
        n = read(fd, at, want);
        Py_END_ALLOW_THREADS
        if (n < 0) {
            if (errno == EINTR && PyErr_CheckSignals() == 0) {
                continue;
            }
            if (!PyErr_Occurred()) {
                PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
            }
            Py_DECREF(out);
            return NULL;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
        if (size >= 0 && got == (size_t)size && (size_t)n < want) {
            break;
        }
        if (got == room) {
            room = room < ((size_t)PY_SSIZE_T_MAX >> 1) ? room * 2 : (size_t)PY_SSIZE_T_MAX;
            if (room == got || _PyBytes_Resize(&out, (Py_ssize_t)room) < 0) {
                if (room == got) {
                    Py_DECREF(out);
                    PyErr_NoMemory();
                }
                return NULL;
            }
        }
    }
    if (_PyBytes_Resize(&out, (Py_ssize_t)got) < 0) {
        return NULL;
    }
    return out;
}

/* The open event core_open_code raised, decided again by the core alone, in full: no
 * promise (the event's other hooks saw it once, and are not asked again). 0 or -1. */
static int
open_code_decide_again(PyObject *path)
{
    PyObject *event_args = Py_BuildValue("(Osi)", path, "r", O_RDONLY | O_CLOEXEC);
    if (event_args == NULL) {
        return -1;
    }
    int decided = core_hook("open", event_args, NULL);
    Py_DECREF(event_args);
    return decided;
}

/* io.open_code(path), the import system's open of a module's source and bytecode
 * (FileLoader.get_data), once install has made this the process's open_code hook (it cannot be
 * replaced or removed after: CPython keeps the first). For a module file (".py", ".pyc", a
 * plain ASCII str) it raises the very open event FileIO would (the name, "r", O_RDONLY |
 * O_CLOEXEC: decided as before, by every hook), then reads the file itself and hands the reader
 * its bytes (an _io.BytesIO: read() returns that bytes object itself).
 *
 * Why: the module-read answers (init_module_read, invoke_module_read) must know the name
 * leads to a regular file with no link at the end (or on the way): an lstat, or a walk, of
 * their own. Taken for an event this function raised, they answer on the promise that the file
 * is opened here with openat2's RESOLVE_NO_SYMLINKS and found regular -- and when it is not, the
 * core decides the open again in full, with no promise, then opens it as FileIO does. And the .pyc read that way
 * is kept (t_read_data): its unmarshal is checked against those bytes, not against a second
 * read of the file (module_bytecode_answered). Four system calls a module where FileIO alone
 * makes nine (open, fstat, ioctl, two lseek, fstat, two reads, close) and the checks made six.
 * Anything else (another name, another interpreter, an error before the event) is _io.open's,
 * as with no hook. */
static PyObject *
core_open_code(PyObject *path, void *unused)
{
    (void)unused;
    const char *units;
    Py_ssize_t len;
    if (!g_installed || PyInterpreterState_Get() != g_interp || !PyUnicode_CheckExact(path)) {
        return open_code_as_io_open(path);
    }
    int plain = ascii_of(path, &units, &len);
    if (plain < 0) {
        return NULL;
    }
    int pyc = plain == 1 && ends_with(units, len, ".pyc");
    if (plain != 1 || len > PATH_MAX || memchr(units, 0, (size_t)len) != NULL ||
        (!pyc && !ends_with(units, len, ".py"))) {
        return open_code_as_io_open(path);
    }
    int promise = 0;
    int *outer_slot = t_promise_slot; /* (a call made from a hook while another's event runs) */
    t_promise_slot = &promise;
    t_open_code_path = path;
    int refused = PySys_Audit("open", "Osi", path, "r", O_RDONLY | O_CLOEXEC);
    t_open_code_path = NULL;
    t_promise_slot = outer_slot;
    if (refused < 0) {
        return NULL;
    }
    int fd = -1, err = 0, regular = 0;
    int no_links = !g_no_openat2 && plain_absolute(units, (size_t)len);
    struct stat st;
    Py_BEGIN_ALLOW_THREADS
    if (no_links) {
        /* (O_NONBLOCK: a FIFO's open returns at once; it is no regular file, and not read) */
        fd = open_no_links(units, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0) {
            regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
            if (!regular) {
                (void)close(fd);
                fd = -1;
            }
        }
    }
    Py_END_ALLOW_THREADS
    if (fd < 0 && promise) {
        /* the answer's promise does not hold (a link, no regular file, none there) */
        if (open_code_decide_again(path) < 0) {
            return NULL;
        }
        promise = 0;
    }
    if (fd < 0) {
        /* decided in full already: opened as FileIO opens (links followed, blocking) */
        Py_BEGIN_ALLOW_THREADS
        fd = open(units, O_RDONLY | O_CLOEXEC);
        err = errno;
        regular = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
        if (fd >= 0 && !regular && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            (void)close(fd);
            fd = -1;
            err = EISDIR; /* (FileIO's refusal of a folder) */
        }
        Py_END_ALLOW_THREADS
        if (fd < 0) {
            errno = err;
            return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
        }
        no_links = 0;
    }
    PyObject *data = open_code_read_all(fd, regular ? (long long)st.st_size : -1, path);
    (void)close(fd);
    if (data == NULL) {
        return NULL;
    }
    if (promise && !note_loaded_source(units, (size_t)len) && open_code_decide_again(path) < 0) {
        /* (no room left to note the source -- other threads noted theirs while this one read:
         * the callback decides the read, as the answer would have left it to with no room) */
        Py_DECREF(data);
        return NULL;
    }
    if (pyc && no_links) {
        /* (the name it was opened by is its own real name: no link, nothing to resolve) */
        char *copy = t_read_path;
        if (copy == NULL) {
            copy = PyMem_RawMalloc(PATH_MAX + 1);
        }
        if (copy != NULL) {
            memcpy(copy, units, (size_t)len);
            copy[len] = '\0';
            t_read_path = copy;
            t_read_path_len = (size_t)len;
            Py_XSETREF(t_read_data, Py_NewRef(data));
        }
    }
    PyObject *file = PyObject_CallOneArg(g_bytes_io, data);
    Py_DECREF(data);
    return file;
}

/* Make core_open_code the process's open_code hook (install, before the audit hook: until
 * install ends it hands every read to _io.open). 0, or -1 with an error set; another hook
 * there first is no error: the reads then go through it, checked as before. */
static int
open_code_take(void)
{
    if (g_open_code) {
        return 0;
    }
    PyObject *io = PyImport_ImportModule("_io");
    if (io == NULL) {
        return -1;
    }
    g_io_open = PyObject_GetAttrString(io, "open");
    g_bytes_io = g_io_open != NULL ? PyObject_GetAttrString(io, "BytesIO") : NULL;
    Py_DECREF(io);
    if (g_bytes_io == NULL) {
        Py_CLEAR(g_io_open);
        return -1;
    }
    if (PyFile_SetOpenCodeHook(core_open_code, NULL) < 0) {
        if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_SystemError)) {
            return -1; /* (an audit hook refused setopencodehook) */
        }
        PyErr_Clear(); /* another hook was set first */
        return 0;
    }
    g_open_code = 1;
    return 0;
}


/* frame_local(frame, name): a local variable of a Python frame, read from the frame's own
 * slots. Never through f_locals: on 3.10-3.12 that is a dict kept with the frame, which the
 * function can reach and plant keys in (a str subclass with the name's hash would have its
 * __eq__ called by a lookup, inside the callback); it also costs a snapshot of every local.
 * Here the name is compared with the code's own variable names (exact str, compared as
 * built-ins) and the slot read: nothing of the function's runs. A cell variable's cell is
 * opened (the frames read are executing, past the instruction that makes their cells). */
static PyObject *
frame_slot_value(PyObject *value, int cell)
{
    if (value != NULL && cell && Py_IS_TYPE(value, &PyCell_Type)) {
        value = PyCell_GET(value);
    }
    return Py_NewRef(value != NULL ? value : Py_None);
}

static int
same_name(PyObject *known, PyObject *name)
{
    return known == name || (PyUnicode_CheckExact(known) && PyUnicode_Compare(known, name) == 0);
}

static PyObject *
core_frame_local(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyFrame_Check(args[0]) || Py_TYPE(args[0]) != &PyFrame_Type ||
        !PyUnicode_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "frame_local(frame, name: str): a frame and an exact str");
        return NULL;
    }
    PyFrameObject *frame = (PyFrameObject *)args[0];
    PyObject *name = args[1];
#if PY_VERSION_HEX >= 0x030B0000
    guarded_frame *data = frame->f_frame;
    PyCodeObject *code = (PyCodeObject *)frame_code(data);
    PyObject *names = code->co_localsplusnames;
    for (int i = 0; i < code->co_nlocalsplus; i++) {
        if (!same_name(PyTuple_GET_ITEM(names, i), name)) {
            continue;
        }
        _PyLocals_Kind kind = _PyLocals_GetKind(code->co_localspluskinds, i);
#if PY_VERSION_HEX >= 0x030E0000
        PyObject *value = PyStackRef_IsNull(data->localsplus[i])
                              ? NULL
                              : PyStackRef_AsPyObjectBorrow(data->localsplus[i]);
#else
        PyObject *value = data->localsplus[i];
#endif
        return frame_slot_value(value, (kind & (CO_FAST_CELL | CO_FAST_FREE)) != 0);
    }
#else
    PyCodeObject *code = frame->f_code;
    /* 3.10: the fast locals, then the cells and the free variables; an argument that is also
     * a cell variable lives in its cell (its fast slot is cleared), so the cells come first. */
    Py_ssize_t cells = PyTuple_GET_SIZE(code->co_cellvars);
    Py_ssize_t frees = PyTuple_GET_SIZE(code->co_freevars);
    for (Py_ssize_t j = 0; j < cells + frees; j++) {
        PyObject *known = j < cells ? PyTuple_GET_ITEM(code->co_cellvars, j)
                                    : PyTuple_GET_ITEM(code->co_freevars, j - cells);
        if (same_name(known, name)) {
            return frame_slot_value(frame->f_localsplus[code->co_nlocals + j], 1);
        }
    }
    for (int i = 0; i < code->co_nlocals; i++) {
        if (same_name(PyTuple_GET_ITEM(code->co_varnames, i), name)) {
            return frame_slot_value(frame->f_localsplus[i], 0);
        }
    }
#endif
    Py_RETURN_NONE;
}

/* caller_local(name): frame_local of the frame that raised the caller event being decided
 * on this thread (None outside the callback, or for another event). */
static PyObject *
core_caller_local(PyObject *self, PyObject *name)
{
    if (t_depth == 0 || t_event_frame == NULL) {
        if (!PyUnicode_CheckExact(name)) {
            PyErr_SetString(PyExc_TypeError, "caller_local(name: str): an exact str");
            return NULL;
        }
        Py_RETURN_NONE;
    }
    PyObject *args[2] = {(PyObject *)t_event_frame, name};
    return core_frame_local(self, args, 2);
}

static PyObject *
core_forgotten(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (t_depth == 0 || !caller_is_site("core.forgotten")) {
        return refuse("forgotten");
    }
    if (g_forget_everything) {
        g_forget_everything = 0;
        forget_queue_drop();
        Py_RETURN_TRUE;
    }
    if (g_forget_count == 0) {
        Py_RETURN_NONE;
    }
    PyObject *out = PyTuple_New((Py_ssize_t)g_forget_count);
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < g_forget_count; i++) {
        PyObject *name = PyUnicode_FromString(g_forget_queue[i]);
        if (name == NULL) {
            Py_DECREF(out);
            return NULL; /* the queue is kept: the next call hands it over */
        }
        PyTuple_SET_ITEM(out, (Py_ssize_t)i, name);
    }
    forget_queue_drop();
    return out;
}

static PyObject *
core_defer_quiet_ends(PyObject *self, PyObject *codes)
{
    (void)self;
    if (!g_installed || !caller_is_site("core.defer_quiet_ends")) {
        return refuse("defer_quiet_ends");
    }
    if (g_quiet_ends || g_mode == NULL || strcmp(g_mode, "learn") == 0) {
        Py_RETURN_FALSE; /* once; and learn writes every end */
    }
    if (code_set_build(&g_control_codes, codes) < 0) {
        code_set_free(&g_control_codes);
        return NULL;
    }
    g_quiet_ends = 1;
    Py_RETURN_TRUE;
}

/* request_env(request_id): the hook, at an invocation's start it decided (quiet starts set it
 * in the core): the request id children started from now on inherit (request_env_set). */
static PyObject *
core_request_env(PyObject *self, PyObject *request_id)
{
    (void)self;
    if (!g_installed || t_depth == 0 || !caller_is_site("core.request_env")) {
        return refuse("request_env");
    }
    request_env_set(request_id);
    Py_RETURN_NONE;
}

static PyObject *
core_end_needed(PyObject *self, PyObject *flag)
{
    (void)self;
    if (t_depth == 0 || !caller_is_site("core.end_needed")) {
        return refuse("end_needed");
    }
    if (flag != Py_True && flag != Py_False) {
        PyErr_SetString(PyExc_TypeError, "end_needed: a bool is needed");
        return NULL;
    }
    g_end_needed = flag == Py_True;
    Py_RETURN_NONE;
}

static PyObject *
core_ends_deferred(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (t_depth == 0 || !caller_is_site("core.ends_deferred")) {
        return refuse("ends_deferred");
    }
    PyObject *log = g_invocation_log;
    g_invocation_log = NULL;
    if (log == NULL) {
        return PyTuple_New(0);
    }
    PyObject *out = PyList_AsTuple(log);
    Py_DECREF(log);
    return out;
}

/* ------------------------------------------------------------------------------------- */
/* fork_exec's own audit event (before 3.14, CPython raises none there)                   */
/*
 * _posixsubprocess.fork_exec starts a program and, before 3.14, raises no audit event: any
 * function object of it the function's code can reach -- the module's attribute, a copy kept
 * anywhere, a fresh instance of the module -- would exec unchecked. Every such object calls the
 * one C implementation through the module's method table (PyMethodDef, static data of the
 * extension, read at each call), so the core puts its own function there: it raises the event
 * 3.14 raises (programs, argv, environment, cwd) and then calls the original. Once, for good.
 */
static PyCFunction g_fork_exec_original;
static int g_fork_exec_sealed;

/* Whether `value` is read by CPython's argument conversion without running any Python code:
 * None, an exact bool, int, str or bytes -- or, `depth` levels down, an exact tuple or list of
 * such. (Anything else -- __index__, __bool__, __fspath__ -- could change what was decided
 * after the event, or run between the decision and the system call.) */
static int
plain_int(PyObject *value)
{
    if (PyLong_CheckExact(value) || PyBool_Check(value)) {
        return 1;
    }
    if (!PyLong_Check(value)) {
        return 0;
    }
    /* an int subclass (signal.Signals...) is read by its stored value, unless its class gives
     * truth or conversion its own code */
    PyNumberMethods *own = Py_TYPE(value)->tp_as_number, *base = PyLong_Type.tp_as_number;
    return own != NULL && own->nb_bool == base->nb_bool && own->nb_index == base->nb_index &&
           own->nb_int == base->nb_int;
}

static int
plain_value(PyObject *value, int depth)
{
    if (value == Py_None || plain_int(value) || PyUnicode_CheckExact(value) ||
        PyBytes_CheckExact(value)) {
        return 1;
    }
    if (depth > 0 && (PyTuple_CheckExact(value) || PyList_CheckExact(value))) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(value);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (!plain_value(PySequence_Fast_GET_ITEM(value, i), depth - 1)) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

/* fork_exec's arguments, checked and copied before its event: all plain (one level), its
 * preexec_fn aside (21 arguments up to 3.10, 23 from 3.11); argv and the programs a list or
 * tuple (a str would be read as one argument per character), the environment None or one;
 * every list replaced by a fresh copy no other code holds (another thread could change the
 * caller's while the decision runs, and the original reads it after). Returns a new tuple of
 * the arguments to use, or NULL with TypeError set. */
static PyObject *
fork_exec_arguments(PyObject *const *args, Py_ssize_t nargs, PyObject **preexec)
{
    Py_ssize_t preexec_index = nargs == 21 ? 20 : nargs == 23 ? 21 : -1;
    if (preexec_index < 0) {
        PyErr_SetString(PyExc_TypeError, "fork_exec: an argument count this sandbox does not know");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        if (i != preexec_index && !plain_value(args[i], 1)) {
            PyErr_SetString(PyExc_TypeError,
                            "lambda-sandbox: fork_exec takes plain values only (bool, int, exact "
                            "str or bytes, None, or a tuple or list of them)");
            return NULL;
        }
    }
    for (int k = 0; k < 3; k++) {
        PyObject *value = args[k == 0 ? 0 : k == 1 ? 1 : 5];
        if (!(PyList_CheckExact(value) || PyTuple_CheckExact(value) || (k == 2 && value == Py_None))) {
            PyErr_SetString(PyExc_TypeError,
                            "lambda-sandbox: fork_exec's argv, programs and environment must be "
                            "lists or tuples");
            return NULL;
        }
    }
    PyObject *out = PyTuple_New(nargs);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyObject *value = args[i];
        PyObject *copy = PyList_CheckExact(value) ? PyList_GetSlice(value, 0, PY_SSIZE_T_MAX)
                                                  : (Py_INCREF(value), value);
        if (copy == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, copy);
    }
    *preexec = args[preexec_index];
    return out;
}

static PyObject *
fork_exec_varargs(PyObject *module, PyObject *args)
{
    PyObject *preexec;
    if (!PyTuple_Check(args)) {
        PyErr_SetString(PyExc_TypeError, "fork_exec: arguments must be a tuple");
        return NULL;
    }
    PyObject *copies = fork_exec_arguments(&PyTuple_GET_ITEM(args, 0), PyTuple_GET_SIZE(args),
                                           &preexec);
    if (copies == NULL) {
        return NULL;
    }
    /* (programs, argv, env, cwd) as 3.14 raises them, and whether a preexec_fn will run the
     * function's code in the child between this decision and the exec */
    PyObject *result = NULL;
    if (PySys_Audit("_posixsubprocess.fork_exec", "OOOOO", PyTuple_GET_ITEM(copies, 1),
                    PyTuple_GET_ITEM(copies, 0), PyTuple_GET_ITEM(copies, 5),
                    PyTuple_GET_ITEM(copies, 4), preexec != Py_None ? Py_True : Py_False) == 0) {
        result = g_fork_exec_original(module, copies);
    }
    Py_DECREF(copies);
    return result;
}

static PyObject *
fork_exec_fastcall(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *preexec;
    PyObject *copies = fork_exec_arguments(args, nargs, &preexec);
    if (copies == NULL) {
        return NULL;
    }
    PyObject *result = NULL;
    PyObject *const *items = &PyTuple_GET_ITEM(copies, 0);
    if (PySys_Audit("_posixsubprocess.fork_exec", "OOOOO", items[1], items[0], items[5],
                    items[4], preexec != Py_None ? Py_True : Py_False) == 0) {
        result = ((PyObject * (*)(PyObject *, PyObject *const *, Py_ssize_t))(void (*)(void))
                      g_fork_exec_original)(module, items, nargs);
    }
    Py_DECREF(copies);
    return result;
}

static PyObject *
core_seal_fork_exec(PyObject *self, PyObject *function)
{
    (void)self;
    if (g_fork_exec_sealed || g_installed) {
        /* once, and only while installing (before the function's code runs) */
        return PyBool_FromLong(g_fork_exec_sealed);
    }
    if (!announce_core_call("seal_fork_exec")) {
        return NULL;
    }
    if (!PyCFunction_CheckExact(function)) {
        PyErr_SetString(PyExc_TypeError, "seal_fork_exec: a builtin function is needed");
        return NULL;
    }
    PyMethodDef *def = ((PyCFunctionObject *)function)->m_ml;
    PyObject *module = PyCFunction_GET_SELF(function);
    if (def == NULL || def->ml_name == NULL || strcmp(def->ml_name, "fork_exec") != 0 ||
        module == NULL || !PyModule_Check(module)) {
        Py_RETURN_FALSE;
    }
    const char *module_name = PyModule_GetName(module);
    if (module_name == NULL) {
        PyErr_Clear();
        Py_RETURN_FALSE;
    }
    if (strcmp(module_name, "_posixsubprocess") != 0) {
        Py_RETURN_FALSE;
    }
    int kind = def->ml_flags & (METH_VARARGS | METH_FASTCALL | METH_KEYWORDS | METH_NOARGS |
                                METH_O | METH_METHOD);
    if (kind == METH_VARARGS) {
        g_fork_exec_original = def->ml_meth;
        def->ml_meth = (PyCFunction)fork_exec_varargs;
    }
    else if (kind == METH_FASTCALL) {
        g_fork_exec_original = def->ml_meth;
        def->ml_meth = (PyCFunction)(void (*)(void))fork_exec_fastcall;
    }
    else {
        Py_RETURN_FALSE; /* a calling convention this core does not know: the hook's wrapper */
    }
    g_fork_exec_sealed = 1;
    Py_RETURN_TRUE;
}

/* posix_spawn, posix_spawnp and execve read their env mapping *after* their audit event
 * (keys(), values(), then each item converted): a mapping whose Python code answers the
 * decision one way and the child another (a rebound method, class, codec or global of
 * os.environ's) would start a program with an environment nobody decided on. The core puts
 * its own function in their method-table entries: a mapping that is not an exact dict is read
 * once, the way the original reads it, into an exact dict of exact str/bytes copies, before the
 * call -- so the event carries, and the child gets, that dict (reading an exact dict runs no
 * Python code). Other item types are passed as they are (the decision refuses them). */
typedef PyObject *(*fastcall_keywords)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *);
static fastcall_keywords g_spawn_original[3]; /* posix_spawn, posix_spawnp, execve */
typedef PyObject *(*fastcall_plain)(PyObject *, PyObject *const *, Py_ssize_t);
static fastcall_plain g_execv_original; /* execv(path, argv): execl, execlp, execvp go through it */
static int g_env_sealed;

static PyObject *
exact_copy(PyObject *item)
{
    if (PyUnicode_CheckExact(item) || PyBytes_CheckExact(item)) {
        Py_INCREF(item);
        return item;
    }
    if (PyUnicode_Check(item)) {
        return PyUnicode_FromObject(item); /* an exact str copy of a subclass */
    }
    if (PyBytes_Check(item)) {
        return PyBytes_FromStringAndSize(PyBytes_AS_STRING(item), PyBytes_GET_SIZE(item));
    }
    PyErr_Format(PyExc_TypeError, "expected str, bytes or os.PathLike, not %.80s",
                 Py_TYPE(item)->tp_name);
    return NULL;
}

/* os.fspath(item) as an exact str/bytes copy: the conversion the original would make, made
 * here before the call (a path-like's __fspath__ runs now, before the event). */
static PyObject *
path_copy(PyObject *item)
{
    PyObject *path = PyOS_FSPath(item);
    if (path == NULL) {
        return NULL;
    }
    PyObject *copy = exact_copy(path);
    Py_DECREF(path);
    return copy;
}

/* env read the way posix's parse_envlist reads a mapping (keys(), values()), each item through
 * os.fspath, into an exact dict of exact str/bytes copies. */
static PyObject *
env_snapshot(PyObject *env)
{
    if (!PyMapping_Check(env)) {
        Py_INCREF(env); /* the original raises its TypeError */
        return env;
    }
    PyObject *keys = PyMapping_Keys(env);
    if (keys == NULL) {
        return NULL;
    }
    PyObject *values = PyMapping_Values(env);
    if (values == NULL) {
        Py_DECREF(keys);
        return NULL;
    }
    PyObject *out = NULL;
    if (!PyList_Check(keys) || !PyList_Check(values) ||
        PyList_GET_SIZE(keys) != PyList_GET_SIZE(values)) {
        PyErr_SetString(PyExc_TypeError, "env.keys() or env.values() is not a list");
        goto done;
    }
    out = PyDict_New();
    if (out == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
        PyObject *key = path_copy(PyList_GET_ITEM(keys, i));
        PyObject *value = key != NULL ? path_copy(PyList_GET_ITEM(values, i)) : NULL;
        int failed = value == NULL || PyDict_SetItem(out, key, value) < 0;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (failed) {
            Py_CLEAR(out);
            goto done;
        }
    }
done:
    Py_DECREF(keys);
    Py_DECREF(values);
    return out;
}

/* argv as an exact tuple of exact str/bytes copies (os.fspath of each item). */
static PyObject *
argv_snapshot(PyObject *argv)
{
    if (!PyList_Check(argv) && !PyTuple_Check(argv)) {
        Py_INCREF(argv); /* the original raises its TypeError */
        return argv;
    }
    PyObject *items = PySequence_Tuple(argv);
    if (items == NULL) {
        return NULL;
    }
    PyObject *out = PyTuple_New(PyTuple_GET_SIZE(items));
    for (Py_ssize_t i = 0; out != NULL && i < PyTuple_GET_SIZE(items); i++) {
        PyObject *copy = path_copy(PyTuple_GET_ITEM(items, i));
        if (copy == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyTuple_SET_ITEM(out, i, copy);
    }
    Py_DECREF(items);
    return out;
}

/* Whether the keyword `key` is the parameter `name`, as CPython's argument parser matches it:
 * by its text, a str subclass's too (compared in C: no code of anyone's runs). A seal that
 * matched exact str keys only never saw an argument `**{S("dir_fd"): fd}` gave the original
 * (red team 108: os.mkfifo made a FIFO where no rule allows, SQLite's authorizer was removed). */
static int
keyword_is(PyObject *key, const char *name)
{
    return PyUnicode_Check(key) && PyUnicode_CompareWithASCIIString(key, name) == 0;
}

/* The argument of parameter `position`, named `name`: the positional one, else the keyword of
 * that name (keyword_is), else None (not given: its default; borrowed). Not the value given
 * at that place: a keyword's place among the values is the caller's choice (red team 107 had
 * os.setns decided on its `fd` as `nstype` by giving `nstype=` first). */
static PyObject *
argument_named(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, Py_ssize_t position,
               const char *name)
{
    if (position < nargs) {
        return args[position];
    }
    Py_ssize_t count = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        if (keyword_is(PyTuple_GET_ITEM(kwnames, k), name)) {
            return args[nargs + k];
        }
    }
    return Py_None;
}

/* posix_spawn's file_actions, copied (a tuple of tuples: what the original then reads) and
 * decided: each POSIX_SPAWN_OPEN (tag 0: tag, fd, path, flags, mode) makes the child open a
 * file before it runs the program, with no event of CPython's -- raised here as the `open`
 * event os.open raises (path, None, flags). NULL with the exception (refused, or an error).
 * The items are plain values already (checked); the copy is taken before the first event, so
 * nothing another thread changes while the hook decides reaches the child. */
static PyObject *
file_actions_decided(PyObject *actions)
{
    if (!PyList_CheckExact(actions) && !PyTuple_CheckExact(actions)) {
        return Py_NewRef(actions); /* the original's own TypeError */
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(actions);
    PyObject *out = PyTuple_New(n);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(actions, i);
        PyObject *copy = PyList_CheckExact(item) || PyTuple_CheckExact(item)
                             ? PySequence_Tuple(item)
                             : Py_NewRef(item);
        if (copy == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, copy);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(out, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 5 ||
            !PyLong_Check(PyTuple_GET_ITEM(item, 0))) {
            continue;
        }
        long tag = PyLong_AsLong(PyTuple_GET_ITEM(item, 0));
        if (tag == -1 && PyErr_Occurred()) {
            Py_DECREF(out);
            return NULL;
        }
        /* (a fourth argument, True: the name is the child's to resolve, after the actions
         * before it -- one through /proc or /dev/fd may lead elsewhere there: red team 118) */
        if (tag == 0 /* POSIX_SPAWN_OPEN */ &&
            PySys_Audit("open", "OOOO", PyTuple_GET_ITEM(item, 2), Py_None,
                        PyTuple_GET_ITEM(item, 3), Py_True) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

static PyObject *
spawn_with_snapshot(int which, PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames)
{
    fastcall_keywords original = g_spawn_original[which];
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    Py_ssize_t total = nargs + nkw;
    /* where path, argv and env are: positional, or (execve) by keyword */
    Py_ssize_t at[3] = {nargs > 0 ? 0 : -1, nargs > 1 ? 1 : -1, nargs > 2 ? 2 : -1};
    static const char *names[3] = {"path", "argv", "env"};
    Py_ssize_t actions_at = -1;
    for (Py_ssize_t j = 0; j < nkw; j++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, j);
        int known = 0;
        if (which != 2 && keyword_is(name, "file_actions")) {
            actions_at = nargs + j;
        }
        for (int k = 0; k < 3; k++) {
            if (which == 2 && keyword_is(name, names[k])) {
                at[k] = nargs + j;
                known = 1;
            }
        }
        /* posix_spawn's keywords (file_actions, setpgroup, setsigmask...): plain values only,
         * read by the original without any code of the function's running (scheduler's
         * sched_param is not one: refused) */
        if (!known && !plain_value(args[nargs + j], 2)) {
            PyErr_SetString(PyExc_TypeError,
                            "lambda-sandbox: posix_spawn's keyword arguments take plain values "
                            "only (bool, int, exact str or bytes, None, or tuples/lists of them)");
            return NULL;
        }
    }
    if (at[0] < 0 || at[1] < 0 || at[2] < 0) {
        return original(module, args, nargs, kwnames); /* missing: the original's own error */
    }
    PyObject *small[16];
    PyObject **copy = total <= 16 ? small : PyMem_Malloc(sizeof(PyObject *) * (size_t)total);
    if (copy == NULL) {
        return PyErr_NoMemory();
    }
    memcpy(copy, args, sizeof(PyObject *) * (size_t)total);
    PyObject *path = args[at[0]];
    PyObject *made[3] = {NULL, NULL, NULL};
    made[0] = (which == 2 && PyLong_CheckExact(path)) ? (Py_INCREF(path), path) : path_copy(path);
    made[1] = made[0] != NULL ? argv_snapshot(args[at[1]]) : NULL;
    made[2] = made[1] != NULL ? env_snapshot(args[at[2]]) : NULL;
    PyObject *actions = NULL;
    if (made[2] != NULL && actions_at >= 0) {
        actions = file_actions_decided(args[actions_at]);
    }
    PyObject *result = NULL;
    if (made[2] != NULL && (actions_at < 0 || actions != NULL)) {
        copy[at[0]] = made[0];
        copy[at[1]] = made[1];
        copy[at[2]] = made[2];
        if (actions != NULL) {
            copy[actions_at] = actions;
        }
        result = original(module, copy, nargs, kwnames);
    }
    Py_XDECREF(actions);
    for (int k = 0; k < 3; k++) {
        Py_XDECREF(made[k]);
    }
    if (copy != small) {
        PyMem_Free(copy);
    }
    return result;
}

static PyObject *
execv_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        return g_execv_original(module, args, nargs); /* the original's own error */
    }
    PyObject *copies[2];
    copies[0] = PyLong_CheckExact(args[0]) ? (Py_INCREF(args[0]), args[0]) : path_copy(args[0]);
    if (copies[0] == NULL) {
        return NULL;
    }
    copies[1] = argv_snapshot(args[1]);
    if (copies[1] == NULL) {
        Py_DECREF(copies[0]);
        return NULL;
    }
    PyObject *result = g_execv_original(module, copies, 2);
    Py_DECREF(copies[0]);
    Py_DECREF(copies[1]);
    return result;
}

static PyObject *
posix_spawn_sealed(PyObject *m, PyObject *const *a, Py_ssize_t n, PyObject *k)
{
    return spawn_with_snapshot(0, m, a, n, k);
}

static PyObject *
posix_spawnp_sealed(PyObject *m, PyObject *const *a, Py_ssize_t n, PyObject *k)
{
    return spawn_with_snapshot(1, m, a, n, k);
}

static PyObject *
execve_sealed(PyObject *m, PyObject *const *a, Py_ssize_t n, PyObject *k)
{
    return spawn_with_snapshot(2, m, a, n, k);
}

static PyObject *
core_seal_spawn_env(PyObject *self, PyObject *args)
{
    (void)self;
    static const char *names[3] = {"posix_spawn", "posix_spawnp", "execve"};
    static const fastcall_keywords sealed[3] = {posix_spawn_sealed, posix_spawnp_sealed,
                                                execve_sealed};
    if (g_env_sealed || g_installed) {
        return PyBool_FromLong(g_env_sealed); /* once, and only while installing */
    }
    if (!announce_core_call("seal_spawn_env")) {
        return NULL;
    }
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "seal_spawn_env(posix_spawn, posix_spawnp, execve, execv)");
        return NULL;
    }
    PyObject *execv = PyTuple_GET_ITEM(args, 3);
    PyMethodDef *execv_def = NULL;
    if (execv != Py_None) {
        const char *module_name = NULL;
        if (PyCFunction_CheckExact(execv)) {
            PyObject *module = PyCFunction_GET_SELF(execv);
            module_name = module != NULL && PyModule_Check(module) ? PyModule_GetName(module)
                                                                  : NULL;
            if (module_name == NULL) {
                PyErr_Clear();
            }
            execv_def = ((PyCFunctionObject *)execv)->m_ml;
        }
        if (module_name == NULL || strcmp(module_name, "posix") != 0 || execv_def == NULL ||
            execv_def->ml_name == NULL || strcmp(execv_def->ml_name, "execv") != 0 ||
            (execv_def->ml_flags & ~METH_COEXIST) != METH_FASTCALL) {
            Py_RETURN_FALSE;
        }
    }
    PyMethodDef *defs[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        PyObject *function = PyTuple_GET_ITEM(args, i);
        if (function == Py_None) {
            continue; /* not on this platform */
        }
        if (!PyCFunction_CheckExact(function)) {
            Py_RETURN_FALSE;
        }
        PyMethodDef *def = ((PyCFunctionObject *)function)->m_ml;
        PyObject *module = PyCFunction_GET_SELF(function);
        const char *module_name = module != NULL && PyModule_Check(module)
                                      ? PyModule_GetName(module) : NULL;
        if (module_name == NULL) {
            PyErr_Clear();
            Py_RETURN_FALSE;
        }
        if (def == NULL || def->ml_name == NULL || strcmp(def->ml_name, names[i]) != 0 ||
            strcmp(module_name, "posix") != 0 ||
            (def->ml_flags & ~METH_COEXIST) != (METH_FASTCALL | METH_KEYWORDS)) {
            Py_RETURN_FALSE; /* not the functions (or the calling convention) this core knows */
        }
        defs[i] = def;
    }
    for (int i = 0; i < 3; i++) {
        if (defs[i] != NULL) {
            g_spawn_original[i] = (fastcall_keywords)(void (*)(void))defs[i]->ml_meth;
            defs[i]->ml_meth = (PyCFunction)(void (*)(void))sealed[i];
        }
    }
    if (execv_def != NULL) {
        g_execv_original = (fastcall_plain)(void (*)(void))execv_def->ml_meth;
        execv_def->ml_meth = (PyCFunction)(void (*)(void))execv_sealed;
    }
    g_env_sealed = 1;
    Py_RETURN_TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Names in socket addresses: decided before CPython looks them up                        */
/*
 * connect, connect_ex, bind, sendto and sendmsg of an AF_INET/AF_INET6 socket take (host,
 * port, ...), and CPython resolves a host that is not an address literal (the C library's
 * getaddrinfo: /etc/hosts, then a DNS query) BEFORE it raises the method's audit event: the
 * query -- a name of the function's choosing, a channel out -- has left by the time the hook
 * sees the connect. The core puts its own functions in those methods' entries of
 * _socket.socket's method table (static data of the extension, read at every call, whatever
 * object the method is reached through): a host that is not a literal is first raised as the
 * socket.getaddrinfo event, the name decided as a resolve before any lookup, and the original
 * is called with an address holding an exact copy of that host (a bytearray, or a subclass,
 * could say something else once decided). Once, for good.
 */
enum {
    SOCK_CONNECT,
    SOCK_CONNECT_EX,
    SOCK_BIND,
    SOCK_SENDTO,
    SOCK_SENDMSG,
    SOCK_SETSOCKOPT,
    SOCK_LISTEN,
    SOCK_GETSOCKOPT,
    SOCK_RECV,
    SOCK_RECVFROM,
    SOCK_METHODS
};
static const char *const g_sock_names[SOCK_METHODS] = {
    "connect", "connect_ex", "bind",       "sendto", "sendmsg",
    "setsockopt", "listen", "getsockopt", "recv",   "recvfrom"};
static PyCFunction g_sock_original[SOCK_METHODS];
static PyObject *g_sock_getsockname; /* _socket.socket's getsockname method descriptor */
/* Its C function, which reads any socket object of this extension: every `_socket` made from
 * it (another copy made by hand: `_imp.create_dynamic`, 3.14's `create_builtin`) has a type
 * of its own, which the descriptor refuses (red team 106: the bind of such a socket's listen
 * went undecided), while a sealed entry of the shared method table is only ever called with
 * an object of one of those types (its descriptor checks). */
static PyCFunction g_sock_getsockname_c;
static PyCFunction g_sock_fileno_c; /* (fileno's, the same way: the descriptor as CPython keeps it) */
static int g_sock_sealed;

/* Options that send the socket's packets elsewhere than the address its connect or sendto
 * was decided on: an IPv4 source route (IP_OPTIONS; per message IP_RETOPTS), an IPv6 routing
 * header or next hop. Linux routes the flow to the route's first hop. */
/* Options whose value is a struct holding a pointer the kernel reads: SO_ATTACH_FILTER and
 * SO_ATTACH_REUSEPORT_CBPF (struct sock_fprog: a classic BPF program at any address -- red
 * team 137 read memory back through SO_GET_FILTER, and an unmapped address's EFAULT tells
 * which are mapped), and PACKET_FANOUT_DATA (the same struct). Raised as the setsockopt event
 * too: the decoder decides them as `native memory read`. */
static int
pointer_option(long level, long name)
{
    return (level == 1 /* SOL_SOCKET */ && (name == 26 /* SO_ATTACH_FILTER */ ||
                                            name == 51 /* SO_ATTACH_REUSEPORT_CBPF */)) ||
           (level == 263 /* SOL_PACKET */ && name == 22 /* PACKET_FANOUT_DATA */) ||
           /* the firewall tables' replace and counters (iptables, arptables, ebtables; IPv6:
            * ip6tables): a struct whose `counters` pointer the kernel writes (red team 138) */
           (level == 0 /* SOL_IP */ && (name == 64 || name == 65 || name == 96 || name == 97 ||
                                        name == 128 || name == 129)) ||
           (level == 41 /* SOL_IPV6 */ && (name == 64 || name == 65));
}

static int
rerouting_option(long level, long name)
{
    return (level == 0 /* IPPROTO_IP */ && (name == 4 /* IP_OPTIONS */ || name == 7 /* IP_RETOPTS */)) ||
           (level == 41 /* IPPROTO_IPV6 */ &&
            (name == 57 /* IPV6_RTHDR */ || name == 9 /* IPV6_NEXTHOP */ ||
             name == 5 /* IPV6_2292RTHDR */ || name == 6 /* IPV6_2292PKTOPTIONS */));
}

/* Raised for a rerouting option (or one whose level or name is not a plain int: its
 * conversion would run code after the check): decided, refused unless a rule says. */
static int
reroute_decided(PyObject *sock, PyObject *level, PyObject *name)
{
    if (plain_int(level) && plain_int(name)) {
        long l = PyLong_AsLong(level), n = PyLong_AsLong(name);
        if ((l == -1 || n == -1) && PyErr_Occurred()) {
            PyErr_Clear();
        }
        else if (!rerouting_option(l, n) && !pointer_option(l, n)) {
            return 0;
        }
    }
    return PySys_Audit("socket.setsockopt", "OOO", sock, level, name);
}

/* Whether CPython's setipaddr reads `text` with no lookup: the empty name, "<broadcast>", or
 * an address literal (what inet_pton takes; other spellings -- "127.1" -- are raised: the
 * decision reads them as the addresses they are, and lets them pass). */
static int
host_is_literal(const char *text)
{
    unsigned char buffer[sizeof(struct in6_addr)];
    return text[0] == '\0' || strcmp(text, "<broadcast>") == 0 ||
           inet_pton(AF_INET, text, buffer) > 0 ||
           (strchr(text, '%') == NULL && inet_pton(AF_INET6, text, buffer) > 0);
}

/* The address to pass on (new reference), its host decided first; NULL with the exception
 * (the decision refused, or an error). Anything but a (host, ...) tuple with a str, bytes or
 * bytearray host is passed as it is: the original reads it with no lookup, or raises its own
 * error. The socket's family is NOT what tells: sendto and sendmsg convert their other
 * arguments first (an __index__, a __buffer__: the function's code), which can re-initialise
 * the socket as AF_INET over another descriptor before CPython reads its family -- so a
 * textual host is decided whatever the family is now (AF_PACKET's and AF_CAN's interface
 * names, AF_ALG's names are decided as resolves too: rare, and refused unless a rule says). */
static PyObject *
address_decided(PyObject *sock, PyObject *address)
{
    (void)sock;
    if (!PyTuple_Check(address) || PyTuple_GET_SIZE(address) < 2) {
        return Py_NewRef(address);
    }
    PyObject *host = PyTuple_GET_ITEM(address, 0);
    if (!PyUnicode_Check(host) && !PyBytes_Check(host) && !PyByteArray_Check(host)) {
        return Py_NewRef(address);
    }
    PyObject *copy;
    if (PyUnicode_Check(host)) {
        copy = PyUnicode_FromObject(host); /* (exact: the same object; a subclass: a copy) */
    }
    else if (PyBytes_CheckExact(host)) {
        copy = Py_NewRef(host);
    }
    else if (PyBytes_Check(host)) {
        copy = PyBytes_FromStringAndSize(PyBytes_AS_STRING(host), PyBytes_GET_SIZE(host));
    }
    else {
        copy = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(host), PyByteArray_GET_SIZE(host));
    }
    if (copy == NULL) {
        return NULL;
    }
    const char *text = NULL;
    Py_ssize_t length = 0;
    if (PyUnicode_Check(copy)) {
        if (PyUnicode_IS_ASCII(copy)) {
            text = (const char *)PyUnicode_DATA(copy);
            length = PyUnicode_GET_LENGTH(copy);
        }
    }
    else {
        text = PyBytes_AS_STRING(copy);
        length = PyBytes_GET_SIZE(copy);
    }
    /* a name with a NUL inside is refused by the original; a non-ASCII one is encoded by a
     * codec (IDNA) and looked up: both are raised, the decision says what they are */
    int literal = text != NULL && (size_t)length == strlen(text) && host_is_literal(text);
    if (!literal && PySys_Audit("socket.getaddrinfo", "OOiii", copy, Py_None, 0, 0, 0) < 0) {
        Py_DECREF(copy);
        return NULL;
    }
    if (copy == host) {
        Py_DECREF(copy);
        return Py_NewRef(address);
    }
    Py_ssize_t n = PyTuple_GET_SIZE(address);
    PyObject *out = PyTuple_New(n);
    if (out == NULL) {
        Py_DECREF(copy);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, copy);
    for (Py_ssize_t i = 1; i < n; i++) {
        PyTuple_SET_ITEM(out, i, Py_NewRef(PyTuple_GET_ITEM(address, i)));
    }
    return out;
}

static PyObject *
sock_sealed_o(int which, PyObject *self, PyObject *address)
{
    PyObject *decided = address_decided(self, address);
    if (decided == NULL) {
        return NULL;
    }
    PyObject *result = g_sock_original[which](self, decided);
    Py_DECREF(decided);
    return result;
}

/* METH_VARARGS: the address is argument `index` of `args` (-1: none given). */
static PyObject *
sock_sealed_varargs(int which, PyObject *self, PyObject *args, Py_ssize_t index)
{
    if (index < 0 || !PyTuple_Check(args) || index >= PyTuple_GET_SIZE(args)) {
        return g_sock_original[which](self, args);
    }
    PyObject *address = PyTuple_GET_ITEM(args, index);
    PyObject *decided = address_decided(self, address);
    if (decided == NULL) {
        return NULL;
    }
    PyObject *call = args;
    Py_INCREF(call);
    if (decided != address) {
        Py_DECREF(call);
        call = PyTuple_GetSlice(args, 0, PyTuple_GET_SIZE(args));
        if (call == NULL) {
            Py_DECREF(decided);
            return NULL;
        }
        Py_SETREF(((PyTupleObject *)call)->ob_item[index], Py_NewRef(decided));
    }
    Py_DECREF(decided);
    PyObject *result = g_sock_original[which](self, call);
    Py_DECREF(call);
    return result;
}

static PyObject *
sock_connect_sealed(PyObject *self, PyObject *address)
{
    return sock_sealed_o(SOCK_CONNECT, self, address);
}

static PyObject *
sock_connect_ex_sealed(PyObject *self, PyObject *address)
{
    return sock_sealed_o(SOCK_CONNECT_EX, self, address);
}

static PyObject *
sock_bind_sealed(PyObject *self, PyObject *address)
{
    return sock_sealed_o(SOCK_BIND, self, address);
}

static PyObject *
sock_sendto_sealed(PyObject *self, PyObject *args)
{
    /* sendto(data[, flags], address) */
    Py_ssize_t n = PyTuple_Check(args) ? PyTuple_GET_SIZE(args) : 0;
    return sock_sealed_varargs(SOCK_SENDTO, self, args, n == 2 ? 1 : n == 3 ? 2 : -1);
}

static PyObject *
sock_sendmsg_sealed(PyObject *self, PyObject *args)
{
    /* sendmsg(buffers[, ancdata[, flags[, address]]]): the ancillary data may carry a route
     * per message (IP_RETOPTS, IPV6_RTHDR...): copied (a tuple of the items), each item's
     * level and type decided; anything but a list or tuple of (level, type, data) tuples is
     * raised as an option it cannot read */
    Py_ssize_t n = PyTuple_Check(args) ? PyTuple_GET_SIZE(args) : 0;
    if (n < 2 || PyTuple_GET_ITEM(args, 1) == Py_None) {
        return sock_sealed_varargs(SOCK_SENDMSG, self, args, n >= 4 ? 3 : -1);
    }
    PyObject *ancdata = PyTuple_GET_ITEM(args, 1);
    PyObject *copy = NULL;
    if (PyList_CheckExact(ancdata) || PyTuple_CheckExact(ancdata)) {
        copy = PySequence_Tuple(ancdata);
        if (copy == NULL) {
            return NULL;
        }
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(copy); i++) {
            PyObject *item = PyTuple_GET_ITEM(copy, i);
            int rc = PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 3
                         ? reroute_decided(self, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1))
                         : PySys_Audit("socket.setsockopt", "OOO", self, Py_None, Py_None);
            if (rc < 0) {
                Py_DECREF(copy);
                return NULL;
            }
        }
    }
    else if (PySys_Audit("socket.setsockopt", "OOO", self, Py_None, Py_None) < 0) {
        return NULL;
    }
    PyObject *call = PyTuple_GetSlice(args, 0, n);
    if (call == NULL) {
        Py_XDECREF(copy);
        return NULL;
    }
    if (copy != NULL) {
        Py_SETREF(((PyTupleObject *)call)->ob_item[1], copy);
    }
    PyObject *result = sock_sealed_varargs(SOCK_SENDMSG, self, call, n >= 4 ? 3 : -1);
    Py_DECREF(call);
    return result;
}

static PyObject *
sock_setsockopt_sealed(PyObject *self, PyObject *args)
{
    /* setsockopt(level, option, value[, optlen]) */
    if (PyTuple_Check(args) && PyTuple_GET_SIZE(args) >= 2 &&
        reroute_decided(self, PyTuple_GET_ITEM(args, 0), PyTuple_GET_ITEM(args, 1)) < 0) {
        return NULL;
    }
    return g_sock_original[SOCK_SETSOCKOPT](self, args);
}

/* getsockopt(level, option, buflen): CPython hands the kernel a buffer it allocated and never
 * set, which the kernel reads first for some options -- TCP_ZEROCOPY_RECEIVE's struct names
 * the address the kernel copies received bytes to, and the function chose it by freeing a
 * bytes object of the same size just before (red team 138 rewrote an immutable object, then
 * `_PyRuntime`'s audit hook list: every hook gone). Made here as CPython makes it, with the
 * buffer zeroed: no option reads anything of the function's. The int form (no buflen, or 0)
 * reads into an int of CPython's own: the original, given the values read here. */
static PyObject *
sock_getsockopt_sealed(PyObject *self, PyObject *args)
{
    int level = 0, option = 0, buflen = 0;
    if (!PyArg_ParseTuple(args, "ii|i:getsockopt", &level, &option, &buflen)) {
        return NULL;
    }
    if (buflen == 0) {
        PyObject *call = Py_BuildValue("(ii)", level, option);
        if (call == NULL) {
            return NULL;
        }
        PyObject *result = g_sock_original[SOCK_GETSOCKOPT](self, call);
        Py_DECREF(call);
        return result;
    }
    if (buflen < 0 || buflen > 1024) {
        PyErr_SetString(PyExc_OSError, "getsockopt buflen out of range");
        return NULL;
    }
    PyObject *descriptor = g_sock_fileno_c(self, NULL);
    if (descriptor == NULL) {
        return NULL;
    }
    long fd = PyLong_AsLong(descriptor);
    Py_DECREF(descriptor);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *buffer = PyBytes_FromStringAndSize(NULL, buflen);
    if (buffer == NULL) {
        return NULL;
    }
    memset(PyBytes_AS_STRING(buffer), 0, (size_t)buflen);
    socklen_t length = (socklen_t)buflen;
    if (getsockopt((int)fd, level, option, PyBytes_AS_STRING(buffer), &length) < 0) {
        Py_DECREF(buffer);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (_PyBytes_Resize(&buffer, (Py_ssize_t)length) < 0) {
        return NULL;
    }
    return buffer;
}

/* recv(bufsize[, flags]) and recvfrom(bufsize[, flags]): with MSG_TRUNC on a datagram socket
 * the kernel answers the datagram's whole length while it copied `bufsize` bytes, and CPython
 * grows its result to that length: the bytes past `bufsize` are heap memory nobody wrote --
 * freed memory of the process (red team 139 read back a freed str's text). The original is
 * given the two ints read here, and what it returns has its bytes past `bufsize` zeroed (the
 * length stays the kernel's answer, which is what MSG_TRUNC asks). */
static PyObject *
received_cleared(PyObject *received, Py_ssize_t bufsize)
{
    PyObject *data = received != NULL && PyTuple_Check(received) && PyTuple_GET_SIZE(received) > 0
                         ? PyTuple_GET_ITEM(received, 0)
                         : received;
    if (data == NULL || !PyBytes_CheckExact(data) || PyBytes_GET_SIZE(data) <= bufsize) {
        return received;
    }
    if (Py_REFCNT(data) != 1) {
        Py_DECREF(received); /* (shared: never written) */
        PyErr_SetString(PyExc_OSError, "lambda-sandbox: a truncated datagram's result was shared");
        return NULL;
    }
    memset(PyBytes_AS_STRING(data) + bufsize, 0, (size_t)(PyBytes_GET_SIZE(data) - bufsize));
    return received;
}

static PyObject *
sock_received_sealed(int which, PyObject *self, PyObject *args)
{
    Py_ssize_t bufsize = 0;
    int flags = 0;
    if (!PyArg_ParseTuple(args, which == SOCK_RECV ? "n|i:recv" : "n|i:recvfrom", &bufsize,
                          &flags)) {
        return NULL;
    }
    PyObject *call = Py_BuildValue("(ni)", bufsize, flags);
    if (call == NULL) {
        return NULL;
    }
    PyObject *received = g_sock_original[which](self, call);
    Py_DECREF(call);
    return received_cleared(received, bufsize < 0 ? 0 : bufsize);
}

static PyObject *
sock_recv_sealed(PyObject *self, PyObject *args)
{
    return sock_received_sealed(SOCK_RECV, self, args);
}

static PyObject *
sock_recvfrom_sealed(PyObject *self, PyObject *args)
{
    return sock_received_sealed(SOCK_RECVFROM, self, args);
}

static PyObject *
sock_listen_sealed(PyObject *self, PyObject *args)
{
    /* listen() on a socket never bound binds it (the kernel picks a port on every address):
     * raised as the bind of its current name, (address, 0) */
    PyObject *name = g_sock_getsockname_c(self, NULL);
    if (name == NULL) {
        /* (a name that cannot be read is no decision: the listen is not made -- its error is
         * the one the listen would give, a closed or a non-socket descriptor) */
        return NULL;
    }
    else {
        /* (an inet name with port 0, or an AF_UNIX socket with no name: the kernel gives
         * it an abstract one, which any process of the network namespace can reach) */
        int unbound = (PyTuple_Check(name) && PyTuple_GET_SIZE(name) >= 2 &&
                       PyLong_CheckExact(PyTuple_GET_ITEM(name, 1)) &&
                       PyLong_AsLong(PyTuple_GET_ITEM(name, 1)) == 0) ||
                      (PyUnicode_Check(name) && PyUnicode_GET_LENGTH(name) == 0) ||
                      (PyBytes_Check(name) && PyBytes_GET_SIZE(name) == 0);
        int rc = unbound ? PySys_Audit("socket.bind", "OO", self, name) : 0;
        Py_DECREF(name);
        if (rc < 0) {
            return NULL;
        }
    }
    return g_sock_original[SOCK_LISTEN](self, args);
}

/* The method-table entry of `function` when it is the builtin `name` of module `module_name`
 * with the calling convention `flags` (METH_COEXIST aside), else NULL: what every seal checks
 * before it puts its own function in an entry. */
static PyMethodDef *
builtin_def(PyObject *function, const char *module_name, const char *name, int flags)
{
    if (!PyCFunction_CheckExact(function)) {
        return NULL;
    }
    PyMethodDef *def = ((PyCFunctionObject *)function)->m_ml;
    PyObject *module = PyCFunction_GET_SELF(function);
    const char *actual = module != NULL && PyModule_Check(module) ? PyModule_GetName(module)
                                                                   : NULL;
    if (actual == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (def == NULL || def->ml_name == NULL || strcmp(def->ml_name, name) != 0 ||
        strcmp(actual, module_name) != 0 || (def->ml_flags & ~METH_COEXIST) != flags) {
        return NULL;
    }
    return def;
}

/* The resolvers (getaddrinfo, gethostbyname, gethostbyname_ex, gethostbyaddr) encode a str
 * host through the codec registry's "idna" codec -- Python code the function can plant (a
 * search function, the encodings package's cache) -- and getaddrinfo does it after its audit
 * event, the others before theirs: the decision would be about one name (a literal, an
 * allowed name) and the lookup about another. The core's functions hand the original an
 * ASCII str host as bytes (what the codec would make of it: no codec runs); a non-ASCII one
 * is raised first as socket.getaddrinfo (refused: names are decided in their ASCII form). */
enum { RESOLVE_GETADDRINFO, RESOLVE_BYNAME, RESOLVE_BYNAME_EX, RESOLVE_BYADDR, RESOLVERS };
static const char *const g_resolver_names[RESOLVERS] = {"getaddrinfo", "gethostbyname",
                                                        "gethostbyname_ex", "gethostbyaddr"};
static PyCFunction g_resolver_original[RESOLVERS];
static int g_resolvers_sealed;

/* The host to hand on (new reference): an ASCII str as bytes; NULL with the exception. */
static PyObject *
host_without_codec(PyObject *host)
{
    if (!PyUnicode_Check(host)) {
        return Py_NewRef(host);
    }
    Py_ssize_t n;
    const char *text = PyUnicode_AsUTF8AndSize(host, &n);
    if (text == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((unsigned char)text[i] >= 0x80) {
            if (PySys_Audit("socket.getaddrinfo", "OOiii", host, Py_None, 0, 0, 0) < 0) {
                return NULL;
            }
            return Py_NewRef(host); /* (allowed: learn, alert) */
        }
    }
    return PyBytes_FromStringAndSize(text, n);
}

/* getaddrinfo's keywords as the original gets them (new reference, or NULL with the
 * exception): a copy with exact str keys (their text: the argument parser matches keys by
 * text), and a `host` given by keyword handed on as a positional one is (red team 107: a
 * keyword host went to the original as given, through the codec registry's "idna"). */
static PyObject *
resolver_keywords(PyObject *kwargs)
{
    PyObject *copy = PyDict_New();
    PyObject *key, *value;
    Py_ssize_t at = 0;
    while (copy != NULL && PyDict_Next(kwargs, &at, &key, &value)) {
        if (!PyUnicode_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "keywords must be strings");
            Py_CLEAR(copy);
            break;
        }
        PyObject *text = PyUnicode_FromObject(key); /* (an exact str: a subclass's text copied) */
        int is_host = text != NULL && PyUnicode_CompareWithASCIIString(text, "host") == 0;
        PyObject *given = is_host ? host_without_codec(value) : Py_XNewRef(value);
        if (text == NULL || given == NULL || PyDict_SetItem(copy, text, given) < 0) {
            Py_CLEAR(copy);
        }
        Py_XDECREF(text);
        Py_XDECREF(given);
    }
    return copy;
}

static PyObject *
resolver_sealed(int which, PyObject *module, PyObject *args, PyObject *kwargs)
{
    PyObject *keywords = NULL;
    if (which == RESOLVE_GETADDRINFO && kwargs != NULL && PyDict_Check(kwargs) &&
        PyDict_GET_SIZE(kwargs) > 0) {
        keywords = resolver_keywords(kwargs);
        if (keywords == NULL) {
            return NULL;
        }
    }
    PyObject *result = NULL;
    if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 1) {
        result = which == RESOLVE_GETADDRINFO
                     ? ((PyCFunctionWithKeywords)(void (*)(void))g_resolver_original[which])(
                           module, args, keywords)
                     : g_resolver_original[which](module, args);
        Py_XDECREF(keywords);
        return result;
    }
    PyObject *host = host_without_codec(PyTuple_GET_ITEM(args, 0));
    if (host == NULL) {
        Py_XDECREF(keywords);
        return NULL;
    }
    PyObject *call = PyTuple_GetSlice(args, 0, PyTuple_GET_SIZE(args));
    if (call == NULL) {
        Py_DECREF(host);
        Py_XDECREF(keywords);
        return NULL;
    }
    Py_SETREF(((PyTupleObject *)call)->ob_item[0], host);
    result = which == RESOLVE_GETADDRINFO
                 ? ((PyCFunctionWithKeywords)(void (*)(void))g_resolver_original[which])(
                       module, call, keywords)
                 : g_resolver_original[which](module, call);
    Py_DECREF(call);
    Py_XDECREF(keywords);
    return result;
}

static PyObject *
getaddrinfo_sealed(PyObject *module, PyObject *args, PyObject *kwargs)
{
    return resolver_sealed(RESOLVE_GETADDRINFO, module, args, kwargs);
}

static PyObject *
gethostbyname_sealed(PyObject *module, PyObject *args)
{
    return resolver_sealed(RESOLVE_BYNAME, module, args, NULL);
}

static PyObject *
gethostbyname_ex_sealed(PyObject *module, PyObject *args)
{
    return resolver_sealed(RESOLVE_BYNAME_EX, module, args, NULL);
}

static PyObject *
gethostbyaddr_sealed(PyObject *module, PyObject *args)
{
    return resolver_sealed(RESOLVE_BYADDR, module, args, NULL);
}

static PyObject *
core_seal_resolvers(PyObject *self, PyObject *args)
{
    (void)self;
    static const PyCFunction sealed[RESOLVERS] = {
        (PyCFunction)(void (*)(void))getaddrinfo_sealed, gethostbyname_sealed,
        gethostbyname_ex_sealed, gethostbyaddr_sealed};
    static const int flags[RESOLVERS] = {METH_VARARGS | METH_KEYWORDS, METH_VARARGS,
                                         METH_VARARGS, METH_VARARGS};
    if (g_resolvers_sealed || g_installed) {
        return PyBool_FromLong(g_resolvers_sealed); /* once, and only while installing */
    }
    if (!announce_core_call("seal_resolvers")) {
        return NULL;
    }
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) != RESOLVERS) {
        PyErr_SetString(PyExc_TypeError, "seal_resolvers(getaddrinfo, gethostbyname,"
                                         " gethostbyname_ex, gethostbyaddr)");
        return NULL;
    }
    PyMethodDef *defs[RESOLVERS];
    for (int i = 0; i < RESOLVERS; i++) {
        defs[i] = builtin_def(PyTuple_GET_ITEM(args, i), "_socket", g_resolver_names[i], flags[i]);
        if (defs[i] == NULL) {
            Py_RETURN_FALSE; /* not the functions (or the conventions) this core knows */
        }
    }
    for (int i = 0; i < RESOLVERS; i++) {
        g_resolver_original[i] = defs[i]->ml_meth;
        defs[i]->ml_meth = sealed[i];
    }
    g_resolvers_sealed = 1;
    Py_RETURN_TRUE;
}

/* time.clock_settime / clock_settime_ns set a system clock (CLOCK_REALTIME has no namespace:
 * the host's) with no event: raised as time.clock_settime (clock id) first. */
static PyCFunction g_clock_original[2];
static int g_clock_sealed;

static PyObject *
clock_sealed(int which, PyObject *module, PyObject *args)
{
    PyObject *clock = PyTuple_Check(args) && PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0)
                                                                         : Py_None;
    if (PySys_Audit("time.clock_settime", "O", clock) < 0) {
        return NULL;
    }
    return g_clock_original[which](module, args);
}

static PyObject *
clock_settime_sealed(PyObject *module, PyObject *args)
{
    return clock_sealed(0, module, args);
}

static PyObject *
clock_settime_ns_sealed(PyObject *module, PyObject *args)
{
    return clock_sealed(1, module, args);
}

static PyObject *
core_seal_clock(PyObject *self, PyObject *args)
{
    (void)self;
    static const char *names[2] = {"clock_settime", "clock_settime_ns"};
    static const PyCFunction sealed[2] = {clock_settime_sealed, clock_settime_ns_sealed};
    if (g_clock_sealed || g_installed) {
        return PyBool_FromLong(g_clock_sealed); /* once, and only while installing */
    }
    if (!announce_core_call("seal_clock")) {
        return NULL;
    }
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) != 2) {
        PyErr_SetString(PyExc_TypeError, "seal_clock(clock_settime, clock_settime_ns)");
        return NULL;
    }
    PyMethodDef *defs[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        PyObject *function = PyTuple_GET_ITEM(args, i);
        if (function == Py_None) {
            continue; /* not on this platform */
        }
        defs[i] = builtin_def(function, "time", names[i], METH_VARARGS);
        if (defs[i] == NULL) {
            Py_RETURN_FALSE;
        }
    }
    for (int i = 0; i < 2; i++) {
        if (defs[i] != NULL) {
            g_clock_original[i] = defs[i]->ml_meth;
            defs[i]->ml_meth = sealed[i];
        }
    }
    g_clock_sealed = 1;
    Py_RETURN_TRUE;
}

/* OpenSSL reads files by name with no audit event: SSLContext.load_verify_locations (cafile,
 * capath), load_cert_chain (certfile, keyfile) and _ssl._test_decode_cert hand the path to
 * OpenSSL (SSL_CTX_load_verify_locations, SSL_CTX_use_certificate_chain_file, BIO_new_file),
 * which opens it itself: red team 94 read a PEM file no rule names back with
 * get_ca_certs(binary_form=True), and told an existing file from a missing one.
 * (load_dh_params opens its file with _Py_fopen_obj: an open event.) The core's functions
 * take each path argument's text once (os.fspath for a path object: exact str or bytes),
 * raise "ssl.load_file" (text, "file" or "folder" -- a capath folder OpenSSL reads files of
 * later) and hand the original that very text. `_ssl` loads when the function imports it
 * (6 ms: not at install), so the import system's extension loader (_imp.create_dynamic and
 * _imp.exec_dynamic, through which every extension is made, a direct call too) is sealed
 * instead: the `_ssl` module it makes (its definition's name) has its functions sealed as
 * soon as it exists, its _SSLContext methods as soon as its types do -- its exec runs where no
 * code of the function's runs (ext_exec_guarded) -- before any code of the function's gets
 * the module. The PyMethodDef entries replaced are the extension's own
 * static ones, shared by every module and type made from it. */
enum { SSL_DECODE_CERT, SSL_VERIFY_LOCATIONS, SSL_CERT_CHAIN, SSL_SEALS };
static PyCFunction g_ssl_original[SSL_SEALS];
typedef PyObject *(*fast_keywords_fn)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *);
typedef PyObject *(*fast_fn)(PyObject *, PyObject *const *, Py_ssize_t);
static PyCFunction g_ext_create_original, g_ext_exec_original, g_ext_exec_builtin_original;
static int g_ext_sealed;

/* `arg`'s text for a C library that opens it by name (OpenSSL, glibc's gettext): an exact str
 * or bytes as is, a path object's os.fspath (its __fspath__ runs once, here); a new
 * reference, or NULL with an exception. */
static PyObject *
lib_path_text(PyObject *arg)
{
    if (PyUnicode_CheckExact(arg) || PyBytes_CheckExact(arg)) {
        Py_INCREF(arg);
        return arg;
    }
    PyObject *text = PyOS_FSPath(arg);
    if (text != NULL && !PyUnicode_CheckExact(text) && !PyBytes_CheckExact(text)) {
        Py_DECREF(text);
        PyErr_SetString(PyExc_TypeError,
                        "lambda-sandbox: a path for a C library must be a str, bytes or "
                        "os.PathLike whose __fspath__ returns one");
        return NULL;
    }
    return text;
}

/* `text` (an exact str or bytes) made absolute against the working folder now: OpenSSL keeps a
 * capath and opens files in it at each handshake, relative to the working folder then (red
 * team 95 decided "../../x" from inside allowed/ and changed folders before the handshake), and
 * load_cert_chain's password callback runs between its two reads. A new reference, or NULL. */
static PyObject *
lib_path_absolute(PyObject *text)
{
    int bytes = PyBytes_CheckExact(text);
    Py_ssize_t n = bytes ? PyBytes_GET_SIZE(text) : PyUnicode_GET_LENGTH(text);
    if (bytes && (size_t)n != strlen(PyBytes_AS_STRING(text))) {
        PyErr_SetString(PyExc_ValueError, "embedded null byte");
        return NULL;
    }
    if (n > 0 &&
        (bytes ? PyBytes_AS_STRING(text)[0] == '/' : PyUnicode_READ_CHAR(text, 0) == '/')) {
        Py_INCREF(text);
        return text;
    }
    char folder[OPEN_PATH_MAX + 1];
    if (getcwd(folder, sizeof(folder)) == NULL || folder[0] != '/') {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (bytes) {
        return PyBytes_FromFormat("%s/%s", folder, PyBytes_AS_STRING(text));
    }
    PyObject *named = PyUnicode_DecodeFSDefault(folder);
    PyObject *joined = named != NULL ? PyUnicode_FromFormat("%U/%U", named, text) : NULL;
    Py_XDECREF(named);
    return joined;
}

/* `text` (absolute, n bytes) that realpath cannot resolve as its longest existing prefix's real
 * path followed by the names not there yet, into `out` (OPEN_PATH_MAX + 1 bytes): 0, or -1
 * when it cannot be put so. The names after the prefix must be plain (no empty, "." or ".."
 * component) and the first of them absent (ENOENT from lstat: not a dangling link, nor a
 * file's child, nor a folder this process cannot search). */
static int
lib_path_missing(const char *text, size_t n, char *out)
{
    char prefix[OPEN_PATH_MAX + 1];
    char real[PATH_MAX + 1];
    memcpy(prefix, text, n);
    prefix[n] = '\0';
    size_t cut = n;
    for (;;) {
        while (cut > 0 && prefix[cut] != '/') {
            cut--;
        }
        /* prefix[0, cut) is a shorter name ("/" when cut is 0); text + cut the names after it */
        if (cut == 0) {
            real[0] = '/';
            real[1] = '\0';
        }
        else {
            prefix[cut] = '\0';
            if (realpath(prefix, real) == NULL) {
                cut--;
                continue;
            }
        }
        break;
    }
    const char *rest = text + cut; /* "/name/..." */
    size_t rest_n = n - cut;
    size_t real_n = strcmp(real, "/") == 0 ? 0 : strlen(real);
    if (rest_n < 2 || !plain_components(rest, rest_n) || real_n + rest_n > OPEN_PATH_MAX) {
        return -1;
    }
    memcpy(out, real, real_n);
    memcpy(out + real_n, rest, rest_n);
    out[real_n + rest_n] = '\0';
    const char *end = memchr(rest + 1, '/', rest_n - 1);
    size_t first_n = real_n + (end != NULL ? (size_t)(end - rest) : rest_n);
    char first[OPEN_PATH_MAX + 1];
    memcpy(first, out, first_n);
    first[first_n] = '\0';
    struct stat st;
    if (lstat(first, &st) == 0 || errno != ENOENT) {
        return -1;
    }
    return 0;
}

/* `absolute` (an exact str or bytes, absolute) as its real path: no link, ".", ".." or "//"
 * left in it (realpath: /proc's magic links too). OpenSSL keeps a capath's text and follows it
 * again at each handshake: a ".." after a link the function repoints later, or after
 * /proc/self/cwd, would climb from elsewhere then (red team 96). A name that cannot be
 * resolved (not there yet) becomes its longest existing prefix's real path followed by the
 * names not there yet (lib_path_missing): kept as text, "/dev/stdin/certs" led OpenSSL through
 * whatever descriptor 0 was at each handshake, repointed by an os.dup2 that raises no event
 * (red team 98). Names through /proc or /dev/fd that cannot be resolved are refused, as is any
 * name lib_path_missing cannot put so. A new reference, or NULL. */
static PyObject *
lib_path_real(PyObject *absolute)
{
    int bytes = PyBytes_CheckExact(absolute);
    PyObject *encoded = bytes ? Py_NewRef(absolute) : PyUnicode_EncodeFSDefault(absolute);
    if (encoded == NULL) {
        return NULL;
    }
    const char *text = PyBytes_AS_STRING(encoded);
    size_t n = (size_t)PyBytes_GET_SIZE(encoded);
    if (n != strlen(text) || n > OPEN_PATH_MAX) {
        Py_DECREF(encoded);
        PyErr_SetString(PyExc_ValueError, "lambda-sandbox: a path OpenSSL cannot be given");
        return NULL;
    }
    char real[PATH_MAX + 1];
    if (realpath(text, real) != NULL) {
        Py_DECREF(encoded);
        return bytes ? PyBytes_FromString(real) : PyUnicode_DecodeFSDefault(real);
    }
    char missing[OPEN_PATH_MAX + 1];
    int plain = strncmp(text, "/proc/", 6) != 0 && strcmp(text, "/proc") != 0 &&
                strncmp(text, "/dev/fd", 7) != 0 && lib_path_missing(text, n, missing) == 0;
    Py_DECREF(encoded);
    if (!plain) {
        errno = EACCES;
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_PermissionError, absolute);
    }
    return bytes ? PyBytes_FromString(missing) : PyUnicode_DecodeFSDefault(missing);
}

/* The text of `arg` (Py_None: none), absolute, raised as ssl.load_file; a "folder" (capath) is
 * a list OpenSSL splits on ":" (red team 95 hid a folder behind an allowed one): each part is
 * raised, and OpenSSL gets the parts decided, joined again. A new reference to the text (or
 * to None), or NULL with an exception (a refusal). */
/* bytes split at ':' and joined with ':' in C: no method of bytes' class is looked up (a
 * class's dict was once reachable and changeable by the function's code: red team 113). */
static PyObject *
bytes_split_colon(PyObject *given)
{
    PyObject *parts = PyList_New(0);
    const char *p = PyBytes_AS_STRING(given), *end = p + PyBytes_GET_SIZE(given);
    while (parts != NULL) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        PyObject *part = PyBytes_FromStringAndSize(p, (colon != NULL ? colon : end) - p);
        if (part == NULL || PyList_Append(parts, part) < 0) {
            Py_XDECREF(part);
            Py_CLEAR(parts);
            break;
        }
        Py_DECREF(part);
        if (colon == NULL) {
            break;
        }
        p = colon + 1;
    }
    return parts;
}

static PyObject *
bytes_join_colon(PyObject *parts)
{
    Py_ssize_t n = PyList_GET_SIZE(parts), size = n > 0 ? n - 1 : 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_CheckExact(PyList_GET_ITEM(parts, i))) {
            PyErr_SetString(PyExc_TypeError, "lambda-sandbox: a path part is not bytes");
            return NULL;
        }
        size += PyBytes_GET_SIZE(PyList_GET_ITEM(parts, i));
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        return NULL;
    }
    char *at = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *part = PyList_GET_ITEM(parts, i);
        if (i > 0) {
            *at++ = ':';
        }
        memcpy(at, PyBytes_AS_STRING(part), (size_t)PyBytes_GET_SIZE(part));
        at += PyBytes_GET_SIZE(part);
    }
    return out;
}

static PyObject *
ssl_path_decided(PyObject *arg, const char *kind)
{
    if (arg == Py_None) {
        Py_INCREF(arg);
        return arg;
    }
    PyObject *given = lib_path_text(arg);
    if (given == NULL) {
        return NULL;
    }
    int bytes = PyBytes_CheckExact(given);
    int folder = strcmp(kind, "folder") == 0;
    PyObject *separator = bytes ? PyBytes_FromString(":") : PyUnicode_FromString(":");
    PyObject *parts = NULL;
    if (separator != NULL && folder) {
        parts = bytes ? bytes_split_colon(given) : PyUnicode_Split(given, separator, -1);
    }
    else if (separator != NULL) {
        parts = PyList_New(0);
        if (parts != NULL && PyList_Append(parts, given) < 0) {
            Py_CLEAR(parts);
        }
    }
    Py_DECREF(given);
    PyObject *decided = parts != NULL && PyList_CheckExact(parts) ? PyList_New(0) : NULL;
    for (Py_ssize_t i = 0; decided != NULL && i < PyList_GET_SIZE(parts); i++) {
        PyObject *part = PyList_GET_ITEM(parts, i);
        if (folder && PyObject_Length(part) == 0) {
            continue; /* (OpenSSL skips an empty part) */
        }
        PyObject *absolute = lib_path_absolute(part);
        PyObject *real = absolute != NULL ? lib_path_real(absolute) : NULL;
        if (real != NULL && folder &&
            (bytes ? memchr(PyBytes_AS_STRING(real), ':', (size_t)PyBytes_GET_SIZE(real)) != NULL
                   : PyUnicode_FindChar(real, ':', 0, PyUnicode_GET_LENGTH(real), 1) != -1)) {
            /* a ":" the working folder or a link brought in: OpenSSL would split the folder
             * decided into others no one decided (red team 97) */
            errno = EACCES;
            PyErr_SetFromErrnoWithFilenameObject(PyExc_PermissionError, real);
            Py_CLEAR(real);
        }
        if (real == NULL || PySys_Audit("ssl.load_file", "Os", real, kind) < 0 ||
            PyList_Append(decided, real) < 0) {
            Py_CLEAR(decided);
        }
        Py_XDECREF(real);
        Py_XDECREF(absolute);
    }
    PyObject *text = NULL;
    if (decided != NULL) {
        text = bytes ? bytes_join_colon(decided) : PyUnicode_Join(separator, decided);
    }
    Py_XDECREF(decided);
    Py_XDECREF(parts);
    Py_XDECREF(separator);
    return text;
}

static PyObject *
ssl_decode_cert_sealed(PyObject *module, PyObject *path)
{
    PyObject *text = ssl_path_decided(path, "file");
    if (text == NULL) {
        return NULL;
    }
    PyObject *result = g_ssl_original[SSL_DECODE_CERT](module, text);
    Py_DECREF(text);
    return result;
}

/* A METH_FASTCALL | METH_KEYWORDS method whose arguments `names` (positions 0 and 1) are paths
 * of the kinds `kinds`: each decided, the original called with the texts decided. */
static PyObject *
ssl_paths_sealed(int which, const char *const names[2], const char *const kinds[2],
                 PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *copy[8];
    if (nargs < 0 || nkw < 0 || nargs + nkw > 8) {
        PyErr_SetString(PyExc_TypeError, "lambda-sandbox: too many arguments");
        return NULL;
    }
    int owned[8] = {0};
    int failed = 0;
    for (Py_ssize_t i = 0; i < nargs + nkw; i++) {
        copy[i] = args[i];
        int slot = -1;
        if (i < nargs) {
            slot = i < 2 ? (int)i : -1;
        }
        else {
            /* (a keyword's name must be an exact str: the original matches a str subclass's
             * text too, which red team 95 passed as **{K("cafile"): ...}) */
            PyObject *key = PyTuple_GET_ITEM(kwnames, i - nargs);
            if (!PyUnicode_CheckExact(key)) {
                if (!failed) {
                    PyErr_SetString(PyExc_TypeError, "lambda-sandbox: keywords must be strings");
                }
                failed = 1;
                continue;
            }
            for (int k = 0; k < 2; k++) {
                if (PyUnicode_CompareWithASCIIString(key, names[k]) == 0) {
                    slot = k;
                }
            }
        }
        if (slot >= 0 && !failed) {
            PyObject *text = ssl_path_decided(args[i], kinds[slot]);
            if (text == NULL) {
                failed = 1;
                continue;
            }
            copy[i] = text;
            owned[i] = 1;
        }
    }
    PyObject *result = NULL;
    if (!failed) {
        result = ((fast_keywords_fn)(void (*)(void))g_ssl_original[which])(
            self, copy, nargs, kwnames);
    }
    for (Py_ssize_t i = 0; i < nargs + nkw; i++) {
        if (owned[i]) {
            Py_DECREF(copy[i]);
        }
    }
    return result;
}

static PyObject *
ssl_verify_locations_sealed(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    static const char *const names[2] = {"cafile", "capath"};
    static const char *const kinds[2] = {"file", "folder"};
    return ssl_paths_sealed(SSL_VERIFY_LOCATIONS, names, kinds, self, args, nargs, kwnames);
}

static PyObject *
ssl_cert_chain_sealed(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[2] = {"certfile", "keyfile"};
    static const char *const kinds[2] = {"file", "file"};
    return ssl_paths_sealed(SSL_CERT_CHAIN, names, kinds, self, args, nargs, kwnames);
}

/* Replace `def`'s function by `sealed` when it is the expected one (its name and calling
 * convention), keeping the original once: a second module made from the same extension has
 * the same entries (replaced already). 0 when not replaced. */
static int
seal_entry(PyMethodDef *def, const char *name, int flags, PyCFunction *original,
           PyCFunction sealed)
{
    if (def == NULL || def->ml_name == NULL || strcmp(def->ml_name, name) != 0 ||
        (def->ml_flags & ~METH_COEXIST) != flags) {
        return 0;
    }
    if (def->ml_meth == sealed) {
        return 1;
    }
    if (*original != NULL && *original != def->ml_meth) {
        return 0; /* (another extension's entry of that name: not the one kept) */
    }
    *original = def->ml_meth;
    def->ml_meth = sealed;
    return 1;
}

static int
ssl_seal_def(PyMethodDef *def, const char *name, int flags, int which, PyCFunction sealed)
{
    return seal_entry(def, name, flags, &g_ssl_original[which], sealed);
}

/* Whether `module` is a module made from the definition named `name` (not its __name__,
 * which anyone can set). */
static int
module_of_definition(PyObject *module, const char *name)
{
    if (!PyModule_Check(module)) {
        return 0;
    }
    PyModuleDef *definition = PyModule_GetDef(module);
    if (definition == NULL || definition->m_name == NULL ||
        strcmp(definition->m_name, name) != 0) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

static int
ssl_module(PyObject *module)
{
    return module_of_definition(module, "_ssl");
}

/* Seal what `module` -- the `_ssl` module the extension loader just made or ran -- has now.
 * 0 when it is an `_ssl` module with a file reader that cannot be sealed: another copy of the
 * extension (its own static entries, not the ones kept), or one this core does not know. */
static int
ssl_seal_module(PyObject *module)
{
    if (!ssl_module(module)) {
        return 1;
    }
    int sealed_all = 1;
    PyObject *space = PyModule_GetDict(module); /* (borrowed) */
    PyObject *decode = space != NULL ? PyDict_GetItemString(space, "_test_decode_cert") : NULL;
    if (decode != NULL && PyCFunction_CheckExact(decode)) {
        sealed_all &= ssl_seal_def(((PyCFunctionObject *)decode)->m_ml, "_test_decode_cert",
                                   METH_O, SSL_DECODE_CERT, (PyCFunction)ssl_decode_cert_sealed);
    }
    PyObject *context = space != NULL ? PyDict_GetItemString(space, "_SSLContext") : NULL;
    if (context == NULL || !PyType_Check(context) ||
        ((PyTypeObject *)context)->tp_dict == NULL) {
        return sealed_all; /* (not made yet: the module's exec makes its types) */
    }
    static const char *const methods[2] = {"load_verify_locations", "load_cert_chain"};
    static const int which[2] = {SSL_VERIFY_LOCATIONS, SSL_CERT_CHAIN};
    const PyCFunction sealed[2] = {(PyCFunction)(void (*)(void))ssl_verify_locations_sealed,
                                   (PyCFunction)(void (*)(void))ssl_cert_chain_sealed};
    for (int i = 0; i < 2; i++) {
        PyObject *descriptor =
            PyDict_GetItemString(((PyTypeObject *)context)->tp_dict, methods[i]);
        if (descriptor != NULL && Py_IS_TYPE(descriptor, &PyMethodDescr_Type)) {
            sealed_all &= ssl_seal_def(((PyMethodDescrObject *)descriptor)->d_method,
                                       methods[i], METH_FASTCALL | METH_KEYWORDS, which[i],
                                       sealed[i]);
        }
    }
    return sealed_all;
}

/* An `_ssl` module whose file readers cannot be sealed is not handed out (red team 99: a second
 * copy of the extension, found under an allowed root, would keep its own entries). */
static int
ssl_refuse_unsealed(PyObject *module)
{
    if (ssl_seal_module(module)) {
        return 0;
    }
    PyErr_SetString(PyExc_ImportError,
                    "lambda-sandbox: an _ssl extension whose file readers cannot be sealed");
    return -1;
}

/* Files CPython's own C code has a C library open by name, with no audit event of CPython's
 * (red team 99), besides OpenSSL's:
 * - glibc's gettext (_locale.bindtextdomain, textdomain, dgettext, dcgettext,
 *   bind_textdomain_codeset; re-exported by `locale`): glibc keeps a domain's folder as text and
 *   opens <folder>/<locale>/LC_<category>/<domain>.mo at each lookup of a new domain, locale or
 *   category. A folder bound is made absolute and resolved (as OpenSSL's paths: what glibc
 *   keeps cannot be repointed later), raised as locale.bindtextdomain (folder) -- a read of
 *   everything under it -- and glibc gets that very text; a domain is an exact str with no
 *   "/" ("../../x" climbs out of any folder), else refused.
 *   A locale name with a "/" (setlocale) is refused too: see setlocale_sealed.
 * - sys.activate_stack_trampoline (3.12+): CPython itself makes and appends to
 *   /tmp/perf-<pid>.map ("perf"), or /tmp/jit-<pid>.dump ("perf_jit", 3.14), each line naming
 *   code that ran: raised as sys.perf_map_file (that name) first, a write; any other backend
 *   refused (one a later CPython adds would write a file no decision saw).
 * The functions' own static PyMethodDef entries are replaced (a module made again from its
 * definition, `_imp.create_builtin`, has the same ones). */
enum {
    LIB_TEXTDOMAIN,
    LIB_DGETTEXT,
    LIB_DCGETTEXT,
    LIB_BINDTEXTDOMAIN,
    LIB_BIND_CODESET,
    LIB_SETLOCALE,
    LIB_TRAMPOLINE,
    LIB_SEALS
};
static PyCFunction g_lib_original[LIB_SEALS];
static int g_lib_sealed;
static int ssl_preseal(PyObject *made); /* (below, with the extension loader's seal) */
static int shm_seal_module(PyObject *made);
static int sem_refuse_unsealed(PyObject *module);

/* Whether `domain` (a gettext domain; None: the current one) may be handed to glibc: 0, or -1
 * with an exception (not an exact str; a "/" in it). */
static int
gettext_domain_checked(PyObject *domain)
{
    if (domain == Py_None) {
        return 0;
    }
    if (!PyUnicode_CheckExact(domain)) {
        PyErr_SetString(PyExc_TypeError, "lambda-sandbox: a gettext domain must be a str");
        return -1;
    }
    Py_ssize_t found = PyUnicode_FindChar(domain, '/', 0, PyUnicode_GET_LENGTH(domain), 1);
    if (found == -2) {
        return -1;
    }
    if (found >= 0) {
        errno = EACCES;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_PermissionError, domain);
        return -1;
    }
    return 0;
}

static PyObject *
textdomain_sealed(PyObject *module, PyObject *domain)
{
    if (gettext_domain_checked(domain) < 0) {
        return NULL;
    }
    return g_lib_original[LIB_TEXTDOMAIN](module, domain);
}

/* dgettext, dcgettext and bind_textdomain_codeset: the domain first (positional only). */
static PyObject *
domain_first_sealed(int which, PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs >= 1 && gettext_domain_checked(args[0]) < 0) {
        return NULL;
    }
    return ((fast_fn)(void (*)(void))g_lib_original[which])(module, args, nargs);
}

static PyObject *
dgettext_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return domain_first_sealed(LIB_DGETTEXT, module, args, nargs);
}

static PyObject *
dcgettext_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return domain_first_sealed(LIB_DCGETTEXT, module, args, nargs);
}

static PyObject *
bind_codeset_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return domain_first_sealed(LIB_BIND_CODESET, module, args, nargs);
}

static PyObject *
bindtextdomain_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs >= 1 && gettext_domain_checked(args[0]) < 0) {
        return NULL;
    }
    if (nargs != 2 || args[1] == Py_None) { /* (None: asks which folder is bound) */
        return ((fast_fn)(void (*)(void))g_lib_original[LIB_BINDTEXTDOMAIN])(module, args, nargs);
    }
    PyObject *text = lib_path_text(args[1]);
    PyObject *absolute = text != NULL ? lib_path_absolute(text) : NULL;
    PyObject *real = absolute != NULL ? lib_path_real(absolute) : NULL;
    Py_XDECREF(absolute);
    Py_XDECREF(text);
    if (real == NULL || PySys_Audit("locale.bindtextdomain", "O", real) < 0) {
        Py_XDECREF(real);
        return NULL;
    }
    PyObject *decided[2] = {args[0], real};
    PyObject *result =
        ((fast_fn)(void (*)(void))g_lib_original[LIB_BINDTEXTDOMAIN])(module, decided, 2);
    Py_DECREF(real);
    return result;
}

/* setlocale(category, locale=None): a locale name with a "/" is a path to locale data glibc
 * reads, and the name's parts are what gettext puts between a catalog folder and
 * LC_<category>: glibc accepts "/_t../x" and rejoins it, once it drops the territory, into a
 * name that climbs ("/../x"); only its codeset check refused it (red team 101). Refused here. */
static PyObject *
setlocale_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs >= 2 && args[1] != Py_None) {
        if (!PyUnicode_CheckExact(args[1])) {
            PyErr_SetString(PyExc_TypeError, "lambda-sandbox: a locale name must be a str");
            return NULL;
        }
        Py_ssize_t found =
            PyUnicode_FindChar(args[1], '/', 0, PyUnicode_GET_LENGTH(args[1]), 1);
        if (found == -2) {
            return NULL;
        }
        if (found >= 0) {
            errno = EACCES;
            return PyErr_SetFromErrnoWithFilenameObject(PyExc_PermissionError, args[1]);
        }
    }
    return ((fast_fn)(void (*)(void))g_lib_original[LIB_SETLOCALE])(module, args, nargs);
}

static PyObject *
trampoline_sealed(PyObject *module, PyObject *backend)
{
    const char *format = NULL;
    if (PyUnicode_CheckExact(backend)) {
        if (PyUnicode_CompareWithASCIIString(backend, "perf") == 0) {
            format = "/tmp/perf-%ld.map";
        }
        else if (PyUnicode_CompareWithASCIIString(backend, "perf_jit") == 0) {
            format = "/tmp/jit-%ld.dump";
        }
    }
    if (format == NULL) {
        PyErr_Format(PyExc_ValueError, "lambda-sandbox: a stack trampoline backend it knows "
                                       "(perf, perf_jit), not %R", backend);
        return NULL;
    }
    char path[64];
    snprintf(path, sizeof(path), format, (long)getpid());
    if (PySys_Audit("sys.perf_map_file", "s", path) < 0) {
        return NULL;
    }
    return g_lib_original[LIB_TRAMPOLINE](module, backend);
}

static const char *const g_lib_names[LIB_SEALS] = {
    "textdomain",     "dgettext",  "dcgettext", "bindtextdomain", "bind_textdomain_codeset",
    "setlocale",      "activate_stack_trampoline"};
static const int g_lib_flags[LIB_SEALS] = {METH_O,        METH_FASTCALL, METH_FASTCALL,
                                           METH_FASTCALL, METH_FASTCALL, METH_FASTCALL,
                                           METH_O};
static PyCFunction g_builtin_create_original;

static PyCFunction
lib_sealed(int which)
{
    switch (which) {
    case LIB_TEXTDOMAIN:
        return textdomain_sealed;
    case LIB_DGETTEXT:
        return (PyCFunction)(void (*)(void))dgettext_sealed;
    case LIB_DCGETTEXT:
        return (PyCFunction)(void (*)(void))dcgettext_sealed;
    case LIB_BINDTEXTDOMAIN:
        return (PyCFunction)(void (*)(void))bindtextdomain_sealed;
    case LIB_BIND_CODESET:
        return (PyCFunction)(void (*)(void))bind_codeset_sealed;
    case LIB_SETLOCALE:
        return (PyCFunction)(void (*)(void))setlocale_sealed;
    default:
        return trampoline_sealed;
    }
}

/* Seal the gettext functions `module` has, when it is a `_locale` module (by its definition's
 * name). 0 when it is one with a function that cannot be sealed (a convention this core does
 * not know): not handed out. */
static int
locale_seal_module(PyObject *module)
{
    if (!module_of_definition(module, "_locale")) {
        return 1;
    }
    PyObject *space = PyModule_GetDict(module); /* (borrowed) */
    int sealed_all = 1;
    for (int i = 0; i < LIB_TRAMPOLINE; i++) {
        PyObject *function = space != NULL ? PyDict_GetItemString(space, g_lib_names[i]) : NULL;
        if (function == NULL) {
            continue; /* (a build with no gettext: nothing opens catalogs) */
        }
        sealed_all &= PyCFunction_CheckExact(function) &&
                      seal_entry(((PyCFunctionObject *)function)->m_ml, g_lib_names[i],
                                 g_lib_flags[i], &g_lib_original[i], lib_sealed(i));
    }
    return sealed_all;
}

/* _imp.create_builtin(spec), sealed: the original, then a `_locale` module sealed (a module
 * made again from the built-in's definition has its static entries, sealed already). */
static PyObject *
builtin_create_sealed(PyObject *module, PyObject *spec)
{
    PyObject *made = g_builtin_create_original(module, spec);
    if (made != NULL && (ssl_refuse_unsealed(made) < 0 || ssl_preseal(made) < 0 ||
                         shm_seal_module(made) < 0 || sem_refuse_unsealed(made) < 0)) {
        Py_CLEAR(made); /* (a build with _ssl, _posixshmem or _multiprocessing built in) */
    }
    if (made != NULL && !locale_seal_module(made)) {
        Py_CLEAR(made);
        PyErr_SetString(PyExc_ImportError,
                        "lambda-sandbox: a _locale module whose gettext functions cannot be "
                        "sealed");
    }
    return made;
}

/* seal_library_files(_imp.create_builtin, _locale or None, activate_stack_trampoline or None):
 * before install, once. `_locale` loads when the function imports `locale` (not at install),
 * so the built-in module maker is sealed: the `_locale` it makes has its gettext functions
 * sealed before any code of the function's gets it; one loaded before install is sealed now.
 * True when sealed. */
static PyObject *
core_seal_library_files(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *create, *loaded, *trampoline;
    if (!PyArg_ParseTuple(args, "OOO:seal_library_files", &create, &loaded, &trampoline)) {
        return NULL;
    }
    if (g_lib_sealed || g_installed) {
        return PyBool_FromLong(g_lib_sealed); /* once, and only while installing */
    }
    if (!announce_core_call("seal_library_files")) {
        return NULL;
    }
    PyMethodDef *create_def = builtin_def(create, "_imp", "create_builtin", METH_O);
    PyMethodDef *trampoline_def =
        trampoline != Py_None ? builtin_def(trampoline, "sys", g_lib_names[LIB_TRAMPOLINE],
                                            METH_O)
                              : NULL;
    if (create_def == NULL || (trampoline != Py_None && trampoline_def == NULL) ||
        (loaded != Py_None && !locale_seal_module(loaded))) {
        Py_RETURN_FALSE; /* not the functions (or the conventions) this core knows */
    }
    g_builtin_create_original = create_def->ml_meth;
    create_def->ml_meth = builtin_create_sealed;
    if (trampoline_def != NULL) {
        g_lib_original[LIB_TRAMPOLINE] = trampoline_def->ml_meth;
        trampoline_def->ml_meth = trampoline_sealed;
    }
    g_lib_sealed = 1;
    Py_RETURN_TRUE;
}

/* The `_SSLContext` methods sealed before any exec of an `_ssl` module can make the type where
 * code of the function's reaches it. Sealing after the exec left a window: red team 103 had
 * the exec wait (a lock acquired through `sys.modules['_socket']`'s attribute lookup, made of
 * C callables: no frame, no event) while another thread took the new type (its module's dict,
 * or `object.__subclasses__()`) and read with it, or hid it from the seal. So at the first
 * `_ssl` module made, a private module is made from the same definition and runs only its
 * first exec slot -- the one that makes the types (3.10-3.14), nothing else: no import, no
 * attribute of anyone's -- where no code of the function's runs (code_window: frame guard,
 * collector, signal handlers), its `_SSLContext`'s entries (the extension's static ones,
 * shared by every type made from it) are sealed, and it is kept, harmless (ssl_preseal_keep).
 * 0, or -1 with
 * ImportError: an `_ssl` whose readers cannot be sealed first is not handed out. */
/* The first Py_mod_exec slot of `definition` (NULL: none, a module its init makes whole). */
static int (*first_exec_slot(PyModuleDef *definition))(PyObject *)
{
    for (PyModuleDef_Slot *slot = definition != NULL ? definition->m_slots : NULL;
         slot != NULL && slot->slot != 0; slot++) {
        if (slot->slot == Py_mod_exec) {
            return (int (*)(PyObject *))slot->value;
        }
    }
    return NULL;
}

/* A private module named `name`, made from a copy of `definition` with only its `first_exec`
 * slot (`copy` and `slots`: alive as long as any module made from them), that exec run, and
 * `then` given the module and whether it ran -- all inside the code window: no code of the
 * function's runs (the collector and the signal handlers wait) until `then` has sealed what
 * the exec made. `then`'s answer; 0 where the spec could not be made. */
static int
private_first_exec(PyModuleDef *definition, int (*first_exec)(PyObject *), const char *name,
                   PyModuleDef *copy, PyModuleDef_Slot *slots,
                   int (*then)(PyObject *private, int ran))
{
    int answer = 0;
    PyObject *spec = PyModule_New(name);
    PyObject *text = spec != NULL ? PyUnicode_FromString(name) : NULL;
    if (text != NULL && PyDict_SetItemString(PyModule_GetDict(spec), "name", text) == 0) {
        int window = !t_attach_armed;
        if (window) {
            code_window(1, 0);
        }
        /* (a copy of the definition with that one slot: PyModule_ExecDef makes the module's
         * state first, as for any module) */
        memcpy(copy, definition, sizeof(PyModuleDef));
        slots[0].slot = Py_mod_exec;
        slots[0].value = (void *)first_exec;
        slots[1].slot = 0;
        slots[1].value = NULL;
        copy->m_slots = slots;
        PyObject *private = PyModule_FromDefAndSpec(copy, spec);
        int ran = private != NULL && PyModule_ExecDef(private, copy) == 0;
        PyErr_Clear();
        answer = then(private, ran);
        PyErr_Clear();
        Py_XDECREF(private);
        if (window) {
            code_window(0, 0);
        }
    }
    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(spec);
    return answer;
}

static PyModuleDef g_ssl_preseal_def;            /* the definition, with only its first slot */
static PyModuleDef_Slot g_ssl_preseal_slots[2]; /* (alive as long as any module made from it) */
static PyObject *g_ssl_preseal_kept;            /* the private modules, kept (see below) */

/* What each type of the core's private `_ssl` module makes in place of an instance: nothing.
 * (A NULL tp_new is not enough: the `__new__` entry PyType_Ready put in the type's dict calls
 * tp_new without checking it -- red team 105 called `T.__new__(T)`, and a subclass's
 * `super().__new__`, and crashed the process. This refusal is what every way in reaches:
 * calling the type, its `__new__`, a subclass's, `object.__new__`'s safety check.) */
static PyObject *
ssl_kept_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwargs))
{
    PyErr_Format(PyExc_TypeError,
                 "cannot create '%.100s' instances: a type of lambda-sandbox's own half-made "
                 "_ssl module",
                 type->tp_name);
    return NULL;
}

/* The private module, made harmless and kept for good: only its first exec slot ran, so its
 * state is half made, and an instance of one of its types, or a call of one of its functions,
 * would read that state's NULL fields (red team 104 took it from gc.garbage, gc.DEBUG_SAVEALL
 * set, and crashed the process). Its types make no instance (ssl_kept_new; they stay listed in
 * object.__subclasses__()), its dict is emptied (its functions go), and a reference the core
 * keeps means it is never garbage. */
static void
ssl_preseal_keep(PyObject *private)
{
    PyObject *space = PyModule_GetDict(private); /* (borrowed) */
    PyObject *key, *value;
    Py_ssize_t at = 0;
    while (space != NULL && PyDict_Next(space, &at, &key, &value)) {
        if (PyType_Check(value) && (((PyTypeObject *)value)->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
            ((PyTypeObject *)value)->tp_new = ssl_kept_new;
            PyType_Modified((PyTypeObject *)value);
        }
    }
    /* (and every type made for it that its dict does not name: object's subclasses whose
     * module is this one -- the slot makes its types on object) */
    PyObject *subclasses = PyObject_CallMethod((PyObject *)&PyBaseObject_Type, "__subclasses__", NULL);
    for (Py_ssize_t i = 0; subclasses != NULL && PyList_Check(subclasses) &&
                           i < PyList_GET_SIZE(subclasses);
         i++) {
        PyTypeObject *kind = (PyTypeObject *)PyList_GET_ITEM(subclasses, i);
        if ((kind->tp_flags & Py_TPFLAGS_HEAPTYPE) &&
            ((PyHeapTypeObject *)kind)->ht_module == private) {
            kind->tp_new = ssl_kept_new;
            PyType_Modified(kind);
        }
    }
    Py_XDECREF(subclasses);
    PyErr_Clear();
    if (space != NULL) {
        PyDict_Clear(space);
    }
    if (g_ssl_preseal_kept == NULL) {
        g_ssl_preseal_kept = PyList_New(0);
    }
    if (g_ssl_preseal_kept == NULL || PyList_Append(g_ssl_preseal_kept, private) < 0) {
        PyErr_Clear();
        Py_INCREF(private); /* (leaked rather than garbage) */
    }
}

/* (the private module's exec ran: its `_SSLContext`'s entries sealed, and it kept) */
static int
ssl_preseal_then(PyObject *private, int ran)
{
    int sealed = ran && ssl_seal_module(private) && g_ssl_original[SSL_VERIFY_LOCATIONS] != NULL &&
                 g_ssl_original[SSL_CERT_CHAIN] != NULL;
    PyErr_Clear();
    if (private != NULL) {
        ssl_preseal_keep(private);
    }
    return sealed;
}

static int
ssl_preseal(PyObject *made)
{
    if (!ssl_module(made) ||
        (g_ssl_original[SSL_VERIFY_LOCATIONS] != NULL && g_ssl_original[SSL_CERT_CHAIN] != NULL)) {
        return 0;
    }
    PyModuleDef *definition = PyModule_GetDef(made);
    int (*first_exec)(PyObject *) = first_exec_slot(definition);
    int sealed = first_exec != NULL &&
                 private_first_exec(definition, first_exec, "_ssl", &g_ssl_preseal_def,
                                    g_ssl_preseal_slots, ssl_preseal_then);
    PyErr_Clear();
    if (!sealed) {
        PyErr_SetString(PyExc_ImportError,
                        "lambda-sandbox: an _ssl extension whose file readers cannot be sealed "
                        "before its types exist");
        return -1;
    }
    return 0;
}

/* `_posixshmem` (multiprocessing.shared_memory): shm_open and shm_unlink have glibc make, open
 * and remove /dev/shm/<name> with no audit event of CPython's (red team 130 wrote, read and
 * removed files there no rule allowed, on both cores, once the module's import was learned).
 * Sealed as the module is made (its static method table: every function object made from it,
 * before or after, calls through it): each raises the event os.open or os.remove would, on the
 * file glibc names, before it runs. */
enum { SHM_OPEN, SHM_UNLINK };
typedef PyObject *(*shm_fastcall)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *);
static Py_ssize_t argument_at(Py_ssize_t nargs, PyObject *kwnames, int position, const char *name);
static PyCFunction g_shm_original[2]; /* (cast to its shape at the call) */
static PyMethodDef *g_shm_def[2];
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

/* The file glibc's shm_open and shm_unlink use for `path`: "/dev/shm/", `prefix` ("sem." for
 * sem_open and sem_unlink) and the name without its leading slashes, read as the original
 * reads it (UTF-8, up to a NUL). Py_None where the original refuses the argument before any
 * call of glibc's (not a str: its TypeError); NULL
 * with an exception. A name glibc refuses (empty, or with a '/' after the leading ones) is
 * refused here with its error, EINVAL, never passed on undecided: a wrong guess about what
 * glibc refuses must cost an error, not a file (red team 131 made and removed files with
 * 254- and 255-byte names that an extra length test here had let through undecided; the
 * kernel bounds the length). glibc before 2.34 uses /dev/shm only where it is a tmpfs (else
 * the first tmpfs in /proc/mounts): refused there, not guessed. */
static PyObject *
shm_file(PyObject *path, const char *prefix)
{
    if (path == NULL || !PyUnicode_Check(path)) {
        Py_RETURN_NONE;
    }
    const char *name = PyUnicode_AsUTF8AndSize(path, NULL);
    if (name == NULL) {
        return NULL;
    }
    while (*name == '/') {
        name++;
    }
    if (*name == '\0' || strchr(name, '/') != NULL) {
        errno = EINVAL;
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
    }
    int major = 0, minor = 0;
    if (sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor) != 2 ||
        major < 2 || (major == 2 && minor < 34)) {
        struct statfs shm;
        if (statfs("/dev/shm", &shm) != 0 ||
            ((unsigned long)shm.f_type != TMPFS_MAGIC && (unsigned long)shm.f_type != RAMFS_MAGIC)) {
            errno = EPERM;
            PyErr_SetString(PyExc_PermissionError,
                            "lambda-sandbox: shm_open where /dev/shm is not a tmpfs (glibc would "
                            "pick another folder, which the sandbox does not guess)");
            return NULL;
        }
    }
    return PyUnicode_FromFormat("/dev/shm/%s%s", prefix, name);
}

/* The decision of one call, its arguments in `given` as the original will read them (the
 * flags replaced by an exact int read once): 0 when allowed (or the original's own error is
 * to come, for an argument that is not a str), -1 with the exception. */
static int
shm_decide(int which, PyObject **given, Py_ssize_t nargs, PyObject *kwnames)
{
    int flags = 0;
    if (which == SHM_OPEN) {
        /* (flags read once, as an exact int the original then reads: an __index__ of the
         * function's cannot answer one way here and another there) */
        Py_ssize_t at = argument_at(nargs, kwnames, 1, "flags");
        if (at >= 0 && !PyLong_CheckExact(given[at])) {
            PyObject *exact = PyNumber_Index(given[at]);
            if (exact == NULL) {
                return -1;
            }
            Py_SETREF(given[at], exact);
        }
        if (at >= 0) {
            long value = PyLong_AsLong(given[at]);
            if (value == -1 && PyErr_Occurred()) {
                return -1;
            }
            if (value > INT_MAX || value < INT_MIN) {
                PyErr_SetString(PyExc_OverflowError, "shm_open: flags do not fit a C int");
                return -1;
            }
            flags = (int)value;
        }
    }
    Py_ssize_t path_at = argument_at(nargs, kwnames, 0, "path");
    PyObject *file = shm_file(path_at >= 0 ? given[path_at] : NULL, "");
    if (file == NULL) {
        return -1;
    }
    int raised = 0;
    if (file != Py_None) {
        raised = which == SHM_OPEN
                     ? PySys_Audit("open", "OOi", file, Py_None, flags | O_NOFOLLOW | O_CLOEXEC)
                     : PySys_Audit("os.remove", "Oi", file, -1);
    }
    Py_DECREF(file);
    return raised < 0 ? -1 : 0;
}

/* The parameters' names, by position, and the refusal of a call the seal cannot read: never
 * passed on to the original's parser (red team 133's note: a keyword matched by text here and
 * by identity there could name two values). */
static const char *const g_shm_parameters[3] = {"path", "flags", "mode"};

static PyObject *
shm_call_refused(int which)
{
    PyErr_Format(PyExc_TypeError, "%s: at most %d arguments, keywords %s, each once",
                 which == SHM_OPEN ? "shm_open" : "shm_unlink", which == SHM_OPEN ? 3 : 1,
                 which == SHM_OPEN ? "path, flags and mode" : "path");
    return NULL;
}

/* A METH_FASTCALL | METH_KEYWORDS original (3.10-3.12). */
static PyObject *
shm_sealed(int which, PyObject *module, PyObject *const *args, Py_ssize_t nargs,
           PyObject *kwnames)
{
    shm_fastcall original = (shm_fastcall)(void (*)(void))g_shm_original[which];
    const Py_ssize_t most = which == SHM_OPEN ? 3 : 1;
    const Py_ssize_t keywords = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    const Py_ssize_t count = nargs + keywords;
    /* (more arguments than it takes, or a keyword that is not an exact str name of a
     * parameter not given by position, each once: refused) */
    int ok = count <= most;
    for (Py_ssize_t k = 0; ok && k < keywords; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        ok = 0;
        for (Py_ssize_t at = 0; PyUnicode_CheckExact(key) && at < most; at++) {
            if (PyUnicode_CompareWithASCIIString(key, g_shm_parameters[at]) == 0) {
                ok = at >= nargs &&
                     argument_at(nargs, kwnames, -1, g_shm_parameters[at]) == nargs + k;
                break;
            }
        }
    }
    if (!ok) {
        return shm_call_refused(which);
    }
    PyObject *given[3];
    for (Py_ssize_t i = 0; i < count; i++) {
        given[i] = Py_NewRef(args[i]);
    }
    PyObject *result = NULL;
    if (shm_decide(which, given, nargs, kwnames) == 0) {
        result = original(module, given, nargs, kwnames);
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_DECREF(given[i]);
    }
    return result;
}

/* A call in the METH_VARARGS | METH_KEYWORDS shape (a tuple and a dict, as a tp_new's too)
 * made positional: each argument in `given[k]` (new references; NULL where not given) by its
 * parameter's place among the `count` `names`, keywords only as exact str names, each once.
 * 0, or -1 (nothing kept, no exception set) where the call cannot be read so -- the caller's
 * own refusal then: never passed on to the original's parser (red team 133: a keyword
 * matched by text here and by identity there could name two values). */
static int
call_made_positional(PyObject *args, PyObject *kwargs, const char *const *names,
                     Py_ssize_t count, PyObject **given)
{
    for (Py_ssize_t k = 0; k < count; k++) {
        given[k] = NULL;
    }
    if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) > count ||
        (kwargs != NULL && !PyDict_Check(kwargs))) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++) {
        given[i] = Py_NewRef(PyTuple_GET_ITEM(args, i));
    }
    PyObject *key, *value;
    Py_ssize_t position = 0;
    while (kwargs != NULL && PyDict_Next(kwargs, &position, &key, &value)) {
        Py_ssize_t at = -1;
        for (Py_ssize_t k = 0; PyUnicode_CheckExact(key) && k < count; k++) {
            if (PyUnicode_CompareWithASCIIString(key, names[k]) == 0) {
                at = k;
            }
        }
        if (at < 0 || given[at] != NULL) {
            for (Py_ssize_t k = 0; k < count; k++) {
                Py_CLEAR(given[k]);
            }
            return -1;
        }
        given[at] = Py_NewRef(value);
    }
    return 0;
}

/* A tuple of the first `n` of `given` (what the original is then given alone). */
static PyObject *
positional_tuple(PyObject *const *given, Py_ssize_t n)
{
    PyObject *call = PyTuple_New(n);
    for (Py_ssize_t i = 0; call != NULL && i < n; i++) {
        PyTuple_SET_ITEM(call, i, Py_NewRef(given[i]));
    }
    return call;
}

/* A METH_VARARGS | METH_KEYWORDS original (3.13+, built on the limited API): the call made
 * positional here (call_made_positional) and the original given that tuple alone, so that
 * what it parses is what was decided. */
static PyObject *
shm_sealed_varargs(int which, PyObject *module, PyObject *args, PyObject *kwargs)
{
    typedef PyObject *(*varargs_fn)(PyObject *, PyObject *, PyObject *);
    varargs_fn original = (varargs_fn)(void (*)(void))g_shm_original[which];
    const Py_ssize_t most = which == SHM_OPEN ? 3 : 1, least = which == SHM_OPEN ? 2 : 1;
    PyObject *given[3];
    if (call_made_positional(args, kwargs, g_shm_parameters, most, given) < 0) {
        return shm_call_refused(which);
    }
    PyObject *result = NULL, *call = NULL;
    Py_ssize_t n = 0;
    while (n < most && given[n] != NULL) {
        n++;
    }
    for (Py_ssize_t k = n; k < most; k++) {
        if (given[k] != NULL || k < least) {
            PyErr_Format(PyExc_TypeError, "%s: missing required argument '%s'",
                         which == SHM_OPEN ? "shm_open" : "shm_unlink",
                         g_shm_parameters[k < least ? k : n]);
            goto done;
        }
    }
    if (shm_decide(which, given, n, NULL) < 0) {
        goto done;
    }
    call = positional_tuple(given, n);
    if (call != NULL) {
        result = original(module, call, NULL);
    }
done:
    Py_XDECREF(call);
    for (Py_ssize_t i = 0; i < most; i++) {
        Py_XDECREF(given[i]);
    }
    return result;
}

static PyObject *
shm_open_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return shm_sealed(SHM_OPEN, module, args, nargs, kwnames);
}

static PyObject *
shm_unlink_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return shm_sealed(SHM_UNLINK, module, args, nargs, kwnames);
}

static PyObject *
shm_open_sealed_varargs(PyObject *module, PyObject *args, PyObject *kwargs)
{
    return shm_sealed_varargs(SHM_OPEN, module, args, kwargs);
}

static PyObject *
shm_unlink_sealed_varargs(PyObject *module, PyObject *args, PyObject *kwargs)
{
    return shm_sealed_varargs(SHM_UNLINK, module, args, kwargs);
}

/* `made`'s shm_open and shm_unlink sealed when it is the `_posixshmem` module: 0 (or not that
 * module), -1 with ImportError where a function has a shape the seal does not know (the
 * module is then not made: fail closed). */
static int
shm_seal_module(PyObject *made)
{
    if (made == NULL || !PyModule_Check(made)) {
        return 0;
    }
    /* (known by its definition's name, not the module's: a spec can name a module anything;
     * red team 132 loaded the file again as `multiprocessing._posixshmem`, which the import
     * decision refused) */
    PyModuleDef *definition = PyModule_GetDef(made);
    if (definition == NULL || definition->m_name == NULL ||
        strcmp(definition->m_name, "_posixshmem") != 0) {
        PyErr_Clear();
        return 0;
    }
    static const char *const names[2] = {"shm_open", "shm_unlink"};
    static const PyCFunction sealed[2][2] = {
        {(PyCFunction)(void (*)(void))shm_open_sealed, (PyCFunction)(void (*)(void))shm_unlink_sealed},
        {(PyCFunction)(void (*)(void))shm_open_sealed_varargs,
         (PyCFunction)(void (*)(void))shm_unlink_sealed_varargs}};
    for (PyMethodDef *def = definition->m_methods; def != NULL && def->ml_name != NULL; def++) {
        for (int which = 0; which < 2; which++) {
            if (strcmp(def->ml_name, names[which]) != 0) {
                continue;
            }
            if (def->ml_meth == sealed[0][which] || def->ml_meth == sealed[1][which]) {
                continue; /* (sealed already: the same table, made again) */
            }
            const int shape = def->ml_flags & ~METH_COEXIST;
            const int kind = shape == (METH_FASTCALL | METH_KEYWORDS)   ? 0
                             : shape == (METH_VARARGS | METH_KEYWORDS) ? 1
                                                                       : -1;
            if (kind < 0 || (g_shm_def[which] != NULL && g_shm_def[which] != def)) {
                PyErr_SetString(PyExc_ImportError,
                                "lambda-sandbox: a _posixshmem whose shm_open or shm_unlink "
                                "cannot be sealed");
                return -1;
            }
            g_shm_original[which] = def->ml_meth;
            g_shm_def[which] = def;
            def->ml_meth = sealed[kind][which];
        }
    }
    return 0; /* (a build without either function: nothing to seal) */
}

/* Which of _posixshmem's shm_open and shm_unlink are sealed (for the tests). */
static PyObject *
core_shm_sealed(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return Py_BuildValue("(OO)", g_shm_def[SHM_OPEN] != NULL ? Py_True : Py_False,
                         g_shm_def[SHM_UNLINK] != NULL ? Py_True : Py_False);
}

/* `_multiprocessing` (multiprocessing's locks, semaphores and queues): glibc's sem_open and
 * sem_unlink make, open and remove /dev/shm/sem.<name> with no audit event of CPython's (red
 * team 133), and SemLock._rebuild(handle, kind, maxvalue, None) takes `handle` as the address
 * of a semaphore: a SemLock over any memory, whose _get_value reads and whose release and
 * acquire add to and take from the word there -- this core's own state included. Sealed as
 * the module is made and run (the SemLock type is made by its exec):
 * - SemLock(kind, value, maxvalue, name, unlink) raises `open` on the file it makes (O_CREAT |
 *   O_EXCL), then `os.remove` on it where `unlink` is true (or not an int: decided as true),
 *   and the original is given the five arguments by position, those that were decided;
 * - SemLock._rebuild(...) with a name raises `open` on the file it opens (the handle is not
 *   read then); with None, `ctypes.cdata` on the handle: memory at an address, as ctypes'
 *   from_address (`native memory write`), never learned from multiprocessing's own use (on
 *   Linux it always passes the name);
 * - sem_unlink(name) raises `os.remove` on the file.
 * The type's tp_new is replaced in the type (a static type up to 3.11; 3.12+ makes a heap type
 * at each exec, each sealed before the exec returns: no code of the function's runs in that
 * exec, see ext_exec_guarded), and subclasses made before the seal are sealed with it; the
 * _rebuild and sem_unlink entries are the extension's static PyMethodDef entries. */
enum { SEM_REBUILD, SEM_UNLINK, SEM_ENTRIES };
static PyCFunction g_sem_original[SEM_ENTRIES];
static newfunc g_sem_new_original;
static const char *const g_sem_parameters[5] = {"kind", "value", "maxvalue", "name", "unlink"};

/* `name`'s file decided as `open` with `flags` (none where -1), then (where `remove`) as
 * `os.remove`: 0 or -1 with the exception. A name that is not a str is left to the original
 * (its TypeError). */
static int
sem_decide(PyObject *name, int flags, int remove)
{
    PyObject *file = shm_file(name, "sem.");
    if (file == NULL) {
        return -1;
    }
    int raised = 0;
    if (file != Py_None) {
        if (flags != -1) {
            raised = PySys_Audit("open", "OOi", file, Py_None, flags | O_NOFOLLOW | O_CLOEXEC);
        }
        if (raised >= 0 && remove) {
            raised = PySys_Audit("os.remove", "Oi", file, -1);
        }
    }
    Py_DECREF(file);
    return raised < 0 ? -1 : 0;
}

/* SemLock's tp_new, sealed: the call made positional here -- keywords only as exact str names
 * of the parameters, each once, as shm_sealed_varargs -- decided, and the original given that
 * tuple alone. */
static PyObject *
sem_new_sealed(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *given[5];
    if (call_made_positional(args, kwargs, g_sem_parameters, 5, given) < 0) {
        PyErr_SetString(PyExc_TypeError, "SemLock: at most 5 arguments, keywords kind, value, "
                                         "maxvalue, name and unlink, each once");
        return NULL;
    }
    PyObject *result = NULL, *call = NULL;
    for (int k = 0; k < 5; k++) {
        if (given[k] == NULL) {
            PyErr_Format(PyExc_TypeError, "SemLock: missing required argument '%s'",
                         g_sem_parameters[k]);
            goto done;
        }
    }
    /* (an int's truth is read from its digits, as the original reads it; anything else may
     * answer differently each time it is asked: decided as an unlink) */
    int remove = 1;
    if (PyLong_Check(given[4])) {
        int overflow = 0;
        long value = PyLong_AsLongAndOverflow(given[4], &overflow);
        if (value == -1 && PyErr_Occurred()) {
            goto done;
        }
        remove = value != 0 || overflow != 0;
    }
    if (sem_decide(given[3], O_RDWR | O_CREAT | O_EXCL, remove) < 0) {
        goto done;
    }
    call = positional_tuple(given, 5);
    if (call != NULL) {
        result = g_sem_new_original(type, call, NULL);
    }
done:
    Py_XDECREF(call);
    for (int i = 0; i < 5; i++) {
        Py_XDECREF(given[i]);
    }
    return result;
}

/* SemLock._rebuild(handle, kind, maxvalue, name), sealed (METH_FASTCALL | METH_CLASS). */
static PyObject *
sem_rebuild_sealed(PyObject *type, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs == 4) {
        int raised = args[3] == Py_None ? PySys_Audit("ctypes.cdata", "O", args[0])
                                        : sem_decide(args[3], O_RDWR, 0);
        if (raised < 0) {
            return NULL;
        }
    }
    /* (any other count: the original's TypeError, before it reads a handle or a name) */
    return ((fast_fn)(void (*)(void))g_sem_original[SEM_REBUILD])(type, args, nargs);
}

/* sem_unlink(name), sealed (METH_O). */
static PyObject *
sem_unlink_sealed(PyObject *module, PyObject *name)
{
    if (sem_decide(name, -1, 1) < 0) {
        return NULL;
    }
    return g_sem_original[SEM_UNLINK](module, name);
}

/* `type` and the subclasses made from it before the seal (which copied its tp_new) given the
 * sealed tp_new: 0, -1 with an exception where a tp_new is not the one kept. */
static int
sem_seal_new(PyTypeObject *type)
{
    if (type->tp_new != sem_new_sealed) {
        if (g_sem_new_original != NULL && type->tp_new != g_sem_new_original) {
            return 0; /* (its own __new__, written in Python: it calls SemLock's) */
        }
        g_sem_new_original = type->tp_new;
        type->tp_new = sem_new_sealed;
    }
    PyObject *subclasses = PyObject_CallMethod((PyObject *)type, "__subclasses__", NULL);
    if (subclasses == NULL) {
        return -1;
    }
    int failed = !PyList_Check(subclasses);
    for (Py_ssize_t i = 0; !failed && i < PyList_GET_SIZE(subclasses); i++) {
        PyObject *sub = PyList_GET_ITEM(subclasses, i);
        failed = !PyType_Check(sub) || sem_seal_new((PyTypeObject *)sub) < 0;
    }
    Py_DECREF(subclasses);
    return failed ? -1 : 0;
}

/* `type`, a SemLock type, sealed: its `_rebuild` entry (the extension's static table, shared by
 * every type made from it) and its tp_new, with its subclasses'. 1, or 0 where it is not the
 * shape this core knows, or another copy of the extension's. */
static int
sem_seal_type(PyTypeObject *type)
{
    int sealed = 0;
    for (PyMethodDef *def = type->tp_methods; def != NULL && def->ml_name != NULL; def++) {
        if (strcmp(def->ml_name, "_rebuild") == 0) {
            sealed = seal_entry(def, "_rebuild", METH_FASTCALL | METH_CLASS,
                                &g_sem_original[SEM_REBUILD],
                                (PyCFunction)(void (*)(void))sem_rebuild_sealed);
        }
    }
    if (!sealed || (type->tp_new != sem_new_sealed && g_sem_new_original != NULL &&
                    type->tp_new != g_sem_new_original)) {
        return 0;
    }
    if (sem_seal_new(type) < 0) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* Every SemLock type made so far, sealed: object's subclasses whose tp_new is the original
 * (the type is made on object). Found by that, not by a name in the module's dict: an exec
 * the function made fail -- a key of its own in the dict, whose comparison raises, stopped
 * the exec after the type was made and hid it from a lookup by name (red team 135) -- still
 * made the type, which object.__subclasses__() hands out. 1, or 0 where one cannot be. */
static int
sem_seal_made_types(void)
{
    if (g_sem_new_original == NULL) {
        return 1; /* (none made from an original this core knows: see sem_preseal) */
    }
    PyObject *subclasses =
        PyObject_CallMethod((PyObject *)&PyBaseObject_Type, "__subclasses__", NULL);
    if (subclasses == NULL || !PyList_Check(subclasses)) {
        Py_XDECREF(subclasses);
        PyErr_Clear();
        return 0;
    }
    int sealed_all = 1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(subclasses); i++) {
        PyTypeObject *kind = (PyTypeObject *)PyList_GET_ITEM(subclasses, i);
        if (PyType_Check(kind) && kind->tp_new == g_sem_new_original) {
            sealed_all &= sem_seal_type(kind);
        }
    }
    Py_DECREF(subclasses);
    return sealed_all;
}

/* `_multiprocessing`'s sem_unlink (the definition's static table), sealed: 1, or 0. */
static int
sem_seal_functions(PyObject *module)
{
    int sealed_all = 1;
    PyModuleDef *definition = PyModule_GetDef(module);
    for (PyMethodDef *def = definition != NULL ? definition->m_methods : NULL;
         def != NULL && def->ml_name != NULL; def++) {
        if (strcmp(def->ml_name, "sem_unlink") == 0) {
            sealed_all &= seal_entry(def, "sem_unlink", METH_O, &g_sem_original[SEM_UNLINK],
                                     (PyCFunction)sem_unlink_sealed);
        }
    }
    return sealed_all;
}

/* The first SemLock type, found where no code of the function's can reach it, and sealed --
 * with it the static `_rebuild` entry, and the original tp_new every later type is known by.
 * A module with an exec slot makes its types there: that exec is run first on a private
 * module made from the same definition, in the code window (as ssl_preseal); a module made
 * whole by its init function (`made`, just made, not handed out yet) has it in its dict. 1,
 * or 0 where no SemLock type could be found and sealed. */
static PyModuleDef g_sem_preseal_def;
static PyModuleDef_Slot g_sem_preseal_slots[2];

/* (the private module's exec ran: its SemLock type sealed, inside the window -- a signal
 * handler or a finalizer of the function's run at the window's end would otherwise find the
 * unsealed type among object's subclasses) */
static int
sem_preseal_then(PyObject *private, int ran)
{
    PyObject *semlock = ran ? PyDict_GetItemString(PyModule_GetDict(private), "SemLock") : NULL;
    return semlock != NULL && PyType_Check(semlock) && sem_seal_type((PyTypeObject *)semlock);
}

static int
sem_preseal(PyObject *made)
{
    if (g_sem_new_original != NULL && g_sem_original[SEM_REBUILD] != NULL) {
        return 1;
    }
    PyModuleDef *definition = PyModule_GetDef(made);
    int (*first_exec)(PyObject *) = first_exec_slot(definition);
    int sealed;
    if (first_exec == NULL) {
        /* (made whole by its init, not handed out yet: its own dict) */
        PyObject *semlock = PyDict_GetItemString(PyModule_GetDict(made), "SemLock");
        sealed = semlock != NULL && PyType_Check(semlock) && sem_seal_type((PyTypeObject *)semlock);
    }
    else {
        sealed = private_first_exec(definition, first_exec, "_multiprocessing",
                                    &g_sem_preseal_def, g_sem_preseal_slots, sem_preseal_then);
    }
    PyErr_Clear();
    return sealed && g_sem_new_original != NULL && g_sem_original[SEM_REBUILD] != NULL;
}

/* What a `_multiprocessing` module the extension loader just made (`made`) or ran has made,
 * sealed; 0 when it is that module and something could not be: an ImportError set (the
 * module is then not handed out). */
static int
sem_refuse_unsealed(PyObject *module)
{
    if (!module_of_definition(module, "_multiprocessing")) {
        return 0;
    }
    if (sem_seal_functions(module) && sem_preseal(module) && sem_seal_made_types()) {
        return 0;
    }
    PyErr_SetString(PyExc_ImportError,
                    "lambda-sandbox: a _multiprocessing extension whose semaphores cannot be "
                    "sealed");
    return -1;
}

/* Which of _multiprocessing's are sealed: (SemLock, SemLock._rebuild, sem_unlink) (for the
 * tests). */
static PyObject *
core_sem_sealed(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return Py_BuildValue("(OOO)", g_sem_new_original != NULL ? Py_True : Py_False,
                         g_sem_original[SEM_REBUILD] != NULL ? Py_True : Py_False,
                         g_sem_original[SEM_UNLINK] != NULL ? Py_True : Py_False);
}

/* _imp.create_dynamic(spec, file=None) and _imp.exec_dynamic(module), sealed: the original,
 * then the `_ssl` module sealed (see above). */
static PyObject *
ext_create_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *made = ((fast_fn)(void (*)(void))g_ext_create_original)(module, args, nargs);
    if (made != NULL && (ssl_refuse_unsealed(made) < 0 || ssl_preseal(made) < 0 ||
                         shm_seal_module(made) < 0 || sem_refuse_unsealed(made) < 0)) {
        Py_CLEAR(made);
    }
    return made;
}

/* An extension module's exec (`exec`: the original _imp.exec_dynamic or _imp.exec_builtin) of
 * `target`, then what the module has sealed -- whether exec succeeded or not: a failed exec
 * leaves the types it made. An `_ssl` module's exec runs in a window where no code of the
 * function's runs (code_window: the frame guard refuses its frames, the collector and signal
 * handlers wait): it makes _SSLContext, then imports _socket's C API through the calling
 * frame's __import__, which the function can set -- its code ran there with the type's
 * methods not sealed yet (red team 102), as it could from a finalizer or a gc callback. */
/* Whether `module`'s dict holds only what the import system and the module's definition put
 * there before its exec: exact str keys, each a dunder name or one of the definition's
 * functions. The exec inserts its types and constants into that dict: a key of another type
 * is compared with them by its own __eq__, and a value the exec replaces is dropped, running
 * its finalizer -- code of the function's, run inside the exec, where the module's types are
 * made but not sealed yet. The code window refuses Python frames there, not C callables: red
 * team 137 made a key's __eq__ a functools.partial over map/methodcaller calls, which called
 * the new SemLock type (3.12+: a heap type each exec) before the seal. A module whose exec
 * will not run again (its state made already) passes. */
static int
extension_dict_untouched(PyObject *module)
{
    PyModuleDef *definition = PyModule_GetDef(module);
    PyObject *space = PyModule_GetDict(module); /* (borrowed) */
    if (definition == NULL || space == NULL) {
        PyErr_Clear();
        return 0;
    }
    if (definition->m_size > 0 && PyModule_GetState(module) != NULL) {
        return 1;
    }
    PyObject *key, *value;
    Py_ssize_t at = 0;
    while (PyDict_Next(space, &at, &key, &value)) {
        Py_ssize_t n = 0;
        const char *text = PyUnicode_CheckExact(key) ? PyUnicode_AsUTF8AndSize(key, &n) : NULL;
        if (text == NULL) {
            PyErr_Clear();
            return 0;
        }
        if (n >= 4 && text[0] == '_' && text[1] == '_' && text[n - 2] == '_' &&
            text[n - 1] == '_') {
            continue;
        }
        int known = 0;
        for (PyMethodDef *def = definition->m_methods; !known && def != NULL && def->ml_name != NULL;
             def++) {
            known = strcmp(def->ml_name, text) == 0;
        }
        if (!known) {
            return 0;
        }
    }
    return 1;
}

static PyObject *
ext_exec_guarded(PyCFunction exec, PyObject *module, PyObject *target)
{
    int window = (ssl_module(target) || module_of_definition(target, "_multiprocessing")) &&
                 !t_attach_armed;
    if (window && !extension_dict_untouched(target)) {
        PyErr_SetString(PyExc_ImportError,
                        "lambda-sandbox: the exec of an extension module whose types are sealed "
                        "as they are made, on a module dict holding more than the import "
                        "system put there");
        return NULL;
    }
    if (window) {
        code_window(1, 0);
    }
    PyObject *result = exec(module, target);
    if (window) {
        code_window(0, 0);
    }
    if (result == NULL) {
        /* A failed exec may still have made the module's functions: sealed all the same, and
         * the exec's own error stands (the seal clears the errors it meets: red team 114 saw
         * a SystemError, "error return without exception set"). */
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        (void)ssl_seal_module(target);
        (void)sem_refuse_unsealed(target); /* (its types sealed: the exec's error stands) */
        PyErr_Clear();
        PyErr_Restore(type, value, traceback);
        return NULL;
    }
    if (ssl_refuse_unsealed(target) < 0 || sem_refuse_unsealed(target) < 0) {
        Py_CLEAR(result);
    }
    return result;
}

static PyObject *
ext_exec_sealed(PyObject *module, PyObject *target)
{
    return ext_exec_guarded(g_ext_exec_original, module, target);
}

/* _imp.exec_builtin runs any module's exec slots, an extension's too (red team 102 made
 * _SSLContext through it, with no seal): the same as exec_dynamic. */
static PyObject *
ext_exec_builtin_sealed(PyObject *module, PyObject *target)
{
    return ext_exec_guarded(g_ext_exec_builtin_original, module, target);
}

/* seal_extensions(_imp.create_dynamic, _imp.exec_dynamic, _imp.exec_builtin, _ssl module or
 * None): before install, once. True when the extension loader is sealed. */
static PyObject *
core_seal_extensions(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *create, *exec, *exec_builtin, *loaded;
    if (!PyArg_ParseTuple(args, "OOOO:seal_extensions", &create, &exec, &exec_builtin,
                          &loaded)) {
        return NULL;
    }
    if (g_ext_sealed || g_installed) {
        return PyBool_FromLong(g_ext_sealed); /* once, and only while installing */
    }
    if (!announce_core_call("seal_extensions")) {
        return NULL;
    }
    PyMethodDef *create_def = builtin_def(create, "_imp", "create_dynamic", METH_FASTCALL);
    PyMethodDef *exec_def = builtin_def(exec, "_imp", "exec_dynamic", METH_O);
    PyMethodDef *exec_builtin_def = builtin_def(exec_builtin, "_imp", "exec_builtin", METH_O);
    if (create_def == NULL || exec_def == NULL || exec_builtin_def == NULL) {
        Py_RETURN_FALSE;
    }
    g_ext_create_original = create_def->ml_meth;
    g_ext_exec_original = exec_def->ml_meth;
    g_ext_exec_builtin_original = exec_builtin_def->ml_meth;
    create_def->ml_meth = (PyCFunction)(void (*)(void))ext_create_sealed;
    exec_def->ml_meth = ext_exec_sealed;
    exec_builtin_def->ml_meth = ext_exec_builtin_sealed;
    g_ext_sealed = 1;
    if (loaded != Py_None) {
        (void)ssl_seal_module(loaded); /* (imported before the sandbox: sealed now) */
    }
    PyObject *shm = PyDict_GetItemString(PyImport_GetModuleDict(), "_posixshmem");
    if (shm != NULL && shm_seal_module(shm) < 0) {
        return NULL; /* (imported before the sandbox with a shape the seal does not know) */
    }
    PyObject *sem = PyDict_GetItemString(PyImport_GetModuleDict(), "_multiprocessing");
    if (sem != NULL && sem_refuse_unsealed(sem) < 0) {
        return NULL;
    }
    Py_RETURN_TRUE;
}

/* Whether `_ssl`'s file readers are sealed: [decode_cert, load_verify_locations,
 * load_cert_chain] (for the tests). */
static PyObject *
core_ssl_sealed(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return Py_BuildValue("(OOO)", g_ssl_original[SSL_DECODE_CERT] ? Py_True : Py_False,
                         g_ssl_original[SSL_VERIFY_LOCATIONS] ? Py_True : Py_False,
                         g_ssl_original[SSL_CERT_CHAIN] ? Py_True : Py_False);
}

/* eval, exec and compile parse a bytearray source from its live buffer, after the compile
 * event, whose argument is a copy (`_Py_SourceAsString` keeps a pointer into a bytearray,
 * where it copies any other buffer): another thread of the function's could change the
 * buffer while the hook decides the copy, and the text parsed would not be the one decided
 * (red team 49). The core's functions hand the originals an immutable copy of a bytearray
 * source (as CPython does for every other buffer): the text decided is the text parsed. Each
 * keeps the original's calling convention (METH_FASTCALL, with keywords or not: it varies by
 * version). */
/* Whether the bytes a buffer hands out can change after the audit event that showed a copy of
 * them: anything but an exact bytes, or a memoryview of one (a bytearray, a memoryview of one,
 * an array.array, an mmap; from 3.12 a bytes subclass's __buffer__ may hand out any buffer). */
static int
buffer_may_change(PyObject *object)
{
    if (PyBytes_CheckExact(object)) {
        return 0;
    }
    if (PyMemoryView_Check(object)) {
        PyObject *base = PyMemoryView_GET_BUFFER(object)->obj;
        return !(base != NULL && PyBytes_CheckExact(base));
    }
    return PyObject_CheckBuffer(object);
}

enum { COMPILER_EVAL, COMPILER_EXEC, COMPILER_COMPILE, COMPILERS };
static const char *const g_compiler_names[COMPILERS] = {"eval", "exec", "compile"};
static PyCFunction g_compiler_original[COMPILERS];
static int g_compiler_keywords[COMPILERS];
static int g_compilers_sealed;

static CORE_TLS PyObject *t_compile_tree; /* (borrowed, for the sealed compile's call) */
static CORE_TLS PyObject *t_compile_name;
/* Whether the sealed compiler call running on this thread (the innermost) parses to a syntax
 * tree only: compile() with flags an exact int holding PyCF_ONLY_AST. A parser's site (the
 * standard library's ast.parse) is decided on that, not on the flags its frame holds: the
 * function can point the name ast.parse calls at a C callable of its own that hands
 * compile() other flags (red team 136: functools.partial's __call__, shifting the arguments by
 * one, gave compile() flags 0 while ast.parse's local said "tree", and the code ran). */
static CORE_TLS int t_compile_to_tree;
static PyObject *compiler_call(int which, PyObject *module, PyObject *const *args,
                               Py_ssize_t nargs, PyObject *kwnames, Py_ssize_t at);

/* compile_to_tree(): whether the sealed compiler call running on this thread parses to a
 * syntax tree only (False: to code, or no sealed call running). */
static PyObject *
core_compile_to_tree(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(t_compile_to_tree == 1);
}

/* compile_name(tree): the file name the sealed compile running on this thread was given with
 * this very object as its source (None: another object, no sealed compile, no name given). */
static PyObject *
core_compile_name(PyObject *self, PyObject *tree)
{
    (void)self;
    if (t_compile_tree == NULL || tree != t_compile_tree || t_compile_name == NULL) {
        Py_RETURN_NONE;
    }
    return Py_NewRef(t_compile_name);
}

/* CPython's C warning code keeps the filters list it read last, and at each warning takes
 * warnings.filters again, dropping the one it kept: a list of the function's whose last
 * reference that is runs finalizers of the function's -- inside the shape parse, where a
 * warning (an invalid escape) is raised after the syntax classes were checked, they changed
 * what the parser builds or compiled code as the sandbox's own (red team 110). So the shape
 * decoder parses only where the kept list is warnings.filters (warnings_settled), and every
 * sealed compiler first has CPython take warnings.filters in the caller's own context (a
 * warning only the sandbox's "ignore" entry, put first for that call, ever matches): what
 * the drop runs, runs there, as at any warning of the caller's. */
static PyObject *g_warnings_ignore; /* ("ignore", None, Warning, None, 0) */
static PyObject *g_warnings_name, *g_filters_name; /* (interned once: every compile reads them) */

static int
warnings_names(void)
{
    if (g_filters_name == NULL) {
        g_warnings_name = PyUnicode_InternFromString("warnings");
        g_filters_name = g_warnings_name != NULL ? PyUnicode_InternFromString("filters") : NULL;
    }
    return g_filters_name != NULL;
}

static void
warnings_settle(void)
{
    if (!warnings_names()) {
        PyErr_Clear();
        return;
    }
    PyInterpreterState *interp = PyInterpreterState_Get();
    PyObject *module = PyImport_GetModule(g_warnings_name);
    PyObject *filters = module != NULL ? PyObject_GetAttr(module, g_filters_name) : NULL;
    Py_XDECREF(module);
    if (filters != NULL && PyList_CheckExact(filters) && interp->warnings.filters != filters) {
        if (g_warnings_ignore == NULL) {
            g_warnings_ignore = Py_BuildValue("(sOOOi)", "ignore", Py_None, PyExc_Warning,
                                              Py_None, 0);
        }
        if (g_warnings_ignore != NULL && PyList_Insert(filters, 0, g_warnings_ignore) == 0) {
            PyObject *text = PyUnicode_FromString("lambda-sandbox: warning filters taken");
            PyObject *where = PyUnicode_FromString("<lambda-sandbox>");
            if (text != NULL && where != NULL) {
                (void)PyErr_WarnExplicitObject(PyExc_Warning, text, where, 0, NULL, NULL);
            }
            Py_XDECREF(text);
            Py_XDECREF(where);
            PyErr_Clear();
            /* (its entry out again: wherever a finalizer of the function's moved it) */
            for (Py_ssize_t i = 0; i < PyList_GET_SIZE(filters); i++) {
                if (PyList_GET_ITEM(filters, i) == g_warnings_ignore) {
                    (void)PySequence_DelItem(filters, i);
                    break;
                }
            }
        }
    }
    Py_XDECREF(filters);
    PyErr_Clear();
}

/* type_versions(types) -> tuple of int: each type's version tag, assigned first where it has
 * none (a type's attribute set or deleted drops its tag; the next one assigned is a new
 * number): equal before a shape parse and after its walk only when nothing of the two
 * unsealed syntax classes changed in between, even a descriptor set and deleted again around
 * the check (red team 111 caught the parser's nodes with a setter that way, and emptied one
 * from another thread before the walk read it). 0 where none can be assigned: never equal to
 * a reading that tells (the caller refuses on 0). */
static PyObject *
core_type_versions(PyObject *Py_UNUSED(self), PyObject *types)
{
    if (!PyTuple_CheckExact(types)) {
        PyErr_SetString(PyExc_TypeError, "type_versions: a tuple of types is needed");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(types);
    PyObject *out = PyTuple_New(n);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        PyObject *kind = PyTuple_GET_ITEM(types, i);
        unsigned long tag = 0;
        if (PyType_Check(kind)) {
#if PY_VERSION_HEX >= 0x030C0000
            if (PyUnstable_Type_AssignVersionTag((PyTypeObject *)kind)) {
                tag = ((PyTypeObject *)kind)->tp_version_tag;
            }
#else
            /* (a lookup assigns the tag where it can: 3.10 and 3.11 have no call for it) */
            static PyObject *doc_name;
            if (doc_name == NULL) {
                doc_name = PyUnicode_InternFromString("__doc__");
            }
            if (doc_name != NULL) {
                (void)_PyType_Lookup((PyTypeObject *)kind, doc_name);
            }
            PyErr_Clear();
            if (PyType_HasFeature((PyTypeObject *)kind, Py_TPFLAGS_VALID_VERSION_TAG)) {
                tag = ((PyTypeObject *)kind)->tp_version_tag;
            }
#endif
        }
        PyObject *value = PyLong_FromUnsignedLong(tag);
        if (value == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyTuple_SET_ITEM(out, i, value);
    }
    return out;
}

/* Whether CPython's C warning code keeps `filters` as the list it read last -- a warning then
 * drops nothing -- and, from 3.14, no warnings context is set (its filters are asked before
 * the global list, whatever sys.flags.context_aware_warnings says: red team 110). */
static int
warnings_kept(PyObject *filters)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    if (interp->warnings.filters != filters) {
        return 0;
    }
#if PY_VERSION_HEX >= 0x030E0000
    PyObject *var = interp->warnings.context;
    if (var != NULL) {
        PyObject *value = NULL;
        if (!PyContextVar_CheckExact(var) || PyContextVar_Get(var, NULL, &value) < 0) {
            PyErr_Clear();
            return 0;
        }
        if (value != NULL) {
            Py_DECREF(value);
            return 0;
        }
    }
#endif
    return 1;
}

/* warnings_settled(filters) -> bool: warnings_kept, for the shape decoder's own check. */
static PyObject *
core_warnings_settled(PyObject *Py_UNUSED(self), PyObject *filters)
{
    return PyBool_FromLong(warnings_kept(filters));
}

/* Whether every key of `table` is an exact str: a lookup in it compares no object of anyone's
 * with code of its own (a planted key of a colliding hash would have its __eq__ run). */
static int
str_keyed(PyObject *table)
{
    if (!PyDict_CheckExact(table)) {
        return 0;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(table, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            return 0;
        }
    }
    return 1;
}

/* CPython's parser imports unicodedata and calls its normalize() for every non-ASCII name (an
 * import through the module's spec, an attribute read): the shape decoder checks in Python
 * that the module, its dict, normalize and its spec are the real ones -- and another thread
 * can change any of them before the parse. So the objects it found real at its load (at
 * install, before the function's code: the first call only) are compared again in C just
 * before a non-ASCII parse inside the hook (unicodedata_quiet). */
static PyObject *g_unicodedata, *g_normalize, *g_spec_type;

static PyObject *
core_expect_unicodedata(PyObject *Py_UNUSED(self), PyObject *args)
{
    PyObject *module, *normalize, *spec_type;
    if (!PyArg_ParseTuple(args, "O!OO!:expect_unicodedata", &PyModule_Type, &module, &normalize,
                          &PyType_Type, &spec_type)) {
        return NULL;
    }
    if (g_unicodedata != NULL) {
        Py_RETURN_FALSE; /* (the first call's, made at install) */
    }
    g_unicodedata = Py_NewRef(module);
    g_normalize = Py_NewRef(normalize);
    g_spec_type = Py_NewRef(spec_type);
    Py_RETURN_TRUE;
}

/* Whether a parse that normalizes names runs no code of anyone's: the module found (plain
 * lookups) is the expected one, of exact ModuleType, its dict keyed by exact str, its
 * normalize the expected function and its spec of the expected class (sealed) with a dict of
 * exact str keys holding no `_initializing` or an exact bool. */
static int
unicodedata_quiet(PyObject *modules)
{
    static PyObject *unicodedata_name, *normalize_name, *spec_name, *initializing_name;
    if (initializing_name == NULL) {
        unicodedata_name = PyUnicode_InternFromString("unicodedata");
        normalize_name = PyUnicode_InternFromString("normalize");
        spec_name = PyUnicode_InternFromString("__spec__");
        initializing_name = PyUnicode_InternFromString("_initializing");
        if (initializing_name == NULL) {
            PyErr_Clear();
            return 0;
        }
    }
    if (g_unicodedata == NULL) {
        return 0;
    }
    PyObject *module = PyDict_GetItemWithError(modules, unicodedata_name);
    if (module != g_unicodedata || !PyModule_CheckExact(module)) {
        PyErr_Clear();
        return 0;
    }
    PyObject *space = PyModule_GetDict(module);
    if (space == NULL || !str_keyed(space) ||
        PyDict_GetItemWithError(space, normalize_name) != g_normalize) {
        PyErr_Clear();
        return 0;
    }
    PyObject *spec = PyDict_GetItemWithError(space, spec_name);
    if (spec == NULL || (PyObject *)Py_TYPE(spec) != g_spec_type) {
        PyErr_Clear();
        return 0;
    }
    PyObject **slot = _PyObject_GetDictPtr(spec);
    if (slot == NULL || *slot == NULL || !str_keyed(*slot)) {
        return 0;
    }
    PyObject *initializing = PyDict_GetItemWithError(*slot, initializing_name);
    PyErr_Clear();
    return initializing == NULL || PyBool_Check(initializing);
}

/* Whether a source holds anything but ASCII (a name in it would be normalized). */
static int
source_not_ascii(PyObject *source)
{
    if (PyUnicode_Check(source)) {
        return !PyUnicode_IS_ASCII(source);
    }
    if (PyBytes_Check(source)) {
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(source);
        for (Py_ssize_t i = 0; i < PyBytes_GET_SIZE(source); i++) {
            if (p[i] >= 0x80) {
                return 1;
            }
        }
        return 0;
    }
    return 1; /* (another buffer: read as text elsewhere; checked as if not ASCII) */
}

/* Whether a warning raised now, inside a compile, runs no code of anyone's: CPython's C
 * warning code finds warnings.filters with plain lookups (sys.modules and the module's dict
 * keyed by exact str only, a plain module, a plain list), that list is the one it keeps
 * (warnings_kept: nothing is dropped), and its first entry is ("ignore", None, Warning, None,
 * 0), which matches every warning before any other entry's objects are asked. Checked in C
 * just before the shape parse: the decoder's own checks are Python, between whose lines
 * another thread can swap the list or put a filter first (the parse's warning would then run
 * its code, or a dropped list's finalizers, inside the hook, after the classes' check). */
static int
warnings_quiet(PyObject *source)
{
    if (!warnings_names()) {
        PyErr_Clear();
        return 0;
    }
    PyObject *modules = PyImport_GetModuleDict();
    if (modules == NULL || !str_keyed(modules)) {
        return 0;
    }
    if (source_not_ascii(source) && !unicodedata_quiet(modules)) {
        return 0;
    }
    PyObject *module = PyDict_GetItemWithError(modules, g_warnings_name);
    if (module == NULL || !PyModule_CheckExact(module)) {
        PyErr_Clear();
        return 0;
    }
    PyObject *space = PyModule_GetDict(module);
    if (space == NULL || !str_keyed(space)) {
        PyErr_Clear();
        return 0;
    }
    PyObject *filters = PyDict_GetItemWithError(space, g_filters_name);
    if (filters == NULL || !PyList_CheckExact(filters) || PyList_GET_SIZE(filters) == 0 ||
        !warnings_kept(filters)) {
        PyErr_Clear();
        return 0;
    }
    PyObject *first = PyList_GET_ITEM(filters, 0);
    if (!PyTuple_CheckExact(first) || PyTuple_GET_SIZE(first) != 5) {
        return 0;
    }
    PyObject *action = PyTuple_GET_ITEM(first, 0), *line = PyTuple_GET_ITEM(first, 4);
    int ignores_all = PyUnicode_CheckExact(action) &&
                      PyUnicode_CompareWithASCIIString(action, "ignore") == 0 &&
                      PyTuple_GET_ITEM(first, 1) == Py_None &&
                      PyTuple_GET_ITEM(first, 2) == PyExc_Warning &&
                      PyTuple_GET_ITEM(first, 3) == Py_None && PyLong_CheckExact(line) &&
                      PyLong_AsLong(line) == 0;
    PyErr_Clear(); /* (a line too large for a long: not 0) */
    return ignores_all;
}

/* Whether a sealed compiler's call parses its source to a syntax tree: compile() with
 * PyCF_ONLY_AST in its flags (or flags that are not a plain int: read with code of their own).
 * eval() and exec() of text parse too -- to code, but through the same warnings. */
static int
parses_to_tree(int which, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (which != COMPILER_COMPILE) {
        return 1;
    }
    PyObject *flags = argument_named(args, nargs, kwnames, 3, "flags");
    if (flags == Py_None) {
        return 0;
    }
    if (!PyLong_CheckExact(flags)) {
        return 1;
    }
    long value = PyLong_AsLong(flags);
    if (value == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 1;
    }
    return (value & PyCF_ONLY_AST) != 0;
}

static PyObject *
compiler_sealed(int which, PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    Py_ssize_t at = -1; /* where the source is: the first positional, or `source=` */
    if (nargs >= 1) {
        at = 0;
    }
    else {
        for (Py_ssize_t i = 0; i < nkw; i++) {
            if (keyword_is(PyTuple_GET_ITEM(kwnames, i), "source")) {
                at = nargs + i;
                break;
            }
        }
    }
    if (t_depth > 0 && which != COMPILER_COMPILE) {
        /* eval()/exec() with no globals of their own run in the innermost frame's: inside the
         * callback, one of the hook's (a C callable of the function's calling them there would
         * run code with a private module's globals: red team 115). The hook's own pass them. */
        PyObject *globals = argument_named(args, nargs, kwnames, 1, "globals");
        if (globals == Py_None) {
            PyErr_Format(PyExc_PermissionError,
                         "lambda-sandbox: %s() without globals refused inside the sandbox's hook",
                         g_compiler_names[which]);
            return NULL;
        }
    }
    if (t_depth > 0 && t_shape_parse != 0) {
        PyErr_Format(PyExc_PermissionError,
                     "lambda-sandbox: %s() refused inside the shape parse", g_compiler_names[which]);
        return NULL;
    }
    int parse = t_depth > 0 && at >= 0 && !PyCode_Check(args[at]) &&
                parses_to_tree(which, args, nargs, kwnames);
    if (t_depth == 0) {
        warnings_settle();
    }
    else if (parse && !warnings_quiet(args[at])) {
        /* Inside the callback, a parse of text to a syntax tree: the shape decoder's (or code
         * of anyone's run inside the hook). Nothing is settled here -- a list dropped now would
         * run its finalizers inside the hook -- and a parse whose warning could run code of
         * anyone's is not made. (The sandbox's own modules, compiled to code where no .pyc
         * serves, are its own text: they raise no warning.) */
        PyErr_SetString(PyExc_RuntimeError,
                        "lambda-sandbox: the warning filters or unicodedata changed before the "
                        "shape parse");
        return NULL;
    }
    PyObject *result;
    /* (flags read as CPython's compile reads an exact int; anything else reads as code) */
    PyObject *flags = which == COMPILER_COMPILE ? argument_named(args, nargs, kwnames, 3, "flags")
                                                : Py_None;
    long flag_bits = PyLong_CheckExact(flags) ? PyLong_AsLong(flags) : 0;
    if (flag_bits == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        flag_bits = 0;
    }
    const int outer_to_tree = t_compile_to_tree;
    t_compile_to_tree = (flag_bits & PyCF_ONLY_AST) != 0 ? 1 : 0;
    if (which == COMPILER_COMPILE && at >= 0) {
        /* compile(tree, name): CPython raises the compile event of a syntax tree with no file
         * name (a tree's code is named as its caller likes); the call's own name, for the
         * event whose tree is this very object (compile_name). Borrowed: the caller holds both
         * for the call. Nested calls keep their own. */
        PyObject *name = nargs >= 2 ? args[1] : NULL;
        for (Py_ssize_t i = 0; name == NULL && i < nkw; i++) {
            if (keyword_is(PyTuple_GET_ITEM(kwnames, i), "filename")) {
                name = args[nargs + i];
            }
        }
        PyObject *outer_tree = t_compile_tree, *outer_name = t_compile_name;
        t_compile_tree = args[at];
        t_compile_name = name;
        t_shape_parse = parse;
        result = compiler_call(which, module, args, nargs, kwnames, at);
        t_shape_parse = 0;
        t_compile_tree = outer_tree;
        t_compile_name = outer_name;
        t_compile_to_tree = outer_to_tree;
        return result;
    }
    t_shape_parse = parse;
    result = compiler_call(which, module, args, nargs, kwnames, at);
    t_shape_parse = 0;
    t_compile_to_tree = outer_to_tree;
    return result;
}

static PyObject *
compiler_call(int which, PyObject *module, PyObject *const *args, Py_ssize_t nargs,
              PyObject *kwnames, Py_ssize_t at)
{
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *result;
    if (at >= 0 && !PyUnicode_Check(args[at]) && buffer_may_change(args[at])) {
        PyObject *stack[16];
        Py_ssize_t total = nargs + nkw;
        if (total > 16) {
            PyErr_Format(PyExc_TypeError, "%s() takes at most 16 arguments", g_compiler_names[which]);
            return NULL;
        }
        PyObject *copy = PyBytes_FromObject(args[at]);
        if (copy == NULL) {
            return NULL;
        }
        for (Py_ssize_t i = 0; i < total; i++) {
            stack[i] = args[i];
        }
        stack[at] = copy;
        result = g_compiler_keywords[which]
                     ? ((_PyCFunctionFastWithKeywords)(void (*)(void))g_compiler_original[which])(
                           module, stack, nargs, kwnames)
                     : ((_PyCFunctionFast)(void (*)(void))g_compiler_original[which])(module, stack,
                                                                                     nargs);
        Py_DECREF(copy);
        return result;
    }
    if (g_compiler_keywords[which]) {
        return ((_PyCFunctionFastWithKeywords)(void (*)(void))g_compiler_original[which])(
            module, args, nargs, kwnames);
    }
    return ((_PyCFunctionFast)(void (*)(void))g_compiler_original[which])(module, args, nargs);
}

static PyObject *
eval_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return compiler_sealed(COMPILER_EVAL, module, args, nargs, kwnames);
}

static PyObject *
exec_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return compiler_sealed(COMPILER_EXEC, module, args, nargs, kwnames);
}

static PyObject *
compile_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return compiler_sealed(COMPILER_COMPILE, module, args, nargs, kwnames);
}

/* (METH_FASTCALL without keywords calls with three arguments; the fourth is then not read:
 * each entry gets the function of its own convention below.) */
static PyObject *
eval_sealed_nokw(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return compiler_sealed(COMPILER_EVAL, module, args, nargs, NULL);
}

static PyObject *
exec_sealed_nokw(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return compiler_sealed(COMPILER_EXEC, module, args, nargs, NULL);
}

static PyObject *
compile_sealed_nokw(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return compiler_sealed(COMPILER_COMPILE, module, args, nargs, NULL);
}

static PyObject *
core_seal_compilers(PyObject *self, PyObject *args)
{
    (void)self;
    static _PyCFunctionFastWithKeywords with_keywords[COMPILERS] = {eval_sealed, exec_sealed,
                                                                    compile_sealed};
    static _PyCFunctionFast without_keywords[COMPILERS] = {eval_sealed_nokw, exec_sealed_nokw,
                                                           compile_sealed_nokw};
    if (g_compilers_sealed || g_installed) {
        return PyBool_FromLong(g_compilers_sealed); /* once, and only while installing */
    }
    if (!announce_core_call("seal_compilers")) {
        return NULL;
    }
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) != COMPILERS) {
        PyErr_SetString(PyExc_TypeError, "seal_compilers(eval, exec, compile)");
        return NULL;
    }
    PyMethodDef *defs[COMPILERS];
    int keywords[COMPILERS];
    for (int i = 0; i < COMPILERS; i++) {
        PyObject *function = PyTuple_GET_ITEM(args, i);
        defs[i] = builtin_def(function, "builtins", g_compiler_names[i], METH_FASTCALL);
        keywords[i] = 0;
        if (defs[i] == NULL) {
            defs[i] = builtin_def(function, "builtins", g_compiler_names[i],
                                  METH_FASTCALL | METH_KEYWORDS);
            keywords[i] = 1;
        }
        if (defs[i] == NULL) {
            Py_RETURN_FALSE; /* not the interpreter's own: nothing sealed */
        }
    }
    for (int i = 0; i < COMPILERS; i++) {
        g_compiler_original[i] = defs[i]->ml_meth;
        g_compiler_keywords[i] = keywords[i];
        defs[i]->ml_meth = keywords[i] ? (PyCFunction)(void (*)(void))with_keywords[i]
                                       : (PyCFunction)(void (*)(void))without_keywords[i];
    }
    g_compilers_sealed = 1;
    Py_RETURN_TRUE;
}

/* marshal.loads reads its argument's live buffer after the marshal.loads event, which shows
 * the hook a copy: a bytearray changed by another thread in between (while the hook reads the
 * module file it compares the copy with) was unmarshalled as other bytes than those decided --
 * hand-made bytecode through the import system's own unmarshal (red team 55). Sealed, it hands
 * the original an immutable copy of any buffer that can change (buffer_may_change). 3.10-3.12:
 * METH_O; 3.13: METH_FASTCALL | METH_KEYWORDS (allow_code=). _imp.get_frozen_object(name,
 * buffer) (3.11+) is another unmarshaller that raises the same event with a copy and reads the
 * live buffer after it (red team 56): sealed the same way. */
static PyCFunction g_loads_original;
static int g_loads_sealed;
static PyCFunction g_frozen_original;
/* _imp._fix_co_filename(code, path) renames a code object and every one in its constants, with
 * no audit event -- and a site is the file name its code claims (red team 56: code renamed to
 * dataclasses' file passed as its code generator). After install only the import system
 * renames, and only the code the sealed marshal.loads has just returned on this thread
 * (importlib's _compile_bytecode: a module's code, named after its source file). */
static PyCFunction g_rename_original;
static CORE_TLS PyObject *t_unmarshalled; /* (strong, until renamed or the next one) */
/* ... and only to the source file its checked .pyc implies (`<dir>/__pycache__/<stem>.<tag>
 * .pyc` -> `<dir>/<stem>.py`), which the import system's unmarshal decision names
 * (core.unmarshal_renames_to) while the sealed call runs: the code was renamed to any file a
 * loader claimed as its source, and a sourceless load's mark lasted until the function's own
 * rename (red team 59). Both are forgotten when the next sealed call starts. */
static CORE_TLS PyObject *t_rename_to;  /* (strong exact str, or NULL: no rename) */
static CORE_TLS int t_in_sealed_loads;  /* inside a sealed marshal.loads on this thread */
/* The sealed call's token: armed just before the original runs, taken by the first
 * marshal.loads event on this thread (core_hook, before anything else) -- the one the
 * original raises for the immutable buffer it was handed, before it reads a byte. A flag that
 * lasted the whole call was not enough (red team 57): a collection inside the unmarshal ran a
 * finalizer made of C callables only (no frame: the innermost one still importlib's), which
 * reached get_frozen_object on a buffer another thread changed, and its event counted as the
 * sealed one. Nothing can run on this thread between arming and the original's event: the
 * collector is held (3.10/3.11 collect inside an allocation, and marshal allocates its
 * reference list first), the arguments are exact types whose parsing calls no code, and the
 * GIL is not let go. Whether the event decided at each depth took it: t_sealed_event. */
static CORE_TLS int t_sealed_loads;
static CORE_TLS unsigned char t_sealed_event[CORE_MAX_NESTING + 1];

static inline void
sealed_event_take(const char *event)
{
    if (event[0] == 'm' && strcmp(event, "marshal.loads") == 0) {
        t_sealed_event[t_depth < CORE_MAX_NESTING ? t_depth : CORE_MAX_NESTING] =
            (unsigned char)t_sealed_loads;
        t_sealed_loads = 0;
    }
}

static inline int
sealed_loads_arm(void)
{
    /* (the last call's code and name go first: dropping them may run code, which must not
     * run while the token is armed) */
    Py_CLEAR(t_unmarshalled);
    Py_CLEAR(t_rename_to);
    t_in_sealed_loads++;
    int gc_was_enabled = PyGC_Disable() || g_gc_held;
    g_gc_held = 0; /* (held by a decision: this call gives it back) */
    t_sealed_loads = 1;
    return gc_was_enabled;
}

static inline void
sealed_loads_disarm(int gc_was_enabled)
{
    t_sealed_loads = 0; /* (an original that failed before its event leaves nothing armed) */
    t_in_sealed_loads--;
    if (gc_was_enabled) {
        PyGC_Enable();
    }
}

/* (what the sealed marshal.loads returned: the code object _fix_co_filename may rename next) */
static PyObject *
sealed_loads_result(PyObject *result)
{
    if (result != NULL && PyCode_Check(result) && g_rename_original != NULL &&
        t_rename_to != NULL) {
        Py_XSETREF(t_unmarshalled, Py_NewRef(result));
    }
    return result;
}

/* _imp._fix_co_filename(code, path, /): METH_FASTCALL. */
static PyObject *
rename_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    _PyCFunctionFast original = (_PyCFunctionFast)(void (*)(void))g_rename_original;
    if (g_installed) {
        int own = nargs == 2 && t_unmarshalled != NULL && args[0] == t_unmarshalled &&
                  t_rename_to != NULL && PyUnicode_CheckExact(args[1]) &&
                  PyUnicode_Compare(args[1], t_rename_to) == 0;
        /* (once: the caller holds its own references) */
        PyObject *code = t_unmarshalled, *name = t_rename_to;
        t_unmarshalled = t_rename_to = NULL;
        Py_XDECREF(code);
        Py_XDECREF(name);
        if (!own) {
            PyErr_SetString(PyExc_PermissionError,
                            "lambda-sandbox: _imp._fix_co_filename refused: once the sandbox is "
                            "installed, only the import system renames the code it has just "
                            "unmarshalled, after the source its .pyc implies");
            return NULL;
        }
    }
    return original(module, args, nargs);
}

static PyObject *
loads_sealed_o(PyObject *module, PyObject *data)
{
    PyObject *copy = NULL;
    if (buffer_may_change(data)) {
        copy = PyBytes_FromObject(data);
        if (copy == NULL) {
            return NULL;
        }
    }
    int gc_was_enabled = sealed_loads_arm();
    PyObject *result = g_loads_original(module, copy != NULL ? copy : data);
    sealed_loads_disarm(gc_was_enabled);
    Py_XDECREF(copy);
    return sealed_loads_result(result);
}

static PyObject *
loads_sealed_kw(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    _PyCFunctionFastWithKeywords original =
        (_PyCFunctionFastWithKeywords)(void (*)(void))g_loads_original;
    Py_ssize_t total = nargs + (kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0);
    if (nargs < 1 || total > 8) {
        return original(module, args, nargs, kwnames); /* (its own error: nothing is read) */
    }
    /* The data as an immutable buffer, and each keyword's value (allow_code) as the bool the
     * original would make of it: its __bool__ runs here, not inside the armed call. */
    PyObject *stack[8];
    stack[0] = buffer_may_change(args[0]) ? PyBytes_FromObject(args[0]) : Py_NewRef(args[0]);
    if (stack[0] == NULL) {
        return NULL;
    }
    Py_ssize_t made = 1;
    PyObject *result = NULL;
    for (; made < total; made++) {
        if (made < nargs) {
            stack[made] = Py_NewRef(args[made]); /* (too many: the original's TypeError) */
            continue;
        }
        int truth = PyObject_IsTrue(args[made]);
        if (truth < 0) {
            goto done;
        }
        stack[made] = Py_NewRef(truth ? Py_True : Py_False);
    }
    int gc_was_enabled = sealed_loads_arm();
    result = sealed_loads_result(original(module, stack, nargs, kwnames));
    sealed_loads_disarm(gc_was_enabled);
done:
    for (Py_ssize_t i = 0; i < made; i++) {
        Py_DECREF(stack[i]);
    }
    return result;
}

/* _imp.get_frozen_object(name, data=None, /): METH_FASTCALL, 3.11+. */
static PyObject *
frozen_object_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    _PyCFunctionFast original = (_PyCFunctionFast)(void (*)(void))g_frozen_original;
    if (nargs != 2 || args[1] == Py_None || !buffer_may_change(args[1])) {
        return original(module, args, nargs);
    }
    PyObject *copy = PyBytes_FromObject(args[1]);
    if (copy == NULL) {
        return NULL;
    }
    PyObject *stack[2] = {args[0], copy};
    PyObject *result = original(module, stack, 2);
    Py_DECREF(copy);
    return result;
}

/* unmarshal_renames_to(path): the import system's unmarshal decision names the source file
 * the checked .pyc implies (None: a sourceless one), the one name _fix_co_filename may give
 * the code this sealed call returns. From the sandbox's own code, inside the callback. */
static PyObject *
core_unmarshal_renames_to(PyObject *self, PyObject *path)
{
    (void)self;
    if (g_installed && (t_depth == 0 || !caller_is_site("core.unmarshal_renames_to"))) {
        return refuse("unmarshal_renames_to");
    }
    if (path != Py_None && !PyUnicode_CheckExact(path)) {
        PyErr_SetString(PyExc_TypeError, "unmarshal_renames_to(path: str | None)");
        return NULL;
    }
    if (t_in_sealed_loads > 0) {
        Py_XSETREF(t_rename_to, path != Py_None ? Py_NewRef(path) : NULL);
    }
    Py_RETURN_NONE;
}

/* Whether the marshal.loads event being decided on this thread was raised by the sealed
 * marshal.loads for what it was handed (what it unmarshals is the event's bytes); True when
 * the core could not seal it (nothing can be told then: the Python core's answer). */
static PyObject *
core_unmarshal_sealed(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (!g_loads_sealed) {
        Py_RETURN_TRUE;
    }
    if (t_depth == 0) {
        Py_RETURN_FALSE; /* (no decision on this thread) */
    }
    int at = t_depth - 1 < CORE_MAX_NESTING ? t_depth - 1 : CORE_MAX_NESTING;
    return PyBool_FromLong(t_sealed_event[at]);
}

/* ------------------------------------------------------------------------------------- */
/* The import system's unmarshal of a module's own .pyc, answered in the core: the callback's
 * True of decoders/code._module_bytecode, the same steps in C, for the commonest case (every
 * name plain ASCII, a folder the callback has already found the deployment's); anything else
 * goes to the callback, which decides as it always did. At init this is one event per module
 * loaded from bytecode (~260 in `import boto3`), each ~85K instructions in the callback
 * (frames, the file compare, the folder test, the rule lookup, under the frame guard). The
 * core answers only what the callback would allow: the code sets, prefixes, magic number and
 * cache tag are the callback's own (module_bytecode_rules, at install), and a folder counts
 * as the deployment's only once the callback has found it so (deployment_folder). */

static PyObject *g_mb_code;         /* importlib's _compile_bytecode's code (strong) */
static code_set g_mb_chain;         /* importlib's frames between it and _find_and_load */
static code_set g_mb_find_and_load; /* _find_and_load (and reload's _exec): their `name` */
#define MB_PREFIX_LIMIT 64
static char *g_mb_prefixes[MB_PREFIX_LIMIT]; /* the deployment's steady folders (ASCII) */
static size_t g_mb_prefix_lens[MB_PREFIX_LIMIT];
static size_t g_mb_prefix_count;
static int g_mb_write_rules; /* a `files write` rule exists: folders asked one by one */
static char g_mb_magic[16];
static size_t g_mb_magic_len;
static char *g_mb_tag; /* sys.implementation.cache_tag (NULL: none, no __pycache__ name) */
static size_t g_mb_tag_len;
static Py_ssize_t g_mb_max; /* decoders/code.MAX_MODULE */
#define MB_PYC_HEADER 16 /* magic, flags, the source's mtime and size (or hash): PEP 552 */
static int g_mb_given; /* (module_bytecode_rules was called: once) */
static PyObject *g_mb_str_name, *g_mb_str_data, *g_mb_str_bytecode_path;

/* The folders deployment_file found steady (the deployment's, no write rule reaching any
 * name in them or on the way): a pure function of the name and the profile, kept for good. */
#define MB_FOLDER_SLOTS 8192
#define MB_FOLDER_LIMIT 4096
typedef struct {
    uint64_t hash;
    size_t len;
    char *name; /* NULL: empty slot */
} mb_folder;
static mb_folder g_mb_folders[MB_FOLDER_SLOTS];
static size_t g_mb_folder_count;

static size_t
mb_folder_find(const char *name, size_t len, uint64_t h, int *found)
{
    size_t j = (size_t)h & (MB_FOLDER_SLOTS - 1);
    while (g_mb_folders[j].name != NULL) {
        if (g_mb_folders[j].hash == h && g_mb_folders[j].len == len &&
            memcmp(g_mb_folders[j].name, name, len) == 0) {
            *found = 1;
            return j;
        }
        j = (j + 1) & (MB_FOLDER_SLOTS - 1);
    }
    *found = 0;
    return j;
}

static inline int
mb_ends_with(const char *s, size_t n, const char *tail, size_t m)
{
    return n >= m && memcmp(s + n - m, tail, m) == 0;
}

/* rpartition(path, "/"): the folder's length (0 and no leaf split when there is no "/") and
 * where the leaf starts. */
static inline void
mb_split(const char *p, size_t n, size_t *dir_len, size_t *leaf_at)
{
    const char *slash = n > 0 ? memrchr(p, '/', n) : NULL;
    *dir_len = slash != NULL ? (size_t)(slash - p) : 0;
    *leaf_at = slash != NULL ? *dir_len + 1 : 0;
}

static const char mb_cache_dir[] = "/__pycache__";
#define MB_CACHE_DIR_LEN (sizeof(mb_cache_dir) - 1)

/* decoders/code.bytecode_for_this_python */
static int
mb_for_this_python(const char *p, size_t n)
{
    size_t dir_len, leaf_at;
    mb_split(p, n, &dir_len, &leaf_at);
    const char *leaf = p + leaf_at;
    size_t leaf_len = n - leaf_at;
    if (!mb_ends_with(leaf, leaf_len, ".pyc", 4)) {
        return 0;
    }
    size_t body = leaf_len - 4;
    const char *dot1 = memchr(leaf, '.', body);
    if (!mb_ends_with(p, dir_len, mb_cache_dir, MB_CACHE_DIR_LEN)) {
        return dot1 == NULL; /* (a sourceless one: one part) */
    }
    if (dot1 == NULL || g_mb_tag == NULL) {
        return 0;
    }
    const char *tag = dot1 + 1;
    const char *dot2 = memchr(tag, '.', (size_t)(leaf + body - tag));
    size_t tag_len = dot2 != NULL ? (size_t)(dot2 - tag) : (size_t)(leaf + body - tag);
    if (dot2 != NULL) {
        const char *opt = dot2 + 1;
        size_t opt_len = (size_t)(leaf + body - opt);
        if (memchr(opt, '.', opt_len) != NULL || opt_len < 4 || memcmp(opt, "opt-", 4) != 0) {
            return 0; /* (four parts or more, or a third that is no "opt-") */
        }
    }
    return tag_len == g_mb_tag_len && memcmp(tag, g_mb_tag, tag_len) == 0;
}

/* Whether `candidate` (n bytes) ends with "/" + name, each "." of the name a "/". */
static int
mb_ends_with_module(const char *candidate, size_t n, const char *name, size_t name_len)
{
    if (n < name_len + 1) {
        return 0;
    }
    const char *at = candidate + n - name_len;
    if (at[-1] != '/') {
        return 0;
    }
    for (size_t i = 0; i < name_len; i++) {
        char want = name[i] == '.' ? '/' : name[i];
        if (at[i] != want) {
            return 0;
        }
    }
    return 1;
}

/* decoders/code.file_is_module */
static int
mb_file_is_module(const char *p, size_t n, const char *name, size_t name_len)
{
    size_t dir_len, leaf_at;
    mb_split(p, n, &dir_len, &leaf_at);
    if (mb_ends_with(p, dir_len, mb_cache_dir, MB_CACHE_DIR_LEN)) {
        dir_len -= MB_CACHE_DIR_LEN;
    }
    const char *leaf = p + leaf_at;
    size_t leaf_len = n - leaf_at;
    const char *dot = memchr(leaf, '.', leaf_len);
    size_t stem_len = dot != NULL ? (size_t)(dot - leaf) : leaf_len;
    if (stem_len == 8 && memcmp(leaf, "__init__", 8) == 0) {
        return mb_ends_with_module(p, dir_len, name, name_len);
    }
    /* directory + "/" + stem */
    char joined[2 * PATH_MAX + 2];
    if (dir_len + 1 + stem_len > sizeof joined) {
        return 0;
    }
    memcpy(joined, p, dir_len);
    joined[dir_len] = '/';
    memcpy(joined + dir_len + 1, leaf, stem_len);
    return mb_ends_with_module(joined, dir_len + 1 + stem_len, name, name_len);
}

/* decoders/code.deployment_file, where the callback has answered for the folder already. */
static int
mb_deployment_file(const char *p, size_t n)
{
    int steady = 0;
    for (size_t i = 0; i < g_mb_prefix_count && !steady; i++) {
        steady = n >= g_mb_prefix_lens[i] &&
                 memcmp(p, g_mb_prefixes[i], g_mb_prefix_lens[i]) == 0;
    }
    if (!steady) {
        return 0;
    }
    if (!g_mb_write_rules || dep_under_tree(p, n)) {
        return 1; /* (below a deployment tree every folder is steady: deployment_rules) */
    }
    size_t dir_len, leaf_at;
    mb_split(p, n, &dir_len, &leaf_at);
    int found;
    (void)mb_folder_find(p, dir_len, name_hash(p, dir_len), &found);
    return found;
}

static int
mb_plain_ascii(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] >= 0x80 || p[i] == '\0') {
            return 0;
        }
    }
    return 1;
}

/* decoders/code._immutable_bytes: an exact bytes, or a live memoryview over one. */
static int
mb_immutable_bytes(PyObject *value)
{
    if (PyBytes_CheckExact(value)) {
        return 1;
    }
    if (!Py_IS_TYPE(value, &PyMemoryView_Type) ||
        (((PyMemoryViewObject *)value)->flags & _Py_MEMORYVIEW_RELEASED)) {
        return 0;
    }
    PyObject *base = PyMemoryView_GET_BUFFER(value)->obj;
    return base != NULL && PyBytes_CheckExact(base);
}

static PyObject *
mb_local(PyFrameObject *frame, PyObject *name)
{
    PyObject *stack[2] = {(PyObject *)frame, name};
    return core_frame_local(NULL, stack, 2);
}

/* decoders/code.importing: the module a real import loads, when every frame from `frame` up
 * to _find_and_load is importlib's (new reference to an exact str, or NULL: not one). */
static PyObject *
mb_importing(PyFrameObject *frame)
{
    Py_XINCREF(frame);
    while (frame != NULL) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        int loads = code_set_has(&g_mb_find_and_load, (PyObject *)code);
        int chain = loads || code_set_has(&g_mb_chain, (PyObject *)code);
        Py_DECREF(code);
        if (loads) {
            PyObject *name = mb_local(frame, g_mb_str_name);
            Py_DECREF(frame);
            if (name != NULL && !PyUnicode_CheckExact(name)) {
                Py_CLEAR(name);
            }
            return name;
        }
        if (!chain) {
            break;
        }
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    Py_XDECREF(frame);
    return NULL;
}

/* The marshal.loads event the sealed marshal.loads raised (its token, taken at core_hook's
 * first line) for a module's own .pyc that importlib's _compile_bytecode unmarshals in a real
 * import: 1 (allowed: the callback's answer, and the rename it allows noted); 0 for the
 * callback to decide (a Python error is never left set). */
static int
module_bytecode_answered(PyObject *args)
{
    int at = t_depth < CORE_MAX_NESTING ? t_depth : CORE_MAX_NESTING;
    if (!g_mb_ready || !g_loads_sealed || !t_sealed_event[at] || t_in_sealed_loads <= 0 ||
        !PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) < 1) {
        return 0;
    }
    PyObject *data = PyTuple_GET_ITEM(args, 0);
    if (!PyBytes_CheckExact(data) || PyBytes_GET_SIZE(data) > g_mb_max) {
        return 0;
    }
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed: the frame calling marshal.loads */
    if (frame == NULL) {
        return 0;
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    int compiling = (PyObject *)code == g_mb_code;
    Py_DECREF(code);
    if (!compiling) {
        return 0;
    }
    int answered = 0;
    PyObject *name = mb_importing(frame);
    PyObject *local_data = name != NULL ? mb_local(frame, g_mb_str_data) : NULL;
    PyObject *path = local_data != NULL ? mb_local(frame, g_mb_str_bytecode_path) : NULL;
    const char *name_units, *path_units;
    Py_ssize_t name_len, path_len;
    if (path == NULL || !mb_immutable_bytes(local_data) ||
        ascii_of(name, &name_units, &name_len) != 1 ||
        ascii_of(path, &path_units, &path_len) != 1 || path_len == 0 ||
        memchr(path_units, '\0', (size_t)path_len) != NULL) {
        goto done;
    }
    char real[PATH_MAX + 1];
    ssize_t real_len = -1;
    if (read_record_holds(path_units, (size_t)path_len, MB_PYC_HEADER, PyBytes_AS_STRING(data),
                          (size_t)PyBytes_GET_SIZE(data), g_mb_magic, g_mb_magic_len)) {
        /* the file's bytes as core_open_code read them, with no link on the way: its own name */
        memcpy(real, path_units, (size_t)path_len);
        real_len = path_len;
    }
    else {
        char *chunk = PyMem_RawMalloc(FILE_IS_CHUNK);
        if (chunk == NULL) {
            goto done;
        }
        Py_INCREF(data);
        Py_BEGIN_ALLOW_THREADS
        real_len = file_is_read(path_units, MB_PYC_HEADER, PyBytes_AS_STRING(data),
                                (size_t)PyBytes_GET_SIZE(data), g_mb_magic, g_mb_magic_len,
                                chunk, real);
        Py_END_ALLOW_THREADS
        Py_DECREF(data);
        PyMem_RawFree(chunk);
    }
    if (real_len <= 0 || !mb_plain_ascii(real, (size_t)real_len) ||
        !mb_for_this_python(real, (size_t)real_len) ||
        !mb_file_is_module(real, (size_t)real_len, name_units, (size_t)name_len) ||
        !mb_deployment_file(real, (size_t)real_len)) {
        goto done;
    }
    /* decoders/code.source_of_bytecode(path): the one name _fix_co_filename may give the code */
    PyObject *rename_to = NULL;
    size_t dir_len, leaf_at;
    mb_split(path_units, (size_t)path_len, &dir_len, &leaf_at);
    const char *leaf = path_units + leaf_at;
    size_t leaf_len = (size_t)path_len - leaf_at;
    if (mb_ends_with(path_units, dir_len, mb_cache_dir, MB_CACHE_DIR_LEN) &&
        mb_ends_with(leaf, leaf_len, ".pyc", 4)) {
        const char *dot = memchr(leaf, '.', leaf_len);
        size_t stem_len = (size_t)(dot - leaf);
        size_t base = dir_len - MB_CACHE_DIR_LEN;
        rename_to = PyUnicode_New((Py_ssize_t)(base + 1 + stem_len + 3), 127);
        if (rename_to == NULL) {
            PyErr_Clear();
            goto done;
        }
        char *out = (char *)PyUnicode_DATA(rename_to);
        memcpy(out, path_units, base);
        out[base] = '/';
        memcpy(out + base + 1, leaf, stem_len);
        memcpy(out + base + 1 + stem_len, ".py", 3);
    }
    Py_XSETREF(t_rename_to, rename_to);
    answered = 1;
done:
    Py_XDECREF(name);
    Py_XDECREF(local_data);
    Py_XDECREF(path);
    if (PyErr_Occurred()) {
        PyErr_Clear(); /* (the callback decides: it meets the same error, if any) */
    }
    return answered;
}

/* module_bytecode_rules(compile_bytecode, chain, find_and_load, steady_prefixes, write_rules,
 * magic, cache_tag, max_module): what module_bytecode_answered checks with, the callback's
 * own (decoders/code: COMPILE_BYTECODE_CODES, IMPORT_CHAIN_CODES | TRAMPOLINE_CODES,
 * FIND_AND_LOAD_CODES, STEADY_PREFIXES, WRITE_MATCHERS, _MAGIC, _CACHE_TAG, MAX_MODULE);
 * before install only, once. A prefix that is no plain ASCII is left out (the callback
 * decides there). */
static PyObject *
core_module_bytecode_rules(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (g_installed) {
        return refuse("module_bytecode_rules");
    }
    if (nargs != 8 || !PyCode_Check(args[0]) || !PyBool_Check(args[4]) ||
        !PyBytes_CheckExact(args[5]) ||
        PyBytes_GET_SIZE(args[5]) > (Py_ssize_t)sizeof g_mb_magic ||
        PyBytes_GET_SIZE(args[5]) == 0 ||
        (args[6] != Py_None && !PyUnicode_CheckExact(args[6])) || !PyLong_CheckExact(args[7])) {
        PyErr_SetString(PyExc_TypeError,
                        "module_bytecode_rules(compile_bytecode: code, chain, find_and_load, "
                        "steady_prefixes, write_rules: bool, magic: bytes, cache_tag: str | None, "
                        "max_module: int)");
        return NULL;
    }
    if (g_mb_given) {
        Py_RETURN_FALSE; /* (once, whatever the first call made of it) */
    }
    if (!announce_core_call("module_bytecode_rules")) {
        return NULL;
    }
    int write_rules = args[4] == Py_True;
    Py_ssize_t max_module = PyLong_AsSsize_t(args[7]);
    if (max_module == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (g_mb_str_name == NULL) {
        g_mb_str_name = PyUnicode_InternFromString("name");
        g_mb_str_data = PyUnicode_InternFromString("data");
        g_mb_str_bytecode_path = PyUnicode_InternFromString("bytecode_path");
        if (g_mb_str_name == NULL || g_mb_str_data == NULL || g_mb_str_bytecode_path == NULL) {
            return NULL;
        }
    }
    g_mb_given = 1;
    if (code_set_build(&g_mb_chain, args[1]) < 0 ||
        code_set_build(&g_mb_find_and_load, args[2]) < 0) {
        code_set_free(&g_mb_chain);
        return NULL;
    }
    PyObject *prefixes = PySequence_Fast(args[3], "module_bytecode_rules: steady_prefixes");
    if (prefixes == NULL) {
        code_set_free(&g_mb_chain);
        code_set_free(&g_mb_find_and_load);
        return NULL;
    }
    Py_ssize_t n_prefixes = PySequence_Fast_GET_SIZE(prefixes);
    for (Py_ssize_t i = 0; i < n_prefixes && g_mb_prefix_count < MB_PREFIX_LIMIT; i++) {
        const char *units;
        Py_ssize_t len;
        if (ascii_of(PySequence_Fast_GET_ITEM(prefixes, i), &units, &len) != 1 || len == 0) {
            PyErr_Clear();
            continue;
        }
        char *copy = PyMem_RawMalloc((size_t)len);
        if (copy == NULL) {
            continue;
        }
        memcpy(copy, units, (size_t)len);
        g_mb_prefixes[g_mb_prefix_count] = copy;
        g_mb_prefix_lens[g_mb_prefix_count++] = (size_t)len;
    }
    Py_DECREF(prefixes);
    if (args[6] != Py_None) {
        const char *units;
        Py_ssize_t len;
        if (ascii_of(args[6], &units, &len) == 1 && len > 0 &&
            memchr(units, '.', (size_t)len) == NULL) {
            g_mb_tag = PyMem_RawMalloc((size_t)len);
            if (g_mb_tag != NULL) {
                memcpy(g_mb_tag, units, (size_t)len);
                g_mb_tag_len = (size_t)len;
            }
        }
        PyErr_Clear();
    }
    memcpy(g_mb_magic, PyBytes_AS_STRING(args[5]), (size_t)PyBytes_GET_SIZE(args[5]));
    g_mb_magic_len = (size_t)PyBytes_GET_SIZE(args[5]);
    g_mb_write_rules = write_rules;
    g_mb_max = max_module;
    g_mb_code = Py_NewRef(args[0]);
    /* (no tag where the callback has one: its answers for __pycache__ names stay its own) */
    g_mb_ready = args[6] == Py_None || g_mb_tag != NULL;
    return PyBool_FromLong(g_mb_ready);
}

/* deployment_folder(folder): the callback found `folder` the deployment's (decoders/code
 * deployment_file: steady, no write rule reaching into it or a name on the way). From the
 * sandbox's own code, inside the callback. */
static PyObject *
core_deployment_folder(PyObject *self, PyObject *folder)
{
    (void)self;
    if (g_installed && (t_depth == 0 || !caller_is_site("core.deployment_folder"))) {
        return refuse("deployment_folder");
    }
    if (!PyUnicode_CheckExact(folder)) {
        PyErr_SetString(PyExc_TypeError, "deployment_folder(folder: str)");
        return NULL;
    }
    const char *units;
    Py_ssize_t len;
    int plain = ascii_of(folder, &units, &len);
    if (plain < 0) {
        return NULL;
    }
    if (plain == 0 || g_mb_folder_count >= MB_FOLDER_LIMIT ||
        memchr(units, '\0', (size_t)len) != NULL) {
        Py_RETURN_NONE; /* (the callback keeps answering for it) */
    }
    uint64_t h = name_hash(units, (size_t)len);
    int found;
    size_t j = mb_folder_find(units, (size_t)len, h, &found);
    if (!found) {
        char *copy = PyMem_RawMalloc((size_t)len + 1);
        if (copy == NULL) {
            return PyErr_NoMemory();
        }
        memcpy(copy, units, (size_t)len + 1);
        g_mb_folders[j].hash = h;
        g_mb_folders[j].len = (size_t)len;
        g_mb_folders[j].name = copy;
        g_mb_folder_count++;
    }
    Py_RETURN_NONE;
}

/* Copy the plain-ASCII str items of the exact tuple `items` into out/lens (up to DEP_LIMIT,
 * each non-empty, no NUL); others are left out (the callback decides there). -1: no memory. */
static int
dep_copy_items(PyObject *items, char **out, size_t *lens, size_t *count)
{
    Py_ssize_t size = PyTuple_GET_SIZE(items);
    for (Py_ssize_t i = 0; i < size && *count < DEP_LIMIT; i++) {
        const char *units;
        Py_ssize_t len;
        int plain = ascii_of(PyTuple_GET_ITEM(items, i), &units, &len);
        if (plain != 1 || len == 0 || memchr(units, '\0', (size_t)len) != NULL) {
            PyErr_Clear();
            continue;
        }
        char *copy = PyMem_RawMalloc((size_t)len);
        if (copy == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(copy, units, (size_t)len);
        out[*count] = copy;
        lens[(*count)++] = (size_t)len;
    }
    return 0;
}

static int
dep_all_str(PyObject *items)
{
    if (!PyTuple_CheckExact(items)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(items); i++) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(items, i))) {
            return 0;
        }
    }
    return 1;
}

/* Whether every plain-ASCII item of the exact tuple `items` (of exact str) is an absolute
 * folder + "/" (others are left out when copied); 0 with a ValueError of `message` if not. */
static int
trees_are_folders(PyObject *items, const char *message)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(items); i++) {
        const char *units;
        Py_ssize_t len;
        if (ascii_of(PyTuple_GET_ITEM(items, i), &units, &len) == 1 &&
            (len < 2 || units[0] != '/' || units[len - 1] != '/')) {
            PyErr_SetString(PyExc_ValueError, message);
            return 0;
        }
        PyErr_Clear();
    }
    return 1;
}

/* deployment_rules(steady_trees, import_roots): see "The deployment's trees" above; before
 * install only, once. Each a tuple of exact str: the trees each a folder + "/"
 * (decoders/code.steady_trees), the roots folders (INSTALL_IMPORT_ROOTS). True when taken. */
static PyObject *
core_deployment_rules(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (g_installed) {
        return refuse("deployment_rules");
    }
    if (nargs != 2 || !dep_all_str(args[0]) || !dep_all_str(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "deployment_rules(steady_trees: tuple[str, ...], "
                        "import_roots: tuple[str, ...])");
        return NULL;
    }
    if (!trees_are_folders(args[0],
                           "deployment_rules: a steady tree is an absolute folder + \"/\"")) {
        return NULL;
    }
    if (g_dep_given) {
        Py_RETURN_FALSE; /* (once, whatever the first call made of it) */
    }
    if (!announce_core_call("deployment_rules")) {
        return NULL;
    }
    g_dep_given = 1;
    if (dep_copy_items(args[0], g_dep_trees, g_dep_tree_lens, &g_dep_tree_count) < 0 ||
        dep_copy_items(args[1], g_ext_roots, g_ext_root_lens, &g_ext_root_count) < 0) {
        return NULL;
    }
    Py_RETURN_TRUE;
}

/* module_exec_rules(exec_trees): see "A module's code run in an invocation" above; before
 * install only, once. A tuple of exact str, each an absolute folder + "/" (the module roots
 * the invoke phase's code exec rules cover whole: Policy.tree_allowed). True when taken. */
static PyObject *
core_module_exec_rules(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (g_installed) {
        return refuse("module_exec_rules");
    }
    if (nargs != 1 || !dep_all_str(args[0])) {
        PyErr_SetString(PyExc_TypeError, "module_exec_rules(exec_trees: tuple[str, ...])");
        return NULL;
    }
    if (!trees_are_folders(args[0], "module_exec_rules: a tree is an absolute folder + \"/\"")) {
        return NULL;
    }
    if (g_exec_given) {
        Py_RETURN_FALSE; /* (once, whatever the first call made of it) */
    }
    if (!announce_core_call("module_exec_rules")) {
        return NULL;
    }
    g_exec_given = 1;
    if (dep_copy_items(args[0], g_exec_trees, g_exec_tree_lens, &g_exec_tree_count) < 0) {
        return NULL;
    }
    Py_RETURN_TRUE;
}

static PyObject *
core_seal_marshal(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "seal_marshal(loads, get_frozen_object, fix_co_filename)");
        return NULL;
    }
    if (g_loads_sealed || g_installed) {
        return PyBool_FromLong(g_loads_sealed); /* once, and only while installing */
    }
    if (!announce_core_call("seal_marshal")) {
        return NULL;
    }
    PyMethodDef *def = builtin_def(args[0], "marshal", "loads", METH_O);
    int keywords = 0;
    if (def == NULL) {
        def = builtin_def(args[0], "marshal", "loads", METH_FASTCALL | METH_KEYWORDS);
        keywords = 1;
    }
    if (def == NULL) {
        Py_RETURN_FALSE; /* not the interpreter's own: nothing sealed */
    }
    /* (3.10's takes a name only, METH_O: it reads no buffer of the caller's) */
    PyMethodDef *frozen = builtin_def(args[1], "_imp", "get_frozen_object", METH_FASTCALL);
    if (frozen != NULL) {
        g_frozen_original = frozen->ml_meth;
        frozen->ml_meth = (PyCFunction)(void (*)(void))frozen_object_sealed;
    }
    PyMethodDef *rename = builtin_def(args[2], "_imp", "_fix_co_filename", METH_FASTCALL);
    if (rename != NULL) {
        g_rename_original = rename->ml_meth;
        rename->ml_meth = (PyCFunction)(void (*)(void))rename_sealed;
    }
    g_loads_original = def->ml_meth;
    def->ml_meth = keywords ? (PyCFunction)(void (*)(void))loads_sealed_kw : loads_sealed_o;
    g_loads_sealed = 1;
    Py_RETURN_TRUE;
}

static PyObject *
core_seal_socket_addresses(PyObject *self, PyObject *type)
{
    (void)self;
    static const PyCFunction sealed[SOCK_METHODS] = {
        sock_connect_sealed,    sock_connect_ex_sealed, sock_bind_sealed,
        sock_sendto_sealed,     sock_sendmsg_sealed,    sock_setsockopt_sealed,
        sock_listen_sealed,     sock_getsockopt_sealed, sock_recv_sealed,
        sock_recvfrom_sealed};
    static const int flags[SOCK_METHODS] = {METH_O,       METH_O,       METH_O,       METH_VARARGS,
                                            METH_VARARGS, METH_VARARGS, METH_VARARGS, METH_VARARGS,
                                            METH_VARARGS, METH_VARARGS};
    if (g_sock_sealed || g_installed) {
        return PyBool_FromLong(g_sock_sealed); /* once, and only while installing */
    }
    if (!announce_core_call("seal_socket_addresses")) {
        return NULL;
    }
    if (!PyType_Check(type) || strcmp(((PyTypeObject *)type)->tp_name, "_socket.socket") != 0) {
        PyErr_SetString(PyExc_TypeError, "seal_socket_addresses: _socket.socket is needed");
        return NULL;
    }
    PyMethodDef *defs[SOCK_METHODS];
    for (int i = 0; i < SOCK_METHODS; i++) {
        PyObject *name = PyUnicode_InternFromString(g_sock_names[i]);
        if (name == NULL) {
            return NULL;
        }
        PyObject *method = _PyType_Lookup((PyTypeObject *)type, name);
        Py_DECREF(name);
        if (method == NULL || !Py_IS_TYPE(method, &PyMethodDescr_Type)) {
            Py_RETURN_FALSE;
        }
        defs[i] = ((PyMethodDescrObject *)method)->d_method;
        if (defs[i] == NULL || (defs[i]->ml_flags & ~METH_COEXIST) != flags[i]) {
            Py_RETURN_FALSE; /* a calling convention this core does not know: nothing sealed */
        }
    }
    PyObject *getsockname_name = PyUnicode_InternFromString("getsockname");
    if (getsockname_name == NULL) {
        return NULL;
    }
    PyObject *getsockname = _PyType_Lookup((PyTypeObject *)type, getsockname_name);
    Py_DECREF(getsockname_name);
    if (getsockname == NULL || !Py_IS_TYPE(getsockname, &PyMethodDescr_Type)) {
        Py_RETURN_FALSE;
    }
    PyMethodDef *getsockname_def = ((PyMethodDescrObject *)getsockname)->d_method;
    if (getsockname_def == NULL || (getsockname_def->ml_flags & ~METH_COEXIST) != METH_NOARGS) {
        Py_RETURN_FALSE; /* a calling convention this core does not know: nothing sealed */
    }
    PyObject *fileno_name = PyUnicode_InternFromString("fileno");
    if (fileno_name == NULL) {
        return NULL;
    }
    PyObject *fileno = _PyType_Lookup((PyTypeObject *)type, fileno_name);
    Py_DECREF(fileno_name);
    if (fileno == NULL || !Py_IS_TYPE(fileno, &PyMethodDescr_Type) ||
        ((PyMethodDescrObject *)fileno)->d_method == NULL ||
        (((PyMethodDescrObject *)fileno)->d_method->ml_flags & ~METH_COEXIST) != METH_NOARGS) {
        Py_RETURN_FALSE;
    }
    g_sock_fileno_c = ((PyMethodDescrObject *)fileno)->d_method->ml_meth;
    g_sock_getsockname = Py_NewRef(getsockname);
    g_sock_getsockname_c = getsockname_def->ml_meth;
    PyObject *family_name = PyUnicode_InternFromString("family");
    if (family_name == NULL) {
        return NULL;
    }
    PyObject *family = _PyType_Lookup((PyTypeObject *)type, family_name);
    Py_DECREF(family_name);
    if (family != NULL && Py_IS_TYPE(family, &PyMemberDescr_Type)) {
        /* (the network verdicts' connects: the family read as the decoder reads it) */
        g_sock_family = ((PyMemberDescrObject *)family)->d_member;
        g_sock_type = (PyTypeObject *)Py_NewRef(type);
    }
    for (int i = 0; i < SOCK_METHODS; i++) {
        g_sock_original[i] = defs[i]->ml_meth;
        defs[i]->ml_meth = sealed[i];
    }
    g_sock_sealed = 1;
    Py_RETURN_TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* chroot and pidfd_send_signal: no audit event of CPython's                               */
/*
 * os.chroot changes where every absolute name leads -- the hook's own lookups (/proc/self/fd,
 * the working directory, a program's path) included, but not descriptors opened before it --
 * and signal.pidfd_send_signal signals any process the user may signal (the runtime, an
 * extension) through a pidfd: neither raises an event. The core puts its own functions in
 * their method-table entries: chroot raises os.chroot (path) first, and pidfd_send_signal
 * raises os.kill (pid, signal) with the pid the descriptor refers to (from /proc/self/fdinfo
 * of a private duplicate, which is what is then signalled: another thread cannot swap the
 * descriptor between the decision and the call); a pid it cannot read is -1 (every process).
 */
typedef PyObject *(*fastcall_any)(PyObject *, PyObject *const *, Py_ssize_t, PyObject *);
static fastcall_any g_chroot_original, g_pidfd_original, g_unshare_original, g_setns_original;
static int g_chroot_keywords, g_pidfd_keywords, g_unshare_keywords, g_setns_keywords;
static int g_process_calls_sealed;

static PyObject *
call_fastcall(fastcall_any original, int keywords, PyObject *module, PyObject *const *args,
              Py_ssize_t nargs, PyObject *kwnames)
{
    if (keywords) {
        return original(module, args, nargs, kwnames);
    }
    return ((PyObject * (*)(PyObject *, PyObject *const *, Py_ssize_t))(void (*)(void))original)(
        module, args, nargs);
}

static PyObject *
chroot_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (PySys_Audit("os.chroot", "O", argument_named(args, nargs, kwnames, 0, "path")) < 0) {
        return NULL;
    }
    return call_fastcall(g_chroot_original, g_chroot_keywords, module, args, nargs, kwnames);
}

static PyObject *
chroot_sealed_positional(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return chroot_sealed(module, args, nargs, NULL);
}

/* os.unshare(flags) and os.setns(fd, nstype=0) (3.12+) raise no event either: a new user
 * namespace makes the process root there (chroot follows), setns moves it into another's.
 * Raised as os.unshare (flags) and os.setns (fd, nstype); an argument that is not a plain int
 * is handed to the decision as it is (undecodable: refused), never converted after it. */
static PyObject *
unshare_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (PySys_Audit("os.unshare", "O", argument_named(args, nargs, kwnames, 0, "flags")) < 0) {
        return NULL;
    }
    return call_fastcall(g_unshare_original, g_unshare_keywords, module, args, nargs, kwnames);
}

static PyObject *
setns_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (PySys_Audit("os.setns", "OO", argument_named(args, nargs, kwnames, 0, "fd"),
                    argument_named(args, nargs, kwnames, 1, "nstype")) < 0) {
        return NULL;
    }
    return call_fastcall(g_setns_original, g_setns_keywords, module, args, nargs, kwnames);
}

/* setpriority(which, who, priority) and sched_setaffinity / sched_setscheduler /
 * sched_setparam(pid, ...) change another process (a pid, a process group, every process of
 * the user) with no event: raised as os.setpriority (which, who) and os.sched_setaffinity /
 * os.sched_setscheduler / os.sched_setparam (pid), the arguments as given (one that is not a
 * plain int is refused as undecodable, never converted after the decision). */
enum { TARGET_SETPRIORITY, TARGET_AFFINITY, TARGET_SCHEDULER, TARGET_PARAM, TARGET_CALLS };
static const char *const g_target_names[TARGET_CALLS] = {"setpriority", "sched_setaffinity",
                                                         "sched_setscheduler", "sched_setparam"};
static const char *const g_target_events[TARGET_CALLS] = {
    "os.setpriority", "os.sched_setaffinity", "os.sched_setscheduler", "os.sched_setparam"};
static fastcall_any g_target_original[TARGET_CALLS];
static int g_target_keywords[TARGET_CALLS];

static PyObject *
target_call_sealed(int which, PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames)
{
    PyObject *first = argument_named(args, nargs, kwnames, 0,
                                     which == TARGET_SETPRIORITY ? "which" : "pid");
    int rc = which == TARGET_SETPRIORITY
                 ? PySys_Audit(g_target_events[which], "OO", first,
                               argument_named(args, nargs, kwnames, 1, "who"))
                 : PySys_Audit(g_target_events[which], "O", first);
    if (rc < 0) {
        return NULL;
    }
    return call_fastcall(g_target_original[which], g_target_keywords[which], module, args, nargs,
                         kwnames);
}

#define TARGET_WRAPPERS(index, name)                                                           \
    static PyObject *name(PyObject *m, PyObject *const *a, Py_ssize_t n, PyObject *k)          \
    {                                                                                          \
        return target_call_sealed(index, m, a, n, k);                                          \
    }                                                                                          \
    static PyObject *name##_positional(PyObject *m, PyObject *const *a, Py_ssize_t n)          \
    {                                                                                          \
        return target_call_sealed(index, m, a, n, NULL);                                       \
    }
TARGET_WRAPPERS(TARGET_SETPRIORITY, setpriority_sealed)
TARGET_WRAPPERS(TARGET_AFFINITY, affinity_sealed)
TARGET_WRAPPERS(TARGET_SCHEDULER, scheduler_sealed)
TARGET_WRAPPERS(TARGET_PARAM, param_sealed)
#undef TARGET_WRAPPERS

/* The pid a pidfd refers to (its fdinfo's "Pid:" line), or -1. */
static long
pidfd_pid(int fd)
{
    char name[64], text[1024];
    snprintf(name, sizeof name, "/proc/self/fdinfo/%d", fd);
    int info = open(name, O_RDONLY | O_CLOEXEC);
    if (info < 0) {
        return -1;
    }
    ssize_t n = read(info, text, sizeof text - 1);
    close(info);
    if (n <= 0) {
        return -1;
    }
    text[n] = '\0';
    const char *line = strstr(text, "\nPid:");
    if (line == NULL) {
        return -1;
    }
    char *end;
    long pid = strtol(line + 5, &end, 10);
    return end == line + 5 ? -1 : pid;
}

static PyObject *
pidfd_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        /* (all its parameters are positional: the original raises its TypeError) */
        return call_fastcall(g_pidfd_original, g_pidfd_keywords, module, args, nargs, kwnames);
    }
    long pid = -1;
    int copy = -1;
    PyObject *signal = Py_None;
    if (nargs >= 2 && plain_int(args[0]) && plain_int(args[1])) {
        long fd = PyLong_AsLong(args[0]);
        if (fd == -1 && PyErr_Occurred()) {
            PyErr_Clear();
        }
        else if (fd >= 0 && fd <= INT_MAX) {
            copy = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
            if (copy >= 0) {
                pid = pidfd_pid(copy);
            }
        }
        signal = args[1];
    }
    if (PySys_Audit("os.kill", "lO", pid, signal) < 0) {
        if (copy >= 0) {
            close(copy);
        }
        return NULL;
    }
    PyObject *result;
    if (copy >= 0) {
        /* the private duplicate is what gets signalled: the process decided on */
        PyObject *fd = PyLong_FromLong(copy);
        if (fd == NULL) {
            close(copy);
            return NULL;
        }
        PyObject *call[8];
        Py_ssize_t n = nargs < 8 ? nargs : 8;
        call[0] = fd;
        for (Py_ssize_t i = 1; i < n; i++) {
            call[i] = args[i];
        }
        result = n == nargs ? call_fastcall(g_pidfd_original, g_pidfd_keywords, module, call, n,
                                            NULL)
                            : (PyErr_SetString(PyExc_TypeError,
                                               "pidfd_send_signal: too many arguments"),
                               (PyObject *)NULL);
        Py_DECREF(fd);
        close(copy);
    }
    else {
        result = call_fastcall(g_pidfd_original, g_pidfd_keywords, module, args, nargs, NULL);
    }
    return result;
}

static PyObject *
pidfd_sealed_positional(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return pidfd_sealed(module, args, nargs, NULL);
}

/* The method-table entry of `function` (a builtin of module `module_name` named `name`) and
 * whether it takes keywords; NULL if it is not that (or a convention this core does not know). */
static PyMethodDef *
fastcall_def(PyObject *function, const char *module_name, const char *name, int *keywords)
{
    if (function == Py_None) {
        return NULL;
    }
    PyMethodDef *def = builtin_def(function, module_name, name, METH_FASTCALL | METH_KEYWORDS);
    *keywords = def != NULL;
    return def != NULL ? def : builtin_def(function, module_name, name, METH_FASTCALL);
}

/* os.chdir and os.fchdir, held (red team 72): a decision on a relative name reads the working
 * directory, and the system call after it resolves the name from the directory as it is
 * then; another thread's chdir in between (the hook's own system calls let it run) makes the
 * call reach what no decision saw. Each call runs through the core: counted when it begins and
 * when it ends, and while it runs (the system call itself, with the GIL let go) it is "in
 * flight". A decision during which another thread's chdir began, ended or was running is
 * refused (decide): after the decision the GIL is held up to the system call (an open lets it
 * go just before its own call; fork_exec not at all), so the directory a decision read is the
 * one the call uses. SQLite lets it go before it opens a database (sqlite3.connect, ATTACH):
 * there the directory is held from the decision to the thread's next event (g_cwd_pinned_by). */
static fastcall_any g_cwd_original[2];
static int g_cwd_keywords[2];

static PyObject *
cwd_change(int which, PyObject *module, PyObject *const *args, Py_ssize_t nargs,
           PyObject *kwnames)
{
    if (g_cwd_pinned_by != 0 && g_cwd_pinned_by != PyThread_get_thread_ident()) {
        PyErr_SetString(PyExc_PermissionError,
                        "lambda-sandbox: the working directory cannot change now (another thread "
                        "is opening an SQLite database by a relative name)");
        return NULL;
    }
    g_cwd_changes++;
    g_cwd_in_flight++;
    t_cwd_in_flight++;
    PyObject *result =
        call_fastcall(g_cwd_original[which], g_cwd_keywords[which], module, args, nargs, kwnames);
    t_cwd_in_flight--;
    g_cwd_in_flight--;
    g_cwd_changes++;
    return result;
}

static PyObject *
chdir_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return cwd_change(0, module, args, nargs, kwnames);
}

static PyObject *
chdir_sealed_positional(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return cwd_change(0, module, args, nargs, NULL);
}

static PyObject *
fchdir_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return cwd_change(1, module, args, nargs, kwnames);
}

static PyObject *
fchdir_sealed_positional(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return cwd_change(1, module, args, nargs, NULL);
}

/* The PyMethodDefs of two of posix's own functions (from sys.modules, before the function's
 * code runs: no import), each NULL where it is missing or of a convention not known here. */
static void
posix_defs(const char *const names[2], PyMethodDef *defs[2], int keywords[2])
{
    defs[0] = defs[1] = NULL;
    keywords[0] = keywords[1] = 0;
    PyObject *key = PyUnicode_FromString("posix");
    PyObject *posix = key != NULL ? PyImport_GetModule(key) : NULL;
    Py_XDECREF(key);
    if (posix == NULL) {
        PyErr_Clear();
        return;
    }
    for (int i = 0; i < 2; i++) {
        PyObject *function = PyObject_GetAttrString(posix, names[i]);
        if (function == NULL) {
            PyErr_Clear();
            continue;
        }
        defs[i] = fastcall_def(function, "posix", names[i], &keywords[i]);
        Py_DECREF(function);
    }
    Py_DECREF(posix);
}

/* Take posix.chdir and posix.fchdir: 1 done, 0 not the functions or conventions this core
 * knows (left as they are: the race stays, as with the Python core). */
static int
seal_cwd_changes(void)
{
    static const char *const names[2] = {"chdir", "fchdir"};
    static const PyCFunction sealed[2][2] = {
        {(PyCFunction)(void (*)(void))chdir_sealed,
         (PyCFunction)(void (*)(void))chdir_sealed_positional},
        {(PyCFunction)(void (*)(void))fchdir_sealed,
         (PyCFunction)(void (*)(void))fchdir_sealed_positional}};
    PyMethodDef *defs[2];
    int keywords[2];
    posix_defs(names, defs, keywords);
    if (defs[0] == NULL || defs[1] == NULL) {
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        g_cwd_original[i] = (fastcall_any)(void (*)(void))defs[i]->ml_meth;
        g_cwd_keywords[i] = keywords[i];
        defs[i]->ml_meth = sealed[i][keywords[i] ? 0 : 1];
    }
    return 1;
}

/* os.mkfifo and os.mknod raise no audit event: each makes a name (a FIFO, a regular file, a
 * socket; a device node as root) wherever the process may write, whatever the profile says --
 * on Lambda, where seccomp does not load (it refuses mknodat), with nothing else in the way.
 * Held here, each raises os.mkfifo (path, mode, dir_fd) or os.mknod (path, mode, device,
 * dir_fd) before the original runs, the arguments as given, taken by position or name (the
 * decoder refuses a path that is not an exact str or bytes: CPython converts it again after
 * the event). */
static fastcall_any g_node_original[2];

static PyObject *
mkfifo_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (PySys_Audit("os.mkfifo", "OOO", argument_named(args, nargs, kwnames, 0, "path"),
                    argument_named(args, nargs, kwnames, 1, "mode"),
                    argument_named(args, nargs, kwnames, 99, "dir_fd")) < 0) {
        return NULL;
    }
    return g_node_original[0](module, args, nargs, kwnames);
}

static PyObject *
mknod_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (PySys_Audit("os.mknod", "OOOO", argument_named(args, nargs, kwnames, 0, "path"),
                    argument_named(args, nargs, kwnames, 1, "mode"),
                    argument_named(args, nargs, kwnames, 2, "device"),
                    argument_named(args, nargs, kwnames, 99, "dir_fd")) < 0) {
        return NULL;
    }
    return g_node_original[1](module, args, nargs, kwnames);
}

/* Take posix.mkfifo and posix.mknod, as seal_cwd_changes takes chdir: 1 done, 0 left. */
static int
seal_node_makers(void)
{
    static const char *const names[2] = {"mkfifo", "mknod"};
    /* (METH_FASTCALL | METH_KEYWORDS only: their path and dir_fd are found by name) */
    static const PyCFunction sealed[2] = {(PyCFunction)(void (*)(void))mkfifo_sealed,
                                          (PyCFunction)(void (*)(void))mknod_sealed};
    PyMethodDef *defs[2];
    int keywords[2];
    posix_defs(names, defs, keywords);
    int done = 0;
    for (int i = 0; i < 2; i++) {
        if (defs[i] != NULL && keywords[i]) {
            g_node_original[i] = (fastcall_any)(void (*)(void))defs[i]->ml_meth;
            defs[i]->ml_meth = sealed[i];
            done++;
        }
    }
    return done == 2;
}

/* Every posix function that takes a dir_fd, held (red team 116). The kernel resolves a
 * relative name from the directory the descriptor names when the system call runs; the
 * descriptor table changes with no audit event, and a call that changes it (os.dup2, a
 * close, a descriptor received over a Unix socket) may be in flight in another thread, its
 * GIL let go, whatever the hook holds. So the descriptor is not handed to the kernel at all:
 * the directory's name is read here, before the event (the descriptor's /proc/self/fd name,
 * which must lead to the very directory it is open on), the relative name joined to it, and
 * the original called with that absolute name and no dir_fd. Its event then names what the
 * kernel will resolve, and is decided as any absolute name is (a folder swapped for a link
 * in between is the race every name has: see docs/ARCHITECTURE.md). Where the descriptor
 * is on a directory with no such name (removed, a mount over it, too long with the name),
 * the call is left as it is (one not open, or not on a directory, gets the kernel's EBADF or
 * ENOTDIR here without the call: a folder landing on the number meanwhile would lead the name
 * there, red team 118) -- its decision reads the descriptor as
 * it was when it began and is refused if it changed by the end (pins_take; os.open's event
 * does not carry its dir_fd, so it is kept here for that) -- and the descriptor is held in use
 * until the call returns: os.dup2 onto it is refused meanwhile (dup2_sealed). So is a
 * descriptor given for a path (os.listdir(fd), os.fchmod...: the rest of this table). The
 * path is converted here (its __fspath__, or __index__ for a descriptor) once, as CPython
 * would, and the dir_fd by its __index__: nothing runs inside the original before its event. */
typedef struct {
    const char *name;
    /* (path parameter, its position, dir_fd parameter) for up to two names */
    struct {
        const char *path;
        int position;
        const char *dir_fd;
    } names[2];
    fastcall_any original;
    int keywords; /* (METH_FASTCALL | METH_KEYWORDS, or METH_FASTCALL: ftruncate's) */
} dir_fd_function;

static dir_fd_function g_dir_fd_functions[] = {
    {"open", {{"path", 0, "dir_fd"}, {NULL, 0, NULL}}, NULL, 0},
    {"mkdir", {{"path", 0, "dir_fd"}, {NULL, 0, NULL}}, NULL, 0},
    {"rmdir", {{"path", 0, "dir_fd"}, {NULL, 0, NULL}}, NULL, 0},
    {"unlink", {{"path", 0, "dir_fd"}, {NULL, 0, NULL}}, NULL, 0},
    {"remove", {{"path", 0, "dir_fd"}, {NULL, 0, NULL}}, NULL, 0},
    {"rename", {{"src", 0, "src_dir_fd"}, {"dst", 1, "dst_dir_fd"}}, NULL, 0},
    {"replace", {{"src", 0, "src_dir_fd"}, {"dst", 1, "dst_dir_fd"}}, NULL, 0},
    {"link", {{"src", 0, "src_dir_fd"}, {"dst", 1, "dst_dir_fd"}}, NULL, 0},
    {"symlink", {{"dst", 1, "dir_fd"}, {NULL, 0, NULL}}, NULL, 0},
    {"chmod", {{"path", 0, "dir_fd"}, {NULL, 0, NULL}}, NULL, 0},
    {"chown", {{"path", 0, "dir_fd"}, {NULL, 0, NULL}}, NULL, 0},
    {"utime", {{"path", 0, "dir_fd"}, {NULL, 0, NULL}}, NULL, 0},
    {"mkfifo", {{"path", 0, "dir_fd"}, {NULL, 0, NULL}}, NULL, 0},
    {"mknod", {{"path", 0, "dir_fd"}, {NULL, 0, NULL}}, NULL, 0},
    /* (a descriptor for a path, no dir_fd: only held in use) */
    {"listdir", {{"path", 0, NULL}, {NULL, 0, NULL}}, NULL, 0},
    {"scandir", {{"path", 0, NULL}, {NULL, 0, NULL}}, NULL, 0},
    {"truncate", {{"path", 0, NULL}, {NULL, 0, NULL}}, NULL, 0},
    {"ftruncate", {{"fd", 0, NULL}, {NULL, 0, NULL}}, NULL, 0},
    {"fchmod", {{"fd", 0, NULL}, {NULL, 0, NULL}}, NULL, 0},
    {"fchown", {{"fd", 0, NULL}, {NULL, 0, NULL}}, NULL, 0},
    {"getxattr", {{"path", 0, NULL}, {NULL, 0, NULL}}, NULL, 0},
    {"setxattr", {{"path", 0, NULL}, {NULL, 0, NULL}}, NULL, 0},
    {"removexattr", {{"path", 0, NULL}, {NULL, 0, NULL}}, NULL, 0},
    {"listxattr", {{"path", 0, NULL}, {NULL, 0, NULL}}, NULL, 0},
    {"execve", {{"path", 0, NULL}, {NULL, 0, NULL}}, NULL, 0},
};
#define DIR_FD_FUNCTIONS (sizeof g_dir_fd_functions / sizeof g_dir_fd_functions[0])

/* The index in the call's values of parameter `name` (positional at `position`, or keyword-
 * only when position < 0), or -1 when not given. */
static Py_ssize_t
argument_at(Py_ssize_t nargs, PyObject *kwnames, int position, const char *name)
{
    if (position >= 0 && position < nargs) {
        return position;
    }
    Py_ssize_t count = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        if (keyword_is(PyTuple_GET_ITEM(kwnames, k), name)) {
            return nargs + k;
        }
    }
    return -1;
}

/* The name of the directory `fd` is open on, when it leads to that very directory: 1 and
 * `place` (NUL-terminated, length `*n`); 0 for a directory with no such name (removed,
 * longer than PATH_MAX, or its name leads elsewhere -- a mount over it); else the errno the
 * kernel gives every relative name from it: EBADF (not open), ENOTDIR. */
static int
dir_fd_real_name(int fd, char *place, size_t *n)
{
    struct stat held, named;
    char link[32];
    if (fstat(fd, &held) != 0) {
        return EBADF;
    }
    if (!S_ISDIR(held.st_mode)) {
        return ENOTDIR;
    }
    if (held.st_nlink == 0) {
        return 0; /* (removed: the kernel still resolves ".." from it) */
    }
    /* A name kept for the directory, where an lstat of it now finds the very directory (not
     * a link): no readlink in /proc (shutil.rmtree removes a folder's entries through one
     * descriptor, which its listing named already). What makes the join safe is that the
     * original is handed the joined name, the name decided: wherever it leads, the call acts
     * where the decision looked. The lookup now keeps the call where the caller meant it,
     * even after a rename the core did not see (another process's); a kept lookup would not. */
    if (fd_name_kept(fd, &held, place, n) && lstat(place, &named) == 0 &&
        S_ISDIR(named.st_mode) && named.st_dev == held.st_dev && named.st_ino == held.st_ino) {
        return 1;
    }
    proc_fd_link(link, fd);
    ssize_t got = readlink(link, place, OPEN_PATH_MAX);
    if (got <= 0 || got >= OPEN_PATH_MAX || place[0] != '/') {
        return 0;
    }
    place[got] = '\0';
    if (stat(place, &named) != 0 || named.st_dev != held.st_dev || named.st_ino != held.st_ino) {
        return 0;
    }
    *n = (size_t)got;
    (void)fd_name_keep(fd, &held, place, *n); /* (the next join from it: no readlink) */
    return 1;
}

/* `path` (an exact str or bytes, relative, not empty) joined to the directory `fd` is open
 * on: a new reference; NULL with `*status` 0 when it cannot be (a directory with no name to
 * join to, or a joined name longer than PATH_MAX: left to the kernel), NULL with `*status`
 * the errno the kernel would give (dir_fd_real_name), NULL with `*status` -1 and an error. */
static PyObject *
joined_to_dir_fd(PyObject *path, int fd, int *status)
{
    char place[OPEN_PATH_MAX + 1];
    size_t n;
    int named = dir_fd_real_name(fd, place, &n);
    *status = named == 1 ? 0 : named;
    if (named != 1) {
        return NULL;
    }
    const size_t base = n == 1 ? 0 : n; /* ("/" joins as "/name") */
    PyObject *out;
    if (PyBytes_CheckExact(path)) {
        if ((size_t)PyBytes_GET_SIZE(path) + base + 1 >= OPEN_PATH_MAX) {
            return NULL;
        }
        out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)base + 1 + PyBytes_GET_SIZE(path));
        if (out != NULL) {
            char *to = PyBytes_AS_STRING(out);
            memcpy(to, place, base);
            to[base] = '/';
            memcpy(to + base + 1, PyBytes_AS_STRING(path), (size_t)PyBytes_GET_SIZE(path));
        }
    }
    else {
        place[base] = '/';
        PyObject *folder = PyUnicode_DecodeFSDefaultAndSize(place, (Py_ssize_t)base + 1);
        out = folder != NULL ? PyUnicode_Concat(folder, path) : NULL;
        Py_XDECREF(folder);
        if (out != NULL && PyUnicode_GET_LENGTH(out) * 4 >= OPEN_PATH_MAX) {
            /* (the kernel's limit is in bytes: measured so where characters may be several) */
            PyObject *bytes = PyUnicode_EncodeFSDefault(out);
            Py_ssize_t size = bytes != NULL ? PyBytes_GET_SIZE(bytes) : OPEN_PATH_MAX;
            Py_XDECREF(bytes);
            PyErr_Clear(); /* (a name no bytes stand for: the original's own error) */
            if (size >= OPEN_PATH_MAX) {
                Py_CLEAR(out); /* (longer than the kernel takes: left to it) */
                return NULL;
            }
        }
    }
    if (out == NULL) {
        *status = -1;
    }
    return out;
}

/* `value` as CPython's path converter reads a path argument, converted here where that runs
 * code (so that nothing runs inside the original before its event): its __fspath__, or its
 * __index__ (a descriptor). A new reference; NULL with the error. */
static PyObject *
path_converted(PyObject *value)
{
    if (PyUnicode_Check(value) || PyBytes_Check(value) || PyLong_Check(value) ||
        value == Py_None) {
        return Py_NewRef(value);
    }
    if (PyObject_HasAttrString((PyObject *)Py_TYPE(value), "__fspath__")) {
        return PyOS_FSPath(value);
    }
    if (PyIndex_Check(value)) {
        return PyNumber_Index(value);
    }
    return Py_NewRef(value); /* (the original's own TypeError) */
}

/* The OSError a call raised names the path as the caller gave it, not the name joined here
 * (its filename and filename2, where they are a joined name: by identity). */
static void
errors_name_as_given(PyObject *joined[2], PyObject *spelled[2])
{
    if (joined[0] == NULL && joined[1] == NULL) {
        return;
    }
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (value != NULL && PyObject_TypeCheck(value, (PyTypeObject *)PyExc_OSError)) {
        static const char *const fields[2] = {"filename", "filename2"};
        for (int k = 0; k < 2; k++) {
            PyObject *named = PyObject_GetAttrString(value, fields[k]);
            if (named == NULL) {
                PyErr_Clear();
                continue;
            }
            for (int p = 0; p < 2; p++) {
                if (joined[p] != NULL && named == joined[p] &&
                    PyObject_SetAttrString(value, fields[k], spelled[p]) < 0) {
                    PyErr_Clear();
                }
            }
            Py_DECREF(named);
        }
    }
    PyErr_Restore(type, value, traceback);
}

static PyObject *
dir_fd_call(size_t which, PyObject *module, PyObject *const *args, Py_ssize_t nargs,
            PyObject *kwnames)
{
    const dir_fd_function *f = &g_dir_fd_functions[which];
    const Py_ssize_t count = nargs + (kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0);
    /* (the common call -- names, no dir_fd -- goes straight on) */
    int held_here = 0;
    for (int p = 0; p < 2 && f->names[p].path != NULL; p++) {
        Py_ssize_t path_at = argument_at(nargs, kwnames, f->names[p].position, f->names[p].path);
        Py_ssize_t fd_at = f->names[p].dir_fd != NULL
                               ? argument_at(nargs, kwnames, -1, f->names[p].dir_fd)
                               : -1;
        held_here |= (fd_at >= 0 && args[fd_at] != Py_None) ||
                     (path_at >= 0 && !PyUnicode_Check(args[path_at]) &&
                      !PyBytes_Check(args[path_at]) && args[path_at] != Py_None);
    }
    if (!held_here || count > 16) {
        /* (its own errors past 16) */
        return call_fastcall(f->original, f->keywords, module, args, nargs, kwnames);
    }
    PyObject *given[16];
    for (Py_ssize_t i = 0; i < count; i++) {
        given[i] = Py_NewRef(args[i]);
    }
    int failed = 0, kept_fd = -1, used[4], n_used = 0;
    PyObject *joined[2] = {NULL, NULL}, *spelled[2] = {NULL, NULL}; /* (see below) */
    for (int p = 0; p < 2 && f->names[p].path != NULL && !failed; p++) {
        Py_ssize_t fd_at = f->names[p].dir_fd != NULL
                               ? argument_at(nargs, kwnames, -1, f->names[p].dir_fd)
                               : -1;
        Py_ssize_t path_at =
            argument_at(nargs, kwnames, f->names[p].position, f->names[p].path);
        if (path_at < 0) {
            continue;
        }
        PyObject *path = path_converted(given[path_at]);
        if (path == NULL) {
            failed = 1;
            break;
        }
        Py_SETREF(given[path_at], path);
        int number = descriptor_number(path);
        if (number >= 0) {
            used[n_used++] = number; /* a descriptor given for a path */
            continue;
        }
        if (fd_at < 0 || given[fd_at] == Py_None) {
            continue;
        }
        if (!PyLong_Check(given[fd_at])) {
            PyObject *converted = PyNumber_Index(given[fd_at]);
            if (converted == NULL) {
                failed = 1;
                break;
            }
            Py_SETREF(given[fd_at], converted);
        }
        int fd = descriptor_number(given[fd_at]);
        const int plain = PyUnicode_CheckExact(path) || PyBytes_CheckExact(path);
        if (fd < 0 || path_is_absolute(path) || (plain && PyObject_Length(path) == 0)) {
            continue; /* (the original's own answer: an error, the working directory, an
                       * absolute name, for which the kernel ignores the dir_fd, or the empty
                       * name, ENOENT whatever it names) */
        }
        int status = 0;
        PyObject *full = plain ? joined_to_dir_fd(path, fd, &status)
                               : NULL; /* (a str subclass: kept, as the decoder refuses it) */
        if (status < 0) {
            failed = 1;
            break;
        }
        if (status > 0) {
            /* The kernel's own answer, given here without the call: a descriptor that names
             * no directory now could name one by the system call (a descriptor landing on a
             * free number: red team 118), from which the name would lead elsewhere. */
            errno = status;
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
            failed = 1;
            break;
        }
        if (full == NULL) {
            kept_fd = fd; /* (left to the kernel: pinned by the decision, held in use) */
            used[n_used++] = fd;
            continue;
        }
        joined[p] = full;
        spelled[p] = Py_NewRef(path);
        Py_SETREF(given[path_at], Py_NewRef(full));
        Py_SETREF(given[fd_at], Py_NewRef(Py_None));
    }
    PyObject *result = NULL;
    if (!failed) {
        int counted[4];
        for (int i = 0; i < n_used; i++) {
            counted[i] = fd_use(used[i]);
        }
        const int outer_fd = t_open_dir_fd, outer_depth = t_open_depth;
        if (which == 0) { /* open: its event carries no dir_fd */
            t_open_dir_fd = kept_fd;
            t_open_depth = t_depth;
        }
        result = call_fastcall(f->original, f->keywords, module, given, nargs, kwnames);
        t_open_dir_fd = outer_fd;
        t_open_depth = outer_depth;
        for (int i = 0; i < n_used; i++) {
            if (counted[i]) {
                fd_unuse(used[i]);
            }
        }
        if (result == NULL) {
            errors_name_as_given(joined, spelled);
        }
    }
    for (int p = 0; p < 2; p++) {
        Py_XDECREF(joined[p]);
        Py_XDECREF(spelled[p]);
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_DECREF(given[i]);
    }
    return result;
}

#define DIR_FD_SEALED(i)                                                                     \
    static PyObject *dir_fd_sealed_##i(PyObject *module, PyObject *const *args,              \
                                       Py_ssize_t nargs, PyObject *kwnames)                  \
    {                                                                                        \
        return dir_fd_call(i, module, args, nargs, kwnames);                                 \
    }                                                                                        \
    static PyObject *dir_fd_sealed_positional_##i(PyObject *module, PyObject *const *args,   \
                                                  Py_ssize_t nargs)                          \
    {                                                                                        \
        return dir_fd_call(i, module, args, nargs, NULL);                                    \
    }
DIR_FD_SEALED(0)
DIR_FD_SEALED(1)
DIR_FD_SEALED(2)
DIR_FD_SEALED(3)
DIR_FD_SEALED(4)
DIR_FD_SEALED(5)
DIR_FD_SEALED(6)
DIR_FD_SEALED(7)
DIR_FD_SEALED(8)
DIR_FD_SEALED(9)
DIR_FD_SEALED(10)
DIR_FD_SEALED(11)
DIR_FD_SEALED(12)
DIR_FD_SEALED(13)
DIR_FD_SEALED(14)
DIR_FD_SEALED(15)
DIR_FD_SEALED(16)
DIR_FD_SEALED(17)
DIR_FD_SEALED(18)
DIR_FD_SEALED(19)
DIR_FD_SEALED(20)
DIR_FD_SEALED(21)
DIR_FD_SEALED(22)
DIR_FD_SEALED(23)
DIR_FD_SEALED(24)

#define DIR_FD_SEALED_PAIR(i)                                                                \
    {(PyCFunction)(void (*)(void))dir_fd_sealed_##i,                                         \
     (PyCFunction)(void (*)(void))dir_fd_sealed_positional_##i}

/* os.dup2, held: the one call that puts another file under a descriptor's number in one step
 * (no audit event), and its system call runs with the GIL let go -- it can land at any moment,
 * after a decision ended and before the call it allowed looks the descriptor up (a decision
 * on os.listdir(fd) or os.chmod(fd) answered, then another folder listed: red team 116's
 * race, for descriptors given for a path). Each call is counted when it begins and ends and
 * is "in flight" in between; an event whose call uses a descriptor is refused when a
 * dup2 of another thread's began, ended or ran while it was answered (core_hook). What stays
 * open: a close in flight followed by a new descriptor landing on the freed number (two
 * calls of other threads that must both fall in that instant); os.login_tty's dup2 onto
 * 0-2. */
static fastcall_any g_dup2_original;
static int g_dup2_keywords;

static PyObject *
dup2_sealed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *target = argument_named(args, nargs, kwnames, 1, "fd2");
    if (!PyLong_Check(target) && target != Py_None && PyIndex_Check(target)) {
        /* (its __index__, once, here: the number checked is the number the call gets) */
        PyObject *given[8];
        Py_ssize_t count = nargs + (kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0);
        if (count > 8) {
            return call_fastcall(g_dup2_original, g_dup2_keywords, module, args, nargs, kwnames);
        }
        PyObject *number = PyNumber_Index(target);
        if (number == NULL) {
            return NULL;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            given[i] = args[i] == target ? number : args[i];
        }
        PyObject *result = dup2_sealed(module, given, nargs, kwnames);
        Py_DECREF(number);
        return result;
    }
    int overflow = 0;
    long fd2 = PyLong_Check(target) ? PyLong_AsLongAndOverflow(target, &overflow) : -1;
    if (fd2 == -1 && PyErr_Occurred()) {
        PyErr_Clear();
    }
    if (!overflow && fd2 >= 0 && fd_in_use(fd2) && held_by_gone_thread(fd2)) {
        for (int j = 0; j < FDS_IN_USE; j++) {
            if (g_held_by[j].tid != 0 && g_held_by[j].fd == fd2) {
                g_held_by[j].tid = 0;
                fd_unuse((int)fd2); /* (its thread ended after the call it was held for) */
            }
        }
    }
    if (!overflow && fd2 >= 0 && fd_in_use(fd2)) {
        PyErr_Format(PyExc_PermissionError,
                     "lambda-sandbox: os.dup2 onto descriptor %ld refused (another call is "
                     "using it: its decision named what it names now)",
                     fd2);
        return NULL;
    }
    g_fd_swaps++;
    g_fd_swaps_in_flight++;
    t_fd_swaps_in_flight++;
    PyObject *result = call_fastcall(g_dup2_original, g_dup2_keywords, module, args, nargs, kwnames);
    t_fd_swaps_in_flight--;
    g_fd_swaps_in_flight--;
    g_fd_swaps++;
    return result;
}

static PyObject *
dup2_sealed_positional(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return dup2_sealed(module, args, nargs, NULL);
}

/* In a forked child only the thread that forked runs: the calls other threads had in flight
 * or in use never end there, and would refuse every later answer (or dup2) for good. */
static void
descriptors_after_fork(void)
{
    for (int i = 0; i < FDS_IN_USE; i++) {
        g_fds_in_use[i].count = 0; /* (the forking thread is in no held call: os.fork is not) */
        g_held_by[i].tid = 0;      /* (and the child's thread ids are new) */
    }
    t_held_n = 0;
    g_fd_swaps_in_flight = t_fd_swaps_in_flight;
    g_cwd_in_flight = t_cwd_in_flight;
}

/* Take posix.dup2: 1 done, 0 not of a convention known here. */
static int
seal_descriptor_swaps(void)
{
    static const char *const names[2] = {"dup2", "dup2"};
    PyMethodDef *defs[2];
    int keywords[2];
    posix_defs(names, defs, keywords);
    if (defs[0] == NULL || g_dup2_original != NULL) {
        return 0;
    }
    (void)pthread_atfork(NULL, NULL, descriptors_after_fork);
    g_dup2_original = (fastcall_any)(void (*)(void))defs[0]->ml_meth;
    g_dup2_keywords = keywords[0];
    defs[0]->ml_meth = keywords[0] ? (PyCFunction)(void (*)(void))dup2_sealed
                                   : (PyCFunction)(void (*)(void))dup2_sealed_positional;
    return 1;
}

/* Take the functions above (after seal_node_makers: mkfifo and mknod's event comes from it):
 * the count taken (each of the convention known here; the others are left as they are). */
static int
seal_dir_fd_takers(void)
{
    static const PyCFunction sealed[][2] = {
        DIR_FD_SEALED_PAIR(0),  DIR_FD_SEALED_PAIR(1),  DIR_FD_SEALED_PAIR(2),
        DIR_FD_SEALED_PAIR(3),  DIR_FD_SEALED_PAIR(4),  DIR_FD_SEALED_PAIR(5),
        DIR_FD_SEALED_PAIR(6),  DIR_FD_SEALED_PAIR(7),  DIR_FD_SEALED_PAIR(8),
        DIR_FD_SEALED_PAIR(9),  DIR_FD_SEALED_PAIR(10), DIR_FD_SEALED_PAIR(11),
        DIR_FD_SEALED_PAIR(12), DIR_FD_SEALED_PAIR(13), DIR_FD_SEALED_PAIR(14),
        DIR_FD_SEALED_PAIR(15), DIR_FD_SEALED_PAIR(16), DIR_FD_SEALED_PAIR(17),
        DIR_FD_SEALED_PAIR(18), DIR_FD_SEALED_PAIR(19), DIR_FD_SEALED_PAIR(20),
        DIR_FD_SEALED_PAIR(21), DIR_FD_SEALED_PAIR(22), DIR_FD_SEALED_PAIR(23),
        DIR_FD_SEALED_PAIR(24),
    };
    _Static_assert(sizeof sealed / sizeof sealed[0] == DIR_FD_FUNCTIONS, "one each");
    int done = 0;
    for (size_t i = 0; i < DIR_FD_FUNCTIONS; i++) {
        const char *names[2] = {g_dir_fd_functions[i].name, g_dir_fd_functions[i].name};
        PyMethodDef *defs[2];
        int keywords[2];
        posix_defs(names, defs, keywords);
        if (defs[0] != NULL && g_dir_fd_functions[i].original == NULL) {
            g_dir_fd_functions[i].original = (fastcall_any)(void (*)(void))defs[0]->ml_meth;
            g_dir_fd_functions[i].keywords = keywords[0];
            defs[0]->ml_meth = sealed[i][keywords[0] ? 0 : 1];
            done++;
        }
    }
    return done;
}

static PyObject *
core_seal_process_calls(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *chroot, *pidfd, *unshare, *setns, *targets;
    if (!PyArg_ParseTuple(args, "OOOOO!:seal_process_calls", &chroot, &pidfd, &unshare, &setns,
                          &PyTuple_Type, &targets)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(targets) != TARGET_CALLS) {
        PyErr_SetString(PyExc_TypeError, "seal_process_calls: targets is (setpriority,"
                                         " sched_setaffinity, sched_setscheduler, sched_setparam)");
        return NULL;
    }
    if (g_process_calls_sealed || g_installed) {
        return PyBool_FromLong(g_process_calls_sealed); /* once, and only while installing */
    }
    if (!announce_core_call("seal_process_calls")) {
        return NULL;
    }
    int chroot_keywords = 0, pidfd_keywords = 0;
    PyMethodDef *chroot_def = fastcall_def(chroot, "posix", "chroot", &chroot_keywords);
    PyMethodDef *pidfd_def = fastcall_def(pidfd, "_signal", "pidfd_send_signal", &pidfd_keywords);
    int unshare_keywords = 0, setns_keywords = 0;
    PyMethodDef *unshare_def = fastcall_def(unshare, "posix", "unshare", &unshare_keywords);
    PyMethodDef *setns_def = fastcall_def(setns, "posix", "setns", &setns_keywords);
    if ((chroot != Py_None && chroot_def == NULL) || (pidfd != Py_None && pidfd_def == NULL) ||
        (unshare != Py_None && (unshare_def == NULL || !unshare_keywords)) ||
        (setns != Py_None && (setns_def == NULL || !setns_keywords))) {
        Py_RETURN_FALSE; /* not the functions (or the conventions) this core knows */
    }
    static const PyCFunction target_sealed[TARGET_CALLS][2] = {
        {(PyCFunction)(void (*)(void))setpriority_sealed,
         (PyCFunction)(void (*)(void))setpriority_sealed_positional},
        {(PyCFunction)(void (*)(void))affinity_sealed,
         (PyCFunction)(void (*)(void))affinity_sealed_positional},
        {(PyCFunction)(void (*)(void))scheduler_sealed,
         (PyCFunction)(void (*)(void))scheduler_sealed_positional},
        {(PyCFunction)(void (*)(void))param_sealed,
         (PyCFunction)(void (*)(void))param_sealed_positional}};
    PyMethodDef *target_defs[TARGET_CALLS];
    int target_keywords[TARGET_CALLS];
    for (int i = 0; i < TARGET_CALLS; i++) {
        PyObject *function = PyTuple_GET_ITEM(targets, i);
        target_keywords[i] = 0;
        target_defs[i] = fastcall_def(function, "posix", g_target_names[i], &target_keywords[i]);
        if (function != Py_None && target_defs[i] == NULL) {
            Py_RETURN_FALSE;
        }
    }
    for (int i = 0; i < TARGET_CALLS; i++) {
        if (target_defs[i] != NULL) {
            g_target_original[i] = (fastcall_any)(void (*)(void))target_defs[i]->ml_meth;
            g_target_keywords[i] = target_keywords[i];
            target_defs[i]->ml_meth = target_sealed[i][target_keywords[i] ? 0 : 1];
        }
    }
    if (unshare_def != NULL) {
        g_unshare_original = (fastcall_any)(void (*)(void))unshare_def->ml_meth;
        g_unshare_keywords = unshare_keywords;
        unshare_def->ml_meth = (PyCFunction)(void (*)(void))unshare_sealed;
    }
    if (setns_def != NULL) {
        g_setns_original = (fastcall_any)(void (*)(void))setns_def->ml_meth;
        g_setns_keywords = setns_keywords;
        setns_def->ml_meth = (PyCFunction)(void (*)(void))setns_sealed;
    }
    if (chroot_def != NULL) {
        g_chroot_original = (fastcall_any)(void (*)(void))chroot_def->ml_meth;
        g_chroot_keywords = chroot_keywords;
        chroot_def->ml_meth = chroot_keywords ? (PyCFunction)(void (*)(void))chroot_sealed
                                              : (PyCFunction)(void (*)(void))chroot_sealed_positional;
    }
    if (pidfd_def != NULL) {
        g_pidfd_original = (fastcall_any)(void (*)(void))pidfd_def->ml_meth;
        g_pidfd_keywords = pidfd_keywords;
        pidfd_def->ml_meth = pidfd_keywords ? (PyCFunction)(void (*)(void))pidfd_sealed
                                            : (PyCFunction)(void (*)(void))pidfd_sealed_positional;
    }
    (void)seal_cwd_changes(); /* (left as they are when not of a shape known here) */
    (void)seal_node_makers();
    (void)seal_dir_fd_takers();
    (void)seal_descriptor_swaps();
    g_process_calls_sealed = 1;
    Py_RETURN_TRUE;
}

static PyObject *
core_fork_exec_sealed(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(g_fork_exec_sealed);
}

static PyObject *
core_hold(PyObject *self, PyObject *obj)
{
    (void)self;
    if (g_held == NULL) {
        g_held = PyList_New(0);
        if (g_held == NULL) {
            return NULL;
        }
    }
    if (PyList_Append(g_held, obj) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
core_inside(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(t_depth > 0);
}

static PyObject *
core_installed(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyBool_FromLong(g_installed);
}

/* The kernel layer's system calls (sandbox/runtime/kernel/__init__.py decides what to load and
 * reports each layer's status; these only make the calls). With the native core they are made
 * here, so that a cold start loads no _ctypes (~0.6 ms with the ctypes shim); the kernel
 * package's ctypes path (kernel/ctypes_calls.py) makes the same calls where the native core is
 * not the core. Each raises OSError
 * with the call's errno (PermissionError, ...) where the kernel refuses. Those that change the
 * process (no_new_privs, a seccomp filter, a Landlock ruleset and its restriction) act only
 * before install, like the seals above: once the function's code can run, a filter of its own
 * choosing (answering the core's own lookups with a made-up result) is not the sandbox's to
 * load. Arguments are exact ints and bytes only (no __index__ of the caller's). */
#ifndef PR_SET_NO_NEW_PRIVS
#define PR_SET_NO_NEW_PRIVS 38
#endif
#ifndef PR_SET_SECCOMP
#define PR_SET_SECCOMP 22
#endif
#define KERNEL_SECCOMP_MODE_FILTER 2
#define KERNEL_SECCOMP_SET_MODE_FILTER 1
#define KERNEL_SECCOMP_FILTER_FLAG_TSYNC 1
#define KERNEL_BPF_MAXINSNS 4096
#ifndef SYS_seccomp /* Linux 3.17+; headers older than that */
#if defined(__x86_64__)
#define SYS_seccomp 317
#elif defined(__aarch64__)
#define SYS_seccomp 277
#endif
#endif
/* The Landlock calls share the generic table's numbers (x86_64 and aarch64 alike), Linux 5.13+ */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#define KERNEL_LANDLOCK_CREATE_RULESET_VERSION 1U
#define KERNEL_LANDLOCK_RULE_PATH_BENEATH 1

typedef struct {
    unsigned short len;
    const void *filter; /* struct sock_filter[len], 8 bytes each */
} kernel_sock_fprog;

typedef struct {
    uint64_t handled_access_fs;
} kernel_ruleset_attr;

typedef struct __attribute__((packed)) {
    uint64_t allowed_access;
    int32_t parent_fd;
} kernel_path_beneath_attr;

/* No call that changes the process once the hook is in place. */
static int
kernel_before_install(const char *name)
{
    if (g_installed) {
        PyErr_Format(PyExc_PermissionError, "%s: only before install", name);
        return 0;
    }
    return announce_core_call(name);
}

/* An exact int in [low, high] into *out; TypeError or OverflowError otherwise. */
static int
kernel_int(PyObject *value, long long low, long long high, const char *what, long long *out)
{
    if (!PyLong_CheckExact(value)) {
        PyErr_Format(PyExc_TypeError, "%s: an int is needed", what);
        return 0;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        return 0;
    }
    if (overflow || v < low || v > high) {
        PyErr_Format(PyExc_OverflowError, "%s: out of range", what);
        return 0;
    }
    *out = v;
    return 1;
}

/* The program of an exact bytes object as the kernel's sock_fprog (pointing into the bytes: the
 * kernel copies the program during the call, the GIL is held and bytes cannot change). */
static int
kernel_fprog(PyObject *program, kernel_sock_fprog *fprog)
{
    if (!PyBytes_CheckExact(program)) {
        PyErr_SetString(PyExc_TypeError, "a BPF program as bytes is needed");
        return 0;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(program);
    if (size <= 0 || size % 8 != 0 || size / 8 > KERNEL_BPF_MAXINSNS) {
        PyErr_Format(PyExc_ValueError, "invalid BPF program (%zd bytes)", size);
        return 0;
    }
    fprog->len = (unsigned short)(size / 8);
    fprog->filter = PyBytes_AS_STRING(program);
    return 1;
}

/* A core dump is a file the kernel writes itself (core_pattern, in the crashing process's
 * working directory) when a signal ends the process: no system call of the process's, so no
 * audit event, could decide it (red team 129 made `core` outside the rules with fork and
 * SIGQUIT). Only the soft limit is lowered: a profile that learned a raise of it can still
 * make it, and the hard limit, which a process without CAP_SYS_RESOURCE cannot raise again,
 * stays the function's. Lowering only, so allowed at any time. The soft limit found (-1:
 * unlimited). */
static PyObject *
core_core_dumps_off(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    struct rlimit limit;
    if (getrlimit(RLIMIT_CORE, &limit) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    const rlim_t found = limit.rlim_cur;
    if (found != 0) {
        limit.rlim_cur = 0;
        if (setrlimit(RLIMIT_CORE, &limit) != 0) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    return PyLong_FromLongLong(found == RLIM_INFINITY ? -1LL : (long long)found);
}

static PyObject *
core_kernel_no_new_privs(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (!kernel_before_install("kernel_no_new_privs")) {
        return NULL;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *
core_kernel_seccomp(PyObject *self, PyObject *program)
{
    (void)self;
    kernel_sock_fprog fprog;
    if (!kernel_before_install("kernel_seccomp") || !kernel_fprog(program, &fprog)) {
        return NULL;
    }
#ifdef SYS_seccomp
    long ret = syscall(SYS_seccomp, (unsigned long)KERNEL_SECCOMP_SET_MODE_FILTER,
                       (unsigned long)KERNEL_SECCOMP_FILTER_FLAG_TSYNC, &fprog);
#else
    long ret = -1;
    errno = ENOSYS;
#endif
    if (ret < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(ret); /* 0, or the thread TSYNC could not synchronise */
}

static PyObject *
core_kernel_seccomp_prctl(PyObject *self, PyObject *program)
{
    (void)self;
    kernel_sock_fprog fprog;
    if (!kernel_before_install("kernel_seccomp_prctl") || !kernel_fprog(program, &fprog)) {
        return NULL;
    }
    if (prctl(PR_SET_SECCOMP, (unsigned long)KERNEL_SECCOMP_MODE_FILTER,
              (unsigned long)(uintptr_t)&fprog, 0UL, 0UL) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *
core_kernel_landlock_abi(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    long abi = syscall(SYS_landlock_create_ruleset, NULL, (size_t)0,
                       (unsigned long)KERNEL_LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(abi);
}

static PyObject *
core_kernel_landlock_create(PyObject *self, PyObject *handled)
{
    (void)self;
    long long access;
    if (!kernel_before_install("kernel_landlock_create") ||
        !kernel_int(handled, 0, LLONG_MAX, "handled", &access)) {
        return NULL;
    }
    kernel_ruleset_attr attr = {(uint64_t)access};
    long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0UL);
    if (fd < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *result = PyLong_FromLong(fd); /* close-on-exec: the kernel's own default */
    if (result == NULL) {
        close((int)fd);
    }
    return result;
}

static PyObject *
core_kernel_landlock_add_rule(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ruleset_obj, *parent_obj, *allowed_obj;
    long long ruleset, parent, allowed;
    if (!kernel_before_install("kernel_landlock_add_rule") ||
        !PyArg_UnpackTuple(args, "kernel_landlock_add_rule", 3, 3, &ruleset_obj, &parent_obj,
                           &allowed_obj) ||
        !kernel_int(ruleset_obj, 0, INT_MAX, "ruleset_fd", &ruleset) ||
        !kernel_int(parent_obj, 0, INT_MAX, "parent_fd", &parent) ||
        !kernel_int(allowed_obj, 0, LLONG_MAX, "allowed", &allowed)) {
        return NULL;
    }
    kernel_path_beneath_attr rule = {(uint64_t)allowed, (int32_t)parent};
    /* (every argument a full register: syscall() reads each as a long) */
    if (syscall(SYS_landlock_add_rule, (long)ruleset, (long)KERNEL_LANDLOCK_RULE_PATH_BENEATH,
                &rule, 0UL) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *
core_kernel_landlock_restrict(PyObject *self, PyObject *ruleset_obj)
{
    (void)self;
    long long ruleset;
    if (!kernel_before_install("kernel_landlock_restrict") ||
        !kernel_int(ruleset_obj, 0, INT_MAX, "ruleset_fd", &ruleset)) {
        return NULL;
    }
    if (syscall(SYS_landlock_restrict_self, (long)ruleset, 0UL) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------- */
/* SQLite's authorizer: the statements that are not an ATTACH answered in C                */
/*
 * SQLite asks a connection's authorizer at every step of every statement it prepares (about
 * twenty calls for a small job: a table made, rows inserted, a query); only SQLITE_ATTACH
 * (24) -- an ATTACH, or VACUUM INTO's internal one -- and SQLITE_PRAGMA (19: a pragma may
 * name the folder of SQLite's temporary files) need the sandbox. The callable made here
 * answers every other action SQLITE_OK (0) as the hook's sealed authorizer does, with no
 * Python frame, and hands those two (or anything that is not an exact int) to that authorizer
 * unchanged: what it returns or raises is the answer. It holds nothing but the authorizer
 * (its __self__), and nothing of the sandbox's runs for the other actions. */
#define SQLITE_ATTACH_ACTION 24
#define SQLITE_PRAGMA_ACTION 19
#define SQLITE_FUNCTION_ACTION 31

/* Whether a function a statement calls is fts3_tokenizer (any case): built with
 * SQLITE_ENABLE_FTS3_TOKENIZER (Debian's SQLite, others), it hands out a library address and
 * registers a tokenizer at any address SQLite then calls through -- native code from SQL (red
 * team 73 took the instruction pointer). Denied, as the hook's authorizer does. */
static int
sqlite_function_refused(PyObject *name)
{
    static const char refused[] = "fts3_tokenizer";
    return PyUnicode_CheckExact(name) && PyUnicode_IS_ASCII(name) &&
           (size_t)PyUnicode_GET_LENGTH(name) == sizeof(refused) - 1 &&
           strncasecmp((const char *)PyUnicode_DATA(name), refused, sizeof(refused) - 1) == 0;
}

/* Whether a PRAGMA is one the authorizer lets through at its first test: no value (a query),
 * or a name that is an exact ASCII str other than the two folder settings in any case
 * (sqlite_guard.FOLDER_PRAGMAS, compared after str.lower there). Anything else (a folder
 * pragma, a name that is not plain ASCII) goes to the authorizer. */
static int
sqlite_pragma_plain(PyObject *name, PyObject *value)
{
    if (value == Py_None) {
        return 1;
    }
    if (!PyUnicode_CheckExact(name) || !PyUnicode_IS_ASCII(name)) {
        return 0;
    }
    static const char *folders[] = {"temp_store_directory", "data_store_directory"};
    const char *text = (const char *)PyUnicode_DATA(name);
    size_t n = (size_t)PyUnicode_GET_LENGTH(name);
    for (size_t f = 0; f < sizeof(folders) / sizeof(folders[0]); f++) {
        if (n == strlen(folders[f]) && strncasecmp(text, folders[f], n) == 0) {
            return 0;
        }
    }
    return 1;
}

/* The connection (or cursor: t_statement_cursor) whose statement this thread is running, for
 * the authorizer (sqlite_callbacks_hold; its connection read only when an ATTACH is asked
 * about: statement_connection), set by the statement methods around the library's own call
 * (a statement run from inside another -- a function of the function's -- puts the outer one
 * back after). The method's self: alive for as long as the call runs. */
static CORE_TLS PyObject *t_statement_self;
static CORE_TLS int t_statement_cursor;
static const void *statement_connection(void);
/* Whether that statement was given parameters: binding them runs Python of the function's
 * (an adapter, a value's __conform__, a mapping's __getitem__) after the statement is
 * compiled -- the authorizer asked -- and before it runs (red team 74). */
static CORE_TLS int t_statement_parameters;
/* The Python frame running when that statement method was called (its caller's): at an
 * ATTACH's check it is still the current one, unless code of the function's was called from
 * inside the method (a Connection subclass's __call__, which the statement cache calls to
 * compile) -- code that would go on running after the check, in the window (red team 78 handed
 * over to another process from there). Compared by address only. */
static CORE_TLS const void *t_statement_frame;
/* What else SQLite asked the authorizer in that statement method's call, and of what kind the
 * call is: a plain ATTACH compiles with one question, SQLITE_ATTACH, and opens its file as its
 * step begins; a name or KEY that is an expression asks more -- a function before the check,
 * a subquery after it -- and runs at the step, before the open, for as long as the function
 * wants (red team 81 held the window open a second with a recursive query, the GIL let go,
 * while another thread woke a process that swapped the name). So in execute/executemany an
 * ATTACH is denied when the call asked anything before it, and anything asked after it is
 * denied (the statement is not compiled); in executescript, whose statements the core cannot
 * tell apart, an ATTACH is denied. A VACUUM INTO's own ATTACH comes at its step, with its
 * open at once: exempt. */
static CORE_TLS unsigned t_statement_asked;
static CORE_TLS int t_statement_script;
static CORE_TLS PyObject *t_statement_sql; /* (execute's, executemany's: borrowed) */
static CORE_TLS int t_attach_strict; /* a plain ATTACH armed in this call: nothing more asked */
static int sql_is_vacuum(PyObject *sql);
/* The C library's Connection call slot (what compiles a statement: the statement cache calls
 * the connection), taken at the first connection from the class that defines set_authorizer.
 * A connection whose class has another (a subclass's __call__, even one made of C callables
 * that push no frame: red team 80) compiles through code of the function's, whose own
 * references it drops in the window; an ATTACH there is denied. */
static ternaryfunc g_connection_call;
static PyObject *connection_of(PyObject *self, int cursor);

static int
compiled_by_the_library(void)
{
    PyObject *connection = connection_of(t_statement_self, t_statement_cursor);
    int plain = connection != NULL && g_connection_call != NULL &&
                Py_TYPE(connection)->tp_call == g_connection_call;
    Py_XDECREF(connection);
    return plain;
}

static inline const void *
current_frame(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030D0000
    return ts->current_frame;
#elif PY_VERSION_HEX >= 0x030B0000
    return ts->cframe->current_frame;
#else
    return ts->frame;
#endif
}
static int sqlite_callbacks_hold(const void *connection);
static int g_statements_sealed; /* (the statement methods taken: seal_sqlite, below) */

/* An ATTACH allowed, not yet run: from the authorizer's SQLITE_OK for it (enforce) to the end of
 * the statement method that runs it. SQLite compiles the statement, asks the authorizer, and
 * opens the file only when the statement runs; whatever Python of the function's runs between
 * -- parameters, callbacks and the application's authorizer are refused outright, but there is
 * more: a Connection subclass's __call__ (the statement cache calls the connection to compile),
 * a str subclass's __eq__ as the cache files the statement, a finalizer run by a collection or
 * by a cache entry let go, a weakref callback (red team 75) -- could make the allowed name lead
 * elsewhere (a link, a rename, a chdir). Each of those needs an audited call; while this
 * thread's ATTACH is armed, every event the core handles on it is refused (core_hook), but the
 * one the sandbox's own authorizer raises for a next statement's ATTACH or folder pragma
 * (`sandbox.sqlite` while t_in_sqlite_authorize: a signal handler that runs in there raises
 * others), and so is every statement method (statement_guard). The whole class, whatever runs
 * the code. (Both declared with
 * t_depth.) */

static int
enforcing(void)
{
    return g_mode != NULL && strcmp(g_mode, "enforce") == 0;
}

/* The sandbox's authorizer, its answer to an ATTACH arming the window above. */
static PyObject *
sqlite_authorize(PyObject *authorize, PyObject *const *args, Py_ssize_t nargs, int attach)
{
    /* Armed from before the decision (a statement method of the core's around it: its end
     * disarms), kept only if it allows: the authorizer is Python, and a signal handler runs
     * between its event and its return -- after the decision (red team 76). */
    int was_armed = t_attach_armed;
    int arming = attach && t_statement_self != NULL && enforcing();
    if (arming) {
        attach_arm(1);
    }
    int outer = t_in_sqlite_authorize;
    t_in_sqlite_authorize = 1;
    PyObject *answer = PyObject_Vectorcall(authorize, args, (size_t)nargs, NULL);
    t_in_sqlite_authorize = outer;
    if (arming && !(answer != NULL && PyLong_CheckExact(answer) && PyLong_AsLong(answer) == 0)) {
        attach_arm(was_armed);
    }
    else if (arming && !sql_is_vacuum(t_statement_sql)) {
        t_attach_strict = 1; /* (nothing more may be asked in this call: an expression) */
    }
    return answer;
}

static PyObject *
sqlite_filter_call(PyObject *authorize, PyObject *const *args, Py_ssize_t nargs)
{
    t_statement_asked++;
    if (t_attach_strict) {
        /* asked more after a plain ATTACH's check: its name or KEY is an expression (above) */
        int answer = sqlite_refusal("an ATTACH whose name or key is an expression run after "
                                    "its check");
        PyErr_Clear();
        if (answer != 0) {
            return PyLong_FromLong(1); /* SQLITE_DENY: the statement is not compiled */
        }
    }
    if (nargs >= 1 && PyLong_CheckExact(args[0])) {
        int overflow = 0;
        long action = PyLong_AsLongAndOverflow(args[0], &overflow);
        if (action == -1 && PyErr_Occurred()) {
            return NULL; /* (not reached: an exact int converts, or overflows) */
        }
        if (overflow == 0 && action == SQLITE_FUNCTION_ACTION && nargs >= 3) {
            return PyLong_FromLong(sqlite_function_refused(args[2]) ? 1 : 0); /* SQLITE_DENY */
        }
        if (overflow != 0 || (action != SQLITE_ATTACH_ACTION && action != SQLITE_PRAGMA_ACTION)) {
            return PyLong_FromLong(0); /* SQLITE_OK, as the authorizer answers those */
        }
        int expression = t_statement_self != NULL && !sql_is_vacuum(t_statement_sql) &&
                         (t_statement_script || t_statement_asked > 1);
        if (action == SQLITE_ATTACH_ACTION &&
            (t_statement_self == NULL
                 ? g_statements_sealed
                 : t_statement_parameters || sqlite_callbacks_hold(statement_connection()) ||
                       current_frame(PyThreadState_Get()) != t_statement_frame ||
                       !compiled_by_the_library() || expression)) {
            /* Python code of the function's that may run between this check and the open:
             * parameters to bind, or a connection with callables (sqlite_callbacks_mark); or
             * no statement method of the core's around it (the window above would have no
             * end: Connection.__call__ compiles a statement nothing runs). Reported; denied
             * in enforce (learn and alert: reported only, as every refusal). */
            const char *why =
                t_statement_self == NULL ? "an ATTACH compiled outside a statement"
                : t_statement_parameters ? "an ATTACH in a statement run with parameters"
                : t_statement_script && expression ? "an ATTACH in executescript"
                : expression ? "an ATTACH whose name or key is an expression"
                : current_frame(PyThreadState_Get()) != t_statement_frame ||
                        !compiled_by_the_library()
                    ? "an ATTACH compiled while code of the function's runs inside the statement"
                    : "an ATTACH on a connection with Python callables or an authorizer of its "
                      "own";
            int answer = sqlite_refusal(why);
            PyErr_Clear(); /* (SQLite's own error stands for the refusal) */
            return PyLong_FromLong(answer == 0 ? 0 : 1); /* SQLITE_OK / SQLITE_DENY */
        }
        if (action == SQLITE_ATTACH_ACTION && nargs >= 2 && sqlite_database_relative(args[1])) {
            /* SQLite opens it when the statement runs, the GIL let go: once allowed, no
             * other thread's chdir until this thread's next event (as for sqlite3.connect;
             * red team 74). (After the decision: its own event would end the hold.) */
            PyObject *answer = sqlite_authorize(authorize, args, nargs, 1);
            if (answer != NULL) {
                g_cwd_pinned_by = PyThread_get_thread_ident();
            }
            return answer;
        }
        if (action == SQLITE_PRAGMA_ACTION && nargs >= 3 && sqlite_pragma_plain(args[1], args[2])) {
            return PyLong_FromLong(0); /* a pragma that names no folder (the authorizer's test) */
        }
        return sqlite_authorize(authorize, args, nargs, action == SQLITE_ATTACH_ACTION);
    }
    return sqlite_authorize(authorize, args, nargs, 0);
}

static PyMethodDef sqlite_filter_def = {
    "sqlite_authorizer", (PyCFunction)(void (*)(void))sqlite_filter_call, METH_FASTCALL,
    "The sandbox's SQLite authorizer: SQLITE_OK for every action but SQLITE_ATTACH and"
    " SQLITE_PRAGMA (a pragma may name the folder of SQLite's temporary files)."};

/* The same authorizer put in SQLite itself (sqlite3_set_authorizer), where the library can be
 * reached: _sqlite3's own callback takes the GIL and builds five Python objects for each of
 * SQLite's questions (~1,000 instructions; about 40 questions for a small job), to hand them to
 * sqlite_filter_call, which answers all but three kinds of them in C. Here those answers need
 * no Python object and no GIL; an ATTACH, a PRAGMA, and anything asked after an armed ATTACH
 * (t_attach_strict) take the GIL and go to sqlite_filter_call as _sqlite3's callback would
 * hand them: (action, arg1, arg2, database, trigger), None for a NULL, its int answer or
 * SQLITE_DENY when it raises or answers anything else. Put on a connection only once the
 * C library's set_authorizer has installed the sandbox's authorizer on it (sqlite_set,
 * set_authorizer_done): that call says the connection is initialised and open, and any later
 * set_authorizer goes through the library again (chained, or the sandbox's: put back here).
 * No question is answered otherwise than sqlite_filter_call answers it; an exception of the
 * sandbox's is cleared, not printed (_sqlite3 prints it only when enable_callback_tracebacks
 * is on, a module state this core cannot read). Without the GIL for most questions, a
 * connection shared between threads (check_same_thread=False) no longer deadlocks on them:
 * SQLite asks its authorizer holding the connection's mutex. */
typedef int (*sqlite_auth_fn)(void *, int, const char *, const char *, const char *,
                              const char *);
typedef int (*sqlite_set_authorizer_fn)(void *, sqlite_auth_fn, void *);
static sqlite_set_authorizer_fn g_sqlite_set_authorizer; /* (vfs_guard_try: the library's) */
static void *(*g_sqlite_vfs_find)(const char *);
static unsigned long g_c_authorized; /* connections given sqlite_c_authorizer (the status) */

/* Whether a NUL-terminated `text` is `ascii` in any ASCII case (as SQLite compares names). */
static int
ascii_case_equal(const char *text, const char *ascii)
{
    for (; *ascii != '\0'; text++, ascii++) {
        char c = *text;
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != *ascii) {
            return 0;
        }
    }
    return *text == '\0';
}

static PyObject *
sqlite_text_or_none(const char *text)
{
    return text != NULL ? PyUnicode_FromString(text) : Py_NewRef(Py_None);
}

static int
sqlite_c_authorizer(void *unused, int action, const char *arg1, const char *arg2,
                    const char *database, const char *trigger)
{
    (void)unused;
    if (!t_attach_strict && action != SQLITE_ATTACH_ACTION && action != SQLITE_PRAGMA_ACTION) {
        t_statement_asked++; /* (sqlite_filter_call's count; this thread's own: no GIL) */
        if (action == SQLITE_FUNCTION_ACTION) {
            return arg2 != NULL && ascii_case_equal(arg2, "fts3_tokenizer") ? 1 : 0;
        }
        return 0; /* SQLITE_OK */
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    int answer = 1; /* SQLITE_DENY */
    PyObject *args[5] = {PyLong_FromLong(action), sqlite_text_or_none(arg1),
                         sqlite_text_or_none(arg2), sqlite_text_or_none(database),
                         sqlite_text_or_none(trigger)};
    int built = 1;
    for (int i = 0; i < 5; i++) {
        built = built && args[i] != NULL;
    }
    if (built && g_sqlite_authorizer != NULL) {
        PyObject *given = sqlite_filter_call(PyCFunction_GET_SELF(g_sqlite_authorizer), args, 5);
        if (given != NULL && PyLong_Check(given)) {
            int overflow = 0;
            long value = PyLong_AsLongAndOverflow(given, &overflow);
            if (overflow == 0 && value >= INT_MIN && value <= INT_MAX &&
                !(value == -1 && PyErr_Occurred())) {
                answer = (int)value;
            }
        }
        Py_XDECREF(given);
    }
    for (int i = 0; i < 5; i++) {
        Py_XDECREF(args[i]);
    }
    if (PyErr_Occurred()) {
        PyErr_Clear(); /* (a refusal is reported by the decision; SQLite's error stands for it) */
    }
    PyGILState_Release(gil);
    return answer;
}

/* Put sqlite_c_authorizer on `connection` (an initialised, open connection of the C library's
 * class, whose set_authorizer just installed the sandbox's authorizer), when its sqlite3
 * handle can be read: the first member after the object's header in _sqlite3's Connection on
 * 3.10-3.14, and checked to be one by its own first member, the VFS it runs on, which must be
 * SQLite's default one (any other: left as it is, _sqlite3's callback at work). */
static void
sqlite_c_authorizer_put(PyObject *connection)
{
#if PY_VERSION_HEX < 0x030F0000
    if (g_sqlite_set_authorizer == NULL || g_sqlite_vfs_find == NULL) {
        return;
    }
    void *db = *(void **)((char *)connection + sizeof(PyObject));
    void *vfs = g_sqlite_vfs_find(NULL);
    if (db == NULL || ((uintptr_t)db % sizeof(void *)) != 0 || vfs == NULL ||
        *(void **)db != vfs) {
        return;
    }
    if (g_sqlite_set_authorizer(db, sqlite_c_authorizer, NULL) == 0) {
        g_c_authorized++;
    }
#else
    (void)connection;
#endif
}

static PyObject *
core_sqlite_authorizer(PyObject *self, PyObject *authorize)
{
    (void)self;
    if (!PyCallable_Check(authorize)) {
        PyErr_SetString(PyExc_TypeError, "sqlite_authorizer: a callable is needed");
        return NULL;
    }
    return PyCFunction_New(&sqlite_filter_def, authorize);
}

/* ------------------------------------------------------------------------------------- */
/* SQLite connections guarded in C (seal_sqlite): sqlite_guard.py's work with no callback    */
/*
 * Every connection raises `sqlite3.connect/handle` from inside its __init__, when
 * set_authorizer is still refused; the authorizer is installed at the thread's next profile
 * event, by a one-shot profile function that then puts back the one that was there and hands
 * it the event. sqlite_guard.py does this in Python (two callbacks a connection, about 20 us
 * in a handler); here the same steps run in C, by the same rules:
 *   - the connection's class is read from its MRO: the first class named Connection that the
 *     C library made (static, or a heap type marked immutable), whose own dict holds the C
 *     method set_authorizer; a connection still inside __init__ is one whose total_changes
 *     getter (that class's own) refuses with a message naming __init__;
 *   - before any call into SQLite, its two exception classes the calls can raise
 *     (ProgrammingError, OperationalError: members of the connection) must be exact types whose
 *     classes up to the first built-in one define no creation or finalization code;
 *   - anything else -- classes changed, an odd descriptor, an odd exception -- goes to the
 *     callback, which decides (and reports) as the Python core does.
 * The profile function is a C function (what sys.getprofile() shows is the hook's sealed
 * trampoline, its object); it also puts back a C profiler (cProfile's), which the Python
 * core cannot. Its state is per thread, in C memory. */
#define SQLITE_MAX_EVENTS 100000 /* a connection never initialised stops costing anything */


static PyObject *
type_dict_ref(PyTypeObject *type)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyType_GetDict(type);
#else
    Py_XINCREF(type->tp_dict);
    return type->tp_dict;
#endif
}

/* `name` in a type's own dict (borrowed while the dict lives; NULL: absent or an error). The
 * keys of a type's dict are exact str: no code of anyone's runs in the lookup. */
static PyObject *
own_attribute(PyObject *dict, const char *name)
{
    if (dict == NULL || !PyDict_CheckExact(dict)) {
        return NULL;
    }
    /* The names are the callers' string literals: each is interned once and kept, by the
     * literal's address (making the str and interning it at every lookup was most of what a
     * SQLite connection's checks cost: ~20 lookups, ~1,000 instructions each). */
    static struct {
        const char *text;
        PyObject *key;
    } keys[16];
    PyObject *key = NULL;
    size_t i = 0;
    for (; i < sizeof(keys) / sizeof(keys[0]) && keys[i].text != NULL; i++) {
        if (keys[i].text == name) {
            key = keys[i].key;
            break;
        }
    }
    if (key == NULL) {
        key = PyUnicode_InternFromString(name);
        if (key == NULL) {
            PyErr_Clear();
            return NULL;
        }
        if (i < sizeof(keys) / sizeof(keys[0])) {
            keys[i].text = name;
            keys[i].key = key; /* (its reference, kept for the process's lifetime) */
        }
        else {
            PyObject *value = PyDict_GetItemWithError(dict, key);
            Py_DECREF(key);
            if (value == NULL) {
                PyErr_Clear();
            }
            return value;
        }
    }
    PyObject *value = PyDict_GetItemWithError(dict, key);
    if (value == NULL) {
        PyErr_Clear();
    }
    return value;
}

/* The C library's set_authorizer for `connection` (borrowed), or NULL: not a connection
 * (sqlite_guard._set_authorizer_of). */
static PyObject *
sqlite_set_authorizer_of(PyObject *connection)
{
    PyObject *mro = Py_TYPE(connection)->tp_mro;
    if (mro == NULL || !PyTuple_CheckExact(mro)) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        unsigned long flags = cls->tp_flags;
        if ((flags & Py_TPFLAGS_HEAPTYPE) && !(flags & Py_TPFLAGS_IMMUTABLETYPE)) {
            continue; /* a class of Python's */
        }
        const char *dot = strrchr(cls->tp_name, '.');
        if (strcmp(dot != NULL ? dot + 1 : cls->tp_name, "Connection") != 0) {
            continue;
        }
        PyObject *dict = type_dict_ref(cls);
        PyObject *method = own_attribute(dict, "set_authorizer");
        int found = method != NULL && Py_IS_TYPE(method, &PyMethodDescr_Type);
        Py_XDECREF(dict); /* (the class holds its dict, and the dict the method) */
        if (found) {
            return method;
        }
    }
    return NULL;
}

/* Connection.set_authorizer, sealed (red team 71's limit, closed in the native core): the C
 * library keeps one authorizer per connection, and set_authorizer -- no audit event -- would
 * let code that runs replace the sandbox's (None clears it from 3.11; any callable allows
 * every ATTACH). At the first connection's `sqlite3.connect/handle` event the core takes the
 * method's C function in its PyMethodDef (shared by every Connection class and every
 * instance of the C library's module: each call of the method, bound or not, reads it
 * there), so that whatever a call hands set_authorizer, the sandbox's authorizer stays first:
 *   - the sandbox's own authorizer (the core's and the Python guard's installs) passes as is;
 *   - None (3.11+: clear) installs the sandbox's alone; on 3.10, None is stored and denies
 *     every statement, which holds the line already, so it passes as is;
 *   - any other callable is chained with the sandbox's: the application's asked first, the
 *     sandbox's last (sqlite_chain_call), both must allow (an application's own authorizer
 *     keeps working);
 *   - anything else passes as is: odd arguments get the library's own TypeError, and what
 *     is not callable the library stores, to deny every statement then (as it always did).
 * The Python core cannot change a C method: there this stays a documented limit. */
static PyMethodDef *g_authorizer_def;  /* the sealed PyMethodDef, once sealed */
static PyCFunction g_authorizer_original; /* its C function before */

/* The application's authorizer first, the sandbox's last: SQLite compiles an ATTACH, asks
 * this, then opens the file when the statement runs; code of the application's run after the
 * sandbox's answer could change what the name leads to before that (red team 73's ATTACH
 * race, through the authorizer itself), while anything it changes before is what the
 * sandbox's answer is about. (A connection with an application's authorizer is also marked:
 * SQLite asks it again, about the ATTACH's own expressions, after the sandbox's answer; red
 * team 75.) The application's answer is read by value, as _sqlite3 reads it (an int
 * subclass's value: no code of its runs): SQLITE_DENY (1) and SQLITE_IGNORE (2) stand;
 * SQLITE_OK (0) goes on to the sandbox's, whose answer stands; anything else is SQLITE_DENY
 * -- never handed to SQLite as it came (`False` is an int whose value _sqlite3 takes for
 * SQLITE_OK: red team 75 skipped the sandbox's check with it). */
static PyObject *
sqlite_chain_call(PyObject *pair, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *verdict = PyObject_Vectorcall(PyTuple_GET_ITEM(pair, 1), args, (size_t)nargs, NULL);
    if (verdict == NULL) {
        return NULL; /* (SQLite denies a statement whose authorizer raised) */
    }
    long code = 1; /* SQLITE_DENY */
    if (PyLong_Check(verdict)) {
        int overflow = 0;
        code = PyLong_AsLongAndOverflow(verdict, &overflow);
        if (overflow != 0 || code < 0 || code > 2) {
            PyErr_Clear();
            code = 1;
        }
    }
    Py_DECREF(verdict);
    if (code != 0) {
        return PyLong_FromLong(code);
    }
    return PyObject_Vectorcall(PyTuple_GET_ITEM(pair, 0), args, (size_t)nargs, NULL);
}

static PyMethodDef sqlite_chain_def = {
    "sqlite_authorizer", (PyCFunction)(void (*)(void))sqlite_chain_call, METH_FASTCALL,
    "The sandbox's SQLite authorizer, then the application's where the sandbox's allows."};

/* What a call of set_authorizer hands the C library instead of `given`: a new reference, or
 * NULL (pass `given` as is; no exception set). */
static PyObject *
sqlite_authorizer_for(PyObject *given)
{
    if (!g_sqlite_sealed || g_sqlite_authorizer == NULL || given == g_sqlite_authorizer) {
        return NULL;
    }
    if (given == Py_None) {
#if PY_VERSION_HEX >= 0x030B0000
        return Py_NewRef(g_sqlite_authorizer);
#else
        return NULL; /* (3.10 stores None, which then denies everything) */
#endif
    }
    /* (what is not callable now is chained all the same: the library stores it, and its class
     * can gain a __call__ later -- red team 132 set one that allowed everything, in place of
     * the sandbox's; chained, a call that fails denies the statement, as the library's own
     * call of it would) */
    PyObject *pair = PyTuple_Pack(2, g_sqlite_authorizer, given);
    if (pair == NULL) {
        PyErr_Clear();
        return Py_NewRef(g_sqlite_authorizer); /* (out of memory: the sandbox's alone) */
    }
    PyObject *chained = PyCFunction_New(&sqlite_chain_def, pair);
    Py_DECREF(pair);
    if (chained == NULL) {
        PyErr_Clear();
        return Py_NewRef(g_sqlite_authorizer);
    }
    return chained;
}

/* The arguments of one call, with the authorizer replaced: 1 when `copy` holds them (and
 * *made the new reference in it), 0 to pass the call's own. One argument only, positional or
 * the keyword authorizer_callback; anything else goes to the library as it came. */
static int
sqlite_authorizer_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                       PyObject **copy, PyObject **made)
{
    *made = NULL;
    Py_ssize_t keywords = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nargs + keywords != 1) {
        return 0;
    }
    if (keywords == 1) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, 0);
        if (!keyword_is(key, "authorizer_callback")) {
            return 0;
        }
    }
    *made = sqlite_authorizer_for(args[0]);
    if (*made == NULL) {
        return 0;
    }
    copy[0] = *made;
    return 1;
}

static void sqlite_callbacks_mark(const void *connection);

/* After a call of set_authorizer: a connection given an authorizer of the application's (a
 * chained one) has Python of the function's run by SQLite, as a registered function has. */
static PyObject *
set_authorizer_done(PyObject *self, PyObject *made, PyObject *result)
{
    if (result != NULL && made != NULL && made != g_sqlite_authorizer) {
        sqlite_callbacks_mark(self);
    }
    else if (result != NULL && made == g_sqlite_authorizer && made != NULL) {
        sqlite_c_authorizer_put(self); /* (the sandbox's alone again: in SQLite itself) */
    }
    Py_XDECREF(made);
    return result;
}

static PyObject *
set_authorizer_sealed_plain(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    PyObject *copy[1], *made;
    int replaced = sqlite_authorizer_args(args, nargs, kwnames, copy, &made);
    PyObject *result = ((fastcall_keywords)(void (*)(void))g_authorizer_original)(
        self, replaced ? copy : args, nargs, kwnames);
    return set_authorizer_done(self, made, result);
}

#if PY_VERSION_HEX >= 0x030B0000
static PyObject *
set_authorizer_sealed_method(PyObject *self, PyTypeObject *cls, PyObject *const *args,
                             size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *copy[1], *made;
    int replaced = sqlite_authorizer_args(args, nargs, kwnames, copy, &made);
    /* (a copy has no slot before it: the offset flag goes with the caller's array) */
    PyObject *result = ((PyCMethod)(void (*)(void))g_authorizer_original)(
        self, cls, replaced ? copy : args, replaced ? (size_t)nargs : nargsf, kwnames);
    return set_authorizer_done(self, made, result);
}
#endif

/* Take set_authorizer's C function (`method`: the C library's method descriptor), once. A
 * PyMethodDef of a shape not known here is left as it is (the limit stays). */
static void
sqlite_seal_set_authorizer(PyObject *method)
{
    PyMethodDef *def = ((PyMethodDescrObject *)method)->d_method;
    if (g_authorizer_def != NULL || def == NULL) {
        return;
    }
    int flags = def->ml_flags & ~(METH_CLASS | METH_STATIC | METH_COEXIST);
#if PY_VERSION_HEX >= 0x030B0000
    if (flags == (METH_METHOD | METH_FASTCALL | METH_KEYWORDS)) {
        g_authorizer_original = def->ml_meth;
        def->ml_meth = (PyCFunction)(void (*)(void))set_authorizer_sealed_method;
        g_authorizer_def = def;
        return;
    }
#endif
    if (flags == (METH_FASTCALL | METH_KEYWORDS)) {
        g_authorizer_original = def->ml_meth;
        def->ml_meth = (PyCFunction)(void (*)(void))set_authorizer_sealed_plain;
        g_authorizer_def = def;
    }
}

/* SQLite statements run before the connection's authorizer is in place (native core). The
 * authorizer is installed at the creating thread's next profile event (set_authorizer is
 * refused inside __init__); C code calling C code raises none (`map(methodcaller("execute",
 * ...), map(sqlite3.connect, ...))`), and another thread may hold the connection meanwhile.
 * So every connection still waiting for its authorizer is also kept in one list for the
 * process, and the C functions that run statements -- Connection.execute, executemany,
 * executescript and cursor, Cursor.execute, executemany and executescript -- are taken in
 * their PyMethodDefs at the first connection, as set_authorizer is: a call on a connection
 * (or a cursor of one) in that list installs its authorizer first. A call on any other
 * connection costs one test of the list's length. The Cursor class is the C library's own
 * (found from the module's `Cursor` through its MRO: a class the module made, immutable);
 * when the module's `Cursor` leads to no such class (the function changed sqlite3 before its
 * first connection), the connection is refused. A method of a shape not known here leaves all
 * of them as they are (the window stays, as with the Python core). */
static PyObject *g_sqlite_unguarded; /* list: connections waiting for their authorizer */
static PyObject *g_cursor_connection; /* the C Cursor class's `connection` member descriptor */
static int g_statements_sealed;

enum {
    ST_CONNECTION_EXECUTE,
    ST_CONNECTION_EXECUTEMANY,
    ST_CONNECTION_EXECUTESCRIPT,
    ST_CONNECTION_CURSOR,
    ST_CURSOR_EXECUTE,
    ST_CURSOR_EXECUTEMANY,
    ST_CURSOR_EXECUTESCRIPT,
    ST_COUNT
};
static const char *const g_statement_names[ST_COUNT] = {
    "execute", "executemany", "executescript", "cursor", "execute", "executemany", "executescript"};
static PyCFunction g_statement_original[ST_COUNT];

static Py_ssize_t
unguarded_index(PyObject *connection)
{
    if (g_sqlite_unguarded == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(g_sqlite_unguarded); i++) {
        if (PyList_GET_ITEM(g_sqlite_unguarded, i) == connection) {
            return i;
        }
    }
    return -1;
}

static int
unguarded_add(PyObject *connection)
{
    if (g_sqlite_unguarded == NULL) {
        g_sqlite_unguarded = PyList_New(0);
        if (g_sqlite_unguarded == NULL) {
            return -1;
        }
    }
    return unguarded_index(connection) >= 0 ? 0 : PyList_Append(g_sqlite_unguarded, connection);
}

/* (callers hold their own reference: no finalizer runs here) */
static void
unguarded_remove(PyObject *connection)
{
    Py_ssize_t at = unguarded_index(connection);
    if (at >= 0 && PyList_SetSlice(g_sqlite_unguarded, at, at + 1, NULL) < 0) {
        PyErr_Clear();
    }
}

static int sqlite_set(PyObject *connection);

/* Before a statement on `connection` (a new reference or NULL): 0 go on, -1 refused. */
static int
sqlite_guard_statement(PyObject *connection)
{
    if (connection == NULL || unguarded_index(connection) < 0) {
        return 0;
    }
    int collecting = PyGC_Disable(); /* (no gc.callbacks between a check and its use) */
    int outcome = sqlite_set(connection);
    if (collecting) {
        PyGC_Enable();
    }
    if (outcome == 1) {
        unguarded_remove(connection);
        return 0;
    }
    if (outcome == -2) {
        /* SQLite's classes were changed: the callback decides it as at the profile event
         * (refused, reported) */
        PyObject *event_args = PyTuple_Pack(1, connection);
        if (event_args == NULL || decide("sqlite3.connect/handle", event_args) == 0) {
            PyErr_SetString(PyExc_PermissionError,
                            "lambda-sandbox: SQLite's exception classes were changed");
        }
        Py_XDECREF(event_args);
        return -1;
    }
    /* still inside __init__, closed, or another thread's (check_same_thread): the library
     * refuses the statement itself, for the same reason */
    return 0;
}


/* The connection of a statement method's self (a new reference), or NULL: a cursor's, read
 * from the C Cursor class's own member (the descriptor checked self's type before the call;
 * NULL when the cursor was never initialised: the library refuses the statement itself). */
static PyObject *
connection_of(PyObject *self, int cursor)
{
    if (!cursor) {
        return Py_NewRef(self);
    }
    PyObject *connection = PyMember_GetOne(
        (const char *)self, ((PyMemberDescrObject *)g_cursor_connection)->d_member);
    if (connection == NULL) {
        PyErr_Clear();
    }
    return connection;
}

/* The running statement's connection, by address (the cursor holds it while the call runs). */
static const void *
statement_connection(void)
{
    PyObject *connection = connection_of(t_statement_self, t_statement_cursor);
    Py_XDECREF(connection);
    return connection;
}

typedef struct {
    PyObject *self;
    int cursor;
    int parameters;
    int armed;
    const void *frame;
    unsigned asked;
    int script, strict;
    PyObject *sql;
} statement_context;

/* A set of SQLite connections kept by address (up to CONNECTION_SET_SLOTS; past that it is
 * "overflowed" for good and holds every connection: the safe side for both of its uses). A
 * connection made later at the address of one that is gone is taken off at its
 * sqlite3.connect/handle event, while it is inside __init__ (sqlite_handle_answered). */
#define CONNECTION_SET_SLOTS 64
typedef struct {
    const void *slots[CONNECTION_SET_SLOTS];
    size_t count;
    int overflow;
} connection_set;

static void
connection_set_add(connection_set *set, const void *connection)
{
    for (size_t i = 0; i < set->count; i++) {
        if (set->slots[i] == connection) {
            return;
        }
    }
    if (set->count == CONNECTION_SET_SLOTS) {
        set->overflow = 1; /* (sticky) */
        return;
    }
    set->slots[set->count++] = connection;
}

static void
connection_set_forget(connection_set *set, const void *connection)
{
    for (size_t i = 0; i < set->count; i++) {
        if (set->slots[i] == connection) {
            set->slots[i] = set->slots[--set->count];
            return;
        }
    }
}

static int
connection_set_has(const connection_set *set, const void *connection)
{
    if (set->overflow) {
        return 1;
    }
    for (size_t i = 0; i < set->count; i++) {
        if (set->slots[i] == connection) {
            return 1;
        }
    }
    return 0;
}

/* Connections on which a call that ran an allowed ATTACH failed (red team 75): when the open
 * fails (the name a folder for now, no descriptor left) SQLite stops before the statement
 * expires itself, so the compiled ATTACH stays in the connection's statement cache, and the
 * same SQL text runs it again with no authorizer call -- after the name became a link, or the
 * working directory changed. Such a connection runs no further statement (a new one is
 * needed); past the set's slots, no statement runs at all. */
static connection_set g_failed_attach;

static void
failed_attach_mark(PyObject *self, int cursor)
{
    PyObject *connection = connection_of(self, cursor);
    Py_XDECREF(connection); /* (its address only) */
    if (connection == NULL) {
        g_failed_attach.overflow = 1; /* (no connection to name: every one) */
        return;
    }
    connection_set_add(&g_failed_attach, connection);
}

/* 0: the statement may run; -1: refused (an exception set). Free while no ATTACH failed. */
static int
failed_attach_refuses(PyObject *self, int cursor)
{
    if (g_failed_attach.count == 0 && !g_failed_attach.overflow) {
        return 0;
    }
    PyObject *connection = connection_of(self, cursor);
    int refused = connection_set_has(&g_failed_attach, connection);
    Py_XDECREF(connection);
    if (refused &&
        sqlite_refusal("a statement on a connection whose ATTACH failed (SQLite would run the "
                       "compiled ATTACH again unchecked: a new connection is needed)") == 0) {
        PyErr_SetString(PyExc_PermissionError,
                        "lambda-sandbox: an ATTACH failed on this SQLite connection, and SQLite "
                        "would run its compiled statement again unchecked: the connection runs "
                        "no further statement (open a new one)");
    }
    return refused ? -1 : 0;
}

static int
statement_guard(PyObject *self, int cursor, Py_ssize_t nargs, statement_context *saved,
                int cached, PyObject *sql)
{
    saved->asked = t_statement_asked;
    saved->script = t_statement_script;
    saved->sql = t_statement_sql;
    saved->strict = t_attach_strict;
    saved->self = t_statement_self;
    saved->cursor = t_statement_cursor;
    saved->parameters = t_statement_parameters;
    saved->armed = t_attach_armed;
    saved->frame = t_statement_frame;
    if (t_attach_armed) {
        /* Python of the function's inside another statement's ATTACH window (nothing else
         * runs there): a statement method raises no event, and a failed ATTACH run from in
         * there would have no call of its own to leave its connection refused (red team 76) */
        if (sqlite_refusal("a statement between an ATTACH's check and its open") == 0) {
            PyErr_SetString(PyExc_PermissionError,
                            "lambda-sandbox: no SQLite statement between an ATTACH's check and "
                            "its open");
        }
        return -1;
    }
    if (failed_attach_refuses(self, cursor) < 0) {
        return -1;
    }
    if (g_sqlite_unguarded != NULL && PyList_GET_SIZE(g_sqlite_unguarded) > 0) {
        PyObject *connection = connection_of(self, cursor);
        int answer = sqlite_guard_statement(connection);
        Py_XDECREF(connection);
        if (answer < 0) {
            return -1;
        }
    }
    t_statement_self = self;
    t_statement_asked = 0;
    t_statement_script = !cached;
    t_statement_sql = cached ? sql : NULL; /* (a script may hold anything after a VACUUM) */
    t_attach_strict = 0;
    t_statement_frame = current_frame(PyThreadState_Get());
    t_statement_cursor = cursor;
    /* (execute's and executemany's second argument: parameters to bind) */
    t_statement_parameters = nargs >= 2;
    return 0;
}

/* Whether a statement's text is a VACUUM (VACUUM INTO's own ATTACH is compiled afresh, and
 * asked about, each time the statement runs: nothing to replay). Anything else -- a comment
 * first, not an exact str -- is not. */
static int
sql_is_vacuum(PyObject *sql)
{
    static const char vacuum[] = "vacuum";
    const size_t n = sizeof(vacuum) - 1;
    if (sql == NULL || !PyUnicode_CheckExact(sql) || !PyUnicode_IS_ASCII(sql)) {
        return 0;
    }
    const char *text = (const char *)PyUnicode_DATA(sql);
    size_t length = (size_t)PyUnicode_GET_LENGTH(sql), at = 0;
    while (at < length && (text[at] == ' ' || (text[at] >= '\t' && text[at] <= '\r'))) {
        at++;
    }
    return length - at >= n && strncasecmp(text + at, vacuum, n) == 0 &&
           (length - at == n || !(Py_ISALNUM(text[at + n]) || text[at + n] == '_'));
}

/* After the library's call (`result` its answer): an ATTACH this call armed is disarmed (the
 * statement has run), and a failed call that armed one leaves its connection refused -- where
 * the statement went through the statement cache (execute, executemany: executescript compiles
 * each statement afresh) and is not a VACUUM. */
static PyObject *
statement_restore(const statement_context *saved, PyObject *result, int cached, PyObject *sql)
{
    if (t_attach_armed && !saved->armed && result == NULL && cached && !sql_is_vacuum(sql)) {
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        failed_attach_mark(t_statement_self, t_statement_cursor);
        PyErr_Restore(type, value, traceback);
    }
    attach_arm(saved->armed);
    t_statement_asked = saved->asked;
    t_statement_script = saved->script;
    t_statement_sql = saved->sql;
    t_attach_strict = saved->strict;
    t_statement_frame = saved->frame;
    t_statement_self = saved->self;
    t_statement_cursor = saved->cursor;
    t_statement_parameters = saved->parameters;
    return result;
}

/* The arguments a statement method hands the library: a str subclass's text given as the SQL
 * becomes an exact str of the same text (no code of its runs: _PyUnicode_Copy). The library
 * keys its statement cache with the SQL, and evicts the oldest entry only after it compiled
 * the new statement -- between an ATTACH's check and its open: the last reference to an
 * evicted key is dropped there, and a subclass instance's fields can hold objects whose C
 * cleanup does what the function wants (a pipe's file closed, waking a process that swaps the
 * name: red team 79). With exact str keys only, an eviction frees a str and a statement. */
#define STATEMENT_STACK 8
typedef struct {
    PyObject *stack[STATEMENT_STACK];
    PyObject **heap;
    PyObject *made;
    PyObject *const *use;
} statement_args;

/* 0 (out->use: the arguments to pass) or -1 (an exception set). */
static int
statement_args_make(PyObject *const *args, Py_ssize_t total, statement_args *out)
{
    out->heap = NULL;
    out->made = NULL;
    out->use = args;
    if (total < 1 || !PyUnicode_Check(args[0]) || PyUnicode_CheckExact(args[0])) {
        return 0;
    }
    out->made = PyUnicode_FromObject(args[0]); /* (an exact copy of a subclass's text) */
    if (out->made == NULL) {
        return -1;
    }
    PyObject **slots = out->stack;
    if (total > STATEMENT_STACK) {
        slots = out->heap = PyMem_Malloc((size_t)total * sizeof(PyObject *));
        if (slots == NULL) {
            Py_CLEAR(out->made);
            PyErr_NoMemory();
            return -1;
        }
    }
    slots[0] = out->made;
    for (Py_ssize_t i = 1; i < total; i++) {
        slots[i] = args[i];
    }
    out->use = slots;
    return 0;
}

static void
statement_args_free(statement_args *made)
{
    Py_XDECREF(made->made);
    PyMem_Free(made->heap);
}

#define STATEMENT_WRAPPERS(I, CURSOR, CACHED)                                                   \
    static PyObject *statement_o_##I(PyObject *self, PyObject *arg)                             \
    {                                                                                           \
        statement_context saved;                                                                \
        statement_args given;                                                                   \
        if (statement_args_make(&arg, 1, &given) < 0) {                                         \
            return NULL;                                                                        \
        }                                                                                       \
        if (statement_guard(self, CURSOR, 0, &saved, CACHED, given.use[0]) < 0) {               \
            statement_args_free(&given);                                                        \
            return NULL;                                                                        \
        }                                                                                       \
        PyObject *result = g_statement_original[I](self, given.use[0]);                         \
        result = statement_restore(&saved, result, CACHED, given.use[0]);                       \
        statement_args_free(&given);                                                            \
        return result;                                                                          \
    }                                                                                           \
    static PyObject *statement_fast_##I(PyObject *self, PyObject *const *args, Py_ssize_t n)    \
    {                                                                                           \
        statement_context saved;                                                                \
        statement_args given;                                                                   \
        if (statement_args_make(args, n, &given) < 0) {                                         \
            return NULL;                                                                        \
        }                                                                                       \
        if (statement_guard(self, CURSOR, n, &saved, CACHED, n >= 1 ? given.use[0] : NULL) < 0) { \
            statement_args_free(&given);                                                        \
            return NULL;                                                                        \
        }                                                                                       \
        PyObject *result =                                                                      \
            ((fastcall_plain)(void (*)(void))g_statement_original[I])(self, given.use, n);      \
        result = statement_restore(&saved, result, CACHED, n >= 1 ? given.use[0] : NULL);       \
        statement_args_free(&given);                                                            \
        return result;                                                                          \
    }                                                                                           \
    static PyObject *statement_keywords_##I(PyObject *self, PyObject *const *args,              \
                                            Py_ssize_t n, PyObject *kwnames)                    \
    {                                                                                           \
        statement_context saved;                                                                \
        statement_args given;                                                                   \
        Py_ssize_t total = n + (kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0);               \
        if (statement_args_make(args, n >= 1 ? total : 0, &given) < 0) {                        \
            return NULL;                                                                        \
        }                                                                                       \
        if (statement_guard(self, CURSOR, total, &saved, CACHED,                                \
                            n >= 1 ? given.use[0] : NULL) < 0) {                                \
            statement_args_free(&given);                                                        \
            return NULL;                                                                        \
        }                                                                                       \
        PyObject *result = ((fastcall_keywords)(void (*)(void))g_statement_original[I])(        \
            self, given.use, n, kwnames);                                                       \
        result = statement_restore(&saved, result, CACHED, n >= 1 ? given.use[0] : NULL);       \
        statement_args_free(&given);                                                            \
        return result;                                                                          \
    }

/* (method index, on a cursor, runs its statements through the statement cache) */
STATEMENT_WRAPPERS(0, 0, 1)
STATEMENT_WRAPPERS(1, 0, 1)
STATEMENT_WRAPPERS(2, 0, 0)
STATEMENT_WRAPPERS(3, 0, 0)
STATEMENT_WRAPPERS(4, 1, 1)
STATEMENT_WRAPPERS(5, 1, 1)
STATEMENT_WRAPPERS(6, 1, 0)

#define STATEMENT_ROW(I)                                                                       \
    {(PyCFunction)statement_o_##I, (PyCFunction)(void (*)(void))statement_fast_##I,            \
     (PyCFunction)(void (*)(void))statement_keywords_##I}
/* [method][0: METH_O, 1: METH_FASTCALL, 2: METH_FASTCALL | METH_KEYWORDS] */
static const PyCFunction g_statement_sealed[ST_COUNT][3] = {
    STATEMENT_ROW(0), STATEMENT_ROW(1), STATEMENT_ROW(2), STATEMENT_ROW(3),
    STATEMENT_ROW(4), STATEMENT_ROW(5), STATEMENT_ROW(6)};

static int
statement_shape(const PyMethodDef *def)
{
    switch (def->ml_flags & ~METH_COEXIST) {
    case METH_O:
        return 0;
    case METH_FASTCALL:
        return 1;
    case METH_FASTCALL | METH_KEYWORDS:
        return 2;
    default:
        return -1;
    }
}

/* The C library's Cursor class for the module that made `connection_class` (borrowed), or
 * NULL: the module's `Cursor` leads to none. */
static PyTypeObject *
sqlite_cursor_class(PyTypeObject *connection_class)
{
    PyObject *module = PyType_GetModule(connection_class);
    if (module == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *named = own_attribute(PyModule_GetDict(module), "Cursor");
    if (named == NULL || !PyType_Check(named)) {
        return NULL;
    }
    PyObject *mro = ((PyTypeObject *)named)->tp_mro;
    for (Py_ssize_t i = 0; mro != NULL && PyTuple_CheckExact(mro) && i < PyTuple_GET_SIZE(mro);
         i++) {
        PyTypeObject *klass = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        unsigned long flags = klass->tp_flags;
        if (!(flags & Py_TPFLAGS_HEAPTYPE) || !(flags & Py_TPFLAGS_IMMUTABLETYPE)) {
            continue; /* (a class of Python's, or a static one no module made) */
        }
        const char *dot = strrchr(klass->tp_name, '.');
        if (strcmp(dot != NULL ? dot + 1 : klass->tp_name, "Cursor") != 0) {
            continue;
        }
        PyObject *maker = PyType_GetModule(klass);
        if (maker == NULL) {
            PyErr_Clear();
            continue;
        }
        if (maker == module) {
            return klass;
        }
    }
    return NULL;
}

/* Python code of the function's run by SQLite between an ATTACH's check and its open (red team
 * 73): SQLite asks the authorizer about an ATTACH's file while it compiles the statement and
 * opens the file when the statement runs; the schema name and KEY are expressions evaluated
 * just before (`ATTACH 'allowed.db' AS f()`: a function of the function's swaps the name for
 * a link, or changes the working directory), and a progress handler or a trace callback runs
 * as the statement starts. So once any Python callable is registered on a connection -- a
 * function, aggregate, window function or collation, a progress handler, a trace callback --
 * ATTACH (and VACUUM INTO's) is denied on it (sqlite_filter_call). The methods that register
 * them are taken at the first connection like the statement methods; connections are kept by
 * address (a connection made later at the same address is taken off at its
 * sqlite3.connect/handle event), up to CONNECTION_SET_SLOTS, past which every ATTACH of a
 * statement the core sees is denied. A progress handler or trace callback cleared (None)
 * leaves its connection marked: what else was registered there is not tracked (the safe
 * side). */
static connection_set g_sqlite_callbacks;

static void
sqlite_callbacks_mark(const void *connection)
{
    connection_set_add(&g_sqlite_callbacks, connection);
}

static int
sqlite_callbacks_hold(const void *connection)
{
    return connection_set_has(&g_sqlite_callbacks, connection);
}

enum { RG_FUNCTION, RG_AGGREGATE, RG_WINDOW, RG_COLLATION, RG_PROGRESS, RG_TRACE, RG_COUNT };
static const char *const g_registrar_names[RG_COUNT] = {
    "create_function",  "create_aggregate",     "create_window_function",
    "create_collation", "set_progress_handler", "set_trace_callback"};
static PyCFunction g_registrar_original[RG_COUNT];

#define REGISTRAR_WRAPPERS(I)                                                                  \
    static PyObject *registrar_fast_##I(PyObject *self, PyObject *const *args, Py_ssize_t n)   \
    {                                                                                          \
        PyObject *result =                                                                     \
            ((fastcall_plain)(void (*)(void))g_registrar_original[I])(self, args, n);          \
        if (result != NULL) {                                                                  \
            sqlite_callbacks_mark(self);                                                       \
        }                                                                                      \
        return result;                                                                         \
    }                                                                                          \
    static PyObject *registrar_keywords_##I(PyObject *self, PyObject *const *args,             \
                                            Py_ssize_t n, PyObject *kwnames)                   \
    {                                                                                          \
        PyObject *result = ((fastcall_keywords)(void (*)(void))g_registrar_original[I])(       \
            self, args, n, kwnames);                                                           \
        if (result != NULL) {                                                                  \
            sqlite_callbacks_mark(self);                                                       \
        }                                                                                      \
        return result;                                                                         \
    }                                                                                          \
    REGISTRAR_METHOD(I)

#if PY_VERSION_HEX >= 0x030B0000
#define REGISTRAR_METHOD(I)                                                                    \
    static PyObject *registrar_method_##I(PyObject *self, PyTypeObject *cls,                   \
                                          PyObject *const *args, size_t nargsf,                \
                                          PyObject *kwnames)                                   \
    {                                                                                          \
        PyObject *result = ((PyCMethod)(void (*)(void))g_registrar_original[I])(               \
            self, cls, args, nargsf, kwnames);                                                 \
        if (result != NULL) {                                                                  \
            sqlite_callbacks_mark(self);                                                       \
        }                                                                                      \
        return result;                                                                         \
    }
#define REGISTRAR_METHOD_CELL(I) (PyCFunction)(void (*)(void))registrar_method_##I
#else
#define REGISTRAR_METHOD(I)
#define REGISTRAR_METHOD_CELL(I) NULL
#endif

REGISTRAR_WRAPPERS(0)
REGISTRAR_WRAPPERS(1)
REGISTRAR_WRAPPERS(2)
REGISTRAR_WRAPPERS(3)
REGISTRAR_WRAPPERS(4)
REGISTRAR_WRAPPERS(5)

#define REGISTRAR_ROW(I)                                                                       \
    {(PyCFunction)(void (*)(void))registrar_fast_##I,                                          \
     (PyCFunction)(void (*)(void))registrar_keywords_##I, REGISTRAR_METHOD_CELL(I)}
/* [method][0: METH_FASTCALL, 1: | METH_KEYWORDS, 2: METH_METHOD | METH_FASTCALL | KEYWORDS] */
static const PyCFunction g_registrar_sealed[RG_COUNT][3] = {
    REGISTRAR_ROW(0), REGISTRAR_ROW(1), REGISTRAR_ROW(2),
    REGISTRAR_ROW(3), REGISTRAR_ROW(4), REGISTRAR_ROW(5)};

static int
registrar_shape(const PyMethodDef *def)
{
    switch (def->ml_flags & ~METH_COEXIST) {
    case METH_FASTCALL:
        return 0;
    case METH_FASTCALL | METH_KEYWORDS:
        return 1;
#if PY_VERSION_HEX >= 0x030B0000
    case METH_METHOD | METH_FASTCALL | METH_KEYWORDS:
        return 2;
#endif
    default:
        return -1;
    }
}

/* Take the registering methods (with the statement methods). One the library lacks
 * (create_window_function before 3.11) is skipped; one of a shape not known here leaves
 * every ATTACH denied instead (the registry could not be complete). */
static void
sqlite_seal_registrars(PyTypeObject *connection_class)
{
    PyObject *space = type_dict_ref(connection_class);
    for (int i = 0; i < RG_COUNT; i++) {
        PyObject *method = own_attribute(space, g_registrar_names[i]);
        if (method == NULL) {
            continue;
        }
        if (!Py_IS_TYPE(method, &PyMethodDescr_Type)) {
            g_sqlite_callbacks.overflow = 1;
            continue;
        }
        PyMethodDef *def = ((PyMethodDescrObject *)method)->d_method;
        int shape = registrar_shape(def);
        if (shape < 0) {
            g_sqlite_callbacks.overflow = 1;
            continue;
        }
        g_registrar_original[i] = def->ml_meth;
        def->ml_meth = g_registrar_sealed[i][shape];
    }
    Py_XDECREF(space);
}

/* Take the statement methods' C functions (once): 1 done (or before), 0 left as they are
 * (a shape not known here), -1 refused (an exception set: no C Cursor class to be found). */
static int
sqlite_seal_statements(PyTypeObject *connection_class)
{
    if (g_statements_sealed) {
        return 1;
    }
    PyTypeObject *cursor_class = sqlite_cursor_class(connection_class);
    if (cursor_class == NULL) {
        PyErr_SetString(PyExc_PermissionError,
                        "lambda-sandbox: sqlite3's Cursor class is not the C library's (changed "
                        "before the first connection)");
        return -1;
    }
    PyMethodDef *defs[ST_COUNT];
    int shapes[ST_COUNT];
    PyObject *member = NULL;
    int known = 1;
    for (int with_cursor = 0; with_cursor < 2 && known; with_cursor++) {
        PyObject *space = type_dict_ref(with_cursor ? cursor_class : connection_class);
        for (int i = with_cursor ? ST_CURSOR_EXECUTE : 0;
             known && i < (with_cursor ? ST_COUNT : ST_CURSOR_EXECUTE); i++) {
            PyObject *method = own_attribute(space, g_statement_names[i]);
            if (method == NULL || !Py_IS_TYPE(method, &PyMethodDescr_Type)) {
                known = 0;
                break;
            }
            defs[i] = ((PyMethodDescrObject *)method)->d_method;
            shapes[i] = statement_shape(defs[i]);
            known = shapes[i] >= 0;
        }
        if (with_cursor && known) {
            member = own_attribute(space, "connection");
            known = member != NULL && Py_IS_TYPE(member, &PyMemberDescr_Type);
        }
        Py_XDECREF(space);
    }
    if (!known) {
        return 0;
    }
    g_cursor_connection = Py_NewRef(member);
    for (int i = 0; i < ST_COUNT; i++) {
        g_statement_original[i] = defs[i]->ml_meth;
        defs[i]->ml_meth = g_statement_sealed[i][shapes[i]];
    }
    sqlite_seal_registrars(connection_class);
    g_statements_sealed = 1;
    return 1;
}

/* 1: the exception classes `connection` raises are as SQLite made them; 0: changed; -1: an
 * error (sqlite_guard._errors_plain).
 *
 * Read from the classes' slots, not their dicts: raising one from C creates it through the
 * class's tp_new and tp_init, and it is finalized, read and written through tp_finalize,
 * tp_getattro and tp_setattro. A Python definition of __new__, __init__, __del__,
 * __getattr__/__getattribute__ or __setattr__ in any class of its MRO turns the class's slot
 * into the interpreter's dispatcher to that definition (setting one later updates every
 * subclass too; deleting it behind the class's back, in its real dict, leaves the dispatcher
 * there), so the five slots equal those of its first static base exactly when no code of
 * anyone's runs: O(1), where walking the dicts of every heap class in the MRO cost
 * ~5,000 instructions a connection (twice: at connect and when the authorizer is set). (The
 * Python core reads the dicts: stricter still -- a value that is the base's own C wrapper
 * counts as changed there.) */
static int
sqlite_errors_plain(PyObject *connection, PyTypeObject *cls)
{
    static const char *members[] = {"ProgrammingError", "OperationalError"};
    PyObject *space = type_dict_ref(cls);
    if (space == NULL) {
        PyErr_Clear();
        return -1;
    }
    int plain = 1;
    for (size_t m = 0; m < 2 && plain == 1; m++) {
        PyObject *member = own_attribute(space, members[m]);
        if (member == NULL || !Py_IS_TYPE(member, &PyMemberDescr_Type)) {
            continue;
        }
        PyObject *error = PyMember_GetOne((const char *)connection,
                                          ((PyMemberDescrObject *)member)->d_member);
        if (error == NULL) {
            PyErr_Clear();
            plain = -1;
            break;
        }
        if (error == Py_None) {
            /* Never initialised (Connection.__new__ alone: a real one has them set before its
             * sqlite3.connect/handle event): SQLite raises its module's own classes for it,
             * which no member shows -- nothing to check them by (red team 34). */
            Py_DECREF(error);
            plain = 0;
            break;
        }
        if (!Py_IS_TYPE(error, &PyType_Type)) {
            Py_DECREF(error);
            plain = 0;
            break;
        }
        PyTypeObject *made = (PyTypeObject *)error;
        /* Its first static class: slots no code can change. (Not merely immutable: a heap
         * class is immutable because someone sealed it, maybe after giving it an __init__.) */
        PyTypeObject *builtin = NULL;
        PyObject *mro = made->tp_mro;
        for (Py_ssize_t i = 0; mro != NULL && PyTuple_CheckExact(mro) &&
                               i < PyTuple_GET_SIZE(mro) && builtin == NULL;
             i++) {
            PyTypeObject *klass = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
            if (!(klass->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
                builtin = klass;
            }
        }
        if (builtin == NULL) {
            plain = -1; /* (no built-in base: not a class a C library makes; the callback) */
        }
        else if (made->tp_new != builtin->tp_new || made->tp_init != builtin->tp_init ||
                 made->tp_finalize != builtin->tp_finalize ||
                 made->tp_getattro != builtin->tp_getattro ||
                 made->tp_setattro != builtin->tp_setattro) {
            plain = 0;
        }
        Py_DECREF(error); /* (a class: held by the connection too) */
    }
    Py_DECREF(space);
    return plain;
}

/* The message of the exception being raised, if it is an exact str (borrowed from `value`);
 * CPython 3.10/3.11 keep a PyErr_SetString's value unnormalised (the str itself). */
static PyObject *
raised_message(PyObject *value)
{
    if (value != NULL && PyUnicode_CheckExact(value)) {
        return value;
    }
    if (value != NULL && PyExceptionInstance_Check(value)) {
        PyObject *args = ((PyBaseExceptionObject *)value)->args;
        if (args != NULL && PyTuple_CheckExact(args) && PyTuple_GET_SIZE(args) > 0 &&
            PyUnicode_CheckExact(PyTuple_GET_ITEM(args, 0))) {
            return PyTuple_GET_ITEM(args, 0);
        }
    }
    return NULL;
}

/* Take the exception being raised: 1 when it is an Exception whose message names __init__
 * (the C library's "Base Connection.__init__ not called"), 0 for another Exception, -1 for
 * anything else (left to the callback). */
static int
take_init_refusal(void)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    int answer = -1;
    if (type != NULL && PyType_Check(type) &&
        PyType_IsSubtype((PyTypeObject *)type, (PyTypeObject *)PyExc_Exception)) {
        PyObject *message = raised_message(value);
        answer = 0;
        if (message != NULL) {
            /* (made once, kept: one connection in every call of a handler comes here) */
            static PyObject *needle;
            if (needle == NULL) {
                needle = PyUnicode_InternFromString("__init__");
            }
            if (needle != NULL) {
                answer = PyUnicode_Find(message, needle, 0, PY_SSIZE_T_MAX, 1) >= 0;
            }
            PyErr_Clear();
        }
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    return answer;
}

/* Set this thread's profile function from the core: the sys.setprofile event it raises is
 * the core's own. 0, or -1 when it did not take (another hook refused it). */
static int
core_set_profile(Py_tracefunc function, PyObject *object)
{
    t_core_sets_profile = 1;
    PyEval_SetProfile(function, object);
    t_core_sets_profile = 0;
    return PyThreadState_Get()->c_profilefunc == function ? 0 : -1;
}

static int sqlite_profile(PyObject *object, PyFrameObject *frame, int what, PyObject *arg);

/* Install the authorizer: 1 done, 0 later (still inside __init__), 2 never (closed, not a
 * connection), -2 classes changed (the callback decides), -1 an error. */
static int
sqlite_set(PyObject *connection)
{
    PyObject *method = sqlite_set_authorizer_of(connection);
    if (method == NULL) {
        return 2;
    }
    int plain = sqlite_errors_plain(connection, PyDescr_TYPE(method));
    if (plain != 1) {
        return -2;
    }
    Py_INCREF(method);
    PyObject *call_args[2] = {connection, g_sqlite_authorizer};
    PyObject *result = PyObject_Vectorcall(method, call_args, 2, NULL);
    Py_DECREF(method);
    if (result != NULL) {
        Py_DECREF(result);
        sqlite_c_authorizer_put(connection);
        return 1;
    }
    int refusal = take_init_refusal();
    return refusal == 1 ? 0 : 2;
}

/* The pending connections of this thread tried again (sqlite_guard.flush_pending). Returns 1
 * when none waits any more and the previous profile function is back (*previous and
 * *previous_obj, a new reference, to hand the event to), 0 while some still wait, -1 with
 * an exception (classes changed: the callback's refusal). */
static _Thread_local int t_sqlite_flushing;

static int
sqlite_flush_once(Py_tracefunc *previous, PyObject **previous_obj);

static int
sqlite_flush(Py_tracefunc *previous, PyObject **previous_obj)
{
    *previous = NULL;
    *previous_obj = NULL;
    if (t_sqlite_flushing) {
        /* A flush inside a flush (the trampoline called from code that ran while an
         * authorizer was being set): it would free the entry and the list the outer one is
         * working on (red team 34). The outer one finishes the work. */
        return 0;
    }
    t_sqlite_flushing = 1;
    int collecting = PyGC_Disable(); /* (no gc.callbacks between a check and its use) */
    int done = sqlite_flush_once(previous, previous_obj);
    if (collecting) {
        PyGC_Enable();
    }
    t_sqlite_flushing = 0;
    return done;
}

static int
sqlite_flush_once(Py_tracefunc *previous, PyObject **previous_obj)
{
    sqlite_pending *pending = t_sqlite;
    if (pending == NULL) {
        return 0;
    }
    PyObject *tried = pending->waiting;
    PyObject *waiting = PyList_New(0);
    if (waiting == NULL) {
        return -1;
    }
    pending->waiting = waiting;
    int failed = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(tried); i++) {
        PyObject *connection = PyList_GET_ITEM(tried, i);
        int outcome = failed ? 0 : sqlite_set(connection);
        if (outcome == -2 && !failed) {
            /* SQLite's classes were changed: the callback decides it as the Python core
             * does (refused, reported); the connection keeps waiting (fail closed). */
            PyObject *event_args = PyTuple_Pack(1, connection);
            if (event_args == NULL || decide("sqlite3.connect/handle", event_args) == 0) {
                PyErr_SetString(PyExc_PermissionError,
                                "lambda-sandbox: SQLite's exception classes were changed");
            }
            Py_XDECREF(event_args);
            failed = 1;
            outcome = 0;
        }
        if (outcome == 0 && PyList_Append(waiting, connection) < 0) {
            PyErr_Clear(); /* (memory: it stays unguarded, as a connection never seen) */
        }
        if (outcome != 0) {
            unguarded_remove(connection); /* (guarded now, or never will be: closed) */
        }
    }
    pending->events++;
    int done = 0;
    if (!failed && (PyList_GET_SIZE(waiting) == 0 || pending->events > SQLITE_MAX_EVENTS)) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(waiting); i++) {
            unguarded_remove(PyList_GET_ITEM(waiting, i)); /* (given up on: never initialised) */
        }
        t_sqlite = NULL;
        *previous = pending->previous;
        *previous_obj = pending->previous_obj; /* (its reference, handed on) */
        if (core_set_profile(pending->previous, pending->previous_obj) < 0) {
            PyErr_Clear();
        }
        Py_DECREF(pending->waiting);
        PyMem_RawFree(pending);
        done = 1;
    }
    /* Last: the connections let go of now may be the last references (a finalizer of a
     * factory class runs here, outside the hook, with this thread's state consistent). */
    Py_DECREF(tried);
    return failed ? -1 : done;
}

static int
sqlite_profile(PyObject *object, PyFrameObject *frame, int what, PyObject *arg)
{
    (void)object;
    Py_tracefunc previous;
    PyObject *previous_obj;
    int done = sqlite_flush(&previous, &previous_obj);
    if (done < 0) {
        return -1;
    }
    int result = 0;
    if (done == 1 && previous != NULL) {
        result = previous(previous_obj, frame, what, arg); /* the event is that profiler's */
    }
    Py_XDECREF(previous_obj);
    return result;
}

/* `sqlite3.connect/handle` answered here: 1 (a connection still inside __init__ now waits for
 * its authorizer; or an object left alone, as the callback leaves it), 0 (the callback
 * decides: changed classes, anything odd), -1 (an error). */
static int sqlite_handle_answered_gc_off(PyObject *args);

/* With the collector off: between the class check and SQLite's raise nothing may run code of
 * the function's -- an allocation there (the exception SQLite makes) could start a collection
 * and run its gc.callbacks, which could give the class an __init__ after the check (red team
 * 35). */
static int
sqlite_handle_answered(PyObject *args)
{
    int collecting = PyGC_Disable();
    int answer = sqlite_handle_answered_gc_off(args);
    if (collecting) {
        PyGC_Enable();
    }
    return answer;
}

static int
sqlite_handle_answered_gc_off(PyObject *args)
{
    if (!PyTuple_CheckExact(args) || PyTuple_GET_SIZE(args) < 1) {
        return 0;
    }
    PyObject *connection = PyTuple_GET_ITEM(args, 0);
    PyObject *method = sqlite_set_authorizer_of(connection);
    if (method == NULL) {
        return 1; /* not a connection: a forged event, left alone */
    }
    PyTypeObject *cls = PyDescr_TYPE(method);
    if (g_connection_call == NULL) {
        g_connection_call = cls->tp_call; /* (the C class's: it defines set_authorizer) */
    }
    /* (the first connection's: before any statement of it) */
    sqlite_seal_set_authorizer(method);
    if (sqlite_seal_statements(cls) < 0) {
        return -1;
    }
    PyObject *space = type_dict_ref(cls);
    PyObject *getter = own_attribute(space, "total_changes");
    int getset = getter != NULL && Py_IS_TYPE(getter, &PyGetSetDescr_Type) &&
                 ((PyGetSetDescrObject *)getter)->d_getset->get != NULL;
    PyGetSetDef *def = getset ? ((PyGetSetDescrObject *)getter)->d_getset : NULL;
    Py_XDECREF(space);
    if (!getset) {
        return 1;
    }
    if (sqlite_errors_plain(connection, cls) != 1) {
        return 0; /* the callback refuses (and reports) it */
    }
    PyObject *changes = def->get(connection, def->closure);
    if (changes != NULL) {
        Py_DECREF(changes);
        return 1; /* initialised (or closed): not one the C library is making, left alone */
    }
    int refusal = take_init_refusal();
    if (refusal < 0) {
        return 0;
    }
    if (refusal == 0) {
        return 1;
    }
    /* Still inside __init__ -- a new connection, or one made anew (its old handle closed,
     * its statement cache emptied) -- so nothing is registered on it yet and no ATTACH has
     * failed on it: a connection at the address of one that is gone is taken off the core's
     * lists here, and only here (an event forged on a live connection takes nothing off: red
     * team 76 cleared a failed ATTACH's mark so). */
    connection_set_forget(&g_sqlite_callbacks, connection);
    connection_set_forget(&g_failed_attach, connection);
    /* It waits for the next profile event of this thread. */
    PyThreadState *ts = PyThreadState_Get();
    sqlite_pending *pending = t_sqlite;
    int fresh = pending == NULL;
    if (fresh) {
        pending = PyMem_RawCalloc(1, sizeof(*pending));
        if (pending == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        pending->waiting = PyList_New(0);
        if (pending->waiting == NULL) {
            PyMem_RawFree(pending);
            return -1;
        }
        t_sqlite = pending;
    }
    if (PyList_Append(pending->waiting, connection) < 0 || unguarded_add(connection) < 0) {
        return -1;
    }
    if (!fresh && ts->c_profilefunc == sqlite_profile) {
        return 1; /* armed already */
    }
    /* A fresh entry, or the one-shot profile function was replaced since: what is there now
     * is put back later (the one it replaced is let go of at the next decision's start). */
    if (pending->previous_obj != NULL && core_hold(NULL, pending->previous_obj) == NULL) {
        PyErr_Clear();
    }
    Py_XDECREF(pending->previous_obj);
    pending->previous = ts->c_profilefunc;
    pending->previous_obj = ts->c_profileobj;
    Py_XINCREF(pending->previous_obj);
    if (core_set_profile(sqlite_profile, g_sqlite_trampoline) < 0) {
        PyErr_Clear(); /* another hook refused it: unguarded until the next connection arms */
    }
    return 1;
}

/* The hook's sealed trampoline raised its flush event (someone set it as the profile function
 * again, from sys.getprofile()): the connections are tried here; the previous profile
 * function is put back, not called. 0, or -1 with the exception. */
static int
sqlite_flush_event(void)
{
    Py_tracefunc previous;
    PyObject *previous_obj;
    int done = sqlite_flush(&previous, &previous_obj);
    Py_XDECREF(previous_obj);
    return done < 0 ? -1 : 0;
}

static int
sqlite_flush_from_trampoline(void)
{
    PyObject *code = innermost_code();
    int from = code != NULL && code == g_sqlite_trampoline_code;
    Py_XDECREF(code);
    return from;
}

static PyObject *
core_seal_sqlite(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *authorizer, *trampoline;
    if (g_sqlite_sealed || g_installed) {
        return PyBool_FromLong(g_sqlite_sealed); /* once, and only while installing */
    }
    if (!announce_core_call("seal_sqlite")) {
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OO:seal_sqlite", &authorizer, &trampoline)) {
        return NULL;
    }
    if (!PyCallable_Check(authorizer) || !PyFunction_Check(trampoline)) {
        PyErr_SetString(PyExc_TypeError,
                        "seal_sqlite(authorizer, trampoline): a callable and a function");
        return NULL;
    }
    g_sqlite_authorizer = Py_NewRef(authorizer);
    g_sqlite_trampoline = Py_NewRef(trampoline);
    g_sqlite_trampoline_code = Py_NewRef(PyFunction_GET_CODE(trampoline));
    g_sqlite_sealed = 1;
    Py_RETURN_TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* SQLite's own opens, decided at the open (guarded_open)                                 */
/*
 * SQLite opens files itself, in C, with no audit event: the main database (after the
 * sqlite3.connect event), ATTACH and VACUUM INTO targets (after the authorizer's check, at the
 * statement's step), and its own files (journals, WAL, shared memory, super-journals, temporary
 * files). Any check made before that open leaves a window in which the name can be made to lead
 * elsewhere (a rename by a forked child, which no audit event of this process sees: red team
 * 82). So the core replaces the open system call of SQLite's unix VFSes, through SQLite's own
 * API (sqlite3_vfs.xSetSystemCall, VFS iVersion >= 3: SQLite 3.7.6 on), and decides each open
 * on what the kernel actually opened, read back from the descriptor:
 *
 *   - a name that exists is opened O_PATH (no data, no device driver, no FIFO wait), its real
 *     path read from /proc/self/fd, and decided; only then is the file opened for real, through
 *     that descriptor's /proc link (the same inode, whatever the name leads to by then), and
 *     the inode compared with the one decided (another thread may have put something else at
 *     that descriptor number while the decision ran Python);
 *   - a name that does not exist and O_CREAT: its folder is opened O_PATH, the folder's real
 *     path read back, "<folder>/<leaf>" decided as a write, and the file created in that
 *     folder with O_EXCL | O_NOFOLLOW (nothing is created before the decision; a name that
 *     appears meanwhile starts the whole thing again, a bounded number of times);
 *   - SQLite's own files are decided as the same access on their database, in the same real
 *     folder ("x.db-journal", "-wal", "-shm", "-mj<8 hex>": as "x.db"), which is what profiles
 *     hold (those opens were never audited); a temporary file ("etilqs_...") is allowed with no
 *     decision only when SQLite asks for a new one (O_CREAT | O_EXCL) and it is created so;
 *   - a FIFO, device node or socket is refused (a finding), except the two SQLite opens itself,
 *     read-only: /dev/urandom (unixRandomness seeds its generator) and /dev/null (robust_open,
 *     when an open would otherwise get descriptor 0, 1 or 2); a folder opened read-only passes
 *     (unixSync's openDirectory opens a journal's folder to fsync it; nothing is read).
 *
 * The decision is the core's own file decision: the open table and directory verdicts first
 * (no Python), then the callback's (SQLITE_OPEN_EVENT, handed over from C: never an audit
 * event, whose name core_hook refuses), which checks the real path as is -- no second
 * resolution of a name -- and keeps its answer in the open table as an os.open of that real
 * path with the same access would. It runs with the GIL (PyGILState_Ensure: SQLite runs with
 * it released) and, inside an ATTACH window, as a decision (t_depth > 0) does: the window's
 * refusals are for the function's code, and none runs between this check and the open.
 */
#define VFS_CREATE_TRIES 4

typedef int (*vfs_open_fn)(const char *, int, int);
typedef void (*vfs_syscall_ptr)(void);

/* sqlite3.h's struct sqlite3_vfs, as far as iVersion 3 (the fields are only appended). */
typedef struct vfs_struct vfs_struct;
struct vfs_struct {
    int iVersion;
    int szOsFile;
    int mxPathname;
    vfs_struct *pNext;
    const char *zName;
    void *pAppData;
    void *xOpen, *xDelete, *xAccess, *xFullPathname, *xDlOpen, *xDlError, *xDlSym, *xDlClose;
    void *xRandomness, *xSleep, *xCurrentTime, *xGetLastError;
    void *xCurrentTimeInt64; /* (iVersion 2) */
    int (*xSetSystemCall)(vfs_struct *, const char *, vfs_syscall_ptr); /* (iVersion 3) */
    vfs_syscall_ptr (*xGetSystemCall)(vfs_struct *, const char *);
    void *xNextSystemCall;
};

static vfs_open_fn g_vfs_open_orig; /* SQLite's open before guarded_open (posixOpen) */
static int g_vfs_state;             /* 0: not tried yet; 1: on; -1: cannot be */
static char g_vfs_why[320] = "not yet: installed at the first sqlite3.connect";
static CORE_TLS int t_vfs_open;     /* guarded_open is deciding on this thread */

/* The databases whose open guarded_open allowed (a kept answer: allowed by the rules, or
 * recorded by learn), by real path and access, for their journals, WAL and shared-memory
 * files, which are then answered with no GIL. SQLite opens the shared-memory file holding its
 * global mutex (unixOpenSharedMemory: unixEnterMutex), and _sqlite3 closes connections with
 * the GIL held (sqlite3_close_v2 takes that mutex): a GIL taken there could deadlock. The
 * rules decide a real path by its text, and they do not change once installed; a database is
 * opened (and decided) before its own files. Readers hold g_vfs_kept_lock, not the GIL. */
#define VFS_KEPT 64
typedef struct {
    size_t len; /* 0: empty */
    int access; /* vfs_decide's: 0 read, 1 write, 2 both */
    int companions; /* its journal and the like may be decided as it (see vfs_kept_kin) */
    char path[OPEN_PATH_MAX + 1];
} vfs_kept_entry;
static vfs_kept_entry g_vfs_kept[VFS_KEPT];
static size_t g_vfs_kept_next;
static pthread_mutex_t g_vfs_kept_lock = PTHREAD_MUTEX_INITIALIZER;

static void
vfs_kept_after_fork(void)
{
    pthread_mutex_init(&g_vfs_kept_lock, NULL); /* (a thread that held it is not in the child) */
}

static void
vfs_keep(const char *name, size_t n, int access, int companions)
{
    if (n == 0 || n > OPEN_PATH_MAX) {
        return;
    }
    pthread_mutex_lock(&g_vfs_kept_lock);
    size_t i;
    for (i = 0; i < VFS_KEPT; i++) {
        vfs_kept_entry *e = &g_vfs_kept[i];
        if (e->len == n && e->access == access && memcmp(e->path, name, n) == 0) {
            e->companions |= companions;
            break;
        }
    }
    if (i == VFS_KEPT) {
        vfs_kept_entry *e = &g_vfs_kept[g_vfs_kept_next];
        g_vfs_kept_next = (g_vfs_kept_next + 1) % VFS_KEPT;
        memcpy(e->path, name, n);
        e->path[n] = '\0';
        e->access = access;
        e->companions = companions;
        e->len = n;
    }
    pthread_mutex_unlock(&g_vfs_kept_lock);
}

static int
vfs_kept_as(const char *name, size_t n, int access, int companions)
{
    int found = 0;
    pthread_mutex_lock(&g_vfs_kept_lock);
    for (size_t i = 0; i < VFS_KEPT && !found; i++) {
        const vfs_kept_entry *e = &g_vfs_kept[i];
        found = e->len == n && (e->access == access || e->access == 2) &&
                (!companions || e->companions) && memcmp(e->path, name, n) == 0;
    }
    pthread_mutex_unlock(&g_vfs_kept_lock);
    return found;
}

/* Whether `name` was kept for `access` (or for both, when one is asked). No GIL needed. */
static int
vfs_kept(const char *name, size_t n, int access)
{
    return vfs_kept_as(name, n, access, 0);
}

/* Whether the database `name` was kept for `access` with its companions: its journal, WAL,
 * shared-memory and super-journal files, and its ".lock" folder, which SQLite makes beside it
 * and which are decided as the database -- the rules that allow a database allow its
 * companions -- except where the database's own name is allowed only as a folder's (a
 * "P/" + "**" rule's P itself holds P's contents, not names beside P: red team 92 made a
 * database at such a folder's name, and so files beside the folder). The callback says which
 * (the hook's companions_ok); a database the core allows by a verdict for its whole folder
 * has them, the companions being in that folder. No GIL needed. */
static int
vfs_kept_kin(const char *name, size_t n, int access)
{
    return vfs_kept_as(name, n, access, 1);
}

#if PY_VERSION_HEX >= 0x030D0000
#define VFS_FINALIZING() Py_IsFinalizing()
#else
#define VFS_FINALIZING() _Py_IsFinalizing()
#endif

/* The real path of descriptor `fd` (from /proc/self/fd) in buf (NUL-terminated); its length,
 * or -1: not a plain absolute name (a removed file's " (deleted)", an anonymous inode). */
static ssize_t
vfs_fd_path(int fd, char *buf, size_t size)
{
    char link[64];
    proc_fd_link(link, fd);
    ssize_t n = readlink(link, buf, size - 1);
    if (n <= 0 || (size_t)n >= size - 1 || buf[0] != '/') {
        return -1;
    }
    buf[n] = '\0';
    if (n >= 10 && memcmp(buf + n - 10, " (deleted)", 10) == 0) {
        return -1;
    }
    return n;
}

/* Whether an open of `flags` asks for SQLite's temporary file: a new one, made O_EXCL. */
static int
vfs_temp_name(const char *leaf, size_t m, int flags)
{
    return m > 7 && memcmp(leaf, "etilqs_", 7) == 0 && (flags & O_CREAT) && (flags & O_EXCL);
}

/* Whether a verdict for its whole folder (every name directly in it: see dir_verdict_allows)
 * holds for `name` (n characters) with the accesses of `canonical`: its companions, in the
 * same folder, are allowed by it too (vfs_kept_kin). */
static int
vfs_folder_verdict(const char *name, size_t n, int canonical)
{
    const char *slash = memrchr(name, '/', n);
    if (slash == NULL || g_dir_count + g_pattern_count == 0) {
        return 0;
    }
    size_t cut = (size_t)(slash - name);
    open_key dir_key = {cut > 0 ? name : "/", cut > 0 ? (Py_ssize_t)cut : 1, "", 0, DIR_VERDICT, 0};
    int phase = invoke_now();
    return (canonical == 1 || dir_verdict_for(&dir_key, 0, phase) != NULL) &&
           (canonical == 0 || dir_verdict_for(&dir_key, 1, phase) != NULL);
}

static int
vfs_decide_in_c(const char *name, size_t n, int canonical, const struct stat *st)
{
    if (n > OPEN_PATH_MAX || memchr(name, 0, n) != NULL) {
        return 0;
    }
    open_key key = {name, (Py_ssize_t)n, "", 0, 1, canonical};
    int phase = invoke_now();
    uint64_t h = open_hash(&key, phase);
    int found;
    size_t j = open_find(&key, phase, h, &found);
    int allowed = 0;
    if (found) {
        const open_slot *slot = &g_open[j];
        allowed = st != NULL ? !g_open_validate ||
                                   (slot->identity == 1 &&
                                    slot->dev == (unsigned long long)st->st_dev &&
                                    slot->ino == (unsigned long long)st->st_ino)
                             : open_still_valid(slot);
    }
    if (!allowed && (g_dir_count > 0 || g_pattern_count > 0)) {
        allowed = dir_verdict_allows(&key, phase, h);
    }
    if (allowed) {
        vfs_keep(name, n, canonical, vfs_folder_verdict(name, n, canonical));
    }
    return allowed;
}

/* The database whose decision is with the callback on this thread (vfs_ask), which its
 * sqlite_companions_add may name: its companions are decided as it. */
static CORE_TLS const char *t_vfs_asked;
static CORE_TLS size_t t_vfs_asked_n;
static CORE_TLS int t_vfs_companions;

/* The callback's decision (SQLITE_OPEN_EVENT) on `name` (n characters), SQLite's open of it,
 * or, with `database` (its first `decided` characters), of that database's companion: then
 * the callback decides it as the database or as itself (the hook's on_sqlite_open). An
 * allowed database is kept (with its companions when the callback said so): its own files
 * need no GIL from then on. 0 allowed, -1 refused (the finding is reported). */
static int
vfs_ask(const char *name, size_t n, int canonical, size_t decided)
{
    PyObject *path = PyUnicode_DecodeFSDefaultAndSize(name, (Py_ssize_t)n);
    PyObject *database =
        path != NULL && decided < n ? PyUnicode_DecodeFSDefaultAndSize(name, (Py_ssize_t)decided)
                                    : NULL;
    PyObject *args = path == NULL || (decided < n && database == NULL) ? NULL
                     : decided < n ? Py_BuildValue("(OiO)", path, canonical, database)
                                   : Py_BuildValue("(Oi)", path, canonical);
    Py_XDECREF(path);
    Py_XDECREF(database);
    t_vfs_asked = name;
    t_vfs_asked_n = decided;
    t_vfs_companions = 0;
    int answer = args != NULL ? decide(SQLITE_OPEN_EVENT, args) : -1;
    int companions = t_vfs_companions;
    t_vfs_asked = NULL;
    t_vfs_companions = 0;
    Py_XDECREF(args);
    if (answer < 0) {
        PyErr_Clear(); /* (the finding is reported; SQLite sees EACCES) */
    }
    else if (decided <= OPEN_PATH_MAX && memchr(name, 0, decided) == NULL &&
             (decided == n || companions)) {
        /* allowed (enforce raises otherwise), or recorded by learn: the database's own files
         * need no GIL from now on. In alert a reported access is let through too: kept only
         * when the callback kept it (an allowed one) */
        int found = 1;
        if (g_mode != NULL && strcmp(g_mode, "alert") == 0) {
            open_key key = {name, (Py_ssize_t)decided, "", 0, 1, canonical};
            int phase = invoke_now();
            (void)open_find(&key, phase, open_hash(&key, phase), &found);
        }
        if (found) {
            vfs_keep(name, decided, canonical, companions);
        }
    }
    return answer;
}

/* core.sqlite_companions_add(database): the callback's word, while it decides SQLite's open of
 * `database` or of its companion (vfs_ask), that the database's companions are decided as it
 * (the hook's companions_ok). Only the hook's on_sqlite_open, inside the decision; True when
 * it names that database. */
static PyObject *
core_sqlite_companions_add(PyObject *self, PyObject *arg)
{
    (void)self;
    if (t_depth == 0 || !caller_is_site("core.sqlite_companions_add")) {
        return refuse("sqlite_companions_add");
    }
    const char *units;
    Py_ssize_t len;
    int plain = PyUnicode_Check(arg) ? ascii_of(arg, &units, &len) : 0;
    if (plain < 0) {
        return NULL;
    }
    int named = plain == 1 && t_vfs_asked != NULL && (size_t)len == t_vfs_asked_n &&
                memcmp(units, t_vfs_asked, (size_t)len) == 0;
    t_vfs_companions = t_vfs_companions || named;
    return PyBool_FromLong(named);
}

/* The decision on `name` (a real path, n characters) for the access `canonical` (0 read,
 * 1 write, 2 both: an os.open's O_RDONLY, O_WRONLY, O_RDWR), with the GIL: 0 allowed, -1
 * refused. `st`: the file decided, when it is the one at `name` (a kept answer must be about
 * that inode); NULL for a name not there yet (a kept answer holds while the name leads where
 * it did: open_still_valid). A companion of a database is decided by vfs_decide_file. */
static int
vfs_decide(const char *name, size_t n, int canonical, const struct stat *st)
{
    if (vfs_decide_in_c(name, n, canonical, st)) {
        return 0;
    }
    return vfs_ask(name, n, canonical, n);
}

/* SQLite's suffix on a leaf of m characters -- "-journal", "-wal", "-shm", "-mj" and 8 hex
 * digits (a super-journal) -- as its length, or 0: the database is the leaf without it. */
static size_t
sqlite_aux_suffix(const char *leaf, size_t m)
{
    /* (constant lengths, compared inline: asked of every name the open table keeps, ~40
     * times a handler call) */
    if (m >= 4) {
        const char *end = leaf + m;
        if (m >= 8 && memcmp(end - 8, "-journal", 8) == 0) {
            return 8;
        }
        if (memcmp(end - 4, "-wal", 4) == 0 || memcmp(end - 4, "-shm", 4) == 0) {
            return 4;
        }
    }
    if (m >= 11 && memcmp(leaf + m - 11, "-mj", 3) == 0) {
        for (size_t i = m - 8; i < m; i++) {
            char c = leaf[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
                return 0;
            }
        }
        return 11;
    }
    return 0;
}

/* The length of what `real` (n characters) is decided as: a journal (and the like) as its
 * database in the same folder, anything else as itself. */
static size_t
vfs_decided_length(const char *real, size_t n)
{
    const char *slash = memrchr(real, '/', n);
    const char *leaf = slash != NULL ? slash + 1 : real;
    size_t m = n - (size_t)(leaf - real);
    size_t cut = sqlite_aux_suffix(leaf, m);
    return cut == m ? n : n - cut; /* (no database name before the suffix: itself) */
}

/* Decide a regular file SQLite opens, at `real` (n characters: its real path): a journal (and
 * the like) as its database's companion (vfs_kept_kin; the callback decides it as its
 * database, or as itself beside a database allowed only as a folder's name), anything else
 * as itself. */
static int
vfs_decide_file(const char *real, size_t n, int canonical, const struct stat *st)
{
    size_t decided = vfs_decided_length(real, n);
    if (decided == n) {
        return vfs_decide(real, n, canonical, st);
    }
    if (vfs_kept_kin(real, decided, canonical) || vfs_decide_in_c(real, n, canonical, NULL)) {
        return 0; /* (a companion of a database kept so, or allowed as itself) */
    }
    return vfs_ask(real, n, canonical, decided);
}

/* The same, answered only where the core answers without Python, for a name not there yet:
 * 1 allowed, 0 not answered. */
static int
vfs_decide_file_in_c(const char *real, size_t n, int canonical)
{
    size_t decided = vfs_decided_length(real, n);
    return (decided < n && vfs_kept_kin(real, decided, canonical)) ||
           vfs_decide_in_c(real, n, canonical, NULL);
}

/* The access an open's flags ask, as vfs_decide takes it (a create writes). */
static int
vfs_canonical(int flags)
{
    int access = flags & O_ACCMODE;
    if (access == O_RDWR) {
        return 2;
    }
    if (access == O_WRONLY) {
        return 1;
    }
    return (flags & O_CREAT) ? 2 : 0;
}

/* What vfs_make made last on this thread, by the names SQLite gave (VFS_MADE_GIVEN_MAX at
 * most; longer ones are not kept):
 *   - a temporary file: SQLite removes it at once (unixOpen: osUnlink(zName) for a
 *     delete-on-close file), and that removal is answered by this name alone;
 *   - a journal (or kin) made with no GIL, with the real name it was made at: SQLite removes
 *     it at the transaction's end by the name it gave, answered by that real name when it is
 *     still a kin of a database kept (the rules decide a real name by its text), with no
 *     second lookup of its folder.
 * Kept in a per-thread buffer (freed at the thread's end: a static thread-local one this size
 * would not fit in the static TLS an extension module may take). */
#define VFS_MADE_GIVEN_MAX 255
typedef struct {
    char temp[VFS_MADE_GIVEN_MAX + 1];
    char kin_given[VFS_MADE_GIVEN_MAX + 1];
    char kin_real[OPEN_PATH_MAX + 2];
} vfs_made_names;
static pthread_key_t g_vfs_made_key;
static pthread_once_t g_vfs_made_once = PTHREAD_ONCE_INIT;
static int g_vfs_made_keyed;

static void
vfs_made_key_make(void)
{
    g_vfs_made_keyed = pthread_key_create(&g_vfs_made_key, free) == 0;
}

/* This thread's record, or NULL: none made yet and `make` is 0, or no memory. */
static vfs_made_names *
vfs_made(int make)
{
    (void)pthread_once(&g_vfs_made_once, vfs_made_key_make);
    if (!g_vfs_made_keyed) {
        return NULL;
    }
    vfs_made_names *names = pthread_getspecific(g_vfs_made_key);
    if (names == NULL && make) {
        names = calloc(1, sizeof(vfs_made_names));
        if (names != NULL && pthread_setspecific(g_vfs_made_key, names) != 0) {
            free(names);
            names = NULL;
        }
    }
    return names;
}

/* The folder of `path` (a name SQLite gives) opened O_PATH | O_DIRECTORY ("." for a bare
 * leaf), *leaf pointing at the leaf in `path`: a descriptor, or -1 with errno (EACCES for a
 * leaf of "", "." or "..", or a folder name too long). */
static int
vfs_folder_open(const char *path, const char **leaf)
{
    const char *slash = strrchr(path, '/');
    *leaf = slash != NULL ? slash + 1 : path;
    size_t m = strlen(*leaf);
    size_t dn = slash == NULL ? 0 : (slash == path ? 1 : (size_t)(slash - path));
    if (m == 0 || (m == 1 && (*leaf)[0] == '.') ||
        (m == 2 && (*leaf)[0] == '.' && (*leaf)[1] == '.') || dn > OPEN_PATH_MAX) {
        errno = EACCES;
        return -1;
    }
    char dir[OPEN_PATH_MAX + 1];
    if (slash == NULL) {
        memcpy(dir, ".", 2);
    }
    else {
        memcpy(dir, path, dn);
        dir[dn] = '\0';
    }
    return open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* vfs_make's answer when it cannot answer without the GIL (see vfs_open_fast) */
#define VFS_NOT_ANSWERED (-2)

/* Keep what vfs_make made on this thread (see vfs_made_names): a temporary file by the name
 * given, a database's kin made with no GIL by the name given and the real name made at. */
static void
vfs_made_keep(const char *path, const char *full, size_t n, int temp)
{
    size_t given = strlen(path);
    vfs_made_names *made = given <= VFS_MADE_GIVEN_MAX ? vfs_made(1) : NULL;
    if (made != NULL && temp) {
        memcpy(made->temp, path, given + 1);
    }
    else if (made != NULL) {
        memcpy(made->kin_given, path, given + 1);
        memcpy(made->kin_real, full, n + 1);
    }
}

/* vfs_make's first way, when openat2 is there: a name SQLite gives as an absolute path with no
 * empty, "." or ".." component is its own real path if it can be walked with no link -- which
 * openat2's RESOLVE_NO_SYMLINKS makes the kernel check as it makes the file. So the text is
 * decided as the real name (a journal's kin: its database kept; a temporary file: its folder's
 * family kept; with the GIL, anything the core answers itself -- the open table, a directory
 * or pattern verdict --, with no Python run and nothing reported), and the file made at that
 * very text: where decided, or not at all. SQLite gives such names (unixFullPathname), so a
 * database's files are made without reading their folder back (an open, a readlink and a
 * close each). A link on the way (ELOOP), a decision the core cannot take itself, or no
 * openat2: VFS_NOT_ANSWERED, and vfs_make reads the folder back and decides its real path. */
static int
vfs_make_by_text(const char *path, const char *leaf, size_t m, size_t cut, int temp, int flags,
                 int mode, int with_gil, int *err, int *again)
{
    size_t n = strlen(path);
    if (g_no_openat2 || path[0] != '/' || n > OPEN_PATH_MAX || leaf == path ||
        !plain_components(path, n)) {
        return VFS_NOT_ANSWERED;
    }
    int allowed;
    if (temp) {
        char family[OPEN_PATH_MAX + 2];
        size_t folder = n - m; /* (up to the leaf, its "/" included) */
        memcpy(family, path, folder);
        memcpy(family + folder, "etilqs_*", 9);
        allowed = with_gil ? vfs_decide_in_c(family, folder + 8, 1, NULL)
                           : vfs_kept(family, folder + 8, 1);
    }
    else {
        int canonical = vfs_canonical(flags | O_CREAT);
        allowed = with_gil ? vfs_decide_file_in_c(path, n, canonical)
                           : cut > 0 && cut < m && vfs_kept_kin(path, n - cut, canonical);
    }
    if (!allowed) {
        return VFS_NOT_ANSWERED;
    }
    int fd = open_no_links_mode(path, flags | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    if (fd < 0 && (errno == ELOOP || g_no_openat2)) {
        return VFS_NOT_ANSWERED; /* (a link on the way: its real path is read back) */
    }
    *err = fd < 0 ? errno : 0;
    if (fd < 0 && *err == EEXIST && !(flags & O_EXCL)) {
        *again = 1;
    }
    if (fd >= 0 && (temp || !with_gil)) {
        vfs_made_keep(path, path, n, temp);
    }
    return fd;
}

/* A name that is not there, opened O_CREAT: its folder opened O_PATH, the folder's real path
 * read back, <real folder>/<leaf> decided, then created at that very text with no link on the
 * way (openat2's RESOLVE_NO_SYMLINKS, O_EXCL | O_NOFOLLOW): it lands where decided, or not at
 * all, whatever another thread does meanwhile -- runs Python while the decision does, or
 * moves descriptors (os.dup2 raises no audit event) with or without the GIL. Both of
 * guarded_open's ways make new files here:
 *   - with the GIL (`with_gil`): decided by vfs_decide_file (which may run Python);
 *   - without it: only a journal (or kin) of a database kept, and a temporary file in a folder
 *     whose family of temporary files was kept; anything else is VFS_NOT_ANSWERED.
 * Both first try the name's own text (vfs_make_by_text), with no folder read back.
 * Where openat2 is refused, the file is made in the folder's descriptor and read back from its
 * own: its real path must be the name decided, else it is removed and refused.
 * A fd, or -1 with *err (*again: the name appeared meanwhile -- made, or a link there, which
 * O_CREAT alone would follow -- and the open did not ask O_EXCL; or, with the GIL, a link on
 * the way now: the folder moved since it was read back), or VFS_NOT_ANSWERED. */
static int
vfs_make(const char *path, int flags, int mode, int with_gil, int *err, int *again)
{
    const char *slash = strrchr(path, '/');
    const char *leaf = slash != NULL ? slash + 1 : path;
    size_t m = strlen(leaf);
    int temp = vfs_temp_name(leaf, m, flags);
    size_t cut = temp ? 0 : sqlite_aux_suffix(leaf, m);
    if (!with_gil && (slash == NULL || (!temp && (cut == 0 || cut == m)))) {
        return VFS_NOT_ANSWERED; /* (neither a journal's kin nor a temporary file) */
    }
    int by_text = vfs_make_by_text(path, leaf, m, cut, temp, flags, mode, with_gil, err, again);
    if (by_text != VFS_NOT_ANSWERED) {
        return by_text;
    }
    int dfd = vfs_folder_open(path, &leaf);
    if (dfd < 0) {
        *err = errno;
        return with_gil ? -1 : VFS_NOT_ANSWERED;
    }
    char full[OPEN_PATH_MAX + 2];
    ssize_t n = vfs_fd_path(dfd, full, sizeof(full));
    if (n < 0 || (size_t)n + 1 + m > OPEN_PATH_MAX) {
        close(dfd);
        *err = n < 0 ? EACCES : ENAMETOOLONG;
        return with_gil ? -1 : VFS_NOT_ANSWERED;
    }
    if (n > 1) {
        full[n++] = '/';
    }
    /* What is decided: a journal (and kin) as its database (vfs_decide_file), a temporary
     * file as the family of SQLite's temporary files in its folder, "<real folder>/etilqs_*",
     * written (made new, O_EXCL, and removed at once: what SQLite reads back from it is its
     * own; each one is named anew, 16 random characters, so a rule names the family, and one
     * answer holds for the folder -- red team 86 had them made, undecided, in a folder the
     * function may not write in, through temp_store_directory) */
    char family[OPEN_PATH_MAX + 2];
    size_t family_n = 0;
    if (temp) {
        memcpy(family, full, (size_t)n);
        memcpy(family + n, "etilqs_*", 9);
        family_n = (size_t)n + 8;
    }
    memcpy(full + n, leaf, m + 1);
    n += (ssize_t)m;
    if (with_gil) {
        int refused = temp ? vfs_decide(family, family_n, 1, NULL) != 0
                           : vfs_decide_file(full, (size_t)n, vfs_canonical(flags | O_CREAT),
                                             NULL) != 0;
        if (refused) {
            close(dfd);
            *err = EACCES;
            return -1;
        }
    }
    else if (temp ? !vfs_kept(family, family_n, 1)
                  : !vfs_kept_kin(full, (size_t)n - cut, vfs_canonical(flags | O_CREAT))) {
        close(dfd);
        return VFS_NOT_ANSWERED;
    }
    int fd = -1, by_name = 0;
    if (!g_no_openat2) {
        /* made at the very text decided, with no link on the way (the folder's real path has
         * none): no descriptor is used, which another thread could move meanwhile */
        fd = open_no_links_mode(full, flags | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
        *err = errno;
        by_name = !g_no_openat2;
        if (fd < 0 && by_name && *err == ELOOP) {
            close(dfd); /* (a link on the way now: the folder moved since it was read back) */
            if (!with_gil) {
                return VFS_NOT_ANSWERED;
            }
            *err = EACCES;
            *again = 1; /* (read back again: guarded_open's tries) */
            return -1;
        }
    }
    if (!by_name) {
        fd = openat(dfd, leaf, flags | O_CREAT | O_EXCL | O_NOFOLLOW, (mode_t)mode);
        *err = errno;
        if (fd >= 0) {
            char back[OPEN_PATH_MAX + 2];
            ssize_t k = vfs_fd_path(fd, back, sizeof(back));
            if (k != n || memcmp(back, full, (size_t)n) != 0) {
                close(fd); /* made elsewhere than the folder read back (its descriptor moved) */
                (void)unlinkat(dfd, leaf, 0);
                fd = -1;
                *err = EACCES;
            }
        }
    }
    if (fd < 0 && *err == EEXIST && !(flags & O_EXCL)) {
        *again = 1;
    }
    if (fd >= 0 && (temp || !with_gil)) {
        vfs_made_keep(path, full, (size_t)n, temp);
    }
    close(dfd);
    return fd;
}

static int vfs_reopen(int pfd, int flags, int mode, const struct stat *st); /* (below) */

/* One try of guarded_open's work (with the GIL). */
static int
vfs_open_once(const char *path, int flags, int mode, int *err, int *again)
{
    if ((flags & O_CREAT) && memo_lstat_missing(path, strlen(path))) {
        /* (not there when the core last looked: made first, looked at only when there) */
        int there = 0;
        int fd = vfs_make(path, flags, mode, 1, err, &there);
        if (!there) {
            return fd;
        }
    }
    int pfd = open(path, O_PATH | O_CLOEXEC | (flags & O_NOFOLLOW));
    if (pfd < 0) {
        *err = errno;
        if (*err == ENOENT && (flags & O_CREAT)) {
            return vfs_make(path, flags, mode, 1, err, again);
        }
        return -1;
    }
    char real[OPEN_PATH_MAX + 2];
    struct stat st;
    ssize_t n = fstat(pfd, &st) == 0 ? vfs_fd_path(pfd, real, sizeof(real)) : -1;
    int refused = 0;
    if (n < 0) {
        refused = EACCES;
    }
    else if ((flags & O_CREAT) && (flags & O_EXCL)) {
        refused = EEXIST; /* (what the kernel says: the name is there) */
    }
    else if (S_ISLNK(st.st_mode)) {
        refused = ELOOP; /* (O_NOFOLLOW, and the name is a link) */
    }
    else if (S_ISDIR(st.st_mode)) {
        /* a folder: unixSync's openDirectory, read-only, to fsync it (nothing is read) */
        refused = (flags & O_ACCMODE) != O_RDONLY ? EISDIR : 0;
    }
    else if (S_ISREG(st.st_mode)) {
        refused = vfs_decide_file(real, (size_t)n, vfs_canonical(flags), &st) != 0 ? EACCES : 0;
    }
    else if (!(S_ISCHR(st.st_mode) && (flags & O_ACCMODE) == O_RDONLY &&
               (st.st_rdev == makedev(1, 3) || st.st_rdev == makedev(1, 9)))) {
        char what[300];
        snprintf(what, sizeof(what), "%s at %.200s, which SQLite would open itself (no audit event)",
                 S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device node",
                 real);
        if (sqlite_refusal(what) != 0) {
            PyErr_Clear();
            refused = EACCES;
        }
    }
    if (refused != 0) {
        close(pfd);
        *err = refused;
        return -1;
    }
    int fd = vfs_reopen(pfd, flags, mode, &st);
    *err = errno;
    return fd;
}

/* Reopen the O_PATH descriptor `pfd` (closed here) with SQLite's flags, as the inode `st`
 * only: -1 with errno otherwise. */
static int
vfs_reopen(int pfd, int flags, int mode, const struct stat *st)
{
    char link[64];
    proc_fd_link(link, pfd);
    int fd = g_vfs_open_orig(link, flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW), mode);
    int err = errno;
    struct stat now;
    if (fd >= 0 && (fstat(fd, &now) != 0 || now.st_dev != st->st_dev ||
                    now.st_ino != st->st_ino || now.st_rdev != st->st_rdev)) {
        close(fd); /* not the file decided (its descriptor number was reused meanwhile) */
        fd = -1;
        err = EACCES;
    }
    close(pfd);
    errno = err;
    return fd;
}

/* What guarded_open answers with no GIL (SQLite may hold its global mutex: see g_vfs_kept):
 * the two device nodes SQLite opens itself, read-only (/dev/null 1:3, /dev/urandom 1:9, known
 * by their device numbers), a journal, WAL, shared-memory or super-journal file of a database
 * kept, and a new temporary file. 1 with *fd (and errno) when answered; 0: the GIL's way.
 * With no GIL another thread may move descriptors (dup2) between these system calls: what is
 * opened is the inode first looked at (vfs_reopen), a name read back from a descriptor is
 * checked by name -- no link on the way -- to lead to that inode (plain_lstat), and a file
 * made is read back from its own descriptor (vfs_make). An O_CREAT open is tried as a new
 * file first (a journal is new at each transaction in SQLite's default journal mode), then,
 * when the name is there, as an existing one. */
/* Whether a name SQLite opens may be one vfs_open_fast answers: the two device nodes by their
 * names, a temporary file's name, a journal's (and its kin's). Anything else goes the GIL's
 * way at once (the answer is the same: the fast way only saves the GIL; this saves the fast
 * way's own lookup of a database's name, which the GIL's way makes again). */
static int
vfs_fast_candidate(const char *path)
{
    if (strcmp(path, "/dev/null") == 0 || strcmp(path, "/dev/urandom") == 0) {
        return 1;
    }
    const char *slash = strrchr(path, '/');
    const char *leaf = slash != NULL ? slash + 1 : path;
    size_t m = strlen(leaf);
    size_t cut = sqlite_aux_suffix(leaf, m);
    return (m > 7 && memcmp(leaf, "etilqs_", 7) == 0) || (cut > 0 && cut < m);
}

static int
vfs_open_fast(const char *path, int flags, int mode, int *fd)
{
    if (!vfs_fast_candidate(path)) {
        return 0;
    }
    if (flags & O_CREAT) {
        /* (a journal is new at each transaction: made first, looked at only when there) */
        int err = 0, again = 0;
        int made = vfs_make(path, flags, mode, 0, &err, &again);
        if (made != VFS_NOT_ANSWERED && !again) {
            *fd = made;
            errno = err;
            return 1;
        }
    }
    int pfd = open(path, O_PATH | O_CLOEXEC | (flags & O_NOFOLLOW));
    if (pfd < 0) {
        return 0; /* (the GIL's way: a name removed meanwhile, or one not answered here) */
    }
    struct stat st;
    int ok = 0;
    if (fstat(pfd, &st) == 0 && !((flags & O_CREAT) && (flags & O_EXCL))) {
        if (S_ISCHR(st.st_mode)) {
            ok = (flags & O_ACCMODE) == O_RDONLY &&
                 (st.st_rdev == makedev(1, 3) || st.st_rdev == makedev(1, 9));
        }
        else if (S_ISREG(st.st_mode)) {
            char real[OPEN_PATH_MAX + 2];
            ssize_t n = vfs_fd_path(pfd, real, sizeof(real));
            const char *slash = n > 0 ? memrchr(real, '/', (size_t)n) : NULL;
            size_t m = slash != NULL ? (size_t)(real + n - slash - 1) : 0;
            size_t cut = slash != NULL ? sqlite_aux_suffix(slash + 1, m) : 0;
            struct stat named, parent;
            ok = cut > 0 && cut < m && vfs_kept_kin(real, (size_t)n - cut, vfs_canonical(flags)) &&
                 plain_lstat(real, (size_t)n, &named, &parent) == 0 &&
                 named.st_dev == st.st_dev && named.st_ino == st.st_ino;
        }
    }
    if (!ok) {
        close(pfd);
        return 0;
    }
    *fd = vfs_reopen(pfd, flags, mode, &st);
    return 1;
}

/* The open system call of SQLite's unix VFSes while the core is installed (see above). */
static int
guarded_open(const char *path, int flags, int mode)
{
    if (!g_installed || path == NULL) {
        return g_vfs_open_orig(path, flags, mode);
    }
    int fast;
    if (vfs_open_fast(path, flags, mode, &fast)) {
        return fast;
    }
    size_t n = strlen(path);
    if (n >= 4 && memcmp(path + n - 4, "-shm", 4) == 0) {
        /* SQLite opens a shared-memory file holding its global mutex (unixOpenSharedMemory):
         * taking the GIL there could wait on a thread that holds the GIL and waits on that
         * mutex (a connection closed or freed with the GIL held: 3.10 frees them so). One
         * the fast way cannot answer -- its database not kept with that access -- is
         * refused instead; SQLite then tries it read-only (answered when the database was
         * kept for reading), else the database cannot run in WAL mode. */
        errno = EACCES;
        return -1;
    }
    if (t_vfs_open || VFS_FINALIZING()) {
        errno = EACCES; /* (no SQLite open inside this decision; none decided at exit) */
        return -1;
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    t_vfs_open = 1;
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback); /* (none expected: SQLite runs outside Python) */
    int fd = -1, err = EACCES;
    if (PyInterpreterState_Get() == g_interp) {
        for (int i = 0; i < VFS_CREATE_TRIES; i++) {
            int again = 0;
            fd = vfs_open_once(path, flags, mode, &err, &again);
            if (!again) {
                break;
            }
            err = EACCES; /* (a name that keeps appearing: refused after the last try) */
        }
    }
    PyErr_Restore(type, value, traceback);
    t_vfs_open = 0;
    PyGILState_Release(gil);
    if (fd < 0) {
        errno = err;
    }
    return fd;
}

/* SQLite's other changes by name: unlink (a journal, WAL, shared-memory or super-journal file,
 * a temporary file), mkdir and rmdir (the unix-dotfile VFS's "<database>.lock" folder). Their
 * names are not always SQLite's own: a super-journal's name is read from a hot journal's bytes,
 * which the function may write (red team 86 had SQLite delete a file the profile only lets it
 * read). Each is decided as a write of its real name -- the folder's real path read back from
 * an O_PATH descriptor, the leaf added -- like os.remove, os.mkdir and os.rmdir, and then made
 * in that descriptor (unlinkat, mkdirat: no folder on the way can be made a link after the
 * decision, red team 87):
 *   - with no GIL: the temporary file this thread made last (its name as SQLite gave it), and
 *     a database's kin (its journal, WAL, shared-memory and super-journal files, its ".lock"
 *     folder) when the database was kept with write access (see g_vfs_kept);
 *   - with the GIL otherwise, except a shared-memory file, which SQLite removes holding its
 *     global mutex: refused when the table cannot answer it (the file stays).
 * Refused: -1 with errno EACCES (SQLite reports an I/O error for a journal it could not
 * remove, and goes on for the rest). */
typedef int (*vfs_unlink_fn)(const char *);
typedef int (*vfs_mkdir_fn)(const char *, mode_t);
static vfs_unlink_fn g_vfs_unlink_orig, g_vfs_rmdir_orig;
static vfs_mkdir_fn g_vfs_mkdir_orig;

enum { VFS_UNLINK, VFS_MKDIR, VFS_RMDIR };

/* `path`'s real name in `full` (size OPEN_PATH_MAX + 2): its folder's real path read back from
 * an O_PATH descriptor (left open in *dfd: the change is made in it), "/" and the leaf. Its
 * length, or -1 with errno (*dfd closed). */
static ssize_t
vfs_real_name(const char *path, char *full, int *dfd)
{
    *dfd = -1;
    const char *leaf;
    int fd = vfs_folder_open(path, &leaf);
    if (fd < 0) {
        return -1;
    }
    size_t m = strlen(leaf);
    ssize_t n = vfs_fd_path(fd, full, OPEN_PATH_MAX + 2);
    if (n < 0 || (size_t)n + 1 + m > OPEN_PATH_MAX) {
        close(fd);
        errno = n < 0 ? EACCES : ENAMETOOLONG;
        return -1;
    }
    if (n > 1) {
        full[n++] = '/';
    }
    memcpy(full + n, leaf, m + 1);
    *dfd = fd;
    return n + (ssize_t)m;
}

/* Whether the real name `full` (n characters) is a kin of a database kept with write access:
 * its journal and the like, or (a folder: mkdir, rmdir) its ".lock". */
static int
vfs_kin_kept(const char *full, size_t n, int kind)
{
    const char *slash = memrchr(full, '/', n);
    const char *leaf = slash != NULL ? slash + 1 : full;
    size_t m = n - (size_t)(leaf - full);
    size_t cut = kind == VFS_UNLINK ? sqlite_aux_suffix(leaf, m)
                 : (m > 5 && memcmp(leaf + m - 5, ".lock", 5) == 0) ? 5
                                                                    : 0;
    return cut > 0 && cut < m && vfs_kept_kin(full, n - cut, 1);
}

static int
vfs_change(int kind, const char *path, mode_t mode)
{
    int (*plain)(const char *) = kind == VFS_UNLINK ? g_vfs_unlink_orig : g_vfs_rmdir_orig;
    if (!g_installed || path == NULL) {
        return kind == VFS_MKDIR ? g_vfs_mkdir_orig(path, mode) : plain(path);
    }
    vfs_made_names *made = kind == VFS_UNLINK ? vfs_made(0) : NULL;
    if (made != NULL && made->temp[0] != '\0' && strcmp(path, made->temp) == 0) {
        made->temp[0] = '\0'; /* (once: the file just made, by the name it was made by) */
        return plain(path);
    }
    char full[OPEN_PATH_MAX + 2];
    if (made != NULL && made->kin_given[0] != '\0' && strcmp(path, made->kin_given) == 0) {
        /* SQLite's own journal, made on this thread: removed by the real name it was made at,
         * still a kin of a database kept (a folder on that text made a link since would lead
         * where a link the function may make leads: where it may write) */
        made->kin_given[0] = '\0'; /* (once) */
        size_t k = strlen(made->kin_real);
        memcpy(full, made->kin_real, k + 1);
        if (vfs_kin_kept(full, k, kind)) {
            return plain(full);
        }
    }
    int dfd;
    ssize_t n = vfs_real_name(path, full, &dfd);
    if (n < 0) {
        return -1;
    }
    const char *leaf = strrchr(full, '/') + 1;
    int allowed = vfs_kin_kept(full, (size_t)n, kind);
    if (!allowed) {
        size_t len = strlen(path);
        if ((len >= 4 && memcmp(path + len - 4, "-shm", 4) == 0) || t_vfs_open ||
            VFS_FINALIZING()) {
            close(dfd);
            errno = EACCES; /* (SQLite's global mutex may be held: no GIL is waited for) */
            return -1;
        }
        PyGILState_STATE gil = PyGILState_Ensure();
        t_vfs_open = 1;
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        /* (the folder read back again with the GIL held, with its identity: before it, another
         * thread could have moved the descriptor between its reading and now) */
        struct stat before, after;
        char again[OPEN_PATH_MAX + 2];
        ssize_t k = fstat(dfd, &before) == 0 ? vfs_fd_path(dfd, again, sizeof(again)) : -1;
        size_t folder_n = (size_t)(leaf - full) - 1;
        allowed = PyInterpreterState_Get() == g_interp && k >= 0 &&
                  ((size_t)k == folder_n || (folder_n == 0 && k == 1)) &&
                  memcmp(again, full, (size_t)k) == 0 &&
                  (kind == VFS_UNLINK ? vfs_decide_file(full, (size_t)n, 1, NULL)
                                      : vfs_decide(full, (size_t)n, 1, NULL)) == 0;
        /* (the same folder as decided: the decision may have run Python, and another thread
         * may have put another folder at the descriptor's number meanwhile; nothing of the
         * function's runs from here to the change, the GIL held) */
        allowed = allowed && fstat(dfd, &after) == 0 && after.st_dev == before.st_dev &&
                  after.st_ino == before.st_ino;
        int r = -1, err = EACCES;
        if (allowed) {
            r = kind == VFS_MKDIR ? mkdirat(dfd, leaf, mode)
                                  : unlinkat(dfd, leaf, kind == VFS_RMDIR ? AT_REMOVEDIR : 0);
            err = errno;
        }
        PyErr_Restore(type, value, traceback);
        t_vfs_open = 0;
        PyGILState_Release(gil);
        close(dfd);
        errno = err;
        return r;
    }
    /* a database's kin, with no GIL: made in the folder whose real path was read (another
     * thread may move descriptors meanwhile: a stated limit, the leaf a kin's name) */
    int r = kind == VFS_MKDIR ? mkdirat(dfd, leaf, mode)
                              : unlinkat(dfd, leaf, kind == VFS_RMDIR ? AT_REMOVEDIR : 0);
    int err = errno;
    close(dfd);
    errno = err;
    return r;
}

static int
guarded_unlink(const char *path)
{
    return vfs_change(VFS_UNLINK, path, 0);
}

static int
guarded_mkdir(const char *path, mode_t mode)
{
    return vfs_change(VFS_MKDIR, path, mode);
}

static int
guarded_rmdir(const char *path)
{
    return vfs_change(VFS_RMDIR, path, 0);
}

/* SQLite's sqlite3_vfs_find, from the library the _sqlite3 module was linked with. The module
 * is found among the objects loaded in the process (dl_iterate_phdr) as the one that defines
 * PyInit__sqlite3 itself -- no Python object is read, nothing of sys.modules (which the
 * function may have changed) --, reopened RTLD_NOLOAD, and the symbol looked up in its
 * dependency tree (libsqlite3.so.0, or an SQLite linked into it with its symbols exported).
 * A _sqlite3 built into the interpreter is the main program's. The system's libsqlite3.so.0
 * already loaded is the fallback. */
#define VFS_OBJECTS 1024
typedef struct {
    size_t count;
    struct dl_phdr_info objects[VFS_OBJECTS]; /* (their names and headers stay while loaded) */
} vfs_search;
static char g_vfs_via[160]; /* where _sqlite3 was found (for the status) */

static int
vfs_list_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    vfs_search *search = data;
    if (search->count < VFS_OBJECTS) {
        search->objects[search->count++] = *info;
    }
    return 0; /* (no dlopen in here: the loader's lock is held) */
}

static void *
vfs_library(void)
{
    vfs_search *search = PyMem_RawCalloc(1, sizeof(vfs_search));
    void *found = NULL;
    if (search != NULL) {
        dl_iterate_phdr(vfs_list_object, search);
    }
    for (size_t k = 0; search != NULL && k < search->count && found == NULL; k++) {
        const struct dl_phdr_info *info = &search->objects[k];
        const char *name = info->dlpi_name;
        void *handle = dlopen(name != NULL && name[0] != '\0' ? name : NULL, RTLD_NOW | RTLD_NOLOAD);
        if (handle == NULL) {
            continue;
        }
        /* (dlsym on a handle searches the object's dependencies too: the symbol must be in
         * one of this object's own loaded segments) */
        uintptr_t init = (uintptr_t)dlsym(handle, "PyInit__sqlite3");
        int own = 0;
        for (size_t i = 0; init != 0 && i < info->dlpi_phnum && !own; i++) {
            const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
            uintptr_t start = (uintptr_t)info->dlpi_addr + (uintptr_t)ph->p_vaddr;
            own = ph->p_type == PT_LOAD && init >= start && init - start < (uintptr_t)ph->p_memsz;
        }
        if (own && dlsym(handle, "sqlite3_vfs_find") != NULL) {
            found = handle; /* (kept open: the library stays, as Python keeps its modules) */
            const char *leaf = name != NULL ? strrchr(name, '/') : NULL;
            snprintf(g_vfs_via, sizeof(g_vfs_via), "%s",
                     leaf != NULL ? leaf + 1 : (name != NULL && name[0] ? name : "the interpreter"));
        }
        else {
            dlclose(handle);
        }
    }
    PyMem_RawFree(search);
    if (found == NULL) {
        found = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_NOLOAD);
        snprintf(g_vfs_via, sizeof(g_vfs_via), "libsqlite3.so.0, no _sqlite3 object found");
    }
    return found;
}

/* Put guarded_open in SQLite's unix VFS (at the first sqlite3.connect after install: SQLite
 * is loaded then, and not at every cold start). Once: on, or why not in g_vfs_why. */
static void
vfs_guard_try(void)
{
    void *handle = vfs_library();
    void *find = handle != NULL ? dlsym(handle, "sqlite3_vfs_find") : NULL;
    void *version = handle != NULL ? dlsym(handle, "sqlite3_libversion") : NULL;
    const char *v = version != NULL ? ((const char *(*)(void))version)() : "?";
    g_vfs_state = -1;
    if (find != NULL) {
        g_sqlite_vfs_find = (void *(*)(const char *))find;
        g_sqlite_set_authorizer =
            (sqlite_set_authorizer_fn)dlsym(handle, "sqlite3_set_authorizer");
    }
    if (find == NULL) {
        snprintf(g_vfs_why, sizeof(g_vfs_why),
                 "off: no sqlite3_vfs_find in the SQLite library _sqlite3 uses (a static SQLite "
                 "without exported symbols?)");
        return;
    }
    vfs_struct *vfs = ((vfs_struct * (*)(const char *)) find)(NULL);
    if (vfs == NULL || vfs->zName == NULL || strncmp(vfs->zName, "unix", 4) != 0) {
        snprintf(g_vfs_why, sizeof(g_vfs_why), "off: SQLite %.40s's default VFS is not unix", v);
        return;
    }
    if (vfs->iVersion < 3 || vfs->xSetSystemCall == NULL || vfs->xGetSystemCall == NULL) {
        snprintf(g_vfs_why, sizeof(g_vfs_why),
                 "off: SQLite %.40s's VFS has no system call table (iVersion %d < 3)", v,
                 vfs->iVersion);
        return;
    }
    vfs_open_fn original = (vfs_open_fn)vfs->xGetSystemCall(vfs, "open");
    if (original == NULL || original == guarded_open) {
        snprintf(g_vfs_why, sizeof(g_vfs_why), "off: SQLite %.40s has no \"open\" system call", v);
        return;
    }
    (void)pthread_atfork(NULL, NULL, vfs_kept_after_fork);
    g_vfs_open_orig = original; /* (first: SQLite threads may call it as soon as it is in) */
    if (vfs->xSetSystemCall(vfs, "open", (vfs_syscall_ptr)guarded_open) != 0) {
        snprintf(g_vfs_why, sizeof(g_vfs_why), "off: SQLite %.40s refused the open replaced", v);
        return;
    }
    g_vfs_state = 1;
    /* (its changes by name too: each found and replaced, or named in the status) */
    static const char *const changes[] = {"unlink", "mkdir", "rmdir"};
    vfs_syscall_ptr guards[] = {(vfs_syscall_ptr)guarded_unlink, (vfs_syscall_ptr)guarded_mkdir,
                                (vfs_syscall_ptr)guarded_rmdir};
    char missing[64] = "";
    for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
        vfs_syscall_ptr was = vfs->xGetSystemCall(vfs, changes[i]);
        if (was == NULL || was == guards[i]) {
            snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), " %s",
                     changes[i]);
            continue;
        }
        if (i == 0) {
            g_vfs_unlink_orig = (vfs_unlink_fn)was;
        }
        else if (i == 1) {
            g_vfs_mkdir_orig = (vfs_mkdir_fn)was;
        }
        else {
            g_vfs_rmdir_orig = (vfs_unlink_fn)was;
        }
        if (vfs->xSetSystemCall(vfs, changes[i], guards[i]) != 0) {
            snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), " %s",
                     changes[i]);
        }
    }
    snprintf(g_vfs_why, sizeof(g_vfs_why),
             "on: SQLite %.40s's opens are decided at the open (unix VFS \"open\" replaced%s%s; "
             "found from %.100s)",
             v, missing[0] ? "; not replaced:" : ", \"unlink\", \"mkdir\", \"rmdir\" too",
             missing, g_vfs_via);
}

static PyObject *
core_sqlite_open_guard(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    if (g_vfs_state == 0) {
        return PyUnicode_FromString(g_vfs_why);
    }
    return PyUnicode_FromFormat("%s; the authorizer in SQLite itself on %lu connection(s)",
                                g_vfs_why, g_c_authorized);
}

static PyMethodDef core_methods[] = {
    {"install", (PyCFunction)(void (*)(void))core_install, METH_VARARGS | METH_KEYWORDS,
     "install(names, callback, own_codes, mode, caller_events=frozenset(), block_signals=True,"
     " invoke_only=frozenset(), ..., own_sites=None) -> bool\n\nInstall the audit hook once per"
     " process; False if it already is. Events in invoke_only never reach the callback in the"
     " init phase. own_sites: (name, code) pairs, the events (and 'core.<function>' calls) each"
     " code object of the sandbox's makes itself; given, nothing else is taken for its own."
     " setattr_codes: the code of the functions setattr_names are guarded on; given, a guarded"
     " name set on anything else is answered in the core."},
    {"mode", core_mode, METH_NOARGS, "mode() -> str: the mode given at install."},
    {"phase", core_phase, METH_NOARGS, "phase() -> str: 'init', then 'invoke' for good."},
    {"enter_invoke", core_enter_invoke, METH_NOARGS,
     "enter_invoke(): init -> invoke, one way; only from the sandbox's own code."},
    {"cache_has", core_cache_has, METH_O,
     "cache_has(key: str) -> bool: False for anything but an exact str."},
    {"cache_add", core_cache_add, METH_O,
     "cache_add(key: str): only from the sandbox's own code inside the callback."},
    {"cache_clear", core_cache_clear, METH_NOARGS,
     "cache_clear(): only from the sandbox's own code inside the callback."},
    {"open_cache_add", core_open_cache_add, METH_VARARGS,
     "open_cache_add(args, identity) -> bool: only from the sandbox's own code inside the"
     " callback; identity is (dev, ino), (dev, -dir_ino - 1) or None."},
    {"loaded_sources", core_loaded_sources, METH_NOARGS,
     "loaded_sources() -> tuple | None: the module sources the core let the import system "
     "read at init since the last call; the callback only."},
    {"changes_elsewhere", core_changes_elsewhere, METH_NOARGS,
     "changes_elsewhere() -> bool: another thread has an audited name change in flight."},
    {"changes", core_changes, METH_NOARGS,
     "changes() -> int: the audited name changes seen so far (forgets and clears)."},
    {"open_cache_clear", core_open_cache_clear, METH_NOARGS,
     "open_cache_clear(): forget every open answer (a path may resolve differently now)."},
    {"sqlite_companions_add", core_sqlite_companions_add, METH_O,
     "sqlite_companions_add(database): the callback's word that a database's companions "
     "are decided as it (the sandbox's own code only)"},
    {"dir_verdict_add", core_dir_verdict_add, METH_VARARGS,
     "dir_verdict_add(directory, action, identity) -> bool: only from the sandbox's own code"
     " inside the callback; every name directly in directory may be opened for action."},
    {"popen_verdict_add", core_popen_verdict_add, METH_VARARGS,
     "popen_verdict_add(args, caller, identity, checks) -> bool: only from the sandbox's own "
     "code inside the callback; this Popen from this code is answered again while every check "
     "its decision made still holds."},
    {"exec_verdict_add", core_exec_verdict_add, METH_VARARGS,
     "exec_verdict_add(args, identity) -> bool: only from the sandbox's own code inside the "
     "callback; this fork_exec is answered again while its program has this identity."},
    {"pattern_verdict_add", core_pattern_verdict_add, METH_VARARGS,
     "pattern_verdict_add(directory, glob, action, depth, identity): the names a glob covers "
     "in a folder (depth 0), or the names in the folders it covers (depth 1); the callback only."},
    {"dir_module_verdict_add", core_dir_module_verdict_add, METH_VARARGS,
     "dir_module_verdict_add(directory, identity) -> bool: only from the sandbox's own code"
     " inside the callback; module files directly in directory are read like other files."},
    {"module_verdict_add", core_module_verdict_add, METH_VARARGS,
     "module_verdict_add(prefix, children=False) -> bool: only from the sandbox's own code"
     " inside the callback; every module name starting with prefix ('a.', 'a.b.') -- with"
     " children, every one directly below it -- may be imported in this phase."},
    {"module_packages_add", core_module_packages_add, METH_O,
     "module_packages_add(names) -> int: only from the sandbox's own code inside the callback;"
     " each top-level module name of names (a tuple or frozenset of str) may be imported in"
     " this phase, and every name below it. Returns how many were kept."},
    {"compile_verdict_add", core_compile_verdict_add, METH_VARARGS,
     "compile_verdict_add(args, code) -> bool: only from the sandbox's own code inside the"
     " callback; a compile event with these arguments raised by this code is answered in this"
     " phase from now on."},
    {"import_known", core_import_known, METH_O,
     "import_known(name) -> bool: importing name in this phase is known to be allowed (the"
     " decision cache, or a module verdict); False for anything but an exact str."},
    {"open_cache_forget", core_open_cache_forget, METH_O,
     "open_cache_forget(name): forget the open answers for name and every name below it."},
    {"open_cache_validate", core_open_cache_validate, METH_NOARGS,
     "open_cache_validate(): from now on every open answer is re-checked with a stat."},
    {"forgotten", core_forgotten, METH_NOARGS,
     "forgotten() -> tuple | True | None: only from the sandbox's own code inside the callback;"
     " the names changed by events the core answered since the last call (True: everything)."},
    {"defer_quiet_ends", core_defer_quiet_ends, METH_O,
     "defer_quiet_ends(codes) -> bool: once, from the sandbox's own code: an argument-less"
     " sandbox.invocation_end raised outside the callback by one of codes while no end is"
     " needed, and the next sandbox.invocation from them, are answered in the core and logged"
     " (ends_deferred); False in learn."},
    {"request_env", core_request_env, METH_O,
     "request_env(request_id): only from the sandbox's own code inside the callback: the"
     " request id (ASCII, at most 128 characters, no NUL; else empty) that the children"
     " started from now on find in SANDBOX_REQUEST_ID."},
    {"end_needed", core_end_needed, METH_O,
     "end_needed(flag: bool): only from the sandbox's own code inside the callback; True: the"
     " next invocation end goes to the callback (something was reported), False: it may not."},
    {"ends_deferred", core_ends_deferred, METH_NOARGS,
     "ends_deferred() -> tuple: only from the sandbox's own code inside the callback; the"
     " invocation ends (None) and starts ((request_id, source, seconds, thread)) answered in the"
     " core"
     " since the last call, in order."},
    {"sqlite_authorizer", core_sqlite_authorizer, METH_O,
     "sqlite_authorizer(authorize) -> callable: SQLite's authorizer answering SQLITE_OK for"
     " every action but SQLITE_ATTACH (24) in C; an ATTACH (or an action that is not an exact"
     " int) goes to authorize with the same arguments."},
    {"seal_fork_exec", core_seal_fork_exec, METH_O,
     "seal_fork_exec(fork_exec) -> bool: before install, once: every call of _posixsubprocess's"
     " fork_exec raises the _posixsubprocess.fork_exec audit event first (as 3.14 does)."},
    {"seal_spawn_env", core_seal_spawn_env, METH_VARARGS,
     "seal_spawn_env(posix_spawn, posix_spawnp, execve, execv) -> bool: before install, once:"
     " their path, argv and env are read into exact copies before the call (and its event)."},
    {"seal_socket_addresses", core_seal_socket_addresses, METH_O,
     "seal_socket_addresses(_socket.socket) -> bool: before install, once: a host name given to"
     " connect, connect_ex, bind, sendto or sendmsg is raised as socket.getaddrinfo (decided)"
     " before CPython looks it up."},
    {"descriptor_hold", core_descriptor_hold, METH_O,
     "descriptor_hold(fd): pin and hold a descriptor a decision's name goes through /proc for "
     "(see _core.c)."},
    {"descriptors_pinned", core_descriptors_pinned, METH_NOARGS,
     "descriptors_pinned(): (fd, st_mode, st_dev, st_ino, name or None) of each descriptor "
     "this thread's decision pinned when it began."},
    {"seal_process_calls", core_seal_process_calls, METH_VARARGS,
     "seal_process_calls(os.chroot, signal.pidfd_send_signal, os.unshare, os.setns, (os.setpriority,"
     " os.sched_setaffinity, os.sched_setscheduler, os.sched_setparam)) -> bool: before install,"
     " once: each raises an event first (pidfd_send_signal: os.kill with the pidfd's pid; the"
     " others os.<name>); None: not there."},
    {"seal_resolvers", core_seal_resolvers, METH_VARARGS,
     "seal_resolvers(getaddrinfo, gethostbyname, gethostbyname_ex, gethostbyaddr) -> bool:"
     " before install, once: an ASCII str host is handed to them as bytes (no codec runs)."},
    {"network_verdict_add", core_network_verdict_add, METH_VARARGS,
     "network_verdict_add(event, args, socket_init) -> bool: only inside the callback, from the"
     " sandbox's own code (enforce): answer later socket.__new__ events of this family and type"
     " (socket_init: socket.py's socket.__init__ code, whose fileno-wrapping calls go to the"
     " callback), socket.connect events to this address literal, or socket.getaddrinfo events of"
     " this name, in this phase."},
    {"sqlite_open_guard", core_sqlite_open_guard, METH_NOARGS,
     "sqlite_open_guard() -> str: whether SQLite's own opens are decided at the open ('on: "
     "...'), or why not ('off: ...', 'not yet: ...')."},
    {"seal_sqlite", core_seal_sqlite, METH_VARARGS,
     "seal_sqlite(authorizer, trampoline) -> bool: before install, once: SQLite connections are"
     " guarded in C (the authorizer installed at the thread's next profile event; trampoline is"
     " what sys.getprofile() shows meanwhile)."},
    {"seal_extensions", core_seal_extensions, METH_VARARGS,
     "seal_extensions(_imp.create_dynamic, _imp.exec_dynamic, _imp.exec_builtin, _ssl or None) "
     "-> bool: before install, once: the _ssl module they make has its file readers raise "
     "ssl.load_file (its exec run where no code of the function's runs)."},
    {"seal_library_files", core_seal_library_files, METH_VARARGS,
     "seal_library_files(_imp.create_builtin, _locale or None, activate_stack_trampoline or "
     "None) -> bool: before install, once: the _locale module made (or loaded) has glibc's "
     "gettext folders raise locale.bindtextdomain (resolved) and a domain with '/' refused; a "
     "stack trampoline raises sys.perf_map_file (the file CPython writes)."},
    {"sem_sealed", core_sem_sealed, METH_NOARGS,
     "sem_sealed() -> (SemLock, SemLock._rebuild, sem_unlink): which of _multiprocessing's are "
     "sealed."},
    {"shm_sealed", core_shm_sealed, METH_NOARGS,
     "shm_sealed() -> (shm_open, shm_unlink): which of _posixshmem's are sealed."},
    {"ssl_sealed", core_ssl_sealed, METH_NOARGS,
     "ssl_sealed() -> (decode_cert, load_verify_locations, load_cert_chain): which are sealed."},
    {"seal_clock", core_seal_clock, METH_VARARGS,
     "seal_clock(time.clock_settime, time.clock_settime_ns) -> bool: before install, once: each"
     " raises time.clock_settime (the clock id) first."},
    {"fork_exec_sealed", core_fork_exec_sealed, METH_NOARGS,
     "fork_exec_sealed() -> bool: whether seal_fork_exec took effect."},
    {"seal_compilers", core_seal_compilers, METH_VARARGS,
     "seal_compilers(eval, exec, compile) -> bool: before install, once: each hands the"
     " original an immutable copy of a source buffer that can change (CPython parses a"
     " bytearray, a memoryview of one, an array from its live buffer after the compile"
     " event)."},
    {"file_is", (PyCFunction)(void (*)(void))core_file_is, METH_FASTCALL,
     "file_is(path: str, offset: int, data: bytes, head: bytes = b'') -> str | None: the real"
     " path of the regular file at path when its bytes from offset on are exactly data and it"
     " starts with head (it names itself through /proc/self/fd); after install, the sandbox's"
     " own code only."},
    {"compile_to_tree", core_compile_to_tree, METH_NOARGS,
     "compile_to_tree() -> bool: whether the sealed compile running on this thread parses to a "
     "syntax tree only."},
    {"compile_name", core_compile_name, METH_O,
     "compile_name(tree) -> object: the file name the sealed compile running on this thread was"
     " given with this very object as its source; None otherwise (and where nothing is"
     " sealed: the Python core)."},
    {"unmarshal_renames_to", core_unmarshal_renames_to, METH_O,
     "unmarshal_renames_to(path: str | None) -> None: the source file the .pyc the import"
     " system's unmarshal decision checked implies: the one name _imp._fix_co_filename may"
     " give the code the sealed marshal.loads returns; the sandbox's own code only."},
    {"module_bytecode_rules", (PyCFunction)(void (*)(void))core_module_bytecode_rules,
     METH_FASTCALL,
     "module_bytecode_rules(compile_bytecode, chain, find_and_load, steady_prefixes, "
     "write_rules, magic, cache_tag, max_module) -> bool: what the core answers the import "
     "system's unmarshal of a module's own .pyc with (before install only, once)"},
    {"module_exec_rules", (PyCFunction)(void (*)(void))core_module_exec_rules, METH_FASTCALL,
     "module_exec_rules(exec_trees: tuple[str, ...]) -> bool: once, before install: the module"
     " roots (each + \"/\") the invoke phase's code exec rules cover whole; a module's code run"
     " in an invocation below one, under a name already allowed, is answered in the core."},
    {"deployment_rules", (PyCFunction)(void (*)(void))core_deployment_rules, METH_FASTCALL,
     "deployment_rules(steady_trees: tuple[str, ...], import_roots: tuple[str, ...]) -> bool: "
     "the folders below which no write rule reaches, and the import roots (before install, "
     "once)."},
    {"deployment_folder", core_deployment_folder, METH_O,
     "deployment_folder(folder: str) -> None: the callback found the folder the deployment's "
     "(from the sandbox's own code only, once installed)"},
    {"unmarshal_sealed", core_unmarshal_sealed, METH_NOARGS,
     "unmarshal_sealed() -> bool: the marshal.loads event being decided on this thread comes"
     " from the sealed marshal.loads (not another unmarshaller, such as"
     " _imp.get_frozen_object's); True where marshal.loads is not sealed."},
    {"seal_marshal", (PyCFunction)(void (*)(void))core_seal_marshal, METH_FASTCALL,
     "seal_marshal(loads, get_frozen_object, fix_co_filename) -> bool: before install, once:"
     " marshal.loads and _imp.get_frozen_object hand the original an immutable copy of a buffer"
     " that can change (they read the live buffer after their event), and after install"
     " _imp._fix_co_filename renames only the code the sealed marshal.loads has just returned;"
     " False where the core cannot (the Python core)."},
    {"seal_types", core_seal_types, METH_O,
     "seal_types(types: tuple) -> bool: each heap type made immutable (its attributes can no"
     " longer be set or deleted); False where the core cannot (the Python core)."},
    {"type_versions", core_type_versions, METH_O,
     "type_versions(types: tuple) -> tuple of int: each type's version tag (assigned first; 0"
     " where none can be): a set or deleted attribute changes it. The Python core returns"
     " zeros (it cannot read them)."},
    {"expect_unicodedata", core_expect_unicodedata, METH_VARARGS,
     "expect_unicodedata(module, normalize, spec_type) -> bool: the real unicodedata, its normalize "
     "and importlib's ModuleSpec, for the check before a non-ASCII shape parse (the first call "
     "only)."},
    {"warnings_settled", core_warnings_settled, METH_O,
     "warnings_settled(filters) -> bool: whether CPython's C warning code keeps `filters` as the"
     " list it read last, and (3.14) no warnings context is set: a warning then runs nothing of"
     " anyone's. True where the core cannot tell (the Python core)."},
    {"syntax_classes", core_syntax_classes, METH_NOARGS,
     "syntax_classes() -> tuple of (name, class): the parser's syntax-node classes, from a"
     " module of the interpreter's own _ast made here; each but Constant and Tuple sealed. Once:"
     " later calls return the same tuple."},
    {"hide_copies", core_hide_copies, METH_O,
     "hide_copies(pairs: tuple) -> bool: before install, once: each (original, copy) pair's copy"
     " taken out of its original's __subclasses__(); False where the core cannot (the Python"
     " core)."},
    {"plain_identity", core_plain_identity, METH_O,
     "plain_identity(path: str) -> (dev, ino) | (dev, -dir_ino - 1) | None: the identity of the"
     " name looked up in its directory reached with no symbolic link on the way (of the"
     " directory when the name is not there); None when there is a link on the way."},
    {"frame_local", (PyCFunction)(void (*)(void))core_frame_local, METH_FASTCALL,
     "frame_local(frame, name: str) -> object: the frame's local variable name, read from its"
     " slots (never through f_locals); None when it has none or it is unbound."},
    {"caller_local", core_caller_local, METH_O,
     "caller_local(name: str) -> object: inside the callback, frame_local of the frame that"
     " raised the caller event being decided; None elsewhere."},
    {"content_digest", core_content_digest, METH_O,
     "content_digest(data): SHA-256 of bytes, as 64 lowercase hex digits"},
    {"unmarshal_file", (PyCFunction)(void (*)(void))core_unmarshal_file, METH_FASTCALL,
     "unmarshal_file(fd: int, offset: int) -> object: marshal.loads of the regular file's bytes"
     " from offset to its end, read through a private mapping of the file (no copy); before"
     " install only (PermissionError after)."},
    {"resolved_path", core_resolved_path, METH_O,
     "resolved_path(path): path with its links resolved, or None when a name on it is missing"},
    {"file_identity", core_file_identity, METH_O,
     "file_identity(path: str) -> (dev, ino, nlink, ctime_ns, mtime_ns, size, mode) | None:"
     " what os.stat(path) says of the file path leads to; None where it raises."},
    {"core_dumps_off", core_core_dumps_off, METH_NOARGS,
     "core_dumps_off() -> int: RLIMIT_CORE's soft limit set to 0; the one found (-1: unlimited)."},
    {"kernel_no_new_privs", core_kernel_no_new_privs, METH_NOARGS,
     "kernel_no_new_privs(): prctl(PR_SET_NO_NEW_PRIVS, 1); before install only; OSError."},
    {"kernel_seccomp", core_kernel_seccomp, METH_O,
     "kernel_seccomp(program: bytes) -> int: seccomp(SECCOMP_SET_MODE_FILTER, TSYNC) of a BPF"
     " program; 0, or the thread id TSYNC could not synchronise; before install only; OSError."},
    {"kernel_seccomp_prctl", core_kernel_seccomp_prctl, METH_O,
     "kernel_seccomp_prctl(program: bytes): prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER), this"
     " thread only (kernels without seccomp(2)); before install only; OSError."},
    {"kernel_landlock_abi", core_kernel_landlock_abi, METH_NOARGS,
     "kernel_landlock_abi() -> int: the Landlock ABI version; OSError where there is none."},
    {"kernel_landlock_create", core_kernel_landlock_create, METH_O,
     "kernel_landlock_create(handled: int) -> int: a ruleset's descriptor (the caller closes"
     " it); before install only; OSError."},
    {"kernel_landlock_add_rule", core_kernel_landlock_add_rule, METH_VARARGS,
     "kernel_landlock_add_rule(ruleset_fd, parent_fd, allowed): a path-beneath rule; before"
     " install only; OSError."},
    {"kernel_landlock_restrict", core_kernel_landlock_restrict, METH_O,
     "kernel_landlock_restrict(ruleset_fd): landlock_restrict_self; before install only;"
     " OSError."},
    {"inside", core_inside, METH_NOARGS, "inside() -> bool: this thread is in the callback."},
    {"hold", core_hold, METH_O,
     "hold(obj): keep obj until the next decision starts outside the callback (anyone: it only"
     " delays a release)."},
    {"installed", core_installed, METH_NOARGS, "installed() -> bool"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    "_core",
    "The native core of the sandbox's audit hook (state kept in C memory).",
    -1,
    core_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModule_Create(&core_module);
}
