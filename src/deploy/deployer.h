/*
 * deployer: takes releases through the environments of their pipeline's
 * `deploy:` section, on the engine's loop.
 *
 * For each deployment (one release into one environment): wait for its turn
 * (one deployment per environment at a time: the store's lock), for the line
 * to run, for the window to open and for an approval; check out the
 * release's commit and materialise its files (digests verified); then wave
 * by wave run the deploy command on every target of the wave, bake (the
 * environment's checks, per target, every interval, judged as in
 * core/verify.h), and go on. After the last wave the release is promoted to
 * the next environment and the checks keep running for `monitor`.
 *
 * When a command or a check fails: the deployment fails, the release is
 * marked bad, the line stops, an incident opens in the last environment
 * (production), and a rollback deployment puts every touched target back on
 * the last release that succeeded there, in reverse wave order, without
 * bake. Inconclusive checks (no data) pause the deployment for a person to
 * approve (go on) or reject (fail and roll back).
 *
 * Every transition is written to the store before it takes effect. After a
 * crash, deployerr_open() resumes: a wave that was being deployed is deployed
 * again (deploy commands must be idempotent: installing the release a target
 * already runs is a no-op), a bake or monitoring period starts again.
 *
 * Deploy commands run on the server with `sh -e -c`, in a checkout of the
 * release's commit, in their own session and process group; a command that
 * starts a long-running service must detach it (setsid, nohup): when the
 * command exits its group is left alone, but a command that times out has
 * its whole group killed.
 *
 * Threads: the loop's; checkouts, file copies and check evaluations run on
 * libuv's thread pool.
 */
#ifndef FLYWHEEL_DEPLOY_DEPLOYER_H
#define FLYWHEEL_DEPLOY_DEPLOYER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "store/cas.h"
#include "store/store.h"
#include "util/buf.h"

struct deployer;

struct deployer_config {
    uv_loop_t *loop;
    struct store *st;
    struct cas *cas;
    const char *data_dir; /* deploy/ and logs/deploy/ go under it */
    /* The clock (Unix ms); windows and deadlines use it. */
    int64_t (*now_ms)(void *ctx);
    /* A state change for live viewers; takes the reference to o. */
    void (*event)(void *ctx, json_t *o);
    /* A repository's name and mirror (bare git directory), or NULL. */
    const char *(*repo_name)(void *ctx, int64_t repo_id);
    const char *(*repo_mirror)(void *ctx, int64_t repo_id);
    void *ctx;
};

/* Opens the deployer and resumes what a previous process left unfinished. */
int deployer_open(struct deployer **out, const struct deployer_config *cfg, struct buf *err)
    __attribute__((warn_unused_result));
/* Stops every running command (they are deployed again on the next start) and frees. The loop
 * must run afterwards for the handles to close (uv_run until it returns). */
void deployer_free(struct deployer *d);

/* A release was made: it enters the first environment when that promotes automatically. */
void deployer_release_made(struct deployer *d, int64_t release_id);

/*
 * Commands (from the API through the engine). Each returns an HTTP status
 * (201/202 done, 400, 404, 409 refused) with the reason in err, and the
 * deployment's id in *id where one is made.
 */
int deployer_deploy(struct deployer *d, int64_t repo_id, const char *version, const char *env,
                    const char *actor, int64_t *id, struct buf *err);
/* Back to each target's last good release, or to version (NULL: the last good). */
int deployer_rollback(struct deployer *d, int64_t repo_id, const char *env, const char *version,
                      const char *actor, int64_t *id, struct buf *err);
/* Approve (go on) or reject a deployment waiting for approval or paused. */
int deployer_decide(struct deployer *d, int64_t deployment_id, bool approve, const char *actor,
                    const char *note, struct buf *err);
int deployer_line(struct deployer *d, int64_t repo_id, bool stop, const char *actor,
                  const char *reason, struct buf *err);

/* Deploy commands, checks and preparations running now (for /metrics and shutdown). */
int deployer_running(const struct deployer *d);
/* For /metrics, from any thread: tasks running now, and the measurements of checks made since
 * the start by outcome (pass, fail, no data, error). */
void deployer_stats(const struct deployer *d, int *tasks, int64_t measurements[4]);
/* The server stops: running commands are killed (they run again on the next start), nothing new
 * starts; deployer_running() drops to 0 as they end. */
void deployer_stop(struct deployer *d);

#endif
