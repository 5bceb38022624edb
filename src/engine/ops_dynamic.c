/* Operators whose output shapes depend on input values: NonZero,
 * NonMaxSuppression, If. Their shape functions need the values
 * (eng_need_const), so a plan folds them when the inputs are constant and
 * otherwise leaves them, and every node reading their outputs, to the
 * interpreter that runs after its steps (plan.h). They carry the
 * post-processing of detectors exported with it inside the graph
 * (torchvision's SSD, Faster R-CNN: per-class score filters, batched NMS). */
#include "ops_impl.h"

#include <math.h>
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

static nms_box nms_corners(const float *b, bool center)
{
    nms_box r;
    if (center) {
        r = (nms_box){b[1] - b[3] / 2, b[0] - b[2] / 2, b[1] + b[3] / 2, b[0] + b[2] / 2, 0};
    } else {
        r = (nms_box){fminf(b[0], b[2]), fminf(b[1], b[3]), fmaxf(b[0], b[2]), fmaxf(b[1], b[3]),
                      0};
    }
    r.area = (r.y2 - r.y1) * (r.x2 - r.x1);
    return r;
}

/* Whether b overlaps a by more than iou_th (boxes of no area never do). */
static bool nms_suppresses(const nms_box *a, const nms_box *b, float iou_th)
{
    if (a->area <= 0 || b->area <= 0) return false;
    float h = fminf(a->y2, b->y2) - fmaxf(a->y1, b->y1);
    float w = fminf(a->x2, b->x2) - fmaxf(a->x1, b->x1);
    if (h <= 0 || w <= 0) return false;
    float inter = h * w;
    return inter / (a->area + b->area - inter) > iou_th;
}

/* Runs the selection; writes up to the count it returns as (batch, class,
 * box) triples into out when out is non-NULL. -1 when out of memory. */
static int64_t nms_select(const op_ctx *c, int64_t *out)
{
    const glint_tensor *bx = c->in[0], *sc = c->in[1];
    int64_t B = bx->dims[0], N = bx->dims[1], C = sc->dims[1];
    int64_t max_out =
        c->n_in > 2 && c->in[2] && eng_tensor_count(c->in[2]) ? eng_tensor_get_i(c->in[2], 0) : 0;
    float iou_th = c->n_in > 3 && c->in[3] && eng_tensor_count(c->in[3])
                       ? (float)eng_tensor_get_f(c->in[3], 0)
                       : 0.0f;
    bool has_th = c->n_in > 4 && c->in[4] && eng_tensor_count(c->in[4]);
    float score_th = has_th ? (float)eng_tensor_get_f(c->in[4], 0) : 0.0f;
    bool center = eng_attr_i(c->n, "center_point_box", 0) == 1;
    if (max_out <= 0 || N == 0) return 0;
    nms_cand *cand = malloc((size_t)N * sizeof *cand);
    nms_box *kept = malloc((size_t)N * sizeof *kept);
    nms_box *box = malloc((size_t)N * sizeof *box);
    int64_t total = 0;
    if (!cand || !kept || !box) {
        total = -1;
        goto done;
    }
    for (int64_t b = 0; b < B; b++) {
        const float *bb = (const float *)bx->data + b * N * 4;
        for (int64_t i = 0; i < N; i++)
            box[i] = nms_corners(bb + 4 * i, center);
        for (int64_t k = 0; k < C; k++) {
            const float *s = (const float *)sc->data + (b * C + k) * N;
            int64_t n = 0, n_kept = 0;
            for (int64_t i = 0; i < N; i++)
                if (!has_th || s[i] > score_th) cand[n++] = (nms_cand){s[i], i};
            qsort(cand, (size_t)n, sizeof *cand, by_score);
            for (int64_t j = 0; j < n && n_kept < max_out; j++) {
                const nms_box *x = &box[cand[j].i];
                bool drop = false;
                for (int64_t q = 0; q < n_kept && !drop; q++)
                    drop = nms_suppresses(&kept[q], x, iou_th);
                if (drop) continue;
                kept[n_kept++] = *x;
                if (out) {
                    out[3 * total] = b;
                    out[3 * total + 1] = k;
                    out[3 * total + 2] = cand[j].i;
                }
                total++;
            }
        }
    }
done:
    free(cand);
    free(kept);
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
    int64_t n = nms_select(c, NULL);
    if (n < 0) return OP_FAIL(c, GLINT_ERR_NOMEM, "out of memory");
    int64_t dims[2] = {n, 3};
    eng_set_out(c, 0, GLINT_I64, 2, dims);
    return GLINT_OK;
}

glint_status eng_run_NonMaxSuppression(op_ctx *c)
{
    return nms_select(c, c->out[0]->data) < 0 ? OP_FAIL(c, GLINT_ERR_NOMEM, "out of memory")
                                              : GLINT_OK;
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
