/* Private declarations shared across the engine: the error helper, the
 * loader entry point, tensor helpers and the model struct. The graph IR is
 * in graph.h, the operator table in ops.h, plans in plan.h. Only
 * src/engine/ includes this. */
#ifndef GLINT_ENGINE_IMPL_H
#define GLINT_ENGINE_IMPL_H

#include "glint/engine.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define MAX_TENSOR_BYTES ((int64_t)1 << 31) /* 2 GiB: any planned tensor above is refused */

/* Sets the thread's error message; returns s so that callers can
 * `return eng_fail(GLINT_ERR_..., "fmt", ...)`. */
glint_status eng_fail(glint_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include "ops.h"

/* onnx_load.c: parse an ONNX ModelProto into g (zeroed by the caller).
 * base_dir resolves external data; NULL refuses it. On failure g is
 * disposed. */
glint_status eng_onnx_parse(const void *buf, size_t size, const char *base_dir, graph *g);

/* ---- tensor helpers (tensor.c) ---- */
int64_t eng_tensor_count(const glint_tensor *t);
int64_t eng_dims_count(const int64_t *dims, int ndim);
size_t eng_tensor_bytes(const glint_tensor *t);
/* multiplies with overflow check against MAX_TENSOR_BYTES; -1 on overflow */
int64_t eng_dims_count_checked(const int64_t *dims, int ndim);
/* numpy broadcast of a and b into out; false if incompatible */
bool eng_broadcast_shape(const glint_tensor *a, const glint_tensor *b, int *ndim, int64_t *dims);
/* Reads element i of an integer tensor (i32/i64/u8/bool...) as int64. */
int64_t eng_tensor_get_i(const glint_tensor *t, int64_t i);
double eng_tensor_get_f(const glint_tensor *t, int64_t i);
void eng_tensor_set_f(glint_tensor *t, int64_t i, double v);
void eng_tensor_set_i(glint_tensor *t, int64_t i, int64_t v);
const char *eng_dims_str(const int64_t *dims, int ndim, char *buf, size_t size);

/* ---- model ---- */
#define ENG_MODEL_CACHES 4 /* backends that keep a per-model cache */
struct glint_model {
    graph g;
    double flops; /* per image */
    /* per-backend caches shared by every plan and context (e.g. oneDNN's
     * reordered weights): see eng_backend_model_cache (backend.h) */
    pthread_mutex_t cache_lock;
    struct {
        const struct backend_iface *be; /* NULL: free slot */
        void *data;                     /* freed by be->model_cache_free */
    } caches[ENG_MODEL_CACHES];
    /* Constants let go by glint_model_trim (a backend's packed copy holds
     * them); a plan build restores them first. Plan builds hold the lock
     * for reading, trim and restore for writing. */
    pthread_rwlock_t weights_lock;
    bool *const_runtime; /* per graph value: a plan built so far reads it at run time */
    bool *released;      /* per graph value: its data freed by glint_model_trim */
    int n_released;
};

/* passes.c: batch-independent graph rewrites done once at load. */
glint_status eng_passes_run(glint_model *m);

#endif
