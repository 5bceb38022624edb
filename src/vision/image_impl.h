/* Private to src/vision/: the decoder object, error helper, and the per-format
 * decoders that image.c dispatches to. */
#ifndef GLINT_VISION_IMAGE_IMPL_H
#define GLINT_VISION_IMAGE_IMPL_H

#include "vision/image.h"

struct vision_decoder {
    void *tj;          /* tjhandle (decompressor), created with the decoder */
    vision_limits lim; /* defaults already applied */
};

/* Writes status and message to err (if not NULL); returns s, so that callers
 * can `return vision_fail(err, VISION_ERR_..., "fmt", ...)`. */
vision_status vision_fail(vision_error *err, vision_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks w x h (from a header): zero gives VISION_ERR_CORRUPT, over the
 * pixel limit VISION_ERR_LIMIT, with a message naming `what` ("jpeg"). */
vision_status vision_check_dims(const vision_decoder *dec, const char *what, int64_t w, int64_t h,
                                vision_error *err);

/* Makes img->pixels hold at least `bytes` (reusing the buffer when it is
 * large enough and not grossly oversized). Contents are not kept. */
vision_status vision_image_reserve(vision_image *img, size_t bytes, vision_error *err);

/* The size the whole image of w x h original pixels has in tensor pixels
 * under `spec` (before padding or cropping). spec must be valid. */
void vision_fit(const vision_spec *spec, int w, int h, int *rw, int *rh);
vision_status vision_spec_check(const vision_spec *spec, vision_error *err);

/* Per format: header only (fills info, checks limits) and full decode. The
 * magic bytes have been checked by the caller. */
vision_status jpeg_probe(vision_decoder *dec, const uint8_t *data, size_t size, vision_info *info,
                         vision_error *err);
vision_status jpeg_decode(vision_decoder *dec, const uint8_t *data, size_t size,
                          const vision_spec *spec, vision_image *img, vision_error *err);
vision_status png_probe(vision_decoder *dec, const uint8_t *data, size_t size, vision_info *info,
                        vision_error *err);
vision_status png_decode(vision_decoder *dec, const uint8_t *data, size_t size, vision_image *img,
                         vision_error *err);

#endif
