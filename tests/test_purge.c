/*
 * test_purge.c - purges and replacements (purge.h) and the generation
 * check of output.c that keeps a make begun before a purge from storing
 * anything, with a real redis-server and without Redis; the store's
 * checked write and listing they stand on; the queue's drop of an image's
 * jobs.
 */
#include <magick/MagickCore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis.h>

#include "conf.h"
#include "image.h"
#include "log.h"
#include "output.h"
#include "purge.h"
#include "queue.h"
#include "redis.h"
#include "store.h"
#include "test.h"
#include "testimg.h"
#include "testredis.h"

static char dir[] = "/tmp/test_purge.XXXXXX";
static char prefix[32];

static void on_alarm(int sig)
{
	static const char msg[] = "FAIL test_purge: timed out\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	testredis_stop();
	_exit(1);
}

static int in_store(const struct conf *c, const char *id, const char *file)
{
	char path[4096];

	store_path(c->store, "m", "f", id, file, path, sizeof(path), NULL);
	return store_exists(path);
}

/* How many files (temporary ones too) the id's directory holds. */
static int count_entry(void *arg, const char *path, const char *name,
		       long long mtime)
{
	(void)path, (void)name, (void)mtime;
	++*(int *)arg;
	return 0;
}

static int files_of(const struct conf *c, const char *id)
{
	int n = 0;

	CHECK(store_list(c->store, "m", "f", id, count_entry, &n, NULL) == 0);
	return n;
}

static int drop_it(void *arg)
{
	return *(int *)arg;
}

static void test_store(void)
{
	char path[512];
	struct err e;
	int drop = 1, n = 0;

	snprintf(path, sizeof(path), "%s/st/a/b", dir);
	CHECK_INT(store_write_checked(path, "x", 1, 0, drop_it, &drop, &e), 2);
	CHECK(!store_exists(path), "a dropped write leaves no file");
	CHECK_INT(store_list(dir, "st", "a", "b", count_entry, &n, &e), 0);
	CHECK_INT(n, 0);
	drop = 0;
	CHECK_INT(store_write_checked(path, "x", 1, 1, drop_it, &drop, &e), 0);
	CHECK_INT(store_write_checked(path, "y", 1, 1, drop_it, &drop, &e), 1);
	CHECK_INT(store_write_checked(path, "y", 1, 0, NULL, NULL, &e), 0);
	CHECK_INT(store_remove(path, &e), 0);
	CHECK_INT(store_remove(path, &e), 0); /* gone already is fine */
	n = 0;
	CHECK_INT(store_list(dir, "no", "such", "dir", count_entry, &n, &e), 0);
	CHECK_INT(n, 0);
}

static void get(struct output_worker *w, const char *id, const char *file,
		int want_rc)
{
	struct url_request r = { 0 };
	enum output_how how;
	struct buf out;
	struct err e;
	int rc;

	CHECK(url_parse_file(file, &r, &e) == 0, "%s", e.msg);
	snprintf(r.model, sizeof(r.model), "m");
	snprintf(r.field, sizeof(r.field), "f");
	snprintf(r.id, sizeof(r.id), "%s", id);
	buf_init(&out);
	rc = output_get(w, &r, &out, &how, &e);
	CHECK(rc == want_rc, "GET %s/%s: %d (%s)", id, file, rc,
	      rc < 0 ? e.msg : "ok");
	buf_release(&out);
}

/* Purges with Redis (redis 1) or without: what goes, what is told, and
 * that a make begun before the purge keeps nothing. */
static void test_purge(const struct conf *c, int redis, const void *jpg,
		       size_t len, const void *jpg2, size_t len2)
{
	struct output_env *env;
	struct output_worker *w;
	struct output_original_info info;
	struct output_claim *cl;
	enum output_claim_rc crc;
	struct purge_result res;
	struct err e;
	char key[128];

	env = output_env_new(c, &e);
	CHECK(env != NULL, "%s", e.msg);
	if (env == NULL)
		return;
	w = output_worker_new(env);

	/* A DELETE: original and outputs gone, and the record. */
	CHECK(output_put_original(w, "m", "f", "1", jpg, len, &info, &e) == 0,
	      "%s", e.msg);
	get(w, "1", "w20.jpg", 0);
	get(w, "1", "w30.png", 0);
	CHECK_INT(files_of(c, "1"), 3);
	CHECK(purge_image(w, "m", "f", "1", &res, &e) == 0, "%s", e.msg);
	CHECK_INT(res.found, 1);
	CHECK_INT(res.removed, 2);
	CHECK_INT(files_of(c, "1"), 0);
	if (redis) {
		snprintf(key, sizeof(key), "%soutputs:m/f/1", prefix);
		CHECK_INT(testredis_int("EXISTS %s", key), 0);
		snprintf(key, sizeof(key), "%sgen:m/f/1", prefix);
		CHECK_INT(testredis_int("INCRBY %s 0", key), 2);
	}
	CHECK(purge_image(w, "m", "f", "1", &res, &e) == 0, "%s", e.msg);
	CHECK_INT(res.found, 0);
	get(w, "1", "w20.jpg", -1); /* no source: a 404 now */

	/* A make that began before the purge stores nothing... */
	CHECK(output_put_original(w, "m", "f", "2", jpg, len, &info, &e) == 0,
	      "%s", e.msg);
	CHECK(output_claim(w, "m", "f", "2", "w40.jpg", &crc, &cl, &e) == 0 &&
		      crc == OUTPUT_CLAIM_MINE, "claim: %s", e.msg);
	CHECK(purge_image(w, "m", "f", "2", &res, &e) == 0, "%s", e.msg);
	err_clear(&e);
	CHECK(output_commit(w, cl, "made from the old original", 26, &e) < 0 &&
		      e.code == ERR_BUSY, "a commit after the purge: %s",
	      e.msg);
	CHECK(!in_store(c, "2", "w40.jpg"), "the old original's output is not stored");
	/* ... and one begun after it does. */
	CHECK(output_claim(w, "m", "f", "2", "w40.jpg", &crc, &cl, &e) == 0 &&
		      crc == OUTPUT_CLAIM_MINE, "claim: %s", e.msg);
	CHECK(output_commit(w, cl, "made now", 8, &e) == 0, "%s", e.msg);
	CHECK(in_store(c, "2", "w40.jpg"));

	/* A replacement: the new original, the old outputs gone, and a make
	 * of the old one in flight keeps nothing. */
	CHECK(output_put_original(w, "m", "f", "3", jpg, len, &info, &e) == 0,
	      "%s", e.msg);
	get(w, "3", "w20.jpg", 0);
	CHECK(output_claim(w, "m", "f", "3", "w50.jpg", &crc, &cl, &e) == 0 &&
		      crc == OUTPUT_CLAIM_MINE, "claim: %s", e.msg);
	CHECK(output_put_original(w, "m", "f", "3", jpg2, len2, &info, &e) < 0 &&
		      e.code == ERR_CONFLICT, "another original without replace: 409");
	CHECK(output_check_original(w, jpg2, len2, &info, &e) == 0, "%s", e.msg);
	CHECK(purge_replace(w, "m", "f", "3", jpg2, len2, &res, &e) == 0, "%s",
	      e.msg);
	CHECK_INT(res.removed, 1);
	CHECK(output_commit(w, cl, "old", 3, &e) < 0 && e.code == ERR_BUSY);
	CHECK_INT(files_of(c, "3"), 1);
	{
		struct buf b;

		buf_init(&b);
		CHECK(output_original(w, "m", "f", "3", &b, &e) == 0 &&
			      b.len == len2 && memcmp(b.data, jpg2, len2) == 0,
		      "the new original is stored");
		buf_release(&b);
	}
	if (redis) {
		snprintf(key, sizeof(key), "%soutputs:m/f/3", prefix);
		CHECK_INT(testredis_int("SCARD %s", key), 1);
		CHECK_INT(testredis_int("SISMEMBER %s original", key), 1);
	}
	output_worker_free(w);
	output_env_free(env);
}

/* The queue: an image's waiting jobs go, another image's stay. */
static void test_queue(const struct conf *c)
{
	const char *names[] = { "m/f/4/w1.jpg", "m/f/4/w2.jpg", "m/f/44/w1.jpg" };
	struct redis *rd;
	struct redis_conn *rc;
	struct err e;
	int pushed[3];
	char key[128];

	rd = redis_new(c, &e);
	rc = rd ? redis_conn_new(rd) : NULL;
	CHECK(rc != NULL);
	if (rc == NULL) {
		redis_free(rd);
		return;
	}
	CHECK_INT(queue_push_all(rc, names, 3, 0, 100, pushed), QUEUE_OK);
	CHECK_INT(queue_drop_image(rc, "m/f/4"), 2);
	snprintf(key, sizeof(key), "%squeue", prefix);
	CHECK_INT(testredis_int("LLEN %s", key), 1);
	snprintf(key, sizeof(key), "%spending", prefix);
	CHECK_INT(testredis_int("SISMEMBER %s m/f/44/w1.jpg", key), 1);
	CHECK_INT(testredis_int("SISMEMBER %s m/f/4/w1.jpg", key), 0);
	CHECK_INT(queue_drop_image(rc, "m/f/4"), 0);
	redis_conn_free(rc);
	redis_free(rd);
}

int main(int argc, char **argv)
{
	unsigned char *red, *blue;
	size_t red_len = 0, blue_len = 0;
	struct conf cf, local;
	struct err e;
	int port;

	(void)argc;
	signal(SIGALRM, on_alarm);
	alarm(60);
	log_set_level(LOG_ERROR);
	CHECK(mkdtemp(dir) != NULL);
	test_store();
	if (image_global_init(argv[0], 1, 16384, &e) < 0) {
		CHECK(0, "libraries: %s", e.msg);
		return TEST_END("purge");
	}
	red = testimg_jpeg(64, 48, "xc:red", 0, &red_len);
	blue = testimg_jpeg(64, 48, "xc:blue", 0, &blue_len);
	CHECK(red != NULL && blue != NULL);

	conf_defaults(&local);
	snprintf(local.store, sizeof(local.store), "%s/local", dir);
	local.wait_timeout = 5;
	test_purge(&local, 0, red, red_len, blue, blue_len);

	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		SKIP("purges with Redis", "redis-server is not installed");
	} else {
		port = 27000 + getpid() % 1000;
		CHECK(testredis_start(port) == 0, "redis-server did not start");
		cf = local;
		snprintf(cf.store, sizeof(cf.store), "%s/redis", dir);
		snprintf(cf.redis, sizeof(cf.redis), "127.0.0.1:%d", port);
		snprintf(prefix, sizeof(prefix), "tp%d:", (int)getpid());
		snprintf(cf.redis_prefix, sizeof(cf.redis_prefix), "%s", prefix);
		test_purge(&cf, 1, red, red_len, blue, blue_len);
		test_queue(&cf);
		testredis_stop();
	}
	free(red);
	free(blue);
	image_global_release();
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		(void)!system(cmd);
	}
	return TEST_END("purge");
}
