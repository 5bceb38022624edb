/* The Groundlight edge API (docs/edge.md): detectors answered by local
 * models, escalation to an upstream through a durable outbox. A serve
 * module (serve/core/module.h). */
#ifndef GLINT_SERVE_EDGE_H
#define GLINT_SERVE_EDGE_H

#include "serve/core/module.h"

extern const serve_module edge_module;

#endif
