/* The operator table, generated from the one list (ops_list.h), and the
 * helpers every shape function shares. The kernels live by family:
 * ops_elementwise.c, ops_shape.c, ops_nn.c, ops_quant.c. The reference
 * kernels define the semantics every backend is checked against; they
 * allocate nothing. */
#include "ops_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

glint_status eng_op_fail(const op_ctx *c, glint_status s, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return eng_fail(s, "node '%s' (%s): %s", c->n->name, eng_op_get(c->n->op)->name, msg);
}

void eng_set_out(op_ctx *c, int i, glint_dtype t, int ndim, const int64_t *dims)
{
    glint_tensor *o = c->out[i];
    o->dtype = t;
    o->ndim = ndim;
    for (int k = 0; k < ndim; k++)
        o->dims[k] = dims[k];
}

int eng_norm_axis(int64_t axis, int rank)
{
    if (axis < 0) axis += rank;
    return axis < 0 || axis >= (rank ? rank : 1) ? -1 : (int)axis;
}

glint_status eng_need_const(op_ctx *c, int i, const char *what)
{
    if (i >= c->n_in || !c->in[i]) return OP_FAIL(c, GLINT_ERR_INVALID, "missing input '%s'", what);
    if (!c->in[i]->data) {
        c->need_value = true;
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED,
                       "input '%s' must be a constant (it is computed "
                       "at run time)",
                       what);
    }
    return GLINT_OK;
}

glint_status eng_need_f32(const op_ctx *c, int i)
{
    if (c->in[i]->dtype != GLINT_F32)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED,
                       "input %d has type %s; only float32 is "
                       "supported",
                       i, glint_dtype_name(c->in[i]->dtype));
    return GLINT_OK;
}

/* ---- the table ---- */
#define OP_ROW(name, infer, run, lo, hi, flags)                                                    \
    [OP_##name] = {#name,                                                                          \
                   eng_infer_##infer,                                                              \
                   eng_run_##run,                                                                  \
                   lo,                                                                             \
                   hi,                                                                             \
                   ((flags)&OPF_VIEW) != 0,                                                        \
                   ((flags)&OPF_SHAPE_ONLY) != 0},
static const op_def ops[OP_COUNT] = {ENG_OPS(OP_ROW)};
#undef OP_ROW

int eng_op_count(void)
{
    return OP_COUNT;
}

int eng_op_lookup(const char *name)
{
    for (int i = 0; i < OP_COUNT; i++)
        if (!strcmp(ops[i].name, name)) return i;
    return -1;
}

const op_def *eng_op_get(int op)
{
    return &ops[op];
}
