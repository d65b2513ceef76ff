/*
 * libFuzzer target for the API's JSON request bodies, through the real
 * request path: libmicrohttpd and server/http.c, api_routes() with the
 * api_authorize and api_audit hooks, a real store in a temporary data
 * directory and a real engine on a libuv loop of its own thread, as
 * `flywheel serve` sets them up.
 *
 * Set up once, on the first input: a git repository with one commit whose
 * .flywheel.yml builds, releases and deploys (staging by itself, production
 * after an approval) is registered as repository "app"; one run of it is
 * triggered and awaited, so that release r1 and its deployments exist and
 * deploy, rollback, approve, reject and "bad" get past "not found". The
 * server listens on 127.0.0.1, port 0; the admin token it bootstraps is
 * sent with every request, over one kept-alive connection.
 *
 * An input is [route][param][body]: the first byte chooses a route that
 * takes a JSON body (ROUTES below), the second the value of its path
 * parameter (an existing repository, release or deployment, or not), the
 * rest is sent as the body. Each answer must be a well-formed HTTP/1.1
 * response with a Content-Length, a JSON object as its body, an "error"
 * and a "message" string when it is an error, and a status below 500. No
 * 5xx is legitimate here: the store is local, the repository a local
 * directory and the engine idle, so a 500 (store, internal), 502 (fetching
 * "app" failed), 503 (shutting down) or 504 (the engine did not answer)
 * is a finding, whatever the body.
 *
 * State stays small, so that inputs do not get slower as the run goes on:
 * a run that a trigger queues is cancelled at once, and once MAX_REPOS
 * repositories were added, a body that would add another (a "name" not
 * added before) is not sent. Tokens (unique names) and audit lines do
 * accumulate; thousands of them cost nothing per request.
 *
 * Outbound network: a repository's URL may name any host. Git runs with
 * HOME in the temporary directory, whose .gitconfig sends http(s) through
 * a proxy on a closed local port and ssh and git:// to `false`, so a
 * fetch of a remote URL fails at once without leaving the machine.
 *
 * The job leader must be next to this binary (build/fuzz/flywheel-leader,
 * as the Makefile builds it). FUZZ_API_VERBOSE=1 prints every request's
 * answer; FUZZ_API_KEEP=1 keeps the temporary directory.
 *
 *     make fuzz FUZZ_SECONDS=300
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "engine/engine.h"
#include "server/api.h"
#include "server/http.h"
#include "util/buf.h"
#include "util/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern char **environ;

#define MAX_REPOS     32
#define MAX_RESPONSE  (1 << 20)
#define READ_TIMEOUT  90 /* s: longer than the API's 60 s wait for the engine */
#define SETUP_TIMEOUT 60 /* s: for release r1 */

enum param { P_NONE, P_REPO, P_VERSION, P_DEPLOYMENT };

static const struct route {
    const char *method, *path; /* path: "%s" stands for the parameter */
    enum param param;
} ROUTES[] = {
    {"POST", "/api/v1/repos", P_NONE},                          /* A */
    {"POST", "/api/v1/repos/%s/trigger", P_REPO},               /* B */
    {"POST", "/api/v1/repos/%s/deploy", P_REPO},                /* C */
    {"POST", "/api/v1/repos/%s/rollback", P_REPO},              /* D */
    {"POST", "/api/v1/repos/%s/line/stop", P_REPO},             /* E */
    {"POST", "/api/v1/repos/%s/line/resume", P_REPO},           /* F */
    {"POST", "/api/v1/deployments/%s/approve", P_DEPLOYMENT},   /* G */
    {"POST", "/api/v1/deployments/%s/reject", P_DEPLOYMENT},    /* H */
    {"POST", "/api/v1/repos/app/releases/%s/bad", P_VERSION},   /* I */
    {"DELETE", "/api/v1/repos/app/releases/%s/bad", P_VERSION}, /* J: undoes I */
    {"POST", "/api/v1/tokens", P_NONE},                         /* K */
};
#define NROUTES (sizeof(ROUTES) / sizeof(ROUTES[0]))

/* The parameters, chosen by (second byte - '0') modulo their count. */
static const char *const REPO_PARAMS[] = {"app", "nope", "%61pp", "app.", "a%2Fb", "%00"};
static const char *const VERSION_PARAMS[] = {"r1", "r2", "nope", "%2e%2e", "r1%00", "R1"};
static const char *const DEPLOYMENT_PARAMS[] = {
    "1", "2", "3", "4", "0", "-1", "99999999999999999999", "x"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char PIPELINE[] = "jobs:\n"
                               "  build: { run: \"echo 1 >app\", artifacts: [app] }\n"
                               "release: { from: build }\n"
                               "deploy:\n"
                               "  - env: staging\n"
                               "    run: \"true\"\n"
                               "  - env: production\n"
                               "    targets: { eu: {}, us: {} }\n"
                               "    waves: [eu, us]\n"
                               "    run: \"true\"\n"
                               "    approval: true\n";

static const char GITCONFIG[] = "[user]\n"
                                "\tname = fuzz\n"
                                "\temail = fuzz@localhost\n"
                                "[init]\n"
                                "\tdefaultBranch = main\n"
                                "[core]\n"
                                "\tsshCommand = false\n"
                                "\tgitProxy = false\n"
                                "[http]\n"
                                "\tproxy = http://127.0.0.1:9\n";

struct resp {
    unsigned status;
    bool close; /* the server closes the connection after this answer */
    struct buf raw;
    const char *body; /* into raw */
    size_t body_len;
};

static struct {
    char *dir; /* the temporary directory: home/, src/, data/ */
    uv_loop_t loop;
    uv_thread_t thread;
    struct engine *engine;
    struct api *api;
    struct http_server *http;
    uint16_t port;
    char token[128];
    int fd;
    char *repos[MAX_REPOS]; /* names added by inputs */
    size_t nrepos;
} F = {.fd = -1};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz_api: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* ---- setup ---- */

static void run_git(const char *dir, const char *const *args)
{
    const char *argv[16];
    size_t n = 0;
    argv[n++] = "git";
    argv[n++] = "-C";
    argv[n++] = dir;
    for (size_t i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid;
    int st;
    if (posix_spawnp(&pid, "git", NULL, NULL, (char *const *)argv, environ))
        die("cannot run git");
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        die("git %s in %s failed", args[0], dir);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    struct buf path = BUF_INIT;
    buf_addf(&path, "%s/%s", dir, name);
    FILE *f = fopen(path.data, "we");
    if (!f || fputs(text, f) < 0 || fclose(f))
        die("%s: %s", path.data, strerror(errno));
    buf_release(&path);
}

static char *subdir(const char *name)
{
    struct buf b = BUF_INIT;
    buf_addf(&b, "%s/%s", F.dir, name);
    if (mkdir(b.data, 0700))
        die("mkdir %s: %s", b.data, strerror(errno));
    return buf_detach(&b, NULL);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Best effort: the engine may still be writing while the process exits. */
static void cleanup(void)
{
    if (F.dir && !getenv("FUZZ_API_KEEP"))
        nftw(F.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void loop_main(void *arg)
{
    (void)arg;
    uv_run(&F.loop, UV_RUN_DEFAULT);
}

static int request(const char *method, const char *path, const void *body, size_t len,
                   struct resp *out);
static void check_response(const char *method, const char *path, const struct resp *r);

static void resp_release(struct resp *r)
{
    buf_release(&r->raw);
}

/* Triggers a run of main and waits for its release, r1 (its deployment to
 * staging, then production's wait for an approval, follow by themselves). */
static void make_release(void)
{
    struct resp r = {0};
    static const char trigger[] = "{\"ref\":\"main\"}";
    if (request("POST", "/api/v1/repos/app/trigger", trigger, sizeof(trigger) - 1, &r) ||
        r.status != 201)
        die("triggering the first run failed (%u): %.*s", r.status, (int)r.body_len,
            r.body ? r.body : "");
    resp_release(&r);
    for (int i = 0; i < SETUP_TIMEOUT * 10; i++) {
        if (request("GET", "/api/v1/repos/app/releases/r1", NULL, 0, &r))
            die("GET release r1: no answer");
        unsigned st = r.status;
        resp_release(&r);
        if (st == 200)
            return;
        usleep(100000);
    }
    die("release r1 did not appear within %d s (see %s/data/logs)", SETUP_TIMEOUT, F.dir);
}

static void setup(void)
{
    struct buf err = BUF_INIT, db = BUF_INIT, leader = BUF_INIT;
    const char *tmpdir = getenv("TMPDIR");
    struct buf tmpl = BUF_INIT;
    char *exe = realpath("/proc/self/exe", NULL);

    if (!exe)
        die("cannot find this program's path");
    buf_add(&leader, exe, (size_t)(strrchr(exe, '/') - exe + 1));
    buf_adds(&leader, "flywheel-leader");
    if (access(leader.data, X_OK))
        die("%s is missing: jobs would run this fuzzer as their leader", leader.data);
    buf_addf(&tmpl, "%s/flywheel-fuzz-api.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(tmpl.data))
        die("mkdtemp %s: %s", tmpl.data, strerror(errno));
    F.dir = buf_detach(&tmpl, NULL);
    atexit(cleanup);

    char *home = subdir("home"), *src = subdir("src"), *data = subdir("data");
    write_file(home, ".gitconfig", GITCONFIG);
    setenv("HOME", home, 1);
    unsetenv("XDG_CONFIG_HOME");
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    run_git(src, (const char *const[]){"init", "-q", NULL});
    write_file(src, ".flywheel.yml", PIPELINE);
    run_git(src, (const char *const[]){"add", ".flywheel.yml", NULL});
    run_git(src, (const char *const[]){"commit", "-q", "-m", "pipeline", NULL});

    uv_loop_init(&F.loop);
    struct engine_config ec = {0};
    ec.data_dir = data;
    ec.self_exe = exe;
    ec.slots = 2;
    ec.grace_ms = 1000;
    ec.default_poll_s = 0;
    if (engine_open(&F.engine, &F.loop, &ec, &err))
        die("engine_open: %s", err.data);
    if (engine_repo_ensure(F.engine, "app", src, "main", 0, &err))
        die("engine_repo_ensure: %s", err.data);
    buf_addf(&db, "%s/flywheel.db", data);
    F.api = api_new(F.engine, db.data, data);
    api_auth_configure(F.api, false, 1000000, 1000000);
    char *token_file = NULL;
    if (api_auth_bootstrap(db.data, data, &token_file, &err) || !token_file)
        die("api_auth_bootstrap: %s", err.data);
    struct buf tok = BUF_INIT;
    if (file_read(token_file, sizeof(F.token) - 1, &tok, &err))
        die("%s", err.data);
    while (tok.len && (tok.data[tok.len - 1] == '\n' || tok.data[tok.len - 1] == '\r'))
        tok.data[--tok.len] = '\0';
    memcpy(F.token, tok.data, tok.len + 1);
    buf_release(&tok);
    free(token_file);

    struct http_config hc = {0};
    hc.listen = "127.0.0.1:0";
    hc.routes = api_routes();
    hc.ctx = F.api;
    hc.authorize = api_authorize;
    hc.after = api_audit;
    hc.idle = api_idle;
    hc.threads = 4;
    if (http_start(&F.http, &hc, &err))
        die("http_start: %s", err.data);
    F.port = http_port(F.http);
    if (uv_thread_create(&F.thread, loop_main, NULL))
        die("cannot start the engine's thread");
    make_release();

    /* The process never frees these: the server runs until it exits. */
    free(home);
    free(src);
    buf_release(&err);
    buf_release(&db);
    buf_release(&leader);
}

/* ---- a small HTTP/1.1 client over one kept-alive connection ---- */

static void disconnect(void)
{
    if (F.fd >= 0)
        close(F.fd);
    F.fd = -1;
}

static void connect_server(void)
{
    struct sockaddr_in sa = {0};
    struct timeval tv = {.tv_sec = READ_TIMEOUT};
    int one = 1;
    sa.sin_family = AF_INET;
    sa.sin_port = htons(F.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    F.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (F.fd < 0 || setsockopt(F.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
        setsockopt(F.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
        connect(F.fd, (struct sockaddr *)&sa, sizeof(sa)))
        die("connecting to port %u: %s", F.port, strerror(errno));
}

static bool header_is(const char *line, size_t len, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) || line[n] != ':')
        return false;
    const char *v = line + n + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    *value = v;
    return true;
}

/*
 * Parses what raw holds so far. Returns 1 when a whole response is there
 * (out filled), 0 when more is needed; dies on a malformed one.
 */
static int parse_response(struct resp *out, const char *what)
{
    const char *s = out->raw.data;
    const char *end = memmem(s, out->raw.len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    unsigned status = 0;
    if (out->raw.len < 13 || strncmp(s, "HTTP/1.1 ", 9) || s[12] != ' ' ||
        sscanf(s + 9, "%3u", &status) != 1 || status < 100 || status > 599)
        die("%s: not an HTTP/1.1 status line: %.*s", what, (int)(end - s), s);
    long long clen = -1;
    bool close_conn = false;
    for (const char *l = strstr(s, "\r\n") + 2; l < end;) {
        const char *e = strstr(l, "\r\n");
        const char *v;
        if (header_is(l, (size_t)(e - l), "Content-Length", &v)) {
            char *stop;
            errno = 0;
            clen = strtoll(v, &stop, 10);
            if (errno || stop != e || clen < 0 || clen > MAX_RESPONSE)
                die("%s: bad Content-Length: %.*s", what, (int)(e - l), l);
        } else if (header_is(l, (size_t)(e - l), "Transfer-Encoding", &v)) {
            die("%s: a JSON reply must have a Content-Length, not %.*s", what, (int)(e - l), l);
        } else if (header_is(l, (size_t)(e - l), "Connection", &v)) {
            close_conn = !strncasecmp(v, "close", 5);
        } else if (!memchr(l, ':', (size_t)(e - l))) {
            die("%s: malformed header line: %.*s", what, (int)(e - l), l);
        }
        l = e + 2;
    }
    if (clen < 0)
        die("%s: no Content-Length (status %u)", what, status);
    size_t head = (size_t)(end + 4 - s);
    if (out->raw.len < head + (size_t)clen)
        return 0;
    if (out->raw.len > head + (size_t)clen)
        die("%s: %zu bytes after the response", what, out->raw.len - head - (size_t)clen);
    out->status = status;
    out->close = close_conn;
    out->body = s + head;
    out->body_len = (size_t)clen;
    return 1;
}

/* Sends one request and reads its response into out (released by the
 * caller). Returns 0, or -1 if the server closed a kept-alive connection
 * before answering (the caller may try again on a new one). */
static int send_once(const char *req, size_t req_len, struct resp *out, const char *what)
{
    bool fresh = F.fd < 0;
    if (fresh)
        connect_server();
    for (size_t off = 0; off < req_len;) {
        ssize_t n = send(F.fd, req + off, req_len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && !fresh && off == 0 && (errno == EPIPE || errno == ECONNRESET)) {
            disconnect();
            return -1;
        }
        if (n < 0) {
            /* The server may answer before it has read everything (413). */
            if (errno == EPIPE || errno == ECONNRESET)
                break;
            die("%s: send: %s", what, strerror(errno));
        }
        off += (size_t)n;
    }
    buf_init(&out->raw, MAX_RESPONSE + 65536);
    for (;;) {
        char chunk[16384];
        ssize_t n = recv(F.fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            die("%s: no answer within %d s", what, READ_TIMEOUT);
        if (n <= 0 && !out->raw.len && !fresh) {
            buf_release(&out->raw);
            disconnect();
            return -1;
        }
        if (n < 0)
            die("%s: recv: %s", what, strerror(errno));
        if (n == 0)
            die("%s: the connection closed in the middle of a response (%zu bytes)", what,
                out->raw.len);
        if (buf_try_add(&out->raw, chunk, (size_t)n))
            die("%s: a response over %d bytes", what, MAX_RESPONSE);
        if (parse_response(out, what))
            break;
    }
    if (out->close)
        disconnect();
    return 0;
}

static int request(const char *method, const char *path, const void *body, size_t len,
                   struct resp *out)
{
    struct buf req = BUF_INIT, what = BUF_INIT;
    buf_addf(&req,
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             method, path, F.port, F.token, len);
    buf_add(&req, body, len);
    buf_addf(&what, "%s %s", method, path);
    memset(out, 0, sizeof(*out));
    int rc = send_once(req.data, req.len, out, what.data);
    if (rc) {
        memset(out, 0, sizeof(*out));
        rc = send_once(req.data, req.len, out, what.data);
    }
    buf_release(&req);
    buf_release(&what);
    return rc;
}

/* The contract every answer of the API keeps, whatever the body sent. */
static void check_response(const char *method, const char *path, const struct resp *r)
{
    json_error_t jerr;
    json_t *j = json_loadb(r->body, r->body_len, 0, &jerr);
    if (r->status >= 500)
        die("%s %s: status %u: %.*s", method, path, r->status, (int)r->body_len, r->body);
    if (!json_is_object(j))
        die("%s %s: status %u: the body is not a JSON object (%s): %.*s", method, path, r->status,
            jerr.text, (int)r->body_len, r->body);
    if (r->status >= 400 && (!json_is_string(json_object_get(j, "error")) ||
                             !json_is_string(json_object_get(j, "message"))))
        die("%s %s: status %u without \"error\" and \"message\": %.*s", method, path, r->status,
            (int)r->body_len, r->body);
    json_decref(j);
}

/* ---- the target ---- */

/* A body that would add a repository not added before: its "name". */
static char *new_repo_name(const uint8_t *body, size_t len)
{
    json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *name = json_object_get(j, "name");
    char *s = NULL;
    if (json_is_string(name)) {
        s = strdup(json_string_value(name));
        for (size_t i = 0; s && i < F.nrepos; i++)
            if (!strcmp(F.repos[i], s)) {
                free(s);
                s = NULL;
            }
        if (s && !strcmp(s, "app")) {
            free(s);
            s = NULL;
        }
    }
    json_decref(j);
    return s;
}

/* Cancels the run a trigger queued: runs must not pile up. */
static void cancel_run(const struct resp *r)
{
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *id = json_object_get(j, "id");
    if (json_is_integer(id)) {
        struct buf path = BUF_INIT;
        struct resp c;
        buf_addf(&path, "/api/v1/runs/%lld/cancel", (long long)json_integer_value(id));
        if (request("POST", path.data, "", 0, &c))
            die("POST %s: no answer", path.data);
        check_response("POST", path.data, &c);
        resp_release(&c);
        buf_release(&path);
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        setup();
        ready = true;
    }
    if (size < 2)
        return 0;
    const struct route *rt = &ROUTES[(uint8_t)(data[0] - 'A') % NROUTES];
    unsigned pick = (uint8_t)(data[1] - '0');
    const uint8_t *body = data + 2;
    size_t len = size - 2;
    const char *param = "";
    switch (rt->param) {
    case P_NONE:
        break;
    case P_REPO:
        param = REPO_PARAMS[pick % NELEM(REPO_PARAMS)];
        break;
    case P_VERSION:
        param = VERSION_PARAMS[pick % NELEM(VERSION_PARAMS)];
        break;
    case P_DEPLOYMENT:
        param = DEPLOYMENT_PARAMS[pick % NELEM(DEPLOYMENT_PARAMS)];
        break;
    }

    char *adding = NULL;
    bool repos = rt == &ROUTES[0];
    if (repos && F.nrepos == MAX_REPOS) {
        adding = new_repo_name(body, len);
        if (adding) {
            free(adding);
            return 0;
        }
    }

    struct buf path = BUF_INIT;
    struct resp r;
    buf_addf(&path, rt->path, param);
    if (request(rt->method, path.data, body, len, &r))
        die("%s %s: the server closed a fresh connection without answering", rt->method, path.data);
    if (getenv("FUZZ_API_VERBOSE"))
        fprintf(stderr, "fuzz_api: %s %s -> %u %.*s\n", rt->method, path.data, r.status,
                (int)(r.body_len > 300 ? 300 : r.body_len), r.body);
    check_response(rt->method, path.data, &r);
    if (repos && r.status == 201 && F.nrepos < MAX_REPOS) {
        adding = new_repo_name(body, len);
        if (adding)
            F.repos[F.nrepos++] = adding;
    }
    if (rt == &ROUTES[1] && r.status == 201)
        cancel_run(&r);
    resp_release(&r);
    buf_release(&path);
    return 0;
}
