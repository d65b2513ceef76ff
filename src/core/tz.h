/*
 * Time zones without the C library's process-wide TZ: UTC offsets of IANA
 * zones read from their TZif files, for evaluating deployment windows from
 * any thread.
 *
 *     struct buf err = BUF_INIT;
 *     const struct tz *z = tz_get("Europe/Paris", &err);  // cached, shared
 *     if (!z) { report err.data; }
 *     int off = tz_offset(z, utc_seconds);                 // 3600 or 7200
 *
 * setenv("TZ"), tzset() and localtime() change or read state shared by the
 * whole process, so nothing here calls them. A zone is loaded once from
 * TZDIR (the environment variable, read when the zone is loaded) or else
 * /usr/share/zoneinfo: the TZif format (RFC 8536, versions 1 to 4; later
 * digits are read as version 4 is, as the format promises), the
 * 64-bit data of version 2 and later when there is one, and the POSIX TZ
 * string of the footer for instants after the last transition in the file
 * ("CET-1CEST,M3.5.0,M10.5.0/3"; the Mm.w.d, Jn and n rule forms). Leap
 * second records are skipped: flywheel's clock is POSIX time, which has
 * none, so the "right/" zones are off by the leap seconds so far.
 *
 * "UTC", "Z" and fixed offsets "+HH:MM" / "-HH:MM" (up to 14:00) need no
 * file.
 *
 * Thread safety: a loaded struct tz is never changed, so any thread may use
 * it. tz_get() takes a mutex. Zones it returns stay valid until
 * tz_cache_clear().
 */
#ifndef FLYWHEEL_CORE_TZ_H
#define FLYWHEEL_CORE_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct tz;

/* The largest zone file read; real ones are under 4 KiB. */
#define TZ_MAX_FILE (1024 * 1024)

/*
 * Loads zone name into *out (to be freed with tz_free()). Names with "..",
 * a leading '/', or characters outside [A-Za-z0-9/_+-] are refused without
 * touching the file system. Returns 0; or -1 with *out = NULL and a reason
 * appended to err ("unknown time zone 'Mars/Olympus' (not found in
 * /usr/share/zoneinfo)", "time zone 'X': not a valid time zone file
 * (truncated)", ...).
 */
int tz_load(struct tz **out, const char *name, struct buf *err) __attribute__((warn_unused_result));

/*
 * Reads a zone from the bytes of a TZif file (what tz_load() does after
 * reading it); name is only for messages. Same results as tz_load().
 */
int tz_parse(struct tz **out, const char *name, const void *data, size_t len, struct buf *err)
    __attribute__((warn_unused_result));

/* Seconds east of UTC in zone z at the instant utc_s (Unix seconds). */
int tz_offset(const struct tz *z, int64_t utc_s);

/*
 * The first instant after utc_s at which z's offset changes, or INT64_MAX
 * when it never does (a fixed offset; a zone whose last rule has no DST).
 */
int64_t tz_next_change(const struct tz *z, int64_t utc_s);

void tz_free(struct tz *z);

/*
 * The zone called name, loaded on first use and kept for the life of the
 * process (or until tz_cache_clear()). Any thread. Returns NULL with a
 * reason in err as tz_load() does; a failure is not remembered, so a zone
 * installed later is found.
 */
const struct tz *tz_get(const char *name, struct buf *err) __attribute__((warn_unused_result));

/*
 * Frees every cached zone. Only when no thread uses a zone from tz_get()
 * any more: at the end of a test or of the process.
 */
void tz_cache_clear(void);

#endif
