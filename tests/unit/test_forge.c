/*
 * The forges' pure parts (server/forge.h): signatures, payloads (the
 * realistic ones of tests/data/forges, read relative to the top of the
 * source tree, where `make check` runs), projects, the status requests;
 * the store's deliveries and status outbox (store/forge.h); the
 * configuration's forge settings (server/config.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/config.h"
#include "server/forge.h"
#include "server/forge_status.h"
#include "server/webhook.h"
#include "store/forge.h"
#include "store/store.h"
#include "util/fileio.h"
#include "tmpdir.h"

#define DATA "tests/data/forges/"

static char *hmac_hex(const char *key, const char *body, size_t len)
{
    static char hex[65];
    webhook_hmac_sha256_hex(key, strlen(key), body, len, hex);
    return hex;
}

/* ---- signatures ---------------------------------------------------------- */

static void test_verify_github(void **state)
{
    (void)state;
    const char *key = "It's a Secret to Everybody", *body = "Hello, World!";
    char sig[80];
    /* GitHub's documented example: this key and body give this signature. */
    assert_string_equal(hmac_hex(key, body, strlen(body)),
                        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    snprintf(sig, sizeof(sig), "sha256=%s", hmac_hex(key, body, strlen(body)));
    assert_true(forge_verify(FORGE_GITHUB, key, strlen(key), sig, body, strlen(body)));
    /* upper-case hex is the same signature */
    for (char *p = sig + 7; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_true(forge_verify(FORGE_GITHUB, key, strlen(key), sig, body, strlen(body)));
    /* the body changed by one byte, another key, no prefix, a bad length, none */
    assert_false(forge_verify(FORGE_GITHUB, key, strlen(key), sig, "Hello, World?", 13));
    assert_false(forge_verify(FORGE_GITHUB, "other", 5, sig, body, strlen(body)));
    assert_false(forge_verify(FORGE_GITHUB, key, strlen(key), sig + 7, body, strlen(body)));
    sig[strlen(sig) - 1] = '\0';
    assert_false(forge_verify(FORGE_GITHUB, key, strlen(key), sig, body, strlen(body)));
    strcat(sig, "77");
    assert_false(forge_verify(FORGE_GITHUB, key, strlen(key), sig, body, strlen(body)));
    assert_false(forge_verify(FORGE_GITHUB, key, strlen(key), NULL, body, strlen(body)));
    assert_false(forge_verify(FORGE_GITHUB, key, strlen(key), "sha256=", body, strlen(body)));
    snprintf(sig, sizeof(sig), "sha1=%s", hmac_hex(key, body, strlen(body)));
    assert_false(forge_verify(FORGE_GITHUB, key, strlen(key), sig, body, strlen(body)));
    /* no secret verifies nothing, not even a signature made with none */
    snprintf(sig, sizeof(sig), "sha256=%s", hmac_hex("", body, strlen(body)));
    assert_false(forge_verify(FORGE_GITHUB, "", 0, sig, body, strlen(body)));
    /* an empty body is signed too */
    snprintf(sig, sizeof(sig), "sha256=%s", hmac_hex(key, "", 0));
    assert_true(forge_verify(FORGE_GITHUB, key, strlen(key), sig, NULL, 0));
}

static void test_verify_gitea(void **state)
{
    (void)state;
    const char *key = "gitea-secret", *body = "{\"ref\":\"refs/heads/main\"}";
    char sig[80];
    snprintf(sig, sizeof(sig), "%s", hmac_hex(key, body, strlen(body)));
    assert_true(forge_verify(FORGE_GITEA, key, strlen(key), sig, body, strlen(body)));
    assert_false(forge_verify(FORGE_GITEA, key, strlen(key), sig, body, strlen(body) - 1));
    snprintf(sig, sizeof(sig), "sha256=%s", hmac_hex(key, body, strlen(body)));
    assert_false(forge_verify(FORGE_GITEA, key, strlen(key), sig, body, strlen(body)));
    assert_false(forge_verify(FORGE_GITEA, key, strlen(key), "zz", body, strlen(body)));
}

static void test_verify_gitlab(void **state)
{
    (void)state;
    const char *key = "gl-token";
    assert_true(forge_verify(FORGE_GITLAB, key, strlen(key), "gl-token", "x", 1));
    assert_false(forge_verify(FORGE_GITLAB, key, strlen(key), "gl-toke", "x", 1));
    assert_false(forge_verify(FORGE_GITLAB, key, strlen(key), "gl-token ", "x", 1));
    assert_false(forge_verify(FORGE_GITLAB, key, strlen(key), "", "x", 1));
    assert_false(forge_verify(FORGE_GITLAB, key, strlen(key), NULL, "x", 1));
    assert_false(forge_verify(FORGE_NONE, key, strlen(key), "gl-token", "x", 1));
}

/* ---- payloads ------------------------------------------------------------ */

static int parse_file(enum forge_kind k, const char *event, const char *file,
                      struct forge_event *ev, struct buf *err)
{
    struct buf body = BUF_INIT, ferr = BUF_INIT;
    if (file_read(file, 1 << 20, &body, &ferr))
        fail_msg("%s (run from the top of the source tree)", ferr.data);
    int rc = forge_parse(k, event, body.data, body.len, ev, err);
    buf_release(&body);
    buf_release(&ferr);
    return rc;
}

static int parse_str(enum forge_kind k, const char *event, const char *body, struct forge_event *ev,
                     struct buf *err)
{
    buf_reset(err);
    return forge_parse(k, event, body, strlen(body), ev, err);
}

static void test_parse_github(void **state)
{
    (void)state;
    struct forge_event ev;
    struct buf err = BUF_INIT;
    assert_int_equal(parse_file(FORGE_GITHUB, "push", DATA "github-push.json", &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_PUSH);
    assert_string_equal(ev.ref, "refs/heads/main");
    assert_string_equal(ev.sha, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_false(ev.deleted);
    assert_string_equal(ev.repo, "Codertocat/Hello-World");

    assert_int_equal(
        parse_file(FORGE_GITHUB, "push", DATA "github-push-delete-tag.json", &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_PUSH);
    assert_string_equal(ev.ref, "refs/tags/simple-tag");
    assert_true(ev.deleted);

    assert_int_equal(parse_file(FORGE_GITHUB, "ping", DATA "github-ping.json", &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_PING);

    assert_int_equal(
        parse_file(FORGE_GITHUB, "pull_request", DATA "github-pull_request-opened.json", &ev, &err),
        0);
    assert_int_equal(ev.type, FORGE_EV_PULL);
    assert_string_equal(ev.action, "opened");
    assert_int_equal(ev.number, 2);
    assert_string_equal(ev.ref, "refs/pull/2/head");
    assert_string_equal(ev.sha, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_string_equal(ev.head_branch, "changes");
    assert_false(ev.fork);

    assert_int_equal(
        parse_file(FORGE_GITHUB, "pull_request", DATA "github-pull_request-fork.json", &ev, &err),
        0);
    assert_int_equal(ev.type, FORGE_EV_PULL);
    assert_string_equal(ev.action, "synchronize");
    assert_string_equal(ev.ref, "refs/pull/3/head");
    assert_string_equal(ev.head_branch, "patch-1");
    assert_true(ev.fork);

    /* the fork was deleted: its repository is null, and it is a fork still */
    static const char deleted_fork[] =
        "{\"action\":\"reopened\",\"number\":4,\"pull_request\":{\"head\":{\"ref\":\"x\","
        "\"sha\":\"ec26c3e57ca3a959ca5aad62de7213c562f8c821\",\"repo\":null},"
        "\"base\":{\"ref\":\"main\",\"repo\":{\"full_name\":\"o/r\"}}}}";
    assert_int_equal(parse_str(FORGE_GITHUB, "pull_request", deleted_fork, &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_PULL);
    assert_true(ev.fork);

    /* events and actions not acted on */
    assert_int_equal(parse_str(FORGE_GITHUB, "issues", "{}", &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_IGNORED);
    assert_non_null(strstr(ev.why, "issues"));
    assert_int_equal(
        parse_str(FORGE_GITHUB, "pull_request", "{\"action\":\"closed\",\"number\":2}", &ev, &err),
        0);
    assert_int_equal(ev.type, FORGE_EV_IGNORED);
    assert_int_equal(parse_str(FORGE_GITHUB, "push",
                               "{\"ref\":\"refs/notes/commits\",\"after\":"
                               "\"ec26c3e57ca3a959ca5aad62de7213c562f8c821\"}",
                               &ev, &err),
                     0);
    assert_int_equal(ev.type, FORGE_EV_IGNORED);
    buf_release(&err);
}

static void test_parse_gitlab(void **state)
{
    (void)state;
    struct forge_event ev;
    struct buf err = BUF_INIT;
    assert_int_equal(parse_file(FORGE_GITLAB, "Push Hook", DATA "gitlab-push.json", &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_PUSH);
    assert_string_equal(ev.ref, "refs/heads/master");
    assert_string_equal(ev.sha, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
    assert_string_equal(ev.repo, "mike/diaspora");
    assert_int_equal(ev.project_id, 15);

    assert_int_equal(
        parse_file(FORGE_GITLAB, "Tag Push Hook", DATA "gitlab-tag_push.json", &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_PUSH);
    assert_string_equal(ev.ref, "refs/tags/v1.0.0");

    assert_int_equal(parse_file(FORGE_GITLAB, "Merge Request Hook",
                                DATA "gitlab-merge_request-open.json", &ev, &err),
                     0);
    assert_int_equal(ev.type, FORGE_EV_PULL);
    assert_string_equal(ev.ref, "refs/merge-requests/1/head");
    assert_string_equal(ev.head_branch, "ms-viewport");
    assert_false(ev.fork);

    assert_int_equal(parse_file(FORGE_GITLAB, "Merge Request Hook",
                                DATA "gitlab-merge_request-fork-update.json", &ev, &err),
                     0);
    assert_int_equal(ev.type, FORGE_EV_PULL);
    assert_string_equal(ev.action, "update");
    assert_int_equal(ev.number, 2);
    assert_string_equal(ev.ref, "refs/merge-requests/2/head");
    assert_true(ev.fork);

    /* an update without new commits (no oldrev) starts nothing */
    static const char retitled[] =
        "{\"object_kind\":\"merge_request\",\"object_attributes\":{\"action\":\"update\","
        "\"iid\":1}}";
    assert_int_equal(parse_str(FORGE_GITLAB, "Merge Request Hook", retitled, &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_IGNORED);
    assert_int_equal(parse_str(FORGE_GITLAB, "Note Hook", "{}", &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_IGNORED);
    /* GitHub's event names mean nothing to GitLab */
    assert_int_equal(parse_str(FORGE_GITLAB, "push", "{}", &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_IGNORED);
    buf_release(&err);
}

static void test_parse_gitea(void **state)
{
    (void)state;
    struct forge_event ev;
    struct buf err = BUF_INIT;
    assert_int_equal(parse_file(FORGE_GITEA, "push", DATA "gitea-push.json", &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_PUSH);
    assert_string_equal(ev.ref, "refs/heads/develop");
    assert_string_equal(ev.repo, "gitea/webhooks");
    assert_int_equal(
        parse_file(FORGE_GITEA, "pull_request", DATA "gitea-pull_request-opened.json", &ev, &err),
        0);
    assert_int_equal(ev.type, FORGE_EV_PULL);
    assert_string_equal(ev.ref, "refs/pull/7/head");
    assert_string_equal(ev.head_branch, "docs");
    assert_false(ev.fork);
    assert_int_equal(
        parse_file(FORGE_GITEA, "pull_request", DATA "gitea-pull_request-fork.json", &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_PULL);
    assert_string_equal(ev.action, "synchronized");
    assert_true(ev.fork);
    assert_int_equal(parse_file(FORGE_GITEA, "delete", DATA "gitea-delete.json", &ev, &err), 0);
    assert_int_equal(ev.type, FORGE_EV_PUSH);
    assert_string_equal(ev.ref, "refs/heads/docs");
    assert_true(ev.deleted);
    /* GitHub's action name is not Gitea's */
    assert_int_equal(parse_str(FORGE_GITEA, "pull_request",
                               "{\"action\":\"synchronize\",\"number\":1}", &ev, &err),
                     0);
    assert_int_equal(ev.type, FORGE_EV_IGNORED);
    buf_release(&err);
}

static void test_parse_malformed(void **state)
{
    (void)state;
    static const struct {
        enum forge_kind k;
        const char *event, *body, *says;
    } bad[] = {
        {FORGE_GITHUB, "push", "", "not JSON"},
        {FORGE_GITHUB, "push", "{\"ref\": ", "not JSON"},
        {FORGE_GITHUB, "push", "payload=%7B%7D", "application/json"},
        {FORGE_GITHUB, "push", "[1,2]", "JSON object"},
        {FORGE_GITHUB, "ping", "\"zen\"", "not JSON"},
        {FORGE_GITHUB, NULL, "{}", "X-GitHub-Event"},
        {FORGE_GITHUB, "", "{}", "X-GitHub-Event"},
        {FORGE_GITHUB, "push\nX: y", "{}", "not an event name"},
        {FORGE_GITHUB, "push", "{}", "'ref'"},
        {FORGE_GITHUB, "push", "{\"ref\": 7}", "'ref'"},
        {FORGE_GITHUB, "push", "{\"ref\": \"refs/heads/a b\", \"after\": \"x\"}", "ref name"},
        {FORGE_GITHUB, "push", "{\"ref\": \"refs/heads/a\", \"after\": 0}", "'after'"},
        {FORGE_GITHUB, "push",
         "{\"ref\": \"refs/heads/a\", \"after\": \"EC26C3E57CA3A959CA5AAD62DE7213C562F8C821\"}",
         "'after'"},
        {FORGE_GITHUB, "push",
         "{\"ref\": \"refs/heads/a\", \"after\": \"ec26c3e57ca3a959ca5aad62de7213c562f8c821\","
         " \"deleted\": \"no\"}",
         "'deleted'"},
        {FORGE_GITHUB, "push",
         "{\"ref\": \"refs/heads/a\", \"after\": \"ec26c3e57ca3a959ca5aad62de7213c562f8c821\","
         " \"repository\": \"o/r\"}",
         "'repository'"},
        {FORGE_GITHUB, "push",
         "{\"ref\": \"refs/heads/a\", \"ref\": \"refs/heads/b\","
         " \"after\": \"ec26c3e57ca3a959ca5aad62de7213c562f8c821\"}",
         "duplicate"},
        {FORGE_GITHUB, "push", "{\"ref\": \"refs/heads/\\u0000\"}", "not JSON"},
        {FORGE_GITHUB, "pull_request", "{\"action\": \"opened\"}", "'number'"},
        {FORGE_GITHUB, "pull_request", "{\"action\": \"opened\", \"number\": 2.5}", "'number'"},
        {FORGE_GITHUB, "pull_request", "{\"action\": \"opened\", \"number\": -1}", "'number'"},
        {FORGE_GITHUB, "pull_request", "{\"action\": \"opened\", \"number\": 2}", "'pull_request'"},
        {FORGE_GITHUB, "pull_request",
         "{\"action\": \"opened\", \"number\": 2, \"pull_request\": {\"head\": [], \"base\": {}}}",
         "'pull_request.head'"},
        {FORGE_GITHUB, "pull_request",
         "{\"action\": \"opened\", \"number\": 2, \"pull_request\": {\"head\": {\"sha\": "
         "\"ec26c3e57ca3a959ca5aad62de7213c562f8c821\", \"ref\": \"x\"}, \"base\": {}}}",
         "'pull_request.base.repo'"},
        {FORGE_GITHUB, "pull_request", "{\"action\": 1}", "'action'"},
        {FORGE_GITLAB, "Merge Request Hook", "{\"object_attributes\": {}}",
         "'object_attributes.action'"},
        {FORGE_GITLAB, "Merge Request Hook",
         "{\"object_attributes\": {\"action\": \"open\", \"iid\": 1, \"source_project_id\": 2,"
         " \"target_project_id\": 2, \"source_branch\": \"x\"}}",
         "'object_attributes.last_commit'"},
        {FORGE_GITLAB, "Merge Request Hook",
         "{\"object_attributes\": {\"action\": \"update\", \"oldrev\": 5}}",
         "'object_attributes.oldrev'"},
        {FORGE_GITLAB, "Push Hook",
         "{\"ref\": \"refs/heads/a\", \"after\": \"ec26c3e57ca3a959ca5aad62de7213c562f8c821\","
         " \"project\": {\"id\": \"15\"}}",
         "'project.id'"},
        {FORGE_GITEA, "create", "{\"ref\": \"x\", \"ref_type\": 3}", "'ref_type'"},
    };
    struct forge_event ev;
    struct buf err = BUF_INIT;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse_str(bad[i].k, bad[i].event, bad[i].body, &ev, &err);
        if (rc != -1 || !strstr(err.data, bad[i].says))
            fail_msg("case %zu (%s): rc %d, err '%s', wanted '%s'", i, bad[i].body, rc, err.data,
                     bad[i].says);
        assert_int_equal(ev.type, FORGE_EV_IGNORED); /* cleared */
        assert_string_equal(ev.ref, "");
    }
    /* a huge string is refused, not truncated */
    struct buf big = BUF_INIT;
    buf_adds(&big, "{\"ref\": \"refs/heads/");
    for (int i = 0; i < 300; i++)
        buf_addch(&big, 'a');
    buf_adds(&big, "\", \"after\": \"ec26c3e57ca3a959ca5aad62de7213c562f8c821\"}");
    assert_int_equal(parse_str(FORGE_GITHUB, "push", big.data, &ev, &err), -1);
    assert_non_null(strstr(err.data, "at most 255 bytes"));
    buf_release(&big);
    buf_release(&err);
}

/* ---- projects ------------------------------------------------------------- */

static void test_projects(void **state)
{
    (void)state;
    struct buf err = BUF_INIT;
    assert_int_equal(forge_project_check(FORGE_GITHUB, "Codertocat/Hello-World", &err), 0);
    assert_int_equal(forge_project_check(FORGE_GITEA, "gitea/web.hooks_2", &err), 0);
    assert_int_equal(forge_project_check(FORGE_GITLAB, "42", &err), 0);
    assert_int_equal(forge_project_check(FORGE_GITLAB, "group/sub/name", &err), 0);
    static const char *const bad_gh[] = {"name", "a/b/c", "/a",    "a/",
                                         "a//b", "a/..",  "a b/c", "a/b%2F"};
    for (size_t i = 0; i < sizeof(bad_gh) / sizeof(bad_gh[0]); i++)
        assert_int_equal(forge_project_check(FORGE_GITHUB, bad_gh[i], &err), -1);
    assert_int_equal(forge_project_check(FORGE_GITLAB, "name", &err), -1);
    assert_int_equal(forge_project_check(FORGE_GITLAB, "042", &err), -1);
    assert_int_equal(forge_project_check(FORGE_GITLAB, "-1", &err), -1);

    struct forge_event ev = {0};
    snprintf(ev.repo, sizeof(ev.repo), "Codertocat/Hello-World");
    ev.project_id = 15;
    assert_true(forge_project_matches(FORGE_GITHUB, "codertocat/hello-world", &ev));
    assert_false(forge_project_matches(FORGE_GITHUB, "codertocat/other", &ev));
    assert_true(forge_project_matches(FORGE_GITHUB, NULL, &ev));
    assert_true(forge_project_matches(FORGE_GITLAB, "15", &ev));
    assert_false(forge_project_matches(FORGE_GITLAB, "16", &ev));
    assert_false(forge_project_matches(FORGE_GITLAB, "mike/diaspora", &ev));
    ev.repo[0] = '\0';
    assert_true(forge_project_matches(FORGE_GITEA, "o/r", &ev)); /* says nothing: let it through */
    buf_release(&err);
}

/* ---- status requests ------------------------------------------------------ */

static const struct forge_run a_run = {
    .id = 41,
    .number = 7,
    .repo = "app",
    .kind = "change",
    .state = "queued",
    .commit = "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
};

static void test_status_github(void **state)
{
    (void)state;
    struct forge_request r;
    assert_int_equal(forge_status_request(FORGE_GITHUB, "https://api.github.com/", "octo/app",
                                          "ghp_x", "https://ci.example.com/", &a_run, &r),
                     0);
    assert_string_equal(r.url.data, "https://api.github.com/repos/octo/app/statuses/"
                                    "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_string_equal(r.auth.data, "Authorization: Bearer ghp_x");
    assert_string_equal(r.headers[0], "Accept: application/vnd.github+json");
    assert_string_equal(r.headers[1], "X-GitHub-Api-Version: 2022-11-28");
    assert_string_equal(r.headers[2], "Content-Type: application/json");
    assert_null(r.headers[3]);
    assert_string_equal(r.body.data,
                        "{\"state\":\"pending\",\"target_url\":\"https://ci.example.com/#/runs/"
                        "41\",\"description\":\"Run app#7 is queued\",\"context\":\"flywheel/"
                        "change\"}");
    forge_request_release(&r);

    struct forge_run done = a_run;
    done.state = "cancelled";
    assert_int_equal(forge_status_request(FORGE_GITHUB, "https://ghe.example.com/api/v3",
                                          "octo/app", "t", NULL, &done, &r),
                     0);
    assert_string_equal(r.url.data, "https://ghe.example.com/api/v3/repos/octo/app/statuses/"
                                    "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_string_equal(r.body.data, "{\"state\":\"error\",\"description\":\"Run app#7 was "
                                     "cancelled\",\"context\":\"flywheel/change\"}");
    forge_request_release(&r);
    done.state = "weird";
    assert_int_equal(forge_status_request(FORGE_GITHUB, "https://api.github.com", "octo/app", "t",
                                          NULL, &done, &r),
                     -1);
    forge_request_release(&r);
}

static void test_status_gitlab(void **state)
{
    (void)state;
    struct forge_request r;
    struct forge_run run = a_run;
    run.state = "running";
    run.kind = "main";
    assert_int_equal(forge_status_request(FORGE_GITLAB, "https://gitlab.example.com",
                                          "group/sub/app", "glpat-x", "http://ci:8080", &run, &r),
                     0);
    assert_string_equal(r.url.data, "https://gitlab.example.com/api/v4/projects/group%2Fsub%2Fapp/"
                                    "statuses/ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_string_equal(r.auth.data, "PRIVATE-TOKEN: glpat-x");
    assert_string_equal(r.headers[0], "Accept: application/json");
    assert_string_equal(r.headers[1], "Content-Type: application/json");
    assert_null(r.headers[2]);
    assert_string_equal(r.body.data, "{\"state\":\"running\",\"name\":\"flywheel/main\","
                                     "\"target_url\":\"http://ci:8080/#/runs/41\","
                                     "\"description\":\"Run app#7 is running\"}");
    forge_request_release(&r);
    run.state = "failed";
    assert_int_equal(
        forge_status_request(FORGE_GITLAB, "https://gitlab.com", "42", "t", NULL, &run, &r), 0);
    assert_string_equal(r.url.data, "https://gitlab.com/api/v4/projects/42/statuses/"
                                    "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_non_null(strstr(r.body.data, "\"state\":\"failed\""));
    forge_request_release(&r);
}

static void test_status_gitea(void **state)
{
    (void)state;
    struct forge_request r;
    struct forge_run run = a_run;
    run.state = "passed";
    run.kind = "tag";
    assert_int_equal(forge_status_request(FORGE_GITEA, "https://codeberg.org", "o/r", "tok",
                                          "https://ci.example.com", &run, &r),
                     0);
    assert_string_equal(r.url.data, "https://codeberg.org/api/v1/repos/o/r/statuses/"
                                    "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_string_equal(r.auth.data, "Authorization: token tok");
    assert_string_equal(r.body.data,
                        "{\"state\":\"success\",\"target_url\":\"https://ci.example.com/#/"
                        "runs/41\",\"description\":\"Run app#7 passed\",\"context\":\"flywheel/"
                        "tag\"}");
    forge_request_release(&r);
}

static void test_status_states(void **state)
{
    (void)state;
    static const char *const runs[] = {"queued", "running", "passed", "failed", "cancelled"};
    static const char *const want[3][5] = {
        {"pending", "pending", "success", "failure", "error"},
        {"pending", "running", "success", "failed", "canceled"},
        {"pending", "pending", "success", "failure", "error"},
    };
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 5; i++)
            assert_string_equal(forge_status_state((enum forge_kind)(k + 1), runs[i]), want[k][i]);
    assert_null(forge_status_state(FORGE_GITHUB, "released"));
    assert_int_equal(forge_status_backoff_ms(1), 1000);
    assert_int_equal(forge_status_backoff_ms(2), 2000);
    assert_int_equal(forge_status_backoff_ms(4), 8000);
    assert_int_equal(forge_status_backoff_ms(30), FORGE_STATUS_MAX_DELAY_MS);
}

/* ---- the store ------------------------------------------------------------ */

struct fixture {
    char dir[64], db[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/flywheel-forge-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof(f->db), "%s/flywheel.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = tmpdir_remove(f->dir);
    free(f);
    return rc;
}

static int64_t repo(struct store *st, const char *name)
{
    struct buf err = BUF_INIT;
    struct store_repo r = {.name = (char *)name, .url = "/srv/x.git", .main_branch = "main"};
    int64_t id = store_repo_insert(st, &r, &err);
    assert_true(id > 0);
    buf_release(&err);
    return id;
}

static int64_t run(struct store *st, int64_t repo_id, const char *state)
{
    struct buf err = BUF_INIT;
    struct store_run r = {
        .kind = "change",
        .source = "",
        .commit = "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        .branch = "x",
        .state = (char *)state,
        .created_ms = 1,
        .repo_id = repo_id,
        .ref = "refs/pull/3/head",
        .trigger = "pull_request",
        .fork = true,
    };
    int64_t id = store_run_insert(st, &r, &err);
    assert_true(id > 0);
    buf_release(&err);
    return id;
}

static void set_state(struct store *st, int64_t id, const char *state)
{
    struct buf err = BUF_INIT;
    struct store_run r = {0};
    assert_int_equal(store_run_get(st, id, &r, &err), 0);
    assert_true(r.fork); /* kept */
    free(r.state);
    r.state = strdup(state);
    assert_int_equal(store_run_update(st, &r, &err), 0);
    store_run_release(&r);
    buf_release(&err);
}

static void test_store_deliveries(void **state)
{
    struct fixture *f = *state;
    struct store *st;
    struct buf err = BUF_INIT;
    assert_int_equal(store_open(&st, f->db, &err), 0);
    int64_t a = repo(st, "a"), b = repo(st, "b");
    const int64_t day = 86400000;
    assert_int_equal(store_delivery_add(st, a, "github", "d1", 10 * day, 7 * day, &err), 1);
    assert_int_equal(store_delivery_add(st, a, "github", "d1", 10 * day, 7 * day, &err), 0);
    /* per repository and per forge */
    assert_int_equal(store_delivery_add(st, b, "github", "d1", 10 * day, 7 * day, &err), 1);
    assert_int_equal(store_delivery_add(st, a, "gitea", "d1", 10 * day, 7 * day, &err), 1);
    /* forgotten: may come again */
    assert_int_equal(store_delivery_remove(st, a, "github", "d1", &err), 0);
    assert_int_equal(store_delivery_add(st, a, "github", "d1", 11 * day, 7 * day, &err), 1);
    /* eight days later, the others are gone: bounded by age */
    assert_int_equal(store_delivery_add(st, a, "github", "d2", 18 * day, 7 * day, &err), 1);
    assert_int_equal(store_delivery_add(st, b, "github", "d1", 18 * day, 7 * day, &err), 1);
    assert_int_equal(store_delivery_add(st, a, "github", "d1", 18 * day, 7 * day, &err), 0);
    store_close(st);
    buf_release(&err);
}

static void test_store_outbox(void **state)
{
    struct fixture *f = *state;
    struct store *st;
    struct buf err = BUF_INIT;
    struct store_forge_status *v = NULL, s;
    size_t n = 0;
    assert_int_equal(store_open(&st, f->db, &err), 0);
    int64_t tracked = repo(st, "tracked"), other = repo(st, "other");
    int64_t before = run(st, tracked, "queued");
    assert_int_equal(store_forge_track(st, &tracked, 1, &err), 0);
    int64_t r1 = run(st, tracked, "queued"), r2 = run(st, other, "queued");

    /* only runs of tracked repositories made once tracked have a row, due */
    assert_int_equal(store_forge_get(st, before, &s, &err), -ENOENT);
    assert_int_equal(store_forge_get(st, r2, &s, &err), -ENOENT);
    assert_int_equal(store_forge_due(st, 100, 10, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].run_id, r1);
    assert_string_equal(v[0].sent, "");
    int64_t gen = v[0].gen;
    store_forge_statuses_release(v, n);

    /* sent: no longer due */
    assert_int_equal(store_forge_sent(st, r1, gen, "pending", &err), 0);
    assert_int_equal(store_forge_due(st, 100, 10, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    store_forge_statuses_release(v, n);
    assert_int_equal(store_forge_next_due(st, &err), 0);

    /* a change of state marks it due, in the same write */
    set_state(st, r1, "running");
    assert_int_equal(store_forge_get(st, r1, &s, &err), 0);
    assert_int_equal(s.gen, gen + 1);
    assert_int_equal(s.next_try_ms, 1);
    assert_string_equal(s.sent, "pending");
    store_forge_status_release(&s);

    /* a change that came after the read keeps it due */
    set_state(st, r1, "passed");
    assert_int_equal(store_forge_sent(st, r1, gen + 1, "pending", &err), 0);
    assert_int_equal(store_forge_get(st, r1, &s, &err), 0);
    assert_int_equal(s.next_try_ms, 1);
    store_forge_status_release(&s);
    assert_int_equal(store_forge_settled(st, r1, gen + 1, &err), 0); /* stale: no effect */
    assert_int_equal(store_forge_get(st, r1, &s, &err), 0);
    assert_int_equal(s.next_try_ms, 1);
    gen = s.gen;
    store_forge_status_release(&s);

    /* a failure: due later, with its attempts and why */
    assert_int_equal(store_forge_retry(st, r1, gen, "success", 3, 5000, "HTTP 502", &err), 0);
    assert_int_equal(store_forge_due(st, 4999, 10, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    store_forge_statuses_release(v, n);
    assert_int_equal(store_forge_next_due(st, &err), 5000);
    assert_int_equal(store_forge_due(st, 5000, 10, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].attempts, 3);
    assert_string_equal(v[0].error, "HTTP 502");
    assert_string_equal(v[0].sent, "pending");
    store_forge_statuses_release(v, n);
    /* given up: that state counts as dealt with */
    assert_int_equal(store_forge_retry(st, r1, gen, "success", 4, 0, "HTTP 401", &err), 0);
    assert_int_equal(store_forge_get(st, r1, &s, &err), 0);
    assert_int_equal(s.next_try_ms, 0);
    assert_string_equal(s.sent, "success");
    store_forge_status_release(&s);

    /* deleting the run deletes its row; tracking nothing stops new rows */
    assert_int_equal(store_run_delete(st, r1, &err), 0);
    assert_int_equal(store_forge_get(st, r1, &s, &err), -ENOENT);
    assert_int_equal(store_forge_track(st, NULL, 0, &err), 0);
    int64_t r3 = run(st, tracked, "queued");
    assert_int_equal(store_forge_get(st, r3, &s, &err), -ENOENT);
    store_close(st);
    buf_release(&err);
}

/* ---- the configuration ------------------------------------------------------ */

static void test_config(void **state)
{
    (void)state;
    static const char src[] = "public_url: https://ci.example.com\n"
                              "repositories:\n"
                              "  - name: app\n"
                              "    url: /srv/app.git\n"
                              "    forge:\n"
                              "      kind: gitlab\n"
                              "      project: group/app\n"
                              "      webhook_secret_file: /etc/hook\n"
                              "      status_token: \"glpat-abc\"\n"
                              "  - name: other\n"
                              "    url: /srv/other.git\n";
    struct config c;
    struct diag_list d = DIAG_LIST_INIT;
    assert_int_equal(config_parse("s.yml", src, strlen(src), &c, &d), 0);
    assert_string_equal(c.public_url, "https://ci.example.com");
    assert_non_null(c.repos[0].forge);
    assert_int_equal(c.repos[0].forge->kind, FORGE_GITLAB);
    assert_string_equal(c.repos[0].forge->project, "group/app");
    assert_null(c.repos[0].forge->api_url);
    assert_string_equal(c.repos[0].forge->secret_file, "/etc/hook");
    assert_string_equal(c.repos[0].forge->token, "glpat-abc");
    assert_null(c.repos[1].forge);
    config_release(&c);
    diag_list_release(&d);

    struct buf out = BUF_INIT;
    config_redact(src, strlen(src), &out);
    assert_int_equal(out.len, strlen(src));
    assert_null(strstr(out.data, "glpat-abc"));
    assert_non_null(strstr(out.data, "status_token: \"*********\"\n"));
    assert_non_null(strstr(out.data, "webhook_secret_file: /etc/hook\n"));
    buf_reset(&out);
    static const char flow[] = "webhooks: [{url: http://x, secret: abc def}]\n"
                               "x: {status_token: 'a''b', webhook_secret: q}\n";
    config_redact(flow, strlen(flow), &out);
    assert_string_equal(out.data, "webhooks: [{url: http://x, secret: *********\n"
                                  "x: {status_token: '****', webhook_secret: **\n");
    buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_github),
        cmocka_unit_test(test_verify_gitea),
        cmocka_unit_test(test_verify_gitlab),
        cmocka_unit_test(test_parse_github),
        cmocka_unit_test(test_parse_gitlab),
        cmocka_unit_test(test_parse_gitea),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_projects),
        cmocka_unit_test(test_status_github),
        cmocka_unit_test(test_status_gitlab),
        cmocka_unit_test(test_status_gitea),
        cmocka_unit_test(test_status_states),
        cmocka_unit_test_setup_teardown(test_store_deliveries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_outbox, setup, teardown),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
