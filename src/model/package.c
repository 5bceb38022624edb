/* model_package: open a model folder once for every command (see package.h). */
#include "model/package.h"

#include "model/precision.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *path_join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}

int model_package_open(model_package *p, const char *path, char *err, size_t err_size)
{
    memset(p, 0, sizeof *p);
    p->precision = MODEL_PRECISION_F32;
    struct stat st;
    if (stat(path, &st)) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        p->dir = strdup(path);
        p->onnx_path = p->dir ? path_join(path, "model.onnx") : NULL;
    } else {
        p->onnx_path = strdup(path);
    }
    if (!p->onnx_path) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    if (glint_model_load(p->onnx_path, &p->model)) {
        snprintf(err, err_size, "%s", glint_last_error());
        goto fail;
    }
    if (model_conf_load(&p->conf, p->onnx_path, p->model, err, err_size)) goto fail;
    return 0;
fail:
    model_package_close(p);
    return -1;
}

int model_package_settle(model_package *p, int prec, int threads, char *err, size_t err_size)
{
    int asked = prec != MODEL_PRECISION_DEFAULT;
    if (!asked) prec = p->conf.serving.precision;
    if (!p->dir) { /* a bare file: nothing beside it to choose from */
        if (!asked && (prec == MODEL_PRECISION_INT8 || prec == MODEL_PRECISION_AUTO)) {
            /* the model.yaml beside it speaks of its folder */
            p->precision = MODEL_PRECISION_F32;
            snprintf(p->precision_note, sizeof p->precision_note,
                     "f32: model.yaml's %s applies to the folder, not to a bare file",
                     prec == MODEL_PRECISION_INT8 ? "int8" : "auto");
            return 0;
        }
        if (prec == MODEL_PRECISION_INT8 || prec == MODEL_PRECISION_AUTO) {
            snprintf(err, err_size,
                     "%s: precision int8 and auto need a model folder (with "
                     "model.int8.onnx from glint quantize)",
                     p->onnx_path);
            return -1;
        }
        p->precision = prec == MODEL_PRECISION_BF16 ? MODEL_PRECISION_BF16 : MODEL_PRECISION_F32;
        snprintf(p->precision_note, sizeof p->precision_note, "%s as configured",
                 precision_name(p->precision));
        return 0;
    }
    int64_t dims[4] = {0, 3, p->conf.spec.height, p->conf.spec.width};
    return precision_settle(p->dir, prec, threads, dims, &p->model, &p->precision,
                            p->precision_note, sizeof p->precision_note, err, err_size);
}

void model_package_context_options(const model_package *p, int threads, int max_batch,
                                   glint_context_options *co)
{
    memset(co, 0, sizeof *co);
    co->threads = threads;
    co->max_batch = max_batch;
    co->bf16 = p->precision == MODEL_PRECISION_BF16;
    co->input_dims[2] = p->conf.spec.height; /* free spatial axes run at the configured size */
    co->input_dims[3] = p->conf.spec.width;
}

uint64_t model_package_sig(const char *dir)
{
    static const char *const files[] = {"model.onnx", "model.int8.onnx", "model.yaml"};
    uint64_t sig = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (stat(path, &st)) continue;
        sig = sig * 1000003u + (uint64_t)st.st_mtim.tv_sec * 1000000000u +
              (uint64_t)st.st_mtim.tv_nsec + (uint64_t)st.st_size * 7919u + (uint64_t)st.st_ino;
    }
    return sig;
}

void model_package_close(model_package *p)
{
    if (!p) return;
    glint_model_free(p->model);
    model_conf_dispose(&p->conf);
    free(p->dir);
    free(p->onnx_path);
    memset(p, 0, sizeof *p);
}
