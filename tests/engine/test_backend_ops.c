/* Every registered backend against the reference backend, op case by op
 * case (ggml's test-backend-ops): each model of tests/data/op_cases and the
 * float test models of tests/data/onnx is planned on the reference backend
 * and on each backend, for several batch sizes and, where the model's
 * spatial size is free, several image sizes; both run the same seeded input
 * and their outputs must agree. Every arena tensor is laid out with guard
 * bytes before and after it, checked after every step: a kernel that writes
 * outside its tensor fails the test naming the first value written after
 * the damage. */
#include "etest.h"

#include "backend.h"
#include "plan.h"

#include <dirent.h>

#define GUARD 64 /* guard bytes around every arena buffer */
#define GUARD_BYTE 0xA5
#define ATOL 1e-4
#define RTOL 1e-3

/* A plan bound to an arena in which every buffer has guard bytes around it
 * (its liveness-based offsets are replaced: no two buffers share bytes). */
typedef struct guarded {
    plan p;
    uint8_t *arena;
    size_t bytes;
    uint8_t *is_guard;       /* per arena byte: 1 = a guard byte */
    char damaged_after[256]; /* the value whose step first broke a guard, or "" */
} guarded;

static int root_of(const plan *p, int v)
{
    while (p->alias[v] != v)
        v = p->alias[v];
    return v;
}

/* Lays p's buffers out one after the other with GUARD bytes between them,
 * fills the guards and binds the plan. */
static void guard_layout(guarded *g)
{
    plan *p = &g->p;
    size_t at = GUARD;
    for (int v = 0; v < p->n_vals; v++) {
        if (p->is_const[v] || p->offset[v] < 0 || root_of(p, v) != v) continue;
        p->offset[v] = (int64_t)at;
        at += (eng_tensor_bytes(&p->t[v]) + 63) / 64 * 64 + GUARD;
    }
    for (int v = 0; v < p->n_vals; v++) {
        if (p->is_const[v] || p->offset[v] < 0 || root_of(p, v) == v) continue;
        int64_t off = 0;
        for (int w = v; p->alias[w] != w; w = p->alias[w])
            off += p->alias_off[w];
        p->offset[v] = p->offset[root_of(p, v)] + off;
    }
    g->bytes = at;
    g->arena = aligned_alloc(64, (at + 63) / 64 * 64);
    g->is_guard = malloc(at);
    assert_non_null(g->arena);
    assert_non_null(g->is_guard);
    memset(g->is_guard, 1, at);
    for (int v = 0; v < p->n_vals; v++) {
        if (p->is_const[v] || p->offset[v] < 0 || root_of(p, v) != v) continue;
        memset(g->is_guard + p->offset[v], 0, eng_tensor_bytes(&p->t[v]));
    }
    memset(g->arena, GUARD_BYTE, at);
    eng_plan_bind(p, g->arena);
}

/* Index of the first guard byte a kernel overwrote, or -1. */
static long long guard_broken(const guarded *g)
{
    for (size_t i = 0; i < g->bytes; i++)
        if (g->is_guard[i] && g->arena[i] != GUARD_BYTE) return (long long)i;
    return -1;
}

/* The plan's observer: after every step, notes the first value whose step
 * left a guard byte broken. */
static void guard_observe(void *user, const char *name, const glint_tensor *t)
{
    guarded *g = user;
    (void)t;
    if (!g->damaged_after[0] && guard_broken(g) >= 0)
        snprintf(g->damaged_after, sizeof g->damaged_after, "%s", name);
}

/* Fails naming the first guard byte that a kernel overwrote. */
static void guard_check(const guarded *g, const char *what)
{
    long long i = guard_broken(g);
    if (i >= 0)
        fail_msg("%s: a kernel wrote guard byte %lld of the arena (seen after writing '%s')", what,
                 i, g->damaged_after);
}

/* Seeded input: floats in [-2, 2), small integers otherwise. */
static void fill_inputs(plan *p, uint32_t seed)
{
    const graph *gr = &p->m->g;
    for (int i = 0; i < gr->n_inputs; i++) {
        glint_tensor *t = &p->t[gr->inputs[i]];
        int64_t n = eng_tensor_count(t);
        for (int64_t k = 0; k < n; k++) {
            seed = seed * 1664525u + 1013904223u;
            double r = (double)(seed >> 8) / (double)(1u << 24);
            if (t->dtype == GLINT_F32)
                ((float *)t->data)[k] = (float)(4 * r - 2);
            else
                eng_tensor_set_i(t, k, (int64_t)(r * 3));
        }
    }
}

static bool build(guarded *g, const glint_model *m, int batch, const int64_t *dims,
                  const backend_iface *be)
{
    memset(g, 0, sizeof *g);
    if (eng_plan_build(m, batch, dims, be, false, &g->p) != GLINT_OK) return false;
    guard_layout(g);
    g->p.observe = guard_observe;
    g->p.observe_user = g;
    return true;
}

static void dispose(guarded *g)
{
    eng_plan_dispose(&g->p);
    free(g->arena);
    free(g->is_guard);
}

/* Outputs of a (backend) and r (reference) agree element by element. */
static void compare_outputs(const plan *a, const plan *r, const char *what)
{
    const graph *gr = &r->m->g;
    for (int i = 0; i < gr->n_outputs; i++) {
        const glint_tensor *x = &a->t[gr->outputs[i]], *y = &r->t[gr->outputs[i]];
        assert_int_equal(x->dtype, y->dtype);
        assert_int_equal(eng_tensor_count(x), eng_tensor_count(y));
        for (int64_t k = 0; k < eng_tensor_count(x); k++) {
            double u = eng_tensor_get_f(x, k), w = eng_tensor_get_f(y, k);
            if (!(fabs(u - w) <= ATOL + RTOL * fabs(w)))
                fail_msg("%s: output %d element %lld: %g, reference %g", what, i, (long long)k, u,
                         w);
        }
    }
}

/* One model at one shape: the reference, then every backend. Returns the
 * number of (backend, shape) pairs checked. */
static int check_shape(const glint_model *m, const char *name, int batch, const int64_t *dims)
{
    guarded ref;
    if (!build(&ref, m, batch, dims, &eng_backend_ref)) return 0; /* shape not valid */
    fill_inputs(&ref.p, 12345u);
    etest_status(eng_plan_run(&ref.p, false), GLINT_OK);
    guard_check(&ref, name);
    int n_be, checked = 0;
    const backend_iface *const *bes = eng_backend_list(&n_be);
    for (int b = 0; b < n_be; b++) {
        char what[512];
        snprintf(what, sizeof what, "%s on %s, batch %d%s", name, bes[b]->name, batch,
                 dims ? " (generated H, W)" : "");
        guarded g;
        if (!build(&g, m, batch, dims, bes[b])) fail_msg("%s: %s", what, glint_last_error());
        fill_inputs(&g.p, 12345u);
        etest_status(eng_plan_run(&g.p, false), GLINT_OK);
        guard_check(&g, what);
        compare_outputs(&g.p, &ref.p, what);
        dispose(&g);
        checked++;
    }
    dispose(&ref);
    return checked;
}

/* Every model folder under dir (tests/data/...): batches 1 and 3, and for
 * models with a free spatial size, three generated sizes. */
static int check_dir(const char *dir, const char *const *only)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int checked = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        bool wanted = !only;
        for (int i = 0; only && only[i]; i++)
            wanted |= !strcmp(only[i], e->d_name);
        if (!wanted) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/model.onnx", dir, e->d_name);
        glint_model *m = NULL;
        etest_status(glint_model_load(path, &m), GLINT_OK);
        static const int batches[] = {1, 3};
        for (int b = 0; b < 2; b++)
            checked += check_shape(m, e->d_name, batches[b], NULL);
        static const int64_t hw[][2] = {{16, 16}, {24, 40}, {33, 17}};
        for (int k = 0; k < 3; k++) {
            int64_t dims[GLINT_MAX_DIMS] = {0};
            dims[2] = hw[k][0];
            dims[3] = hw[k][1];
            if (m->g.vals[m->g.inputs[0]].ndim == 4 && m->g.vals[m->g.inputs[0]].dims[2] < 0)
                checked += check_shape(m, e->d_name, 1, dims);
        }
        if (getenv("GLINT_TEST_VERBOSE")) printf("%s: %d checked\n", e->d_name, checked);
        glint_model_free(m);
    }
    closedir(d);
    return checked;
}

static void test_op_cases(void **state)
{
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data/op_cases", GLINT_SOURCE_DIR);
    assert_true(check_dir(dir, NULL) >= 14 * 2);
}

static void test_float_models(void **state)
{
    (void)state;
    static const char *const models[] = {"c2f",
                                         "conv_bn_relu",
                                         "dfl_head",
                                         "dynamic_hw",
                                         "mini_yolo",
                                         "reshape_chain",
                                         "silu_residual",
                                         "slice_opset10",
                                         "sppf_neck",
                                         "upsample_opset9",
                                         "upsample_slice_opset8",
                                         NULL};
    /* dynamic_hw runs at generated sizes only (its H, W are free) */
    assert_true(check_dir(etest_path(""), models) >= 10 * 2 + 3);
}

/* The registry: the reference is not listed (it is what the others are
 * checked against), every listed backend has the calls the planner needs. */
static void test_registry(void **state)
{
    (void)state;
    int n;
    const backend_iface *const *bes = eng_backend_list(&n);
    assert_true(n >= 1);
    for (int i = 0; i < n; i++) {
        assert_ptr_not_equal(bes[i], &eng_backend_ref);
        assert_non_null(bes[i]->layouts);
        assert_non_null(bes[i]->make_kernel);
        assert_non_null(bes[i]->make_reorder);
    }
    assert_null(eng_backend_ref.layouts);
    assert_ptr_equal(eng_backend_get(GLINT_BACKEND_REF), &eng_backend_ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_op_cases),
        cmocka_unit_test(test_float_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
