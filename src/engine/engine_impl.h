/* Private types of the engine: the graph IR built from ONNX, the operator
 * table, and the per-batch execution plan. Only src/engine/ includes this. */
#ifndef GLINT_ENGINE_IMPL_H
#define GLINT_ENGINE_IMPL_H

#include "glint/engine.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define MAXD GLINT_MAX_DIMS
#define MAX_POST 4           /* fused post-ops per node */
#define MAX_TENSOR_BYTES ((int64_t)1 << 31) /* 2 GiB: any planned tensor above is refused */

/* Sets the thread's error message; returns s so that callers can
 * `return eng_fail(GLINT_ERR_..., "fmt", ...)`. */
glint_status eng_fail(glint_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- attributes ---- */
typedef enum attr_type {
    ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_STRING = 3, ATTR_TENSOR = 4,
    ATTR_FLOATS = 6, ATTR_INTS = 7, ATTR_STRINGS = 8,
} attr_type;

typedef struct attr {
    char *name;
    attr_type type;
    float f;
    int64_t i;
    char *s;          /* ATTR_STRING, NUL-terminated */
    int n;            /* count of ints / floats */
    int64_t *ints;
    float *floats;
    glint_tensor t;   /* ATTR_TENSOR; data owned by the graph */
} attr;

/* ---- fused post-ops (applied in order to a node's output) ---- */
typedef enum post_kind {
    POST_NONE = 0,
    POST_RELU,       /* alpha = negative slope (LeakyRelu) */
    POST_CLIP,       /* alpha = min, beta = max */
    POST_SIGMOID,
    POST_SWISH,      /* x * sigmoid(x) */
    POST_HARDSWISH,  /* x * hardsigmoid(x; alpha, beta) */
    POST_HARDSIGMOID,
    POST_TANH,
    POST_SUM,        /* += the node's extra input `sum_in` (residual Add) */
} post_kind;

typedef struct post_op {
    post_kind kind;
    float alpha, beta;
} post_op;

/* ---- graph ---- */
typedef struct value {
    char *name;
    glint_dtype dtype;
    int ndim;              /* -1: rank unknown */
    int64_t dims[MAXD];    /* -1: unknown (symbolic) */
    void *data;            /* initializer data (owned by the graph) or NULL */
    int producer;          /* node index, -1 for inputs / initializers */
    int n_uses;            /* number of node inputs that read it */
    bool is_output;
} value;

typedef struct node {
    char *name;
    char *op_type;
    int op;                /* index into the op table */
    int n_in, n_out;
    int *in;               /* value ids; -1 for an omitted optional input */
    int *out;
    int n_attrs;
    attr *attrs;
    /* set by fusion passes */
    int n_post;
    post_op post[MAX_POST];
    int sum_in;            /* value added by POST_SUM, -1 if none */
    bool dead;             /* removed by a pass */
} node;

typedef struct graph {
    value *vals;
    int n_vals, cap_vals;
    node *nodes;
    int n_nodes;
    int *inputs;           /* value ids of real (non-initializer) inputs */
    int n_inputs;
    int *outputs;
    int n_outputs;
    int opset;             /* default-domain opset version */
    int n_meta;            /* ModelProto.metadata_props */
    char **meta_keys, **meta_vals;
} graph;

/* onnx_load.c: parse an ONNX ModelProto into g (zeroed by the caller).
 * base_dir resolves external data; NULL refuses it. */
glint_status onnx_parse(const void *buf, size_t size, const char *base_dir, graph *g);
void graph_dispose(graph *g);
int graph_add_value(graph *g, const char *name); /* returns id or -1 on OOM */

/* Node attribute lookup helpers (return the default when absent). */
const attr *node_attr(const node *n, const char *name);
int64_t attr_i(const node *n, const char *name, int64_t def);
float attr_f(const node *n, const char *name, float def);
const char *attr_s(const node *n, const char *name, const char *def);
/* ints attribute: returns count (0 if absent) and sets *v */
int attr_ints(const node *n, const char *name, const int64_t **v);

/* ---- operators ---- */
/* What a kernel or shape function sees for one node. Absent optional inputs
 * are NULL. During shape inference an input's data is non-NULL only when its
 * value is constant. */
typedef struct op_ctx {
    const node *n;
    int opset;
    int n_in, n_out;
    const glint_tensor *in[16];
    glint_tensor *out[8];
    const glint_tensor *sum;   /* POST_SUM operand, or NULL */
} op_ctx;

typedef glint_status (*op_fn)(op_ctx *c);

typedef struct op_def {
    const char *name;
    op_fn infer;   /* fill out[i] dtype/ndim/dims */
    op_fn run;     /* reference kernel: compute out[i]->data */
    int min_in, max_in;
    bool view;     /* output is its input's bytes reinterpreted (Reshape...) */
    bool shape_only; /* output depends on input shapes only (Shape, Size) */
} op_def;

int op_lookup(const char *name);      /* -1 if unsupported */
const op_def *op_get(int op);
int op_count(void);
/* Applies post-ops [0,n) to y (count elements); sum is added where POST_SUM
 * appears (same layout and count as y). */
void post_apply(float *y, int64_t count, const post_op *p, int n, const float *sum);

/* ---- tensor helpers (tensor.c) ---- */
int64_t tensor_count(const glint_tensor *t);
int64_t dims_count(const int64_t *dims, int ndim);
size_t tensor_bytes(const glint_tensor *t);
/* multiplies with overflow check against MAX_TENSOR_BYTES; -1 on overflow */
int64_t dims_count_checked(const int64_t *dims, int ndim);
/* numpy broadcast of a and b into out; false if incompatible */
bool broadcast_shape(const glint_tensor *a, const glint_tensor *b, int *ndim, int64_t *dims);
/* Reads element i of an integer tensor (i32/i64/u8/bool...) as int64. */
int64_t tensor_get_i(const glint_tensor *t, int64_t i);
double tensor_get_f(const glint_tensor *t, int64_t i);
void tensor_set_f(glint_tensor *t, int64_t i, double v);
void tensor_set_i(glint_tensor *t, int64_t i, int64_t v);
const char *dims_str(const int64_t *dims, int ndim, char *buf, size_t size);

/* ---- model ---- */
struct glint_model {
    graph g;
    double flops;          /* per image */
    /* weights reordered for a backend, shared by every context (dnnl.c) */
    pthread_mutex_t cache_lock;
    void *wcache;
    void (*wcache_free)(void *wcache);
};

/* passes.c: batch-independent graph rewrites done once at load. */
glint_status passes_run(glint_model *m);

#endif
