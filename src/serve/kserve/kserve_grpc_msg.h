/* KServe v2's gRPC inference request (ModelInferRequest) as the request
 * the common path takes (kserve.h's kserve_request): datatypes, shapes,
 * raw_input_contents or typed contents, requested outputs, the `timeout`
 * parameter. Checked as the JSON parser checks: at most
 * KSERVE_MAX_TENSORS inputs and outputs, names up to KSERVE_MAX_NAME
 * bytes and unique, shapes of non-negative dims whose product is at most
 * KSERVE_DEFAULT_MAX_ELEMENTS, raw contents of exactly the shape's bytes
 * (one entry per input, or none), typed contents of exactly the shape's
 * count in the datatype's field (INT8 and UINT8 range-checked), no
 * classification outputs. Reentrant, no global state. */
#ifndef GLINT_SERVE_KSERVE_GRPC_MSG_H
#define GLINT_SERVE_KSERVE_GRPC_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "grpc_service.pb-c.h"
#include "serve/kserve/kserve.h"

/* Finds model_name (field 1) and model_version (2) of a ModelInferRequest
 * without unpacking it (the loop thread does not copy its tensors): 0, or
 * -1 if its top level does not parse. Both outs are NUL-terminated, cut to
 * their caps (>= 1). */
int kserve_grpc_peek_model(const uint8_t *msg, size_t len, char *name, size_t ncap, char *version,
                           size_t vcap);

/* Unpacks msg with allocator al (NULL: malloc) into *q and converts it into
 * *out: 0, or -1 with the reason in err (*out is then empty; *q is set if
 * the message unpacked). Raw contents in *out point into *q: free *q
 * (protobuf_c_message_free_unpacked with al) after disposing *out. */
int kserve_grpc_parse_infer(const uint8_t *msg, size_t len, ProtobufCAllocator *al,
                            Inference__ModelInferRequest **q, kserve_request *out, char *err,
                            size_t err_size);

#endif
