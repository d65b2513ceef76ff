/*
 * forge: what flywheel speaks with the forges where reviews happen (GitHub,
 * GitLab, Gitea and Forgejo, which speaks Gitea's API): their webhooks in,
 * their commit statuses out. This file is the pure part: the signature
 * check, the parsing of webhook payloads into a small struct, and the exact
 * request a commit status is. The HTTP routes are in api_forge.c, the
 * delivery of statuses in forge_status.c; docs/forges.md is for people.
 *
 * Webhooks in: a repository's forge signs each request with the secret the
 * configuration names, and the body is checked against it before anything
 * else reads it:
 *
 *     GitHub  X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>
 *     GitLab  X-Gitlab-Token: <the secret itself>
 *     Gitea   X-Gitea-Signature: <hex HMAC-SHA256(secret, body)>
 *
 * always compared in constant time. Then forge_parse() reads the event the
 * header names (X-GitHub-Event, X-Gitlab-Event, X-Gitea-Event) from the JSON
 * body, checking every field it uses for its type and size.
 */
#ifndef FLYWHEEL_SERVER_FORGE_H
#define FLYWHEEL_SERVER_FORGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum forge_kind {
    FORGE_NONE = 0,
    FORGE_GITHUB,
    FORGE_GITLAB,
    FORGE_GITEA, /* Forgejo too */
};

/* "github", "gitlab", "gitea", NULL: index kind - 1. */
extern const char *const forge_kind_names[];
const char *forge_kind_name(enum forge_kind k);
/* FORGE_NONE for a name that is not one of forge_kind_names. */
enum forge_kind forge_kind_parse(const char *s);
/* The default base URL of the status API ("https://api.github.com",
 * "https://gitlab.com"), or NULL when there is none (Gitea: each instance). */
const char *forge_default_api_url(enum forge_kind k);

/* The request headers of a forge's webhooks. delivery: the first of the
 * NULL-terminated list that is present (GitLab's Idempotency-Key is the same
 * on each retry of a delivery; older GitLabs send X-Gitlab-Event-UUID only). */
const char *forge_event_header(enum forge_kind k);
const char *forge_signature_header(enum forge_kind k);
const char *const *forge_delivery_headers(enum forge_kind k);

#define FORGE_SECRET_MAX   4096 /* as WEBHOOK_SECRET_MAX */
#define FORGE_DELIVERY_MAX 128  /* longer delivery ids are refused */
#define FORGE_NAME_MAX     255  /* refs, branches, repository names */

/*
 * Whether sig (the signature header's value, NULL when absent) signs body
 * with secret, as kind signs: see the top of this file. Constant time in the
 * secret and the expected signature; a missing or malformed header is false.
 */
bool forge_verify(enum forge_kind k, const void *secret, size_t secret_len, const char *sig,
                  const void *body, size_t len);

enum forge_event_type {
    FORGE_EV_IGNORED, /* an event or action flywheel does not act on (202) */
    FORGE_EV_PING,    /* GitHub's ping when a webhook is made (200) */
    FORGE_EV_PUSH,    /* branches and tags, created, moved or deleted: fetch the mirror */
    FORGE_EV_PULL,    /* a pull (merge) request opened, reopened, or with new commits */
};

struct forge_event {
    enum forge_event_type type;
    char why[400]; /* FORGE_EV_IGNORED: why, for the reply */
    /* The repository the event is about, to check it against the configuration:
     * GitHub, Gitea: "owner/name" (repository.full_name); GitLab: the project's
     * path_with_namespace and id. "" / 0 when the payload has none. */
    char repo[FORGE_NAME_MAX + 1];
    int64_t project_id;
    /* FORGE_EV_PUSH: the ref and its new commit (40 zeros when deleted). */
    /* FORGE_EV_PULL: the ref holding the head on the base repository
     * ("refs/pull/5/head", GitLab "refs/merge-requests/5/head") and the head commit. */
    char ref[FORGE_NAME_MAX + 1];
    char sha[41];
    bool deleted;
    /* FORGE_EV_PULL */
    char action[32];                      /* as sent: "opened", "synchronize", "update", ... */
    int64_t number;                       /* the PR's number (GitLab: the MR's iid) */
    char head_branch[FORGE_NAME_MAX + 1]; /* the head's branch, in its own repository */
    bool fork;                            /* the head comes from another repository */
};

/*
 * Reads the event named event (the event header's value; NULL when absent)
 * from body. Returns 0 with ev filled (ev->type says what it is; unknown
 * events and actions are FORGE_EV_IGNORED with why), or -1 with err when the
 * body is not the JSON object the event is made of, or a field it needs is
 * missing or of the wrong type or size. Never reads past len; the body need
 * not be NUL-terminated.
 */
int forge_parse(enum forge_kind k, const char *event, const char *body, size_t len,
                struct forge_event *ev, struct buf *err) __attribute__((warn_unused_result));

/*
 * Whether a configured project names the repository ev is about: GitHub and
 * Gitea compare "owner/name" without regard to case, GitLab a numeric id
 * with the project's id and a path with its path_with_namespace. True when
 * project is NULL (not configured) or the event names no repository.
 */
bool forge_project_matches(enum forge_kind k, const char *project, const struct forge_event *ev);
/* 0 when project is well formed for kind ("owner/name"; GitLab: an id or
 * "group/.../name"); -1 with err otherwise. */
int forge_project_check(enum forge_kind k, const char *project, struct buf *err)
    __attribute__((warn_unused_result));

/* ---- the server's forges ---- */

/* A repository's forge, as the server runs it: the configuration, secrets read. */
struct forge_repo {
    char *repo; /* flywheel's name of the repository */
    enum forge_kind kind;
    char *project;         /* NULL: not configured */
    char *api_url;         /* the status API's base URL */
    unsigned char *secret; /* the webhook secret; NULL: no webhooks */
    size_t secret_len;     /* > 0 with a secret */
    char *token;           /* the status token; NULL: no statuses */
};

struct forge_set {
    struct forge_repo *v;
    size_t n;
    char *public_url; /* the server's address for links to runs; NULL: none */
};

/* The forge of repository repo, or NULL. */
const struct forge_repo *forge_set_find(const struct forge_set *s, const char *repo);
/* Frees what s holds, secrets and tokens wiped first. */
void forge_set_release(struct forge_set *s);

/* ---- commit statuses ---- */

/* A run, as a status reports it. */
struct forge_run {
    int64_t id, number;
    const char *repo;   /* flywheel's name of the repository */
    const char *kind;   /* "change", "main", "tag", "manual" */
    const char *state;  /* "queued", "running", "passed", "failed", "cancelled" */
    const char *commit; /* 40 hex */
};

/* The forge's state for a run's state ("pending", "success", GitLab "running",
 * "failed", ...), or NULL for a state that has none. */
const char *forge_status_state(enum forge_kind k, const char *run_state);

/* One status request: POST url with body and the headers, each "Name: value". */
#define FORGE_HEADERS_MAX 6
struct forge_request {
    struct buf url, body;
    struct buf auth; /* the header with the token; wiped by forge_request_release */
    const char *headers[FORGE_HEADERS_MAX + 1]; /* the others (static); NULL-terminated */
};

/*
 * The status of run on kind's API at api_url (trailing '/' ignored), for
 * project, with token; target_url is public_url + "/api/v1/runs/ID" (left
 * out when public_url is NULL). Returns 0, or -1 when the run's state has no
 * status. Release r with forge_request_release (also after -1).
 */
int forge_status_request(enum forge_kind k, const char *api_url, const char *project,
                         const char *token, const char *public_url, const struct forge_run *run,
                         struct forge_request *r);
void forge_request_release(struct forge_request *r);

#endif
