/*
 * forge_status: commit statuses to the forges (server/forge.h says what a
 * request is; docs/forges.md what each forge is sent).
 *
 * Every run of a repository whose forge has a status token and a project
 * gets a status on its commit: pending when it is queued (GitLab: running
 * once it runs), then success, failure or the forge's word for cancelled
 * when it ends, with a link to the run when the configuration has
 * public_url, under the context "flywheel/<kind>".
 *
 * Durable: the store keeps the outbox (store/forge.h). A run's row is made
 * with the run and marked due with each change of its state, in the same
 * transactions, so neither a crash nor a restart loses a status; the sender
 * sends the run's state as it is when it sends (states that came and went
 * meanwhile are not sent: a forge shows the latest). A status is sent once
 * per state the forge knows (GitHub and Gitea have no "running": a run that
 * starts sends nothing new).
 *
 * Delivery: one thread, one request at a time, 5 s to connect and 10 s in
 * all. A transport error, 408, 429, a 5xx, or a 403 with Retry-After (a
 * rate limit) is tried again after 1 s, 2 s, 4 s ... up to 5 minutes between
 * attempts (Retry-After when the forge gives one), FORGE_STATUS_ATTEMPTS
 * attempts in all; any other answer but 2xx ends it at once (that state is
 * not tried again; the run's next state is). Failures are
 * logged, never fail a run, and never show a token: messages name the forge
 * by its API's scheme, host and port.
 *
 *     forge_status_start(&fs, db_path, &forges, &err);  // after the repositories exist
 *     forge_status_wake(fs);                             // any thread: a run's state changed
 *     forge_status_stop(fs);                             // what is due stays due
 */
#ifndef FLYWHEEL_SERVER_FORGE_STATUS_H
#define FLYWHEEL_SERVER_FORGE_STATUS_H

#include "server/forge.h"
#include "util/buf.h"

#define FORGE_STATUS_ATTEMPTS     12
#define FORGE_STATUS_MAX_DELAY_MS 300000
#define FORGE_STATUS_CONNECT_MS   5000
#define FORGE_STATUS_TIMEOUT_MS   10000

struct forge_status;

/*
 * Lists the repositories of set whose runs get statuses (those with a token
 * and a project) in the store at db_path (every repository of set must be
 * in it), then starts the sender if there is any. *out stays NULL when no
 * repository gets statuses. set outlives the sender. Returns 0, or -1 with
 * err.
 */
int forge_status_start(struct forge_status **out, const char *db_path, const struct forge_set *set,
                       struct buf *err) __attribute__((warn_unused_result));
/* Something may be due: look now rather than at the next poll. Any thread,
 * quick (the engine's event sink calls it); fs may be NULL. */
void forge_status_wake(struct forge_status *fs);
/* Stops the sender (a request under way is abandoned) and frees fs (NULL is fine). */
void forge_status_stop(struct forge_status *fs);

/* The delay before attempt + 1 after a failed attempt (1-based), without Retry-After. */
int64_t forge_status_backoff_ms(int attempt);

#endif
