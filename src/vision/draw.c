/* Pictures out: boxes drawn on a frame and the frame as a JPEG (image.h). */
#include "vision/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void fill(uint8_t *rgb, size_t stride, int x0, int y0, int x1, int y1, const uint8_t c[3])
{
    for (int y = y0; y < y1; y++) {
        uint8_t *p = rgb + (size_t)y * stride + (size_t)x0 * 3;
        for (int x = x0; x < x1; x++, p += 3)
            memcpy(p, c, 3);
    }
}

void vision_draw_box(uint8_t *rgb, int w, int h, size_t stride, const float box[4], int thick,
                     const uint8_t color[3])
{
    if (!rgb || w < 1 || h < 1 || thick < 1 || !isfinite(box[0]) || !isfinite(box[1]) ||
        !isfinite(box[2]) || !isfinite(box[3]))
        return;
    int x0 = clampi((int)lrintf(box[0]), 0, w), y0 = clampi((int)lrintf(box[1]), 0, h);
    int x1 = clampi((int)lrintf(box[2]), 0, w), y1 = clampi((int)lrintf(box[3]), 0, h);
    if (x1 <= x0 || y1 <= y0) return;
    int t = thick;
    fill(rgb, stride, x0, y0, x1, clampi(y0 + t, y0, y1), color); /* top */
    fill(rgb, stride, x0, clampi(y1 - t, y0, y1), x1, y1, color); /* bottom */
    fill(rgb, stride, x0, y0, clampi(x0 + t, x0, x1), y1, color); /* left */
    fill(rgb, stride, clampi(x1 - t, x0, x1), y0, x1, y1, color); /* right */
}

vision_status vision_encode_jpeg(const uint8_t *rgb, int w, int h, size_t stride, int quality,
                                 uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!rgb || w < 1 || h < 1 || stride < (size_t)w * 3 || quality < 1 || quality > 100)
        return VISION_ERR_ARG;
    tjhandle tj = tjInitCompress();
    if (!tj) return VISION_ERR_NOMEM;
    unsigned char *buf = NULL;
    unsigned long len = 0;
    int rc = tjCompress2(tj, rgb, w, (int)stride, h, TJPF_RGB, &buf, &len, TJSAMP_420, quality,
                         TJFLAG_FASTDCT);
    tjDestroy(tj);
    if (rc) {
        tjFree(buf);
        return VISION_ERR_CORRUPT;
    }
    *out = malloc(len);
    if (*out) memcpy(*out, buf, len);
    tjFree(buf);
    if (!*out) return VISION_ERR_NOMEM;
    *out_len = len;
    return VISION_OK;
}
