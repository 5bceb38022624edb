/* glint engine: load an ONNX model once, run it from any number of execution
 * contexts.
 *
 * A glint_model owns the graph and the weights (read-only after load). A
 * glint_context is one execution instance: its own thread count, a plan per
 * input shape (batch size, and height and width where the model leaves them
 * free) over one activation arena, and nothing allocated on a run whose
 * shape has a plan. Contexts of one model share its weights.
 *
 * Thread-safety: a model may be shared by contexts on different threads once
 * loaded. A context is used by one thread at a time.
 *
 * Errors: every call returns a glint_status (0 = OK). The message describing
 * the last failure on the calling thread is glint_last_error().
 */
#ifndef GLINT_ENGINE_H
#define GLINT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GLINT_MAX_DIMS 8

typedef enum glint_status {
    GLINT_OK = 0,
    GLINT_ERR_IO,          /* file could not be opened or read */
    GLINT_ERR_PARSE,       /* not a valid ONNX protobuf / corrupt data */
    GLINT_ERR_UNSUPPORTED, /* operator, attribute or data type not supported */
    GLINT_ERR_INVALID,     /* inconsistent model or bad argument */
    GLINT_ERR_SHAPE,       /* tensor shapes do not agree */
    GLINT_ERR_NOMEM,       /* allocation failed or size limit exceeded */
    GLINT_ERR_BACKEND,     /* the kernel library refused or failed */
} glint_status;

/* Element types; the values are ONNX's TensorProto.DataType. */
typedef enum glint_dtype {
    GLINT_DTYPE_UNDEFINED = 0,
    GLINT_F32 = 1,
    GLINT_U8 = 2,
    GLINT_I8 = 3,
    GLINT_I32 = 6,
    GLINT_I64 = 7,
    GLINT_BOOL = 9,
    GLINT_F64 = 11,
} glint_dtype;

/* A dense row-major tensor view. The engine never frees `data` it did not
 * allocate. */
typedef struct glint_tensor {
    glint_dtype dtype;
    int ndim;
    int64_t dims[GLINT_MAX_DIMS];
    void *data;
} glint_tensor;

/* Description of a model input or output. A dimension of -1 is free (the
 * batch axis of a dynamic-batch export). `name` lives as long as the model. */
typedef struct glint_io_info {
    const char *name;
    glint_dtype dtype;
    int ndim;
    int64_t dims[GLINT_MAX_DIMS];
} glint_io_info;

typedef enum glint_backend {
    GLINT_BACKEND_AUTO = 0, /* oneDNN where it has a kernel, reference elsewhere */
    GLINT_BACKEND_REF = 1,  /* plain C reference kernels only (for checking) */
} glint_backend;

typedef struct glint_context_options {
    int threads;   /* OpenMP threads for this context; 0 = the CPUs the process may use */
    int max_batch; /* largest batch this context will run; 0 = 1 */
    glint_backend backend;
    int profile; /* 1 = time every step (glint_context_profile) */
    /* 1 = float convolutions compute in bf16 on oneDNN (AUTO backend): each
     * reads its f32 input and weights rounded to bf16, accumulates and
     * writes f32. Fast only on CPUs with AMX; slower than f32 without. */
    int bf16;
    /* Sizes for free dimensions of input 0 other than the batch axis (the
     * height and width of an export with dynamic spatial axes) planned at
     * creation, for every batch size 1..max_batch: a value > 0 sets axis i;
     * 0 keeps the declared size. Runs may still use other sizes (below).
     * Zero-initialise when unused. */
    int64_t input_dims[GLINT_MAX_DIMS];
    /* Largest product of an input's free dimensions other than the batch
     * axis (its pixels, for an image of free height and width) a run may
     * use; 0 = 16M. */
    int64_t max_pixels;
    /* Plans kept for shapes other than those planned at creation, least
     * recently used out; 0 = 8. */
    int max_plans;
} glint_context_options;

typedef struct glint_model glint_model;
typedef struct glint_context glint_context;

/* Message of the last failure on this thread (never NULL). */
const char *glint_last_error(void);
const char *glint_strerror(glint_status s);
const char *glint_dtype_name(glint_dtype t);
size_t glint_dtype_size(glint_dtype t);

/* Loads an ONNX file (external tensor data is read from beside it), checks
 * every operator, folds BatchNorm into Conv and fuses activations.
 * On success *out owns the model: free it with glint_model_free(). */
glint_status glint_model_load(const char *path, glint_model **out);
/* Same from memory; `base_dir` resolves external data (NULL: none allowed).
 * The bytes are not referenced after the call. */
glint_status glint_model_load_buffer(const void *data, size_t size, const char *base_dir,
                                     glint_model **out);
void glint_model_free(glint_model *m);

int glint_model_num_inputs(const glint_model *m);
int glint_model_num_outputs(const glint_model *m);
void glint_model_input_info(const glint_model *m, int i, glint_io_info *info);
void glint_model_output_info(const glint_model *m, int i, glint_io_info *info);
/* Turns input i into a constant holding `value` (copied; dtype and dims must
 * match the declaration where it is fixed), as ONNX Runtime does with
 * overridable initializers: later contexts fold everything that depends on
 * it, which is what lets shape-tensor inputs (a Reshape's shape, a Resize's
 * sizes) feed operators whose output shape they set. The model's inputs are
 * renumbered without it. Call before creating contexts. */
glint_status glint_model_freeze_input(glint_model *m, int i, const glint_tensor *value);

/* Frees the model's own copy of every constant that the contexts built so
 * far never read at run time and that a backend holds a copy of all of
 * (oneDNN's packed convolution and matmul weights, which it can reorder
 * back exactly); returns the bytes freed. A plan built later gives them
 * back first (a reorder each, a few milliseconds). For a server whose
 * contexts have planned their shapes: YOLOv8n's 12.6 MB of f32 weights
 * otherwise sit beside their packed copies. Thread-safe with context
 * creation and runs. */
size_t glint_model_trim(glint_model *m);
/* Value of the model's metadata_props entry `key` (Ultralytics exports put
 * "names", "imgsz", "task", "stride" there), or NULL. Lives as long as the
 * model. */
const char *glint_model_metadata(const glint_model *m, const char *key);
/* Multiply-accumulate count ×2 of one image (batch 1), for GFLOP/s reports. */
double glint_model_flops(const glint_model *m);

/* Creates an execution context; plans memory and kernels for batch sizes
 * 1..max_batch at the declared input shape (with input_dims; none when the
 * model leaves other axes free and input_dims does not set them). A run of
 * another shape builds its plan on first use. The model must outlive the
 * context. Free with glint_context_free(). */
glint_status glint_context_create(glint_model *m, const glint_context_options *opt,
                                  glint_context **out);
void glint_context_free(glint_context *c);

/* Runs every planned batch size once on zeroed inputs, so that kernels are
 * generated and memory is touched before the first real request. */
glint_status glint_context_warm(glint_context *c);

/* Bytes of activation memory the context holds (the peak of its largest
 * plan; 0 while it borrows another's). */
size_t glint_context_arena_bytes(const glint_context *c);

/* From now on c runs in the activation memory of `lender`, a context of the
 * same model (grown when c needs more), and frees its own; NULL goes back to
 * memory of its own. For a context used now and then beside others that are
 * idle meanwhile (glint serve's solo context runs in the arena of the
 * instance that runs it): the caller never runs c and the lender at once,
 * and a run of either overwrites the other's outputs. */
void glint_context_borrow_arena(glint_context *c, glint_context *lender);

typedef struct glint_context_stats {
    int plans;            /* plans held now */
    int plans_built;      /* since creation, those built at creation included */
    int plans_evicted;    /* shapes dropped to keep max_plans */
    double build_ms;      /* total time building plans */
    double last_build_ms; /* the most recent build */
    size_t arena_bytes;   /* activation memory (the largest plan's) */
    size_t plan_bytes;    /* the plans' own memory: tables and folded constants */
    int interpreted;      /* nodes of the last plan whose output shapes depend on values
                           * (NonZero, NonMaxSuppression, If, a Reshape to a computed
                           * shape, and what reads them): run after its steps by an
                           * interpreter on the reference kernels */
} glint_context_stats;
void glint_context_get_stats(const glint_context *c, glint_context_stats *st);

/* Runs the model on `inputs` (one per model input, in order; fixed dims must
 * match the model, the batch axis 1..max_batch, other free axes any size
 * within max_pixels). A shape met for the first time builds its plan (and
 * may grow the arena), which can fail as creating a context can. Outputs
 * stay owned by the context and are valid until its next run or free:
 * glint_context_output() describes output i. */
glint_status glint_context_run(glint_context *c, const glint_tensor *inputs, int n_inputs);
void glint_context_output(const glint_context *c, int i, glint_tensor *out);

/* Observer of a run: called with each graph input, then after every step
 * with each graph value the step wrote, by its ONNX name (values the engine made up are not shown),
 * the tensor valid during the call only. On a GLINT_BACKEND_REF context the
 * data are plain row-major; the oneDNN backend may hold them in another
 * layout. Called on the thread that runs the context. */
typedef void (*glint_observer)(void *user, const char *name, const glint_tensor *t);

/* Sets the observer of every plan, present and future (fn NULL: none). */
void glint_context_observe(glint_context *c, glint_observer fn, void *user);

/* Per-step profile (when opt.profile was set) of the shape last run:
 * one line per step (node, op, kernel, mean microseconds per run, share of
 * the total) written to `buf` (NUL-terminated if it fits); returns the
 * length it needed. */
size_t glint_context_profile(const glint_context *c, char *buf, size_t size);

/* Decodes a serialized ONNX TensorProto (the .pb files of ONNX backend
 * tests). On success t->data is malloc'ed (free() it) and, when name is not
 * NULL, *name is the tensor's name (malloc'ed, or NULL if it has none). */
glint_status glint_tensor_parse(const void *buf, size_t size, glint_tensor *t, char **name);

#ifdef __cplusplus
}
#endif
#endif
