#include "exec/gitcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/xalloc.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

struct vec {
    char **v;
    size_t n, alloc;
};

static void vec_push(struct vec *v, char *s)
{
    ALLOC_GROW(v->v, v->n + 2, v->alloc);
    v->v[v->n++] = s;
    v->v[v->n] = NULL;
}

static void vec_pushf_env(struct vec *v, const char *name, const char *value)
{
    struct buf b = BUF_INIT;
    buf_addf(&b, "%s=%s", name, value);
    vec_push(v, buf_detach(&b, NULL));
}

static void vec_free(struct vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = v->alloc = 0;
}

/* Appends "git ARGS (in DIR)" to b, quoting arguments that need it. */
static void describe(struct buf *b, const char *dir, const char *const *args)
{
    buf_adds(b, "git");
    for (size_t i = 0; args[i]; i++) {
        const char *a = args[i];
        if (*a && !a[strcspn(a, " \t\n'\"\\$`")])
            buf_addf(b, " %s", a);
        else
            buf_addf(b, " '%s'", a);
    }
    buf_addf(b, " (in %s)", dir);
}

/* The pipe ends dup2()ed onto 1 and 2 in the child must not be 0..2
 * themselves (dup2 onto itself would keep close-on-exec set). */
static int fd_above_stdio(int fd)
{
    if (fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = errno;
    close(fd);
    errno = e;
    return n;
}

static int make_pipe(int p[2])
{
    if (pipe2(p, O_CLOEXEC))
        return -errno;
    p[0] = fd_above_stdio(p[0]);
    p[1] = fd_above_stdio(p[1]);
    if (p[0] < 0 || p[1] < 0) {
        int e = errno;
        if (p[0] >= 0)
            close(p[0]);
        if (p[1] >= 0)
            close(p[1]);
        p[0] = p[1] = -1;
        return -e;
    }
    return 0;
}

static void build_env(struct vec *env, const char *const *extra)
{
    for (size_t i = 0; extra && extra[i]; i++)
        vec_push(env, xstrdup(extra[i]));
    const char *path = getenv("PATH");
    vec_pushf_env(env, "PATH", path && *path ? path : DEFAULT_PATH);
    static const char *const pass[] = {"HOME", "XDG_CONFIG_HOME"};
    for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
        const char *v = getenv(pass[i]);
        if (v)
            vec_pushf_env(env, pass[i], v);
    }
    vec_push(env, xstrdup("LANG=C"));
    vec_push(env, xstrdup("GIT_CONFIG_NOSYSTEM=1"));
    vec_push(env, xstrdup("GIT_TERMINAL_PROMPT=0"));
    /* Never a question on a terminal: an unknown host key fails the fetch instead. */
    vec_push(env, xstrdup("GIT_SSH_COMMAND=ssh -o BatchMode=yes"));
}

/*
 * The git executable, found in PATH once: execvp would search every
 * directory of a long PATH again for each of the many gits a server runs.
 * NULL when it was not found then (each spawn searches again, and reports
 * a missing git as before).
 */
static pthread_once_t git_path_once = PTHREAD_ONCE_INIT;
static char *git_path;

static void find_git(void)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = DEFAULT_PATH;
    while (*path) {
        size_t n = strcspn(path, ":");
        struct buf b = BUF_INIT;
        if (n)
            buf_add(&b, path, n);
        else
            buf_adds(&b, ".");
        buf_adds(&b, "/git");
        struct stat st;
        /* only an absolute directory: a relative one depends on the child's cwd */
        if (b.data[0] == '/' && !stat(b.data, &st) && S_ISREG(st.st_mode) &&
            !access(b.data, X_OK)) {
            git_path = buf_detach(&b, NULL);
            return;
        }
        buf_release(&b);
        path += n;
        if (*path == ':')
            path++;
    }
}

static int spawn_git(pid_t *pid, const posix_spawn_file_actions_t *fa,
                     const posix_spawnattr_t *attr, char *const *argv, char *const *envp)
{
    pthread_once(&git_path_once, find_git);
    if (git_path)
        return posix_spawn(pid, git_path, fa, attr, argv, envp);
    return posix_spawnp(pid, "git", fa, attr, argv, envp);
}

/* Where a URL's authority ends. */
static bool authority_end(char c)
{
    return !c || c == '/' || c == '?' || c == '#' || c == ' ' || c == '\t' || c == '\n' ||
           c == '\'' || c == '"' || c == '`';
}

void gitcmd_redact(struct buf *b, size_t from)
{
    if (from >= b->len || !memmem(b->data + from, b->len - from, "@", 1))
        return;
    struct buf o = BUF_INIT;
    size_t i = from;
    buf_add(&o, b->data, from);
    while (i < b->len) {
        const char *p = memmem(b->data + i, b->len - i, "://", 3);
        size_t start = p ? (size_t)(p - b->data) + 3 : b->len, end = start, at = 0;
        buf_add(&o, b->data + i, start - i);
        while (end < b->len && !authority_end(b->data[end])) {
            if (b->data[end] == '@')
                at = end;
            end++;
        }
        if (at > start) { /* the user and password go, "@host" stays */
            buf_adds(&o, "***");
            buf_add(&o, b->data + at, end - at);
        } else {
            buf_add(&o, b->data + start, end - start);
        }
        i = end;
    }
    buf_reset(b);
    buf_add(b, o.data, o.len);
    buf_release(&o);
}

/* Keeps the last GITCMD_ERR_MAX bytes of the child's standard error. */
static void keep_tail(struct buf *b, const char *data, size_t n)
{
    if (n >= GITCMD_ERR_MAX) {
        buf_reset(b);
        buf_add(b, data + n - GITCMD_ERR_MAX, GITCMD_ERR_MAX);
        return;
    }
    if (b->len + n > GITCMD_ERR_MAX) {
        size_t drop = b->len + n - GITCMD_ERR_MAX;
        memmove(b->data, b->data + drop, b->len - drop);
        buf_setlen(b, b->len - drop);
    }
    buf_add(b, data, n);
}

/* Reads both pipes until end of file; out gets at most max bytes. */
static int drain(int outfd, int errfd, struct buf *out, size_t max, struct buf *errtext,
                 bool *too_much)
{
    struct pollfd p[2] = {{.fd = outfd, .events = POLLIN}, {.fd = errfd, .events = POLLIN}};
    size_t start = out->len;
    char chunk[65536];
    int rc = 0;

    while (p[0].fd >= 0 || p[1].fd >= 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            ssize_t n = read(p[i].fd, chunk, sizeof(chunk));
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0) {
                if (n < 0 && !rc)
                    rc = -errno;
                p[i].fd = -1; /* closed by the caller */
                continue;
            }
            if (i == 1) {
                keep_tail(errtext, chunk, (size_t)n);
            } else if (!*too_much) {
                if (out->len - start + (size_t)n > max)
                    *too_much = true; /* keep reading, so that git is not blocked */
                else
                    buf_add(out, chunk, (size_t)n);
            }
        }
    }
    return rc;
}

int gitcmd_run(const char *dir, const char *const *args, const char *const *env, struct buf *out,
               struct buf *err)
{
    struct vec argv = {0}, envp = {0};
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_init = false, attr_init = false, too_much = false;
    struct buf errtext = BUF_INIT;
    size_t out_start = out->len, err_start = err->len;
    size_t max = GITCMD_OUT_MAX;
    pid_t pid = -1;
    int rc, status = 0;

    if (out->cap) {
        size_t room = out->cap > out_start ? out->cap - out_start : 0;
        if (room < max)
            max = room;
    }

    vec_push(&argv, xstrdup("git"));
    for (size_t i = 0; args[i]; i++)
        vec_push(&argv, xstrdup(args[i]));
    build_env(&envp, env);

    if ((rc = make_pipe(outp)) || (rc = make_pipe(errp))) {
        buf_adds(err, "cannot run ");
        describe(err, dir, args);
        buf_addf(err, ": pipe: %s", strerror(-rc));
        goto out;
    }

    rc = posix_spawn_file_actions_init(&fa);
    if (rc) {
        rc = -rc;
        goto spawn_failed;
    }
    fa_init = true;
    if ((rc = posix_spawn_file_actions_addchdir_np(&fa, dir)) ||
        (rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) ||
        (rc = posix_spawn_file_actions_adddup2(&fa, outp[1], 1)) ||
        (rc = posix_spawn_file_actions_adddup2(&fa, errp[1], 2))) {
        rc = -rc;
        goto spawn_failed;
    }
    rc = posix_spawnattr_init(&attr);
    if (rc) {
        rc = -rc;
        goto spawn_failed;
    }
    attr_init = true;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if ((rc = posix_spawnattr_setsigdefault(&attr, &all)) ||
        (rc = posix_spawnattr_setsigmask(&attr, &none)) ||
        (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))) {
        rc = -rc;
        goto spawn_failed;
    }
    rc = spawn_git(&pid, &fa, &attr, argv.v, envp.v);
    if (rc) {
        rc = -rc;
        pid = -1;
        goto spawn_failed;
    }

    close(outp[1]);
    close(errp[1]);
    outp[1] = errp[1] = -1;
    int drc = drain(outp[0], errp[0], out, max, &errtext, &too_much);

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            rc = -errno;
            buf_adds(err, "cannot wait for ");
            describe(err, dir, args);
            buf_addf(err, ": %s", strerror(-rc));
            goto out;
        }
    }
    if (drc) {
        rc = drc;
        describe(err, dir, args);
        buf_addf(err, ": reading its output: %s", strerror(-rc));
        goto out;
    }
    while (errtext.len &&
           (errtext.data[errtext.len - 1] == '\n' || errtext.data[errtext.len - 1] == ' '))
        buf_setlen(&errtext, errtext.len - 1);
    if (WIFSIGNALED(status)) {
        rc = -EIO;
        describe(err, dir, args);
        buf_addf(err, " was killed by signal %d", WTERMSIG(status));
        if (errtext.len)
            buf_addf(err, ": %s", errtext.data);
        goto out;
    }
    if (WEXITSTATUS(status)) {
        rc = WEXITSTATUS(status);
        describe(err, dir, args);
        buf_addf(err, " failed (exit %d)", rc);
        if (errtext.len)
            buf_addf(err, ": %s", errtext.data);
        goto out;
    }
    if (too_much) {
        rc = -E2BIG;
        describe(err, dir, args);
        buf_addf(err, ": output larger than the limit of %zu bytes", max);
        goto out;
    }
    rc = 0;
    goto out;

spawn_failed:
    buf_adds(err, "cannot run ");
    describe(err, dir, args);
    struct stat st;
    if (rc == -ENOENT && stat(dir, &st))
        buf_addf(err, ": '%s': %s", dir, strerror(errno));
    else if (rc == -ENOENT)
        buf_adds(err, ": git is not installed (not found in PATH)");
    else
        buf_addf(err, ": %s", strerror(-rc));
out:
    if (rc)
        buf_setlen(out, out_start);
    gitcmd_redact(err, err_start); /* URLs in arguments and in git's messages */
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    buf_release(&errtext);
    vec_free(&argv);
    vec_free(&envp);
    return rc;
}

int gitcmd_start(const char *dir, const char *const *args, const char *const *env, pid_t *pid,
                 int *in, int *out, struct buf *err)
{
    struct vec argv = {0}, envp = {0};
    int inp[2] = {-1, -1}, outp[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_init = false, attr_init = false;
    sigset_t all, none;
    int rc;

    *pid = -1;
    *in = *out = -1;
    vec_push(&argv, xstrdup("git"));
    for (size_t i = 0; args[i]; i++)
        vec_push(&argv, xstrdup(args[i]));
    build_env(&envp, env);
    /* A socket for git's input: the caller writes with send(MSG_NOSIGNAL), so
     * a git that died is EPIPE rather than SIGPIPE for the whole process. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, inp)) {
        rc = -errno;
        goto fail;
    }
    inp[0] = fd_above_stdio(inp[0]);
    inp[1] = fd_above_stdio(inp[1]);
    if (inp[0] < 0 || inp[1] < 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = make_pipe(outp)))
        goto fail;
    if ((rc = posix_spawn_file_actions_init(&fa)))
        goto fail_pos;
    fa_init = true;
    if ((rc = posix_spawn_file_actions_addchdir_np(&fa, dir)) ||
        (rc = posix_spawn_file_actions_adddup2(&fa, inp[0], 0)) ||
        (rc = posix_spawn_file_actions_adddup2(&fa, outp[1], 1)) ||
        (rc = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0)))
        goto fail_pos;
    if ((rc = posix_spawnattr_init(&attr)))
        goto fail_pos;
    attr_init = true;
    sigfillset(&all);
    sigemptyset(&none);
    if ((rc = posix_spawnattr_setsigdefault(&attr, &all)) ||
        (rc = posix_spawnattr_setsigmask(&attr, &none)) ||
        (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)))
        goto fail_pos;
    if ((rc = spawn_git(pid, &fa, &attr, argv.v, envp.v))) {
        *pid = -1;
        goto fail_pos;
    }
    close(inp[0]);
    close(outp[1]);
    *in = inp[1];
    *out = outp[0];
    inp[1] = outp[0] = -1;
    inp[0] = outp[1] = -1;
    rc = 0;
    goto out;
fail_pos:
    rc = -rc;
fail:
    buf_adds(err, "cannot run ");
    describe(err, dir, args);
    buf_addf(err, ": %s", strerror(-rc));
    gitcmd_redact(err, 0);
out:
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 2; i++) {
        if (inp[i] >= 0)
            close(inp[i]);
        if (outp[i] >= 0)
            close(outp[i]);
    }
    vec_free(&argv);
    vec_free(&envp);
    return rc;
}
