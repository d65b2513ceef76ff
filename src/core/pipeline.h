/*
 * The pipeline file (.flywheel.yml): its model and its checker.
 *
 * Calling sequence:
 *
 *     struct diag_list d = DIAG_LIST_INIT;
 *     struct pipeline *p = pipeline_parse(".flywheel.yml", src, len, NULL, 0, &d);
 *     if (!p) { render d; ... }           // d.nerrors > 0
 *     ... p->jobs[0 .. p->njobs) in topological order ...
 *     pipeline_free(p);
 *     diag_list_release(&d);
 *
 * pipeline_parse() is pure: it reads only the bytes it is given. It reports
 * every problem it finds (up to the diag list's cap), each with a position,
 * and returns a pipeline only when there is no error (warnings may remain).
 * The returned pipeline is normalised: defaults filled in, matrices expanded
 * (one job per combination, named "base[v1,v2]"), needs resolved to indexes,
 * jobs sorted so that every job comes after the jobs it needs, ties in file
 * order.
 *
 * docs/pipeline.md is the user's reference for every key below.
 */
#ifndef FLYWHEEL_CORE_PIPELINE_H
#define FLYWHEEL_CORE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/diag.h"
#include "core/window.h"
#include "util/buf.h"

struct pl_str {
    char *s;
    struct pos pos;
};

struct pl_strs {
    struct pl_str *v;
    size_t n, alloc;
};

struct pl_kv {
    char *key, *value;
    struct pos pos;
};

struct pl_kvs {
    struct pl_kv *v;
    size_t n, alloc;
};

/* Kinds of run a job takes part in. */
enum pl_event {
    PL_EV_MAIN = 1 << 0,
    PL_EV_CHANGE = 1 << 1,
    PL_EV_TAG = 1 << 2,
    PL_EV_ALL = (1 << 3) - 1,
};

struct pl_when {
    unsigned events;         /* enum pl_event bits */
    struct pl_strs branches; /* globs; empty = every branch */
    struct pl_strs tags;     /* globs; empty = every tag */
};

enum pl_isolation { PL_ISO_NONE, PL_ISO_SANDBOX };

struct pl_job {
    char *name; /* unique; "base[v1,v2]" for a matrix combination */
    char *base; /* the key under jobs: */
    struct pos pos;
    struct pl_strs run;   /* commands, run in order by one shell */
    struct pl_strs needs; /* as written (a base name stands for all its combinations) */
    size_t *need_idx;     /* resolved: indexes into pipeline.jobs, no duplicates */
    size_t nneed;
    struct pl_kvs env;    /* the job's env with the matrix values set: one entry per name, a
                             matrix value in the place of the job's own for the same name,
                             the other matrix values last */
    struct pl_kvs matrix; /* this combination's values, in axis order */
    struct pl_when when;
    int64_t timeout_ms;
    int retries;
    struct pl_strs artifacts, reports, cache_inputs, secrets;
    enum pl_isolation isolation;
    bool network, checkout, allow_failure;
};

/* Where a repository keeps its pipeline. */
#define PIPELINE_FILE ".flywheel.yml"

struct pl_release {
    bool present;
    struct pos pos;
    struct pl_strs from; /* as written */
    size_t *from_idx;    /* resolved job indexes */
    size_t nfrom;
    char *version;      /* pattern, default "r{n}" */
    bool version_given; /* false: the default (a tag run's release is named after the tag) */
};

enum pl_check_kind { PL_CHECK_HTTP, PL_CHECK_RUN, PL_CHECK_PROMETHEUS };

/* What a prometheus measurement with no data (an empty result, or NaN) counts as. */
enum pl_no_data { PL_NODATA_INCONCLUSIVE, PL_NODATA_FAIL, PL_NODATA_PASS };

#define PL_MAX_EXPECT 16

struct pl_check {
    enum pl_check_kind kind;
    struct pos pos;
    char *name;     /* default: derived from the kind and subject */
    char *subject;  /* the URL, the command or the PromQL query */
    char *server;   /* prometheus: base URL */
    char *contains; /* http: body must contain this, or NULL */
    char *json;     /* http: a JSON pointer (RFC 6901, checked) into the body, or NULL */
    char *equals;   /* http, only with json: the value's text must be this, or NULL */
    int expect[PL_MAX_EXPECT];
    size_t nexpect;
    bool has_min, has_max; /* prometheus: at least one; http: only with json, never with
                              equals (the value must be a JSON number within them) */
    double min, max;
    int64_t timeout_ms; /* limit for one measurement */
    /*
     * A measurement passes, fails, errs (no answer, a timeout, a Prometheus
     * error) or, for prometheus, has no data. The counts below hold for one
     * period: a wave's bake, or the environment's monitor.
     */
    int failure_limit;   /* failed measurements tolerated (in total, not in a row); default 0 */
    int error_limit;     /* errors in a row tolerated; one more counts as a failed measurement;
                            default 4 */
    int count;           /* measurements required before the check can pass; 0 = not given:
                            at least one, and as many as fit in the bake at the interval */
    int64_t interval_ms; /* between two measurements; 0 = not given: the verify interval */
    enum pl_no_data on_no_data; /* prometheus only; PL_NODATA_INCONCLUSIVE for the others */
};

struct pl_target {
    char *name;
    struct pos pos;
    struct pl_kvs vars;
};

struct pl_wave {
    size_t *targets; /* indexes into pl_environment.targets */
    size_t n;
};

struct pl_window {
    struct window_range *allow, *deny;
    size_t nallow, ndeny;
    char *timezone; /* default for ranges without their own; "UTC" by default */
};

struct pl_environment {
    char *name;
    struct pos pos;
    struct pl_target *targets;
    size_t ntargets;
    struct pl_wave *waves;
    size_t nwaves;
    struct pl_strs run, rollback; /* rollback empty = run with the previous release */
    int64_t timeout_ms;           /* limit for run (or rollback) on one target; default 30m */
    bool approval;                /* a person must approve each deployment */
    int64_t approval_timeout_ms;  /* the deployment fails when nobody approved by then;
                                     0 = wait without limit (always 0 without approval) */
    bool auto_promote;            /* false: waits for a manual `flywheel deploy` */
    struct pl_window window;
    struct pl_kvs env;
    struct pl_strs secrets;
    int64_t bake_ms, monitor_ms, interval_ms;
    struct pl_check *checks;
    size_t nchecks;
};

struct pipeline {
    char *file;
    char *name;        /* NULL when the file does not say */
    char *main_branch; /* default "main" */
    struct pl_kvs env;
    struct pl_job *jobs;
    size_t njobs;
    struct pl_release release;
    struct pl_environment *envs;
    size_t nenvs;
};

/*
 * Limits against hostile input; pipeline_limits_default() has the values
 * below. Besides these, the YAML text with aliases expanded is limited to
 * YTREE_MAX_BYTES (16 MiB, core/ytree.h).
 */
struct pl_limits {
    size_t max_bytes;    /* 1 MiB */
    size_t max_jobs;     /* 10,000 after matrix expansion */
    size_t max_depth;    /* 32 levels of nesting */
    size_t max_string;   /* 64 KiB per string */
    size_t max_nodes;    /* 1,000,000 YAML nodes with aliases expanded */
    size_t max_expanded; /* 16 MiB of text in the jobs after matrix expansion */
};

void pipeline_limits_default(struct pl_limits *lim);

enum pl_flags {
    /*
     * The caller fails on warnings (check --strict). No check depends on it
     * today: the warning about an unused job is given for jobs whose
     * artifacts nothing takes, with or without it, and test jobs, which
     * nothing needs by nature, are not "unused".
     */
    PL_STRICT = 1 << 0,
    /*
     * The time zones named by deployment windows must exist: they are
     * looked up with tz_get(), which reads the system's zone files. The one
     * exception to pipeline_parse() reading nothing but src; for `flywheel
     * check`. Without it only their shape is checked, and a zone missing on
     * the server is reported when the window is evaluated.
     */
    PL_ZONES = 1 << 1,
};

/*
 * Parses and checks src. Returns the pipeline, or NULL when there is at least
 * one error (all found are in d). lim may be NULL for the defaults.
 */
struct pipeline *pipeline_parse(const char *file, const char *src, size_t len,
                                const struct pl_limits *lim, unsigned flags, struct diag_list *d);
void pipeline_free(struct pipeline *p);

/* Index of the job called name, or -1. */
long pipeline_job_index(const struct pipeline *p, const char *name);

/* Appends the normalised pipeline as pretty-printed JSON (what `check --json` prints). */
void pipeline_to_json(const struct pipeline *p, struct buf *out);

const char *pl_event_name(enum pl_event e);

/* "inconclusive", "fail" or "pass": the on_no_data word, as written in the file. */
const char *pl_no_data_name(enum pl_no_data n);

#endif
