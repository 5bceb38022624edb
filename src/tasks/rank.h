/* Ranking scored ids: the one ordering and the one heap used by both
 * classification (top-k classes) and detection (candidate boxes before NMS).
 *
 * Order: a higher score ranks first; equal scores rank the lower id first.
 * This is a strict total order on finite scores, so every result is
 * deterministic. Non-finite scores (NaN, ±inf) are never ranked: callers
 * filter them out (rank_top_k does so itself).
 *
 * All functions work in caller-provided memory, allocate nothing and are
 * reentrant.
 */
#ifndef GLINT_TASKS_RANK_H
#define GLINT_TASKS_RANK_H

#include <stddef.h>

typedef struct task_rank {
    int id;      /* class id (classification) or box index (detection) */
    float score; /* the value ranked: a probability, or a detection score */
} task_rank;

/* 1 if `a` ranks strictly before `b` (higher score, or equal and lower id). */
static inline int rank_before(task_rank a, task_rank b)
{
    return a.score > b.score || (a.score == b.score && a.id < b.id);
}

/* Rearranges h[0..n) into a heap with the best-ranked item at h[0]. O(n). */
void rank_heap_build(task_rank *h, size_t n);

/* Removes and returns the best-ranked item of the heap h[0..*n), *n > 0;
 * decrements *n. O(log n). Popping repeatedly yields items in rank order,
 * so popping only the first m is a partial sort. */
task_rank rank_heap_pop(task_rank *h, size_t *n);

/* Selects the k best-ranked finite values of v[0..n) (id = index in v) into
 * out[0..k), best first. Partial selection: O(n log k), no full sort.
 * Returns how many were written: min(k, number of finite values).
 * Needs n <= INT_MAX (ids are int). */
size_t rank_top_k(const float *v, size_t n, size_t k, task_rank *out);

#endif
