/* test_flight.c - single flight: one leader, waiters get its result. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "flight.h"
#include "test.h"

static struct flight *fl;
static atomic_int leaders, waited_ok, waited_err, working;

static void *worker(void *arg)
{
	int fail = *(int *)arg;
	struct err r;
	int rc = flight_begin(fl, "user/avatar/1/w500.jpg", 10, &r);

	if (rc == 1) {
		struct err out = { ERR_NONE, "" };
		atomic_fetch_add(&leaders, 1);
		atomic_fetch_add(&working, 1);
		usleep(200 * 1000); /* the "decode": long enough to overlap */
		atomic_fetch_sub(&working, 1);
		if (fail)
			err_set(&out, ERR_UNPROCESSABLE, "bad image");
		flight_end(fl, "user/avatar/1/w500.jpg", &out);
	} else if (rc == 0 && r.code == ERR_NONE) {
		atomic_fetch_add(&waited_ok, 1);
	} else if (rc == 0) {
		atomic_fetch_add(&waited_err, 1);
	}
	return NULL;
}

static void herd(int fail)
{
	pthread_t t[32];

	leaders = waited_ok = waited_err = 0;
	for (int i = 0; i < 32; i++)
		pthread_create(&t[i], NULL, worker, &fail);
	for (int i = 0; i < 32; i++)
		pthread_join(t[i], NULL);
}

int main(void)
{
	struct err r;

	fl = flight_new();
	CHECK(fl != NULL);

	herd(0);
	CHECK_INT(leaders, 1);
	CHECK_INT(waited_ok, 31);
	herd(1);
	CHECK_INT(leaders, 1);
	CHECK_INT(waited_err, 31);

	/* Keys are independent; a finished key can be led again. */
	CHECK_INT(flight_begin(fl, "a", 1, &r), 1);
	CHECK_INT(flight_begin(fl, "b", 1, &r), 1);
	flight_end(fl, "a", &(struct err){ ERR_NONE, "" });
	CHECK_INT(flight_begin(fl, "a", 1, &r), 1);
	flight_end(fl, "a", &(struct err){ ERR_NONE, "" });

	/* A leader that never ends: the waiter gives up after its timeout. */
	CHECK_INT(flight_begin(fl, "b", 1, &r), -1);
	CHECK(r.code == ERR_BUSY, "%s", err_name(r.code));
	flight_end(fl, "b", &(struct err){ ERR_NONE, "" });

	flight_free(fl);
	flight_free(NULL);
	return TEST_END("flight");
}
