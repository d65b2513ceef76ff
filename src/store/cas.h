/*
 * cas: a content-addressed store of files by SHA-256.
 *
 * Layout: ROOT/sha256/ab/abcdef... (the 64 hex digits; the first two also
 * name the directory). A blob is written once however many times it is put.
 * Writes are atomic: a temporary file in ROOT/tmp, fsync, rename into place,
 * fsync of the directory; a crash leaves either no blob or a whole one. Blobs
 * are read-only (mode 0444) once stored. Digests are written
 * "sha256:<hex>". ROOT/corrupt/ keeps the blobs that readers found damaged
 * (see below).
 *
 * Threads: any thread; no shared state beyond the file system.
 */
#ifndef FLYWHEEL_STORE_CAS_H
#define FLYWHEEL_STORE_CAS_H

#include <stdint.h>

#include "util/buf.h"

#define CAS_DIGEST_LEN 71 /* "sha256:" + 64 hex digits */

struct cas;

/*
 * Opens (creating if needed) the store at root. Temporary files of puts
 * that never finished (left in ROOT/tmp by a crash), untouched for a day,
 * are removed.
 */
int cas_open(struct cas **out, const char *root, struct buf *err)
    __attribute__((warn_unused_result));
void cas_close(struct cas *c);

/* Hashes the file at path; writes "sha256:<hex>" to digest (room for CAS_DIGEST_LEN + 1). */
int cas_hash_file(const char *path, char digest[CAS_DIGEST_LEN + 1], int64_t *size, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * Stores the regular file at path. On success writes its digest and size.
 * Refuses anything but a regular file (open with O_NOFOLLOW: a symlink is
 * refused, callers resolve them first).
 *
 * The file is hashed first, without writing anything: when a blob of that
 * digest and size is already stored (a rerun, the same bytes from another
 * job), nothing is copied. Otherwise it is copied to a temporary file in
 * ROOT/tmp and the copy is hashed again as written: if the file changed in
 * between (something still writing it), nothing is stored and the put fails
 * with -EAGAIN ("PATH changed while it was being stored ..."). So a blob's
 * name is always the digest of what was written under it.
 */
int cas_put_file(struct cas *c, const char *path, char digest[CAS_DIGEST_LEN + 1], int64_t *size,
                 struct buf *err) __attribute__((warn_unused_result));

/* The path of a blob (whether or not it exists) appended to out. */
void cas_blob_path(struct cas *c, const char *digest, struct buf *out);

/*
 * Reading blobs: every reader checks the content against the digest before
 * anything is used, and a corrupt blob is reported, never served:
 * -EBADMSG, "blob sha256:X is corrupt: its content hashes to sha256:Y",
 * followed by " (moved to ROOT/corrupt/X)" when the damaged file could be
 * moved out of the way (so that the next put of the right bytes stores
 * them again). A blob not stored is -ENOENT ("blob sha256:X is not in the
 * store"); a malformed digest -EINVAL.
 */

/*
 * Copies blob digest to dest (creating parent directories, mode & 0777 from
 * mode). The copy is written to a temporary name next to dest, hashed as
 * written, and renamed to dest only when it matches; otherwise dest is
 * removed (no stale copy stays) and the error says why. The copy is not
 * synced to disk: it is a scratch file, made again after a crash.
 */
int cas_get_file(struct cas *c, const char *digest, const char *dest, int mode, struct buf *err)
    __attribute__((warn_unused_result));

/* Checks that blob digest is stored and whole; writes its size when size is not NULL. */
int cas_verify(struct cas *c, const char *digest, int64_t *size, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * Opens blob digest for serving (a download, byte ranges): checks the whole
 * content first, then hands over a read-only fd at offset 0 (close-on-exec;
 * the caller closes it) and the size. On error *fd is -1. The blob is
 * read-only in the store and a put never rewrites a stored blob in place,
 * so what was checked is what the fd reads.
 */
int cas_open_verified(struct cas *c, const char *digest, int *fd, int64_t *size, struct buf *err)
    __attribute__((warn_unused_result));

#endif
