/* glint probe: one HTTP GET, exit 0 on a 2xx answer. The health check of
 * the container image and of exec probes, where no curl is installed:
 *   glint probe                       -> http://127.0.0.1:8080/v2/health/ready
 *   glint probe http://HOST:PORT/PATH [--timeout-ms N] [--quiet]
 * Exit codes: 0 a 2xx answer, 1 another status or no answer, 2 usage. */
#include "bench/httpc.h"
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#define PROBE_DEFAULT_URL "http://127.0.0.1:8080/v2/health/ready"

static void usage(void)
{
    printf("usage: glint probe [URL] [--timeout-ms N] [--quiet]\n"
           "GETs URL (default " PROBE_DEFAULT_URL ") and exits 0 on a 2xx answer,\n"
           "1 on another status or none within the timeout (default 2000 ms), 2 on usage.\n");
}

int cmd_probe(int argc, char **argv)
{
    const char *url = PROBE_DEFAULT_URL;
    int timeout_ms = 2000, quiet = 0, have_url = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--timeout-ms") && i + 1 < argc) {
            timeout_ms = (int)cli_int("--timeout-ms", argv[++i], 1, 600000);
        } else if (strncmp(a, "--", 2) && !have_url) {
            url = a;
            have_url = 1;
        } else {
            fprintf(stderr, "glint probe: unexpected '%s' (try --help)\n", a);
            return 2;
        }
    }
    httpc_url u;
    if (httpc_url_parse(url, &u) != BENCH_OK) {
        fprintf(stderr, "glint probe: bad URL '%s' (http://HOST[:PORT][/PATH])\n", url);
        return 2;
    }
    int status = 0;
    char body[512];
    size_t len = 0;
    if (httpc_get(&u, timeout_ms, &status, body, sizeof body, &len) != BENCH_OK) {
        if (!quiet) fprintf(stderr, "glint probe: %s: no answer within %d ms\n", url, timeout_ms);
        return 1;
    }
    if (!quiet) printf("%d %s\n", status, body);
    return status >= 200 && status < 300 ? 0 : 1;
}
