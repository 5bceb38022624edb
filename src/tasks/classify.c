/* Top-k classification: partial selection over the raw row, then softmax
 * only for the k selected (softmax is monotonic, so ranking logits ranks
 * probabilities). */
#include "tasks/classify.h"
#include "tasks/task_status_impl.h"

#include <math.h>
#include <stddef.h>

const char *classify_mode_name(classify_mode m)
{
    switch (m) {
    case CLASSIFY_AUTO:
        return "auto";
    case CLASSIFY_LOGITS:
        return "logits";
    case CLASSIFY_PROBS:
        return "probs";
    }
    return "unknown";
}

classify_mode classify_detect_mode(const float *scores, int num_classes)
{
    double sum = 0.0;
    for (int i = 0; i < num_classes; i++) {
        float v = scores[i];
        if (!isfinite(v)) continue;
        if (v < 0.0f || v > 1.0f) return CLASSIFY_LOGITS;
        sum += v;
    }
    return fabs(sum - 1.0) <= CLASSIFY_AUTO_SUM_TOL ? CLASSIFY_PROBS : CLASSIFY_LOGITS;
}

/* Largest finite value of the row, and sum of exp(v - max) over finite v. */
static double softmax_denominator(const float *v, int n, float *max_out)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (isfinite(v[i]) && v[i] > mx) mx = v[i];
    }
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        if (isfinite(v[i])) sum += expf(v[i] - mx);
    }
    *max_out = mx;
    return sum;
}

/* Restores (score desc, id asc) order after a transform that may have made
 * distinct values equal (rounding in expf). Input is almost sorted: O(k). */
static void settle_order(task_rank *r, int n)
{
    for (int i = 1; i < n; i++) {
        task_rank x = r[i];
        int j = i;
        for (; j > 0 && rank_before(x, r[j - 1]); j--)
            r[j] = r[j - 1];
        r[j] = x;
    }
}

task_status classify_topk(const float *scores, int num_classes, classify_mode mode, int k,
                          task_rank *out, int *n_out, classify_mode *used)
{
    if (!scores || !out || !n_out)
        return task_fail(TASK_ERR_INVALID, "classify_topk: NULL argument");
    *n_out = 0;
    if (num_classes < 1 || num_classes > CLASSIFY_MAX_CLASSES)
        return task_fail(TASK_ERR_INVALID, "classify_topk: num_classes %d outside 1..%d",
                         num_classes, CLASSIFY_MAX_CLASSES);
    if (k < 1) return task_fail(TASK_ERR_INVALID, "classify_topk: k=%d, need k >= 1", k);
    if (mode != CLASSIFY_AUTO && mode != CLASSIFY_LOGITS && mode != CLASSIFY_PROBS)
        return task_fail(TASK_ERR_INVALID, "classify_topk: unknown mode %d", (int)mode);

    if (mode == CLASSIFY_AUTO) mode = classify_detect_mode(scores, num_classes);
    if (used) *used = mode;
    if (k > num_classes) k = num_classes;

    int n = (int)rank_top_k(scores, (size_t)num_classes, (size_t)k, out);
    if (mode == CLASSIFY_LOGITS && n > 0) {
        float mx;
        double sum = softmax_denominator(scores, num_classes, &mx);
        for (int i = 0; i < n; i++)
            out[i].score = (float)(expf(out[i].score - mx) / sum);
        settle_order(out, n);
    }
    *n_out = n;
    return TASK_OK;
}
