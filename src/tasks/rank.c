/* Binary heaps over task_rank: a max-heap (best on top) for popping
 * detection candidates in order, and a bounded min-heap (worst on top) for
 * top-k selection. One sift routine serves both. */
#include "tasks/rank.h"

#include <math.h>

/* 1 if `a` belongs above `b` in the heap: better-ranked for a best-on-top
 * heap, worse-ranked for a worst-on-top heap. */
static inline int heap_above(task_rank a, task_rank b, int worst_on_top)
{
    return worst_on_top ? rank_before(b, a) : rank_before(a, b);
}

static inline void sift_down(task_rank *h, size_t n, size_t i, int worst_on_top)
{
    task_rank x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_above(h[c + 1], h[c], worst_on_top)) c++;
        if (!heap_above(h[c], x, worst_on_top)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void heap_build(task_rank *h, size_t n, int worst_on_top)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(h, n, i, worst_on_top);
}

void rank_heap_build(task_rank *h, size_t n)
{
    heap_build(h, n, 0);
}

task_rank rank_heap_pop(task_rank *h, size_t *n)
{
    task_rank top = h[0];
    *n -= 1;
    if (*n > 0) {
        h[0] = h[*n];
        sift_down(h, *n, 0, 0);
    }
    return top;
}

size_t rank_top_k(const float *v, size_t n, size_t k, task_rank *out)
{
    if (k == 0) return 0;
    /* Fill with the first k finite values, then keep a worst-on-top heap:
     * a later value enters only if it beats the current k-th best. */
    size_t m = 0, i = 0;
    for (; i < n && m < k; i++) {
        if (isfinite(v[i])) out[m++] = (task_rank){(int)i, v[i]};
    }
    heap_build(out, m, 1);
    for (; i < n; i++) {
        task_rank x = {(int)i, v[i]};
        if (isfinite(x.score) && rank_before(x, out[0])) {
            out[0] = x;
            sift_down(out, m, 0, 1);
        }
    }
    /* Heap sort: moving the worst to the end each step leaves best first. */
    for (size_t end = m; end > 1; end--) {
        task_rank worst = out[0];
        out[0] = out[end - 1];
        out[end - 1] = worst;
        sift_down(out, end - 1, 0, 1);
    }
    return m;
}
