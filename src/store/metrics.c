#include "store/metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/xalloc.h"

/* ---- strings ---- */

/* A copy of column i, kept with the records. Short strings that repeat (states,
 * environments, job names) are kept once: the last 16 distinct ones are looked up. */
static const char *col(struct store_strings *ss, sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    if (!t)
        t = "";
    size_t lo = ss->n > 16 ? ss->n - 16 : 0;
    for (size_t k = ss->n; k-- > lo;)
        if (!strcmp(ss->v[k], t))
            return ss->v[k];
    ALLOC_GROW(ss->v, ss->n + 1, ss->alloc);
    ss->v[ss->n] = xstrdup(t);
    return ss->v[ss->n++];
}

static void strings_release(struct store_strings *ss)
{
    for (size_t i = 0; i < ss->n; i++)
        free(ss->v[i]);
    free(ss->v);
    memset(ss, 0, sizeof(*ss));
}

/* Steps s to its end, calling row(ctx, s) for each row; finalizes s. */
static int each_row(struct store *st, sqlite3_stmt *s, void *ctx,
                    void (*row)(void *ctx, sqlite3_stmt *s), struct buf *err, const char *what)
{
    if (!s)
        return -EIO;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        row(ctx, s);
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "%s", what);
    sqlite3_finalize(s);
    return ret;
}

/* ---- stages ---- */

struct stages_ctx {
    struct store_stages *out;
    size_t arel, adeps, aev;
};

static void release_row(void *p, sqlite3_stmt *s)
{
    struct stages_ctx *c = p;
    ALLOC_GROW(c->out->rel, c->out->nrel + 1, c->arel);
    struct stage_release *r = &c->out->rel[c->out->nrel++];
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(s, 0);
    r->version = col(&c->out->strings, s, 1);
    r->created_ms = sqlite3_column_int64(s, 2);
    r->run_created_ms = sqlite3_column_int64(s, 3);
    r->run_finished_ms = sqlite3_column_int64(s, 4);
    r->change_created_ms = sqlite3_column_int64(s, 5);
    r->change_finished_ms = sqlite3_column_int64(s, 6);
}

static void stage_deployment_row(void *p, sqlite3_stmt *s)
{
    struct stages_ctx *c = p;
    ALLOC_GROW(c->out->deps, c->out->ndeps + 1, c->adeps);
    struct stage_deployment *d = &c->out->deps[c->out->ndeps++];
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(s, 0);
    d->release_id = sqlite3_column_int64(s, 1);
    d->env = col(&c->out->strings, s, 2);
    const char *state = (const char *)sqlite3_column_text(s, 3);
    d->succeeded = state && !strcmp(state, "succeeded");
    d->started = sqlite3_column_int64(s, 4) > 0;
    d->created_ms = sqlite3_column_int64(s, 5);
    d->finished_ms = sqlite3_column_int64(s, 6);
}

static void stage_event_row(void *p, sqlite3_stmt *s)
{
    struct stages_ctx *c = p;
    ALLOC_GROW(c->out->ev, c->out->nev + 1, c->aev);
    struct stage_event *e = &c->out->ev[c->out->nev++];
    memset(e, 0, sizeof(*e));
    e->deployment_id = sqlite3_column_int64(s, 0);
    e->state = col(&c->out->strings, s, 1);
    e->wave = sqlite3_column_int(s, 2);
    e->wait = col(&c->out->strings, s, 3);
    e->time_ms = sqlite3_column_int64(s, 4);
}

int store_stages_load(struct store *st, int64_t repo_id, int64_t from, int64_t to,
                      struct store_stages *out, struct buf *err)
{
    memset(out, 0, sizeof(*out));
    struct stages_ctx c = {.out = out};
    /*
     * The releases of the period (releases_by_creation), each with its run
     * and its change run (recorded on the run with its change), by their
     * keys.
     */
    int rc =
        each_row(st,
                 store_prep(st, err,
                            "SELECT r.id, r.version, r.created_ms, coalesce(ru.created_ms, 0),"
                            " coalesce(ru.finished_ms, 0), coalesce(ch.created_ms, 0),"
                            " coalesce(ch.finished_ms, 0)"
                            " FROM releases r LEFT JOIN runs ru ON ru.id = r.run_id"
                            " LEFT JOIN runs ch ON ch.id = ru.change_run_id"
                            " WHERE r.repo_id = ?1 AND r.created_ms >= ?2 AND r.created_ms < ?3",
                            "iii", repo_id, from, to),
                 &c, release_row, err, "cannot read releases");
    /* their deployments (deployments_by_release) and their history
     * (deploy_events, clustered by deployment, in the order it was written) */
    if (!rc)
        rc = each_row(st,
                      store_prep(st, err,
                                 "SELECT d.id, d.release_id, d.env, d.state, d.started_ms,"
                                 " d.created_ms, d.finished_ms"
                                 " FROM releases r JOIN deployments d ON d.release_id = r.id"
                                 " WHERE r.repo_id = ?1 AND r.created_ms >= ?2"
                                 " AND r.created_ms < ?3 AND d.kind = 'deploy'",
                                 "iii", repo_id, from, to),
                      &c, stage_deployment_row, err, "cannot read deployments");
    if (!rc)
        rc = each_row(st,
                      store_prep(st, err,
                                 "SELECT e.deployment_id, e.state, e.wave, e.wait, e.time_ms"
                                 " FROM releases r JOIN deployments d ON d.release_id = r.id"
                                 " JOIN deploy_events e ON e.deployment_id = d.id"
                                 " WHERE r.repo_id = ?1 AND r.created_ms >= ?2"
                                 " AND r.created_ms < ?3 AND d.kind = 'deploy'",
                                 "iii", repo_id, from, to),
                      &c, stage_event_row, err, "cannot read the history of deployments");
    if (rc)
        store_stages_release(out);
    return rc;
}

void store_stages_release(struct store_stages *s)
{
    free(s->rel);
    free(s->deps);
    free(s->ev);
    strings_release(&s->strings);
    memset(s, 0, sizeof(*s));
}

/* ---- caught ---- */

struct caught_ctx {
    struct store_caught *out;
    size_t alloc;
};

static void caught_run_row(void *p, sqlite3_stmt *s)
{
    struct caught_ctx *c = p;
    ALLOC_GROW(c->out->v, c->out->n + 1, c->alloc);
    struct caught_record *r = &c->out->v[c->out->n++];
    memset(r, 0, sizeof(*r));
    r->what = CAUGHT_RUN;
    r->run_kind = col(&c->out->strings, s, 0);
    r->time_ms = sqlite3_column_int64(s, 1);
}

static void caught_deployment_row(void *p, sqlite3_stmt *s)
{
    struct caught_ctx *c = p;
    ALLOC_GROW(c->out->v, c->out->n + 1, c->alloc);
    struct caught_record *r = &c->out->v[c->out->n++];
    memset(r, 0, sizeof(*r));
    r->what = CAUGHT_DEPLOYMENT;
    r->env = col(&c->out->strings, s, 0);
    r->phase = col(&c->out->strings, s, 1);
    r->time_ms = sqlite3_column_int64(s, 2);
}

static void caught_rolled_back_row(void *p, sqlite3_stmt *s)
{
    struct caught_ctx *c = p;
    ALLOC_GROW(c->out->v, c->out->n + 1, c->alloc);
    struct caught_record *r = &c->out->v[c->out->n++];
    memset(r, 0, sizeof(*r));
    r->what = CAUGHT_ROLLED_BACK;
    r->env = col(&c->out->strings, s, 0);
    r->time_ms = sqlite3_column_int64(s, 1);
}

int store_caught_load(struct store *st, int64_t repo_id, int64_t from, int64_t to,
                      struct store_caught *out, struct buf *err)
{
    memset(out, 0, sizeof(*out));
    struct caught_ctx c = {.out = out};
    /* runs_failed */
    int rc = each_row(st,
                      store_prep(st, err,
                                 "SELECT kind, finished_ms FROM runs WHERE repo_id = ?1"
                                 " AND state = 'failed' AND finished_ms >= ?2 AND finished_ms < ?3",
                                 "iii", repo_id, from, to),
                      &c, caught_run_row, err, "cannot read failed runs");
    /* deployments_failed; the state before the end: the deployment's last events */
    if (!rc)
        rc = each_row(
            st,
            store_prep(st, err,
                       "SELECT d.env, coalesce((SELECT e.state FROM deploy_events e"
                       "  WHERE e.deployment_id = d.id AND e.state NOT IN ('failed', 'cancelled')"
                       "  ORDER BY e.seq DESC LIMIT 1), ''), d.finished_ms"
                       " FROM deployments d WHERE d.repo_id = ?1 AND d.kind = 'deploy'"
                       " AND d.state IN ('failed', 'cancelled') AND d.finished_ms >= ?2"
                       " AND d.finished_ms < ?3 AND d.started_ms > 0",
                       "iii", repo_id, from, to),
            &c, caught_deployment_row, err, "cannot read failed deployments");
    /* rollbacks by a person (deployments_rollbacks) and what they reverted (see
     * store_dora_load), when that had succeeded */
    if (!rc)
        rc = each_row(
            st,
            store_prep(st, err,
                       "SELECT t.env, b.created_ms FROM deployments b"
                       " JOIN deployments t ON t.id = (SELECT p.id FROM deployments p"
                       "  WHERE p.repo_id = b.repo_id AND p.env = b.env AND p.id < b.id"
                       "  AND p.started_ms > 0 AND p.state IN ('succeeded', 'failed', 'cancelled')"
                       "  ORDER BY p.id DESC LIMIT 1)"
                       " WHERE b.repo_id = ?1 AND b.kind = 'rollback' AND b.rollback_of IS NULL"
                       " AND b.created_ms >= ?2 AND b.created_ms < ?3"
                       " AND t.kind = 'deploy' AND t.state = 'succeeded'",
                       "iii", repo_id, from, to),
            &c, caught_rolled_back_row, err, "cannot read rollbacks");
    if (rc)
        store_caught_release(out);
    return rc;
}

void store_caught_release(struct store_caught *c)
{
    free(c->v);
    strings_release(&c->strings);
    memset(c, 0, sizeof(*c));
}

/* ---- flaky ---- */

struct flaky_ctx {
    struct store_flaky *out;
    size_t alloc;
};

static void flaky_row(void *p, sqlite3_stmt *s)
{
    struct flaky_ctx *c = p;
    ALLOC_GROW(c->out->v, c->out->n + 1, c->alloc);
    struct flaky_record *r = &c->out->v[c->out->n++];
    memset(r, 0, sizeof(*r));
    r->job = col(&c->out->strings, s, 0);
    r->commit = col(&c->out->strings, s, 1);
    r->run_id = sqlite3_column_int64(s, 2);
    r->run_number = sqlite3_column_int64(s, 3);
    r->attempt = sqlite3_column_int(s, 4);
    r->failed_ms = sqlite3_column_int64(s, 5);
    r->passed_run_id = sqlite3_column_int64(s, 6);
    r->passed_run_number = sqlite3_column_int64(s, 7);
    r->passed_ms = sqlite3_column_int64(s, 8);
}

int store_flaky_load(struct store *st, int64_t repo_id, int64_t from, int64_t to,
                     struct store_flaky *out, struct buf *err)
{
    memset(out, 0, sizeof(*out));
    struct flaky_ctx c = {.out = out};
    /*
     * attempts_by_end, then each failure's job and run by their keys; the
     * later run that passed: runs_by_commit (named: without statistics,
     * SQLite would rather walk the repository's runs by id) and the jobs'
     * (run_id, name). Where a later run passed, its number and the job's
     * end are read only for the failures shown (store_flaky_complete).
     */
    int rc = each_row(
        st,
        store_prep(st, err,
                   "SELECT name, commit_id, run_id, number, attempt, failed_ms, passed,"
                   " CASE WHEN passed = run_id THEN number ELSE 0 END, passed_ms FROM ("
                   "  SELECT j.name, r.commit_id, r.id AS run_id, r.number, a.number AS attempt,"
                   "  a.finished_ms AS failed_ms,"
                   "  CASE WHEN j.state = 'passed' THEN j.finished_ms ELSE 0 END AS passed_ms,"
                   "  CASE WHEN j.state = 'passed' THEN r.id ELSE (SELECT min(r2.id)"
                   "   FROM runs r2 INDEXED BY runs_by_commit"
                   "   JOIN jobs j2 ON j2.run_id = r2.id AND j2.name = j.name"
                   "   WHERE r2.repo_id = r.repo_id AND r2.commit_id = r.commit_id"
                   "   AND r2.id > r.id AND j2.state = 'passed')"
                   "  END AS passed"
                   "  FROM attempts a JOIN jobs j ON j.id = a.job_id JOIN runs r ON r.id = j.run_id"
                   "  WHERE a.state IN ('failed', 'timed-out') AND a.finished_ms >= ?2"
                   "  AND a.finished_ms < ?3 AND r.repo_id = ?1 AND r.commit_id <> '')"
                   " WHERE passed IS NOT NULL",
                   "iii", repo_id, from, to),
        &c, flaky_row, err, "cannot read failed attempts");
    if (rc)
        store_flaky_release(out);
    return rc;
}

int store_flaky_complete(struct store *st, struct flaky_record *r, struct buf *err)
{
    if (r->passed_run_number)
        return 0;
    sqlite3_stmt *s = store_prep(st, err,
                                 "SELECT p.number, pj.finished_ms FROM runs p"
                                 " JOIN jobs pj ON pj.run_id = p.id AND pj.name = ?2"
                                 " WHERE p.id = ?1",
                                 "it", r->passed_run_id, r->job);
    if (!s)
        return -EIO;
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW) {
        r->passed_run_number = sqlite3_column_int64(s, 0);
        r->passed_ms = sqlite3_column_int64(s, 1);
    } else if (rc != SQLITE_DONE) {
        ret = store_fail(st, rc, err, "cannot read run %lld", (long long)r->passed_run_id);
    }
    sqlite3_finalize(s);
    return ret;
}

void store_flaky_release(struct store_flaky *f)
{
    free(f->v);
    strings_release(&f->strings);
    memset(f, 0, sizeof(*f));
}
