/* motion: the gate in front of a camera stream's model — which frames are
 * worth running it on.
 *
 * Frames are small grey pictures (a stream's frame scaled once to about 100
 * pixels high). Each is blurred (3x3 box) and compared with a running
 * average of the scene (exponential, weight `alpha` per frame); pixels that
 * differ by more than `threshold` grey levels are "changed", the changed
 * mask is dilated once (3x3), and its 4-connected regions measured: motion
 * is a region of at least `min_area` pixels. A frame where more than
 * `lighting` of the pixels changed is a lighting change (a light switched
 * on, the camera's exposure, a cloud): the average is reset to it, not
 * motion. The first `warmup` frames only build the average (a faster
 * alpha). The average keeps learning during motion, so a thing that moves
 * in and stays becomes scene.
 *
 * The verdict per frame: pass it to the model when it has motion, within
 * `cooldown_s` after the last frame that had (what follows a movement), or
 * when nothing passed for `heartbeat_s` (a still scene is still checked);
 * else gate it. Frigate's motion detector and Groundlight's stream tool
 * work the same way.
 *
 * One motion per stream, one thread at a time; no allocation after
 * motion_create. */
#ifndef GLINT_VISION_MOTION_H
#define GLINT_VISION_MOTION_H

#include <stddef.h>
#include <stdint.h>

typedef struct motion_options {
    int threshold;      /* grey levels, 1..255 (default 25) */
    int min_area;       /* pixels of one region (default 10) */
    double alpha;       /* running average's weight of a new frame, (0, 1] (default 0.05) */
    double lighting;    /* share of changed pixels that means light, not motion (default 0.8) */
    int warmup;         /* frames that only build the average (default 5) */
    double cooldown_s;  /* frames pass this long after motion (default 1) */
    double heartbeat_s; /* a frame passes at least this often; 0: never (default 10) */
} motion_options;

/* The defaults above. */
void motion_options_default(motion_options *o);

typedef enum motion_verdict {
    MOTION_GATED,     /* nothing moved: skip the frame */
    MOTION_PASS,      /* motion in this frame */
    MOTION_COOLDOWN,  /* no motion now, but within cooldown_s of some */
    MOTION_HEARTBEAT, /* nothing moved, but nothing passed for heartbeat_s */
} motion_verdict;

typedef struct motion_result {
    motion_verdict verdict;
    int changed;     /* changed pixels (after dilation) */
    int largest;     /* pixels of the largest region */
    int lighting;    /* 1: a lighting change reset the average */
    int calibrating; /* 1: a warm-up frame */
} motion_result;

typedef struct motion_stats {
    uint64_t frames, passed, gated, motion, heartbeats, lighting;
} motion_stats;

typedef struct motion motion;

/* A gate for w x h grey frames (both 8..4096), or NULL (bad size or
 * options, or no memory). */
motion *motion_create(int w, int h, const motion_options *o);
void motion_free(motion *m);

/* Judges one frame (w x h bytes, rows `stride` apart) seen at now_ns
 * (monotonic). Returns the verdict; *out (may be NULL) gets the figures. */
motion_verdict motion_feed(motion *m, const uint8_t *grey, size_t stride, uint64_t now_ns,
                           motion_result *out);

/* Whether a verdict sends the frame to the model. */
static inline int motion_passes(motion_verdict v)
{
    return v != MOTION_GATED;
}

void motion_get_stats(const motion *m, motion_stats *out);

#endif
