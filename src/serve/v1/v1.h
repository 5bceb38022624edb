/* glint's own routes (/v1/models...): an image in, the answer `glint run`
 * prints out. A serve module (serve/core/module.h). */
#ifndef GLINT_SERVE_V1_H
#define GLINT_SERVE_V1_H

#include "serve/core/module.h"

extern const serve_module v1_module;

#endif
