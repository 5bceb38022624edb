/* Model configuration: how to feed a model an image and how to read its
 * answer (task, tensor size, resize mode, normalisation, output layout,
 * thresholds, class names).
 *
 * Read from `model.yaml` beside the .onnx when there is one: a flat mapping
 * of scalars and sequences, e.g.
 *
 *     name: yolov8n            task: detect | classify | text_detect | text_recognize
 *     layout: yolov8 | yolov5  input: images
 *     width: 640               height: 640
 *     resize: letterbox | crop resize_short: 256
 *     mean: [0, 0, 0]          std: [1, 1, 1]          channels: rgb | bgr
 *     score_threshold: 0.25    iou_threshold: 0.45    max_detections: 300
 *     labels: [person, bicycle, ...]   (or {0: person, ...}, or labels_file: labels.txt)
 *
 * OCR models in PaddleOCR's shape (PP-OCR det/rec exports):
 *
 *     task: text_detect        threshold: 0.3   box_threshold: 0.6
 *                              unclip_ratio: 1.5   max_detections: 1000
 *     task: text_recognize     characters_file: dict.txt   use_space_char: true
 *                              max_width: 3200 (widest line tensor; default 10 x width)
 *
 * and, for glint serve (0 or absent: the server's defaults):
 *
 *     max_batch: 4                    preferred_batch_sizes: [2, 4]
 *     max_queue_delay_us: 2000        instances: 1     threads: 2
 *     max_queue: 64                   timeout_ms: 10000
 *     max_queue_ms: 500               (-1: no latency budget)
 *     solo_threads: 2                 (-1: a lone request runs on its instance)
 *     precision: f32 | int8 | bf16 | auto   (int8: serve model.int8.onnx,
 *                from glint quantize; bf16: model.onnx with bf16
 *                convolutions; auto: the fastest at load among f32 and those
 *                whose agreement report from glint quantize passes)
 *
 * Unknown keys are ignored. mean/std are in units of x/255 (torchvision);
 * if any value is above 1 both lists are taken as 0..255 units (OpenCV,
 * mmdet style) and divided by 255.
 *
 * Whatever the file does not say is inferred from the model as a user of a
 * plain Ultralytics or torchvision export expects:
 *   - task: Ultralytics metadata `task`, else the output rank (3 -> detect,
 *     2 or [B,C,1,1] -> classify);
 *   - tensor size: the input's fixed H and W, else metadata `imgsz`, else
 *     640 (detect) / 224 (classify);
 *   - detect: letterbox (pad 114), mean 0, std 1; layout V8 [B,4+C,N] or V5
 *     [B,N,5+C] from the output dims (and the class count when names are
 *     known); score 0.25, IoU 0.7 (V8, Ultralytics) or 0.45 (V5), 300 boxes;
 *   - classify: resize the short side to round(256/224 * max(W, H)), centre
 *     crop, ImageNet mean/std (torchvision); an Ultralytics classifier
 *     (metadata task: classify) gets short side max(W, H), mean 0, std 1;
 *     top 5 classes;
 *   - labels: Ultralytics metadata `names` ({0: 'person', 1: 'bicycle'}),
 *     else class numbers;
 *   - text_detect (an output [B,1,H,W] of the input's size): PaddleOCR's
 *     DetResizeForTest, the picture stretched so that its long side is at
 *     most max(width, height) (960) and each side a multiple of 32 when the
 *     input's H and W are free, else to the fixed size; ImageNet mean/std;
 *     DB post-processing (tasks/text.h);
 *   - text_recognize (an output [B,T,C] of a model whose input height is
 *     fixed at 64 or less): height H keeping the aspect ratio, width
 *     max(width, H * w / h) when the input width is free (320 by default),
 *     padded on the right with zeros; mean 0.5, std 0.5; greedy CTC over
 *     characters_file (one character a line, spaces kept), a space after
 *     them unless use_space_char: false. Both text tasks read BGR planes
 *     (PaddleOCR reads with OpenCV) unless channels: rgb.
 *
 * Thread-safety: loading is reentrant; a loaded model_conf is read-only and
 * may be shared by threads.
 */
#ifndef GLINT_MODEL_CONF_H
#define GLINT_MODEL_CONF_H

#include <stddef.h>

#include "glint/engine.h"
#include "tasks/detect.h"
#include "tasks/labels.h"
#include "tasks/text.h"
#include "vision/image.h"

/* Largest model.yaml accepted. */
#define MODEL_CONF_MAX_BYTES ((size_t)1 << 20)
/* Room for a model_conf_load error message. */
#define MODEL_CONF_ERR_MAX 512

typedef enum model_task {
    MODEL_TASK_NONE = 0,
    MODEL_TASK_DETECT,
    MODEL_TASK_CLASSIFY,
    MODEL_TASK_TEXT_DETECT,    /* OCR: a DB text detector's probability map -> text boxes */
    MODEL_TASK_TEXT_RECOGNIZE, /* OCR: CTC class probabilities per step -> a string */
} model_task;

/* Largest batch and instance count a model.yaml may ask for. */
#define MODEL_MAX_BATCH 32
#define MODEL_MAX_INSTANCES 16

typedef enum model_precision {
    MODEL_PRECISION_DEFAULT = 0, /* f32 unless the server says otherwise */
    MODEL_PRECISION_F32,
    MODEL_PRECISION_INT8, /* the QDQ model.int8.onnx beside model.onnx */
    MODEL_PRECISION_AUTO, /* the fastest precision whose agreement report passes */
    MODEL_PRECISION_BF16, /* model.onnx, convolutions computed in bf16 */
} model_precision;

/* How glint serve runs the model; 0 = the server's default. */
typedef struct model_serving {
    int max_batch;                  /* largest batch the dynamic batcher forms */
    int max_queue_delay_us;         /* longest an image waits for a batch to fill */
    int preferred[MODEL_MAX_BATCH]; /* preferred_batch_sizes, rising */
    int n_preferred;
    int instances;        /* engine contexts */
    int threads;          /* engine threads per context */
    int max_queue;        /* images admitted and not yet answered, before 503 */
    int max_queue_ms;     /* latency budget of the queue, before 503; -1 none */
    int solo_threads;     /* threads of a lone request's run; -1 none */
    int timeout_ms;       /* deadline of a request that gives none */
    int precision;        /* a model_precision */
    double rate_limit;    /* requests/s per client on this model; 0: none */
    int rate_limit_burst; /* requests a client may send at once (0: ceil(rate_limit)) */
} model_serving;

typedef struct model_conf {
    char *name;            /* yaml `name`, else the .onnx's stem (its folder for model.onnx) */
    model_task task;       /* DETECT or CLASSIFY */
    int input;             /* index of the image input (the model has exactly one) */
    int output;            /* index of the output holding the answer (0) */
    int batch_free;        /* 1: the batch axis is free, batches > 1 may run */
    vision_spec spec;      /* tensor size, resize mode, pad, mean/std */
    detect_layout layout;  /* detect: V8 or V5; AUTO when the output dims are free */
    int box_outputs[3];    /* DETECT_LAYOUT_BOXES: the boxes, scores and labels outputs */
    detect_options detect; /* detect: thresholds and box limits */
    int top_k;             /* classify: classes per answer */
    text_det_options text; /* text_detect: DB post-processing */
    int use_space;         /* text_recognize: the last class is a space */
    task_labels *labels;   /* owned; NULL: classes are named by number (text_recognize:
                            * the characters, class k + 1 is characters[k]) */
    char *yaml_path;       /* the model.yaml read (owned), NULL if none */
    model_serving serving; /* glint serve settings from model.yaml */
} model_conf;

/* The largest tensor height and width the model is served at: the spec's
 * size, but a text line of free width up to spec.max_width. */
void model_conf_max_hw(const model_conf *c, int *h, int *w);

/* Static name of a task ("detect", "classify"; "none"). */
const char *model_task_name(model_task t);

/* Fills *c for the model `m` loaded from `onnx_path`: reads model.yaml from
 * the same folder if present (at most MODEL_CONF_MAX_BYTES), infers the rest
 * and checks it all against the model's input and output. Warnings that do
 * not stop the model from running (e.g. a label count that differs from the
 * class count) go to stderr.
 * Returns 0, or -1 with a one-line message in err (naming the file and key
 * for config errors); *c is then empty. Release with model_conf_dispose(). */
int model_conf_load(model_conf *c, const char *onnx_path, const glint_model *m, char *err,
                    size_t err_size);

/* The `source` (and `source_sha256`) a model.yaml names: where a glint serve
 * pulls new versions of that model folder from. 0 with *url malloc'd (NULL
 * when the file or the key is absent) and sha256 ("" when absent), or -1
 * with err for a file that does not parse or a bad value. */
int model_conf_read_source(const char *yaml_path, char **url, char sha256[65], char *err,
                           size_t err_size);

/* Frees what *c owns and zeroes it; accepts NULL and an all-zero conf. */
void model_conf_dispose(model_conf *c);

/* Parses Ultralytics' `names` metadata: a Python dict repr such as
 * {0: 'person', 1: "teddy's bear"} (quotes, escapes and \x/\u/\U code points
 * as Python writes them; JSON-style quoted keys are accepted too) or a list
 * ['person', 'bicycle']. Missing ids fall back to numbers.
 * Returns 0 and *out (free with task_labels_destroy), or -1 with a message. */
int model_conf_parse_names(const char *s, task_labels **out, char *err, size_t err_size);

#endif
