/* Sharing one model between contexts: two contexts with different thread
 * counts, created and run at the same time from two pthreads, give exactly
 * the result of a single-threaded run, run after run. */
#include "etest.h"

#include <pthread.h>

enum { N = 2, IN = N * 8 * 36, OUT = N * 4 * 36, RUNS = 20 };

static glint_model *model;
static float x[IN], want[OUT];
static pthread_barrier_t start;

typedef struct worker {
    int threads;
    glint_backend backend;
    glint_status status; /* first failure, or GLINT_OK */
    char msg[512];
    int mismatches;
    double max_diff;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    glint_context_options o = {.threads = w->threads, .max_batch = N, .backend = w->backend};
    glint_context *c = NULL;
    pthread_barrier_wait(&start); /* create at the same time: weight cache race */
    w->status = glint_context_create(model, &o, &c);
    pthread_barrier_wait(&start);
    if (w->status) {
        snprintf(w->msg, sizeof w->msg, "%s", glint_last_error());
        return NULL;
    }
    glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {N, 8, 6, 6}, .data = x};
    for (int r = 0; r < RUNS; r++) {
        if ((w->status = glint_context_run(c, &in, 1))) {
            snprintf(w->msg, sizeof w->msg, "%s", glint_last_error());
            break;
        }
        glint_tensor y;
        glint_context_output(c, 0, &y);
        double d = etest_max_diff(y.data, want, OUT);
        if (d != 0) w->mismatches++;
        if (d > w->max_diff || d != d) w->max_diff = d;
    }
    glint_context_free(c);
    return NULL;
}

/* One context per backend-thread pair at once against the 1-thread result
 * of the same backend. */
static void run_pair(glint_backend be, int t1, int t2)
{
    /* the reference from a model of its own, so that the two threads find
     * the shared model's weight cache empty and fill it at the same time */
    glint_model *solo = etest_load("silu_residual/model.onnx");
    glint_context *c = etest_context(solo, be, 1, N);
    glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {N, 8, 6, 6}, .data = x};
    etest_status(glint_context_run(c, &in, 1), GLINT_OK);
    glint_tensor y;
    glint_context_output(c, 0, &y);
    memcpy(want, y.data, sizeof want);
    glint_context_free(c);
    glint_model_free(solo);
    assert_true(etest_max_abs(want, OUT) > 0.5);
    model = etest_load("silu_residual/model.onnx");

    worker w[2] = {{.threads = t1, .backend = be}, {.threads = t2, .backend = be}};
    pthread_t th[2];
    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    glint_model_free(model);
    for (int i = 0; i < 2; i++) {
        if (w[i].status)
            fail_msg("backend %d, %d threads: %s (%s)", be, w[i].threads,
                     glint_strerror(w[i].status), w[i].msg);
        if (w[i].mismatches)
            fail_msg("backend %d, %d threads: %d of %d runs differ from 1 thread (max %g)", be,
                     w[i].threads, w[i].mismatches, RUNS, w[i].max_diff);
    }
}

static void test_two_contexts_ref(void **state)
{
    run_pair(GLINT_BACKEND_REF, 1, 2);
}

static void test_two_contexts_auto(void **state)
{
    run_pair(GLINT_BACKEND_AUTO, 2, 1);
}

/* Counts the profile's step lines of c, and those run on one thread. */
static void profile_lines(const glint_context *c, int *lines, int *single)
{
    static char buf[1 << 16];
    glint_context_profile(c, buf, sizeof buf);
    *lines = *single = 0;
    for (const char *l = buf; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        (*lines)++;
        const char *end = strchr(l, '\n');
        const char *hit = strstr(l, "(1 thread)");
        *single += hit && (!end || hit < end);
    }
}

/* On a 2-thread context the steps too small to share (a few microseconds of
 * work: every step of this model at batch 1) run on one thread and say so
 * in the profile, the large ones (batch 128) on both; the answers are those
 * of a 1-thread context either way. */
static void test_small_steps_single(void **state)
{
    enum { B = 128 };
    static float big[B * 8 * 36];
    for (int i = 0; i < B * 8 * 36; i++)
        big[i] = etest_det(i, 600) * 4;
    glint_model *m = etest_load("silu_residual/model.onnx");
    glint_context_options o1 = {.threads = 1, .max_batch = B};
    glint_context_options o2 = {.threads = 2, .max_batch = B, .profile = 1};
    glint_context *c1 = NULL, *c2 = NULL;
    etest_status(glint_context_create(m, &o1, &c1), GLINT_OK);
    etest_status(glint_context_create(m, &o2, &c2), GLINT_OK);
    for (int b = 1; b <= B; b += B - 1) {
        glint_tensor in = {.dtype = GLINT_F32, .ndim = 4, .dims = {b, 8, 6, 6}, .data = big};
        etest_status(glint_context_run(c1, &in, 1), GLINT_OK);
        etest_status(glint_context_run(c2, &in, 1), GLINT_OK);
        glint_tensor y1, y2;
        glint_context_output(c1, 0, &y1);
        glint_context_output(c2, 0, &y2);
        double d = etest_max_diff(y1.data, y2.data, etest_count(&y1));
        if (d > 1e-5) fail_msg("batch %d: 2 threads differ from 1 by %g", b, d);
        int lines, single;
        profile_lines(c2, &lines, &single);
        if (b == 1 && (lines < 2 || single != lines))
            fail_msg("batch 1: %d of %d steps on one thread, want all", single, lines);
        if (b == B && single == lines)
            fail_msg("batch %d: all %d steps on one thread, want the large ones on two", B, lines);
    }
    glint_context_free(c2);
    glint_context_free(c1);
    glint_model_free(m);
}

/* glint_last_error() is per thread: a failure on one thread does not change
 * the message another thread is reading. */
static void *fail_other(void *arg)
{
    glint_model *m = NULL;
    glint_model_load("/nonexistent/other_thread.onnx", &m);
    snprintf(arg, 256, "%s", glint_last_error());
    return NULL;
}

static void test_last_error_per_thread(void **state)
{
    glint_model *m = NULL;
    etest_status(glint_model_load("/nonexistent/this_thread.onnx", &m), GLINT_ERR_IO);
    char other[256] = "";
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fail_other, other), 0);
    pthread_join(th, NULL);
    assert_non_null(strstr(other, "other_thread.onnx"));
    etest_msg_has("this_thread.onnx");
}

static int setup(void **state)
{
    for (int i = 0; i < IN; i++)
        x[i] = etest_det(i, 600) * 4;
    return 0;
}

int main(int argc, char **argv)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_contexts_ref),
        cmocka_unit_test(test_two_contexts_auto),
        cmocka_unit_test(test_last_error_per_thread),
        cmocka_unit_test(test_small_steps_single),
    };
    /* clang-format on */
    if (argc > 1) cmocka_set_test_filter(argv[1]); /* e.g. "test_freeze_*" */
    return cmocka_run_group_tests(tests, setup, NULL);
}
