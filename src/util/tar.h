/*
 * tar: POSIX tar archives (ustar headers, pax extended headers), written by
 * position and read sequentially.
 *
 * Writing is planned up front so that an HTTP response can announce its
 * length and serve any byte range (a resumed download):
 *
 *     struct tar_writer *w;
 *     if (tar_writer_new(&w, entries, n, &err)) ...     // validates, copies
 *     uint64_t total = tar_writer_size(w);               // exact, final
 *     long got = tar_writer_read(w, pos, chunk, sizeof(chunk), &err);
 *     ...                                                // any pos, any order
 *     tar_writer_free(w);
 *
 * Reading walks an archive from a file descriptor (a downloaded release):
 *
 *     struct tar_reader *r;
 *     tar_reader_open(&r, fd, &err);
 *     while ((rc = tar_reader_next(r, &h, &err)) == 1)
 *         while ((got = tar_reader_read(r, chunk, sizeof(chunk), &err)) > 0)
 *             ...
 *     tar_reader_free(r);                                // rc: 0 end, -1 error
 *
 * Format: each entry is a ustar header block, its content, and zeros up to
 * the next 512-byte boundary; the archive ends with two zero blocks. A name
 * longer than the 100 bytes of the ustar name field, or content of 8 GiB or
 * more (past the 11 octal digits of the size field), puts a pax extended
 * header ('x', with "path" and "size" records) before the entry. Owners are
 * 0/0 with no user or group names. GNU tar and bsdtar read these archives.
 *
 * Threads: a writer or reader is used by one thread at a time (the writer
 * keeps one source file open between reads). Distinct handles are
 * independent.
 */
#ifndef FLYWHEEL_UTIL_TAR_H
#define FLYWHEEL_UTIL_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define TAR_BLOCK 512

struct tar_entry {
    /*
     * Path inside the archive: relative, '/'-separated, no empty, "." or
     * ".." component, any length. A trailing '/' makes a directory entry
     * (size 0, no content).
     */
    const char *name;
    /* The regular file to read the content from, or NULL to use data. */
    const char *src;
    /* The content when src is NULL (size bytes; may hold NUL bytes). */
    const char *data;
    /*
     * Content size. For src, the size the caller expects: a file whose size
     * differs when it is opened or when its end is read is an error.
     */
    uint64_t size;
    int mode;      /* permission bits, 0 to 07777 */
    int64_t mtime; /* seconds since the epoch, 0 to 8^11 - 1 */
};

struct tar_writer;

/*
 * Plans an archive of the n entries, in that order. Copies the names, the
 * source paths and in-memory data: entries may be freed afterwards. Source
 * files are not touched yet. Returns 0 and *out (free with
 * tar_writer_free), or -EINVAL with the reason in err (a bad name, mode or
 * mtime, a directory with content) and *out untouched.
 */
int tar_writer_new(struct tar_writer **out, const struct tar_entry *entries, size_t n,
                   struct buf *err) __attribute__((warn_unused_result));

/* The archive's exact length in bytes (a multiple of 512). */
uint64_t tar_writer_size(const struct tar_writer *w);

/*
 * Copies up to max bytes of the archive starting at byte pos into buf.
 * Returns the number of bytes copied (fewer than max only at the archive's
 * end, or past 1 GiB), 0 when pos is at or past the end or max is 0, or -1
 * with the reason in err when a source file cannot be opened or read, is not
 * a regular file, or has not the size declared; buf's content is then
 * unspecified, and the response being served must be aborted. Source files
 * are opened when their content is first needed (an empty one when the last
 * byte of its header is read); at most one is open at a time, kept for the
 * next call and closed by tar_writer_free.
 */
long tar_writer_read(struct tar_writer *w, uint64_t pos, char *buf, size_t max, struct buf *err)
    __attribute__((warn_unused_result));

/* Accepts NULL. */
void tar_writer_free(struct tar_writer *w);

enum tar_type {
    TAR_FILE,
    TAR_DIR,
};

struct tar_header {
    /*
     * Relative, '/'-separated, no ".." component, no trailing '/'. Owned by
     * the reader: valid until the next tar_reader_next or tar_reader_free.
     */
    const char *name;
    enum tar_type type;
    uint64_t size; /* content bytes; 0 for a directory */
    int mode;      /* permission bits (& 07777) */
    int64_t mtime;
};

struct tar_reader;

/*
 * Starts reading an archive from fd, at its current offset. The caller keeps
 * ownership of fd and closes it after tar_reader_free. A seekable fd has
 * unread content skipped with lseek; other fds (pipes) are read through.
 */
void tar_reader_open(struct tar_reader **out, int fd);

/*
 * Moves to the next entry, skipping whatever of the current entry's content
 * was not read. Returns 1 with *h filled, 0 at the end of the archive (two
 * zero blocks, or one followed by the end of the file), or -1 with the
 * reason in err: a read error, a bad checksum or number, an archive that
 * ends early, a name that is absolute, empty or has a ".." component, or an
 * entry that is neither a regular file nor a directory (a symbolic or hard
 * link, a device, a FIFO, a GNU long name). After -1 or 0 every further call
 * returns the same without reading.
 */
int tar_reader_next(struct tar_reader *r, struct tar_header *h, struct buf *err)
    __attribute__((warn_unused_result));

/*
 * Reads up to max bytes of the current entry's content into buf. Returns the
 * number of bytes read (> 0), 0 at the content's end (or with no current
 * entry), or -1 with the reason in err (a read error, or the archive ends
 * inside the content).
 */
long tar_reader_read(struct tar_reader *r, char *buf, size_t max, struct buf *err)
    __attribute__((warn_unused_result));

/* Accepts NULL. Does not close the fd. */
void tar_reader_free(struct tar_reader *r);

#endif
