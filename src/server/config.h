/*
 * config: the server's configuration file (flywheel serve --config FILE).
 *
 *     listen: 127.0.0.1:8080
 *     data: /var/lib/flywheel
 *     slots: 4
 *     poll: 60s                  # default polling interval of repositories
 *     kill_grace: 10s
 *     cancel_superseded: true    # a newer push to a change branch cancels the older run
 *     retention: { runs: 200, age: 30d, interval: 10m }   # per repository; a run goes
 *                                # when it is beyond both (a count only: beyond it)
 *     repositories:
 *       - name: app
 *         url: /srv/git/app.git
 *         main: main
 *         poll: 30s              # 0s: no polling (hooks and the API only)
 *         schedules:
 *           - { cron: "0 3 * * *", ref: main, timezone: "+01:00" }
 *     forks: { sandbox: true, network: false }      # runs of changes from forks (the
 *                                # defaults): jobs under bubblewrap, without network
 *     webhooks:
 *       - url: https://chat.example/hooks/abc       # http:// or https:// only
 *         secret_file: /etc/flywheel/hook.secret     # or secret: ... (one of the two)
 *         events: [deployment, line]                 # the default; also run, job
 *
 * Pure: parses bytes; every error has file:line:column (diag.h). Command
 * line options override the file's values.
 */
#ifndef FLYWHEEL_SERVER_CONFIG_H
#define FLYWHEEL_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/diag.h"

struct config_schedule {
    char *cron;
    char *ref;
    int tz_offset_s;
};

struct config_repo {
    char *name, *url, *main_branch;
    int64_t poll_ms; /* -1: the server's default */
    struct config_schedule *schedules;
    size_t nschedules;
};

struct config_webhook {
    char *url;
    char *secret;          /* inline; NULL when secret_file is given */
    char *secret_file;     /* read by the caller (config_parse does no I/O) */
    struct pos secret_pos; /* of secret_file's value, for the caller's errors */
    unsigned events;       /* enum webhook_events bits (server/webhook.h) */
};

struct config {
    char *listen, *data;            /* NULL: not set */
    int slots;                      /* 0: not set */
    int64_t poll_ms, kill_grace_ms; /* -1: not set */
    int cancel_superseded;          /* -1: not set, else 0/1 */
    int retention_runs;             /* 0: keep all */
    int64_t retention_age_ms;       /* 0: keep all */
    int64_t retention_interval_ms;  /* how often the clean-up runs; 0: 10 minutes */
    int fork_sandbox, fork_network; /* -1: not set, else 0/1 */
    struct config_repo *repos;
    size_t nrepos;
    struct config_webhook *webhooks;
    size_t nwebhooks;
};

/* Returns 0 and fills c, or -1 with errors in d. The caller releases c either way
 * (config_release wipes inline secrets). */
int config_parse(const char *file, const char *src, size_t len, struct config *c,
                 struct diag_list *d) __attribute__((warn_unused_result));
void config_release(struct config *c);
/* "+01:00", "-05:30", "UTC", "Z" -> seconds east of UTC; -1 with err otherwise. */
int config_tz_offset(const char *s, int *out_s);

#endif
