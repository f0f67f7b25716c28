/*
 * registry.h - Redis: which files exist in the store, and work locks.
 *
 * Keys (prefix from -redis_prefix, default "imgsrv:"):
 *   {prefix}outputs:{model}/{field}/{id}       SET of file names in the
 *       store for that image ("original", "w500.jpg"); no expiry.
 *   {prefix}lock:{model}/{field}/{id}/{file}   STRING, the random token of
 *       the worker making that file; expires after -lock_ttl_ms unless
 *       renewed, so a dead worker's lock goes away by itself.
 *   {prefix}error:{model}/{field}/{id}/{file}  STRING "CODE message" of a
 *       failed attempt, for the requests that waited on it; 10 s expiry.
 *
 * Locks are taken with SET NX PX and released by compare-and-delete; a
 * thread renews every held lock while its work runs.  When Redis is down
 * or slow, calls fail fast (REGISTRY_DOWN) and the outage is logged once
 * per interval; each connection reconnects by itself.
 * Thread-safety: struct registry is shared (internally locked);
 * struct registry_conn is one per thread.
 */
#ifndef IMGSRV_REGISTRY_H
#define IMGSRV_REGISTRY_H

#include <hiredis.h>

#include "conf.h"
#include "err.h"

enum registry_rc {
	REGISTRY_OK = 0,   /* done; for a lock: it is ours */
	REGISTRY_BUSY = 1, /* the lock is held by another worker */
	REGISTRY_DOWN = -1 /* Redis is not configured or not answering */
};

struct registry;
struct registry_conn;
struct registry_lock; /* a held lock */

/*
 * Makes the shared registry for c (c->redis empty: every call answers
 * REGISTRY_DOWN without logging) and starts its lock-renewing thread.
 * Returns NULL with a message on error.
 */
struct registry *registry_new(const struct conf *c, struct err *e);

/* Stops the renewing thread and frees r; NULL is a no-op.  Locks still
 * held are left to expire. */
void registry_free(struct registry *r);

/* "off" (no -redis), "up" or "down" (found down, not back since). */
const char *registry_state(struct registry *r);

/* A connection for one thread (connects lazily).  NULL if out of memory. */
struct registry_conn *registry_conn_new(struct registry *r);
void registry_conn_free(struct registry_conn *c);

/*
 * Tries to take the lock for name ("user/avatar/1/w500.jpg").  On
 * REGISTRY_OK *lock is set and must be given back with registry_unlock();
 * it is renewed until then.  REGISTRY_BUSY: another worker holds it.
 */
enum registry_rc registry_lock(struct registry_conn *c, const char *name,
			       struct registry_lock **lock);

/* Releases lock if it is still ours, and frees it; NULL is a no-op. */
void registry_unlock(struct registry_conn *c, struct registry_lock *lock);

/* REGISTRY_BUSY if someone holds the lock for name, REGISTRY_OK if not. */
enum registry_rc registry_locked(struct registry_conn *c, const char *name);

/* Records that file exists in the store for image ("user/avatar/1"), or
 * (registry_forget) that it does not. */
enum registry_rc registry_add(struct registry_conn *c, const char *image,
			      const char *file);
enum registry_rc registry_forget(struct registry_conn *c, const char *image,
				 const char *file);

/*
 * Runs any Redis command (hiredis format) on c, for modules built on the
 * registry's connections (queue.c).  Returns the reply, which the caller
 * frees with freeReplyObject(), or NULL when Redis is down or answered an
 * error (logged).  Keys are the caller's to prefix (registry_key).
 */
redisReply *registry_command(struct registry_conn *c, const char *fmt, ...);

/* Writes "{prefix}{kind}:{name}" into buf. */
void registry_key(struct registry_conn *c, char *buf, size_t size,
		  const char *kind, const char *name);

/* Leaves the error of a failed attempt on name for waiters (10 s), or
 * reads it into *e: REGISTRY_OK if there was one. */
enum registry_rc registry_set_error(struct registry_conn *c, const char *name,
				    const struct err *failure);
enum registry_rc registry_get_error(struct registry_conn *c, const char *name,
				    struct err *e);

#endif
