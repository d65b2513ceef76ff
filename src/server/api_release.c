/*
 * The release routes of the API (docs/api.md, "Releases"): lists, one
 * release with its manifest and provenance, downloads of one file (with byte
 * ranges) or of the whole release as a tar archive, bad markers, and the
 * public key that signs provenance.
 *
 * Every blob is hashed before it is served: a corrupt one is reported (500
 * "corrupt_blob") and never sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/api_int.h"
#include "store/cas.h"
#include "store/release.h"
#include "util/tar.h"
#include "util/xalloc.h"

int api_repo(struct http_request *r, struct store *st, struct store_repo *out)
{
    struct buf err = BUF_INIT;
    const char *name = http_param(r, "name");
    int rc = store_repo_get(st, name ? name : "", out, &err);
    if (rc == -ENOENT)
        http_reply_error(r, 404, "not_found", "no repository '%s'", name ? name : "");
    else if (rc)
        http_reply_error(r, 500, "store", "%s", err.data);
    buf_release(&err);
    return rc ? -1 : 0;
}

/* The repository and the release the route names; replies and returns -1 when either is missing. */
static int route_release(struct http_request *r, struct store *st, struct store_repo *repo,
                         struct store_release *rel)
{
    if (api_repo(r, st, repo))
        return -1;
    struct buf err = BUF_INIT;
    const char *version = http_param(r, "version");
    int rc = store_release_get(st, repo->id, version ? version : "", rel, &err);
    if (rc == -ENOENT)
        http_reply_error(r, 404, "not_found", "repository '%s' has no release '%s'", repo->name,
                         version ? version : "");
    else if (rc)
        http_reply_error(r, 500, "store", "%s", err.data);
    buf_release(&err);
    return rc ? -1 : 0;
}

/* The summary of a release, as in lists. */
static json_t *release_json(struct store *st, const struct store_release *rel, const char *repo)
{
    json_t *o = json_object();
    struct store_run run = {0};
    struct buf err = BUF_INIT;
    json_object_set_new(o, "repo", json_string(repo));
    json_object_set_new(o, "version", json_string(rel->version));
    json_object_set_new(o, "number", json_integer(rel->number));
    json_t *ro = json_object();
    json_object_set_new(ro, "id", json_integer(rel->run_id));
    if (store_run_get(st, rel->run_id, &run, &err) == 0) {
        json_object_set_new(ro, "number", json_integer(run.number));
        json_object_set_new(ro, "kind", json_string(run.kind));
    }
    json_object_set_new(o, "run", ro);
    json_object_set_new(o, "commit", json_string(rel->commit));
    json_object_set_new(o, "ref", json_string(rel->ref));
    json_object_set_new(o, "pipeline_digest", json_string(rel->pipeline_digest));
    json_object_set_new(o, "created_ms", json_integer(rel->created_ms));
    json_object_set_new(o, "deployed_ms", json_integer(rel->deployed_ms));
    if (rel->bad_reason) {
        json_t *b = json_object();
        json_object_set_new(b, "reason", json_string(rel->bad_reason));
        json_object_set_new(b, "since_ms", json_integer(rel->bad_ms));
        json_object_set_new(o, "bad", b);
    } else {
        json_object_set_new(o, "bad", json_null());
    }
    store_run_release(&run);
    buf_release(&err);
    return o;
}

static json_t *files_json(const struct store_release_file *f, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "path", json_string(f[i].path));
        json_object_set_new(o, "size", json_integer(f[i].size));
        json_object_set_new(o, "digest", json_string(f[i].digest));
        json_object_set_new(o, "mode", json_integer(f[i].mode));
        json_array_append_new(a, o);
    }
    return a;
}

void h_releases(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo repo = {0};
    struct store_release *v = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    long limit, before;
    if (!st || http_query_int(r, "limit", 1, 1000, 50, &limit) ||
        http_query_int(r, "before", 1, LONG_MAX, 0, &before) || api_repo(r, st, &repo))
        goto out;
    if (store_release_list(st, repo.id, before, (size_t)limit, &v, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, release_json(st, &v[i], repo.name));
    json_t *o = json_object();
    json_object_set_new(o, "releases", arr);
    json_object_set_new(o, "next_before",
                        n == (size_t)limit && n ? json_integer(v[n - 1].number) : json_null());
    http_reply_json(r, 200, o);
out:
    store_releases_release(v, n);
    store_repo_release(&repo);
    buf_release(&err);
}

void h_release(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo repo = {0};
    struct store_release rel = {0};
    struct store_release_file *files = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT;
    if (!st || route_release(r, st, &repo, &rel))
        goto out;
    if (store_release_files(st, rel.id, &files, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    json_t *o = release_json(st, &rel, repo.name);
    json_object_set_new(o, "files", files_json(files, n));
    json_error_t jerr;
    json_t *prov = json_loads(rel.provenance, 0, &jerr);
    json_object_set_new(o, "provenance", prov ? prov : json_null());
    http_reply_json(r, 200, o);
out:
    store_release_files_release(files, n);
    store_release_release(&rel);
    store_repo_release(&repo);
    buf_release(&err);
}

/* Hashes the blob of f; 0 when it is whole, else replies 500 and returns -1. */
static int blob_check(struct http_request *r, struct api *a, const struct store_release_file *f,
                      struct buf *path)
{
    char digest[CAS_DIGEST_LEN + 1];
    int64_t size = 0;
    struct buf err = BUF_INIT;
    buf_reset(path);
    buf_addf(path, "%s/cas/sha256/%.2s/%s", a->data_dir, f->digest + 7, f->digest + 7);
    int rc = cas_hash_file(path->data, digest, &size, &err);
    if (rc)
        http_reply_error(r, 500, "missing_blob", "file %s: blob %s cannot be read: %s", f->path,
                         f->digest, err.data);
    else if (strcmp(digest, f->digest) || size != f->size)
        http_reply_error(r, 500, "corrupt_blob",
                         "file %s: blob %s is corrupt: its content hashes to %s (%" PRId64
                         " bytes); it is not served",
                         f->path, f->digest, digest, size);
    buf_release(&err);
    return rc || strcmp(digest, f->digest) || size != f->size ? -1 : 0;
}

/* A content type from a file name's extension. */
static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".tar.gz", "application/gzip"},       {".tgz", "application/gzip"},
        {".gz", "application/gzip"},           {".tar", "application/x-tar"},
        {".zip", "application/zip"},           {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"}, {".html", "text/html; charset=utf-8"},
        {".wasm", "application/wasm"},         {".xz", "application/x-xz"},
        {".zst", "application/zstd"},          {".deb", "application/vnd.debian.binary-package"},
        {".rpm", "application/x-rpm"},         {".jar", "application/java-archive"},
    };
    size_t len = strlen(path);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t el = strlen(types[i].ext);
        if (len > el && !strcmp(path + len - el, types[i].ext))
            return types[i].type;
    }
    return "application/octet-stream";
}

/* A blob streamed from [offset, end). */
struct blobstream {
    int fd;
    uint64_t offset, end;
};

static long blobstream_read(void *ctx, uint64_t pos, char *out, size_t max)
{
    struct blobstream *b = ctx;
    (void)pos;
    if (b->offset >= b->end)
        return HTTP_STREAM_END;
    if (max > b->end - b->offset)
        max = (size_t)(b->end - b->offset);
    ssize_t n = pread(b->fd, out, max, (off_t)b->offset);
    if (n <= 0)
        return HTTP_STREAM_ERROR; /* the blob is immutable: shorter means broken */
    b->offset += (uint64_t)n;
    return n;
}

static void blobstream_free(void *ctx)
{
    struct blobstream *b = ctx;
    if (b->fd >= 0)
        close(b->fd);
    free(b);
}

void h_release_file(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo repo = {0};
    struct store_release rel = {0};
    struct store_release_file *files = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT, blob = BUF_INIT;
    const char *want = http_query(r, "path");
    if (!st)
        goto out;
    if (!want || !*want) {
        http_reply_error(r, 400, "bad_request", "give the file with ?path=");
        goto out;
    }
    if (route_release(r, st, &repo, &rel))
        goto out;
    if (store_release_files(st, rel.id, &files, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    const struct store_release_file *f = NULL;
    for (size_t i = 0; i < n && !f; i++)
        if (!strcmp(files[i].path, want))
            f = &files[i];
    if (!f) {
        http_reply_error(r, 404, "not_found", "release %s has no file '%s'", rel.version, want);
        goto out;
    }
    uint64_t from = 0, to = (uint64_t)f->size;
    const char *range = http_header(r, "Range");
    if (range && api_parse_range(range, (uint64_t)f->size, &from, &to)) {
        char cr[64];
        snprintf(cr, sizeof(cr), "bytes */%" PRId64, f->size);
        http_add_header(r, "Content-Range", cr);
        http_reply_error(r, 416, "bad_range", "cannot serve %s of %" PRId64 " bytes", range,
                         f->size);
        goto out;
    }
    if (blob_check(r, a, f, &blob))
        goto out;
    struct blobstream *bs = xcalloc(1, sizeof(*bs));
    bs->fd = open(blob.data, O_RDONLY | O_CLOEXEC);
    bs->offset = from;
    bs->end = to;
    if (bs->fd < 0) {
        http_reply_error(r, 500, "missing_blob", "blob %s: %s", f->digest, strerror(errno));
        blobstream_free(bs);
        goto out;
    }
    char hdr[160];
    if (range) {
        snprintf(hdr, sizeof(hdr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRId64, from, to - 1, f->size);
        http_add_header(r, "Content-Range", hdr);
    }
    snprintf(hdr, sizeof(hdr), "\"%s\"", f->digest);
    http_add_header(r, "ETag", hdr);
    http_add_header(r, "Accept-Ranges", "bytes");
    http_add_header(r, "X-Flywheel-Digest", f->digest);
    if (to == from) {
        blobstream_free(bs);
        http_reply_text(r, range ? 206 : 200, content_type(f->path), "", 0);
        goto out;
    }
    http_reply_stream(r, range ? 206 : 200, content_type(f->path), blobstream_read, blobstream_free,
                      bs);
out:
    store_release_files_release(files, n);
    store_release_release(&rel);
    store_repo_release(&repo);
    buf_release(&err);
    buf_release(&blob);
}

/* The release.json of a download: the release as the API shows it, without provenance. */
static char *manifest_text(struct store *st, const struct store_release *rel, const char *repo,
                           const struct store_release_file *files, size_t n)
{
    json_t *o = release_json(st, rel, repo);
    json_object_set_new(o, "files", files_json(files, n));
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    size_t len = strlen(s);
    s = xrealloc(s, len + 2);
    s[len] = '\n';
    s[len + 1] = '\0';
    return s;
}

struct archive {
    struct tar_writer *w;
    char *manifest, *key, *prov; /* the entries' in-memory contents */
};

static long archive_read(void *ctx, uint64_t pos, char *out, size_t max)
{
    struct archive *ar = ctx;
    struct buf err = BUF_INIT;
    long n = tar_writer_read(ar->w, pos, out, max, &err);
    if (n < 0)
        fprintf(stderr, "flywheel serve: release archive: %s\n", err.data);
    buf_release(&err);
    return n < 0 ? HTTP_STREAM_ERROR : n == 0 ? HTTP_STREAM_END : n;
}

static void archive_free(void *ctx)
{
    struct archive *ar = ctx;
    tar_writer_free(ar->w);
    free(ar->manifest);
    free(ar->key);
    free(ar->prov);
    free(ar);
}

void h_release_archive(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct store *st = api_store(r, a);
    struct store_repo repo = {0};
    struct store_release rel = {0};
    struct store_release_file *files = NULL;
    size_t n = 0;
    struct buf err = BUF_INIT, blob = BUF_INIT, top = BUF_INIT, pem = BUF_INIT;
    char **names = NULL, **blobs = NULL;
    struct tar_entry *ent = NULL;
    struct archive *ar = NULL;
    if (!st || route_release(r, st, &repo, &rel))
        goto out;
    if (store_release_files(st, rel.id, &files, &n, &err)) {
        http_reply_error(r, 500, "store", "%s", err.data);
        goto out;
    }
    char keyid[ENGINE_KEYID_LEN + 1];
    if (engine_public_key(a->e, &pem, keyid, &err)) {
        http_reply_error(r, 500, "signing_key", "%s", err.data);
        goto out;
    }
    ar = xcalloc(1, sizeof(*ar));
    ar->manifest = manifest_text(st, &rel, repo.name, files, n);
    ar->key = buf_detach(&pem, NULL);
    ar->prov = xstrdup(rel.provenance);
    buf_addf(&top, "%s-%s", repo.name, rel.version);
    int64_t mtime = rel.created_ms / 1000;
    ent = xcalloc(n + 3, sizeof(*ent));
    names = xcalloc(n + 3, sizeof(*names));
    blobs = xcalloc(n + 1, sizeof(*blobs));
    const char *meta[3][2] = {{"release.json", ar->manifest},
                              {"provenance.json", ar->prov},
                              {"signing-key.pem", ar->key}};
    for (int i = 0; i < 3; i++) {
        struct buf nm = BUF_INIT;
        buf_addf(&nm, "%s/%s", top.data, meta[i][0]);
        names[i] = buf_detach(&nm, NULL);
        ent[i].name = names[i];
        ent[i].data = meta[i][1];
        ent[i].size = strlen(meta[i][1]);
        ent[i].mode = 0644;
        ent[i].mtime = mtime;
    }
    for (size_t i = 0; i < n; i++) {
        if (blob_check(r, a, &files[i], &blob))
            goto out;
        struct buf nm = BUF_INIT;
        buf_addf(&nm, "%s/files/%s", top.data, files[i].path);
        names[i + 3] = buf_detach(&nm, NULL);
        blobs[i] = xstrdup(blob.data);
        ent[i + 3].name = names[i + 3];
        ent[i + 3].src = blobs[i];
        ent[i + 3].size = (uint64_t)files[i].size;
        ent[i + 3].mode = files[i].mode & 0111 ? 0755 : 0644;
        ent[i + 3].mtime = mtime;
    }
    if (tar_writer_new(&ar->w, ent, n + 3, &err)) {
        http_reply_error(r, 500, "archive", "%s", err.data);
        goto out;
    }
    char disp[512];
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s.tar\"", top.data);
    http_add_header(r, "Content-Disposition", disp);
    http_reply_stream(r, 200, "application/x-tar", archive_read, archive_free, ar);
    ar = NULL;
out:
    if (ar)
        archive_free(ar);
    for (size_t i = 0; names && i < n + 3; i++)
        free(names[i]);
    for (size_t i = 0; blobs && i < n; i++)
        free(blobs[i]);
    free(names);
    free(blobs);
    free(ent);
    store_release_files_release(files, n);
    store_release_release(&rel);
    store_repo_release(&repo);
    buf_release(&err);
    buf_release(&blob);
    buf_release(&top);
    buf_release(&pem);
}

static void mark(struct http_request *r, struct api *a, bool bad)
{
    struct engine_request q = {0};
    json_t *body = NULL;
    q.op = ENGINE_RELEASE_MARK;
    q.name = http_param(r, "name");
    q.version = http_param(r, "version");
    if (bad) {
        body = http_body_json(r);
        if (!body)
            return;
        json_t *reason = json_object_get(body, "reason");
        if (!json_is_string(reason) || !*json_string_value(reason)) {
            http_reply_error(r, 400, "bad_request",
                             "say why the release is bad: {\"reason\": \"...\"}");
            json_decref(body);
            return;
        }
        if (strlen(json_string_value(reason)) > 1000) {
            http_reply_error(r, 400, "bad_request", "'reason' is longer than 1000 bytes");
            json_decref(body);
            return;
        }
        q.reason = json_string_value(reason);
    }
    api_call_engine(r, a, &q);
    json_decref(body);
}

void h_release_bad(struct http_request *r, void *ctx)
{
    mark(r, ctx, true);
}

void h_release_good(struct http_request *r, void *ctx)
{
    mark(r, ctx, false);
}

void h_signing_key(struct http_request *r, void *ctx)
{
    struct api *a = ctx;
    struct buf pem = BUF_INIT;
    char keyid[ENGINE_KEYID_LEN + 1];
    struct buf err = BUF_INIT;
    if (engine_public_key(a->e, &pem, keyid, &err)) {
        http_reply_error(r, 500, "signing_key", "%s", err.data);
        buf_release(&err);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "algorithm", json_string("ed25519"));
    json_object_set_new(o, "keyid", json_string(keyid));
    json_object_set_new(o, "public_key", json_string(pem.data));
    http_reply_json(r, 200, o);
    buf_release(&pem);
}
