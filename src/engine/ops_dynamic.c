/* Operators whose output shapes depend on input values: NonZero,
 * NonMaxSuppression, If, Loop. Their shape functions need the values
 * (eng_need_const), so a plan folds them when the inputs are constant and
 * otherwise leaves them, and every node reading their outputs, to the
 * interpreter that runs after its steps (plan.h). They carry the
 * post-processing of detectors exported with it inside the graph
 * (torchvision's SSD, Faster R-CNN: per-class score filters, batched NMS). */
#include "ops_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- NonZero: the indices of the non-zero elements, [rank, count] ---- */
static int64_t nonzero_count(const glint_tensor *x)
{
    int64_t n = eng_tensor_count(x), k = 0;
    for (int64_t i = 0; i < n; i++)
        k += eng_tensor_get_f(x, i) != 0;
    return k;
}

glint_status eng_infer_NonZero(op_ctx *c)
{
    glint_status s = eng_need_const(c, 0, "X");
    if (s) return s;
    const glint_tensor *x = c->in[0];
    int64_t dims[2] = {x->ndim, nonzero_count(x)};
    eng_set_out(c, 0, GLINT_I64, 2, dims);
    return GLINT_OK;
}

glint_status eng_run_NonZero(op_ctx *c)
{
    const glint_tensor *x = c->in[0];
    int64_t n = eng_tensor_count(x), cnt = c->out[0]->dims[1], k = 0;
    int64_t *o = c->out[0]->data;
    for (int64_t i = 0; i < n && k < cnt; i++) {
        if (eng_tensor_get_f(x, i) == 0) continue;
        int64_t rest = i;
        for (int d = x->ndim - 1; d >= 0; d--) {
            o[d * cnt + k] = rest % x->dims[d];
            rest /= x->dims[d];
        }
        k++;
    }
    return GLINT_OK;
}

/* ---- NonMaxSuppression (opset 10, 11) ---- */
typedef struct nms_box {
    float y1, x1, y2, x2, area;
} nms_box;

typedef struct nms_cand {
    float score;
    int64_t i;
} nms_cand;

static int by_score(const void *a, const void *b)
{
    const nms_cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i; /* ties: the lower index first */
}

static inline float min2(float a, float b)
{
    return a < b ? a : b;
}

static inline float max2(float a, float b)
{
    return a > b ? a : b;
}

static nms_box nms_corners(const float *b, bool center)
{
    nms_box r;
    if (center) {
        r = (nms_box){b[1] - b[3] / 2, b[0] - b[2] / 2, b[1] + b[3] / 2, b[0] + b[2] / 2, 0};
    } else {
        r = (nms_box){min2(b[0], b[2]), min2(b[1], b[3]), max2(b[0], b[2]), max2(b[1], b[3]), 0};
    }
    r.area = (r.y2 - r.y1) * (r.x2 - r.x1);
    return r;
}

/* The boxes kept so far for one batch and class, by coordinate. */
typedef struct nms_kept {
    float *y1, *x1, *y2, *x2, *area;
    int64_t n;
} nms_kept;

/* Whether a kept box overlaps x by more than iou_th (boxes of no area never
 * do): 64 at a time, each block without a branch so that it vectorises. */
static bool nms_overlaps(const nms_kept *k, const nms_box *x, float iou_th)
{
    if (x->area <= 0) return false;
    for (int64_t q0 = 0; q0 < k->n; q0 += 64) {
        int64_t q1 = q0 + 64 < k->n ? q0 + 64 : k->n;
        int hit = 0;
#pragma omp simd reduction(| : hit)
        for (int64_t q = q0; q < q1; q++) {
            float h = min2(k->y2[q], x->y2) - max2(k->y1[q], x->y1);
            float w = min2(k->x2[q], x->x2) - max2(k->x1[q], x->x1);
            float inter = h * w, uni = k->area[q] + x->area - inter;
            hit |= (k->area[q] > 0) & (h > 0) & (w > 0) & (uni > 0) & (inter / uni > iou_th);
        }
        if (hit) return true;
    }
    return false;
}

static int64_t nms_max_out(const op_ctx *c)
{
    return c->n_in > 2 && c->in[2] && eng_tensor_count(c->in[2]) ? eng_tensor_get_i(c->in[2], 0)
                                                                 : 0;
}

/* Runs the selection, writing (batch, class, box) triples to out; returns
 * their count, -1 when out of memory. */
static int64_t nms_select(const op_ctx *c, int64_t *out)
{
    const glint_tensor *bx = c->in[0], *sc = c->in[1];
    int64_t B = bx->dims[0], N = bx->dims[1], C = sc->dims[1];
    int64_t max_out = nms_max_out(c);
    float iou_th = c->n_in > 3 && c->in[3] && eng_tensor_count(c->in[3])
                       ? (float)eng_tensor_get_f(c->in[3], 0)
                       : 0.0f;
    bool has_th = c->n_in > 4 && c->in[4] && eng_tensor_count(c->in[4]);
    float score_th = has_th ? (float)eng_tensor_get_f(c->in[4], 0) : 0.0f;
    bool center = eng_attr_i(c->n, "center_point_box", 0) == 1;
    if (max_out <= 0 || N == 0) return 0;
    nms_cand *cand = malloc((size_t)N * sizeof *cand);
    float *kbuf = malloc((size_t)N * 5 * sizeof *kbuf);
    nms_box *box = malloc((size_t)N * sizeof *box);
    int64_t total = 0;
    if (!cand || !kbuf || !box) {
        total = -1;
        goto done;
    }
    nms_kept kept = {kbuf, kbuf + N, kbuf + 2 * N, kbuf + 3 * N, kbuf + 4 * N, 0};
    for (int64_t b = 0; b < B; b++) {
        const float *bb = (const float *)bx->data + b * N * 4;
        for (int64_t i = 0; i < N; i++)
            box[i] = nms_corners(bb + 4 * i, center);
        for (int64_t k = 0; k < C; k++) {
            const float *s = (const float *)sc->data + (b * C + k) * N;
            int64_t n = 0;
            kept.n = 0;
            for (int64_t i = 0; i < N; i++)
                if (!has_th || s[i] > score_th) cand[n++] = (nms_cand){s[i], i};
            qsort(cand, (size_t)n, sizeof *cand, by_score);
            for (int64_t j = 0; j < n && kept.n < max_out; j++) {
                const nms_box *x = &box[cand[j].i];
                if (nms_overlaps(&kept, x, iou_th)) continue;
                kept.y1[kept.n] = x->y1;
                kept.x1[kept.n] = x->x1;
                kept.y2[kept.n] = x->y2;
                kept.x2[kept.n] = x->x2;
                kept.area[kept.n++] = x->area;
                out[3 * total] = b;
                out[3 * total + 1] = k;
                out[3 * total + 2] = cand[j].i;
                total++;
            }
        }
    }
done:
    free(cand);
    free(kbuf);
    free(box);
    return total;
}

glint_status eng_infer_NonMaxSuppression(op_ctx *c)
{
    glint_status s;
    if ((s = eng_need_const(c, 0, "boxes")) || (s = eng_need_const(c, 1, "scores"))) return s;
    for (int i = 2; i < c->n_in && i < 5; i++)
        if (c->in[i] && (s = eng_need_const(c, i, "threshold"))) return s;
    const glint_tensor *bx = c->in[0], *sc = c->in[1];
    if ((s = eng_need_f32(c, 0)) || (s = eng_need_f32(c, 1))) return s;
    if (bx->ndim != 3 || bx->dims[2] != 4 || sc->ndim != 3 || sc->dims[0] != bx->dims[0] ||
        sc->dims[2] != bx->dims[1])
        return OP_FAIL(c, GLINT_ERR_SHAPE,
                       "boxes must be [B, N, 4] and scores [B, C, N] of the same B and N");
    /* at most max_out boxes per batch and class: a bound, which the kernel
     * shrinks to the boxes it keeps (the interpreter and constant folding
     * size the buffer by the bound and read the shape after the kernel) */
    int64_t per = nms_max_out(c) < 0 ? 0 : nms_max_out(c);
    if (per > bx->dims[1]) per = bx->dims[1];
    int64_t dims[2] = {bx->dims[0] * sc->dims[1] * per, 3};
    eng_set_out(c, 0, GLINT_I64, 2, dims);
    return GLINT_OK;
}

glint_status eng_run_NonMaxSuppression(op_ctx *c)
{
    int64_t n = nms_select(c, c->out[0]->data);
    if (n < 0) return OP_FAIL(c, GLINT_ERR_NOMEM, "out of memory");
    c->out[0]->dims[0] = n;
    return GLINT_OK;
}

/* ---- If: the branch's outputs; the interpreter runs it (plan.c) ---- */
glint_status eng_infer_If(op_ctx *c)
{
    if (!eng_attr_graph(c->n, "then_branch") || !eng_attr_graph(c->n, "else_branch"))
        return OP_FAIL(c, GLINT_ERR_INVALID, "then_branch and else_branch are required");
    c->need_value = true; /* which branch, and so its shapes, is known at run time */
    return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "the branch is chosen at run time");
}

glint_status eng_run_If(op_ctx *c)
{
    return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "If runs in the plan's interpreter only");
}

/* ---- Loop: the carried values and scans; the interpreter runs it (plan.c) ---- */
glint_status eng_infer_Loop(op_ctx *c)
{
    if (!eng_attr_graph(c->n, "body")) return OP_FAIL(c, GLINT_ERR_INVALID, "body is required");
    c->need_value = true; /* the trip count, and so the scans' shapes, are known at run time */
    return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "the trips are counted at run time");
}

glint_status eng_run_Loop(op_ctx *c)
{
    return OP_FAIL(c, GLINT_ERR_UNSUPPORTED, "Loop runs in the plan's interpreter only");
}
