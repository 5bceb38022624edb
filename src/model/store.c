/* The versions of a model that arrived as packages, and the packages (see
 * store.h). */
#include "model/store.h"
#include "model/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAR_BLOCK 512
#define PACK_FILES_MAX 256    /* files of one model folder */
#define ORIGIN_FILE ".origin" /* a version's origin: packages cannot name it */

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return -1;
}

/* Removes a folder and the plain files in it (versions hold nothing else). */
static void remove_version(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        char f[4096];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(f, sizeof f, "%s/%s", path, e->d_name);
                unlink(f);
            }
        closedir(d);
    }
    rmdir(path);
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* n if name is a decimal version number (no sign, no leading 0), else 0. */
static int version_of(const char *name)
{
    if (name[0] < '1' || name[0] > '9' || strlen(name) > 9) return 0;
    for (const char *c = name; *c; c++)
        if (*c < '0' || *c > '9') return 0;
    return atoi(name);
}

int model_store_path(const model_store *st, int v, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/versions/%d", st->dir, v);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Keeps the `keep` newest versions (all if keep <= 0); removes *.tmp
 * leftovers when `leftovers`. Sets st->newest. */
static void scan(model_store *st, int leftovers, int keep)
{
    char vdir[4096], path[4200];
    snprintf(vdir, sizeof vdir, "%s/versions", st->dir);
    DIR *d = opendir(vdir);
    st->newest = 0;
    if (!d) return;
    int seen[256], n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (leftovers && l > 4 && !strcmp(e->d_name + l - 4, ".tmp")) {
            snprintf(path, sizeof path, "%s/%s", vdir, e->d_name);
            remove_version(path);
            continue;
        }
        int v = version_of(e->d_name);
        if (v && n < 256) seen[n++] = v;
        if (v > st->newest) st->newest = v;
    }
    closedir(d);
    for (int i = 0; keep > 0 && i < n; i++)
        if (seen[i] <= st->newest - keep) {
            snprintf(path, sizeof path, "%s/%d", vdir, seen[i]);
            remove_version(path);
        }
}

int model_store_open(model_store *st, const char *dir, char *err, size_t err_size)
{
    memset(st, 0, sizeof *st);
    char vdir[4096];
    if (snprintf(vdir, sizeof vdir, "%s/versions", dir) >= (int)sizeof vdir)
        return fail(err, err_size, "%s: path too long", dir);
    if ((mkdir(dir, 0755) && errno != EEXIST) || (mkdir(vdir, 0755) && errno != EEXIST))
        return fail(err, err_size, "%s: %s", vdir, strerror(errno));
    if (!(st->dir = strdup(dir))) return fail(err, err_size, "out of memory");
    scan(st, 1, MODEL_STORE_KEEP);
    return 0;
}

void model_store_close(model_store *st)
{
    free(st->dir);
    st->dir = NULL;
}

static int octal(const unsigned char *f, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && f[i] == ' ')
        i++;
    int digits = 0;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v >> 60) return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != 0) return -1;
    *out = v;
    return digits ? 0 : -1;
}

static int plain_name(const char *s)
{
    if (!s[0] || s[0] == '.') return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            return 0;
    return 1;
}

typedef struct entry {
    char name[101];
    const unsigned char *data;
    uint64_t size;
} entry;

/* The package's regular files, checked; 0 and *n, or -1 with err. */
static int parse_tar(const unsigned char *t, size_t len, entry *ents, int *n, char *err,
                     size_t err_size)
{
    size_t at = 0;
    uint64_t total = 0;
    *n = 0;
    for (;;) {
        if (at + TAR_BLOCK > len) return fail(err, err_size, "the package is truncated");
        const unsigned char *h = t + at;
        int zero = 1;
        for (int i = 0; i < TAR_BLOCK && zero; i++)
            zero = h[i] == 0;
        if (zero) break; /* the end-of-archive blocks */
        uint64_t want, sum = 0, size;
        if (octal(h + 148, 8, &want))
            return fail(err, err_size, "a header's checksum is not a number");
        for (int i = 0; i < TAR_BLOCK; i++)
            sum += i >= 148 && i < 156 ? ' ' : h[i];
        if (sum != want) return fail(err, err_size, "a header's checksum does not match");
        if (memcmp(h + 257, "ustar", 5)) return fail(err, err_size, "not a ustar package");
        if (h[345]) return fail(err, err_size, "an entry with a path prefix (only plain names)");
        char name[101];
        memcpy(name, h, 100);
        name[100] = 0;
        if (h[156] != '0' && h[156] != 0)
            return fail(err, err_size, "entry '%.100s' is not a regular file (type '%c')", name,
                        h[156] >= 32 && h[156] < 127 ? h[156] : '?');
        if (!plain_name(name))
            return fail(err, err_size, "entry '%.100s' is not a plain file name", name);
        if (octal(h + 124, 12, &size)) return fail(err, err_size, "entry '%s': bad size", name);
        at += TAR_BLOCK;
        if (size > len - at) return fail(err, err_size, "entry '%s' is truncated", name);
        if ((total += size) > MODEL_STORE_MAX_BYTES)
            return fail(err, err_size, "the package's files are over %llu bytes",
                        (unsigned long long)MODEL_STORE_MAX_BYTES);
        for (int i = 0; i < *n; i++)
            if (!strcmp(ents[i].name, name)) return fail(err, err_size, "entry '%s' twice", name);
        if (*n == MODEL_STORE_MAX_FILES)
            return fail(err, err_size, "more than %d entries", MODEL_STORE_MAX_FILES);
        entry *e = &ents[(*n)++];
        memcpy(e->name, name, sizeof e->name);
        e->data = t + at;
        e->size = size;
        at += (size_t)((size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK);
        if (at > len) return fail(err, err_size, "entry '%s' is truncated", name);
    }
    if (!*n) return fail(err, err_size, "the package holds no file");
    return 0;
}

static int write_file(const char *path, const unsigned char *data, uint64_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    uint64_t done = 0;
    while (done < size) {
        ssize_t w =
            write(fd, data + done, (size_t)(size - done > (1u << 30) ? 1u << 30 : size - done));
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (uint64_t)w;
    }
    int rc = fsync(fd);
    return close(fd) || rc ? -1 : 0;
}

static int check_sha256(const void *p, size_t len, const char *want, char *err, size_t err_size)
{
    char hex[65];
    if (model_store_sha256(p, len, hex)) return fail(err, err_size, "sha256 failed");
    if (strlen(want) != 64 || strncasecmp(hex, want, 64))
        return fail(err, err_size, "sha256 %s is not the expected %.64s", hex, want);
    return 0;
}

/* Writes ents[0..n) as version newest + 1 (see model_store_add). */
static int write_version(model_store *st, const entry *ents, int n, const char *origin,
                         int *version, char *err, size_t err_size)
{
    int v = st->newest + 1;
    char tmp[4096], final[4096], path[4200], vdir[4096];
    if (model_store_path(st, v, final, sizeof final) ||
        snprintf(tmp, sizeof tmp, "%s.tmp", final) >= (int)sizeof tmp)
        return fail(err, err_size, "%s: path too long", st->dir);
    remove_version(tmp);
    if (mkdir(tmp, 0755)) return fail(err, err_size, "%s: %s", tmp, strerror(errno));
    for (int i = 0; i <= n; i++) {
        const unsigned char *data = i < n ? ents[i].data : (const unsigned char *)origin;
        if (i == n && !origin) break;
        snprintf(path, sizeof path, "%s/%s", tmp, i < n ? ents[i].name : ORIGIN_FILE);
        if (write_file(path, data, i < n ? ents[i].size : strlen(origin))) {
            fail(err, err_size, "%s: %s", path, strerror(errno));
            remove_version(tmp);
            return -1;
        }
    }
    snprintf(vdir, sizeof vdir, "%s/versions", st->dir);
    if (fsync_path(tmp) || rename(tmp, final) || fsync_path(vdir)) {
        fail(err, err_size, "%s: %s", final, strerror(errno));
        remove_version(tmp);
        return -1;
    }
    scan(st, 0, 0); /* newest = v */
    *version = v;
    return 0;
}

int model_store_add(model_store *st, const void *tar, size_t len, const char *sha256,
                    const char *origin, int *version, char *err, size_t err_size)
{
    if (sha256 && check_sha256(tar, len, sha256, err, err_size)) return -1;
    entry *ents = calloc(MODEL_STORE_MAX_FILES, sizeof *ents);
    if (!ents) return fail(err, err_size, "out of memory");
    int n, rc = -1;
    if (!parse_tar(tar, len, ents, &n, err, err_size))
        rc = write_version(st, ents, n, origin, version, err, err_size);
    free(ents);
    return rc;
}

int model_store_add_files(model_store *st, const model_store_file *files, int n, const char *origin,
                          int *version, char *err, size_t err_size)
{
    entry ents[MODEL_STORE_MAX_FILES] = {0};
    uint64_t total = 0;
    if (n < 1 || n > MODEL_STORE_MAX_FILES)
        return fail(err, err_size, "a version of %d files (1 to %d)", n, MODEL_STORE_MAX_FILES);
    for (int i = 0; i < n; i++) {
        if (!plain_name(files[i].name) || strlen(files[i].name) > 100)
            return fail(err, err_size, "'%.100s' is not a plain file name", files[i].name);
        for (int k = 0; k < i; k++)
            if (!strcmp(files[k].name, files[i].name))
                return fail(err, err_size, "'%s' twice", files[i].name);
        if ((total += files[i].size) > MODEL_STORE_MAX_BYTES)
            return fail(err, err_size, "the files are over %llu bytes",
                        (unsigned long long)MODEL_STORE_MAX_BYTES);
        snprintf(ents[i].name, sizeof ents[i].name, "%s", files[i].name);
        ents[i].data = files[i].data;
        ents[i].size = files[i].size;
    }
    return write_version(st, ents, n, origin, version, err, err_size);
}

int model_store_is_package(const void *p, size_t len)
{
    return len >= TAR_BLOCK && !memcmp((const unsigned char *)p + 257, "ustar", 5);
}

int model_store_sha256(const void *p, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) return -1;
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

void model_store_prune(model_store *st)
{
    scan(st, 0, MODEL_STORE_KEEP);
}

void model_store_remove(model_store *st, int v)
{
    char path[4096], vdir[4096];
    if (v < 1 || model_store_path(st, v, path, sizeof path)) return;
    remove_version(path);
    snprintf(vdir, sizeof vdir, "%s/versions", st->dir);
    fsync_path(vdir);
    scan(st, 0, 0);
}

int model_store_prev(const model_store *st, int v)
{
    char path[4096];
    struct stat sb;
    for (int p = v - 1; p > 0 && p >= v - 256; p--)
        if (!model_store_path(st, p, path, sizeof path) && !stat(path, &sb) && S_ISDIR(sb.st_mode))
            return p;
    return 0;
}

int model_store_origin(const model_store *st, int v, char *buf, size_t size)
{
    char path[4200];
    if (size == 0 || model_store_path(st, v, path, sizeof path - 16)) return -1;
    strcat(path, "/" ORIGIN_FILE);
    return fileio_read_text(path, buf, size);
}

/* ---- packing ---- */

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

typedef struct pack_file {
    char *name;    /* the entry's name */
    char *src;     /* the file, relative to the folder */
    uint64_t size; /* at listing */
} pack_file;

static int by_entry(const void *a, const void *b)
{
    return strcmp(((const pack_file *)a)->name, ((const pack_file *)b)->name);
}

/* Adds file src (relative to dir) as entry name: 1 added, 0 not a regular
 * file, -1 with err. */
static int pack_add(const char *dir, pack_file *f, int *n, uint64_t *total, const char *name,
                    const char *src, char *err, size_t err_size)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, src);
    if (stat(path, &st) || !S_ISREG(st.st_mode)) return 0;
    if (*n == PACK_FILES_MAX)
        return fail(err, err_size, "%s: more than %d files", dir, PACK_FILES_MAX);
    f[*n].size = (uint64_t)st.st_size;
    if (!(f[*n].name = strdup(name)) || !(f[*n].src = strdup(src))) {
        free(f[*n].name);
        return fail(err, err_size, "out of memory");
    }
    *total += TAR_BLOCK + (f[*n].size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
    (*n)++;
    return 1;
}

static int exists_in(const char *dir, const char *rel)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return !stat(path, &st);
}

int model_store_pack(const char *dir, char **buf, size_t *len, char id[65], char *err,
                     size_t err_size)
{
    *buf = NULL;
    *len = 0;
    DIR *d = opendir(dir);
    if (!d) return fail(err, err_size, "%s: %s", dir, strerror(errno));
    pack_file *f = calloc(PACK_FILES_MAX, sizeof *f);
    int n = 0, rc = -1;
    uint64_t total = 2 * TAR_BLOCK;
    struct dirent *e;
    char path[4200];
    if (!f) {
        closedir(d);
        return fail(err, err_size, "out of memory");
    }
    while ((e = readdir(d))) { /* subfolders stay out */
        if (e->d_name[0] == '.' || strlen(e->d_name) > 99) continue;
        if (pack_add(dir, f, &n, &total, e->d_name, e->d_name, err, err_size) < 0) goto out;
    }
    /* the ONNX reference pair of a one-input, one-output model travels flat */
    if (!exists_in(dir, MODEL_REFERENCE_INPUT) && !exists_in(dir, MODEL_REFERENCE_OUTPUT) &&
        !exists_in(dir, "test_data_set_0/input_1.pb") &&
        !exists_in(dir, "test_data_set_0/output_1.pb") &&
        exists_in(dir, "test_data_set_0/input_0.pb") &&
        exists_in(dir, "test_data_set_0/output_0.pb") &&
        (pack_add(dir, f, &n, &total, MODEL_REFERENCE_INPUT, "test_data_set_0/input_0.pb", err,
                  err_size) < 0 ||
         pack_add(dir, f, &n, &total, MODEL_REFERENCE_OUTPUT, "test_data_set_0/output_0.pb", err,
                  err_size) < 0))
        goto out;
    if (total > MODEL_STORE_MAX_BYTES) {
        fail(err, err_size, "%s: the package would be over %llu bytes", dir,
             (unsigned long long)MODEL_STORE_MAX_BYTES);
        goto out;
    }
    qsort(f, (size_t)n, sizeof *f, by_entry);
    unsigned char *b = calloc(1, (size_t)total);
    if (!b) {
        fail(err, err_size, "out of memory for a %llu-byte package", (unsigned long long)total);
        goto out;
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, f[i].src);
        tar_header(b + at, f[i].name, f[i].size);
        at += TAR_BLOCK;
        if (at + f[i].size > total || read_into(path, b + at, f[i].size)) {
            free(b);
            fail(err, err_size, "%s: cannot read it whole (changed while packing?)", path);
            goto out;
        }
        at += (size_t)((f[i].size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK);
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
    for (int i = 0; i < n; i++) {
        free(f[i].name);
        free(f[i].src);
    }
    free(f);
    closedir(d);
    return rc;
}
