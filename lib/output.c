/* output.c - store hit, or take the work, make it once, store, record. */
#include "output.h"

#include <pthread.h>
#include <stdatomic.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "flight.h"
#include "gate.h"
#include "image.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "slots.h"
#include "source.h"
#include "stats.h"
#include "store.h"

#define POLL_MS 50 /* how often a waiter looks for another process's result */
#define FETCH_WAIT_MS 1000 /* a POST's wait for a -post_fetches slot */

struct output_env {
	_Atomic(const struct conf *) conf; /* swapped by a reload */
	struct redis *redis;
	struct registry *registry;
	struct flight *flight;
	struct slots *fetches; /* POST source= fetches under way */
	/* Without Redis, the generation of every image of this process at
	 * once, and the lock under which a make compares it and renames. */
	pthread_mutex_t gen_lock;
	long long local_gen;
};

struct output_worker {
	struct output_env *env;
	const struct conf *conf; /* this call's snapshot of env->conf */
	struct source *source;
	struct source_opts source_opts;
	struct redis_conn *redis;
	struct gate_limits limits;
};

/* Makes the bytes of one store file; the work that is done once. */
typedef int (*make_fn)(struct output_worker *w, const void *arg,
		       struct buf *out, struct err *e);

/* How to make one file of the store. */
struct target {
	make_fn make;
	const void *arg;
};

const char *output_how_name(enum output_how how)
{
	switch (how) {
	case OUTPUT_MADE: return "made";
	case OUTPUT_STORE: return "store";
	case OUTPUT_WAITED: return "waited";
	}
	return "?";
}

struct output_env *output_env_new(const struct conf *c, struct err *e)
{
	struct output_env *env = calloc(1, sizeof(*env));

	if (env == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	atomic_init(&env->conf, c);
	pthread_mutex_init(&env->gen_lock, NULL);
	env->flight = flight_new();
	env->fetches = slots_new();
	env->redis = redis_new(c, e);
	env->registry = env->redis ? registry_new(env->redis, e) : NULL;
	if (env->flight == NULL || env->fetches == NULL || env->registry == NULL) {
		output_env_free(env);
		return NULL;
	}
	return env;
}

void output_env_free(struct output_env *env)
{
	if (env == NULL)
		return;
	registry_free(env->registry);
	redis_free(env->redis);
	flight_free(env->flight);
	slots_free(env->fetches);
	pthread_mutex_destroy(&env->gen_lock);
	free(env);
}

void output_env_set_conf(struct output_env *env, const struct conf *c)
{
	atomic_store(&env->conf, c);
}

const struct conf *output_env_conf(struct output_env *env)
{
	return atomic_load(&env->conf);
}

const char *output_env_redis_state(struct output_env *env)
{
	return redis_state(env->redis);
}

/* Takes this call's snapshot of the configuration, and what follows. */
static void refresh(struct output_worker *w)
{
	const struct conf *c = atomic_load(&w->env->conf);

	if (c == w->conf)
		return;
	w->conf = c;
	gate_limits_from_conf(&w->limits, c);
	source_opts_from_conf(&w->source_opts, c);
}

struct output_worker *output_worker_new(struct output_env *env)
{
	struct output_worker *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->env = env;
	refresh(w);
	w->source = source_new();
	w->redis = redis_conn_new(env->redis);
	if (w->source == NULL || w->redis == NULL) {
		output_worker_free(w);
		return NULL;
	}
	return w;
}

const struct conf *output_env_conf_of(struct output_worker *w)
{
	return atomic_load(&w->env->conf);
}

struct redis_conn *output_worker_redis(struct output_worker *w)
{
	return w->redis;
}

void output_worker_free(struct output_worker *w)
{
	if (w == NULL)
		return;
	source_free(w->source);
	redis_conn_free(w->redis);
	free(w);
}

/* 0 if the file could be read from the store, else -1 (out left empty). */
static int from_store(const char *path, struct buf *out)
{
	if (store_read(path, SIZE_MAX - 1, out, NULL) == 0)
		return 0;
	buf_release(out);
	return -1;
}

/* The work on one store file, claimed (see output_claim() in output.h). */
struct output_claim {
	char image[256];  /* "user/avatar/1" */
	char file[64];    /* "w500.jpg", "original" */
	char name[512];   /* image/file: its lock and error key */
	char path[4096];  /* in the store */
	int original;     /* the original: checked before it is kept */
	int checked;      /* the original passed the checks already */
	int out_format;   /* an output's enum url_format; METRICS_NONE: original */
	struct registry_lock *lock; /* NULL: Redis is off or down */
	enum { GEN_NONE, GEN_REDIS, GEN_LOCAL } gen_kind; /* how gen was read */
	long long gen; /* the image's generation when the work began */
};

static int claim_init(struct output_worker *w, struct output_claim *cl,
		      const char *model, const char *field, const char *id,
		      const char *file, struct err *e)
{
	memset(cl, 0, sizeof(*cl));
	snprintf(cl->image, sizeof(cl->image), "%s/%s/%s", model, field, id);
	snprintf(cl->file, sizeof(cl->file), "%s", file);
	snprintf(cl->name, sizeof(cl->name), "%s/%s", cl->image, file);
	cl->original = strcmp(file, STORE_ORIGINAL) == 0;
	cl->out_format = METRICS_NONE;
	return store_path(w->conf->store, model, field, id, file, cl->path,
			  sizeof(cl->path), e);
}

/* The file is in the store: read into out, or (out NULL) only seen. */
static int stored(const struct output_claim *cl, struct buf *out)
{
	if (out == NULL)
		return store_exists(cl->path) ? 0 : -1;
	return from_store(cl->path, out);
}

/*
 * One try at the work on cl: takes the Redis lock (or goes without it
 * while Redis is down: de-duplicated in this process only), then looks in
 * the store once more, since the file may have been made just before.
 */
static enum output_claim_rc claim_try(struct output_worker *w,
				      struct output_claim *cl, struct buf *out)
{
	if (registry_lock(w->env->registry, w->redis, cl->name, &cl->lock) ==
	    REGISTRY_HELD)
		return OUTPUT_CLAIM_HELD;
	if (stored(cl, out) == 0) {
		registry_unlock(w->redis, cl->lock);
		cl->lock = NULL;
		return OUTPUT_CLAIM_STORED;
	}
	(void)registry_forget(w->redis, cl->image, cl->file);
	return OUTPUT_CLAIM_MINE;
}

/* Lets go of cl: the error, if any, stays for the waiters; not an
 * overload (ERR_BUSY), which the next try may not meet. */
static void claim_end(struct output_worker *w, struct output_claim *cl,
		      const struct err *failure)
{
	if (cl->lock != NULL && failure != NULL && failure->code != ERR_BUSY)
		(void)registry_set_error(w->redis, cl->name, failure);
	registry_unlock(w->redis, cl->lock);
	cl->lock = NULL;
}

/*
 * Generations: a purge or a replacement of an image's original raises
 * its generation (output_next_generation) before it removes files, and
 * again after.  A make notes the generation before it reads the original
 * (gen_note); its file is renamed into place only if the generation is
 * the same just before the rename, and is taken away again if it changed
 * by the time it was recorded, so that no output made from an original
 * that was purged stays in the store.  With Redis the generation is the
 * image's key (gen:{image}), seen by every host; without it, one number
 * of this process for all images, compared and raised under gen_lock.
 * While Redis is down nothing is compared (and purges are refused).
 */
static void gen_note(struct output_worker *w, struct output_claim *cl)
{
	cl->gen_kind = GEN_NONE;
	if (!redis_enabled(w->env->redis)) {
		pthread_mutex_lock(&w->env->gen_lock);
		cl->gen = w->env->local_gen;
		pthread_mutex_unlock(&w->env->gen_lock);
		cl->gen_kind = GEN_LOCAL;
	} else if (registry_generation(w->redis, cl->image, &cl->gen) ==
		   REGISTRY_OK) {
		cl->gen_kind = GEN_REDIS;
	}
}

/* Nonzero when the image's generation is no longer cl's (Redis). */
static int gen_changed(void *arg)
{
	struct output_worker *w = ((void **)arg)[0];
	struct output_claim *cl = ((void **)arg)[1];
	long long now;

	return registry_generation(w->redis, cl->image, &now) == REGISTRY_OK &&
	       now != cl->gen;
}

/* Writes cl's file, unless its image was purged since gen_note(): then
 * nothing is left behind and 2 is returned; else store_write_checked()'s
 * 0, 1 or -1. */
static int gen_write(struct output_worker *w, struct output_claim *cl,
		     const void *data, size_t len, struct err *e)
{
	void *arg[2] = { w, cl };
	int rc;

	switch (cl->gen_kind) {
	case GEN_LOCAL:
		pthread_mutex_lock(&w->env->gen_lock);
		rc = w->env->local_gen != cl->gen
			? 2 : store_write_checked(cl->path, data, len, cl->original,
						  NULL, NULL, e);
		pthread_mutex_unlock(&w->env->gen_lock);
		return rc;
	case GEN_REDIS:
		rc = store_write_checked(cl->path, data, len, cl->original,
					 gen_changed, arg, e);
		if (rc != 0)
			return rc;
		/* Recorded first, then compared once more: a purge that began
		 * meanwhile may have missed the file; it was begun after the
		 * record was made if the generation is still ours, and removes
		 * both then. */
		(void)registry_add(w->redis, cl->image, cl->file);
		if (gen_changed(arg)) {
			(void)store_remove(cl->path, NULL);
			(void)registry_forget(w->redis, cl->image, cl->file);
			return 2;
		}
		return 0;
	case GEN_NONE:
		break;
	}
	return store_write_checked(cl->path, data, len, cl->original, NULL, NULL,
				   e);
}

long long output_next_generation(struct output_worker *w, const char *image,
				 struct err *e)
{
	long long gen;

	if (!redis_enabled(w->env->redis)) {
		pthread_mutex_lock(&w->env->gen_lock);
		gen = ++w->env->local_gen;
		pthread_mutex_unlock(&w->env->gen_lock);
		return gen;
	}
	if (registry_next_generation(w->redis, image, &gen) != REGISTRY_OK)
		return err_set(e, ERR_BUSY, "Redis is down: cannot purge %s now; "
			       "nothing was removed", image);
	return gen;
}

/* Checks (an original), writes, records and lets go of cl.  An original
 * is only ever created, never replaced: one that is there already (put
 * there without our lock: Redis was down, or the lock had expired) is
 * kept and data dropped.  Returns 0, 1 when an original was there
 * already, 2 when the image was purged since the work began (nothing
 * kept: make it again), or -1 with the error, which is left for the
 * waiters too. */
static int claim_commit(struct output_worker *w, struct output_claim *cl,
			const void *data, size_t len, struct err *e)
{
	struct sniff_info si = { .format = SNIFF_UNKNOWN };
	int input = METRICS_NONE, rc;
	double start = clock_now_ms();

	/* Only an original that decodes is kept: a bad one would be refused
	 * again on every request anyway, and would block its id for good. */
	if (cl->original && !cl->checked) {
		rc = gate_original(data, len, &w->limits, &si, e);
		input = (int)si.format;
		metrics_stage(METRICS_CHECK, input, METRICS_NONE,
			      clock_now_ms() - start);
		if (rc < 0) {
			claim_end(w, cl, e);
			return -1;
		}
		start = clock_now_ms();
	}
	rc = gen_write(w, cl, data, len, e);
	metrics_stage(METRICS_WRITE, input, cl->out_format, clock_now_ms() - start);
	if (rc < 0) {
		claim_end(w, cl, e);
		return -1;
	}
	if (rc == 1 || (rc == 0 && cl->gen_kind != GEN_REDIS))
		(void)registry_add(w->redis, cl->image, cl->file);
	claim_end(w, cl, NULL);
	return rc;
}

/*
 * Another worker holds the lock on cl: wait until its file is in the
 * store, or its lock is gone.  Returns 0 when the file was read into out,
 * 1 when the work is now ours, -1 with the holder's error or ERR_BUSY on
 * timeout.
 */
static int wait_other(struct output_worker *w, struct output_claim *cl,
		      struct buf *out, struct err *e)
{
	long waited = 0, limit = w->conf->wait_timeout * 1000L;

	for (;;) {
		if (from_store(cl->path, out) == 0)
			return 0;
		if (waited >= limit)
			return err_set(e, ERR_BUSY,
				       "timed out after %d s waiting for another "
				       "worker making %s",
				       w->conf->wait_timeout, cl->name);
		switch (registry_lock_state(w->redis, cl->name)) {
		case REGISTRY_FREE:
			/* The holder ended: its error, or our turn. */
			if (registry_get_error(w->redis, cl->name, e) == REGISTRY_OK)
				return -1;
			switch (claim_try(w, cl, out)) {
			case OUTPUT_CLAIM_MINE: return 1;
			case OUTPUT_CLAIM_STORED: return 0;
			case OUTPUT_CLAIM_HELD: break;
			}
			break;
		case REGISTRY_DOWN:
			return 1; /* made here, without a lock */
		default:
			break;
		}
		clock_sleep_ms(POLL_MS);
		waited += POLL_MS;
	}
}

/*
 * Leads the work for t in this process: claims it (or waits for the
 * worker that has it), makes the file, then commits it.
 */
static int lead(struct output_worker *w, const struct target *t,
		struct output_claim *cl, struct buf *out, enum output_how *how,
		struct err *e)
{
	double start;
	int rc, making;

	switch (claim_try(w, cl, out)) {
	case OUTPUT_CLAIM_STORED:
		*how = OUTPUT_STORE;
		return 0;
	case OUTPUT_CLAIM_HELD:
		start = clock_now_ms();
		rc = wait_other(w, cl, out, e);
		metrics_stage(METRICS_LOCK_WAIT, METRICS_NONE, cl->out_format,
			      clock_now_ms() - start);
		if (rc <= 0) {
			*how = OUTPUT_WAITED;
			return rc;
		}
		break;
	case OUTPUT_CLAIM_MINE:
		break;
	}
	gen_note(w, cl);
	making = metrics_making_begin(cl->name);
	if (t->make(w, t->arg, out, e) < 0) {
		metrics_making_end(making);
		buf_release(out);
		claim_end(w, cl, e);
		return -1;
	}
	rc = claim_commit(w, cl, out->data, out->len, e);
	metrics_making_end(making);
	if (rc < 0 || rc == 2) {
		buf_release(out);
		return rc < 0 ? -1 : 2;
	}
	if (rc == 1) {
		/* An original appeared meanwhile: that one is the id's, and
		 * every output is made from it, never from what we fetched. */
		buf_release(out);
		*how = OUTPUT_WAITED;
		if (from_store(cl->path, out) < 0)
			return err_set(e, ERR_INTERNAL, "cannot read back %s",
				       cl->path);
		return 0;
	}
	*how = OUTPUT_MADE;
	return 0;
}

/* Gets the file of cl into out: from the store, or made exactly once,
 * with t (again if its image was purged while it was being made). */
static int produce(struct output_worker *w, const struct target *t,
		   struct output_claim *cl, struct buf *out,
		   enum output_how *how, struct err *e)
{
	struct err result;
	double start;
	int rc;

	for (int tries = 0; tries < 3; tries++) {
		if (from_store(cl->path, out) == 0) {
			*how = tries ? OUTPUT_WAITED : OUTPUT_STORE;
			return 0;
		}
		start = clock_now_ms();
		rc = flight_begin(w->env->flight, cl->name, w->conf->wait_timeout,
				  &result);
		if (rc != 1) /* waited for another thread here */
			metrics_stage(METRICS_LOCK_WAIT, METRICS_NONE, cl->out_format,
				      clock_now_ms() - start);
		if (rc < 0) {
			*e = result;
			return -1;
		}
		if (rc == 0) { /* another thread here led it */
			if (result.code != ERR_NONE) {
				*e = result;
				return -1;
			}
			continue; /* its file is in the store now */
		}
		err_clear(&result);
		rc = lead(w, t, cl, out, how, &result);
		flight_end(w->env->flight, cl->name, &result);
		if (rc == 2) {
			log_info("%s was purged while being made: made again",
				 cl->name);
			continue;
		}
		if (rc < 0)
			*e = result;
		return rc;
	}
	return err_set(e, ERR_BUSY, "%s was purged or replaced while being "
		       "made, again and again; try again later", cl->name);
}

/* The format of an original by its header, for the metrics' labels. */
static int input_format(const struct buf *orig)
{
	struct sniff_info si;
	struct err e;

	if (orig->len == 0)
		return SNIFF_UNKNOWN;
	(void)sniff(orig->data, orig->len, &si, &e);
	return (int)si.format;
}

/* Runs a fetch of out from the source, counted for /status, /metrics and
 * statsd. */
static int counted(int rc, double start, const struct buf *out)
{
	metrics_stage(METRICS_FETCH, input_format(out), METRICS_NONE,
		      clock_now_ms() - start);
	if (rc < 0) {
		stats_add(STAT_UNAVAILABLE, 1);
		stats_event("original_unavailable");
		return -1;
	}
	stats_add(STAT_DOWNLOADED, 1);
	stats_event("original_downloaded");
	stats_timing("original_download_time", clock_now_ms() - start);
	return 0;
}

static int fetch_original(struct output_worker *w, const void *arg,
			  struct buf *out, struct err *e)
{
	const struct url_request *r = arg;
	double start = clock_now_ms();
	int rc;

	stats_gauge(GAUGE_DOWNLOADING, 1);
	rc = source_fetch(w->source, &w->source_opts, r->model, r->field, r->id,
			  out, e);
	stats_gauge(GAUGE_DOWNLOADING, -1);
	if (counted(rc, start, out) < 0)
		return -1;
	log_debug("original %s/%s/%s fetched (%zu bytes)", r->model, r->field,
		  r->id, out->len);
	return 0;
}

static int make_output(struct output_worker *w, const void *arg,
		       struct buf *out, struct err *e)
{
	const struct url_request *r = arg;
	struct image_opts io = {
		.quality = (unsigned)w->conf->default_quality,
		.allow_upscale = w->conf->allow_upscale,
		.background = w->conf->background,
		.max_width = (unsigned)w->conf->maximum_width,
		.max_height = (unsigned)w->conf->maximum_height,
		.limits = w->limits,
		.embed_srgb = w->conf->embed_srgb,
		.budget_wait_ms = w->conf->wait_timeout * 1000L,
	};
	struct image_timings tm = { 0 };
	struct buf orig;
	int rc;

	buf_init(&orig);
	rc = output_original(w, r->model, r->field, r->id, &orig, e);
	if (rc == 0) {
		double start = clock_now_ms();
		char name[48];

		io.timings = &tm;
		stats_gauge(GAUGE_PROCESSING, 1);
		rc = image_make(orig.data, orig.len, r, &io, out, e);
		stats_gauge(GAUGE_PROCESSING, -1);
		if (rc == 0) {
			int input = input_format(&orig);

			metrics_stage(METRICS_DECODE, input, (int)r->format, tm.decode);
			metrics_stage(METRICS_RESIZE, input, (int)r->format, tm.resize);
			metrics_stage(METRICS_ENCODE, input, (int)r->format, tm.encode);
			metrics_output((int)r->format, out->len);
			/* The statsd names operators rely on: image_request,
			 * image_request.jpg ... */
			snprintf(name, sizeof(name), "image_request.%s",
				 url_format_ext(r->format));
			stats_event("image_request");
			stats_event(name);
			stats_timing("image_processing_time", clock_now_ms() - start);
		}
	}
	buf_release(&orig);
	return rc;
}

int output_original(struct output_worker *w, const char *model,
		    const char *field, const char *id, struct buf *out,
		    struct err *e)
{
	struct url_request r = { 0 };
	struct target t = { fetch_original, &r };
	struct output_claim cl;
	enum output_how how;

	refresh(w);
	snprintf(r.model, sizeof(r.model), "%s", model);
	snprintf(r.field, sizeof(r.field), "%s", field);
	snprintf(r.id, sizeof(r.id), "%s", id);
	if (claim_init(w, &cl, model, field, id, STORE_ORIGINAL, e) < 0)
		return -1;
	return produce(w, &t, &cl, out, &how, e);
}

int output_stored(struct output_worker *w, const struct url_request *r,
		  struct buf *out)
{
	char path[4096];

	refresh(w);
	if (store_path(w->conf->store, r->model, r->field, r->id, r->file, path,
		       sizeof(path), NULL) < 0)
		return -1;
	return from_store(path, out);
}

int output_get(struct output_worker *w, const struct url_request *r,
	       struct buf *out, enum output_how *how, struct err *e)
{
	struct target t = { make_output, r };
	struct output_claim cl;

	refresh(w);
	if (claim_init(w, &cl, r->model, r->field, r->id, r->file, e) < 0)
		return -1;
	cl.out_format = (int)r->format;
	return produce(w, &t, &cl, out, how, e);
}

int output_claim(struct output_worker *w, const char *model,
		 const char *field, const char *id, const char *file,
		 enum output_claim_rc *rc, struct output_claim **claim,
		 struct err *e)
{
	struct output_claim *cl;

	*claim = NULL;
	refresh(w);
	cl = malloc(sizeof(*cl));
	if (cl == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	if (claim_init(w, cl, model, field, id, file, e) < 0)
		goto fail;
	if (stored(cl, NULL) == 0) {
		*rc = OUTPUT_CLAIM_STORED;
		free(cl);
		return 0;
	}
	*rc = claim_try(w, cl, NULL);
	if (*rc == OUTPUT_CLAIM_MINE) {
		gen_note(w, cl);
		*claim = cl;
		return 0;
	}
	/* Held by another worker: it may have failed already. */
	if (*rc == OUTPUT_CLAIM_HELD && stored(cl, NULL) == 0)
		*rc = OUTPUT_CLAIM_STORED;
	else if (*rc == OUTPUT_CLAIM_HELD &&
		 registry_get_error(w->redis, cl->name, e) == REGISTRY_OK)
		goto fail;
	free(cl);
	return 0;
fail:
	free(cl);
	return -1;
}

int output_commit(struct output_worker *w, struct output_claim *claim,
		  const void *data, size_t len, struct err *e)
{
	int rc = claim_commit(w, claim, data, len, e);

	free(claim);
	if (rc == 2)
		return err_set(e, ERR_BUSY, "purged while it was being fetched; "
			       "fetch it again");
	return rc < 0 ? -1 : 0;
}

void output_abort(struct output_worker *w, struct output_claim *claim,
		  const struct err *why)
{
	if (claim == NULL)
		return;
	claim_end(w, claim, why);
	free(claim);
}

/* Hex SHA-256 of data into hex[65]. */
static int sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32)
		return -1;
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* The original in the store for cl is the one info describes (then
 * info->existed), or a different one: ERR_CONFLICT. */
static int same_original(struct output_worker *w, struct output_claim *cl,
			 struct output_original_info *info, struct err *e)
{
	char old_hash[65];
	struct buf old;
	int rc = -1;

	buf_init(&old);
	if (store_read(cl->path, SIZE_MAX - 1, &old, NULL) < 0) {
		err_set(e, ERR_INTERNAL, "cannot read back %s", cl->path);
	} else if (sha256_hex(old.data, old.len, old_hash) == 0 &&
		   strcmp(old_hash, info->sha256) == 0) {
		info->existed = 1;
		(void)registry_add(w->redis, cl->image, STORE_ORIGINAL);
		rc = 0;
	} else {
		err_set(e, ERR_CONFLICT,
			"a different original is stored for %s; an id's "
			"original never changes", cl->image);
	}
	buf_release(&old);
	return rc;
}

/*
 * Keeps data as cl's original under the original's lock: while another
 * worker holds it (a GET fetching the original from the source, another
 * POST), waits for it to end, up to -wait_timeout; then finds the
 * original it stored, or creates ours.  Returns 0 or -1.
 */
static int put_claimed(struct output_worker *w, struct output_claim *cl,
		       const void *data, size_t len,
		       struct output_original_info *info, struct err *e)
{
	double until = clock_now_ms() + w->conf->wait_timeout * 1000.0;

	for (;;) {
		switch (claim_try(w, cl, NULL)) {
		case OUTPUT_CLAIM_STORED:
			return same_original(w, cl, info, e);
		case OUTPUT_CLAIM_MINE:
			switch (claim_commit(w, cl, data, len, e)) {
			case 0: return 0;
			case 1: return same_original(w, cl, info, e);
			default: return -1;
			}
		case OUTPUT_CLAIM_HELD:
			break;
		}
		if (clock_now_ms() >= until)
			return err_set(e, ERR_BUSY,
				       "timed out after %d s waiting for another "
				       "worker storing the original of %s",
				       w->conf->wait_timeout, cl->image);
		clock_sleep_ms(POLL_MS);
	}
}

int output_check_original(struct output_worker *w, const void *data,
			  size_t len, struct output_original_info *info,
			  struct err *e)
{
	refresh(w);
	memset(info, 0, sizeof(*info));
	if (gate_original(data, len, &w->limits, &info->sniff, e) < 0)
		return -1;
	sniff_shown_size(&info->sniff, &info->width, &info->height);
	if (sha256_hex(data, len, info->sha256) < 0)
		return err_set(e, ERR_INTERNAL, "sha256 failed");
	return 0;
}

/* Takes cl's lock, waiting for its holder until the clock reads until;
 * -1 with ERR_BUSY when it did not let go. */
static int lock_wait(struct output_worker *w, struct output_claim *cl,
		     double until, struct err *e)
{
	while (registry_lock(w->env->registry, w->redis, cl->name, &cl->lock) ==
	       REGISTRY_HELD) {
		if (clock_now_ms() >= until)
			return err_set(e, ERR_BUSY,
				       "timed out after %d s waiting for another "
				       "worker on %s", w->conf->wait_timeout,
				       cl->name);
		clock_sleep_ms(POLL_MS);
	}
	return 0;
}

int output_locked(struct output_worker *w, const char *model,
		  const char *field, const char *id,
		  int (*fn)(struct output_worker *w, void *arg, struct err *e),
		  void *arg, struct err *e)
{
	struct output_claim cl;
	struct err result;
	int rc;

	refresh(w);
	if (claim_init(w, &cl, model, field, id, STORE_ORIGINAL, e) < 0)
		return -1;
	for (int tries = 0; tries < 3; tries++) {
		rc = flight_begin(w->env->flight, cl.name, w->conf->wait_timeout,
				  &result);
		if (rc < 0) {
			*e = result;
			return -1;
		}
		if (rc == 0)
			continue; /* another thread had it */
		err_clear(&result);
		rc = lock_wait(w, &cl, clock_now_ms() + w->conf->wait_timeout * 1000.0,
			       e);
		if (rc == 0) {
			rc = fn(w, arg, e);
			registry_unlock(w->redis, cl.lock);
		}
		/* Who waited here for the original looks in the store again. */
		flight_end(w->env->flight, cl.name, &result);
		return rc;
	}
	return err_set(e, ERR_BUSY, "the original of %s is busy", cl.image);
}

int output_put_original(struct output_worker *w, const char *model,
			const char *field, const char *id, const void *data,
			size_t len, struct output_original_info *info,
			struct err *e)
{
	struct output_claim cl;
	struct err result;
	int rc;

	if (output_check_original(w, data, len, info, e) < 0)
		return -1;
	if (claim_init(w, &cl, model, field, id, STORE_ORIGINAL, e) < 0)
		return -1;
	cl.checked = 1;
	/* One writer per original: in this process, the thread that leads
	 * its single flight (a GET fetching it, or a POST); across
	 * processes, the holder of its Redis lock. */
	for (int tries = 0; tries < 3; tries++) {
		rc = flight_begin(w->env->flight, cl.name, w->conf->wait_timeout,
				  &result);
		if (rc < 0) {
			*e = result;
			return -1;
		}
		if (rc == 0)
			continue; /* another thread had it: look again */
		err_clear(&result);
		rc = put_claimed(w, &cl, data, len, info, &result);
		if (rc < 0)
			*e = result;
		/* Who waits for the original here finds it in the store,
		 * unless none could be stored. */
		if (rc == 0 || result.code == ERR_CONFLICT)
			err_clear(&result);
		flight_end(w->env->flight, cl.name, &result);
		return rc;
	}
	return err_set(e, ERR_BUSY, "the original of %s is busy", cl.image);
}

int output_fetch_url(struct output_worker *w, const char *url,
		     struct buf *out, struct err *e)
{
	struct source_opts o;
	double start = clock_now_ms();
	int rc;

	refresh(w);
	o = w->source_opts;
	o.guard = 1;
	o.allow_private = w->conf->allow_private_sources;
	o.allowed = w->conf->allowed_sources;
	/* A client's source may trickle a byte a second: only a few such
	 * fetches at once, so that they never hold every request thread and
	 * GETs keep their latency; one more is told to come back (503). */
	if (slots_take(w->env->fetches, w->conf->post_fetches, FETCH_WAIT_MS) < 0)
		return err_set(e, ERR_BUSY, "%d source= fetches are under way "
			       "already (-post_fetches); try again later",
			       w->conf->post_fetches);
	stats_gauge(GAUGE_DOWNLOADING, 1);
	rc = source_fetch_url(w->source, &o, url, out, e);
	stats_gauge(GAUGE_DOWNLOADING, -1);
	slots_give(w->env->fetches);
	return counted(rc, start, out);
}
