/*
 * exec-time N CMD [ARG...]: the benchmarks' timer. Runs CMD N times, one
 * after the other, with its output to /dev/null, and prints one line per
 * run: "MICROSECONDS MAXRSS_KIB EXIT" (EXIT 128+N for a signal N).
 *
 * Only fork, exec and wait are timed: none of a shell's own forks, and
 * none of a timer program's start. It needs nothing but the C library, so
 * that the peak RSS the kernel reports for the child (which counts the
 * pages it shared with this process before its exec) is as small as that
 * of GNU time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: exec-time N CMD [ARG...]\n");
        return 2;
    }
    char *end;
    long n = strtol(argv[1], &end, 10);
    if (*end || n < 1 || n > 100000) {
        fprintf(stderr, "exec-time: bad count '%s'\n", argv[1]);
        return 2;
    }
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) {
        perror("exec-time: /dev/null");
        return 2;
    }
    for (long i = 0; i < n; i++) {
        struct timespec t0, t1;
        struct rusage ru;
        int status;
        fflush(stdout);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid_t pid = fork();
        if (pid < 0) {
            perror("exec-time: fork");
            return 2;
        }
        if (pid == 0) {
            dup2(null, 1);
            dup2(null, 2);
            execvp(argv[2], argv + 2);
            _exit(127);
        }
        while (wait4(pid, &status, 0, &ru) < 0) {
            if (errno != EINTR) {
                perror("exec-time: wait4");
                return 2;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long long us =
            (long long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        printf("%lld %ld %d\n", us, ru.ru_maxrss, code);
    }
    return 0;
}
