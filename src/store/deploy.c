#include "store/deploy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/xalloc.h"

bool deploy_state_active(const char *s)
{
    return !strcmp(s, DEPLOY_APPROVAL) || !strcmp(s, DEPLOY_DEPLOYING) ||
           !strcmp(s, DEPLOY_BAKING) || !strcmp(s, DEPLOY_MONITORING) || !strcmp(s, DEPLOY_PAUSED);
}

/* ---- deployments ---- */

#define DEPLOY_COLS                                                                                \
    "id, repo_id, release_id, env, kind, coalesce(rollback_of, 0), state, reason, wave, actor,"    \
    " approved_by, approval_note, created_ms, started_ms, finished_ms, phase_ms, wait"

static void deploy_row(sqlite3_stmt *s, void *p)
{
    struct store_deployment *d = p;
    d->id = sqlite3_column_int64(s, 0);
    d->repo_id = sqlite3_column_int64(s, 1);
    d->release_id = sqlite3_column_int64(s, 2);
    d->env = store_text(s, 3);
    d->kind = store_text(s, 4);
    d->rollback_of = sqlite3_column_int64(s, 5);
    d->state = store_text(s, 6);
    d->reason = store_text(s, 7);
    d->wave = sqlite3_column_int(s, 8);
    d->actor = store_text(s, 9);
    d->approved_by = store_text(s, 10);
    d->approval_note = store_text(s, 11);
    d->created_ms = sqlite3_column_int64(s, 12);
    d->started_ms = sqlite3_column_int64(s, 13);
    d->finished_ms = sqlite3_column_int64(s, 14);
    d->phase_ms = sqlite3_column_int64(s, 15);
    d->wait = store_text(s, 16);
}

int64_t store_deploy_insert(struct store *st, struct store_deployment *d, struct buf *err)
{
    int rc = store_exec(
        st, err, "cannot record a deployment",
        "INSERT INTO deployments (repo_id, env, release_id, kind, rollback_of, state,"
        " reason, wave, actor, created_ms, started_ms, phase_ms, wait)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "ititnttitiiit", d->repo_id, d->env, d->release_id, d->kind, d->rollback_of, d->state,
        d->reason, (int64_t)d->wave, d->actor, d->created_ms, d->started_ms, d->phase_ms, d->wait);
    if (rc == -EINVAL && deploy_state_active(d->state)) {
        buf_reset(err);
        buf_addf(err, "another deployment to %s is in progress", d->env);
        return -1;
    }
    if (rc)
        return -1;
    d->id = sqlite3_last_insert_rowid(store_sqlite(st));
    return d->id;
}

int store_deploy_set(struct store *st, const struct store_deployment *d, struct buf *err)
{
    int rc =
        store_exec(st, err, "cannot update a deployment",
                   "UPDATE deployments SET state = ?, reason = ?, wave = ?, started_ms = ?,"
                   " finished_ms = ?, phase_ms = ?, approved_by = ?, approval_note = ?, wait = ?"
                   " WHERE id = ?",
                   "ttiiiittti", d->state, d->reason, (int64_t)d->wave, d->started_ms,
                   d->finished_ms, d->phase_ms, d->approved_by, d->approval_note, d->wait, d->id);
    if (rc == -EINVAL && deploy_state_active(d->state)) {
        buf_reset(err);
        buf_addf(err, "another deployment to %s is in progress", d->env);
        return -EBUSY;
    }
    return rc;
}

int store_deploy_get(struct store *st, int64_t id, struct store_deployment *d, struct buf *err)
{
    sqlite3_stmt *s =
        store_prep(st, err, "SELECT " DEPLOY_COLS " FROM deployments WHERE id = ?", "i", id);
    if (!s)
        return -EIO;
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW)
        deploy_row(s, d);
    else if (rc == SQLITE_DONE)
        ret = -ENOENT;
    else
        ret = store_fail(st, rc, err, "cannot read a deployment");
    sqlite3_finalize(s);
    return ret;
}

int store_deploy_list(struct store *st, int64_t repo_id, const char *env, int64_t before,
                      size_t limit, struct store_deployment **out, size_t *n, struct buf *err)
{
    sqlite3_stmt *s = store_prep(st, err,
                                 "SELECT " DEPLOY_COLS " FROM deployments WHERE repo_id = ?"
                                 " AND (?2 IS NULL OR env = ?2) AND (?3 = 0 OR id < ?3)"
                                 " ORDER BY id DESC LIMIT ?4",
                                 "iTii", repo_id, env, before, (int64_t)(limit ? limit : 50));
    if (!s)
        return -EIO;
    return store_collect(st, s, sizeof(**out), (void **)out, n, deploy_row, err,
                         "cannot list deployments");
}

int store_deploy_unfinished(struct store *st, struct store_deployment **out, size_t *n,
                            struct buf *err)
{
    sqlite3_stmt *s = store_prep(st, err,
                                 "SELECT " DEPLOY_COLS " FROM deployments WHERE state IN ('queued',"
                                 " 'approval', 'deploying', 'baking', 'monitoring', 'paused')"
                                 " ORDER BY id",
                                 "");
    if (!s)
        return -EIO;
    return store_collect(st, s, sizeof(**out), (void **)out, n, deploy_row, err,
                         "cannot list deployments");
}

static void deploy_event_row(sqlite3_stmt *s, void *p)
{
    struct store_deploy_event *e = p;
    e->deployment_id = sqlite3_column_int64(s, 0);
    e->state = store_text(s, 1);
    e->wave = sqlite3_column_int(s, 2);
    e->wait = store_text(s, 3);
    e->time_ms = sqlite3_column_int64(s, 4);
}

int store_deploy_history(struct store *st, int64_t deployment_id, struct store_deploy_event **out,
                         size_t *n, struct buf *err)
{
    sqlite3_stmt *s =
        store_prep(st, err,
                   "SELECT deployment_id, state, wave, wait, time_ms FROM deploy_events"
                   " WHERE deployment_id = ? ORDER BY seq",
                   "i", deployment_id);
    if (!s)
        return -EIO;
    return store_collect(st, s, sizeof(**out), (void **)out, n, deploy_event_row, err,
                         "cannot read the history of a deployment");
}

void store_deploy_events_release(struct store_deploy_event *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].state);
        free(v[i].wait);
    }
    free(v);
}

/* ---- steps ---- */

static void step_row(sqlite3_stmt *s, void *p)
{
    struct store_deploy_step *d = p;
    d->id = sqlite3_column_int64(s, 0);
    d->deployment_id = sqlite3_column_int64(s, 1);
    d->target = store_text(s, 2);
    d->wave = sqlite3_column_int(s, 3);
    d->release_id = sqlite3_column_int64(s, 4);
    d->prev_release_id = sqlite3_column_int64(s, 5);
    d->state = store_text(s, 6);
    d->exit_code = sqlite3_column_int(s, 7);
    d->reason = store_text(s, 8);
    d->log_path = store_text(s, 9);
    d->started_ms = sqlite3_column_int64(s, 10);
    d->finished_ms = sqlite3_column_int64(s, 11);
    d->pid = sqlite3_column_int64(s, 12);
}

int64_t store_step_insert(struct store *st, struct store_deploy_step *d, struct buf *err)
{
    if (store_exec(
            st, err, "cannot record a deployment step",
            "INSERT INTO deploy_steps (deployment_id, target, wave, release_id, prev_release_id,"
            " state, reason, log_path, started_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            "itiinttti", d->deployment_id, d->target, (int64_t)d->wave, d->release_id,
            d->prev_release_id, d->state, d->reason, d->log_path, d->started_ms))
        return -1;
    d->id = sqlite3_last_insert_rowid(store_sqlite(st));
    return d->id;
}

int store_step_set(struct store *st, const struct store_deploy_step *d, struct buf *err)
{
    return store_exec(st, err, "cannot update a deployment step",
                      "UPDATE deploy_steps SET state = ?, exit_code = ?, reason = ?, log_path = ?,"
                      " pid = ?, started_ms = ?, finished_ms = ? WHERE id = ?",
                      "tittiiii", d->state, (int64_t)d->exit_code, d->reason, d->log_path, d->pid,
                      d->started_ms, d->finished_ms, d->id);
}

int store_step_list(struct store *st, int64_t deployment_id, struct store_deploy_step **out,
                    size_t *n, struct buf *err)
{
    sqlite3_stmt *s =
        store_prep(st, err,
                   "SELECT id, deployment_id, target, wave, release_id,"
                   " coalesce(prev_release_id, 0), state, exit_code, reason, log_path,"
                   " started_ms, finished_ms, pid FROM deploy_steps"
                   " WHERE deployment_id = ?"
                   " ORDER BY id",
                   "i", deployment_id);
    if (!s)
        return -EIO;
    return store_collect(st, s, sizeof(**out), (void **)out, n, step_row, err,
                         "cannot list deployment steps");
}

/* ---- targets ---- */

static void target_row(sqlite3_stmt *s, void *p)
{
    struct store_target *t = p;
    t->env = store_text(s, 0);
    t->target = store_text(s, 1);
    t->release_id = sqlite3_column_int64(s, 2);
    t->good_release_id = sqlite3_column_int64(s, 3);
    t->updated_ms = sqlite3_column_int64(s, 4);
}

int store_target_list(struct store *st, int64_t repo_id, const char *env, struct store_target **out,
                      size_t *n, struct buf *err)
{
    sqlite3_stmt *s =
        store_prep(st, err,
                   "SELECT env, target, coalesce(release_id, 0),"
                   " coalesce(good_release_id, 0), updated_ms FROM targets"
                   " WHERE repo_id = ? AND (?2 IS NULL OR env = ?2) ORDER BY env, target",
                   "iT", repo_id, env);
    if (!s)
        return -EIO;
    return store_collect(st, s, sizeof(**out), (void **)out, n, target_row, err,
                         "cannot list targets");
}

int store_target_set(struct store *st, int64_t repo_id, const char *env, const char *target,
                     int64_t release_id, bool good, struct buf *err)
{
    return store_exec(st, err, "cannot record a target's release",
                      "INSERT INTO targets (repo_id, env, target, release_id, good_release_id,"
                      " updated_ms) VALUES (?1, ?2, ?3, ?4, CASE WHEN ?5 THEN ?4 END, ?6)"
                      " ON CONFLICT (repo_id, env, target) DO UPDATE SET release_id = ?4,"
                      " good_release_id = CASE WHEN ?5 THEN ?4 ELSE good_release_id END,"
                      " updated_ms = ?6",
                      "ittnii", repo_id, env, target, release_id, (int64_t)good, store_now_ms());
}

/* ---- the line ---- */

int store_line_get(struct store *st, int64_t repo_id, struct store_line *l, struct buf *err)
{
    memset(l, 0, sizeof(*l));
    sqlite3_stmt *s =
        store_prep(st, err, "SELECT stopped, reason, actor, since_ms FROM lines WHERE repo_id = ?",
                   "i", repo_id);
    if (!s)
        return -EIO;
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW) {
        l->stopped = sqlite3_column_int(s, 0);
        l->reason = store_text(s, 1);
        l->actor = store_text(s, 2);
        l->since_ms = sqlite3_column_int64(s, 3);
    } else if (rc == SQLITE_DONE) {
        l->reason = xstrdup("");
        l->actor = xstrdup("");
    } else {
        ret = store_fail(st, rc, err, "cannot read the line");
    }
    sqlite3_finalize(s);
    return ret;
}

int store_line_set(struct store *st, int64_t repo_id, bool stop, const char *actor,
                   const char *reason, struct buf *err)
{
    struct store_line cur;
    int rc = store_begin(st, err);
    if (rc)
        return rc;
    rc = store_line_get(st, repo_id, &cur, err);
    bool changed = !rc && cur.stopped != stop;
    store_line_release(&cur);
    int64_t now = store_now_ms();
    if (changed)
        rc = store_exec(st, err, "cannot stop or resume the line",
                        "INSERT INTO lines (repo_id, stopped, reason, actor, since_ms)"
                        " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (repo_id) DO UPDATE SET"
                        " stopped = ?2, reason = ?3, actor = ?4, since_ms = ?5",
                        "iitti", repo_id, (int64_t)stop, reason, actor, now);
    if (changed && !rc)
        rc = store_exec(st, err, "cannot record the line's history",
                        "INSERT INTO line_events (repo_id, action, reason, actor, time_ms)"
                        " VALUES (?, ?, ?, ?, ?)",
                        "ittti", repo_id, stop ? "stop" : "resume", reason, actor, now);
    if (!rc)
        rc = store_commit(st, err);
    if (rc) {
        store_rollback(st);
        return rc;
    }
    return changed ? 1 : 0;
}

/* ---- incidents ---- */

int64_t store_incident_open(struct store *st, const struct store_incident *in, struct buf *err)
{
    if (store_exec(
            st, err, "cannot open an incident",
            "INSERT INTO incidents (repo_id, env, release_id, deployment_id, reason, opened_ms)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            "itiiti", in->repo_id, in->env, in->release_id, in->deployment_id, in->reason,
            in->opened_ms))
        return -1;
    return sqlite3_last_insert_rowid(store_sqlite(st));
}

int store_incident_close(struct store *st, int64_t repo_id, const char *env, int64_t ms,
                         struct buf *err)
{
    int rc = store_exec(st, err, "cannot close incidents",
                        "UPDATE incidents SET closed_ms = ? WHERE repo_id = ? AND env = ?"
                        " AND closed_ms = 0",
                        "iit", ms, repo_id, env);
    return rc ? rc : sqlite3_changes(store_sqlite(st));
}

static void incident_row(sqlite3_stmt *s, void *p)
{
    struct store_incident *in = p;
    in->id = sqlite3_column_int64(s, 0);
    in->repo_id = sqlite3_column_int64(s, 1);
    in->env = store_text(s, 2);
    in->release_id = sqlite3_column_int64(s, 3);
    in->deployment_id = sqlite3_column_int64(s, 4);
    in->reason = store_text(s, 5);
    in->opened_ms = sqlite3_column_int64(s, 6);
    in->closed_ms = sqlite3_column_int64(s, 7);
}

int store_incident_list(struct store *st, int64_t repo_id, struct store_incident **out, size_t *n,
                        struct buf *err)
{
    sqlite3_stmt *s = store_prep(st, err,
                                 "SELECT id, repo_id, env, release_id, deployment_id, reason,"
                                 " opened_ms, closed_ms FROM incidents WHERE repo_id = ?"
                                 " ORDER BY id DESC LIMIT 100",
                                 "i", repo_id);
    if (!s)
        return -EIO;
    return store_collect(st, s, sizeof(**out), (void **)out, n, incident_row, err,
                         "cannot list incidents");
}

int store_measurement_add(struct store *st, int64_t deployment_id, int wave, const char *phase,
                          const char *check, const char *target, const char *outcome, double value,
                          bool has_value, const char *message, struct buf *err)
{
    sqlite3_stmt *s =
        store_prep(st, err,
                   "INSERT INTO measurements (deployment_id, wave, phase, check_name,"
                   " target, outcome, value, message, time_ms)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "iitttt", deployment_id, (int64_t)wave, phase, check, target, outcome);
    if (!s)
        return -EIO;
    int rc = has_value ? sqlite3_bind_double(s, 7, value) : sqlite3_bind_null(s, 7);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 8, message ? message : "", -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 9, store_now_ms());
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "cannot record a measurement");
    sqlite3_finalize(s);
    return ret;
}

static void measurement_row(sqlite3_stmt *s, void *p)
{
    struct store_measurement *m = p;
    m->wave = sqlite3_column_int(s, 0);
    m->phase = store_text(s, 1);
    m->check = store_text(s, 2);
    m->target = store_text(s, 3);
    m->outcome = store_text(s, 4);
    m->has_value = sqlite3_column_type(s, 5) != SQLITE_NULL;
    m->value = sqlite3_column_double(s, 5);
    m->message = store_text(s, 6);
    m->time_ms = sqlite3_column_int64(s, 7);
}

int store_measurement_list(struct store *st, int64_t deployment_id, size_t max,
                           struct store_measurement **out, size_t *n, struct buf *err)
{
    sqlite3_stmt *s =
        store_prep(st, err,
                   "SELECT * FROM (SELECT wave, phase, check_name, target, outcome, value,"
                   " message, time_ms, rowid AS r FROM measurements"
                   " WHERE deployment_id = ? ORDER BY rowid DESC LIMIT ?) ORDER BY r",
                   "ii", deployment_id, (int64_t)max);
    if (!s)
        return -EIO;
    return store_collect(st, s, sizeof(**out), (void **)out, n, measurement_row, err,
                         "cannot list measurements");
}

void store_measurements_release(struct store_measurement *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].phase);
        free(v[i].check);
        free(v[i].target);
        free(v[i].outcome);
        free(v[i].message);
    }
    free(v);
}

/* One number from a query without parameters. */
static int count(struct store *st, const char *sql, int64_t *out, struct buf *err)
{
    sqlite3_stmt *s = store_prep(st, err, sql, "");
    if (!s)
        return -EIO;
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else
        ret = store_fail(st, rc, err, "cannot count");
    sqlite3_finalize(s);
    return ret;
}

int store_deploy_counts(struct store *st, const char *const *states, size_t n, int64_t *counts,
                        int64_t *lines_stopped, int64_t *incidents_open, struct buf *err)
{
    for (size_t i = 0; i < n; i++)
        counts[i] = 0;
    sqlite3_stmt *s =
        store_prep(st, err, "SELECT state, count(*) FROM deployments GROUP BY state", "");
    if (!s)
        return -EIO;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(s, 0);
        for (size_t i = 0; i < n && state; i++)
            if (!strcmp(states[i], state))
                counts[i] = sqlite3_column_int64(s, 1);
    }
    int ret = rc == SQLITE_DONE ? 0 : store_fail(st, rc, err, "cannot count deployments");
    sqlite3_finalize(s);
    if (!ret)
        ret = count(st, "SELECT count(*) FROM lines WHERE stopped <> 0", lines_stopped, err);
    if (!ret)
        ret = count(st, "SELECT count(*) FROM incidents WHERE closed_ms = 0", incidents_open, err);
    return ret;
}

/* ---- the DORA measures ---- */

static void dora_deployment_row(sqlite3_stmt *s, void *p)
{
    struct dora_deployment *d = p;
    const char *kind = (const char *)sqlite3_column_text(s, 1);
    const char *state = (const char *)sqlite3_column_text(s, 2);
    d->id = sqlite3_column_int64(s, 0);
    d->rollback = kind && !strcmp(kind, "rollback");
    d->created_ms = sqlite3_column_int64(s, 3);
    int64_t started = sqlite3_column_int64(s, 4);
    d->finished_ms = sqlite3_column_int64(s, 5);
    d->merge_ms = sqlite3_column_int64(s, 6);
    d->release_ms = sqlite3_column_int64(s, 7);
    d->commit_ms = sqlite3_column_int64(s, 8);
    d->rolls_back = sqlite3_column_int64(s, 9);
    if (!state)
        d->state = DORA_OTHER;
    else if (!strcmp(state, DEPLOY_SUCCEEDED))
        d->state = DORA_SUCCEEDED;
    else if (!strcmp(state, DEPLOY_FAILED))
        d->state = DORA_FAILED;
    else if (!strcmp(state, DEPLOY_CANCELLED) && started)
        d->state = DORA_CANCELLED; /* only a rollback cancels a deployment that started */
    else
        d->state = DORA_OTHER;
}

static void dora_incident_row(sqlite3_stmt *s, void *p)
{
    struct dora_incident *in = p;
    in->id = sqlite3_column_int64(s, 0);
    in->deployment_id = sqlite3_column_int64(s, 1);
    in->opened_ms = sqlite3_column_int64(s, 2);
    in->closed_ms = sqlite3_column_int64(s, 3);
}

/*
 * The deployments of ?2 that finished in [?3, ?4) (deployments_by_finish),
 * and the other rollbacks of ?2 made since ?3 (deployments_rollbacks):
 * a rollback marks the deployment it reverts as a failure, and it comes
 * after that deployment's end, so it cannot be before the period. What a
 * rollback reverts: the deployment it follows (rollback_of), else the
 * latest deployment into the environment that had started before it and
 * ended (succeeded, failed, or cancelled: a rollback cancels the one
 * running); a rejected one never ran. deployments_by_repo gives them in id
 * order. The change's times come from the run that made the release: the
 * first commit, and the push (pushed_ms, else the run's creation).
 */
#define DORA_DEPLOYMENTS_SQL                                                                       \
    "WITH picked (id) AS ("                                                                        \
    "  SELECT id FROM deployments WHERE repo_id = ?1 AND env = ?2 AND finished_ms >= ?3"           \
    "  AND finished_ms < ?4"                                                                       \
    "  UNION ALL SELECT id FROM deployments WHERE repo_id = ?1 AND kind = 'rollback'"              \
    "  AND created_ms >= ?3 AND env = ?2 AND NOT (finished_ms >= ?3 AND finished_ms < ?4))"        \
    " SELECT d.id, d.kind, d.state, d.created_ms, d.started_ms, d.finished_ms,"                    \
    " coalesce(CASE WHEN ru.pushed_ms > 0 THEN ru.pushed_ms ELSE ru.created_ms END, 0),"           \
    " r.created_ms, coalesce(ru.first_commit_ms, 0),"                                              \
    " CASE WHEN d.kind <> 'rollback' THEN 0 WHEN d.rollback_of IS NOT NULL THEN d.rollback_of"     \
    " ELSE coalesce((SELECT p.id FROM deployments p WHERE p.repo_id = d.repo_id"                   \
    "  AND p.env = d.env AND p.id < d.id AND p.started_ms > 0"                                     \
    "  AND p.state IN ('succeeded', 'failed', 'cancelled') ORDER BY p.id DESC LIMIT 1), 0) END"    \
    " FROM picked JOIN deployments d ON d.id = picked.id"                                          \
    " JOIN releases r ON r.id = d.release_id LEFT JOIN runs ru ON ru.id = r.run_id"

int store_dora_load(struct store *st, int64_t repo_id, const char *env, int64_t from, int64_t to,
                    struct dora_deployment **deps, size_t *ndeps, struct dora_incident **incs,
                    size_t *nincs, struct buf *err)
{
    *deps = NULL;
    *incs = NULL;
    *ndeps = *nincs = 0;
    sqlite3_stmt *s = store_prep(st, err, DORA_DEPLOYMENTS_SQL, "itii", repo_id, env, from, to);
    int rc = s ? store_collect(st, s, sizeof(**deps), (void **)deps, ndeps, dora_deployment_row,
                               err, "cannot read deployments")
               : -EIO;
    if (!rc) {
        s = store_prep(st, err,
                       "SELECT id, deployment_id, opened_ms, closed_ms FROM incidents"
                       " WHERE repo_id = ?1 AND env = ?2 AND opened_ms >= ?3 AND opened_ms < ?4"
                       " UNION ALL SELECT i.id, i.deployment_id, i.opened_ms, i.closed_ms"
                       " FROM deployments d JOIN incidents i ON i.deployment_id = d.id"
                       " WHERE d.repo_id = ?1 AND d.env = ?2 AND d.finished_ms >= ?3"
                       " AND d.finished_ms < ?4 AND NOT (i.opened_ms >= ?3 AND i.opened_ms < ?4)",
                       "itii", repo_id, env, from, to);
        rc = s ? store_collect(st, s, sizeof(**incs), (void **)incs, nincs, dora_incident_row, err,
                               "cannot read incidents")
               : -EIO;
    }
    for (size_t i = 0; !rc && i < *ndeps; i++)
        (*deps)[i].env = env;
    for (size_t i = 0; !rc && i < *nincs; i++)
        (*incs)[i].env = env;
    if (rc) {
        free(*deps);
        free(*incs);
        *deps = NULL;
        *incs = NULL;
        *ndeps = *nincs = 0;
    }
    return rc;
}

/* ---- releasing ---- */

void store_deployment_release(struct store_deployment *d)
{
    if (!d)
        return;
    free(d->env);
    free(d->kind);
    free(d->state);
    free(d->reason);
    free(d->actor);
    free(d->approved_by);
    free(d->approval_note);
    free(d->wait);
    memset(d, 0, sizeof(*d));
}

void store_deployments_release(struct store_deployment *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_deployment_release(&v[i]);
    free(v);
}

void store_steps_release(struct store_deploy_step *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].target);
        free(v[i].state);
        free(v[i].reason);
        free(v[i].log_path);
    }
    free(v);
}

void store_targets_release(struct store_target *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].env);
        free(v[i].target);
    }
    free(v);
}

void store_line_release(struct store_line *l)
{
    free(l->reason);
    free(l->actor);
    memset(l, 0, sizeof(*l));
}

void store_incidents_release(struct store_incident *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].env);
        free(v[i].reason);
    }
    free(v);
}
