/* Camera streams into models, answers out (streams.h). */
#include "serve/streams/streams.h"

#include "media/camera.h"
#include "model/fileio.h"
#include "serve/core/server_impl.h"
#include "serve/core/yaml_json.h"
#include "serve/streams/mqtt.h"
#include "serve/streams/webhook.h"
#include "vision/image.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS 64
#define LAG_RING 256                    /* the last lags kept for /v1/streams' percentiles */
#define FRAME_TIMEOUT_NS 10000000000ull /* a frame's deadline through the model */
#define DETECTOR_SIDE 640               /* frames sent to an edge detector fit in this square */

/* ---- a stream's settings ---- */

typedef struct stream_conf {
    char id[65];
    char *url, *model, *detector, *user, *password, *password_env, *password_file;
    char *transport, *format, *topic, *webhook;
    double fps;
    int roi[4];
    int motion;
    motion_options mo;
    int loop, enabled, timeout_ms;
    double reconnect_max_s;
} stream_conf;

static void conf_dispose(stream_conf *c)
{
    free(c->url);
    free(c->model);
    free(c->detector);
    free(c->user);
    if (c->password) memset(c->password, 0, strlen(c->password));
    free(c->password);
    free(c->password_env);
    free(c->password_file);
    free(c->transport);
    free(c->format);
    free(c->topic);
    free(c->webhook);
    memset(c, 0, sizeof *c);
}

static int valid_id(const char *s, size_t n)
{
    if (n < 1 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

static int take_str(json_t *v, const char *key, char **out, char *err, size_t cap)
{
    if (!json_is_string(v) || !json_string_length(v)) {
        snprintf(err, cap, "'%s' must be a non-empty string", key);
        return -1;
    }
    *out = strdup(json_string_value(v));
    if (!*out) snprintf(err, cap, "out of memory");
    return *out ? 0 : -1;
}

static int take_num(json_t *v, const char *key, double lo, double hi, double *out, char *err,
                    size_t cap)
{
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
        snprintf(err, cap, "'%s' must be a number from %g to %g", key, lo, hi);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

static int take_bool(json_t *v, const char *key, int *out, char *err, size_t cap)
{
    if (!json_is_boolean(v)) {
        snprintf(err, cap, "'%s' must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

static int parse_motion(json_t *v, stream_conf *c, char *err, size_t cap)
{
    motion_options_default(&c->mo);
    if (json_is_boolean(v)) {
        c->motion = json_is_true(v);
        return 0;
    }
    if (!json_is_object(v)) {
        snprintf(err, cap, "'motion' must be true, false or a mapping");
        return -1;
    }
    c->motion = 1;
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x)
    {
        double d;
        if (!strcmp(k, "enabled")) {
            if (take_bool(x, "motion.enabled", &c->motion, err, cap)) return -1;
        } else if (!strcmp(k, "threshold")) {
            if (take_num(x, "motion.threshold", 1, 255, &d, err, cap)) return -1;
            c->mo.threshold = (int)d;
        } else if (!strcmp(k, "min_area")) {
            if (take_num(x, "motion.min_area", 1, 1e6, &d, err, cap)) return -1;
            c->mo.min_area = (int)d;
        } else if (!strcmp(k, "alpha")) {
            if (take_num(x, "motion.alpha", 0.001, 1, &c->mo.alpha, err, cap)) return -1;
        } else if (!strcmp(k, "lighting")) {
            if (take_num(x, "motion.lighting", 0.01, 1, &c->mo.lighting, err, cap)) return -1;
        } else if (!strcmp(k, "cooldown_s")) {
            if (take_num(x, "motion.cooldown_s", 0, 3600, &c->mo.cooldown_s, err, cap)) return -1;
        } else if (!strcmp(k, "heartbeat_s")) {
            if (take_num(x, "motion.heartbeat_s", 0, 86400, &c->mo.heartbeat_s, err, cap))
                return -1;
        } else {
            snprintf(err, cap,
                     "unknown key 'motion.%s' (threshold, min_area, alpha, lighting, cooldown_s, "
                     "heartbeat_s, enabled)",
                     k);
            return -1;
        }
    }
    return 0;
}

/* A stream's settings from its JSON object (the file's entry or a PUT's
 * body; id: the path's, or NULL to take the object's). 0, or -1 with err. */
static int conf_parse(json_t *o, const char *id, stream_conf *c, char *err, size_t cap)
{
    memset(c, 0, sizeof *c);
    c->fps = 5;
    c->loop = 1;
    c->enabled = 1;
    motion_options_default(&c->mo);
    if (!json_is_object(o)) {
        snprintf(err, cap, "a stream is a mapping (id, url, model, ...)");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        double d = 0;
        int rc = 0;
        if (!strcmp(k, "id")) {
            if (!json_is_string(v) || !valid_id(json_string_value(v), json_string_length(v))) {
                snprintf(err, cap, "'id' must be 1-64 letters, digits, '-' or '_'");
                goto fail;
            }
            if (id && strcmp(id, json_string_value(v))) {
                snprintf(err, cap, "the body's id '%s' is not the path's '%s'",
                         json_string_value(v), id);
                goto fail;
            }
            snprintf(c->id, sizeof c->id, "%s", json_string_value(v));
        } else if (!strcmp(k, "url")) {
            rc = take_str(v, k, &c->url, err, cap);
        } else if (!strcmp(k, "model")) {
            rc = take_str(v, k, &c->model, err, cap);
        } else if (!strcmp(k, "detector")) {
            rc = take_str(v, k, &c->detector, err, cap);
        } else if (!strcmp(k, "user")) {
            rc = take_str(v, k, &c->user, err, cap);
        } else if (!strcmp(k, "password")) {
            rc = take_str(v, k, &c->password, err, cap);
        } else if (!strcmp(k, "password_env")) {
            rc = take_str(v, k, &c->password_env, err, cap);
        } else if (!strcmp(k, "password_file")) {
            rc = take_str(v, k, &c->password_file, err, cap);
        } else if (!strcmp(k, "transport")) {
            rc = take_str(v, k, &c->transport, err, cap);
            if (!rc && strcmp(c->transport, "tcp") && strcmp(c->transport, "udp")) {
                snprintf(err, cap, "'transport' must be tcp or udp");
                goto fail;
            }
        } else if (!strcmp(k, "format")) {
            rc = take_str(v, k, &c->format, err, cap);
        } else if (!strcmp(k, "topic")) {
            rc = take_str(v, k, &c->topic, err, cap);
        } else if (!strcmp(k, "webhook")) {
            rc = take_str(v, k, &c->webhook, err, cap);
            if (!rc && strncmp(c->webhook, "http://", 7) && strncmp(c->webhook, "https://", 8)) {
                snprintf(err, cap, "'webhook' must be an http:// or https:// URL");
                goto fail;
            }
        } else if (!strcmp(k, "fps")) {
            rc = take_num(v, k, 0, 1000, &c->fps, err, cap);
        } else if (!strcmp(k, "roi")) {
            if (!json_is_array(v) || json_array_size(v) != 4) {
                snprintf(err, cap, "'roi' must be [x, y, width, height] in the stream's pixels");
                goto fail;
            }
            for (int i = 0; i < 4; i++) {
                json_t *e = json_array_get(v, (size_t)i);
                if (!json_is_integer(e) || json_integer_value(e) < (i < 2 ? 0 : 1) ||
                    json_integer_value(e) > 65535) {
                    snprintf(err, cap,
                             "'roi' must be [x, y, width, height]: x, y >= 0, "
                             "width, height >= 1 (integers)");
                    goto fail;
                }
                c->roi[i] = (int)json_integer_value(e);
            }
        } else if (!strcmp(k, "motion")) {
            rc = parse_motion(v, c, err, cap);
        } else if (!strcmp(k, "loop")) {
            rc = take_bool(v, k, &c->loop, err, cap);
        } else if (!strcmp(k, "enabled")) {
            rc = take_bool(v, k, &c->enabled, err, cap);
        } else if (!strcmp(k, "timeout_ms")) {
            rc = take_num(v, k, 100, 600000, &d, err, cap);
            c->timeout_ms = (int)d;
        } else if (!strcmp(k, "reconnect_max_s")) {
            rc = take_num(v, k, 0.5, 3600, &c->reconnect_max_s, err, cap);
        } else {
            snprintf(err, cap,
                     "unknown key '%s' (id, url, model, detector, fps, roi, motion, transport, "
                     "format, webhook, "
                     "user, password_env, password_file, topic, loop, enabled, timeout_ms, "
                     "reconnect_max_s)",
                     k);
            goto fail;
        }
        if (rc) goto fail;
    }
    if (id) snprintf(c->id, sizeof c->id, "%s", id);
    if (!c->id[0]) {
        snprintf(err, cap, "a stream needs an 'id'");
        goto fail;
    }
    if (!c->url || !c->model == !c->detector) {
        snprintf(err, cap,
                 "stream %s needs a 'url' and a 'model' or a 'detector' (a Groundlight edge "
                 "detector: its confidence gating and escalation apply)",
                 c->id);
        goto fail;
    }
    if (!!c->password + !!c->password_env + !!c->password_file > 1) {
        snprintf(err, cap, "stream %s: one of password, password_env, password_file", c->id);
        goto fail;
    }
    return 0;
fail:
    conf_dispose(c);
    return -1;
}

/* The password the settings name (env or file), into buf. 0, or -1 with err. */
static int conf_password(const stream_conf *c, char *buf, size_t cap, char *err, size_t ecap)
{
    buf[0] = 0;
    if (c->password) {
        snprintf(buf, cap, "%s", c->password);
    } else if (c->password_env) {
        const char *v = getenv(c->password_env);
        if (!v) {
            snprintf(err, ecap, "stream %s: environment variable %s is not set", c->id,
                     c->password_env);
            return -1;
        }
        snprintf(buf, cap, "%s", v);
    } else if (c->password_file) {
        size_t n = 0;
        char *t = (char *)fileio_read(c->password_file, 4096, &n);
        if (!t) {
            snprintf(err, ecap, "stream %s: password_file %s: %s", c->id, c->password_file,
                     strerror(errno));
            return -1;
        }
        size_t l = strcspn(t, "\r\n");
        snprintf(buf, cap, "%.*s", (int)l, t);
        memset(t, 0, n);
        free(t);
    }
    return 0;
}

/* ---- a running stream ---- */

typedef struct streams streams;

typedef struct stream {
    streams *owner; /* NULL once the module stopped (an orphan finishing its frame) */
    stream_conf conf;
    camera *cam;
    atomic_int wake;           /* a new frame since the loop last looked */
    int busy;                  /* a frame in flight */
    int dead;                  /* removed: freed when its frame comes back */
    camera_frame work, shown;  /* the frame in flight; the last analysed */
    vision_image img;          /* wraps work for the pipeline */
    json_t *last;              /* the last answer (with `shown`) */
    char model_name[128];      /* the model that answered last */
    char error[SERVE_ERR_MAX]; /* the last inference failure, "" if none */
    uint64_t analysed, failed, refused, published;
    double lag_ms[LAG_RING];
    uint64_t n_lags;
    metrics_histogram lag;
    /* a frame for an edge detector is encoded on a worker (never on the loop) */
    atomic_int enc;    /* ENC_*: who owns the encoding under way */
    workq_job enc_job; /* the worker's */
    int enc_fd;        /* the pipe that tells the loop it is done */
    vision_status enc_status;
    uint8_t *jpg;
    size_t jpg_len;
} stream;

enum { ENC_IDLE, ENC_RUNNING, ENC_DONE, ENC_ABANDONED };

struct streams {
    server *s;
    stream *list[MAX_STREAMS];
    int n;
    int pipe_r, pipe_w;
    h2o_socket_t *sock;
    mqtt_pub *mqtt;
    char *prefix;          /* MQTT topics: <prefix>/<id>/<model> */
    webhook_outbox *hooks; /* opened with the first stream that has a webhook */
    json_t *api;           /* PUT/DELETE since the file: {"put": {id: body}, "deleted": [id]} */
    char *api_path;        /* where they are kept: <state dir>/streams-api.json */
};

typedef struct stream_req {
    stream *st;
    answer_params params;
} stream_req;

static void stream_free(stream *st)
{
    camera_stop(st->cam);
    camera_frame_free(&st->work);
    camera_frame_free(&st->shown);
    json_decref(st->last);
    conf_dispose(&st->conf);
    free(st);
}

/* Removes st: now, or when its frame comes back. */
static void stream_drop(stream *st)
{
    camera_stop(st->cam);
    st->cam = NULL;
    st->dead = 1;
    st->owner = NULL;
    int e = ENC_RUNNING;
    if (atomic_compare_exchange_strong(&st->enc, &e, ENC_ABANDONED)) return; /* the worker frees */
    if (e == ENC_DONE) { /* encoded, not sent yet: nothing else holds st */
        free(st->jpg);
        st->busy = 0;
    }
    if (!st->busy) stream_free(st);
}

static void on_camera_frame(void *arg)
{
    stream *st = arg;
    streams *ss = st->owner;
    if (ss && !atomic_exchange(&st->wake, 1)) {
        char b = 1;
        ssize_t w = write(ss->pipe_w, &b, 1); /* full: the loop is awake already */
        (void)w;
    }
}

static void dispatch(stream *st);

/* The analysis size of a model's frames: its input's; a pipeline that
 * crops gets 4 times its detector's (at most 1280), so that its crops keep
 * detail. */
static void model_size(server *s, const char *name, int *w, int *h)
{
    int status;
    char err[SERVE_ERR_MAX];
    repo_model *m = serve_route_model(s, name, strlen(name), NULL, 0, &status, err, sizeof err);
    *w = m ? m->conf->spec.width : 640;
    *h = m ? m->conf->spec.height : 640;
    if (m && m->chain && m->chain->mode == CHAIN_CROP) {
        *w = *w * 4 > 1280 ? (*w > 1280 ? *w : 1280) : *w * 4;
        *h = *h * 4 > 1280 ? (*h > 1280 ? *h : 1280) : *h * 4;
    }
    repo_model_release(m);
}

/* Starts a stream with settings c (taken). NULL with err. */
static stream *stream_start(streams *ss, stream_conf *c, char *err, size_t cap)
{
    int status;
    repo_model *m =
        c->model ? serve_route_model(ss->s, c->model, strlen(c->model), NULL, 0, &status, err, cap)
                 : NULL;
    if (c->model && !m) {
        char why[SERVE_ERR_MAX];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, cap, "stream %s: %s", c->id, why);
        conf_dispose(c);
        return NULL;
    }
    repo_model_release(m);
    if (c->webhook && !ss->hooks &&
        !(ss->hooks = webhook_open(ss->s->opt.state_dir, 10000, err, cap))) {
        conf_dispose(c);
        return NULL;
    }
    stream *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, cap, "out of memory");
        conf_dispose(c);
        return NULL;
    }
    st->owner = ss;
    st->conf = *c;
    memset(c, 0, sizeof *c);
    metrics_histogram_init(&st->lag, metrics_latency_bounds, METRICS_LATENCY_BOUNDS_COUNT,
                           METRICS_SCALE_NANO);
    if (!st->conf.enabled) return st;
    char pw[1024];
    if (conf_password(&st->conf, pw, sizeof pw, err, cap)) {
        stream_free(st);
        return NULL;
    }
    camera_options o = {.url = st->conf.url,
                        .user = st->conf.user,
                        .password = pw,
                        .transport = st->conf.transport,
                        .format = st->conf.format,
                        .fps = st->conf.fps,
                        .motion = st->conf.motion,
                        .mo = st->conf.mo,
                        .loop = st->conf.loop,
                        .timeout_ms = st->conf.timeout_ms,
                        .reconnect_max_s = st->conf.reconnect_max_s,
                        .on_frame = on_camera_frame,
                        .arg = st};
    memcpy(o.roi, st->conf.roi, sizeof o.roi);
    if (st->conf.model)
        model_size(ss->s, st->conf.model, &o.out_w, &o.out_h);
    else /* a detector's frames go as JPEGs: the edge model resizes them */
        o.out_w = o.out_h = DETECTOR_SIDE;
    char cerr[CAMERA_ERR_MAX];
    st->cam = camera_start(&o, cerr, sizeof cerr);
    memset(pw, 0, sizeof pw);
    if (!st->cam) {
        snprintf(err, cap, "stream %s: %s", st->conf.id, cerr);
        stream_free(st);
        return NULL;
    }
    return st;
}

/* ---- frames through the model ---- */

static int frame_ran(sitem *it, const batch_result *res)
{
    stream_req *p = it->owner->proto;
    return pipeline_answer(it, res, &p->params);
}

static void frame_finished(sreq *r)
{
    sitem *it = &r->items[0];
    if (it->status == 200)
        r->status = 200;
    else
        sreq_set_error(r, it->status ? it->status : 500, "%s", it->err);
    sreq_finish(r);
}

static const char *motion_name(motion_verdict v, int gated)
{
    if (!gated) return "ungated";
    switch (v) {
    case MOTION_PASS:
        return "motion";
    case MOTION_COOLDOWN:
        return "cooldown";
    case MOTION_HEARTBEAT:
        return "heartbeat";
    case MOTION_GATED:
        return "gated";
    }
    return "?";
}

static void iso_ms(int64_t ms, char *buf, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03dZ", (int)(ms % 1000));
}

/* Moves the answer's boxes from the region's pixels to the frame's. */
static void shift_boxes(json_t *answer, int dx, int dy)
{
    json_t *dets = json_object_get(answer, "detections");
    size_t i;
    json_t *d;
    if (!json_is_array(dets) || (!dx && !dy)) return;
    json_array_foreach(dets, i, d)
    {
        static const char *const keys[] = {"x1", "y1", "x2", "y2"};
        for (int c = 0; c < 2; c++) { /* its box, and a pipeline's crop */
            json_t *b = json_object_get(d, c ? "crop" : "box");
            for (int k = 0; k < 4; k++) {
                json_t *v = json_object_get(b, keys[k]);
                if (json_is_number(v))
                    json_object_set_new(b, keys[k],
                                        json_real(json_number_value(v) + ((k & 1) ? dy : dx)));
            }
        }
    }
}

/* A webhook's message on its way to the outbox (a worker writes it: the
 * database syncs). */
typedef struct hook_job {
    workq_job job;
    webhook_outbox *w;
    char *body;
    char url[];
} hook_job;

static void hook_write(workq_job *job)
{
    hook_job *h = (hook_job *)job;
    char err[256];
    if (webhook_add(h->w, h->url, h->body, strlen(h->body), err, sizeof err))
        fprintf(stderr, "glint serve: %s\n", err);
    free(h->body);
    free(h);
}

/* Sends st's latest answer out: MQTT and the webhook, one JSON text for both. */
static void publish(stream *st, streams *ss)
{
    int hook = st->conf.webhook && ss->hooks;
    if ((!ss->mqtt && !hook) || !st->last) return;
    char *body = json_dumps(st->last, JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (!body) return;
    if (ss->mqtt) {
        char topic[512];
        if (st->conf.topic)
            snprintf(topic, sizeof topic, "%s", st->conf.topic);
        else
            snprintf(topic, sizeof topic, "%s/%s/%s", ss->prefix, st->conf.id, st->model_name);
        if (!mqtt_pub_publish(ss->mqtt, topic, body, strlen(body), 1)) st->published++;
    }
    size_t n = hook ? strlen(st->conf.webhook) + 1 : 0;
    hook_job *h = hook ? malloc(sizeof *h + n) : NULL;
    if (!h) {
        free(body);
        return;
    }
    h->job.fn = hook_write;
    h->w = ss->hooks;
    h->body = body; /* the worker frees it */
    memcpy(h->url, st->conf.webhook, n);
    workq_push(ss->s->workers, &h->job);
}

/* An answer for st's frame in flight (a taken); now the stream's latest. */
static void answered(stream *st, json_t *a)
{
    uint64_t now = serve_now_ns();
    double lag = (double)(now - st->work.captured_ns) / 1e6;
    st->lag_ms[st->n_lags++ % LAG_RING] = lag;
    metrics_histogram_observe(&st->lag, lag / 1e3);
    st->analysed++;
    st->error[0] = 0;
    char when[40];
    iso_ms(st->work.captured_wall_ms, when, sizeof when);
    camera_status cs = {0};
    if (st->cam) camera_get_status(st->cam, &cs);
    json_object_set_new(a, "stream", json_string(st->conf.id));
    json_object_set_new(a, "frame", json_integer((json_int_t)st->work.seq));
    json_object_set_new(a, "captured_at", json_string(when));
    json_object_set_new(a, "lag_ms", json_real(round(lag * 1000) / 1000));
    json_object_set_new(a, "motion", json_string(motion_name(st->work.motion, st->conf.motion)));
    if (cs.width > 0) {
        json_object_set_new(a, "width", json_integer(cs.width));
        json_object_set_new(a, "height", json_integer(cs.height));
    }
    if (st->conf.roi[2])
        json_object_set_new(a, "roi",
                            json_pack("[iiii]", st->conf.roi[0], st->conf.roi[1], st->conf.roi[2],
                                      st->conf.roi[3]));
    json_decref(st->last);
    st->last = a;
    camera_frame t = st->shown;
    st->shown = st->work;
    st->work = t;
    if (st->owner) publish(st, st->owner);
    dispatch(st);
}

/* A frame that got no answer: counted, the reason kept. */
static void unanswered(stream *st, const char *why, size_t len)
{
    st->failed++;
    snprintf(st->error, sizeof st->error, "%.*s", (int)(len < 200 ? len : 200), why);
    dispatch(st);
}

static void frame_on_loop(sreq *r)
{
    stream_req *p = r->proto;
    stream *st = p->st;
    st->busy = 0;
    if (st->dead) {
        stream_free(st);
        return;
    }
    sitem *it = &r->items[0];
    if (r->status != 200 || !it->answer) {
        unanswered(st, r->resp ? r->resp : "no answer", r->resp ? r->resp_len : 9);
        return;
    }
    snprintf(st->model_name, sizeof st->model_name, "%s", r->rm ? r->rm->name : st->conf.model);
    json_t *a = it->answer;
    it->answer = NULL;
    json_object_del(a, "image");
    shift_boxes(a, st->work.src_x, st->work.src_y);
    json_object_set_new(a, "model", json_string(st->model_name));
    if (strcmp(st->model_name, st->conf.model)) {
        json_object_set_new(a, "split", json_string(st->conf.model));
        json_object_set_new(a, "version", json_string(st->model_name));
    }
    answered(st, a);
}

/* The edge's answer to a frame sent to a detector: an image query. */
static void on_image_query(void *arg, int status, const char *body, size_t len)
{
    stream *st = arg;
    st->busy = 0;
    if (st->dead) {
        stream_free(st);
        return;
    }
    json_t *iq = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    if (!iq) {
        unanswered(st, len ? body : "no answer", len ? len : 9);
        return;
    }
    snprintf(st->model_name, sizeof st->model_name, "%s", st->conf.detector);
    answered(st, json_pack("{s:s,s:o}", "detector", st->conf.detector, "image_query", iq));
}

/* workq job: st's frame in flight as a JPEG for its edge detector; the
 * loop sends it (on_wake). A stream dropped meanwhile is freed here. */
static void encode_job(workq_job *job)
{
    stream *st = H2O_STRUCT_FROM_MEMBER(stream, enc_job, job);
    camera_frame *f = &st->work;
    int fd = st->enc_fd;
    st->enc_status =
        vision_encode_jpeg(f->rgb, f->w, f->h, (size_t)f->w * 3, 90, &st->jpg, &st->jpg_len);
    int e = ENC_RUNNING;
    if (!atomic_compare_exchange_strong(&st->enc, &e, ENC_DONE)) { /* abandoned */
        free(st->jpg);
        stream_free(st);
        return;
    }
    char b = 1; /* st may be freed by the loop from here on */
    ssize_t w = write(fd, &b, 1);
    (void)w;
}

/* Sends st's frame in flight to its edge detector: encoded on a worker,
 * then to_detector_send. */
static void to_detector(stream *st)
{
    st->busy = 1;
    st->enc_fd = st->owner->pipe_w;
    atomic_store(&st->enc, ENC_RUNNING);
    st->enc_job.fn = encode_job;
    workq_push(st->owner->s->workers, &st->enc_job);
}

/* The JPEG is ready (loop): to the edge, whose answer comes to
 * on_image_query. */
static void to_detector_send(stream *st)
{
    char err[SERVE_ERR_MAX], target[160], client[96];
    uint8_t *jpg = st->jpg;
    st->jpg = NULL;
    if (st->enc_status) {
        st->busy = 0;
        st->failed++;
        snprintf(st->error, sizeof st->error, "cannot encode the frame: %s",
                 vision_strerror(st->enc_status));
        dispatch(st);
        return;
    }
    snprintf(target, sizeof target, "detector:%s", st->conf.detector);
    snprintf(client, sizeof client, "stream:%s", st->conf.id);
    int rc = serve_submit_image(st->owner->s, target, jpg, st->jpg_len, client, on_image_query, st,
                                err, sizeof err);
    free(jpg);
    if (rc) {
        st->busy = 0;
        st->refused++;
        snprintf(st->error, sizeof st->error, "%s", err);
    }
}

static const sreq_ops frame_ops = {
    .item_ran = frame_ran, .finished = frame_finished, .on_loop = frame_on_loop};

/* Sends st's latest frame to its model, if it has one and nothing is in
 * flight. Loop thread. */
static void dispatch(stream *st)
{
    streams *ss = st->owner;
    if (!ss || st->busy || st->dead || !st->cam || ss->s->draining) return;
    atomic_store(&st->wake, 0);
    if (camera_take(st->cam, &st->work) != 1) return;
    if (st->conf.detector) {
        to_detector(st);
        return;
    }
    server *s = ss->s;
    char client[96], err[SERVE_ERR_MAX];
    int cl = snprintf(client, sizeof client, "stream:%s", st->conf.id), status;
    repo_model *m = serve_route_model(s, st->conf.model, strlen(st->conf.model), client, (size_t)cl,
                                      &status, err, sizeof err);
    if (!m) {
        st->failed++;
        snprintf(st->error, sizeof st->error, "%s", err);
        return;
    }
    sreq *r = sreq_create(s, NULL, m, &frame_ops, sizeof(stream_req));
    if (!r || sreq_items(r, 1)) {
        sreq_destroy(r);
        st->failed++;
        snprintf(st->error, sizeof st->error, "out of memory");
        return;
    }
    stream_req *p = r->proto;
    p->st = st;
    p->params = answer_params_of(m->conf);
    r->deadline_ns = r->t_start + FRAME_TIMEOUT_NS;
    st->img = (vision_image){.pixels = st->work.rgb,
                             .width = st->work.w,
                             .height = st->work.h,
                             .stride = (size_t)st->work.w * 3,
                             .orig_width = st->work.src_w,
                             .orig_height = st->work.src_h,
                             .scale_num = 1,
                             .scale_denom = 1};
    r->items[0].pixels = &st->img;
    if (sreq_admit(r, 1, err, sizeof err)) { /* the model's queue is full: skip this frame */
        st->refused++;
        snprintf(st->error, sizeof st->error, "%s", err);
        sreq_destroy(r);
        return;
    }
    st->busy = 1;
    sreq_track(r);
    pipeline_submit_images(r);
}

static void on_wake(h2o_socket_t *sock, const char *err)
{
    streams *ss = sock->data;
    if (err) return;
    h2o_buffer_consume(&sock->input, sock->input->size);
    for (int i = 0; i < ss->n; i++) {
        stream *st = ss->list[i];
        int e = ENC_DONE;
        if (atomic_compare_exchange_strong(&st->enc, &e, ENC_IDLE)) to_detector_send(st);
        if (atomic_load(&st->wake)) dispatch(st);
    }
}

/* ---- the set of streams ---- */

static int find(const streams *ss, const char *id, size_t n)
{
    for (int i = 0; i < ss->n; i++)
        if (strlen(ss->list[i]->conf.id) == n && !memcmp(ss->list[i]->conf.id, id, n)) return i;
    return -1;
}

/* Adds (or replaces) a stream. 1 added, 0 replaced, -1 with err. */
static int put_stream(streams *ss, stream_conf *c, char *err, size_t cap)
{
    int i = find(ss, c->id, strlen(c->id));
    if (i < 0 && ss->n >= MAX_STREAMS) {
        snprintf(err, cap, "at most %d streams", MAX_STREAMS);
        conf_dispose(c);
        return -1;
    }
    stream *st = stream_start(ss, c, err, cap);
    if (!st) return -1;
    if (i >= 0) {
        stream_drop(ss->list[i]);
        ss->list[i] = st;
        return 0;
    }
    ss->list[ss->n++] = st;
    return 1;
}

static int start_mqtt(streams *ss, const char *url, char *err, size_t cap)
{
    mqtt_pub_options o;
    mqtt_pub_options_init(&o);
    o.url = url;
    char merr[256];
    if (!(ss->mqtt = mqtt_pub_create(&o, merr, sizeof merr))) {
        snprintf(err, cap, "mqtt: %s", merr);
        return -1;
    }
    return 0;
}

/* Reads --streams FILE: its MQTT settings (the --mqtt flag wins) and its
 * streams, each started. 0, or -1 with err. */
static int load_file(streams *ss, const char *path, char *err, size_t cap)
{
    size_t len = 0;
    char *text = (char *)fileio_read(path, (size_t)1 << 20, &len);
    if (!text) {
        snprintf(err, cap, "--streams %s: %s", path, strerror(errno));
        return -1;
    }
    char why[SERVE_ERR_MAX];
    json_t *doc = yaml_to_json(text, len, why, sizeof why);
    free(text);
    if (!doc) {
        snprintf(err, cap, "--streams %s: %s", path, why);
        return -1;
    }
    int rc = -1;
    json_t *list = json_object_get(doc, "streams");
    json_t *mq = json_object_get(doc, "mqtt"), *px = json_object_get(doc, "mqtt_topic_prefix");
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v)
    {
        if (strcmp(k, "streams") && strcmp(k, "mqtt") && strcmp(k, "mqtt_topic_prefix")) {
            snprintf(err, cap, "--streams %s: unknown key '%s' (streams, mqtt, mqtt_topic_prefix)",
                     path, k);
            goto out;
        }
    }
    if (!json_is_array(list)) {
        snprintf(err, cap, "--streams %s: expected 'streams:' with a list of streams", path);
        goto out;
    }
    if ((mq && !json_is_string(mq)) || (px && (!json_is_string(px) || !json_string_length(px)))) {
        snprintf(err, cap, "--streams %s: 'mqtt' and 'mqtt_topic_prefix' are strings", path);
        goto out;
    }
    if (px) {
        free(ss->prefix);
        if (!(ss->prefix = strdup(json_string_value(px)))) {
            snprintf(err, cap, "out of memory");
            goto out;
        }
    }
    if (mq && !ss->mqtt && start_mqtt(ss, json_string_value(mq), err, cap)) goto out;
    size_t i;
    json_array_foreach(list, i, v)
    {
        stream_conf c;
        if (conf_parse(v, NULL, &c, why, sizeof why)) {
            snprintf(err, cap, "--streams %s: stream %zu: %s", path, i + 1, why);
            goto out;
        }
        if (find(ss, c.id, strlen(c.id)) >= 0) {
            snprintf(err, cap, "--streams %s: two streams called '%s'", path, c.id);
            conf_dispose(&c);
            goto out;
        }
        if (put_stream(ss, &c, why, sizeof why) < 0) {
            snprintf(err, cap, "--streams %s: %s", path, why);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

/* ---- JSON views ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static json_t *stream_json(const streams *ss, stream *st)
{
    (void)ss;
    const stream_conf *c = &st->conf;
    camera_status cs = {0};
    if (st->cam) camera_get_status(st->cam, &cs);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(c->id));
    json_object_set_new(o, "url", json_string(st->cam ? camera_url_shown(st->cam) : c->url));
    json_object_set_new(o, c->model ? "model" : "detector",
                        json_string(c->model ? c->model : c->detector));
    json_object_set_new(o, "enabled", json_boolean(c->enabled));
    if (c->webhook) json_object_set_new(o, "webhook", json_string(c->webhook));
    json_object_set_new(o, "fps", json_real(c->fps));
    if (c->roi[2])
        json_object_set_new(o, "roi",
                            json_pack("[iiii]", c->roi[0], c->roi[1], c->roi[2], c->roi[3]));
    if (c->motion)
        json_object_set_new(o, "motion",
                            json_pack("{s:i,s:i,s:f,s:f}", "threshold", c->mo.threshold, "min_area",
                                      c->mo.min_area, "cooldown_s", c->mo.cooldown_s, "heartbeat_s",
                                      c->mo.heartbeat_s));
    else
        json_object_set_new(o, "motion", json_false());
    const char *state = !c->enabled ? "disabled" : camera_state_name(cs.state);
    json_object_set_new(o, "state", json_string(state));
    json_object_set_new(o, "error", json_string(cs.error[0] ? cs.error : st->error));
    json_object_set_new(o, "codec", json_string(cs.codec));
    json_object_set_new(o, "width", json_integer(cs.width));
    json_object_set_new(o, "height", json_integer(cs.height));
    json_object_set_new(o, "stream_fps", json_real(round(cs.stream_fps * 1000) / 1000));
    json_object_set_new(o, "lowres", json_integer(cs.lowres));
    double decode_ms = cs.decoded ? (double)cs.decode_ns / 1e6 / (double)cs.decoded : 0;
    json_object_set_new(o, "frames",
                        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "decoded",
                                  (json_int_t)cs.decoded, "skipped", (json_int_t)cs.skipped,
                                  "gated", (json_int_t)cs.gated, "passed", (json_int_t)cs.passed,
                                  "heartbeats", (json_int_t)cs.heartbeats, "dropped",
                                  (json_int_t)cs.dropped, "analysed", (json_int_t)st->analysed,
                                  "failed", (json_int_t)st->failed, "refused",
                                  (json_int_t)st->refused, "published", (json_int_t)st->published));
    json_object_set_new(o, "decode_ms_per_frame", json_real(round(decode_ms * 1000) / 1000));
    json_object_set_new(o, "connects", json_integer((json_int_t)cs.connects));
    json_object_set_new(o, "attempts", json_integer((json_int_t)cs.attempts));
    uint64_t n = st->n_lags < LAG_RING ? st->n_lags : LAG_RING;
    if (n) {
        double v[LAG_RING];
        memcpy(v, st->lag_ms, n * sizeof *v);
        qsort(v, n, sizeof *v, cmp_double);
        double p50 = v[(n - 1) / 2], p99 = v[(size_t)((double)(n - 1) * 0.99)];
        json_object_set_new(o, "lag_ms",
                            json_pack("{s:f,s:f,s:f,s:f}", "last",
                                      st->lag_ms[(st->n_lags - 1) % LAG_RING], "p50", p50, "p99",
                                      p99, "max", v[n - 1]));
    }
    return o;
}

/* ---- what the API changed, kept across restarts ---- */

/* Writes ss->api to its file (tmp, fsync, rename; 0600: a PUT may hold a
 * password). Logged if it fails: the change stands until the restart. */
static void api_save(streams *ss)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", ss->api_path);
    mkdir(ss->s->opt.state_dir, 0700); /* may exist; other failures: open's below */
    char *text = json_dumps(ss->api, JSON_INDENT(2));
    int fd = text ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    size_t n = text ? strlen(text) : 0;
    int ok = fd >= 0 && write(fd, text, n) == (ssize_t)n && !fsync(fd);
    if (fd >= 0) close(fd);
    if (!ok || rename(tmp, ss->api_path))
        fprintf(stderr, "glint serve: streams changed through the API not saved to %s: %s\n",
                ss->api_path, strerror(errno));
    free(text);
}

static void api_note(streams *ss, const char *id, json_t *body)
{
    json_t *put = json_object_get(ss->api, "put"), *del = json_object_get(ss->api, "deleted");
    size_t i;
    json_t *v;
    json_array_foreach(del, i, v)
    {
        if (!strcmp(json_string_value(v), id)) {
            json_array_remove(del, i);
            break;
        }
    }
    if (body) {
        json_object_set(put, id, body);
    } else {
        json_object_del(put, id);
        json_array_append_new(del, json_string(id));
    }
    api_save(ss);
}

/* Applies the API's changes kept from before (after the file's streams). A
 * change that no longer works (its model is gone) is logged and skipped. */
static int api_load(streams *ss, char *err, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/streams-api.json", ss->s->opt.state_dir);
    if (!(ss->api_path = strdup(path))) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    json_error_t je;
    json_t *j = access(path, F_OK) ? NULL : json_load_file(path, 0, &je);
    if (!access(path, F_OK) && !json_is_object(j)) {
        fprintf(stderr, "glint serve: %s unreadable (%s): the API's stream changes start over\n",
                path, j ? "not an object" : je.text);
        json_decref(j);
        j = NULL;
    }
    ss->api = j ? j : json_object();
    if (!json_is_object(json_object_get(ss->api, "put")))
        json_object_set_new(ss->api, "put", json_object());
    if (!json_is_array(json_object_get(ss->api, "deleted")))
        json_object_set_new(ss->api, "deleted", json_array());
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(ss->api, "deleted"), i, v)
    {
        int k = json_is_string(v) ? find(ss, json_string_value(v), json_string_length(v)) : -1;
        if (k < 0) continue;
        stream_drop(ss->list[k]);
        ss->list[k] = ss->list[--ss->n];
    }
    const char *id;
    json_object_foreach(json_object_get(ss->api, "put"), id, v)
    {
        stream_conf c;
        char why[SERVE_ERR_MAX];
        if (!valid_id(id, strlen(id)) || conf_parse(v, id, &c, why, sizeof why) ||
            put_stream(ss, &c, why, sizeof why) < 0)
            fprintf(stderr, "glint serve: stream %.64s from the API not started: %s\n", id, why);
    }
    return 0;
}

/* ---- routes ---- */

static void respond_stream_list(server *s, streams *ss, h2o_req_t *req)
{
    (void)s;
    json_t *a = json_array();
    for (int i = 0; i < ss->n; i++)
        json_array_append_new(a, stream_json(ss, ss->list[i]));
    serve_respond_json(req, 200, json_pack("{s:o}", "streams", a));
}

static void respond_latest_jpg(server *s, stream *st, h2o_req_t *req)
{
    if (!st->last || !st->shown.rgb) {
        serve_respond_error(s, req, 404, "stream %s has no analysed frame yet", st->conf.id);
        return;
    }
    camera_frame *f = &st->shown;
    size_t n = (size_t)f->w * (size_t)f->h * 3;
    uint8_t *pic = malloc(n);
    if (!pic) {
        serve_respond_error(s, req, 500, "out of memory");
        return;
    }
    memcpy(pic, f->rgb, n);
    json_t *dets = json_object_get(st->last, "detections");
    size_t i;
    json_t *d;
    double sx = (double)f->w / f->src_w, sy = (double)f->h / f->src_h;
    int thick = f->w >= 640 ? 3 : 2;
    static const uint8_t color[3] = {255, 40, 40};
    json_array_foreach(dets, i, d)
    {
        json_t *b = json_object_get(d, "box");
        float box[4] = {(float)((json_number_value(json_object_get(b, "x1")) - f->src_x) * sx),
                        (float)((json_number_value(json_object_get(b, "y1")) - f->src_y) * sy),
                        (float)((json_number_value(json_object_get(b, "x2")) - f->src_x) * sx),
                        (float)((json_number_value(json_object_get(b, "y2")) - f->src_y) * sy)};
        vision_draw_box(pic, f->w, f->h, (size_t)f->w * 3, box, thick, color);
    }
    uint8_t *jpg;
    size_t len;
    vision_status vs = vision_encode_jpeg(pic, f->w, f->h, (size_t)f->w * 3, 85, &jpg, &len);
    free(pic);
    if (vs) {
        serve_respond_error(s, req, 500, "cannot encode the frame: %s", vision_strerror(vs));
        return;
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    serve_respond(req, 200, "image/jpeg", (const char *)jpg, len);
    free(jpg);
}

static void put_route(server *s, streams *ss, h2o_req_t *req, const char *id, size_t idl)
{
    char idb[65], err[SERVE_ERR_MAX];
    snprintf(idb, sizeof idb, "%.*s", (int)idl, id);
    json_error_t je;
    json_t *body = json_loadb(req->entity.base, req->entity.len, 0, &je);
    if (!body) {
        serve_respond_error(s, req, 400, "the body is not JSON: %s", je.text);
        return;
    }
    stream_conf c;
    int rc = conf_parse(body, idb, &c, err, sizeof err);
    if (!rc && (rc = put_stream(ss, &c, err, sizeof err)) >= 0) api_note(ss, idb, body);
    json_decref(body);
    if (rc < 0) {
        serve_respond_error(s, req, 400, "%s", err);
        return;
    }
    int i = find(ss, idb, strlen(idb));
    fprintf(stderr, "glint serve: stream %s %s (%s -> %s)\n", idb, rc ? "added" : "replaced",
            ss->list[i]->cam ? camera_url_shown(ss->list[i]->cam) : "disabled",
            ss->list[i]->conf.model ? ss->list[i]->conf.model : ss->list[i]->conf.detector);
    serve_respond_json(req, rc ? 201 : 200, stream_json(ss, ss->list[i]));
}

static int route(server *s, void *state, h2o_req_t *req, const char *path, size_t len)
{
    streams *ss = state;
    static const char prefix[] = "/v1/streams";
    const size_t pl = sizeof prefix - 1;
    if (len < pl || memcmp(path, prefix, pl) || (len > pl && path[pl] != '/')) return -1;
    int get = serve_method_is(req, "GET");
    if (len <= pl + 1) {
        if (!get)
            serve_respond_error(s, req, 405, "use GET on /v1/streams");
        else
            respond_stream_list(s, ss, req);
        return 0;
    }
    const char *id = path + pl + 1, *slash = memchr(id, '/', len - pl - 1);
    size_t idl = slash ? (size_t)(slash - id) : len - pl - 1;
    const char *rest = slash ? slash : "";
    size_t restl = slash ? (size_t)(path + len - slash) : 0;
    if (!valid_id(id, idl)) {
        serve_respond_error(s, req, 400, "a stream id is 1-64 letters, digits, '-' or '_'");
        return 0;
    }
    int i = find(ss, id, idl);
    if (!restl && serve_method_is(req, "PUT")) {
        put_route(s, ss, req, id, idl);
        return 0;
    }
    if (i < 0) {
        serve_respond_error(s, req, 404, "no stream called '%.*s'", (int)idl, id);
        return 0;
    }
    stream *st = ss->list[i];
    if (!restl && serve_method_is(req, "DELETE")) {
        fprintf(stderr, "glint serve: stream %s removed\n", st->conf.id);
        api_note(ss, st->conf.id, NULL);
        stream_drop(st);
        ss->list[i] = ss->list[--ss->n];
        serve_respond_json(req, 200, json_pack("{s:s%}", "deleted", id, idl));
        return 0;
    }
    if (!get) {
        serve_respond_error(s, req, 405, "use GET, PUT or DELETE on /v1/streams/{id}");
        return 0;
    }
    if (!restl) {
        serve_respond_json(req, 200, stream_json(ss, st));
    } else if (serve_path_is(rest, restl, "/latest")) {
        if (!st->last)
            serve_respond_error(s, req, 404, "stream %s has no answer yet", st->conf.id);
        else
            serve_respond_json(req, 200, json_incref(st->last));
    } else if (serve_path_is(rest, restl, "/latest.jpg")) {
        respond_latest_jpg(s, st, req);
    } else {
        serve_respond_error(s, req, 404, "no such route: /v1/streams/{id}%.*s", (int)restl, rest);
    }
    return 0;
}

static serve_access streams_access(const h2o_req_t *req, const char *path, size_t len)
{
    static const char prefix[] = "/v1/streams";
    if (len >= sizeof prefix - 1 && !memcmp(path, prefix, sizeof prefix - 1) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
        return SERVE_ACCESS_ADMIN;
    return SERVE_ACCESS_DEFAULT;
}

/* ---- the module ---- */

static void stop(server *s, void *state);

static int start(server *s, void **state, char *err, size_t err_size)
{
    streams *ss = calloc(1, sizeof *ss);
    if (!ss) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    *state = ss;
    ss->s = s;
    ss->pipe_r = ss->pipe_w = -1;
    ss->prefix = strdup("glint");
    int fds[2];
    if (!ss->prefix || pipe2(fds, O_NONBLOCK | O_CLOEXEC)) {
        snprintf(err, err_size, "streams: %s", strerror(errno));
        return -1;
    }
    ss->pipe_r = fds[0];
    ss->pipe_w = fds[1];
    ss->sock = h2o_evloop_socket_create(s->loop, ss->pipe_r, 0);
    if (!ss->sock) {
        snprintf(err, err_size, "streams: out of memory");
        return -1;
    }
    ss->pipe_r = -1; /* the socket's now */
    ss->sock->data = ss;
    h2o_socket_read_start(ss->sock, on_wake);
    if (s->opt.mqtt_url && start_mqtt(ss, s->opt.mqtt_url, err, err_size)) return -1;
    if (s->opt.streams && load_file(ss, s->opt.streams, err, err_size)) return -1;
    if (api_load(ss, err, err_size)) return -1;
    if (ss->n)
        fprintf(stderr, "glint serve: %d stream(s)%s\n", ss->n,
                ss->mqtt ? ", answers published over MQTT" : "");
    return 0;
}

static void drain(server *s, void *state)
{
    (void)s;
    streams *ss = state;
    if (!ss) return;
    for (int i = 0; i < ss->n; i++) { /* no new frames; those in flight finish */
        camera_stop(ss->list[i]->cam);
        ss->list[i]->cam = NULL;
    }
}

static void stop(server *s, void *state)
{
    (void)s;
    streams *ss = state;
    if (!ss) return;
    for (int i = 0; i < ss->n; i++)
        stream_drop(ss->list[i]);
    ss->n = 0;
    if (ss->sock) h2o_socket_close(ss->sock);
    if (ss->pipe_r >= 0) close(ss->pipe_r);
    if (ss->pipe_w >= 0) close(ss->pipe_w);
    mqtt_pub_destroy(ss->mqtt);
    webhook_close(ss->hooks); /* after the workers: every answer written */
    json_decref(ss->api);
    free(ss->api_path);
    free(ss->prefix);
    free(ss);
}

static json_t *health(server *s, void *state)
{
    (void)s;
    streams *ss = state;
    json_t *o = json_object();
    if (!ss) return o;
    int playing = 0;
    json_t *list = json_array();
    for (int i = 0; i < ss->n; i++) {
        stream *st = ss->list[i];
        camera_status cs = {0};
        if (st->cam) camera_get_status(st->cam, &cs);
        const char *st_state = !st->conf.enabled ? "disabled" : camera_state_name(cs.state);
        playing += st->cam && cs.state == CAMERA_PLAYING;
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:I}", "id", st->conf.id, "state",
                                              st_state, "error", cs.error[0] ? cs.error : st->error,
                                              "analysed", (json_int_t)st->analysed));
    }
    json_object_set_new(o, "count", json_integer(ss->n));
    json_object_set_new(o, "playing", json_integer(playing));
    json_object_set_new(o, "streams", list);
    if (ss->hooks) {
        webhook_stats ws;
        webhook_get_stats(ss->hooks, &ws);
        json_object_set_new(o, "webhooks",
                            json_pack("{s:I,s:I,s:I,s:I,s:I,s:s}", "added", (json_int_t)ws.added,
                                      "delivered", (json_int_t)ws.delivered, "attempts_failed",
                                      (json_int_t)ws.attempts_failed, "dropped",
                                      (json_int_t)ws.dropped, "pending", (json_int_t)ws.pending,
                                      "last_error", ws.last_error));
    }
    if (ss->mqtt) {
        mqtt_pub_stats ms;
        mqtt_pub_get_stats(ss->mqtt, &ms);
        json_object_set_new(
            o, "mqtt",
            json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:s}", "connected", ms.connected, "published",
                      (json_int_t)ms.published, "acknowledged", (json_int_t)ms.acknowledged,
                      "dropped", (json_int_t)ms.dropped, "queued", (json_int_t)ms.queued,
                      "connects", (json_int_t)ms.connects, "last_error", ms.last_error));
    }
    return o;
}

/* The per-stream series of /metrics, in the order values() fills them. */
enum {
    S_UP,
    S_DECODED,
    S_SKIPPED,
    S_GATED,
    S_PASSED,
    S_DROPPED,
    S_ANALYSED,
    S_FAILED,
    S_RECONNECTS,
    S_DECODE_S,
    S_N
};

static const metrics_scalar series[S_N] = {
    {"glint_stream_up", "1 while the stream's frames flow", METRICS_GAUGE, 0},
    {"glint_stream_frames_decoded_total", "Frames decoded", METRICS_COUNTER, 0},
    {"glint_stream_frames_skipped_total", "Frames over the fps cap", METRICS_COUNTER, 0},
    {"glint_stream_frames_gated_total", "Frames the motion gate held back", METRICS_COUNTER, 0},
    {"glint_stream_frames_passed_total",
     "Frames that passed the motion gate (every kept frame without one)", METRICS_COUNTER, 0},
    {"glint_stream_frames_dropped_total",
     "Frames replaced by a newer one before the model was free", METRICS_COUNTER, 0},
    {"glint_stream_frames_analysed_total", "Frames the model answered", METRICS_COUNTER, 0},
    {"glint_stream_frames_failed_total", "Frames the model failed or refused", METRICS_COUNTER, 0},
    {"glint_stream_reconnects_total", "Opens of the stream after the first", METRICS_COUNTER, 0},
    {"glint_stream_decode_seconds_total", "Time in the video decoder", METRICS_COUNTER, 0},
};

static void values(stream *st, double v[S_N])
{
    camera_status cs = {0};
    if (st->cam) camera_get_status(st->cam, &cs);
    v[S_UP] = st->cam && cs.state == CAMERA_PLAYING;
    v[S_DECODED] = (double)cs.decoded;
    v[S_SKIPPED] = (double)cs.skipped;
    v[S_GATED] = (double)cs.gated;
    v[S_PASSED] = (double)cs.passed;
    v[S_DROPPED] = (double)cs.dropped;
    v[S_ANALYSED] = (double)st->analysed;
    v[S_FAILED] = (double)(st->failed + st->refused);
    v[S_RECONNECTS] = (double)(cs.attempts ? cs.attempts - 1 : 0);
    v[S_DECODE_S] = (double)cs.decode_ns / 1e9;
}

static void metrics(server *s, void *state, strbuf *sb)
{
    (void)s;
    streams *ss = state;
    if (!ss || !ss->n) return;
    double v[MAX_STREAMS][S_N];
    for (int i = 0; i < ss->n; i++)
        values(ss->list[i], v[i]);
    for (int k = 0; k < S_N; k++) {
        metrics_write_family(sb, series[k].name, series[k].type, series[k].help);
        for (int i = 0; i < ss->n; i++) {
            metrics_label l = {"stream", ss->list[i]->conf.id};
            metrics_write_double(sb, series[k].name, &l, 1, v[i][k]);
        }
    }
    metrics_write_family(sb, "glint_stream_lag_seconds", METRICS_HISTOGRAM,
                         "From a frame's capture to its answer");
    for (int i = 0; i < ss->n; i++) {
        metrics_label l = {"stream", ss->list[i]->conf.id};
        metrics_write_histogram(sb, "glint_stream_lag_seconds", &l, 1, &ss->list[i]->lag);
    }
}

const serve_module streams_module = {.name = "streams",
                                     .start = start,
                                     .access = streams_access,
                                     .route = route,
                                     .drain = drain,
                                     .stop = stop,
                                     .health = health,
                                     .metrics = metrics};
