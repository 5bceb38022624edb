/* Decoding real photos: dimensions, pixel values against PIL's decode of the
 * same file, DCT scale selection from the tensor spec, PNG colour types and
 * bit depths, JPEG colour spaces, probe, files and buffer reuse. */
#include "vtest.h"

#include <unistd.h>

static vision_decoder *dec;

static int setup(void **state)
{
    dec = vision_decoder_create(NULL);
    return dec ? 0 : -1;
}

static int teardown(void **state)
{
    vision_decoder_destroy(dec);
    return 0;
}

typedef struct known_px {
    int x, y;
    uint8_t rgb[3];
} known_px;

static void assert_known(const vision_image *img, const known_px *k, int n)
{
    for (int i = 0; i < n; i++) {
        const uint8_t *p = px(img, k[i].x, k[i].y);
        for (int c = 0; c < 3; c++)
            if (abs((int)p[c] - (int)k[i].rgb[c]) > 2)
                fail_msg("pixel (%d,%d) channel %d: %d, PIL says %d", k[i].x, k[i].y, c, p[c],
                         k[i].rgb[c]);
    }
}

static void test_dog_full(void **state)
{
    vision_image img;
    vision_image_init(&img);
    decode_data(dec, "dog.jpg", NULL, &img);
    assert_int_equal(img.format, VISION_FORMAT_JPEG);
    assert_int_equal(img.width, 768);
    assert_int_equal(img.height, 576);
    assert_int_equal(img.orig_width, 768);
    assert_int_equal(img.orig_height, 576);
    assert_int_equal(img.stride, 768 * 3);
    assert_int_equal(img.scale_num, 1);
    assert_int_equal(img.scale_denom, 1);
    /* Values from PIL (libjpeg-turbo, islow IDCT) decoding the same file. */
    static const known_px k[] = {
        {0, 0, {57, 58, 50}},     {100, 100, {188, 205, 150}}, {384, 288, {119, 6, 10}},
        {767, 575, {50, 39, 35}}, {200, 400, {12, 11, 7}},     {600, 120, {242, 234, 245}},
    };
    assert_known(&img, k, 6);
    vision_image_dispose(&img);
}

/* A 320x320 letterbox needs 320x240: 1/2 (384x288) covers it, 1/4 does not. */
static void test_dog_half_scale_for_320(void **state)
{
    vision_image half, full;
    vision_image_init(&half);
    vision_image_init(&full);
    vision_spec spec = vision_spec_letterbox(320, 320);
    decode_data(dec, "dog.jpg", &spec, &half);
    decode_data(dec, "dog.jpg", NULL, &full);
    assert_int_equal(half.scale_num, 1);
    assert_int_equal(half.scale_denom, 2);
    assert_int_equal(half.width, 384);
    assert_int_equal(half.height, 288);
    assert_int_equal(half.orig_width, 768);
    assert_int_equal(half.orig_height, 576);
    /* PIL's draft mode (the same libjpeg scaled IDCT) at 1/2. */
    static const known_px k[] = {
        {0, 0, {58, 59, 51}},     {50, 50, {182, 192, 131}}, {192, 144, {125, 43, 29}},
        {383, 287, {54, 43, 39}}, {100, 200, {13, 12, 8}},   {300, 60, {247, 246, 251}},
    };
    assert_known(&half, k, 6);
    /* A known region agrees with the 2x2 mean of the full decode. */
    double sum = 0;
    int n = 0;
    for (int y = 100; y < 200; y++)
        for (int x = 50; x < 250; x++)
            for (int c = 0; c < 3; c++, n++) {
                int m = px(&full, 2 * x, 2 * y)[c] + px(&full, 2 * x + 1, 2 * y)[c] +
                        px(&full, 2 * x, 2 * y + 1)[c] + px(&full, 2 * x + 1, 2 * y + 1)[c];
                sum += fabs(px(&half, x, y)[c] - m / 4.0);
            }
    assert_true(sum / n < 3.0);
    vision_image_dispose(&half);
    vision_image_dispose(&full);
}

static void expect_scale(const char *name, vision_decoder *d, vision_spec spec, int num, int denom,
                         int w, int h)
{
    vision_image img;
    vision_image_init(&img);
    decode_data(d, name, &spec, &img);
    if (img.scale_num != num || img.scale_denom != denom || img.width != w || img.height != h)
        fail_msg("%s for %dx%d mode %d: got %d/%d %dx%d, want %d/%d %dx%d", name, spec.width,
                 spec.height, spec.mode, img.scale_num, img.scale_denom, img.width, img.height, num,
                 denom, w, h);
    vision_image_dispose(&img);
}

static void test_scale_selection(void **state)
{
    /* 640x640 needs 640x480: only a full decode covers it. */
    expect_scale("dog.jpg", dec, vision_spec_letterbox(640, 640), 1, 1, 768, 576);
    /* 64x64 needs 64x48: 1/8 gives 96x72. */
    expect_scale("dog.jpg", dec, vision_spec_letterbox(64, 64), 1, 8, 96, 72);
    /* 192x192 needs 192x144: exactly 1/4. */
    expect_scale("dog.jpg", dec, vision_spec_letterbox(192, 192), 1, 4, 192, 144);
    /* 193x193 needs 193x145: 1/4 falls one pixel short, so 1/2. */
    expect_scale("dog.jpg", dec, vision_spec_letterbox(193, 193), 1, 2, 384, 288);
    /* Target larger than the image: full decode, no DCT upscaling. */
    expect_scale("dog.jpg", dec, vision_spec_letterbox(1280, 1280), 1, 1, 768, 576);
    /* Crop 224 after short side 256: needs 341x256; 1/2 covers, 1/4 does not. */
    expect_scale("dog.jpg", dec, vision_spec_crop(224, 224, 256), 1, 2, 384, 288);
    /* Odd size: 773x512 for 320 needs 320x212 -> 1/2 = 387x256 (TJSCALED rounds up). */
    expect_scale("horses.jpg", dec, vision_spec_letterbox(320, 320), 1, 2, 387, 256);

    /* With every factor allowed, 640 needs 640x480 and 7/8 (672x504) covers. */
    vision_limits lim = {.jpeg_all_scales = 1};
    vision_decoder *all = vision_decoder_create(&lim);
    assert_non_null(all);
    expect_scale("dog.jpg", all, vision_spec_letterbox(640, 640), 7, 8, 672, 504);
    expect_scale("dog.jpg", all, vision_spec_letterbox(320, 320), 1, 2, 384, 288);
    expect_scale("dog.jpg", all, vision_spec_letterbox(400, 400), 5, 8, 480, 360);
    vision_decoder_destroy(all);
}

/* The PNG (PIL box-downscaled 4x) and the 1/4 DCT decode of the same photo. */
static void test_png_matches_jpeg(void **state)
{
    vision_image png, jpg;
    vision_image_init(&png);
    vision_image_init(&jpg);
    vision_spec spec = vision_spec_letterbox(192, 192);
    decode_data(dec, "dog_192x144.png", &spec, &png);
    decode_data(dec, "dog.jpg", &spec, &jpg);
    assert_int_equal(png.format, VISION_FORMAT_PNG);
    assert_int_equal(png.width, 192);
    assert_int_equal(png.height, 144);
    assert_int_equal(png.scale_denom, 1);
    assert_int_equal(jpg.width, 192);
    double d = mean_abs_diff(&png, &jpg);
    print_message("png vs jpeg 1/4: mean |diff| %.2f\n", d);
    assert_true(d < 4.0);
    vision_image_dispose(&png);
    vision_image_dispose(&jpg);
}

static void assert_same_pixels(const vision_image *a, const vision_image *b, const char *what)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    for (int y = 0; y < a->height; y++)
        if (memcmp(px(a, 0, y), px(b, 0, y), 3 * (size_t)a->width) != 0)
            fail_msg("%s differs from reference on row %d", what, y);
}

static void test_png_variants(void **state)
{
    vision_image ref, img;
    vision_image_init(&ref);
    vision_image_init(&img);
    decode_data(dec, "vision/v_rgb8.png", NULL, &ref);
    assert_int_equal(ref.width, 32);
    assert_int_equal(ref.height, 24);

    /* Every colour type and depth with colour decodes to the same RGB8. */
    static const char *same[] = {
        "vision/v_rgb8_adam7.png", "vision/v_rgb8_trns.png", "vision/v_rgb16.png",
        "vision/v_rgba8.png",      "vision/v_rgba16.png",    "vision/v_pal8.png",
        "vision/v_pal8_trns.png",
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        decode_data(dec, same[i], NULL, &img);
        assert_same_pixels(&img, &ref, same[i]);
    }

    /* The crop came from dog.jpg at (136, 200), reduced to 256 colours. */
    vision_image dog;
    vision_image_init(&dog);
    decode_data(dec, "dog.jpg", NULL, &dog);
    double sum = 0;
    for (int y = 0; y < 24; y++)
        for (int x = 0; x < 32; x++)
            for (int c = 0; c < 3; c++)
                sum += abs((int)px(&ref, x, y)[c] - (int)px(&dog, 136 + x, 200 + y)[c]);
    assert_true(sum / (32 * 24 * 3) < 6.0);

    /* Gray: R = G = B, the same for every depth; 1-bit is 0 or 255. */
    vision_image gray;
    vision_image_init(&gray);
    decode_data(dec, "vision/v_gray8.png", NULL, &gray);
    static const char *grays[] = {"vision/v_gray16.png", "vision/v_graya8.png"};
    for (size_t i = 0; i < 2; i++) {
        decode_data(dec, grays[i], NULL, &img);
        assert_same_pixels(&img, &gray, grays[i]);
    }
    decode_data(dec, "vision/v_gray1.png", NULL, &img);
    for (int y = 0; y < 24; y++)
        for (int x = 0; x < 32; x++) {
            const uint8_t *g = px(&gray, x, y), *b = px(&img, x, y), *r = px(&ref, x, y);
            assert_int_equal(g[0], g[1]);
            assert_int_equal(g[0], g[2]);
            assert_int_equal(b[0], g[0] > 127 ? 255 : 0);
            int luma = (r[0] * 299 + r[1] * 587 + r[2] * 114) / 1000;
            assert_int_equal(g[0], luma);
        }
    vision_image_dispose(&gray);
    vision_image_dispose(&dog);
    vision_image_dispose(&ref);
    vision_image_dispose(&img);
}

static void test_jpeg_colour_spaces(void **state)
{
    vision_image base, img;
    vision_image_init(&base);
    vision_image_init(&img);
    decode_data(dec, "vision/v_base.jpg", NULL, &base);
    assert_int_equal(base.width, 96);
    assert_int_equal(base.height, 72);

    decode_data(dec, "vision/v_prog.jpg", NULL, &img);
    assert_true(mean_abs_diff(&img, &base) < 4.0);

    decode_data(dec, "vision/v_cmyk.jpg", NULL, &img);
    double d = mean_abs_diff(&img, &base);
    print_message("cmyk vs rgb jpeg: mean |diff| %.2f\n", d);
    assert_true(d < 4.0);

    decode_data(dec, "vision/v_gray.jpg", NULL, &img);
    double sum = 0;
    for (int y = 0; y < 72; y++)
        for (int x = 0; x < 96; x++) {
            const uint8_t *g = px(&img, x, y), *b = px(&base, x, y);
            assert_int_equal(g[0], g[1]);
            assert_int_equal(g[0], g[2]);
            sum += fabs(g[0] - (0.299 * b[0] + 0.587 * b[1] + 0.114 * b[2]));
        }
    assert_true(sum / (96 * 72) < 4.0);
    vision_image_dispose(&base);
    vision_image_dispose(&img);
}

static void test_probe(void **state)
{
    size_t n;
    uint8_t *buf = read_data("horses.jpg", &n);
    vision_info info;
    vision_error err;
    assert_int_equal(vision_probe(dec, buf, n, &info, &err), VISION_OK);
    assert_int_equal(info.format, VISION_FORMAT_JPEG);
    assert_int_equal(info.width, 773);
    assert_int_equal(info.height, 512);
    assert_string_equal(err.msg, "");
    free(buf);
    buf = read_data("dog_192x144.png", &n);
    assert_int_equal(vision_probe(dec, buf, n, &info, &err), VISION_OK);
    assert_int_equal(info.format, VISION_FORMAT_PNG);
    assert_int_equal(info.width, 192);
    assert_int_equal(info.height, 144);
    assert_string_equal(vision_format_name(info.format), "png");
    free(buf);
}

/* Format comes from the bytes: a JPEG named .png decodes as JPEG. */
static void test_load_file(void **state)
{
    vision_image img;
    vision_image_init(&img);
    vision_error err;
    assert_int_equal(vision_load_file(dec, data_path("person.jpg"), NULL, &img, &err), VISION_OK);
    assert_int_equal(img.width, 640);
    assert_int_equal(img.height, 424);

    size_t n;
    uint8_t *buf = read_data("dog.jpg", &n);
    char tmp[] = "/tmp/glint_vision_XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    close(fd);
    char misnamed[64];
    snprintf(misnamed, sizeof misnamed, "%s.png", tmp);
    assert_int_equal(rename(tmp, misnamed), 0);
    assert_int_equal(vision_load_file(dec, misnamed, NULL, &img, &err), VISION_OK);
    assert_int_equal(img.format, VISION_FORMAT_JPEG);
    assert_int_equal(img.width, 768);

    /* Over the file-size limit: refused before reading. */
    vision_limits lim = {.max_file_bytes = 1000};
    vision_decoder *small = vision_decoder_create(&lim);
    assert_int_equal(vision_load_file(small, misnamed, NULL, &img, &err), VISION_ERR_LIMIT);
    assert_non_null(strstr(err.msg, "limit 1000"));
    assert_int_equal(img.width, 0);
    vision_decoder_destroy(small);
    unlink(misnamed);
    free(buf);

    assert_int_equal(vision_load_file(dec, "/nonexistent/x.jpg", NULL, &img, &err), VISION_ERR_IO);
    assert_int_equal(err.status, VISION_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/x.jpg"));
    /* A directory cannot be read as a file. */
    assert_int_not_equal(vision_load_file(dec, "/tmp", NULL, &img, &err), VISION_OK);
    assert_true(err.msg[0] != '\0');
    vision_image_dispose(&img);
}

/* Decoding into the same image reuses its buffer when the next image fits. */
static void test_buffer_reuse(void **state)
{
    vision_image img;
    vision_image_init(&img);
    decode_data(dec, "dog.jpg", NULL, &img);
    uint8_t *first = img.pixels;
    size_t cap = img.capacity;
    assert_true(cap >= 768 * 576 * 3);
    decode_data(dec, "person.jpg", NULL, &img);
    assert_ptr_equal(img.pixels, first);
    assert_int_equal(img.capacity, cap);
    assert_int_equal(img.width, 640);
    vision_image_dispose(&img);
    assert_null(img.pixels);
    assert_int_equal(img.capacity, 0);
    vision_image_dispose(&img); /* twice is fine */
    vision_image_dispose(NULL);
    vision_decoder_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dog_full),        cmocka_unit_test(test_dog_half_scale_for_320),
        cmocka_unit_test(test_scale_selection), cmocka_unit_test(test_png_matches_jpeg),
        cmocka_unit_test(test_png_variants),    cmocka_unit_test(test_jpeg_colour_spaces),
        cmocka_unit_test(test_probe),           cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_buffer_reuse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
