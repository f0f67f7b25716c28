/* flight.c - in-process single flight, a list under one mutex. */
#include "flight.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct entry {
	char *key;
	int refs;    /* the leader and its waiters */
	int done;
	struct err result;
	struct entry *next;
};

struct flight {
	pthread_mutex_t mu;
	pthread_cond_t cond; /* broadcast when any flight ends */
	struct entry *list;
};

struct flight *flight_new(void)
{
	struct flight *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cond, NULL);
	return f;
}

void flight_free(struct flight *f)
{
	if (f == NULL)
		return;
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static struct entry *find(struct flight *f, const char *key)
{
	for (struct entry *e = f->list; e != NULL; e = e->next)
		if (!e->done && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Drops one reference; the last one unlinks and frees. Under f->mu. */
static void unref(struct flight *f, struct entry *x)
{
	if (--x->refs > 0)
		return;
	for (struct entry **p = &f->list; *p != NULL; p = &(*p)->next) {
		if (*p == x) {
			*p = x->next;
			break;
		}
	}
	free(x->key);
	free(x);
}

int flight_begin(struct flight *f, const char *key, int timeout_s,
		 struct err *result)
{
	struct timespec until;
	struct entry *x;
	int rc;

	pthread_mutex_lock(&f->mu);
	x = find(f, key);
	if (x == NULL) {
		x = calloc(1, sizeof(*x));
		if (x == NULL || (x->key = strdup(key)) == NULL) {
			free(x);
			pthread_mutex_unlock(&f->mu);
			err_set(result, ERR_BUSY, "out of memory");
			return -1;
		}
		x->refs = 1;
		x->next = f->list;
		f->list = x;
		pthread_mutex_unlock(&f->mu);
		return 1;
	}
	x->refs++;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_s;
	while (!x->done) {
		if (pthread_cond_timedwait(&f->cond, &f->mu, &until) != 0 &&
		    !x->done)
			break;
	}
	if (x->done) {
		if (result != NULL)
			*result = x->result;
		rc = 0;
	} else {
		err_set(result, ERR_BUSY,
			"timed out after %d s waiting for another request making it",
			timeout_s);
		rc = -1;
	}
	unref(f, x);
	pthread_mutex_unlock(&f->mu);
	return rc;
}

void flight_end(struct flight *f, const char *key, const struct err *result)
{
	struct entry *x;

	pthread_mutex_lock(&f->mu);
	x = find(f, key);
	if (x != NULL) {
		x->done = 1;
		x->result = *result;
		pthread_cond_broadcast(&f->cond);
		unref(f, x);
	}
	pthread_mutex_unlock(&f->mu);
}
