/* ONNX ModelProto -> graph IR.
 *
 * Parses with the protobuf-c bindings generated from Debian's onnx.proto,
 * copies what the engine needs (initializers, node attributes, declared
 * input/output types) into the graph and frees the protobuf. External tensor
 * data is read from files beside the model, confined to its directory. Every
 * size read from the file is checked before it is used. */
#include "engine_impl.h"
#include "onnx.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES 1000000
#define MAX_VALUES 4000000
#define MAX_DEPTH 8        /* subgraphs nested in subgraphs */
#define MAX_NODE_INPUTS 16 /* op_ctx.in */

/* ---- name -> value id hash table ---- */
typedef struct name_map {
    int *slots; /* value id + 1; 0 = empty */
    size_t cap;
} name_map;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int map_find(const name_map *m, const graph *g, const char *name)
{
    if (!m->cap) return -1;
    for (size_t i = hash_str(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        int v = m->slots[i];
        if (!v) return -1;
        if (!strcmp(g->vals[v - 1].name, name)) return v - 1;
    }
}

static void map_put(name_map *m, const graph *g, int id)
{
    size_t i = hash_str(g->vals[id].name) & (m->cap - 1);
    while (m->slots[i])
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = id + 1;
}

/* ---- tensors ---- */
static glint_status map_dtype(int32_t onnx_type, glint_dtype *out, const char *what)
{
    switch (onnx_type) {
    case GLINT_F32:
    case GLINT_U8:
    case GLINT_I8:
    case GLINT_I32:
    case GLINT_I64:
    case GLINT_BOOL:
    case GLINT_F64:
        *out = (glint_dtype)onnx_type;
        return GLINT_OK;
    default:
        return eng_fail(GLINT_ERR_UNSUPPORTED, "%s: data type %d is not supported", what,
                        (int)onnx_type);
    }
}

/* Reads `len` bytes at `off` of file `loc` (relative to base_dir) into dst;
 * with dst NULL, only checks that the file holds them. */
static glint_status read_external(const char *base_dir, const char *loc, int64_t off, int64_t len,
                                  void *dst, const char *what)
{
    if (!base_dir)
        return eng_fail(GLINT_ERR_INVALID,
                        "%s: external data '%s' but the model was not "
                        "loaded from a file",
                        what, loc);
    if (loc[0] == '/' || strstr(loc, ".."))
        return eng_fail(GLINT_ERR_INVALID,
                        "%s: external data location '%s' leaves the "
                        "model's directory",
                        what, loc);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", base_dir, loc) >= (int)sizeof path)
        return eng_fail(GLINT_ERR_INVALID, "%s: external data path too long", what);
    FILE *f = fopen(path, "rb");
    if (!f)
        return eng_fail(GLINT_ERR_IO, "%s: cannot open external data %s: %s", what, path,
                        strerror(errno));
    glint_status s = GLINT_OK;
    if (off > INT64_MAX - len || fseeko(f, 0, SEEK_END) || ftello(f) < off + len) {
        s = eng_fail(GLINT_ERR_PARSE,
                     "%s: external data %s is shorter than offset %lld + "
                     "length %lld",
                     what, path, (long long)off, (long long)len);
    } else if (dst && (fseeko(f, off, SEEK_SET) || fread(dst, 1, (size_t)len, f) != (size_t)len)) {
        s = eng_fail(GLINT_ERR_IO, "%s: reading external data %s failed", what, path);
    }
    fclose(f);
    return s;
}

static glint_status external_data(const Onnx__TensorProto *tp, const char *base_dir, void *dst,
                                  size_t bytes, const char *what)
{
    const char *loc = NULL;
    int64_t off = 0, len = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e->key || !e->value) continue;
        char *end;
        errno = 0;
        if (!strcmp(e->key, "location")) {
            loc = e->value;
        } else if (!strcmp(e->key, "offset")) {
            off = strtoll(e->value, &end, 10);
            if (*end || off < 0 || errno)
                return eng_fail(GLINT_ERR_PARSE, "%s: bad external offset", what);
        } else if (!strcmp(e->key, "length")) {
            len = strtoll(e->value, &end, 10);
            if (*end || len < 0 || errno)
                return eng_fail(GLINT_ERR_PARSE, "%s: bad external length", what);
        }
    }
    if (!loc) return eng_fail(GLINT_ERR_PARSE, "%s: external data without location", what);
    if (len >= 0 && (size_t)len != bytes)
        return eng_fail(GLINT_ERR_PARSE, "%s: external length %lld, expected %zu bytes", what,
                        (long long)len, bytes);
    return read_external(base_dir, loc, off, (int64_t)bytes, dst, what);
}

/* Copies the typed repeated field of tp into dst (count elements); with dst
 * NULL, only checks the count. */
static glint_status typed_data(const Onnx__TensorProto *tp, glint_dtype dt, int64_t count,
                               void *dst, const char *what)
{
    size_t have;
    switch (dt) {
    case GLINT_F32:
        have = tp->n_float_data;
        break;
    case GLINT_F64:
        have = tp->n_double_data;
        break;
    case GLINT_I64:
        have = tp->n_int64_data;
        break;
    default:
        have = tp->n_int32_data;
        break;
    }
    if ((int64_t)have != count)
        return eng_fail(GLINT_ERR_PARSE, "%s: holds %zu values, its shape needs %lld", what, have,
                        (long long)count);
    if (!dst) return GLINT_OK; /* checking only */
    for (int64_t i = 0; i < count; i++) {
        switch (dt) {
        case GLINT_F32:
            ((float *)dst)[i] = tp->float_data[i];
            break;
        case GLINT_F64:
            ((double *)dst)[i] = tp->double_data[i];
            break;
        case GLINT_I64:
            ((int64_t *)dst)[i] = tp->int64_data[i];
            break;
        case GLINT_I32:
            ((int32_t *)dst)[i] = tp->int32_data[i];
            break;
        case GLINT_U8:
        case GLINT_BOOL:
            ((uint8_t *)dst)[i] = (uint8_t)tp->int32_data[i];
            break;
        case GLINT_I8:
            ((int8_t *)dst)[i] = (int8_t)tp->int32_data[i];
            break;
        default:
            break;
        }
    }
    return GLINT_OK;
}

/* Converts a TensorProto into t (data malloc'ed, owned by the caller). */
static glint_status tensor_from_proto(const Onnx__TensorProto *tp, const char *base_dir,
                                      glint_tensor *t)
{
    const char *what = tp->name && *tp->name ? tp->name : "tensor";
    memset(t, 0, sizeof *t);
    glint_status s = map_dtype(tp->data_type, &t->dtype, what);
    if (s) return s;
    if (tp->n_dims > MAXD)
        return eng_fail(GLINT_ERR_UNSUPPORTED, "%s: rank %zu > %d", what, tp->n_dims, MAXD);
    t->ndim = (int)tp->n_dims;
    for (int i = 0; i < t->ndim; i++) {
        if (tp->dims[i] < 0) return eng_fail(GLINT_ERR_PARSE, "%s: negative dimension", what);
        t->dims[i] = tp->dims[i];
    }
    int64_t count = eng_dims_count_checked(t->dims, t->ndim);
    if (count < 0) return eng_fail(GLINT_ERR_NOMEM, "%s: too large", what);
    size_t bytes = (size_t)count * glint_dtype_size(t->dtype);
    bool external =
        tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    /* check the data is there before allocating what the header claims */
    if (external) {
        if ((s = external_data(tp, base_dir, NULL, bytes, what))) return s;
    } else if (tp->has_raw_data) {
        if (tp->raw_data.len != bytes)
            return eng_fail(GLINT_ERR_PARSE, "%s: raw_data has %zu bytes, its shape needs %zu",
                            what, tp->raw_data.len, bytes);
    } else if ((s = typed_data(tp, t->dtype, count, NULL, what))) {
        return s;
    }
    t->data = malloc(bytes ? bytes : 1);
    if (!t->data) return eng_fail(GLINT_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, bytes);
    if (external)
        s = external_data(tp, base_dir, t->data, bytes, what);
    else if (tp->has_raw_data) {
        if (bytes) memcpy(t->data, tp->raw_data.data, bytes);
    } else
        s = typed_data(tp, t->dtype, count, t->data, what);
    if (s) {
        free(t->data);
        t->data = NULL;
    }
    return s;
}

glint_status glint_tensor_parse(const void *buf, size_t size, glint_tensor *t, char **name)
{
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, size, buf);
    if (!tp) return eng_fail(GLINT_ERR_PARSE, "not a valid TensorProto (%zu bytes)", size);
    glint_status s = tensor_from_proto(tp, NULL, t);
    if (!s && name) *name = tp->name && *tp->name ? strdup(tp->name) : NULL;
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return s;
}

/* ---- value info / attributes ---- */
static glint_status value_info(graph *g, int id, const Onnx__ValueInfoProto *vi)
{
    value *v = &g->vals[id];
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return eng_fail(GLINT_ERR_UNSUPPORTED, "graph input/output '%s' is not a tensor", v->name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    glint_status s = map_dtype(tt->elem_type, &v->dtype, v->name);
    if (s) return s;
    if (!tt->shape) return GLINT_OK;
    if (tt->shape->n_dim > MAXD)
        return eng_fail(GLINT_ERR_UNSUPPORTED, "'%s': rank %zu > %d", v->name, tt->shape->n_dim,
                        MAXD);
    v->ndim = (int)tt->shape->n_dim;
    for (int i = 0; i < v->ndim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        v->dims[i] = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                             d->dim_value >= 0
                         ? d->dim_value
                         : -1;
    }
    return GLINT_OK;
}

static glint_status copy_attr(attr *a, const Onnx__AttributeProto *ap, const char *node_name)
{
    a->name = strdup(ap->name ? ap->name : "");
    if (!a->name) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    a->type = (attr_type)ap->type;
    switch (ap->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        a->f = ap->f;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        a->i = ap->i;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        a->s = malloc(ap->s.len + 1);
        if (!a->s) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
        if (ap->s.len) memcpy(a->s, ap->s.data, ap->s.len);
        a->s[ap->s.len] = 0;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        a->n = (int)ap->n_ints;
        a->ints = malloc((ap->n_ints + 1) * sizeof *a->ints);
        if (!a->ints) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
        if (ap->n_ints) memcpy(a->ints, ap->ints, ap->n_ints * sizeof *a->ints);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        a->n = (int)ap->n_floats;
        a->floats = malloc((ap->n_floats + 1) * sizeof *a->floats);
        if (!a->floats) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
        if (ap->n_floats) memcpy(a->floats, ap->floats, ap->n_floats * sizeof *a->floats);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        if (!ap->t)
            return eng_fail(GLINT_ERR_PARSE, "node '%s': attribute %s has no tensor", node_name,
                            a->name);
        return tensor_from_proto(ap->t, NULL, &a->t);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        a->n = (int)ap->n_strings; /* kept as a count only */
        break;
    default:
        /* graph attributes: parsed by add_node; sparse ones: kept as present but unusable */
        break;
    }
    return GLINT_OK;
}

/* ---- nodes ---- */
static glint_status parse_subgraph(graph *g, name_map *map, const Onnx__GraphProto *gp, int depth,
                                   subgraph **out);

/* Parses np into n: node idx of the main graph (depth 0), or of a subgraph
 * whose own values start at id `scope` (an input below it is captured from
 * an enclosing graph). */
static glint_status add_node(graph *g, name_map *map, node *n, const Onnx__NodeProto *np, int idx,
                             int depth, int scope)
{
    memset(n, 0, sizeof *n);
    n->sum_in = -1;
    n->name = strdup(np->name && *np->name ? np->name : "");
    const char *op_type = np->op_type ? np->op_type : "";
    if (!n->name) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    if (!*n->name) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s_%d", op_type, idx);
        free(n->name);
        n->name = strdup(buf);
        if (!n->name) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    }
    if (np->domain && *np->domain && strcmp(np->domain, "ai.onnx"))
        return eng_fail(GLINT_ERR_UNSUPPORTED,
                        "node '%s': operator %s of domain '%s' is not "
                        "supported",
                        n->name, op_type, np->domain);
    int op = eng_op_lookup(op_type);
    if (op < 0)
        return eng_fail(GLINT_ERR_UNSUPPORTED, "node '%s': operator %s is not supported", n->name,
                        op_type);
    n->op = (op_id)op;
    const op_def *d = eng_op_get(n->op);
    if ((int)np->n_input < d->min_in || (int)np->n_input > d->max_in || np->n_output < 1 ||
        np->n_output > 8)
        return eng_fail(GLINT_ERR_INVALID,
                        "node '%s' (%s): %zu inputs / %zu outputs is not "
                        "valid",
                        n->name, op_type, np->n_input, np->n_output);
    n->n_in = (int)np->n_input;
    n->n_out = (int)np->n_output;
    n->in = malloc(((size_t)n->n_in + 1) * sizeof *n->in);
    n->out = malloc((size_t)n->n_out * sizeof *n->out);
    n->attrs = calloc(np->n_attribute + 1, sizeof *n->attrs);
    if (!n->in || !n->out || !n->attrs) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n->n_in; i++) {
        const char *nm = np->input[i];
        if (!nm || !*nm) {
            n->in[i] = -1;
            continue;
        }
        n->in[i] = map_find(map, g, nm);
        if (n->in[i] < 0)
            return eng_fail(GLINT_ERR_INVALID,
                            "node '%s' (%s): input '%s' is not produced "
                            "before it",
                            n->name, op_type, nm);
        g->vals[n->in[i]].n_uses++;
        if (n->in[i] < scope) g->vals[n->in[i]].captured = true;
    }
    for (size_t i = 0; i < np->n_attribute; i++) {
        const Onnx__AttributeProto *ap = np->attribute[i];
        glint_status s = copy_attr(&n->attrs[i], ap, n->name);
        n->n_attrs++;
        if (!s && ap->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH) {
            if (!ap->g)
                return eng_fail(GLINT_ERR_PARSE, "node '%s': attribute %s has no graph", n->name,
                                n->attrs[i].name);
            s = parse_subgraph(g, map, ap->g, depth + 1, &n->attrs[i].sub);
        }
        if (s) return s;
    }
    for (int i = 0; i < n->n_out; i++) {
        const char *nm = np->output[i] ? np->output[i] : "";
        if (*nm && map_find(map, g, nm) >= 0)
            return eng_fail(GLINT_ERR_INVALID, "node '%s': output '%s' is defined twice", n->name,
                            nm);
        int id = eng_graph_add_value(g, nm);
        if (id < 0) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
        g->vals[id].producer = depth ? -1 : idx;
        n->out[i] = id;
        if (*nm) map_put(map, g, id);
    }
    return GLINT_OK;
}

/* Concat nodes over more inputs than a node holds (MAX_NODE_INPUTS, torchvision's
 * per-class detections: 90) become a tree: Concats of MAX_NODE_INPUTS inputs at a time,
 * then one of their outputs. The number of extra nodes (and names) for n inputs. */
static size_t concat_parts(const Onnx__NodeProto *np)
{
    size_t n = np->n_input, k = 0;
    if (!np->op_type || strcmp(np->op_type, "Concat")) return 0;
    while (n > MAX_NODE_INPUTS) {
        n = (n + MAX_NODE_INPUTS - 1) / MAX_NODE_INPUTS;
        k += n;
    }
    return k;
}

/* Adds np as nodes[*count] (and on), a wide Concat as its tree. */
static glint_status add_nodes(graph *g, name_map *map, node *nodes, int *count,
                              const Onnx__NodeProto *np, int depth, int scope)
{
    size_t n = np->n_input;
    if (!concat_parts(np)) {
        glint_status s = add_node(g, map, &nodes[*count], np, *count, depth, scope);
        ++*count;
        return s;
    }
    char **ins = np->input, **owned = NULL;
    glint_status s = GLINT_OK;
    for (int level = 0; !s && n > MAX_NODE_INPUTS; level++) {
        size_t parts = (n + MAX_NODE_INPUTS - 1) / MAX_NODE_INPUTS;
        char **next = calloc(parts, sizeof *next);
        if (!next) {
            s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
            break;
        }
        for (size_t k = 0; k < parts && !s; k++) {
            const char *base =
                np->output && np->n_output && np->output[0] ? np->output[0] : "concat";
            size_t len = strlen(base) + 48;
            if (!(next[k] = malloc(len))) {
                s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
                break;
            }
            snprintf(next[k], len, "%s/glint_part%d_%zu", base, level, k);
            Onnx__NodeProto part = *np;
            part.name = next[k];
            part.input = ins + k * MAX_NODE_INPUTS;
            part.n_input = n - k * MAX_NODE_INPUTS < MAX_NODE_INPUTS ? n - k * MAX_NODE_INPUTS
                                                                     : MAX_NODE_INPUTS;
            part.output = &next[k];
            part.n_output = 1;
            s = add_node(g, map, &nodes[*count], &part, *count, depth, scope);
            ++*count;
        }
        for (size_t k = 0; owned && k < n; k++)
            free(owned[k]);
        free(owned);
        owned = ins = next;
        n = parts;
    }
    if (!s) {
        Onnx__NodeProto last = *np;
        last.input = ins;
        last.n_input = n;
        s = add_node(g, map, &nodes[*count], &last, *count, depth, scope);
        ++*count;
    }
    for (size_t k = 0; owned && k < n; k++)
        free(owned[k]);
    free(owned);
    return s;
}

/* Adds a named value (an initializer or input of a (sub)graph) to g and map. */
static glint_status add_named(graph *g, name_map *map, const char *nm, int *id)
{
    if (!*nm || map_find(map, g, nm) >= 0)
        return eng_fail(GLINT_ERR_INVALID, "value '%s' is unnamed or defined twice", nm);
    if ((*id = eng_graph_add_value(g, nm)) < 0) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    map_put(map, g, *id);
    return GLINT_OK;
}

static glint_status add_initializer(graph *g, name_map *map, const Onnx__TensorProto *tp,
                                    const char *base_dir)
{
    int id = -1;
    glint_status s = add_named(g, map, tp->name ? tp->name : "", &id);
    glint_tensor t;
    if (s || (s = tensor_from_proto(tp, base_dir, &t))) return s;
    value *v = &g->vals[id];
    v->dtype = t.dtype;
    v->ndim = t.ndim;
    memcpy(v->dims, t.dims, sizeof v->dims);
    v->data = t.data;
    return GLINT_OK;
}

/* A graph attribute: its initializers, inputs and nodes join g's values
 * (names are unique across scopes in ONNX); nodes must come in order. */
static glint_status parse_subgraph(graph *g, name_map *map, const Onnx__GraphProto *gp, int depth,
                                   subgraph **out)
{
    if (depth > MAX_DEPTH)
        return eng_fail(GLINT_ERR_UNSUPPORTED, "subgraphs nested deeper than %d", MAX_DEPTH);
    subgraph *sg = *out = calloc(1, sizeof *sg);
    if (!sg) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    int scope = g->n_vals;
    size_t extra = 0;
    for (size_t i = 0; i < gp->n_node; i++)
        extra += concat_parts(gp->node[i]);
    sg->nodes = calloc(gp->n_node + extra + 1, sizeof *sg->nodes);
    sg->inputs = malloc((gp->n_input + 1) * sizeof *sg->inputs);
    sg->outputs = malloc((gp->n_output + 1) * sizeof *sg->outputs);
    if (!sg->nodes || !sg->inputs || !sg->outputs)
        return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    glint_status s;
    for (size_t i = 0; i < gp->n_initializer; i++)
        if ((s = add_initializer(g, map, gp->initializer[i], NULL))) return s;
    for (size_t i = 0; i < gp->n_input; i++) {
        int id = -1;
        if ((s = add_named(g, map, gp->input[i]->name ? gp->input[i]->name : "", &id))) return s;
        /* a body's inputs may leave their type to the Loop's (ONNX functions do) */
        if (gp->input[i]->type && (s = value_info(g, id, gp->input[i]))) return s;
        sg->inputs[sg->n_inputs++] = id;
    }
    for (size_t i = 0; i < gp->n_node; i++)
        if ((s = add_nodes(g, map, sg->nodes, &sg->n_nodes, gp->node[i], depth, scope))) return s;
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *nm = gp->output[i]->name ? gp->output[i]->name : "";
        int id = map_find(map, g, nm);
        if (id < 0) return eng_fail(GLINT_ERR_INVALID, "subgraph output '%s' is not produced", nm);
        if (id < scope) g->vals[id].captured = true;
        g->vals[id].n_uses++;
        sg->outputs[sg->n_outputs++] = id;
    }
    return GLINT_OK;
}

/* Names a graph defines, its subgraphs' included (sizes the name map). */
static size_t count_names(const Onnx__GraphProto *gp, int depth)
{
    size_t n = gp->n_initializer + gp->n_input;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        n += np->n_output + concat_parts(np);
        for (size_t k = 0; k < np->n_attribute && depth < MAX_DEPTH; k++)
            if (np->attribute[k]->g) n += count_names(np->attribute[k]->g, depth + 1);
    }
    return n;
}

/* Orders nodes so that every input is produced before it is read (ONNX
 * requires it, but some exporters do not comply). Returns the permutation in
 * order[]; fails on a cycle or a missing producer. */
static glint_status topo_order(const Onnx__GraphProto *gp, const name_map *known_init,
                               const graph *g, int *order)
{
    size_t n = gp->n_node;
    char *done = calloc(n + 1, 1);
    if (!done) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    /* names produced so far: an open-addressing set over node outputs */
    size_t cap = 16;
    while (cap < 2 * (n * 8 + 16))
        cap *= 2;
    int *slots = calloc(cap, sizeof *slots);
    char **names = calloc(n * 8 + 1, sizeof *names);
    const char **missing = calloc(n + 1, sizeof *missing);
    if (!slots || !names || !missing) {
        free(done);
        free(slots);
        free(names);
        free(missing);
        return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    }
    size_t n_names = 0, placed = 0;
    glint_status s = GLINT_OK;
    while (placed < n) {
        size_t before = placed;
        for (size_t i = 0; i < n; i++) {
            if (done[i]) continue;
            const Onnx__NodeProto *np = gp->node[i];
            bool ready = true;
            for (size_t k = 0; k < np->n_input && ready; k++) {
                const char *nm = np->input[k];
                if (!nm || !*nm || map_find(known_init, g, nm) >= 0) continue;
                bool found = false;
                for (size_t j = hash_str(nm) & (cap - 1); slots[j]; j = (j + 1) & (cap - 1))
                    if (!strcmp(names[slots[j] - 1], nm)) {
                        found = true;
                        break;
                    }
                ready = found;
                if (!found) missing[i] = nm;
            }
            if (!ready) continue;
            for (size_t k = 0; k < np->n_output && k < 8; k++) {
                const char *nm = np->output[k];
                if (!nm || !*nm) continue;
                size_t j = hash_str(nm) & (cap - 1);
                while (slots[j])
                    j = (j + 1) & (cap - 1);
                names[n_names] = (char *)nm;
                slots[j] = (int)++n_names;
            }
            done[i] = 1;
            order[placed++] = (int)i;
        }
        if (placed == before) {
            for (size_t i = 0; i < n; i++)
                if (!done[i]) {
                    const Onnx__NodeProto *np = gp->node[i];
                    s = eng_fail(GLINT_ERR_INVALID,
                                 "node '%s' (%s) reads '%s', which no node, "
                                 "input or initializer produces (or the graph has a cycle)",
                                 np->name ? np->name : "", np->op_type ? np->op_type : "",
                                 missing[i] ? missing[i] : "?");
                    break;
                }
            break;
        }
    }
    free(done);
    free(slots);
    free(names);
    free(missing);
    return s;
}

static glint_status copy_metadata(const Onnx__ModelProto *mp, graph *g)
{
    if (!mp->n_metadata_props) return GLINT_OK;
    g->meta_keys = calloc(mp->n_metadata_props, sizeof *g->meta_keys);
    g->meta_vals = calloc(mp->n_metadata_props, sizeof *g->meta_vals);
    if (!g->meta_keys || !g->meta_vals) return eng_fail(GLINT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
        if (!e->key || !e->value) continue;
        g->meta_keys[g->n_meta] = strdup(e->key);
        g->meta_vals[g->n_meta] = strdup(e->value);
        if (!g->meta_keys[g->n_meta] || !g->meta_vals[g->n_meta]) {
            free(g->meta_keys[g->n_meta]);
            free(g->meta_vals[g->n_meta]);
            return eng_fail(GLINT_ERR_NOMEM, "out of memory");
        }
        g->n_meta++;
    }
    return GLINT_OK;
}

static glint_status build_graph(const Onnx__ModelProto *mp, const char *base_dir, graph *g)
{
    const Onnx__GraphProto *gp = mp->graph;
    if (!gp) return eng_fail(GLINT_ERR_PARSE, "model has no graph");
    if (gp->n_node > MAX_NODES || gp->n_initializer + gp->n_input > MAX_VALUES)
        return eng_fail(GLINT_ERR_NOMEM, "graph too large (%zu nodes)", gp->n_node);
    g->opset = 0;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx")) g->opset = (int)o->version;
    }
    if (g->opset == 0) g->opset = 1;
    glint_status ms = copy_metadata(mp, g);
    if (ms) return ms;
    if (g->opset > 21)
        return eng_fail(GLINT_ERR_UNSUPPORTED, "opset %d is newer than supported (<= 21)",
                        g->opset);

    size_t cap = 64;
    size_t want = count_names(gp, 0) * 2 + 16;
    while (cap < want)
        cap *= 2;
    name_map map = {calloc(cap, sizeof(int)), cap};
    int *order = malloc((gp->n_node + 1) * sizeof *order);
    size_t extra = 0;
    for (size_t i = 0; i < gp->n_node; i++)
        extra += concat_parts(gp->node[i]);
    g->nodes = calloc(gp->n_node + extra + 1, sizeof *g->nodes);
    g->inputs = malloc((gp->n_input + 1) * sizeof *g->inputs);
    g->outputs = malloc((gp->n_output + 1) * sizeof *g->outputs);
    glint_status s = GLINT_OK;
    if (!map.slots || !order || !g->nodes || !g->inputs || !g->outputs) {
        s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < gp->n_initializer; i++)
        if ((s = add_initializer(g, &map, gp->initializer[i], base_dir))) goto done;
    for (size_t i = 0; i < gp->n_input; i++) {
        const char *nm = gp->input[i]->name ? gp->input[i]->name : "";
        if (map_find(&map, g, nm) >= 0) continue; /* initializer listed as input */
        int id = eng_graph_add_value(g, nm);
        if (id < 0) {
            s = eng_fail(GLINT_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((s = value_info(g, id, gp->input[i]))) goto done;
        map_put(&map, g, id);
        g->inputs[g->n_inputs++] = id;
    }
    if ((s = topo_order(gp, &map, g, order))) goto done;
    for (size_t i = 0; i < gp->n_node; i++) {
        if ((s = add_nodes(g, &map, g->nodes, &g->n_nodes, gp->node[order[i]], 0, 0))) goto done;
    }
    if (gp->n_output == 0) {
        s = eng_fail(GLINT_ERR_INVALID, "graph has no outputs");
        goto done;
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *nm = gp->output[i]->name ? gp->output[i]->name : "";
        int id = map_find(&map, g, nm);
        if (id < 0) {
            s = eng_fail(GLINT_ERR_INVALID, "graph output '%s' is not produced", nm);
            goto done;
        }
        value saved = g->vals[id];
        if ((s = value_info(g, id, gp->output[i]))) goto done;
        if (saved.data) { /* keep an initializer's real shape */
            g->vals[id].ndim = saved.ndim;
            memcpy(g->vals[id].dims, saved.dims, sizeof saved.dims);
        }
        g->vals[id].is_output = true;
        g->outputs[g->n_outputs++] = id;
    }
done:
    free(map.slots);
    free(order);
    return s;
}

glint_status eng_onnx_parse(const void *buf, size_t size, const char *base_dir, graph *g)
{
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, buf);
    if (!mp)
        return eng_fail(GLINT_ERR_PARSE,
                        "not a valid ONNX model (protobuf parse failed, "
                        "%zu bytes)",
                        size);
    glint_status s = build_graph(mp, base_dir, g);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (s) eng_graph_dispose(g);
    return s;
}
