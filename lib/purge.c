/* purge.c - remove an image's files everywhere, and tell the caches. */
#include "purge.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "queue.h"
#include "registry.h"
#include "store.h"

#define POLL_MS 50
/* A temporary file this old was left by a make that died (a make never
 * takes this long: -wait_timeout is at most 600 s); a younger one is a
 * make under way, which removes its own. */
#define STALE_TMP_S 900

extern char **environ;

/* One purge: what it found, removed, and must wait for. */
struct sweep {
	struct output_worker *w;
	const struct conf *c;
	const char *model, *field, *id;
	char image[256];
	int keep_original;  /* a replacement: the original stays */
	int original;       /* an original was there */
	char **names;       /* files seen (outputs, makes under way) */
	size_t n, cap;
	struct buf paths;   /* the URL paths removed, one a line */
	struct purge_result *res;
	struct err *e;
	double until;       /* the end of its waits: -wait_timeout in all */
};

static void sweep_init(struct sweep *s, struct output_worker *w,
		       const char *model, const char *field, const char *id,
		       struct purge_result *res, struct err *e)
{
	memset(s, 0, sizeof(*s));
	s->w = w;
	s->c = output_env_conf_of(w);
	s->model = model, s->field = field, s->id = id;
	snprintf(s->image, sizeof(s->image), "%s/%s/%s", model, field, id);
	buf_init(&s->paths);
	memset(res, 0, sizeof(*res));
	s->res = res;
	s->e = e;
	s->until = clock_now_ms() + s->c->wait_timeout * 1000.0;
}

static void sweep_free(struct sweep *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	buf_release(&s->paths);
}

/* Notes a file name (len bytes of name), once. */
static int note(struct sweep *s, const char *name, size_t len)
{
	char *copy;

	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->names[i]) == len && memcmp(s->names[i], name, len) == 0)
			return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **more = realloc(s->names, cap * sizeof(*more));
		if (more == NULL)
			return err_set(s->e, ERR_INTERNAL, "out of memory");
		s->names = more, s->cap = cap;
	}
	if ((copy = strndup(name, len)) == NULL)
		return err_set(s->e, ERR_INTERNAL, "out of memory");
	s->names[s->n++] = copy;
	return 0;
}

static void note_recorded(void *arg, const char *file)
{
	struct sweep *s = arg;

	s->res->found = 1;
	(void)note(s, file, strlen(file));
}

/* store_list()'s callback: removes an output, notes what it sees. */
static int sweep_one(void *arg, const char *path, const char *name,
		     long long mtime)
{
	struct sweep *s = arg;
	const char *tmp;

	if (name[0] == '.') {
		/* ".w500.jpg.tmp.XXXXXX": a make under way, or one that died. */
		if ((tmp = strstr(name, ".tmp.")) == NULL || tmp == name)
			return 0;
		if (note(s, name + 1, (size_t)(tmp - name - 1)) < 0)
			return -1;
		if ((long long)time(NULL) - mtime > STALE_TMP_S)
			(void)store_remove(path, NULL);
		return 0;
	}
	s->res->found = 1;
	if (strcmp(name, STORE_ORIGINAL) == 0) {
		s->original = 1; /* removed last, if at all */
		return 0;
	}
	if (note(s, name, strlen(name)) < 0 || store_remove(path, s->e) < 0)
		return -1;
	s->res->removed++;
	if (buf_printf(&s->paths, "/%s/%s\n", s->image, name) < 0)
		return err_set(s->e, ERR_INTERNAL, "out of memory");
	return 0;
}

/* Removes every output of the image from the store. */
static int sweep_outputs(struct sweep *s)
{
	return store_list(s->c->store, s->model, s->field, s->id, sweep_one, s,
			  s->e) == 0 ? 0 : -1;
}

/* Removes the original, once its outputs are gone. */
static int remove_original(struct sweep *s)
{
	char path[4096];

	if (store_path(s->c->store, s->model, s->field, s->id, STORE_ORIGINAL,
		       path, sizeof(path), s->e) < 0)
		return -1;
	return store_remove(path, s->e);
}

/*
 * Waits until no worker holds the lock of a file seen: a make that began
 * before the purge then has found its image purged and kept nothing.  A
 * make that outlasts the purge's -wait_timeout is let be: it keeps
 * nothing either, and its file shows for the moment between its rename
 * and its check only.
 */
static void wait_makes(struct sweep *s)
{
	struct redis_conn *rc = output_worker_redis(s->w);
	char name[512];

	if (!redis_enabled(redis_of(rc)))
		return; /* the generation is compared under a lock here */
	for (size_t i = 0; i < s->n; i++) {
		snprintf(name, sizeof(name), "%s/%s", s->image, s->names[i]);
		while (registry_lock_state(rc, name) == REGISTRY_HELD) {
			if (clock_now_ms() >= s->until) {
				log_info("purge %s: %s still being made after %d s; "
					 "it will keep nothing", s->image,
					 s->names[i], s->c->wait_timeout);
				return;
			}
			clock_sleep_ms(POLL_MS);
		}
	}
}

/*
 * Runs the -purge_hook command with the paths on its standard input,
 * waiting for it until the purge's time is up (and 5 s at least).  Its
 * failure is logged; the purge is done all the same.  It gets standard
 * output and error, nothing else of ours (sockets, the store), with the
 * signals as a shell expects them.
 */
#define HOOK_MIN_MS 5000

static void run_hook(const struct conf *c, const struct buf *paths,
		     double until)
{
	char *argv[] = { "/bin/sh", "-c", (char *)c->purge_hook, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int fds[2], status = 0, rc;
	pid_t pid;
	size_t at = 0;

	if (c->purge_hook[0] == '\0' || paths->len == 0)
		return;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		log_error("purge_hook: pipe: %s", strerror(errno));
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
					 POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(fds[0]);
	if (rc != 0) {
		close(fds[1]);
		log_error("purge_hook: cannot run /bin/sh: %s", strerror(rc));
		return;
	}
	while (at < paths->len) {
		ssize_t n = write(fds[1], paths->data + at, paths->len - at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* it stopped reading: its exit status tells */
		at += (size_t)n;
	}
	close(fds[1]);
	if (until < clock_now_ms() + HOOK_MIN_MS)
		until = clock_now_ms() + HOOK_MIN_MS;
	while ((rc = (int)waitpid(pid, &status, WNOHANG)) == 0 &&
	       clock_now_ms() < until)
		clock_sleep_ms(POLL_MS);
	if (rc == 0) {
		kill(pid, SIGKILL);
		(void)waitpid(pid, &status, 0);
		log_error("purge_hook: killed: it outlasted the purge's "
			  "-wait_timeout");
	} else if (rc < 0) {
		log_error("purge_hook: %s", strerror(errno));
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_error("purge_hook: exited with status %d",
			  WIFEXITED(status) ? WEXITSTATUS(status)
					    : 128 + WTERMSIG(status));
	}
}

/*
 * What follows the removal of the files: waits for the makes under way,
 * clears the Redis record of the image (but its original, for a
 * replacement), tells the caches.
 */
static int finish(struct sweep *s)
{
	struct redis_conn *rc = output_worker_redis(s->w);
	const char *keep = s->keep_original ? STORE_ORIGINAL : NULL;
	long dropped;

	wait_makes(s);
	if (redis_enabled(redis_of(rc))) {
		if ((dropped = queue_drop_image(rc, s->image)) < 0 ||
		    registry_purge(rc, s->image, keep,
				   (const char *const *)s->names, s->n) !=
			    REGISTRY_OK ||
		    (s->paths.len > 0 &&
		     registry_publish_purged(rc, (const char *)s->paths.data) != REGISTRY_OK))
			return err_set(s->e, ERR_BUSY,
				       "Redis went away during the purge of %s: "
				       "its files are removed, its record is not; "
				       "purge it again", s->image);
		s->res->dropped = dropped;
	}
	run_hook(s->c, &s->paths, s->until);
	return 0;
}

int purge_image(struct output_worker *w, const char *model,
		const char *field, const char *id, struct purge_result *res,
		struct err *e)
{
	struct redis_conn *rc = output_worker_redis(w);
	struct sweep s;
	int ret = -1;

	sweep_init(&s, w, model, field, id, res, e);
	if (output_next_generation(w, s.image, e) < 0)
		goto out;
	if (redis_enabled(redis_of(rc)) &&
	    registry_files(rc, s.image, note_recorded, &s) != REGISTRY_OK) {
		err_set(e, ERR_BUSY, "Redis is down: cannot purge %s now",
			s.image);
		goto out;
	}
	if (note(&s, STORE_ORIGINAL, strlen(STORE_ORIGINAL)) < 0 ||
	    sweep_outputs(&s) < 0 || (s.original && remove_original(&s) < 0))
		goto out;
	/* Who read the generation after the first raise may have read the
	 * original before it went: the second raise is for them. */
	if (output_next_generation(w, s.image, e) < 0 || finish(&s) < 0)
		goto out;
	ret = 0;
out:
	sweep_free(&s);
	return ret;
}

struct replacement {
	struct sweep *s;
	const void *data;
	size_t len;
};

/* The part of a replacement done as the original's one writer. */
static int replace_locked(struct output_worker *w, void *arg, struct err *e)
{
	struct replacement *r = arg;
	struct sweep *s = r->s;
	char path[4096];

	if (output_next_generation(w, s->image, e) < 0 || sweep_outputs(s) < 0 ||
	    store_path(s->c->store, s->model, s->field, s->id, STORE_ORIGINAL,
		       path, sizeof(path), e) < 0 ||
	    store_write_atomic(path, r->data, r->len, e) < 0)
		return -1;
	/* Outputs made from the old original while it was being replaced
	 * go too; then who reads the generation finds the new original. */
	if (sweep_outputs(s) < 0 || output_next_generation(w, s->image, e) < 0)
		return -1;
	(void)registry_add(output_worker_redis(w), s->image, STORE_ORIGINAL);
	return 0;
}

int purge_replace(struct output_worker *w, const char *model,
		  const char *field, const char *id, const void *data,
		  size_t len, struct purge_result *res, struct err *e)
{
	struct sweep s;
	struct replacement r = { &s, data, len };
	int ret = -1;

	sweep_init(&s, w, model, field, id, res, e);
	s.keep_original = 1;
	if (output_locked(w, model, field, id, replace_locked, &r, e) == 0 &&
	    finish(&s) == 0)
		ret = 0;
	sweep_free(&s);
	return ret;
}
