/* libFuzzer target for src/serve/edge_config: the input is an edge config
 * file (YAML or JSON). Checks, beyond "no crash, no leak, bounded time"
 * (aliases and nesting are bounded): a refusal says why; an accepted config
 * holds its rules (unique well-formed detector ids, existing presets,
 * disable_cloud_escalation only with always_return_edge_prediction,
 * thresholds in [0, 1]) and its document parses again to the same config.
 * Seeds: fuzz/corpus/edge_config/.
 *
 *   build-fuzz/fuzz_edge_config -max_len=8192 work/ fuzz/corpus/edge_config
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve/edge/edge_config.h"

static void check(const edge_config *c)
{
    for (int i = 0; i < c->n_detectors; i++) {
        const edge_detector *d = &c->detectors[i];
        if (!edge_detector_id_valid(d->id) || d->preset < 0 || d->preset >= c->n_presets) abort();
        if (!(d->confidence_threshold >= 0 && d->confidence_threshold <= 1)) abort();
        for (int k = 0; k < i; k++)
            if (!strcasecmp(c->detectors[k].id, d->id)) abort();
    }
    for (int i = 0; i < c->n_presets; i++)
        if (c->presets[i].disable_escalation && !c->presets[i].always_return) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    edge_config *c = edge_config_parse((const char *)data, size, err, sizeof err);
    if (!c) {
        if (!err[0]) abort();
        return 0;
    }
    check(c);
    char err2[256];
    edge_config *again = edge_config_from_json(c->doc, err2, sizeof err2);
    if (!again || again->n_detectors != c->n_detectors || again->n_presets != c->n_presets) abort();
    edge_config_release(again);
    edge_config_release(c);
    return 0;
}
