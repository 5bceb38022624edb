/* vision front end: status strings, the decoder object, image buffers,
 * format detection by magic bytes, and dispatch to the JPEG and PNG decoders.
 */
#include "image_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <turbojpeg.h>

/* A buffer this much larger than needed (and above the floor) is given back
 * rather than reused, so that one huge image does not pin memory forever. */
#define SHRINK_FLOOR ((size_t)32 << 20)

const char *vision_strerror(vision_status s)
{
    switch (s) {
    case VISION_OK:
        return "ok";
    case VISION_ERR_ARG:
        return "invalid argument";
    case VISION_ERR_IO:
        return "i/o error";
    case VISION_ERR_FORMAT:
        return "not a JPEG or PNG image";
    case VISION_ERR_CORRUPT:
        return "corrupt image data";
    case VISION_ERR_LIMIT:
        return "image over a size limit";
    case VISION_ERR_UNSUPPORTED:
        return "unsupported image variant";
    case VISION_ERR_NOMEM:
        return "out of memory";
    }
    return "unknown status";
}

vision_status vision_fail(vision_error *err, vision_status s, const char *fmt, ...)
{
    if (!err) return s;
    err->status = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return s;
}

static vision_status ok(vision_error *err)
{
    if (err) {
        err->status = VISION_OK;
        err->msg[0] = '\0';
    }
    return VISION_OK;
}

/* ---- decoder ---- */

vision_decoder *vision_decoder_create(const vision_limits *lim)
{
    vision_decoder *dec = calloc(1, sizeof *dec);
    if (!dec) return NULL;
    if (lim) dec->lim = *lim;
    if (dec->lim.max_pixels == 0) dec->lim.max_pixels = VISION_DEFAULT_MAX_PIXELS;
    if (dec->lim.max_file_bytes == 0) dec->lim.max_file_bytes = VISION_DEFAULT_MAX_FILE_BYTES;
    dec->tj = tjInitDecompress();
    if (!dec->tj) {
        free(dec);
        return NULL;
    }
    return dec;
}

void vision_decoder_destroy(vision_decoder *dec)
{
    if (!dec) return;
    if (dec->tj) tjDestroy(dec->tj);
    free(dec);
}

vision_status vision_check_dims(const vision_decoder *dec, const char *what, int64_t w, int64_t h,
                                vision_error *err)
{
    if (w <= 0 || h <= 0)
        return vision_fail(err, VISION_ERR_CORRUPT, "%s: image is empty (%lldx%lld)", what,
                           (long long)w, (long long)h);
    /* Both sides fit in 32 bits (JPEG: 16, PNG: 31), so the product cannot
     * overflow 64 bits. */
    uint64_t px = (uint64_t)w * (uint64_t)h;
    if (px > dec->lim.max_pixels)
        return vision_fail(err, VISION_ERR_LIMIT,
                           "%s: header claims %lldx%lld = %llu pixels, limit %llu", what,
                           (long long)w, (long long)h, (unsigned long long)px,
                           (unsigned long long)dec->lim.max_pixels);
    return VISION_OK;
}

/* ---- images ---- */

void vision_image_init(vision_image *img)
{
    memset(img, 0, sizeof *img);
}

void vision_image_dispose(vision_image *img)
{
    if (!img) return;
    if (img->capacity) free(img->pixels);
    vision_image_init(img);
}

vision_status vision_image_reserve(vision_image *img, size_t bytes, vision_error *err)
{
    int oversized = img->capacity > SHRINK_FLOOR && img->capacity / 4 > bytes;
    if (img->capacity && bytes <= img->capacity && !oversized) return VISION_OK;
    if (img->capacity) free(img->pixels);
    img->pixels = NULL;
    img->capacity = 0;
    img->pixels = malloc(bytes ? bytes : 1);
    if (!img->pixels)
        return vision_fail(err, VISION_ERR_NOMEM, "cannot allocate %zu bytes for pixels", bytes);
    img->capacity = bytes ? bytes : 1;
    return VISION_OK;
}

/* ---- formats ---- */

static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

vision_format vision_sniff(const uint8_t *data, size_t size)
{
    if (!data) return VISION_FORMAT_UNKNOWN;
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return VISION_FORMAT_JPEG;
    if (size >= 8 && memcmp(data, png_magic, 8) == 0) return VISION_FORMAT_PNG;
    return VISION_FORMAT_UNKNOWN;
}

const char *vision_format_name(vision_format f)
{
    switch (f) {
    case VISION_FORMAT_JPEG:
        return "jpeg";
    case VISION_FORMAT_PNG:
        return "png";
    case VISION_FORMAT_UNKNOWN:
        break;
    }
    return "unknown";
}

/* Names a few formats we do not decode, for a more useful message. */
static const char *other_format(const uint8_t *d, size_t n)
{
    if (n >= 4 && memcmp(d, "GIF8", 4) == 0) return "GIF";
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return "WebP";
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') return "BMP";
    if (n >= 4 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 12 && memcmp(d + 4, "ftyp", 4) == 0) return "HEIF/AVIF/MP4";
    return NULL;
}

static vision_status unknown_format(const uint8_t *d, size_t n, vision_error *err)
{
    if (!d || n == 0) return vision_fail(err, VISION_ERR_FORMAT, "empty input: no image data");
    const char *name = other_format(d, n);
    if (name)
        return vision_fail(err, VISION_ERR_FORMAT, "%s images are not supported (JPEG, PNG only)",
                           name);
    char hex[3 * 8 + 1] = "";
    size_t k = n < 8 ? n : 8;
    for (size_t i = 0; i < k; i++)
        snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x ", d[i]);
    if (k) hex[3 * k - 1] = '\0';
    return vision_fail(err, VISION_ERR_FORMAT, "not a JPEG or PNG image (%zu bytes, starting %s)",
                       n, hex);
}

vision_status vision_probe(vision_decoder *dec, const uint8_t *data, size_t size, vision_info *info,
                           vision_error *err)
{
    if (!dec || !info)
        return vision_fail(err, VISION_ERR_ARG, "vision_probe: NULL decoder or info");
    memset(info, 0, sizeof *info);
    vision_status s;
    switch (vision_sniff(data, size)) {
    case VISION_FORMAT_JPEG:
        s = jpeg_probe(dec, data, size, info, err);
        break;
    case VISION_FORMAT_PNG:
        s = png_probe(dec, data, size, info, err);
        break;
    default:
        return unknown_format(data, size, err);
    }
    return s ? s : ok(err);
}

/* Marks img as holding no image (the buffer stays for reuse). */
static void forget_pixels(vision_image *img)
{
    img->width = img->height = 0;
    img->orig_width = img->orig_height = 0;
    img->stride = 0;
    img->scale_num = img->scale_denom = 0;
    img->format = VISION_FORMAT_UNKNOWN;
}

vision_status vision_decode(vision_decoder *dec, const uint8_t *data, size_t size,
                            const vision_spec *spec, vision_image *img, vision_error *err)
{
    if (!dec || !img)
        return vision_fail(err, VISION_ERR_ARG, "vision_decode: NULL decoder or image");
    forget_pixels(img);
    vision_status s = spec ? vision_spec_check(spec, err) : VISION_OK;
    if (s) return s;
    switch (vision_sniff(data, size)) {
    case VISION_FORMAT_JPEG:
        s = jpeg_decode(dec, data, size, spec, img, err);
        break;
    case VISION_FORMAT_PNG:
        s = png_decode(dec, data, size, img, err);
        break;
    default:
        return unknown_format(data, size, err);
    }
    if (s) {
        forget_pixels(img);
        return s;
    }
    return ok(err);
}

/* ---- files ---- */

/* Appends s to the VISION_ERROR_MAX buffer msg at n, truncating; returns
 * the new length. */
static size_t append(char *msg, size_t n, const char *s)
{
    size_t k = strlen(s);
    if (k > VISION_ERROR_MAX - 1 - n) k = VISION_ERROR_MAX - 1 - n;
    memcpy(msg + n, s, k);
    msg[n + k] = '\0';
    return n + k;
}

/* Reads all of fd into a malloc'd buffer, refusing more than max bytes.
 * `hint` is the expected size (0 if unknown). */
static vision_status read_all(int fd, const char *path, size_t max, size_t hint, uint8_t **out,
                              size_t *len, vision_error *err)
{
    size_t cap = hint ? hint + 1 : 64 * 1024; /* +1: see EOF without a second grow */
    if (cap > max + 1) cap = max + 1;
    uint8_t *buf = malloc(cap);
    size_t n = 0;
    if (!buf) return vision_fail(err, VISION_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, cap);
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                free(buf);
                return vision_fail(err, VISION_ERR_LIMIT, "%s: file larger than %zu bytes", path,
                                   max);
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return vision_fail(err, VISION_ERR_NOMEM, "%s: cannot allocate %zu bytes", path,
                                   ncap);
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return vision_fail(err, VISION_ERR_IO, "%s: read: %s", path, strerror(e));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    *out = buf;
    *len = n;
    return VISION_OK;
}

vision_status vision_load_file(vision_decoder *dec, const char *path, const vision_spec *spec,
                               vision_image *img, vision_error *err)
{
    if (!dec || !path || !img)
        return vision_fail(err, VISION_ERR_ARG, "vision_load_file: NULL argument");
    forget_pixels(img);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vision_fail(err, VISION_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    size_t hint = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > dec->lim.max_file_bytes) {
            close(fd);
            return vision_fail(err, VISION_ERR_LIMIT, "%s: file is %lld bytes, limit %zu", path,
                               (long long)st.st_size, dec->lim.max_file_bytes);
        }
        hint = (size_t)st.st_size;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    vision_status s = read_all(fd, path, dec->lim.max_file_bytes, hint, &buf, &len, err);
    close(fd);
    if (s) return s;
    s = vision_decode(dec, buf, len, spec, img, err);
    free(buf);
    if (s && err) { /* prefix the path so that batch tools can say which file failed */
        char msg[VISION_ERROR_MAX];
        size_t n = append(msg, 0, path);
        n = append(msg, n, ": ");
        append(msg, n, err->msg);
        memcpy(err->msg, msg, sizeof msg);
    }
    return s;
}
