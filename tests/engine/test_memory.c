/* Memory planning: intermediate tensors share the arena by liveness (the
 * planned arena is smaller than the tensors it holds, and no larger than the
 * hand-computed optimum of the chain), the arena grows with max_batch, and
 * running allocates nothing: this executable counts every malloc-family call
 * (libc's entry points are interposed; not under ASan, which owns them) and
 * asserts that 100 runs of the reference backend make none. oneDNN 2.6's
 * dnnl_primitive_execute() itself news a few small blocks per call (its
 * argument map): for the AUTO backend the test bounds them instead (small,
 * the same number every run). */
#include "etest.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>

#if defined(__SANITIZE_ADDRESS__)
#define ETEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ETEST_ASAN 1
#endif
#endif

static atomic_long n_allocs;
static atomic_size_t max_alloc;
static atomic_bool counting;

#ifndef ETEST_ASAN
#define ETEST_COUNT_ALLOCS 1
/* glibc's own entry points, exported for exactly this use */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static inline void note_size(size_t n)
{
    if (!atomic_load_explicit(&counting, memory_order_relaxed)) return;
    atomic_fetch_add(&n_allocs, 1);
    size_t m = atomic_load(&max_alloc);
    while (n > m && !atomic_compare_exchange_weak(&max_alloc, &m, n)) {
    }
}

void *malloc(size_t n)
{
    note_size(n);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    note_size(n * size);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    note_size(n);
    return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    note_size(n);
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n)
{
    note_size(n);
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    note_size(n);
    void *p = __libc_memalign(align, n);
    if (!p && n) return ENOMEM;
    *out = p;
    return 0;
}
#endif

enum { IMG = 3 * 64, T8 = 8 * 64, T4 = 4 * 64 };

/* conv_bn_relu after fusion is a chain x -> t1 -> t2 -> t3 -> y of four
 * Conv steps; per image x is 3x8x8, t1..t3 are 8x8x8, y is 4x8x8 floats. */
static void test_liveness(void **state)
{
    glint_model *m = etest_load("conv_bn_relu/model.onnx");
    for (int b = 1; b <= 4; b *= 2) {
        glint_context *c = etest_context(m, GLINT_BACKEND_REF, 1, b);
        size_t arena = glint_context_arena_bytes(c);
        size_t inter = 3 * (size_t)b * T8 * sizeof(float);
        size_t all = inter + (size_t)b * (IMG + T4) * sizeof(float);
        /* without reuse the arena would hold every tensor; with it, at most
         * two 8-channel tensors are live at once */
        if (!(arena < inter)) fail_msg("batch %d: arena %zu >= intermediates %zu", b, arena, inter);
        if (arena != 2 * (size_t)b * T8 * sizeof(float))
            fail_msg("batch %d: arena %zu, the chain needs %zu", b, arena,
                     2 * (size_t)b * T8 * sizeof(float));
        assert_true(arena < all);
        glint_context_free(c);
    }
    /* the oneDNN backend adds layout copies but still reuses */
    glint_context *c = etest_context(m, GLINT_BACKEND_AUTO, 1, 4);
    size_t arena = glint_context_arena_bytes(c);
    assert_true(arena >= 2 * 4 * T8 * sizeof(float));
    assert_true(arena < 4 * (3 * T8 + IMG + T4) * sizeof(float));
    glint_context_free(c);
    glint_model_free(m);
}

/* Planned for the largest batch: the arena of max_batch 4 holds batch 4. */
static void test_arena_grows_with_batch(void **state)
{
    glint_model *m = etest_load("silu_residual/model.onnx");
    size_t prev = 0;
    for (int b = 1; b <= 4; b++) {
        glint_context *c = etest_context(m, GLINT_BACKEND_REF, 1, b);
        size_t a = glint_context_arena_bytes(c);
        assert_true(a >= (size_t)b * 8 * 36 * sizeof(float) * 2);
        assert_true(a > prev);
        prev = a;
        glint_context_free(c);
    }
    glint_model_free(m);
}

/* Runs `model` 100 times after a first run; returns the allocations the 100
 * runs made (0 under ASan, where they cannot be counted). */
static long count_run_allocs(const char *model, glint_backend be, const glint_tensor *in,
                             int threads, size_t *largest)
{
    glint_model *m = etest_load(model);
    glint_context *c = etest_context(m, be, threads, (int)in->dims[0]);
    size_t arena = glint_context_arena_bytes(c);
    /* first run: lazy one-time set-up (OpenMP pool, oneDNN scratch) may allocate */
    etest_status(glint_context_run(c, in, 1), GLINT_OK);
    glint_tensor y;
    glint_context_output(c, 0, &y);
    void *out_data = y.data;
    atomic_store(&n_allocs, 0);
    atomic_store(&max_alloc, 0);
    atomic_store(&counting, true);
    glint_status s = GLINT_OK;
    for (int r = 0; r < 100 && !s; r++)
        s = glint_context_run(c, in, 1);
    atomic_store(&counting, false);
    etest_status(s, GLINT_OK);
    long allocs = atomic_load(&n_allocs);
    *largest = atomic_load(&max_alloc);
    glint_context_output(c, 0, &y);
    assert_ptr_equal(y.data, out_data); /* outputs live in the same arena */
    assert_int_equal(glint_context_arena_bytes(c), arena);
    glint_context_free(c);
    glint_model_free(m);
    return allocs;
}

static void no_alloc_runs(const char *model, const glint_tensor *in)
{
    size_t largest;
    long n = count_run_allocs(model, GLINT_BACKEND_REF, in, 1, &largest);
    if (n)
        fail_msg("%s, reference backend: %ld allocations in 100 runs (largest %zu bytes)", model, n,
                 largest);
}

/* oneDNN steps: per run at most 16 allocations per oneDNN step, none above
 * 4 KiB (no tensor or scratchpad is allocated per run), a multiple of 100. */
static void bounded_alloc_runs(const char *model, const glint_tensor *in, int threads,
                               int dnnl_steps)
{
    size_t largest;
    long n = count_run_allocs(model, GLINT_BACKEND_AUTO, in, threads, &largest);
    (void)n;
    (void)dnnl_steps;
#ifdef ETEST_COUNT_ALLOCS
    if (n > 100L * 16 * dnnl_steps || n % 100 || largest > 4096)
        fail_msg("%s, AUTO: %ld allocations in 100 runs, largest %zu bytes", model, n, largest);
#endif
}

static void test_no_alloc_when_running(void **state)
{
    static float x[2 * 8 * 36];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = etest_det((int64_t)i, 700);
    glint_tensor conv = {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 3, 8, 8}, .data = x};
    glint_tensor silu = {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 8, 6, 6}, .data = x};
    glint_tensor chain = {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 4, 3, 3}, .data = x};
    no_alloc_runs("conv_bn_relu/model.onnx", &conv);
    no_alloc_runs("silu_residual/model.onnx", &silu);
    no_alloc_runs("reshape_chain/model.onnx", &chain);
    /* four Convs, plus a reorder in and out of NHWC */
    bounded_alloc_runs("conv_bn_relu/model.onnx", &conv, 1, 6);
    bounded_alloc_runs("silu_residual/model.onnx", &silu, 2, 6);
}

/* After glint_context_warm() even the first run of each batch size
 * allocates nothing (reference backend). */
static void test_warm_first_run(void **state)
{
    static float x[3 * 3 * 64];
    glint_model *m = etest_load("conv_bn_relu/model.onnx");
    glint_context *c = etest_context(m, GLINT_BACKEND_REF, 1, 3);
    etest_status(glint_context_warm(c), GLINT_OK);
    atomic_store(&n_allocs, 0);
    atomic_store(&counting, true);
    glint_status s = GLINT_OK;
    for (int b = 3; b >= 1 && !s; b--) {
        glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {b, 3, 8, 8}, .data = x};
        s = glint_context_run(c, &in, 1);
    }
    atomic_store(&counting, false);
    etest_status(s, GLINT_OK);
#ifdef ETEST_COUNT_ALLOCS
    assert_int_equal(atomic_load(&n_allocs), 0);
#endif
    glint_context_free(c);
    glint_model_free(m);
}

/* Output 0 of c's last run, copied (malloc'ed); *n its floats. */
static float *output_copy(const glint_context *c, size_t *n)
{
    glint_tensor y;
    glint_context_output(c, 0, &y);
    *n = (size_t)etest_count(&y);
    float *d = malloc(*n * sizeof *d);
    assert_non_null(d);
    memcpy(d, y.data, *n * sizeof *d);
    return d;
}

static void assert_output(const glint_context *c, const float *want, size_t n, const char *what)
{
    glint_tensor y;
    glint_context_output(c, 0, &y);
    if ((size_t)etest_count(&y) != n || memcmp(y.data, want, n * sizeof *want))
        fail_msg("%s: the output differs", what);
}

/* A context that borrows another's arena (glint serve's solo context) frees
 * its own, grows the lender's when it needs more, and both keep answering
 * right when their runs alternate; NULL gives it memory of its own again. */
static void test_borrowed_arena(void **state)
{
    static float x[2 * 8 * 36];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = etest_det((int64_t)i, 500);
    glint_tensor x1 = {.dtype = GLINT_F32, .ndim = 4, .dims = {1, 8, 6, 6}, .data = x};
    glint_tensor x2 = {.dtype = GLINT_F32, .ndim = 4, .dims = {2, 8, 6, 6}, .data = x};
    glint_model *m = etest_load("silu_residual/model.onnx");
    glint_context *a = etest_context(m, GLINT_BACKEND_AUTO, 1, 1);
    glint_context *b = etest_context(m, GLINT_BACKEND_AUTO, 2, 2);
    size_t na, nb;
    etest_status(glint_context_run(a, &x1, 1), GLINT_OK);
    float *ya = output_copy(a, &na);
    etest_status(glint_context_run(b, &x2, 1), GLINT_OK);
    float *yb = output_copy(b, &nb);
    size_t a_own = glint_context_arena_bytes(a), b_own = glint_context_arena_bytes(b);
    assert_true(b_own > a_own); /* batch 2 needs more */

    glint_context_borrow_arena(b, a);
    assert_int_equal(glint_context_arena_bytes(b), 0);
    for (int r = 0; r < 3; r++) {
        etest_status(glint_context_run(b, &x2, 1), GLINT_OK);
        assert_output(b, yb, nb, "the borrower");
        etest_status(glint_context_run(a, &x1, 1), GLINT_OK);
        assert_output(a, ya, na, "the lender, after the borrower ran in its arena");
    }
    assert_true(glint_context_arena_bytes(a) >= b_own); /* grown for the borrower */

    glint_context_borrow_arena(b, NULL);
    etest_status(glint_context_run(b, &x2, 1), GLINT_OK);
    assert_output(b, yb, nb, "the borrower on memory of its own again");
    assert_true(glint_context_arena_bytes(b) >= b_own);
    free(ya);
    free(yb);
    glint_context_free(b);
    glint_context_free(a);
    glint_model_free(m);
}

/* glint_model_trim frees the model's f32 copy of the weights oneDNN packed
 * (nothing reads it at run time): runs answer the same; a context made
 * afterwards plans again from weights given back from the packed copies,
 * exactly; the reference backend (which reads weights at run time) gets
 * them back too, and from then on they stay. */
static void test_trim(void **state)
{
    glint_model *m = etest_load("../../../models/red_disc/model.onnx");
    glint_io_info in;
    glint_model_input_info(m, 0, &in);
    glint_tensor x = {.dtype = GLINT_F32, .ndim = in.ndim};
    memcpy(x.dims, in.dims, sizeof x.dims);
    x.dims[0] = 1;
    size_t nx = (size_t)etest_count(&x);
    float *xd = malloc(nx * sizeof *xd);
    assert_non_null(xd);
    for (size_t i = 0; i < nx; i++)
        xd[i] = etest_det((int64_t)i, 1000);
    x.data = xd;
    glint_context *c = etest_context(m, GLINT_BACKEND_AUTO, 1, 1);
    etest_status(glint_context_run(c, &x, 1), GLINT_OK);
    size_t n;
    float *y = output_copy(c, &n);

    size_t freed = glint_model_trim(m);
    if (freed < 300000) fail_msg("trim freed %zu bytes of a 450 KB model", freed);
    etest_status(glint_context_run(c, &x, 1), GLINT_OK);
    assert_output(c, y, n, "after the trim");

    glint_context *c2 = etest_context(m, GLINT_BACKEND_AUTO, 1, 1);
    etest_status(glint_context_run(c2, &x, 1), GLINT_OK);
    assert_output(c2, y, n, "a context planned from the weights given back");
    assert_int_equal(glint_model_trim(m), freed);

    glint_context *r = etest_context(m, GLINT_BACKEND_REF, 1, 1);
    etest_status(glint_context_run(r, &x, 1), GLINT_OK);
    glint_tensor yr;
    glint_context_output(r, 0, &yr);
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)((const float *)yr.data)[i] - y[i];
        num += d * d;
        den += (double)y[i] * y[i];
    }
    if (!(num <= 1e-8 * (den > 0 ? den : 1)))
        fail_msg("reference after trim: rel L2 %g", sqrt(num / (den > 0 ? den : 1)));
    assert_int_equal(glint_model_trim(m), 0); /* the reference context reads them */
    free(y);
    free(xd);
    glint_context_free(r);
    glint_context_free(c2);
    glint_context_free(c);
    glint_model_free(m);
}

/* The counter itself works (otherwise the test above proves nothing). */
static void test_counter_counts(void **state)
{
#ifdef ETEST_COUNT_ALLOCS
    atomic_store(&n_allocs, 0);
    atomic_store(&counting, true);
    glint_model *m = etest_load("reshape_chain/model.onnx");
    atomic_store(&counting, false);
    assert_true(atomic_load(&n_allocs) > 10);
    glint_model_free(m);
#else
    skip();
#endif
}

int main(int argc, char **argv)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_counts),
        cmocka_unit_test(test_liveness),
        cmocka_unit_test(test_arena_grows_with_batch),
        cmocka_unit_test(test_no_alloc_when_running),
        cmocka_unit_test(test_warm_first_run),
        cmocka_unit_test(test_borrowed_arena),
        cmocka_unit_test(test_trim),
    };
    /* clang-format on */
    if (argc > 1) cmocka_set_test_filter(argv[1]); /* e.g. "test_freeze_*" */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
