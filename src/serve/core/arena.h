/* arena: a request's memory, freed in one step (h2o's memory pool, ggml's
 * context). Allocations are bump-pointer carves out of chunks; a large one
 * gets a chunk of its own; nothing is freed before arena_destroy().
 *
 * Thread-safety: one thread at a time. A request moves between the loop, a
 * worker and an engine instance through queues, which order its
 * allocations; two threads never allocate from one arena at once.
 */
#ifndef GLINT_SERVE_CORE_ARENA_H
#define GLINT_SERVE_CORE_ARENA_H

#include <stddef.h>

typedef struct arena arena;

/* A new arena whose first chunk holds `first` bytes (0: a default). NULL if
 * out of memory. Free with arena_destroy(). */
arena *arena_create(size_t first);

/* `size` zeroed bytes, 16-byte aligned, owned by the arena; NULL if out of
 * memory or size is absurd (> 1 GB). */
void *arena_alloc(arena *a, size_t size);

/* As arena_alloc, not cleared (a buffer about to be written whole). */
void *arena_alloc_raw(arena *a, size_t size);

/* A copy of src[0..len) (len may be 0: a valid, empty block), or NULL. */
void *arena_memdup(arena *a, const void *src, size_t len);

/* A NUL-terminated copy of s[0..len) in the arena, or NULL. */
char *arena_strndup(arena *a, const char *s, size_t len);

/* Bytes handed out, for tests and statistics. */
size_t arena_used(const arena *a);

/* Frees every allocation and the arena. Accepts NULL. */
void arena_destroy(arena *a);

#endif
