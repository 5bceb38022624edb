/* A request's life in the core: its arena, items, answer and hand-back to
 * the loop (see request.h). */
#include "serve/core/server_impl.h"
#include "util/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t serve_now_ns(void)
{
    return clock_now_ns();
}

/* ---- per-thread scratch ---- */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    thread_scratch *t = p;
    if (!t) return;
    vision_decoder_destroy(t->dec);
    vision_image_dispose(&t->img);
    answer_ws_destroy(t->aw);
    free(t);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

thread_scratch *serve_scratch(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    thread_scratch *t = pthread_getspecific(scratch_key);
    if (t) return t;
    t = calloc(1, sizeof *t);
    if (!t) return NULL;
    vision_image_init(&t->img);
    t->dec = vision_decoder_create(NULL);
    t->aw = answer_ws_create();
    if (!t->dec || !t->aw || pthread_setspecific(scratch_key, t)) {
        scratch_free(t);
        return NULL;
    }
    return t;
}

static void on_req_dispose(void *p)
{
    sreq *r = *(sreq **)p;
    if (r) r->req = NULL;
}

/* The h2o request owns a pointer back to r that clears r->req when h2o
 * frees the request (a client that went away). */
typedef struct tracker {
    sreq *r;
} tracker;

sreq *sreq_create(server *s, h2o_req_t *req, repo_model *rm, const sreq_ops *ops, size_t proto_size)
{
    arena *a = arena_create(0);
    sreq *r = a ? arena_alloc(a, sizeof *r) : NULL;
    void *proto = r && proto_size ? arena_alloc(a, proto_size) : NULL;
    if (!r || (proto_size && !proto)) {
        arena_destroy(a);
        repo_model_release(rm);
        return NULL;
    }
    r->mem = a;
    r->srv = s;
    r->req = req;
    r->rm = rm;
    r->ops = ops;
    r->proto = proto;
    r->t_start = serve_now_ns();
    r->content_type = "application/json";
    return r;
}

void sreq_destroy(sreq *r)
{
    if (!r) return;
    if (r->req && r->tracker) ((tracker *)r->tracker)->r = NULL; /* h2o keeps it */
    if (r->ops && r->ops->dispose) r->ops->dispose(r);
    for (int i = 0; i < r->n_items; i++)
        json_decref(r->items[i].answer);
    free(r->resp);
    repo_model_release(r->rm);
    arena_destroy(r->mem); /* r with it */
}

int sreq_copy_body(sreq *r, const h2o_req_t *req)
{
    r->body = arena_memdup(r->mem, req->entity.base, req->entity.len);
    r->body_len = r->body ? req->entity.len : 0;
    return r->body ? 0 : -1;
}

int sreq_items(sreq *r, int n)
{
    if (n < 1 || !(r->items = arena_alloc(r->mem, (size_t)n * sizeof *r->items))) return -1;
    r->n_items = n;
    atomic_init(&r->left, n);
    for (int i = 0; i < n; i++) {
        r->items[i].owner = r;
        r->items[i].index = i;
    }
    return 0;
}

/* The wait before a run starts for an image with `ahead` images before it,
 * in ns (0 before the first run measured a per-image time). */
static uint64_t predicted_wait_ns(const repo_model *m, int ahead)
{
    const batcher_stats *bs = batcher_get_stats(m->batcher);
    uint64_t per = atomic_load_explicit(&bs->image_ns, memory_order_relaxed);
    int inst = batcher_get_options(m->batcher)->instances;
    return ahead > 0 ? (uint64_t)ahead * per / (uint64_t)(inst > 0 ? inst : 1) : 0;
}

int sreq_admit(sreq *r, int n, char *why, size_t cap)
{
    repo_model *m = r->rm;
    int ahead = atomic_fetch_add(&m->pending, n);
    /* a pipeline's images queue on its first model's batcher, behind that model's own */
    if (m->chain) ahead += atomic_load(&m->chain->stages[0]->pending);
    if (ahead + n > m->max_queue) {
        snprintf(why, cap, "queue full (%d images waiting)", m->max_queue);
        goto refuse;
    }
    uint64_t wait = predicted_wait_ns(m, ahead);
    if (m->max_queue_ms && wait > (uint64_t)m->max_queue_ms * 1000000u) {
        snprintf(why, cap, "overloaded: predicted wait %.0f ms is over the %d ms budget",
                 (double)wait / 1e6, m->max_queue_ms);
        atomic_fetch_add(&m->stats.over_budget, 1);
        goto refuse;
    }
    if (r->deadline_ns && clock_now_ns() + wait > r->deadline_ns) {
        snprintf(why, cap, "overloaded: predicted wait %.0f ms ends past the request's deadline",
                 (double)wait / 1e6);
        atomic_fetch_add(&m->stats.over_budget, 1);
        goto refuse;
    }
    return 0;
refuse:
    atomic_fetch_sub(&m->pending, n);
    atomic_fetch_add(&m->stats.fail_count, 1);
    atomic_fetch_add(&m->stats.fail_by[FAIL_REJECTED], 1);
    return -1;
}

void sreq_track(sreq *r)
{
    r->srv->in_flight++;
    if (!r->req) return; /* another transport's request: it keeps track itself */
    tracker *t = h2o_mem_alloc_shared(&r->req->pool, sizeof *t, on_req_dispose);
    t->r = r;
    r->tracker = t;
}

void sreq_untrack(sreq *r)
{
    r->srv->in_flight--;
    if (r->req && r->tracker) ((tracker *)r->tracker)->r = NULL; /* else h2o freed it */
    r->tracker = NULL;
}

void sreq_finish(sreq *r)
{
    h2o_multithread_send_message(&r->srv->done_rx, &r->msg);
}

void sreq_set_errorv(sreq *r, int status, const char *key, const char *fmt, va_list ap)
{
    char msg[SERVE_ERR_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *j = json_pack("{s:o}", key, answer_text(msg));
    r->status = status;
    r->reason = serve_fail_reason(status);
    r->content_type = "application/json";
    free(r->resp);
    r->resp = j ? json_dumps(j, JSON_COMPACT) : NULL;
    r->resp_len = r->resp ? strlen(r->resp) : 0;
    json_decref(j);
}

void sreq_set_error(sreq *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sreq_set_errorv(r, status, "error", fmt, ap);
    va_end(ap);
}

void sreq_finish_error(sreq *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sreq_set_errorv(r, status, "error", fmt, ap);
    va_end(ap);
    sreq_finish(r);
}

void sreq_set_body(sreq *r, int status, char *body)
{
    free(r->resp);
    r->resp = body;
    r->resp_len = body ? strlen(body) : 0;
    r->status = body ? status : 500;
    r->reason = serve_fail_reason(r->status);
    r->content_type = "application/json";
}
