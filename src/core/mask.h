/*
 * mask: replaces every occurrence of a set of byte strings (secret values and
 * their encodings) in a stream with "***", the stream arriving in chunks of
 * any size (a job writing one byte at a time included).
 *
 * Calling sequence:
 *
 *     struct mask_set *set = mask_set_new();
 *     mask_set_add(set, "s3cr3t-value", 12);   // any number of patterns
 *     struct mask *m = mask_new(set);          // compiles the set on first use
 *     mask_feed(m, chunk, n, emit, ctx);       // for each chunk, in order
 *     mask_flush(m, emit, ctx);                // at the end of the stream
 *     mask_free(m);
 *     mask_set_free(set);                      // after every mask made from it
 *
 * emit(ctx, data, len) receives the output, in order, in one or more spans per
 * call (spans point into the chunk given, or into the mask's own memory, and
 * are valid during the call only). Nothing is emitted that could still turn
 * out to be part of a pattern: the mask holds such bytes back, at most
 * (longest pattern - 1) of them, until the bytes after them decide.
 * mask_flush() emits what is held; the stream may go on afterwards, as a new
 * one (a pattern split across a flush is not found).
 *
 * What is replaced: every byte that lies inside an occurrence of some
 * pattern is hidden, and each maximal run of hidden bytes becomes one
 * MASK_REPLACEMENT (overlapping or adjacent occurrences, of one pattern or
 * several, make one "***"). Patterns are plain bytes, matched exactly.
 *
 * Cost: the set is an Aho-Corasick automaton (linear in the bytes fed, with a
 * dense table at the root), and when every pattern has at least 3 bytes a
 * q-gram filter lets the mask skip over text that cannot hold an
 * occurrence, reading one q-gram in (shortest - q + 1) bytes. A log with no
 * secret given needs no mask at all: callers make one only when there are
 * patterns.
 *
 * Threads: a compiled set is read-only and may serve masks on any number of
 * threads; a mask belongs to one thread.
 */
#ifndef FLYWHEEL_CORE_MASK_H
#define FLYWHEEL_CORE_MASK_H

#include <stdbool.h>
#include <stddef.h>

#define MASK_REPLACEMENT "***"
/* The most pattern bytes a set holds (the automaton takes about 25 bytes per pattern byte). */
#define MASK_MAX_BYTES (16u << 20)

struct mask_set;
struct mask;

typedef void (*mask_emit_fn)(void *ctx, const char *data, size_t len);

struct mask_set *mask_set_new(void);
/*
 * Adds a pattern of len bytes (copied). Returns 0 (a pattern already in the
 * set is not added twice), -EINVAL for an empty one, -E2BIG when the set
 * would hold more than MASK_MAX_BYTES, -EBUSY once the set is compiled.
 */
int mask_set_add(struct mask_set *s, const void *pat, size_t len)
    __attribute__((warn_unused_result));
/* The number of distinct patterns, and the length of the longest (0 when none). */
size_t mask_set_count(const struct mask_set *s);
size_t mask_set_longest(const struct mask_set *s);
void mask_set_free(struct mask_set *s);

/* A stream masked with the patterns of s, which is compiled now if it was not (s outlives it). */
struct mask *mask_new(struct mask_set *s);
void mask_free(struct mask *m);
void mask_feed(struct mask *m, const void *data, size_t len, mask_emit_fn emit, void *ctx);
void mask_flush(struct mask *m, mask_emit_fn emit, void *ctx);
/* Bytes held back now (never more than the longest pattern - 1). */
size_t mask_held(const struct mask *m);

#endif
