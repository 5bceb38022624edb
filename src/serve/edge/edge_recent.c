/* Recent image queries (see edge_recent.h): a ring of entries with two
 * chained hash indexes. */
#include "serve/edge/edge_recent.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 64

typedef struct entry {
    char id[KEY_MAX], req[KEY_MAX]; /* id "" = free slot */
    char *json;
    int next_id, next_req; /* chains, -1 ends */
} entry;

struct edge_recent {
    pthread_mutex_t mu;
    entry *e;
    int cap, head; /* head: the slot written next (the oldest when full) */
    int *by_id, *by_req;
    uint32_t mask;
};

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

edge_recent *edge_recent_create(int capacity)
{
    edge_recent *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    uint32_t buckets = 16;
    while (buckets < (uint32_t)capacity * 2)
        buckets <<= 1;
    t->cap = capacity;
    t->mask = buckets - 1;
    t->e = calloc((size_t)capacity, sizeof *t->e);
    t->by_id = malloc(buckets * sizeof *t->by_id);
    t->by_req = malloc(buckets * sizeof *t->by_req);
    if (!t->e || !t->by_id || !t->by_req) {
        edge_recent_destroy(t);
        return NULL;
    }
    memset(t->by_id, 0xff, buckets * sizeof *t->by_id);
    memset(t->by_req, 0xff, buckets * sizeof *t->by_req);
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void edge_recent_destroy(edge_recent *t)
{
    if (!t) return;
    for (int i = 0; t->e && i < t->cap; i++)
        free(t->e[i].json);
    free(t->e);
    free(t->by_id);
    free(t->by_req);
    if (t->mask) pthread_mutex_destroy(&t->mu);
    free(t);
}

/* Unlinks slot i from the chain starting at *head (next at offset). */
static void unlink_slot(edge_recent *t, int *head, int i, int by_req)
{
    for (int *p = head; *p >= 0; p = by_req ? &t->e[*p].next_req : &t->e[*p].next_id)
        if (*p == i) {
            *p = by_req ? t->e[i].next_req : t->e[i].next_id;
            return;
        }
}

static int find(const edge_recent *t, const char *key, int by_req)
{
    int i = (by_req ? t->by_req : t->by_id)[hash(key) & t->mask];
    for (; i >= 0; i = by_req ? t->e[i].next_req : t->e[i].next_id)
        if (!strcmp(by_req ? t->e[i].req : t->e[i].id, key)) return i;
    return -1;
}

static void forget(edge_recent *t, int i)
{
    entry *e = &t->e[i];
    if (!e->id[0]) return;
    unlink_slot(t, &t->by_id[hash(e->id) & t->mask], i, 0);
    if (e->req[0]) unlink_slot(t, &t->by_req[hash(e->req) & t->mask], i, 1);
    free(e->json);
    memset(e, 0, sizeof *e);
}

int edge_recent_put(edge_recent *t, const char *id, const char *request_id, const char *json)
{
    if (!id[0] || strlen(id) >= KEY_MAX) return 0; /* ids are validated before: not kept */
    char *copy = strdup(json);
    if (!copy) return -1;
    pthread_mutex_lock(&t->mu);
    int old = find(t, id, 0);
    if (old >= 0) forget(t, old);
    int i = t->head;
    t->head = (t->head + 1) % t->cap;
    forget(t, i);
    entry *e = &t->e[i];
    snprintf(e->id, sizeof e->id, "%s", id);
    if (request_id && strlen(request_id) < KEY_MAX)
        snprintf(e->req, sizeof e->req, "%s", request_id);
    e->json = copy;
    int *h = &t->by_id[hash(e->id) & t->mask];
    e->next_id = *h;
    *h = i;
    e->next_req = -1;
    if (e->req[0]) {
        h = &t->by_req[hash(e->req) & t->mask];
        e->next_req = *h;
        *h = i;
    }
    pthread_mutex_unlock(&t->mu);
    return 0;
}

int edge_recent_update(edge_recent *t, const char *id, const char *json)
{
    char *copy = strdup(json);
    if (!copy) return 0;
    pthread_mutex_lock(&t->mu);
    int i = find(t, id, 0);
    if (i >= 0) {
        free(t->e[i].json);
        t->e[i].json = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&t->mu);
    free(copy);
    return i >= 0;
}

static char *get(edge_recent *t, const char *key, int by_req)
{
    if (!key || !key[0]) return NULL;
    pthread_mutex_lock(&t->mu);
    int i = find(t, key, by_req);
    char *j = i >= 0 ? strdup(t->e[i].json) : NULL;
    pthread_mutex_unlock(&t->mu);
    return j;
}

char *edge_recent_get(edge_recent *t, const char *id)
{
    return get(t, id, 0);
}

char *edge_recent_get_by_request(edge_recent *t, const char *request_id)
{
    return get(t, request_id, 1);
}
