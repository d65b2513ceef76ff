/*
 * The local state of a repository for the CLI commands that work without a
 * server (run, runs, logs): REPO/.flywheel with its database, artifact store,
 * logs and workspaces.
 */
#ifndef FLYWHEEL_CLI_LOCAL_H
#define FLYWHEEL_CLI_LOCAL_H

#include "store/cas.h"
#include "store/store.h"
#include "util/buf.h"

struct cli_local {
    char *repo;      /* the repository's top level */
    char *state_dir; /* repo/.flywheel */
    struct store *store;
    struct cas *cas; /* only with CLI_LOCAL_CAS */
};

enum cli_local_flags {
    CLI_LOCAL_CREATE = 1 << 0, /* create .flywheel if missing (else: "no runs yet") */
    CLI_LOCAL_CAS = 1 << 1,
};

/* Opens the state of the repository containing dir (NULL: the current directory). */
int cli_local_open(struct cli_local *lc, const char *dir, unsigned flags, struct buf *err)
    __attribute__((warn_unused_result));
void cli_local_close(struct cli_local *lc);

/* "1.2s", "3m04s", "45ms": a duration for people. */
void cli_format_duration(int64_t ms, struct buf *out);

#endif
