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
 *     public_url: https://ci.example.com   # links to runs in forges' commit statuses
 *     repositories:
 *       - name: app
 *         url: /srv/git/app.git
 *         main: main
 *         poll: 30s              # 0s: no polling (hooks and the API only)
 *         schedules:
 *           - { cron: "0 3 * * *", ref: main, timezone: "+01:00" }
 *         forge:                 # docs/forges.md
 *           kind: github         # github, gitlab, gitea (Forgejo: gitea)
 *           project: octo/app    # GitLab: the id (42) or path (group/app)
 *           webhook_secret_file: /etc/flywheel/app.hook   # or webhook_secret: ...
 *           status_token_file: /etc/flywheel/app.token    # or status_token: ...
 *           api_url: https://api.github.com               # required for gitea
 *     auth:
 *       public_read: false       # true: reading needs no token (a read-only dashboard)
 *       rate: 50                 # requests per second per token (or per address
 *       burst: 200               # without one), with bursts up to this; over it: 429
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
#include "util/buf.h"

struct config_schedule {
    char *cron;
    char *ref;
    int tz_offset_s;
};

/* A repository's forge (server/forge.h): webhooks in, statuses out. */
struct config_forge {
    int kind;                   /* enum forge_kind */
    char *project;              /* NULL: not set */
    char *api_url;              /* NULL: the kind's default */
    char *secret, *secret_file; /* the webhook secret: at most one set; both NULL: no hooks */
    struct pos secret_pos;      /* of secret_file's value */
    char *token, *token_file;   /* the status token: at most one; both NULL: no statuses */
    struct pos token_pos;       /* of token_file's value */
};

struct config_repo {
    char *name, *url, *main_branch;
    int64_t poll_ms; /* -1: the server's default */
    struct config_schedule *schedules;
    size_t nschedules;
    struct config_forge *forge; /* NULL: none */
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
    int public_read;                /* -1: not set, else 0/1 */
    int rate, burst;                /* 0: not set */
    char *public_url;               /* the server's address for links; NULL: not set */
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
/*
 * A copy of src (len bytes) for showing lines of it in diagnostics: the
 * values of the inline secrets (secret, webhook_secret, status_token) are
 * replaced by '*' (to the closing quote, or to the end of the line), every
 * other byte kept, so that positions stay right.
 */
void config_redact(const char *src, size_t len, struct buf *out);
/* "+01:00", "-05:30", "UTC", "Z" -> seconds east of UTC; -1 with err otherwise. */
int config_tz_offset(const char *s, int *out_s);

#endif
