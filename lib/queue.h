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
 *   {prefix}pending              SET of the names that have a job, from
 *                                its push until it is done or dead: one
 *                                job per output, however often it is asked
 * A job is "ATTEMPTS FORCE model/field/id/file", e.g. "0 0
 * product/image/1000000/x300.jpg".  A worker moves a job atomically (LMOVE)
 * from the queue to its processing list, and removes it when done; a job
 * whose worker died goes back to the queue (queue_recover), so no job is
 * lost to a crash or a restart.  A worker that stops cleanly takes its
 * heartbeat and its entry in the set away itself (queue_leave).
 * The job lifecycle built on these (submit, run, recover) is jobs.h's.
 * Thread-safety: every call takes the calling thread's own redis_conn.
 */
#ifndef IMGSRV_QUEUE_H
#define IMGSRV_QUEUE_H

#include "err.h"
#include "redis.h"

enum queue_rc {
	QUEUE_OK = 0,
	QUEUE_FULL = 1,  /* queue_push: the queue holds its maximum already */
	QUEUE_EMPTY = 2, /* queue_take: no job waiting */
	QUEUE_PENDING = 3, /* queue_push: that output has a job already */
	QUEUE_DOWN = -1  /* Redis is off or not answering */
};

#define QUEUE_PUSH_MAX 32 /* names one queue_push_all() takes */

struct queue_job {
	char raw[512];     /* as stored in Redis */
	char name[400];    /* model/field/id/file */
	int attempts;
	int force;
};

/*
 * Queues one job for each of names[0..n) ("product/image/1/x300.jpg",
 * no two alike, n at most QUEUE_PUSH_MAX) that has none pending, all or nothing, in one atomic
 * step: QUEUE_OK with pushed[i] 1 for each job queued now and 0 for each
 * name that had one pending already (its job stays as it was, forced or
 * not); QUEUE_FULL, with nothing queued, when the new jobs would take the
 * queue over max_depth; or QUEUE_DOWN.
 */
enum queue_rc queue_push_all(struct redis_conn *c, const char *const *names,
			     int n, int force, long max_depth, int *pushed);

/* queue_push_all() for one name: QUEUE_OK, QUEUE_PENDING (nothing
 * queued), QUEUE_FULL or QUEUE_DOWN. */
enum queue_rc queue_push(struct redis_conn *c, const char *name, int force,
			 long max_depth);

/* Takes the oldest job into worker's processing list: QUEUE_OK with *job
 * filled, QUEUE_EMPTY, or QUEUE_DOWN. */
enum queue_rc queue_take(struct redis_conn *c, const char *worker,
			 struct queue_job *job);

/* The job is done: out of the processing list, and no longer pending. */
void queue_done(struct redis_conn *c, const char *worker,
		const struct queue_job *job);

/* The job failed with *why: back to the queue with one more attempt
 * (still pending), or, after max_attempts or for an error no retry mends
 * (4xx), to the dead-letter list with the error (no longer pending).  An overload (ERR_BUSY) sends it back
 * without counting an attempt. */
void queue_fail(struct redis_conn *c, const char *worker,
		const struct queue_job *job, const struct err *why,
		int max_attempts);

/* Renews worker's heartbeat for ttl_ms. */
void queue_heartbeat(struct redis_conn *c, const char *worker, int ttl_ms);

/* A worker that stops cleanly: its heartbeat and its entry in the set of
 * workers go, and the job in its hands (none after a clean stop) goes
 * back to the queue. */
void queue_leave(struct redis_conn *c, const char *worker);

/* Moves the jobs of workers whose heartbeat expired back to the queue;
 * returns how many, or -1 when Redis is down. */
long queue_recover(struct redis_conn *c);

/* Lengths for the status page: waiting, in progress, dead; -1 if down. */
void queue_counts(struct redis_conn *c, long *waiting, long *in_progress,
		  long *dead);

/* Takes the waiting jobs of image's outputs ("product/image/1") off the
 * queue, no longer pending; a job in a worker's hands runs on (and finds
 * its image purged).  Returns how many, or -1 when Redis is down. */
long queue_drop_image(struct redis_conn *c, const char *image);

#endif
