#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/http1.h"

/* What the parser handed over. */
struct got {
    struct buf body;
    int calls;
    int stop_after; /* stop at this call (1-based); 0: never */
    int status_seen;
    struct http1_response *r;
};

static int on_body(void *ctx, const char *data, size_t n)
{
    struct got *g = ctx;
    assert_true(g->r->headers_done);
    g->status_seen = g->r->status;
    buf_add(&g->body, data, n);
    g->calls++;
    return g->stop_after && g->calls >= g->stop_after;
}

/*
 * Feeds msg in pieces of step bytes (0: at once). Returns the last feed's
 * result or the total consumed; err gets the reason.
 */
static long feed(struct http1_response *r, struct got *g, const char *msg, size_t len, size_t step,
                 struct buf *err)
{
    size_t off = 0;
    long total = 0;
    if (!step)
        step = len ? len : 1;
    while (off < len && !r->done) {
        size_t k = len - off < step ? len - off : step;
        long used = http1_response_feed(r, msg + off, k, on_body, g, err);
        if (used < 0)
            return used;
        off += (size_t)used;
        total += used;
    }
    return total;
}

static void parse_ok(const char *msg, size_t step, int status, const char *body, bool close)
{
    struct http1_response r;
    struct got g = {BUF_INIT, 0, 0, 0, &r};
    struct buf err = BUF_INIT;
    http1_response_init(&r, HTTP1_MAX_HEADER);
    long used = feed(&r, &g, msg, strlen(msg), step, &err);
    assert_string_equal(err.data, "");
    if (!r.done)
        assert_int_equal(http1_response_eof(&r, &err), 0);
    else
        assert_int_equal(used, (long)strlen(msg));
    assert_true(r.done);
    assert_int_equal(r.status, status);
    assert_string_equal(g.body.data, body);
    assert_int_equal(r.close, close);
    http1_response_release(&r);
    buf_release(&g.body);
    buf_release(&err);
}

/* The message fails with rc and err containing why. */
static void parse_fails(const char *msg, size_t max_header, long rc, const char *why)
{
    struct http1_response r;
    struct got g = {BUF_INIT, 0, 0, 0, &r};
    struct buf err = BUF_INIT;
    http1_response_init(&r, max_header);
    for (size_t step = 0; step < 3; step++) {
        buf_reset(&err);
        http1_response_reset(&r);
        long used = feed(&r, &g, msg, strlen(msg), step, &err);
        if (used >= 0) /* the message ended early */
            used = http1_response_eof(&r, &err);
        assert_int_equal(used, rc);
        if (!strstr(err.data, why))
            fail_msg("'%s' does not say '%s'", err.data, why);
    }
    http1_response_release(&r);
    buf_release(&g.body);
    buf_release(&err);
}

static void test_content_length(void **state)
{
    (void)state;
    const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: x\r\n\r\nhello";
    for (size_t step = 0; step < 8; step++)
        parse_ok(m, step, 200, "hello", false);
    parse_ok("HTTP/1.1 404 Not Found\r\ncontent-length:  2 \r\n\r\nno", 0, 404, "no", false);
    parse_ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 200, "", false);
    /* Bare LFs, no reason phrase. */
    parse_ok("HTTP/1.1 201\nContent-Length: 2\n\nok", 1, 201, "ok", false);
}

static void test_chunked_across_reads(void **state)
{
    (void)state;
    const char *m = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
    for (size_t step = 0; step < 12; step++)
        parse_ok(m, step, 200, "hello 0123456789", false);
    parse_ok(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nf\r\n0123456789abcde\r\n0\r\n\r\n", 1,
        200, "0123456789abcde", false);
    /* Sizes padded with zeros (chunk-size is 1*HEXDIG), as some servers send them. */
    parse_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             "00000000000000000005\r\nhello\r\n0000\r\n\r\n",
             3, 200, "hello", false);
}

static void test_response_ends_within_the_data(void **state)
{
    (void)state;
    const char *m = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n";
    struct http1_response r;
    struct got g = {BUF_INIT, 0, 0, 0, &r};
    struct buf err = BUF_INIT;
    http1_response_init(&r, HTTP1_MAX_HEADER);
    long used = http1_response_feed(&r, m, strlen(m), on_body, &g, &err);
    assert_true(r.done);
    assert_int_equal(used, strstr(m, "ok") + 2 - m);
    /* The next one, on the same connection. */
    http1_response_reset(&r);
    assert_false(r.done);
    assert_int_equal(r.status, 0);
    http1_response_release(&r);
    buf_release(&g.body);
    buf_release(&err);
}

static void test_body_to_the_close(void **state)
{
    (void)state;
    parse_ok("HTTP/1.1 200 OK\r\n\r\nall of it", 3, 200, "all of it", true);
    parse_ok("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 0, 200, "x", true);
    parse_ok("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 1\r\n\r\nx", 0,
             200, "x", true);
}

static void test_no_body(void **state)
{
    (void)state;
    parse_ok("HTTP/1.1 204 No Content\r\n\r\n", 0, 204, "", false);
    parse_ok("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 0, 304, "", false);
    /* An interim reply is skipped. */
    parse_ok("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 2, 200,
             "x", false);
}

static void test_bad_chunk_sizes(void **state)
{
    (void)state;
    const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const char *bad[] = {
        "zz\r\n", "\r\n", "-1\r\n", "5 5\r\n", "1000000000000000\r\n", "0001000000000000000\r\n",
        NULL};
    for (size_t i = 0; bad[i]; i++) {
        char m[256];
        snprintf(m, sizeof(m), "%s%s", h, bad[i]);
        parse_fails(m, HTTP1_MAX_HEADER, HTTP1_EPARSE, "bad chunk size");
    }
    char m[4096];
    snprintf(m, sizeof(m), "%s1;%02000d\r\n", h, 0);
    parse_fails(m, HTTP1_MAX_HEADER, HTTP1_EPARSE, "chunk-size line over");
    snprintf(m, sizeof(m), "%s2\r\nabc\r\n0\r\n\r\n", h);
    parse_fails(m, HTTP1_MAX_HEADER, HTTP1_EPARSE, "chunk longer than its size");
    snprintf(m, sizeof(m), "%s2\r\nab", h);
    parse_fails(m, HTTP1_MAX_HEADER, HTTP1_ETRANSPORT, "before the end of its reply");
}

static void test_oversized_headers(void **state)
{
    (void)state;
    char m[2048];
    snprintf(m, sizeof(m), "HTTP/1.1 200 OK\r\nX-Big: %0300d\r\n\r\n", 0);
    parse_fails(m, 256, HTTP1_EPARSE, "headers are larger than 256 bytes");
    /* Many small ones add up. */
    struct buf b = BUF_INIT;
    buf_adds(&b, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 40; i++)
        buf_addf(&b, "X-%d: v\r\n", i);
    buf_adds(&b, "\r\n");
    parse_fails(b.data, 256, HTTP1_EPARSE, "headers are larger");
    /* A status line that never ends. */
    buf_reset(&b);
    buf_adds(&b, "HTTP/1.1 200 ");
    for (int i = 0; i < 300; i++)
        buf_addch(&b, 'x');
    parse_fails(b.data, 256, HTTP1_EPARSE, "headers are larger");
    buf_release(&b);
    /* Trailers count too. */
    snprintf(m, sizeof(m),
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: %0300d\r\n", 0);
    parse_fails(m, 256, HTTP1_EPARSE, "headers are larger");
}

static void test_early_close(void **state)
{
    (void)state;
    parse_fails("", HTTP1_MAX_HEADER, HTTP1_ETRANSPORT, "closed the connection without a reply");
    parse_fails("HTTP/1.1 200 OK\r\nContent-", HTTP1_MAX_HEADER, HTTP1_ETRANSPORT,
                "before the end of its reply");
    parse_fails("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", HTTP1_MAX_HEADER,
                HTTP1_ETRANSPORT, "before the end of its reply");
    parse_fails("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                HTTP1_MAX_HEADER, HTTP1_ETRANSPORT, "before the end of its reply");
}

static void test_status_line_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "HTTP/2 200 OK\r\n\r\n",    "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",  "HTTP/1.1 abc\r\n\r\n",   "SSH-2.0-OpenSSH\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n", "HTTP/1.1 099 x\r\n\r\n", NULL,
    };
    for (size_t i = 0; bad[i]; i++)
        parse_fails(bad[i], HTTP1_MAX_HEADER, HTTP1_EPARSE, "HTTP/1.x status line");
}

static void test_header_errors(void **state)
{
    (void)state;
    parse_fails("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", HTTP1_MAX_HEADER, HTTP1_EPARSE,
                "bad Content-Length");
    parse_fails("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                HTTP1_MAX_HEADER, HTTP1_EPARSE, "bad Content-Length");
    parse_fails("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", HTTP1_MAX_HEADER,
                HTTP1_EPARSE, "bad Content-Length");
    parse_fails("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", HTTP1_MAX_HEADER, HTTP1_EPARSE,
                "bad Content-Length");
    parse_fails("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HTTP1_MAX_HEADER,
                HTTP1_EPARSE, "transfer coding");
    parse_fails("HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", HTTP1_MAX_HEADER, HTTP1_EPARSE,
                "malformed header");
    parse_fails("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", HTTP1_MAX_HEADER, HTTP1_EPARSE,
                "folded header");
    /* The same length twice is fine. */
    parse_ok("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 0, 200, "x",
             false);
}

static void test_body_fn_stops(void **state)
{
    (void)state;
    const char *m =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n";
    struct http1_response r;
    struct got g = {BUF_INIT, 0, 1, 0, &r};
    struct buf err = BUF_INIT;
    http1_response_init(&r, HTTP1_MAX_HEADER);
    assert_int_equal(http1_response_feed(&r, m, strlen(m), on_body, &g, &err), HTTP1_ESTOP);
    assert_string_equal(g.body.data, "a");
    assert_int_equal(g.status_seen, 200);
    http1_response_release(&r);
    buf_release(&g.body);
    buf_release(&err);
}

/* ---- the connection, against a scripted server --------------------------- */

/*
 * A server on a loopback port that serves `conns` connections in turn: on
 * each, it reads requests (up to the empty line, bodies are not sent
 * here) and answers `per_conn` of them with "ok", then closes.
 */
static pid_t serve(int conns, int per_conn, char *port, size_t port_len)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    snprintf(port, port_len, "%u", ntohs(a.sin_port));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid) {
        close(fd);
        return pid;
    }
    for (int c = 0; c < conns; c++) {
        int s = accept(fd, NULL, NULL);
        char req[4096];
        size_t have = 0;
        for (int i = 0; i < per_conn; i++) {
            char *end;
            while (!(end = memmem(req, have, "\r\n\r\n", 4))) {
                ssize_t n = read(s, req + have, sizeof(req) - have);
                if (n <= 0)
                    _exit(1);
                have += (size_t)n;
            }
            size_t used = (size_t)(end + 4 - req);
            end[2] = '\0'; /* the request's head, its last CRLF kept */
            const char *reply = strstr(req, "GET /chunked")
                                    ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "2\r\nok\r\n0\r\n\r\n"
                                    : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            if (!strstr(req, "\r\nHost: 127.0.0.1:") || !strstr(req, "\r\nX-Test: 1\r\n"))
                reply = "HTTP/1.1 400 Bad\r\nContent-Length: 3\r\n\r\nbad";
            if (write(s, reply, strlen(reply)) < 0)
                _exit(1);
            memmove(req, req + used, have - used);
            have -= used;
        }
        close(s);
    }
    _exit(0);
}

static void test_keepalive_and_reconnect(void **state)
{
    (void)state;
    char port[16], host[64];
    /* Two connections of two requests each: the third request finds the first closed. */
    pid_t pid = serve(2, 2, port, sizeof(port));
    snprintf(host, sizeof(host), "127.0.0.1:%s", port);
    struct http1_conn *c = http1_conn_new("127.0.0.1", port, host);
    struct http1_response r;
    struct got g = {BUF_INIT, 0, 0, 0, &r};
    struct buf err = BUF_INIT;
    http1_response_init(&r, HTTP1_MAX_HEADER);
    const char *paths[] = {"/a", "/chunked", "/b", "/chunked"};
    for (int i = 0; i < 4; i++) {
        struct http1_request rq = {.method = "GET",
                                   .target = paths[i],
                                   .headers = "X-Test: 1\r\n",
                                   .connect_timeout_ms = 5000,
                                   .timeout_ms = 5000};
        buf_reset(&g.body);
        if (i == 2)
            usleep(50 * 1000); /* let the server's close arrive */
        int rc = http1_conn_exchange(c, &rq, &r, on_body, &g, &err);
        assert_string_equal(err.data, "");
        assert_int_equal(rc, 0);
        assert_int_equal(r.status, 200);
        assert_string_equal(g.body.data, "ok");
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    http1_conn_free(c);
    http1_response_release(&r);
    buf_release(&g.body);
    buf_release(&err);
}

static void test_connection_refused(void **state)
{
    (void)state;
    char port[16];
    /* A port that was just free. */
    pid_t pid = serve(0, 0, port, sizeof(port));
    waitpid(pid, NULL, 0);
    struct http1_conn *c = http1_conn_new("127.0.0.1", port, "x");
    struct http1_response r;
    struct buf err = BUF_INIT;
    struct http1_request rq = {.method = "POST", .target = "/", .body = "{}", .body_len = 2};
    http1_response_init(&r, HTTP1_MAX_HEADER);
    assert_int_equal(http1_conn_exchange(c, &rq, &r, NULL, NULL, &err), HTTP1_ETRANSPORT);
    assert_string_equal(err.data, "connection refused");
    http1_conn_free(c);
    http1_response_release(&r);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_chunked_across_reads),
        cmocka_unit_test(test_response_ends_within_the_data),
        cmocka_unit_test(test_body_to_the_close),
        cmocka_unit_test(test_no_body),
        cmocka_unit_test(test_bad_chunk_sizes),
        cmocka_unit_test(test_oversized_headers),
        cmocka_unit_test(test_early_close),
        cmocka_unit_test(test_status_line_errors),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_body_fn_stops),
        cmocka_unit_test(test_keepalive_and_reconnect),
        cmocka_unit_test(test_connection_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
