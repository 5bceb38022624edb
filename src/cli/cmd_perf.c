/* glint perf: model-only benchmark. Loads a model (a file, or a folder's
 * model.onnx / model.int8.onnx by --precision), creates I instances with T
 * threads each, runs batch B on synthetic input for S seconds and reports
 * median latency, images/s, achieved GFLOP/s, load time, arena and RSS. */
#include "cli/cli.h"
#include "model/model_conf.h"
#include "util/clock.h"
#include "util/cpus.h"
#include "glint/engine.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES 1000000

typedef struct worker {
    glint_context *ctx;
    glint_tensor *inputs;
    int n_inputs;
    double seconds;
    double *lat_ms; /* per-run latencies */
    int n_lat;
    glint_status status;
} worker;

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    double kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = strtod(line + 6, NULL);
    fclose(f);
    return kb / 1024.0;
}

static void *work(void *arg)
{
    worker *w = arg;
    double end = (clock_now_ms() / 1e3) + w->seconds;
    while (w->n_lat < MAX_SAMPLES) {
        double t0 = (clock_now_ms() / 1e3);
        w->status = glint_context_run(w->ctx, w->inputs, w->n_inputs);
        if (w->status) break;
        double t1 = (clock_now_ms() / 1e3);
        w->lat_ms[w->n_lat++] = (t1 - t0) * 1e3;
        if (t1 >= end) break;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double p)
{
    if (n == 0) return 0;
    int i = (int)(p / 100.0 * (n - 1) + 0.5);
    return v[i];
}

/* Synthetic inputs of the model's shape at batch B (deterministic values). */
/* Synthetic inputs: free batch axes `batch`, the free height and width of a
 * 4-D input 0 hw[0] x hw[1], other free axes 1. */
static int make_inputs(const glint_model *m, int batch, const int64_t hw[2], glint_tensor *in)
{
    int n = glint_model_num_inputs(m);
    uint32_t seed = 12345;
    for (int i = 0; i < n; i++) {
        glint_io_info info;
        glint_model_input_info(m, i, &info);
        glint_tensor *t = &in[i];
        t->dtype = info.dtype;
        t->ndim = info.ndim;
        int64_t count = 1;
        for (int d = 0; d < info.ndim; d++) {
            t->dims[d] = info.dims[d] >= 0                    ? info.dims[d]
                         : d == 0                             ? batch
                         : i == 0 && info.ndim == 4 && d >= 2 ? hw[d - 2]
                                                              : 1;
            count *= t->dims[d];
        }
        size_t es = glint_dtype_size(info.dtype);
        t->data = calloc((size_t)count, es ? es : 1);
        if (!t->data) return -1;
        if (info.dtype == GLINT_F32)
            for (int64_t k = 0; k < count; k++) {
                seed = seed * 1664525u + 1013904223u;
                ((float *)t->data)[k] = (float)(seed >> 8) / 16777216.0f;
            }
    }
    return n;
}

/* Whether input 0 is an image whose height or width the model leaves free. */
static bool free_spatial(const glint_model *m)
{
    if (glint_model_num_inputs(m) < 1) return false;
    glint_io_info info;
    glint_model_input_info(m, 0, &info);
    return info.ndim == 4 && (info.dims[2] < 0 || info.dims[3] < 0);
}

/* The size a free-height/width model serves at (model.yaml, else the
 * export's metadata): 0, or -1 after a message. */
static int default_size(const glint_model *m, const char *path, int64_t hw[2])
{
    model_conf conf;
    char err[512];
    if (model_conf_load(&conf, path, m, err, sizeof err)) {
        fprintf(stderr,
                "glint perf: the model's height and width are free and --size is not "
                "given (%s)\n",
                err);
        return -1;
    }
    hw[0] = conf.spec.height;
    hw[1] = conf.spec.width;
    model_conf_dispose(&conf);
    return 0;
}

/* First run of a shape the context has not planned (the size's height and
 * width swapped, or 32 less when square; only the free one changed when the
 * other is fixed, as a text line's width) against a run of a planned one:
 * how much a new shape costs. 0, or -1 with the engine's error. */
static int time_new_shape(glint_context *c, const glint_model *m, const glint_tensor *in, int n_in,
                          double *first_ms, double *again_ms, double *build_ms)
{
    glint_tensor t[64];
    memcpy(t, in, (size_t)n_in * sizeof *t);
    glint_io_info info;
    glint_model_input_info(m, 0, &info);
    int64_t h = in[0].dims[2], w = in[0].dims[3];
    if (info.dims[2] >= 0 || info.dims[3] >= 0) { /* one free side */
        int a = info.dims[2] >= 0 ? 3 : 2;
        t[0].dims[a] = in[0].dims[a] > 32 ? in[0].dims[a] - 32 : in[0].dims[a] + 32;
    } else {
        t[0].dims[2] = h != w ? w : h > 32 ? h - 32 : h + 32;
        t[0].dims[3] = h != w ? h : t[0].dims[2];
    }
    double t0 = clock_now_ms();
    if (glint_context_run(c, t, n_in)) return -1;
    double t1 = clock_now_ms();
    if (glint_context_run(c, t, n_in)) return -1;
    *first_ms = t1 - t0;
    *again_ms = clock_now_ms() - t1;
    glint_context_stats st;
    glint_context_get_stats(c, &st);
    *build_ms = st.last_build_ms;
    return 0;
}

static void usage(void)
{
    printf("usage: glint perf --model M.onnx|DIR [--precision f32|int8|bf16] [--batch B]\n"
           "                  [--threads T] [--instances I] [--seconds S] [--backend auto|ref]\n"
           "                  [--size WxH] [--profile] [--json]\n"
           "Runs the model on synthetic input; prints median latency, images/s and GFLOP/s.\n"
           "A model with free height and width runs at --size (default: the size its\n"
           "model.yaml or export metadata gives); perf then also times the first run of\n"
           "another size (its plan built on first use).\n"
           "A folder DIR means DIR/model.onnx, or with --precision int8 DIR/model.int8.onnx\n"
           "(glint quantize); bf16 computes the float model's convolutions in bf16.\n"
           "--threads is per instance (default: usable CPUs / instances, see docs/serve.md).\n");
}

/* The model file --model and --precision name: a folder's model.onnx or
 * model.int8.onnx (written to buf), else the file itself. NULL (after a
 * message) when int8 is asked of a file. */
static const char *model_path(const char *model, int int8, char *buf, size_t size)
{
    struct stat st;
    if (!stat(model, &st) && S_ISDIR(st.st_mode)) {
        int n = snprintf(buf, size, "%s/model%s.onnx", model, int8 ? ".int8" : "");
        return n > 0 && (size_t)n < size ? buf : model;
    }
    if (int8) {
        fprintf(stderr, "glint perf: --precision int8 needs a model folder (with model.int8.onnx "
                        "from glint quantize)\n");
        return NULL;
    }
    return model;
}

int cmd_perf(int argc, char **argv)
{
    const char *model = NULL;
    int batch = 1, threads = 0, instances = 1, profile = 0, json = 0, int8 = 0, bf16 = 0;
    int64_t hw[2] = {0, 0}; /* --size: free height and width of input 0 */
    double seconds = 5;
    glint_backend backend = GLINT_BACKEND_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(a, "--precision") && i + 1 < argc) {
            const char *p = argv[++i];
            if (strcmp(p, "f32") && strcmp(p, "int8") && strcmp(p, "bf16")) {
                fprintf(stderr, "glint perf: --precision is f32, int8 or bf16, got '%s'\n", p);
                return 2;
            }
            int8 = !strcmp(p, "int8");
            bf16 = !strcmp(p, "bf16");
        } else if (!strcmp(a, "--batch") && i + 1 < argc)
            batch = (int)cli_int(a, argv[++i], 1, 256);
        else if (!strcmp(a, "--threads") && i + 1 < argc)
            threads = (int)cli_int(a, argv[++i], 1, 1024);
        else if (!strcmp(a, "--instances") && i + 1 < argc)
            instances = (int)cli_int(a, argv[++i], 1, 64);
        else if (!strcmp(a, "--seconds") && i + 1 < argc)
            seconds = cli_double(a, argv[++i], 0.01, 86400);
        else if (!strcmp(a, "--backend") && i + 1 < argc) {
            const char *b = argv[++i];
            if (!strcmp(b, "ref"))
                backend = GLINT_BACKEND_REF;
            else if (!strcmp(b, "auto"))
                backend = GLINT_BACKEND_AUTO;
            else {
                fprintf(stderr, "glint perf: unknown backend '%s'\n", b);
                return 2;
            }
        } else if (!strcmp(a, "--size") && i + 1 < argc) {
            const char *v = argv[++i];
            long long w = 0, h = 0;
            char tail;
            if (sscanf(v, "%lldx%lld%c", &w, &h, &tail) != 2 || w < 1 || h < 1 || w > 16384 ||
                h > 16384) {
                fprintf(stderr, "glint perf: --size is WIDTHxHEIGHT (1..16384), got '%s'\n", v);
                return 2;
            }
            hw[0] = h;
            hw[1] = w;
        } else if (!strcmp(a, "--profile"))
            profile = 1;
        else if (!strcmp(a, "--json"))
            json = 1;
        else {
            fprintf(stderr, "glint perf: unknown option '%s' (try --help)\n", a);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "glint perf: --model is required\n");
        return 2;
    }
    char path[4096];
    if (!(model = model_path(model, int8, path, sizeof path))) return 2;
    if (!threads) {
        int cpus = cpus_usable();
        threads = cpus / instances > 0 ? cpus / instances : 1;
    }
    double t0 = (clock_now_ms() / 1e3);
    glint_model *m;
    if (glint_model_load(model, &m)) {
        fprintf(stderr, "glint perf: %s\n", glint_last_error());
        return 1;
    }
    int rc = 1;
    bool free_hw = free_spatial(m);
    if (free_hw && !hw[0] && default_size(m, model, hw)) {
        glint_model_free(m);
        return 2;
    }
    worker *w = calloc((size_t)instances, sizeof *w);
    pthread_t *th = calloc((size_t)instances, sizeof *th);
    glint_tensor in[64] = {0};
    int n_in = glint_model_num_inputs(m);
    if (!w || !th || n_in > 64 || make_inputs(m, batch, hw, in) < 0) {
        fprintf(stderr, "glint perf: out of memory\n");
        goto done;
    }
    double t_loaded = (clock_now_ms() / 1e3);
    glint_context_options opt = {.threads = threads,
                                 .max_batch = batch,
                                 .backend = backend,
                                 .profile = profile,
                                 .bf16 = bf16};
    opt.input_dims[2] = hw[0];
    opt.input_dims[3] = hw[1];
    for (int i = 0; i < instances; i++) {
        w[i].inputs = in;
        w[i].n_inputs = n_in;
        w[i].seconds = seconds;
        w[i].lat_ms = malloc(MAX_SAMPLES * sizeof(double));
        if (!w[i].lat_ms || glint_context_create(m, &opt, &w[i].ctx)) {
            fprintf(stderr, "glint perf: %s\n", glint_last_error());
            goto done;
        }
    }
    double t_planned = (clock_now_ms() / 1e3);
    /* warm-up: every batch size of every instance (kernel JIT, first touch) */
    for (int i = 0; i < instances; i++)
        if (glint_context_warm(w[i].ctx)) {
            fprintf(stderr, "glint perf: %s\n", glint_last_error());
            goto done;
        }
    double load_ms = ((clock_now_ms() / 1e3) - t0) * 1e3;
    double start = (clock_now_ms() / 1e3);
    /* instance 0 runs on this thread, whose OpenMP team built and warmed it;
     * the others get a thread (and an OpenMP team) each */
    for (int i = 1; i < instances; i++)
        pthread_create(&th[i], NULL, work, &w[i]);
    work(&w[0]);
    for (int i = 1; i < instances; i++)
        pthread_join(th[i], NULL);
    double wall = (clock_now_ms() / 1e3) - start;
    int total = 0;
    for (int i = 0; i < instances; i++) {
        if (w[i].status) {
            fprintf(stderr, "glint perf: %s\n", glint_last_error());
            goto done;
        }
        total += w[i].n_lat;
    }
    double *all = malloc((size_t)total * sizeof *all);
    if (!all) goto done;
    for (int i = 0, k = 0; i < instances; i++)
        for (int j = 0; j < w[i].n_lat; j++)
            all[k++] = w[i].lat_ms[j];
    qsort(all, (size_t)total, sizeof *all, cmp_double);
    double ips = (double)total * batch / wall;
    double gflops = glint_model_flops(m) * ips / 1e9;
    double p50 = pct(all, total, 50), p90 = pct(all, total, 90), p99 = pct(all, total, 99);
    double arena = (double)glint_context_arena_bytes(w[0].ctx) / 1048576.0;
    double first_ms = 0, again_ms = 0, build_ms = 0;
    if (free_hw && time_new_shape(w[0].ctx, m, in, n_in, &first_ms, &again_ms, &build_ms)) {
        fprintf(stderr, "glint perf: %s\n", glint_last_error());
        goto done;
    }
    if (json) {
        printf("{\"model\":\"%s\",\"batch\":%d,\"threads\":%d,\"instances\":%d,\"runs\":%d,"
               "\"images_per_s\":%.3f,\"latency_ms_p50\":%.3f,\"latency_ms_p90\":%.3f,"
               "\"latency_ms_p99\":%.3f,\"gflops\":%.2f,\"model_gflop\":%.4f,\"load_ms\":%.1f,"
               "\"parse_ms\":%.1f,\"plan_ms\":%.1f,\"arena_mb\":%.1f,\"rss_mb\":%.1f",
               model, batch, threads, instances, total, ips, p50, p90, p99, gflops,
               glint_model_flops(m) / 1e9, load_ms, (t_loaded - t0) * 1e3,
               (t_planned - t_loaded) * 1e3, arena, rss_mb());
        if (free_hw)
            printf(",\"width\":%lld,\"height\":%lld,\"new_shape_first_run_ms\":%.1f,"
                   "\"new_shape_run_ms\":%.1f,\"new_shape_plan_ms\":%.1f",
                   (long long)hw[1], (long long)hw[0], first_ms, again_ms, build_ms);
        printf("}\n");
    } else {
        printf("model     %s (%.3f GFLOP per image)\n", model, glint_model_flops(m) / 1e9);
        printf("setup     batch %d, %d instance(s) x %d thread(s), %d runs in %.1f s\n", batch,
               instances, threads, total, wall);
        printf("latency   p50 %.2f ms, p90 %.2f ms, p99 %.2f ms\n", p50, p90, p99);
        printf("speed     %.1f images/s, %.1f GFLOP/s\n", ips, gflops);
        printf("memory    activations %.1f MB per instance, peak RSS %.1f MB\n", arena, rss_mb());
        printf("startup   %.0f ms to ready: load %.0f ms, plan %.0f ms (%d batch size(s) x %d "
               "instance(s)), warm-up %.0f ms\n",
               load_ms, (t_loaded - t0) * 1e3, (t_planned - t_loaded) * 1e3, batch, instances,
               load_ms - (t_planned - t0) * 1e3);
        if (free_hw)
            printf("shapes    free height/width, run at %lldx%lld; a new shape's first run "
                   "%.1f ms against %.1f ms once planned (plan %.1f ms)\n",
                   (long long)hw[1], (long long)hw[0], first_ms, again_ms, build_ms);
    }
    if (profile) {
        size_t need = glint_context_profile(w[0].ctx, NULL, 0);
        char *buf = malloc(need + 1);
        if (buf) {
            glint_context_profile(w[0].ctx, buf, need + 1);
            printf("%-48s %-18s %-40s %9s %6s\n", "node", "op", "kernel", "us/run", "share");
            fputs(buf, stdout);
            free(buf);
        }
    }
    free(all);
    rc = 0;
done:
    for (int i = 0; i < instances && w; i++) {
        glint_context_free(w[i].ctx);
        free(w[i].lat_ms);
    }
    for (int i = 0; i < n_in && i < 64; i++)
        free(in[i].data);
    free(w);
    free(th);
    glint_model_free(m);
    return rc;
}
