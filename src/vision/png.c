/* PNG decoding through libspng: every colour type and bit depth to RGB8
 * (alpha dropped, no gamma applied, as OpenCV and PIL's convert("RGB") do),
 * with image and chunk limits set before the header is read. */
#include "image_impl.h"

#include <spng.h>

/* Inflated ancillary chunks (iCCP, zTXt, iTXt) and the total kept: real
 * photos carry ICC profiles of a few hundred KB at most. */
#define PNG_CHUNK_LIMIT ((size_t)4 << 20)
#define PNG_CACHE_LIMIT ((size_t)16 << 20)

static vision_status spng_status(int r)
{
    switch (r) {
    case SPNG_EMEM:
        return VISION_ERR_NOMEM;
    case SPNG_EUSER_WIDTH:
    case SPNG_EUSER_HEIGHT:
    case SPNG_ECHUNK_LIMITS:
        return VISION_ERR_LIMIT;
    default:
        return VISION_ERR_CORRUPT;
    }
}

static vision_status png_fail(int r, const char *stage, vision_error *err)
{
    return vision_fail(err, spng_status(r), "png: %s: %s", stage, spng_strerror(r));
}

/* Creates a context on data with the limits set and reads the header. On
 * success *out must be freed with spng_ctx_free(). */
static vision_status png_open(vision_decoder *dec, const uint8_t *data, size_t size, spng_ctx **out,
                              struct spng_ihdr *ihdr, vision_error *err)
{
    *out = NULL;
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return vision_fail(err, VISION_ERR_NOMEM, "png: cannot create decoder");
    /* One side may reach the pixel limit when the other is 1. */
    uint64_t side = dec->lim.max_pixels;
    if (side > 0x7fffffffu) side = 0x7fffffffu;
    int r = spng_set_image_limits(ctx, (uint32_t)side, (uint32_t)side);
    if (!r) r = spng_set_chunk_limits(ctx, PNG_CHUNK_LIMIT, PNG_CACHE_LIMIT);
    if (!r) /* a bad CRC on image data is an error; on metadata, drop the chunk */
        r = spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_DISCARD);
    if (!r) r = spng_set_png_buffer(ctx, data, size);
    if (r) {
        spng_ctx_free(ctx);
        return png_fail(r, "setup", err);
    }
    r = spng_get_ihdr(ctx, ihdr);
    if (r) {
        spng_ctx_free(ctx);
        return png_fail(r, "header", err);
    }
    vision_status s = vision_check_dims(dec, "png", ihdr->width, ihdr->height, err);
    if (s) {
        spng_ctx_free(ctx);
        return s;
    }
    *out = ctx;
    return VISION_OK;
}

vision_status png_probe(vision_decoder *dec, const uint8_t *data, size_t size, vision_info *info,
                        vision_error *err)
{
    spng_ctx *ctx;
    struct spng_ihdr ihdr = {0};
    vision_status s = png_open(dec, data, size, &ctx, &ihdr, err);
    spng_ctx_free(ctx);
    info->format = VISION_FORMAT_PNG;
    info->width = (int)(ihdr.width > 0x7fffffffu ? 0 : ihdr.width);
    info->height = (int)(ihdr.height > 0x7fffffffu ? 0 : ihdr.height);
    return s;
}

vision_status png_decode(vision_decoder *dec, const uint8_t *data, size_t size, vision_image *img,
                         vision_error *err)
{
    spng_ctx *ctx;
    struct spng_ihdr ihdr = {0};
    vision_status s = png_open(dec, data, size, &ctx, &ihdr, err);
    if (s) return s;
    size_t len = 0;
    int r = spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &len);
    if (r) {
        s = png_fail(r, "size", err);
        goto out;
    }
    s = vision_image_reserve(img, len, err);
    if (s) goto out;
    r = spng_decode_image(ctx, img->pixels, len, SPNG_FMT_RGB8, 0);
    if (r) {
        s = png_fail(r, "decode", err);
        goto out;
    }
    img->width = (int)ihdr.width;
    img->height = (int)ihdr.height;
    img->stride = (size_t)ihdr.width * 3;
    img->orig_width = img->width;
    img->orig_height = img->height;
    img->scale_num = img->scale_denom = 1;
    img->format = VISION_FORMAT_PNG;
out:
    spng_ctx_free(ctx);
    return s;
}
