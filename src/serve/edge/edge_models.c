/* glint as the upstream: the packages of its detectors' models (see
 * edge_models.h). */
#include "serve/edge/edge_models.h"
#include "serve/core/http.h"
#include "serve/core/repo.h"
#include "model/precision.h"
#include "serve/edge/edge_impl.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MODELS_MAX 64               /* packages kept (one per model) */
#define PACK_FILES_MAX 256          /* files of one model folder */
#define PACK_MAX_BYTES (1ull << 31) /* a package's size limit */
#define TAR_BLOCK 512

typedef struct package {
    char name[EDGE_ID_MAX]; /* the model */
    uint64_t sig;           /* its folder's file signature when packed */
    char *buf;
    size_t len;
    char id[65];
} package;

struct edge_models {
    package p[MODELS_MAX];
    int n;
};

edge_models *edge_models_create(void)
{
    return calloc(1, sizeof(edge_models));
}

void edge_models_destroy(edge_models *em)
{
    if (!em) return;
    for (int i = 0; i < em->n; i++)
        free(em->p[i].buf);
    free(em);
}

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return -1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A ustar header for a regular file of `size` bytes, mode 0644, owner 0,
 * mtime 0. */
static void tar_header(unsigned char *h, const char *name, uint64_t size)
{
    memset(h, 0, TAR_BLOCK);
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    memcpy(h + 136, "00000000000", 12);
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (int i = 0; i < TAR_BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

static int read_into(const char *path, unsigned char *dst, uint64_t size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t got = fread(dst, 1, (size_t)size, f);
    int extra = fgetc(f);
    fclose(f);
    return got == size && extra == EOF ? 0 : -1;
}

int edge_models_pack(const char *dir, char **buf, size_t *len, char id[65], char *err,
                     size_t err_size)
{
    *buf = NULL;
    *len = 0;
    DIR *d = opendir(dir);
    if (!d) return fail(err, err_size, "%s: %s", dir, strerror(errno));
    char *names[PACK_FILES_MAX] = {0};
    uint64_t sizes[PACK_FILES_MAX] = {0};
    int n = 0, rc = -1;
    uint64_t total = 2 * TAR_BLOCK;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.' || strlen(e->d_name) > 99) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) || !S_ISREG(st.st_mode)) continue; /* subfolders stay out */
        if (n == PACK_FILES_MAX) {
            fail(err, err_size, "%s: more than %d files", dir, PACK_FILES_MAX);
            goto out;
        }
        if (!(names[n] = strdup(e->d_name))) {
            fail(err, err_size, "out of memory");
            goto out;
        }
        sizes[n] = (uint64_t)st.st_size;
        total += TAR_BLOCK + (sizes[n] + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
        n++;
    }
    if (total > PACK_MAX_BYTES) {
        fail(err, err_size, "%s: the package would be over %llu bytes", dir,
             (unsigned long long)PACK_MAX_BYTES);
        goto out;
    }
    qsort(names, (size_t)n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) { /* sizes follow their names */
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        sizes[i] = stat(path, &st) ? 0 : (uint64_t)st.st_size;
    }
    unsigned char *b = calloc(1, (size_t)total);
    if (!b) {
        fail(err, err_size, "out of memory for a %llu-byte package", (unsigned long long)total);
        goto out;
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        tar_header(b + at, names[i], sizes[i]);
        at += TAR_BLOCK;
        if (at + sizes[i] > total || read_into(path, b + at, sizes[i])) {
            free(b);
            fail(err, err_size, "%s: cannot read it whole (changed while packing?)", path);
            goto out;
        }
        at += (size_t)((sizes[i] + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK);
    }
    size_t used = at + 2 * TAR_BLOCK;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!EVP_Digest(b, used, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        free(b);
        fail(err, err_size, "sha256 failed");
        goto out;
    }
    for (unsigned i = 0; i < 32; i++)
        snprintf(id + 2 * i, 3, "%02x", md[i]);
    *buf = (char *)b;
    *len = used;
    rc = 0;
out:
    for (int i = 0; i < n; i++)
        free(names[i]);
    closedir(d);
    return rc;
}

/* The package of model m, packed now if its files changed; NULL with err. */
static const package *package_of(edge_models *em, const repo_model *m, char *err, size_t size)
{
    package *p = NULL;
    for (int i = 0; i < em->n && !p; i++)
        if (!strcmp(em->p[i].name, m->name)) p = &em->p[i];
    if (p && p->sig == m->file_sig && p->buf) return p;
    if (!m->pkg.dir) {
        fail(err, size, "model %s is a bare .onnx file, not a folder", m->name);
        return NULL;
    }
    if (!p) {
        if (em->n == MODELS_MAX) {
            fail(err, size, "more than %d models packaged", MODELS_MAX);
            return NULL;
        }
        p = &em->p[em->n++];
        snprintf(p->name, sizeof p->name, "%s", m->name);
    }
    free(p->buf);
    p->buf = NULL;
    if (edge_models_pack(m->pkg.dir, &p->buf, &p->len, p->id, err, size)) return NULL;
    p->sig = m->file_sig;
    return p;
}

static char *read_text(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *t = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *nt = realloc(t, cap = cap ? cap * 2 : 8192);
            if (!nt) {
                free(t);
                fclose(f);
                return NULL;
            }
            t = nt;
        }
        size_t got = fread(t + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
        if (len > (1u << 20)) break; /* a model.yaml is small */
    }
    fclose(f);
    t[len] = 0;
    return t;
}

static void detail(server *s, h2o_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void detail(server *s, h2o_req_t *req, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    serve_respond_errorv(s, req, status, "detail", fmt, ap);
    va_end(ap);
}

static void fetch_model_urls(server *s, edge_models *em, h2o_req_t *req, const char *id, size_t n)
{
    edge_state *es = edge_of(s);
    char det_id[EDGE_ID_MAX];
    if (n && id[n - 1] == '/') n--;
    snprintf(det_id, sizeof det_id, "%.*s", (int)(n < EDGE_ID_MAX - 1 ? n : EDGE_ID_MAX - 1), id);
    const edge_detector *d = es ? edge_config_detector(es->cfg, det_id) : NULL;
    if (!d) {
        detail(s, req, 404, "detector %s is not configured here", det_id);
        return;
    }
    if (!d->model[0]) {
        detail(s, req, 404, "detector %s has no model here", det_id);
        return;
    }
    repo_model *m = repo_get(s, d->model, strlen(d->model));
    if (!m) {
        detail(s, req, 503, "detector %s: model %s is not ready", det_id, d->model);
        return;
    }
    char err[SERVE_ERR_MAX];
    const package *p = package_of(em, m, err, sizeof err);
    if (!p) {
        detail(s, req, 500, "detector %s: %s", det_id, err);
        repo_model_release(m);
        return;
    }
    char *yaml = read_text(m->pkg.dir, "model.yaml");
    json_t *meta =
        json_pack("{s:s, s:s, s:s, s:s, s:I}", "model", m->name, "task",
                  model_task_name(m->conf->task), "precision", precision_name(m->pkg.precision),
                  "package", "tar", "package_bytes", (json_int_t)p->len);
    char *meta_text = meta ? json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(meta);
    char url[512];
    snprintf(url, sizeof url, "http://%.*s/edge-api/v1/model-binaries/%s.tar",
             (int)(req->authority.len < 300 ? req->authority.len : 300), req->authority.base,
             p->id);
    serve_respond_json(req, 200,
                       json_pack("{s:s, s:s, s:s, s:s, s:s}", "pipeline_config", yaml ? yaml : "",
                                 "predictor_metadata", meta_text ? meta_text : "{}",
                                 "model_binary_id", p->id, "model_binary_url", url,
                                 "oodd_pipeline_config", ""));
    free(yaml);
    free(meta_text);
    repo_model_release(m);
}

/* The package whose id is `id`, packing the detectors' models as needed. */
static const package *find_package(server *s, edge_models *em, const char *id)
{
    for (int i = 0; i < em->n; i++)
        if (em->p[i].buf && !strcmp(em->p[i].id, id)) return &em->p[i];
    edge_state *es = edge_of(s);
    for (int i = 0; es && i < es->cfg->n_detectors; i++) {
        const edge_detector *d = &es->cfg->detectors[i];
        repo_model *m = d->model[0] ? repo_get(s, d->model, strlen(d->model)) : NULL;
        if (!m) continue;
        char err[SERVE_ERR_MAX];
        const package *p = package_of(em, m, err, sizeof err);
        repo_model_release(m);
        if (p && !strcmp(p->id, id)) return p;
    }
    return NULL;
}

static void model_binary(server *s, edge_models *em, h2o_req_t *req, const char *name, size_t n)
{
    char id[65];
    int ok = n == 68 && !memcmp(name + 64, ".tar", 4);
    for (size_t i = 0; ok && i < 64; i++)
        ok = (name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f');
    if (!ok) {
        detail(s, req, 404, "no such model binary (want {sha256}.tar)");
        return;
    }
    memcpy(id, name, 64);
    id[64] = 0;
    const package *p = find_package(s, em, id);
    if (!p) {
        detail(s, req, 404, "no model binary %s here (a model changes its id)", id);
        return;
    }
    char etag[70];
    int en = snprintf(etag, sizeof etag, "\"%s\"", p->id);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, etag, (size_t)en);
    serve_respond(req, 200, "application/x-tar", p->buf, p->len);
}

void edge_models_route(server *s, edge_models *em, h2o_req_t *req, const char *p, size_t n)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        detail(s, req, 405, "use GET");
    } else if (serve_path_starts(p, n, "/v1/fetch-model-urls/")) {
        fetch_model_urls(s, em, req, p + 21, n - 21);
    } else if (serve_path_starts(p, n, "/v1/model-binaries/")) {
        model_binary(s, em, req, p + 19, n - 19);
    } else {
        detail(s, req, 404, "no such route: /edge-api%.*s", (int)(n < 200 ? n : 200), p);
    }
}
