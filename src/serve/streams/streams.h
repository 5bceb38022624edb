/* streams: camera streams as an input of glint serve (docs/streams.md).
 *
 * Each stream (from --streams FILE, or PUT /v1/streams/{id}) is a camera
 * (media/camera.h: its own thread reads and decodes, keeps the latest frame
 * worth analysing) feeding a model of the repository (or a split). On the
 * loop, a stream with a new frame and nothing in flight sends that frame
 * through the core's pipeline like any request (the model's batcher, its
 * queue limits, its statistics); one frame per stream is in flight at most,
 * so a model slower than the stream drops frames (counted) and never queues
 * them. The answer — the model's, with the frame's capture time, lag and
 * motion verdict — becomes the stream's latest (`GET /v1/streams/{id}/latest`,
 * `/latest.jpg` with its boxes drawn) and is published over MQTT (--mqtt:
 * topic `<prefix>/<id>/<model>`, retained, QoS 1, bounded while the broker is
 * away).
 *
 * Routes: GET /v1/streams, GET|PUT|DELETE /v1/streams/{id} (PUT and DELETE
 * are admin routes when API keys are set), GET /v1/streams/{id}/latest and
 * /latest.jpg. /health's "streams" and /metrics' glint_stream_* series.
 */
#ifndef GLINT_SERVE_STREAMS_STREAMS_H
#define GLINT_SERVE_STREAMS_STREAMS_H

#include "serve/core/module.h"

extern const serve_module streams_module;

#endif
