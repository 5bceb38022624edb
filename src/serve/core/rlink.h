/* rlink: one connection to a Redis server on the event loop, for what a
 * fleet of glint replicas shares (fleet.h). hiredis's asynchronous API drives
 * it: its socket is an h2o socket that only tells hiredis when to read or
 * write, so a command never blocks the loop.
 *
 * Redis may be slow, down or restarting; the server must answer all the
 * same. So:
 *   - every command has a deadline (timeout_ms): its callback runs exactly
 *     once, with the reply, or with NULL when the deadline passes, the
 *     connection drops or the link is freed; a reply that comes after its
 *     deadline is dropped;
 *   - a link that is not connected takes no command (rlink_command says so
 *     at once, and the caller goes on without Redis);
 *   - a connection is retried after a failure with a jittered backoff
 *     (50 ms doubling to 1 s, plus up to 50% jitter), which starts over only
 *     once Redis answered on a connection (a stalled Redis still accepts
 *     them); a connect that takes over a second fails;
 *     RLINK_STALL_TIMEOUTS timeouts in a row with no reply between them drop
 *     the connection (Redis stalled: better to fail fast than to make every
 *     request wait its timeout);
 *   - once connected, the owner's on_up hook runs first (scripts, keys it
 *     needs); its commands go out before any other.
 *
 * URLs: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (port 6379, database 0 by
 * default; with a password, AUTH before anything else) or unix:///PATH[?db=N].
 *
 * Loop thread only. */
#ifndef GLINT_SERVE_CORE_RLINK_H
#define GLINT_SERVE_CORE_RLINK_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define RLINK_STALL_TIMEOUTS 3

typedef struct rlink rlink;

/* A command's answer: reply is NULL when none came in time (or the link
 * went down); it belongs to hiredis and is valid during the call only. */
typedef void (*rlink_cb)(void *arg, const redisReply *reply);

typedef struct rlink_stats {
    uint64_t commands; /* sent */
    uint64_t replies;  /* answered in time (Redis errors included) */
    uint64_t errors;   /* replies that were Redis errors */
    uint64_t timeouts; /* deadlines passed */
    uint64_t dropped;  /* lost with a connection that went down */
    uint64_t connects; /* connections made */
    uint64_t failures; /* connections that failed or dropped */
    int up;
} rlink_stats;

/* Where a URL points. */
typedef struct rlink_target {
    char host[256];     /* or the unix socket's path */
    int port;           /* 0: a unix socket */
    int db;             /* SELECTed after connecting when not 0 */
    char user[128];     /* AUTH user (Redis 6 ACL), "" for the default user */
    char password[256]; /* AUTH first when not "" */
} rlink_target;

/* Parses url into *t. 0, or -1 with err (which never shows the password). */
int rlink_parse_url(const char *url, rlink_target *t, char *err, size_t err_size);

/* A link to url that starts connecting now. A host name is resolved on
 * h2o's getaddrinfo threads, answering on `resolver` (an h2o context's
 * receivers.hostinfo_getaddr; NULL: hiredis resolves it, blocking), at most
 * 5 s, before each connect. on_up(arg) runs each time a connection is made.
 * NULL with err on a bad URL or no memory. */
rlink *rlink_create(h2o_loop_t *loop, h2o_multithread_receiver_t *resolver, const char *url,
                    int timeout_ms, void (*on_up)(void *arg), void *arg, char *err,
                    size_t err_size);

/* Closes the connection (pending callbacks run with NULL) and frees l.
 * Accepts NULL. */
void rlink_free(rlink *l);

/* Sends a command (argc words of the given lengths; cb may be NULL to send
 * and forget). 0: cb will run once; -1: the link is down, nothing was sent
 * and cb will not run. */
int rlink_command(rlink *l, rlink_cb cb, void *arg, int argc, const char **argv,
                  const size_t *lens);

/* Whether a connection is up now. */
int rlink_up(const rlink *l);

void rlink_get_stats(const rlink *l, rlink_stats *out);

#endif
