/* Shared helpers for the engine tests: paths of the committed test models
 * (tests/data/onnx, written by tools/gen_test_models.py), whole-file reads,
 * loading with asserted success, TensorProto files, the deterministic
 * parameter formula the generator uses, and status/message assertions.
 * Header-only (static), included by each test_*.c. */
#ifndef GLINT_TESTS_ENGINE_ETEST_H
#define GLINT_TESTS_ENGINE_ETEST_H

#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "glint/engine.h"

#ifndef GLINT_SOURCE_DIR
#define GLINT_SOURCE_DIR "."
#endif

/* Path of tests/data/onnx/<rel>; four rotating static buffers so that a few
 * can be alive at once. */
static inline const char *etest_path(const char *rel)
{
    static char bufs[4][1024];
    static int next;
    char *p = bufs[next++ & 3];
    snprintf(p, sizeof bufs[0], "%s/tests/data/onnx/%s", GLINT_SOURCE_DIR, rel);
    return p;
}

/* Whole file at `path`, malloc'ed (free() it); fails the test if unreadable. */
static inline uint8_t *etest_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static inline void etest_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot create %s", path);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Fails the test unless s == want, showing the engine's message. */
#define etest_status(s, want)                                                                      \
    do {                                                                                           \
        glint_status s_ = (s), w_ = (want);                                                        \
        if (s_ != w_)                                                                              \
            fail_msg("%s: status %d (%s), want %d (%s); last error: %s", #s, (int)s_,              \
                     glint_strerror(s_), (int)w_, glint_strerror(w_), glint_last_error());         \
    } while (0)

/* Fails the test unless glint_last_error() contains `needle`. */
#define etest_msg_has(needle)                                                                      \
    do {                                                                                           \
        if (!strstr(glint_last_error(), (needle)))                                                 \
            fail_msg("last error \"%s\" does not mention \"%s\"", glint_last_error(), (needle));   \
    } while (0)

/* Loads tests/data/onnx/<rel>, asserting success. */
static inline glint_model *etest_load(const char *rel)
{
    glint_model *m = NULL;
    etest_status(glint_model_load(etest_path(rel), &m), GLINT_OK);
    assert_non_null(m);
    return m;
}

static inline glint_context *etest_context(glint_model *m, glint_backend be, int threads,
                                           int max_batch)
{
    glint_context_options o = {.threads = threads, .max_batch = max_batch, .backend = be};
    glint_context *c = NULL;
    etest_status(glint_context_create(m, &o, &c), GLINT_OK);
    assert_non_null(c);
    return c;
}

/* Reads a TensorProto file (absolute path); data is malloc'ed. */
static inline glint_tensor etest_read_pb(const char *path)
{
    size_t n;
    uint8_t *buf = etest_read_file(path, &n);
    glint_tensor t;
    etest_status(glint_tensor_parse(buf, n, &t, NULL), GLINT_OK);
    free(buf);
    return t;
}

static inline int64_t etest_count(const glint_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->dims[i];
    return n;
}

static inline void etest_assert_dims(const glint_tensor *t, int ndim, const int64_t *dims)
{
    assert_int_equal(t->ndim, ndim);
    for (int i = 0; i < ndim; i++)
        if (t->dims[i] != dims[i])
            fail_msg("dimension %d is %lld, want %lld", i, (long long)t->dims[i],
                     (long long)dims[i]);
}

/* Largest |a[i] - b[i]| (NaN if either holds a NaN). */
static inline double etest_max_diff(const float *a, const float *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d != d) return NAN;
        if (d > m) m = d;
    }
    return m;
}

static inline double etest_max_abs(const float *a, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs((double)a[i]) > m) m = fabs((double)a[i]);
    return m;
}

/* The generator's parameter formula (tools/gen_test_models.py: det, det_pos). */
static inline float etest_det(int64_t i, int seed)
{
    return (float)(((i * 37 + seed * 11) % 29) - 14) / 32.0f;
}

static inline float etest_det_pos(int64_t i, int seed)
{
    return (float)(((i * 5 + seed * 3) % 7) + 1) / 4.0f;
}

/* xorshift64*: reproducible bytes for hostile-input tests. */
static inline uint64_t etest_rng(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

#endif
