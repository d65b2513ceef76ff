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

#include <jansson.h>

#include "core/provenance.h"
#include "util/base64.h"
#include "tmpdir.h"

#define HEX_ABC   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEX_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX_ABD   "a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9"
#define HEX_PIPE  "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define COMMIT    "0123456789abcdef0123456789abcdef01234567"
#define BUILDER_ID                                                                                 \
    "urn:flywheel:server:SHA256:21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"

static const char *const jobs[] = {"build", "docs"};
static const struct prov_file files[] = {
    {"dist/app", "sha256:" HEX_ABC, 3, 0755},
    {"dist/app.tar.gz", "sha256:" HEX_EMPTY, 0, 0644},
};

static const struct prov_input input = {
    .repo = "webapp",
    .repo_url = "https://ci:s3cret@git.example.com/team/webapp.git",
    .ref = "refs/heads/main",
    .kind = "main",
    .commit = COMMIT,
    .version = "r42",
    .pipeline_path = ".flywheel.yml",
    .pipeline_digest = "sha256:" HEX_PIPE,
    .builder_id = BUILDER_ID,
    .builder_version = "0.1.0",
    .run_id = 7,
    .run_number = 42,
    .started_ms = 1795701785123,  /* 2026-11-26T14:03:05.123Z */
    .finished_ms = 1795702181000, /* 2026-11-26T14:09:41.000Z */
    .jobs = jobs,
    .njobs = 2,
    .files = files,
    .nfiles = 2,
};

static const char expected_statement[] =
    "{\"_type\":\"https://in-toto.io/Statement/v1\","
    "\"predicate\":{"
    "\"buildDefinition\":{"
    "\"buildType\":\"urn:flywheel:run:v1\","
    "\"externalParameters\":{\"kind\":\"main\","
    "\"pipeline\":{\"digest\":{\"sha256\":\"" HEX_PIPE "\"},\"path\":\".flywheel.yml\"},"
    "\"ref\":\"refs/heads/main\","
    "\"repository\":\"https://git.example.com/team/webapp.git\"},"
    "\"internalParameters\":{\"jobs\":[\"build\",\"docs\"],\"run\":{\"id\":7,\"number\":42},"
    "\"version\":\"r42\"},"
    "\"resolvedDependencies\":[{\"digest\":{\"gitCommit\":\"" COMMIT "\"},"
    "\"uri\":\"git+https://git.example.com/team/webapp.git@refs/heads/main\"}]},"
    "\"runDetails\":{"
    "\"builder\":{\"id\":\"" BUILDER_ID "\",\"version\":{\"flywheel\":\"0.1.0\"}},"
    "\"metadata\":{\"finishedOn\":\"2026-11-26T14:09:41.000Z\","
    "\"invocationId\":\"webapp/runs/42\","
    "\"startedOn\":\"2026-11-26T14:03:05.123Z\"}}},"
    "\"predicateType\":\"https://slsa.dev/provenance/v1\","
    "\"subject\":["
    "{\"digest\":{\"sha256\":\"" HEX_ABC "\"},\"name\":\"dist/app\"},"
    "{\"digest\":{\"sha256\":\"" HEX_EMPTY "\"},\"name\":\"dist/app.tar.gz\"}]}";

struct fixture {
    char dir[64];
    struct sign_key *key, *other;
    struct sign_pub *pub, *other_pub;
    char keyid[SIGN_KEYID_LEN + 1], other_id[SIGN_KEYID_LEN + 1];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct buf err = BUF_INIT, path = BUF_INIT;
    int rc = -1;
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/flywheel-prov-XXXXXX");
    if (!mkdtemp(f->dir))
        goto out;
    buf_addf(&path, "%s/key.pem", f->dir);
    if (sign_key_load_or_create(&f->key, path.data, &err))
        goto out;
    buf_reset(&path);
    buf_addf(&path, "%s/other.pem", f->dir);
    if (sign_key_load_or_create(&f->other, path.data, &err))
        goto out;
    f->pub = sign_key_pub(f->key);
    f->other_pub = sign_key_pub(f->other);
    sign_key_id(f->key, f->keyid);
    sign_key_id(f->other, f->other_id);
    *state = f;
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "setup: %s\n", err.data);
    buf_release(&err);
    buf_release(&path);
    return rc;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sign_key_free(f->key);
    sign_key_free(f->other);
    sign_pub_free(f->pub);
    sign_pub_free(f->other_pub);
    int rc = tmpdir_remove(f->dir);
    free(f);
    return rc;
}

/* ---- times, URLs, PAE ---- */

static void test_time(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {1795701785123, "2026-11-26T14:03:05.123Z"},
        {0, "1970-01-01T00:00:00.000Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {1709251199999, "2024-02-29T23:59:59.999Z"},
        {1709251200000, "2024-03-01T00:00:00.000Z"},
        {7, "1970-01-01T00:00:00.007Z"},
    };
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(&b);
        buf_adds(&b, "at ");
        prov_time(cases[i].ms, &b);
        assert_string_equal(b.data + 3, cases[i].want);
    }
    buf_release(&b);
}

static void test_url_strip(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"https://user:tok@host/r.git", "https://host/r.git"},
        {"https://tok@host/r.git", "https://host/r.git"},
        {"https://user:p@ss@host:8443/r.git", "https://host:8443/r.git"},
        {"https://host/r.git", "https://host/r.git"},
        {"https://host/users/@me/r.git", "https://host/users/@me/r.git"},
        {"https://host?x=a@b", "https://host?x=a@b"},
        {"ssh://git@host:22/r.git", "ssh://host:22/r.git"},
        {"git+ssh://me@host/r", "git+ssh://host/r"},
        {"git@host:r.git", "git@host:r.git"},
        {"/srv/git/r.git", "/srv/git/r.git"},
        {"file:///srv/git/r.git", "file:///srv/git/r.git"},
        {"://user@host/r", "://user@host/r"},
        {"1http://user@host/r", "1http://user@host/r"},
        {"", ""},
    };
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(&b);
        prov_url_strip_userinfo(cases[i][0], &b);
        assert_string_equal(b.data, cases[i][1]);
    }
    buf_release(&b);
}

static void test_pae(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    /* The example of the DSSE protocol's documentation. */
    prov_pae("http://example.com/HelloWorld", "hello world", 11, &b);
    assert_string_equal(b.data, "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
    buf_reset(&b);
    prov_pae(PROV_PAYLOAD_TYPE, "a\0b", 3, &b);
    assert_int_equal(b.len, 44);
    assert_memory_equal(b.data, "DSSEv1 28 application/vnd.in-toto+json 3 a\0b", 44);
    buf_release(&b);
}

/* ---- statement ---- */

static void test_statement_exact(void **state)
{
    (void)state;
    struct buf a = BUF_INIT, b = BUF_INIT;
    prov_statement(&input, &a);
    assert_string_equal(a.data, expected_statement);
    assert_null(strstr(a.data, "s3cret"));
    /* Deterministic, and appended. */
    buf_adds(&b, "x");
    prov_statement(&input, &b);
    assert_string_equal(b.data + 1, a.data);
    buf_release(&a);
    buf_release(&b);
}

static void test_statement_ssh_url_and_tag(void **state)
{
    (void)state;
    struct prov_input in = input;
    struct buf b = BUF_INIT;
    in.repo_url = "git@host:r.git";
    in.ref = "refs/tags/v1.2.0";
    in.kind = "tag";
    in.njobs = 0;
    in.nfiles = 0;
    prov_statement(&in, &b);
    assert_non_null(strstr(b.data, "\"repository\":\"git@host:r.git\""));
    assert_non_null(strstr(b.data, "\"uri\":\"git+git@host:r.git@refs/tags/v1.2.0\""));
    assert_non_null(strstr(b.data, "\"kind\":\"tag\""));
    assert_non_null(strstr(b.data, "\"jobs\":[]"));
    assert_non_null(strstr(b.data, "\"subject\":[]"));
    buf_release(&b);
}

static void test_statement_not_utf8(void **state)
{
    (void)state;
    struct prov_input in = input;
    struct prov_file odd[] = {{"dist/caf\xe9\"\n", "sha256:" HEX_ABC, 3, 0644}};
    struct buf b = BUF_INIT, err = BUF_INIT;
    in.files = odd;
    in.nfiles = 1;
    in.version = NULL;
    prov_statement(&in, &b);
    json_error_t je;
    json_t *j = json_loads(b.data, 0, &je);
    assert_non_null(j);
    const char *name = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "subject"), 0), "name"));
    assert_string_equal(name, "dist/caf\xef\xbf\xbd\"\n");
    json_decref(j);
    assert_non_null(strstr(b.data, "\"version\":\"\""));

    /* Digests of other shapes: another algorithm is kept; a bad one is a value. */
    struct prov_file shapes[] = {{"a", "sha512:00ff", 1, 0644},
                                 {"b", "\xff:00", 1, 0644},
                                 {"c", "00ff", 1, 0644},
                                 {"d", NULL, 1, 0644}};
    in.files = shapes;
    in.nfiles = 4;
    buf_reset(&b);
    prov_statement(&in, &b);
    assert_non_null(strstr(b.data, "\"subject\":[{\"digest\":{\"sha512\":\"00ff\"},\"name\":\"a\"},"
                                   "{\"digest\":{\"sha256\":\"\xef\xbf\xbd:00\"},\"name\":\"b\"},"
                                   "{\"digest\":{\"sha256\":\"00ff\"},\"name\":\"c\"},"
                                   "{\"digest\":{\"sha256\":\"\"},\"name\":\"d\"}]"));
    /* The mangled name no longer matches the manifest: the release does not verify. */
    assert_int_equal(prov_check_files(b.data, b.len, COMMIT, "", odd, 1, &err), -EBADMSG);
    buf_release(&b);
    buf_release(&err);
}

/* ---- envelopes ---- */

static void sign_ok(struct fixture *f, const char *stmt, struct buf *env)
{
    struct buf err = BUF_INIT;
    if (prov_sign(f->key, stmt, strlen(stmt), env, &err))
        fail_msg("prov_sign: %s", err.data);
    buf_release(&err);
}

static void open_fails(const struct sign_pub *p, const char *env, const char *want)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    buf_adds(&out, "untouched");
    assert_int_equal(prov_open(p, env, strlen(env), &out, &err), -EBADMSG);
    assert_string_equal(out.data, "untouched");
    assert_string_equal(err.data, want);
    buf_release(&out);
    buf_release(&err);
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(s);
    return s;
}

static void test_envelope_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct buf stmt = BUF_INIT, env = BUF_INIT, out = BUF_INIT, err = BUF_INIT, b = BUF_INIT;

    prov_statement(&input, &stmt);
    sign_ok(f, stmt.data, &env);

    /* The envelope's shape. */
    json_error_t je;
    json_t *j = json_loads(env.data, 0, &je);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 3);
    assert_string_equal(json_string_value(json_object_get(j, "payloadType")),
                        "application/vnd.in-toto+json");
    base64_encode(stmt.data, stmt.len, &b);
    assert_string_equal(json_string_value(json_object_get(j, "payload")), b.data);
    json_t *sigs = json_object_get(j, "signatures");
    assert_int_equal(json_array_size(sigs), 1);
    json_t *s = json_array_get(sigs, 0);
    assert_string_equal(json_string_value(json_object_get(s, "keyid")), f->keyid);
    /* The signature is over PAE(payloadType, statement). */
    buf_reset(&b);
    const char *sig64 = json_string_value(json_object_get(s, "sig"));
    assert_int_equal(base64_decode(sig64, strlen(sig64), &b), 0);
    assert_int_equal(b.len, SIGN_SIG_LEN);
    struct buf pae = BUF_INIT;
    prov_pae(PROV_PAYLOAD_TYPE, stmt.data, stmt.len, &pae);
    assert_int_equal(sign_check(f->pub, pae.data, pae.len, (unsigned char *)b.data, &err), 0);
    buf_release(&pae);
    json_decref(j);

    /* Opened, it gives the statement back, appended. */
    buf_adds(&out, "> ");
    assert_int_equal(prov_open(f->pub, env.data, env.len, &out, &err), 0);
    assert_string_equal(out.data + 2, stmt.data);
    assert_int_equal(err.len, 0);
    assert_int_equal(prov_check_files(out.data + 2, out.len - 2, COMMIT, "r42", files, 2, &err), 0);
    assert_int_equal(err.len, 0);

    buf_release(&stmt);
    buf_release(&env);
    buf_release(&out);
    buf_release(&err);
    buf_release(&b);
}

static void test_envelope_tampered(void **state)
{
    struct fixture *f = *state;
    struct buf stmt = BUF_INIT, env = BUF_INIT, b = BUF_INIT;
    json_error_t je;

    prov_statement(&input, &stmt);
    sign_ok(f, stmt.data, &env);

    /* One subject's digest changed, the payload re-encoded, the signature kept. */
    json_t *j = json_loads(env.data, 0, &je);
    const char *p64 = json_string_value(json_object_get(j, "payload"));
    assert_int_equal(base64_decode(p64, strlen(p64), &b), 0);
    char *at = strstr(b.data, HEX_ABC);
    assert_non_null(at);
    memcpy(at, HEX_ABD, 64);
    struct buf p2 = BUF_INIT;
    base64_encode(b.data, b.len, &p2);
    json_object_set_new(j, "payload", json_string(p2.data));
    char *bad = dump(j);
    open_fails(f->pub, bad,
               "signature does not match: the provenance was modified or signed by another key");
    free(bad);
    buf_release(&p2);

    /* The payload type changed (it is signed too). */
    json_decref(j);
    j = json_loads(env.data, 0, &je);
    json_object_set_new(j, "payloadType", json_string("application/json"));
    bad = dump(j);
    open_fails(f->pub, bad,
               "payloadType is \"application/json\", expected \"application/vnd.in-toto+json\"");
    free(bad);

    /* One bit of the signature flipped. */
    json_t *s = json_array_get(json_object_get(j, "signatures"), 0);
    json_object_set_new(j, "payloadType", json_string(PROV_PAYLOAD_TYPE));
    const char *sig64 = json_string_value(json_object_get(s, "sig"));
    buf_reset(&b);
    assert_int_equal(base64_decode(sig64, strlen(sig64), &b), 0);
    b.data[10] ^= 0x04;
    struct buf s2 = BUF_INIT;
    base64_encode(b.data, b.len, &s2);
    json_object_set_new(s, "sig", json_string(s2.data));
    bad = dump(j);
    open_fails(f->pub, bad,
               "signature does not match: the provenance was modified or signed by another key");
    free(bad);
    buf_release(&s2);

    json_decref(j);
    buf_release(&stmt);
    buf_release(&env);
    buf_release(&b);
}

static void test_envelope_other_key(void **state)
{
    struct fixture *f = *state;
    struct buf stmt = BUF_INIT, env = BUF_INIT, want = BUF_INIT, out = BUF_INIT, err = BUF_INIT;

    prov_statement(&input, &stmt);
    sign_ok(f, stmt.data, &env);
    buf_addf(&want, "no signature by key %s (signed by %s)", f->other_id, f->keyid);
    open_fails(f->other_pub, env.data, want.data);

    /* Signed by another key under our key id: the signature does not match. */
    struct buf env2 = BUF_INIT;
    assert_int_equal(prov_sign(f->other, stmt.data, stmt.len, &env2, &err), 0);
    json_error_t je;
    json_t *j = json_loads(env2.data, 0, &je);
    json_t *s = json_array_get(json_object_get(j, "signatures"), 0);
    json_object_set_new(s, "keyid", json_string(f->keyid));
    char *bad = dump(j);
    open_fails(f->pub, bad,
               "signature does not match: the provenance was modified or signed by another key");
    free(bad);

    /* Two signatures, another key's first: ours is found. */
    json_t *j1 = json_loads(env.data, 0, &je);
    json_object_set_new(s, "keyid", json_string(f->other_id));
    json_array_append(json_object_get(j, "signatures"),
                      json_array_get(json_object_get(j1, "signatures"), 0));
    char *both = dump(j);
    assert_int_equal(prov_open(f->pub, both, strlen(both), &out, &err), 0);
    assert_string_equal(out.data, stmt.data);
    buf_reset(&out);
    assert_int_equal(prov_open(f->other_pub, both, strlen(both), &out, &err), 0);
    assert_string_equal(out.data, stmt.data);
    free(both);

    json_decref(j);
    json_decref(j1);
    buf_release(&env2);
    buf_release(&stmt);
    buf_release(&env);
    buf_release(&want);
    buf_release(&out);
    buf_release(&err);
}

static void test_envelope_malformed(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;
    const char *T = PROV_PAYLOAD_TYPE;

    open_fails(f->pub, "",
               "the provenance envelope is not valid JSON: '[' or '{' expected near end of file "
               "(line 1, column 0)");
    open_fails(f->pub, "[]", "the provenance envelope is not a JSON object");
    open_fails(f->pub, "{\"payload\":\"e30=\",\"signatures\":[]}",
               "the provenance envelope has no payloadType");
    buf_addf(&b, "{\"payloadType\":\"%s\",\"signatures\":[]}", T);
    open_fails(f->pub, b.data, "the provenance envelope has no payload");
    buf_reset(&b);
    buf_addf(&b, "{\"payloadType\":\"%s\",\"payload\":\"e30\",\"signatures\":[]}", T);
    open_fails(f->pub, b.data, "the provenance envelope has no signatures");
    buf_reset(&b);
    buf_addf(&b, "{\"payloadType\":\"%s\",\"payload\":\"e30*\",\"signatures\":[]}", T);
    open_fails(f->pub, b.data, "payload is not valid base64");
    buf_reset(&b);
    buf_addf(&b, "{\"payloadType\":\"%s\",\"payload\":\"e30=\",\"payload\":\"e30=\"}", T);
    open_fails(f->pub, b.data,
               "the provenance envelope is not valid JSON: duplicate object key near "
               "'\"payload\"' (line 1, column 72)");

    buf_reset(&b);
    buf_addf(
        &b, "{\"payloadType\":\"%s\",\"payload\":\"e30=\",\"signatures\":[{\"sig\":\"AA==\"}]}", T);
    struct buf want = BUF_INIT;
    buf_addf(&want, "no signature by key %s (signed by (no keyid))", f->keyid);
    open_fails(f->pub, b.data, want.data);

    buf_reset(&b);
    buf_addf(&b,
             "{\"payloadType\":\"%s\",\"payload\":\"e30=\",\"signatures\":[{\"keyid\":\"%s\","
             "\"sig\":\"AA=\"}]}",
             T, f->keyid);
    buf_reset(&want);
    buf_addf(&want, "the signature by key %s is not valid base64", f->keyid);
    open_fails(f->pub, b.data, want.data);

    buf_reset(&b);
    buf_addf(&b,
             "{\"payloadType\":\"%s\",\"payload\":\"e30=\",\"signatures\":[{\"keyid\":\"%s\","
             "\"sig\":\"AAAA\"}]}",
             T, f->keyid);
    buf_reset(&want);
    buf_addf(&want, "the signature by key %s is 3 bytes long; an Ed25519 signature is 64",
             f->keyid);
    open_fails(f->pub, b.data, want.data);

    buf_release(&want);
    buf_release(&b);
}

/* ---- checking against a manifest ---- */

static void check_fails(const char *stmt, const char *commit, const char *version,
                        const struct prov_file *fl, size_t n, const char *want)
{
    struct buf err = BUF_INIT;
    assert_int_equal(prov_check_files(stmt, strlen(stmt), commit, version, fl, n, &err), -EBADMSG);
    assert_string_equal(err.data, want);
    buf_release(&err);
}

static void test_check_files(void **state)
{
    (void)state;
    struct buf stmt = BUF_INIT, err = BUF_INIT;
    prov_statement(&input, &stmt);
    assert_int_equal(prov_check_files(stmt.data, stmt.len, COMMIT, "r42", files, 2, &err), 0);
    /* Order does not matter. */
    struct prov_file swapped[] = {files[1], files[0]};
    assert_int_equal(prov_check_files(stmt.data, stmt.len, COMMIT, "r42", swapped, 2, &err), 0);
    assert_int_equal(err.len, 0);

    struct prov_file changed[] = {files[0], files[1]};
    changed[1].digest = "sha256:" HEX_ABD;
    check_fails(stmt.data, COMMIT, "r42", changed, 2,
                "file dist/app.tar.gz: the provenance says sha256:" HEX_EMPTY
                ", the manifest says sha256:" HEX_ABD);
    changed[1].digest = "sha256:" HEX_EMPTY "0";
    check_fails(stmt.data, COMMIT, "r42", changed, 2,
                "file dist/app.tar.gz: the provenance says sha256:" HEX_EMPTY
                ", the manifest says sha256:" HEX_EMPTY "0");
    changed[1].digest = HEX_EMPTY;
    check_fails(stmt.data, COMMIT, "r42", changed, 2,
                "file dist/app.tar.gz: the provenance says sha256:" HEX_EMPTY
                ", the manifest says " HEX_EMPTY);

    struct prov_file more[] = {files[0], files[1], {"dist/extra", "sha256:" HEX_ABD, 3, 0644}};
    check_fails(stmt.data, COMMIT, "r42", more, 3,
                "file dist/extra is in the manifest but not in the provenance");
    check_fails(stmt.data, COMMIT, "r42", files, 1,
                "file dist/app.tar.gz is in the provenance but not in the manifest");
    check_fails(stmt.data, COMMIT, "r42", NULL, 0,
                "file dist/app is in the provenance but not in the manifest");
    struct prov_file twice[] = {files[0], files[0], files[1]};
    check_fails(stmt.data, COMMIT, "r42", twice, 3, "file dist/app is in the manifest twice");

    check_fails(stmt.data, "fedcba9876543210fedcba9876543210fedcba98", "r42", files, 2,
                "commit: the provenance says " COMMIT
                ", the manifest says fedcba9876543210fedcba9876543210fedcba98");
    check_fails(stmt.data, COMMIT, "r43", files, 2,
                "version: the provenance says r42, the manifest says r43");

    /* Not a statement at all, or a malformed one. */
    check_fails("{}", COMMIT, "r42", files, 2,
                "the provenance is not an in-toto statement (_type missing, expected "
                "https://in-toto.io/Statement/v1)");
    check_fails("{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\":\"x\"}", COMMIT,
                "r42", files, 2,
                "the provenance is not SLSA provenance (predicateType x, expected "
                "https://slsa.dev/provenance/v1)");
    check_fails("not json", COMMIT, "r42", files, 2,
                "the provenance statement is not valid JSON: '[' or '{' expected near 'not' "
                "(line 1, column 3)");

    struct buf alt = BUF_INIT;
    buf_adds(&alt, stmt.data);
    char *name = strstr(alt.data, "\"name\":\"dist/app\"");
    assert_non_null(name);
    memcpy(name, "\"nome\"", 6);
    check_fails(alt.data, COMMIT, "r42", files, 2,
                "subject 1 of the provenance is not {\"name\", \"digest\": {\"sha256\"}}");
    /* A NUL inside a name: "dist/app\u0000x" must not pass for "dist/app". */
    buf_reset(&alt);
    buf_adds(&alt, stmt.data);
    name = strstr(alt.data, "dist/app.tar.gz");
    memcpy(name, "dist/app\\u0000x", 15);
    assert_int_equal(prov_check_files(alt.data, alt.len, COMMIT, "r42", files, 1, &err), -EBADMSG);
    assert_non_null(strstr(err.data, "not valid JSON: \\u0000 is not allowed"));
    buf_reset(&err);

    /* A subject twice. */
    struct prov_input in = input;
    struct prov_file dup[] = {files[0], files[0]};
    in.files = dup;
    buf_reset(&alt);
    prov_statement(&in, &alt);
    check_fails(alt.data, COMMIT, "r42", files, 2, "file dist/app is in the provenance twice");

    buf_release(&alt);
    buf_release(&stmt);
    buf_release(&err);
}

/* ---- versions ---- */

static void test_version(void **state)
{
    (void)state;
    static const struct prov_version_fields main_run = {
        .n = 42,
        .sha = COMMIT,
        .branch = "main",
        .now_ms = 1795701785123,
    };
    static const struct prov_version_fields tag_run = {
        .n = 43,
        .sha = COMMIT,
        .tag = "v1.2.0",
        .now_ms = 1795701785123,
    };
    const struct {
        const char *pattern;
        const struct prov_version_fields *f;
        const char *want;
    } cases[] = {
        {"r{n}", &main_run, "r42"},
        {"{tag}", &tag_run, "v1.2.0"},
        {"1.{n}+{short_sha}", &main_run, "1.42+0123456"},
        {"{date}.{n}", &main_run, "20261126.42"},
        {"{sha}", &main_run, COMMIT},
        {"{branch}-{n}", &main_run, "main-42"},
        /* Fields this run does not have, tidied away. */
        {"{tag}-{n}", &main_run, "42"},
        {"{tag}", &main_run, NULL},
        {"{n}-{tag}", &main_run, "42"},
        {"{branch}-{tag}.{n}", &main_run, "main.42"},
        {"r{n}-{tag}+{short_sha}", &main_run, "r42+0123456"},
        {"{branch}-{tag}", &tag_run, "v1.2.0"},
        {"..r{n}__", &main_run, "r42"},
        {"1..{n}", &main_run, "1.42"},
        /* Values that are not version characters. */
        {"{branch}.{n}", &(struct prov_version_fields){.n = 5, .branch = "feature/x y"},
         "feature-x-y.5"},
        {"{tag}", &(struct prov_version_fields){.tag = "release/1.0"}, "release-1.0"},
        {"{n}", &(struct prov_version_fields){.n = 0}, NULL},
        {"{short_sha}", &(struct prov_version_fields){.sha = "abc"}, "abc"},
    };
    struct buf out = BUF_INIT, err = BUF_INIT;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(&out);
        buf_reset(&err);
        buf_adds(&out, "v=");
        int rc = prov_version(cases[i].pattern, cases[i].f, &out, &err);
        if (!cases[i].want) {
            if (rc != -EINVAL)
                fail_msg("%s: %d %s", cases[i].pattern, rc, out.data);
            assert_string_equal(out.data, "v=");
            assert_non_null(strstr(err.data, "gives an empty version for this run"));
            continue;
        }
        if (rc)
            fail_msg("%s: %s", cases[i].pattern, err.data);
        assert_string_equal(out.data + 2, cases[i].want);
        assert_int_equal(err.len, 0);
    }
    buf_release(&out);
    buf_release(&err);
}

static void test_version_errors(void **state)
{
    (void)state;
    static const struct prov_version_fields f = {.n = 1, .sha = COMMIT, .now_ms = 0};
    static const struct {
        const char *pattern;
        int code;
        const char *want;
    } cases[] = {
        {"r{N}", -EINVAL,
         "version pattern \"r{N}\": unknown field {N} (known: {n}, {sha}, {short_sha}, {tag}, "
         "{branch}, {date})"},
        {"r{}", -EINVAL,
         "version pattern \"r{}\": unknown field {} (known: {n}, {sha}, {short_sha}, {tag}, "
         "{branch}, {date})"},
        {"r{n", -EINVAL, "version pattern \"r{n\": '{' without '}'"},
        {"r}", -EINVAL, "version pattern \"r}\": '}' without '{'"},
        {"r {n}", -EINVAL,
         "version pattern \"r {n}\": ' ' is not allowed in a version (letters, digits, '.', '-', "
         "'_', '+')"},
        {"r/{n}", -EINVAL,
         "version pattern \"r/{n}\": '/' is not allowed in a version (letters, digits, '.', '-', "
         "'_', '+')"},
        {"", -EINVAL, "version pattern \"\" gives an empty version for this run"},
        {"{sha}{sha}{sha}{sha}", -E2BIG,
         "version pattern \"{sha}{sha}{sha}{sha}\" gives a version of 160 bytes; at most 128 are "
         "allowed"},
    };
    struct buf out = BUF_INIT, err = BUF_INIT;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(&err);
        assert_int_equal(prov_version(cases[i].pattern, &f, &out, &err), cases[i].code);
        assert_string_equal(err.data, cases[i].want);
        assert_int_equal(out.len, 0);
    }
    /* Exactly 128 bytes is fine; the date of time 0 is 19700101. */
    assert_int_equal(prov_version("{sha}{sha}{sha}{date}", &f, &out, &err), 0);
    assert_int_equal(out.len, 128);
    assert_string_equal(out.data + 120, "19700101");
    buf_release(&out);
    buf_release(&err);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_url_strip),
        cmocka_unit_test(test_pae),
        cmocka_unit_test(test_statement_exact),
        cmocka_unit_test(test_statement_ssh_url_and_tag),
        cmocka_unit_test(test_statement_not_utf8),
        T(test_envelope_roundtrip),
        T(test_envelope_tampered),
        T(test_envelope_other_key),
        T(test_envelope_malformed),
        cmocka_unit_test(test_check_files),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_version_errors),
    };
#undef T
    return cmocka_run_group_tests_name("provenance", tests, NULL, NULL);
}
