#include "engine/releaser.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/provenance.h"
#include "core/refs.h"
#include "store/release.h"
#include "util/crypto.h"
#include "util/xalloc.h"

#ifndef FLYWHEEL_VERSION
#define FLYWHEEL_VERSION "0.1.0"
#endif

int releaser_wanted(const struct pipeline *p, const char *kind, const bool *selected)
{
    if (!p->release.present || (strcmp(kind, "main") && strcmp(kind, "tag")))
        return 0;
    for (size_t i = 0; i < p->release.nfrom; i++)
        if (selected && !selected[p->release.from_idx[i]])
            return 0;
    return 1;
}

static void digest_of(const char *data, size_t len, struct buf *out)
{
    char hex[2 * SHA256_LEN + 1];
    sha256_hex(data, len, hex);
    buf_adds(out, "sha256:");
    buf_adds(out, hex);
}

static int file_cmp(const void *a, const void *b)
{
    return strcmp(((const struct store_release_file *)a)->path,
                  ((const struct store_release_file *)b)->path);
}

struct fill_ctx {
    const struct releaser_input *in;
    const struct store_run *run;
    const struct store_release_file *files;
    size_t nfiles;
};

/* Inside the insert's transaction: the version (it may name the number) and
 * the signed provenance (which names the version). */
static int fill(void *ctx, struct store *st, struct store_release *r, struct buf *err)
{
    struct fill_ctx *fc = ctx;
    const struct releaser_input *in = fc->in;
    const struct pipeline *p = in->pipeline;
    const char *tag = refs_tag(fc->run->ref);
    const char *pattern = p->release.version;
    if (tag && !p->release.version_given)
        pattern = "{tag}";
    struct prov_version_fields vf = {
        .n = r->number,
        .sha = fc->run->commit,
        .tag = tag ? tag : "",
        .branch = refs_branch(fc->run->ref) ? refs_branch(fc->run->ref) : "",
        .now_ms = r->created_ms,
    };
    struct buf version = BUF_INIT, why = BUF_INIT;
    int rc = prov_version(pattern, &vf, &version, &why);
    if (rc) {
        /* a pattern with nothing to say for this run ({tag} on a main run): the default */
        buf_reset(&version);
        buf_release(&why);
        rc = prov_version("r{n}", &vf, &version, err);
        if (rc) {
            buf_release(&version);
            return rc;
        }
    }
    buf_release(&why);
    /* A tag moved and run again names the same version: the number keeps it unique. */
    int taken = store_release_version_taken(st, r->repo_id, version.data, err);
    if (taken < 0) {
        buf_release(&version);
        return -EIO;
    }
    if (taken || !version.len)
        buf_addf(&version, "%sr%lld", version.len ? "-" : "", (long long)r->number);
    r->version = buf_detach(&version, NULL);

    struct prov_file *pf = xcalloc(fc->nfiles + 1, sizeof(*pf));
    for (size_t i = 0; i < fc->nfiles; i++) {
        pf[i].path = fc->files[i].path;
        pf[i].digest = fc->files[i].digest;
        pf[i].size = fc->files[i].size;
        pf[i].mode = fc->files[i].mode;
    }
    const char **jobs = xcalloc(p->release.nfrom + 1, sizeof(*jobs));
    for (size_t i = 0; i < p->release.nfrom; i++)
        jobs[i] = p->jobs[p->release.from_idx[i]].name;
    char keyid[SIGN_KEYID_LEN + 1];
    sign_key_id(in->key, keyid);
    struct buf builder = BUF_INIT, statement = BUF_INIT, envelope = BUF_INIT;
    buf_addf(&builder, "urn:flywheel:server:%s", keyid);
    struct prov_input pi = {
        .repo = in->repo,
        .repo_url = in->repo_url,
        .ref = fc->run->ref,
        .kind = fc->run->kind,
        .commit = fc->run->commit,
        .version = r->version,
        .pipeline_path = PIPELINE_FILE,
        .pipeline_digest = r->pipeline_digest,
        .builder_id = builder.data,
        .builder_version = FLYWHEEL_VERSION,
        .run_id = fc->run->id,
        .run_number = fc->run->number,
        .started_ms = fc->run->started_ms,
        .finished_ms = fc->run->finished_ms,
        .jobs = jobs,
        .njobs = p->release.nfrom,
        .files = pf,
        .nfiles = fc->nfiles,
    };
    prov_statement(&pi, &statement);
    rc = prov_sign(in->key, statement.data, statement.len, &envelope, err);
    if (!rc)
        r->provenance = buf_detach(&envelope, NULL);
    buf_release(&builder);
    buf_release(&statement);
    buf_release(&envelope);
    free(jobs);
    free(pf);
    return rc;
}

/* The artifacts of the release jobs, named as the header says; 0, or 1 when a
 * job did not pass (no release), or a negative code. */
static int collect(struct store *st, const struct releaser_input *in,
                   struct store_release_file **out, size_t *nout, struct buf *err)
{
    const struct pl_release *rel = &in->pipeline->release;
    struct store_release_file *files = NULL;
    size_t n = 0, alloc = 0;
    int ret = 0;
    for (size_t i = 0; i < rel->nfrom && !ret; i++) {
        const char *name = in->pipeline->jobs[rel->from_idx[i]].name;
        struct store_job j = {0};
        struct store_artifact *a = NULL;
        size_t na = 0;
        ret = store_job_find(st, in->run_id, name, &j, err);
        if (ret == -ENOENT || (!ret && strcmp(j.state, "passed"))) {
            ret = 1;
        } else if (!ret) {
            ret = store_artifact_list(st, j.id, &a, &na, err);
            for (size_t k = 0; k < na && !ret; k++) {
                if (n == alloc) {
                    alloc = alloc ? 2 * alloc : 16;
                    files = xrealloc(files, alloc * sizeof(*files));
                }
                struct buf path = BUF_INIT;
                if (rel->nfrom > 1)
                    buf_addf(&path, "%s/", name);
                buf_adds(&path, a[k].path);
                files[n].path = buf_detach(&path, NULL);
                files[n].digest = xstrdup(a[k].digest);
                files[n].size = a[k].size;
                files[n].mode = a[k].mode;
                n++;
            }
            store_artifacts_release(a, na);
        }
        store_job_release(&j);
    }
    if (ret) {
        store_release_files_release(files, n);
        return ret;
    }
    qsort(files, n, sizeof(*files), file_cmp);
    *out = files;
    *nout = n;
    return 0;
}

int releaser_make(struct store *st, const struct releaser_input *in, int64_t *release_id,
                  struct buf *err)
{
    struct store_run run = {0};
    struct store_release_file *files = NULL;
    size_t nfiles = 0;
    int ret = store_run_get(st, in->run_id, &run, err);
    if (ret)
        return ret;
    struct store_release existing = {0};
    ret = store_release_get_run(st, in->run_id, &existing, err);
    if (ret != -ENOENT) {
        /* made before a crash cleared the flag (or an error) */
        store_release_release(&existing);
        if (!ret)
            ret = store_run_set_release_pending(st, in->run_id, false, err);
        store_run_release(&run);
        return ret;
    }
    ret = 0;
    if (strcmp(run.state, "passed") || !releaser_wanted(in->pipeline, run.kind, NULL))
        goto none;
    ret = collect(st, in, &files, &nfiles, err);
    if (ret < 0)
        goto out;
    if (ret == 1)
        goto none;

    struct store_release r = {0};
    struct buf digest = BUF_INIT;
    digest_of(in->pipeline_src, in->pipeline_len, &digest);
    r.repo_id = run.repo_id;
    r.run_id = run.id;
    r.commit = run.commit;
    r.ref = run.ref;
    r.pipeline_digest = digest.data;
    struct buf text = BUF_INIT;
    buf_add(&text, in->pipeline_src, in->pipeline_len);
    r.pipeline = text.data;
    r.created_ms = store_now_ms();
    struct fill_ctx fc = {in, &run, files, nfiles};
    int64_t id = store_release_insert(st, &r, files, nfiles, fill, &fc, err);
    buf_release(&digest);
    buf_release(&text);
    free(r.version);
    free(r.provenance);
    if (id < 0) {
        ret = -EIO;
        goto out;
    }
    *release_id = id;
    ret = 1;
    goto out;
none:
    ret = store_run_set_release_pending(st, in->run_id, false, err);
out:
    store_release_files_release(files, nfiles);
    store_run_release(&run);
    return ret;
}
