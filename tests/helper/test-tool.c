/*
 * test-tool: exposes flywheel's internals to the shell tests, as git's
 * t/helper does. Each subcommand prints something a test can compare.
 *
 *   test-tool duration STRING...     milliseconds, or the error
 *   test-tool glob PATTERN STRING    "match" / "no match" (exit 0/1)
 *   test-tool window RANGE           the canonical form, or the error
 *   test-tool pipeline-dump FILE     the normalised pipeline as JSON
 *   test-tool gen-pipeline N         a generated pipeline of N jobs (wide and deep)
 *   test-tool tar-create OUT NAME=FILE...  an archive (NAME/= for a directory)
 *   test-tool tar-list ARCHIVE       one "TYPE MODE SIZE NAME" line an entry ("-": stdin)
 *   test-tool sign KEY MSG SIG PUB   signs MSG with KEY (created if missing): the raw
 *                                    signature to SIG, the public PEM to PUB; prints the key id
 *   test-tool sign-check PUB MSG SIG "ok" when SIG (raw) is PUB's signature of MSG
 *   test-tool prov-sign KEY FILE     FILE (a statement) signed into a DSSE envelope
 *   test-tool prov-open PUB FILE     the statement of the envelope FILE, if PUB signed it
 *   test-tool check KIND SUBJECT ... one evaluation of a deployment check (below)
 *   test-tool silent-listen PORTFILE a socket that takes connections and never answers
 *   test-tool free-port              a loopback TCP port that was free a moment ago
 *   test-tool cas put ROOT FILE...   stores files: "DIGEST SIZE" per file
 *   test-tool cas get ROOT DIGEST DEST [MODE]
 *   test-tool cas verify ROOT DIGEST  "ok SIZE", or the error (exit 1)
 *   test-tool cas hash FILE...       "DIGEST SIZE" per file, nothing stored
 *   test-tool webhook-sink PORTFILE DIR  records the webhooks it receives (below)
 *   test-tool hmac KEY-FILE          HMAC-SHA256 of stdin with the key in KEY-FILE (hex)
 *   test-tool forge-parse KIND EVENT FILE  a forge's webhook payload as flywheel reads it
 *   test-tool forge-replay KIND FILE...  the forge's fuzz target over FILEs (a corpus)
 *   test-tool mask-bench SECRET [MB] the masker alone (core/mask.h) over MB (default 1000)
 *                                    of b0004's log lines, in 64 KiB chunks, with the forms
 *                                    of SECRET: prints MB/s (a measure, for docs/benchmarks.md)
 *   test-tool fork-run DB RUN        queues a change run of server run RUN's commit marked
 *                                    as a change from a fork (what a forge's pull request
 *                                    from one makes); prints its id
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/duration.h"
#include "core/glob.h"
#include "core/pipeline.h"
#include "core/provenance.h"
#include "core/window.h"
#include "exec/workspace.h"
#include "store/sign.h"
#include "store/cas.h"
#include "util/fileio.h"
#include "util/tar.h"

static int cmd_duration(int argc, char **argv)
{
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        int64_t ms;
        struct buf err = BUF_INIT, out = BUF_INIT;
        if (duration_parse(argv[i], &ms, &err)) {
            printf("error: %s\n", err.data);
            rc = 1;
        } else {
            duration_format(ms, &out);
            printf("%lld %s\n", (long long)ms, out.data);
        }
        buf_release(&err);
        buf_release(&out);
    }
    return rc;
}

static int cmd_glob(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    struct buf err = BUF_INIT;
    if (glob_check(argv[2], &err)) {
        printf("error: %s\n", err.data);
        buf_release(&err);
        return 2;
    }
    bool m = glob_match(argv[2], argv[3]);
    printf("%s\n", m ? "match" : "no match");
    return m ? 0 : 1;
}

static int cmd_window(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    struct window_range r;
    struct buf err = BUF_INIT, out = BUF_INIT;
    int rc = 0;
    if (window_range_parse(argv[2], &r, &err)) {
        printf("error: %s\n", err.data);
        rc = 1;
    } else {
        window_range_format(&r, &out);
        printf("%s\n", out.data);
    }
    buf_release(&err);
    buf_release(&out);
    return rc;
}

static int cmd_pipeline_dump(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    struct buf src = BUF_INIT, err = BUF_INIT, out = BUF_INIT;
    struct diag_list d = DIAG_LIST_INIT;
    int rc = 1;
    if (file_read(argv[2], 16 << 20, &src, &err)) {
        fprintf(stderr, "%s\n", err.data);
        goto out;
    }
    struct pipeline *p = pipeline_parse(argv[2], src.data, src.len, NULL, 0, &d);
    diag_render(&d, argv[2], src.data, src.len, false, &out);
    fputs(out.data, stderr);
    if (p) {
        buf_reset(&out);
        pipeline_to_json(p, &out);
        fputs(out.data, stdout);
        pipeline_free(p);
        rc = 0;
    }
out:
    diag_list_release(&d);
    buf_release(&src);
    buf_release(&err);
    buf_release(&out);
    return rc;
}

/*
 * A pipeline of n jobs shaped like a real large one: layers of 50 jobs, each
 * job needing up to three jobs of the previous layer (deep and wide), a few
 * keys per job.
 */
static int cmd_gen_pipeline(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    long n = strtol(argv[2], NULL, 10);
    const long width = 50;
    printf("name: generated\nenv: { LANG: C }\njobs:\n");
    for (long i = 0; i < n; i++) {
        long layer = i / width;
        printf("  job-%ld:\n    run: echo %ld && test -d .\n", i, i);
        if (layer > 0) {
            long prev = (layer - 1) * width;
            /* three distinct jobs of the previous layer */
            printf("    needs: [job-%ld, job-%ld, job-%ld]\n", prev + (i % width),
                   prev + ((i + 17) % width), prev + ((i + 33) % width));
        }
        printf("    timeout: 10m\n    env: { N: \"%ld\" }\n", i);
    }
    return 0;
}

/*
 * test-tool workspace snapshot REPO STATE          the snapshot's fields
 * test-tool workspace rev REPO STATE REV           the source of REV
 * test-tool workspace create REPO STATE [REV] DIR  a workspace (snapshot without REV)
 * test-tool workspace create-empty REPO STATE DIR  a workspace without checkout
 * test-tool workspace create-mirror MIRROR STATE COMMIT DIR  ws_source_mirror, then a checkout
 * test-tool workspace init REPO STATE              ws_state_init
 * test-tool workspace find-repo DIR                the top level
 * test-tool workspace remove DIR                   ws_remove
 * test-tool workspace artifacts DIR PATTERN        one matching path a line
 */
static int cmd_workspace(int argc, char **argv)
{
    struct buf err = BUF_INIT, out = BUF_INIT;
    struct ws_source src = {0};
    const char *sub = argc > 2 ? argv[2] : "";
    int rc = -1;

    if (!strcmp(sub, "snapshot") && argc == 5) {
        rc = ws_source_worktree(&src, argv[3], argv[4], &err);
    } else if (!strcmp(sub, "rev") && argc == 6) {
        rc = ws_source_rev(&src, argv[3], argv[4], argv[5], &err);
    } else if ((!strcmp(sub, "create") && (argc == 6 || argc == 7)) ||
               (!strcmp(sub, "create-empty") && argc == 6)) {
        rc = argc == 7 ? ws_source_rev(&src, argv[3], argv[4], argv[5], &err)
                       : ws_source_worktree(&src, argv[3], argv[4], &err);
        if (!rc)
            rc = ws_create(&src, argv[argc - 1], !strcmp(sub, "create"), &err);
    } else if (!strcmp(sub, "create-mirror") && argc == 7) {
        rc = ws_source_mirror(&src, argv[3], argv[4], argv[5], &err);
        if (!rc)
            rc = ws_create(&src, argv[6], 1, &err);
    } else if (!strcmp(sub, "init") && argc == 5) {
        rc = ws_state_init(argv[3], argv[4], &err);
    } else if (!strcmp(sub, "find-repo") && argc == 4) {
        if (!(rc = ws_find_repo(argv[3], &out, &err)))
            printf("%s\n", out.data);
    } else if (!strcmp(sub, "remove") && argc == 4) {
        rc = ws_remove(argv[3], &err);
    } else if (!strcmp(sub, "artifacts") && argc == 5) {
        size_t n = 0;
        if (!(rc = ws_artifact_resolve(argv[3], argv[4], &out, &n, &err)))
            for (const char *p = out.data; p < out.data + out.len; p += strlen(p) + 1)
                printf("%s\n", p);
    } else {
        fprintf(stderr, "usage: test-tool workspace snapshot|rev|create|create-empty|init|"
                        "find-repo|remove|artifacts ...\n");
        return 2;
    }
    if (!rc && src.commit)
        printf("commit %s\nbranch %s\nhead %s\nrepo %s\nstate %s\n", src.commit, src.branch,
               src.head, src.repo, src.state_dir);
    if (rc)
        fprintf(stderr, "error: %s\n", err.data);
    ws_source_release(&src);
    buf_release(&err);
    buf_release(&out);
    return rc ? 1 : 0;
}

#include <errno.h>

#include "exec/mirror.h"

/*
 * test-tool mirror url-ok URL...               "ok" or the reason, one a line
 * test-tool mirror sync URL DIR                one event a line: "created|updated|forced|
 *                                              deleted REF OLD NEW" (40 zeros when absent)
 * test-tool mirror refs DIR                    "SHA REF" a line
 * test-tool mirror resolve DIR REV             the commit
 * test-tool mirror ancestor DIR OLD NEW        "yes" / "no"
 * test-tool mirror read DIR COMMIT PATH [MAX]  the file's content; exit 3 when absent
 * test-tool mirror change DIR COMMIT [BASE [MAX]]  "COMMIT_S FIRST_S" (seconds), then the
 *                                              change's commits, one a line
 */
static int cmd_mirror(int argc, char **argv)
{
    static const char *const names[] = {"created", "updated", "forced", "deleted"};
    static const char zero[] = "0000000000000000000000000000000000000000";
    struct buf err = BUF_INIT, out = BUF_INIT;
    struct ref_list before = {0}, after = {0};
    struct ref_event *ev = NULL;
    size_t nev = 0;
    const char *sub = argc > 2 ? argv[2] : "";
    int rc = -1;

    if (!strcmp(sub, "url-ok") && argc > 3) {
        rc = 0;
        for (int i = 3; i < argc; i++) {
            buf_reset(&err);
            if (mirror_url_ok(argv[i], &err)) {
                printf("error: %s\n", err.data);
                rc = 1;
            } else {
                printf("ok\n");
            }
        }
        buf_release(&err);
        return rc;
    } else if (!strcmp(sub, "sync") && argc == 5) {
        if (!(rc = mirror_sync(argv[3], argv[4], &before, &after, &err))) {
            refs_diff(&before, &after, &ev, &nev);
            for (size_t i = 0; i < nev; i++) {
                if (ev[i].change == REF_UPDATED) {
                    /* as the server does: when git cannot tell, it stays an update */
                    int a = mirror_is_ancestor(argv[4], ev[i].old, ev[i].new, &err);
                    if (!a)
                        ev[i].change = REF_FORCED;
                    else if (a < 0)
                        fprintf(stderr, "warning: %s\n", err.data);
                    buf_reset(&err);
                }
            }
            for (size_t i = 0; i < nev; i++)
                printf("%s %s %s %s\n", names[ev[i].change], ev[i].ref,
                       *ev[i].old ? ev[i].old : zero, *ev[i].new ? ev[i].new : zero);
        }
    } else if (!strcmp(sub, "refs") && argc == 4) {
        if (!(rc = mirror_refs(argv[3], &after, &err)))
            for (size_t i = 0; i < after.n; i++)
                printf("%s %s\n", after.v[i].sha, after.v[i].name);
    } else if (!strcmp(sub, "resolve") && argc == 5) {
        char sha[41];
        if (!(rc = mirror_resolve(argv[3], argv[4], sha, &err)))
            printf("%s\n", sha);
    } else if (!strcmp(sub, "ancestor") && argc == 6) {
        int a = mirror_is_ancestor(argv[3], argv[4], argv[5], &err);
        if (a >= 0)
            printf("%s\n", a ? "yes" : "no");
        rc = a < 0 ? -1 : 0;
    } else if (!strcmp(sub, "read") && (argc == 6 || argc == 7)) {
        size_t max = argc == 7 ? strtoul(argv[6], NULL, 10) : 1 << 20;
        if (!(rc = mirror_read_file(argv[3], argv[4], argv[5], max, &out, &err)))
            fwrite(out.data, 1, out.len, stdout);
    } else if (!strcmp(sub, "change") && argc >= 5 && argc <= 7) {
        struct mirror_change c;
        size_t max = argc == 7 ? strtoul(argv[6], NULL, 10) : 1000;
        if (!(rc = mirror_change(argv[3], argv[4], argc > 5 ? argv[5] : NULL, max, &c, &err))) {
            printf("%lld %lld\n", (long long)(c.commit_ms / 1000), (long long)(c.first_ms / 1000));
            for (size_t i = 0; i < c.n; i++)
                printf("%s\n", c.commits[i]);
            mirror_change_release(&c);
        }
    } else {
        fprintf(stderr,
                "usage: test-tool mirror url-ok|sync|refs|resolve|ancestor|read|change ...\n");
        return 2;
    }
    if (rc)
        fprintf(stderr, "%s: %s\n", rc == -ENOENT ? "absent" : "error", err.data);
    refs_events_free(ev, nev);
    refs_release(&before);
    refs_release(&after);
    buf_release(&err);
    buf_release(&out);
    return rc == -ENOENT ? 3 : rc ? 1 : 0;
}

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>

#include "server/forge.h"
#include "server/http.h"
#include "server/webhook.h"
#include "util/xalloc.h"

/*
 * test-tool http-serve PORTFILE [LISTEN]: serves a few routes on LISTEN
 * (default 127.0.0.1:0; the port bound is written to PORTFILE once
 * listening) until SIGTERM or SIGINT:
 *
 *   GET  /echo/{a}/{b}  {"a", "b", "q": ?q, "n": ?n (integer 0..100, default 7),
 *                        "method", "path", "x_test": header X-Test}
 *   POST /json          the body, parsed (a JSON object)
 *   GET  /stream?path=F F as it grows, until F.done exists
 *   GET  /nothing       a handler that replies nothing (500)
 *   GET  /status/{code} that status, body "status CODE"
 *   GET  /redirect/{n}  302 to /redirect/{n-1}; /redirect/0 is 200 "arrived"
 *   GET  /big/{at}      2 MiB of '.', with "needle" at byte offset at
 *   GET  /file?path=F   F's content as application/json (a JSON body chosen by the
 *                       test, valid or not); 404 when F cannot be read
 */
struct th_stream {
    int fd;
    char *done;
};

static void th_echo(struct http_request *r, void *ctx)
{
    (void)ctx;
    long n;
    if (http_query_int(r, "n", 0, 100, 7, &n))
        return;
    const char *q = http_query(r, "q"), *x = http_header(r, "X-Test");
    json_t *o = json_object();
    json_object_set_new(o, "a", json_string(http_param(r, "a")));
    json_object_set_new(o, "b", json_string(http_param(r, "b")));
    json_object_set_new(o, "q", q ? json_string(q) : json_null());
    json_object_set_new(o, "n", json_integer(n));
    json_object_set_new(o, "method", json_string(http_method(r)));
    json_object_set_new(o, "path", json_string(http_path(r)));
    json_object_set_new(o, "x_test", x ? json_string(x) : json_null());
    http_add_header(r, "X-Echo", "yes");
    http_reply_json(r, 200, o);
}

static void th_json(struct http_request *r, void *ctx)
{
    (void)ctx;
    json_t *body = http_body_json(r);
    if (body)
        http_reply_json(r, 200, body);
}

static long th_stream_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    struct th_stream *t = ctx;
    for (int tries = 0; tries < 2; tries++) {
        ssize_t n = pread(t->fd, buf, max, (off_t)pos);
        if (n != 0)
            return n > 0 ? n : HTTP_STREAM_ERROR;
        /* Read again once done exists: the last lines may have come just before it. */
        if (tries == 0 && access(t->done, F_OK) != 0)
            return 0;
    }
    return HTTP_STREAM_END;
}

static void th_stream_free(void *ctx)
{
    struct th_stream *t = ctx;
    close(t->fd);
    free(t->done);
    free(t);
}

static void th_stream(struct http_request *r, void *ctx)
{
    (void)ctx;
    const char *path = http_query(r, "path");
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
        http_reply_error(r, 404, "not_found", "cannot open '%s'", path ? path : "");
        return;
    }
    struct th_stream *t = xmalloc(sizeof(*t));
    struct buf done = BUF_INIT;
    buf_addf(&done, "%s.done", path);
    t->fd = fd;
    t->done = buf_detach(&done, NULL);
    http_reply_stream(r, 200, "text/plain; charset=utf-8", th_stream_read, th_stream_free, t);
}

static void th_nothing(struct http_request *r, void *ctx)
{
    (void)r;
    (void)ctx;
}

static void th_status(struct http_request *r, void *ctx)
{
    (void)ctx;
    char body[32];
    long code = strtol(http_param(r, "code"), NULL, 10);
    if (code < 100 || code > 599)
        code = 400;
    int n = snprintf(body, sizeof(body), "status %ld\n", code);
    http_reply_text(r, (unsigned)code, "text/plain", body, (size_t)n);
}

static void th_redirect(struct http_request *r, void *ctx)
{
    (void)ctx;
    char to[64];
    long n = strtol(http_param(r, "n"), NULL, 10);
    if (n <= 0) {
        http_reply_text(r, 200, "text/plain", "arrived\n", 8);
        return;
    }
    snprintf(to, sizeof(to), "/redirect/%ld", n - 1);
    http_add_header(r, "Location", to);
    http_reply_text(r, 302, "text/plain", "", 0);
}

static void th_big(struct http_request *r, void *ctx)
{
    (void)ctx;
    size_t len = 2u << 20, at = strtoul(http_param(r, "at"), NULL, 10);
    char *body = xmalloc(len);
    memset(body, '.', len);
    if (at + 6 <= len)
        memcpy(body + at, "needle", 6);
    http_reply_text(r, 200, "text/plain", body, len);
    free(body);
}

static void th_file(struct http_request *r, void *ctx)
{
    (void)ctx;
    const char *path = http_query(r, "path");
    struct buf body = BUF_INIT;
    struct buf err = BUF_INIT;
    if (!path || file_read(path, 4u << 20, &body, &err)) {
        http_reply_error(r, 404, "not_found", "cannot read '%s'", path ? path : "");
    } else {
        http_reply_text(r, 200, "application/json", body.data, body.len);
    }
    buf_release(&body);
    buf_release(&err);
}

static int cmd_http_serve(int argc, char **argv)
{
    static const struct http_route routes[] = {
        {"GET", "/echo/{a}/{b}", th_echo, 0},
        {"POST", "/json", th_json, 0},
        {"GET", "/stream", th_stream, 0},
        {"GET", "/nothing", th_nothing, 0},
        {"GET", "/status/{code}", th_status, 0},
        {"GET", "/redirect/{n}", th_redirect, 0},
        {"GET", "/big/{at}", th_big, 0},
        {"GET", "/file", th_file, 0},
        {NULL, NULL, NULL, 0},
    };
    struct http_server *s;
    struct buf err = BUF_INIT, tmp = BUF_INIT;
    sigset_t set;
    int sig;
    FILE *f;

    if (argc != 3 && argc != 4)
        return 2;
    /* Blocked before any thread starts, so that only sigwait() takes them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    const char *addr = argc == 4 ? argv[3] : "127.0.0.1:0";
    if (http_start(&s, &(struct http_config){.listen = addr, .routes = routes}, &err)) {
        fprintf(stderr, "error: %s\n", err.data);
        buf_release(&err);
        return 1;
    }
    /* Written whole, then renamed: a test never reads half a port. */
    buf_addf(&tmp, "%s.tmp", argv[2]);
    if ((f = fopen(tmp.data, "w")))
        fprintf(f, "%u\n", http_port(s));
    if (!f || fclose(f) || rename(tmp.data, argv[2])) {
        perror(argv[2]);
        http_stop(s);
        buf_release(&tmp);
        return 1;
    }
    buf_release(&tmp);
    sigwait(&set, &sig);
    http_stop(s);
    return 0;
}

/*
 * Writes the archive of the NAME=FILE arguments to OUT, in 1 MiB reads
 * from the start. A chunk of zeros is skipped with lseek rather than written,
 * so that an archive of a large sparse file stays sparse.
 */
static int cmd_tar_create(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    struct tar_entry *e = calloc((size_t)argc, sizeof(*e));
    static char chunk[1 << 20], zeros[1 << 20];
    struct buf err = BUF_INIT;
    struct tar_writer *w = NULL;
    int fd = -1, rc = 1;

    for (int i = 3; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        struct stat st;
        if (!eq)
            goto out;
        *eq = '\0';
        e[i - 3].name = argv[i];
        e[i - 3].mode = 0755;
        if (eq > argv[i] && eq[-1] == '/')
            continue;
        if (stat(eq + 1, &st)) {
            perror(eq + 1);
            goto out;
        }
        e[i - 3].src = eq + 1;
        e[i - 3].size = (uint64_t)st.st_size;
        e[i - 3].mode = (int)(st.st_mode & 07777);
        e[i - 3].mtime = st.st_mtime;
    }
    if (tar_writer_new(&w, e, (size_t)argc - 3, &err))
        goto out;
    fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(argv[2]);
        goto out;
    }
    uint64_t pos = 0, total = tar_writer_size(w);
    long got;
    while ((got = tar_writer_read(w, pos, chunk, sizeof(chunk), &err)) > 0) {
        if (!memcmp(chunk, zeros, (size_t)got)) {
            if (lseek(fd, got, SEEK_CUR) < 0)
                goto out;
        } else if (write(fd, chunk, (size_t)got) != got) {
            perror(argv[2]);
            goto out;
        }
        pos += (uint64_t)got;
    }
    if (got == 0 && pos == total && !ftruncate(fd, (off_t)total))
        rc = 0;
out:
    if (err.len)
        fprintf(stderr, "error: %s\n", err.data);
    if (fd >= 0)
        close(fd);
    tar_writer_free(w);
    buf_release(&err);
    free(e);
    return rc;
}

static int cmd_tar_list(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    int fd = strcmp(argv[2], "-") ? open(argv[2], O_RDONLY | O_CLOEXEC) : 0;
    struct buf err = BUF_INIT;
    struct tar_reader *r;
    struct tar_header h;
    static char chunk[1 << 16];
    int rc;

    if (fd < 0) {
        perror(argv[2]);
        return 1;
    }
    tar_reader_open(&r, fd);
    while ((rc = tar_reader_next(r, &h, &err)) == 1) {
        uint64_t n = 0;
        long got;
        while ((got = tar_reader_read(r, chunk, sizeof(chunk), &err)) > 0)
            n += (uint64_t)got;
        if (got < 0 || n != h.size) {
            rc = -1;
            break;
        }
        printf("%c %04o %llu %s\n", h.type == TAR_DIR ? 'd' : 'f', h.mode,
               (unsigned long long)h.size, h.name);
    }
    if (rc < 0)
        fprintf(stderr, "error: %s\n", err.data);
    tar_reader_free(r);
    if (fd)
        close(fd);
    buf_release(&err);
    return rc < 0;
}

static int write_whole(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(data, 1, len, fp) != len || fclose(fp)) {
        perror(path);
        return -1;
    }
    return 0;
}

static int cmd_sign(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    struct buf err = BUF_INIT, msg = BUF_INIT, pem = BUF_INIT;
    struct sign_key *k = NULL;
    unsigned char sig[SIGN_SIG_LEN];
    char id[SIGN_KEYID_LEN + 1];
    int rc = 1;
    if (sign_key_load_or_create(&k, argv[2], &err) || file_read(argv[3], 1 << 20, &msg, &err) ||
        sign_bytes(k, msg.data, msg.len, sig, &err)) {
        fprintf(stderr, "error: %s\n", err.data);
        goto out;
    }
    sign_key_public_pem(k, &pem);
    if (write_whole(argv[4], sig, sizeof(sig)) || write_whole(argv[5], pem.data, pem.len))
        goto out;
    sign_key_id(k, id);
    printf("%s\n", id);
    rc = 0;
out:
    sign_key_free(k);
    buf_release(&err);
    buf_release(&msg);
    buf_release(&pem);
    return rc;
}

/* Reads the public key at path; NULL with a message on stderr. */
static struct sign_pub *read_pub(const char *path)
{
    struct buf err = BUF_INIT, pem = BUF_INIT;
    struct sign_pub *p = NULL;
    if (file_read(path, 1 << 16, &pem, &err) || sign_pub_from_pem(&p, pem.data, pem.len, &err))
        fprintf(stderr, "error: %s\n", err.data);
    buf_release(&err);
    buf_release(&pem);
    return p;
}

static int cmd_sign_check(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    struct buf err = BUF_INIT, msg = BUF_INIT, sig = BUF_INIT;
    struct sign_pub *p = read_pub(argv[2]);
    int rc = 1;
    if (!p)
        goto out;
    if (file_read(argv[3], 1 << 20, &msg, &err) || file_read(argv[4], 1024, &sig, &err)) {
        fprintf(stderr, "error: %s\n", err.data);
        goto out;
    }
    if (sig.len != SIGN_SIG_LEN) {
        fprintf(stderr, "error: %s is %zu bytes, not %d\n", argv[4], sig.len, SIGN_SIG_LEN);
        goto out;
    }
    if (sign_check(p, msg.data, msg.len, (const unsigned char *)sig.data, &err)) {
        printf("error: %s\n", err.data);
        goto out;
    }
    printf("ok\n");
    rc = 0;
out:
    sign_pub_free(p);
    buf_release(&err);
    buf_release(&msg);
    buf_release(&sig);
    return rc;
}

static int cmd_prov_sign(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    struct buf err = BUF_INIT, stmt = BUF_INIT, env = BUF_INIT;
    struct sign_key *k = NULL;
    int rc = 1;
    if (sign_key_load_or_create(&k, argv[2], &err) || file_read(argv[3], 16 << 20, &stmt, &err) ||
        prov_sign(k, stmt.data, stmt.len, &env, &err)) {
        fprintf(stderr, "error: %s\n", err.data);
        goto out;
    }
    printf("%s\n", env.data);
    rc = 0;
out:
    sign_key_free(k);
    buf_release(&err);
    buf_release(&stmt);
    buf_release(&env);
    return rc;
}

static int cmd_prov_open(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    struct buf err = BUF_INIT, env = BUF_INIT, stmt = BUF_INIT;
    struct sign_pub *p = read_pub(argv[2]);
    int rc = 1;
    if (!p)
        goto out;
    if (file_read(argv[3], 16 << 20, &env, &err) || prov_open(p, env.data, env.len, &stmt, &err)) {
        printf("error: %s\n", err.data);
        goto out;
    }
    fwrite(stmt.data, 1, stmt.len, stdout);
    rc = 0;
out:
    sign_pub_free(p);
    buf_release(&err);
    buf_release(&env);
    buf_release(&stmt);
    return rc;
}

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "deploy/check.h"

/*
 * test-tool check http URL [OPTIONS]
 * test-tool check run COMMAND [OPTIONS]
 * test-tool check prometheus QUERY --server URL [--min X] [--max X] [OPTIONS]
 *
 * Options: --expect 200,204  --contains TEXT  --json POINTER  --equals TEXT
 *          --min X  --max X (prometheus, or http with --json)  --timeout DURATION
 *          --var NAME=VALUE (repeatable)  --dir DIR (run: where it runs)
 *
 * Prints what check_eval_in() gave, one field a line:
 *     outcome: pass|fail|no data|error
 *     value: 503            (only when there is one)
 *     message: HTTP 503 from ...
 *     children: none        (no child left unreaped, zombie or not)
 * and, with --output FILE, the run check's output into FILE. Exit 0, or 2 on
 * a usage error.
 */
static int cmd_check(int argc, char **argv)
{
    struct pl_check c = {0};
    const char **vars = xcalloc((size_t)argc, sizeof(*vars));
    const char *dir = NULL, *output = NULL;
    size_t nvars = 0;
    int rc = 2;

    if (argc < 4)
        goto usage;
    if (!strcmp(argv[2], "http")) {
        c.kind = PL_CHECK_HTTP;
        c.timeout_ms = 10000;
    } else if (!strcmp(argv[2], "run")) {
        c.kind = PL_CHECK_RUN;
        c.timeout_ms = 60000;
    } else if (!strcmp(argv[2], "prometheus")) {
        c.kind = PL_CHECK_PROMETHEUS;
        c.timeout_ms = 10000;
    } else {
        goto usage;
    }
    c.subject = argv[3];
    for (int i = 4; i < argc; i++) {
        const char *opt = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (!arg)
            goto usage;
        i++;
        if (!strcmp(opt, "--expect")) {
            for (const char *p = arg; *p && c.nexpect < PL_MAX_EXPECT; p = *end ? end + 1 : end) {
                c.expect[c.nexpect++] = (int)strtol(p, &end, 10);
                if (end == p)
                    goto usage;
            }
        } else if (!strcmp(opt, "--contains")) {
            c.contains = (char *)arg;
        } else if (!strcmp(opt, "--json")) {
            c.json = (char *)arg;
        } else if (!strcmp(opt, "--equals")) {
            c.equals = (char *)arg;
        } else if (!strcmp(opt, "--timeout")) {
            struct buf err = BUF_INIT;
            if (duration_parse(arg, &c.timeout_ms, &err)) {
                fprintf(stderr, "--timeout: %s\n", err.data);
                buf_release(&err);
                goto usage;
            }
        } else if (!strcmp(opt, "--server")) {
            c.server = (char *)arg;
        } else if (!strcmp(opt, "--min") || !strcmp(opt, "--max")) {
            double v = strtod(arg, &end);
            if (*end || end == arg)
                goto usage;
            if (opt[3] == 'i') {
                c.has_min = true;
                c.min = v;
            } else {
                c.has_max = true;
                c.max = v;
            }
        } else if (!strcmp(opt, "--var")) {
            vars[nvars++] = arg;
        } else if (!strcmp(opt, "--dir")) {
            dir = arg;
        } else if (!strcmp(opt, "--output")) {
            output = arg;
        } else {
            goto usage;
        }
    }

    struct check_result r;
    check_eval_in(&c, vars, dir, &r);
    printf("outcome: %s\n", check_outcome_name(r.outcome));
    if (r.has_value)
        printf("value: %.6g\n", r.value);
    printf("message: %s\n", r.message.data);
    int st;
    pid_t w = waitpid(-1, &st, WNOHANG);
    printf("children: %s\n", w < 0 && errno == ECHILD ? "none" : "left");
    if (output) {
        FILE *f = fopen(output, "w");
        if (f) {
            fwrite(r.output.data, 1, r.output.len, f);
            fclose(f);
        }
    }
    check_result_release(&r);
    rc = 0;
    goto out;
usage:
    fprintf(stderr,
            "usage: test-tool check http|run|prometheus SUBJECT [--expect LIST] "
            "[--contains TEXT] [--json POINTER] [--equals TEXT] [--timeout D] [--server URL] "
            "[--min X] [--max X] "
            "[--var NAME=VALUE]... [--dir DIR] [--output FILE]\n");
out:
    free(vars);
    return rc;
}

static int listen_loopback(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64) ||
        getsockname(fd, (struct sockaddr *)&a, &len)) {
        perror("socket");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/*
 * test-tool silent-listen PORTFILE: listens on 127.0.0.1 (an ephemeral port,
 * written to PORTFILE), lets the kernel complete connections and never reads
 * nor answers, until SIGTERM or SIGINT.
 */
static int cmd_silent_listen(int argc, char **argv)
{
    sigset_t set;
    int sig;
    uint16_t port;
    if (argc != 3)
        return 2;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int fd = listen_loopback(&port);
    if (fd < 0)
        return 1;
    struct buf tmp = BUF_INIT;
    buf_addf(&tmp, "%s.tmp", argv[2]);
    FILE *f = fopen(tmp.data, "w");
    if (f)
        fprintf(f, "%u\n", port);
    if (!f || fclose(f) || rename(tmp.data, argv[2])) {
        perror(argv[2]);
        buf_release(&tmp);
        close(fd);
        return 1;
    }
    buf_release(&tmp);
    sigwait(&set, &sig);
    close(fd);
    return 0;
}

/*
 * test-tool webhook-sink PORTFILE DIR: an HTTP receiver on 127.0.0.1 (an
 * ephemeral port, written to PORTFILE) until SIGTERM or SIGINT. Each
 * request is recorded in DIR as NNNN.body (the exact bytes) and
 * NNNN.headers (the headers of sink_headers that it has, one "Name: value"
 * line each, in that order), then a line "NNNN PATH STATUS EVENT DELIVERY"
 * is appended to DIR/log. The answer depends on the path:
 *
 *   POST /hook          200
 *   POST /flaky         500 to the first request of each delivery, then 200
 *   POST /status/{code} that status
 *
 * and the forges' commit status APIs, under any first segment P (an
 * api_url of http://127.0.0.1:PORT/P):
 *
 *   POST /P/repos/{owner}/{repo}/statuses/{sha}          GitHub's
 *   POST /P/api/v4/projects/{id}/statuses/{sha}          GitLab's
 *   POST /P/api/v1/repos/{owner}/{repo}/statuses/{sha}   Gitea's
 *
 * answered 201, unless P is "status-CODE" (that status) or "flaky" (503
 * with Retry-After: 1 to the first request of each path, then 201).
 */
static const char *const sink_headers[] = {
    "Content-Type",
    "User-Agent",
    "X-Flywheel-Event",
    "X-Flywheel-Delivery",
    "X-Flywheel-Signature-256",
    "Accept",
    "Authorization",
    "PRIVATE-TOKEN",
    "X-GitHub-Api-Version",
    NULL,
};

struct sink {
    const char *dir;
    pthread_mutex_t mu;
    int n;
    char seen[64][40]; /* deliveries /flaky has refused once */
    int nseen;
    char seen_paths[64][256]; /* paths a flaky forge has refused once */
    int nseen_paths;
};

static void sink_write(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f))
        perror(path);
}

static void sink_handle(struct http_request *r, void *ctx)
{
    const char *const *names = sink_headers;
    const char *prefix = http_param(r, "prefix");
    struct sink *k = ctx;
    const char *path = http_path(r), *delivery = http_header(r, "X-Flywheel-Delivery");
    const char *event = http_header(r, "X-Flywheel-Event");
    struct buf b = BUF_INIT, h = BUF_INIT;
    size_t len;
    const char *body = http_body(r, &len);
    unsigned status = 200;

    pthread_mutex_lock(&k->mu);
    int n = ++k->n;
    if (!strcmp(path, "/flaky")) {
        bool seen = false;
        for (int i = 0; i < k->nseen && !seen; i++)
            seen = delivery && !strcmp(k->seen[i], delivery);
        if (!seen && k->nseen < 64) {
            snprintf(k->seen[k->nseen++], sizeof(k->seen[0]), "%s", delivery ? delivery : "");
            status = 500;
        }
    } else if (!strncmp(path, "/status/", 8)) {
        long code = strtol(path + 8, NULL, 10);
        status = code >= 100 && code <= 599 ? (unsigned)code : 400;
    } else if (prefix) {
        status = 201;
        if (!strncmp(prefix, "status-", 7)) {
            long code = strtol(prefix + 7, NULL, 10);
            status = code >= 100 && code <= 599 ? (unsigned)code : 400;
        } else if (!strcmp(prefix, "flaky")) {
            bool seen = false;
            for (int i = 0; i < k->nseen_paths && !seen; i++)
                seen = !strcmp(k->seen_paths[i], path);
            if (!seen && k->nseen_paths < 64) {
                snprintf(k->seen_paths[k->nseen_paths++], sizeof(k->seen_paths[0]), "%s", path);
                status = 503;
                http_add_header(r, "Retry-After", "1");
            }
        }
    }
    buf_addf(&b, "%s/%04d.body", k->dir, n);
    sink_write(b.data, body ? body : "", body ? len : 0);
    for (int i = 0; names[i]; i++) {
        const char *v = http_header(r, names[i]);
        if (v)
            buf_addf(&h, "%s: %s\n", names[i], v);
    }
    buf_reset(&b);
    buf_addf(&b, "%s/%04d.headers", k->dir, n);
    sink_write(b.data, h.data, h.len);
    buf_reset(&b);
    buf_addf(&b, "%s/log", k->dir);
    FILE *f = fopen(b.data, "a");
    if (f) {
        fprintf(f, "%04d %s %u %s %s\n", n, path, status, event ? event : "-",
                delivery ? delivery : "-");
        fclose(f);
    }
    pthread_mutex_unlock(&k->mu);
    http_reply_text(r, status, "text/plain", "ok\n", 3);
    buf_release(&b);
    buf_release(&h);
}

static int cmd_webhook_sink(int argc, char **argv)
{
    static const struct http_route routes[] = {
        {"POST", "/hook", sink_handle, 0},
        {"POST", "/flaky", sink_handle, 0},
        {"POST", "/status/{code}", sink_handle, 0},
        {"POST", "/{prefix}/repos/{owner}/{repo}/statuses/{sha}", sink_handle, 0},
        {"POST", "/{prefix}/api/v4/projects/{id}/statuses/{sha}", sink_handle, 0},
        {"POST", "/{prefix}/api/v1/repos/{owner}/{repo}/statuses/{sha}", sink_handle, 0},
        {NULL, NULL, NULL, 0},
    };
    struct sink k = {.dir = argc == 4 ? argv[3] : NULL};
    struct http_server *s;
    struct buf err = BUF_INIT, tmp = BUF_INIT;
    sigset_t set;
    int sig;
    FILE *f;

    if (argc != 4)
        return 2;
    pthread_mutex_init(&k.mu, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (http_start(&s, &(struct http_config){.listen = "127.0.0.1:0", .routes = routes, .ctx = &k},
                   &err)) {
        fprintf(stderr, "error: %s\n", err.data);
        buf_release(&err);
        return 1;
    }
    buf_addf(&tmp, "%s.tmp", argv[2]);
    if ((f = fopen(tmp.data, "w")))
        fprintf(f, "%u\n", http_port(s));
    if (!f || fclose(f) || rename(tmp.data, argv[2])) {
        perror(argv[2]);
        http_stop(s);
        buf_release(&tmp);
        return 1;
    }
    buf_release(&tmp);
    sigwait(&set, &sig);
    http_stop(s);
    pthread_mutex_destroy(&k.mu);
    return 0;
}

/* test-tool hmac KEY-FILE: the hex HMAC-SHA256 of standard input under the
 * key that is KEY-FILE's bytes (webhook_hmac_sha256_hex). */
static int cmd_hmac(int argc, char **argv)
{
    struct buf key = BUF_INIT, msg = BUF_INIT, err = BUF_INIT;
    char hex[65];
    if (argc != 3)
        return 2;
    if (file_read(argv[2], 1 << 20, &key, &err) || file_read("-", 16 << 20, &msg, &err)) {
        fprintf(stderr, "error: %s\n", err.data);
        buf_release(&err);
        return 1;
    }
    webhook_hmac_sha256_hex(key.data, key.len, msg.data, msg.len, hex);
    printf("%s\n", hex);
    buf_release(&key);
    buf_release(&msg);
    return 0;
}

/*
 * test-tool forge-parse KIND EVENT FILE: forge_parse() of FILE ("-": stdin)
 * as the event EVENT of forge KIND (github, gitlab, gitea): one line,
 *   push REF SHA deleted=0|1 repo=R
 *   pull REF SHA number=N branch=B fork=0|1 action=A repo=R
 *   ping repo=R
 *   ignored: WHY
 * or "error: WHY" and exit 1 for a payload refused.
 */
static int cmd_forge_parse(int argc, char **argv)
{
    struct buf body = BUF_INIT, err = BUF_INIT;
    struct forge_event ev;
    if (argc != 5)
        return 2;
    enum forge_kind k = forge_kind_parse(argv[2]);
    if (!k || file_read(argv[4], 16 << 20, &body, &err)) {
        fprintf(stderr, "error: %s\n", k ? err.data : "unknown forge");
        buf_release(&err);
        return 2;
    }
    int rc = forge_parse(k, argv[3], body.data, body.len, &ev, &err);
    if (rc)
        printf("error: %s\n", err.data);
    else if (ev.type == FORGE_EV_PUSH)
        printf("push %s %s deleted=%d repo=%s\n", ev.ref, ev.sha, ev.deleted, ev.repo);
    else if (ev.type == FORGE_EV_PULL)
        printf("pull %s %s number=%lld branch=%s fork=%d action=%s repo=%s\n", ev.ref, ev.sha,
               (long long)ev.number, ev.head_branch, ev.fork, ev.action, ev.repo);
    else if (ev.type == FORGE_EV_PING)
        printf("ping repo=%s\n", ev.repo);
    else
        printf("ignored: %s\n", ev.why);
    buf_release(&body);
    buf_release(&err);
    return rc ? 1 : 0;
}

/*
 * test-tool forge-replay KIND FILE...: runs the fuzz target of forge KIND
 * (tests/fuzz/fuzz_forge.h) on each FILE, as libFuzzer would on a corpus;
 * a broken contract aborts. Prints "ok N".
 */
#include "../fuzz/fuzz_forge.h"

static int cmd_forge_replay(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    enum forge_kind k = forge_kind_parse(argv[2]);
    if (!k)
        return 2;
    for (int i = 3; i < argc; i++) {
        struct buf data = BUF_INIT, err = BUF_INIT;
        if (file_read(argv[i], 1 << 20, &data, &err)) {
            fprintf(stderr, "error: %s\n", err.data);
            buf_release(&err);
            return 1;
        }
        fuzz_forge_one(k, (const uint8_t *)data.data, data.len);
        buf_release(&data);
    }
    printf("ok %d\n", argc - 3);
    return 0;
}

/* test-tool free-port: prints a loopback port nobody listened on a moment ago. */
static int cmd_free_port(int argc, char **argv)
{
    (void)argv;
    uint16_t port;
    if (argc != 2)
        return 2;
    int fd = listen_loopback(&port);
    if (fd < 0)
        return 1;
    close(fd);
    printf("%u\n", port);
    return 0;
}

static int cmd_cas(int argc, char **argv)
{
    struct cas *c = NULL;
    struct buf err = BUF_INIT;
    char digest[CAS_DIGEST_LEN + 1];
    int64_t size = 0;
    int rc = 0;

    if (argc >= 4 && !strcmp(argv[2], "hash")) {
        for (int i = 3; i < argc && !rc; i++) {
            if (cas_hash_file(argv[i], digest, &size, &err))
                rc = 1;
            else
                printf("%s %lld\n", digest, (long long)size);
        }
        goto out;
    }
    if (argc < 5 ||
        (strcmp(argv[2], "put") && strcmp(argv[2], "get") && strcmp(argv[2], "verify"))) {
        fprintf(stderr, "usage: test-tool cas put|get|verify ROOT ...\n");
        return 2;
    }
    if (cas_open(&c, argv[3], &err)) {
        rc = 1;
        goto out;
    }
    if (!strcmp(argv[2], "put")) {
        for (int i = 4; i < argc && !rc; i++) {
            if (cas_put_file(c, argv[i], digest, &size, &err))
                rc = 1;
            else
                printf("%s %lld\n", digest, (long long)size);
        }
    } else if (!strcmp(argv[2], "get")) {
        if (argc < 6)
            return 2;
        int mode = argc > 6 ? (int)strtol(argv[6], NULL, 8) : 0644;
        if (cas_get_file(c, argv[4], argv[5], mode, &err))
            rc = 1;
    } else {
        if (cas_verify(c, argv[4], &size, &err))
            rc = 1;
        else
            printf("ok %lld\n", (long long)size);
    }
out:
    if (rc)
        fprintf(stderr, "%s\n", err.data);
    cas_close(c);
    buf_release(&err);
    return rc;
}

#include <time.h>

#include "core/mask.h"
#include "core/secret.h"
#include "store/store.h"

static void mask_bench_sink(void *ctx, const char *data, size_t len)
{
    (void)data;
    *(size_t *)ctx += len;
}

static int cmd_mask_bench(int argc, char **argv)
{
    static const char line[] = "flywheel b0004: a log line of sixty characters, and some more\n";
    if (argc < 3)
        return 2;
    long mb = argc > 3 ? strtol(argv[3], NULL, 10) : 1000;
    size_t chunk = 65536, out = 0, iters = (size_t)(mb > 0 ? mb : 1) * 1000000 / chunk;
    char *buf = xmalloc(chunk);
    for (size_t i = 0; i < chunk; i++)
        buf[i] = line[i % (sizeof(line) - 1)];
    struct mask_set *set = mask_set_new();
    if (secret_mask_add(set, argv[2], strlen(argv[2]))) {
        fprintf(stderr, "test-tool mask-bench: too large\n");
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct mask *m = mask_new(set);
    for (size_t k = 0; k < iters; k++)
        mask_feed(m, buf, chunk, mask_bench_sink, &out);
    mask_flush(m, mask_bench_sink, &out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%zu patterns, the longest %zu bytes: %.0f MB in %.3f s, %.0f MB/s\n",
           mask_set_count(set), mask_set_longest(set), (double)(iters * chunk) / 1e6, s,
           (double)(iters * chunk) / 1e6 / s);
    mask_free(m);
    mask_set_free(set);
    free(buf);
    return out == iters * chunk ? 0 : 1;
}

static int cmd_fork_run(int argc, char **argv)
{
    struct store *st = NULL;
    struct store_run run = {0};
    struct buf err = BUF_INIT;
    int rc = 1;
    if (argc != 4)
        return 2;
    if (store_open(&st, argv[2], &err) || store_run_get(st, strtoll(argv[3], NULL, 10), &run, &err))
        goto out;
    struct store_run copy = run;
    copy.id = copy.number = 0;
    copy.kind = "change"; /* what a pull request is */
    copy.state = "queued";
    copy.trigger = "hook";
    copy.retry_of = 0;
    copy.fork = true;
    copy.created_ms = store_now_ms();
    copy.started_ms = copy.finished_ms = 0;
    int64_t id = store_run_insert(st, &copy, &err);
    if (id > 0) {
        printf("%lld\n", (long long)id);
        rc = 0;
    }
out:
    if (rc)
        fprintf(stderr, "test-tool fork-run: %s\n", err.data);
    store_run_release(&run);
    store_close(st);
    buf_release(&err);
    return rc;
}

/* ---- routes: the API's routing table, "METHOD PATH ROLE" per line ---- */

#include "server/api.h"
#include "server/auth.h"

static int cmd_routes(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    for (const struct http_route *r = api_routes(); r->method; r++)
        printf("%s %s %s\n", r->method, r->path, auth_role_name(r->need));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test-tool duration|glob|window|pipeline-dump|gen-pipeline ...\n");
        return 2;
    }
    if (!strcmp(argv[1], "duration"))
        return cmd_duration(argc, argv);
    if (!strcmp(argv[1], "glob"))
        return cmd_glob(argc, argv);
    if (!strcmp(argv[1], "window"))
        return cmd_window(argc, argv);
    if (!strcmp(argv[1], "pipeline-dump"))
        return cmd_pipeline_dump(argc, argv);
    if (!strcmp(argv[1], "gen-pipeline"))
        return cmd_gen_pipeline(argc, argv);
    if (!strcmp(argv[1], "workspace"))
        return cmd_workspace(argc, argv);
    if (!strcmp(argv[1], "mirror"))
        return cmd_mirror(argc, argv);
    if (!strcmp(argv[1], "cas"))
        return cmd_cas(argc, argv);
    if (!strcmp(argv[1], "http-serve"))
        return cmd_http_serve(argc, argv);
    if (!strcmp(argv[1], "tar-create"))
        return cmd_tar_create(argc, argv);
    if (!strcmp(argv[1], "tar-list"))
        return cmd_tar_list(argc, argv);
    if (!strcmp(argv[1], "sign"))
        return cmd_sign(argc, argv);
    if (!strcmp(argv[1], "sign-check"))
        return cmd_sign_check(argc, argv);
    if (!strcmp(argv[1], "prov-sign"))
        return cmd_prov_sign(argc, argv);
    if (!strcmp(argv[1], "prov-open"))
        return cmd_prov_open(argc, argv);
    if (!strcmp(argv[1], "check"))
        return cmd_check(argc, argv);
    if (!strcmp(argv[1], "silent-listen"))
        return cmd_silent_listen(argc, argv);
    if (!strcmp(argv[1], "free-port"))
        return cmd_free_port(argc, argv);
    if (!strcmp(argv[1], "webhook-sink"))
        return cmd_webhook_sink(argc, argv);
    if (!strcmp(argv[1], "forge-parse"))
        return cmd_forge_parse(argc, argv);
    if (!strcmp(argv[1], "forge-replay"))
        return cmd_forge_replay(argc, argv);
    if (!strcmp(argv[1], "hmac"))
        return cmd_hmac(argc, argv);
    if (!strcmp(argv[1], "routes"))
        return cmd_routes(argc, argv);
    if (!strcmp(argv[1], "fork-run"))
        return cmd_fork_run(argc, argv);
    if (!strcmp(argv[1], "mask-bench"))
        return cmd_mask_bench(argc, argv);
    fprintf(stderr, "test-tool: unknown command '%s'\n", argv[1]);
    return 2;
}
