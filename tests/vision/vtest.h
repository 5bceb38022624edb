/* Shared helpers for the vision tests: test-data paths, whole-file reads,
 * pixel access and a seeded generator. Header-only (static), included by each
 * test_*.c. */
#ifndef GLINT_TESTS_VISION_VTEST_H
#define GLINT_TESTS_VISION_VTEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vision/image.h"

#ifndef GLINT_SOURCE_DIR
#define GLINT_SOURCE_DIR "."
#endif

/* Path of tests/data/<name> in a static buffer (one at a time). */
static inline const char *data_path(const char *name)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/%s", GLINT_SOURCE_DIR, name);
    return path;
}

/* Whole file tests/data/<name>, malloc'd; fails the test if unreadable. */
static inline uint8_t *read_data(const char *name, size_t *len)
{
    const char *path = data_path(name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    assert_true(n > 0);
    uint8_t *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static inline const uint8_t *px(const vision_image *img, int x, int y)
{
    return img->pixels + (size_t)y * img->stride + 3 * (size_t)x;
}

/* Decodes tests/data/<name> with dec, asserting success. */
static inline void decode_data(vision_decoder *dec, const char *name, const vision_spec *spec,
                               vision_image *img)
{
    size_t n;
    uint8_t *buf = read_data(name, &n);
    vision_error err;
    vision_status s = vision_decode(dec, buf, n, spec, img, &err);
    if (s != VISION_OK) fail_msg("%s: %s (%s)", name, err.msg, vision_strerror(s));
    free(buf);
}

/* Mean absolute difference of two same-sized images over all channels. */
static inline double mean_abs_diff(const vision_image *a, const vision_image *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    double sum = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width; x++)
            for (int c = 0; c < 3; c++)
                sum += abs((int)px(a, x, y)[c] - (int)px(b, x, y)[c]);
    return sum / (3.0 * a->width * a->height);
}

/* xorshift64*: reproducible bytes for hostile-input tests. */
static inline uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

#endif
