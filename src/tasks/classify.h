/* Classification answers: the top-k classes of one image's scores.
 *
 * A classifier emits [B, C] values per batch, either logits or
 * probabilities. Row b of a batch starts at data + b*C; each call handles one
 * row. classify_topk() ranks the row by a partial selection (not a sort of
 * all C classes) and returns probabilities, applying a numerically stable
 * softmax when the values are logits.
 *
 * Non-finite values (NaN, ±inf) are ignored: never ranked, and left out of
 * the softmax sum, so no NaN ever reaches an answer.
 *
 * Thread-safety: reentrant; allocates nothing.
 */
#ifndef GLINT_TASKS_CLASSIFY_H
#define GLINT_TASKS_CLASSIFY_H

#include "tasks/rank.h"
#include "tasks/task_status.h"

/* Largest class count accepted (ImageNet-21k has 21,843). */
#define CLASSIFY_MAX_CLASSES (1 << 20)

typedef enum classify_mode {
    /* Probabilities if every finite value is in [0, 1] and they sum to 1
     * within CLASSIFY_AUTO_SUM_TOL; logits otherwise. A logit row that
     * happens to look like a distribution (e.g. {0.3, 0.7}) is taken as
     * probabilities: say LOGITS or PROBS when the model is known. */
    CLASSIFY_AUTO = 0,
    CLASSIFY_LOGITS, /* apply softmax over the row */
    CLASSIFY_PROBS,  /* values are already probabilities: rank them as they are */
} classify_mode;

#define CLASSIFY_AUTO_SUM_TOL 1e-2

/* Name of a mode ("auto", "logits", "probs"); static, never NULL. */
const char *classify_mode_name(classify_mode m);

/* Decides what `scores[0..num_classes)` hold, as CLASSIFY_AUTO would.
 * Returns CLASSIFY_LOGITS or CLASSIFY_PROBS. */
classify_mode classify_detect_mode(const float *scores, int num_classes);

/* Writes the k best classes of `scores[0..num_classes)` to out[0..), sorted
 * by probability descending, equal probabilities lower class id first
 * (selection ranks the input values; two logits whose probabilities round
 * to the same float, e.g. both underflowing to 0, then count as a tie):
 * out[i].id is the class id, out[i].score its probability.
 * `out` is caller memory with room for k items. Asking for k > num_classes
 * returns every ranked class. *n_out receives the count written:
 * min(k, finite values in the row). `used` (may be NULL) receives the mode
 * applied, LOGITS or PROBS (useful with AUTO).
 * Errors: TASK_ERR_INVALID for NULL pointers, num_classes outside
 * 1..CLASSIFY_MAX_CLASSES, k < 1, or an unknown mode. */
task_status classify_topk(const float *scores, int num_classes, classify_mode mode, int k,
                          task_rank *out, int *n_out, classify_mode *used);

#endif
