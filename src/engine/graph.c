/* The graph IR's storage: adding values, freeing a graph, reading node
 * attributes. See graph.h. */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

int eng_graph_add_value(graph *g, const char *name)
{
    if (g->n_vals == g->cap_vals) {
        int cap = g->cap_vals ? g->cap_vals * 2 : 64;
        value *v = realloc(g->vals, (size_t)cap * sizeof *v);
        if (!v) return -1;
        g->vals = v;
        g->cap_vals = cap;
    }
    value *v = &g->vals[g->n_vals];
    memset(v, 0, sizeof *v);
    v->name = strdup(name);
    if (!v->name) return -1;
    v->ndim = -1;
    v->producer = -1;
    return g->n_vals++;
}

static void nodes_dispose(node *nodes, int n_nodes);

static void attr_dispose(attr *a)
{
    if (a->sub) {
        nodes_dispose(a->sub->nodes, a->sub->n_nodes);
        free(a->sub->inputs);
        free(a->sub->outputs);
        free(a->sub);
    }
    free(a->name);
    free(a->s);
    free(a->ints);
    free(a->floats);
    free(a->t.data);
}

static void nodes_dispose(node *nodes, int n_nodes)
{
    for (int i = 0; i < n_nodes; i++) {
        node *n = &nodes[i];
        free(n->name);
        free(n->in);
        free(n->out);
        for (int k = 0; k < n->n_attrs; k++)
            attr_dispose(&n->attrs[k]);
        free(n->attrs);
    }
    free(nodes);
}

void eng_graph_dispose(graph *g)
{
    nodes_dispose(g->nodes, g->n_nodes);
    for (int i = 0; i < g->n_vals; i++) {
        free(g->vals[i].name);
        free(g->vals[i].data);
    }
    for (int i = 0; i < g->n_meta; i++) {
        free(g->meta_keys[i]);
        free(g->meta_vals[i]);
    }
    free(g->meta_keys);
    free(g->meta_vals);
    free(g->vals);
    free(g->inputs);
    free(g->outputs);
    memset(g, 0, sizeof *g);
}

/* ---- attribute lookup ---- */
const attr *eng_node_attr(const node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

int64_t eng_attr_i(const node *n, const char *name, int64_t def)
{
    const attr *a = eng_node_attr(n, name);
    return a && a->type == ATTR_INT ? a->i : def;
}

float eng_attr_f(const node *n, const char *name, float def)
{
    const attr *a = eng_node_attr(n, name);
    if (!a) return def;
    if (a->type == ATTR_FLOAT) return a->f;
    if (a->type == ATTR_INT) return (float)a->i;
    return def;
}

const char *eng_attr_s(const node *n, const char *name, const char *def)
{
    const attr *a = eng_node_attr(n, name);
    return a && a->type == ATTR_STRING ? a->s : def;
}

int eng_attr_ints(const node *n, const char *name, const int64_t **v)
{
    const attr *a = eng_node_attr(n, name);
    if (!a || a->type != ATTR_INTS) {
        *v = NULL;
        return 0;
    }
    *v = a->ints;
    return a->n;
}

const subgraph *eng_attr_graph(const node *n, const char *name)
{
    const attr *a = eng_node_attr(n, name);
    return a && a->type == ATTR_GRAPH ? a->sub : NULL;
}
