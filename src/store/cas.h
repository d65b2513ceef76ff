/*
 * cas: a content-addressed store of files by SHA-256.
 *
 * Layout: ROOT/sha256/ab/abcdef... (the 64 hex digits; the first two also
 * name the directory). A blob is written once however many times it is put.
 * Writes are atomic: a temporary file in ROOT/tmp, fsync, rename into place,
 * fsync of the directory; a crash leaves either no blob or a whole one. Blobs
 * are read-only (mode 0444) once stored. Digests are written
 * "sha256:<hex>".
 *
 * Threads: any thread; no shared state beyond the file system.
 */
#ifndef FLYWHEEL_STORE_CAS_H
#define FLYWHEEL_STORE_CAS_H

#include <stdint.h>

#include "util/buf.h"

#define CAS_DIGEST_LEN 71 /* "sha256:" + 64 hex digits */

struct cas;

/* Opens (creating if needed) the store at root. */
int cas_open(struct cas **out, const char *root, struct buf *err)
    __attribute__((warn_unused_result));
void cas_close(struct cas *c);

/* Hashes the file at path; writes "sha256:<hex>" to digest (room for CAS_DIGEST_LEN + 1). */
int cas_hash_file(const char *path, char digest[CAS_DIGEST_LEN + 1], int64_t *size, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * Stores the regular file at path (it is read once, streaming, hashed while
 * copied). On success writes its digest and size. Refuses anything but a
 * regular file (open with O_NOFOLLOW: a symlink is refused, callers resolve
 * them first).
 */
int cas_put_file(struct cas *c, const char *path, char digest[CAS_DIGEST_LEN + 1], int64_t *size,
                 struct buf *err) __attribute__((warn_unused_result));

/* The path of a blob (whether or not it exists) appended to out. */
void cas_blob_path(struct cas *c, const char *digest, struct buf *out);

/*
 * Copies blob digest to dest (creating parent directories, mode & 0777 from
 * mode), verifying the digest while copying: a corrupt blob is reported
 * ("blob sha256:... is corrupt: its content hashes to sha256:...") and dest
 * is removed. The copy is written to a temporary name and renamed.
 */
int cas_get_file(struct cas *c, const char *digest, const char *dest, int mode, struct buf *err)
    __attribute__((warn_unused_result));

#endif
