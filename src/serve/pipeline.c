/* The way of one image through glint serve, off the event loop:
 *   worker:   decode (DCT-scaled) -> reserve a batch row -> prepare into it ->
 *             commit;
 *   instance: run the batch -> answer each row (sitem_answer) ->
 *   last item of a request: build the response body, hand it to the loop.
 */
#include "serve/server_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fail_reason serve_fail_reason(int status)
{
    return status == 504   ? FAIL_TIMEOUT
           : status == 503 ? FAIL_REJECTED
           : status >= 500 ? FAIL_INTERNAL
                           : FAIL_BAD_REQUEST;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* The request's Server-Timing value: sums over its items, in ms. */
static void timing_header(sreq *r)
{
    uint64_t d = 0, q = 0, inf = 0, p = 0;
    for (int i = 0; i < r->n_items; i++) {
        const sitem *it = &r->items[i];
        d += it->decode_ns + it->prep_ns;
        q += it->queue_ns;
        inf = it->infer_ns > inf ? it->infer_ns : inf;
        p += it->post_ns;
    }
    snprintf(r->timing, sizeof r->timing,
             "decode;dur=%.3f, queue;dur=%.3f, infer;dur=%.3f, post;dur=%.3f", ms(d), ms(q),
             ms(inf), ms(p));
}

static json_t *item_error_json(const sitem *it)
{
    json_t *j = json_object();
    if (j && it->name) json_object_set_new(j, "image", answer_text(it->name));
    if (j) json_object_set_new(j, "error", answer_text(it->err));
    return j;
}

/* The /v1 response of a request whose items are all answered. */
static void build_v1(sreq *r)
{
    json_t *body = NULL;
    if (!r->multi) {
        sitem *it = &r->items[0];
        r->status = it->status;
        r->reason = serve_fail_reason(it->status);
        if (it->status == 200) {
            body = it->answer;
            it->answer = NULL;
            r->cacheable = r->cache_klen > 0;
        } else {
            body = json_pack("{s:o}", "error", answer_text(it->err));
        }
    } else {
        json_t *arr = json_array();
        int ok = 0, first_fail = 0;
        for (int i = 0; i < r->n_items; i++) {
            sitem *it = &r->items[i];
            if (it->status == 200) {
                ok++;
                json_array_append(arr, it->answer);
            } else {
                if (!first_fail) first_fail = it->status;
                json_array_append_new(arr, item_error_json(it));
            }
        }
        r->status = ok ? 200 : first_fail;
        r->reason = serve_fail_reason(first_fail);
        body = json_pack("{s:o, s:o}", "model", answer_text(r->rm->name), "results", arr);
    }
    r->resp = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(body);
    if (!r->resp) {
        r->status = 500;
        r->reason = FAIL_INTERNAL;
        r->resp = strdup("{\"error\":\"out of memory\"}");
    }
    r->resp_len = r->resp ? strlen(r->resp) : 0;
}

void sitem_done(sitem *it)
{
    sreq *r = it->owner;
    atomic_fetch_sub(&r->rm->pending, 1);
    if (atomic_fetch_sub(&r->left, 1) != 1) return;
    timing_header(r);
    if (r->kind == SREQ_EDGE) {
        edge_items_done(r); /* finishes r itself */
        return;
    }
    if (r->kind == SREQ_V1)
        build_v1(r);
    else
        v2_finish(r);
    serve_finish(r);
}

void sitem_fail(sitem *it, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->err, sizeof it->err, fmt, ap);
    va_end(ap);
    it->status = status; /* the request's failure reason follows from it */
    sitem_done(it);
}

/* batch_item.done: answers one row (instance thread). */
static void item_ran(batch_item *bi, const batch_result *res)
{
    sitem *it = (sitem *)bi;
    sreq *r = it->owner;
    repo_model *m = r->rm;
    it->queue_ns = res->start_ns - bi->commit_ns;
    it->infer_ns = res->end_ns - res->start_ns;
    it->batch_size = res->batch_size;
    model_stats *st = &m->stats;
    atomic_fetch_add(&st->queue_count, 1);
    atomic_fetch_add(&st->queue_ns, it->queue_ns);
    metrics_histogram_observe(&st->queue_seconds, (double)it->queue_ns / 1e9);
    if (res->row == 0) {
        metrics_histogram_observe(&st->compute_seconds, (double)it->infer_ns / 1e9);
        metrics_histogram_observe(&st->batch_size, res->batch_size);
    }
    if (res->status) {
        sitem_fail(it, 500, "inference failed: %s", res->error);
        return;
    }
    if (res->end_ns > r->deadline_ns) {
        sitem_fail(it, 504, "deadline passed before the answer was ready");
        return;
    }
    uint64_t t0 = serve_now_ns();
    int rc = r->kind == SREQ_KSERVE ? v2_item_ran(it, res) : sitem_answer(it, res);
    it->post_ns = serve_now_ns() - t0;
    atomic_fetch_add(&st->output_count, 1);
    atomic_fetch_add(&st->output_ns, it->post_ns);
    if (rc) {
        sitem_fail(it, 500, "%s", it->err);
        return;
    }
    atomic_fetch_add(&st->images, 1);
    it->status = 200;
    sitem_done(it);
}

int sitem_answer(sitem *it, const batch_result *res)
{
    sreq *r = it->owner;
    const model_conf *c = &r->rm->conf;
    thread_scratch *sc = serve_scratch();
    if (!sc) {
        snprintf(it->err, sizeof it->err, "out of memory");
        return -1;
    }
    glint_tensor out;
    glint_context_output(res->ctx, c->output, &out);
    uint64_t t0 = serve_now_ns();
    json_t *items =
        answer_items(sc->aw, c, &r->params, &out, res->row, &it->tf, it->err, sizeof it->err);
    if (!items) return -1;
    answer_timings t = {ms(it->decode_ns), ms(it->prep_ns), ms(it->queue_ns), ms(it->infer_ns),
                        ms(serve_now_ns() - t0)};
    it->answer = answer_object(c, it->name, &it->tf, items, &t);
    if (!it->answer) snprintf(it->err, sizeof it->err, "out of memory");
    return it->answer ? 0 : -1;
}

/* workq job: decode and prepare one image into a batch row (worker). */
static void item_work(workq_job *job)
{
    sitem *it = H2O_STRUCT_FROM_MEMBER(sitem, job, job);
    sreq *r = it->owner;
    repo_model *m = r->rm;
    if (serve_now_ns() > r->deadline_ns) {
        sitem_fail(it, 504, "deadline passed before the image was decoded");
        return;
    }
    thread_scratch *sc = serve_scratch();
    if (!sc) {
        sitem_fail(it, 500, "out of memory");
        return;
    }
    vision_error verr;
    uint64_t t0 = serve_now_ns();
    vision_status vs = vision_decode(sc->dec, it->data, it->size, &m->conf.spec, &sc->img, &verr);
    uint64_t t1 = serve_now_ns();
    it->decode_ns = t1 - t0;
    if (vs) {
        sitem_fail(it, 400, "image: %s", verr.msg[0] ? verr.msg : vision_strerror(vs));
        return;
    }
    if (serve_now_ns() > r->deadline_ns) {
        sitem_fail(it, 504, "deadline passed while the image was decoded");
        return;
    }
    batch_slot slot;
    if (batcher_reserve(m->batcher, &slot)) {
        sitem_fail(it, 503, "the server is shutting down");
        return;
    }
    vs = vision_prepare(&sc->img, &m->conf.spec, slot.data, slot.floats, &it->tf, &verr);
    it->prep_ns = serve_now_ns() - t1;
    atomic_fetch_add(&m->stats.input_count, 1);
    atomic_fetch_add(&m->stats.input_ns, it->decode_ns + it->prep_ns);
    if (vs) {
        batcher_commit(m->batcher, &slot, NULL);
        sitem_fail(it, 400, "image: %s", verr.msg[0] ? verr.msg : vision_strerror(vs));
        return;
    }
    it->bi.done = item_ran;
    batcher_commit(m->batcher, &slot, &it->bi);
}

void pipeline_submit_images(sreq *r)
{
    for (int i = 0; i < r->n_items; i++) {
        r->items[i].job.fn = item_work;
        workq_push(r->srv->workers, &r->items[i].job);
    }
}

void pipeline_item_ran_init(sitem *it)
{
    it->bi.done = item_ran;
}
