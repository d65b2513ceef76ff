#include "core/caught.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

const char *caught_stage_name(enum caught_stage s)
{
    switch (s) {
    case CAUGHT_CHANGE_RUNS:
        return "change_runs";
    case CAUGHT_MAIN_RUNS:
        return "main_runs";
    case CAUGHT_VERIFICATION:
        return "verification";
    case CAUGHT_PRODUCTION_WAVES:
        return "production_waves";
    case CAUGHT_PRODUCTION_MONITORING:
        return "production_monitoring";
    case CAUGHT_PRODUCTION_AFTER:
        break;
    }
    return "production_after";
}

static size_t row_add(struct caught_result *r, size_t *alloc, enum caught_stage stage,
                      const char *env)
{
    ALLOC_GROW(r->rows, r->nrows + 1, *alloc);
    struct caught_row *row = &r->rows[r->nrows];
    row->stage = stage;
    row->env = env;
    row->counts = xcalloc(r->nspans, sizeof(*row->counts));
    row->total = 0;
    return r->nrows++;
}

/* The row of an environment before production, added (before the production rows) if new. */
static size_t env_row(struct caught_result *r, size_t *alloc, const char *env)
{
    size_t i = 0;
    for (; i < r->nrows && r->rows[i].stage <= CAUGHT_VERIFICATION; i++)
        if (r->rows[i].stage == CAUGHT_VERIFICATION && !strcmp(r->rows[i].env, env))
            return i;
    size_t at = row_add(r, alloc, CAUGHT_VERIFICATION, env);
    struct caught_row row = r->rows[at];
    memmove(&r->rows[i + 1], &r->rows[i], (at - i) * sizeof(row));
    r->rows[i] = row;
    return i;
}

int caught_compute(const struct dora_params *p, const char *production,
                   const char *const *env_order, size_t nenv_order, const struct caught_record *v,
                   size_t n, struct caught_result *out, struct buf *err)
{
    memset(out, 0, sizeof(*out));
    if (dora_spans(p, &out->spans, &out->nspans, err))
        return -1;
    size_t alloc = 0;
    row_add(out, &alloc, CAUGHT_CHANGE_RUNS, NULL);
    row_add(out, &alloc, CAUGHT_MAIN_RUNS, NULL);
    for (size_t i = 0; i < nenv_order; i++)
        if (strcmp(env_order[i], production))
            env_row(out, &alloc, env_order[i]);
    /* the production rows stay the last three: env_row() inserts before them */
    row_add(out, &alloc, CAUGHT_PRODUCTION_WAVES, production);
    row_add(out, &alloc, CAUGHT_PRODUCTION_MONITORING, production);
    row_add(out, &alloc, CAUGHT_PRODUCTION_AFTER, production);
    out->totals = xcalloc(out->nspans, sizeof(*out->totals));
    for (size_t i = 0; i < n; i++) {
        const struct caught_record *c = &v[i];
        long b = dora_span_index(p, out->spans, out->nspans, c->time_ms);
        if (b < 0)
            continue;
        long row = -1;
        if (c->what == CAUGHT_RUN) {
            if (c->run_kind && !strcmp(c->run_kind, "change"))
                row = 0;
            else if (c->run_kind && (!strcmp(c->run_kind, "main") || !strcmp(c->run_kind, "tag")))
                row = 1;
        } else if (c->env && strcmp(c->env, production)) {
            row = (long)env_row(out, &alloc, c->env);
        } else if (c->env) {
            long last = (long)out->nrows - 1;
            if (c->what == CAUGHT_ROLLED_BACK)
                row = last;
            else if (c->phase && !strcmp(c->phase, "monitoring"))
                row = last - 1;
            else
                row = last - 2;
        }
        if (row < 0)
            continue;
        out->rows[row].counts[b]++;
        out->rows[row].total++;
        out->totals[b]++;
        out->total++;
    }
    return 0;
}

void caught_result_release(struct caught_result *r)
{
    for (size_t i = 0; i < r->nrows; i++)
        free(r->rows[i].counts);
    free(r->rows);
    free(r->spans);
    free(r->totals);
    memset(r, 0, sizeof(*r));
}
