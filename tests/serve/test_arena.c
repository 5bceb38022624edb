/* The request arena (serve/core/arena.h): alignment, zeroing, chunk
 * growth, allocations larger than a chunk, copies, limits; ASan checks that
 * arena_destroy frees everything and nothing is written out of bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "serve/core/arena.h"

static void test_alloc_aligned_zeroed(void **state)
{
    (void)state;
    arena *a = arena_create(256);
    assert_non_null(a);
    uint8_t *prev = NULL;
    for (size_t size = 1; size < 200; size += 7) {
        uint8_t *p = arena_alloc(a, size);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (size_t i = 0; i < size; i++)
            assert_int_equal(p[i], 0);
        memset(p, 0xAB, size); /* the next block must not overlap it */
        if (prev) assert_true(p != prev);
        prev = p;
    }
    assert_true(arena_used(a) >= 1 + 8 + 15);
    arena_destroy(a);
}

static void test_blocks_do_not_overlap(void **state)
{
    (void)state;
    arena *a = arena_create(0);
    enum { N = 500 };
    uint8_t *blocks[N];
    size_t sizes[N];
    for (int i = 0; i < N; i++) {
        sizes[i] = (size_t)(i * 37 % 3000) + 1; /* some over a quarter chunk: own chunk */
        blocks[i] = arena_alloc(a, sizes[i]);
        assert_non_null(blocks[i]);
        memset(blocks[i], i & 0xFF, sizes[i]);
    }
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < sizes[i]; k++)
            if (blocks[i][k] != (i & 0xFF)) fail_msg("block %d byte %zu overwritten", i, k);
    arena_destroy(a);
}

static void test_large_and_copies(void **state)
{
    (void)state;
    arena *a = arena_create(64);
    size_t big = (size_t)8 << 20;
    uint8_t *p = arena_alloc_raw(a, big);
    assert_non_null(p);
    memset(p, 1, big);
    assert_true(arena_used(a) >= big);
    const char text[] = "image.jpg and more";
    char *s = arena_strndup(a, text, 9);
    assert_string_equal(s, "image.jpg");
    uint8_t *d = arena_memdup(a, text, sizeof text);
    assert_memory_equal(d, text, sizeof text);
    assert_non_null(arena_memdup(a, NULL, 0));    /* an empty body is a valid block */
    assert_null(arena_alloc(a, (size_t)2 << 30)); /* beyond the limit */
    arena_destroy(a);
    arena_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_alloc_aligned_zeroed),
                                       cmocka_unit_test(test_blocks_do_not_overlap),
                                       cmocka_unit_test(test_large_and_copies)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
