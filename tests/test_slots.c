/* test_slots.c - at most N at once; a short wait, then no. */
#include <pthread.h>

#include "clock.h"
#include "slots.h"
#include "test.h"

static struct slots *s;

static void *give_later(void *arg)
{
	(void)arg;
	clock_sleep_ms(100);
	slots_give(s);
	return NULL;
}

int main(void)
{
	pthread_t t;
	double start;

	s = slots_new();
	CHECK(s != NULL);
	CHECK_INT(slots_take(s, 2, 0), 0);
	CHECK_INT(slots_take(s, 2, 0), 0);
	CHECK_INT(slots_taken(s), 2);
	/* Full: refused after the wait, not before it. */
	start = clock_now_ms();
	CHECK_INT(slots_take(s, 2, 200), -1);
	CHECK(clock_now_ms() - start >= 190, "%.0f ms", clock_now_ms() - start);
	CHECK_INT(slots_taken(s), 2);
	/* One given back meanwhile: taken as soon as it is. */
	pthread_create(&t, NULL, give_later, NULL);
	start = clock_now_ms();
	CHECK_INT(slots_take(s, 2, 5000), 0);
	CHECK(clock_now_ms() - start < 2000, "%.0f ms", clock_now_ms() - start);
	pthread_join(t, NULL);
	/* The limit is the caller's, per call (a reload). */
	CHECK_INT(slots_take(s, 3, 0), 0);
	CHECK_INT(slots_take(s, 1, 0), -1);
	CHECK_INT(slots_taken(s), 3);
	slots_give(s);
	slots_give(s);
	slots_give(s);
	CHECK_INT(slots_taken(s), 0);
	slots_free(s);
	slots_free(NULL);
	return TEST_END("slots");
}
