/* Unit tests of src/media/camera (a stream read by its own thread): clips
 * made here by Debian's ffmpeg (H.264, H.265, MJPEG, MPEG-4 part 2) are
 * played in real time; frames arrive at the fps cap, scaled to fit the
 * analysis size, cropped to the region of interest; a still clip with the
 * motion gate passes only heartbeats and a moving one passes; a missing
 * file and an unsupported codec give a clear status and are retried; the
 * password never shows; stopping is immediate. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "media/camera.h"

static char dir[] = "/tmp/glint-camera-XXXXXX";

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ffmpeg -f lavfi -i SRC ... OUT, quietly; fails the test if ffmpeg fails. */
static void make(const char *src, const char *codec, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -loglevel error -y -f lavfi -i '%s' %s '%s/%s' </dev/null", src,
             codec, dir, name);
    int rc = system(cmd);
    if (rc) fprintf(stderr, "failed: %s\n", cmd);
    assert_int_equal(rc, 0);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir)) return -1;
    /* 640x480 test pattern, 3 s at 30 fps; a still grey scene with noise;
     * the same with a white square crossing it */
    make("testsrc2=size=640x480:rate=30:duration=3", "-c:v libx264 -g 30 -bf 0 -pix_fmt yuv420p",
         "pattern.mkv");
    make("testsrc2=size=640x480:rate=30:duration=3",
         "-c:v libx265 -x265-params log-level=error "
         "-g 30 -pix_fmt yuv420p",
         "pattern_hevc.mkv");
    make("testsrc2=size=1280x960:rate=10:duration=2", "-c:v mjpeg -q:v 5 -pix_fmt yuvj420p",
         "pattern_mjpeg.avi");
    make("testsrc2=size=320x240:rate=10:duration=2", "-c:v mpeg4", "pattern_mpeg4.avi");
    make("color=c=gray:size=320x240:rate=15:duration=4,noise=alls=6:allf=t",
         "-c:v libx264 -g 15 -bf 0 -pix_fmt yuv420p", "still.mkv");
    make("color=c=gray:size=320x240:rate=15:duration=4,noise=alls=6:allf=t[bg];"
         "color=c=white:size=40x40:rate=15[sq];[bg][sq]overlay=x='20+t*60':y=100:shortest=1",
         "-c:v libx264 -g 15 -bf 0 -pix_fmt yuv420p", "moving.mkv");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) ? -1 : 0;
}

typedef struct seen {
    atomic_int frames; /* on_frame calls */
} seen;

static void on_frame(void *arg)
{
    atomic_fetch_add(&((seen *)arg)->frames, 1);
}

static camera *start(camera_options *o, const char *name, seen *s)
{
    char url[512], err[256] = "";
    snprintf(url, sizeof url, "file://%s/%s", dir, name);
    o->url = url;
    o->on_frame = on_frame;
    o->arg = s;
    camera *c = camera_start(o, err, sizeof err);
    if (!c) fprintf(stderr, "camera_start: %s\n", err);
    assert_non_null(c);
    return c;
}

/* Waits until the camera reaches state st (or secs pass). */
static int wait_state(camera *c, camera_state st, double secs, camera_status *out)
{
    uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
    do {
        camera_get_status(c, out);
        if (out->state == st) return 1;
        usleep(20000);
    } while (now_ns() < end);
    return 0;
}

static void test_h264_fps_cap_and_size(void **state)
{
    (void)state;
    seen s = {0};
    camera_options o = {.fps = 10, .out_w = 320, .out_h = 320};
    uint64_t t0 = now_ns();
    camera *c = start(&o, "pattern.mkv", &s);
    camera_status st;
    assert_true(wait_state(c, CAMERA_ENDED, 10, &st));
    double secs = (double)(now_ns() - t0) / 1e9;
    /* real time: 3 s of video take about 3 s; 90 frames decoded, ~30 kept */
    assert_true(secs > 2.5 && secs < 6);
    assert_string_equal(st.codec, "h264");
    assert_int_equal(st.width, 640);
    assert_int_equal(st.height, 480);
    assert_int_equal(st.decoded, 90);
    assert_true(st.passed >= 27 && st.passed <= 31);
    assert_int_equal(st.skipped + st.passed, st.decoded);
    assert_int_equal(st.connects, 1);
    assert_string_equal(st.error, "");
    camera_frame f = {0};
    assert_int_equal(camera_take(c, &f), 1);
    assert_int_equal(f.w, 320); /* 640x480 fits 320x320 as 320x240 */
    assert_int_equal(f.h, 240);
    assert_int_equal(f.src_w, 640);
    assert_int_equal(f.src_h, 480);
    assert_true(f.seq >= 80);
    assert_int_equal(camera_take(c, &f), 0); /* taken: nothing new */
    /* nobody took frames while it played: all but the last were dropped */
    assert_int_equal(st.dropped, st.passed - 1);
    assert_int_equal(atomic_load(&s.frames), (int)st.passed);
    camera_frame_free(&f);
    camera_stop(c);
}

static void test_roi_hevc_loop(void **state)
{
    (void)state;
    seen s = {0};
    /* the right half's top quarter, looping: more frames than the file has */
    camera_options o = {.roi = {320, 0, 320, 120}, .out_w = 640, .out_h = 640, .loop = 1};
    camera *c = start(&o, "pattern_hevc.mkv", &s);
    camera_status st;
    uint64_t end = now_ns() + 8000000000u;
    do {
        usleep(50000);
        camera_get_status(c, &st);
    } while (st.decoded < 100 && now_ns() < end);
    assert_true(st.decoded >= 100); /* 90 in the file: it started over */
    assert_int_equal(st.state, CAMERA_PLAYING);
    assert_string_equal(st.codec, "hevc");
    camera_frame f = {0};
    assert_int_equal(camera_take(c, &f), 1);
    assert_int_equal(f.src_x, 320);
    assert_int_equal(f.src_w, 320);
    assert_int_equal(f.src_h, 120);
    assert_int_equal(f.w, 320); /* never scaled up */
    assert_int_equal(f.h, 120);
    camera_frame_free(&f);
    uint64_t t0 = now_ns();
    camera_stop(c);
    assert_true(now_ns() - t0 < 500000000u); /* at once, mid-stream */
}

static void test_mjpeg_lowres(void **state)
{
    (void)state;
    seen s = {0};
    camera_options o = {.out_w = 320, .out_h = 320};
    camera *c = start(&o, "pattern_mjpeg.avi", &s);
    camera_status st;
    assert_true(wait_state(c, CAMERA_ENDED, 10, &st));
    assert_string_equal(st.codec, "mjpeg");
    assert_int_equal(st.lowres, 2); /* 1280x960 -> 320x240 decoded at 1/4 */
    assert_int_equal(st.decoded, 20);
    camera_frame f = {0};
    assert_int_equal(camera_take(c, &f), 1);
    assert_int_equal(f.w, 320);
    assert_int_equal(f.h, 240);
    assert_int_equal(f.src_w, 1280);
    camera_frame_free(&f);
    camera_stop(c);
}

static void test_motion_gate(void **state)
{
    (void)state;
    seen a = {0}, b = {0};
    camera_options o = {.out_w = 320, .out_h = 320, .motion = 1};
    motion_options_default(&o.mo);
    o.mo.heartbeat_s = 1.5;
    o.mo.cooldown_s = 0.2;
    camera *still = start(&o, "still.mkv", &a);
    camera *moving = start(&o, "moving.mkv", &b);
    camera_status s1, s2;
    assert_true(wait_state(still, CAMERA_ENDED, 12, &s1));
    assert_true(wait_state(moving, CAMERA_ENDED, 12, &s2));
    /* 4 s still: the first frame, then a heartbeat every 1.5 s */
    assert_int_equal(s1.decoded, 60);
    assert_true(s1.passed >= 2 && s1.passed <= 4);
    assert_true(s1.heartbeats >= 1 && s1.heartbeats <= 3);
    assert_int_equal(s1.gated + s1.passed, 60);
    /* the square moves the whole time: nearly every frame passes */
    assert_true(s2.passed >= 50);
    camera_stop(still);
    camera_stop(moving);
}

static void test_failures(void **state)
{
    (void)state;
    seen s = {0};
    camera_options o = {.out_w = 320, .out_h = 320, .reconnect_max_s = 0.5};
    camera *missing = start(&o, "no-such-file.mkv", &s);
    camera *mpeg4 = start(&o, "pattern_mpeg4.avi", &s);
    camera_status st;
    usleep(1500000);
    camera_get_status(missing, &st);
    assert_int_equal(st.state, CAMERA_RETRYING);
    assert_non_null(strstr(st.error, "cannot open"));
    assert_non_null(strstr(st.error, "No such file"));
    assert_true(st.attempts >= 2); /* retried */
    camera_get_status(mpeg4, &st);
    assert_int_equal(st.state, CAMERA_RETRYING);
    assert_non_null(strstr(st.error, "unsupported codec mpeg4"));
    assert_int_equal(st.decoded, 0);
    assert_int_equal(atomic_load(&s.frames), 0);
    camera_stop(missing);
    camera_stop(mpeg4);

    char err[256];
    camera_options bad = {.url = "ftp://x/y"};
    assert_null(camera_start(&bad, err, sizeof err));
    assert_non_null(strstr(err, "rtsp://"));
    bad = (camera_options){.url = "rtsp://h/p", .transport = "quic"};
    assert_null(camera_start(&bad, err, sizeof err));
    assert_non_null(strstr(err, "tcp or udp"));
}

static void test_credentials_hidden(void **state)
{
    (void)state;
    char err[256];
    /* a port nobody listens on: it retries, and the status never shows the password */
    camera_options o = {.url = "rtsp://127.0.0.1:9/cam",
                        .user = "admin",
                        .password = "s3cr:t@",
                        .timeout_ms = 300,
                        .reconnect_max_s = 0.5};
    camera *c = camera_start(&o, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(camera_url_shown(c), "rtsp://admin:***@127.0.0.1:9/cam");
    camera_status st;
    assert_true(wait_state(c, CAMERA_RETRYING, 5, &st));
    assert_null(strstr(st.error, "s3cr"));
    assert_non_null(strstr(st.error, "admin:***@"));
    camera_stop(c);
    o = (camera_options){.url = "rtsp://u:pw@127.0.0.1:9/cam", .timeout_ms = 300};
    c = camera_start(&o, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(camera_url_shown(c), "rtsp://u:***@127.0.0.1:9/cam");
    camera_stop(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h264_fps_cap_and_size),
        cmocka_unit_test(test_roi_hevc_loop),
        cmocka_unit_test(test_mjpeg_lowres),
        cmocka_unit_test(test_motion_gate),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_credentials_hidden),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
