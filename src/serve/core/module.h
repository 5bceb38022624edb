/* A protocol (or feature) of glint serve is a module: a table the server
 * loops over. The core never names a protocol; adding one is a new folder
 * under serve/ and an entry in serve/modules.c, not an edit to the core.
 *
 * Every function runs on the loop thread; every pointer may be NULL. A
 * module keeps its state behind the `state` pointer start() sets; the
 * server hands it back to every other call (serve_module_state() finds it
 * from elsewhere).
 */
#ifndef GLINT_SERVE_CORE_MODULE_H
#define GLINT_SERVE_CORE_MODULE_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <jansson.h>
#include <stddef.h>

#include "serve/core/strbuf.h"

typedef struct server server;

/* How a request is let in when API keys are set (serve/core/auth.h). */
typedef enum serve_access {
    SERVE_ACCESS_DEFAULT = 0, /* a key when glint listens beyond loopback */
    SERVE_ACCESS_OPEN,        /* never a key: the health probes */
    SERVE_ACCESS_ADMIN,       /* always a key: changes to what is served */
} serve_access;

/* The answer to a picture one module handed another (serve_submit_image):
 * the HTTP status and JSON body the other would have answered a client
 * with (NUL-terminated, valid during the call). Loop thread. */
typedef void (*serve_image_done)(void *arg, int status, const char *body, size_t len);

typedef struct serve_module {
    const char *name; /* also its key in /health */
    /* Start-up, after the models are loaded: sets *state (as soon as it
     * exists: serve_module_state() finds it from then on). 0, or -1 with err
     * (the server does not start; stop still runs). */
    int (*start)(server *s, void **state, char *err, size_t err_size);
    /* How a request on one of its paths is let in (DEFAULT for a path
     * that is not its); NULL: DEFAULT. Asked before any route. */
    serve_access (*access)(const h2o_req_t *req, const char *path, size_t len);
    /* 0 if it answered (or took over) the request, -1 if the path is not
     * its (the next module is asked). */
    int (*route)(server *s, void *state, h2o_req_t *req, const char *path, size_t len);
    /* Every loop turn (at least every 200 ms): periodic work, cheap when
     * nothing is due. */
    void (*tick)(server *s, void *state);
    /* SIGTERM: the server stops taking work (it answers what it has and
     * then stops): a module with listeners of its own closes them. */
    void (*drain)(server *s, void *state);
    /* Teardown, after the engines stopped: frees the state (whatever start
     * set, NULL included). */
    void (*stop)(server *s, void *state);
    /* A picture from inside the server (a camera's JPEG frame) for
     * `target` ("detector:<id>", ...) on behalf of `client` (its name for
     * rate limits and sticky splits): 0 if it took it (done then runs once,
     * later, on the loop), 1 if the target is not its, -1 with err if it
     * refused it. */
    int (*image)(server *s, void *state, const char *target, const void *jpeg, size_t len,
                 const char *client, serve_image_done done, void *arg, char *err, size_t err_size);
    /* Its part of /health (a new reference). */
    json_t *(*health)(server *s, void *state);
    /* Its series of /metrics. */
    void (*metrics)(server *s, void *state, strbuf *sb);
} serve_module;

/* The state module m's start() set, or NULL. */
void *serve_module_state(const server *s, const serve_module *m);
/* Hands a picture to the module that takes `target` (the image hook
 * above): 0 taken, or -1 with err (refused, or no module takes it). */
int serve_submit_image(server *s, const char *target, const void *jpeg, size_t len,
                       const char *client, serve_image_done done, void *arg, char *err,
                       size_t err_size);
/* Adds each module's health object to o under its name. */
void serve_modules_health(server *s, json_t *o);
/* Appends each module's metrics to sb. */
void serve_modules_metrics(server *s, strbuf *sb);

#endif
