/*
 * test_redis.c - the connection to Redis (lib/redis.c) and Sentinel
 * (lib/sentinel.c) against real servers: a master, its replica and a
 * redis-sentinel on loopback.  Covers the sentinel:// grammar, finding
 * the master past a dead sentinel, an unknown master name, a replica
 * given as a plain address (READONLY), WAIT for replicas and a span
 * broken by a reconnect, then two failovers (SENTINEL FAILOVER, then
 * kill -9 of the master) with four threads writing throughout: every
 * thread reaches the new master without a restart, writes confirmed by
 * WAIT survive, and each outage is logged once.  Run it under
 * SANITIZER=thread too: the failover path is shared by the threads.
 * Skips (does not fail) where redis-sentinel is not installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>

#include "clock.h"
#include "conf.h"
#include "log.h"
#include "redis.h"
#include "sentinel.h"
#include "test.h"

#define MASTER "mm"

static int port_m, port_r, port_s;
static pid_t pid_m, pid_r, pid_s;
static char dir[64];

/* Starts argv[0] with stdout and stderr to /dev/null. */
static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t *pid, int sig)
{
	if (*pid <= 0)
		return;
	kill(*pid, sig);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

/* A command on a connection of the test's own; NULL if none answered. */
static redisReply *ask(int port, const char *fmt, ...)
{
	struct timeval tv = { 1, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
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

/* The reply as one string ("" if none): a status, string or integer, or
 * an array's first element. */
static void ask_str(char *out, size_t size, int port, const char *fmt,
		    const char *arg)
{
	redisReply *r = ask(port, fmt, arg);

	out[0] = '\0';
	if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0)
		snprintf(out, size, "%s", r->element[0]->str ? r->element[0]->str : "");
	else if (r != NULL && r->type == REDIS_REPLY_INTEGER)
		snprintf(out, size, "%lld", r->integer);
	else if (r != NULL && r->str != NULL)
		snprintf(out, size, "%s", r->str);
	if (r != NULL)
		freeReplyObject(r);
}

/* Runs cond every 100 ms until it holds or seconds pass. */
#define WAIT_FOR(seconds, cond)                                            \
	do {                                                               \
		for (int w_ = 0; w_ < (seconds) * 10 && !(cond); w_++)     \
			usleep(100 * 1000);                                \
	} while (0)

static int role_is(int port, const char *role)
{
	char got[32];

	ask_str(got, sizeof(got), port, "ROLE", NULL);
	return strcmp(got, role) == 0;
}

/* 1 when the replica on port has its link to the master up (a full
 * sync done): only then does it acknowledge a WAIT. */
static int link_up(int port)
{
	redisReply *r = ask(port, "INFO replication");
	int up = r != NULL && r->type == REDIS_REPLY_STRING &&
		 strstr(r->str, "master_link_status:up") != NULL;

	if (r != NULL)
		freeReplyObject(r);
	return up;
}

/* 1 when the sentinel knows a replica of the master that is up. */
static int sentinel_sees_replica(void)
{
	redisReply *r = ask(port_s, "SENTINEL replicas %s", MASTER);
	int ok = 0;

	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		redisReply *f = r->element[i];
		for (size_t k = 0; k + 1 < f->elements; k += 2)
			if (strcmp(f->element[k]->str, "flags") == 0 &&
			    strcmp(f->element[k + 1]->str, "slave") == 0)
				ok = 1;
	}
	if (r != NULL)
		freeReplyObject(r);
	return ok;
}

static void start_servers(void)
{
	char pm[16], pr[16], ps[16], conf[128], master[64];
	FILE *f;

	snprintf(pm, sizeof(pm), "%d", port_m);
	snprintf(pr, sizeof(pr), "%d", port_r);
	snprintf(ps, sizeof(ps), "%d", port_s);
	{
		char *m[] = { "redis-server", "--bind", "127.0.0.1", "--port", pm,
			      "--save", "", "--appendonly", "no", "--dir", dir,
			      "--repl-diskless-sync-delay", "0", NULL };
		pid_m = spawn(m);
	}
	WAIT_FOR(5, role_is(port_m, "master"));
	snprintf(master, sizeof(master), "127.0.0.1 %d", port_m);
	{
		char *r[] = { "redis-server", "--bind", "127.0.0.1", "--port", pr,
			      "--save", "", "--appendonly", "no", "--dir", dir,
			      "--repl-diskless-sync-delay", "0",
			      "--replicaof", master, NULL };
		pid_r = spawn(r);
	}
	WAIT_FOR(5, link_up(port_r));
	snprintf(conf, sizeof(conf), "%s/sentinel.conf", dir);
	f = fopen(conf, "w");
	fprintf(f, "bind 127.0.0.1\nport %d\ndir %s\nlogfile %s/sentinel.log\n"
		"sentinel monitor %s 127.0.0.1 %d 1\n"
		"sentinel down-after-milliseconds %s 1000\n"
		"sentinel failover-timeout %s 2000\n",
		port_s, dir, dir, MASTER, port_m, MASTER, MASTER);
	fclose(f);
	{
		char *s[] = { "redis-sentinel", conf, NULL };
		pid_s = spawn(s);
	}
	WAIT_FOR(10, sentinel_sees_replica());
}

/* --- the threads of the failovers ------------------------------------ */

struct writer {
	pthread_t tid;
	struct redis *rd;
	int index;
	atomic_int stop;
	atomic_int ok, failed;
	_Atomic double last_ok; /* ms */
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct redis_conn *c = redis_conn_new(w->rd);

	while (!atomic_load(&w->stop)) {
		redisReply *rep = redis_command(c, "INCR t:%d", w->index);

		if (rep != NULL) {
			atomic_fetch_add(&w->ok, 1);
			atomic_store(&w->last_ok, clock_now_ms());
		} else {
			atomic_fetch_add(&w->failed, 1);
		}
		redis_reply_free(rep);
		clock_sleep_ms(5);
	}
	redis_conn_free(c);
	return NULL;
}

/* 1 when every writer has written since ms. */
static int all_wrote_since(struct writer *w, int n, double ms)
{
	for (int i = 0; i < n; i++)
		if (atomic_load(&w[i].last_ok) <= ms)
			return 0;
	return 1;
}

/* Lines of file that contain needle. */
static int count_lines(const char *file, const char *needle)
{
	char line[1024];
	FILE *f = fopen(file, "r");
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* stderr (the log) into file, or back (file NULL). */
static void capture_log(const char *file)
{
	static int saved = -1;

	fflush(stderr);
	if (file != NULL) {
		int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		saved = dup(2);
		dup2(fd, 2);
		close(fd);
	} else if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
		saved = -1;
	}
}

/* A failover while n writers run: trigger() starts it; the writers must
 * all reach master port want within seconds. */
static void failover(struct redis *rd, struct writer *w, int n, int want,
		     void (*trigger)(void), const char *log, int *took_ms)
{
	char addr[64], now[64] = "";
	double start;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", want);
	capture_log(log);
	start = clock_now_ms();
	trigger();
	WAIT_FOR(20, (redis_master(rd, now, sizeof(now)) == 0 &&
		      strcmp(now, addr) == 0 &&
		      all_wrote_since(w, n, clock_now_ms() - 50)));
	*took_ms = (int)(clock_now_ms() - start);
	capture_log(NULL);
	CHECK_STR(now, addr);
	CHECK(all_wrote_since(w, n, clock_now_ms() - 1000),
	      "a writer did not come back after the failover to %s", addr);
}

static void trigger_failover(void)
{
	redisReply *r = ask(port_s, "SENTINEL FAILOVER %s", MASTER);

	if (r != NULL)
		freeReplyObject(r);
}

static void trigger_kill(void)
{
	stop(&pid_r, SIGKILL); /* the master since the first failover */
}

/* --- the checks ------------------------------------------------------- */

/* SET key kept in a span, then WAIT for n replicas: the most that
 * acknowledged it, of up to three tries (a loaded machine may hold a
 * replica's answer past the timeout once). */
static int set_waited(struct redis_conn *c, const char *key, int n)
{
	int best = -1;

	for (int i = 0; i < 3 && best < n; i++) {
		int acked;

		redis_wait_begin(c);
		redis_reply_free(redis_command(c, "SET %s kept", key));
		acked = redis_wait(c, n);
		best = acked > best ? acked : best;
	}
	return best;
}

static void check_grammar(void)
{
	struct sentinel s;
	struct sentinel_addr a;
	struct err e;

	CHECK_INT(sentinel_is("sentinel://h:1/m"), 1);
	CHECK_INT(sentinel_is("127.0.0.1:6379"), 0);
	CHECK_INT(sentinel_parse("sentinel://10.0.0.1:26379,[::1]:26380,h:3/mymaster",
				 &s, &e), 0);
	CHECK_INT(s.n, 3);
	CHECK_STR(s.at[0].host, "10.0.0.1");
	CHECK_INT(s.at[0].port, 26379);
	CHECK_STR(s.at[1].host, "::1");
	CHECK_INT(s.at[1].port, 26380);
	CHECK_STR(s.master, "mymaster");
	CHECK_INT(sentinel_parse("sentinel://h:1", &s, &e), -1);
	CHECK_INT(sentinel_parse("sentinel://h:1/", &s, &e), -1);
	CHECK_INT(sentinel_parse("sentinel:///m", &s, &e), -1);
	CHECK_INT(sentinel_parse("sentinel://h/m", &s, &e), -1);
	CHECK_INT(sentinel_parse("sentinel://h:0/m", &s, &e), -1);
	CHECK_INT(sentinel_parse("sentinel://h:70000/m", &s, &e), -1);
	CHECK_INT(sentinel_parse("sentinel://h:1,,h:2/m", &s, &e), -1);
	CHECK_INT(sentinel_parse("sentinel://h:1/m/x", &s, &e), -1);
	CHECK(strstr(e.msg, "master name") != NULL, "%s", e.msg);
	CHECK_INT(sentinel_parse("sentinel://a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9/m",
				 &s, &e), -1);
	CHECK_INT(sentinel_addr_parse("[::1]:5", 7, &a), 0);
	CHECK_STR(a.host, "::1");
	CHECK_INT(sentinel_addr_parse("host:5x", 7, &a), -1);
}

static void check_found(struct conf *cf)
{
	char addr[64] = "", want[64];
	int acked;
	struct redis *rd;
	struct redis_conn *c;
	redisReply *rep;
	struct err e;

	/* The first sentinel is dead: the next one answers. */
	snprintf(cf->redis, sizeof(cf->redis),
		 "sentinel://127.0.0.1:1,127.0.0.1:%d/%s", port_s, MASTER);
	rd = redis_new(cf, &e);
	CHECK(rd != NULL, "%s", e.msg);
	c = redis_conn_new(rd);
	rep = redis_command(c, "SET found yes");
	CHECK(rep != NULL, "no master found");
	redis_reply_free(rep);
	CHECK_STR(redis_state(rd), "up");
	snprintf(want, sizeof(want), "127.0.0.1:%d", port_m);
	CHECK_INT(redis_master(rd, addr, sizeof(addr)), 0);
	CHECK_STR(addr, want);

	/* WAIT: one replica holds the writes of the span; two never do. */
	acked = set_waited(c, "w", 1);
	CHECK_INT(acked, 1);
	acked = set_waited(c, "w", 2);
	CHECK_INT(acked, 1);
	/* A span whose connection was remade (the server closed it) proves
	 * nothing, though the WAIT itself is answered on the new one. */
	redis_wait_begin(c);
	redis_reply_free(redis_command(c, "SET w 3"));
	redis_reply_free(ask(port_m, "CLIENT KILL TYPE normal"));
	acked = redis_wait(c, 1);
	CHECK_INT(acked, -1);
	CHECK_STR(redis_state(rd), "up");
	redis_conn_free(c);
	redis_free(rd);

	/* A name no sentinel knows; no sentinel at all: Redis is down. */
	snprintf(cf->redis, sizeof(cf->redis), "sentinel://127.0.0.1:%d/nosuch",
		 port_s);
	rd = redis_new(cf, &e);
	c = redis_conn_new(rd);
	CHECK(redis_command(c, "PING") == NULL);
	CHECK_STR(redis_state(rd), "down");
	CHECK_INT(redis_master(rd, addr, sizeof(addr)), -1);
	redis_conn_free(c);
	redis_free(rd);
	/* A sentinel that names a replica (its answer a failover behind):
	 * the ROLE check refuses it, reads too, which a replica would serve. */
	redis_reply_free(ask(port_s, "SENTINEL MONITOR stale 127.0.0.1 %d 1", port_r));
	snprintf(cf->redis, sizeof(cf->redis), "sentinel://127.0.0.1:%d/stale",
		 port_s);
	rd = redis_new(cf, &e);
	c = redis_conn_new(rd);
	CHECK(redis_command(c, "GET found") == NULL, "a replica was taken for the master");
	CHECK_STR(redis_state(rd), "down");
	redis_conn_free(c);
	redis_free(rd);
	redis_reply_free(ask(port_s, "SENTINEL REMOVE stale"));
	snprintf(cf->redis, sizeof(cf->redis), "sentinel://127.0.0.1:1/%s", MASTER);
	rd = redis_new(cf, &e);
	c = redis_conn_new(rd);
	CHECK(redis_command(c, "PING") == NULL);
	CHECK_STR(redis_state(rd), "down");
	redis_conn_free(c);
	redis_free(rd);
	snprintf(cf->redis, sizeof(cf->redis), "sentinel://127.0.0.1:1");
	CHECK(redis_new(cf, &e) == NULL);
	CHECK_INT(e.code, ERR_BAD_REQUEST);

	/* A replica named as a plain address: writes are refused, and that
	 * is an outage, not an error per command. */
	snprintf(cf->redis, sizeof(cf->redis), "127.0.0.1:%d", port_r);
	rd = redis_new(cf, &e);
	c = redis_conn_new(rd);
	CHECK(redis_command(c, "SET x 1") == NULL);
	CHECK_STR(redis_state(rd), "down");
	redis_conn_free(c);
	redis_free(rd);
}

static void check_failovers(struct conf *cf)
{
	struct writer w[4];
	struct redis *rd;
	struct redis_conn *c;
	struct err e;
	char log1[96], log2[96], got[32];
	int took, acked;

	snprintf(cf->redis, sizeof(cf->redis),
		 "sentinel://127.0.0.1:%d,127.0.0.1:1/%s", port_s, MASTER);
	rd = redis_new(cf, &e);
	c = redis_conn_new(rd);
	acked = set_waited(c, "before-1", 1);
	CHECK_INT(acked, 1);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 4; i++) {
		w[i].rd = rd;
		w[i].index = i;
		pthread_create(&w[i].tid, NULL, writer_main, &w[i]);
	}
	WAIT_FOR(5, all_wrote_since(w, 4, 0));

	/* 1. An orderly failover: the old master lives on as a replica. */
	snprintf(log1, sizeof(log1), "%s/failover.log", dir);
	failover(rd, w, 4, port_r, trigger_failover, log1, &took);
	printf("# SENTINEL FAILOVER: all writers on the new master after %d ms\n",
	       took);
	/* The old master lives on, a master until Sentinel looks at it again
	 * (10 s): the writers leave it on asking the sentinels (1 s). */
	CHECK(took < 6000, "%d ms", took);
	CHECK(role_is(port_r, "master"));
	ask_str(got, sizeof(got), port_r, "GET %s", "before-1");
	CHECK_STR(got, "kept");
	CHECK_INT(count_lines(log1, "moved from"), 1);
	CHECK(count_lines(log1, "is down") <= 1, "%d", count_lines(log1, "is down"));
	CHECK_INT(count_lines(log1, "is back"), count_lines(log1, "is down"));

	/* The test's own connection, idle on the old master through the
	 * failover (a master still: Sentinel demotes it only seconds later),
	 * moves to the new one before its next command, which lands there,
	 * in a span that is whole (-1: remade after the command). */
	redis_wait_begin(c);
	redis_reply_free(redis_command(c, "SET moved yes"));
	acked = redis_wait(c, 1);
	CHECK(acked != -1, "the idle connection was remade after its command");
	ask_str(got, sizeof(got), port_r, "GET %s", "moved");
	CHECK_STR(got, "yes");

	/* 2. The master killed: the writers ride out the outage in "down",
	 * logged once, and come back on the old master, promoted again. */
	WAIT_FOR(10, link_up(port_m) && sentinel_sees_replica());
	acked = set_waited(c, "before-2", 1);
	CHECK_INT(acked, 1);
	sleep(3); /* a second failover waits 2 x failover-timeout */
	snprintf(log2, sizeof(log2), "%s/kill.log", dir);
	failover(rd, w, 4, port_m, trigger_kill, log2, &took);
	printf("# kill -9 of the master: all writers on the new master after %d ms\n",
	       took);
	CHECK(took < 8000, "%d ms", took); /* down after 1 s, a failover */
	CHECK(role_is(port_m, "master"));
	ask_str(got, sizeof(got), port_m, "GET %s", "before-2");
	CHECK_STR(got, "kept");
	CHECK_INT(count_lines(log2, "is down ("), 1);
	CHECK_INT(count_lines(log2, "is still down"), 0);
	CHECK_INT(count_lines(log2, "is back (master 127.0.0.1:"), 1);
	CHECK_INT(count_lines(log2, "moved from"), 1);
	CHECK_STR(redis_state(rd), "up");

	for (int i = 0; i < 4; i++) {
		atomic_store(&w[i].stop, 1);
		pthread_join(w[i].tid, NULL);
	}
	redis_conn_free(c);
	redis_free(rd);
}

int main(void)
{
	struct conf cf;
	int base = 26000 + (getpid() % 500) * 3;
	char cmd[128];

	log_set_level(LOG_INFO);
	check_grammar();
	if (system("command -v redis-sentinel >/dev/null") != 0) {
		SKIP("Sentinel failovers", "redis-sentinel is not installed");
		return TEST_END("redis");
	}
	port_m = base, port_r = base + 1, port_s = base + 2;
	snprintf(dir, sizeof(dir), "/tmp/test_redis.%d", (int)getpid());
	mkdir(dir, 0700);
	conf_defaults(&cf);
	cf.redis_timeout_ms = 1000; /* WAIT: 500 ms, on a loaded machine too */
	start_servers();
	CHECK(role_is(port_m, "master") && role_is(port_r, "slave") &&
		      sentinel_sees_replica(),
	      "servers did not come up (ports %d-%d)", port_m, port_s);
	log_set_level(LOG_ERROR);
	check_found(&cf);
	log_set_level(LOG_INFO);
	check_failovers(&cf);

	stop(&pid_s, SIGTERM);
	stop(&pid_r, SIGTERM);
	stop(&pid_m, SIGTERM);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (getenv("TEST_REDIS_KEEP") == NULL && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TEST_END("redis");
}
