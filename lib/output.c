/* output.c - store hit, or take the work, make it once, store, record. */
#include "output.h"

#include <stdatomic.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flight.h"
#include "image.h"
#include "log.h"
#include "registry.h"
#include "source.h"
#include "stats.h"
#include "store.h"

#define POLL_MS 50 /* how often a waiter looks for another process's result */

struct output_env {
	_Atomic(const struct conf *) conf; /* swapped by a reload */
	struct registry *registry;
	struct flight *flight;
};

struct output_worker {
	struct output_env *env;
	const struct conf *conf; /* this call's snapshot of env->conf */
	struct source *source;
	struct source_opts source_opts;
	struct registry_conn *redis;
	struct image_limits limits;
};

/* Makes the bytes of one store file; the work that is done once. */
typedef int (*make_fn)(struct output_worker *w, const void *arg,
		       struct buf *out, struct err *e);

/* One file of the store to get: where it lives, and how to make it. */
struct target {
	const char *image; /* "user/avatar/1" */
	const char *file;  /* "w500.jpg", "original" */
	const char *path;  /* in the store */
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
	env->flight = flight_new();
	env->registry = registry_new(c, e);
	if (env->flight == NULL || env->registry == NULL) {
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
	flight_free(env->flight);
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
	return registry_state(env->registry);
}

/* Takes this call's snapshot of the configuration, and what follows. */
static void refresh(struct output_worker *w)
{
	const struct conf *c = atomic_load(&w->env->conf);

	if (c == w->conf)
		return;
	w->conf = c;
	image_limits_from_conf(&w->limits, c);
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
	w->redis = registry_conn_new(env->registry);
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

struct registry_conn *output_worker_redis(struct output_worker *w)
{
	return w->redis;
}

void output_worker_free(struct output_worker *w)
{
	if (w == NULL)
		return;
	source_free(w->source);
	registry_conn_free(w->redis);
	free(w);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* 0 if the file could be read from the store, else -1 (out left empty). */
static int from_store(const char *path, struct buf *out)
{
	if (store_read(path, SIZE_MAX - 1, out, NULL) == 0)
		return 0;
	buf_release(out);
	return -1;
}

/*
 * Another process holds the Redis lock for name: wait until its file is
 * in the store, or its lock is gone.  Returns 0 when the file was read
 * (WAITED), 1 when the lock is now ours (*lock set) or Redis went away,
 * -1 with the holder's error or ERR_BUSY on timeout.
 */
static int wait_other(struct output_worker *w, const struct target *t,
		      const char *name, struct registry_lock **lock,
		      struct buf *out, struct err *e)
{
	long waited = 0, limit = w->conf->wait_timeout * 1000L;

	for (;;) {
		enum registry_rc rc;

		if (from_store(t->path, out) == 0)
			return 0;
		if (waited >= limit)
			return err_set(e, ERR_BUSY,
				       "timed out after %d s waiting for another "
				       "worker making %s",
				       w->conf->wait_timeout, name);
		rc = registry_locked(w->redis, name);
		if (rc == REGISTRY_OK) {
			/* Free: the holder ended; its error, or our turn. */
			if (registry_get_error(w->redis, name, e) == REGISTRY_OK)
				return -1;
			rc = registry_lock(w->redis, name, lock);
			if (rc != REGISTRY_BUSY)
				return 1; /* ours, or Redis is down: make it */
		} else if (rc == REGISTRY_DOWN) {
			return 1;
		}
		sleep_ms(POLL_MS);
		waited += POLL_MS;
	}
}

/*
 * Leads the work for t in this process: takes the Redis lock (or waits
 * for its holder), makes the file, stores and records it.
 */
static int lead(struct output_worker *w, const struct target *t,
		const char *name, struct buf *out, enum output_how *how,
		struct err *e)
{
	struct registry_lock *lock = NULL;
	int rc;

	switch (registry_lock(w->redis, name, &lock)) {
	case REGISTRY_OK:
	case REGISTRY_DOWN: /* de-duplicated in this process only */
		break;
	case REGISTRY_BUSY:
		rc = wait_other(w, t, name, &lock, out, e);
		if (rc <= 0) {
			*how = OUTPUT_WAITED;
			return rc;
		}
		break;
	}
	/* The lock is ours: it may have been made just before we took it. */
	if (from_store(t->path, out) == 0) {
		*how = OUTPUT_STORE;
		rc = 0;
		goto out;
	}
	(void)registry_forget(w->redis, t->image, t->file);
	rc = t->make(w, t->arg, out, e);
	if (rc == 0)
		rc = store_write_atomic(t->path, out->data, out->len, e);
	if (rc == 0) {
		*how = OUTPUT_MADE;
		(void)registry_add(w->redis, t->image, t->file);
	} else {
		buf_release(out);
		if (lock != NULL)
			(void)registry_set_error(w->redis, name, e);
	}
out:
	registry_unlock(w->redis, lock);
	return rc;
}

/* Gets file t into out: from the store, or made exactly once. */
static int produce(struct output_worker *w, const struct target *t,
		   struct buf *out, enum output_how *how, struct err *e)
{
	char name[512];
	struct err result;
	int rc;

	snprintf(name, sizeof(name), "%s/%s", t->image, t->file);
	for (int tries = 0; tries < 3; tries++) {
		if (from_store(t->path, out) == 0) {
			*how = tries ? OUTPUT_WAITED : OUTPUT_STORE;
			return 0;
		}
		rc = flight_begin(w->env->flight, name, w->conf->wait_timeout,
				  &result);
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
		rc = lead(w, t, name, out, how, &result);
		flight_end(w->env->flight, name, &result);
		if (rc < 0)
			*e = result;
		return rc;
	}
	return err_set(e, ERR_INTERNAL, "%s was made but is not in the store",
		       name);
}

/* Runs a fetch from the source, counted for /status and statsd. */
static int counted(int rc, double start)
{
	if (rc < 0) {
		stats_add(STAT_UNAVAILABLE, 1);
		stats_event("original_unavailable");
		return -1;
	}
	stats_add(STAT_DOWNLOADED, 1);
	stats_event("original_downloaded");
	stats_timing("original_download_time", stats_now_ms() - start);
	return 0;
}

static int fetch_original(struct output_worker *w, const void *arg,
			  struct buf *out, struct err *e)
{
	const struct url_request *r = arg;
	struct sniff_info si;
	double start = stats_now_ms();
	int rc;

	stats_gauge(GAUGE_DOWNLOADING, 1);
	rc = source_fetch(w->source, &w->source_opts, r->model, r->field, r->id,
			  out, e);
	stats_gauge(GAUGE_DOWNLOADING, -1);
	if (counted(rc, start) < 0)
		return -1;
	/* Only an image that passes the checks is kept: a bad one would be
	 * refused again on every request anyway. */
	if (image_check_original(out->data, out->len, &w->limits, &si, e) < 0)
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
	};
	struct buf orig;
	int rc;

	buf_init(&orig);
	rc = output_original(w, r->model, r->field, r->id, &orig, e);
	if (rc == 0) {
		double start = stats_now_ms();
		char name[48];

		stats_gauge(GAUGE_PROCESSING, 1);
		rc = image_make(orig.data, orig.len, r, &io, out, e);
		stats_gauge(GAUGE_PROCESSING, -1);
		if (rc == 0) {
			/* The seed's names: image_request, image_request.jpg ... */
			snprintf(name, sizeof(name), "image_request.%s",
				 url_format_ext(r->format));
			stats_event("image_request");
			stats_event(name);
			stats_timing("image_processing_time", stats_now_ms() - start);
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
	char image[256], path[4096];
	struct target t = { image, STORE_ORIGINAL, path, fetch_original, &r };
	enum output_how how;

	refresh(w);
	snprintf(r.model, sizeof(r.model), "%s", model);
	snprintf(r.field, sizeof(r.field), "%s", field);
	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(image, sizeof(image), "%s/%s/%s", model, field, id);
	if (store_path(w->conf->store, model, field, id, STORE_ORIGINAL, path,
		       sizeof(path), e) < 0)
		return -1;
	return produce(w, &t, out, &how, e);
}

int output_get(struct output_worker *w, const struct url_request *r,
	       struct buf *out, enum output_how *how, struct err *e)
{
	char image[256], path[4096];
	struct target t = { image, r->file, path, make_output, r };

	refresh(w);
	snprintf(image, sizeof(image), "%s/%s/%s", r->model, r->field, r->id);
	if (store_path(w->conf->store, r->model, r->field, r->id, r->file, path,
		       sizeof(path), e) < 0)
		return -1;
	return produce(w, &t, out, how, e);
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

int output_put_original(struct output_worker *w, const char *model,
			const char *field, const char *id, const void *data,
			size_t len, struct output_original_info *info,
			struct err *e)
{
	char path[4096], image[256], old_hash[65];
	struct buf old;
	int swap, rc = -1;

	refresh(w);
	memset(info, 0, sizeof(*info));
	if (image_check_original(data, len, &w->limits, &info->sniff, e) < 0)
		return -1;
	swap = info->sniff.format == SNIFF_JPEG && info->sniff.orientation >= 5;
	info->width = swap ? info->sniff.height : info->sniff.width;
	info->height = swap ? info->sniff.width : info->sniff.height;
	if (sha256_hex(data, len, info->sha256) < 0)
		return err_set(e, ERR_INTERNAL, "sha256 failed");
	if (store_path(w->conf->store, model, field, id, STORE_ORIGINAL, path,
		       sizeof(path), e) < 0)
		return -1;
	snprintf(image, sizeof(image), "%s/%s/%s", model, field, id);
	buf_init(&old);
	/* Written only if no original is there, atomically with respect to a
	 * concurrent POST or a GET fetching it from the source. */
	rc = store_write_new(path, data, len, e);
	if (rc <= 0) {
		if (rc == 0)
			(void)registry_add(w->redis, image, STORE_ORIGINAL);
		goto out;
	}
	rc = -1; /* one was there: the same bytes, or a conflict */
	if (store_read(path, SIZE_MAX - 1, &old, NULL) == 0) {
		if (sha256_hex(old.data, old.len, old_hash) == 0 &&
		    strcmp(old_hash, info->sha256) == 0) {
			info->existed = 1;
			(void)registry_add(w->redis, image, STORE_ORIGINAL);
			rc = 0;
		} else {
			err_set(e, ERR_CONFLICT,
				"a different original is stored for %s; an id's "
				"original never changes",
				image);
		}
	} else {
		err_set(e, ERR_INTERNAL, "cannot read back %s", path);
	}
out:
	buf_release(&old);
	return rc;
}

int output_fetch_url(struct output_worker *w, const char *url,
		     struct buf *out, struct err *e)
{
	struct source_opts o;
	double start = stats_now_ms();
	int rc;

	refresh(w);
	o = w->source_opts;
	o.guard = 1;
	o.allow_private = w->conf->allow_private_sources;
	o.allowed = w->conf->allowed_sources;
	stats_gauge(GAUGE_DOWNLOADING, 1);
	rc = source_fetch_url(w->source, &o, url, out, e);
	stats_gauge(GAUGE_DOWNLOADING, -1);
	return counted(rc, start);
}
