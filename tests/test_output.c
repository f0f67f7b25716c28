/*
 * test_output.c - the make-once core (output.h) against a real
 * redis-server.  What is read and written is counted: opens of a file://
 * source's files and renames into the store with inotify, requests to an
 * http:// source by the source itself (a small origin in a thread here).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <magick/MagickCore.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis.h>

#include "clock.h"
#include "conf.h"
#include "image.h"
#include "log.h"
#include "output.h"
#include "registry.h"
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

#define HERD 8 /* threads asking for one output at once */

static char dir[] = "/tmp/test_output.XXXXXX";
static char src_dir[256];   /* {dir}/src/m/f: the source's files {id}.jpg */
static char prefix[32];
static struct conf cf;       /* the file:// source */
static struct conf cf_http;  /* the same with the origin as the source */
static unsigned char *big; /* an original big enough that making takes a while */
static size_t big_len;

/* A hung wait ends the program as a failure, and takes Redis along. */
static void on_alarm(int sig)
{
	static const char msg[] = "FAIL test_output: timed out\n";

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

/* ---- counting file events ---------------------------------------------- */

/* inotify merges an event into the one queued just before it when they
 * are alike (cookies aside); counted events are watched with a different
 * one that comes between two of them: IN_OPEN with IN_CLOSE_NOWRITE,
 * IN_MOVED_TO with IN_MOVED_FROM (renames in one directory are one at a
 * time).  An output is renamed into place, an original linked (it is
 * only ever created): IN_CREATE of its name, between the temporary
 * file's own. */
static int ino_fd;

struct seen {
	int wd;
	char name[64];
	int opens, moved_in;
};
static struct seen seen[128];
static int nseen;

static struct seen *seen_of(int wd, const char *name)
{
	for (int i = 0; i < nseen; i++)
		if (seen[i].wd == wd && strcmp(seen[i].name, name) == 0)
			return &seen[i];
	if (nseen == (int)(sizeof(seen) / sizeof(seen[0])))
		return &seen[0]; /* full: counts go astray, checks fail */
	seen[nseen].wd = wd;
	snprintf(seen[nseen].name, sizeof(seen[nseen].name), "%s", name);
	return &seen[nseen++];
}

/* Reads the events queued so far into seen[]. */
static void ino_drain(void)
{
	char ev[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(ino_fd, ev, sizeof(ev))) > 0) {
		for (char *p = ev; p < ev + n;) {
			struct inotify_event *x = (struct inotify_event *)p;
			if (x->len > 0) {
				struct seen *s = seen_of(x->wd, x->name);
				s->opens += (x->mask & IN_OPEN) != 0;
				s->moved_in += (x->mask & (IN_MOVED_TO | IN_CREATE)) != 0;
			}
			p += sizeof(*x) + x->len;
		}
	}
}

static int src_wd;

/* How many times the source's file of id was opened so far. */
static int source_reads(const char *id)
{
	char name[64];

	snprintf(name, sizeof(name), "%s.jpg", id);
	ino_drain();
	return seen_of(src_wd, name)->opens;
}

/* Makes the store directory of id and watches it; returns the watch. */
static int watch_store(const char *id)
{
	char path[4096];
	char *slash;

	store_path(cf.store, "m", "f", id, "x", path, sizeof(path), NULL);
	slash = strrchr(path, '/');
	*slash = '\0';
	for (char *p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	mkdir(path, 0755);
	return inotify_add_watch(ino_fd, path,
				 IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE);
}

/* How many times file was renamed or linked into place in the watched
 * directory. */
static int store_writes(int wd, const char *file)
{
	ino_drain();
	return seen_of(wd, file)->moved_in;
}

/* ---- an http:// source that counts its requests -------------------------- */

#define ORIGIN_IDS 100
#define ORIGIN_SLOW 90 /* ids from here on are answered after 500 ms */

static struct {
	int fd, port;
	pthread_t thread;
	atomic_int stop;
	atomic_int hits[ORIGIN_IDS]; /* GET /m/f/{id}.jpg, by id */
} origin;

static void write_all(int fd, const void *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p = (const char *)p + w, n -= (size_t)w;
	}
}

/* Answers one request on c with the file of the file:// source. */
static void origin_answer(int c)
{
	char req[2048], path[512], head[256];
	size_t n = 0;
	struct buf body;
	int id = -1;

	while (n < sizeof(req) - 1) {
		ssize_t r = read(c, req + n, sizeof(req) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	req[n] = '\0';
	buf_init(&body);
	if (sscanf(req, "GET /m/f/%d.jpg ", &id) == 1 && id >= 0 && id < ORIGIN_IDS) {
		atomic_fetch_add(&origin.hits[id], 1);
		if (id >= ORIGIN_SLOW)
			clock_sleep_ms(500);
		snprintf(path, sizeof(path), "%s/%d.jpg", src_dir, id);
		(void)store_read(path, SIZE_MAX - 1, &body, NULL);
	}
	if (body.data != NULL)
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n", body.len);
	else
		snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found\r\n"
			 "Content-Length: 0\r\nConnection: close\r\n\r\n");
	write_all(c, head, strlen(head));
	write_all(c, body.data, body.len);
	buf_release(&body);
}

static void *origin_serve(void *arg)
{
	(void)arg;
	while (!atomic_load(&origin.stop)) {
		struct pollfd p = { .fd = origin.fd, .events = POLLIN };
		int c;

		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((c = accept(origin.fd, NULL, NULL)) < 0)
			continue;
		origin_answer(c);
		close(c);
	}
	return NULL;
}

/* Starts the origin on a loopback port; returns 0 or -1. */
static int origin_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	origin.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (origin.fd < 0 || bind(origin.fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(origin.fd, 64) < 0 ||
	    getsockname(origin.fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	origin.port = ntohs(a.sin_port);
	return pthread_create(&origin.thread, NULL, origin_serve, NULL) == 0 ? 0 : -1;
}

static void origin_stop(void)
{
	atomic_store(&origin.stop, 1);
	pthread_join(origin.thread, NULL);
	close(origin.fd);
}

/* ---- originals, the store, Redis ---------------------------------------- */

/* Puts data at the source as id's original. */
static void put_source(const char *id, const void *data, size_t len)
{
	char path[512];
	struct err e;

	snprintf(path, sizeof(path), "%s/%s.jpg", src_dir, id);
	CHECK(store_write_atomic(path, data, len, &e) == 0, "%s", e.msg);
}

static void path_of(const char *id, const char *file, char *buf, size_t size)
{
	store_path(cf.store, "m", "f", id, file, buf, size, NULL);
}

static int in_store(const char *id, const char *file)
{
	char path[4096];

	path_of(id, file, path, sizeof(path));
	return store_exists(path);
}

/* 1 if the store holds exactly len bytes data as file of id. */
static int store_holds(const char *id, const char *file, const void *data,
		       size_t len)
{
	char path[4096];
	struct buf b;
	int same;

	path_of(id, file, path, sizeof(path));
	buf_init(&b);
	same = store_read(path, SIZE_MAX - 1, &b, NULL) == 0 && b.len == len &&
	       memcmp(b.data, data, len) == 0;
	buf_release(&b);
	return same;
}

/* How many names in id's store directory are not in want (",a,b,"):
 * leftovers such as temporary files; each is printed. */
static int strays(const char *id, const char *want)
{
	char path[4096];
	struct dirent *d;
	DIR *dp;
	int n = 0;

	path_of(id, "x", path, sizeof(path));
	*strrchr(path, '/') = '\0';
	if ((dp = opendir(path)) == NULL)
		return 0;
	while ((d = readdir(dp)) != NULL) {
		char name[300];
		if (d->d_name[0] == '.' && (d->d_name[1] == '\0' ||
					    strcmp(d->d_name, "..") == 0))
			continue;
		snprintf(name, sizeof(name), ",%s,", d->d_name);
		if (strstr(want, name) == NULL) {
			fprintf(stderr, "stray in the store of %s: %s\n", id, d->d_name);
			n++;
		}
	}
	closedir(dp);
	return n;
}

/* SISMEMBER {prefix}outputs:m/f/{id} file */
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

static long long redis_exists(const char *kind, const char *name)
{
	char k[512];

	snprintf(k, sizeof(k), "%s%s:%s", prefix, kind, name);
	return testredis_int("EXISTS %s", k);
}

/* A JPEG's width from its header, or 0. */
static unsigned jpeg_width(const struct buf *b)
{
	struct sniff_info si;

	if (sniff(b->data, b->len, &si, NULL) < 0 || si.format != SNIFF_JPEG)
		return 0;
	return si.width;
}

/* A JPEG's height from its header, or 0. */
static unsigned jpeg_height(const struct buf *b)
{
	struct sniff_info si;

	if (sniff(b->data, b->len, &si, NULL) < 0 || si.format != SNIFF_JPEG)
		return 0;
	return si.height;
}

static int get(struct output_worker *w, const char *path, struct buf *out,
	       enum output_how *how, struct err *e)
{
	struct url_request r;

	if (url_parse(path, &r, e) < 0)
		return -1;
	err_clear(e);
	return output_get(w, &r, out, how, e);
}

/* ---- the tests ---------------------------------------------------------- */

/* output_commit(), or -9 when the claim was not had (a check before has
 * failed already): a broken claim must not crash the program. */
static int commit(struct output_worker *w, struct output_claim *c,
		  const void *data, size_t len, struct err *e)
{
	return c != NULL ? output_commit(w, c, data, len, e) : -9;
}

/* A miss: the original fetched once and kept, the output made, stored and
 * recorded; then hits. */
static void test_get(struct output_env *env)
{
	struct output_worker *w = output_worker_new(env);
	unsigned char *jpg;
	size_t len;
	struct buf out, again;
	enum output_how how = OUTPUT_STORE;
	struct err e;

	jpg = testimg_jpeg(400, 300, "gradient:red-blue", 85, &len);
	put_source("1", jpg, len);
	buf_init(&out);
	buf_init(&again);

	CHECK_RC(get(w, "/m/f/1/w50.jpg", &out, &how, &e), 0);
	CHECK(how == OUTPUT_MADE, "%s", output_how_name(how));
	CHECK_INT(jpeg_width(&out), 50);
	CHECK_INT(source_reads("1"), 1);
	CHECK(store_holds("1", STORE_ORIGINAL, jpg, len), "original not kept");
	CHECK(store_holds("1", "w50.jpg", out.data, out.len), "output not stored");
	CHECK_INT(recorded("1", "w50.jpg"), 1);
	CHECK_INT(recorded("1", STORE_ORIGINAL), 1);
	CHECK_INT(redis_exists("lock", "m/f/1/w50.jpg"), 0);
	CHECK_INT(redis_exists("lock", "m/f/1/original"), 0);

	/* A hit: the same bytes, from the store. */
	CHECK_RC(get(w, "/m/f/1/w50.jpg", &again, &how, &e), 0);
	CHECK(how == OUTPUT_STORE, "%s", output_how_name(how));
	CHECK(again.len == out.len && memcmp(again.data, out.data, out.len) == 0);

	/* Another output: the original comes from the store now. */
	buf_release(&again);
	CHECK_RC(get(w, "/m/f/1/x30.jpg", &again, &how, &e), 0);
	CHECK(how == OUTPUT_MADE, "%s", output_how_name(how));
	CHECK_INT(jpeg_width(&again), 30);
	CHECK_INT(source_reads("1"), 1);
	CHECK_INT(recorded("1", "x30.jpg"), 1);
	CHECK_INT(strays("1", ",original,w50.jpg,x30.jpg,"), 0);

	buf_release(&out);
	buf_release(&again);
	free(jpg);
	output_worker_free(w);
}

/* Originals that cannot be had: nothing stored, the error left. */
static void test_failures(struct output_env *env)
{
	static const char text[] = "hello, this is not an image\n";
	struct output_worker *w = output_worker_new(env);
	struct redis_conn *conn = output_worker_redis(w);
	struct buf out;
	enum output_how how;
	struct err e, left;

	buf_init(&out);
	CHECK_RC(get(w, "/m/f/404/w50.jpg", &out, &how, &e), -1);
	CHECK(e.code == ERR_NOT_FOUND, "%s: %s", err_name(e.code), e.msg);
	CHECK_INT(out.len, 0);
	CHECK_INT(in_store("404", STORE_ORIGINAL), 0);
	CHECK_INT(in_store("404", "w50.jpg"), 0);
	CHECK_INT(recorded("404", "w50.jpg"), 0);
	CHECK_INT(strays("404", ","), 0);

	put_source("2", text, sizeof(text) - 1);
	CHECK_RC(get(w, "/m/f/2/w50.jpg", &out, &how, &e), -1);
	CHECK(e.code == ERR_UNPROCESSABLE, "%s: %s", err_name(e.code), e.msg);
	CHECK_INT(out.len, 0);
	CHECK_INT(source_reads("2"), 1);
	CHECK_INT(in_store("2", STORE_ORIGINAL), 0);
	CHECK_INT(in_store("2", "w50.jpg"), 0);
	CHECK_INT(recorded("2", STORE_ORIGINAL), 0);
	CHECK_INT(recorded("2", "w50.jpg"), 0);
	CHECK_INT(strays("2", ","), 0);
	/* For the workers that waited on it. */
	err_clear(&left);
	CHECK_RC(registry_get_error(conn, "m/f/2/w50.jpg", &left), REGISTRY_OK);
	CHECK(left.code == ERR_UNPROCESSABLE, "%s", err_name(left.code));
	CHECK_STR(left.msg, e.msg);
	CHECK_RC(registry_get_error(conn, "m/f/2/original", &left), REGISTRY_OK);
	CHECK_INT(redis_exists("lock", "m/f/2/w50.jpg"), 0);
	CHECK_INT(redis_exists("lock", "m/f/2/original"), 0);

	buf_release(&out);
	output_worker_free(w);
}

struct asker {
	struct output_env *env;
	const char *path;
	pthread_barrier_t *go;
	int rc;
	enum output_how how;
	struct err e;
	struct buf out;
};

static void *ask(void *arg)
{
	struct asker *a = arg;
	struct output_worker *w = output_worker_new(a->env);

	buf_init(&a->out);
	pthread_barrier_wait(a->go);
	a->rc = get(w, a->path, &a->out, &a->how, &a->e);
	output_worker_free(w);
	return NULL;
}

/*
 * HERD threads, thread i on envs[i % nenv] (whose source is the origin),
 * ask for output file of id at the same moment: one makes it, the rest
 * wait for it or find it stored; the source is asked once, the original
 * and the output are written once.
 */
static void herd(struct output_env **envs, int nenv, const char *id,
		 const char *file, const char *what)
{
	struct asker a[HERD];
	pthread_t t[HERD];
	pthread_barrier_t go;
	char path[128];
	int made = 0, waited = 0, failed = 0, wd = watch_store(id);

	put_source(id, big, big_len);
	snprintf(path, sizeof(path), "/m/f/%s/%s", id, file);
	pthread_barrier_init(&go, NULL, HERD);
	for (int i = 0; i < HERD; i++) {
		a[i] = (struct asker){ .env = envs[i % nenv], .path = path, .go = &go };
		pthread_create(&t[i], NULL, ask, &a[i]);
	}
	for (int i = 0; i < HERD; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);

	for (int i = 0; i < HERD; i++) {
		if (a[i].rc != 0) {
			failed++;
			fprintf(stderr, "%s: asker %d: %s\n", what, i, a[i].e.msg);
			continue;
		}
		made += a[i].how == OUTPUT_MADE;
		waited += a[i].how == OUTPUT_WAITED;
		CHECK(store_holds(id, file, a[i].out.data, a[i].out.len),
		      "%s: asker %d has other bytes", what, i);
	}
	CHECK(failed == 0, "%s: %d failed", what, failed);
	CHECK(made == 1, "%s: made %d times", what, made);
	/* Else the others came after the maker was done: no herd. */
	if (waited == 0)
		SKIP(what, "the askers did not overlap; only stored answers");
	CHECK(atomic_load(&origin.hits[atoi(id)]) == 1, "%s: source asked %d times",
	      what, atomic_load(&origin.hits[atoi(id)]));
	CHECK(store_writes(wd, file) == 1, "%s: output written %d times", what,
	      store_writes(wd, file));
	CHECK(store_writes(wd, STORE_ORIGINAL) == 1,
	      "%s: original written %d times", what,
	      store_writes(wd, STORE_ORIGINAL));
	CHECK(store_holds(id, STORE_ORIGINAL, big, big_len), "%s: original", what);
	snprintf(path, sizeof(path), ",original,%s,", file);
	CHECK_INT(strays(id, path), 0);
	for (int i = 0; i < HERD; i++)
		buf_release(&a[i].out);
	inotify_rm_watch(ino_fd, wd);
}

struct getter {
	struct output_env *env;
	const char *path;
	int rc;
	enum output_how how;
	struct err e;
	struct buf out;
};

static void *get_one(void *arg)
{
	struct getter *g = arg;
	struct output_worker *w = output_worker_new(g->env);

	buf_init(&g->out);
	g->rc = get(w, g->path, &g->out, &g->how, &g->e);
	output_worker_free(w);
	return NULL;
}

/* The claim protocol, with a second process's worker (env b) as the
 * other claimer and as a waiter. */
static void test_claims(struct output_env *ea, struct output_env *eb,
			struct registry *reg, struct redis_conn *third)
{
	static const char text[] = "not an image at all";
	struct output_worker *a = output_worker_new(ea), *b = output_worker_new(eb);
	struct output_claim *ca = NULL, *cb = NULL;
	enum output_claim_rc rc = OUTPUT_CLAIM_STORED;
	struct getter g = { .env = eb, .path = "/m/f/21/w40.jpg" };
	struct registry_lock *lock = NULL;
	struct err e, why;
	pthread_t t;
	unsigned char *jpg;
	size_t len;

	jpg = testimg_jpeg(80, 60, "gradient:green-yellow", 85, &len);

	/* Mine, then held for the other; committed, then stored. */
	CHECK_RC(output_claim(a, "m", "f", "20", "w40.jpg", &rc, &ca, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_MINE);
	CHECK(ca != NULL);
	CHECK_RC(output_claim(b, "m", "f", "20", "w40.jpg", &rc, &cb, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_HELD);
	CHECK(cb == NULL);
	CHECK_RC(commit(a, ca, jpg, len, &e), 0);
	CHECK(store_holds("20", "w40.jpg", jpg, len));
	CHECK_INT(recorded("20", "w40.jpg"), 1);
	CHECK_INT(redis_exists("lock", "m/f/20/w40.jpg"), 0);
	CHECK_RC(output_claim(b, "m", "f", "20", "w40.jpg", &rc, &cb, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_STORED);
	CHECK(cb == NULL);

	/* A waiter in output_get() is served what the claimer commits. */
	CHECK_RC(output_claim(a, "m", "f", "21", "w40.jpg", &rc, &ca, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_MINE);
	buf_init(&g.out);
	pthread_create(&t, NULL, get_one, &g);
	clock_sleep_ms(300);
	CHECK_RC(commit(a, ca, jpg, len, &e), 0);
	pthread_join(t, NULL);
	CHECK_INT(g.rc, 0);
	CHECK(g.how == OUTPUT_WAITED, "%s", output_how_name(g.how));
	CHECK(g.out.len == len && memcmp(g.out.data, jpg, len) == 0);
	buf_release(&g.out);

	/* Aborted with an error: the waiter in output_get() gets it; and so
	 * does a claimer that finds the work held (here: another worker
	 * trying again) while that error is left. */
	CHECK_RC(output_claim(a, "m", "f", "22", "w40.jpg", &rc, &ca, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_MINE);
	CHECK_RC(output_claim(b, "m", "f", "22", "w40.jpg", &rc, &cb, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_HELD);
	g = (struct getter){ .env = eb, .path = "/m/f/22/w40.jpg" };
	pthread_create(&t, NULL, get_one, &g);
	clock_sleep_ms(300);
	err_set(&why, ERR_UNPROCESSABLE, "original cannot be decoded: test");
	output_abort(a, ca, &why);
	pthread_join(t, NULL);
	CHECK_INT(g.rc, -1);
	CHECK(g.e.code == ERR_UNPROCESSABLE, "%s", err_name(g.e.code));
	CHECK_STR(g.e.msg, why.msg);
	buf_release(&g.out);
	CHECK_RC(registry_lock(reg, third, "m/f/22/w40.jpg", &lock), REGISTRY_OK);
	err_clear(&e);
	CHECK_RC(output_claim(b, "m", "f", "22", "w40.jpg", &rc, &cb, &e), -1);
	CHECK(e.code == ERR_UNPROCESSABLE, "%s", err_name(e.code));
	CHECK_STR(e.msg, why.msg);
	CHECK(cb == NULL);
	registry_unlock(third, lock);
	CHECK_INT(in_store("22", "w40.jpg"), 0);

	/* Aborted without an error (a retry follows): the next one's turn. */
	CHECK_RC(output_claim(a, "m", "f", "23", "w40.jpg", &rc, &ca, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_MINE);
	output_abort(a, ca, NULL);
	CHECK_INT(redis_exists("lock", "m/f/23/w40.jpg"), 0);
	CHECK_INT(redis_exists("error", "m/f/23/w40.jpg"), 0);
	CHECK_RC(output_claim(b, "m", "f", "23", "w40.jpg", &rc, &cb, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_MINE);
	output_abort(b, cb, NULL);
	output_abort(b, NULL, NULL);

	/* An original must be an image: refused, nothing stored, the error
	 * left; then a good one is kept. */
	CHECK_RC(output_claim(a, "m", "f", "24", STORE_ORIGINAL, &rc, &ca, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_MINE);
	err_clear(&e);
	CHECK_RC(commit(a, ca, text, sizeof(text) - 1, &e), -1);
	CHECK(e.code == ERR_UNPROCESSABLE, "%s", err_name(e.code));
	CHECK_INT(in_store("24", STORE_ORIGINAL), 0);
	CHECK_INT(recorded("24", STORE_ORIGINAL), 0);
	CHECK_INT(redis_exists("lock", "m/f/24/original"), 0);
	CHECK_INT(redis_exists("error", "m/f/24/original"), 1);
	CHECK_INT(strays("24", ","), 0);
	CHECK_RC(output_claim(b, "m", "f", "24", STORE_ORIGINAL, &rc, &cb, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_MINE);
	CHECK_RC(commit(b, cb, jpg, len, &e), 0);
	CHECK(store_holds("24", STORE_ORIGINAL, jpg, len));
	CHECK_INT(recorded("24", STORE_ORIGINAL), 1);

	free(jpg);
	output_worker_free(a);
	output_worker_free(b);
}

/* Originals given by a client: an id's original never changes. */
static void test_put_original(struct output_env *env)
{
	static const char text[] = "GIF87a but not really";
	struct output_worker *w = output_worker_new(env);
	struct output_original_info info;
	unsigned char *jpg, *other;
	size_t len, olen;
	struct buf out;
	enum output_how how;
	struct err e;

	jpg = testimg_jpeg(200, 100, "gradient:red-blue", 85, &len);
	other = testimg_jpeg(200, 100, "gradient:blue-red", 85, &olen);
	CHECK_RC(output_put_original(w, "m", "f", "30", jpg, len, &info, &e), 0);
	CHECK_INT(info.existed, 0);
	CHECK_INT(info.width, 200);
	CHECK_INT(info.height, 100);
	CHECK_INT(strlen(info.sha256), 64);
	CHECK(store_holds("30", STORE_ORIGINAL, jpg, len));
	CHECK_INT(recorded("30", STORE_ORIGINAL), 1);

	CHECK_RC(output_put_original(w, "m", "f", "30", jpg, len, &info, &e), 0);
	CHECK_INT(info.existed, 1);
	err_clear(&e);
	CHECK_RC(output_put_original(w, "m", "f", "30", other, olen, &info, &e), -1);
	CHECK(e.code == ERR_CONFLICT, "%s", err_name(e.code));
	CHECK(store_holds("30", STORE_ORIGINAL, jpg, len), "original replaced");
	err_clear(&e);
	CHECK_RC(output_put_original(w, "m", "f", "31", text, sizeof(text) - 1,
				     &info, &e), -1);
	CHECK(e.code == ERR_UNPROCESSABLE, "%s", err_name(e.code));
	CHECK_INT(in_store("31", STORE_ORIGINAL), 0);
	CHECK_INT(strays("30", ",original,"), 0);

	/* Its outputs are made from it: id 30 has nothing at the source. */
	buf_init(&out);
	CHECK_RC(get(w, "/m/f/30/w20.jpg", &out, &how, &e), 0);
	CHECK(how == OUTPUT_MADE, "%s", output_how_name(how));
	CHECK_INT(jpeg_width(&out), 20);
	CHECK_INT(source_reads("30"), 0);
	buf_release(&out);

	free(jpg);
	free(other);
	output_worker_free(w);
}

struct putter {
	struct output_env *env;
	const char *id;
	const unsigned char *data;
	size_t len;
	int rc;
	struct output_original_info info;
	struct err e;
};

static void *put_one(void *arg)
{
	struct putter *p = arg;
	struct output_worker *w = output_worker_new(p->env);

	err_clear(&p->e);
	p->rc = output_put_original(w, "m", "f", p->id, p->data, p->len,
				    &p->info, &p->e);
	output_worker_free(w);
	return NULL;
}

/* One writer per original: a POST waits while another worker holds the
 * original's lock (as a GET fetching it does), and never replaces what
 * that worker stored; an original is only ever created, so a fetch that
 * finds one there when it is done serves that one. */
static void test_one_writer(struct output_env *ea, struct output_env *eb,
			    struct output_env *ha)
{
	struct output_worker *a = output_worker_new(ea), *h;
	struct output_claim *ca = NULL;
	enum output_claim_rc rc = OUTPUT_CLAIM_STORED;
	struct putter p = { .env = eb };
	struct getter g = { .env = ha, .path = "/m/f/90/w20.jpg" };
	unsigned char *jpg, *tall;
	size_t len, tlen;
	char path[4096];
	struct err e, why;
	pthread_t t;

	jpg = testimg_jpeg(200, 100, "gradient:red-blue", 85, &len);
	tall = testimg_jpeg(100, 200, "gradient:green-blue", 85, &tlen);

	/* Held: the POST waits, then finds the holder's original (409). */
	CHECK_RC(output_claim(a, "m", "f", "32", STORE_ORIGINAL, &rc, &ca, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_MINE);
	p.id = "32", p.data = tall, p.len = tlen;
	pthread_create(&t, NULL, put_one, &p);
	clock_sleep_ms(300);
	CHECK_INT(in_store("32", STORE_ORIGINAL), 0); /* it waits */
	CHECK_RC(commit(a, ca, jpg, len, &e), 0);
	pthread_join(t, NULL);
	CHECK_INT(p.rc, -1);
	CHECK(p.e.code == ERR_CONFLICT, "%s", err_name(p.e.code));
	CHECK(store_holds("32", STORE_ORIGINAL, jpg, len), "original replaced");

	/* The holder fails (no original at the source): the POST's is kept. */
	CHECK_RC(output_claim(a, "m", "f", "33", STORE_ORIGINAL, &rc, &ca, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_MINE);
	p.id = "33";
	pthread_create(&t, NULL, put_one, &p);
	clock_sleep_ms(300);
	err_set(&why, ERR_NOT_FOUND, "original not found at the source");
	output_abort(a, ca, &why);
	pthread_join(t, NULL);
	CHECK_INT(p.rc, 0);
	CHECK_INT(p.info.existed, 0);
	CHECK(store_holds("33", STORE_ORIGINAL, tall, tlen));

	/* Claimed, and meanwhile an original appears without the lock (as
	 * while Redis is down): the commit keeps it. */
	CHECK_RC(output_claim(a, "m", "f", "34", STORE_ORIGINAL, &rc, &ca, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_MINE);
	path_of("34", STORE_ORIGINAL, path, sizeof(path));
	CHECK_RC(store_write_atomic(path, tall, tlen, &e), 0);
	CHECK_RC(commit(a, ca, jpg, len, &e), 0);
	CHECK(store_holds("34", STORE_ORIGINAL, tall, tlen), "original replaced");

	/* A GET fetching the original from a slow source, and an original
	 * stored meanwhile without the lock: the GET serves an output of the
	 * one in the store, which it never replaces. */
	put_source("90", jpg, len);
	buf_init(&g.out);
	pthread_create(&t, NULL, get_one, &g);
	clock_sleep_ms(200);
	path_of("90", STORE_ORIGINAL, path, sizeof(path));
	CHECK_RC(store_write_atomic(path, tall, tlen, &e), 0);
	pthread_join(t, NULL);
	CHECK_INT(g.rc, 0);
	CHECK_INT(atomic_load(&origin.hits[90]), 1);
	CHECK(store_holds("90", STORE_ORIGINAL, tall, tlen), "original replaced");
	CHECK(jpeg_width(&g.out) == 20 && jpeg_height(&g.out) == 40,
	      "made from the fetched original: %ux%u", jpeg_width(&g.out),
	      jpeg_height(&g.out));
	buf_release(&g.out);
	/* And its output's next asker gets the same. */
	h = output_worker_new(ha);
	buf_init(&g.out);
	CHECK_RC(get(h, "/m/f/90/w20.jpg", &g.out, &g.how, &e), 0);
	CHECK_INT(jpeg_height(&g.out), 40);
	buf_release(&g.out);
	output_worker_free(h);

	free(jpg);
	free(tall);
	output_worker_free(a);
}

/* Redis stopped: the work is ours whatever, de-duplicated in-process. */
static void test_redis_down(struct output_env *env)
{
	struct output_worker *w = output_worker_new(env);
	struct output_claim *c1 = NULL, *c2 = NULL;
	enum output_claim_rc rc = OUTPUT_CLAIM_STORED;
	struct err e;

	redis_stop();
	herd(&env, 1, "40", "w120.jpg", "one process, Redis down");
	CHECK_STR(output_env_redis_state(env), "down");
	CHECK_RC(output_claim(w, "m", "f", "41", "w40.jpg", &rc, &c1, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_MINE);
	CHECK_RC(output_claim(w, "m", "f", "41", "w40.jpg", &rc, &c2, &e), 0);
	CHECK_INT(rc, OUTPUT_CLAIM_MINE);
	output_abort(w, c1, NULL);
	output_abort(w, c2, NULL);
	output_worker_free(w);
}

int main(int argc, char **argv)
{
	struct output_env *ea, *eb, *ha, *hb, *both[2];
	struct redis *rd;
	struct registry *reg;
	struct redis_conn *third;
	struct err e;
	char path[512];
	int port;

	(void)argc;
	signal(SIGALRM, on_alarm);
	alarm(90);
	log_set_level(LOG_ERROR);
	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		SKIP("output against Redis", "redis-server is not installed");
		return TEST_END("output");
	}
	port = start_redis(26000 + getpid() % 1000);
	CHECK(port > 0, "redis-server did not start");
	if (port < 0)
		return TEST_END("output");
	if (image_global_init(argv[0], 1, 16384, &e) < 0 ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		CHECK(0, "libraries: %s", e.msg);
		redis_stop();
		return TEST_END("output");
	}

	CHECK(mkdtemp(dir) != NULL);
	snprintf(src_dir, sizeof(src_dir), "%s/src/m/f", dir);
	snprintf(path, sizeof(path), "%s/src", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/src/m", dir);
	mkdir(path, 0755);
	mkdir(src_dir, 0755);
	ino_fd = inotify_init1(IN_NONBLOCK);
	src_wd = inotify_add_watch(ino_fd, src_dir, IN_OPEN | IN_CLOSE_NOWRITE);
	CHECK(src_wd >= 0, "inotify");

	conf_defaults(&cf);
	snprintf(cf.store, sizeof(cf.store), "%s/store", dir);
	snprintf(cf.source, sizeof(cf.source), "file://%s/src/{model}/{field}/{id}.jpg",
		 dir);
	snprintf(cf.redis, sizeof(cf.redis), "127.0.0.1:%d", port);
	snprintf(prefix, sizeof(prefix), "to%d:", (int)getpid());
	snprintf(cf.redis_prefix, sizeof(cf.redis_prefix), "%s", prefix);
	cf.lock_ttl_ms = 1000;
	cf.wait_timeout = 15;

	CHECK(origin_start() == 0, "origin");
	cf_http = cf;
	snprintf(cf_http.source, sizeof(cf_http.source),
		 "http://127.0.0.1:%d/{model}/{field}/{id}.jpg", origin.port);

	/* Two environments on one Redis, as two processes would have. */
	ea = output_env_new(&cf, &e);
	eb = output_env_new(&cf, &e);
	ha = output_env_new(&cf_http, &e);
	hb = output_env_new(&cf_http, &e);
	CHECK(ea != NULL && eb != NULL && ha != NULL && hb != NULL);
	both[0] = ha, both[1] = hb;
	/* A third worker's lock, taken by hand. */
	rd = redis_new(&cf, &e);
	reg = registry_new(rd, &e);
	third = redis_conn_new(rd);

	big = testimg_jpeg(2400, 1800, "gradient:red-blue", 85, &big_len);
	CHECK(big != NULL);
	test_get(ea);
	test_failures(ea);
	herd(&ha, 1, "10", "w120.jpg", "one process");
	herd(both, 2, "11", "w120.jpg", "two processes");
	test_claims(ea, eb, reg, third);
	test_put_original(ea);
	test_one_writer(ea, eb, ha);
	test_redis_down(ha);

	redis_conn_free(third);
	registry_free(reg);
	redis_free(rd);
	output_env_free(ea);
	output_env_free(eb);
	output_env_free(ha);
	output_env_free(hb);
	origin_stop();
	close(ino_fd);
	free(big);
	image_global_release();
	curl_global_cleanup();
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TEST_END("output");
}
