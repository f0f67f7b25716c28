/* jobs.c - run queued jobs through output_get(). */
#include "jobs.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "queue.h"
#include "stats.h"
#include "store.h"

int jobs_parse_name(const char *name, struct url_request *r, struct err *e)
{
	char path[512];
	int n = snprintf(path, sizeof(path), "/%s", name);

	if (n < 0 || (size_t)n >= sizeof(path))
		return err_set(e, ERR_BAD_REQUEST, "job name too long");
	return url_parse(path, r, e);
}

int jobs_run_one(struct output_worker *w, const char *worker)
{
	struct registry_conn *redis = output_worker_redis(w);
	const struct conf *c;
	struct queue_job job;
	struct url_request r;
	struct buf out;
	enum output_how how;
	struct err e;
	double start;

	switch (queue_take(redis, worker, &job)) {
	case REGISTRY_BUSY: return 0;
	case REGISTRY_DOWN: return -1;
	case REGISTRY_OK: break;
	}
	start = stats_now_ms();
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
	buf_release(&out);
	if (e.code == ERR_NONE) {
		queue_done(redis, worker, &job);
		log_info("job %s %s %.1fms", job.name, output_how_name(how),
			 stats_now_ms() - start);
		return 1;
	}
	log_warn("job %s failed (attempt %d): %s", job.name, job.attempts + 1,
		 e.msg);
	queue_fail(redis, worker, &job, &e, c->job_attempts);
	return 1;
}
