/* Static post-training quantization into ONNX's QDQ form (see
 * include/glint/quant.h).
 *
 * The model is kept as its protobuf (protobuf-c, from the file); writing
 * builds new node and initializer arrays that point at the original messages
 * plus new ones allocated here, packs them, then puts every original pointer
 * back before anything is freed, so protobuf-c's free never sees memory it
 * did not allocate.
 */
#include "glint/quant.h"

#include "engine_impl.h"
#include "onnx.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUANT_MAX_FILE ((size_t)2 << 30)
#define QUANT_RESERVOIR 65536 /* values kept per tensor for percentiles */

/* Observed values of one tensor to quantize. */
typedef struct qstat {
    char *name;
    double lo, hi; /* observed range */
    int64_t seen;  /* values observed */
    int runs;      /* observations (calibration inputs) */
    float *sample; /* reservoir of up to QUANT_RESERVOIR values */
    int n_sample;
} qstat;

/* A tensor that shares the scale and zero point of a Concat's output: the
 * Concat's output itself, its inputs, and the input of a Split whose
 * outputs it concatenates. Each gets QuantizeLinear -> DequantizeLinear
 * with the shared parameters right where it is made, and every reader
 * reads the DequantizeLinear (ONNX Runtime's QDQ form of Concat), so that
 * a runtime may keep the whole group in 8 bits. */
typedef struct qmember {
    const char *name; /* points into the model */
    int stat;         /* the Concat output's qstat: its range sets the parameters */
} qmember;

/* One Conv to quantize. */
typedef struct qconv {
    size_t node;   /* index in graph->node */
    int x;         /* its data input's qstat */
    size_t w_init; /* index of its weight initializer */
    int w_uses;    /* node inputs that read the weight */
} qconv;

struct glint_quant {
    uint8_t *file;
    size_t file_len;
    Onnx__ModelProto *mp;
    int opset;
    qconv *convs;
    int n_convs;
    qstat *stats;
    int n_stats;
    qmember *members;
    int n_members;
    int *uf; /* per qstat: union-find parent; a group's root stands for it */
    uint64_t rng;
};

/* ---- allocation of the new messages (freed together) ---- */

typedef struct arena {
    void **p;
    size_t n, cap;
    int failed;
} arena;

static void *arena_alloc(arena *a, size_t size)
{
    if (a->failed) return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        void **p = realloc(a->p, cap * sizeof *p);
        if (!p) {
            a->failed = 1;
            return NULL;
        }
        a->p = p;
        a->cap = cap;
    }
    void *m = calloc(1, size ? size : 1);
    if (!m) {
        a->failed = 1;
        return NULL;
    }
    /* cppcheck-suppress memleak ; the list owns m (freed with the list) */
    return a->p[a->n++] = m;
}

static char *arena_name(arena *a, const char *base, const char *suffix)
{
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *s = arena_alloc(a, n);
    if (s) snprintf(s, n, "%s%s", base, suffix);
    return s;
}

static void arena_free(arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->p[i]);
    free(a->p);
}

/* ---- reading the model ---- */

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && (size_t)n <= QUANT_MAX_FILE && fseek(f, 0, SEEK_SET) == 0 &&
            (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)n;
    }
    fclose(f);
    return buf;
}

static Onnx__TensorProto *find_init(const Onnx__GraphProto *g, const char *name, size_t *idx)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name)) {
            if (idx) *idx = i;
            return g->initializer[i];
        }
    return NULL;
}

static int count_uses(const Onnx__GraphProto *g, const char *name)
{
    int n = 0;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            n += !strcmp(g->node[i]->input[k], name);
    return n;
}

/* A float weight stored inline with as many values as its dims say. */
static int float_weight(const Onnx__TensorProto *t)
{
    if (!t->has_data_type || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
        t->n_dims < 3 || t->n_external_data)
        return 0;
    int64_t n = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 1 || t->dims[d] > ((int64_t)1 << 30)) return 0;
        n *= t->dims[d];
        if (n > ((int64_t)1 << 31)) return 0;
    }
    return t->has_raw_data ? t->raw_data.len == (size_t)n * 4 : t->n_float_data == (size_t)n;
}

static float weight_at(const Onnx__TensorProto *t, size_t i)
{
    if (!t->has_raw_data) return t->float_data[i];
    float v;
    memcpy(&v, t->raw_data.data + i * 4, 4);
    return v;
}

static int stat_index(glint_quant *q, const char *name, int create)
{
    for (int i = 0; i < q->n_stats; i++)
        if (!strcmp(q->stats[i].name, name)) return i;
    if (!create) return -1;
    qstat *s = realloc(q->stats, (size_t)(q->n_stats + 1) * sizeof *s);
    if (!s) return -2;
    q->stats = s;
    memset(&s[q->n_stats], 0, sizeof *s);
    s[q->n_stats].lo = INFINITY;
    s[q->n_stats].hi = -INFINITY;
    if (!(s[q->n_stats].name = strdup(name))) return -2;
    return q->n_stats++;
}

/* The node producing tensor `name`, or NULL (graph input, initializer). */
static const Onnx__NodeProto *producer_of(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_output; k++)
            if (!strcmp(g->node[i]->output[k], name)) return g->node[i];
    return NULL;
}

static int is_member(const glint_quant *q, const char *name)
{
    for (int i = 0; i < q->n_members; i++)
        if (!strcmp(q->members[i].name, name)) return 1;
    return 0;
}

static int is_graph_output(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_output; i++)
        if (!strcmp(g->output[i]->name, name)) return 1;
    return 0;
}

static int64_t node_axis(const Onnx__NodeProto *n, int64_t dflt)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, "axis")) return n->attribute[i]->i;
    return dflt;
}

/* The operator of protobuf node p (by its op_type, whatever its domain),
 * through the one operator table: -1 for one the engine does not know. */
static int node_op(const Onnx__NodeProto *p)
{
    return p->op_type ? eng_op_lookup(p->op_type) : -1;
}

/* Whether node p is a Conv, an activation a Conv's output may end in, or
 * a residual Add: what a runtime can fuse into the convolution that writes
 * the 8-bit values. */
static int conv_like(const Onnx__NodeProto *p)
{
    switch (node_op(p)) {
    case OP_Conv:
    case OP_Add:
    case OP_Mul:
    case OP_Relu:
    case OP_LeakyRelu:
    case OP_Clip:
    case OP_Sigmoid:
    case OP_HardSwish:
        return 1;
    default:
        return 0;
    }
}

/* Whether node p passes its input's values through unchanged in kind: a
 * nearest Resize (picks values) or a MaxPool (picks the largest), so that
 * input and output can share one scale and zero point exactly. */
static int picks_values(const Onnx__NodeProto *p)
{
    if (node_op(p) == OP_MaxPool) return p->n_output == 1;
    if (node_op(p) != OP_Resize) return 0;
    for (size_t i = 0; i < p->n_attribute; i++)
        if (!strcmp(p->attribute[i]->name, "mode"))
            return p->attribute[i]->s.len == 7 && !memcmp(p->attribute[i]->s.data, "nearest", 7);
    return 1; /* mode defaults to nearest */
}

/* Whether tensor `name` can join a group: made by a conv_like node, by a
 * channel Split of one's output, or by a chain of picks_values nodes from
 * one; no graph output anywhere along. */
static int member_ok(const glint_quant *q, const char *name)
{
    const Onnx__GraphProto *g = q->mp->graph;
    for (int depth = 0; depth < 16; depth++) {
        const Onnx__NodeProto *p = producer_of(g, name);
        if (!p || is_graph_output(g, name)) return 0;
        if (conv_like(p)) return 1;
        if (node_op(p) == OP_Split && node_axis(p, 0) == 1) {
            const Onnx__NodeProto *pp = producer_of(g, p->input[0]);
            return pp && conv_like(pp) && !is_graph_output(g, p->input[0]);
        }
        if (!picks_values(p) || p->n_input < 1) return 0;
        name = p->input[0];
    }
    return 0;
}

static int uf_find(int *uf, int i)
{
    while (uf[i] != i)
        i = uf[i] = uf[uf[i]];
    return i;
}

/* Adds `name` to the group of stat; a tensor already in another group
 * merges the two groups. */
static int add_member(glint_quant *q, const char *name, int stat)
{
    for (int i = 0; i < q->n_members; i++)
        if (!strcmp(q->members[i].name, name)) {
            q->uf[uf_find(q->uf, q->members[i].stat)] = uf_find(q->uf, stat);
            return 0;
        }
    qmember *m = realloc(q->members, (size_t)(q->n_members + 1) * sizeof *m);
    if (!m) return -1;
    q->members = m;
    m[q->n_members++] = (qmember){name, stat};
    return 0;
}

/* Adds Concat input `name` (member_ok) and what it is made from: the Split
 * input and its halves, or each tensor along a picks_values chain. */
static int add_source(glint_quant *q, const char *name, int stat)
{
    const Onnx__GraphProto *g = q->mp->graph;
    for (int depth = 0; depth < 16; depth++) {
        const Onnx__NodeProto *p = producer_of(g, name);
        if (add_member(q, name, stat)) return -1;
        if (conv_like(p)) return 0;
        if (node_op(p) == OP_Split) {
            if (add_member(q, p->input[0], stat)) return -1;
            for (size_t j = 0; j < p->n_output; j++)
                if (add_member(q, p->output[j], stat)) return -1;
            return 0;
        }
        name = p->input[0]; /* picks_values: its input joins too */
    }
    return 0;
}

/* Groups of tensors that share one scale and zero point around the channel
 * Concats whose output a quantized Conv reads: YOLOv8's C2f (the Split of
 * cv1's output, the bottleneck outputs, the Concat cv2 reads), the SPPF
 * (cv1's output and its MaxPools), the neck's Concats of an upsampled
 * (nearest Resize) and a skip tensor. A tensor in two Concats merges their
 * groups, whose parameters then cover every Concat output of the group. A
 * Concat with an input that cannot join keeps per-Conv parameters. Returns
 * -1 when out of memory. */
static int find_groups(glint_quant *q)
{
    const Onnx__GraphProto *g = q->mp->graph;
    if (!(q->uf = malloc((size_t)(q->n_stats ? q->n_stats : 1) * sizeof *q->uf))) return -1;
    for (int i = 0; i < q->n_stats; i++)
        q->uf[i] = i;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (node_op(n) != OP_Concat || node_axis(n, 0) != 1 || n->n_output != 1) continue;
        int stat = stat_index(q, n->output[0], 0);
        if (stat < 0 || is_graph_output(g, n->output[0])) continue;
        int ok = 1;
        for (size_t k = 0; k < n->n_input && ok; k++)
            ok = member_ok(q, n->input[k]);
        if (!ok) continue;
        if (add_member(q, n->output[0], stat)) return -1;
        for (size_t k = 0; k < n->n_input; k++)
            if (add_source(q, n->input[k], stat)) return -1;
    }
    return 0;
}

static int model_opset(const Onnx__ModelProto *mp)
{
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *d = mp->opset_import[i]->domain;
        if (!d || !*d || !strcmp(d, "ai.onnx")) return (int)mp->opset_import[i]->version;
    }
    return 1;
}

glint_status glint_quant_create(const char *path, glint_quant **out)
{
    *out = NULL;
    glint_quant *q = calloc(1, sizeof *q);
    if (!q) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    q->rng = 0x9E3779B97F4A7C15ull;
    if (!(q->file = read_all(path, &q->file_len))) {
        glint_quant_free(q);
        return eng_fail(GLINT_ERR_IO, "%s: cannot read", path);
    }
    q->mp = onnx__model_proto__unpack(NULL, q->file_len, q->file);
    if (!q->mp || !q->mp->graph) {
        glint_quant_free(q);
        return eng_fail(GLINT_ERR_PARSE, "%s: not an ONNX model", path);
    }
    q->opset = model_opset(q->mp);
    const Onnx__GraphProto *g = q->mp->graph;
    q->convs = calloc(g->n_node ? g->n_node : 1, sizeof *q->convs);
    if (!q->convs) {
        glint_quant_free(q);
        return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (node_op(n) != OP_Conv || (n->domain && *n->domain) || n->n_input < 2) continue;
        size_t wi;
        const Onnx__TensorProto *w = find_init(g, n->input[1], &wi);
        if (!w || !float_weight(w) || find_init(g, n->input[0], NULL)) continue;
        /* a Conv of probabilities (YOLOv8's DFL: the expected bin of a
         * Softmax, weights 0..15) stays float: u8 steps of 1/255 and s8
         * weights (1 -> 0.945) would move every box, for no time gained */
        const Onnx__NodeProto *px = producer_of(g, n->input[0]);
        if (px && node_op(px) == OP_Softmax) continue;
        int x = stat_index(q, n->input[0], 1);
        if (x < 0) {
            glint_quant_free(q);
            return eng_fail(GLINT_ERR_NOMEM, "out of memory");
        }
        q->convs[q->n_convs++] =
            (qconv){.node = i, .x = x, .w_init = wi, .w_uses = count_uses(g, n->input[1])};
    }
    if (!q->n_convs) {
        glint_quant_free(q);
        return eng_fail(GLINT_ERR_UNSUPPORTED,
                        "%s: no Conv with constant float weights to quantize", path);
    }
    if (find_groups(q)) {
        glint_quant_free(q);
        return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    }
    *out = q;
    return GLINT_OK;
}

void glint_quant_free(glint_quant *q)
{
    if (!q) return;
    for (int i = 0; i < q->n_stats; i++) {
        free(q->stats[i].name);
        free(q->stats[i].sample);
    }
    free(q->stats);
    free(q->members);
    free(q->uf);
    free(q->convs);
    if (q->mp) onnx__model_proto__free_unpacked(q->mp, NULL);
    free(q->file);
    free(q);
}

int glint_quant_num_convs(const glint_quant *q)
{
    return q->n_convs;
}

const char *glint_quant_conv_name(const glint_quant *q, int i)
{
    const Onnx__NodeProto *n = q->mp->graph->node[q->convs[i].node];
    return n->name && *n->name ? n->name : n->output[0];
}

int glint_quant_conv_at_end(const glint_quant *q, int i)
{
    const Onnx__GraphProto *g = q->mp->graph;
    const Onnx__NodeProto *conv = g->node[q->convs[i].node];
    for (size_t k = 0; k < g->n_input; k++)
        if (!strcmp(g->input[k]->name, conv->input[0])) return 1;
    /* breadth first from its output through nodes other than Conv */
    size_t cap = 1;
    for (size_t j = 0; j < g->n_node; j++)
        cap += g->node[j]->n_output;
    const char **queue = malloc(cap * sizeof *queue);
    char *seen = calloc(g->n_node ? g->n_node : 1, 1);
    int head = 0, tail = 0, end = 0;
    if (!queue || !seen) goto done;
    queue[tail++] = conv->output[0];
    while (head < tail && !end) {
        const char *t = queue[head++];
        if (is_graph_output(g, t)) end = 1;
        for (size_t j = 0; j < g->n_node && !end; j++) {
            const Onnx__NodeProto *n = g->node[j];
            if (seen[j] || node_op(n) == OP_Conv) continue;
            for (size_t k = 0; k < n->n_input; k++)
                if (!strcmp(n->input[k], t)) {
                    seen[j] = 1;
                    for (size_t o = 0; o < n->n_output; o++) /* each node once: fits */
                        queue[tail++] = n->output[o];
                    break;
                }
        }
    }
done:
    free(queue);
    free(seen);
    return end;
}

int glint_quant_num_samples(const glint_quant *q)
{
    return q->n_stats ? q->stats[0].runs : 0;
}

/* ---- calibration ---- */

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

void glint_quant_observe(void *user, const char *name, const glint_tensor *t)
{
    glint_quant *q = user;
    int i = stat_index(q, name, 0);
    if (i < 0 || t->dtype != GLINT_F32) return;
    qstat *s = &q->stats[i];
    if (!s->sample && !(s->sample = malloc(QUANT_RESERVOIR * sizeof *s->sample))) return;
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->dims[d];
    const float *v = t->data;
    for (int64_t k = 0; k < n; k++) {
        float x = v[k];
        if (!isfinite(x)) continue;
        s->lo = x < s->lo ? x : s->lo;
        s->hi = x > s->hi ? x : s->hi;
        if (s->n_sample < QUANT_RESERVOIR) {
            s->sample[s->n_sample++] = x;
        } else { /* reservoir sampling: every value kept with equal chance */
            uint64_t j = next_rand(&q->rng) % (uint64_t)(s->seen + 1);
            if (j < QUANT_RESERVOIR) s->sample[j] = x;
        }
        s->seen++;
    }
    s->runs++;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* The calibrated range of tensor s: observed, or its percentiles. */
static int stat_range(const qstat *s, const glint_quant_options *o, double *lo_out, double *hi_out)
{
    if (!s->runs || s->lo > s->hi) return -1;
    double lo = s->lo, hi = s->hi;
    if (o->method == GLINT_CALIB_PERCENTILE && s->n_sample > 1) {
        float *v = malloc((size_t)s->n_sample * sizeof *v);
        if (!v) return -1;
        memcpy(v, s->sample, (size_t)s->n_sample * sizeof *v);
        qsort(v, (size_t)s->n_sample, sizeof *v, cmp_float);
        double p = (o->percentile > 0 ? o->percentile : 0.01) / 100.0;
        size_t a = (size_t)(p * (s->n_sample - 1)), b = (size_t)((1 - p) * (s->n_sample - 1));
        lo = v[a];
        hi = v[b];
        free(v);
    }
    *lo_out = lo;
    *hi_out = hi;
    return 0;
}

/* The u8 scale and zero point of range [lo, hi]. */
static void range_params(double lo, double hi, float *scale, uint8_t *zp)
{
    lo = lo < 0 ? lo : 0; /* the range holds 0 exactly (padding, ReLU) */
    hi = hi > 0 ? hi : 0;
    double sc = (hi - lo) / 255.0;
    if (!(sc > 0)) sc = 1.0;
    double z = nearbyint(-lo / sc);
    *scale = (float)sc;
    *zp = (uint8_t)(z < 0 ? 0 : z > 255 ? 255 : z);
}

/* The parameters of qstat `stat`, or with group set, of its whole group:
 * the union of the ranges of the group's Concat outputs. */
static int activation_params(const glint_quant *q, const glint_quant_options *o, int stat,
                             int group, float *scale, uint8_t *zp)
{
    double lo, hi;
    if (!group) {
        if (stat_range(&q->stats[stat], o, &lo, &hi)) return -1;
        range_params(lo, hi, scale, zp);
        return 0;
    }
    int root = uf_find(q->uf, stat), n = 0;
    lo = INFINITY;
    hi = -INFINITY;
    for (int k = 0; k < q->n_stats; k++) {
        if (uf_find(q->uf, k) != root) continue;
        int used = 0;
        for (int m = 0; m < q->n_members && !used; m++)
            used = q->members[m].stat == k;
        double a, b;
        if (!used) continue;
        if (stat_range(&q->stats[k], o, &a, &b)) return -1;
        lo = a < lo ? a : lo;
        hi = b > hi ? b : hi;
        n++;
    }
    if (!n) return -1;
    range_params(lo, hi, scale, zp);
    return 0;
}

/* ---- writing ---- */

static Onnx__TensorProto *new_tensor(arena *a, const char *name, int type, int ndim,
                                     const int64_t *dims, size_t bytes)
{
    Onnx__TensorProto *t = arena_alloc(a, sizeof *t);
    int64_t *d = arena_alloc(a, (size_t)(ndim ? ndim : 1) * sizeof *d);
    uint8_t *data = arena_alloc(a, bytes);
    if (!t || !d || !data) return NULL;
    onnx__tensor_proto__init(t);
    if (ndim) memcpy(d, dims, (size_t)ndim * sizeof *d);
    t->n_dims = (size_t)ndim;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = type;
    t->name = (char *)name;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = data;
    return t;
}

static Onnx__NodeProto *new_node(arena *a, const char *op, const char *name, int n_in, char **in,
                                 const char *out, int axis)
{
    Onnx__NodeProto *n = arena_alloc(a, sizeof *n);
    char **ins = arena_alloc(a, (size_t)n_in * sizeof *ins);
    char **outs = arena_alloc(a, sizeof *outs);
    if (!n || !ins || !outs) return NULL;
    onnx__node_proto__init(n);
    memcpy(ins, in, (size_t)n_in * sizeof *ins);
    outs[0] = (char *)out;
    n->n_input = (size_t)n_in;
    n->input = ins;
    n->n_output = 1;
    n->output = outs;
    n->op_type = (char *)op;
    n->name = (char *)name;
    if (axis >= 0) {
        Onnx__AttributeProto *at = arena_alloc(a, sizeof *at);
        Onnx__AttributeProto **ats = arena_alloc(a, sizeof *ats);
        if (!at || !ats) return NULL;
        onnx__attribute_proto__init(at);
        at->name = "axis";
        at->has_type = 1;
        at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        at->has_i = 1;
        at->i = axis;
        ats[0] = at;
        n->n_attribute = 1;
        n->attribute = ats;
    }
    return n;
}

/* An input slot of an original node and the name it held (put back after
 * writing). */
typedef struct saved_in {
    char **slot;
    char *name;
} saved_in;

/* The rewritten graph: arrays that point at original and new messages. */
typedef struct rewrite {
    arena a;
    Onnx__NodeProto **nodes;
    size_t n_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits;
    char **dq_of_stat;   /* per qstat: its DequantizeLinear output, once made */
    char **dq_of_member; /* per qmember: likewise */
    saved_in *saved;     /* original inputs of rewired nodes (restore) */
    size_t n_saved;
} rewrite;

static int skipped(const glint_quant_options *o, const Onnx__NodeProto *n)
{
    for (int i = 0; i < o->n_skip; i++)
        if ((n->name && !strcmp(n->name, o->skip[i])) || !strcmp(n->output[0], o->skip[i]))
            return 1;
    return 0;
}

/* Q and DQ of tensor `name` with the parameters of stat (group: of its
 * group), appended to the node list once (*cache: the DequantizeLinear
 * output once made). */
static char *quantize_tensor(const glint_quant *q, const glint_quant_options *o, rewrite *r,
                             const char *name, int stat, int group, char **cache)
{
    /* cppcheck-suppress identicalInnerCondition ; a false positive of cppcheck 2.10 */
    if (*cache) return *cache;
    float scale;
    uint8_t zp;
    if (activation_params(q, o, stat, group, &scale, &zp)) return NULL;
    arena *a = &r->a;
    char *sn = arena_name(a, name, "_scale"), *zn = arena_name(a, name, "_zero_point");
    char *qn = arena_name(a, name, "_quantized"), *dn = arena_name(a, name, "_dequantized");
    Onnx__TensorProto *st = new_tensor(a, sn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL, 4);
    Onnx__TensorProto *zt = new_tensor(a, zn, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL, 1);
    if (!st || !zt || !qn || !dn) return NULL;
    memcpy(st->raw_data.data, &scale, 4);
    zt->raw_data.data[0] = zp;
    char *qin[3] = {(char *)name, sn, zn}, *din[3] = {qn, sn, zn};
    Onnx__NodeProto *qnode = new_node(a, "QuantizeLinear", qn, 3, qin, qn, -1);
    Onnx__NodeProto *dnode = new_node(a, "DequantizeLinear", dn, 3, din, dn, -1);
    if (!qnode || !dnode) return NULL;
    r->inits[r->n_inits++] = st;
    r->inits[r->n_inits++] = zt;
    r->nodes[r->n_nodes++] = qnode;
    r->nodes[r->n_nodes++] = dnode;
    return *cache = dn;
}

static void rewire(rewrite *r, char **slot, char *to)
{
    r->saved[r->n_saved++] = (saved_in){slot, *slot};
    *slot = to;
}

/* Every input of n that is a group member reads the member's
 * DequantizeLinear instead (made before n on first use). */
static glint_status rewire_members(glint_quant *q, const glint_quant_options *o, rewrite *r,
                                   Onnx__NodeProto *n)
{
    for (size_t k = 0; k < n->n_input; k++)
        for (int m = 0; m < q->n_members; m++) {
            if (strcmp(n->input[k], q->members[m].name)) continue;
            const qstat *s = &q->stats[q->members[m].stat];
            char *dq = quantize_tensor(q, o, r, q->members[m].name, q->members[m].stat, 1,
                                       &r->dq_of_member[m]);
            if (!dq)
                return eng_fail(r->a.failed ? GLINT_ERR_NOMEM : GLINT_ERR_INVALID,
                                "tensor '%s' (input of Concat group) was never observed", s->name);
            rewire(r, &n->input[k], dq);
            break;
        }
    return GLINT_OK;
}

/* s8 weights with one scale per output channel (axis 0), or one scale
 * below opset 13; their DequantizeLinear appended. */
static char *quantize_weight(glint_quant *q, rewrite *r, const Onnx__TensorProto *w)
{
    arena *a = &r->a;
    int per_axis = q->opset >= 13;
    int64_t m = w->dims[0], n = 1;
    for (size_t d = 0; d < w->n_dims; d++)
        n *= w->dims[d];
    int64_t per = n / m, ns = per_axis ? m : 1;
    char *qn = arena_name(a, w->name, "_quantized"), *sn = arena_name(a, w->name, "_scale");
    char *zn = arena_name(a, w->name, "_zero_point"), *dn = arena_name(a, w->name, "_dequantized");
    Onnx__TensorProto *qt =
        new_tensor(a, qn, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, (int)w->n_dims, w->dims, (size_t)n);
    Onnx__TensorProto *st =
        new_tensor(a, sn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, per_axis, &m, (size_t)ns * 4);
    Onnx__TensorProto *zt =
        new_tensor(a, zn, ONNX__TENSOR_PROTO__DATA_TYPE__INT8, per_axis, &m, (size_t)ns);
    if (!qt || !st || !zt || !dn) return NULL;
    for (int64_t c = 0; c < ns; c++) {
        int64_t first = per_axis ? c * per : 0, count = per_axis ? per : n;
        float mx = 0;
        for (int64_t i = first; i < first + count; i++) {
            float v = fabsf(weight_at(w, (size_t)i));
            mx = v > mx ? v : mx;
        }
        float scale = mx > 0 ? mx / 127.0f : 1.0f;
        memcpy(st->raw_data.data + c * 4, &scale, 4);
        for (int64_t i = first; i < first + count; i++) {
            double v = nearbyint(weight_at(w, (size_t)i) / scale);
            qt->raw_data.data[i] = (uint8_t)(int8_t)(v < -127 ? -127 : v > 127 ? 127 : v);
        }
    }
    char *din[3] = {qn, sn, zn};
    Onnx__NodeProto *dnode = new_node(a, "DequantizeLinear", dn, 3, din, dn, per_axis ? 0 : -1);
    if (!dnode) return NULL;
    r->inits[r->n_inits++] = qt;
    r->inits[r->n_inits++] = st;
    r->inits[r->n_inits++] = zt;
    r->nodes[r->n_nodes++] = dnode;
    return dn;
}

/* Builds r: every node in order, the Q/DQ of each quantized Conv and of
 * each group member before the first node that reads it. Float weights
 * used by nothing else are dropped. */
static glint_status build_rewrite(glint_quant *q, const glint_quant_options *o, rewrite *r)
{
    Onnx__GraphProto *g = q->mp->graph;
    size_t n_inputs = 0;
    for (size_t i = 0; i < g->n_node; i++)
        n_inputs += g->node[i]->n_input;
    size_t max_nodes = g->n_node + 3 * (size_t)q->n_convs + 2 * (size_t)q->n_members;
    size_t max_inits = g->n_initializer + 5 * (size_t)q->n_convs + 2 * (size_t)q->n_members;
    r->nodes = arena_alloc(&r->a, max_nodes * sizeof *r->nodes);
    r->inits = arena_alloc(&r->a, max_inits * sizeof *r->inits);
    r->dq_of_stat = arena_alloc(&r->a, (size_t)q->n_stats * sizeof *r->dq_of_stat);
    r->dq_of_member = arena_alloc(&r->a, (size_t)(q->n_members + 1) * sizeof *r->dq_of_member);
    r->saved = arena_alloc(&r->a, (n_inputs + 1) * sizeof *r->saved);
    char *drop = arena_alloc(&r->a, g->n_initializer);
    if (!r->nodes || !r->inits || !r->dq_of_stat || !r->dq_of_member || !r->saved || !drop)
        return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    size_t next_conv = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        const qconv *c = next_conv < (size_t)q->n_convs && q->convs[next_conv].node == i
                             ? &q->convs[next_conv++]
                             : NULL;
        int quantize = c && !skipped(o, n);
        int member_in = quantize && is_member(q, n->input[0]);
        glint_status s = rewire_members(q, o, r, n);
        if (s) return s;
        if (quantize) {
            const qstat *xs = &q->stats[c->x];
            char *x = member_in ? n->input[0]
                                : quantize_tensor(q, o, r, xs->name, c->x, 0, &r->dq_of_stat[c->x]);
            if (!x)
                return eng_fail(r->a.failed ? GLINT_ERR_NOMEM : GLINT_ERR_INVALID,
                                "tensor '%s' (input of Conv '%s') was never observed", xs->name,
                                glint_quant_conv_name(q, (int)(c - q->convs)));
            char *w = quantize_weight(q, r, g->initializer[c->w_init]);
            if (!w) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
            if (!member_in) rewire(r, &n->input[0], x);
            rewire(r, &n->input[1], w);
            if (c->w_uses == 1) drop[c->w_init] = 1;
        }
        r->nodes[r->n_nodes++] = n;
    }
    for (size_t i = 0; i < g->n_initializer; i++)
        if (!drop[i]) r->inits[r->n_inits++] = g->initializer[i];
    return GLINT_OK;
}

static void restore_inputs(rewrite *r)
{
    while (r->n_saved) {
        saved_in *v = &r->saved[--r->n_saved];
        *v->slot = v->name;
    }
}

static glint_status pack_to_file(Onnx__ModelProto *mp, const char *path)
{
    size_t n = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return eng_fail(GLINT_ERR_NOMEM, "out of memory for %zu bytes", n);
    onnx__model_proto__pack(mp, buf);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(buf, 1, n, f) == n;
    if (f && fclose(f)) ok = 0;
    free(buf);
    return ok ? GLINT_OK : eng_fail(GLINT_ERR_IO, "%s: cannot write", path);
}

glint_status glint_quant_write(glint_quant *q, const glint_quant_options *opt, const char *out_path)
{
    glint_quant_options none = {0};
    const glint_quant_options *o = opt ? opt : &none;
    Onnx__GraphProto *g = q->mp->graph;
    rewrite r = {0};
    glint_status s = build_rewrite(q, o, &r);
    /* the metadata that says what was done */
    Onnx__StringStringEntryProto meta = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    char desc[160];
    snprintf(desc, sizeof desc, "qdq u8 activations (%s), s8 weights %s, %d calibration inputs",
             o->method == GLINT_CALIB_PERCENTILE ? "percentile" : "min-max",
             q->opset >= 13 ? "per channel" : "per tensor", glint_quant_num_samples(q));
    meta.key = "glint.quantization";
    meta.value = desc;
    size_t n_meta = q->mp->n_metadata_props;
    Onnx__StringStringEntryProto **old_meta = q->mp->metadata_props;
    Onnx__StringStringEntryProto **metas = arena_alloc(&r.a, (n_meta + 1) * sizeof *metas);
    if (!s && !metas) s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
    if (!s) {
        if (n_meta) memcpy(metas, old_meta, n_meta * sizeof *metas);
        metas[n_meta] = &meta;
        Onnx__NodeProto **old_nodes = g->node;
        Onnx__TensorProto **old_inits = g->initializer;
        size_t old_nn = g->n_node, old_ni = g->n_initializer;
        g->node = r.nodes;
        g->n_node = r.n_nodes;
        g->initializer = r.inits;
        g->n_initializer = r.n_inits;
        q->mp->metadata_props = metas;
        q->mp->n_metadata_props = n_meta + 1;
        s = pack_to_file(q->mp, out_path);
        g->node = old_nodes;
        g->n_node = old_nn;
        g->initializer = old_inits;
        g->n_initializer = old_ni;
        q->mp->metadata_props = old_meta;
        q->mp->n_metadata_props = n_meta;
    }
    restore_inputs(&r);
    arena_free(&r.a);
    return s;
}
