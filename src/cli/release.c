/*
 * flywheel releases / flywheel release show|download|verify|bad|good: the
 * command line's side of the release routes (docs/api.md, "Releases").
 *
 * A downloaded release is a directory (or the tar archive the server sends,
 * which holds the same under one top directory):
 *
 *     release.json      the release and its manifest (path, size, digest, mode)
 *     provenance.json   the signed in-toto statement (a DSSE envelope)
 *     signing-key.pem   the server's public key
 *     files/...         the release's files
 *
 * `release verify` needs no server: it checks the provenance's signature
 * (with --key, or the key in the release, whose id it prints so that it can
 * be compared with the server's), that the provenance and the manifest
 * agree, and that every file has its digest, with none missing or extra.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "core/provenance.h"
#include "store/cas.h"
#include "store/sign.h"
#include "util/buf.h"
#include "util/crypto.h"
#include "util/fileio.h"
#include "util/tar.h"
#include "util/xalloc.h"

/* release.json, provenance.json and the key are small; a larger one is not a release. */
#define META_MAX (16u << 20)

static const char releases_usage[] =
    "usage: flywheel releases REPO [--limit N] [--json] [--server URL]\n"
    "\n"
    "Lists a repository's releases, newest first: version, commit, run, age, and\n"
    "whether it was deployed or is marked bad.\n";

static const char release_usage[] =
    "usage: flywheel release show REPO VERSION [--json] [--server URL]\n"
    "       flywheel release download REPO VERSION [-o DIR | --tar FILE] [--server URL]\n"
    "       flywheel release verify DIR|FILE.tar [--key PEM] [--json]\n"
    "       flywheel release bad REPO VERSION --reason TEXT [--server URL]\n"
    "       flywheel release good REPO VERSION [--server URL]\n"
    "\n"
    "show:     the release, its files with sizes and digests, and its provenance.\n"
    "download: the release's files, manifest, signed provenance and the server's\n"
    "          public key into DIR (default REPO-VERSION), or the archive as is.\n"
    "verify:   offline: the provenance's signature (by --key, default the key in\n"
    "          the release), the manifest against the provenance, and every\n"
    "          file's digest. Exit 0 when all hold, 1 when something does not.\n"
    "bad:      refuse the release for every promotion, with a reason; good undoes it.\n";

static struct client *connect_to(const char *server, const char *what)
{
    struct client *c;
    struct buf err = BUF_INIT;
    if (client_open(&c, client_server_url(server), &err)) {
        fprintf(stderr, "flywheel %s: %s\n", what, err.data);
        buf_release(&err);
        return NULL;
    }
    return c;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

static int64_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void release_path(struct buf *path, const char *repo, const char *version)
{
    buf_adds(path, "/api/v1/repos");
    client_path_add(path, repo);
    buf_adds(path, "/releases");
    if (version)
        client_path_add(path, version);
}

static void age(int64_t ms, struct buf *out)
{
    int64_t s = ((int64_t)time(NULL) * 1000 - ms) / 1000;
    if (s < 0)
        s = 0;
    if (s < 120)
        buf_addf(out, "%llds ago", (long long)s);
    else if (s < 7200)
        buf_addf(out, "%lldm ago", (long long)(s / 60));
    else if (s < 172800)
        buf_addf(out, "%lldh ago", (long long)(s / 3600));
    else
        buf_addf(out, "%lldd ago", (long long)(s / 86400));
}

static void status_word(json_t *rel, struct buf *out)
{
    json_t *bad = json_object_get(rel, "bad");
    if (json_is_object(bad))
        buf_addf(out, "bad: %s", jstr(bad, "reason"));
    else if (jint(rel, "deployed_ms"))
        buf_adds(out, "deployed");
    else
        buf_adds(out, "-");
}

static int call(struct client *c, const char *what, const char *method, const char *path,
                json_t *body, json_t **reply)
{
    struct buf err = BUF_INIT;
    int rc = client_call(c, method, path, body, reply, &err);
    if (rc)
        fprintf(stderr, "flywheel %s: %s\n", what, err.data);
    buf_release(&err);
    return rc;
}

int cmd_releases(int argc, char **argv)
{
    struct cli_opts o;
    int rc = 0;
    if (cli_opts_args(argc, argv, releases_usage, 1, &o, &rc))
        return rc;
    struct client *c = connect_to(o.server, "releases");
    if (!c)
        return 2;
    struct buf path = BUF_INIT, num = BUF_INIT;
    json_t *reply = NULL;
    release_path(&path, argv[optind], NULL);
    buf_addf(&num, "%ld", o.limit);
    client_query_add(&path, "limit", num.data);
    rc = call(c, "releases", "GET", path.data, NULL, &reply);
    if (!rc && o.json) {
        client_print_json(stdout, reply);
    } else if (!rc) {
        json_t *v = json_object_get(reply, "releases");
        size_t i;
        json_t *rel;
        if (!json_array_size(v))
            printf("no releases of %s yet\n", argv[optind]);
        else
            printf("%-20s %-12s %-6s %-10s %s\n", "VERSION", "COMMIT", "RUN", "MADE", "STATUS");
        json_array_foreach(v, i, rel)
        {
            struct buf when = BUF_INIT, st = BUF_INIT;
            age(jint(rel, "created_ms"), &when);
            status_word(rel, &st);
            printf("%-20s %-12.12s #%-5" PRId64 " %-10s %s\n", jstr(rel, "version"),
                   jstr(rel, "commit"), jint(json_object_get(rel, "run"), "number"), when.data,
                   st.data);
            buf_release(&when);
            buf_release(&st);
        }
    }
    json_decref(reply);
    buf_release(&path);
    buf_release(&num);
    client_free(c);
    return client_exit_code(rc);
}

static int release_show(struct client *c, const struct cli_opts *o, const char *repo,
                        const char *version)
{
    struct buf path = BUF_INIT;
    json_t *rel = NULL;
    release_path(&path, repo, version);
    int rc = call(c, "release show", "GET", path.data, NULL, &rel);
    buf_release(&path);
    if (rc)
        return client_exit_code(rc);
    if (o->json) {
        client_print_json(stdout, rel);
        json_decref(rel);
        return 0;
    }
    struct buf when = BUF_INIT, st = BUF_INIT;
    age(jint(rel, "created_ms"), &when);
    status_word(rel, &st);
    json_t *run = json_object_get(rel, "run");
    printf("release %s of %s (#%" PRId64 ")\n", jstr(rel, "version"), repo, jint(rel, "number"));
    printf("  commit    %s (%s)\n", jstr(rel, "commit"), jstr(rel, "ref"));
    printf("  run       #%" PRId64 " (id %" PRId64 ", %s)\n", jint(run, "number"), jint(run, "id"),
           jstr(run, "kind"));
    printf("  made      %s\n", when.data);
    printf("  pipeline  %s\n", jstr(rel, "pipeline_digest"));
    printf("  status    %s\n", st.data);
    json_t *prov = json_object_get(rel, "provenance");
    json_t *sigs = json_object_get(prov, "signatures");
    printf("  signed by %s\n", jstr(json_array_get(sigs, 0), "keyid"));
    json_t *files = json_object_get(rel, "files");
    printf("\n  %-40s %12s  %s\n", "FILE", "SIZE", "DIGEST");
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        printf("  %-40s %12" PRId64 "  %s\n", jstr(f, "path"), jint(f, "size"), jstr(f, "digest"));
    }
    buf_release(&when);
    buf_release(&st);
    json_decref(rel);
    return 0;
}

/* Creates the parent directories of path (relative to dirfd's directory). */
static int mkdirs_for(const char *path)
{
    char *p = xstrdup(path);
    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(p, 0755) && errno != EEXIST) {
            free(p);
            return -errno;
        }
        *s = '/';
    }
    free(p);
    return 0;
}

/* Extracts the archive at fd into dir, dropping its top directory. */
static int extract(int fd, const char *dir, struct buf *err)
{
    struct tar_reader *tr = NULL;
    struct tar_header h;
    struct buf path = BUF_INIT;
    char *chunk = xmalloc(1 << 16);
    int rc = 0;
    tar_reader_open(&tr, fd);
    while (!rc && (rc = tar_reader_next(tr, &h, err)) == 1) {
        rc = 0;
        const char *rest = strchr(h.name, '/');
        if (!rest || !rest[1])
            continue; /* the top directory itself */
        buf_reset(&path);
        buf_addf(&path, "%s/%s", dir, rest + 1);
        if (h.type == TAR_DIR) {
            if (mkdirs_for(path.data) || (mkdir(path.data, 0755) && errno != EEXIST)) {
                buf_addf(err, "cannot create %s: %s", path.data, strerror(errno));
                rc = -1;
            }
            continue;
        }
        if (mkdirs_for(path.data)) {
            buf_addf(err, "cannot create the directories of %s: %s", path.data, strerror(errno));
            rc = -1;
            break;
        }
        int out = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       h.mode & 0111 ? 0755 : 0644);
        if (out < 0) {
            buf_addf(err, "cannot create %s: %s", path.data, strerror(errno));
            rc = -1;
            break;
        }
        long n;
        while ((n = tar_reader_read(tr, chunk, 1 << 16, err)) > 0) {
            if (file_write_all(out, chunk, (size_t)n)) {
                buf_addf(err, "cannot write %s: %s", path.data, strerror(errno));
                n = -1;
                break;
            }
        }
        if (close(out) && n == 0) {
            buf_addf(err, "cannot write %s: %s", path.data, strerror(errno));
            n = -1;
        }
        if (n < 0)
            rc = -1;
    }
    if (rc > 0)
        rc = 0;
    if (tr)
        tar_reader_free(tr);
    free(chunk);
    buf_release(&path);
    return rc;
}

static int release_download(struct client *c, const struct cli_opts *o, const char *repo,
                            const char *version)
{
    struct buf path = BUF_INIT, dir = BUF_INIT, tmp = BUF_INIT, err = BUF_INIT;
    int rc = 2;
    release_path(&path, repo, version);
    buf_adds(&path, "/archive");
    if (o->out)
        buf_adds(&dir, o->out);
    else
        buf_addf(&dir, "%s-%s", repo, version);
    if (o->tar)
        buf_adds(&tmp, o->tar);
    else
        buf_addf(&tmp, "%s.tar.part", dir.data);
    if (!o->tar && mkdir(dir.data, 0755)) {
        fprintf(stderr, "flywheel release download: cannot create %s: %s\n", dir.data,
                strerror(errno));
        goto out;
    }
    FILE *f = fopen(tmp.data, o->tar ? "wbx" : "w+bx");
    if (!f) {
        fprintf(stderr, "flywheel release download: cannot create %s: %s\n", tmp.data,
                strerror(errno));
        goto out;
    }
    int crc = client_get_copy(c, path.data, f, &err);
    if (crc) {
        fprintf(stderr, "flywheel release download: %s\n", err.data);
        fclose(f);
        unlink(tmp.data);
        if (!o->tar)
            rmdir(dir.data);
        rc = client_exit_code(crc);
        goto out;
    }
    if (o->tar) {
        rc = fclose(f) ? 2 : 0;
        if (!rc)
            printf("%s\n", tmp.data);
        goto out;
    }
    fflush(f);
    int fd = fileno(f);
    lseek(fd, 0, SEEK_SET);
    rc = extract(fd, dir.data, &err) ? 2 : 0;
    fclose(f);
    unlink(tmp.data);
    if (rc)
        fprintf(stderr, "flywheel release download: %s\n", err.data);
    else
        printf("%s\n", dir.data);
out:
    buf_release(&path);
    buf_release(&dir);
    buf_release(&tmp);
    buf_release(&err);
    return rc;
}

/* ---- verify ------------------------------------------------------------------ */

/* What a release holds, read from a directory or an archive. */
struct seen {
    struct buf manifest, provenance, key;
    struct prov_file *files; /* the files found, with the digests computed here */
    size_t n, alloc;
};

static void seen_add(struct seen *s, const char *path, const char *digest, int64_t size, int mode)
{
    if (s->n == s->alloc) {
        s->alloc = s->alloc ? 2 * s->alloc : 16;
        s->files = xrealloc(s->files, s->alloc * sizeof(*s->files));
    }
    s->files[s->n].path = xstrdup(path);
    s->files[s->n].digest = xstrdup(digest);
    s->files[s->n].size = size;
    s->files[s->n].mode = mode;
    s->n++;
}

static void seen_release(struct seen *s)
{
    buf_release(&s->manifest);
    buf_release(&s->provenance);
    buf_release(&s->key);
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->files[i].path);
        free((char *)s->files[i].digest);
    }
    free(s->files);
}

static void hex_digest(const unsigned char *md, unsigned len, char *out)
{
    memcpy(out, "sha256:", 7);
    crypto_hex(md, len, out + 7);
}

static int read_archive(const char *file, struct seen *s, struct buf *err)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        buf_addf(err, "cannot open %s: %s", file, strerror(errno));
        return -1;
    }
    struct tar_reader *tr = NULL;
    struct tar_header h;
    char *chunk = xmalloc(1 << 16);
    int rc = 0;
    tar_reader_open(&tr, fd);
    struct sha256 md;
    while (!rc && (rc = tar_reader_next(tr, &h, err)) == 1) {
        rc = 0;
        const char *rest = strchr(h.name, '/');
        if (h.type == TAR_DIR || !rest)
            continue;
        rest++;
        struct buf *meta = !strcmp(rest, "release.json")      ? &s->manifest
                           : !strcmp(rest, "provenance.json") ? &s->provenance
                           : !strcmp(rest, "signing-key.pem") ? &s->key
                                                              : NULL;
        bool content = !strncmp(rest, "files/", 6) && rest[6];
        if (!meta && !content) {
            buf_addf(err, "unexpected entry %s in the archive", h.name);
            rc = -1;
            break;
        }
        if (meta && h.size > META_MAX) {
            buf_addf(err, "%s is too large (%" PRIu64 " bytes)", h.name, (uint64_t)h.size);
            rc = -1;
            break;
        }
        sha256_init(&md);
        long n;
        int64_t total = 0;
        while ((n = tar_reader_read(tr, chunk, 1 << 16, err)) > 0) {
            if (meta)
                buf_add(meta, chunk, (size_t)n);
            else
                sha256_update(&md, chunk, (size_t)n);
            total += n;
        }
        if (n < 0) {
            rc = -1;
            break;
        }
        if (content) {
            unsigned char d[SHA256_LEN];
            char hex[80];
            sha256_final(&md, d);
            hex_digest(d, sizeof(d), hex);
            seen_add(s, rest + 6, hex, total, h.mode);
        }
    }
    if (rc > 0)
        rc = 0;
    if (tr)
        tar_reader_free(tr);
    free(chunk);
    close(fd);
    return rc;
}

/* nftw has no context argument: the walk in progress. */
static struct seen *walk_seen;
static size_t walk_prefix;
static struct buf *walk_err;

static int walk_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_D || type == FTW_DP)
        return 0;
    if (type != FTW_F || !S_ISREG(sb->st_mode)) {
        buf_addf(walk_err, "%s is not a regular file", path);
        return 1;
    }
    char digest[80];
    int64_t size = 0;
    struct buf e = BUF_INIT;
    /* reuse the store's hashing: the same SHA-256, read once, streaming */
    if (cas_hash_file(path, digest, &size, &e)) {
        buf_addf(walk_err, "%s", e.data);
        buf_release(&e);
        return 1;
    }
    seen_add(walk_seen, path + walk_prefix, digest, size, (int)(sb->st_mode & 0777));
    return 0;
}

static int read_meta(const char *dir, const char *name, struct buf *out, struct buf *err)
{
    struct buf path = BUF_INIT;
    buf_addf(&path, "%s/%s", dir, name);
    int rc = file_read(path.data, META_MAX, out, err);
    buf_release(&path);
    return rc;
}

static int read_dir(const char *dir, struct seen *s, struct buf *err)
{
    if (read_meta(dir, "release.json", &s->manifest, err) ||
        read_meta(dir, "provenance.json", &s->provenance, err))
        return -1;
    struct buf e = BUF_INIT;
    if (read_meta(dir, "signing-key.pem", &s->key, &e))
        buf_reset(&s->key); /* --key may be given */
    buf_release(&e);
    struct buf files = BUF_INIT;
    buf_addf(&files, "%s/files", dir);
    struct stat st;
    int rc = 0;
    if (lstat(files.data, &st) == 0) {
        walk_seen = s;
        walk_prefix = files.len + 1;
        walk_err = err;
        rc = nftw(files.data, walk_one, 16, FTW_PHYS) ? -1 : 0;
    }
    buf_release(&files);
    return rc;
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(((const struct prov_file *)a)->path, ((const struct prov_file *)b)->path);
}

/* The checks of `release verify`; 0 when everything holds, else err says what does not. */
static int verify(const char *target, const char *keyfile, json_t **summary, struct buf *err)
{
    struct seen s = {BUF_INIT, BUF_INIT, BUF_INIT, NULL, 0, 0};
    struct sign_pub *pub = NULL;
    struct prov_file *man = NULL;
    size_t nman = 0;
    json_t *m = NULL;
    struct buf statement = BUF_INIT;
    int rc = -1;
    struct stat st;
    if (stat(target, &st)) {
        buf_addf(err, "cannot read %s: %s", target, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode) ? read_dir(target, &s, err) : read_archive(target, &s, err))
        goto out;
    if (keyfile) {
        buf_reset(&s.key);
        if (file_read(keyfile, META_MAX, &s.key, err))
            goto out;
    }
    if (!s.manifest.len || !s.provenance.len) {
        buf_addf(err, "%s has no %s", target, s.manifest.len ? "provenance.json" : "release.json");
        goto out;
    }
    if (!s.key.len) {
        buf_addf(err, "no public key: give one with --key");
        goto out;
    }
    if (sign_pub_from_pem(&pub, s.key.data, s.key.len, err))
        goto out;
    json_error_t je;
    m = json_loadb(s.manifest.data, s.manifest.len, 0, &je);
    json_t *files = json_object_get(m, "files");
    if (!json_is_array(files)) {
        buf_addf(err, "release.json is not a release manifest (%s)", m ? "no files" : je.text);
        goto out;
    }
    nman = json_array_size(files);
    man = xcalloc(nman + 1, sizeof(*man));
    for (size_t i = 0; i < nman; i++) {
        json_t *f = json_array_get(files, i);
        man[i].path = jstr(f, "path");
        man[i].digest = jstr(f, "digest");
        man[i].size = jint(f, "size");
        man[i].mode = (int)jint(f, "mode");
    }
    if (prov_open(pub, s.provenance.data, s.provenance.len, &statement, err) ||
        prov_check_files(statement.data, statement.len, jstr(m, "commit"), jstr(m, "version"), man,
                         nman, err))
        goto out;
    /* The files themselves against the (now trusted) manifest. */
    qsort(s.files, s.n, sizeof(*s.files), path_cmp);
    for (size_t i = 0; i < nman; i++) {
        struct prov_file key = {.path = man[i].path};
        struct prov_file *got =
            s.n ? bsearch(&key, s.files, s.n, sizeof(*s.files), path_cmp) : NULL;
        if (!got) {
            buf_addf(err, "file %s is missing", man[i].path);
            goto out;
        }
        if (strcmp(got->digest, man[i].digest) || got->size != man[i].size) {
            buf_addf(err,
                     "file %s: its content hashes to %s (%" PRId64
                     " bytes), the release says %s (%" PRId64 " bytes)",
                     man[i].path, got->digest, got->size, man[i].digest, man[i].size);
            goto out;
        }
    }
    if (s.n != nman) {
        for (size_t i = 0; i < s.n; i++) {
            bool known = false;
            for (size_t k = 0; k < nman && !known; k++)
                known = !strcmp(man[k].path, s.files[i].path);
            if (!known) {
                buf_addf(err, "file %s is not part of the release", s.files[i].path);
                goto out;
            }
        }
    }
    char keyid[SIGN_KEYID_LEN + 1];
    sign_pub_id(pub, keyid);
    *summary = json_object();
    json_object_set_new(*summary, "version", json_string(jstr(m, "version")));
    json_object_set_new(*summary, "repo", json_string(jstr(m, "repo")));
    json_object_set_new(*summary, "commit", json_string(jstr(m, "commit")));
    json_object_set_new(*summary, "files", json_integer((json_int_t)nman));
    json_object_set_new(*summary, "keyid", json_string(keyid));
    json_object_set_new(*summary, "key_from_release", json_boolean(!keyfile));
    rc = 0;
out:
    free(man);
    json_decref(m);
    if (pub)
        sign_pub_free(pub);
    buf_release(&statement);
    seen_release(&s);
    return rc;
}

static int release_verify(const struct cli_opts *o, const char *target)
{
    struct buf err = BUF_INIT;
    json_t *sum = NULL;
    int rc = verify(target, o->key, &sum, &err);
    if (rc) {
        if (o->json) {
            json_t *j = json_object();
            json_object_set_new(j, "ok", json_false());
            json_object_set_new(j, "error", json_string(err.data));
            client_print_json(stdout, j);
            json_decref(j);
        }
        fprintf(stderr, "flywheel release verify: %s: %s\n", target, err.data);
        buf_release(&err);
        return 1;
    }
    if (o->json) {
        json_object_set_new(sum, "ok", json_true());
        client_print_json(stdout, sum);
    } else {
        printf("release %s of %s (commit %.12s): %" PRId64
               " files, every digest matches; provenance signed by %s%s\n",
               jstr(sum, "version"), jstr(sum, "repo"), jstr(sum, "commit"), jint(sum, "files"),
               jstr(sum, "keyid"),
               o->key ? "" : " (the key shipped with the release: compare it with the server's)");
    }
    json_decref(sum);
    buf_release(&err);
    return 0;
}

static int release_mark(struct client *c, const struct cli_opts *o, const char *repo,
                        const char *version, bool bad)
{
    struct buf path = BUF_INIT;
    json_t *body = NULL, *reply = NULL;
    release_path(&path, repo, version);
    buf_adds(&path, "/bad");
    if (bad)
        body = json_pack("{s:s}", "reason", o->reason);
    int rc = call(c, bad ? "release bad" : "release good", bad ? "POST" : "DELETE", path.data, body,
                  &reply);
    if (!rc) {
        if (o->json)
            client_print_json(stdout, reply);
        else if (bad)
            printf("release %s of %s is marked bad: %s\n", version, repo, o->reason);
        else
            printf("release %s of %s is good again\n", version, repo);
    }
    json_decref(body);
    json_decref(reply);
    buf_release(&path);
    return client_exit_code(rc);
}

int cmd_release(int argc, char **argv)
{
    struct cli_opts o;
    int rc = 0;
    if (cli_opts_parse(argc, argv, release_usage, &o, &rc))
        return rc;
    int nargs = argc - optind;
    const char *sub = nargs ? argv[optind] : "";
    if (!strcmp(sub, "verify")) {
        if (nargs != 2) {
            fputs(release_usage, stderr);
            return 2;
        }
        return release_verify(&o, argv[optind + 1]);
    }
    bool show = !strcmp(sub, "show"), dl = !strcmp(sub, "download"), bad = !strcmp(sub, "bad"),
         good = !strcmp(sub, "good");
    if ((!show && !dl && !bad && !good) || nargs != 3 || (bad && !o.reason) ||
        (dl && o.out && o.tar)) {
        if (bad && !o.reason && nargs == 3)
            fprintf(stderr, "flywheel release bad: say why with --reason TEXT\n");
        else
            fputs(release_usage, stderr);
        return 2;
    }
    struct client *c = connect_to(o.server, "release");
    if (!c)
        return 2;
    const char *repo = argv[optind + 1], *version = argv[optind + 2];
    if (show)
        rc = release_show(c, &o, repo, version);
    else if (dl)
        rc = release_download(c, &o, repo, version);
    else
        rc = release_mark(c, &o, repo, version, bad);
    client_free(c);
    return rc;
}
