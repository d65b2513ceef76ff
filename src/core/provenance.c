#include "core/provenance.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "util/base64.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define PROV_SHA256 "sha256:"

/* ---- JSON helpers -------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t prov_utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min, cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* A JSON string of s ("" for NULL); invalid UTF-8 bytes become U+FFFD. Never NULL. */
static json_t *prov_jstr(const char *s)
{
    if (!s)
        s = "";
    json_t *j = json_string(s);
    if (j)
        return j;
    struct buf b = BUF_INIT;
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    while (n) {
        size_t l = prov_utf8_len(p, n);
        if (l)
            buf_add(&b, p, l);
        else
            buf_adds(&b, "\xef\xbf\xbd");
        l = l ? l : 1;
        p += l;
        n -= l;
    }
    j = json_stringn(b.data, b.len);
    buf_release(&b);
    if (!j)
        abort(); /* only memory can fail now */
    return j;
}

static json_t *prov_jint(int64_t v)
{
    json_t *j = json_integer((json_int_t)v);
    if (!j)
        abort();
    return j;
}

static json_t *prov_jobj(void)
{
    json_t *j = json_object();
    if (!j)
        abort();
    return j;
}

static json_t *prov_jarr(void)
{
    json_t *j = json_array();
    if (!j)
        abort();
    return j;
}

static void prov_set(json_t *o, const char *key, json_t *v)
{
    if (json_object_set_new(o, key, v))
        abort();
}

static void prov_append(json_t *a, json_t *v)
{
    if (json_array_append_new(a, v))
        abort();
}

/*
 * An in-toto digest set from "algo:hex" ({"algo": "hex"}). Anything else (no
 * algorithm, or one that is not [a-z0-9-]) is taken whole as a SHA-256 value:
 * a JSON key must be valid UTF-8, and a mangled digest must still fail to match.
 */
static json_t *prov_digest_set(const char *digest)
{
    json_t *o = prov_jobj();
    const char *colon = digest ? strchr(digest, ':') : NULL;
    bool algo_ok = colon && colon != digest;
    for (const char *p = digest; algo_ok && p < colon; p++)
        algo_ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-';
    if (algo_ok) {
        char *algo = xmemdupz(digest, (size_t)(colon - digest));
        prov_set(o, algo, prov_jstr(colon + 1));
        free(algo);
    } else {
        prov_set(o, "sha256", prov_jstr(digest));
    }
    return o;
}

static void prov_dump(json_t *j, struct buf *out)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
        abort();
    buf_adds(out, s);
    free(s);
}

/* The string member key of o, or NULL when o is not an object or key not a string. */
static const char *prov_get_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ---- Times and URLs ------------------------------------------------------ */

static void prov_gmtime(int64_t ms, struct tm *tm, int *millis)
{
    int64_t s = ms / 1000, r = ms % 1000;
    if (r < 0) {
        r += 1000;
        s--;
    }
    time_t t = (time_t)s;
    if (!gmtime_r(&t, tm))
        memset(tm, 0, sizeof(*tm));
    *millis = (int)r;
}

void prov_time(int64_t ms, struct buf *out)
{
    struct tm tm;
    int millis;
    prov_gmtime(ms, &tm, &millis);
    buf_addf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

void prov_url_strip_userinfo(const char *url, struct buf *out)
{
    const char *sep = strstr(url, "://");
    bool scheme = sep && sep != url;
    /* RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    for (const char *p = url; scheme && p < sep; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
        scheme = alpha || (p != url && other);
    }
    if (!scheme) {
        buf_adds(out, url);
        return;
    }
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    /* The last '@': a password may hold an unescaped one. */
    const char *at = memrchr(auth, '@', alen);
    if (!at) {
        buf_adds(out, url);
        return;
    }
    buf_add(out, url, (size_t)(auth - url));
    buf_adds(out, at + 1);
}

/* ---- Statement ----------------------------------------------------------- */

void prov_statement(const struct prov_input *in, struct buf *out)
{
    struct buf url = BUF_INIT, tmp = BUF_INIT;
    json_t *st = prov_jobj();

    prov_url_strip_userinfo(in->repo_url ? in->repo_url : "", &url);

    prov_set(st, "_type", prov_jstr(PROV_STATEMENT_TYPE));
    json_t *subjects = prov_jarr();
    for (size_t i = 0; i < in->nfiles; i++) {
        json_t *s = prov_jobj();
        prov_set(s, "name", prov_jstr(in->files[i].path));
        prov_set(s, "digest", prov_digest_set(in->files[i].digest));
        prov_append(subjects, s);
    }
    prov_set(st, "subject", subjects);
    prov_set(st, "predicateType", prov_jstr(PROV_PREDICATE_TYPE));

    json_t *ext = prov_jobj();
    prov_set(ext, "repository", prov_jstr(url.data));
    prov_set(ext, "ref", prov_jstr(in->ref));
    prov_set(ext, "kind", prov_jstr(in->kind));
    json_t *pipeline = prov_jobj();
    prov_set(pipeline, "path", prov_jstr(in->pipeline_path));
    prov_set(pipeline, "digest", prov_digest_set(in->pipeline_digest));
    prov_set(ext, "pipeline", pipeline);

    json_t *internal = prov_jobj();
    json_t *jobs = prov_jarr();
    for (size_t i = 0; i < in->njobs; i++)
        prov_append(jobs, prov_jstr(in->jobs[i]));
    prov_set(internal, "jobs", jobs);
    json_t *run = prov_jobj();
    prov_set(run, "id", prov_jint(in->run_id));
    prov_set(run, "number", prov_jint(in->run_number));
    prov_set(internal, "run", run);
    prov_set(internal, "version", prov_jstr(in->version));

    json_t *dep = prov_jobj();
    buf_addf(&tmp, "git+%s@%s", url.data, in->ref ? in->ref : "");
    prov_set(dep, "uri", prov_jstr(tmp.data));
    json_t *dep_digest = prov_jobj();
    prov_set(dep_digest, "gitCommit", prov_jstr(in->commit));
    prov_set(dep, "digest", dep_digest);
    json_t *deps = prov_jarr();
    prov_append(deps, dep);

    json_t *def = prov_jobj();
    prov_set(def, "buildType", prov_jstr(PROV_BUILD_TYPE));
    prov_set(def, "externalParameters", ext);
    prov_set(def, "internalParameters", internal);
    prov_set(def, "resolvedDependencies", deps);

    json_t *builder = prov_jobj();
    prov_set(builder, "id", prov_jstr(in->builder_id));
    json_t *bver = prov_jobj();
    prov_set(bver, "flywheel", prov_jstr(in->builder_version));
    prov_set(builder, "version", bver);

    json_t *meta = prov_jobj();
    buf_reset(&tmp);
    buf_addf(&tmp, "%s/runs/%lld", in->repo ? in->repo : "", (long long)in->run_number);
    prov_set(meta, "invocationId", prov_jstr(tmp.data));
    buf_reset(&tmp);
    prov_time(in->started_ms, &tmp);
    prov_set(meta, "startedOn", prov_jstr(tmp.data));
    buf_reset(&tmp);
    prov_time(in->finished_ms, &tmp);
    prov_set(meta, "finishedOn", prov_jstr(tmp.data));

    json_t *details = prov_jobj();
    prov_set(details, "builder", builder);
    prov_set(details, "metadata", meta);

    json_t *pred = prov_jobj();
    prov_set(pred, "buildDefinition", def);
    prov_set(pred, "runDetails", details);
    prov_set(st, "predicate", pred);

    prov_dump(st, out);
    json_decref(st);
    buf_release(&url);
    buf_release(&tmp);
}

/* ---- DSSE envelope ------------------------------------------------------- */

void prov_pae(const char *type, const void *body, size_t len, struct buf *out)
{
    buf_addf(out, "DSSEv1 %zu %s %zu ", strlen(type), type, len);
    buf_add(out, body, len);
}

int prov_sign(const struct sign_key *k, const char *statement, size_t len, struct buf *out,
              struct buf *err)
{
    struct buf pae = BUF_INIT, b64 = BUF_INIT;
    unsigned char sig[SIGN_SIG_LEN];
    char keyid[SIGN_KEYID_LEN + 1];
    int ret;

    prov_pae(PROV_PAYLOAD_TYPE, statement, len, &pae);
    ret = sign_bytes(k, pae.data, pae.len, sig, err);
    if (ret)
        goto out;
    sign_key_id(k, keyid);

    json_t *env = prov_jobj();
    base64_encode(statement, len, &b64);
    prov_set(env, "payload", prov_jstr(b64.data));
    prov_set(env, "payloadType", prov_jstr(PROV_PAYLOAD_TYPE));
    json_t *s = prov_jobj();
    prov_set(s, "keyid", prov_jstr(keyid));
    buf_reset(&b64);
    base64_encode(sig, sizeof(sig), &b64);
    prov_set(s, "sig", prov_jstr(b64.data));
    json_t *sigs = prov_jarr();
    prov_append(sigs, s);
    prov_set(env, "signatures", sigs);
    prov_dump(env, out);
    json_decref(env);
out:
    buf_release(&pae);
    buf_release(&b64);
    return ret;
}

int prov_open(const struct sign_pub *p, const char *envelope, size_t len, struct buf *statement_out,
              struct buf *err)
{
    struct buf payload = BUF_INIT, pae = BUF_INIT, sig = BUF_INIT, others = BUF_INIT;
    struct buf why = BUF_INIT;
    char keyid[SIGN_KEYID_LEN + 1];
    json_error_t je;
    json_t *env = NULL;
    size_t mine = 0, mismatched = 0;
    int ret = -EBADMSG;

    sign_pub_id(p, keyid);
    env = json_loadb(envelope, len, JSON_REJECT_DUPLICATES, &je);
    if (!env) {
        buf_addf(err, "the provenance envelope is not valid JSON: %s (line %d, column %d)", je.text,
                 je.line, je.column);
        goto out;
    }
    if (!json_is_object(env)) {
        buf_adds(err, "the provenance envelope is not a JSON object");
        goto out;
    }
    const char *type = prov_get_str(env, "payloadType");
    if (!type) {
        buf_adds(err, "the provenance envelope has no payloadType");
        goto out;
    }
    if (strcmp(type, PROV_PAYLOAD_TYPE)) {
        buf_addf(err, "payloadType is \"%s\", expected \"%s\"", type, PROV_PAYLOAD_TYPE);
        goto out;
    }
    json_t *jpayload = json_object_get(env, "payload");
    if (!json_is_string(jpayload)) {
        buf_adds(err, "the provenance envelope has no payload");
        goto out;
    }
    if (base64_decode(json_string_value(jpayload), json_string_length(jpayload), &payload)) {
        buf_adds(err, "payload is not valid base64");
        goto out;
    }
    json_t *sigs = json_object_get(env, "signatures");
    if (!json_is_array(sigs) || !json_array_size(sigs)) {
        buf_adds(err, "the provenance envelope has no signatures");
        goto out;
    }
    prov_pae(type, payload.data, payload.len, &pae);

    size_t i;
    json_t *s;
    json_array_foreach(sigs, i, s)
    {
        const char *id = prov_get_str(s, "keyid");
        json_t *jsig = json_object_get(s, "sig");
        if (!id || strcmp(id, keyid)) {
            buf_addf(&others, "%s%s", others.len ? ", " : "", id && *id ? id : "(no keyid)");
            continue;
        }
        mine++;
        buf_reset(&sig);
        if (!json_is_string(jsig) ||
            base64_decode(json_string_value(jsig), json_string_length(jsig), &sig)) {
            buf_reset(&why);
            buf_addf(&why, "the signature by key %s is not valid base64", keyid);
            continue;
        }
        if (sig.len != SIGN_SIG_LEN) {
            buf_reset(&why);
            buf_addf(&why, "the signature by key %s is %zu bytes long; an Ed25519 signature is %d",
                     keyid, sig.len, SIGN_SIG_LEN);
            continue;
        }
        struct buf cerr = BUF_INIT;
        int rc = sign_check(p, pae.data, pae.len, (const unsigned char *)sig.data, &cerr);
        if (!rc) {
            buf_release(&cerr);
            buf_add(statement_out, payload.data, payload.len);
            ret = 0;
            goto out;
        }
        if (rc != -EBADMSG) {
            buf_add(err, cerr.data, cerr.len);
            buf_release(&cerr);
            ret = rc;
            goto out;
        }
        buf_release(&cerr);
        mismatched++;
    }
    if (!mine)
        buf_addf(err, "no signature by key %s (signed by %s)", keyid, others.data);
    else if (mismatched)
        buf_adds(err,
                 "signature does not match: the provenance was modified or signed by another key");
    else
        buf_add(err, why.data, why.len);
out:
    json_decref(env);
    buf_release(&payload);
    buf_release(&pae);
    buf_release(&sig);
    buf_release(&others);
    buf_release(&why);
    return ret;
}

/* ---- Checking a statement against a manifest ----------------------------- */

/* The sha256 hex of subject s and its name, or -1 when s is not a well-formed subject. */
static int prov_subject(const json_t *s, const char **name, const char **hex)
{
    json_t *jname = json_object_get(s, "name");
    json_t *jhex = json_object_get(json_object_get(s, "digest"), "sha256");
    if (!json_is_string(jname) || !json_is_string(jhex))
        return -1;
    *name = json_string_value(jname);
    *hex = json_string_value(jhex);
    /* A NUL inside a name would make two different names compare equal. */
    if (strlen(*name) != json_string_length(jname) || strlen(*hex) != json_string_length(jhex))
        return -1;
    return 0;
}

/* The commit of the first resolved dependency that names one, or NULL. */
static const char *prov_commit(const json_t *def)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(def, "resolvedDependencies"), i, d)
    {
        const char *c = prov_get_str(json_object_get(d, "digest"), "gitCommit");
        if (c)
            return c;
    }
    return NULL;
}

int prov_check_files(const char *statement, size_t len, const char *commit, const char *version,
                     const struct prov_file *files, size_t n, struct buf *err)
{
    struct strmap subjects = STRMAP_INIT, manifest = STRMAP_INIT;
    json_error_t je;
    json_t *st = NULL;
    int ret = -EBADMSG;

    st = json_loadb(statement, len, JSON_REJECT_DUPLICATES, &je);
    if (!st) {
        buf_addf(err, "the provenance statement is not valid JSON: %s (line %d, column %d)",
                 je.text, je.line, je.column);
        goto out;
    }
    const char *type = prov_get_str(st, "_type");
    if (!type || strcmp(type, PROV_STATEMENT_TYPE)) {
        buf_addf(err, "the provenance is not an in-toto statement (_type %s, expected %s)",
                 type ? type : "missing", PROV_STATEMENT_TYPE);
        goto out;
    }
    type = prov_get_str(st, "predicateType");
    if (!type || strcmp(type, PROV_PREDICATE_TYPE)) {
        buf_addf(err, "the provenance is not SLSA provenance (predicateType %s, expected %s)",
                 type ? type : "missing", PROV_PREDICATE_TYPE);
        goto out;
    }
    json_t *def = json_object_get(json_object_get(st, "predicate"), "buildDefinition");
    const char *got = prov_commit(def);
    if (commit && (!got || strcmp(got, commit))) {
        buf_addf(err, "commit: the provenance says %s, the manifest says %s", got ? got : "nothing",
                 commit);
        goto out;
    }
    got = prov_get_str(json_object_get(def, "internalParameters"), "version");
    if (version && (!got || strcmp(got, version))) {
        buf_addf(err, "version: the provenance says %s, the manifest says %s",
                 got ? got : "nothing", version);
        goto out;
    }

    json_t *subj = json_object_get(st, "subject");
    if (!json_is_array(subj)) {
        buf_adds(err, "the provenance has no subjects");
        goto out;
    }
    size_t i;
    json_t *s;
    const char *name, *hex;
    json_array_foreach(subj, i, s)
    {
        if (prov_subject(s, &name, &hex)) {
            buf_addf(err,
                     "subject %zu of the provenance is not {\"name\", \"digest\": {\"sha256\"}}",
                     i + 1);
            goto out;
        }
        if (strmap_put(&subjects, name, i)) {
            buf_addf(err, "file %s is in the provenance twice", name);
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        const char *path = files[i].path, *digest = files[i].digest;
        size_t at;
        if (strmap_put(&manifest, path, i)) {
            buf_addf(err, "file %s is in the manifest twice", path);
            goto out;
        }
        if (!strmap_get(&subjects, path, &at)) {
            buf_addf(err, "file %s is in the manifest but not in the provenance", path);
            goto out;
        }
        prov_subject(json_array_get(subj, at), &name, &hex);
        if (!digest || strncmp(digest, PROV_SHA256, strlen(PROV_SHA256)) ||
            strcmp(digest + strlen(PROV_SHA256), hex)) {
            buf_addf(err, "file %s: the provenance says sha256:%s, the manifest says %s", path, hex,
                     digest ? digest : "nothing");
            goto out;
        }
    }
    json_array_foreach(subj, i, s)
    {
        size_t at;
        prov_subject(s, &name, &hex);
        if (!strmap_get(&manifest, name, &at)) {
            buf_addf(err, "file %s is in the provenance but not in the manifest", name);
            goto out;
        }
    }
    ret = 0;
out:
    strmap_release(&subjects);
    strmap_release(&manifest);
    json_decref(st);
    return ret;
}

/* ---- Versions ------------------------------------------------------------ */

static bool prov_version_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == '+';
}

static bool prov_version_sep(char c)
{
    return c == '.' || c == '-' || c == '_' || c == '+';
}

/* Appends a field's value, its characters outside the version alphabet as '-'. */
static void prov_add_field(struct buf *b, const char *v, size_t len)
{
    for (size_t i = 0; i < len && v[i]; i++)
        buf_addch(b, prov_version_char(v[i]) ? v[i] : '-');
}

int prov_version(const char *pattern, const struct prov_version_fields *f, struct buf *out,
                 struct buf *err)
{
    struct buf raw = BUF_INIT, tidy = BUF_INIT;
    int ret = -EINVAL;

    for (const char *p = pattern; *p; p++) {
        if (*p == '}') {
            buf_addf(err, "version pattern \"%s\": '}' without '{'", pattern);
            goto out;
        }
        if (*p != '{') {
            if (!prov_version_char(*p)) {
                buf_addf(err,
                         "version pattern \"%s\": '%c' is not allowed in a version "
                         "(letters, digits, '.', '-', '_', '+')",
                         pattern, *p);
                goto out;
            }
            buf_addch(&raw, *p);
            continue;
        }
        const char *end = strchr(p + 1, '}');
        if (!end) {
            buf_addf(err, "version pattern \"%s\": '{' without '}'", pattern);
            goto out;
        }
        size_t nlen = (size_t)(end - p - 1);
        const char *name = p + 1;
#define FIELD_IS(s) (nlen == strlen(s) && !memcmp(name, s, nlen))
        if (FIELD_IS("n")) {
            if (f->n > 0)
                buf_addf(&raw, "%lld", (long long)f->n);
        } else if (FIELD_IS("sha")) {
            if (f->sha)
                prov_add_field(&raw, f->sha, strlen(f->sha));
        } else if (FIELD_IS("short_sha")) {
            if (f->sha)
                prov_add_field(&raw, f->sha, 7);
        } else if (FIELD_IS("tag")) {
            if (f->tag)
                prov_add_field(&raw, f->tag, strlen(f->tag));
        } else if (FIELD_IS("branch")) {
            if (f->branch)
                prov_add_field(&raw, f->branch, strlen(f->branch));
        } else if (FIELD_IS("date")) {
            struct tm tm;
            int millis;
            prov_gmtime(f->now_ms, &tm, &millis);
            buf_addf(&raw, "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        } else {
            buf_addf(err,
                     "version pattern \"%s\": unknown field {%.*s} (known: {n}, {sha}, "
                     "{short_sha}, {tag}, {branch}, {date})",
                     pattern, (int)nlen, name);
            goto out;
        }
#undef FIELD_IS
        p = end;
    }

    /* A run of separators becomes its last one; none at either end. */
    char pending = 0;
    for (size_t i = 0; i < raw.len; i++) {
        char c = raw.data[i];
        if (prov_version_sep(c)) {
            pending = c;
            continue;
        }
        if (pending && tidy.len)
            buf_addch(&tidy, pending);
        pending = 0;
        buf_addch(&tidy, c);
    }
    if (!tidy.len) {
        buf_addf(err, "version pattern \"%s\" gives an empty version for this run", pattern);
        goto out;
    }
    if (tidy.len > PROV_VERSION_MAX) {
        buf_addf(err, "version pattern \"%s\" gives a version of %zu bytes; at most %d are allowed",
                 pattern, tidy.len, PROV_VERSION_MAX);
        ret = -E2BIG;
        goto out;
    }
    buf_add(out, tidy.data, tidy.len);
    ret = 0;
out:
    buf_release(&raw);
    buf_release(&tidy);
    return ret;
}
