#include "server/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "util/crypto.h"
#include "util/xalloc.h"

static const char *const role_names[] = {"anyone", "viewer", "developer", "deployer", "admin"};

const char *auth_role_name(unsigned role)
{
    return role <= AUTH_ADMIN ? role_names[role] : "?";
}

int auth_role_parse(const char *s)
{
    for (int i = AUTH_VIEWER; s && i <= AUTH_ADMIN; i++)
        if (!strcmp(s, role_names[i]))
            return i;
    return -1;
}

int auth_token_new(char *tok, char hash_hex[65])
{
    static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33]; /* 256 bits, and one byte to round to whole groups of 3 */
    if (crypto_random(raw, sizeof(raw)))
        return -1;
    memcpy(tok, "fw_", 3);
    size_t o = 3;
    for (size_t i = 0; i < sizeof(raw); i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        tok[o++] = b64u[(v >> 18) & 63];
        tok[o++] = b64u[(v >> 12) & 63];
        tok[o++] = b64u[(v >> 6) & 63];
        tok[o++] = b64u[v & 63];
    }
    o = AUTH_TOKEN_LEN; /* 44 made: the 43 kept carry 258 random bits */
    tok[o] = '\0';
    auth_token_hash(tok, hash_hex);
    return 0;
}

void auth_token_hash(const char *tok, char hash_hex[65])
{
    sha256_hex(tok, strlen(tok), hash_hex);
}

const char *auth_bearer(const char *h)
{
    if (!h || strncasecmp(h, "Bearer ", 7))
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(h);
    if (!n || n > 256)
        return NULL;
    return h;
}

/* ---- the limiter ---- */

#define LIMITER_SLOTS 4096 /* keys tracked at once */

struct bucket {
    char key[72];
    double tokens;
    uint64_t at_ms; /* when tokens was computed; 0: a free slot */
};

struct auth_limiter {
    pthread_mutex_t mu;
    double rate, burst;
    struct bucket *b; /* open addressing, LIMITER_SLOTS */
};

struct auth_limiter *auth_limiter_new(unsigned rate, unsigned burst)
{
    struct auth_limiter *l = xcalloc(1, sizeof(*l));
    pthread_mutex_init(&l->mu, NULL);
    l->rate = rate ? rate : 1;
    l->burst = burst >= 1 ? burst : 1;
    l->b = xcalloc(LIMITER_SLOTS, sizeof(*l->b));
    return l;
}

void auth_limiter_free(struct auth_limiter *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->b);
    free(l);
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static double refilled(const struct auth_limiter *l, const struct bucket *b, uint64_t now_ms)
{
    double t = b->tokens + (double)(now_ms > b->at_ms ? now_ms - b->at_ms : 0) * l->rate / 1000;
    return t > l->burst ? l->burst : t;
}

/* The slot of key, or a slot to take for it (free, or holding a full bucket); NULL if none. */
static struct bucket *slot_for(struct auth_limiter *l, const char *key, uint64_t now_ms)
{
    uint32_t h = fnv1a(key);
    struct bucket *spare = NULL;
    for (unsigned probe = 0; probe < 64; probe++) {
        struct bucket *b = &l->b[(h + probe) % LIMITER_SLOTS];
        if (!b->at_ms) {
            return spare ? spare : b;
        }
        if (!strcmp(b->key, key))
            return b;
        if (!spare && refilled(l, b, now_ms) >= l->burst)
            spare = b; /* idle long enough to be forgotten */
    }
    return spare;
}

bool auth_limiter_take(struct auth_limiter *l, const char *key, uint64_t now_ms, unsigned *retry_s)
{
    bool ok = true;
    char k[sizeof(((struct bucket *)0)->key)];
    snprintf(k, sizeof(k), "%s", key);
    if (!now_ms)
        now_ms = 1;
    pthread_mutex_lock(&l->mu);
    struct bucket *b = slot_for(l, k, now_ms);
    if (!b) {
        /* Every slot near this key is busy: let the request through rather than punish it. */
        pthread_mutex_unlock(&l->mu);
        return true;
    }
    if (!b->at_ms || strcmp(b->key, k)) {
        memcpy(b->key, k, sizeof(k));
        b->tokens = l->burst;
    } else {
        b->tokens = refilled(l, b, now_ms);
    }
    b->at_ms = now_ms;
    if (b->tokens >= 1) {
        b->tokens -= 1;
    } else {
        ok = false;
        double wait_s = (1 - b->tokens) / l->rate;
        *retry_s = (unsigned)wait_s + 1;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}
