/* model/reference: a model checked against reference pairs (see reference.h). */
#include "model/reference.h"
#include "model/fileio.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PB_BYTES ((size_t)1 << 30)

glint_status model_load_pb(const char *path, glint_tensor *t, char *err, size_t err_size)
{
    size_t size;
    void *buf = fileio_read(path, MAX_PB_BYTES, &size);
    if (!buf) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        return GLINT_ERR_IO;
    }
    glint_status s = glint_tensor_parse(buf, size, t, NULL);
    free(buf);
    if (s) snprintf(err, err_size, "%s: %s", path, glint_last_error());
    return s;
}

static double elem(const glint_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case GLINT_F32:
        return ((const float *)t->data)[i];
    case GLINT_F64:
        return ((const double *)t->data)[i];
    case GLINT_I64:
        return (double)((const int64_t *)t->data)[i];
    case GLINT_I32:
        return ((const int32_t *)t->data)[i];
    case GLINT_I8:
        return ((const int8_t *)t->data)[i];
    default:
        return ((const uint8_t *)t->data)[i];
    }
}

bool model_tensor_compare(const glint_tensor *got, const glint_tensor *want,
                          const model_tolerance *tol, char *err, size_t err_size)
{
    if (got->dtype != want->dtype) {
        snprintf(err, err_size, "type %s, expected %s", glint_dtype_name(got->dtype),
                 glint_dtype_name(want->dtype));
        return false;
    }
    int64_t n = 1;
    bool same = got->ndim == want->ndim;
    for (int d = 0; same && d < got->ndim; d++) {
        same = got->dims[d] == want->dims[d];
        n *= want->dims[d];
    }
    if (!same) {
        snprintf(err, err_size, "shape differs from the expected one (rank %d vs %d)", got->ndim,
                 want->ndim);
        return false;
    }
    bool fp = want->dtype == GLINT_F32 || want->dtype == GLINT_F64;
    if (fp && tol->rel_l2 > 0) {
        double num = 0, den = 0;
        for (int64_t i = 0; i < n; i++) {
            double a = elem(got, i), b = elem(want, i);
            num += (a - b) * (a - b);
            den += b * b;
        }
        double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        if (!(rel <= tol->rel_l2)) {
            snprintf(err, err_size, "relative L2 error %.3g > %.3g", rel, tol->rel_l2);
            return false;
        }
        return true;
    }
    for (int64_t i = 0; i < n; i++) {
        double a = elem(got, i), b = elem(want, i);
        if (fp && isnan(a) && isnan(b)) continue;
        bool ok = fp ? fabs(a - b) <= tol->atol + tol->rtol * fabs(b) : a == b;
        if (fp && isinf(b)) ok = a == b;
        if (!ok) {
            snprintf(err, err_size, "element %lld is %.7g, expected %.7g", (long long)i, a, b);
            return false;
        }
    }
    return true;
}

int model_reference_check(const char *onnx_path, const char *in_pb, const char *out_pb,
                          const model_tolerance *tol, char *err, size_t err_size)
{
    glint_model *m = NULL;
    glint_context *ctx = NULL;
    glint_tensor in = {0}, want = {0}, got;
    int rc = -1;
    char why[256];
    if (glint_model_load(onnx_path, &m)) {
        snprintf(err, err_size, "%s: %s", onnx_path, glint_last_error());
        return -1;
    }
    if (glint_model_num_inputs(m) != 1 || glint_model_num_outputs(m) != 1) {
        snprintf(err, err_size, "a reference pair checks a model of one input and one output");
        goto done;
    }
    if (model_load_pb(in_pb, &in, err, err_size) || model_load_pb(out_pb, &want, err, err_size))
        goto done;
    glint_io_info info;
    glint_model_input_info(m, 0, &info);
    glint_context_options opt = {.threads = 1, .max_batch = 1};
    if (info.ndim > 0 && info.dims[0] < 0 && in.ndim > 0) opt.max_batch = (int)in.dims[0];
    if (glint_context_create(m, &opt, &ctx) || glint_context_run(ctx, &in, 1)) {
        snprintf(err, err_size, "the reference input does not run: %s", glint_last_error());
        goto done;
    }
    glint_context_output(ctx, 0, &got);
    if (!model_tensor_compare(&got, &want, tol, why, sizeof why)) {
        snprintf(err, err_size, "the output differs from the reference: %s", why);
        goto done;
    }
    rc = 0;
done:
    glint_context_free(ctx);
    glint_model_free(m);
    free(in.data);
    free(want.data);
    return rc;
}
