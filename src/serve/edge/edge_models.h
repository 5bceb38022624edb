/* glint as the upstream of other edge endpoints: the model of each detector
 * it holds, as the original's model updater fetches it
 * (GROUNDLIGHT-API.md, "Model updates"):
 *
 *   GET /edge-api/v1/fetch-model-urls/{detector_id}/
 *       {"pipeline_config": model.yaml's text, "predictor_metadata": JSON text,
 *        "model_binary_id": sha256 of the package, "model_binary_url": URL,
 *        "oodd_pipeline_config": ""}
 *   GET /edge-api/v1/model-binaries/{sha256}.tar
 *       the package (model_store_pack, model/store.h: a ustar of the model
 *       folder's files, the same files giving the same id). No token: the id
 *       is the capability, as a presigned URL is.
 *
 * A package is built on the loop thread on the first request for a model
 * version (the folder's file signature) and kept until that changes.
 */
#ifndef GLINT_SERVE_EDGE_MODELS_H
#define GLINT_SERVE_EDGE_MODELS_H

#include <stddef.h>

#include "serve/core/server_impl.h"

typedef struct edge_models edge_models;

edge_models *edge_models_create(void);
void edge_models_destroy(edge_models *em);

/* Routes /edge-api/v1/... (p, n: the path after "/edge-api"). Loop thread. */
void edge_models_route(server *s, edge_models *em, h2o_req_t *req, const char *p, size_t n);

#endif
