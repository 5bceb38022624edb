/* A pool of worker threads (see workq.h): a mutex, a condvar, a FIFO list. */
#include "serve/core/workq.h"
#include "util/thread.h"

#include <pthread.h>
#include <stdlib.h>

struct workq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    workq_job *head, *tail;
    int depth;
    int stopping;
    int n_threads;
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    workq *q = arg;
    thread_mark_batch(); /* decoding yields to the event loop */
    pthread_mutex_lock(&q->mu);
    for (;;) {
        workq_job *j = q->head;
        if (!j) {
            if (q->stopping) break;
            pthread_cond_wait(&q->cv, &q->mu);
            continue;
        }
        q->head = j->next;
        if (!q->head) q->tail = NULL;
        q->depth--;
        pthread_mutex_unlock(&q->mu);
        j->fn(j);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

workq *workq_create(int threads)
{
    if (threads < 1) return NULL;
    workq *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->threads = calloc((size_t)threads, sizeof *q->threads);
    if (!q->threads || pthread_mutex_init(&q->mu, NULL) || pthread_cond_init(&q->cv, NULL)) {
        free(q->threads);
        free(q);
        return NULL;
    }
    for (; q->n_threads < threads; q->n_threads++)
        if (pthread_create(&q->threads[q->n_threads], NULL, worker_main, q)) break;
    if (q->n_threads < threads) {
        workq_destroy(q);
        return NULL;
    }
    return q;
}

void workq_push(workq *q, workq_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->depth++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

int workq_depth(workq *q)
{
    pthread_mutex_lock(&q->mu);
    int d = q->depth;
    pthread_mutex_unlock(&q->mu);
    return d;
}

void workq_destroy(workq *q)
{
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->n_threads; i++)
        pthread_join(q->threads[i], NULL);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q->threads);
    free(q);
}
