#include "store/cas.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/crypto.h"
#include "util/xalloc.h"

#define CAS_CHUNK       (256 * 1024)      /* read and hashed at a time */
#define CAS_COPY_CHUNK  (8 * 1024 * 1024) /* copied, then hashed back, at a time */
#define CAS_TMP_STALE_S (24 * 3600)       /* a temporary file left this long is a crash's */
#define CAS_PREFIX      "sha256:"
#define CAS_PREFIX_LEN  7
#define CAS_HEX_LEN     64

struct cas {
    char *root;
};

/* The 64 lowercase hex digits of a well-formed digest, or NULL. */
static const char *cas_digest_hex(const char *digest)
{
    if (!digest || strncmp(digest, CAS_PREFIX, CAS_PREFIX_LEN))
        return NULL;
    const char *hex = digest + CAS_PREFIX_LEN;
    for (int i = 0; i < CAS_HEX_LEN; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return NULL;
    return hex[CAS_HEX_LEN] ? NULL : hex;
}

/* mkdir that accepts an existing directory; *created tells whether it made one. */
static int cas_mkdir(const char *path, bool *created, struct buf *err)
{
    struct stat sb;
    if (created)
        *created = false;
    if (!mkdir(path, 0755)) {
        if (created)
            *created = true;
        return 0;
    }
    int e = errno;
    /* Whatever mkdir said (EEXIST, or EACCES in a read-only parent), a directory will do. */
    if (!stat(path, &sb)) {
        if (S_ISDIR(sb.st_mode))
            return 0;
        buf_addf(err, "%s: not a directory", path);
        return -ENOTDIR;
    }
    buf_addf(err, "cannot create directory %s: %s", path, strerror(e));
    return -e;
}

/* mkdir -p of the directory part of path (everything before the last '/'). */
static int cas_mkdir_parents(const char *path, struct buf *err)
{
    const char *last = strrchr(path, '/');
    if (!last || last == path)
        return 0;
    char *dir = xmemdupz(path, (size_t)(last - path));
    int ret = 0;
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = '\0';
        if (p[-1] != '/')
            ret = cas_mkdir(dir, NULL, err);
        *p = c;
        if (ret || !c)
            break;
    }
    free(dir);
    return ret;
}

static int cas_fsync_dir(const char *dir, struct buf *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ret = 0;
    if (fd < 0 || fsync(fd)) {
        ret = -errno;
        buf_addf(err, "cannot sync directory %s: %s", dir, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    return ret;
}

/* The directory part of path, "." if it has none. */
static char *cas_dirname(const char *path)
{
    const char *last = strrchr(path, '/');
    if (!last)
        return xstrdup(".");
    if (last == path)
        return xstrdup("/");
    return xmemdupz(path, (size_t)(last - path));
}

/*
 * Opens a regular file for reading without following a symlink in its last
 * component, and without blocking on a FIFO (O_NONBLOCK until it is known
 * to be a regular file). Returns the fd, or a negative code with a reason.
 */
static int cas_open_regular(const char *path, struct buf *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat sb;
    int e;
    if (fd < 0) {
        e = errno;
        if (e == ELOOP)
            buf_addf(err, "%s: is a symbolic link (refused)", path);
        else
            buf_addf(err, "%s: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fd, &sb)) {
        e = errno;
        buf_addf(err, "%s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    if (!S_ISREG(sb.st_mode)) {
        buf_addf(err, "%s: not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK)) {
        e = errno;
        buf_addf(err, "%s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

static int cas_write_all(int fd, const unsigned char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes "sha256:<hex>" of what h hashed to digest (util/crypto.h: OpenSSL's
 * SHA-256, with the CPU's SHA extensions when it has them). */
static void cas_hash_end(struct sha256 *h, char digest[CAS_DIGEST_LEN + 1])
{
    unsigned char md[SHA256_LEN];
    _Static_assert(SHA256_LEN * 2 == CAS_HEX_LEN, "a digest is 64 hex digits");
    sha256_final(h, md);
    memcpy(digest, CAS_PREFIX, CAS_PREFIX_LEN);
    crypto_hex(md, sizeof(md), digest + CAS_PREFIX_LEN);
}

/*
 * Hashes fd (read from path) from its current offset to its end, in chunks
 * of CAS_CHUNK. Writes the digest "sha256:<hex>" and the size.
 */
static int cas_stream(int fd, const char *path, char digest[CAS_DIGEST_LEN + 1], int64_t *size,
                      struct buf *err)
{
    struct sha256 h;
    unsigned char *chunk = xmalloc(CAS_CHUNK);
    int64_t total = 0;
    int ret = 0;

    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    sha256_init(&h);
    for (;;) {
        ssize_t n = read(fd, chunk, CAS_CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            buf_addf(err, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        sha256_update(&h, chunk, (size_t)n);
        total += n;
    }
    cas_hash_end(&h, digest);
    if (size)
        *size = total;
out:
    free(chunk);
    return ret;
}

/*
 * Hashes the bytes [off, off + len) of out (what was just written there),
 * reading them back in CAS_CHUNK pieces.
 */
static int cas_hash_back(struct sha256 *h, int out, const char *out_path, int64_t off, size_t len,
                         unsigned char *chunk, struct buf *err)
{
    while (len) {
        size_t want = len < CAS_CHUNK ? len : CAS_CHUNK;
        ssize_t n = pread(out, chunk, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            buf_addf(err, "%s: %s", out_path, n < 0 ? strerror(e) : "shorter than written");
            return -e;
        }
        sha256_update(h, chunk, (size_t)n);
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Copies in (read from path, from offset 0 to its end) to out (an empty
 * file opened for reading and writing, named out_path), and hashes what
 * out then holds: digest and size describe the copy, whatever happened to
 * the source meanwhile.
 *
 * The copy is made by the kernel (copy_file_range: a reflink on file
 * systems that share extents, no round trip through user space on the
 * others), CAS_COPY_CHUNK at a time; each piece is read back from out
 * (the page cache) and hashed, and its write-back started, so that the
 * final fsync finds little left to write. Where the kernel cannot copy
 * between the two files (another file system, an old kernel), it reads,
 * hashes and writes in user space.
 */
static int cas_copy(int in, const char *path, int out, const char *out_path,
                    char digest[CAS_DIGEST_LEN + 1], int64_t *size, struct buf *err)
{
    struct sha256 h;
    unsigned char *chunk = xmalloc(CAS_CHUNK);
    int64_t total = 0;
    bool kernel = true;
    int ret = 0;

    (void)posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
    sha256_init(&h);
    for (;;) {
        ssize_t n;
        if (kernel) {
            loff_t in_off = total, out_off = total;
            n = copy_file_range(in, &in_off, out, &out_off, CAS_COPY_CHUNK, 0);
            if (n < 0 && total == 0 &&
                (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
                 errno == EPERM || errno == ETXTBSY)) {
                kernel = false;
                continue;
            }
            if (n > 0) {
                ret = cas_hash_back(&h, out, out_path, total, (size_t)n, chunk, err);
                if (ret)
                    goto out;
                (void)sync_file_range(out, total, n, SYNC_FILE_RANGE_WRITE);
            }
        } else {
            n = pread(in, chunk, CAS_CHUNK, (off_t)total);
            if (n > 0) {
                sha256_update(&h, chunk, (size_t)n);
                if ((ret = cas_write_all(out, chunk, (size_t)n))) {
                    buf_addf(err, "%s: %s", out_path, strerror(-ret));
                    goto out;
                }
            }
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            buf_addf(err, "cannot copy %s to %s: %s", path, out_path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        total += n;
    }
    cas_hash_end(&h, digest);
    if (size)
        *size = total;
out:
    free(chunk);
    return ret;
}

/*
 * Removes the temporary files of puts that never finished (a crash, a
 * kill -9): those in ROOT/tmp not modified for CAS_TMP_STALE_S. A put in
 * progress writes its file all along, and none lasts that long.
 */
static void cas_clean_tmp(const char *root)
{
    struct buf dir = BUF_INIT, path = BUF_INIT;
    time_t now = time(NULL);
    struct dirent *e;
    struct stat sb;

    buf_addf(&dir, "%s/tmp", root);
    DIR *d = opendir(dir.data);
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "put-", 4))
            continue;
        buf_reset(&path);
        buf_addf(&path, "%s/%s", dir.data, e->d_name);
        if (!lstat(path.data, &sb) && S_ISREG(sb.st_mode) && now - sb.st_mtime > CAS_TMP_STALE_S)
            unlink(path.data);
    }
    if (d)
        closedir(d);
    buf_release(&dir);
    buf_release(&path);
}

int cas_open(struct cas **out, const char *root, struct buf *err)
{
    struct buf path = BUF_INIT;
    int ret;

    *out = NULL;
    if (!*root) {
        buf_adds(err, "cas: the root directory is empty");
        return -EINVAL;
    }
    ret = cas_mkdir_parents(root, err);
    if (!ret)
        ret = cas_mkdir(root, NULL, err);
    buf_addf(&path, "%s/sha256", root);
    if (!ret)
        ret = cas_mkdir(path.data, NULL, err);
    buf_reset(&path);
    buf_addf(&path, "%s/tmp", root);
    if (!ret)
        ret = cas_mkdir(path.data, NULL, err);
    buf_release(&path);
    if (ret)
        return ret;
    cas_clean_tmp(root);
    struct cas *c = xcalloc(1, sizeof(*c));
    c->root = xstrdup(root);
    *out = c;
    return 0;
}

void cas_close(struct cas *c)
{
    if (!c)
        return;
    free(c->root);
    free(c);
}

int cas_hash_file(const char *path, char digest[CAS_DIGEST_LEN + 1], int64_t *size, struct buf *err)
{
    int fd = cas_open_regular(path, err);
    if (fd < 0)
        return fd;
    int ret = cas_stream(fd, path, digest, size, err);
    close(fd);
    return ret;
}

void cas_blob_path(struct cas *c, const char *digest, struct buf *out)
{
    const char *hex = cas_digest_hex(digest);
    /* Nothing for a malformed digest: it must never name a path outside the store. */
    if (!hex)
        return;
    buf_addf(out, "%s/sha256/%.2s/%s", c->root, hex, hex);
}

/* A blob of the right size is taken as stored: checking its content would
 * cost a full read, which readers do before any use. */
static bool cas_blob_present(const char *blob, int64_t size)
{
    struct stat sb;
    return !lstat(blob, &sb) && S_ISREG(sb.st_mode) && sb.st_size == size;
}

int cas_put_file(struct cas *c, const char *path, char digest[CAS_DIGEST_LEN + 1], int64_t *size,
                 struct buf *err)
{
    struct buf tmp = BUF_INIT, dir = BUF_INIT, blob = BUF_INIT;
    char dg[CAS_DIGEST_LEN + 1], copied[CAS_DIGEST_LEN + 1];
    const char *hex = dg + CAS_PREFIX_LEN;
    int64_t sz = 0, copied_sz = 0;
    int in = -1, fd = -1, ret;
    bool created;

    in = cas_open_regular(path, err);
    if (in < 0) {
        ret = in;
        goto out;
    }
    /*
     * Hash first, without writing: a file stored before (a rerun, the same
     * bytes from another job) costs one read and no copy.
     */
    ret = cas_stream(in, path, dg, &sz, err);
    if (ret)
        goto out;
    cas_blob_path(c, dg, &blob);
    if (cas_blob_present(blob.data, sz))
        goto done;

    buf_addf(&tmp, "%s/tmp/put-XXXXXX", c->root);
    fd = mkostemp(tmp.data, O_CLOEXEC);
    if (fd < 0) {
        ret = -errno;
        buf_addf(err, "cannot create a temporary file in %s/tmp: %s", c->root, strerror(errno));
        buf_reset(&tmp);
        goto out;
    }
    /*
     * The copy is hashed again, as it was written: if the file changed
     * since it was hashed, the blob would not be what its name says.
     */
    ret = cas_copy(in, path, fd, tmp.data, copied, &copied_sz, err);
    if (ret)
        goto out;
    if (strcmp(copied, dg) || copied_sz != sz) {
        buf_addf(err, "%s changed while it was being stored (is something still writing it?)",
                 path);
        ret = -EAGAIN;
        goto out;
    }
    /* Stored meanwhile by someone else: the same bytes. */
    if (cas_blob_present(blob.data, sz))
        goto done;
    if (fchmod(fd, 0444) || fsync(fd)) {
        ret = -errno;
        buf_addf(err, "%s: %s", tmp.data, strerror(errno));
        goto out;
    }
    buf_addf(&dir, "%s/sha256/%.2s", c->root, hex);
    ret = cas_mkdir(dir.data, &created, err);
    if (ret)
        goto out;
    if (created) {
        buf_setlen(&dir, dir.len - 3);
        ret = cas_fsync_dir(dir.data, err);
        buf_addf(&dir, "/%.2s", hex);
        if (ret)
            goto out;
    }
    /* One of the wrong size (a truncated copy from outside, say) is replaced. */
    if (rename(tmp.data, blob.data)) {
        ret = -errno;
        buf_addf(err, "cannot rename %s to %s: %s", tmp.data, blob.data, strerror(errno));
        goto out;
    }
    buf_reset(&tmp); /* nothing left to remove */
    ret = cas_fsync_dir(dir.data, err);
    if (ret)
        goto out;
done:
    memcpy(digest, dg, sizeof(dg));
    if (size)
        *size = sz;
    ret = 0;
out:
    if (fd >= 0)
        close(fd);
    if (in >= 0)
        close(in);
    if (tmp.len)
        unlink(tmp.data);
    buf_release(&tmp);
    buf_release(&dir);
    buf_release(&blob);
    return ret;
}

/* Opens blob digest for reading; -ENOENT says it is not in the store. */
static int cas_open_blob_fd(struct cas *c, const char *digest, struct buf *err)
{
    struct buf blob = BUF_INIT;
    struct stat sb;
    int fd;

    if (!cas_digest_hex(digest)) {
        buf_addf(err, "'%s' is not a digest (sha256:<64 lowercase hex digits>)",
                 digest ? digest : "");
        return -EINVAL;
    }
    cas_blob_path(c, digest, &blob);
    fd = open(blob.data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        fd = -errno;
        if (errno == ENOENT)
            buf_addf(err, "blob %s is not in the store", digest);
        else
            buf_addf(err, "blob %s: %s: %s", digest, blob.data, strerror(errno));
    } else if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        buf_addf(err, "blob %s: %s is not a regular file", digest, blob.data);
        close(fd);
        fd = -EINVAL;
    }
    buf_release(&blob);
    return fd;
}

/*
 * Reports blob digest, whose content hashes to actual, as corrupt, and
 * moves it to ROOT/corrupt/ (if it is still the file that was read, fd):
 * the next put of the right bytes stores them again, and the damaged file
 * stays for whoever looks into it. Returns -EBADMSG.
 */
static int cas_corrupt(struct cas *c, const char *digest, const char *actual, int fd,
                       struct buf *err)
{
    struct buf blob = BUF_INIT, aside = BUF_INIT, ignored = BUF_INIT;
    struct stat a, b;

    buf_addf(err, "blob %s is corrupt: its content hashes to %s", digest, actual);
    cas_blob_path(c, digest, &blob);
    buf_addf(&aside, "%s/corrupt", c->root);
    if (!fstat(fd, &a) && !lstat(blob.data, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
        !cas_mkdir(aside.data, NULL, &ignored)) {
        buf_addf(&aside, "/%s", digest + CAS_PREFIX_LEN);
        if (!rename(blob.data, aside.data))
            buf_addf(err, " (moved to %s)", aside.data);
    }
    buf_release(&blob);
    buf_release(&aside);
    buf_release(&ignored);
    return -EBADMSG;
}

/* Hashes the whole of blob digest, open at fd, and compares. */
static int cas_check(struct cas *c, const char *digest, int fd, int64_t *size, struct buf *err)
{
    char dg[CAS_DIGEST_LEN + 1];
    struct buf blob = BUF_INIT;
    int ret;

    cas_blob_path(c, digest, &blob);
    if (lseek(fd, 0, SEEK_SET) < 0) {
        ret = -errno;
        buf_addf(err, "%s: %s", blob.data, strerror(errno));
    } else {
        ret = cas_stream(fd, blob.data, dg, size, err);
    }
    buf_release(&blob);
    if (!ret && strcmp(dg, digest))
        ret = cas_corrupt(c, digest, dg, fd, err);
    return ret;
}

int cas_verify(struct cas *c, const char *digest, int64_t *size, struct buf *err)
{
    int fd = cas_open_blob_fd(c, digest, err);
    if (fd < 0)
        return fd;
    int ret = cas_check(c, digest, fd, size, err);
    close(fd);
    return ret;
}

int cas_open_verified(struct cas *c, const char *digest, int *fd_out, int64_t *size,
                      struct buf *err)
{
    int fd = cas_open_blob_fd(c, digest, err);
    int ret;

    *fd_out = -1;
    if (fd < 0)
        return fd;
    ret = cas_check(c, digest, fd, size, err);
    if (!ret && lseek(fd, 0, SEEK_SET) < 0) {
        ret = -errno;
        buf_addf(err, "blob %s: %s", digest, strerror(errno));
    }
    if (ret) {
        close(fd);
        return ret;
    }
    *fd_out = fd;
    return 0;
}

int cas_get_file(struct cas *c, const char *digest, const char *dest, int mode, struct buf *err)
{
    struct buf tmp = BUF_INIT, blob = BUF_INIT;
    char *dir = NULL;
    const char *base;
    char dg[CAS_DIGEST_LEN + 1];
    int in = -1, fd = -1, ret;

    cas_blob_path(c, digest, &blob);
    in = cas_open_blob_fd(c, digest, err);
    if (in < 0) {
        ret = in;
        goto out;
    }
    ret = cas_mkdir_parents(dest, err);
    if (ret)
        goto out;
    dir = cas_dirname(dest);
    base = strrchr(dest, '/');
    base = base ? base + 1 : dest;
    /* Bounded: a long name must not push the temporary one past NAME_MAX. */
    buf_addf(&tmp, "%s/.%.40s.tmp-XXXXXX", dir, base);
    fd = mkostemp(tmp.data, O_CLOEXEC);
    if (fd < 0) {
        ret = -errno;
        buf_addf(err, "cannot create a temporary file for %s: %s", dest, strerror(errno));
        buf_reset(&tmp);
        goto out;
    }
    /* What is checked is the copy itself, as it will be used. */
    ret = cas_copy(in, blob.data, fd, tmp.data, dg, NULL, err);
    if (ret)
        goto out;
    if (strcmp(dg, digest)) {
        /* The blob itself, or the copy? Only a damaged blob is moved aside. */
        char again[CAS_DIGEST_LEN + 1];
        struct buf ignored = BUF_INIT;
        if (lseek(in, 0, SEEK_SET) || cas_stream(in, blob.data, again, NULL, &ignored) ||
            !strcmp(again, digest)) {
            buf_addf(err, "the copy of blob %s to %s hashes to %s", digest, dest, dg);
            ret = -EIO;
        } else {
            ret = cas_corrupt(c, digest, again, in, err);
        }
        buf_release(&ignored);
        /* No stale copy of what it should have been stays at dest either. */
        if (unlink(dest) && errno != ENOENT && errno != EISDIR)
            buf_addf(err, "; cannot remove %s: %s", dest, strerror(errno));
        goto out;
    }
    /* Not synced: a copy is a scratch file (a job's input, a deployment's files), thrown away
     * and made again after a crash; the rename alone keeps a half copy from being seen. */
    if (fchmod(fd, (mode_t)(mode & 0777))) {
        ret = -errno;
        buf_addf(err, "%s: %s", tmp.data, strerror(errno));
        goto out;
    }
    if (rename(tmp.data, dest)) {
        ret = -errno;
        buf_addf(err, "cannot rename %s to %s: %s", tmp.data, dest, strerror(errno));
        goto out;
    }
    buf_reset(&tmp);
out:
    if (fd >= 0)
        close(fd);
    if (in >= 0)
        close(in);
    if (tmp.len)
        unlink(tmp.data);
    buf_release(&tmp);
    buf_release(&blob);
    free(dir);
    return ret;
}
