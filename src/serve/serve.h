/* glint serve: the core (serve/core/server.h) with every protocol module
 * glint has — glint's own /v1 routes, KServe v2, the Groundlight edge API
 * and the operator routes (/health, /metrics). */
#ifndef GLINT_SERVE_SERVE_H
#define GLINT_SERVE_SERVE_H

#include "serve/core/server.h"

/* Runs glint serve; returns the process exit status (see server_run). */
int serve_run(const serve_options *o);

#endif
