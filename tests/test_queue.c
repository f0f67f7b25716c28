/* test_queue.c - the durable job queue (queue.h) against a real redis-server. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis.h>

#include "clock.h"
#include "conf.h"
#include "log.h"
#include "queue.h"
#include "test.h"
#include "testredis.h"

/* CHECK_INT prints its arguments by evaluating them again: a call with
 * side effects is run once here. */
#define CHECK_RC(call, want)                                               \
	do {                                                               \
		long long got_ = (long long)(call);                        \
		CHECK(got_ == (long long)(want), "%s gave %lld, not %lld", \
		      #call, got_, (long long)(want));                     \
	} while (0)

static char prefix[32];
static struct redis_conn *conn;

/* A hung call ends the program as a failure, and takes Redis along. */
static void on_alarm(int sig)
{
	static const char msg[] = "FAIL test_queue: timed out\n";

	(void)sig;
	if (testredis_pid > 0)
		kill(testredis_pid, SIGKILL);
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

/* A process of its own kills Redis if this program dies without stopping
 * it (a crash, a sanitizer's abort): it waits on a pipe that only this
 * process holds.  redis_stop() stands it down first. */
static int guard_fd = -1;
static pid_t guard_pid;

static void guard_redis(void)
{
	pid_t redis = testredis_pid;
	int p[2];

	if (redis <= 0 || pipe2(p, O_CLOEXEC) < 0)
		return;
	guard_pid = fork();
	if (guard_pid == 0) {
		char c;
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			kill(redis, SIGKILL);
		_exit(0);
	}
	close(p[0]);
	guard_fd = p[1];
}

static void redis_stop(void)
{
	if (guard_fd >= 0) {
		(void)!write(guard_fd, "x", 1);
		close(guard_fd);
		waitpid(guard_pid, NULL, 0);
		guard_fd = -1;
	}
	testredis_stop();
}

/* Starts redis-server, guarded, on the first port from base that nothing
 * answers on; returns the port, or -1. */
static int start_redis(int base)
{
	for (int port = base; port < base + 20; port++) {
		redisContext *c = redisConnect("127.0.0.1", port);
		int busy = c != NULL && !c->err;

		redisFree(c);
		if (busy)
			continue;
		if (testredis_start(port) < 0)
			return -1;
		guard_redis();
		return port;
	}
	return -1;
}

/* "{prefix}kind" or "{prefix}kind:name" into buf. */
static const char *key(char *buf, size_t size, const char *kind,
		       const char *name)
{
	if (name == NULL)
		snprintf(buf, size, "%s%s", prefix, kind);
	else
		snprintf(buf, size, "%s%s:%s", prefix, kind, name);
	return buf;
}

/* Length of list kind[:name]. */
static long long llen(const char *kind, const char *name)
{
	char k[256];

	return testredis_int("LLEN %s", key(k, sizeof(k), kind, name));
}

/* Element i of list kind (0: the left end, -1: the right end, where jobs
 * are taken), or "" when there is none, into out. */
static const char *lindex(const char *kind, long i, char *out, size_t size)
{
	char k[256];
	redisReply *r = testredis_cmd("LINDEX %s %ld", key(k, sizeof(k), kind, NULL), i);

	snprintf(out, size, "%s", r && r->type == REDIS_REPLY_STRING ? r->str : "");
	if (r)
		freeReplyObject(r);
	return out;
}

static long long is_worker(const char *worker)
{
	char k[256];
	redisReply *r = testredis_cmd("SISMEMBER %s %s",
				      key(k, sizeof(k), "workers", NULL), worker);
	long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -99;

	if (r)
		freeReplyObject(r);
	return v;
}

static long long has_heartbeat(const char *worker)
{
	char k[256];

	return testredis_int("EXISTS %s", key(k, sizeof(k), "worker", worker));
}

static void flush(void)
{
	redisReply *r = testredis_cmd("FLUSHDB");

	if (r)
		freeReplyObject(r);
}

static void test_push_cap(void)
{
	flush();
	CHECK_RC(queue_push(conn, "m/f/1/w5.jpg", 0, 3), QUEUE_OK);
	CHECK_RC(queue_push(conn, "m/f/2/w5.jpg", 0, 3), QUEUE_OK);
	CHECK_RC(queue_push(conn, "m/f/3/w5.jpg", 0, 3), QUEUE_OK);
	CHECK_RC(queue_push(conn, "m/f/4/w5.jpg", 0, 3), QUEUE_FULL);
	CHECK_INT(llen("queue", NULL), 3);
	/* The cap is the caller's, per call. */
	CHECK_RC(queue_push(conn, "m/f/4/w5.jpg", 1, 4), QUEUE_OK);
	CHECK_RC(queue_push(conn, "m/f/5/w5.jpg", 0, 4), QUEUE_FULL);
	CHECK_INT(llen("queue", NULL), 4);
}

static long long pending(const char *name)
{
	char k[256];
	redisReply *r = testredis_cmd("SISMEMBER %s %s",
				      key(k, sizeof(k), "pending", NULL), name);
	long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -99;

	if (r)
		freeReplyObject(r);
	return v;
}

/* One job per output, forced or not, from its push until it is done or
 * dead; a push of several is all or nothing against the cap. */
static void test_pending(void)
{
	static const char *const names[] = { "m/f/1/a.jpg", "m/f/1/b.jpg",
					     "m/f/1/c.jpg" };
	static const char *const more[] = { "m/f/2/a.jpg", "m/f/2/b.jpg" };
	struct queue_job j;
	struct err why;
	int pushed[3];

	flush();
	CHECK_RC(queue_push(conn, "m/f/1/a.jpg", 0, 100), QUEUE_OK);
	CHECK_RC(queue_push(conn, "m/f/1/a.jpg", 0, 100), QUEUE_PENDING);
	CHECK_RC(queue_push(conn, "m/f/1/a.jpg", 1, 100), QUEUE_PENDING);
	CHECK_INT(llen("queue", NULL), 1);
	CHECK_RC(queue_push_all(conn, names, 3, 1, 100, pushed), QUEUE_OK);
	CHECK(pushed[0] == 0 && pushed[1] == 1 && pushed[2] == 1, "%d %d %d",
	      pushed[0], pushed[1], pushed[2]);
	CHECK_INT(llen("queue", NULL), 3);

	/* Two more would make 5 of 4: neither is queued. */
	CHECK_RC(queue_push_all(conn, more, 2, 0, 4, pushed), QUEUE_FULL);
	CHECK(pushed[0] == 0 && pushed[1] == 0);
	CHECK_INT(llen("queue", NULL), 3);
	CHECK_INT(pending("m/f/2/a.jpg"), 0);
	/* Pending names take no room: a full queue still answers OK. */
	CHECK_RC(queue_push_all(conn, names, 3, 0, 3, pushed), QUEUE_OK);
	CHECK(pushed[0] == 0 && pushed[1] == 0 && pushed[2] == 0);

	/* Taken and retried: still pending, so not queued twice. */
	CHECK_RC(queue_take(conn, "w", &j), QUEUE_OK);
	CHECK_STR(j.name, "m/f/1/a.jpg");
	CHECK_RC(queue_push(conn, j.name, 0, 100), QUEUE_PENDING);
	err_set(&why, ERR_SOURCE, "source answered HTTP 502");
	queue_fail(conn, "w", &j, &why, 3);
	CHECK_INT(pending("m/f/1/a.jpg"), 1);
	CHECK_INT(llen("queue", NULL), 3);
	/* Done: no longer pending, and it may be asked for again. */
	CHECK_RC(queue_take(conn, "w", &j), QUEUE_OK);
	CHECK_STR(j.name, "m/f/1/b.jpg");
	queue_done(conn, "w", &j);
	CHECK_INT(pending("m/f/1/b.jpg"), 0);
	CHECK_RC(queue_push(conn, "m/f/1/b.jpg", 0, 100), QUEUE_OK);
	/* Dead: no longer pending either. */
	CHECK_RC(queue_take(conn, "w", &j), QUEUE_OK);
	CHECK_STR(j.name, "m/f/1/c.jpg");
	err_set(&why, ERR_NOT_FOUND, "no original");
	queue_fail(conn, "w", &j, &why, 3);
	CHECK_INT(llen("dead", NULL), 1);
	CHECK_INT(pending("m/f/1/c.jpg"), 0);
	CHECK_INT(llen("processing", "w"), 0);
}

static void test_take_fifo(void)
{
	struct queue_job j;

	flush();
	queue_push(conn, "m/f/1/a.jpg", 0, 100);
	queue_push(conn, "m/f/1/b.jpg", 1, 100);
	queue_push(conn, "m/f/1/c.jpg", 0, 100);

	CHECK_RC(queue_take(conn, "w1", &j), QUEUE_OK);
	CHECK_STR(j.name, "m/f/1/a.jpg");
	CHECK_STR(j.raw, "0 0 m/f/1/a.jpg");
	CHECK_INT(j.attempts, 0);
	CHECK_INT(j.force, 0);
	CHECK_INT(llen("processing", "w1"), 1);
	queue_done(conn, "w1", &j);
	CHECK_INT(llen("processing", "w1"), 0);

	CHECK_RC(queue_take(conn, "w1", &j), QUEUE_OK);
	CHECK_STR(j.name, "m/f/1/b.jpg");
	CHECK_INT(j.force, 1);
	queue_done(conn, "w1", &j);
	CHECK_RC(queue_take(conn, "w1", &j), QUEUE_OK);
	CHECK_STR(j.name, "m/f/1/c.jpg");
	queue_done(conn, "w1", &j);

	CHECK_RC(queue_take(conn, "w1", &j), QUEUE_EMPTY);
	CHECK_INT(llen("queue", NULL), 0);
	CHECK_INT(llen("processing", "w1"), 0);
}

/* Takes name's job as w and fails it with code; returns where it went:
 * 'q' (queue), 'd' (dead), '?' (elsewhere or still in hand). */
static char fail_once(const char *name, enum err_code code, int max_attempts)
{
	struct queue_job j;
	struct err why;

	flush();
	queue_push(conn, name, 0, 100);
	if (queue_take(conn, "w", &j) != QUEUE_OK)
		return '?';
	err_set(&why, code, "it broke");
	queue_fail(conn, "w", &j, &why, max_attempts);
	if (llen("processing", "w") != 0)
		return '?';
	if (llen("queue", NULL) == 1 && llen("dead", NULL) == 0)
		return 'q';
	if (llen("queue", NULL) == 0 && llen("dead", NULL) == 1)
		return 'd';
	return '?';
}

static void test_fail(void)
{
	static const enum err_code permanent[] = {
		ERR_BAD_REQUEST, ERR_NOT_FOUND, ERR_TOO_LARGE, ERR_FORMAT,
		ERR_UNPROCESSABLE, ERR_FORBIDDEN,
	};
	static const enum err_code transient[] = {
		ERR_SOURCE, ERR_TIMEOUT, ERR_STORAGE_FULL, ERR_BUSY, ERR_INTERNAL,
	};
	struct queue_job j;
	struct err why;
	char s[512];

	/* Retried at the far end, behind the jobs queued meanwhile. */
	flush();
	queue_push(conn, "m/f/1/a.jpg", 0, 100);
	queue_push(conn, "m/f/1/b.jpg", 0, 100);
	CHECK_RC(queue_take(conn, "w", &j), QUEUE_OK);
	CHECK_STR(j.name, "m/f/1/a.jpg");
	err_set(&why, ERR_SOURCE, "source answered HTTP 502");
	queue_fail(conn, "w", &j, &why, 3);
	CHECK_INT(llen("processing", "w"), 0);
	CHECK_INT(llen("queue", NULL), 2);
	CHECK_STR(lindex("queue", 0, s, sizeof(s)), "1 0 m/f/1/a.jpg");
	CHECK_RC(queue_take(conn, "w", &j), QUEUE_OK);
	CHECK_STR(j.name, "m/f/1/b.jpg");
	queue_done(conn, "w", &j);
	CHECK_RC(queue_take(conn, "w", &j), QUEUE_OK);
	CHECK_STR(j.name, "m/f/1/a.jpg");
	CHECK_INT(j.attempts, 1);

	/* Attempt 2 of 3 fails: back once more; attempt 3: dead, with the
	 * error's name and text. */
	queue_fail(conn, "w", &j, &why, 3);
	CHECK_RC(queue_take(conn, "w", &j), QUEUE_OK);
	CHECK_INT(j.attempts, 2);
	queue_fail(conn, "w", &j, &why, 3);
	CHECK_INT(llen("queue", NULL), 0);
	CHECK_INT(llen("processing", "w"), 0);
	CHECK_INT(llen("dead", NULL), 1);
	CHECK_STR(lindex("dead", 0, s, sizeof(s)),
		  "3 0 m/f/1/a.jpg | source: source answered HTTP 502");

	/* force survives a retry */
	flush();
	queue_push(conn, "m/f/1/f.jpg", 1, 100);
	queue_take(conn, "w", &j);
	queue_fail(conn, "w", &j, &why, 3);
	CHECK_RC(queue_take(conn, "w", &j), QUEUE_OK);
	CHECK_INT(j.force, 1);
	CHECK_INT(j.attempts, 1);

	/* What no retry mends is dead at the first failure. */
	for (size_t i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++)
		CHECK(fail_once("m/f/2/p.jpg", permanent[i], 3) == 'd', "%s",
		      err_name(permanent[i]));
	CHECK_STR(lindex("dead", 0, s, sizeof(s)),
		  "1 0 m/f/2/p.jpg | forbidden: it broke");
	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
		CHECK(fail_once("m/f/2/t.jpg", transient[i], 3) == 'q', "%s",
		      err_name(transient[i]));
	/* One attempt allowed: dead at once, whatever the error. */
	CHECK(fail_once("m/f/2/t.jpg", ERR_SOURCE, 1) == 'd');
}

static void test_recover(void)
{
	struct queue_job j, jl;

	flush();
	queue_push(conn, "m/f/1/dead.jpg", 0, 100);
	queue_push(conn, "m/f/1/live.jpg", 0, 100);
	queue_push(conn, "m/f/1/later.jpg", 0, 100);
	queue_heartbeat(conn, "dying", 300);
	queue_heartbeat(conn, "live", 60000);
	CHECK_RC(queue_take(conn, "dying", &j), QUEUE_OK);
	CHECK_RC(queue_take(conn, "live", &jl), QUEUE_OK);
	CHECK_INT(is_worker("dying"), 1);
	CHECK_INT(is_worker("live"), 1);

	/* Both alive: nothing moves. */
	CHECK_RC(queue_recover(conn), 0);
	CHECK_INT(llen("processing", "dying"), 1);
	CHECK_INT(llen("processing", "live"), 1);

	clock_sleep_ms(450);
	CHECK_INT(has_heartbeat("dying"), 0);
	CHECK_RC(queue_recover(conn), 1);
	CHECK_INT(llen("processing", "dying"), 0);
	CHECK_INT(is_worker("dying"), 0);
	/* The live worker keeps its job, its heartbeat and its place. */
	CHECK_INT(llen("processing", "live"), 1);
	CHECK_INT(is_worker("live"), 1);
	CHECK_INT(has_heartbeat("live"), 1);
	CHECK_RC(queue_recover(conn), 0);

	/* The recovered job is taken next, before the one queued after it. */
	CHECK_RC(queue_take(conn, "other", &j), QUEUE_OK);
	CHECK_STR(j.name, "m/f/1/dead.jpg");
	CHECK_RC(queue_take(conn, "other", &j), QUEUE_OK);
	CHECK_STR(j.name, "m/f/1/later.jpg");
}

static void test_leave(void)
{
	struct queue_job j;
	char s[512];

	flush();
	queue_push(conn, "m/f/1/held.jpg", 0, 100);
	queue_heartbeat(conn, "leaver", 60000);
	queue_heartbeat(conn, "stayer", 60000);
	CHECK_RC(queue_take(conn, "leaver", &j), QUEUE_OK);
	queue_leave(conn, "leaver");
	/* At once, long before the heartbeat would have expired. */
	CHECK_INT(has_heartbeat("leaver"), 0);
	CHECK_INT(is_worker("leaver"), 0);
	CHECK_INT(llen("processing", "leaver"), 0);
	CHECK_INT(llen("queue", NULL), 1);
	CHECK_STR(lindex("queue", -1, s, sizeof(s)), "0 0 m/f/1/held.jpg");
	/* Nobody else's entry goes with it. */
	CHECK_INT(is_worker("stayer"), 1);
	CHECK_INT(has_heartbeat("stayer"), 1);

	/* Empty-handed: leaves the queue as it was. */
	queue_leave(conn, "stayer");
	CHECK_INT(has_heartbeat("stayer"), 0);
	CHECK_INT(is_worker("stayer"), 0);
	CHECK_INT(llen("queue", NULL), 1);
}

static void test_counts(void)
{
	struct queue_job j;
	struct err why;
	long waiting = -5, in_progress = -5, dead = -5;

	flush();
	queue_counts(conn, &waiting, &in_progress, &dead);
	CHECK_INT(waiting, 0);
	CHECK_INT(in_progress, 0);
	CHECK_INT(dead, 0);

	for (int i = 1; i <= 5; i++) {
		char name[64];
		snprintf(name, sizeof(name), "m/f/%d/w5.jpg", i);
		queue_push(conn, name, 0, 100);
	}
	queue_heartbeat(conn, "w1", 60000);
	queue_heartbeat(conn, "w2", 60000);
	queue_heartbeat(conn, "w3", 60000);
	queue_take(conn, "w1", &j);
	queue_take(conn, "w2", &j);
	queue_take(conn, "w3", &j);
	err_set(&why, ERR_NOT_FOUND, "no original");
	queue_fail(conn, "w3", &j, &why, 3);
	queue_counts(conn, &waiting, &in_progress, &dead);
	CHECK_INT(waiting, 2);
	CHECK_INT(in_progress, 2);
	CHECK_INT(dead, 1);
}

static void test_malformed(void)
{
	struct queue_job j;
	char k[256], s[512];
	redisReply *r;

	flush();
	/* Pushed on the left: "garbage" is taken first. */
	r = testredis_cmd("LPUSH %s %s %s %s", key(k, sizeof(k), "queue", NULL),
			  "garbage", "1 x m/f/1/w5.jpg", "0 0 m/f/1/ok.jpg");
	CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 3);
	if (r)
		freeReplyObject(r);

	/* One take moves both malformed jobs to the dead letters and hands
	 * out the good one behind them: a worker is not held up. */
	CHECK_RC(queue_take(conn, "w", &j), QUEUE_OK);
	CHECK_INT(llen("dead", NULL), 2);
	CHECK_STR(lindex("dead", 0, s, sizeof(s)), "1 x m/f/1/w5.jpg");
	CHECK_STR(lindex("dead", 1, s, sizeof(s)), "garbage");
	CHECK_INT(llen("processing", "w"), 1); /* the good one, in hand */
	CHECK_STR(j.name, "m/f/1/ok.jpg");
}

/* Every call on a Redis that is stopped (SIGSTOP: connections are
 * accepted, nothing answers) or gone; each must come back fast. */
static void test_down(void)
{
	struct queue_job j = { .raw = "0 0 m/f/1/w5.jpg", .name = "m/f/1/w5.jpg" };
	struct err why;
	long waiting, in_progress, dead;
	double t0, worst = 0, total;

	err_set(&why, ERR_SOURCE, "x");
	for (int round = 0; round < 2; round++) {
		if (round == 0)
			kill(testredis_pid, SIGSTOP);
		else
			redis_stop();
		total = clock_now_ms();
#define TIMED(call)                                                         \
	do {                                                                \
		t0 = clock_now_ms();                                        \
		call;                                                       \
		if (clock_now_ms() - t0 > worst)                            \
			worst = clock_now_ms() - t0;                        \
	} while (0)
		TIMED(CHECK_RC(queue_push(conn, "m/f/1/w5.jpg", 0, 100), QUEUE_DOWN));
		TIMED(CHECK_RC(queue_take(conn, "w", &j), QUEUE_DOWN));
		TIMED(CHECK_RC(queue_recover(conn), -1));
		TIMED(queue_counts(conn, &waiting, &in_progress, &dead));
		CHECK(waiting == -1 && in_progress == -1 && dead == -1,
		      "%ld %ld %ld", waiting, in_progress, dead);
		TIMED(queue_done(conn, "w", &j));
		TIMED(queue_fail(conn, "w", &j, &why, 3));
		TIMED(queue_heartbeat(conn, "w", 1000));
		TIMED(queue_leave(conn, "w"));
#undef TIMED
		total = clock_now_ms() - total;
		/* One command waits out -redis_timeout_ms (200 ms); the rest
		 * fail at once until the retry second has passed. */
		CHECK(worst < 600, "round %d: a call took %.0f ms", round, worst);
		CHECK(total < 1000, "round %d: all calls took %.0f ms", round, total);
		if (round == 0) {
			kill(testredis_pid, SIGCONT);
			clock_sleep_ms(1100); /* past the reconnect back-off */
		}
	}
}

int main(void)
{
	struct conf cf;
	struct redis *rd;
	struct err e;
	int port;

	signal(SIGALRM, on_alarm);
	alarm(60);
	log_set_level(LOG_ERROR);
	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		SKIP("queue against Redis", "redis-server is not installed");
		return TEST_END("queue");
	}
	port = start_redis(24000 + getpid() % 1000);
	CHECK(port > 0, "redis-server did not start");
	if (port < 0)
		return TEST_END("queue");

	conf_defaults(&cf);
	snprintf(cf.redis, sizeof(cf.redis), "127.0.0.1:%d", port);
	snprintf(prefix, sizeof(prefix), "tq%d:", (int)getpid());
	snprintf(cf.redis_prefix, sizeof(cf.redis_prefix), "%s", prefix);
	rd = redis_new(&cf, &e);
	conn = redis_conn_new(rd);

	test_push_cap();
	test_pending();
	test_take_fifo();
	test_fail();
	test_recover();
	test_leave();
	test_counts();
	test_malformed();
	test_down();

	redis_conn_free(conn);
	redis_free(rd);
	redis_stop();
	return TEST_END("queue");
}
