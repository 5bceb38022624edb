/* Element-wise operators: fused post-ops, unary, Clip, numpy-broadcasting
 * binary and variadic operators, Where, Cast — shape functions and plain C
 * reference kernels. A kernel selects its kind by the node's op_id through
 * an enum generated from ops_list.h; every switch over a kind lists every
 * kind, so an operator added to the list without a formula fails to build. */
#include "ops_impl.h"

#include <assert.h>
#include <math.h>
#include <string.h>

bool eng_is_int_type(glint_dtype t)
{
    return t == GLINT_I64 || t == GLINT_I32 || t == GLINT_I8 || t == GLINT_U8 || t == GLINT_BOOL;
}

/* ---- fused post-ops ---- */
static inline float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

void eng_post_apply(float *y, int64_t count, const post_op *p, int n, const float *sum)
{
    for (int k = 0; k < n; k++) {
        float a = p[k].alpha, b = p[k].beta;
        switch (p[k].kind) {
        case POST_RELU:
            for (int64_t i = 0; i < count; i++)
                y[i] = y[i] < 0 ? y[i] * a : y[i];
            break;
        case POST_CLIP:
            for (int64_t i = 0; i < count; i++)
                y[i] = y[i] < a ? a : y[i] > b ? b : y[i];
            break;
        case POST_SIGMOID:
            for (int64_t i = 0; i < count; i++)
                y[i] = sigmoidf(y[i]);
            break;
        case POST_SWISH:
            for (int64_t i = 0; i < count; i++)
                y[i] = y[i] * sigmoidf(y[i]);
            break;
        case POST_HARDSIGMOID:
        case POST_HARDSWISH:
            for (int64_t i = 0; i < count; i++) {
                float h = fmaxf(0.0f, fminf(1.0f, a * y[i] + b));
                y[i] = p[k].kind == POST_HARDSWISH ? y[i] * h : h;
            }
            break;
        case POST_TANH:
            for (int64_t i = 0; i < count; i++)
                y[i] = tanhf(y[i]);
            break;
        case POST_GELU:
            for (int64_t i = 0; i < count; i++) {
                double x = y[i];
                y[i] = (float)(a ? 0.5 * x *
                                       (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
                                 : 0.5 * x * (1 + erf(x * 0.7071067811865476)));
            }
            break;
        case POST_SUM:
            for (int64_t i = 0; i < count; i++)
                y[i] += sum[i];
            break;
        case POST_NONE:
            break;
        }
    }
}

/* ---- unary element-wise ---- */
glint_status eng_infer_same(op_ctx *c)
{
    eng_set_out(c, 0, c->in[0]->dtype, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

/* The unary kinds, one per entry of ENG_UNARY_OPS, in list order. */
#define UNARY_KIND(name, infer, run, lo, hi, flags) U_##name,
typedef enum unary_kind { ENG_UNARY_OPS(UNARY_KIND) } unary_kind;
#undef UNARY_KIND

/* The unary kind of a node of a unary operator (the table sends only those
 * here); total over the list by construction. */
static unary_kind unary_of(op_id op)
{
#define UNARY_CASE(name, infer, run, lo, hi, flags)                                                \
    case OP_##name:                                                                                \
        return U_##name;
    switch (op) {
        ENG_UNARY_OPS(UNARY_CASE)
    default:
        break;
    }
#undef UNARY_CASE
    assert(!"not a unary operator");
    return U_Relu;
}

static double unary_apply(unary_kind k, double x, double a, double b)
{
    switch (k) {
    case U_Relu:
        return x > 0 ? x : 0;
    case U_Sigmoid:
        return 1.0 / (1.0 + exp(-x));
    case U_Tanh:
        return tanh(x);
    case U_Exp:
        return exp(x);
    case U_Sqrt:
        return sqrt(x);
    case U_Neg:
        return -x;
    case U_Abs:
        return fabs(x);
    case U_Log:
        return log(x);
    case U_Floor:
        return floor(x);
    case U_Ceil:
        return ceil(x);
    case U_Reciprocal:
        return 1.0 / x;
    case U_Erf:
        return erf(x);
    case U_Softplus:
        return x > 30 ? x : log1p(exp(x));
    case U_HardSigmoid:
        return fmax(0, fmin(1, a * x + b));
    case U_HardSwish:
        return x * fmax(0, fmin(1, x / 6.0 + 0.5));
    case U_LeakyRelu:
        return x >= 0 ? x : a * x;
    case U_Elu:
        return x >= 0 ? x : a * (exp(x) - 1);
    case U_Round:
        return nearbyint(x);
    case U_Sign:
        return x > 0 ? 1 : x < 0 ? -1 : 0;
    case U_Not:
        return x == 0;
    case U_Sin:
        return sin(x);
    case U_Cos:
        return cos(x);
    case U_Mish:
        return x * tanh(x > 30 ? x : log1p(exp(x)));
    case U_Selu:
        return x > 0 ? b * x : b * (a * exp(x) - a);
    case U_Softsign:
        return x / (1 + fabs(x));
    case U_Gelu: /* a = 1: approximate "tanh" */
        return a ? 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
                 : 0.5 * x * (1 + erf(x * 0.7071067811865476));
    case U_Tan:
        return tan(x);
    case U_Sinh:
        return sinh(x);
    case U_Cosh:
        return cosh(x);
    case U_Asin:
        return asin(x);
    case U_Acos:
        return acos(x);
    case U_Atan:
        return atan(x);
    case U_Asinh:
        return asinh(x);
    case U_Acosh:
        return acosh(x);
    case U_Atanh:
        return atanh(x);
    case U_ThresholdedRelu:
        return x > a ? x : 0;
    case U_Shrink: /* a = lambd, b = bias */
        return x < -a ? x + b : x > a ? x - b : 0;
    case U_Celu:
        return fmax(0, x) + fmin(0, a * (exp(x / a) - 1));
    }
    return x;
}

glint_status eng_infer_unary(op_ctx *c)
{
    unary_kind k = unary_of(c->n->op);
    glint_dtype t = c->in[0]->dtype;
    bool ok = t == GLINT_F32 || t == GLINT_F64 ||
              ((k == U_Neg || k == U_Abs || k == U_Relu || k == U_Sign || k == U_Shrink) &&
               (t == GLINT_I64 || t == GLINT_I32 || t == GLINT_I8)) ||
              (k == U_Not && t == GLINT_BOOL);
    if (!ok)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "type %s is not supported", glint_dtype_name(t));
    return eng_infer_same(c);
}

glint_status eng_run_unary(op_ctx *c)
{
    const node *n = c->n;
    unary_kind k = unary_of(n->op);
    double a = 0, b = 0;
    switch (k) {
    case U_HardSigmoid:
        a = eng_attr_f(n, "alpha", 0.2f);
        b = eng_attr_f(n, "beta", 0.5f);
        break;
    case U_LeakyRelu:
        a = eng_attr_f(n, "alpha", 0.01f);
        break;
    case U_Elu:
        a = eng_attr_f(n, "alpha", 1.0f);
        break;
    case U_Gelu:
        a = !strcmp(eng_attr_s(n, "approximate", "none"), "tanh");
        break;
    case U_ThresholdedRelu:
    case U_Celu:
        a = eng_attr_f(n, "alpha", 1.0f);
        break;
    case U_Shrink:
        a = eng_attr_f(n, "lambd", 0.5f);
        b = eng_attr_f(n, "bias", 0.0f);
        break;
    case U_Selu:
        a = eng_attr_f(n, "alpha", 1.67326319217681884765625f);
        b = eng_attr_f(n, "gamma", 1.05070102214813232421875f);
        break;
    default:
        break;
    }
    const glint_tensor *x = c->in[0];
    glint_tensor *y = c->out[0];
    int64_t count = eng_tensor_count(x);
    if (x->dtype == GLINT_F32) {
        const float *xs = x->data;
        float *ys = y->data;
        if (k == U_Relu) {
            for (int64_t i = 0; i < count; i++)
                ys[i] = xs[i] > 0 ? xs[i] : 0;
        } else if (k == U_Sigmoid) {
            for (int64_t i = 0; i < count; i++)
                ys[i] = sigmoidf(xs[i]);
        } else {
            for (int64_t i = 0; i < count; i++)
                ys[i] = (float)unary_apply(k, xs[i], a, b);
        }
        return GLINT_OK;
    }
    for (int64_t i = 0; i < count; i++) {
        if (eng_is_int_type(x->dtype))
            eng_tensor_set_i(y, i, (int64_t)unary_apply(k, (double)eng_tensor_get_i(x, i), a, b));
        else
            eng_tensor_set_f(y, i, unary_apply(k, eng_tensor_get_f(x, i), a, b));
    }
    return GLINT_OK;
}

/* Clip: min/max as attributes (opset < 11) or optional inputs. */
glint_status eng_infer_clip(op_ctx *c)
{
    if (c->in[0]->dtype != GLINT_F32 && c->in[0]->dtype != GLINT_F64 &&
        c->in[0]->dtype != GLINT_I64 && c->in[0]->dtype != GLINT_I32 &&
        c->in[0]->dtype != GLINT_I8 && c->in[0]->dtype != GLINT_U8)
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "type %s", glint_dtype_name(c->in[0]->dtype));
    return eng_infer_same(c);
}

glint_status eng_run_clip(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    double lo = -INFINITY, hi = INFINITY;
    if (c->opset < 11) {
        lo = eng_attr_f(c->n, "min", -INFINITY);
        hi = eng_attr_f(c->n, "max", INFINITY);
    } else {
        if (c->n_in > 1 && c->in[1] && eng_tensor_count(c->in[1]))
            lo = eng_tensor_get_f(c->in[1], 0);
        if (c->n_in > 2 && c->in[2] && eng_tensor_count(c->in[2]))
            hi = eng_tensor_get_f(c->in[2], 0);
    }
    int64_t count = eng_tensor_count(x);
    if (x->dtype == GLINT_F32) {
        const float *xs = x->data;
        float *ys = c->out[0]->data, l = (float)lo, h = (float)hi;
        for (int64_t i = 0; i < count; i++)
            ys[i] = xs[i] < l ? l : xs[i] > h ? h : xs[i];
        return GLINT_OK;
    }
    for (int64_t i = 0; i < count; i++) {
        double v = eng_tensor_get_f(x, i);
        eng_tensor_set_f(c->out[0], i, v < lo ? lo : v > hi ? hi : v);
    }
    return GLINT_OK;
}

/* ---- broadcasting iteration ---- */
/* Strides of `t` laid over an output of rank ndim/dims (0 where broadcast). */
void eng_bcast_strides(const glint_tensor *t, int ndim, const int64_t *dims, int64_t *st)
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
        eng_bcast_strides(ins[k], out->ndim, out->dims, it->st[k]);
}

static void bc_next(bc_iter *it)
{
    for (int d = it->ndim - 1; d >= 0; d--) {
        it->idx[d]++;
        for (int k = 0; k < it->n; k++)
            it->off[k] += it->st[k][d];
        if (it->idx[d] < it->dims[d]) return;
        for (int k = 0; k < it->n; k++)
            it->off[k] -= it->st[k][d] * it->dims[d];
        it->idx[d] = 0;
    }
}

/* ---- binary element-wise ---- */
/* The binary kinds, one per entry of ENG_BINARY_OPS, in list order. */
#define BIN_KIND(name, infer, run, lo, hi, flags) B_##name,
typedef enum bin_kind { ENG_BINARY_OPS(BIN_KIND) } bin_kind;
#undef BIN_KIND

/* The binary kind of a node of a binary or variadic operator (the table
 * sends only those here); total over the list by construction. */
static bin_kind bin_of(op_id op)
{
#define BIN_CASE(name, infer, run, lo, hi, flags)                                                  \
    case OP_##name:                                                                                \
        return B_##name;
    switch (op) {
        ENG_BINARY_OPS(BIN_CASE)
    default:
        break;
    }
#undef BIN_CASE
    assert(!"not a binary operator");
    return B_Add;
}

static bool bin_is_compare(bin_kind k)
{
    switch (k) {
    case B_Equal:
    case B_Less:
    case B_Greater:
    case B_LessOrEqual:
    case B_GreaterOrEqual:
    case B_And:
    case B_Or:
    case B_Xor:
        return true;
    case B_Add:
    case B_Sub:
    case B_Mul:
    case B_Div:
    case B_Pow:
    case B_Min:
    case B_Max:
    case B_Mod:
    case B_PRelu:
    case B_Sum:
    case B_Mean:
        return false;
    }
    return false;
}

glint_status eng_infer_binary(op_ctx *c)
{
    bin_kind k = bin_of(c->n->op);
    glint_tensor acc = *c->in[0];
    for (int i = 1; i < c->n_in; i++) {
        if (!c->in[i]) return OP_FAIL(c, GLINT_ERR_INVALID, "missing input %d", i);
        if (c->in[i]->dtype != c->in[0]->dtype && k != B_Pow)
            return OP_FAIL(c, GLINT_ERR_INVALID, "input types %s and %s differ",
                           glint_dtype_name(c->in[0]->dtype), glint_dtype_name(c->in[i]->dtype));
        int nd;
        int64_t dims[MAXD];
        if (!eng_broadcast_shape(&acc, c->in[i], &nd, dims)) {
            char a[96], b[96];
            return OP_FAIL(c, GLINT_ERR_SHAPE, "shapes %s and %s do not broadcast",
                           eng_dims_str(acc.dims, acc.ndim, a, sizeof a),
                           eng_dims_str(c->in[i]->dims, c->in[i]->ndim, b, sizeof b));
        }
        acc.ndim = nd;
        memcpy(acc.dims, dims, sizeof dims);
    }
    glint_dtype t = c->in[0]->dtype;
    if (t != GLINT_F32 && t != GLINT_F64 && !eng_is_int_type(t))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "type %s", glint_dtype_name(t));
    if (k == B_Pow && !(c->in[1]->dtype == GLINT_F32 || c->in[1]->dtype == GLINT_F64 ||
                        eng_is_int_type(c->in[1]->dtype)))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "exponent type");
    eng_set_out(c, 0, bin_is_compare(k) ? GLINT_BOOL : t, acc.ndim, acc.dims);
    return GLINT_OK;
}

static inline float bin_f32(bin_kind k, float a, float b)
{
    switch (k) {
    case B_Add:
    case B_Sum:
    case B_Mean:
        return a + b;
    case B_Sub:
        return a - b;
    case B_Mul:
        return a * b;
    case B_Div:
        return a / b;
    case B_Pow:
        return powf(a, b);
    case B_Min:
        return a < b || isnan(a) ? a : b;
    case B_Max:
        return a > b || isnan(a) ? a : b;
    case B_Mod:
        return fmodf(a, b);
    case B_PRelu:
        return a < 0 ? a * b : a;
    case B_Equal:
    case B_Less:
    case B_Greater:
    case B_LessOrEqual:
    case B_GreaterOrEqual:
    case B_And:
    case B_Or:
    case B_Xor:
        return 0; /* never: comparisons write bool, not f32 */
    }
    return 0;
}

static double bin_f64(bin_kind k, double a, double b, bool fmod_mode)
{
    switch (k) {
    case B_Add:
    case B_Sum:
    case B_Mean:
        return a + b;
    case B_Sub:
        return a - b;
    case B_Mul:
        return a * b;
    case B_Div:
        return a / b;
    case B_Pow:
        return pow(a, b);
    case B_Min:
        return a < b ? a : b;
    case B_Max:
        return a > b ? a : b;
    case B_Equal:
        return a == b;
    case B_Less:
        return a < b;
    case B_Greater:
        return a > b;
    case B_LessOrEqual:
        return a <= b;
    case B_GreaterOrEqual:
        return a >= b;
    case B_And:
        return a != 0 && b != 0;
    case B_Or:
        return a != 0 || b != 0;
    case B_Xor:
        return (a != 0) != (b != 0);
    case B_PRelu:
        return a < 0 ? a * b : a;
    case B_Mod: {
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
    case B_Add:
    case B_Sum:
    case B_Mean:
        return a + b;
    case B_Sub:
        return a - b;
    case B_Mul:
        return a * b;
    case B_Div:
        return b ? a / b : 0;
    case B_Pow: {
        int64_t r = 1;
        for (int64_t i = 0; i < b && i < 64; i++)
            r *= a;
        return r;
    }
    case B_Min:
        return a < b ? a : b;
    case B_Max:
        return a > b ? a : b;
    case B_Equal:
        return a == b;
    case B_Less:
        return a < b;
    case B_Greater:
        return a > b;
    case B_LessOrEqual:
        return a <= b;
    case B_GreaterOrEqual:
        return a >= b;
    case B_And:
        return a && b;
    case B_Or:
        return a || b;
    case B_Xor:
        return !a != !b;
    case B_PRelu:
        return a < 0 ? a * b : a;
    case B_Mod: {
        if (!b) return 0;
        int64_t r = a % b;
        return !fmod_mode && r && ((r < 0) != (b < 0)) ? r + b : r;
    }
    }
    return 0;
}

/* How t, broadcast to out, is read when out is split into outer x inner at
 * axis `split`: element (o, j) is t[o * *so + j * *sj]. False when t varies
 * along both parts in a way that is not the whole of them. */
static bool split_strides(const glint_tensor *t, const glint_tensor *out, int split, int64_t inner,
                          int64_t *so, int64_t *sj)
{
    int lead = out->ndim - t->ndim;
    bool outer_full = true, outer_one = true, inner_full = true, inner_one = true;
    for (int d = 0; d < out->ndim; d++) {
        int64_t td = d < lead ? 1 : t->dims[d - lead];
        bool full = td == out->dims[d], one = td == 1;
        if (d < split) {
            outer_full &= full;
            outer_one &= one;
        } else {
            inner_full &= full;
            inner_one &= one;
        }
    }
    if (!(outer_full || outer_one) || !(inner_full || inner_one)) return false;
    *sj = inner_full ? 1 : 0;
    *so = outer_full ? (inner_full ? inner : 1) : 0;
    return true;
}

/* f32 a (op) b where each operand is, for one split of out into outer x inner,
 * whole, one value per outer index, a row over the inner axes, or one value
 * (a per-channel [C, 1, 1] against [C, H, W], a mask [1, N, 1] against
 * [1, N, C]): a tight loop over both parts, in parallel when large. False
 * when no split fits. */
static bool binary_split_f32(bin_kind k, const glint_tensor *a, const glint_tensor *b,
                             glint_tensor *out)
{
    for (int split = 0; split <= out->ndim; split++) {
        int64_t outer = eng_dims_count(out->dims, split);
        int64_t inner = eng_dims_count(out->dims + split, out->ndim - split);
        int64_t ao, aj, bo, bj;
        if (!split_strides(a, out, split, inner, &ao, &aj) ||
            !split_strides(b, out, split, inner, &bo, &bj))
            continue;
        const float *x = a->data, *y = b->data;
        float *o = out->data;
#pragma omp parallel for schedule(static) if (outer * inner > (1 << 16) && outer > 1)
        for (int64_t i = 0; i < outer; i++) {
            const float *xr = x + i * ao, *yr = y + i * bo;
            float *orow = o + i * inner;
            for (int64_t j = 0; j < inner; j++)
                orow[j] = bin_f32(k, xr[j * aj], yr[j * bj]);
        }
        return true;
    }
    return false;
}

/* out = a (op) b with broadcasting; a and out may alias when shapes match. */
static void binary_pair(bin_kind k, bool fmod_mode, const glint_tensor *a, const glint_tensor *b,
                        glint_tensor *out)
{
    int64_t count = eng_tensor_count(out);
    const glint_tensor *ins[2] = {a, b};
    bool f32 =
        a->dtype == GLINT_F32 && b->dtype == GLINT_F32 && out->dtype == GLINT_F32 && k != B_Mod;
    if (f32 && eng_tensor_count(a) == count && eng_tensor_count(b) == count) {
        const float *x = a->data, *y = b->data;
        float *o = out->data;
        switch (k) {
        case B_Add:
        case B_Sum:
        case B_Mean:
            for (int64_t i = 0; i < count; i++)
                o[i] = x[i] + y[i];
            break;
        case B_Mul:
            for (int64_t i = 0; i < count; i++)
                o[i] = x[i] * y[i];
            break;
        default:
            for (int64_t i = 0; i < count; i++)
                o[i] = bin_f32(k, x[i], y[i]);
            break;
        }
        return;
    }
    if (f32 && eng_tensor_count(b) == 1) {
        const float *x = a->data;
        float y = *(const float *)b->data, *o = out->data;
        for (int64_t i = 0; i < count; i++)
            o[i] = bin_f32(k, x[i], y);
        return;
    }
    if (f32 && binary_split_f32(k, a, b, out)) return;
    bc_iter it;
    bc_init(&it, out, ins, 2);
    bool ints = eng_is_int_type(a->dtype) && eng_is_int_type(b->dtype);
    for (int64_t i = 0; i < count; i++, bc_next(&it)) {
        if (f32)
            ((float *)out->data)[i] = bin_f32(k, ((const float *)a->data)[it.off[0]],
                                              ((const float *)b->data)[it.off[1]]);
        else if (ints)
            eng_tensor_set_i(out, i,
                             bin_i64(k, eng_tensor_get_i(a, it.off[0]),
                                     eng_tensor_get_i(b, it.off[1]), fmod_mode));
        else
            eng_tensor_set_f(out, i,
                             bin_f64(k, eng_tensor_get_f(a, it.off[0]),
                                     eng_tensor_get_f(b, it.off[1]), fmod_mode));
    }
}

glint_status eng_run_binary(op_ctx *c)
{
    bin_kind k = bin_of(c->n->op);
    bool fmod_mode = eng_attr_i(c->n, "fmod", 0) != 0;
    glint_tensor *out = c->out[0];
    if (c->n_in == 1) {
        memcpy(out->data, c->in[0]->data, eng_tensor_bytes(out));
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
    if (k == B_Mean) {
        int64_t count = eng_tensor_count(out);
        for (int64_t i = 0; i < count; i++)
            eng_tensor_set_f(out, i, eng_tensor_get_f(out, i) / c->n_in);
    }
    return GLINT_OK;
}

glint_status eng_run_mean2(op_ctx *c)
{
    glint_status s = eng_run_binary(c);
    if (!s && c->n_in == 2 && bin_of(c->n->op) == B_Mean) {
        int64_t count = eng_tensor_count(c->out[0]);
        for (int64_t i = 0; i < count; i++)
            eng_tensor_set_f(c->out[0], i, eng_tensor_get_f(c->out[0], i) / 2);
    }
    return s;
}

/* Where(cond, x, y) */
glint_status eng_infer_where(op_ctx *c)
{
    int nd;
    int64_t dims[MAXD];
    glint_tensor t;
    if (!eng_broadcast_shape(c->in[0], c->in[1], &nd, dims))
        return OP_FAIL(c, GLINT_ERR_SHAPE, "shapes do not broadcast");
    t.ndim = nd;
    memcpy(t.dims, dims, sizeof dims);
    if (!eng_broadcast_shape(&t, c->in[2], &nd, dims))
        return OP_FAIL(c, GLINT_ERR_SHAPE, "shapes do not broadcast");
    if (c->in[1]->dtype != c->in[2]->dtype)
        return OP_FAIL(c, GLINT_ERR_INVALID, "x and y types differ");
    eng_set_out(c, 0, c->in[1]->dtype, nd, dims);
    return GLINT_OK;
}

glint_status eng_run_where(op_ctx *c)
{
    bc_iter it;
    const glint_tensor *ins[3] = {c->in[0], c->in[1], c->in[2]};
    bc_init(&it, c->out[0], ins, 3);
    int64_t count = eng_tensor_count(c->out[0]);
    size_t es = glint_dtype_size(c->out[0]->dtype);
    char *o = c->out[0]->data;
    for (int64_t i = 0; i < count; i++, bc_next(&it)) {
        bool cond = eng_tensor_get_i(c->in[0], it.off[0]) != 0;
        const char *src = cond ? (const char *)c->in[1]->data + it.off[1] * es
                               : (const char *)c->in[2]->data + it.off[2] * es;
        memcpy(o + i * es, src, es);
    }
    return GLINT_OK;
}

/* ---- Cast ---- */
glint_status eng_infer_cast(op_ctx *c)
{
    int64_t to = eng_attr_i(c->n, "to", 0);
    glint_dtype t = (glint_dtype)to;
    if (!glint_dtype_size(t) || !glint_dtype_size(c->in[0]->dtype))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "cast from %s to type %lld",
                       glint_dtype_name(c->in[0]->dtype), (long long)to);
    eng_set_out(c, 0, t, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

/* CastLike: Cast to the type of input 1. */
glint_status eng_infer_castlike(op_ctx *c)
{
    glint_dtype t = c->in[1]->dtype;
    if (!glint_dtype_size(t) || !glint_dtype_size(c->in[0]->dtype))
        return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "cast from %s to %s",
                       glint_dtype_name(c->in[0]->dtype), glint_dtype_name(t));
    eng_set_out(c, 0, t, c->in[0]->ndim, c->in[0]->dims);
    return GLINT_OK;
}

glint_status eng_run_cast(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    glint_tensor *y = c->out[0];
    int64_t count = eng_tensor_count(x);
    for (int64_t i = 0; i < count; i++) {
        if (eng_is_int_type(x->dtype))
            eng_tensor_set_i(y, i, eng_tensor_get_i(x, i));
        else /* saturating; NaN becomes 0 */
            eng_tensor_set_f(y, i, eng_tensor_get_f(x, i));
    }
    return GLINT_OK;
}
