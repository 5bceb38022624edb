/* gRPC over HTTP/2 (cleartext, prior knowledge, as gRPC clients speak it
 * to an `insecure` channel) on the server's event loop, with libnghttp2.
 * Knows no service: a call is a path, its metadata, the messages the
 * client sends (the 5-byte length prefix removed) and the messages and
 * final status sent back. kserve_grpc.c is the service on top.
 *
 * Limits: a message over max_message bytes ends its call with
 * RESOURCE_EXHAUSTED; compressed messages (grpc-encoding other than
 * identity) with UNIMPLEMENTED; at most GRPC_MAX_STREAMS calls at once per
 * connection (the client is told in SETTINGS); at most max_connections
 * connections (further ones are closed at once).
 *
 * Threads: everything on the loop thread. A call is freed after its
 * handler's on_closed; the handler must not touch it afterwards.
 */
#ifndef GLINT_SERVE_KSERVE_GRPC_TRANSPORT_H
#define GLINT_SERVE_KSERVE_GRPC_TRANSPORT_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

#define GRPC_MAX_STREAMS 64
#define GRPC_PREFIX 5 /* a message's compressed flag and big-endian length */

/* gRPC status codes (the ones glint answers). */
enum {
    GRPC_OK = 0,
    GRPC_CANCELLED = 1,
    GRPC_UNKNOWN = 2,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_NOT_FOUND = 5,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_FAILED_PRECONDITION = 9,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
    GRPC_UNAUTHENTICATED = 16,
};

typedef struct grpc_server grpc_server;
typedef struct grpc_call grpc_call;

/* What the service does with calls; every pointer may be NULL. */
typedef struct grpc_handler {
    /* A call's headers arrived (path and metadata are readable). */
    void (*on_start)(grpc_call *c, void *ud);
    /* One whole message of len bytes (valid during the call only). */
    void (*on_message)(grpc_call *c, const uint8_t *msg, size_t len, void *ud);
    /* The client sent its last message. */
    void (*on_half_close)(grpc_call *c, void *ud);
    /* The call is over (answered, reset by the client, or its connection
     * closed): c is freed when this returns. */
    void (*on_closed)(grpc_call *c, void *ud);
} grpc_handler;

/* Listens on host:port (0: any free port) on loop; host NULL: no
 * listener (grpc_server_adopt brings the connections). NULL with err. */
grpc_server *grpc_server_create(h2o_evloop_t *loop, const char *host, int port,
                                const grpc_handler *h, void *ud, size_t max_message,
                                int max_connections, char *err, size_t err_size);
/* Serves fd, a connected non-blocking stream socket (tests, fuzzing);
 * closed with the connection. */
void grpc_server_adopt(grpc_server *g, int fd);
int grpc_server_port(const grpc_server *g);
int grpc_server_connections(const grpc_server *g);
/* Stops listening and tells every client (GOAWAY) that no new call will be
 * taken; calls under way finish, then connections close. */
void grpc_server_drain(grpc_server *g);
/* Periodic (at least every second); now_ns: clock_now_ns() (util/clock.h).
 * A connection with no call under way is closed when it has not sent a
 * whole HTTP/2 frame within preface_ns of connecting (a client that
 * connected and said nothing, or not HTTP/2), or told GOAWAY and closed
 * after idle_ns without a call; 0 turns either off. */
void grpc_server_sweep(grpc_server *g, uint64_t now_ns, uint64_t preface_ns, uint64_t idle_ns);
/* Closes everything (each open call's on_closed runs) and frees g. */
void grpc_server_free(grpc_server *g);

/* The call's :path ("/package.Service/Method"). */
const char *grpc_call_path(const grpc_call *c);
/* A metadata value the transport keeps (authorization, x-api-token,
 * grpc-timeout), or NULL. */
const char *grpc_call_metadata(const grpc_call *c, const char *name);
/* grpc-timeout in nanoseconds, 0 if none (or unreadable). */
uint64_t grpc_call_timeout_ns(const grpc_call *c);
/* The client's address into sa (room for a sockaddr_storage): its length,
 * or 0 if unknown. */
socklen_t grpc_call_peer(const grpc_call *c, struct sockaddr *sa);
/* Adds grpc-retry-pushback-ms: ms to the call's status (when it is
 * refused under load: gRPC clients with a retry policy wait that long). */
void grpc_call_retry_pushback(grpc_call *c, int ms);
void grpc_call_set_user(grpc_call *c, void *user);
void *grpc_call_user(const grpc_call *c);

/* Sends a message: buf is malloc'd, taken, GRPC_PREFIX free bytes and then
 * len bytes of message (the transport writes the prefix). -1 (buf freed)
 * if the call is already finished. */
int grpc_call_send(grpc_call *c, uint8_t *buf, size_t len);
/* Sends a message (as grpc_call_send) and ends the call with OK, in one
 * write. */
void grpc_call_reply(grpc_call *c, uint8_t *buf, size_t len);
/* Ends the call with status `code` and message (may be NULL) once the sent
 * messages are out. Later calls are ignored. */
void grpc_call_finish(grpc_call *c, int code, const char *message);

#endif
