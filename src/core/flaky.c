#include "core/flaky.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static int cmp_record(const void *a, const void *b)
{
    const struct flaky_record *x = *(const struct flaky_record *const *)a;
    const struct flaky_record *y = *(const struct flaky_record *const *)b;
    int c = strcmp(x->job, y->job);
    if (!c)
        c = strcmp(x->commit, y->commit);
    return c;
}

static bool later(const struct flaky_record *a, const struct flaky_record *b)
{
    if (a->failed_ms != b->failed_ms)
        return a->failed_ms > b->failed_ms;
    if (a->run_id != b->run_id)
        return a->run_id > b->run_id;
    return a->attempt > b->attempt;
}

static int cmp_job(const void *a, const void *b)
{
    const struct flaky_job *x = a, *y = b;
    if (x->commits != y->commits)
        return x->commits > y->commits ? -1 : 1;
    if (x->failures != y->failures)
        return x->failures > y->failures ? -1 : 1;
    if (later(x->last, y->last) != later(y->last, x->last))
        return later(x->last, y->last) ? -1 : 1;
    return strcmp(x->job, y->job);
}

void flaky_rank(const struct flaky_record *v, size_t n, struct flaky_job **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (!n)
        return;
    const struct flaky_record **s = xcalloc(n, sizeof(*s));
    for (size_t i = 0; i < n; i++)
        s[i] = &v[i];
    qsort(s, n, sizeof(*s), cmp_record);
    struct flaky_job *j = xcalloc(n, sizeof(*j));
    size_t nj = 0;
    for (size_t i = 0; i < n; i++) {
        if (!nj || strcmp(j[nj - 1].job, s[i]->job)) {
            j[nj].job = s[i]->job;
            j[nj].last = s[i];
            nj++;
        }
        struct flaky_job *c = &j[nj - 1];
        if (i == 0 || strcmp(s[i - 1]->job, s[i]->job) || strcmp(s[i - 1]->commit, s[i]->commit))
            c->commits++;
        c->failures++;
        if (s[i]->passed_run_id == s[i]->run_id)
            c->in_run++;
        else
            c->across_runs++;
        if (later(s[i], c->last))
            c->last = s[i];
    }
    free(s);
    qsort(j, nj, sizeof(*j), cmp_job);
    *out = j;
    *nout = nj;
}
