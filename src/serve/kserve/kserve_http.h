/* The KServe v2 / Open Inference Protocol over HTTP, as Triton speaks it
 * (the codec is kserve.h). A serve module (serve/core/module.h). */
#ifndef GLINT_SERVE_KSERVE_HTTP_H
#define GLINT_SERVE_KSERVE_HTTP_H

#include "serve/core/module.h"

extern const serve_module kserve_module;

#endif
