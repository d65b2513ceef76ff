/*
 * store/forge: what the store keeps for the forges (server/forge.h): the
 * delivery ids of the webhooks received, and the outbox of commit statuses.
 *
 * Deliveries: store_delivery_add records (repository, forge, id) once; a
 * second add of the same id says so, which is how a redelivered webhook is
 * told from a new one. Ids older than the age given are deleted on the way.
 *
 * Statuses: the repositories whose forge gets statuses are listed with
 * store_forge_track (on every start, from the configuration). From then on
 * the schema's triggers keep a row per run of those repositories, marked due
 * in the same transaction as each change of the run's state (migration 8 in
 * store.c). The sender takes the due rows (store_forge_due), sends the run's
 * current state, and records the outcome with store_forge_sent,
 * store_forge_retry or store_forge_settled; each names the generation it
 * read, so that a change of state that came meanwhile stays due.
 */
#ifndef FLYWHEEL_STORE_FORGE_H
#define FLYWHEEL_STORE_FORGE_H

#include <stdint.h>

#include "store/store.h"

/*
 * Records delivery id of forge ("github", ...) for repo_id, received at
 * now_ms, and deletes every id received before now_ms - keep_ms. Returns 1
 * when the id is new, 0 when it was recorded already (nothing changes), or
 * a negative code with err.
 */
int store_delivery_add(struct store *st, int64_t repo_id, const char *forge, const char *id,
                       int64_t now_ms, int64_t keep_ms, struct buf *err);
/* Forgets a delivery id (its event could not be acted on: a redelivery may try again). */
int store_delivery_remove(struct store *st, int64_t repo_id, const char *forge, const char *id,
                          struct buf *err);

/* Makes repo_ids (n of them) the repositories whose runs get statuses, in one transaction. */
int store_forge_track(struct store *st, const int64_t *repo_ids, size_t n, struct buf *err)
    __attribute__((warn_unused_result));

/* A status to send. */
struct store_forge_status {
    int64_t run_id;
    char *sent; /* the forge's state last accepted (or refused for good), "" for none */
    int64_t gen;
    int attempts;
    char *error; /* why the last attempt failed, or "" */
    int64_t next_try_ms;
};

/* At most limit rows due at now_ms, the longest due first. */
int store_forge_due(struct store *st, int64_t now_ms, size_t limit, struct store_forge_status **out,
                    size_t *n, struct buf *err);
/* When the next row is due (ms since the epoch), or 0 when none is. */
int64_t store_forge_next_due(struct store *st, struct buf *err);
/* The row of run_id; -ENOENT when there is none. */
int store_forge_get(struct store *st, int64_t run_id, struct store_forge_status *out,
                    struct buf *err);
/* The forge accepted state for run_id (read at generation gen). */
int store_forge_sent(struct store *st, int64_t run_id, int64_t gen, const char *state,
                     struct buf *err);
/* The attempt to send state failed: try again at next_try_ms, or never
 * (next_try_ms 0: state then counts as sent, so that only a state the
 * forge has not refused yet is tried again). */
int store_forge_retry(struct store *st, int64_t run_id, int64_t gen, const char *state,
                      int attempts, int64_t next_try_ms, const char *why, struct buf *err);
/* Nothing to send for generation gen (the forge has the state already, or
 * the repository no longer gets statuses). */
int store_forge_settled(struct store *st, int64_t run_id, int64_t gen, struct buf *err);

void store_forge_status_release(struct store_forge_status *s);
void store_forge_statuses_release(struct store_forge_status *v, size_t n);

#endif
