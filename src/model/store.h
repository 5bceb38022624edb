/* model/store: the versions of one model that arrived as packages (a tar of
 * a model folder, as glint's upstream serves it: serve/edge/edge_models.h),
 * kept on disk so that no half-written version is ever visible:
 *
 *   DIR/versions/<n>/      a complete version: its files, fsync'd
 *   DIR/versions/<n>.tmp/  one being written (removed at open: a crash left it)
 *
 * Adding a package checks its sha256 when one is given, checks every entry
 * (ustar headers with good checksums; regular files only; plain names of
 * letters, digits, '.', '_' and '-' that do not start with '.'; sizes within
 * the limits), writes the files into <n+1>.tmp, fsyncs them and the folder,
 * renames it to <n+1> and fsyncs versions/. A hostile or broken package is
 * refused with the reason and leaves the store as it was. Each version may
 * carry its origin (the id the upstream gave it) in a file the packages
 * cannot name (.origin). Older versions go when the caller prunes (after the
 * new one proved good) and at open: the MODEL_STORE_KEEP newest stay.
 *
 * Not thread-safe: one store, one thread at a time.
 */
#ifndef GLINT_MODEL_STORE_H
#define GLINT_MODEL_STORE_H

#include <stddef.h>

#define MODEL_STORE_KEEP 2                 /* versions kept */
#define MODEL_STORE_MAX_FILES 64           /* entries of one package */
#define MODEL_STORE_MAX_BYTES (2ull << 30) /* bytes of one package's files */

typedef struct model_store {
    char *dir;  /* the store's folder (owned) */
    int newest; /* the newest complete version, 0 if none */
} model_store;

/* Opens (creating it and DIR/versions if needed) the store in `dir`: removes
 * leftover *.tmp versions and finds the newest complete one. 0, or -1 with err. */
int model_store_open(model_store *st, const char *dir, char *err, size_t err_size);

/* Adds the package tar[0..len) as version newest + 1. sha256: 64 hex digits
 * the package must hash to, or NULL; origin: text kept with the version (its
 * id upstream), or NULL. 0 and *version, or -1 with err. */
int model_store_add(model_store *st, const void *tar, size_t len, const char *sha256,
                    const char *origin, int *version, char *err, size_t err_size);

/* A file of a version given as files. */
typedef struct model_store_file {
    const char *name; /* a plain name (as a package's entries) */
    const void *data;
    size_t size;
} model_store_file;

/* Adds files[0..n) as version newest + 1, with the same checks of names and
 * sizes as a package's entries and the same fsync/rename. 0 and *version, or
 * -1 with err. */
int model_store_add_files(model_store *st, const model_store_file *files, int n, const char *origin,
                          int *version, char *err, size_t err_size);

/* 1 if p[0..len) looks like a package (a ustar header), else 0. */
int model_store_is_package(const void *p, size_t len);

/* sha256 of p[0..len) as 64 lowercase hex digits; 0, or -1. */
int model_store_sha256(const void *p, size_t len, char hex[65]);

/* Keeps the MODEL_STORE_KEEP newest versions. */
void model_store_prune(model_store *st);
/* Removes version v (one that failed to load); newest is updated. */
void model_store_remove(model_store *st, int v);
/* The newest version older than v, 0 if none. */
int model_store_prev(const model_store *st, int v);
/* Version v's origin into buf: 0, or -1 if it has none. */
int model_store_origin(const model_store *st, int v, char *buf, size_t size);

/* The folder of version v into buf: 0, or -1 if it does not fit. */
int model_store_path(const model_store *st, int v, char *buf, size_t size);

void model_store_close(model_store *st);

/* A package's reference pair (ONNX TensorProto files): the model's output
 * on that input, which a version must reproduce before it serves. */
#define MODEL_REFERENCE_INPUT "reference_input.pb"
#define MODEL_REFERENCE_OUTPUT "reference_output.pb"

/* Packs the regular files at the top of folder `dir` (not its subfolders
 * nor names starting with '.'), sorted by name, mode 0644, owner 0, mtime 0,
 * as the ustar package model_store_add takes: the same files give the same
 * bytes. A folder with an ONNX test set of one input and one output
 * (test_data_set_0/input_0.pb, output_0.pb) and no reference pair of its
 * own ships that set as the pair. *buf (malloc'd), *len and its sha256 as
 * 64 hex digits in id; 0, or -1 with err (a file over 99 characters of name
 * is left out). */
int model_store_pack(const char *dir, char **buf, size_t *len, char id[65], char *err,
                     size_t err_size);

#endif
