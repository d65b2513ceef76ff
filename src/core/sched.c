#include "core/sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/glob.h"
#include "util/xalloc.h"

struct sjob {
    enum job_state state;
    int attempts;
    int base; /* attempts when last rerun: retries count from there */
    bool selected;
    bool retrying;
    char *reason;
    size_t *dependants; /* selected jobs that need this one */
    size_t ndep, adep;
};

struct sched {
    const struct pipeline *p;
    struct sjob *j;
    size_t n;
    unsigned flags;
    bool cancelling;
    size_t running, pending; /* running jobs; queued or running jobs */
};

static void set_reason(struct sjob *j, const char *reason)
{
    free(j->reason);
    j->reason = xstrdup(reason ? reason : "");
}

static void move(struct sched *s, size_t i, enum job_event ev)
{
    enum job_state to;
    struct sjob *j = &s->j[i];
    if (job_transition(j->state, ev, &to))
        abort(); /* an illegal move is a bug in the scheduler, never input */
    if (j->state == JOB_RUNNING)
        s->running--;
    if (to == JOB_RUNNING)
        s->running++;
    bool was_pending = !job_state_done(j->state);
    bool is_pending = !job_state_done(to);
    if (was_pending && !is_pending)
        s->pending--;
    if (!was_pending && is_pending)
        s->pending++;
    j->state = to;
}

struct sched *sched_new(const struct pipeline *p, const bool *selected, unsigned flags)
{
    struct sched *s = xcalloc(1, sizeof(*s));
    s->p = p;
    s->n = p->njobs;
    s->flags = flags;
    s->j = xcalloc(s->n + 1, sizeof(*s->j));
    for (size_t i = 0; i < s->n; i++) {
        s->j[i].selected = !selected || selected[i];
        s->j[i].reason = xstrdup("");
        s->j[i].state = JOB_QUEUED;
        if (s->j[i].selected)
            s->pending++;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (!s->j[i].selected)
            continue;
        const struct pl_job *pj = &p->jobs[i];
        for (size_t k = 0; k < pj->nneed; k++) {
            struct sjob *need = &s->j[pj->need_idx[k]];
            ALLOC_GROW(need->dependants, need->ndep + 1, need->adep);
            need->dependants[need->ndep++] = i;
        }
    }
    return s;
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->j[i].reason);
        free(s->j[i].dependants);
    }
    free(s->j);
    free(s);
}

static void skip_dependants(struct sched *s, size_t i);

static bool need_ok(const struct sched *s, size_t i)
{
    const struct sjob *j = &s->j[i];
    if (j->state == JOB_PASSED)
        return true;
    return (j->state == JOB_FAILED || j->state == JOB_TIMED_OUT) && !j->retrying &&
           s->p->jobs[i].allow_failure;
}

void sched_restore(struct sched *s, size_t i, enum job_state state, int attempts, int base,
                   const char *reason)
{
    struct sjob *j = &s->j[i];
    if (!j->selected || j->state != JOB_QUEUED)
        return;
    j->attempts = attempts;
    j->base = base >= 0 && base <= attempts ? base : 0;
    switch (state) {
    case JOB_PASSED:
        move(s, i, JOB_EV_START);
        move(s, i, JOB_EV_PASS);
        break;
    case JOB_SKIPPED:
        move(s, i, JOB_EV_SKIP);
        set_reason(j, reason);
        break;
    case JOB_CANCELLED:
        move(s, i, JOB_EV_CANCEL);
        set_reason(j, reason);
        break;
    case JOB_FAILED:
    case JOB_TIMED_OUT:
        move(s, i, JOB_EV_START);
        move(s, i, state == JOB_FAILED ? JOB_EV_FAIL : JOB_EV_TIME_OUT);
        set_reason(j, reason);
        if (!s->p->jobs[i].allow_failure)
            skip_dependants(s, i);
        break;
    case JOB_QUEUED:
    case JOB_RUNNING:
        if (attempts - j->base > s->p->jobs[i].retries) {
            move(s, i, JOB_EV_START);
            move(s, i, JOB_EV_FAIL);
            set_reason(j, reason);
            if (!s->p->jobs[i].allow_failure)
                skip_dependants(s, i);
        } else if (attempts > j->base) {
            j->retrying = true;
            set_reason(j, reason);
        } else {
            set_reason(j, reason);
        }
        break;
    }
}

long sched_next(struct sched *s)
{
    if (s->cancelling)
        return -1;
    for (size_t i = 0; i < s->n; i++) {
        struct sjob *j = &s->j[i];
        if (!j->selected || j->state != JOB_QUEUED)
            continue;
        const struct pl_job *pj = &s->p->jobs[i];
        bool ready = true;
        for (size_t k = 0; k < pj->nneed && ready; k++)
            ready = need_ok(s, pj->need_idx[k]);
        if (!ready)
            continue;
        move(s, i, JOB_EV_START);
        j->attempts++;
        j->retrying = false;
        set_reason(j, "");
        return (long)i;
    }
    return -1;
}

/* Skips every queued job depending on i, transitively, naming the cause. */
static void skip_dependants(struct sched *s, size_t i)
{
    /* Breadth first, so that a job skipped for two reasons names its first need. */
    size_t *queue = xmalloc(xmul(s->n + 1, sizeof(size_t)));
    size_t head = 0, tail = 0;
    queue[tail++] = i;
    while (head < tail) {
        size_t v = queue[head++];
        const char *what = s->j[v].state == JOB_SKIPPED     ? "was skipped"
                           : s->j[v].state == JOB_TIMED_OUT ? "timed out"
                           : s->j[v].state == JOB_CANCELLED ? "was cancelled"
                                                            : "failed";
        for (size_t k = 0; k < s->j[v].ndep; k++) {
            size_t d = s->j[v].dependants[k];
            if (s->j[d].state != JOB_QUEUED)
                continue;
            struct buf r = BUF_INIT;
            buf_addf(&r, "needs '%s', which %s", s->p->jobs[v].name, what);
            move(s, d, JOB_EV_SKIP);
            set_reason(&s->j[d], r.data);
            buf_release(&r);
            queue[tail++] = d;
        }
    }
    free(queue);
}

static void finish(struct sched *s, size_t i, enum job_event ev, const char *final_reason);

void sched_finish(struct sched *s, size_t i, enum job_event ev)
{
    finish(s, i, ev, NULL);
}

void sched_fail(struct sched *s, size_t i, const char *reason)
{
    finish(s, i, JOB_EV_FAIL, reason);
}

static void finish(struct sched *s, size_t i, enum job_event ev, const char *final_reason)
{
    struct sjob *j = &s->j[i];
    const struct pl_job *pj = &s->p->jobs[i];
    move(s, i, ev);
    if (final_reason)
        set_reason(j, final_reason);
    if (ev == JOB_EV_PASS)
        return;
    if (ev == JOB_EV_CANCEL) {
        /* One job cancelled on its own: what needs it cannot run. */
        if (!s->cancelling)
            skip_dependants(s, i);
        return;
    }
    /* failed or timed out */
    if (!s->cancelling && !final_reason && j->attempts - j->base <= pj->retries) {
        move(s, i, JOB_EV_RETRY);
        j->retrying = true;
        struct buf r = BUF_INIT;
        buf_addf(&r, "attempt %d %s; retrying", j->attempts,
                 ev == JOB_EV_TIME_OUT ? "timed out" : "failed");
        set_reason(j, r.data);
        buf_release(&r);
        return;
    }
    if (pj->allow_failure)
        return; /* dependants may go on */
    if (s->flags & SCHED_FAIL_FAST) {
        struct buf r = BUF_INIT;
        buf_addf(&r, "'%s' %s and --fail-fast is set", pj->name,
                 ev == JOB_EV_TIME_OUT ? "timed out" : "failed");
        sched_cancel_all(s, r.data);
        buf_release(&r);
        return;
    }
    skip_dependants(s, i);
}

bool sched_cancel_job(struct sched *s, size_t i, const char *reason)
{
    struct sjob *j = &s->j[i];
    if (!j->selected || j->state != JOB_QUEUED)
        return false;
    move(s, i, JOB_EV_CANCEL);
    set_reason(j, reason);
    skip_dependants(s, i);
    return true;
}

void sched_cancel_all(struct sched *s, const char *reason)
{
    s->cancelling = true;
    for (size_t i = 0; i < s->n; i++) {
        if (s->j[i].selected && s->j[i].state == JOB_QUEUED) {
            move(s, i, JOB_EV_CANCEL);
            set_reason(&s->j[i], reason);
        }
    }
}

/* Why need k of a job is not met, for a message: "failed", "was skipped", ... */
static const char *unmet_what(const struct sjob *k)
{
    switch (k->state) {
    case JOB_FAILED:
        return "failed";
    case JOB_TIMED_OUT:
        return "timed out";
    case JOB_CANCELLED:
        return "was cancelled";
    case JOB_SKIPPED:
        return "was skipped";
    case JOB_RUNNING:
        return "is still running";
    default:
        return "has not run yet";
    }
}

int sched_rerun_plan(const struct sched *s, long job, bool *set, struct buf *err)
{
    int n = 0;
    memset(set, 0, s->n * sizeof(bool));
    if (job >= 0 && ((size_t)job >= s->n || !s->j[job].selected)) {
        buf_adds(err, "no such job in this run");
        return -ENOENT;
    }
    if (s->cancelling) {
        buf_adds(err, "the run is being cancelled");
        return -ECANCELED;
    }
    /* Index order is topological: a job's needs have been decided before it. */
    for (size_t i = 0; i < s->n; i++) {
        const struct sjob *j = &s->j[i];
        const struct pl_job *pj = &s->p->jobs[i];
        if (!j->selected)
            continue;
        bool any_set = false;
        long unmet = -1;
        for (size_t k = 0; k < pj->nneed; k++) {
            size_t d = pj->need_idx[k];
            if (set[d])
                any_set = true;
            else if (!need_ok(s, d) && unmet < 0)
                unmet = (long)d;
        }
        if (job >= 0 && (size_t)job == i) {
            if (!job_state_done(j->state)) {
                buf_addf(err, "job '%s' is still %s", pj->name, job_state_name(j->state));
                return -EBUSY;
            }
            if (unmet >= 0) {
                buf_addf(err, "job '%s' needs '%s', which %s: retry that one first", pj->name,
                         s->p->jobs[unmet].name, unmet_what(&s->j[unmet]));
                return -EDEADLK;
            }
            set[i] = true;
        } else if (job < 0 &&
                   (j->state == JOB_FAILED || j->state == JOB_TIMED_OUT ||
                    j->state == JOB_CANCELLED) &&
                   unmet < 0) {
            set[i] = true;
        } else if (any_set) {
            if (j->state == JOB_RUNNING) {
                for (size_t k = 0; k < pj->nneed; k++) {
                    if (set[pj->need_idx[k]]) {
                        buf_addf(err, "job '%s', which needs '%s', is still running", pj->name,
                                 s->p->jobs[pj->need_idx[k]].name);
                        break;
                    }
                }
                return -EBUSY;
            }
            if (j->state == JOB_QUEUED || unmet >= 0)
                continue;
            set[i] = true;
        }
        n += set[i];
    }
    if (!n) {
        buf_adds(err, "no job failed, timed out or was cancelled");
        return -ENOENT;
    }
    return n;
}

void sched_rerun(struct sched *s, const bool *set, const char *reason)
{
    for (size_t i = 0; i < s->n; i++) {
        struct sjob *j = &s->j[i];
        if (!set[i] || !j->selected)
            continue;
        move(s, i, JOB_EV_RERUN);
        j->base = j->attempts;
        j->retrying = false;
        set_reason(j, reason);
    }
}

size_t sched_waiting(const struct sched *s)
{
    size_t n = 0;
    if (s->cancelling)
        return 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct pl_job *pj = &s->p->jobs[i];
        bool ready = s->j[i].selected && s->j[i].state == JOB_QUEUED;
        for (size_t k = 0; k < pj->nneed && ready; k++)
            ready = need_ok(s, pj->need_idx[k]);
        n += ready;
    }
    return n;
}

bool sched_done(const struct sched *s)
{
    return s->pending == 0;
}

bool sched_cancelling(const struct sched *s)
{
    return s->cancelling;
}

size_t sched_running(const struct sched *s)
{
    return s->running;
}

enum sched_result sched_result(const struct sched *s)
{
    enum sched_result r = SCHED_PASSED;
    for (size_t i = 0; i < s->n; i++) {
        const struct sjob *j = &s->j[i];
        if (!j->selected)
            continue;
        switch (j->state) {
        case JOB_CANCELLED:
            return SCHED_CANCELLED;
        case JOB_FAILED:
        case JOB_TIMED_OUT:
            if (!s->p->jobs[i].allow_failure)
                r = SCHED_FAILED;
            break;
        case JOB_SKIPPED:
        case JOB_QUEUED:
        case JOB_RUNNING:
            r = SCHED_FAILED;
            break;
        case JOB_PASSED:
            break;
        }
    }
    return r;
}

const char *sched_result_name(enum sched_result r)
{
    switch (r) {
    case SCHED_PASSED:
        return "passed";
    case SCHED_FAILED:
        return "failed";
    case SCHED_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

bool sched_selected(const struct sched *s, size_t j)
{
    return s->j[j].selected;
}

enum job_state sched_state(const struct sched *s, size_t j)
{
    return s->j[j].state;
}

const char *sched_reason(const struct sched *s, size_t j)
{
    return s->j[j].reason;
}

int sched_attempts(const struct sched *s, size_t j)
{
    return s->j[j].attempts;
}

int sched_retry_base(const struct sched *s, size_t j)
{
    return s->j[j].base;
}

bool sched_retrying(const struct sched *s, size_t j)
{
    return s->j[j].retrying;
}

static bool when_applies(const struct pl_job *j, unsigned event, const char *ref)
{
    if (!(j->when.events & event))
        return false;
    if (!ref)
        return true;
    const struct pl_strs *globs = event == PL_EV_TAG ? &j->when.tags : &j->when.branches;
    if (!globs->n)
        return true;
    for (size_t k = 0; k < globs->n; k++)
        if (glob_match(globs->v[k].s, ref))
            return true;
    return false;
}

int sched_select(const struct pipeline *p, const char *const *names, size_t n, unsigned event,
                 const char *ref, bool *selected, struct buf *err)
{
    memset(selected, 0, p->njobs * sizeof(bool));
    for (size_t k = 0; k < n; k++) {
        bool found = false;
        for (size_t i = 0; i < p->njobs; i++) {
            if (!strcmp(p->jobs[i].name, names[k]) || !strcmp(p->jobs[i].base, names[k])) {
                selected[i] = true;
                found = true;
            }
        }
        if (!found) {
            const char **cands = xcalloc(p->njobs + 1, sizeof(char *));
            for (size_t i = 0; i < p->njobs; i++)
                cands[i] = p->jobs[i].base;
            const char *sg = diag_suggest(names[k], cands, p->njobs);
            buf_addf(err, "unknown job '%s'", names[k]);
            if (sg)
                buf_addf(err, " (did you mean '%s'?)", sg);
            free(cands);
            return -1;
        }
    }
    if (!n)
        for (size_t i = 0; i < p->njobs; i++)
            selected[i] = when_applies(&p->jobs[i], event, ref);
    /* Close under needs: jobs come after what they need, so walk backwards. */
    for (size_t i = p->njobs; i-- > 0;)
        if (selected[i])
            for (size_t k = 0; k < p->jobs[i].nneed; k++)
                selected[p->jobs[i].need_idx[k]] = true;
    return 0;
}
