/* A pool of worker threads running jobs in arrival order (the decode
 * workers of glint serve: image decoding, request parsing, model loading —
 * everything that must stay off the event loop).
 *
 * The queue itself is unbounded: callers bound the work they admit (the
 * server counts pending images per model and answers 503 past its limit).
 * Thread-safety: workq_push from any thread; jobs run on the pool's threads.
 */
#ifndef GLINT_SERVE_WORKQ_H
#define GLINT_SERVE_WORKQ_H

typedef struct workq workq;

/* A job: fn(arg) runs once on a worker. `link` is the queue's. Embed it in
 * the caller's object; it must stay valid until fn is called. */
typedef struct workq_job {
    void (*fn)(struct workq_job *job);
    struct workq_job *next;
} workq_job;

/* Starts `threads` workers (>= 1). NULL if out of memory or threads fail. */
workq *workq_create(int threads);

/* Queues a job; never blocks. */
void workq_push(workq *q, workq_job *job);

/* Jobs queued and not yet started. */
int workq_depth(workq *q);

/* Runs every queued job, stops the workers and frees the pool. Accepts NULL. */
void workq_destroy(workq *q);

#endif
