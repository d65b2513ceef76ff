#include "exec/mirror.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/gitbatch.h"
#include "exec/gitcmd.h"
#include "exec/workspace.h"
#include "util/memo.h"
#include "util/xalloc.h"

/* The most branches and tags a mirror may have: a bound on memory and on
 * the size of the stored list, far above any real repository's count. */
#define MIRROR_REFS_MAX 200000

/*
 * Every git command here runs with:
 *   --git-dir=.  the mirror is the directory itself: git never searches
 *                upwards, so a directory that is not a repository is an
 *                error rather than an enclosing repository being used (and
 *                safe.bareRepository=explicit in the user's config is obeyed);
 *   GIT_ALLOW_PROTOCOL  the transports mirror_url_ok() accepts, and no other,
 *                even through a redirect or a remote helper;
 *   GIT_LITERAL_PATHSPECS  a path is a path, never a glob or pathspec magic.
 */
static const char *const git_env[] = {
    "GIT_ALLOW_PROTOCOL=file:git:http:https:ssh",
    "GIT_LITERAL_PATHSPECS=1",
    NULL,
};

#define FETCH_REFSPECS "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"

static int git_in(const char *dir, const char *const *args, struct buf *out, struct buf *err)
{
    const char *argv[16];
    size_t n = 0;
    argv[n++] = "--git-dir=.";
    for (size_t i = 0; args[i]; i++) {
        if (n + 1 >= sizeof(argv) / sizeof(argv[0]))
            abort(); /* a programming error: the argument lists here are fixed */
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    return gitcmd_run(dir, argv, git_env, out, err);
}

/* Git's own failure (a positive exit status) is -EIO to our callers. */
static int as_error(int rc)
{
    return rc > 0 ? -EIO : rc;
}

/* -ENOENT from gitcmd_run() means that dir or git is missing: to callers of
 * mirror_resolve() and mirror_read_file() that code means "no such commit"
 * or "no such file", so it becomes -EIO (err already says what happened). */
static int no_enoent(int rc)
{
    return rc == -ENOENT ? -EIO : rc;
}

static bool is_sha(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n == REFS_SHA_LEN && !s[n];
}

static void trim_newline(struct buf *b)
{
    while (b->len && b->data[b->len - 1] == '\n')
        buf_setlen(b, b->len - 1);
}

/* A revision passed to git as an argument must not be read as an option. */
static int rev_ok(const char *what, const char *rev, struct buf *err)
{
    if (!*rev) {
        buf_addf(err, "an empty %s", what);
        return -EINVAL;
    }
    if (rev[0] == '-') {
        buf_addf(err, "invalid %s '%s': it starts with '-'", what, rev);
        return -EINVAL;
    }
    for (const char *p = rev; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            buf_addf(err, "invalid %s: it contains a control character", what);
            return -EINVAL;
        }
    }
    return 0;
}

/* ---- URLs ---- */

static bool host_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

/* user@host or host, as in an ssh destination: no option look-alikes. */
static bool ssh_dest_ok(const char *s, size_t len)
{
    const char *at = memchr(s, '@', len);
    const char *host = at ? at + 1 : s;
    size_t hlen = len - (size_t)(host - s);
    if (at && (at == s || s[0] == '-'))
        return false;
    if (!hlen || host[0] == '-')
        return false;
    if (host[0] == '[') /* [v6 address] */
        return hlen > 2 && host[hlen - 1] == ']';
    for (size_t i = 0; i < hlen; i++)
        if (!host_char(host[i]))
            return false;
    return true;
}

int mirror_url_ok(const char *url, struct buf *err)
{
    static const char *const schemes[] = {"file", "http", "https", "ssh", "git"};

    if (!*url) {
        buf_adds(err, "an empty repository URL");
        return -1;
    }
    for (const char *p = url; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            buf_adds(err, "invalid repository URL: it contains a control character");
            return -1;
        }
    }
    if (url[0] == '-') {
        buf_addf(err, "invalid repository URL '%s': it starts with '-'", url);
        return -1;
    }

    /* "<transport>::<address>" runs the remote helper git-remote-<transport>:
     * ext:: runs any command, fd:: talks to inherited descriptors. */
    size_t word = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
    if (word && !strncmp(url + word, "::", 2)) {
        if ((word == 3 && !strncmp(url, "ext", 3)) || (word == 2 && !strncmp(url, "fd", 2)))
            buf_addf(err,
                     "repository URL '%s' refused: the '%.*s::' transport can run commands "
                     "on the server",
                     url, (int)word, url);
        else
            buf_addf(err,
                     "repository URL '%s' refused: remote helper transports ('%.*s::') "
                     "are not allowed",
                     url, (int)word, url);
        return -1;
    }

    if (url[0] == '/')
        return 0; /* an absolute local path */

    if (word && !strncmp(url + word, "://", 3)) {
        const char *rest = url + word + 3;
        size_t auth = strcspn(rest, "/");
        for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
            if (strlen(schemes[i]) != word || strncmp(url, schemes[i], word))
                continue;
            if (i == 0) { /* file:///abs/path or file://host/path */
                if (!rest[0] || rest[auth] != '/') {
                    buf_addf(err, "invalid repository URL '%s': a file:// URL needs a path", url);
                    return -1;
                }
                return 0;
            }
            const char *at = memrchr(rest, '@', auth);
            const char *host = at ? at + 1 : rest;
            if (!auth || host == rest + auth || host[0] == '-' || rest[0] == '-') {
                buf_addf(err, "invalid repository URL '%s': no valid host", url);
                return -1;
            }
            return 0;
        }
        buf_addf(err,
                 "repository URL '%s' refused: unsupported scheme '%.*s' (use https://, "
                 "ssh://, git://, file://, user@host:path or an absolute path)",
                 url, (int)word, url);
        return -1;
    }

    /* scp-like "[user@]host:path": a ':' before any '/'. */
    const char *colon = strchr(url, ':');
    const char *slash = strchr(url, '/');
    const char *bracket = strchr(url, '[');
    if (bracket && colon && bracket < colon) { /* [v6 address]:path */
        const char *close = strchr(bracket, ']');
        colon = close && close[1] == ':' ? close + 1 : colon;
    }
    if (colon && (!slash || colon < slash)) {
        if (!ssh_dest_ok(url, (size_t)(colon - url))) {
            buf_addf(err, "invalid repository URL '%s': no valid user@host before ':'", url);
            return -1;
        }
        if (!colon[1]) {
            buf_addf(err, "invalid repository URL '%s': no path after ':'", url);
            return -1;
        }
        return 0;
    }

    buf_addf(err,
             "repository URL '%s' refused: a relative path (use an absolute path, "
             "https://, ssh://, git://, file:// or user@host:path)",
             url);
    return -1;
}

/* ---- refs ---- */

int mirror_refs(const char *dir, struct ref_list *out, struct buf *err)
{
    static const char *const args[] = {
        "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/", "refs/tags/", NULL,
    };
    struct buf text = BUF_INIT, scratch = BUF_INIT;
    struct stat st;
    int rc;

    if (stat(dir, &st)) {
        if (errno == ENOENT) {
            refs_release(out);
            return 0;
        }
        rc = -errno;
        buf_addf(err, "mirror '%s': %s", dir, strerror(errno));
        return rc;
    }
    rc = git_in(dir, args, &text, err);
    if (!rc && (rc = refs_parse(text.data, MIRROR_REFS_MAX, out, &scratch)))
        buf_addf(err, "mirror '%s': %s", dir, scratch.data);
    buf_release(&text);
    buf_release(&scratch);
    return as_error(rc);
}

/* ---- sync ---- */

/* Clones url into a temporary directory beside dir and renames it into
 * place: dir appears complete or not at all, even if we are killed (which
 * can leave DIR.tmp-PID behind: it is never mistaken for the mirror). */
static int mirror_create(const char *url, const char *dir, struct buf *err)
{
    struct buf tmp = BUF_INIT, scratch = BUF_INIT;
    int rc;

    buf_addf(&tmp, "%s.tmp-%ld", dir, (long)getpid());
    /* A leftover of an earlier process that had our pid and was killed. */
    if ((rc = ws_remove(tmp.data, err)))
        goto out;
    const char *const args[] = {"clone", "--quiet", "--mirror", "--", url, tmp.data, NULL};
    if ((rc = gitcmd_run(".", args, git_env, &scratch, err)))
        goto out;
    if (rename(tmp.data, dir)) {
        rc = -errno;
        buf_addf(err, "cannot rename '%s' to '%s': %s", tmp.data, dir, strerror(errno));
        goto out;
    }
out:
    if (rc) {
        /* git clone removes what it created when it fails; this is for a
         * failed rename. The first error is the one worth reporting. */
        buf_reset(&scratch);
        if (ws_remove(tmp.data, &scratch))
            buf_addf(err, " (and %s)", scratch.data);
    }
    buf_release(&tmp);
    buf_release(&scratch);
    return as_error(rc);
}

/*
 * Fetches the branches and tags of url into the mirror. The URL is given on
 * the command line rather than as "origin", so that a repository whose URL
 * changed is fetched from its new address. The refspecs name branches and
 * tags only: the "+refs/<all>:refs/<all>" that clone --mirror configures
 * would also bring GitHub's refs/pull/, Gerrit's refs/changes/, notes...
 * --prune deletes the branches and tags gone upstream (--prune-tags would
 * add nothing to the explicit tag refspec). --atomic updates every ref or
 * none, so a failed fetch leaves the mirror as it was and no change is lost
 * between the refs listed before and after.
 */
static int mirror_fetch(const char *url, const char *dir, struct buf *err)
{
    /* No maintenance on the way of a sync: the server runs it on its own
     * time (mirror_maintain). */
    const char *const args[] = {
        "fetch",
        "--quiet",
        "--atomic",
        "--prune",
        "--no-write-fetch-head",
        "--no-auto-maintenance",
        "--",
        url,
        FETCH_REFSPECS,
        NULL,
    };
    struct buf scratch = BUF_INIT;
    int rc = git_in(dir, args, &scratch, err);
    buf_release(&scratch);
    return as_error(rc);
}

int mirror_sync(const char *url, const char *dir, struct ref_list *before, struct ref_list *after,
                struct buf *err)
{
    struct ref_list b = {0}, a = {0};
    struct stat st;
    int rc;

    if (mirror_url_ok(url, err)) {
        rc = -EINVAL;
        goto out;
    }
    if (!stat(dir, &st)) {
        if ((rc = mirror_refs(dir, &b, err)) || (rc = mirror_fetch(url, dir, err)))
            goto out;
    } else if (errno == ENOENT) {
        if ((rc = mirror_create(url, dir, err)))
            goto out;
    } else {
        rc = -errno;
        buf_addf(err, "mirror '%s': %s", dir, strerror(errno));
        goto out;
    }
    if ((rc = mirror_refs(dir, &a, err)))
        goto out;

    refs_release(before);
    refs_release(after);
    *before = b;
    *after = a;
    return 0;
out:
    refs_release(&b);
    refs_release(&a);
    return rc;
}

int mirror_fetch_ref(const char *url, const char *dir, const char *ref, struct buf *err)
{
    if (mirror_url_ok(url, err))
        return -EINVAL;
    if (strncmp(ref, "refs/", 5) || !refs_name_ok(ref) || refs_branch(ref) || refs_tag(ref)) {
        buf_addf(err, "cannot fetch '%s': not a ref beside the branches and tags", ref);
        return -EINVAL;
    }
    struct buf spec = BUF_INIT, scratch = BUF_INIT;
    buf_addf(&spec, "+%s:%s", ref, ref);
    const char *const args[] = {
        "fetch",   "--quiet", "--no-write-fetch-head", "--no-auto-maintenance", "--", url,
        spec.data, NULL,
    };
    int rc = git_in(dir, args, &scratch, err);
    buf_release(&spec);
    buf_release(&scratch);
    return as_error(rc);
}

int mirror_maintain(const char *dir, struct buf *err)
{
    static const char *const args[] = {"maintenance", "run", "--auto", "--quiet", NULL};
    struct buf scratch = BUF_INIT;
    struct stat st;
    if (stat(dir, &st))
        return 0; /* not fetched yet */
    int rc = git_in(dir, args, &scratch, err);
    buf_release(&scratch);
    return as_error(rc);
}

/* ---- queries ---- */

int mirror_is_ancestor(const char *dir, const char *old, const char *new, struct buf *err)
{
    struct buf out = BUF_INIT, scratch = BUF_INIT;
    int rc;

    if (rev_ok("commit", old, err) || rev_ok("commit", new, err))
        return -1;
    const char *const args[] = {"merge-base", "--is-ancestor", "--end-of-options", old, new, NULL};
    rc = git_in(dir, args, &out, &scratch);
    if (rc != 0 && rc != 1) /* exit 1 is the answer "no", not a failure */
        buf_add(err, scratch.data, scratch.len);
    buf_release(&out);
    buf_release(&scratch);
    return rc == 0 ? 1 : rc == 1 ? 0 : -1;
}

/*
 * A commit named by its id, asked of the batch process: 0 with sha, -ENOENT
 * (err says so) when the mirror has no such commit, or 1 when the batch
 * process cannot answer (the caller asks a one-shot git).
 */
static int resolve_batch(struct gitbatch *b, const char *dir, const char *rev, char sha[41],
                         struct buf *err)
{
    struct buf spec = BUF_INIT, scratch = BUF_INIT;
    char oid[41], type[16];
    uint64_t size;
    buf_addf(&spec, "%s^{commit}", rev);
    int rc = gitbatch_info(b, spec.data, oid, type, &size, &scratch);
    if (rc == 0 && !strcmp(type, "commit")) {
        memcpy(sha, oid, REFS_SHA_LEN + 1);
    } else if (rc == -ENOENT) {
        buf_addf(err, "unknown revision '%s': no such commit in %s", rev, dir);
    } else {
        rc = 1;
    }
    buf_release(&spec);
    buf_release(&scratch);
    return rc;
}

/*
 * Answers of the batch process kept for the next question: objects never
 * change, so what a full object id named once (the commit it peels to, a
 * file of its tree) it names for good. A server asks the same questions
 * run after run (the pipeline file of the commit a branch is at, the
 * commit of a trigger's ref); a few answers save a round trip each.
 */
#define OBJ_MEMO_MAX (64 << 10)               /* the largest file kept */
static struct memo obj_memo = MEMO_INIT(600); /* a mirror may drop an object later */

bool mirror_resolve_known(const char *dir, const char *rev, char sha[41])
{
    if (!is_sha(rev))
        return false;
    struct buf key = BUF_INIT, kept = BUF_INIT;
    memo_key(&key, dir, rev, NULL);
    bool hit = memo_get(&obj_memo, &key, 40, &kept) && kept.len == 40;
    if (hit)
        memcpy(sha, kept.data, 41);
    buf_release(&key);
    buf_release(&kept);
    return hit;
}

int mirror_resolve_with(struct gitbatch *b, const char *dir, const char *rev, char sha[41],
                        struct buf *err)
{
    if (b && is_sha(rev)) {
        if (mirror_resolve_known(dir, rev, sha))
            return 0;
        int rc = resolve_batch(b, dir, rev, sha, err);
        if (rc == 0) {
            struct buf key = BUF_INIT;
            memo_key(&key, dir, rev, NULL);
            memo_put(&obj_memo, &key, sha, 40);
            buf_release(&key);
        }
        if (rc <= 0)
            return rc;
    }
    return mirror_resolve(dir, rev, sha, err);
}

int mirror_resolve(const char *dir, const char *rev, char sha[41], struct buf *err)
{
    struct buf spec = BUF_INIT, out = BUF_INIT, scratch = BUF_INIT;
    int rc;

    if ((rc = rev_ok("revision", rev, err)))
        return rc;
    buf_addf(&spec, "%s^{commit}", rev);
    const char *const args[] = {"rev-parse",        "--verify", "--quiet",
                                "--end-of-options", spec.data,  NULL};
    rc = no_enoent(git_in(dir, args, &out, &scratch));
    if (rc == 1) {
        /* --verify --quiet: exit 1 when rev names no commit */
        buf_addf(err, "unknown revision '%s': no such commit in %s", rev, dir);
        rc = -ENOENT;
        goto out;
    }
    if (rc) {
        buf_add(err, scratch.data, scratch.len);
        goto out;
    }
    trim_newline(&out);
    if (!is_sha(out.data)) {
        buf_addf(err, "git rev-parse %s (in %s) printed '%s', not a 40-digit object name",
                 spec.data, dir, out.data);
        rc = -EIO;
        goto out;
    }
    memcpy(sha, out.data, REFS_SHA_LEN + 1);
out:
    buf_release(&spec);
    buf_release(&out);
    buf_release(&scratch);
    return as_error(rc);
}

/* Reads "SECONDS" at *p (git's %at, %ct) into milliseconds; advances *p. */
static bool read_secs(const char **p, int64_t *ms)
{
    char *end;
    errno = 0;
    long long v = strtoll(*p, &end, 10);
    if (errno || end == *p || v < 0)
        return false;
    *ms = (int64_t)v * 1000;
    *p = end;
    return true;
}

void mirror_change_release(struct mirror_change *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->commits[i]);
    free(c->commits);
    memset(c, 0, sizeof(*c));
}

/* Appends commit (40 hex digits at p) to out's list, while it has fewer than max. */
static void change_add(struct mirror_change *out, const char *p, size_t max)
{
    if (out->n >= max)
        return;
    out->commits = xrealloc(out->commits, (out->n + 1) * sizeof(char *));
    out->commits[out->n++] = xmemdupz(p, REFS_SHA_LEN);
}

/*
 * Reads "SHA AUTHOR COMMITTER" lines (git log --format='%H %at %ct') of
 * the change into out: the oldest author time, the commits, and the
 * committer time of commit's own line. Returns true when commit's line
 * was there.
 */
static bool change_parse(const char *text, const char *commit, size_t max,
                         struct mirror_change *out)
{
    bool found = false;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *t = p + REFS_SHA_LEN + 1;
        int64_t at, ct;
        if (len > REFS_SHA_LEN + 1 && p[REFS_SHA_LEN] == ' ' && read_secs(&t, &at) && *t == ' ' &&
            (t++, read_secs(&t, &ct))) {
            if (!out->n || at < out->first_ms)
                out->first_ms = at;
            if (!strncmp(p, commit, REFS_SHA_LEN)) {
                out->commit_ms = ct;
                found = true;
            }
            change_add(out, p, max);
        }
        p += len + (nl ? 1 : 0);
    }
    return found;
}

int mirror_change(const char *dir, const char *commit, const char *base, size_t max,
                  struct mirror_change *out, struct buf *err)
{
    struct buf o = BUF_INIT, scratch = BUF_INIT;
    int rc;
    memset(out, 0, sizeof(*out));
    if (!is_sha(commit) || (base && *base && !is_sha(base))) {
        buf_addf(err, "mirror_change: not a commit id");
        return -EINVAL;
    }
    if (base && *base) {
        /* one git for the usual case: the change's commits, commit among them */
        struct buf not = BUF_INIT;
        buf_addf(&not, "^%s", base);
        const char *const range[] = {"log",
                                     "--no-show-signature",
                                     "--format=%H %at %ct",
                                     "--end-of-options",
                                     commit,
                                     not .data,
                                     "--",
                                     NULL};
        rc = no_enoent(git_in(dir, range, &o, &scratch));
        buf_release(&not );
        if (!rc && change_parse(o.data, commit, max, out))
            goto out;
        /* an empty change (commit is behind base), a base the mirror no longer has, a change
         * too large to list: the commit alone */
        for (size_t i = 0; i < out->n; i++)
            free(out->commits[i]);
        free(out->commits);
        memset(out, 0, sizeof(*out));
        buf_reset(&o);
        buf_reset(&scratch);
    }
    const char *const one[] = {
        "log", "-1", "--no-show-signature", "--format=%H %at %ct", "--end-of-options", commit,
        "--",  NULL};
    rc = no_enoent(git_in(dir, one, &o, &scratch));
    if (rc) {
        buf_add(err, scratch.data, scratch.len);
    } else if (!change_parse(o.data, commit, max ? max : 1, out)) {
        buf_addf(err, "git log (in %s) printed '%.60s', not commit %s and its times", dir, o.data,
                 commit);
        rc = -EIO;
    }
    if (rc)
        mirror_change_release(out);
out:
    buf_release(&o);
    buf_release(&scratch);
    return as_error(rc);
}

/* A path inside a tree: relative, no empty, "." or ".." component. */
static int tree_path_ok(const char *path, struct buf *err)
{
    if (!*path) {
        buf_adds(err, "an empty path");
        return -EINVAL;
    }
    for (const char *c = path; *c;) {
        size_t n = strcspn(c, "/");
        if (!n || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
            buf_addf(err,
                     "invalid path '%s': it must be relative, without empty, '.' or '..' "
                     "components",
                     path);
            return -EINVAL;
        }
        c += n;
        if (*c == '/' && !*++c) {
            buf_addf(err, "invalid path '%s': it ends with '/'", path);
            return -EINVAL;
        }
    }
    return 0;
}

int mirror_read_file(const char *dir, const char *commit, const char *path, size_t max,
                     struct buf *out, struct buf *err)
{
    struct buf spec = BUF_INIT, entry = BUF_INIT;
    int rc;

    if ((rc = rev_ok("commit", commit, err)) || (rc = tree_path_ok(path, err)))
        goto out;

    /* One entry "MODE TYPE OID SIZE\tPATH\0", or nothing when the path is
     * absent; an unknown commit is git's failure (exit 128), not -ENOENT. */
    buf_addf(&spec, "%s^{commit}", commit);
    const char *const ls[] = {"ls-tree", "-l", "-z", "--full-tree", "--end-of-options",
                              spec.data, "--", path, NULL};
    if ((rc = no_enoent(git_in(dir, ls, &entry, err))))
        goto out;

    char mode[8], type[8], oid[REFS_SHA_LEN + 1], size[24];
    const char *tab = memchr(entry.data, '\t', entry.len);
    if (!entry.len || !tab || strcmp(tab + 1, path)) {
        buf_addf(err, "'%s' does not exist at %s", path, commit);
        rc = -ENOENT;
        goto out;
    }
    if (sscanf(entry.data, "%7s %7s %40s %23s", mode, type, oid, size) != 4 || !is_sha(oid)) {
        buf_addf(err, "cannot read '%s' at %s: unexpected git ls-tree output", path, commit);
        rc = -EIO;
        goto out;
    }
    if (strcmp(type, "blob")) {
        buf_addf(err, "'%s' at %s is a %s, not a file", path, commit,
                 !strcmp(type, "tree") ? "directory" : "submodule");
        rc = !strcmp(type, "tree") ? -EISDIR : -EINVAL;
        goto out;
    }
    if (!strcmp(mode, "120000")) {
        buf_addf(err, "'%s' at %s is a symbolic link (not followed)", path, commit);
        rc = -EINVAL;
        goto out;
    }
    char *end;
    errno = 0;
    unsigned long long n = strtoull(size, &end, 10);
    if (errno || *end) {
        buf_addf(err, "cannot read '%s' at %s: bad size '%s'", path, commit, size);
        rc = -EIO;
        goto out;
    }
    if (n > max) {
        buf_addf(err, "'%s' at %s is too large: %llu bytes, the limit is %zu", path, commit, n,
                 max);
        rc = -E2BIG;
        goto out;
    }
    const char *const cat[] = {"cat-file", "blob", oid, NULL};
    size_t start = out->len;
    if ((rc = no_enoent(git_in(dir, cat, out, err))))
        goto out;
    if (out->len - start != n) {
        buf_addf(err, "cannot read '%s' at %s: git cat-file gave %zu bytes, not %llu", path, commit,
                 out->len - start, n);
        buf_setlen(out, start);
        rc = -EIO;
        goto out;
    }
out:
    buf_release(&spec);
    buf_release(&entry);
    return as_error(rc);
}

/* The entry name of tree (its raw content), or -ENOENT: mode and id. */
static int tree_find(const struct buf *tree, const char *name, size_t len, unsigned *mode,
                     char oid[41])
{
    static const char hex[] = "0123456789abcdef";
    const char *p = tree->data, *end = tree->data + tree->len;
    while (p < end) {
        /* "MODE NAME\0" and 20 bytes of id */
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        const char *nul = sp ? memchr(sp, '\0', (size_t)(end - sp)) : NULL;
        if (!nul || end - nul < 21)
            return -EPROTO;
        if ((size_t)(nul - sp - 1) == len && !memcmp(sp + 1, name, len)) {
            unsigned m = 0;
            for (const char *c = p; c < sp; c++) {
                if (*c < '0' || *c > '7')
                    return -EPROTO;
                m = m * 8 + (unsigned)(*c - '0');
            }
            *mode = m;
            for (int i = 0; i < 20; i++) {
                unsigned char v = (unsigned char)nul[1 + i];
                oid[2 * i] = hex[v >> 4];
                oid[2 * i + 1] = hex[v & 15];
            }
            oid[40] = '\0';
            return 0;
        }
        p = nul + 21;
    }
    return -ENOENT;
}

/*
 * mirror_read_file by the batch process: the commit, then the trees down
 * the path (which say each entry's mode: a symbolic link or a submodule is
 * refused as the one-shot path does), then the blob after its size is
 * checked. Returns as mirror_read_file does, or 1 when the batch process
 * cannot answer.
 */
#define TREE_MAX (16u << 20)
static int read_file_batch(struct gitbatch *b, const char *commit, const char *path, size_t max,
                           struct buf *out, struct buf *err)
{
    struct buf obj = BUF_INIT, scratch = BUF_INIT;
    char type[16], oid[41];
    unsigned mode = 040000;
    uint64_t size;
    int rc = gitbatch_contents(b, commit, TREE_MAX, type, &obj, &scratch);
    if (rc || strcmp(type, "commit") || obj.len < 46 || memcmp(obj.data, "tree ", 5) ||
        obj.data[45] != '\n') {
        rc = 1; /* an unknown commit is the one-shot path's to explain */
        goto out;
    }
    memcpy(oid, obj.data + 5, 40);
    oid[40] = '\0';
    for (const char *c = path; *c;) {
        size_t n = strcspn(c, "/");
        buf_reset(&obj);
        if (gitbatch_contents(b, oid, TREE_MAX, type, &obj, &scratch) || strcmp(type, "tree")) {
            rc = 1;
            goto out;
        }
        rc = tree_find(&obj, c, n, &mode, oid);
        if (rc == -EPROTO) {
            rc = 1;
            goto out;
        }
        if (rc == -ENOENT) {
            buf_addf(err, "'%s' does not exist at %s", path, commit);
            goto out;
        }
        c += n;
        if (*c == '/') {
            c++;
            if ((mode & 0170000) != 040000) {
                buf_addf(err, "'%s' does not exist at %s", path, commit);
                rc = -ENOENT;
                goto out;
            }
        }
    }
    if ((mode & 0170000) == 040000) {
        buf_addf(err, "'%s' at %s is a directory, not a file", path, commit);
        rc = -EISDIR;
        goto out;
    }
    if ((mode & 0170000) == 0160000) {
        buf_addf(err, "'%s' at %s is a submodule, not a file", path, commit);
        rc = -EINVAL;
        goto out;
    }
    if ((mode & 0170000) == 0120000) {
        buf_addf(err, "'%s' at %s is a symbolic link (not followed)", path, commit);
        rc = -EINVAL;
        goto out;
    }
    /* The size is checked on the answer's header, before its content is read. */
    size_t lim = max, start = out->len;
    if (out->cap && out->cap - out->len < lim) {
        /* out holds less than max: asked first, so that a file between the
         * two does not cost the process (the one-shot path explains it) */
        lim = out->cap - out->len;
        if (gitbatch_info(b, oid, oid, type, &size, &scratch) || strcmp(type, "blob")) {
            rc = 1;
            goto out;
        }
        if (size > max) {
            buf_addf(err, "'%s' at %s is too large: %llu bytes, the limit is %zu", path, commit,
                     (unsigned long long)size, max);
            rc = -E2BIG;
            goto out;
        }
        if (size > lim) {
            rc = 1;
            goto out;
        }
    }
    rc = gitbatch_contents_sized(b, oid, lim, type, &size, out, &scratch);
    if (rc == -E2BIG && size > max) {
        buf_addf(err, "'%s' at %s is too large: %llu bytes, the limit is %zu", path, commit,
                 (unsigned long long)size, max);
    } else if (rc || strcmp(type, "blob")) {
        /* not a blob, or over what out may hold: the one-shot path's to explain */
        buf_setlen(out, start);
        rc = 1;
    }
out:
    buf_release(&obj);
    buf_release(&scratch);
    return rc;
}

bool mirror_read_file_known(const char *dir, const char *commit, const char *path, size_t max,
                            struct buf *out)
{
    if (!is_sha(commit))
        return false;
    struct buf key = BUF_INIT;
    memo_key(&key, dir, commit, path, NULL);
    bool hit = memo_get(&obj_memo, &key, max, out);
    buf_release(&key);
    return hit;
}

int mirror_read_file_with(struct gitbatch *b, const char *dir, const char *commit, const char *path,
                          size_t max, struct buf *out, struct buf *err)
{
    if (b && is_sha(commit) && !tree_path_ok(path, err)) {
        size_t start = out->len;
        if (mirror_read_file_known(dir, commit, path, max, out))
            return 0;
        int rc = read_file_batch(b, commit, path, max, out, err);
        if (rc == 0 && out->len - start <= OBJ_MEMO_MAX) {
            struct buf key = BUF_INIT;
            memo_key(&key, dir, commit, path, NULL);
            memo_put(&obj_memo, &key, out->data + start, out->len - start);
            buf_release(&key);
        }
        if (rc <= 0)
            return rc;
    }
    return mirror_read_file(dir, commit, path, max, out, err);
}
