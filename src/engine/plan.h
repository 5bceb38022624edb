/* Execution plan: the graph specialised to one shape of its inputs (batch size,
 * free height and width...).
 *
 * eng_plan_build() infers every shape, folds what is constant (the Shape/Gather/
 * Concat chains exporters emit), hands steps to a backend, and assigns every
 * intermediate tensor an offset in one arena by liveness, so that running
 * allocates nothing. eng_plan_bind() points the plan at an arena; eng_plan_run()
 * executes it. */
#ifndef GLINT_PLAN_H
#define GLINT_PLAN_H

#include "engine_impl.h"

struct plan;
struct step;

/* A backend kernel bound to one step. run() executes it with the step's
 * tensors (data pointers already bound). */
typedef struct kernel {
    glint_status (*run)(struct step *s);
    void (*destroy)(void *state);
    void *state;
    const char *impl; /* implementation name for profiles */
} kernel;

typedef enum layout {
    LAYOUT_PLAIN = 0, /* ONNX row-major (NCHW for images) */
    LAYOUT_NHWC,      /* 4-D tensors stored N,H,W,C */
    LAYOUT_COUNT      /* a backend's own layout goes before this */
} layout;

typedef struct step {
    const node *n; /* the node it runs (for a reorder: the consumer it serves) */
    const op_def *op;
    op_ctx ctx;              /* tensors the kernel reads and writes */
    int in_id[16], n_in_ids; /* value ids behind ctx.in (-1 for absent), for liveness */
    int out_id[8];
    int sum_id;            /* value behind ctx.sum, or -1 */
    int64_t out_stride[8]; /* NHWC copy kernels: floats between pixels of output i
                            * when it is written into a channel slot of a larger
                            * tensor (0: dense) */
    uint32_t in_place;     /* Concat: bit i set = input i is already in its slot */
    bool planes_ok;        /* its kernel writes its 4-D plain output with any plane_stride */
    bool sum_apart;        /* its kernel reads the residual (ctx.sum) as an input of its own
                            * while it writes: the output must not share its buffer */
    bool rows_ok;          /* a plain Concat the layout planner lets memory planning run as
                            * the row-copy kernel, inputs written in place where they can */
    int64_t plane_stride;  /* ... elements between the channel planes of one image (0: H*W),
                            * when it writes into the rows of a larger tensor */
    kernel k;              /* k.run == NULL: the reference kernel op->run */
    bool single;           /* too small to share: made and run on one thread (eng_plan_small) */
    uint32_t packed_in;    /* bit k: its kernel took ctx.in[k] at plan time (weights packed in the
                            * model's cache) and never reads it at run time */
    double us;             /* total time over profiled runs */
    int reorder_from;      /* >= 0: a layout conversion of value reorder_from ... */
    int reorder_dst;       /* ... into value reorder_dst (n is the consumer it serves) */
} step;

typedef struct plan {
    const glint_model *m;
    int batch;
    const int64_t *input_dims;     /* during eng_plan_build only */
    const glint_tensor *in_shapes; /* during eng_plan_build_shapes only */
    int n_vals;                    /* graph values + extra values made by the plan */
    int cap_vals;
    glint_tensor *t; /* per value: dtype, dims, data (bound) */
    bool *is_const;
    void **owned;       /* folded constant data owned by the plan */
    int64_t *offset;    /* arena offset of the value's buffer, -1 if none */
    int *alias;         /* value whose buffer this value shares, or itself */
    int64_t *alias_off; /* byte offset of the value inside the buffer it aliases */
    layout *lay;
    step *steps;
    int n_steps, cap_steps;
    size_t arena_bytes;
    size_t weight_bytes; /* backend-owned reordered weights */
    double flops;
    int threads;               /* OpenMP threads of the thread that built it (its context's) */
    bool bf16;                 /* float convolutions compute in bf16 (options.bf16) */
    int bf16_convs, f32_convs; /* ... convolutions on a bf16 kernel, and left in f32 (no bf16
                                * kernel for them on this CPU) */
    int prof_runs;             /* runs accumulated in steps[].us */
    /* Nodes whose output shapes depend on data (NonZero, NonMaxSuppression, If, a
     * Reshape to a computed shape...) and every node after them that reads their
     * outputs are not steps: the interpreter runs them after the steps, inferring
     * shapes from the values at hand, with the reference kernels. */
    bool *dyn;         /* per value: made by the interpreter (shape known at run time) */
    bool *out_live;    /* per value: made by a step and read after the steps (a graph
                        * output, or an input of an interpreted node): kept plain */
    const node **tail; /* the interpreted nodes of the graph, in order */
    int n_tail;
    size_t *dyn_cap;        /* bytes allocated at owned[v] for interpreted value v */
    double tail_us;         /* time in the interpreter over profiled runs */
    glint_observer observe; /* called after each step with the values it wrote */
    void *observe_user;
    const struct backend_iface *be; /* the backend the plan was built for */
    void *be_state;                 /* its per-plan state, shared by the plan's kernels */
} plan;

/* Builds p for `batch` images on backend be (backend.h): infers shapes,
 * folds constants, lets the layout planner hand steps to be (when be has
 * layouts), then plans memory. input_dims (may be NULL): sizes for free
 * non-batch axes of input 0; bf16: float convolutions compute in bf16 (a
 * backend that cannot refuses the plan). On failure p is disposed. */
glint_status eng_plan_build(const glint_model *m, int batch, const int64_t *input_dims,
                            const struct backend_iface *be, bool bf16, plan *p);
/* Same with every input's shape given (shapes[i] for graph input i: its
 * free dimensions take the sizes there; ndim must match, data is ignored). */
glint_status eng_plan_build_shapes(const glint_model *m, const glint_tensor *shapes,
                                   const struct backend_iface *be, bool bf16, plan *p);
void eng_plan_dispose(plan *p);
/* Whether step st is too small to share between threads: its estimated
 * time on one (FLOPs at 100 GFLOP/s, 30 for a depthwise convolution, plus
 * the bytes of its tensors at 25 GB/s) is under what a second thread saves
 * after its fork and join (~5 us each on a 2-core VM). MobileNetV3-small on
 * 2 threads runs ~80 steps of 2-30 us; its squeeze-and-excite steps took
 * 5-10 us on 2 threads against 2-4 on one. */
bool eng_plan_small(const plan *p, const step *st);
/* Sets this thread's OpenMP thread count for step st (1 when st->single),
 * or back to the plan's (st NULL): around making a step's kernel too, as
 * oneDNN fixes a primitive's thread count when it is made. */
void eng_plan_threads(const plan *p, const step *st);
/* Marks in runtime[v] (per graph value, or-ed in) the graph constants p
 * reads at run time: every one but those whose every reader is a step that
 * packed them at plan time (step.packed_in). */
void eng_plan_const_reads(const plan *p, bool *runtime);
/* Points every non-constant tensor into arena (arena_bytes long at least). */
void eng_plan_bind(plan *p, void *arena);
glint_status eng_plan_run(plan *p, bool profile);

/* Number of steps reading value v (as input, residual or reorder source),
 * plus one if it is a graph output. */
int eng_plan_readers(const plan *p, int v);

/* Adds a value that only the plan knows (e.g. the plain copy of an NHWC
 * tensor); returns its id or -1. */
int eng_plan_add_value(plan *p);

#endif
