/*
 * queue.h - the durable job queue in Redis (reliable-queue pattern).
 *
 * Keys (prefix from -redis_prefix):
 *   {prefix}queue                LIST of jobs waiting, oldest on the right
 *   {prefix}processing:{worker}  LIST of the job a worker has in hand
 *   {prefix}worker:{worker}      STRING heartbeat; expires when the worker
 *                                stops renewing it (it died)
 *   {prefix}workers              SET of the workers that have heartbeats
 *   {prefix}dead                 LIST of jobs that failed -job_attempts
 *                                times, each with its last error
 * A job is "ATTEMPTS FORCE model/field/id/file", e.g. "0 0
 * product/image/1000000/x300.jpg".  A worker moves a job atomically (LMOVE)
 * from the queue to its processing list, and removes it when done; a job
 * whose worker died goes back to the queue (queue_recover), so no job is
 * lost to a crash or a restart.
 * Thread-safety: the functions take a registry_conn, one per thread.
 */
#ifndef IMGSRV_QUEUE_H
#define IMGSRV_QUEUE_H

#include "err.h"
#include "registry.h"

struct queue_job {
	char raw[512];     /* as stored in Redis */
	char name[400];    /* model/field/id/file */
	int attempts;
	int force;
};

/*
 * Queues the job for name ("product/image/1/x300.jpg").  REGISTRY_OK,
 * REGISTRY_BUSY when the queue already holds max_depth jobs, or
 * REGISTRY_DOWN.
 */
enum registry_rc queue_push(struct registry_conn *c, const char *name,
			    int force, long max_depth);

/* Takes the oldest job into worker's processing list.  REGISTRY_OK with
 * *job filled, REGISTRY_BUSY when the queue is empty, REGISTRY_DOWN. */
enum registry_rc queue_take(struct registry_conn *c, const char *worker,
			    struct queue_job *job);

/* The job is done: out of the processing list. */
void queue_done(struct registry_conn *c, const char *worker,
		const struct queue_job *job);

/* The job failed with *why: back to the queue with one more attempt, or,
 * after max_attempts or for an error no retry mends (4xx), to the
 * dead-letter list with the error. */
void queue_fail(struct registry_conn *c, const char *worker,
		const struct queue_job *job, const struct err *why,
		int max_attempts);

/* Renews worker's heartbeat for ttl_ms. */
void queue_heartbeat(struct registry_conn *c, const char *worker, int ttl_ms);

/* Moves the jobs of workers whose heartbeat expired back to the queue;
 * returns how many, or -1 when Redis is down. */
long queue_recover(struct registry_conn *c);

/* Lengths for the status page: waiting, in progress, dead; -1 if down. */
void queue_counts(struct registry_conn *c, long *waiting, long *in_progress,
		  long *dead);

#endif
