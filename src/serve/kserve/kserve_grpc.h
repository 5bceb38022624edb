/* KServe v2 / Open Inference Protocol over gRPC, as Triton serves it
 * (service inference.GRPCInferenceService in proto/grpc_service.proto) on
 * its own port (--grpc-listen): ServerLive/Ready, ModelReady, Server- and
 * ModelMetadata, ModelConfig, ModelStatistics, RepositoryIndex,
 * RepositoryModelLoad/Unload, ModelInfer (raw_input_contents or typed
 * contents in, raw_output_contents out) and ModelStreamInfer. Errors are
 * gRPC statuses: INVALID_ARGUMENT (a bad request), NOT_FOUND (no such
 * model or version), UNAVAILABLE (overloaded, not ready, draining),
 * DEADLINE_EXCEEDED (grpc-timeout or the model's timeout passed),
 * UNAUTHENTICATED (API keys, as on HTTP), RESOURCE_EXHAUSTED (a message
 * over --max-body-mb), UNIMPLEMENTED (other RPCs, compression).
 * A serve module (serve/core/module.h). */
#ifndef GLINT_SERVE_KSERVE_GRPC_H
#define GLINT_SERVE_KSERVE_GRPC_H

#include "serve/core/module.h"

extern const serve_module kserve_grpc_module;

#endif
