/*
 * provenance: a release's signed provenance, and release versions.
 *
 * A release's provenance is an in-toto Statement v1
 * (https://in-toto.io/Statement/v1) whose predicate is SLSA provenance v1
 * (https://slsa.dev/provenance/v1), signed into a DSSE envelope
 * (https://github.com/secure-systems-lab/dsse) with the server's Ed25519 key.
 *
 * Calling sequence, on the server when a release is made:
 *
 *     prov_statement(&in, &stmt);                           // deterministic JSON
 *     prov_sign(key, stmt.data, stmt.len, &envelope, &err); // stored with the release
 *
 * and on the verifying side (offline, from a downloaded release):
 *
 *     prov_open(pub, env, len, &stmt, &err);                // signature by pub
 *     prov_check_files(stmt.data, stmt.len, commit, version, files, n, &err);
 *
 * The statement (compact JSON, keys sorted, so the same input always gives
 * the same bytes):
 *
 *     {"_type": "https://in-toto.io/Statement/v1",
 *      "subject": [{"name": PATH, "digest": {"sha256": HEX}}, ...],   // manifest order
 *      "predicateType": "https://slsa.dev/provenance/v1",
 *      "predicate": {
 *        "buildDefinition": {
 *          "buildType": "urn:flywheel:run:v1",
 *          "externalParameters": {"repository": URL, "ref": REF, "kind": KIND,
 *                                 "pipeline": {"path": PATH, "digest": {"sha256": HEX}}},
 *          "internalParameters": {"jobs": [JOB, ...], "run": {"id": ID, "number": N},
 *                                 "version": VERSION},
 *          "resolvedDependencies": [{"uri": "git+URL@REF", "digest": {"gitCommit": COMMIT}}]},
 *        "runDetails": {
 *          "builder": {"id": BUILDER_ID, "version": {"flywheel": BUILDER_VERSION}},
 *          "metadata": {"invocationId": "REPO/runs/N",
 *                       "startedOn": RFC3339, "finishedOn": RFC3339}}}}
 *
 * Digests given as "sha256:<hex>" become in-toto digest sets {"sha256": hex}.
 * URL is the repository URL without its userinfo (a token in
 * https://user:token@host/... never reaches a statement).
 *
 * The envelope: {"payload": BASE64(statement), "payloadType":
 * "application/vnd.in-toto+json", "signatures": [{"keyid": "SHA256:<hex>",
 * "sig": BASE64(Ed25519(PAE(payloadType, statement)))}]}, where PAE(type,
 * body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body and LEN is the
 * length in bytes as ASCII decimal.
 *
 * Errors: functions that can fail return 0 or a negative errno-style code and
 * append a reason to err (untouched on success). -EBADMSG always means "this
 * provenance must not be trusted"; the reason says why.
 *
 * Threads: any; no shared state.
 */
#ifndef FLYWHEEL_CORE_PROVENANCE_H
#define FLYWHEEL_CORE_PROVENANCE_H

#include <stddef.h>
#include <stdint.h>

#include "store/sign.h"
#include "util/buf.h"

#define PROV_PAYLOAD_TYPE   "application/vnd.in-toto+json"
#define PROV_STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define PROV_PREDICATE_TYPE "https://slsa.dev/provenance/v1"
#define PROV_BUILD_TYPE     "urn:flywheel:run:v1"
#define PROV_VERSION_MAX    128 /* bytes in a release version */

struct prov_file {
    const char *path;
    const char *digest; /* "sha256:<64 hex>" */
    int64_t size;
    int mode;
};

struct prov_input {
    const char *repo;            /* repository name */
    const char *repo_url;        /* as configured; its userinfo is stripped */
    const char *ref, *kind;      /* "refs/heads/main", "main" | "tag" */
    const char *commit;          /* 40 hex */
    const char *version;         /* the release's version */
    const char *pipeline_path;   /* ".flywheel.yml" */
    const char *pipeline_digest; /* "sha256:..." */
    const char *builder_id;      /* e.g. "urn:flywheel:server:SHA256:<keyid hex>" */
    const char *builder_version; /* flywheel's version */
    int64_t run_id, run_number;
    int64_t started_ms, finished_ms; /* Unix ms, written as RFC 3339 UTC with 'Z' */
    const char *const *jobs;         /* the release.from jobs */
    size_t njobs;
    const struct prov_file *files;
    size_t nfiles;
};

/*
 * The statement's JSON text (deterministic: the same input gives the same
 * bytes), appended to out. A NULL string field is written as "". Text that is
 * not valid UTF-8 has its invalid bytes replaced by U+FFFD (JSON is UTF-8): a
 * path so mangled no longer matches its manifest entry in prov_check_files.
 */
void prov_statement(const struct prov_input *in, struct buf *out);

/*
 * url without its userinfo, appended to out: "https://user:tok@host/r.git"
 * gives "https://host/r.git". Only URLs with a scheme ("scheme://") have
 * userinfo; an scp-style address ("git@host:r.git") and a local path are
 * copied as they are.
 */
void prov_url_strip_userinfo(const char *url, struct buf *out);

/* PAE(type, body) as DSSE defines it, appended to out. */
void prov_pae(const char *type, const void *body, size_t len, struct buf *out);

/*
 * Signs len bytes of statement into a DSSE envelope (compact JSON text,
 * appended to out). Returns 0, or the error of sign_bytes with out unchanged.
 */
int prov_sign(const struct sign_key *k, const char *statement, size_t len, struct buf *out,
              struct buf *err) __attribute__((warn_unused_result));

/*
 * Checks a DSSE envelope: well-formed JSON, payloadType PROV_PAYLOAD_TYPE, a
 * Base64 payload, and at least one signature whose keyid is p's and that
 * verifies over PAE(payloadType, payload). Signatures by other keys are
 * ignored. On success appends the decoded statement to statement_out and
 * returns 0. Otherwise returns -EBADMSG, statement_out unchanged, with a
 * precise reason, among them: "signature does not match: the provenance was
 * modified or signed by another key", "no signature by key SHA256:... (signed
 * by SHA256:...)", "payload is not valid base64".
 */
int prov_open(const struct sign_pub *p, const char *envelope, size_t len, struct buf *statement_out,
              struct buf *err) __attribute__((warn_unused_result));

/*
 * Parses a statement (as prov_open returns it) and checks it against a
 * release's manifest: it is an in-toto v1 statement with an SLSA v1
 * predicate; its commit (resolvedDependencies' gitCommit) and version
 * (internalParameters.version) are commit and version (either not checked
 * when NULL); every file (path and digest not NULL) is a
 * subject with the same digest, no subject is missing, extra or there twice.
 * Returns 0 or -EBADMSG naming the first mismatch, e.g. "file dist/app: the
 * provenance says sha256:..., the manifest says sha256:...". Sizes and modes
 * are not in the statement and are not checked here.
 */
int prov_check_files(const char *statement, size_t len, const char *commit, const char *version,
                     const struct prov_file *files, size_t n, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * Release versions. A pattern is text with fields in braces:
 *
 *     {n}          the run number (per repository)
 *     {sha}        the commit, 40 hex digits; {short_sha} its first 7
 *     {tag}        the tag of a tag run
 *     {branch}     the branch of a branch run
 *     {date}       YYYYMMDD, UTC, of now_ms
 *
 * e.g. "r{n}", "{tag}", "1.{n}+{short_sha}", "{date}.{n}". A field this run
 * does not have (NULL or "" in f, or n <= 0: no tag on a main run) expands to
 * "". A character of a field's value outside [A-Za-z0-9._+-] becomes '-'
 * ("feature/x" gives "feature-x"), as a version names files and URLs. Then the
 * result is tidied: a run of separators ('.', '-', '_', '+') becomes its last
 * one ("1.-5" gives "1-5": a separator belongs to the field after it), and
 * separators at the start or the end are removed ("{tag}-{n}" on a main run
 * gives "5").
 *
 * Returns 0 with the version appended to out; -EINVAL for an unknown field, an
 * unmatched brace, a literal character outside [A-Za-z0-9._+-], or an empty
 * result; -E2BIG when the version is longer than PROV_VERSION_MAX bytes. out
 * is unchanged on error.
 */
struct prov_version_fields {
    int64_t n;
    const char *sha, *tag, *branch;
    int64_t now_ms;
};
int prov_version(const char *pattern, const struct prov_version_fields *f, struct buf *out,
                 struct buf *err) __attribute__((warn_unused_result));

/* RFC 3339 UTC with milliseconds ("2026-11-26T14:03:05.123Z"), appended to out. */
void prov_time(int64_t ms, struct buf *out);

#endif
