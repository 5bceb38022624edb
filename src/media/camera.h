/* camera: one video stream read by its own thread with FFmpeg's libraries
 * (libavformat, libavcodec, libswscale) — an RTSP camera (over TCP or UDP),
 * an HTTP(S) MJPEG camera, or a video file played in real time (tests,
 * replays) — turned into the latest frame worth analysing.
 *
 * Per decoded frame, on the camera's thread:
 *   fps cap  — a frame sooner than 1/fps after the last one kept is skipped
 *              (it is still decoded: later frames reference it);
 *   ROI      — the region of interest, cropped in place (no copy);
 *   motion   — (optional) the region scaled once to a small grey picture and
 *              judged by the motion gate (vision/motion.h);
 *   mailbox  — a frame that passes is scaled once to fit the analysis size
 *              (RGB) and becomes the latest frame; a latest frame nobody took
 *              is replaced, and counted as dropped: frames are never queued.
 * Decoding is cut where the codec allows: MJPEG decodes at 1/2, 1/4 or 1/8
 * when the analysis size is that much smaller (lowres), and H.264/H.265 skip
 * non-reference frames when the fps cap is under half the stream's rate.
 *
 * A stream that fails to open, ends, stalls (no packet for timeout_ms) or
 * errors is closed and opened again after a jittered backoff (0.5 s doubling
 * to reconnect_max_s); its state and last error are in the status. Every
 * blocking FFmpeg call is bounded by the same timeout through its interrupt
 * callback, so a dead camera never holds its thread past it, and stopping a
 * camera takes effect at once.
 *
 * The consumer (any thread) takes the latest frame with camera_take (a copy)
 * and is told a new one exists through on_frame (called on the camera's
 * thread; it must not block).
 */
#ifndef GLINT_MEDIA_CAMERA_H
#define GLINT_MEDIA_CAMERA_H

#include <stddef.h>
#include <stdint.h>

#include "vision/motion.h"

#define CAMERA_ERR_MAX 256

typedef struct camera_options {
    const char *url;       /* rtsp://, rtsps://, http://, https://, file:// or a path */
    const char *user;      /* credentials put into the URL (may be NULL) */
    const char *password;  /* (never shown: statuses name the URL without it) */
    const char *transport; /* RTSP: "tcp" (default) or "udp" */
    const char *format;    /* an FFmpeg input format to force ("mpjpeg"...), or NULL */
    double fps;            /* frames analysed per second at most; 0: every frame */
    int roi[4];            /* x, y, w, h in the stream's pixels; w == 0: the whole frame */
    int out_w, out_h;      /* the analysis size: a frame is scaled to fit inside it */
    int motion;            /* 1: the motion gate decides which frames pass */
    motion_options mo;
    int loop;                    /* file: start over at its end (else the stream ends) */
    int timeout_ms;              /* opening, and the longest wait for a packet (default 5000) */
    double reconnect_max_s;      /* the longest backoff between attempts (default 10) */
    void (*on_frame)(void *arg); /* a new latest frame (camera thread; never blocks) */
    void *arg;
} camera_options;

typedef enum camera_state {
    CAMERA_CONNECTING, /* opening (the first time or again) */
    CAMERA_PLAYING,    /* frames flow */
    CAMERA_RETRYING,   /* failed or lost; waiting for the next attempt (see error) */
    CAMERA_ENDED,      /* a file that does not loop reached its end */
    CAMERA_STOPPED,
} camera_state;

const char *camera_state_name(camera_state s);

typedef struct camera_status {
    camera_state state;
    char error[CAMERA_ERR_MAX]; /* the last failure, "" if none */
    char codec[32];             /* "h264", "hevc", "mjpeg", ... ("" until known) */
    int width, height;          /* the stream's frame size */
    double stream_fps;          /* as the stream declares it (0 if unknown) */
    int lowres;                 /* MJPEG decoded at 1/2^lowres */
    uint64_t attempts;          /* opens tried */
    uint64_t connects;          /* opens that produced frames */
    uint64_t packets, bytes;    /* read */
    uint64_t decoded;           /* frames out of the decoder */
    uint64_t skipped;           /* over the fps cap */
    uint64_t gated, passed;     /* motion gate's verdicts (passed: every frame if no gate) */
    uint64_t heartbeats;        /* passed only because nothing passed for heartbeat_s */
    uint64_t dropped;           /* latest frames replaced before anyone took them */
    uint64_t decode_ns;         /* time in the decoder */
    uint64_t scale_ns;          /* time scaling (grey and RGB) and in the motion gate */
    uint64_t last_frame_ns;     /* monotonic time of the last frame decoded (0: none) */
} camera_status;

/* A frame: RGB8 rows of w x h (stride 3w). */
typedef struct camera_frame {
    uint8_t
        *rgb; /* owned by the frame's holder: camera_take swaps it, camera_frame_free frees it */
    size_t cap;
    int w, h;
    int src_w, src_h;         /* the region it shows, in the stream's pixels */
    int src_x, src_y;         /* the region's corner in the stream's frame */
    uint64_t seq;             /* frames decoded before it on this camera */
    uint64_t captured_ns;     /* monotonic: when its packet arrived (files: when it was due) */
    int64_t captured_wall_ms; /* the same instant, wall clock (ms since the epoch) */
    motion_verdict motion;
} camera_frame;

typedef struct camera camera;

/* Starts the camera's thread, or NULL with err (bad options, no memory).
 * The options' strings are copied. */
camera *camera_start(const camera_options *o, char *err, size_t err_size);
/* Stops the thread (at once) and frees the camera. NULL ok. */
void camera_stop(camera *c);

/* Hands the latest frame over in *f if one arrived since the last take
 * (f's buffer goes to the camera in exchange: no copy): 1, else 0. Any
 * thread. */
int camera_take(camera *c, camera_frame *f);
void camera_frame_free(camera_frame *f);

void camera_get_status(camera *c, camera_status *out);
/* The URL as shown (the password replaced by "***"). */
const char *camera_url_shown(const camera *c);

#endif
