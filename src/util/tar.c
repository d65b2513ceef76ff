#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/tar.h"
#include "util/xalloc.h"

/* The largest number an octal field of w bytes holds (w - 1 digits and a NUL). */
#define OCTAL_MAX(w) ((UINT64_C(1) << (3 * ((w)-1))) - 1)

/* Offsets of the ustar header fields (POSIX.1-1988, "ustar\0" "00"). */
enum {
    H_NAME = 0,
    H_MODE = 100,
    H_UID = 108,
    H_GID = 116,
    H_SIZE = 124,
    H_MTIME = 136,
    H_CHKSUM = 148,
    H_TYPE = 156,
    H_MAGIC = 257,
    H_VERSION = 263,
    H_PREFIX = 345,
};

/* A pax extended header larger than this is refused by the reader. */
#define PAX_MAX (64 * 1024)

static uint64_t round_block(uint64_t n)
{
    return (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

/*
 * Checks a name as tar_entry documents it. A trailing '/' (a directory) is
 * not part of what is checked.
 */
static int check_name(const char *name, struct buf *err)
{
    size_t len = strlen(name);
    if (len && name[len - 1] == '/')
        len--;
    if (!len) {
        buf_addf(err, "tar: an entry has an empty name");
        return -EINVAL;
    }
    if (name[0] == '/') {
        buf_addf(err, "tar: entry name '%s' is absolute", name);
        return -EINVAL;
    }
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && name[j] != '/')
            j++;
        size_t c = j - i;
        if (c == 0 || (c == 1 && name[i] == '.') || (c == 2 && !strncmp(name + i, "..", 2))) {
            buf_addf(err, "tar: entry name '%s' has an empty, '.' or '..' component", name);
            return -EINVAL;
        }
        i = j + 1;
    }
    return 0;
}

/* -------- writing -------- */

struct tar_item {
    uint64_t off; /* where its header (pax header first, if any) starts */
    char *hdr;    /* the header blocks */
    size_t hdr_len;
    uint64_t size; /* content bytes, then zeros up to a block boundary */
    char *src;     /* NULL: content is data */
    char *data;
};

struct tar_writer {
    struct tar_item *items;
    size_t n;
    uint64_t total;
    int fd; /* the source file of items[fd_item], or -1 */
    size_t fd_item;
};

/* Writes v as w - 1 octal digits and a NUL; v fits (checked by the caller). */
static void put_octal(char *field, size_t w, uint64_t v)
{
    char tmp[24];
    snprintf(tmp, sizeof(tmp), "%0*" PRIo64, (int)(w - 1), v);
    memcpy(field, tmp, w);
}

static void put_header(char *h, const char *name, size_t name_len, int type, int mode,
                       uint64_t size, int64_t mtime)
{
    memset(h, 0, TAR_BLOCK);
    memcpy(h + H_NAME, name, name_len < 100 ? name_len : 100);
    put_octal(h + H_MODE, 8, (uint64_t)mode);
    put_octal(h + H_UID, 8, 0);
    put_octal(h + H_GID, 8, 0);
    put_octal(h + H_SIZE, 12, size);
    put_octal(h + H_MTIME, 12, (uint64_t)mtime);
    h[H_TYPE] = (char)type;
    memcpy(h + H_MAGIC, "ustar", 6);
    memcpy(h + H_VERSION, "00", 2);
    memset(h + H_CHKSUM, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++)
        sum += (unsigned char)h[i];
    put_octal(h + H_CHKSUM, 7, sum); /* six digits, NUL, and the space left */
}

/* Appends the pax record "LEN key=value\n", LEN counting its own digits. */
static void pax_record(struct buf *b, const char *key, const char *value)
{
    size_t base = strlen(key) + strlen(value) + 3; /* ' ', '=', '\n' */
    size_t len = base + 1;
    char tmp[24];
    /* Adding the digits may add a digit (base 98: "101 ..."). */
    while ((size_t)snprintf(tmp, sizeof(tmp), "%zu", len) != len - base)
        len++;
    buf_addf(b, "%zu %s=%s\n", len, key, value);
}

/* Builds the header blocks of e (a pax header and a ustar one, or a ustar one). */
static void plan_item(struct tar_item *it, const struct tar_entry *e)
{
    size_t name_len = strlen(e->name);
    bool dir = e->name[name_len - 1] == '/';
    struct buf pax = BUF_INIT;
    if (name_len > 100)
        pax_record(&pax, "path", e->name);
    if (e->size > OCTAL_MAX(12)) {
        char tmp[24];
        snprintf(tmp, sizeof(tmp), "%" PRIu64, e->size);
        pax_record(&pax, "size", tmp);
    }
    size_t pax_len = pax.len ? TAR_BLOCK + (size_t)round_block(pax.len) : 0;
    it->hdr_len = pax_len + TAR_BLOCK;
    it->hdr = xcalloc(1, it->hdr_len);
    if (pax.len) {
        put_header(it->hdr, "././@PaxHeader", 14, 'x', 0644, pax.len, e->mtime);
        memcpy(it->hdr + TAR_BLOCK, pax.data, pax.len);
    }
    /*
     * With a pax "path", the name field keeps the first 100 bytes; with a
     * pax "size", the size field is ignored by readers: 0 fits.
     */
    put_header(it->hdr + pax_len, e->name, name_len, dir ? '5' : '0', e->mode,
               e->size > OCTAL_MAX(12) ? 0 : e->size, e->mtime);
    buf_release(&pax);
    it->size = e->size;
    it->src = e->src ? xstrdup(e->src) : NULL;
    if (!e->src && e->size)
        it->data = xmemdupz(e->data, (size_t)e->size);
}

static int check_entry(const struct tar_entry *e, struct buf *err)
{
    if (check_name(e->name, err))
        return -EINVAL;
    size_t len = strlen(e->name);
    if (e->name[len - 1] == '/' && (e->size || e->src)) {
        buf_addf(err, "tar: directory entry '%s' has content", e->name);
        return -EINVAL;
    }
    if (e->mode < 0 || e->mode > 07777) {
        buf_addf(err, "tar: entry '%s' has mode %o, not permission bits", e->name, e->mode);
        return -EINVAL;
    }
    if (e->mtime < 0 || (uint64_t)e->mtime > OCTAL_MAX(12)) {
        buf_addf(err, "tar: entry '%s' has mtime %" PRId64 ", out of range", e->name, e->mtime);
        return -EINVAL;
    }
    if (e->size > INT64_MAX) {
        buf_addf(err, "tar: entry '%s' has size %" PRIu64 ", out of range", e->name, e->size);
        return -EINVAL;
    }
    if (!e->src && e->size && !e->data) {
        buf_addf(err, "tar: entry '%s' has neither a source file nor data", e->name);
        return -EINVAL;
    }
    if (!e->src && e->size > SIZE_MAX / 2) {
        buf_addf(err, "tar: entry '%s' has too much data in memory", e->name);
        return -EINVAL;
    }
    return 0;
}

int tar_writer_new(struct tar_writer **out, const struct tar_entry *entries, size_t n,
                   struct buf *err)
{
    for (size_t i = 0; i < n; i++)
        if (check_entry(&entries[i], err))
            return -EINVAL;
    struct tar_writer *w = xcalloc(1, sizeof(*w));
    w->items = xcalloc(n ? n : 1, sizeof(*w->items));
    w->n = n;
    w->fd = -1;
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        struct tar_item *it = &w->items[i];
        plan_item(it, &entries[i]);
        it->off = off;
        /* Sizes are below 2^64 - 2^20 in any real archive; refuse wrapping anyway. */
        if (__builtin_add_overflow(off, it->hdr_len + round_block(it->size), &off) ||
            off > UINT64_MAX / 2) {
            buf_addf(err, "tar: the archive would be larger than 2^63 bytes");
            w->n = i + 1;
            tar_writer_free(w);
            return -EINVAL;
        }
    }
    w->total = off + 2 * TAR_BLOCK;
    *out = w;
    return 0;
}

uint64_t tar_writer_size(const struct tar_writer *w)
{
    return w->total;
}

/* The index of the item whose blocks hold pos, or n for the end blocks. */
static size_t find_item(const struct tar_writer *w, uint64_t pos)
{
    size_t lo = 0, hi = w->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->items[mid].off <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return w->n; /* no items: pos is in the end blocks */
    const struct tar_item *it = &w->items[lo - 1];
    if (lo == w->n && pos >= it->off + it->hdr_len + round_block(it->size))
        return w->n;
    return lo - 1;
}

/* Opens items[i]'s source (closing the previous one) and checks its size. */
static int open_source(struct tar_writer *w, size_t i, struct buf *err)
{
    const struct tar_item *it = &w->items[i];
    struct stat st;
    if (w->fd >= 0 && w->fd_item == i)
        return 0;
    if (w->fd >= 0)
        close(w->fd);
    /* O_NONBLOCK: a FIFO in place of the file must not hang the open. */
    w->fd = open(it->src, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (w->fd < 0) {
        buf_addf(err, "tar: %s: %s", it->src, strerror(errno));
        return -1;
    }
    w->fd_item = i;
    if (fstat(w->fd, &st) || !S_ISREG(st.st_mode)) {
        buf_addf(err, "tar: %s: not a regular file", it->src);
        return -1;
    }
    if ((uint64_t)st.st_size != it->size) {
        buf_addf(err, "tar: %s has %jd bytes, %" PRIu64 " expected: it changed", it->src,
                 (intmax_t)st.st_size, it->size);
        return -1;
    }
    return 0;
}

/* Reads up to n content bytes of items[i] at offset off into buf. */
static long read_content(struct tar_writer *w, size_t i, uint64_t off, char *buf, size_t n,
                         struct buf *err)
{
    const struct tar_item *it = &w->items[i];
    if (!it->src) {
        memcpy(buf, it->data + off, n);
        return (long)n;
    }
    if (open_source(w, i, err))
        return -1;
    ssize_t got;
    do
        got = pread(w->fd, buf, n, (off_t)off);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        buf_addf(err, "tar: %s: %s", it->src, strerror(errno));
        return -1;
    }
    if (got == 0) {
        buf_addf(err, "tar: %s is shorter than the %" PRIu64 " bytes expected: it changed", it->src,
                 it->size);
        return -1;
    }
    /* At the end of the content, a file that grew since it was opened is caught. */
    struct stat st;
    if (off + (uint64_t)got == it->size &&
        (fstat(w->fd, &st) || (uint64_t)st.st_size != it->size)) {
        buf_addf(err, "tar: %s is no longer %" PRIu64 " bytes long: it changed", it->src, it->size);
        return -1;
    }
    return (long)got;
}

long tar_writer_read(struct tar_writer *w, uint64_t pos, char *buf, size_t max, struct buf *err)
{
    size_t done = 0;
    if (max > (size_t)1 << 30)
        max = (size_t)1 << 30; /* the count must fit the long returned */
    while (done < max && pos < w->total) {
        size_t i = find_item(w, pos);
        size_t room = max - done;
        uint64_t zeros; /* when the piece at pos is padding */
        if (i == w->n) {
            zeros = w->total - pos;
        } else {
            const struct tar_item *it = &w->items[i];
            uint64_t rel = pos - it->off;
            if (rel < it->hdr_len) {
                size_t n = it->hdr_len - (size_t)rel < room ? it->hdr_len - (size_t)rel : room;
                /* An empty source is never read: it is checked when its header ends. */
                if (it->src && !it->size && rel + n == it->hdr_len && open_source(w, i, err))
                    return -1;
                memcpy(buf + done, it->hdr + rel, n);
                done += n;
                pos += n;
                continue;
            }
            rel -= it->hdr_len;
            if (rel < it->size) {
                size_t n = it->size - rel < room ? (size_t)(it->size - rel) : room;
                long got = read_content(w, i, rel, buf + done, n, err);
                if (got < 0)
                    return -1;
                done += (size_t)got;
                pos += (uint64_t)got;
                continue;
            }
            zeros = round_block(it->size) - rel;
        }
        size_t n = zeros < room ? (size_t)zeros : room;
        memset(buf + done, 0, n);
        done += n;
        pos += n;
    }
    return (long)done;
}

void tar_writer_free(struct tar_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->items[i].hdr);
        free(w->items[i].src);
        free(w->items[i].data);
    }
    if (w->fd >= 0)
        close(w->fd);
    free(w->items);
    free(w);
}

/* -------- reading -------- */

struct tar_reader {
    int fd;
    bool seekable;
    int state;          /* 1 while entries come, 0 after the end, -1 after an error */
    uint64_t remaining; /* unread content of the current entry */
    uint64_t pad;       /* zeros after it */
    struct buf name;
};

void tar_reader_open(struct tar_reader **out, int fd)
{
    struct tar_reader *r = xcalloc(1, sizeof(*r));
    r->fd = fd;
    r->seekable = lseek(fd, 0, SEEK_CUR) >= 0;
    r->state = 1;
    buf_init(&r->name, 0);
    *out = r;
}

/* Reads up to n bytes, fewer only at the end of the file: the count, or -1 with err. */
static ssize_t read_upto(struct tar_reader *r, void *p, size_t n, struct buf *err)
{
    size_t done = 0;
    while (done < n) {
        ssize_t got = read(r->fd, (char *)p + done, n - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            buf_addf(err, "tar: reading the archive: %s", strerror(errno));
            return -1;
        }
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return (ssize_t)done;
}

/* Reads exactly n bytes: 0, or -1 with err (what names the bytes sought). */
static int read_full(struct tar_reader *r, void *p, size_t n, const char *what, struct buf *err)
{
    ssize_t got = read_upto(r, p, n, err);
    if (got < 0)
        return -1;
    if ((size_t)got < n) {
        buf_addf(err, "tar: the archive is truncated (it ends inside %s)", what);
        return -1;
    }
    return 0;
}

static int skip(struct tar_reader *r, uint64_t n, struct buf *err)
{
    if (!n)
        return 0;
    if (r->seekable) {
        /* Seeking past the end succeeds: compare with the file's size. */
        struct stat st;
        off_t at = lseek(r->fd, 0, SEEK_CUR);
        if (at >= 0 && !fstat(r->fd, &st) && S_ISREG(st.st_mode)) {
            if (st.st_size < at || (uint64_t)(st.st_size - at) < n) {
                buf_addf(err, "tar: the archive is truncated (it ends inside an entry)");
                return -1;
            }
            if (lseek(r->fd, (off_t)n, SEEK_CUR) >= 0)
                return 0;
        }
    }
    char tmp[16 * 1024];
    while (n) {
        size_t k = n < sizeof(tmp) ? (size_t)n : sizeof(tmp);
        if (read_full(r, tmp, k, "an entry", err))
            return -1;
        n -= k;
    }
    return 0;
}

/* Parses an octal field (leading spaces, digits, then NUL or space) or a base-256 one. */
static int get_number(const char *f, size_t w, uint64_t *v)
{
    const unsigned char *u = (const unsigned char *)f;
    size_t i = 0;
    *v = 0;
    if (u[0] == 0x80) { /* GNU base-256, positive */
        for (i = 1; i < w; i++) {
            if (*v >> 56)
                return -1;
            *v = *v << 8 | u[i];
        }
        return 0;
    }
    while (i < w && f[i] == ' ')
        i++;
    size_t digits = 0;
    for (; i < w && f[i] >= '0' && f[i] <= '7'; i++, digits++)
        *v = *v << 3 | (uint64_t)(f[i] - '0'); /* at most 11 digits: no overflow */
    if (!digits)
        return -1;
    for (; i < w; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    return 0;
}

static bool all_zero(const char *b)
{
    for (size_t i = 0; i < TAR_BLOCK; i++)
        if (b[i])
            return false;
    return true;
}

/* Reads one header block; 1, 0 at the end-of-archive zeros, -1. */
static int read_header(struct tar_reader *r, char *h, struct buf *err)
{
    uint64_t sum;
    ssize_t got = read_upto(r, h, TAR_BLOCK, err);
    if (got < 0)
        return -1;
    if (got < TAR_BLOCK) {
        buf_addf(err, "tar: the archive is truncated (%s)",
                 got ? "it ends inside a header" : "no end-of-archive blocks");
        return -1;
    }
    if (all_zero(h)) {
        /* The second zero block may be missing at the end of the file, as GNU tar accepts. */
        got = read_upto(r, h, TAR_BLOCK, err);
        if (got < 0)
            return -1;
        if (got == 0 || (got == TAR_BLOCK && all_zero(h)))
            return 0;
        if (got < TAR_BLOCK)
            buf_addf(err, "tar: the archive is truncated (it ends inside an end block)");
        else
            buf_addf(err, "tar: a zero block in the middle of the archive");
        return -1;
    }
    if (get_number(h + H_CHKSUM, 8, &sum)) {
        buf_addf(err, "tar: a header has no valid checksum");
        return -1;
    }
    uint64_t have = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++)
        have += (i >= H_CHKSUM && i < H_CHKSUM + 8) ? ' ' : (unsigned char)h[i];
    if (have != sum) {
        buf_addf(err, "tar: bad header checksum (%" PRIu64 ", the header sums to %" PRIu64 ")", sum,
                 have);
        return -1;
    }
    if (memcmp(h + H_MAGIC, "ustar", 5)) {
        buf_addf(err, "tar: not a ustar header (pre-POSIX tar formats are not read)");
        return -1;
    }
    return 1;
}

/* Applies the "path" and "size" records of a pax header of len bytes at p. */
static int parse_pax(const char *p, size_t len, struct buf *path, uint64_t *size, bool *has_size,
                     struct buf *err)
{
    while (len) {
        char *end;
        if (*p < '0' || *p > '9')
            goto bad;
        errno = 0;
        unsigned long long n = strtoull(p, &end, 10);
        if (errno || end == p || *end != ' ' || n > len || n < 5 || p[n - 1] != '\n')
            goto bad;
        const char *key = end + 1;
        const char *eq = memchr(key, '=', (size_t)(p + n - 1 - key));
        if (!eq)
            goto bad;
        const char *val = eq + 1;
        size_t vlen = (size_t)(p + n - 1 - val);
        if (eq - key == 4 && !memcmp(key, "path", 4)) {
            buf_reset(path);
            buf_add(path, val, vlen);
        } else if (eq - key == 4 && !memcmp(key, "size", 4)) {
            char num[24];
            if (!vlen || vlen >= sizeof(num) || strspn(val, "0123456789") < vlen)
                goto bad;
            memcpy(num, val, vlen);
            num[vlen] = '\0';
            errno = 0;
            *size = strtoull(num, NULL, 10);
            if (errno)
                goto bad;
            *has_size = true;
        }
        p += n;
        len -= n;
    }
    return 0;
bad:
    buf_addf(err, "tar: a malformed pax extended header");
    return -1;
}

/* Checks a name read from an archive and drops trailing slashes. */
static int check_read_name(struct buf *name, struct buf *err)
{
    if (strlen(name->data) != name->len) {
        buf_addf(err, "tar: an entry name holds a NUL byte");
        return -1;
    }
    while (name->len > 1 && name->data[name->len - 1] == '/')
        buf_setlen(name, name->len - 1);
    if (!name->len || name->data[0] == '/') {
        buf_addf(err, "tar: entry name '%s' is empty or absolute", name->data);
        return -1;
    }
    for (const char *c = name->data; c; c = strchr(c, '/')) {
        c += *c == '/';
        if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || !c[2])) {
            buf_addf(err, "tar: entry name '%s' has a '..' component", name->data);
            return -1;
        }
    }
    return 0;
}

static int next_entry(struct tar_reader *r, struct tar_header *h, struct buf *err)
{
    char hdr[TAR_BLOCK];
    uint64_t pax_size = 0, size, mode, mtime;
    bool has_pax = false, has_size = false;
    int rc;

    if (skip(r, r->remaining + r->pad, err))
        return -1;
    r->remaining = r->pad = 0;
    buf_reset(&r->name);
    for (;;) {
        if ((rc = read_header(r, hdr, err)) < 0)
            return -1;
        if (rc == 0 && has_pax) {
            buf_addf(err, "tar: the archive ends after a pax extended header");
            return -1;
        }
        if (rc == 0)
            return 0;
        if (get_number(hdr + H_SIZE, 12, &size)) {
            buf_addf(err, "tar: a header has no valid size");
            return -1;
        }
        if (hdr[H_TYPE] != 'x')
            break;
        if (has_pax || size > PAX_MAX) {
            buf_addf(err, "tar: a pax extended header is repeated or too large");
            return -1;
        }
        char *pax = xmalloc((size_t)round_block(size) + 1);
        pax[round_block(size)] = '\0';
        rc = read_full(r, pax, (size_t)round_block(size), "a pax extended header", err);
        if (!rc)
            rc = parse_pax(pax, (size_t)size, &r->name, &pax_size, &has_size, err);
        free(pax);
        if (rc)
            return -1;
        has_pax = true;
    }
    if (has_size)
        size = pax_size;
    if (size > INT64_MAX) {
        buf_addf(err, "tar: an entry's size is out of range");
        return -1;
    }
    if (get_number(hdr + H_MODE, 8, &mode) || get_number(hdr + H_MTIME, 12, &mtime)) {
        buf_addf(err, "tar: a header has no valid mode or mtime");
        return -1;
    }
    if (!r->name.len) {
        if (!memcmp(hdr + H_MAGIC, "ustar\0", 6) && hdr[H_PREFIX]) {
            buf_add(&r->name, hdr + H_PREFIX, strnlen(hdr + H_PREFIX, 155));
            buf_addch(&r->name, '/');
        }
        buf_add(&r->name, hdr + H_NAME, strnlen(hdr + H_NAME, 100));
    }
    if (check_read_name(&r->name, err))
        return -1;
    char type = hdr[H_TYPE];
    if (type != '0' && type != '\0' && type != '5') {
        buf_addf(err, "tar: entry '%s' is of type '%c': only files and directories are read",
                 r->name.data, type);
        return -1;
    }
    if (type == '5' && size) {
        buf_addf(err, "tar: directory entry '%s' has content", r->name.data);
        return -1;
    }
    h->name = r->name.data;
    h->type = type == '5' ? TAR_DIR : TAR_FILE;
    h->size = size;
    h->mode = (int)(mode & 07777);
    h->mtime = (int64_t)mtime;
    r->remaining = h->size;
    r->pad = round_block(h->size) - h->size;
    return 1;
}

int tar_reader_next(struct tar_reader *r, struct tar_header *h, struct buf *err)
{
    if (r->state == 1) {
        r->state = next_entry(r, h, err);
        if (r->state == 1)
            return 1;
        r->remaining = r->pad = 0;
    }
    if (r->state < 0 && !err->len)
        buf_addf(err, "tar: the archive could not be read");
    return r->state;
}

long tar_reader_read(struct tar_reader *r, char *buf, size_t max, struct buf *err)
{
    if (!r->remaining || !max)
        return 0;
    size_t n = r->remaining < max ? (size_t)r->remaining : max;
    if (n > (size_t)1 << 30)
        n = (size_t)1 << 30;
    ssize_t got;
    do
        got = read(r->fd, buf, n);
    while (got < 0 && errno == EINTR);
    if (got <= 0) {
        buf_addf(err, "tar: %s",
                 got ? strerror(errno) : "the archive is truncated (it ends inside an entry)");
        r->state = -1;
        r->remaining = r->pad = 0;
        return -1;
    }
    r->remaining -= (uint64_t)got;
    return (long)got;
}

void tar_reader_free(struct tar_reader *r)
{
    if (!r)
        return;
    buf_release(&r->name);
    free(r);
}
