/* jobs.c - submit, run, fail and recover queued jobs. */
#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "queue.h"
#include "stats.h"
#include "store.h"

#define IDLE_MS 200       /* a worker's sleep when the queue is empty */
#define BEAT_MS 1000      /* heartbeat renewal */
#define RECOVER_MS 5000   /* worker 0 looks for dead workers' jobs */
#define BUSY_BACKOFF_MS 1000 /* after a job met an overload */

struct jobs_worker {
	struct output_worker *w;
	char name[160]; /* host:pid:index */
	int index;
};

int jobs_parse_name(const char *name, struct url_request *r, struct err *e)
{
	char path[512];
	int n = snprintf(path, sizeof(path), "/%s", name);

	if (n < 0 || (size_t)n >= sizeof(path))
		return err_set(e, ERR_BAD_REQUEST, "job name too long");
	return url_parse(path, r, e);
}

int jobs_submit(struct output_worker *w, const char *model, const char *field,
		const char *id, const char *const *files, int n, int force,
		int *queued, struct err *e)
{
	struct redis_conn *redis = output_worker_redis(w);
	const struct conf *c = output_env_conf_of(w);
	char names[QUEUE_PUSH_MAX][512], path[4096];
	const char *ask[QUEUE_PUSH_MAX];
	int at[QUEUE_PUSH_MAX], pushed[QUEUE_PUSH_MAX], nask = 0;
	enum queue_rc rc;

	for (int i = 0; i < n; i++)
		queued[i] = 0;
	if (n > QUEUE_PUSH_MAX)
		return err_set(e, ERR_BAD_REQUEST, "at most %d outputs at once",
			       QUEUE_PUSH_MAX);
	for (int i = 0; i < n; i++) {
		if (store_path(c->store, model, field, id, files[i], path,
			       sizeof(path), e) < 0)
			return -1;
		if (!force && store_exists(path))
			continue; /* made already */
		snprintf(names[nask], sizeof(names[nask]), "%s/%s/%s/%s", model,
			 field, id, files[i]);
		ask[nask] = names[nask];
		at[nask++] = i;
	}
	if (nask == 0)
		return 0;
	if (c->redis_wait_replicas > 0)
		redis_wait_begin(redis);
	/* All or nothing: a POST that is told 503 has queued nothing. */
	rc = queue_push_all(redis, ask, nask, force, (long)c->queue_max, pushed);
	if (rc == QUEUE_DOWN)
		return err_set(e, ERR_BUSY, "the queue is unavailable (Redis); "
			       "the original was stored, its outputs are made "
			       "on request");
	if (rc != QUEUE_OK)
		return err_set(e, ERR_BUSY, "the queue is full (%lld jobs); the "
			       "original was stored, nothing was queued",
			       (long long)c->queue_max);
	for (int k = 0; k < nask; k++)
		queued[at[k]] = pushed[k] ? 1 : 2;
	/* Not answered 201 until replicas hold the jobs: a master that dies
	 * now does not take them along (a failover promotes a replica). */
	if (c->redis_wait_replicas > 0 &&
	    redis_wait(redis, c->redis_wait_replicas) < c->redis_wait_replicas)
		return err_set(e, ERR_BUSY, "the jobs were queued, but fewer "
			       "than %d Redis replica(s) confirmed them; the "
			       "original was stored, and the POST may be sent "
			       "again", c->redis_wait_replicas);
	return 0;
}

int jobs_run_one(struct output_worker *w, const char *worker)
{
	struct redis_conn *redis = output_worker_redis(w);
	const struct conf *c;
	struct queue_job job;
	struct url_request r;
	struct buf out;
	enum output_how how;
	struct err e;
	double start;

	switch (queue_take(redis, worker, &job)) {
	case QUEUE_EMPTY:
	case QUEUE_FULL:
	case QUEUE_PENDING:
		return 0;
	case QUEUE_DOWN:
		return -1;
	case QUEUE_OK:
		break;
	}
	start = clock_now_ms();
	c = output_env_conf_of(w);
	buf_init(&out);
	err_clear(&e);
	if (jobs_parse_name(job.name, &r, &e) == 0) {
		if (job.force) {
			char path[4096];
			if (store_path(c->store, r.model, r.field, r.id, r.file, path,
				       sizeof(path), &e) == 0)
				(void)unlink(path);
		}
		(void)output_get(w, &r, &out, &how, &e);
	}
	stats_flush(); /* the job's statsd timers, in one datagram */
	buf_release(&out);
	if (e.code == ERR_NONE) {
		queue_done(redis, worker, &job);
		log_info("job %s %s %.1fms", job.name, output_how_name(how),
			 clock_now_ms() - start);
		return 1;
	}
	log_warn("job %s failed (attempt %d): %s", job.name, job.attempts + 1,
		 e.msg);
	queue_fail(redis, worker, &job, &e, c->job_attempts);
	/* Overloaded: give the images in hand room before the next job. */
	if (e.code == ERR_BUSY)
		clock_sleep_ms(BUSY_BACKOFF_MS);
	return 1;
}

struct jobs_worker *jobs_worker_new(struct output_env *env, int index)
{
	struct jobs_worker *jw = calloc(1, sizeof(*jw));
	char host[64] = "host";

	if (jw == NULL)
		return NULL;
	jw->w = output_worker_new(env);
	if (jw->w == NULL) {
		free(jw);
		return NULL;
	}
	gethostname(host, sizeof(host) - 1);
	jw->index = index;
	snprintf(jw->name, sizeof(jw->name), "%s:%d:%d", host, (int)getpid(),
		 index);
	return jw;
}

void jobs_worker_free(struct jobs_worker *jw)
{
	if (jw == NULL)
		return;
	output_worker_free(jw->w);
	free(jw);
}

/*
 * A worker renews its heartbeat between jobs, so it must outlive the
 * longest job: fetching the original, waiting for another maker, making
 * the output.  A dead worker's jobs go back to the queue after it.
 */
static int heartbeat_ttl_ms(const struct conf *c)
{
	return (c->connect_timeout + c->source_timeout + c->wait_timeout +
		c->image_timeout) * 1000 + 10000;
}

void jobs_worker_run(struct jobs_worker *jw, const atomic_int *stop)
{
	struct redis_conn *redis = output_worker_redis(jw->w);
	double beat = 0, recovered = 0;

	while (!atomic_load(stop)) {
		double now = clock_now_ms();

		if (now - beat >= BEAT_MS) {
			queue_heartbeat(redis, jw->name,
					heartbeat_ttl_ms(output_env_conf_of(jw->w)));
			beat = now;
		}
		/* One thread per process looks for the jobs of dead workers. */
		if (jw->index == 0 && now - recovered >= RECOVER_MS) {
			(void)queue_recover(redis);
			recovered = now;
		}
		if (jobs_run_one(jw->w, jw->name) <= 0)
			clock_sleep_ms(IDLE_MS);
	}
	queue_leave(redis, jw->name);
}

void jobs_counts(struct output_worker *w, long *waiting, long *in_progress,
		 long *dead)
{
	queue_counts(output_worker_redis(w), waiting, in_progress, dead);
}
