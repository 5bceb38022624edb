/* Motion gating of a stream's frames (motion.h). */
#include "vision/motion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct motion {
    int w, h;
    motion_options o;
    float *avg;      /* the scene, w x h */
    uint8_t *blur;   /* the frame blurred */
    uint8_t *mask;   /* changed, then dilated */
    uint8_t *dil;    /* dilation scratch */
    int32_t *stack;  /* region filling: pixel indexes */
    uint64_t frames; /* fed */
    int have_motion; /* some frame had motion */
    uint64_t last_motion_ns, last_pass_ns;
    int passed_once;
    motion_stats st;
};

void motion_options_default(motion_options *o)
{
    *o = (motion_options){.threshold = 25,
                          .min_area = 10,
                          .alpha = 0.05,
                          .lighting = 0.8,
                          .warmup = 5,
                          .cooldown_s = 1.0,
                          .heartbeat_s = 10.0};
}

motion *motion_create(int w, int h, const motion_options *o)
{
    if (w < 8 || h < 8 || w > 4096 || h > 4096 || !o || o->threshold < 1 || o->threshold > 255 ||
        o->min_area < 1 || !(o->alpha > 0 && o->alpha <= 1) ||
        !(o->lighting > 0 && o->lighting <= 1) || o->warmup < 0 || !(o->cooldown_s >= 0) ||
        !(o->heartbeat_s >= 0))
        return NULL;
    motion *m = calloc(1, sizeof *m);
    size_t n = (size_t)w * (size_t)h;
    if (!m) return NULL;
    m->w = w;
    m->h = h;
    m->o = *o;
    m->avg = malloc(n * sizeof *m->avg);
    m->blur = malloc(n);
    m->mask = malloc(n);
    m->dil = malloc(n);
    m->stack = malloc(n * sizeof *m->stack);
    if (!m->avg || !m->blur || !m->mask || !m->dil || !m->stack) {
        motion_free(m);
        return NULL;
    }
    return m;
}

void motion_free(motion *m)
{
    if (!m) return;
    free(m->avg);
    free(m->blur);
    free(m->mask);
    free(m->dil);
    free(m->stack);
    free(m);
}

/* 3x3 box blur (edges: the pixels that exist). */
static void blur3(const uint8_t *src, size_t stride, int w, int h, uint8_t *dst)
{
    for (int y = 0; y < h; y++) {
        int y0 = y ? y - 1 : 0, y1 = y + 1 < h ? y + 1 : h - 1;
        for (int x = 0; x < w; x++) {
            int x0 = x ? x - 1 : 0, x1 = x + 1 < w ? x + 1 : w - 1;
            int sum = 0, n = 0;
            for (int yy = y0; yy <= y1; yy++)
                for (int xx = x0; xx <= x1; xx++) {
                    sum += src[(size_t)yy * stride + (size_t)xx];
                    n++;
                }
            dst[(size_t)y * (size_t)w + (size_t)x] = (uint8_t)((sum + n / 2) / n);
        }
    }
}

/* 3x3 dilation of mask into out. */
static void dilate3(const uint8_t *mask, int w, int h, uint8_t *out)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int on = 0;
            for (int yy = y ? y - 1 : 0; !on && yy <= (y + 1 < h ? y + 1 : h - 1); yy++)
                for (int xx = x ? x - 1 : 0; !on && xx <= (x + 1 < w ? x + 1 : w - 1); xx++)
                    on = mask[yy * w + xx];
            out[y * w + x] = (uint8_t)on;
        }
}

/* The largest 4-connected region of mask (cleared as it is measured). */
static int largest_region(uint8_t *mask, int w, int h, int32_t *stack)
{
    int best = 0;
    for (int i = 0; i < w * h; i++) {
        if (!mask[i]) continue;
        int top = 0, area = 0;
        mask[i] = 0;
        stack[top++] = i;
        while (top) {
            int p = stack[--top], x = p % w, y = p / w;
            area++;
            int nb[4] = {x > 0 ? p - 1 : -1, x + 1 < w ? p + 1 : -1, y > 0 ? p - w : -1,
                         y + 1 < h ? p + w : -1};
            for (int k = 0; k < 4; k++)
                if (nb[k] >= 0 && mask[nb[k]]) {
                    mask[nb[k]] = 0;
                    stack[top++] = nb[k];
                }
        }
        if (area > best) best = area;
    }
    return best;
}

static motion_verdict decide(motion *m, int moved, uint64_t now)
{
    if (moved) {
        m->have_motion = 1;
        m->last_motion_ns = now;
        return MOTION_PASS;
    }
    if (m->have_motion && (double)(now - m->last_motion_ns) / 1e9 <= m->o.cooldown_s)
        return MOTION_COOLDOWN;
    if (m->o.heartbeat_s > 0 &&
        (!m->passed_once || (double)(now - m->last_pass_ns) / 1e9 >= m->o.heartbeat_s))
        return MOTION_HEARTBEAT;
    return MOTION_GATED;
}

motion_verdict motion_feed(motion *m, const uint8_t *grey, size_t stride, uint64_t now_ns,
                           motion_result *out)
{
    const int w = m->w, h = m->h, n = w * h;
    motion_result r = {0};
    blur3(grey, stride, w, h, m->blur);
    m->st.frames++;
    if (!m->frames++) { /* the first frame is the scene */
        for (int i = 0; i < n; i++)
            m->avg[i] = m->blur[i];
        r.calibrating = 1;
    } else {
        for (int i = 0; i < n; i++)
            m->mask[i] = fabsf((float)m->blur[i] - m->avg[i]) > (float)m->o.threshold;
        dilate3(m->mask, w, h, m->dil);
        for (int i = 0; i < n; i++)
            r.changed += m->dil[i];
        r.calibrating = m->frames <= (uint64_t)m->o.warmup;
        if ((double)r.changed > m->o.lighting * n) { /* light, not motion: start over */
            r.lighting = 1;
            m->st.lighting++;
            for (int i = 0; i < n; i++)
                m->avg[i] = m->blur[i];
        } else {
            r.largest = largest_region(m->dil, w, h, m->stack);
            float a = (float)(r.calibrating ? fmax(m->o.alpha, 0.2) : m->o.alpha);
            for (int i = 0; i < n; i++)
                m->avg[i] += a * ((float)m->blur[i] - m->avg[i]);
        }
    }
    int moved = !r.calibrating && !r.lighting && r.largest >= m->o.min_area;
    r.verdict = decide(m, moved, now_ns);
    if (moved) m->st.motion++;
    if (r.verdict == MOTION_HEARTBEAT) m->st.heartbeats++;
    if (motion_passes(r.verdict)) {
        m->st.passed++;
        m->passed_once = 1;
        m->last_pass_ns = now_ns;
    } else {
        m->st.gated++;
    }
    if (out) *out = r;
    return r.verdict;
}

void motion_get_stats(const motion *m, motion_stats *out)
{
    *out = m->st;
}
