/* YAML documents as JSON values (see yaml_json.h). */
#include "serve/core/yaml_json.h"

#include "serve/core/errmsg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define YAML_MAX_DEPTH 32
#define YAML_MAX_NODES 100000 /* bounds alias expansion too */

typedef struct yconv {
    yaml_document_t *doc;
    long nodes;
    char *err;
    size_t err_size;
} yconv;

/* A plain scalar as YAML 1.2's core schema reads it. */
static json_t *plain_scalar(const char *s, size_t len)
{
    if (!len || !strcmp(s, "~") || !strcasecmp(s, "null")) return json_null();
    if (!strcasecmp(s, "true")) return json_true();
    if (!strcasecmp(s, "false")) return json_false();
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s + len && !errno) return json_integer(v);
    errno = 0;
    double d = strtod(s, &end);
    if (end == s + len && !errno && isfinite(d) && strspn(s, "+-.0123456789eE") == len)
        return json_real(d);
    return json_stringn(s, len);
}

static json_t *yaml_node_json(yconv *x, const yaml_node_t *n, int depth)
{
    if (!n) return NULL;
    if (depth > YAML_MAX_DEPTH || ++x->nodes > YAML_MAX_NODES) {
        errmsg_set(x->err, x->err_size, "document nested or aliased too deeply");
        return NULL;
    }
    if (n->type == YAML_SCALAR_NODE) {
        const char *v = (const char *)n->data.scalar.value;
        size_t len = n->data.scalar.length;
        json_t *j = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(v, len)
                                                                    : json_stringn(v, len);
        if (!j)
            errmsg_set(x->err, x->err_size, "line %zu: text is not UTF-8", n->start_mark.line + 1);
        return j;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             a && it < n->data.sequence.items.top; it++) {
            json_t *e = yaml_node_json(x, yaml_document_get_node(x->doc, *it), depth + 1);
            if (!e || json_array_append_new(a, e)) {
                json_decref(a);
                a = NULL;
            }
        }
        return a;
    }
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; o && p < n->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) {
            errmsg_set(x->err, x->err_size, "line %zu: a mapping key must be a scalar",
                       k ? k->start_mark.line + 1 : 0);
            json_decref(o);
            return NULL;
        }
        json_t *v = yaml_node_json(x, yaml_document_get_node(x->doc, p->value), depth + 1);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)k->data.scalar.length,
                 (const char *)k->data.scalar.value);
        if (!v || json_object_set_new(o, key, v)) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

json_t *yaml_to_json(const char *text, size_t len, char *err, size_t err_size)
{
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) {
        errmsg_set(err, err_size, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &doc)) {
        errmsg_set(err, err_size, "YAML line %zu: %s", p.problem_mark.line + 1,
                   p.problem ? p.problem : "syntax error");
        yaml_parser_delete(&p);
        return NULL;
    }
    yconv x = {&doc, 0, err, err_size};
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    json_t *j = root ? yaml_node_json(&x, root, 0) : json_object();
    if (!j && err && !err[0]) errmsg_set(err, err_size, "out of memory");
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return j;
}
