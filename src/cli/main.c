/* glint: one binary, its jobs. Dispatches to the sub-commands. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(
        f, "usage: glint <command> [options]\n"
           "  run    --model M.onnx IMAGE...      detect/classify images, print JSON\n"
           "  check  DIR...                       run ONNX backend-test folders\n"
           "  perf   --model M.onnx [--batch B] [--threads T] [--instances I]\n"
           "         [--seconds S] [--profile] [--json]   model-only benchmark\n"
           "  quantize --model M --calib DIR --eval DIR   int8 (QDQ) model + agreement report\n"
           "  serve  [--models DIR] [--listen HOST:PORT] [--config FILE]   HTTP inference server\n"
           "  bench  ramp|rate|concurrency|spike --url URL ...   HTTP load generator\n"
           "  probe  [URL]                         GET a health URL, exit 0 on 2xx\n"
           "  rollback DETECTOR [--url URL]        an edge detector back to its previous model\n"
           "  tune   --model M --image F [--sla S] the serving settings with the most requests/s\n"
           "                                       within an SLA (serves and measures candidates)\n"
           "Run 'glint <command> --help' for a command's options.\n");
}

long cli_int(const char *opt, const char *val, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = val ? strtol(val, &end, 10) : 0;
    if (!val || errno || *end || end == val || v < lo || v > hi) {
        fprintf(stderr, "glint: %s needs an integer in [%ld, %ld], got '%s'\n", opt, lo, hi,
                val ? val : "");
        exit(2);
    }
    return v;
}

double cli_double(const char *opt, const char *val, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = val ? strtod(val, &end) : 0;
    if (!val || errno || *end || end == val || !(v >= lo && v <= hi)) {
        fprintf(stderr, "glint: %s needs a number in [%g, %g], got '%s'\n", opt, lo, hi,
                val ? val : "");
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "check")) return cmd_check(argc - 1, argv + 1);
    if (!strcmp(argv[1], "perf")) return cmd_perf(argc - 1, argv + 1);
    if (!strcmp(argv[1], "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "serve")) return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "quantize")) return cmd_quantize(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(argv[1], "probe")) return cmd_probe(argc - 1, argv + 1);
    if (!strcmp(argv[1], "rollback")) return cmd_rollback(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tune")) return cmd_tune(argc - 1, argv + 1);
    fprintf(stderr, "glint: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
