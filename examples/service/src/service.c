/*
 * service: a tiny HTTP/1.1 service, the thing flywheel's examples deploy.
 *
 *     service [PORT]          (or PORT in the environment; default 8080, 0 = any free port)
 *
 * It listens on 127.0.0.1 only and answers:
 *
 *     GET /         hello, the application's one "feature"
 *     GET /health   200 {"status":"ok"}
 *     GET /version  the version: the file VERSION next to the binary, else the
 *                   one compiled in (-DSERVICE_VERSION="...")
 *     GET /metrics  Prometheus text format: requests by status code, errors
 *                   (every 5xx answer) and build information
 *
 * A bad build on purpose, for the demo and the tests (the Makefile turns a
 * file named BROKEN into one of these flags):
 *
 *     -DSERVICE_BROKEN_PERCENT=N  N% of GET / answer 500, while /health,
 *                                 /version and /metrics stay fine: a defect
 *                                 only monitoring catches
 *     -DSERVICE_BROKEN_HEALTH=1   /health answers 503
 *
 * Its first line on standard output is "listening on http://127.0.0.1:PORT".
 * SIGTERM or SIGINT stop it cleanly (exit 0). It writes no file.
 *
 * One thread, one poll() loop, up to MAX_CONNS keep-alive connections;
 * requests with a body are refused, since nothing here needs one.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SERVICE_VERSION
#define SERVICE_VERSION "dev"
#endif
#ifndef SERVICE_BROKEN_PERCENT
#define SERVICE_BROKEN_PERCENT 0
#endif
#ifndef SERVICE_BROKEN_HEALTH
#define SERVICE_BROKEN_HEALTH 0
#endif
#if SERVICE_BROKEN_PERCENT < 0 || SERVICE_BROKEN_PERCENT > 100
#error "SERVICE_BROKEN_PERCENT must be from 0 to 100"
#endif

#define MAX_CONNS    64
#define REQ_MAX      8192 /* request line and headers */
#define IDLE_SECONDS 10

struct conn {
    int fd; /* -1: free slot */
    time_t last;
    size_t len;
    char buf[REQ_MAX];
};

/* The status codes the service answers with, counted for /metrics. */
static const int codes[] = {200, 400, 404, 405, 431, 500, 503};
#define NCODES (sizeof(codes) / sizeof(codes[0]))
static unsigned long long answered[NCODES];
static unsigned long long errors;
static unsigned long long app_requests; /* GET / so far, for the broken fraction */

static char version[128];
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static const char *reason(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    default:
        return "Service Unavailable";
    }
}

static void count(int code)
{
    for (size_t i = 0; i < NCODES; i++)
        if (codes[i] == code)
            answered[i]++;
    if (code >= 500)
        errors++;
}

/* Sets the version from s, keeping the characters that are safe in a
 * Prometheus label and a log line. Returns 0 when none is left. */
static int set_version(const char *s)
{
    size_t n = 0;
    for (; *s && *s != '\n' && n < sizeof(version) - 1; s++)
        if (isalnum((unsigned char)*s) || strchr("._+-", *s))
            version[n++] = *s;
    version[n] = '\0';
    return n > 0;
}

/* The version: VERSION in the binary's directory, else the one compiled in. */
static void load_version(void)
{
    if (!set_version(SERVICE_VERSION))
        set_version("dev");
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - sizeof("VERSION"));
    if (n <= 0)
        return;
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (!slash)
        return;
    memcpy(slash + 1, "VERSION", sizeof("VERSION"));
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[sizeof(version)];
    char keep[sizeof(version)];
    memcpy(keep, version, sizeof(version));
    if (!fgets(line, sizeof(line), f) || !set_version(line))
        memcpy(version, keep, sizeof(version));
    fclose(f);
}

/* True for the n-th application request (from 0) that the broken build fails:
 * exactly SERVICE_BROKEN_PERCENT of every 100, spread evenly. */
static int broken_now(unsigned long long n)
{
    int p = SERVICE_BROKEN_PERCENT;
    return (n + 1) * p / 100 != n * p / 100;
}

/* Writes a whole small response; a client that does not take it is dropped. */
static int respond(int fd, int code, const char *type, const char *body, int head_only, int keep)
{
    char out[8192];
    size_t blen = strlen(body);
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: %s\r\n\r\n%s",
                     code, reason(code), type, blen, keep ? "keep-alive" : "close",
                     head_only ? "" : body);
    count(code);
    if (n < 0 || (size_t)n >= sizeof(out))
        return -1;
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = send(fd, out + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

static void metrics(char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size,
                                "# HELP service_requests_total Requests answered, by status code.\n"
                                "# TYPE service_requests_total counter\n");
    for (size_t i = 0; i < NCODES && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "service_requests_total{code=\"%d\"} %llu\n",
                              codes[i], answered[i]);
    if (n < size)
        snprintf(out + n, size - n,
                 "# HELP service_errors_total Requests answered with a server error (5xx).\n"
                 "# TYPE service_errors_total counter\n"
                 "service_errors_total %llu\n"
                 "# HELP service_build_info The running build.\n"
                 "# TYPE service_build_info gauge\n"
                 "service_build_info{version=\"%s\"} 1\n",
                 errors, version);
}

/* Answers one request: req is its request line and headers, NUL-terminated
 * after the last header's line end. Returns 1 to keep the connection open,
 * 0 to close it. */
static int handle(int fd, char *req)
{
    char method[16], target[1024], proto[16];
    char body[4096];
    if (sscanf(req, "%15s %1023s %15s", method, target, proto) != 3 ||
        strncmp(proto, "HTTP/1.", 7) != 0) {
        respond(fd, 400, "text/plain", "bad request\n", 0, 0);
        return 0;
    }
    /* HTTP/1.1 keeps the connection unless told otherwise; 1.0 closes it. */
    int keep = strcmp(proto, "HTTP/1.0") != 0;
    int has_body = 0;
    for (char *h = strchr(req, '\n'); h && h[1]; h = strchr(h + 1, '\n')) {
        char *line = h + 1;
        if (!strncasecmp(line, "Connection:", 11)) {
            const char *v = line + 11 + strspn(line + 11, " \t");
            if (!strncasecmp(v, "close", 5))
                keep = 0;
            else if (!strncasecmp(v, "keep-alive", 10))
                keep = 1;
        } else if ((!strncasecmp(line, "Content-Length:", 15) &&
                    strtol(line + 15, NULL, 10) != 0) ||
                   !strncasecmp(line, "Transfer-Encoding:", 18))
            has_body = 1;
    }
    int head = !strcmp(method, "HEAD");
    if ((strcmp(method, "GET") && !head) || has_body) {
        respond(fd, 405, "text/plain", "only GET and HEAD, without a body\n", head, 0);
        return 0;
    }
    target[strcspn(target, "?#")] = '\0';

    int code = 200, rc;
    const char *type = "text/plain";
    if (!strcmp(target, "/health")) {
        type = "application/json";
        code = SERVICE_BROKEN_HEALTH ? 503 : 200;
        snprintf(body, sizeof(body), "{\"status\":\"%s\"}\n", code == 200 ? "ok" : "broken");
    } else if (!strcmp(target, "/version")) {
        snprintf(body, sizeof(body), "%s\n", version);
    } else if (!strcmp(target, "/metrics")) {
        type = "text/plain; version=0.0.4";
        metrics(body, sizeof(body));
    } else if (!strcmp(target, "/")) {
        if (broken_now(app_requests++)) {
            code = 500;
            snprintf(body, sizeof(body), "internal error\n");
        } else {
            snprintf(body, sizeof(body), "hello from service %s\n", version);
        }
    } else {
        code = 404;
        snprintf(body, sizeof(body), "not found\n");
    }
    rc = respond(fd, code, type, body, head, keep);
    return rc == 0 && keep;
}

/* Answers every complete request in c's buffer. Returns 0 when c must close. */
static int serve(struct conn *c)
{
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (!end) {
            if (c->len == sizeof(c->buf) - 1) {
                respond(c->fd, 431, "text/plain", "request too large\n", 0, 0);
                return 0;
            }
            return 1;
        }
        size_t used = (size_t)(end - c->buf) + 4;
        end[2] = '\0'; /* keeps the last header's line end for the header scan */
        if (!handle(c->fd, c->buf))
            return 0;
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
        c->buf[c->len] = '\0';
    }
}

/* Closes a connection. Input not read yet (a refused request's rest) is
 * read first (64 KiB at most): closing with unread input sends a reset,
 * which can make the client lose the answer it was sent. */
static void hang_up(int fd)
{
    char sink[4096];
    shutdown(fd, SHUT_WR);
    for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
        ;
    close(fd);
}

static int listen_on(int port)
{
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    static struct conn conns[MAX_CONNS];
    const char *arg = argc > 1 ? argv[1] : getenv("PORT");
    char *end = NULL;
    long port = arg && *arg ? strtol(arg, &end, 10) : 8080;
    if ((end && *end) || port < 0 || port > 65535) {
        fprintf(stderr, "usage: service [PORT] (or PORT in the environment), 0-65535\n");
        return 2;
    }

    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll() returns */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    load_version();

    int lfd = listen_on((int)port);
    if (lfd < 0) {
        fprintf(stderr, "service: cannot listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
        return 1;
    }
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    getsockname(lfd, (struct sockaddr *)&a, &alen);
    printf("listening on http://127.0.0.1:%d (version %s)\n", ntohs(a.sin_port), version);
    fflush(stdout);

    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].fd = -1;
    while (!stopping) {
        struct pollfd p[MAX_CONNS + 1];
        int slot[MAX_CONNS + 1], np = 0;
        p[np++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (int i = 0; i < MAX_CONNS; i++)
            if (conns[i].fd >= 0) {
                slot[np] = i;
                p[np++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
            }
        if (poll(p, (nfds_t)np, 1000) < 0 && errno != EINTR)
            break;
        time_t now = time(NULL);
        for (int k = 1; k < np; k++) {
            struct conn *c = &conns[slot[k]];
            int open = 1;
            if (p[k].revents) {
                ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
                if (r > 0) {
                    c->len += (size_t)r;
                    c->buf[c->len] = '\0';
                    c->last = now;
                    open = serve(c);
                } else {
                    open = r < 0 && (errno == EAGAIN || errno == EINTR);
                }
            }
            if (!open || now - c->last > IDLE_SECONDS) {
                hang_up(c->fd);
                c->fd = -1;
            }
        }
        if (p[0].revents & POLLIN) {
            int fd;
            while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
                int i = 0;
                while (i < MAX_CONNS && conns[i].fd >= 0)
                    i++;
                if (i == MAX_CONNS) {
                    close(fd); /* full: the client retries */
                    continue;
                }
                conns[i].fd = fd;
                conns[i].len = 0;
                conns[i].last = now;
            }
        }
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    close(lfd);
    return 0;
}
