#include "exec/originref.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/refs.h"
#include "util/xalloc.h"

#define LOOSE_MAX 4096

/* Reads the regular file path (at most max bytes) into out: 0, -ENOENT
 * (absent, or a directory there), -ENOTSUP (unreadable, too large, not a
 * regular file). */
static int read_small(const char *path, size_t max, struct buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0) {
        /* ELOOP: a symbolic link, which git reads as a symref of old: not ours */
        return errno == ENOENT || errno == ENOTDIR || errno == EISDIR ? -ENOENT : -ENOTSUP;
    }
    int rc = 0;
    if (fstat(fd, &st)) {
        rc = -ENOTSUP;
    } else if (S_ISDIR(st.st_mode)) {
        rc = -ENOENT;
    } else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        rc = -ENOTSUP;
    } else {
        buf_grow(out, (size_t)st.st_size + 1);
        for (;;) {
            char chunk[65536];
            ssize_t n = read(fd, chunk, sizeof(chunk));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                rc = -ENOTSUP;
                break;
            }
            if (n == 0)
                break;
            if (out->len + (size_t)n > max) {
                rc = -ENOTSUP;
                break;
            }
            buf_add(out, chunk, (size_t)n);
        }
    }
    close(fd);
    return rc;
}

static bool is_oid(const char *s, size_t len)
{
    return len == REFS_SHA_LEN && strspn(s, "0123456789abcdef") >= REFS_SHA_LEN;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISREG(st.st_mode);
}

/* A git directory: HEAD, objects/ and refs/ (as git's own is_git_directory). */
static bool is_gitdir(const char *dir)
{
    struct buf p = BUF_INIT;
    bool ok;
    buf_addf(&p, "%s/HEAD", dir);
    ok = is_file(p.data);
    buf_reset(&p);
    buf_addf(&p, "%s/objects", dir);
    ok = ok && is_dir(p.data);
    buf_reset(&p);
    buf_addf(&p, "%s/refs", dir);
    ok = ok && is_dir(p.data);
    buf_release(&p);
    return ok;
}

/* Drops trailing '\n' and '\r'. */
static void chomp(struct buf *b)
{
    while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
        buf_setlen(b, b->len - 1);
}

/* The "gitdir: X" of a .git file at path, resolved against base, into out. */
static int gitfile(const char *path, const char *base, struct buf *out, struct buf *err)
{
    struct buf text = BUF_INIT;
    int rc = read_small(path, LOOSE_MAX, &text);
    if (!rc) {
        chomp(&text);
        if (text.len < 9 || memcmp(text.data, "gitdir: ", 8) || memchr(text.data, '\n', text.len)) {
            buf_addf(err, "'%s' is not a gitdir file", path);
            rc = -ENOTSUP;
        } else if (text.data[8] == '/') {
            buf_adds(out, text.data + 8);
        } else {
            buf_addf(out, "%s/%s", base, text.data + 8);
        }
    } else {
        buf_addf(err, "cannot read '%s'", path);
        rc = -ENOTSUP;
    }
    buf_release(&text);
    return rc;
}

/* The local path of url, or -ENOTSUP. */
static int local_path(const char *url, struct buf *path, struct buf *err)
{
    if (!strncmp(url, "file://", 7)) {
        const char *p = url + 7;
        if (*p != '/' || strchr(p, '%') || strchr(p, '?') || strchr(p, '#')) {
            buf_addf(err, "'%s' is not a plain file:// URL", url);
            return -ENOTSUP;
        }
        buf_adds(path, p);
    } else if (url[0] == '/') {
        buf_adds(path, url);
    } else {
        buf_addf(err, "'%s' is not a local path", url);
        return -ENOTSUP;
    }
    while (path->len > 1 && path->data[path->len - 1] == '/')
        buf_setlen(path, path->len - 1);
    return 0;
}

int originref_gitdir(const char *url, struct buf *gitdir, struct buf *err)
{
    struct buf path = BUF_INIT, dotgit = BUF_INIT, dir = BUF_INIT, p = BUF_INIT, text = BUF_INIT;
    struct stat st;
    int rc = local_path(url, &path, err);
    if (rc)
        goto out;
    buf_addf(&dotgit, "%s/.git", path.data);
    if (!lstat(dotgit.data, &st) && S_ISDIR(st.st_mode)) {
        buf_add(&dir, dotgit.data, dotgit.len);
    } else if (!lstat(dotgit.data, &st) && S_ISREG(st.st_mode)) {
        if ((rc = gitfile(dotgit.data, path.data, &dir, err)))
            goto out;
    } else if (!lstat(dotgit.data, &st)) {
        buf_addf(err, "'%s' is neither a directory nor a file", dotgit.data);
        rc = -ENOTSUP;
        goto out;
    } else if (is_dir(path.data)) {
        buf_add(&dir, path.data, path.len);
    } else {
        /* git also tries PATH.git and the like: not followed here */
        buf_addf(err, "no repository at '%s'", path.data);
        rc = stat(path.data, &st) && errno == ENOENT ? -ENOENT : -ENOTSUP;
        goto out;
    }
    buf_addf(&p, "%s/HEAD", dir.data);
    if (!is_file(p.data)) {
        buf_addf(err, "'%s' is not a git directory", dir.data);
        rc = -ENOTSUP;
        goto out;
    }
    /* A linked worktree: the branches and tags are in the common directory. */
    buf_reset(&p);
    buf_addf(&p, "%s/commondir", dir.data);
    rc = read_small(p.data, LOOSE_MAX, &text);
    if (rc == 0) {
        chomp(&text);
        struct buf common = BUF_INIT;
        if (text.len && text.data[0] == '/')
            buf_add(&common, text.data, text.len);
        else
            buf_addf(&common, "%s/%s", dir.data, text.data);
        buf_reset(&dir);
        buf_add(&dir, common.data, common.len);
        buf_release(&common);
    } else if (rc != -ENOENT) {
        buf_addf(err, "cannot read '%s'", p.data);
        goto out;
    }
    if (!is_gitdir(dir.data)) {
        buf_addf(err, "'%s' is not a git directory", dir.data);
        rc = -ENOTSUP;
        goto out;
    }
    /* Refs stored in a reftable: git's to read. */
    buf_reset(&p);
    buf_addf(&p, "%s/reftable", dir.data);
    if (!lstat(p.data, &st)) {
        buf_addf(err, "'%s' keeps its refs in a reftable", dir.data);
        rc = -ENOTSUP;
        goto out;
    }
    buf_add(gitdir, dir.data, dir.len);
    rc = 0;
out:
    buf_release(&path);
    buf_release(&dotgit);
    buf_release(&dir);
    buf_release(&p);
    buf_release(&text);
    return rc;
}

/*
 * The entry of ref in packed-refs text: 0 with sha and peeled, -ENOENT, or
 * -ENOTSUP when the file is not as git writes it.
 */
static int packed_find(const struct buf *text, const char *ref, char sha[41], char peeled[41])
{
    size_t rlen = strlen(ref);
    const char *p = text->data, *end = text->data + text->len;
    bool found = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len && p[len - 1] == '\r')
            len--;
        if (len == 0 || p[0] == '#') {
            /* the header (traits) or an empty line */
        } else if (p[0] == '^') {
            if (!is_oid(p + 1, len - 1))
                return -ENOTSUP;
            if (found) {
                memcpy(peeled, p + 1, REFS_SHA_LEN);
                peeled[REFS_SHA_LEN] = '\0';
                return 0;
            }
        } else {
            if (len < REFS_SHA_LEN + 2 || p[REFS_SHA_LEN] != ' ' || !is_oid(p, REFS_SHA_LEN))
                return -ENOTSUP;
            if (found)
                return 0; /* no peeled line after it */
            if (len - REFS_SHA_LEN - 1 == rlen && !memcmp(p + REFS_SHA_LEN + 1, ref, rlen)) {
                memcpy(sha, p, REFS_SHA_LEN);
                sha[REFS_SHA_LEN] = '\0';
                found = true;
            }
        }
        p += len;
        while (p < end && (*p == '\r' || *p == '\n'))
            p++;
    }
    return found ? 0 : -ENOENT;
}

int originref_read(const char *gitdir, const char *ref, char sha[41], char peeled[41],
                   struct buf *err)
{
    struct buf path = BUF_INIT, text = BUF_INIT, name = BUF_INIT;
    int rc = -ENOTSUP;
    buf_adds(&name, ref);
    for (int depth = 0; depth < 5; depth++) {
        if (strncmp(name.data, "refs/", 5) || !refs_name_ok(name.data)) {
            buf_addf(err, "'%s' is not a ref name", name.data);
            rc = -ENOTSUP;
            goto out;
        }
        sha[0] = peeled[0] = '\0';
        buf_reset(&path);
        buf_reset(&text);
        buf_addf(&path, "%s/%s", gitdir, name.data);
        rc = read_small(path.data, LOOSE_MAX, &text);
        if (rc == 0) {
            chomp(&text);
            if (!strncmp(text.data, "ref:", 4)) {
                const char *t = text.data + 4;
                while (*t == ' ' || *t == '\t')
                    t++;
                struct buf target = BUF_INIT;
                buf_adds(&target, t);
                buf_reset(&name);
                buf_add(&name, target.data, target.len);
                buf_release(&target);
                rc = -ENOTSUP; /* unless the loop reads the target */
                continue;
            }
            if (!is_oid(text.data, text.len)) {
                buf_addf(err, "'%s' does not hold an object id", path.data);
                rc = -ENOTSUP;
                goto out;
            }
            memcpy(sha, text.data, REFS_SHA_LEN + 1);
            goto out;
        }
        if (rc != -ENOENT) {
            buf_addf(err, "cannot read '%s'", path.data);
            goto out;
        }
        buf_reset(&path);
        buf_reset(&text);
        buf_addf(&path, "%s/packed-refs", gitdir);
        rc = read_small(path.data, ORIGINREF_PACKED_MAX, &text);
        if (rc == 0)
            rc = packed_find(&text, name.data, sha, peeled);
        else if (rc != -ENOENT)
            buf_addf(err, "cannot read '%s'", path.data);
        if (rc == -ENOTSUP)
            buf_addf(err, "'%s' is not as git writes it", path.data);
        goto out;
    }
    buf_addf(err, "'%s': symbolic refs too deep", ref);
out:
    if (rc) {
        sha[0] = '\0';
        if (peeled)
            peeled[0] = '\0';
    }
    buf_release(&path);
    buf_release(&text);
    buf_release(&name);
    return rc;
}
