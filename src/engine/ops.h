/* The operator table: per operator its name, shape function, reference
 * kernel and input bounds, generated from the one list in ops_list.h, and
 * the context a shape function or kernel sees for one node. */
#ifndef GLINT_OPS_H
#define GLINT_OPS_H

#include "graph.h"

/* What a kernel or shape function sees for one node. Absent optional inputs
 * are NULL. During shape inference an input's data is non-NULL only when its
 * value is constant. */
typedef struct op_ctx {
    const node *n;
    int opset;
    int n_in, n_out;
    const glint_tensor *in[16];
    glint_tensor *out[8];
    const glint_tensor *sum; /* POST_SUM operand, or NULL */
    bool need_value;         /* set by a shape function that failed because an input's
                              * value is known only at run time (eng_need_const): the
                              * node's output shapes depend on data */
} op_ctx;

typedef glint_status (*op_fn)(op_ctx *c);

typedef struct op_def {
    const char *name;
    op_fn infer; /* fill out[i] dtype/ndim/dims */
    op_fn run;   /* reference kernel: compute out[i]->data */
    int min_in, max_in;
    bool view;       /* output is its input's bytes reinterpreted (Reshape...) */
    bool shape_only; /* output depends on input shapes only (Shape, Size) */
} op_def;

int eng_op_lookup(const char *name); /* -1 if unsupported */
const op_def *eng_op_get(int op);
int eng_op_count(void);
/* Applies post-ops [0,n) to y (count elements); sum is added where POST_SUM
 * appears (same layout and count as y). */
void eng_post_apply(float *y, int64_t count, const post_op *p, int n, const float *sum);

/* Declarations of every shape function and reference kernel of the list
 * (an entry shared by several operators is declared once per operator). */
#define OP_DECL(name, infer, run, lo, hi, flags)                                                   \
    glint_status eng_infer_##infer(op_ctx *c);                                                     \
    glint_status eng_run_##run(op_ctx *c);
ENG_OPS(OP_DECL)
#undef OP_DECL

#endif
