#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/http.h"
#include "server/webhook.h"

/* RFC 4231, section 4: HMAC-SHA-256 of test cases 1-4, 6 and 7 (5 is truncated output). */
struct vector {
    unsigned char key[131];
    size_t key_len;
    const char *data;
    size_t data_len;
    const char *mac;
};

static void fill(unsigned char *p, int c, size_t n)
{
    memset(p, c, n);
}

static void test_rfc4231(void **state)
{
    (void)state;
    static struct vector v[6];
    unsigned char dd[50], cd[50];
    fill(v[0].key, 0x0b, 20);
    v[0].key_len = 20;
    v[0].data = "Hi There";
    v[0].mac = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
    memcpy(v[1].key, "Jefe", 4);
    v[1].key_len = 4;
    v[1].data = "what do ya want for nothing?";
    v[1].mac = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    fill(v[2].key, 0xaa, 20);
    v[2].key_len = 20;
    fill(dd, 0xdd, 50);
    v[2].data = (const char *)dd;
    v[2].data_len = 50;
    v[2].mac = "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe";
    for (int i = 0; i < 25; i++)
        v[3].key[i] = (unsigned char)(i + 1);
    v[3].key_len = 25;
    fill(cd, 0xcd, 50);
    v[3].data = (const char *)cd;
    v[3].data_len = 50;
    v[3].mac = "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b";
    fill(v[4].key, 0xaa, 131);
    v[4].key_len = 131;
    v[4].data = "Test Using Larger Than Block-Size Key - Hash Key First";
    v[4].mac = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
    fill(v[5].key, 0xaa, 131);
    v[5].key_len = 131;
    v[5].data = "This is a test using a larger than block-size key and a larger than "
                "block-size data. The key needs to be hashed before being used by the HMAC "
                "algorithm.";
    v[5].mac = "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2";
    for (size_t i = 0; i < 6; i++) {
        char hex[65];
        size_t n = v[i].data_len ? v[i].data_len : strlen(v[i].data);
        webhook_hmac_sha256_hex(v[i].key, v[i].key_len, v[i].data, n, hex);
        assert_string_equal(hex, v[i].mac);
    }
}

static void test_kind(void **state)
{
    (void)state;
    unsigned bit;
    const char *l;
    l = "{\"deployment\":3,\"repo\":\"app\",\"state\":\"baking\",\"seq\":9}";
    assert_string_equal(webhook_event_kind(l, strlen(l), &bit), "deployment");
    assert_int_equal(bit, WEBHOOK_DEPLOYMENT);
    l = "{\"deployment\":3,\"state\":\"baking\",\"measurement\":{\"outcome\":\"pass\"}}";
    assert_string_equal(webhook_event_kind(l, strlen(l), &bit), "deployment");
    assert_int_equal(bit, 0);
    l = "{\"repo\":\"app\",\"line\":\"stopped\",\"reason\":\"x\"}";
    assert_string_equal(webhook_event_kind(l, strlen(l), &bit), "line");
    assert_int_equal(bit, WEBHOOK_LINE);
    l = "{\"run\":5,\"job\":\"build\",\"attempt\":1,\"state\":\"passed\"}";
    assert_string_equal(webhook_event_kind(l, strlen(l), &bit), "job");
    assert_int_equal(bit, WEBHOOK_JOB);
    /* a key's name inside a string is escaped: not a key */
    l = "{\"run\":5,\"state\":\"failed\",\"reason\":\"\\\"deployment\\\": no\"}";
    assert_string_equal(webhook_event_kind(l, strlen(l), &bit), "run");
    assert_int_equal(bit, WEBHOOK_RUN);
}

static void test_body(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    webhook_body(&b, "line", "{\"line\":\"stopped\"}xyz", 18);
    assert_string_equal(b.data, "{\"event\":\"line\",\"data\":{\"line\":\"stopped\"}}");
    buf_release(&b);
}

static void test_url(void **state)
{
    (void)state;
    struct buf err = BUF_INIT, o = BUF_INIT;
    assert_int_equal(webhook_url_check("https://chat.example/hooks/abc", &err), 0);
    assert_int_equal(webhook_url_check("HTTP://127.0.0.1:9/x", &err), 0);
    assert_int_equal(err.len, 0);
    assert_int_equal(webhook_url_check("ftp://x/", &err), -1);
    assert_non_null(strstr(err.data, "http:// or https://"));
    buf_reset(&err);
    assert_int_equal(webhook_url_check("https:///path", &err), -1);
    assert_int_equal(webhook_url_check("https://a b/", &err), -1);
    assert_int_equal(webhook_url_check("chat.example", &err), -1);
    webhook_url_origin("https://user:pw@chat.example:8443/hooks/T0123/secret?x=1", &o);
    assert_string_equal(o.data, "https://chat.example:8443");
    buf_reset(&o);
    webhook_url_origin("http://h", &o);
    assert_string_equal(o.data, "http://h");
    buf_release(&err);
    buf_release(&o);
}

static void write_file(const char *path, const char *data, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void test_secret_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/webhook-test-XXXXXX", path[64];
    struct buf s = BUF_INIT, err = BUF_INIT;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/secret", dir);

    write_file(path, "s3cr3t value \n\n", 0600);
    assert_int_equal(webhook_secret_read(path, &s, &err), 0);
    assert_string_equal(s.data, "s3cr3t value");
    write_file(path, "group may read\n", 0640);
    assert_int_equal(webhook_secret_read(path, &s, &err), 0);
    assert_string_equal(s.data, "group may read");

    write_file(path, "world readable\n", 0644);
    assert_int_equal(webhook_secret_read(path, &s, &err), -1);
    assert_non_null(strstr(err.data, "others may read it"));
    assert_null(strstr(err.data, "world readable")); /* never the contents */
    assert_int_equal(s.len, 0);
    buf_reset(&err);
    write_file(path, " \n", 0600);
    assert_int_equal(webhook_secret_read(path, &s, &err), -1);
    assert_non_null(strstr(err.data, "is empty"));
    buf_reset(&err);
    char big[WEBHOOK_SECRET_MAX + 2];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    write_file(path, big, 0600);
    assert_int_equal(webhook_secret_read(path, &s, &err), -1);
    assert_non_null(strstr(err.data, "longer than"));
    buf_reset(&err);
    assert_int_equal(webhook_secret_read(dir, &s, &err), -1);
    assert_non_null(strstr(err.data, "not a regular file"));
    buf_reset(&err);
    unlink(path);
    assert_int_equal(webhook_secret_read(path, &s, &err), -1);
    assert_non_null(strstr(err.data, "cannot open"));
    rmdir(dir);
    buf_release(&s);
    buf_release(&err);
}

/* A receiver that refuses connections holds the first event (it waits 1 s
 * to try again): the queue takes WEBHOOK_QUEUE more, then drops the oldest.
 * Stopping without a drain period does not wait for the retries. */
static void test_queue_bound_and_stop(void **state)
{
    (void)state;
    struct webhooks *w;
    struct buf err = BUF_INIT;
    struct webhook_stats st;
    struct webhook_target t = {
        .url = "http://127.0.0.1:1/hook", .secret = "k", .secret_len = 1, .events = WEBHOOK_LINE};
    assert_int_equal(webhooks_start(&w, &t, 1, &err), 0);
    const char *run = "{\"run\":1,\"state\":\"queued\"}";
    const char *line = "{\"repo\":\"app\",\"line\":\"stopped\"}";
    for (int i = 0; i < WEBHOOK_QUEUE + 5; i++) {
        webhooks_event(w, run, strlen(run)); /* not wanted: never queued */
        webhooks_event(w, line, strlen(line));
    }
    webhooks_stats(w, &st);
    assert_true(st.dropped >= 4 && st.dropped <= 5);
    assert_int_equal(st.delivered, 0);
    webhooks_stop(w, 0);
    webhooks_stop(NULL, 0);
    webhooks_event(NULL, line, strlen(line));
    buf_release(&err);
}

/* An in-process receiver: records the bodies and signatures it gets; the
 * first request of each delivery is answered 503. */
struct receiver {
    pthread_mutex_t mu;
    int requests, ok;
    char bodies[4][256], sigs[4][80], ids[4][40], first_id[40];
};

static void receive(struct http_request *r, void *ctx)
{
    struct receiver *k = ctx;
    size_t len;
    const char *body = http_body(r, &len), *sig = http_header(r, "X-Flywheel-Signature-256");
    const char *id = http_header(r, "X-Flywheel-Delivery");
    unsigned status = 200;
    pthread_mutex_lock(&k->mu);
    if (k->requests++ == 0) {
        snprintf(k->first_id, sizeof(k->first_id), "%s", id ? id : "");
        status = 503;
    } else if (k->ok < 4) {
        snprintf(k->bodies[k->ok], sizeof(k->bodies[0]), "%.*s", (int)len, body ? body : "");
        snprintf(k->sigs[k->ok], sizeof(k->sigs[0]), "%s", sig ? sig : "");
        snprintf(k->ids[k->ok], sizeof(k->ids[0]), "%s", id ? id : "");
        k->ok++;
    }
    pthread_mutex_unlock(&k->mu);
    http_reply_text(r, status, "text/plain", "", 0);
}

static void test_delivery(void **state)
{
    (void)state;
    static const struct http_route routes[] = {{"POST", "/in", receive, 0}, {NULL, NULL, NULL, 0}};
    struct receiver k = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct http_server *srv;
    struct webhooks *w;
    struct buf err = BUF_INIT, url = BUF_INIT;
    assert_int_equal(
        http_start(&srv,
                   &(struct http_config){.listen = "127.0.0.1:0", .routes = routes, .ctx = &k},
                   &err),
        0);
    buf_addf(&url, "http://127.0.0.1:%u/in", http_port(srv));
    struct webhook_target t = {
        .url = url.data, .secret = "key", .secret_len = 3, .events = WEBHOOK_DEFAULT_EVENTS};
    assert_int_equal(webhooks_start(&w, &t, 1, &err), 0);
    const char *ev[] = {"{\"deployment\":1,\"state\":\"deploying\"}",
                        "{\"run\":1,\"job\":\"b\",\"state\":\"passed\"}",
                        "{\"deployment\":1,\"state\":\"succeeded\"}",
                        "{\"repo\":\"app\",\"line\":\"stopped\"}"};
    for (size_t i = 0; i < 4; i++)
        webhooks_event(w, ev[i], strlen(ev[i]));
    /* the first is refused once and tried again after 1 s; stop drains the rest */
    webhooks_stop(w, 5000);
    http_stop(srv);
    assert_int_equal(k.requests, 4);
    assert_int_equal(k.ok, 3);
    assert_string_equal(k.ids[0], k.first_id); /* the same delivery, tried again */
    assert_string_not_equal(k.ids[0], k.ids[1]);
    assert_string_equal(k.bodies[0],
                        "{\"event\":\"deployment\",\"data\":{\"deployment\":1,\"state\":"
                        "\"deploying\"}}");
    assert_string_equal(k.bodies[2],
                        "{\"event\":\"line\",\"data\":{\"repo\":\"app\",\"line\":\"stopped\"}}");
    for (int i = 0; i < 3; i++) {
        char hex[65], want[80];
        webhook_hmac_sha256_hex("key", 3, k.bodies[i], strlen(k.bodies[i]), hex);
        snprintf(want, sizeof(want), "sha256=%s", hex);
        assert_string_equal(k.sigs[i], want);
    }
    buf_release(&url);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231),     cmocka_unit_test(test_kind),
        cmocka_unit_test(test_body),        cmocka_unit_test(test_url),
        cmocka_unit_test(test_secret_file), cmocka_unit_test(test_queue_bound_and_stop),
        cmocka_unit_test(test_delivery),
    };
    return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
