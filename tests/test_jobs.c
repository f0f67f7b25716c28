/*
 * test_jobs.c - the life of a queued job (jobs.h) against a real
 * redis-server: submitted, run by jobs_run_one() or a worker thread from
 * a file:// source into the store, done, retried or dead; a worker that
 * stops leaves no trace in Redis.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <magick/MagickCore.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis.h>

#include "clock.h"
#include "conf.h"
#include "image.h"
#include "jobs.h"
#include "log.h"
#include "queue.h"
#include "store.h"
#include "test.h"
#include "testimg.h"
#include "testredis.h"

/* CHECK_INT prints its arguments by evaluating them again: a call with
 * side effects is run once here. */
#define CHECK_RC(call, want)                                               \
	do {                                                               \
		long long got_ = (long long)(call);                        \
		CHECK(got_ == (long long)(want), "%s gave %lld, not %lld", \
		      #call, got_, (long long)(want));                     \
	} while (0)

static char dir[] = "/tmp/test_jobs.XXXXXX";
static char prefix[32];
static struct conf cf;

/* A hung call ends the program as a failure, and takes Redis along. */
static void on_alarm(int sig)
{
	static const char msg[] = "FAIL test_jobs: timed out\n";

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

/* ---- Redis as the test sees it ------------------------------------------ */

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

static long long llen(const char *kind, const char *name)
{
	char k[256];

	return testredis_int("LLEN %s", key(k, sizeof(k), kind, name));
}

/* Element i of list kind (0: the left end; -1: the right, taken next),
 * or "", into out. */
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

static long long recorded(const char *id, const char *file)
{
	char k[256];
	redisReply *r;
	long long v;

	snprintf(k, sizeof(k), "%soutputs:m/f/%s", prefix, id);
	r = testredis_cmd("SISMEMBER %s %s", k, file);
	v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -99;
	if (r)
		freeReplyObject(r);
	return v;
}

static void flush(void)
{
	redisReply *r = testredis_cmd("FLUSHDB");

	if (r)
		freeReplyObject(r);
}

/* ---- originals and the store -------------------------------------------- */

static void path_of(const char *id, const char *file, char *buf, size_t size)
{
	store_path(cf.store, "m", "f", id, file, buf, size, NULL);
}

static void put_store(const char *id, const char *file, const void *data,
		      size_t len)
{
	char path[4096];
	struct err e;

	path_of(id, file, path, sizeof(path));
	CHECK(store_write_atomic(path, data, len, &e) == 0, "%s", e.msg);
}

/* The width of the JPEG stored as file of id; 0 if none, -1 if it is not
 * a JPEG. */
static long stored_width(const char *id, const char *file)
{
	char path[4096];
	struct sniff_info si;
	struct buf b;
	long w = 0;

	path_of(id, file, path, sizeof(path));
	buf_init(&b);
	if (store_read(path, SIZE_MAX - 1, &b, NULL) == 0)
		w = sniff(b.data, b.len, &si, NULL) == 0 && si.format == SNIFF_JPEG
			    ? (long)si.width
			    : -1;
	buf_release(&b);
	return w;
}

/* ---- the tests ---------------------------------------------------------- */

static void test_parse_name(void)
{
	struct url_request r;
	struct err e;
	char long_name[700];

	CHECK_RC(jobs_parse_name("product/image/1000000/x300.jpg", &r, &e), 0);
	CHECK_STR(r.model, "product");
	CHECK_STR(r.field, "image");
	CHECK_STR(r.id, "1000000");
	CHECK_STR(r.file, "x300.jpg");
	CHECK(r.fit == URL_FIT_FILL && r.width == 300 && r.height == 300);
	CHECK_RC(jobs_parse_name("m/f/7/w50-q80.webp", &r, &e), 0);
	CHECK(r.fit == URL_FIT_WIDTH && r.width == 50 && r.quality == 80 &&
	      r.format == URL_FMT_WEBP);

	static const char *const bad[] = {
		"", "m/f/1", "m/f/1/", "/m/f/1/w5.jpg", "m/f/1/w05.jpg",
		"m/f/1/w5.jpg/x", "M/f/1/w5.jpg", "m/../1/w5.jpg", "m/f/1/w5.jpg?x=1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		CHECK(jobs_parse_name(bad[i], &r, &e) == -1 &&
		      e.code == ERR_BAD_REQUEST, "'%s': %s", bad[i], err_name(e.code));
	}
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	memcpy(long_name, "m/f/", 4);
	err_clear(&e);
	CHECK(jobs_parse_name(long_name, &r, &e) == -1 && e.code == ERR_BAD_REQUEST,
	      "%s", err_name(e.code));
	/* A format that is no format: refused (url_parse says ERR_FORMAT). */
	err_clear(&e);
	CHECK(jobs_parse_name("m/f/1/w5.bmp", &r, &e) == -1 &&
	      (e.code == ERR_BAD_REQUEST || e.code == ERR_FORMAT),
	      "%s", err_name(e.code));
}

static void test_submit(struct output_env *env, struct conf *small)
{
	static const char *const files[] = { "w50.jpg", "w60.jpg", "x20.jpg" };
	struct output_worker *w = output_worker_new(env);
	int queued[3] = { 7, 7, 7 };
	char s[512];
	struct err e;

	flush();
	put_store("1", "w50.jpg", "made", 4);
	CHECK_RC(jobs_submit(w, "m", "f", "1", files, 3, 0, queued, &e), 0);
	CHECK(queued[0] == 0 && queued[1] == 1 && queued[2] == 1, "%d %d %d",
	      queued[0], queued[1], queued[2]);
	CHECK_INT(llen("queue", NULL), 2);
	CHECK_STR(lindex("queue", -1, s, sizeof(s)), "0 0 m/f/1/w60.jpg");
	CHECK_STR(lindex("queue", 0, s, sizeof(s)), "0 0 m/f/1/x20.jpg");

	/* Asked again while they wait: pending already, nothing queued. */
	CHECK_RC(jobs_submit(w, "m", "f", "1", files, 3, 0, queued, &e), 0);
	CHECK(queued[0] == 0 && queued[1] == 2 && queued[2] == 2, "%d %d %d",
	      queued[0], queued[1], queued[2]);
	CHECK_INT(llen("queue", NULL), 2);

	/* force: every one, made again from the original; once, however
	 * often it is asked for. */
	flush();
	CHECK_RC(jobs_submit(w, "m", "f", "1", files, 3, 1, queued, &e), 0);
	CHECK(queued[0] == 1 && queued[1] == 1 && queued[2] == 1, "%d %d %d",
	      queued[0], queued[1], queued[2]);
	CHECK_INT(llen("queue", NULL), 3);
	CHECK_STR(lindex("queue", -1, s, sizeof(s)), "0 1 m/f/1/w50.jpg");
	for (int i = 0; i < 5; i++)
		CHECK_RC(jobs_submit(w, "m", "f", "1", files, 3, 1, queued, &e), 0);
	CHECK(queued[0] == 2 && queued[1] == 2 && queued[2] == 2, "%d %d %d",
	      queued[0], queued[1], queued[2]);
	CHECK_INT(llen("queue", NULL), 3);

	/* Full: all or nothing, so nothing is queued, and queued[] says so. */
	flush();
	output_env_set_conf(env, small); /* queue_max 2 */
	CHECK_RC(queue_push(output_worker_redis(w), "m/f/9/w5.jpg", 0, 100), QUEUE_OK);
	err_clear(&e);
	CHECK_RC(jobs_submit(w, "m", "f", "2", files, 3, 0, queued, &e), -1);
	CHECK(e.code == ERR_BUSY, "%s", err_name(e.code));
	CHECK(queued[0] == 0 && queued[1] == 0 && queued[2] == 0, "%d %d %d",
	      queued[0], queued[1], queued[2]);
	CHECK_INT(llen("queue", NULL), 1);
	/* One that fits is queued. */
	CHECK_RC(jobs_submit(w, "m", "f", "2", files, 1, 0, queued, &e), 0);
	CHECK_INT(queued[0], 1);
	CHECK_INT(llen("queue", NULL), 2);
	output_env_set_conf(env, &cf);
	output_worker_free(w);
}

static void test_run_one(struct output_env *env, struct conf *no_source)
{
	static const char *const w50[] = { "w50.jpg" };
	struct output_worker *w = output_worker_new(env);
	struct redis_conn *conn = output_worker_redis(w);
	int queued[1];
	char s[512];
	struct err e;

	/* A job made from the source's original. */
	flush();
	CHECK_RC(jobs_submit(w, "m", "f", "3", w50, 1, 0, queued, &e), 0);
	CHECK_RC(jobs_run_one(w, "tw"), 1);
	CHECK_INT(stored_width("3", "w50.jpg"), 50);
	CHECK(stored_width("3", STORE_ORIGINAL) > 0);
	CHECK_INT(recorded("3", "w50.jpg"), 1);
	CHECK_INT(llen("queue", NULL), 0);
	CHECK_INT(llen("processing", "tw"), 0);
	CHECK_INT(llen("dead", NULL), 0);
	CHECK_RC(jobs_run_one(w, "tw"), 0); /* nothing left */

	/* A job on a stored output leaves it; with force it is made again. */
	put_store("3", "w70.jpg", "not really", 10);
	CHECK_RC(queue_push(conn, "m/f/3/w70.jpg", 0, 100), QUEUE_OK);
	CHECK_RC(jobs_run_one(w, "tw"), 1);
	CHECK_INT(stored_width("3", "w70.jpg"), -1);
	CHECK_RC(queue_push(conn, "m/f/3/w70.jpg", 1, 100), QUEUE_OK);
	CHECK_RC(jobs_run_one(w, "tw"), 1);
	CHECK_INT(stored_width("3", "w70.jpg"), 70);
	CHECK_INT(llen("processing", "tw"), 0);
	CHECK_INT(llen("dead", NULL), 0);

	/* No original: dead at the first attempt, with the error. */
	flush();
	CHECK_RC(jobs_submit(w, "m", "f", "404", w50, 1, 0, queued, &e), 0);
	CHECK_RC(jobs_run_one(w, "tw"), 1);
	CHECK_INT(llen("queue", NULL), 0);
	CHECK_INT(llen("processing", "tw"), 0);
	CHECK_INT(llen("dead", NULL), 1);
	lindex("dead", 0, s, sizeof(s));
	CHECK(strncmp(s, "1 0 m/f/404/w50.jpg | not_found: ", 33) == 0, "%s", s);
	CHECK_INT(stored_width("404", "w50.jpg"), 0);

	/* A name that is no output: dead too. */
	CHECK_RC(queue_push(conn, "m/f/3/w05.jpg", 0, 100), QUEUE_OK);
	CHECK_RC(jobs_run_one(w, "tw"), 1);
	CHECK_INT(llen("dead", NULL), 2);
	lindex("dead", 0, s, sizeof(s));
	CHECK(strncmp(s, "1 0 m/f/3/w05.jpg | bad_request: ", 33) == 0, "%s", s);

	/* A source that does not answer: tried -job_attempts (3) times. */
	flush();
	output_env_set_conf(env, no_source);
	CHECK_RC(jobs_submit(w, "m", "f", "5", w50, 1, 0, queued, &e), 0);
	CHECK_RC(jobs_run_one(w, "tw"), 1);
	CHECK_STR(lindex("queue", 0, s, sizeof(s)), "1 0 m/f/5/w50.jpg");
	CHECK_INT(llen("dead", NULL), 0);
	CHECK_RC(jobs_run_one(w, "tw"), 1);
	CHECK_STR(lindex("queue", 0, s, sizeof(s)), "2 0 m/f/5/w50.jpg");
	CHECK_RC(jobs_run_one(w, "tw"), 1);
	CHECK_INT(llen("queue", NULL), 0);
	CHECK_INT(llen("dead", NULL), 1);
	lindex("dead", 0, s, sizeof(s));
	CHECK(strncmp(s, "3 0 m/f/5/w50.jpg | source: ", 28) == 0, "%s", s);
	CHECK_INT(llen("processing", "tw"), 0);
	output_env_set_conf(env, &cf);
	output_worker_free(w);
}

struct runner {
	struct jobs_worker *jw;
	atomic_int stop;
};

static void *run(void *arg)
{
	struct runner *r = arg;

	jobs_worker_run(r->jw, &r->stop);
	return NULL;
}

/* A worker thread makes what is queued, takes a dead worker's job back,
 * and leaves no heartbeat or entry behind when stopped. */
static void test_worker(struct output_env *env)
{
	static const char *const files[] = { "w30.jpg", "w31.jpg", "w32.jpg" };
	struct output_worker *w = output_worker_new(env);
	struct runner r = { 0 };
	char name[160], host[64] = "host", k[256];
	int queued[3], done = 0;
	long waiting, in_progress, dead;
	redisReply *rep;
	pthread_t t;
	double t0;
	struct err e;

	flush();
	CHECK_RC(jobs_submit(w, "m", "f", "3", files, 3, 0, queued, &e), 0);
	/* A worker that died with a job in hand: in the set, no heartbeat. */
	rep = testredis_cmd("SADD %s ghost", key(k, sizeof(k), "workers", NULL));
	freeReplyObject(rep);
	rep = testredis_cmd("LPUSH %s %s", key(k, sizeof(k), "processing", "ghost"),
			    "0 0 m/f/3/w33.jpg");
	freeReplyObject(rep);

	gethostname(host, sizeof(host) - 1);
	snprintf(name, sizeof(name), "%s:%d:0", host, (int)getpid());
	r.jw = jobs_worker_new(env, 0);
	CHECK(r.jw != NULL);
	if (r.jw == NULL)
		return;
	atomic_init(&r.stop, 0);
	pthread_create(&t, NULL, run, &r);
	for (t0 = clock_now_ms(); clock_now_ms() - t0 < 10000; clock_sleep_ms(50)) {
		done = stored_width("3", "w30.jpg") == 30 &&
		       stored_width("3", "w31.jpg") == 31 &&
		       stored_width("3", "w32.jpg") == 32 &&
		       stored_width("3", "w33.jpg") == 33;
		if (done)
			break;
	}
	CHECK(done, "the worker did not make all four outputs in 10 s");
	CHECK_INT(is_worker(name), 1);
	CHECK_INT(has_heartbeat(name), 1);
	CHECK_INT(is_worker("ghost"), 0);
	CHECK_INT(llen("processing", "ghost"), 0);

	t0 = clock_now_ms();
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	CHECK(clock_now_ms() - t0 < 2000, "stopping took %.0f ms", clock_now_ms() - t0);
	/* Gone at once, not when the heartbeat would have expired. */
	CHECK_INT(has_heartbeat(name), 0);
	CHECK_INT(is_worker(name), 0);
	CHECK_INT(llen("processing", name), 0);
	CHECK_INT(llen("queue", NULL), 0);
	CHECK_INT(llen("dead", NULL), 0);
	jobs_counts(w, &waiting, &in_progress, &dead);
	CHECK(waiting == 0 && in_progress == 0 && dead == 0, "%ld %ld %ld",
	      waiting, in_progress, dead);
	jobs_worker_free(r.jw);
	jobs_worker_free(NULL);
	output_worker_free(w);
}

/* Redis gone: ERR_BUSY for a submit, -1 for a run, fast. */
static void test_redis_down(struct output_env *env)
{
	static const char *const files[] = { "w40.jpg", "w41.jpg" };
	struct output_worker *w = output_worker_new(env);
	int queued[2] = { 7, 7 };
	long waiting, in_progress, dead;
	struct err e;
	double t0;

	redis_stop();
	t0 = clock_now_ms();
	err_clear(&e);
	CHECK_RC(jobs_submit(w, "m", "f", "3", files, 2, 0, queued, &e), -1);
	CHECK(e.code == ERR_BUSY, "%s", err_name(e.code));
	CHECK(queued[0] == 0 && queued[1] == 0);
	CHECK_RC(jobs_run_one(w, "tw"), -1);
	jobs_counts(w, &waiting, &in_progress, &dead);
	CHECK(waiting == -1 && in_progress == -1 && dead == -1);
	CHECK(clock_now_ms() - t0 < 1000, "%.0f ms", clock_now_ms() - t0);
	output_worker_free(w);
}

int main(int argc, char **argv)
{
	struct conf small, no_source;
	struct output_env *env;
	unsigned char *jpg;
	size_t len;
	char path[512];
	struct err e;
	int port;

	(void)argc;
	signal(SIGALRM, on_alarm);
	alarm(60);
	log_set_level(LOG_ERROR);
	test_parse_name();
	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		SKIP("jobs against Redis", "redis-server is not installed");
		return TEST_END("jobs");
	}
	port = start_redis(25000 + getpid() % 1000);
	CHECK(port > 0, "redis-server did not start");
	if (port < 0)
		return TEST_END("jobs");
	if (image_global_init(argv[0], 1, 16384, &e) < 0 ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		CHECK(0, "libraries: %s", e.msg);
		redis_stop();
		return TEST_END("jobs");
	}
	CHECK(mkdtemp(dir) != NULL);

	conf_defaults(&cf);
	snprintf(cf.store, sizeof(cf.store), "%s/store", dir);
	snprintf(cf.source, sizeof(cf.source), "file://%s/src/{model}/{field}/{id}.jpg",
		 dir);
	snprintf(cf.redis, sizeof(cf.redis), "127.0.0.1:%d", port);
	snprintf(prefix, sizeof(prefix), "tj%d:", (int)getpid());
	snprintf(cf.redis_prefix, sizeof(cf.redis_prefix), "%s", prefix);
	cf.lock_ttl_ms = 1000;
	cf.wait_timeout = 10;
	cf.job_attempts = 3;
	small = cf;
	small.queue_max = 2;
	/* Nothing listens on port 1 of loopback: ERR_SOURCE, a retry. */
	no_source = cf;
	snprintf(no_source.source, sizeof(no_source.source),
		 "http://127.0.0.1:1/{model}/{field}/{id}.jpg");

	jpg = testimg_jpeg(400, 300, "gradient:red-blue", 85, &len);
	snprintf(path, sizeof(path), "%s/src/m/f/3.jpg", dir);
	CHECK(jpg != NULL && store_write_atomic(path, jpg, len, &e) == 0);
	free(jpg);

	env = output_env_new(&cf, &e);
	CHECK(env != NULL, "%s", e.msg);
	test_submit(env, &small);
	test_run_one(env, &no_source);
	test_worker(env);
	test_redis_down(env);

	output_env_free(env);
	image_global_release();
	curl_global_cleanup();
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TEST_END("jobs");
}
