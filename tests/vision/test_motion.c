/* Unit tests of src/vision/motion (the stream's motion gate): a still,
 * noisy scene is gated but for heartbeats; a moving square passes, and the
 * frames after it within the cool-down; a small blinking spot is too small; a
 * lighting change resets the scene instead of passing; bad options are
 * refused. Frames are drawn here: a fixed random texture plus noise. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vision/motion.h"

#define W 96
#define H 64
#define STRIDE 100 /* rows wider than the picture */
#define MS 1000000ull

static uint64_t rng = 88172645463325252ull;

static unsigned rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 33);
}

static uint8_t scene[H][STRIDE];

static void make_scene(void)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < STRIDE; x++)
            scene[y][x] = (uint8_t)(60 + (x * 3 + y * 2) % 90 + rnd() % 20);
}

/* The scene with +-noise, a square of side `sq` at (sx, sy) painted 250
 * (sq 0: none) and `bright` added everywhere. */
static void frame(uint8_t f[H][STRIDE], int noise, int sq, int sx, int sy, int bright)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < STRIDE; x++) {
            int v = scene[y][x] + bright +
                    (noise ? (int)(rnd() % (unsigned)(2 * noise + 1)) - noise : 0);
            if (sq && x >= sx && x < sx + sq && y >= sy && y < sy + sq) v = 250;
            f[y][x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

static motion *gate(double cooldown_s, double heartbeat_s)
{
    motion_options o;
    motion_options_default(&o);
    o.cooldown_s = cooldown_s;
    o.heartbeat_s = heartbeat_s;
    motion *m = motion_create(W, H, &o);
    assert_non_null(m);
    return m;
}

static void test_still_scene_heartbeats_only(void **state)
{
    (void)state;
    make_scene();
    motion *m = gate(1.0, 2.0);
    uint8_t f[H][STRIDE];
    int passes = 0, beats = 0;
    for (int i = 0; i < 50; i++) { /* 5 s at 10 frames/s, noise +-6 */
        frame(f, 6, 0, 0, 0, 0);
        motion_result r;
        motion_verdict v = motion_feed(m, &f[0][0], STRIDE, (uint64_t)i * 100 * MS, &r);
        assert_int_not_equal(v, MOTION_PASS);
        passes += motion_passes(v);
        beats += v == MOTION_HEARTBEAT;
    }
    assert_int_equal(beats, 3); /* at 0, 2 and 4 s */
    assert_int_equal(passes, 3);
    motion_stats st;
    motion_get_stats(m, &st);
    assert_int_equal(st.frames, 50);
    assert_int_equal(st.gated, 47);
    assert_int_equal(st.motion, 0);
    motion_free(m);
}

static void test_moving_square_and_cooldown(void **state)
{
    (void)state;
    make_scene();
    motion *m = gate(1.0, 0); /* no heartbeat */
    uint8_t f[H][STRIDE];
    uint64_t t = 0;
    motion_result r;
    for (int i = 0; i < 10; i++, t += 100 * MS) { /* warm up on the still scene */
        frame(f, 4, 0, 0, 0, 0);
        motion_feed(m, &f[0][0], STRIDE, t, &r);
    }
    assert_int_equal(r.verdict, MOTION_GATED);
    for (int i = 0; i < 5; i++, t += 100 * MS) { /* an 8x8 square crosses */
        frame(f, 4, 8, 10 + 12 * i, 20, 0);
        assert_int_equal(motion_feed(m, &f[0][0], STRIDE, t, &r), MOTION_PASS);
        assert_true(r.largest >= 64 && r.changed < W * H / 4);
    }
    /* gone: the frames within the cool-down pass, then none */
    int cool = 0, gated = 0;
    for (int i = 0; i < 30; i++, t += 100 * MS) {
        frame(f, 4, 0, 0, 0, 0);
        motion_verdict v = motion_feed(m, &f[0][0], STRIDE, t, &r);
        cool += v == MOTION_COOLDOWN;
        gated += v == MOTION_GATED;
        assert_int_not_equal(v, MOTION_PASS);
    }
    assert_true(cool >= 9 && cool <= 11); /* 1 s at 10 frames/s */
    assert_int_equal(cool + gated, 30);
    motion_free(m);
}

static void test_small_blink_is_too_small(void **state)
{
    (void)state;
    make_scene();
    motion_options o;
    motion_options_default(&o);
    o.min_area = 60; /* a 3x3 spot, blurred and dilated, is 7x7 */
    o.heartbeat_s = 0;
    motion *m = motion_create(W, H, &o);
    assert_non_null(m);
    uint8_t f[H][STRIDE];
    int seen = 0;
    for (int i = 0; i < 20; i++) {
        frame(f, 3, i >= 8 && i % 2 ? 3 : 0, 40, 30, 0); /* a 3x3 spot blinks */
        motion_result r;
        assert_int_equal(motion_feed(m, &f[0][0], STRIDE, (uint64_t)i * 100 * MS, &r),
                         MOTION_GATED);
        assert_true(r.largest < 60);
        seen |= r.largest > 0;
    }
    assert_true(seen); /* it was seen, and found too small */
    motion_free(m);
}

static void test_lighting_change_resets(void **state)
{
    (void)state;
    make_scene();
    motion *m = gate(0, 0);
    uint8_t f[H][STRIDE];
    motion_result r;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++, t += 100 * MS) {
        frame(f, 2, 0, 0, 0, 0);
        motion_feed(m, &f[0][0], STRIDE, t, &r);
    }
    frame(f, 2, 0, 0, 0, 70); /* the lights come on */
    assert_int_equal(motion_feed(m, &f[0][0], STRIDE, t, &r), MOTION_GATED);
    assert_int_equal(r.lighting, 1);
    t += 100 * MS;
    frame(f, 2, 0, 0, 0, 70); /* and stay on: the scene now */
    assert_int_equal(motion_feed(m, &f[0][0], STRIDE, t, &r), MOTION_GATED);
    assert_int_equal(r.lighting, 0);
    assert_true(r.changed < W * H / 20);
    t += 100 * MS;
    frame(f, 2, 8, 40, 20, 70); /* motion in the new light is seen */
    assert_int_equal(motion_feed(m, &f[0][0], STRIDE, t, &r), MOTION_PASS);
    motion_stats st;
    motion_get_stats(m, &st);
    assert_int_equal(st.lighting, 1);
    motion_free(m);
}

static void test_bad_options(void **state)
{
    (void)state;
    motion_options o;
    motion_options_default(&o);
    assert_null(motion_create(4, 64, &o));
    assert_null(motion_create(64, 5000, &o));
    assert_null(motion_create(64, 64, NULL));
    motion_options b = o;
    b.threshold = 0;
    assert_null(motion_create(64, 64, &b));
    b = o;
    b.alpha = 0;
    assert_null(motion_create(64, 64, &b));
    b = o;
    b.lighting = 1.5;
    assert_null(motion_create(64, 64, &b));
    b = o;
    b.heartbeat_s = -1;
    assert_null(motion_create(64, 64, &b));
    motion_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_still_scene_heartbeats_only),
        cmocka_unit_test(test_moving_square_and_cooldown),
        cmocka_unit_test(test_small_blink_is_too_small),
        cmocka_unit_test(test_lighting_change_resets),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
