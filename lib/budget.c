/* budget.c - admission of makes under a memory budget. */
#include "budget.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "metrics.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t room;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static size_t limit;   /* 0: none */
static size_t in_use;
static unsigned holders;

/* The condition waits on the monotonic clock: a wall-clock step must not
 * stretch or cut a wait. */
static void setup(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&room, &a);
	pthread_condattr_destroy(&a);
}

static void publish(void)
{
	metrics_set_budget_in_use(limit ? (long)in_use : -1);
}

void budget_set(size_t bytes)
{
	pthread_once(&once, setup);
	pthread_mutex_lock(&mu);
	limit = bytes;
	publish();
	pthread_cond_broadcast(&room);
	pthread_mutex_unlock(&mu);
}

/* Room for bytes now: within the budget, or nobody else in. */
static int fits(size_t bytes)
{
	return limit == 0 || holders == 0 || in_use + bytes <= limit;
}

int budget_reserve(size_t bytes, long timeout_ms, struct err *e)
{
	struct timespec until;

	pthread_once(&once, setup);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L)
		until.tv_sec++, until.tv_nsec -= 1000000000L;
	pthread_mutex_lock(&mu);
	while (!fits(bytes)) {
		if (pthread_cond_timedwait(&room, &mu, &until) == ETIMEDOUT &&
		    !fits(bytes)) {
			pthread_mutex_unlock(&mu);
			return err_set(e, ERR_BUSY,
				       "no memory free for this image after %ld ms "
				       "(-max_memory)", timeout_ms);
		}
	}
	in_use += bytes;
	holders++;
	publish();
	pthread_mutex_unlock(&mu);
	return 0;
}

void budget_release(size_t bytes)
{
	pthread_mutex_lock(&mu);
	in_use -= bytes < in_use ? bytes : in_use;
	holders--;
	publish();
	pthread_cond_broadcast(&room);
	pthread_mutex_unlock(&mu);
}

size_t budget_in_use(void)
{
	size_t n;

	pthread_mutex_lock(&mu);
	n = in_use;
	pthread_mutex_unlock(&mu);
	return n;
}
