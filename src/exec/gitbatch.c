#include "exec/gitbatch.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/gitcmd.h"
#include "util/xalloc.h"

/* How long git may take to answer one question before it is taken for stuck. */
#define GITBATCH_TIMEOUT_MS 30000

static const char *const batch_env[] = {
    "GIT_ALLOW_PROTOCOL=file:git:http:https:ssh",
    "GIT_LITERAL_PATHSPECS=1",
    NULL,
};

struct gitbatch {
    pthread_mutex_t mu;
    char *dir;
    pid_t pid;   /* -1: no process */
    int in, out; /* git's input (a socket) and output */
    char rbuf[65536];
    size_t rpos, rlen;
    unsigned starts;
};

struct gitbatch *gitbatch_new(const char *dir)
{
    struct gitbatch *b = xcalloc(1, sizeof(*b));
    pthread_mutex_init(&b->mu, NULL);
    b->dir = xstrdup(dir);
    b->pid = -1;
    b->in = b->out = -1;
    return b;
}

/* Called with mu held. */
static void batch_stop(struct gitbatch *b)
{
    if (b->in >= 0)
        close(b->in);
    if (b->out >= 0)
        close(b->out);
    b->in = b->out = -1;
    b->rpos = b->rlen = 0;
    if (b->pid > 0) {
        /* a reader of objects: nothing of its work is lost when it is killed */
        kill(b->pid, SIGKILL);
        while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    b->pid = -1;
}

void gitbatch_stop(struct gitbatch *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    batch_stop(b);
    pthread_mutex_unlock(&b->mu);
}

void gitbatch_free(struct gitbatch *b)
{
    if (!b)
        return;
    gitbatch_stop(b);
    pthread_mutex_destroy(&b->mu);
    free(b->dir);
    free(b);
}

unsigned gitbatch_starts(struct gitbatch *b)
{
    pthread_mutex_lock(&b->mu);
    unsigned n = b->starts;
    pthread_mutex_unlock(&b->mu);
    return n;
}

static int batch_start(struct gitbatch *b, struct buf *err)
{
    static const char *const args[] = {"--git-dir=.", "cat-file", "--batch-command", NULL};
    if (b->pid > 0)
        return 0;
    int rc = gitcmd_start(b->dir, args, batch_env, &b->pid, &b->in, &b->out, err);
    if (!rc)
        b->starts++;
    return rc;
}

static int send_all(struct gitbatch *b, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(b->in, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Refills rbuf; -EIO at end of file, -ETIMEDOUT when git says nothing. */
static int fill(struct gitbatch *b)
{
    if (b->rpos == b->rlen)
        b->rpos = b->rlen = 0;
    for (;;) {
        struct pollfd p = {.fd = b->out, .events = POLLIN};
        int pr = poll(&p, 1, GITBATCH_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return -errno;
        if (pr == 0)
            return -ETIMEDOUT;
        ssize_t n = read(b->out, b->rbuf + b->rlen, sizeof(b->rbuf) - b->rlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        b->rlen += (size_t)n;
        return 0;
    }
}

/* Reads one line (without its '\n') into line. */
static int read_line(struct gitbatch *b, struct buf *line)
{
    for (;;) {
        char *nl = memchr(b->rbuf + b->rpos, '\n', b->rlen - b->rpos);
        size_t n = nl ? (size_t)(nl - (b->rbuf + b->rpos)) : b->rlen - b->rpos;
        buf_add(line, b->rbuf + b->rpos, n);
        b->rpos += n + (nl ? 1 : 0);
        if (nl)
            return 0;
        if (line->len > 4096)
            return -EPROTO;
        int rc = fill(b);
        if (rc)
            return rc;
    }
}

/* Reads n bytes into out (NULL: dropped). */
static int read_exact(struct gitbatch *b, struct buf *out, uint64_t n)
{
    while (n) {
        if (b->rpos == b->rlen) {
            int rc = fill(b);
            if (rc)
                return rc;
        }
        size_t k = b->rlen - b->rpos;
        if (k > n)
            k = (size_t)n;
        if (out)
            buf_add(out, b->rbuf + b->rpos, k);
        b->rpos += k;
        n -= k;
    }
    return 0;
}

static bool spec_ok(const char *spec)
{
    if (!*spec || strlen(spec) > 4096)
        return false;
    for (const char *p = spec; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/*
 * Sends "CMD SPEC" and reads the header "OID TYPE SIZE"; 1 when git says
 * the object is missing (or the name ambiguous), 0 with the header's fields,
 * or a negative errno when the process failed.
 */
static int ask(struct gitbatch *b, const char *cmd, const char *spec, char oid[41], char type[16],
               uint64_t *size)
{
    struct buf q = BUF_INIT, line = BUF_INIT;
    int rc;
    buf_addf(&q, "%s %s\n", cmd, spec);
    if ((rc = send_all(b, q.data, q.len)) || (rc = read_line(b, &line)))
        goto out;
    size_t sl = strlen(spec);
    if (line.len > sl && !memcmp(line.data, spec, sl) && line.data[sl] == ' ' &&
        (!strcmp(line.data + sl + 1, "missing") || !strcmp(line.data + sl + 1, "ambiguous"))) {
        rc = 1;
        goto out;
    }
    char t[16];
    unsigned long long sz;
    char o[64];
    if (sscanf(line.data, "%63s %15s %llu", o, t, &sz) != 3 || strlen(o) != 40 ||
        strspn(o, "0123456789abcdef") != 40) {
        rc = -EPROTO;
        goto out;
    }
    memcpy(oid, o, 41);
    memcpy(type, t, sizeof(t));
    *size = sz;
    rc = 0;
out:
    buf_release(&q);
    buf_release(&line);
    return rc;
}

/*
 * One question, with the process started when needed: a process that died
 * since the last question (its socket fails or ends at once) is started
 * again, once.
 */
static int question(struct gitbatch *b, const char *spec, size_t max, char oid[41], char type[16],
                    uint64_t *size, struct buf *out, struct buf *err)
{
    int rc = -EIO;
    if (!spec_ok(spec)) {
        buf_addf(err, "invalid object name '%s'", spec);
        return -EINVAL;
    }
    pthread_mutex_lock(&b->mu);
    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = b->pid <= 0;
        struct buf scratch = BUF_INIT;
        rc = batch_start(b, &scratch);
        if (rc) {
            buf_add(err, scratch.data, scratch.len);
            buf_release(&scratch);
            break;
        }
        buf_release(&scratch);
        rc = ask(b, out ? "contents" : "info", spec, oid, type, size);
        if (rc == 0 && out) {
            if (*size > max) {
                /* Not read: the process, with the object still to come, goes. */
                batch_stop(b);
                rc = -E2BIG;
                break;
            }
            size_t start = out->len;
            if (!(rc = read_exact(b, out, *size))) {
                struct buf nl = BUF_INIT;
                rc = read_line(b, &nl); /* the '\n' after the content */
                if (!rc && nl.len)
                    rc = -EPROTO;
                buf_release(&nl);
            }
            if (rc)
                buf_setlen(out, start);
        }
        if (rc == 1) {
            buf_addf(err, "no object '%s' in %s", spec, b->dir);
            rc = -ENOENT;
            break;
        }
        if (rc >= 0)
            break;
        /* The process is of no use any more: a stale one is started again. */
        batch_stop(b);
        if (fresh || rc == -ETIMEDOUT || rc == -EPROTO) {
            buf_addf(err, "git cat-file --batch-command (in %s): %s", b->dir, strerror(-rc));
            break;
        }
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int gitbatch_info(struct gitbatch *b, const char *spec, char oid[41], char type[16], uint64_t *size,
                  struct buf *err)
{
    return question(b, spec, 0, oid, type, size, NULL, err);
}

int gitbatch_contents_sized(struct gitbatch *b, const char *spec, size_t max, char type[16],
                            uint64_t *size, struct buf *out, struct buf *err)
{
    char oid[41];
    return question(b, spec, max, oid, type, size, out, err);
}

int gitbatch_contents(struct gitbatch *b, const char *spec, size_t max, char type[16],
                      struct buf *out, struct buf *err)
{
    char oid[41];
    uint64_t size;
    int rc = question(b, spec, max, oid, type, &size, out, err);
    if (rc == -E2BIG)
        buf_addf(err, "object '%s' is too large: %llu bytes, the limit is %zu", spec,
                 (unsigned long long)size, max);
    return rc;
}
