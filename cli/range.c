/* range.c - worker threads that call output_get() over a range of ids. */
#include "range.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "progress.h"
#include "signals.h"
#include "stats.h"
#include "store.h"

#define TICK_MS 100 /* main's wait for a signal between display updates */

struct job {
	const struct cli_args *a;
	const struct conf *c;
	struct output_env *env;
	struct progress *p;
	unsigned long long count; /* ids in the range */
	atomic_ullong next;       /* offset from start of the next id to take */
	atomic_int stop;
	atomic_llong done, made, skipped, missing, failed;
};

struct worker {
	pthread_t tid;
	struct job *job;
	struct output_worker *w;
	atomic_int finished;
};

/* What became of one output. */
enum result { R_NEXT, R_END_ID };

static enum result get_one(struct job *j, struct output_worker *w,
			   const struct url_request *r)
{
	char path[4096], image[256];
	enum output_how how;
	struct buf out;
	struct err e;
	int rc;

	/* Skipped without reading it: output_get() would read its bytes. */
	if (store_path(j->c->store, r->model, r->field, r->id, r->file, path,
		       sizeof(path), NULL) == 0 && store_exists(path)) {
		atomic_fetch_add(&j->skipped, 1);
		return R_NEXT;
	}
	buf_init(&out);
	err_clear(&e);
	rc = output_get(w, r, &out, &how, &e);
	stats_flush(); /* its statsd timers, in one datagram */
	buf_release(&out);
	if (rc == 0) {
		atomic_fetch_add(how == OUTPUT_MADE ? &j->made : &j->skipped, 1);
		return R_NEXT;
	}
	snprintf(image, sizeof(image), "%s/%s/%s", r->model, r->field, r->id);
	if (e.code == ERR_NOT_FOUND) {
		atomic_fetch_add(&j->missing, 1);
		if (log_get_level() <= LOG_INFO)
			progress_note(j->p, "missing %s: %s", image, e.msg);
		return R_END_ID;
	}
	atomic_fetch_add(&j->failed, 1);
	/* No original in the store now: it is what failed, and every other
	 * output of this id would fail the same way. */
	if (store_path(j->c->store, r->model, r->field, r->id, STORE_ORIGINAL,
		       path, sizeof(path), NULL) == 0 && !store_exists(path)) {
		progress_note(j->p, "failed %s: %s", image, e.msg);
		return R_END_ID;
	}
	progress_note(j->p, "failed %s/%s: %s", image, r->file, e.msg);
	return R_NEXT;
}

/* Every output of one id; the id is done unless a stop cut it short. */
static void do_id(struct job *j, struct output_worker *w, unsigned long long n)
{
	for (int i = 0; i < j->a->noutputs; i++) {
		struct url_request r = j->a->outputs[i];

		if (i > 0 && atomic_load(&j->stop))
			return;
		snprintf(r.model, sizeof(r.model), "%s", j->a->model);
		snprintf(r.field, sizeof(r.field), "%s", j->a->field);
		snprintf(r.id, sizeof(r.id), "%llu", n);
		if (get_one(j, w, &r) == R_END_ID)
			break;
	}
	atomic_fetch_add(&j->done, 1);
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct job *j = wk->job;

	while (!atomic_load(&j->stop)) {
		unsigned long long k = atomic_fetch_add(&j->next, 1);

		if (k >= j->count)
			break;
		do_id(j, wk->w, j->a->start + k);
	}
	atomic_store(&wk->finished, 1);
	return NULL;
}

static void snapshot(struct job *j, struct progress_counts *pc)
{
	pc->done = atomic_load(&j->done);
	pc->made = atomic_load(&j->made);
	pc->skipped = atomic_load(&j->skipped);
	pc->missing = atomic_load(&j->missing);
	pc->failed = atomic_load(&j->failed);
}

/* Shows progress and takes signals until every worker has finished;
 * returns the first signal, or 0. */
static int watch(struct job *j, struct worker *ws, int n)
{
	struct progress_counts pc;
	int first = 0;

	for (;;) {
		int sig = signals_wait(TICK_MS, "images"), left = 0;

		if (sig != 0 && first == 0) {
			first = sig;
			atomic_store(&j->stop, 1);
			progress_note(j->p, "%s: stopping after the outputs in "
				      "hand (again to exit at once)",
				      signals_name(sig));
		}
		for (int i = 0; i < n; i++)
			left += !atomic_load(&ws[i].finished);
		if (left == 0)
			return first;
		snapshot(j, &pc);
		progress_update(j->p, &pc);
	}
}

int range_run(const struct cli_args *a, const struct conf *c,
	      struct output_env *env)
{
	struct job j = { .a = a, .c = c, .env = env };
	struct progress_counts pc;
	struct worker *ws;
	int started = 0, sig;

	j.count = a->end - a->start + 1;
	j.p = progress_new("images", "made", (long long)j.count, a->progress);
	ws = calloc((size_t)a->concurrency, sizeof(*ws));
	if (j.p == NULL || ws == NULL) {
		fprintf(stderr, "images: out of memory\n");
		progress_free(j.p);
		free(ws);
		return 2;
	}
	for (; started < a->concurrency; started++) {
		struct worker *wk = &ws[started];

		wk->job = &j;
		wk->w = output_worker_new(env);
		if (wk->w == NULL ||
		    pthread_create(&wk->tid, NULL, worker_main, wk) != 0) {
			output_worker_free(wk->w);
			progress_note(j.p, "could not start worker %d; going on "
				      "with %d", started + 1, started);
			break;
		}
	}
	if (started == 0) {
		progress_free(j.p);
		free(ws);
		return 2;
	}
	sig = watch(&j, ws, started);
	for (int i = 0; i < started; i++) {
		pthread_join(ws[i].tid, NULL);
		output_worker_free(ws[i].w);
	}
	snapshot(&j, &pc);
	if ((unsigned long long)pc.done == j.count)
		sig = 0; /* the signal came after the last id: nothing is left */
	progress_summary(j.p, &pc, sig != 0);
	progress_free(j.p);
	free(ws);
	return sig != 0 ? 128 + sig : pc.failed > 0 ? 1 : 0;
}
