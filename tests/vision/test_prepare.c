/* Tensor preparation: letterbox and crop geometry (checked against explicit
 * numbers), pad values, normalisation and channel order, exact bilinear
 * values on tiny images, agreement with a plain per-pixel reference
 * implementation, DCT-scaled input, and the inverse mapping of boxes. */
#include "vtest.h"

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

static float *alloc_tensor(const vision_spec *s)
{
    float *t = malloc(3 * sizeof(float) * (size_t)s->width * (size_t)s->height);
    assert_non_null(t);
    return t;
}

static void prepare_ok(const vision_image *img, const vision_spec *spec, float *dst,
                       vision_transform *tf)
{
    vision_error err;
    vision_status s =
        vision_prepare(img, spec, dst, 3 * (size_t)spec->width * spec->height, tf, &err);
    if (s != VISION_OK) fail_msg("prepare: %s", err.msg);
}

static float at(const float *t, const vision_spec *s, int plane, int x, int y)
{
    return t[((size_t)plane * s->height + y) * s->width + x];
}

static float pad_value(const vision_spec *s, int plane)
{
    return ((float)s->pad_value / 255.0f - s->mean[plane]) / s->std[plane];
}

/* Per-pixel reference in double precision, written from the definition:
 * geometry from tf, half-pixel bilinear from the decoded image, clamped
 * taps, then (x/255 - mean) / std in tensor channel order. */
static double reference(const vision_image *img, const vision_spec *s, const vision_transform *tf,
                        int plane, int x, int y)
{
    int c = s->bgr ? 2 - plane : plane;
    int rx = x - (int)tf->offset_x, ry = y - (int)tf->offset_y;
    if (rx < 0 || ry < 0 || rx >= tf->resized_width || ry >= tf->resized_height)
        return (s->pad_value / 255.0 - s->mean[plane]) / s->std[plane];
    double sx = (rx + 0.5) * img->width / tf->resized_width - 0.5;
    double sy = (ry + 0.5) * img->height / tf->resized_height - 0.5;
    sx = sx < 0 ? 0 : sx > img->width - 1 ? img->width - 1 : sx;
    sy = sy < 0 ? 0 : sy > img->height - 1 ? img->height - 1 : sy;
    int x0 = (int)sx, y0 = (int)sy;
    int x1 = x0 + 1 < img->width ? x0 + 1 : x0, y1 = y0 + 1 < img->height ? y0 + 1 : y0;
    double wx = sx - x0, wy = sy - y0;
    double top = px(img, x0, y0)[c] * (1 - wx) + px(img, x1, y0)[c] * wx;
    double bot = px(img, x0, y1)[c] * (1 - wx) + px(img, x1, y1)[c] * wx;
    double v = top * (1 - wy) + bot * wy;
    return (v / 255.0 - s->mean[plane]) / s->std[plane];
}

static void assert_matches_reference(const vision_image *img, const vision_spec *s,
                                     const vision_transform *tf, const float *t)
{
    double worst = 0;
    for (int p = 0; p < 3; p++)
        for (int y = 0; y < s->height; y++)
            for (int x = 0; x < s->width; x++) {
                double d = fabs(at(t, s, p, x, y) - reference(img, s, tf, p, x, y));
                if (d > worst) worst = d;
                if (d > 1e-4)
                    fail_msg("plane %d (%d,%d): %f, reference %f", p, x, y, at(t, s, p, x, y),
                             reference(img, s, tf, p, x, y));
            }
}

/* True if every value of rows [y0, y1) x cols [x0, x1) of every plane is
 * exactly the pad value. */
static void assert_pad(const float *t, const vision_spec *s, int x0, int x1, int y0, int y1)
{
    for (int p = 0; p < 3; p++) {
        float v = pad_value(s, p);
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
                if (at(t, s, p, x, y) != v)
                    fail_msg("plane %d (%d,%d) = %f, pad %f", p, x, y, at(t, s, p, x, y), v);
    }
}

static void test_letterbox_dog_640(void **state)
{
    vision_image img;
    vision_image_init(&img);
    vision_spec s = vision_spec_letterbox(640, 640);
    decode_data(dec, "dog.jpg", &s, &img);
    float *t = alloc_tensor(&s);
    vision_transform tf;
    prepare_ok(&img, &s, t, &tf);
    assert_int_equal(tf.mode, VISION_LETTERBOX);
    assert_int_equal(tf.orig_width, 768);
    assert_int_equal(tf.orig_height, 576);
    assert_int_equal(tf.decoded_width, 768);
    assert_int_equal(tf.resized_width, 640);
    assert_int_equal(tf.resized_height, 480);
    assert_int_equal(tf.pad_x, 0);
    assert_int_equal(tf.pad_y, 80);
    assert_int_equal(tf.crop_x, 0);
    assert_float_equal(tf.scale_x, 640.0f / 768.0f, 1e-6);
    assert_float_equal(tf.scale_y, 480.0f / 576.0f, 1e-6);
    assert_float_equal(tf.offset_y, 80.0f, 0);
    /* Pad rows hold exactly (114/255 - 0) / 1; the image rows do not. */
    assert_float_equal(pad_value(&s, 0), 114.0f / 255.0f, 0);
    assert_pad(t, &s, 0, 640, 0, 80);
    assert_pad(t, &s, 0, 640, 560, 640);
    int differs = 0;
    for (int x = 0; x < 640; x++) {
        float v = at(t, &s, 1, x, 80);
        assert_true(v >= 0.0f && v <= 1.0f);
        differs += v != pad_value(&s, 1);
    }
    assert_true(differs > 600);
    assert_matches_reference(&img, &s, &tf, t);
    free(t);
    vision_image_dispose(&img);
}

/* person.jpg is 640x424: at 640 the resize is the identity, so the tensor
 * holds the decoded pixels / 255 exactly. */
static void test_letterbox_identity(void **state)
{
    vision_image img;
    vision_image_init(&img);
    vision_spec s = vision_spec_letterbox(640, 640);
    decode_data(dec, "person.jpg", &s, &img);
    float *t = alloc_tensor(&s);
    vision_transform tf;
    prepare_ok(&img, &s, t, &tf);
    assert_int_equal(tf.resized_width, 640);
    assert_int_equal(tf.resized_height, 424);
    assert_int_equal(tf.pad_y, 108);
    assert_float_equal(tf.scale_x, 1.0f, 0);
    for (int y = 0; y < 424; y++)
        for (int x = 0; x < 640; x++)
            for (int c = 0; c < 3; c++)
                assert_float_equal(at(t, &s, c, x, y + 108), px(&img, x, y)[c] / 255.0f, 1e-6);
    assert_pad(t, &s, 0, 640, 0, 108);
    assert_pad(t, &s, 0, 640, 532, 640);
    free(t);
    vision_image_dispose(&img);
}

/* Odd sizes: 773x512 into 416x416 -> 416x276 (275.5 rounds up), pad 70. */
static void test_letterbox_odd(void **state)
{
    vision_image img;
    vision_image_init(&img);
    vision_spec s = vision_spec_letterbox(416, 416);
    decode_data(dec, "horses.jpg", &s, &img);
    assert_int_equal(img.scale_denom, 1); /* 1/2 = 387 < 416 */
    float *t = alloc_tensor(&s);
    vision_transform tf;
    prepare_ok(&img, &s, t, &tf);
    assert_int_equal(tf.resized_width, 416);
    assert_int_equal(tf.resized_height, 276);
    assert_int_equal(tf.pad_y, 70);
    assert_pad(t, &s, 0, 416, 0, 70);
    assert_pad(t, &s, 0, 416, 346, 416);
    assert_matches_reference(&img, &s, &tf, t);

    /* Non-square tensor, tall image direction: 773x512 into 320x640. */
    vision_spec tall = vision_spec_letterbox(320, 640);
    free(t);
    t = alloc_tensor(&tall);
    prepare_ok(&img, &tall, t, &tf);
    assert_int_equal(tf.resized_width, 320);
    assert_int_equal(tf.resized_height, 212);
    assert_int_equal(tf.pad_x, 0);
    assert_int_equal(tf.pad_y, 214);
    assert_matches_reference(&img, &tall, &tf, t);
    free(t);
    vision_image_dispose(&img);
}

/* Rect letterbox (Ultralytics LetterBox(auto=True)): the long side to the
 * model size, the short side padded only to a multiple of the stride, the
 * padding centred; pictures and values as in the square letterbox. */
static void test_letterbox_rect(void **state)
{
    vision_spec s = vision_spec_letterbox(640, 640);
    s.stride = 32;
    const struct {
        int w, h, tw, th, rw, rh, px, py;
    } cases[] = {
        {1280, 720, 640, 384, 640, 360, 0, 12}, /* a camera frame: 40% less than 640x640 */
        {768, 576, 640, 480, 640, 480, 0, 0},   /* dog.jpg: no padding at all */
        {640, 424, 640, 448, 640, 424, 0, 12},  /* person.jpg */
        {773, 512, 640, 448, 640, 424, 0, 12},  /* horses.jpg */
        {720, 1280, 384, 640, 360, 640, 12, 0}, /* portrait */
        {640, 640, 640, 640, 640, 640, 0, 0},
        {100, 3000, 32, 640, 21, 640, 5, 0},  /* thin: at least one stride */
        {320, 200, 640, 416, 640, 400, 0, 8}, /* smaller pictures are scaled up, as square */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vision_spec r = vision_spec_rect(&s, cases[i].w, cases[i].h);
        assert_int_equal(r.width, cases[i].tw);
        assert_int_equal(r.height, cases[i].th);
        vision_image img = {0};
        img.width = img.orig_width = cases[i].w;
        img.height = img.orig_height = cases[i].h;
        img.stride = 3 * (size_t)img.width;
        img.pixels = calloc(img.stride, (size_t)img.height);
        assert_non_null(img.pixels);
        float *t = alloc_tensor(&r);
        vision_transform tf;
        prepare_ok(&img, &r, t, &tf);
        assert_int_equal(tf.tensor_width, cases[i].tw);
        assert_int_equal(tf.tensor_height, cases[i].th);
        assert_int_equal(tf.resized_width, cases[i].rw);
        assert_int_equal(tf.resized_height, cases[i].rh);
        assert_int_equal(tf.pad_x, cases[i].px);
        assert_int_equal(tf.pad_y, cases[i].py);
        /* the scale is the square letterbox's: boxes map back the same way */
        vision_spec sq = vision_spec_letterbox(640, 640);
        float *t2 = alloc_tensor(&sq);
        vision_transform tq;
        prepare_ok(&img, &sq, t2, &tq);
        assert_int_equal(tq.resized_width, tf.resized_width);
        assert_int_equal(tq.resized_height, tf.resized_height);
        free(t2);
        free(t);
        free(img.pixels);
    }
    /* dog.jpg: values as the square letterbox's inside the picture */
    vision_image img;
    vision_image_init(&img);
    decode_data(dec, "dog.jpg", &s, &img);
    vision_spec r = vision_spec_rect(&s, img.orig_width, img.orig_height);
    float *t = alloc_tensor(&r);
    vision_transform tf;
    prepare_ok(&img, &r, t, &tf);
    assert_matches_reference(&img, &r, &tf, t);
    free(t);
    vision_image_dispose(&img);
    /* without a stride, or for a crop, the spec is itself */
    vision_spec plain = vision_spec_letterbox(640, 640);
    vision_spec same = vision_spec_rect(&plain, 1280, 720);
    assert_int_equal(same.height, 640);
    vision_spec crop = vision_spec_crop(224, 224, 256);
    crop.stride = 32;
    same = vision_spec_rect(&crop, 1280, 720);
    assert_int_equal(same.height, 224);
}

/* A 1/2 DCT decode feeds the same geometry as a full decode, relative to the
 * original size, and nearly the same values. */
static void test_letterbox_dct_scaled(void **state)
{
    vision_image half, full;
    vision_image_init(&half);
    vision_image_init(&full);
    vision_spec s = vision_spec_letterbox(320, 320);
    decode_data(dec, "dog.jpg", &s, &half);
    decode_data(dec, "dog.jpg", NULL, &full);
    assert_int_equal(half.width, 384);
    float *a = alloc_tensor(&s), *b = alloc_tensor(&s);
    vision_transform ta, tb;
    prepare_ok(&half, &s, a, &ta);
    prepare_ok(&full, &s, b, &tb);
    assert_int_equal(ta.orig_width, 768);
    assert_int_equal(ta.decoded_width, 384);
    assert_int_equal(tb.decoded_width, 768);
    assert_int_equal(ta.resized_width, 320);
    assert_int_equal(ta.resized_height, 240);
    assert_int_equal(ta.pad_y, 40);
    assert_float_equal(ta.scale_x, tb.scale_x, 0);
    assert_float_equal(ta.offset_y, tb.offset_y, 0);
    assert_matches_reference(&half, &s, &ta, a);
    double sum = 0;
    for (size_t i = 0; i < 3 * 320 * 320; i++)
        sum += fabs(a[i] - b[i]);
    print_message("1/2 DCT vs full decode, 320 letterbox: mean |diff| %.4f\n",
                  sum / (3 * 320 * 320));
    assert_true(sum / (3 * 320 * 320) < 0.02);

    /* The image's corners map back to the original's corners. */
    float x = 320, y = 280;
    vision_transform_point(&ta, &x, &y);
    assert_float_equal(x, 768.0f, 1e-3);
    assert_float_equal(y, 576.0f, 1e-3);
    free(a);
    free(b);
    vision_image_dispose(&half);
    vision_image_dispose(&full);
}

static void test_normalise_and_bgr(void **state)
{
    vision_image img;
    vision_image_init(&img);
    vision_spec s = vision_spec_letterbox(160, 160);
    s.mean[0] = 0.485f, s.mean[1] = 0.456f, s.mean[2] = 0.406f;
    s.std[0] = 0.229f, s.std[1] = 0.224f, s.std[2] = 0.225f;
    s.bgr = 1;
    decode_data(dec, "dog.jpg", &s, &img);
    float *t = alloc_tensor(&s);
    vision_transform tf;
    prepare_ok(&img, &s, t, &tf);
    assert_int_equal(tf.pad_y, 20);
    for (int p = 0; p < 3; p++)
        assert_float_equal(at(t, &s, p, 0, 0), (114.0f / 255.0f - s.mean[p]) / s.std[p], 1e-6);
    assert_pad(t, &s, 0, 160, 0, 20);
    assert_matches_reference(&img, &s, &tf, t);
    /* Plane 0 is blue: compare with an RGB run of the same image. */
    vision_spec rgb = s;
    rgb.bgr = 0;
    rgb.mean[0] = 0, rgb.mean[1] = 0, rgb.mean[2] = 0;
    rgb.std[0] = 1, rgb.std[1] = 1, rgb.std[2] = 1;
    float *u = alloc_tensor(&rgb);
    prepare_ok(&img, &rgb, u, NULL);
    for (int y = 20; y < 140; y += 7)
        for (int x = 0; x < 160; x += 5)
            assert_float_equal(at(t, &s, 0, x, y) * s.std[0] + s.mean[0], at(u, &rgb, 2, x, y),
                               1e-5);
    free(u);
    free(t);
    vision_image_dispose(&img);
}

/* Classifier crop: 768x576 -> short side 256 -> 341x256, crop 224 at
 * x = round(58.5) = 58 (half to even), y = 16. */
static void test_crop_dog(void **state)
{
    vision_image img;
    vision_image_init(&img);
    vision_spec s = vision_spec_crop(224, 224, 256);
    decode_data(dec, "dog.jpg", &s, &img);
    assert_int_equal(img.width, 384); /* 1/2 DCT */
    float *t = alloc_tensor(&s);
    vision_transform tf;
    prepare_ok(&img, &s, t, &tf);
    assert_int_equal(tf.mode, VISION_CROP);
    assert_int_equal(tf.resized_width, 341);
    assert_int_equal(tf.resized_height, 256);
    assert_int_equal(tf.crop_x, 58);
    assert_int_equal(tf.crop_y, 16);
    assert_int_equal(tf.pad_x, 0);
    assert_int_equal(tf.pad_y, 0);
    assert_float_equal(tf.offset_x, -58.0f, 0);
    assert_float_equal(tf.scale_y, 256.0f / 576.0f, 1e-6);
    assert_matches_reference(&img, &s, &tf, t);
    /* ImageNet-normalised photo values stay in the usual range. */
    for (size_t i = 0; i < 3 * 224 * 224; i++)
        assert_true(t[i] > -2.2f && t[i] < 2.7f);
    /* The tensor's centre is the photo's centre. */
    float x = 112, y = 112;
    vision_transform_point(&tf, &x, &y);
    assert_float_equal(x, 384.0f, 2.0);
    assert_float_equal(y, 288.0f, 1.0);
    free(t);
    vision_image_dispose(&img);
}

/* A synthetic portrait image: crop wider than the resized image pads the
 * sides (torchvision pads, then crops). 100x200 -> 224x448, crop 300x224. */
static void test_crop_pads_when_narrow(void **state)
{
    enum { W = 100, H = 200 };
    uint8_t *pix = malloc(W * H * 3);
    for (int i = 0; i < W * H * 3; i++)
        pix[i] = (uint8_t)(i * 7);
    vision_image img = {.pixels = pix, .width = W, .height = H, .stride = W * 3};
    vision_spec s = vision_spec_crop(300, 224, 224);
    s.pad_value = 9;
    float *t = alloc_tensor(&s);
    vision_transform tf;
    prepare_ok(&img, &s, t, &tf);
    assert_int_equal(tf.resized_width, 224);
    assert_int_equal(tf.resized_height, 448);
    assert_int_equal(tf.pad_x, 38);
    assert_int_equal(tf.crop_x, 0);
    assert_int_equal(tf.crop_y, 112);
    assert_int_equal(tf.orig_width, W); /* orig 0 means decoded */
    assert_pad(t, &s, 0, 38, 0, 224);
    assert_pad(t, &s, 262, 300, 0, 224);
    assert_matches_reference(&img, &s, &tf, t);
    vision_image_dispose(&img); /* capacity 0: does not free pix */
    free(pix);
    free(t);
}

/* Exact bilinear values: a 2x1 image [0, 200] (gray) stretched to 4 wide
 * gives 0, 50, 150, 200 (half-pixel centres, clamped edges). */
static void test_bilinear_exact(void **state)
{
    uint8_t pix[6] = {0, 0, 0, 200, 200, 200};
    vision_image img = {.pixels = pix, .width = 2, .height = 1, .stride = 6};
    vision_spec s = vision_spec_letterbox(4, 2);
    float t[3 * 4 * 2];
    vision_transform tf;
    prepare_ok(&img, &s, t, &tf);
    assert_int_equal(tf.resized_width, 4);
    assert_int_equal(tf.resized_height, 2);
    static const float want[4] = {0, 50, 150, 200};
    for (int p = 0; p < 3; p++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 4; x++)
                assert_float_equal(at(t, &s, p, x, y), want[x] / 255.0f, 1e-6);

    /* Downscale 4x1 -> 2x1: centres fall between pixel pairs: means. */
    uint8_t row[12] = {10, 10, 10, 30, 30, 30, 100, 100, 100, 200, 200, 200};
    vision_image img4 = {.pixels = row, .width = 4, .height = 1, .stride = 12};
    vision_spec s2 = vision_spec_letterbox(2, 1);
    float t2[6];
    prepare_ok(&img4, &s2, t2, &tf);
    assert_float_equal(t2[0], 20.0f / 255.0f, 1e-6);
    assert_float_equal(t2[1], 150.0f / 255.0f, 1e-6);
}

/* Writes exactly its slot of a batch buffer. */
static void test_batch_slot(void **state)
{
    vision_image img;
    vision_image_init(&img);
    vision_spec s = vision_spec_letterbox(96, 64);
    decode_data(dec, "horses.jpg", &s, &img);
    size_t per = 3 * 96 * 64;
    float *batch = malloc(sizeof(float) * (3 * per + 1));
    for (size_t i = 0; i < 3 * per + 1; i++)
        batch[i] = -1000.0f;
    vision_error err;
    assert_int_equal(vision_prepare(&img, &s, batch + per, per, NULL, &err), VISION_OK);
    for (size_t i = 0; i < per; i++) {
        assert_true(batch[i] == -1000.0f);
        assert_true(batch[per + i] != -1000.0f);
        assert_true(batch[2 * per + i] == -1000.0f);
    }
    /* Too small a destination is refused without writing. */
    assert_int_equal(vision_prepare(&img, &s, batch, per - 1, NULL, &err), VISION_ERR_ARG);
    assert_non_null(strstr(err.msg, "need"));
    free(batch);
    vision_image_dispose(&img);
}

static void test_transform_box(void **state)
{
    vision_image img;
    vision_image_init(&img);
    vision_spec s = vision_spec_letterbox(640, 640);
    decode_data(dec, "dog.jpg", &s, &img);
    float *t = alloc_tensor(&s);
    vision_transform tf;
    prepare_ok(&img, &s, t, &tf);
    /* A box over the whole image region, one spilling into the padding. */
    float box[4] = {0, 80, 640, 560};
    vision_transform_box(&tf, box);
    assert_float_equal(box[0], 0, 1e-3);
    assert_float_equal(box[1], 0, 1e-3);
    assert_float_equal(box[2], 768, 1e-3);
    assert_float_equal(box[3], 576, 1e-3);
    float spill[4] = {-20, 10, 320, 600};
    vision_transform_box(&tf, spill);
    assert_float_equal(spill[0], 0, 0);
    assert_float_equal(spill[1], 0, 0);
    assert_float_equal(spill[2], 384, 1e-3);
    assert_float_equal(spill[3], 576, 0);
    float mid[4] = {100, 200, 300, 400};
    vision_transform_box(&tf, mid);
    assert_float_equal(mid[0], 120, 1e-3);
    assert_float_equal(mid[1], 144, 1e-3);
    assert_float_equal(mid[2], 360, 1e-3);
    assert_float_equal(mid[3], 384, 1e-3);
    free(t);
    vision_image_dispose(&img);
}

static void test_bad_arguments(void **state)
{
    vision_spec s = vision_spec_letterbox(8, 8);
    float t[3 * 64];
    vision_error err;
    vision_image empty;
    vision_image_init(&empty);
    assert_int_equal(vision_prepare(&empty, &s, t, 192, NULL, &err), VISION_ERR_ARG);
    assert_int_equal(vision_prepare(NULL, &s, t, 192, NULL, &err), VISION_ERR_ARG);
    uint8_t pix[3] = {1, 2, 3};
    vision_image one = {.pixels = pix, .width = 1, .height = 1, .stride = 3};
    assert_int_equal(vision_prepare(&one, NULL, t, 192, NULL, &err), VISION_ERR_ARG);
    assert_int_equal(vision_prepare(&one, &s, NULL, 192, NULL, &err), VISION_ERR_ARG);
    s.width = VISION_MAX_SIDE + 1;
    assert_int_equal(vision_prepare(&one, &s, t, 192, NULL, &err), VISION_ERR_ARG);
    s = vision_spec_letterbox(8, 8);
    s.pad_value = 256;
    assert_int_equal(vision_prepare(&one, &s, t, 192, NULL, &err), VISION_ERR_ARG);
    s = vision_spec_letterbox(8, 8);
    one.stride = 2;
    assert_int_equal(vision_prepare(&one, &s, t, 192, NULL, &err), VISION_ERR_ARG);
    /* A 1x1 image fills the whole tensor (upscaled) with its colour. */
    one.stride = 3;
    assert_int_equal(vision_prepare(&one, &s, t, 192, NULL, &err), VISION_OK);
    for (int i = 0; i < 64; i++)
        assert_float_equal(t[64 + i], 2.0f / 255.0f, 1e-7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_letterbox_dog_640),
        cmocka_unit_test(test_letterbox_identity),
        cmocka_unit_test(test_letterbox_odd),
        cmocka_unit_test(test_letterbox_rect),
        cmocka_unit_test(test_letterbox_dct_scaled),
        cmocka_unit_test(test_normalise_and_bgr),
        cmocka_unit_test(test_crop_dog),
        cmocka_unit_test(test_crop_pads_when_narrow),
        cmocka_unit_test(test_bilinear_exact),
        cmocka_unit_test(test_batch_slot),
        cmocka_unit_test(test_transform_box),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
