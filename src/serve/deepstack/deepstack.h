/* DeepStack's object detection API (POST /v1/vision/detection and
 * /v1/vision/custom/{model}) for the NVR integrations that speak it. A
 * serve module (serve/core/module.h). */
#ifndef GLINT_SERVE_DEEPSTACK_H
#define GLINT_SERVE_DEEPSTACK_H

#include "serve/core/module.h"

extern const serve_module deepstack_module;

#endif
