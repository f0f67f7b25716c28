/*
 * jobs.h - the life of a queued job (POST): submitted, taken by a queue
 * worker thread, made with output_get(), done; or failed (retried, or
 * dead after -job_attempts); or recovered when its worker died.
 *
 * A worker is named "host:pid:index" (its processing list and heartbeat
 * in Redis, queue.h).  It renews its heartbeat every second; the heartbeat
 * outlives the longest job (fetch, wait for another maker, make), so only
 * a dead worker loses it.  Worker 0 of each process moves the jobs of
 * dead workers back to the queue every 5 s.  A worker that stops cleanly
 * takes its heartbeat away at once.
 * Thread-safety: one struct jobs_worker per thread; jobs_submit() on the
 * calling thread's output_worker.
 */
#ifndef IMGSRV_JOBS_H
#define IMGSRV_JOBS_H

#include <stdatomic.h>

#include "output.h"

/*
 * Queues a job for each output files[i] of (model, field, id), n at most
 * QUEUE_PUSH_MAX, that is not in the store yet (every one when force:
 * made again from the original) and has no job pending yet; queued[i] is
 * 1 for a job queued now, 2 for one that was pending already, 0 for an
 * output in the store.  All or nothing: returns 0, or -1 with ERR_BUSY
 * and nothing queued when the new jobs would take the queue over
 * -queue_max or Redis is down.  With -redis_wait_replicas N, it returns 0
 * only once N replicas hold the jobs (Redis WAIT), and -1 with ERR_BUSY
 * when fewer confirmed them: they are queued on the master then, but a
 * failover may lose them, and sending the POST again is safe.
 */
int jobs_submit(struct output_worker *w, const char *model, const char *field,
		const char *id, const char *const *files, int n, int force,
		int *queued, struct err *e);

/*
 * Takes one job from the queue as worker (a name unique to this thread),
 * makes its output and marks it done, or failed (back to the queue, or
 * dead after -job_attempts).  Returns 1 when a job was handled, 0 when the
 * queue was empty, -1 when Redis is down.
 */
int jobs_run_one(struct output_worker *w, const char *worker);

/*
 * Splits a job name "model/field/id/file" into *r (validated like a URL).
 * Returns 0, or -1 with ERR_BAD_REQUEST.
 */
int jobs_parse_name(const char *name, struct url_request *r, struct err *e);

struct jobs_worker;

/* A queue worker on env, number index in this process.  NULL when out of
 * memory. */
struct jobs_worker *jobs_worker_new(struct output_env *env, int index);

/* Runs jobs until *stop is set (a job in hand is finished first, within
 * its own time limits), then leaves the queue cleanly (queue_leave). */
void jobs_worker_run(struct jobs_worker *jw, const atomic_int *stop);

/* Frees jw; NULL is a no-op. */
void jobs_worker_free(struct jobs_worker *jw);

/* Counts for the status page: waiting, in progress, dead; -1 when Redis
 * is off or down. */
void jobs_counts(struct output_worker *w, long *waiting, long *in_progress,
		 long *dead);

#endif
