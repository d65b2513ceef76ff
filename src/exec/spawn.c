#include "exec/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int spawn_capture(const char *const *argv, const char *cwd, size_t max, struct buf *out,
                  struct buf *err)
{
    int op[2] = {-1, -1}, ep[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    bool fa_init = false;
    pid_t pid = -1;
    int rc = -1;
    struct buf errtext = BUF_INIT;
    bool too_much = false;

    if (pipe2(op, O_CLOEXEC) || pipe2(ep, O_CLOEXEC)) {
        buf_addf(err, "pipe: %s", strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    fa_init = true;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
    if (cwd)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    if (e) {
        buf_addf(err, "cannot run %s: %s", argv[0], strerror(e));
        pid = -1;
        goto out;
    }
    close(op[1]);
    close(ep[1]);
    op[1] = ep[1] = -1;

    struct pollfd pf[2] = {{op[0], POLLIN, 0}, {ep[0], POLLIN, 0}};
    int open_fds = 2;
    char chunk[16384];
    while (open_fds) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int k = 0; k < 2; k++) {
            if (pf[k].fd < 0 || !(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(pf[k].fd, chunk, sizeof(chunk));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close(pf[k].fd);
                if (k == 0)
                    op[0] = -1;
                else
                    ep[0] = -1;
                pf[k].fd = -1;
                open_fds--;
                continue;
            }
            if (k == 0) {
                if (out->len + (size_t)n > max)
                    too_much = true;
                else
                    buf_add(out, chunk, (size_t)n);
            } else if (errtext.len < 4096) {
                buf_add(&errtext, chunk, (size_t)n);
            }
        }
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (too_much) {
        buf_addf(err, "%s: output larger than %zu bytes", argv[0], max);
    } else if (WIFEXITED(st)) {
        rc = WEXITSTATUS(st);
        if (rc) {
            while (errtext.len && (errtext.data[errtext.len - 1] == '\n'))
                buf_setlen(&errtext, errtext.len - 1);
            buf_addf(err, "%s", errtext.len ? errtext.data : "failed");
        }
    } else {
        buf_addf(err, "%s was killed by signal %d", argv[0], WTERMSIG(st));
    }
out:
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    for (int k = 0; k < 2; k++) {
        if (op[k] >= 0)
            close(op[k]);
        if (ep[k] >= 0)
            close(ep[k]);
    }
    buf_release(&errtext);
    return rc;
}
