/* glint check: runs ONNX backend-test folders (model.onnx + test_data_set_*
 * with input_N.pb / output_N.pb), as ONNX Runtime's onnx_test_runner does.
 * One line per case, then "N passed, M failed, K skipped". */
#include "cli/cli.h"
#include "model/fileio.h"
#include "model/reference.h"
#include "glint/engine.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_IO 64

typedef struct check_opts {
    model_tolerance tol;
    glint_backend backend;
    int threads;
    int verbose;
} check_opts;

typedef struct counts {
    int passed, failed, skipped;
} counts;

static bool is_dir(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISDIR(st.st_mode);
}

static bool has_file(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return !stat(p, &st) && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir that start with prefix (malloc'ed). */
static int list_dir(const char *dir, const char *prefix, char ***out)
{
    DIR *d = opendir(dir);
    *out = NULL;
    if (!d) return -1;
    int n = 0, cap = 0;
    char **names = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix))) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (names[n]) n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    return n;
}

static void free_list(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Freezes the inputs that look like shape tensors (integers, or at most 8
 * floats such as Resize scales) to their data-set values, and drops them from
 * `in`. */
static glint_status freeze_shape_inputs(glint_model *m, glint_tensor *in, int *n_in)
{
    for (int i = *n_in - 1; i >= 0; i--) {
        int64_t n = 1;
        for (int d = 0; d < in[i].ndim; d++)
            n *= in[i].dims[d];
        bool shape_like = in[i].dtype == GLINT_I64 || in[i].dtype == GLINT_I32 ||
                          (in[i].dtype == GLINT_F32 && n <= 8 && in[i].ndim <= 1);
        if (!shape_like) continue;
        glint_status s = glint_model_freeze_input(m, i, &in[i]);
        if (s) return s;
        free(in[i].data);
        memmove(&in[i], &in[i + 1], (size_t)(*n_in - i - 1) * sizeof *in);
        (*n_in)--;
    }
    return GLINT_OK;
}

/* Runs one data set on a fresh load of the model (freezing inputs changes
 * it); returns 0 pass, 1 fail, 2 skip, with the reason. */
static int run_set(const char *model_path, const char *set_dir, const check_opts *o, char *err,
                   size_t errlen)
{
    glint_model *m = NULL;
    glint_tensor in[MAX_IO] = {0}, want[MAX_IO] = {0};
    int n_in = 0, n_out = 0, rc = 1;
    char path[4096];
    glint_context *ctx = NULL;
    glint_status s = glint_model_load(model_path, &m);
    if (s) {
        snprintf(err, errlen, "%s", glint_last_error());
        return s == GLINT_ERR_UNSUPPORTED ? 2 : 1;
    }
    for (; n_in < MAX_IO; n_in++) {
        snprintf(path, sizeof path, "%s/input_%d.pb", set_dir, n_in);
        if (!has_file(set_dir, path + strlen(set_dir) + 1)) break;
        if ((s = model_load_pb(path, &in[n_in], err, errlen))) {
            rc = s == GLINT_ERR_UNSUPPORTED ? 2 : 1;
            goto done;
        }
    }
    for (; n_out < MAX_IO; n_out++) {
        snprintf(path, sizeof path, "%s/output_%d.pb", set_dir, n_out);
        if (!has_file(set_dir, path + strlen(set_dir) + 1)) break;
        if ((s = model_load_pb(path, &want[n_out], err, errlen))) {
            rc = s == GLINT_ERR_UNSUPPORTED ? 2 : 1;
            goto done;
        }
    }
    if (n_out != glint_model_num_outputs(m)) {
        snprintf(err, errlen, "data set has %d outputs, the model %d", n_out,
                 glint_model_num_outputs(m));
        goto done;
    }
    glint_context_options opt = {.threads = o->threads, .backend = o->backend, .max_batch = 1};
    glint_io_info info;
    if (glint_model_num_inputs(m) > 0) {
        glint_model_input_info(m, 0, &info);
        if (info.ndim > 0 && info.dims[0] < 0 && n_in > 0 && in[0].ndim > 0)
            opt.max_batch = (int)in[0].dims[0];
    }
    /* free dimensions take the data set's sizes (the plan is built at the
     * first run, as onnx_test_runner fixes them) */
    s = glint_context_create(m, &opt, &ctx);
    if (!s) s = glint_context_run(ctx, in, n_in);
    if (s == GLINT_ERR_UNSUPPORTED && strstr(glint_last_error(), "must be a constant")) {
        /* shape-tensor inputs: plan with them frozen, as their values are known */
        glint_context_free(ctx);
        ctx = NULL;
        s = freeze_shape_inputs(m, in, &n_in);
        if (!s) s = glint_context_create(m, &opt, &ctx);
        if (!s) s = glint_context_run(ctx, in, n_in);
    }
    if (s) {
        snprintf(err, errlen, "%s", glint_last_error());
        rc = s == GLINT_ERR_UNSUPPORTED ? 2 : 1;
        goto done;
    }
    rc = 0;
    for (int i = 0; i < n_out && rc == 0; i++) {
        glint_tensor got;
        glint_context_output(ctx, i, &got);
        char why[256];
        if (!model_tensor_compare(&got, &want[i], &o->tol, why, sizeof why)) {
            glint_model_output_info(m, i, &info);
            snprintf(err, errlen, "output '%s': %s", info.name, why);
            rc = 1;
        }
    }
done:
    glint_context_free(ctx);
    glint_model_free(m);
    for (int i = 0; i < n_in; i++)
        free(in[i].data);
    for (int i = 0; i < n_out; i++)
        free(want[i].data);
    return rc;
}

static void run_case(const char *dir, const check_opts *o, counts *c)
{
    const char *name = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    char path[4096], err[1024] = "";
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    glint_model *m = NULL;
    glint_status s = glint_model_load(path, &m);
    int rc = 0;
    if (s) {
        snprintf(err, sizeof err, "%s", glint_last_error());
        rc = s == GLINT_ERR_UNSUPPORTED ? 2 : 1;
    } else {
        char **sets;
        int n = list_dir(dir, "test_data_set_", &sets);
        if (n <= 0) {
            snprintf(err, sizeof err, "no test_data_set_* folder");
            rc = 1;
        }
        char set[4096];
        for (int i = 0; i < n && rc == 0; i++) {
            snprintf(set, sizeof set, "%s/%s", dir, sets[i]);
            rc = run_set(path, set, o, err, sizeof err);
        }
        free_list(sets, n > 0 ? n : 0);
    }
    glint_model_free(m);
    const char *tag[] = {"PASS", "FAIL", "SKIP"};
    if (rc == 0)
        c->passed++;
    else if (rc == 1)
        c->failed++;
    else
        c->skipped++;
    if (rc || o->verbose) printf("%s %s%s%s\n", tag[rc], name, rc ? ": " : "", err);
    fflush(stdout);
}

static void run_path(const char *dir, const check_opts *o, counts *c)
{
    if (has_file(dir, "model.onnx")) {
        run_case(dir, o, c);
        return;
    }
    char **names;
    int n = list_dir(dir, "", &names);
    if (n < 0) {
        printf("FAIL %s: cannot open: %s\n", dir, strerror(errno));
        c->failed++;
        return;
    }
    for (int i = 0; i < n; i++) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
        if (is_dir(sub)) run_path(sub, o, c);
    }
    free_list(names, n);
}

int cmd_check(int argc, char **argv)
{
    check_opts o = {.tol = {.rtol = 1e-3, .atol = 1e-5}, .threads = 1};
    int first = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            printf("usage: glint check [--rtol R] [--atol A] [--rel-l2 E] [--backend auto|ref] "
                   "[--threads T] [-v] DIR...\n"
                   "DIR is a case folder (model.onnx + test_data_set_*/) or a folder of them.\n"
                   "Compares element-wise (|got-want| <= atol + rtol*|want|; default rtol 1e-3,\n"
                   "atol 1e-5) or, with --rel-l2, by relative L2 error of each output.\n");
            return 0;
        } else if (!strcmp(a, "--rtol") && i + 1 < argc)
            o.tol.rtol = cli_double(a, argv[++i], 0, 1);
        else if (!strcmp(a, "--atol") && i + 1 < argc)
            o.tol.atol = cli_double(a, argv[++i], 0, 1e9);
        else if (!strcmp(a, "--rel-l2") && i + 1 < argc)
            o.tol.rel_l2 = cli_double(a, argv[++i], 1e-12, 1);
        else if (!strcmp(a, "--threads") && i + 1 < argc)
            o.threads = (int)cli_int(a, argv[++i], 1, 1024);
        else if (!strcmp(a, "--backend") && i + 1 < argc) {
            const char *b = argv[++i];
            if (!strcmp(b, "ref"))
                o.backend = GLINT_BACKEND_REF;
            else if (!strcmp(b, "auto"))
                o.backend = GLINT_BACKEND_AUTO;
            else {
                fprintf(stderr, "glint check: unknown backend '%s'\n", b);
                return 2;
            }
        } else if (!strcmp(a, "-v"))
            o.verbose = 1;
        else if (a[0] == '-') {
            fprintf(stderr, "glint check: unknown option '%s'\n", a);
            return 2;
        } else {
            first = i;
            break;
        }
    }
    if (first >= argc) {
        fprintf(stderr, "glint check: no folder given (try --help)\n");
        return 2;
    }
    counts c = {0};
    for (int i = first; i < argc; i++)
        run_path(argv[i], &o, &c);
    printf("%d passed, %d failed, %d skipped\n", c.passed, c.failed, c.skipped);
    return c.failed ? 1 : 0;
}
