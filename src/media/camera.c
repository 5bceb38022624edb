/* A video stream read by its own thread (camera.h). */
#include "media/camera.h"

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 500
#define GREY_H 100 /* the motion gate's frames are about this high */

struct camera {
    camera_options o;
    char *url;       /* with the credentials, for FFmpeg */
    char *url_shown; /* without the password */
    char *transport, *format;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* wakes a backoff or pacing sleep on stop */
    camera_status st;        /* under mu */
    camera_frame latest;     /* under mu */
    int fresh;               /* latest not taken yet */
    uint64_t io_deadline_ns; /* the interrupt callback's (camera thread) */
    uint64_t rng;
    /* the camera thread's own */
    AVFormatContext *fc;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;
    int vi;        /* the video stream's index */
    AVRational tb; /* its time base */
    int lowres;    /* the decoder's */
    struct SwsContext *sws_grey, *sws_rgb;
    uint8_t *grey;
    int grey_w, grey_h;
    motion *gate;
    camera_frame work; /* scaled into, then swapped with latest */
    uint64_t last_kept_ns;
    int64_t pace_pts0; /* files: the first frame's pts and when it was shown */
    uint64_t pace_t0_ns;
    uint64_t seq;
    uint64_t decode_acc; /* decoder time not yet in the status */
    int produced;        /* this connection produced a frame */
};

const char *camera_state_name(camera_state s)
{
    switch (s) {
    case CAMERA_CONNECTING:
        return "connecting";
    case CAMERA_PLAYING:
        return "playing";
    case CAMERA_RETRYING:
        return "retrying";
    case CAMERA_ENDED:
        return "ended";
    case CAMERA_STOPPED:
        return "stopped";
    }
    return "?";
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- FFmpeg's log: kept per thread as the last error, never printed ---- */

static _Thread_local char last_log[CAMERA_ERR_MAX];

static void log_cb(void *avcl, int level, const char *fmt, va_list ap)
{
    (void)avcl;
    if (level > AV_LOG_ERROR) return;
    char line[CAMERA_ERR_MAX];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
        line[--n] = 0;
    if (n) memcpy(last_log, line, n + 1);
}

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void install_log(void)
{
    av_log_set_callback(log_cb);
}

/* ---- status ---- */

static void set_state(camera *c, camera_state s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_state(camera *c, camera_state s, const char *fmt, ...)
{
    pthread_mutex_lock(&c->mu);
    c->st.state = s;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->st.error, sizeof c->st.error, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&c->mu);
}

/* An FFmpeg error as words, with its log line when that says more. */
static void av_words(int rc, char *buf, size_t cap)
{
    char e[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(rc, e, sizeof e);
    if (last_log[0] && !strstr(last_log, e))
        snprintf(buf, cap, "%s (%s)", e, last_log);
    else
        snprintf(buf, cap, "%s", e);
    last_log[0] = 0;
}

/* ---- sleeping, interruptibly ---- */

/* Sleeps until monotonic `until` or stop: 0, or -1 if stopped. */
static int sleep_until(camera *c, uint64_t until)
{
    pthread_mutex_lock(&c->mu);
    while (!atomic_load(&c->stop)) {
        uint64_t now = now_ns();
        if (now >= until) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t d = until - now;
        ts.tv_sec += (time_t)(d / 1000000000u);
        ts.tv_nsec += (long)(d % 1000000000u);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return atomic_load(&c->stop) ? -1 : 0;
}

static int interrupt_cb(void *arg)
{
    camera *c = arg;
    return atomic_load(&c->stop) || now_ns() > c->io_deadline_ns;
}

static void arm_io(camera *c)
{
    c->io_deadline_ns = now_ns() + (uint64_t)c->o.timeout_ms * 1000000u;
}

/* ---- one connection ---- */

static void close_stream(camera *c)
{
    avcodec_free_context(&c->dec);
    avformat_close_input(&c->fc);
    sws_freeContext(c->sws_grey);
    sws_freeContext(c->sws_rgb);
    c->sws_grey = c->sws_rgb = NULL;
}

static int is_file(const camera *c)
{
    return !strncmp(c->url, "file:", 5) || !strstr(c->url, "://");
}

static int codec_allowed(enum AVCodecID id)
{
    return id == AV_CODEC_ID_H264 || id == AV_CODEC_ID_HEVC || id == AV_CODEC_ID_MJPEG;
}

/* Opens the stream and its decoder: 0, or -1 with the status's error set. */
static int open_stream(camera *c)
{
    char why[CAMERA_ERR_MAX];
    AVDictionary *opt = NULL;
    c->fc = avformat_alloc_context();
    if (!c->fc) {
        set_state(c, CAMERA_RETRYING, "out of memory");
        return -1;
    }
    c->fc->interrupt_callback = (AVIOInterruptCB){interrupt_cb, c};
    char us[32];
    snprintf(us, sizeof us, "%lld", (long long)c->o.timeout_ms * 1000);
    if (!strncmp(c->url, "rtsp", 4)) {
        av_dict_set(&opt, "rtsp_transport", c->transport, 0);
        av_dict_set(&opt, "allowed_media_types", "video", 0);
        av_dict_set(&opt, "timeout", us, 0);
    } else if (!strncmp(c->url, "http", 4)) {
        av_dict_set(&opt, "rw_timeout", us, 0);
    }
    if (!is_file(c)) av_dict_set(&opt, "fflags", "nobuffer", 0);
    av_dict_set(&opt, "probesize", "1000000", 0);
    av_dict_set(&opt, "analyzeduration", "1000000", 0);
    const AVInputFormat *fmt = NULL;
    if (c->format && !(fmt = av_find_input_format(c->format))) {
        set_state(c, CAMERA_RETRYING, "FFmpeg has no input format '%s'", c->format);
        av_dict_free(&opt);
        return -1;
    }
    arm_io(c);
    last_log[0] = 0;
    int rc = avformat_open_input(&c->fc, c->url, fmt, &opt); /* frees fc on failure */
    av_dict_free(&opt);
    if (rc < 0) {
        av_words(rc, why, sizeof why);
        set_state(c, CAMERA_RETRYING, "cannot open %s: %s", c->url_shown, why);
        return -1;
    }
    arm_io(c);
    if ((rc = avformat_find_stream_info(c->fc, NULL)) < 0) {
        av_words(rc, why, sizeof why);
        set_state(c, CAMERA_RETRYING, "%s: no stream information: %s", c->url_shown, why);
        return -1;
    }
    const AVCodec *codec = NULL;
    c->vi = av_find_best_stream(c->fc, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (c->vi < 0) {
        set_state(c, CAMERA_RETRYING, "%s has no video stream", c->url_shown);
        return -1;
    }
    AVStream *vs = c->fc->streams[c->vi];
    AVCodecParameters *par = vs->codecpar;
    pthread_mutex_lock(&c->mu);
    snprintf(c->st.codec, sizeof c->st.codec, "%s", avcodec_get_name(par->codec_id));
    c->st.width = par->width;
    c->st.height = par->height;
    AVRational fr = av_guess_frame_rate(c->fc, vs, NULL);
    c->st.stream_fps = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0;
    pthread_mutex_unlock(&c->mu);
    if (!codec_allowed(par->codec_id) || !codec) {
        set_state(c, CAMERA_RETRYING,
                  "%s: unsupported codec %s (glint reads H.264, H.265 and MJPEG)", c->url_shown,
                  avcodec_get_name(par->codec_id));
        return -1;
    }
    c->tb = vs->time_base;
    c->dec = avcodec_alloc_context3(codec);
    if (!c->dec || avcodec_parameters_to_context(c->dec, par) < 0) {
        set_state(c, CAMERA_RETRYING, "out of memory");
        return -1;
    }
    c->dec->thread_count = 1; /* one core's share per stream: a 2-core box runs many */
    c->lowres = 0;
    int rw = c->o.roi[2] ? c->o.roi[2] : par->width, rh = c->o.roi[2] ? c->o.roi[3] : par->height;
    if (par->codec_id == AV_CODEC_ID_MJPEG && c->o.out_w > 0 && c->o.out_h > 0 && rw > 0 &&
        rh > 0) {
        /* the size the region is analysed at: while half of it still covers that */
        double s = fmin((double)c->o.out_w / rw, (double)c->o.out_h / rh);
        int tw = (int)(rw * s), th = (int)(rh * s);
        while (c->lowres < codec->max_lowres && c->lowres < 3 && (rw >> (c->lowres + 1)) >= tw &&
               (rh >> (c->lowres + 1)) >= th)
            c->lowres++;
    }
    c->dec->lowres = c->lowres;
    double sfps = c->st.stream_fps;
    if (par->codec_id != AV_CODEC_ID_MJPEG && c->o.fps > 0 && sfps > 0 && c->o.fps < sfps / 2)
        c->dec->skip_frame = AVDISCARD_NONREF;
    if ((rc = avcodec_open2(c->dec, codec, NULL)) < 0) {
        av_words(rc, why, sizeof why);
        set_state(c, CAMERA_RETRYING, "%s: cannot open the %s decoder: %s", c->url_shown,
                  codec->name, why);
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    c->st.lowres = c->lowres;
    pthread_mutex_unlock(&c->mu);
    c->pace_pts0 = AV_NOPTS_VALUE;
    c->produced = 0;
    return 0;
}

/* ---- a decoded frame ---- */

static int ensure(camera_frame *f, size_t n)
{
    if (f->cap >= n) return 0;
    uint8_t *p = realloc(f->rgb, n);
    if (!p) return -1;
    f->rgb = p;
    f->cap = n;
    return 0;
}

/* Crops fr to the region (in stream pixels, scaled by lowres) in place:
 * 0, or -1 if the region is outside the frame. */
static int crop(camera *c, AVFrame *fr, int *x, int *y, int *w, int *h)
{
    int fw = c->st.width > 0 ? c->st.width : fr->width,
        fh = c->st.height > 0 ? c->st.height : fr->height;
    *x = 0, *y = 0, *w = fw, *h = fh;
    if (!c->o.roi[2]) return 0;
    *x = c->o.roi[0], *y = c->o.roi[1], *w = c->o.roi[2], *h = c->o.roi[3];
    if (*x + *w > fw || *y + *h > fh) return -1;
    int s = c->lowres;
    fr->crop_left = (size_t)(*x >> s);
    fr->crop_top = (size_t)(*y >> s);
    int right = fr->width - ((*x + *w) >> s), bottom = fr->height - ((*y + *h) >> s);
    fr->crop_right = right > 0 ? (size_t)right : 0;
    fr->crop_bottom = bottom > 0 ? (size_t)bottom : 0;
    return av_frame_apply_cropping(fr, AV_FRAME_CROP_UNALIGNED) < 0 ? -1 : 0;
}

/* Files play in real time: waits until the frame is due, which is its
 * capture time (*due; a decoder that falls behind makes frames late, and the
 * lag shows it). 0, or -1 if stopped. */
static int pace(camera *c, const AVFrame *fr, uint64_t *due)
{
    int64_t pts = fr->best_effort_timestamp;
    uint64_t now = now_ns();
    *due = now;
    if (pts == AV_NOPTS_VALUE) return 0;
    if (c->pace_pts0 == AV_NOPTS_VALUE || pts < c->pace_pts0) {
        c->pace_pts0 = pts;
        c->pace_t0_ns = now;
        return 0;
    }
    double due_s = (double)(pts - c->pace_pts0) * av_q2d(c->tb);
    *due = c->pace_t0_ns + (uint64_t)(due_s * 1e9);
    if (*due > now + 2000000000u) { /* a jump in the file's clock: start over from here */
        c->pace_pts0 = pts;
        c->pace_t0_ns = *due = now;
        return 0;
    }
    return *due > now ? sleep_until(c, *due) : 0;
}

/* One decoded frame through the fps cap, the motion gate and the mailbox. */
static void handle_frame(camera *c, AVFrame *fr, uint64_t captured)
{
    uint64_t seq = c->seq++;
    pthread_mutex_lock(&c->mu);
    c->st.decoded++;
    c->st.last_frame_ns = captured;
    pthread_mutex_unlock(&c->mu);
    if (c->o.fps > 0 && c->last_kept_ns &&
        (double)(captured - c->last_kept_ns) < 0.9e9 / c->o.fps) { /* 10% for jitter */
        pthread_mutex_lock(&c->mu);
        c->st.skipped++;
        pthread_mutex_unlock(&c->mu);
        return;
    }
    c->last_kept_ns = captured;
    uint64_t t0 = now_ns();
    int x, y, w, h;
    if (crop(c, fr, &x, &y, &w, &h)) {
        set_state(c, CAMERA_PLAYING,
                  "the region of interest %d,%d %dx%d is outside the %dx%d frame", c->o.roi[0],
                  c->o.roi[1], c->o.roi[2], c->o.roi[3], c->st.width, c->st.height);
        return;
    }
    motion_verdict mv = MOTION_PASS;
    if (c->o.motion) {
        int gh = GREY_H < fr->height ? GREY_H : fr->height;
        int gw = (int)lround((double)gh * fr->width / fr->height);
        if (gw < 8) gw = 8;
        if (gh < 8) gh = 8;
        if (!c->gate || gw != c->grey_w || gh != c->grey_h) {
            motion_free(c->gate);
            free(c->grey);
            c->grey = malloc((size_t)gw * (size_t)gh);
            c->gate = c->grey ? motion_create(gw, gh, &c->o.mo) : NULL;
            c->grey_w = gw, c->grey_h = gh;
            if (!c->gate) {
                set_state(c, CAMERA_PLAYING, "out of memory for the motion gate");
                return;
            }
        }
        c->sws_grey = sws_getCachedContext(c->sws_grey, fr->width, fr->height, fr->format, gw, gh,
                                           AV_PIX_FMT_GRAY8, SWS_AREA, NULL, NULL, NULL);
        if (!c->sws_grey) {
            set_state(c, CAMERA_PLAYING, "cannot scale %s frames", av_get_pix_fmt_name(fr->format));
            return;
        }
        uint8_t *dst[4] = {c->grey};
        int dls[4] = {gw};
        sws_scale(c->sws_grey, (const uint8_t *const *)fr->data, fr->linesize, 0, fr->height, dst,
                  dls);
        mv = motion_feed(c->gate, c->grey, (size_t)gw, captured, NULL);
        if (!motion_passes(mv)) {
            pthread_mutex_lock(&c->mu);
            c->st.gated++;
            c->st.scale_ns += now_ns() - t0;
            pthread_mutex_unlock(&c->mu);
            return;
        }
    }
    /* fit the analysis size, keeping the aspect (never larger than the region) */
    int ow = fr->width, oh = fr->height;
    if (c->o.out_w > 0 && c->o.out_h > 0) {
        double s = fmin((double)c->o.out_w / fr->width, (double)c->o.out_h / fr->height);
        if (s < 1) {
            ow = (int)lround(fr->width * s);
            oh = (int)lround(fr->height * s);
        }
    }
    if (ow < 1) ow = 1;
    if (oh < 1) oh = 1;
    c->sws_rgb = sws_getCachedContext(c->sws_rgb, fr->width, fr->height, fr->format, ow, oh,
                                      AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (!c->sws_rgb || ensure(&c->work, (size_t)ow * (size_t)oh * 3)) {
        set_state(c, CAMERA_PLAYING, "%s",
                  c->sws_rgb ? "out of memory for a frame" : "cannot scale the frames to RGB");
        return;
    }
    uint8_t *dst[4] = {c->work.rgb};
    int dls[4] = {3 * ow};
    sws_scale(c->sws_rgb, (const uint8_t *const *)fr->data, fr->linesize, 0, fr->height, dst, dls);
    c->work.w = ow, c->work.h = oh;
    c->work.src_x = x, c->work.src_y = y, c->work.src_w = w, c->work.src_h = h;
    c->work.seq = seq;
    c->work.captured_ns = captured;
    c->work.captured_wall_ms = wall_ms() - (int64_t)((now_ns() - captured) / 1000000u);
    c->work.motion = mv;
    pthread_mutex_lock(&c->mu);
    c->st.scale_ns += now_ns() - t0;
    c->st.passed++;
    if (mv == MOTION_HEARTBEAT) c->st.heartbeats++;
    if (c->fresh) c->st.dropped++;
    camera_frame t = c->latest;
    c->latest = c->work;
    c->work = t;
    c->fresh = 1;
    pthread_mutex_unlock(&c->mu);
    if (c->o.on_frame) c->o.on_frame(c->o.arg);
}

/* Drains the decoder's frames. 0, or -1 if stopped. */
static int receive(camera *c)
{
    for (;;) {
        uint64_t t0 = now_ns();
        int rc = avcodec_receive_frame(c->dec, c->frame);
        c->decode_acc += now_ns() - t0;
        if (rc < 0) return 0; /* EAGAIN, EOF or a decode error: the next packet */
        uint64_t captured = (uint64_t)c->frame->reordered_opaque;
        if (is_file(c) && pace(c, c->frame, &captured)) {
            av_frame_unref(c->frame);
            return -1;
        }
        if (!c->produced) {
            c->produced = 1;
            pthread_mutex_lock(&c->mu);
            c->st.connects++;
            c->st.state = CAMERA_PLAYING;
            c->st.error[0] = 0;
            pthread_mutex_unlock(&c->mu);
        }
        handle_frame(c, c->frame, captured);
        av_frame_unref(c->frame);
    }
}

/* Reads until the stream fails, ends or the camera stops. 1: the file
 * ended and does not loop; 0: lost (reconnect); -1: stopped. */
static int play(camera *c)
{
    char why[CAMERA_ERR_MAX];
    for (;;) {
        if (atomic_load(&c->stop)) return -1;
        arm_io(c);
        int rc = av_read_frame(c->fc, c->pkt);
        if (rc == AVERROR_EOF && is_file(c)) {
            avcodec_send_packet(c->dec, NULL); /* the decoder's last frames */
            if (receive(c)) return -1;
            if (!c->o.loop) return 1;
            avcodec_flush_buffers(c->dec);
            AVStream *vs = c->fc->streams[c->vi];
            int64_t start = vs->start_time != AV_NOPTS_VALUE ? vs->start_time : 0;
            if (av_seek_frame(c->fc, c->vi, start, AVSEEK_FLAG_BACKWARD) < 0) {
                set_state(c, CAMERA_RETRYING, "%s: cannot start over at its end", c->url_shown);
                return 0;
            }
            c->pace_pts0 = AV_NOPTS_VALUE;
            continue;
        }
        if (rc < 0) {
            if (atomic_load(&c->stop)) return -1;
            if (rc == AVERROR_EXIT)
                snprintf(why, sizeof why, "no data for %d ms", c->o.timeout_ms);
            else
                av_words(rc, why, sizeof why);
            set_state(c, CAMERA_RETRYING, "%s: lost: %s", c->url_shown,
                      rc == AVERROR_EOF ? "the stream ended" : why);
            return 0;
        }
        uint64_t arrived = now_ns();
        if (c->pkt->stream_index == c->vi) {
            pthread_mutex_lock(&c->mu);
            c->st.packets++;
            c->st.bytes += (uint64_t)c->pkt->size;
            pthread_mutex_unlock(&c->mu);
            c->dec->reordered_opaque = (int64_t)arrived;
            rc = avcodec_send_packet(c->dec, c->pkt);
            c->decode_acc += now_ns() - arrived;
            av_packet_unref(c->pkt);
            if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_INVALIDDATA) {
                av_words(rc, why, sizeof why);
                set_state(c, CAMERA_RETRYING, "%s: decoder: %s", c->url_shown, why);
                return 0;
            }
            if (receive(c)) return -1;
            pthread_mutex_lock(&c->mu);
            c->st.decode_ns += c->decode_acc;
            pthread_mutex_unlock(&c->mu);
            c->decode_acc = 0;
        } else {
            av_packet_unref(c->pkt);
        }
    }
}

static void *run(void *arg)
{
    camera *c = arg;
    uint64_t backoff_ms = BACKOFF_MIN_MS;
    uint64_t max_ms = (uint64_t)(c->o.reconnect_max_s * 1000);
    if (max_ms < BACKOFF_MIN_MS) max_ms = BACKOFF_MIN_MS;
    while (!atomic_load(&c->stop)) {
        pthread_mutex_lock(&c->mu);
        c->st.attempts++;
        if (c->st.state != CAMERA_RETRYING) c->st.state = CAMERA_CONNECTING;
        pthread_mutex_unlock(&c->mu);
        int rc = 0;
        if (!open_stream(c)) {
            rc = play(c);
            if (c->produced) backoff_ms = BACKOFF_MIN_MS; /* it worked: start over */
        }
        close_stream(c);
        if (rc == 1) {
            set_state(c, CAMERA_ENDED, NULL);
            break;
        }
        if (rc < 0) break;
        c->rng ^= c->rng << 13;
        c->rng ^= c->rng >> 7;
        c->rng ^= c->rng << 17;
        uint64_t wait = backoff_ms + c->rng % (backoff_ms / 2 + 1);
        backoff_ms = backoff_ms * 2 > max_ms ? max_ms : backoff_ms * 2;
        if (sleep_until(c, now_ns() + wait * 1000000u)) break;
    }
    return NULL;
}

/* ---- start, stop, take ---- */

/* "%XX" for a URL's user-info part. */
static void put_escaped(char *dst, size_t cap, size_t *n, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || strchr("-._~", ch);
        int w = plain ? snprintf(dst + *n, cap - *n, "%c", ch)
                      : snprintf(dst + *n, cap - *n, "%%%02X", ch);
        if (w > 0) *n = *n + (size_t)w < cap ? *n + (size_t)w : cap - 1;
    }
}

/* The URL with user:password@ (or user:***@ when `shown`) put in. */
static char *url_with(const char *url, const char *user, const char *pass, int shown)
{
    const char *sep = strstr(url, "://");
    if (!sep || !user || !user[0]) {
        if (!shown || !sep) return strdup(url);
        /* credentials written in the URL itself: hide the password */
        const char *host = sep + 3, *at = strchr(host, '@'), *slash = strchr(host, '/');
        if (!at || (slash && slash < at)) return strdup(url);
        const char *colon = memchr(host, ':', (size_t)(at - host));
        if (!colon) return strdup(url);
        size_t cap = strlen(url) + 8;
        char *o = malloc(cap);
        if (o) snprintf(o, cap, "%.*s:***%s", (int)(colon - url), url, at);
        return o;
    }
    size_t cap = strlen(url) + 3 * (strlen(user) + (pass ? strlen(pass) : 0)) + 16, n = 0;
    char *o = malloc(cap);
    if (!o) return NULL;
    n = (size_t)snprintf(o, cap, "%.*s", (int)(sep + 3 - url), url);
    put_escaped(o, cap, &n, user);
    if (pass && pass[0]) {
        n += (size_t)snprintf(o + n, cap - n, ":");
        if (shown)
            n += (size_t)snprintf(o + n, cap - n, "***");
        else
            put_escaped(o, cap, &n, pass);
    }
    snprintf(o + n, cap - n, "@%s", sep + 3);
    return o;
}

camera *camera_start(const camera_options *o, char *err, size_t err_size)
{
    if (!o || !o->url || !o->url[0]) {
        snprintf(err, err_size, "a stream needs a url");
        return NULL;
    }
    static const char *const schemes[] = {"rtsp://", "rtsps://", "http://", "https://", "file:"};
    int known = !strstr(o->url, "://");
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        known |= !strncmp(o->url, schemes[i], strlen(schemes[i]));
    if (!known) {
        snprintf(err, err_size,
                 "url %.80s: glint reads rtsp://, rtsps://, http(s):// and file:", o->url);
        return NULL;
    }
    const char *tr = o->transport && o->transport[0] ? o->transport : "tcp";
    if (strcmp(tr, "tcp") && strcmp(tr, "udp")) {
        snprintf(err, err_size, "transport '%.20s': tcp or udp", tr);
        return NULL;
    }
    if (o->roi[2] < 0 || o->roi[3] < 0 || o->roi[0] < 0 || o->roi[1] < 0 ||
        (o->roi[2] && !o->roi[3])) {
        snprintf(err, err_size, "the region of interest needs x, y >= 0 and w, h > 0");
        return NULL;
    }
    if (o->fps < 0 || o->fps > 1000) {
        snprintf(err, err_size, "fps %g: 0 (every frame) to 1000", o->fps);
        return NULL;
    }
    pthread_once(&log_once, install_log);
    camera *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    c->o = *o;
    if (c->o.timeout_ms <= 0) c->o.timeout_ms = 5000;
    if (c->o.reconnect_max_s <= 0) c->o.reconnect_max_s = 10;
    c->url = url_with(o->url, o->user, o->password, 0);
    c->url_shown = url_with(o->url, o->user, o->password, 1);
    c->transport = strdup(tr);
    c->format = o->format && o->format[0] ? strdup(o->format) : NULL;
    c->o.url = c->o.user = c->o.password = c->o.transport = c->o.format = NULL;
    c->pkt = av_packet_alloc();
    c->frame = av_frame_alloc();
    c->rng = now_ns() | 1;
    c->st.state = CAMERA_CONNECTING;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (!c->url || !c->url_shown || !c->transport || (o->format && o->format[0] && !c->format) ||
        !c->pkt || !c->frame) {
        snprintf(err, err_size, "out of memory");
        camera_stop(c);
        return NULL;
    }
    if (pthread_create(&c->thread, NULL, run, c)) {
        snprintf(err, err_size, "cannot start a thread: %s", strerror(errno));
        c->thread = 0;
        camera_stop(c);
        return NULL;
    }
    return c;
}

void camera_stop(camera *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    atomic_store(&c->stop, 1);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->thread) pthread_join(c->thread, NULL);
    close_stream(c);
    av_packet_free(&c->pkt);
    av_frame_free(&c->frame);
    motion_free(c->gate);
    free(c->grey);
    camera_frame_free(&c->work);
    camera_frame_free(&c->latest);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c->url);
    free(c->url_shown);
    free(c->transport);
    free(c->format);
    free(c);
}

int camera_take(camera *c, camera_frame *f)
{
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    if (c->fresh) { /* the buffers change hands: no copy */
        camera_frame t = c->latest;
        c->latest.rgb = f->rgb;
        c->latest.cap = f->cap;
        *f = t;
        c->fresh = 0;
        rc = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void camera_frame_free(camera_frame *f)
{
    if (!f) return;
    free(f->rgb);
    f->rgb = NULL;
    f->cap = 0;
}

void camera_get_status(camera *c, camera_status *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
    if (atomic_load(&c->stop)) out->state = CAMERA_STOPPED;
}

const char *camera_url_shown(const camera *c)
{
    return c->url_shown;
}
