/* The operator table, with shape functions and plain C reference kernels for
 * element-wise, data-movement and shape operators (ops_nn.c holds the
 * neural-network ones). The reference kernels define the semantics the
 * oneDNN backend is checked against; they allocate nothing. */
#include "ops_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

glint_status op_fail(const op_ctx *c, glint_status s, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return eng_fail(s, "node '%s' (%s): %s", c->n->name, c->n->op_type, msg);
}

void set_out(op_ctx *c, int i, glint_dtype t, int ndim, const int64_t *dims)
{
    glint_tensor *o = c->out[i];
    o->dtype = t;
    o->ndim = ndim;
    for (int k = 0; k < ndim; k++)
        o->dims[k] = dims[k];
}

int norm_axis(int64_t axis, int rank)
{
    if (axis < 0) axis += rank;
    return axis < 0 || axis >= (rank ? rank : 1) ? -1 : (int)axis;
}

glint_status need_const(const op_ctx *c, int i, const char *what)
{
    if (i >= c->n_in || !c->in[i])
        return OP_FAIL(c, GLINT_ERR_INVALID, "missing input '%s'", what);
    if (!c->in[i]->data)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "input '%s' must be a constant (it is computed "
                       "at run time)", what);
    return GLINT_OK;
}

glint_status need_f32(const op_ctx *c, int i)
{
    if (c->in[i]->dtype != GLINT_F32)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "input %d has type %s; only float32 is "
                       "supported", i, glint_dtype_name(c->in[i]->dtype));
    return GLINT_OK;
}

static bool is_int_type(glint_dtype t)
{
    return t == GLINT_I64 || t == GLINT_I32 || t == GLINT_I8 || t == GLINT_U8 || t == GLINT_BOOL;
}

/* ---- fused post-ops ---- */
static inline float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

void post_apply(float *y, int64_t count, const post_op *p, int n, const float *sum)
{
    for (int k = 0; k < n; k++) {
        float a = p[k].alpha, b = p[k].beta;
        switch (p[k].kind) {
        case POST_RELU:
            for (int64_t i = 0; i < count; i++) y[i] = y[i] < 0 ? y[i] * a : y[i];
            break;
        case POST_CLIP:
            for (int64_t i = 0; i < count; i++) y[i] = y[i] < a ? a : y[i] > b ? b : y[i];
            break;
        case POST_SIGMOID:
            for (int64_t i = 0; i < count; i++) y[i] = sigmoidf(y[i]);
            break;
        case POST_SWISH:
            for (int64_t i = 0; i < count; i++) y[i] = y[i] * sigmoidf(y[i]);
            break;
        case POST_HARDSIGMOID:
        case POST_HARDSWISH:
            for (int64_t i = 0; i < count; i++) {
                float h = fmaxf(0.0f, fminf(1.0f, a * y[i] + b));
                y[i] = p[k].kind == POST_HARDSWISH ? y[i] * h : h;
            }
            break;
        case POST_TANH:
            for (int64_t i = 0; i < count; i++) y[i] = tanhf(y[i]);
            break;
        case POST_SUM:
            for (int64_t i = 0; i < count; i++) y[i] += sum[i];
            break;
        case POST_NONE: break;
        }
    }
}

/* ---- unary element-wise ---- */
static glint_status infer_same(op_ctx *c)
{
    set_out(c, 0, c->in[0]->dtype, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

typedef enum unary_kind {
    U_RELU, U_SIGMOID, U_TANH, U_EXP, U_SQRT, U_NEG, U_ABS, U_LOG, U_FLOOR, U_CEIL, U_RECIP,
    U_ERF, U_SOFTPLUS, U_HARDSIGMOID, U_HARDSWISH, U_LEAKY, U_ELU, U_ROUND, U_SIGN, U_NOT,
    U_SIN, U_COS, U_MISH, U_SELU, U_SOFTSIGN,
} unary_kind;

static unary_kind unary_of(const char *op)
{
    static const char *names[] = {"Relu", "Sigmoid", "Tanh", "Exp", "Sqrt", "Neg", "Abs", "Log",
                                  "Floor", "Ceil", "Reciprocal", "Erf", "Softplus",
                                  "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Round",
                                  "Sign", "Not", "Sin", "Cos", "Mish", "Selu", "Softsign"};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(op, names[i])) return (unary_kind)i;
    return U_RELU;
}

static double unary_apply(unary_kind k, double x, double a, double b)
{
    switch (k) {
    case U_RELU: return x > 0 ? x : 0;
    case U_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case U_TANH: return tanh(x);
    case U_EXP: return exp(x);
    case U_SQRT: return sqrt(x);
    case U_NEG: return -x;
    case U_ABS: return fabs(x);
    case U_LOG: return log(x);
    case U_FLOOR: return floor(x);
    case U_CEIL: return ceil(x);
    case U_RECIP: return 1.0 / x;
    case U_ERF: return erf(x);
    case U_SOFTPLUS: return x > 30 ? x : log1p(exp(x));
    case U_HARDSIGMOID: return fmax(0, fmin(1, a * x + b));
    case U_HARDSWISH: return x * fmax(0, fmin(1, x / 6.0 + 0.5));
    case U_LEAKY: return x >= 0 ? x : a * x;
    case U_ELU: return x >= 0 ? x : a * (exp(x) - 1);
    case U_ROUND: return nearbyint(x);
    case U_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case U_NOT: return x == 0;
    case U_SIN: return sin(x);
    case U_COS: return cos(x);
    case U_MISH: return x * tanh(x > 30 ? x : log1p(exp(x)));
    case U_SELU: return x > 0 ? b * x : b * (a * exp(x) - a);
    case U_SOFTSIGN: return x / (1 + fabs(x));
    }
    return x;
}

static glint_status infer_unary(op_ctx *c)
{
    unary_kind k = unary_of(c->n->op_type);
    glint_dtype t = c->in[0]->dtype;
    bool ok = t == GLINT_F32 || t == GLINT_F64 ||
              ((k == U_NEG || k == U_ABS || k == U_RELU || k == U_SIGN) &&
               (t == GLINT_I64 || t == GLINT_I32 || t == GLINT_I8)) ||
              (k == U_NOT && t == GLINT_BOOL);
    if (!ok)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "type %s is not supported", glint_dtype_name(t));
    return infer_same(c);
}

static glint_status run_unary(op_ctx *c)
{
    const node *n = c->n;
    unary_kind k = unary_of(n->op_type);
    double a = 0, b = 0;
    switch (k) {
    case U_HARDSIGMOID: a = attr_f(n, "alpha", 0.2f); b = attr_f(n, "beta", 0.5f); break;
    case U_LEAKY: a = attr_f(n, "alpha", 0.01f); break;
    case U_ELU: a = attr_f(n, "alpha", 1.0f); break;
    case U_SELU: a = attr_f(n, "alpha", 1.67326319217681884765625f);
        b = attr_f(n, "gamma", 1.05070102214813232421875f); break;
    default: break;
    }
    const glint_tensor *x = c->in[0];
    glint_tensor *y = c->out[0];
    int64_t count = tensor_count(x);
    if (x->dtype == GLINT_F32) {
        const float *xs = x->data;
        float *ys = y->data;
        if (k == U_RELU) {
            for (int64_t i = 0; i < count; i++) ys[i] = xs[i] > 0 ? xs[i] : 0;
        } else if (k == U_SIGMOID) {
            for (int64_t i = 0; i < count; i++) ys[i] = sigmoidf(xs[i]);
        } else {
            for (int64_t i = 0; i < count; i++) ys[i] = (float)unary_apply(k, xs[i], a, b);
        }
        return GLINT_OK;
    }
    for (int64_t i = 0; i < count; i++) {
        if (is_int_type(x->dtype))
            tensor_set_i(y, i, (int64_t)unary_apply(k, (double)tensor_get_i(x, i), a, b));
        else
            tensor_set_f(y, i, unary_apply(k, tensor_get_f(x, i), a, b));
    }
    return GLINT_OK;
}

/* Clip: min/max as attributes (opset < 11) or optional inputs. */
static glint_status infer_clip(op_ctx *c)
{
    if (c->in[0]->dtype != GLINT_F32 && c->in[0]->dtype != GLINT_F64 &&
        c->in[0]->dtype != GLINT_I64 && c->in[0]->dtype != GLINT_I32 &&
        c->in[0]->dtype != GLINT_I8 && c->in[0]->dtype != GLINT_U8)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "type %s", glint_dtype_name(c->in[0]->dtype));
    return infer_same(c);
}

static glint_status run_clip(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    double lo = -INFINITY, hi = INFINITY;
    if (c->opset < 11) {
        lo = attr_f(c->n, "min", -INFINITY);
        hi = attr_f(c->n, "max", INFINITY);
    } else {
        if (c->n_in > 1 && c->in[1] && tensor_count(c->in[1])) lo = tensor_get_f(c->in[1], 0);
        if (c->n_in > 2 && c->in[2] && tensor_count(c->in[2])) hi = tensor_get_f(c->in[2], 0);
    }
    int64_t count = tensor_count(x);
    if (x->dtype == GLINT_F32) {
        const float *xs = x->data;
        float *ys = c->out[0]->data, l = (float)lo, h = (float)hi;
        for (int64_t i = 0; i < count; i++) ys[i] = xs[i] < l ? l : xs[i] > h ? h : xs[i];
        return GLINT_OK;
    }
    for (int64_t i = 0; i < count; i++) {
        double v = tensor_get_f(x, i);
        tensor_set_f(c->out[0], i, v < lo ? lo : v > hi ? hi : v);
    }
    return GLINT_OK;
}

/* ---- broadcasting iteration ---- */
/* Strides of `t` laid over an output of rank ndim/dims (0 where broadcast). */
static void bcast_strides(const glint_tensor *t, int ndim, const int64_t *dims, int64_t *st)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        int it = i - (ndim - t->ndim);
        int64_t d = it >= 0 ? t->dims[it] : 1;
        st[i] = d == 1 && dims[i] != 1 ? 0 : s;
        s *= d;
    }
}

typedef struct bc_iter {
    int ndim;
    int64_t dims[MAXD], idx[MAXD];
    int64_t st[3][MAXD];
    int64_t off[3];
    int n;
} bc_iter;

static void bc_init(bc_iter *it, const glint_tensor *out, const glint_tensor **ins, int n)
{
    memset(it, 0, sizeof *it);
    it->ndim = out->ndim;
    it->n = n;
    memcpy(it->dims, out->dims, sizeof it->dims);
    for (int k = 0; k < n; k++)
        bcast_strides(ins[k], out->ndim, out->dims, it->st[k]);
}

static void bc_next(bc_iter *it)
{
    for (int d = it->ndim - 1; d >= 0; d--) {
        it->idx[d]++;
        for (int k = 0; k < it->n; k++) it->off[k] += it->st[k][d];
        if (it->idx[d] < it->dims[d]) return;
        for (int k = 0; k < it->n; k++) it->off[k] -= it->st[k][d] * it->dims[d];
        it->idx[d] = 0;
    }
}

/* ---- binary element-wise ---- */
typedef enum bin_kind {
    B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MIN, B_MAX, B_EQ, B_LT, B_GT, B_LE, B_GE, B_AND, B_OR,
    B_XOR, B_MOD, B_SUM, B_MEAN,
} bin_kind;

static bin_kind bin_of(const char *op)
{
    static const char *names[] = {"Add", "Sub", "Mul", "Div", "Pow", "Min", "Max", "Equal",
                                  "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And",
                                  "Or", "Xor", "Mod", "Sum", "Mean"};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(op, names[i])) return (bin_kind)i;
    return B_ADD;
}

static bool bin_is_compare(bin_kind k)
{
    return k >= B_EQ && k <= B_XOR;
}

static glint_status infer_binary(op_ctx *c)
{
    bin_kind k = bin_of(c->n->op_type);
    glint_tensor acc = *c->in[0];
    for (int i = 1; i < c->n_in; i++) {
        if (!c->in[i]) return OP_FAIL(c, GLINT_ERR_INVALID, "missing input %d", i);
        if (c->in[i]->dtype != c->in[0]->dtype && k != B_POW)
            return OP_FAIL(c, GLINT_ERR_INVALID, "input types %s and %s differ",
                           glint_dtype_name(c->in[0]->dtype), glint_dtype_name(c->in[i]->dtype));
        int nd;
        int64_t dims[MAXD];
        if (!broadcast_shape(&acc, c->in[i], &nd, dims)) {
            char a[96], b[96];
            return OP_FAIL(c, GLINT_ERR_SHAPE, "shapes %s and %s do not broadcast",
                           dims_str(acc.dims, acc.ndim, a, sizeof a),
                           dims_str(c->in[i]->dims, c->in[i]->ndim, b, sizeof b));
        }
        acc.ndim = nd;
        memcpy(acc.dims, dims, sizeof dims);
    }
    glint_dtype t = c->in[0]->dtype;
    if (t != GLINT_F32 && t != GLINT_F64 && !is_int_type(t))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "type %s", glint_dtype_name(t));
    if (k == B_POW && !(c->in[1]->dtype == GLINT_F32 || c->in[1]->dtype == GLINT_F64 ||
                        is_int_type(c->in[1]->dtype)))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "exponent type");
    set_out(c, 0, bin_is_compare(k) ? GLINT_BOOL : t, acc.ndim, acc.dims);
    return GLINT_OK;
}

static inline float bin_f32(bin_kind k, float a, float b)
{
    switch (k) {
    case B_ADD: case B_SUM: case B_MEAN: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return powf(a, b);
    case B_MIN: return a < b || isnan(a) ? a : b;
    case B_MAX: return a > b || isnan(a) ? a : b;
    case B_MOD: return fmodf(a, b);
    default: return 0;
    }
}

static double bin_f64(bin_kind k, double a, double b, bool fmod_mode)
{
    switch (k) {
    case B_ADD: case B_SUM: case B_MEAN: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return pow(a, b);
    case B_MIN: return a < b ? a : b;
    case B_MAX: return a > b ? a : b;
    case B_EQ: return a == b;
    case B_LT: return a < b;
    case B_GT: return a > b;
    case B_LE: return a <= b;
    case B_GE: return a >= b;
    case B_AND: return a != 0 && b != 0;
    case B_OR: return a != 0 || b != 0;
    case B_XOR: return (a != 0) != (b != 0);
    case B_MOD: {
        if (fmod_mode) return fmod(a, b);
        double r = fmod(a, b);
        return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
    }
    }
    return 0;
}

static int64_t bin_i64(bin_kind k, int64_t a, int64_t b, bool fmod_mode)
{
    switch (k) {
    case B_ADD: case B_SUM: case B_MEAN: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return b ? a / b : 0;
    case B_POW: { int64_t r = 1; for (int64_t i = 0; i < b && i < 64; i++) r *= a; return r; }
    case B_MIN: return a < b ? a : b;
    case B_MAX: return a > b ? a : b;
    case B_EQ: return a == b;
    case B_LT: return a < b;
    case B_GT: return a > b;
    case B_LE: return a <= b;
    case B_GE: return a >= b;
    case B_AND: return a && b;
    case B_OR: return a || b;
    case B_XOR: return !a != !b;
    case B_MOD: {
        if (!b) return 0;
        int64_t r = a % b;
        return !fmod_mode && r && ((r < 0) != (b < 0)) ? r + b : r;
    }
    }
    return 0;
}

/* out = a (op) b with broadcasting; a and out may alias when shapes match. */
static void binary_pair(bin_kind k, bool fmod_mode, const glint_tensor *a, const glint_tensor *b,
                        glint_tensor *out)
{
    int64_t count = tensor_count(out);
    const glint_tensor *ins[2] = {a, b};
    bool f32 = a->dtype == GLINT_F32 && b->dtype == GLINT_F32 && out->dtype == GLINT_F32 &&
               k != B_MOD;
    if (f32 && tensor_count(a) == count && tensor_count(b) == count) {
        const float *x = a->data, *y = b->data;
        float *o = out->data;
        switch (k) {
        case B_ADD: case B_SUM: case B_MEAN: for (int64_t i = 0; i < count; i++) o[i] = x[i] + y[i]; break;
        case B_MUL: for (int64_t i = 0; i < count; i++) o[i] = x[i] * y[i]; break;
        default: for (int64_t i = 0; i < count; i++) o[i] = bin_f32(k, x[i], y[i]); break;
        }
        return;
    }
    if (f32 && tensor_count(b) == 1) {
        const float *x = a->data;
        float y = *(const float *)b->data, *o = out->data;
        for (int64_t i = 0; i < count; i++) o[i] = bin_f32(k, x[i], y);
        return;
    }
    bc_iter it;
    bc_init(&it, out, ins, 2);
    bool ints = is_int_type(a->dtype) && is_int_type(b->dtype);
    for (int64_t i = 0; i < count; i++, bc_next(&it)) {
        if (f32)
            ((float *)out->data)[i] = bin_f32(k, ((const float *)a->data)[it.off[0]],
                                              ((const float *)b->data)[it.off[1]]);
        else if (ints)
            tensor_set_i(out, i, bin_i64(k, tensor_get_i(a, it.off[0]), tensor_get_i(b, it.off[1]),
                                            fmod_mode));
        else
            tensor_set_f(out, i, bin_f64(k, tensor_get_f(a, it.off[0]), tensor_get_f(b, it.off[1]),
                                         fmod_mode));
    }
}

static glint_status run_binary(op_ctx *c)
{
    bin_kind k = bin_of(c->n->op_type);
    bool fmod_mode = attr_i(c->n, "fmod", 0) != 0;
    glint_tensor *out = c->out[0];
    if (c->n_in == 1) {
        memcpy(out->data, c->in[0]->data, tensor_bytes(out));
        return GLINT_OK;
    }
    if (c->n_in == 2) {
        binary_pair(k, fmod_mode, c->in[0], c->in[1], out);
        return GLINT_OK;
    }
    /* variadic Sum/Mean/Min/Max: fold left; out has the full broadcast shape, so
     * after the first pair every step reads out (same shape) and in[i] */
    binary_pair(k, fmod_mode, c->in[0], c->in[1], out);
    for (int i = 2; i < c->n_in; i++)
        binary_pair(k, fmod_mode, out, c->in[i], out);
    if (k == B_MEAN) {
        int64_t count = tensor_count(out);
        for (int64_t i = 0; i < count; i++)
            tensor_set_f(out, i, tensor_get_f(out, i) / c->n_in);
    }
    return GLINT_OK;
}

static glint_status run_mean2(op_ctx *c)
{
    glint_status s = run_binary(c);
    if (!s && c->n_in == 2 && bin_of(c->n->op_type) == B_MEAN) {
        int64_t count = tensor_count(c->out[0]);
        for (int64_t i = 0; i < count; i++)
            tensor_set_f(c->out[0], i, tensor_get_f(c->out[0], i) / 2);
    }
    return s;
}

/* Where(cond, x, y) */
static glint_status infer_where(op_ctx *c)
{
    int nd;
    int64_t dims[MAXD];
    glint_tensor t;
    if (!broadcast_shape(c->in[0], c->in[1], &nd, dims))
        return OP_FAIL(c, GLINT_ERR_SHAPE, "shapes do not broadcast");
    t.ndim = nd;
    memcpy(t.dims, dims, sizeof dims);
    if (!broadcast_shape(&t, c->in[2], &nd, dims))
        return OP_FAIL(c, GLINT_ERR_SHAPE, "shapes do not broadcast");
    if (c->in[1]->dtype != c->in[2]->dtype)
        return OP_FAIL(c, GLINT_ERR_INVALID, "x and y types differ");
    set_out(c, 0, c->in[1]->dtype, nd, dims);
    return GLINT_OK;
}

static glint_status run_where(op_ctx *c)
{
    bc_iter it;
    const glint_tensor *ins[3] = {c->in[0], c->in[1], c->in[2]};
    bc_init(&it, c->out[0], ins, 3);
    int64_t count = tensor_count(c->out[0]);
    size_t es = glint_dtype_size(c->out[0]->dtype);
    char *o = c->out[0]->data;
    for (int64_t i = 0; i < count; i++, bc_next(&it)) {
        bool cond = tensor_get_i(c->in[0], it.off[0]) != 0;
        const char *src = cond ? (const char *)c->in[1]->data + it.off[1] * es
                               : (const char *)c->in[2]->data + it.off[2] * es;
        memcpy(o + i * es, src, es);
    }
    return GLINT_OK;
}

/* ---- Cast ---- */
static glint_status infer_cast(op_ctx *c)
{
    int64_t to = attr_i(c->n, "to", 0);
    glint_dtype t = (glint_dtype)to;
    if (!glint_dtype_size(t) || !glint_dtype_size(c->in[0]->dtype))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "cast from %s to type %lld",
                       glint_dtype_name(c->in[0]->dtype), (long long)to);
    set_out(c, 0, t, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

static glint_status run_cast(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    glint_tensor *y = c->out[0];
    int64_t count = tensor_count(x);
    for (int64_t i = 0; i < count; i++) {
        if (is_int_type(x->dtype))
            tensor_set_i(y, i, tensor_get_i(x, i));
        else /* saturating; NaN becomes 0 */
            tensor_set_f(y, i, tensor_get_f(x, i));
    }
    return GLINT_OK;
}

/* ---- views: Identity, Dropout, Reshape, Flatten, Squeeze, Unsqueeze ---- */
static glint_status run_copy(op_ctx *c)
{
    if (c->out[0]->data != c->in[0]->data)
        memcpy(c->out[0]->data, c->in[0]->data, tensor_bytes(c->in[0]));
    return GLINT_OK;
}

static glint_status infer_dropout(op_ctx *c)
{
    if (c->n_out > 1)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "the mask output is not supported");
    if (c->n_in > 2 && c->in[2] && (!c->in[2]->data || tensor_get_i(c->in[2], 0)))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "training mode is not supported");
    return infer_same(c);
}

static glint_status infer_reshape(op_ctx *c)
{
    glint_status s = need_const(c, 1, "shape");
    if (s) return s;
    const glint_tensor *x = c->in[0], *sh = c->in[1];
    int64_t n = tensor_count(sh);
    if (sh->ndim != 1 || n > MAXD)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "shape must be 1-D of at most %d values", MAXD);
    bool allowzero = attr_i(c->n, "allowzero", 0) != 0;
    int64_t dims[MAXD], known = 1;
    int infer_at = -1;
    for (int i = 0; i < n; i++) {
        dims[i] = tensor_get_i(sh, i);
        if (dims[i] == 0 && !allowzero) {
            if (i >= x->ndim) return OP_FAIL(c, GLINT_ERR_SHAPE, "0 in shape past input rank");
            dims[i] = x->dims[i];
        }
        if (dims[i] == -1) {
            if (infer_at >= 0) return OP_FAIL(c, GLINT_ERR_SHAPE, "two -1 in shape");
            infer_at = i;
        } else if (dims[i] < 0) {
            return OP_FAIL(c, GLINT_ERR_SHAPE, "negative dimension in shape");
        } else {
            if (dims[i] && known > MAX_TENSOR_BYTES / dims[i])
                return OP_FAIL(c, GLINT_ERR_SHAPE, "shape too large");
            known *= dims[i];
        }
    }
    int64_t total = tensor_count(x);
    if (infer_at >= 0) {
        if (known == 0 || total % known)
            return OP_FAIL(c, GLINT_ERR_SHAPE, "cannot infer -1 for %lld elements",
                           (long long)total);
        dims[infer_at] = total / known;
    } else if (known != total) {
        char a[96], b[96];
        return OP_FAIL(c, GLINT_ERR_SHAPE, "cannot reshape %s to %s",
                       dims_str(x->dims, x->ndim, a, sizeof a), dims_str(dims, (int)n, b, sizeof b));
    }
    set_out(c, 0, x->dtype, (int)n, dims);
    return GLINT_OK;
}

static glint_status infer_flatten(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int64_t axis = attr_i(c->n, "axis", 1);
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis > x->ndim) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
    int64_t dims[2] = {dims_count(x->dims, (int)axis),
                       dims_count(x->dims + axis, x->ndim - (int)axis)};
    set_out(c, 0, x->dtype, 2, dims);
    return GLINT_OK;
}

/* Axes from the attribute (old opsets) or the second input (opset >= 13). */
static glint_status get_axes(op_ctx *c, int input, int64_t *axes, int *n)
{
    *n = 0;
    if (c->n_in > input && c->in[input]) {
        glint_status s = need_const(c, input, "axes");
        if (s) return s;
        int64_t cnt = tensor_count(c->in[input]);
        if (cnt > MAXD) return OP_FAIL(c, GLINT_ERR_INVALID, "too many axes");
        for (int i = 0; i < cnt; i++) axes[i] = tensor_get_i(c->in[input], i);
        *n = (int)cnt;
        return GLINT_OK;
    }
    const int64_t *v;
    int cnt = attr_ints(c->n, "axes", &v);
    if (cnt > MAXD) return OP_FAIL(c, GLINT_ERR_INVALID, "too many axes");
    for (int i = 0; i < cnt; i++) axes[i] = v[i];
    *n = cnt;
    return GLINT_OK;
}

static glint_status infer_squeeze(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int64_t axes[MAXD];
    int na;
    glint_status s = get_axes(c, 1, axes, &na);
    if (s) return s;
    bool drop[MAXD] = {0};
    for (int i = 0; i < na; i++) {
        int a = norm_axis(axes[i], x->ndim);
        if (a < 0 || x->dims[a] != 1)
            return OP_FAIL(c, GLINT_ERR_SHAPE, "axis %lld is not of size 1", (long long)axes[i]);
        drop[a] = true;
    }
    int64_t dims[MAXD];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!(na ? drop[i] : x->dims[i] == 1)) dims[nd++] = x->dims[i];
    set_out(c, 0, x->dtype, nd, dims);
    return GLINT_OK;
}

static glint_status infer_unsqueeze(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int64_t axes[MAXD];
    int na;
    glint_status s = get_axes(c, 1, axes, &na);
    if (s) return s;
    int rank = x->ndim + na;
    if (rank > MAXD) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "rank above %d", MAXD);
    bool ins[MAXD] = {0};
    for (int i = 0; i < na; i++) {
        int a = norm_axis(axes[i], rank);
        if (a < 0 || ins[a]) return OP_FAIL(c, GLINT_ERR_INVALID, "bad or repeated axis");
        ins[a] = true;
    }
    int64_t dims[MAXD];
    for (int i = 0, k = 0; i < rank; i++)
        dims[i] = ins[i] ? 1 : x->dims[k++];
    set_out(c, 0, x->dtype, rank, dims);
    return GLINT_OK;
}

/* ---- Shape, Size, Constant, ConstantOfShape, Range ---- */
static glint_status infer_shape(op_ctx *c)
{
    int r = c->in[0]->ndim;
    int64_t start = attr_i(c->n, "start", 0), end = attr_i(c->n, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    set_out(c, 0, GLINT_I64, 1, &n);
    return GLINT_OK;
}

static glint_status run_shape(op_ctx *c)
{
    int r = c->in[0]->ndim;
    int64_t start = attr_i(c->n, "start", 0);
    if (start < 0) start += r;
    start = start < 0 ? 0 : start > r ? r : start;
    int64_t n = c->out[0]->dims[0];
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)c->out[0]->data)[i] = c->in[0]->dims[start + i];
    return GLINT_OK;
}

static glint_status infer_size(op_ctx *c)
{
    set_out(c, 0, GLINT_I64, 0, NULL);
    return GLINT_OK;
}

static glint_status run_size(op_ctx *c)
{
    *(int64_t *)c->out[0]->data = tensor_count(c->in[0]);
    return GLINT_OK;
}

static glint_status infer_constant(op_ctx *c)
{
    const node *n = c->n;
    const attr *a = node_attr(n, "value");
    if (a && a->type == ATTR_TENSOR) {
        set_out(c, 0, a->t.dtype, a->t.ndim, a->t.dims);
        return GLINT_OK;
    }
    if ((a = node_attr(n, "value_float"))) { set_out(c, 0, GLINT_F32, 0, NULL); return GLINT_OK; }
    if ((a = node_attr(n, "value_int"))) { set_out(c, 0, GLINT_I64, 0, NULL); return GLINT_OK; }
    if ((a = node_attr(n, "value_floats")) || (a = node_attr(n, "value_ints"))) {
        int64_t d = a->n;
        set_out(c, 0, a->type == ATTR_FLOATS ? GLINT_F32 : GLINT_I64, 1, &d);
        return GLINT_OK;
    }
    return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "only value/value_float(s)/value_int(s) constants");
}

static glint_status run_constant(op_ctx *c)
{
    const node *n = c->n;
    const attr *a = node_attr(n, "value");
    void *dst = c->out[0]->data;
    if (a && a->type == ATTR_TENSOR) memcpy(dst, a->t.data, tensor_bytes(&a->t));
    else if ((a = node_attr(n, "value_float"))) *(float *)dst = a->f;
    else if ((a = node_attr(n, "value_int"))) *(int64_t *)dst = a->i;
    else if ((a = node_attr(n, "value_floats"))) memcpy(dst, a->floats, (size_t)a->n * 4);
    else if ((a = node_attr(n, "value_ints"))) memcpy(dst, a->ints, (size_t)a->n * 8);
    return GLINT_OK;
}

static glint_status infer_constant_of_shape(op_ctx *c)
{
    glint_status s = need_const(c, 0, "shape");
    if (s) return s;
    int64_t n = tensor_count(c->in[0]);
    if (n > MAXD) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "rank above %d", MAXD);
    int64_t dims[MAXD];
    for (int i = 0; i < n; i++) {
        dims[i] = tensor_get_i(c->in[0], i);
        if (dims[i] < 0) return OP_FAIL(c, GLINT_ERR_SHAPE, "negative dimension");
    }
    if (dims_count_checked(dims, (int)n) < 0) return OP_FAIL(c, GLINT_ERR_NOMEM, "too large");
    const attr *a = node_attr(c->n, "value");
    set_out(c, 0, a && a->type == ATTR_TENSOR ? a->t.dtype : GLINT_F32, (int)n, dims);
    return GLINT_OK;
}

static glint_status run_constant_of_shape(op_ctx *c)
{
    const attr *a = node_attr(c->n, "value");
    size_t es = glint_dtype_size(c->out[0]->dtype);
    int64_t count = tensor_count(c->out[0]);
    char zero[8] = {0};
    const void *v = a && a->type == ATTR_TENSOR && tensor_count(&a->t) ? a->t.data : zero;
    for (int64_t i = 0; i < count; i++)
        memcpy((char *)c->out[0]->data + i * es, v, es);
    return GLINT_OK;
}

static glint_status infer_range(op_ctx *c)
{
    for (int i = 0; i < 3; i++) {
        glint_status s = need_const(c, i, "start/limit/delta");
        if (s) return s;
    }
    double start = tensor_get_f(c->in[0], 0), limit = tensor_get_f(c->in[1], 0),
           delta = tensor_get_f(c->in[2], 0);
    if (delta == 0) return OP_FAIL(c, GLINT_ERR_INVALID, "delta is 0");
    double n = ceil((limit - start) / delta);
    int64_t cnt = n > 0 ? (int64_t)n : 0;
    if (cnt > (1 << 28)) return OP_FAIL(c, GLINT_ERR_NOMEM, "range too long");
    set_out(c, 0, c->in[0]->dtype, 1, &cnt);
    return GLINT_OK;
}

static glint_status run_range(op_ctx *c)
{
    int64_t n = c->out[0]->dims[0];
    for (int64_t i = 0; i < n; i++) {
        if (is_int_type(c->in[0]->dtype))
            tensor_set_i(c->out[0], i, tensor_get_i(c->in[0], 0) + i * tensor_get_i(c->in[2], 0));
        else
            tensor_set_f(c->out[0], i, tensor_get_f(c->in[0], 0) + (double)i * tensor_get_f(c->in[2], 0));
    }
    return GLINT_OK;
}

/* ---- Transpose ---- */
static glint_status get_perm(const op_ctx *c, int *perm)
{
    const glint_tensor *x = c->in[0];
    const int64_t *p;
    int np = attr_ints(c->n, "perm", &p);
    if (np == 0) {
        for (int i = 0; i < x->ndim; i++) perm[i] = x->ndim - 1 - i;
        return GLINT_OK;
    }
    if (np != x->ndim) return OP_FAIL(c, GLINT_ERR_INVALID, "perm has %d entries, rank %d", np,
                                      x->ndim);
    bool seen[MAXD] = {0};
    for (int i = 0; i < np; i++) {
        if (p[i] < 0 || p[i] >= np || seen[p[i]])
            return OP_FAIL(c, GLINT_ERR_INVALID, "perm is not a permutation");
        seen[p[i]] = true;
        perm[i] = (int)p[i];
    }
    return GLINT_OK;
}

static glint_status infer_transpose(op_ctx *c)
{
    int perm[MAXD];
    glint_status s = get_perm(c, perm);
    if (s) return s;
    int64_t dims[MAXD];
    for (int i = 0; i < c->in[0]->ndim; i++) dims[i] = c->in[0]->dims[perm[i]];
    set_out(c, 0, c->in[0]->dtype, c->in[0]->ndim, dims);
    return GLINT_OK;
}

/* Generic strided copy: out[idx] = in[sum idx[d]*st[d]] over out's dims. */
static void strided_copy(const char *src, const int64_t *st, char *dst, const int64_t *dims,
                         int nd, size_t es)
{
    int64_t count = dims_count(dims, nd), idx[MAXD] = {0}, off = 0;
    if (nd == 0) { memcpy(dst, src, es); return; }
    int64_t inner = dims[nd - 1], ist = st[nd - 1];
    for (int64_t i = 0; i < count; i += inner) {
        if (es == 4) {
            const float *s4 = (const float *)src + off;
            float *d4 = (float *)dst + i;
            for (int64_t k = 0; k < inner; k++) d4[k] = s4[k * ist];
        } else {
            for (int64_t k = 0; k < inner; k++)
                memcpy(dst + (i + k) * es, src + (off + k * ist) * es, es);
        }
        for (int d = nd - 2; d >= 0; d--) {
            idx[d]++;
            off += st[d];
            if (idx[d] < dims[d]) break;
            off -= st[d] * dims[d];
            idx[d] = 0;
        }
    }
}

static void row_strides(const int64_t *dims, int nd, int64_t *st)
{
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) { st[i] = s; s *= dims[i]; }
}

static glint_status run_transpose(op_ctx *c)
{
    int perm[MAXD];
    get_perm(c, perm);
    const glint_tensor *x = c->in[0];
    int64_t xst[MAXD], st[MAXD];
    row_strides(x->dims, x->ndim, xst);
    for (int i = 0; i < x->ndim; i++) st[i] = xst[perm[i]];
    strided_copy(x->data, st, c->out[0]->data, c->out[0]->dims, x->ndim,
                 glint_dtype_size(x->dtype));
    return GLINT_OK;
}

/* ---- Concat ---- */
static glint_status infer_concat(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int axis = norm_axis(attr_i(c->n, "axis", 0), x->ndim);
    if (axis < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
    int64_t dims[MAXD];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = 0;
    for (int i = 0; i < c->n_in; i++) {
        const glint_tensor *t = c->in[i];
        if (!t || t->ndim != x->ndim || t->dtype != x->dtype)
            return OP_FAIL(c, GLINT_ERR_SHAPE, "input %d has another rank or type", i);
        for (int d = 0; d < x->ndim; d++)
            if (d != axis && t->dims[d] != x->dims[d])
                return OP_FAIL(c, GLINT_ERR_SHAPE, "input %d differs on axis %d", i, d);
        dims[axis] += t->dims[axis];
    }
    set_out(c, 0, x->dtype, x->ndim, dims);
    return GLINT_OK;
}

static glint_status run_concat(op_ctx *c)
{
    const glint_tensor *o = c->out[0];
    int axis = norm_axis(attr_i(c->n, "axis", 0), o->ndim);
    size_t es = glint_dtype_size(o->dtype);
    int64_t outer = dims_count(o->dims, axis);
    int64_t inner = dims_count(o->dims + axis + 1, o->ndim - axis - 1) * (int64_t)es;
    int64_t orow = o->dims[axis] * inner, at = 0;
    for (int i = 0; i < c->n_in; i++) {
        int64_t row = c->in[i]->dims[axis] * inner;
        for (int64_t k = 0; k < outer; k++)
            memcpy((char *)o->data + k * orow + at, (const char *)c->in[i]->data + k * row,
                   (size_t)row);
        at += row;
    }
    return GLINT_OK;
}

/* ---- Split ---- */
static glint_status split_sizes(op_ctx *c, int64_t *sz)
{
    const glint_tensor *x = c->in[0];
    int axis = norm_axis(attr_i(c->n, "axis", 0), x->ndim);
    if (axis < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
    int64_t total = x->dims[axis], sum = 0;
    if (c->n_in > 1 && c->in[1]) {
        glint_status s = need_const(c, 1, "split");
        if (s) return s;
        if (tensor_count(c->in[1]) != c->n_out)
            return OP_FAIL(c, GLINT_ERR_INVALID, "split has %lld entries for %d outputs",
                           (long long)tensor_count(c->in[1]), c->n_out);
        for (int i = 0; i < c->n_out; i++) sz[i] = tensor_get_i(c->in[1], i);
    } else {
        const int64_t *v;
        int n = attr_ints(c->n, "split", &v);
        if (n && n != c->n_out) return OP_FAIL(c, GLINT_ERR_INVALID, "split/outputs mismatch");
        for (int i = 0; i < c->n_out; i++) {
            int64_t even = (total + c->n_out - 1) / c->n_out;
            sz[i] = n ? v[i] : (i < c->n_out - 1 ? even : total - even * (c->n_out - 1));
        }
    }
    for (int i = 0; i < c->n_out; i++) {
        if (sz[i] < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "negative split");
        sum += sz[i];
    }
    if (sum != total) return OP_FAIL(c, GLINT_ERR_SHAPE, "splits sum to %lld, axis has %lld",
                                     (long long)sum, (long long)total);
    return GLINT_OK;
}

static glint_status infer_split(op_ctx *c)
{
    int64_t sz[8];
    glint_status s = split_sizes(c, sz);
    if (s) return s;
    int axis = norm_axis(attr_i(c->n, "axis", 0), c->in[0]->ndim);
    for (int i = 0; i < c->n_out; i++) {
        int64_t dims[MAXD];
        memcpy(dims, c->in[0]->dims, sizeof dims);
        dims[axis] = sz[i];
        set_out(c, i, c->in[0]->dtype, c->in[0]->ndim, dims);
    }
    return GLINT_OK;
}

static glint_status run_split(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int axis = norm_axis(attr_i(c->n, "axis", 0), x->ndim);
    size_t es = glint_dtype_size(x->dtype);
    int64_t outer = dims_count(x->dims, axis);
    int64_t inner = dims_count(x->dims + axis + 1, x->ndim - axis - 1) * (int64_t)es;
    int64_t xrow = x->dims[axis] * inner, at = 0;
    for (int i = 0; i < c->n_out; i++) {
        int64_t row = c->out[i]->dims[axis] * inner;
        for (int64_t k = 0; k < outer; k++)
            memcpy((char *)c->out[i]->data + k * row, (const char *)x->data + k * xrow + at,
                   (size_t)row);
        at += row;
    }
    return GLINT_OK;
}

/* ---- Slice ---- */
typedef struct slice_plan {
    int64_t start[MAXD], step[MAXD], len[MAXD];
} slice_plan;

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static glint_status slice_resolve(op_ctx *c, slice_plan *p)
{
    const glint_tensor *x = c->in[0];
    int64_t st[MAXD], en[MAXD], ax[MAXD], sp[MAXD];
    int n = 0;
    if (c->opset < 10) {
        const int64_t *s, *e, *a;
        n = attr_ints(c->n, "starts", &s);
        if (attr_ints(c->n, "ends", &e) != n || n > MAXD)
            return OP_FAIL(c, GLINT_ERR_INVALID, "starts/ends differ in length");
        int na = attr_ints(c->n, "axes", &a);
        for (int i = 0; i < n; i++) {
            st[i] = s[i]; en[i] = e[i]; ax[i] = na ? a[i] : i; sp[i] = 1;
        }
    } else {
        glint_status s;
        if ((s = need_const(c, 1, "starts")) || (s = need_const(c, 2, "ends"))) return s;
        n = (int)tensor_count(c->in[1]);
        if (n > MAXD || tensor_count(c->in[2]) != n)
            return OP_FAIL(c, GLINT_ERR_INVALID, "starts/ends differ in length");
        bool has_axes = c->n_in > 3 && c->in[3], has_steps = c->n_in > 4 && c->in[4];
        if (has_axes && ((s = need_const(c, 3, "axes")))) return s;
        if (has_steps && ((s = need_const(c, 4, "steps")))) return s;
        for (int i = 0; i < n; i++) {
            st[i] = tensor_get_i(c->in[1], i);
            en[i] = tensor_get_i(c->in[2], i);
            ax[i] = has_axes ? tensor_get_i(c->in[3], i) : i;
            sp[i] = has_steps ? tensor_get_i(c->in[4], i) : 1;
        }
    }
    for (int d = 0; d < x->ndim; d++) {
        p->start[d] = 0; p->step[d] = 1; p->len[d] = x->dims[d];
    }
    for (int i = 0; i < n; i++) {
        int a = norm_axis(ax[i], x->ndim);
        if (a < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis %lld", (long long)ax[i]);
        if (sp[i] == 0) return OP_FAIL(c, GLINT_ERR_INVALID, "step 0");
        int64_t dim = x->dims[a], s = st[i], e = en[i];
        /* a step longer than the axis takes at most one element either way */
        if (sp[i] > dim) sp[i] = dim > 0 ? dim : 1;
        if (sp[i] < -dim) sp[i] = dim > 0 ? -dim : -1;
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        if (sp[i] > 0) {
            s = clamp64(s, 0, dim);
            e = clamp64(e, 0, dim);
        } else {
            s = clamp64(s, 0, dim - 1);
            e = clamp64(e, -1, dim - 1);
        }
        int64_t len = sp[i] > 0 ? (e - s + sp[i] - 1) / sp[i] : (s - e + (-sp[i]) - 1) / (-sp[i]);
        p->start[a] = s;
        p->step[a] = sp[i];
        p->len[a] = len > 0 ? len : 0;
    }
    return GLINT_OK;
}

static glint_status infer_slice(op_ctx *c)
{
    slice_plan p;
    glint_status s = slice_resolve(c, &p);
    if (s) return s;
    set_out(c, 0, c->in[0]->dtype, c->in[0]->ndim, p.len);
    return GLINT_OK;
}

static glint_status run_slice(op_ctx *c)
{
    slice_plan p;
    glint_status s = slice_resolve(c, &p);
    if (s) return s;
    const glint_tensor *x = c->in[0];
    if (tensor_count(c->out[0]) == 0) return GLINT_OK;
    int64_t xst[MAXD], st[MAXD], base = 0;
    row_strides(x->dims, x->ndim, xst);
    for (int d = 0; d < x->ndim; d++) {
        base += p.start[d] * xst[d];
        st[d] = p.step[d] * xst[d];
    }
    size_t es = glint_dtype_size(x->dtype);
    strided_copy((const char *)x->data + base * (int64_t)es, st, c->out[0]->data, p.len,
                 x->ndim, es);
    return GLINT_OK;
}

/* ---- Gather ---- */
static glint_status infer_gather(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *ix = c->in[1];
    int axis = norm_axis(attr_i(c->n, "axis", 0), x->ndim);
    if (axis < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
    if (ix->dtype != GLINT_I64 && ix->dtype != GLINT_I32)
        return OP_FAIL(c, GLINT_ERR_INVALID, "indices must be int32/int64");
    int nd = x->ndim - 1 + ix->ndim;
    if (nd > MAXD) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "rank above %d", MAXD);
    int64_t dims[MAXD];
    int k = 0;
    for (int i = 0; i < axis; i++) dims[k++] = x->dims[i];
    for (int i = 0; i < ix->ndim; i++) dims[k++] = ix->dims[i];
    for (int i = axis + 1; i < x->ndim; i++) dims[k++] = x->dims[i];
    set_out(c, 0, x->dtype, nd, dims);
    return GLINT_OK;
}

static glint_status run_gather(op_ctx *c)
{
    const glint_tensor *x = c->in[0], *ix = c->in[1];
    int axis = norm_axis(attr_i(c->n, "axis", 0), x->ndim);
    size_t es = glint_dtype_size(x->dtype);
    int64_t outer = dims_count(x->dims, axis);
    int64_t inner = dims_count(x->dims + axis + 1, x->ndim - axis - 1) * (int64_t)es;
    int64_t n_idx = tensor_count(ix), dim = x->dims[axis];
    char *o = c->out[0]->data;
    for (int64_t k = 0; k < outer; k++)
        for (int64_t j = 0; j < n_idx; j++) {
            int64_t i = tensor_get_i(ix, j);
            if (i < 0) i += dim;
            if (i < 0 || i >= dim)
                return OP_FAIL(c, GLINT_ERR_INVALID, "index %lld out of range [0,%lld)",
                               (long long)tensor_get_i(ix, j), (long long)dim);
            memcpy(o + (k * n_idx + j) * inner, (const char *)x->data + (k * dim + i) * inner,
                   (size_t)inner);
        }
    return GLINT_OK;
}

/* ---- Expand, Tile ---- */
static glint_status infer_expand(op_ctx *c)
{
    glint_status s = need_const(c, 1, "shape");
    if (s) return s;
    glint_tensor t = {.ndim = (int)tensor_count(c->in[1])};
    if (t.ndim > MAXD) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "rank above %d", MAXD);
    for (int i = 0; i < t.ndim; i++) t.dims[i] = tensor_get_i(c->in[1], i);
    int nd;
    int64_t dims[MAXD];
    if (!broadcast_shape(c->in[0], &t, &nd, dims))
        return OP_FAIL(c, GLINT_ERR_SHAPE, "shape does not broadcast");
    if (dims_count_checked(dims, nd) < 0) return OP_FAIL(c, GLINT_ERR_NOMEM, "too large");
    set_out(c, 0, c->in[0]->dtype, nd, dims);
    return GLINT_OK;
}

static glint_status run_expand(op_ctx *c)
{
    int64_t st[MAXD];
    bcast_strides(c->in[0], c->out[0]->ndim, c->out[0]->dims, st);
    strided_copy(c->in[0]->data, st, c->out[0]->data, c->out[0]->dims, c->out[0]->ndim,
                 glint_dtype_size(c->in[0]->dtype));
    return GLINT_OK;
}

static glint_status infer_tile(op_ctx *c)
{
    glint_status s = need_const(c, 1, "repeats");
    if (s) return s;
    const glint_tensor *x = c->in[0];
    if (tensor_count(c->in[1]) != x->ndim)
        return OP_FAIL(c, GLINT_ERR_INVALID, "repeats length differs from rank");
    int64_t dims[MAXD];
    for (int i = 0; i < x->ndim; i++) {
        int64_t r = tensor_get_i(c->in[1], i);
        if (r < 0 || (r && x->dims[i] > MAX_TENSOR_BYTES / r))
            return OP_FAIL(c, GLINT_ERR_INVALID, "repeats %lld is negative or too large",
                           (long long)r);
        dims[i] = x->dims[i] * r;
    }
    if (dims_count_checked(dims, x->ndim) < 0) return OP_FAIL(c, GLINT_ERR_NOMEM, "too large");
    set_out(c, 0, x->dtype, x->ndim, dims);
    return GLINT_OK;
}

static glint_status run_tile(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    glint_tensor *o = c->out[0];
    size_t es = glint_dtype_size(x->dtype);
    int64_t count = tensor_count(o), idx[MAXD] = {0}, xst[MAXD];
    row_strides(x->dims, x->ndim, xst);
    for (int64_t i = 0; i < count; i++) {
        int64_t off = 0;
        for (int d = 0; d < o->ndim; d++) off += (idx[d] % x->dims[d]) * xst[d];
        memcpy((char *)o->data + i * (int64_t)es, (const char *)x->data + off * (int64_t)es, es);
        for (int d = o->ndim - 1; d >= 0; d--) {
            if (++idx[d] < o->dims[d]) break;
            idx[d] = 0;
        }
    }
    return GLINT_OK;
}

/* ---- Pad ---- */
static glint_status pad_amounts(op_ctx *c, int64_t *pads, double *fill, int *mode)
{
    const glint_tensor *x = c->in[0];
    int r = x->ndim;
    const char *m = attr_s(c->n, "mode", "constant");
    *mode = !strcmp(m, "constant") ? 0 : !strcmp(m, "reflect") ? 1 : !strcmp(m, "edge") ? 2 : -1;
    if (*mode < 0) return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "mode '%s'", m);
    *fill = 0;
    for (int i = 0; i < 2 * r; i++) pads[i] = 0;
    if (c->opset < 11) {
        const int64_t *p;
        int n = attr_ints(c->n, "pads", &p);
        if (n != 2 * r) return OP_FAIL(c, GLINT_ERR_INVALID, "pads needs %d values", 2 * r);
        memcpy(pads, p, sizeof(int64_t) * (size_t)n);
        *fill = attr_f(c->n, "value", 0);
        return GLINT_OK;
    }
    glint_status s = need_const(c, 1, "pads");
    if (s) return s;
    int64_t axes[MAXD];
    int na = r;
    for (int i = 0; i < r; i++) axes[i] = i;
    if (c->n_in > 3 && c->in[3]) {
        if ((s = need_const(c, 3, "axes"))) return s;
        na = (int)tensor_count(c->in[3]);
        if (na > r) return OP_FAIL(c, GLINT_ERR_INVALID, "too many axes");
        for (int i = 0; i < na; i++) {
            int a = norm_axis(tensor_get_i(c->in[3], i), r);
            if (a < 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad axis");
            axes[i] = a;
        }
    }
    if (tensor_count(c->in[1]) != 2 * na)
        return OP_FAIL(c, GLINT_ERR_INVALID, "pads needs %d values", 2 * na);
    for (int i = 0; i < na; i++) {
        pads[axes[i]] = tensor_get_i(c->in[1], i);
        pads[axes[i] + r] = tensor_get_i(c->in[1], i + na);
    }
    if (c->n_in > 2 && c->in[2]) {
        if ((s = need_const(c, 2, "constant_value"))) return s;
        if (tensor_count(c->in[2])) *fill = tensor_get_f(c->in[2], 0);
    }
    return GLINT_OK;
}

static glint_status infer_pad(op_ctx *c)
{
    int64_t pads[2 * MAXD];
    double v;
    int mode;
    glint_status s = pad_amounts(c, pads, &v, &mode);
    if (s) return s;
    const glint_tensor *x = c->in[0];
    int64_t dims[MAXD];
    for (int i = 0; i < x->ndim; i++) {
        if (pads[i] > MAX_TENSOR_BYTES || pads[i] < -MAX_TENSOR_BYTES ||
            pads[i + x->ndim] > MAX_TENSOR_BYTES || pads[i + x->ndim] < -MAX_TENSOR_BYTES)
            return OP_FAIL(c, GLINT_ERR_INVALID, "pad too large");
        dims[i] = x->dims[i] + pads[i] + pads[i + x->ndim];
        if (dims[i] < 0) return OP_FAIL(c, GLINT_ERR_SHAPE, "negative padded size");
        if (mode == 1 && (pads[i] >= x->dims[i] || pads[i + x->ndim] >= x->dims[i]))
            return OP_FAIL(c, GLINT_ERR_INVALID, "reflect pad larger than the axis");
    }
    if (dims_count_checked(dims, x->ndim) < 0) return OP_FAIL(c, GLINT_ERR_NOMEM, "too large");
    set_out(c, 0, x->dtype, x->ndim, dims);
    return GLINT_OK;
}

static glint_status run_pad(op_ctx *c)
{
    int64_t pads[2 * MAXD];
    double v;
    int mode;
    glint_status s = pad_amounts(c, pads, &v, &mode);
    if (s) return s;
    const glint_tensor *x = c->in[0];
    glint_tensor *o = c->out[0];
    int r = x->ndim;
    int64_t count = tensor_count(o), idx[MAXD] = {0}, xst[MAXD];
    row_strides(x->dims, r, xst);
    size_t es = glint_dtype_size(x->dtype);
    for (int64_t i = 0; i < count; i++) {
        int64_t off = 0;
        bool outside = false;
        for (int d = 0; d < r; d++) {
            int64_t j = idx[d] - pads[d], n = x->dims[d];
            if (j < 0 || j >= n) {
                if (mode == 0 || n == 0) { outside = true; break; }
                if (mode == 2) j = j < 0 ? 0 : n - 1;
                else {
                    int64_t period = 2 * (n - 1);
                    if (period == 0) j = 0;
                    else {
                        j = ((j % period) + period) % period;
                        if (j >= n) j = period - j;
                    }
                }
            }
            off += j * xst[d];
        }
        if (outside) tensor_set_f(o, i, v);
        else memcpy((char *)o->data + i * (int64_t)es, (const char *)x->data + off * (int64_t)es, es);
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < o->dims[d]) break;
            idx[d] = 0;
        }
    }
    return GLINT_OK;
}

/* ---- ArgMax / ArgMin ---- */
static glint_status infer_argmax(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int axis = norm_axis(attr_i(c->n, "axis", 0), x->ndim);
    if (axis < 0 || x->dims[axis] == 0) return OP_FAIL(c, GLINT_ERR_INVALID, "bad or empty axis");
    int64_t dims[MAXD];
    int nd = 0;
    bool keep = attr_i(c->n, "keepdims", 1) != 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != axis) dims[nd++] = x->dims[i];
        else if (keep) dims[nd++] = 1;
    set_out(c, 0, GLINT_I64, nd, dims);
    return GLINT_OK;
}

static glint_status run_argmax(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int axis = norm_axis(attr_i(c->n, "axis", 0), x->ndim);
    bool is_min = !strcmp(c->n->op_type, "ArgMin");
    bool last = attr_i(c->n, "select_last_index", 0) != 0;
    int64_t outer = dims_count(x->dims, axis), n = x->dims[axis];
    int64_t inner = dims_count(x->dims + axis + 1, x->ndim - axis - 1);
    int64_t *o = c->out[0]->data;
    for (int64_t a = 0; a < outer; a++)
        for (int64_t b = 0; b < inner; b++) {
            int64_t best = 0;
            double bv = tensor_get_f(x, a * n * inner + b);
            for (int64_t k = 1; k < n; k++) {
                double v = tensor_get_f(x, (a * n + k) * inner + b);
                bool better = is_min ? (v < bv || (last && v == bv)) : (v > bv || (last && v == bv));
                if (better) { bv = v; best = k; }
            }
            o[a * inner + b] = best;
        }
    return GLINT_OK;
}

/* ---- the table ---- */
#define UN(n) {#n, infer_unary, run_unary, 1, 1, false, false}
#define BIN(n) {#n, infer_binary, run_binary, 2, 2, false, false}
#define NN(n, lo, hi) {#n, infer_##n, run_##n, lo, hi, false, false}

static const op_def ops[] = {
    UN(Relu), UN(Sigmoid), UN(Tanh), UN(Exp), UN(Sqrt), UN(Neg), UN(Abs), UN(Log), UN(Floor),
    UN(Ceil), UN(Reciprocal), UN(Erf), UN(Softplus), UN(HardSigmoid), UN(HardSwish),
    UN(LeakyRelu), UN(Elu), UN(Round), UN(Sign), UN(Not), UN(Sin), UN(Cos), UN(Mish), UN(Selu),
    UN(Softsign),
    BIN(Add), BIN(Sub), BIN(Mul), BIN(Div), BIN(Pow), BIN(Equal), BIN(Less), BIN(Greater),
    BIN(LessOrEqual), BIN(GreaterOrEqual), BIN(And), BIN(Or), BIN(Xor), BIN(Mod),
    {"Min", infer_binary, run_binary, 1, 16, false, false},
    {"Max", infer_binary, run_binary, 1, 16, false, false},
    {"Sum", infer_binary, run_binary, 1, 16, false, false},
    {"Mean", infer_binary, run_mean2, 1, 16, false, false},
    {"Where", infer_where, run_where, 3, 3, false, false},
    {"Clip", infer_clip, run_clip, 1, 3, false, false},
    {"Cast", infer_cast, run_cast, 1, 1, false, false},
    {"Identity", infer_same, run_copy, 1, 1, true, false},
    {"Dropout", infer_dropout, run_copy, 1, 3, true, false},
    {"Reshape", infer_reshape, run_copy, 2, 2, true, false},
    {"Flatten", infer_flatten, run_copy, 1, 1, true, false},
    {"Squeeze", infer_squeeze, run_copy, 1, 2, true, false},
    {"Unsqueeze", infer_unsqueeze, run_copy, 1, 2, true, false},
    {"Shape", infer_shape, run_shape, 1, 1, false, true},
    {"Size", infer_size, run_size, 1, 1, false, true},
    {"Constant", infer_constant, run_constant, 0, 0, false, false},
    {"ConstantOfShape", infer_constant_of_shape, run_constant_of_shape, 1, 1, false, false},
    {"Range", infer_range, run_range, 3, 3, false, false},
    {"Transpose", infer_transpose, run_transpose, 1, 1, false, false},
    {"Concat", infer_concat, run_concat, 1, 64, false, false},
    {"Split", infer_split, run_split, 1, 2, false, false},
    {"Slice", infer_slice, run_slice, 1, 5, false, false},
    {"Gather", infer_gather, run_gather, 2, 2, false, false},
    {"Expand", infer_expand, run_expand, 2, 2, false, false},
    {"Tile", infer_tile, run_tile, 2, 2, false, false},
    {"Pad", infer_pad, run_pad, 1, 4, false, false},
    {"ArgMax", infer_argmax, run_argmax, 1, 1, false, false},
    {"ArgMin", infer_argmax, run_argmax, 1, 1, false, false},
    NN(Conv, 2, 3), NN(ConvTranspose, 2, 3), NN(BatchNormalization, 5, 5), NN(MaxPool, 1, 1),
    NN(AveragePool, 1, 1), NN(GlobalAveragePool, 1, 1), NN(GlobalMaxPool, 1, 1),
    NN(Softmax, 1, 1), NN(LogSoftmax, 1, 1), NN(MatMul, 2, 2), NN(Gemm, 2, 3),
    NN(ReduceMean, 1, 2), NN(ReduceSum, 1, 2), NN(ReduceMax, 1, 2), NN(ReduceMin, 1, 2),
    NN(Resize, 1, 4), NN(Upsample, 1, 2), NN(InstanceNormalization, 3, 3),
    NN(QuantizeLinear, 2, 3), NN(DequantizeLinear, 2, 3), NN(DynamicQuantizeLinear, 1, 1),
    NN(QLinearConv, 8, 9), NN(QLinearMatMul, 8, 8), NN(ConvInteger, 2, 4),
    NN(MatMulInteger, 2, 4), NN(GlintQConv, 2, 9), NN(GlintDFL, 1, 1),
};

int op_count(void)
{
    return (int)(sizeof ops / sizeof *ops);
}

int op_lookup(const char *name)
{
    for (int i = 0; i < op_count(); i++)
        if (!strcmp(ops[i].name, name)) return i;
    return -1;
}

const op_def *op_get(int op)
{
    return &ops[op];
}

bool slice_channel_range(op_ctx *c, int64_t *start)
{
    slice_plan p;
    const glint_tensor *x = c->in[0];
    if (x->ndim != 4 || slice_resolve(c, &p) != GLINT_OK || p.step[1] != 1) return false;
    for (int d = 0; d < 4; d++)
        if (d != 1 && (p.start[d] != 0 || p.step[d] != 1 || p.len[d] != x->dims[d])) return false;
    *start = p.start[1];
    return true;
}
