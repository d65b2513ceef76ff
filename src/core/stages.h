/*
 * stages: where a release spends its time on the way through the loop.
 * Pure, like core/dora.h: the store loads the records
 * (store_stages_load), this module computes.
 *
 *     struct stages_result r;
 *     if (stages_compute(&p, envs, nenvs, rel, nrel, deps, ndeps, ev, nev, &r, &err)) ...
 *     ... r.keys[k] (every stage seen, in the order of the loop),
 *         r.stats[k * r.nspans + b] (its median and p90 in bucket b),
 *         r.releases[i] (each release of the period, newest first, with its stages) ...
 *     stages_result_release(&r);
 *
 * The stages of a release (docs/metrics.md has the definitions):
 *
 *  - change checks: the latest change run of a commit of the release's
 *    change (the commits its main or tag run brought), created before that
 *    run: from its creation to its end;
 *  - main run: the run that made the release, from its creation (the push
 *    seen) to its end;
 *  - release: from the end of that run to the release's creation;
 *  - then for each environment, in the pipeline's order, the release's
 *    deployment of kind deploy into it (the latest that succeeded, else the
 *    latest that started, else the latest): waiting to be promoted (from
 *    the release's creation, or from the end of the waves of the previous
 *    environment's deployment, to the deployment's creation), then its
 *    history: queued for its turn, for the stopped line (queued or paused),
 *    for the window, for the environment's checks to pass, waiting for
 *    approval, each wave's deploy (the first includes the preparation) and
 *    bake, paused for a person, monitoring. A stage entered more than once
 *    counts its total time.
 *
 * A stage counts only once it has ended. Releases belong to the bucket of
 * their creation; each stage's median and 90th percentile in a bucket are
 * over the releases that went through it there.
 */
#ifndef FLYWHEEL_CORE_STAGES_H
#define FLYWHEEL_CORE_STAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dora.h"
#include "util/buf.h"

/* The kinds of stage, in the order of the loop. */
enum stage_kind {
    STAGE_CHANGE_CHECKS,
    STAGE_MAIN_RUN,
    STAGE_RELEASE,
    /* per environment */
    STAGE_PROMOTION,
    STAGE_QUEUED, /* its turn: another deployment holds the environment */
    STAGE_LINE,   /* behind the stopped line, queued or paused */
    STAGE_WINDOW,
    STAGE_HEALTH, /* the environment's checks fail: nothing goes in */
    STAGE_APPROVAL,
    STAGE_DEPLOY, /* per wave */
    STAGE_BAKE,   /* per wave */
    STAGE_PAUSED, /* inconclusive checks: a person decides */
    STAGE_MONITORING,
    STAGE_NKINDS
};

struct stage_release {
    int64_t id;
    const char *version;
    int64_t created_ms;
    int64_t run_created_ms, run_finished_ms;       /* the main or tag run */
    int64_t change_created_ms, change_finished_ms; /* the change run; 0: none */
};

struct stage_deployment {
    int64_t id, release_id;
    const char *env;
    bool succeeded, started;
    int64_t created_ms, finished_ms;
};

/* A change of a deployment's state, wave or wait (store_deploy_history). */
struct stage_event {
    int64_t deployment_id;
    const char *state, *wait;
    int wave; /* from 0 */
    int64_t time_ms;
};

struct stage_key {
    int env; /* index in stages_result.envs; -1 for the stages before any environment */
    enum stage_kind kind;
    int wave; /* from 1, for deploy and bake; else 0 */
};

struct stage_time {
    struct stage_key key;
    int64_t start_ms, end_ms; /* from the first entry to the last exit */
    int64_t ms;               /* the time spent in it */
};

struct stage_release_times {
    const struct stage_release *release;
    struct stage_time *v; /* in the order of the loop */
    size_t n;
};

struct stages_result {
    const char **envs; /* the environments, in order (the caller's strings) */
    size_t nenvs;
    struct dora_span *spans;
    size_t nspans;
    struct stage_key *keys; /* every stage seen in the period, in the order of the loop */
    size_t nkeys;
    struct dora_stat *stats;              /* [nkeys * nspans] */
    struct stage_release_times *releases; /* the period's releases, newest first */
    size_t nreleases;
};

/*
 * Computes the stages of the releases created in p's period (p->env is not
 * used). env_order: the environments' order (the pipeline's), others
 * follow by name. The records may come in any order; deployments and
 * events of other releases are ignored. Returns 0 and fills *out (release
 * it with stages_result_release()), or -1 with a reason in err (the
 * period's shape: see dora_spans()).
 */
int stages_compute(const struct dora_params *p, const char *const *env_order, size_t nenv_order,
                   const struct stage_release *rel, size_t nrel,
                   const struct stage_deployment *deps, size_t ndeps, const struct stage_event *ev,
                   size_t nev, struct stages_result *out, struct buf *err)
    __attribute__((warn_unused_result));
void stages_result_release(struct stages_result *r);

/* "change_checks", "main_run", "release", "promotion", "queued", "line", "window", "health",
 * "approval", "deploy", "bake", "paused", "monitoring". */
const char *stage_kind_name(enum stage_kind k);
/* Appends a stage's name for people: "main run", "production wave 2 bake", "staging approval". */
void stage_key_describe(const struct stage_key *k, const char *const *envs, struct buf *out);
/* 1 when a comes after b in the order of the loop, -1 before, 0 the same stage. */
int stage_key_cmp(const struct stage_key *a, const struct stage_key *b);

#endif
