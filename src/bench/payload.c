/* Builds glint bench's request buffers; see payload.h. */
#include "bench/payload.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct blob {
    char *data;
    size_t len;
    char name[256];
} blob;

typedef struct dynbuf {
    char *p;
    size_t len, cap;
} dynbuf;

static int db_put(dynbuf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

static int db_str(dynbuf *b, const char *s)
{
    return db_put(b, s, strlen(s));
}

const char *payload_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"jpg", "image/jpeg"},        {"jpeg", "image/jpeg"},
        {"png", "image/png"},         {"webp", "image/webp"},
        {"bmp", "image/bmp"},         {"gif", "image/gif"},
        {"tif", "image/tiff"},        {"tiff", "image/tiff"},
        {"json", "application/json"}, {"txt", "text/plain"},
        {"html", "text/html"},        {"csv", "text/csv"},
        {"xml", "application/xml"},   {"bin", "application/octet-stream"},
    };
    const char *dot = name ? strrchr(name, '.') : NULL;
    const char *slash = name ? strrchr(name, '/') : NULL;
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcasecmp(dot + 1, types[i].ext)) return types[i].type;
    return "application/octet-stream";
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static bench_status read_blob(const char *path, blob *b, size_t *total)
{
    FILE *f = fopen(path, "rb");
    if (!f) return bench_fail(BENCH_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    bench_status s = BENCH_OK;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        s = bench_fail(BENCH_ERR_IO, "'%s' is not a regular file", path);
        goto done;
    }
    if ((uint64_t)st.st_size > PAYLOAD_MAX_FILE_BYTES) {
        s = bench_fail(BENCH_ERR_NOMEM, "'%s' is %lld bytes, the limit per file is %u", path,
                       (long long)st.st_size, PAYLOAD_MAX_FILE_BYTES);
        goto done;
    }
    if (*total + (size_t)st.st_size > PAYLOAD_MAX_TOTAL_BYTES) {
        s = bench_fail(BENCH_ERR_NOMEM, "payload files exceed %llu bytes in all",
                       PAYLOAD_MAX_TOTAL_BYTES);
        goto done;
    }
    b->data = malloc((size_t)st.st_size + 1);
    if (!b->data) {
        s = bench_fail(BENCH_ERR_NOMEM, "no memory for '%s'", path);
        goto done;
    }
    if (fread(b->data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        s = bench_fail(BENCH_ERR_IO, "cannot read '%s'", path);
        goto done;
    }
    b->len = (size_t)st.st_size;
    *total += b->len;
    snprintf(b->name, sizeof b->name, "%s", base_name(path));
done:
    fclose(f);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the regular, non-hidden files of dir, sorted; reads each. */
static bench_status read_folder(const char *dir, blob **out, int *n)
{
    DIR *d = opendir(dir);
    if (!d) return bench_fail(BENCH_ERR_IO, "cannot open folder '%s': %s", dir, strerror(errno));
    char **names = NULL;
    int count = 0, cap = 0;
    bench_status s = BENCH_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) continue;
        struct stat st;
        if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
        if (count == PAYLOAD_MAX_FILES) {
            s = bench_fail(BENCH_ERR_NOMEM, "folder '%s' holds more than %d files", dir,
                           PAYLOAD_MAX_FILES);
            goto done;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            char **q = realloc(names, (size_t)cap * sizeof *q);
            if (!q) {
                s = bench_fail(BENCH_ERR_NOMEM, "no memory listing '%s'", dir);
                goto done;
            }
            names = q;
        }
        names[count] = strdup(path);
        if (!names[count]) {
            s = bench_fail(BENCH_ERR_NOMEM, "no memory listing '%s'", dir);
            goto done;
        }
        count++;
    }
    if (count == 0) {
        s = bench_fail(BENCH_ERR_INVALID, "folder '%s' has no regular files", dir);
        goto done;
    }
    qsort(names, (size_t)count, sizeof *names, cmp_str);
    *out = calloc((size_t)count, sizeof **out);
    if (!*out) {
        s = bench_fail(BENCH_ERR_NOMEM, "no memory for %d files", count);
        goto done;
    }
    size_t total = 0;
    for (int i = 0; i < count && s == BENCH_OK; i++) {
        s = read_blob(names[i], &(*out)[i], &total);
        *n = i + 1;
    }
done:
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return s;
}

static bench_status check_header(const char *h)
{
    const char *colon = strchr(h, ':');
    if (!colon || colon == h)
        return bench_fail(BENCH_ERR_INVALID, "--header '%s': expected 'Name: value'", h);
    if (strlen(h) > PAYLOAD_MAX_HEADER_LEN)
        return bench_fail(BENCH_ERR_INVALID, "--header is longer than %d bytes",
                          PAYLOAD_MAX_HEADER_LEN);
    for (const char *c = h; c < colon; c++)
        if (!isalnum((unsigned char)*c) && !strchr("!#$%&'*+-.^_`|~", *c))
            return bench_fail(BENCH_ERR_INVALID, "--header '%s': bad character in the name", h);
    for (const char *c = colon; *c; c++)
        if ((unsigned char)*c < ' ' && *c != '\t')
            return bench_fail(BENCH_ERR_INVALID, "--header '%s': control byte in the value", h);
    if (!strncasecmp(h, "content-length:", 15) || !strncasecmp(h, "transfer-encoding:", 18))
        return bench_fail(BENCH_ERR_INVALID, "--header '%s': glint bench sets the body length", h);
    return BENCH_OK;
}

static int user_has(const payload_spec *spec, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < spec->nheaders; i++)
        if (!strncasecmp(spec->headers[i], name, n) && spec->headers[i][n] == ':') return 1;
    return 0;
}

/* Builds one request around body b (NULL: no body). */
static bench_status build_one(const payload_spec *spec, const httpc_url *url, const char *method,
                              const blob *b, unsigned seq, payload_req *out)
{
    dynbuf body = {0}, req = {0};
    bench_status s = BENCH_ERR_NOMEM;
    char boundary[64] = "";
    const char *type = NULL;
    if (b && spec->multipart) {
        snprintf(boundary, sizeof boundary, "glintbench%08x%08x", seq * 2654435761u,
                 (unsigned)b->len);
        char fname[256];
        snprintf(fname, sizeof fname, "%s", b->name[0] ? b->name : "body");
        for (char *c = fname; *c; c++)
            if (*c == '"' || *c == '\\') *c = '_';
        const char *ptype = spec->content_type ? spec->content_type : payload_content_type(b->name);
        char head[1024];
        snprintf(head, sizeof head,
                 "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                 "Content-Type: %s\r\n\r\n",
                 boundary, spec->multipart, fname, ptype);
        if (db_str(&body, head) || db_put(&body, b->data, b->len) || db_str(&body, "\r\n--") ||
            db_str(&body, boundary) || db_str(&body, "--\r\n"))
            goto fail;
    } else if (b) {
        if (db_put(&body, b->data, b->len)) goto fail;
        type = spec->content_type ? spec->content_type : payload_content_type(b->name);
    }
    char line[2600];
    snprintf(line, sizeof line, "%s %s HTTP/1.1\r\n", method, url->path);
    if (db_str(&req, line)) goto fail;
    if (!user_has(spec, "host")) {
        snprintf(line, sizeof line, "Host: %s\r\n", url->authority);
        if (db_str(&req, line)) goto fail;
    }
    if (!user_has(spec, "user-agent") && db_str(&req, "User-Agent: glint-bench\r\n")) goto fail;
    if (b && !user_has(spec, "content-type")) {
        if (spec->multipart)
            snprintf(line, sizeof line, "Content-Type: multipart/form-data; boundary=%s\r\n",
                     boundary);
        else
            snprintf(line, sizeof line, "Content-Type: %s\r\n", type);
        if (db_str(&req, line)) goto fail;
    }
    if (b || !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH")) {
        snprintf(line, sizeof line, "Content-Length: %zu\r\n", body.len);
        if (db_str(&req, line)) goto fail;
    }
    for (int i = 0; i < spec->nheaders; i++)
        if (db_str(&req, spec->headers[i]) || db_str(&req, "\r\n")) goto fail;
    if (db_str(&req, "\r\n") || (body.len && db_put(&req, body.p, body.len))) goto fail;
    out->bytes = req.p;
    out->len = req.len;
    out->body_len = body.len;
    snprintf(out->name, sizeof out->name, "%s", b ? b->name : "");
    free(body.p);
    return BENCH_OK;
fail:
    free(body.p);
    free(req.p);
    return bench_fail(s, "no memory building a request");
}

bench_status payload_set_build(const payload_spec *spec, const httpc_url *url, payload_set *out)
{
    memset(out, 0, sizeof *out);
    blob *blobs = NULL;
    int nblobs = 0;
    bench_status s = BENCH_OK;
    if (spec->body_path && spec->data)
        return bench_fail(BENCH_ERR_INVALID, "give a body file/folder or --data, not both");
    if (spec->multipart && !spec->body_path && !spec->data)
        return bench_fail(BENCH_ERR_INVALID, "--multipart needs --image (or --data)");
    if (spec->multipart && (!*spec->multipart || strpbrk(spec->multipart, "\"\r\n\\")))
        return bench_fail(BENCH_ERR_INVALID, "--multipart '%s': bad field name", spec->multipart);
    if (spec->content_type && strpbrk(spec->content_type, "\r\n"))
        return bench_fail(BENCH_ERR_INVALID, "--content-type holds a line break");
    if (spec->nheaders < 0 || spec->nheaders > PAYLOAD_MAX_HEADERS)
        return bench_fail(BENCH_ERR_INVALID, "at most %d --header options", PAYLOAD_MAX_HEADERS);
    for (int i = 0; i < spec->nheaders; i++)
        if ((s = check_header(spec->headers[i]))) return s;
    int has_body = spec->body_path || spec->data;
    const char *method = spec->method ? spec->method : has_body ? "POST" : "GET";
    size_t ml = strlen(method);
    if (ml == 0 || ml >= sizeof out->method)
        return bench_fail(BENCH_ERR_INVALID, "--method '%s': bad method", method);
    for (const char *c = method; *c; c++)
        if (!isupper((unsigned char)*c) && *c != '-' && *c != '_')
            return bench_fail(BENCH_ERR_INVALID, "--method '%s': use an upper-case token", method);
    memcpy(out->method, method, ml + 1);
    out->head = !strcmp(method, "HEAD");

    if (spec->body_path) {
        struct stat st;
        if (stat(spec->body_path, &st))
            return bench_fail(BENCH_ERR_IO, "cannot read '%s': %s", spec->body_path,
                              strerror(errno));
        if (S_ISDIR(st.st_mode)) {
            s = read_folder(spec->body_path, &blobs, &nblobs);
        } else {
            size_t total = 0;
            blobs = calloc(1, sizeof *blobs);
            if (!blobs) return bench_fail(BENCH_ERR_NOMEM, "no memory");
            nblobs = 1;
            s = read_blob(spec->body_path, &blobs[0], &total);
        }
        if (s) goto done;
    } else if (spec->data) {
        blobs = calloc(1, sizeof *blobs);
        if (!blobs) return bench_fail(BENCH_ERR_NOMEM, "no memory");
        nblobs = 1;
        blobs[0].len = strlen(spec->data);
        if (blobs[0].len > PAYLOAD_MAX_FILE_BYTES) {
            s = bench_fail(BENCH_ERR_NOMEM, "--data is too long");
            goto done;
        }
        blobs[0].data = strdup(spec->data);
        if (!blobs[0].data) {
            s = bench_fail(BENCH_ERR_NOMEM, "no memory");
            goto done;
        }
        snprintf(blobs[0].name, sizeof blobs[0].name, "data.txt");
    }
    int n = nblobs ? nblobs : 1;
    out->reqs = calloc((size_t)n, sizeof *out->reqs);
    if (!out->reqs) {
        s = bench_fail(BENCH_ERR_NOMEM, "no memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        s = build_one(spec, url, method, nblobs ? &blobs[i] : NULL, (unsigned)i, &out->reqs[i]);
        if (s) goto done;
        out->n = i + 1;
    }
done:
    for (int i = 0; i < nblobs; i++)
        free(blobs[i].data);
    free(blobs);
    if (s) payload_set_dispose(out);
    return s;
}

void payload_set_dispose(payload_set *set)
{
    if (!set) return;
    for (int i = 0; i < set->n; i++)
        free(set->reqs[i].bytes);
    free(set->reqs);
    memset(set, 0, sizeof *set);
}
