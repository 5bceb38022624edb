/* Pipelines: a model folder whose model.yaml says `pipeline:` (and holds no
 * model.onnx) chains models of the repository on one image, and is served
 * like a model under its folder's name:
 *
 *   pipeline:                          # detect -> crop -> classify
 *     detect: shapes                   # a detector of the repository
 *     classify: red_disc               # a classifier run on each box's crop
 *     classes: [red_disc, other_disc]  # the detector's classes to classify (default: all)
 *     padding: 0.1                     # each side of a crop grows by this share of the box
 *     min_size: 8                      # boxes narrower or lower (image pixels): not classified
 *     max_crops: 32                    # boxes classified per image, best scores first
 *     top_k: 1                         # classes kept per crop
 *     relabel: false                   # true: a box takes its crop's best class as its label
 *
 *   pipeline:                          # text lines read (PaddleOCR's two stages)
 *     detect: ocr_det                  # a text (or object) detector
 *     recognize: ocr_rec               # a text recogniser on each line's crop
 *
 *   pipeline:                          # models side by side on the image, answers merged
 *     models: [shapes, yolov8n]
 *
 * A pipeline answers as its first model does (a detector's answer, each box
 * with the "classes" of its crop and the "crop" it was cut from; merged: the
 * boxes and classes of every model, each naming its "model"; recognised:
 * each line's "text" and "text_score").
 *
 * How it runs (request.h's pipeline, one more step): the image is decoded
 * at full size and kept with the item; the first model's rows go through
 * its own batcher (the pipeline borrows it: they batch with the model's own
 * requests); once its answer is built, a worker cuts the crops (or takes the
 * whole picture, merged) and commits them to the next model's batcher as
 * rows of that model (its statistics count them); the last one to run
 * merges the answers and finishes the item.
 *
 * The pipeline holds a reference to each model it names, taken when it is
 * loaded (the loop thread): a model swapped in or unloaded reloads the
 * pipelines over it (chain_refresh).
 *
 * Threads: loading and refreshing on the loop thread; chain_next and what
 * follows on instance threads and workers.
 */
#ifndef GLINT_SERVE_CORE_CHAIN_H
#define GLINT_SERVE_CORE_CHAIN_H

#include <jansson.h>
#include <stddef.h>

#include "serve/core/metrics.h"
#include "serve/core/strbuf.h"

#define CHAIN_MAX_STAGES 4
#define CHAIN_MAX_CROPS 64

typedef struct server server;
typedef struct repo_model repo_model;
typedef struct repo_entry repo_entry;
typedef struct sitem sitem;
typedef struct vision_image vision_image;

typedef enum chain_mode { CHAIN_CROP, CHAIN_MERGE } chain_mode;

typedef struct chain {
    chain_mode mode;
    int n_stages;
    repo_model *stages[CHAIN_MAX_STAGES]; /* references; [0] answers first */
    unsigned char *classes;               /* crop: 1 per detector class id to classify; NULL all */
    int n_classes;
    double padding;
    int min_size, max_crops, top_k, relabel;
    /* per stage: [0] its run (queue + infer), then from the crops' job to
     * the last crop's answer */
    metrics_histogram stage_seconds[CHAIN_MAX_STAGES];
    metrics_counter crops;   /* rows sent to the second model */
    metrics_counter skipped; /* boxes not classified: class, size or max_crops */
} chain;

/* 1 if dir holds a model.yaml with a top-level `pipeline` key and no
 * model.onnx. */
int chain_is_folder(const char *dir);

/* Loads the pipeline folder `dir` as a model called name (a new reference
 * in *out) over the ready models it names. Loop thread. 0, or -1 with err. */
int chain_load(server *s, const char *name, const char *dir, repo_model **out, char *err,
               size_t err_size);
/* Loads pipeline entry e again and installs it; a failure leaves what was
 * serving (or unloads it when `gone` names a model it needs that went
 * away). Loop thread. 0, or -1 (logged, in e->last_error). */
int chain_reload(server *s, repo_entry *e, const char *gone);
/* The model called `name` was installed or unloaded: reloads the pipelines
 * that name it, and loads those that waited for it. Loop thread. */
void chain_refresh(server *s, const char *name, int unloaded);
/* Frees a pipeline (releases its models). Any thread; accepts NULL. */
void chain_free(chain *c);

/* The picture of item `it` a pipeline keeps (decoded at full size by the
 * worker into the item's run; NULL if out of memory). Worker. */
vision_image *chain_image(sitem *it);
/* Keeps a picture the protocol decoded already (it->pixels). 0 or -1 OOM. */
int chain_keep(sitem *it, const vision_image *img);
/* The first model's answer of it is built (it->answer): sends its crops
 * (or the picture) to the next models. 1 if they took the item over (they
 * finish it), 0 if nothing follows (the caller finishes it). Instance
 * thread. */
int chain_next(sitem *it);
/* Frees what chain_image/chain_keep kept for it. Any thread; accepts
 * an item without. */
void chain_run_free(sitem *it);

/* A pipeline's stages for /v1/models and /health (a new reference). */
json_t *chain_json(const repo_model *m);
/* glint_pipeline_* series of every loaded pipeline. Loop thread. */
void chain_metrics(server *s, strbuf *sb);

#endif
