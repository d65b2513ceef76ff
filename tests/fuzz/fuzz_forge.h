/*
 * The body of the libFuzzer targets for the forges' webhook payloads
 * (fuzz_github.c, fuzz_gitlab.c, fuzz_gitea.c), shared with `test-tool
 * forge-replay`, which runs the seed corpora through it under the
 * sanitizers (tests/t/t0004-fuzz-forges.sh).
 *
 * An input is what a request brings: the event header's value, a newline,
 * the signature header's value, a newline, then the body. Everything comes
 * from whoever sends the request; the signature is checked first (with a
 * fixed secret) and the payload parsed whatever it said, as it would be if
 * the sender knew the secret. Neither may crash, read out of bounds or
 * leak, and every answer keeps the contract of server/forge.h: an event
 * whose fields are what they say (a ref the engine accepts, a commit id of
 * 40 hex digits, a positive number), or -1 with a reason and nothing else.
 */
#ifndef FLYWHEEL_TESTS_FUZZ_FORGE_H
#define FLYWHEEL_TESTS_FUZZ_FORGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/refs.h"
#include "engine/engine.h"
#include "server/forge.h"
#include "util/buf.h"

static int fuzz_forge_sha_ok(const char *s)
{
    return strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

static int fuzz_forge_one(enum forge_kind k, const uint8_t *data, size_t size)
{
    static const char secret[] = "fuzzing-secret";
    const uint8_t *nl1 = memchr(data, '\n', size);
    const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', size - (size_t)(nl1 + 1 - data)) : NULL;
    if (!nl2)
        return 0;
    struct buf event = BUF_INIT, sig = BUF_INIT, err = BUF_INIT;
    buf_add(&event, data, (size_t)(nl1 - data));
    buf_add(&sig, nl1 + 1, (size_t)(nl2 - nl1 - 1));
    /* Headers cannot hold NUL bytes: a header's value is a C string. */
    if (memchr(event.data, '\0', event.len) || memchr(sig.data, '\0', sig.len))
        goto out;
    const char *body = (const char *)nl2 + 1;
    size_t len = size - (size_t)(nl2 + 1 - data);

    (void)forge_verify(k, secret, sizeof(secret) - 1, sig.data, body, len);

    struct forge_event ev;
    int rc = forge_parse(k, event.data, body, len, &ev, &err);
    if (rc != 0 && rc != -1)
        abort();
    if (rc) {
        if (!err.len || ev.type != FORGE_EV_IGNORED || ev.ref[0] || ev.sha[0])
            abort(); /* a refusal says why and leaves nothing behind */
        goto out;
    }
    if (err.len)
        abort();
    if (strlen(ev.repo) > FORGE_NAME_MAX || strlen(ev.ref) > FORGE_NAME_MAX ||
        strlen(ev.head_branch) > FORGE_NAME_MAX || strlen(ev.why) >= sizeof(ev.why))
        abort();
    switch (ev.type) {
    case FORGE_EV_IGNORED:
        if (!ev.why[0])
            abort();
        break;
    case FORGE_EV_PING:
        break;
    case FORGE_EV_PUSH:
        if (!fuzz_forge_sha_ok(ev.sha) || !refs_name_ok(ev.ref) ||
            (!refs_branch(ev.ref) && !refs_tag(ev.ref)))
            abort();
        /* 40 zeros: deleted (a Gitea create without its commit also has them) */
        if (k == FORGE_GITLAB ? ev.deleted != (strspn(ev.sha, "0") == 40)
                              : k == FORGE_GITHUB && strspn(ev.sha, "0") == 40 && !ev.deleted)
            abort();
        break;
    case FORGE_EV_PULL:
        /* What the engine is handed: a ref it accepts, a commit, a branch name. */
        if (!fuzz_forge_sha_ok(ev.sha) || !engine_pull_ref_ok(ev.ref) || ev.number < 1 ||
            !ev.head_branch[0] || !ev.action[0])
            abort();
        break;
    default:
        abort();
    }
    (void)forge_project_matches(k, "o/r", &ev);
    (void)forge_project_matches(k, "42", &ev);
out:
    buf_release(&event);
    buf_release(&sig);
    buf_release(&err);
    return 0;
}

#endif
