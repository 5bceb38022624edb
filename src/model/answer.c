/* The JSON answer to one image (see answer.h). */
#include "model/answer.h"

#include "tasks/classify.h"
#include "tasks/labels.h"
#include "tasks/rank.h"
#include "tasks/task_status.h"
#include "tasks/text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct answer_ws {
    detect_workspace *dw; /* sized for boxes x classes */
    int boxes, classes;
    detect_box *out; /* out_cap boxes */
    int out_cap;
    task_rank *ranks; /* rank_cap classes */
    int rank_cap;
    text_det_ws *tw; /* text_detect */
    text_box *tb;    /* tb_cap boxes */
    int tb_cap;
    int *ids; /* text_recognize: ids_cap steps */
    int ids_cap;
    char *str; /* the string read: str_cap bytes */
    int str_cap;
};

static double round_to(double v, double unit)
{
    return round(v / unit) * unit;
}

answer_params answer_params_of(const model_conf *c)
{
    answer_params p = {.detect = c->detect, .top_k = c->top_k};
    return p;
}

answer_ws *answer_ws_create(void)
{
    return calloc(1, sizeof(answer_ws));
}

void answer_ws_destroy(answer_ws *ws)
{
    if (!ws) return;
    detect_workspace_destroy(ws->dw);
    free(ws->out);
    free(ws->ranks);
    text_det_ws_destroy(ws->tw);
    free(ws->tb);
    free(ws->ids);
    free(ws->str);
    free(ws);
}

/* Grows *buf of *cap elements of `size` bytes to hold n. */
static int grow(void **buf, int *cap, int n, size_t size)
{
    if (n <= *cap) return 0;
    void *p = realloc(*buf, (size_t)n * size);
    if (!p) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

static int ensure_detect(answer_ws *ws, const detect_shape *s, int max_det)
{
    if (grow((void **)&ws->out, &ws->out_cap, max_det, sizeof *ws->out)) return -1;
    if (ws->dw && s->num_boxes <= ws->boxes && s->num_classes <= ws->classes) return 0;
    detect_workspace_destroy(ws->dw);
    ws->dw = NULL;
    if (detect_workspace_create(s->num_boxes, s->num_classes, &ws->dw)) return -1;
    ws->boxes = s->num_boxes;
    ws->classes = s->num_classes;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] < 0x80                   ? 1
               : s[0] >= 0xC2 && s[0] < 0xE0 ? 2
               : s[0] >= 0xE0 && s[0] < 0xF0 ? 3
               : s[0] >= 0xF0 && s[0] < 0xF5 ? 4
                                             : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))) return 0;
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))) return 0;
    return n;
}

json_t *answer_text(const char *s)
{
    json_t *j = json_string(s);
    if (j) return j;
    size_t len = strlen(s);
    char *buf = malloc(len * 3 + 1);
    if (!buf) return NULL;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_len(p);
        if (n) {
            memcpy(buf + o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    buf[o] = 0;
    j = json_string(buf);
    free(buf);
    return j;
}

/* {"label", "class_id", "score"} of class `id`. */
static json_t *class_json(const model_conf *c, int id, float score)
{
    char num[TASK_LABELS_NUM_BUF];
    const char *label = task_labels_name(c->labels, id, num, sizeof num);
    return json_pack("{s:o, s:i, s:f}", "label", answer_text(label), "class_id", id, "score",
                     round_to(score, 1e-6));
}

/* One detection as JSON, its box mapped from tensor to file pixels; NULL
 * with *skip set when the box lies wholly in the padding. */
static json_t *box_json(const model_conf *c, const vision_transform *tf, const float in[4],
                        float score, int class_id, int *skip)
{
    float box[4] = {in[0], in[1], in[2], in[3]};
    vision_transform_box(tf, box); /* tensor -> file pixels, clamped */
    *skip = !(box[2] > box[0] && box[3] > box[1]);
    if (*skip) return NULL;
    json_t *o = class_json(c, class_id, score);
    json_t *bj = json_pack("{s:f, s:f, s:f, s:f}", "x1", round_to(box[0], 1e-2), "y1",
                           round_to(box[1], 1e-2), "x2", round_to(box[2], 1e-2), "y2",
                           round_to(box[3], 1e-2));
    if (!o || !bj || json_object_set_new(o, "box", bj)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *detect_items(answer_ws *ws, const model_conf *c, const detect_options *opt,
                            const glint_tensor *out, int b, const vision_transform *tf, char *err,
                            size_t err_size)
{
    detect_shape shape;
    int n = 0;
    if (detect_shape_from_dims(out->dims, out->ndim, c->layout, &shape)) {
        snprintf(err, err_size, "output: %s", task_last_error());
        return NULL;
    }
    shape.input_width = tf->tensor_width; /* DETR boxes are fractions of the tensor */
    shape.input_height = tf->tensor_height;
    if (ensure_detect(ws, &shape, opt->max_det)) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    if (b >= shape.batch) {
        snprintf(err, err_size, "output has a batch of %d, image %d missing", shape.batch, b);
        return NULL;
    }
    const float *data = (const float *)out->data + (size_t)b * detect_image_floats(&shape);
    if (detect_decode(ws->dw, &shape, data, opt, NULL, ws->out, opt->max_det, &n)) {
        snprintf(err, err_size, "detect: %s", task_last_error());
        return NULL;
    }
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++) {
        const detect_box *d = &ws->out[i];
        float box[4] = {d->x1, d->y1, d->x2, d->y2};
        int skip;
        json_t *o = box_json(c, tf, box, d->score, d->class_id, &skip);
        if (skip) continue; /* all in the padding */
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!arr) snprintf(err, err_size, "out of memory");
    return arr;
}

/* The top classes of image `b` of `out` ([B, C] or [B, C, 1, 1]). */
static json_t *classify_items(answer_ws *ws, const model_conf *c, int top_k,
                              const glint_tensor *out, int b, char *err, size_t err_size)
{
    int64_t classes = 1;
    for (int d = 1; d < out->ndim; d++)
        classes *= out->dims[d];
    if (out->ndim < 2 || b >= out->dims[0] || classes < 1 || classes > CLASSIFY_MAX_CLASSES) {
        snprintf(err, err_size, "output does not hold image %d's class scores", b);
        return NULL;
    }
    if (grow((void **)&ws->ranks, &ws->rank_cap, top_k, sizeof *ws->ranks)) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    const float *row = (const float *)out->data + (size_t)b * (size_t)classes;
    int n = 0;
    if (classify_topk(row, (int)classes, CLASSIFY_AUTO, top_k, ws->ranks, &n, NULL)) {
        snprintf(err, err_size, "classify: %s", task_last_error());
        return NULL;
    }
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, class_json(c, ws->ranks[i].id, ws->ranks[i].score))) {
            json_decref(arr);
            arr = NULL;
        }
    if (!arr) snprintf(err, err_size, "out of memory");
    return arr;
}

/* DETECT_LAYOUT_BOXES: the model chose its boxes (NMS in the graph); keep
 * those over the score threshold, in its order, at most max_det. */
static json_t *box_outputs_items(const model_conf *c, const detect_options *opt,
                                 const glint_context *ctx, const vision_transform *tf, char *err,
                                 size_t err_size)
{
    glint_tensor bx, sc, lb;
    glint_context_output(ctx, c->box_outputs[0], &bx);
    glint_context_output(ctx, c->box_outputs[1], &sc);
    glint_context_output(ctx, c->box_outputs[2], &lb);
    int64_t n = bx.ndim >= 2 ? bx.dims[bx.ndim - 2] : -1;
    int64_t n_sc = 1, n_lb = 1;
    for (int d = 0; d < sc.ndim; d++)
        n_sc *= sc.dims[d];
    for (int d = 0; d < lb.ndim; d++)
        n_lb *= lb.dims[d];
    if (n < 0 || bx.dims[bx.ndim - 1] != 4 || n_sc != n || n_lb != n || sc.dtype != GLINT_F32 ||
        (n && (!bx.data || !sc.data || !lb.data))) {
        snprintf(err, err_size, "output: %lld boxes, %lld scores and %lld labels do not agree",
                 (long long)n, (long long)n_sc, (long long)n_lb);
        return NULL;
    }
    const float *boxes = bx.data, *scores = sc.data;
    json_t *arr = json_array();
    int kept = 0;
    for (int64_t i = 0; arr && i < n && kept < opt->max_det; i++) {
        const float *b = boxes + 4 * i;
        float s = scores[i];
        double id = lb.dtype == GLINT_I64   ? (double)((const int64_t *)lb.data)[i]
                    : lb.dtype == GLINT_I32 ? (double)((const int32_t *)lb.data)[i]
                                            : (double)((const float *)lb.data)[i];
        if (!(s > opt->score_threshold) || !isfinite(s) || !isfinite(b[0]) || !isfinite(b[1]) ||
            !isfinite(b[2]) || !isfinite(b[3]) || !(id >= 0 && id < DETECT_MAX_CLASSES))
            continue;
        int skip;
        json_t *o = box_json(c, tf, b, s, (int)id, &skip);
        if (skip) continue;
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            arr = NULL;
        }
        kept++;
    }
    if (!arr) snprintf(err, err_size, "out of memory");
    return arr;
}

/* text_detect: image b's text boxes, corners in file pixels, in reading order. */
static json_t *text_boxes_items(answer_ws *ws, const model_conf *c, const detect_options *opt,
                                const glint_tensor *out, int b, const vision_transform *tf,
                                char *err, size_t err_size)
{
    if (out->ndim != 4 || out->dims[1] != 1 || b >= out->dims[0] || out->dtype != GLINT_F32) {
        snprintf(err, err_size, "output does not hold image %d's text probability map", b);
        return NULL;
    }
    int h = (int)out->dims[2], w = (int)out->dims[3], n = 0;
    if (grow((void **)&ws->tb, &ws->tb_cap, opt->max_det, sizeof *ws->tb) ||
        (!ws->tw && !(ws->tw = text_det_ws_create()))) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    const float *map = (const float *)out->data + (size_t)b * (size_t)h * (size_t)w;
    text_det_options o = c->text;
    o.max_candidates = opt->max_det;
    if (text_det_decode(ws->tw, map, h, w, &o, ws->tb, opt->max_det, &n)) {
        snprintf(err, err_size, "text: %s", task_last_error());
        return NULL;
    }
    /* the map is the tensor: the picture is what it was stretched from */
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (!text_box_place(&ws->tb[i], w, h, tf->orig_width, tf->orig_height))
            ws->tb[kept++] = ws->tb[i];
    text_boxes_sort(ws->tb, kept);
    json_t *arr = json_array();
    for (int i = 0; arr && i < kept; i++) {
        const text_box *t = &ws->tb[i];
        float x1 = t->pts[0][0], y1 = t->pts[0][1], x2 = x1, y2 = y1;
        json_t *pts = json_array();
        for (int k = 0; pts && k < 4; k++) {
            x1 = fminf(x1, t->pts[k][0]);
            x2 = fmaxf(x2, t->pts[k][0]);
            y1 = fminf(y1, t->pts[k][1]);
            y2 = fmaxf(y2, t->pts[k][1]);
            if (json_array_append_new(pts,
                                      json_pack("[i, i]", (int)t->pts[k][0], (int)t->pts[k][1]))) {
                json_decref(pts);
                pts = NULL;
            }
        }
        json_t *item = pts ? json_pack("{s:s, s:i, s:f, s:{s:f, s:f, s:f, s:f}, s:o}", "label",
                                       "text", "class_id", 0, "score", round_to(t->score, 1e-6),
                                       "box", "x1", (double)x1, "y1", (double)y1, "x2", (double)x2,
                                       "y2", (double)y2, "points", pts)
                           : NULL;
        if (!item || json_array_append_new(arr, item)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!arr) snprintf(err, err_size, "out of memory");
    return arr;
}

/* text_recognize: {"text", "score"} of image b's line. */
static json_t *text_line_items(answer_ws *ws, const model_conf *c, const glint_tensor *out, int b,
                               char *err, size_t err_size)
{
    if (out->ndim != 3 || b >= out->dims[0] || out->dtype != GLINT_F32 || out->dims[2] < 2) {
        snprintf(err, err_size, "output does not hold image %d's CTC class scores", b);
        return NULL;
    }
    int steps = (int)out->dims[1], classes = (int)out->dims[2], n = 0;
    int nchar = task_labels_count(c->labels);
    if (classes != 1 + nchar + c->use_space) {
        snprintf(err, err_size, "output has %d classes per step for %d characters", classes, nchar);
        return NULL;
    }
    float score = 0;
    if (grow((void **)&ws->ids, &ws->ids_cap, steps > 0 ? steps : 1, sizeof *ws->ids)) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    const float *p = (const float *)out->data + (size_t)b * (size_t)steps * (size_t)classes;
    if (text_ctc_decode(p, steps, classes, ws->ids, &n, &score)) {
        snprintf(err, err_size, "text: %s", task_last_error());
        return NULL;
    }
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        char num[TASK_LABELS_NUM_BUF];
        const char *ch =
            ws->ids[i] > nchar ? " " : task_labels_name(c->labels, ws->ids[i] - 1, num, sizeof num);
        size_t len = strlen(ch);
        if (grow((void **)&ws->str, &ws->str_cap, (int)(used + len + 1), 1)) {
            snprintf(err, err_size, "out of memory");
            return NULL;
        }
        memcpy(ws->str + used, ch, len);
        used += len;
    }
    if (grow((void **)&ws->str, &ws->str_cap, (int)used + 1, 1)) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    ws->str[used] = 0;
    json_t *o =
        json_pack("{s:o, s:f}", "text", answer_text(ws->str), "score", round_to(score, 1e-6));
    if (!o) snprintf(err, err_size, "out of memory");
    return o;
}

json_t *answer_items(answer_ws *ws, const model_conf *c, const answer_params *p,
                     const glint_context *ctx, int b, const vision_transform *tf, char *err,
                     size_t err_size)
{
    if (c->task == MODEL_TASK_DETECT && c->layout == DETECT_LAYOUT_BOXES)
        return box_outputs_items(c, &p->detect, ctx, tf, err, err_size);
    glint_tensor out;
    glint_context_output(ctx, c->output, &out);
    if (c->task == MODEL_TASK_DETECT)
        return detect_items(ws, c, &p->detect, &out, b, tf, err, err_size);
    if (c->task == MODEL_TASK_TEXT_DETECT)
        return text_boxes_items(ws, c, &p->detect, &out, b, tf, err, err_size);
    if (c->task == MODEL_TASK_TEXT_RECOGNIZE) return text_line_items(ws, c, &out, b, err, err_size);
    return classify_items(ws, c, p->top_k, &out, b, err, err_size);
}

static json_t *timings_json(const answer_timings *t)
{
    static const char *const names[] = {"decode", "preprocess", "queue", "infer", "post"};
    const double v[] = {t->decode, t->preprocess, t->queue, t->infer, t->post};
    json_t *o = json_object();
    for (size_t i = 0; o && i < sizeof v / sizeof v[0]; i++)
        if (v[i] >= 0 && json_object_set_new(o, names[i], json_real(round_to(v[i], 1e-3)))) {
            json_decref(o);
            o = NULL;
        }
    return o;
}

json_t *answer_object(const model_conf *c, const char *image, const vision_transform *tf,
                      json_t *items, const answer_timings *t)
{
    int detect = c->task == MODEL_TASK_DETECT || c->task == MODEL_TASK_TEXT_DETECT;
    int line = c->task == MODEL_TASK_TEXT_RECOGNIZE; /* items: {"text", "score"} */
    json_t *a = image ? json_pack("{s:o}", "image", answer_text(image)) : json_object();
    json_t *rest =
        json_pack("{s:i, s:i, s:o, s:s}", "width", tf->orig_width, "height", tf->orig_height,
                  "model", answer_text(c->name), "task", model_task_name(c->task));
    int bad = rest && (line ? !json_is_object(items) || json_object_update(rest, items)
                            : json_object_set(rest, detect ? "detections" : "classes", items));
    json_decref(items);
    if (bad) {
        json_decref(rest);
        rest = NULL;
    }
    if (!a || !rest || json_object_update(a, rest)) {
        json_decref(a);
        a = NULL;
    }
    json_decref(rest);
    if (a && t && json_object_set_new(a, "timings_ms", timings_json(t))) {
        json_decref(a);
        a = NULL;
    }
    return a;
}
