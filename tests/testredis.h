/*
 * testredis.h - a real redis-server for the unit tests that need one:
 * started on 127.0.0.1:port without persistence, stopped by pid, and
 * asked things on a connection of the test's own, as redis-cli would.
 * Header-only (static functions); include it once per test program.
 */
#ifndef TESTREDIS_H
#define TESTREDIS_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis.h>

static pid_t testredis_pid;
static int testredis_port;

/* Starts redis-server on port; returns 0 once it answers, -1 if not. */
static int testredis_start(int port)
{
	char p[16];

	testredis_port = port;
	snprintf(p, sizeof(p), "%d", port);
	testredis_pid = fork();
	if (testredis_pid == 0) {
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(127);
		execlp("redis-server", "redis-server", "--bind", "127.0.0.1",
		       "--port", p, "--save", "", "--appendonly", "no", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		redisContext *c = redisConnect("127.0.0.1", port);
		int up = c != NULL && !c->err;
		redisFree(c);
		if (up)
			return 0;
		usleep(50 * 1000);
	}
	return -1;
}

static void testredis_stop(void)
{
	if (testredis_pid <= 0)
		return;
	kill(testredis_pid, SIGTERM);
	waitpid(testredis_pid, NULL, 0);
	testredis_pid = 0;
}

/* Runs a command; returns its reply (free with freeReplyObject), or NULL. */
static redisReply *testredis_cmd(const char *fmt, ...)
{
	redisContext *c = redisConnect("127.0.0.1", testredis_port);
	redisReply *r = NULL;
	va_list ap;

	if (c != NULL && !c->err) {
		va_start(ap, fmt);
		r = redisvCommand(c, fmt, ap);
		va_end(ap);
	}
	redisFree(c);
	return r;
}

/* An integer command's answer, or -99. */
static long long testredis_int(const char *fmt, const char *arg)
{
	redisReply *r = testredis_cmd(fmt, arg);
	long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -99;

	if (r)
		freeReplyObject(r);
	return v;
}

#endif
