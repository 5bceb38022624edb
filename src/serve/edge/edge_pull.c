/* The model updater of the edge endpoint (see edge_pull.h). */
#include "serve/edge/edge_pull.h"

#include "model/fileio.h"
#include "model/precision.h"
#include "model/reference.h"
#include "serve/edge/edge_samples.h"
#include "vision/image.h"
#include "model/store.h"
#include "serve/core/errmsg.h"
#include "util/clock.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define URLS_MAX_BYTES ((size_t)1 << 20) /* a fetch-model-urls answer */
#define ID_MAX 128                       /* a model_binary_id */
#define BACKOFF_MAX 32                   /* x refresh_rate */
/* a package's files and its tar headers */
#define DOWNLOAD_MAX_BYTES (MODEL_STORE_MAX_BYTES + (MODEL_STORE_MAX_FILES + 4) * 1024ull)

typedef enum reason {
    R_UPSTREAM, /* fetch-model-urls failed: unreachable, timeout, non-200, bad JSON */
    R_DOWNLOAD, /* the binary: unreachable, timeout, non-2xx, truncated, too big */
    R_CHECKSUM, /* its sha256 is not its id */
    R_PACKAGE,  /* not a package the store takes */
    R_CHECK,    /* it does not reproduce its reference pair */
    R_LOAD,     /* the version does not load */
    R_DISK,     /* the state folder cannot be written */
    R_COUNT
} reason;
static const char *const reason_names[R_COUNT] = {"upstream", "download", "checksum", "package",
                                                  "check",    "load",     "disk"};

typedef struct slot {
    char id[EDGE_ID_MAX];     /* the detector's, or <detector>-oodd: its repository model */
    char det_id[EDGE_ID_MAX]; /* the detector whose fetch-model-urls it reads */
    int oodd;                 /* the out-of-domain model: the oodd_* fields */
    char *source;             /* a repository folder's `source:` URL (not a detector's) */
    char source_sha256[65];   /* what its body must hash to ("" if not pinned) */
    char folder[4096];        /* that folder: its model.yaml goes with an ONNX body */
    int wanted;               /* in the active config */
    int busy;                 /* the thread works on it (mu) */
    int stored_pending;       /* a stored version to serve at start, not yet installed (mu) */
    /* the thread's own */
    model_store st;
    int store_open, stored_tried;
    int loaded;                      /* the newest version handed to the loop */
    char loaded_id[ID_MAX];          /* its id upstream: what a poll compares with */
    char rejected_id[ID_MAX];        /* rolled back from: not pulled again (file "rejected") */
    int rollback;                    /* asked for (mu) */
    char attempt_id[ID_MAX];         /* the binary being fetched ("" while polling) */
    int calibrate;                   /* int8 from its traffic's sample (mu) */
    char calibration[SERVE_ERR_MAX]; /* how the last calibration went (mu) */
    char failed_id[ID_MAX];          /* the binary whose failure set the backoff (mu) */
    /* status (mu) */
    int version;            /* serving (installed by the loop); 0 none */
    char binary_id[ID_MAX]; /* its id upstream ("" unknown) */
    char state[64];
    char last_error[SERVE_ERR_MAX];
    int64_t last_check_ms, last_update_ms;
    double last_update_s; /* poll to installed, of the last update */
    int64_t last_bytes;   /* of the last download */
    double last_download_s;
    uint64_t updates, failures[R_COUNT], auto_rollbacks;
    /* the watch of a version just swapped in (loop thread) */
    repo_model *watched;     /* a reference, NULL when none */
    uint64_t watch_until_ns; /* its end */
    uint64_t base_image_ns;  /* the previous version's per-image run time */
    double base_errors;      /* its share of failed requests */
    char watch_verdict[SERVE_ERR_MAX];
    uint64_t next_ns;
    double backoff_s;
} slot;

typedef struct install {
    struct install *next;
    slot *sl;
    int rollback;  /* a rollback: not watched */
    int precision; /* the entry's, for its reloads */
    char id[EDGE_ID_MAX];
    char bin_id[ID_MAX];
    char dir[4096];
    int version;
    repo_model *m;
} install;

struct edge_pull {
    server *srv;
    edge_samples *samples; /* the detectors' recent query images */
    char root[4096];       /* STATE/models */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int stop;
    /* the config (mu) */
    char upstream[EDGE_TEXT_MAX], token[EDGE_TEXT_MAX];
    double refresh_s;
    double rate; /* download bytes/s, 0 unlimited */
    /* automatic rollback (loop thread) */
    double rb_window_s, rb_error_margin, rb_latency_margin;
    char samples_root[4096]; /* STATE/samples (edge_samples.h) */
    int calib_min;           /* sample images needed (mu) */
    int rb_min_requests;
    uint64_t next_watch_ns;
    slot **slots;
    int n_slots, cap_slots;
    install *installs; /* loaded, for the loop to install, newest first (mu) */
    atomic_int n_installs;
};

/* ---- status ---- */

/* What a slot keeps up to date, for messages. */
static const char *what(const slot *sl)
{
    return sl->source ? "model" : "detector";
}

static void set_state(edge_pull *p, slot *sl, const char *state)
{
    pthread_mutex_lock(&p->mu);
    snprintf(sl->state, sizeof sl->state, "%s", state);
    pthread_mutex_unlock(&p->mu);
}

/* Schedules the next poll of sl in `after` seconds (mu held). */
static void schedule(slot *sl, double after)
{
    sl->next_ns = clock_now_ns() + (uint64_t)(after * 1e9);
}

/* A poll found nothing new: the state says why, errors and backoff clear,
 * the next poll is a refresh away (mu held). */
static void nothing_new(slot *sl, double refresh, const char *state)
{
    snprintf(sl->state, sizeof sl->state, "%s", state);
    sl->last_error[0] = 0;
    sl->backoff_s = 0;
    schedule(sl, refresh);
}

static void failed(edge_pull *p, slot *sl, double refresh, reason r, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void failed(edge_pull *p, slot *sl, double refresh, reason r, const char *fmt, ...)
{
    char msg[SERVE_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char text[SERVE_ERR_MAX];
    snprintf(text, sizeof text, "%s: %s", reason_names[r], msg);
    pthread_mutex_lock(&p->mu);
    sl->failures[r]++;
    int again_same = !strcmp(sl->last_error, text); /* logged already */
    snprintf(sl->last_error, sizeof sl->last_error, "%s", text);
    snprintf(sl->state, sizeof sl->state, "%s", sl->version ? "serving" : "no version");
    /* the backoff grows while the same thing fails; another binary starts afresh */
    int other = strcmp(sl->attempt_id, sl->failed_id) != 0;
    snprintf(sl->failed_id, sizeof sl->failed_id, "%s", sl->attempt_id);
    sl->backoff_s = sl->backoff_s > 0 && !other ? sl->backoff_s * 2 : refresh;
    if (sl->backoff_s > BACKOFF_MAX * refresh) sl->backoff_s = BACKOFF_MAX * refresh;
    schedule(sl, sl->backoff_s);
    double again = sl->backoff_s;
    int serving = sl->version;
    pthread_mutex_unlock(&p->mu);
    if (again_same) return;
    fprintf(stderr, "glint serve: %s %s: model update failed (%s), %s; again in %.0f s: %s\n",
            what(sl), sl->id, reason_names[r],
            serving ? "the version serving stays" : "no pulled version yet", again, msg);
}

/* ---- HTTP ---- */

typedef struct membuf {
    char *p;
    size_t len, limit;
} membuf;

static size_t on_mem(char *data, size_t size, size_t n, void *arg)
{
    membuf *b = arg;
    size_t k = size * n;
    if (b->len + k > b->limit) return 0; /* too big: the transfer fails */
    char *np = realloc(b->p, b->len + k + 1);
    if (!np) return 0;
    memcpy(np + b->len, data, k);
    b->p = np;
    b->len += k;
    b->p[b->len] = 0;
    return k;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    return atomic_load(&((edge_pull *)arg)->stop); /* non-zero aborts */
}

/* An easy handle for url: http(s) only, stop-aware. */
static CURL *easy_for(edge_pull *p, const char *url)
{
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, p);
    return c;
}

/* GET {upstream}/edge-api/v1/fetch-model-urls/{id}/: the JSON object (a new
 * reference), or NULL with err; *status is the HTTP status (0: none). */
static json_t *fetch_urls(edge_pull *p, const char *upstream, const char *token, const char *id,
                          long *status, char *err, size_t err_size)
{
    char url[EDGE_TEXT_MAX + 128], hdr[EDGE_TEXT_MAX + 32];
    size_t ul = strlen(upstream);
    snprintf(url, sizeof url, "%s%sedge-api/v1/fetch-model-urls/%s/", upstream,
             ul && upstream[ul - 1] == '/' ? "" : "/", id);
    *status = 0;
    CURL *c = easy_for(p, url);
    if (!c) {
        errmsg_set(err, err_size, "curl_easy_init failed");
        return NULL;
    }
    struct curl_slist *h = NULL;
    snprintf(hdr, sizeof hdr, "x-api-token: %s", token);
    h = curl_slist_append(h, hdr);
    h = curl_slist_append(h, "Accept: application/json");
    membuf b = {.limit = URLS_MAX_BYTES};
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_mem);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    json_t *doc = NULL;
    if (rc != CURLE_OK) {
        errmsg_set(err, err_size, "%s: %s", url, curl_easy_strerror(rc));
    } else if (*status != 200) {
        json_t *d = b.p ? json_loads(b.p, 0, NULL) : NULL;
        const char *detail = json_string_value(json_object_get(d, "detail"));
        errmsg_set(err, err_size, "%s: HTTP %ld%s%s", url, *status, detail ? ": " : "",
                   detail ? detail : "");
        json_decref(d);
    } else if (!(doc = b.p ? json_loads(b.p, 0, NULL) : NULL) || !json_is_object(doc)) {
        errmsg_set(err, err_size, "%s: the answer is not a JSON object", url);
        json_decref(doc);
        doc = NULL;
    }
    free(b.p);
    return doc;
}

typedef struct download {
    edge_pull *p;
    CURL *c;
    int fd;
    int64_t offset;  /* bytes already in the file when the transfer began */
    int64_t written; /* by this transfer */
    int started;     /* the status was looked at */
    int keep;        /* a 2xx body: written to the file */
    int disk_errno;
    int64_t need, avail; /* when the body cannot fit: the bytes it needs, those free */
    const char *dir;     /* the download's folder */
    membuf errbody;      /* a non-2xx body, for the message */
    char etag[ID_MAX];   /* the answer's ETag, "" if none */
} download;

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    download *d = arg;
    size_t k = size * n;
    if (k > 5 && !strncasecmp(data, "etag:", 5)) {
        size_t i = 5, e = k;
        while (i < e && (data[i] == ' ' || data[i] == '\t'))
            i++;
        while (e > i && (data[e - 1] == '\r' || data[e - 1] == '\n' || data[e - 1] == ' '))
            e--;
        if (e - i < sizeof d->etag)
            snprintf(d->etag, sizeof d->etag, "%.*s", (int)(e - i), data + i);
    }
    return k;
}

/* Bytes free to an unprivileged writer in dir's file system; -1 unknown. */
static int64_t free_bytes(const char *dir)
{
    struct statvfs v;
    if (statvfs(dir, &v)) return -1;
    return (int64_t)v.f_bavail * (int64_t)v.f_frsize;
}

static size_t on_file(char *data, size_t size, size_t n, void *arg)
{
    download *d = arg;
    size_t k = size * n;
    if (!d->started) {
        long code = 0;
        curl_easy_getinfo(d->c, CURLINFO_RESPONSE_CODE, &code);
        d->started = 1;
        d->keep = code == 200 || code == 206;
        if (code == 200 && d->offset > 0) { /* the server sent it all again */
            if (ftruncate(d->fd, 0) || lseek(d->fd, 0, SEEK_SET) < 0) {
                d->disk_errno = errno;
                return 0;
            }
            d->offset = 0;
        }
        /* the body and then its version in the store are on disk together */
        curl_off_t rest = -1;
        curl_easy_getinfo(d->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &rest);
        int64_t avail = free_bytes(d->dir);
        if (d->keep && rest > 0 && avail >= 0 && 2 * (d->offset + rest) - d->offset > avail) {
            d->need = 2 * (d->offset + rest) - d->offset;
            d->avail = avail;
            d->disk_errno = ENOSPC;
            return 0;
        }
    }
    if (!d->keep) return on_mem(data, size, n, &d->errbody);
    if ((uint64_t)(d->offset + d->written) + k > DOWNLOAD_MAX_BYTES) return 0;
    for (size_t done = 0; done < k;) {
        ssize_t w = write(d->fd, data + done, k - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            d->disk_errno = w < 0 ? errno : ENOSPC;
            return 0;
        }
        done += (size_t)w;
    }
    d->written += (int64_t)k;
    return k;
}

static int write_small(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    size_t n = strlen(text);
    int rc = write(fd, text, n) == (ssize_t)n && !fsync(fd) ? 0 : -1;
    close(fd);
    return rc;
}

/* Downloads url into dir/download.part, resuming a part of the same binary
 * id left by an interrupted run. 0 (*bytes: the file's size), or -1 with err
 * and *why. */
static int fetch_binary(edge_pull *p, const char *dir, const char *url, const char *bin_id,
                        const char *if_none_match, char *etag, int64_t *bytes, int64_t *resumed,
                        reason *why, char *err, size_t err_size)
{
    char part[4200], idf[4200], had[ID_MAX];
    snprintf(part, sizeof part, "%s/download.part", dir);
    snprintf(idf, sizeof idf, "%s/download.id", dir);
    struct stat sb;
    int64_t offset = 0;
    if (!fileio_read_text(idf, had, sizeof had) && !strcmp(had, bin_id) && !stat(part, &sb))
        offset = (int64_t)sb.st_size;
    else if ((unlink(part) && errno != ENOENT) || write_small(idf, bin_id)) {
        *why = R_DISK;
        errmsg_set(err, err_size, "%s: %s", idf, strerror(errno));
        return -1;
    }
    download d = {.p = p, .offset = offset, .dir = dir, .errbody = {.limit = 4096}};
    d.fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (d.fd < 0 || !(d.c = easy_for(p, url))) {
        *why = R_DISK;
        errmsg_set(err, err_size, "%s: %s", part, strerror(errno));
        if (d.fd >= 0) close(d.fd);
        return -1;
    }
    curl_easy_setopt(d.c, CURLOPT_WRITEFUNCTION, on_file);
    curl_easy_setopt(d.c, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(d.c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(d.c, CURLOPT_HEADERDATA, &d);
    struct curl_slist *hdrs = NULL;
    if (if_none_match && if_none_match[0] && offset == 0) {
        char h[ID_MAX + 32];
        snprintf(h, sizeof h, "If-None-Match: %s", if_none_match);
        hdrs = curl_slist_append(hdrs, h);
        curl_easy_setopt(d.c, CURLOPT_HTTPHEADER, hdrs);
    }
    curl_easy_setopt(d.c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)offset);
    curl_easy_setopt(d.c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)DOWNLOAD_MAX_BYTES);
    /* a stalled transfer ends (below 1 kB/s for 60 s); a slow one goes on */
    curl_easy_setopt(d.c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(d.c, CURLOPT_LOW_SPEED_TIME, 60L);
    pthread_mutex_lock(&p->mu);
    double rate = p->rate;
    pthread_mutex_unlock(&p->mu);
    if (rate > 0) curl_easy_setopt(d.c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)rate);
    CURLcode rc = curl_easy_perform(d.c);
    long code = 0;
    curl_easy_getinfo(d.c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(d.c);
    curl_slist_free_all(hdrs);
    if (etag) snprintf(etag, ID_MAX, "%s", d.etag);
    if (rc == CURLE_OK && code == 304) { /* not modified */
        close(d.fd);
        unlink(part);
        free(d.errbody.p);
        return 1;
    }
    int synced = fsync(d.fd) == 0;
    close(d.fd);
    *resumed = d.offset;
    int ok = rc == CURLE_OK && (code == 200 || code == 206 || (code == 416 && offset > 0));
    if (ok && !synced) d.disk_errno = errno;
    if (d.disk_errno) {
        *why = R_DISK;
        if (d.need)
            errmsg_set(err, err_size,
                       "%s: %lld bytes needed (the download and its version), %lld free", dir,
                       (long long)d.need, (long long)d.avail);
        else
            errmsg_set(err, err_size, "%s: %s", part, strerror(d.disk_errno));
        unlink(part); /* the space goes back to the outbox and the rest */
    } else if (!ok) {
        *why = R_DOWNLOAD;
        if (rc != CURLE_OK)
            errmsg_set(err, err_size, "%s: %s (%lld of the bytes kept for a resume)", url,
                       curl_easy_strerror(rc), (long long)(d.offset + d.written));
        else
            errmsg_set(err, err_size, "%s: HTTP %ld %.200s", url, code,
                       d.errbody.p ? d.errbody.p : "");
        if (code >= 400) unlink(part); /* nothing to resume */
    }
    free(d.errbody.p);
    if (d.disk_errno || !ok) return -1;
    *bytes = d.offset + d.written;
    return 0;
}

/* ---- the update of one detector ---- */

static int is_sha256(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return n == 64;
}

/* The precision a slot's versions load in: auto when it calibrates int8
 * from its traffic (int8 serves only where its report passes). */
static int slot_precision(edge_pull *p, slot *sl)
{
    pthread_mutex_lock(&p->mu);
    int c = sl->calibrate;
    pthread_mutex_unlock(&p->mu);
    return c ? MODEL_PRECISION_AUTO : 0;
}

/* Hands a loaded version to the loop (edge_pull_tick installs it). */
static void hand_over(edge_pull *p, slot *sl, repo_model *m, int v, const char *bin_id,
                      int rollback)
{
    install *in = calloc(1, sizeof *in);
    if (!in) {
        repo_model_release(m);
        return;
    }
    in->sl = sl;
    snprintf(in->id, sizeof in->id, "%s", sl->id);
    snprintf(in->bin_id, sizeof in->bin_id, "%s", bin_id);
    model_store_path(&sl->st, v, in->dir, sizeof in->dir);
    in->version = v;
    in->m = m;
    in->rollback = rollback;
    in->precision = slot_precision(p, sl);
    pthread_mutex_lock(&p->mu);
    in->next = p->installs;
    p->installs = in;
    atomic_fetch_add(&p->n_installs, 1);
    pthread_mutex_unlock(&p->mu);
    sl->loaded = v;
    snprintf(sl->loaded_id, sizeof sl->loaded_id, "%s", bin_id);
}

/* Returns to the version before the one serving: loads it, hands it over,
 * removes the one rolled back from and remembers its id (the file
 * "rejected"), so that polls do not pull it again until the upstream names
 * another. */
static void roll_back(edge_pull *p, slot *sl, const char *dir)
{
    char vdir[4096], origin[ID_MAX], err[SERVE_ERR_MAX], path[4200];
    int from = sl->loaded, to = model_store_prev(&sl->st, from);
    repo_model *m = NULL;
    if (!to) {
        pthread_mutex_lock(&p->mu);
        snprintf(sl->last_error, sizeof sl->last_error, "rollback: no version before %d", from);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    model_store_path(&sl->st, to, vdir, sizeof vdir);
    if (repo_load_dir(p->srv, sl->id, vdir, slot_precision(p, sl), &m, err, sizeof err)) {
        pthread_mutex_lock(&p->mu);
        sl->failures[R_LOAD]++;
        snprintf(sl->last_error, sizeof sl->last_error, "rollback: version %d: %s", to, err);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    snprintf(sl->rejected_id, sizeof sl->rejected_id, "%s", sl->loaded_id);
    snprintf(path, sizeof path, "%s/rejected", dir);
    if (write_small(path, sl->rejected_id))
        fprintf(stderr, "glint serve: %s %s: %s: %s\n", what(sl), sl->id, path, strerror(errno));
    if (model_store_origin(&sl->st, to, origin, sizeof origin)) origin[0] = 0;
    hand_over(p, sl, m, to, origin, 1);
    model_store_remove(&sl->st, from);
    pthread_mutex_lock(&p->mu);
    snprintf(sl->state, sizeof sl->state, "rolled back");
    sl->last_error[0] = 0;
    pthread_mutex_unlock(&p->mu);
    fprintf(stderr, "glint serve: %s %s: rolled back from version %d (%s) to %d\n", what(sl),
            sl->id, from, sl->rejected_id, to);
}

/* Serves the newest stored version that loads (start-up, or offline). */
static void serve_stored(edge_pull *p, slot *sl)
{
    char dir[4096], origin[ID_MAX], err[SERVE_ERR_MAX];
    for (int v = sl->st.newest; v > 0; v = model_store_prev(&sl->st, v)) {
        repo_model *m = NULL;
        model_store_path(&sl->st, v, dir, sizeof dir);
        if (repo_load_dir(p->srv, sl->id, dir, slot_precision(p, sl), &m, err, sizeof err)) {
            pthread_mutex_lock(&p->mu);
            sl->failures[R_LOAD]++;
            snprintf(sl->last_error, sizeof sl->last_error, "load: version %d: %s", v, err);
            pthread_mutex_unlock(&p->mu);
            fprintf(stderr, "glint serve: %s %s: stored version %d does not load: %s\n", what(sl),
                    sl->id, v, err);
            continue;
        }
        if (model_store_origin(&sl->st, v, origin, sizeof origin)) origin[0] = 0;
        fprintf(stderr, "glint serve: %s %s: serving stored version %d (%s)\n", what(sl), sl->id, v,
                origin[0] ? origin : "no id");
        hand_over(p, sl, m, v, origin, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    sl->stored_pending = 0; /* none loads: nothing to wait for */
    pthread_mutex_unlock(&p->mu);
}

/* 1 if dir holds a complete stored version (a folder named by a number). */
static int has_stored_version(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !found)
        found = e->d_name[0] >= '1' && e->d_name[0] <= '9' && !strchr(e->d_name, '.');
    closedir(d);
    return found;
}

/* A new slot `id` (a detector's model or its OODD model, of detector
 * det_id; or, with source, a repository folder following that URL, copied)
 * appended to p's list, with whether a version is stored already; NULL out
 * of memory. Under p->mu. */
static slot *slot_add(edge_pull *p, const char *id, const char *det_id, const char *source)
{
    if (p->n_slots == p->cap_slots) {
        int cap = p->cap_slots ? p->cap_slots * 2 : 8;
        slot **n = realloc(p->slots, (size_t)cap * sizeof *n);
        if (!n) return NULL;
        p->slots = n;
        p->cap_slots = cap;
    }
    slot *sl = calloc(1, sizeof *sl);
    if (!sl || (source && !(sl->source = strdup(source)))) {
        free(sl);
        return NULL;
    }
    snprintf(sl->id, sizeof sl->id, "%s", id);
    snprintf(sl->det_id, sizeof sl->det_id, "%s", det_id);
    snprintf(sl->state, sizeof sl->state, "not checked yet");
    char vdir[4200];
    snprintf(vdir, sizeof vdir, "%s/%s/versions", p->root, id);
    sl->stored_pending = has_stored_version(vdir);
    p->slots[p->n_slots++] = sl;
    return sl;
}

/* ---- int8 from the traffic's sample ---- */

static void set_calibration(edge_pull *p, slot *sl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_calibration(edge_pull *p, slot *sl, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&p->mu);
    va_start(ap, fmt);
    vsnprintf(sl->calibration, sizeof sl->calibration, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&p->mu);
    fprintf(stderr, "glint serve: %s %s: %s\n", what(sl), sl->id, sl->calibration);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4300];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path)) remove_tree(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits the sample images of sdir between work/calib and work/eval (every
 * other one, oldest first) as links; the number linked, -1 on error. */
static int split_sample(const char *sdir, const char *calib, const char *eval)
{
    DIR *d = opendir(sdir);
    if (!d || mkdir(calib, 0755) || mkdir(eval, 0755)) {
        if (d) closedir(d);
        return -1;
    }
    char *names[1024] = {0};
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        const char *dot = strrchr(e->d_name, '.');
        if (e->d_name[0] == '.' || !dot || (strcmp(dot, ".jpg") && strcmp(dot, ".png"))) continue;
        if (!(names[n] = strdup(e->d_name))) break;
        n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_str);
    int linked = 0;
    char from[4300], to[4300];
    for (int i = 0; i < n; i++) {
        snprintf(from, sizeof from, "%s/%s", sdir, names[i]);
        snprintf(to, sizeof to, "%s/%s", i % 2 ? eval : calib, names[i]);
        /* a hard link pins the image while the sample moves on */
        if (!link(from, to) || !symlink(from, to)) linked++;
        free(names[i]);
    }
    return linked;
}

/* Runs glint quantize (this binary, as a child: a failure there cannot take
 * the server down) on version v of sl with its traffic's sample, and moves
 * the int8 model and its report into the version's folder: the repository
 * notices the new files and reloads the version, in precision auto (int8
 * serves only if its report passes). */
static void calibrate_version(edge_pull *p, slot *sl, int v, const char *dir, const char *vdir)
{
    char sdir[4200], work[4200], calib[4300], eval[4300], out[4300], log[4300], path[4400],
        report[4400];
    struct stat sb;
    snprintf(path, sizeof path, "%s/model.int8.onnx", vdir);
    if (!stat(path, &sb)) {
        set_calibration(p, sl, "version %d ships its own int8 model: not calibrated here", v);
        return;
    }
    snprintf(sdir, sizeof sdir, "%s/%s", p->samples_root, sl->id);
    pthread_mutex_lock(&p->mu);
    int need = p->calib_min;
    pthread_mutex_unlock(&p->mu);
    int have = edge_samples_count(sdir);
    if (have < need) {
        set_calibration(p, sl, "version %d not calibrated: %d of the %d sample images needed", v,
                        have, need);
        return;
    }
    snprintf(work, sizeof work, "%s/calibration", dir);
    remove_tree(work);
    snprintf(calib, sizeof calib, "%s/calib", work);
    snprintf(eval, sizeof eval, "%s/eval", work);
    snprintf(out, sizeof out, "%s/model.int8.onnx", work);
    snprintf(log, sizeof log, "%s/quantize.log", dir);
    int linked = mkdir(work, 0755) ? -1 : split_sample(sdir, calib, eval);
    if (linked < 2) {
        set_calibration(p, sl, "version %d not calibrated: %s: %s", v, work, strerror(errno));
        remove_tree(work);
        return;
    }
    set_state(p, sl, "calibrating");
    char *argv[] = {"glint",     "quantize", "--model",     (char *)vdir, "--calib", calib,
                    "--eval",    eval,       "--precision", "int8",       "--out",   out,
                    "--threads", "1",        "--max-calib", "64",         NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    uint64_t t0 = clock_now_ns();
    extern char **environ;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (!rc) setpriority(PRIO_PROCESS, (id_t)pid, 10); /* background work: serving comes first */
    int status = -1;
    if (!rc) {
        for (;;) { /* the server may stop meanwhile: then the child goes */
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid || (w < 0 && errno != EINTR)) break;
            if (atomic_load(&p->stop)) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                remove_tree(work);
                return;
            }
            usleep(50000);
        }
    }
    double secs = (double)(clock_now_ns() - t0) / 1e9;
    int code = !rc && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    snprintf(report, sizeof report, "%s.report.json", out);
    if (code == 0 || code == 3) {
        char dst[4400];
        snprintf(dst, sizeof dst, "%s/model.int8.onnx.report.json", vdir);
        /* the report first: the int8 model's arrival is what the repository sees */
        if (rename(report, dst) || rename(out, path)) {
            set_calibration(p, sl, "version %d: calibration not kept: %s", v, strerror(errno));
        } else {
            int fd = open(vdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd >= 0) {
                fsync(fd);
                close(fd);
            }
            set_calibration(p, sl,
                            code == 0 ? "version %d: int8 calibrated on %d of its traffic's "
                                        "images in %.1f s; its agreement report passes"
                                      : "version %d: int8 calibrated on %d of its traffic's "
                                        "images in %.1f s is below the agreement bar: float serves",
                            v, (linked + 1) / 2, secs);
        }
    } else {
        set_calibration(p, sl, "version %d: calibration failed (%s %d; see %s)", v,
                        rc ? "spawn error" : "exit", rc ? rc : code, log);
    }
    remove_tree(work);
}

/* ---- a new version answers the detector's recent images ---- */

typedef struct probe {
    batch_item bi; /* first */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok, output;
    char err[SERVE_ERR_MAX];
} probe;

/* batch_item.done: the run succeeded and its output row is finite. */
static void probe_ran(batch_item *bi, const batch_result *r)
{
    probe *pr = (probe *)bi;
    int ok = r->status == GLINT_OK;
    if (!ok) {
        snprintf(pr->err, sizeof pr->err, "the run failed: %s", r->error ? r->error : "?");
    } else {
        glint_tensor t;
        glint_context_output(r->ctx, pr->output, &t);
        int64_t n = 1;
        for (int d = 1; d < t.ndim; d++)
            n *= t.dims[d];
        const float *row =
            t.dtype == GLINT_F32 ? (const float *)t.data + (int64_t)r->row * n : NULL;
        for (int64_t i = 0; row && i < n && ok; i++)
            ok = isfinite(row[i]);
        if (!ok) snprintf(pr->err, sizeof pr->err, "its output holds NaN or infinity");
    }
    pthread_mutex_lock(&pr->mu);
    pr->ok = ok;
    pr->done = 1;
    pthread_cond_signal(&pr->cv);
    pthread_mutex_unlock(&pr->mu);
}

/* Runs m, as it will serve (its batcher, its precision), on the detector's
 * recent query images that decode: each must run and answer finite numbers.
 * 0 (also with no image to try), or -1 with err. */
static int answers_recent(edge_pull *p, const slot *sl, repo_model *m, int *tried, char *err,
                          size_t err_size)
{
    edge_image imgs[EDGE_RECENT_IMAGES];
    int n = edge_samples_recent(p->samples, sl->det_id, imgs), rc = 0;
    *tried = 0;
    vision_decoder *dec = n ? vision_decoder_create(NULL) : NULL;
    vision_image img;
    vision_image_init(&img);
    for (int i = 0; dec && i < n && !rc; i++) {
        vision_error verr;
        vision_transform tf;
        batch_slot bs;
        if (vision_decode(dec, imgs[i].data, imgs[i].len, &m->conf->spec, &img, &verr))
            continue; /* the image's fault, not the model's */
        if (batcher_reserve(m->batcher, &bs)) {
            rc = errmsg_set(err, err_size, "the server is stopping");
            break;
        }
        if (vision_prepare(&img, &m->conf->spec, bs.data, bs.floats, &tf, &verr)) {
            batcher_commit(m->batcher, &bs, NULL);
            continue;
        }
        probe pr = {.output = m->conf->output};
        pr.bi.done = probe_ran;
        pthread_mutex_init(&pr.mu, NULL);
        pthread_cond_init(&pr.cv, NULL);
        batcher_commit(m->batcher, &bs, &pr.bi);
        pthread_mutex_lock(&pr.mu);
        while (!pr.done)
            pthread_cond_wait(&pr.cv, &pr.mu);
        pthread_mutex_unlock(&pr.mu);
        pthread_mutex_destroy(&pr.mu);
        pthread_cond_destroy(&pr.cv);
        (*tried)++;
        if (!pr.ok) rc = errmsg_set(err, err_size, "on a recent query image: %s", pr.err);
    }
    vision_image_dispose(&img);
    vision_decoder_destroy(dec);
    for (int i = 0; i < n; i++)
        free(imgs[i].data);
    return rc;
}

typedef struct job {
    char upstream[EDGE_TEXT_MAX], token[EDGE_TEXT_MAX];
    double refresh;
} job;

/* Version v (from upstream id `id`) was just added to sl's store: check it,
 * load it, have it answer the recent images, hand it to the loop, calibrate
 * it; any failure removes it and is counted. */
static void adopt_version(edge_pull *p, slot *sl, const job *j, const char *dir, int v,
                          const char *id, uint64_t t0, int64_t bytes, double dl_s, int64_t resumed)
{
    char err[SERVE_ERR_MAX];
    char vdir[4096], onnx[4200], ref_in[4200], ref_out[4200];
    model_store_path(&sl->st, v, vdir, sizeof vdir);
    snprintf(onnx, sizeof onnx, "%s/model.onnx", vdir);
    snprintf(ref_in, sizeof ref_in, "%s/" MODEL_REFERENCE_INPUT, vdir);
    snprintf(ref_out, sizeof ref_out, "%s/" MODEL_REFERENCE_OUTPUT, vdir);
    struct stat sb;
    if (!stat(ref_in, &sb) || !stat(ref_out, &sb)) {
        set_state(p, sl, "checking");
        model_tolerance tol = {.rtol = 1e-3, .atol = 1e-4};
        if (model_reference_check(onnx, ref_in, ref_out, &tol, err, sizeof err)) {
            model_store_remove(&sl->st, v);
            failed(p, sl, j->refresh, R_CHECK, "version %d (%s): %s", v, id, err);
            return;
        }
    }
    set_state(p, sl, "loading");
    repo_model *m = NULL;
    uint64_t t2 = clock_now_ns();
    if (repo_load_dir(p->srv, sl->id, vdir, slot_precision(p, sl), &m, err, sizeof err)) {
        model_store_remove(&sl->st, v);
        failed(p, sl, j->refresh, R_LOAD, "version %d (%s): %s", v, id, err);
        return;
    }
    double load_s = (double)(clock_now_ns() - t2) / 1e9;
    int tried = 0;
    if (answers_recent(p, sl, m, &tried, err, sizeof err)) {
        repo_model_release(m);
        model_store_remove(&sl->st, v);
        failed(p, sl, j->refresh, R_CHECK, "version %d (%s): %s", v, id, err);
        return;
    }
    int from = sl->loaded;
    hand_over(p, sl, m, v, id, 0);
    model_store_prune(&sl->st);
    pthread_mutex_lock(&p->mu);
    sl->updates++;
    snprintf(sl->state, sizeof sl->state, "up to date");
    sl->last_error[0] = 0;
    sl->backoff_s = 0;
    sl->last_update_ms = clock_unix_ms();
    sl->last_update_s = (double)(clock_now_ns() - t0) / 1e9;
    sl->last_bytes = bytes;
    sl->last_download_s = dl_s;
    schedule(sl, j->refresh);
    pthread_mutex_unlock(&p->mu);
    fprintf(stderr,
            "glint serve: %s %s: version %d (%s) loaded, replacing %d: %lld bytes in %.2f s"
            "%s, loaded in %.2f s\n",
            what(sl), sl->id, v, id, from, (long long)bytes, dl_s, resumed ? " (resumed)" : "",
            load_s);
    pthread_mutex_lock(&p->mu);
    int calibrate = sl->calibrate;
    pthread_mutex_unlock(&p->mu);
    if (calibrate) calibrate_version(p, sl, v, dir, vdir);
}

/* Without a binary, the upstream's pipeline_config is the model.yaml of the
 * version serving: when it differs from the one that version has, the next
 * version is that version's files with the new model.yaml. 0 (*v added, its
 * id "config-<sha256 prefix>"), 1 nothing changed, -1 with err. */
static int config_version(slot *sl, const char *yaml, int *v, char *id, size_t id_size, char *err,
                          size_t err_size)
{
    char vdir[4096], path[4400], hex[65];
    model_store_path(&sl->st, sl->loaded, vdir, sizeof vdir);
    snprintf(path, sizeof path, "%s/model.yaml", vdir);
    size_t len = 0;
    char *have = fileio_read(path, 1 << 20, &len);
    int same = have && len == strlen(yaml) && !memcmp(have, yaml, len);
    free(have);
    if (same) return 1;
    DIR *d = opendir(vdir);
    if (!d) return errmsg_set(err, err_size, "%s: %s", vdir, strerror(errno));
    model_store_file files[MODEL_STORE_MAX_FILES];
    char *bufs[MODEL_STORE_MAX_FILES], *names[MODEL_STORE_MAX_FILES];
    int n = 0, rc = 0, has_yaml = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MODEL_STORE_MAX_FILES - 1 && !rc) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", vdir, e->d_name);
        int is_yaml = !strcmp(e->d_name, "model.yaml");
        size_t sz = 0;
        bufs[n] = is_yaml ? NULL : fileio_read(path, MODEL_STORE_MAX_BYTES, &sz);
        names[n] = strdup(e->d_name);
        if ((!is_yaml && !bufs[n]) || !names[n]) {
            rc = errmsg_set(err, err_size, "%s: %s", path, strerror(errno));
            free(bufs[n]);
            free(names[n]);
            break;
        }
        has_yaml |= is_yaml;
        files[n] =
            (model_store_file){names[n], is_yaml ? yaml : bufs[n], is_yaml ? strlen(yaml) : sz};
        n++;
    }
    closedir(d);
    if (!rc && !has_yaml) {
        bufs[n] = NULL;
        names[n] = NULL;
        files[n++] = (model_store_file){"model.yaml", yaml, strlen(yaml)};
    }
    if (!rc) {
        if (model_store_sha256(yaml, strlen(yaml), hex)) hex[0] = 0;
        snprintf(id, id_size, "config-%.16s", hex);
        rc = model_store_add_files(&sl->st, files, n, id, v, err, err_size);
    }
    for (int i = 0; i < n; i++) {
        free(bufs[i]);
        free(names[i]);
    }
    return rc;
}

/* A repository folder's `source:`: a conditional GET (If-None-Match with the
 * last ETag: 304 is nothing new), and a body whose sha256 is new (and the
 * pinned one, if given) becomes the next version: a package, or an ONNX file
 * with the folder's own model.yaml. */
static void update_source(edge_pull *p, slot *sl, const job *j, const char *dir)
{
    char err[SERVE_ERR_MAX], etagf[4200], etag[ID_MAX] = "", new_etag[ID_MAX] = "", hex[65];
    char part[4200], idf[4200];
    uint64_t t0 = clock_now_ns();
    snprintf(etagf, sizeof etagf, "%s/etag", dir);
    snprintf(part, sizeof part, "%s/download.part", dir);
    snprintf(idf, sizeof idf, "%s/download.id", dir);
    if (!sl->loaded || fileio_read_text(etagf, etag, sizeof etag)) etag[0] = 0;
    snprintf(sl->attempt_id, sizeof sl->attempt_id, "%s", sl->source);
    set_state(p, sl, "downloading");
    int64_t bytes = 0, resumed = 0;
    reason why = R_DOWNLOAD;
    int rc = fetch_binary(p, dir, sl->source, "source", etag, new_etag, &bytes, &resumed, &why, err,
                          sizeof err);
    double dl_s = (double)(clock_now_ns() - t0) / 1e9;
    pthread_mutex_lock(&p->mu);
    sl->last_check_ms = clock_unix_ms();
    pthread_mutex_unlock(&p->mu);
    if (rc < 0) {
        if (!atomic_load(&p->stop)) failed(p, sl, j->refresh, why, "%s", err);
        return;
    }
    int fd = rc ? -1 : open(part, O_RDONLY | O_CLOEXEC);
    void *map = fd >= 0 && bytes > 0 ? mmap(NULL, (size_t)bytes, PROT_READ, MAP_PRIVATE, fd, 0)
                                     : MAP_FAILED;
    if (fd >= 0) close(fd);
    int v = 0, same = rc == 1, stored = -1;
    why = R_PACKAGE;
    if (map != MAP_FAILED && model_store_sha256(map, (size_t)bytes, hex) == 0) {
        same = !strcmp(hex, sl->loaded_id) || !strcmp(hex, sl->rejected_id);
        if (sl->source_sha256[0] && strcmp(hex, sl->source_sha256)) {
            why = R_CHECKSUM;
            errmsg_set(err, sizeof err, "sha256 %s of %s is not the pinned %s", hex, sl->source,
                       sl->source_sha256);
        } else if (!same && model_store_is_package(map, (size_t)bytes)) {
            stored = model_store_add(&sl->st, map, (size_t)bytes, NULL, hex, &v, err, sizeof err);
        } else if (!same) { /* an ONNX file: with the folder's model.yaml */
            char ypath[4200];
            size_t ylen = 0;
            snprintf(ypath, sizeof ypath, "%s/model.yaml", sl->folder);
            char *yaml = fileio_read(ypath, 1 << 20, &ylen);
            model_store_file files[2] = {{"model.onnx", map, (size_t)bytes},
                                         {"model.yaml", yaml, ylen}};
            stored = model_store_add_files(&sl->st, files, yaml ? 2 : 1, hex, &v, err, sizeof err);
            free(yaml);
        }
        if (stored && (strstr(err, strerror(ENOSPC)) || strstr(err, strerror(EDQUOT))))
            why = R_DISK;
    } else if (!rc) {
        errmsg_set(err, sizeof err, "%s: an empty body", sl->source);
    }
    if (map != MAP_FAILED) munmap(map, (size_t)bytes);
    unlink(part);
    unlink(idf);
    if (!same && stored) {
        failed(p, sl, j->refresh, why, "%s", err);
        return;
    }
    if (new_etag[0]) write_small(etagf, new_etag);
    if (same) { /* 304, or the same bytes again */
        pthread_mutex_lock(&p->mu);
        nothing_new(sl, j->refresh, "up to date");
        pthread_mutex_unlock(&p->mu);
        return;
    }
    adopt_version(p, sl, j, dir, v, hex, t0, bytes, dl_s, resumed);
}

static void update(edge_pull *p, slot *sl, const job *j)
{
    char dir[4096], err[SERVE_ERR_MAX];
    snprintf(dir, sizeof dir, "%s/%s", p->root, sl->id);
    if (!sl->store_open) {
        struct stat sb;
        if (!j->upstream[0] && !sl->source && stat(dir, &sb)) { /* nothing stored or to pull */
            pthread_mutex_lock(&p->mu);
            schedule(sl, j->refresh);
            pthread_mutex_unlock(&p->mu);
            return;
        }
        if ((mkdir(p->root, 0755) && errno != EEXIST) ||
            model_store_open(&sl->st, dir, err, sizeof err)) {
            failed(p, sl, j->refresh, R_DISK, "%s: %s", dir, err[0] ? err : strerror(errno));
            return;
        }
        sl->store_open = 1;
    }
    if (!sl->stored_tried) {
        char path[4200];
        sl->stored_tried = 1;
        snprintf(path, sizeof path, "%s/rejected", dir);
        if (fileio_read_text(path, sl->rejected_id, sizeof sl->rejected_id)) sl->rejected_id[0] = 0;
        serve_stored(p, sl);
    }
    pthread_mutex_lock(&p->mu);
    int rollback = sl->rollback;
    sl->rollback = 0;
    pthread_mutex_unlock(&p->mu);
    if (rollback) roll_back(p, sl, dir);
    if (sl->source) {
        update_source(p, sl, j, dir);
        return;
    }
    if (!j->upstream[0]) {
        pthread_mutex_lock(&p->mu);
        schedule(sl, j->refresh);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    uint64_t t0 = clock_now_ns();
    long status;
    sl->attempt_id[0] = 0;
    json_t *doc = fetch_urls(p, j->upstream, j->token, sl->det_id, &status, err, sizeof err);
    pthread_mutex_lock(&p->mu);
    sl->last_check_ms = clock_unix_ms();
    pthread_mutex_unlock(&p->mu);
    if (!doc) {
        failed(p, sl, j->refresh, R_UPSTREAM, "%s", err);
        return;
    }
    const char *bin_id = json_string_value(
        json_object_get(doc, sl->oodd ? "oodd_model_binary_id" : "model_binary_id"));
    const char *url = json_string_value(
        json_object_get(doc, sl->oodd ? "oodd_model_binary_url" : "model_binary_url"));
    char id[ID_MAX] = "";
    if (bin_id) snprintf(id, sizeof id, "%s", bin_id);
    int id_ok = bin_id && bin_id[0] && strlen(bin_id) < ID_MAX;
    for (const char *c = id; id_ok && *c; c++)
        id_ok = *c > ' ' && *c < 127 && *c != '/';
    if ((!bin_id || !bin_id[0]) && sl->loaded) { /* no binary: a changed pipeline_config? */
        const char *pc = json_string_value(
            json_object_get(doc, sl->oodd ? "oodd_pipeline_config" : "pipeline_config"));
        int v = 0;
        char cid[ID_MAX];
        int rc = pc && pc[0] ? config_version(sl, pc, &v, cid, sizeof cid, err, sizeof err) : 1;
        json_decref(doc);
        if (rc < 0) {
            failed(p, sl, j->refresh, R_PACKAGE, "a version from pipeline_config: %s", err);
        } else if (rc == 0) {
            adopt_version(p, sl, j, dir, v, cid, t0, 0, 0, 0);
        } else {
            pthread_mutex_lock(&p->mu);
            nothing_new(sl, j->refresh, "up to date");
            pthread_mutex_unlock(&p->mu);
        }
        return;
    }
    pthread_mutex_lock(&p->mu);
    int same = id_ok && !strcmp(id, sl->loaded_id);
    int rejected = id_ok && !strcmp(id, sl->rejected_id);
    if (same || rejected || !bin_id || !bin_id[0]) { /* nothing new to pull */
        nothing_new(sl, j->refresh,
                    same          ? "up to date"
                    : rejected    ? "rolled back"
                    : sl->version ? "serving"
                                  : "no binary upstream");
        pthread_mutex_unlock(&p->mu);
        json_decref(doc);
        return;
    }
    pthread_mutex_unlock(&p->mu);
    if (!id_ok || !url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
        failed(p, sl, j->refresh, R_UPSTREAM, "model_binary_id %.80s / model_binary_url %.200s: %s",
               id, url ? url : "(none)", !id_ok ? "not a usable id" : "not an http(s) URL");
        json_decref(doc);
        return;
    }
    char burl[2048];
    snprintf(burl, sizeof burl, "%s", url);
    /* with a bare ONNX binary, pipeline_config is its model.yaml */
    const char *pc = json_string_value(
        json_object_get(doc, sl->oodd ? "oodd_pipeline_config" : "pipeline_config"));
    char *pipeline = strdup(pc ? pc : "");
    json_decref(doc);
    if (!pipeline) {
        failed(p, sl, j->refresh, R_DISK, "out of memory");
        return;
    }

    snprintf(sl->attempt_id, sizeof sl->attempt_id, "%s", id);
    set_state(p, sl, "downloading");
    int64_t bytes = 0, resumed = 0;
    reason why = R_DOWNLOAD;
    uint64_t t1 = clock_now_ns();
    if (fetch_binary(p, dir, burl, id, NULL, NULL, &bytes, &resumed, &why, err, sizeof err)) {
        if (!atomic_load(&p->stop)) failed(p, sl, j->refresh, why, "%s", err);
        free(pipeline);
        return;
    }
    double dl_s = (double)(clock_now_ns() - t1) / 1e9;

    /* into the store: checked, written, fsync'd, renamed */
    char part[4200], idf[4200];
    snprintf(part, sizeof part, "%s/download.part", dir);
    snprintf(idf, sizeof idf, "%s/download.id", dir);
    int fd = open(part, O_RDONLY | O_CLOEXEC);
    void *map = fd >= 0 && bytes > 0 ? mmap(NULL, (size_t)bytes, PROT_READ, MAP_PRIVATE, fd, 0)
                                     : MAP_FAILED;
    if (fd >= 0) close(fd);
    int v = 0, rc = -1;
    if (map == MAP_FAILED) {
        errmsg_set(err, sizeof err, "%s: %s", part, bytes ? strerror(errno) : "empty");
        why = R_PACKAGE;
    } else if (model_store_is_package(map, (size_t)bytes)) {
        set_state(p, sl, "storing");
        rc = model_store_add(&sl->st, map, (size_t)bytes, is_sha256(id) ? id : NULL, id, &v, err,
                             sizeof err);
        why = !strncmp(err, "sha256 ", 7) ? R_CHECKSUM : R_PACKAGE;
        if (strstr(err, strerror(ENOSPC)) || strstr(err, strerror(EDQUOT))) why = R_DISK;
    } else { /* an ONNX file: model.onnx, and model.yaml from pipeline_config */
        char hex[65];
        set_state(p, sl, "storing");
        if (is_sha256(id) && (model_store_sha256(map, (size_t)bytes, hex) || strcmp(hex, id))) {
            errmsg_set(err, sizeof err, "sha256 %s of the ONNX binary is not the expected %s", hex,
                       id);
            why = R_CHECKSUM;
        } else {
            model_store_file files[2] = {{"model.onnx", map, (size_t)bytes},
                                         {"model.yaml", pipeline, strlen(pipeline)}};
            rc =
                model_store_add_files(&sl->st, files, pipeline[0] ? 2 : 1, id, &v, err, sizeof err);
            why =
                strstr(err, strerror(ENOSPC)) || strstr(err, strerror(EDQUOT)) ? R_DISK : R_PACKAGE;
        }
    }
    if (map != MAP_FAILED) munmap(map, (size_t)bytes);
    free(pipeline);
    unlink(part); /* a bad download is not resumed; a good one is in the store */
    unlink(idf);
    if (rc) {
        failed(p, sl, j->refresh, why, "%s", err);
        return;
    }

    adopt_version(p, sl, j, dir, v, id, t0, bytes, dl_s, resumed);
}

/* ---- the thread ---- */

static void *pull_main(void *arg)
{
    edge_pull *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!atomic_load(&p->stop)) {
        uint64_t now = clock_now_ns(), next = now + 1000000000u;
        slot *due = NULL;
        for (int i = 0; i < p->n_slots && !due; i++) {
            slot *sl = p->slots[i];
            if (!sl->wanted) continue;
            if (sl->next_ns <= now)
                due = sl;
            else if (sl->next_ns < next)
                next = sl->next_ns;
        }
        if (!due) {
            struct timespec ts = {.tv_sec = (time_t)(next / 1000000000u),
                                  .tv_nsec = (long)(next % 1000000000u)};
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
            continue;
        }
        job j;
        snprintf(j.upstream, sizeof j.upstream, "%s", p->upstream);
        snprintf(j.token, sizeof j.token, "%s", p->token);
        j.refresh = p->refresh_s;
        due->busy = 1;
        schedule(due, j.refresh); /* update() reschedules; this holds if it returns early */
        pthread_mutex_unlock(&p->mu);
        update(p, due, &j);
        pthread_mutex_lock(&p->mu);
        due->busy = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

edge_pull *edge_pull_start(server *s, const char *state_dir, edge_samples *samples, char *err,
                           size_t err_size)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    edge_pull *p = calloc(1, sizeof *p);
    if (!p) {
        errmsg_set(err, err_size, "out of memory");
        return NULL;
    }
    p->srv = s;
    p->samples = samples;
    p->refresh_s = 60;
    snprintf(p->root, sizeof p->root, "%s/models", state_dir);
    snprintf(p->samples_root, sizeof p->samples_root, "%s/samples", state_dir);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&p->thread, NULL, pull_main, p)) {
        errmsg_set(err, err_size, "cannot start the model updater thread");
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p);
        return NULL;
    }
    return p;
}

void edge_pull_configure(edge_pull *p, const edge_config *c)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    snprintf(p->upstream, sizeof p->upstream, "%s", c->model_updates ? c->upstream : "");
    snprintf(p->token, sizeof p->token, "%s", c->upstream_token);
    p->refresh_s = c->refresh_rate;
    p->rate = c->model_download_rate;
    p->rb_window_s = c->rollback_window_s;
    p->rb_min_requests = c->rollback_min_requests;
    p->rb_error_margin = c->rollback_error_margin;
    p->rb_latency_margin = c->rollback_latency_margin;
    p->calib_min = c->calibration_min_samples;
    for (int i = 0; i < p->n_slots; i++)
        p->slots[i]->wanted = p->slots[i]->source != NULL; /* sources are the repository's */
    for (int i = 0; i < 2 * c->n_detectors; i++) {         /* its model, then its OODD model */
        const edge_detector *d = &c->detectors[i / 2];
        char id[EDGE_ID_MAX];
        snprintf(id, sizeof id, "%s%s", d->id, i % 2 ? EDGE_OODD_SUFFIX : "");
        slot *sl = NULL;
        for (int k = 0; k < p->n_slots && !sl; k++)
            if (!strcmp(p->slots[k]->id, id)) sl = p->slots[k];
        if (!sl) {
            if (!(sl = slot_add(p, id, d->id, NULL))) break;
            sl->oodd = i % 2;
        }
        sl->wanted = 1;
        sl->calibrate = !sl->oodd && d->calibrate_from_traffic;
        if (!sl->busy) sl->next_ns = 0; /* a new config: look now */
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int edge_pull_rollback(edge_pull *p, const char *id, int *from, int *to, char *err, size_t err_size)
{
    if (!p) return errmsg_set(err, err_size, "no model updates here"), 404;
    pthread_mutex_lock(&p->mu);
    slot *sl = NULL;
    for (int i = 0; i < p->n_slots && !sl; i++)
        if (p->slots[i]->wanted && !strcmp(p->slots[i]->id, id)) sl = p->slots[i];
    int rc = 404;
    if (!sl) {
        errmsg_set(err, err_size, "detector %s is not configured here", id);
    } else if (!sl->version) {
        errmsg_set(err, err_size, "detector %s serves no pulled version", id);
    } else {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", p->root, id);
        model_store st = {.dir = dir}; /* only its folder is read */
        *from = sl->version;
        *to = model_store_prev(&st, sl->version);
        rc = 409;
        if (!*to) {
            errmsg_set(err, err_size, "detector %s: no version before %d is stored", id, *from);
        } else if (sl->rollback || atomic_load(&p->n_installs)) {
            errmsg_set(err, err_size, "detector %s: a change of version is under way", id);
        } else {
            sl->rollback = 1;
            sl->next_ns = 0;
            pthread_cond_signal(&p->cv);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Failed requests of m: server errors and timeouts (a client's bad request
 * or a refusal under load says nothing of the model). */
static uint64_t model_failures(const repo_model *m)
{
    return atomic_load(&m->stats.fail_by[FAIL_INTERNAL]) +
           atomic_load(&m->stats.fail_by[FAIL_TIMEOUT]);
}

static uint64_t model_requests(const repo_model *m)
{
    return atomic_load(&m->stats.success_count) + model_failures(m);
}

static void watch_end(slot *sl, const char *verdict)
{
    repo_model_release(sl->watched);
    sl->watched = NULL;
    snprintf(sl->watch_verdict, sizeof sl->watch_verdict, "%s", verdict);
}

/* Watches version `now` (replacing `before`) for the rollback window:
 * the previous version's run time and error share are the baseline. */
static void watch_start(edge_pull *p, slot *sl, const repo_model *before, repo_model *now,
                        int rollback)
{
    pthread_mutex_lock(&p->mu);
    if (sl->watched) watch_end(sl, "replaced");
    if (before && !rollback && p->rb_window_s > 0) {
        uint64_t n = model_requests(before);
        sl->base_errors = n ? (double)model_failures(before) / (double)n : 0;
        sl->base_image_ns = atomic_load(&batcher_get_stats(before->batcher)->image_ns);
        sl->watch_until_ns = clock_now_ns() + (uint64_t)(p->rb_window_s * 1e9);
        atomic_fetch_add(&now->refs, 1);
        sl->watched = now;
        snprintf(sl->watch_verdict, sizeof sl->watch_verdict, "watching");
    }
    pthread_mutex_unlock(&p->mu);
}

/* Rolls back a watched version that regressed past the margins; ends the
 * watch of one that held through the window (loop thread, once a second). */
static void watch_check(edge_pull *p)
{
    uint64_t now = clock_now_ns();
    if (now < p->next_watch_ns) return;
    p->next_watch_ns = now + 1000000000u;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n_slots; i++) {
        slot *sl = p->slots[i];
        repo_model *m = sl->watched;
        if (!m) continue;
        repo_entry *e = repo_find(p->srv, sl->id, strlen(sl->id));
        if (e && e->model && e->model != m &&
            !strcmp(e->model->pkg.dir ? e->model->pkg.dir : "", m->pkg.dir ? m->pkg.dir : "")) {
            /* the same version reloaded (its int8 form arrived): watch that */
            atomic_fetch_add(&e->model->refs, 1);
            repo_model_release(m);
            sl->watched = m = e->model;
        }
        if (!e || e->model != m) {
            watch_end(sl, "replaced");
            continue;
        }
        uint64_t n = model_requests(m);
        if (n < (uint64_t)p->rb_min_requests) {
            if (now >= sl->watch_until_ns) watch_end(sl, "kept (too few requests to judge)");
            continue;
        }
        double errors = (double)model_failures(m) / (double)n;
        uint64_t image_ns = atomic_load(&batcher_get_stats(m->batcher)->image_ns);
        char why[SERVE_ERR_MAX] = "";
        if (errors > sl->base_errors + p->rb_error_margin)
            snprintf(why, sizeof why, "%.1f%% of %llu requests failed, against %.1f%% before",
                     100 * errors, (unsigned long long)n, 100 * sl->base_errors);
        else if (sl->base_image_ns && image_ns > sl->base_image_ns * (1 + p->rb_latency_margin))
            snprintf(why, sizeof why, "%.2f ms per image, against %.2f ms before",
                     (double)image_ns / 1e6, (double)sl->base_image_ns / 1e6);
        if (why[0]) {
            sl->rollback = 1;
            sl->next_ns = 0;
            sl->auto_rollbacks++;
            pthread_cond_signal(&p->cv);
            fprintf(stderr, "glint serve: %s %s: version %d regressed (%s): rolling back\n",
                    what(sl), sl->id, sl->version, why);
            char verdict[SERVE_ERR_MAX + 32];
            snprintf(verdict, sizeof verdict, "rolled back: %s", why);
            watch_end(sl, verdict);
        } else if (now >= sl->watch_until_ns) {
            watch_end(sl, "kept");
        }
    }
    pthread_mutex_unlock(&p->mu);
}

void edge_pull_sources(edge_pull *p)
{
    if (!p) return;
    server *s = p->srv;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < s->n_entries; i++) {
        const repo_entry *e = s->entries[i];
        if (!e->source) continue;
        slot *sl = slot_add(p, e->name, e->name, e->source);
        if (!sl) break;
        snprintf(sl->source_sha256, sizeof sl->source_sha256, "%s", e->source_sha256);
        snprintf(sl->folder, sizeof sl->folder, "%s", e->dir);
        sl->wanted = 1;
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int edge_pull_waiting(edge_pull *p, const char *id)
{
    int w = 0;
    if (!p) return 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n_slots; i++)
        if (p->slots[i]->wanted && !strcmp(p->slots[i]->id, id)) w = p->slots[i]->stored_pending;
    pthread_mutex_unlock(&p->mu);
    return w;
}

void edge_pull_tick(edge_pull *p)
{
    if (p) watch_check(p);
    if (!p || !atomic_load(&p->n_installs)) return;
    pthread_mutex_lock(&p->mu);
    install *list = NULL; /* in the order they were handed over: the newest last */
    for (install *in = p->installs, *next; in; in = next) {
        next = in->next;
        in->next = list;
        list = in;
    }
    p->installs = NULL;
    atomic_store(&p->n_installs, 0);
    pthread_mutex_unlock(&p->mu);
    server *s = p->srv;
    while (list) {
        install *in = list;
        list = in->next;
        char err[SERVE_ERR_MAX];
        repo_entry *e = repo_find(s, in->id, strlen(in->id));
        if (!e) e = repo_add(s, in->id, in->dir, err, sizeof err);
        if (e) e->precision = in->precision;
        if (!e || repo_entry_set_dir(e, in->dir)) {
            fprintf(stderr, "glint serve: %s %s: version %d not installed: %s\n", what(in->sl),
                    in->id, in->version, e ? "out of memory" : err);
            repo_model_release(in->m);
        } else {
            e->generation++; /* a reload of the previous folder under way is void */
            int had = e->model != NULL;
            watch_start(p, in->sl, e->model, in->m, in->rollback);
            repo_install(s, e, in->m);
            pthread_mutex_lock(&p->mu);
            in->sl->stored_pending = 0;
            in->sl->version = in->version;
            snprintf(in->sl->binary_id, sizeof in->sl->binary_id, "%s", in->bin_id);
            if (!strcmp(in->sl->state, "not checked yet"))
                snprintf(in->sl->state, sizeof in->sl->state, "serving");
            pthread_mutex_unlock(&p->mu);
            fprintf(stderr, "glint serve: %s %s: version %d %s\n", what(in->sl), in->id,
                    in->version, had ? "swapped in" : "serving");
        }
        free(in);
    }
}

void edge_pull_stop(edge_pull *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    for (install *in = p->installs, *next; in; in = next) {
        next = in->next;
        repo_model_release(in->m);
        free(in);
    }
    for (int i = 0; i < p->n_slots; i++) {
        repo_model_release(p->slots[i]->watched);
        free(p->slots[i]->source);
        if (p->slots[i]->store_open) model_store_close(&p->slots[i]->st);
        free(p->slots[i]);
    }
    free(p->slots);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

/* ---- /health and /metrics ---- */

json_t *edge_pull_health(edge_pull *p)
{
    json_t *o = json_object();
    if (!p || !o) return o;
    uint64_t now = clock_now_ns();
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n_slots; i++) {
        const slot *sl = p->slots[i];
        if (!sl->wanted) continue;
        json_t *f = json_object();
        for (int r = 0; r < R_COUNT; r++)
            if (sl->failures[r])
                json_object_set_new(f, reason_names[r], json_integer((json_int_t)sl->failures[r]));
        json_t *d = json_pack(
            "{s:i, s:s?, s:s, s:s?, s:I, s:I, s:I, s:f, s:I, s:f, s:o, s:f}", "version",
            sl->version, "model_binary_id", sl->binary_id[0] ? sl->binary_id : NULL, "state",
            sl->state, "last_error", sl->last_error[0] ? sl->last_error : NULL, "updates",
            (json_int_t)sl->updates, "last_check_ms", (json_int_t)sl->last_check_ms,
            "last_update_ms", (json_int_t)sl->last_update_ms, "last_update_s", sl->last_update_s,
            "last_download_bytes", (json_int_t)sl->last_bytes, "last_download_s",
            sl->last_download_s, "failures", f, "next_check_s",
            sl->next_ns > now ? (double)(sl->next_ns - now) / 1e9 : 0.0);
        if (d && sl->calibration[0])
            json_object_set_new(d, "calibration", json_string(sl->calibration));
        if (d && sl->watch_verdict[0])
            json_object_set_new(d, "watch", json_string(sl->watch_verdict));
        if (d)
            json_object_set_new(d, "auto_rollbacks", json_integer((json_int_t)sl->auto_rollbacks));
        json_object_set_new(o, sl->id, d);
    }
    pthread_mutex_unlock(&p->mu);
    return o;
}

void edge_pull_metrics(edge_pull *p, strbuf *sb)
{
    if (!p) return;
    metrics_write_family(sb, "glint_model_updates_total", METRICS_COUNTER,
                         "Model versions pulled from the upstream and swapped in");
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n_slots; i++) {
        metrics_label l[] = {{"detector", p->slots[i]->id}};
        metrics_write_u64(sb, "glint_model_updates_total", l, 1, p->slots[i]->updates);
    }
    metrics_write_family(sb, "glint_model_update_failures_total", METRICS_COUNTER,
                         "Model updates that failed, by detector and reason");
    for (int i = 0; i < p->n_slots; i++)
        for (int r = 0; r < R_COUNT; r++) {
            metrics_label l[] = {{"detector", p->slots[i]->id}, {"reason", reason_names[r]}};
            metrics_write_u64(sb, "glint_model_update_failures_total", l, 2,
                              p->slots[i]->failures[r]);
        }
    metrics_write_family(sb, "glint_model_auto_rollbacks_total", METRICS_COUNTER,
                         "Pulled versions rolled back for a regression in their watch window");
    for (int i = 0; i < p->n_slots; i++) {
        metrics_label l[] = {{"detector", p->slots[i]->id}};
        metrics_write_u64(sb, "glint_model_auto_rollbacks_total", l, 1,
                          p->slots[i]->auto_rollbacks);
    }
    metrics_write_family(sb, "glint_model_version", METRICS_GAUGE,
                         "The pulled version each detector serves (0: none)");
    for (int i = 0; i < p->n_slots; i++) {
        metrics_label l[] = {{"detector", p->slots[i]->id}};
        metrics_write_i64(sb, "glint_model_version", l, 1, p->slots[i]->version);
    }
    pthread_mutex_unlock(&p->mu);
}
