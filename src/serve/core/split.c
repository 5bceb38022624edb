/* Splits of a model name over versions, and the canary's judge (split.h). */
#include "serve/core/split.h"

#include "serve/core/cache.h"
#include "serve/core/errmsg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The same on every replica: a client's version must not depend on which
 * replica it reaches. */
static const uint8_t choose_key[16] = "glint-split-v1..";

static int num(const json_t *o, const char *key, double lo, double hi, double def, double *out,
               const char *where, char *err, size_t err_size)
{
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi)) {
        errmsg_set(err, err_size, "%s: %s must be a number in [%g, %g]", where, key, lo, hi);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n >= SPLIT_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || (unsigned char)s[i] < 0x21 || s[i] == 0x7f) return 0;
    return 1;
}

int split_parse_one(const char *name, const json_t *o, split *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    out->canary.version = -1;
    if (!name_ok(name)) {
        errmsg_set(err, err_size, "split '%.100s': a name is 1..%d characters, no '/' or spaces",
                   name, SPLIT_NAME_MAX - 1);
        return -1;
    }
    snprintf(out->name, sizeof out->name, "%s", name);
    if (!json_is_object(o)) {
        errmsg_set(err, err_size, "split %s: want a mapping with versions", name);
        return -1;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (strcmp(k, "versions") && strcmp(k, "sticky") && strcmp(k, "canary")) {
            errmsg_set(err, err_size, "split %s: unknown key '%.60s' (versions, sticky, canary)",
                       name, k);
            return -1;
        }
    }
    const json_t *vs = json_object_get(o, "versions");
    if (!json_is_object(vs) || !json_object_size(vs)) {
        errmsg_set(err, err_size, "split %s: versions must map model names to weights", name);
        return -1;
    }
    if (json_object_size(vs) > SPLIT_MAX_VERSIONS) {
        errmsg_set(err, err_size, "split %s: at most %d versions", name, SPLIT_MAX_VERSIONS);
        return -1;
    }
    double sum = 0;
    json_object_foreach((json_t *)vs, k, v)
    {
        if (!name_ok(k)) {
            errmsg_set(err, err_size, "split %s: '%.100s' is not a model name", name, k);
            return -1;
        }
        if (!json_is_number(v) || !(json_number_value(v) >= 0 && json_number_value(v) <= 1e6)) {
            errmsg_set(err, err_size, "split %s: the weight of %s must be a number in [0, 1e6]",
                       name, k);
            return -1;
        }
        split_version *sv = &out->v[out->n++];
        snprintf(sv->model, sizeof sv->model, "%s", k);
        sv->weight = sv->configured = json_number_value(v);
        sum += sv->weight;
    }
    if (!(sum > 0)) {
        errmsg_set(err, err_size, "split %s: every weight is 0", name);
        return -1;
    }
    const json_t *st = json_object_get(o, "sticky");
    if (st && !json_is_boolean(st)) {
        errmsg_set(err, err_size, "split %s: sticky must be true or false", name);
        return -1;
    }
    out->sticky = !st || json_is_true(st);
    const json_t *c = json_object_get(o, "canary");
    if (!c || json_is_null(c)) return 0;
    char where[SPLIT_NAME_MAX + 16];
    snprintf(where, sizeof where, "split %s canary", name);
    if (!json_is_object(c) || !json_is_string(json_object_get(c, "version"))) {
        errmsg_set(err, err_size, "%s: want a mapping with version", where);
        return -1;
    }
    json_object_foreach((json_t *)c, k, v)
    {
        static const char *const keys[] = {"version",      "window_s",       "min_requests",
                                           "error_margin", "latency_margin", "promote_after_s"};
        int known = 0;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            known |= !strcmp(k, keys[i]);
        if (!known) {
            errmsg_set(err, err_size, "%s: unknown key '%.60s'", where, k);
            return -1;
        }
    }
    const char *cv = json_string_value(json_object_get(c, "version"));
    for (int i = 0; i < out->n; i++)
        if (!strcmp(out->v[i].model, cv)) out->canary.version = i;
    if (out->canary.version < 0) {
        errmsg_set(err, err_size, "%s: %.100s is not one of its versions", where, cv);
        return -1;
    }
    if (out->n < 2) {
        errmsg_set(err, err_size, "%s: a canary needs another version to compare with", where);
        return -1;
    }
    double minr;
    split_canary *cc = &out->canary;
    if (num(c, "window_s", 1, 86400, 30, &cc->window_s, where, err, err_size) ||
        num(c, "min_requests", 1, 1e9, 20, &minr, where, err, err_size) ||
        num(c, "error_margin", 0, 1, 0.02, &cc->error_margin, where, err, err_size) ||
        num(c, "latency_margin", 0, 1000, 0.5, &cc->latency_margin, where, err, err_size) ||
        num(c, "promote_after_s", 0, 86400 * 365, 0, &cc->promote_after_s, where, err, err_size))
        return -1;
    cc->min_requests = (int)minr;
    out->state = SPLIT_WATCHING;
    snprintf(out->verdict, sizeof out->verdict, "watching %s", cv);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const split *)a)->name, ((const split *)b)->name);
}

int split_parse(const json_t *doc, split_table *t, char *err, size_t err_size)
{
    if (!json_is_object(doc)) {
        errmsg_set(err, err_size, "splits: want a mapping of split names");
        return -1;
    }
    size_t n = json_object_size(doc);
    if (n > SPLIT_MAX) {
        errmsg_set(err, err_size, "splits: at most %d", SPLIT_MAX);
        return -1;
    }
    split *arr = n ? calloc(n, sizeof *arr) : NULL;
    if (n && !arr) {
        errmsg_set(err, err_size, "out of memory");
        return -1;
    }
    int i = 0;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        if (split_parse_one(k, v, &arr[i++], err, err_size)) {
            free(arr);
            return -1;
        }
    }
    if (n) qsort(arr, n, sizeof *arr, by_name);
    split_table_dispose(t);
    t->s = arr;
    t->n = (int)n;
    return 0;
}

void split_table_dispose(split_table *t)
{
    free(t->s);
    t->s = NULL;
    t->n = 0;
}

split *split_find(const split_table *t, const char *name, size_t len)
{
    for (int i = 0; i < t->n; i++)
        if (strlen(t->s[i].name) == len && !memcmp(t->s[i].name, name, len)) return &t->s[i];
    return NULL;
}

int split_put(split_table *t, const split *sp)
{
    split *old = split_find(t, sp->name, strlen(sp->name));
    if (old) {
        *old = *sp;
        return 0;
    }
    if (t->n >= SPLIT_MAX) return -1;
    split *arr = realloc(t->s, (size_t)(t->n + 1) * sizeof *arr);
    if (!arr) return -1;
    arr[t->n++] = *sp;
    t->s = arr;
    qsort(t->s, (size_t)t->n, sizeof *t->s, by_name);
    return 0;
}

static int same_config(const split *a, const split *b)
{
    if (a->n != b->n || a->sticky != b->sticky || a->canary.version != b->canary.version) return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->v[i].model, b->v[i].model) || a->v[i].configured != b->v[i].configured)
            return 0;
    return !memcmp(&a->canary, &b->canary, sizeof a->canary);
}

void split_carry(split_table *t, const split_table *old)
{
    for (int i = 0; i < t->n; i++) {
        const split *o = split_find(old, t->s[i].name, strlen(t->s[i].name));
        if (o && same_config(&t->s[i], o)) t->s[i] = *o;
    }
}

/* ---- choosing ---- */

static double unit(uint64_t h)
{
    return ((double)(h >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
}

int split_choose(const split *sp, const char *client, size_t clen, uint64_t rnd)
{
    double sum = 0;
    for (int i = 0; i < sp->n; i++)
        sum += sp->v[i].weight;
    if (!(sum > 0)) return -1;
    if (!sp->sticky || !clen) {
        double x = unit(rnd) * sum;
        int last = -1;
        for (int i = 0; i < sp->n; i++) {
            if (!(sp->v[i].weight > 0)) continue;
            last = i;
            if (x < sp->v[i].weight) return i;
            x -= sp->v[i].weight;
        }
        return last; /* rounding */
    }
    int best = -1;
    double best_score = INFINITY;
    for (int i = 0; i < sp->n; i++) {
        if (!(sp->v[i].weight > 0)) continue;
        char buf[512];
        size_t ml = strlen(sp->v[i].model);
        size_t cl = clen < sizeof buf - ml - 1 ? clen : sizeof buf - ml - 1;
        memcpy(buf, sp->v[i].model, ml);
        buf[ml] = 0; /* a separator no name holds */
        memcpy(buf + ml + 1, client, cl);
        uint64_t h;
        cache_siphash(choose_key, 2, 4, buf, ml + 1 + cl, (uint8_t *)&h, 8);
        double score = -log(unit(h)) / sp->v[i].weight;
        if (score < best_score) {
            best_score = score;
            best = i;
        }
    }
    return best;
}

/* ---- judging ---- */

double split_quantile(const double *bounds, int nbounds, const uint64_t *cum_before,
                      const uint64_t *cum_after, double q)
{
    uint64_t total = cum_after[nbounds] - cum_before[nbounds];
    if (!total) return 0;
    double rank = q * (double)total;
    uint64_t prev = 0;
    for (int i = 0; i <= nbounds; i++) {
        uint64_t c = cum_after[i] - cum_before[i];
        if ((double)c >= rank) {
            if (i == nbounds) return nbounds ? bounds[nbounds - 1] : 0;
            double lo = i ? bounds[i - 1] : 0, hi = bounds[i];
            uint64_t in = c - prev;
            return in ? lo + (hi - lo) * (rank - (double)prev) / (double)in : hi;
        }
        prev = c;
    }
    return nbounds ? bounds[nbounds - 1] : 0;
}

int split_judge(const split_canary *c, const split_window *canary, const split_window *others,
                char *why, size_t why_size)
{
    if (canary->requests < (uint64_t)c->min_requests ||
        others->requests < (uint64_t)c->min_requests)
        return -1;
    double ec = (double)canary->failed / (double)canary->requests;
    double eo = (double)others->failed / (double)others->requests;
    if (ec > eo + c->error_margin) {
        snprintf(why, why_size, "%.1f%% of its %llu requests failed, against %.1f%% of the others'",
                 100 * ec, (unsigned long long)canary->requests, 100 * eo);
        return 1;
    }
    if (canary->p99_s > others->p99_s * (1 + c->latency_margin) &&
        canary->p99_s - others->p99_s >= 0.001) {
        snprintf(why, why_size, "p99 %.1f ms against %.1f ms for the others (margin %.0f%%)",
                 canary->p99_s * 1e3, others->p99_s * 1e3, 100 * c->latency_margin);
        return 1;
    }
    return 0;
}

void split_settle(split *sp, int promote, const char *why)
{
    int c = sp->canary.version;
    if (c < 0) return;
    double sum = 0;
    for (int i = 0; i < sp->n; i++)
        sum += sp->v[i].weight;
    if (promote) {
        for (int i = 0; i < sp->n; i++)
            sp->v[i].weight = i == c ? (sum > 0 ? sum : 100) : 0;
        sp->state = SPLIT_PROMOTED;
        sp->promotions++;
    } else {
        sp->v[c].weight = 0;
        int any = 0;
        for (int i = 0; i < sp->n; i++)
            any |= sp->v[i].weight > 0;
        if (!any) /* the others had no weight: they take the canary's */
            for (int i = 0; i < sp->n; i++)
                if (i != c) sp->v[i].weight = sp->v[i].configured > 0 ? sp->v[i].configured : 1;
        sp->state = SPLIT_ROLLED_BACK;
        sp->rollbacks++;
    }
    snprintf(sp->verdict, sizeof sp->verdict, "%s %s: %s", promote ? "promoted" : "rolled back",
             sp->v[c].model, why);
}

/* ---- JSON ---- */

const char *split_state_name(split_state s)
{
    static const char *const names[] = {"steady", "watching", "rolled_back", "promoted"};
    return (unsigned)s < 4 ? names[s] : "?";
}

static json_t *window_json(const split_window *w)
{
    return json_pack("{s:I, s:I, s:f}", "requests", (json_int_t)w->requests, "failed",
                     (json_int_t)w->failed, "p99_ms", w->p99_s * 1e3);
}

json_t *split_json(const split *sp)
{
    json_t *vs = json_array();
    for (int i = 0; i < sp->n; i++)
        json_array_append_new(vs,
                              json_pack("{s:s, s:f, s:f, s:I}", "model", sp->v[i].model, "weight",
                                        sp->v[i].weight, "configured_weight", sp->v[i].configured,
                                        "routed", (json_int_t)sp->v[i].routed));
    json_t *j =
        json_pack("{s:s, s:b, s:o, s:s, s:s}", "name", sp->name, "sticky", sp->sticky, "versions",
                  vs, "state", split_state_name(sp->state), "verdict", sp->verdict);
    if (j && sp->canary.version >= 0) {
        const split_canary *c = &sp->canary;
        json_object_set_new(
            j, "canary",
            json_pack("{s:s, s:f, s:i, s:f, s:f, s:f, s:I, s:I, s:I, s:o, s:o}", "version",
                      sp->v[c->version].model, "window_s", c->window_s, "min_requests",
                      c->min_requests, "error_margin", c->error_margin, "latency_margin",
                      c->latency_margin, "promote_after_s", c->promote_after_s, "windows_judged",
                      (json_int_t)sp->windows_judged, "rollbacks", (json_int_t)sp->rollbacks,
                      "promotions", (json_int_t)sp->promotions, "last_canary",
                      window_json(&sp->last_canary), "last_others", window_json(&sp->last_others)));
    }
    return j;
}
