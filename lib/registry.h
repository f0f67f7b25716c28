/*
 * registry.h - Redis: which files exist in the store, work locks, and the
 * errors of failed attempts.
 *
 * Keys (prefix from -redis_prefix, default "imgsrv:"):
 *   {prefix}outputs:{model}/{field}/{id}       SET of file names in the
 *       store for that image ("original", "w500.jpg"); no expiry.
 *   {prefix}lock:{model}/{field}/{id}/{file}   STRING, the random token of
 *       the worker making that file; expires after -lock_ttl_ms unless
 *       renewed, so a dead worker's lock goes away by itself.
 *   {prefix}error:{model}/{field}/{id}/{file}  STRING "CODE message" of a
 *       failed attempt, for the requests that waited on it; 10 s expiry.
 *   {prefix}gen:{model}/{field}/{id}           STRING, the image's
 *       generation: a number raised by each purge or replacement of its
 *       original (none: 0).  An output made from an older original is
 *       never kept (output.c checks it under the output's lock).
 *   {prefix}purged                             a Pub/Sub channel: each
 *       purge publishes the URL paths it removed, one a line, for the
 *       caches in front (a CDN) to forget.
 *
 * Locks are taken with SET NX PX and released by compare-and-delete; a
 * thread of the registry's renews every held lock while its work runs.
 * The connection, its reconnects and outages are redis.h's.
 * Thread-safety: struct registry is shared (internally locked); every
 * call takes the calling thread's own struct redis_conn.
 */
#ifndef IMGSRV_REGISTRY_H
#define IMGSRV_REGISTRY_H

#include "err.h"
#include "redis.h"

enum registry_rc {
	REGISTRY_OK = 0,   /* done; a lock: taken, it is ours; an error: found */
	REGISTRY_HELD = 1, /* the lock is held by another worker */
	REGISTRY_FREE = 2, /* nobody holds the lock */
	REGISTRY_NONE = 3, /* no error was left */
	REGISTRY_DOWN = -1 /* Redis is off or not answering */
};

struct registry;
struct registry_lock; /* a held lock */

/*
 * The registry on r (which must outlive it); starts its lock-renewing
 * thread when Redis is on.  Returns NULL with a message on error.
 */
struct registry *registry_new(struct redis *r, struct err *e);

/* Stops the renewing thread and frees reg; NULL is a no-op.  Locks still
 * held are left to expire. */
void registry_free(struct registry *reg);

/*
 * Tries to take the lock for name ("user/avatar/1/w500.jpg") on
 * connection c.  REGISTRY_OK: *lock is set, renewed until given back with
 * registry_unlock().  REGISTRY_HELD: another worker holds it.
 * REGISTRY_DOWN: *lock is NULL.
 */
enum registry_rc registry_lock(struct registry *reg, struct redis_conn *c,
			       const char *name, struct registry_lock **lock);

/* Releases lock if it is still ours, and frees it; NULL is a no-op. */
void registry_unlock(struct redis_conn *c, struct registry_lock *lock);

/* Whether anyone holds the lock for name: REGISTRY_HELD, REGISTRY_FREE
 * or REGISTRY_DOWN. */
enum registry_rc registry_lock_state(struct redis_conn *c, const char *name);

/* Records that file exists in the store for image ("user/avatar/1"), or
 * (registry_forget) that it does not: REGISTRY_OK or REGISTRY_DOWN. */
enum registry_rc registry_add(struct redis_conn *c, const char *image,
			      const char *file);
enum registry_rc registry_forget(struct redis_conn *c, const char *image,
				 const char *file);

/* Leaves the error of a failed attempt on name for waiters (10 s):
 * REGISTRY_OK or REGISTRY_DOWN. */
enum registry_rc registry_set_error(struct redis_conn *c, const char *name,
				    const struct err *failure);

/* Reads the error left on name into *e: REGISTRY_OK (found),
 * REGISTRY_NONE or REGISTRY_DOWN. */
enum registry_rc registry_get_error(struct redis_conn *c, const char *name,
				    struct err *e);

/* The image's generation into *gen: REGISTRY_OK or REGISTRY_DOWN. */
enum registry_rc registry_generation(struct redis_conn *c, const char *image,
				     long long *gen);

/* Raises the image's generation; the new one into *gen: REGISTRY_OK or
 * REGISTRY_DOWN. */
enum registry_rc registry_next_generation(struct redis_conn *c,
					  const char *image, long long *gen);

/* Calls fn(arg, file) for each file the image's outputs set lists:
 * REGISTRY_OK or REGISTRY_DOWN. */
enum registry_rc registry_files(struct redis_conn *c, const char *image,
				void (*fn)(void *arg, const char *file),
				void *arg);

/*
 * Forgets the image's files but keep ("original", or NULL for none):
 * the error keys of files[0..n), and every entry of its outputs set.
 * REGISTRY_OK or REGISTRY_DOWN.
 */
enum registry_rc registry_purge(struct redis_conn *c, const char *image,
				const char *keep, const char *const *files,
				size_t n);

/* Publishes paths (the URL paths a purge removed, one a line) on the
 * purged channel: REGISTRY_OK or REGISTRY_DOWN. */
enum registry_rc registry_publish_purged(struct redis_conn *c,
					 const char *paths);

#endif
