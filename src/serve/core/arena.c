/* arena: chunked bump allocation freed in one step (see arena.h). */
#include "serve/core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_CHUNK 4096
#define ARENA_MAX_ALLOC ((size_t)1 << 30)

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} chunk;

struct arena {
    chunk *head; /* the chunk being carved; large ones are linked behind it */
    size_t chunk_size;
    size_t used;
};

static chunk *chunk_new(size_t size)
{
    chunk *c = malloc(sizeof *c + size);
    if (!c) return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

arena *arena_create(size_t first)
{
    arena *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->chunk_size = first ? first : ARENA_DEFAULT_CHUNK;
    if (!(a->head = chunk_new(a->chunk_size))) {
        free(a);
        return NULL;
    }
    return a;
}

void *arena_alloc_raw(arena *a, size_t size)
{
    if (size > ARENA_MAX_ALLOC) return NULL;
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (!need) need = ARENA_ALIGN;
    chunk *c = a->head;
    if (c->size - c->used < need) {
        if (need > a->chunk_size / 4) { /* its own chunk, behind the current one */
            chunk *big = chunk_new(need);
            if (!big) return NULL;
            big->used = need;
            big->next = c->next;
            c->next = big;
            a->used += need;
            return big->data;
        }
        if (a->chunk_size < ((size_t)1 << 20)) a->chunk_size *= 2;
        chunk *fresh = chunk_new(a->chunk_size);
        if (!fresh) return NULL;
        fresh->next = c;
        a->head = c = fresh;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->used += need;
    return p;
}

void *arena_alloc(arena *a, size_t size)
{
    void *p = arena_alloc_raw(a, size);
    if (p) memset(p, 0, size);
    return p;
}

void *arena_memdup(arena *a, const void *src, size_t len)
{
    void *p = arena_alloc_raw(a, len);
    if (p && len) memcpy(p, src, len);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t len)
{
    char *d = arena_alloc_raw(a, len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = 0;
    return d;
}

size_t arena_used(const arena *a)
{
    return a->used;
}

void arena_destroy(arena *a)
{
    if (!a) return;
    for (chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(a);
}
