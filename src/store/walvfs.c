/*
 * The store's VFS: the system's default one, except that each commit's
 * frames reach the write-ahead log in one write.
 *
 * SQLite writes a frame of the log as two writes, its 24-byte header and
 * then the page, so a commit of n pages took 2n system calls. Here the
 * writes that follow one another are gathered in memory and written at
 * once when the commit frame's page arrives. The frame header says which
 * frame commits (SQLite's file format, "WAL File Format": bytes 4-7 of a
 * frame header hold the database's size after a commit, and are zero in
 * every other frame). The result of that write is the result SQLite gets for
 * the commit frame, so a full disk fails the commit as before.
 *
 * Nothing is published before it is in the file: SQLite updates the log's
 * index, which readers go by, only after the commit frame's write has
 * returned. The frames of a transaction that spills its cache before its
 * commit wait for the commit, or for anything else done to the file first
 * (a read, its size, a sync, a truncation, a file control, the close): the
 * file is always what it would be without this, at each of those. A write
 * that does not follow the gathered ones writes those first.
 */
#include "store/walvfs.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define WAL_FRAME_HDR 24
/* Written at once beyond this: the default VFS writes at most 128 KiB at a
 * time (it masks a larger size to 17 bits). */
#define GATHER_MAX (96 << 10)

/* What follows the default VFS's own file structure for a log. */
struct gather {
    const sqlite3_io_methods *real;
    unsigned char *buf;
    size_t len, cap;
    sqlite3_int64 off; /* of buf[0] in the file */
    bool commit_page;  /* the next write is the commit frame's page */
};

static sqlite3_vfs vfs;
static sqlite3_vfs *base;
static size_t base_size; /* the default VFS's file structure, rounded up to 8 */
static sqlite3_io_methods methods;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static bool methods_ready;

static struct gather *gather_of(sqlite3_file *f)
{
    return (struct gather *)(void *)((char *)f + base_size);
}

/* Writes what was gathered; SQLITE_OK or the write's error. */
static int flush(sqlite3_file *f)
{
    struct gather *g = gather_of(f);
    if (!g->len)
        return SQLITE_OK;
    int rc = g->real->xWrite(f, g->buf, (int)g->len, g->off);
    g->len = 0;
    return rc;
}

static int gather_write(sqlite3_file *f, const void *p, int amt, sqlite3_int64 off)
{
    struct gather *g = gather_of(f);
    size_t n = (size_t)amt;
    bool follows = g->len && off == g->off + (sqlite3_int64)g->len;
    if (g->len && (!follows || g->len + n > GATHER_MAX)) {
        int rc = flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (n > GATHER_MAX)
        return g->real->xWrite(f, p, amt, off);
    if (g->len + n > g->cap) {
        size_t cap = g->cap ? g->cap : 16 << 10;
        while (cap < g->len + n)
            cap *= 2;
        if (cap > GATHER_MAX)
            cap = GATHER_MAX;
        unsigned char *b = realloc(g->buf, cap);
        if (!b) {
            int rc = flush(f);
            return rc != SQLITE_OK ? rc : g->real->xWrite(f, p, amt, off);
        }
        g->buf = b;
        g->cap = cap;
    }
    if (!g->len)
        g->off = off;
    memcpy(g->buf + g->len, p, n);
    g->len += n;
    if (g->commit_page) {
        g->commit_page = false;
        return flush(f);
    }
    if (n == WAL_FRAME_HDR) {
        const unsigned char *h = p;
        g->commit_page = h[4] | h[5] | h[6] | h[7];
    }
    return SQLITE_OK;
}

static int gather_read(sqlite3_file *f, void *p, int amt, sqlite3_int64 off)
{
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : gather_of(f)->real->xRead(f, p, amt, off);
}

static int gather_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : gather_of(f)->real->xTruncate(f, size);
}

static int gather_sync(sqlite3_file *f, int flags)
{
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : gather_of(f)->real->xSync(f, flags);
}

static int gather_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : gather_of(f)->real->xFileSize(f, size);
}

static int gather_control(sqlite3_file *f, int op, void *arg)
{
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : gather_of(f)->real->xFileControl(f, op, arg);
}

static int gather_close(sqlite3_file *f)
{
    struct gather *g = gather_of(f);
    int rc = flush(f);
    free(g->buf);
    g->buf = NULL;
    int rc2 = g->real->xClose(f);
    return rc != SQLITE_OK ? rc : rc2;
}

static int vfs_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags,
                    int *out_flags)
{
    (void)v;
    int rc = base->xOpen(base, name, f, flags, out_flags);
    if (rc != SQLITE_OK || !f->pMethods || !(flags & SQLITE_OPEN_WAL))
        return rc;
    pthread_mutex_lock(&mu);
    if (!methods_ready) {
        /* the default VFS's methods for a log, with the writes gathered */
        methods = *f->pMethods;
        methods.xClose = gather_close;
        methods.xRead = gather_read;
        methods.xWrite = gather_write;
        methods.xTruncate = gather_truncate;
        methods.xSync = gather_sync;
        methods.xFileSize = gather_size;
        methods.xFileControl = gather_control;
        methods_ready = true;
    }
    bool same = methods.xLock == f->pMethods->xLock;
    pthread_mutex_unlock(&mu);
    if (!same)
        return rc; /* another kind of file than the first log: left as it is */
    struct gather *g = gather_of(f);
    memset(g, 0, sizeof(*g));
    g->real = f->pMethods;
    f->pMethods = &methods;
    return rc;
}

static void init(void)
{
    base = sqlite3_vfs_find(NULL);
    if (!base)
        return;
    vfs = *base;
    base_size = ((size_t)base->szOsFile + 7) & ~(size_t)7;
    vfs.szOsFile = (int)(base_size + sizeof(struct gather));
    vfs.zName = WALVFS_NAME;
    vfs.pNext = NULL;
    vfs.xOpen = vfs_open;
    if (sqlite3_vfs_register(&vfs, 0) != SQLITE_OK)
        base = NULL;
}

const char *walvfs_name(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init);
    return base ? WALVFS_NAME : NULL;
}
