#include "store/cas.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/xalloc.h"

#define CAS_CHUNK      (64 * 1024)
#define CAS_PREFIX     "sha256:"
#define CAS_PREFIX_LEN 7
#define CAS_HEX_LEN    64

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

/*
 * Streams fd (read from path) through SHA-256, copying to out_fd when it is
 * not -1 (written to out_path), in chunks of 64 KiB. Writes the digest
 * "sha256:<hex>" and the size.
 */
static int cas_stream(int fd, const char *path, int out_fd, const char *out_path,
                      char digest[CAS_DIGEST_LEN + 1], int64_t *size, struct buf *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *chunk = xmalloc(CAS_CHUNK);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int64_t total = 0;
    int ret = -EIO;

    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        buf_adds(err, "cannot initialise SHA-256 (OpenSSL)");
        goto out;
    }
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
        if (!EVP_DigestUpdate(ctx, chunk, (size_t)n)) {
            buf_adds(err, "SHA-256 failed (OpenSSL)");
            goto out;
        }
        if (out_fd >= 0) {
            int wr = cas_write_all(out_fd, chunk, (size_t)n);
            if (wr) {
                ret = wr;
                buf_addf(err, "%s: %s", out_path, strerror(-wr));
                goto out;
            }
        }
        total += n;
    }
    if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen * 2 != CAS_HEX_LEN) {
        buf_adds(err, "SHA-256 failed (OpenSSL)");
        goto out;
    }
    static const char hexdig[] = "0123456789abcdef";
    memcpy(digest, CAS_PREFIX, CAS_PREFIX_LEN);
    for (unsigned int i = 0; i < mdlen; i++) {
        digest[CAS_PREFIX_LEN + 2 * i] = hexdig[md[i] >> 4];
        digest[CAS_PREFIX_LEN + 2 * i + 1] = hexdig[md[i] & 0xf];
    }
    digest[CAS_DIGEST_LEN] = '\0';
    if (size)
        *size = total;
    ret = 0;
out:
    EVP_MD_CTX_free(ctx);
    free(chunk);
    return ret;
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
    int ret = cas_stream(fd, path, -1, NULL, digest, size, err);
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

int cas_put_file(struct cas *c, const char *path, char digest[CAS_DIGEST_LEN + 1], int64_t *size,
                 struct buf *err)
{
    struct buf tmp = BUF_INIT, dir = BUF_INIT, blob = BUF_INIT;
    char dg[CAS_DIGEST_LEN + 1];
    const char *hex = dg + CAS_PREFIX_LEN;
    int64_t sz = 0;
    int in = -1, fd = -1, ret;
    bool created;
    struct stat sb;

    in = cas_open_regular(path, err);
    if (in < 0) {
        ret = in;
        goto out;
    }
    buf_addf(&tmp, "%s/tmp/put-XXXXXX", c->root);
    fd = mkostemp(tmp.data, O_CLOEXEC);
    if (fd < 0) {
        ret = -errno;
        buf_addf(err, "cannot create a temporary file in %s/tmp: %s", c->root, strerror(errno));
        buf_reset(&tmp);
        goto out;
    }
    ret = cas_stream(in, path, fd, tmp.data, dg, &sz, err);
    if (ret)
        goto out;

    buf_addf(&dir, "%s/sha256/%.2s", c->root, hex);
    cas_blob_path(c, dg, &blob);
    /*
     * A blob is written once. One of the wrong size (a truncated copy from
     * outside, say) is replaced; checking its content would cost a full read.
     */
    if (!lstat(blob.data, &sb) && S_ISREG(sb.st_mode) && sb.st_size == sz)
        goto done;
    if (fchmod(fd, 0444) || fsync(fd)) {
        ret = -errno;
        buf_addf(err, "%s: %s", tmp.data, strerror(errno));
        goto out;
    }
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

int cas_get_file(struct cas *c, const char *digest, const char *dest, int mode, struct buf *err)
{
    struct buf blob = BUF_INIT, tmp = BUF_INIT;
    char *dir = NULL;
    const char *base;
    char dg[CAS_DIGEST_LEN + 1];
    int in = -1, fd = -1, ret;

    if (!cas_digest_hex(digest)) {
        buf_addf(err, "'%s' is not a digest (sha256:<64 lowercase hex digits>)",
                 digest ? digest : "");
        ret = -EINVAL;
        goto out;
    }
    cas_blob_path(c, digest, &blob);
    in = open(blob.data, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0) {
        ret = -errno;
        if (errno == ENOENT)
            buf_addf(err, "blob %s is not in the store", digest);
        else
            buf_addf(err, "blob %s: %s: %s", digest, blob.data, strerror(errno));
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
    ret = cas_stream(in, blob.data, fd, tmp.data, dg, NULL, err);
    if (ret)
        goto out;
    if (strcmp(dg, digest)) {
        buf_addf(err, "blob %s is corrupt: its content hashes to %s", digest, dg);
        /* No stale copy of what it should have been stays at dest either. */
        if (unlink(dest) && errno != ENOENT && errno != EISDIR) {
            buf_addf(err, "; cannot remove %s: %s", dest, strerror(errno));
        }
        ret = -EBADMSG;
        goto out;
    }
    if (fchmod(fd, (mode_t)(mode & 0777)) || fsync(fd)) {
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
    ret = cas_fsync_dir(dir, err);
out:
    if (fd >= 0)
        close(fd);
    if (in >= 0)
        close(in);
    if (tmp.len)
        unlink(tmp.data);
    buf_release(&blob);
    buf_release(&tmp);
    free(dir);
    return ret;
}
