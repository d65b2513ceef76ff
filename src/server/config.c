#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/duration.h"
#include "core/ytree.h"
#include "server/forge.h"
#include "server/webhook.h"
#include "util/xalloc.h"

struct cctx {
    struct diag_list *d;
};

static bool scalar(const struct ynode *n)
{
    return n && n->kind == YNODE_SCALAR && !ynode_is_null(n);
}

static int get_str(struct cctx *c, const struct ynode *n, const char *key, char **out)
{
    if (!scalar(n)) {
        diag_add(c->d, DIAG_ERROR, n->pos, "'%s' must be a string", key);
        return -1;
    }
    free(*out);
    *out = xstrdup(n->str);
    return 0;
}

static int get_dur(struct cctx *c, const struct ynode *n, const char *key, int64_t *out)
{
    struct buf err = BUF_INIT;
    if (!scalar(n) || duration_parse(n->str, out, &err)) {
        diag_add(c->d, DIAG_ERROR, n->pos, "'%s' must be a duration such as 30s or 10m%s%s", key,
                 err.len ? ": " : "", err.data);
        buf_release(&err);
        return -1;
    }
    return 0;
}

static int get_int(struct cctx *c, const struct ynode *n, const char *key, long min, long max,
                   int *out)
{
    char *end;
    errno = 0;
    long v = scalar(n) && !n->quoted ? strtol(n->str, &end, 10) : 0;
    if (!scalar(n) || n->quoted || errno || *end || v < min || v > max) {
        diag_add(c->d, DIAG_ERROR, n->pos, "'%s' must be an integer from %ld to %ld", key, min,
                 max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int get_bool(struct cctx *c, const struct ynode *n, const char *key, int *out)
{
    if (scalar(n) && !n->quoted && (!strcmp(n->str, "true") || !strcmp(n->str, "false"))) {
        *out = !strcmp(n->str, "true");
        return 0;
    }
    diag_add(c->d, DIAG_ERROR, n->pos, "'%s' must be true or false", key);
    return -1;
}

/* Reports keys of map m not in allowed (NULL-terminated). */
static void check_keys(struct cctx *c, const struct ynode *m, const char *const *allowed,
                       const char *where)
{
    size_t na = 0;
    while (allowed[na])
        na++;
    for (size_t i = 0; i < m->n; i++) {
        const struct ynode *k = m->items[2 * i];
        bool ok = false;
        for (size_t j = 0; j < na && !ok; j++)
            ok = k->kind == YNODE_SCALAR && !strcmp(k->str, allowed[j]);
        if (ok)
            continue;
        const char *s = k->kind == YNODE_SCALAR ? diag_suggest(k->str, allowed, na) : NULL;
        diag_add(c->d, DIAG_ERROR, k->pos, "unknown key '%s' in %s%s%s%s",
                 k->kind == YNODE_SCALAR ? k->str : "?", where, s ? " (did you mean '" : "",
                 s ? s : "", s ? "'?)" : "");
    }
}

static const struct ynode *get(const struct ynode *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct ynode *k = m->items[2 * i];
        if (k->kind == YNODE_SCALAR && !strcmp(k->str, key))
            return m->items[2 * i + 1];
    }
    return NULL;
}

void config_redact(const char *src, size_t len, struct buf *out)
{
    static const char *const keys[] = {"secret", "webhook_secret", "status_token"};
    buf_add(out, src, len);
    char *s = out->data;
    for (size_t i = 0; i < len; i++) {
        /* a key starts a line (after spaces or "- "), or follows '{' or ',' */
        if (i && !strchr(" \t\n{,-", s[i - 1]))
            continue;
        size_t k = 0, kl = 0;
        for (; k < 3; k++) {
            kl = strlen(keys[k]);
            if (i + kl <= len && !memcmp(s + i, keys[k], kl))
                break;
        }
        if (k == 3)
            continue;
        size_t p = i + kl;
        while (p < len && (s[p] == ' ' || s[p] == '\t'))
            p++;
        if (p >= len || s[p] != ':')
            continue;
        p++;
        while (p < len && (s[p] == ' ' || s[p] == '\t'))
            p++;
        char quote = p < len && (s[p] == '"' || s[p] == '\'') ? s[p] : 0;
        size_t q = p + (quote ? 1 : 0);
        while (q < len && s[q] != '\n' && s[q] != '\r') {
            if (quote == '\'' && s[q] == '\'' && q + 1 < len && s[q + 1] == '\'') {
                s[q++] = '*'; /* '' is a quote inside '...' */
            } else if (quote && s[q] == quote) {
                break;
            } else if (quote == '"' && s[q] == '\\' && q + 1 < len && s[q + 1] != '\n') {
                s[q++] = '*';
            }
            s[q++] = '*';
        }
        i = q;
    }
}

int config_tz_offset(const char *s, int *out_s)
{
    if (!strcmp(s, "UTC") || !strcmp(s, "Z") || !strcmp(s, "+00:00")) {
        *out_s = 0;
        return 0;
    }
    if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || !isdigit((unsigned char)s[1]) ||
        !isdigit((unsigned char)s[2]) || s[3] != ':' || !isdigit((unsigned char)s[4]) ||
        !isdigit((unsigned char)s[5]))
        return -1;
    int h = (s[1] - '0') * 10 + (s[2] - '0'), m = (s[4] - '0') * 10 + (s[5] - '0');
    if (h > 14 || m > 59)
        return -1;
    *out_s = (s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
    return 0;
}

static const char *const top_keys[] = {
    "listen",    "data",         "slots",    "poll",       "kill_grace", "cancel_superseded",
    "retention", "repositories", "webhooks", "public_url", "auth",       "forks",
    NULL};
static const char *const forks_keys[] = {"sandbox", "network", NULL};
static const char *const repo_keys[] = {"name", "url", "main", "poll", "schedules", "forge", NULL};
static const char *const forge_keys[] = {
    "kind",         "project",           "api_url", "webhook_secret", "webhook_secret_file",
    "status_token", "status_token_file", NULL};
static const char *const sched_keys[] = {"cron", "ref", "timezone", NULL};
static const char *const retention_keys[] = {"runs", "age", "interval", NULL};
static const char *const auth_keys[] = {"public_read", "rate", "burst", NULL};
static const char *const webhook_keys[] = {"url", "secret", "secret_file", "events", NULL};

static void parse_webhook(struct cctx *c, const struct ynode *n, struct config_webhook *w)
{
    w->events = WEBHOOK_DEFAULT_EVENTS;
    if (n->kind != YNODE_MAP) {
        diag_add(c->d, DIAG_ERROR, n->pos,
                 "a webhook is a mapping with 'url' and 'secret_file' or 'secret'");
        return;
    }
    check_keys(c, n, webhook_keys, "a webhook");
    const struct ynode *v, *sf = get(n, "secret_file"), *s = get(n, "secret");
    if ((v = get(n, "url"))) {
        struct buf err = BUF_INIT;
        if (!get_str(c, v, "url", &w->url) && webhook_url_check(w->url, &err))
            diag_add(c->d, DIAG_ERROR, v->pos, "%s", err.data);
        buf_release(&err);
    } else {
        diag_add(c->d, DIAG_ERROR, n->pos, "a webhook needs 'url'");
    }
    if (sf && s) {
        diag_add(c->d, DIAG_ERROR, s->pos, "a webhook has 'secret_file' or 'secret', not both");
    } else if (sf) {
        if (!get_str(c, sf, "secret_file", &w->secret_file) && !*w->secret_file)
            diag_add(c->d, DIAG_ERROR, sf->pos, "'secret_file' must not be empty");
        w->secret_pos = sf->pos;
    } else if (s) {
        /* Never quoted in a message: only its position is. */
        if (!scalar(s))
            diag_add(c->d, DIAG_ERROR, s->pos, "'secret' must be a string");
        else if (!*s->str || strlen(s->str) != s->slen || s->slen > WEBHOOK_SECRET_MAX)
            diag_add(c->d, DIAG_ERROR, s->pos,
                     "'secret' must be 1 to %d bytes of text (no NUL bytes)", WEBHOOK_SECRET_MAX);
        else
            w->secret = xstrdup(s->str);
    } else {
        diag_add(c->d, DIAG_ERROR, n->pos,
                 "a webhook needs 'secret_file' (or 'secret'): its payloads are signed");
    }
    if ((v = get(n, "events"))) {
        if (v->kind != YNODE_SEQ || !v->n) {
            diag_add(c->d, DIAG_ERROR, v->pos,
                     "'events' must be a non-empty list of run, job, deployment, line");
            return;
        }
        w->events = 0;
        for (size_t i = 0; i < v->n; i++) {
            const struct ynode *x = v->items[i];
            size_t k = 0;
            while (webhook_event_names[k] &&
                   !(scalar(x) && !strcmp(x->str, webhook_event_names[k])))
                k++;
            if (webhook_event_names[k]) {
                w->events |= webhook_event_bits[k];
                continue;
            }
            const char *sug = scalar(x) ? diag_suggest(x->str, webhook_event_names, 4) : NULL;
            diag_add(c->d, DIAG_ERROR, x->pos,
                     "unknown event '%s' (events are run, job, deployment, line)%s%s%s",
                     scalar(x) ? x->str : "?", sug ? " (did you mean '" : "", sug ? sug : "",
                     sug ? "'?)" : "");
        }
    }
}

/* An inline secret (never quoted in a message: only its position is). */
static int get_secret(struct cctx *c, const struct ynode *s, const char *key, bool token,
                      char **out)
{
    if (!scalar(s)) {
        diag_add(c->d, DIAG_ERROR, s->pos, "'%s' must be a string", key);
        return -1;
    }
    bool ok = *s->str && strlen(s->str) == s->slen && s->slen <= FORGE_SECRET_MAX;
    for (size_t i = 0; ok && token && i < s->slen; i++)
        ok = s->str[i] > ' ' && s->str[i] < 0x7f;
    if (!ok) {
        diag_add(c->d, DIAG_ERROR, s->pos,
                 token ? "'%s' must be 1 to %d printable characters without spaces"
                       : "'%s' must be 1 to %d bytes of text (no NUL bytes)",
                 key, FORGE_SECRET_MAX);
        return -1;
    }
    *out = xstrdup(s->str);
    return 0;
}

/* key_file or key (inline), at most one of them. */
static void get_secret_pair(struct cctx *c, const struct ynode *n, const char *key, bool token,
                            char **inline_out, char **file_out, struct pos *file_pos)
{
    char file_key[64];
    snprintf(file_key, sizeof(file_key), "%s_file", key);
    const struct ynode *f = get(n, file_key), *s = get(n, key);
    if (f && s) {
        diag_add(c->d, DIAG_ERROR, s->pos, "a forge has '%s' or '%s', not both", file_key, key);
    } else if (f) {
        if (!get_str(c, f, file_key, file_out) && !**file_out)
            diag_add(c->d, DIAG_ERROR, f->pos, "'%s' must not be empty", file_key);
        *file_pos = f->pos;
    } else if (s) {
        (void)get_secret(c, s, key, token, inline_out);
    }
}

static void parse_forge(struct cctx *c, const struct ynode *n, struct config_forge *f)
{
    struct buf err = BUF_INIT;
    if (n->kind != YNODE_MAP) {
        diag_add(c->d, DIAG_ERROR, n->pos,
                 "'forge' is a mapping with 'kind' (github, gitlab or gitea) and its settings");
        return;
    }
    check_keys(c, n, forge_keys, "a forge");
    const struct ynode *v;
    if ((v = get(n, "kind"))) {
        f->kind = scalar(v) ? forge_kind_parse(v->str) : FORGE_NONE;
        if (f->kind == FORGE_NONE) {
            const char *s = scalar(v) ? diag_suggest(v->str, forge_kind_names, 3) : NULL;
            diag_add(
                c->d, DIAG_ERROR, v->pos,
                "unknown forge '%s' (forges are github, gitlab, gitea; Forgejo is gitea)%s%s%s",
                scalar(v) ? v->str : "?", s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
        }
    } else {
        diag_add(c->d, DIAG_ERROR, n->pos, "a forge needs 'kind' (github, gitlab or gitea)");
    }
    if ((v = get(n, "project")) && !get_str(c, v, "project", &f->project) && f->kind &&
        forge_project_check(f->kind, f->project, &err))
        diag_add(c->d, DIAG_ERROR, v->pos, "%s", err.data);
    buf_reset(&err);
    if ((v = get(n, "api_url"))) {
        if (get_str(c, v, "api_url", &f->api_url)) {
            /* reported */
        } else if (webhook_url_check(f->api_url, &err)) {
            diag_add(c->d, DIAG_ERROR, v->pos, "'api_url' %s",
                     err.data + (strncmp(err.data, "a webhook's url ", 16) ? 0 : 16));
        } else {
            /* The instance's address: flywheel adds the API's path itself. */
            const char *suffix = f->kind == FORGE_GITLAB  ? "/api/v4"
                                 : f->kind == FORGE_GITEA ? "/api/v1"
                                                          : NULL;
            size_t ul = strlen(f->api_url), sl = suffix ? strlen(suffix) : 0;
            while (ul && f->api_url[ul - 1] == '/')
                ul--;
            if (suffix && ul >= sl && !strncmp(f->api_url + ul - sl, suffix, sl))
                diag_add(c->d, DIAG_ERROR, v->pos,
                         "'api_url' is the instance's address, without '%s' (flywheel adds it)",
                         suffix);
        }
    } else if (f->kind == FORGE_GITEA) {
        diag_add(c->d, DIAG_ERROR, n->pos,
                 "a gitea forge needs 'api_url': the address of the instance "
                 "(https://gitea.example.com)");
    }
    buf_release(&err);
    get_secret_pair(c, n, "webhook_secret", false, &f->secret, &f->secret_file, &f->secret_pos);
    get_secret_pair(c, n, "status_token", true, &f->token, &f->token_file, &f->token_pos);
    bool hooks = f->secret || f->secret_file, statuses = f->token || f->token_file;
    if (!hooks && !statuses && !get(n, "webhook_secret") && !get(n, "webhook_secret_file") &&
        !get(n, "status_token") && !get(n, "status_token_file"))
        diag_add(c->d, DIAG_ERROR, n->pos,
                 "a forge needs 'webhook_secret_file' (or 'webhook_secret') to take its "
                 "webhooks, 'status_token_file' (or 'status_token') to send it commit "
                 "statuses, or both");
    if (statuses && !f->project && !get(n, "project"))
        diag_add(c->d, DIAG_ERROR, n->pos,
                 "a forge with a status token needs 'project': where the statuses go");
}

static void parse_repo(struct cctx *c, const struct ynode *n, struct config_repo *r)
{
    r->poll_ms = -1;
    if (n->kind != YNODE_MAP) {
        diag_add(c->d, DIAG_ERROR, n->pos, "a repository is a mapping with 'name' and 'url'");
        return;
    }
    check_keys(c, n, repo_keys, "a repository");
    const struct ynode *v;
    if ((v = get(n, "name")))
        (void)get_str(c, v, "name", &r->name);
    else
        diag_add(c->d, DIAG_ERROR, n->pos, "a repository needs 'name'");
    if ((v = get(n, "url")))
        (void)get_str(c, v, "url", &r->url);
    else
        diag_add(c->d, DIAG_ERROR, n->pos, "a repository needs 'url'");
    if ((v = get(n, "main")))
        (void)get_str(c, v, "main", &r->main_branch);
    if ((v = get(n, "poll")))
        (void)get_dur(c, v, "poll", &r->poll_ms);
    if ((v = get(n, "forge"))) {
        r->forge = xcalloc(1, sizeof(*r->forge));
        parse_forge(c, v, r->forge);
    }
    if ((v = get(n, "schedules"))) {
        if (v->kind != YNODE_SEQ) {
            diag_add(c->d, DIAG_ERROR, v->pos, "'schedules' must be a list");
            return;
        }
        r->schedules = xcalloc(v->n + 1, sizeof(*r->schedules));
        for (size_t i = 0; i < v->n; i++) {
            const struct ynode *s = v->items[i];
            struct config_schedule *cs = &r->schedules[r->nschedules++];
            if (s->kind != YNODE_MAP) {
                diag_add(c->d, DIAG_ERROR, s->pos, "a schedule is a mapping with 'cron'");
                continue;
            }
            check_keys(c, s, sched_keys, "a schedule");
            const struct ynode *x;
            if ((x = get(s, "cron")))
                (void)get_str(c, x, "cron", &cs->cron);
            else
                diag_add(c->d, DIAG_ERROR, s->pos, "a schedule needs 'cron'");
            if ((x = get(s, "ref")))
                (void)get_str(c, x, "ref", &cs->ref);
            if ((x = get(s, "timezone"))) {
                if (!scalar(x) || config_tz_offset(x->str, &cs->tz_offset_s))
                    diag_add(c->d, DIAG_ERROR, x->pos,
                             "'timezone' must be UTC or an offset such as +01:00");
            }
        }
    }
}

int config_parse(const char *file, const char *src, size_t len, struct config *c,
                 struct diag_list *d)
{
    struct cctx cx = {d};
    struct ytree *t = NULL;
    struct ytree_limits lim = {32, 64 << 10, 100000};
    size_t before = d->nerrors;
    (void)file;

    memset(c, 0, sizeof(*c));
    c->poll_ms = c->kill_grace_ms = -1;
    c->cancel_superseded = -1;
    c->fork_sandbox = c->fork_network = -1;
    c->public_read = -1;
    if (ytree_parse(src, len, &lim, &t, d))
        return -1;
    const struct ynode *root = ytree_root(t);
    if (!root || ynode_is_null(root)) {
        ytree_free(t);
        return 0; /* an empty file: all defaults */
    }
    if (root->kind != YNODE_MAP) {
        diag_add(d, DIAG_ERROR, root->pos, "the configuration must be a mapping");
        ytree_free(t);
        return -1;
    }
    check_keys(&cx, root, top_keys, "the configuration");
    const struct ynode *v;
    if ((v = get(root, "listen")))
        (void)get_str(&cx, v, "listen", &c->listen);
    if ((v = get(root, "data")))
        (void)get_str(&cx, v, "data", &c->data);
    if ((v = get(root, "slots")))
        (void)get_int(&cx, v, "slots", 1, 1024, &c->slots);
    if ((v = get(root, "poll")))
        (void)get_dur(&cx, v, "poll", &c->poll_ms);
    if ((v = get(root, "kill_grace")))
        (void)get_dur(&cx, v, "kill_grace", &c->kill_grace_ms);
    if ((v = get(root, "cancel_superseded")))
        (void)get_bool(&cx, v, "cancel_superseded", &c->cancel_superseded);
    if ((v = get(root, "forks"))) {
        if (v->kind != YNODE_MAP) {
            diag_add(d, DIAG_ERROR, v->pos, "'forks' is a mapping with 'sandbox' and/or 'network'");
        } else {
            check_keys(&cx, v, forks_keys, "'forks'");
            const struct ynode *x;
            if ((x = get(v, "sandbox")))
                (void)get_bool(&cx, x, "sandbox", &c->fork_sandbox);
            if ((x = get(v, "network")))
                (void)get_bool(&cx, x, "network", &c->fork_network);
        }
    }
    if ((v = get(root, "public_url"))) {
        struct buf err = BUF_INIT;
        if (!get_str(&cx, v, "public_url", &c->public_url) &&
            webhook_url_check(c->public_url, &err))
            diag_add(d, DIAG_ERROR, v->pos, "'public_url' %s",
                     err.data + (strncmp(err.data, "a webhook's url ", 16) ? 0 : 16));
        buf_release(&err);
    }
    if ((v = get(root, "retention"))) {
        if (v->kind != YNODE_MAP) {
            diag_add(d, DIAG_ERROR, v->pos, "'retention' is a mapping with 'runs' and/or 'age'");
        } else {
            check_keys(&cx, v, retention_keys, "'retention'");
            const struct ynode *x;
            if ((x = get(v, "runs")))
                (void)get_int(&cx, x, "runs", 1, 1000000, &c->retention_runs);
            if ((x = get(v, "age")))
                (void)get_dur(&cx, x, "age", &c->retention_age_ms);
            if ((x = get(v, "interval")))
                (void)get_dur(&cx, x, "interval", &c->retention_interval_ms);
        }
    }
    if ((v = get(root, "auth"))) {
        if (v->kind != YNODE_MAP) {
            diag_add(d, DIAG_ERROR, v->pos,
                     "'auth' is a mapping with 'public_read', 'rate' and/or 'burst'");
        } else {
            check_keys(&cx, v, auth_keys, "'auth'");
            const struct ynode *x;
            if ((x = get(v, "public_read")))
                (void)get_bool(&cx, x, "public_read", &c->public_read);
            if ((x = get(v, "rate")))
                (void)get_int(&cx, x, "rate", 1, 1000000, &c->rate);
            if ((x = get(v, "burst")))
                (void)get_int(&cx, x, "burst", 1, 1000000, &c->burst);
        }
    }
    if ((v = get(root, "repositories"))) {
        if (v->kind != YNODE_SEQ) {
            diag_add(d, DIAG_ERROR, v->pos, "'repositories' must be a list");
        } else {
            c->repos = xcalloc(v->n + 1, sizeof(*c->repos));
            for (size_t i = 0; i < v->n; i++)
                parse_repo(&cx, v->items[i], &c->repos[c->nrepos++]);
            for (size_t i = 0; i < c->nrepos; i++)
                for (size_t k = 0; k < i; k++)
                    if (c->repos[i].name && c->repos[k].name &&
                        !strcmp(c->repos[i].name, c->repos[k].name))
                        diag_add(d, DIAG_ERROR, v->items[i]->pos,
                                 "repository '%s' is configured twice", c->repos[i].name);
        }
    }
    if ((v = get(root, "webhooks"))) {
        if (v->kind != YNODE_SEQ) {
            diag_add(d, DIAG_ERROR, v->pos, "'webhooks' must be a list");
        } else {
            c->webhooks = xcalloc(v->n + 1, sizeof(*c->webhooks));
            for (size_t i = 0; i < v->n; i++)
                parse_webhook(&cx, v->items[i], &c->webhooks[c->nwebhooks++]);
        }
    }
    ytree_free(t);
    diag_sort(d);
    return d->nerrors == before ? 0 : -1;
}

void config_release(struct config *c)
{
    free(c->listen);
    free(c->public_url);
    free(c->data);
    for (size_t i = 0; i < c->nrepos; i++) {
        free(c->repos[i].name);
        free(c->repos[i].url);
        free(c->repos[i].main_branch);
        for (size_t k = 0; k < c->repos[i].nschedules; k++) {
            free(c->repos[i].schedules[k].cron);
            free(c->repos[i].schedules[k].ref);
        }
        free(c->repos[i].schedules);
        struct config_forge *f = c->repos[i].forge;
        if (f) {
            free(f->project);
            free(f->api_url);
            free(f->secret_file);
            free(f->token_file);
            if (f->secret)
                explicit_bzero(f->secret, strlen(f->secret));
            if (f->token)
                explicit_bzero(f->token, strlen(f->token));
            free(f->secret);
            free(f->token);
            free(f);
        }
    }
    free(c->repos);
    for (size_t i = 0; i < c->nwebhooks; i++) {
        struct config_webhook *w = &c->webhooks[i];
        free(w->url);
        free(w->secret_file);
        if (w->secret)
            explicit_bzero(w->secret, strlen(w->secret));
        free(w->secret);
    }
    free(c->webhooks);
    memset(c, 0, sizeof(*c));
}
