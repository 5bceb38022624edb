/* webhook: the streams' answers POSTed to HTTP endpoints through a durable
 * outbox (docs/streams.md).
 *
 * webhook_add() stores the message (URL, JSON body, a fresh id) in SQLite
 * (`<state dir>/stream-webhooks.sqlite`, WAL, synchronous=FULL) before it
 * returns; one delivery thread POSTs the oldest due message (Content-Type:
 * application/json, `Idempotency-Key: <id>`, 5 s to connect, 10 s in all) and
 * deletes it on a 2xx, else tries again after a backoff (1 s doubling to
 * 60 s, per message). Messages survive restarts (a kill -9 included): a
 * receiver sees each one at least once, and can drop repeats by the key. The
 * outbox holds at most max_msgs; when full the oldest is dropped (counted).
 *
 * Threads: add and stats from any thread; the delivery thread is the
 * outbox's own. */
#ifndef GLINT_SERVE_STREAMS_WEBHOOK_H
#define GLINT_SERVE_STREAMS_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

typedef struct webhook_outbox webhook_outbox;

typedef struct webhook_stats {
    uint64_t added, delivered, attempts_failed, dropped;
    uint64_t pending; /* in the database now */
    char last_error[256];
} webhook_stats;

/* Opens (creates) the outbox under dir and starts delivering what it holds.
 * NULL with err. */
webhook_outbox *webhook_open(const char *dir, int max_msgs, char *err, size_t err_size);
/* Stops the thread (an attempt in flight ends within its timeout) and
 * closes the database; what is not delivered stays for the next start. */
void webhook_close(webhook_outbox *w);
/* Stores a message for url (copied). 0, or -1 with err (the database failed). */
int webhook_add(webhook_outbox *w, const char *url, const char *body, size_t len, char *err,
                size_t err_size);
void webhook_get_stats(webhook_outbox *w, webhook_stats *out);

#endif
