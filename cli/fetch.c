/* fetch.c - originals of a range of ids, downloaded on one curl multi handle. */
#include "clock.h"
#include "fetch.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image.h"
#include "log.h"
#include "progress.h"
#include "output.h"
#include "signals.h"
#include "source.h"
#include "store.h"

#define TICK_MS 100       /* longest poll: signals and the display */
#define LOCK_POLL_MS 250  /* a lock held by another worker is tried again */
#define SKIPS_PER_ROUND 1000 /* stored ids looked at between two polls */
#define MAX_BACKOFF_MS 300000.0 /* the doubling stops at five minutes */

enum slot_state { S_FREE, S_READY, S_RUNNING };

/* One id being fetched: waiting for its turn (READY) or in transfer. */
struct slot {
	enum slot_state state;
	char id[ARGS_ID_DIGITS + 1];
	char path[4096];     /* of the original in the store */
	int tries;           /* transfers started */
	double not_before;   /* ms: a back-off or a lock poll */
	double busy_since;   /* ms: its lock was first found taken; 0: not */
	struct output_claim *claim; /* the work on its original is ours */
	CURL *easy;          /* kept for the next id */
	struct buf body;
	struct source_sink sink; /* into body, capped */
	char curl_err[CURL_ERROR_SIZE];
};

struct fetch {
	const struct cli_args *a;
	const struct conf *c;
	struct progress *p;
	struct output_env *env;
	struct output_worker *w;     /* the make-once protocol (output.h) */
	struct source *files;        /* a file:// source */
	struct source_opts sopts;
	CURLM *multi;
	struct slot *slots;
	int http;                    /* the source is http(s) */
	unsigned long long count;    /* ids in the range */
	unsigned long long next;     /* offset of the next id to take */
	int stop;                    /* a signal came: start nothing more */
	struct progress_counts pc;
};


/* "model/field/id" */
static void image_name(const struct fetch *f, const struct slot *s,
		       char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s/%s", f->a->model, f->a->field, s->id);
}

/* Frees the slot for the next id.  failure: the error left for the
 * responder's waiters on its original, or NULL. */
static void release(struct fetch *f, struct slot *s, const struct err *failure)
{
	output_abort(f->w, s->claim, failure);
	s->claim = NULL;
	buf_release(&s->body);
	s->tries = 0;
	s->busy_since = 0;
	s->state = S_FREE;
}

/* The id is done, one way or another. */
static void finish(struct fetch *f, struct slot *s, long long *count,
		   const struct err *failure)
{
	(*count)++;
	f->pc.done++;
	release(f, s, failure);
}

static void fail(struct fetch *f, struct slot *s, const struct err *e)
{
	char image[256];

	image_name(f, s, image, sizeof(image));
	if (e->code == ERR_NOT_FOUND) {
		if (log_get_level() <= LOG_INFO)
			progress_note(f->p, "missing %s: %s", image, e->msg);
		finish(f, s, &f->pc.missing, e);
		return;
	}
	progress_note(f->p, "failed %s: %s", image, e->msg);
	finish(f, s, &f->pc.failed, e);
}

/* The body is the original: checked, stored and recorded by the commit. */
static void keep(struct fetch *f, struct slot *s)
{
	struct output_claim *claim = s->claim;
	struct err e;

	s->claim = NULL; /* the commit lets go of it, either way */
	if (output_commit(f->w, claim, s->body.data, s->body.len, &e) < 0) {
		fail(f, s, &e);
		return;
	}
	finish(f, s, &f->pc.made, NULL);
}

/* A failure worth another try: again after the back-off, or for good. */
static void retry(struct fetch *f, struct slot *s, const struct err *e)
{
	double wait;

	if (s->tries > f->a->retries) {
		struct err last = *e;

		if (s->tries > 1)
			err_set(&last, e->code, "%.200s (%d tries)", e->msg, s->tries);
		fail(f, s, &last);
		return;
	}
	wait = (double)f->a->retry_ms * (double)(1u << (s->tries - 1));
	if (wait > MAX_BACKOFF_MS)
		wait = MAX_BACKOFF_MS;
	if (log_get_level() <= LOG_INFO)
		progress_note(f->p, "%s/%s/%s: %s; try %d of %d in %.1f s",
			      f->a->model, f->a->field, s->id, e->msg,
			      s->tries + 1, f->a->retries + 1, wait / 1e3);
	buf_release(&s->body);
	/* Not holding the lock through the back-off: a responder that wants
	 * this original meanwhile may fetch it itself; start() takes the lock
	 * again (and finds the original stored, if it was). */
	output_abort(f->w, s->claim, NULL);
	s->claim = NULL;
	s->state = S_READY;
	s->not_before = clock_now_ms() + wait;
}

/* Connection errors and timeouts: the kind of failure that passes. */
static int transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* A transfer ended: keep, retry, or count it. */
static void transfer_done(struct fetch *f, struct slot *s, CURLcode rc)
{
	long code = 0;
	struct err e;

	curl_multi_remove_handle(f->multi, s->easy);
	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	s->state = S_READY; /* until told otherwise below */
	if (rc == CURLE_OK && code == 200) {
		keep(f, s);
		return;
	}
	if (s->sink.over || rc == CURLE_FILESIZE_EXCEEDED) {
		err_set(&e, ERR_UNPROCESSABLE, "original is over the limit of "
			"%zu bytes", f->sopts.max_bytes);
		fail(f, s, &e);
	} else if (s->sink.oom) {
		err_set(&e, ERR_INTERNAL, "out of memory fetching the original");
		fail(f, s, &e);
	} else if (rc != CURLE_OK) {
		err_set(&e, rc == CURLE_OPERATION_TIMEDOUT ? ERR_TIMEOUT : ERR_SOURCE,
			"source %s: %s",
			rc == CURLE_OPERATION_TIMEDOUT ? "timed out" : "failed",
			s->curl_err[0] ? s->curl_err : curl_easy_strerror(rc));
		if (transient(rc))
			retry(f, s, &e);
		else
			fail(f, s, &e);
	} else if (code == 404 || code == 410) {
		err_set(&e, ERR_NOT_FOUND,
			"original not found at the source (HTTP %ld)", code);
		fail(f, s, &e);
	} else {
		err_set(&e, ERR_SOURCE, "source answered HTTP %ld", code);
		if (code >= 500 || code == 408 || code == 429)
			retry(f, s, &e);
		else
			fail(f, s, &e);
	}
}

/* Starts the transfer of s on the multi handle. */
static int start_http(struct fetch *f, struct slot *s, struct err *e)
{
	char url[2048];
	CURL *h;

	if (source_expand(f->sopts.tmpl, f->a->model, f->a->field, s->id, url,
			  sizeof(url), e) < 0)
		return -1;
	if (s->easy == NULL && (s->easy = curl_easy_init()) == NULL)
		return err_set(e, ERR_INTERNAL, "curl_easy_init failed");
	h = s->easy;
	source_easy_setup(h, &f->sopts, url, &s->sink, &s->body, s->curl_err);
	curl_easy_setopt(h, CURLOPT_PRIVATE, s);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "image-server images fetch");
	if (curl_multi_add_handle(f->multi, h) != CURLM_OK)
		return err_set(e, ERR_INTERNAL, "curl_multi_add_handle failed");
	s->tries++;
	s->state = S_RUNNING;
	return 0;
}

/* Claims the work on s's original.  Returns 1 to go on, 0 when s is done
 * or must wait. */
static int take_claim(struct fetch *f, struct slot *s, double now)
{
	enum output_claim_rc rc;
	struct err e;

	if (output_claim(f->w, f->a->model, f->a->field, s->id, STORE_ORIGINAL,
			 &rc, &s->claim, &e) < 0) {
		fail(f, s, &e); /* another worker's failure, left for us */
		return 0;
	}
	if (rc == OUTPUT_CLAIM_MINE)
		return 1;
	if (rc == OUTPUT_CLAIM_STORED) {
		finish(f, s, &f->pc.skipped, NULL);
		return 0;
	}
	/* Someone else (a responder) is getting it: wait for its result. */
	if (s->busy_since == 0)
		s->busy_since = now;
	if (now - s->busy_since > f->c->wait_timeout * 1e3) {
		err_set(&e, ERR_BUSY, "timed out after %d s waiting for another "
			"worker fetching it", f->c->wait_timeout);
		fail(f, s, &e);
		return 0;
	}
	s->not_before = now + LOCK_POLL_MS;
	return 0;
}

/* Starts s if its time has come. */
static void start(struct fetch *f, struct slot *s, double now)
{
	struct err e;

	if (s->not_before > now)
		return;
	if (s->claim == NULL && !take_claim(f, s, now))
		return;
	if (!f->http) {
		s->tries++;
		if (source_fetch(f->files, &f->sopts, f->a->model, f->a->field,
				 s->id, &s->body, &e) < 0)
			fail(f, s, &e);
		else
			keep(f, s);
		return;
	}
	if (start_http(f, s, &e) < 0)
		fail(f, s, &e);
}

/* Gives free slots their next ids, passing over ids already stored. */
static void fill(struct fetch *f)
{
	int budget = SKIPS_PER_ROUND;

	for (int i = 0; i < f->a->concurrency && budget > 0; i++) {
		struct slot *s = &f->slots[i];

		while (s->state == S_FREE && f->next < f->count && budget-- > 0) {
			snprintf(s->id, sizeof(s->id), "%llu", f->a->start + f->next++);
			if (store_path(f->c->store, f->a->model, f->a->field, s->id,
				       STORE_ORIGINAL, s->path, sizeof(s->path),
				       NULL) < 0) {
				struct err e;
				err_set(&e, ERR_INTERNAL, "store path too long");
				s->state = S_READY;
				fail(f, s, &e);
			} else if (store_exists(s->path)) {
				f->pc.skipped++;
				f->pc.done++;
			} else {
				s->state = S_READY;
				s->not_before = 0;
			}
		}
	}
}

/* A stop: drops every id in hand; nothing of them was written. */
static void drop_all(struct fetch *f)
{
	for (int i = 0; i < f->a->concurrency; i++) {
		struct slot *s = &f->slots[i];

		if (s->state == S_RUNNING)
			curl_multi_remove_handle(f->multi, s->easy);
		if (s->state != S_FREE)
			release(f, s, NULL);
	}
}

/* How long the next poll may sleep: up to the next back-off's end. */
static int poll_ms(const struct fetch *f, double now)
{
	double ms = TICK_MS;

	for (int i = 0; i < f->a->concurrency; i++) {
		const struct slot *s = &f->slots[i];

		if (s->state == S_READY && s->not_before - now < ms)
			ms = s->not_before - now;
	}
	return ms < 0 ? 0 : (int)ms;
}

static int busy(const struct fetch *f)
{
	for (int i = 0; i < f->a->concurrency; i++)
		if (f->slots[i].state != S_FREE)
			return 1;
	return 0;
}

/* The loop: fill, start, transfer, until all is done or a signal. */
static int run(struct fetch *f)
{
	int first = 0;

	for (;;) {
		int sig = signals_wait(0, "images fetch"), running;
		double now = clock_now_ms();
		CURLMsg *m;

		if (sig != 0 && first == 0) {
			first = sig;
			f->stop = 1;
			progress_note(f->p, "%s: stopping; downloads in flight are "
				      "dropped", signals_name(sig));
			drop_all(f);
		}
		if (!f->stop)
			fill(f);
		for (int i = 0; i < f->a->concurrency; i++)
			if (f->slots[i].state == S_READY)
				start(f, &f->slots[i], now);
		if (!busy(f) && (f->stop || f->next >= f->count))
			return first;
		curl_multi_perform(f->multi, &running);
		while ((m = curl_multi_info_read(f->multi, &running)) != NULL) {
			struct slot *s = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			transfer_done(f, s, m->data.result);
		}
		progress_update(f->p, &f->pc);
		/* Ids already stored are passed over without a poll. */
		if (!f->stop && f->next < f->count && !busy(f))
			continue;
		curl_multi_poll(f->multi, NULL, 0, poll_ms(f, clock_now_ms()), NULL);
	}
}

static void setup_limits(struct fetch *f)
{
	const struct conf *c = f->c;

	source_opts_from_conf(&f->sopts, c);
	f->http = strncmp(c->source, "file://", 7) != 0;
}

static void cleanup(struct fetch *f)
{
	if (f->slots != NULL) {
		drop_all(f);
		for (int i = 0; i < f->a->concurrency; i++)
			if (f->slots[i].easy != NULL)
				curl_easy_cleanup(f->slots[i].easy);
	}
	free(f->slots);
	if (f->multi != NULL)
		curl_multi_cleanup(f->multi);
	source_free(f->files);
	output_worker_free(f->w);
	output_env_free(f->env);
	progress_free(f->p);
}

int fetch_run(const struct cli_args *a, const struct conf *c)
{
	struct fetch f = { .a = a, .c = c };
	struct err e;
	int sig;

	if (c->source[0] == '\0') {
		fprintf(stderr, "images fetch: -source is required\n");
		return 2;
	}
	setup_limits(&f);
	f.count = a->end - a->start + 1;
	f.env = output_env_new(c, &e);
	if (f.env == NULL) {
		fprintf(stderr, "images fetch: %s\n", e.msg);
		return 2;
	}
	f.w = output_worker_new(f.env);
	f.files = source_new();
	f.multi = curl_multi_init();
	f.slots = calloc((size_t)a->concurrency, sizeof(*f.slots));
	f.p = progress_new("images fetch", "fetched", (long long)f.count,
			   a->progress);
	if (f.w == NULL || f.files == NULL || f.multi == NULL ||
	    f.slots == NULL || f.p == NULL) {
		fprintf(stderr, "images fetch: out of memory\n");
		cleanup(&f);
		return 2;
	}
	for (int i = 0; i < a->concurrency; i++)
		buf_init(&f.slots[i].body);
	sig = run(&f);
	if ((unsigned long long)f.pc.done == f.count)
		sig = 0; /* the signal came after the last id */
	progress_summary(f.p, &f.pc, sig != 0);
	cleanup(&f);
	return sig != 0 ? 128 + sig : f.pc.failed > 0 ? 1 : 0;
}
