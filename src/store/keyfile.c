#include "store/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/xalloc.h"

static int fsync_dir(const char *path, struct buf *err)
{
    const char *last = strrchr(path, '/');
    char *dir = !last          ? xstrdup(".")
                : last == path ? xstrdup("/")
                               : xmemdupz(path, (size_t)(last - path));
    int ret = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd)) {
        ret = -errno;
        buf_addf(err, "cannot sync directory %s: %s", dir, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    free(dir);
    return ret;
}

static int write_all(int fd, const char *p, size_t len)
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

int keyfile_create(const char *path, const void *data, size_t len, struct buf *err)
{
    struct buf tmp = BUF_INIT;
    int fd = -1, ret = 0;

    buf_addf(&tmp, "%s.tmp-XXXXXX", path);
    fd = mkostemp(tmp.data, O_CLOEXEC); /* O_CREAT | O_EXCL, mode 0600 */
    if (fd < 0) {
        ret = -errno;
        buf_addf(err, "cannot create a temporary key file next to %s: %s", path, strerror(errno));
        buf_reset(&tmp);
        goto out;
    }
    if (fchmod(fd, 0600) || (ret = write_all(fd, data, len)) || fsync(fd)) {
        ret = ret ? ret : -errno;
        buf_addf(err, "cannot write %s: %s", tmp.data, strerror(-ret));
        goto out;
    }
    if (close(fd)) {
        fd = -1;
        ret = -errno;
        buf_addf(err, "cannot write %s: %s", tmp.data, strerror(errno));
        goto out;
    }
    fd = -1;
    /* link(), unlike rename(), never replaces a key another process has just made. */
    if (link(tmp.data, path)) {
        ret = -errno;
        if (ret != -EEXIST)
            buf_addf(err, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    ret = fsync_dir(path, err);
out:
    if (fd >= 0)
        close(fd);
    if (tmp.len)
        unlink(tmp.data);
    buf_release(&tmp);
    return ret;
}

int keyfile_read(const char *path, size_t max, struct buf *out, struct buf *err)
{
    struct stat sb;
    int ret = 0;
    size_t start = out->len;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        ret = -errno;
        if (ret == -ENOENT)
            return ret;
        if (ret == -ELOOP)
            buf_addf(err, "key file %s is a symbolic link (refused)", path);
        else
            buf_addf(err, "cannot open key file %s: %s", path, strerror(errno));
        return ret;
    }
    if (fstat(fd, &sb)) {
        ret = -errno;
        buf_addf(err, "key file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        ret = -EINVAL;
        buf_addf(err, "key file %s is not a regular file", path);
        goto out;
    }
    if (sb.st_mode & 077) {
        ret = -EPERM;
        buf_addf(err, "key file %s has mode %04o; it must be 0600", path,
                 (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    if ((size_t)sb.st_size > max) {
        ret = -EFBIG;
        buf_addf(err, "key file %s is larger than %zu bytes: not a key", path, max);
        goto out;
    }
    buf_grow(out, (size_t)sb.st_size + 1);
    for (;;) {
        if (out->len - start > max) {
            ret = -EFBIG;
            buf_addf(err, "key file %s is larger than %zu bytes: not a key", path, max);
            goto out;
        }
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            buf_addf(err, "cannot read key file %s: %s", path, strerror(errno));
            goto out;
        }
        if (!n)
            break;
        buf_add(out, chunk, (size_t)n);
        explicit_bzero(chunk, (size_t)n);
    }
out:
    if (ret && out->len > start) {
        explicit_bzero(out->data + start, out->len - start);
        buf_setlen(out, start);
    }
    close(fd);
    return ret;
}
