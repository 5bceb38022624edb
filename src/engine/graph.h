/* The graph IR: values, nodes with their attributes and fused post-ops, and
 * the graph that owns them. The ONNX parser (onnx_load.c) builds it, passes
 * (passes.c) rewrite it, plans (plan.c) read it. An operator is an op_id
 * from the one operator list (ops_list.h); no name is compared after load.
 * Nothing here knows ONNX's protobuf or any kernel. */
#ifndef GLINT_GRAPH_H
#define GLINT_GRAPH_H

#include "glint/engine.h"
#include "ops_list.h"

#include <stdbool.h>
#include <stdint.h>

#define MAXD GLINT_MAX_DIMS
#define MAX_POST 4 /* fused post-ops per node */

/* Every operator, in list order; OP_COUNT is their number. */
#define OP_ENUM_ENTRY(name, infer, run, lo, hi, flags) OP_##name,
typedef enum op_id { ENG_OPS(OP_ENUM_ENTRY) OP_COUNT } op_id;
#undef OP_ENUM_ENTRY

/* ---- attributes ---- */
typedef enum attr_type {
    ATTR_FLOAT = 1,
    ATTR_INT = 2,
    ATTR_STRING = 3,
    ATTR_TENSOR = 4,
    ATTR_GRAPH = 5,
    ATTR_FLOATS = 6,
    ATTR_INTS = 7,
    ATTR_STRINGS = 8,
} attr_type;

struct node;

/* A graph attribute (If's branches, Loop's body): its nodes in order, run by
 * the plan's interpreter of run-time shapes (plan.c). Its values live in the
 * enclosing graph's table (ONNX names are unique across scopes), so a node
 * inside reads an outer value by its id, and a plan holds every tensor. */
typedef struct subgraph {
    struct node *nodes;
    int n_nodes;
    int *inputs; /* formal inputs (Loop: iteration, condition, carried) */
    int n_inputs;
    int *outputs;
    int n_outputs;
} subgraph;

typedef struct attr {
    char *name;
    attr_type type;
    float f;
    int64_t i;
    char *s; /* ATTR_STRING, NUL-terminated */
    int n;   /* count of ints / floats */
    int64_t *ints;
    float *floats;
    glint_tensor t; /* ATTR_TENSOR; data owned by the graph */
    subgraph *sub;  /* ATTR_GRAPH; owned by the graph */
} attr;

/* ---- fused post-ops (applied in order to a node's output) ---- */
typedef enum post_kind {
    POST_NONE = 0,
    POST_RELU, /* alpha = negative slope (LeakyRelu) */
    POST_CLIP, /* alpha = min, beta = max */
    POST_SIGMOID,
    POST_SWISH,     /* x * sigmoid(x) */
    POST_HARDSWISH, /* x * hardsigmoid(x; alpha, beta) */
    POST_HARDSIGMOID,
    POST_TANH,
    POST_GELU, /* alpha = 0: erf form, 1: tanh approximation */
    POST_SUM,  /* += the node's extra input `sum_in` (residual Add) */
} post_kind;

typedef struct post_op {
    post_kind kind;
    float alpha, beta;
} post_op;

/* ---- graph ---- */
typedef struct value {
    char *name;
    glint_dtype dtype;
    int ndim;           /* -1: rank unknown */
    int64_t dims[MAXD]; /* -1: unknown (symbolic) */
    void *data;         /* initializer data (owned by the graph) or NULL */
    int producer;       /* node index, -1 for inputs / initializers */
    int n_uses;         /* number of node inputs that read it */
    bool is_output;
    bool captured; /* read by a node of a subgraph: passes leave it alone */
} value;

typedef struct node {
    char *name;
    op_id op; /* which operator (ops_list.h) */
    int n_in, n_out;
    int *in; /* value ids; -1 for an omitted optional input */
    int *out;
    int n_attrs;
    attr *attrs;
    /* set by fusion passes */
    int n_post;
    post_op post[MAX_POST];
    int sum_in; /* value added by POST_SUM, -1 if none */
    bool dead;  /* removed by a pass */
} node;

typedef struct graph {
    value *vals;
    int n_vals, cap_vals;
    node *nodes;
    int n_nodes;
    int *inputs; /* value ids of real (non-initializer) inputs */
    int n_inputs;
    int *outputs;
    int n_outputs;
    int opset;  /* default-domain opset version */
    int n_meta; /* ModelProto.metadata_props */
    char **meta_keys, **meta_vals;
} graph;

/* Frees everything g owns and zeroes it; g may be zeroed already. */
void eng_graph_dispose(graph *g);
/* Appends a value named `name` (copied); returns its id or -1 on OOM. The
 * vals array may move: pointers into it are invalid afterwards. */
int eng_graph_add_value(graph *g, const char *name);

/* Node attribute lookup helpers (return the default when absent). */
const attr *eng_node_attr(const node *n, const char *name);
int64_t eng_attr_i(const node *n, const char *name, int64_t def);
float eng_attr_f(const node *n, const char *name, float def);
const char *eng_attr_s(const node *n, const char *name, const char *def);
/* The graph attribute `name` of n, or NULL. */
const subgraph *eng_attr_graph(const node *n, const char *name);
/* ints attribute: returns count (0 if absent) and sets *v */
int eng_attr_ints(const node *n, const char *name, const int64_t **v);

#endif
