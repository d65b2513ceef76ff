#include "server/forge.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/refs.h"
#include "util/crypto.h"
#include "util/xalloc.h"

#ifndef FLYWHEEL_VERSION
#define FLYWHEEL_VERSION "0.1.0"
#endif

const char *const forge_kind_names[] = {"github", "gitlab", "gitea", NULL};

const char *forge_kind_name(enum forge_kind k)
{
    return k >= FORGE_GITHUB && k <= FORGE_GITEA ? forge_kind_names[k - 1] : "none";
}

enum forge_kind forge_kind_parse(const char *s)
{
    for (int i = 0; forge_kind_names[i]; i++)
        if (!strcmp(s, forge_kind_names[i]))
            return (enum forge_kind)(i + 1);
    return FORGE_NONE;
}

const char *forge_default_api_url(enum forge_kind k)
{
    switch (k) {
    case FORGE_GITHUB:
        return "https://api.github.com";
    case FORGE_GITLAB:
        return "https://gitlab.com";
    default:
        return NULL;
    }
}

const char *forge_event_header(enum forge_kind k)
{
    switch (k) {
    case FORGE_GITHUB:
        return "X-GitHub-Event";
    case FORGE_GITLAB:
        return "X-Gitlab-Event";
    default:
        return "X-Gitea-Event";
    }
}

const char *forge_signature_header(enum forge_kind k)
{
    switch (k) {
    case FORGE_GITHUB:
        return "X-Hub-Signature-256";
    case FORGE_GITLAB:
        return "X-Gitlab-Token";
    default:
        return "X-Gitea-Signature";
    }
}

const char *const *forge_delivery_headers(enum forge_kind k)
{
    static const char *const github[] = {"X-GitHub-Delivery", NULL};
    static const char *const gitlab[] = {"Idempotency-Key", "X-Gitlab-Event-UUID", NULL};
    static const char *const gitea[] = {"X-Gitea-Delivery", NULL};
    switch (k) {
    case FORGE_GITHUB:
        return github;
    case FORGE_GITLAB:
        return gitlab;
    default:
        return gitea;
    }
}

/* ---- signatures ---------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly 64 hex digits (either case) into 32 bytes. */
static bool hex32(const char *s, unsigned char out[32])
{
    for (int i = 0; i < 32; i++) {
        int h = hexval((unsigned char)s[2 * i]);
        int l = h < 0 ? -1 : hexval((unsigned char)s[2 * i + 1]);
        if (l < 0)
            return false;
        out[i] = (unsigned char)(h * 16 + l);
    }
    return s[64] == '\0';
}

bool forge_verify(enum forge_kind k, const void *secret, size_t secret_len, const char *sig,
                  const void *body, size_t len)
{
    unsigned char want[SHA256_LEN], got[SHA256_LEN];
    bool ok = false;

    if (!sig || !secret || !secret_len || secret_len > FORGE_SECRET_MAX)
        return false;
    switch (k) {
    case FORGE_GITLAB: {
        /* The token is the secret itself: compare digests, so that neither the
         * time nor a length check says how much of it was right. */
        size_t sl = strlen(sig);
        if (!sl || sl > FORGE_SECRET_MAX)
            return false;
        sha256(sig, sl, got);
        sha256(secret, secret_len, want);
        ok = crypto_equal(want, got, sizeof(want));
        break;
    }
    case FORGE_GITHUB:
        if (strncmp(sig, "sha256=", 7))
            return false;
        sig += 7;
        /* fall through */
    case FORGE_GITEA:
        if (strnlen(sig, 65) != 64 || !hex32(sig, got))
            return false;
        hmac_sha256(secret, secret_len, body, len, want);
        ok = crypto_equal(want, got, sizeof(want));
        break;
    default:
        return false;
    }
    crypto_wipe(want, sizeof(want));
    return ok;
}

/* ---- payloads ------------------------------------------------------------ */

/* Reading fields: each names the field by its path in messages ("'pull_request.head.sha'"). */
struct rd {
    struct buf *err;
};

static void path_of(struct buf *p, const char *where, const char *key)
{
    if (where && *where)
        buf_addf(p, "%s.%s", where, key);
    else
        buf_adds(p, key);
}

static json_t *get_obj(struct rd *r, json_t *o, const char *where, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_object(v))
        return v;
    struct buf p = BUF_INIT;
    path_of(&p, where, key);
    buf_addf(r->err, "'%s' must be an object", p.data);
    buf_release(&p);
    return NULL;
}

/* o[key]: a string of 1 to max bytes (0 to max when empty_ok). */
static const char *get_str(struct rd *r, json_t *o, const char *where, const char *key, size_t max,
                           bool empty_ok)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        if (n <= max && (n || empty_ok))
            return json_string_value(v);
    }
    struct buf p = BUF_INIT;
    path_of(&p, where, key);
    buf_addf(r->err, "'%s' must be a %sstring of at most %zu bytes", p.data,
             empty_ok ? "" : "non-empty ", max);
    buf_release(&p);
    return NULL;
}

static int get_int(struct rd *r, json_t *o, const char *where, const char *key, int64_t min,
                   int64_t max, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max) {
        *out = json_integer_value(v);
        return 0;
    }
    struct buf p = BUF_INIT;
    path_of(&p, where, key);
    buf_addf(r->err, "'%s' must be an integer from %lld to %lld", p.data, (long long)min,
             (long long)max);
    buf_release(&p);
    return -1;
}

static bool is_sha(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n == 40 && !s[n];
}

/* o[key]: a commit id, 40 lowercase hex digits, into out. */
static int get_sha(struct rd *r, json_t *o, const char *where, const char *key, char out[41])
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v) && json_string_length(v) == 40 && is_sha(json_string_value(v))) {
        memcpy(out, json_string_value(v), 41);
        return 0;
    }
    struct buf p = BUF_INIT;
    path_of(&p, where, key);
    buf_addf(r->err, "'%s' must be a commit id (40 lowercase hexadecimal digits)", p.data);
    buf_release(&p);
    return -1;
}

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static int ignore(struct forge_event *ev, const char *fmt, const char *what)
{
    ev->type = FORGE_EV_IGNORED;
    snprintf(ev->why, sizeof(ev->why), fmt, what);
    return 0;
}

/* A ref a push names: branches and tags are acted on, other refs ignored. */
static int push_ref(struct rd *r, json_t *o, struct forge_event *ev, bool *other)
{
    const char *ref = get_str(r, o, "", "ref", FORGE_NAME_MAX, false);
    if (!ref)
        return -1;
    if (!refs_name_ok(ref) || strncmp(ref, "refs/", 5)) {
        buf_adds(r->err, "'ref' is not a valid ref name");
        return -1;
    }
    copy(ev->ref, sizeof(ev->ref), ref);
    *other = !refs_branch(ref) && !refs_tag(ref);
    return 0;
}

static bool all_zero(const char *sha)
{
    return strspn(sha, "0") == 40;
}

/* The "owner/name" of o[key] (a repository object), optional: "" when absent. */
static int repo_name(struct rd *r, json_t *o, const char *where, const char *key, char *out,
                     size_t size)
{
    json_t *repo = json_object_get(o, key);
    if (!repo)
        return 0;
    struct buf w = BUF_INIT;
    path_of(&w, where, key);
    const char *name = NULL;
    if (json_is_object(repo))
        name = get_str(r, repo, w.data, "full_name", FORGE_NAME_MAX, false);
    else
        buf_addf(r->err, "'%s' must be an object", w.data);
    buf_release(&w);
    if (!name)
        return -1;
    copy(out, size, name);
    return 0;
}

/* GitHub and Gitea pushes: the same shape. */
static int parse_push_gh(struct rd *r, json_t *root, struct forge_event *ev)
{
    bool other;
    json_t *del = json_object_get(root, "deleted");
    if (push_ref(r, root, ev, &other) || get_sha(r, root, "", "after", ev->sha) ||
        repo_name(r, root, "", "repository", ev->repo, sizeof(ev->repo)))
        return -1;
    if (del && !json_is_boolean(del)) {
        buf_adds(r->err, "'deleted' must be true or false");
        return -1;
    }
    if (other)
        return ignore(ev, "a push to %s, neither a branch nor a tag", ev->ref);
    ev->type = FORGE_EV_PUSH;
    ev->deleted = all_zero(ev->sha) || json_is_true(del);
    return 0;
}

/* A pull request of GitHub or Gitea (their payloads agree on what is read here). */
static int parse_pull_gh(struct rd *r, json_t *root, struct forge_event *ev,
                         const char *const *actions)
{
    const char *action = get_str(r, root, "", "action", sizeof(ev->action) - 1, false);
    if (!action)
        return -1;
    copy(ev->action, sizeof(ev->action), action);
    if (repo_name(r, root, "", "repository", ev->repo, sizeof(ev->repo)))
        return -1;
    bool wanted = false;
    for (size_t i = 0; actions[i] && !wanted; i++)
        wanted = !strcmp(action, actions[i]);
    if (!wanted)
        return ignore(ev, "pull request action '%s' starts no run", action);
    json_t *pr, *head, *base;
    char head_repo[FORGE_NAME_MAX + 1] = "", base_repo[FORGE_NAME_MAX + 1] = "";
    if (get_int(r, root, "", "number", 1, INT32_MAX, &ev->number) ||
        !(pr = get_obj(r, root, "", "pull_request")) ||
        !(head = get_obj(r, pr, "pull_request", "head")) ||
        !(base = get_obj(r, pr, "pull_request", "base")) ||
        get_sha(r, head, "pull_request.head", "sha", ev->sha))
        return -1;
    const char *branch = get_str(r, head, "pull_request.head", "ref", FORGE_NAME_MAX, false);
    if (!branch)
        return -1;
    copy(ev->head_branch, sizeof(ev->head_branch), branch);
    /* The head's repository is null when the fork it came from was deleted. */
    json_t *hr = json_object_get(head, "repo");
    if (hr && !json_is_null(hr) &&
        repo_name(r, head, "pull_request.head", "repo", head_repo, sizeof(head_repo)))
        return -1;
    if (repo_name(r, base, "pull_request.base", "repo", base_repo, sizeof(base_repo)))
        return -1;
    if (!base_repo[0]) {
        buf_adds(r->err, "'pull_request.base.repo' must be an object");
        return -1;
    }
    ev->fork = !head_repo[0] || strcmp(head_repo, base_repo) != 0;
    snprintf(ev->ref, sizeof(ev->ref), "refs/pull/%lld/head", (long long)ev->number);
    ev->type = FORGE_EV_PULL;
    return 0;
}

static int parse_github(struct rd *r, const char *event, json_t *root, struct forge_event *ev)
{
    static const char *const actions[] = {"opened", "synchronize", "reopened", NULL};
    if (!strcmp(event, "ping")) {
        ev->type = FORGE_EV_PING;
        json_t *repo = json_object_get(root, "repository");
        if (json_is_object(repo))
            return repo_name(r, root, "", "repository", ev->repo, sizeof(ev->repo));
        return 0;
    }
    if (!strcmp(event, "push"))
        return parse_push_gh(r, root, ev);
    if (!strcmp(event, "pull_request"))
        return parse_pull_gh(r, root, ev, actions);
    return ignore(ev, "event '%s' is not used", event);
}

/* Gitea's create and delete events: {"ref": "feature", "ref_type": "branch", ...}. */
static int parse_gitea_ref(struct rd *r, json_t *root, struct forge_event *ev, bool deleted)
{
    const char *ref = get_str(r, root, "", "ref", FORGE_NAME_MAX - 11, false);
    const char *type = ref ? get_str(r, root, "", "ref_type", 16, false) : NULL;
    if (!type || repo_name(r, root, "", "repository", ev->repo, sizeof(ev->repo)))
        return -1;
    if (!refs_name_ok(ref)) {
        buf_adds(r->err, "'ref' is not a valid ref name");
        return -1;
    }
    if (strcmp(type, "branch") && strcmp(type, "tag"))
        return ignore(ev, "a ref of type '%s', neither a branch nor a tag", type);
    snprintf(ev->ref, sizeof(ev->ref), "refs/%s/%s", !strcmp(type, "tag") ? "tags" : "heads", ref);
    memset(ev->sha, '0', 40);
    ev->sha[40] = '\0';
    json_t *sha = json_object_get(root, "sha");
    if (!deleted && sha && get_sha(r, root, "", "sha", ev->sha))
        return -1;
    ev->type = FORGE_EV_PUSH;
    ev->deleted = deleted;
    return 0;
}

static int parse_gitea(struct rd *r, const char *event, json_t *root, struct forge_event *ev)
{
    static const char *const actions[] = {"opened", "synchronized", "reopened", NULL};
    if (!strcmp(event, "push"))
        return parse_push_gh(r, root, ev);
    if (!strcmp(event, "pull_request"))
        return parse_pull_gh(r, root, ev, actions);
    if (!strcmp(event, "create") || !strcmp(event, "delete"))
        return parse_gitea_ref(r, root, ev, !strcmp(event, "delete"));
    return ignore(ev, "event '%s' is not used", event);
}

/* GitLab's project object: {"id": 15, "path_with_namespace": "mike/diaspora", ...}. */
static int gitlab_project(struct rd *r, json_t *root, struct forge_event *ev)
{
    json_t *p = json_object_get(root, "project");
    if (!p)
        return 0;
    const char *path;
    if (!json_is_object(p)) {
        buf_adds(r->err, "'project' must be an object");
        return -1;
    }
    if (get_int(r, p, "project", "id", 1, INT64_MAX, &ev->project_id) ||
        !(path = get_str(r, p, "project", "path_with_namespace", FORGE_NAME_MAX, false)))
        return -1;
    copy(ev->repo, sizeof(ev->repo), path);
    return 0;
}

static int parse_gitlab(struct rd *r, const char *event, json_t *root, struct forge_event *ev)
{
    if (!strcmp(event, "Push Hook") || !strcmp(event, "Tag Push Hook")) {
        bool other;
        if (push_ref(r, root, ev, &other) || get_sha(r, root, "", "after", ev->sha) ||
            gitlab_project(r, root, ev))
            return -1;
        if (other)
            return ignore(ev, "a push to %s, neither a branch nor a tag", ev->ref);
        ev->type = FORGE_EV_PUSH;
        ev->deleted = all_zero(ev->sha);
        return 0;
    }
    if (strcmp(event, "Merge Request Hook"))
        return ignore(ev, "event '%s' is not used", event);

    json_t *attrs = get_obj(r, root, "", "object_attributes");
    const char *action;
    if (!attrs || gitlab_project(r, root, ev) ||
        !(action = get_str(r, attrs, "object_attributes", "action", sizeof(ev->action) - 1, false)))
        return -1;
    copy(ev->action, sizeof(ev->action), action);
    if (strcmp(action, "open") && strcmp(action, "reopen") && strcmp(action, "update"))
        return ignore(ev, "merge request action '%s' starts no run", action);
    /* An update without oldrev changed the title, labels, ...: not the code. */
    json_t *oldrev = json_object_get(attrs, "oldrev");
    if (!strcmp(action, "update") && (!oldrev || json_is_null(oldrev)))
        return ignore(ev, "merge request action '%s' without new commits starts no run", action);
    char old[41];
    if (!strcmp(action, "update") && get_sha(r, attrs, "object_attributes", "oldrev", old))
        return -1;
    int64_t src, dst;
    json_t *last;
    const char *branch;
    if (get_int(r, attrs, "object_attributes", "iid", 1, INT32_MAX, &ev->number) ||
        get_int(r, attrs, "object_attributes", "source_project_id", 1, INT64_MAX, &src) ||
        get_int(r, attrs, "object_attributes", "target_project_id", 1, INT64_MAX, &dst) ||
        !(branch =
              get_str(r, attrs, "object_attributes", "source_branch", FORGE_NAME_MAX, false)) ||
        !(last = get_obj(r, attrs, "object_attributes", "last_commit")) ||
        get_sha(r, last, "object_attributes.last_commit", "id", ev->sha))
        return -1;
    copy(ev->head_branch, sizeof(ev->head_branch), branch);
    ev->fork = src != dst;
    snprintf(ev->ref, sizeof(ev->ref), "refs/merge-requests/%lld/head", (long long)ev->number);
    ev->type = FORGE_EV_PULL;
    return 0;
}

int forge_parse(enum forge_kind k, const char *event, const char *body, size_t len,
                struct forge_event *ev, struct buf *err)
{
    json_error_t jerr;
    struct rd r = {err};
    memset(ev, 0, sizeof(*ev));
    if (!event || !*event) {
        buf_addf(err, "no %s header", forge_event_header(k));
        return -1;
    }
    if (strlen(event) > 64 ||
        strspn(event, "abcdefghijklmnopqrstuvwxyz"
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_- ") != strlen(event)) {
        buf_addf(err, "%s is not an event name", forge_event_header(k));
        return -1;
    }
    /* Duplicate keys are refused: a field must not read one way here and
     * another way elsewhere. */
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        buf_addf(err,
                 "the body is not JSON (is the webhook's content type application/json?): "
                 "line %d column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root)) {
        buf_adds(err, "the body must be a JSON object");
        goto out;
    }
    switch (k) {
    case FORGE_GITHUB:
        rc = parse_github(&r, event, root, ev);
        break;
    case FORGE_GITLAB:
        rc = parse_gitlab(&r, event, root, ev);
        break;
    case FORGE_GITEA:
        rc = parse_gitea(&r, event, root, ev);
        break;
    default:
        buf_adds(err, "not a forge");
    }
out:
    json_decref(root);
    if (rc) {
        struct forge_event none = {0};
        *ev = none;
    }
    return rc;
}

/* ---- projects ------------------------------------------------------------- */

static bool name_char(int c)
{
    return isalnum(c) || c == '.' || c == '_' || c == '-';
}

/* Segments of [A-Za-z0-9._-]+, none "." or "..": how many, or -1. */
static int segments(const char *s)
{
    int n = 0;
    for (const char *p = s;;) {
        size_t l = 0;
        while (name_char((unsigned char)p[l]))
            l++;
        if (!l || l > 100 || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
            return -1;
        n++;
        p += l;
        if (!*p)
            return n;
        if (*p != '/')
            return -1;
        p++;
    }
}

static bool all_digits(const char *s)
{
    return *s && strspn(s, "0123456789") == strlen(s);
}

int forge_project_check(enum forge_kind k, const char *project, struct buf *err)
{
    if (strlen(project) > FORGE_NAME_MAX) {
        buf_addf(err, "a project is at most %d bytes", FORGE_NAME_MAX);
        return -1;
    }
    if (k == FORGE_GITLAB) {
        if ((all_digits(project) && strlen(project) <= 18 && strspn(project, "0") == 0) ||
            segments(project) >= 2)
            return 0;
        buf_adds(err, "a GitLab project is its numeric id (42) or its path (group/name, "
                      "group/subgroup/name)");
        return -1;
    }
    if (segments(project) == 2)
        return 0;
    buf_addf(err, "a %s project is owner/name (letters, digits, '.', '_' and '-')",
             k == FORGE_GITHUB ? "GitHub" : "Gitea");
    return -1;
}

bool forge_project_matches(enum forge_kind k, const char *project, const struct forge_event *ev)
{
    if (!project)
        return true;
    if (k == FORGE_GITLAB && all_digits(project))
        return !ev->project_id || strtoll(project, NULL, 10) == ev->project_id;
    return !ev->repo[0] || !strcasecmp(project, ev->repo);
}

/* ---- the server's forges -------------------------------------------------- */

const struct forge_repo *forge_set_find(const struct forge_set *s, const char *repo)
{
    for (size_t i = 0; s && repo && i < s->n; i++)
        if (!strcmp(s->v[i].repo, repo))
            return &s->v[i];
    return NULL;
}

void forge_set_release(struct forge_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        struct forge_repo *f = &s->v[i];
        free(f->repo);
        free(f->project);
        free(f->api_url);
        if (f->secret)
            crypto_wipe(f->secret, f->secret_len);
        free(f->secret);
        if (f->token)
            crypto_wipe(f->token, strlen(f->token));
        free(f->token);
    }
    free(s->v);
    free(s->public_url);
    memset(s, 0, sizeof(*s));
}

/* ---- statuses ------------------------------------------------------------- */

const char *forge_status_state(enum forge_kind k, const char *s)
{
    if (!s)
        return NULL;
    bool gitlab = k == FORGE_GITLAB;
    if (!strcmp(s, "queued"))
        return "pending";
    if (!strcmp(s, "running"))
        return gitlab ? "running" : "pending";
    if (!strcmp(s, "passed"))
        return "success";
    if (!strcmp(s, "failed"))
        return gitlab ? "failed" : "failure";
    if (!strcmp(s, "cancelled"))
        return gitlab ? "canceled" : "error";
    return NULL;
}

static void trim_slash(struct buf *b, const char *url)
{
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        n--;
    buf_add(b, url, n);
}

int forge_status_request(enum forge_kind k, const char *api_url, const char *project,
                         const char *token, const char *public_url, const struct forge_run *run,
                         struct forge_request *r)
{
    buf_init(&r->url, 0);
    buf_init(&r->body, 0);
    buf_init(&r->auth, 0);
    memset(r->headers, 0, sizeof(r->headers));
    const char *state = forge_status_state(k, run->state);
    if (!state || k == FORGE_NONE)
        return -1;

    trim_slash(&r->url, api_url);
    buf_grow(&r->auth, strlen(token) + 32); /* one allocation: no copy of the token left behind */
    switch (k) {
    case FORGE_GITHUB:
        buf_addf(&r->url, "/repos/%s/statuses/%s", project, run->commit);
        buf_addf(&r->auth, "Authorization: Bearer %s", token);
        r->headers[0] = "Accept: application/vnd.github+json";
        r->headers[1] = "X-GitHub-Api-Version: 2022-11-28";
        r->headers[2] = "Content-Type: application/json";
        break;
    case FORGE_GITLAB:
        buf_adds(&r->url, "/api/v4/projects/");
        for (const char *p = project; *p; p++) {
            if (*p == '/')
                buf_adds(&r->url, "%2F");
            else
                buf_addch(&r->url, *p);
        }
        buf_addf(&r->url, "/statuses/%s", run->commit);
        buf_addf(&r->auth, "PRIVATE-TOKEN: %s", token);
        r->headers[0] = "Accept: application/json";
        r->headers[1] = "Content-Type: application/json";
        break;
    default:
        buf_addf(&r->url, "/api/v1/repos/%s/statuses/%s", project, run->commit);
        buf_addf(&r->auth, "Authorization: token %s", token);
        r->headers[0] = "Accept: application/json";
        r->headers[1] = "Content-Type: application/json";
        break;
    }

    struct buf desc = BUF_INIT, target = BUF_INIT, context = BUF_INIT;
    static const struct {
        const char *state, *text;
    } words[] = {{"queued", "is queued"},
                 {"running", "is running"},
                 {"passed", "passed"},
                 {"failed", "failed"},
                 {"cancelled", "was cancelled"}};
    const char *word = run->state;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (!strcmp(words[i].state, run->state))
            word = words[i].text;
    buf_addf(&desc, "Run %s#%lld %s", run->repo, (long long)run->number, word);
    buf_addf(&context, "flywheel/%s", run->kind);
    json_t *o = json_object();
    json_object_set_new(o, "state", json_string(state));
    if (k == FORGE_GITLAB)
        json_object_set_new(o, "name", json_string(context.data));
    if (public_url) {
        trim_slash(&target, public_url);
        buf_addf(&target, "/#/runs/%lld", (long long)run->id);
        json_object_set_new(o, "target_url", json_string(target.data));
    }
    json_object_set_new(o, "description", json_string(desc.data));
    if (k != FORGE_GITLAB)
        json_object_set_new(o, "context", json_string(context.data));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        abort(); /* only on memory exhaustion, as xmalloc does */
    buf_adds(&r->body, s);
    free(s);
    json_decref(o);
    buf_release(&desc);
    buf_release(&target);
    buf_release(&context);
    return 0;
}

void forge_request_release(struct forge_request *r)
{
    if (r->auth.data)
        crypto_wipe(r->auth.data, r->auth.len);
    buf_release(&r->auth);
    buf_release(&r->url);
    buf_release(&r->body);
}
