#include "exec/leader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

static long parse_long(const char *s, long min, long max, long dflt)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return dflt;
    return v;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends sig to every direct child of this process (orphans reparented to us
 * included) and to their process groups. Returns how many children exist. */
static int signal_children(int sig)
{
    pid_t self = getpid();
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], stat[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, stat, sizeof(stat) - 1);
        close(fd);
        if (len <= 0)
            continue;
        stat[len] = '\0';
        /* pid (comm) state ppid pgrp ...: comm may hold spaces and ')' */
        char *rp = strrchr(stat, ')');
        if (!rp)
            continue;
        char state;
        long ppid, pgrp;
        if (sscanf(rp + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3)
            continue;
        if (ppid != self)
            continue;
        pid_t pid = (pid_t)parse_long(e->d_name, 1, 1L << 30, 0);
        if (!pid)
            continue;
        n++;
        if (state == 'Z')
            continue;
        if (pgrp > 1 && pgrp != getpgrp())
            kill((pid_t)-pgrp, sig);
        kill(pid, sig);
    }
    closedir(d);
    return n;
}

static void reap(pid_t main_pid, int *main_status, bool *main_done)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        if (pid == main_pid) {
            *main_status = st;
            *main_done = true;
        }
    }
}

/*
 * Starts argv[0] (looked up in PATH) in a process group of its own with the
 * signal mask *mask, by vfork: nothing is copied, and this process waits
 * until the command is executed or could not be. The child only sets its
 * process group and mask: flywheel starts the leader with every signal at its
 * default disposition, so none needs resetting (posix_spawn would ask the
 * kernel about each of the 64). An exec failure comes back through the
 * memory the two share until then. Returns the pid (with *err 0, or the exec
 * failure's errno, the child then being gone), or -1 with *err.
 */
static pid_t __attribute__((noinline)) start_command(char **argv, const sigset_t *mask, int *err)
{
    volatile int exec_errno = 0;
    pid_t pid = vfork();
    if (pid == 0) {
        setpgid(0, 0);
        sigprocmask(SIG_SETMASK, mask, NULL);
        execvp(argv[0], argv);
        exec_errno = errno;
        _exit(127);
    }
    *err = pid < 0 ? errno : exec_errno;
    return pid;
}

int leader_main(int argc, char **argv)
{
    long grace_ms = 5000;
    int status_fd = -1;
    bool shell_status = false;
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--shell-status"))
            shell_status = true;
        else if (!strcmp(argv[i], "--grace") && i + 1 < argc)
            grace_ms = parse_long(argv[++i], 0, 3600000, 5000);
        else if (!strcmp(argv[i], "--status-fd") && i + 1 < argc)
            status_fd = (int)parse_long(argv[++i], 3, 1 << 20, -1);
        else if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else
            break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: flywheel __leader [--grace MS] [--status-fd FD] -- PROG ARGS...\n");
        return 2;
    }
    if (status_fd >= 0)
        fcntl(status_fd, F_SETFD, FD_CLOEXEC);

    pid_t parent = getppid();
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (getppid() != parent)
        return 1; /* flywheel is already gone */

    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &old);

    int child_errno = 0;
    pid_t child = start_command(argv + i, &old, &child_errno);
    if (child < 0) {
        errno = child_errno;
        perror("flywheel: vfork");
        return 127;
    }
    if (child_errno) {
        struct buf msg = BUF_INIT;
        buf_addf(&msg, "cannot run '%s': %s", argv[i], strerror(child_errno));
        fprintf(stderr, "flywheel: %s\n", msg.data);
        if (status_fd >= 0)
            dprintf(status_fd, "error %s\n", msg.data);
        buf_release(&msg);
        waitpid(child, NULL, 0);
        return 127;
    }
    setpgid(child, child); /* in place already: vfork returns after the exec */

    int main_status = 0;
    bool main_done = false, stopping = false;
    bool stopped = false; /* asked to stop before the command ended */
    int64_t kill_at = 0;
    for (;;) {
        reap(child, &main_status, &main_done);
        if (main_done && !stopping) {
            /* The command is over: whatever it left behind goes too. As a
             * subreaper, no child at all means nothing of the job is left:
             * the common case, without reading /proc. */
            if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
                break;
            stopping = true;
            kill(-child, SIGTERM);
            if (!signal_children(SIGTERM))
                break;
            kill_at = now_ms() + grace_ms;
        }
        if (stopping) {
            if (!signal_children(0) && main_done)
                break;
            if (now_ms() >= kill_at) {
                kill(-child, SIGKILL);
                signal_children(SIGKILL);
            }
        }
        struct timespec ts = {0, 50 * 1000000L};
        if (!stopping) {
            ts.tv_sec = 1;
            ts.tv_nsec = 0;
        }
        siginfo_t si;
        int sig = sigtimedwait(&mask, &si, &ts);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            if (!main_done)
                stopped = true;
            if (!stopping) {
                stopping = true;
                kill_at = now_ms() + grace_ms;
            }
            kill(-child, SIGTERM);
            signal_children(SIGTERM);
        }
    }

    int code;
    if (WIFEXITED(main_status)) {
        code = WEXITSTATUS(main_status);
        if (status_fd >= 0)
            dprintf(status_fd, "exit %d\n", code);
    } else if (WIFSIGNALED(main_status) && shell_status && !stopped) {
        /* As sh reports a command that died of a signal it was not sent itself. */
        code = 128 + WTERMSIG(main_status);
        if (status_fd >= 0)
            dprintf(status_fd, "exit %d\n", code);
    } else if (WIFSIGNALED(main_status)) {
        code = 128 + WTERMSIG(main_status);
        if (status_fd >= 0)
            dprintf(status_fd, "signal %d\n", WTERMSIG(main_status));
    } else {
        code = 1;
    }
    return code;
}
