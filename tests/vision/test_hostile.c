/* Hostile input: empty, random, truncated, corrupt and oversized images are
 * refused with a status and a message, never a crash, partial image or leak
 * (this suite also runs under ASan+UBSan), and the decoder stays usable. */
#include "vtest.h"

static vision_decoder *strict, *lenient;

static int setup(void **state)
{
    vision_limits lim = {.jpeg_lenient = 1};
    strict = vision_decoder_create(NULL);
    lenient = vision_decoder_create(&lim);
    return strict && lenient ? 0 : -1;
}

static int teardown(void **state)
{
    vision_decoder_destroy(strict);
    vision_decoder_destroy(lenient);
    return 0;
}

/* Decodes and expects status `want` with a non-empty message; returns the
 * message (static) for further checks. */
static const char *expect_fail(vision_decoder *d, const uint8_t *data, size_t n, vision_status want,
                               const char *what)
{
    static vision_error err;
    vision_image img;
    vision_image_init(&img);
    vision_spec spec = vision_spec_letterbox(320, 320);
    vision_status s = vision_decode(d, data, n, &spec, &img, &err);
    if (s != want)
        fail_msg("%s: status %s (%s), want %s", what, vision_strerror(s), err.msg,
                 vision_strerror(want));
    assert_int_equal(err.status, want);
    assert_true(strlen(err.msg) > 10);
    assert_int_equal(img.width, 0);
    assert_int_equal(img.height, 0);
    vision_image_dispose(&img);
    return err.msg;
}

/* Status of a decode (any outcome allowed); asserts the error contract. */
static vision_status try_decode(vision_decoder *d, const uint8_t *data, size_t n)
{
    vision_error err;
    vision_image img;
    vision_image_init(&img);
    vision_status s = vision_decode(d, data, n, NULL, &img, &err);
    if (s == VISION_OK) {
        assert_true(img.width > 0 && img.height > 0);
    } else {
        assert_true(err.msg[0] != '\0');
        assert_int_equal(img.width, 0);
    }
    vision_image_dispose(&img);
    return s;
}

static void test_empty(void **state)
{
    static const uint8_t one = 0xFF;
    expect_fail(strict, NULL, 0, VISION_ERR_FORMAT, "NULL");
    expect_fail(strict, &one, 0, VISION_ERR_FORMAT, "size 0");
    expect_fail(strict, &one, 1, VISION_ERR_FORMAT, "one byte");
    static const uint8_t soi[] = {0xFF, 0xD8, 0xFF};
    expect_fail(strict, soi, sizeof soi, VISION_ERR_CORRUPT, "bare SOI");
    expect_fail(lenient, soi, sizeof soi, VISION_ERR_CORRUPT, "bare SOI lenient");
    static const uint8_t sig[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    expect_fail(strict, sig, sizeof sig, VISION_ERR_CORRUPT, "bare PNG signature");
}

static void test_other_formats(void **state)
{
    static const char gif[] = "GIF89a\x01\x00\x01\x00\x00\x00\x00;";
    const char *m = expect_fail(strict, (const uint8_t *)gif, sizeof gif, VISION_ERR_FORMAT, "gif");
    assert_non_null(strstr(m, "GIF"));
    static const char webp[] = "RIFF\x10\x00\x00\x00WEBPVP8 ";
    m = expect_fail(strict, (const uint8_t *)webp, sizeof webp, VISION_ERR_FORMAT, "webp");
    assert_non_null(strstr(m, "WebP"));
    static const char html[] = "<html><body>not an image</body></html>";
    m = expect_fail(strict, (const uint8_t *)html, sizeof html, VISION_ERR_FORMAT, "html");
    assert_non_null(strstr(m, "3c 68 74 6d"));
}

static void test_random_bytes(void **state)
{
    uint8_t buf[4096];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = (uint8_t)rng_next(&seed);
        size_t n = 1 + rng_next(&seed) % sizeof buf;
        if (buf[0] == 0xFF || buf[0] == 0x89) buf[0] = 0;
        expect_fail(strict, buf, n, VISION_ERR_FORMAT, "random");
        /* The same garbage behind a valid magic reaches the real parsers. */
        buf[0] = 0xFF, buf[1] = 0xD8, buf[2] = 0xFF;
        assert_int_not_equal(try_decode(strict, buf, n), VISION_OK);
        assert_int_not_equal(try_decode(lenient, buf, n), VISION_OK);
        static const uint8_t sig[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        memcpy(buf, sig, sizeof sig);
        assert_int_not_equal(try_decode(strict, buf, n), VISION_OK);
    }
}

static void test_truncated_jpeg(void **state)
{
    size_t n;
    uint8_t *dog = read_data("dog.jpg", &n);
    const char *m = expect_fail(strict, dog, n / 2, VISION_ERR_CORRUPT, "half dog strict");
    print_message("strict: %s\n", m);
    m = expect_fail(lenient, dog, n / 2, VISION_ERR_CORRUPT, "half dog lenient");
    assert_non_null(strstr(m, "truncated"));
    /* Every cut, including one that loses only the final byte of EOI. */
    for (size_t cut = 1; cut < n; cut += (cut < 700 ? 7 : 1499)) {
        assert_int_not_equal(try_decode(strict, dog, cut), VISION_OK);
        assert_int_not_equal(try_decode(lenient, dog, cut), VISION_OK);
    }
    expect_fail(strict, dog, n - 1, VISION_ERR_CORRUPT, "dog minus one byte strict");
    expect_fail(lenient, dog, n - 1, VISION_ERR_CORRUPT, "dog minus one byte lenient");
    free(dog);

    /* Progressive: the end-of-image walk must cross several scans. */
    uint8_t *prog = read_data("vision/v_prog.jpg", &n);
    assert_int_equal(try_decode(lenient, prog, n), VISION_OK);
    for (size_t cut = 1; cut < n; cut += 13) {
        assert_int_not_equal(try_decode(strict, prog, cut), VISION_OK);
        assert_int_not_equal(try_decode(lenient, prog, cut), VISION_OK);
    }
    free(prog);
}

static void test_truncated_png(void **state)
{
    size_t n;
    uint8_t *png = read_data("dog_192x144.png", &n);
    expect_fail(strict, png, n / 2, VISION_ERR_CORRUPT, "half png");
    for (size_t cut = 1; cut < n - 12;
         cut += 997) /* without IEND it may decode: all pixels are there */
        assert_int_not_equal(try_decode(strict, png, cut), VISION_OK);
    /* A flipped byte inside IDAT breaks its CRC. */
    png[n / 2] ^= 0x40;
    expect_fail(strict, png, n, VISION_ERR_CORRUPT, "png bad crc");
    free(png);
}

/* Offset of the SOFn segment's marker in a JPEG. */
static size_t find_sof(const uint8_t *d, size_t n)
{
    size_t pos = 2;
    while (pos + 4 < n && d[pos] == 0xFF) {
        uint8_t m = d[pos + 1];
        if (m >= 0xC0 && m <= 0xC2) return pos;
        pos += 2 + (((size_t)d[pos + 2] << 8) | d[pos + 3]);
    }
    fail_msg("no SOF marker");
    return 0;
}

static void set_jpeg_dims(uint8_t *d, size_t sof, int w, int h)
{
    d[sof + 5] = (uint8_t)(h >> 8), d[sof + 6] = (uint8_t)h;
    d[sof + 7] = (uint8_t)(w >> 8), d[sof + 8] = (uint8_t)w;
}

static void test_jpeg_huge_header(void **state)
{
    size_t n;
    uint8_t *dog = read_data("dog.jpg", &n);
    size_t sof = find_sof(dog, n);
    set_jpeg_dims(dog, sof, 65000, 65000);
    const char *m = expect_fail(strict, dog, n, VISION_ERR_LIMIT, "65000x65000 jpeg");
    assert_non_null(strstr(m, "65000x65000"));
    vision_info info;
    vision_error err;
    assert_int_equal(vision_probe(strict, dog, n, &info, &err), VISION_ERR_LIMIT);
    assert_int_equal(info.width, 65000);

    set_jpeg_dims(dog, sof, 768, 0); /* height 0 (DNL) */
    expect_fail(strict, dog, n, VISION_ERR_CORRUPT, "zero-height jpeg");
    set_jpeg_dims(dog, sof, 0, 576);
    expect_fail(strict, dog, n, VISION_ERR_CORRUPT, "zero-width jpeg");
    /* Claims more pixels than the data holds: strict refuses; lenient, as
     * documented, decodes what is there (EOI is present) and greys the rest. */
    set_jpeg_dims(dog, sof, 4000, 3000);
    expect_fail(strict, dog, n, VISION_ERR_CORRUPT, "4000x3000 claim");
    vision_image img;
    vision_image_init(&img);
    assert_int_equal(vision_decode(lenient, dog, n, NULL, &img, &err), VISION_OK);
    assert_int_equal(img.width, 4000);
    assert_int_equal(img.height, 3000);
    vision_image_dispose(&img);
    free(dog);
}

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static size_t put_chunk(uint8_t *out, const char *type, const uint8_t *body, uint32_t len)
{
    out[0] = (uint8_t)(len >> 24), out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8), out[3] = (uint8_t)len;
    memcpy(out + 4, type, 4);
    if (len) memcpy(out + 8, body, len);
    uint32_t crc = crc32_png(out + 4, 4 + len);
    out[8 + len] = (uint8_t)(crc >> 24), out[9 + len] = (uint8_t)(crc >> 16);
    out[10 + len] = (uint8_t)(crc >> 8), out[11 + len] = (uint8_t)crc;
    return 12 + len;
}

/* A PNG whose IHDR says w x h (RGB8) followed by a few bytes of IDAT. */
static size_t make_png(uint8_t *out, uint32_t w, uint32_t h)
{
    static const uint8_t sig[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13] = {(uint8_t)(w >> 24),
                        (uint8_t)(w >> 16),
                        (uint8_t)(w >> 8),
                        (uint8_t)w,
                        (uint8_t)(h >> 24),
                        (uint8_t)(h >> 16),
                        (uint8_t)(h >> 8),
                        (uint8_t)h,
                        8,
                        2,
                        0,
                        0,
                        0};
    static const uint8_t idat[] = {0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01};
    memcpy(out, sig, 8);
    size_t n = 8 + put_chunk(out + 8, "IHDR", ihdr, 13);
    n += put_chunk(out + n, "IDAT", idat, sizeof idat);
    n += put_chunk(out + n, "IEND", NULL, 0);
    return n;
}

static void test_png_huge_header(void **state)
{
    uint8_t png[128];
    size_t n = make_png(png, 100000, 100000);
    const char *m = expect_fail(strict, png, n, VISION_ERR_LIMIT, "100000x100000 png");
    assert_non_null(strstr(m, "100000x100000"));
    n = make_png(png, 100000000, 1); /* over the per-side limit spng checks */
    expect_fail(strict, png, n, VISION_ERR_LIMIT, "1e8 x 1 png");
    n = make_png(png, 0, 10);
    assert_int_not_equal(try_decode(strict, png, n), VISION_OK);
    n = make_png(png, 1u << 31, 1); /* not a valid PNG width */
    assert_int_not_equal(try_decode(strict, png, n), VISION_OK);
    /* Plausible header, far too little data. */
    n = make_png(png, 2000, 2000);
    expect_fail(strict, png, n, VISION_ERR_CORRUPT, "2000x2000 png with 9 bytes of IDAT");
}

static void test_pixel_limit(void **state)
{
    size_t n;
    uint8_t *dog = read_data("dog.jpg", &n);
    vision_limits lim = {.max_pixels = 768 * 576 - 1};
    vision_decoder *d = vision_decoder_create(&lim);
    expect_fail(d, dog, n, VISION_ERR_LIMIT, "one pixel over");
    vision_decoder_destroy(d);
    lim.max_pixels = 768 * 576;
    d = vision_decoder_create(&lim);
    assert_int_equal(try_decode(d, dog, n), VISION_OK);
    vision_decoder_destroy(d);
    free(dog);

    uint8_t *png = read_data("dog_192x144.png", &n);
    lim.max_pixels = 192 * 144 - 1;
    d = vision_decoder_create(&lim);
    expect_fail(d, png, n, VISION_ERR_LIMIT, "png one pixel over");
    vision_decoder_destroy(d);
    free(png);
}

/* Garbage between segments: libjpeg warns "extraneous bytes". Strict
 * refuses; lenient decodes the same pixels as the clean file. */
static void test_strict_vs_lenient(void **state)
{
    size_t n;
    uint8_t *dog = read_data("dog.jpg", &n);
    uint8_t *bad = malloc(n + 3);
    size_t at = find_sof(dog, n);
    memcpy(bad, dog, at);
    memset(bad + at, 0x11, 3);
    memcpy(bad + at + 3, dog + at, n - at);
    const char *m = expect_fail(strict, bad, n + 3, VISION_ERR_CORRUPT, "extraneous bytes");
    assert_non_null(strstr(m, "extraneous"));

    vision_image a, b;
    vision_image_init(&a);
    vision_image_init(&b);
    vision_error err;
    assert_int_equal(vision_decode(lenient, bad, n + 3, NULL, &a, &err), VISION_OK);
    assert_int_equal(vision_decode(strict, dog, n, NULL, &b, &err), VISION_OK);
    assert_int_equal(a.width, 768);
    assert_memory_equal(a.pixels, b.pixels, 768 * 576 * 3);
    /* Truncated is still refused in lenient mode. */
    expect_fail(lenient, bad, (n + 3) * 3 / 4, VISION_ERR_CORRUPT, "lenient truncated");
    vision_image_dispose(&a);
    vision_image_dispose(&b);
    free(bad);
    free(dog);
}

/* Random byte flips in real files: any outcome but a crash or leak. */
static void test_bit_flips(void **state)
{
    static const char *files[] = {"dog.jpg", "vision/v_prog.jpg", "dog_192x144.png",
                                  "vision/v_pal8.png", "vision/v_rgba16.png"};
    uint64_t seed = 12345;
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t n;
        uint8_t *orig = read_data(files[f], &n);
        uint8_t *buf = malloc(n);
        for (int round = 0; round < 40; round++) {
            memcpy(buf, orig, n);
            int flips = 1 + (int)(rng_next(&seed) % 8);
            for (int i = 0; i < flips; i++) {
                /* Mostly in the headers, where the parsers branch. */
                size_t lim = (rng_next(&seed) & 1) ? (n < 700 ? n : 700) : n;
                buf[rng_next(&seed) % lim] ^= (uint8_t)(1u << (rng_next(&seed) % 8));
            }
            try_decode(strict, buf, n);
            try_decode(lenient, buf, n);
        }
        free(buf);
        free(orig);
    }
}

/* After all of the above the decoders still decode correctly. */
static void test_decoder_survives(void **state)
{
    vision_image a, b;
    vision_image_init(&a);
    vision_image_init(&b);
    vision_decoder *fresh = vision_decoder_create(NULL);
    decode_data(fresh, "dog.jpg", NULL, &a);
    decode_data(strict, "dog.jpg", NULL, &b);
    assert_memory_equal(a.pixels, b.pixels, 768 * 576 * 3);
    decode_data(lenient, "dog.jpg", NULL, &b);
    assert_memory_equal(a.pixels, b.pixels, 768 * 576 * 3);
    vision_decoder_destroy(fresh);
    vision_image_dispose(&a);
    vision_image_dispose(&b);
}

static void test_bad_arguments(void **state)
{
    size_t n;
    uint8_t *dog = read_data("dog.jpg", &n);
    vision_image img;
    vision_image_init(&img);
    vision_error err;
    assert_int_equal(vision_decode(NULL, dog, n, NULL, &img, &err), VISION_ERR_ARG);
    assert_int_equal(vision_decode(strict, dog, n, NULL, NULL, &err), VISION_ERR_ARG);
    vision_spec spec = vision_spec_letterbox(0, 640);
    assert_int_equal(vision_decode(strict, dog, n, &spec, &img, &err), VISION_ERR_ARG);
    assert_non_null(strstr(err.msg, "0x640"));
    spec = vision_spec_letterbox(640, 640);
    spec.std[1] = 0.0f;
    assert_int_equal(vision_decode(strict, dog, n, &spec, &img, &err), VISION_ERR_ARG);
    /* err may be NULL */
    assert_int_equal(vision_decode(strict, NULL, 0, NULL, &img, NULL), VISION_ERR_FORMAT);
    assert_string_equal(vision_strerror(VISION_ERR_LIMIT), "image over a size limit");
    vision_image_dispose(&img);
    free(dog);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_other_formats),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_truncated_jpeg),
        cmocka_unit_test(test_truncated_png),
        cmocka_unit_test(test_jpeg_huge_header),
        cmocka_unit_test(test_png_huge_header),
        cmocka_unit_test(test_pixel_limit),
        cmocka_unit_test(test_strict_vs_lenient),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_decoder_survives),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
