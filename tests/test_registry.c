/* test_registry.c - Redis keys and locks against a real redis-server. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>

#include "conf.h"
#include "log.h"
#include "registry.h"
#include "test.h"
#include "testredis.h"

int main(void)
{
	struct conf cf;
	struct redis *rd;
	struct registry *reg;
	struct redis_conn *a, *b;
	struct registry_lock *la, *lb;
	struct err e, got;
	double t0;
	int port;

	port = 23000 + getpid() % 1000;
	log_set_level(LOG_ERROR);
	conf_defaults(&cf);
	snprintf(cf.redis, sizeof(cf.redis), "127.0.0.1:%d", port);
	cf.lock_ttl_ms = 1000;
	CHECK(testredis_start(port) == 0, "redis-server did not start");

	rd = redis_new(&cf, &e);
	reg = registry_new(rd, &e);
	CHECK(reg != NULL);
	a = redis_conn_new(rd);
	b = redis_conn_new(rd);

	/* Locks: one holder; compare-and-delete. */
	CHECK_INT(registry_lock(reg, a, "m/f/1/w5.jpg", &la), REGISTRY_OK);
	CHECK_INT(registry_lock(reg, b, "m/f/1/w5.jpg", &lb), REGISTRY_HELD);
	CHECK(lb == NULL);
	CHECK_INT(registry_lock_state(b, "m/f/1/w5.jpg"), REGISTRY_HELD);
	CHECK_INT(testredis_int("PTTL %s", "imgsrv:lock:m/f/1/w5.jpg") > 0, 1);

	/* Renewed while held: still there after two TTLs. */
	sleep(2);
	CHECK_INT(registry_lock_state(b, "m/f/1/w5.jpg"), REGISTRY_HELD);
	registry_unlock(a, la);
	CHECK_INT(registry_lock_state(b, "m/f/1/w5.jpg"), REGISTRY_FREE);
	CHECK_INT(testredis_int("EXISTS %s", "imgsrv:lock:m/f/1/w5.jpg"), 0);

	/* Unlocking a lock that expired and was taken by another worker must
	 * not delete the other's lock. */
	CHECK_INT(registry_lock(reg, a, "m/f/1/x9.jpg", &la), REGISTRY_OK);
	CHECK_INT(testredis_int("DEL %s", "imgsrv:lock:m/f/1/x9.jpg"), 1);
	CHECK_INT(registry_lock(reg, b, "m/f/1/x9.jpg", &lb), REGISTRY_OK);
	registry_unlock(a, la);
	CHECK_INT(registry_lock_state(a, "m/f/1/x9.jpg"), REGISTRY_HELD);
	registry_unlock(b, lb);
	registry_unlock(b, NULL);

	/* The outputs set. */
	CHECK_INT(registry_add(a, "m/f/1", "original"), REGISTRY_OK);
	CHECK_INT(registry_add(a, "m/f/1", "w5.jpg"), REGISTRY_OK);
	CHECK_INT(testredis_int("SCARD %s", "imgsrv:outputs:m/f/1"), 2);
	CHECK_INT(registry_forget(a, "m/f/1", "w5.jpg"), REGISTRY_OK);
	CHECK_INT(testredis_int("SCARD %s", "imgsrv:outputs:m/f/1"), 1);
	CHECK_INT(testredis_int("TTL %s", "imgsrv:outputs:m/f/1"), -1);

	/* Errors for waiters, with an expiry. */
	CHECK_INT(registry_get_error(a, "m/f/2/w5.jpg", &got), REGISTRY_NONE);
	err_set(&e, ERR_UNPROCESSABLE, "original cannot be decoded: x y");
	CHECK_INT(registry_set_error(a, "m/f/2/w5.jpg", &e), REGISTRY_OK);
	CHECK_INT(registry_get_error(b, "m/f/2/w5.jpg", &got), REGISTRY_OK);
	CHECK(got.code == ERR_UNPROCESSABLE, "%s", err_name(got.code));
	CHECK_STR(got.msg, "original cannot be decoded: x y");
	CHECK(testredis_int("TTL %s", "imgsrv:error:m/f/2/w5.jpg") > 0);

	/* Redis down: fail fast, no hang. */
	testredis_stop();
	t0 = (double)clock() / CLOCKS_PER_SEC;
	CHECK_INT(registry_lock(reg, a, "m/f/3/w5.jpg", &la), REGISTRY_DOWN);
	CHECK_INT(registry_add(a, "m/f/3", "w5.jpg"), REGISTRY_DOWN);
	CHECK_INT(registry_lock_state(b, "m/f/3/w5.jpg"), REGISTRY_DOWN);
	CHECK((double)clock() / CLOCKS_PER_SEC - t0 < 1.0);

	/* Back: reconnects by itself (after the one-second back-off). */
	testredis_start(port);
	sleep(1);
	usleep(100 * 1000);
	CHECK_INT(registry_lock(reg, a, "m/f/3/w5.jpg", &la), REGISTRY_OK);
	CHECK_INT(registry_add(b, "m/f/3", "w5.jpg"), REGISTRY_OK);
	registry_unlock(a, la);

	redis_conn_free(a);
	redis_conn_free(b);
	registry_free(reg);
	redis_free(rd);

	/* No -redis: everything answers DOWN. */
	cf.redis[0] = '\0';
	rd = redis_new(&cf, &e);
	reg = registry_new(rd, &e);
	a = redis_conn_new(rd);
	CHECK_INT(registry_lock(reg, a, "m/f/1/w5.jpg", &la), REGISTRY_DOWN);
	redis_conn_free(a);
	registry_free(reg);
	redis_free(rd);

	testredis_stop();

	/* unix:PATH, a password and a database number. */
	{
		char sock[64], db_key[96];
		pid_t pid;
		snprintf(sock, sizeof(sock), "/tmp/test_registry.%d.sock", (int)getpid());
		pid = fork();
		if (pid == 0) {
			freopen("/dev/null", "w", stdout);
			execlp("redis-server", "redis-server", "--port", "0",
			       "--unixsocket", sock, "--requirepass", "secret",
			       "--save", "", "--appendonly", "no", (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 100 && access(sock, F_OK) != 0; i++)
			usleep(50 * 1000);
		conf_defaults(&cf);
		snprintf(cf.redis, sizeof(cf.redis), "unix:%s", sock);
		snprintf(cf.redis_password, sizeof(cf.redis_password), "secret");
		cf.redis_db = 3;
		rd = redis_new(&cf, &e);
		reg = registry_new(rd, &e);
		a = redis_conn_new(rd);
		CHECK_INT(registry_add(a, "m/f/9", "original"), REGISTRY_OK);
		CHECK_STR(redis_state(rd), "up");
		{
			/* The record is in database 3, not 0. */
			redisContext *rc = redisConnectUnix(sock);
			redisReply *r0 = redisCommand(rc, "AUTH secret");
			freeReplyObject(r0);
			r0 = redisCommand(rc, "EXISTS imgsrv:outputs:m/f/9");
			CHECK(r0 && r0->integer == 0, "written to db 0");
			freeReplyObject(r0);
			r0 = redisCommand(rc, "SELECT 3");
			freeReplyObject(r0);
			snprintf(db_key, sizeof(db_key), "imgsrv:outputs:m/f/9");
			r0 = redisCommand(rc, "SISMEMBER %s original", db_key);
			CHECK(r0 && r0->integer == 1, "not in db 3");
			freeReplyObject(r0);
			redisFree(rc);
		}
		redis_conn_free(a);
		registry_free(reg);
		redis_free(rd);

		snprintf(cf.redis_password, sizeof(cf.redis_password), "wrong");
		rd = redis_new(&cf, &e);
		reg = registry_new(rd, &e);
		a = redis_conn_new(rd);
		CHECK_INT(registry_add(a, "m/f/9", "original"), REGISTRY_DOWN);
		CHECK_STR(redis_state(rd), "down");
		redis_conn_free(a);
		registry_free(reg);
		redis_free(rd);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	return TEST_END("registry");
}
