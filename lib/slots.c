/* slots.c - at most N at once, with a short wait for a free slot. */
#include "slots.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct slots {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	int taken;
};

struct slots *slots_new(void)
{
	struct slots *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	/* A monotonic clock, so that a change of the wall clock neither
	 * cuts a wait short nor stretches it. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->freed, &ca);
	pthread_condattr_destroy(&ca);
	return s;
}

void slots_free(struct slots *s)
{
	if (s == NULL)
		return;
	pthread_cond_destroy(&s->freed);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int slots_take(struct slots *s, int limit, int wait_ms)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	while (s->taken >= limit && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&s->freed, &s->lock, &until);
	if (s->taken < limit) {
		s->taken++;
		rc = 0;
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void slots_give(struct slots *s)
{
	pthread_mutex_lock(&s->lock);
	s->taken--;
	pthread_mutex_unlock(&s->lock);
	pthread_cond_signal(&s->freed);
}

int slots_taken(struct slots *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->taken;
	pthread_mutex_unlock(&s->lock);
	return n;
}
