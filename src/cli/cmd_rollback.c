/* glint rollback: returns an edge detector to the model version before the
 * one it serves (POST /edge-api/v1/detectors/{id}/rollback on a running
 * glint serve), then waits until /health shows that version serving.
 *   glint rollback DETECTOR [--url http://127.0.0.1:8080] [--timeout-ms N] [--no-wait]
 * Exit codes: 0 rolled back, 1 refused or not done in time, 2 usage. */
#include "bench/httpc.h"
#include "cli/cli.h"
#include "util/clock.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEALTH_MAX (4u << 20) /* bytes of /health read */

static void usage(void)
{
    printf("usage: glint rollback DETECTOR [--url http://127.0.0.1:8080] [--timeout-ms N]\n"
           "                      [--no-wait]\n"
           "Returns the detector to the model version before the one it serves (a version\n"
           "pulled from the upstream; the one rolled back from is not pulled again until\n"
           "the upstream names another), and waits (default 60000 ms) until it serves.\n");
}

/* The version detector det serves per url's /health, -1 if unknown. */
static int serving_version(const char *base, const char *det, int timeout_ms, char *buf)
{
    char url[2200];
    snprintf(url, sizeof url, "%s/health", base);
    httpc_url u;
    int status = 0;
    size_t len = 0;
    if (httpc_url_parse(url, &u) != BENCH_OK ||
        httpc_get(&u, timeout_ms, &status, buf, HEALTH_MAX, &len) != BENCH_OK || status != 200)
        return -1;
    json_t *h = json_loadb(buf, len, 0, NULL);
    json_t *v = json_object_get(
        json_object_get(json_object_get(json_object_get(h, "edge"), "model_updates"), det),
        "version");
    int r = json_is_integer(v) ? (int)json_integer_value(v) : -1;
    json_decref(h);
    return r;
}

int cmd_rollback(int argc, char **argv)
{
    const char *base = "http://127.0.0.1:8080", *det = NULL;
    int timeout_ms = 60000, wait = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--url") && i + 1 < argc) {
            base = argv[++i];
        } else if (!strcmp(a, "--timeout-ms") && i + 1 < argc) {
            timeout_ms = (int)cli_int("--timeout-ms", argv[++i], 1, 3600000);
        } else if (!strcmp(a, "--no-wait")) {
            wait = 0;
        } else if (strncmp(a, "--", 2) && !det) {
            det = a;
        } else {
            fprintf(stderr, "glint rollback: unexpected '%s' (try --help)\n", a);
            return 2;
        }
    }
    if (!det || strlen(det) > 63 || strchr(det, '/') || strchr(det, '?')) {
        fprintf(stderr, "glint rollback: name one detector (try --help)\n");
        return 2;
    }
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    char root[2048], url[2200];
    snprintf(root, sizeof root, "%.*s", (int)(bl < sizeof root - 1 ? bl : sizeof root - 1), base);
    snprintf(url, sizeof url, "%s/edge-api/v1/detectors/%s/rollback", root, det);
    httpc_url u;
    if (httpc_url_parse(url, &u) != BENCH_OK) {
        fprintf(stderr, "glint rollback: bad URL '%s' (http://HOST[:PORT])\n", base);
        return 2;
    }
    char *buf = malloc(HEALTH_MAX);
    if (!buf) {
        fprintf(stderr, "glint rollback: out of memory\n");
        return 1;
    }
    int status = 0, rc = 1;
    size_t len = 0;
    if (httpc_call(&u, "POST", timeout_ms, &status, buf, HEALTH_MAX, &len) != BENCH_OK) {
        fprintf(stderr, "glint rollback: %s: no answer\n", url);
        goto out;
    }
    json_t *doc = json_loadb(buf, len, 0, NULL);
    if (status != 202) {
        const char *d = json_string_value(json_object_get(doc, "detail"));
        fprintf(stderr, "glint rollback: %s: HTTP %d: %s\n", det, status, d ? d : buf);
        json_decref(doc);
        goto out;
    }
    int from = (int)json_integer_value(json_object_get(doc, "from_version"));
    int to = (int)json_integer_value(json_object_get(doc, "to_version"));
    json_decref(doc);
    if (!wait) {
        printf("detector %s: rolling back from version %d to %d\n", det, from, to);
        rc = 0;
        goto out;
    }
    double until = clock_now_ms() + timeout_ms;
    while (clock_now_ms() < until) {
        if (serving_version(root, det, 5000, buf) == to) {
            printf("detector %s: version %d -> %d\n", det, from, to);
            rc = 0;
            goto out;
        }
        usleep(50000);
    }
    fprintf(stderr, "glint rollback: %s: version %d not serving within %d ms (see /health)\n", det,
            to, timeout_ms);
out:
    free(buf);
    return rc;
}
