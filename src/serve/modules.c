/* The protocol modules glint serve runs, in the order they are asked for a
 * request. A new protocol is a folder under serve/ and a line here. */
#include "serve/serve.h"

#include <stdio.h>

#include "serve/core/module.h"
#include "serve/deepstack/deepstack.h"
#include "serve/edge/edge.h"
#include "serve/kserve/kserve_grpc.h"
#include "serve/kserve/kserve_http.h"
#include "serve/ops/ops.h"
#include "serve/v1/v1.h"
#ifdef GLINT_STREAMS
#include "serve/streams/streams.h"
#endif

int serve_run(const serve_options *o)
{
    static const serve_module *const modules[] = {&ops_module,       &v1_module,
                                                  &kserve_module,    &edge_module,
                                                  &deepstack_module, &kserve_grpc_module,
#ifdef GLINT_STREAMS
                                                  &streams_module
#endif
    };
#ifndef GLINT_STREAMS
    if (o->streams || o->mqtt_url) {
        fprintf(stderr, "glint serve: this glint was built without streams (FFmpeg and "
                        "libmosquitto: scripts/install-deps.sh, then build again)\n");
        return 2;
    }
#endif
    return server_run(o, modules, (int)(sizeof modules / sizeof modules[0]));
}
