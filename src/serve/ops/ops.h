/* Operator routes: GET /health (JSON) and GET /metrics (Prometheus text),
 * with every module's part of each. A serve module (serve/core/module.h). */
#ifndef GLINT_SERVE_OPS_H
#define GLINT_SERVE_OPS_H

#include "serve/core/module.h"

extern const serve_module ops_module;

#endif
