/* Per-batch execution plans: shape inference, constant folding, liveness-based
 * memory planning and the step loop. See plan.h. */
#include "ops_impl.h"
#include "backend.h"
#include "plan.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARENA_ALIGN 64

int eng_plan_add_value(plan *p)
{
    if (p->n_vals >= p->cap_vals) return -1;
    int id = p->n_vals++;
    memset(&p->t[id], 0, sizeof p->t[id]);
    p->is_const[id] = false;
    p->owned[id] = NULL;
    p->offset[id] = -1;
    p->alias[id] = id;
    p->alias_off[id] = 0;
    p->lay[id] = LAYOUT_PLAIN;
    p->dyn[id] = false;
    p->out_live[id] = false;
    p->dyn_cap[id] = 0;
    return id;
}

static glint_status plan_alloc(plan *p)
{
    int cap = p->cap_vals = p->m->g.n_vals * 2 + 64;
    p->t = calloc((size_t)cap, sizeof *p->t);
    p->is_const = calloc((size_t)cap, sizeof *p->is_const);
    p->owned = calloc((size_t)cap, sizeof *p->owned);
    p->offset = malloc((size_t)cap * sizeof *p->offset);
    p->alias = malloc((size_t)cap * sizeof *p->alias);
    p->alias_off = calloc((size_t)cap, sizeof *p->alias_off);
    p->lay = calloc((size_t)cap, sizeof *p->lay);
    p->dyn = calloc((size_t)cap, sizeof *p->dyn);
    p->out_live = calloc((size_t)cap, sizeof *p->out_live);
    p->dyn_cap = calloc((size_t)cap, sizeof *p->dyn_cap);
    p->tail = calloc((size_t)p->m->g.n_nodes + 1, sizeof *p->tail);
    p->cap_steps = p->m->g.n_nodes * 3 + 16;
    p->steps = calloc((size_t)p->cap_steps, sizeof *p->steps);
    if (!p->t || !p->is_const || !p->owned || !p->offset || !p->alias || !p->alias_off || !p->lay ||
        !p->steps || !p->dyn || !p->out_live || !p->dyn_cap || !p->tail)
        return eng_fail(GLINT_ERR_NOMEM, "out of memory planning the graph");
    return GLINT_OK;
}

/* Sets value shapes for the graph's inputs (batch axis = batch) and
 * initializers. */
static glint_status plan_inputs(plan *p)
{
    const graph *g = &p->m->g;
    p->n_vals = g->n_vals;
    for (int v = 0; v < g->n_vals; v++) {
        const value *gv = &g->vals[v];
        p->offset[v] = -1;
        p->alias[v] = v;
        glint_tensor *t = &p->t[v];
        t->dtype = gv->dtype;
        t->ndim = gv->ndim < 0 ? 0 : gv->ndim;
        memcpy(t->dims, gv->dims, sizeof t->dims);
        if (gv->data) {
            t->data = gv->data;
            p->is_const[v] = true;
        }
    }
    for (int i = 0; i < g->n_inputs; i++) {
        const value *gv = &g->vals[g->inputs[i]];
        glint_tensor *t = &p->t[g->inputs[i]];
        const glint_tensor *want = p->in_shapes ? &p->in_shapes[i] : NULL;
        if (gv->ndim < 0 && want) { /* no declared shape: the run's */
            t->ndim = want->ndim;
            memcpy(t->dims, want->dims, sizeof t->dims);
        } else if (gv->ndim < 0) {
            return eng_fail(GLINT_ERR_UNSUPPORTED, "input '%s' has no declared shape", gv->name);
        } else if (want && want->ndim != gv->ndim) {
            return eng_fail(GLINT_ERR_SHAPE, "input '%s' has rank %d, got %d", gv->name, gv->ndim,
                            want->ndim);
        }
        for (int d = 0; d < gv->ndim; d++) {
            if (gv->dims[d] >= 0) continue;
            if (want)
                t->dims[d] = want->dims[d];
            else if (d == 0)
                t->dims[0] = p->batch;
            else if (i == 0 && p->input_dims && p->input_dims[d] > 0)
                t->dims[d] = p->input_dims[d];
            else
                return eng_fail(GLINT_ERR_UNSUPPORTED,
                                "input '%s' has a free dimension %d; only "
                                "the batch axis (0) may be free unless the context fixes it "
                                "(input_dims)",
                                gv->name, d);
        }
        if (eng_dims_count_checked(t->dims, t->ndim) < 0)
            return eng_fail(GLINT_ERR_NOMEM, "input '%s' is too large", gv->name);
    }
    return GLINT_OK;
}

static void ctx_fill(plan *p, const node *n, op_ctx *c)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    c->opset = p->m->g.opset;
    c->n_in = n->n_in;
    c->n_out = n->n_out;
    for (int i = 0; i < n->n_in && i < 16; i++)
        c->in[i] = n->in[i] >= 0 ? &p->t[n->in[i]] : NULL;
    for (int i = 0; i < n->n_out; i++)
        c->out[i] = &p->t[n->out[i]];
    c->sum = n->sum_in >= 0 ? &p->t[n->sum_in] : NULL;
}

/* Evaluates a node whose inputs are all constant, at plan time. */
static glint_status fold(plan *p, const node *n, op_ctx *c)
{
    for (int i = 0; i < n->n_out; i++) {
        glint_tensor *t = c->out[i];
        size_t bytes = eng_tensor_bytes(t);
        p->owned[n->out[i]] = t->data = malloc(bytes ? bytes : 1);
        if (!t->data) return eng_fail(GLINT_ERR_NOMEM, "out of memory folding '%s'", n->name);
        p->is_const[n->out[i]] = true;
    }
    return eng_op_get(n->op)->run(c);
}

static bool all_const(const plan *p, const node *n, const op_def *d)
{
    if (d->shape_only) return true;
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i] >= 0 && !p->is_const[n->in[i]]) return false;
    if (n->sum_in >= 0 && !p->is_const[n->sum_in]) return false;
    return true;
}

static glint_status check_outputs(const op_ctx *c)
{
    for (int i = 0; i < c->n_out; i++) {
        const glint_tensor *t = c->out[i];
        int64_t cnt = eng_dims_count_checked(t->dims, t->ndim);
        if (cnt < 0 || cnt * (int64_t)glint_dtype_size(t->dtype) > MAX_TENSOR_BYTES)
            return eng_fail(GLINT_ERR_NOMEM, "node '%s' (%s): output %d is too large", c->n->name,
                            eng_op_get(c->n->op)->name, i);
        if (!glint_dtype_size(t->dtype))
            return eng_fail(GLINT_ERR_UNSUPPORTED, "node '%s' (%s): output type unknown",
                            c->n->name, eng_op_get(c->n->op)->name);
    }
    return GLINT_OK;
}

#define SMALL_STEP_US 15.0

static double node_flops(const node *n, const op_ctx *c)
{
    op_id op = n->op;
    bool qconv = op == OP_GlintQConv;
    if (op == OP_Conv || op == OP_ConvTranspose || qconv) {
        /* MACs = weights x positions of the larger (output for Conv, input
         * for ConvTranspose) side, per image */
        const glint_tensor *big = op != OP_ConvTranspose ? c->out[0] : c->in[0];
        double pos = (double)eng_dims_count(big->dims + 2, big->ndim - 2) * (double)big->dims[0];
        return 2.0 * pos * (double)eng_tensor_count(c->in[qconv ? 3 : 1]);
    }
    if (op == OP_Gemm || op == OP_MatMul || op == OP_GlintMatMul) {
        const glint_tensor *a = c->in[0], *o = c->out[0];
        int64_t K = op == OP_Gemm && eng_attr_i(n, "transA", 0) ? a->dims[0] : a->dims[a->ndim - 1];
        return 2.0 * (double)eng_tensor_count(o) * (double)K;
    }
    return 0;
}

static glint_status need_inputs(const node *n, const op_def *d, const op_ctx *c)
{
    for (int k = 0; k < d->min_in; k++)
        if (!c->in[k])
            return eng_fail(GLINT_ERR_INVALID, "node '%s' (%s): required input %d is empty",
                            n->name, d->name, k);
    return GLINT_OK;
}

/* Marks the outputs of n, and of every node of its subgraphs, made at run time. */
static void mark_dyn(plan *p, const node *n)
{
    for (int k = 0; k < n->n_out; k++)
        p->dyn[n->out[k]] = true;
    for (int a = 0; a < n->n_attrs; a++) {
        const subgraph *sg = n->attrs[a].sub;
        for (int i = 0; sg && i < sg->n_nodes; i++)
            mark_dyn(p, &sg->nodes[i]);
        for (int i = 0; sg && i < sg->n_inputs; i++)
            p->dyn[sg->inputs[i]] = true;
    }
}

/* Whether n reads a value made at run time. */
static bool reads_dyn(const plan *p, const node *n)
{
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0 && p->dyn[n->in[k]]) return true;
    return n->sum_in >= 0 && p->dyn[n->sum_in];
}

/* Marks the step-made values interpreted node n (or its subgraphs) reads. */
static void mark_read_late(plan *p, const node *n)
{
    for (int k = 0; k < n->n_in; k++) {
        int v = n->in[k];
        if (v >= 0 && !p->dyn[v] && !p->is_const[v]) p->out_live[v] = true;
    }
    if (n->sum_in >= 0 && !p->dyn[n->sum_in] && !p->is_const[n->sum_in])
        p->out_live[n->sum_in] = true;
    for (int a = 0; a < n->n_attrs; a++) {
        const subgraph *sg = n->attrs[a].sub;
        for (int i = 0; sg && i < sg->n_nodes; i++)
            mark_read_late(p, &sg->nodes[i]);
        for (int i = 0; sg && i < sg->n_outputs; i++)
            if (!p->dyn[sg->outputs[i]] && !p->is_const[sg->outputs[i]])
                p->out_live[sg->outputs[i]] = true;
    }
}

static void mark_live(plan *p)
{
    const graph *g = &p->m->g;
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        if (!p->dyn[v] && !p->is_const[v]) p->out_live[v] = true;
    }
    for (int i = 0; i < p->n_tail; i++)
        mark_read_late(p, p->tail[i]);
}

static glint_status infer_and_fold(plan *p)
{
    const graph *g = &p->m->g;
    for (int i = 0; i < g->n_nodes; i++) {
        const node *n = &g->nodes[i];
        if (n->dead) continue;
        const op_def *d = eng_op_get(n->op);
        op_ctx c;
        ctx_fill(p, n, &c);
        glint_status s = need_inputs(n, d, &c);
        if (s) return s;
        bool late = reads_dyn(p, n);
        if (!late && (s = d->infer(&c))) {
            if (!c.need_value) return s;
            late = true; /* its shapes depend on values known at run time */
        }
        if (late) {
            p->tail[p->n_tail++] = n;
            mark_dyn(p, n);
            continue;
        }
        if ((s = check_outputs(&c))) return s;
        if (all_const(p, n, d)) {
            if ((s = fold(p, n, &c))) return s;
            continue;
        }
        if (p->n_steps == p->cap_steps) return eng_fail(GLINT_ERR_NOMEM, "too many steps");
        step *st = &p->steps[p->n_steps++];
        memset(st, 0, sizeof *st);
        st->n = n;
        st->op = d;
        st->ctx = c;
        st->reorder_from = -1;
        st->n_in_ids = n->n_in;
        for (int k = 0; k < n->n_in && k < 16; k++)
            st->in_id[k] = n->in[k];
        for (int k = 0; k < n->n_out; k++)
            st->out_id[k] = n->out[k];
        st->sum_id = n->sum_in;
        st->single = eng_plan_small(p, st);
        p->flops += node_flops(n, &c);
    }
    return GLINT_OK;
}

/* Check the graph's declared output shapes against what inference found. */
static glint_status check_declared(const plan *p)
{
    const graph *g = &p->m->g;
    for (int i = 0; i < g->n_outputs; i++) {
        const value *v = &g->vals[g->outputs[i]];
        const glint_tensor *t = &p->t[g->outputs[i]];
        if (v->ndim < 0 || v->data || p->dyn[g->outputs[i]]) continue;
        if (v->dtype && v->dtype != t->dtype)
            return eng_fail(GLINT_ERR_INVALID, "output '%s' is declared %s but computes %s",
                            v->name, glint_dtype_name(v->dtype), glint_dtype_name(t->dtype));
    }
    return GLINT_OK;
}

/* ---- memory planning ---- */
typedef struct buf {
    int v;
    size_t size;
    int first, last; /* step index range in which it is live */
} buf;

static int cmp_buf(const void *a, const void *b)
{
    const buf *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->v - y->v;
}

static int root(const plan *p, int v)
{
    while (p->alias[v] != v)
        v = p->alias[v];
    return v;
}

static void step_inputs(const step *s, int *ids, int *n)
{
    *n = 0;
    for (int i = 0; i < s->n_in_ids; i++)
        if (s->in_id[i] >= 0) ids[(*n)++] = s->in_id[i];
    if (s->sum_id >= 0) ids[(*n)++] = s->sum_id;
}

/* ---- plain tensors of batch 1: Split as views, Concat in place ---- */
int eng_plan_readers(const plan *p, int v)
{
    int n = 0;
    for (int i = 0; i < p->n_steps; i++) {
        const step *st = &p->steps[i];
        for (int k = 0; k < st->n_in_ids; k++)
            n += st->in_id[k] == v;
        n += st->sum_id == v;
        n += st->reorder_from == v;
    }
    return n + p->out_live[v];
}

static int aliases_of(const plan *p, int v)
{
    int n = 0;
    for (int w = 0; w < p->n_vals; w++)
        n += w != v && p->alias[w] == v;
    return n;
}

static bool is_graph_input(const plan *p, int v)
{
    for (int k = 0; k < p->m->g.n_inputs; k++)
        if (p->m->g.inputs[k] == v) return true;
    return false;
}

static bool is_sum_operand(const plan *p, int v)
{
    for (int i = 0; i < p->n_steps; i++)
        if (p->steps[i].sum_id == v) return true;
    return false;
}

static glint_status view_run(step *st)
{
    (void)st;
    return GLINT_OK;
}

/* Copies the Concat inputs that are not already in their slot; the output's
 * leading dims multiply to 1, so every slot is one contiguous run. */
static glint_status concat_plain_run(step *st)
{
    char *o = st->ctx.out[0]->data;
    for (int i = 0; i < st->ctx.n_in; i++) {
        size_t bytes = eng_tensor_bytes(st->ctx.in[i]);
        if (!(st->in_place >> i & 1) && bytes) memcpy(o, st->ctx.in[i]->data, bytes);
        o += bytes;
    }
    return GLINT_OK;
}

static bool outer_is_one(const plan *p, const step *st, int v)
{
    const glint_tensor *t = &p->t[v];
    int axis = eng_norm_axis(eng_attr_i(st->n, "axis", 0), t->ndim);
    return axis >= 0 && eng_dims_count(t->dims, axis) == 1;
}

/* Split along an axis whose leading dims multiply to 1: contiguous slices,
 * so the outputs are views of the input. */
static void split_views(plan *p)
{
    for (int i = 0; i < p->n_steps; i++) {
        step *st = &p->steps[i];
        if (st->k.run || st->reorder_from >= 0 || st->n->op != OP_Split) continue;
        int x = st->in_id[0];
        if (p->is_const[x] || p->lay[x] != LAYOUT_PLAIN || !outer_is_one(p, st, x)) continue;
        int64_t off = 0;
        for (int k = 0; k < st->n->n_out; k++) {
            int o = st->out_id[k];
            p->alias[o] = x;
            p->alias_off[o] = off;
            off += (int64_t)eng_tensor_bytes(&p->t[o]);
        }
        st->k = (kernel){view_run, NULL, NULL, "glint:split_view"};
    }
}

/* Concat along an axis whose leading dims multiply to 1: each input made by
 * a step (or a view of one) and read by nothing else is written by its
 * producer straight into its slot. */
static void concat_plain_in_place(plan *p)
{
    for (int i = 0; i < p->n_steps; i++) {
        step *st = &p->steps[i];
        if (st->k.run || st->reorder_from >= 0 || st->n->op != OP_Concat) continue;
        int o = st->out_id[0];
        if (p->lay[o] != LAYOUT_PLAIN || !outer_is_one(p, st, o) || p->alias[o] != o ||
            st->n_in_ids > 32)
            continue;
        int64_t slot = 0;
        for (int k = 0; k < st->n_in_ids; k++) {
            int v = st->in_id[k], w = v;
            int64_t at = slot;
            slot += (int64_t)eng_tensor_bytes(&p->t[v]);
            if (p->is_const[v] || eng_plan_readers(p, v) != 1 || is_graph_input(p, v)) continue;
            if (p->alias[v] != v) { /* one view (Reshape, Flatten...) of its producer's output */
                w = p->alias[v];
                if (p->alias[w] != w || p->alias_off[v] || eng_plan_readers(p, w) != 1 ||
                    aliases_of(p, w) != 1 || aliases_of(p, v) != 0)
                    continue;
            } else if (aliases_of(p, v)) {
                continue;
            }
            if (p->is_const[w] || is_graph_input(p, w) || is_sum_operand(p, w) || w == o ||
                p->lay[w] != LAYOUT_PLAIN)
                continue;
            p->alias[w] = o;
            p->alias_off[w] = at;
            st->in_place |= 1u << k;
        }
        if (st->in_place) st->k = (kernel){concat_plain_run, NULL, NULL, "glint:concat(in place)"};
    }
}

/* Concat of plain tensors by rows of the leading dims, rows in parallel
 * (the YOLO head joins its three scales along the anchor axis). */
static glint_status concat_rows_run(step *st)
{
    const glint_tensor *o = st->ctx.out[0];
    int axis = eng_norm_axis(eng_attr_i(st->n, "axis", 0), o->ndim);
    size_t es = glint_dtype_size(o->dtype);
    int64_t outer = eng_dims_count(o->dims, axis);
    int64_t inner = eng_dims_count(o->dims + axis + 1, o->ndim - axis - 1) * (int64_t)es;
    int64_t orow = o->dims[axis] * inner;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < outer; r++) {
        int64_t at = 0;
        for (int i = 0; i < st->ctx.n_in; i++) {
            int64_t row = st->ctx.in[i]->dims[axis] * inner;
            if (!(st->in_place >> i & 1))
                memcpy((char *)o->data + r * orow + at, (const char *)st->ctx.in[i]->data + r * row,
                       (size_t)row);
            at += row;
        }
    }
    return GLINT_OK;
}

/* The step writing value v, or NULL. */
static step *producer_step(plan *p, int v)
{
    for (int i = 0; i < p->n_steps; i++)
        for (int k = 0; k < p->steps[i].ctx.n_out && k < 8; k++)
            if (p->steps[i].out_id[k] == v) return &p->steps[i];
    return NULL;
}

/* Rows in place: input k of Concat st (axis 2 of [N, C, L]) that is a
 * view [N, C, H*W] of a plain [N, C, H, W] tensor whose producer can write
 * its planes L apart (planes_ok) is written straight into its columns (the
 * YOLO head: each scale's outputs land in the joined anchor axis). */
static void concat_rows_in_place(plan *p, step *st)
{
    int o = st->out_id[0];
    const glint_tensor *ot = &p->t[o];
    if (ot->ndim != 3 || eng_norm_axis(eng_attr_i(st->n, "axis", 0), 3) != 2 || p->alias[o] != o ||
        is_graph_input(p, o) || st->n_in_ids > 32)
        return;
    int64_t at = 0;
    for (int k = 0; k < st->n_in_ids; k++) {
        int v = st->in_id[k], w = p->alias[v];
        int64_t col = at;
        at += p->t[v].dims[2];
        if (w == v || p->alias[w] != w || p->alias_off[v] || eng_plan_readers(p, v) != 1 ||
            eng_plan_readers(p, w) != 1 || aliases_of(p, w) != 1 || aliases_of(p, v) ||
            is_graph_input(p, w) || is_sum_operand(p, w) || p->lay[w] != LAYOUT_PLAIN)
            continue;
        const glint_tensor *wt = &p->t[w];
        step *prod = producer_step(p, w);
        if (!prod || !prod->planes_ok || prod->out_id[0] != w || wt->ndim != 4 ||
            wt->dims[0] != ot->dims[0] || wt->dims[1] != ot->dims[1] ||
            wt->dims[2] * wt->dims[3] != p->t[v].dims[2])
            continue;
        prod->plane_stride = ot->dims[2];
        p->alias[w] = o;
        p->alias_off[w] = col * (int64_t)glint_dtype_size(ot->dtype);
        st->in_place |= 1u << k;
    }
    if (st->in_place) st->k.impl = "glint:concat_rows(in place)";
}

static void concat_rows(plan *p)
{
    for (int i = 0; i < p->n_steps; i++) {
        step *st = &p->steps[i];
        if (!st->rows_ok || st->k.run || st->reorder_from >= 0 || st->n->op != OP_Concat ||
            eng_tensor_bytes(&p->t[st->out_id[0]]) < (1 << 16))
            continue;
        st->k = (kernel){concat_rows_run, NULL, NULL, "glint:concat_rows"};
        concat_rows_in_place(p, st);
    }
}

/* Buffer sharing: views share their input's buffer, Split outputs and
 * Concat inputs become slices of one buffer where they can; large plain
 * Concats the layout planner allows (step.rows_ok) copy rows, written in
 * place by producers that can. */
static void plan_alias(plan *p)
{
    for (int i = 0; i < p->n_steps; i++) {
        step *st = &p->steps[i];
        if (st->k.run || !st->op->view || st->reorder_from >= 0) continue;
        int in = st->in_id[0], out = st->out_id[0];
        if (p->is_const[in] || p->lay[in] != LAYOUT_PLAIN) continue;
        p->alias[out] = in;
    }
    split_views(p);
    concat_plain_in_place(p);
    concat_rows(p);
}

/* Assigns every buffer an arena offset by liveness (p->arena_bytes). */
static glint_status plan_memory(plan *p)
{
    const graph *g = &p->m->g;
    int nv = p->n_vals;
    int *first = malloc((size_t)nv * sizeof *first), *last = malloc((size_t)nv * sizeof *last);
    buf *bufs = malloc((size_t)nv * sizeof *bufs);
    glint_status s = GLINT_OK;
    if (!first || !last || !bufs) {
        s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int v = 0; v < nv; v++) {
        first[v] = -2;
        last[v] = -2;
    }
    for (int i = 0; i < g->n_inputs; i++)
        first[root(p, g->inputs[i])] = -1;
    for (int i = 0; i < p->n_steps; i++) {
        step *st = &p->steps[i];
        int ids[32], n;
        if (st->reorder_from >= 0) {
            int r = root(p, st->reorder_from), ro = root(p, st->reorder_dst);
            if (last[r] < i) last[r] = i;
            if (first[ro] == -2) first[ro] = i;
            if (last[ro] < i) last[ro] = i;
            continue;
        }
        step_inputs(st, ids, &n);
        for (int k = 0; k < n; k++) {
            if (p->is_const[ids[k]]) continue;
            int r = root(p, ids[k]);
            if (last[r] < i) last[r] = i;
        }
        for (int k = 0; k < st->n->n_out; k++) {
            int r = root(p, st->out_id[k]);
            if (first[r] == -2) first[r] = i;
            if (last[r] < i) last[r] = i;
        }
    }
    for (int v = 0; v < nv; v++)
        if (p->out_live[v]) last[root(p, v)] = p->n_steps;
    int nb = 0;
    for (int v = 0; v < nv; v++) {
        if (p->is_const[v] || root(p, v) != v || first[v] == -2) continue;
        size_t sz = eng_tensor_bytes(&p->t[v]);
        /* a view may be larger than nothing; aliases share the root's size */
        bufs[nb++] = (buf){v, (sz + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN, first[v],
                           last[v] < first[v] ? first[v] : last[v]};
    }
    qsort(bufs, (size_t)nb, sizeof *bufs, cmp_buf);
    size_t peak = 0;
    for (int i = 0; i < nb; i++) {
        size_t off = 0;
        bool moved = true;
        while (moved) {
            moved = false;
            for (int j = 0; j < i; j++) {
                const buf *o = &bufs[j];
                if (o->last < bufs[i].first || bufs[i].last < o->first) continue;
                size_t oo = (size_t)p->offset[o->v];
                if (off < oo + o->size && oo < off + bufs[i].size) {
                    off = oo + o->size;
                    moved = true;
                }
            }
        }
        p->offset[bufs[i].v] = (int64_t)off;
        if (off + bufs[i].size > peak) peak = off + bufs[i].size;
    }
    for (int v = 0; v < nv; v++) {
        if (p->is_const[v] || root(p, v) == v) continue;
        int64_t off = 0;
        for (int w = v; p->alias[w] != w; w = p->alias[w])
            off += p->alias_off[w];
        p->offset[v] = p->offset[root(p, v)] + off;
    }
    p->arena_bytes = peak ? peak : ARENA_ALIGN;
done:
    free(first);
    free(last);
    free(bufs);
    return s;
}

bool eng_plan_small(const plan *p, const step *st)
{
    double bytes = 0, flops = st->reorder_from >= 0 ? 0 : node_flops(st->n, &st->ctx);
    for (int k = 0; k < st->ctx.n_in && k < 16; k++)
        if (st->ctx.in[k] && (k >= st->n_in_ids || st->in_id[k] < 0 || !p->is_const[st->in_id[k]]))
            bytes += (double)eng_tensor_bytes(st->ctx.in[k]);
    for (int k = 0; k < st->ctx.n_out; k++)
        bytes += (double)eng_tensor_bytes(st->ctx.out[k]);
    bool dw = st->reorder_from < 0 && st->n->op == OP_Conv && eng_attr_i(st->n, "group", 1) > 1;
    double us = flops / (dw ? 3e4 : 1e5) + bytes / 5e4;
    return us < SMALL_STEP_US;
}

void eng_plan_threads(const plan *p, const step *st)
{
    int n = st && st->single ? 1 : p->threads;
    if (n > 0 && omp_get_max_threads() != n) omp_set_num_threads(n);
}

static glint_status build(const glint_model *m, const backend_iface *be, bool bf16, plan *p)
{
    glint_status s;
    p->threads = omp_get_max_threads();
    if ((s = plan_alloc(p)) || (s = plan_inputs(p)) || (s = infer_and_fold(p)) ||
        (s = check_declared(p)))
        goto fail;
    mark_live(p);
    p->be = be;
    if (be->plan_init && (s = be->plan_init(p, &p->be_state))) goto fail;
    if (be->layouts && (s = eng_layout_plan(p, be, p->be_state))) goto fail;
    plan_alias(p);
    if (be->plan_finish && (s = be->plan_finish(p->be_state, p))) goto fail;
    if ((s = plan_memory(p))) goto fail;
    p->input_dims = NULL;
    p->in_shapes = NULL;
    return GLINT_OK;
fail:
    eng_plan_dispose(p);
    return s;
}

glint_status eng_plan_build(const glint_model *m, int batch, const int64_t *input_dims,
                            const backend_iface *be, bool bf16, plan *p)
{
    memset(p, 0, sizeof *p);
    p->m = m;
    p->bf16 = bf16;
    p->batch = batch;
    p->input_dims = input_dims;
    return build(m, be, bf16, p);
}

glint_status eng_plan_build_shapes(const glint_model *m, const glint_tensor *shapes,
                                   const backend_iface *be, bool bf16, plan *p)
{
    memset(p, 0, sizeof *p);
    p->m = m;
    p->bf16 = bf16;
    p->batch = m->g.n_inputs && shapes[0].ndim ? (int)shapes[0].dims[0] : 1;
    p->in_shapes = shapes;
    return build(m, be, bf16, p);
}

void eng_plan_dispose(plan *p)
{
    if (p->steps)
        for (int i = 0; i < p->n_steps; i++)
            if (p->steps[i].k.destroy) p->steps[i].k.destroy(p->steps[i].k.state);
    if (p->owned)
        for (int v = 0; v < p->n_vals; v++)
            free(p->owned[v]);
    free(p->t);
    free(p->is_const);
    free(p->owned);
    free(p->offset);
    free(p->alias);
    free(p->alias_off);
    free(p->lay);
    free(p->dyn);
    free(p->out_live);
    free(p->dyn_cap);
    free(p->tail);
    free(p->steps);
    if (p->be && p->be->plan_free) p->be->plan_free(p->be_state);
    memset(p, 0, sizeof *p);
}

void eng_plan_const_reads(const plan *p, bool *runtime)
{
    const graph *g = &p->m->g;
    int *packed = calloc((size_t)g->n_vals + 1, sizeof *packed);
    for (int v = 0; v < g->n_vals; v++)
        if (g->vals[v].data && (!packed || g->vals[v].is_output || g->vals[v].captured))
            runtime[v] = true;
    if (!packed) return;
    for (int i = 0; i < p->n_steps; i++) {
        const step *st = &p->steps[i];
        if (st->reorder_from >= 0 && st->reorder_from < g->n_vals) runtime[st->reorder_from] = true;
        if (st->reorder_from >= 0) continue;
        for (int k = 0; k < st->n_in_ids; k++) {
            int v = st->in_id[k];
            if (v < 0 || v >= g->n_vals || !g->vals[v].data) continue;
            if (k < 32 && (st->packed_in >> k & 1))
                packed[v]++;
            else
                runtime[v] = true;
        }
        for (int k = st->n_in_ids; k < st->n->n_in; k++) /* beyond in_id's room */
            if (st->n->in[k] >= 0) runtime[st->n->in[k]] = true;
        if (st->sum_id >= 0 && st->sum_id < g->n_vals) runtime[st->sum_id] = true;
    }
    for (int i = 0; i < p->n_tail; i++) {
        const node *n = p->tail[i];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) runtime[n->in[k]] = true;
        if (n->sum_in >= 0) runtime[n->sum_in] = true;
    }
    for (int v = 0; v < g->n_vals; v++) /* a reader that is no packing step: folded, or gone */
        if (g->vals[v].data && packed[v] < g->vals[v].n_uses) runtime[v] = true;
    free(packed);
}

void eng_plan_bind(plan *p, void *arena)
{
    for (int v = 0; v < p->n_vals; v++)
        if (!p->is_const[v] && p->offset[v] >= 0) p->t[v].data = (char *)arena + p->offset[v];
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Reports the graph values step st wrote to the plan's observer. */
static void observe_step(const plan *p, const step *st)
{
    const graph *g = &p->m->g;
    for (int j = 0; j < st->ctx.n_out; j++) {
        int id = st->out_id[j];
        if (id >= 0 && id < g->n_vals && g->vals[id].name && g->vals[id].name[0])
            p->observe(p->observe_user, g->vals[id].name, &p->t[id]);
    }
}

/* ---- the interpreter of run-time shapes ---- */
/* Points interpreted value v at a buffer of its (just inferred) size. */
static glint_status dyn_buffer(plan *p, int v)
{
    size_t bytes = eng_tensor_bytes(&p->t[v]);
    if (!bytes) bytes = 1;
    if (bytes > p->dyn_cap[v]) {
        void *d = realloc(p->owned[v], bytes);
        if (!d) return eng_fail(GLINT_ERR_NOMEM, "out of memory for '%s'", p->m->g.vals[v].name);
        p->owned[v] = d;
        p->dyn_cap[v] = bytes;
    }
    p->t[v].data = p->owned[v];
    return GLINT_OK;
}

static glint_status interp_node(plan *p, const node *n, int depth);

/* Makes interpreted value v a copy of tensor `from` (shape and data). */
static glint_status dyn_copy(plan *p, int v, const glint_tensor *from)
{
    if (from == &p->t[v]) return GLINT_OK;
    glint_tensor *to = &p->t[v];
    to->dtype = from->dtype;
    to->ndim = from->ndim;
    memcpy(to->dims, from->dims, sizeof to->dims);
    glint_status s = dyn_buffer(p, v);
    size_t bytes = eng_tensor_bytes(to);
    if (!s && bytes && to->data != from->data) memmove(to->data, from->data, bytes);
    return s;
}

/* If: runs the branch its condition picks and takes its outputs. */
static glint_status interp_if(plan *p, const node *n, int depth)
{
    const glint_tensor *cond = &p->t[n->in[0]];
    if (eng_tensor_count(cond) != 1)
        return eng_fail(GLINT_ERR_INVALID, "node '%s' (If): the condition has %lld elements",
                        n->name, (long long)eng_tensor_count(cond));
    const char *branch = eng_tensor_get_i(cond, 0) ? "then_branch" : "else_branch";
    const subgraph *sg = eng_attr_graph(n, branch);
    if (!sg || sg->n_outputs != n->n_out)
        return eng_fail(GLINT_ERR_INVALID,
                        "node '%s' (If): %s is missing or has %d outputs, not %d", n->name, branch,
                        sg ? sg->n_outputs : 0, n->n_out);
    glint_status s;
    for (int i = 0; i < sg->n_nodes; i++)
        if ((s = interp_node(p, &sg->nodes[i], depth + 1))) return s;
    for (int k = 0; k < n->n_out; k++)
        if ((s = dyn_copy(p, n->out[k], &p->t[sg->outputs[k]]))) return s;
    return GLINT_OK;
}

#define LOOP_MAX_TRIPS ((int64_t)1 << 24) /* a Loop without bound stops here with an error */

/* Loop: runs the body while the trip count and the condition allow, the
 * carried values going round; scan outputs stack each trip's value. */
static glint_status interp_loop(plan *p, const node *n, int depth)
{
    const subgraph *sg = eng_attr_graph(n, "body");
    int n_carried = n->n_in - 2, n_scan = n->n_out - n_carried;
    if (!sg || n_carried < 0 || n_scan < 0 || sg->n_inputs != n_carried + 2 ||
        sg->n_outputs != n_carried + 1 + n_scan)
        return eng_fail(GLINT_ERR_INVALID,
                        "node '%s' (Loop): the body's %d inputs and %d outputs do not fit %d "
                        "carried values and %d scan outputs",
                        n->name, sg ? sg->n_inputs : 0, sg ? sg->n_outputs : 0, n_carried, n_scan);
    for (int i = 0; i < 2; i++)
        if (n->in[i] >= 0 && eng_tensor_count(&p->t[n->in[i]]) != 1)
            return eng_fail(GLINT_ERR_INVALID, "node '%s' (Loop): input %d must hold one value",
                            n->name, i);
    int64_t trips = n->in[0] >= 0 ? eng_tensor_get_i(&p->t[n->in[0]], 0) : LOOP_MAX_TRIPS + 1;
    bool cond = n->in[1] >= 0 ? eng_tensor_get_i(&p->t[n->in[1]], 0) != 0 : true;
    glint_status s = GLINT_OK;
    for (int k = 0; k < n_carried && !s; k++) /* the Loop's outputs hold the carried values */
        s = dyn_copy(p, n->out[k], &p->t[n->in[2 + k]]);
    char *acc[8] = {0};
    size_t acc_len[8] = {0}, acc_cap[8] = {0};
    int64_t it = 0;
    for (; !s && it < trips && cond; it++) {
        if (it >= LOOP_MAX_TRIPS) {
            s = eng_fail(GLINT_ERR_UNSUPPORTED, "node '%s' (Loop): more than %lld trips", n->name,
                         (long long)LOOP_MAX_TRIPS);
            break;
        }
        glint_tensor iter = {.dtype = GLINT_I64, .ndim = 0, .data = &it};
        uint8_t c1 = 1;
        glint_tensor cnd = {.dtype = GLINT_BOOL, .ndim = 0, .data = &c1};
        if ((s = dyn_copy(p, sg->inputs[0], &iter)) || (s = dyn_copy(p, sg->inputs[1], &cnd)))
            break;
        for (int k = 0; k < n_carried && !s; k++)
            s = dyn_copy(p, sg->inputs[2 + k], &p->t[n->out[k]]);
        for (int i = 0; i < sg->n_nodes && !s; i++)
            s = interp_node(p, &sg->nodes[i], depth + 1);
        if (s) break;
        if (eng_tensor_count(&p->t[sg->outputs[0]]) != 1) {
            s = eng_fail(GLINT_ERR_INVALID,
                         "node '%s' (Loop): the body's condition is not one value", n->name);
            break;
        }
        cond = eng_tensor_get_i(&p->t[sg->outputs[0]], 0) != 0;
        for (int k = 0; k < n_carried && !s; k++)
            s = dyn_copy(p, n->out[k], &p->t[sg->outputs[1 + k]]);
        for (int k = 0; k < n_scan && !s; k++) { /* append this trip's value */
            const glint_tensor *t = &p->t[sg->outputs[1 + n_carried + k]];
            size_t bytes = eng_tensor_bytes(t);
            if (acc_len[k] + bytes > acc_cap[k]) {
                size_t cap = (acc_len[k] + bytes) * 2 + 64;
                char *a = realloc(acc[k], cap);
                if (!a) {
                    s = eng_fail(GLINT_ERR_NOMEM, "out of memory in Loop '%s'", n->name);
                    break;
                }
                acc[k] = a;
                acc_cap[k] = cap;
            }
            if (bytes) memcpy(acc[k] + acc_len[k], t->data, bytes);
            acc_len[k] += bytes;
            glint_tensor *o = &p->t[n->out[n_carried + k]]; /* [trips, its shape] */
            o->dtype = t->dtype;
            o->ndim = t->ndim + 1;
            if (o->ndim > MAXD) s = eng_fail(GLINT_ERR_UNSUPPORTED, "Loop scan rank too high");
            for (int d = 0; d < t->ndim && !s; d++)
                o->dims[d + 1] = t->dims[d];
        }
    }
    for (int k = 0; k < n_scan && !s; k++) {
        glint_tensor *o = &p->t[n->out[n_carried + k]];
        if (!it) { /* no trip: [0] of the body's declared type */
            o->dtype = p->m->g.vals[sg->outputs[1 + n_carried + k]].dtype;
            o->ndim = 1;
        }
        o->dims[0] = it;
        if (eng_tensor_bytes(o) != acc_len[k])
            s = eng_fail(GLINT_ERR_SHAPE, "node '%s' (Loop): scan output %d changed shape", n->name,
                         k);
        else if (!(s = dyn_buffer(p, n->out[n_carried + k])) && acc_len[k])
            memcpy(o->data, acc[k], acc_len[k]);
    }
    for (int k = 0; k < 8; k++)
        free(acc[k]);
    return s;
}

static glint_status interp_node(plan *p, const node *n, int depth)
{
    if (depth > 16) return eng_fail(GLINT_ERR_UNSUPPORTED, "subgraphs nested too deep");
    const op_def *d = eng_op_get(n->op);
    op_ctx c;
    ctx_fill(p, n, &c);
    glint_status s = need_inputs(n, d, &c);
    for (int k = 0; !s && k < n->n_in; k++)
        if (c.in[k] && !c.in[k]->data && eng_tensor_bytes(c.in[k]))
            s = eng_fail(GLINT_ERR_INVALID, "node '%s' (%s): input %d has no value", n->name,
                         d->name, k);
    if (s) return s;
    if (n->op == OP_If) {
        s = interp_if(p, n, depth);
    } else if (n->op == OP_Loop) {
        s = interp_loop(p, n, depth);
    } else if (!(s = d->infer(&c)) && !(s = check_outputs(&c))) {
        for (int k = 0; k < n->n_out && !s; k++)
            s = dyn_buffer(p, n->out[k]);
        if (!s) s = d->run(&c);
    }
    if (s) return s;
    const graph *g = &p->m->g;
    for (int k = 0; p->observe && k < n->n_out; k++)
        if (g->vals[n->out[k]].name[0])
            p->observe(p->observe_user, g->vals[n->out[k]].name, &p->t[n->out[k]]);
    return GLINT_OK;
}

glint_status eng_plan_run(plan *p, bool profile)
{
    for (int i = 0; i < p->n_steps; i++) {
        step *st = &p->steps[i];
        double t0 = profile ? now_us() : 0;
        if (st->single || (i && p->steps[i - 1].single)) eng_plan_threads(p, st);
        glint_status s = st->k.run ? st->k.run(st) : st->op->run(&st->ctx);
        if (s) {
            eng_plan_threads(p, NULL);
            return s;
        }
        if (profile) st->us += now_us() - t0;
        if (p->observe && st->reorder_from < 0) observe_step(p, st);
    }
    if (p->n_steps && p->steps[p->n_steps - 1].single) eng_plan_threads(p, NULL);
    double t0 = profile && p->n_tail ? now_us() : 0;
    for (int i = 0; i < p->n_tail; i++) {
        glint_status s = interp_node(p, p->tail[i], 0);
        if (s) return s;
    }
    if (profile && p->n_tail) p->tail_us += now_us() - t0;
    if (profile) p->prof_runs++;
    return GLINT_OK;
}
