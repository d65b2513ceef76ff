/*
 * caught: failures counted by the stage of the loop that caught them, per
 * bucket of a period (the buckets of core/dora.h). Pure: the store loads
 * the records (store_caught_load), this module counts.
 *
 * The stages, in the order of the loop (docs/metrics.md):
 *
 *  - change runs: change runs that failed;
 *  - main runs: main and tag runs that failed;
 *  - verification in each environment before production: deployments of
 *    kind deploy into it that failed or were cancelled after they started
 *    (a rollback stopped them), and its deployments a person rolled back
 *    after they succeeded;
 *  - production waves: the same for the last environment (production),
 *    when it happened before the last wave was verified (deploying, baking,
 *    paused);
 *  - production monitoring: ... while the checks kept running after the
 *    last wave;
 *  - production, after: production deployments that succeeded and that a
 *    person rolled back afterwards.
 *
 * A failure counts in the bucket of its time: a run's or a deployment's
 * end, a rollback's creation.
 */
#ifndef FLYWHEEL_CORE_CAUGHT_H
#define FLYWHEEL_CORE_CAUGHT_H

#include <stddef.h>
#include <stdint.h>

#include "core/dora.h"
#include "util/buf.h"

enum caught_what {
    CAUGHT_RUN,        /* a run that failed: run_kind */
    CAUGHT_DEPLOYMENT, /* a deployment that failed: env, phase */
    CAUGHT_ROLLED_BACK /* a deployment rolled back after it succeeded: env */
};

struct caught_record {
    enum caught_what what;
    const char *run_kind; /* change, main, tag, manual */
    const char *env;
    const char *phase; /* the state a deployment failed in: deploying, baking, paused, monitoring */
    int64_t time_ms;
};

enum caught_stage {
    CAUGHT_CHANGE_RUNS,
    CAUGHT_MAIN_RUNS,
    CAUGHT_VERIFICATION, /* per environment before production */
    CAUGHT_PRODUCTION_WAVES,
    CAUGHT_PRODUCTION_MONITORING,
    CAUGHT_PRODUCTION_AFTER,
};

struct caught_row {
    enum caught_stage stage;
    const char *env; /* the environment (NULL for runs) */
    int64_t *counts; /* [nspans] */
    int64_t total;   /* over the period */
};

struct caught_result {
    struct dora_span *spans;
    size_t nspans;
    struct caught_row *rows; /* in the order of the loop; the fixed stages always, every
                                environment of env_order before production */
    size_t nrows;
    int64_t *totals; /* [nspans]: every stage */
    int64_t total;
};

/*
 * Counts the records of p's period. production: the last environment
 * (p->env is not used); env_order: the environments in the pipeline's
 * order (those before production get a row each, even when nothing failed
 * there). Returns 0, or -1 with a reason in err (the period's shape).
 */
int caught_compute(const struct dora_params *p, const char *production,
                   const char *const *env_order, size_t nenv_order, const struct caught_record *v,
                   size_t n, struct caught_result *out, struct buf *err)
    __attribute__((warn_unused_result));
void caught_result_release(struct caught_result *r);
/* "change_runs", "main_runs", "verification", "production_waves", "production_monitoring",
 * "production_after". */
const char *caught_stage_name(enum caught_stage s);

#endif
