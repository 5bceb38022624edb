/* vision: image decode (JPEG, PNG) and tensor preparation (letterbox or
 * resize + centre crop, normalise, pack as planar float NCHW).
 *
 * Typical use on a decode worker:
 *
 *     vision_decoder *dec = vision_decoder_create(NULL);        // once per worker
 *     vision_image img;  vision_image_init(&img);               // reused per image
 *     vision_spec spec = vision_spec_letterbox(640, 640);
 *     vision_transform tf;  vision_error err;
 *     if (vision_decode(dec, body, len, &spec, &img, &err) == VISION_OK &&
 *         vision_prepare(&img, &spec, batch + i * 3 * 640 * 640, 3 * 640 * 640, &tf, &err)
 *             == VISION_OK)
 *         ...   // later: vision_transform_box(&tf, box) maps a model box to image pixels
 *     vision_image_dispose(&img);  vision_decoder_destroy(dec);
 *
 * Errors: every fallible call returns a vision_status (0 = OK) and, when `err`
 * is not NULL, writes the same status and a one-line human message to it
 * ("jpeg: header claims 65000x65000 = 4225000000 pixels, limit 67108864").
 *
 * Hostile input: the format is detected from magic bytes; the header is read
 * and its dimensions checked against the pixel limit before anything
 * image-sized is allocated; truncated or corrupt data is an error, never a
 * crash or a partial image (vision_limits.jpeg_lenient relaxes the latter for
 * JPEGs that still end properly).
 *
 * Thread-safety: everything is reentrant. A vision_decoder and a vision_image
 * are each used by one thread at a time; distinct objects may be used
 * concurrently. Nothing here keeps global state.
 */
#ifndef GLINT_VISION_IMAGE_H
#define GLINT_VISION_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ---- */

typedef enum vision_status {
    VISION_OK = 0,
    VISION_ERR_ARG,         /* bad argument: NULL, bad spec, destination too small */
    VISION_ERR_IO,          /* file could not be opened or read */
    VISION_ERR_FORMAT,      /* empty input, or not a JPEG or PNG (magic bytes) */
    VISION_ERR_CORRUPT,     /* malformed, truncated, corrupt or zero-sized image */
    VISION_ERR_LIMIT,       /* over a limit: pixels in the header, file bytes */
    VISION_ERR_UNSUPPORTED, /* valid but unsupported (e.g. a JPEG subsampling TurboJPEG refuses) */
    VISION_ERR_NOMEM,       /* allocation failed */
} vision_status;

#define VISION_ERROR_MAX 160

typedef struct vision_error {
    vision_status status;
    char msg[VISION_ERROR_MAX]; /* NUL-terminated; "" on success */
} vision_error;

/* Static name of a status ("corrupt image data"); never NULL. */
const char *vision_strerror(vision_status s);

/* ---- limits and decoder ---- */

#define VISION_DEFAULT_MAX_PIXELS ((uint64_t)1 << 26)    /* 64 Mpixel */
#define VISION_DEFAULT_MAX_FILE_BYTES ((size_t)64 << 20) /* 64 MiB */

/* Decode policy, fixed for a decoder's lifetime. Zero fields take defaults, so
 * `vision_limits l = {0}` (or NULL) means: 64 Mpixel, 64 MiB files, strict
 * JPEG, power-of-two DCT scales. Memory per decode is up to 3 bytes a pixel
 * of output plus, for a progressive JPEG, libjpeg's ~2-3 bytes a pixel of
 * coefficients: a server should set max_pixels to its largest real frame. */
typedef struct vision_limits {
    uint64_t max_pixels;   /* refuse images whose header claims more width*height */
    size_t max_file_bytes; /* vision_load_file(): refuse larger files */
    /* 0 (default): any libjpeg warning ("Corrupt JPEG data: ...", "Premature
     * end of JPEG file") is an error. 1: accept recoverable corruption that
     * libjpeg decodes around (extraneous bytes, bad Huffman codes, a scan
     * that ends early: the rest is grey) as PIL and OpenCV do; data without
     * an end-of-image marker (a truncated upload) is still refused. */
    int jpeg_lenient;
    /* 0 (default): DCT-domain scaling uses only 1/1, 1/2, 1/4, 1/8, the scales
     * libjpeg-turbo has SIMD paths for (7/8, 3/4, 5/8, 3/8 measured 1.1-2.2x
     * slower than the next power of two above them). 1: any factor
     * tjGetScalingFactors() offers at or below 1/1. */
    int jpeg_all_scales;
} vision_limits;

/* Reusable decode state (a TurboJPEG handle and the limits). One per worker
 * thread; reuse it for every image. Returns NULL if out of memory. `lim` may
 * be NULL (defaults) and is copied. Free with vision_decoder_destroy(). */
typedef struct vision_decoder vision_decoder;
vision_decoder *vision_decoder_create(const vision_limits *lim);
void vision_decoder_destroy(vision_decoder *dec); /* accepts NULL */

/* ---- images ---- */

typedef enum vision_format {
    VISION_FORMAT_UNKNOWN = 0,
    VISION_FORMAT_JPEG,
    VISION_FORMAT_PNG,
} vision_format;

/* A decoded RGB8 image. The image owns `pixels`; a decode into an image that
 * already holds a buffer reuses it when large enough (so a worker decoding
 * into one image allocates only when a bigger image arrives). Initialise with
 * vision_image_init() (or zero it), free with vision_image_dispose(). To
 * prepare raw RGB8 from elsewhere, fill the fields by hand with capacity = 0:
 * the image then does not own `pixels` and neither dispose nor a later
 * decode frees them; orig_* = 0 means "same as decoded". */
typedef struct vision_image {
    uint8_t *pixels; /* interleaved R,G,B rows, `stride` bytes apart */
    int width;       /* decoded size (after DCT scaling) */
    int height;
    size_t stride;  /* bytes per row, >= 3 * width */
    int orig_width; /* size in the file, before DCT scaling */
    int orig_height;
    int scale_num;   /* DCT scale used: decoded = ceil(orig * num / denom) */
    int scale_denom; /* (1/1 for PNG) */
    vision_format format;
    size_t capacity; /* bytes allocated at `pixels` */
} vision_image;

void vision_image_init(vision_image *img);
void vision_image_dispose(vision_image *img); /* frees pixels and re-inits; NULL ok */

/* Header facts, read without decoding. */
typedef struct vision_info {
    vision_format format;
    int width;
    int height;
} vision_info;

/* Format from magic bytes alone (UNKNOWN if neither JPEG nor PNG). */
vision_format vision_sniff(const uint8_t *data, size_t size);
const char *vision_format_name(vision_format f); /* "jpeg", "png", "unknown" */

/* Reads the header of a JPEG or PNG and checks it against the decoder's
 * limits (an image over the limit gives VISION_ERR_LIMIT, info still
 * filled). Allocates nothing image-sized. */
vision_status vision_probe(vision_decoder *dec, const uint8_t *data, size_t size, vision_info *info,
                           vision_error *err);

/* ---- tensor specification ---- */

typedef enum vision_mode {
    VISION_LETTERBOX = 0, /* fit inside W x H keeping aspect, centre, pad (YOLO) */
    VISION_CROP,          /* short side -> resize_short, centre-crop W x H (classifiers) */
    VISION_STRETCH,       /* resize to W x H, aspect not kept (torchvision's detectors) */
    VISION_TEXTLINE,      /* a text line (PaddleOCR's recognisers): height H keeping the
                           * aspect, width min(W, ceil(H * w / h)), at the left; the rest
                           * of the tensor is 0 (not pad_value) */
} vision_mode;

/* How a model wants its input. Build one with vision_spec_letterbox() or
 * vision_spec_crop() and adjust fields. The tensor is planar float NCHW,
 * 3 x height x width per image, value (x/255 - mean[c]) / std[c], with mean
 * and std in tensor channel order. */
typedef struct vision_spec {
    vision_mode mode;
    int width;        /* tensor W, 1..VISION_MAX_SIDE */
    int height;       /* tensor H, 1..VISION_MAX_SIDE */
    int resize_short; /* VISION_CROP: short side after resize; 0 = max(W, H) */
    int pad_value;    /* 0..255 fill for area not covered by the image */
    int bgr;          /* 1: planes in B,G,R order (Caffe-style models) */
    float mean[3];
    float std[3]; /* nonzero */
    /* > 0: the tensor follows the image (vision_spec_rect); 0: always
     * width x height. VISION_LETTERBOX on a model with free height and width
     * ("rect" inference, Ultralytics' LetterBox(auto=True)) fits the image in
     * width x height as usual but pads only up to a multiple of `stride`;
     * VISION_STRETCH (PaddleOCR's DetResizeForTest) scales the image down to
     * fit width x height, never up, and rounds each side to a multiple of
     * `stride` (half to even, at least `stride`); VISION_TEXTLINE widens the
     * tensor to max(width, int(height * w / h)), rounded up to a multiple of
     * `stride`. */
    int stride;
    /* Set by vision_spec_rect: the box the image is fit into (the model's
     * size) when width x height is the padded tensor; 0: width x height. */
    int fit_width, fit_height;
    /* VISION_TEXTLINE with stride > 0: the widest tensor (a longer line is
     * squeezed into it); 0: VISION_MAX_SIDE. */
    int max_width;
} vision_spec;

#define VISION_MAX_SIDE 8192

/* Ultralytics YOLO: letterbox, pad 114, x/255 (mean 0, std 1), RGB. */
vision_spec vision_spec_letterbox(int width, int height);
/* torchvision ImageNet: resize short side, centre crop, ImageNet mean/std,
 * pad 0 (only used when the resized image is smaller than the crop). */
vision_spec vision_spec_crop(int width, int height, int resize_short);

/* The spec an image of orig_w x orig_h (its size in the file) is prepared
 * with: for a spec with stride > 0, the same spec with the tensor size that
 * follows the image (see `stride`: a 1280x720 frame letterboxed into 640x640
 * becomes 640x384, stretched within 960x960 becomes 960x544); otherwise
 * *spec itself. */
vision_spec vision_spec_rect(const vision_spec *spec, int orig_w, int orig_h);

/* ---- decode ---- */

/* Decodes a JPEG or PNG held in memory into `img` (RGB8, alpha dropped; gray,
 * palette, 16-bit and CMYK converted). With `spec` non-NULL a JPEG is decoded
 * at the smallest allowed DCT scale whose output still covers the size the
 * image will be resized to for that spec (never smaller than that, so no
 * upscaling a full decode would not need); with `spec` NULL, or for PNG, at
 * full size. `data` is only read during the call. On failure `img` keeps its
 * buffer but has width = height = 0. */
vision_status vision_decode(vision_decoder *dec, const uint8_t *data, size_t size,
                            const vision_spec *spec, vision_image *img, vision_error *err);

/* vision_decode() of a whole file, refused if larger than the decoder's
 * max_file_bytes. Allocates (and frees) a buffer of the file's size. */
vision_status vision_load_file(vision_decoder *dec, const char *path, const vision_spec *spec,
                               vision_image *img, vision_error *err);

/* ---- tensor preparation ---- */

/* Where the image went in the tensor. Coordinates are continuous pixel edges
 * (0..width), so a point maps as
 *     tensor = original * scale + offset,   original = (tensor - offset) / scale
 * independently of any DCT pre-scaling (orig_* is the file's size). */
typedef struct vision_transform {
    vision_mode mode;
    int orig_width, orig_height;       /* image in the file */
    int decoded_width, decoded_height; /* image handed to vision_prepare */
    int resized_width, resized_height; /* image size in tensor pixels, before pad/crop */
    int tensor_width, tensor_height;
    float scale_x, scale_y;   /* resized / orig */
    float offset_x, offset_y; /* pad_x - crop_x, pad_y - crop_y */
    int pad_x, pad_y;         /* left/top padding in the tensor */
    int crop_x, crop_y;       /* left/top of the crop in resized pixels */
} vision_transform;

/* Resizes (bilinear, half-pixel centres like OpenCV INTER_LINEAR),
 * letterboxes or crops, normalises and writes one planar float image of
 * 3 * spec->height * spec->width floats at `dst` (a batch slot), in one pass
 * over the output. `dst_floats` is the room at dst. `tf` may be NULL.
 * Allocates one O(spec->width) scratch block per call; no per-pixel work
 * allocates. Reentrant. */
vision_status vision_prepare(const vision_image *img, const vision_spec *spec, float *dst,
                             size_t dst_floats, vision_transform *tf, vision_error *err);

/* Maps a point from tensor pixels to original-image pixels (not clamped). */
void vision_transform_point(const vision_transform *tf, float *x, float *y);
/* Maps a box {x0, y0, x1, y1} from tensor pixels to original-image pixels,
 * clamped to the image. */
void vision_transform_box(const vision_transform *tf, float box[4]);

/* ---- pictures out (what an operator looks at) ---- */

/* Draws the outline of box {x0, y0, x1, y1} (pixels, clipped to the image)
 * `thick` pixels wide in colour rgb on an RGB8 picture. */
void vision_draw_box(uint8_t *rgb, int w, int h, size_t stride, const float box[4], int thick,
                     const uint8_t color[3]);
/* Encodes an RGB8 picture as a baseline JPEG (4:2:0, quality 1..100) into a
 * malloc'd buffer (*out, *out_len; free it). VISION_OK, or an error status. */
vision_status vision_encode_jpeg(const uint8_t *rgb, int w, int h, size_t stride, int quality,
                                 uint8_t **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
