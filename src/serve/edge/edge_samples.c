/* A bounded sample of recent query images per detector (see edge_samples.h). */
#include "serve/edge/edge_samples.h"

#include "util/clock.h"
#include "vision/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SAMPLES_MAX_LIST 4096 /* images of one folder looked at when pruning */

typedef struct last_offer {
    char id[EDGE_ID_MAX];
    uint64_t at_ns;                        /* the last image kept in the sample */
    uint64_t recent_ns;                    /* the last one kept in memory */
    edge_image recent[EDGE_RECENT_IMAGES]; /* newest first (mu) */
} last_offer;

struct edge_samples {
    server *srv;
    char root[4096]; /* STATE/samples */
    /* limits (loop thread; copied into each job) */
    int max_count;
    int64_t max_bytes;
    double interval_s, retention_s;
    last_offer *last; /* per detector (the table: loop thread; recent[]: mu) */
    int n_last, cap_last;
    pthread_mutex_t mu;
    atomic_uint seq;
};

typedef struct sample_job {
    workq_job job;
    char root[4096], dir[4200];
    int max_count;
    int64_t max_bytes;
    double retention_s;
    unsigned seq;
    size_t len;
    unsigned char body[]; /* a copy */
} sample_job;

edge_samples *edge_samples_create(server *s, const char *state_dir)
{
    edge_samples *es = calloc(1, sizeof *es);
    if (!es) return NULL;
    es->srv = s;
    snprintf(es->root, sizeof es->root, "%s/samples", state_dir);
    pthread_mutex_init(&es->mu, NULL);
    return es;
}

void edge_samples_destroy(edge_samples *es)
{
    if (!es) return;
    for (int i = 0; i < es->n_last; i++)
        for (int k = 0; k < EDGE_RECENT_IMAGES; k++)
            free(es->last[i].recent[k].data);
    free(es->last);
    pthread_mutex_destroy(&es->mu);
    free(es);
}

void edge_samples_configure(edge_samples *es, const edge_config *c)
{
    es->max_count = c->calibration_samples;
    es->max_bytes = (int64_t)c->calibration_max_bytes;
    es->interval_s = c->calibration_sample_interval_s;
    es->retention_s = c->calibration_retention_s;
}

int edge_samples_dir(const edge_samples *es, const char *id, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", es->root, id);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return name[0] != '.' && dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".png"));
}

typedef struct sample_file {
    char name[64];
    int64_t bytes, mtime_ms;
} sample_file;

static int by_age(const void *a, const void *b)
{
    const sample_file *x = a, *y = b; /* names start with the Unix ms they were kept at */
    return strcmp(x->name, y->name);
}

/* Lists the images of dir (at most cap) oldest first; -1 if unreadable. */
static int list_samples(const char *dir, sample_file *f, int cap)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    char path[4300];
    while ((e = readdir(d)) && n < cap) {
        struct stat st;
        if (!is_image_name(e->d_name) || strlen(e->d_name) >= sizeof f[n].name) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
        snprintf(f[n].name, sizeof f[n].name, "%s", e->d_name);
        f[n].bytes = (int64_t)st.st_size;
        f[n].mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        n++;
    }
    closedir(d);
    qsort(f, (size_t)n, sizeof *f, by_age);
    return n;
}

int edge_samples_count(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += is_image_name(e->d_name);
    closedir(d);
    return n;
}

/* Removes the oldest images past the count, the bytes or the retention. */
static void prune(const sample_job *j)
{
    sample_file *f = malloc(SAMPLES_MAX_LIST * sizeof *f);
    int n = f ? list_samples(j->dir, f, SAMPLES_MAX_LIST) : -1;
    int64_t total = 0, oldest_ok = clock_unix_ms() - (int64_t)(j->retention_s * 1000);
    for (int i = 0; i < n; i++)
        total += f[i].bytes;
    char path[4300];
    for (int i = 0; i < n; i++) {
        int over = n - i > j->max_count || total > j->max_bytes || f[i].mtime_ms < oldest_ok;
        if (!over) break;
        snprintf(path, sizeof path, "%s/%s", j->dir, f[i].name);
        if (!unlink(path)) total -= f[i].bytes;
    }
    free(f);
}

static void write_sample(workq_job *job)
{
    sample_job *j = (sample_job *)job;
    vision_decoder *dec = vision_decoder_create(NULL);
    vision_image img;
    vision_image_init(&img);
    vision_error verr;
    vision_format fmt = vision_sniff(j->body, j->len);
    /* only an image that decodes is kept: calibration reads them all */
    if (dec && fmt != VISION_FORMAT_UNKNOWN &&
        vision_decode(dec, j->body, j->len, NULL, &img, &verr) == VISION_OK) {
        char tmp[4300], path[4300];
        const char *ext = fmt == VISION_FORMAT_PNG ? "png" : "jpg";
        snprintf(path, sizeof path, "%s/%013lld-%u.%s", j->dir, (long long)clock_unix_ms(), j->seq,
                 ext);
        snprintf(tmp, sizeof tmp, "%s/.tmp-%u", j->dir, j->seq);
        mkdir(j->root, 0755);
        mkdir(j->dir, 0755);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int ok = fd >= 0 && write(fd, j->body, j->len) == (ssize_t)j->len;
        if (fd >= 0 && close(fd)) ok = 0;
        if (!ok || rename(tmp, path)) unlink(tmp);
        prune(j);
    }
    vision_image_dispose(&img);
    vision_decoder_destroy(dec);
    free(j);
}

/* The detector's entry, created if needed; NULL when out of memory. Loop
 * thread (the table grows under mu: the updater reads it). */
static last_offer *offer_of(edge_samples *es, const char *id)
{
    for (int i = 0; i < es->n_last; i++)
        if (!strcmp(es->last[i].id, id)) return &es->last[i];
    pthread_mutex_lock(&es->mu);
    last_offer *lo = NULL;
    if (es->n_last == es->cap_last) {
        int cap = es->cap_last ? es->cap_last * 2 : 8;
        last_offer *n = realloc(es->last, (size_t)cap * sizeof *n);
        if (n) {
            es->last = n;
            es->cap_last = cap;
        }
    }
    if (es->n_last < es->cap_last) {
        lo = &es->last[es->n_last++];
        memset(lo, 0, sizeof *lo);
        snprintf(lo->id, sizeof lo->id, "%s", id);
    }
    pthread_mutex_unlock(&es->mu);
    return lo;
}

/* Keeps a copy of body among d's recent images (at most one a second). */
static void keep_recent(edge_samples *es, last_offer *lo, const void *body, size_t len,
                        uint64_t now)
{
    if (len > EDGE_RECENT_MAX_BYTES || (lo->recent_ns && now - lo->recent_ns < 1000000000u)) return;
    unsigned char *copy = malloc(len);
    if (!copy) return;
    memcpy(copy, body, len);
    lo->recent_ns = now;
    pthread_mutex_lock(&es->mu);
    free(lo->recent[EDGE_RECENT_IMAGES - 1].data);
    memmove(&lo->recent[1], &lo->recent[0], (EDGE_RECENT_IMAGES - 1) * sizeof lo->recent[0]);
    lo->recent[0] = (edge_image){copy, len};
    pthread_mutex_unlock(&es->mu);
}

int edge_samples_recent(edge_samples *es, const char *id, edge_image *out)
{
    int n = 0;
    if (!es) return 0;
    pthread_mutex_lock(&es->mu);
    for (int i = 0; i < es->n_last; i++) {
        if (strcmp(es->last[i].id, id)) continue;
        for (int k = 0; k < EDGE_RECENT_IMAGES && es->last[i].recent[k].data; k++) {
            unsigned char *c = malloc(es->last[i].recent[k].len);
            if (!c) break;
            memcpy(c, es->last[i].recent[k].data, es->last[i].recent[k].len);
            out[n++] = (edge_image){c, es->last[i].recent[k].len};
        }
    }
    pthread_mutex_unlock(&es->mu);
    return n;
}

void edge_samples_offer(edge_samples *es, const edge_detector *d, const void *body, size_t len)
{
    if (!es || !len) return;
    uint64_t now = clock_now_ns();
    last_offer *lo = offer_of(es, d->id);
    if (!lo) return;
    keep_recent(es, lo, body, len, now);
    if (!d->calibrate_from_traffic || len > ((size_t)64 << 20) ||
        (lo->at_ns && now - lo->at_ns < (uint64_t)(es->interval_s * 1e9)))
        return;
    lo->at_ns = now;
    sample_job *j = malloc(sizeof *j + len);
    if (!j) return;
    memset(j, 0, sizeof *j);
    if (edge_samples_dir(es, d->id, j->dir, sizeof j->dir)) {
        free(j);
        return;
    }
    snprintf(j->root, sizeof j->root, "%s", es->root);
    j->job.fn = write_sample;
    j->max_count = es->max_count;
    j->max_bytes = es->max_bytes;
    j->retention_s = es->retention_s;
    j->seq = atomic_fetch_add(&es->seq, 1);
    j->len = len;
    memcpy(j->body, body, len);
    workq_push(es->srv->workers, &j->job);
}
