/* JPEG decoding through the TurboJPEG API: header check against the limits,
 * DCT-domain down-scaling chosen from the tensor spec, strict or lenient
 * handling of libjpeg warnings, CMYK/YCCK to RGB.
 *
 * Note on TurboJPEG 2.1: tjDecompressHeader3() stops on warnings according to
 * the flags of the handle's previous tjDecompress2() call. A decoder therefore
 * always passes the same flags (its policy is fixed at creation), so a header
 * read behaves the same on every call.
 */
#include "image_impl.h"

#include <string.h>

#include <turbojpeg.h>

/* ---- end-of-image check (lenient mode) ---- */

static int is_standalone_marker(uint8_t m)
{
    return m == 0x01 || (m >= 0xD0 && m <= 0xD8); /* TEM, RSTn, SOI */
}

/* Walks the marker segments and entropy-coded scans of a JPEG and reports
 * whether an EOI marker (FF D9) is reached. Entropy-coded data never holds
 * FF followed by anything but 00 or RSTn, so a scan ends at the first other
 * marker; segment payloads are skipped by their length. Reads only
 * data[0..size). */
static int jpeg_has_eoi(const uint8_t *d, size_t size)
{
    size_t pos = 2; /* after SOI */
    int in_scan = 0;
    while (pos < size) {
        if (in_scan) {
            const uint8_t *ff = memchr(d + pos, 0xFF, size - pos);
            if (!ff) return 0;
            size_t p = (size_t)(ff - d) + 1;
            while (p < size && d[p] == 0xFF)
                p++;
            if (p >= size) return 0;
            if (d[p] == 0x00 || (d[p] >= 0xD0 && d[p] <= 0xD7)) {
                pos = p + 1;
                continue;
            }
            in_scan = 0;
            pos = p - 1; /* at the FF before the marker code */
            continue;
        }
        if (d[pos] != 0xFF) { /* garbage between segments: libjpeg skips it too */
            pos++;
            continue;
        }
        while (pos < size && d[pos] == 0xFF)
            pos++;
        if (pos >= size) return 0;
        uint8_t m = d[pos++];
        if (m == 0xD9) return 1;
        if (m == 0x00 || is_standalone_marker(m)) continue;
        if (size - pos < 2) return 0;
        size_t len = ((size_t)d[pos] << 8) | d[pos + 1];
        if (len < 2) return 0;
        pos += len;
        if (m == 0xDA) in_scan = 1;
    }
    return 0;
}

/* ---- scale choice ---- */

static int fast_scale(tjscalingfactor f)
{
    return f.num == 1 && (f.denom == 1 || f.denom == 2 || f.denom == 4 || f.denom == 8);
}

/* Smallest allowed factor <= 1 whose output is at least need_w x need_h;
 * 1/1 when none is (the image will be upscaled anyway). */
static tjscalingfactor pick_scale(int w, int h, int need_w, int need_h, int all_scales)
{
    tjscalingfactor best = {1, 1};
    int n = 0;
    const tjscalingfactor *sf = tjGetScalingFactors(&n);
    for (int i = 0; sf && i < n; i++) {
        tjscalingfactor f = sf[i];
        if (f.num <= 0 || f.denom <= 0 || f.num > f.denom) continue;
        if (!all_scales && !fast_scale(f)) continue;
        if (TJSCALED(w, f) < need_w || TJSCALED(h, f) < need_h) continue;
        if ((long)f.num * best.denom < (long)best.num * f.denom) best = f;
    }
    return best;
}

/* ---- decode ---- */

/* TurboJPEG 2.1 leaves the libjpeg object mid-header after a failed
 * tjDecompressHeader3(), and the next call then misparses ("Unsupported
 * marker type"). After any failure the handle is replaced by a fresh one;
 * failures are rare, so this costs nothing on the hot path. */
static void tj_reset(vision_decoder *dec)
{
    tjDestroy(dec->tj);
    dec->tj = tjInitDecompress();
}

static vision_status tj_ready(vision_decoder *dec, vision_error *err)
{
    if (!dec->tj) dec->tj = tjInitDecompress();
    if (!dec->tj) return vision_fail(err, VISION_ERR_NOMEM, "jpeg: cannot create a decompressor");
    return VISION_OK;
}

static vision_status tj_fail(vision_decoder *dec, const char *stage, vision_error *err)
{
    const char *msg = tjGetErrorStr2(dec->tj);
    if (!msg) msg = "unknown error";
    vision_status s = VISION_ERR_CORRUPT;
    if (strstr(msg, "nsupported") || strstr(msg, "subsampling type")) s = VISION_ERR_UNSUPPORTED;
    vision_fail(err, s, "jpeg: %s: %s", stage, msg);
    tj_reset(dec);
    return s;
}

/* In lenient mode a warning (TJERR_WARNING) is not a failure. */
static int tj_tolerable(vision_decoder *dec)
{
    return dec->lim.jpeg_lenient && tjGetErrorCode(dec->tj) == TJERR_WARNING;
}

static vision_status read_header(vision_decoder *dec, const uint8_t *data, size_t size, int *w,
                                 int *h, int *cs, vision_error *err)
{
    int subsamp = -1;
    *w = *h = 0;
    *cs = -1;
    vision_status s = tj_ready(dec, err);
    if (s) return s;
    if (tjDecompressHeader3(dec->tj, data, (unsigned long)size, w, h, &subsamp, cs) != 0) {
        if (!tj_tolerable(dec) || *w <= 0 || *h <= 0) return tj_fail(dec, "header", err);
    }
    return vision_check_dims(dec, "jpeg", *w, *h, err);
}

vision_status jpeg_probe(vision_decoder *dec, const uint8_t *data, size_t size, vision_info *info,
                         vision_error *err)
{
    int w, h, cs;
    vision_status s = read_header(dec, data, size, &w, &h, &cs, err);
    info->format = VISION_FORMAT_JPEG;
    info->width = w > 0 ? w : 0;
    info->height = h > 0 ? h : 0;
    return s;
}

/* Adobe CMYK JPEGs store inverted values: R = C*K/255 etc. Converts the
 * 4-byte pixels at px to 3-byte ones in place (front to back is safe). */
static void cmyk_to_rgb(uint8_t *px, size_t npix)
{
    for (size_t i = 0; i < npix; i++) {
        const uint8_t *s = px + 4 * i;
        unsigned k = s[3];
        uint8_t r = (uint8_t)((s[0] * k + 127) / 255);
        uint8_t g = (uint8_t)((s[1] * k + 127) / 255);
        uint8_t b = (uint8_t)((s[2] * k + 127) / 255);
        px[3 * i] = r;
        px[3 * i + 1] = g;
        px[3 * i + 2] = b;
    }
}

vision_status jpeg_decode(vision_decoder *dec, const uint8_t *data, size_t size,
                          const vision_spec *spec, vision_image *img, vision_error *err)
{
    int w, h, cs;
    vision_status s = read_header(dec, data, size, &w, &h, &cs, err);
    if (s) return s;

    /* Strict mode needs no walk: libjpeg warns at the end of the data. */
    if (dec->lim.jpeg_lenient && !jpeg_has_eoi(data, size))
        return vision_fail(err, VISION_ERR_CORRUPT,
                           "jpeg: truncated data (no end-of-image marker in %zu bytes)", size);

    int need_w = w, need_h = h;
    if (spec) vision_fit(spec, w, h, &need_w, &need_h);
    tjscalingfactor f = pick_scale(w, h, need_w, need_h, dec->lim.jpeg_all_scales);
    int sw = TJSCALED(w, f), sh = TJSCALED(h, f);

    int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    size_t bpp = cmyk ? 4 : 3;
    size_t stride = (size_t)sw * bpp;
    s = vision_image_reserve(img, stride * (size_t)sh, err);
    if (s) return s;

    int flags = TJFLAG_LIMITSCANS | (dec->lim.jpeg_lenient ? 0 : TJFLAG_STOPONWARNING);
    if (tjDecompress2(dec->tj, data, (unsigned long)size, img->pixels, sw, (int)stride, sh,
                      cmyk ? TJPF_CMYK : TJPF_RGB, flags) != 0 &&
        !tj_tolerable(dec))
        return tj_fail(dec, "decode", err);

    if (cmyk) cmyk_to_rgb(img->pixels, (size_t)sw * (size_t)sh);
    img->width = sw;
    img->height = sh;
    img->stride = (size_t)sw * 3;
    img->orig_width = w;
    img->orig_height = h;
    img->scale_num = f.num;
    img->scale_denom = f.denom;
    img->format = VISION_FORMAT_JPEG;
    return VISION_OK;
}
