/* libFuzzer target for the vision layer: probe, decode (strict and lenient
 * JPEG policy) and prepare into a bounded tensor, in letterbox and crop mode.
 * Seeds: the images in tests/data and tests/data/vision.
 *
 *   build-fuzz/fuzz_image_decode -max_len=400000 corpus/ tests/data tests/data/vision
 */
#include <stddef.h>
#include <stdint.h>

#include "vision/image.h"

/* Small limits keep each run fast; the limit logic itself is what is tested. */
#define FUZZ_MAX_PIXELS (1u << 22)
#define SIDE 64

static vision_decoder *strict, *lenient;
static vision_image img;
static float tensor[3 * SIDE * SIDE];

static void init(void)
{
    vision_limits lim = {.max_pixels = FUZZ_MAX_PIXELS};
    strict = vision_decoder_create(&lim);
    lim.jpeg_lenient = 1;
    lim.jpeg_all_scales = 1;
    lenient = vision_decoder_create(&lim);
    vision_image_init(&img);
}

static void run(vision_decoder *dec, const uint8_t *data, size_t size, const vision_spec *spec)
{
    vision_error err;
    vision_transform tf;
    if (vision_decode(dec, data, size, spec, &img, &err) != VISION_OK) {
        if (err.msg[0] == '\0') __builtin_trap(); /* every failure must say why */
        return;
    }
    if (img.width < 1 || img.height < 1 || img.width > img.orig_width ||
        img.height > img.orig_height)
        __builtin_trap();
    if (vision_prepare(&img, spec, tensor, sizeof tensor / sizeof *tensor, &tf, &err) != VISION_OK)
        __builtin_trap(); /* a decoded image always prepares */
    float box[4] = {0, 0, (float)spec->width, (float)spec->height};
    vision_transform_box(&tf, box);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!strict) init();
    vision_info info;
    vision_error err;
    vision_probe(strict, data, size, &info, &err);

    vision_spec box = vision_spec_letterbox(SIDE, SIDE - 16);
    vision_spec crop = vision_spec_crop(SIDE - 8, SIDE, SIDE);
    run(strict, data, size, &box);
    run(lenient, data, size, &crop);
    return 0;
}
