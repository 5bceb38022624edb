/* The way of one image through glint serve, off the event loop:
 *   worker:   decode (DCT-scaled) -> reserve a batch row -> prepare into it ->
 *             commit;
 *   instance: run the batch -> answer each row (sitem_answer) ->
 *   last item of a request: build the response body, hand it to the loop.
 */
#include "serve/core/server_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

void sitem_done(sitem *it)
{
    sreq *r = it->owner;
    chain_run_free(it);
    atomic_fetch_sub(&sitem_model(it)->pending, 1);
    if (atomic_fetch_sub(&r->left, 1) != 1) return;
    timing_header(r);
    if (r->ops && r->ops->finished) {
        r->ops->finished(r); /* finishes r itself */
        return;
    }
    for (int i = 0; i < r->n_items; i++)
        if (r->items[i].status != 200) {
            sreq_finish_error(r, r->items[i].status, "%s", r->items[i].err);
            return;
        }
    sreq_finish_error(r, 500, "no answer");
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
    repo_model *m = sitem_model(it);
    it->queue_ns = res->start_ns - bi->commit_ns;
    it->infer_ns = res->end_ns - res->start_ns;
    it->batch_size = res->batch_size;
    pipeline_count_run(m, it->queue_ns, res);
    if (res->status) {
        sitem_fail(it, 500, "inference failed: %s", res->error);
        return;
    }
    if (res->end_ns > r->deadline_ns) {
        sitem_fail(it, 504, "deadline passed before the answer was ready");
        return;
    }
    uint64_t t0 = serve_now_ns();
    int rc = r->ops && r->ops->item_ran ? r->ops->item_ran(it, res) : 0;
    it->post_ns = serve_now_ns() - t0;
    pipeline_count_output(m, it->decode_ns + it->prep_ns, it->post_ns, res);
    if (rc) {
        sitem_fail(it, 500, "%s", it->err);
        return;
    }
    if (m->chain) { /* the row ran on the pipeline's first model: its statistics count it */
        repo_model *first = m->chain->stages[0];
        pipeline_count_run(first, it->queue_ns, res);
        pipeline_count_output(first, it->decode_ns + it->prep_ns, it->post_ns, res);
        atomic_fetch_add(&first->stats.images, 1);
        pipeline_count_step(first, res->end_ns - bi->commit_ns + it->post_ns);
        if (chain_next(it)) return; /* the pipeline's next models finish it */
    }
    sitem_answered(it);
}

void pipeline_count_output(repo_model *m, uint64_t input_ns, uint64_t post_ns,
                           const batch_result *res)
{
    model_stats *st = &m->stats;
    atomic_fetch_add(&st->output_count, 1);
    atomic_fetch_add(&st->output_ns, post_ns);
    model_stats_compute(st, res->row == 0 ? res->batch_size : 0, input_ns,
                        res->end_ns - res->start_ns, post_ns);
}

void pipeline_count_run(repo_model *m, uint64_t queue_ns, const batch_result *res)
{
    model_stats *st = &m->stats;
    atomic_fetch_add(&st->queue_count, 1);
    atomic_fetch_add(&st->queue_ns, queue_ns);
    metrics_histogram_observe(&st->queue_seconds, (double)queue_ns / 1e9);
    if (res->row == 0) {
        metrics_histogram_observe(&st->compute_seconds,
                                  (double)(res->end_ns - res->start_ns) / 1e9);
        metrics_histogram_observe(&st->batch_size, res->batch_size);
    }
}

void pipeline_count_step(repo_model *m, uint64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_fetch_add(&m->stats.success_count, 1);
    atomic_fetch_add(&m->stats.success_ns, ns);
    atomic_store(&m->stats.last_inference_ms,
                 (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

void sitem_answered(sitem *it)
{
    atomic_fetch_add(&sitem_model(it)->stats.images, 1);
    it->status = 200;
    sitem_done(it);
}

int pipeline_answer(sitem *it, const batch_result *res, const answer_params *p)
{
    const model_conf *c = sitem_model(it)->conf;
    thread_scratch *sc = serve_scratch();
    if (!sc) {
        snprintf(it->err, sizeof it->err, "out of memory");
        return -1;
    }
    uint64_t t0 = serve_now_ns();
    json_t *items =
        answer_items(sc->aw, c, p, res->ctx, res->row, &it->tf, it->err, sizeof it->err);
    if (!items) return -1;
    answer_timings t = {ms(it->decode_ns), ms(it->prep_ns), ms(it->queue_ns), ms(it->infer_ns),
                        ms(serve_now_ns() - t0)};
    it->answer = answer_object(c, it->name, &it->tf, items, &t);
    if (!it->answer) snprintf(it->err, sizeof it->err, "out of memory");
    return it->answer ? 0 : -1;
}

/* workq job: decode (unless it is decoded already) and prepare one image
 * into a batch row (worker). */
static void item_work(workq_job *job)
{
    sitem *it = H2O_STRUCT_FROM_MEMBER(sitem, job, job);
    sreq *r = it->owner;
    repo_model *m = sitem_model(it);
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
    vision_status vs = VISION_OK;
    const vision_image *img = it->pixels;
    if (m->chain) { /* a pipeline keeps the picture at full size for its next models */
        vision_image *own = img ? NULL : chain_image(it);
        if (img ? chain_keep(it, img) : !own) {
            sitem_fail(it, 500, "out of memory");
            return;
        }
        if (own) vs = vision_decode(sc->dec, it->data, it->size, NULL, own, &verr);
        img = img ? img : own;
    } else if (!img) {
        vs = vision_decode(sc->dec, it->data, it->size, &m->conf->spec, &sc->img, &verr);
        img = &sc->img;
    }
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
    /* a model with free height and width runs the picture at its own size */
    vision_spec spec = vision_spec_rect(&m->conf->spec, img->orig_width, img->orig_height);
    batch_slot slot;
    int rv = batcher_reserve_hw(m->batcher, spec.height, spec.width, &slot);
    if (rv) {
        if (rv == -2)
            sitem_fail(it, 400, "image: its %dx%d tensor is larger than the model is served at",
                       spec.width, spec.height);
        else
            sitem_fail(it, 503, "the server is shutting down");
        return;
    }
    if (serve_now_ns() > r->deadline_ns) { /* it waited for a batch tensor: give the row up */
        batcher_commit(m->batcher, &slot, NULL);
        sitem_fail(it, 504, "deadline passed while the image waited for a batch");
        return;
    }
    vs = vision_prepare(img, &spec, slot.data, slot.floats, &it->tf, &verr);
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

void pipeline_submit_row(sitem *it, const void *row, size_t bytes, int h, int w)
{
    sreq *r = it->owner;
    repo_model *m = sitem_model(it);
    if (serve_now_ns() > r->deadline_ns) {
        sitem_fail(it, 504, "deadline passed before row %d ran", it->index);
        return;
    }
    batch_slot slot;
    int rv = batcher_reserve_hw(m->batcher, h, w, &slot);
    if (rv) {
        if (rv == -2)
            sitem_fail(it, 400, "row %d: %dx%d is larger than the model is served at", it->index, w,
                       h);
        else
            sitem_fail(it, 503, "the server is shutting down");
        return;
    }
    if (serve_now_ns() > r->deadline_ns) { /* it waited for a batch tensor: give the row up */
        batcher_commit(m->batcher, &slot, NULL);
        sitem_fail(it, 504, "deadline passed before row %d ran", it->index);
        return;
    }
    if (bytes != slot.floats * sizeof(float)) { /* the protocol checked the shape */
        batcher_commit(m->batcher, &slot, NULL);
        sitem_fail(it, 400, "row %d has %zu bytes, the model takes %zu", it->index, bytes,
                   slot.floats * sizeof(float));
        return;
    }
    uint64_t c0 = serve_now_ns();
    memcpy(slot.data, row, bytes);
    it->prep_ns = serve_now_ns() - c0;
    it->bi.done = item_ran;
    batcher_commit(m->batcher, &slot, &it->bi);
}
